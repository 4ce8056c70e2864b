/*
 * pco_status.c: the `status` route action (docs/settings.md) and the request counters behind it.
 *     { match = { path = "/status"; }; status = { format = "prometheus"; }; }   # or "json"
 * conf_done claims every route that sets `status`, notes whether the route has its own
 * `access` list (then the access module decides who may read; otherwise only loopback
 * clients: 127.0.0.0/8, ::1, unix sockets, else 403), and registers per-worker counters
 * (core/pco_shm.h) for: every server (keyed by its first `listen` address and its first
 * name, "_" when it has none, so servers sharing a name on different listeners are apart;
 * servers sharing both share counters), every route (its server's key and its label: the
 * route's `name`, else the http module's default "SERVER:MATCH", never its position), every
 * upstream server (tries, failures, responses by class) and a latency histogram per
 * upstream. Counter names are stable across reloads, so totals continue. The traffic
 * statistics of upstream servers (bytes, errors, fine histograms) are not counters here:
 * they live in the upstream zone's slots (pco_upstream_stats.h), written by the proxy.
 * The LOG handler counts each request (server, route, status class, bytes both ways, 499s:
 * docs/metrics.md); each upstream try is
 * counted when the proxy reports it (a try observer of the cycle), for the servers of the
 * route's own upstream. A try without a response status counts as a failure; a refused or
 * timed-out connect is recorded as 502 (as in nginx's $upstream_status) and counts under 5xx.
 * The content handler (GET/HEAD, else 405 with Allow) sums the counters over all workers and
 * writes Prometheus text or JSON (pco_status_output.c). Shared state: only the counter table
 * and the upstream module's per-server shared state (read).
 */
#include "pco_status.h"
#include <stdio.h>
#include <string.h>

static int pco_status_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_status_log_handler(pco_http_request_t *r);
static void pco_status_count_try(pco_http_request_t *r, pco_upstream_server_t *s, int status,
                                 int64_t ms);
static int pco_status_handler(pco_http_request_t *r);

static const char *const pco_status_formats[] = { "prometheus", "json", NULL };

static const pco_setting_t pco_status_members[] = {
    { .name = "format", .type = PCO_CONF_ENUM, .offset = 0, .def = "\"prometheus\"",
      .values = pco_status_formats,
      .help = "prometheus (text exposition 0.0.4) or json" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_status_settings[] = {
    { .name = "status", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_status_conf_t, format), .sub = pco_status_members,
      .flags = PCO_CONF_NOINHERIT,
      .help = "route action: counters and upstream health as { format = \"prometheus\" | "
              "\"json\"; }, loopback clients only unless the route has `access`" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too: claims routes, registers counters and the LOG handler;
 * no side effects; PCO_OK or PCO_ERROR after reporting). The LOG handler and the content
 * handler run in workers and never block; the LOG handler always returns PCO_DECLINED.
 */
pco_module_t pco_status_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "status",
    .settings = pco_status_settings,
    .conf_size = sizeof(pco_status_conf_t),
    .conf_done = pco_status_conf_done,
};

static const char *const pco_status_class_names[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

/* Registers "status:KIND:KEY:SUFFIX" (a long key is replaced by its FNV-1a hash so the name
 * fits); -1 when the counter table is nearly full (then the value is simply not counted). */
static int
pco_status_counter(pco_conf_t *cf, pco_cycle_t *cycle, const char *kind, const pco_str_t *key,
                   const char *suffix, pco_counter_kind_e type)
{
    char      name[PCO_COUNTER_NAME_LEN];
    uint64_t  h = 0xcbf29ce484222325ull;
    size_t    i;

    if (pco_counter_count() >= PCO_COUNTERS_MAX - 256) {
        return -1;      /* warned about at the end of conf_done */
    }
    if (key->len + strlen(kind) + strlen(suffix) + 12 < sizeof(name)) {
        snprintf(name, sizeof(name), "status:%s:%.*s:%s", kind, (int) key->len,
                 (const char *) key->data, suffix);
    } else {
        for (i = 0; i < key->len; i++) {
            h = (h ^ key->data[i]) * 0x100000001b3ull;
        }
        snprintf(name, sizeof(name), "status:%s:#%016llx:%s", kind, (unsigned long long) h,
                 suffix);
    }
    return pco_counter_register(cf, cycle, name, type);
}

static void
pco_status_counters_register(pco_conf_t *cf, pco_cycle_t *cycle, const char *kind,
                             const pco_str_t *key, pco_status_counters_t *c)
{
    int  i;

    c->requests = pco_status_counter(cf, cycle, kind, key, "requests", PCO_COUNTER_MONOTONIC);
    for (i = 0; i < 5; i++) {
        c->cls[i] = pco_status_counter(cf, cycle, kind, key, pco_status_class_names[i],
                                       PCO_COUNTER_MONOTONIC);
    }
    c->received = pco_status_counter(cf, cycle, kind, key, "rx", PCO_COUNTER_MONOTONIC);
    c->sent = pco_status_counter(cf, cycle, kind, key, "tx", PCO_COUNTER_MONOTONIC);
    c->aborts = pco_status_counter(cf, cycle, kind, key, "499", PCO_COUNTER_MONOTONIC);
}

/* The libconfig setting of a node's list element: "servers"[i] or its "routes"[j]. */
static config_setting_t *
pco_status_setting_of(pco_conf_t *cf, const pco_conf_node_t *node)
{
    config_setting_t  *parent, *list;

    if (node->scope == PCO_SCOPE_SERVER) {
        list = config_lookup(&cf->config, "servers");
    } else {
        parent = node->parent != NULL ? pco_status_setting_of(cf, node->parent) : NULL;
        list = parent != NULL ? config_setting_lookup(parent, "routes") : NULL;
    }
    if (list == NULL || !config_setting_is_list(list)) {
        return NULL;
    }
    return config_setting_get_elem(list, node->index);
}

static int
pco_status_upstreams(pco_conf_t *cf, pco_cycle_t *cycle, pco_status_ctx_t *ctx)
{
    config_setting_t  *list = config_lookup(&cf->config, "upstreams");
    const char        *n;
    unsigned           i, j, k, count;

    count = list != NULL && config_setting_is_list(list) ? (unsigned) config_setting_length(list)
                                                         : 0;
    ctx->upstreams = pco_pcalloc(cf->pool, (count + 1) * sizeof(pco_status_upstream_t));
    if (ctx->upstreams == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < count; i++) {
        config_setting_t       *e = config_setting_get_elem(list, i);
        pco_status_upstream_t  *su = &ctx->upstreams[ctx->nupstreams];
        pco_str_t               name;

        if (e == NULL || !config_setting_lookup_string(e, "name", &n)) {
            continue;
        }
        name.data = (u_char *) n;
        name.len = strlen(n);
        su->u = pco_upstream_find(cycle, &name);
        if (su->u == NULL) {
            continue;
        }
        su->servers = pco_pcalloc(cf->pool, (su->u->nservers + 1) * sizeof(*su->servers));
        if (su->servers == NULL) {
            return PCO_ERROR;
        }
        for (k = 0; k <= PCO_STATUS_NBUCKETS; k++) {
            char  sfx[16];

            snprintf(sfx, sizeof(sfx), "b%u", k);
            su->bucket[k] = pco_status_counter(cf, cycle, "uh", &name, sfx,
                                               PCO_COUNTER_MONOTONIC);
        }
        su->sum_ms = pco_status_counter(cf, cycle, "uh", &name, "sum_ms", PCO_COUNTER_MONOTONIC);
        for (j = 0; j < su->u->nservers; j++) {
            pco_status_userver_t  *us = &su->servers[j];
            pco_upstream_server_t *s = &su->u->servers[j];
            char                   key[600];
            pco_str_t              ks;

            us->s = s;
            ks.len = (size_t) snprintf(key, sizeof(key), "%.*s,%.*s",
                                       (int) pco_min(name.len, 200), n,
                                       (int) pco_min(s->name.len, 300), s->name.data);
            ks.data = (u_char *) key;
            us->tries = pco_status_counter(cf, cycle, "us", &ks, "tries",
                                           PCO_COUNTER_MONOTONIC);
            us->failures = pco_status_counter(cf, cycle, "us", &ks, "failures",
                                              PCO_COUNTER_MONOTONIC);
            for (k = 0; k < 5; k++) {
                us->cls[k] = pco_status_counter(cf, cycle, "us", &ks, pco_status_class_names[k],
                                                PCO_COUNTER_MONOTONIC);
            }
        }
        ctx->nupstreams++;
    }
    return PCO_OK;
}

/* The first of a server's `names` ("_" when none). */
static pco_str_t
pco_status_server_name(config_setting_t *scs)
{
    config_setting_t  *names = scs != NULL ? config_setting_lookup(scs, "names") : NULL;
    const char        *s = NULL;
    pco_str_t          v = pco_string("_");

    if (names != NULL) {
        s = config_setting_is_aggregate(names) ? config_setting_get_string_elem(names, 0)
                                               : config_setting_get_string(names);
    }
    if (s != NULL && s[0] != '\0') {
        v.data = (u_char *) s;
        v.len = strlen(s);
    }
    return v;
}

/* The first `listen` address of a server as written ("127.0.0.1:8080", "443"): a string,
 * a group's address, or the first of a list of those; "" when there is none. */
static pco_str_t
pco_status_server_listen(config_setting_t *scs)
{
    config_setting_t  *l = scs != NULL ? config_setting_lookup(scs, "listen") : NULL;
    const char        *s = NULL;
    pco_str_t          v = pco_string("");

    if (l != NULL && (config_setting_is_list(l) || config_setting_is_array(l))) {
        l = config_setting_get_elem(l, 0);
    }
    if (l != NULL && config_setting_is_group(l)) {
        (void) config_setting_lookup_string(l, "address", &s);
    } else if (l != NULL && config_setting_type(l) == CONFIG_TYPE_STRING) {
        s = config_setting_get_string(l);
    }
    if (s != NULL) {
        v.data = (u_char *) s;
        v.len = strlen(s);
    }
    return v;
}

/* The route built by the http module for the configuration node rn (its name). */
static const pco_http_route_t *
pco_status_route_of(pco_cycle_t *cycle, const pco_conf_node_t *rn)
{
    pco_http_route_t  **routes;
    size_t              n, i;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        if (routes[i]->node == rn) {
            return routes[i];
        }
    }
    return NULL;
}

static pco_status_upstream_t *
pco_status_route_upstream(pco_status_ctx_t *ctx, config_setting_t *rcs)
{
    config_setting_t  *p = rcs != NULL ? config_setting_lookup(rcs, "proxy") : NULL;
    const char        *n;
    size_t             i;

    if (p == NULL || !config_setting_lookup_string(p, "upstream", &n)) {
        return NULL;
    }
    for (i = 0; i < ctx->nupstreams; i++) {
        pco_upstream_t  *u = ctx->upstreams[i].u;

        if (u->name.len == strlen(n) && memcmp(u->name.data, n, u->name.len) == 0) {
            return &ctx->upstreams[i];
        }
    }
    return NULL;
}

static int
pco_status_server(pco_conf_t *cf, pco_cycle_t *cycle, pco_status_ctx_t *ctx,
                  pco_conf_node_t *node)
{
    pco_status_server_t  *ss = &ctx->servers[ctx->nservers++];
    config_setting_t     *scs = pco_status_setting_of(cf, node);
    size_t                i, n = 0;

    char                  skey[PCO_COUNTER_NAME_LEN * 4];
    pco_str_t             sks;

    ss->name = pco_status_server_name(scs);
    ss->listen = pco_status_server_listen(scs);
    ss->conf = pco_conf_get(node, &pco_status_module);
    ss->conf->counted = true;
    ss->conf->ctx = ctx;
    /* keyed by listener and name: servers that share a first name on different listeners
     * (a redirect on :80, the site on :443) are kept apart */
    sks.len = pco_status_key(skey, sizeof(skey), &ss->listen, &ss->name, NULL);
    sks.data = (u_char *) skey;
    pco_status_counters_register(cf, cycle, "srv", &sks, &ss->conf->c);
    ss->routes = pco_pcalloc(cf->pool, (node->nchildren + 1) * sizeof(pco_status_conf_t *));
    if (ss->routes == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < node->nchildren; i++) {
        pco_conf_node_t    *rn = node->children[i];
        pco_status_conf_t  *rc;
        config_setting_t   *rcs;
        const pco_http_route_t  *rt;
        char                key[PCO_COUNTER_NAME_LEN * 4];
        pco_str_t           ks;

        if (rn->scope != PCO_SCOPE_ROUTE) {
            continue;
        }
        rc = pco_conf_get(rn, &pco_status_module);
        rcs = pco_status_setting_of(cf, rn);
        rc->counted = true;
        rc->ctx = ctx;
        rc->has_access = rcs != NULL && config_setting_lookup(rcs, "access") != NULL;
        rc->up = pco_status_route_upstream(ctx, rcs);
        rt = pco_status_route_of(cycle, rn);
        if (rt != NULL) {
            rc->label = rt->name;
        } else {
            pco_str_set(&rc->label, "?");
        }
        ks.len = pco_status_key(key, sizeof(key), &ss->listen, &ss->name, &rc->label);
        ks.data = (u_char *) key;
        pco_status_counters_register(cf, cycle, "rt", &ks, &rc->c);
        ss->routes[n++] = rc;
    }
    ss->nroutes = n;
    return PCO_OK;
}

static int
pco_status_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_status_ctx_t       *ctx;
    pco_http_route_t      **routes;
    size_t                  n, i;
    int                     rc = PCO_OK;

    ctx = pco_pcalloc(cf->pool, sizeof(pco_status_ctx_t));
    if (ctx == NULL) {
        return PCO_ERROR;
    }
    cycle->module_ctx[pco_status_module.index] = ctx;
    if (pco_status_upstreams(cf, cycle, ctx) != PCO_OK) {
        return PCO_ERROR;
    }
    ctx->servers = pco_pcalloc(cf->pool, (cf->root->nchildren + 1) * sizeof(*ctx->servers));
    if (ctx->servers == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < cf->root->nchildren; i++) {
        if (cf->root->children[i]->scope == PCO_SCOPE_SERVER
            && pco_status_server(cf, cycle, ctx, cf->root->children[i]) != PCO_OK)
        {
            return PCO_ERROR;
        }
    }

    if (pco_counter_count() >= PCO_COUNTERS_MAX - 256) {
        pco_conf_warn_src(cf, &cf->root->src, "the counter table is nearly full (%d of %d): "
                          "some status counters are not kept", pco_counter_count(),
                          PCO_COUNTERS_MAX);
    }

    /* the counters of other parts, registered before us (core, http, upstream) */
    ctx->reloads = pco_counter_find("reloads");
    ctx->reloads_failed = pco_counter_find("reloads_failed");
    ctx->restarts = pco_counter_find("worker_restarts");
    ctx->syslog_dropped = pco_counter_find("syslog_dropped");
    ctx->http.requests = pco_counter_find("http_requests_total");
    /* no byte or abort counters at this level: -1 leaves their JSON keys out (0 would be
     * the id of another counter, the reload count) */
    ctx->http.received = ctx->http.sent = ctx->http.aborts = -1;
    for (i = 0; i < 5; i++) {
        char  name[32];

        snprintf(name, sizeof(name), "http_responses_%s", pco_status_class_names[i]);
        ctx->http.cls[i] = pco_counter_find(name);
    }
    ctx->proto[0] = pco_counter_find("http_requests_http10");
    ctx->proto[1] = pco_counter_find("http_requests_http11");
    ctx->proto[2] = pco_counter_find("http_requests_http2");
    ctx->h2_active = pco_counter_find("http2_connections_active");
    ctx->h2_total = pco_counter_find("http2_connections_total");
    ctx->h2_calm = pco_counter_find("http2_connections_calm");
    ctx->conn_active = pco_counter_find("http_connections_active");
    ctx->conn_idle = pco_counter_find("http_connections_idle");
    ctx->conn_total = pco_counter_find("http_connections_total");
    ctx->up_requests = pco_counter_find("upstream_requests");
    ctx->up_reused = pco_counter_find("upstream_conn_reused");
    ctx->up_opened = pco_counter_find("upstream_conn_opened");

    if (ctx->nupstreams > 0
        && pco_upstream_try_observer_add(cf, cycle, &pco_status_module, pco_status_count_try)
           != PCO_OK)
    {
        return PCO_ERROR;
    }

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_status_conf_t  *scf = pco_conf_get(routes[i]->node, &pco_status_module);

        if (scf != NULL && PCO_CONF_IS_SET(scf, pco_status_conf_t, format)
            && pco_http_route_set_action(cf, routes[i], "status", pco_status_handler,
                                         PCO_CONF_SRC(scf, pco_status_conf_t, format)) != PCO_OK)
        {
            rc = PCO_ERROR;
        }
    }
    if (pco_http_add_handler(cf, cycle, PCO_HTTP_LOG_PHASE, 50, &pco_status_module,
                             pco_status_log_handler) != PCO_OK)
    {
        return PCO_ERROR;
    }
    return rc;
}

/* ---- request time ---- */

static void
pco_status_count(const pco_status_counters_t *c, const pco_http_request_t *r)
{
    int  cls = r->status / 100 - 1;

    pco_counter_add(c->requests, 1);
    if (cls >= 0 && cls < 5) {
        pco_counter_add(c->cls[cls], 1);
    }
    pco_counter_add(c->received, r->request_length);
    pco_counter_add(c->sent, r->bytes_sent);
    if (r->status == 499) {
        pco_counter_add(c->aborts, 1);
    }
}

/* The try observer (pco_upstream_try_observer_add): one finished try of a request. It is counted for the upstream
 * server when the request's route is counted and proxies to that server's upstream. */
static void
pco_status_count_try(pco_http_request_t *r, pco_upstream_server_t *s, int status, int64_t ms)
{
    const pco_status_conf_t     *rcf;
    const pco_status_upstream_t *su;
    const pco_status_userver_t  *us;
    size_t                       k;

    if (r->route == NULL) {
        return;
    }
    rcf = pco_conf_get(r->route->node, &pco_status_module);
    if (rcf == NULL || !rcf->counted || (su = rcf->up) == NULL || su->u != s->upstream
        || s->index >= su->u->nservers || su->servers[s->index].s != s)
    {
        return;
    }
    us = &su->servers[s->index];
    pco_counter_add(us->tries, 1);
    if (status >= 100 && status <= 599) {
        pco_counter_add(us->cls[status / 100 - 1], 1);
    } else {
        pco_counter_add(us->failures, 1);
    }
    for (k = 0; k < PCO_STATUS_NBUCKETS && ms > pco_status_bucket_ms[k]; k++) {
        /* void */
    }
    pco_counter_add(su->bucket[k], 1);
    pco_counter_add(su->sum_ms, ms);
}

static int
pco_status_log_handler(pco_http_request_t *r)
{
    pco_status_conf_t  *scf, *rcf;

    if (r->server == NULL) {
        return PCO_DECLINED;
    }
    scf = pco_conf_get(r->server->node, &pco_status_module);
    if (scf != NULL && scf->counted) {
        pco_status_count(&scf->c, r);
    }
    if (r->route == NULL) {
        return PCO_DECLINED;
    }
    rcf = pco_conf_get(r->route->node, &pco_status_module);
    if (rcf == NULL || !rcf->counted) {
        return PCO_DECLINED;
    }
    pco_status_count(&rcf->c, r);
    return PCO_DECLINED;
}

static void
pco_status_buf_cleanup(void *data)
{
    pco_status_buf_free(data);
}

static int
pco_status_handler(pco_http_request_t *r)
{
    static const pco_str_t  allow = pco_string("Allow");
    static const pco_str_t  allow_v = pco_string("GET, HEAD");
    static const pco_str_t  t_prom = pco_string("text/plain; version=0.0.4; charset=utf-8");
    static const pco_str_t  t_json = pco_string("application/json");
    static const pco_str_t  t_text = pco_string("text/plain; charset=utf-8");
    static const pco_str_t  m405 = pco_string("Method Not Allowed\n");
    static const pco_str_t  cc = pco_string("Cache-Control");
    static const pco_str_t  cc_v = pco_string("no-store");
    pco_status_conf_t      *scf = pco_conf_get(r->route->node, &pco_status_module);
    pco_status_buf_t       *b;
    pco_str_t               body;
    int                     rc;

    if (!scf->has_access && !pco_status_is_loopback(r->client_addr)) {
        return 403;
    }
    rc = pco_http_discard_body(r);
    if (rc != PCO_OK) {
        return rc;
    }
    if (!(r->head.method & (PCO_HTTP_GET | PCO_HTTP_HEAD))) {
        if (pco_http_set_header(r, &allow, &allow_v, true) != PCO_OK) {
            return 500;
        }
        rc = pco_http_send_response(r, 405, &t_text, &m405);
        return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
    }
    b = pco_palloc(r->pool, sizeof(pco_status_buf_t));
    if (b == NULL) {
        return 500;
    }
    pco_status_buf_init(b, 64 * 1024 * 1024);
    if (pco_pool_cleanup_add(r->pool, pco_status_buf_cleanup, b) != PCO_OK) {
        return 500;
    }
    if (scf->format == 1) {
        pco_status_json(scf->ctx, b);
    } else {
        pco_status_prometheus(scf->ctx, b);
    }
    if (b->failed) {
        return 500;
    }
    body.data = b->data;
    body.len = b->len;
    if (pco_http_set_header(r, &cc, &cc_v, true) != PCO_OK) {
        return 500;
    }
    rc = pco_http_send_response(r, 200, scf->format == 1 ? &t_json : &t_prom, &body);
    return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
}
