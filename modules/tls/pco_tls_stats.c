/*
 * pco_tls_stats.c: what the server side of TLS counts and logs about handshakes, per
 * listener (its address as written in `listen`).
 *
 * At conf_done every `tls = true` listener gets monotonic counters (core/pco_shm.h):
 *   tls_handshakes:ADDR   completed handshakes (resumed ones included)
 *   tls_resumed:ADDR      of which resumed a session (cache or ticket)
 *   tls_failures:REASON:ADDR, REASON one of no_shared_cipher, unknown_sni, bad_client_cert,
 *                         protocol, other (pco_tls_stats_reasons[])
 * which the status module renders by their prefixes. A worker finds a listener's counter
 * ids by name the first time it needs them and keeps them in a small per-worker table keyed
 * by the listening struct (a worker's generation never changes). An address too long for a
 * counter name is replaced by "#" and its FNV-1a hash.
 *
 * Every failed handshake is one line at [info] (the level of nginx's handshake errors):
 *   TLS handshake failed (no shared cipher), client: 127.0.0.1, server: 0.0.0.0:8443
 * The reason is OpenSSL's own text for its error, "timed out", or "peer closed connection".
 * A connection that ends (or times out) before its first byte is no handshake at all (a
 * port probe): neither counted nor logged.
 * A handshake that completed with verify_client = "on" but without a valid client
 * certificate is counted and logged as a bad_client_cert failure and not as a handshake:
 * portico only answers 400 on such a connection. Shared state: the counter slots only.
 */
#include "pco_tls.h"
#include "pco_http_conn.h"
#include "pco_cycle.h"
#include "pco_listen.h"
#include "pco_shm.h"
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>

#define PCO_TLS_STATS_CACHE  32      /* listeners whose ids a worker keeps */

enum {
    PCO_TLS_STATS_HANDSHAKES = 0,
    PCO_TLS_STATS_RESUMED,
    PCO_TLS_STATS_FAILURES          /* + reason */
};

static const char *const pco_tls_stats_reasons[PCO_TLS_FAIL_N] = {
    [PCO_TLS_FAIL_NO_SHARED_CIPHER] = "no_shared_cipher",
    [PCO_TLS_FAIL_UNKNOWN_SNI] = "unknown_sni",
    [PCO_TLS_FAIL_BAD_CLIENT_CERT] = "bad_client_cert",
    [PCO_TLS_FAIL_PROTOCOL] = "protocol",
    [PCO_TLS_FAIL_OTHER] = "other",
};

#define PCO_TLS_STATS_IDS  (PCO_TLS_STATS_FAILURES + PCO_TLS_FAIL_N)

typedef struct {
    const pco_listening_t  *ls;
    int                     ids[PCO_TLS_STATS_IDS];
} pco_tls_stats_ids_t;

static pco_tls_stats_ids_t  pco_tls_stats_cache[PCO_TLS_STATS_CACHE];    /* per worker */
static unsigned             pco_tls_stats_cached;

bool  pco_tls_sni_refused;

/* The counter name of what (an index into the ids) for the listener address addr. */
static void
pco_tls_stats_name(char *buf, size_t size, int what, const pco_str_t *addr)
{
    char        key[64];
    uint64_t    h = 0xcbf29ce484222325ull;
    size_t      i;
    const char *kind;

    if (addr->len < sizeof(key)) {
        snprintf(key, sizeof(key), "%.*s", (int) addr->len, (const char *) addr->data);
    } else {
        for (i = 0; i < addr->len; i++) {
            h = (h ^ addr->data[i]) * 0x100000001b3ull;
        }
        snprintf(key, sizeof(key), "#%016llx", (unsigned long long) h);
    }
    if (what == PCO_TLS_STATS_HANDSHAKES || what == PCO_TLS_STATS_RESUMED) {
        kind = what == PCO_TLS_STATS_HANDSHAKES ? "tls_handshakes" : "tls_resumed";
        snprintf(buf, size, "%s:%s", kind, key);
    } else {
        snprintf(buf, size, "tls_failures:%s:%s",
                 pco_tls_stats_reasons[what - PCO_TLS_STATS_FAILURES], key);
    }
}

int
pco_tls_stats_conf(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_listening_t  *ls;
    char              name[PCO_COUNTER_NAME_LEN];
    int               what;

    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (!ls->tls) {
            continue;
        }
        for (what = 0; what < PCO_TLS_STATS_IDS; what++) {
            pco_tls_stats_name(name, sizeof(name), what, &ls->addr_text);
            if (pco_counter_register(cf, cycle, name, PCO_COUNTER_MONOTONIC) < 0) {
                return PCO_ERROR;
            }
        }
    }
    return PCO_OK;
}

/* The counter ids of c's listener (found once per worker); NULL when the table is full. */
static const int *
pco_tls_stats_ids(const pco_listening_t *ls)
{
    static pco_tls_stats_ids_t  spare;
    pco_tls_stats_ids_t        *e;
    char                        name[PCO_COUNTER_NAME_LEN];
    unsigned                    i;
    int                         what;

    for (i = 0; i < pco_tls_stats_cached; i++) {
        if (pco_tls_stats_cache[i].ls == ls) {
            return pco_tls_stats_cache[i].ids;
        }
    }
    /* more TLS listeners than the table holds: look up every time (still correct) */
    e = pco_tls_stats_cached < PCO_TLS_STATS_CACHE
        ? &pco_tls_stats_cache[pco_tls_stats_cached++] : &spare;
    e->ls = ls;
    for (what = 0; what < PCO_TLS_STATS_IDS; what++) {
        pco_tls_stats_name(name, sizeof(name), what, &ls->addr_text);
        e->ids[what] = pco_counter_find(name);
    }
    return e->ids;
}

/* Pure: the reason of a failed handshake from OpenSSL's error (0: none in the queue). */
int
pco_tls_failure_reason(unsigned long e)
{
    if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL) {
        return e != 0 && (ERR_GET_LIB(e) == ERR_LIB_X509 || ERR_GET_LIB(e) == ERR_LIB_ASN1)
               ? PCO_TLS_FAIL_BAD_CLIENT_CERT : PCO_TLS_FAIL_OTHER;
    }
    switch (ERR_GET_REASON(e)) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        return PCO_TLS_FAIL_NO_SHARED_CIPHER;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_BAD_SIGNATURE:
    case SSL_R_UNKNOWN_CERTIFICATE_TYPE:
    case SSL_R_WRONG_CERTIFICATE_TYPE:
    case SSL_R_CERT_LENGTH_MISMATCH:
        return PCO_TLS_FAIL_BAD_CLIENT_CERT;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_BAD_EXTENSION:
    case SSL_R_BAD_RECORD_TYPE:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_INAPPROPRIATE_FALLBACK:
        return PCO_TLS_FAIL_PROTOCOL;
    default:
        return PCO_TLS_FAIL_OTHER;
    }
}

/* One [info] line: what failed, the client, the listener. */
static void
pco_tls_stats_log(pco_connection_t *c, const char *why, const char *detail)
{
    pco_str_t  client;

    if (c->log->level < PCO_LOG_INFO) {
        return;
    }
    client = pco_conn_addr_text(c);
    pco_log_error(PCO_LOG_INFO, c->log, 0, "TLS handshake failed (%s%s%s), client: %.*s, "
                  "server: %.*s", why, detail != NULL ? ": " : "", detail != NULL ? detail : "",
                  (int) client.len, (const char *) client.data,
                  (int) c->listening->addr_text.len,
                  (const char *) c->listening->addr_text.data);
}

void
pco_tls_stats_failed(pco_connection_t *c, int reason, const char *why)
{
    const int  *ids;

    if (c->listening == NULL) {
        return;
    }
    ids = pco_tls_stats_ids(c->listening);
    pco_counter_add(ids[PCO_TLS_STATS_FAILURES + reason], 1);
    pco_tls_stats_log(c, why, NULL);
}

bool
pco_tls_stats_done(pco_connection_t *c)
{
    SSL                   *ssl = c->tls;
    const pco_tls_conf_t  *tcf = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const int             *ids;
    long                   res;

    if (c->listening == NULL) {
        return true;
    }
    ids = pco_tls_stats_ids(c->listening);
    if (tcf != NULL && tcf->tls.verify_client == PCO_TLS_VERIFY_ON) {
        /* the same rule as the per-request check that answers 400 */
        res = SSL_get0_peer_certificate(ssl) == NULL ? -1 : SSL_get_verify_result(ssl);
        if (res != X509_V_OK) {
            pco_counter_add(ids[PCO_TLS_STATS_FAILURES + PCO_TLS_FAIL_BAD_CLIENT_CERT], 1);
            pco_tls_stats_log(c, "bad client certificate",
                              res == -1 ? "none sent" : X509_verify_cert_error_string(res));
            return false;
        }
    }
    pco_counter_add(ids[PCO_TLS_STATS_HANDSHAKES], 1);
    if (SSL_session_reused(ssl)) {
        pco_counter_add(ids[PCO_TLS_STATS_RESUMED], 1);
    }
    return true;
}
