/*
 * test_static.c: unit tests of the static module's pure helpers: the MIME table parser and
 * lookup (conf/mime.types itself is parsed too) and the Range header parser.
 * Build: gcc ... -Icore -Iobjs -Imodules/static t/unit/test_static.c
 *        modules/static/pco_static_util.c -lcmocka
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include "pco_static.h"

/* A tiny arena so that everything the parser allocates is freed at the end. */
typedef struct {
    void    *blocks[4096];
    size_t   n;
} pco_test_arena_t;

static void *
pco_test_alloc(void *ctx, size_t size)
{
    pco_test_arena_t *a = ctx;

    if (a->n == pco_nelems(a->blocks)) {
        return NULL;
    }
    a->blocks[a->n] = malloc(size);
    return a->blocks[a->n++];
}

static void
pco_test_arena_free(pco_test_arena_t *a)
{
    while (a->n > 0) {
        free(a->blocks[--a->n]);
    }
}

static const char *
pco_test_lookup(const pco_static_mime_table_t *t, const char *path)
{
    static char       buf[128];
    const pco_str_t  *ty = pco_static_mime_lookup(t, (const u_char *) path, strlen(path));

    if (ty == NULL) {
        return "(none)";
    }
    snprintf(buf, sizeof(buf), "%.*s", (int) ty->len, (const char *) ty->data);
    return buf;
}

static void
pco_test_mime_parse(void **state)
{
    static const char text[] =
        "# comment\n"
        "types {\n"
        "    text/html   html htm;   # trailing comment\n"
        "    text/plain  txt;\n"
        "    image/png   png;\n"
        "    text/x-dup  HTML;\n"
        "}\n"
        "application/json json;\n";
    pco_test_arena_t         *a = calloc(1, sizeof(*a));
    pco_static_mime_table_t   t;
    unsigned                  line = 99;

    (void) state;
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) text, sizeof(text) - 1,
                                           pco_test_alloc, a, &line), PCO_OK);
    assert_int_equal(t.n, 5);   /* html htm txt png json; the duplicate HTML dropped */
    assert_string_equal(pco_test_lookup(&t, "/index.html"), "text/html");
    assert_string_equal(pco_test_lookup(&t, "/INDEX.HTM"), "text/html");
    assert_string_equal(pco_test_lookup(&t, "/a.txt"), "text/plain");
    assert_string_equal(pco_test_lookup(&t, "/d.d/x.json"), "application/json");
    assert_string_equal(pco_test_lookup(&t, "/d.png/noext"), "(none)");
    assert_string_equal(pco_test_lookup(&t, "/noext"), "(none)");
    assert_string_equal(pco_test_lookup(&t, "/dot."), "(none)");
    assert_string_equal(pco_test_lookup(&t, "/a.tar.png"), "image/png");
    assert_string_equal(pco_test_lookup(&t, "/a.pn"), "(none)");
    assert_string_equal(pco_test_lookup(&t, ""), "(none)");
    pco_test_arena_free(a);
    free(a);
}

static void
pco_test_mime_errors(void **state)
{
    pco_test_arena_t         *a = calloc(1, sizeof(*a));
    pco_static_mime_table_t   t;
    unsigned                  line = 0;

    (void) state;
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) "text/html html", 14,
                                           pco_test_alloc, a, &line), PCO_ERROR);
    assert_int_equal(line, 1);
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) "\n\ntext/html;\n", 13,
                                           pco_test_alloc, a, &line), PCO_ERROR);
    assert_int_equal(line, 3);
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) "types {\na b;\n", 13,
                                           pco_test_alloc, a, &line), PCO_ERROR);
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) "}", 1,
                                           pco_test_alloc, a, &line), PCO_ERROR);
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) "", 0,
                                           pco_test_alloc, a, &line), PCO_OK);
    assert_int_equal(t.n, 0);
    assert_string_equal(pco_test_lookup(&t, "/a.html"), "(none)");
    pco_test_arena_free(a);
    free(a);
}

static void
pco_test_mime_file(void **state)
{
    pco_test_arena_t         *a = calloc(1, sizeof(*a));
    pco_static_mime_table_t   t;
    unsigned                  line = 0;
    char                     *text;
    long                      len;
    FILE                     *f = fopen("conf/mime.types", "rb");

    (void) state;
    if (f == NULL) {
        free(a);
        skip();
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t) len + 1);
    assert_int_equal(fread(text, 1, (size_t) len, f), (size_t) len);
    fclose(f);
    assert_int_equal(pco_static_mime_parse(&t, (const u_char *) text, (size_t) len,
                                           pco_test_alloc, a, &line), PCO_OK);
    assert_string_equal(pco_test_lookup(&t, "/a.html"), "text/html");
    assert_string_equal(pco_test_lookup(&t, "/a.css"), "text/css");
    assert_string_equal(pco_test_lookup(&t, "/a.js"), "application/javascript");
    assert_string_equal(pco_test_lookup(&t, "/a.json"), "application/json");
    assert_string_equal(pco_test_lookup(&t, "/a.png"), "image/png");
    assert_string_equal(pco_test_lookup(&t, "/a.jpg"), "image/jpeg");
    assert_string_equal(pco_test_lookup(&t, "/a.svg"), "image/svg+xml");
    assert_string_equal(pco_test_lookup(&t, "/a.txt"), "text/plain");
    assert_string_equal(pco_test_lookup(&t, "/a.wasm"), "application/wasm");
    assert_string_equal(pco_test_lookup(&t, "/a.woff2"), "font/woff2");
    assert_string_equal(pco_test_lookup(&t, "/a.bin"), "application/octet-stream");
    free(text);
    pco_test_arena_free(a);
    free(a);
}

static int
pco_test_range(const char *v, off_t size, off_t *s, off_t *e)
{
    *s = -1;
    *e = -1;
    return pco_static_parse_range((const u_char *) v, strlen(v), size, s, e);
}

static void
pco_test_ranges(void **state)
{
    off_t  s, e;

    (void) state;
    assert_int_equal(pco_test_range("bytes=0-4", 17, &s, &e), 206);
    assert_int_equal(s, 0);
    assert_int_equal(e, 4);
    assert_int_equal(pco_test_range("bytes=10-", 17, &s, &e), 206);
    assert_int_equal(s, 10);
    assert_int_equal(e, 16);
    assert_int_equal(pco_test_range("bytes=-3", 17, &s, &e), 206);
    assert_int_equal(s, 14);
    assert_int_equal(e, 16);
    assert_int_equal(pco_test_range("bytes=-100", 17, &s, &e), 206);
    assert_int_equal(s, 0);
    assert_int_equal(e, 16);
    assert_int_equal(pco_test_range("bytes=5-1000", 17, &s, &e), 206);
    assert_int_equal(s, 5);
    assert_int_equal(e, 16);
    assert_int_equal(pco_test_range("BYTES=16-16", 17, &s, &e), 206);
    assert_int_equal(s, 16);
    assert_int_equal(e, 16);
    assert_int_equal(pco_test_range("bytes= 1 - 2 ", 17, &s, &e), 206);
    assert_int_equal(s, 1);
    assert_int_equal(e, 2);

    assert_int_equal(pco_test_range("bytes=100-200", 17, &s, &e), 416);
    assert_int_equal(pco_test_range("bytes=17-", 17, &s, &e), 416);
    assert_int_equal(pco_test_range("bytes=-0", 17, &s, &e), 416);
    assert_int_equal(pco_test_range("bytes=0-", 0, &s, &e), 416);
    assert_int_equal(pco_test_range("bytes=-5", 0, &s, &e), 416);

    /* ignored: the whole file */
    assert_int_equal(pco_test_range("bytes=0-1,3-4", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("bytes=5-1", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("items=0-1", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("bytes=", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("bytes=-", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("bytes=a-b", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("bytes=1-2x", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("bytes=99999999999999999999-", 17, &s, &e), 0);
    assert_int_equal(pco_test_range("", 17, &s, &e), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_mime_parse),
        cmocka_unit_test(pco_test_mime_errors),
        cmocka_unit_test(pco_test_mime_file),
        cmocka_unit_test(pco_test_ranges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
