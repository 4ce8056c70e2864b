/*
 * pco_bcache.h: per-worker caches of fixed-size buffers, each buffer a mapping of its own,
 * and the worker's reclaim timer, which gives memory back after a burst.
 *
 * Why mappings and not malloc: a request that needs a large buffer (a 64 KiB response relay
 * buffer, a 16 KiB response head buffer) holds it while it is in flight. From malloc, such
 * blocks land wherever the heap has room, often at its top; a few of them still live after a
 * burst pin the whole heap below them, so glibc can neither shrink it nor (without
 * malloc_trim) give its free pages back, and a heap that is shrunk and regrown at the top
 * under load costs brk calls and fresh page faults. A buffer mapped on its own never pins
 * anything: it goes back with one munmap whatever else lives.
 *
 * Why a free list and a timer: mapping and unmapping per request would trade the brk churn
 * for mmap churn. So a buffer given back goes on the cache's free list (LIFO, so the hot ones
 * are reused), and the list is trimmed only by the reclaim timer, once a second and only
 * while there is something to trim: buffers that stayed free for a whole tick (the lowest
 * the free count fell since the previous tick) are unmapped, down to `low`, which is kept
 * for the next request. Under a steady load every buffer is reused within a tick, so nothing
 * is unmapped and no system call is made; after a burst, the free buffers go within two
 * ticks. max_free bounds what a cache holds: a buffer given back to a full list is unmapped
 * at once.
 *
 * The same timer calls malloc_trim(0) once when the worker went from busy to quiet. Busy:
 * the number of live pools (core/pco_pool.c) reached 64 more than at the last quiet point, or
 * 64 connections were accepted since then. Quiet: the live pools fell to a quarter of the
 * highest seen and stopped falling (from one tick to the next), and connections are accepted
 * at an eighth of the busiest rate or less. Request memory lives in pools, and a TLS
 * handshake allocates tens of KiB it frees once done, between blocks that stay as long as
 * the connection: so this is when the heap has free pages to return. While busy the timer
 * ticks every 250 ms, so that they go back within half a second of the burst's end.
 * malloc_trim is never called on the request path nor under a steady load. Since the heap
 * now goes back that way, free() is told to leave up to 8 MiB at its top instead of
 * shrinking it under load (M_TRIM_THRESHOLD). Nothing here is shared between processes;
 * never blocks.
 */
#ifndef PCO_BCACHE_H
#define PCO_BCACHE_H

#include "pco_core.h"

typedef struct pco_bcache_s pco_bcache_t;

struct pco_bcache_s {
    const char     *name;        /* counters buffers_*:NAME (status module) */
    size_t          size;        /* bytes per buffer, a multiple of the page size */
    unsigned        low;         /* free buffers kept however long unused */
    unsigned        max_free;    /* free buffers kept at most */

    void           *free;        /* the free list: a free buffer's first word links the next */
    unsigned        nfree;
    unsigned        nused;       /* taken and not given back */
    unsigned        min_free;    /* lowest nfree since the last trim */
    bool            listed;      /* on the reclaim timer's list */
    pco_bcache_t   *next;
    uint64_t        maps;        /* mmap and munmap calls made, for tests and measurements */
    uint64_t        unmaps;
    int             c_taken;     /* counter ids (pco_bcache_counters), -1: not counted */
    int             c_in_use;
    int             c_mapped;
};

#define PCO_BCACHE_INIT(name, size, low, max_free)                                      \
    { (name), (size), (low), (max_free), NULL, 0, 0, 0, false, NULL, 0, 0, -1, -1, -1 }

/* A buffer of bc->size bytes (contents undefined), from the free list or freshly mapped;
 * NULL (logged) when mapping fails. */
void *pco_bcache_take(pco_bcache_t *bc);
/* Gives back a buffer taken from bc: kept on the free list, or unmapped when the list is
 * full. Arms the reclaim timer when the list holds more than low. */
void pco_bcache_give(pco_bcache_t *bc, void *b);
/* Unmaps the free buffers not taken since the previous call (down to low); the count. The
 * reclaim timer calls it; exposed for tests. */
unsigned pco_bcache_trim(pco_bcache_t *bc);
/* Registers bc's counters buffers_taken:NAME (monotonic), buffers_in_use:NAME and
 * buffers_mapped_bytes:NAME (gauges); conf_done of the owning module. PCO_OK/PCO_ERROR. */
int pco_bcache_counters(pco_conf_t *cf, pco_cycle_t *cycle, pco_bcache_t *bc);

/* The reclaim timer. pco_reclaim_init: in a worker, after pco_event_init; until then
 * nothing arms it (the master and tools never do). pco_reclaim_tick is its handler's work,
 * exposed for tests, as are the flags below. */
#define PCO_RECLAIM_MS       1000
#define PCO_RECLAIM_BUSY_MS  250     /* the tick while busy */
#define PCO_RECLAIM_BUSY     64      /* live pools above the quiet level, or connections
                                        accepted since it: busy */
/* what free() may leave at the top of a worker's heap (M_TRIM_THRESHOLD; glibc's default is
 * 128 KiB); the rest goes back when the worker goes quiet (malloc_trim) */
#define PCO_RECLAIM_TRIM_THRESHOLD  (8 << 20)

void pco_reclaim_init(void);
void pco_reclaim_tick(void);
bool pco_reclaim_armed(void);
bool pco_reclaim_busy(void);
uint64_t pco_reclaim_heap_trims(void);   /* malloc_trim calls made */
uint64_t pco_reclaim_tick_count(void);   /* ticks run */
/* A connection was accepted (core/pco_listen.c). */
void pco_reclaim_conn_opened(void);

#endif
