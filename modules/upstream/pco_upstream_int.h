/*
 * pco_upstream_int.h: internals shared by the upstream module's files (not a public API;
 * exposed for the unit tests): the generation data, the shared zone's layout and slot
 * assignment (pco_upstream_zone.c) and the connection counters' hooks.
 */
#ifndef PCO_UPSTREAM_INT_H
#define PCO_UPSTREAM_INT_H

#include "pco_upstream.h"

/* Per generation (cycle->module_ctx). */
typedef struct {
    pco_upstream_t                   *upstreams;
    unsigned                          n;
    unsigned                          total;       /* servers of all upstreams */
    unsigned                          positions;   /* capacities of all upstreams */
    const pco_upstream_balancer_t    *balancers[16];
    unsigned                          nbalancers;
    pco_shm_zone_t                   *zone;
    uint64_t                         *keys;        /* per server, in upstream order */
    pco_upstream_try_pt               observers[8];  /* pco_upstream_try_observer_add */
    unsigned                          nobservers;
    pco_str_t                        *names;       /* every name written, built or not */
    unsigned                          nnames;
} pco_upstream_ctx_t;

/* The cycle's pco_upstream_ctx_t, allocated on first use (any module's conf_done may
 * register before the upstream module's own runs); NULL when memory is short. */
pco_upstream_ctx_t *pco_upstream_ctx(pco_cycle_t *cycle);

/* The zone "pco_upstreams": a header then `capacity` slots. */
typedef struct {
    uint64_t                key;       /* 0 = free */
    uint64_t                pad;
    pco_upstream_shared_t   st;
} pco_upstream_slot_t;

typedef struct {
    uint64_t                magic;
    uint64_t                capacity;
    uint64_t                version;   /* bumped after every runtime change (atomics) */
    uint64_t                pad[5];
    pco_shmtx_t             lock;      /* runtime changes and the views' refresh */
} pco_upstream_zone_hdr_t;

#define PCO_UPSTREAM_ZONE_MAGIC  0x70636f7570737432ull

/* The slots array of a zone. */
#define pco_upstream_zone_slots(hdr)  ((pco_upstream_slot_t *) ((pco_upstream_zone_hdr_t *) \
                                                                 (hdr) + 1))

/* init_master (pco_upstream_dyn.c): the dynamic API servers of u kept in the zone by the
 * previous generation, copied out before the slots are reassigned: their keys go into the
 * key list (new positions from u->nservers), and pco_upstream_dyn_restore gives the
 * slots their new positions once assigned. Returns how many (at most max). */
unsigned pco_upstream_dyn_collect(void *zone, pco_upstream_t *u, uint64_t *keys,
                                  unsigned max);
/* After pco_upstream_zone_assign: marks the configured slots of u (upstream_key, origin,
 * position, in_use) and the n carried dynamic ones (positions nservers..). */
void pco_upstream_dyn_restore(pco_upstream_t *u, pco_upstream_shared_t **st, unsigned n);
/* The key of a dynamic server's slot. */
uint64_t pco_upstream_dyn_key(const pco_upstream_t *u, const char *name);

/* Bytes of the zone for `total` servers: at least 64 slots, a power of two >= 2 * total, so
 * the size (and therefore the zone, across a reload) stays the same for small changes. */
size_t pco_upstream_zone_size(size_t total);
/* The zone's init callback: keeps old data with the right magic, else starts empty. */
int pco_upstream_zone_init(pco_shm_zone_t *zone, void *old_data);
/* The slot key of a server: FNV-1a of upstream name, configured and resolved address; never
 * 0. */
uint64_t pco_upstream_server_key(const pco_str_t *upstream, const pco_str_t *configured,
                                 const pco_str_t *resolved);
/* Gives each of the n keys a slot of the zone at addr (set up by pco_upstream_zone_init):
 * a key that has a slot keeps it with its state; a new key takes a free slot (fresh state);
 * slots of keys not in the list are cleared. out[i] receives key i's state. PCO_ERROR when
 * the zone is too small or memory is short (nothing is logged). */
int pco_upstream_zone_assign(void *addr, const uint64_t *keys, size_t n,
                             pco_upstream_shared_t **out);

/* Counters (pco_upstream.h): registered at conf_done; the exit hooks log them at info. */
int pco_upstream_counters_register(pco_conf_t *cf, pco_cycle_t *cycle);
void pco_upstream_exit_worker(pco_cycle_t *cycle);
void pco_upstream_exit_master(pco_cycle_t *cycle);

#endif
