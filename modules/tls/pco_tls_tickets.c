/*
 * pco_tls_tickets.c: session ticket keys shared by every worker and kept across reloads.
 * The master draws a 32-byte secret once into the shared zone "pco_tls_tickets" (a reload
 * keeps the zone, so tickets issued before it stay valid); every worker derives the keys of
 * a period as SHA-256(secret | label | period number) with period = session_timeout, so the
 * keys rotate without any coordination: tickets are issued with the current period's key and
 * accepted (then renewed) with the previous one.
 */
#include "pco_tls.h"
#include "pco_shm.h"
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <time.h>

typedef struct {
    u_char  secret[32];
} pco_tls_tickets_shm_t;

typedef struct {
    u_char  name[16];
    u_char  aes[32];
    u_char  hmac[32];
} pco_tls_ticket_key_t;

static int
pco_tls_tickets_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_tls_tickets_shm_t *t = zone->addr;

    zone->data = t;
    if (old_data != NULL) {
        return PCO_OK;          /* kept across the reload: same secret */
    }
    if (RAND_bytes(t->secret, sizeof(t->secret)) != 1) {
        pco_log_error(PCO_LOG_ALERT, pco_log, 0, "RAND_bytes failed for the ticket keys");
        return PCO_ERROR;
    }
    return PCO_OK;
}

int
pco_tls_tickets_zone(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf)
{
    tcf->tickets = pco_shm_zone_add(cf, cycle, "pco_tls_tickets",
                                    sizeof(pco_tls_tickets_shm_t) < 4096
                                    ? 4096 : sizeof(pco_tls_tickets_shm_t),
                                    &pco_tls_module, pco_tls_tickets_init);
    return tcf->tickets != NULL ? PCO_OK : PCO_ERROR;
}

static int
pco_tls_derive(const u_char *secret, u_char label, uint64_t period, u_char *out32)
{
    u_char        in[32 + 1 + 8];
    unsigned int  len = 32;
    int           i;

    memcpy(in, secret, 32);
    in[32] = label;
    for (i = 0; i < 8; i++) {
        in[33 + i] = (u_char) (period >> (56 - 8 * i));
    }
    return EVP_Digest(in, sizeof(in), out32, &len, EVP_sha256(), NULL) == 1 ? PCO_OK
                                                                          : PCO_ERROR;
}

static int
pco_tls_ticket_key(const u_char *secret, uint64_t period, pco_tls_ticket_key_t *k)
{
    u_char name[32];

    if (pco_tls_derive(secret, 'n', period, name) != PCO_OK
        || pco_tls_derive(secret, 'a', period, k->aes) != PCO_OK
        || pco_tls_derive(secret, 'h', period, k->hmac) != PCO_OK)
    {
        return PCO_ERROR;
    }
    memcpy(k->name, name, sizeof(k->name));
    return PCO_OK;
}

static int
pco_tls_ticket_mac(EVP_MAC_CTX *hctx, pco_tls_ticket_key_t *k)
{
    OSSL_PARAM  params[3];

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac,
                                                  sizeof(k->hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params);
}

/* OpenSSL's ticket callback: 1 = ok, 2 = ok but renew (older key), 0 = unknown key, -1. */
static int
pco_tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
                  EVP_MAC_CTX *hctx, int enc)
{
    pco_tls_conf_t          *tcf = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    pco_tls_tickets_shm_t   *t;
    pco_tls_ticket_key_t     k;
    uint64_t                 period, p;
    unsigned                 i;

    if (tcf == NULL || tcf->tickets == NULL || tcf->tickets->data == NULL) {
        return enc ? -1 : 0;
    }
    t = tcf->tickets->data;
    period = (uint64_t) time(NULL) / (uint64_t) pco_max(tcf->tls.session_timeout / 1000, 1);
    if (enc) {
        if (pco_tls_ticket_key(t->secret, period, &k) != PCO_OK
            || RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1
            || EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1
            || pco_tls_ticket_mac(hctx, &k) != 1)
        {
            return -1;
        }
        memcpy(name, k.name, sizeof(k.name));
        return 1;
    }
    for (i = 0; i < 2; i++) {
        p = period - i;
        if (pco_tls_ticket_key(t->secret, p, &k) != PCO_OK) {
            return -1;
        }
        if (memcmp(name, k.name, sizeof(k.name)) != 0) {
            continue;
        }
        if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1
            || pco_tls_ticket_mac(hctx, &k) != 1)
        {
            return -1;
        }
        return i == 0 ? 1 : 2;
    }
    return 0;
}

void
pco_tls_tickets_enable(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, pco_tls_ticket_cb);
}
