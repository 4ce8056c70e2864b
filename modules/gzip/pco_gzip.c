/*
 * pco_gzip.c: on-the-fly gzip compression of response bodies (routes with `gzip = true;`,
 * tuned by `http.gzip = { types; level; min_length; }`).
 *
 * The header filter (transform band, so it sees the headers every edit band added) decides
 * per response, as nginx does: status 200, 403 or 404; not HEAD (which gets the identity
 * headers, Vary included, as nginx's); no Content-Encoding yet;
 * Content-Type in `types`; Content-Length unknown or at least `min_length`; the route's action
 * is not `static` (file bodies go out by sendfile and are not compressed: precompressed
 * FILE.gz is what `gzip_static` serves); and the client's Accept-Encoding allows gzip. When
 * all but the last hold, Vary: Accept-Encoding is added anyway, so that a cache keeps the
 * two variants apart. When compressing it sets Content-Encoding: gzip, drops Content-Length
 * (chunked framing, or close-delimited for HTTP/1.0) and Accept-Ranges, and weakens a strong
 * ETag (W/"..."): the bytes differ from the identity representation's.
 *
 * The body filter feeds every memory buffer to deflate and replaces the chain's buffers, in
 * place, with its own output buffers: the caller's buffers are consumed (pos = last) when it
 * returns, so a producer may refill them as usual; output buffers the writer still holds are
 * not reused until written. Output is handed on when a buffer fills, when the input buffer
 * asks for a flush (the proxy does after every upstream read, so streamed responses keep
 * flowing) and at the last buffer.
 *
 * Memory per compressed response: the deflate state (windowBits 15, memLevel 8 as nginx:
 * about 262 KiB, less for a known small Content-Length: both shrink, as nginx does, until the
 * window is just above the body) and the 8 KiB output buffers in use at once (normally one
 * or two), all from malloc (the request pool's cap is far below the deflate state), freed by
 * a request-pool cleanup whichever way the request ends.
 */
#include "pco_http.h"
#include "pco_string.h"
#include "pco_gzip.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define PCO_GZIP_OBUF_SIZE  8192
#define PCO_GZIP_FILE_CHUNK 65536

typedef struct {
    pco_str_list_t  types;
    int64_t         level;
    int64_t         min_length;
} pco_gzip_spec_t;

typedef struct {
    pco_gzip_spec_t  spec;        /* http.gzip */
    bool             on;          /* route: gzip = true */
} pco_gzip_conf_t;

typedef struct pco_gzip_obuf_s  pco_gzip_obuf_t;

struct pco_gzip_obuf_s {
    pco_buf_t         buf;
    pco_chain_t       link;
    pco_gzip_obuf_t  *next;       /* every buffer of the request */
    u_char            data[PCO_GZIP_OBUF_SIZE];
};

typedef struct {
    z_stream          zs;
    bool              zs_ready;
    bool              done;       /* Z_STREAM_END written */
    pco_gzip_obuf_t  *all;
    pco_gzip_obuf_t  *cur;        /* the one deflate writes into, or NULL */
    pco_buf_t         empty;      /* stands in the chain when deflate kept everything */
} pco_gzip_ctx_t;

static int pco_gzip_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_gzip_header_filter(pco_http_request_t *r);
static int pco_gzip_body_filter(pco_http_request_t *r, pco_chain_t *in);

static const pco_setting_t pco_gzip_members[] = {
    { .name = "types", .type = PCO_CONF_STRLIST, .offset = offsetof(pco_gzip_spec_t, types),
      .def = "[\"text/html\", \"text/css\", \"text/plain\", \"application/json\", "
             "\"application/javascript\"]",
      .flags = PCO_CONF_NOCTL,
      .help = "Content-Types compressed (the media type, parameters ignored; \"*\" = any)" },
    { .name = "level", .type = PCO_CONF_INT, .offset = offsetof(pco_gzip_spec_t, level),
      .def = "1", .min = 1, .max = 9,
      .help = "deflate level, 1 (fastest, nginx's default) to 9 (smallest)" },
    { .name = "min_length", .type = PCO_CONF_SIZE,
      .offset = offsetof(pco_gzip_spec_t, min_length), .def = "20", .min = 0,
      .max = (int64_t) 1 << 40,
      .help = "bodies with a Content-Length below this are sent as they are "
              "(unknown lengths are compressed)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_gzip_settings[] = {
    { .name = "gzip", .scopes = PCO_SCOPE_HTTP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_gzip_conf_t, spec), .sub = pco_gzip_members,
      .help = "compression of the routes with gzip = true: { types; level; min_length; }" },
    { .name = "gzip", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_gzip_conf_t, on), .def = "false",
      .help = "compress this route's responses with gzip when the client accepts it "
              "(files of static routes excepted: see gzip_static)" },
    PCO_SETTINGS_END
};

/*
 * Hooks:
 *   conf_done   master, every load and -t: checks the types (non-empty, "type/subtype" or
 *               "*"), keeps the http scope's settings in cycle->module_ctx, registers the
 *               header and body filters in the transform band. PCO_OK or PCO_ERROR after
 *               reporting at the offending line.
 * The filters run in workers: the header filter returns PCO_OK (or PCO_ERROR when memory or
 * zlib fail), the body filter PCO_OK (chain rewritten) or PCO_ERROR.
 */
pco_module_t pco_gzip_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "gzip",
    .settings = pco_gzip_settings,
    .conf_size = sizeof(pco_gzip_conf_t),
    .conf_done = pco_gzip_conf_done,
};

/* Whether any route has gzip = true. */
static bool
pco_gzip_used(pco_cycle_t *cycle)
{
    pco_http_route_t  **routes;
    size_t              n, i;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_gzip_conf_t *gc = pco_conf_get(routes[i]->node, &pco_gzip_module);

        if (gc != NULL && gc->on) {
            return true;
        }
    }
    return false;
}

static int
pco_gzip_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_gzip_conf_t  *gc = pco_http_main_conf(cycle, &pco_gzip_module);
    size_t            i;
    int               rc = PCO_OK;

    if (gc == NULL) {
        return PCO_OK;
    }
    for (i = 0; i < gc->spec.types.n; i++) {
        const pco_str_t  *t = &gc->spec.types.elts[i];
        const u_char     *slash = t->len ? memchr(t->data, '/', t->len) : NULL;
        size_t            k;
        bool              ok = t->len == 1 && t->data[0] == '*';

        if (!ok && slash != NULL && slash > t->data && slash < t->data + t->len - 1) {
            ok = true;
            for (k = 0; k < t->len; k++) {
                ok = ok && (t->data + k == slash || pco_is_tchar(t->data[k]));
            }
        }
        if (!ok) {
            pco_conf_error_src(cf, PCO_CONF_SRC(gc, pco_gzip_conf_t, spec.types),
                               "\"%.*s\" is not a media type "
                               "(\"type/subtype\", or \"*\" for any)",
                               (int) t->len, (char *) t->data);
            rc = PCO_ERROR;
        }
    }
    if (rc != PCO_OK) {
        return rc;
    }
    cycle->module_ctx[pco_gzip_module.index] = &gc->spec;
    if (!pco_gzip_used(cycle)) {
        return PCO_OK;          /* no route compresses: no filter on any response's path */
    }
    if (pco_http_add_header_filter(cf, cycle, PCO_HTTP_FILTER_TRANSFORM, &pco_gzip_module,
                                   pco_gzip_header_filter) != PCO_OK)
    {
        return PCO_ERROR;
    }
    return pco_http_add_body_filter(cf, cycle, PCO_HTTP_FILTER_TRANSFORM, &pco_gzip_module,
                                    pco_gzip_body_filter);
}

/* ---- the header filter ---- */

static pco_http_kv_t *
pco_gzip_out_header(pco_http_request_t *r, const char *name)
{
    unsigned  i;

    for (i = 0; i < r->out.nheaders; i++) {
        if (pco_str_caseeq_lit(&r->out.headers[i].name, name)) {
            return &r->out.headers[i];
        }
    }
    return NULL;
}

/* Everything but the method and the client's Accept-Encoding allows compressing this
 * response: its GET variant depends on Accept-Encoding. */
static bool
pco_gzip_eligible(pco_http_request_t *r, const pco_gzip_spec_t *spec)
{
    pco_http_kv_t  *ce;

    if (r->status != 200 && r->status != 403 && r->status != 404) {
        return false;          /* as nginx: not 206 (ranges of the identity body), 204, 304 */
    }
    if (r->route->action != NULL && strcmp(r->route->action, "static") == 0) {
        return false;
    }
    ce = pco_gzip_out_header(r, "Content-Encoding");
    if (ce != NULL && ce->value.len > 0) {
        return false;
    }
    if (r->out.content_length >= 0 && r->out.content_length < spec->min_length) {
        return false;
    }
    return pco_gzip_type_match(spec->types.elts, spec->types.n, &r->out.content_type);
}

static int
pco_gzip_add_vary(pco_http_request_t *r)
{
    static const pco_str_t  name = pco_string("Vary");
    static const pco_str_t  ae = pco_string("Accept-Encoding");
    pco_http_kv_t          *v = pco_gzip_out_header(r, "Vary");
    pco_str_t               merged;

    if (v == NULL) {
        return pco_http_set_header(r, &name, &ae, false);
    }
    if (pco_gzip_vary_covers(v->value.data, v->value.len)) {
        return PCO_OK;
    }
    merged = pco_psprintf(r->pool, "%.*s, Accept-Encoding", (int) v->value.len,
                          (char *) v->value.data);
    if (merged.data == NULL) {
        return PCO_ERROR;
    }
    v->value = merged;
    return PCO_OK;
}

/* A strong ETag "x" becomes W/"x": the compressed bytes are another representation. */
static int
pco_gzip_weaken_etag(pco_http_request_t *r)
{
    pco_http_kv_t  *e = pco_gzip_out_header(r, "ETag");
    u_char         *p;

    if (e == NULL || e->value.len == 0 || e->value.data[0] != '"') {
        return PCO_OK;
    }
    p = pco_pnalloc(r->pool, e->value.len + 2);
    if (p == NULL) {
        return PCO_ERROR;
    }
    p[0] = 'W';
    p[1] = '/';
    memcpy(p + 2, e->value.data, e->value.len);
    e->value.data = p;
    e->value.len += 2;
    return PCO_OK;
}

static void
pco_gzip_cleanup(void *data)
{
    pco_gzip_ctx_t   *ctx = data;
    pco_gzip_obuf_t  *o, *next;

    if (ctx->zs_ready) {
        deflateEnd(&ctx->zs);
        ctx->zs_ready = false;
    }
    for (o = ctx->all; o != NULL; o = next) {
        next = o->next;
        free(o);
    }
    ctx->all = ctx->cur = NULL;
}

static int
pco_gzip_start(pco_http_request_t *r, const pco_gzip_spec_t *spec)
{
    pco_gzip_ctx_t  *ctx = pco_pcalloc(r->pool, sizeof(*ctx));
    int              wbits = 15, memlevel = 8;

    if (ctx == NULL || pco_pool_cleanup_add(r->pool, pco_gzip_cleanup, ctx) != PCO_OK) {
        return PCO_ERROR;
    }
    /* a small known body needs no 32 KiB window (nginx shrinks the same way) */
    if (r->out.content_length > 0) {
        while (wbits > 9 && r->out.content_length < ((int64_t) 1 << (wbits - 1))) {
            wbits--;
            memlevel = memlevel > 1 ? memlevel - 1 : 1;
        }
    }
    /* windowBits + 16: a gzip header and trailer around the deflate data */
    if (deflateInit2(&ctx->zs, (int) spec->level, Z_DEFLATED, wbits + 16, memlevel,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        pco_log_err(PCO_LOG_ERR, r->connection->log, 0, "gzip: deflateInit2() failed");
        return PCO_ERROR;
    }
    ctx->zs_ready = true;
    pco_http_set_ctx(r, ctx, &pco_gzip_module);
    return PCO_OK;
}

static int
pco_gzip_header_filter(pco_http_request_t *r)
{
    static const pco_str_t   ce_name = pco_string("Content-Encoding");
    static const pco_str_t   ce_gzip = pco_string("gzip");
    static const pco_str_t   ar_name = pco_string("Accept-Ranges");
    static const pco_str_t   cl_name = pco_string("Content-Length");
    static const pco_str_t   none = { 0, NULL };
    const pco_gzip_spec_t   *spec = pco_cycle->module_ctx[pco_gzip_module.index];
    pco_gzip_conf_t         *gc;
    pco_http_header_t       *ae;
    int                      rc;

    if (r->route == NULL || spec == NULL) {
        return PCO_OK;
    }
    gc = pco_http_route_conf(r, &pco_gzip_module);
    if (gc == NULL || !gc->on || !pco_gzip_eligible(r, spec)) {
        return PCO_OK;
    }
    rc = pco_gzip_add_vary(r);
    if (rc != PCO_OK) {
        return rc;
    }
    if (r->head.method == PCO_HTTP_HEAD) {
        return PCO_OK;         /* as nginx: a HEAD answer describes the identity body */
    }
    ae = pco_http_head_find(&r->head, "Accept-Encoding", 15);
    if (ae == NULL || !pco_gzip_accepts(ae->value.data, ae->value.len)) {
        return PCO_OK;
    }
    if (pco_gzip_start(r, spec) != PCO_OK) {
        return PCO_ERROR;
    }
    r->out.content_length = -1;
    if (pco_http_set_header(r, &ce_name, &ce_gzip, true) != PCO_OK
        || pco_http_set_header(r, &ar_name, &none, true) != PCO_OK
        || pco_http_set_header(r, &cl_name, &none, true) != PCO_OK
        || pco_gzip_weaken_etag(r) != PCO_OK)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* ---- the body filter ---- */

/* An output buffer the writer no longer holds (or a new one). */
static pco_gzip_obuf_t *
pco_gzip_obuf(pco_gzip_ctx_t *ctx)
{
    pco_gzip_obuf_t  *o;

    for (o = ctx->all; o != NULL; o = o->next) {
        if (o->buf.pos == o->buf.last && o != ctx->cur) {
            break;
        }
    }
    if (o == NULL) {
        o = malloc(sizeof(*o));
        if (o == NULL) {
            return NULL;
        }
        o->next = ctx->all;
        ctx->all = o;
    }
    memset(&o->buf, 0, sizeof(o->buf));
    o->buf.start = o->buf.pos = o->buf.last = o->data;
    o->buf.end = o->data + PCO_GZIP_OBUF_SIZE;
    o->buf.temporary = 1;
    o->buf.fd = -1;
    o->link.buf = &o->buf;
    o->link.next = NULL;
    return o;
}

/*
 * Runs deflate over [data, data + len) with `flush`, appending every buffer it fills (and
 * the partial one too when flush is not Z_NO_FLUSH) to *tail. PCO_OK or PCO_ERROR.
 */
static int
pco_gzip_deflate(pco_http_request_t *r, pco_gzip_ctx_t *ctx, u_char *data, size_t len,
                 int flush, pco_chain_t ***tail)
{
    int  zrc;

    ctx->zs.next_in = data;
    ctx->zs.avail_in = (uInt) len;
    for ( ;; ) {
        if (ctx->cur == NULL) {
            ctx->cur = pco_gzip_obuf(ctx);
            if (ctx->cur == NULL) {
                pco_log_err(PCO_LOG_ERR, r->connection->log, 0, "gzip: out of memory");
                return PCO_ERROR;
            }
        }
        ctx->zs.next_out = ctx->cur->buf.last;
        ctx->zs.avail_out = (uInt) (ctx->cur->buf.end - ctx->cur->buf.last);
        zrc = deflate(&ctx->zs, flush);
        if (zrc == Z_STREAM_ERROR) {
            pco_log_err(PCO_LOG_ERR, r->connection->log, 0, "gzip: deflate() failed");
            return PCO_ERROR;
        }
        ctx->cur->buf.last = ctx->zs.next_out;
        if (ctx->zs.avail_out == 0
            || (flush != Z_NO_FLUSH && ctx->zs.avail_in == 0
                && ctx->cur->buf.last > ctx->cur->buf.pos
                && (flush != Z_FINISH || zrc == Z_STREAM_END)))
        {
            **tail = &ctx->cur->link;
            *tail = &ctx->cur->link.next;
            ctx->cur = NULL;
        }
        if (zrc == Z_STREAM_END) {
            ctx->done = true;
            return PCO_OK;
        }
        if (ctx->zs.avail_in == 0 && ctx->zs.avail_out != 0 && flush != Z_FINISH) {
            return PCO_OK;      /* all taken, and deflate had room: nothing more to write */
        }
    }
}

/* Compresses the file range of b (a cached response's entry): read in pieces, as a
 * disk read is, and consumed (file_pos = file_last) like a memory buffer. */
static int
pco_gzip_file(pco_http_request_t *r, pco_gzip_ctx_t *ctx, pco_buf_t *b, pco_chain_t ***tail)
{
    u_char   *chunk;
    ssize_t   n;
    size_t    want;
    int       rc = PCO_OK;

    chunk = malloc(PCO_GZIP_FILE_CHUNK);
    if (chunk == NULL) {
        return PCO_ERROR;
    }
    while (b->file_pos < b->file_last) {
        want = (size_t) pco_min((off_t) PCO_GZIP_FILE_CHUNK, b->file_last - b->file_pos);
        n = pread(b->fd, chunk, want, b->file_pos);
        if (n <= 0) {
            pco_log_err(PCO_LOG_ERR, r->connection->log, n < 0 ? errno : 0,
                        "gzip: reading a cached body failed");
            rc = PCO_ERROR;
            break;
        }
        if (pco_gzip_deflate(r, ctx, chunk, (size_t) n, Z_NO_FLUSH, tail) != PCO_OK) {
            rc = PCO_ERROR;
            break;
        }
        b->file_pos += n;
    }
    free(chunk);
    return rc;
}

static int
pco_gzip_body_filter(pco_http_request_t *r, pco_chain_t *in)
{
    pco_gzip_ctx_t   *ctx = pco_http_get_ctx(r, &pco_gzip_module);
    pco_chain_t      *cl, *out = NULL, **tail = &out, *l;
    bool              last = false, flush = false;
    size_t            len;

    if (ctx == NULL || in == NULL) {
        return PCO_OK;
    }
    if (ctx->done) {
        for (cl = in; cl != NULL; cl = cl->next) {   /* nothing may follow the trailer */
            cl->buf->pos = cl->buf->last;
        }
        return PCO_OK;
    }
    for (cl = in; cl != NULL; cl = cl->next) {
        pco_buf_t *b = cl->buf;

        last = last || b->last_buf;
        flush = flush || b->flush;
        if (b->in_file) {
            /* a cached response, sent from its entry file */
            if (pco_gzip_file(r, ctx, b, &tail) != PCO_OK) {
                return PCO_ERROR;
            }
            continue;
        }
        while (b->pos < b->last) {
            len = pco_min((size_t) (b->last - b->pos), (size_t) 1 << 30);
            if (pco_gzip_deflate(r, ctx, b->pos, len, Z_NO_FLUSH, &tail) != PCO_OK) {
                return PCO_ERROR;
            }
            b->pos += len;
        }
    }
    if (last || flush) {
        if (pco_gzip_deflate(r, ctx, NULL, 0, last ? Z_FINISH : Z_SYNC_FLUSH, &tail)
            != PCO_OK)
        {
            return PCO_ERROR;
        }
    }
    *tail = NULL;
    /* rewrite the caller's chain in place: its first link carries our first buffer */
    if (out == NULL) {
        memset(&ctx->empty, 0, sizeof(ctx->empty));
        ctx->empty.last_buf = last;     /* only with a deflate error: never in practice */
        in->buf = &ctx->empty;
        in->next = NULL;
        return PCO_OK;
    }
    for (l = out; l->next != NULL; l = l->next) { /* the last of ours */ }
    l->buf->last_buf = last;
    in->buf = out->buf;
    in->next = out->next;
    return PCO_OK;
}
