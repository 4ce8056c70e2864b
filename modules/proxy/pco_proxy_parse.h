/*
 * pco_proxy_parse.h: the pure, strict parser of an upstream response head (status line and
 * headers). No I/O, no allocation: strings point into the caller's buffer. Unit-tested in
 * t/unit/test_proxy_parse.c.
 */
#ifndef PCO_PROXY_PARSE_H
#define PCO_PROXY_PARSE_H

#include "pco_http_parse.h"

#define PCO_PROXY_MAX_HEADERS 100

typedef struct {
    unsigned           version;          /* 10 or 11 */
    int                status;           /* 100..599 */
    pco_str_t          reason;
    pco_http_header_t  headers[PCO_PROXY_MAX_HEADERS];
    unsigned           nheaders;
    size_t             head_len;         /* bytes of the head including the empty line */
    int64_t            content_length;   /* -1 when absent */
    bool               chunked;
    bool               conn_close;       /* Connection: close */
    bool               conn_upgrade;     /* Connection: upgrade */
} pco_proxy_resp_t;

/*
 * Parses the head at buf[0..len). Returns PCO_OK (complete: resp filled), PCO_AGAIN (more
 * bytes needed; the caller enforces the size limit) or PCO_ERROR (malformed: the proxy
 * answers 502): bad status line, header without a colon or with an invalid name, control
 * characters in values, both Content-Length and Transfer-Encoding, an invalid or repeated
 * differing Content-Length, a transfer coding other than chunked, too many headers.
 */
int pco_proxy_parse_response(u_char *buf, size_t len, pco_proxy_resp_t *resp);

#endif
