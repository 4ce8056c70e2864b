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
    unsigned char scratch[PCO_HTTP2_MEM_MAPS];  /* mapped while creating: the frame buffer */
    unsigned char creating;       /* set around nghttp2_session_*_new */
} pco_http2_mem_t;

void pco_http2_mem_init(pco_http2_mem_t *m);
/* Gives back the pages of the blocks mapped while the session was created (its 16 KiB
 * frame buffer, whose contents are scratch while nothing is being framed: call it only
 * then); the next frame faults in what it writes. Blocks mapped later (a large header kept
 * in the HPACK table) hold state and are never touched. */
void pco_http2_mem_trim(pco_http2_mem_t *m);

#endif
