/*
 * pco_upstream_ip_hash.c: balance = "ip_hash": the client address picks the server, as
 * nginx does: the key (the caller passes $remote_addr as text) is parsed; an IPv4 address
 * hashes its first three octets (the /24), an IPv6 address all 16 bytes, anything else its
 * bytes. hash = (hash * 113 + byte) % 6271 over those bytes selects a weight unit; an
 * unusable or already tried server makes it hash again, up to 20 times, then the pick falls
 * back to smooth weighted round robin. `backup` servers are an error with ip_hash.
 */
#include "pco_upstream.h"
#include <arpa/inet.h>

static int pco_upstream_ip_hash_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_ip_hash_init(pco_conf_t *cf, pco_upstream_t *u);
static void pco_upstream_ip_hash_update(pco_upstream_t *u);
static pco_upstream_server_t *pco_upstream_ip_hash_pick(pco_upstream_t *u,
                                                        const pco_str_t *key,
                                                        const uint64_t *tried, bool backup);

static const pco_upstream_balancer_t pco_upstream_ip_hash_balancer = {
    .name = "ip_hash",
    .init = pco_upstream_ip_hash_init,
    .pick = pco_upstream_ip_hash_pick,
    .uses_key = true,
    .update = pco_upstream_ip_hash_update,
};

/* Hooks: conf_done (master, -t too) registers the balancer; PCO_OK or PCO_ERROR. */
pco_module_t pco_upstream_ip_hash_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "upstream_ip_hash",
    .conf_done = pco_upstream_ip_hash_conf_done,
};

static int
pco_upstream_ip_hash_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    return pco_upstream_balancer_add(cf, cycle, &pco_upstream_ip_hash_balancer);
}

static int
pco_upstream_ip_hash_init(pco_conf_t *cf, pco_upstream_t *u)
{
    if (u->nservers > u->nprimary) {
        pco_conf_error_src(cf, &u->node->src, "upstream \"%.*s\": backup servers cannot be "
                           "used with balance = \"ip_hash\"", (int) u->name.len, u->name.data);
        return PCO_ERROR;
    }
    u->balancer_data = pco_upstream_rr_create(cf->pool, u);
    return u->balancer_data == NULL ? PCO_ERROR : PCO_OK;
}

static void
pco_upstream_ip_hash_update(pco_upstream_t *u)
{
    pco_upstream_rr_reset(u->balancer_data);
}

/* A position that takes part in the weight walk: in use and of the class picked (a free
 * position counts no weight, so the walk follows the servers that exist). */
static bool
pco_upstream_ip_hash_member(const pco_upstream_server_t *s, bool backup)
{
    return !s->vacant && s->backup == backup;
}

static pco_upstream_server_t *
pco_upstream_ip_hash_pick(pco_upstream_t *u, const pco_str_t *key, const uint64_t *tried,
                          bool backup)
{
    u_char                  bytes[16], text[INET6_ADDRSTRLEN];
    const u_char           *p = bytes;
    size_t                  n = 0, i;
    uint32_t                hash = 89;
    int64_t                 total = 0, w;
    unsigned                tries, k, from, to;

    from = 0;
    to = pco_upstream_npos(u);
    for (k = from; k < to; k++) {
        if (pco_upstream_ip_hash_member(&u->servers[k], backup)) {
            total += u->servers[k].weight;
        }
    }
    if (total == 0) {
        return NULL;
    }
    if (key != NULL && key->len > 0 && key->len < sizeof(text)) {
        memcpy(text, key->data, key->len);
        text[key->len] = '\0';
        if (inet_pton(AF_INET, (const char *) text, bytes) == 1) {
            n = 3;
        } else if (inet_pton(AF_INET6, (const char *) text, bytes) == 1) {
            n = 16;
        }
    }
    if (n == 0 && key != NULL) {
        p = key->data;
        n = key->len;
    }
    for (tries = 0; tries < 20; tries++) {
        for (i = 0; i < n; i++) {
            hash = (hash * 113 + p[i]) % 6271;
        }
        if (n == 0) {
            hash = (hash * 113) % 6271;
        }
        w = (int64_t) (hash % (uint64_t) total);
        for (k = from; k < to; k++) {
            if (!pco_upstream_ip_hash_member(&u->servers[k], backup)) {
                continue;
            }
            w -= u->servers[k].weight;
            if (w < 0) {
                break;
            }
        }
        if (k < to && pco_upstream_candidate(&u->servers[k], tried, backup)) {
            return &u->servers[k];
        }
    }
    return pco_upstream_rr_pick(u, u->balancer_data, tried, backup);
}
