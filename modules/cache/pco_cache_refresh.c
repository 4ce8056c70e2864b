/*
 * pco_cache_refresh.c: an entry our revalidation found unchanged (the upstream answered
 * 304). RFC 9111 section 4.3.4: the stored response takes the 304's freshness and header
 * fields; the 304's Cache-Control and Expires, when it has them, replace the stored ones.
 * The index is updated at once; the entry file is rewritten (its header changed size)
 * through a temporary file renamed into place, so that a reader holding the old file
 * keeps reading whole bytes and a restart finds the renewed entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "pco_cache.h"
#include "pco_log.h"
#include "pco_string.h"

/* Whether the 304 (r->out) carries a header named name. */
static bool
pco_cache_in_304(pco_http_request_t *r, const pco_str_t *name)
{
    unsigned  i;

    if (name->len == 12 && pco_str_caseeq_lit(name, "Content-Type")) {
        return r->out.content_type.len > 0;
    }
    for (i = 0; i < r->out.nheaders; i++) {
        if (r->out.headers[i].value.data != NULL
            && pco_str_caseeq(&r->out.headers[i].name, name))
        {
            return true;
        }
    }
    return false;
}

/* The stored header lines updated by a 304 (RFC 9111 section 4.3.4): a field the 304
 * carries replaces the stored one(s) of that name, the others stay. */
static int
pco_cache_merged_lines(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_str_t *out)
{
    const u_char  *p = ctx->entry.headers.data, *end = p + ctx->entry.headers.len, *line;
    pco_str_t      fresh, name, value;
    u_char        *q;

    if (pco_cache_header_lines(r, &fresh) != PCO_OK) {
        return PCO_ERROR;
    }
    q = pco_pnalloc(r->pool, ctx->entry.headers.len + fresh.len + 1);
    if (q == NULL) {
        return PCO_ERROR;
    }
    out->data = q;
    line = p;
    while (pco_cache_entry_next_header(&p, end, &name, &value)) {
        if (!pco_cache_in_304(r, &name)) {
            q = (u_char *) memcpy(q, line, (size_t) (p - line)) + (p - line);
        }
        line = p;
    }
    q = (u_char *) memcpy(q, fresh.data, fresh.len) + fresh.len;
    out->len = (size_t) (q - out->data);
    return PCO_OK;
}

/* Copies len bytes at from_off of in to the end of out. */
static int
pco_cache_copy_body(int in, off_t from_off, int out, uint64_t len)
{
    loff_t   off = from_off;
    ssize_t  n;

    while (len > 0) {
        n = copy_file_range(in, &off, out, NULL, (size_t) pco_min(len, (uint64_t) 1 << 30), 0);
        if (n <= 0) {
            return PCO_ERROR;
        }
        len -= (uint64_t) n;
    }
    return PCO_OK;
}

/*
 * Rewrites the entry file with e's header (new freshness and header lines) and the body of
 * the opened entry, through a temporary file renamed into place (a reader holding the old
 * file keeps reading it). PCO_OK with e->header_len set; a failure only costs the refresh
 * after a restart (the index has it) and is logged.
 */
static int
pco_cache_rewrite_file(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_entry_t *e)
{
    size_t   size = pco_cache_entry_header_size(e), tlen = ctx->z->dir.len + 80;
    u_char  *head = pco_pnalloc(r->pool, size);
    char    *tmp = pco_pnalloc(r->pool, tlen);
    char    *path = pco_cache_entry_path(r->pool, ctx->z, &ctx->key);
    ssize_t  n;
    int      fd;

    if (head == NULL || tmp == NULL || path == NULL
        || (n = pco_cache_entry_serialize(head, size, e)) < 0)
    {
        return PCO_ERROR;
    }
    snprintf(tmp, tlen, "%s/tmp/refresh.%d.%p", (const char *) ctx->z->dir.data,
             (int) getpid(), (void *) ctx);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        goto failed;
    }
    if (pco_cache_entry_write_fd(fd, head, (size_t) n) != PCO_OK
        || pco_cache_copy_body(ctx->serve_fd, (off_t) ctx->entry.header_len, fd,
                               ctx->entry.body_len) != PCO_OK
        || close(fd) != 0)
    {
        close(fd);
        (void) unlink(tmp);
        goto failed;
    }
    if (pco_cache_entry_commit(tmp, path, ctx->z->dir.len) != PCO_OK) {
        (void) unlink(tmp);
        goto failed;
    }
    return PCO_OK;

failed:
    pco_log_err(PCO_LOG_WARN, r->connection->log, errno, "cache \"%.*s\": the refreshed "
                "entry could not be written", (int) ctx->z->name.len,
                (const char *) ctx->z->name.data);
    return PCO_ERROR;
}

/* Our revalidation came back 304: the entry gets the 304's freshness (its Cache-Control
 * and Expires when it has them, the stored ones else) and header fields, in the index and
 * in its file. ctx->entry keeps the opened file's layout (the body is read from there)
 * with the merged header lines. */
int
pco_cache_refresh(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_resp_t   stored, fresh;
    pco_cache_entry_t  e;
    pco_cache_meta_t   m = ctx->meta, evicted;
    pco_str_t          lines;
    int64_t            lifetime;
    time_t             req_t, resp_t;
    bool               had;

    pco_cache_resp_from_lines(&ctx->entry.headers, &stored);
    pco_cache_resp_from_out(r, &fresh);
    if (fresh.cc.max_age == PCO_CACHE_NONE && fresh.cc.s_maxage == PCO_CACHE_NONE
        && !fresh.has_expires)
    {
        fresh.cc = stored.cc;
        fresh.expires = stored.expires;
        fresh.has_expires = stored.has_expires;
    }
    lifetime = pco_cache_lifetime(&fresh, pco_time_sec, pco_cache_valid(ctx->rc,
                                                                        ctx->entry.status));
    if (lifetime == PCO_CACHE_NONE) {
        lifetime = 0;
    }
    if (pco_cache_merged_lines(r, ctx, &lines) != PCO_OK) {
        return PCO_ERROR;
    }
    pco_cache_times(r, &req_t, &resp_t);
    pco_cache_fresh_init(&ctx->entry.fresh, &fresh, lifetime, req_t, resp_t);
    ctx->entry.headers = lines;
    e = ctx->entry;
    if (fresh.has_expires) {
        e.expires = fresh.expires;
    }
    pco_cache_meta_set_fresh(&m, &ctx->entry.fresh);
    if (pco_cache_rewrite_file(r, ctx, &e) == PCO_OK) {
        m.file_size = e.header_len + e.body_len;
        if (pco_cache_index_insert(pco_cache_zone_index(ctx->z), &m, &evicted, &had) == PCO_OK
            && had)
        {
            pco_cache_unlink_evicted(r, ctx, &evicted);
        }
    } else {
        (void) pco_cache_index_refresh(pco_cache_zone_index(ctx->z), &m);
    }
    ctx->meta = m;
    return PCO_OK;
}
