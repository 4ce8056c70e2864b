/*
 * pco_status_resolver.c: the resolver module's counters in the status output. That module
 * (modules/resolver) registers, per `resolve = true` name, the counters
 * "resolver_lookups:UPSTREAM NAME", "resolver_failures:UPSTREAM NAME" and the gauge
 * "resolver_addresses:UPSTREAM NAME"; they are found here by prefix, so the status module
 * needs neither the resolver's header nor the module itself (nothing is written when it is
 * not built or no server has resolve = true). Host names hold no space, so the last space
 * of the key separates the upstream from the name.
 */
#include "pco_status.h"
#include <stdio.h>
#include <string.h>

static const char *const pco_status_resolver_kinds[3] = {
    "resolver_lookups:", "resolver_failures:", "resolver_addresses:"
};

/* Splits "UPSTREAM NAME" at its last space; false when there is none. */
static bool
pco_status_resolver_key(const char *key, pco_str_t *upstream, pco_str_t *name)
{
    const char  *sp = strrchr(key, ' ');

    if (sp == NULL) {
        return false;
    }
    upstream->data = (u_char *) key;
    upstream->len = (size_t) (sp - key);
    name->data = (u_char *) sp + 1;
    name->len = strlen(sp + 1);
    return true;
}

/* The value of counter KIND:key (0 when absent). */
static int64_t
pco_status_resolver_read(unsigned kind, const char *key)
{
    char  cname[PCO_COUNTER_NAME_LEN + 32];
    int   id;

    snprintf(cname, sizeof(cname), "%s%s", pco_status_resolver_kinds[kind], key);
    id = pco_counter_find(cname);
    return id >= 0 ? pco_counter_read(id) : 0;
}

/* The key ("UPSTREAM NAME") of counter id when it is a resolver_lookups counter, else NULL:
 * one lookups counter per name, so walking them walks the names. */
static const char *
pco_status_resolver_name_at(int id)
{
    const char  *cname = pco_counter_name(id);
    size_t       plen = strlen(pco_status_resolver_kinds[0]);

    if (cname == NULL || strncmp(cname, pco_status_resolver_kinds[0], plen) != 0) {
        return NULL;
    }
    return cname + plen;
}

void
pco_status_prom_resolver(pco_status_buf_t *b)
{
    static const struct {
        const char  *family;
        const char  *type;
        const char  *help;
    } f[3] = {
        { "resolver_lookups_total", "counter",
          "DNS lookups of upstream server names with resolve = true." },
        { "resolver_failures_total", "counter",
          "Failed DNS lookups (timeout, SERVFAIL, NXDOMAIN, no address): the last good "
          "addresses were kept." },
        { "resolver_addresses", "gauge",
          "Addresses the last successful lookup of the name gave." },
    };
    pco_status_label_t  l[2];
    const char         *key;
    unsigned            k;
    int                 id, n = pco_counter_count();

    for (k = 0; k < 3; k++) {
        bool  first = true;

        for (id = 0; id < n; id++) {
            key = pco_status_resolver_name_at(id);
            if (key == NULL || !pco_status_resolver_key(key, &l[0].value, &l[1].value)) {
                continue;
            }
            if (first) {
                pco_status_prom_family(b, f[k].family, f[k].type, f[k].help);
                first = false;
            }
            l[0].name = "upstream";
            l[1].name = "name";
            pco_status_prom_int(b, f[k].family, l, 2, pco_status_resolver_read(k, key));
        }
    }
}

void
pco_status_json_resolver(pco_status_buf_t *b)
{
    static const char *const  json[3] = { "lookups", "failures", "addresses" };
    pco_str_t                 up, name;
    const char               *key;
    bool                      comma = false;
    unsigned                  k;
    int                       id, n = pco_counter_count();

    for (id = 0; id < n && pco_status_resolver_name_at(id) == NULL; id++) {
        /* find the first name: no "resolver" key at all without one */
    }
    if (id == n) {
        return;
    }
    pco_status_buf_cstr(b, ",\"resolver\":[");
    for (; id < n; id++) {
        key = pco_status_resolver_name_at(id);
        if (key == NULL || !pco_status_resolver_key(key, &up, &name)) {
            continue;
        }
        pco_status_buf_cstr(b, comma ? ",{\"upstream\":" : "{\"upstream\":");
        comma = true;
        pco_status_json_string(b, up.data, up.len);
        pco_status_buf_cstr(b, ",\"name\":");
        pco_status_json_string(b, name.data, name.len);
        for (k = 0; k < 3; k++) {
            pco_status_buf_cstr(b, ",\"");
            pco_status_buf_cstr(b, json[k]);
            pco_status_buf_cstr(b, "\":");
            pco_status_buf_int(b, pco_status_resolver_read(k, key));
        }
        pco_status_buf_cstr(b, "}");
    }
    pco_status_buf_cstr(b, "]");
}
