/*
 * pco_upstream_state.c: the request-time side of upstreams, kept free of configuration code
 * so the unit tests can drive it with hand-built servers and a fake clock (pco_current_msec):
 * usability (down, passive mark, health, max_conns), pco_upstream_get/done (primaries then
 * backups, tried[] bitmap, active counts), the passive-health maths, nginx's smooth weighted
 * round robin (shared by every balancer as a fall-back) and a CRC-32 for the hash balancers.
 *
 * Passive health follows nginx: a failure opens a fail_timeout window (or counts in the open
 * one); max_fails failures within it mark the server down until now + fail_timeout (the
 * transition is logged once, by the process whose CAS wins). A success does not reset the
 * count inside the window; a success after the window has expired resets it. State lives in
 * the shared zone and is updated with atomics, so every worker sees it at once.
 */
#include "pco_upstream.h"
#include "pco_time.h"
#include "pco_log.h"

static void pco_upstream_log_down(pco_upstream_server_t *s, int64_t fails);

int64_t
pco_upstream_active(const pco_upstream_server_t *s)
{
    if (s->active_counter >= 0) {
        return pco_counter_read(s->active_counter);
    }
    return __atomic_load_n(&s->shared->active, __ATOMIC_RELAXED);
}

bool
pco_upstream_usable(const pco_upstream_server_t *s)
{
    pco_upstream_shared_t  *sh = s->shared;
    const pco_upstream_t   *u = s->upstream;

    if (s->down || s->vacant || s->admin != PCO_UPSTREAM_ADMIN_UP) {
        return false;
    }
    if (sh != NULL) {
        if (__atomic_load_n(&sh->health_down, __ATOMIC_RELAXED)) {
            return false;
        }
        if (pco_upstream_npos(u) > 1 && u->max_fails > 0
            && __atomic_load_n(&sh->down_until, __ATOMIC_RELAXED) > pco_current_msec)
        {
            return false;
        }
    }
    if (s->max_conns > 0 && pco_upstream_active(s) >= s->max_conns) {
        return false;
    }
    return true;
}

bool
pco_upstream_candidate(const pco_upstream_server_t *s, const uint64_t *tried, bool backup)
{
    if (s->backup != backup) {
        return false;
    }
    if (tried != NULL && (tried[s->index / 64] & ((uint64_t) 1 << (s->index % 64)))) {
        return false;
    }
    return pco_upstream_usable(s);
}

pco_upstream_server_t *
pco_upstream_get(pco_upstream_t *u, const pco_str_t *key, uint64_t *tried)
{
    pco_upstream_server_t  *s;

    pco_upstream_sync(u);
    s = u->balancer->pick(u, key, tried, false);
    if (s == NULL && pco_upstream_npos(u) > u->nprimary) {
        s = u->balancer->pick(u, key, tried, true);
    }
    if (s == NULL) {
        return NULL;
    }
    tried[s->index / 64] |= (uint64_t) 1 << (s->index % 64);
    if (s->active_counter >= 0) {
        pco_counter_add(s->active_counter, 1);
    } else {
        __atomic_add_fetch(&s->shared->active, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&s->shared->requests, 1, __ATOMIC_RELAXED);
    pco_counter_add(pco_upstream_ctr_requests, 1);
    return s;
}

void
pco_upstream_done(pco_upstream_server_t *s, bool failed)
{
    if (s->active_counter >= 0) {
        pco_counter_add(s->active_counter, -1);
    } else {
        __atomic_sub_fetch(&s->shared->active, 1, __ATOMIC_RELAXED);
    }
    if (failed) {
        pco_upstream_health_fail(s, pco_current_msec);
    } else {
        pco_upstream_health_ok(s, pco_current_msec);
    }
}

bool
pco_upstream_health_fail(pco_upstream_server_t *s, pco_msec_t now)
{
    pco_upstream_shared_t  *sh = s->shared;
    pco_upstream_t         *u = s->upstream;
    int64_t                 start, fails, until;

    if (u->max_fails <= 0 || pco_upstream_npos(u) <= 1 || sh == NULL) {
        return false;
    }
    until = __atomic_load_n(&sh->down_until, __ATOMIC_RELAXED);
    if (until > now) {
        return false;                 /* already marked: late failures do not extend it */
    }
    start = __atomic_load_n(&sh->window_start, __ATOMIC_RELAXED);
    if (start == 0 || now - start >= u->fail_timeout) {
        /* a new window; a racing process may open it too: both count from 1 */
        if (__atomic_compare_exchange_n(&sh->window_start, &start, now, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        {
            __atomic_store_n(&sh->fails, 0, __ATOMIC_RELAXED);
        }
    }
    fails = __atomic_add_fetch(&sh->fails, 1, __ATOMIC_RELAXED);
    if (fails < u->max_fails) {
        return false;
    }
    if (!__atomic_compare_exchange_n(&sh->down_until, &until, now + u->fail_timeout, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    {
        return false;                 /* another process marked it */
    }
    __atomic_store_n(&sh->fails, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->window_start, 0, __ATOMIC_RELAXED);
    pco_upstream_log_down(s, fails);
    return true;
}

void
pco_upstream_health_ok(pco_upstream_server_t *s, pco_msec_t now)
{
    pco_upstream_shared_t  *sh = s->shared;
    int64_t                 start;

    if (sh == NULL || s->upstream->max_fails <= 0) {
        return;
    }
    start = __atomic_load_n(&sh->window_start, __ATOMIC_RELAXED);
    if (start != 0 && now - start >= s->upstream->fail_timeout) {
        __atomic_store_n(&sh->fails, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&sh->window_start, 0, __ATOMIC_RELAXED);
    }
}

static void
pco_upstream_log_down(pco_upstream_server_t *s, int64_t fails)
{
    pco_msec_t  t = s->upstream->fail_timeout;

    if (pco_log == NULL) {
        return;
    }
    if (t % 1000 == 0) {
        pco_log_err(PCO_LOG_WARN, pco_log, 0,
                    "upstream server %.*s of \"%.*s\" marked down for %llds after %lld "
                    "failure%s", (int) s->name.len, s->name.data,
                    (int) s->upstream->name.len, s->upstream->name.data,
                    (long long) (t / 1000), (long long) fails, fails == 1 ? "" : "s");
    } else {
        pco_log_err(PCO_LOG_WARN, pco_log, 0,
                    "upstream server %.*s of \"%.*s\" marked down for %lldms after %lld "
                    "failure%s", (int) s->name.len, s->name.data,
                    (int) s->upstream->name.len, s->upstream->name.data,
                    (long long) t, (long long) fails, fails == 1 ? "" : "s");
    }
}

pco_upstream_rr_t *
pco_upstream_rr_create(pco_pool_t *pool, const pco_upstream_t *u)
{
    pco_upstream_rr_t  *rr;

    rr = pco_pcalloc(pool, sizeof(pco_upstream_rr_t));
    if (rr == NULL) {
        return NULL;
    }
    rr->n = pco_max(u->capacity, u->nservers);
    rr->current = pco_pcalloc(pool, (rr->n ? rr->n : 1) * sizeof(int64_t));
    return rr->current == NULL ? NULL : rr;
}

void
pco_upstream_rr_reset(pco_upstream_rr_t *rr)
{
    if (rr != NULL) {
        memset(rr->current, 0, rr->n * sizeof(int64_t));
    }
}

pco_upstream_server_t *
pco_upstream_rr_pick(pco_upstream_t *u, pco_upstream_rr_t *rr, const uint64_t *tried,
                     bool backup)
{
    pco_upstream_server_t  *best = NULL;
    int64_t                 total = 0;
    unsigned                i, from, to;

    /* positions past nservers mix primaries and backups (added at run time) */
    from = backup ? u->nprimary : 0;
    to = pco_min(pco_upstream_npos(u), rr->n);     /* rr->current has rr->n slots */
    for (i = from; i < to; i++) {
        pco_upstream_server_t  *s = &u->servers[i];

        if (i >= u->nprimary && i < u->nservers && !backup) {
            i = u->nservers - 1;          /* skip the configured backups */
            continue;
        }
        if (!pco_upstream_candidate(s, tried, backup)) {
            continue;
        }
        rr->current[i] += s->weight;
        total += s->weight;
        if (best == NULL || rr->current[i] > rr->current[best->index]) {
            best = s;
        }
    }
    if (best != NULL) {
        rr->current[best->index] -= total;
    }
    return best;
}
