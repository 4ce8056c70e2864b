/*
 * pco_return.c: the `return` route action: answers with a fixed status, an optional body
 * and an optional Location, both templates with variables:
 *     return = { status = 301; location = "https://$host$request_uri"; };
 *     return = { status = 200; body = "ok\n"; };
 * conf_done compiles the templates (a literal body is precomputed once, so it costs nothing
 * per request), warns (-t too) when a location starts with a variable (an open redirect,
 * docs/http.md), and claims every route that sets `return` with pco_http_route_set_action. The
 * content handler discards the request body and sends the response through
 * pco_http_send_response (HEAD-aware). No shared state; nothing per worker.
 */
#include "pco_http.h"

typedef struct {
    int64_t      status;
    pco_str_t    body;
    pco_str_t    location;
} pco_return_spec_t;

typedef struct {
    pco_return_spec_t       ret;
    /* compiled at conf_done (cycle pool, this generation) */
    pco_http_template_t    *body_tpl;        /* NULL: no body */
    pco_http_template_t    *location_tpl;    /* NULL: no Location */
    bool                    body_literal;    /* body_tpl has no variables: use ret.body */
    bool                    location_literal;
} pco_return_route_conf_t;

/* Where member m of the return group was written, for messages. */
#define PCO_RETURN_SRC(rcf, m)  PCO_CONF_SRC(rcf, pco_return_route_conf_t, ret.m)

static int pco_return_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_return_handler(pco_http_request_t *r);

static const pco_setting_t pco_return_members[] = {
    { .name = "status", .type = PCO_CONF_INT, .offset = offsetof(pco_return_spec_t, status),
      .min = 100, .max = 599, .flags = PCO_CONF_REQUIRED,
      .help = "response status, 100..599" },
    { .name = "body", .type = PCO_CONF_STRING, .offset = offsetof(pco_return_spec_t, body),
      .help = "response body (variables allowed), sent as text/plain; charset=utf-8" },
    { .name = "location", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_return_spec_t, location), .flags = PCO_CONF_NOCTL,
      .help = "Location header for 3xx (variables allowed)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_return_settings[] = {
    { .name = "return", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_return_route_conf_t, ret), .sub = pco_return_members,
      .flags = PCO_CONF_NOINHERIT,
      .help = "route action: answer with { status; body; location; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master; compiles templates, claims routes; PCO_OK or PCO_ERROR after
 * reporting). The content handler runs in workers and never blocks.
 */
pco_module_t pco_return_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "return",
    .settings = pco_return_settings,
    .conf_size = sizeof(pco_return_route_conf_t),
    .conf_done = pco_return_conf_done,
};

static int
pco_return_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_route_t         **routes;
    size_t                     n, i;
    int                        rc = PCO_OK;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_http_route_t         *rt = routes[i];
        pco_return_route_conf_t  *rcf = pco_conf_get(rt->node, &pco_return_module);
        const pco_conf_src_t     *src;

        if (rcf == NULL || !PCO_CONF_IS_SET(rcf, pco_return_route_conf_t, ret)) {
            continue;
        }
        src = PCO_CONF_SRC(rcf, pco_return_route_conf_t, ret);
        if (rcf->ret.status < 100 || rcf->ret.status > 599) {
            pco_conf_error_src(cf, PCO_RETURN_SRC(rcf, status), "status must be within 100..599");
            rc = PCO_ERROR;
            continue;
        }
        if (rcf->ret.body.len > 0) {
            rcf->body_tpl = pco_http_template_compile(cf, cycle, &rcf->ret.body,
                                                      PCO_RETURN_SRC(rcf, body));
            if (rcf->body_tpl == NULL) {
                rc = PCO_ERROR;
                continue;
            }
            rcf->body_literal = pco_http_template_is_literal(rcf->body_tpl);
        }
        if (rcf->ret.location.len == 0 && rcf->ret.status >= 300 && rcf->ret.status <= 399
            && rcf->ret.status != 304)
        {
            pco_conf_warn_src(cf, PCO_RETURN_SRC(rcf, status),
                              "a %d redirect without a location: clients get no "
                              "Location header", (int) rcf->ret.status);
        }
        if (rcf->ret.location.len > 0) {
            if (rcf->ret.location.data[0] == '$') {
                pco_conf_warn_src(cf, PCO_RETURN_SRC(rcf, location),
                                  "location starts with a variable: an open "
                                  "redirect if a client controls it");
            }
            if (rcf->ret.status < 300 || rcf->ret.status > 399) {
                pco_conf_warn_src(cf, PCO_RETURN_SRC(rcf, location),
                                  "location is sent only with a 3xx status");
            }
            rcf->location_tpl = pco_http_template_compile(cf, cycle, &rcf->ret.location,
                                                          PCO_RETURN_SRC(rcf, location));
            if (rcf->location_tpl == NULL) {
                rc = PCO_ERROR;
                continue;
            }
            rcf->location_literal = pco_http_template_is_literal(rcf->location_tpl);
        }
        if (pco_http_route_set_action(cf, rt, "return", pco_return_handler, src) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static int
pco_return_handler(pco_http_request_t *r)
{
    pco_return_route_conf_t  *rcf = pco_http_route_conf(r, &pco_return_module);
    pco_str_t                 body = pco_null_string, location;
    static const pco_str_t    pco_return_type = pco_string("text/plain; charset=utf-8");
    static const pco_str_t    pco_return_location = pco_string("Location");
    int                       rc, status = (int) rcf->ret.status;

    rc = pco_http_discard_body(r);
    if (rc != PCO_OK) {
        return rc;
    }
    if (rcf->location_tpl != NULL && status >= 300 && status <= 399) {
        if (rcf->location_literal) {
            location = rcf->ret.location;
        } else if (pco_http_template_eval_header(r, rcf->location_tpl, &pco_return_location,
                                                 &location) != PCO_OK)
        {
            return 500;
        }
        r->out.location = location;
    }
    if (rcf->body_tpl == NULL) {
        if (status >= 400 && rcf->location_tpl == NULL) {
            /* no body of its own: the built-in error page */
            return status;
        }
        rc = pco_http_send_response(r, status, NULL, &body);
        return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
    }
    if (rcf->body_literal) {
        body = rcf->ret.body;
    } else if (pco_http_template_eval(r, rcf->body_tpl, &body) != PCO_OK) {
        return 500;
    }
    rc = pco_http_send_response(r, status, &pco_return_type, &body);
    return rc == PCO_ERROR ? PCO_ERROR : PCO_OK;
}
