/*
 * fuzz_cache_entry.c: libFuzzer target for the cache entry header parser
 * (modules/cache/pco_cache_entry.c), which reads files that may be truncated or corrupt.
 * The input is a file's bytes, parsed whole in a buffer of its exact size. A parsed header
 * lies inside the input, serialises back to exactly its bytes (the format has one way to
 * write each header), and every shorter prefix asks for more with the right length; the
 * freshness arithmetic on the parsed times must not overflow (UBSan). The input is also fed
 * as a response and request header value to the caching rules (pco_cache_control.c).
 * Invariant failures abort().
 */
#include <stdlib.h>
#include "../../modules/cache/pco_cache_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static bool
pco_fuzz_inside(const pco_str_t *s, const u_char *buf, size_t size)
{
    return s->data >= buf && s->len <= size && s->data + s->len <= buf + size;
}

/* Every prefix of a parsed header asks for more, naming the whole length once known. */
static void
pco_fuzz_prefixes(const u_char *buf, size_t header_len)
{
    pco_cache_entry_t  e;
    size_t             len, step;

    step = header_len > 4096 ? header_len / 512 : 1;
    for (len = 0; len < header_len; len += step) {
        pco_fuzz_check(pco_cache_entry_parse(&e, buf, len) == PCO_AGAIN);
        pco_fuzz_check(e.header_len == (len < 12 ? PCO_CACHE_ENTRY_FIXED : header_len));
    }
}

static void
pco_fuzz_parsed(const pco_cache_entry_t *e, const u_char *buf, size_t size)
{
    pco_cache_entry_t  copy = *e;
    u_char            *out;
    ssize_t            n;
    time_t             now;

    pco_fuzz_check(e->header_len >= PCO_CACHE_ENTRY_FIXED && e->header_len <= size);
    pco_fuzz_check(pco_fuzz_inside(&e->key_text, buf, size)
                   && pco_fuzz_inside(&e->etag, buf, size)
                   && pco_fuzz_inside(&e->vary, buf, size)
                   && pco_fuzz_inside(&e->headers, buf, size));

    out = malloc(e->header_len);
    pco_fuzz_check(out != NULL);
    n = pco_cache_entry_serialize(out, e->header_len, &copy);
    pco_fuzz_check(n == (ssize_t) e->header_len);
    pco_fuzz_check(memcmp(out, buf, e->header_len) == 0);
    free(out);

    pco_fuzz_prefixes(buf, e->header_len);
    (void) pco_cache_entry_size_ok(e, size);

    /* the lookup arithmetic on whatever the file says */
    now = e->fresh.response_time + (time_t) (size * 1000);
    (void) pco_cache_use(&e->fresh, NULL, now);
    (void) pco_cache_stale_ok(&e->fresh, PCO_CACHE_STALE_ERROR, false, now);
    (void) pco_cache_stale_ok(&e->fresh, PCO_CACHE_STALE_UPDATING, true, 0);
}

/* The input as header values: parsing must stay in bounds and give sane values. */
static void
pco_fuzz_rules(const u_char *data, size_t size)
{
    static const char  *names[] = { "Cache-Control", "Expires", "Date", "Age",
                                    "Last-Modified", "Vary", "Pragma" };
    pco_cache_resp_t    resp;
    pco_cache_req_t     req;
    pco_cache_fresh_t   f;
    pco_str_t           n, v = { size, (u_char *) data };
    size_t              i;
    int64_t             lifetime;

    pco_cache_resp_init(&resp);
    pco_cache_req_init(&req);
    for (i = 0; i < pco_nelems(names); i++) {
        n.len = strlen(names[i]);
        n.data = (u_char *) names[i];
        pco_cache_resp_header(&resp, &n, &v);
        pco_cache_req_header(&req, &n, &v);
    }
    pco_fuzz_check(resp.cc.max_age >= -1 && resp.cc.max_age <= PCO_CACHE_DELTA_MAX);
    pco_fuzz_check(resp.cc.s_maxage >= -1 && resp.cc.s_maxage <= PCO_CACHE_DELTA_MAX);
    pco_fuzz_check(resp.age >= 0 && resp.age <= PCO_CACHE_DELTA_MAX);
    pco_fuzz_check(req.max_stale == PCO_CACHE_ANY || req.max_stale <= PCO_CACHE_DELTA_MAX);

    lifetime = pco_cache_lifetime(&resp, 1795876433, 600);
    pco_fuzz_check(lifetime >= 0);
    pco_cache_fresh_init(&f, &resp, lifetime, 1795876430, 1795876433);
    pco_fuzz_check(f.initial_age >= 0);
    (void) pco_cache_use(&f, &req, 1795876433 + 100);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_cache_entry_t  e;
    u_char            *buf;
    int                rc;

    /* a copy of the exact size: a read past the input is an ASan report */
    buf = malloc(size + (size == 0));
    pco_fuzz_check(buf != NULL);
    if (size > 0) {
        memcpy(buf, data, size);
    }

    rc = pco_cache_entry_parse(&e, buf, size);
    pco_fuzz_check(rc == PCO_OK || rc == PCO_AGAIN || rc == PCO_ERROR);
    if (rc == PCO_OK) {
        pco_fuzz_parsed(&e, buf, size);
    } else if (rc == PCO_AGAIN) {
        pco_fuzz_check(e.header_len > size && e.header_len >= PCO_CACHE_ENTRY_FIXED
                       && e.header_len <= PCO_CACHE_ENTRY_HEADER_MAX);
    }

    pco_fuzz_rules(buf, size);
    free(buf);
    return 0;
}
