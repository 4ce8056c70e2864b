/*
 * pco_http_parse.h: pure HTTP/1.x parsing, no I/O and no allocation (unit-tested and
 * fuzzed on its own): finding the end of a request head that arrives in pieces, parsing a
 * complete head strictly (RFC 9110/9112 and docs/http.md), path and host normalisation, and
 * an incremental chunked-body decoder.
 */
#ifndef PCO_HTTP_PARSE_H
#define PCO_HTTP_PARSE_H

#include "pco_core.h"

/* Method bits, used by route matching (methods = [...]) too. */
enum {
    PCO_HTTP_GET     = 0x0001, PCO_HTTP_HEAD    = 0x0002, PCO_HTTP_POST    = 0x0004,
    PCO_HTTP_PUT     = 0x0008, PCO_HTTP_DELETE  = 0x0010, PCO_HTTP_OPTIONS = 0x0020,
    PCO_HTTP_PATCH   = 0x0040, PCO_HTTP_CONNECT = 0x0080, PCO_HTTP_TRACE   = 0x0100,
    PCO_HTTP_PURGE   = 0x0200, PCO_HTTP_OTHER   = 0x8000
};
/* "GET" -> PCO_HTTP_GET; unknown tokens -> PCO_HTTP_OTHER. */
unsigned pco_http_method_bit(const u_char *name, size_t len);

#define PCO_HTTP_MAX_HEADERS 100
/* pco_http_parse_head's answer when h->headers is full below PCO_HTTP_MAX_HEADERS (not an
 * HTTP status): the caller gives the list room for h->nwant entries and parses again. */
#define PCO_HTTP_HEAD_ROOM   1

typedef struct {
    pco_str_t  name;       /* as sent */
    pco_str_t  value;      /* leading/trailing OWS removed */
} pco_http_header_t;

typedef struct {
    pco_str_t          method_name;
    unsigned           method;           /* PCO_HTTP_* bit */
    pco_str_t          target;           /* raw request-target as sent */
    pco_str_t          path;             /* raw path part of target (origin or absolute form) */
    pco_str_t          query;            /* after '?', without it; len 0 data NULL if none */
    pco_str_t          authority;        /* absolute-form host[:port], else empty */
    pco_str_t          request_line;     /* without CRLF ($request) */
    unsigned           version;          /* 10 or 11 */
    /* The header list lives in the caller's memory (the request pool): room for nalloc
     * entries, nheaders of them used. It starts small and grows, so a pointer to an entry
     * is stale after a header is added; the well-known indexes below are not. A module
     * removes a header before it is forwarded by setting its name's length to 0 (the proxy
     * skips such headers), and adds one with pco_http_head_add (pco_http.h). */
    pco_http_header_t *headers;
    unsigned           nheaders;
    unsigned           nalloc;
    unsigned           nwant;            /* with PCO_HTTP_HEAD_ROOM: entries needed */
    /* well-known headers (index into headers[] + 1; 0 = absent) */
    unsigned           host_idx;
    unsigned           connection_idx;
    unsigned           upgrade_idx;
    int64_t            content_length;   /* -1 when absent */
    bool               chunked;          /* Transfer-Encoding: chunked */
    bool               keepalive;        /* by version and Connection tokens */
    bool               conn_upgrade;     /* Connection: upgrade */
    bool               expect_continue;  /* Expect: 100-continue */
} pco_http_head_t;

typedef struct {
    size_t   scanned;       /* bytes already searched */
    size_t   line_end;      /* end of the request line once found (0 = not yet) */
} pco_http_head_scan_t;

/*
 * Looks for the end of a head in buf[0..len) (resuming at scan->scanned; leading empty lines
 * before the request line are allowed, RFC 9112 §2.2). Returns the head's total length
 * including the final empty line when complete, 0 when more bytes are needed. Lines end in
 * CRLF or a bare LF. The caller enforces limits: no request line end within max_uri_size
 * -> 414; no head end within max_header_size -> 431.
 */
size_t pco_http_find_head_end(const u_char *buf, size_t len, pco_http_head_scan_t *scan);

/*
 * Parses the complete head buf[0..len) (as found above) into h; all strings point into buf,
 * the headers into h->headers (h->nalloc entries, set by the caller and kept). Returns 0 on
 * success or the HTTP status to answer with: 400 (malformed, see docs/http.md), 405
 * (CONNECT, TRACE), 414 (request line over max_uri), 417 (unknown expectation), 431 (more
 * than PCO_HTTP_MAX_HEADERS headers), 501 (transfer coding other than chunked), 505 (major
 * version other than 1); or PCO_HTTP_HEAD_ROOM when the list is full below the maximum
 * (h->nwant set; the parse starts over when called again). Host is not validated here (see
 * pco_http_normalize_host).
 */
int pco_http_parse_head(pco_http_head_t *h, u_char *buf, size_t len, size_t max_uri);

/*
 * How many header lines start in [p, end), counting from the line at p up to an empty line
 * or end, and no more than max: the room a parser asks for when its list is full (a line
 * the parse would reject still counts; the parse stops there anyway).
 */
unsigned pco_http_count_header_lines(const u_char *p, const u_char *end, unsigned max);

/*
 * Removes the headers whose name has an "_" (nginx's underscores_in_headers off): CGI-style
 * backends map X_Real_IP and X-Real-IP to the same variable, so such a name could pass for
 * a header portico sets. None of the headers the parser interprets has one, so dropping
 * them after parsing is the same as never having seen them. Returns how many went.
 */
unsigned pco_http_head_drop_underscores(pco_http_head_t *h);

/* Finds a header by case-insensitive name; NULL when absent. */
pco_http_header_t *pco_http_head_find(pco_http_head_t *h, const char *name, size_t len);

/*
 * Normalises a raw path (percent-encoded) into out (capacity >= len): %XX of unreserved
 * characters decoded (others kept, hex upper-cased), dot-segments resolved, duplicate
 * slashes merged. Returns 0, or 400 for %00, %2F, %5C, a raw backslash, a bad %-escape,
 * a path not starting with '/', or one that climbs above '/'. *changed tells whether the
 * result differs from the input.
 */
int pco_http_normalize_path(const u_char *in, size_t len, u_char *out, size_t *out_len,
                            bool *changed);

/*
 * Normalises a Host value or absolute-form authority into out (capacity >= len): lowercased,
 * port removed ([v6]:port understood), one trailing dot removed. Returns 0, or 400 for '/',
 * '\', empty labels, control characters, a bad port or bad brackets.
 */
int pco_http_normalize_host(const u_char *in, size_t len, u_char *out, size_t *out_len);

/* Fully percent-decodes a normalised path for the file system (static); 400 on NUL. */
int pco_http_decode_path(const u_char *in, size_t len, u_char *out, size_t *out_len);

/* Incremental chunked decoder. */
typedef struct {
    int       state;
    uint64_t  size;          /* current chunk size while reading it */
    uint64_t  left;          /* data bytes left in the current chunk */
    unsigned  digits;
    size_t    meta_bytes;    /* chunk extensions + trailers so far */
    size_t    meta_limit;    /* max_header_size: beyond -> error with status 431 */
    int       status;        /* on PCO_ERROR: 400 or 431 */
} pco_http_chunked_t;

/*
 * Consumes framing from [*pos, last). Returns PCO_OK when chunk data starts at *pos:
 * ctx->left bytes of it remain in this chunk (the caller takes min(left, last - *pos),
 * advances *pos, subtracts from left, and calls again); PCO_AGAIN when all input is
 * consumed; PCO_DONE after the last chunk and its trailers (*pos just past them);
 * PCO_ERROR on malformed framing (ctx->status): sizes over 16 hex digits, bare LF in chunk
 * lines, bad characters.
 */
int pco_http_parse_chunked(pco_http_chunked_t *ctx, u_char **pos, u_char *last);

#endif
