/*
 * pco_access.h: access rules ("allow CIDR", "deny CIDR", "allow all", "deny all"), the
 * `access` route setting's parser and matcher, public so that other modules with a rule
 * list of their own (a cache's `purge`, the status route) parse and check it the same way:
 * put pco_access_conf_parse as the .custom of a PCO_CONF_CUSTOM setting whose field is a
 * pco_access_list_t, then call pco_access_check per request.
 *
 * Rules are tried in order and the first that matches the client decides; a client that
 * matches no rule is allowed (nginx's behaviour: end a list with "deny all" to refuse
 * everyone else). IPv4 and IPv6 CIDRs, bare addresses and "unix:" (every unix-socket peer)
 * come from core/pco_cidr.h; an IPv4-mapped IPv6 peer matches IPv4 rules.
 */
#ifndef PCO_ACCESS_H
#define PCO_ACCESS_H

#include "pco_core.h"
#include "pco_conf.h"
#include "pco_cidr.h"
#include "pco_http.h"

typedef struct {
    pco_cidr_t   cidr;
    bool         allow;
    bool         all;          /* "allow all" / "deny all": cidr unused */
} pco_access_rule_t;

typedef struct {
    pco_access_rule_t  *rules;
    size_t              n;
} pco_access_list_t;

extern pco_module_t pco_access_module;

/*
 * A pco_conf_custom_pt: parses a string or a list of strings into the pco_access_list_t at
 * field (rules allocated in cf->pool). Reports every bad rule at its own line
 * (FILE:LINE: path: message). PCO_OK or PCO_ERROR.
 */
int pco_access_conf_parse(pco_conf_t *cf, const config_setting_t *cs, void *field,
                          const pco_setting_t *s);

/* Parses one rule text[0..len) into rule; PCO_OK, or PCO_ERROR with *err set (static). */
int pco_access_rule_parse(const char *text, size_t len, pco_access_rule_t *rule,
                          const char **err);

/* true when list lets sa in. *rule gets the 1-based number of the deciding rule (0: none
 * matched). Never allocates, never blocks. */
bool pco_access_check(const pco_access_list_t *list, const pco_sockaddr_t *sa, size_t *rule);

/* The rules written on route rt (NULL when it has none), e.g. for a status route that
 * answers only loopback clients unless its route has rules of its own. Valid once the
 * settings are loaded (in any module's conf_done); a module calling it requires "access". */
const pco_access_list_t *pco_access_route_rules(const pco_http_route_t *rt);

#endif
