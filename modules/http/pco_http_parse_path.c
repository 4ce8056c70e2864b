/*
 * pco_http_parse_path.c: pure normalisation of request paths and host names (docs/http.md
 * "Host" and "Targets and paths"): percent-decoding of unreserved characters, dot-segment
 * removal (RFC 3986 §5.2.4) with slash merging, lowercase hosts without port or trailing dot,
 * and the full percent-decoding static files need. No I/O, no allocation.
 */
#include "pco_http_parse.h"

static const char  pco_http_path_hex[] = "0123456789ABCDEF";

static int
pco_http_path_hexval(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static bool
pco_http_path_unreserved(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Pass 1: %-decoding of unreserved characters into out; returns the length or -1. */
static ssize_t
pco_http_path_decode_unreserved(const u_char *in, size_t len, u_char *out)
{
    size_t  i, w;
    int     hi, lo;
    u_char  c;

    w = 0;
    for (i = 0; i < len; i++) {
        c = in[i];
        if (c == '\\') {
            return -1;
        }
        if (c != '%') {
            out[w++] = c;
            continue;
        }
        if (len - i < 3) {
            return -1;
        }
        hi = pco_http_path_hexval(in[i + 1]);
        lo = pco_http_path_hexval(in[i + 2]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        c = (u_char) (hi << 4 | lo);
        if (c == 0 || c == '/' || c == '\\') {
            return -1;
        }
        if (pco_http_path_unreserved(c)) {
            out[w++] = c;
        } else {
            out[w++] = '%';
            out[w++] = (u_char) pco_http_path_hex[hi];
            out[w++] = (u_char) pco_http_path_hex[lo];
        }
        i += 2;
    }
    return (ssize_t) w;
}

/*
 * Pass 2, in place on out[0..n): segments "." dropped, ".." pop one, empty ones (duplicate
 * slashes) dropped; a trailing slash or dot-segment leaves a trailing '/'. The write index
 * stays below the read index, so copying in place is safe. Returns the length or -1.
 */
static ssize_t
pco_http_path_remove_dots(u_char *out, size_t n)
{
    size_t  r, w, e, slen;
    bool    trailing;

    r = 0;
    w = 0;
    trailing = false;
    while (r < n) {
        while (r < n && out[r] == '/') {
            r++;
        }
        if (r == n) {
            trailing = true;
            break;
        }
        e = r;
        while (e < n && out[e] != '/') {
            e++;
        }
        slen = e - r;
        if (slen == 1 && out[r] == '.') {
            trailing = true;
        } else if (slen == 2 && out[r] == '.' && out[r + 1] == '.') {
            if (w == 0) {
                return -1;
            }
            while (out[--w] != '/') {
                /* pop one segment */
            }
            trailing = true;
        } else {
            out[w++] = '/';
            memmove(out + w, out + r, slen);
            w += slen;
            trailing = false;
        }
        r = e;
    }
    if (w == 0 || trailing) {
        out[w++] = '/';
    }
    return (ssize_t) w;
}

int
pco_http_normalize_path(const u_char *in, size_t len, u_char *out, size_t *out_len,
                        bool *changed)
{
    ssize_t  n;

    if (len == 0 || in[0] != '/') {
        return 400;
    }
    n = pco_http_path_decode_unreserved(in, len, out);
    if (n < 0) {
        return 400;
    }
    n = pco_http_path_remove_dots(out, (size_t) n);
    if (n < 0) {
        return 400;
    }
    *out_len = (size_t) n;
    *changed = (size_t) n != len || memcmp(in, out, len) != 0;
    return 0;
}

/* Port after ':' in [p, end): 1*5 DIGIT <= 65535. */
static bool
pco_http_host_port_ok(const u_char *p, const u_char *end)
{
    unsigned  v;
    size_t    n;

    n = (size_t) (end - p);
    if (n == 0 || n > 5) {
        return false;
    }
    v = 0;
    for ( ; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        v = v * 10 + (unsigned) (*p - '0');
    }
    return v <= 65535;
}

static int
pco_http_host_v6(const u_char *in, size_t len, u_char *out, size_t *out_len)
{
    size_t  i;
    u_char  c;

    out[0] = '[';
    for (i = 1; i < len; i++) {
        c = in[i];
        if (c == ']') {
            break;
        }
        if (c >= 'A' && c <= 'F') {
            c |= 0x20;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) {
            return 400;
        }
        out[i] = c;
    }
    if (i == len || i == 1) {
        return 400;
    }
    out[i] = ']';
    if (i + 1 < len && (in[i + 1] != ':' || !pco_http_host_port_ok(in + i + 2, in + len))) {
        return 400;
    }
    *out_len = i + 1;
    return 0;
}

int
pco_http_normalize_host(const u_char *in, size_t len, u_char *out, size_t *out_len)
{
    size_t  i, n;
    u_char  c;

    if (len == 0) {
        return 400;
    }
    if (in[0] == '[') {
        return pco_http_host_v6(in, len, out, out_len);
    }
    for (i = 0; i < len; i++) {
        c = in[i];
        if (c == ':') {
            if (!pco_http_host_port_ok(in + i + 1, in + len)) {
                return 400;
            }
            break;
        }
        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        } else if (c == '.') {
            if (i == 0 || in[i - 1] == '.') {
                return 400;
            }
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
                     || c == '~'))
        {
            return 400;
        }
        out[i] = c;
    }
    n = i;
    if (n > 0 && out[n - 1] == '.') {
        n--;
    }
    if (n == 0) {
        return 400;
    }
    *out_len = n;
    return 0;
}

int
pco_http_decode_path(const u_char *in, size_t len, u_char *out, size_t *out_len)
{
    size_t  i, w;
    int     hi, lo;
    u_char  c;

    w = 0;
    for (i = 0; i < len; i++) {
        c = in[i];
        if (c == '%') {
            if (len - i < 3) {
                return 400;
            }
            hi = pco_http_path_hexval(in[i + 1]);
            lo = pco_http_path_hexval(in[i + 2]);
            if (hi < 0 || lo < 0) {
                return 400;
            }
            c = (u_char) (hi << 4 | lo);
            i += 2;
        }
        if (c == 0) {
            return 400;
        }
        out[w++] = c;
    }
    *out_len = w;
    return 0;
}
