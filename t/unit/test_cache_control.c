/*
 * test_cache_control.c: the caching rules of modules/cache/pco_cache_control.c: every
 * response and request Cache-Control directive, quoted and malformed values, repeated
 * headers and lists, Expires/Date/Age/Last-Modified, the storable decision and its
 * precedence, the freshness lifetime precedence, the age arithmetic of RFC 9111 with exact
 * numbers, fresh/stale decisions with request directives and stale windows, and the
 * Cache-Status / X-Cache-Status strings. The module is not in default builds: its pure file
 * is compiled into this program then.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "pco_core.h"
#ifdef PCO_HAVE_CACHE
#include "pco_cache_control.h"
#else
#include "../../modules/cache/pco_cache_control.c"
#endif

#define PCO_T0  1795876433      /* Sat, 28 Nov 2026 14:33:53 GMT */

static pco_cache_resp_cc_t
pco_test_cc(const char *s)
{
    pco_cache_resp_t  resp;

    pco_cache_resp_init(&resp);
    pco_cache_cc_parse_resp(&resp.cc, (const u_char *) s, strlen(s));
    return resp.cc;
}

static void
pco_test_rh(pco_cache_resp_t *resp, const char *name, const char *value)
{
    pco_str_t  n = { strlen(name), (u_char *) name };
    pco_str_t  v = { strlen(value), (u_char *) value };

    pco_cache_resp_header(resp, &n, &v);
}

static void
pco_test_qh(pco_cache_req_t *req, const char *name, const char *value)
{
    pco_str_t  n = { strlen(name), (u_char *) name };
    pco_str_t  v = { strlen(value), (u_char *) value };

    pco_cache_req_header(req, &n, &v);
}

static pco_cache_req_t
pco_test_req(const char *cc)
{
    pco_cache_req_t  req;

    pco_cache_req_init(&req);
    pco_test_qh(&req, "Cache-Control", cc);
    return req;
}

static void
pco_test_delta(void **state)
{
    (void) state;
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "0", 1), 0);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "60", 2), 60);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "007", 3), 7);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "2147483647", 10), 2147483647LL);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "2147483648", 10), 2147483648LL);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "2147483649", 10), 2147483648LL);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "99999999999999999999999", 23),
                     2147483648LL);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "", 0), -1);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "-1", 2), -1);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "+1", 2), -1);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "1.5", 3), -1);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "1 ", 2), -1);
    assert_int_equal(pco_cache_delta_seconds((const u_char *) "0x10", 4), -1);
}

static void
pco_test_resp_flags(void **state)
{
    pco_cache_resp_cc_t  cc;

    (void) state;
    cc = pco_test_cc("");
    assert_false(cc.no_store || cc.no_cache || cc.private_ || cc.public_);
    assert_false(cc.must_revalidate || cc.proxy_revalidate);
    assert_int_equal(cc.max_age, PCO_CACHE_NONE);
    assert_int_equal(cc.s_maxage, PCO_CACHE_NONE);
    assert_int_equal(cc.stale_while_revalidate, PCO_CACHE_NONE);
    assert_int_equal(cc.stale_if_error, PCO_CACHE_NONE);

    assert_true(pco_test_cc("no-store").no_store);
    assert_true(pco_test_cc("NO-STORE").no_store);
    assert_true(pco_test_cc("no-cache").no_cache);
    assert_true(pco_test_cc("no-cache=\"Set-Cookie, X-Foo\"").no_cache);
    assert_true(pco_test_cc("no-cache=Set-Cookie").no_cache);
    assert_true(pco_test_cc("private").private_);
    assert_true(pco_test_cc("Private=\"Set-Cookie\"").private_);
    assert_true(pco_test_cc("public").public_);
    assert_true(pco_test_cc("must-revalidate").must_revalidate);
    assert_true(pco_test_cc("proxy-revalidate").proxy_revalidate);

    cc = pco_test_cc(" public ,max-age=60,  s-maxage=120 , must-revalidate,"
                     "stale-while-revalidate=30,stale-if-error=600");
    assert_true(cc.public_ && cc.must_revalidate);
    assert_false(cc.no_store || cc.private_ || cc.no_cache || cc.proxy_revalidate);
    assert_int_equal(cc.max_age, 60);
    assert_int_equal(cc.s_maxage, 120);
    assert_int_equal(cc.stale_while_revalidate, 30);
    assert_int_equal(cc.stale_if_error, 600);

    /* prefixes and longer names are other directives */
    cc = pco_test_cc("no-stor, no-stores, privately, max-ages=5, xmax-age=6, public-x");
    assert_false(cc.no_store || cc.private_ || cc.public_);
    assert_int_equal(cc.max_age, PCO_CACHE_NONE);
}

static void
pco_test_resp_values(void **state)
{
    pco_cache_resp_cc_t  cc;

    (void) state;
    assert_int_equal(pco_test_cc("max-age=\"60\"").max_age, 60);
    assert_int_equal(pco_test_cc("MAX-AGE=0").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=99999999999").max_age, 2147483648LL);
    /* malformed max-age and s-maxage: stale at once */
    assert_int_equal(pco_test_cc("max-age=abc").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=-5").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=").max_age, 0);
    assert_int_equal(pco_test_cc("max-age").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=1.5").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=\"6\\0\"").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=\"60").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=\"6\\").max_age, 0);   /* ends in a backslash */
    assert_int_equal(pco_test_cc("max-age = 60").max_age, 0);
    assert_int_equal(pco_test_cc("max-age=60 x").max_age, 0);
    assert_int_equal(pco_test_cc("s-maxage=x").s_maxage, 0);
    /* malformed stale windows are ignored */
    assert_int_equal(pco_test_cc("stale-while-revalidate=x").stale_while_revalidate,
                     PCO_CACHE_NONE);
    assert_int_equal(pco_test_cc("stale-if-error").stale_if_error, PCO_CACHE_NONE);
    assert_int_equal(pco_test_cc("stale-if-error=\"15\"").stale_if_error, 15);
    /* the first occurrence wins, a malformed first one included */
    assert_int_equal(pco_test_cc("max-age=10, max-age=20").max_age, 10);
    assert_int_equal(pco_test_cc("max-age=x, max-age=20").max_age, 0);
    assert_int_equal(pco_test_cc("stale-if-error=x, stale-if-error=20").stale_if_error, 20);

    /* quoted commas do not split the list; unknown directives are skipped */
    cc = pco_test_cc("foo=\"a, no-store, b\", max-age=5, bar, baz=\"q\\\"x, private\"");
    assert_false(cc.no_store || cc.private_);
    assert_int_equal(cc.max_age, 5);
    /* junk elements are skipped up to the next comma */
    cc = pco_test_cc("\"junk\", =5, ;;, no-store");
    assert_true(cc.no_store);
    cc = pco_test_cc(",,, ,\tpublic\t,,");
    assert_true(cc.public_);
    /* an unterminated quote swallows the rest of the line */
    cc = pco_test_cc("foo=\"abc, no-store");
    assert_false(cc.no_store);
    /* an escaped quote does not end the string */
    cc = pco_test_cc("foo=\"x\\\", no-store");
    assert_false(cc.no_store);
    cc = pco_test_cc("foo=\"x\\\"\", no-store");
    assert_true(cc.no_store);
}

static void
pco_test_resp_headers(void **state)
{
    pco_cache_resp_t  resp;

    (void) state;
    pco_cache_resp_init(&resp);
    assert_int_equal(resp.date, -1);
    assert_int_equal(resp.expires, -1);
    assert_int_equal(resp.last_modified, -1);
    assert_false(resp.has_expires || resp.has_age || resp.set_cookie || resp.vary_star);

    /* two Cache-Control lines accumulate */
    pco_test_rh(&resp, "cache-control", "public");
    pco_test_rh(&resp, "Cache-Control", "max-age=30");
    pco_test_rh(&resp, "CACHE-CONTROL", "max-age=90, no-cache");
    assert_true(resp.cc.public_ && resp.cc.no_cache);
    assert_int_equal(resp.cc.max_age, 30);

    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 14:33:53 GMT");
    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 15:00:00 GMT");
    assert_int_equal(resp.date, PCO_T0);
    pco_test_rh(&resp, "Expires", " Sat, 28 Nov 2026 14:43:53 GMT ");
    pco_test_rh(&resp, "Expires", "Sat, 28 Nov 2026 18:00:00 GMT");
    assert_true(resp.has_expires);
    assert_int_equal(resp.expires, PCO_T0 + 600);
    pco_test_rh(&resp, "Last-Modified", "Sunday, 01-Nov-26 00:00:00 GMT");
    assert_int_equal(resp.last_modified, 1793491200);
    pco_test_rh(&resp, "Age", " 17 ");
    pco_test_rh(&resp, "Age", "99");
    assert_true(resp.has_age);
    assert_int_equal(resp.age, 17);
    pco_test_rh(&resp, "X-Other", "no-store");
    assert_false(resp.cc.no_store);
    assert_false(resp.set_cookie);
    pco_test_rh(&resp, "set-cookie", "a=b");
    assert_true(resp.set_cookie);
    pco_test_rh(&resp, "Vary", "Accept-Encoding, X-Star*");
    assert_false(resp.vary_star);
    pco_test_rh(&resp, "Vary", "Accept-Encoding, *");
    assert_true(resp.vary_star);

    /* invalid dates: Expires "0" means already expired, others are absent */
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Expires", "0");
    assert_true(resp.has_expires);
    assert_int_equal(resp.expires, 0);
    pco_test_rh(&resp, "Date", "yesterday");
    assert_int_equal(resp.date, -1);
    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 14:33:53 GMT");
    assert_int_equal(resp.date, PCO_T0);     /* an invalid one does not count as first */
    pco_test_rh(&resp, "Age", "-3");
    pco_test_rh(&resp, "Age", "abc");
    assert_false(resp.has_age);
    assert_int_equal(resp.age, 0);
    pco_test_rh(&resp, "Age", "5");
    assert_int_equal(resp.age, 5);
    pco_test_rh(&resp, "Vary", "*");
    assert_true(resp.vary_star);
}

static void
pco_test_req_directives(void **state)
{
    pco_cache_req_t  req;

    (void) state;
    pco_cache_req_init(&req);
    assert_false(req.no_cache || req.no_store || req.only_if_cached || req.authorization);
    assert_false(req.has_cache_control || req.pragma_no_cache);
    assert_int_equal(req.max_age, PCO_CACHE_NONE);
    assert_int_equal(req.max_stale, PCO_CACHE_NONE);
    assert_int_equal(req.min_fresh, PCO_CACHE_NONE);

    req = pco_test_req("no-cache, no-store, only-if-cached, max-age=10, max-stale=20, "
                       "min-fresh=30");
    assert_true(req.no_cache && req.no_store && req.only_if_cached && req.has_cache_control);
    assert_int_equal(req.max_age, 10);
    assert_int_equal(req.max_stale, 20);
    assert_int_equal(req.min_fresh, 30);

    assert_int_equal(pco_test_req("max-stale").max_stale, PCO_CACHE_ANY);
    assert_int_equal(pco_test_req("max-stale=\"5\"").max_stale, 5);
    assert_int_equal(pco_test_req("max-stale=x").max_stale, PCO_CACHE_NONE);
    assert_int_equal(pco_test_req("max-age=x").max_age, 0);
    assert_int_equal(pco_test_req("min-fresh=-1").min_fresh, PCO_CACHE_NONE);
    assert_int_equal(pco_test_req("Max-Age=1, max-age=2").max_age, 1);
    assert_false(pco_test_req("private, public, s-maxage=1").no_cache);

    pco_cache_req_init(&req);
    pco_test_qh(&req, "pragma", "x, No-Cache");
    assert_true(req.pragma_no_cache);
    assert_false(req.no_cache);
    pco_cache_req_init(&req);
    pco_test_qh(&req, "Pragma", "no-cache=1, foo");
    assert_false(req.pragma_no_cache);
    pco_test_qh(&req, "authorization", "Basic eA==");
    assert_true(req.authorization);
}

static void
pco_test_lifetime(void **state)
{
    pco_cache_resp_t  resp;

    (void) state;
    pco_cache_resp_init(&resp);
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, PCO_CACHE_NONE), PCO_CACHE_NONE);
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 600), 600);
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 0), 0);

    /* Expires - Date beats valid */
    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 14:33:53 GMT");
    pco_test_rh(&resp, "Expires", "Sat, 28 Nov 2026 14:35:53 GMT");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0 + 1000, 600), 120);
    /* without Date, from the response time */
    resp.date = -1;
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0 + 20, 600), 100);
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0 + 500, 600), 0);
    /* an Expires before Date, or invalid, is 0 */
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 14:33:53 GMT");
    pco_test_rh(&resp, "Expires", "Sat, 28 Nov 2026 14:00:00 GMT");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 600), 0);
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Expires", "-1");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 600), 0);

    /* max-age beats Expires; s-maxage beats max-age */
    pco_test_rh(&resp, "Cache-Control", "max-age=300");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 600), 300);
    pco_test_rh(&resp, "Cache-Control", "s-maxage=40");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 600), 40);
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Cache-Control", "max-age=oops");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, 600), 0);
    /* Last-Modified alone gives no heuristic lifetime */
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Last-Modified", "Sat, 28 Nov 2025 14:33:53 GMT");
    assert_int_equal(pco_cache_lifetime(&resp, PCO_T0, PCO_CACHE_NONE), PCO_CACHE_NONE);
}

static pco_cache_store_e
pco_test_storable(const char *method, unsigned status, const char *cc, const char *req_cc,
                  bool auth, bool cookie, bool allow_cookie, int64_t valid)
{
    pco_str_t         m = { strlen(method), (u_char *) method };
    pco_cache_req_t   req;
    pco_cache_resp_t  resp;

    pco_cache_req_init(&req);
    if (req_cc != NULL) {
        pco_test_qh(&req, "Cache-Control", req_cc);
    }
    if (auth) {
        pco_test_qh(&req, "Authorization", "Bearer x");
    }
    pco_cache_resp_init(&resp);
    if (cc != NULL) {
        pco_test_rh(&resp, "Cache-Control", cc);
    }
    if (cookie) {
        pco_test_rh(&resp, "Set-Cookie", "s=1");
    }
    return pco_cache_storable(&m, &req, status, &resp, pco_cache_lifetime(&resp, PCO_T0, valid),
                              allow_cookie);
}

static void
pco_test_storable_rules(void **state)
{
    pco_cache_resp_t  resp;
    pco_str_t         get = pco_string("GET");

    (void) state;
    assert_int_equal(pco_test_storable("GET", 200, "max-age=60", NULL, false, false, false, -1),
                     PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("HEAD", 200, NULL, NULL, false, false, false, 60),
                     PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("POST", 200, "max-age=60", NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_METHOD);
    assert_int_equal(pco_test_storable("get", 200, "max-age=60", NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_METHOD);
    assert_int_equal(pco_test_storable("GETX", 200, NULL, NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_METHOD);
    assert_int_equal(pco_test_storable("GET", 206, "max-age=60", NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_STATUS);
    assert_int_equal(pco_test_storable("GET", 304, "max-age=60", NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_STATUS);
    assert_int_equal(pco_test_storable("GET", 101, NULL, NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_STATUS);
    assert_int_equal(pco_test_storable("GET", 600, NULL, NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_STATUS);
    assert_int_equal(pco_test_storable("GET", 404, NULL, NULL, false, false, false, 60),
                     PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("GET", 503, "max-age=5", NULL, false, false, false, -1),
                     PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=60", "no-store", false, false,
                                       false, 60), PCO_CACHE_NOSTORE_REQUEST);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=60, no-store", NULL, false, false,
                                       false, 60), PCO_CACHE_NOSTORE_NO_STORE);
    assert_int_equal(pco_test_storable("GET", 200, "public, private", NULL, false, false,
                                       false, 60), PCO_CACHE_NOSTORE_PRIVATE);
    assert_int_equal(pco_test_storable("GET", 200, "no-cache=\"X\", max-age=9", NULL, false,
                                       false, false, 60), PCO_CACHE_NOSTORE_NO_CACHE);
    /* request no-cache does not stop storing the fresh response */
    assert_int_equal(pco_test_storable("GET", 200, NULL, "no-cache", false, false, false, 60),
                     PCO_CACHE_STORE);

    /* Authorization: only public or s-maxage allow it */
    assert_int_equal(pco_test_storable("GET", 200, "max-age=60", NULL, true, false, false, 60),
                     PCO_CACHE_NOSTORE_AUTHORIZATION);
    assert_int_equal(pco_test_storable("GET", 200, "must-revalidate, max-age=6", NULL, true,
                                       false, false, 60), PCO_CACHE_NOSTORE_AUTHORIZATION);
    assert_int_equal(pco_test_storable("GET", 200, "public", NULL, true, false, false, 60),
                     PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("GET", 200, "s-maxage=60", NULL, true, false, false, -1),
                     PCO_CACHE_STORE);

    /* Set-Cookie unless allowed */
    assert_int_equal(pco_test_storable("GET", 200, "max-age=60", NULL, false, true, false, 60),
                     PCO_CACHE_NOSTORE_SET_COOKIE);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=60", NULL, false, true, true, 60),
                     PCO_CACHE_STORE);

    /* lifetime: none, 0, 0 with a usable stale window */
    assert_int_equal(pco_test_storable("GET", 200, NULL, NULL, false, false, false, -1),
                     PCO_CACHE_NOSTORE_LIFETIME);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=0", NULL, false, false, false, 60),
                     PCO_CACHE_NOSTORE_LIFETIME);
    assert_int_equal(pco_test_storable("GET", 200, NULL, NULL, false, false, false, 0),
                     PCO_CACHE_NOSTORE_LIFETIME);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=0, stale-if-error=60", NULL, false,
                                       false, false, -1), PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=0, stale-while-revalidate=5", NULL,
                                       false, false, false, -1), PCO_CACHE_STORE);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=0, stale-if-error=0", NULL, false,
                                       false, false, -1), PCO_CACHE_NOSTORE_LIFETIME);
    assert_int_equal(pco_test_storable("GET", 200, "max-age=0, stale-if-error=60, "
                                       "must-revalidate", NULL, false, false, false, -1),
                     PCO_CACHE_NOSTORE_LIFETIME);

    /* Vary: * never; a NULL request is allowed */
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Vary", "*");
    assert_int_equal(pco_cache_storable(&get, NULL, 200, &resp, 60, false),
                     PCO_CACHE_NOSTORE_VARY_STAR);
    pco_cache_resp_init(&resp);
    assert_int_equal(pco_cache_storable(&get, NULL, 200, &resp, 60, false), PCO_CACHE_STORE);

    assert_string_equal(pco_cache_store_reason(PCO_CACHE_STORE), "stored");
    assert_string_equal(pco_cache_store_reason(PCO_CACHE_NOSTORE_AUTHORIZATION),
                        "Authorization");
    assert_string_equal(pco_cache_store_reason(PCO_CACHE_NOSTORE_LIFETIME),
                        "no freshness lifetime");
    assert_string_equal(pco_cache_store_reason((pco_cache_store_e) 99), "?");
}

static void
pco_test_age(void **state)
{
    pco_cache_resp_t   resp;
    pco_cache_fresh_t  f;

    (void) state;
    /* Date 10 s before receipt, Age 3, request sent 2 s before receipt:
     * apparent 10, corrected age value 3 + 2 = 5, initial age 10 */
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 14:33:53 GMT");
    pco_test_rh(&resp, "Age", "3");
    pco_test_rh(&resp, "Cache-Control", "max-age=100");
    pco_cache_fresh_init(&f, &resp, pco_cache_lifetime(&resp, PCO_T0 + 10, -1), PCO_T0 + 8,
                         PCO_T0 + 10);
    assert_int_equal(f.lifetime, 100);
    assert_int_equal(f.initial_age, 10);
    assert_int_equal(f.response_time, PCO_T0 + 10);
    assert_false(f.no_stale);
    assert_int_equal(pco_cache_current_age(&f, PCO_T0 + 10), 10);
    assert_int_equal(pco_cache_current_age(&f, PCO_T0 + 50), 50);
    /* a clock going backwards adds no resident time */
    assert_int_equal(pco_cache_current_age(&f, PCO_T0), 10);

    /* Age dominates: Age 40 + delay 2 = 42 > apparent 10 */
    resp.age = 40;
    pco_cache_fresh_init(&f, &resp, 100, PCO_T0 + 8, PCO_T0 + 10);
    assert_int_equal(f.initial_age, 42);
    assert_int_equal(pco_cache_current_age(&f, PCO_T0 + 70), 102);

    /* a Date in the future gives apparent age 0; no Date: 0 too */
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Date", "Sat, 28 Nov 2026 15:33:53 GMT");
    pco_cache_fresh_init(&f, &resp, 100, PCO_T0, PCO_T0);
    assert_int_equal(f.initial_age, 0);
    pco_cache_resp_init(&resp);
    pco_cache_fresh_init(&f, &resp, 100, PCO_T0 - 7, PCO_T0);
    assert_int_equal(f.initial_age, 7);
    /* request time after response time (clock step): no negative delay */
    pco_cache_fresh_init(&f, &resp, -5, PCO_T0 + 7, PCO_T0);
    assert_int_equal(f.initial_age, 0);
    assert_int_equal(f.lifetime, 0);

    /* no_stale from must-revalidate, proxy-revalidate, s-maxage */
    pco_test_rh(&resp, "Cache-Control", "proxy-revalidate");
    pco_cache_fresh_init(&f, &resp, 100, PCO_T0, PCO_T0);
    assert_true(f.no_stale);
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Cache-Control", "s-maxage=5");
    pco_cache_fresh_init(&f, &resp, 5, PCO_T0, PCO_T0);
    assert_true(f.no_stale);
    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Cache-Control", "must-revalidate, stale-if-error=9");
    pco_cache_fresh_init(&f, &resp, 5, PCO_T0, PCO_T0);
    assert_true(f.no_stale);
    assert_int_equal(f.stale_if_error, 9);
}

static pco_cache_fresh_t
pco_test_fresh(const char *cc, int64_t lifetime)
{
    pco_cache_resp_t   resp;
    pco_cache_fresh_t  f;

    pco_cache_resp_init(&resp);
    pco_test_rh(&resp, "Cache-Control", cc);
    pco_cache_fresh_init(&f, &resp, lifetime, PCO_T0, PCO_T0);
    return f;
}

static void
pco_test_use(void **state)
{
    pco_cache_fresh_t  f;
    pco_cache_req_t    req;

    (void) state;
    f = pco_test_fresh("max-age=60, stale-while-revalidate=30", 60);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0), PCO_CACHE_USE_FRESH);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 59), PCO_CACHE_USE_FRESH);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 60), PCO_CACHE_USE_STALE_REVALIDATE);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 89), PCO_CACHE_USE_STALE_REVALIDATE);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 90), PCO_CACHE_USE_EXPIRED);

    /* request directives */
    req = pco_test_req("no-cache");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0), PCO_CACHE_USE_EXPIRED);
    pco_cache_req_init(&req);
    pco_test_qh(&req, "Pragma", "no-cache");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0), PCO_CACHE_USE_EXPIRED);
    /* Pragma is ignored when Cache-Control is present */
    pco_test_qh(&req, "Cache-Control", "max-stale=1");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0), PCO_CACHE_USE_FRESH);

    req = pco_test_req("max-age=10");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 10), PCO_CACHE_USE_FRESH);
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 11), PCO_CACHE_USE_EXPIRED);
    req = pco_test_req("max-age=0");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0), PCO_CACHE_USE_FRESH);
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 1), PCO_CACHE_USE_EXPIRED);
    req = pco_test_req("min-fresh=20");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 40), PCO_CACHE_USE_FRESH);
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 41), PCO_CACHE_USE_EXPIRED);

    /* max-stale beyond the revalidate window */
    f = pco_test_fresh("max-age=60", 60);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 60), PCO_CACHE_USE_EXPIRED);
    req = pco_test_req("max-stale=10");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 70), PCO_CACHE_USE_STALE_ALLOWED);
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 71), PCO_CACHE_USE_EXPIRED);
    req = pco_test_req("max-stale");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 100000), PCO_CACHE_USE_STALE_ALLOWED);
    req = pco_test_req("max-stale, max-age=100");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 101), PCO_CACHE_USE_EXPIRED);

    /* must-revalidate forbids every stale use */
    f = pco_test_fresh("max-age=60, must-revalidate, stale-while-revalidate=30", 60);
    req = pco_test_req("max-stale");
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 59), PCO_CACHE_USE_FRESH);
    assert_int_equal(pco_cache_use(&f, &req, PCO_T0 + 60), PCO_CACHE_USE_EXPIRED);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 61), PCO_CACHE_USE_EXPIRED);

    /* lifetime 0: stale at once */
    f = pco_test_fresh("max-age=0, stale-while-revalidate=5", 0);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0), PCO_CACHE_USE_STALE_REVALIDATE);
    assert_int_equal(pco_cache_use(&f, NULL, PCO_T0 + 5), PCO_CACHE_USE_EXPIRED);
}

static void
pco_test_stale_ok(void **state)
{
    pco_cache_fresh_t  f;

    (void) state;
    f = pco_test_fresh("max-age=60, stale-if-error=100, stale-while-revalidate=10", 60);
    assert_true(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, false, PCO_T0 + 60));
    assert_true(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, false, PCO_T0 + 159));
    assert_false(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, false, PCO_T0 + 160));
    assert_true(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, true, PCO_T0 + 160));
    assert_true(pco_cache_stale_ok(&f, PCO_CACHE_STALE_UPDATING, false, PCO_T0 + 69));
    assert_false(pco_cache_stale_ok(&f, PCO_CACHE_STALE_UPDATING, false, PCO_T0 + 70));
    assert_true(pco_cache_stale_ok(&f, PCO_CACHE_STALE_UPDATING, true, PCO_T0 + 70));

    f = pco_test_fresh("max-age=60", 60);
    assert_false(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, false, PCO_T0 + 61));
    assert_true(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, true, PCO_T0 + 100000));

    /* the configuration cannot override must-revalidate, proxy-revalidate or s-maxage */
    f = pco_test_fresh("max-age=60, must-revalidate, stale-if-error=100", 60);
    assert_false(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, true, PCO_T0 + 61));
    f = pco_test_fresh("proxy-revalidate", 60);
    assert_false(pco_cache_stale_ok(&f, PCO_CACHE_STALE_UPDATING, true, PCO_T0 + 61));
    f = pco_test_fresh("s-maxage=60", 60);
    assert_false(pco_cache_stale_ok(&f, PCO_CACHE_STALE_ERROR, true, PCO_T0 + 61));
}

static void
pco_test_status_expect(const pco_cache_status_t *s, const char *want)
{
    u_char  buf[PCO_CACHE_STATUS_LEN];
    size_t  n, len = strlen(want);

    n = pco_cache_status_format(buf, sizeof(buf), s);
    assert_int_equal(n, len);
    assert_memory_equal(buf, want, len);
    /* exactly enough room for the NUL: fits; one byte less: refused */
    assert_int_equal(pco_cache_status_format(buf, len + 1, s), len);
    assert_int_equal(pco_cache_status_format(buf, len, s), 0);
    assert_int_equal(pco_cache_status_format(buf, 0, s), 0);
}

static void
pco_test_status(void **state)
{
    pco_cache_status_t  s;

    (void) state;
    assert_string_equal(pco_cache_status_name(PCO_CACHE_STATUS_MISS), "MISS");
    assert_string_equal(pco_cache_status_name(PCO_CACHE_STATUS_HIT), "HIT");
    assert_string_equal(pco_cache_status_name(PCO_CACHE_STATUS_EXPIRED), "EXPIRED");
    assert_string_equal(pco_cache_status_name(PCO_CACHE_STATUS_STALE), "STALE");
    assert_string_equal(pco_cache_status_name(PCO_CACHE_STATUS_UPDATING), "UPDATING");
    assert_string_equal(pco_cache_status_name(PCO_CACHE_STATUS_BYPASS), "BYPASS");

    memset(&s, 0, sizeof(s));
    s.outcome = PCO_CACHE_STATUS_HIT;
    s.has_ttl = true;
    s.ttl = 42;
    pco_test_status_expect(&s, "portico; hit; ttl=42");
    s.outcome = PCO_CACHE_STATUS_UPDATING;
    s.ttl = -5;
    pco_test_status_expect(&s, "portico; hit; ttl=-5");

    memset(&s, 0, sizeof(s));
    s.outcome = PCO_CACHE_STATUS_MISS;
    pco_test_status_expect(&s, "portico; fwd=miss");
    s.fwd_status = 200;
    s.stored = true;
    pco_test_status_expect(&s, "portico; fwd=miss; fwd-status=200; stored");
    s.outcome = PCO_CACHE_STATUS_EXPIRED;
    pco_test_status_expect(&s, "portico; fwd=stale; fwd-status=200; stored");
    s.stored = false;
    s.fwd_status = 500;
    pco_test_status_expect(&s, "portico; fwd=stale; fwd-status=500");
    s.outcome = PCO_CACHE_STATUS_BYPASS;
    s.fwd_status = 200;
    pco_test_status_expect(&s, "portico; fwd=bypass; fwd-status=200");

    s.outcome = PCO_CACHE_STATUS_STALE;
    s.fwd_status = 502;
    s.has_ttl = true;
    s.ttl = -30;
    pco_test_status_expect(&s, "portico; fwd=stale; fwd-status=502; ttl=-30; "
                           "detail=served-stale");
    s.fwd_status = 0;      /* a timeout: no upstream status */
    pco_test_status_expect(&s, "portico; fwd=stale; ttl=-30; detail=served-stale");

    /* the longest value fits PCO_CACHE_STATUS_LEN */
    s.fwd_status = 599;
    s.ttl = INT64_MIN;
    s.stored = true;
    assert_true(pco_cache_status_format((u_char[PCO_CACHE_STATUS_LEN]) { 0 },
                                        PCO_CACHE_STATUS_LEN, &s) > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_delta),
        cmocka_unit_test(pco_test_resp_flags),
        cmocka_unit_test(pco_test_resp_values),
        cmocka_unit_test(pco_test_resp_headers),
        cmocka_unit_test(pco_test_req_directives),
        cmocka_unit_test(pco_test_lifetime),
        cmocka_unit_test(pco_test_storable_rules),
        cmocka_unit_test(pco_test_age),
        cmocka_unit_test(pco_test_use),
        cmocka_unit_test(pco_test_stale_ok),
        cmocka_unit_test(pco_test_status),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
