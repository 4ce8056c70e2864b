/*
 * test_http2_head.c: modules/http2/pco_http2_head.c, every rule both ways: a good request
 * and what it fills in, pseudo-header presence/duplicates/order/unknown/:status/:protocol,
 * :path and :authority forms, field-name and field-value bytes, connection-specific fields
 * and te, content-length (strict, repeats), :authority versus host, cookie joining, the
 * field-count limit, 405/417 statuses. Skipped in a build without the module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include "pco_core.h"

#ifdef PCO_HAVE_HTTP2

#include "pco_pool.h"
#include "pco_http2_head.h"

static pco_pool_t        *pco_test_pool;
static pco_http_head_t    pco_test_head;
static pco_http2_head_t   pco_test_h2;

/* Runs the fields (name, value, name, value, ..., NULL) through the validator; the
 * verdict of the first failing add or of finish. */
static int
pco_test_run_flags(unsigned flags, const char *const *f)
{
    int  rc;

    if (pco_test_pool != NULL) {
        pco_pool_destroy(pco_test_pool);
    }
    pco_test_pool = pco_pool_create(4096, 1 << 20);
    assert_non_null(pco_test_pool);
    assert_int_equal(pco_http2_head_init(&pco_test_h2, pco_test_pool, &pco_test_head, flags),
                     PCO_OK);
    for (; f[0] != NULL; f += 2) {
        rc = pco_http2_head_add(&pco_test_h2, (const u_char *) f[0], strlen(f[0]),
                                (const u_char *) f[1], strlen(f[1]));
        if (rc != 0) {
            return rc;
        }
    }
    return pco_http2_head_finish(&pco_test_h2);
}

#define RUN(...)  pco_test_run_flags(0, (const char *const[]) { __VA_ARGS__, NULL })
#define RUNF(fl, ...)  pco_test_run_flags(fl, (const char *const[]) { __VA_ARGS__, NULL })
#define GOOD ":method", "GET", ":scheme", "https", ":path", "/a?b=1"
#define MALFORMED(reason_, ...) do {                                             \
        assert_int_equal(RUN(__VA_ARGS__), PCO_HTTP2_MALFORMED);                 \
        assert_string_equal(pco_test_h2.reason, reason_);                        \
    } while (0)

static void
pco_test_str(const pco_str_t *s, const char *want)
{
    assert_int_equal(s->len, strlen(want));
    assert_memory_equal(s->data, want, s->len);
}

static void
test_good_request(void **state)
{
    pco_http_head_t  *h = &pco_test_head;

    (void) state;
    assert_int_equal(RUN(GOOD, ":authority", "Example.com:8443", "accept", "*/*",
                         "content-length", "5"), 0);
    pco_test_str(&h->method_name, "GET");
    assert_int_equal(h->method, PCO_HTTP_GET);
    pco_test_str(&h->target, "/a?b=1");
    pco_test_str(&h->path, "/a");
    pco_test_str(&h->query, "b=1");
    pco_test_str(&h->request_line, "GET /a?b=1 HTTP/2.0");
    assert_int_equal(h->version, 20);
    assert_false(h->keepalive);
    assert_false(h->chunked);
    assert_int_equal(h->content_length, 5);
    assert_int_equal(h->nheaders, 3);
    pco_test_str(&h->headers[0].name, "accept");
    pco_test_str(&h->headers[1].name, "content-length");
    assert_int_equal(h->host_idx, 3);
    pco_test_str(&h->headers[2].name, "host");
    pco_test_str(&h->headers[2].value, "Example.com:8443");
    pco_test_str(&pco_test_h2.scheme, "https");
    assert_int_equal(h->connection_idx, 0);
    assert_int_equal(h->upgrade_idx, 0);

    /* no authority, no host: the head has none (the engine decides) */
    assert_int_equal(RUN(":method", "GET", ":scheme", "https", ":path", "/"), 0);
    assert_int_equal(h->host_idx, 0);
    assert_int_equal(h->content_length, -1);
    assert_null(h->query.data);
    assert_int_equal(RUN(":method", "GET", ":scheme", "https", ":path", "/?"), 0);
    assert_non_null(h->query.data);
    assert_int_equal(h->query.len, 0);
    assert_int_equal(RUN(":method", "OPTIONS", ":scheme", "http", ":path", "*"), 0);
    assert_int_equal(h->method, PCO_HTTP_OPTIONS);
    pco_test_str(&h->path, "*");
}

static void
test_pseudo_presence(void **state)
{
    (void) state;
    MALFORMED("no :method", ":scheme", "https", ":path", "/");
    MALFORMED("missing pseudo-header", ":method", "GET", ":path", "/");
    MALFORMED("missing pseudo-header", ":method", "GET", ":scheme", "https");
    MALFORMED("duplicate pseudo-header", GOOD, ":path", "/b");
    MALFORMED("duplicate pseudo-header", ":method", "GET", ":method", "GET");
    MALFORMED("unknown pseudo-header", GOOD, ":foo", "x");
    MALFORMED("response pseudo-header in a request", GOOD, ":status", "200");
    MALFORMED("pseudo-header after a regular field", ":method", "GET", ":scheme", "https",
              "accept", "*/*", ":path", "/");
    MALFORMED("bad field name", GOOD, ":", "x");
    MALFORMED("bad :method, :scheme or :protocol", ":method", "G T", ":scheme", "https",
              ":path", "/");
    MALFORMED("bad :method, :scheme or :protocol", ":method", "", ":scheme", "https",
              ":path", "/");
}

static void
test_connect(void **state)
{
    (void) state;
    /* plain CONNECT: :authority only, answered 405 like HTTP/1's CONNECT */
    assert_int_equal(RUN(":method", "CONNECT", ":authority", "a.example:443"), 405);
    pco_test_str(&pco_test_head.target, "a.example:443");
    pco_test_str(&pco_test_head.request_line, "CONNECT a.example:443 HTTP/2.0");
    MALFORMED("CONNECT needs :authority only", ":method", "CONNECT", ":authority", "a:1",
              ":path", "/");
    MALFORMED("CONNECT needs :authority only", ":method", "CONNECT");
    assert_int_equal(RUN(GOOD), 0);
    assert_int_equal(RUN(":method", "TRACE", ":scheme", "https", ":path", "/"), 405);

    /* extended CONNECT only when allowed */
    MALFORMED("unknown pseudo-header", ":method", "CONNECT", ":protocol", "websocket",
              ":scheme", "https", ":path", "/ws", ":authority", "a");
    assert_int_equal(RUNF(PCO_HTTP2_HEAD_CONNECT_PROTOCOL, ":method", "CONNECT",
                          ":protocol", "websocket", ":scheme", "https", ":path", "/ws",
                          ":authority", "a"), 0);
    pco_test_str(&pco_test_h2.protocol, "websocket");
    assert_int_equal(pco_test_head.method, PCO_HTTP_CONNECT);
    pco_test_str(&pco_test_head.path, "/ws");
    assert_int_equal(RUNF(PCO_HTTP2_HEAD_CONNECT_PROTOCOL, ":method", "GET",
                          ":protocol", "websocket", ":scheme", "https", ":path", "/ws",
                          ":authority", "a"), PCO_HTTP2_MALFORMED);
    assert_string_equal(pco_test_h2.reason, ":protocol without CONNECT");
    assert_int_equal(RUNF(PCO_HTTP2_HEAD_CONNECT_PROTOCOL, ":method", "CONNECT",
                          ":protocol", "websocket", ":scheme", "https", ":path", "/ws"),
                     PCO_HTTP2_MALFORMED);
    assert_string_equal(pco_test_h2.reason, "missing pseudo-header");
}

static void
test_path_authority(void **state)
{
    (void) state;
    MALFORMED("bad :path", ":method", "GET", ":scheme", "https", ":path", "a/b");
    MALFORMED("bad :path", ":method", "GET", ":scheme", "https", ":path", "http://a/b");
    MALFORMED("bad :path", ":method", "GET", ":scheme", "https", ":path", "*");
    MALFORMED("bad :path", ":method", "OPTIONS", ":scheme", "https", ":path", "*x");
    MALFORMED("bad :path", ":method", "GET", ":scheme", "https", ":path", "");
    MALFORMED("bad :path", ":method", "GET", ":scheme", "https", ":path", "/a b");
    MALFORMED("bad :path", ":method", "GET", ":scheme", "https", ":path", "/a#f");
    MALFORMED("control character in a field value", ":method", "GET", ":scheme", "https",
              ":path", "/a\x7f");
    MALFORMED("control character in a field value", ":method", "GET", ":scheme", "https",
              ":path", "/a\x01");
    MALFORMED("bad :authority", GOOD, ":authority", "user@host");
    MALFORMED("bad :authority", GOOD, ":authority", "");
    MALFORMED("bad :authority", GOOD, ":authority", "a\tb");
    assert_int_equal(RUN(":method", "GET", ":scheme", "https", ":path", "/%C3%A9\xc3\xa9"), 0);
}

static void
test_names(void **state)
{
    (void) state;
    MALFORMED("uppercase field name", GOOD, "Accept", "x");
    MALFORMED("uppercase field name", GOOD, ":Path", "/");
    MALFORMED("bad field name", GOOD, "a\rb", "x");
    MALFORMED("bad field name", GOOD, "a\nb", "x");
    MALFORMED("bad field name", GOOD, "a b", "x");
    MALFORMED("bad field name", GOOD, "a:b", "x");
    MALFORMED("empty field name", GOOD, "", "x");
    assert_int_equal(RUN(GOOD, "x-a_b.c~!", "x"), 0);
    pco_test_str(&pco_test_head.headers[0].name, "x-a_b.c~!");

    /* a NUL in a name: the validator sees the length, not a C string */
    assert_int_equal(pco_test_run_flags(0, (const char *const[]) { GOOD, NULL }), 0);
    assert_int_equal(pco_http2_head_add(&pco_test_h2, (const u_char *) "a\0b", 3,
                                        (const u_char *) "x", 1), PCO_HTTP2_MALFORMED);
    assert_string_equal(pco_test_h2.reason, "bad field name");
}

static void
test_values(void **state)
{
    (void) state;
    MALFORMED("NUL, CR or LF in a field value", GOOD, "x", "a\rb");
    MALFORMED("NUL, CR or LF in a field value", GOOD, "x", "a\nb");
    MALFORMED("control character in a field value", GOOD, "x", "a\x1b");
    MALFORMED("whitespace around a field value", GOOD, "x", " a");
    MALFORMED("whitespace around a field value", GOOD, "x", "a\t");
    assert_int_equal(RUN(GOOD, "x", "a \tb", "y", ""), 0);
    pco_test_str(&pco_test_head.headers[0].value, "a \tb");
    pco_test_str(&pco_test_head.headers[1].value, "");

    assert_int_equal(pco_test_run_flags(0, (const char *const[]) { GOOD, NULL }), 0);
    assert_int_equal(pco_http2_head_add(&pco_test_h2, (const u_char *) "x", 1,
                                        (const u_char *) "a\0b", 3), PCO_HTTP2_MALFORMED);
    assert_string_equal(pco_test_h2.reason, "NUL, CR or LF in a field value");
    /* sticky: a later good field does not undo the verdict */
    assert_int_equal(pco_http2_head_add(&pco_test_h2, (const u_char *) "y", 1,
                                        (const u_char *) "b", 1), PCO_HTTP2_MALFORMED);
    assert_int_equal(pco_http2_head_finish(&pco_test_h2), PCO_HTTP2_MALFORMED);
}

static void
test_connection_specific(void **state)
{
    (void) state;
    MALFORMED("connection-specific field", GOOD, "connection", "close");
    MALFORMED("connection-specific field", GOOD, "keep-alive", "timeout=5");
    MALFORMED("connection-specific field", GOOD, "proxy-connection", "keep-alive");
    MALFORMED("connection-specific field", GOOD, "transfer-encoding", "chunked");
    MALFORMED("connection-specific field", GOOD, "upgrade", "websocket");
    MALFORMED("te other than trailers", GOOD, "te", "gzip");
    MALFORMED("te other than trailers", GOOD, "te", "trailers, gzip");
    assert_int_equal(RUN(GOOD, "te", "trailers"), 0);
    assert_false(pco_test_head.chunked);
}

static void
test_content_length(void **state)
{
    (void) state;
    MALFORMED("bad content-length", GOOD, "content-length", "");
    MALFORMED("bad content-length", GOOD, "content-length", "+5");
    MALFORMED("bad content-length", GOOD, "content-length", "5,5");
    MALFORMED("bad content-length", GOOD, "content-length", "0x10");
    MALFORMED("bad content-length", GOOD, "content-length", "1234567890123456789");
    MALFORMED("content-length values disagree", GOOD, "content-length", "5",
              "content-length", "6");
    assert_int_equal(RUN(GOOD, "content-length", "007", "content-length", "7"), 0);
    assert_int_equal(pco_test_head.content_length, 7);
    assert_int_equal(pco_test_head.nheaders, 1);          /* the repeat is not kept */
    assert_int_equal(RUN(GOOD, "content-length", "123456789012345678"), 0);
    assert_int_equal(pco_test_head.content_length, 123456789012345678LL);
}

static void
test_authority_host(void **state)
{
    (void) state;
    assert_int_equal(RUN(GOOD, "host", "only.example"), 0);
    assert_int_equal(pco_test_head.host_idx, 1);
    pco_test_str(&pco_test_head.headers[0].value, "only.example");
    assert_int_equal(RUN(GOOD, ":authority", "A.example", "x", "1", "host", "a.EXAMPLE"), 0);
    assert_int_equal(pco_test_head.nheaders, 2);
    assert_int_equal(pco_test_head.host_idx, 2);
    MALFORMED(":authority and host disagree", GOOD, ":authority", "a.example",
              "host", "b.example");
    MALFORMED("duplicate host", GOOD, "host", "a", "host", "a");
}

static void
test_cookies(void **state)
{
    pco_http_head_t  *h = &pco_test_head;

    (void) state;
    assert_int_equal(RUN(GOOD, "x", "1", "cookie", "a=1", "y", "2", "cookie", "",
                         "cookie", "b=2"), 0);
    assert_int_equal(h->nheaders, 3);
    pco_test_str(&h->headers[0].name, "x");
    pco_test_str(&h->headers[1].name, "cookie");
    pco_test_str(&h->headers[1].value, "a=1; ; b=2");
    pco_test_str(&h->headers[2].name, "y");
    assert_int_equal(RUN(GOOD, "cookie", "only=1"), 0);
    assert_int_equal(h->nheaders, 1);
    pco_test_str(&h->headers[0].value, "only=1");
    /* the host index is right after the crumbs closed their gaps */
    assert_int_equal(RUN(GOOD, "cookie", "a", "cookie", "b", "host", "h"), 0);
    assert_int_equal(h->host_idx, 2);
    pco_test_str(&h->headers[1].value, "h");
}

/* GOOD, then extra pseudo-headers, then n regular fields x0..x(n-1): the verdict. */
static int
pco_test_run_many(const char *extra_name, const char *extra_value, unsigned n)
{
    static char  names[PCO_HTTP_MAX_HEADERS + 2][8];
    const char  *f[2 * (PCO_HTTP_MAX_HEADERS + 2) + 10];
    const char  *good[] = { GOOD };
    unsigned     i, k = 0;

    for (i = 0; i < 6; i++) {
        f[k++] = good[i];
    }
    if (extra_name != NULL) {
        f[k++] = extra_name;
        f[k++] = extra_value;
    }
    for (i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "x%u", i);
        f[k++] = names[i];
        f[k++] = "v";
    }
    f[k] = NULL;
    return pco_test_run_flags(0, f);
}

static void
test_limits_and_expect(void **state)
{
    (void) state;
    assert_int_equal(pco_test_run_many(NULL, NULL, PCO_HTTP_MAX_HEADERS), 0);
    assert_int_equal(pco_test_head.nheaders, PCO_HTTP_MAX_HEADERS);
    assert_true(pco_test_head.nalloc >= PCO_HTTP_MAX_HEADERS);   /* the list grew */
    assert_int_equal(pco_test_run_many(NULL, NULL, PCO_HTTP_MAX_HEADERS + 1), 431);
    /* the host entry :authority makes counts too */
    assert_int_equal(pco_test_run_many(":authority", "a", PCO_HTTP_MAX_HEADERS - 1), 0);
    assert_int_equal(pco_test_head.host_idx, PCO_HTTP_MAX_HEADERS);
    assert_int_equal(pco_test_run_many(":authority", "a", PCO_HTTP_MAX_HEADERS), 431);

    assert_int_equal(RUN(GOOD, "expect", "100-Continue"), 0);
    assert_true(pco_test_head.expect_continue);
    assert_int_equal(RUN(GOOD, "expect", "something"), 417);
}

static int
pco_test_teardown(void **state)
{
    (void) state;
    if (pco_test_pool != NULL) {
        pco_pool_destroy(pco_test_pool);
        pco_test_pool = NULL;
    }
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_request),
        cmocka_unit_test(test_pseudo_presence),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_path_authority),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_connection_specific),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_authority_host),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_limits_and_expect),
    };

    return cmocka_run_group_tests(tests, NULL, pco_test_teardown);
}

#else

static void
pco_test_skip(void **state)
{
    (void) state;
    skip();   /* built without the http2 module */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_skip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
