/*
 * pco_http2_mem.c: the allocator of one nghttp2 session. Small blocks come from malloc; a
 * block of PCO_HTTP2_MEM_MAP_MIN bytes or more is mapped on its own, page-aligned, and
 * listed in the session's table (which says how long it is). Why: every session allocates,
 * when it is created, a 16 KiB frame buffer and the 4 KiB table of its stream map, and keeps
 * both for the connection's life, though most connections are idle most of the time. From
 * malloc each would stay resident (heap memory); mapped on its own only the pages written
 * are, and once the connection is idle pco_http2_mem_trim gives pages back (MADV_DONTNEED):
 * all of the frame buffer's, whose contents are scratch then, and, of any other mapped
 * block, each page that holds nothing but zeros (the stream map's table once its last
 * stream is gone: an empty slot is all zeros), which a fresh page reads as anyway. Only a
 * block of PCO_HTTP2_MEM_SCRATCH_MIN bytes or more mapped while the session was created
 * counts as the frame buffer: at that moment nghttp2 allocates nothing else that large (the
 * map's table is 4 KiB); a block mapped later may be state (a large header value kept in the
 * HPACK table) and, like the table, keeps every page that is not all zeros.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
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
    m->scratch[i] = m->creating && size >= PCO_HTTP2_MEM_SCRATCH_MIN;
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

static bool
pco_http2_mem_page_zero(const u_char *page)
{
    const uint64_t  *w = (const uint64_t *) page;
    size_t           i;

    for (i = 0; i < 4096 / sizeof(*w); i++) {
        if (w[i] != 0) {
            return false;
        }
    }
    return true;
}

void
pco_http2_mem_trim(pco_http2_mem_t *m)
{
    size_t  off;
    int     i;

    for (i = 0; i < PCO_HTTP2_MEM_MAPS; i++) {
        if (m->map[i] == NULL) {
            continue;
        }
        if (m->scratch[i]) {
            (void) madvise(m->map[i], m->maplen[i], MADV_DONTNEED);
            continue;
        }
        for (off = 0; off < m->maplen[i]; off += 4096) {
            if (pco_http2_mem_page_zero((u_char *) m->map[i] + off)) {
                (void) madvise((u_char *) m->map[i] + off, 4096, MADV_DONTNEED);
            }
        }
    }
}
