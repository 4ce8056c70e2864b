/*
 * pco_proxy_request.c: builds the head of the request sent upstream (docs/http.md):
 * the target in origin-form (original, normalised, rewritten or prefix-stripped; an
 * absolute-form target loses its scheme and authority), HTTP/1.1, one Host (the host the
 * request was routed by), the client's headers minus hop-by-hop ones, those named in
 * Connection and Proxy (httpoxy), X-Forwarded-* / X-Real-IP / X-Request-Id set by us, the
 * route's set_headers, and body framing of our own: Content-Length when the whole body is
 * held, else the length the client declared or our own chunking (pco_proxy_send.c); the
 * client's chunk extensions and trailers never reach the upstream.
 * Everything is allocated from r->pool; nothing shared.
 */
#include <strings.h>
#include <stdio.h>
#include "pco_proxy.h"
#include "pco_string.h"

/* True when the client's Connection header names this header (it is hop-by-hop then). */
static bool
pco_proxy_in_connection(pco_http_request_t *r, const pco_str_t *name)
{
    pco_http_header_t  *h;
    size_t              i, s;

    if (r->head.connection_idx == 0) {
        return false;
    }
    h = &r->head.headers[r->head.connection_idx - 1];
    i = 0;
    while (i < h->value.len) {
        while (i < h->value.len && (h->value.data[i] == ' ' || h->value.data[i] == ',')) {
            i++;
        }
        s = i;
        while (i < h->value.len && h->value.data[i] != ',' && h->value.data[i] != ' ') {
            i++;
        }
        if (i - s == name->len && i > s
            && strncasecmp((const char *) h->value.data + s, (const char *) name->data,
                           name->len) == 0)
        {
            return true;
        }
    }
    return false;
}

/* "Proxy" is dropped always: CGI-style backends would read it as HTTP_PROXY, their
 * outgoing proxy (httpoxy). */
static bool
pco_proxy_skip_header(pco_proxy_ctx_t *p, const pco_str_t *n)
{
    static const char *const  drop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "HTTP2-Settings", "Expect", "Content-Length",
        "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP",
        "X-Request-Id", "Proxy", NULL
    };
    const pco_proxy_header_t *sh = p->req.pcf->spec.set_headers.elts;
    size_t                    i;

    if (n->len == 0) {
        return true;            /* removed by a module (pco_http_parse.h) */
    }
    for (i = 0; drop[i] != NULL; i++) {
        if (pco_str_caseeq_lit(n, drop[i])) {
            return true;
        }
    }
    for (i = 0; i < p->req.pcf->spec.set_headers.n; i++) {
        if (pco_str_caseeq(&sh[i].name, n)) {
            return true;
        }
    }
    return pco_proxy_in_connection(p->r, n);
}

/* The request target to send. */
static int
pco_proxy_target(pco_proxy_ctx_t *p, pco_str_t *path, pco_str_t *query)
{
    pco_http_request_t  *r = p->r;
    pco_http_route_t    *rt = r->route;

    query->len = 0;
    query->data = NULL;
    if (p->req.pcf->rewrite_tpl != NULL) {
        if (pco_http_template_eval(r, p->req.pcf->rewrite_tpl, path) != PCO_OK) {
            return PCO_ERROR;
        }
        if (memchr(path->data, '?', path->len) == NULL) {
            *query = r->args;
        }
        return PCO_OK;
    }
    if (p->req.pcf->spec.strip_prefix && rt->path_prefix.len > 0
        && r->uri.len >= rt->path_prefix.len)
    {
        size_t plen = rt->path_prefix.len;

        if (rt->path_prefix.data[plen - 1] == '/') {
            plen--;
        }
        path->data = r->uri.data + plen;
        path->len = r->uri.len - plen;
        if (path->len == 0 || path->data[0] != '/') {
            u_char *np = pco_pnalloc(r->pool, path->len + 1);

            if (np == NULL) {
                return PCO_ERROR;
            }
            np[0] = '/';
            memcpy(np + 1, path->data, path->len);
            path->data = np;
            path->len++;
        }
        *query = r->args;
        return PCO_OK;
    }
    if (r->uri_changed) {
        *path = r->uri;
        *query = r->args;
        return PCO_OK;
    }
    if (r->head.authority.len > 0) {
        /* absolute-form: the upstream gets origin-form (RFC 9112 §3.2.2), its host in Host */
        *path = r->head.path;
        *query = r->head.query;
        return PCO_OK;
    }
    *path = r->head.target;
    return PCO_OK;
}

/* The index + 1 of the set_headers entry named like lit, 0 when there is none. */
static size_t
pco_proxy_set_header(pco_proxy_ctx_t *p, const char *lit)
{
    const pco_proxy_header_t  *sh = p->req.pcf->spec.set_headers.elts;
    size_t                     i;

    for (i = 0; i < p->req.pcf->spec.set_headers.n; i++) {
        if (pco_str_caseeq_lit(&sh[i].name, lit)) {
            return i + 1;
        }
    }
    return 0;
}

/* A server name usable as a Host value: not empty, not a wildcard or a regex. */
static bool
pco_proxy_plain_name(const pco_str_t *n)
{
    return n->len > 0 && n->data[0] != '~' && n->data[0] != '.'
           && memchr(n->data, '*', n->len) == NULL;
}

/*
 * The Host the upstream gets: the host the request was routed by, as the client wrote it
 * (an absolute-form target's authority, which overrides the Host header, else that
 * header). An HTTP/1.0 request may have neither: then the name of the server that took it
 * (its first server_names entry), else the upstream's first server as configured; never an
 * empty Host. *client tells whether the value came from the client (X-Forwarded-Host).
 */
static pco_str_t
pco_proxy_host(pco_proxy_ctx_t *p, bool *client)
{
    pco_http_request_t  *r = p->r;
    pco_str_t            h;

    *client = true;
    if (r->head.authority.len > 0) {
        return r->head.authority;
    }
    if (r->head.host_idx != 0 && r->head.headers[r->head.host_idx - 1].value.len > 0) {
        return r->head.headers[r->head.host_idx - 1].value;
    }
    *client = false;
    if (r->server != NULL && pco_proxy_plain_name(&r->server->name)) {
        return r->server->name;
    }
    if (p->req.u->nservers > 0 && p->req.u->servers[0].configured.len > 0
        && memcmp(p->req.u->servers[0].configured.data, "unix:",
                  pco_min(p->req.u->servers[0].configured.len, 5)) != 0)
    {
        return p->req.u->servers[0].configured;
    }
    h.data = (u_char *) "localhost";
    h.len = sizeof("localhost") - 1;
    return h;
}

/* A WebSocket upgrade is passed on only when the route allows it, for an HTTP/1.1 GET
 * without a body asking for the websocket token: Upgrade is an HTTP/1.1 mechanism (RFC 9110
 * §7.8), so an HTTP/1.0 request with Upgrade is proxied as an ordinary request. */
bool
pco_proxy_websocket(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;

    return p->req.pcf->spec.websocket && r->head.version >= 11 && r->head.upgrade_idx
           && r->head.method == PCO_HTTP_GET && !r->head.chunked
           && r->head.content_length <= 0
           && pco_str_caseeq_lit(&r->head.headers[r->head.upgrade_idx - 1].value, "websocket");
}

/*
 * Builds the head into p->upreq.head. Called once the first body buffer is read
 * (p->upreq.body_held, p->upreq.body_len): a chunked body held whole goes with its
 * Content-Length; one still arriving is chunked again by us.
 */
int
pco_proxy_build_request(pco_proxy_ctx_t *p)
{
    pco_http_request_t        *r = p->r;
    pco_connection_t          *c = r->connection;
    const pco_proxy_header_t  *sh = p->req.pcf->spec.set_headers.elts;
    pco_http_header_t         *h, *xff = NULL;
    pco_str_t                  path, query, host;
    pco_str_t                  ip, rip;
    u_char                    *b, *q;
    size_t                     size, i, set_host;
    bool                       host_from_client;
    pco_str_t                 *hv = NULL;

    if (pco_proxy_target(p, &path, &query) != PCO_OK) {
        return PCO_ERROR;
    }
    /* formatted once per connection (the peer) and once per request (a real_ip client) */
    ip = pco_conn_addr_text(c);
    rip = pco_http_client_addr_text(r);
    if (rip.data == NULL) {
        return PCO_ERROR;
    }
    xff = pco_http_head_find(&r->head, "X-Forwarded-For", 15);
    host = pco_proxy_host(p, &host_from_client);
    set_host = pco_proxy_set_header(p, "Host");
    if (set_host != 0 && p->req.pcf->header_tpls[set_host - 1] == NULL) {
        /* an empty value removes a header, but HTTP/1.1 needs a Host: ours stays */
        set_host = 0;
    }

    size = r->head.method_name.len + path.len + query.len + 32 + 512 + ip.len + rip.len
           + r->request_id.len + 2 * host.len;
    if (xff != NULL) {
        size += xff->value.len;
    }
    for (i = 0; i < r->head.nheaders; i++) {
        size += r->head.headers[i].name.len + r->head.headers[i].value.len + 4;
    }
    if (p->req.pcf->spec.set_headers.n > 0) {
        hv = pco_pcalloc(r->pool, p->req.pcf->spec.set_headers.n * sizeof(pco_str_t));
        if (hv == NULL) {
            return PCO_ERROR;
        }
    }
    for (i = 0; i < p->req.pcf->spec.set_headers.n; i++) {
        if (p->req.pcf->header_tpls[i] != NULL
            && pco_http_template_eval_header(r, p->req.pcf->header_tpls[i], &sh[i].name,
                                             &hv[i]) != PCO_OK)
        {
            return PCO_ERROR;
        }
        size += sh[i].name.len + hv[i].len + 4;
    }
    if (set_host != 0 && hv[set_host - 1].len == 0) {
        set_host = 0;
    }
    b = pco_pnalloc(r->pool, size);
    if (b == NULL) {
        return PCO_ERROR;
    }
    q = b;
#define PCO_PROXY_PUT(d, l) do { memcpy(q, d, l); q += (l); } while (0)
#define PCO_PROXY_LIT(s) PCO_PROXY_PUT(s, sizeof(s) - 1)
    PCO_PROXY_PUT(r->head.method_name.data, r->head.method_name.len);
    PCO_PROXY_LIT(" ");
    PCO_PROXY_PUT(path.data, path.len);
    if (query.data != NULL) {
        PCO_PROXY_LIT("?");
        PCO_PROXY_PUT(query.data, query.len);
    }
    PCO_PROXY_LIT(" HTTP/1.1\r\n");
    if (set_host == 0) {
        PCO_PROXY_LIT("Host: ");
        PCO_PROXY_PUT(host.data, host.len);
        PCO_PROXY_LIT("\r\n");
    }
    for (i = 0; i < r->head.nheaders; i++) {
        h = &r->head.headers[i];
        if (r->head.host_idx == i + 1 || pco_proxy_skip_header(p, &h->name)) {
            continue;
        }
        PCO_PROXY_PUT(h->name.data, h->name.len);
        PCO_PROXY_LIT(": ");
        PCO_PROXY_PUT(h->value.data, h->value.len);
        PCO_PROXY_LIT("\r\n");
    }
    /* every X-Forwarded-For field the client sent, in order, as one list (size: counted
     * with all headers above) */
    PCO_PROXY_LIT("X-Forwarded-For: ");
    for (i = 0; xff != NULL && i < r->head.nheaders; i++) {
        h = &r->head.headers[i];
        if (h->name.len == 15 && h->value.len > 0
            && strncasecmp((const char *) h->name.data, "X-Forwarded-For", 15) == 0)
        {
            PCO_PROXY_PUT(h->value.data, h->value.len);
            PCO_PROXY_LIT(", ");
        }
    }
    PCO_PROXY_PUT(ip.data, ip.len);
    PCO_PROXY_LIT("\r\nX-Real-IP: ");
    PCO_PROXY_PUT(rip.data, rip.len);
    if (c->tls != NULL) {
        PCO_PROXY_LIT("\r\nX-Forwarded-Proto: https");
    } else {
        PCO_PROXY_LIT("\r\nX-Forwarded-Proto: http");
    }
    if (host_from_client) {
        PCO_PROXY_LIT("\r\nX-Forwarded-Host: ");
        PCO_PROXY_PUT(host.data, host.len);
    }
    PCO_PROXY_LIT("\r\nX-Request-Id: ");
    PCO_PROXY_PUT(r->request_id.data, r->request_id.len);
    PCO_PROXY_LIT("\r\n");
    for (i = 0; i < p->req.pcf->spec.set_headers.n; i++) {
        if (p->req.pcf->header_tpls[i] == NULL || hv[i].len == 0) {
            continue;
        }
        PCO_PROXY_PUT(sh[i].name.data, sh[i].name.len);
        PCO_PROXY_LIT(": ");
        PCO_PROXY_PUT(hv[i].data, hv[i].len);
        PCO_PROXY_LIT("\r\n");
    }
    if (r->head.chunked && !p->upreq.body_held) {
        PCO_PROXY_LIT("Transfer-Encoding: chunked\r\n");
    } else if (r->head.chunked) {
        PCO_PROXY_LIT("Content-Length: ");
        q = pco_sprint_u64(q, (uint64_t) p->upreq.body_len);
        PCO_PROXY_LIT("\r\n");
    } else if (r->head.content_length >= 0) {
        PCO_PROXY_LIT("Content-Length: ");
        q = pco_sprint_i64(q, r->head.content_length);
        PCO_PROXY_LIT("\r\n");
    }
    if (p->req.ws) {
        PCO_PROXY_LIT("Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    } else if (p->req.u->keepalive > 0) {
        PCO_PROXY_LIT("Connection: keep-alive\r\n\r\n");
    } else {
        PCO_PROXY_LIT("Connection: close\r\n\r\n");
    }
#undef PCO_PROXY_PUT
#undef PCO_PROXY_LIT
    p->upreq.head = b;
    p->upreq.head_len = (size_t) (q - b);
    return PCO_OK;
}
