/*
 * pco_proxy_tunnel.c: WebSocket pass-through (docs/http.md). When the route allows it, the
 * request carried `Upgrade: websocket` and the upstream answered 101 with Upgrade: websocket
 * and Connection: upgrade, the 101 head is relayed (minus other hop-by-hop headers, with
 * portico's Server, Date and X-Request-Id instead of the upstream's; an HTTP/2 client's
 * extended CONNECT, which the http2 module turned into such a request, gets 200 instead)
 * and bytes are then copied both ways through two fixed 16 KiB buffers with back-pressure,
 * until either side closes or nothing moves for tunnel_timeout. No shared state.
 */
#include <strings.h>
#include "pco_proxy.h"

static void pco_proxy_tunnel_pump(pco_proxy_ctx_t *p);

static bool
pco_proxy_tunnel_name(const pco_str_t *n, const char *lit)
{
    return n->len == strlen(lit) && strncasecmp((const char *) n->data, lit, n->len) == 0;
}

/* clean: a side closed (EOF), so the client connection ends without an error (TLS sends
 * close_notify); otherwise an I/O error or tunnel_timeout, as nginx: no close_notify. */
static void
pco_proxy_tunnel_end(pco_proxy_ctx_t *p, bool clean)
{
    pco_http_request_t  *r = p->r;

    r->keepalive = 0;
    r->connection->close = 1;
    p->req.finished = true;
    if (p->try.uc != NULL) {
        pco_upstream_conn_close(p->try.uc);
        p->try.uc = NULL;
    }
    r->read_handler = NULL;
    r->write_handler = NULL;
    if (clean) {
        pco_http_finalize_closed(r);
    } else {
        pco_http_finalize_request(r, PCO_ERROR);
    }
}

static void
pco_proxy_tunnel_client(pco_http_request_t *r)
{
    pco_proxy_ctx_t  *p = pco_http_get_ctx(r, &pco_proxy_module);

    if (p == NULL || p->req.finished) {
        return;
    }
    if (r->client_gone) {
        pco_proxy_tunnel_end(p, false);      /* the engine saw the client fail */
        return;
    }
    pco_proxy_tunnel_pump(p);
}

static void
pco_proxy_tunnel_upstream(pco_event_t *ev)
{
    pco_connection_t  *uc = ev->data;
    pco_proxy_ctx_t   *p = uc->data;

    if (ev->timedout) {
        ev->timedout = 0;
        pco_proxy_tunnel_end(p, false);
        return;
    }
    pco_proxy_tunnel_pump(p);
}

/* Moves bytes from `from` to `to` through buf[*pos, *len); PCO_OK (progress), PCO_AGAIN
 * (nothing moved), PCO_DONE (`from` closed), PCO_ERROR (a side failed). The bytes read from
 * the upstream server s (up: `from` is it) or written to it count in its statistics. */
static int
pco_proxy_tunnel_dir(pco_connection_t *from, pco_connection_t *to, u_char *buf, size_t *pos,
                     size_t *len, pco_upstream_server_t *s, bool up)
{
    ssize_t  n;
    int      rc = PCO_AGAIN;

    for ( ;; ) {
        if (*pos < *len) {
            n = to->io->send(to, buf + *pos, *len - *pos);
            if (n == PCO_AGAIN) {
                to->write.ready = 0;
                return rc;
            }
            if (n < 0) {
                return PCO_ERROR;
            }
            *pos += (size_t) n;
            if (!up) {
                pco_upstream_stats_inc(s, sent_bytes, n);
            }
            rc = PCO_OK;
            continue;
        }
        *pos = *len = 0;
        n = from->io->recv(from, buf, PCO_PROXY_BUF_SIZE);
        if (n == PCO_AGAIN) {
            from->read.ready = 0;
            return rc;
        }
        if (n < 0) {
            return PCO_ERROR;
        }
        if (n == 0) {
            return PCO_DONE;
        }
        *len = (size_t) n;
        if (up) {
            pco_upstream_stats_inc(s, received_bytes, n);
        }
        rc = PCO_OK;
    }
}

static void
pco_proxy_tunnel_pump(pco_proxy_ctx_t *p)
{
    pco_connection_t  *c = p->r->connection;
    int                a, b;

    a = pco_proxy_tunnel_dir(p->try.uc, c, p->out.obuf, &p->tunnel.opos, &p->tunnel.olen,
                             p->try.uc_server, true);
    b = pco_proxy_tunnel_dir(c, p->try.uc, p->upreq.rbuf, &p->tunnel.ipos, &p->tunnel.ilen,
                             p->try.uc_server, false);
    if (a == PCO_ERROR || b == PCO_ERROR || a == PCO_DONE || b == PCO_DONE) {
        pco_proxy_tunnel_end(p, a != PCO_ERROR && b != PCO_ERROR);
        return;
    }
    /* tunnel_timeout: nothing moved either way (bytes read from or written to a side) */
    pco_event_wait_timer(&p->try.uc->read, p->req.pcf->spec.tunnel_timeout,
                         a == PCO_OK || b == PCO_OK);
}

/* The upstream's 101 header that is relayed to the client (not hop-by-hop, not one portico
 * writes itself; stream: not the HTTP/1 handshake's Upgrade and Sec-WebSocket-Accept). */
static bool
pco_proxy_tunnel_relayed(const pco_str_t *n, bool stream)
{
    if (pco_proxy_tunnel_name(n, "Connection") || pco_proxy_tunnel_name(n, "Keep-Alive")
        || pco_proxy_tunnel_name(n, "Transfer-Encoding")
        || pco_proxy_tunnel_name(n, "Content-Length") || pco_proxy_tunnel_name(n, "Server")
        || pco_proxy_tunnel_name(n, "Date") || pco_proxy_tunnel_name(n, "X-Request-Id"))
    {
        return false;
    }
    return !stream || !(pco_proxy_tunnel_name(n, "Upgrade")
                        || pco_proxy_tunnel_name(n, "Sec-WebSocket-Accept"));
}

/* HTTP/1.1 client: the 101 head, written directly (nothing else is queued). */
static bool
pco_proxy_tunnel_head_h1(pco_proxy_ctx_t *p, size_t size)
{
    pco_http_request_t  *r = p->r;
    pco_connection_t    *c = r->connection;
    pco_http_header_t   *h;
    u_char              *b, *q;
    ssize_t              n;
    size_t               i;

    b = pco_pnalloc(r->pool, size);
    if (b == NULL) {
        return false;
    }
    q = b;
    memcpy(q, "HTTP/1.1 101 Switching Protocols\r\n", 34);
    q += 34;
    q = pco_http_std_headers(r, q);
    for (i = 0; i < p->try.resp.nheaders; i++) {
        h = &p->try.resp.headers[i];
        if (!pco_proxy_tunnel_relayed(&h->name, false)) {
            continue;
        }
        memcpy(q, h->name.data, h->name.len);
        q += h->name.len;
        *q++ = ':';
        *q++ = ' ';
        memcpy(q, h->value.data, h->value.len);
        q += h->value.len;
        *q++ = '\r';
        *q++ = '\n';
    }
    memcpy(q, "Connection: upgrade\r\n\r\n", 23);
    q += 23;
    /* the client is waiting for this head with nothing queued: written directly; the
     * messages that follow are small and must not wait for ACKs */
    pco_conn_nodelay(c);
    n = c->io->send(c, b, (size_t) (q - b));
    if (n != q - b) {
        return false;
    }
    r->status = 101;
    r->header_sent = 1;
    r->bytes_sent += n;
    return true;
}

/* An HTTP/2 stream (RFC 8441 extended CONNECT): 200 opens the tunnel; the WebSocket
 * handshake's own headers stay between portico and the upstream. */
static bool
pco_proxy_tunnel_head_stream(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;
    pco_http_header_t   *f;
    size_t               i;
    unsigned             n = 0;

    f = pco_palloc(r->pool, (p->try.resp.nheaders + 1) * sizeof(*f));
    if (f == NULL) {
        return false;
    }
    for (i = 0; i < p->try.resp.nheaders; i++) {
        if (pco_proxy_tunnel_relayed(&p->try.resp.headers[i].name, true)) {
            f[n++] = p->try.resp.headers[i];
        }
    }
    return pco_http_tunnel_head(r, 200, f, n) == PCO_OK;
}

/* The upstream answered 101: true when it is a WebSocket switch we relay (then the tunnel
 * runs), false when the answer must be treated as invalid (502). */
bool
pco_proxy_tunnel_start(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;
    pco_http_header_t   *h, *up = NULL;
    size_t               size = 64 + pco_http_std_headers_len(r), rest, i;

    if (!p->req.ws || !p->try.resp.conn_upgrade) {
        return false;
    }
    for (i = 0; i < p->try.resp.nheaders; i++) {
        h = &p->try.resp.headers[i];
        if (pco_proxy_tunnel_name(&h->name, "Upgrade")) {
            up = h;
        }
        size += h->name.len + h->value.len + 4;
    }
    if (up == NULL || !pco_proxy_tunnel_name(&up->value, "websocket")) {
        return false;
    }
    if (pco_proxy_obuf(p) == NULL) {
        return false;       /* the upstream-to-client buffer (logged) */
    }
    if (r->head.version == 20 ? !pco_proxy_tunnel_head_stream(p)
                              : !pco_proxy_tunnel_head_h1(p, size))
    {
        return false;
    }
    if (p->try.uc->read.timer_index) {
        pco_event_del_timer(&p->try.uc->read);
    }
    /* bytes after the 101 head are the upstream's first frames */
    rest = p->try.hbuf_len - p->try.resp.head_len;
    memcpy(p->out.obuf, p->try.hbuf + p->try.resp.head_len, rest);
    p->tunnel.opos = 0;
    p->tunnel.olen = rest;
    p->tunnel.ipos = p->tunnel.ilen = 0;
    p->state = PCO_PROXY_TUNNEL;
    p->try.uc->read.handler = pco_proxy_tunnel_upstream;
    p->try.uc->write.handler = pco_proxy_tunnel_upstream;
    r->read_handler = pco_proxy_tunnel_client;
    r->write_handler = pco_proxy_tunnel_client;
    pco_proxy_tunnel_pump(p);
    return true;
}
