/*
 * test_upstream_health.c: passive health maths with a fake clock (pco_current_msec):
 * max_fails failures within fail_timeout mark a server down for fail_timeout; an expired
 * window starts over; a success inside the window does not reset the count but one after it
 * does (nginx); max_fails = 0 and one-server upstreams ignore failures; the balancer skips
 * a marked server and takes it back when the mark expires; pco_upstream_done counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pco_upstream.h"
#include "pco_time.h"

#define PCO_T_N 3

static pco_upstream_t          pco_t_u;
static pco_upstream_server_t   pco_t_srv[PCO_T_N];
static pco_upstream_shared_t   pco_t_sh[PCO_T_N];

/* A balancer that always wants server 0 when it is a candidate, else the first candidate. */
static pco_upstream_server_t *
pco_t_first(pco_upstream_t *u, const pco_str_t *key, const uint64_t *tried, bool backup)
{
    unsigned  i;

    pco_unused(key);
    for (i = 0; i < u->nservers; i++) {
        if (pco_upstream_candidate(&u->servers[i], tried, backup)) {
            return &u->servers[i];
        }
    }
    return NULL;
}

static const pco_upstream_balancer_t pco_t_balancer = { .name = "first", .pick = pco_t_first };

static int
pco_t_setup(void **state)
{
    unsigned  i;

    pco_unused(state);
    memset(&pco_t_u, 0, sizeof(pco_t_u));
    memset(pco_t_srv, 0, sizeof(pco_t_srv));
    memset(pco_t_sh, 0, sizeof(pco_t_sh));
    pco_str_set(&pco_t_u.name, "app");
    pco_t_u.servers = pco_t_srv;
    pco_t_u.nservers = PCO_T_N;
    pco_t_u.nprimary = PCO_T_N;
    pco_t_u.max_fails = 3;
    pco_t_u.fail_timeout = 10000;
    pco_t_u.balancer = &pco_t_balancer;
    for (i = 0; i < PCO_T_N; i++) {
        pco_str_set(&pco_t_srv[i].name, "127.0.0.1:9001");
        pco_t_srv[i].weight = 1;
        pco_t_srv[i].index = i;
        pco_t_srv[i].shared = &pco_t_sh[i];
        pco_t_srv[i].upstream = &pco_t_u;
        pco_t_srv[i].active_counter = -1;
    }
    pco_current_msec = 5000000;
    return 0;
}

static void
pco_t_mark_and_expiry(void **state)
{
    pco_upstream_server_t  *s = &pco_t_srv[0];
    pco_msec_t              t0 = pco_current_msec;

    pco_unused(state);
    assert_false(pco_upstream_health_fail(s, t0));
    assert_true(pco_upstream_usable(s));
    assert_false(pco_upstream_health_fail(s, t0 + 4000));
    assert_true(pco_upstream_usable(s));
    assert_true(pco_upstream_health_fail(s, t0 + 9999));      /* the third within 10s */
    assert_int_equal(pco_t_sh[0].down_until, t0 + 9999 + 10000);
    pco_current_msec = t0 + 9999;
    assert_false(pco_upstream_usable(s));
    pco_current_msec = t0 + 9999 + 9999;
    assert_false(pco_upstream_usable(s));
    /* a failure while marked does not extend the mark */
    assert_false(pco_upstream_health_fail(s, t0 + 15000));
    assert_int_equal(pco_t_sh[0].down_until, t0 + 9999 + 10000);
    pco_current_msec = t0 + 9999 + 10000;
    assert_true(pco_upstream_usable(s));
    /* after the mark: a fresh count */
    assert_false(pco_upstream_health_fail(s, pco_current_msec));
    assert_true(pco_upstream_usable(s));
}

static void
pco_t_window_expires(void **state)
{
    pco_upstream_server_t  *s = &pco_t_srv[1];
    pco_msec_t              t0 = pco_current_msec;

    pco_unused(state);
    assert_false(pco_upstream_health_fail(s, t0));
    assert_false(pco_upstream_health_fail(s, t0 + 5000));
    /* the window (10s from the first failure) has expired: this one starts a new one */
    assert_false(pco_upstream_health_fail(s, t0 + 10000));
    assert_int_equal(pco_t_sh[1].fails, 1);
    assert_int_equal(pco_t_sh[1].window_start, t0 + 10000);
    assert_false(pco_upstream_health_fail(s, t0 + 12000));
    assert_true(pco_upstream_health_fail(s, t0 + 19999));
    pco_current_msec = t0 + 19999;
    assert_false(pco_upstream_usable(s));
}

static void
pco_t_success(void **state)
{
    pco_upstream_server_t  *s = &pco_t_srv[0];
    pco_msec_t              t0 = pco_current_msec;

    pco_unused(state);
    /* a success inside the window does not reset the count */
    pco_upstream_health_fail(s, t0);
    pco_upstream_health_fail(s, t0 + 1000);
    pco_upstream_health_ok(s, t0 + 2000);
    assert_int_equal(pco_t_sh[0].fails, 2);
    assert_true(pco_upstream_health_fail(s, t0 + 3000));

    /* a success after the window resets it */
    s = &pco_t_srv[1];
    pco_upstream_health_fail(s, t0);
    pco_upstream_health_fail(s, t0 + 1000);
    pco_upstream_health_ok(s, t0 + 10000);
    assert_int_equal(pco_t_sh[1].fails, 0);
    assert_false(pco_upstream_health_fail(s, t0 + 10001));
    assert_false(pco_upstream_health_fail(s, t0 + 10002));
    assert_true(pco_upstream_health_fail(s, t0 + 10003));
}

static void
pco_t_off_and_single(void **state)
{
    unsigned    i;
    pco_msec_t  t0 = pco_current_msec;

    pco_unused(state);
    pco_t_u.max_fails = 0;
    for (i = 0; i < 10; i++) {
        assert_false(pco_upstream_health_fail(&pco_t_srv[0], t0 + i));
    }
    assert_true(pco_upstream_usable(&pco_t_srv[0]));
    assert_int_equal(pco_t_sh[0].down_until, 0);

    /* one server: marks are ignored (neither set nor honoured) */
    pco_t_u.max_fails = 1;
    pco_t_u.nservers = pco_t_u.nprimary = 1;
    assert_false(pco_upstream_health_fail(&pco_t_srv[0], t0));
    assert_true(pco_upstream_usable(&pco_t_srv[0]));
    pco_t_sh[0].down_until = t0 + 100000;
    assert_true(pco_upstream_usable(&pco_t_srv[0]));

    /* max_fails = 1: the first failure marks (two servers) */
    pco_t_sh[0].down_until = 0;
    pco_t_u.nservers = pco_t_u.nprimary = 2;
    assert_true(pco_upstream_health_fail(&pco_t_srv[0], t0));
    assert_false(pco_upstream_usable(&pco_t_srv[0]));
    /* down = true and health_down also make a server unusable */
    assert_true(pco_upstream_usable(&pco_t_srv[1]));
    pco_t_sh[1].health_down = 1;
    assert_false(pco_upstream_usable(&pco_t_srv[1]));
    pco_t_sh[1].health_down = 0;
    pco_t_srv[1].down = true;
    assert_false(pco_upstream_usable(&pco_t_srv[1]));
}

static void
pco_t_get_done(void **state)
{
    uint64_t                tried[PCO_UPSTREAM_MAX_SERVERS / 64];
    pco_upstream_server_t  *s;
    pco_msec_t              t0 = pco_current_msec;
    unsigned                i;

    pco_unused(state);
    pco_t_u.max_fails = 2;
    for (i = 0; i < 2; i++) {
        memset(tried, 0, sizeof(tried));
        s = pco_upstream_get(&pco_t_u, NULL, tried);
        assert_ptr_equal(s, &pco_t_srv[0]);
        assert_int_equal(pco_t_sh[0].active, 1);
        assert_int_equal(tried[0], 1);
        pco_upstream_done(s, true);
        assert_int_equal(pco_t_sh[0].active, 0);
    }
    /* marked: the next request goes to server 1 without trying 0 */
    memset(tried, 0, sizeof(tried));
    assert_ptr_equal(pco_upstream_get(&pco_t_u, NULL, tried), &pco_t_srv[1]);
    pco_upstream_done(&pco_t_srv[1], false);
    assert_int_equal(pco_t_sh[0].requests, 2);
    assert_int_equal(pco_t_sh[1].requests, 1);
    /* every server marked: none (503 at once) */
    pco_upstream_health_fail(&pco_t_srv[1], t0);
    pco_upstream_health_fail(&pco_t_srv[1], t0);
    pco_upstream_health_fail(&pco_t_srv[2], t0);
    pco_upstream_health_fail(&pco_t_srv[2], t0);
    memset(tried, 0, sizeof(tried));
    assert_null(pco_upstream_get(&pco_t_u, NULL, tried));
    /* the marks expire */
    pco_current_msec = t0 + 10000;
    assert_ptr_equal(pco_upstream_get(&pco_t_u, NULL, tried), &pco_t_srv[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(pco_t_mark_and_expiry, pco_t_setup),
        cmocka_unit_test_setup(pco_t_window_expires, pco_t_setup),
        cmocka_unit_test_setup(pco_t_success, pco_t_setup),
        cmocka_unit_test_setup(pco_t_off_and_single, pco_t_setup),
        cmocka_unit_test_setup(pco_t_get_done, pco_t_setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
