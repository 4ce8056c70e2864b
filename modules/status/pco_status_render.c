/*
 * pco_status_render.c: pure helpers of the status module: a growable output buffer with a
 * hard cap (malloc'd, freed by the caller, so a large document does not eat the request
 * pool's budget), Prometheus text exposition 0.0.4 pieces (family header, sample lines,
 * label escaping), JSON string escaping and the loopback test. No hooks, no shared state;
 * unit-tested by t/unit/test_status.c.
 */
#include "pco_status.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

const int64_t pco_status_bucket_ms[PCO_STATUS_NBUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

const char *const pco_status_bucket_le[PCO_STATUS_NBUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"
};

void
pco_status_buf_init(pco_status_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = false;
}

void
pco_status_buf_free(pco_status_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
pco_status_buf_add(pco_status_buf_t *b, const void *p, size_t n)
{
    size_t   cap;
    u_char  *d;

    if (b->failed || n == 0) {
        return;
    }
    if (n > b->max - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) {
            cap *= 2;
        }
        if (cap > b->max) {
            cap = b->max;
        }
        d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void
pco_status_buf_cstr(pco_status_buf_t *b, const char *s)
{
    pco_status_buf_add(b, s, strlen(s));
}

void
pco_status_buf_int(pco_status_buf_t *b, int64_t v)
{
    char  tmp[32];
    int   n = snprintf(tmp, sizeof(tmp), "%lld", (long long) v);

    pco_status_buf_add(b, tmp, (size_t) n);
}

void
pco_status_buf_msec(pco_status_buf_t *b, int64_t ms)
{
    char  tmp[40];
    int   n;

    if (ms < 0) {
        ms = 0;
    }
    n = snprintf(tmp, sizeof(tmp), "%lld.%03lld", (long long) (ms / 1000),
                 (long long) (ms % 1000));
    pco_status_buf_add(b, tmp, (size_t) n);
}

void
pco_status_prom_escape(pco_status_buf_t *b, const u_char *p, size_t n)
{
    size_t  i, start = 0;

    for (i = 0; i < n; i++) {
        const char  *esc = p[i] == '\\' ? "\\\\" : p[i] == '"' ? "\\\"" : p[i] == '\n' ? "\\n"
                                                                                   : NULL;

        if (esc != NULL) {
            pco_status_buf_add(b, p + start, i - start);
            pco_status_buf_add(b, esc, 2);
            start = i + 1;
        }
    }
    pco_status_buf_add(b, p + start, n - start);
}

void
pco_status_prom_family(pco_status_buf_t *b, const char *name, const char *type,
                       const char *help)
{
    pco_status_buf_cstr(b, "# HELP portico_");
    pco_status_buf_cstr(b, name);
    pco_status_buf_cstr(b, " ");
    pco_status_buf_cstr(b, help);
    pco_status_buf_cstr(b, "\n# TYPE portico_");
    pco_status_buf_cstr(b, name);
    pco_status_buf_cstr(b, " ");
    pco_status_buf_cstr(b, type);
    pco_status_buf_cstr(b, "\n");
}

void
pco_status_prom_sample(pco_status_buf_t *b, const char *name, const pco_status_label_t *labels,
                       size_t nlabels, const char *value)
{
    size_t  i;

    pco_status_buf_cstr(b, "portico_");
    pco_status_buf_cstr(b, name);
    if (nlabels > 0) {
        pco_status_buf_cstr(b, "{");
        for (i = 0; i < nlabels; i++) {
            if (i > 0) {
                pco_status_buf_cstr(b, ",");
            }
            pco_status_buf_cstr(b, labels[i].name);
            pco_status_buf_cstr(b, "=\"");
            pco_status_prom_escape(b, labels[i].value.data, labels[i].value.len);
            pco_status_buf_cstr(b, "\"");
        }
        pco_status_buf_cstr(b, "}");
    }
    pco_status_buf_cstr(b, " ");
    pco_status_buf_cstr(b, value);
    pco_status_buf_cstr(b, "\n");
}

void
pco_status_prom_int(pco_status_buf_t *b, const char *name, const pco_status_label_t *labels,
                    size_t nlabels, int64_t v)
{
    char  tmp[32];

    snprintf(tmp, sizeof(tmp), "%lld", (long long) v);
    pco_status_prom_sample(b, name, labels, nlabels, tmp);
}

void
pco_status_json_string(pco_status_buf_t *b, const u_char *p, size_t n)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i, start = 0;
    char               esc[8];
    size_t             elen;

    pco_status_buf_cstr(b, "\"");
    for (i = 0; i < n; i++) {
        u_char  ch = p[i];

        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char) ch;
            elen = 2;
        } else if (ch == '\n') {
            memcpy(esc, "\\n", 2);
            elen = 2;
        } else if (ch == '\t') {
            memcpy(esc, "\\t", 2);
            elen = 2;
        } else if (ch == '\r') {
            memcpy(esc, "\\r", 2);
            elen = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 0xf];
            elen = 6;
        } else {
            continue;
        }
        pco_status_buf_add(b, p + start, i - start);
        pco_status_buf_add(b, esc, elen);
        start = i + 1;
    }
    pco_status_buf_add(b, p + start, n - start);
    pco_status_buf_cstr(b, "\"");
}

bool
pco_status_is_loopback(const pco_sockaddr_t *sa)
{
    const u_char  *a;

    if (sa == NULL) {
        return false;
    }
    switch (sa->sa.sa_family) {
    case AF_INET:
        return (ntohl(sa->sin.sin_addr.s_addr) >> 24) == 127;
    case AF_INET6:
        if (IN6_IS_ADDR_LOOPBACK(&sa->sin6.sin6_addr)) {
            return true;
        }
        a = sa->sin6.sin6_addr.s6_addr;
        return IN6_IS_ADDR_V4MAPPED(&sa->sin6.sin6_addr) && a[12] == 127;
    case AF_UNIX:
        return true;
    default:
        return false;
    }
}

pco_str_t
pco_status_cstr(const char *s)
{
    pco_str_t  v;

    v.data = (u_char *) s;
    v.len = strlen(s);
    return v;
}

void
pco_status_buf_usec(pco_status_buf_t *b, uint64_t us)
{
    char  tmp[40];
    int   n = snprintf(tmp, sizeof(tmp), "%llu.%06llu", (unsigned long long) (us / 1000000),
                       (unsigned long long) (us % 1000000));

    pco_status_buf_add(b, tmp, (size_t) n);
}

void
pco_status_prom_histogram(pco_status_buf_t *b, const char *name, pco_status_label_t *labels,
                          size_t nlabels, const uint64_t *bucket, size_t nbuckets,
                          const char *const *le, uint64_t sum_us)
{
    char      sample[96], secs[48];
    uint64_t  cum = 0;
    size_t    k;

    snprintf(sample, sizeof(sample), "%s_bucket", name);
    labels[nlabels].name = "le";
    for (k = 0; k <= nbuckets; k++) {
        const char  *bound = k < nbuckets ? le[k] : "+Inf";

        cum += bucket[k];
        labels[nlabels].value.data = (u_char *) bound;
        labels[nlabels].value.len = strlen(bound);
        pco_status_prom_int(b, sample, labels, nlabels + 1, (int64_t) cum);
    }
    snprintf(sample, sizeof(sample), "%s_sum", name);
    snprintf(secs, sizeof(secs), "%llu.%06llu", (unsigned long long) (sum_us / 1000000),
             (unsigned long long) (sum_us % 1000000));
    pco_status_prom_sample(b, sample, labels, nlabels, secs);
    snprintf(sample, sizeof(sample), "%s_count", name);
    pco_status_prom_int(b, sample, labels, nlabels, (int64_t) cum);
}

size_t
pco_status_key(char *buf, size_t size, const pco_str_t *listen, const pco_str_t *name,
               const pco_str_t *route)
{
    int  n;

    if (route != NULL) {
        n = snprintf(buf, size, "%.*s|%.*s|%.*s", (int) pco_min(listen->len, 200),
                     (const char *) listen->data, (int) pco_min(name->len, 300),
                     (const char *) name->data, (int) pco_min(route->len, 1000),
                     (const char *) route->data);
    } else {
        n = snprintf(buf, size, "%.*s|%.*s", (int) pco_min(listen->len, 200),
                     (const char *) listen->data, (int) pco_min(name->len, 300),
                     (const char *) name->data);
    }
    return n < 0 ? 0 : pco_min((size_t) n, size - 1);
}
