/*
 * pco_buf.h: buffers and chains. A buffer knows its storage (start..end), its unread window
 * (pos..last) or a file range for sendfile, and flags that travel with the data.
 */
#ifndef PCO_BUF_H
#define PCO_BUF_H

#include "pco_core.h"
#include "pco_pool.h"

struct pco_buf_s {
    u_char     *start;
    u_char     *end;
    u_char     *pos;
    u_char     *last;
    int         fd;           /* in_file: the file to send from */
    off_t       file_pos;
    off_t       file_last;
    unsigned    in_file:1;    /* data lives in fd[file_pos, file_last) */
    unsigned    memory:1;     /* read-only memory (static strings, config bodies) */
    unsigned    temporary:1;  /* writable memory owned by a pool */
    unsigned    flush:1;      /* send what is queued now */
    unsigned    last_buf:1;   /* the last buffer of the response */
};

struct pco_chain_s {
    pco_buf_t    *buf;
    pco_chain_t  *next;
};

pco_buf_t *pco_buf_create(pco_pool_t *pool, size_t size);      /* temporary buffer */
pco_buf_t *pco_buf_calloc(pco_pool_t *pool);                   /* empty descriptor */
pco_chain_t *pco_chain_link(pco_pool_t *pool, pco_buf_t *b);   /* one link holding b */

static inline size_t
pco_buf_size(const pco_buf_t *b)
{
    return b->in_file ? (size_t) (b->file_last - b->file_pos) : (size_t) (b->last - b->pos);
}

#endif
