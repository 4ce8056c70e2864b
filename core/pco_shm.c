/*
 * pco_shm.c: shared memory zones, robust process-shared mutexes and the counters zone.
 *
 * Zones are declared at conf_done into cycle->shm_zones; the master maps each one as its own
 * MAP_SHARED|MAP_ANONYMOUS region before forking, keeping the previous generation's mapping
 * when name, size and owner tag are unchanged. Counters: names are registered in a
 * process-local, append-only table (so registration works during -t and before the zone
 * exists, and ids stay stable across reloads of one master) and copied into the
 * "pco_counters" zone, which holds one row of int64 per process slot; slot 0 collects the
 * monotonic counters of processes that ended.
 */
#include <stdio.h>
#include <sys/mman.h>
#include "pco_shm.h"
#include "pco_cycle.h"
#include "pco_log.h"

#define PCO_SHM_ZONES_MAX  128      /* the array never grows: zone pointers stay valid */
#define PCO_COUNTERS_ZONE  "pco_counters"
#define PCO_COUNTERS_MAGIC 0x70636f63u

static void pco_counters_detach(const void *addr);

/* ---- zones ---- */

pco_shm_zone_t *
pco_shm_zone_add(pco_conf_t *cf, pco_cycle_t *cycle, const char *name, size_t size,
                 const void *tag, pco_shm_init_pt init)
{
    pco_shm_zone_t  *z;
    pco_conf_src_t   src;
    size_t           i, len;

    len = strlen(name);
    if (cycle->shm_zones.elts == NULL
        || (cycle->shm_zones.nelts == 0 && cycle->shm_zones.nalloc < PCO_SHM_ZONES_MAX))
    {
        if (pco_array_init(&cycle->shm_zones, cycle->pool, PCO_SHM_ZONES_MAX,
                           sizeof(pco_shm_zone_t)) != PCO_OK)
        {
            return NULL;
        }
    }
    src.file = cf != NULL ? cf->file : NULL;
    src.line = 0;
    src.path = name;

    z = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (z[i].name.len != len || memcmp(z[i].name.data, name, len) != 0) {
            continue;
        }
        if (z[i].tag != tag || z[i].size != size) {
            if (cf != NULL) {
                pco_conf_error_src(cf, &src, "shared memory zone \"%s\" is already declared "
                                   "with another %s", name, z[i].tag != tag ? "owner" : "size");
            } else {
                pco_log_error(PCO_LOG_STDERR, pco_log, 0, "shared memory zone \"%s\" is "
                              "already declared differently", name);
            }
            return NULL;
        }
        return &z[i];
    }
    if (cycle->shm_zones.nelts >= cycle->shm_zones.nalloc) {
        if (cf != NULL) {
            pco_conf_error_src(cf, &src, "too many shared memory zones (%zu)",
                               cycle->shm_zones.nalloc);
        }
        return NULL;
    }
    z = pco_array_push(&cycle->shm_zones);
    if (z == NULL) {
        return NULL;
    }
    memset(z, 0, sizeof(pco_shm_zone_t));
    z->name.len = len;
    z->name.data = (u_char *) pco_pstrndup(cycle->pool, name, len);
    if (z->name.data == NULL) {
        cycle->shm_zones.nelts--;
        return NULL;
    }
    z->size = size;
    z->tag = tag;
    z->init = init;
    return z;
}

static pco_shm_zone_t *
pco_shm_zone_find(pco_cycle_t *cycle, const pco_str_t *name)
{
    pco_shm_zone_t  *z;
    size_t           i;

    if (cycle == NULL || cycle->shm_zones.elts == NULL) {
        return NULL;
    }
    z = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (z[i].name.len == name->len && memcmp(z[i].name.data, name->data, name->len) == 0) {
            return &z[i];
        }
    }
    return NULL;
}

int
pco_shm_zones_create(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_shm_zone_t  *z, *oz;
    size_t           i;
    void            *old_data;

    z = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (z[i].addr != NULL) {
            continue;          /* already mapped */
        }
        oz = pco_shm_zone_find(old, &z[i].name);
        old_data = NULL;
        if (oz != NULL && oz->addr != NULL && oz->size == z[i].size && oz->tag == z[i].tag) {
            z[i].addr = oz->addr;
            z[i].data = oz->data;
            z[i].reused = true;
            old_data = oz->addr;
        } else {
            if (oz != NULL) {
                pco_log_error(PCO_LOG_NOTICE, pco_log, 0,
                              "shared memory zone \"%.*s\" size changed, starting fresh",
                              (int) z[i].name.len, z[i].name.data);
            }
            z[i].addr = mmap(NULL, z[i].size, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (z[i].addr == MAP_FAILED) {
                z[i].addr = NULL;
                pco_log_error(PCO_LOG_STDERR, pco_log, errno,
                              "mmap(%zu) for shared memory zone \"%.*s\" failed", z[i].size,
                              (int) z[i].name.len, z[i].name.data);
                return PCO_ERROR;
            }
            z[i].reused = false;
        }
        if (z[i].init != NULL && z[i].init(&z[i], old_data) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

void
pco_shm_zones_release(pco_cycle_t *old, pco_cycle_t *keep)
{
    pco_shm_zone_t  *z, *kz;
    size_t           i;

    if (old == NULL || old->shm_zones.elts == NULL) {
        return;
    }
    z = old->shm_zones.elts;
    for (i = 0; i < old->shm_zones.nelts; i++) {
        if (z[i].addr == NULL) {
            continue;
        }
        kz = pco_shm_zone_find(keep, &z[i].name);
        if (kz == NULL || kz->addr != z[i].addr) {
            pco_counters_detach(z[i].addr);
            munmap(z[i].addr, z[i].size);
        }
        z[i].addr = NULL;
    }
}

/* ---- robust mutexes ---- */

int
pco_shmtx_init(pco_shmtx_t *mtx)
{
    pthread_mutexattr_t  attr;
    int                  rc;

    if (pthread_mutexattr_init(&attr) != 0) {
        return PCO_ERROR;
    }
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) {
        rc = pthread_mutex_init(&mtx->mutex, &attr);
    }
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        pco_log_error(PCO_LOG_ALERT, pco_log, rc, "pthread_mutex_init() failed");
        return PCO_ERROR;
    }
    return PCO_OK;
}

void
pco_shmtx_lock(pco_shmtx_t *mtx)
{
    int  rc;

    rc = pthread_mutex_lock(&mtx->mutex);
    if (rc == EOWNERDEAD) {
        /* the holder died mid-update: the data is whatever it left; the owner's structures
         * are designed to tolerate that */
        pthread_mutex_consistent(&mtx->mutex);
    } else if (rc != 0) {
        pco_log_error(PCO_LOG_ALERT, pco_log, rc, "pthread_mutex_lock() failed");
    }
}

bool
pco_shmtx_trylock(pco_shmtx_t *mtx)
{
    int  rc;

    rc = pthread_mutex_trylock(&mtx->mutex);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&mtx->mutex);
        return true;
    }
    return rc == 0;
}

void
pco_shmtx_unlock(pco_shmtx_t *mtx)
{
    pthread_mutex_unlock(&mtx->mutex);
}

/* ---- counters ---- */

typedef struct {
    uint32_t  magic;
    uint32_t  count;
    char      names[PCO_COUNTERS_MAX][PCO_COUNTER_NAME_LEN];
    uint8_t   kinds[PCO_COUNTERS_MAX];
    uint8_t   slot_used[PCO_COUNTER_SLOTS];
} pco_counters_hdr_t;

#define PCO_COUNTERS_HDR_SIZE  pco_align(sizeof(pco_counters_hdr_t), 64)

static const char           pco_counters_tag = 'c';
static char                 pco_counter_names[PCO_COUNTERS_MAX][PCO_COUNTER_NAME_LEN];
static uint8_t              pco_counter_kinds[PCO_COUNTERS_MAX];
static int                  pco_counter_n;
static pco_counters_hdr_t  *pco_counters_hdr;
static int64_t            (*pco_counters_slots)[PCO_COUNTERS_MAX];

int64_t  *pco_counter_slot;

size_t
pco_counters_zone_size(void)
{
    return PCO_COUNTERS_HDR_SIZE + sizeof(int64_t) * PCO_COUNTER_SLOTS * PCO_COUNTERS_MAX;
}

/* Copies the process-local names into the zone header (append-only, same ids). */
static void
pco_counters_sync(void)
{
    int  i;

    if (pco_counters_hdr == NULL) {
        return;
    }
    for (i = (int) pco_counters_hdr->count; i < pco_counter_n; i++) {
        memcpy(pco_counters_hdr->names[i], pco_counter_names[i], PCO_COUNTER_NAME_LEN);
        pco_counters_hdr->kinds[i] = pco_counter_kinds[i];
    }
    if ((int) pco_counters_hdr->count < pco_counter_n) {
        pco_counters_hdr->count = (uint32_t) pco_counter_n;
    }
}

void
pco_counters_attach_memory(void *addr, bool fresh)
{
    pco_counters_hdr = addr;
    if (addr == NULL) {
        pco_counters_slots = NULL;
        pco_counter_slot = NULL;
        return;
    }
    pco_counters_slots = (int64_t (*)[PCO_COUNTERS_MAX]) ((u_char *) addr
                                                          + PCO_COUNTERS_HDR_SIZE);
    if (fresh || pco_counters_hdr->magic != PCO_COUNTERS_MAGIC) {
        memset(addr, 0, pco_counters_zone_size());
        pco_counters_hdr->magic = PCO_COUNTERS_MAGIC;
    }
    pco_counters_sync();
}

/* The counters zone is going away: stop pointing into it. */
static void
pco_counters_detach(const void *addr)
{
    if (addr != NULL && addr == (const void *) pco_counters_hdr) {
        pco_counters_attach_memory(NULL, false);
    }
}

static int
pco_counters_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_counters_attach_memory(zone->addr, old_data == NULL);
    zone->data = zone->addr;
    return PCO_OK;
}

int
pco_counter_register(pco_conf_t *cf, pco_cycle_t *cycle, const char *name,
                     pco_counter_kind_e kind)
{
    int             id;
    pco_conf_src_t  src;

    if (cycle != NULL) {
        pco_shm_zone_t *zone = pco_shm_zone_add(cf, cycle, PCO_COUNTERS_ZONE,
                                                pco_counters_zone_size(), &pco_counters_tag,
                                                pco_counters_init);

        if (zone == NULL) {
            return -1;
        }
        zone->core_budget = true;
    }
    id = pco_counter_find(name);
    if (id >= 0) {
        return id;
    }
    src.file = cf != NULL ? cf->file : NULL;
    src.line = 0;
    src.path = name;
    if (strlen(name) >= PCO_COUNTER_NAME_LEN || pco_counter_n >= PCO_COUNTERS_MAX) {
        if (cf != NULL) {
            pco_conf_error_src(cf, &src, "cannot register counter \"%s\": %s", name,
                               pco_counter_n >= PCO_COUNTERS_MAX ? "too many counters"
                                                                 : "name too long");
        } else {
            pco_log_error(PCO_LOG_ALERT, pco_log, 0, "cannot register counter \"%s\"", name);
        }
        return -1;
    }
    id = pco_counter_n++;
    snprintf(pco_counter_names[id], PCO_COUNTER_NAME_LEN, "%s", name);
    pco_counter_kinds[id] = (uint8_t) kind;
    pco_counters_sync();
    return id;
}

int64_t
pco_counter_read(int id)
{
    int64_t  sum;
    int      s;

    if (pco_counters_slots == NULL || id < 0 || id >= PCO_COUNTERS_MAX) {
        return 0;
    }
    sum = 0;
    for (s = 0; s < PCO_COUNTER_SLOTS; s++) {
        sum += ((volatile int64_t *) pco_counters_slots[s])[id];
    }
    return sum;
}

int
pco_counter_find(const char *name)
{
    int  i;

    for (i = 0; i < pco_counter_n; i++) {
        if (strcmp(pco_counter_names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
pco_counter_name(int id)
{
    if (id < 0 || id >= pco_counter_n) {
        return NULL;
    }
    return pco_counter_names[id];
}

int
pco_counter_count(void)
{
    return pco_counter_n;
}

int
pco_counter_slot_alloc(void)
{
    int  s;

    if (pco_counters_hdr == NULL) {
        return -1;
    }
    for (s = 1; s < PCO_COUNTER_SLOTS; s++) {
        if (!pco_counters_hdr->slot_used[s]) {
            pco_counters_hdr->slot_used[s] = 1;
            memset(pco_counters_slots[s], 0, sizeof(pco_counters_slots[s]));
            return s;
        }
    }
    return -1;
}

void
pco_counter_slot_fold(int slot)
{
    int       id;
    int64_t   v;

    if (pco_counters_hdr == NULL || slot <= 0 || slot >= PCO_COUNTER_SLOTS) {
        return;
    }
    for (id = 0; id < PCO_COUNTERS_MAX; id++) {
        v = pco_counters_slots[slot][id];
        if (v == 0) {
            continue;
        }
        if (id < pco_counter_n && pco_counter_kinds[id] == PCO_COUNTER_MONOTONIC) {
            pco_counters_slots[0][id] += v;
        }
        pco_counters_slots[slot][id] = 0;     /* gauges (in-flight counts) just vanish */
    }
    pco_counters_hdr->slot_used[slot] = 0;
}

void
pco_counter_slot_attach(int slot)
{
    if (pco_counters_slots == NULL || slot <= 0 || slot >= PCO_COUNTER_SLOTS) {
        pco_counter_slot = NULL;
        return;
    }
    pco_counter_slot = pco_counters_slots[slot];
}
