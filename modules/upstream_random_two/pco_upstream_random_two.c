/*
 * pco_upstream_random_two.c: balance = "random_two": the power of two random choices. Two
 * distinct usable servers are drawn at random, each with a probability proportional to its
 * weight, and the one with fewer active connections per weight unit (instance-wide) wins;
 * on a tie the first drawn. The generator is a per-worker xorshift64*, seeded on first use
 * in each process from the pid and the clock.
 */
#include "pco_upstream.h"
#include "pco_time.h"
#include <unistd.h>

typedef struct {
    uint64_t    state;
    pid_t       pid;
} pco_upstream_random_two_t;

static int pco_upstream_random_two_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_upstream_random_two_init(pco_conf_t *cf, pco_upstream_t *u);
static pco_upstream_server_t *pco_upstream_random_two_pick(pco_upstream_t *u,
                                                           const pco_str_t *key,
                                                           const uint64_t *tried,
                                                           bool backup);

static const pco_upstream_balancer_t pco_upstream_random_two_balancer = {
    .name = "random_two",
    .init = pco_upstream_random_two_init,
    .pick = pco_upstream_random_two_pick,
};

/* Hooks: conf_done (master, -t too) registers the balancer; PCO_OK or PCO_ERROR. */
pco_module_t pco_upstream_random_two_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "upstream_random_two",
    .conf_done = pco_upstream_random_two_conf_done,
};

static int
pco_upstream_random_two_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    return pco_upstream_balancer_add(cf, cycle, &pco_upstream_random_two_balancer);
}

static int
pco_upstream_random_two_init(pco_conf_t *cf, pco_upstream_t *u)
{
    u->balancer_data = pco_pcalloc(cf->pool, sizeof(pco_upstream_random_two_t));
    return u->balancer_data == NULL ? PCO_ERROR : PCO_OK;
}

static uint64_t
pco_upstream_random_two_next(pco_upstream_random_two_t *r)
{
    pid_t  pid = getpid();

    if (r->pid != pid || r->state == 0) {
        r->pid = pid;
        r->state = ((uint64_t) pid << 32) ^ (uint64_t) pco_current_msec ^ 0x9e3779b97f4a7c15ull;
        if (r->state == 0) {
            r->state = 1;
        }
    }
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return r->state * 0x2545f4914f6cdd1dull;
}

/* A weighted draw among the candidates other than `not`. */
static pco_upstream_server_t *
pco_upstream_random_two_draw(pco_upstream_t *u, pco_upstream_random_two_t *r,
                             const uint64_t *tried, bool backup,
                             const pco_upstream_server_t *not)
{
    int64_t   total = 0, w;
    unsigned  i, from, to;

    /* every position: past nservers primaries and backups mix (candidate filters) */
    from = 0;
    to = pco_upstream_npos(u);
    for (i = from; i < to; i++) {
        if (&u->servers[i] != not && pco_upstream_candidate(&u->servers[i], tried, backup)) {
            total += u->servers[i].weight;
        }
    }
    if (total == 0) {
        return NULL;
    }
    w = (int64_t) (pco_upstream_random_two_next(r) % (uint64_t) total);
    for (i = from; i < to; i++) {
        if (&u->servers[i] != not && pco_upstream_candidate(&u->servers[i], tried, backup)) {
            w -= u->servers[i].weight;
            if (w < 0) {
                return &u->servers[i];
            }
        }
    }
    return NULL;
}

static pco_upstream_server_t *
pco_upstream_random_two_pick(pco_upstream_t *u, const pco_str_t *key, const uint64_t *tried,
                             bool backup)
{
    pco_upstream_random_two_t  *r = u->balancer_data;
    pco_upstream_server_t      *a, *b;

    pco_unused(key);
    a = pco_upstream_random_two_draw(u, r, tried, backup, NULL);
    if (a == NULL) {
        return NULL;
    }
    b = pco_upstream_random_two_draw(u, r, tried, backup, a);
    if (b == NULL) {
        return a;
    }
    return pco_upstream_active(b) * a->weight < pco_upstream_active(a) * b->weight ? b : a;
}
