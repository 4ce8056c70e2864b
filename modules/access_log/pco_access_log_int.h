/*
 * pco_access_log_int.h: what the access_log module's files share (not for other modules):
 * the JSON line (the fixed set of keys, or the keys of access_log.fields) and its fields.
 */
#ifndef PCO_ACCESS_LOG_INT_H
#define PCO_ACCESS_LOG_INT_H

#include "pco_http.h"
#include "pco_access_log.h"

/* One value of a line, evaluated once before the line is written. */
typedef struct {
    pco_str_t   v;
    bool        absent;
    bool        number;      /* the variable prints numbers (PCO_HTTP_VAR_NUMBER) */
} pco_access_log_value_t;

/* One key of a JSON line. */
typedef struct {
    pco_str_t   key;
    bool        number;      /* unquoted when the value is a number */
    bool        list;        /* one entry per upstream try: a JSON array */
} pco_access_log_field_t;

typedef struct {
    const pco_access_log_field_t  *fields;   /* one per variable part of tpl */
    size_t                         n;
    pco_http_template_t           *tpl;
} pco_access_log_json_t;

/* The fixed set of keys (format = "json" without fields), compiled once per load. */
pco_access_log_json_t *pco_access_log_json_fixed(pco_conf_t *cf, pco_cycle_t *cycle,
                                                 const pco_conf_src_t *src);

/* The keys and template of access_log.fields = [...]: errors (a bad entry, a duplicate
 * key; an unknown variable later, at conf_final) are reported at src. NULL after one. */
pco_access_log_json_t *pco_access_log_json_fields(pco_conf_t *cf, pco_cycle_t *cycle,
                                                  const pco_str_list_t *fields,
                                                  const pco_conf_src_t *src);

/* The most bytes the value of field f can take in a line (key, quotes, escapes). */
size_t pco_access_log_json_bound(const pco_access_log_field_t *f,
                                 const pco_access_log_value_t *val);

/* Writes the line ("{...}\n") of the values of the template's parts; returns the end. */
u_char *pco_access_log_json_line(u_char *p, const pco_access_log_json_t *j,
                                 const pco_http_template_part_t *parts, size_t n,
                                 const pco_access_log_value_t *vals);

#endif
