/*
 * pco_access.c: the `access` route setting (docs/settings.md, docs/http.md):
 *     access = ["allow 127.0.0.1", "allow 10.0.0.0/8", "allow ::1", "deny all"];
 * Rules are tried in order against the client address (r->client_addr: the peer, or the
 * address real_ip took from a trusted header); the first match decides, "deny" answers 403
 * (the built-in error page with the request id), and a client that matches no rule is let
 * through, as in nginx. Rules are parsed at load into flat arrays (core/pco_cidr.h); a bad
 * rule is a FILE:LINE error at -t, and rules after "allow all"/"deny all" get a warning.
 *
 * Hooks: conf_done (master) registers the ACCESS handler at priority 200 (after rate and
 * connection limits at 10 and 20, before auth_basic at 300: a denied client gets 403, never a
 * 401 challenge, as with nginx's `satisfy all`) when a route has rules. The handler returns
 * PCO_DECLINED (allowed: the next ACCESS handler runs) or 403; it never allocates or
 * blocks. No shared state; nothing per worker.
 */
#include "pco_http.h"
#include "pco_log.h"
#include "pco_access.h"

#define PCO_ACCESS_PRIORITY  200

typedef struct {
    pco_access_list_t   access;
} pco_access_conf_t;

static int pco_access_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_access_handler(pco_http_request_t *r);

static const pco_setting_t pco_access_settings[] = {
    { .name = "access", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_CUSTOM,
      .offset = offsetof(pco_access_conf_t, access), .custom = pco_access_conf_parse,
      .flags = PCO_CONF_NOINHERIT,
      .help = "client rules [\"allow CIDR\" | \"deny CIDR\" | \"allow all\" | \"deny all\"], "
              "first match wins, no match allows" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master; registers the ACCESS handler when a route has rules; PCO_OK or
 * PCO_ERROR). The handler runs in workers: PCO_DECLINED or 403.
 */
pco_module_t pco_access_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "access",
    .settings = pco_access_settings,
    .conf_size = sizeof(pco_access_conf_t),
    .conf_done = pco_access_conf_done,
};

/* ---- rules ----------------------------------------------------------------------------- */

static bool
pco_access_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

int
pco_access_rule_parse(const char *text, size_t len, pco_access_rule_t *rule, const char **err)
{
    const char  *p = text, *end = text + len, *w;

    memset(rule, 0, sizeof(*rule));
    while (p < end && pco_access_blank(*p)) {
        p++;
    }
    while (end > p && pco_access_blank(end[-1])) {
        end--;
    }
    if ((size_t) (end - p) > 5 && memcmp(p, "allow", 5) == 0 && pco_access_blank(p[5])) {
        rule->allow = true;
        p += 5;
    } else if ((size_t) (end - p) > 4 && memcmp(p, "deny", 4) == 0 && pco_access_blank(p[4])) {
        rule->allow = false;
        p += 4;
    } else {
        *err = "a rule reads \"allow ADDRESS\" or \"deny ADDRESS\" (CIDR, address, unix: or "
               "all)";
        return PCO_ERROR;
    }
    while (p < end && pco_access_blank(*p)) {
        p++;
    }
    for (w = p; w < end; w++) {
        if (pco_access_blank(*w)) {
            *err = "one address per rule";
            return PCO_ERROR;
        }
    }
    if (end - p == 3 && memcmp(p, "all", 3) == 0) {
        rule->all = true;
        return PCO_OK;
    }
    return pco_cidr_parse(p, (size_t) (end - p), &rule->cidr, err);
}

int
pco_access_conf_parse(pco_conf_t *cf, const config_setting_t *cs, void *field,
                      const pco_setting_t *s)
{
    pco_access_list_t  *list = field;
    int                 t = config_setting_type(cs), n, i, rc = PCO_OK;

    pco_unused(s);
    if (t == CONFIG_TYPE_STRING) {
        n = 1;
    } else if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) {
        n = config_setting_length(cs);
    } else {
        pco_conf_error(cf, cs, "a list of rules expected: [\"allow 10.0.0.0/8\", \"deny all\"]");
        return PCO_ERROR;
    }
    list->n = 0;
    list->rules = pco_pcalloc(cf->pool, sizeof(pco_access_rule_t) * (size_t) (n > 0 ? n : 1));
    if (list->rules == NULL) {
        return PCO_ERROR;
    }
    for (i = 0; i < n; i++) {
        const config_setting_t  *e = (t == CONFIG_TYPE_STRING)
                                     ? cs : config_setting_get_elem(cs, (unsigned) i);
        const char              *text, *err = NULL;

        if (e == NULL || config_setting_type(e) != CONFIG_TYPE_STRING) {
            pco_conf_error(cf, e != NULL ? e : cs, "rule %d: a string expected", i + 1);
            rc = PCO_ERROR;
            continue;
        }
        text = config_setting_get_string(e);
        if (pco_access_rule_parse(text, strlen(text), &list->rules[list->n], &err) != PCO_OK) {
            pco_conf_error(cf, e, "rule %d \"%s\": %s", i + 1, text, err);
            rc = PCO_ERROR;
            continue;
        }
        list->n++;
    }
    return rc;
}

bool
pco_access_check(const pco_access_list_t *list, const pco_sockaddr_t *sa, size_t *rule)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        const pco_access_rule_t *ru = &list->rules[i];

        if (ru->all || pco_cidr_match(&ru->cidr, sa)) {
            *rule = i + 1;
            return ru->allow;
        }
    }
    *rule = 0;
    return true;
}

const pco_access_list_t *
pco_access_route_rules(const pco_http_route_t *rt)
{
    const pco_access_conf_t  *ac = pco_conf_get(rt->node, &pco_access_module);

    return (ac != NULL && ac->access.n > 0) ? &ac->access : NULL;
}

/* ---- hooks ----------------------------------------------------------------------------- */

static int
pco_access_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_route_t  **routes;
    size_t              n, i, used = 0;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_access_conf_t  *ac = pco_conf_get(routes[i]->node, &pco_access_module);
        size_t              k;

        if (ac == NULL || ac->access.n == 0) {
            continue;
        }
        used++;
        for (k = 0; k + 1 < ac->access.n; k++) {
            if (ac->access.rules[k].all) {
                pco_conf_warn_src(cf, PCO_CONF_SRC(ac, pco_access_conf_t, access),
                                  "rule %zu can never match: rule %zu (\"%s all\") matches "
                                  "every client", k + 2, k + 1,
                                  ac->access.rules[k].allow ? "allow" : "deny");
                break;
            }
        }
    }
    if (used == 0) {
        return PCO_OK;                 /* nothing on the request path */
    }
    return pco_http_add_handler(cf, cycle, PCO_HTTP_ACCESS_PHASE, PCO_ACCESS_PRIORITY,
                                &pco_access_module, pco_access_handler);
}

static int
pco_access_handler(pco_http_request_t *r)
{
    pco_access_conf_t     *ac = pco_http_route_conf(r, &pco_access_module);
    const pco_sockaddr_t  *sa;
    size_t                 rule;

    if (ac == NULL || ac->access.n == 0) {
        return PCO_DECLINED;
    }
    sa = r->client_addr != NULL ? r->client_addr : &r->connection->sockaddr;
    if (pco_access_check(&ac->access, sa, &rule)) {
        return PCO_DECLINED;
    }
    pco_log_err(PCO_LOG_ERR, r->connection->log, 0, "access forbidden by rule %zu", rule);
    return 403;
}
