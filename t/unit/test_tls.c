/*
 * test_tls.c: unit tests of the tls module's pure helpers: the `protocols` names
 * (pco_tls_protocol_bit) and the server_name extension parser used at ClientHello
 * (pco_tls_sni_parse): well-formed names, truncated and inconsistent lengths, other name
 * types and embedded NUL bytes; the reason a failed handshake is counted under
 * (pco_tls_failure_reason).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "pco_tls.h"
#include <openssl/err.h>

static void
pco_test_protocol_bit(void **state)
{
    (void) state;
    assert_int_equal(pco_tls_protocol_bit("TLSv1"), 1);
    assert_int_equal(pco_tls_protocol_bit("TLSv1.1"), 2);
    assert_int_equal(pco_tls_protocol_bit("TLSv1.2"), 4);
    assert_int_equal(pco_tls_protocol_bit("TLSv1.3"), 8);
    assert_int_equal(pco_tls_protocol_bit("SSLv3"), 0);
    assert_int_equal(pco_tls_protocol_bit("tlsv1.2"), 0);
    assert_int_equal(pco_tls_protocol_bit("TLSv1.4"), 0);
    assert_int_equal(pco_tls_protocol_bit(""), 0);
}

static void
pco_test_sni_ok(void **state)
{
    static const u_char  ext[] = { 0, 9, 0, 0, 6, 'a', '.', 't', 'e', 's', 't' };
    const u_char        *name = NULL;

    (void) state;
    assert_int_equal(pco_tls_sni_parse(ext, sizeof(ext), &name), 6);
    assert_non_null(name);
    assert_memory_equal(name, "a.test", 6);
}

static void
pco_test_sni_bad(void **state)
{
    static const u_char  trunc[] = { 0, 9, 0, 0, 6, 'a', '.', 't' };
    static const u_char  listlen[] = { 0, 8, 0, 0, 6, 'a', '.', 't', 'e', 's', 't' };
    static const u_char  namelen[] = { 0, 9, 0, 0, 7, 'a', '.', 't', 'e', 's', 't' };
    static const u_char  type[] = { 0, 9, 1, 0, 6, 'a', '.', 't', 'e', 's', 't' };
    static const u_char  nul[] = { 0, 9, 0, 0, 6, 'a', 0, 't', 'e', 's', 't' };
    static const u_char  empty[] = { 0, 3, 0, 0, 0 };
    const u_char        *name = NULL;

    (void) state;
    assert_int_equal(pco_tls_sni_parse(trunc, sizeof(trunc), &name), 0);
    assert_int_equal(pco_tls_sni_parse(listlen, sizeof(listlen), &name), 0);
    assert_int_equal(pco_tls_sni_parse(namelen, sizeof(namelen), &name), 0);
    assert_int_equal(pco_tls_sni_parse(type, sizeof(type), &name), 0);
    assert_int_equal(pco_tls_sni_parse(nul, sizeof(nul), &name), 0);
    assert_int_equal(pco_tls_sni_parse(empty, sizeof(empty), &name), 0);
    assert_int_equal(pco_tls_sni_parse(empty, 2, &name), 0);
    assert_null(name);
}

static void
pco_test_failure_reason(void **state)
{
    (void) state;
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_SHARED_CIPHER)),
                     PCO_TLS_FAIL_NO_SHARED_CIPHER);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_SHARED_GROUPS)),
                     PCO_TLS_FAIL_NO_SHARED_CIPHER);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0,
                                                     SSL_R_UNSUPPORTED_PROTOCOL)),
                     PCO_TLS_FAIL_PROTOCOL);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_HTTP_REQUEST)),
                     PCO_TLS_FAIL_PROTOCOL);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0,
                                                     SSL_R_WRONG_VERSION_NUMBER)),
                     PCO_TLS_FAIL_PROTOCOL);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0,
                                                     SSL_R_NO_APPLICATION_PROTOCOL)),
                     PCO_TLS_FAIL_PROTOCOL);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0,
                                                     SSL_R_CERTIFICATE_VERIFY_FAILED)),
                     PCO_TLS_FAIL_BAD_CLIENT_CERT);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_X509, 0, 1)),
                     PCO_TLS_FAIL_BAD_CLIENT_CERT);
    assert_int_equal(pco_tls_failure_reason(ERR_PACK(ERR_LIB_SSL, 0,
                                                     SSL_R_CALLBACK_FAILED)),
                     PCO_TLS_FAIL_OTHER);
    assert_int_equal(pco_tls_failure_reason(0), PCO_TLS_FAIL_OTHER);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_protocol_bit),
        cmocka_unit_test(pco_test_sni_ok),
        cmocka_unit_test(pco_test_sni_bad),
        cmocka_unit_test(pco_test_failure_reason),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
