/*
 * pco_cache_index_int.h: the layout of a cache index in its zone (see pco_cache_index.h),
 * for pco_cache_index.c and the unit tests only (which corrupt it on purpose to check the
 * repair). Nothing else may depend on it: the layout changes with PCO_CACHE_INDEX_VERSION.
 */
#ifndef PCO_CACHE_INDEX_INT_H
#define PCO_CACHE_INDEX_INT_H

#include "pco_cache_index.h"

#define PCO_CACHE_INDEX_MAGIC    0x70636369u    /* "pcci" */
#define PCO_CACHE_INDEX_VERSION  2u
#define PCO_CACHE_INDEX_MIN      16             /* nodes */
#define PCO_CACHE_EVICT_SCAN     64             /* LRU nodes looked at for one eviction */
#define PCO_CACHE_ORPHANS        128            /* evicted entries pco_cache_index_lock
                                                   could not report */

typedef struct {
    uint32_t          chain;        /* next node in the bucket, index + 1 (0: end) */
    uint32_t          prev;         /* LRU neighbour towards the most recent, index + 1 */
    uint32_t          next;         /* LRU neighbour towards the least recent, index + 1 */
    uint32_t          used;         /* set last when a node is filled */
    pco_cache_meta_t  m;            /* kind 0 with lock_pid 0 never stays used */
} pco_cache_node_t;

struct pco_cache_index_s {
    uint32_t          magic;
    uint32_t          version;
    uint64_t          path_hash;
    size_t            size;         /* bytes formatted */
    pco_shmtx_t       lock;
    uint32_t          nnodes;
    uint32_t          nbuckets;     /* power of two */
    uint32_t          head;         /* most recently used, index + 1 */
    uint32_t          tail;         /* least recently used, index + 1 */
    uint32_t          free;         /* free list through chain, index + 1 */
    uint32_t          loaded;
    /* totals: recomputed from the nodes by a repair */
    uint64_t          entries;
    uint64_t          nodes;
    uint64_t          bytes;
    uint64_t          evictions;
    uint64_t          repairs;
    uint64_t          stamp;        /* the last stamp given (pco_cache_meta_t.stamp) */
    /* "index full" warnings */
    int64_t           last_warn;    /* msec */
    uint64_t          warned_evictions;
    uint32_t          warned;
    /* ring of evicted entries' keys whose files the manager is to unlink */
    uint32_t          orphan_first;
    uint32_t          orphan_count;
    pco_cache_key_t   orphans[PCO_CACHE_ORPHANS];
};

pco_cache_node_t *pco_cache_index_nodes(pco_cache_index_t *idx);
/* Takes the zone's mutex, repairing when the previous holder died holding it. */
void pco_cache_index_mutex_lock(pco_cache_index_t *idx);
void pco_cache_index_mutex_unlock(pco_cache_index_t *idx);
/* Rebuilds buckets, free list, LRU list and totals from the nodes (under the mutex). */
void pco_cache_index_repair(pco_cache_index_t *idx);

#endif
