/*
 * pco_http_int.h: private structures shared by the files of the HTTP engine (not for other
 * modules): the per-node settings struct, per-address virtual server tables, the
 * generation's runtime data (cycle->module_ctx[http]), the per-connection and extended
 * per-request state, and the internal functions the files call on each other.
 */
#ifndef PCO_HTTP_INT_H
#define PCO_HTTP_INT_H

#include "pco_http.h"
#include "pco_http_conn.h"
#include "pco_listen.h"
#include "pco_event.h"
#include "pco_time.h"
#include "pco_log.h"
#include "pco_cidr_list.h"

typedef struct {
    char             *text;
    pco_sockaddr_t    sa;
    socklen_t         socklen;
    bool              tls;
    bool              reuseport;
    bool              default_server;
    bool              ipv6only;
    bool              ipv6only_set;     /* written in the entry (else the default, true) */
    bool              proxy_protocol;
    bool              http2;
    int64_t           backlog;
    pco_conf_src_t    src;
} pco_http_listen_t;

typedef struct {
    pco_http_listen_t  *elts;
    size_t              n;
    bool                invalid;         /* an entry had errors (already reported) */
} pco_http_listen_list_t;

typedef struct {
    pco_str_t          path;
    pco_str_t          path_prefix;
    pco_str_t          path_regex;
    pco_str_list_t     methods;
    pco_conf_list_t    headers;          /* pco_http_kv_t */
} pco_http_match_conf_t;

typedef struct {
    pco_cidr_list_t    trust_from;       /* peers whose X-Request-Id is kept */
} pco_http_request_id_conf_t;

/* The http module's conf struct (one per http/server/route node). */
typedef struct {
    pco_msec_t              client_header_timeout;
    pco_msec_t              client_body_timeout;
    pco_msec_t              send_timeout;
    pco_msec_t              keepalive_timeout;
    int64_t                 keepalive_requests;
    int64_t                 client_max_body_size;
    int64_t                 max_header_size;
    int64_t                 max_uri_size;
    bool                    server_tokens;
    bool                    underscores_in_headers;   /* http scope only */
    pco_http_listen_list_t  listen;
    pco_str_list_t          names;
    pco_http_match_conf_t   match;
    pco_str_t               route_name;       /* route `name` (metrics, $route_name) */
    pco_http_request_id_conf_t  request_id;   /* http scope only */
} pco_http_conf_t;

typedef struct {
    pco_str_t            name;       /* "*.example.com" stored as ".example.com" */
    pco_http_server_t   *server;
} pco_http_name_t;

typedef struct {
    pcre2_code          *re;
    pco_http_server_t   *server;
    pco_str_t            text;       /* as written, without the "~" (duplicate check) */
} pco_http_name_re_t;

/* One listening address with its virtual servers. */
typedef struct {
    pco_sockaddr_t       sa;
    socklen_t            socklen;
    char                *text;
    pco_http_server_t   *default_server;
    bool                 explicit_default;
    pco_http_name_t     *exact;       /* sorted by name */
    size_t               nexact;
    pco_http_name_t     *wild;        /* longest first */
    size_t               nwild;
    pco_http_name_re_t  *regex;
    size_t               nregex;
    pco_array_t          a_exact, a_wild, a_regex;   /* build-time */
    size_t               max_header_size;
    pco_listening_t     *ls;
    const pco_http_listen_t *ipv6only_by;   /* the first entry that sets ipv6only */
    bool                 http2;           /* an entry of the address has http2 = true */
} pco_http_addr_t;

typedef struct {
    const char          *name;
    pco_str_t            sname;
    pco_http_var_get_pt  get;
    uintptr_t            data;
    unsigned             flags;
} pco_http_var_t;

typedef struct {
    int                  phase;       /* or filter kind */
    int                  priority;
    const char          *module;
    void                *fn;
    unsigned             seq;
} pco_http_reg_t;

struct pco_http_template_s {
    pco_http_template_part_t  *parts;
    size_t                     nparts;
    pco_str_t                  text;
    pco_conf_src_t             src;
    bool                       literal;
    bool                       resolved;
    pco_http_template_t       *next;    /* pending resolution */
    char                     **names;   /* per part: variable name until resolved */
};

/* Generation data: cycle->module_ctx[pco_http_module.index]. */
typedef struct {
    pco_array_t                 regs;           /* pco_http_reg_t */
    unsigned                    seq;
    pco_http_handler_pt        *phases[PCO_HTTP_PHASES];
    size_t                      nphases[PCO_HTTP_PHASES];
    pco_http_header_filter_pt  *hfilters;
    size_t                      nhfilters;
    pco_http_body_filter_pt    *bfilters;
    size_t                      nbfilters;
    /* the module of each entry above, named in the request pool's over-budget report */
    const char                **phase_owners[PCO_HTTP_PHASES];
    const char                **hfilter_owners;
    const char                **bfilter_owners;
    pco_http_server_t         **servers;
    size_t                      nservers;
    pco_http_route_t          **routes;
    size_t                      nroutes;
    pco_array_t                 addrs;          /* pco_http_addr_t */
    pco_array_t                 vars;           /* pco_http_var_t */
    pco_http_template_t        *pending;
    bool                        vars_final;
    size_t                      scratch_size;
    bool                        underscores;    /* http.underscores_in_headers */
    int                         c_requests;
    int                         c_proto[3];       /* requests by HTTP/1.0, 1.1, 2 */
    int                         c_status[5];
    int                         c_active;
    int                         c_idle;
    int                         c_total;          /* connections accepted */
    int                         var_arg, var_http, var_cookie;
    const pco_cidr_list_t      *request_id_trust;  /* http.request_id.trust_from, or NULL */
    pco_http_tls_hooks_t        tls;            /* pco_http_tls_register */
    const char                 *tls_owner;      /* the module that registered them */
    pco_http_h2_hooks_t         h2;             /* pco_http_h2_register */
    const char                 *h2_owner;
} pco_http_main_t;

/* Per connection, allocated from c->pool while a request or a partial head exists. */
typedef struct {
    pco_http_addr_t            *addr;
    u_char                     *buf;          /* partial head */
    size_t                      len;
    size_t                      size;
    pco_http_head_scan_t        scan;
    bool                        pending;      /* bytes to parse before reading */
} pco_http_conn_t;

/* The request plus the engine's private part; r is first so the two convert. */
typedef struct {
    pco_http_request_t          r;
    pco_http_main_t            *main;
    pco_http_addr_t            *addr;
    pco_http_conf_t            *conf;         /* server (then route) settings */
    const pco_http_stream_ops_t *stream;      /* a multiplexed carrier's request, or NULL */
    u_char                     *rest;         /* bytes after the head (body, pipelined) */
    u_char                     *rest_last;
    pco_chain_t                *out;          /* queued, not yet written */
    pco_chain_t               **out_tail;
    size_t                      out_bytes;
    size_t                      head_bytes;   /* length of the response head */
    pcre2_code                 *srv_re;       /* server-name regex that matched */
    PCRE2_SIZE                 *srv_caps;     /* its ovector copy */
    uint32_t                    srv_ncaps;
    unsigned                    last_seen:1;  /* last_buf went through the writer */
    unsigned                    close_after:1;
    unsigned                    in_phases:1;
    unsigned                    done:1;
    unsigned                    head_error:1;
    unsigned                    corked:1;
    unsigned                    body_to_end:1;   /* the body ends with the carrier's EOF */
    size_t                      head_len;
    pco_log_t                   log;          /* c->log during the request */
    /* recycling, so that a long streamed body costs no memory per buffer passed */
    pco_chain_t                *free_links;   /* writer links already written */
    pco_buf_t                  *frame_bufs[8];   /* chunked framing buffers (24 bytes) */
    pco_chain_t                 frame_links[2];  /* links the chunked filter inserts into
                                                    the caller's chain (valid during one
                                                    pco_http_output call) */
} pco_http_req_t;

#define pco_http_req(r)  ((pco_http_req_t *) (r))

extern pco_http_main_t *pco_http_cur_main;      /* the worker's generation */
extern u_char          *pco_http_scratch;
extern size_t           pco_http_scratch_size;
extern size_t           pco_http_nmodules;

/* pco_http_server.c (pure parts are unit-tested) */
pco_http_server_t *pco_http_find_server(const pco_http_addr_t *a, const pco_str_t *host,
                                        pcre2_match_data *md);
bool pco_http_route_matches(const pco_http_route_t *rt, const pco_str_t *uri, unsigned method,
                            pco_http_head_t *h, pcre2_match_data *md);
pco_http_route_t *pco_http_find_route(const pco_http_server_t *s, const pco_str_t *uri,
                                      unsigned method, pco_http_head_t *h,
                                      pcre2_match_data *md);
/* True when `earlier` makes `later` unreachable (shadow warning). */
bool pco_http_route_shadows(const pco_http_route_t *earlier, const pco_http_route_t *later);
int pco_http_name_cmp(const void *a, const void *b);
int pco_http_build_servers(pco_conf_t *cf, pco_cycle_t *cycle, pco_http_main_t *hm);

/* pco_http_variables.c */
int pco_http_variables_init(pco_conf_t *cf, pco_cycle_t *cycle);
int pco_http_templates_resolve(pco_conf_t *cf, pco_http_main_t *hm);
/* Pure: splits text into parts (names unresolved); PCO_ERROR with *err set. */
int pco_http_template_split(pco_pool_t *pool, const pco_str_t *text,
                            pco_http_template_t *t, const char **err);
bool pco_http_request_id_valid(const u_char *p, size_t len);
void pco_http_request_id_generate(u_char *out32);
void pco_http_prng_seed(void);

/* pco_http_request.c (pco_http_close, pco_http_tls_done: pco_http_conn.h) */
void pco_http_keepalive(pco_connection_t *c, pco_http_request_t *r);
/* pco_http_connection.c / pco_http_request.c: the hand-overs between a connection and its
 * requests. */
void pco_http_start_lingering(pco_connection_t *c);
/* An old-generation worker retires this request's connection: its response says
 * `Connection: close` unless requests already read wait behind it (answered first). */
bool pco_http_conn_retiring(pco_http_request_t *r);
void pco_http_handle_bytes(pco_connection_t *c, u_char *buf, size_t len, size_t head_len);
/* A request for the complete head in data[0..total) (head_len bytes of head); NULL when
 * memory runs out. */
pco_http_request_t *pco_http_create_request(pco_connection_t *c, pco_http_addr_t *a,
                                            const u_char *data, size_t total,
                                            size_t head_len);

/* The http settings of an address: those of its default server. */
static inline pco_http_conf_t *
pco_http_addr_conf(pco_http_addr_t *a)
{
    return a->default_server->node->confs[pco_http_module.index];
}
void pco_http_empty_handler(pco_event_t *ev);
/* pco_http_body.c */
void pco_http_send_continue(pco_http_request_t *r);
void pco_http_discard_read(pco_event_t *ev);
void pco_http_init_connection(pco_connection_t *c);
/* The accept handler of `tls = true` listeners (the TLS hooks: pco_http_conn.h). */
void pco_http_init_tls_connection(pco_connection_t *c);
/* After a listener's PROXY protocol header: starts TLS or reads the head. */
void pco_http_connection_ready(pco_connection_t *c);
/* pco_http_proxy_protocol.c: the read handler of a new connection on a proxy_protocol
 * listener, and the $proxy_protocol_* variables. */
void pco_http_proxy_protocol_read(pco_event_t *ev);
int pco_http_proxy_protocol_variables(pco_conf_t *cf, pco_cycle_t *cycle);
void pco_http_request_done(pco_http_request_t *r);
u_char *pco_http_log_context(pco_log_t *log, u_char *buf, u_char *end);

/* pco_http_write.c */
int pco_http_head_filter(pco_http_request_t *r);
int pco_http_chunked_filter(pco_http_request_t *r, pco_chain_t *in);
int pco_http_writer_filter(pco_http_request_t *r, pco_chain_t *in);
int pco_http_writer_flush(pco_http_request_t *r);

/* pco_http_error.c */
int pco_http_special_response(pco_http_request_t *r, int status);
pco_str_t pco_http_build_error_body(pco_pool_t *pool, int status, const pco_str_t *request_id,
                                    bool json);

#endif
