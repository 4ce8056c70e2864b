/*
 * pco_tls.c: the tls module: the `tls` group of http/server scopes (certificate, key,
 * protocols, ciphers, ciphersuites, session_cache, session_tickets, client_ca,
 * verify_client, reject_unknown_names; ocsp_* in pco_tls_ocsp.c), one SSL_CTX per server
 * with a `tls = true` listener built at conf_done (so `-t` checks that files load, that
 * keys match certificates and warns about certificates that expire within 30 days), SNI
 * selection of the server's context with the http module's own host lookup (an unknown
 * name refused when the default server says reject_unknown_names), ALPN (http/1.1), the
 * REWRITE-phase check (421 when Host selects a server with other client-certificate or
 * protocol requirements than the SNI server, 400 when verify_client = "on" and no valid
 * certificate was sent), the $scheme / $ssl_* variables and the handshake counters
 * (pco_tls_stats.c).
 * Contexts live as long as their generation (freed by a cycle pool cleanup), so a reload
 * re-reads every certificate and a bad one fails only that reload.
 */
#include "pco_tls.h"
#include "pco_tls_ocsp.h"
#include "pco_http_conn.h"
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

#define PCO_TLS_DEFAULT_CIPHERS  "ECDHE+AESGCM:ECDHE+CHACHA20"
#define PCO_TLS_EXPIRY_WARN      (30 * 86400)

static int pco_tls_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_tls_check(pco_http_request_t *r);

static const char *const pco_tls_verify_values[] = { "off", "optional", "on", NULL };

#define PCO_TO(f)  offsetof(pco_tls_opts_t, f)
#define PCO_TLS_SRC(tcf, f)  PCO_CONF_SRC(tcf, pco_tls_conf_t, tls.f)   /* for errors */

static const pco_setting_t pco_tls_members[] = {
    { .name = "certificate", .type = PCO_CONF_STRLIST, .offset = PCO_TO(certificate),
      .help = "PEM certificate chain file(s), leaf first; one per key (RSA and ECDSA)" },
    { .name = "key", .type = PCO_CONF_STRLIST, .offset = PCO_TO(key),
      .help = "PEM private key file(s), in the order of `certificate`" },
    { .name = "protocols", .type = PCO_CONF_STRLIST, .offset = PCO_TO(protocols),
      .def = "[\"TLSv1.2\", \"TLSv1.3\"]",
      .help = "enabled versions: TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" },
    { .name = "ciphers", .type = PCO_CONF_STRING, .offset = PCO_TO(ciphers),
      .def = "\"" PCO_TLS_DEFAULT_CIPHERS "\"",
      .help = "OpenSSL cipher list for TLS 1.2 and below (server preference)" },
    { .name = "ciphersuites", .type = PCO_CONF_STRING, .offset = PCO_TO(ciphersuites),
      .def = "\"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\"",
      .help = "TLS 1.3 cipher suites" },
    { .name = "session_cache", .type = PCO_CONF_STRING, .offset = PCO_TO(session_cache),
      .def = "\"10m\"",
      .help = "session cache size (64k..64g, shared by the workers), or \"off\"" },
    { .name = "session_tickets", .type = PCO_CONF_BOOL, .offset = PCO_TO(session_tickets),
      .def = "true", .help = "stateless session resumption with tickets" },
    { .name = "session_timeout", .type = PCO_CONF_DURATION,
      .offset = PCO_TO(session_timeout), .def = "\"1h\"", .min = 60000,
      .max = 7 * 86400 * 1000LL,
      .help = "session lifetime, and the rotation period of the shared ticket keys" },
    { .name = "client_ca", .type = PCO_CONF_STRING, .offset = PCO_TO(client_ca),
      .help = "PEM file of CAs that client certificates are verified against" },
    { .name = "verify_client", .type = PCO_CONF_ENUM, .offset = PCO_TO(verify_client),
      .values = pco_tls_verify_values, .def = "\"off\"",
      .help = "client certificates: on (400 without a valid one), optional, off" },
    { .name = "reject_unknown_names", .type = PCO_CONF_BOOL,
      .offset = PCO_TO(reject_unknown_names), .def = "false",
      .help = "on a listener's default server: refuse the handshake (alert "
              "unrecognized_name) when the SNI name matches no server of the listener" },
    { .name = "ocsp_stapling", .type = PCO_CONF_BOOL, .offset = PCO_TO(ocsp_stapling),
      .def = "false", .help = "staple an OCSP response fetched by the \"ocsp\" helper" },
    { .name = "ocsp_responder", .type = PCO_CONF_STRING, .offset = PCO_TO(ocsp_responder),
      .help = "http:// URL of the OCSP responder, instead of the certificate's AIA one" },
    { .name = "ocsp_file", .type = PCO_CONF_STRING, .offset = PCO_TO(ocsp_file),
      .help = "DER OCSP response file stapled instead of fetching (re-read on reload)" },
    { .name = "ocsp_verify", .type = PCO_CONF_BOOL, .offset = PCO_TO(ocsp_verify),
      .def = "true", .help = "check the response's signature against the issuer" },
    { .name = "ocsp_refresh", .type = PCO_CONF_DURATION, .offset = PCO_TO(ocsp_refresh),
      .def = "\"1h\"", .min = 1000, .max = 7 * 86400 * 1000LL,
      .help = "longest time between two fetches (sooner: half-way to nextUpdate)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_tls_settings[] = {
    { .name = "tls", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_tls_conf_t, tls), .sub = pco_tls_members,
      .help = "TLS for the server's `tls = true` listeners: { certificate; key; protocols; "
              "ciphers; ciphersuites; session_cache; session_tickets; client_ca; "
              "verify_client; reject_unknown_names; ocsp_stapling; ocsp_responder; "
              "ocsp_file; ocsp_verify; ocsp_refresh; }" },
    PCO_SETTINGS_END
};

static pcre2_match_data *pco_tls_md;     /* per worker, for the SNI lookup */

unsigned
pco_tls_protocol_bit(const char *name)
{
    static const char *const  names[] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" };
    unsigned                  i;

    for (i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

const char *
pco_tls_errstr(void)
{
    static char    buf[256];
    unsigned long  e = ERR_peek_last_error();

    if (e == 0) {
        ERR_clear_error();
        return "unknown error";
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

static void
pco_tls_ctx_cleanup(void *data)
{
    SSL_CTX_free(data);
}

/* Pure: the host_name of a server_name extension body (RFC 6066), or 0 (*name unset). */
size_t
pco_tls_sni_parse(const u_char *p, size_t len, const u_char **name)
{
    size_t  list, n;

    if (len < 5) {
        return 0;
    }
    list = ((size_t) p[0] << 8) | p[1];
    if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name) {
        return 0;
    }
    n = ((size_t) p[3] << 8) | p[4];
    if (n == 0 || n + 5 > len || memchr(p + 5, '\0', n) != NULL) {
        return 0;
    }
    *name = p + 5;
    return n;
}

/* ClientHello (before the version is chosen): the server the SNI name selects with the
 * same lookup as Host, or the listener's default; its context, protocols and verification
 * replace the default server's. */
static int
pco_tls_client_hello(SSL *ssl, int *alert, void *arg)
{
    pco_connection_t   *c = SSL_get_app_data(ssl);
    const u_char       *ext, *name;
    size_t              extlen;
    pco_http_server_t  *s;
    pco_tls_conf_t     *tcf;
    u_char              low[256];
    pco_str_t           host;
    size_t              i, len;
    SSL_CTX            *ctx;

    pco_unused(arg);
    if (c == NULL
        || SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &extlen) != 1)
    {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    len = pco_tls_sni_parse(ext, extlen, &name);
    if (len == 0 || len >= sizeof(low)) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    for (i = 0; i < len; i++) {
        low[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (u_char) (name[i] | 0x20) : name[i];
    }
    low[len] = '\0';
    host.data = low;
    host.len = len;
    if (pco_tls_md == NULL) {
        pco_tls_md = pcre2_match_data_create(32, NULL);
    }
    s = pco_http_listener_find_named_server(c->listening, &host, pco_tls_md);
    if (s == NULL) {
        /* the context is still the default server's: its setting decides */
        tcf = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
        if (tcf != NULL && tcf->tls.reject_unknown_names) {
            pco_tls_sni_refused = true;
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_CLIENT_HELLO_ERROR;
        }
        return SSL_CLIENT_HELLO_SUCCESS;      /* the default server's context stays */
    }
    tcf = pco_conf_get(s->node, &pco_tls_module);
    if (tcf == NULL || tcf->ctx == NULL || tcf->ctx == SSL_get_SSL_CTX(ssl)) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    ctx = tcf->ctx;
    SSL_set_SSL_CTX(ssl, ctx);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(ctx));
    SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
    SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* SNI acknowledged (the switch itself happened at ClientHello). */
static int
pco_tls_servername(SSL *ssl, int *alert, void *arg)
{
    pco_unused(ssl);
    pco_unused(alert);
    pco_unused(arg);
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: "h2" first where the listener has http2 = true, then "http/1.1"; a client that
 * offers neither gets an alert. */
static int
pco_tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
             const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char  h1[] = "\x08http/1.1";
    static const unsigned char  both[] = "\x02h2\x08http/1.1";
    pco_connection_t           *c = SSL_get_app_data(ssl);
    unsigned char              *o;
    int                         rc;

    pco_unused(arg);
    if (c != NULL && pco_http_listener_http2(c->listening)) {
        rc = SSL_select_next_proto(&o, outlen, both, sizeof(both) - 1, in, inlen);
    } else {
        rc = SSL_select_next_proto(&o, outlen, h1, sizeof(h1) - 1, in, inlen);
    }
    if (rc != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

bool
pco_tls_alpn_h2(pco_connection_t *c)
{
    const unsigned char  *p;
    unsigned int          len;

    SSL_get0_alpn_selected(c->tls, &p, &len);
    return len == 2 && p[0] == 'h' && p[1] == '2';
}

/* Verification result is checked per request ($ssl_client_verify, 400 with "on"). */
static int
pco_tls_verify_cb(int ok, X509_STORE_CTX *x)
{
    pco_unused(ok);
    pco_unused(x);
    return 1;
}

static int
pco_tls_load_pairs(pco_conf_t *cf, pco_tls_conf_t *tcf, SSL_CTX *ctx,
                   const pco_conf_src_t *src)
{
    size_t   i;
    char    *cert, *key;
    X509    *x;
    time_t   soon;
    int      rc = PCO_OK;

    if (tcf->tls.certificate.n == 0) {
        pco_conf_error_src(cf, src, "a server with a tls listener needs tls.certificate");
        return PCO_ERROR;
    }
    if (tcf->tls.key.n != tcf->tls.certificate.n) {
        pco_conf_error_src(cf, PCO_TLS_SRC(tcf, key),
                           "tls.key needs one key per certificate (%zu, %zu given)",
                           tcf->tls.certificate.n, tcf->tls.key.n);
        return PCO_ERROR;
    }
    for (i = 0; i < tcf->tls.certificate.n; i++) {
        cert = pco_conf_full_path(cf, (char *) tcf->tls.certificate.elts[i].data);
        key = pco_conf_full_path(cf, (char *) tcf->tls.key.elts[i].data);
        if (cert == NULL || key == NULL) {
            return PCO_ERROR;
        }
        if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
            pco_conf_error_src(cf, access(cert, R_OK) != 0 ? PCO_TLS_SRC(tcf, certificate)
                                                            : PCO_TLS_SRC(tcf, key),
                               "tls.%s \"%s\": %s",
                               access(cert, R_OK) != 0 ? "certificate" : "key",
                               access(cert, R_OK) != 0 ? cert : key, strerror(errno));
            rc = PCO_ERROR;
            continue;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            pco_conf_error_src(cf, PCO_TLS_SRC(tcf, certificate),
                               "tls.certificate \"%s\": %s", cert, pco_tls_errstr());
            rc = PCO_ERROR;
            continue;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            /* the message names the file only: key material is never logged */
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                pco_conf_error_src(cf, PCO_TLS_SRC(tcf, key),
                                   "tls.key \"%s\" does not match certificate "
                                   "\"%s\"", key, cert);
                rc = PCO_ERROR;
                continue;
            }
            pco_conf_error_src(cf, PCO_TLS_SRC(tcf, key), "tls.key \"%s\": cannot load (%s)", key,
                               pco_tls_errstr());
            rc = PCO_ERROR;
            continue;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            pco_conf_error_src(cf, PCO_TLS_SRC(tcf, key),
                               "tls.key \"%s\" does not match certificate \"%s\"",
                               key, cert);
            rc = PCO_ERROR;
            continue;
        }
        x = SSL_CTX_get0_certificate(ctx);
        if (x != NULL) {
            soon = time(NULL) + PCO_TLS_EXPIRY_WARN;
            if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
                pco_conf_warn_src(cf, PCO_TLS_SRC(tcf, certificate),
                                  "certificate \"%s\" has expired", cert);
            } else if (X509_cmp_time(X509_get0_notAfter(x), &soon) <= 0) {
                pco_conf_warn_src(cf, PCO_TLS_SRC(tcf, certificate),
                                  "certificate \"%s\" expires within 30 days", cert);
            }
        }
    }
    return rc;
}

static int
pco_tls_build_ctx(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf,
                  const pco_conf_src_t *src, unsigned index)
{
    static const long  noopt[4] = { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2,
                                    SSL_OP_NO_TLSv1_3 };
    static const int   vers[4] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                   TLS1_3_VERSION };
    SSL_CTX   *ctx;
    long       opts;
    int        i, lo = -1, hi = -1, rc = PCO_OK;
    char      *ca;
    static const unsigned char  sid[] = "portico";

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || pco_pool_cleanup_add(cycle->pool, pco_tls_ctx_cleanup, ctx) != PCO_OK) {
        SSL_CTX_free(ctx);
        pco_conf_error_src(cf, src, "SSL_CTX_new: %s", pco_tls_errstr());
        return PCO_ERROR;
    }
    tcf->ctx = ctx;
    SSL_CTX_set_app_data(ctx, tcf);
    opts = SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
           | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_SINGLE_ECDH_USE;
    for (i = 0; i < 4; i++) {
        if (tcf->protos & (1u << i)) {
            lo = lo < 0 ? i : lo;
            hi = i;
        } else {
            opts |= noopt[i];
        }
    }
    SSL_CTX_set_options(ctx, (uint64_t) opts);
    if (lo >= 0) {
        SSL_CTX_set_min_proto_version(ctx, vers[lo]);
        SSL_CTX_set_max_proto_version(ctx, vers[hi]);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    /* read-ahead: OpenSSL reads what the socket holds (up to its buffer) instead of a record
     * header, then its body: 3.7 read() per handshake connection instead of 9.2, 1.0 per
     * keep-alive request instead of 2.0 (strace, wrk, 2026-11-29). Records it took early are
     * reported by pco_tls_recv (read.ready stays 1 while SSL_has_pending), since epoll will
     * not report them again. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_recv_max_early_data(ctx, 0);
    if (SSL_CTX_set_cipher_list(ctx, (char *) tcf->tls.ciphers.data) != 1) {
        pco_conf_error_src(cf, PCO_TLS_SRC(tcf, ciphers),
                           "tls.ciphers \"%s\": %s", (char *) tcf->tls.ciphers.data,
                           pco_tls_errstr());
        rc = PCO_ERROR;
    } else {
        STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
        const SSL_CIPHER     *ci;

        for (i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
            ci = sk_SSL_CIPHER_value(sk, i);
            if (SSL_CIPHER_get_kx_nid(ci) != NID_kx_ecdhe
                && SSL_CIPHER_get_kx_nid(ci) != NID_kx_any)
            {
                pco_conf_warn_src(cf, PCO_TLS_SRC(tcf, ciphers),
                                  "tls.ciphers includes \"%s\" without forward "
                                  "secrecy (not ECDHE)", SSL_CIPHER_get_name(ci));
                break;
            }
        }
    }
    if (SSL_CTX_set_ciphersuites(ctx, (char *) tcf->tls.ciphersuites.data) != 1) {
        pco_conf_error_src(cf, PCO_TLS_SRC(tcf, ciphersuites), "tls.ciphersuites \"%s\": %s",
                           (char *) tcf->tls.ciphersuites.data, pco_tls_errstr());
        rc = PCO_ERROR;
    }
    if ((tcf->protos & 3) && strstr((char *) tcf->tls.ciphers.data, "@SECLEVEL=0") == NULL) {
        pco_conf_error_src(cf, PCO_TLS_SRC(tcf, protocols),
                           "tls.protocols TLSv1/TLSv1.1 need \"@SECLEVEL=0\" in "
                           "tls.ciphers");
        rc = PCO_ERROR;
    } else if (tcf->protos & 3) {
        pco_conf_warn_src(cf, PCO_TLS_SRC(tcf, protocols),
                          "tls.protocols enables TLSv1/TLSv1.1 (obsolete)");
    }
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    if (strcmp((char *) tcf->tls.session_cache.data, "off") == 0) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else {
        int64_t size;

        if (pco_parse_size((char *) tcf->tls.session_cache.data, &size) != PCO_OK) {
            pco_conf_error_src(cf, PCO_TLS_SRC(tcf, session_cache),
                               "tls.session_cache: a size or \"off\" expected");
            rc = PCO_ERROR;
        } else if (pco_conf_check_range(cf, PCO_TLS_SRC(tcf, session_cache),
                                        "tls.session_cache", PCO_CONF_SIZE, size,
                                        PCO_CONF_ZONE_MIN, PCO_CONF_ZONE_MAX) != PCO_OK)
        {
            rc = PCO_ERROR;
        } else if (pco_tls_cache_enable(cf, cycle, tcf, ctx, index, size) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    SSL_CTX_set_timeout(ctx, (long) (tcf->tls.session_timeout / 1000));
    if (!tcf->tls.session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        if (strcmp((char *) tcf->tls.session_cache.data, "off") == 0) {
            /* nothing can resume: no TLS 1.3 NewSessionTicket (OpenSSL would otherwise send
             * two stateful ones per handshake that no cache remembers) */
            SSL_CTX_set_num_tickets(ctx, 0);
        }
    } else if (pco_tls_tickets_zone(cf, cycle, tcf) != PCO_OK) {
        rc = PCO_ERROR;
    } else {
        pco_tls_tickets_enable(ctx);
    }
    SSL_CTX_set_client_hello_cb(ctx, pco_tls_client_hello, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, pco_tls_servername);
    SSL_CTX_set_alpn_select_cb(ctx, pco_tls_alpn, NULL);
    if (tcf->tls.client_ca.len > 0) {
        STACK_OF(X509_NAME) *names;

        ca = pco_conf_full_path(cf, (char *) tcf->tls.client_ca.data);
        if (ca == NULL) {
            return PCO_ERROR;
        }
        names = SSL_load_client_CA_file(ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            pco_conf_error_src(cf, PCO_TLS_SRC(tcf, client_ca),
                               "tls.client_ca \"%s\": %s", ca, pco_tls_errstr());
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            rc = PCO_ERROR;
        } else {
            SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    if (tcf->tls.verify_client != PCO_TLS_VERIFY_OFF) {
        if (tcf->tls.client_ca.len == 0) {
            pco_conf_error_src(cf, PCO_TLS_SRC(tcf, verify_client),
                               "tls.verify_client needs tls.client_ca");
            rc = PCO_ERROR;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, pco_tls_verify_cb);
        SSL_CTX_set_verify_depth(ctx, 10);
    }
    if (pco_tls_load_pairs(cf, tcf, ctx, src) != PCO_OK) {
        rc = PCO_ERROR;
    } else if (pco_tls_ocsp_setup(cf, cycle, tcf, ctx, src) != PCO_OK) {
        rc = PCO_ERROR;
    }
    return rc;
}

/* Variables. */
static int
pco_tls_var_scheme(pco_http_request_t *r, const pco_str_t *name, uintptr_t data, pco_str_t *v)
{
    pco_unused(name);
    pco_unused(data);
    if (r->connection->tls != NULL) {
        pco_str_set(v, "https");
    } else {
        pco_str_set(v, "http");
    }
    return PCO_OK;
}

/* in the order of the names registered by pco_tls_conf_done */
enum {
    PCO_TLS_V_PROTOCOL, PCO_TLS_V_CIPHER, PCO_TLS_V_S_DN, PCO_TLS_V_VERIFY,
    PCO_TLS_V_SERVER_NAME, PCO_TLS_V_REUSED
};

static int
pco_tls_var(pco_http_request_t *r, const pco_str_t *name, uintptr_t data, pco_str_t *v)
{
    SSL         *ssl = r->connection->tls;
    X509        *x;
    const char  *s;
    BIO         *bio;
    char        *p;
    long         len, res;

    pco_unused(name);
    if (ssl == NULL) {
        return PCO_DECLINED;
    }
    switch (data) {
    case PCO_TLS_V_PROTOCOL:
        s = SSL_get_version(ssl);
        break;
    case PCO_TLS_V_CIPHER:
        s = SSL_get_cipher_name(ssl);
        break;
    case PCO_TLS_V_SERVER_NAME:
        s = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);    /* NULL: no SNI */
        break;
    case PCO_TLS_V_REUSED:
        s = SSL_session_reused(ssl) ? "r" : ".";                    /* nginx's values */
        break;
    case PCO_TLS_V_S_DN:
        x = SSL_get0_peer_certificate(ssl);
        if (x == NULL) {
            return PCO_DECLINED;
        }
        bio = BIO_new(BIO_s_mem());
        if (bio == NULL) {
            return PCO_ERROR;
        }
        X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
        len = BIO_get_mem_data(bio, &p);
        v->data = pco_pnalloc(r->pool, (size_t) len + 1);
        if (v->data == NULL) {
            BIO_free(bio);
            return PCO_ERROR;
        }
        memcpy(v->data, p, (size_t) len);
        v->data[len] = '\0';
        v->len = (size_t) len;
        BIO_free(bio);
        return PCO_OK;
    default:
        if (SSL_get0_peer_certificate(ssl) == NULL) {
            pco_str_set(v, "NONE");
            return PCO_OK;
        }
        res = SSL_get_verify_result(ssl);
        if (res == X509_V_OK) {
            pco_str_set(v, "SUCCESS");
            return PCO_OK;
        }
        s = X509_verify_cert_error_string(res);
        len = (long) strlen(s);
        v->data = pco_pnalloc(r->pool, (size_t) len + 8);
        if (v->data == NULL) {
            return PCO_ERROR;
        }
        memcpy(v->data, "FAILED:", 7);
        memcpy(v->data + 7, s, (size_t) len);
        v->len = (size_t) len + 7;
        return PCO_OK;
    }
    if (s == NULL) {
        return PCO_DECLINED;
    }
    v->data = (u_char *) s;
    v->len = strlen(s);
    return PCO_OK;
}

/* REWRITE phase: 421 for a Host whose server differs from the SNI server in client
 * certificate or protocol requirements; 400 when verify_client = on and none valid. */
static int
pco_tls_check(pco_http_request_t *r)
{
    SSL             *ssl = r->connection->tls;
    pco_tls_conf_t  *sni, *hcf;

    if (ssl == NULL) {
        return PCO_DECLINED;
    }
    sni = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    hcf = pco_http_server_conf(r, &pco_tls_module);
    if (sni == NULL || hcf == NULL) {
        return PCO_DECLINED;
    }
    if (hcf != sni
        && (hcf->tls.verify_client != sni->tls.verify_client || hcf->protos != sni->protos
            || hcf->tls.client_ca.len != sni->tls.client_ca.len
            || (hcf->tls.client_ca.len > 0
                && strcmp((char *) hcf->tls.client_ca.data, (char *) sni->tls.client_ca.data)
                   != 0)))
    {
        return 421;
    }
    if (sni->tls.verify_client == PCO_TLS_VERIFY_ON
        && (SSL_get0_peer_certificate(ssl) == NULL || SSL_get_verify_result(ssl) != X509_V_OK))
    {
        r->keepalive = 0;
        return 400;
    }
    return PCO_DECLINED;
}

static int
pco_tls_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    static const char *const     vars[] = { "ssl_protocol", "ssl_cipher", "ssl_client_s_dn",
                                             "ssl_client_verify", "ssl_server_name",
                                             "ssl_session_reused" };
    static const pco_http_tls_hooks_t  hooks = { pco_tls_handshake, pco_tls_free };
    pco_http_server_t          **servers;
    pco_http_listen_info_t       li;
    pco_tls_conf_t              *tcf;
    size_t                       i, j, nservers;
    unsigned                     bit;
    int                          rc = PCO_OK;
    bool                         tls;

    if (pco_http_tls_register(cf, cycle, &pco_tls_module, &hooks) != PCO_OK) {
        return PCO_ERROR;
    }
    if (pco_http_variable_add(cf, cycle, "scheme", pco_tls_var_scheme, 0, 0) != PCO_OK) {
        return PCO_ERROR;
    }
    for (i = 0; i < pco_nelems(vars); i++) {
        if (pco_http_variable_add(cf, cycle, vars[i], pco_tls_var, i, 0) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    if (pco_http_add_handler(cf, cycle, PCO_HTTP_REWRITE_PHASE, 0, &pco_tls_module,
                             pco_tls_check) != PCO_OK)
    {
        return PCO_ERROR;
    }
    if (pco_tls_stats_conf(cf, cycle) != PCO_OK) {
        return PCO_ERROR;
    }
    nservers = pco_http_servers(cycle, &servers);
    for (i = 0; i < nservers; i++) {
        pco_conf_node_t *node = servers[i]->node;
        const pco_conf_src_t *src;

        tcf = pco_conf_get(node, &pco_tls_module);
        src = PCO_CONF_SRC(tcf, pco_tls_conf_t, tls);
        if (src == NULL) {
            src = &node->src;
        }
        tcf->protos = 0;
        for (j = 0; j < tcf->tls.protocols.n; j++) {
            bit = pco_tls_protocol_bit((char *) tcf->tls.protocols.elts[j].data);
            if (bit == 0) {
                pco_conf_error_src(cf, PCO_TLS_SRC(tcf, protocols),
                                   "tls.protocols: unknown \"%s\" (TLSv1, TLSv1.1, "
                                   "TLSv1.2, TLSv1.3)", (char *) tcf->tls.protocols.elts[j].data);
                rc = PCO_ERROR;
            }
            tcf->protos |= bit;
        }
        if (tcf->tls.protocols.n > 0 && tcf->protos == 0) {
            continue;
        }
        tls = false;
        for (j = 0; pco_http_server_listen(servers[i], j, &li); j++) {
            tls = tls || li.tls;
        }
        tcf->ocsp = NULL;
        if (tls && pco_tls_build_ctx(cf, cycle, tcf, src, (unsigned) i) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    if (rc == PCO_OK && pco_tls_ocsp_conf_done(cf, cycle) != PCO_OK) {
        rc = PCO_ERROR;
    }
    return rc;
}

/*
 * Hooks: conf_done (master, -t too): registers the TLS listener hooks in the cycle
 * (pco_http_tls_register), $scheme and $ssl_*, the REWRITE-phase check, validates the settings and builds one SSL_CTX per server that has a
 * tls listener (reading certificates and keys). PCO_OK, or PCO_ERROR after reporting every
 * problem as FILE:LINE.
 */
pco_module_t pco_tls_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "tls",
    .settings = pco_tls_settings,
    .conf_size = sizeof(pco_tls_conf_t),
    .conf_done = pco_tls_conf_done,
};
