/*
 * pco_upstream_registry.c: what other modules register with, or look up in, the upstream
 * module's generation data (cycle->module_ctx, pco_upstream_ctx_t): balancers, try
 * observers, upstreams by name and the did-you-mean over their names. Registrations belong
 * to the cycle, so a rejected reload leaves the running generation's untouched; the one
 * request-time function, pco_upstream_try_report, walks a fixed array without allocating.
 */
#include "pco_upstream_int.h"

int
pco_upstream_balancer_add(pco_conf_t *cf, pco_cycle_t *cycle, const pco_upstream_balancer_t *b)
{
    pco_upstream_ctx_t  *ctx = pco_upstream_ctx(cycle);

    if (ctx == NULL || b == NULL || ctx->nbalancers == pco_nelems(ctx->balancers)) {
        pco_conf_error_module(cf, NULL, NULL, "cannot register balancer \"%s\": %s",
                              b != NULL && b->name != NULL ? b->name : "?",
                              ctx == NULL ? "out of memory"
                              : b == NULL ? "no balancer given"
                              : "too many balancers (16 at most)");
        return PCO_ERROR;
    }
    ctx->balancers[ctx->nbalancers++] = b;
    return PCO_OK;
}

int
pco_upstream_try_observer_add(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                              pco_upstream_try_pt h)
{
    pco_upstream_ctx_t  *ctx = pco_upstream_ctx(cycle);

    if (ctx == NULL || h == NULL || ctx->nobservers == pco_nelems(ctx->observers)) {
        pco_conf_error_module(cf, m, NULL, "cannot register an upstream try observer: %s",
                              ctx == NULL ? "out of memory"
                              : h == NULL ? "no function given"
                              : "too many observers (8 at most)");
        return PCO_ERROR;
    }
    ctx->observers[ctx->nobservers++] = h;
    return PCO_OK;
}

void
pco_upstream_try_report(pco_http_request_t *r, pco_upstream_server_t *s, int status,
                        int64_t ms)
{
    pco_upstream_ctx_t  *ctx;
    unsigned             i;

    if (pco_cycle == NULL || s == NULL) {
        return;
    }
    ctx = pco_cycle->module_ctx[pco_upstream_module.index];
    for (i = 0; ctx != NULL && i < ctx->nobservers; i++) {
        ctx->observers[i](r, s, status, ms);
    }
}

const char *
pco_upstream_suggest(pco_cycle_t *cycle, const char *name)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];

    if (ctx == NULL || ctx->nnames == 0) {
        return NULL;
    }
    return pco_conf_suggest_str(name, ctx->names, ctx->nnames, sizeof(pco_str_t));
}

const pco_upstream_balancer_t *
pco_upstream_balancer_find(pco_cycle_t *cycle, const char *name)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];
    unsigned             b;

    for (b = 0; ctx != NULL && b < ctx->nbalancers; b++) {
        if (strcmp(ctx->balancers[b]->name, name) == 0) {
            return ctx->balancers[b];
        }
    }
    return NULL;
}

pco_upstream_t *
pco_upstream_find(pco_cycle_t *cycle, const pco_str_t *name)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];
    unsigned             k;

    if (ctx == NULL) {
        return NULL;
    }
    for (k = 0; k < ctx->n; k++) {
        if (ctx->upstreams[k].name.len == name->len
            && memcmp(ctx->upstreams[k].name.data, name->data, name->len) == 0)
        {
            return &ctx->upstreams[k];
        }
    }
    return NULL;
}
