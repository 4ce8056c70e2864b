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

/* Admin state of a server position (the admin API; pco_upstream_dyn_set). */
#define PCO_UPSTREAM_ADMIN_UP     0     /* as configured */
#define PCO_UPSTREAM_ADMIN_DRAIN  1     /* no new requests; in flight finish; idle pooled
                                           connections to it are closed, never reused */
#define PCO_UPSTREAM_ADMIN_DOWN   2     /* never picked (passive/health state kept apart) */

/* Where a position's server comes from. */
#define PCO_UPSTREAM_ORIGIN_CONF  0     /* the configuration (positions [0, nservers)) */
#define PCO_UPSTREAM_ORIGIN_API   1     /* added at run time by the admin API */
#define PCO_UPSTREAM_ORIGIN_DNS   2     /* added by re-resolution of a resolve = true entry */

#define PCO_UPSTREAM_NAME_LEN     128   /* "10.0.0.5:80", "[v6]:port", "unix:/path" + NUL */

/*
 * The runtime part of a position's slot in the zone (written under the zone's lock, by any
 * process; read by each worker when the zone version moved, see pco_upstream_sync).
 * Configured positions use admin and weight only (kept across reloads with the slot, while
 * the server stays in the configuration). Dynamic positions (origin API or DNS) carry the
 * whole server: a dynamic slot belongs to upstream_key at `position` while in_use.
 */
typedef struct {
    uint64_t        upstream_key;     /* pco_upstream_name_key(upstream name) */
    int32_t         admin;            /* PCO_UPSTREAM_ADMIN_* */
    int32_t         weight;           /* 0: the configured weight */
    int32_t         origin;           /* PCO_UPSTREAM_ORIGIN_* */
    int32_t         entry;            /* DNS: the configured entry's number; else -1 */
    int32_t         position;         /* the index within the upstream */
    uint8_t         in_use;           /* dynamic: the server exists */
    uint8_t         backup;
    uint8_t         gone;             /* configured position removed by re-resolution */
    uint8_t         pad;
    int64_t         max_conns;
    pco_sockaddr_t  sockaddr;
    uint32_t        socklen;
    char            name[PCO_UPSTREAM_NAME_LEN];   /* NUL-terminated */
} pco_upstream_runtime_t;

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
    pco_upstream_runtime_t  rt;   /* admin state, weight, dynamic server (under the lock) */
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
    pco_upstream_shared_t  *shared;       /* in the zone (valid after init_master; for a
                                             dynamic position after its first sync) */
    pco_upstream_t         *upstream;
    int                     active_counter;   /* gauge "upstream_active{..}" or -1: then
                                                 shared->active is used (unit tests, dynamic
                                                 positions) */
    void                   *tls_session;  /* per worker: the last SSL_SESSION (TLS only) */
    /* runtime view (per process, refreshed by pco_upstream_sync from the zone) */
    bool                    vacant;       /* a free or removed position: never used */
    int                     admin;        /* PCO_UPSTREAM_ADMIN_* */
    int                     origin;       /* PCO_UPSTREAM_ORIGIN_* */
    int                     entry;        /* the configured entry (pco_upstream_entries) of a
                                             configured or DNS position; -1: API */
    int64_t                 conf_weight;  /* weight as configured (or as added) */
    uint64_t                epoch;        /* bumped when the position gets another server:
                                             a pooled connection of an older epoch is closed */
    u_char                  dyn_name[PCO_UPSTREAM_NAME_LEN];  /* name storage, dynamic */
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
    /* optional, per process: the positions changed (a server added or removed, a weight
     * or state changed); called by pco_upstream_sync after it refreshed u->servers, so a
     * balancer rebuilds what it derived from them (hash ring, current weights). Never
     * blocks; on failure it keeps its previous data. */
    void        (*update)(pco_upstream_t *u);
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

/* A server entry as written in the upstream's `servers` list (numbered from 0 in the order
 * written), for the resolver: see pco_upstream_entries. */
typedef struct {
    pco_str_t       configured;       /* the address as written: "backend.test:8080" */
    pco_str_t       host;             /* "backend.test" (empty for unix:) */
    in_port_t       port;             /* host order; 0 for unix: */
    bool            resolve;          /* resolve = true */
    bool            backup;
    bool            down;
    int64_t         weight;
    int64_t         max_conns;
    unsigned        send_proxy_protocol;
} pco_upstream_entry_t;

struct pco_upstream_s {
    pco_str_t                       name;
    pco_conf_node_t                *node;
    /* Positions: [0, nservers) the configured servers (primaries, then backups), then free
     * positions for servers added at run time, up to `capacity` (setting max_servers). The
     * index of a position never changes within a generation. Balancers walk
     * [0, npositions) and must not assume primaries and backups are contiguous past
     * nservers: pco_upstream_candidate filters on backup and on in_use. */
    pco_upstream_server_t          *servers;
    unsigned                        nservers;    /* configured positions */
    unsigned                        nprimary;    /* configured primaries */
    unsigned                        npositions;  /* per process: highest in use + 1 */
    unsigned                        capacity;
    uint64_t                        key;         /* pco_upstream_name_key(name) */
    uint64_t                        rt_version;  /* per process: the zone version seen */
    void                           *rt_zone;     /* the zone (its header) */
    pco_upstream_entry_t           *entries;     /* as written */
    unsigned                        nentries;
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

#define PCO_UPSTREAM_MAX_SERVERS   1024   /* tried[] bitmap words = 16; also the most
                                             positions (capacity) of one upstream */
#define PCO_UPSTREAM_DYN_DEFAULT   32     /* default free positions: max_servers unset */
#define PCO_UPSTREAM_DYN_ZONE      1024   /* zone room for servers added at run time, all
                                             upstreams together (beyond it: 409) */

/*
 * The runtime server table (admin API, DNS re-resolution). Every function below works in
 * any process that has the generation's zone (master after init_master, workers, helpers),
 * takes the zone's robust lock for a few microseconds (never blocks otherwise), changes the
 * zone and bumps the zone's version; each process notices the version at its next
 * pco_upstream_get (one atomic load) and refreshes its view (pco_upstream_sync). err gets
 * a short reason (no trailing period) when PCO_ERROR is returned; *code (may be NULL) an
 * HTTP status for it: 404 no such position, 409 conflict (exists, configured, full), 400
 * bad value.
 */
typedef struct {
    const pco_sockaddr_t  *sockaddr;
    socklen_t              socklen;
    int64_t                weight;       /* 1..1000 */
    int64_t                max_conns;    /* 0 = unlimited */
    bool                   backup;       /* refused with hash and ip_hash */
    int                    admin;        /* PCO_UPSTREAM_ADMIN_* to start with */
    int                    origin;       /* PCO_UPSTREAM_ORIGIN_API or _DNS */
    int                    entry;        /* DNS: the entry; else -1 */
} pco_upstream_dyn_spec_t;

/* Adds a server at the lowest free position (none in flight to a previous occupant);
 * *index receives it. A server with the same address already in the upstream: 409. */
int pco_upstream_dyn_add(pco_upstream_t *u, const pco_upstream_dyn_spec_t *spec,
                         unsigned *index, int *code, char *err, size_t errlen);
/* Removes a dynamic server (requests in flight to it finish); a configured one: 409. */
int pco_upstream_dyn_remove(pco_upstream_t *u, unsigned index, int *code, char *err,
                            size_t errlen);
/* Sets the admin state (-1: keep) and the weight (0: keep; -1: back to the configured
 * weight) of a position in use. */
int pco_upstream_dyn_set(pco_upstream_t *u, unsigned index, int admin, int64_t weight,
                         int *code, char *err, size_t errlen);
/* DNS: replaces the set of addresses of configured entry `entry` (written with resolve =
 * true). Addresses already present keep their position (and state); new ones take free
 * positions with the entry's options; ones gone are removed (requests in flight finish).
 * n == 0 is refused (the caller keeps the last good set). Returns the number of positions
 * changed, or -1 with err set (no free position: the addresses that fit are applied). */
int pco_upstream_resolved_set(pco_upstream_t *u, unsigned entry,
                              const pco_sockaddr_t *addrs, const socklen_t *lens,
                              unsigned n, char *err, size_t errlen);
/* The configured entries (numbered as written), for the resolver. */
const pco_upstream_entry_t *pco_upstream_entries(const pco_upstream_t *u, unsigned *n);
/* The end of the positions to walk: [0, pco_upstream_npos(u)). */
static inline unsigned
pco_upstream_npos(const pco_upstream_t *u)
{
    return u->npositions > u->nservers ? u->npositions : u->nservers;
}
/* Whether the zone (and so the runtime state) was kept from the previous generation. */
bool pco_upstream_zone_kept(pco_cycle_t *cycle);
/* Refreshes this process's view of u's positions when the zone version moved (one atomic
 * load when it did not): address, name, weight, state, vacant, npositions, then the
 * balancer's update hook. Called by pco_upstream_get; call it before reading positions
 * past nservers elsewhere (the admin listing). */
void pco_upstream_sync(pco_upstream_t *u);
/* For a writer of a position's slot outside the lock (the health checker): whether s still
 * holds the server this process's view has (a dynamic position may have been removed, or
 * given to another server, since this process's last pco_upstream_sync). True: write
 * s->shared, then call pco_upstream_server_unlock(s) (for a dynamic position the zone's
 * lock is held in between: a few stores, nothing else). False: the slot is not s's any
 * more (nothing held); the next sync shows the change. */
bool pco_upstream_server_lock(pco_upstream_server_t *s);
void pco_upstream_server_unlock(pco_upstream_server_t *s);
/* The zone's version (changes counter; 0 without a zone), e.g. for a state-file writer. */
uint64_t pco_upstream_version(pco_cycle_t *cycle);
/* The upstreams of a generation (array and count). */
pco_upstream_t *pco_upstream_all(pco_cycle_t *cycle, unsigned *n);
/* The hash used for upstream_key. */
uint64_t pco_upstream_name_key(const pco_str_t *name);
/* "127.0.0.1:9001", "[::1]:9001", "unix:/path" into buf; PCO_ERROR when it does not fit. */
int pco_upstream_addr_format(const pco_sockaddr_t *sa, char *buf, size_t size);

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
/* Usable now: in use, admin up, not down, not passively marked, not health-down, under
 * max_conns. */
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
    int64_t  *current;               /* per position (capacity) */
    unsigned  n;
} pco_upstream_rr_t;
pco_upstream_rr_t *pco_upstream_rr_create(pco_pool_t *pool, const pco_upstream_t *u);
/* Zeroes the current weights (a balancer's update hook: a weight changed, so the smooth
 * sequence restarts exactly from the new weights). */
void pco_upstream_rr_reset(pco_upstream_rr_t *rr);
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
