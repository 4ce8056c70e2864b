/*
 * pco_pool.h: region allocator with a hard byte budget. Every allocation belongs to a pool
 * (cycle, connection or request) and is freed when the pool is destroyed. Crossing the
 * budget returns NULL so the caller can answer 431/413/500 instead of growing without bound.
 */
#ifndef PCO_POOL_H
#define PCO_POOL_H

#include "pco_core.h"

typedef void (*pco_pool_cleanup_pt)(void *data);

/* block_size: size of each chunk requested from malloc; budget: total bytes the pool may
 * hand out (0 = unlimited). Large allocations (> block_size / 2) get their own malloc. */
pco_pool_t *pco_pool_create(size_t block_size, size_t budget);
void pco_pool_destroy(pco_pool_t *pool);          /* runs cleanups, frees everything */
void *pco_palloc(pco_pool_t *pool, size_t size);  /* 16-byte aligned, NULL on budget/OOM */
void *pco_pcalloc(pco_pool_t *pool, size_t size); /* zeroed */
void *pco_pnalloc(pco_pool_t *pool, size_t size); /* unaligned (strings) */
/* Frees a large allocation early (returns its bytes to the budget); ignores small ones. */
void pco_pfree(pco_pool_t *pool, void *p);
u_char *pco_pstrdup(pco_pool_t *pool, const pco_str_t *s);   /* NUL-terminated copy */
char *pco_pstrndup(pco_pool_t *pool, const char *s, size_t len);
int pco_pool_cleanup_add(pco_pool_t *pool, pco_pool_cleanup_pt handler, void *data);
size_t pco_pool_used(const pco_pool_t *pool);     /* bytes handed out so far */
size_t pco_pool_budget(const pco_pool_t *pool);

/* What a pool cost so far: chunks of block_size and large allocations taken from malloc,
 * and bytes cleared by pco_pcalloc. Counted always (three additions), so that a test or a
 * debug log can say how much a request costs without a special build. */
typedef struct {
    size_t  chunks;
    size_t  large;
    size_t  zeroed;
} pco_pool_stats_t;
const pco_pool_stats_t *pco_pool_stats(const pco_pool_t *pool);

/* Who is allocating now (a module name the owner of the pool sets before handing control
 * to a module), and what to call the first time an allocation crosses the budget: the
 * request pools log it with the module's name, since the caller only sees NULL. */
typedef void (*pco_pool_over_pt)(pco_pool_t *pool, void *data, size_t wanted);
void pco_pool_set_over(pco_pool_t *pool, pco_pool_over_pt over, void *data);
void pco_pool_set_owner(pco_pool_t *pool, const char *owner);
const char *pco_pool_owner(const pco_pool_t *pool);

/* Pools alive in this process, and an alarm: when pco_pool_create brings the count up to
 * pco_pool_alarm (0: no alarm), pco_pool_alarm_hook runs. The worker's reclaim timer
 * (pco_bcache.c) uses it to learn, at the cost of one compare per pool, that the worker got
 * busy. */
extern size_t  pco_pool_nlive;
extern size_t  pco_pool_alarm;
extern void  (*pco_pool_alarm_hook)(void);

/* Growable array whose storage lives in a pool. */
typedef struct {
    void        *elts;
    size_t       nelts;
    size_t       size;
    size_t       nalloc;
    pco_pool_t  *pool;
} pco_array_t;

int pco_array_init(pco_array_t *a, pco_pool_t *pool, size_t n, size_t size);
pco_array_t *pco_array_create(pco_pool_t *pool, size_t n, size_t size);
void *pco_array_push(pco_array_t *a);             /* NULL on budget/OOM */

#endif
