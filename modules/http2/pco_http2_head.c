/*
 * pco_http2_head.c: HTTP/2 request header fields -> pco_http_head_t, or "malformed"
 * (the rules are listed in pco_http2_head.h).
 */
#include "pco_core.h"
#include "pco_pool.h"
#include "pco_string.h"
#include "pco_http.h"
#include "pco_http2_head.h"

/* tchar (RFC 9110 §5.6.2) without the uppercase letters: HTTP/2 field names are
 * lowercase (RFC 9113 §8.2.1). */
static bool
pco_http2_is_name_char(u_char c)
{
    return pco_is_tchar(c) && !(c >= 'A' && c <= 'Z');
}

static bool
pco_http2_eq(const u_char *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

static bool
pco_http2_ieq(const u_char *a, size_t alen, const u_char *b, size_t blen)
{
    return alen == blen && pco_mem_caseeq(a, b, alen);
}

static int
pco_http2_malformed(pco_http2_head_t *h, const char *reason)
{
    h->verdict = PCO_HTTP2_MALFORMED;
    h->reason = reason;
    return PCO_HTTP2_MALFORMED;
}

static int
pco_http2_status(pco_http2_head_t *h, int status, const char *reason)
{
    h->verdict = status;
    h->reason = reason;
    return status;
}

/* A copy of p[0..len) in the pool (NUL-terminated for the logs' sake); NULL when out. */
static u_char *
pco_http2_copy(pco_http2_head_t *h, const u_char *p, size_t len)
{
    u_char  *d = pco_pnalloc(h->pool, len + 1);

    if (d != NULL) {
        memcpy(d, p, len);
        d[len] = '\0';
    }
    return d;
}

static int
pco_http2_copy_str(pco_http2_head_t *h, pco_str_t *s, const u_char *p, size_t len)
{
    s->data = pco_http2_copy(h, p, len);
    s->len = len;
    return s->data != NULL ? 0 : pco_http2_status(h, 500, "out of memory");
}

int
pco_http2_head_init(pco_http2_head_t *h, pco_pool_t *pool, pco_http_head_t *head,
                    unsigned flags)
{
    memset(h, 0, sizeof(*h));
    memset(head, 0, sizeof(*head));
    h->pool = pool;
    h->head = head;
    h->flags = flags;
    head->content_length = -1;
    head->version = 20;
    head->headers = pco_palloc(pool, PCO_HTTP_HEADERS_START * sizeof(pco_http_header_t));
    if (head->headers == NULL) {
        return PCO_ERROR;
    }
    head->nalloc = PCO_HTTP_HEADERS_START;
    return PCO_OK;
}

/* A field value: no NUL, CR, LF or other CTL but HTAB, no DEL, no OWS at either end. */
static const char *
pco_http2_check_value(const u_char *v, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n') {
            return "NUL, CR or LF in a field value";
        }
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
            return "control character in a field value";
        }
    }
    if (len > 0 && (v[0] == ' ' || v[0] == '\t' || v[len - 1] == ' ' || v[len - 1] == '\t')) {
        return "whitespace around a field value";
    }
    return NULL;
}

/* :path, :authority: visible ASCII and obs-text, no SP/CTL/DEL (and no '#' in a path). */
static bool
pco_http2_is_target(const u_char *p, size_t len, bool path)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] == 0x7f || (path && p[i] == '#')) {
            return false;
        }
    }
    return len > 0;
}

static int
pco_http2_pseudo(pco_http2_head_t *h, const u_char *name, size_t nlen,
                 const u_char *value, size_t vlen)
{
    pco_http_head_t  *head = h->head;
    unsigned          bit;
    pco_str_t        *dst;

    if (h->regular) {
        return pco_http2_malformed(h, "pseudo-header after a regular field");
    }
    if (pco_http2_eq(name, nlen, ":method")) {
        bit = PCO_HTTP2_PS_METHOD;
        dst = &head->method_name;
    } else if (pco_http2_eq(name, nlen, ":scheme")) {
        bit = PCO_HTTP2_PS_SCHEME;
        dst = &h->scheme;
    } else if (pco_http2_eq(name, nlen, ":authority")) {
        bit = PCO_HTTP2_PS_AUTHORITY;
        dst = &h->authority;
    } else if (pco_http2_eq(name, nlen, ":path")) {
        bit = PCO_HTTP2_PS_PATH;
        dst = &head->target;
    } else if (pco_http2_eq(name, nlen, ":protocol")
               && (h->flags & PCO_HTTP2_HEAD_CONNECT_PROTOCOL))
    {
        bit = PCO_HTTP2_PS_PROTOCOL;
        dst = &h->protocol;
    } else if (pco_http2_eq(name, nlen, ":status")) {
        return pco_http2_malformed(h, "response pseudo-header in a request");
    } else {
        return pco_http2_malformed(h, "unknown pseudo-header");
    }
    if (h->seen & bit) {
        return pco_http2_malformed(h, "duplicate pseudo-header");
    }
    h->seen |= bit;

    switch (bit) {
    case PCO_HTTP2_PS_METHOD:
    case PCO_HTTP2_PS_SCHEME:
    case PCO_HTTP2_PS_PROTOCOL:
        if (!pco_str_is_token(value, vlen)) {
            return pco_http2_malformed(h, "bad :method, :scheme or :protocol");
        }
        break;
    case PCO_HTTP2_PS_PATH:
        if (!pco_http2_is_target(value, vlen, true)) {
            return pco_http2_malformed(h, "bad :path");
        }
        break;
    default: /* :authority */
        if (!pco_http2_is_target(value, vlen, false) || memchr(value, '@', vlen) != NULL) {
            return pco_http2_malformed(h, "bad :authority");
        }
        break;
    }
    return pco_http2_copy_str(h, dst, value, vlen);
}

/* Content-Length: 1*18 DIGIT, equal to any earlier one. 0 when it is a repeat (not
 * kept), 1 when it is the first, or a verdict. */
static int
pco_http2_content_length(pco_http2_head_t *h, const u_char *v, size_t len)
{
    int64_t  n = 0;
    size_t   i;

    if (len == 0 || len > 18) {
        return pco_http2_malformed(h, "bad content-length");
    }
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return pco_http2_malformed(h, "bad content-length");
        }
        n = n * 10 + (v[i] - '0');
    }
    if (h->head->content_length >= 0) {
        return h->head->content_length == n ? 0
               : pco_http2_malformed(h, "content-length values disagree");
    }
    h->head->content_length = n;
    return 1;
}

/* Checks a regular field's meaning; 1: keep it, 0: drop it (a repeat), or a verdict. */
static int
pco_http2_regular(pco_http2_head_t *h, const u_char *name, size_t nlen,
                  const u_char *value, size_t vlen)
{
    static const char *const  hop[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", NULL
    };
    size_t                    i;

    for (i = 0; hop[i] != NULL; i++) {
        if (pco_http2_eq(name, nlen, hop[i])) {
            return pco_http2_malformed(h, "connection-specific field");
        }
    }
    if (pco_http2_eq(name, nlen, "te") && !pco_http2_eq(value, vlen, "trailers")) {
        return pco_http2_malformed(h, "te other than trailers");
    }
    if (pco_http2_eq(name, nlen, "content-length")) {
        return pco_http2_content_length(h, value, vlen);
    }
    if (pco_http2_eq(name, nlen, "expect")) {
        if (!pco_http2_ieq(value, vlen, (const u_char *) "100-continue", 12)) {
            return pco_http2_status(h, 417, "unknown expectation");
        }
        h->head->expect_continue = true;
    }
    if (pco_http2_eq(name, nlen, "cookie")) {
        h->ncookies++;
        h->cookie_len += vlen;
    }
    return 1;
}

int
pco_http2_head_add(pco_http2_head_t *h, const u_char *name, size_t nlen,
                   const u_char *value, size_t vlen)
{
    pco_http_head_t    *head = h->head;
    pco_http_header_t  *e;
    const char         *bad;
    size_t              i;
    int                 rc;

    if (h->verdict != 0) {
        return h->verdict;
    }
    if (nlen == 0) {
        return pco_http2_malformed(h, "empty field name");
    }
    for (i = name[0] == ':' ? 1 : 0; i < nlen; i++) {
        if (!pco_http2_is_name_char(name[i])) {
            return pco_http2_malformed(h, name[i] >= 'A' && name[i] <= 'Z'
                                          ? "uppercase field name" : "bad field name");
        }
    }
    if (nlen == 1 && name[0] == ':') {
        return pco_http2_malformed(h, "bad field name");
    }
    bad = pco_http2_check_value(value, vlen);
    if (bad != NULL) {
        return pco_http2_malformed(h, bad);
    }
    if (name[0] == ':') {
        return pco_http2_pseudo(h, name, nlen, value, vlen);
    }
    h->regular = true;

    rc = pco_http2_regular(h, name, nlen, value, vlen);
    if (rc <= 0) {
        return rc;
    }
    if (head->nheaders >= PCO_HTTP_MAX_HEADERS) {
        return pco_http2_status(h, 431, "too many header fields");
    }
    if (head->nheaders == head->nalloc
        && pco_http_headers_grow(h->pool, &head->headers, head->nheaders, &head->nalloc,
                                 head->nheaders + 1, PCO_HTTP_MAX_HEADERS) != PCO_OK)
    {
        return pco_http2_status(h, 500, "out of memory");
    }
    e = &head->headers[head->nheaders];
    if (pco_http2_copy_str(h, &e->name, name, nlen) != 0
        || pco_http2_copy_str(h, &e->value, value, vlen) != 0)
    {
        return h->verdict;
    }
    head->nheaders++;
    return 0;
}

/* Joins the cookie crumbs into the first one and closes the gaps the others leave. */
static int
pco_http2_join_cookies(pco_http2_head_t *h)
{
    pco_http_head_t  *head = h->head;
    u_char           *p, *start;
    unsigned          i, j, first = 0;
    bool              seen = false;

    if (h->ncookies < 2) {
        return 0;
    }
    start = pco_pnalloc(h->pool, h->cookie_len + 2 * (h->ncookies - 1) + 1);
    if (start == NULL) {
        return pco_http2_status(h, 500, "out of memory");
    }
    p = start;
    for (i = 0, j = 0; i < head->nheaders; i++) {
        pco_http_header_t *e = &head->headers[i];

        if (pco_http2_eq(e->name.data, e->name.len, "cookie")) {
            if (seen) {
                *p++ = ';';
                *p++ = ' ';
            } else {
                seen = true;
                first = j;
            }
            memcpy(p, e->value.data, e->value.len);
            p += e->value.len;
            if (j != first) {
                continue;           /* a later crumb: its entry goes */
            }
        }
        head->headers[j++] = *e;
    }
    *p = '\0';
    head->nheaders = j;
    head->headers[first].value.data = start;
    head->headers[first].value.len = (size_t) (p - start);
    return 0;
}

/* :authority and host: one host entry, equal to both when both were sent. */
static int
pco_http2_host(pco_http2_head_t *h)
{
    pco_http_head_t    *head = h->head;
    pco_http_header_t  *e;
    unsigned            i;
    static u_char       host[] = "host";

    for (i = 0; i < head->nheaders; i++) {
        e = &head->headers[i];
        if (!pco_http2_eq(e->name.data, e->name.len, "host")) {
            continue;
        }
        if (head->host_idx != 0) {
            return pco_http2_malformed(h, "duplicate host");
        }
        if ((h->seen & PCO_HTTP2_PS_AUTHORITY)
            && !pco_http2_ieq(e->value.data, e->value.len, h->authority.data,
                              h->authority.len))
        {
            return pco_http2_malformed(h, ":authority and host disagree");
        }
        head->host_idx = i + 1;
    }
    if (head->host_idx != 0 || !(h->seen & PCO_HTTP2_PS_AUTHORITY)) {
        return 0;
    }
    if (head->nheaders >= PCO_HTTP_MAX_HEADERS) {
        return pco_http2_status(h, 431, "too many header fields");
    }
    if (head->nheaders == head->nalloc
        && pco_http_headers_grow(h->pool, &head->headers, head->nheaders, &head->nalloc,
                                 head->nheaders + 1, PCO_HTTP_MAX_HEADERS) != PCO_OK)
    {
        return pco_http2_status(h, 500, "out of memory");
    }
    e = &head->headers[head->nheaders++];
    e->name.data = host;
    e->name.len = 4;
    e->value = h->authority;
    head->host_idx = head->nheaders;
    return 0;
}

/* The pseudo-headers the method needs, and the target they make. */
static int
pco_http2_check_pseudo(pco_http2_head_t *h)
{
    pco_http_head_t  *head = h->head;
    unsigned          need = PCO_HTTP2_PS_METHOD | PCO_HTTP2_PS_SCHEME | PCO_HTTP2_PS_PATH;

    if (!(h->seen & PCO_HTTP2_PS_METHOD)) {
        return pco_http2_malformed(h, "no :method");
    }
    head->method = pco_http_method_bit(head->method_name.data, head->method_name.len);
    if (h->seen & PCO_HTTP2_PS_PROTOCOL) {
        if (head->method != PCO_HTTP_CONNECT) {
            return pco_http2_malformed(h, ":protocol without CONNECT");
        }
        need |= PCO_HTTP2_PS_AUTHORITY;
    } else if (head->method == PCO_HTTP_CONNECT) {
        if (h->seen != (PCO_HTTP2_PS_METHOD | PCO_HTTP2_PS_AUTHORITY)) {
            return pco_http2_malformed(h, "CONNECT needs :authority only");
        }
        head->target = h->authority;
        return pco_http2_status(h, 405, "CONNECT");
    }
    if ((h->seen & need) != need) {
        return pco_http2_malformed(h, "missing pseudo-header");
    }
    if (head->target.data[0] == '*') {
        if (head->target.len != 1 || head->method != PCO_HTTP_OPTIONS) {
            return pco_http2_malformed(h, "bad :path");
        }
    } else if (head->target.data[0] != '/') {
        return pco_http2_malformed(h, "bad :path");
    }
    if (head->method == PCO_HTTP_TRACE) {
        return pco_http2_status(h, 405, "TRACE");
    }
    return 0;
}

/* path, query and "METHOD TARGET HTTP/2.0". */
static int
pco_http2_target(pco_http2_head_t *h)
{
    pco_http_head_t  *head = h->head;
    u_char           *q, *p;
    size_t            len;

    q = memchr(head->target.data, '?', head->target.len);
    head->path.data = head->target.data;
    head->path.len = q != NULL ? (size_t) (q - head->target.data) : head->target.len;
    if (q != NULL) {
        head->query.data = q + 1;
        head->query.len = head->target.len - head->path.len - 1;
    }
    len = head->method_name.len + 1 + head->target.len + sizeof(" HTTP/2.0") - 1;
    p = pco_pnalloc(h->pool, len + 1);
    if (p == NULL) {
        return pco_http2_status(h, 500, "out of memory");
    }
    head->request_line.data = p;
    head->request_line.len = len;
    memcpy(p, head->method_name.data, head->method_name.len);
    p += head->method_name.len;
    *p++ = ' ';
    memcpy(p, head->target.data, head->target.len);
    p += head->target.len;
    memcpy(p, " HTTP/2.0", sizeof(" HTTP/2.0"));
    return 0;
}

int
pco_http2_head_finish(pco_http2_head_t *h)
{
    int  rc;

    if (h->verdict != 0) {
        return h->verdict;
    }
    rc = pco_http2_check_pseudo(h);
    if (rc != 0 && rc != 405) {
        return rc;
    }
    /* a 405 still gets its full head: the answer is logged like any request */
    if (pco_http2_join_cookies(h) != 0 || pco_http2_host(h) != 0
        || pco_http2_target(h) != 0)
    {
        return h->verdict;
    }
    return rc;
}
