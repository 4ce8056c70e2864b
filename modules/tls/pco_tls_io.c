/*
 * pco_tls_io.c: TLS connections: the non-blocking server handshake run from the event loop
 * (SSL_ERROR_WANT_READ / WANT_WRITE in either direction, bounded by the client_header_timeout
 * timer that modules/http armed at accept), and pco_tls_io, the pco_conn_io_t over OpenSSL:
 * recv = SSL_read, send = SSL_write, writev = SSL_write of one iovec or of a bounded copy of
 * small ones (at most 16 KiB, one TLS record), sendfile = pread of at most 16 KiB into a
 * per-worker buffer then SSL_write (no kernel TLS). Retries after WANT_WRITE see the same
 * bytes again because the callers do not advance on PCO_AGAIN (SSL_MODE_ACCEPT_MOVING_
 * WRITE_BUFFER allows the different buffer address).
 *
 * Crossed directions (as nginx's ngx_ssl_write_handler / ngx_ssl_read_handler): SSL_read may
 * need to write while the socket's send buffer is full (handshake messages of a TLS 1.2
 * renegotiation; the answer to a TLS 1.3 KeyUpdate with update_requested in OpenSSL versions
 * that send it from SSL_read, whereas 3.0 sends it with the next SSL_write) and SSL_write may
 * need to read. The blocked side then waits for the OTHER event, which edge-triggered epoll
 * reports to the other handler only: that handler is saved in a small per-connection struct
 * (SSL ex_data, allocated the first time and freed with the SSL) and replaced by a hook that
 * runs the blocked side's handler and then the saved one. The saved handler is put back as
 * soon as the hook runs or the blocked operation is retried, and only if the upper layer has
 * not installed another handler in between; progress in the other direction also wakes the
 * blocked side (a posted event), so a replaced handler cannot strand it. Server read-ahead
 * (pco_tls.c) can leave records inside OpenSSL after a successful SSL_read that epoll will
 * not report again: read.ready then stays 1.
 */
#include "pco_tls.h"
#include "pco_http_conn.h"
#include <openssl/err.h>
#include <errno.h>
#include <string.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PCO_TLS_COPY  16384

static ssize_t pco_tls_recv(pco_connection_t *c, u_char *buf, size_t size);
static ssize_t pco_tls_send(pco_connection_t *c, const u_char *buf, size_t size);
static ssize_t pco_tls_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt);
static ssize_t pco_tls_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size);

const pco_conn_io_t pco_tls_io = {
    pco_tls_recv, pco_tls_send, pco_tls_writev, pco_tls_sendfile, 0
};

static u_char pco_tls_buf[PCO_TLS_COPY];    /* per worker: writev / sendfile staging */

/* Per-connection state of a crossed direction; NULL ex_data until the first one. */
typedef struct {
    pco_event_handler_pt   saved_write;     /* write handler replaced by pco_tls_write_hook */
    pco_event_handler_pt   saved_read;      /* read handler replaced by pco_tls_read_hook */
    unsigned               read_blocked:1;  /* SSL_read is waiting for a write event */
    unsigned               write_blocked:1; /* SSL_write is waiting for a read event */
} pco_tls_io_state_t;

static int  pco_tls_io_index = -1;

static void pco_tls_unblock_read(pco_connection_t *c, pco_tls_io_state_t *st);
static void pco_tls_unblock_write(pco_connection_t *c, pco_tls_io_state_t *st);

static void
pco_tls_io_state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                      void *argp)
{
    pco_unused(parent);
    pco_unused(ad);
    pco_unused(idx);
    pco_unused(argl);
    pco_unused(argp);
    free(ptr);
}

/* The connection's state; with create, allocated on first use (NULL when out of memory). */
static pco_tls_io_state_t *
pco_tls_io_state(SSL *ssl, bool create)
{
    pco_tls_io_state_t  *st;

    if (pco_tls_io_index == -1) {
        if (!create) {
            return NULL;
        }
        pco_tls_io_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, pco_tls_io_state_free);
        if (pco_tls_io_index == -1) {
            return NULL;
        }
    }
    st = SSL_get_ex_data(ssl, pco_tls_io_index);
    if (st == NULL && create) {
        st = calloc(1, sizeof(*st));
        if (st != NULL && SSL_set_ex_data(ssl, pco_tls_io_index, st) != 1) {
            free(st);
            st = NULL;
        }
    }
    return st;
}

/* True when the handler just run closed c (or c was handed out again, or lost its TLS). */
static bool
pco_tls_io_gone(pco_connection_t *c, SSL *ssl, unsigned instance)
{
    return c->destroyed || pco_conn_instance(c) != instance || c->tls != ssl;
}

static void
pco_tls_log_error(pco_connection_t *c, const char *what)
{
    unsigned long  e;
    char           buf[256];

    e = ERR_peek_last_error();
    if (e != 0 && c->log->level >= PCO_LOG_INFO) {
        ERR_error_string_n(e, buf, sizeof(buf));
        pco_log_error(PCO_LOG_INFO, c->log, 0, "%s failed: %s", what, buf);
    }
    ERR_clear_error();
}

/* The client sent not one byte: a port probe or an idle pre-connect, not a handshake (not
 * counted, not logged, as nginx's "client closed connection" before any TLS record). */
static bool
pco_tls_silent(pco_connection_t *c)
{
    return c->tls == NULL || BIO_number_read(SSL_get_rbio(c->tls)) == 0;
}

static void
pco_tls_handshake_handler(pco_event_t *ev)
{
    pco_connection_t *c = ev->data;

    if (ev->timedout) {
        ev->timedout = 0;
        if (!pco_tls_silent(c)) {
            pco_tls_stats_failed(c, PCO_TLS_FAIL_OTHER, "timed out");
        }
        pco_http_close(c);
        return;
    }
    pco_tls_handshake(c);
}

/* A handshake that OpenSSL ended with err: counted by reason and logged, one line. */
static void
pco_tls_handshake_failed(pco_connection_t *c, int err)
{
    unsigned long  e = ERR_peek_last_error();
    const char    *why;
    int            reason;

    if (pco_tls_silent(c)) {
        /* nothing to report */
    } else if (pco_tls_sni_refused) {
        pco_tls_stats_failed(c, PCO_TLS_FAIL_UNKNOWN_SNI, "unknown server name");
    } else if (e != 0) {
        reason = pco_tls_failure_reason(e);
        why = ERR_reason_error_string(e);
        pco_tls_stats_failed(c, reason, why != NULL ? why : "unknown error");
    } else if (err == SSL_ERROR_SYSCALL && errno != 0) {
        pco_tls_stats_failed(c, PCO_TLS_FAIL_OTHER, strerror(errno));
    } else {
        pco_tls_stats_failed(c, PCO_TLS_FAIL_OTHER, "peer closed connection");
    }
    ERR_clear_error();
}

/* Plain HTTP on a TLS port: a fixed 400 (as nginx), the request drained so that the close
 * does not turn into a reset that would destroy the answer. */
static void
pco_tls_plain_http(pco_connection_t *c)
{
    static const char  resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 47\r\nConnection: close\r\n\r\n"
                                "The plain HTTP request was sent to HTTPS port.\n";

    (void) pco_conn_plain_io.recv(c, pco_tls_buf, sizeof(pco_tls_buf));
    (void) pco_conn_plain_io.send(c, (const u_char *) resp, sizeof(resp) - 1);
    (void) shutdown(c->fd, SHUT_WR);
    (void) pco_conn_plain_io.recv(c, pco_tls_buf, sizeof(pco_tls_buf));
}

void
pco_tls_handshake(pco_connection_t *c)
{
    SSL             *ssl = c->tls;
    pco_tls_conf_t  *tcf;
    int              n, err;

    if (ssl == NULL) {
        tcf = pco_conf_get(pco_http_listener_default_server(c->listening)->node,
                           &pco_tls_module);
        if (tcf == NULL || tcf->ctx == NULL || (ssl = SSL_new(tcf->ctx)) == NULL) {
            pco_tls_log_error(c, "SSL_new");
            pco_http_close(c);
            return;
        }
        if (SSL_set_fd(ssl, c->fd) != 1) {
            SSL_free(ssl);
            pco_tls_log_error(c, "SSL_set_fd");
            pco_http_close(c);
            return;
        }
        SSL_set_accept_state(ssl);
        SSL_set_app_data(ssl, c);
        c->tls = ssl;
        c->read.handler = pco_tls_handshake_handler;
        c->write.handler = pco_tls_handshake_handler;
    }
    ERR_clear_error();
    pco_tls_sni_refused = false;
    errno = 0;
    n = SSL_do_handshake(ssl);
    if (n == 1) {
        c->io = &pco_tls_io;
        (void) pco_tls_stats_done(c);
        pco_http_tls_done(c, pco_tls_alpn_h2(c));
        return;
    }
    err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ) {
        c->read.ready = 0;
        return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c->write.ready = 0;
        return;
    }
    /* plain HTTP, a refused version, a bad client certificate chain, EOF: close */
    SSL_set_quiet_shutdown(ssl, 1);
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_HTTP_REQUEST) {
        pco_tls_plain_http(c);
    }
    pco_tls_handshake_failed(c, err);
    pco_http_close(c);
}

void
pco_tls_free(pco_connection_t *c)
{
    SSL                 *ssl = c->tls;
    pco_tls_io_state_t  *st = pco_tls_io_state(ssl, false);

    if (st != NULL) {
        /* no hook may outlive the SSL it looks up */
        pco_tls_unblock_read(c, st);
        pco_tls_unblock_write(c, st);
    }

    if (SSL_is_init_finished(ssl) && !c->error && !SSL_get_quiet_shutdown(ssl)) {
        /* one non-blocking attempt to send close_notify; no waiting for the peer's */
        SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
        (void) SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    c->tls = NULL;
    c->io = &pco_conn_plain_io;
}

static void pco_tls_write_hook(pco_event_t *ev);
static void pco_tls_read_hook(pco_event_t *ev);

/* The reader no longer waits for a write event: the saved write handler goes back unless the
 * upper layer has replaced the hook meanwhile (then its handler stays). */
static void
pco_tls_unblock_read(pco_connection_t *c, pco_tls_io_state_t *st)
{
    if (c->write.handler == pco_tls_write_hook) {
        c->write.handler = st->saved_write;
    }
    st->saved_write = NULL;
    st->read_blocked = 0;
}

static void
pco_tls_unblock_write(pco_connection_t *c, pco_tls_io_state_t *st)
{
    if (c->read.handler == pco_tls_read_hook) {
        c->read.handler = st->saved_read;
    }
    st->saved_read = NULL;
    st->write_blocked = 0;
}

/* A write event (or a posted one) while SSL_read waits for one (on_write; a read event while
 * SSL_write waits is the mirror image): the blocked side retries, then the handler the hook
 * stood for gets the event as it would have without the hook. A timeout goes to the saved
 * handler alone (the blocked side stays parked; its own timer bounds it). */
static void
pco_tls_hook(pco_event_t *ev, bool on_write)
{
    pco_connection_t     *c = ev->data;
    SSL                  *ssl = c->tls;
    pco_tls_io_state_t   *st = pco_tls_io_state(ssl, false);
    pco_event_t          *blocked = on_write ? &c->read : &c->write;
    pco_event_handler_pt  h, self = on_write ? pco_tls_write_hook : pco_tls_read_hook;
    unsigned              instance = pco_conn_instance(c);

    if (st == NULL) {
        return;     /* cannot happen: the hook is installed with the state */
    }
    h = on_write ? st->saved_write : st->saved_read;
    if (ev->timedout) {
        if (h != NULL) {
            h(ev);
        }
        return;
    }
    if (on_write) {
        pco_tls_unblock_read(c, st);
    } else {
        pco_tls_unblock_write(c, st);
    }
    blocked->ready = 1;
    if (blocked->handler != NULL) {
        blocked->handler(blocked);
    }
    if (pco_tls_io_gone(c, ssl, instance)) {
        return;
    }
    /* unless the blocked side parked again (then this side would only meet the same full
     * socket, and the next event comes back here) */
    h = ev->handler;
    if (h != NULL && h != self) {
        h(ev);
    }
}

static void
pco_tls_write_hook(pco_event_t *ev)
{
    pco_tls_hook(ev, true);
}

/* A read event while SSL_write waits for one: the mirror image. */
static void
pco_tls_read_hook(pco_event_t *ev)
{
    pco_tls_hook(ev, false);
}

/* SSL_read wants to write (reading) or SSL_write wants to read: park the operation on the
 * other event. PCO_AGAIN, or PCO_ERROR when the small state cannot be allocated. */
static ssize_t
pco_tls_cross(pco_connection_t *c, bool reading)
{
    pco_tls_io_state_t  *st = pco_tls_io_state(c->tls, true);

    if (st == NULL) {
        pco_log_error(PCO_LOG_ERR, c->log, 0, "TLS: out of memory");
        c->error = 1;
        errno = ENOMEM;
        return PCO_ERROR;
    }
    if (reading) {
        c->read.ready = 0;
        c->write.ready = 0;
        if (!st->read_blocked || c->write.handler != pco_tls_write_hook) {
            st->saved_write = c->write.handler;
            c->write.handler = pco_tls_write_hook;
        }
        st->read_blocked = 1;
    } else {
        c->write.ready = 0;
        c->read.ready = 0;
        if (!st->write_blocked || c->read.handler != pco_tls_read_hook) {
            st->saved_read = c->read.handler;
            c->read.handler = pco_tls_read_hook;
        }
        st->write_blocked = 1;
    }
    return PCO_AGAIN;
}

/* Maps an SSL_read/SSL_write failure to PCO_AGAIN / 0 (EOF) / PCO_ERROR. */
static ssize_t
pco_tls_fail(pco_connection_t *c, int n, bool reading)
{
    int err = SSL_get_error(c->tls, n);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        if (!reading) {
            return pco_tls_cross(c, false);
        }
        c->read.ready = 0;
        return PCO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (reading) {
            return pco_tls_cross(c, true);
        }
        c->write.ready = 0;
        return PCO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        if (reading) {
            c->read.ready = 0;
            return 0;
        }
        break;
    default:
        break;
    }
    SSL_set_quiet_shutdown(c->tls, 1);
    c->error = 1;
    pco_tls_log_error(c, reading ? "SSL_read" : "SSL_write");
    if (errno == 0) {
        errno = EPIPE;
    }
    return PCO_ERROR;
}

static ssize_t
pco_tls_recv(pco_connection_t *c, u_char *buf, size_t size)
{
    SSL                 *ssl = c->tls;
    pco_tls_io_state_t  *st = pco_tls_io_state(ssl, false);
    int                  n;

    if (st != NULL && st->read_blocked) {
        pco_tls_unblock_read(c, st);        /* retried: the hook is no longer needed */
    }
    ERR_clear_error();
    errno = 0;
    n = SSL_read(ssl, buf, (int) pco_min(size, (size_t) INT_MAX));
    if (n > 0) {
        if (st != NULL && st->write_blocked) {
            /* what SSL_write waited for has been read: let the writer retry */
            pco_tls_unblock_write(c, st);
            c->write.ready = 1;
            pco_event_post(&c->write);
        }
        if (SSL_has_pending(ssl)) {
            /* read-ahead: records already taken from the socket that epoll will not
             * report again; a reader that stops early must come back for them */
            c->read.ready = 1;
        }
        return n;
    }
    return pco_tls_fail(c, n, true);
}

static ssize_t
pco_tls_send(pco_connection_t *c, const u_char *buf, size_t size)
{
    SSL                 *ssl = c->tls;
    pco_tls_io_state_t  *st;
    int                  n;

    if (size == 0) {
        return 0;
    }
    st = pco_tls_io_state(ssl, false);
    if (st != NULL && st->write_blocked) {
        pco_tls_unblock_write(c, st);
    }
    ERR_clear_error();
    errno = 0;
    n = SSL_write(ssl, buf, (int) pco_min(size, (size_t) 1 << 30));
    if (n > 0) {
        if (st != NULL && st->read_blocked) {
            /* the send direction moved (what SSL_read had to write went first): wake the
             * reader even if the upper layer replaced the write hook meanwhile */
            pco_tls_unblock_read(c, st);
            c->read.ready = 1;
            pco_event_post(&c->read);
        }
        return n;
    }
    return pco_tls_fail(c, n, false);
}

static ssize_t
pco_tls_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt)
{
    size_t  len = 0, k;
    int     i;

    /* skip empty leading vectors; a big first vector goes out directly */
    for (i = 0; i < iovcnt && iov[i].iov_len == 0; i++) {
        /* nothing */
    }
    if (i == iovcnt) {
        return 0;
    }
    if (iov[i].iov_len >= PCO_TLS_COPY || i + 1 == iovcnt) {
        return pco_tls_send(c, iov[i].iov_base, iov[i].iov_len);
    }
    for ( ; i < iovcnt && len < PCO_TLS_COPY; i++) {
        k = pco_min(iov[i].iov_len, PCO_TLS_COPY - len);
        memcpy(pco_tls_buf + len, iov[i].iov_base, k);
        len += k;
    }
    return pco_tls_send(c, pco_tls_buf, len);
}

static ssize_t
pco_tls_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size)
{
    ssize_t  n, sent;

    n = pread(fd, pco_tls_buf, pco_min(size, (size_t) PCO_TLS_COPY), *offset);
    if (n < 0) {
        return PCO_ERROR;
    }
    if (n == 0) {
        errno = EIO;    /* the file shrank */
        return PCO_ERROR;
    }
    sent = pco_tls_send(c, pco_tls_buf, (size_t) n);
    if (sent > 0) {
        *offset += sent;
    }
    return sent;
}
