/*
 * fuzz_http_parse.c: libFuzzer target for the pure HTTP/1.x parser. The input is a head
 * (searched for incrementally, byte by byte for the first part, then whole) followed by a
 * chunked body; the head is parsed and its path and host normalised and decoded, and the body
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
        rc = pco_http_parse_head(h, buf, end, 8192);
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
