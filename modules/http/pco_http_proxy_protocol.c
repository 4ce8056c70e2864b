/*
 * pco_http_proxy_protocol.c: `proxy_protocol = true` listeners. A new connection first
 * reads a PROXY protocol v1 or v2 header (core/pco_proxy_protocol.c parses it) before
 * anything else, TLS ClientHello included. The bytes are looked at with MSG_PEEK and only
 * the header itself is then consumed, so whatever followed it in the same segment (the
 * request, or the ClientHello that OpenSSL reads from the socket) stays in the kernel for
 * the next reader; a header split over several segments is peeked again from its start
 * on each arrival (at most PCO_PROXY_PROTOCOL_MAX bytes). The header's source address
 * replaces c->sockaddr, so $remote_addr, $remote_port, X-Forwarded-For, access rules,
 * limit keys and real_ip all start from it; c->proxy_protocol marks that it did (for
 * $proxy_protocol_addr / $proxy_protocol_port). LOCAL (v2) and UNKNOWN (v1) keep the TCP
 * peer. No header within client_header_timeout, EOF inside it, or a malformed one: the
 * connection is closed without a response (a malformed one is logged at [error] with the
 * peer, as nginx logs a "broken header", so that a balancer sending no or wrong headers
 * is visible to the operator). Uses a per-worker peek buffer.
 */
#include "pco_http_int.h"
#include "pco_proxy_protocol.h"
#include <stdio.h>
#include <sys/socket.h>

static u_char  pco_http_pp_buf[PCO_PROXY_PROTOCOL_MAX];

/* Up to 48 bytes of what the peer sent, printable, with \xHH for the rest (for the log). */
static size_t
pco_http_pp_escape(const u_char *in, size_t n, char *out, size_t size)
{
    size_t  i, o = 0;

    for (i = 0; i < n && i < 48 && o + 5 < size; i++) {
        if (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' && in[i] != '\\') {
            out[o++] = (char) in[i];
        } else {
            o += (size_t) snprintf(out + o, size - o, "\\x%02X", in[i]);
        }
    }
    out[o] = '\0';
    return o;
}

static void
pco_http_pp_broken(pco_connection_t *c, const char *why, const u_char *buf, size_t n)
{
    u_char  peer[128];
    char    text[256];
    size_t  plen;

    if (c->log->level < PCO_LOG_ERR) {
        return;
    }
    plen = pco_sockaddr_ntop(&c->sockaddr, c->socklen, peer, sizeof(peer), true);
    pco_http_pp_escape(buf, n, text, sizeof(text));
    pco_log_error(PCO_LOG_ERR, c->log, 0, "broken PROXY protocol header (%s): \"%s\" while "
                  "reading PROXY protocol header, client: %.*s, listener: %.*s", why, text,
                  (int) plen, (const char *) peer, (int) c->listening->addr_text.len,
                  (const char *) c->listening->addr_text.data);
}

static void
pco_http_pp_timedout(pco_connection_t *c)
{
    u_char  peer[128];
    size_t  plen;

    if (c->log->level >= PCO_LOG_INFO) {
        plen = pco_sockaddr_ntop(&c->sockaddr, c->socklen, peer, sizeof(peer), true);
        pco_log_error(PCO_LOG_INFO, c->log, 0, "client timed out while reading PROXY "
                      "protocol header, client: %.*s", (int) plen, (const char *) peer);
    }
    pco_http_close(c);
}

void
pco_http_proxy_protocol_read(pco_event_t *ev)
{
    pco_connection_t      *c = ev->data;
    pco_proxy_protocol_t   pp;
    ssize_t                n;
    int                    rc;

    if (ev->timedout) {
        ev->timedout = 0;
        pco_http_pp_timedout(c);
        return;
    }
    do {
        n = recv(c->fd, pco_http_pp_buf, sizeof(pco_http_pp_buf), MSG_PEEK);
    } while (n == -1 && errno == EINTR);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        ev->ready = 0;
        return;
    }
    if (n <= 0) {
        pco_http_close(c);               /* EOF before any byte, or a socket error */
        return;
    }
    rc = pco_proxy_protocol_parse(pco_http_pp_buf, (size_t) n, &pp);
    if (rc == PCO_AGAIN) {
        if (ev->eof) {
            pco_http_pp_broken(c, "truncated by EOF", pco_http_pp_buf, (size_t) n);
            pco_http_close(c);
            return;
        }
        ev->ready = 0;                    /* wait for the next segment */
        return;
    }
    if (rc != PCO_OK) {
        pco_http_pp_broken(c, pp.error, pco_http_pp_buf, (size_t) n);
        pco_http_close(c);
        return;
    }
    /* consume exactly the header: the rest is the request or the ClientHello */
    do {
        n = recv(c->fd, pco_http_pp_buf, pp.len, 0);
    } while (n == -1 && errno == EINTR);
    if (n != (ssize_t) pp.len) {
        pco_http_close(c);
        return;
    }
    if (!pp.local) {
        c->sockaddr = pp.src;
        c->socklen = pp.src_len;
        c->proxy_protocol = 1;
        c->addr_text_len = 0;    /* the peer's text, if formatted, was the proxy's */
    }
    pco_http_connection_ready(c);
}

/* $proxy_protocol_addr and $proxy_protocol_port: absent without a header with addresses. */
static int
pco_http_pp_variable(pco_http_request_t *r, const pco_str_t *name, uintptr_t port,
                     pco_str_t *v)
{
    pco_connection_t  *c = r->connection;

    pco_unused(name);
    if (!c->proxy_protocol) {
        return PCO_DECLINED;
    }
    if (port) {
        if (c->sockaddr.sa.sa_family == AF_UNIX) {
            return PCO_DECLINED;
        }
        v->data = pco_pnalloc(r->pool, 8);
        if (v->data == NULL) {
            return PCO_DECLINED;
        }
        v->len = (size_t) snprintf((char *) v->data, 8, "%u",
                                   (unsigned) pco_sockaddr_port(&c->sockaddr));
        return PCO_OK;
    }
    v->data = pco_pnalloc(r->pool, 128);
    if (v->data == NULL) {
        return PCO_DECLINED;
    }
    v->len = pco_sockaddr_ntop(&c->sockaddr, c->socklen, v->data, 128, false);
    return PCO_OK;
}

int
pco_http_proxy_protocol_variables(pco_conf_t *cf, pco_cycle_t *cycle)
{
    int  rc;

    rc = pco_http_variable_add(cf, cycle, "proxy_protocol_addr", pco_http_pp_variable, 0, 0);
    rc |= pco_http_variable_add(cf, cycle, "proxy_protocol_port", pco_http_pp_variable, 1,
                                PCO_HTTP_VAR_NUMBER);
    return rc == PCO_OK ? PCO_OK : PCO_ERROR;
}
