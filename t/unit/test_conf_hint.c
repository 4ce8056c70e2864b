/*
 * test_conf_hint.c: pco_conf_syntax_hint (core/pco_conf_hint.c), what a libconfig syntax
 * error probably is. Each case gives a text, the line libconfig 1.5 reports for it (checked
 * against `portico -t`: an error at the end of the text is reported one line past the last
 * newline), the offending line as shown and the exact hint.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "pco_conf.h"

typedef struct {
    const char  *text;
    int          line;
    const char  *shown;
    const char  *hint;
} pco_test_hint_t;

static const pco_test_hint_t  pco_test_hints[] = {
    /* nginx-style lines */
    { "servers = ( {\n  listen 80;\n} );\n", 2, "listen 80;",
      "libconfig settings are written `name = value;` (did you mean `listen = 80;`?)" },
    { "worker_processes auto;\n", 1, "worker_processes auto;",
      "libconfig settings are written `name = value;` (did you mean "
      "`worker_processes = \"auto\";`?)" },
    { "user \"www\";\n", 1, "user \"www\";",
      "libconfig settings are written `name = value;` (did you mean `user = \"www\";`?)" },
    { "daemon off;\n", 1, "daemon off;",
      "libconfig settings are written `name = value;` (did you mean `daemon = \"off\";`?)" },
    { "x = 1;\nhttp {\n  gzip = true;\n};\n", 2, "http {",
      "libconfig groups are written `http = { ... };`" },
    { "servers = ( { names = [\"a\"];\n  server_name a.test b.test;\n} );\n", 2,
      "server_name a.test b.test;",
      "libconfig settings are written `name = value;`, a list of values as "
      "`server_name = [\"a\", \"b\"];`" },
    /* unquoted strings */
    { "error_log = { path = \"x\"; level = notice; };\n", 1,
      "error_log = { path = \"x\"; level = notice; };",
      "strings are written in double quotes (did you mean `level = \"notice\";`?)" },
    { "a = [ \"x\", y ];\n", 1, "a = [ \"x\", y ];",
      "`y` is not a value: strings are written in double quotes" },
    /* list and array separators */
    { "servers = (\n  { a = 1; }\n  { b = 2; }\n);\n", 3, "{ b = 2; }",
      "missing `,` at the end of line 2 (the elements of a list are separated by commas)" },
    { "servers = ( { a = 1; } { b = 2; } );\n", 1, "servers = ( { a = 1; } { b = 2; } );",
      "missing `,` between two elements (the elements of a list are separated by commas)" },
    { "a = [1\n 2];\n", 2, "2];",
      "missing `,` at the end of line 1 (the elements of an array are separated by commas)" },
    { "a = ( { b = 1; }, );\n", 1, "a = ( { b = 1; }, );",
      "a `,` after the last element of a list is not allowed" },
    { "a = [1, ];\n", 1, "a = [1, ];",
      "a `,` after the last element of an array is not allowed" },
    { "a = ( { b = 1; } ;\n", 1, "a = ( { b = 1; } ;",
      "a `;` inside the list opened at line 1: missing `)` before it?" },
    { "a = 1;;\n", 1, "a = 1;;", "an extra `;`" },
    /* brackets */
    { "servers = ( { listen = [\"x\"];\n  routes = ();\n);\n", 3, ");",
      "`)` where the `{` opened at line 1 is still open: missing `}`" },
    { "a = { b = 1; };\n}\n", 2, "}",
      "`}` closes nothing: one `}` too many, or one `{` missing before it" },
    { "servers = ( { listen = [\"x\"];\n  routes = ();\n", 3, "",
      "missing `}`: the `{` opened at line 1 is not closed" },
    { "servers = ( { listen = [\"x\"]; }\n\n\n", 4, "",
      "missing `)`: the `(` opened at line 1 is not closed" },
    { "a = \"abc;\nb = 1;\n", 3, "",
      "the string opened at line 1 is not closed (missing `\"`)" },
    { "pid = \"x.pid;\nuser = \"nobody\";\n", 3, "",
      "a `\"` is probably missing on line 1 (the string opened there ends on line 2)" },
    /* values */
    { "daemon = ;", 1, "daemon = ;", "`daemon =` without a value" },
    { "a = 1\n2;\n", 2, "2;", "a value without a name: settings are written `name = value;`" },
    /* comments and strings do not confuse it; adjacent strings are joined by libconfig */
    { "# listen 80;\n/* x y; */ a = \"b c;\" \"d\"; // z\nb = { c = 1 } d;\n", 3,
      "b = { c = 1 } d;", "`d` without `= value`" },
    /* nothing recognised: the line alone */
    { "a = 1;\nb = 2 $;\n", 2, "b = 2 $;", "" },
};

static void
pco_test_hint_cases(void **state)
{
    char    shown[PCO_CONF_HINT_SHOWN + 8], hint[256];
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(pco_test_hints) / sizeof(pco_test_hints[0]); i++) {
        const pco_test_hint_t *t = &pco_test_hints[i];

        pco_conf_syntax_hint(t->text, strlen(t->text), t->line, shown, sizeof(shown), hint,
                             sizeof(hint));
        if (strcmp(shown, t->shown) != 0 || strcmp(hint, t->hint) != 0) {
            fail_msg("case %zu:\n  shown \"%s\"\n  want  \"%s\"\n  hint  \"%s\"\n  want  \"%s\"",
                     i, shown, t->shown, hint, t->hint);
        }
    }
}

/* A long line is cut with "...", control characters become spaces, and small buffers are
 * never overrun. */
static void
pco_test_hint_bounds(void **state)
{
    char   text[300], shown[PCO_CONF_HINT_SHOWN + 8], hint[256], tiny[4], tiny2[4];
    size_t i;

    (void) state;
    memcpy(text, "names\t", 6);
    for (i = 6; i < 200; i++) {
        text[i] = 'x';
    }
    text[200] = '\n';
    pco_conf_syntax_hint(text, 201, 1, shown, sizeof(shown), hint, sizeof(hint));
    assert_int_equal(strlen(shown), PCO_CONF_HINT_SHOWN + 3);
    assert_memory_equal(shown, "names xxx", 9);
    assert_string_equal(shown + PCO_CONF_HINT_SHOWN, "...");

    pco_conf_syntax_hint(text, 201, 1, tiny, sizeof(tiny), tiny2, sizeof(tiny2));
    assert_string_equal(tiny, "nam");
    assert_string_equal(tiny2, "lib");
    pco_conf_syntax_hint("", 0, 1, shown, sizeof(shown), hint, sizeof(hint));
    assert_string_equal(shown, "");
    assert_string_equal(hint, "");
    /* deeper than the lexer keeps: no hint about the brackets it lost, no crash */
    for (i = 0; i < 100; i++) {
        text[i] = '[';
    }
    memcpy(text, "a = ", 4);
    pco_conf_syntax_hint(text, 100, 2, shown, sizeof(shown), hint, sizeof(hint));
    assert_string_equal(shown, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_hint_cases),
        cmocka_unit_test(pco_test_hint_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
