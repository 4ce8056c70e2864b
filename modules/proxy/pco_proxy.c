/*
 * pco_proxy.c: the `proxy` route action (docs/http.md): picks a server of the route's upstream
 * (pco_upstream_get), connects without blocking under connect_timeout, reuses a pooled keep-alive
 * connection when one is idle (pco_proxy_pool.c), sends the request head (pco_proxy_request.c) and
 * streams the request body through one 16 KiB buffer with back-pressure (pco_proxy_send.c; bodies
 * up to one buffer are held so an idempotent request can be retried, and a chunked one held whole
 * goes with a Content-Length; a longer chunked body is de-chunked by the engine's reader and
 * chunked again by us, so the client's extensions and trailers never reach the upstream); the
 * response is handled in pco_proxy_response.c and WebSocket tunnels in pco_proxy_tunnel.c.
 * Failures: 502 (refused/reset/invalid), 504 (timeouts), 503 (no usable server); retries per
 * next_upstream / retries / next_upstream_timeout only while nothing of the request body was lost
 * and nothing reached the client. Variables $upstream_addr, $upstream_status,
 * $upstream_response_time. Hooks: conf_done (resolves upstreams, claims routes, registers
 * variables). Per request state in r->pool, closed by a pool cleanup.
 */
#include <strings.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include "pco_proxy.h"
#include "pco_string.h"

static int pco_proxy_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_proxy_handler(pco_http_request_t *r);

/* Where member m of the proxy group was written, for messages. */
#define PCO_PROXY_SRC(pcf, m)  PCO_CONF_SRC(pcf, pco_proxy_route_conf_t, spec.m)
/* Where member m of set_headers[i] was written (the element's line when not written). */
#define PCO_PROXY_HDR_SRC(pcf, i, m)                                                       \
    PCO_CONF_ELT_SRC(&(pcf)->spec.set_headers, i, pco_proxy_header_t, m)

static const pco_setting_t pco_proxy_header_members[] = {
    { .name = "name", .type = PCO_CONF_STRING, .offset = offsetof(pco_proxy_header_t, name),
      .flags = PCO_CONF_REQUIRED, .help = "header name" },
    { .name = "value", .type = PCO_CONF_STRING, .offset = offsetof(pco_proxy_header_t, value),
      .flags = PCO_CONF_NOCTL,
      .help = "header value (empty removes the header)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_proxy_members[] = {
    { .name = "upstream", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_proxy_spec_t, upstream), .flags = PCO_CONF_REQUIRED,
      .help = "name of the upstream group to send requests to" },
    { .name = "strip_prefix", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_proxy_spec_t, strip_prefix), .def = "false",
      .help = "remove the route's path_prefix from the path sent upstream" },
    { .name = "websocket", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_proxy_spec_t, websocket), .def = "false",
      .help = "pass WebSocket upgrades through" },
    { .name = "rewrite", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_proxy_spec_t, rewrite), .flags = PCO_CONF_NOCTL,
      .help = "path sent upstream (template: variables and $1..$9 of path_regex)" },
    { .name = "set_headers", .type = PCO_CONF_LIST,
      .offset = offsetof(pco_proxy_spec_t, set_headers), .sub = pco_proxy_header_members,
      .elt_size = sizeof(pco_proxy_header_t),
      .help = "request headers replaced (empty value removes): ( { name; value; } )" },
    { .name = "tunnel_timeout", .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_proxy_spec_t, tunnel_timeout), .def = "\"1h\"", .min = 1,
      .max = 7 * PCO_CONF_DAY,
      .help = "idle timeout of a WebSocket tunnel" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_proxy_settings[] = {
    { .name = "proxy", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_proxy_route_conf_t, spec), .sub = pco_proxy_members,
      .flags = PCO_CONF_NOINHERIT,
      .help = "route action: proxy to an upstream { upstream; strip_prefix; websocket; "
              "rewrite; set_headers; tunnel_timeout; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master; resolves upstream names, compiles rewrite templates, claims the
 * routes' action, registers $upstream_* variables; PCO_OK or PCO_ERROR after reporting).
 * The content handler and the event handlers run in workers and never block.
 */
pco_module_t pco_proxy_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "proxy",
    .settings = pco_proxy_settings,
    .conf_size = sizeof(pco_proxy_route_conf_t),
    .conf_done = pco_proxy_conf_done,
};

/* ---- variables ---- */

/* Appends one value to a try list; a failed allocation drops the value (as the old
 * formatted lists dropped a value they could not allocate). */
static void
pco_proxy_vlist_add(pco_proxy_ctx_t *p, pco_proxy_vlist_t *l, uintptr_t v)
{
    uintptr_t  *n;
    uint32_t    i = l->n - PCO_PROXY_VLIST_INL;

    if (l->n < PCO_PROXY_VLIST_INL) {
        l->inl[l->n++] = v;
        return;
    }
    if (i == l->ext_cap) {
        n = pco_palloc(p->r->pool, (l->ext_cap ? 2 * l->ext_cap : 4) * sizeof(uintptr_t));
        if (n == NULL) {
            return;
        }
        if (l->ext_cap > 0) {
            memcpy(n, l->ext, l->ext_cap * sizeof(uintptr_t));
        }
        l->ext = n;
        l->ext_cap = l->ext_cap ? 2 * l->ext_cap : 4;
    }
    l->ext[i] = v;
    l->n++;
}

static uintptr_t
pco_proxy_vlist_get(const pco_proxy_vlist_t *l, uint32_t i)
{
    return i < PCO_PROXY_VLIST_INL ? l->inl[i] : l->ext[i - PCO_PROXY_VLIST_INL];
}

/* Writes one entry as the variable shows it; returns the end (at most 32 bytes, or the
 * server name's length for $upstream_addr). */
static u_char *
pco_proxy_var_entry(u_char *q, uintptr_t data, uintptr_t e)
{
    const pco_str_t  *name;
    int64_t           t;

    switch (data) {
    case 0:
        name = (const pco_str_t *) e;
        memcpy(q, name->data, name->len);
        return q + name->len;
    case 1:
        if (e == 0) {
            *q++ = '-';    /* no response, as nginx */
            return q;
        }
        return pco_sprint_u64(q, (uint64_t) e);
    default:
        /* seconds with milliseconds: "0.004" */
        t = (int64_t) e;
        return pco_sprint_msec(q, t);
    }
}

/* $upstream_addr, $upstream_status, $upstream_response_time: the tries' values joined by
 * ", ", formatted here, at the read, into r->pool. */
static int
pco_proxy_var(pco_http_request_t *r, const pco_str_t *name, uintptr_t data, pco_str_t *v)
{
    pco_proxy_ctx_t    *p = pco_http_get_ctx(r, &pco_proxy_module);
    pco_proxy_vlist_t  *l;
    size_t              size = 0;
    uint32_t            i;
    u_char             *q;

    pco_unused(name);
    if (p == NULL || p->req.tries == 0) {
        return PCO_DECLINED;
    }
    l = data == 0 ? &p->var.addr : data == 1 ? &p->var.status : &p->var.time;
    if (l->n == 0) {
        return PCO_DECLINED;
    }
    for (i = 0; i < l->n; i++) {
        size += 2 + (data == 0 ? ((const pco_str_t *) pco_proxy_vlist_get(l, i))->len : 32);
    }
    v->data = pco_pnalloc(r->pool, size);
    if (v->data == NULL) {
        return PCO_DECLINED;
    }
    q = v->data;
    for (i = 0; i < l->n; i++) {
        if (i > 0) {
            *q++ = ',';
            *q++ = ' ';
        }
        q = pco_proxy_var_entry(q, data, pco_proxy_vlist_get(l, i));
    }
    v->len = (size_t) (q - v->data);
    return PCO_OK;
}

void
pco_proxy_record(pco_proxy_ctx_t *p, int status)
{
    pco_msec_t  t = pco_current_msec - p->try.start;

    pco_proxy_vlist_add(p, &p->var.status, (uintptr_t) status);
    pco_proxy_vlist_add(p, &p->var.time, (uintptr_t) t);
    pco_upstream_try_report(p->r, p->try.server, status, (int64_t) t);
}

void
pco_proxy_record_head(pco_proxy_ctx_t *p, int status)
{
    pco_proxy_vlist_add(p, &p->var.status, (uintptr_t) status);
    p->try.time_pending = true;
    p->try.status = status;
}

/* The try whose head was recorded ended: its $upstream_response_time, as nginx, covers
 * the whole response from the try's start to its last byte (or its failure). */
static void
pco_proxy_record_end(pco_proxy_ctx_t *p)
{
    pco_msec_t  t = pco_current_msec - p->try.start;

    if (!p->try.time_pending) {
        return;
    }
    p->try.time_pending = false;
    pco_proxy_vlist_add(p, &p->var.time, (uintptr_t) t);
    pco_upstream_try_report(p->r, p->try.server, p->try.status, (int64_t) t);
}

/* ---- configuration ---- */

static int
pco_proxy_compile_headers(pco_conf_t *cf, pco_cycle_t *cycle, pco_proxy_route_conf_t *pcf)
{
    pco_proxy_header_t  *sh = pcf->spec.set_headers.elts;
    size_t               i, j;

    if (pcf->spec.set_headers.n == 0) {
        return PCO_OK;
    }
    pcf->header_tpls = pco_pcalloc(cf->pool, pcf->spec.set_headers.n * sizeof(void *));
    if (pcf->header_tpls == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < pcf->spec.set_headers.n; i++) {
        for (j = 0; j < sh[i].name.len; j++) {
            u_char ch = sh[i].name.data[j];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                  || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            {
                pco_conf_error_src(cf, PCO_PROXY_HDR_SRC(pcf, i, name),
                                   "invalid header name \"%s\"",
                                   (const char *) sh[i].name.data);
                return PCO_ERROR;
            }
        }
        if (sh[i].name.len == 0) {
            pco_conf_error_src(cf, PCO_PROXY_HDR_SRC(pcf, i, name), "empty header name");
            return PCO_ERROR;
        }
        if (sh[i].value.len == 0) {
            continue;
        }
        pcf->header_tpls[i] = pco_http_template_compile(cf, cycle, &sh[i].value,
                                                        PCO_PROXY_HDR_SRC(pcf, i, value));
        if (pcf->header_tpls[i] == NULL) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

static int
pco_proxy_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_route_t         **routes;
    size_t                     n, i;
    int                        rc = PCO_OK;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_http_route_t        *rt = routes[i];
        pco_proxy_route_conf_t  *pcf = pco_conf_get(rt->node, &pco_proxy_module);
        const pco_conf_src_t    *src;

        if (pcf == NULL || !PCO_CONF_IS_SET(pcf, pco_proxy_route_conf_t, spec)) {
            continue;
        }
        src = PCO_CONF_SRC(pcf, pco_proxy_route_conf_t, spec);
        pcf->upstream = pco_upstream_find(cycle, &pcf->spec.upstream);
        if (pcf->upstream == NULL) {
            const char *hint = pco_upstream_suggest(cycle,
                                                    (const char *) pcf->spec.upstream.data);

            if (hint != NULL && strcmp(hint, (const char *) pcf->spec.upstream.data) == 0) {
                /* written, but its own errors (reported at its lines) left it out */
                pco_conf_error_src(cf, PCO_PROXY_SRC(pcf, upstream), "upstream \"%s\" has "
                                   "errors (see above)", hint);
            } else if (hint != NULL) {
                pco_conf_error_src(cf, PCO_PROXY_SRC(pcf, upstream),
                                   "no upstream named \"%s\" (did you mean \"%s\"?)",
                                   (const char *) pcf->spec.upstream.data, hint);
            } else {
                pco_conf_error_src(cf, PCO_PROXY_SRC(pcf, upstream), "no upstream named \"%s\"",
                                   (const char *) pcf->spec.upstream.data);
            }
            rc = PCO_ERROR;
            continue;
        }
        if (pcf->spec.strip_prefix && rt->path_prefix.len == 0) {
            pco_conf_error_src(cf, PCO_PROXY_SRC(pcf, strip_prefix),
                               "strip_prefix needs a path_prefix match");
            rc = PCO_ERROR;
            continue;
        }
        if (pcf->spec.rewrite.len > 0) {
            if (pcf->spec.rewrite.data[0] != '/' && pcf->spec.rewrite.data[0] != '$') {
                pco_conf_error_src(cf, PCO_PROXY_SRC(pcf, rewrite),
                                   "rewrite must start with \"/\"");
                rc = PCO_ERROR;
                continue;
            }
            pcf->rewrite_tpl = pco_http_template_compile(cf, cycle, &pcf->spec.rewrite,
                                                         PCO_PROXY_SRC(pcf, rewrite));
            if (pcf->rewrite_tpl == NULL) {
                rc = PCO_ERROR;
                continue;
            }
        }
        if (pco_proxy_compile_headers(cf, cycle, pcf) != PCO_OK) {
            rc = PCO_ERROR;
            continue;
        }
        if (pco_http_route_set_action(cf, rt, "proxy", pco_proxy_handler, src) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    if (pco_bcache_counters(cf, cycle, &pco_proxy_head_cache) != PCO_OK
        || pco_bcache_counters(cf, cycle, &pco_proxy_relay_cache) != PCO_OK)
    {
        rc = PCO_ERROR;
    }
    if (pco_http_variable_add(cf, cycle, "upstream_addr", pco_proxy_var, 0,
                              PCO_HTTP_VAR_NOCACHE) != PCO_OK
        || pco_http_variable_add(cf, cycle, "upstream_status", pco_proxy_var, 1,
                                 PCO_HTTP_VAR_NOCACHE) != PCO_OK
        || pco_http_variable_add(cf, cycle, "upstream_response_time", pco_proxy_var, 2,
                                 PCO_HTTP_VAR_NOCACHE) != PCO_OK)
    {
        rc = PCO_ERROR;
    }
    return rc;
}

/* ---- connection life ---- */

void
pco_proxy_close_upstream(pco_proxy_ctx_t *p, bool failed)
{
    if (p->try.uc != NULL) {
        pco_upstream_conn_close(p->try.uc);
        p->try.uc = NULL;
    }
    if (p->try.counted_server != NULL) {
        pco_upstream_done(p->try.counted_server, failed);
        p->try.counted_server = NULL;
    }
}

/* The request's pool goes: the upstream connection is closed and the buffers go back (the
 * writer and the LOG phase, which read them, are done by then). */
static void
pco_proxy_cleanup(void *data)
{
    pco_proxy_ctx_t  *p = data;

    pco_proxy_close_upstream(p, false);
    pco_bcache_give(&pco_proxy_head_cache, p->try.hbuf);
    pco_bcache_give(&pco_proxy_relay_cache, p->out.obuf);
    p->try.hbuf = NULL;
    p->out.obuf = NULL;
}

void
pco_proxy_finish(pco_proxy_ctx_t *p, int rc)
{
    pco_http_request_t  *r = p->r;

    if (p->req.finished) {
        return;
    }
    pco_proxy_record_end(p);
    p->req.finished = true;
    p->state = PCO_PROXY_DONE;
    pco_proxy_close_upstream(p, false);
    r->read_handler = NULL;
    r->write_handler = NULL;
    pco_http_finalize_request(r, rc);
}

/* Starts a try on a new server: PCO_AGAIN (in progress) or the status to finish with. */
static int pco_proxy_connect_server(pco_proxy_ctx_t *p, pco_upstream_server_t *s);

/* The balancer key: the upstream's hash_key (hash), else the client address (ip_hash);
 * evaluated once per request, and only for a balancer that reads it (round robin and the
 * others would throw the formatted address away). */
static const pco_str_t *
pco_proxy_key(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;

    if (p->req.key.data != NULL) {
        return &p->req.key;
    }
    if (!p->req.u->balancer->uses_key) {
        p->req.key.data = (u_char *) "";
        p->req.key.len = 0;
        return &p->req.key;
    }
    if (p->req.u->hash_key != NULL) {
        if (pco_http_template_eval(r, p->req.u->hash_key, &p->req.key) != PCO_OK) {
            return NULL;
        }
        if (p->req.key.data == NULL) {
            p->req.key.data = (u_char *) "";
        }
        return &p->req.key;
    }
    p->req.key = pco_http_client_addr_text(r);
    return p->req.key.data != NULL ? &p->req.key : NULL;
}

static int
pco_proxy_connect(pco_proxy_ctx_t *p, int last_status)
{
    pco_upstream_t         *u = p->req.u;
    pco_upstream_server_t  *s;
    pco_connection_t       *uc;
    int                     rc;

    for ( ;; ) {
        if (p->req.tries > 0 && u->next_upstream_timeout > 0
            && pco_current_msec - p->req.first_start >= u->next_upstream_timeout)
        {
            return last_status;
        }
        s = pco_upstream_get(u, pco_proxy_key(p), p->req.tried);
        if (s == NULL) {
            return p->req.tries > 0 ? last_status : 503;
        }
        p->try.counted_server = s;
        p->try.server = s;
        p->try.sname = s->name;
        p->req.tries++;
        p->try.start = pco_current_msec;
        pco_proxy_vlist_add(p, &p->var.addr, (uintptr_t) &s->name);
        uc = pco_proxy_pool_get(u, s, &p->try.uses,
                                pco_proxy_idempotent(p->r) && p->upreq.body_held);
        if (uc != NULL) {
            p->try.reused = true;
            uc->data = p;
            uc->log = p->r->connection->log;
            uc->read.handler = pco_proxy_up_read;
            uc->write.handler = pco_proxy_up_write;
            p->try.uc = uc;
            p->try.uc_server = s;
            p->state = PCO_PROXY_SENDING;
            p->try.head_sent = 0;
            p->try.rbuf_sent = 0;
            p->try.hbuf_len = 0;
            if (!pco_proxy_send_now(p)) {
                pco_event_post(&uc->write);
            }
            return PCO_AGAIN;
        }
        rc = pco_proxy_connect_server(p, s);
        if (rc == PCO_AGAIN) {
            return PCO_AGAIN;
        }
        if (rc == PCO_DECLINED) {
            pco_proxy_record(p, 502);
            pco_proxy_close_upstream(p, true);
            last_status = 502;
            if (!(u->next_upstream & PCO_UPSTREAM_NEXT_ERROR)
                || p->req.tries > (unsigned) u->retries)
            {
                return 502;
            }
            continue;
        }
        pco_proxy_record(p, 502);
        pco_proxy_close_upstream(p, false);
        return 502;
    }
}

/* A fresh connection to s: PCO_AGAIN (connecting), PCO_DECLINED (connect failed: another
 * server may be tried) or PCO_ERROR (local trouble). */
static int
pco_proxy_connect_server(pco_proxy_ctx_t *p, pco_upstream_server_t *s)
{
    pco_connection_t  *uc;
    int                fd, one = 1;

    {
        p->try.reused = false;
        p->try.uses = 0;
        fd = socket(s->sockaddr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1) {
            pco_log_err(PCO_LOG_ERR, p->r->connection->log, errno, "socket() failed");
            return PCO_ERROR;
        }
        if (s->sockaddr.sa.sa_family != AF_UNIX) {
            /* Set once per connection, not lazily as nginx does: nginx writes a buffered
             * request in one go, but here a small write often follows another before it is
             * acknowledged (the PROXY header then the head, a TLS handshake's last flight
             * then the request, a streamed body's last piece, WebSocket frames), which
             * Nagle would hold for an ACK the backend may delay by 40 ms. Pooled connections
             * keep it, so with keep-alive it costs one setsockopt per new connection. */
            (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (connect(fd, &s->sockaddr.sa, s->socklen) == -1 && errno != EINPROGRESS) {
            pco_log_err(PCO_LOG_ERR, p->r->connection->log, errno,
                        "connect() to upstream %.*s failed", (int) s->name.len,
                        (const char *) s->name.data);
            close(fd);
            return PCO_DECLINED;
        }
        uc = pco_conn_get(fd);
        if (uc == NULL) {
            close(fd);
            return PCO_ERROR;
        }
        uc->data = p;
        uc->log = p->r->connection->log;
        uc->sockaddr = s->sockaddr;
        uc->socklen = s->socklen;
        uc->read.handler = pco_proxy_up_read;
        uc->write.handler = pco_proxy_up_write;
        p->try.uc = uc;
        p->try.uc_server = s;
        if (pco_event_add_conn(uc) != PCO_OK) {
            pco_upstream_conn_close(uc);
            p->try.uc = NULL;
            return PCO_ERROR;
        }
        p->state = PCO_PROXY_CONNECTING;
        p->try.head_sent = 0;
        p->try.rbuf_sent = 0;
        p->try.hbuf_len = 0;
        pco_event_add_timer(&uc->write, p->req.u->connect_timeout);
        return PCO_AGAIN;
    }
}

bool
pco_proxy_can_retry(pco_proxy_ctx_t *p)
{
    pco_upstream_t  *u = p->req.u;
    unsigned         i;

    if (p->req.tries > (unsigned) u->retries || p->req.interim_sent || p->r->header_sent
        || (u->next_upstream & PCO_UPSTREAM_NEXT_OFF)
        || (u->next_upstream_timeout > 0
            && pco_current_msec - p->req.first_start >= u->next_upstream_timeout))
    {
        return false;
    }
    for (i = 0; i < pco_upstream_npos(u); i++) {
        if (pco_upstream_candidate(&u->servers[i], p->req.tried, u->servers[i].backup)) {
            return true;
        }
    }
    return false;
}

bool
pco_proxy_idempotent(const pco_http_request_t *r)
{
    return (r->head.method & (PCO_HTTP_GET | PCO_HTTP_HEAD | PCO_HTTP_PUT | PCO_HTTP_DELETE
                              | PCO_HTTP_OPTIONS | PCO_HTTP_TRACE)) != 0;
}

/* A try failed with status (502/504, or an upstream 5xx listed in next_upstream): retry
 * when allowed, else finish with it. */
void
pco_proxy_fail(pco_proxy_ctx_t *p, int status, unsigned kind, bool record)
{
    pco_http_request_t  *r = p->r;
    pco_upstream_t      *u = p->req.u;
    bool                 can;
    int                  rc;

    pco_proxy_record_end(p);

    if (p->try.reused && p->try.counted_server != NULL && kind == PCO_UPSTREAM_NEXT_ERROR
        && !r->header_sent && !p->req.interim_sent && p->try.hbuf_len == 0
        && p->state != PCO_PROXY_READ_BODY
        && ((p->try.head_sent == 0 && !p->upreq.body_written)
            || (pco_proxy_idempotent(r) && (p->upreq.body_held || !p->upreq.body_written))))
    {
        /* a pooled connection the backend had closed: a fresh one, not a new try */
        pco_upstream_conn_close(p->try.uc);
        p->try.uc = NULL;
        rc = pco_proxy_connect_server(p, p->try.counted_server);
        if (rc == PCO_AGAIN) {
            return;
        }
    }
    if (record) {
        pco_proxy_record(p, status);
    }
    pco_proxy_close_upstream(p, true);
    can = (u->next_upstream & kind) && !(u->next_upstream & PCO_UPSTREAM_NEXT_OFF)
          && p->req.tries <= (unsigned) u->retries && !r->header_sent && !p->req.interim_sent
          && (p->state == PCO_PROXY_CONNECTING
              || (pco_proxy_idempotent(r) && (p->upreq.body_held || !p->upreq.body_written)));
    if (!can) {
        pco_proxy_finish(p, status);
        return;
    }
    rc = pco_proxy_connect(p, status);
    if (rc != PCO_AGAIN) {
        pco_proxy_finish(p, rc);
    }
}

/* ---- the content handler ---- */

int
pco_proxy_parse_head(pco_proxy_ctx_t *p)
{
    pco_proxy_resp_t  *resp = &p->try.resp;
    int                rc;

    while ((rc = pco_proxy_parse_response(p->try.hbuf, p->try.hbuf_len, resp))
           == PCO_PROXY_ROOM)
    {
        /* the parse starts over from the status line: nothing in the list to keep */
        if (pco_http_headers_grow(p->r->pool, &resp->headers, 0, &resp->nalloc, resp->nwant,
                                  PCO_PROXY_MAX_HEADERS) != PCO_OK)
        {
            return PCO_ERROR;
        }
    }
    return rc;
}

/*
 * The response head buffer (16 KiB, every proxied request) and the relay buffer (64 KiB,
 * only a body longer than what the head buffer has room for) come from per-worker caches of
 * buffers mapped one by one (core/pco_bcache.h: they never pin the heap, and the timer
 * unmaps what a burst left unused). low: kept however long unused, 256 KiB each, what a few
 * requests at once need; max_free: at most 64 MiB each held free, about 1,000 large bodies
 * or 4,000 requests in flight, so a steady load up to there maps nothing per request.
 */
pco_bcache_t pco_proxy_head_cache = PCO_BCACHE_INIT("proxy_head", PCO_PROXY_BUF_SIZE, 16,
                                                    4096);
pco_bcache_t pco_proxy_relay_cache = PCO_BCACHE_INIT("proxy_relay", PCO_PROXY_OBUF_SIZE, 4,
                                                     1024);

u_char *
pco_proxy_obuf(pco_proxy_ctx_t *p)
{
    if (p->out.obuf == NULL) {
        p->out.obuf = pco_bcache_take(&pco_proxy_relay_cache);
    }
    return p->out.obuf;
}

static int
pco_proxy_handler(pco_http_request_t *r)
{
    pco_proxy_route_conf_t  *pcf = pco_http_route_conf(r, &pco_proxy_module);
    pco_proxy_ctx_t         *p;
    size_t                   got, total = 0;
    int                      rc = PCO_OK;

    p = pco_pcalloc(r->pool, sizeof(pco_proxy_ctx_t));
    if (p == NULL) {
        return 500;
    }
    p->r = r;
    p->req.pcf = pcf;
    p->req.u = pcf->upstream;
    p->req.first_start = pco_current_msec;
    p->out.left = -1;
    p->try.hbuf_size = PCO_PROXY_BUF_SIZE;
    /* the response's header list: room for a usual response, grown for a longer one */
    p->try.resp.headers = pco_palloc(r->pool, PCO_HTTP_HEADERS_START * sizeof(pco_http_header_t));
    p->try.resp.nalloc = PCO_HTTP_HEADERS_START;
    p->out.ob = pco_buf_calloc(r->pool);
    if (p->try.resp.headers == NULL || p->out.ob == NULL
        || pco_pool_cleanup_add(r->pool, pco_proxy_cleanup, p) != PCO_OK)
    {
        return 500;
    }
    p->try.hbuf = pco_bcache_take(&pco_proxy_head_cache);
    if (p->try.hbuf == NULL) {
        return 500;
    }
    p->out.ob->temporary = 1;
    p->out.rch.meta_limit = PCO_PROXY_BUF_SIZE;
    pco_http_set_ctx(r, p, &pco_proxy_module);
    p->req.ws = pco_proxy_websocket(p);
    /* the request body buffer (also the client-to-upstream side of a WebSocket tunnel):
     * a bodiless request, most of them, gets a token one, which keeps idle memory low */
    p->upreq.rbuf_size = r->head.content_length > 0 || r->head.chunked || p->req.ws
                   ? PCO_PROXY_BUF_SIZE : 16;
    p->upreq.rdata = pco_palloc(r->pool, p->upreq.rbuf_size + 2 * PCO_PROXY_CHUNK_ROOM);
    if (p->upreq.rdata == NULL) {
        return 500;
    }
    p->upreq.rdata += PCO_PROXY_CHUNK_ROOM;
    /* what of the body is here already, up to one buffer: held for retries when complete */
    while (total < p->upreq.rbuf_size) {
        rc = pco_http_read_body(r, p->upreq.rdata + total, p->upreq.rbuf_size - total, &got);
        total += got;
        /* PCO_OK with got == 0: only chunk framing was consumed (an extension split
         * across reads, say); go on while bytes are there, so that an error in them is
         * answered before anything reaches the upstream */
        if (rc != PCO_OK) {
            break;
        }
    }
    if (rc == PCO_ERROR) {
        return PCO_ERROR;
    }
    if (rc >= 100) {
        return rc;
    }
    p->upreq.body_len = total;
    p->upreq.body_held = rc == PCO_DONE;
    p->upreq.body_read_done = rc == PCO_DONE;
    /* a chunked body held whole goes with a Content-Length; else we chunk it again */
    p->upreq.rechunk = r->head.chunked && !p->upreq.body_held;
    pco_proxy_body_frame(p, total, p->upreq.body_read_done);
    if (pco_proxy_build_request(p) != PCO_OK) {
        return 500;
    }
    if (r->connection->read.timer_index) {
        /* the rest of the body is read once the upstream takes the first part: until then
         * portico is not waiting for the client, whose client_body_timeout starts again
         * when the sender next finds nothing to read (pco_proxy_send) */
        pco_event_del_timer(&r->connection->read);
    }
    r->read_handler = pco_proxy_client_read;
    r->write_handler = pco_proxy_client_write;
    rc = pco_proxy_connect(p, 502);
    if (rc != PCO_AGAIN) {
        r->read_handler = NULL;
        r->write_handler = NULL;
        p->req.finished = true;
        return rc;
    }
    return PCO_AGAIN;
}
