/*
 * pco_resolver_int.h: the resolver module's private types, shared by pco_resolver.c (the
 * module and its helper process) and pco_resolver_keep.c (the address sets kept across
 * reloads in the shared zone "resolver").
 */
#ifndef PCO_RESOLVER_INT_H
#define PCO_RESOLVER_INT_H

#include "pco_resolver.h"
#include "pco_upstream.h"
#include "pco_shm.h"
#include "pco_event.h"

/* The zone "resolver": names whose last set is kept across a reload, and the addresses
 * kept of each (a longer set is kept in part: the new helper's first lookup, at once,
 * brings the rest). About 135 KiB. */
#define PCO_RESOLVER_KEEP_NAMES   256
#define PCO_RESOLVER_KEEP_ADDRS   16

/* One `resolve = true` server entry (conf_done; the helper's state after it). */
typedef struct {
    pco_upstream_t     *u;
    unsigned            entry;          /* its number among the upstream's entries */
    char               *host;           /* NUL-terminated, as written */
    in_port_t           port;
    int                 ctr_lookups;
    int                 ctr_failures;
    int                 ctr_addresses;
    uint64_t            key;            /* pco_resolver_key(upstream, entry as written) */
    /* helper process */
    pco_event_t         timer;
    pco_msec_t          last;           /* interval chosen after the last success */
    bool                applied;        /* set[] is what the upstream holds now */
    int64_t             gauge;          /* what this process added to ctr_addresses */
    unsigned            nset;
    pco_sockaddr_t      set[PCO_RESOLVER_MAX_ADDRS];
    socklen_t           lens[PCO_RESOLVER_MAX_ADDRS];
    const void         *ctx;
} pco_resolver_name_t;

/* Per generation (cycle->module_ctx). */
typedef struct {
    const pco_resolver_block_t  *conf;
    pco_sockaddr_t               ns[PCO_RESOLVER_MAX_NS];
    socklen_t                    nslen[PCO_RESOLVER_MAX_NS];
    unsigned                     nns;
    pco_resolver_name_t         *names;
    unsigned                     n;
    pco_shm_zone_t              *zone;           /* "resolver": sets kept across reloads */
} pco_resolver_ctx_t;

/* pco_resolver_keep.c */
uint64_t pco_resolver_key(const pco_str_t *upstream, const pco_str_t *configured);
/* conf_done: declares the zone (PCO_ERROR after the zone module reported). */
int pco_resolver_keep_zone(pco_conf_t *cf, pco_cycle_t *cycle, pco_resolver_ctx_t *ctx);
/* Helper: stores nm's applied set (nm->set, nm->nset) under its key. */
void pco_resolver_keep_store(const pco_resolver_ctx_t *ctx, const pco_resolver_name_t *nm);
/* Master, init_master of a reload: frees the slots of names gone, hands every kept set to
 * pco_upstream_resolved_set. Always PCO_OK (a failure is a warning). */
int pco_resolver_keep_restore(pco_cycle_t *cycle, pco_cycle_t *old);

#endif
