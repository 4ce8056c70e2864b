/*
 * pco_proxy.h: internals shared by the proxy module's files (not a public API).
 */
#ifndef PCO_PROXY_H
#define PCO_PROXY_H

#include "pco_http.h"
#include "pco_upstream.h"
#include "pco_proxy_parse.h"

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
} pco_proxy_route_conf_t;

#define PCO_PROXY_BUF_SIZE  16384
/* the response body relay buffer: bigger, so a large body takes a quarter of the reads and
 * writes (nginx reads up to 8 x 16 KiB per readv) */
#define PCO_PROXY_OBUF_SIZE 65536

enum {
    PCO_PROXY_CONNECTING = 0,
    PCO_PROXY_SENDING,
    PCO_PROXY_READ_HEAD,
    PCO_PROXY_READ_BODY,
    PCO_PROXY_TUNNEL,
    PCO_PROXY_DONE
};

typedef struct {
    pco_http_request_t      *r;
    pco_proxy_route_conf_t  *pcf;
    pco_upstream_t          *u;
    pco_upstream_server_t   *s;             /* the try's server until pco_upstream_done */
    pco_str_t                sname;         /* its name (for logs) */
    pco_str_t                key;           /* balancer key (hash_key or client address) */
    uint64_t                 tried[PCO_UPSTREAM_MAX_SERVERS / 64];
    pco_connection_t        *uc;
    int                      state;
    unsigned                 tries;
    pco_msec_t               first_start;
    pco_msec_t               try_start;
    /* request */
    u_char                  *head;
    size_t                   head_len;
    size_t                   head_sent;
    u_char                  *rdata;         /* body buffer (rbuf_size data bytes, room for
                                               our chunk framing around them) */
    size_t                   body_len;      /* data bytes of the first buffer */
    bool                     rechunk;       /* chunked body not held whole: we frame it */
    u_char                  *rbuf;          /* the bytes to write: rdata, framed when
                                               rechunk (the first one held for retries) */
    size_t                   rbuf_len;
    size_t                   rbuf_size;
    size_t                   rbuf_sent;
    bool                     body_held;     /* the whole body is in rbuf */
    bool                     body_read_done;
    bool                     body_written;  /* some body byte reached the upstream */
    /* response */
    u_char                  *hbuf;          /* response head */
    size_t                   hbuf_size;
    size_t                   hbuf_len;
    pco_proxy_resp_t         resp;
    u_char                  *obuf;          /* relay buffer */
    pco_buf_t               *ob;
    int64_t                  resp_left;     /* Content-Length bytes left, -1 otherwise */
    int64_t                  resp_got;      /* body payload bytes received (for logs) */
    pco_http_chunked_t       rch;
    bool                     resp_chunked;
    bool                     out_busy;      /* client writer holds obuf */
    bool                     finished;
    bool                     ws;            /* a WebSocket upgrade was forwarded */
    bool                     time_pending;  /* the try's status is logged, not its time */
    int                      try_status;    /* ... that status, for pco_upstream_try_report */
    pco_upstream_server_t   *try_s;         /* the try's server (kept past pco_upstream_done) */
    bool                     interim_sent;  /* a 1xx reached the client: no more retries */
    u_char                  *ibuf;          /* interim 1xx head being written (reused) */
    size_t                   ipos, ilen;
    size_t                   t_opos, t_olen, t_ipos, t_ilen;   /* tunnel buffers */
    bool                     reused;        /* uc came from the keep-alive pool */
    bool                     keep;          /* uc may go back to the pool */
    bool                     extra;         /* bytes after the response body */
    int64_t                  uses;          /* requests on uc before this one */
    pco_upstream_server_t   *ks;            /* uc's server (kept past pco_upstream_done) */
    /* variables */
    pco_str_t                v_addr;
    pco_str_t                v_status;
    pco_str_t                v_time;
} pco_proxy_ctx_t;

/* pco_proxy.c: shared by the module's files. pco_proxy_record appends the try's status
 * (0 prints "-": no response, as nginx) and time to $upstream_status/_response_time. */
void pco_proxy_record(pco_proxy_ctx_t *p, int status);
/* A final head arrived: its status now, its time when the try ends (finish or fail). */
void pco_proxy_record_head(pco_proxy_ctx_t *p, int status);
/* True when another try is allowed now: retries left, next_upstream_timeout not expired,
 * nothing sent to the client (not even a 1xx), and an untried usable server exists. */
bool pco_proxy_can_retry(pco_proxy_ctx_t *p);
void pco_proxy_close_upstream(pco_proxy_ctx_t *p, bool failed);
void pco_proxy_finish(pco_proxy_ctx_t *p, int rc);
void pco_proxy_fail(pco_proxy_ctx_t *p, int status, unsigned kind, bool record);
bool pco_proxy_idempotent(const pco_http_request_t *r);

/* pco_proxy_send.c: the upstream write event and the client read callback. */
void pco_proxy_up_write(pco_event_t *ev);
bool pco_proxy_send_now(pco_proxy_ctx_t *p);
void pco_proxy_client_read(pco_http_request_t *r);
/* Room kept before and after rdata for a chunk-size line and "\r\n0\r\n\r\n". */
#define PCO_PROXY_CHUNK_ROOM 8
/* Points rbuf at the n data bytes at rdata as they go upstream (framed as a chunk, then
 * the last chunk once done, when rechunk). */
void pco_proxy_body_frame(pco_proxy_ctx_t *p, size_t n, bool done);

/* pco_proxy_response.c: the upstream read event and the client write callback. */
void pco_proxy_up_read(pco_event_t *ev);
void pco_proxy_client_write(pco_http_request_t *r);

/* pco_proxy_pp.c: writes the PROXY protocol header on the fresh connection p->uc to p->ks
 * (send_proxy_protocol); PCO_ERROR (logged) when it could not. */
int pco_proxy_send_proxy_protocol(pco_proxy_ctx_t *p);
/* pco_proxy_pool.c: the per-worker keep-alive pool (see there). */
pco_connection_t *pco_proxy_pool_get(pco_upstream_t *u, pco_upstream_server_t *s,
                                     int64_t *uses);
void pco_proxy_pool_put(pco_upstream_t *u, pco_upstream_server_t *s, pco_connection_t *c,
                        int64_t uses);

/* pco_proxy_tunnel.c: relays a 101 and runs the tunnel; false: not a valid switch. */
bool pco_proxy_tunnel_start(pco_proxy_ctx_t *p);

/* pco_proxy_request.c: builds the upstream request head into r->pool (after the first
 * body buffer is read); whether a WebSocket upgrade is passed on. */
int pco_proxy_build_request(pco_proxy_ctx_t *p);
bool pco_proxy_websocket(pco_proxy_ctx_t *p);

#endif
