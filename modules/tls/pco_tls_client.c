/*
 * pco_tls_client.c: TLS to upstream servers (docs/settings.md, docs/tls.md), reached by
 * modules/upstream through pco_tls_upstream_ops (pco_upstream.h). One client SSL_CTX per
 * upstream, built at conf_done (TLS 1.2+, `ca` or the system store, optional client
 * certificate and key; freed with the generation). The non-blocking client handshake sends
 * SNI and checks the certificate against server_name (default: the host part of the server
 * address as written; an IP address is checked as an IP and sent without SNI). Sessions are
 * reused: each worker keeps the newest SSL_SESSION of each server (new-session callback,
 * which also sees TLS 1.3 tickets that arrive after the handshake) and offers it on the
 * next connection. After the handshake the connection uses pco_tls_io (pco_tls_io.c), so
 * the proxy and the health checker read and write it as any other connection.
 */
#include "pco_tls.h"
#include "pco_upstream.h"
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int pco_tls_client_init(pco_conf_t *cf, pco_cycle_t *cycle, pco_upstream_t *u,
                               const pco_conf_src_t *src);
static int pco_tls_client_handshake(pco_connection_t *c, pco_upstream_server_t *s);
static void pco_tls_client_free(pco_connection_t *c);

const pco_upstream_tls_ops_t pco_tls_upstream_ops = {
    pco_tls_client_init, pco_tls_client_handshake, pco_tls_client_free
};

static int pco_tls_client_index = -1;     /* SSL ex_data: the pco_upstream_server_t */

/* A file named by the block that cannot be read: reported as "tls.WHAT "FILE": strerror". */
static bool
pco_tls_client_unreadable(pco_conf_t *cf, const pco_conf_src_t *src, pco_upstream_t *u,
                          const char *what, const pco_str_t *file)
{
    if (access((const char *) file->data, R_OK) == 0) {
        return false;
    }
    pco_conf_error_src(cf, src, "upstream \"%s\": tls.%s \"%s\": %s",
                       (const char *) u->name.data, what, (const char *) file->data,
                       strerror(errno));
    return true;
}

/* A configured file path made absolute against the prefix (empty stays empty). */
static int
pco_tls_client_path(pco_conf_t *cf, const pco_str_t *in, pco_str_t *out)
{
    char  *full;

    *out = *in;
    if (in->len == 0) {
        return PCO_OK;
    }
    full = pco_conf_full_path(cf, (const char *) in->data);
    if (full == NULL) {
        return PCO_ERROR;
    }
    out->data = (u_char *) full;
    out->len = strlen(full);
    return PCO_OK;
}

static void
pco_tls_client_ctx_cleanup(void *data)
{
    SSL_CTX_free(data);
}

/* New session (TLS 1.2 at the handshake's end, TLS 1.3 per ticket): it becomes the server's
 * session for the next connection of this worker. Returns 1: the reference is kept. */
static int
pco_tls_client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    pco_upstream_server_t  *s = SSL_get_ex_data(ssl, pco_tls_client_index);

    if (s == NULL || !SSL_SESSION_is_resumable(sess)) {
        return 0;
    }
    if (s->tls_session != NULL) {
        SSL_SESSION_free(s->tls_session);
    }
    s->tls_session = sess;
    return 1;
}

static int
pco_tls_client_init(pco_conf_t *cf, pco_cycle_t *cycle, pco_upstream_t *u,
                    const pco_conf_src_t *src)
{
    const pco_upstream_tls_conf_t  *t = u->tls;
    SSL_CTX                        *ctx;
    pco_str_t                       ca, certificate, key;
    int                             rc = PCO_OK;

    /* relative paths are relative to the prefix, as for every other file portico reads */
    if (pco_tls_client_path(cf, &t->ca, &ca) != PCO_OK
        || pco_tls_client_path(cf, &t->certificate, &certificate) != PCO_OK
        || pco_tls_client_path(cf, &t->key, &key) != PCO_OK)
    {
        return PCO_ERROR;
    }

    if (pco_tls_client_index == -1) {
        pco_tls_client_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || pco_pool_cleanup_add(cycle->pool, pco_tls_client_ctx_cleanup, ctx)
                       != PCO_OK)
    {
        SSL_CTX_free(ctx);
        pco_conf_error_src(cf, src, "upstream tls: SSL_CTX_new: %s", pco_tls_errstr());
        return PCO_ERROR;
    }
    u->tls_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    /* No read-ahead here (the server contexts have it): a pooled connection is checked with
     * recv(MSG_PEEK) on the socket and watched by epoll while idle (pco_proxy_pool.c). With
     * read-ahead, a close_notify or stray bytes that came in the same read() as the end of a
     * response would sit inside OpenSSL, invisible to both, and the next request would be
     * sent on a connection the backend has closed (or read stray bytes as its response). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, pco_tls_client_new_session);
    if (t->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (ca.len > 0) {
            if (pco_tls_client_unreadable(cf, src, u, "ca", &ca)) {
                rc = PCO_ERROR;
            } else if (SSL_CTX_load_verify_locations(ctx, (const char *) ca.data, NULL) != 1) {
                pco_conf_error_src(cf, src, "upstream \"%s\": tls.ca \"%s\": %s",
                                   (const char *) u->name.data, (const char *) ca.data,
                                   pco_tls_errstr());
                rc = PCO_ERROR;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            pco_conf_error_src(cf, src, "upstream \"%s\": the system CA store: %s",
                               (const char *) u->name.data, pco_tls_errstr());
            rc = PCO_ERROR;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if ((certificate.len > 0) != (key.len > 0)) {
        pco_conf_error_src(cf, src, "upstream \"%s\": tls.certificate and tls.key go together",
                           (const char *) u->name.data);
        return PCO_ERROR;
    }
    if (certificate.len > 0) {
        if (pco_tls_client_unreadable(cf, src, u, "certificate", &certificate)
            || pco_tls_client_unreadable(cf, src, u, "key", &key))
        {
            return PCO_ERROR;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, (const char *) certificate.data) != 1) {
            pco_conf_error_src(cf, src, "upstream \"%s\": tls.certificate \"%s\": %s",
                               (const char *) u->name.data, (const char *) certificate.data,
                               pco_tls_errstr());
            return PCO_ERROR;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, (const char *) key.data, SSL_FILETYPE_PEM)
            != 1)
        {
            pco_conf_error_src(cf, src, "upstream \"%s\": tls.key \"%s\": %s",
                               (const char *) u->name.data, (const char *) key.data,
                               pco_tls_errstr());
            return PCO_ERROR;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            pco_conf_error_src(cf, src, "upstream \"%s\": tls.key does not match "
                               "tls.certificate: %s", (const char *) u->name.data,
                               pco_tls_errstr());
            return PCO_ERROR;
        }
    }
    return rc;
}

/* The name to check and send: server_name, else the host of the address as written
 * ("backend.test:443" -> "backend.test", "[::1]:443" -> "::1"). */
static void
pco_tls_client_name(pco_upstream_server_t *s, char *buf, size_t size)
{
    const pco_upstream_tls_conf_t  *t = s->upstream->tls;
    const char                     *a, *end;
    size_t                          n;

    if (t->server_name.len > 0) {
        snprintf(buf, size, "%s", (const char *) t->server_name.data);
        return;
    }
    a = (const char *) s->configured.data;
    n = s->configured.len;
    if (n > 0 && a[0] == '[') {
        end = memchr(a, ']', n);
        a++;
    } else {
        end = memchr(a, ':', n);
    }
    if (end == NULL) {
        end = (const char *) s->configured.data + n;
    }
    n = pco_min((size_t) (end - a), size - 1);
    memcpy(buf, a, n);
    buf[n] = '\0';
}

/* Creates c->tls for s: SNI, the name check, the kept session. PCO_OK or PCO_ERROR. */
static int
pco_tls_client_create(pco_connection_t *c, pco_upstream_server_t *s)
{
    pco_upstream_t  *u = s->upstream;
    SSL             *ssl;
    char             name[256];
    u_char           ip[16];
    bool             is_ip;

    ssl = SSL_new(u->tls_ctx);
    if (ssl == NULL) {
        return PCO_ERROR;
    }
    if (SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        return PCO_ERROR;
    }
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, c);
    SSL_set_ex_data(ssl, pco_tls_client_index, s);
    c->tls = ssl;
    pco_tls_client_name(s, name, sizeof(name));
    is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (!is_ip && name[0] != '\0' && SSL_set_tlsext_host_name(ssl, name) != 1) {
        return PCO_ERROR;
    }
    if (u->tls->verify && name[0] != '\0') {
        if (is_ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1) {
                return PCO_ERROR;
            }
        } else if (SSL_set1_host(ssl, name) != 1) {
            return PCO_ERROR;
        }
    }
    if (s->tls_session != NULL && SSL_set_session(ssl, s->tls_session) != 1) {
        ERR_clear_error();
    }
    return PCO_OK;
}

static void
pco_tls_client_fail(pco_connection_t *c, pco_upstream_server_t *s, int err)
{
    SSL         *ssl = c->tls;
    long         vr = X509_V_OK;
    const char  *why;

    if (ssl != NULL) {
        SSL_set_quiet_shutdown(ssl, 1);
        vr = SSL_get_verify_result(ssl);
    }
    if (vr != X509_V_OK) {
        why = X509_verify_cert_error_string(vr);
        ERR_clear_error();
    } else if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        why = "connection closed by the peer";
    } else {
        why = pco_tls_errstr();
    }
    c->error = 1;
    pco_log_err(PCO_LOG_ERR, c->log, 0, "TLS handshake with upstream %.*s of \"%.*s\" failed: "
                "%s", (int) s->name.len, (const char *) s->name.data,
                (int) s->upstream->name.len, (const char *) s->upstream->name.data, why);
}

static int
pco_tls_client_handshake(pco_connection_t *c, pco_upstream_server_t *s)
{
    SSL  *ssl;
    int   n, err;

    if (c->tls == NULL && pco_tls_client_create(c, s) != PCO_OK) {
        pco_tls_client_fail(c, s, SSL_ERROR_SSL);
        return PCO_ERROR;
    }
    ssl = c->tls;
    ERR_clear_error();
    n = SSL_do_handshake(ssl);
    if (n == 1) {
        c->io = &pco_tls_io;
        return PCO_OK;
    }
    err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_READ) {
        c->read.ready = 0;
        return PCO_AGAIN;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c->write.ready = 0;
        return PCO_AGAIN;
    }
    pco_tls_client_fail(c, s, err);
    return PCO_ERROR;
}

static void
pco_tls_client_free(pco_connection_t *c)
{
    if (c->tls != NULL) {
        pco_tls_free(c);
    }
}
