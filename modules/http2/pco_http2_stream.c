/*
 * pco_http2_stream.c: each request stream of an HTTP/2 connection runs as an engine request
 * (pco_http_stream_request) over a connection struct of its own, embedded in the bridge
 * (pco_http2_req_t). Its io moves bytes between the engine and the stream:
 * - recv gives the request body that DATA frames brought, which waits in a buffer that
 *   grows with what it holds, up to the stream window; the window reopens (WINDOW_UPDATE)
 *   only as the engine reads, so an upload waiting for a slow upstream holds at most one
 *   window;
 * - send and writev lend the engine's buffer to the session, and sendfile reads the file
 *   into the bridge's buffer and gives that; until the session has framed it (on_drained),
 *   writes return PCO_AGAIN and the engine's writer waits on the request connection's
 *   write event (send_timeout: a stream whose client window stays shut times out alone),
 *   which on_drained posts. A lent buffer is answered as written only once framed, so the
 *   engine never frees or refills one the session still reads.
 * The bridge's buffer is the bridge's (not the request pool's), because the last of a
 * file may still wait for the client's window when the engine has finished the request;
 * the bridge goes when both the request is done and the stream is closed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "pco_http2_int.h"
#include "pco_string.h"

/* a file is read into the bridge's buffer, and given to the session, this much at a time */
#define PCO_HTTP2_OUT_SIZE  (2 * PCO_HTTP2_DATA_UNIT)   /* whole DATA frames */

static ssize_t pco_http2_io_recv(pco_connection_t *c, u_char *buf, size_t size);
static ssize_t pco_http2_io_send(pco_connection_t *c, const u_char *buf, size_t size);
static ssize_t pco_http2_io_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt);
static ssize_t pco_http2_io_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size);

static const pco_conn_io_t pco_http2_io = {
    pco_http2_io_recv, pco_http2_io_send, pco_http2_io_writev, pco_http2_io_sendfile,
    PCO_HTTP2_DATA_UNIT
};

static int pco_http2_send_head(pco_http_request_t *r, const pco_http_header_t *fields,
                               unsigned n, unsigned flags);
static void pco_http2_done(pco_http_request_t *r);

static const pco_http_stream_ops_t pco_http2_ops = { pco_http2_send_head, pco_http2_done };

#define pco_http2_bridge(c)  ((pco_http2_req_t *) (c))

/* Bridges given back are kept for the next streams (a handful: a stream's bridge is
 * malloc'd otherwise), up to this many per worker (some 200 KiB). */
#define PCO_HTTP2_BRIDGES_KEPT  256

static pco_http2_req_t  *pco_http2_bridges;      /* linked through h2c */
static unsigned          pco_http2_nbridges;

static pco_http2_req_t *
pco_http2_bridge_new(void)
{
    pco_http2_req_t  *hr = pco_http2_bridges;

    if (hr == NULL) {
        return calloc(1, sizeof(*hr));
    }
    pco_http2_bridges = (pco_http2_req_t *) hr->h2c;
    pco_http2_nbridges--;
    memset(hr, 0, offsetof(pco_http2_req_t, small));
    return hr;
}

static void
pco_http2_bridge_free(pco_http2_req_t *hr)
{
    free(hr->in);
    if (hr->out != hr->small) {
        free(hr->out);
    }
    if (pco_http2_nbridges >= PCO_HTTP2_BRIDGES_KEPT) {
        free(hr);
        return;
    }
    hr->h2c = (pco_http2_conn_t *) pco_http2_bridges;
    pco_http2_bridges = hr;
    pco_http2_nbridges++;
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
    if (size <= sizeof(hr->small)) {
        hr->out = hr->small;
        hr->out_size = size;
        return PCO_OK;
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

/*
 * Memory buffers are not copied: the first one is lent to the session as it is, and the
 * write answers PCO_AGAIN until the session has framed it (on_drained); the writer, which
 * offers the same bytes again when its write event comes, then hears that they are written.
 * So the engine's buffer (the proxy's relay buffer, a return body) stays where it is until
 * its bytes are in the connection's output, and is copied once, into it; a full frame that
 * is not the first of its buffer is written from where it lies, its header over the 9
 * bytes before it for the time of that write (pco_http2_session_output_direct): which is
 * why a lent buffer must be writable memory.
 */
static ssize_t
pco_http2_io_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt)
{
    pco_http2_req_t  *hr = pco_http2_bridge(c);
    size_t            n;
    bool              last;
    int               i;

    if (c->error) {
        errno = EPIPE;
        return PCO_ERROR;
    }
    if (hr->out_pending) {
        c->write.ready = 0;
        return PCO_AGAIN;
    }
    if (hr->lent != NULL) {
        n = hr->lent_len;          /* taken into frames (the stream may be closed since) */
        hr->lent = NULL;
        return (ssize_t) n;
    }
    if (hr->st == NULL || hr->ended) {
        errno = EPIPE;
        return PCO_ERROR;
    }
    for (i = 0; i < iovcnt && iov[i].iov_len == 0; i++) {
        /* skip empty ones */
    }
    if (i == iovcnt) {
        return 0;
    }
    n = iov[i].iov_len;
    hr->written += (int64_t) n;
    last = hr->declared >= 0 && hr->written >= hr->declared;
    if (pco_http2_stream_write(hr->st, iov[i].iov_base, n, last) != PCO_OK) {
        errno = EPIPE;
        return PCO_ERROR;
    }
    hr->lent = iov[i].iov_base;
    hr->lent_len = n;
    hr->out_pending = 1;
    hr->ended = last;
    pco_http2_conn_kick(hr->h2c);
    c->write.ready = 0;
    return PCO_AGAIN;
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
                    unsigned flags)
{
    pco_http2_req_t  *hr = pco_http2_bridge(r->connection);
    bool              end = (flags & PCO_HTTP_STREAM_END) != 0;

    if (hr->st == NULL) {
        return PCO_ERROR;
    }
    if (hr->websocket && !(flags & PCO_HTTP_STREAM_TUNNEL) && r->status >= 200
        && r->status < 300)
    {
        /* a 2xx would tell the client its tunnel is open: the route does not tunnel */
        pco_log_err(PCO_LOG_INFO, r->connection->log, 0, "extended CONNECT (WebSocket) to "
                    "a route that does not tunnel WebSocket: the stream is reset");
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
    if (!r->header_sent || !r->complete || hr->fc.error || hr->lent != NULL) {
        /* cut short: the client must not take it for a whole response (and a buffer lent
         * to the session goes with the request's pool: the reset forgets it) */
        (void) pco_http2_stream_reset(hr->st, NGHTTP2_INTERNAL_ERROR);
        hr->lent = NULL;
        hr->out_pending = 0;
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
    (void) pco_conn_addr_text(c);         /* formatted once for the connection's streams */
    fc->addr_text_len = c->addr_text_len;
    memcpy(fc->addr_text, c->addr_text, sizeof(fc->addr_text));
    fc->read.data = fc;
    fc->write.data = fc;
    fc->write.write = 1;
    fc->write.active = 1;                 /* the writer waits for write.ready */
    fc->write.ready = 1;
}

/* Adds name: value to the stream's head (its pool); the entry's index + 1, or 0. */
static unsigned
pco_http2_head_append(pco_http2_stream_t *st, const char *name, const u_char *value,
                      size_t vlen)
{
    pco_http_head_t  *h = &st->head;

    if (h->nheaders == h->nalloc
        && pco_http_headers_grow(st->pool, &h->headers, h->nheaders, &h->nalloc,
                                 h->nheaders + 1, PCO_HTTP_MAX_HEADERS) != PCO_OK)
    {
        return 0;
    }
    h->headers[h->nheaders].name.data = (u_char *) name;
    h->headers[h->nheaders].name.len = strlen(name);
    h->headers[h->nheaders].value.data = (u_char *) value;
    h->headers[h->nheaders].value.len = vlen;
    return ++h->nheaders;
}

/*
 * RFC 8441: an extended CONNECT with :protocol websocket becomes the HTTP/1.1 request a
 * WebSocket client would send (GET, Upgrade: websocket, Connection: upgrade and a fresh
 * Sec-WebSocket-Key, which HTTP/2 clients do not send), so that routing, access rules and
 * the proxy's tunnel treat it as one; the proxy then answers 200 instead of relaying the
 * 101. 0, or an HTTP status (501: another protocol; 500: memory).
 */
static int
pco_http2_websocket(pco_http2_req_t *hr, pco_http2_stream_t *st)
{
    pco_http_head_t  *h = &st->head;
    u_char            raw[16], *key, *line;
    unsigned          up, conn;

    if (!pco_str_caseeq_lit(&st->hv.protocol, "websocket")) {
        return 501;
    }
    key = pco_pnalloc(st->pool, 25);
    line = pco_pnalloc(st->pool, h->target.len + sizeof("GET  HTTP/2.0"));
    if (key == NULL || line == NULL || RAND_bytes(raw, sizeof(raw)) != 1) {
        return 500;
    }
    (void) EVP_EncodeBlock(key, raw, sizeof(raw));
    up = pco_http2_head_append(st, "upgrade", (const u_char *) "websocket", 9);
    conn = pco_http2_head_append(st, "connection", (const u_char *) "upgrade", 7);
    if (up == 0 || conn == 0 || pco_http2_head_append(st, "sec-websocket-key", key, 24) == 0) {
        return 500;
    }
    h->upgrade_idx = up;
    h->connection_idx = conn;
    h->conn_upgrade = true;
    h->method = PCO_HTTP_GET;
    pco_str_set(&h->method_name, "GET");
    h->request_line.data = line;
    h->request_line.len = (size_t) snprintf((char *) line, h->target.len + sizeof("GET  HTTP/2.0"),
                                            "GET %.*s HTTP/2.0", (int) h->target.len,
                                            (char *) h->target.data);
    hr->websocket = 1;
    return 0;
}

static int
pco_http2_on_request(pco_http2_stream_t *st, int status)
{
    pco_http2_conn_t  *h2c = pco_http2_session_owner(st->session);
    pco_http2_req_t   *hr = pco_http2_bridge_new();
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
    if (status == 0 && st->hv.protocol.len > 0) {
        status = pco_http2_websocket(hr, st);
    }
    /* a body with no content-length runs to END_STREAM: the engine forwards it chunked (a
     * tunnel's bytes are not a body) */
    to_end = !st->end_stream && st->head.content_length < 0 && !hr->websocket;
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
 * Gives the request-body buffer room for need bytes: it grows by doubling from 4 KiB, so it
 * holds about what the stream has buffered, never more than the stream window: what the
 * settings give, or the protocol's 65,535 a client may use until it has our SETTINGS
 * (nghttp2 enforces the window, so more cannot arrive). A client that opens many streams
 * and sends each a byte costs a few KiB each, not a window each.
 */
static int
pco_http2_in_grow(pco_http2_req_t *hr, size_t need)
{
    size_t   max, size;
    u_char  *in;

    max = pco_max((size_t) pco_http2_conf(hr->fc.listening)->initial_window_size,
                  (size_t) 65535);
    if (need > max) {
        return PCO_ERROR;
    }
    for (size = hr->in_size ? hr->in_size : 4096; size < need; size *= 2) {
        /* double */
    }
    size = pco_min(size, max);
    in = realloc(hr->in, size);
    if (in == NULL) {
        return PCO_ERROR;
    }
    hr->in = in;
    hr->in_size = size;
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
    if (hr->in_len + len > hr->in_size && hr->in_pos > 0) {
        memmove(hr->in, hr->in + hr->in_pos, hr->in_len - hr->in_pos);
        hr->in_len -= hr->in_pos;
        hr->in_pos = 0;
    }
    if (hr->in_len + len > hr->in_size && pco_http2_in_grow(hr, hr->in_len + len) != PCO_OK) {
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
        return;
    }
    if (hr->out_pending) {
        /* the last buffer went out and the stream closed in the same output, before its
         * on_drained: the writer learns it was taken */
        hr->out_pending = 0;
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
