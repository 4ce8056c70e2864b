/*
 * test_tls_ocsp.c: unit tests of OCSP stapling's pure parts: when the helper fetches again
 * after a good response (pco_tls_ocsp_next_refresh: half-way to nextUpdate, bounded by
 * ocsp_refresh and 1 s), and the first checks of pco_tls_ocsp_check that need no
 * certificate (bytes that are not a response, a response whose status is not
 * "successful").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>
#include "pco_tls_ocsp.h"

static void
pco_test_next_refresh(void **state)
{
    (void) state;
    /* no nextUpdate: ocsp_refresh */
    assert_int_equal(pco_tls_ocsp_next_refresh(1000, 0, 3600000), 3600);
    /* nextUpdate in a day: ocsp_refresh (1 h) comes first */
    assert_int_equal(pco_tls_ocsp_next_refresh(1000, 1000 + 86400, 3600000), 3600);
    /* nextUpdate in 10 min: half-way */
    assert_int_equal(pco_tls_ocsp_next_refresh(1000, 1000 + 600, 3600000), 300);
    /* nextUpdate in 1 s, or already past: never sooner than 1 s */
    assert_int_equal(pco_tls_ocsp_next_refresh(1000, 1001, 3600000), 1);
    assert_int_equal(pco_tls_ocsp_next_refresh(1000, 900, 3600000), 1);
    /* the smallest ocsp_refresh */
    assert_int_equal(pco_tls_ocsp_next_refresh(1000, 0, 1000), 1);
}

static void
pco_test_check_garbage(void **state)
{
    static const u_char    junk[] = "not DER";
    pco_tls_ocsp_cert_t    e;
    pco_tls_ocsp_result_t  res;
    char                   why[256];

    (void) state;
    memset(&e, 0, sizeof(e));
    assert_int_equal(pco_tls_ocsp_check(&e, junk, sizeof(junk) - 1, true, time(NULL), &res,
                                        why, sizeof(why)), PCO_ERROR);
    assert_string_equal(why, "not a DER OCSP response");
    assert_int_equal(pco_tls_ocsp_check(&e, junk, 0, true, time(NULL), &res, why,
                                        sizeof(why)), PCO_ERROR);
}

static void
pco_test_check_status(void **state)
{
    OCSP_RESPONSE          *resp;
    pco_tls_ocsp_cert_t     e;
    pco_tls_ocsp_result_t   res;
    u_char                 *der = NULL;
    char                    why[256];
    int                     len;

    (void) state;
    memset(&e, 0, sizeof(e));
    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_UNAUTHORIZED, NULL);
    assert_non_null(resp);
    len = i2d_OCSP_RESPONSE(resp, &der);
    assert_true(len > 0);
    assert_int_equal(pco_tls_ocsp_check(&e, der, (size_t) len, true, time(NULL), &res, why,
                                        sizeof(why)), PCO_ERROR);
    assert_string_equal(why, "response status \"unauthorized\"");
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_next_refresh),
        cmocka_unit_test(pco_test_check_garbage),
        cmocka_unit_test(pco_test_check_status),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
