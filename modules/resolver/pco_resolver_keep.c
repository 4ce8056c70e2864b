/*
 * pco_resolver_keep.c: the last good address set of every `resolve = true` name, kept in the
 * shared zone "resolver" so that it survives a reload.
 *
 * Why: at a reload the master resolves the names again with getaddrinfo, which asks the
 * system's resolver, not the `resolver` block's nameservers, and the upstream module drops
 * the addresses the old helper added. A name only those nameservers know would have no
 * address from the new workers' start until the new helper's first lookup (a few ms, but
 * requests arriving then got 503). So the helper stores each set it applies here, and the
 * master, in init_master of the new generation (after the upstream module's, before any
 * new worker is forked), hands the stored sets to pco_upstream_resolved_set; the new helper
 * then looks every name up at once as usual.
 *
 * The zone: a robust lock and PCO_RESOLVER_KEEP_NAMES slots, open addressing on a 64-bit
 * key of (upstream name, entry as written); key 0 is a free slot. Its size never changes,
 * so it is kept across every reload; slots of names no longer configured are freed by the
 * master at each reload. Writers: the helper (one set per change), the master (reload).
 */
#include "pco_resolver_int.h"
#include "pco_log.h"
#include <string.h>

typedef struct {
    uint64_t        key;
    uint32_t        n;
    uint32_t        pad;
    pco_sockaddr_t  addrs[PCO_RESOLVER_KEEP_ADDRS];
    socklen_t       lens[PCO_RESOLVER_KEEP_ADDRS];
} pco_resolver_kept_t;

typedef struct {
    pco_shmtx_t          mtx;
    uint32_t             capacity;
    pco_resolver_kept_t  slots[];
} pco_resolver_zone_t;

#define PCO_RESOLVER_ZONE_SIZE                                                             \
    (sizeof(pco_resolver_zone_t) + PCO_RESOLVER_KEEP_NAMES * sizeof(pco_resolver_kept_t))

/* FNV-1a over the upstream name, a 0 byte and the entry as written; never 0. */
uint64_t
pco_resolver_key(const pco_str_t *upstream, const pco_str_t *configured)
{
    uint64_t  h = 0xcbf29ce484222325ULL;
    size_t    i;

    for (i = 0; i < upstream->len; i++) {
        h = (h ^ upstream->data[i]) * 0x100000001b3ULL;
    }
    h = (h ^ 0) * 0x100000001b3ULL;
    for (i = 0; i < configured->len; i++) {
        h = (h ^ configured->data[i]) * 0x100000001b3ULL;
    }
    return h != 0 ? h : 1;
}

static int
pco_resolver_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_resolver_zone_t  *z;

    if (old_data != NULL) {
        zone->data = old_data;               /* same size: the sets live on */
        return PCO_OK;
    }
    z = zone->addr;
    memset(z, 0, zone->size);
    z->capacity = PCO_RESOLVER_KEEP_NAMES;
    zone->data = z;
    return pco_shmtx_init(&z->mtx);
}

int
pco_resolver_keep_zone(pco_conf_t *cf, pco_cycle_t *cycle, pco_resolver_ctx_t *ctx)
{
    ctx->zone = pco_shm_zone_add(cf, cycle, "resolver", PCO_RESOLVER_ZONE_SIZE,
                                 &pco_resolver_module, pco_resolver_zone_init);
    return ctx->zone != NULL ? PCO_OK : PCO_ERROR;
}

/* The slot of key (the caller holds the lock): its own, else a free one when add is true,
 * else NULL. */
static pco_resolver_kept_t *
pco_resolver_slot(pco_resolver_zone_t *z, uint64_t key, bool add)
{
    uint32_t  i, k;

    for (i = 0; i < z->capacity; i++) {
        k = (uint32_t) ((key + i) % z->capacity);
        if (z->slots[k].key == key) {
            return &z->slots[k];
        }
        if (z->slots[k].key == 0) {
            return add ? &z->slots[k] : NULL;
        }
    }
    return NULL;
}

void
pco_resolver_keep_store(const pco_resolver_ctx_t *ctx, const pco_resolver_name_t *nm)
{
    pco_resolver_zone_t  *z = ctx->zone != NULL ? ctx->zone->data : NULL;
    pco_resolver_kept_t  *e;
    uint32_t              n = nm->nset < PCO_RESOLVER_KEEP_ADDRS ? nm->nset
                                                                 : PCO_RESOLVER_KEEP_ADDRS;

    if (z == NULL) {
        return;
    }
    pco_shmtx_lock(&z->mtx);
    e = pco_resolver_slot(z, nm->key, true);
    if (e != NULL) {                   /* full: not kept (the next helper asks at once) */
        e->key = nm->key;
        e->n = n;
        memcpy(e->addrs, nm->set, n * sizeof(e->addrs[0]));
        memcpy(e->lens, nm->lens, n * sizeof(e->lens[0]));
    }
    pco_shmtx_unlock(&z->mtx);
}

/* True when key belongs to a name of this generation. */
static bool
pco_resolver_current(const pco_resolver_ctx_t *ctx, uint64_t key)
{
    unsigned  i;

    for (i = 0; i < ctx->n; i++) {
        if (ctx->names[i].key == key) {
            return true;
        }
    }
    return false;
}

int
pco_resolver_keep_restore(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_resolver_ctx_t   *ctx = cycle->module_ctx[pco_resolver_module.index];
    pco_resolver_zone_t  *z;
    pco_resolver_kept_t  *e, keep[1];
    char                  err[128];
    uint32_t              s;
    unsigned              i;

    if (ctx == NULL || ctx->zone == NULL || old == NULL) {
        return PCO_OK;
    }
    z = ctx->zone->data;
    pco_shmtx_lock(&z->mtx);
    /* forget the names this generation no longer has; the probe chains are rebuilt by
     * re-inserting what stays */
    for (s = 0; s < z->capacity; s++) {
        if (z->slots[s].key != 0 && !pco_resolver_current(ctx, z->slots[s].key)) {
            z->slots[s].key = 0;
        }
    }
    for (s = 0; s < z->capacity; s++) {
        if (z->slots[s].key != 0) {
            keep[0] = z->slots[s];
            z->slots[s].key = 0;
            e = pco_resolver_slot(z, keep[0].key, true);
            *e = keep[0];
        }
    }
    pco_shmtx_unlock(&z->mtx);
    for (i = 0; i < ctx->n; i++) {
        pco_resolver_name_t  *nm = &ctx->names[i];

        pco_shmtx_lock(&z->mtx);
        e = pco_resolver_slot(z, nm->key, false);
        if (e != NULL) {
            keep[0] = *e;
        }
        pco_shmtx_unlock(&z->mtx);
        if (e == NULL || keep[0].n == 0) {
            continue;
        }
        if (pco_upstream_resolved_set(nm->u, nm->entry, keep[0].addrs, keep[0].lens,
                                      keep[0].n, err, sizeof(err)) < 0)
        {
            pco_log_err(PCO_LOG_WARN, pco_log, 0, "resolver: \"%s\" of upstream \"%.*s\": %s "
                        "(the last resolved addresses, kept across the reload)", nm->host,
                        (int) nm->u->name.len, (const char *) nm->u->name.data, err);
        }
    }
    return PCO_OK;
}
