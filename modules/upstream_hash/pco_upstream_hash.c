/*
 * pco_upstream_hash.c: balance = "hash": consistent hashing on a ketama ring. Each server
 * puts 160 points per weight unit on the ring, at crc32("NAME-N") (NAME as resolved, e.g.
 * "127.0.0.1:9001"; N = 0, 1, ...), scaled down when the ring would pass 2^20 points. A key
 * (the upstream's hash_key template, evaluated by the caller) goes to the first point at or
 * after crc32(key), wrapping; an unusable or already tried server passes to the next point.
 * Removing a server therefore remaps only the keys it had. hash_key is required; `backup`
 * servers are an error with hash.
 */
#include "pco_upstream.h"
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define PCO_UPSTREAM_HASH_POINTS  160
#define PCO_UPSTREAM_HASH_MAX     (1u << 20)

typedef struct {
    uint32_t    hash;
    uint32_t    server;
} pco_upstream_hash_point_t;

typedef struct pco_upstream_hash_ring_s  pco_upstream_hash_ring_t;

/* In the cycle pool: the ring a process rebuilt at run time, freed with the cycle. */
typedef struct {
    pco_upstream_hash_ring_t   *heap;
} pco_upstream_hash_owner_t;

struct pco_upstream_hash_ring_s {
    pco_upstream_hash_point_t  *points;
    size_t                      n;
    bool                        pooled;     /* freed by the cycle pool (conf time) */
    pco_upstream_hash_owner_t  *owner;      /* NULL without a cycle (unit tests) */
};

/* zlib's CRC-32 (IEEE); keys longer than uInt are hashed in pieces. */
static uint32_t
pco_upstream_hash_crc32(const pco_str_t *key)
{
    uLong   crc = crc32(0, Z_NULL, 0);
    size_t  off = 0, n;

    do {
        n = pco_min(key->len - off, (size_t) 1 << 30);
        crc = crc32(crc, key->data + off, (uInt) n);
        off += n;
    } while (off < key->len);
    return (uint32_t) crc;
}

static int pco_upstream_hash_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_hash_init(pco_conf_t *cf, pco_upstream_t *u);
static void pco_upstream_hash_update(pco_upstream_t *u);
static pco_upstream_server_t *pco_upstream_hash_pick(pco_upstream_t *u, const pco_str_t *key,
                                                     const uint64_t *tried, bool backup);

static const pco_upstream_balancer_t pco_upstream_hash_balancer = {
    .name = "hash",
    .init = pco_upstream_hash_init,
    .pick = pco_upstream_hash_pick,
    .uses_key = true,
    .update = pco_upstream_hash_update,
};

/* Hooks: conf_done (master, -t too) registers the balancer; PCO_OK or PCO_ERROR. */
pco_module_t pco_upstream_hash_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "upstream_hash",
    .conf_done = pco_upstream_hash_conf_done,
};

static int
pco_upstream_hash_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    return pco_upstream_balancer_add(cf, cycle, &pco_upstream_hash_balancer);
}

static int
pco_upstream_hash_cmp(const void *a, const void *b)
{
    const pco_upstream_hash_point_t  *x = a, *y = b;

    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return x->server < y->server ? -1 : (x->server > y->server);
}

/* The ring of u's primary positions in use (malloc'd: points, then the ring). */
static pco_upstream_hash_ring_t *
pco_upstream_hash_build(pco_upstream_t *u)
{
    pco_upstream_hash_ring_t  *ring;
    uint64_t                   want = 0, per;
    unsigned                   i, npos = pco_upstream_npos(u);
    size_t                     n = 0, k;
    char                       buf[512];
    int                        len;

    for (i = 0; i < npos; i++) {
        if (!u->servers[i].vacant && !u->servers[i].backup) {
            want += (uint64_t) u->servers[i].weight * PCO_UPSTREAM_HASH_POINTS;
        }
    }
    ring = calloc(1, sizeof(*ring));
    if (ring == NULL) {
        return NULL;
    }
    ring->points = calloc(want == 0 ? 1 : want < PCO_UPSTREAM_HASH_MAX ? want
                                                : PCO_UPSTREAM_HASH_MAX,
                          sizeof(pco_upstream_hash_point_t));
    if (ring->points == NULL) {
        free(ring);
        return NULL;
    }
    for (i = 0; i < npos; i++) {
        pco_upstream_server_t  *s = &u->servers[i];

        if (s->vacant || s->backup) {
            continue;
        }
        per = (uint64_t) s->weight * PCO_UPSTREAM_HASH_POINTS;
        if (want > PCO_UPSTREAM_HASH_MAX) {
            per = per * PCO_UPSTREAM_HASH_MAX / want;
            per = per ? per : 1;
        }
        for (k = 0; k < per && n < PCO_UPSTREAM_HASH_MAX; k++) {
            len = snprintf(buf, sizeof(buf), "%.*s-%zu", (int) pco_min(s->name.len, 400),
                           s->name.data, k);
            ring->points[n].hash = (uint32_t) crc32(0, (const Bytef *) buf, (uInt) len);
            ring->points[n].server = i;
            n++;
        }
    }
    qsort(ring->points, n, sizeof(pco_upstream_hash_point_t), pco_upstream_hash_cmp);
    ring->n = n;
    return ring;
}

static void
pco_upstream_hash_free(pco_upstream_hash_ring_t *ring)
{
    if (ring != NULL) {
        free(ring->points);
        free(ring);
    }
}

static void
pco_upstream_hash_owner_free(void *data)
{
    pco_upstream_hash_owner_t  *owner = data;

    pco_upstream_hash_free(owner->heap);
    owner->heap = NULL;
}

static int
pco_upstream_hash_init(pco_conf_t *cf, pco_upstream_t *u)
{
    pco_upstream_hash_ring_t  *ring;

    if (cf != NULL && u->hash_key == NULL) {
        pco_conf_error_src(cf, &u->node->src, "upstream \"%.*s\": balance = \"hash\" needs "
                           "hash_key", (int) u->name.len, u->name.data);
        return PCO_ERROR;
    }
    if (u->nservers > u->nprimary) {
        if (cf != NULL) {
            pco_conf_error_src(cf, &u->node->src, "upstream \"%.*s\": backup servers cannot "
                               "be used with balance = \"hash\"", (int) u->name.len,
                               u->name.data);
        }
        return PCO_ERROR;
    }
    ring = pco_upstream_hash_build(u);
    if (ring == NULL) {
        return PCO_ERROR;
    }
    if (cf != NULL) {
        /* the ring lives as long as the cycle pool */
        if (pco_pool_cleanup_add(cf->pool, free, ring->points) != PCO_OK
            || pco_pool_cleanup_add(cf->pool, free, ring) != PCO_OK)
        {
            return PCO_ERROR;
        }
        ring->pooled = true;
        ring->owner = pco_pcalloc(cf->pool, sizeof(pco_upstream_hash_owner_t));
        if (ring->owner == NULL
            || pco_pool_cleanup_add(cf->pool, pco_upstream_hash_owner_free, ring->owner)
               != PCO_OK)
        {
            return PCO_ERROR;
        }
    }
    u->balancer_data = ring;
    return PCO_OK;
}

/* Positions changed: this process rebuilds its ring (keys of servers that stay keep their
 * server; only the keys of a server removed, or taken by one added, move). */
static void
pco_upstream_hash_update(pco_upstream_t *u)
{
    pco_upstream_hash_ring_t  *ring = pco_upstream_hash_build(u), *old = u->balancer_data;

    if (ring == NULL) {
        return;                           /* keep the previous ring */
    }
    ring->owner = old != NULL ? old->owner : NULL;
    u->balancer_data = ring;
    if (old != NULL && !old->pooled) {
        pco_upstream_hash_free(old);
    }
    if (ring->owner != NULL) {
        ring->owner->heap = ring;         /* freed with the cycle */
    }
}

static pco_upstream_server_t *
pco_upstream_hash_pick(pco_upstream_t *u, const pco_str_t *key, const uint64_t *tried,
                       bool backup)
{
    pco_upstream_hash_ring_t  *ring = u->balancer_data;
    uint32_t                   h;
    size_t                     lo, hi, mid, i, n;

    if (backup || ring == NULL || ring->n == 0) {
        return NULL;
    }
    h = key != NULL ? pco_upstream_hash_crc32(key) : 0;
    lo = 0;
    hi = ring->n;
    while (lo < hi) {                 /* first point with hash >= h */
        mid = lo + (hi - lo) / 2;
        if (ring->points[mid].hash < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    n = ring->n;
    for (i = 0; i < n; i++) {
        pco_upstream_server_t  *s = &u->servers[ring->points[(lo + i) % n].server];

        if (pco_upstream_candidate(s, tried, false)) {
            return s;
        }
    }
    return NULL;
}
