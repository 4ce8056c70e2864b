/*
 * pco_cache_purge.c: PURGE on a cached route, from the clients the zone's `purge` rules
 * allow (nobody without rules; a client no rule matches is refused too): the entry of the
 * request's key is removed with its variants and files (200), or there was none (404);
 * anyone else gets 403. A key ending in "*" removes every entry whose key starts with what
 * precedes it (nginx Plus's wildcard purge): the index keeps the first
 * PCO_CACHE_TEXT_MAX bytes of each key, and a longer key that matches that far is checked
 * against its file's key text.
 */
#include <fcntl.h>
#include <unistd.h>
#include "pco_cache.h"
#include "pco_log.h"

#define PCO_CACHE_PURGE_BATCH  64

static void
pco_cache_purge_file(pco_http_request_t *r, pco_cache_zone_t *z, const pco_cache_meta_t *m)
{
    char  *path;

    if (m->kind != PCO_CACHE_NODE_ENTRY) {
        return;
    }
    path = pco_cache_entry_path(r->pool, z, &m->key);
    if (path != NULL) {
        (void) unlink(path);
    }
}

/* Whether the entry file of m holds a key text starting with prefix[0..len). */
static bool
pco_cache_purge_check(pco_http_request_t *r, pco_cache_zone_t *z, const pco_cache_meta_t *m,
                      const u_char *prefix, size_t len)
{
    pco_cache_entry_t  e;
    u_char             buf[PCO_CACHE_ENTRY_FIXED + 4096];
    char              *path = pco_cache_entry_path(r->pool, z, &m->key);
    ssize_t            n;
    int                fd;

    if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        return false;
    }
    n = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    /* the key text comes first in the variable part: the fixed part plus the prefix's
     * length is all that must have been read */
    if (n < 0 || pco_cache_entry_parse(&e, buf, (size_t) n) == PCO_ERROR) {
        return false;
    }
    return (size_t) n >= PCO_CACHE_ENTRY_FIXED + len && m->text_len >= len
           && memcmp(buf + PCO_CACHE_ENTRY_FIXED, prefix, len) == 0;
}

static size_t
pco_cache_purge_prefix(pco_http_request_t *r, pco_cache_zone_t *z, const u_char *prefix,
                       size_t len)
{
    pco_cache_index_t  *idx = pco_cache_zone_index(z);
    pco_cache_meta_t    out[PCO_CACHE_PURGE_BATCH], unsure[PCO_CACHE_PURGE_BATCH], m;
    uint32_t            cursor = 0;
    size_t              n, nunsure, i, removed = 0;

    do {
        n = pco_cache_index_purge_prefix(idx, prefix, len, &cursor, out, pco_nelems(out),
                                         unsure, pco_nelems(unsure), &nunsure);
        for (i = 0; i < n; i++) {
            pco_cache_purge_file(r, z, &out[i]);
        }
        removed += n;
        for (i = 0; i < nunsure; i++) {
            if (pco_cache_purge_check(r, z, &unsure[i], prefix, len)
                && pco_cache_index_remove(idx, &unsure[i].key, &m))
            {
                pco_cache_purge_file(r, z, &m);
                removed++;
            }
        }
    } while (n == pco_nelems(out) || nunsure == pco_nelems(unsure));
    return removed;
}

static size_t
pco_cache_purge_key(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_index_t  *idx = pco_cache_zone_index(ctx->z);
    pco_cache_meta_t    m, out[PCO_CACHE_PURGE_BATCH];
    size_t              n, i, removed = 0;

    if (!pco_cache_index_remove(idx, &ctx->main, &m)) {
        return 0;
    }
    pco_cache_purge_file(r, ctx->z, &m);
    removed++;
    if (m.kind == PCO_CACHE_NODE_MARKER) {
        do {
            n = pco_cache_index_remove_variants(idx, &ctx->main, out, pco_nelems(out));
            for (i = 0; i < n; i++) {
                pco_cache_purge_file(r, ctx->z, &out[i]);
            }
        } while (n == pco_nelems(out));
    }
    return removed;
}

int
pco_cache_purge(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    static const pco_str_t  tp = pco_string("text/plain; charset=utf-8");
    static const pco_str_t  body = pco_string("purged\n");
    pco_str_t              *k = &ctx->key_text;
    size_t                  rule = 0, removed;
    int                     rc;

    if (ctx->z->purge.n == 0
        || !pco_access_check(&ctx->z->purge, r->client_addr, &rule) || rule == 0)
    {
        pco_log_err(PCO_LOG_INFO, r->connection->log, 0, "cache \"%.*s\": PURGE refused",
                    (int) ctx->z->name.len, (const char *) ctx->z->name.data);
        return 403;
    }
    rc = pco_http_discard_body(r);
    if (rc != PCO_OK) {
        return rc;
    }
    if (k->len > 0 && k->data[k->len - 1] == '*') {
        removed = pco_cache_purge_prefix(r, ctx->z, k->data, k->len - 1);
    } else {
        removed = pco_cache_purge_key(r, ctx);
    }
    if (removed == 0) {
        return 404;
    }
    pco_log_err(PCO_LOG_INFO, r->connection->log, 0, "cache \"%.*s\": PURGE removed %zu "
                "entries", (int) ctx->z->name.len, (const char *) ctx->z->name.data, removed);
    rc = pco_http_send_response(r, 200, &tp, &body);
    return rc == PCO_ERROR ? PCO_ERROR : PCO_DONE;
}
