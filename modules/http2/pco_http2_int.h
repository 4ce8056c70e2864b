/*
 * pco_http2_int.h: private to the http2 module. A client connection that speaks HTTP/2
 * (pco_http2_conn.c) owns a session (pco_http2_session.c); each request stream becomes an
 * engine request over a connection struct of its own (pco_http2_stream.c), which lives in a
 * pco_http2_req_t: the bridge between the stream, whose life nghttp2 decides, and the
 * request, whose life the engine decides. Either may end first; the bridge goes when both
 * have.
 */
#ifndef PCO_HTTP2_INT_H
#define PCO_HTTP2_INT_H

#include "pco_http_conn.h"
#include "pco_event.h"
#include "pco_http2_session.h"

/* The module's settings (http and server scopes; a connection takes those of its
 * address's default server, as the head limits are). */
typedef struct {
    int64_t      max_concurrent_streams;
    int64_t      initial_window_size;
    int64_t      connection_window_size;
    int64_t      max_header_list_size;
    int64_t      rapid_reset_limit;
    pco_msec_t   idle_timeout;
} pco_http2_conf_t;

extern pco_module_t pco_http2_module;

typedef struct {
    pco_connection_t     *c;
    pco_http2_session_t  *session;
    pco_msec_t            idle_timeout;
    u_char               *pend;          /* framed bytes a short write left */
    size_t                pend_pos;
    size_t                pend_len;
    unsigned              requests;      /* stream requests not done yet */
    unsigned              goaway:1;      /* graceful GOAWAY queued */
    unsigned              failed:1;      /* the session ended: write what is queued, close */
    unsigned              gone:1;        /* the client is gone: nothing more is written */
} pco_http2_conn_t;

typedef struct {
    pco_connection_t      fc;            /* the request's connection (first: c <-> bridge) */
    pco_http2_conn_t     *h2c;
    pco_http2_stream_t   *st;            /* NULL once the stream closed */
    /* request body received, not yet read by the engine (within the stream window) */
    u_char               *in;
    size_t                in_pos;
    size_t                in_len;
    size_t                in_size;
    /* response body: the buffer being framed, and what the head announced */
    u_char               *out;
    size_t                out_size;
    const void           *lent;          /* the engine's buffer with the session, or NULL */
    size_t                lent_len;
    int64_t               declared;      /* Content-Length sent, or -1 */
    int64_t               written;
    unsigned              live:1;        /* the request is not done */
    unsigned              in_end:1;      /* the client ended the request */
    unsigned              out_pending:1; /* out is with the session until on_drained */
    unsigned              ended:1;       /* the end of the response body was given */
    unsigned              end_pending:1; /* the end is due once out drains */
    unsigned              rst_after:1;   /* RST_STREAM NO_ERROR once the response is out */
    unsigned              websocket:1;   /* an extended CONNECT made a WebSocket request */
    u_char                small[256];    /* out, for a body announced this small or less */
} pco_http2_req_t;

/* pco_http2_conn.c */
void pco_http2_conn_start(pco_connection_t *c, const u_char *data, size_t len);
/* The session has something to write: the connection's write handler runs at the end of
 * the event-loop pass. */
void pco_http2_conn_kick(pco_http2_conn_t *h2c);

/* pco_http2_stream.c: the session's handlers */
extern const pco_http2_handlers_t pco_http2_stream_handlers;

/* pco_http2_module.c */
const pco_http2_conf_t *pco_http2_conf(const pco_listening_t *ls);

/* The generation's counters (cycle->module_ctx): HTTP/2 connections open and accepted, and
 * those a defence ended. */
typedef struct {
    int   c_active;
    int   c_total;
    int   c_calm;
} pco_http2_main_t;

const pco_http2_main_t *pco_http2_main(void);

#endif
