/*
 * pco_cache_store.c: the cache's header and body filters, for requests the lookup sent
 * upstream (pco_cache_lookup.c). They run before the header edits and gzip, so they see
 * the upstream's own response.
 *
 * The header filter decides, in this order:
 *   - the upstream failed (a generated 502/503/504) or answered 500/502/503/504, and a
 *     stale entry may stand in (use_stale, or the entry's stale-if-error): the entry is
 *     served instead (STALE);
 *   - our revalidation came back 304: the entry is renewed (pco_cache_refresh.c) and
 *     served (REVALIDATED);
 *   - otherwise the response goes on, and is stored when RFC 9111 and the route allow it:
 *     its head is written to a temporary file in DIR/tmp at once, the body filter appends
 *     every body byte as it passes, and the last byte renames the file into place and
 *     enters it in the index. A response cut short or a failed write leaves nothing behind
 *     (the temporary file is removed with the request); a client that goes away does not
 *     stop the store (r->keep_producing: the proxy reads the body to its end).
 * Replacing a response swaps its body too: the body filter empties what the upstream (or
 * the error page) produced and sends the entry's file range instead. A response fetched
 * behind a stale answer (r->background) is stored or renews the entry the same way, and
 * none of it reaches the client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "pco_cache.h"
#include "pco_log.h"
#include "pco_string.h"

/* ---- what the response says ---- */

void
pco_cache_resp_from_out(pco_http_request_t *r, pco_cache_resp_t *resp)
{
    unsigned  i;

    pco_cache_resp_init(resp);
    for (i = 0; i < r->out.nheaders; i++) {
        pco_cache_resp_header(resp, &r->out.headers[i].name, &r->out.headers[i].value);
    }
}

/* Parses stored "Name: value\r\n" lines into resp. */
void
pco_cache_resp_from_lines(const pco_str_t *lines, pco_cache_resp_t *resp)
{
    const u_char  *p = lines->data, *end = p + lines->len;
    pco_str_t      name, value;

    pco_cache_resp_init(resp);
    while (pco_cache_entry_next_header(&p, end, &name, &value)) {
        pco_cache_resp_header(resp, &name, &value);
    }
}

/*
 * When the response was received and its request sent, in the whole seconds entries keep:
 * the request time is the response time less the whole seconds the upstream took (the
 * response delay RFC 9111 adds to the age), measured on the monotonic clock so that a
 * fast response crossing a second adds nothing.
 */
void
pco_cache_times(pco_http_request_t *r, time_t *request_time, time_t *response_time)
{
    *response_time = pco_time_sec;
    *request_time = *response_time - (time_t) ((pco_current_msec - r->start_msec) / 1000);
}

/* The route's `valid` time for status, in seconds; PCO_CACHE_NONE when none. */
int64_t
pco_cache_valid(pco_cache_route_t *rc, unsigned status)
{
    pco_cache_valid_t  *v = rc->valid.elts;
    size_t              i, k;

    for (i = 0; i < rc->valid.n; i++) {
        for (k = 0; k < v[i].status.n; k++) {
            if (v[i].status.elts[k] == (int64_t) status) {
                return (int64_t) (v[i].time / 1000);
            }
        }
    }
    return PCO_CACHE_NONE;
}

static bool
pco_cache_out_header(pco_http_request_t *r, const char *name, pco_str_t *value)
{
    unsigned  i;

    for (i = 0; i < r->out.nheaders; i++) {
        if (r->out.headers[i].value.data != NULL
            && pco_str_caseeq_lit(&r->out.headers[i].name, name))
        {
            *value = r->out.headers[i].value;
            return true;
        }
    }
    return false;
}

/* ---- answering with the entry instead ---- */

/* Replaces the response being sent with the opened entry (outcome STALE or REVALIDATED). */
static int
pco_cache_replace(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_status_e outcome)
{
    ctx->status.outcome = outcome;
    ctx->status.fwd_status = (unsigned) r->status;
    ctx->act = PCO_CACHE_ACT_SERVE;
    ctx->swap_body = true;
    r->error_page = 0;
    r->out.nheaders = 0;
    r->out.content_type.len = 0;
    r->out.location.len = 0;
    r->out.last_modified = -1;
    r->out.status_line.len = 0;
    if (pco_cache_prepare(r, ctx) >= 500) {
        return PCO_ERROR;
    }
    if (r->status == 416) {
        /* a range the entry cannot satisfy: the whole entry rather than a second answer */
        r->status = (int) ctx->entry.status;
        r->out.content_length = (int64_t) ctx->entry.body_len;
        ctx->body_start = (off_t) ctx->entry.header_len;
        ctx->body_end = ctx->body_start + (off_t) ctx->entry.body_len;
    }
    if (r->status == 304) {
        r->out.content_type.len = 0;
    }
    return PCO_OK;
}

/* Whether this response is an upstream failure a stale entry may stand in for. */
static bool
pco_cache_stale_for_error(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_fresh_t  f;
    unsigned           bit = 0;

    if (!ctx->stale_ok_error || ctx->serve_fd < 0) {
        return false;
    }
    if (r->error_page) {
        bit = r->status == 504 ? PCO_CACHE_STALE_ON_TIMEOUT
              : (r->status == 502 || r->status == 503) ? PCO_CACHE_STALE_ON_ERROR : 0;
    } else {
        bit = r->status == 500 ? PCO_CACHE_STALE_ON_500
              : r->status == 502 ? PCO_CACHE_STALE_ON_502
              : r->status == 503 ? PCO_CACHE_STALE_ON_503
              : r->status == 504 ? PCO_CACHE_STALE_ON_504 : 0;
    }
    if (bit == 0) {
        return false;
    }
    pco_cache_meta_get_fresh(&ctx->meta, &f);
    return pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, (ctx->rc->stale & bit) != 0,
                              pco_cache_fresh_now());
}

static int
pco_cache_revalidated(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    if (pco_cache_refresh(r, ctx) != PCO_OK) {
        return PCO_ERROR;
    }
    return pco_cache_replace(r, ctx, PCO_CACHE_STATUS_REVALIDATED);
}

/* ---- storing ---- */

/* The stored header lines: Content-Type first, then what the upstream sent, less what is
 * per answer (Age, the cache's own status headers). */
int
pco_cache_header_lines(pco_http_request_t *r, pco_str_t *out)
{
    size_t     size = r->out.content_type.len + 16, i;
    u_char    *p;
    pco_str_t *n, *v;

    for (i = 0; i < r->out.nheaders; i++) {
        size += r->out.headers[i].name.len + r->out.headers[i].value.len + 4;
    }
    p = pco_pnalloc(r->pool, size);
    if (p == NULL) {
        return PCO_ERROR;
    }
    out->data = p;
    if (r->out.content_type.len > 0) {
        p = (u_char *) memcpy(p, "Content-Type: ", 14) + 14;
        p = (u_char *) memcpy(p, r->out.content_type.data, r->out.content_type.len)
            + r->out.content_type.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    for (i = 0; i < r->out.nheaders; i++) {
        n = &r->out.headers[i].name;
        v = &r->out.headers[i].value;
        if (v->data == NULL || pco_str_caseeq_lit(n, "Age")
            || pco_str_caseeq_lit(n, "X-Cache-Status") || pco_str_caseeq_lit(n, "Cache-Status"))
        {
            continue;
        }
        p = (u_char *) memcpy(p, n->data, n->len) + n->len;
        *p++ = ':';
        *p++ = ' ';
        p = (u_char *) memcpy(p, v->data, v->len) + v->len;
        *p++ = '\r';
        *p++ = '\n';
    }
    out->len = (size_t) (p - out->data);
    return PCO_OK;
}

/* The Vary names of the response (canonical) into *names; false when it cannot be stored
 * by them (Vary: *, a bad name, too many). */
static bool
pco_cache_vary(pco_http_request_t *r, pco_str_t *names)
{
    pco_str_t  vals[16];
    size_t     n = 0, i;
    ssize_t    len;

    for (i = 0; i < r->out.nheaders; i++) {
        if (r->out.headers[i].value.data != NULL
            && pco_str_caseeq_lit(&r->out.headers[i].name, "Vary"))
        {
            if (n == pco_nelems(vals)) {
                return false;
            }
            vals[n++] = r->out.headers[i].value;
        }
    }
    names->data = pco_pnalloc(r->pool, PCO_CACHE_VARY_MAX);
    if (names->data == NULL) {
        return false;
    }
    len = n > 0 ? pco_cache_vary_names(names->data, PCO_CACHE_VARY_MAX, vals, n) : 0;
    if (len < 0) {
        return false;
    }
    names->len = (size_t) len;
    return true;
}

int
pco_cache_entry_key(pco_http_request_t *r, pco_cache_ctx_t *ctx, const pco_str_t *names)
{
    pco_cache_header_t  *hs;
    unsigned             i;

    if (names->len == 0) {
        ctx->key = ctx->main;
        return PCO_OK;
    }
    hs = pco_palloc(r->pool, (r->head.nheaders + 1) * sizeof(pco_cache_header_t));
    if (hs == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < r->head.nheaders; i++) {
        hs[i].name = r->head.headers[i].name;
        hs[i].value = r->head.headers[i].value;
    }
    return pco_cache_key_variant(&ctx->key, &ctx->key_text, names, hs, r->head.nheaders);
}

static void
pco_cache_store_abort(pco_http_request_t *r, pco_cache_ctx_t *ctx, const char *what, int err)
{
    if (what != NULL) {
        pco_log_err(PCO_LOG_ERR, r->connection->log, err, "cache \"%.*s\": %s, the response "
                    "is not stored", (int) ctx->z->name.len, (const char *) ctx->z->name.data,
                    what);
    }
    if (ctx->fd >= 0) {
        close(ctx->fd);
        ctx->fd = -1;
        (void) unlink(ctx->tmp_path);
    }
    ctx->storing = false;
    r->keep_producing = 0;
}

/* Opens the temporary file and writes the entry's head into it. */
static int
pco_cache_store_start(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_entry_t *e)
{
    static unsigned  seq;
    u_char           hex[PCO_CACHE_KEY_HEX];
    u_char          *head;
    size_t           size = pco_cache_entry_header_size(e), tlen = ctx->z->dir.len + 80;
    ssize_t          n;

    head = pco_pnalloc(r->pool, size);
    ctx->tmp_path = pco_pnalloc(r->pool, tlen);
    ctx->path = pco_cache_entry_path(r->pool, ctx->z, &ctx->key);
    if (head == NULL || ctx->tmp_path == NULL || ctx->path == NULL) {
        return PCO_ERROR;
    }
    n = pco_cache_entry_serialize(head, size, e);
    if (n < 0) {
        return PCO_DECLINED;            /* a field the format refuses: not stored */
    }
    pco_cache_key_hex(hex, &ctx->key);
    snprintf(ctx->tmp_path, tlen, "%s/tmp/%.*s.%d.%u", (const char *) ctx->z->dir.data,
             PCO_CACHE_KEY_HEX, (const char *) hex, (int) getpid(), ++seq);
    ctx->fd = open(ctx->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (ctx->fd < 0) {
        pco_cache_store_abort(r, ctx, "cannot create a temporary file", errno);
        return PCO_DECLINED;
    }
    if (pco_cache_entry_write_fd(ctx->fd, head, (size_t) n) != PCO_OK) {
        pco_cache_store_abort(r, ctx, "write failed", errno);
        return PCO_DECLINED;
    }
    ctx->storing = true;
    ctx->written = 0;
    /* a client that goes away does not cut what others will be served */
    r->keep_producing = 1;
    return PCO_OK;
}

/* Whether and how to store the response; starts the store when it is to be. */
static int
pco_cache_store_decide(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_resp_t   resp;
    pco_cache_entry_t  e;
    pco_str_t          names, etag = pco_null_string;
    int64_t            lifetime;
    time_t             req_t, resp_t;
    pco_cache_store_e  st;
    int                rc;

    if (!ctx->may_store || r->error_page || r->status < 200) {
        return PCO_OK;
    }
    pco_cache_resp_from_out(r, &resp);
    lifetime = pco_cache_lifetime(&resp, pco_time_sec, pco_cache_valid(ctx->rc,
                                                                       (unsigned) r->status));
    st = pco_cache_storable(&r->head.method_name, &ctx->req, (unsigned) r->status, &resp,
                            lifetime, ctx->rc->store_set_cookie);
    if (st != PCO_CACHE_STORE || !pco_cache_vary(r, &names)) {
        return PCO_OK;
    }
    if (pco_cache_entry_key(r, ctx, &names) != PCO_OK) {
        return PCO_ERROR;
    }
    (void) pco_cache_out_header(r, "ETag", &etag);
    memset(&e, 0, sizeof(e));
    e.key = ctx->key;
    e.status = (unsigned) r->status;
    e.date = resp.date;
    e.expires = resp.has_expires ? resp.expires : -1;
    e.last_modified = resp.last_modified;
    pco_cache_times(r, &req_t, &resp_t);
    pco_cache_fresh_init(&e.fresh, &resp, lifetime, req_t, resp_t);
    e.body_len = r->out.content_length >= 0 ? (uint64_t) r->out.content_length : 0;
    e.key_text = ctx->key_text;
    e.etag = etag;
    e.vary = names;
    if (pco_cache_header_lines(r, &e.headers) != PCO_OK) {
        return PCO_ERROR;
    }
    rc = pco_cache_store_start(r, ctx, &e);
    if (rc == PCO_ERROR) {
        return PCO_ERROR;
    }
    if (rc != PCO_OK) {
        return PCO_OK;
    }
    ctx->entry = e;
    memset(&ctx->new_meta, 0, sizeof(ctx->new_meta));
    ctx->new_meta.key = ctx->key;
    ctx->new_meta.main = ctx->main;
    ctx->new_meta.kind = PCO_CACHE_NODE_ENTRY;
    ctx->new_meta.status = e.status;
    pco_cache_meta_set_fresh(&ctx->new_meta, &e.fresh);
    ctx->new_meta.last_access = pco_time_sec;
    ctx->new_meta.text_len = (uint32_t) ctx->key_text.len;
    memcpy(ctx->new_meta.text, ctx->key_text.data,
           pco_min(ctx->key_text.len, (size_t) PCO_CACHE_TEXT_MAX));
    ctx->new_meta.vary_len = (uint32_t) names.len;
    memcpy(ctx->new_meta.vary, names.data, names.len);
    ctx->status.stored = true;
    return PCO_OK;
}

void
pco_cache_unlink_evicted(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_meta_t *m)
{
    char  *path = pco_cache_entry_path(r->pool, ctx->z, &m->key);

    if (path != NULL && m->kind == PCO_CACHE_NODE_ENTRY) {
        (void) unlink(path);
    }
}

/* The last body byte was written: the entry goes into place and into the index. */
static void
pco_cache_store_finish(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_index_t  *idx = pco_cache_zone_index(ctx->z);
    pco_cache_meta_t    marker, evicted;
    bool                had;

    if (r->out.content_length >= 0 && ctx->written != (uint64_t) r->out.content_length) {
        pco_cache_store_abort(r, ctx, NULL, 0);
        return;
    }
    if ((r->out.content_length < 0
         && pco_cache_entry_set_body_len_fd(ctx->fd, ctx->written) != PCO_OK)
        || close(ctx->fd) != 0)
    {
        ctx->fd = -1;
        (void) unlink(ctx->tmp_path);
        pco_cache_store_abort(r, ctx, "write failed", errno);
        return;
    }
    ctx->fd = -1;
    if (pco_cache_entry_commit(ctx->tmp_path, ctx->path, ctx->z->dir.len) != PCO_OK) {
        (void) unlink(ctx->tmp_path);
        pco_cache_store_abort(r, ctx, "rename failed", errno);
        return;
    }
    ctx->storing = false;
    r->keep_producing = 0;
    ctx->new_meta.body_len = ctx->written;
    ctx->new_meta.file_size = ctx->entry.header_len + ctx->written;
    if (ctx->new_meta.vary_len > 0) {
        marker = ctx->new_meta;
        marker.key = ctx->main;
        marker.kind = PCO_CACHE_NODE_MARKER;
        marker.file_size = 0;
        marker.body_len = 0;
        if (pco_cache_index_insert(idx, &marker, &evicted, &had) == PCO_OK && had) {
            pco_cache_unlink_evicted(r, ctx, &evicted);
        }
    }
    if (pco_cache_index_insert(idx, &ctx->new_meta, &evicted, &had) != PCO_OK) {
        (void) unlink(ctx->path);
    } else if (had) {
        pco_cache_unlink_evicted(r, ctx, &evicted);
    }
    if (pco_cache_index_warn_due(idx, (int64_t) pco_current_msec)) {
        pco_log_err(PCO_LOG_WARN, r->connection->log, 0, "cache \"%.*s\": keys_size is full, "
                    "least recently used entries are being removed", (int) ctx->z->name.len,
                    (const char *) ctx->z->name.data);
    }
    pco_cache_lock_release(ctx);
}

/* ---- the filters ---- */

static void
pco_cache_count_fetch(pco_cache_ctx_t *ctx)
{
    pco_cache_zone_t  *z = ctx->z;

    switch (ctx->status.outcome) {
    case PCO_CACHE_STATUS_MISS:
        pco_counter_add(z->c_miss, 1);
        break;
    case PCO_CACHE_STATUS_EXPIRED:
        pco_counter_add(z->c_expired, 1);
        break;
    case PCO_CACHE_STATUS_BYPASS:
        pco_counter_add(z->c_bypass, 1);
        break;
    case PCO_CACHE_STATUS_STALE:
        pco_counter_add(z->c_stale, 1);
        break;
    case PCO_CACHE_STATUS_REVALIDATED:
        pco_counter_add(z->c_revalidated, 1);
        break;
    default:
        break;
    }
}

int
pco_cache_header_filter(pco_http_request_t *r)
{
    pco_cache_ctx_t  *ctx = pco_cache_ctx(r);
    int               rc;

    if (ctx == NULL || ctx->act != PCO_CACHE_ACT_FETCH) {
        return PCO_OK;
    }
    if (pco_cache_stale_for_error(r, ctx)) {
        rc = pco_cache_replace(r, ctx, PCO_CACHE_STATUS_STALE);
        pco_cache_count_fetch(ctx);
        return rc;
    }
    if (ctx->revalidating && r->status == 304 && !r->error_page && ctx->serve_fd >= 0) {
        rc = pco_cache_revalidated(r, ctx);
        pco_cache_count_fetch(ctx);
        return rc;
    }
    ctx->status.fwd_status = r->error_page ? 0 : (unsigned) r->status;
    if (pco_cache_store_decide(r, ctx) != PCO_OK) {
        return PCO_ERROR;
    }
    if (!ctx->storing) {
        /* nothing will be stored: the waiters may go upstream now */
        pco_cache_lock_release(ctx);
    }
    pco_cache_count_fetch(ctx);
    return pco_cache_status_headers(r, ctx);
}

/* Replaces whatever body the upstream or the error page produced by the entry's range. */
static int
pco_cache_swap(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_chain_t *in)
{
    pco_chain_t  *cl, *file;

    for (cl = in; cl != NULL; cl = cl->next) {
        if (!cl->buf->last_buf) {
            cl->buf->pos = cl->buf->last;
            cl->buf->in_file = 0;
            continue;
        }
        file = pco_cache_body_link(r, ctx);
        if (file == NULL) {
            return PCO_ERROR;
        }
        cl->buf = file->buf;
    }
    return PCO_OK;
}

/* Stores (or drops) the body of a response fetched behind a stale answer, and lets none
 * of it reach the client, whose response is complete. */
static void
pco_cache_store_body(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_chain_t *in);

static int
pco_cache_background_body(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_chain_t *in)
{
    pco_chain_t  *cl;

    if (!ctx->bg_head) {
        ctx->bg_head = true;
        if (ctx->revalidating && r->status == 304 && ctx->serve_fd >= 0) {
            (void) pco_cache_refresh(r, ctx);
        } else if (r->status >= 200 && pco_cache_store_decide(r, ctx) != PCO_OK) {
            pco_cache_store_abort(r, ctx, NULL, 0);
        }
        if (!ctx->storing) {
            pco_cache_lock_release(ctx);
        }
    }
    if (ctx->storing) {
        pco_cache_store_body(r, ctx, in);
    }
    for (cl = in; cl != NULL; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
        cl->buf->in_file = 0;
        cl->buf->last_buf = 0;
        cl->buf->flush = 0;
    }
    return PCO_OK;
}

static void
pco_cache_store_body(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_chain_t *in)
{
    pco_chain_t  *cl;
    size_t        len;

    for (cl = in; cl != NULL && ctx->storing; cl = cl->next) {
        if (cl->buf->in_file) {
            pco_cache_store_abort(r, ctx, "a file body cannot be stored", 0);
            break;
        }
        len = (size_t) (cl->buf->last - cl->buf->pos);
        if (len > 0 && pco_cache_entry_write_fd(ctx->fd, cl->buf->pos, len) != PCO_OK) {
            pco_cache_store_abort(r, ctx, "write failed", errno);
            break;
        }
        ctx->written += len;
        if (cl->buf->last_buf) {
            pco_cache_store_finish(r, ctx);
        }
    }
}

int
pco_cache_body_filter(pco_http_request_t *r, pco_chain_t *in)
{
    pco_cache_ctx_t  *ctx = pco_cache_ctx(r);

    if (ctx == NULL) {
        return PCO_OK;
    }
    if (ctx->swap_body) {
        return pco_cache_swap(r, ctx, in);
    }
    if (ctx->background) {
        return pco_cache_background_body(r, ctx, in);
    }
    if (ctx->storing) {
        pco_cache_store_body(r, ctx, in);
    }
    return PCO_OK;
}
