/*
 * pco_cidr_list.h: a list of address ranges as a configuration setting, for the trust
 * lists of real_ip (`from`) and of the request id (`trust_from`): a CUSTOM setting parser
 * that takes a string or an array of strings, each a CIDR, an address or "unix:"
 * (core/pco_cidr.h), a -T printer, and the per-request match. Parsed at load into the
 * configuration pool; matching allocates nothing and never blocks.
 */
#ifndef PCO_CIDR_LIST_H
#define PCO_CIDR_LIST_H

#include <stdio.h>

#include "pco_core.h"
#include "pco_cidr.h"
#include "pco_conf.h"

typedef struct {
    pco_cidr_t  *elts;
    size_t       n;          /* 0: the empty list, which matches nothing */
} pco_cidr_list_t;

/* PCO_CONF_CUSTOM parser (field is a pco_cidr_list_t): every bad entry is reported at its
 * own line as `"TEXT": what is wrong`. PCO_OK or PCO_ERROR. */
int pco_cidr_list_parse(pco_conf_t *cf, const config_setting_t *cs, void *field,
                        const pco_setting_t *s);
/* PCO_CONF_CUSTOM printer for -T: [ "10.0.0.0/8", "::1/128", "unix:" ]. */
void pco_cidr_list_dump(FILE *out, const void *field, const pco_setting_t *s);
/* true when sa falls in one of the list's ranges (see pco_cidr_match). */
bool pco_cidr_list_match(const pco_cidr_list_t *l, const pco_sockaddr_t *sa);

#endif /* PCO_CIDR_LIST_H */
