/*
 * pco_conf_parse.c: the value side of the configuration loader: type checks with the
 * "expected X, got Y" messages, the unit parsers (sizes, durations), bounds, enums, string
 * and integer lists, groups and lists of groups (unknown and missing members), custom
 * parsers, defaults parsed from the tables' libconfig text with the same code, and the
 * did-you-mean distance. Master only; allocates in cf->pool; no shared state.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>
#include <stdlib.h>

static const char *
pco_conf_type_name(const config_setting_t *cs)
{
    switch (config_setting_type(cs)) {
    case CONFIG_TYPE_GROUP:  return "a group";
    case CONFIG_TYPE_ARRAY:  return "an array";
    case CONFIG_TYPE_LIST:   return "a list";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:  return "an integer";
    case CONFIG_TYPE_FLOAT:  return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL:   return config_setting_get_bool(cs) ? "true" : "false";
    default:                 return "nothing";
    }
}

static const char *
pco_conf_expected(const pco_setting_t *s)
{
    switch (s->type) {
    case PCO_CONF_BOOL:     return "true or false";
    case PCO_CONF_INT:      return (s->flags & PCO_CONF_AUTO) ? "an integer or \"auto\""
                                                              : "an integer";
    case PCO_CONF_SIZE:     return "a size such as \"16k\" or 1024";
    case PCO_CONF_DURATION: return "a duration such as \"10s\" or 10";
    case PCO_CONF_STRING:   return "a string";
    case PCO_CONF_ENUM:     return "a string";
    case PCO_CONF_STRLIST:  return "a string or an array of strings";
    case PCO_CONF_INTLIST:  return "an integer or an array of integers";
    case PCO_CONF_GROUP:    return "a group { ... }";
    case PCO_CONF_LIST:     return "a list of groups ( { ... }, ... )";
    case PCO_CONF_SCOPE:    return "a group or a list of groups";
    default:                return "a value";
    }
}

int
pco_conf_bad_type(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs)
{
    pco_conf_error(cf, cs, "expected %s, got %s", pco_conf_expected(s), pco_conf_type_name(cs));
    return PCO_ERROR;
}

/* ---- did you mean ---------------------------------------------------------------------- */

static size_t
pco_conf_distance(const char *a, const char *b)
{
    size_t  la = strlen(a), lb = strlen(b), i, j, prev, cur, tmp;
    size_t  row[65];

    if (la > 64 || lb > 64) {
        return SIZE_MAX;
    }
    for (j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            cur = prev + (a[i - 1] != b[j - 1]);
            cur = pco_min(cur, row[j] + 1);
            cur = pco_min(cur, row[j - 1] + 1);
            tmp = row[j];
            row[j] = cur;
            prev = tmp;
        }
    }
    return row[lb];
}

void
pco_conf_suggest(const char *name, const char *cand, const char **best, size_t *bestd)
{
    size_t  d = pco_conf_distance(name, cand);

    if (d <= 2 && d < *bestd) {
        *best = cand;
        *bestd = d;
    }
}

const char *
pco_conf_suggest_str(const char *name, const pco_str_t *names, size_t n, size_t stride)
{
    const char  *best = NULL;
    size_t       i, bestd = SIZE_MAX;

    for (i = 0; i < n; i++) {
        const pco_str_t *s = (const pco_str_t *) ((const u_char *) names + i * stride);

        if (s->data != NULL) {
            pco_conf_suggest(name, (const char *) s->data, &best, &bestd);
        }
    }
    return best;
}

void
pco_conf_unknown(pco_conf_t *cf, const config_setting_t *cs, const char *best)
{
    const char  *name = config_setting_name(cs);

    if (best != NULL) {
        pco_conf_error(cf, cs, "unknown setting \"%s\" (did you mean \"%s\"?)", name, best);
    } else {
        pco_conf_error(cf, cs, "unknown setting \"%s\"", name);
    }
}

/* ---- unit parsers ---------------------------------------------------------------------- */

int
pco_parse_size(const char *text, int64_t *out)
{
    int64_t  v = 0, mult = 1;
    size_t   i = 0;

    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return PCO_ERROR;
    }
    for (; text[i] >= '0' && text[i] <= '9'; i++) {
        if (v > (INT64_MAX - (text[i] - '0')) / 10) {
            return PCO_ERROR;
        }
        v = v * 10 + (text[i] - '0');
    }
    switch (text[i]) {
    case '\0':           break;
    case 'k': case 'K':  mult = 1024; i++; break;
    case 'm': case 'M':  mult = 1024 * 1024; i++; break;
    case 'g': case 'G':  mult = 1024 * 1024 * 1024; i++; break;
    default:             return PCO_ERROR;
    }
    if (text[i] != '\0' || v > INT64_MAX / mult) {
        return PCO_ERROR;
    }
    *out = v * mult;
    return PCO_OK;
}

/* "500ms", "2s", "1m", "1h", "1d", "1m30s"; a bare number is seconds. */
int
pco_parse_duration(const char *text, pco_msec_t *out)
{
    int64_t      total = 0, v, mult;
    const char  *p = text;

    if (text == NULL || text[0] == '\0') {
        return PCO_ERROR;
    }
    while (*p != '\0') {
        if (*p < '0' || *p > '9') {
            return PCO_ERROR;
        }
        for (v = 0; *p >= '0' && *p <= '9'; p++) {
            if (v > (INT64_MAX - (*p - '0')) / 10) {
                return PCO_ERROR;
            }
            v = v * 10 + (*p - '0');
        }
        if (*p == '\0') {
            if (p != text + strspn(text, "0123456789")) {
                return PCO_ERROR;                /* "1m30": a unit is required after a unit */
            }
            mult = 1000;
        } else if (p[0] == 'm' && p[1] == 's') {
            mult = 1;
            p += 2;
        } else {
            switch (*p++) {
            case 's': mult = 1000; break;
            case 'm': mult = 60 * 1000; break;
            case 'h': mult = 3600 * 1000; break;
            case 'd': mult = 86400 * 1000; break;
            default:  return PCO_ERROR;
            }
        }
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult) {
            return PCO_ERROR;
        }
        total += v * mult;
    }
    *out = total;
    return PCO_OK;
}

char *
pco_conf_full_path(pco_conf_t *cf, const char *path)
{
    size_t  pl, l = strlen(path);
    char   *p;

    if (path[0] == '/' || cf->prefix == NULL) {
        return pco_pstrndup(cf->pool, path, l);
    }
    pl = strlen(cf->prefix);
    p = pco_pnalloc(cf->pool, pl + l + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, cf->prefix, pl);
    memcpy(p + pl, path, l + 1);
    return p;
}

/* ---- value parsers --------------------------------------------------------------------- */

size_t
pco_conf_setting_size(const pco_setting_t *s)
{
    const pco_setting_t  *m;
    size_t                sz = 0, e;

    switch (s->type) {
    case PCO_CONF_BOOL:     return sizeof(bool);
    case PCO_CONF_INT:
    case PCO_CONF_SIZE:     return sizeof(int64_t);
    case PCO_CONF_DURATION: return sizeof(pco_msec_t);
    case PCO_CONF_STRING:   return sizeof(pco_str_t);
    case PCO_CONF_ENUM:     return sizeof(int);
    case PCO_CONF_STRLIST:  return sizeof(pco_str_list_t);
    case PCO_CONF_INTLIST:  return sizeof(pco_int_list_t);
    case PCO_CONF_LIST:     return sizeof(pco_conf_list_t);
    case PCO_CONF_CUSTOM:   return s->elt_size;
    case PCO_CONF_GROUP:
        if (s->elt_size) {
            return s->elt_size;
        }
        for (m = s->sub; m != NULL && m->name != NULL; m++) {
            e = m->offset + pco_conf_setting_size(m);
            sz = pco_max(sz, e);
        }
        return sz;
    default:                return 0;
    }
}

static int
pco_conf_get_int(const config_setting_t *cs, int64_t *v)
{
    if (config_setting_type(cs) == CONFIG_TYPE_INT
        || config_setting_type(cs) == CONFIG_TYPE_INT64)
    {
        *v = config_setting_get_int64(cs);
        return PCO_OK;
    }
    return PCO_ERROR;
}

/* "must be between A and B (got V)", with A, B and V written as the setting's type writes
 * them ("16k", "10s"); into buf. */
static void
pco_conf_range_text(const pco_setting_t *s, int64_t v, char *buf, size_t size)
{
    char  a[32], b[32], g[32];

    pco_conf_format_num(s, s->min, a, sizeof(a));
    pco_conf_format_num(s, s->max, b, sizeof(b));
    pco_conf_format_num(s, v, g, sizeof(g));
    snprintf(buf, size, "must be between %s and %s (got %s)", a, b, g);
}

static int
pco_conf_bounds(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs, int64_t v)
{
    char  text[128];

    if (s->min == s->max || (v >= s->min && v <= s->max)) {
        return PCO_OK;
    }
    pco_conf_range_text(s, v, text, sizeof(text));
    pco_conf_error(cf, cs, "%s", text);
    return PCO_ERROR;
}

int
pco_conf_check_range(pco_conf_t *cf, const pco_conf_src_t *src, const char *name,
                     pco_conf_type_e type, int64_t v, int64_t min, int64_t max)
{
    pco_setting_t  s = { .name = name, .type = type, .min = min, .max = max };
    char           text[128];

    if (v >= min && v <= max) {
        return PCO_OK;
    }
    pco_conf_range_text(&s, v, text, sizeof(text));
    pco_conf_error_src(cf, src, "%s: %s", name, text);
    return PCO_ERROR;
}

static int
pco_conf_parse_number(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                      int64_t *v)
{
    const char  *t;

    if (pco_conf_get_int(cs, v) == PCO_OK) {
        if (s->type == PCO_CONF_DURATION) {
            if (*v < 0 || *v > INT64_MAX / 1000) {
                pco_conf_error(cf, cs, "invalid duration %lld", (long long) *v);
                return PCO_ERROR;
            }
            *v *= 1000;
        } else if (s->type == PCO_CONF_SIZE && *v < 0) {
            pco_conf_error(cf, cs, "invalid size %lld", (long long) *v);
            return PCO_ERROR;
        }
        return pco_conf_bounds(cf, s, cs, *v);
    }
    if (config_setting_type(cs) != CONFIG_TYPE_STRING) {
        return pco_conf_bad_type(cf, s, cs);
    }
    t = config_setting_get_string(cs);
    if (s->type == PCO_CONF_INT) {
        if ((s->flags & PCO_CONF_AUTO) && strcmp(t, "auto") == 0) {
            *v = -1;
            return PCO_OK;
        }
        return pco_conf_bad_type(cf, s, cs);
    }
    if (s->type == PCO_CONF_SIZE && pco_parse_size(t, v) != PCO_OK) {
        pco_conf_error(cf, cs, "invalid size \"%s\" (expected a number with an optional "
                       "k, m or g suffix)", t);
        return PCO_ERROR;
    }
    if (s->type == PCO_CONF_DURATION && pco_parse_duration(t, v) != PCO_OK) {
        pco_conf_error(cf, cs, "invalid duration \"%s\" (expected a number with a ms, s, m, "
                       "h or d suffix)", t);
        return PCO_ERROR;
    }
    return pco_conf_bounds(cf, s, cs, *v);
}

/* The flags that restrict what a string may hold (checked at load time, -t too). */
static int
pco_conf_check_text(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                    const char *t, size_t l)
{
    size_t  i;

    if ((s->flags & PCO_CONF_TOKEN) && !pco_str_is_token((const u_char *) t, l)) {
        pco_conf_error(cf, cs, "invalid header name \"%s\" (expected a token: letters, digits "
                       "and !#$%%&'*+-.^_`|~)", t);
        return PCO_ERROR;
    }
    if ((s->flags & PCO_CONF_NOCTL) && pco_str_has_ctl((const u_char *) t, l)) {
        for (i = 0; i < l && !pco_str_has_ctl((const u_char *) t + i, 1); i++) {
            /* find it */
        }
        pco_conf_error(cf, cs, "control character 0x%02x (only tab is allowed: this text "
                       "goes into a header line, which CR or LF would split)", (u_char) t[i]);
        return PCO_ERROR;
    }
    return PCO_OK;
}

static int
pco_conf_parse_string(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                      pco_str_t *str)
{
    const char  *t = config_setting_get_string(cs);
    size_t       l = strlen(t);

    if (pco_conf_check_text(cf, s, cs, t, l) != PCO_OK) {
        return PCO_ERROR;
    }

    str->data = (u_char *) pco_pstrndup(cf->pool, t, l);
    if (str->data == NULL) {
        pco_conf_error(cf, cs, "out of memory");
        return PCO_ERROR;
    }
    str->len = l;
    return PCO_OK;
}

static int
pco_conf_parse_enum(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                    int *field)
{
    const char  *t;
    char         list[512];
    size_t       len = 0;
    int          i;

    if (config_setting_type(cs) == CONFIG_TYPE_STRING) {
        t = config_setting_get_string(cs);
        for (i = 0; s->values != NULL && s->values[i] != NULL; i++) {
            if (strcmp(s->values[i], t) == 0) {
                *field = i;
                return PCO_OK;
            }
        }
    }
    list[0] = '\0';
    for (i = 0; s->values != NULL && s->values[i] != NULL && len < sizeof(list); i++) {
        len += (size_t) snprintf(list + len, sizeof(list) - len, "%s\"%s\"", i ? ", " : "",
                                 s->values[i]);
    }
    if (config_setting_type(cs) == CONFIG_TYPE_STRING) {
        pco_conf_error(cf, cs, "invalid value \"%s\", expected one of %s",
                       config_setting_get_string(cs), list);
    } else {
        pco_conf_error(cf, cs, "expected one of %s, got %s", list, pco_conf_type_name(cs));
    }
    return PCO_ERROR;
}

static int
pco_conf_parse_strlist(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                       void *field)
{
    bool                     ints = (s->type == PCO_CONF_INTLIST);
    int                      scalar = ints ? CONFIG_TYPE_INT : CONFIG_TYPE_STRING;
    int                      type = config_setting_type(cs), n, i, rc = PCO_OK;
    const config_setting_t  *e;
    pco_str_list_t          *sl = field;
    pco_int_list_t          *il = field;
    int64_t                  v;

    if (type == scalar || (ints && type == CONFIG_TYPE_INT64)) {
        n = 1;
    } else if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST) {
        n = config_setting_length(cs);
    } else {
        return pco_conf_bad_type(cf, s, cs);
    }
    if (ints) {
        il->n = 0;
        il->elts = pco_pcalloc(cf->pool, sizeof(int64_t) * (size_t) (n ? n : 1));
    } else {
        sl->n = 0;
        sl->elts = pco_pcalloc(cf->pool, sizeof(pco_str_t) * (size_t) (n ? n : 1));
    }
    if (ints ? il->elts == NULL : sl->elts == NULL) {
        pco_conf_error(cf, cs, "out of memory");
        return PCO_ERROR;
    }
    for (i = 0; i < n; i++) {
        e = (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST)
            ? config_setting_get_elem(cs, (unsigned) i) : cs;
        if (ints) {
            if (pco_conf_get_int(e, &v) != PCO_OK) {
                rc = pco_conf_bad_type(cf, s, e);
                continue;
            }
            if (pco_conf_bounds(cf, s, e, v) != PCO_OK) {
                rc = PCO_ERROR;
                continue;
            }
            il->elts[il->n++] = v;
        } else {
            if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                rc = pco_conf_bad_type(cf, s, e);
                continue;
            }
            if (pco_conf_parse_string(cf, s, e, &sl->elts[sl->n]) != PCO_OK) {
                rc = PCO_ERROR;
                continue;
            }
            sl->n++;
        }
    }
    return rc;
}

/* Records where member field (of size) was written as e, when it lies in the current sink. */
static void
pco_conf_record(pco_conf_t *cf, const config_setting_t *e, u_char *field, size_t size)
{
    struct pco_conf_sink_s  *k = cf->sink;
    pco_conf_msrc_t         *r;

    if (k == NULL || field < k->base || field >= k->base + k->size) {
        return;
    }
    r = pco_palloc(cf->pool, sizeof(pco_conf_msrc_t));
    if (r == NULL) {
        return;                          /* only a message's line is lost */
    }
    r->off = (size_t) (field - k->base);
    r->size = size;
    pco_conf_src_set(cf, &r->src, e);
    r->next = *k->head;
    *k->head = r;
}

/* Parses the members of group cs into the struct at base. A member that fails keeps its
 * default; when it is optional the group stays usable (PCO_DECLINED), so that the module's
 * checks of the other members run too. A required member missing or failed leaves nothing
 * to check (its default is no value): PCO_ERROR. */
static int
pco_conf_parse_group(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                     u_char *base)
{
    const pco_setting_t     *m, *found;
    const config_setting_t  *e;
    const char              *name, *best;
    size_t                   bestd;
    unsigned                 errors = cf->errors;
    int                      i, n, rc = PCO_OK;

    if (config_setting_type(cs) != CONFIG_TYPE_GROUP) {
        return pco_conf_bad_type(cf, s, cs);
    }
    pco_conf_fill_members(cf, s->sub, base);
    n = config_setting_length(cs);
    for (i = 0; i < n; i++) {
        e = config_setting_get_elem(cs, (unsigned) i);
        name = config_setting_name(e);
        found = NULL;
        best = NULL;
        bestd = SIZE_MAX;
        for (m = s->sub; m != NULL && m->name != NULL; m++) {
            if (strcmp(m->name, name) == 0) {
                found = m;
                break;
            }
            pco_conf_suggest(name, m->name, &best, &bestd);
        }
        if (found == NULL) {
            pco_conf_unknown(cf, e, best);
            rc = (rc == PCO_OK) ? PCO_DECLINED : rc;
            continue;
        }
        switch (pco_conf_parse_value(cf, found, e, base + found->offset)) {
        case PCO_OK:
        case PCO_DECLINED:
            pco_conf_record(cf, e, base + found->offset, pco_conf_setting_size(found));
            break;
        default:
            /* a list or group may be half-filled: back to what it was when not written */
            memset(base + found->offset, 0, pco_conf_setting_size(found));
            pco_conf_fill_default(cf, found, base + found->offset);
            if (found->flags & PCO_CONF_REQUIRED) {
                rc = PCO_ERROR;
            } else if (rc == PCO_OK) {
                rc = PCO_DECLINED;
            }
            break;
        }
    }
    for (m = s->sub; m != NULL && m->name != NULL; m++) {
        if ((m->flags & PCO_CONF_REQUIRED) && config_setting_get_member(cs, m->name) == NULL) {
            pco_conf_error(cf, cs, "missing \"%s\"", m->name);
            rc = PCO_ERROR;
        }
    }
    if (rc == PCO_OK && cf->errors != errors) {
        rc = PCO_DECLINED;               /* a member's own member failed */
    }
    return rc;
}

static int
pco_conf_parse_list(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                    pco_conf_list_t *l)
{
    int                      type = config_setting_type(cs), n, i, rc = PCO_OK, erc;
    const config_setting_t  *e;
    struct pco_conf_sink_s   sink, *saved = cf->sink;

    if (type == CONFIG_TYPE_GROUP) {
        n = 1;
    } else if (type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY) {
        n = config_setting_length(cs);
    } else {
        return pco_conf_bad_type(cf, s, cs);
    }
    l->n = 0;
    l->elts = pco_pcalloc(cf->pool, s->elt_size * (size_t) (n ? n : 1));
    l->src = pco_pcalloc(cf->pool, sizeof(pco_conf_src_t) * (size_t) (n ? n : 1));
    l->msrc = pco_pcalloc(cf->pool, sizeof(pco_conf_msrc_t *) * (size_t) (n ? n : 1));
    if (l->elts == NULL || l->src == NULL || l->msrc == NULL) {
        pco_conf_error(cf, cs, "out of memory");
        return PCO_ERROR;
    }
    for (i = 0; i < n; i++) {
        e = (type == CONFIG_TYPE_GROUP) ? cs : config_setting_get_elem(cs, (unsigned) i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            rc = pco_conf_bad_type(cf, s, e);
            continue;
        }
        pco_conf_src_set(cf, &l->src[l->n], e);
        /* the element's members are recorded beside the element, not in the module conf */
        sink.base = (u_char *) l->elts + l->n * s->elt_size;
        sink.size = s->elt_size;
        sink.head = &l->msrc[l->n];
        cf->sink = saved ? &sink : NULL;
        erc = pco_conf_parse_group(cf, s, e, sink.base);
        cf->sink = saved;
        if (erc == PCO_ERROR) {
            rc = PCO_ERROR;
        } else if (erc == PCO_DECLINED && rc == PCO_OK) {
            rc = PCO_DECLINED;
        }
        l->n++;
    }
    return rc;
}

/* Type-checks cs against s and stores it into field. */
int
pco_conf_parse_value(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                     void *field)
{
    int64_t  v;

    if ((s->flags & PCO_CONF_FALSE_OFF) && config_setting_type(cs) == CONFIG_TYPE_BOOL
        && !config_setting_get_bool(cs))
    {
        memset(field, 0, pco_conf_setting_size(s));
        return PCO_OK;
    }

    switch (s->type) {
    case PCO_CONF_BOOL:
        if (config_setting_type(cs) != CONFIG_TYPE_BOOL) {
            return pco_conf_bad_type(cf, s, cs);
        }
        *(bool *) field = config_setting_get_bool(cs) ? true : false;
        return PCO_OK;
    case PCO_CONF_INT:
    case PCO_CONF_SIZE:
    case PCO_CONF_DURATION:
        if (pco_conf_parse_number(cf, s, cs, &v) != PCO_OK) {
            return PCO_ERROR;
        }
        memcpy(field, &v, sizeof(int64_t));
        return PCO_OK;
    case PCO_CONF_STRING:
        if (config_setting_type(cs) != CONFIG_TYPE_STRING) {
            return pco_conf_bad_type(cf, s, cs);
        }
        return pco_conf_parse_string(cf, s, cs, field);
    case PCO_CONF_ENUM:
        return pco_conf_parse_enum(cf, s, cs, field);
    case PCO_CONF_STRLIST:
    case PCO_CONF_INTLIST:
        return pco_conf_parse_strlist(cf, s, cs, field);
    case PCO_CONF_GROUP:
        return pco_conf_parse_group(cf, s, cs, field);
    case PCO_CONF_LIST:
        return pco_conf_parse_list(cf, s, cs, field);
    case PCO_CONF_CUSTOM:
        if (s->custom == NULL) {
            pco_conf_error(cf, cs, "no parser for this setting");
            return PCO_ERROR;
        }
        return s->custom(cf, cs, field, s);
    default:
        pco_conf_error(cf, cs, "cannot be used here");
        return PCO_ERROR;
    }
}

/* ---- defaults -------------------------------------------------------------------------- */

/* Parses s->def (libconfig syntax) into field with the same code as the file's values. */
void
pco_conf_fill_default(pco_conf_t *cf, const pco_setting_t *s, void *field)
{
    config_t                 c;
    config_setting_t        *cs;
    char                    *text;
    size_t                   l;
    struct pco_conf_sink_s  *saved = cf->sink;

    if (s->type == PCO_CONF_GROUP) {
        pco_conf_fill_members(cf, s->sub, field);
    }
    if (s->def == NULL || s->type == PCO_CONF_SCOPE) {
        return;
    }
    l = strlen(s->name) + strlen(s->def) + 8;
    text = malloc(l);
    if (text == NULL) {
        cf->errors++;
        return;
    }
    cf->sink = NULL;                     /* a default is written nowhere */
    snprintf(text, l, "%s = %s;", s->name, s->def);
    config_init(&c);
    config_set_options(&c, config_get_options(&c) & ~CONFIG_OPTION_AUTOCONVERT);
    if (config_read_string(&c, text) != CONFIG_TRUE
        || (cs = config_lookup(&c, s->name)) == NULL)
    {
        fprintf(cf->err ? cf->err : stderr, "(default):%d: %s: invalid default %s\n",
                config_error_line(&c), s->name, s->def);
        cf->errors++;
    } else {
        (void) pco_conf_parse_value(cf, s, cs, field);
    }
    config_destroy(&c);
    free(text);
    cf->sink = saved;
}

void
pco_conf_fill_members(pco_conf_t *cf, const pco_setting_t *sub, u_char *base)
{
    for (; sub != NULL && sub->name != NULL; sub++) {
        pco_conf_fill_default(cf, sub, base + sub->offset);
    }
}

