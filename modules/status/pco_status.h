/*
 * pco_status.h: the status module's internals, shared by its three files and exposed for
 * the unit tests (t/unit/test_status.c): the per-generation tables of counter ids built at
 * conf_done (pco_status.c), the Prometheus/JSON writers (pco_status_output.c) and the pure
 * rendering helpers: a growable, capped output buffer, Prometheus label escaping and sample
 * lines, JSON string escaping (pco_status_render.c).
 *
 * Counter ids index core/pco_shm.h's counter table; -1 means "not registered" (the table was
 * too full): pco_counter_add ignores it and the writers print 0.
 */
#ifndef PCO_STATUS_H
#define PCO_STATUS_H

#include "pco_http.h"
#include "pco_upstream.h"
#include "pco_shm.h"

extern pco_module_t pco_status_module;

/* Latency histogram buckets (upper bounds in ms, Prometheus `le` in seconds). */
#define PCO_STATUS_NBUCKETS  11

extern const int64_t     pco_status_bucket_ms[PCO_STATUS_NBUCKETS];
extern const char *const pco_status_bucket_le[PCO_STATUS_NBUCKETS];

/* ---- rendering helpers (pure; no process state) ---- */

typedef struct {
    u_char   *data;      /* malloc'd */
    size_t    len;
    size_t    cap;
    size_t    max;       /* hard cap: crossing it sets failed */
    bool      failed;    /* out of memory or over max: the content is incomplete */
} pco_status_buf_t;

typedef struct {
    const char  *name;
    pco_str_t    value;
} pco_status_label_t;

void pco_status_buf_init(pco_status_buf_t *b, size_t max);
void pco_status_buf_free(pco_status_buf_t *b);
void pco_status_buf_add(pco_status_buf_t *b, const void *p, size_t n);
void pco_status_buf_cstr(pco_status_buf_t *b, const char *s);
void pco_status_buf_int(pco_status_buf_t *b, int64_t v);
/* Milliseconds as seconds with three decimals: 1234 -> "1.234". */
void pco_status_buf_msec(pco_status_buf_t *b, int64_t ms);

/* Prometheus text 0.0.4: a label value with \ " and newline escaped as \\ \" \n. */
void pco_status_prom_escape(pco_status_buf_t *b, const u_char *p, size_t n);
/* "# HELP portico_NAME help\n# TYPE portico_NAME type\n" */
void pco_status_prom_family(pco_status_buf_t *b, const char *name, const char *type,
                            const char *help);
/* "portico_NAME{l1="v1",l2="v2"} value\n" (no braces without labels); value printed as
 * given (already a valid number). */
void pco_status_prom_sample(pco_status_buf_t *b, const char *name,
                            const pco_status_label_t *labels, size_t nlabels,
                            const char *value);
void pco_status_prom_int(pco_status_buf_t *b, const char *name,
                         const pco_status_label_t *labels, size_t nlabels, int64_t v);

/* JSON: a quoted string, escaping " \ and bytes below 0x20 and 0x7f (\n, \t, \uXXXX...). */
void pco_status_json_string(pco_status_buf_t *b, const u_char *p, size_t n);

/* Prometheus histogram samples NAME_bucket{labels...,le}, NAME_sum (seconds from
 * microseconds), NAME_count from per-bucket (not cumulative) counts; labels needs room for
 * nlabels + 1 entries (le is added). */
void pco_status_prom_histogram(pco_status_buf_t *b, const char *name,
                               pco_status_label_t *labels, size_t nlabels,
                               const uint64_t *bucket, size_t nbuckets,
                               const char *const *le, uint64_t sum_us);
/* A NUL-terminated string as a pco_str_t (a label value; not copied). */
pco_str_t pco_status_cstr(const char *s);
/* Microseconds as seconds with six decimals: 1234 -> "0.001234". */
void pco_status_buf_usec(pco_status_buf_t *b, uint64_t us);
/* The counter key of a server ("LISTEN|NAME") or a route ("LISTEN|NAME|ROUTE") into buf
 * (size bytes, truncated); its length. */
size_t pco_status_key(char *buf, size_t size, const pco_str_t *listen, const pco_str_t *name,
                      const pco_str_t *route);

/* "127.0.0.1", "::1", any 127.0.0.0/8 (also IPv4-mapped) and unix sockets are local. */
bool pco_status_is_loopback(const pco_sockaddr_t *sa);

/* ---- per-generation tables (cycle pool) ---- */

typedef struct {
    int             requests;
    int             cls[5];         /* 1xx..5xx */
    int             received;       /* bytes received from clients ($request_length) */
    int             sent;           /* bytes sent to clients ($bytes_sent) */
    int             aborts;         /* requests logged with 499 (the client went away) */
} pco_status_counters_t;

typedef struct {
    pco_upstream_server_t  *s;
    int                     tries;      /* one per try sent to the server */
    int                     failures;   /* tries without a response status ("-") */
    int                     cls[5];     /* responses by status class */
} pco_status_userver_t;

typedef struct {
    pco_upstream_t         *u;
    pco_status_userver_t   *servers;    /* u->nservers */
    int                     bucket[PCO_STATUS_NBUCKETS + 1];   /* per bucket, +Inf last;
                                                                  not cumulative */
    int                     sum_ms;
} pco_status_upstream_t;

typedef struct pco_status_ctx_s pco_status_ctx_t;

/* The module's configuration struct, one per scope node; the fields after `format` are
 * filled at conf_done for server and route nodes. */
typedef struct {
    int                     format;     /* `status = { format; }`: 0 prometheus, 1 json */
    /* conf_done */
    bool                    counted;    /* a server or route node with counters */
    bool                    has_access; /* route: its own `access` decides who may read */
    pco_status_counters_t   c;
    pco_str_t               label;      /* route: its `name` or default label */
    pco_status_upstream_t  *up;         /* route: the upstream it proxies to, or NULL */
    pco_status_ctx_t       *ctx;
} pco_status_conf_t;

typedef struct {
    pco_str_t               name;       /* first of `names`, "_" when none */
    pco_str_t               listen;     /* first `listen` address as written */
    pco_status_conf_t      *conf;
    pco_status_conf_t     **routes;
    size_t                  nroutes;
} pco_status_server_t;

struct pco_status_ctx_s {
    pco_status_server_t    *servers;
    size_t                  nservers;
    pco_status_upstream_t  *upstreams;
    size_t                  nupstreams;
    /* counters of other parts of portico (found by name; -1 when absent) */
    int                     reloads;
    int                     reloads_failed;
    int                     restarts;
    int                     syslog_dropped; /* syslog messages that could not be sent */
    pco_status_counters_t   http;
    int                     proto[3];       /* requests over HTTP/1.0, HTTP/1.1, HTTP/2 */
    int                     h2_active;      /* HTTP/2 connections (the http2 module's) */
    int                     h2_total;
    int                     h2_calm;
    int                     conn_active;
    int                     conn_idle;
    int                     conn_total;
    int                     up_requests;
    int                     up_reused;
    int                     up_opened;
};

/* pco_status_stats.c: the upstream traffic families (Prometheus, in the document's order),
 * the proxy's per-upstream counter PREFIX:NAME (0 when absent), and the JSON members of the
 * statistics of the servers of u named as u->servers[j]. */
void pco_status_prom_stats(const pco_status_ctx_t *ctx, pco_status_buf_t *b);
void pco_status_prom_upstream_counters(const pco_status_ctx_t *ctx, pco_status_buf_t *b);
int64_t pco_status_upstream_counter(const char *prefix, const pco_upstream_t *u);
void pco_status_json_stats(pco_status_buf_t *b, const pco_upstream_t *u, unsigned j);
/* pco_status_output.c: ,"key":v (the comma when comma is true). */
void pco_status_json_key(pco_status_buf_t *b, const char *key, int64_t v, bool comma);

/* pco_status_output.c: the whole document into b. */
void pco_status_prometheus(const pco_status_ctx_t *ctx, pco_status_buf_t *b);
void pco_status_json(const pco_status_ctx_t *ctx, pco_status_buf_t *b);
/* pco_status_process.c: the TLS, health and process families (Prometheus), and the JSON
 * members "tls", "health" and "process" (each written with a leading comma). */
void pco_status_process_prometheus(const pco_status_ctx_t *ctx, pco_status_buf_t *b);
void pco_status_process_json(const pco_status_ctx_t *ctx, pco_status_buf_t *b);
/* pco_status_resolver.c: the resolver module's families and the JSON "resolver" list
 * (nothing at all when no server has resolve = true). */
void pco_status_prom_resolver(pco_status_buf_t *b);
void pco_status_json_resolver(pco_status_buf_t *b);
/* pco_status_stats.c: true when position j is the first non-vacant position of u with its
 * name (a later one with the same name is summed into it or left out). */
bool pco_status_stats_first(const pco_upstream_t *u, unsigned j);
/* 1 when the server is up (not `down`, not health-down, not passively marked), else 0. */
int pco_status_server_up(const pco_upstream_server_t *s);

#endif
