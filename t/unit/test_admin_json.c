/*
 * test_admin_json.c: the admin API's strict JSON object parser and writer
 * (modules/admin/pco_admin_json.c): every value kind, escapes (surrogate pairs included),
 * white space, and each refusal with its exact reason and byte offset; the writer's
 * escaping round-trips through the parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pco_admin_json.h"

static pco_admin_json_obj_t  pco_t_obj;
static u_char                pco_t_buf[8192];
static char                  pco_t_err[128];

static int
pco_t_parse(const char *s)
{
    pco_t_err[0] = '\0';
    return pco_admin_json_parse((const u_char *) s, strlen(s), pco_t_buf, &pco_t_obj,
                                pco_t_err, sizeof(pco_t_err));
}

static void
pco_t_values(void **state)
{
    const pco_admin_json_field_t  *f;

    pco_unused(state);
    assert_int_equal(pco_t_parse(" { \"address\" : \"127.0.0.1:9005\",\n\t\"weight\": 3, "
                                 "\"max_conns\": -0, \"backup\": true, \"x\": false, "
                                 "\"w\": null, \"big\": 9223372036854775807, "
                                 "\"min\": -9223372036854775808 } \r\n"), PCO_OK);
    assert_int_equal(pco_t_obj.n, 8);
    f = pco_admin_json_get(&pco_t_obj, "address");
    assert_non_null(f);
    assert_int_equal(f->type, PCO_ADMIN_JSON_STRING);
    assert_int_equal(f->str.len, 14);
    assert_memory_equal(f->str.data, "127.0.0.1:9005", 14);
    f = pco_admin_json_get(&pco_t_obj, "weight");
    assert_int_equal(f->type, PCO_ADMIN_JSON_INT);
    assert_int_equal(f->num, 3);
    assert_int_equal(pco_admin_json_get(&pco_t_obj, "max_conns")->num, 0);
    assert_true(pco_admin_json_get(&pco_t_obj, "backup")->b);
    assert_int_equal(pco_admin_json_get(&pco_t_obj, "x")->type, PCO_ADMIN_JSON_BOOL);
    assert_false(pco_admin_json_get(&pco_t_obj, "x")->b);
    assert_int_equal(pco_admin_json_get(&pco_t_obj, "w")->type, PCO_ADMIN_JSON_NULL);
    assert_true(pco_admin_json_get(&pco_t_obj, "big")->num == INT64_MAX);
    assert_true(pco_admin_json_get(&pco_t_obj, "min")->num == INT64_MIN);
    assert_null(pco_admin_json_get(&pco_t_obj, "nope"));
    assert_int_equal(pco_t_parse("{}"), PCO_OK);
    assert_int_equal(pco_t_obj.n, 0);
}

static void
pco_t_escapes(void **state)
{
    const pco_admin_json_field_t  *f;

    pco_unused(state);
    assert_int_equal(pco_t_parse("{\"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9"
                                 "\\u20ac\\ud83d\\ude00\"}"), PCO_OK);
    f = pco_admin_json_get(&pco_t_obj, "s");
    assert_int_equal(f->str.len, 22);
    assert_memory_equal(f->str.data, "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                        22);
    /* raw UTF-8 passes as is; a name may be escaped too */
    assert_int_equal(pco_t_parse("{\"\\u006e\": \"\xc3\xa9\"}"), PCO_OK);
    f = pco_admin_json_get(&pco_t_obj, "n");
    assert_non_null(f);
    assert_int_equal(f->str.len, 2);
}

static void
pco_t_refused(void **state)
{
    static const struct {
        const char  *in;
        const char  *err;
    } cases[] = {
        { "", "at byte 0: a JSON object expected" },
        { "[1]", "at byte 0: a JSON object expected" },
        { "{bad", "at byte 1: member name expected" },
        { "{\"a\" 1}", "at byte 5: ':' expected" },
        { "{\"a\": 1,}", "at byte 8: member name expected" },
        { "{\"a\": 1 \"b\": 2}", "at byte 8: ',' or '}' expected" },
        { "{\"a\": 1} x", "at byte 9: trailing bytes after the object" },
        { "{\"a\": 1}{}", "at byte 8: trailing bytes after the object" },
        { "{\"a\": 1, \"a\": 2}", "at byte 12: duplicate member" },
        { "{\"a\": {\"b\": 1}}", "at byte 6: nested values are not accepted" },
        { "{\"a\": [1]}", "at byte 6: nested values are not accepted" },
        { "{\"a\": 1.5}", "at byte 7: numbers must be integers" },
        { "{\"a\": 1e3}", "at byte 7: numbers must be integers" },
        { "{\"a\": 01}", "at byte 6: leading zero in number" },
        { "{\"a\": -}", "at byte 7: bad number" },
        { "{\"a\": +1}", "at byte 6: bad number" },
        { "{\"a\": 9223372036854775808}", "at byte 24: number out of range" },
        { "{\"a\": -9223372036854775809}", "at byte 25: number out of range" },
        { "{\"a\": tru}", "at byte 6: bad value" },
        { "{\"a\": \"x}", "at byte 9: unterminated string" },
        { "{\"a\": \"\\x\"}", "at byte 8: bad escape" },
        { "{\"a\": \"\\u12\"}", "at byte 9: bad \\u escape" },
        { "{\"a\": \"\\ud800\"}", "at byte 13: lone surrogate in \\u escape" },
        { "{\"a\": \"\\udc00\"}", "at byte 13: lone surrogate in \\u escape" },
        { "{\"a\": \"\\ud800\\u0041\"}", "at byte 19: lone surrogate in \\u escape" },
        { "{\"a\": \"\x01\"}", "at byte 7: control character in string" },
        { "{\"a\": \"\xc0\xaf\"}", "at byte 7: invalid UTF-8" },
        { "{\"a\": \"\xed\xa0\x80\"}", "at byte 7: invalid UTF-8" },
        { "{\"a\": \"\xe2\x82\"}", "at byte 7: invalid UTF-8" },
        { "{\"a\": ", "at byte 6: value expected" },
    };
    size_t  i;

    pco_unused(state);
    for (i = 0; i < pco_nelems(cases); i++) {
        assert_int_equal(pco_t_parse(cases[i].in), PCO_ERROR);
        assert_string_equal(pco_t_err, cases[i].err);
    }
}

static void
pco_t_limits(void **state)
{
    char      in[1024];
    size_t    n = 0;
    unsigned  i;

    pco_unused(state);
    n += (size_t) snprintf(in + n, sizeof(in) - n, "{");
    for (i = 0; i < PCO_ADMIN_JSON_MAX_FIELDS; i++) {
        n += (size_t) snprintf(in + n, sizeof(in) - n, "%s\"k%u\": %u", i ? ", " : "", i, i);
    }
    snprintf(in + n, sizeof(in) - n, "}");
    assert_int_equal(pco_t_parse(in), PCO_OK);
    assert_int_equal(pco_t_obj.n, PCO_ADMIN_JSON_MAX_FIELDS);
    snprintf(in + n, sizeof(in) - n, ", \"one\": 1}");
    assert_int_equal(pco_t_parse(in), PCO_ERROR);
    assert_string_equal(pco_t_err, "at byte 157: too many members");
}

static void
pco_t_writer(void **state)
{
    static const u_char  raw[] = "q\"b\\s\x01\x1f\x7f\xc3\xa9";
    pco_admin_out_t      o;

    pco_unused(state);
    pco_admin_out_init(&o, NULL, 1 << 16);
    pco_admin_out_printf(&o, "{\"k\": ");
    pco_admin_out_str(&o, raw, sizeof(raw) - 1);
    pco_admin_out_printf(&o, ", \"n\": %d}", 7);
    assert_false(o.failed);
    assert_int_equal(o.len, strlen("{\"k\": \"q\\\"b\\\\s\\u0001\\u001f\\u007f\xc3\xa9\", "
                                   "\"n\": 7}"));
    assert_memory_equal(o.data, "{\"k\": \"q\\\"b\\\\s\\u0001\\u001f\\u007f\xc3\xa9\", "
                        "\"n\": 7}", o.len);
    assert_int_equal(pco_admin_json_parse(o.data, o.len, pco_t_buf, &pco_t_obj, pco_t_err,
                                          sizeof(pco_t_err)), PCO_OK);
    assert_int_equal(pco_t_obj.f[0].str.len, sizeof(raw) - 1);
    assert_memory_equal(pco_t_obj.f[0].str.data, raw, sizeof(raw) - 1);
    pco_admin_out_free(&o);
    /* over the limit: failed, nothing more written */
    pco_admin_out_init(&o, NULL, 16);
    pco_admin_out_printf(&o, "%s", "0123456789abcdefghij");
    assert_true(o.failed);
    pco_admin_out_free(&o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_values),
        cmocka_unit_test(pco_t_escapes),
        cmocka_unit_test(pco_t_refused),
        cmocka_unit_test(pco_t_limits),
        cmocka_unit_test(pco_t_writer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
