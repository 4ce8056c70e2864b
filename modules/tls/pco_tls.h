/*
 * pco_tls.h: what the files of the tls module share: the per-server settings and built
 * SSL_CTX, the I/O methods over OpenSSL and the handshake entry points that modules/http
 * calls through its pco_http_tls_* hooks.
 */
#ifndef PCO_TLS_H
#define PCO_TLS_H

#include "pco_http.h"
#include <openssl/ssl.h>

enum {
    PCO_TLS_VERIFY_OFF = 0,
    PCO_TLS_VERIFY_OPTIONAL,
    PCO_TLS_VERIFY_ON
};

typedef struct {
    pco_str_list_t      certificate;
    pco_str_list_t      key;
    pco_str_list_t      protocols;
    pco_str_t           ciphers;
    pco_str_t           ciphersuites;
    pco_str_t           session_cache;
    bool                session_tickets;
    pco_msec_t          session_timeout;
    pco_str_t           client_ca;
    int                 verify_client;
    bool                ocsp_stapling;    /* pco_tls_ocsp.c */
    pco_str_t           ocsp_responder;
    pco_str_t           ocsp_file;
    bool                ocsp_verify;
    pco_msec_t          ocsp_refresh;
    bool                reject_unknown_names;
} pco_tls_opts_t;

/* The module's conf struct (http and server nodes). */
typedef struct {
    pco_tls_opts_t      tls;
    SSL_CTX            *ctx;          /* built at conf_done for servers with a tls listener */
    unsigned            protos;       /* bit per version: 1 TLSv1 .. 8 TLSv1.3 */
    pco_shm_zone_t     *tickets;      /* shared ticket-key secret (pco_tls_tickets.c) */
    pco_shm_zone_t     *sessions;     /* shared session cache (pco_tls_cache.c) */
    struct pco_tls_ocsp_s *ocsp;      /* stapled certificates (pco_tls_ocsp.c), or NULL */
    pco_conf_src_t      src;
} pco_tls_conf_t;

extern pco_module_t       pco_tls_module;
extern const pco_conn_io_t pco_tls_io;

/* Pure: "TLSv1.2" -> its bit (1, 2, 4, 8), 0 when unknown. */
unsigned pco_tls_protocol_bit(const char *name);

/* Pure: the host_name in a server_name extension body (RFC 6066): its length, 0 when
 * malformed or absent (then *name is not set). */
size_t pco_tls_sni_parse(const u_char *p, size_t len, const u_char **name);
/* The last OpenSSL error as text, in a static buffer; the error queue is cleared. */
const char *pco_tls_errstr(void);

/* pco_tls_tickets.c: declares the shared zone (conf_done), installs the key callback. */
int pco_tls_tickets_zone(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf);
void pco_tls_tickets_enable(SSL_CTX *ctx);

/* pco_tls_cache.c: declares the server's shared session cache and installs its callbacks. */
int pco_tls_cache_enable(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf, SSL_CTX *ctx,
                         unsigned index, int64_t size);

/* pco_tls_io.c */
void pco_tls_handshake(pco_connection_t *c);
void pco_tls_free(pco_connection_t *c);
/* ALPN chose "h2" on the TLS connection c. */
bool pco_tls_alpn_h2(pco_connection_t *c);

/* pco_tls_stats.c: handshake counters per listener and the failure log line. */
enum {
    PCO_TLS_FAIL_NO_SHARED_CIPHER = 0,
    PCO_TLS_FAIL_UNKNOWN_SNI,
    PCO_TLS_FAIL_BAD_CLIENT_CERT,
    PCO_TLS_FAIL_PROTOCOL,
    PCO_TLS_FAIL_OTHER,
    PCO_TLS_FAIL_N
};
/* Worker: set by the ClientHello callback when it refused an unknown SNI name (the
 * handshake then fails with a generic callback error); cleared before each attempt. */
extern bool pco_tls_sni_refused;
/* conf_done: registers the counters of every TLS listener; PCO_ERROR after reporting. */
int pco_tls_stats_conf(pco_conf_t *cf, pco_cycle_t *cycle);
/* Pure: PCO_TLS_FAIL_* of OpenSSL's error code e (0: the queue was empty). */
int pco_tls_failure_reason(unsigned long e);
/* Worker: a handshake of c failed for reason (why: the text for the log line). */
void pco_tls_stats_failed(pco_connection_t *c, int reason, const char *why);
/* Worker: the handshake of c completed; false when it is counted as refused instead
 * (verify_client = "on" without a valid client certificate). */
bool pco_tls_stats_done(pco_connection_t *c);

#endif
