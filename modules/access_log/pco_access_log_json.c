/*
 * pco_access_log_json.c: JSON access-log lines (docs/logging.md). format = "json" writes
 * one object a line; without `fields` its keys are the fixed set below (unchanged since
 * the first release), with `fields = ["remote_addr", "client=remote_addr", ...]` the keys
 * and variables the operator lists, in that order. Values: a string escaped for JSON
 * (invalid UTF-8 bytes as \u00XX, see pco_access_log_escape.c); a number unquoted when the
 * variable prints numbers ($status, $request_time, ...); null when absent; the per-try
 * upstream variables ($upstream_addr, $upstream_status, ...) as arrays when listed in
 * fields (the fixed set keeps them as the ", "-joined string it always wrote).
 */
#include "pco_access_log_int.h"

/* The fixed set: keys in the order of the variables of pco_access_log_json_fmt. */
static const pco_access_log_field_t pco_access_log_json_keys[] = {
    { pco_string("time"), false, false }, { pco_string("remote_addr"), false, false },
    { pco_string("request_id"), false, false }, { pco_string("method"), false, false },
    { pco_string("uri"), false, false }, { pco_string("protocol"), false, false },
    { pco_string("host"), false, false }, { pco_string("status"), true, false },
    { pco_string("body_bytes_sent"), true, false },
    { pco_string("request_time"), true, false },
    { pco_string("upstream_addr"), false, false },
    { pco_string("upstream_status"), true, false },
    { pco_string("upstream_response_time"), true, false },
    { pco_string("user_agent"), false, false }, { pco_string("referer"), false, false },
    { pco_string("request_completion"), false, false },
};

static const char pco_access_log_json_fmt[] =
    "${time_iso8601}${remote_addr}${request_id}${request_method}${request_uri}"
    "${server_protocol}${host}${status}${body_bytes_sent}${request_time}${upstream_addr}"
    "${upstream_status}${upstream_response_time}${http_user_agent}${http_referer}"
    "${request_completion}";

/* Variables holding one value per upstream try, joined by ", " (nginx's names; those this
 * build does not define are refused as unknown variables anyway). */
static const char *const pco_access_log_list_vars[] = {
    "upstream_addr", "upstream_status", "upstream_response_time", "upstream_connect_time",
    "upstream_header_time", "upstream_bytes_sent", "upstream_bytes_received"
};

pco_access_log_json_t *
pco_access_log_json_fixed(pco_conf_t *cf, pco_cycle_t *cycle, const pco_conf_src_t *src)
{
    pco_access_log_json_t  *j = pco_pcalloc(cf->pool, sizeof(pco_access_log_json_t));
    pco_str_t               text;

    if (j == NULL) {
        return NULL;
    }
    text.data = (u_char *) pco_access_log_json_fmt;
    text.len = sizeof(pco_access_log_json_fmt) - 1;
    j->tpl = pco_http_template_compile(cf, cycle, &text, src);
    j->fields = pco_access_log_json_keys;
    j->n = pco_nelems(pco_access_log_json_keys);
    return j->tpl != NULL ? j : NULL;
}

static bool
pco_access_log_is_list(const pco_str_t *var)
{
    size_t  i;

    for (i = 0; i < pco_nelems(pco_access_log_list_vars); i++) {
        if (strlen(pco_access_log_list_vars[i]) == var->len
            && memcmp(pco_access_log_list_vars[i], var->data, var->len) == 0)
        {
            return true;
        }
    }
    return false;
}

pco_access_log_json_t *
pco_access_log_json_fields(pco_conf_t *cf, pco_cycle_t *cycle, const pco_str_list_t *fields,
                           const pco_conf_src_t *src)
{
    pco_access_log_json_t   *j = pco_pcalloc(cf->pool, sizeof(pco_access_log_json_t));
    pco_access_log_field_t  *f;
    pco_str_t                var, text;
    const char              *err;
    size_t                   i, k, size = 1;
    u_char                  *p;

    f = pco_pcalloc(cf->pool, (fields->n ? fields->n : 1) * sizeof(*f));
    for (i = 0; i < fields->n; i++) {
        size += fields->elts[i].len + 3;
    }
    p = pco_pnalloc(cf->pool, size);
    if (j == NULL || f == NULL || p == NULL) {
        return NULL;
    }
    text.data = p;
    for (i = 0; i < fields->n; i++) {
        err = pco_access_log_field_parse(fields->elts[i].data, fields->elts[i].len,
                                         &f[i].key, &var);
        if (err != NULL) {
            pco_conf_error_src(cf, src, "fields[%zu] \"%.*s\": %s", i,
                               (int) fields->elts[i].len, (char *) fields->elts[i].data, err);
            return NULL;
        }
        for (k = 0; k < i; k++) {
            if (f[k].key.len == f[i].key.len
                && memcmp(f[k].key.data, f[i].key.data, f[i].key.len) == 0)
            {
                pco_conf_error_src(cf, src, "fields[%zu]: duplicate key \"%.*s\" (rename "
                                   "one: \"KEY=VARIABLE\")", i, (int) f[i].key.len,
                                   (char *) f[i].key.data);
                return NULL;
            }
        }
        f[i].list = pco_access_log_is_list(&var);
        *p++ = '$';
        *p++ = '{';
        memcpy(p, var.data, var.len);
        p += var.len;
        *p++ = '}';
    }
    text.len = (size_t) (p - text.data);
    j->fields = f;
    j->n = fields->n;
    j->tpl = pco_http_template_compile(cf, cycle, &text, src);
    return j->tpl != NULL ? j : NULL;
}

size_t
pco_access_log_json_bound(const pco_access_log_field_t *f, const pco_access_log_value_t *val)
{
    size_t  n = f->key.len + 8;     /* ,"key": and the quotes or null */

    return n + (f->list ? PCO_ACCESS_LOG_JSON_LIST_MAX(val->v.len)
                        : val->v.len * PCO_ACCESS_LOG_JSON_MAX);
}

u_char *
pco_access_log_json_line(u_char *p, const pco_access_log_json_t *j,
                         const pco_http_template_part_t *parts, size_t n,
                         const pco_access_log_value_t *vals)
{
    const pco_access_log_field_t  *f;
    size_t                         i, k = 0;

    *p++ = '{';
    for (i = 0; i < n && k < j->n; i++) {
        if (parts[i].var < 0 && parts[i].capture == 0) {
            continue;
        }
        f = &j->fields[k];
        if (k > 0) {
            *p++ = ',';
        }
        *p++ = '"';
        memcpy(p, f->key.data, f->key.len);
        p += f->key.len;
        *p++ = '"';
        *p++ = ':';
        if (vals[i].absent) {
            memcpy(p, "null", 4);
            p += 4;
        } else if (f->list) {
            p += pco_access_log_json_list(p, vals[i].v.data, vals[i].v.len);
        } else if ((vals[i].number || f->number)
                   && pco_access_log_is_number(vals[i].v.data, vals[i].v.len))
        {
            memcpy(p, vals[i].v.data, vals[i].v.len);
            p += vals[i].v.len;
        } else {
            *p++ = '"';
            p += pco_access_log_json_escape(p, vals[i].v.data, vals[i].v.len);
            *p++ = '"';
        }
        k++;
    }
    *p++ = '}';
    *p++ = '\n';
    return p;
}
