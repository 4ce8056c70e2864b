/*
 * pco_rate_limit.c: request rate limits (docs/settings.md, docs/architecture.md):
 *     rate_limits = ( { name = "per_ip"; key = "$remote_addr"; rate = "10r/s"; burst = 20;
 *                       status = 429; size = "10m"; } );
 *     ... routes = ( { ...; rate_limit = "per_ip"; } )   (also http/server, inherited)
 * Each limit is a GCRA per key (pco_limit_table.h) in its own shared zone "rate_limit:NAME"
 * of `size` bytes, so it holds for the whole instance whatever the worker count; a zone
 * with the same name and size keeps its keys across a reload (the core says "starting
 * fresh" otherwise). Time is pco_current_msec (CLOCK_MONOTONIC, the same in every
 * process). An empty key is not limited. `burst` requests above the rate pass at once,
 * the rest get `status` with Retry-After (whole seconds until the next request would pass,
 * at least 1); nothing is queued. A full table recycles its least recently used keys with
 * a warning at most once a minute per zone; a request is never failed for it.
 * Hooks: conf_done (checks, key templates, zones, counters, the ACCESS handler at priority
 * 10 and a header filter that adds Retry-After), zone init in the master. Rejections are
 * logged at info ("limiting requests, excess: E by zone "NAME"") and counted in
 * rate_limit_rejected:NAME. Debug builds only: a request carrying
 * "X-Portico-Debug-Limit: crash-in-lock" makes its worker SIGKILL itself while holding the
 * zone lock (for the robustness test).
 */
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
#include <time.h>
#include "pco_rate_limit.h"
#include "pco_string.h"
#include "pco_log.h"
#include "pco_time.h"

#define PCO_RATE_LIMIT_PRIORITY  10     /* ACCESS: limits first, then access, auth */

typedef struct {
    int64_t   count;
    int64_t   period;          /* ms: 1000 (r/s) or 60000 (r/m) */
} pco_rate_limit_rate_t;

typedef struct {
    pco_str_t               name;
    pco_str_t               key;
    pco_rate_limit_rate_t   rate;
    int64_t                 burst;
    int64_t                 status;
    int64_t                 size;
    /* settled at conf_done */
    pco_http_template_t    *tpl;
    pco_shm_zone_t         *zone;
    pco_gcra_t              gcra;
    int                     c_rejected;
} pco_rate_limit_zone_t;

typedef struct {
    pco_conf_list_t         limits;    /* top: rate_limits (pco_rate_limit_zone_t) */
    pco_str_t               use;       /* rate_limit = "name" */
    pco_rate_limit_zone_t  *zone;      /* resolved for routes at conf_done */
} pco_rate_limit_conf_t;

typedef struct {
    int                     status;
    int64_t                 retry_after;
} pco_rate_limit_ctx_t;

static int pco_rate_limit_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_rate_limit_parse_rate(pco_conf_t *cf, const config_setting_t *cs, void *field,
                                     const pco_setting_t *s);
static void pco_rate_limit_dump_rate(FILE *out, const void *field, const pco_setting_t *s);

static const pco_setting_t pco_rate_limit_members[] = {
    { .name = "name", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_rate_limit_zone_t, name), .flags = PCO_CONF_REQUIRED,
      .help = "the limit's name, used by rate_limit = \"NAME\" and in metrics" },
    { .name = "key", .type = PCO_CONF_STRING, .offset = offsetof(pco_rate_limit_zone_t, key),
      .def = "\"$remote_addr\"",
      .help = "what is limited: a template of variables; an empty value is not limited" },
    { .name = "rate", .type = PCO_CONF_CUSTOM,
      .offset = offsetof(pco_rate_limit_zone_t, rate), .elt_size = sizeof(pco_rate_limit_rate_t),
      .custom = pco_rate_limit_parse_rate, .dump = pco_rate_limit_dump_rate,
      .flags = PCO_CONF_REQUIRED, .help = "requests per second or minute: \"10r/s\", \"30r/m\"" },
    { .name = "burst", .type = PCO_CONF_INT, .offset = offsetof(pco_rate_limit_zone_t, burst),
      .def = "0", .min = 0, .max = 1000000,
      .help = "requests above the rate admitted at once (no queueing)" },
    { .name = "status", .type = PCO_CONF_INT, .offset = offsetof(pco_rate_limit_zone_t, status),
      .def = "429", .min = 400, .max = 599, .help = "status of a rejected request" },
    { .name = "size", .type = PCO_CONF_SIZE, .offset = offsetof(pco_rate_limit_zone_t, size),
      .def = "\"10m\"", .min = 16384, .max = (int64_t) 1 << 34,
      .help = "the shared zone holding the keys (about 100 bytes a key)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_rate_limit_settings[] = {
    { .name = "rate_limits", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_rate_limit_conf_t, limits), .sub = pco_rate_limit_members,
      .elt_size = sizeof(pco_rate_limit_zone_t),
      .flags = PCO_CONF_INCLUDABLE,
      .help = "request rate limits: ( { name; key; rate; burst; status; size; } )" },
    { .name = "rate_limit", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_rate_limit_conf_t, use), .flags = PCO_CONF_FALSE_OFF,
      .help = "the rate limit applied to requests (a rate_limits name; false: none)" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too: checks names, rates and keys, resolves rate_limit
 * names (FILE:LINE errors with a "did you mean"), declares one zone per limit, registers
 * counters, the ACCESS handler and the Retry-After header filter; PCO_OK or PCO_ERROR after
 * reporting). The zone init callback runs in the master at start and reload. The handler
 * and the filter run in workers, take the zone lock for a few hundred nanoseconds and never
 * block otherwise.
 */
pco_module_t pco_rate_limit_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "rate_limit",
    .settings = pco_rate_limit_settings,
    .conf_size = sizeof(pco_rate_limit_conf_t),
    .conf_done = pco_rate_limit_conf_done,
};

/* ---- configuration ---- */

static int
pco_rate_limit_parse_rate(pco_conf_t *cf, const config_setting_t *cs, void *field,
                          const pco_setting_t *s)
{
    pco_rate_limit_rate_t  *rate = field;
    const char             *text, *p;
    int64_t                 n = 0;

    pco_unused(s);
    if (config_setting_type(cs) != CONFIG_TYPE_STRING) {
        pco_conf_error(cf, cs, "rate must be a string such as \"10r/s\" or \"30r/m\"");
        return PCO_ERROR;
    }
    text = config_setting_get_string(cs);
    for (p = text; *p >= '0' && *p <= '9' && n <= 100000000; p++) {
        n = n * 10 + (*p - '0');
    }
    if (p == text || n <= 0 || n > 1000000 || p[0] != 'r' || p[1] != '/'
        || (p[2] != 's' && p[2] != 'm') || p[3] != '\0')
    {
        pco_conf_error(cf, cs, "invalid rate \"%s\": expected N r/s or N r/m with N in "
                       "1..1000000, such as \"10r/s\" or \"30r/m\"", text);
        return PCO_ERROR;
    }
    rate->count = n;
    rate->period = p[2] == 's' ? 1000 : 60000;
    return PCO_OK;
}

static void
pco_rate_limit_dump_rate(FILE *out, const void *field, const pco_setting_t *s)
{
    const pco_rate_limit_rate_t  *rate = field;

    pco_unused(s);
    fprintf(out, "\"%lldr/%c\"", (long long) rate->count, rate->period == 1000 ? 's' : 'm');
}

static int
pco_rate_limit_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    if (old_data != NULL && pco_limit_table_valid(old_data, zone->size)) {
        zone->data = old_data;          /* same name and size: the keys live on */
        return PCO_OK;
    }
    if (pco_limit_table_init(zone->addr, zone->size, pco_limit_seed()) != PCO_OK) {
        pco_log_error(PCO_LOG_STDERR, pco_log, 0, "shared memory zone \"%.*s\" is too small",
                      (int) zone->name.len, zone->name.data);
        return PCO_ERROR;
    }
    zone->data = zone->addr;
    return PCO_OK;
}

/* Checks every rate_limits element and declares its zone, counter and key template. */
static int
pco_rate_limit_zones(pco_conf_t *cf, pco_cycle_t *cycle, pco_rate_limit_conf_t *top)
{
    pco_rate_limit_zone_t  *z = top->limits.elts;
    char                    buf[PCO_COUNTER_NAME_LEN];
    size_t                  i, j;
    int                     rc = PCO_OK;

    for (i = 0; i < top->limits.n; i++) {
        const pco_conf_src_t *src = top->limits.src
            ? &top->limits.src[i] : PCO_CONF_SRC(top, pco_rate_limit_conf_t, limits);

        if (!pco_limit_name_valid(&z[i].name)) {
            pco_conf_error_src(cf, src, "invalid rate limit name \"%s\" (1..64 of "
                               "A-Z a-z 0-9 _ - .)", z[i].name.data ? (char *) z[i].name.data
                                                                    : "");
            rc = PCO_ERROR;
            continue;
        }
        for (j = 0; j < i; j++) {
            if (z[j].name.len == z[i].name.len
                && memcmp(z[j].name.data, z[i].name.data, z[i].name.len) == 0)
            {
                pco_conf_error_src(cf, src, "duplicate rate limit name \"%s\"",
                                   (char *) z[i].name.data);
                rc = PCO_ERROR;
                break;
            }
        }
        if (j < i) {
            continue;
        }
        if (pco_gcra_init(&z[i].gcra, z[i].rate.count, z[i].rate.period, z[i].burst)
            != PCO_OK)
        {
            pco_conf_error_src(cf, src, "rate limit \"%s\": unusable rate",
                               (char *) z[i].name.data);
            rc = PCO_ERROR;
            continue;
        }
        z[i].tpl = pco_http_template_compile(cf, cycle, &z[i].key, src);
        if (z[i].tpl == NULL) {
            rc = PCO_ERROR;
            continue;
        }
        snprintf(buf, sizeof(buf), "rate_limit:%s", (char *) z[i].name.data);
        z[i].zone = pco_shm_zone_add(cf, cycle, buf, (size_t) z[i].size,
                                     &pco_rate_limit_module, pco_rate_limit_zone_init);
        snprintf(buf, sizeof(buf), "rate_limit_rejected:%s", (char *) z[i].name.data);
        z[i].c_rejected = pco_counter_register(cf, cycle, buf, PCO_COUNTER_MONOTONIC);
        if (z[i].zone == NULL || z[i].c_rejected < 0) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static pco_rate_limit_zone_t *
pco_rate_limit_find(pco_rate_limit_conf_t *top, const pco_str_t *name)
{
    pco_rate_limit_zone_t  *z = top->limits.elts;
    size_t                  i;

    for (i = 0; i < top->limits.n; i++) {
        if (z[i].name.len == name->len && memcmp(z[i].name.data, name->data, name->len) == 0) {
            return &z[i];
        }
    }
    return NULL;
}

/* Reports rate_limit names that match no limit where they are written. */
static int
pco_rate_limit_check_node(pco_conf_t *cf, pco_rate_limit_conf_t *top, pco_conf_node_t *node,
                          unsigned depth)
{
    pco_rate_limit_conf_t  *c = pco_conf_get(node, &pco_rate_limit_module);
    const char             *hint;
    size_t                  i;
    int                     rc = PCO_OK;

    if (depth > 16) {
        return PCO_OK;
    }
    if (c != NULL && (node->scope & PCO_SCOPE_HSR) && PCO_CONF_IS_SET(c, pco_rate_limit_conf_t, use)
        && c->use.len > 0 && pco_rate_limit_find(top, &c->use) == NULL)
    {
        hint = pco_conf_suggest_str((const char *) c->use.data, top->limits.elts, top->limits.n,
                                 sizeof(pco_rate_limit_zone_t));
        if (hint != NULL) {
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_rate_limit_conf_t, use),
                               "no rate limit named "
                               "\"%s\" (did you mean \"%s\"?)", (char *) c->use.data, hint);
        } else {
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_rate_limit_conf_t, use),
                               "no rate limit named "
                               "\"%s\" in rate_limits", (char *) c->use.data);
        }
        rc = PCO_ERROR;
    }
    for (i = 0; i < node->nchildren; i++) {
        if (pco_rate_limit_check_node(cf, top, node->children[i], depth + 1) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static int pco_rate_limit_handler(pco_http_request_t *r);
static int pco_rate_limit_header_filter(pco_http_request_t *r);

static int
pco_rate_limit_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_rate_limit_conf_t   *top = pco_conf_get(cf->root, &pco_rate_limit_module);
    pco_http_route_t       **routes;
    size_t                   n, i;
    bool                     used = false;
    int                      rc;

    rc = pco_rate_limit_zones(cf, cycle, top);
    if (pco_rate_limit_check_node(cf, top, cf->root, 0) != PCO_OK) {
        rc = PCO_ERROR;
    }
    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_rate_limit_conf_t *c = pco_conf_get(routes[i]->node, &pco_rate_limit_module);

        if (c != NULL && c->use.len > 0) {
            c->zone = pco_rate_limit_find(top, &c->use);
            used = used || c->zone != NULL;
        }
    }
    if (rc != PCO_OK || !used) {
        return rc;
    }
    if (pco_http_add_handler(cf, cycle, PCO_HTTP_ACCESS_PHASE, PCO_RATE_LIMIT_PRIORITY,
                             &pco_rate_limit_module, pco_rate_limit_handler) != PCO_OK
        || pco_http_add_header_filter(cf, cycle, PCO_HTTP_FILTER_HEADERS,
                                      &pco_rate_limit_module, pco_rate_limit_header_filter)
           != PCO_OK)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* ---- requests ---- */

#ifdef PCO_DEBUG
/* Debug builds: dies holding the zone lock when asked to (the robustness test). */
static void
pco_rate_limit_debug_crash(pco_http_request_t *r, pco_limit_table_t *t)
{
    pco_http_header_t  *h = pco_http_head_find(&r->head, "X-Portico-Debug-Limit", 21);

    if (h != NULL && pco_str_eq(&h->value, "crash-in-lock")) {
        pco_log_error(PCO_LOG_NOTICE, r->connection->log, 0,
                      "debug: dying while holding the rate limit zone lock");
        pco_limit_table_lock(t);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
}
#endif

static int
pco_rate_limit_handler(pco_http_request_t *r)
{
    pco_rate_limit_conf_t  *c = pco_http_route_conf(r, &pco_rate_limit_module);
    pco_rate_limit_zone_t  *z;
    pco_rate_limit_ctx_t   *ctx;
    pco_limit_table_t      *t;
    pco_limit_node_t       *node;
    pco_str_t               key;
    int64_t                 now, wait = 0, excess = 0;
    bool                    evicted, admitted, warn = false;

    if (c == NULL || c->zone == NULL || c->zone->zone == NULL || c->zone->zone->data == NULL) {
        return PCO_DECLINED;
    }
    z = c->zone;
    t = z->zone->data;
    if (pco_http_template_eval(r, z->tpl, &key) != PCO_OK) {
        return 500;
    }
    if (key.len == 0) {
        return PCO_DECLINED;                  /* as nginx: an empty key is not limited */
    }
#ifdef PCO_DEBUG
    pco_rate_limit_debug_crash(r, t);
#endif
    now = (int64_t) pco_current_msec * 1000;
    pco_limit_table_lock(t);
    node = pco_limit_table_get(t, key.data, key.len, true, NULL, &evicted);
    if (node == NULL) {
        pco_limit_table_unlock(t);
        return PCO_DECLINED;
    }
    admitted = pco_gcra_admit(&z->gcra, &node->value[0], now, &wait, &excess);
    if (evicted && (t->last_warn == 0 || pco_current_msec - t->last_warn >= 60000)) {
        t->last_warn = pco_current_msec;
        warn = true;
    }
    pco_limit_table_unlock(t);

    if (warn) {
        pco_log_err(PCO_LOG_WARN, r->connection->log, 0, "rate limit zone \"%s\" is full: "
                    "evicting the least recently used keys (size = %lld)",
                    (char *) z->name.data, (long long) z->size);
    }
    if (admitted) {
        return PCO_DECLINED;                  /* the other ACCESS checks still run */
    }
    pco_counter_add(z->c_rejected, 1);
    pco_log_err(PCO_LOG_INFO, r->connection->log, 0,
                "limiting requests, excess: %lld.%03lld by zone \"%s\"",
                (long long) (excess / 1000), (long long) (excess % 1000), (char *) z->name.data);
    ctx = pco_pcalloc(r->pool, sizeof(pco_rate_limit_ctx_t));
    if (ctx != NULL) {
        ctx->status = (int) z->status;
        ctx->retry_after = pco_gcra_retry_after(wait);
        pco_http_set_ctx(r, ctx, &pco_rate_limit_module);
    }
    return (int) z->status;
}

/* Adds Retry-After to the rejection (the error page is built after the handler returned). */
static int
pco_rate_limit_header_filter(pco_http_request_t *r)
{
    static const pco_str_t   name = pco_string("Retry-After");
    pco_rate_limit_ctx_t    *ctx = pco_http_get_ctx(r, &pco_rate_limit_module);
    pco_str_t                v;

    if (ctx == NULL || ctx->retry_after <= 0 || r->status != ctx->status) {
        return PCO_OK;
    }
    v = pco_psprintf(r->pool, "%lld", (long long) ctx->retry_after);
    if (v.data == NULL) {
        return PCO_OK;
    }
    return pco_http_set_header(r, &name, &v, true);
}
