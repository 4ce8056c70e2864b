/*
 * pco_static.c: the `static` route action: serves files beneath a root directory.
 *     static = { root = "html"; index = "index.html"; };
 * conf_done loads conf/mime.types (under the prefix; a built-in table when the file is
 * missing) into cycle->module_ctx, checks that every root exists and claims the routes.
 * init_worker opens each root once (O_PATH) per worker. The content handler (GET/HEAD only)
 * decodes the path, refuses NUL, ".." and dot-files, opens beneath the root only
 * (openat2 RESOLVE_BENEATH, or an O_NOFOLLOW walk where openat2 is missing), redirects
 * directories without a trailing slash, serves index files, answers If-Modified-Since with
 * 304 and one byte range with 206/416, and hands the file to the writer as an in-file
 * buffer (sendfile). The descriptor is closed by a request-pool cleanup.
 *
 * gzip_static = true (needs the gzip module for the Accept-Encoding rules): when the client
 * accepts gzip and FILE.gz is a regular file beneath the root next to FILE (or next to the
 * index file), FILE.gz is sent instead, as it is: Content-Encoding: gzip, the Content-Type
 * of FILE, the length and Last-Modified of FILE.gz; a Range applies to the bytes of FILE.gz,
 * as on any file. Every file answer of such a route carries Vary: Accept-Encoding, whichever
 * variant it is, so that a cache keeps both apart.
 */
#include "pco_http.h"
#include "pco_static.h"
#include "pco_string.h"
#if PCO_HAVE_GZIP
#include "pco_gzip.h"
#endif
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define PCO_STATIC_HAVE_OPENAT2 1
#endif
#endif

typedef struct {
    pco_str_t   root;
    pco_str_t   index;
    bool        gzip_static;
} pco_static_spec_t;

typedef struct {
    pco_static_spec_t   st;
    char               *root_path;    /* absolute (conf_done) */
    int                 root_fd;      /* per worker (init_worker), -1 = open per request */
} pco_static_route_conf_t;

typedef struct {
    pco_static_mime_table_t   mime;
} pco_static_ctx_t;

static int pco_static_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_static_init_worker(pco_cycle_t *cycle);
static void pco_static_exit_worker(pco_cycle_t *cycle);
static int pco_static_handler(pco_http_request_t *r);

static const pco_setting_t pco_static_members[] = {
    { .name = "root", .type = PCO_CONF_STRING, .offset = offsetof(pco_static_spec_t, root),
      .flags = PCO_CONF_REQUIRED, .help = "directory served (relative to the prefix)" },
    { .name = "index", .type = PCO_CONF_STRING, .offset = offsetof(pco_static_spec_t, index),
      .def = "\"index.html\"", .help = "file served for a directory URI ending in '/'" },
    { .name = "gzip_static", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_static_spec_t, gzip_static), .def = "false",
      .help = "serve FILE.gz (as it is, Content-Encoding: gzip) when it exists and the client "
              "accepts gzip" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_static_settings[] = {
    { .name = "static", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_static_route_conf_t, st), .sub = pco_static_members,
      .flags = PCO_CONF_NOINHERIT,
      .help = "route action: serve files { root; index; gzip_static; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks:
 *   conf_done   master: loads the MIME table, checks roots, claims routes (PCO_OK/ERROR).
 *   init_worker worker: opens each root directory (O_PATH); failures fall back to opening
 *               the root per request. Always PCO_OK.
 *   exit_worker worker: closes them.
 * The content handler never blocks beyond open/fstat of local files.
 */
pco_module_t pco_static_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "static",
    .settings = pco_static_settings,
    .conf_size = sizeof(pco_static_route_conf_t),
    .conf_done = pco_static_conf_done,
    .init_worker = pco_static_init_worker,
    .exit_worker = pco_static_exit_worker,
};

/* Used when conf/mime.types is missing. */
static const char pco_static_builtin_mime[] =
    "text/html html htm; text/css css; text/plain txt; text/xml xml;"
    "application/javascript js mjs; application/json json; application/pdf pdf;"
    "application/wasm wasm; image/png png; image/jpeg jpg jpeg; image/gif gif;"
    "image/svg+xml svg; image/webp webp; image/x-icon ico; font/woff woff;"
    "font/woff2 woff2;";

static void *
pco_static_pool_alloc(void *ctx, size_t size)
{
    return pco_palloc(ctx, size);       /* aligned: it also holds the table of entries */
}

/* Loads mime.types (PCO_MIME_TYPES_PATH: beside the compiled-in configuration file,
 * conf/mime.types in the stock layout); a missing file is a warning at `first`, the first static route
 * (the setting that needs the types), and the built-in table is used. */
static int
pco_static_load_mime(pco_conf_t *cf, pco_static_ctx_t *sc, const pco_conf_src_t *first)
{
    char         *path = pco_conf_full_path(cf, PCO_MIME_TYPES_PATH);
    pco_conf_src_t src = { path, 0, "mime.types" };
    FILE         *f;
    u_char       *text;
    long          len;
    unsigned      line = 0;

    f = path ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        pco_conf_warn_src(cf, first, "cannot open %s (%s): using the built-in MIME types",
                          path ? path : PCO_MIME_TYPES_PATH, strerror(errno));
        text = (u_char *) pco_static_builtin_mime;
        len = (long) sizeof(pco_static_builtin_mime) - 1;
    } else {
        if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > 16 * 1024 * 1024
            || fseek(f, 0, SEEK_SET) != 0)
        {
            fclose(f);
            pco_conf_error_src(cf, &src, "cannot read %s", path);
            return PCO_ERROR;
        }
        text = pco_pnalloc(cf->pool, (size_t) len + 1);
        if (text == NULL || fread(text, 1, (size_t) len, f) != (size_t) len) {
            fclose(f);
            pco_conf_error_src(cf, &src, "cannot read %s", path);
            return PCO_ERROR;
        }
        fclose(f);
    }
    if (pco_static_mime_parse(&sc->mime, text, (size_t) len, pco_static_pool_alloc, cf->pool,
                              &line) != PCO_OK)
    {
        src.line = (int) line;
        pco_conf_error_src(cf, &src, line ? "syntax error in the MIME types" : "out of memory");
        return PCO_ERROR;
    }
    return PCO_OK;
}

static int
pco_static_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_route_t    **routes;
    pco_static_ctx_t     *sc;
    size_t                n, i;
    int                   rc = PCO_OK;
    bool                  any = false;
    const pco_conf_src_t *first = NULL;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_static_route_conf_t  *scf = pco_conf_get(routes[i]->node, &pco_static_module);
        const pco_conf_src_t     *src;
        struct stat               st;

        if (scf == NULL || !PCO_CONF_IS_SET(scf, pco_static_route_conf_t, st)) {
            continue;
        }
        any = true;
        src = PCO_CONF_SRC(scf, pco_static_route_conf_t, st);
#if !PCO_HAVE_GZIP
        if (scf->st.gzip_static) {
            pco_conf_error_src(cf, PCO_CONF_SRC(scf, pco_static_route_conf_t, st.gzip_static),
                               "gzip_static needs the gzip module (built --without-gzip)");
            rc = PCO_ERROR;
        }
#endif
        if (first == NULL) {
            first = src;
        }
        scf->root_fd = -1;
        scf->root_path = pco_conf_full_path(cf, (const char *) scf->st.root.data);
        if (scf->root_path == NULL) {
            rc = PCO_ERROR;
            continue;
        }
        if (stat(scf->root_path, &st) != 0) {
            pco_conf_error_src(cf, PCO_CONF_SRC(scf, pco_static_route_conf_t, st.root),
                               "root \"%s\": %s", scf->root_path, strerror(errno));
            rc = PCO_ERROR;
        } else if (!S_ISDIR(st.st_mode)) {
            pco_conf_error_src(cf, PCO_CONF_SRC(scf, pco_static_route_conf_t, st.root),
                               "root \"%s\" is not a directory", scf->root_path);
            rc = PCO_ERROR;
        }
        if (scf->st.index.len > 0
            && (memchr(scf->st.index.data, '/', scf->st.index.len) != NULL
                || scf->st.index.data[0] == '.'))
        {
            pco_conf_error_src(cf, PCO_CONF_SRC(scf, pco_static_route_conf_t, st.index),
                               "index must be a file name (no '/', no leading '.')");
            rc = PCO_ERROR;
        }
        if (pco_http_route_set_action(cf, routes[i], "static", pco_static_handler, src)
            != PCO_OK)
        {
            rc = PCO_ERROR;
        }
    }
    if (!any) {
        return rc;
    }
    sc = pco_pcalloc(cycle->pool, sizeof(pco_static_ctx_t));
    if (sc == NULL || pco_static_load_mime(cf, sc, first) != PCO_OK) {
        return PCO_ERROR;
    }
    cycle->module_ctx[pco_static_module.index] = sc;
    return rc;
}

static int
pco_static_init_worker(pco_cycle_t *cycle)
{
    pco_http_route_t  **routes;
    size_t              n, i;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_static_route_conf_t  *scf = pco_conf_get(routes[i]->node, &pco_static_module);

        if (scf == NULL || scf->root_path == NULL || routes[i]->content != pco_static_handler) {
            continue;
        }
        scf->root_fd = open(scf->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    return PCO_OK;
}

static void
pco_static_exit_worker(pco_cycle_t *cycle)
{
    pco_http_route_t  **routes;
    size_t              n, i;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_static_route_conf_t  *scf = pco_conf_get(routes[i]->node, &pco_static_module);

        if (scf != NULL && scf->root_path != NULL && scf->root_fd >= 0
            && routes[i]->content == pco_static_handler)
        {
            close(scf->root_fd);
            scf->root_fd = -1;
        }
    }
}

/*
 * Opens path (relative, NUL-terminated, no "..", no empty components) beneath dirfd with
 * flags; symbolic links may not leave dirfd. -1 with errno on failure.
 */
static int
pco_static_open_beneath(int dirfd, const char *path, int flags)
{
#if defined(PCO_STATIC_HAVE_OPENAT2) && defined(SYS_openat2) && !defined(PCO_STATIC_NO_OPENAT2)
    struct open_how  how;
    long             fd;

    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t) flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS) {
        return (int) fd;
    }
#endif
    {
        /* no openat2: walk component by component, refusing every symbolic link */
        char        comp[256];
        const char *p = path, *slash;
        int         cur = dirfd, next;

        for (;;) {
            size_t len;

            slash = strchr(p, '/');
            len = slash ? (size_t) (slash - p) : strlen(p);
            if (len >= sizeof(comp)) {
                errno = ENAMETOOLONG;
                next = -1;
            } else {
                memcpy(comp, p, len);
                comp[len] = '\0';
                next = openat(cur, comp, slash ? (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                                               : (flags | O_NOFOLLOW));
            }
            if (cur != dirfd) {
                int err = errno;

                close(cur);
                errno = err;
            }
            if (next < 0 || slash == NULL) {
                return next;
            }
            cur = next;
            p = slash + 1;
        }
    }
}

static void
pco_static_close_fd(void *data)
{
    int *fd = data;

    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Decodes r->uri into a relative, NUL-terminated path; 0 or an HTTP status. */
static int
pco_static_map_path(pco_http_request_t *r, char **out)
{
    u_char  *buf, *p, *end, *comp;
    size_t   len;
    int      rc;

    buf = pco_pnalloc(r->pool, r->uri.len + 2);
    if (buf == NULL) {
        return 500;
    }
    rc = pco_http_decode_path(r->uri.data, r->uri.len, buf, &len);
    if (rc != 0) {
        return rc;
    }
    if (memchr(buf, '\0', len) != NULL) {
        return 400;
    }
    buf[len] = '\0';
    p = buf;
    end = buf + len;
    while (p < end && *p == '/') {
        p++;
    }
    /* every component: no "..", no dot-files (".", ".git", ".htpasswd"), no empty ones */
    for (comp = p; comp < end; /* void */) {
        u_char *slash = memchr(comp, '/', (size_t) (end - comp));
        u_char *stop = slash ? slash : end;

        if (stop == comp) {
            if (slash != NULL && slash + 1 == end) {
                break;   /* the trailing '/' */
            }
            return 404;
        }
        if (comp[0] == '.') {
            return 404;
        }
        comp = slash ? slash + 1 : end;
    }
    /* drop the trailing '/' (the directory check uses r->uri) */
    while (end > p && end[-1] == '/') {
        *--end = '\0';
    }
    *out = (p == end) ? (char *) "." : (char *) p;
    return 0;
}

static int
pco_static_errno_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    default:
        return 500;
    }
}

/* 301 to uri + "/" with the query kept. */
static int
pco_static_redirect_dir(pco_http_request_t *r)
{
    static const pco_str_t  type = pco_string("text/plain; charset=utf-8");
    static const pco_str_t  body = pco_string("Moved Permanently\n");
    size_t                  len = r->uri.len + 1 + (r->args.len ? r->args.len + 1 : 0);
    u_char                 *loc = pco_pnalloc(r->pool, len), *p;

    if (loc == NULL) {
        return 500;
    }
    p = loc;
    memcpy(p, r->uri.data, r->uri.len);
    p += r->uri.len;
    *p++ = '/';
    if (r->args.len) {
        *p++ = '?';
        memcpy(p, r->args.data, r->args.len);
    }
    r->out.location.data = loc;
    r->out.location.len = len;
    return pco_http_send_response(r, 301, &type, &body) == PCO_ERROR ? PCO_ERROR : PCO_OK;
}

/* Opens the file for r; *fdp (pool-owned, closed by cleanup), *st, *name for the type. */
static int
pco_static_open(pco_http_request_t *r, pco_static_route_conf_t *scf, int *fdp,
                struct stat *st, const char **name, const char **dir)
{
    char  *rel = NULL;
    int    rc, root = scf->root_fd, fd;

    rc = pco_static_map_path(r, &rel);
    if (rc != 0) {
        return rc;
    }
    if (root < 0) {
        root = open(scf->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
            return 500;
        }
    }
    fd = pco_static_open_beneath(root, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = pco_static_errno_status(errno);
        goto done;
    }
    *fdp = fd;
    if (fstat(fd, st) != 0) {
        rc = 500;
        goto done;
    }
    *name = rel;
    *dir = NULL;
    if (S_ISDIR(st->st_mode)) {
        if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] != '/') {
            rc = 301;
            goto done;
        }
        if (scf->st.index.len == 0) {
            rc = 403;
            goto done;
        }
        fd = pco_static_open_beneath(*fdp, (const char *) scf->st.index.data,
                                     O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            /* nginx: no index and no autoindex -> 403 */
            rc = (errno == ENOENT) ? 403 : pco_static_errno_status(errno);
            goto done;
        }
        close(*fdp);
        *fdp = fd;
        if (fstat(fd, st) != 0) {
            rc = 500;
            goto done;
        }
        *name = (const char *) scf->st.index.data;
        *dir = rel;
    }
    if (S_ISREG(st->st_mode) && *name == rel && r->uri.len > 1
        && r->uri.data[r->uri.len - 1] == '/')
    {
        /* "/a.txt/": a file used as a directory */
        rc = 404;
        goto done;
    }
    rc = S_ISREG(st->st_mode) ? 0 : (S_ISDIR(st->st_mode) ? 403 : 404);

done:
    if (root != scf->root_fd) {
        close(root);
    }
    return rc;
}

static int
pco_static_send(pco_http_request_t *r, int fd, const struct stat *st, const pco_str_t *type,
                bool gz)
{
    static const pco_str_t  ce_name = pco_string("Content-Encoding");
    static const pco_str_t  ce_gzip = pco_string("gzip");
    static const pco_str_t  accept_ranges = pco_string("Accept-Ranges");
    static const pco_str_t  bytes = pco_string("bytes");
    static const pco_str_t  content_range = pco_string("Content-Range");
    pco_http_header_t      *h;
    off_t                   start = 0, end = st->st_size - 1;
    int                     status = 200, rc;
    pco_buf_t              *b;
    pco_chain_t            *cl;

    r->out.last_modified = st->st_mtime;
    h = pco_http_head_find(&r->head, "If-Modified-Since", 17);
    if (h != NULL) {
        time_t ims = pco_parse_http_time(h->value.data, h->value.len);

        if (ims != -1 && ims >= st->st_mtime) {
            pco_str_t empty = pco_null_string;

            rc = pco_http_send_response(r, 304, NULL, &empty);
            return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
        }
    }
    if (pco_http_set_header(r, &accept_ranges, &bytes, true) != PCO_OK) {
        return 500;
    }
    h = pco_http_head_find(&r->head, "Range", 5);
    if (h != NULL) {
        u_char     *v = pco_pnalloc(r->pool, 64);
        pco_str_t   cr;

        if (v == NULL) {
            return 500;
        }
        status = pco_static_parse_range(h->value.data, h->value.len, st->st_size, &start, &end);
        if (status == 416) {
            static const pco_str_t tp = pco_string("text/plain; charset=utf-8");
            static const pco_str_t body = pco_string("Range Not Satisfiable\n");

            cr.data = v;
            cr.len = (size_t) snprintf((char *) v, 64, "bytes */%" PRId64,
                                       (int64_t) st->st_size);
            if (pco_http_set_header(r, &content_range, &cr, true) != PCO_OK) {
                return 500;
            }
            r->out.last_modified = -1;
            rc = pco_http_send_response(r, 416, &tp, &body);
            return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
        }
        if (status == 206) {
            cr.data = v;
            cr.len = (size_t) snprintf((char *) v, 64, "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
                                       (int64_t) start, (int64_t) end, (int64_t) st->st_size);
            if (pco_http_set_header(r, &content_range, &cr, true) != PCO_OK) {
                return 500;
            }
        } else {
            status = 200;
            start = 0;
            end = st->st_size - 1;
        }
    }
    if (gz && pco_http_set_header(r, &ce_name, &ce_gzip, true) != PCO_OK) {
        return 500;
    }
    r->status = status;
    r->out.content_type = *type;
    r->out.content_length = (int64_t) (end - start + 1);
    if (pco_http_send_header(r) != PCO_OK) {
        return PCO_ERROR;
    }
    b = pco_buf_calloc(r->pool);
    if (b == NULL) {
        return PCO_ERROR;
    }
    if (!r->header_only && r->head.method != PCO_HTTP_HEAD && end >= start) {
        b->fd = fd;
        b->file_pos = start;
        b->file_last = end + 1;
        b->in_file = 1;
    }
    b->last_buf = 1;
    cl = pco_chain_link(r->pool, b);
    if (cl == NULL) {
        return PCO_ERROR;
    }
    rc = pco_http_output(r, cl);
    return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
}

/*
 * gzip_static: when the client accepts gzip and NAME.gz (in dir, relative to the root) is a
 * regular file, *fdp and *st become the .gz's (the original descriptor is closed) and true
 * is returned. Any failure to find it leaves the original in place.
 */
static bool
pco_static_gzip(pco_http_request_t *r, pco_static_route_conf_t *scf, const char *name,
                const char *dir, int *fdp, struct stat *st)
{
#if PCO_HAVE_GZIP
    pco_http_header_t  *ae = pco_http_head_find(&r->head, "Accept-Encoding", 15);
    struct stat         gst;
    pco_str_t           path;
    int                 root = scf->root_fd, fd;

    if (ae == NULL || !pco_gzip_accepts(ae->value.data, ae->value.len)) {
        return false;
    }
    path = (dir != NULL && strcmp(dir, ".") != 0)
           ? pco_psprintf(r->pool, "%s/%s.gz", dir, name)
           : pco_psprintf(r->pool, "%s.gz", name);
    if (path.data == NULL) {
        return false;
    }
    if (root < 0) {
        root = open(scf->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
            return false;
        }
    }
    fd = pco_static_open_beneath(root, (const char *) path.data,
                                 O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (root != scf->root_fd) {
        close(root);
    }
    if (fd < 0) {
        return false;
    }
    if (fstat(fd, &gst) != 0 || !S_ISREG(gst.st_mode)) {
        close(fd);
        return false;
    }
    close(*fdp);
    *fdp = fd;
    *st = gst;
    return true;
#else
    (void) r; (void) scf; (void) name; (void) dir; (void) fdp; (void) st;
    return false;
#endif
}

static int
pco_static_handler(pco_http_request_t *r)
{
    static const pco_str_t    allow = pco_string("Allow");
    static const pco_str_t    allow_v = pco_string("GET, HEAD");
    static const pco_str_t    octet = pco_string("application/octet-stream");
    pco_static_route_conf_t  *scf = pco_http_route_conf(r, &pco_static_module);
    pco_static_ctx_t         *sc = pco_cycle->module_ctx[pco_static_module.index];
    const pco_str_t          *type = NULL;
    static const pco_str_t    vary = pco_string("Vary");
    static const pco_str_t    vary_ae = pco_string("Accept-Encoding");
    const char               *name = NULL, *dir = NULL;
    struct stat               st;
    int                      *fdp, rc;
    bool                      gz = false;

    rc = pco_http_discard_body(r);
    if (rc != PCO_OK) {
        return rc;
    }
    if (!(r->head.method & (PCO_HTTP_GET | PCO_HTTP_HEAD))) {
        static const pco_str_t tp = pco_string("text/plain; charset=utf-8");
        static const pco_str_t body = pco_string("Method Not Allowed\n");

        if (pco_http_set_header(r, &allow, &allow_v, true) != PCO_OK) {
            return 500;
        }
        rc = pco_http_send_response(r, 405, &tp, &body);
        return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
    }
    fdp = pco_palloc(r->pool, sizeof(int));
    if (fdp == NULL) {
        return 500;
    }
    *fdp = -1;
    if (pco_pool_cleanup_add(r->pool, pco_static_close_fd, fdp) != PCO_OK) {
        return 500;
    }
    rc = pco_static_open(r, scf, fdp, &st, &name, &dir);
    if (rc == 301) {
        return pco_static_redirect_dir(r);
    }
    if (rc != 0) {
        return rc;
    }
    if (sc != NULL && name != NULL) {
        type = pco_static_mime_lookup(&sc->mime, (const u_char *) name, strlen(name));
    }
    if (scf->st.gzip_static && name != NULL) {
        if (pco_http_set_header(r, &vary, &vary_ae, true) != PCO_OK) {
            return 500;
        }
        gz = pco_static_gzip(r, scf, name, dir, fdp, &st);
    }
    return pco_static_send(r, *fdp, &st, type ? type : &octet, gz);
}
