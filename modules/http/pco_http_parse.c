/*
 * pco_http_parse.c: the pure HTTP/1.x head parser (no I/O, no allocation, no mutable
 * globals; the header list is the caller's, which grows it when asked): method bits, a
 * resumable search for the end of a head, strict parsing of a complete head (request line,
 * header fields, the framing and connection headers of RFC 9112 and docs/http.md) and
 * case-insensitive header lookup. Path/host normalisation live in
 * pco_http_parse_path.c, the chunked decoder in pco_http_parse_chunked.c.
 */
#include "pco_http_parse.h"

#define PCO_HTTP_C_TCHAR   0x01    /* token character (RFC 9110 §5.6.2) */
#define PCO_HTTP_C_VALUE   0x02    /* field-value byte: HTAB SP VCHAR obs-text */
#define PCO_HTTP_C_TARGET  0x04    /* request-target byte: not CTL, SP, DEL or '#' */

static const uint8_t  pco_http_parse_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 7, 6, 3, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
};

#define pco_http_parse_is(c, cls)  (pco_http_parse_class[(u_char) (c)] & (cls))
#define pco_http_parse_lc(c)       ((u_char) ((c) >= 'A' && (c) <= 'Z' ? (c) | 0x20 : (c)))

/* Transfer-Encoding bookkeeping across several header lines. */
typedef struct {
    unsigned  nchunked;
    bool      seen;
    bool      last_chunked;
    bool      other;
} pco_http_parse_te_t;

/* Case-insensitive compare of s[0..len) with a lowercase literal of the same length. */
static bool
pco_http_parse_ieq(const u_char *s, const char *lower, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (pco_http_parse_lc(s[i]) != (u_char) lower[i]) {
            return false;
        }
    }
    return true;
}

unsigned
pco_http_method_bit(const u_char *name, size_t len)
{
    switch (len) {
    case 3:
        if (memcmp(name, "GET", 3) == 0) {
            return PCO_HTTP_GET;
        }
        if (memcmp(name, "PUT", 3) == 0) {
            return PCO_HTTP_PUT;
        }
        break;
    case 4:
        if (memcmp(name, "HEAD", 4) == 0) {
            return PCO_HTTP_HEAD;
        }
        if (memcmp(name, "POST", 4) == 0) {
            return PCO_HTTP_POST;
        }
        break;
    case 5:
        if (memcmp(name, "PATCH", 5) == 0) {
            return PCO_HTTP_PATCH;
        }
        if (memcmp(name, "TRACE", 5) == 0) {
            return PCO_HTTP_TRACE;
        }
        if (memcmp(name, "PURGE", 5) == 0) {
            return PCO_HTTP_PURGE;
        }
        break;
    case 6:
        if (memcmp(name, "DELETE", 6) == 0) {
            return PCO_HTTP_DELETE;
        }
        break;
    case 7:
        if (memcmp(name, "OPTIONS", 7) == 0) {
            return PCO_HTTP_OPTIONS;
        }
        if (memcmp(name, "CONNECT", 7) == 0) {
            return PCO_HTTP_CONNECT;
        }
        break;
    default:
        break;
    }
    return PCO_HTTP_OTHER;
}

/*
 * The head ends at the first empty line after the request line. A line at offset j is empty
 * when its LF is at the line start, or right after a CR at the line start; that needs only
 * the two bytes before the LF, so the search resumes anywhere without extra state.
 * scan->line_end is set to the offset just past the request line's LF.
 */
size_t
pco_http_find_head_end(const u_char *buf, size_t len, pco_http_head_scan_t *scan)
{
    size_t        i;
    const u_char  *lf;
    bool          empty;

    i = scan->scanned;
    while (i < len) {
        lf = memchr(buf + i, '\n', len - i);
        if (lf == NULL) {
            break;
        }
        i = (size_t) (lf - buf);
        if (i == 0 || buf[i - 1] == '\n') {
            empty = true;
        } else if (buf[i - 1] == '\r') {
            empty = (i == 1 || buf[i - 2] == '\n');
        } else {
            empty = false;
        }
        i++;
        if (!empty) {
            if (scan->line_end == 0) {
                scan->line_end = i;
            }
        } else if (scan->line_end != 0) {
            scan->scanned = i;
            return i;
        }
    }
    scan->scanned = len;
    return 0;
}

/* Parses "HTTP/x.y" exactly; 0, 400 or 505. */
static int
pco_http_parse_version(pco_http_head_t *h, const u_char *p, size_t len)
{
    if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.'
        || p[7] < '0' || p[7] > '9')
    {
        return 400;
    }
    if (p[5] != '1') {
        return 505;
    }
    /* HTTP/1.x with x > 1 is answered as 1.1 (RFC 9110 §6.2) */
    h->version = p[7] == '0' ? 10 : 11;
    return 0;
}

/* Splits the target into path, query and authority by its form; 0 or 400. */
static int
pco_http_parse_target(pco_http_head_t *h)
{
    u_char  *p, *end, *q;
    size_t  skip;

    p = h->target.data;
    end = p + h->target.len;

    if (*p == '*') {
        if (h->target.len != 1 || h->method != PCO_HTTP_OPTIONS) {
            return 400;
        }
        h->path = h->target;
        return 0;
    }

    if (*p != '/') {
        if (h->target.len > 7 && pco_http_parse_ieq(p, "http://", 7)) {
            skip = 7;
        } else if (h->target.len > 8 && pco_http_parse_ieq(p, "https://", 8)) {
            skip = 8;
        } else {
            return 400;
        }
        p += skip;
        q = p;
        while (q < end && *q != '/' && *q != '?') {
            q++;
        }
        if (q == p) {
            return 400;
        }
        h->authority.data = p;
        h->authority.len = (size_t) (q - p);
        p = q;
    }

    q = memchr(p, '?', (size_t) (end - p));
    if (q != NULL) {
        h->query.data = q + 1;
        h->query.len = (size_t) (end - q - 1);
        end = q;
    }
    if (p == end) {
        /* absolute-form with an empty path */
        h->path.data = (u_char *) "/";
        h->path.len = 1;
    } else {
        h->path.data = p;
        h->path.len = (size_t) (end - p);
    }
    return 0;
}

/* Request line in [p, eol) (terminator excluded); 0 or a status. */
static int
pco_http_parse_request_line(pco_http_head_t *h, u_char *p, u_char *eol, size_t max_uri)
{
    u_char  *s;
    int     rc;

    h->request_line.data = p;
    h->request_line.len = (size_t) (eol - p);
    if (max_uri != 0 && h->request_line.len > max_uri) {
        return 414;
    }

    s = p;
    while (p < eol && pco_http_parse_is(*p, PCO_HTTP_C_TCHAR)) {
        p++;
    }
    if (p == s || p == eol || *p != ' ') {
        return 400;
    }
    h->method_name.data = s;
    h->method_name.len = (size_t) (p - s);
    h->method = pco_http_method_bit(s, h->method_name.len);

    s = ++p;
    while (p < eol && pco_http_parse_is(*p, PCO_HTTP_C_TARGET)) {
        p++;
    }
    if (p == s || p == eol || *p != ' ') {
        return 400;
    }
    h->target.data = s;
    h->target.len = (size_t) (p - s);
    p++;

    rc = pco_http_parse_version(h, p, (size_t) (eol - p));
    if (rc != 0) {
        return rc;
    }
    if (h->method & (PCO_HTTP_CONNECT | PCO_HTTP_TRACE)) {
        return 405;
    }
    return pco_http_parse_target(h);
}

/*
 * Returns the next element of a comma-separated list in *elt (OWS trimmed, empty elements
 * skipped) and advances *pos; false at the end of the list.
 */
static bool
pco_http_parse_list_next(u_char **pos, u_char *end, pco_str_t *elt)
{
    u_char  *p, *s, *e;

    p = *pos;
    for ( ;; ) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        if (p == end) {
            *pos = p;
            return false;
        }
        s = p;
        while (p < end && *p != ',') {
            p++;
        }
        e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (e > s) {
            elt->data = s;
            elt->len = (size_t) (e - s);
            *pos = p;
            return true;
        }
    }
}

static bool
pco_http_parse_is_token(const pco_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (!pco_http_parse_is(s->data[i], PCO_HTTP_C_TCHAR)) {
            return false;
        }
    }
    return s->len > 0;
}

/* Content-Length: one value or a list of identical ones, each 1*18 DIGIT; 0 or 400. */
static int
pco_http_parse_content_length(pco_http_head_t *h, const pco_str_t *v)
{
    const u_char  *p, *end;
    int64_t       n;
    size_t        digits;

    p = v->data;
    end = p + v->len;
    if (p == end) {
        return 400;
    }
    for ( ;; ) {
        n = 0;
        digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (++digits > 18) {
                return 400;
            }
            n = n * 10 + (*p++ - '0');
        }
        if (digits == 0) {
            return 400;
        }
        if (h->content_length >= 0 && h->content_length != n) {
            return 400;
        }
        h->content_length = n;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p == end) {
            return 0;
        }
        if (*p++ != ',') {
            return 400;
        }
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
    }
}

static int
pco_http_parse_transfer_encoding(pco_http_parse_te_t *te, const pco_str_t *v)
{
    u_char     *p;
    pco_str_t  elt;

    te->seen = true;
    p = v->data;
    while (pco_http_parse_list_next(&p, v->data + v->len, &elt)) {
        if (!pco_http_parse_is_token(&elt)) {
            return 400;
        }
        if (elt.len == 7 && pco_http_parse_ieq(elt.data, "chunked", 7)) {
            te->nchunked++;
            te->last_chunked = true;
        } else {
            if (te->nchunked == 0) {
                te->other = true;
            }
            te->last_chunked = false;
        }
    }
    return 0;
}

static void
pco_http_parse_connection(pco_http_head_t *h, const pco_str_t *v, bool *close, bool *ka)
{
    u_char     *p;
    pco_str_t  elt;

    p = v->data;
    while (pco_http_parse_list_next(&p, v->data + v->len, &elt)) {
        if (elt.len == 5 && pco_http_parse_ieq(elt.data, "close", 5)) {
            *close = true;
        } else if (elt.len == 10 && pco_http_parse_ieq(elt.data, "keep-alive", 10)) {
            *ka = true;
        } else if (elt.len == 7 && pco_http_parse_ieq(elt.data, "upgrade", 7)) {
            h->conn_upgrade = true;
        }
    }
}

/* Interprets the well-known header hdr (index idx); 0 or a status. */
static int
pco_http_parse_known(pco_http_head_t *h, pco_http_header_t *hdr, unsigned idx,
                     pco_http_parse_te_t *te, bool *close, bool *ka)
{
    const u_char  *n;

    n = hdr->name.data;
    switch (hdr->name.len) {
    case 4:
        if (pco_http_parse_ieq(n, "host", 4)) {
            if (h->host_idx != 0) {
                return 400;
            }
            h->host_idx = idx;
        }
        break;
    case 6:
        if (pco_http_parse_ieq(n, "expect", 6) && h->version == 11) {
            if (hdr->value.len == 12 && pco_http_parse_ieq(hdr->value.data, "100-continue", 12)) {
                h->expect_continue = true;
            } else {
                return 417;
            }
        }
        break;
    case 7:
        if (pco_http_parse_ieq(n, "upgrade", 7) && h->upgrade_idx == 0) {
            h->upgrade_idx = idx;
        }
        break;
    case 10:
        if (pco_http_parse_ieq(n, "connection", 10)) {
            if (h->connection_idx == 0) {
                h->connection_idx = idx;
            }
            pco_http_parse_connection(h, &hdr->value, close, ka);
        }
        break;
    case 14:
        if (pco_http_parse_ieq(n, "content-length", 14)) {
            return pco_http_parse_content_length(h, &hdr->value);
        }
        break;
    case 17:
        if (pco_http_parse_ieq(n, "transfer-encoding", 17)) {
            return pco_http_parse_transfer_encoding(te, &hdr->value);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* One header line [p, eol) (terminator excluded) into hdr; 0 or 400. */
static int
pco_http_parse_header_line(pco_http_header_t *hdr, u_char *p, u_char *eol)
{
    u_char  *s, *e;

    s = p;
    while (p < eol && pco_http_parse_is(*p, PCO_HTTP_C_TCHAR)) {
        p++;
    }
    if (p == s || p == eol || *p != ':') {
        return 400;
    }
    hdr->name.data = s;
    hdr->name.len = (size_t) (p - s);
    p++;
    while (p < eol && (*p == ' ' || *p == '\t')) {
        p++;
    }
    s = p;
    while (p < eol && pco_http_parse_is(*p, PCO_HTTP_C_VALUE)) {
        p++;
    }
    if (p != eol) {
        return 400;
    }
    e = eol;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    hdr->value.data = s;
    hdr->value.len = (size_t) (e - s);
    return 0;
}

/* Finds the end of the line starting at p: *eol at the terminator; next line start or NULL. */
static u_char *
pco_http_parse_line(u_char *p, u_char *end, u_char **eol)
{
    u_char  *lf;

    lf = memchr(p, '\n', (size_t) (end - p));
    if (lf == NULL) {
        return NULL;
    }
    *eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
    return lf + 1;
}

unsigned
pco_http_count_header_lines(const u_char *p, const u_char *end, unsigned max)
{
    const u_char  *lf;
    unsigned       n = 0;

    while (n < max && p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
        n++;
        lf = memchr(p, '\n', (size_t) (end - p));
        if (lf == NULL) {
            break;
        }
        p = lf + 1;
    }
    return n;
}

int
pco_http_parse_head(pco_http_head_t *h, u_char *buf, size_t len, size_t max_uri)
{
    u_char               *p, *end, *eol, *next;
    int                  rc;
    bool                 close, ka;
    pco_http_header_t    *hdr, *headers = h->headers;
    unsigned             nalloc = h->nalloc;
    pco_http_parse_te_t  te;

    /* the struct is small now that the list is elsewhere: clear it, keep the list */
    memset(h, 0, sizeof(*h));
    h->headers = headers;
    h->nalloc = nalloc;
    h->content_length = -1;
    memset(&te, 0, sizeof(te));
    close = false;
    ka = false;

    p = buf;
    end = buf + len;
    while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) {
        p += (*p == '\r') ? 2 : 1;
    }

    next = pco_http_parse_line(p, end, &eol);
    if (next == NULL) {
        return 400;
    }
    rc = pco_http_parse_request_line(h, p, eol, max_uri);
    if (rc != 0) {
        return rc;
    }

    for (p = next; ; p = next) {
        next = pco_http_parse_line(p, end, &eol);
        if (next == NULL) {
            return 400;
        }
        if (eol == p) {
            break;
        }
        if (*p == ' ' || *p == '\t') {
            return 400;     /* obs-fold */
        }
        if (h->nheaders == PCO_HTTP_MAX_HEADERS) {
            return 431;
        }
        if (h->nheaders == h->nalloc) {
            h->nwant = h->nheaders
                       + pco_http_count_header_lines(p, end, PCO_HTTP_MAX_HEADERS - h->nheaders);
            return PCO_HTTP_HEAD_ROOM;
        }
        hdr = &h->headers[h->nheaders];
        rc = pco_http_parse_header_line(hdr, p, eol);
        if (rc != 0) {
            return rc;
        }
        h->nheaders++;
        rc = pco_http_parse_known(h, hdr, h->nheaders, &te, &close, &ka);
        if (rc != 0) {
            return rc;
        }
    }

    if (te.seen) {
        if (h->version == 10 || h->content_length >= 0 || te.nchunked != 1 || !te.last_chunked) {
            return 400;
        }
        if (te.other) {
            return 501;
        }
        h->chunked = true;
    }
    if (h->version == 11 && h->host_idx == 0) {
        return 400;
    }
    h->keepalive = h->version == 11 ? !close : (ka && !close);
    return 0;
}

unsigned
pco_http_head_drop_underscores(pco_http_head_t *h)
{
    unsigned   i, j, k, dropped = 0;
    unsigned  *idx[3] = { &h->host_idx, &h->connection_idx, &h->upgrade_idx };

    for (i = 0, k = 0; i < h->nheaders; i++) {
        if (memchr(h->headers[i].name.data, '_', h->headers[i].name.len) != NULL) {
            dropped++;
            continue;
        }
        /* the well-known indexes never name such a header: they only move down */
        for (j = 0; j < 3; j++) {
            if (*idx[j] == i + 1) {
                *idx[j] = k + 1;
            }
        }
        h->headers[k++] = h->headers[i];
    }
    h->nheaders = k;
    return dropped;
}

pco_http_header_t *
pco_http_head_find(pco_http_head_t *h, const char *name, size_t len)
{
    unsigned  i;
    size_t    k;
    u_char    *n;

    for (i = 0; i < h->nheaders; i++) {
        if (h->headers[i].name.len != len) {
            continue;
        }
        n = h->headers[i].name.data;
        for (k = 0; k < len; k++) {
            if (pco_http_parse_lc(n[k]) != pco_http_parse_lc((u_char) name[k])) {
                break;
            }
        }
        if (k == len) {
            return &h->headers[i];
        }
    }
    return NULL;
}
