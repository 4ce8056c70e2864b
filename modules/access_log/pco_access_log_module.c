/*
 * pco_access_log_module.c: one line per request in an access log (docs/settings.md, docs/http.md).
 *     log_formats = ( { name = "main"; format = "$remote_addr $status"; } );  # http
 *     access_log = { path = "logs/access.log"; format = "combined"; };  # http, server, route
 *     access_log = false;                                                # off
 * Formats: "combined" (Apache/nginx), "json" (one object a line: the fixed set of keys, or
 * those of `fields`, pco_access_log_json.c) or a log_formats name. A path "syslog:..." sends
 * each line as one datagram at once (core/pco_syslog.c) instead of buffering it.
 * Unset everywhere, the log is logs/access.log in the combined format. A response that did
 * not reach the client whole keeps its status and short byte count; a combined line then
 * ends with " incomplete", a JSON line has "request_completion": null ("OK" otherwise), and
 * named formats can use $request_completion.
 *
 * conf_done compiles the formats (templates of modules/http), resolves every http, server
 * and route node's effective log (a node that sets nothing shares its parent's), collects
 * the distinct files in cycle->module_ctx and registers the LOG phase handler. init_master
 * opens the files (O_APPEND|O_CREAT, 0644; one descriptor per path however many servers use
 * it) and registers the USR1 reopen handler, which each process (master and workers) runs
 * for itself: flush, open again, dup2 onto the old descriptor. init_worker gives every file
 * a 64 KiB buffer and starts a one-second flush timer; a line that does not fit flushes the
 * buffer first; exit_worker flushes. The buffers are per worker: no shared state, no locks.
 * A syslog target has no descriptor, no buffer and nothing to reopen: init_master connects
 * its socket (a missing receiver is retried by the sends) and the handler sends the line.
 */
#include "pco_http.h"
#include "pco_time.h"
#include "pco_event.h"
#include "pco_process.h"
#include "pco_syslog.h"
#include "pco_shm.h"
#include "pco_access_log_int.h"
#include <fcntl.h>
#include <unistd.h>

#define PCO_ACCESS_LOG_BUF_SIZE  65536
#define PCO_ACCESS_LOG_FLUSH_MS  1000

/* COMBINED is TEXT with the combined template, plus the cut marker (see the handler) */
enum { PCO_ACCESS_LOG_TEXT = 0, PCO_ACCESS_LOG_JSON, PCO_ACCESS_LOG_COMBINED };

/* Appended to a combined line whose response did not reach the client whole: nginx's
 * combined line stays byte for byte the same for every complete response, and a cut one
 * (same status, short $body_bytes_sent) cannot be mistaken for a success. */
#define PCO_ACCESS_LOG_CUT  " incomplete"


typedef struct {
    pco_str_t               name;
    pco_str_t               format;
    pco_http_template_t    *tpl;          /* compiled at conf_done */
} pco_access_log_format_t;

typedef struct {
    pco_str_t       path;
    pco_str_t       format;
    pco_str_list_t  fields;               /* json: the keys and variables; none = fixed set */
} pco_access_log_spec_t;

typedef struct {
    char       *path;                     /* absolute, or the syslog target as written */
    pco_syslog_t *syslog;               /* a syslog target: one message per line */
    int         fd;                       /* opened at init_master */
    u_char     *buf;                      /* per worker, PCO_ACCESS_LOG_BUF_SIZE */
    size_t      len;
} pco_access_log_file_t;

typedef struct {
    pco_access_log_file_t       *file;
    int                          kind;    /* PCO_ACCESS_LOG_TEXT / _JSON */
    const pco_http_template_t   *tpl;
    const pco_access_log_json_t *json;    /* _JSON: the keys */
} pco_access_log_log_t;

typedef struct {
    pco_conf_list_t          formats;     /* pco_access_log_format_t (http scope) */
    pco_access_log_spec_t    log;
    pco_access_log_log_t    *runtime;     /* resolved at conf_done; NULL = off */
    bool                     resolved;
    int                      resolve_rc;
} pco_access_log_conf_t;

typedef struct {
    pco_array_t              files;       /* pco_access_log_file_t * */
    pco_http_template_t     *combined;
    pco_access_log_json_t   *json;        /* the fixed set of keys */
    pco_cycle_t             *cycle;       /* the generation being loaded (conf_done) */
    pco_event_t              timer;       /* per worker */
} pco_access_log_ctx_t;

static int pco_access_log_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_access_log_init_master(pco_cycle_t *cycle, pco_cycle_t *old);
static int pco_access_log_init_worker(pco_cycle_t *cycle);
static void pco_access_log_exit_worker(pco_cycle_t *cycle);
static int pco_access_log_handler(pco_http_request_t *r);

static const pco_setting_t pco_access_log_format_members[] = {
    { .name = "name", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_access_log_format_t, name), .flags = PCO_CONF_REQUIRED,
      .help = "the format's name, used by access_log.format" },
    { .name = "format", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_access_log_format_t, format), .flags = PCO_CONF_REQUIRED,
      .help = "text with variables; values escaped as in combined" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_access_log_members[] = {
    { .name = "path", .type = PCO_CONF_STRING, .offset = offsetof(pco_access_log_spec_t, path),
      .def = "\"" PCO_HTTP_LOG_PATH "\"",
      .help = "log file (relative to the prefix) or a syslog target "
              "\"syslog:server=unix:/dev/log,severity=info\" (docs/logging.md)" },
    { .name = "format", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_access_log_spec_t, format), .def = "\"combined\"",
      .help = "combined | json | a log_formats name" },
    { .name = "fields", .type = PCO_CONF_STRLIST,
      .offset = offsetof(pco_access_log_spec_t, fields),
      .help = "json only: the keys of a line, each \"VARIABLE\" or \"KEY=VARIABLE\" "
              "(e.g. [\"remote_addr\", \"tls=ssl_protocol\"]); unset: the fixed set "
              "(docs/logging.md)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_access_log_settings[] = {
    { .name = "log_formats", .scopes = PCO_SCOPE_HTTP, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_access_log_conf_t, formats), .sub = pco_access_log_format_members,
      .elt_size = sizeof(pco_access_log_format_t),
      .help = "named access-log formats: ( { name; format; } )" },
    { .name = "access_log", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_access_log_conf_t, log), .sub = pco_access_log_members,
      .flags = PCO_CONF_FALSE_OFF,
      .help = "{ path; format; fields; } or false; default " PCO_HTTP_LOG_PATH ", combined" },
    PCO_SETTINGS_END
};

/*
 * Hooks:
 *   conf_done   master, every load and -t: compiles formats, resolves each http/server
 *               node's log, registers the LOG handler. No files are touched.
 *               PCO_OK or PCO_ERROR after reporting.
 *   init_master master: opens the files, registers reopen (USR1). PCO_ERROR when a file
 *               cannot be opened (the start or reload fails).
 *   init_worker worker: 64 KiB buffer per file, one-second flush timer. PCO_ERROR on OOM.
 *   exit_worker worker: flushes every buffer.
 * The LOG handler appends to the buffer (a write(2) only when it is full) and returns
 * PCO_DECLINED so that other LOG handlers run too.
 */
pco_module_t pco_access_log_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "access_log",
    .settings = pco_access_log_settings,
    .conf_size = sizeof(pco_access_log_conf_t),
    .conf_done = pco_access_log_conf_done,
    .init_master = pco_access_log_init_master,
    .init_worker = pco_access_log_init_worker,
    .exit_worker = pco_access_log_exit_worker,
};

static const char pco_access_log_combined_fmt[] =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
    "\"$http_referer\" \"$http_user_agent\"";

/* ---- configuration ------------------------------------------------------------------- */

/* A syslog target, checked now (FILE:LINE); its socket is opened by init_master. The
 * severity is info unless the target says otherwise. */
static pco_syslog_t *
pco_access_log_syslog(pco_conf_t *cf, const pco_str_t *path, const pco_conf_src_t *src)
{
    pco_syslog_t  *t = pco_pcalloc(cf->pool, sizeof(pco_syslog_t));
    char           err[256];

    if (t == NULL) {
        return NULL;
    }
    if (pco_syslog_parse(t, path->data, path->len, err, sizeof(err)) != PCO_OK) {
        pco_conf_error_src(cf, src, "bad syslog target \"%.*s\": %s", (int) path->len,
                           (char *) path->data, err);
        return NULL;
    }
    if (t->severity < 0) {
        t->severity = 6;
    }
    return t;
}

static pco_access_log_file_t *
pco_access_log_file(pco_conf_t *cf, pco_access_log_ctx_t *ctx, const pco_str_t *path,
                    const pco_conf_src_t *src)
{
    pco_access_log_file_t  **files = ctx->files.elts, *f, **slot;
    pco_syslog_t            *sl = NULL;
    char                    *full;
    size_t                   i;

    if (pco_syslog_is_target(path->data, path->len)) {
        sl = pco_access_log_syslog(cf, path, src);
        full = sl != NULL ? pco_pnalloc(cf->pool, path->len + 1) : NULL;
        if (full != NULL) {
            memcpy(full, path->data, path->len);
            full[path->len] = '\0';
        }
    } else {
        full = pco_conf_full_path(cf, (const char *) path->data);
    }
    if (full == NULL) {
        return NULL;
    }
    for (i = 0; i < ctx->files.nelts; i++) {
        if (strcmp(files[i]->path, full) == 0) {
            return files[i];
        }
    }
    f = pco_pcalloc(cf->pool, sizeof(pco_access_log_file_t));
    slot = pco_array_push(&ctx->files);
    if (f == NULL || slot == NULL) {
        return NULL;
    }
    f->path = full;
    f->syslog = sl;
    f->fd = -1;
    *slot = f;
    return f;
}

/* True when access_log was written in node or a scope it inherits from. */
static bool
pco_access_log_set_above(const pco_conf_node_t *node)
{
    unsigned  depth;

    for (depth = 0; node != NULL && depth < 16; node = node->inherit, depth++) {
        const void *c = node->confs[pco_access_log_module.index];

        if (c != NULL && PCO_CONF_IS_SET(c, pco_access_log_conf_t, log)) {
            return true;
        }
    }
    return false;
}

static int
pco_access_log_resolve(pco_conf_t *cf, pco_access_log_ctx_t *ctx,
                       const pco_access_log_conf_t *mcf, pco_conf_node_t *node)
{
    static const pco_str_t    def_path = pco_string(PCO_HTTP_LOG_PATH);
    static const pco_str_t    def_format = pco_string("combined");
    pco_access_log_conf_t    *alc = pco_conf_get(node, &pco_access_log_module);
    const pco_conf_src_t     *src;
    pco_access_log_log_t     *log;
    pco_str_t                 path, format;
    size_t                    i;

    if (alc == NULL) {
        return PCO_OK;
    }
    path = alc->log.path;
    format = alc->log.format;
    if (path.len == 0 && format.len == 0) {
        if (pco_access_log_set_above(node)) {
            alc->runtime = NULL;     /* access_log = false */
            return PCO_OK;
        }
        path = def_path;
        format = def_format;
    }
    if (path.len == 0) {
        path = def_path;
    }
    if (format.len == 0) {
        format = def_format;
    }
    src = PCO_CONF_SRC(alc, pco_access_log_conf_t, log.format);   /* only for the format */
    log = pco_pcalloc(cf->pool, sizeof(pco_access_log_log_t));
    if (log == NULL) {
        return PCO_ERROR;
    }
    log->kind = PCO_ACCESS_LOG_TEXT;
    if (pco_str_eq(&format, "combined")) {
        log->tpl = ctx->combined;
        log->kind = PCO_ACCESS_LOG_COMBINED;
    } else if (pco_str_eq(&format, "json")) {
        log->json = ctx->json;
        if (alc->log.fields.n > 0) {
            log->json = pco_access_log_json_fields(cf, ctx->cycle, &alc->log.fields,
                            PCO_CONF_SRC(alc, pco_access_log_conf_t, log.fields));
            if (log->json == NULL) {
                return PCO_ERROR;
            }
        }
        log->tpl = log->json->tpl;
        log->kind = PCO_ACCESS_LOG_JSON;
    } else if (mcf != NULL) {
        const pco_access_log_format_t *fm = mcf->formats.elts;

        for (i = 0; i < mcf->formats.n; i++) {
            if (fm[i].name.len == format.len
                && memcmp(fm[i].name.data, format.data, format.len) == 0)
            {
                log->tpl = fm[i].tpl;
                break;
            }
        }
    }
    if (log->kind != PCO_ACCESS_LOG_JSON && alc->log.fields.n > 0) {
        pco_conf_error_src(cf, PCO_CONF_SRC(alc, pco_access_log_conf_t, log.fields),
                           "fields is for format = \"json\" (a named format lists its "
                           "variables itself)");
        return PCO_ERROR;
    }
    if (log->tpl == NULL) {
        pco_conf_error_src(cf, src, "unknown log format \"%.*s\" (combined, json or a "
                           "log_formats name)", (int) format.len, (const char *) format.data);
        return PCO_ERROR;
    }
    log->file = pco_access_log_file(cf, ctx, &path,
                                    PCO_CONF_SRC(alc, pco_access_log_conf_t, log.path));
    if (log->file == NULL) {
        return PCO_ERROR;
    }
    alc->runtime = log;
    return PCO_OK;
}

/* True when alc sets access_log itself: inherited values carry the set mark and the
 * source position of the node they come from. */
static bool
pco_access_log_own(const pco_access_log_conf_t *alc, const pco_access_log_conf_t *from)
{
    const pco_conf_src_t  *a, *b;

    if (!PCO_CONF_IS_SET(alc, pco_access_log_conf_t, log)) {
        return false;
    }
    if (!PCO_CONF_IS_SET(from, pco_access_log_conf_t, log)) {
        return true;
    }
    a = PCO_CONF_SRC(alc, pco_access_log_conf_t, log);
    b = PCO_CONF_SRC(from, pco_access_log_conf_t, log);
    return a == NULL || b == NULL || a->line != b->line || a->file == NULL || b->file == NULL
           || strcmp(a->file, b->file) != 0;
}

/* The effective log of one node. A node that does not set access_log itself shares the
 * log of the node it inherits from (resolved first, once): a mistake is reported once, at
 * the node that makes it, not again for every server and route that inherits it. */
static int
pco_access_log_node(pco_conf_t *cf, pco_access_log_ctx_t *ctx,
                    const pco_access_log_conf_t *mcf, pco_conf_node_t *node, unsigned depth)
{
    pco_access_log_conf_t  *alc = pco_conf_get(node, &pco_access_log_module);
    pco_access_log_conf_t  *from;

    if (alc == NULL) {
        return PCO_OK;
    }
    if (alc->resolved) {
        return alc->resolve_rc;
    }
    alc->resolved = true;
    from = node->inherit != NULL ? pco_conf_get(node->inherit, &pco_access_log_module) : NULL;
    if (from != NULL && depth < 16 && !pco_access_log_own(alc, from)) {
        (void) pco_access_log_node(cf, ctx, mcf, node->inherit, depth + 1);
        alc->runtime = from->runtime;
        alc->resolve_rc = PCO_OK;      /* an error there is returned for that node */
        return PCO_OK;
    }
    alc->resolve_rc = pco_access_log_resolve(cf, ctx, mcf, node);
    return alc->resolve_rc;
}

static int
pco_access_log_walk(pco_conf_t *cf, pco_access_log_ctx_t *ctx,
                    const pco_access_log_conf_t *mcf, pco_conf_node_t *node, unsigned depth)
{
    size_t  i;
    int     rc = PCO_OK;

    if (depth > 16) {
        return PCO_OK;
    }
    if (node->scope & PCO_SCOPE_HSR) {
        rc = pco_access_log_node(cf, ctx, mcf, node, 0);
    }
    for (i = 0; i < node->nchildren; i++) {
        if (pco_access_log_walk(cf, ctx, mcf, node->children[i], depth + 1) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static int
pco_access_log_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_access_log_ctx_t      *ctx;
    pco_access_log_conf_t     *mcf = pco_http_main_conf(cycle, &pco_access_log_module);
    pco_access_log_format_t   *fm;
    pco_conf_src_t             src = { cf->file, 0, "access_log" };
    pco_str_t                  text;
    size_t                     i, j;
    int                        rc = PCO_OK;

    ctx = pco_pcalloc(cf->pool, sizeof(pco_access_log_ctx_t));
    if (ctx == NULL || pco_array_init(&ctx->files, cf->pool, 4, sizeof(void *)) != PCO_OK) {
        return PCO_ERROR;
    }
    text.data = (u_char *) pco_access_log_combined_fmt;
    text.len = sizeof(pco_access_log_combined_fmt) - 1;
    ctx->combined = pco_http_template_compile(cf, cycle, &text, &src);
    ctx->json = pco_access_log_json_fixed(cf, cycle, &src);
    ctx->cycle = cycle;
    if (ctx->combined == NULL || ctx->json == NULL) {
        return PCO_ERROR;
    }
    if (mcf != NULL) {
        fm = mcf->formats.elts;
        for (i = 0; i < mcf->formats.n; i++) {
            const pco_conf_src_t *fsrc = mcf->formats.src ? &mcf->formats.src[i] : &src;

            if (pco_str_eq(&fm[i].name, "combined") || pco_str_eq(&fm[i].name, "json")) {
                pco_conf_error_src(cf, fsrc, "log format name \"%s\" is reserved",
                                   (const char *) fm[i].name.data);
                rc = PCO_ERROR;
                continue;
            }
            for (j = 0; j < i; j++) {
                if (fm[j].name.len == fm[i].name.len
                    && memcmp(fm[j].name.data, fm[i].name.data, fm[i].name.len) == 0)
                {
                    pco_conf_error_src(cf, fsrc, "duplicate log format \"%s\"",
                                       (const char *) fm[i].name.data);
                    rc = PCO_ERROR;
                }
            }
            fm[i].tpl = pco_http_template_compile(cf, cycle, &fm[i].format, fsrc);
            if (fm[i].tpl == NULL) {
                rc = PCO_ERROR;
            }
        }
    }
    if (rc != PCO_OK) {
        return rc;
    }
    if (pco_access_log_walk(cf, ctx, mcf, cf->root, 0) != PCO_OK) {
        return PCO_ERROR;
    }
    cycle->module_ctx[pco_access_log_module.index] = ctx;
    return pco_http_add_handler(cf, cycle, PCO_HTTP_LOG_PHASE, 100, &pco_access_log_module,
                                pco_access_log_handler);
}

/* ---- files --------------------------------------------------------------------------- */

static void
pco_access_log_flush(pco_cycle_t *cycle, pco_access_log_file_t *f)
{
    size_t   off = 0;
    ssize_t  n;

    while (off < f->len && f->fd >= 0) {
        n = write(f->fd, f->buf + off, f->len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* the lines are lost; say so once per flush */
            pco_log_err(PCO_LOG_ERR, cycle->log, errno, "write() to access log \"%s\" failed",
                        f->path);
            break;
        }
        off += (size_t) n;
    }
    f->len = 0;
}

static void
pco_access_log_flush_all(pco_cycle_t *cycle)
{
    pco_access_log_ctx_t    *ctx = cycle->module_ctx[pco_access_log_module.index];
    pco_access_log_file_t  **files;
    size_t                   i;

    if (ctx == NULL) {
        return;
    }
    files = ctx->files.elts;
    for (i = 0; i < ctx->files.nelts; i++) {
        if (files[i]->buf != NULL && files[i]->len > 0) {
            pco_access_log_flush(cycle, files[i]);
        }
    }
}

/* Opens path for appending (0640: client addresses are not for every local user). A master
 * running as root hands the file to the worker user and group, so that workers (after the
 * privilege drop) can open it again on USR1. */
static int
pco_access_log_open(pco_cycle_t *cycle, const char *path)
{
    int  fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd >= 0) {
        pco_give_to_workers(cycle, fd, path);
    }
    return fd;
}

/* USR1, in every process of the generation: flush, reopen, keep the descriptor number. */
static void
pco_access_log_reopen(pco_cycle_t *cycle, void *data)
{
    pco_access_log_ctx_t    *ctx = data;
    pco_access_log_file_t  **files = ctx->files.elts;
    size_t                   i;
    int                      fd;

    for (i = 0; i < ctx->files.nelts; i++) {
        pco_access_log_file_t *f = files[i];

        if (f->syslog != NULL) {
            continue;           /* nothing to reopen: sends reconnect a socket that went */
        }
        if (f->buf != NULL && f->len > 0) {
            pco_access_log_flush(cycle, f);
        }
        fd = pco_access_log_open(cycle, f->path);
        if (fd < 0) {
            pco_log_error(PCO_LOG_ERR, cycle->log, errno,
                          "reopening access log \"%s\" failed", f->path);
            continue;
        }
        if (f->fd < 0) {
            f->fd = fd;
            continue;
        }
        if (dup3(fd, f->fd, O_CLOEXEC) < 0) {
            pco_log_error(PCO_LOG_ERR, cycle->log, errno, "dup3() for \"%s\" failed", f->path);
        }
        close(fd);
    }
}

static void
pco_access_log_close(void *data)
{
    pco_access_log_ctx_t    *ctx = data;
    pco_access_log_file_t  **files = ctx->files.elts;
    size_t                   i;

    for (i = 0; i < ctx->files.nelts; i++) {
        if (files[i]->syslog != NULL) {
            pco_syslog_close(files[i]->syslog);
        }
        if (files[i]->fd >= 0) {
            close(files[i]->fd);
            files[i]->fd = -1;
        }
    }
}

static int
pco_access_log_init_master(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_access_log_ctx_t    *ctx = cycle->module_ctx[pco_access_log_module.index];
    pco_access_log_file_t  **files;
    size_t                   i;

    pco_unused(old);
    if (ctx == NULL) {
        return PCO_OK;
    }
    files = ctx->files.elts;
    for (i = 0; i < ctx->files.nelts; i++) {
        if (files[i]->syslog != NULL) {
            /* no receiver yet is no reason to refuse the start: sends retry */
            files[i]->syslog->counter = pco_counter_find("syslog_dropped");
            (void) pco_syslog_open(files[i]->syslog);
            continue;
        }
        files[i]->fd = pco_access_log_open(cycle, files[i]->path);
        if (files[i]->fd < 0) {
            pco_log_error(PCO_LOG_ERR, cycle->log, errno, "cannot open access log \"%s\"",
                          files[i]->path);
            pco_access_log_close(ctx);
            return PCO_ERROR;
        }
    }
    if (pco_pool_cleanup_add(cycle->pool, pco_access_log_close, ctx) != PCO_OK
        || pco_reopen_add(cycle, pco_access_log_reopen, ctx) != PCO_OK)
    {
        pco_access_log_close(ctx);
        return PCO_ERROR;
    }
    return PCO_OK;
}

static void
pco_access_log_timer_handler(pco_event_t *ev)
{
    pco_cycle_t *cycle = ev->data;

    ev->timedout = 0;
    pco_access_log_flush_all(cycle);
    pco_event_add_timer(ev, PCO_ACCESS_LOG_FLUSH_MS);
}

static int
pco_access_log_init_worker(pco_cycle_t *cycle)
{
    pco_access_log_ctx_t    *ctx = cycle->module_ctx[pco_access_log_module.index];
    pco_access_log_file_t  **files;
    size_t                   i;

    if (ctx == NULL || ctx->files.nelts == 0) {
        return PCO_OK;
    }
    files = ctx->files.elts;
    for (i = 0; i < ctx->files.nelts; i++) {
        if (files[i]->syslog != NULL) {
            continue;           /* one message per line, sent at once: no buffer */
        }
        files[i]->buf = pco_pnalloc(cycle->pool, PCO_ACCESS_LOG_BUF_SIZE);
        if (files[i]->buf == NULL) {
            return PCO_ERROR;
        }
        files[i]->len = 0;
    }
    memset(&ctx->timer, 0, sizeof(pco_event_t));
    ctx->timer.data = cycle;
    ctx->timer.handler = pco_access_log_timer_handler;
    ctx->timer.cancelable = 1;
    pco_event_add_timer(&ctx->timer, PCO_ACCESS_LOG_FLUSH_MS);
    return PCO_OK;
}

static void
pco_access_log_exit_worker(pco_cycle_t *cycle)
{
    pco_access_log_ctx_t *ctx = cycle->module_ctx[pco_access_log_module.index];

    if (ctx == NULL) {
        return;
    }
    if (ctx->timer.timer_index != 0) {
        pco_event_del_timer(&ctx->timer);
    }
    pco_access_log_flush_all(cycle);
}

/* ---- the LOG phase ------------------------------------------------------------------- */

static u_char *
pco_access_log_text_line(u_char *p, const pco_http_template_part_t *parts, size_t n,
                         const pco_access_log_value_t *vals)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (parts[i].var < 0 && parts[i].capture == 0) {
            memcpy(p, parts[i].literal.data, parts[i].literal.len);
            p += parts[i].literal.len;
        } else if (vals[i].absent) {
            *p++ = '-';
        } else {
            p += pco_access_log_escape(p, vals[i].v.data, vals[i].v.len);
        }
    }
    *p++ = '\n';
    return p;
}

static int
pco_access_log_handler(pco_http_request_t *r)
{
    pco_access_log_conf_t           *alc;
    pco_access_log_log_t            *log;
    pco_access_log_file_t           *f;
    const pco_http_template_part_t  *parts;
    pco_access_log_value_t          *vals;
    size_t                           n, i, k = 0, bound = 4;
    u_char                          *line, *end;

    alc = r->server ? pco_http_route_conf(r, &pco_access_log_module)
                    : pco_http_main_conf(pco_cycle, &pco_access_log_module);
    if (alc == NULL || alc->runtime == NULL) {
        return PCO_DECLINED;
    }
    log = alc->runtime;
    f = log->file;
    n = pco_http_template_parts(log->tpl, &parts);
    vals = pco_palloc(r->pool, (n ? n : 1) * sizeof(pco_access_log_value_t));
    if (vals == NULL) {
        return PCO_DECLINED;
    }
    /* evaluate once (some variables are not cached), then bound the line's size */
    for (i = 0; i < n; i++) {
        vals[i].absent = false;
        vals[i].number = false;
        if (parts[i].var < 0 && parts[i].capture == 0) {
            bound += parts[i].literal.len;
            continue;
        }
        if (pco_http_template_part_value(r, &parts[i], &vals[i].v, &vals[i].number) != PCO_OK) {
            vals[i].absent = true;
            vals[i].v.len = 0;
        }
        if (log->kind == PCO_ACCESS_LOG_JSON) {
            bound += k < log->json->n
                     ? pco_access_log_json_bound(&log->json->fields[k++], &vals[i]) : 0;
        } else {
            bound += 1 + vals[i].v.len * PCO_ACCESS_LOG_TEXT_MAX;
        }
    }
    if (log->kind == PCO_ACCESS_LOG_COMBINED) {
        bound += sizeof(PCO_ACCESS_LOG_CUT);
    }
    if (f->buf != NULL && bound > PCO_ACCESS_LOG_BUF_SIZE - f->len) {
        pco_access_log_flush(pco_cycle, f);
    }
    if (f->buf != NULL && bound <= PCO_ACCESS_LOG_BUF_SIZE) {
        line = f->buf + f->len;
    } else {
        line = pco_pnalloc(r->pool, bound);
        if (line == NULL) {
            return PCO_DECLINED;
        }
    }
    end = (log->kind == PCO_ACCESS_LOG_JSON)
          ? pco_access_log_json_line(line, log->json, parts, n, vals)
          : pco_access_log_text_line(line, parts, n, vals);
    if (log->kind == PCO_ACCESS_LOG_COMBINED && !r->complete) {
        end--;      /* before the newline */
        memcpy(end, PCO_ACCESS_LOG_CUT, sizeof(PCO_ACCESS_LOG_CUT) - 1);
        end += sizeof(PCO_ACCESS_LOG_CUT) - 1;
        *end++ = '\n';
    }
    if (f->syslog != NULL) {
        /* one message a line, at once: a receiver's timestamps stay those of the requests */
        pco_syslog_send(f->syslog, (unsigned) f->syslog->severity, "access", line,
                        (size_t) (end - line - 1));
    } else if (f->buf != NULL && line == f->buf + f->len) {
        f->len += (size_t) (end - line);
    } else if (f->fd >= 0) {
        /* bigger than the buffer (or no buffer): write it at once */
        pco_access_log_file_t tmp = { f->path, NULL, f->fd, line, (size_t) (end - line) };

        pco_access_log_flush(pco_cycle, &tmp);
    }
    return PCO_DECLINED;
}
