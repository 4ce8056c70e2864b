/*
 * pco_http2_mem.h: the allocator of one nghttp2 session (see pco_http2_mem.c).
 */
#ifndef PCO_HTTP2_MEM_H
#define PCO_HTTP2_MEM_H

#include <stddef.h>
#include <nghttp2/nghttp2.h>

/* Blocks of at least this many bytes are mapped on their own (up to PCO_HTTP2_MEM_MAPS of
 * them per session; more come from malloc). */
#define PCO_HTTP2_MEM_MAP_MIN  4096
#define PCO_HTTP2_MEM_MAPS     8
/* A block this large mapped while the session is created is its frame buffer (scratch). */
#define PCO_HTTP2_MEM_SCRATCH_MIN  8192

typedef struct {
    nghttp2_mem   mem;            /* given to nghttp2; its mem_user_data is this struct */
    void         *map[PCO_HTTP2_MEM_MAPS];
    size_t        maplen[PCO_HTTP2_MEM_MAPS];
    unsigned char scratch[PCO_HTTP2_MEM_MAPS];  /* the frame buffer (see pco_http2_mem_map) */
    unsigned char creating;       /* set around nghttp2_session_*_new */
} pco_http2_mem_t;

void pco_http2_mem_init(pco_http2_mem_t *m);
/* Gives back pages while the session is idle (call it only when nothing is being framed):
 * every page of the blocks that are scratch (the frame buffer, see scratch[]), and every
 * page of the other mapped blocks that holds only zeros; the next write faults a page in
 * again, as zeros. A page with any other byte is left alone. */
void pco_http2_mem_trim(pco_http2_mem_t *m);

#endif
