/*
 * pco_tls_io.c: TLS connections: the non-blocking server handshake run from the event loop
 * (SSL_ERROR_WANT_READ / WANT_WRITE in either direction, bounded by the client_header_timeout
 * timer that modules/http armed at accept), and pco_tls_io, the pco_conn_io_t over OpenSSL:
 * recv = SSL_read, send = SSL_write, writev = SSL_write of one iovec or of a bounded copy of
 * small ones (at most 16 KiB, one TLS record), sendfile = pread of at most 16 KiB into a
 * per-worker buffer then SSL_write (no kernel TLS). Retries after WANT_WRITE see the same
 * bytes again because the callers do not advance on PCO_AGAIN (SSL_MODE_ACCEPT_MOVING_
 * WRITE_BUFFER allows the different buffer address).
 */
#include "pco_tls.h"
#include "pco_http_int.h"
#include <openssl/err.h>
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#define PCO_TLS_COPY  16384

static ssize_t pco_tls_recv(pco_connection_t *c, u_char *buf, size_t size);
static ssize_t pco_tls_send(pco_connection_t *c, const u_char *buf, size_t size);
static ssize_t pco_tls_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt);
static ssize_t pco_tls_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size);

const pco_conn_io_t pco_tls_io = {
    pco_tls_recv, pco_tls_send, pco_tls_writev, pco_tls_sendfile
};

static u_char pco_tls_buf[PCO_TLS_COPY];    /* per worker: writev / sendfile staging */

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

static void
pco_tls_handshake_handler(pco_event_t *ev)
{
    pco_connection_t *c = ev->data;

    if (ev->timedout) {
        ev->timedout = 0;
        pco_http_close(c);
        return;
    }
    pco_tls_handshake(c);
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
    pco_http_addr_t *a;
    pco_tls_conf_t  *tcf;
    int              n, err;

    if (ssl == NULL) {
        a = c->listening->servers;
        tcf = pco_conf_get(a->default_server->node, &pco_tls_module);
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
    n = SSL_do_handshake(ssl);
    if (n == 1) {
        c->io = &pco_tls_io;
        pco_http_tls_done(c);
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
    pco_tls_log_error(c, "TLS handshake");
    pco_http_close(c);
}

void
pco_tls_free(pco_connection_t *c)
{
    SSL *ssl = c->tls;

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

/* Maps an SSL_read/SSL_write failure to PCO_AGAIN / 0 (EOF) / PCO_ERROR. */
static ssize_t
pco_tls_fail(pco_connection_t *c, int n, bool reading)
{
    int err = SSL_get_error(c->tls, n);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        c->read.ready = 0;
        return PCO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
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
    int n;

    ERR_clear_error();
    errno = 0;
    n = SSL_read(c->tls, buf, (int) pco_min(size, (size_t) INT_MAX));
    if (n > 0) {
        return n;
    }
    return pco_tls_fail(c, n, true);
}

static ssize_t
pco_tls_send(pco_connection_t *c, const u_char *buf, size_t size)
{
    int n;

    if (size == 0) {
        return 0;
    }
    ERR_clear_error();
    errno = 0;
    n = SSL_write(c->tls, buf, (int) pco_min(size, (size_t) 1 << 30));
    if (n > 0) {
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
