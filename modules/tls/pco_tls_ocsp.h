/*
 * pco_tls_ocsp.h: OCSP stapling (`tls.ocsp_*`): what pco_tls_ocsp.c (settings checks at
 * load, the shared zone, the workers' status callback, response verification) and
 * pco_tls_ocsp_fetch.c (the "ocsp" helper process that fetches and refreshes responses)
 * share.
 */
#ifndef PCO_TLS_OCSP_H
#define PCO_TLS_OCSP_H

#include "pco_tls.h"
#include "pco_shm.h"
#include <openssl/ocsp.h>

#define PCO_TLS_OCSP_MAX      10240   /* largest response kept (DER bytes) */
#define PCO_TLS_OCSP_SKEW     300     /* s: thisUpdate may be this far in the future */
#define PCO_TLS_OCSP_TIMEOUT  10      /* s: one fetch (connect, send, receive) */
#define PCO_TLS_OCSP_RETRY    60000   /* ms: at most this long after a failed fetch */
#define PCO_TLS_OCSP_MIN      1000    /* ms: never refresh sooner than this */

/* One slot of the shared zone: the latest good response of one certificate. Written by
 * the helper and read by the workers under the zone's lock, so a reader never sees half
 * of a response. */
typedef struct {
    u_char    id[32];                 /* SHA-256 of the certificate (DER) it belongs to */
    int64_t   next_update;            /* wall-clock s; 0: the response has no nextUpdate */
    int64_t   this_update;
    int64_t   refresh;                /* when the helper plans the next fetch (s) */
    uint32_t  generation;             /* of the helper that owns the slot: an older one
                                       * still finishing a fetch after a reload must not
                                       * overwrite the newer generation's certificate */
    uint32_t  len;                    /* 0: nothing to staple */
    u_char    der[PCO_TLS_OCSP_MAX];
} pco_tls_ocsp_slot_t;

typedef struct {
    pco_shmtx_t          lock;
    uint32_t             nslots;
    pco_tls_ocsp_slot_t  slots[];
} pco_tls_ocsp_shm_t;

/* One stapled certificate of a server (an RSA and an ECDSA one are two). */
typedef struct {
    X509            *leaf;            /* referenced */
    X509            *issuer;          /* referenced; from the certificate's chain */
    STACK_OF(X509)  *chain;           /* the chain certificates, untrusted in verification */
    X509_STORE      *store;           /* the issuer as the only (partial-chain) anchor */
    OCSP_CERTID     *id;
    u_char           fp[32];          /* SHA-256 of leaf */
    char             subject[128];    /* for messages */
    const char      *url;             /* responder; NULL with ocsp_file */
    char            *host, *port, *path;
    unsigned         slot;            /* index in the shared zone (fetched responses) */
    pco_shm_zone_t  *zone;
    pco_tls_conf_t  *tcf;
    u_char          *file;            /* ocsp_file: the response (DER), NULL otherwise */
    size_t           file_len;
    int64_t          file_next;       /* its nextUpdate, 0 when none */
    pco_event_t      timer;           /* helper only */
} pco_tls_ocsp_cert_t;

struct pco_tls_ocsp_s {
    pco_tls_ocsp_cert_t  *certs;
    unsigned              n;
};

/* What a response says about one certificate. */
typedef struct {
    int      status;                  /* V_OCSP_CERTSTATUS_GOOD / _REVOKED */
    int64_t  this_update;
    int64_t  next_update;             /* 0: none */
} pco_tls_ocsp_result_t;

extern int pco_tls_ocsp_ctr_ok, pco_tls_ocsp_ctr_failed;

/* Master, conf_done: reads the ocsp_* settings of a server whose SSL_CTX has its
 * certificates loaded, finds each certificate's issuer and responder, reads and verifies
 * ocsp_file, installs the status callback. PCO_ERROR after reporting FILE:LINE. */
int pco_tls_ocsp_setup(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf, SSL_CTX *ctx,
                       const pco_conf_src_t *src);
/* Master, conf_done, after every server: numbers the slots, declares the shared zone and
 * the helper when any certificate is fetched. */
int pco_tls_ocsp_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);

/* Checks a DER response for e at time now: parsed, "successful", signed by the issuer or
 * a responder it delegated to (unless verify is false), holding e's status (good or
 * revoked), thisUpdate not ahead of now by more than PCO_TLS_OCSP_SKEW. PCO_OK; PCO_DECLINED
 * when valid but past its nextUpdate; PCO_ERROR otherwise. why gets the reason. Never
 * blocks. */
int pco_tls_ocsp_check(const pco_tls_ocsp_cert_t *e, const u_char *der, size_t len,
                       bool verify, time_t now, pco_tls_ocsp_result_t *res, char *why,
                       size_t whylen);

/* pco_tls_ocsp_fetch.c: the helper's init (after fork). */
int pco_tls_ocsp_helper_init(pco_cycle_t *cycle);
/* Pure: seconds until the next fetch after a good response at now (see docs/tls.md). */
int64_t pco_tls_ocsp_next_refresh(int64_t now, int64_t next_update, pco_msec_t refresh);

#endif
