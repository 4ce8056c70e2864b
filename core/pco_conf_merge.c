/*
 * pco_conf_merge.c: copying settings between libconfig trees with their origin. The -g text
 * is read on its own and merged into the main file's tree (groups merge member by member,
 * anything else replaces), and the lists of the files named by `include` are appended to it
 * (pco_conf_include.c); every setting copied keeps the file and line it was written at
 * through a libconfig hook (pco_conf_gsrc_t), which is what the messages show (pco_conf.c).
 * Master only; memory: cf->pool and the main tree.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>

/* The name shown for where src was written: o->label, or for a file that the included file
 * pulls in with libconfig's @include, that file joined to the include directory as the main
 * file's @includes are shown (pco_conf_cs_where). The last name made is remembered: the
 * settings of one file come in a row. */
static const char *
pco_conf_origin_file(pco_conf_t *cf, pco_conf_origin_t *o, const config_setting_t *src)
{
    const char  *f = o->from ? config_setting_source_file(src) : NULL;
    const char  *dir;
    char        *p;
    size_t       l;

    if (f == NULL || strcmp(f, o->label) == 0) {
        return o->label;
    }
    if (f == o->raw) {
        return o->shown;
    }
    dir = config_get_include_dir(o->from);
    if (f[0] == '/' || dir == NULL) {
        p = pco_pstrndup(cf->pool, f, strlen(f));
    } else {
        l = strlen(dir) + strlen(f) + 2;
        p = pco_pnalloc(cf->pool, l);
        if (p != NULL) {
            snprintf(p, l, "%s/%s", dir, f);
        }
    }
    if (p == NULL) {
        return o->label;
    }
    o->raw = f;
    o->shown = pco_conf_show_file(p);
    return o->shown;
}

int
pco_conf_set_origin(pco_conf_t *cf, config_setting_t *cs, const char *file, int line)
{
    pco_conf_gsrc_t  *g = pco_palloc(cf->pool, sizeof(pco_conf_gsrc_t));

    if (g == NULL) {
        return PCO_ERROR;
    }
    g->file = file;
    g->line = line;
    config_setting_set_hook(cs, g);
    return PCO_OK;
}

int
pco_conf_copy(pco_conf_t *cf, config_setting_t *dst, const config_setting_t *src,
              pco_conf_origin_t *o)
{
    config_setting_t  *d;
    const char        *name;
    int                i, n, type;

    if (pco_conf_set_origin(cf, dst, pco_conf_origin_file(cf, o, src),
                            config_setting_source_line(src)) != PCO_OK)
    {
        return PCO_ERROR;
    }

    switch (config_setting_type(src)) {
    case CONFIG_TYPE_INT:
        return config_setting_set_int(dst, config_setting_get_int(src)) ? PCO_OK : PCO_ERROR;
    case CONFIG_TYPE_INT64:
        return config_setting_set_int64(dst, config_setting_get_int64(src)) ? PCO_OK
                                                                              : PCO_ERROR;
    case CONFIG_TYPE_FLOAT:
        return config_setting_set_float(dst, config_setting_get_float(src)) ? PCO_OK
                                                                              : PCO_ERROR;
    case CONFIG_TYPE_STRING:
        return config_setting_set_string(dst, config_setting_get_string(src)) ? PCO_OK
                                                                                : PCO_ERROR;
    case CONFIG_TYPE_BOOL:
        return config_setting_set_bool(dst, config_setting_get_bool(src)) ? PCO_OK
                                                                            : PCO_ERROR;
    default:
        break;
    }
    n = config_setting_length(src);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(src, (unsigned) i);

        type = config_setting_type(e);
        name = (config_setting_type(src) == CONFIG_TYPE_GROUP) ? config_setting_name(e) : NULL;
        d = config_setting_add(dst, name, type);
        if (d == NULL || pco_conf_copy(cf, d, e, o) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* Merges group src into group dst: groups merge recursively, anything else replaces. */
static int
pco_conf_merge(pco_conf_t *cf, config_setting_t *dst, const config_setting_t *src,
               pco_conf_origin_t *o)
{
    const config_setting_t  *e;
    config_setting_t        *d;
    const char              *name;
    int                      i, n = config_setting_length(src);

    for (i = 0; i < n; i++) {
        e = config_setting_get_elem(src, (unsigned) i);
        name = config_setting_name(e);
        d = config_setting_get_member(dst, name);
        if (d != NULL && config_setting_type(d) == CONFIG_TYPE_GROUP
            && config_setting_type(e) == CONFIG_TYPE_GROUP)
        {
            if (pco_conf_merge(cf, d, e, o) != PCO_OK) {
                return PCO_ERROR;
            }
            continue;
        }
        if (d != NULL) {
            config_setting_remove(dst, name);
        }
        d = config_setting_add(dst, name, config_setting_type(e));
        if (d == NULL || pco_conf_copy(cf, d, e, o) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

int
pco_conf_load_extra(pco_conf_t *cf, const char *extra)
{
    config_t           c;
    int                rc = PCO_OK;
    pco_conf_origin_t  o = { .label = "-g" };

    config_init(&c);
    config_set_options(&c, config_get_options(&c) & ~CONFIG_OPTION_AUTOCONVERT);
    if (config_read_string(&c, extra) != CONFIG_TRUE) {
        char  shown[PCO_CONF_HINT_SHOWN + 8], hint[256];

        shown[0] = hint[0] = '\0';
        if (strcmp(config_error_text(&c), "syntax error") == 0) {
            pco_conf_syntax_hint(extra, strlen(extra), config_error_line(&c), shown,
                                 sizeof(shown), hint, sizeof(hint));
        }
        fprintf(cf->err ? cf->err : stderr, "-g:%d: %s%s%s%s%s%s\n", config_error_line(&c),
                config_error_text(&c), shown[0] ? " in `" : "", shown, shown[0] ? "`" : "",
                hint[0] ? ": " : "", hint);
        cf->errors++;
        config_destroy(&c);
        return PCO_ERROR;
    }
    pco_conf_widen_ints(&c, NULL, extra);
    if (pco_conf_merge(cf, config_root_setting(&cf->config), config_root_setting(&c), &o)
        != PCO_OK)
    {
        fprintf(cf->err ? cf->err : stderr, "-g: cannot merge the settings\n");
        cf->errors++;
        rc = PCO_ERROR;
    }
    config_destroy(&c);
    return rc;
}
