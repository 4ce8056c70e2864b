/*
 * pco_http.c: the http module descriptor: the settings table (http, servers, routes and the
 * per-request limits), the `listen` parser, conf_done (servers, routes, listeners,
 * counters, variables), conf_final (templates, route actions, flattened phase and filter
 * arrays), registration of handlers and filters, and the per-worker scratch buffer.
 * Generation state lives in cycle->module_ctx[http]; per-worker state in statics set by
 * init_worker only.
 */
#include "pco_http_int.h"
#include "pco_shm.h"
#include <stdlib.h>
#include <stdio.h>

static int pco_http_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_http_conf_final(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_http_init_worker(pco_cycle_t *cycle);
static void pco_http_exit_worker(pco_cycle_t *cycle);
static int pco_http_parse_listen(pco_conf_t *cf, const config_setting_t *cs, void *field,
                                 const pco_setting_t *s);

pco_http_main_t *pco_http_cur_main;
u_char          *pco_http_scratch;
size_t           pco_http_scratch_size;
size_t           pco_http_nmodules;

/* A listen group's options. The custom parser below reads them (the table gives the names,
 * types and bounds it checks), and docs/settings.md lists them as `listen.NAME`. */
static const pco_setting_t pco_http_listen_settings[] = {
    { .name = "address", .type = PCO_CONF_STRING, .flags = PCO_CONF_REQUIRED,
      .help = "IP:port, [IPv6]:port, *:port (0.0.0.0; add [::]:port for IPv6) or unix:/path; "
              "a plain string entry is the address alone" },
    { .name = "backlog", .type = PCO_CONF_INT, .def = "511", .min = 1, .max = INT32_MAX,
      .help = "listen() queue length, clamped to net.core.somaxconn" },
    { .name = "tls", .type = PCO_CONF_BOOL, .def = "false",
      .help = "TLS on this address (the server's `tls` certificate)" },
    { .name = "default", .type = PCO_CONF_BOOL, .def = "false",
      .help = "the default server of this address (otherwise the first server listing it)" },
    { .name = "reuseport", .type = PCO_CONF_BOOL, .def = "false",
      .help = "SO_REUSEPORT: one socket per worker, the kernel spreads connections" },
    { .name = "ipv6only", .type = PCO_CONF_BOOL, .def = "true",
      .help = "IPV6_V6ONLY on IPv6 sockets, so that *:80 and [::]:80 can coexist; false: "
              "[::]:80 takes IPv4 clients too (as ::ffff:a.b.c.d); the entries naming one "
              "address must agree (one that leaves it out follows the others)" },
    { .name = "http2", .type = PCO_CONF_BOOL, .def = "false",
      .help = "HTTP/2 on this address: offered by ALPN (\"h2\", then \"http/1.1\") on TLS "
              "listeners; on plain ones, a client that starts with the HTTP/2 preface (prior "
              "knowledge, h2c) speaks HTTP/2 and every other one HTTP/1.x (`Upgrade: h2c` is "
              "not supported); the entries naming one address must agree" },
    { .name = "proxy_protocol", .type = PCO_CONF_BOOL, .def = "false",
      .help = "every connection starts with a PROXY protocol v1 or v2 header (from an L4 "
              "balancer), read before TLS; its source address becomes the client "
              "($remote_addr, $proxy_protocol_addr); no valid header within "
              "client_header_timeout: closed without a response" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_http_kv_settings[] = {
    { .name = "name", .type = PCO_CONF_STRING, .offset = offsetof(pco_http_kv_t, name),
      .flags = PCO_CONF_REQUIRED },
    { .name = "value", .type = PCO_CONF_STRING, .offset = offsetof(pco_http_kv_t, value),
      .flags = PCO_CONF_REQUIRED },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_http_match_settings[] = {
    { .name = "path", .type = PCO_CONF_STRING, .offset = offsetof(pco_http_match_conf_t, path),
      .help = "exact path" },
    { .name = "path_prefix", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_http_match_conf_t, path_prefix), .help = "path prefix" },
    { .name = "path_regex", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_http_match_conf_t, path_regex), .help = "PCRE2 path regex" },
    { .name = "methods", .type = PCO_CONF_STRLIST,
      .offset = offsetof(pco_http_match_conf_t, methods), .help = "allowed methods" },
    { .name = "headers", .type = PCO_CONF_LIST,
      .offset = offsetof(pco_http_match_conf_t, headers), .sub = pco_http_kv_settings,
      .elt_size = sizeof(pco_http_kv_t), .help = "headers that must be present" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_http_request_id_settings[] = {
    { .name = "trust_from", .type = PCO_CONF_CUSTOM,
      .offset = offsetof(pco_http_request_id_conf_t, trust_from),
      .elt_size = sizeof(pco_cidr_list_t), .custom = pco_cidr_list_parse,
      .dump = pco_cidr_list_dump,
      .help = "peers whose X-Request-Id is kept: CIDRs, addresses or \"unix:\" (empty = "
              "none). The address checked is the immediate peer (the load balancer in front; "
              "the PROXY protocol source where the listener takes it), never one that "
              "real_ip finds in a header" },
    PCO_SETTINGS_END
};

#define PCO_HC(f) offsetof(pco_http_conf_t, f)

static const pco_setting_t pco_http_settings[] = {
    { .name = "http", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE,
      .child_scope = PCO_SCOPE_HTTP, .help = "HTTP defaults for every server" },
    { .name = "servers", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE,
      .child_scope = PCO_SCOPE_SERVER, .inherit_scope = PCO_SCOPE_HTTP,
      .flags = PCO_CONF_INCLUDABLE,
      .help = "virtual servers" },
    { .name = "client_header_timeout", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_DURATION,
      .offset = PCO_HC(client_header_timeout), .def = "\"10s\"", .min = 1, .max = PCO_CONF_DAY,
      .help = "time to receive the whole request head" },
    { .name = "client_body_timeout", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_DURATION,
      .offset = PCO_HC(client_body_timeout), .def = "\"10s\"", .min = 1, .max = PCO_CONF_DAY,
      .help = "time between two reads of the request body" },
    { .name = "send_timeout", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_DURATION,
      .offset = PCO_HC(send_timeout), .def = "\"30s\"", .min = 1, .max = PCO_CONF_DAY,
      .help = "time between two writes to the client" },
    { .name = "keepalive_timeout", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_DURATION,
      .offset = PCO_HC(keepalive_timeout), .def = "\"75s\"", .min = 0, .max = PCO_CONF_DAY,
      .help = "idle keep-alive time (0 = no keep-alive)" },
    { .name = "keepalive_requests", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_INT,
      .offset = PCO_HC(keepalive_requests), .def = "1000", .min = 0, .max = INT32_MAX,
      .help = "requests per connection (0 = unlimited)" },
    { .name = "client_max_body_size", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_SIZE,
      .offset = PCO_HC(client_max_body_size), .def = "\"1m\"", .min = 0,
      .max = (int64_t) 1 << 40,
      .help = "largest request body (0 = unlimited)" },
    { .name = "max_header_size", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_SIZE,
      .offset = PCO_HC(max_header_size), .def = "\"16k\"", .min = 1024, .max = 1 << 24,
      .help = "largest request head" },
    { .name = "max_uri_size", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_SIZE,
      .offset = PCO_HC(max_uri_size), .def = "\"8k\"", .min = 256, .max = 1 << 24,
      .help = "longest request line" },
    { .name = "server_tokens", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_BOOL,
      .offset = PCO_HC(server_tokens), .def = "false",
      .help = "send the version in Server" },
    { .name = "underscores_in_headers", .scopes = PCO_SCOPE_HTTP, .type = PCO_CONF_BOOL,
      .offset = PCO_HC(underscores_in_headers), .def = "false",
      .help = "accept request header names with \"_\"; when false they are ignored as "
              "nginx does: not proxied, not seen by $http_* or route matching (a backend "
              "would read X_Real_IP as X-Real-IP)" },
    { .name = "request_id", .scopes = PCO_SCOPE_HTTP, .type = PCO_CONF_GROUP,
      .offset = PCO_HC(request_id), .sub = pco_http_request_id_settings,
      .help = "the request id: a client's valid X-Request-Id ([A-Za-z0-9._:-]{1,128}) is "
              "kept only from trust_from peers, else 32 random hex digits: { trust_from; }" },
    { .name = "listen", .scopes = PCO_SCOPE_SERVER, .type = PCO_CONF_CUSTOM,
      .offset = PCO_HC(listen), .custom = pco_http_parse_listen,
      .sub = pco_http_listen_settings, .flags = PCO_CONF_NOINHERIT,
      .help = "addresses: strings or { address; backlog; tls; http2; default; reuseport; "
              "ipv6only; proxy_protocol; } groups, one or a list" },
    { .name = "names", .scopes = PCO_SCOPE_SERVER, .type = PCO_CONF_STRLIST,
      .offset = PCO_HC(names), .flags = PCO_CONF_NOINHERIT,
      .help = "host names: exact, *.wildcard or ~regex" },
    { .name = "routes", .scopes = PCO_SCOPE_SERVER, .type = PCO_CONF_SCOPE,
      .child_scope = PCO_SCOPE_ROUTE, .help = "routes, first match wins" },
    { .name = "name", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_STRING,
      .offset = PCO_HC(route_name), .flags = PCO_CONF_NOINHERIT,
      .help = "the route's label in metrics and logs ($route_name); default: the server's "
              "first name and the match, as \"example.com:/api/\" (docs/metrics.md)" },
    { .name = "match", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = PCO_HC(match), .sub = pco_http_match_settings, .flags = PCO_CONF_NOINHERIT,
      .help = "conditions of the route" },
    PCO_SETTINGS_END
};

pco_module_t pco_http_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "http",
    .settings = pco_http_settings,
    .conf_size = sizeof(pco_http_conf_t),
    .conf_done = pco_http_conf_done,
    .conf_final = pco_http_conf_final,
    .init_worker = pco_http_init_worker,
    .exit_worker = pco_http_exit_worker,
};

static void
pco_http_src(const config_setting_t *cs, pco_conf_src_t *src)
{
    src->file = config_setting_source_file(cs);
    src->line = (int) config_setting_source_line(cs);
    src->path = config_setting_name(cs);
}

static int
pco_http_listen_ctype(const pco_setting_t *o)
{
    return o->type == PCO_CONF_STRING ? CONFIG_TYPE_STRING
           : o->type == PCO_CONF_INT ? CONFIG_TYPE_INT : CONFIG_TYPE_BOOL;
}

/* One option of a listen group; reports what is wrong with it (and goes on). */
static int
pco_http_listen_opt(pco_conf_t *cf, const config_setting_t *m, pco_http_listen_t *l,
                    const char **text)
{
    const char           *n = config_setting_name(m), *best = NULL;
    const pco_setting_t  *o;
    size_t                bestd = SIZE_MAX;
    int                   t = config_setting_type(m), ct;
    bool                  b;

    for (o = pco_http_listen_settings; o->name != NULL; o++) {
        if (strcmp(n, o->name) == 0) {
            break;
        }
        pco_conf_suggest(n, o->name, &best, &bestd);
    }
    if (o->name == NULL) {
        if (best != NULL) {
            pco_conf_error(cf, m, "unknown listen option \"%s\" (did you mean \"%s\"?)", n,
                           best);
        } else {
            pco_conf_error(cf, m, "unknown listen option \"%s\"", n);
        }
        return PCO_ERROR;
    }
    ct = pco_http_listen_ctype(o);
    if (t != ct && !(ct == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64)) {
        pco_conf_error(cf, m, "must be %s", ct == CONFIG_TYPE_STRING ? "a string"
                       : ct == CONFIG_TYPE_INT ? "an integer" : "true or false");
        return PCO_ERROR;
    }
    if (t == CONFIG_TYPE_STRING) {
        *text = config_setting_get_string(m);
        return PCO_OK;
    }
    if (t != CONFIG_TYPE_BOOL) {
        l->backlog = config_setting_get_int64(m);
        if (l->backlog < o->min || l->backlog > o->max) {
            pco_conf_error(cf, m, "backlog must be between %lld and %lld", (long long) o->min,
                           (long long) o->max);
            return PCO_ERROR;
        }
        return PCO_OK;
    }
    b = config_setting_get_bool(m);
    switch (n[0]) {
    case 't': l->tls = b; break;
    case 'r': l->reuseport = b; break;
    case 'd': l->default_server = b; break;
    case 'h': l->http2 = b; break;
    case 'i': l->ipv6only = b; l->ipv6only_set = true; break;
    default:  l->proxy_protocol = b; break;
    }
    return PCO_OK;
}

/* One listen entry ("address" or { address = ...; options }): every problem is reported. */
static int
pco_http_listen_one(pco_conf_t *cf, const config_setting_t *e, pco_http_listen_t *l)
{
    const char        *text = NULL;
    config_setting_t  *m;
    unsigned           i;
    int                rc = PCO_OK;

    memset(l, 0, sizeof(*l));
    l->backlog = 511;
    l->ipv6only = true;
    pco_http_src(e, &l->src);
    if (config_setting_type(e) == CONFIG_TYPE_STRING) {
        text = config_setting_get_string(e);
    } else if (config_setting_type(e) == CONFIG_TYPE_GROUP) {
        for (i = 0; (m = config_setting_get_elem(e, i)) != NULL; i++) {
            if (pco_http_listen_opt(cf, m, l, &text) != PCO_OK) {
                rc = PCO_ERROR;
            }
        }
        if (text == NULL && config_setting_get_member(e, "address") != NULL) {
            return PCO_ERROR;       /* reported above: not a string */
        }
    } else {
        pco_conf_error(cf, e, "a listen entry must be an address string or a group");
        return PCO_ERROR;
    }
    if (text == NULL) {
        pco_conf_error(cf, e, "listen needs an address");
        return PCO_ERROR;
    }
    if (pco_parse_addr(text, &l->sa, &l->socklen, true) != PCO_OK) {
        pco_conf_error(cf, e, "invalid listen address \"%s\" (IP:port, [IPv6]:port, *:port "
                       "or unix:/path)", text);
        return PCO_ERROR;
    }
    if (rc != PCO_OK) {
        return rc;
    }
    l->text = pco_pstrndup(cf->pool, text, strlen(text));
    return l->text == NULL ? PCO_ERROR : PCO_OK;
}

static int
pco_http_parse_listen(pco_conf_t *cf, const config_setting_t *cs, void *field,
                      const pco_setting_t *s)
{
    pco_http_listen_list_t  *ll = field;
    int                      t = config_setting_type(cs), n, i, rc = PCO_OK;

    pco_unused(s);
    if (t == CONFIG_TYPE_STRING || t == CONFIG_TYPE_GROUP) {
        n = 1;
    } else if (t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY) {
        n = config_setting_length(cs);
    } else {
        pco_conf_error(cf, cs, "listen must be a string, a group or a list of them");
        ll->invalid = true;
        return PCO_ERROR;
    }
    ll->elts = pco_pcalloc(cf->pool, sizeof(pco_http_listen_t) * (size_t) (n ? n : 1));
    ll->n = 0;
    if (ll->elts == NULL) {
        return PCO_ERROR;
    }
    /* every entry is checked, so that all errors are reported at once */
    for (i = 0; i < n; i++) {
        const config_setting_t *e = (n == 1 && (t == CONFIG_TYPE_STRING
                                                || t == CONFIG_TYPE_GROUP))
                                    ? cs : config_setting_get_elem(cs, (unsigned) i);

        if (pco_http_listen_one(cf, e, &ll->elts[ll->n]) != PCO_OK) {
            ll->invalid = true;
            rc = PCO_ERROR;
            continue;
        }
        ll->n++;
    }
    return rc;
}

/* ---- registration ---- */

static pco_http_main_t *
pco_http_main(pco_cycle_t *cycle)
{
    return cycle->module_ctx[pco_http_module.index];
}

static const char *const  pco_http_phase_names[PCO_HTTP_PHASES] = {
    "POST_READ", "REWRITE", "ACCESS", "PRECONTENT", "CONTENT", "LOG"
};

/* kinds beyond the phases */
#define PCO_HTTP_KIND_HFILTER  100
#define PCO_HTTP_KIND_BFILTER  101

/* Adds one registration; a failure is reported once here, naming the module and what it
 * registered, so that callers only return PCO_ERROR. */
static int
pco_http_register(pco_conf_t *cf, pco_cycle_t *cycle, int kind, int priority,
                  const pco_module_t *m, void *fn)
{
    pco_http_main_t  *hm = pco_http_main(cycle);
    pco_http_reg_t   *reg;
    const char       *why;
    char              what[64];

    if (kind == PCO_HTTP_KIND_HFILTER || kind == PCO_HTTP_KIND_BFILTER) {
        snprintf(what, sizeof(what), "%s filter priority %d",
                 kind == PCO_HTTP_KIND_HFILTER ? "header" : "body", priority);
    } else if (kind >= 0 && kind < PCO_HTTP_PHASES && kind != PCO_HTTP_CONTENT_PHASE) {
        snprintf(what, sizeof(what), "%s-phase handler priority %d", pco_http_phase_names[kind],
                 priority);
    } else {
        pco_conf_error_module(cf, m, NULL, "cannot register a handler for phase %d: %s", kind,
                              kind == PCO_HTTP_CONTENT_PHASE
                              ? "the CONTENT phase runs the route's action only "
                                "(pco_http_route_set_action)"
                              : "no such phase");
        return PCO_ERROR;
    }
    why = hm == NULL ? "the http module has no configuration (does the module require http?)"
          : fn == NULL ? "no function given" : NULL;
    if (why == NULL) {
        reg = pco_array_push(&hm->regs);
        if (reg != NULL) {
            reg->phase = kind;
            reg->priority = priority;
            reg->module = m != NULL ? m->name : (cf->module != NULL ? cf->module->name : "");
            reg->fn = fn;
            reg->seq = hm->seq++;
            return PCO_OK;
        }
        why = "out of memory";
    }
    pco_conf_error_module(cf, m, NULL, "cannot register %s: %s", what, why);
    return PCO_ERROR;
}

int
pco_http_add_handler(pco_conf_t *cf, pco_cycle_t *cycle, int phase, int priority,
                     const pco_module_t *m, pco_http_handler_pt h)
{
    return pco_http_register(cf, cycle, phase, priority, m, (void *) h);
}

int
pco_http_add_header_filter(pco_conf_t *cf, pco_cycle_t *cycle, int priority,
                           const pco_module_t *m, pco_http_header_filter_pt f)
{
    return pco_http_register(cf, cycle, PCO_HTTP_KIND_HFILTER, priority, m, (void *) f);
}

int
pco_http_add_body_filter(pco_conf_t *cf, pco_cycle_t *cycle, int priority,
                         const pco_module_t *m, pco_http_body_filter_pt f)
{
    return pco_http_register(cf, cycle, PCO_HTTP_KIND_BFILTER, priority, m, (void *) f);
}

int
pco_http_tls_register(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                      const pco_http_tls_hooks_t *hooks)
{
    pco_http_main_t  *hm = pco_http_main(cycle);
    const char       *name = m != NULL ? m->name : (cf->module != NULL ? cf->module->name : "?");

    if (hm == NULL || hooks == NULL || hooks->handshake == NULL || hooks->free == NULL) {
        pco_conf_error_module(cf, m, NULL, "cannot register the TLS listener hooks: %s",
                              hm == NULL ? "the http module has no configuration"
                                         : "a handshake and a free function are needed");
        return PCO_ERROR;
    }
    if (hm->tls_owner != NULL) {
        pco_conf_error_module(cf, m, NULL, "cannot register the TLS listener hooks: module "
                              "\"%s\" already did (one module owns them)", hm->tls_owner);
        return PCO_ERROR;
    }
    hm->tls = *hooks;
    hm->tls_owner = name;
    return PCO_OK;
}

int
pco_http_h2_register(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                     const pco_http_h2_hooks_t *hooks)
{
    pco_http_main_t  *hm = pco_http_main(cycle);
    const char       *name = m != NULL ? m->name : (cf->module != NULL ? cf->module->name : "?");

    if (hm == NULL || hooks == NULL || hooks->start == NULL) {
        pco_conf_error_module(cf, m, NULL, "cannot register the HTTP/2 listener hooks: %s",
                              hm == NULL ? "the http module has no configuration"
                                         : "a start function is needed");
        return PCO_ERROR;
    }
    if (hm->h2_owner != NULL) {
        pco_conf_error_module(cf, m, NULL, "cannot register the HTTP/2 listener hooks: "
                              "module \"%s\" already did (one module owns them)",
                              hm->h2_owner);
        return PCO_ERROR;
    }
    hm->h2 = *hooks;
    hm->h2_owner = name;
    return PCO_OK;
}

bool
pco_http_listener_http2(const pco_listening_t *ls)
{
    const pco_http_addr_t  *a = ls != NULL ? ls->servers : NULL;

    return a != NULL && a->http2;
}

size_t
pco_http_servers(pco_cycle_t *cycle, pco_http_server_t ***servers)
{
    pco_http_main_t *hm = pco_http_main(cycle);

    if (hm == NULL) {
        *servers = NULL;
        return 0;
    }
    *servers = hm->servers;
    return hm->nservers;
}

bool
pco_http_server_listen(const pco_http_server_t *s, size_t i, pco_http_listen_info_t *li)
{
    const pco_http_conf_t  *hc;

    if (s == NULL || s->node == NULL) {
        return false;
    }
    hc = pco_conf_get(s->node, &pco_http_module);
    if (hc == NULL || i >= hc->listen.n) {
        return false;
    }
    li->text = hc->listen.elts[i].text;
    li->tls = hc->listen.elts[i].tls;
    return true;
}

static int
pco_http_reg_cmp(const void *a, const void *b)
{
    const pco_http_reg_t *x = a, *y = b;
    int                   c;

    if (x->priority != y->priority) {
        return x->priority < y->priority ? -1 : 1;
    }
    c = strcmp(x->module, y->module);
    if (c != 0) {
        return c;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int
pco_http_flatten(pco_conf_t *cf, pco_http_main_t *hm)
{
    pco_http_reg_t  *regs = hm->regs.elts;
    size_t           i, n = hm->regs.nelts;
    int              p;

    qsort(regs, n, sizeof(*regs), pco_http_reg_cmp);
    for (p = 0; p < PCO_HTTP_PHASES; p++) {
        hm->phases[p] = pco_pcalloc(cf->pool, sizeof(pco_http_handler_pt) * (n + 1));
        hm->phase_owners[p] = pco_pcalloc(cf->pool, sizeof(char *) * (n + 1));
        hm->nphases[p] = 0;
        if (hm->phases[p] == NULL || hm->phase_owners[p] == NULL) {
            return PCO_ERROR;
        }
    }
    hm->hfilters = pco_pcalloc(cf->pool, sizeof(pco_http_header_filter_pt) * (n + 1));
    hm->bfilters = pco_pcalloc(cf->pool, sizeof(pco_http_body_filter_pt) * (n + 1));
    hm->hfilter_owners = pco_pcalloc(cf->pool, sizeof(char *) * (n + 1));
    hm->bfilter_owners = pco_pcalloc(cf->pool, sizeof(char *) * (n + 1));
    if (hm->hfilters == NULL || hm->bfilters == NULL || hm->hfilter_owners == NULL
        || hm->bfilter_owners == NULL)
    {
        return PCO_ERROR;
    }
    hm->nhfilters = hm->nbfilters = 0;
    for (i = 0; i < n; i++) {
        if (regs[i].phase == PCO_HTTP_KIND_HFILTER) {
            hm->hfilter_owners[hm->nhfilters] = regs[i].module;
            hm->hfilters[hm->nhfilters++] = (pco_http_header_filter_pt) regs[i].fn;
        } else if (regs[i].phase == PCO_HTTP_KIND_BFILTER) {
            hm->bfilter_owners[hm->nbfilters] = regs[i].module;
            hm->bfilters[hm->nbfilters++] = (pco_http_body_filter_pt) regs[i].fn;
        } else {
            p = regs[i].phase;
            hm->phase_owners[p][hm->nphases[p]] = regs[i].module;
            hm->phases[p][hm->nphases[p]++] = (pco_http_handler_pt) regs[i].fn;
        }
    }
    return PCO_OK;
}

size_t
pco_http_routes(pco_cycle_t *cycle, pco_http_route_t ***routes)
{
    pco_http_main_t *hm = pco_http_main(cycle);

    if (hm == NULL) {
        *routes = NULL;
        return 0;
    }
    *routes = hm->routes;
    return hm->nroutes;
}

int
pco_http_route_set_action(pco_conf_t *cf, pco_http_route_t *rt, const char *action,
                          pco_http_handler_pt content, const pco_conf_src_t *src)
{
    if (rt == NULL || action == NULL || content == NULL) {
        pco_conf_error_module(cf, NULL, src, "cannot set the action \"%s\" of a route: %s",
                              action != NULL ? action : "?",
                              rt == NULL ? "no route given" : "no content handler given");
        return PCO_ERROR;
    }
    if (rt->action != NULL) {
        pco_conf_error_src(cf, src != NULL ? src : &rt->src,
                           "route has both \"%s\" and \"%s\"; a route takes one action",
                           rt->action, action);
        return PCO_ERROR;
    }
    rt->action = action;
    rt->content = content;
    return PCO_OK;
}

void *
pco_http_route_conf(pco_http_request_t *r, const pco_module_t *m)
{
    if (r->route != NULL) {
        return r->route->node->confs[m->index];
    }
    return pco_http_server_conf(r, m);
}

void *
pco_http_server_conf(pco_http_request_t *r, const pco_module_t *m)
{
    pco_http_server_t *s = r->server != NULL ? r->server : pco_http_req(r)->addr->default_server;

    return s->node->confs[m->index];
}

void *
pco_http_main_conf(pco_cycle_t *cycle, const pco_module_t *m)
{
    pco_conf_node_t  *root = cycle->conf.root;
    size_t            i;

    for (i = 0; i < root->nchildren; i++) {
        if (root->children[i]->scope == PCO_SCOPE_HTTP) {
            return root->children[i]->confs[m->index];
        }
    }
    return NULL;
}

/* ---- hooks ---- */

static int
pco_http_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_main_t  *hm;
    pco_http_conf_t  *hc;
    static const char *const codes[5] = {
        "http_responses_1xx", "http_responses_2xx", "http_responses_3xx",
        "http_responses_4xx", "http_responses_5xx"
    };
    int               i;

    hm = pco_pcalloc(cf->pool, sizeof(*hm));
    if (hm == NULL) {
        return PCO_ERROR;
    }
    cycle->module_ctx[pco_http_module.index] = hm;
    if (pco_array_init(&hm->regs, cf->pool, 16, sizeof(pco_http_reg_t)) != PCO_OK
        || pco_array_init(&hm->addrs, cf->pool, 4, sizeof(pco_http_addr_t)) != PCO_OK
        || pco_array_init(&hm->vars, cf->pool, 64, sizeof(pco_http_var_t)) != PCO_OK)
    {
        return PCO_ERROR;
    }
    if (pco_http_build_servers(cf, cycle, hm) != PCO_OK) {
        return PCO_ERROR;
    }
    hc = pco_http_main_conf(cycle, &pco_http_module);
    hm->underscores = hc != NULL && hc->underscores_in_headers;
    if (hc != NULL && hc->request_id.trust_from.n > 0) {
        hm->request_id_trust = &hc->request_id.trust_from;
    }
    if (pco_http_variables_init(cf, cycle) != PCO_OK) {
        return PCO_ERROR;
    }
    if (pco_http_add_header_filter(cf, cycle, PCO_HTTP_FILTER_FRAMING, &pco_http_module,
                                   pco_http_head_filter) != PCO_OK
        || pco_http_add_body_filter(cf, cycle, PCO_HTTP_FILTER_FRAMING, &pco_http_module,
                                    pco_http_chunked_filter) != PCO_OK
        || pco_http_add_body_filter(cf, cycle, PCO_HTTP_FILTER_WRITER, &pco_http_module,
                                    pco_http_writer_filter) != PCO_OK)
    {
        return PCO_ERROR;
    }
    hm->c_requests = pco_counter_register(cf, cycle, "http_requests_total",
                                          PCO_COUNTER_MONOTONIC);
    for (i = 0; i < 5; i++) {
        hm->c_status[i] = pco_counter_register(cf, cycle, codes[i], PCO_COUNTER_MONOTONIC);
    }
    hm->c_proto[0] = pco_counter_register(cf, cycle, "http_requests_http10",
                                          PCO_COUNTER_MONOTONIC);
    hm->c_proto[1] = pco_counter_register(cf, cycle, "http_requests_http11",
                                          PCO_COUNTER_MONOTONIC);
    hm->c_proto[2] = pco_counter_register(cf, cycle, "http_requests_http2",
                                          PCO_COUNTER_MONOTONIC);
    hm->c_active = pco_counter_register(cf, cycle, "http_connections_active",
                                        PCO_COUNTER_GAUGE);
    hm->c_idle = pco_counter_register(cf, cycle, "http_connections_idle", PCO_COUNTER_GAUGE);
    hm->c_total = pco_counter_register(cf, cycle, "http_connections_total",
                                       PCO_COUNTER_MONOTONIC);
    return cf->errors ? PCO_ERROR : PCO_OK;
}

static int
pco_http_conf_final(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_main_t  *hm = pco_http_main(cycle);
    size_t            i;
    int               rc = PCO_OK;

    if (hm == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < hm->nroutes; i++) {
        if (hm->routes[i]->action == NULL) {
            pco_conf_error_src(cf, &hm->routes[i]->src,
                               "route has no action (return, static, proxy or status)");
            rc = PCO_ERROR;
        }
    }
    if (pco_http_templates_resolve(cf, hm) != PCO_OK) {
        rc = PCO_ERROR;
    }
    if (pco_http_flatten(cf, hm) != PCO_OK) {
        rc = PCO_ERROR;
    }
    return rc;
}

static int
pco_http_init_worker(pco_cycle_t *cycle)
{
    pco_http_main_t *hm = pco_http_main(cycle);

    if (hm == NULL) {
        return PCO_OK;
    }
    pco_http_cur_main = hm;
    for (pco_http_nmodules = 0; pco_modules[pco_http_nmodules] != NULL; pco_http_nmodules++) {
        /* count */
    }
    pco_http_prng_seed();
    pco_http_scratch_size = pco_max(hm->scratch_size, (size_t) 16384);
    pco_http_scratch = malloc(pco_http_scratch_size);
    if (pco_http_scratch == NULL) {
        pco_log_err(PCO_LOG_ALERT, pco_log, errno, "malloc(%zu) failed", pco_http_scratch_size);
        return PCO_ERROR;
    }
    return PCO_OK;
}

static void
pco_http_exit_worker(pco_cycle_t *cycle)
{
    pco_unused(cycle);
    free(pco_http_scratch);
    pco_http_scratch = NULL;
}
