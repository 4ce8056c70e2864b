/*
 * test_tls_io.c: unit tests of pco_tls_io (modules/tls/pco_tls_io.c) over real OpenSSL on a
 * non-blocking AF_UNIX socketpair with small buffers, a certificate made in memory and the
 * server end wrapped in a pco_connection_t (no event loop: the tests call the handlers as
 * epoll would).
 *
 * Crossed directions: OpenSSL 3.0 answers a TLS 1.3 KeyUpdate(update_requested) with the next
 * SSL_write (openssl#8677), so the one way to make its SSL_read write is a TLS 1.2
 * renegotiation started by the client (allowed on the test's server context only). With the
 * server's send direction full, the server's recv must park on the WRITE event, and that
 * event must run the read handler (and the write handler it stood for, restored after); the
 * renegotiation then completes and the client's message reaches the read handler byte for
 * byte. Also: a write handler replaced by the upper layer meanwhile is kept, SSL_write that
 * needs to read parks on the READ event, a retried recv restores the saved handler, a write
 * timeout goes to the saved handler alone; the KeyUpdate case (data at once, our KeyUpdate
 * flushed by the next send); read.ready kept at 1 while read-ahead left records inside
 * OpenSSL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "pco_tls.h"

#define PCO_TEST_MSG      "hello over a crossed TLS direction"
#define PCO_TEST_CHUNK    4096

typedef struct {
    SSL_CTX           *sctx;
    SSL_CTX           *cctx;
    SSL               *srv;       /* c->tls */
    SSL               *cli;
    int                fds[2];    /* [0] server (c->fd), [1] client */
    pco_connection_t  *c;
} pco_test_pair_t;

/* What the test handlers saw. */
static unsigned  pco_test_reads;       /* read handler calls */
static unsigned  pco_test_writes;      /* write handler calls */
static unsigned  pco_test_others;      /* the replacement write handler's calls */
static u_char    pco_test_got[256];
static size_t    pco_test_got_len;
static ssize_t   pco_test_last_rc;

/* A reader as the HTTP module's: recv until PCO_AGAIN or EOF. */
static void
pco_test_read_handler(pco_event_t *ev)
{
    pco_connection_t  *c = ev->data;
    ssize_t            n;

    pco_test_reads++;
    for ( ;; ) {
        n = c->io->recv(c, pco_test_got + pco_test_got_len,
                        sizeof(pco_test_got) - pco_test_got_len);
        pco_test_last_rc = n;
        if (n <= 0) {
            break;
        }
        pco_test_got_len += (size_t) n;
    }
    if (n == PCO_AGAIN) {
        c->read.ready = 0;
    }
}

static void
pco_test_write_handler(pco_event_t *ev)
{
    pco_unused(ev);
    pco_test_writes++;
}

static void
pco_test_other_write_handler(pco_event_t *ev)
{
    pco_unused(ev);
    pco_test_others++;
}

/* A P-256 key and a self-signed certificate for "tls-io.test", made in memory. */
static void
pco_test_cert(SSL_CTX *ctx)
{
    EVP_PKEY  *pkey = EVP_EC_gen("P-256");
    X509      *x = X509_new();
    X509_NAME *name;

    assert_non_null(pkey);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const u_char *) "tls-io.test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

static void
pco_test_nonblock_small(int fd)
{
    int  size = 4096;

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* Both ends handshaken (exactly `version`), the server end wrapped in a connection using
 * pco_tls_io with the server modes of pco_tls.c. */
static void
pco_test_pair(pco_test_pair_t *p, int read_ahead, int version)
{
    int  i, rs = 0, rc = 0;

    memset(p, 0, sizeof(*p));
    pco_test_reads = pco_test_writes = pco_test_others = 0;
    pco_test_got_len = 0;
    pco_test_last_rc = 0;
    assert_int_equal(pco_conn_pool_init(4), PCO_OK);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds), 0);
    pco_test_nonblock_small(p->fds[0]);
    pco_test_nonblock_small(p->fds[1]);

    p->sctx = SSL_CTX_new(TLS_server_method());
    p->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->sctx);
    assert_non_null(p->cctx);
    pco_test_cert(p->sctx);
    SSL_CTX_set_min_proto_version(p->sctx, version);
    SSL_CTX_set_max_proto_version(p->sctx, version);
    SSL_CTX_set_min_proto_version(p->cctx, version);
    SSL_CTX_set_max_proto_version(p->cctx, version);
    SSL_CTX_set_options(p->sctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(p->sctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(p->sctx, read_ahead);
    SSL_CTX_set_num_tickets(p->sctx, 0);
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);

    p->srv = SSL_new(p->sctx);
    p->cli = SSL_new(p->cctx);
    assert_int_equal(SSL_set_fd(p->srv, p->fds[0]), 1);
    assert_int_equal(SSL_set_fd(p->cli, p->fds[1]), 1);
    SSL_set_accept_state(p->srv);
    SSL_set_connect_state(p->cli);
    for (i = 0; i < 100 && (rs != 1 || rc != 1); i++) {
        if (rc != 1) {
            rc = SSL_do_handshake(p->cli);
        }
        if (rs != 1) {
            rs = SSL_do_handshake(p->srv);
        }
    }
    assert_int_equal(rs, 1);
    assert_int_equal(rc, 1);

    p->c = pco_conn_get(p->fds[0]);
    assert_non_null(p->c);
    p->c->tls = p->srv;
    p->c->io = &pco_tls_io;
    p->c->read.handler = pco_test_read_handler;
    p->c->write.handler = pco_test_write_handler;
    p->c->read.ready = 1;
    p->c->write.ready = 1;
}

static void
pco_test_pair_free(pco_test_pair_t *p)
{
    pco_event_unpost(&p->c->read);
    pco_event_unpost(&p->c->write);
    pco_tls_free(p->c);             /* frees p->srv */
    pco_conn_close(p->c);           /* closes fds[0] */
    SSL_free(p->cli);
    close(p->fds[1]);
    SSL_CTX_free(p->sctx);
    SSL_CTX_free(p->cctx);
    ERR_clear_error();
}

/* Sends the chunk of the pattern stream that starts at byte `from` (byte i is (u_char) i). */
static ssize_t
pco_test_send_chunk(pco_connection_t *c, size_t from)
{
    u_char  buf[PCO_TEST_CHUNK];
    size_t  i;

    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (u_char) (from + i);
    }
    return c->io->send(c, buf, sizeof(buf));
}

/* Fills the server's send direction through c->io until PCO_AGAIN; returns the bytes sent. */
static size_t
pco_test_fill(pco_connection_t *c)
{
    size_t   total = 0;
    ssize_t  n;
    int      rounds;

    for (rounds = 0; rounds < 10000; rounds++) {
        n = pco_test_send_chunk(c, total);
        if (n == PCO_AGAIN) {
            return total;
        }
        assert_true(n > 0);
        total += (size_t) n;
    }
    fail_msg("the send direction never filled");
    return 0;
}

/* Reads on the client until WANT_READ, checking the pattern; returns the bytes read. */
static size_t
pco_test_drain(SSL *cli, size_t from)
{
    u_char  buf[PCO_TEST_CHUNK];
    size_t  total = 0;
    int     n, i;

    for ( ;; ) {
        n = SSL_read(cli, buf, sizeof(buf));
        if (n <= 0) {
            assert_int_equal(SSL_get_error(cli, n), SSL_ERROR_WANT_READ);
            return total;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] != (u_char) (from + total + (size_t) i)) {
                fail_msg("byte %zu of the stream differs", from + total + (size_t) i);
            }
        }
        total += (size_t) n;
    }
}

/* Fills the server's send direction with raw bytes written to the socket (at a record
 * boundary, no TLS write pending; the client removes exactly these bytes again with
 * pco_test_unfill). A direction filled by SSL_write itself would leave a partly written
 * record in OpenSSL, behind which it refuses any handshake write (SSL_R_BAD_LENGTH, see
 * openssl#8677). Returns the count. */
static size_t
pco_test_fill_raw(int fd)
{
    static u_char  junk[16384];
    size_t         total = 0;
    ssize_t        n;

    memset(junk, 'J', sizeof(junk));
    for ( ;; ) {
        n = send(fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            return total;
        }
        total += (size_t) n;
    }
}

static void
pco_test_unfill(int fd, size_t total)
{
    u_char   buf[4096];
    size_t   got = 0, i;
    ssize_t  n;

    while (got < total) {
        n = recv(fd, buf, pco_min(sizeof(buf), total - got), MSG_DONTWAIT);
        assert_true(n > 0);
        for (i = 0; i < (size_t) n; i++) {
            assert_int_equal(buf[i], 'J');
        }
        got += (size_t) n;
    }
}

/* TLS 1.2, the server's send direction full, the client starts a renegotiation: the server's
 * recv must park on the write event. Returns with the filler drained by the client. */
static void
pco_test_cross_setup(pco_test_pair_t *p, int read_ahead)
{
    u_char   buf[64];
    size_t   filled;
    ssize_t  n;
    int      k, quiet[2];

    pco_test_pair(p, read_ahead, TLS1_2_VERSION);
    filled = pco_test_fill_raw(p->fds[0]);
    assert_true(filled > 0);
    p->c->write.ready = 0;          /* as a send would have left it */

    /* the client must not read the filler: an empty socket stands in until it is drained */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, quiet), 0);
    assert_int_equal(fcntl(quiet[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(SSL_set_rfd(p->cli, quiet[0]), 1);
    assert_int_equal(SSL_renegotiate(p->cli), 1);
    k = SSL_do_handshake(p->cli);
    assert_int_equal(SSL_get_error(p->cli, k), SSL_ERROR_WANT_READ);

    n = p->c->io->recv(p->c, buf, sizeof(buf));
    assert_int_equal(n, PCO_AGAIN);
    /* parked on the write event: no read event would ever come for it */
    assert_int_equal(p->c->write.ready, 0);
    assert_int_equal(p->c->read.ready, 0);
    assert_non_null(p->c->write.handler);
    assert_ptr_not_equal(p->c->write.handler, pco_test_write_handler);
    assert_ptr_equal(p->c->read.handler, pco_test_read_handler);

    /* the client makes room */
    pco_test_unfill(p->fds[1], filled);
    assert_int_equal(SSL_set_rfd(p->cli, p->fds[1]), 1);
    close(quiet[0]);
    close(quiet[1]);
}

/* The client's SSL_read until WANT_READ; application bytes are appended to out. */
static void
pco_test_client_read(pco_test_pair_t *p, u_char *out, size_t *len, size_t size)
{
    int  k;

    for ( ;; ) {
        k = SSL_read(p->cli, out + *len, (int) (size - *len));
        if (k <= 0) {
            assert_int_equal(SSL_get_error(p->cli, k), SSL_ERROR_WANT_READ);
            return;
        }
        *len += (size_t) k;
    }
}

/* Runs the rest of the renegotiation (the client's SSL_read, the server's read events), then
 * the client's message must reach the read handler byte for byte and the server's answer
 * the client; `expect` is what the client must have received from the server in all. */
static void
pco_test_cross_complete(pco_test_pair_t *p, const char *expect)
{
    u_char  got[64];
    size_t  len = 0;
    int     i;

    for (i = 0; i < 20 && SSL_renegotiate_pending(p->cli); i++) {
        pco_test_client_read(p, got, &len, sizeof(got));
        p->c->read.ready = 1;
        p->c->read.handler(&p->c->read);
    }
    assert_int_equal(SSL_renegotiate_pending(p->cli), 0);
    assert_int_equal(pco_test_got_len, 0);
    assert_int_equal(SSL_write(p->cli, PCO_TEST_MSG, sizeof(PCO_TEST_MSG) - 1),
                     (int) sizeof(PCO_TEST_MSG) - 1);
    p->c->read.ready = 1;
    p->c->read.handler(&p->c->read);
    assert_int_equal(pco_test_got_len, sizeof(PCO_TEST_MSG) - 1);
    assert_memory_equal(pco_test_got, PCO_TEST_MSG, sizeof(PCO_TEST_MSG) - 1);
    assert_int_equal(pco_test_last_rc, PCO_AGAIN);
    assert_int_equal(p->c->io->send(p->c, (const u_char *) "bye", 3), 3);
    pco_test_client_read(p, got, &len, sizeof(got));
    assert_int_equal(len, strlen(expect));
    assert_memory_equal(got, expect, len);
}

static void
pco_test_read_wants_write(int read_ahead)
{
    pco_test_pair_t  p;

    pco_test_cross_setup(&p, read_ahead);

    /* epoll's write event: the parked reader runs (SSL_read writes the ServerHello flight,
     * then waits for the client), then the write handler the hook stood for */
    p.c->write.ready = 1;
    p.c->write.handler(&p.c->write);
    assert_int_equal(pco_test_reads, 1);
    assert_int_equal(pco_test_last_rc, PCO_AGAIN);
    assert_int_equal(pco_test_writes, 1);
    assert_ptr_equal(p.c->write.handler, pco_test_write_handler);
    assert_ptr_equal(p.c->read.handler, pco_test_read_handler);
    assert_int_equal(p.c->write.ready, 1);

    pco_test_cross_complete(&p, "bye");
    pco_test_pair_free(&p);
}

static void
pco_test_cross_plain(void **state)
{
    (void) state;
    pco_test_read_wants_write(0);
}

static void
pco_test_cross_read_ahead(void **state)
{
    (void) state;
    pco_test_read_wants_write(1);
}

/* The upper layer installs its own write handler while the reader is parked: it stays (the
 * saved one is not written over it). Its SSL_write then has to read (the renegotiation goes
 * on inside it): parked on the READ event, which runs the writer, then the reader. */
static void
pco_test_cross_replaced(void **state)
{
    pco_test_pair_t  p;
    ssize_t          n;
    u_char           got[64];
    size_t           len = 0;

    (void) state;
    pco_test_cross_setup(&p, 1);
    p.c->write.handler = pco_test_other_write_handler;
    p.c->write.ready = 1;
    p.c->write.handler(&p.c->write);
    assert_int_equal(pco_test_others, 1);
    assert_int_equal(pco_test_reads, 0);

    n = p.c->io->send(p.c, (const u_char *) "x", 1);
    assert_int_equal(n, PCO_AGAIN);
    assert_int_equal(p.c->read.ready, 0);
    assert_ptr_not_equal(p.c->read.handler, pco_test_read_handler);
    assert_ptr_equal(p.c->write.handler, pco_test_other_write_handler);

    /* the client answers the flight; epoll's read event */
    pco_test_client_read(&p, got, &len, sizeof(got));
    assert_int_equal(len, 0);
    p.c->read.ready = 1;
    p.c->read.handler(&p.c->read);
    assert_int_equal(pco_test_others, 2);
    assert_int_equal(pco_test_reads, 1);
    assert_ptr_equal(p.c->read.handler, pco_test_read_handler);
    assert_ptr_equal(p.c->write.handler, pco_test_other_write_handler);

    /* the writer retries */
    n = p.c->io->send(p.c, (const u_char *) "x", 1);
    assert_int_equal(n, 1);
    pco_test_cross_complete(&p, "xbye");
    pco_test_pair_free(&p);
}

/* The parked reader retries on its own (a read event): the saved write handler is back. */
static void
pco_test_cross_retried(void **state)
{
    pco_test_pair_t  p;

    (void) state;
    pco_test_cross_setup(&p, 0);
    p.c->read.ready = 1;
    p.c->read.handler(&p.c->read);
    assert_int_equal(pco_test_reads, 1);
    assert_int_equal(pco_test_last_rc, PCO_AGAIN);
    assert_ptr_equal(p.c->write.handler, pco_test_write_handler);
    pco_test_cross_complete(&p, "bye");
    assert_int_equal(pco_test_writes, 0);
    pco_test_pair_free(&p);
}

/* The write event's timer fires while the reader is parked: the saved write handler alone
 * sees it (timedout set), the hook stays for the reader. */
static void
pco_test_cross_timeout(void **state)
{
    pco_test_pair_t  p;

    (void) state;
    pco_test_cross_setup(&p, 1);
    p.c->write.timedout = 1;
    p.c->write.handler(&p.c->write);
    assert_int_equal(pco_test_writes, 1);
    assert_int_equal(pco_test_reads, 0);
    assert_ptr_not_equal(p.c->write.handler, pco_test_write_handler);
    p.c->write.timedout = 0;

    p.c->write.ready = 1;
    p.c->write.handler(&p.c->write);
    assert_int_equal(pco_test_reads, 1);
    assert_int_equal(pco_test_writes, 2);
    assert_ptr_equal(p.c->write.handler, pco_test_write_handler);
    pco_test_cross_complete(&p, "bye");
    pco_test_pair_free(&p);
}

/* A TLS 1.3 KeyUpdate(update_requested) behind a full send direction: OpenSSL 3.0 answers it
 * with the next SSL_write, so the data comes out at once; were SSL_read to write, the write
 * event must bring it. Either way: exact bytes, and the stream intact afterwards. */
static void
pco_test_key_update(void **state)
{
    pco_test_pair_t  p;
    u_char           buf[256];
    size_t           sent, seen;
    ssize_t          n;
    int              i, k = 0;

    (void) state;
    pco_test_pair(&p, 1, TLS1_3_VERSION);
    sent = pco_test_fill(p.c);
    assert_true(sent > 0);
    assert_int_equal(SSL_key_update(p.cli, SSL_KEY_UPDATE_REQUESTED), 1);
    assert_int_equal(SSL_write(p.cli, PCO_TEST_MSG, sizeof(PCO_TEST_MSG) - 1),
                     (int) sizeof(PCO_TEST_MSG) - 1);
    n = p.c->io->recv(p.c, buf, sizeof(buf));
    seen = pco_test_drain(p.cli, 0);
    if (n == PCO_AGAIN) {
        assert_ptr_not_equal(p.c->write.handler, pco_test_write_handler);
        p.c->write.ready = 1;
        p.c->write.handler(&p.c->write);
        assert_int_equal(pco_test_reads, 1);
    } else {
        assert_int_equal(n, sizeof(PCO_TEST_MSG) - 1);
        memcpy(pco_test_got, buf, (size_t) n);
        pco_test_got_len = (size_t) n;
    }
    assert_int_equal(pco_test_got_len, sizeof(PCO_TEST_MSG) - 1);
    assert_memory_equal(pco_test_got, PCO_TEST_MSG, sizeof(PCO_TEST_MSG) - 1);

    /* the send that got PCO_AGAIN is retried with the same bytes (as every caller does),
     * the client reads everything, then our KeyUpdate goes out with the next send */
    for (i = 0; i < 1000; i++) {
        seen += pco_test_drain(p.cli, seen);
        p.c->write.ready = 1;
        n = pco_test_send_chunk(p.c, sent);
        if (n != PCO_AGAIN) {
            break;
        }
    }
    assert_true(n > 0);
    sent += (size_t) n;
    for (i = 0; i < 1000 && seen < sent; i++) {
        seen += pco_test_drain(p.cli, seen);
    }
    assert_int_equal(seen, sent);
    n = p.c->io->send(p.c, (const u_char *) "bye", 3);
    assert_int_equal(n, 3);
    assert_int_equal(SSL_get_key_update_type(p.srv), SSL_KEY_UPDATE_NONE);
    for (i = 0; i < 10; i++) {
        k = SSL_read(p.cli, buf, sizeof(buf));
        if (k > 0) {
            break;
        }
    }
    assert_int_equal(k, 3);
    assert_memory_equal(buf, "bye", 3);
    assert_int_equal(SSL_write(p.cli, "ok", 2), 2);
    n = p.c->io->recv(p.c, buf, sizeof(buf));
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "ok", 2);
    pco_test_pair_free(&p);
}

/* Read-ahead: several records arrive at once, the reader takes one byte and stops; read.ready
 * must be 1 although it was 0 before the call (edge-triggered epoll will not say it again). */
static void
pco_test_pending_keeps_ready(void **state)
{
    pco_test_pair_t  p;
    u_char           buf[8];
    ssize_t          n;
    int              i;

    (void) state;
    pco_test_pair(&p, 1, TLS1_3_VERSION);
    for (i = 0; i < 3; i++) {
        assert_int_equal(SSL_write(p.cli, "abc", 3), 3);
    }
    p.c->read.ready = 0;
    n = p.c->io->recv(p.c, buf, 1);
    assert_int_equal(n, 1);
    assert_int_equal(buf[0], 'a');
    assert_int_equal(p.c->read.ready, 1);
    p.c->read.ready = 0;
    n = p.c->io->recv(p.c, buf, sizeof(buf));
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "bc", 2);
    assert_int_equal(p.c->read.ready, 1);
    n = p.c->io->recv(p.c, buf, sizeof(buf));
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "abc", 3);
    n = p.c->io->recv(p.c, buf, sizeof(buf));
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "abc", 3);
    n = p.c->io->recv(p.c, buf, sizeof(buf));
    assert_int_equal(n, PCO_AGAIN);
    assert_int_equal(p.c->read.ready, 0);
    pco_test_pair_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_cross_plain),
        cmocka_unit_test(pco_test_cross_read_ahead),
        cmocka_unit_test(pco_test_cross_replaced),
        cmocka_unit_test(pco_test_cross_retried),
        cmocka_unit_test(pco_test_cross_timeout),
        cmocka_unit_test(pco_test_key_update),
        cmocka_unit_test(pco_test_pending_keeps_ready),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
