/*
 * pco_buf.c: buffer and chain-link constructors. Buffers live in the pool they were created
 * from; nothing here touches shared state.
 */
#include "pco_buf.h"

pco_buf_t *
pco_buf_create(pco_pool_t *pool, size_t size)
{
    pco_buf_t  *b;

    b = pco_buf_calloc(pool);
    if (b == NULL) {
        return NULL;
    }
    b->start = pco_pnalloc(pool, size);
    if (b->start == NULL) {
        return NULL;
    }
    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;
    return b;
}

pco_buf_t *
pco_buf_calloc(pco_pool_t *pool)
{
    pco_buf_t  *b;

    b = pco_pcalloc(pool, sizeof(pco_buf_t));
    if (b != NULL) {
        b->fd = -1;
    }
    return b;
}

pco_chain_t *
pco_chain_link(pco_pool_t *pool, pco_buf_t *b)
{
    pco_chain_t  *cl;

    cl = pco_palloc(pool, sizeof(pco_chain_t));
    if (cl == NULL) {
        return NULL;
    }
    cl->buf = b;
    cl->next = NULL;
    return cl;
}
