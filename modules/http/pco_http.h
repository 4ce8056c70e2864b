/*
 * pco_http.h: the HTTP subsystem's public API for other modules.
 *
 * Scopes: http { } (one), servers ( ), routes ( ) inside a server, upstreams ( ) at the top.
 * A module's settings allowed in several of http/server/route are inherited downwards; read
 * the effective value with pco_http_route_conf(r, &module).
 *
 * Request flow: POST_READ -> (server and route selection) -> REWRITE -> ACCESS ->
 * PRECONTENT -> CONTENT (the route's action) -> response through the header filter chain and
 * the body filter chain -> LOG. Handlers return PCO_DECLINED (next handler), PCO_OK (phase
 * done), PCO_AGAIN (suspended; call pco_http_run_phases(r) to resume), or an HTTP status
 * >= 100 (the request is finalised with it: an error page unless the header was sent).
 */
#ifndef PCO_HTTP_H
#define PCO_HTTP_H

#include "pco_core.h"
#include "pco_pool.h"
#include "pco_buf.h"
#include "pco_conn.h"
#include "pco_conf.h"
#include "pco_cycle.h"
#include "pco_http_parse.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define PCO_SCOPE_HTTP      0x0002u
#define PCO_SCOPE_SERVER    0x0004u
#define PCO_SCOPE_ROUTE     0x0008u
#define PCO_SCOPE_UPSTREAM  0x0010u
#define PCO_SCOPE_HSR       (PCO_SCOPE_HTTP | PCO_SCOPE_SERVER | PCO_SCOPE_ROUTE)

extern pco_module_t pco_http_module;

typedef struct pco_http_request_s pco_http_request_t;
typedef struct pco_http_server_s  pco_http_server_t;
typedef struct pco_http_route_s   pco_http_route_t;

typedef int (*pco_http_handler_pt)(pco_http_request_t *r);
typedef int (*pco_http_header_filter_pt)(pco_http_request_t *r);
typedef int (*pco_http_body_filter_pt)(pco_http_request_t *r, pco_chain_t *in);
typedef void (*pco_http_event_pt)(pco_http_request_t *r);

/*
 * Filters: header filters run in priority order (then module name) and return PCO_OK (or
 * PCO_DECLINED) to continue, PCO_ERROR to stop; the head is built by the http module's
 * filter at PCO_HTTP_FILTER_FRAMING, so edit r->out before that. Body filters all receive
 * the same chain and edit it in place (replace cl->buf, insert links after cl); the
 * framing filter drops body bytes for header-only responses and adds chunked framing, and
 * the writer (PCO_HTTP_FILTER_WRITER) queues the chain, writes what the socket takes and
 * returns PCO_OK (all written), PCO_AGAIN (the rest is queued: stop producing until
 * r->write_handler runs) or PCO_ERROR (client gone, status becomes 499).
 * A content handler that returned PCO_OK before its last_buf went out keeps producing from
 * r->write_handler; the request ends when a last_buf has been written.
 */

enum {
    PCO_HTTP_POST_READ_PHASE = 0,
    PCO_HTTP_REWRITE_PHASE,
    PCO_HTTP_ACCESS_PHASE,
    PCO_HTTP_PRECONTENT_PHASE,
    PCO_HTTP_CONTENT_PHASE,      /* only the route's action runs here */
    PCO_HTTP_LOG_PHASE,
    PCO_HTTP_PHASES
};

/* Filter priority bands (lower runs first). */
#define PCO_HTTP_FILTER_HEADERS   100   /* header edits */
#define PCO_HTTP_FILTER_TRANSFORM 300   /* content transforms (gzip) */
#define PCO_HTTP_FILTER_FRAMING   800   /* chunked framing */
#define PCO_HTTP_FILTER_WRITER    900   /* the writer */

/* ---- configuration-time registration (conf_done) ---- */

int pco_http_add_handler(pco_conf_t *cf, pco_cycle_t *cycle, int phase, int priority,
                         const pco_module_t *m, pco_http_handler_pt h);
int pco_http_add_header_filter(pco_conf_t *cf, pco_cycle_t *cycle, int priority,
                               const pco_module_t *m, pco_http_header_filter_pt f);
int pco_http_add_body_filter(pco_conf_t *cf, pco_cycle_t *cycle, int priority,
                             const pco_module_t *m, pco_http_body_filter_pt f);

/* Every route of every server, in order (valid from conf_done on). */
size_t pco_http_routes(pco_cycle_t *cycle, pco_http_route_t ***routes);
/* Claims a route's action ("return", "static", ...); an error when it already has one. */
int pco_http_route_set_action(pco_conf_t *cf, pco_http_route_t *rt, const char *action,
                              pco_http_handler_pt content, const pco_conf_src_t *src);
/* A listener of a module's own, served by the HTTP engine (the admin API's unix socket):
 * one virtual server with one route that matches every request and runs content; the
 * settings of the `http` block apply to it (logs, limits, access). conf_done of a module
 * that requires http; text as in `listen` ("unix:/path", "127.0.0.1:8081"), an address no
 * configured server listens on. PCO_OK, or PCO_ERROR after reporting at src. */
int pco_http_listen_module(pco_conf_t *cf, pco_cycle_t *cycle, const char *text,
                           const char *action, pco_http_handler_pt content,
                           const pco_conf_src_t *src);

/* ---- variables and templates ---- */

/* Getter: sets *v (may point anywhere that lives as long as r) and returns PCO_OK, or
 * PCO_DECLINED when the value is absent ("-" in logs, null in JSON, empty elsewhere).
 * For prefix variables ($arg_NAME...) `name` is the part after the prefix. */
typedef int (*pco_http_var_get_pt)(pco_http_request_t *r, const pco_str_t *name,
                                   uintptr_t data, pco_str_t *v);

#define PCO_HTTP_VAR_PREFIX   0x01   /* "arg_" matches $arg_anything */
#define PCO_HTTP_VAR_NOCACHE  0x02   /* re-evaluated on every use ($status, $request_time) */
#define PCO_HTTP_VAR_NUMBER   0x04   /* JSON logs print it unquoted */

int pco_http_variable_add(pco_conf_t *cf, pco_cycle_t *cycle, const char *name,
                          pco_http_var_get_pt get, uintptr_t data, unsigned flags);

typedef struct pco_http_template_s pco_http_template_t;

/* Compiles "text with $vars and ${vars}" (names resolved at conf_final, so a variable of a
 * later module may be used; unknown names are errors at src). Captures $1..$9 and named
 * captures of the route's path_regex are allowed. */
pco_http_template_t *pco_http_template_compile(pco_conf_t *cf, pco_cycle_t *cycle,
                                               const pco_str_t *text,
                                               const pco_conf_src_t *src);
/* r->client_addr as text without port ($remote_addr, X-Real-IP, ip_hash): the connection's
 * cached text when it is the peer, else formatted once per request into r->pool; an empty
 * string when out of memory. */
pco_str_t pco_http_client_addr_text(pco_http_request_t *r);
bool pco_http_template_is_literal(const pco_http_template_t *t);
/* Evaluates into r->pool; absent variables expand to "". PCO_OK or PCO_ERROR (memory). */
int pco_http_template_eval(pco_http_request_t *r, const pco_http_template_t *t,
                           pco_str_t *out);
/* Evaluates t as the value of header `name` (a response header, or one sent upstream):
 * PCO_OK, or PCO_ERROR (memory, or the value came out with a control character other than
 * HTAB, which would split the header line: one error-log line names the header; the caller
 * answers 500 and sends nothing of it). */
int pco_http_template_eval_header(pco_http_request_t *r, const pco_http_template_t *t,
                                  const pco_str_t *name, pco_str_t *out);
/* Low-level access for log formats: the template's parts. */
typedef struct {
    pco_str_t   literal;      /* when var < 0 */
    int         var;          /* variable index, or -1 for a literal part */
    pco_str_t   arg;          /* prefix variables: the suffix (e.g. "user_agent") */
    int         capture;      /* $1..$9 -> 1..9; named captures -> -2 with arg; else 0 */
} pco_http_template_part_t;
size_t pco_http_template_parts(const pco_http_template_t *t,
                               const pco_http_template_part_t **parts);
/* Evaluates one part; PCO_OK, or PCO_DECLINED when the value is absent. */
int pco_http_template_part_value(pco_http_request_t *r, const pco_http_template_part_t *p,
                                 pco_str_t *v, bool *is_number);

/* ---- servers and routes (runtime) ---- */

typedef struct {
    pco_str_t   name;
    pco_str_t   value;
} pco_http_kv_t;

struct pco_http_route_s {
    pco_conf_node_t      *node;          /* confs of every module, inherited values filled */
    pco_http_server_t    *server;
    unsigned              index;         /* position in the server's routes */
    /* match */
    pco_str_t             path;          /* exact (empty = any) */
    pco_str_t             path_prefix;
    pcre2_code           *path_regex;    /* JIT-compiled */
    uint32_t              regex_captures;
    unsigned              methods;       /* bits; 0 = any (GET implies HEAD) */
    pco_http_kv_t        *headers;       /* all must match (value exact, name case-insens.) */
    size_t                nheaders;
    /* action */
    const char           *action;        /* "return", "static", ... */
    pco_http_handler_pt   content;
    pco_conf_src_t        src;
};

struct pco_http_server_s {
    pco_conf_node_t      *node;
    unsigned              index;
    pco_str_t             name;          /* first of names ($server_name), "" if none */
    pco_http_route_t    **routes;
    size_t                nroutes;
};

/* The configuration of module m for the request's route (or server before routing). */
void *pco_http_route_conf(pco_http_request_t *r, const pco_module_t *m);
void *pco_http_server_conf(pco_http_request_t *r, const pco_module_t *m);
void *pco_http_main_conf(pco_cycle_t *cycle, const pco_module_t *m);   /* http { } scope */

/* ---- requests ---- */

/* Extra response headers a request may carry: above what an upstream may send the proxy
 * (PCO_PROXY_MAX_HEADERS, 100, as HAProxy's tune.http.maxhdr 101) plus what routes add. */
#define PCO_HTTP_MAX_RESPONSE_HEADERS 256

typedef struct {
    pco_http_kv_t     *headers;          /* extra headers: from r->pool, grown on demand */
    unsigned           nheaders;
    unsigned           nalloc;
    pco_str_t          content_type;
    int64_t            content_length;   /* -1 unknown (chunked or close-delimited) */
    time_t             last_modified;    /* -1 none */
    pco_str_t          location;
    pco_str_t          status_line;      /* optional custom reason: "200 OK" */
} pco_http_headers_out_t;

struct pco_http_request_s {
    pco_connection_t        *connection;
    pco_pool_t              *pool;
    void                   **ctx;            /* per module index */
    pco_http_head_t          head;           /* parsed request head (points into head_buf) */
    pco_str_t                uri;            /* normalised, percent-encoded path ($uri) */
    pco_str_t                args;           /* query string ($args) */
    pco_str_t                host;           /* normalised host ($host) */
    bool                     uri_changed;    /* normalisation changed the path */
    pco_http_server_t       *server;
    pco_http_route_t        *route;
    /* route regex captures */
    PCRE2_SIZE              *captures;       /* ovector copy: 2 * ncaptures */
    uint32_t                 ncaptures;
    pco_str_t                request_id;     /* 32 hex, or a trusted peer's valid one */
    /* The client: the connection's peer, or the address real_ip found in a trusted header.
     * $remote_addr, X-Real-IP, ip_hash and access rules use it; X-Forwarded-For appends the
     * peer (c->sockaddr). */
    const pco_sockaddr_t    *client_addr;
    socklen_t                client_socklen;
    /* client_addr as text (pco_http_client_addr_text), valid while client_addr equals
     * client_addr_of: real_ip may change client_addr after a first use */
    pco_str_t                client_addr_text;
    const pco_sockaddr_t    *client_addr_of;
    pco_str_t               *var_cache;      /* lazily evaluated variables */
    uint8_t                 *var_state;      /* 0 not evaluated, 1 value, 2 absent */

    /* response */
    int                      status;
    int                      client_status;  /* with background: the status the client got */
    pco_http_headers_out_t   out;
    int64_t                  body_bytes_sent;
    int64_t                  bytes_sent;
    int64_t                  request_length;
    pco_msec_t               start_msec;
    time_t                   start_sec;
    unsigned                 start_msec_part;

    int                      phase;          /* current phase */
    unsigned                 phase_handler;  /* index within the flattened array */
    pco_http_event_pt        write_handler;  /* called when the client can take more, or
                                              * with client_gone set when it failed or hit
                                              * send_timeout: it must then finalise r */
    pco_http_event_pt        read_handler;   /* called when more request body arrived */

    /* request body */
    int64_t                  body_left;      /* Content-Length bytes not yet read, or -1 */
    pco_http_chunked_t       chunked;

    unsigned                 header_sent:1;
    unsigned                 header_only:1;  /* HEAD, 204, 304 */
    unsigned                 keepalive:1;    /* the connection stays open after this */
    unsigned                 chunked_out:1;  /* response uses chunked framing */
    unsigned                 body_done:1;    /* request body fully read or discarded */
    unsigned                 discarding:1;
    unsigned                 continue_sent:1;
    unsigned                 finalized:1;
    unsigned                 logged:1;
    unsigned                 client_gone:1;  /* 499 when no byte reached the client */
    unsigned                 complete:1;     /* the whole response reached the client's
                                              * socket ($request_completion "OK") */
    unsigned                 lingering:1;
    unsigned                 error_page:1;   /* we are sending a generated error page */
    unsigned                 background:1;   /* the client's response went out before the
                                              * content handler ran (the cache answered
                                              * from a stale entry, and the route's handler
                                              * refreshes it): whatever the handler sends
                                              * is dropped by the module that set this, and
                                              * however it ends, the request ends as if
                                              * complete, logged with client_status */
    unsigned                 keep_producing:1;   /* a body filter still needs the whole
                                              * response (the cache stores it): when the
                                              * client goes away, a producer that can (the
                                              * proxy) goes on to the end, the writer
                                              * dropping what it is given */
};

#define pco_http_get_ctx(r, m)      ((r)->ctx[(m)->index])
#define pco_http_set_ctx(r, c, m)   ((r)->ctx[(m)->index] = (c))

/* Request header lists start with room for this many entries (r->pool); most requests
 * carry fewer, and a longer list grows. */
#define PCO_HTTP_HEADERS_START 16

/* Gives a header list (pco_http_header_t, in pool) room for at least want entries: at
 * least twice its room, at most max. The first n entries are copied; the old array stays
 * in the pool (the waste is bounded by the final size), so pointers into it go stale and
 * indexes do not. PCO_OK, or PCO_ERROR when the list is at max or memory runs out. */
int pco_http_headers_grow(pco_pool_t *pool, pco_http_header_t **headers, unsigned n,
                          unsigned *nalloc, unsigned want, unsigned max);
/* Appends a request header (to be forwarded by the proxy), growing the list: its entry, or
 * NULL when the request has PCO_HTTP_MAX_HEADERS already or memory runs out. Pointers to
 * other entries of r->head.headers are stale afterwards. */
pco_http_header_t *pco_http_head_add(pco_http_request_t *r);

/* Adds (or replaces, when replace is true; a NULL value.data with replace removes) a
 * response header; PCO_ERROR on overflow, 500 (and an error-log line) when the value holds
 * CR, LF, NUL or another control character or the name is not a token. Pointers are kept:
 * name and value must live as long as r. */
int pco_http_set_header(pco_http_request_t *r, const pco_str_t *name, const pco_str_t *value,
                        bool replace);
/* Runs the header filters (builds and queues the head). PCO_OK / PCO_ERROR. */
int pco_http_send_header(pco_http_request_t *r);
/* The Server, Date and X-Request-Id lines every response carries (docs/http.md), for a module
 * that writes a head itself (the proxy's WebSocket 101): pco_http_std_headers writes at most
 * pco_http_std_headers_len(r) bytes at p and returns the end. */
size_t pco_http_std_headers_len(pco_http_request_t *r);
u_char *pco_http_std_headers(pco_http_request_t *r, u_char *p);
/* A request carried by a multiplexed protocol (an HTTP/2 stream: RFC 8441 extended CONNECT)
 * answers that its tunnel is open: status (200) with portico's Server, Date and X-Request-Id
 * and the given fields; the bytes that follow both ways through r->connection's io are the
 * tunnel's. PCO_OK, PCO_ERROR, or PCO_DECLINED when r came over HTTP/1 (which switches with
 * a 101 head of its own). */
int pco_http_tunnel_head(pco_http_request_t *r, int status, const pco_http_header_t *fields,
                         unsigned n);
/* Ends a request whose connection cannot be reused (r->keepalive = 0) without an error: a
 * TLS connection then closes with close_notify (the tunnel after a clean close). */
void pco_http_finalize_closed(pco_http_request_t *r);
/* The client's send_timeout for r (a module writing to the client itself arms it). */
pco_msec_t pco_http_send_timeout(pco_http_request_t *r);
/* Runs the body filters with in (may be NULL to flush). Returns PCO_OK when everything was
 * written or queued within the connection's budget, PCO_AGAIN when the caller should stop
 * producing until r->write_handler is called, PCO_ERROR when the client is gone. */
int pco_http_output(pco_http_request_t *r, pco_chain_t *in);
/* Sends a complete in-memory response (status, content type, body; HEAD-aware). */
int pco_http_send_response(pco_http_request_t *r, int status, const pco_str_t *content_type,
                           const pco_str_t *body);
/* Ends the request: rc is PCO_OK/PCO_DONE (response complete), an HTTP status >= 300 with
 * no header sent (error page), PCO_AGAIN (response still being written), or PCO_ERROR
 * (close the connection). Logs, then keeps the connection alive or closes it. */
void pco_http_finalize_request(pco_http_request_t *r, int rc);
/* A module that answered the client before the content phase (the cache, from a stale
 * entry) lets the route's handler run behind the answer (r->background): the answer's
 * status is kept for the log, r->out is cleared for the handler's response, and a client
 * that asked to close sees its answer end as soon as it is written (the plain-TCP write
 * side is shut down then; TLS waits for the close_notify at the end). */
void pco_http_background_start(pco_http_request_t *r);
/* Resumes the phase engine after a handler returned PCO_AGAIN. */
void pco_http_run_phases(pco_http_request_t *r);
/* Reads and drops the request body (return, static, errors): PCO_OK or an HTTP status. */
int pco_http_discard_body(pco_http_request_t *r);

/* Streaming request-body reader (pco_http_body.c): copies up to size body bytes into buf
 * (a chunked body de-chunked: data only, its framing, extensions and trailers validated and
 * dropped), *n set. PCO_OK (more follows), PCO_DONE (complete), PCO_AGAIN (r->read_handler
 * runs when more arrives), PCO_ERROR (client gone) or an HTTP status (400, 413, 431). */
int pco_http_read_body(pco_http_request_t *r, u_char *buf, size_t size, size_t *n);

/* Status reason phrase: 404 -> "Not Found" ("" for unknown codes). */
pco_str_t pco_http_status_reason(int status);
/* Request-scoped error log context is set by the HTTP module on c->log. */

#endif
