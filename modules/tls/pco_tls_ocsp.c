/*
 * pco_tls_ocsp.c: OCSP stapling for the certificates of TLS servers (`tls.ocsp_stapling`).
 *
 * At load (master, conf_done, `-t` too) every certificate of a stapling server gets its
 * issuer (from its own chain file), its OCSP certificate id and its responder (the AIA URL
 * or `ocsp_responder`); `ocsp_file` is read and verified there, so a reload re-reads it.
 * Fetched responses live in the shared zone "pco_tls_ocsp" (one slot per fetched
 * certificate, written by the "ocsp" helper of pco_tls_ocsp_fetch.c under the zone's robust
 * lock); a response from `ocsp_file` lives in the generation's memory, inherited by the
 * workers. The workers' status callback copies the slot under the lock (a memcpy, never
 * blocking on I/O) and staples it while it is before its nextUpdate.
 */
#include "pco_tls_ocsp.h"
#include "pco_http_conn.h"
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define PCO_TLS_OSRC(tcf, f)  PCO_CONF_SRC(tcf, pco_tls_conf_t, tls.f)

int  pco_tls_ocsp_ctr_ok = -1, pco_tls_ocsp_ctr_failed = -1;

static void
pco_tls_ocsp_cleanup(void *data)
{
    pco_tls_ocsp_cert_t *e = data;

    OCSP_CERTID_free(e->id);
    X509_STORE_free(e->store);
    sk_X509_pop_free(e->chain, X509_free);
    X509_free(e->issuer);
    X509_free(e->leaf);
}

/* Wall-clock seconds of an ASN.1 time (its distance from the clock: no timegm needed). */
static int64_t
pco_tls_ocsp_time(const ASN1_GENERALIZEDTIME *t)
{
    int  day = 0, sec = 0;

    if (t == NULL || ASN1_TIME_diff(&day, &sec, NULL, t) != 1) {
        return 0;
    }
    return (int64_t) time(NULL) + (int64_t) day * 86400 + sec;
}

static char *
pco_tls_ocsp_strdup(pco_pool_t *pool, const char *s)
{
    pco_str_t  v;

    v.data = (u_char *) s;
    v.len = strlen(s);
    return (char *) pco_pstrdup(pool, &v);
}

int
pco_tls_ocsp_check(const pco_tls_ocsp_cert_t *e, const u_char *der, size_t len, bool verify,
                   time_t now, pco_tls_ocsp_result_t *res, char *why, size_t whylen)
{
    const u_char               *p = der;
    OCSP_RESPONSE              *resp;
    OCSP_BASICRESP             *bs = NULL;
    ASN1_GENERALIZEDTIME       *thisupd, *nextupd;
    int                         st, reason, rc = PCO_ERROR;

    resp = d2i_OCSP_RESPONSE(NULL, &p, (long) len);
    if (resp == NULL) {
        snprintf(why, whylen, "not a DER OCSP response");
        goto done;
    }
    st = OCSP_response_status(resp);
    if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(why, whylen, "response status \"%s\"", OCSP_response_status_str(st));
        goto done;
    }
    bs = OCSP_response_get1_basic(resp);
    if (bs == NULL) {
        snprintf(why, whylen, "not a basic OCSP response");
        goto done;
    }
    if (verify && OCSP_basic_verify(bs, e->chain, e->store, 0) != 1) {
        snprintf(why, whylen, "signature not verified against the issuer: %s",
                 pco_tls_errstr());
        goto done;
    }
    if (OCSP_resp_find_status(bs, e->id, &st, &reason, NULL, &thisupd, &nextupd) != 1) {
        snprintf(why, whylen, "no status for this certificate in the response");
        goto done;
    }
    if (st != V_OCSP_CERTSTATUS_GOOD && st != V_OCSP_CERTSTATUS_REVOKED) {
        snprintf(why, whylen, "certificate status \"%s\"", OCSP_cert_status_str(st));
        goto done;
    }
    res->status = st;
    res->this_update = pco_tls_ocsp_time(thisupd);
    res->next_update = nextupd != NULL ? pco_tls_ocsp_time(nextupd) : 0;
    if (res->this_update == 0 || (nextupd != NULL && res->next_update == 0)) {
        snprintf(why, whylen, "unreadable thisUpdate or nextUpdate");
        goto done;
    }
    if (res->this_update > (int64_t) now + PCO_TLS_OCSP_SKEW) {
        snprintf(why, whylen, "thisUpdate is %lld s in the future",
                 (long long) (res->this_update - now));
        goto done;
    }
    if (res->next_update != 0 && res->next_update < res->this_update) {
        snprintf(why, whylen, "nextUpdate is before thisUpdate");
        goto done;
    }
    /* no grace after nextUpdate: a client checks it too and would reject the response */
    if (res->next_update != 0 && res->next_update <= (int64_t) now) {
        snprintf(why, whylen, "expired %lld s ago (nextUpdate)",
                 (long long) (now - res->next_update));
        rc = PCO_DECLINED;
        goto done;
    }
    rc = PCO_OK;
done:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return rc;
}

/* ---- the workers' status callback ---- */

static int
pco_tls_ocsp_staple(SSL *ssl, void *arg)
{
    pco_tls_conf_t       *tcf = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    X509                 *x = SSL_get_certificate(ssl);
    pco_tls_ocsp_cert_t  *e = NULL;
    pco_tls_ocsp_shm_t   *z;
    pco_tls_ocsp_slot_t  *s;
    u_char               *copy = NULL;
    size_t                len = 0;
    int64_t               now = (int64_t) time(NULL);
    unsigned              i;

    pco_unused(arg);
    for (i = 0; tcf != NULL && tcf->ocsp != NULL && i < tcf->ocsp->n; i++) {
        if (tcf->ocsp->certs[i].leaf == x) {
            e = &tcf->ocsp->certs[i];
            break;
        }
    }
    if (e == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (e->file != NULL) {
        if (e->file_next == 0 || e->file_next > now) {
            copy = OPENSSL_memdup(e->file, e->file_len);
            len = e->file_len;
        }
    } else if (e->zone != NULL && (z = e->zone->data) != NULL && e->slot < z->nslots) {
        s = &z->slots[e->slot];
        pco_shmtx_lock(&z->lock);
        if (s->len > 0 && memcmp(s->id, e->fp, sizeof(e->fp)) == 0
            && (s->next_update == 0 || s->next_update > now))
        {
            copy = OPENSSL_memdup(s->der, s->len);
            len = s->len;
        }
        pco_shmtx_unlock(&z->lock);
    }
    if (copy == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long) len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ---- load ---- */

/* ocsp_file, read whole (at most PCO_TLS_OCSP_MAX bytes) into the cycle pool. */
static u_char *
pco_tls_ocsp_read(pco_conf_t *cf, const char *path, size_t *len, char *why, size_t whylen)
{
    u_char   *buf;
    ssize_t   n;
    int       fd;

    buf = pco_palloc(cf->pool, PCO_TLS_OCSP_MAX + 1);
    if (buf == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    *len = 0;
    do {
        n = read(fd, buf + *len, PCO_TLS_OCSP_MAX + 1 - *len);
        *len += n > 0 ? (size_t) n : 0;
    } while (n > 0 && *len <= PCO_TLS_OCSP_MAX);
    if (n < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
    }
    close(fd);
    if (n < 0) {
        return NULL;
    }
    if (*len > PCO_TLS_OCSP_MAX) {
        snprintf(why, whylen, "larger than %d bytes", PCO_TLS_OCSP_MAX);
        return NULL;
    }
    return buf;
}

/* The issuer of leaf among its chain certificates, referenced, or NULL. */
static X509 *
pco_tls_ocsp_issuer(X509 *leaf, STACK_OF(X509) *chain)
{
    int   i;
    X509 *x;

    for (i = 0; i < sk_X509_num(chain); i++) {
        x = sk_X509_value(chain, i);
        if (X509_check_issued(x, leaf) == X509_V_OK) {
            X509_up_ref(x);
            return x;
        }
    }
    return NULL;
}

/* The responder of e: ocsp_responder, or the first OCSP URL of the certificate's AIA. */
static int
pco_tls_ocsp_responder(pco_conf_t *cf, pco_tls_conf_t *tcf, pco_tls_ocsp_cert_t *e,
                       const pco_conf_src_t *src)
{
    STACK_OF(OPENSSL_STRING)  *aia = NULL;
    const char                *url;
    char                      *host = NULL, *port = NULL, *path = NULL;
    int                        ssl = 0, rc = PCO_ERROR;

    if (tcf->tls.ocsp_responder.len > 0) {
        url = (char *) tcf->tls.ocsp_responder.data;
        src = PCO_TLS_OSRC(tcf, ocsp_responder);
    } else {
        aia = X509_get1_ocsp(e->leaf);
        url = sk_OPENSSL_STRING_num(aia) > 0 ? sk_OPENSSL_STRING_value(aia, 0) : NULL;
        if (url == NULL) {
            pco_conf_error_src(cf, PCO_TLS_OSRC(tcf, ocsp_stapling),
                               "tls.ocsp_stapling: certificate \"%s\" names no OCSP responder "
                               "(no AIA OCSP URL): set tls.ocsp_responder or tls.ocsp_file",
                               e->subject);
            goto done;
        }
    }
    if (OSSL_HTTP_parse_url(url, &ssl, NULL, &host, &port, NULL, &path, NULL, NULL) != 1
        || ssl)
    {
        ERR_clear_error();
        pco_conf_error_src(cf, src, "tls.ocsp_responder \"%s\" (for certificate \"%s\"): an "
                           "http:// URL expected", url, e->subject);
        goto done;
    }
    e->url = pco_tls_ocsp_strdup(cf->pool, url);
    e->host = pco_tls_ocsp_strdup(cf->pool, host);
    e->port = pco_tls_ocsp_strdup(cf->pool, port);
    e->path = pco_tls_ocsp_strdup(cf->pool, path);
    rc = (e->url && e->host && e->port && e->path) ? PCO_OK : PCO_ERROR;
done:
    X509_email_free(aia);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    return rc;
}

/* Fills e for the current certificate of ctx: issuer, id, verification store, fingerprint. */
static int
pco_tls_ocsp_cert(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf, SSL_CTX *ctx,
                  pco_tls_ocsp_cert_t *e)
{
    STACK_OF(X509)  *chain = NULL;
    unsigned int     n = sizeof(e->fp);

    e->tcf = tcf;
    e->leaf = SSL_CTX_get0_certificate(ctx);
    X509_up_ref(e->leaf);
    if (pco_pool_cleanup_add(cycle->pool, pco_tls_ocsp_cleanup, e) != PCO_OK) {
        X509_free(e->leaf);
        e->leaf = NULL;
        return PCO_ERROR;
    }
    X509_NAME_oneline(X509_get_subject_name(e->leaf), e->subject, sizeof(e->subject));
    X509_digest(e->leaf, EVP_sha256(), e->fp, &n);
    SSL_CTX_get0_chain_certs(ctx, &chain);
    e->chain = X509_chain_up_ref(chain);
    if (e->chain == NULL) {
        e->chain = sk_X509_new_null();
    }
    e->issuer = pco_tls_ocsp_issuer(e->leaf, e->chain);
    if (e->issuer == NULL) {
        pco_conf_error_src(cf, PCO_TLS_OSRC(tcf, ocsp_stapling),
                           "tls.ocsp_stapling: the issuer of certificate \"%s\" is not in its "
                           "certificate file (append the issuing CA after the certificate)",
                           e->subject);
        return PCO_ERROR;
    }
    e->id = OCSP_cert_to_id(NULL, e->leaf, e->issuer);
    e->store = X509_STORE_new();
    if (e->id == NULL || e->store == NULL || X509_STORE_add_cert(e->store, e->issuer) != 1) {
        pco_conf_error_src(cf, PCO_TLS_OSRC(tcf, ocsp_stapling), "tls.ocsp_stapling: %s",
                           pco_tls_errstr());
        return PCO_ERROR;
    }
    /* the issuer is trusted as the configured chain says: it need not be a root */
    X509_STORE_set_flags(e->store, X509_V_FLAG_PARTIAL_CHAIN);
    return PCO_OK;
}

/* ocsp_file for e: an error when invalid for every certificate of the server is decided by
 * the caller; an expired response is a warning (nothing stapled). */
static int
pco_tls_ocsp_file(pco_conf_t *cf, pco_tls_conf_t *tcf, pco_tls_ocsp_cert_t *e,
                  const u_char *der, size_t len, const char *path)
{
    pco_tls_ocsp_result_t  res;
    char                   why[256];
    int                    rc;

    rc = pco_tls_ocsp_check(e, der, len, tcf->tls.ocsp_verify, time(NULL), &res, why,
                            sizeof(why));
    if (rc == PCO_ERROR) {
        return PCO_ERROR;
    }
    if (rc == PCO_DECLINED) {
        pco_conf_warn_src(cf, PCO_TLS_OSRC(tcf, ocsp_file), "tls.ocsp_file \"%s\" for "
                          "certificate \"%s\": %s: not stapled", path, e->subject, why);
        return PCO_OK;
    }
    e->file = (u_char *) der;
    e->file_len = len;
    e->file_next = res.next_update;
    return PCO_OK;
}

int
pco_tls_ocsp_setup(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf, SSL_CTX *ctx,
                   const pco_conf_src_t *src)
{
    struct pco_tls_ocsp_s  *o;
    pco_tls_ocsp_cert_t    *e;
    u_char                 *der = NULL;
    size_t                  len = 0;
    char                   *path = NULL, why[256];
    unsigned                matched = 0;
    int                     more, rc = PCO_OK;

    if (!tcf->tls.ocsp_stapling) {
        if (tcf->tls.ocsp_file.len > 0 || tcf->tls.ocsp_responder.len > 0) {
            pco_conf_error_src(cf, tcf->tls.ocsp_file.len > 0 ? PCO_TLS_OSRC(tcf, ocsp_file)
                                                             : PCO_TLS_OSRC(tcf, ocsp_responder),
                               "tls.%s needs tls.ocsp_stapling = true",
                               tcf->tls.ocsp_file.len > 0 ? "ocsp_file" : "ocsp_responder");
            return PCO_ERROR;
        }
        return PCO_OK;
    }
    if (tcf->tls.ocsp_file.len > 0) {
        path = pco_conf_full_path(cf, (char *) tcf->tls.ocsp_file.data);
        if (path == NULL) {
            return PCO_ERROR;
        }
        der = pco_tls_ocsp_read(cf, path, &len, why, sizeof(why));
        if (der == NULL) {
            pco_conf_error_src(cf, PCO_TLS_OSRC(tcf, ocsp_file), "tls.ocsp_file \"%s\": %s",
                               path, why);
            return PCO_ERROR;
        }
    }
    o = pco_pcalloc(cf->pool, sizeof(*o));
    o->certs = pco_pcalloc(cf->pool, 8 * sizeof(pco_tls_ocsp_cert_t));
    if (o == NULL || o->certs == NULL) {
        return PCO_ERROR;
    }
    tcf->ocsp = o;
    for (more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); more == 1 && o->n < 8;
         more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
    {
        e = &o->certs[o->n++];
        if (pco_tls_ocsp_cert(cf, cycle, tcf, ctx, e) != PCO_OK) {
            rc = PCO_ERROR;
        } else if (der != NULL) {
            matched += pco_tls_ocsp_file(cf, tcf, e, der, len, path) == PCO_OK;
        } else if (pco_tls_ocsp_responder(cf, tcf, e, src) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    ERR_clear_error();
    if (rc == PCO_OK && der != NULL && matched == 0) {
        /* the reason for the first certificate says the most (one certificate is usual) */
        pco_tls_ocsp_result_t  res;

        pco_tls_ocsp_check(&o->certs[0], der, len, tcf->tls.ocsp_verify, time(NULL), &res,
                           why, sizeof(why));
        pco_conf_error_src(cf, PCO_TLS_OSRC(tcf, ocsp_file), "tls.ocsp_file \"%s\": %s",
                           path, why);
        return PCO_ERROR;
    }
    SSL_CTX_set_tlsext_status_cb(ctx, pco_tls_ocsp_staple);
    return rc;
}

static int
pco_tls_ocsp_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_tls_ocsp_shm_t *z = zone->addr;

    zone->data = z;
    if (old_data != NULL) {
        return PCO_OK;            /* kept: the helper of the new generation reuses slots */
    }
    memset(z, 0, sizeof(*z));
    z->nslots = (uint32_t) ((zone->size - sizeof(*z)) / sizeof(pco_tls_ocsp_slot_t));
    return pco_shmtx_init(&z->lock);
}

int
pco_tls_ocsp_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_server_t  **servers;
    pco_tls_conf_t      *tcf;
    pco_shm_zone_t      *zone;
    size_t               i, nservers;
    unsigned             k, n = 0;

    nservers = pco_http_servers(cycle, &servers);
    for (i = 0; i < nservers; i++) {
        tcf = pco_conf_get(servers[i]->node, &pco_tls_module);
        for (k = 0; tcf != NULL && tcf->ocsp != NULL && k < tcf->ocsp->n; k++) {
            if (tcf->ocsp->certs[k].url != NULL) {
                tcf->ocsp->certs[k].slot = n++;
            }
        }
    }
    if (n == 0) {
        return PCO_OK;
    }
    zone = pco_shm_zone_add(cf, cycle, "pco_tls_ocsp",
                            sizeof(pco_tls_ocsp_shm_t) + n * sizeof(pco_tls_ocsp_slot_t),
                            &pco_tls_module, pco_tls_ocsp_zone_init);
    if (zone == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < nservers; i++) {
        tcf = pco_conf_get(servers[i]->node, &pco_tls_module);
        for (k = 0; tcf != NULL && tcf->ocsp != NULL && k < tcf->ocsp->n; k++) {
            tcf->ocsp->certs[k].zone = zone;
        }
    }
    pco_tls_ocsp_ctr_ok = pco_counter_register(cf, cycle, "tls_ocsp_fetches_ok",
                                               PCO_COUNTER_MONOTONIC);
    pco_tls_ocsp_ctr_failed = pco_counter_register(cf, cycle, "tls_ocsp_fetches_failed",
                                                   PCO_COUNTER_MONOTONIC);
    if (pco_tls_ocsp_ctr_ok < 0 || pco_tls_ocsp_ctr_failed < 0) {
        return PCO_ERROR;
    }
    return pco_helper_add(cycle, &(pco_helper_t) { .title = "ocsp",
                                                   .init = pco_tls_ocsp_helper_init });
}
