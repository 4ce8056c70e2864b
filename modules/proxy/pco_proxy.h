/*
 * pco_proxy.h: internals shared by the proxy module's files (not a public API).
 */
#ifndef PCO_PROXY_H
#define PCO_PROXY_H

#include "pco_http.h"
#include "pco_upstream.h"
#include "pco_upstream_stats.h"
#include "pco_proxy_parse.h"
#include "pco_bcache.h"

extern pco_module_t pco_proxy_module;

typedef struct {
    pco_str_t   name;
    pco_str_t   value;
} pco_proxy_header_t;

typedef struct {
    pco_str_t         upstream;
    bool              strip_prefix;
    bool              websocket;
    pco_str_t         rewrite;
    pco_conf_list_t   set_headers;       /* pco_proxy_header_t */
    pco_msec_t        tunnel_timeout;
} pco_proxy_spec_t;

typedef struct {
    pco_proxy_spec_t       spec;
    pco_upstream_t        *upstream;     /* resolved at conf_done */
    pco_http_template_t   *rewrite_tpl;
    pco_http_template_t  **header_tpls;  /* per set_headers entry; NULL: empty (remove) */
    int                    ctr_retries;  /* counter "upstream_retries:UPSTREAM" */
    int                    ctr_max_conns; /* "upstream_max_conns_rejected:UPSTREAM" */
} pco_proxy_route_conf_t;

#define PCO_PROXY_BUF_SIZE  16384
/* the response body relay buffer: bigger, so a large body takes a quarter of the reads and
 * writes (nginx reads up to 8 x 16 KiB per readv) */
#define PCO_PROXY_OBUF_SIZE 65536

/* The per-worker caches the response head buffers (PCO_PROXY_BUF_SIZE) and the relay
 * buffers (PCO_PROXY_OBUF_SIZE) come from (pco_proxy.c, core/pco_bcache.h). */
extern pco_bcache_t pco_proxy_head_cache;
extern pco_bcache_t pco_proxy_relay_cache;

enum {
    PCO_PROXY_CONNECTING = 0,
    PCO_PROXY_SENDING,
    PCO_PROXY_READ_HEAD,
    PCO_PROXY_READ_BODY,
    PCO_PROXY_TUNNEL,
    PCO_PROXY_DONE
};

/*
 * The per-request state of a proxied request (in r->pool), grouped by how long each part
 * lives: the request's own (req, upreq), one try's (try: the server, the upstream
 * connection, the response head read from it), the response relayed to the client (out,
 * tunnel), and the $upstream_* values (var).
 */

/* Per request: set when the request starts, or grown over its tries; kept to its end. */
typedef struct {
    pco_proxy_route_conf_t  *pcf;
    pco_upstream_t          *u;
    pco_str_t                key;           /* balancer key (hash_key or client address) */
    uint64_t                 tried[PCO_UPSTREAM_MAX_SERVERS / 64];
    unsigned                 tries;
    pco_msec_t               first_start;
    bool                     ws;            /* a WebSocket upgrade was forwarded */
    bool                     interim_sent;  /* a 1xx reached the client: no more retries */
    bool                     finished;
} pco_proxy_req_t;

/* The request as it goes upstream: its head, built once, and the body buffer, both sent
 * again by a retry (how much of them the current try sent is in pco_proxy_try_t). */
typedef struct {
    u_char                  *head;
    size_t                   head_len;
    u_char                  *rdata;         /* body buffer (rbuf_size data bytes, room for
                                               our chunk framing around them) */
    size_t                   body_len;      /* data bytes of the first buffer */
    bool                     rechunk;       /* chunked body not held whole: we frame it */
    u_char                  *rbuf;          /* the bytes to write: rdata, framed when
                                               rechunk (the first one held for retries) */
    size_t                   rbuf_len;
    size_t                   rbuf_size;
    bool                     body_held;     /* the whole body is in rbuf */
    bool                     body_read_done;
    bool                     body_written;  /* some body byte reached the upstream */
} pco_proxy_upreq_t;

/*
 * One try: a server, a connection to it, the response head read from it. Three server
 * pointers, with three lifetimes:
 *   counted_server  the balancer counts the try on it (pco_upstream_get) until
 *                   pco_upstream_done gives it back: NULL from then on;
 *   server          the try's server, kept after that (the try's logs and the try
 *                   observer), until the next try replaces it;
 *   uc_server       the server uc is connected to (the keep-alive pool's key, PROXY
 *                   protocol and TLS settings), kept while uc lives.
 */
typedef struct {
    pco_upstream_server_t   *counted_server;
    pco_upstream_server_t   *server;
    pco_upstream_server_t   *uc_server;
    pco_str_t                sname;         /* the server's name (for logs) */
    pco_connection_t        *uc;
    bool                     reused;        /* uc came from the keep-alive pool */
    int64_t                  uses;          /* requests on uc before this one */
    pco_msec_t               start;
    int64_t                  start_us;      /* the same, microseconds (statistics) */
    bool                     time_pending;  /* the try's status is logged, not its time */
    int                      status;        /* ... that status, for pco_upstream_try_observer */
    size_t                   head_sent;     /* of pco_proxy_upreq_t's head and rbuf */
    size_t                   rbuf_sent;
    u_char                  *hbuf;          /* response head (the buffer is the request's) */
    size_t                   hbuf_size;
    size_t                   hbuf_len;
    pco_proxy_resp_t         resp;          /* the response head, parsed */
} pco_proxy_try_t;

/* The response relayed to the client. Its body goes out from the window data[0, size):
 * first the head buffer's room after the head (a body that fits there needs no other
 * buffer, and what came with the head is sent from where it was read, not copied), then,
 * once more is to come than fits, the relay buffer, taken then (pco_proxy_obuf). */
typedef struct {
    u_char                  *obuf;          /* relay buffer, NULL until needed */
    u_char                  *data;          /* the window: hbuf after the head, or obuf */
    size_t                   size;
    bool                     filled;        /* a read filled the head buffer's window */
    pco_buf_t               *ob;
    int64_t                  left;          /* Content-Length bytes left, -1 otherwise */
    int64_t                  got;           /* body payload bytes received (for logs) */
    pco_http_chunked_t       rch;
    bool                     chunked;
    bool                     busy;          /* client writer holds obuf */
    bool                     extra;         /* bytes after the response body */
    bool                     more;          /* the last read filled obuf: more is likely
                                               waiting, so the buffer asks for no flush */
    u_char                  *ibuf;          /* interim 1xx head being written (reused) */
    size_t                   ipos, ilen;
} pco_proxy_out_t;

/* A WebSocket tunnel's buffers: upreq's rbuf (client to upstream), out's obuf (back). */
typedef struct {
    size_t                   opos, olen, ipos, ilen;
} pco_proxy_tunnel_t;

/* One value per try, kept as a number (or the server's name) and formatted only when a log
 * or a header reads the variable: most requests are never asked. Entries 0..3 live in inl
 * (no allocation for the usual one try), later ones in ext (r->pool, grown by doubling). */
#define PCO_PROXY_VLIST_INL  4

typedef struct {
    uint32_t                 n;
    uint32_t                 ext_cap;
    uintptr_t               *ext;
    uintptr_t                inl[PCO_PROXY_VLIST_INL];
} pco_proxy_vlist_t;

/* $upstream_addr (const pco_str_t * of the server's name), $upstream_status (the status,
 * 0 for "-"), $upstream_response_time (milliseconds); one entry per try. */
typedef struct {
    pco_proxy_vlist_t        addr;
    pco_proxy_vlist_t        status;
    pco_proxy_vlist_t        time;
} pco_proxy_vars_t;

typedef struct {
    pco_http_request_t      *r;
    int                      state;         /* PCO_PROXY_CONNECTING ... DONE */
    pco_proxy_req_t          req;
    pco_proxy_upreq_t        upreq;
    pco_proxy_try_t          try;
    pco_proxy_out_t          out;
    pco_proxy_tunnel_t       tunnel;
    pco_proxy_vars_t         var;
} pco_proxy_ctx_t;

/* Parses the response head in p->try.hbuf into p->try.resp, growing its header list in
 * the request pool when the parser asks: as pco_proxy_parse_response, without
 * PCO_PROXY_ROOM (PCO_ERROR when the room cannot be had: the pool's limit is logged). */
int pco_proxy_parse_head(pco_proxy_ctx_t *p);

/* pco_proxy.c: shared by the module's files. pco_proxy_record appends the try's status
 * (0 prints "-": no response, as nginx) and time to $upstream_status/_response_time. */
void pco_proxy_record(pco_proxy_ctx_t *p, int status);
/* A final head arrived: its status now, its time when the try ends (finish or fail). */
void pco_proxy_record_head(pco_proxy_ctx_t *p, int status);
/* A latency observation (offsetof a pco_upstream_hist_t in pco_upstream_stats_t) for the
 * try's server, measured from the try's start. */
void pco_proxy_observe(pco_proxy_ctx_t *p, size_t which);
/* True when another try is allowed now: retries left, next_upstream_timeout not expired,
 * nothing sent to the client (not even a 1xx), and an untried usable server exists. */
bool pco_proxy_can_retry(pco_proxy_ctx_t *p);
void pco_proxy_close_upstream(pco_proxy_ctx_t *p, bool failed);
void pco_proxy_finish(pco_proxy_ctx_t *p, int rc);
void pco_proxy_fail(pco_proxy_ctx_t *p, int status, unsigned kind, bool record);
bool pco_proxy_idempotent(const pco_http_request_t *r);
/* The client went away during the try: counted for the try's server (statistics). */
void pco_proxy_client_abort(pco_proxy_ctx_t *p);

/* pco_proxy_send.c: the upstream write event and the client read callback. */
void pco_proxy_up_write(pco_event_t *ev);
bool pco_proxy_send_now(pco_proxy_ctx_t *p);
void pco_proxy_client_read(pco_http_request_t *r);
/* Room kept before and after rdata for a chunk-size line and "\r\n0\r\n\r\n". */
#define PCO_PROXY_CHUNK_ROOM 8
/* Points rbuf at the n data bytes at rdata as they go upstream (framed as a chunk, then
 * the last chunk once done, when rechunk). */
void pco_proxy_body_frame(pco_proxy_ctx_t *p, size_t n, bool done);

/* The relay buffer (taken from pco_proxy_relay_cache on the first call, given back with the
 * request); NULL (logged) when none could be mapped. */
u_char *pco_proxy_obuf(pco_proxy_ctx_t *p);

/* pco_proxy_response.c: the upstream read event and the client write callback. */
void pco_proxy_up_read(pco_event_t *ev);
void pco_proxy_client_write(pco_http_request_t *r);

/* pco_proxy_pp.c: writes the PROXY protocol header on the fresh connection p->try.uc to
 * p->try.uc_server
 * (send_proxy_protocol); PCO_ERROR (logged) when it could not. */
int pco_proxy_send_proxy_protocol(pco_proxy_ctx_t *p);
/* pco_proxy_pool.c: the per-worker keep-alive pool (see there). replayable: a failure of
 * the taken connection before any response byte would be retried on a fresh one (an
 * idempotent request whose whole body is held), so no open-check is needed. */
pco_connection_t *pco_proxy_pool_get(pco_upstream_t *u, pco_upstream_server_t *s,
                                     int64_t *uses, bool replayable);
void pco_proxy_pool_put(pco_upstream_t *u, pco_upstream_server_t *s, pco_connection_t *c,
                        int64_t uses);

/* pco_proxy_tunnel.c: relays a 101 and runs the tunnel; false: not a valid switch. */
bool pco_proxy_tunnel_start(pco_proxy_ctx_t *p);

/* pco_proxy_request.c: builds the upstream request head into r->pool (after the first
 * body buffer is read); whether a WebSocket upgrade is passed on. */
int pco_proxy_build_request(pco_proxy_ctx_t *p);
bool pco_proxy_websocket(pco_proxy_ctx_t *p);

#endif
