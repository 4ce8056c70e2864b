/*
 * pco_conf_dump.c: the read-only side of the configuration loader. pco_conf_dump() prints
 * the effective configuration (-T) in libconfig syntax: every setting allowed in each scope
 * with its value after defaults and inheritance, durations and sizes in their units, scopes
 * as groups or lists of groups; the output loads again to the same effective configuration.
 * pco_conf_write_docs() writes the Markdown settings reference from the modules' tables
 * (docs/settings.md, via `make docs`).
 * Master only; touches no shared state.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>

static void pco_conf_dump_value(FILE *out, const pco_setting_t *s, const void *field,
                                int indent);

void
pco_conf_format_num(const pco_setting_t *s, int64_t v, char *buf, size_t size)
{
    static const struct {
        int64_t      mult;
        const char  *unit;
    } dur[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" }
    }, sz[] = {
        { 1024 * 1024 * 1024, "g" }, { 1024 * 1024, "m" }, { 1024, "k" }
    };
    size_t  i;

    if (s->type == PCO_CONF_DURATION) {
        if (v == 0) {
            snprintf(buf, size, "0s");
            return;
        }
        for (i = 0; i < pco_nelems(dur); i++) {
            if (v % dur[i].mult == 0) {
                snprintf(buf, size, "%" PRId64 "%s", v / dur[i].mult, dur[i].unit);
                return;
            }
        }
    }
    if (s->type == PCO_CONF_SIZE && v > 0) {
        for (i = 0; i < pco_nelems(sz); i++) {
            if (v % sz[i].mult == 0) {
                snprintf(buf, size, "%" PRId64 "%s", v / sz[i].mult, sz[i].unit);
                return;
            }
        }
    }
    snprintf(buf, size, "%" PRId64, v);
}

static void
pco_conf_dump_indent(FILE *out, int indent)
{
    fprintf(out, "%*s", indent * 2, "");
}

static void
pco_conf_dump_int(FILE *out, int64_t v)
{
    fprintf(out, "%" PRId64 "%s", v, (v > INT32_MAX || v < INT32_MIN) ? "L" : "");
}

static void
pco_conf_dump_string(FILE *out, const u_char *p, size_t len)
{
    size_t  i;

    fputc('"', out);
    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case '"':  fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (p[i] < 0x20 || p[i] == 0x7f) {
                fprintf(out, "\\x%02x", p[i]);
            } else {
                fputc(p[i], out);
            }
        }
    }
    fputc('"', out);
}

/* Re-serializes a value as written (CUSTOM settings without a dump callback). */
static void
pco_conf_dump_cs(FILE *out, const config_setting_t *cs, int indent)
{
    const config_setting_t  *e;
    const char              *t;
    int                      i, n, type = config_setting_type(cs);
    char                     num[64];

    switch (type) {
    case CONFIG_TYPE_INT:
        fprintf(out, "%d", config_setting_get_int(cs));
        return;
    case CONFIG_TYPE_INT64:
        fprintf(out, "%" PRId64 "L", (int64_t) config_setting_get_int64(cs));
        return;
    case CONFIG_TYPE_FLOAT:
        snprintf(num, sizeof(num), "%.17g", config_setting_get_float(cs));
        fprintf(out, "%s%s", num, strpbrk(num, ".eEni") ? "" : ".0");
        return;
    case CONFIG_TYPE_BOOL:
        fputs(config_setting_get_bool(cs) ? "true" : "false", out);
        return;
    case CONFIG_TYPE_STRING:
        t = config_setting_get_string(cs);
        pco_conf_dump_string(out, (const u_char *) t, strlen(t));
        return;
    default:
        break;
    }
    n = config_setting_length(cs);
    if (type == CONFIG_TYPE_GROUP) {
        fputs("{\n", out);
        for (i = 0; i < n; i++) {
            e = config_setting_get_elem(cs, (unsigned) i);
            pco_conf_dump_indent(out, indent + 1);
            fprintf(out, "%s = ", config_setting_name(e));
            pco_conf_dump_cs(out, e, indent + 1);
            fputs(";\n", out);
        }
        pco_conf_dump_indent(out, indent);
        fputc('}', out);
        return;
    }
    fputs(type == CONFIG_TYPE_ARRAY ? "[ " : "( ", out);
    for (i = 0; i < n; i++) {
        pco_conf_dump_cs(out, config_setting_get_elem(cs, (unsigned) i), indent + 1);
        fputs(i + 1 < n ? ", " : " ", out);
    }
    fputs(type == CONFIG_TYPE_ARRAY ? "]" : ")", out);
}

static bool
pco_conf_all_zero(const void *p, size_t n)
{
    const u_char  *b = p;
    size_t         i;

    for (i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Whether the value can be printed so that it loads again (zero values that the parser
 * would reject, e.g. a bounded integer never set, are left out). */
static bool
pco_conf_dumpable(const pco_setting_t *s, const void *field)
{
    int64_t  v;
    int      idx;

    switch (s->type) {
    case PCO_CONF_INT:
    case PCO_CONF_SIZE:
    case PCO_CONF_DURATION:
        memcpy(&v, field, sizeof(v));
        if (s->type == PCO_CONF_INT && v == -1 && (s->flags & PCO_CONF_AUTO)) {
            return true;
        }
        return s->min == s->max || (v >= s->min && v <= s->max);
    case PCO_CONF_STRING:
        return ((const pco_str_t *) field)->data != NULL
               || ((s->flags & PCO_CONF_FALSE_OFF) != 0);
    case PCO_CONF_ENUM:
        memcpy(&idx, field, sizeof(idx));
        for (v = 0; s->values != NULL && s->values[v] != NULL; v++) {
            /* count */
        }
        return idx >= 0 && idx < v;
    case PCO_CONF_CUSTOM:
        return s->dump != NULL;
    case PCO_CONF_SCOPE:
        return false;
    default:
        return true;
    }
}

static void
pco_conf_dump_members(FILE *out, const pco_setting_t *sub, const u_char *base, int indent)
{
    for (; sub != NULL && sub->name != NULL; sub++) {
        if (!pco_conf_dumpable(sub, base + sub->offset)) {
            continue;
        }
        pco_conf_dump_indent(out, indent);
        fprintf(out, "%s = ", sub->name);
        pco_conf_dump_value(out, sub, base + sub->offset, indent);
        fputs(";\n", out);
    }
}

/* STRLIST, INTLIST, GROUP and LIST values. */
static void
pco_conf_dump_list(FILE *out, const pco_setting_t *s, const void *field, int indent)
{
    const pco_str_list_t   *sl = field;
    const pco_int_list_t   *il = field;
    const pco_conf_list_t  *l = field;
    size_t                  i;

    switch (s->type) {
    case PCO_CONF_STRLIST:
        fputs("[ ", out);
        for (i = 0; i < sl->n; i++) {
            pco_conf_dump_string(out, sl->elts[i].data, sl->elts[i].len);
            fputs(i + 1 < sl->n ? ", " : " ", out);
        }
        fputc(']', out);
        break;
    case PCO_CONF_INTLIST:
        /* a list, not an array: int and int64 elements may mix */
        fputs("( ", out);
        for (i = 0; i < il->n; i++) {
            pco_conf_dump_int(out, il->elts[i]);
            fputs(i + 1 < il->n ? ", " : " ", out);
        }
        fputc(')', out);
        break;
    case PCO_CONF_GROUP:
        fputs("{\n", out);
        pco_conf_dump_members(out, s->sub, field, indent + 1);
        pco_conf_dump_indent(out, indent);
        fputc('}', out);
        break;
    case PCO_CONF_LIST:
        fputs("(", out);
        for (i = 0; i < l->n; i++) {
            fputs(i ? ",\n" : "\n", out);
            pco_conf_dump_indent(out, indent + 1);
            fputs("{\n", out);
            pco_conf_dump_members(out, s->sub, (const u_char *) l->elts + i * s->elt_size,
                                  indent + 2);
            pco_conf_dump_indent(out, indent + 1);
            fputc('}', out);
        }
        if (l->n) {
            fputc('\n', out);
            pco_conf_dump_indent(out, indent);
        }
        fputc(')', out);
        break;
    default:
        break;
    }
}

static void
pco_conf_dump_value(FILE *out, const pco_setting_t *s, const void *field, int indent)
{
    const pco_str_t        *str = field;
    int64_t                 v;
    int                     idx;
    char                    buf[64];

    if ((s->flags & PCO_CONF_FALSE_OFF)
        && pco_conf_all_zero(field, pco_conf_setting_size(s)))
    {
        fputs("false", out);
        return;
    }
    switch (s->type) {
    case PCO_CONF_BOOL:
        fputs(*(const bool *) field ? "true" : "false", out);
        return;
    case PCO_CONF_INT:
        memcpy(&v, field, sizeof(v));
        if (v == -1 && (s->flags & PCO_CONF_AUTO)) {
            fputs("\"auto\"", out);
        } else {
            pco_conf_dump_int(out, v);
        }
        return;
    case PCO_CONF_SIZE:
    case PCO_CONF_DURATION:
        memcpy(&v, field, sizeof(v));
        pco_conf_format_num(s, v, buf, sizeof(buf));
        if (s->type == PCO_CONF_SIZE && buf[strlen(buf) - 1] <= '9') {
            pco_conf_dump_int(out, v);
        } else {
            fprintf(out, "\"%s\"", buf);
        }
        return;
    case PCO_CONF_STRING:
        pco_conf_dump_string(out, str->data, str->len);
        return;
    case PCO_CONF_ENUM:
        memcpy(&idx, field, sizeof(idx));
        fprintf(out, "\"%s\"", s->values[idx]);
        return;
    case PCO_CONF_STRLIST:
    case PCO_CONF_INTLIST:
    case PCO_CONF_GROUP:
    case PCO_CONF_LIST:
        pco_conf_dump_list(out, s, field, indent);
        return;
    case PCO_CONF_CUSTOM:
        if (s->dump != NULL) {
            s->dump(out, field, s);
        }
        return;
    default:
        return;
    }
}

static void pco_conf_dump_node(FILE *out, const pco_conf_node_t *node, int indent);

static void
pco_conf_dump_commented(FILE *out, const pco_setting_t *s, const void *field, int indent,
                        const char *note)
{
    char    *buf = NULL, *line, *nl;
    size_t   len = 0;
    FILE    *mem = open_memstream(&buf, &len);

    if (mem == NULL) {
        return;
    }
    fprintf(mem, "%s = ", s->name);
    pco_conf_dump_value(mem, s, field, 0);
    fprintf(mem, ";  (%s)\n", note);
    fclose(mem);
    for (line = buf; line != NULL && *line != '\0'; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        pco_conf_dump_indent(out, indent);
        fprintf(out, "# %.*s\n", (int) (nl ? nl - line : (ptrdiff_t) strlen(line)), line);
    }
    free(buf);
}

static void
pco_conf_dump_setting(FILE *out, const pco_conf_hdr_t *h, size_t k, const void *conf,
                      int indent)
{
    const pco_setting_t      *s = &h->module->settings[k];
    const void               *field = (const u_char *) conf + s->offset;
    bool                      set = pco_conf_hdr_isset(h, k);
    const config_setting_t   *cs = h->cs[k];

    if (s->type == PCO_CONF_CUSTOM && s->dump == NULL) {
        if (!set || cs == NULL) {
            return;
        }
        pco_conf_dump_indent(out, indent);
        fprintf(out, "%s = ", s->name);
        pco_conf_dump_cs(out, cs, indent);
        fputs(";\n", out);
        return;
    }
    if (!set && s->def == NULL && s->type == PCO_CONF_CUSTOM) {
        return;
    }
    if (!set && s->def == NULL && s->type == PCO_CONF_GROUP) {
        /* never written: show the member defaults as a comment, so that loading the dump
         * does not turn an unset group into a set one */
        pco_conf_dump_commented(out, s, field, indent, "not set");
        return;
    }
    if (s->flags & PCO_CONF_DUMP_NOTE) {
        /* include: what the files hold is in the dump already; loading the dump again
         * must not add it twice */
        if (set) {
            pco_conf_dump_commented(out, s, field, indent, "read: their contents are below");
        }
        return;
    }
    if (!pco_conf_dumpable(s, field)) {
        return;
    }
    pco_conf_dump_indent(out, indent);
    fprintf(out, "%s = ", s->name);
    pco_conf_dump_value(out, s, field, indent);
    fputs(";\n", out);
}

static void
pco_conf_dump_scope(FILE *out, const pco_conf_node_t *node, const pco_setting_t *s,
                    int indent)
{
    const pco_conf_xnode_t  *x;
    size_t                   i, n = 0;
    bool                     list = false;

    for (i = 0; i < node->nchildren; i++) {
        x = (const pco_conf_xnode_t *) node->children[i];
        if (x->by == s) {
            list |= x->is_list;
            n++;
        }
    }
    if (n == 0) {
        return;
    }
    list |= (n > 1);
    pco_conf_dump_indent(out, indent);
    fprintf(out, "%s = %s", s->name, list ? "(\n" : "");
    for (i = 0; i < node->nchildren; i++) {
        x = (const pco_conf_xnode_t *) node->children[i];
        if (x->by != s) {
            continue;
        }
        if (list) {
            pco_conf_dump_indent(out, indent + 1);
        }
        fputs("{\n", out);
        pco_conf_dump_node(out, &x->node, indent + 1 + list);
        pco_conf_dump_indent(out, indent + list);
        fputs(--n ? "},\n" : "}", out);
    }
    if (list) {
        fputc('\n', out);
        pco_conf_dump_indent(out, indent);
        fputc(')', out);
    }
    fputs(";\n", out);
}

static void
pco_conf_dump_node(FILE *out, const pco_conf_node_t *node, int indent)
{
    const pco_module_t   *m;
    const pco_setting_t  *s;
    const pco_conf_hdr_t *h;
    size_t                i, k;

    for (i = 0; pco_modules[i] != NULL; i++) {
        m = pco_modules[i];
        if (node->confs[m->index] == NULL) {
            continue;
        }
        h = pco_conf_hdr(node->confs[m->index]);
        for (k = 0; k < h->n; k++) {
            s = &m->settings[k];
            if ((s->scopes & node->scope) && s->type != PCO_CONF_SCOPE) {
                pco_conf_dump_setting(out, h, k, node->confs[m->index], indent);
            }
        }
    }
    for (i = 0; pco_modules[i] != NULL; i++) {
        for (s = pco_modules[i]->settings; s != NULL && s->name != NULL; s++) {
            if ((s->scopes & node->scope) && s->type == PCO_CONF_SCOPE) {
                pco_conf_dump_scope(out, node, s, indent);
            }
        }
    }
}

void
pco_conf_dump(pco_conf_t *cf, FILE *out)
{
    size_t  i;

    fprintf(out, "# effective configuration of %s\n", cf->file ? cf->file : "?");
    for (i = 0; i < cf->nincluded; i++) {
        fprintf(out, "# included: %s\n", cf->included[i]);
    }
    if (cf->root != NULL) {
        pco_conf_dump_node(out, cf->root, 0);
    }
}

/* ---- docs ------------------------------------------------------------------------------ */

static const char *
pco_conf_scope_name(unsigned bit)
{
    const pco_setting_t  *s;
    size_t                i;

    if (bit == PCO_SCOPE_TOP) {
        return "top";
    }
    for (i = 0; pco_modules[i] != NULL; i++) {
        for (s = pco_modules[i]->settings; s != NULL && s->name != NULL; s++) {
            if (s->type == PCO_CONF_SCOPE && s->child_scope == bit) {
                return s->name;
            }
        }
    }
    return "?";
}

static const char *
pco_conf_type_doc(pco_conf_type_e t)
{
    static const char *const names[] = {
        "?", "bool", "int", "size", "duration", "string", "enum", "string list", "int list",
        "group", "list of groups", "custom", "scope"
    };

    return ((size_t) t < pco_nelems(names)) ? names[t] : "?";
}

static void
pco_conf_doc_text(FILE *out, const char *t)
{
    for (; t != NULL && *t != '\0'; t++) {
        if (*t == '|') {
            fputs("\\|", out);
        } else {
            fputc(*t, out);
        }
    }
}

static void
pco_conf_doc_rows(FILE *out, const pco_setting_t *s, const char *prefix, bool top)
{
    unsigned  bit;
    int       i, first;

    for (; s != NULL && s->name != NULL; s++) {
        fprintf(out, "| `%s%s` | ", prefix, s->name);
        first = 1;
        for (bit = 1; top && bit != 0 && bit <= 0x8000u; bit <<= 1) {
            if (s->scopes & bit) {
                fprintf(out, "%s%s", first ? "" : ", ", pco_conf_scope_name(bit));
                first = 0;
            }
        }
        fprintf(out, "%s | %s", top ? "" : "(member)", pco_conf_type_doc(s->type));
        if (s->type == PCO_CONF_ENUM) {
            fputs(": ", out);
            for (i = 0; s->values != NULL && s->values[i] != NULL; i++) {
                fprintf(out, "%s`%s`", i ? ", " : "", s->values[i]);
            }
        }
        if (s->min != s->max) {
            char  a[32], b[32];

            pco_conf_format_num(s, s->min, a, sizeof(a));
            pco_conf_format_num(s, s->max, b, sizeof(b));
            fprintf(out, " %s..%s", a, b);
        }
        if (s->flags & PCO_CONF_REQUIRED) {
            fputs(", required", out);
        }
        fputs(" | ", out);
        if (s->def != NULL) {
            fputc('`', out);
            pco_conf_doc_text(out, s->def);
            fputc('`', out);
        }
        fputs(" | ", out);
        pco_conf_doc_text(out, s->help);
        fputs(" |\n", out);
        if (s->sub != NULL) {         /* GROUP/LIST, or a CUSTOM that lists its members */
            char  p[256];

            snprintf(p, sizeof(p), "%s%s.", prefix, s->name);
            pco_conf_doc_rows(out, s->sub, p, false);
        }
    }
}

void
pco_conf_write_docs(FILE *out)
{
    size_t  i;

    fputs("# Settings\n\nGenerated by `make docs` from the settings tables of the modules "
          "compiled into the default build; do not edit by hand.\n", out);
    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->settings == NULL || pco_modules[i]->settings[0].name == NULL) {
            continue;
        }
        fprintf(out, "\n## %s\n\n| setting | scopes | type | default | help |\n"
                "|---|---|---|---|---|\n", pco_modules[i]->name);
        pco_conf_doc_rows(out, pco_modules[i]->settings, "", true);
    }
}
