/*
 * test_http_write.c: the chunked framing filter edits a chain in place (size line, data,
 * CRLF, last chunk) and drops the body of header-only responses; pco_http_set_header
 * refuses control characters and replaces by case-insensitive name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "pco_http_int.h"

static pco_chain_t *
pco_t_chain(pco_pool_t *pool, const char *s, bool last)
{
    pco_buf_t *b = pco_buf_calloc(pool);

    b->pos = b->start = (u_char *) s;
    b->last = b->end = (u_char *) s + strlen(s);
    b->memory = 1;
    b->last_buf = last;
    return pco_chain_link(pool, b);
}

static void
pco_t_flatten(pco_chain_t *cl, char *out)
{
    size_t n = 0;

    for (; cl != NULL; cl = cl->next) {
        memcpy(out + n, cl->buf->pos, pco_buf_size(cl->buf));
        n += pco_buf_size(cl->buf);
    }
    out[n] = '\0';
}

static void
pco_t_chunked(void **state)
{
    pco_pool_t      *pool = pco_pool_create(4096, 0);
    pco_http_req_t   rq;
    pco_chain_t     *in;
    char             out[256];

    (void) state;
    memset(&rq, 0, sizeof(rq));
    rq.r.pool = pool;
    rq.r.chunked_out = 1;
    in = pco_t_chain(pool, "hello", false);
    in->next = pco_t_chain(pool, " world", true);
    assert_int_equal(pco_http_chunked_filter(&rq.r, in), PCO_OK);
    pco_t_flatten(in, out);
    assert_string_equal(out, "b\r\nhello world\r\n0\r\n\r\n");
    in = pco_t_chain(pool, "abc", false);
    assert_int_equal(pco_http_chunked_filter(&rq.r, in), PCO_OK);
    pco_t_flatten(in, out);
    assert_string_equal(out, "3\r\nabc\r\n");
    in = pco_t_chain(pool, "", true);
    assert_int_equal(pco_http_chunked_filter(&rq.r, in), PCO_OK);
    pco_t_flatten(in, out);
    assert_string_equal(out, "0\r\n\r\n");
    rq.r.header_only = 1;
    in = pco_t_chain(pool, "body", true);
    assert_int_equal(pco_http_chunked_filter(&rq.r, in), PCO_OK);
    pco_t_flatten(in, out);
    assert_string_equal(out, "");
    assert_true(in->buf->last_buf);
    pco_pool_destroy(pool);
}

static void
pco_t_set_header(void **state)
{
    pco_http_req_t    rq;
    pco_connection_t  c;
    pco_log_t         log;
    pco_str_t         n1 = pco_string("X-A"), n2 = pco_string("x-a"), v1 = pco_string("1"),
                      v2 = pco_string("2"), bad = pco_string("a\r\nb"), none = pco_null_string;

    static const char  digits[] = "0123456789";
    static pco_str_t   vals[PCO_HTTP_MAX_RESPONSE_HEADERS];
    unsigned           i;

    (void) state;
    memset(&rq, 0, sizeof(rq));
    memset(&c, 0, sizeof(c));
    memset(&log, 0, sizeof(log));
    c.log = &log;
    rq.r.connection = &c;
    rq.r.pool = pco_pool_create(4096, 0);
    assert_non_null(rq.r.pool);
    assert_int_equal(pco_http_set_header(&rq.r, &n1, &v1, false), PCO_OK);
    assert_int_equal(pco_http_set_header(&rq.r, &n1, &v1, false), PCO_OK);
    assert_int_equal(rq.r.out.nheaders, 2);
    assert_int_equal(pco_http_set_header(&rq.r, &n2, &v2, true), PCO_OK);
    assert_int_equal(rq.r.out.nheaders, 1);
    assert_memory_equal(rq.r.out.headers[0].value.data, "2", 1);
    assert_int_equal(pco_http_set_header(&rq.r, &n1, &bad, false), 500);
    assert_int_equal(rq.r.out.nheaders, 1);
    assert_int_equal(pco_http_set_header(&rq.r, &n1, &none, true), PCO_OK);
    assert_int_equal(rq.r.out.nheaders, 0);

    /* the array grows up to PCO_HTTP_MAX_RESPONSE_HEADERS, keeping what it held */
    for (i = 0; i < PCO_HTTP_MAX_RESPONSE_HEADERS; i++) {
        vals[i].data = (u_char *) &digits[i % 10];
        vals[i].len = 1;
        assert_int_equal(pco_http_set_header(&rq.r, &n1, &vals[i], false), PCO_OK);
    }
    assert_int_equal(rq.r.out.nheaders, PCO_HTTP_MAX_RESPONSE_HEADERS);
    assert_int_equal(pco_http_set_header(&rq.r, &n1, &v1, false), PCO_ERROR);
    for (i = 0; i < PCO_HTTP_MAX_RESPONSE_HEADERS; i++) {
        assert_int_equal(rq.r.out.headers[i].value.data[0], digits[i % 10]);
    }
    pco_pool_destroy(rq.r.pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_chunked),
        cmocka_unit_test(pco_t_set_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
