/*
 * fuzz_upstream_response.c: libFuzzer target for what the proxy parses from an upstream
 * (modules/proxy/pco_proxy_parse.c): the input is the byte stream an upstream sends, heads
 * (interim 1xx ones skipped as the proxy does) then a body.
 *
 * Head: pco_proxy_parse_response is called again on the whole buffer as bytes arrive (its
 * header list starting small and grown when the parser asks, as the proxy does), so
 * every prefix must agree with the whole: shorter than a complete head -> PCO_AGAIN (or
 * PCO_ERROR from the first bad line on, for ever after); from head_len on -> the same result.
 * A parsed head lies inside the input (strings, head_len), has a status 100..599, version 10
 * or 11, valid header names, values without CR, LF or NUL, and never both framings.
 * Body: a chunked body is decoded in place by pco_proxy_dechunk whole, in pieces split at
 * points taken from the input, and byte by byte (short bodies); payload, result and error
 * status must agree, and the payload never exceeds the input. Every buffer has the exact
 * size of its bytes, so ASan reports a read past the input. Invariant failures abort().
 */
#include <stdlib.h>
#include "pco_proxy_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the proxy's limit on chunk extensions and trailers (PCO_PROXY_BUF_SIZE) */
#define PCO_FUZZ_META_LIMIT  16384

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static bool
pco_fuzz_in(const u_char *buf, size_t len, const pco_str_t *s)
{
    return s->len == 0 || (s->data >= buf && s->data + s->len <= buf + len);
}

static bool
pco_fuzz_tchar(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void
pco_fuzz_check_resp(const u_char *buf, const pco_proxy_resp_t *r)
{
    const pco_http_header_t  *h;
    unsigned                  i;
    size_t                    k;

    pco_fuzz_check(r->status >= 100 && r->status <= 599);
    pco_fuzz_check(r->version == 10 || r->version == 11);
    pco_fuzz_check(r->nheaders <= PCO_PROXY_MAX_HEADERS);
    pco_fuzz_check(pco_fuzz_in(buf, r->head_len, &r->reason));
    pco_fuzz_check(!(r->chunked && r->content_length >= 0));
    pco_fuzz_check(r->content_length >= -1);
    for (i = 0; i < r->nheaders; i++) {
        h = &r->headers[i];
        pco_fuzz_check(h->name.len > 0 && pco_fuzz_in(buf, r->head_len, &h->name));
        pco_fuzz_check(pco_fuzz_in(buf, r->head_len, &h->value));
        for (k = 0; k < h->name.len; k++) {
            pco_fuzz_check(pco_fuzz_tchar(h->name.data[k]));
        }
        for (k = 0; k < h->value.len; k++) {
            pco_fuzz_check(h->value.data[k] != '\r' && h->value.data[k] != '\n'
                           && h->value.data[k] != '\0');
        }
    }
}

static bool
pco_fuzz_same_resp(const pco_proxy_resp_t *a, const pco_proxy_resp_t *b)
{
    return a->status == b->status && a->version == b->version && a->nheaders == b->nheaders
           && a->head_len == b->head_len && a->content_length == b->content_length
           && a->chunked == b->chunked && a->conn_close == b->conn_close
           && a->conn_upgrade == b->conn_upgrade && a->reason.len == b->reason.len;
}

/*
 * pco_proxy_parse_response as the proxy calls it (pco_proxy_parse_head): the header list
 * kept across calls, grown as pco_http_headers_grow does when the parser asks (to an
 * exact-size malloc, so ASan sees a write past it). Every ask is for more than the list
 * holds and no more than the maximum.
 */
static int
pco_fuzz_parse(u_char *buf, size_t len, pco_proxy_resp_t *r)
{
    int       rc;
    unsigned  room, asks = 0;

    while ((rc = pco_proxy_parse_response(buf, len, r)) == PCO_PROXY_ROOM) {
        pco_fuzz_check(r->nalloc < PCO_PROXY_MAX_HEADERS && r->nheaders == r->nalloc);
        pco_fuzz_check(r->nwant > r->nalloc && r->nwant <= PCO_PROXY_MAX_HEADERS);
        pco_fuzz_check(++asks <= 8);
        room = pco_min(pco_max(r->nwant, r->nalloc ? 2 * r->nalloc : 16),
                       PCO_PROXY_MAX_HEADERS);
        free(r->headers);
        r->headers = malloc(room * sizeof(pco_http_header_t));
        r->nalloc = room;
    }
    return rc;
}

/* A response whose header list has room for `room` entries to start with. */
static pco_proxy_resp_t *
pco_fuzz_resp(unsigned room)
{
    pco_proxy_resp_t  *r = calloc(1, sizeof(*r));

    r->headers = malloc((room ? room : 1) * sizeof(pco_http_header_t));
    r->nalloc = room;
    return r;
}

static void
pco_fuzz_resp_free(pco_proxy_resp_t *r)
{
    free(r->headers);
    free(r);
}

/* Parses buf[0, len) at prefix length l in a buffer of exactly l bytes. */
static int
pco_fuzz_parse_prefix(const u_char *buf, size_t l, pco_proxy_resp_t *r)
{
    u_char  *p = malloc(l ? l : 1);
    int      rc;

    memcpy(p, buf, l);
    rc = pco_fuzz_parse(p, l, r);
    free(p);
    return rc;
}

/* One head at buf[0, len): the whole parse (in resp, pointing into buf) and its prefixes. */
static int
pco_fuzz_head(u_char *buf, size_t len, pco_proxy_resp_t *resp, pco_proxy_resp_t *tmp)
{
    size_t  l, step;
    int     rc, prc;
    bool    failed = false;

    rc = pco_fuzz_parse(buf, len, resp);
    pco_fuzz_check(rc == PCO_OK || rc == PCO_AGAIN || rc == PCO_ERROR);
    if (rc == PCO_OK) {
        pco_fuzz_check(resp->head_len > 0 && resp->head_len <= len);
        pco_fuzz_check(buf[resp->head_len - 1] == '\n');
        pco_fuzz_check_resp(buf, resp);
    }
    /* every prefix when short, else about 64 of them plus those around head_len */
    step = len <= 512 ? 1 : len / 64;
    for (l = 0; l <= len; l += step) {
        prc = pco_fuzz_parse_prefix(buf, l, tmp);
        if (rc == PCO_OK && l >= resp->head_len) {
            pco_fuzz_check(prc == PCO_OK && pco_fuzz_same_resp(tmp, resp));
        } else if (rc == PCO_OK || rc == PCO_AGAIN) {
            pco_fuzz_check(prc == PCO_AGAIN);
        } else {
            /* an error, once seen, stays */
            pco_fuzz_check(prc == PCO_ERROR || (prc == PCO_AGAIN && !failed));
            failed = failed || prc == PCO_ERROR;
        }
    }
    if (rc == PCO_OK) {
        pco_fuzz_check(pco_fuzz_parse_prefix(buf, resp->head_len - 1, tmp) == PCO_AGAIN);
        pco_fuzz_check(pco_fuzz_parse_prefix(buf, resp->head_len, tmp) == PCO_OK
                       && pco_fuzz_same_resp(tmp, resp));
    }
    return rc;
}

typedef struct {
    u_char  *out;       /* the payload so far */
    size_t   len;
    int      rc;        /* PCO_OK (more), PCO_DONE, PCO_ERROR */
    int      status;
    bool     extra;
} pco_fuzz_body_t;

/* Decodes body[0, size) with one pco_proxy_dechunk call per piece of at most max bytes
 * (cut short where cuts[] says), each piece in its own exact-size buffer as a read. */
static void
pco_fuzz_dechunk(const u_char *body, size_t size, const size_t *cuts, size_t ncuts,
                 size_t max, pco_fuzz_body_t *res)
{
    pco_http_chunked_t  ch;
    u_char             *piece;
    size_t              off = 0, n, len, c = 0;
    bool                extra;

    memset(&ch, 0, sizeof(ch));
    ch.meta_limit = PCO_FUZZ_META_LIMIT;
    res->out = malloc(size ? size : 1);
    res->len = 0;
    res->rc = PCO_OK;
    res->extra = false;
    res->status = 0;
    while (off < size && res->rc == PCO_OK) {
        n = pco_min(size - off, max);
        while (c < ncuts && cuts[c] <= off) {
            c++;
        }
        if (c < ncuts && cuts[c] - off < n) {
            n = cuts[c] - off;
        }
        piece = malloc(n);
        memcpy(piece, body + off, n);
        res->rc = pco_proxy_dechunk(&ch, piece, n, &len, &extra);
        pco_fuzz_check(len <= n && res->len + len <= size);
        pco_fuzz_check(extra == false || res->rc == PCO_DONE);
        memcpy(res->out + res->len, piece, len);
        res->len += len;
        /* bytes past the end: in this piece, or pieces the proxy would not read */
        res->extra = extra || (res->rc == PCO_DONE && off + n < size);
        free(piece);
        off += n;
    }
    if (res->rc == PCO_ERROR) {
        res->status = ch.status;
        pco_fuzz_check(ch.status == 400 || ch.status == 431);
    }
}

static void
pco_fuzz_body(const uint8_t *body, size_t size, const uint8_t *data, size_t dsize)
{
    pco_fuzz_body_t  whole, split, bytes;
    size_t           cuts[3];

    if (size == 0) {
        return;
    }
    pco_fuzz_dechunk(body, size, NULL, 0, size, &whole);
    /* three cut points derived from the first input bytes */
    cuts[0] = (dsize > 0 ? data[0] : 0) % size;
    cuts[1] = cuts[0] + (dsize > 1 ? data[1] : 1) % size;
    cuts[2] = cuts[1] + (dsize > 2 ? data[2] * 7 : 2) % size;
    pco_fuzz_dechunk(body, size, cuts, 3, size, &split);
    pco_fuzz_check(split.rc == whole.rc && split.len == whole.len
                   && memcmp(split.out, whole.out, whole.len) == 0
                   && split.extra == whole.extra && split.status == whole.status);
    if (size <= 2048) {
        pco_fuzz_dechunk(body, size, NULL, 0, 1, &bytes);
        pco_fuzz_check(bytes.rc == whole.rc && bytes.len == whole.len
                       && memcmp(bytes.out, whole.out, whole.len) == 0
                       && bytes.extra == whole.extra && bytes.status == whole.status);
        free(bytes.out);
    }
    free(whole.out);
    free(split.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_proxy_resp_t  *resp, *tmp;
    u_char            *buf;
    size_t             off = 0, len;
    int                rc, heads;
    bool               chunked;

    /* lists that start with room for 0 to 3 headers: most inputs make them grow */
    resp = pco_fuzz_resp(size > 0 ? data[size - 1] % 4 : 0);
    tmp = pco_fuzz_resp(size > 1 ? data[size - 2] % 4 : 0);
    /* interim responses are consumed and parsing goes on after them, as in the proxy */
    for (heads = 0; heads < 8; heads++) {
        len = size - off;
        buf = malloc(len ? len : 1);
        memcpy(buf, data + off, len);
        rc = pco_fuzz_head(buf, len, resp, tmp);
        free(buf);
        if (rc != PCO_OK) {
            break;
        }
        off += resp->head_len;
        if (resp->status >= 200 || resp->status == 101) {
            chunked = resp->chunked;
            if (chunked) {
                pco_fuzz_body(data + off, size - off, data, size);
            }
            break;
        }
    }
    pco_fuzz_resp_free(resp);
    pco_fuzz_resp_free(tmp);
    return 0;
}
