/*
 * pco_cache_manager.c: the "cache manager" helper process. Every second, for every zone, it
 * removes from the shared index the entries that make the zone exceed `max_size` and those
 * unused for `inactive`, least recently used first, and unlinks their files; then it
 * publishes the zone's figures: the gauges cache_entries:Z and cache_disk_bytes:Z (entries
 * and bytes on disk the index accounts for) and the monotonic cache_evictions:Z (entries
 * the index recycled because every node was in use, taken from the index's own count).
 * It also unlinks the files of entries a fetch lock recycled (pco_cache_index_orphans:
 * nobody could be told at the time).
 *
 * A tick removes at most PCO_CACHE_MANAGER_BATCH x PCO_CACHE_MANAGER_BATCHES entries per
 * zone (each batch under the index lock for a moment, each file unlinked outside it); when
 * a zone has more to remove the next tick comes sooner, so a large backlog drains quickly
 * without holding the event loop. Shared state touched: the indexes and this process's
 * counter slot (gauges are set there directly: readers sum the slots, and the master clears
 * a dead helper's gauges).
 */
#include "pco_cache.h"
#include "pco_process.h"
#include <inttypes.h>
#include <limits.h>
#include <unistd.h>

#define PCO_CACHE_MANAGER_INTERVAL  1000    /* ms between passes */
#define PCO_CACHE_MANAGER_AGAIN     10      /* ms to the next pass when a backlog remains */
#define PCO_CACHE_MANAGER_BATCH     64      /* entries per pco_cache_index_expire call */
#define PCO_CACHE_MANAGER_BATCHES   16      /* calls per zone and pass */
#define PCO_CACHE_MANAGER_LEVELS    2       /* pco_cache_zone_t.levels */

typedef struct {
    pco_cache_zone_t   *z;
    pco_cache_index_t  *idx;
    uint64_t            evictions;          /* the index's count already added to the counter */
} pco_cache_manager_zone_t;

typedef struct {
    pco_cache_manager_zone_t  *zones;
    size_t                     nzones;
    pco_event_t                timer;
} pco_cache_manager_t;

static pco_cache_manager_t  pco_cache_manager;

static void
pco_cache_manager_gauge(int id, int64_t v)
{
    if (pco_counter_slot != NULL && id >= 0) {
        pco_counter_slot[id] = v;
    }
}

/* Unlinks the file of a removed entry (markers have none). Returns its bytes. */
static uint64_t
pco_cache_manager_unlink(pco_cache_zone_t *z, const pco_cache_meta_t *m)
{
    char  path[PATH_MAX];

    if (m->kind != PCO_CACHE_NODE_ENTRY) {
        return 0;
    }
    if (pco_cache_key_path(path, sizeof(path), &z->dir, z->levels, PCO_CACHE_MANAGER_LEVELS,
                           &m->key) < 0)
    {
        return 0;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": unlink(\"%s\") failed",
                    (int) z->name.len, (const char *) z->name.data, path);
    }
    return m->file_size;
}

/* The files of entries a fetch lock recycled when the index was full (at most the
 * index's short list of them per pass). */
static void
pco_cache_manager_orphans(pco_cache_zone_t *z, pco_cache_index_t *idx)
{
    pco_cache_key_t  keys[PCO_CACHE_MANAGER_BATCH];
    char             path[PATH_MAX];
    size_t           n, i;
    unsigned         k;

    for (k = 0; k < PCO_CACHE_MANAGER_BATCHES; k++) {
        n = pco_cache_index_orphans(idx, keys, PCO_CACHE_MANAGER_BATCH);
        for (i = 0; i < n; i++) {
            if (pco_cache_key_path(path, sizeof(path), &z->dir, z->levels,
                                   PCO_CACHE_MANAGER_LEVELS, &keys[i]) > 0
                && unlink(path) != 0 && errno != ENOENT)
            {
                pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": unlink(\"%s\") "
                            "failed", (int) z->name.len, (const char *) z->name.data, path);
            }
        }
        if (n < PCO_CACHE_MANAGER_BATCH) {
            break;
        }
    }
}

/* One zone's pass. true when it stopped at its bound with more perhaps left to remove. */
static bool
pco_cache_manager_zone(pco_cache_manager_zone_t *mz)
{
    pco_cache_zone_t         *z = mz->z;
    pco_cache_meta_t          out[PCO_CACHE_MANAGER_BATCH];
    pco_cache_index_stats_t   st;
    uint64_t                  removed = 0, bytes = 0;
    int64_t                   inactive;
    size_t                    n, i;
    unsigned                  k;
    bool                      more = false;

    /* `inactive` in whole seconds, rounded up so that only 0 means "never" */
    inactive = (int64_t) ((z->inactive + 999) / 1000);
    for (k = 0; k < PCO_CACHE_MANAGER_BATCHES; k++) {
        n = pco_cache_index_expire(mz->idx, (int64_t) pco_time_sec, inactive,
                                   (uint64_t) z->max_size, out, PCO_CACHE_MANAGER_BATCH);
        for (i = 0; i < n; i++) {
            bytes += pco_cache_manager_unlink(z, &out[i]);
        }
        removed += n;
        if (n < PCO_CACHE_MANAGER_BATCH) {
            break;
        }
    }
    more = k == PCO_CACHE_MANAGER_BATCHES;
    pco_cache_manager_orphans(z, mz->idx);

    pco_cache_index_stats(mz->idx, &st);
    pco_cache_manager_gauge(z->c_entries, (int64_t) st.entries);
    pco_cache_manager_gauge(z->c_disk, (int64_t) st.bytes);
    if (st.evictions > mz->evictions) {
        pco_counter_add(z->c_evictions, (int64_t) (st.evictions - mz->evictions));
    }
    mz->evictions = st.evictions;
    if (removed > 0) {
        pco_log_err(PCO_LOG_INFO, pco_log, 0, "cache \"%.*s\": %" PRIu64 " entries removed "
                    "(%" PRIu64 " bytes), %" PRIu64 " entries and %" PRIu64 " bytes left",
                    (int) z->name.len, (const char *) z->name.data, removed, bytes,
                    st.entries, st.bytes);
    }
    return more;
}

static void
pco_cache_manager_tick(pco_event_t *ev)
{
    pco_cache_manager_t  *mg = ev->data;
    size_t                i;
    bool                  more = false;

    for (i = 0; i < mg->nzones; i++) {
        more |= pco_cache_manager_zone(&mg->zones[i]);
    }
    if (!pco_worker_exiting) {
        pco_event_add_timer(ev, more ? PCO_CACHE_MANAGER_AGAIN : PCO_CACHE_MANAGER_INTERVAL);
    }
}

int
pco_cache_manager_init(pco_cycle_t *cycle)
{
    pco_cache_manager_t      *mg = &pco_cache_manager;
    pco_cache_index_stats_t   st;
    pco_cache_manager_zone_t *mz;
    pco_cache_zone_t         *zones;
    int64_t                   counted;
    size_t                    i, n;

    n = pco_cache_zones(cycle, &zones);
    mg->zones = pco_pcalloc(cycle->pool, n * sizeof(pco_cache_manager_zone_t) + 1);
    if (mg->zones == NULL) {
        return PCO_ERROR;
    }
    mg->nzones = 0;
    for (i = 0; i < n; i++) {
        if (zones[i].zone == NULL || zones[i].zone->data == NULL) {
            continue;                       /* no index */
        }
        mz = &mg->zones[mg->nzones++];
        mz->z = &zones[i];
        mz->idx = pco_cache_zone_index(&zones[i]);
        /*
         * Only this helper adds to cache_evictions:Z, so the counter's total is what earlier
         * managers (a respawn, a reload) already added of the index's count: continue from
         * there. An index formatted afresh (keys_size changed) counts from a lower figure.
         */
        pco_cache_index_stats(mz->idx, &st);
        counted = zones[i].c_evictions >= 0 ? pco_counter_read(zones[i].c_evictions) : 0;
        mz->evictions = (uint64_t) counted <= st.evictions ? (uint64_t) counted : st.evictions;
    }
    mg->timer.data = mg;
    mg->timer.handler = pco_cache_manager_tick;
    mg->timer.cancelable = 1;
    /* the gauges are published at once, then every second */
    pco_event_add_timer(&mg->timer, 0);
    return PCO_OK;
}
