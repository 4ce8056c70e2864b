/*
 * fuzz_path.c: libFuzzer target for the path and host normalisers on their own
 * (modules/http/pco_http_parse_path.c). The input is a raw request path and, after the first
 * newline when there is one, a raw Host value (else the whole input is tried as a host too).
 *
 * Paths: pco_http_normalize_path never grows its input, is idempotent, yields a path that
 * starts with '/', has no empty, "." or ".." segment and no NUL unless the input had a raw
 * one (the request parser rejects those before), and agrees with a reference written here
 * the simple way (a stack of segments). pco_http_decode_path of a normalised path has no NUL,
 * no backslash and no "." or ".." segment either: it is what the static module opens.
 * Hosts: pco_http_normalize_host never grows, is idempotent, yields a lowercase name
 * without port, trailing dot or (outside brackets) empty label, and gives the same name with a port appended.
 * Invariant failures abort().
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

static bool
pco_fuzz_unreserved(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

static int
pco_fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * The reference: decode %XX of unreserved characters (upper-case the others), then split on
 * '/' into a stack of segments ("." skipped, ".." pops, empty skipped) and join them. A path
 * ending in '/', "." or ".." keeps a trailing '/'. Returns false where the real one must
 * fail: not starting with '/', a backslash, a bad escape, %00 %2F %5C, climbing above '/'.
 */
static bool
pco_fuzz_ref_path(const u_char *in, size_t len, u_char *out, size_t *out_len)
{
    u_char   *dec;
    size_t   *seg_s, *seg_l, nseg = 0, n = 0, i, s, w;
    bool      trailing = false, ok = false;
    int       hi, lo;
    u_char    c;

    if (len == 0 || in[0] != '/') {
        return false;
    }
    dec = malloc(len);
    seg_s = malloc(len * sizeof(size_t));
    seg_l = malloc(len * sizeof(size_t));
    for (i = 0; i < len; i++) {
        c = in[i];
        if (c == '\\') {
            goto done;
        }
        if (c == '%') {
            if (i + 2 >= len || (hi = pco_fuzz_hex(in[i + 1])) < 0
                || (lo = pco_fuzz_hex(in[i + 2])) < 0)
            {
                goto done;
            }
            c = (u_char) (hi * 16 + lo);
            if (c == 0 || c == '/' || c == '\\') {
                goto done;
            }
            i += 2;
            if (!pco_fuzz_unreserved(c)) {
                dec[n++] = '%';
                dec[n++] = "0123456789ABCDEF"[hi];
                dec[n++] = "0123456789ABCDEF"[lo];
                continue;
            }
        }
        dec[n++] = c;
    }
    for (i = 0; i < n; i = s) {
        while (i < n && dec[i] == '/') {
            i++;
        }
        if (i == n) {
            trailing = true;
            break;
        }
        for (s = i; s < n && dec[s] != '/'; s++) {
            /* the segment [i, s) */
        }
        if (s - i == 1 && dec[i] == '.') {
            trailing = true;
        } else if (s - i == 2 && dec[i] == '.' && dec[i + 1] == '.') {
            if (nseg == 0) {
                goto done;
            }
            nseg--;
            trailing = true;
        } else {
            seg_s[nseg] = i;
            seg_l[nseg++] = s - i;
            trailing = false;
        }
    }
    w = 0;
    for (i = 0; i < nseg; i++) {
        out[w++] = '/';
        memcpy(out + w, dec + seg_s[i], seg_l[i]);
        w += seg_l[i];
    }
    if (nseg == 0 || trailing) {
        out[w++] = '/';
    }
    *out_len = w;
    ok = true;
done:
    free(dec);
    free(seg_s);
    free(seg_l);
    return ok;
}

/* Every segment of p[0, n) (which starts with '/') is non-empty and neither "." nor "..",
 * except that a final '/' ends the path. */
static bool
pco_fuzz_clean_segments(const u_char *p, size_t n)
{
    size_t  i, s;

    if (n == 0 || p[0] != '/') {
        return false;
    }
    for (i = 1; i < n; i = s + 1) {
        for (s = i; s < n && p[s] != '/'; s++) {
            /* the segment [i, s) */
        }
        if (s == i) {
            return s == n;          /* empty: only the root itself */
        }
        if ((s - i == 1 && p[i] == '.') || (s - i == 2 && p[i] == '.' && p[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

static void
pco_fuzz_path(const u_char *in, size_t len)
{
    u_char  *out, *out2, *ref, *dec;
    size_t   n, n2, nr, d;
    bool     changed, ok_ref;
    int      rc;

    out = malloc(len + 1);
    out2 = malloc(len + 1);
    ref = malloc(len + 1);
    dec = malloc(len + 1);
    rc = pco_http_normalize_path(in, len, out, &n, &changed);
    ok_ref = pco_fuzz_ref_path(in, len, ref, &nr);
    pco_fuzz_check((rc == 0) == ok_ref);
    pco_fuzz_check(rc == 0 || rc == 400);
    if (rc == 0) {
        pco_fuzz_check(n == nr && memcmp(out, ref, n) == 0);
        pco_fuzz_check(n > 0 && n <= len);
        pco_fuzz_check(changed == (n != len || memcmp(out, in, n) != 0));
        pco_fuzz_check(pco_fuzz_clean_segments(out, n));
        pco_fuzz_check(memchr(in, '\0', len) != NULL || memchr(out, '\0', n) == NULL);
        pco_fuzz_check(pco_http_normalize_path(out, n, out2, &n2, &changed) == 0);
        pco_fuzz_check(n2 == n && memcmp(out, out2, n) == 0 && !changed);

        if (pco_http_decode_path(out, n, dec, &d) == 0) {
            pco_fuzz_check(d <= n && memchr(dec, '\0', d) == NULL);
            pco_fuzz_check(memchr(dec, '\\', d) == NULL);
            pco_fuzz_check(pco_fuzz_clean_segments(dec, d));
        } else {
            /* only a raw NUL makes decoding a normalised path fail */
            pco_fuzz_check(memchr(out, '\0', n) != NULL);
        }
    }
    free(out);
    free(out2);
    free(ref);
    free(dec);
}

static void
pco_fuzz_host(const u_char *in, size_t len)
{
    u_char  *out, *out2, *ported;
    size_t   n, n2, i;

    if (len == 0) {
        pco_fuzz_check(pco_http_normalize_host(in, len, NULL, &n) == 400);
        return;
    }
    out = malloc(len);
    out2 = malloc(len + 6);
    ported = malloc(len + 6);
    if (pco_http_normalize_host(in, len, out, &n) == 0) {
        pco_fuzz_check(n > 0 && n <= len);
        pco_fuzz_check(out[n - 1] != '.' && out[0] != '.');
        for (i = 0; i < n; i++) {
            pco_fuzz_check(!(out[i] >= 'A' && out[i] <= 'Z') && out[i] > 0x20 && out[i] != 0x7f
                           && out[i] != '/' && out[i] != '\\');
            /* a reg-name: no port, no empty label (an IPv6 literal is only checked for its
             * characters, so "[1..2]" passes: it matches no server name) */
            pco_fuzz_check(out[0] == '[' || out[i] != ':');
            pco_fuzz_check(out[0] == '[' || i == 0 || out[i] != '.' || out[i - 1] != '.');
        }
        pco_fuzz_check(pco_http_normalize_host(out, n, out2, &n2) == 0);
        pco_fuzz_check(n2 == n && memcmp(out, out2, n) == 0);
        memcpy(ported, out, n);
        memcpy(ported + n, ":8080", 5);
        pco_fuzz_check(pco_http_normalize_host(ported, n + 5, out2, &n2) == 0);
        pco_fuzz_check(n2 == n && memcmp(out, out2, n) == 0);
    }
    free(out);
    free(out2);
    free(ported);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *nl;
    u_char         *path, *host;
    size_t          plen, hlen;

    /* each part in a buffer of its exact size: ASan reports any read past it */
    nl = memchr(data, '\n', size);
    plen = nl != NULL ? (size_t) (nl - data) : size;
    hlen = nl != NULL ? size - plen - 1 : size;
    path = malloc(plen ? plen : 1);
    host = malloc(hlen ? hlen : 1);
    memcpy(path, data, plen);
    memcpy(host, nl != NULL ? nl + 1 : data, hlen);
    pco_fuzz_path(path, plen);
    pco_fuzz_host(host, hlen);
    free(path);
    free(host);
    return 0;
}
