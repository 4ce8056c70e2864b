/*
 * pco_http2_mem.h: the allocator nghttp2 sessions use (see pco_http2_mem.c).
 */
#ifndef PCO_HTTP2_MEM_H
#define PCO_HTTP2_MEM_H

#include <nghttp2/nghttp2.h>

/* Blocks of at least this many bytes are mapped on their own. */
#define PCO_HTTP2_MEM_MAP_MIN  8192

nghttp2_mem *pco_http2_mem(void);

#endif
