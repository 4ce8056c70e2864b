/*
 * pco_headers.c: `response_headers = ( { name; value; always = false; } )` (http, server or
 * route scope, inherited downwards): adds or replaces response headers such as HSTS or CSP
 * (docs/http.md). Values are templates compiled at conf_done. A header filter in the header-edit
 * band (PCO_HTTP_FILTER_HEADERS) applies them to 2xx and 3xx responses, and to every
 * response for entries with `always = true` (nginx's add_header ... always). An empty
 * value removes the header. No shared state; nothing per worker.
 */
#include "pco_http.h"
#include "pco_string.h"
#include <strings.h>

typedef struct {
    pco_str_t               name;
    pco_str_t               value;
    bool                    always;
    pco_http_template_t    *tpl;       /* compiled at conf_done */
    bool                    literal;
} pco_headers_entry_t;

typedef struct {
    pco_conf_list_t         headers;   /* pco_headers_entry_t */
} pco_headers_conf_t;

static int pco_headers_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_headers_filter(pco_http_request_t *r);

static const pco_setting_t pco_headers_members[] = {
    { .name = "name", .type = PCO_CONF_STRING, .offset = offsetof(pco_headers_entry_t, name),
      .flags = PCO_CONF_REQUIRED | PCO_CONF_TOKEN, .help = "header name" },
    { .name = "value", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_headers_entry_t, value),
      .flags = PCO_CONF_REQUIRED | PCO_CONF_NOCTL,
      .help = "header value (variables allowed; empty removes the header)" },
    { .name = "always", .type = PCO_CONF_BOOL, .offset = offsetof(pco_headers_entry_t, always),
      .def = "false", .help = "also on error responses (status >= 400)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_headers_settings[] = {
    { .name = "response_headers", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_headers_conf_t, headers), .sub = pco_headers_members,
      .elt_size = sizeof(pco_headers_entry_t),
      .help = "response headers added or replaced: ( { name; value; always; } )" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master; compiles the values and registers the header filter; PCO_OK or
 * PCO_ERROR after reporting). The filter runs in workers, returns PCO_OK to let the chain
 * go on or PCO_ERROR (a value that expanded to a control character), and never blocks.
 */
pco_module_t pco_headers_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "headers",
    .settings = pco_headers_settings,
    .conf_size = sizeof(pco_headers_conf_t),
    .conf_done = pco_headers_conf_done,
};

/* Compiles the entries of one node (entries shared with a parent are compiled once). */
static int
pco_headers_compile_node(pco_conf_t *cf, pco_cycle_t *cycle, pco_conf_node_t *node)
{
    pco_headers_conf_t   *hc = pco_conf_get(node, &pco_headers_module);
    pco_headers_entry_t  *e;
    size_t                i;
    int                   rc = PCO_OK;

    if (hc == NULL) {
        return PCO_OK;
    }
    e = hc->headers.elts;
    for (i = 0; i < hc->headers.n; i++) {
        const pco_conf_src_t *src = hc->headers.src ? &hc->headers.src[i]
                                                    : PCO_CONF_SRC(hc, pco_headers_conf_t, headers);

        if (e[i].tpl != NULL) {
            continue;
        }
        /* the name (a token) and a literal value (no control character) were checked
         * by the loader (PCO_CONF_TOKEN, PCO_CONF_NOCTL) */
        e[i].tpl = pco_http_template_compile(cf, cycle, &e[i].value, src);
        if (e[i].tpl == NULL) {
            rc = PCO_ERROR;
            continue;
        }
        e[i].literal = pco_http_template_is_literal(e[i].tpl);
    }
    return rc;
}

static int
pco_headers_walk(pco_conf_t *cf, pco_cycle_t *cycle, pco_conf_node_t *node, unsigned depth)
{
    size_t  i;
    int     rc = PCO_OK;

    if (depth > 16) {
        return PCO_OK;
    }
    if (node->scope & PCO_SCOPE_HSR) {
        rc = pco_headers_compile_node(cf, cycle, node);
    }
    for (i = 0; i < node->nchildren; i++) {
        if (pco_headers_walk(cf, cycle, node->children[i], depth + 1) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static int
pco_headers_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    if (pco_headers_walk(cf, cycle, cf->root, 0) != PCO_OK) {
        return PCO_ERROR;
    }
    return pco_http_add_header_filter(cf, cycle, PCO_HTTP_FILTER_HEADERS, &pco_headers_module,
                                      pco_headers_filter);
}

/* Removes every extra response header called name. */
static void
pco_headers_remove(pco_http_request_t *r, const pco_str_t *name)
{
    unsigned  i, j;

    for (i = 0, j = 0; i < r->out.nheaders; i++) {
        const pco_str_t *n = &r->out.headers[i].name;

        if (pco_str_caseeq(n, name)) {
            continue;
        }
        r->out.headers[j++] = r->out.headers[i];
    }
    r->out.nheaders = j;
}

static int
pco_headers_filter(pco_http_request_t *r)
{
    pco_headers_conf_t   *hc = pco_http_route_conf(r, &pco_headers_module);
    pco_headers_entry_t  *e;
    pco_str_t             v;
    size_t                i;
    bool                  success = r->status >= 200 && r->status < 400;

    if (hc == NULL || hc->headers.n == 0) {
        return PCO_OK;
    }
    e = hc->headers.elts;
    for (i = 0; i < hc->headers.n; i++) {
        if (e[i].tpl == NULL || !(success || e[i].always)) {
            continue;
        }
        if (e[i].literal) {
            v = e[i].value;
        } else {
            if (pco_http_template_eval_header(r, e[i].tpl, &e[i].name, &v) != PCO_OK) {
                return PCO_ERROR;
            }
        }
        if (e[i].name.len == 12
            && strncasecmp((const char *) e[i].name.data, "Content-Type", 12) == 0)
        {
            r->out.content_type = v;
            continue;
        }
        if (e[i].name.len == 8
            && strncasecmp((const char *) e[i].name.data, "Location", 8) == 0)
        {
            r->out.location = v;
            continue;
        }
        if (v.len == 0) {
            pco_headers_remove(r, &e[i].name);
            continue;
        }
        if (pco_http_set_header(r, &e[i].name, &v, true) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}
