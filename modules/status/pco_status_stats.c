/*
 * pco_status_stats.c: the status document's upstream traffic families (docs/metrics.md):
 * the per-upstream-server statistics kept in the upstream zone's slots (bytes, connect
 * errors, timeouts, bad responses, aborts, client aborts, retries, and the connect, header
 * and response histograms with sub-millisecond buckets, pco_upstream_stats.h), read by
 * walking each upstream's servers, and the proxy's per-upstream counters (retries, max_conns
 * rejections). Servers of one upstream with the same name are summed into one series.
 * Prometheus and JSON; runs in a worker, reads only (relaxed atomic loads), never blocks.
 */
#include "pco_status.h"
#include "pco_upstream_stats.h"
#include <stdio.h>
#include <string.h>

static int64_t
pco_status_read(int id)
{
    return id >= 0 ? pco_counter_read(id) : 0;
}

static const struct {
    const char  *name;
    size_t       off;
    const char  *help;
} pco_status_stats_families[] = {
    { "upstream_server_sent_bytes_total", offsetof(pco_upstream_stats_t, sent_bytes),
      "Request bytes written to the upstream server." },
    { "upstream_server_received_bytes_total", offsetof(pco_upstream_stats_t, received_bytes),
      "Response bytes read from the upstream server (head and body)." },
    { "upstream_server_connect_errors_total", offsetof(pco_upstream_stats_t, connect_errors),
      "Connections to the upstream server refused, reset or failed (TLS handshake "
      "included)." },
    { "upstream_server_timeouts_total", offsetof(pco_upstream_stats_t, timeouts),
      "Connect, send or read timeouts with the upstream server." },
    { "upstream_server_bad_responses_total", offsetof(pco_upstream_stats_t, bad_responses),
      "Invalid or oversized response heads and invalid bodies from the upstream server." },
    { "upstream_server_aborts_total", offsetof(pco_upstream_stats_t, aborts),
      "Responses the upstream server cut: closed or reset before the response ended." },
    { "upstream_server_client_aborts_total", offsetof(pco_upstream_stats_t, client_aborts),
      "Tries to the upstream server ended because the client went away." },
    { "upstream_server_retries_total", offsetof(pco_upstream_stats_t, retries),
      "Tries to the upstream server that were not their request's first." },
};

static const struct {
    const char  *name;
    size_t       off;
    const char  *help;
} pco_status_hist_families[] = {
    { "upstream_server_connect_seconds", offsetof(pco_upstream_stats_t, connect),
      "Time to connect to the upstream server (new connections), seconds." },
    { "upstream_server_header_seconds", offsetof(pco_upstream_stats_t, header),
      "Time from the start of a try to the end of the response head, seconds." },
    { "upstream_server_response_seconds", offsetof(pco_upstream_stats_t, response),
      "Time from the start of a try to its last byte or its failure, seconds." },
};

static bool
pco_status_same(const pco_str_t *a, const pco_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* True when s is the first server of its upstream with its name (later ones with the same
 * name are summed into it, so that no series is written twice). */
bool
pco_status_stats_first(const pco_upstream_t *u, unsigned j)
{
    unsigned  k;

    if (u->servers[j].vacant) {
        return false;
    }
    for (k = 0; k < j; k++) {
        if (!u->servers[k].vacant
            && pco_status_same(&u->servers[k].name, &u->servers[j].name))
        {
            return false;
        }
    }
    return true;
}

static uint64_t
pco_status_stat(const pco_upstream_server_t *s, size_t off)
{
    if (s->shared == NULL) {
        return 0;
    }
    return __atomic_load_n((const uint64_t *) ((const u_char *) &s->shared->stats + off),
                           __ATOMIC_RELAXED);
}

/* The value at off summed over the servers of u named as u->servers[j]. */
static uint64_t
pco_status_stat_sum(const pco_upstream_t *u, unsigned j, size_t off)
{
    uint64_t  v = 0;
    unsigned  k;

    for (k = j; k < pco_upstream_npos(u); k++) {
        if (k == j || (!u->servers[k].vacant
                       && pco_status_same(&u->servers[k].name, &u->servers[j].name)))
        {
            v += pco_status_stat(&u->servers[k], off);
        }
    }
    return v;
}

/* The histogram at off (a pco_upstream_hist_t) summed as above. */
static void
pco_status_hist_sum(const pco_upstream_t *u, unsigned j, size_t off, pco_upstream_hist_t *h)
{
    size_t  k;

    for (k = 0; k <= PCO_UPSTREAM_STATS_NBUCKETS; k++) {
        h->bucket[k] = pco_status_stat_sum(u, j, off + offsetof(pco_upstream_hist_t, bucket)
                                                 + k * sizeof(uint64_t));
    }
    h->sum_us = pco_status_stat_sum(u, j, off + offsetof(pco_upstream_hist_t, sum_us));
}

/* Calls fn for every server of every upstream that writes a series: the first of its
 * upstream with its name (pco_status_stats_first), with its {upstream, server} labels in
 * l[0] and l[1] (l has room for a third, the histograms' le). */
static void
pco_status_stats_each(const pco_status_ctx_t *ctx,
                      void (*fn)(void *arg, const pco_upstream_t *u, unsigned j,
                                 pco_status_label_t *l), void *arg)
{
    pco_status_label_t  l[3];
    size_t              i;
    unsigned            j;

    for (i = 0; i < ctx->nupstreams; i++) {
        const pco_upstream_t  *u = ctx->upstreams[i].u;

        for (j = 0; j < pco_upstream_npos(u); j++) {
            if (!pco_status_stats_first(u, j)) {
                continue;
            }
            l[0].name = "upstream";
            l[0].value = u->name;
            l[1].name = "server";
            l[1].value = u->servers[j].name;
            fn(arg, u, j, l);
        }
    }
}

typedef struct {
    pco_status_buf_t  *b;
    size_t             f;           /* index into the families table */
} pco_status_stats_walk_t;

static void
pco_status_prom_counter_one(void *arg, const pco_upstream_t *u, unsigned j,
                            pco_status_label_t *l)
{
    pco_status_stats_walk_t  *w = arg;

    pco_status_prom_int(w->b, pco_status_stats_families[w->f].name, l, 2,
                        (int64_t) pco_status_stat_sum(u, j, pco_status_stats_families[w->f].off));
}

static void
pco_status_prom_hist_one(void *arg, const pco_upstream_t *u, unsigned j, pco_status_label_t *l)
{
    pco_status_stats_walk_t  *w = arg;
    pco_upstream_hist_t       h;

    pco_status_hist_sum(u, j, pco_status_hist_families[w->f].off, &h);
    pco_status_prom_histogram(w->b, pco_status_hist_families[w->f].name, l, 2, h.bucket,
                              PCO_UPSTREAM_STATS_NBUCKETS, pco_upstream_stats_le, h.sum_us);
}

void
pco_status_prom_stats(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_stats_walk_t  w = { b, 0 };

    for (w.f = 0; w.f < pco_nelems(pco_status_stats_families); w.f++) {
        pco_status_prom_family(b, pco_status_stats_families[w.f].name, "counter",
                               pco_status_stats_families[w.f].help);
        pco_status_stats_each(ctx, pco_status_prom_counter_one, &w);
    }
    for (w.f = 0; w.f < pco_nelems(pco_status_hist_families); w.f++) {
        pco_status_prom_family(b, pco_status_hist_families[w.f].name, "histogram",
                               pco_status_hist_families[w.f].help);
        pco_status_stats_each(ctx, pco_status_prom_hist_one, &w);
    }
}

/* The proxy's per-upstream counters PREFIX:UPSTREAM (0 when it has none: no route
 * proxies to it). */
int64_t
pco_status_upstream_counter(const char *prefix, const pco_upstream_t *u)
{
    char  name[PCO_COUNTER_NAME_LEN + 8];

    snprintf(name, sizeof(name), "%s:%.*s", prefix, (int) pco_min(u->name.len, 200),
             (const char *) u->name.data);
    return pco_status_read(pco_counter_find(name));
}

/* One family with a sample per upstream: the counter PREFIX:UPSTREAM. */
static void
pco_status_prom_per_upstream(const pco_status_ctx_t *ctx, pco_status_buf_t *b,
                             const char *family, const char *prefix, const char *help)
{
    pco_status_label_t  l[1];
    size_t              i;

    pco_status_prom_family(b, family, "counter", help);
    for (i = 0; i < ctx->nupstreams; i++) {
        l[0].name = "upstream";
        l[0].value = ctx->upstreams[i].u->name;
        pco_status_prom_int(b, family, l, 1,
                            pco_status_upstream_counter(prefix, ctx->upstreams[i].u));
    }
}

void
pco_status_prom_upstream_counters(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_prom_per_upstream(ctx, b, "upstream_retries_total", "upstream_retries",
                                 "Tries beyond a request's first, per upstream.");
    pco_status_prom_per_upstream(ctx, b, "upstream_max_conns_rejected_total",
                                 "upstream_max_conns_rejected",
                                 "Requests answered 503 because every usable server of the "
                                 "upstream was at its max_conns.");
}

/* "NAME":{"buckets":[{"le":0.0001,"count":N},...],"sum":S,"count":N} (cumulative counts,
 * +Inf is "count") */
static void
pco_status_json_hist(pco_status_buf_t *b, const char *name, const pco_upstream_hist_t *h)
{
    uint64_t  cum = 0;
    size_t    k;

    pco_status_buf_cstr(b, ",");
    pco_status_json_string(b, (const u_char *) name, strlen(name));
    pco_status_buf_cstr(b, ":{\"buckets\":[");
    for (k = 0; k <= PCO_UPSTREAM_STATS_NBUCKETS; k++) {
        cum += h->bucket[k];
        if (k < PCO_UPSTREAM_STATS_NBUCKETS) {
            pco_status_buf_cstr(b, k > 0 ? ",{\"le\":" : "{\"le\":");
            pco_status_buf_cstr(b, pco_upstream_stats_le[k]);
            pco_status_json_key(b, "count", (int64_t) cum, true);
            pco_status_buf_cstr(b, "}");
        }
    }
    pco_status_buf_cstr(b, "],\"sum\":");
    pco_status_buf_usec(b, h->sum_us);
    pco_status_json_key(b, "count", (int64_t) cum, true);
    pco_status_buf_cstr(b, "}");
}

/* The traffic statistics of the servers of u named as u->servers[j] (JSON members). */
void
pco_status_json_stats(pco_status_buf_t *b, const pco_upstream_t *u, unsigned j)
{
    static const char *const  keys[] = { "sent_bytes", "received_bytes", "connect_errors",
                                         "timeouts", "bad_responses", "aborts",
                                         "client_aborts", "retries" };
    static const char *const  hkeys[] = { "connect_seconds", "header_seconds",
                                          "response_seconds" };
    pco_upstream_hist_t       h;
    size_t                    f;

    for (f = 0; f < pco_nelems(keys); f++) {
        pco_status_json_key(b, keys[f],
                            (int64_t) pco_status_stat_sum(u, j,
                                                          pco_status_stats_families[f].off),
                            true);
    }
    for (f = 0; f < pco_nelems(hkeys); f++) {
        pco_status_hist_sum(u, j, pco_status_hist_families[f].off, &h);
        pco_status_json_hist(b, hkeys[f], &h);
    }
}
