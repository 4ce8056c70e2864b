/*
 * test_status.c: unit tests of the status module's rendering (modules/status): Prometheus
 * label escaping and sample lines, family headers, JSON string escaping, the capped output
 * buffer, the loopback test, the $upstream_response_time element parser, and whole
 * documents (Prometheus and JSON) rendered from counters in a local counter table with a
 * hand-built server/route/upstream table: exact lines, cumulative histogram buckets, health;
 * the cache and buffer-cache families, present only once their counters exist.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "pco_core.h"

#ifdef PCO_HAVE_STATUS

#include "pco_status.h"
#include "pco_upstream_stats.h"
#include "pco_time.h"

static const char *
pco_test_text(pco_status_buf_t *b)
{
    pco_status_buf_add(b, "", 1);
    assert_false(b->failed);
    b->len--;
    return (const char *) b->data;
}

static void
pco_test_prom_escape(void **state)
{
    pco_status_buf_t  b;
    const char        in[] = "a\"b\\c\nd\te";

    (void) state;
    pco_status_buf_init(&b, 1024);
    pco_status_prom_escape(&b, (const u_char *) in, sizeof(in) - 1);
    assert_string_equal(pco_test_text(&b), "a\\\"b\\\\c\\nd\te");
    pco_status_buf_free(&b);
}

static void
pco_test_prom_sample(void **state)
{
    pco_status_buf_t    b;
    pco_status_label_t  l[2] = {
        { "server", pco_string("x\"y") },
        { "class", pco_string("2xx") }
    };

    (void) state;
    pco_status_buf_init(&b, 1024);
    pco_status_prom_family(&b, "server_responses_total", "counter", "Responses.");
    pco_status_prom_int(&b, "server_responses_total", l, 2, 42);
    pco_status_prom_int(&b, "http_requests_total", NULL, 0, -1);
    pco_status_prom_sample(&b, "x_seconds_sum", l, 1, "0.250");
    assert_string_equal(pco_test_text(&b),
                        "# HELP portico_server_responses_total Responses.\n"
                        "# TYPE portico_server_responses_total counter\n"
                        "portico_server_responses_total{server=\"x\\\"y\",class=\"2xx\"} 42\n"
                        "portico_http_requests_total -1\n"
                        "portico_x_seconds_sum{server=\"x\\\"y\"} 0.250\n");
    pco_status_buf_free(&b);
}

static void
pco_test_json_string(void **state)
{
    pco_status_buf_t  b;
    const char        in[] = "q\"b\\n\n\x01\x7f\xc3\xa9";

    (void) state;
    pco_status_buf_init(&b, 1024);
    pco_status_json_string(&b, (const u_char *) in, sizeof(in) - 1);
    assert_string_equal(pco_test_text(&b), "\"q\\\"b\\\\n\\n\\u0001\\u007f\xc3\xa9\"");
    pco_status_buf_free(&b);
}

static void
pco_test_buf_cap(void **state)
{
    pco_status_buf_t  b;
    char              big[5000];

    (void) state;
    memset(big, 'x', sizeof(big));
    pco_status_buf_init(&b, 8000);
    pco_status_buf_add(&b, big, sizeof(big));
    assert_false(b.failed);
    assert_int_equal(b.len, 5000);
    pco_status_buf_add(&b, big, sizeof(big));
    assert_true(b.failed);          /* over the cap: marked, nothing more written */
    assert_int_equal(b.len, 5000);
    pco_status_buf_cstr(&b, "more");
    assert_int_equal(b.len, 5000);
    pco_status_buf_free(&b);

    pco_status_buf_init(&b, 100);
    pco_status_buf_msec(&b, 1234);
    pco_status_buf_cstr(&b, " ");
    pco_status_buf_msec(&b, 5);
    pco_status_buf_cstr(&b, " ");
    pco_status_buf_int(&b, -7);
    assert_string_equal(pco_test_text(&b), "1.234 0.005 -7");
    pco_status_buf_free(&b);
}

static void
pco_test_loopback(void **state)
{
    pco_sockaddr_t  sa;

    (void) state;
    memset(&sa, 0, sizeof(sa));
    sa.sin.sin_family = AF_INET;
    inet_pton(AF_INET, "127.3.4.5", &sa.sin.sin_addr);
    assert_true(pco_status_is_loopback(&sa));
    inet_pton(AF_INET, "192.0.2.1", &sa.sin.sin_addr);
    assert_false(pco_status_is_loopback(&sa));
    inet_pton(AF_INET, "128.0.0.1", &sa.sin.sin_addr);
    assert_false(pco_status_is_loopback(&sa));
    memset(&sa, 0, sizeof(sa));
    sa.sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &sa.sin6.sin6_addr);
    assert_true(pco_status_is_loopback(&sa));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &sa.sin6.sin6_addr);
    assert_true(pco_status_is_loopback(&sa));
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &sa.sin6.sin6_addr);
    assert_false(pco_status_is_loopback(&sa));
    inet_pton(AF_INET6, "2001:db8::1", &sa.sin6.sin6_addr);
    assert_false(pco_status_is_loopback(&sa));
    sa.sa.sa_family = AF_UNIX;
    assert_true(pco_status_is_loopback(&sa));
    assert_false(pco_status_is_loopback(NULL));
}

/* ---- whole documents ---- */

static int
pco_test_reg(const char *name)
{
    int  id = pco_counter_register(NULL, NULL, name, PCO_COUNTER_MONOTONIC);

    assert_true(id >= 0);
    return id;
}

static void
pco_test_counters(pco_status_counters_t *c, const char *prefix)
{
    char  name[64];
    int   i;

    snprintf(name, sizeof(name), "%s:req", prefix);
    c->requests = pco_test_reg(name);
    for (i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "%s:%d", prefix, i);
        c->cls[i] = pco_test_reg(name);
    }
    snprintf(name, sizeof(name), "%s:rx", prefix);
    c->received = pco_test_reg(name);
    snprintf(name, sizeof(name), "%s:tx", prefix);
    c->sent = pco_test_reg(name);
    snprintf(name, sizeof(name), "%s:499", prefix);
    c->aborts = pco_test_reg(name);
}

static void
pco_test_documents(void **state)
{
    static pco_upstream_shared_t  sh[2];
    static pco_upstream_server_t  us[2];
    static pco_upstream_t         u;
    static pco_status_userver_t   sus[2];
    static pco_status_upstream_t  su;
    static pco_status_conf_t      srv, rt, *rts[1];
    static pco_status_server_t    ss;
    static pco_status_ctx_t       ctx;
    pco_status_buf_t              b;
    const char                   *t;
    void                         *mem;
    int                           i, k, rejected;
    char                          name[32];

    (void) state;
    u.name = (pco_str_t) pco_string("app");
    u.servers = us;
    u.nservers = 2;
    for (i = 0; i < 2; i++) {
        us[i].shared = &sh[i];
        us[i].active_counter = -1;
        us[i].upstream = &u;
        sus[i].s = &us[i];
        snprintf(name, sizeof(name), "us%d:tries", i);
        sus[i].tries = pco_test_reg(name);
        snprintf(name, sizeof(name), "us%d:fail", i);
        sus[i].failures = pco_test_reg(name);
        for (k = 0; k < 5; k++) {
            snprintf(name, sizeof(name), "us%d:%d", i, k);
            sus[i].cls[k] = pco_test_reg(name);
        }
    }
    us[0].name = (pco_str_t) pco_string("10.0.0.1:80");
    us[1].name = (pco_str_t) pco_string("10.0.0.2:80");
    pco_current_msec = 1000;
    sh[1].down_until = 5000;          /* passively marked down */
    sh[0].active = 3;
    su.u = &u;
    su.servers = sus;
    for (i = 0; i <= PCO_STATUS_NBUCKETS; i++) {
        snprintf(name, sizeof(name), "h:b%d", i);
        su.bucket[i] = pco_test_reg(name);
    }
    su.sum_ms = pco_test_reg("h:sum");
    pco_test_counters(&srv.c, "srv");
    pco_test_counters(&rt.c, "rt");
    rts[0] = &rt;
    ss.name = (pco_str_t) pco_string("a\"b\\c");
    ss.listen = (pco_str_t) pco_string("127.0.0.1:80");
    rt.label = (pco_str_t) pco_string("a\"b\\c:/api/");
    ss.conf = &srv;
    ss.routes = rts;
    ss.nroutes = 1;
    ctx.servers = &ss;
    ctx.nservers = 1;
    ctx.upstreams = &su;
    ctx.nupstreams = 1;
    ctx.reloads = pco_test_reg("reloads");
    ctx.reloads_failed = pco_test_reg("reloads_failed");
    ctx.restarts = -1;
    pco_test_counters(&ctx.http, "http");
    ctx.conn_active = ctx.conn_idle = ctx.up_requests = ctx.up_reused = ctx.up_opened = -1;
    rejected = pco_test_reg("rate_limit_rejected:per_ip");

    mem = calloc(1, pco_counters_zone_size());
    assert_non_null(mem);
    pco_counters_attach_memory(mem, true);
    pco_counter_slot_attach(pco_counter_slot_alloc());
    pco_counter_add(ctx.reloads, 2);
    pco_counter_add(ctx.reloads_failed, 1);
    pco_counter_add(srv.c.requests, 7);
    pco_counter_add(srv.c.cls[1], 5);
    pco_counter_add(srv.c.cls[4], 2);
    pco_counter_add(rt.c.requests, 4);
    pco_counter_add(sus[0].tries, 6);
    pco_counter_add(sus[0].cls[1], 6);
    pco_counter_add(su.bucket[0], 2);      /* <= 5ms */
    pco_counter_add(su.bucket[3], 3);      /* <= 50ms */
    pco_counter_add(su.bucket[PCO_STATUS_NBUCKETS], 1);   /* > 10s */
    pco_counter_add(su.sum_ms, 12345);
    pco_counter_add(rejected, 9);
    pco_counter_add(srv.c.sent, 1000);
    pco_counter_add(rt.c.aborts, 1);
    /* the per-server statistics live in the shared slot */
    sh[0].stats.received_bytes = 4321;
    sh[0].stats.connect_errors = 2;
    sh[1].stats.timeouts = 1;
    sh[0].stats.header.bucket[0] = 1;      /* <= 100 us */
    sh[0].stats.header.bucket[4] = 2;      /* <= 2.5 ms */
    sh[0].stats.header.bucket[PCO_UPSTREAM_STATS_NBUCKETS] = 1;
    sh[0].stats.header.sum_us = 12001234;

    pco_status_buf_init(&b, 1 << 20);
    pco_status_prometheus(&ctx, &b);
    t = pco_test_text(&b);
    assert_non_null(strstr(t, "# HELP portico_reloads_total Configuration reloads.\n"
                              "# TYPE portico_reloads_total counter\n"
                              "portico_reloads_total 2\n"));
    assert_non_null(strstr(t, "# TYPE portico_reloads_failed_total counter\n"
                              "portico_reloads_failed_total 1\n"));
    assert_non_null(strstr(t, "\nportico_worker_restarts_total 0\n"));
    assert_non_null(strstr(t, "\nportico_server_requests_total{server=\"a\\\"b\\\\c\","
                              "listen=\"127.0.0.1:80\"} 7\n"));
    assert_non_null(strstr(t, "\nportico_server_responses_total{server=\"a\\\"b\\\\c\","
                              "listen=\"127.0.0.1:80\",class=\"5xx\"} 2\n"));
    assert_non_null(strstr(t, "\nportico_server_sent_bytes_total{server=\"a\\\"b\\\\c\","
                              "listen=\"127.0.0.1:80\"} 1000\n"));
    assert_non_null(strstr(t, "\nportico_route_requests_total{server=\"a\\\"b\\\\c\","
                              "listen=\"127.0.0.1:80\",route=\"a\\\"b\\\\c:/api/\"} 4\n"));
    assert_non_null(strstr(t, "\nportico_route_client_aborts_total{server=\"a\\\"b\\\\c\","
                              "listen=\"127.0.0.1:80\",route=\"a\\\"b\\\\c:/api/\"} 1\n"));
    assert_non_null(strstr(t, "# TYPE portico_upstream_server_received_bytes_total counter\n"
                              "portico_upstream_server_received_bytes_total{upstream=\"app\","
                              "server=\"10.0.0.1:80\"} 4321\n"
                              "portico_upstream_server_received_bytes_total{upstream=\"app\","
                              "server=\"10.0.0.2:80\"} 0\n"));
    assert_non_null(strstr(t, "\nportico_upstream_server_connect_errors_total{upstream=\"app\","
                              "server=\"10.0.0.1:80\"} 2\n"));
    assert_non_null(strstr(t, "\nportico_upstream_server_timeouts_total{upstream=\"app\","
                              "server=\"10.0.0.2:80\"} 1\n"));
    assert_non_null(strstr(t,
        "# TYPE portico_upstream_server_header_seconds histogram\n"
        "portico_upstream_server_header_seconds_bucket{upstream=\"app\",server=\"10.0.0.1:80\","
        "le=\"0.0001\"} 1\n"
        "portico_upstream_server_header_seconds_bucket{upstream=\"app\",server=\"10.0.0.1:80\","
        "le=\"0.00025\"} 1\n"));
    assert_non_null(strstr(t,
        "portico_upstream_server_header_seconds_bucket{upstream=\"app\",server=\"10.0.0.1:80\","
        "le=\"0.0025\"} 3\n"));
    assert_non_null(strstr(t,
        "portico_upstream_server_header_seconds_bucket{upstream=\"app\",server=\"10.0.0.1:80\","
        "le=\"10\"} 3\n"
        "portico_upstream_server_header_seconds_bucket{upstream=\"app\",server=\"10.0.0.1:80\","
        "le=\"+Inf\"} 4\n"
        "portico_upstream_server_header_seconds_sum{upstream=\"app\",server=\"10.0.0.1:80\"} "
        "12.001234\n"
        "portico_upstream_server_header_seconds_count{upstream=\"app\",server=\"10.0.0.1:80\"} "
        "4\n"));
    assert_non_null(strstr(t, "\nportico_upstream_retries_total{upstream=\"app\"} 0\n"));
    assert_non_null(strstr(t, "\nportico_upstream_server_up{upstream=\"app\","
                              "server=\"10.0.0.1:80\"} 1\n"
                              "portico_upstream_server_up{upstream=\"app\","
                              "server=\"10.0.0.2:80\"} 0\n"));
    assert_non_null(strstr(t, "\nportico_upstream_server_active{upstream=\"app\","
                              "server=\"10.0.0.1:80\"} 3\n"));
    assert_non_null(strstr(t, "\nportico_upstream_server_tries_total{upstream=\"app\","
                              "server=\"10.0.0.1:80\"} 6\n"));
    assert_non_null(strstr(t,
        "# TYPE portico_upstream_response_seconds histogram\n"
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"0.005\"} 2\n"
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"0.01\"} 2\n"
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"0.025\"} 2\n"
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"0.05\"} 5\n"
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"0.1\"} 5\n"));
    assert_non_null(strstr(t,
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"10\"} 5\n"
        "portico_upstream_response_seconds_bucket{upstream=\"app\",le=\"+Inf\"} 6\n"
        "portico_upstream_response_seconds_sum{upstream=\"app\"} 12.345\n"
        "portico_upstream_response_seconds_count{upstream=\"app\"} 6\n"));
    assert_non_null(strstr(t, "\nportico_rate_limit_rejected_total{limit=\"per_ip\"} 9\n"));
    assert_null(strstr(t, "portico_cache_"));          /* no cache counters: no families */
    assert_int_equal(t[b.len - 1], '\n');
    pco_status_buf_free(&b);

    pco_status_buf_init(&b, 1 << 20);
    pco_status_json(&ctx, &b);
    t = pco_test_text(&b);
    assert_non_null(strstr(t, "{\"reloads\":2,\"reloads_failed\":1,\"worker_restarts\":0,"));
    assert_non_null(strstr(t, "\"servers\":[{\"name\":\"a\\\"b\\\\c\","
                              "\"listen\":\"127.0.0.1:80\",\"requests\":7,"
                              "\"responses\":{\"1xx\":0,\"2xx\":5,\"3xx\":0,\"4xx\":0,"
                              "\"5xx\":2},\"received_bytes\":0,\"sent_bytes\":1000,"
                              "\"client_aborts\":0,\"routes\":[{\"route\":\"a\\\"b\\\\c:/api/\","
                              "\"requests\":4,"));
    assert_non_null(strstr(t, "\"received_bytes\":4321,\"connect_errors\":2,"));
    assert_non_null(strstr(t, "\"header_seconds\":{\"buckets\":[{\"le\":0.0001,\"count\":1},"));
    assert_non_null(strstr(t, "\"sum\":12.001234,\"count\":4}"));
    assert_non_null(strstr(t, "\"retries\":0,\"max_conns_rejected\":0}"));
    assert_non_null(strstr(t, "{\"address\":\"10.0.0.2:80\",\"up\":0,\"active\":0,"));
    assert_non_null(strstr(t, "{\"le\":0.05,\"count\":5}"));
    assert_non_null(strstr(t, "],\"sum\":12.345,\"count\":6}"));
    assert_non_null(strstr(t, "\"rate_limit_rejected\":{\"per_ip\":9},"
                              "\"conn_limit_rejected\":{},\"tls\":{"));
    pco_status_buf_free(&b);
    pco_counters_attach_memory(NULL, false);
    free(mem);
}

/* Cache counters (registered by the cache module per zone) as families labelled by zone,
 * and as "caches" in JSON; a zone missing a counter shows 0. */
static void
pco_test_caches(void **state)
{
    static const char *const  names[] = {
        "cache_hits:", "cache_misses:", "cache_expired:", "cache_stale:", "cache_updating:",
        "cache_revalidated:", "cache_bypass:", "cache_bytes_served:", "cache_evictions:",
        "cache_entries:", "cache_disk_bytes:"
    };
    static pco_status_ctx_t   ctx;
    pco_status_buf_t          b;
    const char               *t;
    char                      name[64];
    void                     *mem;
    int                       ids[11], other;
    size_t                    i;

    (void) state;
    for (i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), "%smain", names[i]);
        ids[i] = pco_counter_register(NULL, NULL, name, i >= 9 ? PCO_COUNTER_GAUGE
                                                               : PCO_COUNTER_MONOTONIC);
        assert_true(ids[i] >= 0);
    }
    other = pco_test_reg("cache_hits:o\"z");       /* a zone with only its hits counter */
    ctx.reloads = ctx.reloads_failed = ctx.restarts = -1;
    ctx.conn_active = ctx.conn_idle = ctx.conn_total = -1;
    ctx.up_requests = ctx.up_reused = ctx.up_opened = -1;
    ctx.http.requests = -1;
    for (i = 0; i < 5; i++) {
        ctx.http.cls[i] = -1;
    }

    mem = calloc(1, pco_counters_zone_size());
    assert_non_null(mem);
    pco_counters_attach_memory(mem, true);
    pco_counter_slot_attach(pco_counter_slot_alloc());
    for (i = 0; i < 11; i++) {
        pco_counter_add(ids[i], (int64_t) (i + 1) * 10);
    }
    pco_counter_add(other, 3);

    pco_status_buf_init(&b, 1 << 20);
    pco_status_prometheus(&ctx, &b);
    t = pco_test_text(&b);
    assert_non_null(strstr(t, "# HELP portico_cache_hits_total Requests answered from the "
                              "cache (HIT).\n# TYPE portico_cache_hits_total counter\n"
                              "portico_cache_hits_total{zone=\"main\"} 10\n"
                              "portico_cache_hits_total{zone=\"o\\\"z\"} 3\n"));
    assert_non_null(strstr(t, "\nportico_cache_misses_total{zone=\"main\"} 20\n"));
    assert_non_null(strstr(t, "\nportico_cache_expired_total{zone=\"main\"} 30\n"));
    assert_non_null(strstr(t, "\nportico_cache_stale_total{zone=\"main\"} 40\n"));
    assert_non_null(strstr(t, "\nportico_cache_updating_total{zone=\"main\"} 50\n"));
    assert_non_null(strstr(t, "\nportico_cache_revalidated_total{zone=\"main\"} 60\n"));
    assert_non_null(strstr(t, "\nportico_cache_bypass_total{zone=\"main\"} 70\n"));
    assert_non_null(strstr(t, "\nportico_cache_served_bytes_total{zone=\"main\"} 80\n"));
    assert_non_null(strstr(t, "\nportico_cache_evictions_total{zone=\"main\"} 90\n"));
    assert_non_null(strstr(t, "# TYPE portico_cache_entries gauge\n"
                              "portico_cache_entries{zone=\"main\"} 100\n"));
    assert_non_null(strstr(t, "# TYPE portico_cache_disk_bytes gauge\n"
                              "portico_cache_disk_bytes{zone=\"main\"} 110\n"));
    assert_null(strstr(t, "portico_cache_misses_total{zone=\"o"));
    pco_status_buf_free(&b);

    pco_status_buf_init(&b, 1 << 20);
    pco_status_json(&ctx, &b);
    t = pco_test_text(&b);
    assert_non_null(strstr(t, ",\"caches\":{\"main\":{\"hits\":10,\"misses\":20,"
                              "\"expired\":30,\"stale\":40,\"updating\":50,"
                              "\"revalidated\":60,\"bypass\":70,\"served_bytes\":80,"
                              "\"evictions\":90,\"entries\":100,\"disk_bytes\":110},"
                              "\"o\\\"z\":{\"hits\":3,\"misses\":0,\"expired\":0,"
                              "\"stale\":0,\"updating\":0,\"revalidated\":0,\"bypass\":0,"
                              "\"served_bytes\":0,\"evictions\":0,\"entries\":0,"
                              "\"disk_bytes\":0}},\"tls\":{"));
    pco_status_buf_free(&b);
    pco_counters_attach_memory(NULL, false);
    free(mem);
}

/* The buffer caches' counters (core/pco_bcache.h: buffers_taken:NAME and the two gauges) as
 * families labelled by cache, and as three JSON objects keyed by cache. */
static void
pco_test_buffers(void **state)
{
    static pco_status_ctx_t   ctx;
    pco_status_buf_t          b;
    const char               *t;
    void                     *mem;
    int                       taken, in_use, mapped, i;

    (void) state;
    taken = pco_test_reg("buffers_taken:proxy_relay");
    in_use = pco_counter_register(NULL, NULL, "buffers_in_use:proxy_relay", PCO_COUNTER_GAUGE);
    mapped = pco_counter_register(NULL, NULL, "buffers_mapped_bytes:proxy_relay",
                                  PCO_COUNTER_GAUGE);
    assert_true(in_use >= 0 && mapped >= 0);
    ctx.reloads = ctx.reloads_failed = ctx.restarts = -1;
    ctx.conn_active = ctx.conn_idle = ctx.conn_total = -1;
    ctx.up_requests = ctx.up_reused = ctx.up_opened = -1;
    ctx.http.requests = -1;
    for (i = 0; i < 5; i++) {
        ctx.http.cls[i] = -1;
    }
    mem = calloc(1, pco_counters_zone_size());
    assert_non_null(mem);
    pco_counters_attach_memory(mem, true);
    pco_counter_slot_attach(pco_counter_slot_alloc());
    pco_counter_add(taken, 7);
    pco_counter_add(in_use, 2);
    pco_counter_add(mapped, 3 * 65536);

    pco_status_buf_init(&b, 1 << 20);
    pco_status_prometheus(&ctx, &b);
    t = pco_test_text(&b);
    assert_non_null(strstr(t, "# TYPE portico_buffers_taken_total counter\n"
                              "portico_buffers_taken_total{cache=\"proxy_relay\"} 7\n"));
    assert_non_null(strstr(t, "# TYPE portico_buffers_in_use gauge\n"
                              "portico_buffers_in_use{cache=\"proxy_relay\"} 2\n"));
    assert_non_null(strstr(t, "# TYPE portico_buffers_mapped_bytes gauge\n"
                              "portico_buffers_mapped_bytes{cache=\"proxy_relay\"} 196608\n"));
    pco_status_buf_free(&b);

    pco_status_buf_init(&b, 1 << 20);
    pco_status_json(&ctx, &b);
    t = pco_test_text(&b);
    assert_non_null(strstr(t, ",\"buffers_taken\":{\"proxy_relay\":7},"
                              "\"buffers_in_use\":{\"proxy_relay\":2},"
                              "\"buffers_mapped_bytes\":{\"proxy_relay\":196608},\"tls\":{"));
    pco_status_buf_free(&b);
    pco_counters_attach_memory(NULL, false);
    free(mem);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_prom_escape),
        cmocka_unit_test(pco_test_prom_sample),
        cmocka_unit_test(pco_test_json_string),
        cmocka_unit_test(pco_test_buf_cap),
        cmocka_unit_test(pco_test_loopback),
        cmocka_unit_test(pco_test_documents),
        cmocka_unit_test(pco_test_caches),         /* after documents: adds counters */
        cmocka_unit_test(pco_test_buffers),        /* after caches: adds counters */
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void
pco_test_skip(void **state)
{
    (void) state;
    skip();   /* built without the status module */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_skip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
