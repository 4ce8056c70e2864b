/*
 * pco_conf_defaults.c: checks every module's default values once, at start-up (and for
 * -t/-T), before any configuration is read. A default is written in configuration syntax
 * and parsed by the loader's own code; one that does not parse would otherwise fail every
 * configuration with an error that names neither the module nor the cause. Here it stops
 * the start with one line per bad default:
 *     portico: module "NAME": setting "PATH": invalid default VALUE: the parser's message
 * Touches no shared state; everything it allocates is freed before it returns.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    pco_conf_t            *cf;       /* a scratch loading context whose errors go to a buffer */
    char                 **text;     /* that buffer */
    size_t                *len;
    const pco_module_t    *module;
    FILE                  *err;      /* where the findings go */
    unsigned               bad;
} pco_conf_defcheck_t;

/* The parser's message without its "(default):LINE: NAME: " lead. */
static const char *
pco_conf_defcheck_reason(const char *msg, const char *name)
{
    const char  *p = msg;
    size_t       n = strlen(name);

    if (strncmp(p, "(default):", 10) == 0) {
        p = strchr(p + 10, ':');
        p = p != NULL ? p + 1 : msg;
        while (*p == ' ') {
            p++;
        }
    }
    if (strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ') {
        p += n + 2;
    }
    return p;
}

static void
pco_conf_defcheck_one(pco_conf_defcheck_t *dc, const pco_setting_t *s, const char *path)
{
    pco_conf_t  *cf = dc->cf;
    unsigned     before = cf->errors;
    size_t       size = pco_conf_setting_size(s);
    u_char      *field;

    if (s->def == NULL || s->type == PCO_CONF_SCOPE || s->type == PCO_CONF_GROUP) {
        return;
    }
    /* A custom parser's field size is its own business: give it room to spare. */
    field = calloc(1, size + 4096);
    if (field == NULL) {
        dc->bad++;
        return;
    }
    rewind(cf->err);
    pco_conf_fill_default(cf, s, field);
    fflush(cf->err);
    if (cf->errors != before) {
        char *nl;

        (*dc->text)[pco_min(*dc->len, (size_t) ftell(cf->err))] = '\0';
        nl = strchr(*dc->text, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        fprintf(dc->err, "%s: module \"%s\": setting \"%s\": invalid default %s: %s\n",
                PCO_NAME, dc->module->name, path, s->def,
                pco_conf_defcheck_reason(*dc->text, s->name));
        dc->bad++;
    }
    free(field);
}

/* Walks a settings table; groups and list elements are walked member by member. */
static void
pco_conf_defcheck_table(pco_conf_defcheck_t *dc, const pco_setting_t *table, const char *prefix)
{
    const pco_setting_t  *s;
    char                  path[256];

    for (s = table; s != NULL && s->name != NULL; s++) {
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", s->name);
        if (s->type == PCO_CONF_GROUP || s->type == PCO_CONF_LIST) {
            pco_conf_defcheck_table(dc, s->sub, path);
        }
        pco_conf_defcheck_one(dc, s, path);
    }
}

int
pco_conf_check_defaults(FILE *err)
{
    pco_conf_defcheck_t  dc;
    pco_conf_t           cf;
    char                *text = NULL;
    size_t               len = 0, i;

    memset(&cf, 0, sizeof(cf));
    memset(&dc, 0, sizeof(dc));
    cf.pool = pco_pool_create(4096, 16 * 1024 * 1024);
    cf.err = open_memstream(&text, &len);
    if (cf.pool == NULL || cf.err == NULL) {
        fprintf(err, "%s: out of memory checking module defaults\n", PCO_NAME);
        goto done;
    }
    cf.file = "(default)";
    cf.test_only = true;
    dc.cf = &cf;
    dc.text = &text;
    dc.len = &len;
    dc.err = err;
    for (i = 0; pco_modules[i] != NULL; i++) {
        dc.module = pco_modules[i];
        pco_conf_defcheck_table(&dc, pco_modules[i]->settings, "");
    }

done:
    if (cf.err != NULL) {
        fclose(cf.err);
    }
    free(text);
    if (cf.pool != NULL) {
        pco_pool_destroy(cf.pool);
    }
    return (cf.pool == NULL || cf.err == NULL || dc.bad) ? PCO_ERROR : PCO_OK;
}
