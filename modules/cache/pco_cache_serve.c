/*
 * pco_cache_serve.c: answers from an entry file. The file's header is read and checked
 * (a missing, truncated or foreign file is a miss: its index entry goes, a bad file is
 * removed), the stored header lines become the response's, Age is the entry's current age
 * (RFC 9111 section 4.2.3), X-Cache-Status and Cache-Status tell the outcome, the client's
 * own If-None-Match / If-Modified-Since turn a 200 into a 304, one Range into a 206 (or a
 * 416), and the body goes out by sendfile from the file, which stays open until the
 * request ends (an entry replaced or purged meanwhile is unlinked, not truncated: the
 * descriptor still reads the old bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pco_cache.h"
#include "pco_log.h"
#include "pco_static.h"
#include "pco_string.h"

#define PCO_CACHE_HEAD_READ  4096     /* bytes read first: most entry headers fit */

/* The entry of ctx->key is unusable: forget it (and remove a bad file). */
static void
pco_cache_forget(pco_http_request_t *r, pco_cache_ctx_t *ctx, const char *path, bool bad)
{
    pco_cache_meta_t  m;

    (void) pco_cache_index_remove(pco_cache_zone_index(ctx->z), &ctx->key, &m);
    if (bad) {
        pco_log_err(PCO_LOG_WARN, r->connection->log, 0, "cache \"%.*s\": invalid entry "
                    "file \"%s\" removed", (int) ctx->z->name.len,
                    (const char *) ctx->z->name.data, path);
        (void) unlink(path);
    }
}

/* Reads the header of the entry file fd into ctx: PCO_OK, PCO_DECLINED (not a valid entry
 * of ctx->key), PCO_ERROR. The first read takes PCO_CACHE_HEAD_READ bytes: a small entry
 * comes whole (its body is then sent from memory, and a short read is its size). */
static int
pco_cache_read_head(pco_http_request_t *r, pco_cache_ctx_t *ctx, int fd)
{
    struct stat  st;
    u_char      *buf;
    size_t       size = PCO_CACHE_HEAD_READ;
    uint64_t     file_size;
    ssize_t      n;
    int          rc;

    for ( ;; ) {
        buf = pco_pnalloc(r->pool, size);
        if (buf == NULL) {
            return PCO_ERROR;
        }
        n = pread(fd, buf, size, 0);
        if (n < 0) {
            return PCO_DECLINED;
        }
        rc = pco_cache_entry_parse(&ctx->entry, buf, (size_t) n);
        if (rc == PCO_OK) {
            break;
        }
        if (rc == PCO_ERROR || (size_t) n < size || ctx->entry.header_len <= size) {
            return PCO_DECLINED;
        }
        size = ctx->entry.header_len;
    }
    if ((size_t) n < size) {
        file_size = (uint64_t) n;           /* read to its end */
    } else if (fstat(fd, &st) == 0) {
        file_size = (uint64_t) st.st_size;
    } else {
        return PCO_DECLINED;
    }
    if (!pco_cache_entry_size_ok(&ctx->entry, file_size)
        || memcmp(ctx->entry.key.md, ctx->key.md, PCO_CACHE_KEY_LEN) != 0)
    {
        return PCO_DECLINED;
    }
    ctx->entry_head = buf;
    ctx->entry_read = (size_t) n;
    return PCO_OK;
}

int
pco_cache_open_entry(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    char  *path;
    int    fd, rc;

    pco_cache_close_entry(ctx);
    if (pco_cache_open_find(r, ctx)) {
        return PCO_OK;
    }
    path = pco_cache_entry_path(r->pool, ctx->z, &ctx->key);
    if (path == NULL) {
        return PCO_ERROR;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT) {
            pco_log_err(PCO_LOG_ERR, r->connection->log, errno, "cache \"%.*s\": open(\"%s\") "
                        "failed", (int) ctx->z->name.len, (const char *) ctx->z->name.data,
                        path);
        }
        pco_cache_forget(r, ctx, path, false);
        return PCO_DECLINED;
    }
    rc = pco_cache_read_head(r, ctx, fd);
    if (rc != PCO_OK) {
        close(fd);
        if (rc == PCO_DECLINED) {
            pco_cache_forget(r, ctx, path, true);
        }
        return rc;
    }
    ctx->serve_fd = fd;
    pco_cache_open_keep(r, ctx);
    return PCO_OK;
}

/* ---- headers ---- */

int
pco_cache_status_headers(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    static const pco_str_t  xcs = pco_string("X-Cache-Status");
    static const pco_str_t  cs = pco_string("Cache-Status");
    const char             *name = pco_cache_status_name(ctx->status.outcome);
    pco_str_t               v;
    u_char                 *p;

    v.data = (u_char *) name;
    v.len = strlen(name);
    if (pco_http_set_header(r, &xcs, &v, true) != PCO_OK) {
        return PCO_ERROR;
    }
    p = pco_pnalloc(r->pool, PCO_CACHE_STATUS_LEN);
    if (p == NULL) {
        return PCO_ERROR;
    }
    v.data = p;
    v.len = pco_cache_status_format(p, PCO_CACHE_STATUS_LEN, &ctx->status);
    if (v.len == 0) {
        return PCO_OK;
    }
    return pco_http_set_header(r, &cs, &v, true);
}

/* The stored "Name: value\r\n" lines into r->out (Content-Type into its own field). */
static int
pco_cache_stored_headers(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    const u_char  *p = ctx->entry.headers.data, *end = p + ctx->entry.headers.len;
    pco_str_t      name, value;

    while (pco_cache_entry_next_header(&p, end, &name, &value)) {
        if (pco_str_caseeq_lit(&name, "Content-Type")) {
            r->out.content_type = value;
        } else if (pco_http_set_header(r, &name, &value, false) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

static int
pco_cache_set_age(pco_http_request_t *r, pco_cache_ctx_t *ctx, int64_t age)
{
    static const pco_str_t  name = pco_string("Age");
    pco_str_t               v;

    v.data = pco_pnalloc(r->pool, 24);
    if (v.data == NULL) {
        return PCO_ERROR;
    }
    v.len = (size_t) (pco_sprint_i64(v.data, age) - v.data);
    pco_unused(ctx);
    return pco_http_set_header(r, &name, &v, true);
}

/* ---- conditionals and ranges ---- */

/* Weak comparison (RFC 9110 section 8.8.3.2) of one entity-tag list against etag. */
static bool
pco_cache_etag_match(const pco_str_t *list, const pco_str_t *etag)
{
    const u_char  *p = list->data, *end = p + list->len, *s;
    const u_char  *e = etag->data;
    size_t         elen = etag->len;

    if (elen >= 2 && e[0] == 'W' && e[1] == '/') {
        e += 2;
        elen -= 2;
    }
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p < end && *p == '*') {
            return elen > 0;
        }
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }
        s = p;
        if (p < end && *p == '"') {
            p++;
            while (p < end && *p != '"') {
                p++;
            }
            if (p < end) {
                p++;
            }
        } else {
            while (p < end && *p != ',' && *p != ' ') {
                p++;
            }
        }
        if ((size_t) (p - s) == elen && elen > 0 && memcmp(s, e, elen) == 0) {
            return true;
        }
    }
    return false;
}

/* The client's validators for this request: saved by a fetch, else as sent. */
static void
pco_cache_client_validators(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_str_t *inm,
                            pco_str_t *ims, pco_str_t *range, bool *if_range)
{
    pco_http_header_t  *h;

    if (ctx->cond_saved) {
        *inm = ctx->if_none_match;
        *ims = ctx->if_modified_since;
        *range = ctx->range;
        *if_range = ctx->if_range;
        return;
    }
    h = pco_http_head_find(&r->head, "If-None-Match", 13);
    *inm = h ? h->value : (pco_str_t) pco_null_string;
    h = pco_http_head_find(&r->head, "If-Modified-Since", 17);
    *ims = h ? h->value : (pco_str_t) pco_null_string;
    h = pco_http_head_find(&r->head, "Range", 5);
    *range = h ? h->value : (pco_str_t) pco_null_string;
    *if_range = pco_http_head_find(&r->head, "If-Range", 8) != NULL;
}

/* Whether the client's validators say its copy is current (RFC 9110 section 13.2.2:
 * If-None-Match, when present, decides alone). */
static bool
pco_cache_not_modified(pco_cache_ctx_t *ctx, const pco_str_t *inm, const pco_str_t *ims)
{
    time_t  t;

    if (inm->data != NULL) {
        return pco_cache_etag_match(inm, &ctx->entry.etag);
    }
    if (ims->data != NULL && ctx->entry.last_modified != -1) {
        t = pco_parse_http_time(ims->data, ims->len);
        return t != -1 && t >= ctx->entry.last_modified;
    }
    return false;
}

static int
pco_cache_content_range(pco_http_request_t *r, const char *fmt, int64_t a, int64_t b,
                        int64_t len)
{
    static const pco_str_t  name = pco_string("Content-Range");
    pco_str_t               v;

    v.data = pco_pnalloc(r->pool, 80);
    if (v.data == NULL) {
        return PCO_ERROR;
    }
    if (a < 0) {
        v.len = (size_t) snprintf((char *) v.data, 80, fmt, len);
    } else {
        v.len = (size_t) snprintf((char *) v.data, 80, fmt, a, b, len);
    }
    return pco_http_set_header(r, &name, &v, true);
}

int
pco_cache_prepare(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_fresh_t  f;
    pco_str_t          inm, ims, range;
    int64_t            age, len = (int64_t) ctx->entry.body_len;
    off_t              start = 0, end = (off_t) len - 1;
    bool               if_range;
    int                st;

    f = ctx->entry.fresh;
    age = pco_cache_current_age(&f, pco_time_sec);
    ctx->status.has_ttl = ctx->status.outcome == PCO_CACHE_STATUS_HIT
                          || ctx->status.outcome == PCO_CACHE_STATUS_STALE
                          || ctx->status.outcome == PCO_CACHE_STATUS_UPDATING
                          || ctx->status.outcome == PCO_CACHE_STATUS_REVALIDATED;
    ctx->status.ttl = f.lifetime - age;
    r->status = (int) ctx->entry.status;
    r->out.content_length = len;
    if (pco_cache_stored_headers(r, ctx) != PCO_OK || pco_cache_set_age(r, ctx, age) != PCO_OK
        || pco_cache_status_headers(r, ctx) != PCO_OK)
    {
        return 500;
    }
    ctx->body_start = (off_t) ctx->entry.header_len;
    ctx->body_end = ctx->body_start + (off_t) len;
    if (r->status != 200) {
        return r->status;
    }
    pco_cache_client_validators(r, ctx, &inm, &ims, &range, &if_range);
    if (pco_cache_not_modified(ctx, &inm, &ims)) {
        r->status = 304;
        ctx->body_end = ctx->body_start;
        return 304;
    }
    if (range.data == NULL || if_range) {
        return 200;
    }
    st = pco_static_parse_range(range.data, range.len, (off_t) len, &start, &end);
    if (st == 416) {
        if (pco_cache_content_range(r, "bytes */%" PRId64, -1, -1, len) != PCO_OK) {
            return 500;
        }
        r->status = 416;
        return 416;
    }
    if (st == 206) {
        if (pco_cache_content_range(r, "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
                                    (int64_t) start, (int64_t) end, len) != PCO_OK)
        {
            return 500;
        }
        r->status = 206;
        r->out.content_length = (int64_t) (end - start + 1);
        ctx->body_start = (off_t) ctx->entry.header_len + start;
        ctx->body_end = (off_t) ctx->entry.header_len + end + 1;
    }
    return r->status;
}

/* ---- the body ---- */

pco_chain_t *
pco_cache_body_link(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_buf_t  *b = pco_buf_calloc(r->pool);

    if (b == NULL) {
        return NULL;
    }
    if (r->status != 304 && r->head.method != PCO_HTTP_HEAD
        && ctx->body_end > ctx->body_start)
    {
        if ((size_t) ctx->body_end <= ctx->entry_read) {
            /* read with the header: one write with the head, no sendfile */
            b->pos = ctx->entry_head + ctx->body_start;
            b->last = ctx->entry_head + ctx->body_end;
            b->start = b->pos;
            b->end = b->last;
            b->memory = 1;
        } else {
            b->fd = ctx->serve_fd;
            b->file_pos = ctx->body_start;
            b->file_last = ctx->body_end;
            b->in_file = 1;
        }
        pco_counter_add(ctx->z->c_bytes, (int64_t) (ctx->body_end - ctx->body_start));
    }
    b->last_buf = 1;
    return pco_chain_link(r->pool, b);
}

int
pco_cache_send(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    static const pco_str_t  tp = pco_string("text/plain; charset=utf-8");
    static const pco_str_t  body = pco_string("Range Not Satisfiable\n");
    pco_chain_t            *cl;

    if (r->status == 416) {
        return pco_http_send_response(r, 416, &tp, &body);
    }
    if (r->status == 304) {
        r->out.content_type.len = 0;
    }
    if (pco_http_send_header(r) != PCO_OK) {
        return PCO_ERROR;
    }
    cl = pco_cache_body_link(r, ctx);
    if (cl == NULL) {
        return PCO_ERROR;
    }
    return pco_http_output(r, cl) == PCO_ERROR ? PCO_ERROR : PCO_OK;
}
