/*
 * pco_resolver.c: DNS re-resolution of upstream servers written by name with
 * `resolve = true` (docs/resolver.md), in one helper process, "portico: resolver",
 * registered at conf_done only when some upstream has such a server.
 *
 * The master resolves every server name once at load (modules/upstream, getaddrinfo). The
 * helper then asks DNS again for each `resolve = true` name: at once when it starts (the
 * load's answer carried no TTL), then at the answer's TTL clamped to [1 s, 1 h], or every
 * `valid` when the resolver block sets it. Lookups block (pco_resolver_dns.c): that is
 * fine here, this process serves no client, and it is why they never happen in a worker.
 * A new set of addresses goes to pco_upstream_resolved_set, which updates the upstream's
 * positions in the shared zone (kept addresses keep their position and state) and bumps
 * the version every worker compares at pick time: no reload.
 *
 * A failed lookup (timeout, SERVFAIL, NXDOMAIN, no address) changes nothing in the
 * upstream: the last good addresses stay. It is logged at warn with the name, the upstream
 * and the reason, counted, and the name is asked again sooner (pco_resolver_next).
 *
 * Each applied set is also stored in the shared zone "resolver" (pco_resolver_keep.c), from
 * which the master gives it to the next generation at a reload: the load's getaddrinfo asks
 * the system resolver, not ours, and may not know the name or may fail just then.
 *
 * Counters (core/pco_shm.h, this helper's slot), per name, keyed "KIND:UPSTREAM NAME" and
 * rendered by the status module as portico_resolver_*{upstream,name}:
 * resolver_lookups (monotonic), resolver_failures (monotonic), resolver_addresses (gauge:
 * the addresses the last successful lookup gave).
 */
#include "pco_resolver_int.h"
#include "pco_cycle.h"
#include "pco_event.h"
#include "pco_log.h"
#include "pco_process.h"
#include "pco_time.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static int pco_resolver_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_resolver_helper_init(pco_cycle_t *cycle);
static void pco_resolver_run(pco_event_t *ev);

#define PCO_RC(f)  offsetof(pco_resolver_block_t, f)

static const pco_setting_t pco_resolver_members[] = {
    { .name = "nameservers", .type = PCO_CONF_STRLIST, .offset = PCO_RC(nameservers),
      .help = "DNS servers asked in turn: \"IP\", \"IP:PORT\", \"[IPv6]:PORT\" "
              "(default: those of /etc/resolv.conf)" },
    { .name = "valid", .type = PCO_CONF_DURATION, .offset = PCO_RC(valid), .def = "0",
      .min = 0, .max = PCO_CONF_DAY,
      .help = "time between two lookups of a name, instead of its TTL (0: the TTL, "
              "clamped to 1s..1h)" },
    { .name = "timeout", .type = PCO_CONF_DURATION, .offset = PCO_RC(timeout),
      .def = "\"2s\"", .min = 10, .max = 60000,
      .help = "time to wait for one nameserver's answer" },
    { .name = "attempts", .type = PCO_CONF_INT, .offset = PCO_RC(attempts), .def = "2",
      .min = 1, .max = 10, .help = "rounds over the nameservers before a lookup fails" },
    { .name = "ipv6", .type = PCO_CONF_BOOL, .offset = PCO_RC(ipv6), .def = "true",
      .help = "also ask for AAAA records (IPv6 addresses)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_resolver_settings[] = {
    { .name = "resolver", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_resolver_conf_t, resolver), .sub = pco_resolver_members,
      .help = "DNS re-resolution of upstream servers with resolve = true: "
              "{ nameservers; valid; timeout; attempts; ipv6; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too: checks the nameservers and `valid`, FILE:LINE errors;
 * collects the `resolve = true` entries of every upstream, registers their counters and,
 * when there is any, the zone "resolver" and the helper process; PCO_OK or PCO_ERROR after
 * reporting). init_master (master, after the upstream module's, before the generation's
 * workers are forked; a reload only): hands each name's last good set, kept in the zone,
 * to the new generation's upstream (pco_resolver_keep.c); PCO_OK always. The helper's
 * init (in the helper, after privilege drop) fills the nameservers from resolv.conf when
 * none were given and arms one timer per name; PCO_OK always.
 */
pco_module_t pco_resolver_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "resolver",
    .settings = pco_resolver_settings,
    .conf_size = sizeof(pco_resolver_conf_t),
    .conf_done = pco_resolver_conf_done,
    .init_master = pco_resolver_keep_restore,
};

/* ---- configuration ---- */

/* The name of the i-th configured upstream, from the libconfig tree (NULL past the end). */
static const char *
pco_resolver_upstream_name(pco_conf_t *cf, unsigned i)
{
    config_setting_t  *list, *e;
    const char        *name = NULL;

    list = config_lookup(&cf->config, "upstreams");
    if (list == NULL) {
        return NULL;
    }
    e = config_setting_is_group(list) ? (i == 0 ? list : NULL)
                                      : config_setting_get_elem(list, i);
    if (e == NULL || config_setting_lookup_string(e, "name", &name) != CONFIG_TRUE) {
        return NULL;
    }
    return name;
}

static int
pco_resolver_check_block(pco_conf_t *cf, pco_resolver_conf_t *rc, pco_resolver_ctx_t *ctx)
{
    const pco_conf_src_t  *src = PCO_CONF_SRC(rc, pco_resolver_conf_t, resolver.nameservers);
    const pco_str_list_t  *l = &rc->resolver.nameservers;
    size_t                 i;
    int                    ret = PCO_OK;

    if (l->n > PCO_RESOLVER_MAX_NS) {
        pco_conf_error_src(cf, src, "at most %d nameservers (got %zu)",
                           PCO_RESOLVER_MAX_NS, l->n);
        return PCO_ERROR;
    }
    for (i = 0; i < l->n; i++) {
        if (pco_resolver_parse_ns((const char *) l->elts[i].data, &ctx->ns[i], &ctx->nslen[i])
            != PCO_OK)
        {
            pco_conf_error_src(cf, src, "invalid \"%s\": expected \"IP\", \"IP:PORT\" or "
                               "\"[IPv6]:PORT\"",
                               (const char *) l->elts[i].data);
            ret = PCO_ERROR;
        }
    }
    ctx->nns = (unsigned) l->n;
    if (rc->resolver.valid > 0 && rc->resolver.valid < 1000) {
        pco_conf_error_src(cf, PCO_CONF_SRC(rc, pco_resolver_conf_t, resolver.valid),
                           "must be 0 (the TTL) or at least 1s");
        ret = PCO_ERROR;
    }
    return ret;
}

/* Registers one name's three counters (-1 each when "KIND:UPSTREAM HOST" is too long for
 * a counter name: the name is then resolved but not counted, and -t warns). */
static void
pco_resolver_counters(pco_conf_t *cf, pco_cycle_t *cycle, pco_resolver_name_t *nm)
{
    char  name[PCO_COUNTER_NAME_LEN];
    int   k;

    nm->ctr_lookups = nm->ctr_failures = nm->ctr_addresses = -1;
    k = snprintf(name, sizeof(name), "resolver_failures:%.*s %s", (int) nm->u->name.len,
                 (const char *) nm->u->name.data, nm->host);
    if (k < 0 || (size_t) k >= sizeof(name)) {
        pco_conf_warn_src(cf, &nm->u->node->src, "resolver: upstream \"%.*s\", name \"%s\": "
                          "too long to be counted", (int) nm->u->name.len,
                          (const char *) nm->u->name.data, nm->host);
        return;
    }
    nm->ctr_failures = pco_counter_register(cf, cycle, name, PCO_COUNTER_MONOTONIC);
    snprintf(name, sizeof(name), "resolver_lookups:%.*s %s", (int) nm->u->name.len,
             (const char *) nm->u->name.data, nm->host);
    nm->ctr_lookups = pco_counter_register(cf, cycle, name, PCO_COUNTER_MONOTONIC);
    snprintf(name, sizeof(name), "resolver_addresses:%.*s %s", (int) nm->u->name.len,
             (const char *) nm->u->name.data, nm->host);
    nm->ctr_addresses = pco_counter_register(cf, cycle, name, PCO_COUNTER_GAUGE);
}

/* PCO_OK when entry e (number i of u) is HOST:PORT with a host name: an address or a unix
 * socket has nothing to look up again; else PCO_ERROR after reporting. */
static int
pco_resolver_check_entry(pco_conf_t *cf, pco_upstream_t *u, unsigned i,
                         const pco_upstream_entry_t *e)
{
    char             host[64];
    struct in6_addr  a6;

    if (e->host.len > 0 && e->port != 0 && e->host.data[0] != '[') {
        if (e->host.len >= sizeof(host)) {
            return PCO_OK;                       /* longer than any address */
        }
        memcpy(host, e->host.data, e->host.len);
        host[e->host.len] = '\0';
        if (inet_pton(AF_INET, host, &a6) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
            return PCO_OK;
        }
    }
    pco_conf_error_src(cf, &u->node->src, "servers[%u]: resolve = true needs HOST:PORT with a "
                       "host name to look up (got \"%.*s\")", i, (int) e->configured.len,
                       (const char *) e->configured.data);
    return PCO_ERROR;
}

/* Adds the `resolve = true` entries of u to ctx (names grown in the cycle pool). */
static int
pco_resolver_collect(pco_conf_t *cf, pco_cycle_t *cycle, pco_resolver_ctx_t *ctx,
                     pco_upstream_t *u, unsigned *cap)
{
    const pco_upstream_entry_t  *e;
    pco_resolver_name_t         *nm, *grown;
    unsigned                     i, n;
    int                          rc = PCO_OK;

    e = pco_upstream_entries(u, &n);
    for (i = 0; i < n; i++) {
        if (!e[i].resolve) {
            continue;
        }
        if (pco_resolver_check_entry(cf, u, i, &e[i]) != PCO_OK) {
            rc = PCO_ERROR;
            continue;
        }
        if (ctx->n == *cap) {
            *cap = *cap ? *cap * 2 : 8;
            grown = pco_pcalloc(cf->pool, *cap * sizeof(*grown));
            if (grown == NULL) {
                return PCO_ERROR;
            }
            if (ctx->n > 0) {
                memcpy(grown, ctx->names, ctx->n * sizeof(*grown));
            }
            ctx->names = grown;
        }
        nm = &ctx->names[ctx->n++];
        nm->u = u;
        nm->entry = i;
        nm->port = e[i].port;
        nm->host = pco_pnalloc(cf->pool, e[i].host.len + 1);
        if (nm->host == NULL) {
            return PCO_ERROR;
        }
        memcpy(nm->host, e[i].host.data, e[i].host.len);
        nm->host[e[i].host.len] = '\0';
        nm->key = pco_resolver_key(&u->name, &e[i].configured);
        pco_resolver_counters(cf, cycle, nm);
    }
    return rc;
}

static int
pco_resolver_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_resolver_conf_t  *rc = pco_conf_get(cf->root, &pco_resolver_module);
    pco_resolver_ctx_t   *ctx;
    pco_upstream_t       *u;
    pco_str_t             name;
    const char           *text;
    unsigned              i, cap = 0;
    int                   ret = PCO_OK;

    ctx = pco_pcalloc(cf->pool, sizeof(*ctx));
    if (ctx == NULL) {
        return PCO_ERROR;
    }
    ctx->conf = &rc->resolver;
    if (pco_resolver_check_block(cf, rc, ctx) != PCO_OK) {
        return PCO_ERROR;
    }
    for (i = 0; (text = pco_resolver_upstream_name(cf, i)) != NULL; i++) {
        name.data = (u_char *) text;
        name.len = strlen(text);
        u = pco_upstream_find(cycle, &name);
        if (u != NULL && pco_resolver_collect(cf, cycle, ctx, u, &cap) != PCO_OK) {
            ret = PCO_ERROR;
        }
    }
    if (ret != PCO_OK) {
        return PCO_ERROR;
    }
    for (i = 0; i < ctx->n; i++) {
        ctx->names[i].ctx = ctx;
    }
    cycle->module_ctx[pco_resolver_module.index] = ctx;
    if (ctx->n == 0) {
        return PCO_OK;
    }
    if (pco_resolver_keep_zone(cf, cycle, ctx) != PCO_OK) {
        return PCO_ERROR;
    }
    return pco_helper_add(cycle, &(pco_helper_t) {
        .title = "resolver",
        .init = pco_resolver_helper_init,
        .data = ctx,
    });
}

/* ---- the helper process ---- */

static int
pco_resolver_helper_init(pco_cycle_t *cycle)
{
    pco_resolver_ctx_t  *ctx = cycle->module_ctx[pco_resolver_module.index];
    unsigned             i;

    if (ctx == NULL) {
        return PCO_OK;
    }
    if (ctx->nns == 0) {
        ctx->nns = pco_resolver_system_ns(ctx->ns, ctx->nslen, PCO_RESOLVER_MAX_NS);
        if (ctx->nns == 0) {
            /* what the C library does too when resolv.conf names none */
            (void) pco_resolver_parse_ns("127.0.0.1", &ctx->ns[0], &ctx->nslen[0]);
            ctx->nns = 1;
            pco_log_err(PCO_LOG_WARN, pco_log, 0, "resolver: no nameserver in "
                        "/etc/resolv.conf and none in the resolver block: asking 127.0.0.1");
        }
    }
    for (i = 0; i < ctx->n; i++) {
        pco_resolver_name_t  *nm = &ctx->names[i];

        nm->timer.data = nm;
        nm->timer.handler = pco_resolver_run;
        nm->timer.cancelable = 1;
        /* at once: the load's answer gave no TTL; one name at a time, 10 ms apart */
        pco_event_add_timer(&nm->timer, (pco_msec_t) (i % 100) * 10);
    }
    pco_log_err(PCO_LOG_INFO, pco_log, 0, "resolver started: %u names, %u nameservers",
                ctx->n, ctx->nns);
    return PCO_OK;
}

/* "127.0.0.1:80, 127.0.0.2:80" (cut to size). */
static void
pco_resolver_set_text(const pco_resolver_answer_t *a, char *buf, size_t size)
{
    char      one[64];
    size_t    len = 0;
    unsigned  i;

    buf[0] = '\0';
    for (i = 0; i < a->n && len + 1 < size; i++) {
        pco_resolver_addr_text(&a->addrs[i], one, sizeof(one));
        len += (size_t) snprintf(buf + len, size - len, "%s%s", i ? ", " : "", one);
    }
}

/* A successful lookup: hands a new set to the upstream, logs the change. */
static void
pco_resolver_apply(pco_resolver_name_t *nm, pco_resolver_answer_t *a)
{
    char  err[128], text[512];
    int   rc;

    a->n = pco_resolver_set_normalize(a->addrs, a->lens, a->n);
    if (nm->applied && pco_resolver_set_equal(nm->set, nm->nset, a->addrs, a->n)) {
        return;
    }
    pco_resolver_set_text(a, text, sizeof(text));
    rc = pco_upstream_resolved_set(nm->u, nm->entry, a->addrs, a->lens, a->n, err,
                                   sizeof(err));
    if (rc < 0) {
        /* only part of the set fitted: ask again at the next lookup */
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "resolver: \"%s\" of upstream \"%.*s\": %s "
                    "(addresses: %s)", nm->host, (int) nm->u->name.len,
                    (const char *) nm->u->name.data, err, text);
        nm->applied = false;
        return;
    }
    if (rc > 0 || !nm->applied) {
        pco_log_err(rc > 0 ? PCO_LOG_NOTICE : PCO_LOG_INFO, pco_log, 0,
                    "resolver: \"%s\" of upstream \"%.*s\" is %s (ttl %u s)", nm->host,
                    (int) nm->u->name.len, (const char *) nm->u->name.data, text, a->ttl);
    }
    memcpy(nm->set, a->addrs, a->n * sizeof(a->addrs[0]));
    memcpy(nm->lens, a->lens, a->n * sizeof(a->lens[0]));
    nm->nset = a->n;
    nm->applied = true;
    pco_resolver_keep_store(nm->ctx, nm);
    pco_counter_add(nm->ctr_addresses, (int64_t) a->n - nm->gauge);
    nm->gauge = (int64_t) a->n;
}

/* Timer: looks the name up (blocking), applies or keeps, arms the next lookup. */
static void
pco_resolver_run(pco_event_t *ev)
{
    pco_resolver_name_t       *nm = ev->data;
    const pco_resolver_ctx_t  *ctx = nm->ctx;
    pco_resolver_answer_t      a;
    pco_msec_t                 next;

    if (pco_worker_exiting) {
        return;
    }
    pco_counter_add(nm->ctr_lookups, 1);
    if (pco_resolver_lookup(ctx->conf, ctx->ns, ctx->nslen, ctx->nns, nm->host, nm->port, &a)
        == PCO_OK)
    {
        pco_resolver_apply(nm, &a);
        next = pco_resolver_next(true, a.ttl, ctx->conf->valid, nm->last);
        nm->last = next;
    } else {
        pco_counter_add(nm->ctr_failures, 1);
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "resolver: lookup of \"%s\" for upstream "
                    "\"%.*s\" failed: %s; keeping its current addresses", nm->host,
                    (int) nm->u->name.len, (const char *) nm->u->name.data, a.error);
        next = pco_resolver_next(false, 0, ctx->conf->valid, nm->last);
    }
    pco_time_update();                  /* the lookup may have taken seconds */
    pco_event_add_timer(&nm->timer, next);
}
