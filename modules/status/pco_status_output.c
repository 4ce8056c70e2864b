/*
 * pco_status_output.c: writes the status document from the counter table (sums over every
 * worker slot, core/pco_shm.h) and the upstream module's shared per-server state, as
 * Prometheus text exposition 0.0.4 or as JSON. Families and their labels:
 *   portico_reloads_total, portico_reloads_failed_total, portico_worker_restarts_total,
 *   portico_syslog_dropped_total (docs/logging.md),
 *   portico_http_requests_total, portico_http_responses_total{class},
 *   portico_http_protocol_requests_total{protocol} ("HTTP/1.0", "HTTP/1.1", "HTTP/2.0";
 *     JSON: http.protocols),
 *   portico_http2_connections_active, portico_http2_connections_total,
 *   portico_http2_connections_calm_total (ended by a defence), when the http2 module is
 *     built (JSON: "http2"),
 *   portico_http_connections_active, portico_http_connections_idle,
 *   portico_server_{requests,received_bytes,sent_bytes,client_aborts}_total{server,listen},
 *   portico_server_responses_total{server,listen,class},
 *   portico_route_..._total{server,listen,route} likewise (route = its name or default
 *     label, docs/metrics.md),
 *   portico_upstream_requests_total, portico_upstream_connections_{reused,opened}_total,
 *   portico_upstream_server_{up,active}{upstream,server} (gauges),
 *   portico_upstream_server_{tries,failures}_total{upstream,server} (failures: tries with no
 *     response status, "-" in $upstream_status),
 *   portico_upstream_server_responses_total{upstream,server,class},
 *   portico_upstream_response_seconds{upstream} (histogram, per try),
 *   portico_upstream_{retries,max_conns_rejected}_total{upstream} (the proxy's counters
 *     upstream_retries:NAME, upstream_max_conns_rejected:NAME),
 *   portico_upstream_server_{sent_bytes,received_bytes,connect_errors,timeouts,
 *     bad_responses,aborts,client_aborts,retries}_total{upstream,server} and the histograms
 *     portico_upstream_server_{connect,header,response}_seconds{upstream,server}: from the
 *     zone slots (pco_upstream_stats.h), servers of an upstream with one name summed,
 *   portico_rate_limit_rejected_total{limit}, portico_conn_limit_rejected_total{limit}
 *     (every counter named rate_limit_rejected:NAME / conn_limit_rejected:NAME),
 *   portico_cache_{hits,misses,expired,stale,updating,revalidated,bypass}_total{zone},
 *   portico_cache_served_bytes_total{zone}, portico_cache_evictions_total{zone},
 *   portico_cache_entries{zone} and portico_cache_disk_bytes{zone} (gauges): from the
 *     counters cache_hits:ZONE ... cache_disk_bytes:ZONE, only when there are such counters
 *     (JSON: "caches", an object keyed by zone),
 *   portico_buffers_taken_total{cache}, portico_buffers_in_use{cache},
 *     portico_buffers_mapped_bytes{cache}: the per-worker buffer caches (core/pco_bcache.h),
 *     from the counters buffers_taken:NAME, buffers_in_use:NAME, buffers_mapped_bytes:NAME,
 *     only when there are such counters (JSON: "buffers_taken", "buffers_in_use",
 *     "buffers_mapped_bytes", objects keyed by cache).
 * The TLS, health-check state and process families: pco_status_process.c.
 * Series that share counters (servers with the same first name) are written once.
 * Runs in a worker, reads only; never blocks.
 */
#include "pco_status.h"
#include <stdio.h>
#include <string.h>

static const char *const pco_status_classes[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
static const char *const pco_status_protocols[3] = { "HTTP/1.0", "HTTP/1.1", "HTTP/2.0" };

typedef struct {
    uint8_t  bits[PCO_COUNTERS_MAX / 8];
} pco_status_seen_t;

/* True the first time id is seen; false again and for -1 (then the series is skipped). */
static bool
pco_status_first(pco_status_seen_t *seen, int id)
{
    if (id < 0 || id >= PCO_COUNTERS_MAX) {
        return false;
    }
    if (seen->bits[id / 8] & (1u << (id % 8))) {
        return false;
    }
    seen->bits[id / 8] |= (uint8_t) (1u << (id % 8));
    return true;
}

static int64_t
pco_status_read(int id)
{
    return id >= 0 ? pco_counter_read(id) : 0;
}

int
pco_status_server_up(const pco_upstream_server_t *s)
{
    const pco_upstream_shared_t  *sh = s->shared;

    if (s->down || s->admin != PCO_UPSTREAM_ADMIN_UP) {
        return 0;                 /* configured down, or down / draining by the admin API */
    }
    if (sh != NULL && (__atomic_load_n(&sh->health_down, __ATOMIC_RELAXED) != 0
                       || __atomic_load_n(&sh->down_until, __ATOMIC_RELAXED)
                          > (int64_t) pco_current_msec))
    {
        return 0;
    }
    return 1;
}

/* The families of a server or route counters group, in the order of `what`. */
static const struct {
    const char  *suffix;
    const char  *help;
} pco_status_group_families[] = {
    { "requests_total", "Requests" },
    { "responses_total", "Responses by status class" },
    { "received_bytes_total", "Bytes received from clients (request line, headers, body)" },
    { "sent_bytes_total", "Bytes sent to clients (head and body)" },
    { "client_aborts_total", "Requests whose client went away before any response byte "
      "(logged with 499)" },
};

/* Samples of one counters group for family FAMILY_<what's suffix>. */
static void
pco_status_prom_group(pco_status_buf_t *b, const char *family, pco_status_label_t *l,
                      size_t nl, const pco_status_counters_t *c, int what)
{
    static const size_t  off[] = { 0, 0, offsetof(pco_status_counters_t, received),
                                   offsetof(pco_status_counters_t, sent),
                                   offsetof(pco_status_counters_t, aborts) };
    char                 name[64];
    int                  i;

    snprintf(name, sizeof(name), "%s_%s", family, pco_status_group_families[what].suffix);
    if (what == 0) {
        pco_status_prom_int(b, name, l, nl, pco_status_read(c->requests));
        return;
    }
    if (what > 1) {
        pco_status_prom_int(b, name, l, nl,
                            pco_status_read(*(const int *) ((const u_char *) c + off[what])));
        return;
    }
    for (i = 0; i < 5; i++) {
        l[nl].name = "class";
        l[nl].value = pco_status_cstr(pco_status_classes[i]);
        pco_status_prom_int(b, name, l, nl + 1, pco_status_read(c->cls[i]));
    }
}

static void
pco_status_prom_servers(const pco_status_ctx_t *ctx, pco_status_buf_t *b, int what)
{
    pco_status_seen_t   seen;
    pco_status_label_t  l[3];
    size_t              i;

    memset(&seen, 0, sizeof(seen));
    for (i = 0; i < ctx->nservers; i++) {
        if (pco_status_first(&seen, ctx->servers[i].conf->c.requests)) {
            l[0].name = "server";
            l[0].value = ctx->servers[i].name;
            l[1].name = "listen";
            l[1].value = ctx->servers[i].listen;
            pco_status_prom_group(b, "server", l, 2, &ctx->servers[i].conf->c, what);
        }
    }
}

static void
pco_status_prom_routes(const pco_status_ctx_t *ctx, pco_status_buf_t *b, int what)
{
    pco_status_seen_t   seen;
    pco_status_label_t  l[4];
    size_t              i, j;

    memset(&seen, 0, sizeof(seen));
    for (i = 0; i < ctx->nservers; i++) {
        for (j = 0; j < ctx->servers[i].nroutes; j++) {
            if (!pco_status_first(&seen, ctx->servers[i].routes[j]->c.requests)) {
                continue;
            }
            l[0].name = "server";
            l[0].value = ctx->servers[i].name;
            l[1].name = "listen";
            l[1].value = ctx->servers[i].listen;
            l[2].name = "route";
            l[2].value = ctx->servers[i].routes[j]->label;
            pco_status_prom_group(b, "route", l, 3, &ctx->servers[i].routes[j]->c, what);
        }
    }
}

/* Every family of the server or route counters group: PREFIX_SUFFIX, its help the
 * family's followed by scope, its samples written by fn. */
static void
pco_status_prom_groups(const pco_status_ctx_t *ctx, pco_status_buf_t *b, const char *prefix,
                       const char *scope,
                       void (*fn)(const pco_status_ctx_t *ctx, pco_status_buf_t *b, int what))
{
    char    name[64], help[160];
    size_t  f;

    for (f = 0; f < pco_nelems(pco_status_group_families); f++) {
        snprintf(name, sizeof(name), "%s_%s", prefix, pco_status_group_families[f].suffix);
        snprintf(help, sizeof(help), "%s %s", pco_status_group_families[f].help, scope);
        pco_status_prom_family(b, name, "counter", help);
        fn(ctx, b, (int) f);
    }
}

/* The active health-check details the checker publishes (pco_upstream_shared_t). */
static int64_t
pco_status_hc(const pco_upstream_server_t *s, int what)
{
    const pco_upstream_shared_t  *sh = s->shared;

    if (sh == NULL) {
        return 0;
    }
    switch (what) {
    case 5:
        return __atomic_load_n(&sh->hc_successes, __ATOMIC_RELAXED);
    case 6:
        return __atomic_load_n(&sh->hc_failures, __ATOMIC_RELAXED);
    case 7:
        return __atomic_load_n(&sh->hc_last_check, __ATOMIC_RELAXED) / 1000;
    default:
        return __atomic_load_n(&sh->hc_srtt, __ATOMIC_RELAXED);
    }
}

/* what: 0 up, 1 active, 2 tries, 3 failures, 4 responses by class, 5..8 health checks
 * (consecutive successes, consecutive failures, last check time, smoothed duration). */

/* The per-upstream-server families, in the order of pco_status_prom_userver's `what`. */
static const struct {
    const char  *name;
    const char  *type;
    const char  *help;
} pco_status_userver_families[] = {
    { "upstream_server_up", "gauge",
      "1 when the upstream server may get traffic, 0 when it is down." },
    { "upstream_server_active", "gauge", "Connections in flight to the upstream server." },
    { "upstream_server_tries_total", "counter", "Tries sent to the upstream server." },
    { "upstream_server_failures_total", "counter",
      "Tries that got no response status from the upstream server." },
    { "upstream_server_responses_total", "counter",
      "Upstream server responses by status class." },
    { "upstream_server_check_success_streak", "gauge",
      "Consecutive successful active health checks." },
    { "upstream_server_check_failure_streak", "gauge",
      "Consecutive failed active health checks." },
    { "upstream_server_check_last_timestamp_seconds", "gauge",
      "Unix time of the last active health check (0: never)." },
    { "upstream_server_check_duration_seconds", "gauge",
      "Smoothed duration of successful active health checks." },
};

/* The servers added at run time (admin API, resolver) in family `what`, from their zone
 * slots: up, active, tries and the health checks; failures and responses by class are
 * counted for the configured servers only. */
static void
pco_status_prom_userver_runtime(const pco_upstream_t *u, pco_status_buf_t *b, int what)
{
    const char                   *name = pco_status_userver_families[what].name;
    const pco_upstream_server_t  *s;
    pco_status_label_t            l[2];
    char                          tmp[32];
    unsigned                      j;

    if (what == 3 || what == 4) {
        return;
    }
    for (j = u->nservers; j < pco_upstream_npos(u); j++) {
        s = &u->servers[j];
        if (s->shared == NULL || !pco_status_stats_first(u, j)) {
            continue;
        }
        l[0].name = "upstream";
        l[0].value = u->name;
        l[1].name = "server";
        l[1].value = s->name;
        switch (what) {
        case 0:
            pco_status_prom_int(b, name, l, 2, pco_status_server_up(s));
            break;
        case 1:
            pco_status_prom_int(b, name, l, 2, pco_upstream_active(s));
            break;
        case 2:
            pco_status_prom_int(b, name, l, 2,
                                (int64_t) __atomic_load_n(&s->shared->requests,
                                                          __ATOMIC_RELAXED));
            break;
        case 8:
            snprintf(tmp, sizeof(tmp), "%.6f", (double) pco_status_hc(s, 8) / 1e6);
            pco_status_prom_sample(b, name, l, 2, tmp);
            break;
        default:
            pco_status_prom_int(b, name, l, 2, pco_status_hc(s, what));
        }
    }
}

static void
pco_status_prom_userver(const pco_status_ctx_t *ctx, pco_status_buf_t *b, int what)
{
    const char               *name = pco_status_userver_families[what].name;
    char                      tmp[32];
    pco_status_seen_t         seen;
    pco_status_label_t        l[3];
    size_t                    i, j;
    int                       k;

    memset(&seen, 0, sizeof(seen));
    for (i = 0; i < ctx->nupstreams; i++) {
        const pco_status_upstream_t  *su = &ctx->upstreams[i];

        for (j = 0; j < su->u->nservers; j++) {
            const pco_status_userver_t  *us = &su->servers[j];

            if (!pco_status_first(&seen, us->tries)) {
                continue;
            }
            l[0].name = "upstream";
            l[0].value = su->u->name;
            l[1].name = "server";
            l[1].value = us->s->name;
            switch (what) {
            case 0:
                pco_status_prom_int(b, name, l, 2, pco_status_server_up(us->s));
                break;
            case 1:
                pco_status_prom_int(b, name, l, 2, pco_upstream_active(us->s));
                break;
            case 2:
                pco_status_prom_int(b, name, l, 2, pco_status_read(us->tries));
                break;
            case 3:
                pco_status_prom_int(b, name, l, 2, pco_status_read(us->failures));
                break;
            case 5:
            case 6:
            case 7:
                pco_status_prom_int(b, name, l, 2, pco_status_hc(us->s, what));
                break;
            case 8:
                snprintf(tmp, sizeof(tmp), "%.6f", (double) pco_status_hc(us->s, 8) / 1e6);
                pco_status_prom_sample(b, name, l, 2, tmp);
                break;
            default:
                for (k = 0; k < 5; k++) {
                    l[2].name = "class";
                    l[2].value = pco_status_cstr(pco_status_classes[k]);
                    pco_status_prom_int(b, name, l, 3, pco_status_read(us->cls[k]));
                }
            }
        }
        pco_status_prom_userver_runtime(su->u, b, what);
    }
}

static void
pco_status_prom_histograms(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_label_t  l[2];
    size_t              i;
    int                 k;
    int64_t             cum;

    pco_status_prom_family(b, "upstream_response_seconds", "histogram",
                           "Upstream response time per try, seconds.");
    for (i = 0; i < ctx->nupstreams; i++) {
        const pco_status_upstream_t  *su = &ctx->upstreams[i];

        if (su->sum_ms < 0) {
            continue;
        }
        l[0].name = "upstream";
        l[0].value = su->u->name;
        l[1].name = "le";
        cum = 0;
        for (k = 0; k <= PCO_STATUS_NBUCKETS; k++) {
            cum += pco_status_read(su->bucket[k]);
            l[1].value = pco_status_cstr(k < PCO_STATUS_NBUCKETS ? pco_status_bucket_le[k]
                                                                 : "+Inf");
            pco_status_prom_int(b, "upstream_response_seconds_bucket", l, 2, cum);
        }
        pco_status_buf_cstr(b, "portico_upstream_response_seconds_sum{upstream=\"");
        pco_status_prom_escape(b, su->u->name.data, su->u->name.len);
        pco_status_buf_cstr(b, "\"} ");
        pco_status_buf_msec(b, pco_status_read(su->sum_ms));
        pco_status_buf_cstr(b, "\n");
        pco_status_prom_int(b, "upstream_response_seconds_count", l, 1, cum);
    }
}

/* Every counter named PREFIX:NAME, as family{label="NAME"}. */
static void
pco_status_prom_prefixed(pco_status_buf_t *b, const char *prefix, const char *family,
                         const char *label)
{
    pco_status_label_t  l[1];
    size_t              plen = strlen(prefix);
    int                 id, n = pco_counter_count();

    for (id = 0; id < n; id++) {
        const char  *name = pco_counter_name(id);

        if (name != NULL && strncmp(name, prefix, plen) == 0) {
            l[0].name = label;
            l[0].value = pco_status_cstr(name + plen);
            pco_status_prom_int(b, family, l, 1, pco_counter_read(id));
        }
    }
}

/* The cache module's counters: counter name prefix, Prometheus family, JSON key. */
static const struct {
    const char  *prefix;
    const char  *family;
    const char  *type;
    const char  *help;
    const char  *json;
} pco_status_cache_families[] = {
    { "cache_hits:", "cache_hits_total", "counter",
      "Requests answered from the cache (HIT).", "hits" },
    { "cache_misses:", "cache_misses_total", "counter",
      "Cacheable requests with no stored response (MISS).", "misses" },
    { "cache_expired:", "cache_expired_total", "counter",
      "Requests whose stored response had expired and went upstream (EXPIRED).", "expired" },
    { "cache_stale:", "cache_stale_total", "counter",
      "Stale responses served in place of an upstream error (STALE).", "stale" },
    { "cache_updating:", "cache_updating_total", "counter",
      "Stale responses served while being refreshed (UPDATING).", "updating" },
    { "cache_revalidated:", "cache_revalidated_total", "counter",
      "Stored responses the upstream confirmed unchanged (REVALIDATED).", "revalidated" },
    { "cache_bypass:", "cache_bypass_total", "counter",
      "Requests that bypassed the cache (BYPASS).", "bypass" },
    { "cache_bytes_served:", "cache_served_bytes_total", "counter",
      "Body bytes served from the cache.", "served_bytes" },
    { "cache_evictions:", "cache_evictions_total", "counter",
      "Entries dropped because the cache's index was full.", "evictions" },
    { "cache_entries:", "cache_entries", "gauge", "Entries in the cache.", "entries" },
    { "cache_disk_bytes:", "cache_disk_bytes", "gauge",
      "Bytes of the cache's entry files on disk.", "disk_bytes" },
};

/* True when some counter's name starts with prefix. */
static bool
pco_status_have_prefix(const char *prefix)
{
    size_t  plen = strlen(prefix);
    int     id, n = pco_counter_count();

    for (id = 0; id < n; id++) {
        const char  *name = pco_counter_name(id);

        if (name != NULL && strncmp(name, prefix, plen) == 0) {
            return true;
        }
    }
    return false;
}

/* The cache families, when the cache module registered its counters. */
static void
pco_status_prom_caches(pco_status_buf_t *b)
{
    size_t  f;

    if (!pco_status_have_prefix(pco_status_cache_families[0].prefix)) {
        return;
    }
    for (f = 0; f < pco_nelems(pco_status_cache_families); f++) {
        pco_status_prom_family(b, pco_status_cache_families[f].family,
                               pco_status_cache_families[f].type,
                               pco_status_cache_families[f].help);
        pco_status_prom_prefixed(b, pco_status_cache_families[f].prefix,
                                 pco_status_cache_families[f].family, "zone");
    }
}

/* The per-worker buffer caches (core/pco_bcache.h), from their buffers_*:NAME counters
 * (nothing when there are none). */
static void
pco_status_prom_buffers(pco_status_buf_t *b)
{
    if (!pco_status_have_prefix("buffers_taken:")) {
        return;
    }
    pco_status_prom_family(b, "buffers_taken_total", "counter",
                           "Buffers taken from a per-worker buffer cache.");
    pco_status_prom_prefixed(b, "buffers_taken:", "buffers_taken_total", "cache");
    pco_status_prom_family(b, "buffers_in_use", "gauge",
                           "Buffers of a buffer cache held by requests now.");
    pco_status_prom_prefixed(b, "buffers_in_use:", "buffers_in_use", "cache");
    pco_status_prom_family(b, "buffers_mapped_bytes", "gauge",
                           "Bytes mapped by a buffer cache (in use and free).");
    pco_status_prom_prefixed(b, "buffers_mapped_bytes:", "buffers_mapped_bytes", "cache");
}

static void
pco_status_prom_one(pco_status_buf_t *b, const char *name, const char *type, const char *help,
                    int id)
{
    pco_status_prom_family(b, name, type, help);
    pco_status_prom_int(b, name, NULL, 0, pco_status_read(id));
}

void
pco_status_prometheus(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_label_t  l[1];
    int                 i;
    size_t              f;

    pco_status_prom_one(b, "reloads_total", "counter", "Configuration reloads.", ctx->reloads);
    pco_status_prom_one(b, "reloads_failed_total", "counter",
                        "Configuration reloads that failed (the running one was kept).",
                        ctx->reloads_failed);
    pco_status_prom_one(b, "worker_restarts_total", "counter",
                        "Worker processes restarted after an unexpected exit.", ctx->restarts);
    pco_status_prom_one(b, "syslog_dropped_total", "counter",
                        "Log messages for a syslog target dropped: the socket was full or "
                        "its receiver gone (workers and helpers; the master's are not "
                        "counted).", ctx->syslog_dropped);
    pco_status_prom_one(b, "http_requests_total", "counter", "HTTP requests.",
                        ctx->http.requests);
    pco_status_prom_family(b, "http_responses_total", "counter",
                           "HTTP responses by status class.");
    for (i = 0; i < 5; i++) {
        l[0].name = "class";
        l[0].value = pco_status_cstr(pco_status_classes[i]);
        pco_status_prom_int(b, "http_responses_total", l, 1, pco_status_read(ctx->http.cls[i]));
    }
    pco_status_prom_family(b, "http_protocol_requests_total", "counter",
                           "HTTP requests by protocol version.");
    for (i = 0; i < 3; i++) {
        l[0].name = "protocol";
        l[0].value = pco_status_cstr(pco_status_protocols[i]);
        pco_status_prom_int(b, "http_protocol_requests_total", l, 1,
                            pco_status_read(ctx->proto[i]));
    }
    if (ctx->h2_total >= 0) {
        pco_status_prom_one(b, "http2_connections_active", "gauge",
                            "Client connections speaking HTTP/2.", ctx->h2_active);
        pco_status_prom_one(b, "http2_connections_total", "counter",
                            "Client connections that chose HTTP/2 (ALPN h2 or prior "
                            "knowledge).", ctx->h2_total);
        pco_status_prom_one(b, "http2_connections_calm_total", "counter",
                            "HTTP/2 connections ended by a defence (GOAWAY "
                            "ENHANCE_YOUR_CALM: rapid reset, floods).", ctx->h2_calm);
    }
    pco_status_prom_one(b, "http_connections_active", "gauge",
                        "Client connections open (with a request in progress or idle).",
                        ctx->conn_active);
    pco_status_prom_one(b, "http_connections_idle", "gauge",
                        "Idle keep-alive client connections.", ctx->conn_idle);
    pco_status_prom_one(b, "http_connections_total", "counter",
                        "Client connections accepted.", ctx->conn_total);

    pco_status_prom_groups(ctx, b, "server", "per server and listener.",
                           pco_status_prom_servers);
    pco_status_prom_groups(ctx, b, "route", "per route (its name or default label).",
                           pco_status_prom_routes);

    pco_status_prom_one(b, "upstream_requests_total", "counter",
                        "Tries sent to upstream servers.", ctx->up_requests);
    pco_status_prom_one(b, "upstream_connections_reused_total", "counter",
                        "Upstream tries sent on an idle kept-alive connection.", ctx->up_reused);
    pco_status_prom_one(b, "upstream_connections_opened_total", "counter",
                        "Upstream connections opened.", ctx->up_opened);
    /* servers added at run time (admin API, resolver): this process's view of them */
    for (f = 0; f < ctx->nupstreams; f++) {
        pco_upstream_sync((pco_upstream_t *) ctx->upstreams[f].u);
    }
    for (f = 0; f < sizeof(pco_status_userver_families) / sizeof(pco_status_userver_families[0]);
         f++)
    {
        pco_status_prom_family(b, pco_status_userver_families[f].name,
                               pco_status_userver_families[f].type,
                               pco_status_userver_families[f].help);
        pco_status_prom_userver(ctx, b, (int) f);
    }
    pco_status_prom_histograms(ctx, b);
    pco_status_prom_stats(ctx, b);
    pco_status_prom_upstream_counters(ctx, b);

    pco_status_prom_family(b, "rate_limit_rejected_total", "counter",
                           "Requests rejected by a rate limit.");
    pco_status_prom_prefixed(b, "rate_limit_rejected:", "rate_limit_rejected_total", "limit");
    pco_status_prom_family(b, "conn_limit_rejected_total", "counter",
                           "Requests rejected by a connection limit.");
    pco_status_prom_prefixed(b, "conn_limit_rejected:", "conn_limit_rejected_total", "limit");
    pco_status_prom_caches(b);
    pco_status_prom_buffers(b);
    pco_status_process_prometheus(ctx, b);
    pco_status_prom_resolver(b);
}

/* ---- JSON ---- */

void
pco_status_json_key(pco_status_buf_t *b, const char *key, int64_t v, bool comma)
{
    if (comma) {
        pco_status_buf_cstr(b, ",");
    }
    pco_status_json_string(b, (const u_char *) key, strlen(key));
    pco_status_buf_cstr(b, ":");
    pco_status_buf_int(b, v);
}

static void
pco_status_json_counters(pco_status_buf_t *b, const pco_status_counters_t *c, bool comma)
{
    int  i;

    pco_status_json_key(b, "requests", pco_status_read(c->requests), comma);
    pco_status_buf_cstr(b, ",\"responses\":{");
    for (i = 0; i < 5; i++) {
        pco_status_json_key(b, pco_status_classes[i], pco_status_read(c->cls[i]), i > 0);
    }
    pco_status_buf_cstr(b, "}");
    if (c->sent >= 0 || c->received >= 0) {
        pco_status_json_key(b, "received_bytes", pco_status_read(c->received), true);
        pco_status_json_key(b, "sent_bytes", pco_status_read(c->sent), true);
        pco_status_json_key(b, "client_aborts", pco_status_read(c->aborts), true);
    }
}

static void
pco_status_json_prefixed(pco_status_buf_t *b, const char *key, const char *prefix)
{
    size_t  plen = strlen(prefix);
    int     id, n = pco_counter_count();
    bool    comma = false;

    pco_status_buf_cstr(b, ",");
    pco_status_json_string(b, (const u_char *) key, strlen(key));
    pco_status_buf_cstr(b, ":{");
    for (id = 0; id < n; id++) {
        const char  *name = pco_counter_name(id);

        if (name != NULL && strncmp(name, prefix, plen) == 0) {
            pco_status_json_key(b, name + plen, pco_counter_read(id), comma);
            comma = true;
        }
    }
    pco_status_buf_cstr(b, "}");
}

/* "caches": {"ZONE": {"hits": N, ...}}, the zones named by the cache_hits:ZONE counters
 * (nothing when there are none). */
static void
pco_status_json_caches(pco_status_buf_t *b)
{
    const char  *hits = pco_status_cache_families[0].prefix;
    char         name[PCO_COUNTER_NAME_LEN + 32];
    size_t       hlen = strlen(hits), f;
    int          id, n = pco_counter_count();
    bool         comma = false;

    if (!pco_status_have_prefix(hits)) {
        return;
    }
    pco_status_buf_cstr(b, ",\"caches\":{");
    for (id = 0; id < n; id++) {
        const char  *cname = pco_counter_name(id);
        const char  *zone;

        if (cname == NULL || strncmp(cname, hits, hlen) != 0) {
            continue;
        }
        zone = cname + hlen;
        pco_status_buf_cstr(b, comma ? "," : "");
        comma = true;
        pco_status_json_string(b, (const u_char *) zone, strlen(zone));
        pco_status_buf_cstr(b, ":{");
        for (f = 0; f < pco_nelems(pco_status_cache_families); f++) {
            snprintf(name, sizeof(name), "%s%s", pco_status_cache_families[f].prefix, zone);
            pco_status_json_key(b, pco_status_cache_families[f].json,
                                pco_status_read(pco_counter_find(name)), f > 0);
        }
        pco_status_buf_cstr(b, "}");
    }
    pco_status_buf_cstr(b, "}");
}

/* One server object of an upstream's "servers": a configured one (us, with its counters)
 * or one added at run time (us NULL: its tries from the zone slot; failures and responses
 * by class are counted for configured servers only). */
static void
pco_status_json_userver(pco_status_buf_t *b, const pco_upstream_t *u, unsigned j,
                        const pco_status_userver_t *us, bool comma)
{
    const pco_upstream_server_t  *s = &u->servers[j];
    int                           k;

    pco_status_buf_cstr(b, comma ? ",{\"address\":" : "{\"address\":");
    pco_status_json_string(b, s->name.data, s->name.len);
    pco_status_json_key(b, "up", pco_status_server_up(s), true);
    pco_status_json_key(b, "active", pco_upstream_active(s), true);
    pco_status_json_key(b, "tries", us != NULL ? pco_status_read(us->tries)
                                    : (int64_t) __atomic_load_n(&s->shared->requests,
                                                                __ATOMIC_RELAXED), true);
    if (us != NULL) {
        pco_status_json_key(b, "failures", pco_status_read(us->failures), true);
    }
    pco_status_json_key(b, "check_success_streak", pco_status_hc(s, 5), true);
    pco_status_json_key(b, "check_failure_streak", pco_status_hc(s, 6), true);
    pco_status_json_key(b, "check_last", pco_status_hc(s, 7), true);
    pco_status_json_key(b, "check_duration_us", pco_status_hc(s, 8), true);
    if (s->shared != NULL && s->shared->hc_last_error[0] != '\0') {
        char  err[sizeof(s->shared->hc_last_error)];

        memcpy(err, s->shared->hc_last_error, sizeof(err));
        err[sizeof(err) - 1] = '\0';
        pco_status_buf_cstr(b, ",\"check_last_error\":");
        pco_status_json_string(b, (const u_char *) err, strlen(err));
    }
    if (us != NULL) {
        pco_status_buf_cstr(b, ",\"responses\":{");
        for (k = 0; k < 5; k++) {
            pco_status_json_key(b, pco_status_classes[k], pco_status_read(us->cls[k]), k > 0);
        }
        pco_status_buf_cstr(b, "}");
    }
    pco_status_json_stats(b, u, j);
    pco_status_buf_cstr(b, "}");
}

static void
pco_status_json_upstream(pco_status_buf_t *b, const pco_status_upstream_t *su)
{
    pco_status_seen_t  seen;
    size_t             j;
    int                k;
    int64_t            cum = 0;
    bool               comma = false;

    pco_status_buf_cstr(b, "{\"name\":");
    pco_status_json_string(b, su->u->name.data, su->u->name.len);
    pco_status_buf_cstr(b, ",\"servers\":[");
    memset(&seen, 0, sizeof(seen));
    for (j = 0; j < su->u->nservers; j++) {
        if (pco_status_first(&seen, su->servers[j].tries)) {
            pco_status_json_userver(b, su->u, (unsigned) j, &su->servers[j], comma);
            comma = true;
        }
    }
    for (j = su->u->nservers; j < pco_upstream_npos(su->u); j++) {
        if (su->u->servers[j].shared != NULL
            && pco_status_stats_first(su->u, (unsigned) j))
        {
            pco_status_json_userver(b, su->u, (unsigned) j, NULL, comma);
            comma = true;
        }
    }
    pco_status_buf_cstr(b, "],\"response_seconds\":{\"buckets\":[");
    for (k = 0; k <= PCO_STATUS_NBUCKETS; k++) {
        cum += pco_status_read(su->bucket[k]);
        if (k < PCO_STATUS_NBUCKETS) {
            pco_status_buf_cstr(b, k > 0 ? ",{\"le\":" : "{\"le\":");
            pco_status_buf_cstr(b, pco_status_bucket_le[k]);
            pco_status_json_key(b, "count", cum, true);
            pco_status_buf_cstr(b, "}");
        }
    }
    pco_status_buf_cstr(b, "],\"sum\":");
    pco_status_buf_msec(b, pco_status_read(su->sum_ms));
    pco_status_json_key(b, "count", cum, true);
    pco_status_buf_cstr(b, "}");
    pco_status_json_key(b, "retries", pco_status_upstream_counter("upstream_retries", su->u),
                        true);
    pco_status_json_key(b, "max_conns_rejected",
                        pco_status_upstream_counter("upstream_max_conns_rejected", su->u), true);
    pco_status_buf_cstr(b, "}");
}

void
pco_status_json(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_seen_t  seen, rseen;
    size_t             i, j;
    bool               comma = false, rcomma;

    for (i = 0; i < ctx->nupstreams; i++) {
        pco_upstream_sync((pco_upstream_t *) ctx->upstreams[i].u);   /* run-time servers */
    }
    pco_status_buf_cstr(b, "{");
    pco_status_json_key(b, "reloads", pco_status_read(ctx->reloads), false);
    pco_status_json_key(b, "reloads_failed", pco_status_read(ctx->reloads_failed), true);
    pco_status_json_key(b, "worker_restarts", pco_status_read(ctx->restarts), true);
    pco_status_json_key(b, "syslog_dropped", pco_status_read(ctx->syslog_dropped), true);
    pco_status_json_key(b, "connections_active", pco_status_read(ctx->conn_active), true);
    pco_status_json_key(b, "connections_idle", pco_status_read(ctx->conn_idle), true);
    pco_status_json_key(b, "connections_total", pco_status_read(ctx->conn_total), true);
    pco_status_buf_cstr(b, ",\"http\":{");
    pco_status_json_counters(b, &ctx->http, false);
    pco_status_buf_cstr(b, ",\"protocols\":{");
    for (i = 0; i < 3; i++) {
        pco_status_json_key(b, pco_status_protocols[i], pco_status_read(ctx->proto[i]), i > 0);
    }
    pco_status_buf_cstr(b, "}}");
    if (ctx->h2_total >= 0) {
        pco_status_buf_cstr(b, ",\"http2\":{");
        pco_status_json_key(b, "connections_active", pco_status_read(ctx->h2_active), false);
        pco_status_json_key(b, "connections_total", pco_status_read(ctx->h2_total), true);
        pco_status_json_key(b, "connections_calm", pco_status_read(ctx->h2_calm), true);
        pco_status_buf_cstr(b, "}");
    }
    pco_status_buf_cstr(b, ",\"upstream_connections\":{");
    pco_status_json_key(b, "requests", pco_status_read(ctx->up_requests), false);
    pco_status_json_key(b, "reused", pco_status_read(ctx->up_reused), true);
    pco_status_json_key(b, "opened", pco_status_read(ctx->up_opened), true);
    pco_status_buf_cstr(b, "},\"servers\":[");
    memset(&seen, 0, sizeof(seen));
    memset(&rseen, 0, sizeof(rseen));
    for (i = 0; i < ctx->nservers; i++) {
        const pco_status_server_t  *ss = &ctx->servers[i];

        if (!pco_status_first(&seen, ss->conf->c.requests)) {
            continue;
        }
        pco_status_buf_cstr(b, comma ? ",{\"name\":" : "{\"name\":");
        comma = true;
        pco_status_json_string(b, ss->name.data, ss->name.len);
        pco_status_buf_cstr(b, ",\"listen\":");
        pco_status_json_string(b, ss->listen.data, ss->listen.len);
        pco_status_json_counters(b, &ss->conf->c, true);
        pco_status_buf_cstr(b, ",\"routes\":[");
        rcomma = false;
        for (j = 0; j < ss->nroutes; j++) {
            if (!pco_status_first(&rseen, ss->routes[j]->c.requests)) {
                continue;
            }
            pco_status_buf_cstr(b, rcomma ? "," : "");
            rcomma = true;
            pco_status_buf_cstr(b, "{\"route\":");
            pco_status_json_string(b, ss->routes[j]->label.data, ss->routes[j]->label.len);
            pco_status_json_counters(b, &ss->routes[j]->c, true);
            pco_status_buf_cstr(b, "}");
        }
        pco_status_buf_cstr(b, "]}");
    }
    pco_status_buf_cstr(b, "],\"upstreams\":[");
    for (i = 0; i < ctx->nupstreams; i++) {
        pco_status_buf_cstr(b, i > 0 ? "," : "");
        pco_status_json_upstream(b, &ctx->upstreams[i]);
    }
    pco_status_buf_cstr(b, "]");
    pco_status_json_prefixed(b, "rate_limit_rejected", "rate_limit_rejected:");
    pco_status_json_prefixed(b, "conn_limit_rejected", "conn_limit_rejected:");
    pco_status_json_caches(b);
    pco_status_json_resolver(b);
    if (pco_status_have_prefix("buffers_taken:")) {
        pco_status_json_prefixed(b, "buffers_taken", "buffers_taken:");
        pco_status_json_prefixed(b, "buffers_in_use", "buffers_in_use:");
        pco_status_json_prefixed(b, "buffers_mapped_bytes", "buffers_mapped_bytes:");
    }
    pco_status_process_json(ctx, b);
    pco_status_buf_cstr(b, "}\n");
}
