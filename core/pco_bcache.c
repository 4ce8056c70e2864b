/*
 * pco_bcache.c: per-worker caches of fixed-size buffers in mappings of their own, and the
 * worker's reclaim timer (why both are done this way: pco_bcache.h). Touches only
 * per-process statics and this process's counter slot.
 */
#include <malloc.h>
#include <stdio.h>
#include <sys/mman.h>
#include "pco_bcache.h"
#include "pco_event.h"
#include "pco_log.h"
#include "pco_pool.h"
#include "pco_shm.h"

#if defined(PCO_HAVE_SANITIZERS) || defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* A free buffer is poisoned but for its link word, so that a use after it was given back
 * is still reported, as it would be for a heap block. */
#define PCO_BCACHE_POISON(b, n)    ASAN_POISON_MEMORY_REGION(b, n)
#define PCO_BCACHE_UNPOISON(b, n)  ASAN_UNPOISON_MEMORY_REGION(b, n)
#else
#define PCO_BCACHE_POISON(b, n)    ((void) (b), (void) (n))
#define PCO_BCACHE_UNPOISON(b, n)  ((void) (b), (void) (n))
#endif

static pco_bcache_t  *pco_bcaches;           /* caches that ever gave a buffer back */
static pco_event_t    pco_reclaim_ev;
static bool           pco_reclaim_on;         /* pco_reclaim_init ran (a worker) */
static bool           pco_reclaim_is_busy;
static size_t         pco_reclaim_peak;       /* most live pools seen while busy */
static size_t         pco_reclaim_last;       /* live pools at the previous tick */
static size_t         pco_reclaim_base;       /* live pools at the last quiet point */
static uint64_t       pco_reclaim_trims;
static uint64_t       pco_reclaim_ticks;
static pco_msec_t     pco_reclaim_caches_at;  /* when the caches were last trimmed */
/* connections opened: in all, when that count makes the worker busy (0: not armed), at the
 * previous tick, and the most opened between two ticks while busy */
static uint64_t       pco_reclaim_opened;
static uint64_t       pco_reclaim_opened_alarm;
static uint64_t       pco_reclaim_opened_last;
static uint64_t       pco_reclaim_opened_peak;

static void pco_reclaim_arm(void);

static void
pco_bcache_unmap(pco_bcache_t *bc, void *b)
{
    PCO_BCACHE_UNPOISON(b, bc->size);
    if (munmap(b, bc->size) == -1) {
        pco_log_err(PCO_LOG_ALERT, pco_log, errno, "munmap() of a %zu-byte buffer failed",
                    bc->size);
    }
    bc->unmaps++;
    pco_counter_add(bc->c_mapped, -(int64_t) bc->size);
}

void *
pco_bcache_take(pco_bcache_t *bc)
{
    void  *b = bc->free;

    if (b != NULL) {
        PCO_BCACHE_UNPOISON(b, bc->size);
        bc->free = *(void **) b;
        if (--bc->nfree < bc->min_free) {
            bc->min_free = bc->nfree;
        }
    } else {
        b = mmap(NULL, bc->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED) {
            pco_log_err(PCO_LOG_ERR, pco_log, errno, "mmap() of a %zu-byte buffer failed",
                        bc->size);
            return NULL;
        }
        bc->maps++;
        pco_counter_add(bc->c_mapped, (int64_t) bc->size);
    }
    bc->nused++;
    pco_counter_add(bc->c_taken, 1);
    pco_counter_add(bc->c_in_use, 1);
    return b;
}

void
pco_bcache_give(pco_bcache_t *bc, void *b)
{
    if (b == NULL) {
        return;
    }
    bc->nused--;
    pco_counter_add(bc->c_in_use, -1);
    if (bc->nfree >= bc->max_free) {
        pco_bcache_unmap(bc, b);
        return;
    }
    *(void **) b = bc->free;
    PCO_BCACHE_POISON((u_char *) b + sizeof(void *), bc->size - sizeof(void *));
    bc->free = b;
    bc->nfree++;
    if (bc->nfree > bc->low) {
        if (!bc->listed) {
            bc->listed = true;
            bc->next = pco_bcaches;
            pco_bcaches = bc;
        }
        pco_reclaim_arm();
    }
}

unsigned
pco_bcache_trim(pco_bcache_t *bc)
{
    unsigned  n = 0, idle = pco_min(bc->min_free, bc->nfree);
    void     *b;

    while (idle > bc->low && bc->free != NULL) {
        b = bc->free;
        PCO_BCACHE_UNPOISON(b, sizeof(void *));
        bc->free = *(void **) b;
        bc->nfree--;
        idle--;
        pco_bcache_unmap(bc, b);
        n++;
    }
    bc->min_free = bc->nfree;
    return n;
}

int
pco_bcache_counters(pco_conf_t *cf, pco_cycle_t *cycle, pco_bcache_t *bc)
{
    char  name[PCO_COUNTER_NAME_LEN];

    snprintf(name, sizeof(name), "buffers_taken:%s", bc->name);
    bc->c_taken = pco_counter_register(cf, cycle, name, PCO_COUNTER_MONOTONIC);
    snprintf(name, sizeof(name), "buffers_in_use:%s", bc->name);
    bc->c_in_use = pco_counter_register(cf, cycle, name, PCO_COUNTER_GAUGE);
    snprintf(name, sizeof(name), "buffers_mapped_bytes:%s", bc->name);
    bc->c_mapped = pco_counter_register(cf, cycle, name, PCO_COUNTER_GAUGE);
    return bc->c_taken < 0 || bc->c_in_use < 0 || bc->c_mapped < 0 ? PCO_ERROR : PCO_OK;
}

/* ---- the reclaim timer ---- */

static void
pco_reclaim_arm(void)
{
    if (pco_reclaim_on && pco_reclaim_ev.timer_index == 0) {
        pco_event_add_timer(&pco_reclaim_ev,
                            pco_reclaim_is_busy ? PCO_RECLAIM_BUSY_MS : PCO_RECLAIM_MS);
    }
}

/* The live pools or the connections opened reached their alarm: the worker is busy; both
 * alarms are off until it is quiet again (no call per pool meanwhile). A tick already due
 * later than a busy one is brought forward. */
static void
pco_reclaim_alarm(void)
{
    pco_reclaim_is_busy = true;
    pco_reclaim_peak = pco_pool_nlive;
    pco_reclaim_last = pco_pool_nlive;
    pco_pool_alarm = 0;
    pco_reclaim_opened_alarm = 0;
    pco_reclaim_opened_last = pco_reclaim_opened;
    pco_reclaim_opened_peak = 0;
    if (pco_reclaim_ev.timer_index != 0) {
        pco_event_del_timer(&pco_reclaim_ev);
    }
    pco_reclaim_arm();
}

void
pco_reclaim_conn_opened(void)
{
    if (++pco_reclaim_opened == pco_reclaim_opened_alarm) {
        pco_reclaim_alarm();
    }
}

/* Busy to quiet: the live pools fell to a quarter of the most seen (or to where they were
 * at the last quiet point, for a burst of connections that made few requests) and stopped falling
 * (trimming while the last requests of a burst end would leave their memory behind), and
 * connections open at an eighth of the busiest rate or less. A steady load, of requests or
 * of new connections, is never quiet. */
static bool
pco_reclaim_quiet(void)
{
    uint64_t  opened = pco_reclaim_opened - pco_reclaim_opened_last;
    bool      quiet;

    pco_reclaim_peak = pco_max(pco_reclaim_peak, pco_pool_nlive);
    pco_reclaim_opened_peak = pco_max(pco_reclaim_opened_peak, opened);
    quiet = (pco_pool_nlive <= pco_reclaim_peak / 4 || pco_pool_nlive <= pco_reclaim_base)
            && pco_pool_nlive >= pco_reclaim_last && opened <= pco_reclaim_opened_peak / 8;
    pco_reclaim_last = pco_pool_nlive;
    pco_reclaim_opened_last = pco_reclaim_opened;
    return quiet;
}

void
pco_reclaim_tick(void)
{
    pco_bcache_t  *bc;
    bool           again = false;

    pco_reclaim_ticks++;
    /* busy ticks come faster; a cache keeps the pace of PCO_RECLAIM_MS ("free for a whole
     * tick" means a second) */
    if (!pco_reclaim_is_busy || pco_current_msec - pco_reclaim_caches_at >= PCO_RECLAIM_MS) {
        pco_reclaim_caches_at = pco_current_msec;
        for (bc = pco_bcaches; bc != NULL; bc = bc->next) {
            (void) pco_bcache_trim(bc);
        }
    }
    for (bc = pco_bcaches; bc != NULL; bc = bc->next) {
        again = again || bc->nfree > bc->low;
    }
    if (pco_reclaim_is_busy) {
        if (pco_reclaim_quiet()) {
            /* the heap's free pages go back (its top, and whole free pages inside it that
             * live blocks higher up keep from being trimmed): the requests' pools, and
             * what a burst of TLS handshakes left between the connections that stay */
            (void) malloc_trim(0);
            pco_reclaim_trims++;
            pco_reclaim_is_busy = false;
            pco_reclaim_base = pco_pool_nlive;
            pco_pool_alarm = pco_pool_nlive + PCO_RECLAIM_BUSY;
            pco_reclaim_opened_alarm = pco_reclaim_opened + PCO_RECLAIM_BUSY;
        } else {
            again = true;
        }
    }
    if (again) {
        pco_reclaim_arm();
    }
}

static void
pco_reclaim_handler(pco_event_t *ev)
{
    ev->timedout = 0;
    pco_reclaim_tick();
}

void
pco_reclaim_init(void)
{
    pco_reclaim_ev.handler = pco_reclaim_handler;
    pco_reclaim_ev.data = NULL;
    pco_reclaim_ev.cancelable = 1;      /* never holds up a graceful stop */
    pco_reclaim_on = true;
    pco_reclaim_is_busy = false;
    pco_pool_alarm_hook = pco_reclaim_alarm;
    pco_reclaim_base = pco_pool_nlive;
    pco_pool_alarm = pco_pool_nlive + PCO_RECLAIM_BUSY;
    pco_reclaim_opened_alarm = pco_reclaim_opened + PCO_RECLAIM_BUSY;
    pco_reclaim_caches_at = pco_current_msec;
    /* glibc shrinks the heap at free() whenever its top holds more than 128 KiB free, so
     * under load the top of the heap is given back and taken again all the time (brk and
     * fresh page faults: about 0.7 faults per proxied request at 1,000 connections). The
     * timer gives the heap back when the worker goes quiet, so free() need not: it keeps up
     * to PCO_RECLAIM_TRIM_THRESHOLD (measured: 0.15 faults per request, brk only to grow). */
    (void) mallopt(M_TRIM_THRESHOLD, PCO_RECLAIM_TRIM_THRESHOLD);
}

bool
pco_reclaim_armed(void)
{
    return pco_reclaim_ev.timer_index != 0;
}

bool
pco_reclaim_busy(void)
{
    return pco_reclaim_is_busy;
}

uint64_t
pco_reclaim_heap_trims(void)
{
    return pco_reclaim_trims;
}

uint64_t
pco_reclaim_tick_count(void)
{
    return pco_reclaim_ticks;
}
