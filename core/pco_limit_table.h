/*
 * pco_limit_table.h: the keyed table that rate limits and connection limits keep in their
 * shared zones, and the GCRA arithmetic. Protocol-agnostic, so it lives in core/: the
 * rate_limit and conn_limit modules (and any other) use it through this header only. Pure code over a block of memory (a zone in the
 * server, malloc'ed memory in the unit tests); no allocation, no system call except the
 * robust mutex.
 *
 * Layout of a table: a header (magic, seed, robust lock, counts), a bucket array of
 * power-of-two size and a fixed array of nodes. A node holds the key's 64-bit seeded hash,
 * its full length and its first PCO_LIMIT_KEY_MAX bytes (keys match on all three), its
 * bucket chain, its place in the LRU list and two 64-bit values for the owner (rate
 * limits: the theoretical arrival time; connection limits: the count). When every node is
 * used, the least recently used node that the owner allows to go is recycled.
 *
 * Locking: pco_limit_table_lock() takes the robust process-shared mutex; when its previous
 * holder died inside the critical section the buckets, free list and LRU list are rebuilt
 * from the nodes (the nodes' values are kept), so a kill -9 at any instruction leaves a
 * usable table. Every walk is bounded by the node count.
 */
#ifndef PCO_LIMIT_TABLE_H
#define PCO_LIMIT_TABLE_H

#include "pco_core.h"
#include "pco_shm.h"

#define PCO_LIMIT_KEY_MAX     48         /* key bytes stored; longer keys match by hash too */
#define PCO_LIMIT_EVICT_SCAN  16         /* LRU nodes looked at for one eviction */

typedef struct {
    uint64_t   hash;
    uint32_t   chain;        /* next node in the bucket, index + 1 (0: end) */
    uint32_t   prev;         /* LRU neighbour towards the most recent, index + 1 */
    uint32_t   next;         /* LRU neighbour towards the least recent, index + 1 */
    uint32_t   key_len;      /* full key length */
    uint32_t   used;
    uint32_t   pad;
    u_char     key[PCO_LIMIT_KEY_MAX];
    int64_t    value[2];     /* the owner's data, zeroed for a new key */
} pco_limit_node_t;

typedef struct {
    uint32_t          magic;
    uint32_t          version;
    uint64_t          seed;
    pco_shmtx_t       lock;
    uint32_t          nnodes;
    uint32_t          nbuckets;      /* power of two */
    uint32_t          used;
    uint32_t          head;          /* most recently used, index + 1 */
    uint32_t          tail;          /* least recently used, index + 1 */
    uint32_t          free;          /* free list through chain, index + 1 */
    int64_t           last_warn;     /* msec of the last "table full" warning */
    uint64_t          evictions;
    uint64_t          repairs;
    size_t            size;          /* bytes formatted */
} pco_limit_table_t;

/* Decides whether an old node may be recycled (connection limits keep busy keys). */
typedef bool (*pco_limit_evictable_pt)(const pco_limit_node_t *node);

/* Formats size bytes at addr as an empty table; PCO_ERROR when fewer than 4 nodes fit or
 * the mutex cannot be initialised. */
int pco_limit_table_init(void *addr, size_t size, uint64_t seed);
/* True when addr holds a table formatted for exactly size bytes by this code version. */
bool pco_limit_table_valid(const void *addr, size_t size);
/* Lock / unlock (robust: repairs the table when the previous holder died). */
void pco_limit_table_lock(pco_limit_table_t *t);
void pco_limit_table_unlock(pco_limit_table_t *t);
/* Rebuilds buckets, free list and LRU list from the nodes (called under the lock). */
void pco_limit_table_repair(pco_limit_table_t *t);

uint64_t pco_limit_hash(uint64_t seed, const u_char *p, size_t len);

/* Under the lock: the node of key, made most recently used. With create, a missing key gets
 * a zeroed node, recycling the least recently used evictable node when the table is full
 * (*evicted set); NULL when the key is missing and cannot be added. */
pco_limit_node_t *pco_limit_table_get(pco_limit_table_t *t, const u_char *key, size_t len,
                                      bool create, pco_limit_evictable_pt evictable,
                                      bool *evicted);
pco_limit_node_t *pco_limit_table_node(pco_limit_table_t *t, uint32_t index);
uint32_t pco_limit_table_index(pco_limit_table_t *t, const pco_limit_node_t *node);
/* The least recently used node (for tests and diagnostics), NULL when empty. */
pco_limit_node_t *pco_limit_table_lru(pco_limit_table_t *t);

/* ---- GCRA ---- */

typedef struct {
    int64_t   interval;      /* emission interval T, microseconds (period / rate) */
    int64_t   tolerance;     /* burst * T */
} pco_gcra_t;

/* Sets g for `count` requests per `period_ms` and `burst`; PCO_ERROR when the rate is
 * zero or finer than one request per microsecond. */
int pco_gcra_init(pco_gcra_t *g, int64_t count, int64_t period_ms, int64_t burst);
/* One request at now (microseconds of a clock shared by all processes); *tat is the key's
 * theoretical arrival time (0 for a new key). Admitted: true and *tat advanced. Rejected:
 * false, *tat unchanged, *wait = microseconds until a request would be admitted and
 * *excess_milli = the would-be bucket level in thousandths of a request (as nginx logs). */
bool pco_gcra_admit(const pco_gcra_t *g, int64_t *tat, int64_t now, int64_t *wait,
                    int64_t *excess_milli);
/* Retry-After for wait microseconds: whole seconds rounded up, at least 1. */
int64_t pco_gcra_retry_after(int64_t wait);

/* The name rule of limit tables (rate_limits, conn_limits): 1 to 64 of A-Z a-z 0-9 _ - . */
bool pco_limit_name_valid(const pco_str_t *s);

/* A seed for a new table's hash (getrandom, else time and pid); never blocks. */
uint64_t pco_limit_seed(void);

#endif
