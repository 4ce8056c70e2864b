/*
 * pco_http2_mem.c: the allocator of one nghttp2 session. Small blocks come from malloc; a
 * block of PCO_HTTP2_MEM_MAP_MIN bytes or more is mapped on its own, page-aligned, and
 * listed in the session's table (which says how long it is). Why: every session allocates a
 * 16 KiB frame buffer when it is created and keeps it for the connection's life, though
 * most connections are idle most of the time. From malloc the whole block would be resident
 * (heap memory already touched by earlier blocks); mapped on its own only the pages written
 * are, and once the connection is idle pco_http2_mem_trim gives those back too
 * (MADV_DONTNEED): an idle HTTP/2 connection then holds no page of it. Only the blocks
 * mapped while the session was created are trimmed: at that moment nghttp2 allocates its
 * frame buffer and nothing else that large; a block mapped later may be state (a large
 * header value kept in the HPACK table) that must survive.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "pco_http2_mem.h"

static size_t
pco_http2_mem_maplen(size_t size)
{
    return (size + 4095) & ~(size_t) 4095;
}

/* The table slot of a mapped block, or -1 (a malloc'd one). */
static int
pco_http2_mem_slot(const pco_http2_mem_t *m, const void *p)
{
    int  i;

    for (i = 0; i < PCO_HTTP2_MEM_MAPS; i++) {
        if (m->map[i] == p) {
            return i;
        }
    }
    return -1;
}

/* A mapped block of size bytes (zeroed), or NULL when the table is full or mmap fails
 * (the caller falls back to malloc). */
static void *
pco_http2_mem_map(pco_http2_mem_t *m, size_t size)
{
    void  *p;
    int    i = pco_http2_mem_slot(m, NULL);

    if (size < PCO_HTTP2_MEM_MAP_MIN || i < 0) {
        return NULL;
    }
    p = mmap(NULL, pco_http2_mem_maplen(size), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    m->map[i] = p;
    m->maplen[i] = pco_http2_mem_maplen(size);
    m->scratch[i] = m->creating;
    return p;
}

static void *
pco_http2_mem_malloc(size_t size, void *data)
{
    void  *p = pco_http2_mem_map(data, size);

    return p != NULL ? p : malloc(size);
}

static void
pco_http2_mem_free(void *p, void *data)
{
    pco_http2_mem_t  *m = data;
    int               i;

    if (p == NULL) {
        return;
    }
    i = pco_http2_mem_slot(m, p);
    if (i < 0) {
        free(p);
        return;
    }
    (void) munmap(p, m->maplen[i]);
    m->map[i] = NULL;
    m->maplen[i] = 0;
    m->scratch[i] = 0;
}

static void *
pco_http2_mem_calloc(size_t n, size_t size, void *data)
{
    void  *p;

    if (size != 0 && n > (size_t) -1 / size) {
        return NULL;
    }
    p = pco_http2_mem_map(data, n * size);      /* a fresh mapping is zero already */
    return p != NULL ? p : calloc(n, size);
}

static void *
pco_http2_mem_realloc(void *p, size_t size, void *data)
{
    pco_http2_mem_t  *m = data;
    void             *n;
    size_t            old;
    int               i;

    if (p == NULL) {
        return pco_http2_mem_malloc(size, data);
    }
    if (size == 0) {
        pco_http2_mem_free(p, data);
        return NULL;
    }
    i = pco_http2_mem_slot(m, p);
    if (i < 0 && size < PCO_HTTP2_MEM_MAP_MIN) {
        return realloc(p, size);
    }
    old = i >= 0 ? m->maplen[i] : malloc_usable_size(p);
    n = pco_http2_mem_malloc(size, data);
    if (n == NULL) {
        return NULL;
    }
    memcpy(n, p, old < size ? old : size);
    pco_http2_mem_free(p, data);
    return n;
}

void
pco_http2_mem_init(pco_http2_mem_t *m)
{
    memset(m, 0, sizeof(*m));
    m->mem.mem_user_data = m;
    m->mem.malloc = pco_http2_mem_malloc;
    m->mem.free = pco_http2_mem_free;
    m->mem.calloc = pco_http2_mem_calloc;
    m->mem.realloc = pco_http2_mem_realloc;
}

void
pco_http2_mem_trim(pco_http2_mem_t *m)
{
    int  i;

    for (i = 0; i < PCO_HTTP2_MEM_MAPS; i++) {
        if (m->map[i] != NULL && m->scratch[i]) {
            (void) madvise(m->map[i], m->maplen[i], MADV_DONTNEED);
        }
    }
}
