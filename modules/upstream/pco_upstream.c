/*
 * pco_upstream.c: the `upstreams` list (docs/settings.md, docs/http.md): its settings, the servers
 * (host names resolved with getaddrinfo by the master at load: each A/AAAA record becomes a
 * server), the balancer and try-observer registry (pco_upstream_registry.c), and the shared zone
 * "pco_upstreams" that holds one pco_upstream_shared_t per server for the whole instance.
 *
 * conf_done builds the pco_upstream_t array (cycle->module_ctx), registers one gauge counter
 * "upstream_active{UPSTREAM,SERVER}" per server (the master clears a dead worker's gauges,
 * so a kill -9 never leaves a server counted busy) and declares the zone. conf_final binds
 * each upstream to its balancer (registered by the upstream_* modules in their conf_done)
 * and runs its init. init_master gives every server its slot in the zone: slots are keyed by
 * a hash of "upstream name, configured address, resolved address", so a server that stays
 * in the configuration keeps its passive-health state across a reload (the zone is kept
 * when its size is unchanged: the capacity is rounded up to a power of two, at least 64);
 * the slot of a server that left the configuration is cleared. Each upstream has max_servers
 * positions: the configured servers, then room for servers added at run time (the runtime
 * server table, pco_upstream_dyn.c); addresses are formatted and resolved in
 * pco_upstream_addr.c.
 *
 * `health_check` is run by modules/health_check (u->health_check, NULL without the block);
 * `tls` (enable = true) sets u->tls; the tls module builds u->tls_ctx through
 * pco_upstream_tls_ops (pco_upstream.h), and the proxy and the health checker run the
 * client handshake through it.
 */
#include "pco_upstream_int.h"
#include "pco_log.h"
#include "pco_listen.h"
#include <netdb.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    pco_str_t    address;
    int64_t      weight;
    int64_t      max_conns;
    bool         backup;
    bool         down;
    bool         resolve;
    int          send_proxy_protocol;
} pco_upstream_server_conf_t;

typedef struct {
    pco_str_t                   name;
    pco_str_t                   balance;
    pco_str_t                   hash_key;
    int64_t                     keepalive;
    pco_msec_t                  keepalive_timeout;
    int64_t                     keepalive_requests;
    pco_msec_t                  connect_timeout;
    pco_msec_t                  read_timeout;
    pco_msec_t                  send_timeout;
    int64_t                     retries;
    pco_str_list_t              next_upstream;
    pco_msec_t                  next_upstream_timeout;
    int64_t                     max_fails;
    pco_msec_t                  fail_timeout;
    int64_t                     max_servers;
    pco_conf_list_t             servers;      /* pco_upstream_server_conf_t */
    pco_upstream_health_conf_t  health_check;
    pco_upstream_tls_conf_t     tls;
} pco_upstream_conf_t;

static int pco_upstream_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_conf_final(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_init_master(pco_cycle_t *cycle, pco_cycle_t *old);

static const char *const pco_upstream_initial_values[] = { "up", "down", NULL };
static const char *const pco_upstream_pp_values[] = { "off", "v1", "v2", NULL };

static const pco_setting_t pco_upstream_server_settings[] = {
    { .name = "address", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_upstream_server_conf_t, address), .flags = PCO_CONF_REQUIRED,
      .help = "IP:port, [IPv6]:port, host:port (every A/AAAA record) or unix:/path" },
    { .name = "weight", .type = PCO_CONF_INT,
      .offset = offsetof(pco_upstream_server_conf_t, weight), .def = "1", .min = 1,
      .max = 1000, .help = "relative share of requests, 1..1000" },
    { .name = "max_conns", .type = PCO_CONF_INT,
      .offset = offsetof(pco_upstream_server_conf_t, max_conns), .def = "0", .min = 0,
      .max = 1000000, .help = "connections in flight per instance; 0 = unlimited" },
    { .name = "backup", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_upstream_server_conf_t, backup), .def = "false",
      .help = "used only when every primary server is unusable" },
    { .name = "down", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_upstream_server_conf_t, down), .def = "false",
      .help = "never used (kept in the list)" },
    { .name = "resolve", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_upstream_server_conf_t, resolve), .def = "false",
      .help = "HOST:PORT re-resolved at run time by the resolver; a name that does not "
              "resolve at load is a warning (the server gets its addresses later)" },
    { .name = "send_proxy_protocol", .type = PCO_CONF_ENUM,
      .offset = offsetof(pco_upstream_server_conf_t, send_proxy_protocol), .def = "\"off\"",
      .values = pco_upstream_pp_values,
      .help = "\"v1\" or \"v2\": a PROXY protocol header first on each connection "
              "(client address; health checks send v1 UNKNOWN / v2 LOCAL); such "
              "connections are never kept alive for reuse" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_upstream_health_settings[] = {
    { .name = "path", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_upstream_health_conf_t, path), .def = "\"/\"",
      .help = "request path of the check (GET PATH HTTP/1.1)" },
    { .name = "interval", .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_upstream_health_conf_t, interval), .def = "\"5s\"", .min = 10,
      .max = PCO_CONF_DAY,
      .help = "time between checks" },
    { .name = "timeout", .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_upstream_health_conf_t, timeout), .def = "\"1s\"", .min = 1,
      .max = 3600000,
      .help = "time for one check" },
    { .name = "rise", .type = PCO_CONF_INT,
      .offset = offsetof(pco_upstream_health_conf_t, rise), .def = "2", .min = 1, .max = 100,
      .help = "successes that mark a server up" },
    { .name = "fall", .type = PCO_CONF_INT,
      .offset = offsetof(pco_upstream_health_conf_t, fall), .def = "3", .min = 1, .max = 100,
      .help = "failures that mark a server down" },
    { .name = "status", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_upstream_health_conf_t, status), .def = "\"200-399\"",
      .help = "healthy statuses: codes and ranges, comma-separated, e.g. \"200-299,302\"" },
    { .name = "host", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_upstream_health_conf_t, host),
      .help = "Host header of the check (default: the server address)" },
    { .name = "initial", .type = PCO_CONF_ENUM,
      .offset = offsetof(pco_upstream_health_conf_t, initial), .def = "\"up\"",
      .values = pco_upstream_initial_values, .help = "state before the first check" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_upstream_tls_settings[] = {
    { .name = "enable", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_upstream_tls_conf_t, enable), .def = "false",
      .help = "TLS to the servers" },
    { .name = "verify", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_upstream_tls_conf_t, verify), .def = "true",
      .help = "verify the server certificate" },
    { .name = "ca", .type = PCO_CONF_STRING, .offset = offsetof(pco_upstream_tls_conf_t, ca),
      .help = "CA file, relative to the prefix (default: the system store)" },
    { .name = "server_name", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_upstream_tls_conf_t, server_name),
      .help = "SNI and verified name" },
    { .name = "certificate", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_upstream_tls_conf_t, certificate),
      .help = "client certificate file, relative to the prefix" },
    { .name = "key", .type = PCO_CONF_STRING, .offset = offsetof(pco_upstream_tls_conf_t, key),
      .help = "client certificate key file, relative to the prefix" },
    PCO_SETTINGS_END
};

#define PCO_UC(f)  offsetof(pco_upstream_conf_t, f)
#define PCO_SU     PCO_SCOPE_UPSTREAM

static const pco_setting_t pco_upstream_settings[] = {
    { .name = "upstreams", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE,
      .child_scope = PCO_SCOPE_UPSTREAM, .flags = PCO_CONF_INCLUDABLE,
      .help = "upstream server groups" },
    { .name = "name", .scopes = PCO_SU, .type = PCO_CONF_STRING, .offset = PCO_UC(name),
      .help = "the upstream's name (required, unique)" },
    { .name = "balance", .scopes = PCO_SU, .type = PCO_CONF_STRING, .offset = PCO_UC(balance),
      .def = "\"round_robin\"",
      .help = "round_robin | least_conn | ip_hash | hash | random_two" },
    { .name = "hash_key", .scopes = PCO_SU, .type = PCO_CONF_STRING,
      .offset = PCO_UC(hash_key), .help = "key template of balance = \"hash\"" },
    { .name = "keepalive", .scopes = PCO_SU, .type = PCO_CONF_INT, .offset = PCO_UC(keepalive),
      .def = "32", .min = 0, .max = 100000, .help = "idle connections kept per worker" },
    { .name = "keepalive_timeout", .scopes = PCO_SU, .type = PCO_CONF_DURATION,
      .offset = PCO_UC(keepalive_timeout), .def = "\"4s\"", .min = 0, .max = PCO_CONF_DAY,
      .help = "idle time of a kept upstream connection" },
    { .name = "keepalive_requests", .scopes = PCO_SU, .type = PCO_CONF_INT,
      .offset = PCO_UC(keepalive_requests), .def = "1000", .min = 0, .max = 1000000000,
      .help = "requests per upstream connection" },
    { .name = "connect_timeout", .scopes = PCO_SU, .type = PCO_CONF_DURATION,
      .offset = PCO_UC(connect_timeout), .def = "\"5s\"", .min = 1, .max = PCO_CONF_DAY,
      .help = "time to connect to a server" },
    { .name = "read_timeout", .scopes = PCO_SU, .type = PCO_CONF_DURATION,
      .offset = PCO_UC(read_timeout), .def = "\"60s\"", .min = 1, .max = 7 * PCO_CONF_DAY,
      .help = "time between two reads from a server" },
    { .name = "send_timeout", .scopes = PCO_SU, .type = PCO_CONF_DURATION,
      .offset = PCO_UC(send_timeout), .def = "\"60s\"", .min = 1, .max = 7 * PCO_CONF_DAY,
      .help = "time between two writes to a server" },
    { .name = "retries", .scopes = PCO_SU, .type = PCO_CONF_INT, .offset = PCO_UC(retries),
      .def = "2", .min = 0, .max = 1024,
      .help = "other servers tried after a failure listed in next_upstream" },
    { .name = "next_upstream", .scopes = PCO_SU, .type = PCO_CONF_STRLIST,
      .offset = PCO_UC(next_upstream), .def = "[\"error\", \"timeout\"]",
      .help = "when to try another server: error timeout 500 502 503 504 429 | off" },
    { .name = "next_upstream_timeout", .scopes = PCO_SU, .type = PCO_CONF_DURATION,
      .offset = PCO_UC(next_upstream_timeout), .def = "0", .min = 0, .max = PCO_CONF_DAY,
      .help = "total time for all tries; 0 = unlimited" },
    { .name = "max_fails", .scopes = PCO_SU, .type = PCO_CONF_INT, .offset = PCO_UC(max_fails),
      .def = "1", .min = 0, .max = 1000000,
      .help = "failures within fail_timeout that mark a server down; 0 = off" },
    { .name = "fail_timeout", .scopes = PCO_SU, .type = PCO_CONF_DURATION,
      .offset = PCO_UC(fail_timeout), .def = "\"10s\"", .min = 1, .max = PCO_CONF_DAY,
      .help = "the failure window, and how long a server stays marked down" },
    { .name = "max_servers", .scopes = PCO_SU, .type = PCO_CONF_INT,
      .offset = PCO_UC(max_servers), .def = "0", .min = 0, .max = PCO_UPSTREAM_MAX_SERVERS,
      .help = "server positions, configured and added at run time (admin API, resolve); "
              "0 = the configured servers + 32" },
    { .name = "servers", .scopes = PCO_SU, .type = PCO_CONF_LIST, .offset = PCO_UC(servers),
      .sub = pco_upstream_server_settings, .elt_size = sizeof(pco_upstream_server_conf_t),
      .help = "the servers: { address; weight; max_conns; backup; down; resolve; "
              "send_proxy_protocol; }" },
    { .name = "health_check", .scopes = PCO_SU, .type = PCO_CONF_GROUP,
      .offset = PCO_UC(health_check), .sub = pco_upstream_health_settings,
      .help = "active health checks by the health-checker process: { path; interval; timeout;"
              " rise; fall; status; host; initial; }" },
    { .name = "tls", .scopes = PCO_SU, .type = PCO_CONF_GROUP, .offset = PCO_UC(tls),
      .sub = pco_upstream_tls_settings,
      .help = "TLS to the servers: { enable; verify; ca; server_name; certificate; key; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too: builds the upstreams, resolves names, registers the
 * active-connection gauges and declares the zone), conf_final (binds balancers), init_master
 * (assigns zone slots; start and reload). PCO_OK or PCO_ERROR after reporting.
 * exit_worker / exit_master log the connection counters (pco_upstream.h) at info.
 */
pco_module_t pco_upstream_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "upstream",
    .settings = pco_upstream_settings,
    .conf_size = sizeof(pco_upstream_conf_t),
    .conf_done = pco_upstream_conf_done,
    .conf_final = pco_upstream_conf_final,
    .init_master = pco_upstream_init_master,
    .exit_worker = pco_upstream_exit_worker,
    .exit_master = pco_upstream_exit_master,
};

pco_upstream_ctx_t *
pco_upstream_ctx(pco_cycle_t *cycle)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];

    if (ctx == NULL) {
        ctx = pco_pcalloc(cycle->pool, sizeof(pco_upstream_ctx_t));
        cycle->module_ctx[pco_upstream_module.index] = ctx;
    }
    return ctx;
}

static unsigned
pco_upstream_next_bits(pco_conf_t *cf, const pco_conf_src_t *src, const pco_str_list_t *l)
{
    static const struct {
        const char  *name;
        unsigned     bit;
    } pco_upstream_next_names[] = {
        { "error", PCO_UPSTREAM_NEXT_ERROR }, { "timeout", PCO_UPSTREAM_NEXT_TIMEOUT },
        { "500", PCO_UPSTREAM_NEXT_500 }, { "502", PCO_UPSTREAM_NEXT_502 },
        { "503", PCO_UPSTREAM_NEXT_503 }, { "504", PCO_UPSTREAM_NEXT_504 },
        { "429", PCO_UPSTREAM_NEXT_429 }, { "off", PCO_UPSTREAM_NEXT_OFF },
    };
    unsigned  bits = 0, i, k;

    for (i = 0; i < l->n; i++) {
        for (k = 0; k < pco_nelems(pco_upstream_next_names); k++) {
            if (strcmp((const char *) l->elts[i].data, pco_upstream_next_names[k].name) == 0) {
                bits |= pco_upstream_next_names[k].bit;
                break;
            }
        }
        if (k == pco_nelems(pco_upstream_next_names)) {
            pco_conf_error_src(cf, src, "next_upstream: unknown value \"%s\" (error, timeout, "
                               "500, 502, 503, 504, 429 or off)", l->elts[i].data);
            return (unsigned) -1;
        }
    }
    if ((bits & PCO_UPSTREAM_NEXT_OFF) && bits != PCO_UPSTREAM_NEXT_OFF) {
        pco_conf_error_src(cf, src, "next_upstream: \"off\" cannot be combined with others");
        return (unsigned) -1;
    }
    return bits;
}

/*
 * What the balancer modules check again at conf_final, checked here at conf_done so that a
 * run reports it together with every other error (conf_final runs only after a clean
 * load): `balance` names a compiled-in balancer module (upstream_NAME), "hash" needs
 * hash_key, and "hash"/"ip_hash" take no backup server (docs/http.md).
 */
static int
pco_upstream_check_balance(pco_conf_t *cf, pco_upstream_conf_t *uc)
{
    pco_upstream_server_conf_t  *sc = uc->servers.elts;
    const char                  *b = (const char *) uc->balance.data;
    char                         mod[128];
    unsigned                     i;
    bool                         hashed;
    int                          n, rc = PCO_OK;

    n = snprintf(mod, sizeof(mod), "upstream_%s", b);
    for (i = 0; n > 0 && (size_t) n < sizeof(mod) && pco_modules[i] != NULL; i++) {
        if (strcmp(pco_modules[i]->name, mod) == 0) {
            break;
        }
    }
    if (n <= 0 || (size_t) n >= sizeof(mod) || pco_modules[i] == NULL) {
        pco_conf_error_src(cf, PCO_CONF_SRC(uc, pco_upstream_conf_t, balance),
                           "unknown balance \"%s\" "
                           "(round_robin, least_conn, ip_hash, hash or random_two, as built)",
                           b);
        return PCO_ERROR;
    }
    hashed = strcmp(b, "hash") == 0 || strcmp(b, "ip_hash") == 0;
    if (strcmp(b, "hash") == 0 && uc->hash_key.len == 0) {
        pco_conf_error_src(cf, PCO_CONF_SRC(uc, pco_upstream_conf_t, balance),
                           "upstream \"%s\": balance = "
                           "\"hash\" needs hash_key", (const char *) uc->name.data);
        rc = PCO_ERROR;
    }
    for (i = 0; hashed && i < uc->servers.n; i++) {
        if (sc[i].backup) {
            pco_conf_error_src(cf, &uc->servers.src[i], "upstream \"%s\": backup servers "
                               "cannot be used with balance = \"%s\"",
                               (const char *) uc->name.data, b);
            rc = PCO_ERROR;
        }
    }
    return rc;
}

/* Weak: NULL when the tls module is not linked (unit tests link the library only). */
extern const pco_upstream_tls_ops_t pco_tls_upstream_ops __attribute__((weak));

const pco_upstream_tls_ops_t *pco_upstream_tls_ops;

void
pco_upstream_conn_close(pco_connection_t *c)
{
    if (c != NULL && !c->destroyed && c->tls != NULL && pco_upstream_tls_ops != NULL) {
        pco_upstream_tls_ops->free(c);
    }
    pco_conn_close(c);
}

static int
pco_upstream_tls_init(pco_conf_t *cf, pco_cycle_t *cycle, pco_upstream_t *u,
                      pco_upstream_conf_t *uc)
{
    const pco_conf_src_t  *src = PCO_CONF_SRC(uc, pco_upstream_conf_t, tls);

    if (src == NULL) {
        src = &u->node->src;
    }
    pco_upstream_tls_ops = &pco_tls_upstream_ops;
    if (pco_upstream_tls_ops == NULL) {
        pco_conf_error_src(cf, src, "upstream \"%s\": tls needs the tls module, which is not "
                           "built", (const char *) uc->name.data);
        return PCO_ERROR;
    }
    u->tls = &uc->tls;
    return pco_upstream_tls_ops->init(cf, cycle, u, src);
}

static bool
pco_upstream_has_resolve(const pco_upstream_conf_t *uc)
{
    const pco_upstream_server_conf_t  *sc = uc->servers.elts;
    unsigned                           i;

    for (i = 0; i < uc->servers.n; i++) {
        if (sc[i].resolve) {
            return true;
        }
    }
    return false;
}

/* u->capacity: max_servers, or the configured servers + PCO_UPSTREAM_DYN_DEFAULT. */
static int
pco_upstream_capacity(pco_conf_t *cf, pco_upstream_t *u, pco_upstream_conf_t *uc,
                      unsigned total)
{
    if (uc->max_servers == 0) {
        u->capacity = pco_min(total + PCO_UPSTREAM_DYN_DEFAULT, PCO_UPSTREAM_MAX_SERVERS);
        return PCO_OK;
    }
    if ((unsigned) uc->max_servers < total) {
        pco_conf_error_src(cf, PCO_CONF_SRC(uc, pco_upstream_conf_t, max_servers),
                           "upstream \"%s\": max_servers %lld is less than its %u configured "
                           "servers", (const char *) uc->name.data,
                           (long long) uc->max_servers, total);
        return PCO_ERROR;
    }
    u->capacity = (unsigned) uc->max_servers;
    return PCO_OK;
}

/* u->entries: the servers as written (host and port split for the resolver). */
static int
pco_upstream_entries_build(pco_conf_t *cf, pco_upstream_t *u, pco_upstream_conf_t *uc)
{
    pco_upstream_server_conf_t  *sc = uc->servers.elts;
    pco_upstream_entry_t        *e;
    const char                  *colon;
    unsigned                     i;

    u->entries = pco_pcalloc(cf->pool, uc->servers.n * sizeof(pco_upstream_entry_t));
    if (u->entries == NULL) {
        return PCO_ERROR;
    }
    u->nentries = (unsigned) uc->servers.n;
    for (i = 0; i < uc->servers.n; i++) {
        e = &u->entries[i];
        e->configured = sc[i].address;
        e->resolve = sc[i].resolve;
        e->backup = sc[i].backup;
        e->down = sc[i].down;
        e->weight = sc[i].weight > 0 ? sc[i].weight : 1;
        e->max_conns = sc[i].max_conns;
        e->send_proxy_protocol = (unsigned) sc[i].send_proxy_protocol;
        colon = strrchr((const char *) sc[i].address.data, ':');
        if (strncmp((const char *) sc[i].address.data, "unix:", 5) == 0 || colon == NULL) {
            continue;
        }
        e->host.data = sc[i].address.data;
        e->host.len = (size_t) ((const u_char *) colon - sc[i].address.data);
        if (e->host.len >= 2 && e->host.data[0] == '[') {      /* [v6]:port */
            e->host.data++;
            e->host.len -= 2;
        }
        e->port = (in_port_t) atoi(colon + 1);
    }
    return PCO_OK;
}

/* Fills u from its node; PCO_ERROR after reporting. */
static int
pco_upstream_build(pco_conf_t *cf, pco_cycle_t *cycle, pco_upstream_t *u,
                   pco_conf_node_t *node, pco_upstream_ctx_t *ctx)
{
    pco_upstream_conf_t         *uc = pco_conf_get(node, &pco_upstream_module);
    pco_upstream_server_conf_t  *sc = uc->servers.elts;
    pco_sockaddr_t              *addrs;
    socklen_t                   *lens;
    unsigned                    *count, i, k, n, total = 0, pass, idx;
    unsigned                     bits;
    int                          rc = PCO_OK;

    u->name = uc->name;
    u->node = node;
    u->keepalive = uc->keepalive;
    u->keepalive_timeout = uc->keepalive_timeout;
    u->keepalive_requests = uc->keepalive_requests;
    u->connect_timeout = uc->connect_timeout;
    u->read_timeout = uc->read_timeout;
    u->send_timeout = uc->send_timeout;
    u->retries = uc->retries;
    u->next_upstream_timeout = uc->next_upstream_timeout;
    u->max_fails = uc->max_fails;
    u->fail_timeout = uc->fail_timeout;
    u->health_check = PCO_CONF_IS_SET(uc, pco_upstream_conf_t, health_check) ? &uc->health_check
                                                                              : NULL;
    if (uc->tls.enable && pco_upstream_tls_init(cf, cycle, u, uc) != PCO_OK) {
        rc = PCO_ERROR;
    }
    bits = pco_upstream_next_bits(cf, PCO_CONF_SRC(uc, pco_upstream_conf_t, next_upstream),
                                  &uc->next_upstream);
    if (bits == (unsigned) -1) {
        rc = PCO_ERROR;
        bits = 0;
    }
    u->next_upstream = bits;
    if (uc->hash_key.len > 0) {
        u->hash_key = pco_http_template_compile(cf, cycle, &uc->hash_key,
                                                PCO_CONF_SRC(uc, pco_upstream_conf_t, hash_key));
        if (u->hash_key == NULL) {
            rc = PCO_ERROR;
        }
    } else if (strcmp((const char *) uc->balance.data, "ip_hash") == 0) {
        static const pco_str_t  pco_upstream_remote_addr = pco_string("$remote_addr");

        u->hash_key = pco_http_template_compile(cf, cycle, &pco_upstream_remote_addr,
                                                PCO_CONF_SRC(uc, pco_upstream_conf_t, balance));
        if (u->hash_key == NULL) {
            rc = PCO_ERROR;
        }
    }
    if (uc->servers.n == 0) {
        pco_conf_error_src(cf, &node->src, "upstream \"%s\" has no servers", uc->name.data);
        return PCO_ERROR;
    }
    if (pco_upstream_check_balance(cf, uc) != PCO_OK) {
        rc = PCO_ERROR;
    }

    /* resolve every entry (at most PCO_UPSTREAM_MAX_SERVERS servers in all) */
    addrs = pco_pcalloc(cf->pool, PCO_UPSTREAM_MAX_SERVERS * sizeof(pco_sockaddr_t));
    lens = pco_pcalloc(cf->pool, PCO_UPSTREAM_MAX_SERVERS * sizeof(socklen_t));
    count = pco_pcalloc(cf->pool, uc->servers.n * sizeof(unsigned));
    if (addrs == NULL || lens == NULL || count == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < uc->servers.n; i++) {
        if (total >= PCO_UPSTREAM_MAX_SERVERS) {
            pco_conf_error_src(cf, &uc->servers.src[i], "more than %d servers in upstream "
                               "\"%s\"", PCO_UPSTREAM_MAX_SERVERS, uc->name.data);
            return PCO_ERROR;
        }
        if (sc[i].address.data == NULL) {
            /* a missing (required) address: the loader reported it, there is nothing to
             * resolve (found by fuzzing: this crashed portico -t and a reload) */
            rc = PCO_ERROR;
            continue;
        }
        if (pco_upstream_resolve(cf, &uc->servers.src[i], (const char *) sc[i].address.data,
                                 &addrs[total], &lens[total],
                                 PCO_UPSTREAM_MAX_SERVERS - total, &count[i], sc[i].resolve)
            != PCO_OK)
        {
            rc = PCO_ERROR;
            continue;
        }
        total += count[i];
    }
    if (rc != PCO_OK) {
        return rc;
    }
    if (pco_upstream_capacity(cf, u, uc, total) != PCO_OK
        || pco_upstream_entries_build(cf, u, uc) != PCO_OK)
    {
        return PCO_ERROR;
    }
    u->servers = pco_pcalloc(cf->pool, u->capacity * sizeof(pco_upstream_server_t));
    if (u->servers == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < u->capacity; i++) {          /* free positions until the first sync */
        u->servers[i].index = i;
        u->servers[i].upstream = u;
        u->servers[i].active_counter = -1;
        u->servers[i].entry = -1;
        u->servers[i].vacant = true;
        u->servers[i].weight = 1;
    }
    u->nservers = total;
    u->npositions = total;
    idx = 0;
    for (pass = 0; pass < 2; pass++) {           /* primaries, then backups */
        n = 0;
        for (i = 0; i < uc->servers.n; i++) {
            for (k = 0; k < count[i]; k++, n++) {
                pco_upstream_server_t  *s;

                if (sc[i].backup != (pass == 1)) {
                    continue;
                }
                s = &u->servers[idx];
                s->index = idx++;
                s->upstream = u;
                s->vacant = false;
                s->entry = (int) i;
                s->configured = sc[i].address;
                s->sockaddr = addrs[n];
                s->socklen = lens[n];
                s->weight = sc[i].weight > 0 ? sc[i].weight : 1;
                s->conf_weight = s->weight;
                s->max_conns = sc[i].max_conns;
                s->backup = sc[i].backup;
                s->down = sc[i].down;
                s->send_proxy_protocol = (unsigned) sc[i].send_proxy_protocol;
                s->active_counter = -1;
                if (pco_upstream_addr_text(cf->pool, &addrs[n], &s->name) != PCO_OK) {
                    return PCO_ERROR;
                }
            }
        }
        if (pass == 0) {
            u->nprimary = idx;
        }
    }
    if (u->nprimary == 0 && !pco_upstream_has_resolve(uc)) {
        pco_conf_error_src(cf, &node->src, "upstream \"%s\" has only backup servers",
                           uc->name.data);
        return PCO_ERROR;
    }
    u->key = pco_upstream_name_key(&u->name);
    ctx->total += total;
    ctx->positions += u->capacity;
    return PCO_OK;
}

static int
pco_upstream_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_conf_node_t     *root = cf->root;
    pco_upstream_ctx_t  *ctx = pco_upstream_ctx(cycle);
    size_t               i, j;
    unsigned             n = 0, k;
    int                  rc = PCO_OK;

    if (ctx == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < root->nchildren; i++) {
        n += root->children[i]->scope == PCO_SCOPE_UPSTREAM;
    }
    if (n == 0) {
        return PCO_OK;
    }
    ctx->upstreams = pco_pcalloc(cf->pool, n * sizeof(pco_upstream_t));
    ctx->names = pco_pcalloc(cf->pool, n * sizeof(pco_str_t));
    if (ctx->upstreams == NULL || ctx->names == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < root->nchildren; i++) {
        pco_conf_node_t      *node = root->children[i];
        pco_upstream_conf_t  *uc;

        if (node->scope != PCO_SCOPE_UPSTREAM) {
            continue;
        }
        uc = pco_conf_get(node, &pco_upstream_module);
        if (!PCO_CONF_IS_SET(uc, pco_upstream_conf_t, name) || uc->name.len == 0) {
            pco_conf_error_src(cf, &node->src, "an upstream needs a \"name\"");
            rc = PCO_ERROR;
            continue;
        }
        ctx->names[ctx->nnames++] = uc->name;
        for (j = 0; j < i; j++) {
            pco_upstream_conf_t  *oc = pco_conf_get(root->children[j], &pco_upstream_module);

            if (root->children[j]->scope == PCO_SCOPE_UPSTREAM
                && oc->name.len == uc->name.len
                && memcmp(oc->name.data, uc->name.data, uc->name.len) == 0)
            {
                pco_conf_error_src(cf, PCO_CONF_SRC(uc, pco_upstream_conf_t, name),
                                   "duplicate upstream name \"%s\"", uc->name.data);
                rc = PCO_ERROR;
                break;
            }
        }
        if (j < i) {
            continue;
        }
        if (pco_upstream_build(cf, cycle, &ctx->upstreams[ctx->n], node, ctx) != PCO_OK) {
            rc = PCO_ERROR;
            continue;
        }
        ctx->n++;
    }
    if (rc != PCO_OK) {
        return rc;
    }

    if (pco_upstream_counters_register(cf, cycle) != PCO_OK) {
        return PCO_ERROR;
    }

    /* keys and active-connection gauges */
    ctx->keys = pco_pcalloc(cf->pool, (ctx->total ? ctx->total : 1) * sizeof(uint64_t));
    if (ctx->keys == NULL) {
        return PCO_ERROR;
    }
    i = 0;
    for (k = 0; k < ctx->n; k++) {
        pco_upstream_t  *u = &ctx->upstreams[k];

        for (j = 0; j < u->nservers; j++, i++) {
            pco_upstream_server_t  *s = &u->servers[j];
            char                    name[PCO_COUNTER_NAME_LEN];
            int                     len;

            ctx->keys[i] = pco_upstream_server_key(&u->name, &s->configured, &s->name);
            len = snprintf(name, sizeof(name), "upstream_active{%.*s,%.*s}",
                           (int) u->name.len, u->name.data, (int) s->name.len, s->name.data);
            /* too long a name, or the counter table nearly full: shared atomics instead
             * (not cleared when a worker dies) */
            if (len > 0 && (size_t) len < sizeof(name)
                && pco_counter_count() < PCO_COUNTERS_MAX - 512)
            {
                s->active_counter = pco_counter_register(cf, cycle, name, PCO_COUNTER_GAUGE);
            }
        }
    }

    ctx->zone = pco_shm_zone_add(cf, cycle, "pco_upstreams",
                                 pco_upstream_zone_size(ctx->total
                                                        + pco_min(ctx->positions - ctx->total,
                                                                  PCO_UPSTREAM_DYN_ZONE)),
                                 &pco_upstream_module,
                                 pco_upstream_zone_init);
    if (ctx->zone == NULL) {
        return PCO_ERROR;
    }
    ctx->zone->core_budget = true;          /* the health zone: within shared_memory */
    return PCO_OK;
}

static int
pco_upstream_conf_final(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_upstream_ctx_t  *ctx = pco_upstream_ctx(cycle);
    unsigned             k;
    int                  rc = PCO_OK;

    if (ctx == NULL) {
        return PCO_ERROR;
    }
    for (k = 0; k < ctx->n; k++) {
        pco_upstream_t        *u = &ctx->upstreams[k];
        pco_upstream_conf_t   *uc = pco_conf_get(u->node, &pco_upstream_module);

        u->balancer = pco_upstream_balancer_find(cycle, (const char *) uc->balance.data);
        if (u->balancer == NULL) {
            pco_conf_error_src(cf, PCO_CONF_SRC(uc, pco_upstream_conf_t, balance),
                               "unknown balance \"%s\""
                               " (round_robin, least_conn, ip_hash, hash or random_two, as "
                               "built)", uc->balance.data);
            rc = PCO_ERROR;
            continue;
        }
        if (u->balancer->init != NULL && u->balancer->init(cf, u) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

int
pco_upstream_request_key(pco_http_request_t *r, pco_upstream_t *u, pco_str_t *key)
{
    key->len = 0;
    key->data = (u_char *) "";
    if (u->hash_key == NULL) {
        return PCO_OK;
    }
    return pco_http_template_eval(r, u->hash_key, key);
}

/* Gives every server its slot in the zone (pco_upstream_zone.c): state kept for a server
 * that stays, fresh for a new one, cleared for one that left; the servers added at run time
 * by the admin API (pco_upstream_dyn.c) are carried over into the first free positions. */
static int
pco_upstream_init_master(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_upstream_ctx_t      *ctx = cycle->module_ctx[pco_upstream_module.index];
    pco_upstream_shared_t  **st;
    pco_upstream_zone_hdr_t *hdr;
    uint64_t                *keys;
    unsigned                 k, s, *ndyn;
    size_t                   i = 0, n = 0;
    int                      rc = PCO_ERROR;

    pco_unused(old);
    if (ctx == NULL || ctx->zone == NULL || ctx->n == 0) {
        return PCO_OK;
    }
    hdr = ctx->zone->addr;
    st = calloc(ctx->positions + 1, sizeof(*st));
    keys = calloc(ctx->positions + 1, sizeof(*keys));
    ndyn = calloc(ctx->n, sizeof(*ndyn));
    if (st == NULL || keys == NULL || ndyn == NULL) {
        goto done;
    }
    /* the previous generation's processes (workers answering the admin API, helpers)
     * keep changing the zone under its lock until they exit: reading the dynamic servers
     * and reassigning the slots without it could hand one free slot to two servers */
    pco_shmtx_lock(&hdr->lock);
    for (k = 0; k < ctx->n; k++) {
        pco_upstream_t  *u = &ctx->upstreams[k];

        for (s = 0; s < u->nservers; s++) {
            keys[n++] = ctx->keys[i++];
        }
        ndyn[k] = pco_upstream_dyn_collect(hdr, u, &keys[n], u->capacity - u->nservers);
        n += ndyn[k];
    }
    if (pco_upstream_zone_assign(hdr, keys, n, st) != PCO_OK) {
        pco_shmtx_unlock(&hdr->lock);
        pco_log_err(PCO_LOG_ALERT, cycle->log, 0, "upstream zone: no slot for every server");
        goto done;
    }
    for (k = 0, i = 0; k < ctx->n; k++) {
        pco_upstream_t  *u = &ctx->upstreams[k];

        for (s = 0; s < u->nservers; s++) {
            u->servers[s].shared = st[i + s];
        }
        pco_upstream_dyn_restore(u, &st[i], ndyn[k]);
        u->rt_zone = hdr;
        u->rt_version = 0;
        i += u->nservers + ndyn[k];
    }
    /* every process of the new generation refreshes its view at its first pick (the
     * master never picks, so it builds no balancer data here) */
    __atomic_add_fetch(&hdr->version, 1, __ATOMIC_RELEASE);
    pco_shmtx_unlock(&hdr->lock);
    rc = PCO_OK;
done:
    free(st);
    free(keys);
    free(ndyn);
    return rc;
}
