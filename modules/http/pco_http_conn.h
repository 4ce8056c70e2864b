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
/* The TLS handshake of c succeeded: reading the first request head starts. */
void pco_http_tls_done(pco_connection_t *c);
/* Closes an HTTP client connection (counters, idle list, the TLS hook's free). */
void pco_http_close(pco_connection_t *c);

/* Worker: the virtual server of the HTTP listener ls for host (lower case, no port) by the
 * same lookup as the Host header, or NULL; the listener's default server. md: match data
 * for server-name regexes (the caller's, reused). */
pco_http_server_t *pco_http_listener_find_server(const pco_listening_t *ls,
                                                 const pco_str_t *host, pcre2_match_data *md);
pco_http_server_t *pco_http_listener_default_server(const pco_listening_t *ls);

/* conf_done: every server of the cycle, in configuration order. */
size_t pco_http_servers(pco_cycle_t *cycle, pco_http_server_t ***servers);

/* conf_done: the i-th `listen` entry of server s into *li; false past the last one. */
typedef struct {
    const char  *text;        /* as written ("127.0.0.1:8443"); may be NULL */
    bool         tls;
} pco_http_listen_info_t;

bool pco_http_server_listen(const pco_http_server_t *s, size_t i, pco_http_listen_info_t *li);

#endif
