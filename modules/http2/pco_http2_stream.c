/*
 * pco_http2_stream.c: each request stream of an HTTP/2 connection runs as an engine request
 * (pco_http_stream_request) over a connection struct of its own, embedded in the bridge
 * (pco_http2_req_t). Its io moves bytes between the engine and the stream:
 * - recv gives the request body that DATA frames brought, which waits in a buffer of the
 *   stream window's size; the window reopens (WINDOW_UPDATE) only as the engine reads, so
 *   an upload waiting for a slow upstream holds at most one window;
 * - send, writev and sendfile copy the response body into the bridge's buffer (sendfile
 *   reads the file into it) and give it to the session; until the session has framed it
 *   (on_drained), further writes return PCO_AGAIN and the engine's writer waits on the
 *   request connection's write event (send_timeout: a stream whose client window stays
 *   shut times out alone), which on_drained posts.
 * The bridge buffers are the bridge's (not the request pool's), because the last of the
 * body may still wait for the client's window when the engine has finished the request;
 * the bridge goes when both the request is done and the stream is closed.
 */
#include "pco_http2_int.h"
#include <nghttp2/nghttp2.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* the response body is handed to the session in pieces of at most this size */
#define PCO_HTTP2_OUT_SIZE  32768

static ssize_t pco_http2_io_recv(pco_connection_t *c, u_char *buf, size_t size);
static ssize_t pco_http2_io_send(pco_connection_t *c, const u_char *buf, size_t size);
static ssize_t pco_http2_io_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt);
static ssize_t pco_http2_io_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size);

static const pco_conn_io_t pco_http2_io = {
    pco_http2_io_recv, pco_http2_io_send, pco_http2_io_writev, pco_http2_io_sendfile
};

static int pco_http2_send_head(pco_http_request_t *r, const pco_http_header_t *fields,
                               unsigned n, bool end);
static void pco_http2_done(pco_http_request_t *r);

static const pco_http_stream_ops_t pco_http2_ops = { pco_http2_send_head, pco_http2_done };

#define pco_http2_bridge(c)  ((pco_http2_req_t *) (c))

static void
pco_http2_bridge_free(pco_http2_req_t *hr)
{
    free(hr->in);
    free(hr->out);
    free(hr);
}

/* Wakes the request's reader or writer at the end of the pass. */
static void
pco_http2_wake(pco_event_t *ev)
{
    ev->ready = 1;
    if (ev->handler != NULL) {
        pco_event_post(ev);
    }
}

/* ---- the request connection's io ------------------------------------------------------- */

static ssize_t
pco_http2_io_recv(pco_connection_t *c, u_char *buf, size_t size)
{
    pco_http2_req_t  *hr = pco_http2_bridge(c);
    size_t            n = pco_min(size, hr->in_len - hr->in_pos);

    if (n == 0) {
        if (hr->in_end) {
            return 0;
        }
        if (hr->st == NULL || c->error) {
            errno = ECONNRESET;
            return PCO_ERROR;
        }
        c->read.ready = 0;
        return PCO_AGAIN;
    }
    memcpy(buf, hr->in + hr->in_pos, n);
    hr->in_pos += n;
    if (hr->in_pos == hr->in_len) {
        hr->in_pos = hr->in_len = 0;
        c->read.ready = hr->in_end;
    }
    if (hr->st != NULL) {
        if (pco_http2_stream_consume(hr->st, n) != PCO_OK) {
            errno = EPROTO;
            return PCO_ERROR;
        }
        pco_http2_conn_kick(hr->h2c);       /* the WINDOW_UPDATE */
    }
    return (ssize_t) n;
}

/* The response buffer, made at the first write: no larger than the body announced. */
static int
pco_http2_out_buf(pco_http2_req_t *hr)
{
    size_t  size = PCO_HTTP2_OUT_SIZE;

    if (hr->out != NULL) {
        return PCO_OK;
    }
    if (hr->declared > 0 && hr->declared < (int64_t) size) {
        size = (size_t) hr->declared;
    }
    hr->out = malloc(size);
    if (hr->out == NULL) {
        return PCO_ERROR;
    }
    hr->out_size = size;
    return PCO_OK;
}

/* Whether a write may go on now: PCO_OK, PCO_AGAIN (the buffer is with the session) or
 * PCO_ERROR (the stream is gone). */
static int
pco_http2_writable(pco_connection_t *c)
{
    pco_http2_req_t  *hr = pco_http2_bridge(c);

    if (hr->st == NULL || c->error || hr->ended) {
        errno = EPIPE;
        return PCO_ERROR;
    }
    if (hr->out_pending) {
        c->write.ready = 0;
        return PCO_AGAIN;
    }
    return pco_http2_out_buf(hr);
}

/* Gives the n bytes now in the buffer to the session; the last ones end the stream. */
static ssize_t
pco_http2_give(pco_http2_req_t *hr, size_t n)
{
    bool  last;

    hr->written += (int64_t) n;
    last = hr->declared >= 0 && hr->written >= hr->declared;
    if (pco_http2_stream_write(hr->st, hr->out, n, last) != PCO_OK) {
        errno = EPIPE;
        return PCO_ERROR;
    }
    hr->out_pending = 1;
    hr->ended = last;
    pco_http2_conn_kick(hr->h2c);
    return (ssize_t) n;
}

static ssize_t
pco_http2_io_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt)
{
    pco_http2_req_t  *hr = pco_http2_bridge(c);
    size_t            n = 0, k;
    int               i, rc;

    rc = pco_http2_writable(c);
    if (rc != PCO_OK) {
        return rc;
    }
    for (i = 0; i < iovcnt && n < hr->out_size; i++) {
        k = pco_min(iov[i].iov_len, hr->out_size - n);
        memcpy(hr->out + n, iov[i].iov_base, k);
        n += k;
    }
    if (n == 0) {
        return 0;
    }
    return pco_http2_give(hr, n);
}

static ssize_t
pco_http2_io_send(pco_connection_t *c, const u_char *buf, size_t size)
{
    struct iovec  iov = { (void *) buf, size };

    return pco_http2_io_writev(c, &iov, 1);
}

static ssize_t
pco_http2_io_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size)
{
    pco_http2_req_t  *hr = pco_http2_bridge(c);
    ssize_t           n;
    int               rc;

    rc = pco_http2_writable(c);
    if (rc != PCO_OK) {
        return rc;
    }
    n = pread(fd, hr->out, pco_min(size, hr->out_size), *offset);
    if (n <= 0) {
        if (n == 0) {
            errno = EIO;        /* the file shrank under the response */
        }
        return PCO_ERROR;
    }
    *offset += n;
    return pco_http2_give(hr, (size_t) n);
}

/* ---- the engine's operations ------------------------------------------------------------ */

static int
pco_http2_send_head(pco_http_request_t *r, const pco_http_header_t *fields, unsigned n,
                    bool end)
{
    pco_http2_req_t  *hr = pco_http2_bridge(r->connection);

    if (hr->st == NULL) {
        return PCO_ERROR;
    }
    hr->declared = end ? 0 : r->out.content_length;
    if (pco_http2_stream_respond(hr->st, (unsigned) r->status, fields, n, end) != PCO_OK) {
        return PCO_ERROR;
    }
    hr->ended = end;
    pco_http2_conn_kick(hr->h2c);
    return PCO_OK;
}

/* The response is out: a request body the client is still sending is refused politely
 * (RFC 9113 §8.1: RST_STREAM NO_ERROR after a complete response). */
static void
pco_http2_refuse_rest(pco_http2_req_t *hr)
{
    if (hr->st != NULL && hr->rst_after && !hr->in_end) {
        hr->rst_after = 0;
        (void) pco_http2_stream_reset(hr->st, NGHTTP2_NO_ERROR);
    }
}

/* Ends the stream's side of a request that is over. */
static void
pco_http2_end_stream(pco_http2_req_t *hr, pco_http_request_t *r)
{
    if (hr->st == NULL) {
        return;
    }
    if (!r->header_sent || !r->complete || hr->fc.error) {
        /* cut short: the client must not take it for a whole response */
        (void) pco_http2_stream_reset(hr->st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    hr->rst_after = !hr->in_end;
    if (!hr->ended) {
        if (hr->out_pending) {
            hr->end_pending = 1;
            return;
        }
        if (pco_http2_stream_write(hr->st, NULL, 0, true) != PCO_OK) {
            (void) pco_http2_stream_reset(hr->st, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        hr->ended = 1;
        hr->out_pending = 1;
        return;
    }
    if (!hr->out_pending) {
        pco_http2_refuse_rest(hr);      /* the head ended the stream (HEAD, 204, 304...) */
    }
}

static void
pco_http2_done(pco_http_request_t *r)
{
    pco_http2_req_t   *hr = pco_http2_bridge(r->connection);
    pco_connection_t  *fc = &hr->fc;
    pco_http2_conn_t  *h2c = hr->h2c;

    pco_http2_end_stream(hr, r);
    hr->live = 0;
    h2c->requests--;
    pco_event_del_timer(&fc->read);
    pco_event_del_timer(&fc->write);
    pco_event_unpost(&fc->read);
    pco_event_unpost(&fc->write);
    fc->read.handler = NULL;
    fc->write.handler = NULL;
    fc->data = NULL;
    fc->pool = NULL;
    fc->log = pco_log;
    pco_pool_destroy(r->pool);
    if (hr->st == NULL) {
        pco_http2_bridge_free(hr);
    }
    pco_http2_conn_kick(h2c);
}

/* ---- the session's handlers ------------------------------------------------------------- */

/* The request's connection: the client connection's identity, the stream's io. */
static void
pco_http2_fc_init(pco_http2_req_t *hr, pco_connection_t *c)
{
    pco_connection_t  *fc = &hr->fc;

    fc->fd = c->fd;
    fc->io = &pco_http2_io;
    fc->listening = c->listening;
    fc->log = pco_log;
    fc->number = c->number;
    fc->sockaddr = c->sockaddr;
    fc->socklen = c->socklen;
    fc->requests = ++c->requests - 1;     /* the engine counts this one */
    fc->tls = c->tls;
    fc->proxy_protocol = c->proxy_protocol;
    fc->tcp_nodelay = 1;                  /* the client connection's business */
    fc->addr_text_len = c->addr_text_len;
    memcpy(fc->addr_text, c->addr_text, sizeof(fc->addr_text));
    fc->read.data = fc;
    fc->write.data = fc;
    fc->write.write = 1;
    fc->write.active = 1;                 /* the writer waits for write.ready */
    fc->write.ready = 1;
}

static int
pco_http2_on_request(pco_http2_stream_t *st, int status)
{
    pco_http2_conn_t  *h2c = pco_http2_session_owner(st->session);
    pco_http2_req_t   *hr = calloc(1, sizeof(*hr));
    bool               to_end;

    if (hr == NULL) {
        return PCO_ERROR;
    }
    pco_http2_fc_init(hr, h2c->c);
    hr->h2c = h2c;
    hr->st = st;
    hr->live = 1;
    hr->declared = -1;
    hr->in_end = st->end_stream;
    st->data = hr;
    /* a body with no content-length runs to END_STREAM: the engine forwards it chunked */
    to_end = !st->end_stream && st->head.content_length < 0;
    if (to_end) {
        st->head.chunked = true;
    }
    h2c->requests++;
    if (pco_http_stream_request(&hr->fc, &pco_http2_ops, &st->head, status, to_end)
        != PCO_OK)
    {
        h2c->requests--;
        st->data = NULL;
        pco_http2_bridge_free(hr);
        return PCO_ERROR;
    }
    return PCO_OK;
}

/*
 * Room for len more request body bytes in the stream's buffer, which has the window's size.
 * Until the client has acknowledged our SETTINGS it may still use the default window of
 * 65535 bytes (RFC 9113 §6.9.2), more than a smaller http2_initial_window_size: curl sends
 * its upload at once and hits that. The buffer then grows to what arrived, never beyond
 * the larger of the two windows, which nghttp2 enforces.
 */
static int
pco_http2_in_room(pco_http2_req_t *hr, size_t len)
{
    size_t   size, need;
    u_char  *p;

    if (hr->in == NULL) {
        size = pco_http2_conf(hr->fc.listening)->initial_window_size;
        hr->in = malloc(size);
        if (hr->in == NULL) {
            return PCO_ERROR;
        }
        hr->in_size = size;
    }
    if (hr->in_len + len > hr->in_size && hr->in_pos > 0) {
        memmove(hr->in, hr->in + hr->in_pos, hr->in_len - hr->in_pos);
        hr->in_len -= hr->in_pos;
        hr->in_pos = 0;
    }
    need = hr->in_len + len;
    if (need <= hr->in_size) {
        return PCO_OK;
    }
    if (need > NGHTTP2_INITIAL_WINDOW_SIZE) {
        return PCO_ERROR;           /* beyond any window nghttp2 enforces: cannot happen */
    }
    p = realloc(hr->in, need);
    if (p == NULL) {
        return PCO_ERROR;
    }
    hr->in = p;
    hr->in_size = need;
    return PCO_OK;
}

static int
pco_http2_on_data(pco_http2_stream_t *st, const u_char *data, size_t len)
{
    pco_http2_req_t  *hr = st->data;

    if (hr == NULL || !hr->live) {
        /* nobody will read it (the response is out): the window reopens at once */
        return pco_http2_stream_consume(st, len);
    }
    if (pco_http2_in_room(hr, len) != PCO_OK) {
        return PCO_ERROR;
    }
    memcpy(hr->in + hr->in_len, data, len);
    hr->in_len += len;
    pco_http2_wake(&hr->fc.read);
    return PCO_OK;
}

static void
pco_http2_on_end(pco_http2_stream_t *st)
{
    pco_http2_req_t  *hr = st->data;

    if (hr == NULL) {
        return;
    }
    hr->in_end = 1;
    if (hr->live) {
        pco_http2_wake(&hr->fc.read);
    }
}

static void
pco_http2_on_drained(pco_http2_stream_t *st)
{
    pco_http2_req_t  *hr = st->data;

    if (hr == NULL) {
        return;
    }
    hr->out_pending = 0;
    if (hr->end_pending) {
        hr->end_pending = 0;
        if (pco_http2_stream_write(st, NULL, 0, true) == PCO_OK) {
            hr->ended = 1;
            hr->out_pending = 1;
        }
        pco_http2_conn_kick(hr->h2c);
        return;
    }
    if (hr->live) {
        pco_http2_wake(&hr->fc.write);
        return;
    }
    pco_http2_refuse_rest(hr);
}

static void
pco_http2_on_close(pco_http2_stream_t *st, uint32_t code)
{
    pco_http2_req_t  *hr = st->data;

    if (hr == NULL) {
        return;
    }
    hr->st = NULL;
    st->data = NULL;
    if (!hr->live) {
        pco_http2_bridge_free(hr);
        return;
    }
    if (code != NGHTTP2_NO_ERROR || !hr->ended) {
        /* the client cancelled it, or the connection went: the request learns it at its
         * next read or write, or now if it waits for either */
        hr->fc.error = 1;
        hr->fc.read.eof = 1;
        pco_http2_wake(&hr->fc.read);
        pco_http2_wake(&hr->fc.write);
    }
}

const pco_http2_handlers_t pco_http2_stream_handlers = {
    .on_request = pco_http2_on_request,
    .on_data = pco_http2_on_data,
    .on_end = pco_http2_on_end,
    .on_drained = pco_http2_on_drained,
    .on_close = pco_http2_on_close,
};
