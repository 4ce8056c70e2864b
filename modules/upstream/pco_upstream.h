/*
 * pco_upstream.h: upstream groups (the `upstreams` list), their servers, the balancer
 * interface and the shared per-server state (passive health, active connections per
 * instance) that every worker sees at once. Used by the proxy module (and later by the
 * health checker, which writes into the same shared state).
 *
 * Balancers are separate small modules (modules/upstream_<name>/) that register themselves
 * with pco_upstream_balancer_add at conf_done; an upstream names one with `balance`. The
 * module of balance "NAME" must be called "upstream_NAME": the upstream module checks the
 * name against the compiled-in modules at its own conf_done, so an unknown balance is
 * reported together with every other configuration error.
 */
#ifndef PCO_UPSTREAM_H
#define PCO_UPSTREAM_H

#include "pco_http.h"
#include "pco_shm.h"

extern pco_module_t pco_upstream_module;

typedef struct pco_upstream_s        pco_upstream_t;
typedef struct pco_upstream_server_s pco_upstream_server_t;

/* An upstream's `tls` block (docs/settings.md): TLS to its servers when enable is true. */
typedef struct {
    bool         enable;
    bool         verify;
    pco_str_t    ca;             /* empty: the system store */
    pco_str_t    server_name;    /* empty: the host part of each server address as written */
    pco_str_t    certificate;    /* client certificate (optional, with key) */
    pco_str_t    key;
} pco_upstream_tls_conf_t;

/* Latency histogram buckets of pco_upstream_stats_t: upper bounds in microseconds
 * (pco_upstream_stats.h has the table), the last bucket is +Inf. */
#define PCO_UPSTREAM_STATS_NBUCKETS  16

typedef struct {
    uint64_t    bucket[PCO_UPSTREAM_STATS_NBUCKETS + 1];   /* not cumulative; +Inf last */
    uint64_t    sum_us;
} pco_upstream_hist_t;

/* Traffic statistics of one upstream server for the whole instance, kept in its zone slot
 * (so a server added at run time has them too, and a reload that keeps the server keeps
 * them). Monotonic; every process adds with relaxed atomics (no lock); the status route
 * reads them. Written by the proxy module (pco_upstream_stats.h). */
typedef struct {
    uint64_t             sent_bytes;       /* request bytes written to the server */
    uint64_t             received_bytes;   /* response bytes read from it (head and body) */
    uint64_t             connect_errors;   /* connect refused, reset or unreachable */
    uint64_t             timeouts;         /* connect, send or read timeout */
    uint64_t             bad_responses;    /* invalid or oversized response head, bad body */
    uint64_t             aborts;           /* server closed or reset mid-response */
    uint64_t             client_aborts;    /* the client went away during the try */
    uint64_t             retries;          /* tries to it that were not a request's first */
    pco_upstream_hist_t  connect;          /* try start to connected (fresh connections) */
    pco_upstream_hist_t  header;           /* try start to the end of the response head */
    pco_upstream_hist_t  response;         /* try start to the last byte (or the failure) */
} pco_upstream_stats_t;

/* Shared (per instance) state of one server, in the upstream zone; written with atomics. */
typedef struct {
    int64_t     fails;            /* failures in the current fail_timeout window */
    int64_t     window_start;     /* ms (CLOCK_MONOTONIC, same on all processes) */
    int64_t     down_until;       /* passive mark: no traffic before this ms */
    int64_t     active;           /* connections in flight, all workers (gauge) */
    int32_t     health_down;      /* active health checks say down (later issue) */
    uint32_t    hc_changed;       /* unix seconds of the health checker's last up/down flip;
                                     0 = none since the instance started */
    uint64_t    requests;         /* monotonic: tries sent to this server */
    /* active health checks: written by the health checker only, read by the status route */
    int32_t     hc_successes;     /* consecutive successful checks */
    int32_t     hc_failures;      /* consecutive failed checks */
    int64_t     hc_last_check;    /* wall-clock ms when the last check ended; 0 = never */
    int64_t     hc_srtt;          /* smoothed check duration, microseconds (EWMA 1/8) */
    char        hc_last_error[40];    /* why the last failed check failed, NUL-terminated */
    pco_upstream_stats_t  stats;  /* traffic statistics (pco_upstream_stats.h); last, so the
                                     fields above keep their offsets */
} pco_upstream_shared_t;

struct pco_upstream_server_s {
    pco_str_t               name;         /* "127.0.0.1:9001" as resolved (for $upstream_addr) */
    pco_str_t               configured;   /* the address as written */
    pco_sockaddr_t          sockaddr;
    socklen_t               socklen;
    int64_t                 weight;
    int64_t                 max_conns;    /* 0 = unlimited, per instance */
    bool                    backup;
    bool                    down;
    unsigned                send_proxy_protocol;  /* 0 off, else the PROXY version: 1, 2 */
    unsigned                index;        /* within the upstream (primaries then backups) */
    pco_upstream_shared_t  *shared;       /* in the zone (valid after init_master) */
    pco_upstream_t         *upstream;
    int                     active_counter;   /* gauge "upstream_active{..}" or -1: then
                                                 shared->active is used (unit tests) */
    void                   *tls_session;  /* per worker: the last SSL_SESSION (TLS only) */
};

/* What a balancer keeps per worker per upstream (allocated by its init). */
typedef struct pco_upstream_balancer_s {
    const char   *name;
    /* conf time: validate the upstream (e.g. hash needs hash_key) and build its data */
    int         (*init)(pco_conf_t *cf, pco_upstream_t *u);
    /* request time: picks a server among those for which pco_upstream_usable() is true and
     * whose bit in tried[] is clear; NULL when none. key: the hash key (hash/ip_hash). */
    pco_upstream_server_t *(*pick)(pco_upstream_t *u, const pco_str_t *key,
                                   const uint64_t *tried, bool backup);
    /* pick reads key: the proxy computes it (a template or the client address formatted)
     * only for such balancers; the others get an empty key */
    bool          uses_key;
} pco_upstream_balancer_t;

/* An upstream's `health_check` block (docs/settings.md), run by modules/health_check. */
typedef struct {
    pco_str_t    path;
    pco_msec_t   interval;
    pco_msec_t   timeout;
    int64_t      rise;
    int64_t      fall;
    pco_str_t    status;
    pco_str_t    host;
    int          initial;        /* 0 "up", 1 "down" */
} pco_upstream_health_conf_t;

struct pco_upstream_s {
    pco_str_t                       name;
    pco_conf_node_t                *node;
    pco_upstream_server_t          *servers;     /* primaries first, then backups */
    unsigned                        nservers;
    unsigned                        nprimary;
    const pco_upstream_balancer_t  *balancer;
    void                           *balancer_data;   /* per generation; per-worker state
                                                         must be created in init_worker */
    pco_http_template_t            *hash_key;    /* hash */
    /* settings (docs/settings.md, docs/http.md defaults) */
    int64_t                         keepalive;   /* idle connections per worker */
    pco_msec_t                      keepalive_timeout;
    int64_t                         keepalive_requests;
    pco_msec_t                      connect_timeout;
    pco_msec_t                      read_timeout;
    pco_msec_t                      send_timeout;
    int64_t                         retries;
    unsigned                        next_upstream;   /* PCO_UPSTREAM_NEXT_* bits */
    pco_msec_t                      next_upstream_timeout;   /* 0 = unlimited */
    int64_t                         max_fails;
    pco_msec_t                      fail_timeout;
    void                           *pool;        /* the proxy's keep-alive pool (per worker) */
    const pco_upstream_health_conf_t *health_check;  /* NULL: no health_check block */
    const pco_upstream_tls_conf_t  *tls;         /* NULL: plain TCP (no block, enable false) */
    void                           *tls_ctx;     /* the client SSL_CTX (tls module) */
};

#define PCO_UPSTREAM_NEXT_ERROR    0x01
#define PCO_UPSTREAM_NEXT_TIMEOUT  0x02
#define PCO_UPSTREAM_NEXT_500      0x04
#define PCO_UPSTREAM_NEXT_502      0x08
#define PCO_UPSTREAM_NEXT_503      0x10
#define PCO_UPSTREAM_NEXT_504      0x20
#define PCO_UPSTREAM_NEXT_429      0x40
#define PCO_UPSTREAM_NEXT_OFF      0x80

#define PCO_UPSTREAM_MAX_SERVERS   1024   /* tried[] bitmap words = 16 */

/* conf_done of other modules: the upstream named `name`, or NULL. */
pco_upstream_t *pco_upstream_find(pco_cycle_t *cycle, const pco_str_t *name);
/* A balancer module registers itself (16 at most; PCO_ERROR after reporting which). */
int pco_upstream_balancer_add(pco_conf_t *cf, pco_cycle_t *cycle,
                              const pco_upstream_balancer_t *b);

/* Request time. Picks a server for a new try (primaries, then backups when every primary is
 * unusable); NULL when none is left (-> 503 without a connect attempt). Marks it tried and
 * counts one active connection for it (instance-wide). */
pco_upstream_server_t *pco_upstream_get(pco_upstream_t *u, const pco_str_t *key,
                                        uint64_t *tried);
/* Ends a try: releases the active count; failed = a failure for passive health (connect
 * error/timeout, read timeout, or a status listed in next_upstream). */
void pco_upstream_done(pco_upstream_server_t *s, bool failed);
/* Usable now: not down, not passively marked, not health-down, under max_conns. */
bool pco_upstream_usable(const pco_upstream_server_t *s);
/* Try observers: told of every finished try (one call per try, when its outcome is known):
 * status 0 when no response status came, ms as in $upstream_response_time. Any module adds
 * one at conf_done with pco_upstream_try_observer_add (8 at most; PCO_ERROR after reporting
 * `module "NAME": ...`; m NULL: cf->module); the list belongs to the cycle, so a rejected
 * reload leaves the running generation's observers as they were. The module that proxies
 * calls pco_upstream_try_report, which calls the current generation's observers in the
 * order registered (an array walk, no allocation). */
typedef void (*pco_upstream_try_pt)(pco_http_request_t *r, pco_upstream_server_t *s,
                                    int status, int64_t ms);
int pco_upstream_try_observer_add(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                                  pco_upstream_try_pt h);
void pco_upstream_try_report(pco_http_request_t *r, pco_upstream_server_t *s, int status,
                             int64_t ms);
/* conf_done of other modules: the configured upstream name closest to name (within two
 * edits), for a "did you mean"; NULL when none is close. */
const char *pco_upstream_suggest(pco_cycle_t *cycle, const char *name);

/* Additions (upstream engineer). A registered balancer by name, or NULL. */
const pco_upstream_balancer_t *pco_upstream_balancer_find(pco_cycle_t *cycle,
                                                          const char *name);
/* The key to pass to pco_upstream_get for r (evaluate once per request, reuse for every
 * try): the hash_key template evaluated (balance = "hash"; ip_hash uses hash_key when set,
 * else "$remote_addr"); an empty key when the upstream has none. PCO_OK or PCO_ERROR. */
int pco_upstream_request_key(pco_http_request_t *r, pco_upstream_t *u, pco_str_t *key);
/* Connections in flight to s, all workers. */
int64_t pco_upstream_active(const pco_upstream_server_t *s);
/* usable, its tried[] bit clear, and in the primaries (backup false) or the backups. */
bool pco_upstream_candidate(const pco_upstream_server_t *s, const uint64_t *tried,
                            bool backup);
/* Passive health maths (pure, at now): a failure / a success of a try to s. A failure
 * returns true when it has just marked the server down. */
bool pco_upstream_health_fail(pco_upstream_server_t *s, pco_msec_t now);
void pco_upstream_health_ok(pco_upstream_server_t *s, pco_msec_t now);
/* Smooth weighted round robin (nginx), shared by round_robin and the fall-backs of other
 * balancers. State per worker: one current weight per server. */
typedef struct {
    int64_t  *current;
} pco_upstream_rr_t;
pco_upstream_rr_t *pco_upstream_rr_create(pco_pool_t *pool, const pco_upstream_t *u);
pco_upstream_server_t *pco_upstream_rr_pick(pco_upstream_t *u, pco_upstream_rr_t *rr,
                                            const uint64_t *tried, bool backup);

/* Per-worker counters (core/pco_shm.h slots, summed by readers; -1 until registered at
 * conf_done, and pco_counter_add ignores -1): "upstream_requests" (tries sent: one per
 * pco_upstream_get), "upstream_conn_reused" (tries sent on an idle pooled connection),
 * "upstream_conn_opened" (tries that found no idle connection and opened one). The reuse
 * ratio is reused / requests. Each worker logs its own at info when it exits, the master the
 * instance totals when it exits ("upstream connections: ..."). */
/*
 * TLS to upstream servers, implemented by the tls module (modules/tls/pco_tls_client.c) and
 * reached through pco_upstream_tls_ops (NULL when the tls module is not built: an upstream
 * with tls.enable is then a configuration error).
 *   init       upstream conf_done: builds u->tls_ctx from u->tls (CA, client pair, TLS
 *              1.2+); PCO_ERROR after reporting at src.
 *   handshake  a fresh connection c to s, TCP connected: starts or continues the
 *              non-blocking client handshake (SNI, verification, session reuse). PCO_OK:
 *              done, c->io is TLS; PCO_AGAIN: call again on c's next read or write event;
 *              PCO_ERROR: failed, the reason logged at error on c->log.
 *   free       frees c->tls (no-op when NULL); called by pco_upstream_conn_close.
 */
typedef struct {
    int   (*init)(pco_conf_t *cf, pco_cycle_t *cycle, pco_upstream_t *u,
                  const pco_conf_src_t *src);
    int   (*handshake)(pco_connection_t *c, pco_upstream_server_t *s);
    void  (*free)(pco_connection_t *c);
} pco_upstream_tls_ops_t;

extern const pco_upstream_tls_ops_t *pco_upstream_tls_ops;

/* Closes a connection to an upstream server: frees its TLS state, then pco_conn_close. */
void pco_upstream_conn_close(pco_connection_t *c);

extern int  pco_upstream_ctr_requests;
extern int  pco_upstream_ctr_reused;
extern int  pco_upstream_ctr_opened;

#endif
