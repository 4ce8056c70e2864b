/*
 * pco_proxy_pp.c: `send_proxy_protocol = "v1" | "v2"` on an upstream server (as HAProxy's
 * send-proxy / send-proxy-v2): the first bytes on each new connection to that server, sent
 * once the connect completed and before the TLS handshake of a TLS upstream, are a PROXY
 * protocol header naming the client as $remote_addr sees it (the peer, the listener's own
 * PROXY header, or real_ip's result) and, as destination, the local address the client
 * connected to. Such a connection carries one client's identity, so it is never pooled for
 * keep-alive (pco_proxy_pool_put closes it). No shared state.
 */
#include <sys/socket.h>
#include "pco_proxy.h"
#include "pco_proxy_protocol.h"

int
pco_proxy_send_proxy_protocol(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;
    pco_connection_t    *uc = p->try.uc;
    u_char               buf[PCO_PROXY_PROTOCOL_BUILD_MAX];
    pco_sockaddr_t       local;
    socklen_t            llen = sizeof(local);
    size_t               n;
    ssize_t              w;

    if (getsockname(r->connection->fd, &local.sa, &llen) == -1) {
        pco_log_err(PCO_LOG_ERR, uc->log, errno, "getsockname() failed");
        return PCO_ERROR;
    }
    n = pco_proxy_protocol_build(buf, sizeof(buf), p->try.uc_server->send_proxy_protocol,
                                 r->client_addr, r->client_socklen, &local, llen);
    /* the connection is new and its send buffer empty: the whole header fits at once */
    w = send(uc->fd, buf, n, MSG_NOSIGNAL);
    if (n == 0 || w != (ssize_t) n) {
        pco_log_err(PCO_LOG_ERR, uc->log, w == -1 ? errno : 0,
                    "sending the PROXY protocol header to upstream %.*s failed",
                    (int) p->try.sname.len, (const char *) p->try.sname.data);
        return PCO_ERROR;
    }
    return PCO_OK;
}
