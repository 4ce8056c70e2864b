/*
 * pco_example.c: the smallest useful module, the one docs/modules.md walks through.
 * A route setting `example_header = "hi";` adds `X-Example: hi` to that route's responses
 * (a header filter in the header-edit band) and defines the variable `$example` (the value,
 * absent on routes without the setting). Hooks: conf_done only (registers the filter and
 * the variable). No shared state; nothing per worker; nothing to clean up.
 */
#include "pco_http.h"

/* One configuration struct per scope node (here only routes use it). */
typedef struct {
    pco_str_t   header;     /* example_header */
} pco_example_route_conf_t;

static int pco_example_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_example_header_filter(pco_http_request_t *r);
static int pco_example_variable(pco_http_request_t *r, const pco_str_t *name, uintptr_t data,
                                pco_str_t *v);

static const pco_setting_t pco_example_settings[] = {
    { .name = "example_header", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_example_route_conf_t, header), .flags = PCO_CONF_NOCTL,
      .help = "adds X-Example: VALUE to the route's responses and sets $example" },
    PCO_SETTINGS_END
};

/*
 * Hooks:
 *   conf_done (master, every load and -t): registers the header filter and $example.
 *     Returns PCO_OK, or PCO_ERROR after the registration reported a problem.
 *   header filter (worker, per response): PCO_OK to continue the chain, PCO_ERROR when the
 *     header does not fit (the request fails with 500).
 */
pco_module_t pco_example_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "example",
    .settings = pco_example_settings,
    .conf_size = sizeof(pco_example_route_conf_t),
    .conf_done = pco_example_conf_done,
};

static int
pco_example_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    if (pco_http_variable_add(cf, cycle, "example", pco_example_variable, 0, 0) != PCO_OK) {
        return PCO_ERROR;
    }
    return pco_http_add_header_filter(cf, cycle, PCO_HTTP_FILTER_HEADERS, &pco_example_module,
                                      pco_example_header_filter);
}

static int
pco_example_header_filter(pco_http_request_t *r)
{
    static const pco_str_t     name = pco_string("X-Example");
    pco_example_route_conf_t  *ecf = pco_http_route_conf(r, &pco_example_module);

    if (ecf == NULL || ecf->header.len == 0) {
        return PCO_OK;
    }
    return pco_http_set_header(r, &name, &ecf->header, true);
}

static int
pco_example_variable(pco_http_request_t *r, const pco_str_t *name, uintptr_t data,
                     pco_str_t *v)
{
    pco_example_route_conf_t  *ecf;

    pco_unused(name);
    pco_unused(data);
    if (r->route == NULL) {
        return PCO_DECLINED;
    }
    ecf = pco_http_route_conf(r, &pco_example_module);
    if (ecf == NULL || ecf->header.len == 0) {
        return PCO_DECLINED;
    }
    *v = ecf->header;
    return PCO_OK;
}
