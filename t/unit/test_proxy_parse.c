/*
 * test_proxy_parse.c: the proxy's strict upstream response-head parser
 * (modules/proxy/pco_proxy_parse.c): status lines, headers, framing conflicts, partial input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "pco_proxy_parse.h"

static pco_proxy_resp_t  pco_t_resp;

static int
pco_t_parse(const char *text)
{
    static u_char  buf[8192];
    size_t         len = strlen(text);

    memcpy(buf, text, len);
    return pco_proxy_parse_response(buf, len, &pco_t_resp);
}

static void
pco_t_ok(void **state)
{
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello";

    (void) state;
    assert_int_equal(pco_t_parse(h), PCO_OK);
    assert_int_equal(pco_t_resp.status, 200);
    assert_int_equal(pco_t_resp.version, 11);
    assert_int_equal(pco_t_resp.content_length, 5);
    assert_int_equal(pco_t_resp.nheaders, 2);
    assert_int_equal(pco_t_resp.head_len, strlen(h) - 5);
    assert_int_equal(pco_t_resp.headers[1].value.len, 1);
    assert_memory_equal(pco_t_resp.headers[1].value.data, "b", 1);
    assert_false(pco_t_resp.chunked);
}

static void
pco_t_variants(void **state)
{
    (void) state;
    assert_int_equal(pco_t_parse("HTTP/1.0 404\n\n"), PCO_OK);
    assert_int_equal(pco_t_resp.status, 404);
    assert_int_equal(pco_t_resp.version, 10);
    assert_int_equal(pco_t_resp.content_length, -1);
    assert_int_equal(pco_t_parse("HTTP/1.1 204 \r\n\r\n"), PCO_OK);
    assert_int_equal(pco_t_resp.status, 204);
    assert_int_equal(pco_t_parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                 "Connection: keep-alive, Close\r\n\r\n"), PCO_OK);
    assert_true(pco_t_resp.chunked);
    assert_true(pco_t_resp.conn_close);
    assert_int_equal(pco_t_parse("HTTP/1.1 101 Switching\r\nConnection: Upgrade\r\n\r\n"),
                     PCO_OK);
    assert_true(pco_t_resp.conn_upgrade);
    assert_int_equal(pco_t_parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                 "Content-Length: 3\r\n\r\n"), PCO_OK);
    assert_int_equal(pco_t_resp.content_length, 3);
}

static void
pco_t_partial(void **state)
{
    (void) state;
    assert_int_equal(pco_t_parse("HTTP/1.1 200 OK\r\nA: b\r\n"), PCO_AGAIN);
    assert_int_equal(pco_t_parse("HTTP/1.1 200"), PCO_AGAIN);
    assert_int_equal(pco_t_parse("HTT"), PCO_AGAIN);
    assert_int_equal(pco_t_parse("garbage"), PCO_ERROR);
}

static void
pco_t_bad(void **state)
{
    static const char *const bad[] = {
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 600 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\x01c\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        NULL
    };
    size_t  i;

    (void) state;
    for (i = 0; bad[i] != NULL; i++) {
        if (pco_t_parse(bad[i]) != PCO_ERROR) {
            fail_msg("accepted: %s", bad[i]);
        }
    }
}

static void
pco_t_too_many(void **state)
{
    char    big[8192];
    size_t  off;
    int     i;

    (void) state;
    off = (size_t) sprintf(big, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < PCO_PROXY_MAX_HEADERS + 1; i++) {
        off += (size_t) sprintf(big + off, "H%d: v\r\n", i);
    }
    sprintf(big + off, "\r\n");
    assert_int_equal(pco_t_parse(big), PCO_ERROR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_ok),
        cmocka_unit_test(pco_t_variants),
        cmocka_unit_test(pco_t_partial),
        cmocka_unit_test(pco_t_bad),
        cmocka_unit_test(pco_t_too_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
