/*
 * pco_upstream_zone.c: the shared zone "pco_upstreams" (docs/architecture.md) that holds
 * one pco_upstream_shared_t per server for the whole instance, and the upstream connection
 * counters.
 *
 * Slots are keyed by a hash of "upstream name, configured address, resolved address". At
 * every load (init_master, master process) each server of the new generation takes the
 * slot with its key, so a server that stays in the configuration keeps its passive-health
 * state across a reload (the zone itself is kept when its size is unchanged); a new server
 * takes a free slot with fresh state, and the slot of a server that left is cleared, so one
 * that comes back later starts fresh. Health and statistics are sized from the
 * configuration and never evicted.
 *
 * Counters "upstream_requests", "upstream_conn_reused", "upstream_conn_opened" live in the
 * per-worker counter slots (core/pco_shm.h); exit_worker logs the worker's own at info,
 * exit_master the instance totals.
 */
#include <stdlib.h>
#include "pco_upstream_int.h"
#include "pco_log.h"

int  pco_upstream_ctr_requests = -1;
int  pco_upstream_ctr_reused = -1;
int  pco_upstream_ctr_opened = -1;

size_t
pco_upstream_zone_size(size_t total)
{
    size_t  cap = 64;

    while (cap < 2 * total) {
        cap <<= 1;
    }
    return sizeof(pco_upstream_zone_hdr_t) + cap * sizeof(pco_upstream_slot_t);
}

int
pco_upstream_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_upstream_zone_hdr_t  *hdr = zone->addr;

    if (old_data == NULL || hdr->magic != PCO_UPSTREAM_ZONE_MAGIC) {
        memset(zone->addr, 0, zone->size);
        hdr->magic = PCO_UPSTREAM_ZONE_MAGIC;
        hdr->capacity = (zone->size - sizeof(pco_upstream_zone_hdr_t))
                        / sizeof(pco_upstream_slot_t);
        hdr->version = 1;
        if (pco_shmtx_init(&hdr->lock) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    zone->data = zone->addr;
    return PCO_OK;
}

static uint64_t
pco_upstream_fnv(uint64_t h, const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= 0xff;              /* separator */
    h *= 0x100000001b3ull;
    return h;
}

uint64_t
pco_upstream_server_key(const pco_str_t *upstream, const pco_str_t *configured,
                        const pco_str_t *resolved)
{
    uint64_t  h = 0xcbf29ce484222325ull;

    h = pco_upstream_fnv(h, upstream->data, upstream->len);
    h = pco_upstream_fnv(h, configured->data, configured->len);
    h = pco_upstream_fnv(h, resolved->data, resolved->len);
    return h ? h : 1;
}

int
pco_upstream_zone_assign(void *addr, const uint64_t *keys, size_t n,
                         pco_upstream_shared_t **out)
{
    pco_upstream_zone_hdr_t  *hdr = addr;
    pco_upstream_slot_t      *slots = (pco_upstream_slot_t *) (hdr + 1);
    unsigned char            *used;
    size_t                    cap = hdr->capacity, i, k, free_from = 0;

    used = calloc(cap ? cap : 1, 1);
    if (used == NULL) {
        return PCO_ERROR;
    }
    /* pass 1: keys that have a slot keep it (and its state) */
    for (i = 0; i < n; i++) {
        out[i] = NULL;
        for (k = 0; k < cap; k++) {
            if (slots[k].key == keys[i] && !used[k]) {
                used[k] = 1;
                out[i] = &slots[k].st;
                break;
            }
        }
    }
    /* pass 2: new keys take a never-used slot, else one no key of this load holds */
    for (i = 0; i < n; i++) {
        if (out[i] != NULL) {
            continue;
        }
        for (k = free_from; k < cap; k++) {
            if (!used[k] && slots[k].key == 0) {
                break;
            }
        }
        if (k == cap) {
            for (k = 0; k < cap && used[k]; k++) { }
        }
        if (k == cap) {
            free(used);
            return PCO_ERROR;
        }
        free_from = k + 1;
        used[k] = 1;
        memset(&slots[k], 0, sizeof(slots[k]));
        slots[k].key = keys[i];
        out[i] = &slots[k].st;
    }
    /* pass 3: servers that left the configuration lose their state */
    for (k = 0; k < cap; k++) {
        if (!used[k] && slots[k].key != 0) {
            memset(&slots[k], 0, sizeof(slots[k]));
        }
    }
    free(used);
    return PCO_OK;
}

/* ---- counters ---- */

int
pco_upstream_counters_register(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_upstream_ctr_requests = pco_counter_register(cf, cycle, "upstream_requests",
                                                     PCO_COUNTER_MONOTONIC);
    pco_upstream_ctr_reused = pco_counter_register(cf, cycle, "upstream_conn_reused",
                                                   PCO_COUNTER_MONOTONIC);
    pco_upstream_ctr_opened = pco_counter_register(cf, cycle, "upstream_conn_opened",
                                                   PCO_COUNTER_MONOTONIC);
    if (pco_upstream_ctr_requests < 0 || pco_upstream_ctr_reused < 0
        || pco_upstream_ctr_opened < 0)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* One info line: this worker's slot, or the instance totals. */
static void
pco_upstream_log_counters(const char *who, int64_t req, int64_t reused, int64_t opened)
{
    if (pco_log == NULL) {
        return;
    }
    pco_log_err(PCO_LOG_INFO, pco_log, 0, "upstream connections (%s): requests %lld, reused "
                "%lld, opened %lld", who, (long long) req, (long long) reused,
                (long long) opened);
}

void
pco_upstream_exit_worker(pco_cycle_t *cycle)
{
    int64_t  req;

    pco_unused(cycle);
    if (pco_counter_slot == NULL || pco_upstream_ctr_requests < 0) {
        return;
    }
    req = pco_counter_slot[pco_upstream_ctr_requests];
    if (req == 0) {
        return;              /* helpers, and workers that proxied nothing */
    }
    pco_upstream_log_counters("worker", req, pco_counter_slot[pco_upstream_ctr_reused],
                              pco_counter_slot[pco_upstream_ctr_opened]);
}

void
pco_upstream_exit_master(pco_cycle_t *cycle)
{
    pco_unused(cycle);
    if (pco_upstream_ctr_requests < 0) {
        return;
    }
    pco_upstream_log_counters("total", pco_counter_read(pco_upstream_ctr_requests),
                              pco_counter_read(pco_upstream_ctr_reused),
                              pco_counter_read(pco_upstream_ctr_opened));
}
