/*
 * pco_tls_ocsp_fetch.c: the "ocsp" helper process (declared by pco_tls_ocsp_conf_done when
 * a stapling certificate is fetched). One timer per certificate; when it fires the helper
 * POSTs an OCSP request to the responder with OpenSSL's HTTP client (blocking, bounded by
 * PCO_TLS_OCSP_TIMEOUT: only this process waits, never a worker), checks the response
 * (pco_tls_ocsp_check) and writes it into the certificate's slot of the shared zone under
 * the zone's lock. A failed fetch leaves the slot alone: the last good response is
 * stapled until its nextUpdate (the workers check it), the failure is logged at warn and
 * counted, and the fetch is retried sooner. Replaced on reload with the new generation;
 * a slot still holding this certificate's response is then refreshed when it was due.
 */
#include "pco_tls_ocsp.h"
#include "pco_http_conn.h"
#include <openssl/err.h>
#include <openssl/http.h>
#include <time.h>

static uint32_t  pco_tls_ocsp_generation;    /* this helper's configuration generation */

int64_t
pco_tls_ocsp_next_refresh(int64_t now, int64_t next_update, pco_msec_t refresh)
{
    int64_t  delay = (int64_t) (refresh / 1000);

    /* half-way to nextUpdate leaves the other half for retries before it expires */
    if (next_update != 0 && (next_update - now) / 2 < delay) {
        delay = (next_update - now) / 2;
    }
    return delay < PCO_TLS_OCSP_MIN / 1000 ? PCO_TLS_OCSP_MIN / 1000 : delay;
}

/* POSTs the request for e; the response's DER bytes into buf (at most PCO_TLS_OCSP_MAX), its
 * length, or -1 with why. Blocks at most PCO_TLS_OCSP_TIMEOUT seconds. */
static long
pco_tls_ocsp_http(pco_tls_ocsp_cert_t *e, u_char *buf, char *why, size_t whylen)
{
    OCSP_REQUEST  *req;
    OCSP_CERTID   *id;
    BIO           *body = NULL, *resp = NULL;
    long           len = -1;
    int            n;

    req = OCSP_REQUEST_new();
    id = OCSP_CERTID_dup(e->id);
    if (req == NULL || id == NULL || OCSP_request_add0_id(req, id) == NULL) {
        OCSP_CERTID_free(id);
        snprintf(why, whylen, "cannot build the request");
        goto done;
    }
    body = ASN1_item_i2d_mem_bio(ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *) req);
    if (body == NULL) {
        snprintf(why, whylen, "cannot encode the request");
        goto done;
    }
    /* proxy "": straight to the responder, whatever http_proxy the master inherited */
    resp = OSSL_HTTP_transfer(NULL, e->host, e->port, e->path, 0, "", NULL, NULL, NULL, NULL,
                              NULL, 0, NULL, "application/ocsp-request", body, NULL, 1,
                              PCO_TLS_OCSP_MAX, PCO_TLS_OCSP_TIMEOUT, 0);
    if (resp == NULL) {
        snprintf(why, whylen, "%s", pco_tls_errstr());
        goto done;
    }
    len = 0;
    while (len < PCO_TLS_OCSP_MAX
           && (n = BIO_read(resp, buf + len, (int) (PCO_TLS_OCSP_MAX - len))) > 0)
    {
        len += n;
    }
done:
    ERR_clear_error();
    BIO_free(resp);
    BIO_free(body);
    OCSP_REQUEST_free(req);
    return len;
}

/* Writes a good response into e's slot. */
static void
pco_tls_ocsp_publish(pco_tls_ocsp_cert_t *e, const u_char *der, size_t len,
                     const pco_tls_ocsp_result_t *res, int64_t refresh)
{
    pco_tls_ocsp_shm_t   *z = e->zone->data;
    pco_tls_ocsp_slot_t  *s = &z->slots[e->slot];

    pco_shmtx_lock(&z->lock);
    if (s->generation > pco_tls_ocsp_generation) {
        pco_shmtx_unlock(&z->lock);
        return;
    }
    memcpy(s->id, e->fp, sizeof(s->id));
    memcpy(s->der, der, len);
    s->len = (uint32_t) len;
    s->this_update = res->this_update;
    s->next_update = res->next_update;
    s->refresh = refresh;
    pco_shmtx_unlock(&z->lock);
}

/* How long the slot's response of e stays stapleable (s), 0 when none or expired. */
static int64_t
pco_tls_ocsp_left(pco_tls_ocsp_cert_t *e, int64_t now)
{
    pco_tls_ocsp_shm_t   *z = e->zone->data;
    pco_tls_ocsp_slot_t  *s = &z->slots[e->slot];
    int64_t               left = 0;

    pco_shmtx_lock(&z->lock);
    if (s->len > 0 && memcmp(s->id, e->fp, sizeof(e->fp)) == 0) {
        left = s->next_update == 0 ? INT64_MAX : pco_max(s->next_update - now, 0);
    }
    pco_shmtx_unlock(&z->lock);
    return left;
}

/* The timer of one certificate: fetch, check, publish, arm the next one. */
static void
pco_tls_ocsp_fetch(pco_event_t *ev)
{
    static u_char           buf[PCO_TLS_OCSP_MAX];
    pco_tls_ocsp_cert_t    *e = ev->data;
    pco_tls_ocsp_result_t   res;
    char                    why[320];
    int64_t                 now, delay, left;
    long                    len;
    int                     rc = PCO_ERROR;

    len = pco_tls_ocsp_http(e, buf, why, sizeof(why));
    now = (int64_t) time(NULL);
    if (len >= 0) {
        rc = pco_tls_ocsp_check(e, buf, (size_t) len, e->tcf->tls.ocsp_verify, (time_t) now,
                                &res, why, sizeof(why));
    }
    if (rc == PCO_OK) {
        delay = pco_tls_ocsp_next_refresh(now, res.next_update, e->tcf->tls.ocsp_refresh);
        pco_tls_ocsp_publish(e, buf, (size_t) len, &res, now + delay);
        pco_counter_add(pco_tls_ocsp_ctr_ok, 1);
        pco_log_err(res.status == V_OCSP_CERTSTATUS_GOOD ? PCO_LOG_INFO : PCO_LOG_WARN,
                    pco_log, 0, "ocsp: certificate \"%s\": response from %s: %s, "
                    "nextUpdate in %llds, next fetch in %llds", e->subject, e->url,
                    OCSP_cert_status_str(res.status),
                    res.next_update ? (long long) (res.next_update - now) : -1LL,
                    (long long) delay);
        pco_event_add_timer(ev, (pco_msec_t) delay * 1000);
        return;
    }
    pco_counter_add(pco_tls_ocsp_ctr_failed, 1);
    delay = pco_min((int64_t) e->tcf->tls.ocsp_refresh, PCO_TLS_OCSP_RETRY) / 1000;
    left = pco_tls_ocsp_left(e, now);
    if (left == 0) {
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "ocsp: certificate \"%s\": fetch from %s "
                    "failed: %s; nothing stapled, retry in %llds", e->subject, e->url,
                    why, (long long) delay);
    } else {
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "ocsp: certificate \"%s\": fetch from %s "
                    "failed: %s; the last good response is stapled %s%llds, retry in %llds",
                    e->subject, e->url, why, left == INT64_MAX ? "(no nextUpdate) " : "for ",
                    left == INT64_MAX ? 0LL : (long long) left, (long long) delay);
    }
    pco_event_add_timer(ev, (pco_msec_t) delay * 1000);
}

int
pco_tls_ocsp_helper_init(pco_cycle_t *cycle)
{
    pco_http_server_t   **servers;
    pco_tls_conf_t       *tcf;
    pco_tls_ocsp_cert_t  *e;
    pco_tls_ocsp_shm_t   *z;
    size_t                i, nservers;
    unsigned              k, n = 0;
    int64_t               now = (int64_t) time(NULL), at;

    pco_tls_ocsp_generation = cycle->generation;
    nservers = pco_http_servers(cycle, &servers);
    for (i = 0; i < nservers; i++) {
        tcf = pco_conf_get(servers[i]->node, &pco_tls_module);
        for (k = 0; tcf != NULL && tcf->ocsp != NULL && k < tcf->ocsp->n; k++) {
            e = &tcf->ocsp->certs[k];
            if (e->url == NULL || e->zone == NULL || (z = e->zone->data) == NULL
                || e->slot >= z->nslots)
            {
                continue;
            }
            /* after a reload the slot may hold this certificate's response: keep its plan */
            at = 0;
            pco_shmtx_lock(&z->lock);
            z->slots[e->slot].generation = pco_tls_ocsp_generation;
            if (z->slots[e->slot].len > 0
                && memcmp(z->slots[e->slot].id, e->fp, sizeof(e->fp)) == 0)
            {
                at = pco_max(z->slots[e->slot].refresh - now, 0);
                at = pco_min(at, (int64_t) tcf->tls.ocsp_refresh / 1000);
            }
            pco_shmtx_unlock(&z->lock);
            e->timer.data = e;
            e->timer.handler = pco_tls_ocsp_fetch;
            e->timer.cancelable = 1;
            pco_event_add_timer(&e->timer, (pco_msec_t) at * 1000);
            n++;
        }
    }
    pco_log_err(PCO_LOG_INFO, pco_log, 0, "ocsp helper started (%u certificates)", n);
    return PCO_OK;
}
