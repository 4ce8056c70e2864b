/*
 * pco_tls_cache.c: the TLS session cache shared by every worker (`session_cache = "10m"`):
 * one shared zone per server ("pco_tls_sessions:N"), a direct-mapped table of fixed slots
 * (2 KiB each: sessions whose DER form is larger, e.g. with a big client certificate, are
 * simply not cached) indexed by a hash of the session id, under a robust process-shared
 * lock. A new session overwrites its slot; lookups check the id and the expiry. The zone is
 * kept across reloads when its size is unchanged, so sessions survive a HUP. OpenSSL's
 * internal per-process cache is disabled.
 */
#include "pco_tls.h"
#include "pco_shm.h"
#include <time.h>

#define PCO_TLS_SLOT_DATA  1984

typedef struct {
    uint32_t  id_len;
    uint32_t  len;
    int64_t   expire;
    u_char    id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    u_char    data[PCO_TLS_SLOT_DATA];
} pco_tls_slot_t;

typedef struct {
    pco_shmtx_t     lock;
    size_t          nslots;
    pco_tls_slot_t  slots[];
} pco_tls_cache_t;

static int
pco_tls_cache_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_tls_cache_t *t = zone->addr;

    zone->data = t;
    if (old_data != NULL) {
        return PCO_OK;
    }
    memset(t, 0, sizeof(*t));
    t->nslots = (zone->size - sizeof(*t)) / sizeof(pco_tls_slot_t);
    return pco_shmtx_init(&t->lock);
}

static pco_tls_cache_t *
pco_tls_cache_of(SSL *ssl)
{
    pco_tls_conf_t *tcf = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

    if (tcf == NULL || tcf->sessions == NULL || tcf->sessions->data == NULL) {
        return NULL;
    }
    return tcf->sessions->data;
}

static pco_tls_slot_t *
pco_tls_cache_slot(pco_tls_cache_t *t, const u_char *id, unsigned len)
{
    uint32_t  h = 2166136261u;
    unsigned  i;

    for (i = 0; i < len; i++) {
        h = (h ^ id[i]) * 16777619u;
    }
    return &t->slots[h % t->nslots];
}

static int
pco_tls_cache_new(SSL *ssl, SSL_SESSION *sess)
{
    pco_tls_cache_t  *t = pco_tls_cache_of(ssl);
    pco_tls_slot_t   *s;
    const u_char     *id;
    unsigned          id_len;
    u_char            buf[PCO_TLS_SLOT_DATA], *p = buf;
    int               len;

    if (t == NULL || t->nslots == 0) {
        return 0;
    }
    len = i2d_SSL_SESSION(sess, NULL);
    id = SSL_SESSION_get_id(sess, &id_len);
    if (len <= 0 || len > PCO_TLS_SLOT_DATA || id_len == 0
        || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH)
    {
        return 0;
    }
    len = i2d_SSL_SESSION(sess, &p);
    pco_shmtx_lock(&t->lock);
    s = pco_tls_cache_slot(t, id, id_len);
    s->id_len = id_len;
    memcpy(s->id, id, id_len);
    s->len = (uint32_t) len;
    memcpy(s->data, buf, (size_t) len);
    s->expire = (int64_t) SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess);
    pco_shmtx_unlock(&t->lock);
    return 0;      /* we keep no reference to sess */
}

static SSL_SESSION *
pco_tls_cache_get(SSL *ssl, const unsigned char *id, int id_len, int *copy)
{
    pco_tls_cache_t  *t = pco_tls_cache_of(ssl);
    pco_tls_slot_t   *s;
    u_char            buf[PCO_TLS_SLOT_DATA];
    const u_char     *p = buf;
    uint32_t          len = 0;

    *copy = 0;
    if (t == NULL || t->nslots == 0 || id_len <= 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return NULL;
    }
    pco_shmtx_lock(&t->lock);
    s = pco_tls_cache_slot(t, id, (unsigned) id_len);
    if (s->id_len == (uint32_t) id_len && memcmp(s->id, id, (size_t) id_len) == 0
        && s->expire > (int64_t) time(NULL))
    {
        len = s->len;
        memcpy(buf, s->data, len);
    }
    pco_shmtx_unlock(&t->lock);
    return len > 0 ? d2i_SSL_SESSION(NULL, &p, (long) len) : NULL;
}

static void
pco_tls_cache_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    pco_tls_conf_t   *tcf = SSL_CTX_get_app_data(ctx);
    pco_tls_cache_t  *t;
    pco_tls_slot_t   *s;
    const u_char     *id;
    unsigned          id_len;

    if (tcf == NULL || tcf->sessions == NULL || (t = tcf->sessions->data) == NULL
        || t->nslots == 0)
    {
        return;
    }
    id = SSL_SESSION_get_id(sess, &id_len);
    pco_shmtx_lock(&t->lock);
    s = pco_tls_cache_slot(t, id, id_len);
    if (s->id_len == id_len && memcmp(s->id, id, id_len) == 0) {
        s->id_len = 0;
    }
    pco_shmtx_unlock(&t->lock);
}

int
pco_tls_cache_enable(pco_conf_t *cf, pco_cycle_t *cycle, pco_tls_conf_t *tcf, SSL_CTX *ctx,
                     unsigned index, int64_t size)
{
    char  name[64];

    if (size < (int64_t) (sizeof(pco_tls_cache_t) + 16 * sizeof(pco_tls_slot_t))) {
        size = (int64_t) (sizeof(pco_tls_cache_t) + 16 * sizeof(pco_tls_slot_t));
    }
    snprintf(name, sizeof(name), "pco_tls_sessions:%u", index);
    tcf->sessions = pco_shm_zone_add(cf, cycle, name, (size_t) size, &pco_tls_module,
                                     pco_tls_cache_init);
    if (tcf->sessions == NULL) {
        return PCO_ERROR;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, pco_tls_cache_new);
    SSL_CTX_sess_set_get_cb(ctx, pco_tls_cache_get);
    SSL_CTX_sess_set_remove_cb(ctx, pco_tls_cache_remove);
    return PCO_OK;
}
