/*
 * test_settings_doc.c: docs/settings.md is generated from the modules' settings tables;
 * this test fails when the committed file no longer matches the tables (run `make docs`).
 * With PCO_WRITE_DOCS=FILE in the environment it writes the file instead (make docs).
 * A build with another module set (--without-X, --add-module) or other compiled-in paths
 * (--error-log-path, --user...) skips the comparison.
 * It also checks that every numeric setting of every module declares its bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pco_core.h"
#include "pco_conf.h"

static char *
pco_test_generate(size_t *len)
{
    char  *buf = NULL;
    FILE  *f = open_memstream(&buf, len);

    assert_non_null(f);
    pco_conf_write_docs(f);
    fclose(f);
    return buf;
}

static char *
pco_test_read(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    char  *buf;
    long   n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    *len = fread(buf, 1, (size_t) n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The "## module" headings, concatenated: which modules a document describes. */
static void
pco_test_headings(const char *doc, char *out, size_t size)
{
    const char  *p = doc;
    size_t       used = 0;

    out[0] = '\0';
    while ((p = strstr(p, "\n## ")) != NULL) {
        const char  *e = strchr(p + 1, '\n');
        size_t       n = e ? (size_t) (e - p) : strlen(p);

        if (used + n + 1 < size) {
            memcpy(out + used, p, n);
            used += n;
            out[used] = '\0';
        }
        p += n;
    }
}

static void
pco_test_settings_doc(void **state)
{
    const char  *write_to = getenv("PCO_WRITE_DOCS");
    size_t       glen, flen = 0;
    char        *gen, *file;
    char         gh[4096], fh[4096];

    (void) state;
    assert_int_equal(pco_modules_init(), PCO_OK);
    gen = pco_test_generate(&glen);

    if (write_to != NULL) {
        FILE  *f = fopen(write_to, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(gen, 1, glen, f), glen);
        fclose(f);
        free(gen);
        return;
    }

#ifndef PCO_STOCK_LAYOUT
    free(gen);
    skip();       /* other compiled-in paths: the committed file describes the stock ones */
#endif
    file = pco_test_read("docs/settings.md", &flen);
    assert_non_null(file);
    pco_test_headings(gen, gh, sizeof(gh));
    pco_test_headings(file, fh, sizeof(fh));
    if (strcmp(gh, fh) != 0) {
        free(gen);
        free(file);
        skip();   /* another module set: the committed file describes the default build */
    }
    if (glen != flen || memcmp(gen, file, glen) != 0) {
        fprintf(stderr, "docs/settings.md is out of date: run `make docs`\n");
    }
    assert_int_equal(glen, flen);
    assert_memory_equal(gen, file, glen);
    free(gen);
    free(file);
}

/* Every numeric setting of every module (members of groups and lists too) declares its
 * bounds, so that no value can wrap or overflow where it is used. */
static unsigned
pco_test_unbounded(const pco_setting_t *s, const char *module)
{
    unsigned  n = 0;

    for (; s != NULL && s->name != NULL; s++) {
        if ((s->type == PCO_CONF_INT || s->type == PCO_CONF_SIZE
             || s->type == PCO_CONF_DURATION || s->type == PCO_CONF_INTLIST)
            && s->min >= s->max)
        {
            fprintf(stderr, "%s: %s has no bounds\n", module, s->name);
            n++;
        }
        if (s->type == PCO_CONF_GROUP || s->type == PCO_CONF_LIST) {
            n += pco_test_unbounded(s->sub, module);
        }
    }
    return n;
}

static void
pco_test_bounds(void **state)
{
    unsigned  i, n = 0;

    (void) state;
    for (i = 0; pco_modules[i] != NULL; i++) {
        n += pco_test_unbounded(pco_modules[i]->settings, pco_modules[i]->name);
    }
    assert_int_equal(n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_settings_doc),
        cmocka_unit_test(pco_test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
