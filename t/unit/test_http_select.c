/*
 * test_http_select.c: server selection by Host (exact, longest wildcard, regex, default)
 * and route matching (exact path, prefix, regex captures, methods with GET implying HEAD,
 * headers) plus the shadowed-route check, on hand-built tables (no configuration file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include "pco_http_int.h"

static pco_http_server_t  pco_t_s_default, pco_t_s_exact, pco_t_s_wild, pco_t_s_wild2,
                          pco_t_s_re;

static pco_str_t
pco_t_str(const char *s)
{
    pco_str_t v = { strlen(s), (u_char *) s };

    return v;
}

static void
pco_t_build_addr(pco_http_addr_t *a, pco_http_name_t *ex, pco_http_name_t *wi,
                 pco_http_name_re_t *re)
{
    int         err;
    PCRE2_SIZE  off;

    memset(a, 0, sizeof(*a));
    ex[0].name = pco_t_str("b.example.com");
    ex[0].server = &pco_t_s_exact;
    ex[1].name = pco_t_str("a.example.com");
    ex[1].server = &pco_t_s_exact;
    ex[2].name = pco_t_str("zz.test");
    ex[2].server = &pco_t_s_exact;
    qsort(ex, 3, sizeof(*ex), pco_http_name_cmp);
    /* longest first, as pco_http_build_servers orders them */
    wi[0].name = pco_t_str(".deep.example.org");
    wi[0].server = &pco_t_s_wild2;
    wi[1].name = pco_t_str(".example.org");
    wi[1].server = &pco_t_s_wild;
    re[0].re = pcre2_compile((PCRE2_SPTR) "^api[0-9]+\\.", PCRE2_ZERO_TERMINATED,
                             PCRE2_CASELESS, &err, &off, NULL);
    re[0].server = &pco_t_s_re;
    a->default_server = &pco_t_s_default;
    a->exact = ex;
    a->nexact = 3;
    a->wild = wi;
    a->nwild = 2;
    a->regex = re;
    a->nregex = 1;
}

static void
pco_t_server_selection(void **state)
{
    pco_http_addr_t     a;
    pco_http_name_t     ex[3], wi[2];
    pco_http_name_re_t  re[1];
    pcre2_match_data   *md = pcre2_match_data_create(10, NULL);
    pco_str_t           h;

    (void) state;
    pco_t_build_addr(&a, ex, wi, re);
    h = pco_t_str("a.example.com");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_exact);
    h = pco_t_str("zz.test");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_exact);
    h = pco_t_str("c.example.com");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_default);
    h = pco_t_str("x.example.org");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_wild);
    h = pco_t_str("a.b.c.example.org");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_wild);
    h = pco_t_str("x.deep.example.org");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_wild2);
    /* the wildcard does not match the bare domain */
    h = pco_t_str("example.org");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_default);
    h = pco_t_str("api12.anything");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_re);
    h = pco_t_str("");
    assert_ptr_equal(pco_http_find_server(&a, &h, md), &pco_t_s_default);
    pcre2_code_free(re[0].re);
    pcre2_match_data_free(md);
}

static void
pco_t_route_matching(void **state)
{
    pco_http_route_t    r0, r1, r2, r3, r4, *routes[5] = { &r0, &r1, &r2, &r3, &r4 };
    pco_http_server_t   s;
    pco_http_kv_t       hdr = { pco_string("X-Env"), pco_string("blue") };
    pco_http_head_t     h;
    pco_http_header_t   hh[1];
    pcre2_match_data   *md = pcre2_match_data_create(10, NULL);
    pco_str_t           u;
    int                 err;
    PCRE2_SIZE          off, *ov;

    (void) state;
    memset(&r0, 0, sizeof(r0));
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    memset(&r3, 0, sizeof(r3));
    memset(&r4, 0, sizeof(r4));
    memset(&h, 0, sizeof(h));
    h.headers = hh;
    h.nalloc = 1;
    r0.path = pco_t_str("/exact");
    r1.path_prefix = pco_t_str("/api/");
    r1.methods = PCO_HTTP_GET;
    r2.path_regex = pcre2_compile((PCRE2_SPTR) "^/u/(\\d+)$", PCRE2_ZERO_TERMINATED, 0, &err,
                                  &off, NULL);
    r3.headers = &hdr;
    r3.nheaders = 1;
    /* r4: no conditions, matches everything */
    s.routes = routes;
    s.nroutes = 5;

    u = pco_t_str("/exact");
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_POST, &h, md), &r0);
    u = pco_t_str("/exact/");
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_POST, &h, md), &r4);
    u = pco_t_str("/api/x");
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_GET, &h, md), &r1);
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_HEAD, &h, md), &r1);
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_POST, &h, md), &r4);
    u = pco_t_str("/u/42");
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_GET, &h, md), &r2);
    ov = pcre2_get_ovector_pointer(md);
    assert_int_equal(ov[2], 3);
    assert_int_equal(ov[3], 5);
    u = pco_t_str("/u/4x");
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_GET, &h, md), &r4);
    h.headers[0].name = pco_t_str("x-env");
    h.headers[0].value = pco_t_str("blue");
    h.nheaders = 1;
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_GET, &h, md), &r3);
    h.headers[0].value = pco_t_str("Blue");
    assert_ptr_equal(pco_http_find_route(&s, &u, PCO_HTTP_GET, &h, md), &r4);
    s.nroutes = 4;
    assert_null(pco_http_find_route(&s, &u, PCO_HTTP_GET, &h, md));
    pcre2_code_free(r2.path_regex);
    pcre2_match_data_free(md);
}

static void
pco_t_shadowing(void **state)
{
    pco_http_route_t  e, l;

    (void) state;
    memset(&e, 0, sizeof(e));
    memset(&l, 0, sizeof(l));
    e.path_prefix = pco_t_str("/");
    l.path = pco_t_str("/x");
    assert_true(pco_http_route_shadows(&e, &l));
    e.path_prefix = pco_t_str("/api");
    l.path = pco_t_str("/ap");
    assert_false(pco_http_route_shadows(&e, &l));
    l.path.len = 0;
    l.path_prefix = pco_t_str("/api/v1");
    assert_true(pco_http_route_shadows(&e, &l));
    e.methods = PCO_HTTP_GET;
    assert_false(pco_http_route_shadows(&e, &l));
    e.methods = 0;
    e.path_prefix.len = 0;
    e.path = pco_t_str("/a");
    l.path_prefix.len = 0;
    l.path = pco_t_str("/a");
    assert_true(pco_http_route_shadows(&e, &l));
    l.path = pco_t_str("/ab");
    assert_false(pco_http_route_shadows(&e, &l));
    /* no match group: everything after it is shadowed */
    e.path.len = 0;
    assert_true(pco_http_route_shadows(&e, &l));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_server_selection),
        cmocka_unit_test(pco_t_route_matching),
        cmocka_unit_test(pco_t_shadowing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
