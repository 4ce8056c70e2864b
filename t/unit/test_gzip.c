/*
 * test_gzip.c: unit tests of the gzip module's pure helpers: Accept-Encoding (gzip, x-gzip,
 * "*", q values, identity, malformed q), Content-Type matching against the types list
 * (parameters and case ignored, "*"), and whether a Vary value covers Accept-Encoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "pco_gzip.h"

static bool
pco_t_accepts(const char *v)
{
    return pco_gzip_accepts((const u_char *) v, strlen(v));
}

static void
pco_t_accept_encoding(void **state)
{
    (void) state;
    assert_true(pco_t_accepts("gzip"));
    assert_true(pco_t_accepts("gzip, deflate, br"));
    assert_true(pco_t_accepts("br;q=1.0, gzip;q=0.8"));
    assert_true(pco_t_accepts("GZIP"));
    assert_true(pco_t_accepts("x-gzip"));
    assert_true(pco_t_accepts(" deflate ,  gzip ; q=0.001 "));
    assert_true(pco_t_accepts("*"));
    assert_true(pco_t_accepts("br, *;q=0.1"));
    assert_true(pco_t_accepts("gzip;level=1"));          /* other parameters: q stays 1 */
    assert_true(pco_t_accepts("gzip;Q=1"));
    assert_true(pco_t_accepts("gzip;q=1.000"));

    assert_false(pco_t_accepts(""));
    assert_false(pco_t_accepts("identity"));
    assert_false(pco_t_accepts("deflate, br"));
    assert_false(pco_t_accepts("gzip;q=0"));
    assert_false(pco_t_accepts("gzip;q=0.0"));
    assert_false(pco_t_accepts("gzip;q=0.000"));
    assert_false(pco_t_accepts("gzip;q=0, *"));            /* listed and refused: "*" does not
                                                            * bring it back */
    assert_false(pco_t_accepts("*;q=0"));
    assert_false(pco_t_accepts("gzip, gzip;q=0"));         /* a refusal wins */
    assert_false(pco_t_accepts("gzipx"));
    assert_false(pco_t_accepts("gzip;q=abc"));             /* malformed: as 0 */
    assert_false(pco_t_accepts("gzip;q=0.0001"));          /* more than 3 decimals */
    assert_false(pco_t_accepts("gzip;q=2"));
    assert_false(pco_t_accepts("gzip;q="));
    assert_false(pco_t_accepts(",,,"));
}

static bool
pco_t_type(const char *ct)
{
    static const pco_str_t  types[] = { pco_string("text/html"),
                                        pco_string("application/json") };
    pco_str_t               s = { strlen(ct), (u_char *) ct };

    return pco_gzip_type_match(types, 2, &s);
}

static void
pco_t_types(void **state)
{
    static const pco_str_t  any[] = { pco_string("*") };
    pco_str_t               png = pco_string("image/png");

    (void) state;
    assert_true(pco_t_type("text/html"));
    assert_true(pco_t_type("Text/HTML; charset=utf-8"));
    assert_true(pco_t_type("application/json;charset=utf-8"));
    assert_true(pco_t_type(" application/json ; x=y"));
    assert_false(pco_t_type("text/htm"));
    assert_false(pco_t_type("text/html2"));
    assert_false(pco_t_type("text/plain"));
    assert_false(pco_t_type(""));
    assert_false(pco_t_type("; charset=utf-8"));
    assert_true(pco_gzip_type_match(any, 1, &png));
    assert_false(pco_gzip_type_match(any, 0, &png));
}

static bool
pco_t_vary(const char *v)
{
    return pco_gzip_vary_covers((const u_char *) v, strlen(v));
}

static void
pco_t_vary_covers(void **state)
{
    (void) state;
    assert_true(pco_t_vary("Accept-Encoding"));
    assert_true(pco_t_vary("cookie, accept-encoding"));
    assert_true(pco_t_vary(" Cookie ,ACCEPT-ENCODING , User-Agent"));
    assert_true(pco_t_vary("*"));
    assert_false(pco_t_vary(""));
    assert_false(pco_t_vary("Cookie"));
    assert_false(pco_t_vary("Accept-Encodings"));
    assert_false(pco_t_vary("Accept"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_accept_encoding),
        cmocka_unit_test(pco_t_types),
        cmocka_unit_test(pco_t_vary_covers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
