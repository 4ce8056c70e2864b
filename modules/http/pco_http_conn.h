/*
 * pco_http_conn.h: the http module's connection-level API, for modules that take part in an
 * HTTP connection below the requests (tls): the TLS hooks of `tls = true` listeners, the
 * virtual servers of a listener, the listen entries of a server, and closing an HTTP
 * connection. Everything here is a function: the engine's structures stay private.
 */
#ifndef PCO_HTTP_CONN_H
#define PCO_HTTP_CONN_H

#include "pco_http.h"
#include "pco_listen.h"

/* The hooks of TLS listeners, owned by at most one module per configuration cycle:
 *   handshake  called by the accept handler of a `tls = true` listener, with
 *              client_header_timeout armed (it covers the handshake); owns c->read and
 *              c->write until the handshake ends, then calls pco_http_tls_done(c) (the
 *              request head is read) or pco_http_close(c).
 *   free       called by pco_http_close when c->tls != NULL (frees the library state).
 * Registered at conf_done; the hooks live in the cycle (a rejected reload leaves the running
 * generation's as they were). A second module registering them is a configuration error
 * naming both; PCO_ERROR after reporting. Without a registration, a TLS listener's
 * connections are closed at once. */
typedef struct {
    void  (*handshake)(pco_connection_t *c);
    void  (*free)(pco_connection_t *c);
} pco_http_tls_hooks_t;

int pco_http_tls_register(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                          const pco_http_tls_hooks_t *hooks);
/* The TLS handshake of c succeeded: reading the first request head starts, or, when ALPN
 * chose "h2" (h2 true), the HTTP/2 hooks below take the connection. */
void pco_http_tls_done(pco_connection_t *c, bool h2);

/* The hooks of `http2 = true` listeners, owned by at most one module per configuration cycle
 * (http2):
 *   start  c speaks HTTP/2 from now on: after a TLS handshake that chose "h2" by ALPN
 *          (data NULL), or on a plain listener whose client began with the HTTP/2 connection
 *          preface (prior knowledge; data[0..len) are the bytes already read, preface
 *          included). The hook owns c->read, c->write, c->data and c->pool from then on and
 *          closes c with pco_http_close. The timer of c->read is deleted first.
 * Registered at conf_done (pco_http_tls_register's rules); without a registration, an
 * `http2 = true` listener is refused at load. */
typedef struct {
    void  (*start)(pco_connection_t *c, const u_char *data, size_t len);
} pco_http_h2_hooks_t;

int pco_http_h2_register(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                         const pco_http_h2_hooks_t *hooks);
/* True when ls is an HTTP listener with `http2 = true` (ALPN offers "h2" there). */
bool pco_http_listener_http2(const pco_listening_t *ls);

/*
 * Requests carried by a multiplexed protocol (an HTTP/2 stream). The carrier gives each
 * request a connection struct of its own, not from the worker's connection table: a copy of
 * the client connection's identity (fd, peer address and its text, listening, number, tls,
 * requests) with the carrier's io (recv: the request body, 0 at its end; send, writev,
 * sendfile: the response body) and events the carrier posts itself (read when body bytes
 * arrive or the stream ends, write when the body written so far has been taken). Its
 * c->write.active is set and c->write.ready tells whether a write may go on. The engine
 * runs such a request like any other but for the points where the protocols differ, which
 * it hands to the carrier's operations:
 *   send_head  the response head: r->status, and the fields (Server, Date, Content-Type,
 *              Content-Length, Last-Modified, Location, X-Request-Id, then the modules'
 *              headers; names as set, connection-specific ones included for the carrier to
 *              drop). flags: PCO_HTTP_STREAM_END, no body follows (HEAD, 204, 304,
 *              Content-Length 0); PCO_HTTP_STREAM_TUNNEL, the head opens a tunnel
 *              (pco_http_tunnel_head: the bytes that follow both ways are the tunnel's).
 *              PCO_OK / PCO_ERROR.
 *   done       the request is over and logged: r->complete says whether the whole response
 *              was handed to c->io, r->body_done whether the request body was read to its
 *              end. The carrier ends its stream, then destroys r->pool (which holds r) and
 *              forgets c's events (timers, posted events).
 * A request whose body has no announced length (the stream did not end with its head and
 * has no content-length) is given head.chunked with body_to_end: the engine forwards it as
 * a chunked body and reads it raw from c->io until recv returns 0.
 */
#define PCO_HTTP_STREAM_END     0x01
#define PCO_HTTP_STREAM_TUNNEL  0x02

typedef struct {
    int   (*send_head)(pco_http_request_t *r, const pco_http_header_t *fields, unsigned n,
                       unsigned flags);
    void  (*done)(pco_http_request_t *r);
} pco_http_stream_ops_t;

/* Runs a request for head (copied into the request's pool; the caller's memory may go after
 * the call) on the carrier's connection c of listener address c->listening. status: 0, or
 * an HTTP status to answer at once (405, 417, 431, 500 from the carrier's head checks).
 * body_to_end: see above. The request may be over (ops->done called) when this returns.
 * PCO_ERROR when the request could not be made (memory): nothing was called. */
int pco_http_stream_request(pco_connection_t *c, const pco_http_stream_ops_t *ops,
                            const pco_http_head_t *head, int status, bool body_to_end);
/* Puts c on the worker's idle list (or takes it off): an idle connection may be closed at
 * graceful shutdown (pco_conn_close_idle calls its read handler with c->close set). */
void pco_http_set_idle(pco_connection_t *c, bool idle);
/* Closes an HTTP client connection (counters, idle list, the TLS hook's free). */
void pco_http_close(pco_connection_t *c);

/* Worker: the virtual server of the HTTP listener ls for host (lower case, no port) by the
 * same lookup as the Host header, or NULL; the listener's default server. md: match data
 * for server-name regexes (the caller's, reused). */
pco_http_server_t *pco_http_listener_find_server(const pco_listening_t *ls,
                                                 const pco_str_t *host, pcre2_match_data *md);
pco_http_server_t *pco_http_listener_default_server(const pco_listening_t *ls);
/* The same lookup without the default: NULL when no server name of ls matches host. */
pco_http_server_t *pco_http_listener_find_named_server(const pco_listening_t *ls,
                                                       const pco_str_t *host,
                                                       pcre2_match_data *md);

/* conf_done: every server of the cycle, in configuration order. */
size_t pco_http_servers(pco_cycle_t *cycle, pco_http_server_t ***servers);

/* conf_done: the i-th `listen` entry of server s into *li; false past the last one. */
typedef struct {
    const char  *text;        /* as written ("127.0.0.1:8443"); may be NULL */
    bool         tls;
} pco_http_listen_info_t;

bool pco_http_server_listen(const pco_http_server_t *s, size_t i, pco_http_listen_info_t *li);

#endif
