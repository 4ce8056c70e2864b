/*
 * pco_shm.h: shared memory zones, robust process-shared locks, per-worker counter slots.
 *
 * Each named zone is its own anonymous shared mapping created by the master before fork.
 * On reload a zone whose name, size and owner tag are unchanged keeps its mapping and its
 * data (init gets old_data != NULL); otherwise it starts fresh and a notice says so.
 *
 * Counters: a core zone with a fixed capacity of named 64-bit counters x slots. Each worker
 * (and helper) writes only its own slot, without atomics; readers sum all slots. When a
 * process ends, the master folds its monotonic counters into the retired slot 0 and clears
 * its gauges, so totals stay monotonic across worker deaths and reloads.
 */
#ifndef PCO_SHM_H
#define PCO_SHM_H

#include "pco_core.h"
#include <pthread.h>

typedef int (*pco_shm_init_pt)(pco_shm_zone_t *zone, void *old_data);

struct pco_shm_zone_s {
    pco_str_t        name;
    size_t           size;
    void            *addr;       /* the mapping (size bytes), set by the master */
    const void      *tag;        /* owner (module descriptor) */
    pco_shm_init_pt  init;       /* master, after mapping; old_data = kept mapping or NULL */
    void            *data;       /* owner's pointer into the zone */
    bool             reused;
    bool             core_budget; /* counts against `shared_memory` (health and statistics) */
};

/* Declares a zone (conf_done). A second declaration with the same name and tag returns the
 * same zone; with another tag or size it is an error (NULL after pco_conf_error_src). */
pco_shm_zone_t *pco_shm_zone_add(pco_conf_t *cf, pco_cycle_t *cycle, const char *name,
                                 size_t size, const void *tag, pco_shm_init_pt init);
/* Master: map (or keep from old) every zone of cycle and run the init callbacks. */
int pco_shm_zones_create(pco_cycle_t *cycle, pco_cycle_t *old);
/* Master: unmap the zones of old that cycle did not keep. */
void pco_shm_zones_release(pco_cycle_t *old, pco_cycle_t *keep);

/* A process-shared robust mutex: a holder killed mid-update never blocks the others
 * (EOWNERDEAD is repaired by marking the mutex consistent). */
typedef struct {
    pthread_mutex_t  mutex;
} pco_shmtx_t;

int pco_shmtx_init(pco_shmtx_t *mtx);
void pco_shmtx_lock(pco_shmtx_t *mtx);
bool pco_shmtx_trylock(pco_shmtx_t *mtx);
void pco_shmtx_unlock(pco_shmtx_t *mtx);

/* ---- counters ---- */

#define PCO_COUNTERS_MAX      2048     /* distinct counters per instance */
#define PCO_COUNTER_SLOTS     (2 * PCO_MAX_WORKERS_SLOTS + 1)
#define PCO_MAX_WORKERS_SLOTS 80       /* live processes (two generations + helpers) */
#define PCO_COUNTER_NAME_LEN  96

typedef enum { PCO_COUNTER_MONOTONIC = 0, PCO_COUNTER_GAUGE = 1 } pco_counter_kind_e;

/* Registers (or finds) a named counter; returns its id, or -1 (error reported) when full.
 * Names are stable across reloads, so totals continue. */
int pco_counter_register(pco_conf_t *cf, pco_cycle_t *cycle, const char *name,
                         pco_counter_kind_e kind);

extern int64_t *pco_counter_slot;      /* this process's slot (worker/helper), else NULL */

static inline void
pco_counter_add(int id, int64_t n)
{
    if (pco_counter_slot != NULL && id >= 0) {
        pco_counter_slot[id] += n;
    }
}

/* A gauge that this process owns outright (its RSS, the master's start time): its slot's
 * value becomes v. */
static inline void
pco_counter_set(int id, int64_t v)
{
    if (pco_counter_slot != NULL && id >= 0) {
        pco_counter_slot[id] = v;
    }
}

/* Sum over all slots (any process). */
int64_t pco_counter_read(int id);
int pco_counter_find(const char *name);          /* id or -1 */
const char *pco_counter_name(int id);
int pco_counter_count(void);                     /* registered so far */

/* Master: a slot for a new process (-1 when none free); fold it back when it ends. */
int pco_counter_slot_alloc(void);
void pco_counter_slot_fold(int slot);
/* Child: start writing into slot. */
void pco_counter_slot_attach(int slot);

/* The counters zone memory layout is internal; exposed for unit tests. */
size_t pco_counters_zone_size(void);
void pco_counters_attach_memory(void *addr, bool fresh);

#endif
