/*
 * pco_proxy_parse.c: strict parsing of an upstream response head and in-place decoding of a
 * chunked body (see pco_proxy_parse.h). Pure: no I/O, no allocation, no shared state.
 */
#include "pco_proxy_parse.h"
#include "pco_string.h"

/* True when the comma-separated value holds token (case-insensitive). */
static bool
pco_proxy_has_token(const pco_str_t *v, const char *token)
{
    size_t  tl = strlen(token), i = 0, s, e;

    while (i < v->len) {
        while (i < v->len && (v->data[i] == ' ' || v->data[i] == '\t' || v->data[i] == ',')) {
            i++;
        }
        s = i;
        while (i < v->len && v->data[i] != ',') {
            i++;
        }
        e = i;
        while (e > s && (v->data[e - 1] == ' ' || v->data[e - 1] == '\t')) {
            e--;
        }
        if (e - s == tl && strncasecmp((const char *) v->data + s, token, tl) == 0) {
            return true;
        }
    }
    return false;
}

/* The end of the line starting at p (pointing at '\n'), or NULL when not in [p, last). */
static u_char *
pco_proxy_line_end(u_char *p, u_char *last)
{
    return memchr(p, '\n', (size_t) (last - p));
}

static int
pco_proxy_parse_status(u_char *p, u_char *e, pco_proxy_resp_t *resp)
{
    /* e points at '\n'; strip an optional CR */
    if (e > p && e[-1] == '\r') {
        e--;
    }
    if (e - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1')
        || p[8] != ' ')
    {
        return PCO_ERROR;
    }
    resp->version = p[7] == '1' ? 11 : 10;
    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9') {
        return PCO_ERROR;
    }
    resp->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (e - p > 12 && p[12] != ' ') {
        return PCO_ERROR;
    }
    resp->reason.data = p + pco_min(13, e - p);
    resp->reason.len = (size_t) (e - resp->reason.data);
    for (p = resp->reason.data; p < e; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

static int
pco_proxy_parse_cl(const pco_str_t *v, int64_t *out)
{
    int64_t  n = 0;
    size_t   i;

    if (v->len == 0 || v->len > 18) {
        return PCO_ERROR;
    }
    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            return PCO_ERROR;
        }
        n = n * 10 + (v->data[i] - '0');
    }
    *out = n;
    return PCO_OK;
}

/* One header line [p, e] (e at its '\n'; the head's bytes end at last). */
static int
pco_proxy_parse_header(u_char *p, u_char *e, u_char *last, pco_proxy_resp_t *resp,
                       bool *has_te)
{
    pco_http_header_t  *h;
    u_char             *colon, *v, *ve;
    int64_t             cl;

    if (resp->nheaders == PCO_PROXY_MAX_HEADERS) {
        return PCO_ERROR;
    }
    if (resp->nheaders == resp->nalloc) {
        resp->nwant = resp->nheaders
                      + pco_http_count_header_lines(p, last,
                                                    PCO_PROXY_MAX_HEADERS - resp->nheaders);
        return PCO_PROXY_ROOM;
    }
    ve = e;
    if (ve > p && ve[-1] == '\r') {
        ve--;
    }
    colon = memchr(p, ':', (size_t) (ve - p));
    if (colon == NULL || colon == p) {
        return PCO_ERROR;
    }
    for (v = p; v < colon; v++) {
        if (!pco_is_tchar(*v)) {
            return PCO_ERROR;
        }
    }
    h = &resp->headers[resp->nheaders++];
    h->name.data = p;
    h->name.len = (size_t) (colon - p);
    v = colon + 1;
    while (v < ve && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
        ve--;
    }
    h->value.data = v;
    h->value.len = (size_t) (ve - v);
    for (; v < ve; v++) {
        if ((*v < 0x20 && *v != '\t') || *v == 0x7f) {
            return PCO_ERROR;
        }
    }
    if (pco_str_caseeq_lit(&h->name, "Content-Length")) {
        if (pco_proxy_parse_cl(&h->value, &cl) != PCO_OK) {
            return PCO_ERROR;
        }
        if (resp->content_length >= 0 && resp->content_length != cl) {
            return PCO_ERROR;
        }
        resp->content_length = cl;
    } else if (pco_str_caseeq_lit(&h->name, "Transfer-Encoding")) {
        if (*has_te || !pco_str_caseeq_lit(&h->value, "chunked")) {
            return PCO_ERROR;
        }
        *has_te = true;
        resp->chunked = true;
    } else if (pco_str_caseeq_lit(&h->name, "Connection")) {
        if (pco_proxy_has_token(&h->value, "close")) {
            resp->conn_close = true;
        }
        if (pco_proxy_has_token(&h->value, "upgrade")) {
            resp->conn_upgrade = true;
        }
    }
    return PCO_OK;
}

int
pco_proxy_parse_response(u_char *buf, size_t len, pco_proxy_resp_t *resp)
{
    u_char             *p = buf, *last = buf + len, *e;
    bool                has_te = false;
    int                 rc;
    pco_http_header_t  *headers = resp->headers;
    unsigned            nalloc = resp->nalloc;

    /* small now that the list is elsewhere: clear it, keep the list */
    memset(resp, 0, sizeof(*resp));
    resp->headers = headers;
    resp->nalloc = nalloc;
    resp->content_length = -1;
    e = pco_proxy_line_end(p, last);
    if (e == NULL) {
        if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0) {
            return PCO_ERROR;
        }
        return PCO_AGAIN;
    }
    if (pco_proxy_parse_status(p, e, resp) != PCO_OK) {
        return PCO_ERROR;
    }
    p = e + 1;
    for ( ;; ) {
        e = pco_proxy_line_end(p, last);
        if (e == NULL) {
            return PCO_AGAIN;
        }
        if (e == p || (e == p + 1 && *p == '\r')) {
            resp->head_len = (size_t) (e + 1 - buf);
            break;
        }
        if (*p == ' ' || *p == '\t') {
            return PCO_ERROR;   /* obsolete line folding */
        }
        rc = pco_proxy_parse_header(p, e, last, resp, &has_te);
        if (rc != PCO_OK) {
            return rc;
        }
        p = e + 1;
    }
    if (resp->chunked && resp->content_length >= 0) {
        return PCO_ERROR;
    }
    return PCO_OK;
}

int
pco_proxy_dechunk(pco_http_chunked_t *ch, u_char *buf, size_t n, size_t *len, bool *extra)
{
    u_char  *pos = buf, *last = buf + n, *dst = buf;
    size_t   take;
    int      rc;

    *extra = false;
    for ( ;; ) {
        rc = pco_http_parse_chunked(ch, &pos, last);
        if (rc == PCO_OK) {
            take = (size_t) pco_min((uint64_t) (last - pos), ch->left);
            memmove(dst, pos, take);
            dst += take;
            pos += take;
            ch->left -= take;
            continue;
        }
        *len = (size_t) (dst - buf);
        if (rc == PCO_AGAIN) {
            return PCO_OK;
        }
        if (rc == PCO_DONE && pos != last) {
            *extra = true;
        }
        return rc;
    }
}
