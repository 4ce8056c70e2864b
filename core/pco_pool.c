/*
 * pco_pool.c: the region allocator. Small allocations are carved from chunks of
 * block_size bytes; large ones (> block_size / 2) get their own malloc and are listed so that
 * pco_pfree and pco_pool_destroy release them. Every byte handed out counts against the
 * pool's budget (0 = unlimited); crossing it returns NULL. Cleanups run in reverse order of
 * registration on destroy. Also the pool-backed growable array. No shared state.
 */
#include <stdlib.h>
#include "pco_pool.h"

#define PCO_POOL_ALIGN 16

typedef struct pco_pool_chunk_s pco_pool_chunk_t;
struct pco_pool_chunk_s {
    pco_pool_chunk_t  *next;
    u_char            *last;
    u_char            *end;
    size_t             pad;     /* keeps the data 16-byte aligned */
};

typedef struct pco_pool_large_s pco_pool_large_t;
struct pco_pool_large_s {
    pco_pool_large_t  *next;
    pco_pool_large_t  *prev;
    size_t             size;
    size_t             pad;
};

typedef struct pco_pool_cleanup_s pco_pool_cleanup_t;
struct pco_pool_cleanup_s {
    pco_pool_cleanup_pt   handler;
    void                 *data;
    pco_pool_cleanup_t   *next;
};

struct pco_pool_s {
    pco_pool_chunk_t    *chunks;     /* current chunk first */
    pco_pool_large_t    *large;
    pco_pool_cleanup_t  *cleanups;   /* newest first: destroy runs them in reverse order */
    size_t               block_size;
    size_t               budget;
    size_t               used;
    const char          *owner;      /* who allocates now (for the over-budget report) */
    pco_pool_over_pt     over;       /* called once, at the first allocation refused */
    void                *over_data;
    pco_pool_stats_t     stats;      /* what the pool cost so far (see pco_pool_stats) */
};

size_t   pco_pool_nlive;
size_t   pco_pool_alarm;
void   (*pco_pool_alarm_hook)(void);

pco_pool_t *
pco_pool_create(size_t block_size, size_t budget)
{
    pco_pool_t  *pool;

    if (block_size < 256) {
        block_size = 256;
    }
    pool = calloc(1, sizeof(pco_pool_t));
    if (pool == NULL) {
        return NULL;
    }
    pool->block_size = block_size;
    pool->budget = budget;
    if (++pco_pool_nlive == pco_pool_alarm) {
        pco_pool_alarm_hook();
    }
    return pool;
}

void
pco_pool_destroy(pco_pool_t *pool)
{
    pco_pool_cleanup_t  *cln;
    pco_pool_chunk_t    *ch, *chn;
    pco_pool_large_t    *l, *ln;

    if (pool == NULL) {
        return;
    }
    for (cln = pool->cleanups; cln != NULL; cln = cln->next) {
        if (cln->handler != NULL) {
            cln->handler(cln->data);
        }
    }
    for (l = pool->large; l != NULL; l = ln) {
        ln = l->next;
        free(l);
    }
    for (ch = pool->chunks; ch != NULL; ch = chn) {
        chn = ch->next;
        free(ch);
    }
    free(pool);
    pco_pool_nlive--;
}

static bool
pco_pool_charge(pco_pool_t *pool, size_t size)
{
    if (pool->budget != 0 && (size > pool->budget || pool->used > pool->budget - size)) {
        if (pool->over != NULL) {
            pco_pool_over_pt over = pool->over;

            pool->over = NULL;               /* one report per pool */
            over(pool, pool->over_data, size);
        }
        return false;
    }
    pool->used += size;
    return true;
}

static void *
pco_pool_alloc_large(pco_pool_t *pool, size_t size)
{
    pco_pool_large_t  *l;

    if (!pco_pool_charge(pool, size)) {
        return NULL;
    }
    l = malloc(sizeof(pco_pool_large_t) + size);
    if (l == NULL) {
        pool->used -= size;
        return NULL;
    }
    pool->stats.large++;
    l->size = size;
    l->prev = NULL;
    l->next = pool->large;
    if (pool->large != NULL) {
        pool->large->prev = l;
    }
    pool->large = l;
    return (u_char *) l + sizeof(pco_pool_large_t);
}

static void *
pco_pool_alloc(pco_pool_t *pool, size_t size, bool aligned)
{
    pco_pool_chunk_t  *ch;
    u_char            *p;
    int                tries;

    if (size == 0) {
        size = 1;
    }
    if (size > pool->block_size / 2) {
        return pco_pool_alloc_large(pool, size);
    }
    /* Try the two newest chunks only: older ones are nearly full and scanning them is waste. */
    for (ch = pool->chunks, tries = 0; ch != NULL && tries < 2; ch = ch->next, tries++) {
        p = aligned ? (u_char *) pco_align((uintptr_t) ch->last, PCO_POOL_ALIGN) : ch->last;
        if (p <= ch->end && (size_t) (ch->end - p) >= size) {
            if (!pco_pool_charge(pool, size)) {
                return NULL;
            }
            ch->last = p + size;
            return p;
        }
    }
    if (!pco_pool_charge(pool, size)) {
        return NULL;
    }
    ch = malloc(sizeof(pco_pool_chunk_t) + pool->block_size);
    if (ch == NULL) {
        pool->used -= size;
        return NULL;
    }
    pool->stats.chunks++;
    ch->last = (u_char *) ch + sizeof(pco_pool_chunk_t);
    ch->end = ch->last + pool->block_size;
    ch->next = pool->chunks;
    pool->chunks = ch;
    p = ch->last;
    ch->last += size;
    return p;
}

void *
pco_palloc(pco_pool_t *pool, size_t size)
{
    return pco_pool_alloc(pool, size, true);
}

void *
pco_pnalloc(pco_pool_t *pool, size_t size)
{
    return pco_pool_alloc(pool, size, false);
}

void *
pco_pcalloc(pco_pool_t *pool, size_t size)
{
    void  *p;

    p = pco_pool_alloc(pool, size, true);
    if (p != NULL) {
        memset(p, 0, size);
        pool->stats.zeroed += size;
    }
    return p;
}

void
pco_pfree(pco_pool_t *pool, void *p)
{
    pco_pool_large_t  *l;

    for (l = pool->large; l != NULL; l = l->next) {
        if ((u_char *) l + sizeof(pco_pool_large_t) == p) {
            if (l->prev != NULL) {
                l->prev->next = l->next;
            } else {
                pool->large = l->next;
            }
            if (l->next != NULL) {
                l->next->prev = l->prev;
            }
            pool->used -= l->size;
            free(l);
            return;
        }
    }
}

u_char *
pco_pstrdup(pco_pool_t *pool, const pco_str_t *s)
{
    u_char  *p;

    p = pco_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }
    if (s->len > 0) {
        memcpy(p, s->data, s->len);
    }
    p[s->len] = '\0';
    return p;
}

char *
pco_pstrndup(pco_pool_t *pool, const char *s, size_t len)
{
    char  *p;

    p = pco_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }
    if (len > 0) {
        memcpy(p, s, len);
    }
    p[len] = '\0';
    return p;
}

int
pco_pool_cleanup_add(pco_pool_t *pool, pco_pool_cleanup_pt handler, void *data)
{
    pco_pool_cleanup_t  *cln;

    cln = pco_palloc(pool, sizeof(pco_pool_cleanup_t));
    if (cln == NULL) {
        return PCO_ERROR;
    }
    cln->handler = handler;
    cln->data = data;
    cln->next = pool->cleanups;
    pool->cleanups = cln;
    return PCO_OK;
}

size_t
pco_pool_used(const pco_pool_t *pool)
{
    return pool->used;
}

int
pco_array_init(pco_array_t *a, pco_pool_t *pool, size_t n, size_t size)
{
    if (n == 0) {
        n = 1;
    }
    a->nelts = 0;
    a->size = size;
    a->nalloc = n;
    a->pool = pool;
    a->elts = pco_palloc(pool, n * size);
    return a->elts == NULL ? PCO_ERROR : PCO_OK;
}

pco_array_t *
pco_array_create(pco_pool_t *pool, size_t n, size_t size)
{
    pco_array_t  *a;

    a = pco_palloc(pool, sizeof(pco_array_t));
    if (a == NULL || pco_array_init(a, pool, n, size) != PCO_OK) {
        return NULL;
    }
    return a;
}

void *
pco_array_push(pco_array_t *a)
{
    void    *elts;
    size_t   nalloc;

    if (a->nelts == a->nalloc) {
        nalloc = a->nalloc == 0 ? 4 : 2 * a->nalloc;
        elts = pco_palloc(a->pool, nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }
        if (a->nelts > 0) {
            memcpy(elts, a->elts, a->nelts * a->size);
        }
        pco_pfree(a->pool, a->elts);   /* a large old store goes back to the budget */
        a->elts = elts;
        a->nalloc = nalloc;
    }
    return (u_char *) a->elts + a->size * a->nelts++;
}

const pco_pool_stats_t *
pco_pool_stats(const pco_pool_t *pool)
{
    return &pool->stats;
}

size_t
pco_pool_budget(const pco_pool_t *pool)
{
    return pool->budget;
}

void
pco_pool_set_over(pco_pool_t *pool, pco_pool_over_pt over, void *data)
{
    pool->over = over;
    pool->over_data = data;
}

void
pco_pool_set_owner(pco_pool_t *pool, const char *owner)
{
    pool->owner = owner;
}

const char *
pco_pool_owner(const pco_pool_t *pool)
{
    return pool->owner;
}
