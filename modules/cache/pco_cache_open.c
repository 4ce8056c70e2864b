/*
 * pco_cache_open.c: the entries a worker keeps open. Answering a hit needs the entry's
 * header (with a small body, its first bytes) and a descriptor to send a larger body
 * from; reading them again for every hit costs an open, a read and a close. A worker keeps
 * the entries it served last in PCO_CACHE_OPEN_SLOTS slots (one per value of the key's
 * first byte, modulo the count), each holding the descriptor, a copy of the file's first
 * bytes and the index's stamp of the entry. A lookup whose entry has the same stamp uses
 * the slot; a different stamp (the entry stored again, refreshed by a 304, or removed and
 * stored anew) means the file is read again. The index is always asked first, so a purged
 * or expired entry is never served from a slot. A slot that a response still being sent
 * uses is not replaced. Bounds, per worker: PCO_CACHE_OPEN_SLOTS descriptors (a removed
 * entry's file stays on disk until its slot is reused) and PCO_CACHE_OPEN_MAX bytes a slot.
 */
#include <stdlib.h>
#include <unistd.h>
#include "pco_cache.h"

#define PCO_CACHE_OPEN_SLOTS  64
#define PCO_CACHE_OPEN_MAX    16384

struct pco_cache_open_s {
    const pco_cache_index_t  *idx;     /* the zone's index (a zone kept by a reload keeps
                                          it): a slot of another zone never matches */
    pco_cache_key_t           key;
    uint64_t                  stamp;
    int                       fd;
    u_char                   *head;    /* malloc'd copy of the file's first bytes */
    size_t                    read;
    pco_cache_entry_t         entry;   /* parsed from head */
    unsigned                  refs;    /* requests using fd or head now */
    bool                      used;
};

static pco_cache_open_t  pco_cache_open_slots[PCO_CACHE_OPEN_SLOTS];

static pco_cache_open_t *
pco_cache_open_slot(const pco_cache_key_t *key)
{
    return &pco_cache_open_slots[key->md[0] % PCO_CACHE_OPEN_SLOTS];
}

static void
pco_cache_open_unref(void *data)
{
    pco_cache_ctx_t  *ctx = data;

    if (ctx->open != NULL) {
        ctx->open->refs--;
        ctx->open = NULL;
        ctx->serve_fd = -1;
    }
}

/* ctx uses slot o until its request ends (or pco_cache_close_entry). */
static int
pco_cache_open_ref(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_open_t *o)
{
    if (!ctx->open_cleanup) {
        if (pco_pool_cleanup_add(r->pool, pco_cache_open_unref, ctx) != PCO_OK) {
            return PCO_ERROR;
        }
        ctx->open_cleanup = true;
    }
    o->refs++;
    ctx->open = o;
    ctx->serve_fd = o->fd;
    return PCO_OK;
}

bool
pco_cache_open_find(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_open_t  *o = pco_cache_open_slot(&ctx->key);

    if (!o->used || o->idx != pco_cache_zone_index(ctx->z) || o->stamp != ctx->meta.stamp
        || memcmp(o->key.md, ctx->key.md, PCO_CACHE_KEY_LEN) != 0
        || pco_cache_open_ref(r, ctx, o) != PCO_OK)
    {
        return false;
    }
    ctx->entry = o->entry;
    ctx->entry_head = o->head;
    ctx->entry_read = o->read;
    return true;
}

static void
pco_cache_open_drop(pco_cache_open_t *o)
{
    if (o->used) {
        close(o->fd);
        free(o->head);
        o->used = false;
        o->head = NULL;
    }
}

void
pco_cache_open_keep(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_open_t  *o = pco_cache_open_slot(&ctx->key);
    u_char            *head;

    if (ctx->open != NULL || ctx->serve_fd < 0 || ctx->entry_read > PCO_CACHE_OPEN_MAX
        || o->refs > 0 || ctx->meta.stamp == 0)
    {
        return;
    }
    if (!ctx->open_cleanup) {
        if (pco_pool_cleanup_add(r->pool, pco_cache_open_unref, ctx) != PCO_OK) {
            return;
        }
        ctx->open_cleanup = true;
    }
    head = malloc(ctx->entry_read);
    if (head == NULL) {
        return;
    }
    memcpy(head, ctx->entry_head, ctx->entry_read);
    pco_cache_open_drop(o);
    if (pco_cache_entry_parse(&o->entry, head, ctx->entry_read) != PCO_OK) {
        free(head);
        return;
    }
    o->head = head;
    o->read = ctx->entry_read;
    o->idx = pco_cache_zone_index(ctx->z);
    o->key = ctx->key;
    o->stamp = ctx->meta.stamp;
    o->fd = ctx->serve_fd;
    o->used = true;
    (void) pco_cache_open_ref(r, ctx, o);    /* the cleanup is in place: cannot fail */
}

void
pco_cache_close_entry(pco_cache_ctx_t *ctx)
{
    if (ctx->open != NULL) {
        pco_cache_open_unref(ctx);
        return;
    }
    if (ctx->serve_fd >= 0) {
        close(ctx->serve_fd);
        ctx->serve_fd = -1;
    }
}
