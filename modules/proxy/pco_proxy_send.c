/*
 * pco_proxy_send.c: the request side of a try (docs/http.md): the upstream write event
 * (connect completion under connect_timeout, then writing), sending the request head and
 * streaming the request body from the client through one 16 KiB buffer with back-pressure
 * (a chunked body arrives de-chunked and leaves in chunks of our own)
 * under send_timeout (which runs between two successful writes), and the client's read
 * event, which also notices a client that goes away while the response is awaited (499, the
 * upstream connection closed, never pooled). No shared state.
 */
#include <sys/socket.h>
#include "pco_proxy.h"
#include "pco_string.h"

static void pco_proxy_send(pco_proxy_ctx_t *p);
static void pco_proxy_up_handshake(pco_event_t *ev);

/* True when the client closed (or reset) its connection: a peek that reads 0 bytes or
 * fails. Pipelined bytes waiting in the socket are left there (MSG_PEEK). As nginx, a
 * half-close counts as going away. */
static bool
pco_proxy_client_closed(pco_connection_t *c)
{
    u_char   ch;
    ssize_t  n;

    if (c->error) {
        return true;
    }
    if (!c->read.eof && !c->read.error) {
        /* epoll (EPOLLRDHUP, EPOLLERR/EPOLLHUP) reported neither a close nor a reset: the
         * event is more request bytes or a stray edge, and the peek would cost a syscall */
        return false;
    }
    n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The client's read event while proxying: more request body to send, or (the body being
 * complete) a client that went away: the try ends at once, the upstream connection is
 * closed (never pooled) and the request is logged with 499 (docs/http.md). */
void
pco_proxy_client_read(pco_http_request_t *r)
{
    pco_proxy_ctx_t  *p = pco_http_get_ctx(r, &pco_proxy_module);

    if (p == NULL || p->req.finished || p->state == PCO_PROXY_TUNNEL) {
        return;
    }
    if (p->state == PCO_PROXY_SENDING && !p->upreq.body_held && !p->upreq.body_read_done) {
        pco_proxy_send(p);
        return;
    }
    if (!pco_proxy_client_closed(r->connection)) {
        return;
    }
    if (r->background || (r->keep_producing && p->state == PCO_PROXY_READ_BODY)) {
        /* the client has its answer, or the response is being stored for others: it is
         * read to its end all the same; the connection closes then */
        r->client_gone = 1;
        r->read_handler = NULL;
        return;
    }
    pco_log_err(PCO_LOG_INFO, r->connection->log, 0,
                "client closed the connection before the response from upstream %.*s ended",
                (int) p->try.sname.len, (const char *) p->try.sname.data);
    if (p->state != PCO_PROXY_READ_BODY && p->try.counted_server != NULL) {
        pco_proxy_record(p, 0);
    }
    pco_proxy_client_abort(p);
    r->client_gone = 1;
    pco_proxy_finish(p, PCO_ERROR);
}

void
pco_proxy_body_frame(pco_proxy_ctx_t *p, size_t n, bool done)
{
    u_char  size[PCO_PROXY_CHUNK_ROOM];
    int     k;

    p->upreq.rbuf = p->upreq.rdata;
    p->upreq.rbuf_len = n;
    p->try.rbuf_sent = 0;
    if (!p->upreq.rechunk) {
        return;
    }
    if (n > 0) {
        /* n <= PCO_PROXY_BUF_SIZE: at most 4 hex digits and CRLF */
        k = (int) (pco_sprint_hex(size, n) - size);
        size[k++] = '\r';
        size[k++] = '\n';
        p->upreq.rbuf -= k;
        memcpy(p->upreq.rbuf, size, (size_t) k);
        memcpy(p->upreq.rdata + n, "\r\n", 2);
        p->upreq.rbuf_len += (size_t) k + 2;
    }
    if (done) {
        memcpy(p->upreq.rbuf + p->upreq.rbuf_len, "0\r\n\r\n", 5);
        p->upreq.rbuf_len += 5;
    }
}

/* Writes what is left of the head and of the body bytes in rbuf (one writev) and counts
 * what went out; the result of the writev. */
static ssize_t
pco_proxy_write_buffered(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->try.uc;
    struct iovec       iov[2];
    size_t             hl = p->upreq.head_len - p->try.head_sent;
    size_t             bl = p->upreq.rbuf_len - p->try.rbuf_sent;
    ssize_t            n;
    int                iovcnt = 0;

    if (hl > 0) {
        iov[iovcnt].iov_base = p->upreq.head + p->try.head_sent;
        iov[iovcnt++].iov_len = hl;
    }
    if (bl > 0) {
        iov[iovcnt].iov_base = p->upreq.rbuf + p->try.rbuf_sent;
        iov[iovcnt++].iov_len = bl;
    }
    n = uc->io->writev(uc, iov, iovcnt);
    if (n <= 0) {
        return n;
    }
    pco_upstream_stats_inc(p->try.server, sent_bytes, n);
    if ((size_t) n <= hl) {
        p->try.head_sent += (size_t) n;
    } else {
        p->try.head_sent = p->upreq.head_len;
        p->try.rbuf_sent += (size_t) n - hl;
        p->upreq.body_written = true;
    }
    return n;
}

/* The whole request is written: wait for the response head. */
static void
pco_proxy_request_sent(pco_proxy_ctx_t *p)
{
    if (p->try.uc->write.timer_index) {
        pco_event_del_timer(&p->try.uc->write);
    }
    p->state = PCO_PROXY_READ_HEAD;
    pco_event_add_timer(&p->try.uc->read, p->req.u->read_timeout);
}

/*
 * A reused upstream connection (already connected, idle in the pool): the request is
 * written at once, as nginx does, instead of from a posted write event that runs only after
 * every other event of this loop turn (the p99 of keep-alive proxying). Only when the whole
 * request is in memory (head and a complete body, if any), and only the write itself: a
 * partial write, EAGAIN or an error is left to the posted write event (pco_proxy_send),
 * so that nothing here can end the request under the content handler that started it.
 * True when everything was written; the response is then awaited as usual.
 */
bool
pco_proxy_send_now(pco_proxy_ctx_t *p)
{
    if (!p->upreq.body_held || p->try.head_sent == p->upreq.head_len) {
        return false;
    }
    if (pco_proxy_write_buffered(p) <= 0
        || p->try.head_sent < p->upreq.head_len || p->try.rbuf_sent < p->upreq.rbuf_len)
    {
        return false;
    }
    pco_proxy_request_sent(p);
    return true;
}

static void
pco_proxy_send(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->try.uc;
    ssize_t            n;
    size_t             got;
    int                rc;
    bool               moved = false;

    for ( ;; ) {
        if (p->try.head_sent == p->upreq.head_len && p->try.rbuf_sent == p->upreq.rbuf_len) {
            if (p->upreq.body_held || p->upreq.body_read_done) {
                break;
            }
            rc = pco_http_read_body(p->r, p->upreq.rdata, p->upreq.rbuf_size, &got);
            if (rc == PCO_AGAIN) {
                if (uc->write.timer_index) {
                    pco_event_del_timer(&uc->write);
                }
                return;
            }
            if (rc == PCO_ERROR) {
                /* the client went away (or timed out) before its body was complete */
                if (p->try.counted_server != NULL) {
                    pco_proxy_record(p, 0);
                }
                pco_proxy_client_abort(p);
                p->r->client_gone = 1;
                pco_proxy_finish(p, PCO_ERROR);
                return;
            }
            if (rc >= 100) {
                pco_proxy_finish(p, rc);
                return;
            }
            if (rc == PCO_DONE) {
                p->upreq.body_read_done = true;
            }
            pco_proxy_body_frame(p, got, p->upreq.body_read_done);
            continue;
        }
        n = pco_proxy_write_buffered(p);
        if (n == PCO_AGAIN) {
            uc->write.ready = 0;
            /* send_timeout runs between two successful writes: a client event that moved
             * nothing must not push it back */
            pco_event_wait_timer(&uc->write, p->req.u->send_timeout, moved);
            return;
        }
        if (n < 0) {
            pco_log_err(PCO_LOG_ERR, uc->log, errno, "writing to upstream %.*s failed",
                        (int) p->try.sname.len, (const char *) p->try.sname.data);
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        moved = moved || n > 0;
    }
    pco_proxy_request_sent(p);
    pco_proxy_up_read(&uc->read);
}

/* Both events of a fresh connection to a TLS upstream until its handshake ends (still in
 * PCO_PROXY_CONNECTING, under the connect timer): then the request is sent. A failed
 * handshake (verification included) is a connect error: 502 and a passive-health failure. */
static void
pco_proxy_up_handshake(pco_event_t *ev)
{
    pco_connection_t  *uc = ev->data;
    pco_proxy_ctx_t   *p = uc->data;
    int                rc;

    if (ev->timedout) {
        ev->timedout = 0;
        pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s timed out (TLS handshake)",
                    (int) p->try.sname.len, (const char *) p->try.sname.data);
        pco_upstream_stats_inc(p->try.server, timeouts, 1);
        pco_proxy_fail(p, 504, PCO_UPSTREAM_NEXT_TIMEOUT, true);
        return;
    }
    rc = pco_upstream_tls_ops->handshake(uc, p->try.uc_server);
    if (rc == PCO_AGAIN) {
        return;
    }
    if (rc != PCO_OK) {
        pco_upstream_stats_inc(p->try.server, connect_errors, 1);
        pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
        return;
    }
    if (uc->write.timer_index) {
        pco_event_del_timer(&uc->write);
    }
    uc->read.handler = pco_proxy_up_read;
    uc->write.handler = pco_proxy_up_write;
    p->state = PCO_PROXY_SENDING;
    pco_proxy_send(p);
}

void
pco_proxy_up_write(pco_event_t *ev)
{
    pco_connection_t  *uc = ev->data;
    pco_proxy_ctx_t   *p = uc->data;
    int                err = 0;
    socklen_t          len = sizeof(err);

    if (ev->timedout) {
        ev->timedout = 0;
        pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s timed out (%s)",
                    (int) p->try.sname.len, (const char *) p->try.sname.data,
                    p->state == PCO_PROXY_CONNECTING ? "connect" : "send");
        pco_upstream_stats_inc(p->try.server, timeouts, 1);
        pco_proxy_fail(p, 504, PCO_UPSTREAM_NEXT_TIMEOUT, true);
        return;
    }
    if (p->state == PCO_PROXY_CONNECTING) {
        if (getsockopt(uc->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }
        if (err != 0) {
            pco_log_err(PCO_LOG_ERR, uc->log, err, "connect() to upstream %.*s failed",
                        (int) p->try.sname.len, (const char *) p->try.sname.data);
            pco_upstream_stats_inc(p->try.server, connect_errors, 1);
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        pco_proxy_observe(p, offsetof(pco_upstream_stats_t, connect));
        if (p->try.uc_server->send_proxy_protocol && pco_proxy_send_proxy_protocol(p) != PCO_OK) {
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        if (p->req.u->tls != NULL) {
            /* TLS: the handshake runs under the rest of connect_timeout */
            uc->read.handler = pco_proxy_up_handshake;
            uc->write.handler = pco_proxy_up_handshake;
            pco_proxy_up_handshake(ev);
            return;
        }
        if (uc->write.timer_index) {
            pco_event_del_timer(&uc->write);
        }
        p->state = PCO_PROXY_SENDING;
    }
    if (p->state == PCO_PROXY_SENDING) {
        pco_proxy_send(p);
    }
}
