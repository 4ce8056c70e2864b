/*
 * test_access_log.c: unit tests of the access_log module's pure helpers: text escaping
 * (combined and named formats, docs/http.md), JSON string escaping with UTF-8 validation, and
 * the number check used for JSON values.
 * Build: gcc ... -Icore -Iobjs -Imodules/access_log t/unit/test_access_log.c
 *        modules/access_log/pco_access_log_escape.c -lcmocka
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "pco_access_log.h"

static void
pco_test_text(const char *in, size_t len, const char *want)
{
    u_char  out[256];
    size_t  n;

    assert_true(len * PCO_ACCESS_LOG_TEXT_MAX <= sizeof(out));
    n = pco_access_log_escape(out, (const u_char *) in, len);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

static void
pco_test_json(const char *in, size_t len, const char *want)
{
    u_char  out[256];
    size_t  n;

    assert_true(len * PCO_ACCESS_LOG_JSON_MAX <= sizeof(out));
    n = pco_access_log_json_escape(out, (const u_char *) in, len);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

static void
pco_test_escape_text(void **state)
{
    (void) state;
    pco_test_text("", 0, "");
    pco_test_text("plain text/1.0", 14, "plain text/1.0");
    pco_test_text("x\"y\\z\tw\xe9", 8, "x\\x22y\\x5cz\\x09w\\xe9");
    pco_test_text("\x00\x1f\x7f\x80\xff", 5, "\\x00\\x1f\\x7f\\x80\\xff");
    pco_test_text("a b ~", 5, "a b ~");
    pco_test_text("\r\n", 2, "\\x0d\\x0a");
}

static void
pco_test_escape_json(void **state)
{
    (void) state;
    pco_test_json("", 0, "");
    pco_test_json("abc", 3, "abc");
    pco_test_json("a\"b\\c", 5, "a\\\"b\\\\c");
    pco_test_json("\n\r\t", 3, "\\n\\r\\t");
    pco_test_json("\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f");
    pco_test_json("\x00", 1, "\\u0000");
    /* valid UTF-8 is kept: é (2 bytes), € (3 bytes), 😀 (4 bytes) */
    pco_test_json("\xc3\xa9", 2, "\xc3\xa9");
    pco_test_json("\xe2\x82\xac", 3, "\xe2\x82\xac");
    pco_test_json("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");
    /* invalid bytes become \u00XX */
    pco_test_json("ua \"q\"\t\xe9", 8, "ua \\\"q\\\"\\t\\u00e9");
    pco_test_json("\xc3", 1, "\\u00c3");                 /* truncated */
    pco_test_json("\xc0\xaf", 2, "\\u00c0\\u00af");      /* overlong */
    pco_test_json("\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080");   /* surrogate */
    pco_test_json("\xf4\x90\x80\x80", 4, "\\u00f4\\u0090\\u0080\\u0080");   /* > U+10FFFF */
    pco_test_json("\xe0\x80\x80", 3, "\\u00e0\\u0080\\u0080");   /* overlong 3 bytes */
    pco_test_json("\xc3\xa9\xff", 3, "\xc3\xa9\\u00ff");
}

static void
pco_test_is_number(void **state)
{
    (void) state;
    assert_true(pco_access_log_is_number((const u_char *) "200", 3));
    assert_true(pco_access_log_is_number((const u_char *) "0", 1));
    assert_true(pco_access_log_is_number((const u_char *) "0.123", 5));
    assert_true(pco_access_log_is_number((const u_char *) "-1", 2));
    assert_false(pco_access_log_is_number((const u_char *) "", 0));
    assert_false(pco_access_log_is_number((const u_char *) "-", 1));
    assert_false(pco_access_log_is_number((const u_char *) "1.", 2));
    assert_false(pco_access_log_is_number((const u_char *) "007", 3));
    assert_false(pco_access_log_is_number((const u_char *) "1, 2", 4));
    assert_false(pco_access_log_is_number((const u_char *) "0.1, 0.2", 8));
    assert_false(pco_access_log_is_number((const u_char *) "abc", 3));
}

static void
pco_test_list(const char *in, const char *want)
{
    u_char  out[512];
    size_t  n, len = strlen(in);

    assert_true(PCO_ACCESS_LOG_JSON_LIST_MAX(len) <= sizeof(out));
    n = pco_access_log_json_list(out, (const u_char *) in, len);
    assert_true(n <= PCO_ACCESS_LOG_JSON_LIST_MAX(len));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

/* per-try values: numbers, "-" as null, strings escaped, one entry per ", " */
static void
pco_test_json_list(void **state)
{
    (void) state;
    pco_test_list("200", "[200]");
    pco_test_list("502, 200", "[502,200]");
    pco_test_list("-, 200", "[null,200]");
    pco_test_list("0.001, 0.010", "[0.001,0.010]");
    pco_test_list("127.0.0.1:80, unix:/s", "[\"127.0.0.1:80\",\"unix:/s\"]");
    pco_test_list("a\x01\"b,c", "[\"a\\u0001\\\"b,c\"]");
    pco_test_list("a, , b", "[\"a\",\"\",\"b\"]");
    pco_test_list("x,, y", "[\"x,\",\"y\"]");
    pco_test_list("\xff", "[\"\\u00ff\"]");
    pco_test_list("a, b, ", "[\"a\",\"b\",\"\"]");
    /* worst case for the bound: many one-byte control entries */
    pco_test_list("\x01, \x01, \x01", "[\"\\u0001\",\"\\u0001\",\"\\u0001\"]");
}

static void
pco_test_field(const char *in, const char *key, const char *var, const char *err)
{
    pco_str_t    k, v;
    const char  *e = pco_access_log_field_parse((const u_char *) in, strlen(in), &k, &v);

    if (err != NULL) {
        assert_non_null(e);
        assert_string_equal(e, err);
        return;
    }
    assert_null(e);
    assert_int_equal(k.len, strlen(key));
    assert_memory_equal(k.data, key, k.len);
    assert_int_equal(v.len, strlen(var));
    assert_memory_equal(v.data, var, v.len);
}

static void
pco_test_field_parse(void **state)
{
    (void) state;
    pco_test_field("status", "status", "status", NULL);
    pco_test_field("$status", "status", "status", NULL);
    pco_test_field("client=remote_addr", "client", "remote_addr", NULL);
    pco_test_field("tls.proto=$ssl_protocol", "tls.proto", "ssl_protocol", NULL);
    pco_test_field("ua-x=http_user_agent", "ua-x", "http_user_agent", NULL);
    pco_test_field("", NULL, NULL, "no variable name");
    pco_test_field("k=", NULL, NULL, "no variable name");
    pco_test_field("=status", NULL, NULL, "a key is 1 to 64 characters");
    pco_test_field("a b", NULL, NULL, "a variable name is letters, digits and \"_\"");
    pco_test_field("k=a-b", NULL, NULL, "a variable name is letters, digits and \"_\"");
    pco_test_field("k\"=status", NULL, NULL,
                   "a key is letters, digits, \"_\", \"-\" and \".\"");
    pco_test_field("k=v=w", NULL, NULL, "a variable name is letters, digits and \"_\"");
    pco_test_field("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=status",
                   NULL, NULL, "a key is 1 to 64 characters");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_escape_text),
        cmocka_unit_test(pco_test_escape_json),
        cmocka_unit_test(pco_test_is_number),
        cmocka_unit_test(pco_test_json_list),
        cmocka_unit_test(pco_test_field_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
