/*
 * pco_upstream_least_conn.c: balance = "least_conn": weighted least connections. Among the
 * usable servers, the smallest active/weight wins (active counts the whole instance, read
 * with pco_upstream_active); servers that tie share by smooth weighted round robin (per
 * worker current weights, as round_robin).
 */
#include "pco_upstream.h"

static int pco_upstream_least_conn_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_least_conn_init(pco_conf_t *cf, pco_upstream_t *u);
static void pco_upstream_least_conn_update(pco_upstream_t *u);
static pco_upstream_server_t *pco_upstream_least_conn_pick(pco_upstream_t *u,
                                                           const pco_str_t *key,
                                                           const uint64_t *tried,
                                                           bool backup);

static const pco_upstream_balancer_t pco_upstream_least_conn_balancer = {
    .name = "least_conn",
    .init = pco_upstream_least_conn_init,
    .pick = pco_upstream_least_conn_pick,
    .update = pco_upstream_least_conn_update,
};

/* Hooks: conf_done (master, -t too) registers the balancer; PCO_OK or PCO_ERROR. */
pco_module_t pco_upstream_least_conn_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "upstream_least_conn",
    .conf_done = pco_upstream_least_conn_conf_done,
};

static int
pco_upstream_least_conn_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    return pco_upstream_balancer_add(cf, cycle, &pco_upstream_least_conn_balancer);
}

static int
pco_upstream_least_conn_init(pco_conf_t *cf, pco_upstream_t *u)
{
    u->balancer_data = pco_upstream_rr_create(cf->pool, u);
    return u->balancer_data == NULL ? PCO_ERROR : PCO_OK;
}

static void
pco_upstream_least_conn_update(pco_upstream_t *u)
{
    pco_upstream_rr_reset(u->balancer_data);
}

static pco_upstream_server_t *
pco_upstream_least_conn_pick(pco_upstream_t *u, const pco_str_t *key, const uint64_t *tried,
                             bool backup)
{
    pco_upstream_rr_t      *rr = u->balancer_data;
    pco_upstream_server_t  *best = NULL, *s;
    int64_t                 best_active = 0, active, total = 0;
    unsigned                i, from, to, ties = 0;
    int64_t                *act;
    int64_t                 act_small[64];

    pco_unused(key);
    /* every position: past nservers primaries and backups mix (pco_upstream_candidate
     * filters on backup) */
    from = 0;
    to = pco_min(pco_upstream_npos(u), rr->n);     /* rr->current has rr->n slots */
    /* one read of each count per pick (a read sums the worker slots) */
    act = act_small;
    if (to - from > pco_nelems(act_small)) {
        act = NULL;
    }
    for (i = from; i < to; i++) {
        s = &u->servers[i];
        if (!pco_upstream_candidate(s, tried, backup)) {
            if (act != NULL) {
                act[i - from] = -1;
            }
            continue;
        }
        active = pco_upstream_active(s);
        if (act != NULL) {
            act[i - from] = active;
        }
        if (best == NULL || active * best->weight < best_active * s->weight) {
            best = s;
            best_active = active;
            ties = 1;
        } else if (active * best->weight == best_active * s->weight) {
            ties++;
        }
    }
    if (best == NULL || ties == 1) {
        return best;
    }
    /* ties: smooth weighted round robin among them */
    s = best;
    best = NULL;
    for (i = from; i < to; i++) {
        pco_upstream_server_t  *t = &u->servers[i];

        if (act != NULL) {
            active = act[i - from];
            if (active < 0) {
                continue;
            }
        } else {
            if (!pco_upstream_candidate(t, tried, backup)) {
                continue;
            }
            active = pco_upstream_active(t);
        }
        if (active * s->weight != best_active * t->weight) {
            continue;
        }
        rr->current[i] += t->weight;
        total += t->weight;
        if (best == NULL || rr->current[i] > rr->current[best->index]) {
            best = t;
        }
    }
    if (best == NULL) {
        return s;
    }
    rr->current[best->index] -= total;
    return best;
}
