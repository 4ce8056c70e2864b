/*
 * test_http_parse.c: the pure HTTP/1.x parser: resumable head-end search at every split
 * point, request line and header rules with their exact status codes, framing headers,
 * Connection/Expect, path and host normalisation, full decoding, and the chunked decoder fed
 * whole, at every split point and one byte at a time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include "pco_http_parse.h"

/* Room for every header a head may have: the parse never asks for more here (the growth
 * is tested on its own in pco_test_header_room). */
static pco_http_header_t  pco_test_hdrs[PCO_HTTP_MAX_HEADERS];
static pco_http_head_t    pco_test_h = { .headers = pco_test_hdrs,
                                         .nalloc = PCO_HTTP_MAX_HEADERS };

/* Parses a NUL-terminated head (copied, so ASan sees the exact bounds). */
static int
pco_test_parse(const char *s)
{
    static u_char  buf[16384];
    size_t         len;

    len = strlen(s);
    memcpy(buf, s, len);
    return pco_http_parse_head(&pco_test_h, buf, len, 8192);
}

static bool
pco_test_str(const pco_str_t *s, const char *lit)
{
    return s->len == strlen(lit) && memcmp(s->data, lit, s->len) == 0;
}

/* find_head_end all at once */
static size_t
pco_test_find(const char *s, size_t *line_end)
{
    pco_http_head_scan_t  scan = { 0, 0 };
    size_t                n;

    n = pco_http_find_head_end((const u_char *) s, strlen(s), &scan);
    *line_end = scan.line_end;
    return n;
}

static void
pco_test_find_head_end(void **state)
{
    static const char  *heads[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next",
        "\n\nGET / HTTP/1.1\nHost: a\n\nxyz",
        "GET / HTTP/1.0\r\n\r\n",
        "\r\nGET / HTTP/1.0\n\r\n",
        "POST /x HTTP/1.1\r\nA: b\r\nC: d\r\n\nbody",
    };
    static const size_t  want[] = { 27, 31, 26, 18, 19, 31 };
    static const size_t  want_le[] = { 16, 20, 17, 16, 17, 18 };
    u_char                buf[128];
    pco_http_head_scan_t  scan;
    size_t                i, len, k, split, n, le;

    (void) state;
    for (i = 0; i < pco_nelems(heads); i++) {
        n = pco_test_find(heads[i], &le);
        assert_int_equal(n, want[i]);
        assert_int_equal(le, want_le[i]);
        len = strlen(heads[i]);
        memcpy(buf, heads[i], len);
        /* two pieces at every split point */
        for (split = 0; split <= len; split++) {
            memset(&scan, 0, sizeof(scan));
            n = pco_http_find_head_end(buf, split, &scan);
            if (n == 0) {
                n = pco_http_find_head_end(buf, len, &scan);
            }
            assert_int_equal(n, want[i]);
            assert_int_equal(scan.line_end, want_le[i]);
        }
        /* one byte at a time */
        memset(&scan, 0, sizeof(scan));
        n = 0;
        for (k = 1; k <= len && n == 0; k++) {
            n = pco_http_find_head_end(buf, k, &scan);
        }
        assert_int_equal(n, want[i]);
        assert_int_equal(scan.line_end, want_le[i]);
    }

    /* incomplete */
    assert_int_equal(pco_test_find("GET / HTTP/1.1\r\nHost: a\r\n", &le), 0);
    assert_int_equal(le, 16);
    assert_int_equal(pco_test_find("\r\n\r\n", &le), 0);
    assert_int_equal(le, 0);
    assert_int_equal(pco_test_find("GET / HTTP/1.1", &le), 0);
    assert_int_equal(le, 0);
}

static void
pco_test_simple_get(void **state)
{
    pco_http_head_t  *h = &pco_test_h;

    (void) state;
    assert_int_equal(pco_test_parse("GET /a/b?x=1&y HTTP/1.1\r\nHost: Example.com \r\n"
                                    "User-Agent:\tcurl/8\t \r\nAccept: */*\r\n\r\n"), 0);
    assert_true(pco_test_str(&h->method_name, "GET"));
    assert_int_equal(h->method, PCO_HTTP_GET);
    assert_true(pco_test_str(&h->target, "/a/b?x=1&y"));
    assert_true(pco_test_str(&h->path, "/a/b"));
    assert_true(pco_test_str(&h->query, "x=1&y"));
    assert_int_equal(h->authority.len, 0);
    assert_true(pco_test_str(&h->request_line, "GET /a/b?x=1&y HTTP/1.1"));
    assert_int_equal(h->version, 11);
    assert_int_equal(h->nheaders, 3);
    assert_true(pco_test_str(&h->headers[0].name, "Host"));
    assert_true(pco_test_str(&h->headers[0].value, "Example.com"));
    assert_true(pco_test_str(&h->headers[1].value, "curl/8"));
    assert_int_equal(h->host_idx, 1);
    assert_int_equal(h->content_length, -1);
    assert_false(h->chunked);
    assert_true(h->keepalive);
    assert_false(h->expect_continue);
    assert_non_null(pco_http_head_find(h, "accept", 6));
    assert_ptr_equal(pco_http_head_find(h, "USER-AGENT", 10), &h->headers[1]);
    assert_null(pco_http_head_find(h, "cookie", 6));

    /* no query: NULL data; '?' with empty query */
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\nHost: a\n\n"), 0);
    assert_null(h->query.data);
    assert_int_equal(pco_test_parse("GET /?\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET /? HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(h->query.len, 0);
    assert_non_null(h->query.data);

    /* leading empty lines */
    assert_int_equal(pco_test_parse("\r\n\nGET /x HTTP/1.0\r\n\r\n"), 0);
    assert_true(pco_test_str(&h->request_line, "GET /x HTTP/1.0"));
    assert_int_equal(h->version, 10);
    assert_false(h->keepalive);
    /* empty value */
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\nX-E:   \r\nX-F:\r\n\r\n"), 0);
    assert_int_equal(h->headers[1].value.len, 0);
    assert_int_equal(h->headers[2].value.len, 0);
    /* obs-text in a value */
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"), 0);
}

static void
pco_test_methods(void **state)
{
    pco_http_head_t  *h = &pco_test_h;

    (void) state;
    assert_int_equal(pco_http_method_bit((const u_char *) "GET", 3), PCO_HTTP_GET);
    assert_int_equal(pco_http_method_bit((const u_char *) "HEAD", 4), PCO_HTTP_HEAD);
    assert_int_equal(pco_http_method_bit((const u_char *) "POST", 4), PCO_HTTP_POST);
    assert_int_equal(pco_http_method_bit((const u_char *) "PUT", 3), PCO_HTTP_PUT);
    assert_int_equal(pco_http_method_bit((const u_char *) "DELETE", 6), PCO_HTTP_DELETE);
    assert_int_equal(pco_http_method_bit((const u_char *) "OPTIONS", 7), PCO_HTTP_OPTIONS);
    assert_int_equal(pco_http_method_bit((const u_char *) "PATCH", 5), PCO_HTTP_PATCH);
    assert_int_equal(pco_http_method_bit((const u_char *) "CONNECT", 7), PCO_HTTP_CONNECT);
    assert_int_equal(pco_http_method_bit((const u_char *) "TRACE", 5), PCO_HTTP_TRACE);
    assert_int_equal(pco_http_method_bit((const u_char *) "PURGE", 5), PCO_HTTP_PURGE);
    assert_int_equal(pco_http_method_bit((const u_char *) "get", 3), PCO_HTTP_OTHER);
    assert_int_equal(pco_http_method_bit((const u_char *) "PROPFIND", 8), PCO_HTTP_OTHER);

    assert_int_equal(pco_test_parse("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(h->method, PCO_HTTP_OTHER);
    assert_int_equal(pco_test_parse("M-SEARCH! / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(pco_test_parse("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("CONNECT a.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    assert_int_equal(pco_test_parse("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    assert_int_equal(pco_test_parse("TRACE / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_true(pco_test_str(&h->path, "*"));
    assert_int_equal(pco_test_parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

static void
pco_test_request_line(void **state)
{
    pco_http_head_t  *h = &pco_test_h;
    char             big[9000];

    (void) state;
    /* spaces */
    assert_int_equal(pco_test_parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    /* versions */
    assert_int_equal(pco_test_parse("GET /\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    assert_int_equal(pco_test_parse("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505);
    assert_int_equal(pco_test_parse("GET / HTTP/0.9\r\n\r\n"), 505);
    assert_int_equal(pco_test_parse("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/11\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / XTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n"), 400);
    /* target characters */
    assert_int_equal(pco_test_parse("GET /a|{}[]^\"\x80\xff?q=\"x\" HTTP/1.1\r\nHost: a\r\n\r\n"),
                     0);
    assert_int_equal(pco_test_parse("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET a HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    /* absolute-form */
    assert_int_equal(pco_test_parse("GET HTTP://Ex.com:8080/p/q?z HTTP/1.1\r\nHost: a\r\n\r\n"),
                     0);
    assert_true(pco_test_str(&h->authority, "Ex.com:8080"));
    assert_true(pco_test_str(&h->path, "/p/q"));
    assert_true(pco_test_str(&h->query, "z"));
    assert_int_equal(pco_test_parse("GET https://ex.com HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_true(pco_test_str(&h->authority, "ex.com"));
    assert_true(pco_test_str(&h->path, "/"));
    assert_int_equal(pco_test_parse("GET http://ex.com?a=b HTTP/1.0\r\n\r\n"), 0);
    assert_true(pco_test_str(&h->path, "/"));
    assert_true(pco_test_str(&h->query, "a=b"));
    assert_int_equal(pco_test_parse("GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    /* 414 */
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', 8200);
    memcpy(big + 8205, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    assert_int_equal(pco_test_parse(big), 414);
    assert_int_equal(pco_http_parse_head(h, (u_char *) big, strlen(big), 0), 0);
    assert_int_equal(pco_http_parse_head(h, (u_char *) big, strlen(big), 8214), 0);
    assert_int_equal(pco_http_parse_head(h, (u_char *) big, strlen(big), 8213), 414);
    /* incomplete head */
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1"), 400);
}

static void
pco_test_header_lines(void **state)
{
    pco_http_head_t  *h = &pco_test_h;
    char             big[4096];
    size_t           n;
    int              i;

    (void) state;
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n"), 400);
    assert_int_equal(pco_http_parse_head(h, (u_char *) "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n",
                                         29, 0), 400);
    assert_int_equal(pco_http_parse_head(h, (u_char *) "GET / HTTP/1.1\r\nHost: ab\r\n\r\n",
                                         28, 0), 0);
    /* bare LF lines mixed with CRLF */
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\nHost: a\r\nX: y\n\r\n"), 0);
    assert_int_equal(h->nheaders, 2);
    assert_true(pco_test_str(&h->headers[1].value, "y"));

    /* exactly 100 headers (Host included) then 101 */
    n = (size_t) sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (i = 1; i < PCO_HTTP_MAX_HEADERS; i++) {
        n += (size_t) sprintf(big + n, "X%d: v\r\n", i);
    }
    strcpy(big + n, "\r\n");
    assert_int_equal(pco_test_parse(big), 0);
    assert_int_equal(h->nheaders, 100);
    strcpy(big + n, "Y: z\r\n\r\n");
    assert_int_equal(pco_test_parse(big), 431);
}

/* A caller's list with room for nalloc headers (malloc'd, so ASan sees its exact end). */
static int
pco_test_parse_room(pco_http_head_t *h, const char *s, unsigned nalloc)
{
    static u_char  buf[16384];
    size_t         len = strlen(s);

    free(h->headers);
    memset(h, 0, sizeof(*h));
    h->headers = malloc((nalloc ? nalloc : 1) * sizeof(pco_http_header_t));
    h->nalloc = nalloc;
    memcpy(buf, s, len);
    return pco_http_parse_head(h, buf, len, 8192);
}

/* The list is the caller's: full below the maximum, the parse asks for room (as many
 * entries as the head has header lines) and starts over when called again with it. */
static void
pco_test_header_room(void **state)
{
    static char       big[8192];
    pco_http_head_t   h;
    const char       *four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\nA: 3\r\n\r\n";
    size_t            n;
    int               i;

    (void) state;
    memset(&h, 0, sizeof(h));
    assert_int_equal(pco_test_parse_room(&h, four, 0), PCO_HTTP_HEAD_ROOM);
    assert_int_equal(h.nwant, 4);
    assert_int_equal(pco_test_parse_room(&h, four, 2), PCO_HTTP_HEAD_ROOM);
    assert_int_equal(h.nheaders, 2);
    assert_int_equal(h.nwant, 4);
    assert_int_equal(pco_test_parse_room(&h, four, 4), 0);
    assert_int_equal(h.nheaders, 4);
    assert_int_equal(h.nalloc, 4);
    assert_int_equal(h.host_idx, 1);
    /* duplicated names kept, in order */
    assert_true(pco_test_str(&h.headers[1].name, "A") && pco_test_str(&h.headers[1].value, "1"));
    assert_true(pco_test_str(&h.headers[2].name, "B") && pco_test_str(&h.headers[2].value, "2"));
    assert_true(pco_test_str(&h.headers[3].name, "A") && pco_test_str(&h.headers[3].value, "3"));
    /* the same head parsed again with the room kept: the list is not reset */
    assert_int_equal(pco_http_parse_head(&h, (u_char *) four, strlen(four), 8192), 0);
    assert_int_equal(h.nalloc, 4);
    /* an error before the list is full wins; one after it shows once there is room */
    assert_int_equal(pco_test_parse_room(&h, "GET / HTTP/1.1\r\nHo st: a\r\nB: 2\r\n\r\n", 1),
                     400);
    assert_int_equal(pco_test_parse_room(&h, "GET / HTTP/1.1\r\nHost: a\r\nB 2\r\n\r\n", 1),
                     PCO_HTTP_HEAD_ROOM);
    assert_int_equal(h.nwant, 2);
    assert_int_equal(pco_test_parse_room(&h, "GET / HTTP/1.1\r\nHost: a\r\nB 2\r\n\r\n", 2),
                     400);
    /* 100 headers: asked for all of them; 101: asked for the maximum, then 431 */
    n = (size_t) sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (i = 1; i < PCO_HTTP_MAX_HEADERS; i++) {
        n += (size_t) sprintf(big + n, "X%d: v%d\r\n", i, i);
    }
    strcpy(big + n, "\r\n");
    assert_int_equal(pco_test_parse_room(&h, big, 16), PCO_HTTP_HEAD_ROOM);
    assert_int_equal(h.nwant, PCO_HTTP_MAX_HEADERS);
    assert_int_equal(pco_test_parse_room(&h, big, h.nwant), 0);
    assert_int_equal(h.nheaders, PCO_HTTP_MAX_HEADERS);
    assert_true(pco_test_str(&h.headers[99].name, "X99"));
    assert_true(pco_test_str(&h.headers[99].value, "v99"));
    strcpy(big + n, "Y: z\r\n\r\n");
    assert_int_equal(pco_test_parse_room(&h, big, 16), PCO_HTTP_HEAD_ROOM);
    assert_int_equal(h.nwant, PCO_HTTP_MAX_HEADERS);
    assert_int_equal(pco_test_parse_room(&h, big, h.nwant), 431);
    free(h.headers);
}

/* The room asked for: header lines up to the empty line, at most max. */
static void
pco_test_count_header_lines(void **state)
{
    const char  *s = "A: 1\r\nB: 2\nC: 3\r\n\r\nbody\nmore\n";
    const u_char  *p = (const u_char *) s, *end = p + strlen(s);

    (void) state;
    assert_int_equal(pco_http_count_header_lines(p, end, 100), 3);
    assert_int_equal(pco_http_count_header_lines(p, end, 2), 2);
    assert_int_equal(pco_http_count_header_lines(p, p + 8, 100), 2);   /* an incomplete head */
    assert_int_equal(pco_http_count_header_lines(p, p, 100), 0);
    assert_int_equal(pco_http_count_header_lines(p + 17, end, 100), 0); /* at the empty line */
}

static void
pco_test_content_length(void **state)
{
    pco_http_head_t  *h = &pco_test_h;

    (void) state;
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n"),
                     0);
    assert_int_equal(h->content_length, 42);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
    assert_int_equal(h->content_length, 0);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5, 5\r\n\r\n"),
                     0);
    assert_int_equal(h->content_length, 5);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                                    "Content-Length: 5\r\n\r\n"), 0);
    assert_int_equal(h->content_length, 5);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
                                    "999999999999999999\r\n\r\n"), 0);
    assert_int_equal(h->content_length, 999999999999999999LL);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
                                    "1000000000000000000\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"),
                     400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                                    "Content-Length: 6\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
                     400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"),
                     400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n"),
                     400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n"),
                     400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"),
                     400);
}

static void
pco_test_transfer_encoding(void **state)
{
    pco_http_head_t  *h = &pco_test_h;

    (void) state;
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n"), 0);
    assert_true(h->chunked);
    assert_int_equal(h->content_length, -1);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "transfer-encoding: ChunKed \r\n\r\n"), 0);
    assert_true(h->chunked);
    assert_int_equal(pco_test_parse("POST / HTTP/1.0\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: gzip\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n"), 501);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                                    "Content-Length: 3\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding:\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: chunked;x=1\r\n\r\n"), 400);
}

static void
pco_test_host_connection_expect(void **state)
{
    pco_http_head_t  *h = &pco_test_h;

    (void) state;
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(h->host_idx, 0);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nX: 1\r\nHOST: a\r\n\r\n"), 0);
    assert_int_equal(h->host_idx, 2);

    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0);
    assert_false(h->keepalive);
    assert_int_equal(h->connection_idx, 2);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, "
                                    "Upgrade\r\nUpgrade: websocket\r\n\r\n"), 0);
    assert_true(h->keepalive);
    assert_true(h->conn_upgrade);
    assert_int_equal(h->upgrade_idx, 3);
    assert_int_equal(pco_test_parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    assert_true(h->keepalive);
    assert_false(h->conn_upgrade);
    assert_int_equal(pco_test_parse("GET / HTTP/1.0\r\nConnection: keep-alive, CLOSE\r\n\r\n"), 0);
    assert_false(h->keepalive);
    assert_int_equal(pco_test_parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
                                    "Connection: close\r\n\r\n"), 0);
    assert_false(h->keepalive);
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), 0);
    assert_true(h->keepalive);

    assert_int_equal(pco_test_parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"),
                     0);
    assert_true(h->expect_continue);
    assert_int_equal(pco_test_parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), 417);
    assert_int_equal(pco_test_parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n"), 417);
    assert_int_equal(pco_test_parse("PUT / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n"), 0);
    assert_false(h->expect_continue);
    assert_int_equal(pco_test_parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), 0);
    assert_false(h->expect_continue);
}

/* normalize_path: expect rc, and the output when rc == 0. */
static void
pco_test_np(const char *in, int rc, const char *want)
{
    u_char  *src, out[256];
    size_t  len, n;
    bool    changed;
    int     got;

    len = strlen(in);
    src = malloc(len + 1);
    assert_non_null(src);
    memcpy(src, in, len);
    got = pco_http_normalize_path(src, len, out, &n, &changed);
    if (got != rc) {
        print_error("path \"%s\": rc %d, want %d\n", in, got, rc);
    }
    assert_int_equal(got, rc);
    if (rc == 0) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(out, want, n);
        assert_int_equal(changed, strcmp(in, want) != 0);
    }
    free(src);
}

static void
pco_test_normalize_path(void **state)
{
    (void) state;
    pco_test_np("/", 0, "/");
    pco_test_np("/a/b/c.html", 0, "/a/b/c.html");
    pco_test_np("/a/./b", 0, "/a/b");
    pco_test_np("/a/../b", 0, "/b");
    pco_test_np("/a/..", 0, "/");
    pco_test_np("/a/b/..", 0, "/a/");
    pco_test_np("/a/.", 0, "/a/");
    pco_test_np("/.", 0, "/");
    pco_test_np("/a/b/../../c", 0, "/c");
    pco_test_np("//a///b", 0, "/a/b");
    pco_test_np("/a//", 0, "/a/");
    pco_test_np("//", 0, "/");
    pco_test_np("/a/", 0, "/a/");
    pco_test_np("/..a/b..", 0, "/..a/b..");
    pco_test_np("/.../", 0, "/.../");
    pco_test_np("/%41%62%2d%2E%5f%7E%30", 0, "/Ab-._~0");
    pco_test_np("/%2e%2e/", 400, NULL);
    pco_test_np("/a/%2e%2E/b", 0, "/b");
    pco_test_np("/a/%2e/b", 0, "/a/b");
    pco_test_np("/a%20b", 0, "/a%20b");
    pco_test_np("/a%3fb%3F", 0, "/a%3Fb%3F");
    pco_test_np("/%e2%82%ac", 0, "/%E2%82%AC");
    pco_test_np("/caf\xc3\xa9|{}", 0, "/caf\xc3\xa9|{}");
    pco_test_np("/../x", 400, NULL);
    pco_test_np("/..", 400, NULL);
    pco_test_np("/a/../../x", 400, NULL);
    pco_test_np("/a/../..", 400, NULL);
    pco_test_np("", 400, NULL);
    pco_test_np("a/b", 400, NULL);
    pco_test_np("/a%", 400, NULL);
    pco_test_np("/a%4", 400, NULL);
    pco_test_np("/a%zz", 400, NULL);
    pco_test_np("/a%4g", 400, NULL);
    pco_test_np("/a%00", 400, NULL);
    pco_test_np("/a%2Fb", 400, NULL);
    pco_test_np("/a%2fb", 400, NULL);
    pco_test_np("/a%5Cb", 400, NULL);
    pco_test_np("/a%5cb", 400, NULL);
    pco_test_np("/a\\b", 400, NULL);
}

static void
pco_test_nh(const char *in, int rc, const char *want)
{
    u_char  *src, out[256];
    size_t  len, n;
    int     got;

    len = strlen(in);
    src = malloc(len + 1);
    assert_non_null(src);
    memcpy(src, in, len);
    got = pco_http_normalize_host(src, len, out, &n);
    if (got != rc) {
        print_error("host \"%s\": rc %d, want %d\n", in, got, rc);
    }
    assert_int_equal(got, rc);
    if (rc == 0) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(out, want, n);
    }
    free(src);
}

static void
pco_test_normalize_host(void **state)
{
    (void) state;
    pco_test_nh("example.com", 0, "example.com");
    pco_test_nh("Example.COM", 0, "example.com");
    pco_test_nh("example.com.", 0, "example.com");
    pco_test_nh("example.com:8080", 0, "example.com");
    pco_test_nh("Example.com.:80", 0, "example.com");
    pco_test_nh("a-b_c~d.x1", 0, "a-b_c~d.x1");
    pco_test_nh("localhost", 0, "localhost");
    pco_test_nh("10.0.0.1:65535", 0, "10.0.0.1");
    pco_test_nh("[::1]", 0, "[::1]");
    pco_test_nh("[::1]:8080", 0, "[::1]");
    pco_test_nh("[2001:DB8::A]:1", 0, "[2001:db8::a]");
    pco_test_nh("[::ffff:1.2.3.4]", 0, "[::ffff:1.2.3.4]");
    pco_test_nh("", 400, NULL);
    pco_test_nh(".", 400, NULL);
    pco_test_nh(":80", 400, NULL);
    pco_test_nh("a..b", 400, NULL);
    pco_test_nh(".a", 400, NULL);
    pco_test_nh("a..", 400, NULL);
    pco_test_nh("a:", 400, NULL);
    pco_test_nh("a:65536", 400, NULL);
    pco_test_nh("a:123456", 400, NULL);
    pco_test_nh("a:8x", 400, NULL);
    pco_test_nh("a:80:80", 400, NULL);
    pco_test_nh("a/b", 400, NULL);
    pco_test_nh("a\\b", 400, NULL);
    pco_test_nh("a b", 400, NULL);
    pco_test_nh("a\tb", 400, NULL);
    pco_test_nh("a\x01", 400, NULL);
    pco_test_nh("user@a", 400, NULL);
    pco_test_nh("a%41", 400, NULL);
    pco_test_nh("[", 400, NULL);
    pco_test_nh("[]", 400, NULL);
    pco_test_nh("[::1", 400, NULL);
    pco_test_nh("[::1]x", 400, NULL);
    pco_test_nh("[::1]:", 400, NULL);
    pco_test_nh("[::g]", 400, NULL);
    pco_test_nh("[::1]:99999", 400, NULL);
}

static void
pco_test_decode_path(void **state)
{
    u_char  out[64];
    size_t  n;

    (void) state;
    assert_int_equal(pco_http_decode_path((const u_char *) "/a%20b%2fc%E2%82%AC", 19, out, &n),
                     0);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "/a b/c\xe2\x82\xac", 9);
    assert_int_equal(pco_http_decode_path((const u_char *) "/plain", 6, out, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(pco_http_decode_path((const u_char *) "/a%00", 5, out, &n), 400);
    assert_int_equal(pco_http_decode_path((const u_char *) "/a%0", 4, out, &n), 400);
    assert_int_equal(pco_http_decode_path((const u_char *) "/a%x1", 5, out, &n), 400);
}

/*
 * Feeds body[0..len) to the chunked decoder in pieces of the given boundaries (split at
 * s1 and s2, or one byte at a time when step is set), collecting data into out.
 * Returns the final rc; *consumed = bytes up to the end position.
 */
static int
pco_test_chunked_feed(const char *body, size_t len, size_t s1, size_t s2, bool step,
                      size_t limit, char *out, size_t *olen, size_t *consumed, int *status)
{
    pco_http_chunked_t  ctx;
    u_char              *buf, *pos, *last;
    size_t              bounds[3], b, nb, take;
    int                 rc;

    buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, body, len);
    memset(&ctx, 0, sizeof(ctx));
    ctx.meta_limit = limit;
    *olen = 0;
    pos = buf;
    rc = PCO_AGAIN;
    bounds[0] = s1;
    bounds[1] = s2;
    bounds[2] = len;
    nb = 0;
    b = 0;
    for ( ;; ) {
        if (step) {
            b = (size_t) (pos - buf) + 1 > len ? len : (size_t) (pos - buf) + 1;
        } else {
            b = bounds[nb];
        }
        last = buf + b;
        for ( ;; ) {
            rc = pco_http_parse_chunked(&ctx, &pos, last);
            if (rc != PCO_OK) {
                break;
            }
            take = pco_min(ctx.left, (size_t) (last - pos));
            assert_true(take > 0);
            memcpy(out + *olen, pos, take);
            *olen += take;
            pos += take;
            ctx.left -= take;
        }
        if (rc != PCO_AGAIN) {
            break;
        }
        assert_ptr_equal(pos, last);
        if (step ? b == len : ++nb == 3) {
            break;
        }
    }
    *consumed = (size_t) (pos - buf);
    *status = ctx.status;
    free(buf);
    return rc;
}

static void
pco_test_chunked_ok(void **state)
{
    static const char  body[] = "5\r\nhello\r\n1A;ext=\"v\";x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                                "00003 \t;e\r\n123\r\n0\r\nTrailer: t\r\nX:\r\n\r\nNEXT";
    static const char  want[] = "helloabcdefghijklmnopqrstuvwxyz123";
    char               out[128];
    size_t             len, s1, s2, olen, consumed;
    int                rc, status;

    (void) state;
    len = sizeof(body) - 1;
    for (s1 = 0; s1 <= len; s1++) {
        for (s2 = s1; s2 <= len; s2++) {
            rc = pco_test_chunked_feed(body, len, s1, s2, false, 0, out, &olen, &consumed,
                                       &status);
            assert_int_equal(rc, PCO_DONE);
            assert_int_equal(olen, sizeof(want) - 1);
            assert_memory_equal(out, want, olen);
            assert_int_equal(consumed, len - 4);
        }
    }
    rc = pco_test_chunked_feed(body, len, 0, 0, true, 0, out, &olen, &consumed, &status);
    assert_int_equal(rc, PCO_DONE);
    assert_int_equal(olen, sizeof(want) - 1);
    assert_memory_equal(out, want, olen);
    assert_int_equal(consumed, len - 4);

    /* empty body; 16 hex digits accepted */
    rc = pco_test_chunked_feed("0\r\n\r\n", 5, 5, 5, false, 0, out, &olen, &consumed, &status);
    assert_int_equal(rc, PCO_DONE);
    assert_int_equal(olen, 0);
    assert_int_equal(consumed, 5);
    rc = pco_test_chunked_feed("0000000000000001\r\nx\r\n0\r\n\r\n", 26, 26, 26, false, 0, out,
                               &olen, &consumed, &status);
    assert_int_equal(rc, PCO_DONE);
    assert_int_equal(olen, 1);

    /* incomplete input: AGAIN */
    rc = pco_test_chunked_feed("5\r\nhel", 6, 6, 6, false, 0, out, &olen, &consumed, &status);
    assert_int_equal(rc, PCO_AGAIN);
    assert_int_equal(olen, 3);
}

static void
pco_test_chunked_err(const char *body, int want_status, size_t limit)
{
    char    out[256];
    size_t  len, s, olen, consumed;
    int     rc, status;

    len = strlen(body);
    for (s = 0; s <= len; s++) {
        rc = pco_test_chunked_feed(body, len, s, s, false, limit, out, &olen, &consumed,
                                   &status);
        if (rc != PCO_ERROR) {
            print_error("chunked \"%s\" split %zu: rc %d\n", body, s, rc);
        }
        assert_int_equal(rc, PCO_ERROR);
        assert_int_equal(status, want_status);
    }
}

static void
pco_test_chunked_bad(void **state)
{
    (void) state;
    pco_test_chunked_err("\r\n", 400, 0);
    pco_test_chunked_err("x\r\n", 400, 0);
    pco_test_chunked_err("5\nhello\r\n0\r\n\r\n", 400, 0);
    pco_test_chunked_err("5\r\nhello\n0\r\n\r\n", 400, 0);
    pco_test_chunked_err("5\r\nhelloX\r\n0\r\n\r\n", 400, 0);
    pco_test_chunked_err("5\r\nhello\rX0\r\n\r\n", 400, 0);
    pco_test_chunked_err("00000000000000001\r\nx\r\n0\r\n\r\n", 400, 0);
    pco_test_chunked_err("-1\r\n", 400, 0);
    pco_test_chunked_err("5 x\r\n", 400, 0);
    pco_test_chunked_err("5;a\nhello\r\n", 400, 0);
    pco_test_chunked_err("5;a\x01\r\nhello\r\n", 400, 0);
    pco_test_chunked_err("0\r\nT: v\n\r\n", 400, 0);
    pco_test_chunked_err("0\r\n\n", 400, 0);
    pco_test_chunked_err("0\r\n\rX", 400, 0);
    pco_test_chunked_err("0\r\n folded\r\n\r\n", 400, 0);
    pco_test_chunked_err("0\r\nBad Name: v\r\n\r\n", 400, 0);
    /* meta limit: extensions and trailers */
    pco_test_chunked_err("1;0123456789\r\nx\r\n0\r\n\r\n", 431, 8);
    pco_test_chunked_err("0\r\nTrailer-Name: 0123456789\r\n\r\n", 431, 16);
}

static void
pco_test_chunked_limit_ok(void **state)
{
    char    out[64];
    size_t  olen, consumed;
    int     rc, status;

    (void) state;
    /* ";abc" = 4 meta bytes, "T:v" = 3 */
    rc = pco_test_chunked_feed("1;abc\r\nx\r\n0\r\nT:v\r\n\r\n", 20, 20, 20, false, 7, out, &olen,
                               &consumed, &status);
    assert_int_equal(rc, PCO_DONE);
    rc = pco_test_chunked_feed("1;abc\r\nx\r\n0\r\nT:v\r\n\r\n", 20, 20, 20, false, 6, out, &olen,
                               &consumed, &status);
    assert_int_equal(rc, PCO_ERROR);
    assert_int_equal(status, 431);
}

static void
pco_test_drop_underscores(void **state)
{
    (void) state;
    assert_int_equal(pco_test_parse("GET / HTTP/1.1\r\nX_A: 1\r\nHost: h\r\n"
                                    "Transfer_Encoding: chunked\r\nConnection: close\r\n"
                                    "X_B: 2\r\nUpgrade: websocket\r\nX-C: 3\r\n\r\n"), 0);
    assert_false(pco_test_h.chunked);
    assert_int_equal(pco_http_head_drop_underscores(&pco_test_h), 3);
    assert_int_equal(pco_test_h.nheaders, 4);
    assert_int_equal(pco_test_h.host_idx, 1);
    assert_int_equal(pco_test_h.connection_idx, 2);
    assert_int_equal(pco_test_h.upgrade_idx, 3);
    assert_true(pco_test_str(&pco_test_h.headers[0].value, "h"));
    assert_true(pco_test_str(&pco_test_h.headers[3].name, "X-C"));
    assert_null(pco_http_head_find(&pco_test_h, "X_A", 3));
    assert_int_equal(pco_http_head_drop_underscores(&pco_test_h), 0);
    assert_int_equal(pco_test_h.nheaders, 4);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(pco_test_find_head_end),
        cmocka_unit_test(pco_test_simple_get),
        cmocka_unit_test(pco_test_methods),
        cmocka_unit_test(pco_test_request_line),
        cmocka_unit_test(pco_test_header_lines),
        cmocka_unit_test(pco_test_header_room),
        cmocka_unit_test(pco_test_count_header_lines),
        cmocka_unit_test(pco_test_content_length),
        cmocka_unit_test(pco_test_transfer_encoding),
        cmocka_unit_test(pco_test_host_connection_expect),
        cmocka_unit_test(pco_test_normalize_path),
        cmocka_unit_test(pco_test_normalize_host),
        cmocka_unit_test(pco_test_decode_path),
        cmocka_unit_test(pco_test_chunked_ok),
        cmocka_unit_test(pco_test_chunked_bad),
        cmocka_unit_test(pco_test_chunked_limit_ok),
        cmocka_unit_test(pco_test_drop_underscores),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
