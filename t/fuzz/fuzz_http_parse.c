/*
 * fuzz_http_parse.c: libFuzzer target for the pure HTTP/1.x parser. The input is a head
 * (searched for incrementally, byte by byte for the first part, then whole) followed by a
 * chunked body; the head is parsed (its header list starting small and grown when the parser
 * asks, as the server does) and its path and host normalised and decoded, and the body
 * fed to the chunked decoder in two pieces split at a point taken from the input. Invariants
 * are checked with abort() so the fuzzer reports them: resumed and one-shot head searches
 * agree, normalisation never grows its output and is idempotent.
 */
#include <stdlib.h>
#include "pco_http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void
pco_fuzz_path(const pco_str_t *path)
{
    u_char  *out, *out2, *dec;
    size_t  n, n2, d;
    bool    changed;

    out = malloc(path->len + 1);
    out2 = malloc(path->len + 1);
    dec = malloc(path->len + 1);
    if (pco_http_normalize_path(path->data, path->len, out, &n, &changed) == 0) {
        pco_fuzz_check(n <= path->len && n > 0 && out[0] == '/');
        pco_fuzz_check(changed == (n != path->len || memcmp(out, path->data, n) != 0));
        pco_fuzz_check(pco_http_normalize_path(out, n, out2, &n2, &changed) == 0);
        pco_fuzz_check(n2 == n && memcmp(out, out2, n) == 0 && !changed);
        if (pco_http_decode_path(out, n, dec, &d) == 0) {
            pco_fuzz_check(d <= n);
        }
    }
    free(out);
    free(out2);
    free(dec);
}

static void
pco_fuzz_host(const pco_str_t *host)
{
    u_char  *out, *out2;
    size_t  n, n2;

    if (host->len == 0) {
        return;
    }
    out = malloc(host->len);
    out2 = malloc(host->len);
    if (pco_http_normalize_host(host->data, host->len, out, &n) == 0) {
        pco_fuzz_check(n > 0 && n <= host->len);
        pco_fuzz_check(pco_http_normalize_host(out, n, out2, &n2) == 0);
        pco_fuzz_check(n2 == n && memcmp(out, out2, n) == 0);
    }
    free(out);
    free(out2);
}

static void
pco_fuzz_chunked(const uint8_t *data, size_t size, size_t split)
{
    pco_http_chunked_t  ctx;
    u_char              *buf, *pos, *last;
    size_t              take, bound;
    int                 rc, piece;

    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    memset(&ctx, 0, sizeof(ctx));
    ctx.meta_limit = 1024;
    pos = buf;
    rc = PCO_AGAIN;
    for (piece = 0; piece < 2 && rc == PCO_AGAIN; piece++) {
        bound = piece == 0 ? split : size;
        last = buf + bound;
        for ( ;; ) {
            rc = pco_http_parse_chunked(&ctx, &pos, last);
            pco_fuzz_check(pos >= buf && pos <= last);
            if (rc != PCO_OK) {
                break;
            }
            pco_fuzz_check(ctx.left > 0 && pos < last);
            take = pco_min(ctx.left, (size_t) (last - pos));
            pos += take;
            ctx.left -= take;
        }
    }
    if (rc == PCO_ERROR) {
        pco_fuzz_check(ctx.status == 400 || ctx.status == 431);
    }
    free(buf);
}

/*
 * Parses as the server does, the header list starting with room for `room` entries (malloc'd
 * to the exact size, so ASan sees a write past it) and grown as pco_http_headers_grow does
 * when the parser asks: every ask must be for more than the list holds and no more than the
 * maximum, and the outcome must be the one a list with room for the maximum gives.
 */
static int
pco_fuzz_parse_grown(pco_http_head_t *h, u_char *buf, size_t len, unsigned room)
{
    pco_http_head_t    full;
    static pco_http_header_t  fh[PCO_HTTP_MAX_HEADERS];
    int                rc, frc;
    unsigned           asks = 0;

    memset(h, 0, sizeof(*h));
    h->headers = malloc((room ? room : 1) * sizeof(pco_http_header_t));
    h->nalloc = room;
    while ((rc = pco_http_parse_head(h, buf, len, 8192)) == PCO_HTTP_HEAD_ROOM) {
        pco_fuzz_check(h->nalloc < PCO_HTTP_MAX_HEADERS && h->nheaders == h->nalloc);
        pco_fuzz_check(h->nwant > h->nalloc && h->nwant <= PCO_HTTP_MAX_HEADERS);
        pco_fuzz_check(++asks <= 8);
        room = pco_min(pco_max(h->nwant, room ? 2 * room : 16), PCO_HTTP_MAX_HEADERS);
        free(h->headers);
        h->headers = malloc(room * sizeof(pco_http_header_t));
        h->nalloc = room;
    }
    memset(&full, 0, sizeof(full));
    full.headers = fh;
    full.nalloc = PCO_HTTP_MAX_HEADERS;
    frc = pco_http_parse_head(&full, buf, len, 8192);
    pco_fuzz_check(frc == rc && full.nheaders == h->nheaders && full.host_idx == h->host_idx
                   && full.content_length == h->content_length);
    pco_fuzz_check(h->nheaders == 0 || (full.headers[h->nheaders - 1].name.data
                                        == h->headers[h->nheaders - 1].name.data));
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_http_head_scan_t  scan, scan1;
    pco_http_head_t       *h;
    u_char                *buf;
    size_t                end, end1, i, split;
    int                   rc;

    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    memset(&scan, 0, sizeof(scan));
    end = pco_http_find_head_end(buf, size, &scan);

    /* the same search resumed one byte at a time (bounded for speed) */
    memset(&scan1, 0, sizeof(scan1));
    end1 = 0;
    for (i = 1; i <= size && i <= 4096 && end1 == 0; i++) {
        end1 = pco_http_find_head_end(buf, i, &scan1);
    }
    if (size <= 4096) {
        pco_fuzz_check(end1 == end && scan1.line_end == scan.line_end);
    }

    if (end != 0) {
        pco_fuzz_check(end <= size && scan.line_end != 0 && scan.line_end <= end);
        h = malloc(sizeof(*h));
        rc = pco_fuzz_parse_grown(h, buf, end, size > 0 ? data[0] % 4 : 0);
        pco_fuzz_check(rc == 0 || rc == 400 || rc == 405 || rc == 414 || rc == 417
                       || rc == 431 || rc == 501 || rc == 505);
        if (rc == 0) {
            pco_fuzz_check(h->nheaders <= PCO_HTTP_MAX_HEADERS);
            pco_fuzz_check(h->version == 10 || h->version == 11);
            pco_fuzz_path(&h->path);
            pco_fuzz_host(&h->authority);
            if (h->host_idx != 0) {
                pco_fuzz_host(&h->headers[h->host_idx - 1].value);
            }
        }
        free(h->headers);
        free(h);
    } else {
        /* no head: still exercise the normalisers on the raw bytes */
        pco_str_t  s = { size < 256 ? size : 256, buf };

        pco_fuzz_path(&s);
        pco_fuzz_host(&s);
    }

    split = size > end ? (size - end) / 2 + (size > 0 ? data[size - 1] % 7 : 0) : 0;
    pco_fuzz_chunked(data + end, size - end, pco_min(split, size - end));

    free(buf);
    return 0;
}
