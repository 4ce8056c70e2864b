/*
 * test_metrics.c: unit tests of the pure metrics helpers: the latency bucket of a duration
 * (modules/upstream/pco_upstream_stats.h: every boundary, +Inf, negatives) and its `le`
 * strings, one observation into a histogram; a route's default label (modules/http:
 * exact, prefix, regex, none, "_" for a server without names, "#N", truncation); the
 * status module's counter keys and its histogram and microsecond writers (exact text).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pco_core.h"
#include "pco_http.h"
#include "pco_upstream_stats.h"

static void
pco_test_bucket(void **state)
{
    unsigned  k;

    (void) state;
    assert_int_equal(pco_upstream_stats_bucket(-5), 0);
    assert_int_equal(pco_upstream_stats_bucket(0), 0);
    assert_int_equal(pco_upstream_stats_bucket(100), 0);       /* le is inclusive */
    assert_int_equal(pco_upstream_stats_bucket(101), 1);
    assert_int_equal(pco_upstream_stats_bucket(999), 3);
    assert_int_equal(pco_upstream_stats_bucket(1000), 3);
    assert_int_equal(pco_upstream_stats_bucket(1001), 4);
    assert_int_equal(pco_upstream_stats_bucket(10000000), PCO_UPSTREAM_STATS_NBUCKETS - 1);
    assert_int_equal(pco_upstream_stats_bucket(10000001), PCO_UPSTREAM_STATS_NBUCKETS);
    assert_int_equal(pco_upstream_stats_bucket(INT64_MAX), PCO_UPSTREAM_STATS_NBUCKETS);
    for (k = 0; k < PCO_UPSTREAM_STATS_NBUCKETS; k++) {
        int64_t  b = pco_upstream_stats_bound_us[k];

        /* every bound is its own bucket, one more microsecond the next; bounds ascend and
         * the le string is the bound in seconds */
        assert_int_equal(pco_upstream_stats_bucket(b), k);
        assert_int_equal(pco_upstream_stats_bucket(b + 1), k + 1);
        if (k > 0) {
            assert_true(b > pco_upstream_stats_bound_us[k - 1]);
        }
        assert_int_equal((int64_t) (strtod(pco_upstream_stats_le[k], NULL) * 1e6 + 0.5), b);
    }
}

static void
pco_test_observe(void **state)
{
    static pco_upstream_shared_t  sh;
    pco_upstream_server_t         s;

    (void) state;
    memset(&s, 0, sizeof(s));
    pco_upstream_stats_observe(&sh.stats.connect, 42);
    pco_upstream_stats_observe(&sh.stats.connect, 3000);
    pco_upstream_stats_observe(&sh.stats.connect, -1);
    assert_int_equal(sh.stats.connect.bucket[0], 2);
    assert_int_equal(sh.stats.connect.bucket[5], 1);            /* <= 5 ms */
    assert_int_equal(sh.stats.connect.sum_us, 3042);
    assert_null(pco_upstream_stats(&s));                        /* no zone yet: ignored */
    pco_upstream_stats_inc(&s, timeouts, 1);
    s.shared = &sh;
    pco_upstream_stats_inc(&s, timeouts, 2);
    pco_upstream_stats_inc(&s, received_bytes, 512);
    assert_int_equal(sh.stats.timeouts, 2);
    assert_int_equal(sh.stats.received_bytes, 512);
    assert_true(pco_upstream_stats_now_us() > 0);
}

static void
pco_test_route_label(void **state)
{
    pco_str_t  srv = pco_string("example.com"), none = pco_null_string;
    pco_str_t  path = pco_string("/status"), prefix = pco_string("/api/");
    pco_str_t  re = pco_string("^/img/.*\\.png$");
    u_char     buf[64];
    size_t     n;

    (void) state;
    n = pco_http_route_label(buf, sizeof(buf), &srv, &path, &none, &none, 1);
    assert_int_equal(n, strlen("example.com:=/status"));
    assert_memory_equal(buf, "example.com:=/status", n + 1);
    n = pco_http_route_label(buf, sizeof(buf), &srv, &none, &none, &prefix, 1);
    assert_string_equal((char *) buf, "example.com:/api/");
    assert_int_equal(n, 17);
    pco_http_route_label(buf, sizeof(buf), &srv, &none, &re, &none, 1);
    assert_string_equal((char *) buf, "example.com:~^/img/.*\\.png$");
    pco_http_route_label(buf, sizeof(buf), &srv, &none, &none, &none, 1);
    assert_string_equal((char *) buf, "example.com:*");
    pco_http_route_label(buf, sizeof(buf), &none, &none, &none, &prefix, 1);
    assert_string_equal((char *) buf, "_:/api/");
    pco_http_route_label(buf, sizeof(buf), &srv, &none, &none, &prefix, 2);
    assert_string_equal((char *) buf, "example.com:/api/#2");
    pco_http_route_label(buf, sizeof(buf), &srv, &none, &none, &prefix, 13);
    assert_string_equal((char *) buf, "example.com:/api/#13");
    /* exact path wins over a prefix written beside it */
    pco_http_route_label(buf, sizeof(buf), &srv, &path, &none, &prefix, 1);
    assert_string_equal((char *) buf, "example.com:=/status");
    /* truncated to the buffer, NUL-terminated, the length of what is there */
    n = pco_http_route_label(buf, 8, &srv, &path, &none, &none, 1);
    assert_int_equal(n, 7);
    assert_string_equal((char *) buf, "example");
    assert_int_equal(pco_http_route_label(buf, 0, &srv, &path, &none, &none, 1), 0);
}

#ifdef PCO_HAVE_STATUS

#include "pco_status.h"

static const char *
pco_test_text(pco_status_buf_t *b)
{
    pco_status_buf_add(b, "", 1);
    assert_false(b->failed);
    b->len--;
    return (const char *) b->data;
}

static void
pco_test_key(void **state)
{
    pco_str_t  l = pco_string("127.0.0.1:80"), n = pco_string("a.test"), r = pco_string("api");
    char       buf[64];

    (void) state;
    assert_int_equal(pco_status_key(buf, sizeof(buf), &l, &n, NULL), 19);
    assert_string_equal(buf, "127.0.0.1:80|a.test");
    pco_status_key(buf, sizeof(buf), &l, &n, &r);
    assert_string_equal(buf, "127.0.0.1:80|a.test|api");
    assert_int_equal(pco_status_key(buf, 8, &l, &n, &r), 7);
    assert_string_equal(buf, "127.0.0");
}

static void
pco_test_histogram(void **state)
{
    static const char *const  le[2] = { "0.0001", "1" };
    const uint64_t            bucket[3] = { 1, 0, 2 };
    pco_status_label_t        l[2];
    pco_status_buf_t          b;

    (void) state;
    pco_status_buf_init(&b, 4096);
    l[0].name = "server";
    l[0].value = (pco_str_t) pco_string("x\"y");
    pco_status_prom_histogram(&b, "h_seconds", l, 1, bucket, 2, le, 2500001);
    assert_string_equal(pco_test_text(&b),
                        "portico_h_seconds_bucket{server=\"x\\\"y\",le=\"0.0001\"} 1\n"
                        "portico_h_seconds_bucket{server=\"x\\\"y\",le=\"1\"} 1\n"
                        "portico_h_seconds_bucket{server=\"x\\\"y\",le=\"+Inf\"} 3\n"
                        "portico_h_seconds_sum{server=\"x\\\"y\"} 2.500001\n"
                        "portico_h_seconds_count{server=\"x\\\"y\"} 3\n");
    pco_status_buf_free(&b);
    pco_status_buf_init(&b, 4096);
    pco_status_buf_usec(&b, 0);
    pco_status_buf_cstr(&b, " ");
    pco_status_buf_usec(&b, 999999);
    pco_status_buf_cstr(&b, " ");
    pco_status_buf_usec(&b, 61000042);
    assert_string_equal(pco_test_text(&b), "0.000000 0.999999 61.000042");
    pco_status_buf_free(&b);
}

#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_bucket),
        cmocka_unit_test(pco_test_observe),
        cmocka_unit_test(pco_test_route_label),
#ifdef PCO_HAVE_STATUS
        cmocka_unit_test(pco_test_key),
        cmocka_unit_test(pco_test_histogram),
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
