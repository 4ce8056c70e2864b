/*
 * pco_http2_head.h: turns the header fields of one HTTP/2 request, in the order nghttp2
 * delivers them, into the engine's request head (pco_http_head_t), or rejects the request
 * as malformed (RFC 9113 §8.1.1: the stream is reset with PROTOCOL_ERROR, nothing reaches
 * the engine). No I/O; memory from the caller's pool (the stream's). Everything kept is
 * copied, so the caller may pass nghttp2's buffers, which live only for the callback.
 *
 * Rules, each because the head is later forwarded as HTTP/1.1 where a byte the HTTP/2
 * framing allowed could split or smuggle a request:
 * - names: lowercase token characters only (a pseudo-header's leading ':' aside);
 * - values: no NUL, CR, LF or other control character but HTAB, no leading or trailing
 *   SP/HTAB;
 * - pseudo-headers: :method, :scheme, :path (all three required, except plain CONNECT,
 *   which has :authority only), :authority (optional), :protocol (extended CONNECT,
 *   RFC 8441, only with PCO_HTTP2_HEAD_CONNECT_PROTOCOL); each at most once, all before the
 *   first regular field; :status and any other pseudo-header are malformed;
 * - :path starts with '/' (or is "*" for OPTIONS) and holds no CTL, SP, DEL or '#';
 *   :authority holds no userinfo, CTL or SP;
 * - connection-specific fields (connection, keep-alive, proxy-connection,
 *   transfer-encoding, upgrade) are malformed, and te other than "trailers";
 * - content-length: 1*18 DIGIT; several must agree (one entry is kept);
 * - :authority and host both present: they must be equal (ASCII case-insensitive), else
 *   malformed (RFC 9113 §8.3.1 lets a server treat that as malformed; refusing is safer
 *   than guessing which one the upstream and the routing would each believe). The head
 *   then has a single host entry; :authority alone becomes one;
 * - cookie crumbs are joined with "; " into one cookie field (RFC 9113 §8.2.3), at the
 *   place of the first crumb; every crumb counts towards PCO_HTTP_MAX_HEADERS.
 *
 * The filled head: method_name/method, target = :path (the authority for CONNECT),
 * path/query split at the first '?', request_line = "METHOD TARGET HTTP/2.0" ($request),
 * version 20, keepalive false (a stream is never reused), chunked false, content_length
 * (-1 when absent), expect_continue, host_idx; connection_idx and upgrade_idx are 0.
 */
#ifndef PCO_HTTP2_HEAD_H
#define PCO_HTTP2_HEAD_H

#include "pco_core.h"
#include "pco_pool.h"
#include "pco_http_parse.h"

/* pco_http2_head_add/finish verdict: the request is malformed (h->reason says why). Any
 * other non-zero answer is an HTTP status to respond with, as the HTTP/1 parser gives it:
 * 405 (TRACE, plain CONNECT), 417 (an expectation other than 100-continue), 431 (more than
 * PCO_HTTP_MAX_HEADERS fields), 500 (the pool is exhausted). */
#define PCO_HTTP2_MALFORMED  (-2)

/* Flags. */
#define PCO_HTTP2_HEAD_CONNECT_PROTOCOL  0x01   /* :protocol accepted (SETTINGS sent) */

/* Pseudo-header bits (seen). */
#define PCO_HTTP2_PS_METHOD     0x01
#define PCO_HTTP2_PS_SCHEME     0x02
#define PCO_HTTP2_PS_AUTHORITY  0x04
#define PCO_HTTP2_PS_PATH       0x08
#define PCO_HTTP2_PS_PROTOCOL   0x10

typedef struct {
    pco_pool_t       *pool;
    pco_http_head_t  *head;
    unsigned          flags;
    unsigned          seen;         /* PCO_HTTP2_PS_* */
    bool              regular;      /* a regular field was seen: no more pseudo-headers */
    int               verdict;      /* sticky: 0 until a field fails */
    const char       *reason;       /* with PCO_HTTP2_MALFORMED: a short static string */
    pco_str_t         scheme;
    pco_str_t         authority;
    pco_str_t         protocol;     /* extended CONNECT's :protocol ("websocket") */
    unsigned          ncookies;     /* crumbs in head->headers, joined by finish */
    size_t            cookie_len;   /* their total length */
} pco_http2_head_t;

/* Starts a head: head is zeroed and its list allocated (PCO_HTTP_HEADERS_START entries,
 * grown on demand like the HTTP/1 parser's). PCO_OK or PCO_ERROR (no memory). */
int pco_http2_head_init(pco_http2_head_t *h, pco_pool_t *pool, pco_http_head_t *head,
                        unsigned flags);

/* One field, as received. 0, PCO_HTTP2_MALFORMED or a status (see above); after a
 * non-zero answer every later call returns the same. */
int pco_http2_head_add(pco_http2_head_t *h, const u_char *name, size_t nlen,
                       const u_char *value, size_t vlen);

/* The end of the header block: checks the required pseudo-headers and fills the rest of
 * the head. 0, PCO_HTTP2_MALFORMED or a status. */
int pco_http2_head_finish(pco_http2_head_t *h);

#endif
