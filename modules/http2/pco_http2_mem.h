/*
 * pco_http2_mem.h: the allocator of one nghttp2 session (see pco_http2_mem.c).
 */
#ifndef PCO_HTTP2_MEM_H
#define PCO_HTTP2_MEM_H

#include <stddef.h>
#include <nghttp2/nghttp2.h>

/* Blocks of at least this many bytes are mapped on their own (up to PCO_HTTP2_MEM_MAPS of
 * them per session; more come from malloc). */
#define PCO_HTTP2_MEM_MAP_MIN  8192
#define PCO_HTTP2_MEM_MAPS     8

typedef struct {
    nghttp2_mem   mem;            /* given to nghttp2; its mem_user_data is this struct */
    void         *map[PCO_HTTP2_MEM_MAPS];
    size_t        maplen[PCO_HTTP2_MEM_MAPS];
} pco_http2_mem_t;

void pco_http2_mem_init(pco_http2_mem_t *m);
/* Gives back the pages of the session's buffers of 16 KiB or more (the frame buffer): only
 * while nothing is being framed, when their contents are scratch; the next frame faults in
 * what it writes. */
void pco_http2_mem_trim(pco_http2_mem_t *m);

#endif
