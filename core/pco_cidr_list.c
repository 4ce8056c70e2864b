/*
 * pco_cidr_list.c: a list of address ranges as a configuration setting (the parser and -T
 * printer that real_ip's `from` and http's `request_id.trust_from` share) and its match.
 * The ranges live in the configuration pool of their generation; no shared state.
 */
#include <arpa/inet.h>

#include "pco_cidr_list.h"

int
pco_cidr_list_parse(pco_conf_t *cf, const config_setting_t *cs, void *field,
                    const pco_setting_t *s)
{
    pco_cidr_list_t         *l = field;
    const config_setting_t  *e;
    const char              *text, *err;
    int                      type = config_setting_type(cs), n, i, rc = PCO_OK;

    pco_unused(s);
    if (type == CONFIG_TYPE_STRING) {
        n = 1;
    } else if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST) {
        n = config_setting_length(cs);
    } else {
        pco_conf_error(cf, cs, "expected a string or an array of strings");
        return PCO_ERROR;
    }
    l->n = 0;
    l->elts = pco_pcalloc(cf->pool, sizeof(pco_cidr_t) * (size_t) (n > 0 ? n : 1));
    if (l->elts == NULL) {
        pco_conf_error(cf, cs, "out of memory");
        return PCO_ERROR;
    }
    for (i = 0; i < n; i++) {
        e = type == CONFIG_TYPE_STRING ? cs : config_setting_get_elem(cs, (unsigned) i);
        if (e == NULL || config_setting_type(e) != CONFIG_TYPE_STRING) {
            pco_conf_error(cf, e != NULL ? e : cs, "expected a string");
            rc = PCO_ERROR;
            continue;
        }
        text = config_setting_get_string(e);
        err = "invalid address";
        if (pco_cidr_parse(text, strlen(text), &l->elts[l->n], &err) != PCO_OK) {
            pco_conf_error(cf, e, "\"%s\": %s", text, err);
            rc = PCO_ERROR;
            continue;
        }
        l->n++;
    }
    return rc;
}

void
pco_cidr_list_dump(FILE *out, const void *field, const pco_setting_t *s)
{
    const pco_cidr_list_t  *l = field;
    const pco_cidr_t       *c;
    char                    buf[INET6_ADDRSTRLEN];
    size_t                  i;

    pco_unused(s);
    fputc('[', out);
    for (i = 0; i < l->n; i++) {
        c = &l->elts[i];
        fputs(i > 0 ? ", " : " ", out);
        if (c->family == AF_UNIX) {
            fputs("\"unix:\"", out);
        } else if (inet_ntop(c->family, c->addr, buf, sizeof(buf)) != NULL) {
            fprintf(out, "\"%s/%u\"", buf, c->bits);
        }
    }
    fputs(l->n > 0 ? " ]" : "]", out);
}

bool
pco_cidr_list_match(const pco_cidr_list_t *l, const pco_sockaddr_t *sa)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        if (pco_cidr_match(&l->elts[i], sa)) {
            return true;
        }
    }
    return false;
}
