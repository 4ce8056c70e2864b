/*
 * pco_upstream_round_robin.c: balance = "round_robin" (the default): nginx's smooth weighted
 * round robin (each pick adds every usable server's weight to its current weight, takes the
 * largest and subtracts the total from it), so weights 5,1,1 give a a b a c a a. The current
 * weights are per worker: they are allocated at conf time in the cycle pool and every worker
 * writes its own copy after fork. The maths lives in pco_upstream_state.c (shared with the
 * fall-backs of other balancers).
 */
#include "pco_upstream.h"

static int pco_upstream_round_robin_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_round_robin_init(pco_conf_t *cf, pco_upstream_t *u);
static void pco_upstream_round_robin_update(pco_upstream_t *u);
static pco_upstream_server_t *pco_upstream_round_robin_pick(pco_upstream_t *u,
                                                            const pco_str_t *key,
                                                            const uint64_t *tried,
                                                            bool backup);

static const pco_upstream_balancer_t pco_upstream_round_robin_balancer = {
    .name = "round_robin",
    .init = pco_upstream_round_robin_init,
    .pick = pco_upstream_round_robin_pick,
    .update = pco_upstream_round_robin_update,
};

/* Hooks: conf_done (master, -t too) registers the balancer; PCO_OK or PCO_ERROR. */
pco_module_t pco_upstream_round_robin_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "upstream_round_robin",
    .conf_done = pco_upstream_round_robin_conf_done,
};

static int
pco_upstream_round_robin_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    return pco_upstream_balancer_add(cf, cycle, &pco_upstream_round_robin_balancer);
}

static int
pco_upstream_round_robin_init(pco_conf_t *cf, pco_upstream_t *u)
{
    u->balancer_data = pco_upstream_rr_create(cf->pool, u);
    return u->balancer_data == NULL ? PCO_ERROR : PCO_OK;
}

/* Positions or weights changed: the smooth sequence restarts from the new weights. */
static void
pco_upstream_round_robin_update(pco_upstream_t *u)
{
    pco_upstream_rr_reset(u->balancer_data);
}

static pco_upstream_server_t *
pco_upstream_round_robin_pick(pco_upstream_t *u, const pco_str_t *key, const uint64_t *tried,
                              bool backup)
{
    pco_unused(key);
    return pco_upstream_rr_pick(u, u->balancer_data, tried, backup);
}
