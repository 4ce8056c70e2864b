/*
 * pco_http2_mem.c: the allocator given to nghttp2. Small blocks come from malloc; a block of
 * PCO_HTTP2_MEM_MAP_MIN bytes or more is mapped on its own. Why: every nghttp2 session
 * allocates its 16 KiB frame buffer when it is created and keeps it for the connection's
 * life, but an idle connection's frames (SETTINGS, a few small responses) only ever touch
 * the first page of it. From malloc the whole block would be resident (heap memory already
 * touched by earlier blocks); mapped on its own, only the pages written are, so an idle
 * HTTP/2 connection costs about 12 KiB less. Each block carries a 16-byte header with its
 * size, so free and realloc know where a block came from.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "pco_http2_mem.h"

#define PCO_HTTP2_MEM_HDR  16

static size_t
pco_http2_mem_maplen(size_t size)
{
    return (size + PCO_HTTP2_MEM_HDR + 4095) & ~(size_t) 4095;
}

static void *
pco_http2_mem_malloc(size_t size, void *data)
{
    unsigned char  *b;

    (void) data;
    if (size >= PCO_HTTP2_MEM_MAP_MIN) {
        b = mmap(NULL, pco_http2_mem_maplen(size), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED) {
            return NULL;
        }
    } else {
        b = malloc(size + PCO_HTTP2_MEM_HDR);
        if (b == NULL) {
            return NULL;
        }
    }
    memcpy(b, &size, sizeof(size));
    return b + PCO_HTTP2_MEM_HDR;
}

static size_t
pco_http2_mem_size(const void *p)
{
    size_t  size;

    memcpy(&size, (const unsigned char *) p - PCO_HTTP2_MEM_HDR, sizeof(size));
    return size;
}

static void
pco_http2_mem_free(void *p, void *data)
{
    unsigned char  *b;
    size_t          size;

    (void) data;
    if (p == NULL) {
        return;
    }
    b = (unsigned char *) p - PCO_HTTP2_MEM_HDR;
    size = pco_http2_mem_size(p);
    if (size >= PCO_HTTP2_MEM_MAP_MIN) {
        (void) munmap(b, pco_http2_mem_maplen(size));
    } else {
        free(b);
    }
}

static void *
pco_http2_mem_calloc(size_t n, size_t size, void *data)
{
    void  *p;

    if (size != 0 && n > (size_t) -1 / 2 / size) {
        return NULL;
    }
    p = pco_http2_mem_malloc(n * size, data);
    if (p != NULL && n * size < PCO_HTTP2_MEM_MAP_MIN) {
        memset(p, 0, n * size);        /* a fresh mapping is zero already */
    }
    return p;
}

static void *
pco_http2_mem_realloc(void *p, size_t size, void *data)
{
    void    *n;
    size_t   old;

    if (p == NULL) {
        return pco_http2_mem_malloc(size, data);
    }
    if (size == 0) {
        pco_http2_mem_free(p, data);
        return NULL;
    }
    old = pco_http2_mem_size(p);
    n = pco_http2_mem_malloc(size, data);
    if (n == NULL) {
        return NULL;
    }
    memcpy(n, p, old < size ? old : size);
    pco_http2_mem_free(p, data);
    return n;
}

nghttp2_mem *
pco_http2_mem(void)
{
    static nghttp2_mem  mem = {
        NULL, pco_http2_mem_malloc, pco_http2_mem_free, pco_http2_mem_calloc,
        pco_http2_mem_realloc
    };

    return &mem;
}
