/*
 * test_proxy_parse.c: the proxy's strict upstream response-head parser
 * (modules/proxy/pco_proxy_parse.c): status lines, headers, framing conflicts, partial input;
 * and the in-place decoding of a chunked body read in pieces (pco_proxy_dechunk).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include "pco_proxy_parse.h"

/* room for every header a response may have (growth: pco_t_room) */
static pco_http_header_t  pco_t_hdrs[PCO_PROXY_MAX_HEADERS];
static pco_proxy_resp_t   pco_t_resp = { .headers = pco_t_hdrs,
                                         .nalloc = PCO_PROXY_MAX_HEADERS };

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

/* The list is the caller's: full below the maximum, the parser asks for room for the
 * header lines received so far, and the caller's list is kept from call to call. */
static void
pco_t_room(void **state)
{
    static u_char      buf[8192];
    pco_http_header_t  small[2], four[4], *many;
    pco_proxy_resp_t   r;
    const char        *h = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\nA: 3\r\n"
                           "Content-Length: 2\r\n\r\nok";
    size_t             len = strlen(h), off;
    int                i;

    (void) state;
    memcpy(buf, h, len);
    memset(&r, 0, sizeof(r));
    r.headers = small;
    r.nalloc = 2;
    assert_int_equal(pco_proxy_parse_response(buf, len, &r), PCO_PROXY_ROOM);
    assert_int_equal(r.nheaders, 2);
    assert_int_equal(r.nwant, 4);              /* up to the empty line, not the body */
    /* a partial head: the lines received so far */
    assert_int_equal(pco_proxy_parse_response(buf, 34, &r), PCO_PROXY_ROOM);
    assert_int_equal(r.nwant, 3);
    r.headers = four;
    r.nalloc = 4;
    assert_int_equal(pco_proxy_parse_response(buf, 34, &r), PCO_AGAIN);
    assert_int_equal(pco_proxy_parse_response(buf, len, &r), PCO_OK);
    assert_ptr_equal(r.headers, four);
    assert_int_equal(r.nalloc, 4);
    assert_int_equal(r.nheaders, 4);
    assert_int_equal(r.content_length, 2);
    /* duplicated names kept, in order */
    assert_memory_equal(r.headers[0].name.data, "A", 1);
    assert_memory_equal(r.headers[0].value.data, "1", 1);
    assert_memory_equal(r.headers[1].name.data, "B", 1);
    assert_memory_equal(r.headers[2].name.data, "A", 1);
    assert_memory_equal(r.headers[2].value.data, "3", 1);

    /* the maximum: asked for all of it, then accepted; one more is an error */
    off = (size_t) sprintf((char *) buf, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < PCO_PROXY_MAX_HEADERS; i++) {
        off += (size_t) sprintf((char *) buf + off, "H%d: v\r\n", i);
    }
    sprintf((char *) buf + off, "\r\n");
    r.headers = four;
    r.nalloc = 4;
    assert_int_equal(pco_proxy_parse_response(buf, off + 2, &r), PCO_PROXY_ROOM);
    assert_int_equal(r.nwant, PCO_PROXY_MAX_HEADERS);
    many = malloc(PCO_PROXY_MAX_HEADERS * sizeof(pco_http_header_t));
    r.headers = many;
    r.nalloc = PCO_PROXY_MAX_HEADERS;
    assert_int_equal(pco_proxy_parse_response(buf, off + 2, &r), PCO_OK);
    assert_int_equal(r.nheaders, PCO_PROXY_MAX_HEADERS);
    assert_memory_equal(r.headers[99].name.data, "H99", 3);
    sprintf((char *) buf + off, "X: y\r\n\r\n");
    assert_int_equal(pco_proxy_parse_response(buf, off + 8, &r), PCO_ERROR);
    free(many);
}

/* Decodes text in reads of at most max bytes; the payload goes to out, *extra when bytes
 * follow the body in the read that ends it. Returns the last result. */
static int
pco_t_dechunk(const char *text, size_t max, char *out, size_t *out_len, bool *extra,
              int *status)
{
    pco_http_chunked_t  ch;
    u_char              buf[64];
    size_t              off = 0, total = strlen(text), n, len;
    int                 rc = PCO_OK;

    memset(&ch, 0, sizeof(ch));
    ch.meta_limit = 16;
    *out_len = 0;
    *extra = false;
    while (off < total && rc == PCO_OK) {
        n = total - off < max ? total - off : max;
        memcpy(buf, text + off, n);
        rc = pco_proxy_dechunk(&ch, buf, n, &len, extra);
        memcpy(out + *out_len, buf, len);
        *out_len += len;
        off += n;
    }
    *status = ch.status;
    return rc;
}

static void
pco_t_dechunk_pieces(void **state)
{
    const char  *body = "5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n";
    static const size_t  reads[] = { 64, 1, 7 };
    char                 out[64];
    size_t               len, i;
    bool                 extra;
    int                  status;

    (void) state;
    /* the same payload whatever the reads: one, a byte each, seven bytes each */
    for (i = 0; i < 3; i++) {
        assert_int_equal(pco_t_dechunk(body, reads[i], out, &len, &extra, &status), PCO_DONE);
        assert_int_equal(len, 11);
        assert_memory_equal(out, "hello world", 11);
        assert_false(extra);
    }
    assert_int_equal(pco_t_dechunk("3\r\nabc\r\n", 64, out, &len, &extra, &status), PCO_OK);
    assert_int_equal(len, 3);
    assert_int_equal(pco_t_dechunk("1\r\na\r\n0\r\n\r\nHTTP", 64, out, &len, &extra,
                                   &status), PCO_DONE);
    assert_int_equal(len, 1);
    assert_true(extra);
}

static void
pco_t_dechunk_bad(void **state)
{
    char    out[64];
    size_t  len;
    bool    extra;
    int     status;

    (void) state;
    /* the payload before bad framing is kept; the status says why */
    assert_int_equal(pco_t_dechunk("2\r\nab\r\nZ\r\n", 64, out, &len, &extra, &status),
                     PCO_ERROR);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "ab", 2);
    assert_int_equal(status, 400);
    assert_int_equal(pco_t_dechunk("2\r\nabX", 64, out, &len, &extra, &status), PCO_ERROR);
    assert_int_equal(len, 2);
    assert_int_equal(pco_t_dechunk("11111111111111111\r\n", 64, out, &len, &extra, &status),
                     PCO_ERROR);
    assert_int_equal(status, 400);
    /* extensions and trailers over meta_limit (16 here) */
    assert_int_equal(pco_t_dechunk("1;aaaaaaaaaaaaaaaaaaaa\r\n", 64, out, &len, &extra,
                                   &status), PCO_ERROR);
    assert_int_equal(status, 431);
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
        cmocka_unit_test(pco_t_room),
        cmocka_unit_test(pco_t_dechunk_pieces),
        cmocka_unit_test(pco_t_dechunk_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
