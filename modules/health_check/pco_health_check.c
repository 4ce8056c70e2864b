/*
 * pco_health_check.c: active health checks (docs/architecture.md, docs/settings.md) in one helper
 * process, "portico: health checker", registered at conf_done only when at least one
 * upstream has a `health_check` block (pco_upstream_t.health_check != NULL).
 *
 * The helper runs every check without blocking in its single epoll loop: per server, a
 * timer starts a check every `interval` (the first checks of an upstream are spread evenly
 * over one interval, so 1,000 servers do not connect at once); a check is a non-blocking
 * connect and "GET path HTTP/1.1" with Host (default: the server address),
 * "Connection: close" and "User-Agent: portico-health-check", under one `timeout` that
 * covers the connect and the status line. Only the start of the status line is read (at
 * most PCO_HEALTH_CHECK_BUF bytes), then the connection is closed. A status in the `status`
 * ranges is a success; anything else (refused, timed out, closed, malformed, another
 * status) a failure. `fall` consecutive failures mark a server down, `rise` consecutive
 * successes up (pco_health_check_fsm); each transition is logged at notice and written
 * with an atomic store to health_down in the server's shared slot (modules/upstream), which
 * every worker reads with a plain atomic load in pco_upstream_usable: no system call; its
 * time goes to hc_changed (the status route's last-change gauge).
 *
 * `initial = "down"`: the master, in init_master (before any worker of the generation is
 * forked), sets health_down for every server that no health check of the previous
 * generation covered (new servers, new health_check blocks, the first start), so a worker
 * never sees a never-checked server as up; the checker marks it up after `rise`
 * successes. A server that stays across a reload keeps its shared slot and therefore its
 * state (a down server stays down); the new helper starts from that state with fresh
 * counters. An upstream without `health_check` gets health_down cleared.
 *
 * An upstream with `tls` is checked over TLS: after the connect, the same client handshake
 * as the proxy's (pco_upstream_tls_ops: its context, verification, SNI, session reuse),
 * under the same `timeout`; a failed handshake is a failed check ("TLS handshake failed").
 * A server with send_proxy_protocol gets its PROXY header first (v1 UNKNOWN, v2 LOCAL).
 *
 * Servers added or removed at run time (admin API, DNS re-resolution: the runtime server
 * table of modules/upstream) are followed by polling the zone version every
 * PCO_HEALTH_CHECK_SYNC_MS (one atomic load per upstream): on a change the helper refreshes
 * its view (pco_upstream_sync) and starts checking new servers at once, from the state
 * `initial` gave them when they were added (pco_upstream_dyn_add sets it); a position that
 * became vacant, or holds another server (its epoch moved), stops, its check in flight
 * abandoned. A check result is written only while the position still holds the server it
 * checked (pco_upstream_server_lock): a slot never inherits another server's verdict.
 */
#include "pco_upstream.h"
#include "pco_health_check.h"
#include "pco_cycle.h"
#include "pco_conn.h"
#include "pco_event.h"
#include "pco_log.h"
#include "pco_time.h"
#include "pco_process.h"
#include "pco_proxy_protocol.h"
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/tcp.h>

/* Response bytes kept: the status line's first 13 bytes decide ("HTTP/1.1 200 "); the rest
 * is never read. */
#define PCO_HEALTH_CHECK_BUF  32

typedef struct pco_health_check_up_s  pco_health_check_up_t;

/* One checked server (helper process). */
typedef struct {
    pco_upstream_server_t   *s;
    pco_health_check_up_t   *hu;
    pco_event_t              timer;       /* the next check */
    pco_connection_t        *c;           /* the check in flight, or NULL */
    pco_str_t                request;
    size_t                   request_cap; /* bytes allocated for request.data */
    uint64_t                 epoch;       /* s->epoch when this server's checks began */
    bool                     on;          /* the position is checked (timer or check) */
    size_t                   sent;
    size_t                   got;
    pco_health_check_fsm_t   fsm;
    bool                     connected;
    bool                     secured;     /* TLS upstream: the handshake is done */
    int64_t                  started;     /* when the check in flight began, µs */
    u_char                   buf[PCO_HEALTH_CHECK_BUF];
} pco_health_check_peer_t;

/* One upstream with a health_check (conf_done). */
struct pco_health_check_up_s {
    pco_upstream_t                    *u;
    const pco_upstream_health_conf_t  *hc;
    pco_health_check_status_t          status;
    pco_health_check_peer_t           *peers;     /* helper: one per position (capacity) */
    uint64_t                           seen;      /* helper: u->rt_version reconciled */
};

/* Per generation (cycle->module_ctx). */
typedef struct {
    pco_health_check_up_t   *ups;
    unsigned                 n;
    pco_event_t              sync;        /* helper: polls the runtime server table */
    pco_pool_t              *pool;        /* helper: the cycle pool (check requests) */
} pco_health_check_ctx_t;

/* How often the helper looks at the zone version for servers added or removed at run time
 * (admin API, DNS): one atomic load per checked upstream when nothing changed. */
#define PCO_HEALTH_CHECK_SYNC_MS  200

static int pco_health_check_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_health_check_init_master(pco_cycle_t *cycle, pco_cycle_t *old);
static int pco_health_check_helper_init(pco_cycle_t *cycle);
static void pco_health_check_start(pco_event_t *ev);
static void pco_health_check_write(pco_event_t *ev);
static void pco_health_check_read(pco_event_t *ev);
static void pco_health_check_publish(pco_health_check_peer_t *p, const char *why);
static int64_t pco_health_check_usec(void);

/*
 * Hooks: conf_done (master, -t too: validates `status`, `path` and `host` of every
 * health_check, FILE:LINE errors; registers the helper process when any upstream has one;
 * PCO_OK or PCO_ERROR after reporting), init_master (master, start and reload: sets the
 * state of never-checked servers from `initial`, clears health_down of unchecked
 * upstreams; always PCO_OK). The helper's init (in the helper, after privilege drop)
 * builds the per-server check state and arms the first timers; PCO_ERROR only when memory
 * is short.
 */
pco_module_t pco_health_check_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "health_check",
    .conf_done = pco_health_check_conf_done,
    .init_master = pco_health_check_init_master,
};

/* The names of the configured upstreams, in order, from the libconfig tree. */
static const char *
pco_health_check_upstream_name(pco_conf_t *cf, unsigned i)
{
    config_setting_t  *list, *e;
    const char        *name = NULL;

    list = config_lookup(&cf->config, "upstreams");
    if (list == NULL) {
        return NULL;
    }
    if (config_setting_is_group(list)) {
        e = i == 0 ? list : NULL;
    } else {
        e = config_setting_get_elem(list, i);
    }
    if (e == NULL || config_setting_lookup_string(e, "name", &name) != CONFIG_TRUE) {
        return NULL;
    }
    return name;
}

static bool
pco_health_check_printable(const pco_str_t *s, bool space_ok)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f || (!space_ok && s->data[i] == ' ')) {
            return false;
        }
    }
    return true;
}

/* Where member off of hu's health_check group was written (the upstream module's conf
 * struct is private to it: the group's place in it is found from the pointer). */
static const pco_conf_src_t *
pco_health_check_src(pco_health_check_up_t *hu, size_t off, size_t size)
{
    const void  *uc = pco_conf_get(hu->u->node, &pco_upstream_module);

    return pco_conf_src_at(uc, (size_t) ((const u_char *) hu->hc - (const u_char *) uc) + off,
                           size);
}
#define PCO_HEALTH_SRC(hu, m)                                                              \
    pco_health_check_src(hu, offsetof(pco_upstream_health_conf_t, m),                      \
                         PCO_CONF_MEMBER_SIZE(pco_upstream_health_conf_t, m))

/* Checks one upstream's health_check; PCO_ERROR after reporting. */
static int
pco_health_check_validate(pco_conf_t *cf, pco_health_check_up_t *hu)
{
    const pco_conf_src_t  *src;
    const char            *err;
    int                    rc = PCO_OK;

    src = pco_health_check_src(hu, 0, sizeof(pco_upstream_health_conf_t));
    if (pco_health_check_parse_status((const char *) hu->hc->status.data, &hu->status, &err)
        != PCO_OK)
    {
        pco_conf_error_src(cf, PCO_HEALTH_SRC(hu, status),
                           "health_check.status: invalid \"%s\": %s",
                           (const char *) hu->hc->status.data, err);
        rc = PCO_ERROR;
    }
    if (hu->hc->path.len == 0 || hu->hc->path.data[0] != '/'
        || !pco_health_check_printable(&hu->hc->path, false))
    {
        pco_conf_error_src(cf, PCO_HEALTH_SRC(hu, path),
                           "health_check.path: \"%s\" must start with \"/\" and "
                           "contain no spaces or control characters",
                           (const char *) hu->hc->path.data);
        rc = PCO_ERROR;
    }
    if (!pco_health_check_printable(&hu->hc->host, false)) {
        pco_conf_error_src(cf, PCO_HEALTH_SRC(hu, host),
                           "health_check.host: spaces or control characters in "
                           "\"%s\"", (const char *) hu->hc->host.data);
        rc = PCO_ERROR;
    }
    if (hu->hc->interval == 0 || hu->hc->timeout == 0) {
        pco_conf_error_src(cf, src, "health_check: interval and timeout must be above 0");
        rc = PCO_ERROR;
    }
    return rc;
}

static int
pco_health_check_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_health_check_ctx_t  *ctx;
    pco_conf_node_t         *root = cf->root;
    pco_upstream_t          *u;
    pco_str_t                name;
    const char              *text;
    unsigned                 i, k = 0, n = 0;
    int                      rc = PCO_OK;

    for (i = 0; i < root->nchildren; i++) {
        n += root->children[i]->scope == PCO_SCOPE_UPSTREAM;
    }
    if (n == 0) {
        return PCO_OK;
    }
    ctx = pco_pcalloc(cf->pool, sizeof(*ctx));
    if (ctx == NULL) {
        return PCO_ERROR;
    }
    ctx->ups = pco_pcalloc(cf->pool, n * sizeof(pco_health_check_up_t));
    if (ctx->ups == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < n; i++) {
        text = pco_health_check_upstream_name(cf, i);
        if (text == NULL) {
            continue;
        }
        name.data = (u_char *) text;
        name.len = strlen(text);
        u = pco_upstream_find(cycle, &name);
        if (u == NULL || u->health_check == NULL) {
            continue;
        }
        ctx->ups[k].u = u;
        ctx->ups[k].hc = u->health_check;
        if (pco_health_check_validate(cf, &ctx->ups[k]) != PCO_OK) {
            rc = PCO_ERROR;
        }
        k++;
    }
    ctx->n = k;
    cycle->module_ctx[pco_health_check_module.index] = ctx;
    if (rc != PCO_OK || k == 0) {
        return rc;
    }
    return pco_helper_add(cycle, &(pco_helper_t) {
        .title = "health checker",
        .init = pco_health_check_helper_init,
        .data = ctx,
    });
}

/* True when the previous generation checked server s (same upstream, same address). */
static bool
pco_health_check_was_checked(pco_cycle_t *old, const pco_upstream_t *u,
                             const pco_upstream_server_t *s)
{
    pco_upstream_t  *ou;
    unsigned         i;

    if (old == NULL) {
        return false;
    }
    ou = pco_upstream_find(old, &u->name);
    if (ou == NULL || ou->health_check == NULL) {
        return false;
    }
    for (i = 0; i < ou->nservers; i++) {
        const pco_upstream_server_t  *os = &ou->servers[i];

        if (!os->down && os->name.len == s->name.len
            && memcmp(os->name.data, s->name.data, s->name.len) == 0
            && os->configured.len == s->configured.len
            && memcmp(os->configured.data, s->configured.data, s->configured.len) == 0)
        {
            return true;
        }
    }
    return false;
}

static int
pco_health_check_init_master(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_upstream_t  *u;
    pco_str_t        name;
    const char      *text;
    unsigned         i, k;
    int32_t          v;

    /* every upstream of this generation, found by name (ctx covers the checked ones) */
    for (i = 0; (text = pco_health_check_upstream_name(&cycle->conf, i)) != NULL; i++) {
        name.data = (u_char *) text;
        name.len = strlen(text);
        u = pco_upstream_find(cycle, &name);
        for (k = 0; u != NULL && k < u->nservers; k++) {
            pco_upstream_server_t  *s = &u->servers[k];

            if (s->shared == NULL) {
                continue;
            }
            if (u->health_check == NULL) {
                __atomic_store_n(&s->shared->health_down, 0, __ATOMIC_RELAXED);
                continue;
            }
            if (pco_health_check_was_checked(old, u, s)) {
                continue;                 /* keeps its state across the reload */
            }
            v = u->health_check->initial == 1 && !s->down;
            __atomic_store_n(&s->shared->health_down, v, __ATOMIC_RELAXED);
        }
    }
    return PCO_OK;
}

/* ---- the helper process ---- */

/* "GET path HTTP/1.1" with Host, Connection: close and User-Agent, into the cycle pool. */
static int
pco_health_check_request(pco_pool_t *pool, pco_health_check_peer_t *p)
{
    const pco_upstream_health_conf_t  *hc = p->hu->hc;
    const pco_str_t                   *host = &hc->host;
    static const pco_str_t             pco_health_check_localhost = pco_string("localhost");
    size_t                             len;
    int                                n;

    if (host->len == 0) {
        host = p->s->sockaddr.sa.sa_family == AF_UNIX ? &pco_health_check_localhost
                                                      : &p->s->name;
    }
    /* one buffer per position, sized for any server name: a position that gets another
     * server at run time rebuilds its request in place (no allocation per server added) */
    len = hc->path.len + pco_max(host->len, (size_t) PCO_UPSTREAM_NAME_LEN) + 128;
    if (p->request_cap < len) {
        p->request.data = pco_pnalloc(pool, len);
        if (p->request.data == NULL) {
            p->request_cap = 0;
            return PCO_ERROR;
        }
        p->request_cap = len;
    }
    n = snprintf((char *) p->request.data, len, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\n"
                 "Connection: close\r\nUser-Agent: portico-health-check\r\n\r\n",
                 (int) hc->path.len, (const char *) hc->path.data, (int) host->len,
                 (const char *) host->data);
    if (n < 0 || (size_t) n >= len) {
        return PCO_ERROR;
    }
    p->request.len = (size_t) n;
    return PCO_OK;
}

/* Stops checking p's position (removed, vacant, or given to another server): the timer and
 * any check in flight go, the result of that check is never written. */
static void
pco_health_check_stop(pco_health_check_peer_t *p)
{
    pco_event_del_timer(&p->timer);
    if (p->c != NULL) {
        pco_upstream_conn_close(p->c);
        p->c = NULL;
    }
    p->on = false;
}

/* Starts checking the server now at p's position, from fresh counters and the state its
 * slot has (`initial`, or the state kept across a reload), the first check `after` ms from
 * now. PCO_ERROR when memory is short. */
static int
pco_health_check_begin(pco_health_check_ctx_t *ctx, pco_health_check_peer_t *p,
                       pco_msec_t after)
{
    if (pco_health_check_request(ctx->pool, p) != PCO_OK) {
        return PCO_ERROR;
    }
    memset(&p->fsm, 0, sizeof(p->fsm));
    p->fsm.down = __atomic_load_n(&p->s->shared->health_down, __ATOMIC_RELAXED) != 0;
    p->epoch = p->s->epoch;
    p->on = true;
    p->timer.data = p;
    p->timer.handler = pco_health_check_start;
    p->timer.cancelable = 1;
    pco_event_add_timer(&p->timer, after);
    return PCO_OK;
}

/* Brings hu's checks in line with this process's view of the positions: a position that
 * became vacant (removed, or gone from DNS) or holds another server (epoch moved) stops; a
 * position in use that is not checked starts. first: the helper's start (first checks of
 * the configured servers spread evenly over one interval); later, a new server's first
 * check starts at once, so it is checked before or as it takes traffic. */
static int
pco_health_check_reconcile(pco_health_check_ctx_t *ctx, pco_health_check_up_t *hu, bool first)
{
    pco_upstream_t           *u = hu->u;
    pco_health_check_peer_t  *p;
    pco_upstream_server_t    *s;
    pco_msec_t                after;
    unsigned                  i, n = 0;
    bool                      want;

    for (i = 0; i < u->capacity; i++) {
        s = &u->servers[i];
        p = &hu->peers[i];
        /* `down = true`: never used, never checked */
        want = !s->vacant && !s->down && s->shared != NULL;
        if (p->on && (!want || p->epoch != s->epoch)) {
            pco_health_check_stop(p);
        }
        if (!want || p->on) {
            continue;
        }
        after = first ? (pco_msec_t) (hu->hc->interval * n++ / pco_upstream_npos(u)) : 0;
        if (pco_health_check_begin(ctx, p, after) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    hu->seen = u->rt_version;
    return PCO_OK;
}

/* Timer: the runtime server table changed (zone version moved) -> refresh and reconcile. */
static void
pco_health_check_sync(pco_event_t *ev)
{
    pco_health_check_ctx_t  *ctx = ev->data;
    unsigned                 i;

    if (pco_worker_exiting) {
        return;
    }
    for (i = 0; i < ctx->n; i++) {
        pco_upstream_sync(ctx->ups[i].u);
        if (ctx->ups[i].u->rt_version != ctx->ups[i].seen
            && pco_health_check_reconcile(ctx, &ctx->ups[i], false) != PCO_OK)
        {
            pco_log_err(PCO_LOG_ALERT, pco_log, 0, "health checker: out of memory");
        }
    }
    pco_event_add_timer(ev, PCO_HEALTH_CHECK_SYNC_MS);
}

static int
pco_health_check_helper_init(pco_cycle_t *cycle)
{
    pco_health_check_ctx_t   *ctx = cycle->module_ctx[pco_health_check_module.index];
    unsigned                  i, k;

    if (ctx == NULL) {
        return PCO_OK;
    }
    ctx->pool = cycle->pool;
    for (i = 0; i < ctx->n; i++) {
        pco_health_check_up_t  *hu = &ctx->ups[i];
        pco_upstream_t         *u = hu->u;

        hu->peers = pco_pcalloc(cycle->pool, u->capacity * sizeof(pco_health_check_peer_t));
        if (hu->peers == NULL) {
            return PCO_ERROR;
        }
        for (k = 0; k < u->capacity; k++) {
            hu->peers[k].s = &u->servers[k];
            hu->peers[k].hu = hu;
        }
        pco_upstream_sync(u);             /* servers added at run time, kept by a reload */
        if (pco_health_check_reconcile(ctx, hu, true) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    ctx->sync.data = ctx;
    ctx->sync.handler = pco_health_check_sync;
    ctx->sync.cancelable = 1;
    pco_event_add_timer(&ctx->sync, PCO_HEALTH_CHECK_SYNC_MS);
    pco_log_err(PCO_LOG_INFO, pco_log, 0, "health checker started");
    return PCO_OK;
}

/* Ends the check in flight: closes, updates the state machine and the shared state, logs a
 * transition, arms the next check. why: the failure (NULL on success). */
static void
pco_health_check_done(pco_health_check_peer_t *p, const char *why)
{
    pco_upstream_server_t  *s = p->s;
    int                     t;

    if (p->c != NULL) {
        pco_upstream_conn_close(p->c);
        p->c = NULL;
    }
    /* a position added at run time may have been removed, or given to another server,
     * since this process last looked: the result of this check is then not the slot's to
     * have (the sync timer stops or restarts the position) */
    if (!pco_upstream_server_lock(s)) {
        return;
    }
    t = pco_health_check_fsm(&p->fsm, why == NULL, (unsigned) p->hu->hc->rise,
                             (unsigned) p->hu->hc->fall);
    pco_health_check_publish(p, why);
    if (t != PCO_HEALTH_CHECK_SAME) {
        __atomic_store_n(&s->shared->health_down, t == PCO_HEALTH_CHECK_DOWN,
                         __ATOMIC_RELEASE);
        __atomic_store_n(&s->shared->hc_changed, (uint32_t) pco_time_sec, __ATOMIC_RELAXED);
    }
    pco_upstream_server_unlock(s);
    if (t != PCO_HEALTH_CHECK_SAME) {
        if (t == PCO_HEALTH_CHECK_DOWN) {
            pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "upstream server %.*s of \"%.*s\" is "
                        "down (health check: %s)", (int) s->name.len,
                        (const char *) s->name.data, (int) s->upstream->name.len,
                        (const char *) s->upstream->name.data, why);
        } else {
            pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "upstream server %.*s of \"%.*s\" is up",
                        (int) s->name.len, (const char *) s->name.data,
                        (int) s->upstream->name.len, (const char *) s->upstream->name.data);
        }
    } else if (why != NULL && !p->fsm.down) {
        /* a failure towards `fall` (repeated failures of a down server are not logged) */
        pco_log_err(PCO_LOG_INFO, pco_log, 0, "health check of upstream server %.*s of "
                    "\"%.*s\" failed: %s", (int) s->name.len, (const char *) s->name.data,
                    (int) s->upstream->name.len, (const char *) s->upstream->name.data, why);
    }
    if (!pco_worker_exiting) {
        pco_event_add_timer(&p->timer, p->hu->hc->interval);
    }
}

/* Monotonic microseconds: check durations on loopback are well under the loop's ms clock. */
static int64_t
pco_health_check_usec(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Publishes the details of the check that just ended for the status route. The checker is
 * the only writer; readers may see a half-updated reason string, never a torn integer. */
static void
pco_health_check_publish(pco_health_check_peer_t *p, const char *why)
{
    pco_upstream_shared_t  *sh = p->s->shared;
    int64_t                 us = pco_health_check_usec() - p->started;
    int64_t                 srtt = __atomic_load_n(&sh->hc_srtt, __ATOMIC_RELAXED);

    __atomic_store_n(&sh->hc_successes, (int32_t) p->fsm.ok, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->hc_failures, (int32_t) p->fsm.fail, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->hc_last_check,
                     (int64_t) pco_time_sec * 1000 + (int64_t) pco_time_msec_part,
                     __ATOMIC_RELAXED);
    if (why == NULL) {
        srtt = srtt == 0 ? us : srtt + (us - srtt) / 8;
        __atomic_store_n(&sh->hc_srtt, srtt, __ATOMIC_RELAXED);
    } else {
        snprintf(sh->hc_last_error, sizeof(sh->hc_last_error), "%s", why);
    }
}

/* strerror(err) with a lowercase first letter ("connection refused"), in a static buffer. */
static const char *
pco_health_check_strerror(int err)
{
    static char  buf[128];

    snprintf(buf, sizeof(buf), "%s", strerror(err));
    if (buf[0] >= 'A' && buf[0] <= 'Z') {
        buf[0] = (char) (buf[0] - 'A' + 'a');
    }
    return buf;
}

/* Timer: starts a check (non-blocking connect under `timeout`). */
static void
pco_health_check_start(pco_event_t *ev)
{
    pco_health_check_peer_t  *p = ev->data;
    pco_upstream_server_t    *s = p->s;
    pco_connection_t         *c;
    int                       fd, one = 1;

    if (pco_worker_exiting || p->c != NULL) {
        return;
    }
    p->sent = 0;
    p->got = 0;
    p->connected = false;
    p->secured = false;
    p->started = pco_health_check_usec();
    fd = socket(s->sockaddr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "health check: socket() failed");
        pco_event_add_timer(&p->timer, p->hu->hc->interval);
        return;
    }
    if (s->sockaddr.sa.sa_family != AF_UNIX) {
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, &s->sockaddr.sa, s->socklen) == -1 && errno != EINPROGRESS) {
        int  err = errno;

        close(fd);
        pco_health_check_done(p, pco_health_check_strerror(err));
        return;
    }
    c = pco_conn_get(fd);
    if (c == NULL) {                    /* at worker_connections: try again next interval */
        close(fd);
        pco_event_add_timer(&p->timer, p->hu->hc->interval);
        return;
    }
    c->data = p;
    c->log = pco_log;
    c->sockaddr = s->sockaddr;
    c->socklen = s->socklen;
    c->read.handler = pco_health_check_read;
    c->write.handler = pco_health_check_write;
    p->c = c;
    if (pco_event_add_conn(c) != PCO_OK) {
        pco_health_check_done(p, "epoll failed");
        return;
    }
    pco_event_add_timer(&c->read, p->hu->hc->timeout);   /* connect + status line */
}

/* A server that expects a PROXY protocol header gets one naming no client: v1 "PROXY
 * UNKNOWN", v2 LOCAL (the balancer's own connection), as the first bytes, before TLS. */
static int
pco_health_check_proxy_header(pco_connection_t *c, pco_upstream_server_t *s)
{
    u_char   buf[PCO_PROXY_PROTOCOL_BUILD_MAX];
    size_t   n;

    n = pco_proxy_protocol_build(buf, sizeof(buf), s->send_proxy_protocol, NULL, 0, NULL, 0);
    return n > 0 && send(c->fd, buf, n, MSG_NOSIGNAL) == (ssize_t) n ? PCO_OK : PCO_ERROR;
}

static void
pco_health_check_write(pco_event_t *ev)
{
    pco_connection_t         *c = ev->data;
    pco_health_check_peer_t  *p = c->data;
    int                       err = 0;
    socklen_t                 len = sizeof(err);
    ssize_t                   n;
    int                       rc;

    if (!p->connected) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }
        if (err != 0) {
            pco_health_check_done(p, pco_health_check_strerror(err));
            return;
        }
        p->connected = true;
        if (p->s->send_proxy_protocol && pco_health_check_proxy_header(c, p->s) != PCO_OK) {
            pco_health_check_done(p, "sending the PROXY header failed");
            return;
        }
    }
    if (!p->secured && p->s->upstream->tls != NULL) {
        /* TLS upstream: the same context, name check and session reuse as the proxy */
        rc = pco_upstream_tls_ops->handshake(c, p->s);
        if (rc == PCO_AGAIN) {
            return;
        }
        if (rc != PCO_OK) {
            pco_health_check_done(p, "TLS handshake failed");
            return;
        }
        p->secured = true;
    }
    while (p->sent < p->request.len) {
        n = c->io->send(c, p->request.data + p->sent, p->request.len - p->sent);
        if (n == PCO_AGAIN) {
            return;
        }
        if (n < 0) {
            pco_health_check_done(p, pco_health_check_strerror(errno));
            return;
        }
        p->sent += (size_t) n;
    }
    if (c->read.ready || c->read.eof) {
        pco_health_check_read(&c->read);
    }
}

static void
pco_health_check_read(pco_event_t *ev)
{
    pco_connection_t         *c = ev->data;
    pco_health_check_peer_t  *p = c->data;
    char                      why[64];
    ssize_t                   n;
    int                       status, rc;

    if (ev->timedout) {
        pco_health_check_done(p, "timed out");
        return;
    }
    if (!p->connected || (!p->secured && p->s->upstream->tls != NULL)) {
        pco_health_check_write(&c->write);
        return;
    }
    if (p->sent < p->request.len) {
        return;                             /* the write side finishes first */
    }
    for (;;) {
        n = c->io->recv(c, p->buf + p->got, PCO_HEALTH_CHECK_BUF - p->got);
        if (n == PCO_AGAIN) {
            return;
        }
        if (n < 0) {
            pco_health_check_done(p, pco_health_check_strerror(errno));
            return;
        }
        if (n == 0) {
            pco_health_check_done(p, "connection closed before the status line");
            return;
        }
        p->got += (size_t) n;
        rc = pco_health_check_parse_line(p->buf, p->got, &status);
        if (rc == PCO_ERROR || (rc == PCO_AGAIN && p->got == PCO_HEALTH_CHECK_BUF)) {
            pco_health_check_done(p, "invalid status line");
            return;
        }
        if (rc == PCO_OK) {
            if (pco_health_check_status_ok(&p->hu->status, status)) {
                pco_health_check_done(p, NULL);
            } else {
                snprintf(why, sizeof(why), "status %d", status);
                pco_health_check_done(p, why);
            }
            return;
        }
    }
}
