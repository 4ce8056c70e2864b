/*
 * pco_proxy_parse.h: the pure, strict parser of an upstream response head (status line and
 * headers) and the in-place decoder of a chunked response body. No I/O, no allocation:
 * strings point into the caller's buffer, headers into the caller's list. Unit-tested in
 * t/unit/test_proxy_parse.c, fuzzed by t/fuzz/fuzz_upstream_response.c.
 */
#ifndef PCO_PROXY_PARSE_H
#define PCO_PROXY_PARSE_H

#include "pco_http_parse.h"

#define PCO_PROXY_MAX_HEADERS 100
/* pco_proxy_parse_response's answer when resp->headers is full below PCO_PROXY_MAX_HEADERS
 * (not a PCO_* code): the caller gives the list room for resp->nwant entries and calls
 * again. */
#define PCO_PROXY_ROOM        1

typedef struct {
    unsigned           version;          /* 10 or 11 */
    int                status;           /* 100..599 */
    pco_str_t          reason;
    /* the header list is the caller's (the request pool): room for nalloc entries, kept
     * across parses; it starts small and grows when the parser asks */
    pco_http_header_t *headers;
    unsigned           nheaders;
    unsigned           nalloc;
    unsigned           nwant;            /* with PCO_PROXY_ROOM: entries needed */
    size_t             head_len;         /* bytes of the head including the empty line */
    int64_t            content_length;   /* -1 when absent */
    bool               chunked;
    bool               conn_close;       /* Connection: close */
    bool               conn_upgrade;     /* Connection: upgrade */
} pco_proxy_resp_t;

/*
 * Parses the head at buf[0..len), from its start on every call. Returns PCO_OK (complete:
 * resp filled), PCO_AGAIN (more bytes needed; the caller enforces the size limit),
 * PCO_PROXY_ROOM (resp->headers is full: resp->nwant set, at most the maximum, counting
 * the header lines received so far) or PCO_ERROR (malformed: the proxy answers 502): bad
 * status line, header without a colon or with an invalid name, control characters in
 * values, both Content-Length and Transfer-Encoding, an invalid or repeated differing
 * Content-Length, a transfer coding other than chunked, more than PCO_PROXY_MAX_HEADERS
 * headers.
 */
int pco_proxy_parse_response(u_char *buf, size_t len, pco_proxy_resp_t *resp);

/*
 * Decodes the chunked body bytes buf[0..n) in place with ch (state kept across calls, one
 * call per buffer read): the payload is moved to the front of buf and *len gets its size.
 * Returns PCO_OK (more bytes needed), PCO_DONE (last chunk and trailers complete; *extra is
 * set when bytes follow them in buf) or PCO_ERROR (bad framing, ch->status: the *len bytes
 * before it are valid payload).
 */
int pco_proxy_dechunk(pco_http_chunked_t *ch, u_char *buf, size_t n, size_t *len, bool *extra);

#endif
