/*
 * pco_auth_basic.c: the `auth_basic` route setting (docs/settings.md, docs/http.md):
 *     auth_basic = { realm = "admin"; users = "conf/htpasswd"; };
 * Requests to the route need `Authorization: Basic` credentials of a user of the htpasswd
 * file; otherwise the answer is 401 with `WWW-Authenticate: Basic realm="admin"` (the same
 * answer for a missing header, a malformed one, an unknown user and a wrong password), and
 * $remote_user names the verified user (it is absent otherwise: a refused request logs "-",
 * never a name it could not verify). Several Authorization headers are 400, and so are Basic
 * credentials longer than 4 KiB of base64 (refused before decoding or hashing: MD5-crypt
 * and SHA-crypt cost grows with the password). A NUL byte in the decoded credentials is a
 * 401 without any hashing (crypt(3) would stop at it).
 *
 * Hooks: conf_done (master, -t too) reads and parses each users file once per generation
 * (relative paths from the prefix; errors as USERSFILE:LINE: message, plus the line of the
 * setting), warns about {SHA} hashes and about routes reachable over plain HTTP, and
 * makes each file's dummy entry (one hash of its costliest scheme: unknown users are
 * checked against it so that their refusal takes as long as a wrong password's),
 * registers the ACCESS handler (priority 300: after limits and `access`), a header filter
 * that adds the challenge to this module's 401s, and $remote_user. The handler runs in
 * workers; a bcrypt verification costs milliseconds, so successful verifications are kept
 * in a per-worker cache (64 entries, 60 s; a new generation starts with new workers and an
 * empty cache; failures are never kept). No shared memory; the file is re-read on HUP as
 * part of the configuration.
 * pco_http_conn.h gives the server's listeners (the plain-HTTP warning).
 */
#include "pco_http.h"
#include "pco_http_conn.h"
#include "pco_auth_basic.h"
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <unistd.h>

#define PCO_AUTH_BASIC_MAX_FILE   (16 * 1024 * 1024)
#define PCO_AUTH_BASIC_PRIORITY   300     /* ACCESS: limits 10-20, access 200, auth 300 */

typedef struct {
    pco_str_t   realm;
    pco_str_t   users;
} pco_auth_basic_spec_t;

typedef struct {
    pco_auth_basic_spec_t    ab;
    /* compiled at conf_done (cycle pool) */
    pco_str_t                challenge;    /* Basic realm="..." */
    pco_auth_basic_file_t   *file;         /* NULL: the route has no auth_basic */
} pco_auth_basic_conf_t;

typedef struct {
    pco_array_t              files;        /* pco_auth_basic_file_t *, one per path */
} pco_auth_basic_main_t;

typedef struct {
    pco_str_t                user;         /* verified: $remote_user */
    const pco_str_t         *challenge;    /* set when this module answered 401 */
} pco_auth_basic_ctx_t;

static int pco_auth_basic_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);

static const pco_setting_t pco_auth_basic_members[] = {
    { .name = "realm", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_auth_basic_spec_t, realm), .flags = PCO_CONF_REQUIRED,
      .help = "realm named in WWW-Authenticate" },
    { .name = "users", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_auth_basic_spec_t, users), .flags = PCO_CONF_REQUIRED,
      .help = "htpasswd file (relative to the prefix): bcrypt, $apr1$, $5$, $6$, {SHA}" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_auth_basic_settings[] = {
    { .name = "auth_basic", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_auth_basic_conf_t, ab), .sub = pco_auth_basic_members,
      .flags = PCO_CONF_NOINHERIT,
      .help = "HTTP Basic authentication against an htpasswd file: { realm; users; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master; loads the users files, registers the ACCESS handler, the
 * header filter and $remote_user; PCO_OK, or PCO_ERROR after reporting every problem).
 * The handler returns PCO_DECLINED (authenticated: the next ACCESS handler runs), 401, 400
 * (several Authorization headers, over-long credentials) or 500 (memory); it never blocks
 * on I/O.
 */
pco_module_t pco_auth_basic_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "auth_basic",
    .settings = pco_auth_basic_settings,
    .conf_size = sizeof(pco_auth_basic_conf_t),
    .conf_done = pco_auth_basic_conf_done,
};

/* Per worker: successful verifications (see the file comment). */
static pco_auth_basic_cache_t  pco_auth_basic_cache;

/* ---- configuration ------------------------------------------------------------------- */

typedef struct {
    pco_conf_t            *cf;
    const char            *path;
    const pco_conf_src_t  *setting;
} pco_auth_basic_report_ctx_t;

static void
pco_auth_basic_conf_report(void *data, unsigned line, bool warning, const char *msg)
{
    pco_auth_basic_report_ctx_t  *rc = data;
    pco_conf_src_t                src = { .file = rc->path, .line = (int) line, .path = NULL };

    if (warning) {
        pco_conf_warn_src(rc->cf, &src, "%s (users file of %s at %s:%d)", msg,
                          rc->setting->path, rc->setting->file, rc->setting->line);
    } else {
        pco_conf_error_src(rc->cf, &src, "%s (users file of %s at %s:%d)", msg,
                           rc->setting->path, rc->setting->file, rc->setting->line);
    }
}

/* Reads the whole file into the pool; NULL after reporting at src. */
static u_char *
pco_auth_basic_read(pco_conf_t *cf, const char *path, const pco_conf_src_t *src, size_t *len)
{
    struct stat   st;
    u_char       *buf;
    size_t        got = 0;
    int           fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pco_conf_error_src(cf, src, "cannot open users file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        pco_conf_error_src(cf, src, "users file \"%s\" is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size > PCO_AUTH_BASIC_MAX_FILE) {
        pco_conf_error_src(cf, src, "users file \"%s\" is larger than 16m", path);
        close(fd);
        return NULL;
    }
    buf = pco_pnalloc(cf->pool, (size_t) st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    while (got < (size_t) st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t) st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            pco_conf_error_src(cf, src, "cannot read users file \"%s\": %s", path,
                               n < 0 ? strerror(errno) : "file shrank while reading");
            close(fd);
            return NULL;
        }
        got += (size_t) n;
    }
    close(fd);
    *len = got;
    return buf;
}

/* Warns about entries whose refusal takes another time than an unknown user's. */
static void
pco_auth_basic_warn_costs(pco_auth_basic_report_ctx_t *rctx, const pco_auth_basic_file_t *f)
{
    const pco_auth_basic_user_t  *odd;
    size_t                        n = pco_auth_basic_odd_costs(f, &odd);
    char                          msg[400];

    if (n == 0) {
        return;
    }
    snprintf(msg, sizeof(msg), "user \"%.*s\"%s: hash scheme or cost differs from line %u's, "
             "which unknown users are checked against: the time of a refusal tells that "
             "such a user exists (give every user the same scheme and cost)",
             (int) pco_min(odd->user.len, (size_t) 64), (const char *) odd->user.data,
             n > 1 ? " and others" : "", f->dummy.line);
    pco_auth_basic_conf_report(rctx, odd->line, true, msg);
}

/* The parsed users file of path, loaded once per generation; NULL after reporting. */
static pco_auth_basic_file_t *
pco_auth_basic_load(pco_conf_t *cf, pco_auth_basic_main_t *am, const pco_str_t *users,
                    const pco_conf_src_t *src)
{
    pco_auth_basic_file_t       **files = am->files.elts, *f, **slot;
    pco_auth_basic_report_ctx_t   rctx;
    char                         *full = pco_conf_full_path(cf, (const char *) users->data);
    u_char                       *text;
    size_t                        i, len = 0;

    if (full == NULL) {
        return NULL;
    }
    for (i = 0; i < am->files.nelts; i++) {
        if (strcmp(files[i]->path, full) == 0) {
            /* reported once, when first loaded */
            return files[i]->invalid ? NULL : files[i];
        }
    }
    f = pco_pcalloc(cf->pool, sizeof(pco_auth_basic_file_t));
    slot = pco_array_push(&am->files);
    if (f == NULL || slot == NULL) {
        return NULL;
    }
    f->path = full;
    f->invalid = true;
    *slot = f;
    text = pco_auth_basic_read(cf, full, src, &len);
    if (text == NULL) {
        return NULL;
    }
    rctx.cf = cf;
    rctx.path = full;
    rctx.setting = src;
    if (pco_auth_basic_parse(cf->pool, text, len, f, pco_auth_basic_conf_report, &rctx)
        != PCO_OK)
    {
        return NULL;
    }
    if (f->nusers == 0) {
        pco_conf_warn_src(cf, src, "users file \"%s\" lists no user: every request to the "
                          "route gets 401", full);
    }
    if (pco_auth_basic_make_dummy(cf->pool, f) != PCO_OK) {
        pco_conf_error_src(cf, src, "users file \"%s\": cannot make the hash for unknown "
                           "users", full);
        return NULL;
    }
    pco_auth_basic_warn_costs(&rctx, f);
    f->invalid = false;
    return f;
}

/* Warns when the route's server listens on plain HTTP: the password crosses in clear. */
static void
pco_auth_basic_warn_plain(pco_conf_t *cf, pco_http_route_t *rt, const pco_conf_src_t *src)
{
    pco_http_listen_info_t  li;
    size_t                  i;

    for (i = 0; pco_http_server_listen(rt->server, i, &li); i++) {
        if (!li.tls) {
            pco_conf_warn_src(cf, src, "auth_basic on the plain-HTTP listener %s: passwords "
                              "cross the network in clear text", li.text ? li.text : "?");
            return;
        }
    }
}

static int
pco_auth_basic_route(pco_conf_t *cf, pco_auth_basic_main_t *am, pco_http_route_t *rt,
                     size_t *used)
{
    pco_auth_basic_conf_t  *ac = pco_conf_get(rt->node, &pco_auth_basic_module);
    const pco_conf_src_t   *src;
    size_t                  i;

    if (ac == NULL || !PCO_CONF_IS_SET(ac, pco_auth_basic_conf_t, ab)) {
        return PCO_OK;
    }
    src = PCO_CONF_SRC(ac, pco_auth_basic_conf_t, ab);
    for (i = 0; i < ac->ab.realm.len; i++) {
        if (ac->ab.realm.data[i] < 0x20 || ac->ab.realm.data[i] == 0x7f) {
            pco_conf_error_src(cf, PCO_CONF_SRC(ac, pco_auth_basic_conf_t, ab.realm),
                               "realm contains a control character");
            return PCO_ERROR;
        }
    }
    if (ac->ab.users.len == 0) {
        pco_conf_error_src(cf, PCO_CONF_SRC(ac, pco_auth_basic_conf_t, ab.users),
                           "users must name an htpasswd file");
        return PCO_ERROR;
    }
    ac->challenge.data = pco_pnalloc(cf->pool, 2 * ac->ab.realm.len + 16);
    if (ac->challenge.data == NULL) {
        return PCO_ERROR;
    }
    ac->challenge.len = pco_auth_basic_challenge(ac->challenge.data, ac->ab.realm.data,
                                                 ac->ab.realm.len);
    ac->file = pco_auth_basic_load(cf, am, &ac->ab.users,
                                   PCO_CONF_SRC(ac, pco_auth_basic_conf_t, ab.users));
    if (ac->file == NULL) {
        return PCO_ERROR;
    }
    pco_auth_basic_warn_plain(cf, rt, src);
    (*used)++;
    return PCO_OK;
}

static int pco_auth_basic_handler(pco_http_request_t *r);
static int pco_auth_basic_filter(pco_http_request_t *r);
static int pco_auth_basic_variable(pco_http_request_t *r, const pco_str_t *name,
                                   uintptr_t data, pco_str_t *v);

static int
pco_auth_basic_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_auth_basic_main_t   *am;
    pco_http_route_t       **routes;
    size_t                   n, i, used = 0;
    int                      rc = PCO_OK;

    am = pco_pcalloc(cf->pool, sizeof(pco_auth_basic_main_t));
    if (am == NULL || pco_array_init(&am->files, cf->pool, 4,
                                     sizeof(pco_auth_basic_file_t *)) != PCO_OK)
    {
        return PCO_ERROR;
    }
    cycle->module_ctx[pco_auth_basic_module.index] = am;
    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        if (pco_auth_basic_route(cf, am, routes[i], &used) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    if (rc != PCO_OK) {
        return rc;
    }
    rc = pco_http_variable_add(cf, cycle, "remote_user", pco_auth_basic_variable, 0,
                               PCO_HTTP_VAR_NOCACHE);
    if (rc != PCO_OK) {
        return PCO_ERROR;
    }
    if (used == 0) {
        return PCO_OK;               /* nothing on the request path */
    }
    rc = pco_http_add_header_filter(cf, cycle, PCO_HTTP_FILTER_HEADERS, &pco_auth_basic_module,
                                    pco_auth_basic_filter);
    if (rc != PCO_OK) {
        return PCO_ERROR;
    }
    return pco_http_add_handler(cf, cycle, PCO_HTTP_ACCESS_PHASE, PCO_AUTH_BASIC_PRIORITY,
                                &pco_auth_basic_module, pco_auth_basic_handler);
}

/* ---- requests ------------------------------------------------------------------------ */

/* The user name for the error log: printable ASCII only, at most 64 bytes. */
static void
pco_auth_basic_log_user(const pco_str_t *user, char out[72])
{
    size_t  i, n = pco_min(user->len, 64);

    for (i = 0; i < n; i++) {
        u_char ch = user->data[i];

        out[i] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char) ch : '?';
    }
    out[n] = '\0';
    if (user->len > 64) {
        memcpy(out + n, "...", 4);
    }
}

static int
pco_auth_basic_challenge_401(pco_auth_basic_ctx_t *ctx, pco_auth_basic_conf_t *ac)
{
    ctx->challenge = &ac->challenge;
    return 401;
}

/* Checks user/password against the file, through the cache; logs a refusal. */
static bool
pco_auth_basic_check(pco_http_request_t *r, pco_auth_basic_conf_t *ac, const pco_str_t *user,
                     const pco_str_t *pw)
{
    char  name[72];
    int   rc;

    rc = pco_auth_basic_authenticate(ac->file, &pco_auth_basic_cache, user, pw,
                                     pco_current_msec);
    if (rc == PCO_AUTH_BASIC_PASS) {
        return true;
    }
    pco_auth_basic_log_user(user, name);
    if (rc == PCO_AUTH_BASIC_UNKNOWN) {
        pco_log_err(PCO_LOG_ERR, r->connection->log, 0,
                    "auth_basic: user \"%s\" was not found in \"%s\"", name, ac->file->path);
    } else {
        pco_log_err(PCO_LOG_ERR, r->connection->log, 0,
                    "auth_basic: user \"%s\": password mismatch", name);
    }
    return false;
}

static int
pco_auth_basic_handler(pco_http_request_t *r)
{
    pco_auth_basic_conf_t  *ac = pco_http_route_conf(r, &pco_auth_basic_module);
    pco_auth_basic_ctx_t   *ctx;
    pco_http_header_t      *h = NULL;
    pco_str_t               user, pw;
    u_char                 *buf;
    size_t                  size;
    unsigned                i;
    int                     rc;

    if (ac == NULL || ac->file == NULL) {
        return PCO_DECLINED;
    }
    ctx = pco_pcalloc(r->pool, sizeof(pco_auth_basic_ctx_t));
    if (ctx == NULL) {
        return 500;
    }
    pco_http_set_ctx(r, ctx, &pco_auth_basic_module);
    for (i = 0; i < r->head.nheaders; i++) {
        pco_http_header_t *x = &r->head.headers[i];

        if (x->name.len == 13 && strncasecmp((const char *) x->name.data, "Authorization", 13)
                                 == 0)
        {
            if (h != NULL) {
                /* which one would the upstream believe? */
                pco_log_err(PCO_LOG_INFO, r->connection->log, 0,
                            "auth_basic: several Authorization headers");
                return 400;
            }
            h = x;
        }
    }
    if (h == NULL) {
        return pco_auth_basic_challenge_401(ctx, ac);
    }
    /* the decoded text is shorter than the base64, which decode caps */
    size = pco_min(h->value.len, (size_t) PCO_AUTH_BASIC_MAX_CREDENTIALS);
    buf = pco_pnalloc(r->pool, size + 1);
    if (buf == NULL) {
        return 500;
    }
    rc = pco_auth_basic_decode(h->value.data, h->value.len, buf, size, &user, &pw);
    if (rc == PCO_ERROR) {
        pco_log_err(PCO_LOG_INFO, r->connection->log, 0,
                    "auth_basic: Basic credentials longer than %d bytes of base64 (%zu bytes "
                    "in the Authorization header), refused unchecked",
                    PCO_AUTH_BASIC_MAX_CREDENTIALS, h->value.len);
        return 400;
    }
    if (rc != PCO_OK) {
        pco_log_err(PCO_LOG_INFO, r->connection->log, 0,
                    "auth_basic: invalid Authorization header");
        return pco_auth_basic_challenge_401(ctx, ac);
    }
    if (memchr(buf, '\0', user.len + 1 + pw.len) != NULL) {
        /* crypt(3) would stop at the NUL: refused before any lookup or hashing */
        pco_log_err(PCO_LOG_INFO, r->connection->log, 0,
                    "auth_basic: NUL byte in the Basic credentials");
        OPENSSL_cleanse(buf, size);
        return pco_auth_basic_challenge_401(ctx, ac);
    }
    if (!pco_auth_basic_check(r, ac, &user, &pw)) {
        OPENSSL_cleanse(buf, size);
        return pco_auth_basic_challenge_401(ctx, ac);
    }
    ctx->user = user;
    OPENSSL_cleanse(pw.data, pw.len);
    return PCO_DECLINED;
}

/* Adds the challenge to the 401 this module asked for (the error page starts with no extra
 * headers, so this runs in the header filter chain). */
static int
pco_auth_basic_filter(pco_http_request_t *r)
{
    static const pco_str_t   name = pco_string("WWW-Authenticate");
    pco_auth_basic_ctx_t    *ctx = pco_http_get_ctx(r, &pco_auth_basic_module);

    if (ctx == NULL || ctx->challenge == NULL || r->status != 401) {
        return PCO_OK;
    }
    return pco_http_set_header(r, &name, ctx->challenge, true);
}

static int
pco_auth_basic_variable(pco_http_request_t *r, const pco_str_t *name, uintptr_t data,
                        pco_str_t *v)
{
    pco_auth_basic_ctx_t  *ctx = pco_http_get_ctx(r, &pco_auth_basic_module);

    pco_unused(name);
    pco_unused(data);
    if (ctx == NULL || ctx->user.len == 0) {
        return PCO_DECLINED;
    }
    *v = ctx->user;
    return PCO_OK;
}
