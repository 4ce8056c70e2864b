/*
 * pco_http2_conn.c: a client connection that speaks HTTP/2. The socket is read into a
 * per-worker buffer and handed to the session at once (nghttp2 keeps what it needs), which
 * runs the stream handlers (pco_http2_stream.c) and so the engine's requests; what the
 * session has to write is framed into a second per-worker buffer (or, for a large DATA
 * frame, left in the engine's buffer) and sent, a short write keeping its rest in a buffer
 * of the connection's own until the socket drains. So an idle connection holds its session
 * and nothing else.
 *
 * Endings:
 * - idle: no request in progress for http2_idle_timeout (a stream still receiving its head
 *   included) -> GOAWAY, then close;
 * - graceful (reload, stop: the worker retires its connections): GOAWAY with the last
 *   stream processed; the streams in flight finish; then close;
 * - failed (a protocol error or a defence): the GOAWAY the session queued is written, then
 *   the connection closes; so too when nghttp2 ends the session on its own (a connection
 *   error it handles without failing the input) or the client's GOAWAY leaves no stream;
 * - gone (the client closed or reset, or a write failed): the session is destroyed, which
 *   tells each request still running that its client is gone.
 * The socket is closed only once no request runs any more: a request holds a copy of the
 * connection (its fd included) until the engine is done with it.
 */
#include "pco_http2_int.h"
#include "pco_process.h"
#include "pco_shm.h"
#include <stdlib.h>
#include <sys/socket.h>

#define PCO_HTTP2_READS_PER_PASS  8

static u_char pco_http2_ibuf[16384];
static u_char pco_http2_obuf[65536];

static void pco_http2_read(pco_event_t *ev);
static void pco_http2_write(pco_event_t *ev);

static void
pco_http2_ignore(pco_event_t *ev)
{
    pco_unused(ev);
}

static void
pco_http2_settings(const pco_http2_conf_t *conf, pco_http2_settings_t *s)
{
    pco_http2_settings_default(s);
    s->max_concurrent_streams = (uint32_t) conf->max_concurrent_streams;
    s->initial_window_size = (uint32_t) conf->initial_window_size;
    s->connection_window_size = (uint32_t) conf->connection_window_size;
    s->max_header_list_size = (uint32_t) conf->max_header_list_size;
    s->rapid_reset_limit = (unsigned) conf->rapid_reset_limit;
    s->enable_connect_protocol = true;     /* WebSocket over HTTP/2 (RFC 8441) */
}

void
pco_http2_conn_kick(pco_http2_conn_t *h2c)
{
    pco_event_post(&h2c->c->write);
}

/* Closes the socket: every request is done. */
static void
pco_http2_close(pco_http2_conn_t *h2c)
{
    pco_connection_t  *c = h2c->c;

    if (h2c->session != NULL) {
        pco_http2_session_destroy(h2c->session);
    }
    pco_counter_add(pco_http2_main()->c_active, -1);
    free(h2c->pend);
    free(h2c);
    c->data = NULL;
    if (c->io == &pco_conn_plain_io && !c->error) {
        /* our last frames (a GOAWAY) must not turn into a reset by data still unread */
        (void) shutdown(c->fd, SHUT_WR);
    }
    pco_http_close(c);
}

/* The client is gone, or the session is over: the streams are cancelled (their requests
 * learn it through their own connections), nothing more is read or written. */
static void
pco_http2_gone(pco_http2_conn_t *h2c)
{
    pco_connection_t     *c = h2c->c;
    pco_http2_session_t  *s = h2c->session;

    h2c->gone = 1;
    h2c->session = NULL;
    if (s != NULL) {
        pco_http2_session_destroy(s);
    }
    c->read.handler = pco_http2_ignore;
    if (c->read.timer_index) {
        pco_event_del_timer(&c->read);
    }
    if (c->write.timer_index) {
        pco_event_del_timer(&c->write);
    }
    pco_http_set_idle(c, false);
}

void
pco_http2_conn_start(pco_connection_t *c, const u_char *data, size_t len)
{
    pco_http2_conn_t      *h2c = calloc(1, sizeof(*h2c));
    const pco_http2_conf_t *conf = pco_http2_conf(c->listening);
    pco_http2_settings_t   settings;

    if (h2c == NULL) {
        pco_http_close(c);
        return;
    }
    pco_http2_settings(conf, &settings);
    h2c->c = c;
    h2c->idle_timeout = conf->idle_timeout;
    h2c->session = pco_http2_session_create(&settings, &pco_http2_stream_handlers, h2c);
    if (h2c->session == NULL) {
        free(h2c);
        pco_http_close(c);
        return;
    }
    pco_counter_add(pco_http2_main()->c_active, 1);
    pco_counter_add(pco_http2_main()->c_total, 1);
    c->data = h2c;
    c->read.handler = pco_http2_read;
    c->write.handler = pco_http2_write;
    /* frames are small and many; Nagle would hold the next behind an unacknowledged one */
    pco_conn_nodelay(c);
    if (len > 0 && pco_http2_session_input(h2c->session, data, len) != PCO_OK) {
        h2c->failed = 1;
    }
    /* TLS may already hold decrypted bytes; a plain socket may have more */
    pco_http2_read(&c->read);
}

/* Graceful end: GOAWAY with the last stream processed; the streams in flight go on. */
static void
pco_http2_goaway(pco_http2_conn_t *h2c)
{
    if (h2c->goaway || h2c->failed || h2c->gone) {
        return;
    }
    h2c->goaway = 1;
    if (pco_http2_session_shutdown(h2c->session) != PCO_OK) {
        h2c->failed = 1;
    }
    pco_http2_conn_kick(h2c);
}

/* The session failed (a protocol error, or a defence: warned, with its reason): what it
 * queued (a GOAWAY) is written, then the connection closes. */
static void
pco_http2_fail(pco_http2_conn_t *h2c)
{
    pco_connection_t  *c = h2c->c;
    const char        *why = pco_http2_session_close_reason(h2c->session);

    h2c->failed = 1;
    if (why != NULL) {
        pco_counter_add(pco_http2_main()->c_calm, 1);
    }
    pco_log_err(why != NULL ? PCO_LOG_WARN : PCO_LOG_INFO, c->log, 0,
                "HTTP/2 connection from %.*s ended: %s",
                (int) pco_conn_addr_text(c).len, (char *) pco_conn_addr_text(c).data,
                why != NULL ? why : "protocol error");
}

static void
pco_http2_read(pco_event_t *ev)
{
    pco_connection_t  *c = ev->data;
    pco_http2_conn_t  *h2c = c->data;
    ssize_t            n;
    unsigned           i;

    if (ev->timedout) {
        /* no request for http2_idle_timeout (a stream still receiving its head included:
         * a client that starts a header block and stops is not waited for): GOAWAY, and
         * the connection closes once it is written */
        ev->timedout = 0;
        pco_http2_goaway(h2c);
        h2c->failed = 1;
        pco_http2_write(&c->write);
        return;
    }
    if (c->close) {
        /* the worker retires its idle connections (reload, stop) */
        pco_http_set_idle(c, false);
        pco_http2_goaway(h2c);
    }
    for (i = 0; i < PCO_HTTP2_READS_PER_PASS && !h2c->failed && !h2c->gone; i++) {
        n = c->io->recv(c, pco_http2_ibuf, sizeof(pco_http2_ibuf));
        if (n == PCO_AGAIN) {
            c->read.ready = 0;
            break;
        }
        if (n <= 0) {
            pco_http2_gone(h2c);
            break;
        }
        if (pco_http2_session_input(h2c->session, pco_http2_ibuf, (size_t) n) != PCO_OK) {
            pco_http2_fail(h2c);
            break;
        }
        if (!c->read.ready) {
            break;
        }
    }
    if (i == PCO_HTTP2_READS_PER_PASS && c->read.ready) {
        pco_event_post(&c->read);      /* the others get their turn first */
    }
    pco_http2_write(&c->write);
}

/* Writes the rest of a short write. PCO_OK, PCO_AGAIN, PCO_ERROR. */
static int
pco_http2_flush_pending(pco_http2_conn_t *h2c)
{
    pco_connection_t  *c = h2c->c;
    ssize_t            n;

    while (h2c->pend_pos < h2c->pend_len) {
        n = c->io->send(c, h2c->pend + h2c->pend_pos, h2c->pend_len - h2c->pend_pos);
        if (n == PCO_AGAIN) {
            c->write.ready = 0;
            return PCO_AGAIN;
        }
        if (n < 0) {
            return PCO_ERROR;
        }
        h2c->pend_pos += (size_t) n;
    }
    free(h2c->pend);
    h2c->pend = NULL;
    h2c->pend_pos = h2c->pend_len = 0;
    return PCO_OK;
}

/* Sends n bytes from out; a short write (EAGAIN) keeps the rest in a buffer of the
 * connection's own. PCO_OK (all out), PCO_AGAIN, PCO_ERROR. A short write that is not
 * EAGAIN (TLS writes a record at a time) is followed by the next one. */
static int
pco_http2_send(pco_http2_conn_t *h2c, const u_char *out, size_t n)
{
    pco_connection_t  *c = h2c->c;
    ssize_t            w;
    size_t             off;

    for (off = 0; off < n; off += (size_t) w) {
        w = c->io->send(c, out + off, n - off);
        if (w == PCO_AGAIN) {
            break;
        }
        if (w < 0) {
            return PCO_ERROR;
        }
    }
    if (off == n) {
        return PCO_OK;
    }
    h2c->pend = malloc(n - off);
    if (h2c->pend == NULL) {
        return PCO_ERROR;
    }
    memcpy(h2c->pend, out + off, n - off);
    h2c->pend_len = n - off;
    c->write.ready = 0;
    return PCO_AGAIN;
}

/* Frames and sends what the session has. PCO_OK (all out), PCO_AGAIN, PCO_ERROR. A large
 * DATA frame may come straight from the engine's buffer (pco_http2_session_output_direct):
 * it is released at once, written or copied. */
static int
pco_http2_flush(pco_http2_conn_t *h2c)
{
    const u_char  *out;
    ssize_t        n;
    int            rc;

    for ( ;; ) {
        if (h2c->pend != NULL) {
            rc = pco_http2_flush_pending(h2c);
            if (rc != PCO_OK) {
                return rc;
            }
        }
        n = pco_http2_session_output_direct(h2c->session, pco_http2_obuf,
                                            sizeof(pco_http2_obuf), &out);
        if (n <= 0) {
            return n < 0 ? PCO_ERROR : PCO_OK;
        }
        rc = pco_http2_send(h2c, out, (size_t) n);
        if (out != pco_http2_obuf) {
            pco_http2_session_release(h2c->session);
        }
        if (rc != PCO_OK) {
            return rc;
        }
    }
}

/* After every pass: close when over, the idle timer and idle list when no stream is open,
 * GOAWAY when the worker is retiring. */
static void
pco_http2_check(pco_http2_conn_t *h2c)
{
    pco_connection_t  *c = h2c->c;
    bool               idle;

    if (h2c->gone) {
        if (h2c->requests == 0) {
            pco_http2_close(h2c);
        }
        return;
    }
    if (!h2c->failed && pco_http2_session_close_reason(h2c->session) != NULL) {
        pco_http2_fail(h2c);           /* a defence tripped while the session wrote */
    }
    if (pco_worker_exiting && !h2c->goaway) {
        pco_http2_goaway(h2c);
    }
    /* done: our GOAWAY is out and its streams are over, or nghttp2 ended the session itself
     * (a connection error it found, such as a stream past max_concurrent_streams: its GOAWAY
     * is out and it will send nothing more, not even the responses in flight), or the
     * client's GOAWAY came and no stream is left */
    if (h2c->pend == NULL && (h2c->failed || pco_http2_session_done(h2c->session))) {
        pco_http2_gone(h2c);
        if (h2c->requests == 0) {
            pco_http2_close(h2c);
        }
        return;
    }
    idle = h2c->requests == 0;
    pco_http_set_idle(c, idle && pco_http2_session_streams(h2c->session) == 0
                         && !h2c->goaway && !pco_worker_exiting);
    if (idle && !c->read.timer_index) {
        pco_event_add_timer(&c->read, h2c->idle_timeout);
        pco_http2_session_trim(h2c->session);     /* the frame buffer's pages, while idle */
    } else if (!idle && c->read.timer_index) {
        pco_event_del_timer(&c->read);
    }
}

static void
pco_http2_write(pco_event_t *ev)
{
    pco_connection_t  *c = ev->data;
    pco_http2_conn_t  *h2c = c->data;
    int                rc;

    if (ev->timedout) {
        /* the client has not taken a byte for a whole idle_timeout */
        ev->timedout = 0;
        c->error = 1;
        pco_http2_gone(h2c);
    } else if (!h2c->gone && (c->write.ready || h2c->pend == NULL)) {
        rc = pco_http2_flush(h2c);
        if (rc == PCO_ERROR) {
            c->error = 1;
            pco_http2_gone(h2c);
        } else if (rc == PCO_AGAIN) {
            pco_event_wait_timer(&c->write, h2c->idle_timeout, false);
        } else if (c->write.timer_index) {
            pco_event_del_timer(&c->write);
        }
    }
    pco_http2_check(h2c);
}
