/*
 * test_bcache.c: the per-worker buffer caches (core/pco_bcache.c): a take maps only when the
 * free list is empty, a give keeps the buffer for the next take (LIFO), the free list is
 * bounded (max_free), a trim unmaps only buffers that stayed free since the previous trim and
 * keeps `low`; the reclaim timer is armed lazily (by a give above low, by the live pools
 * reaching the alarm, by 64 connections accepted), trims the caches when it fires, calls
 * malloc_trim once when the worker went from busy to quiet (the live pools fell and stopped
 * falling, connections come at an eighth of the busiest rate), and stops when nothing is
 * left to do. The caches are static: the
 * timer keeps a list of every cache that gave a buffer back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "pco_bcache.h"
#include "pco_event.h"
#include "pco_pool.h"

#define PCO_TEST_SIZE  16384

static int
pco_test_setup(void **state)
{
    (void) state;
    pco_time_init();
    assert_int_equal(pco_event_init(64), PCO_OK);
    return 0;
}

static int
pco_test_teardown(void **state)
{
    (void) state;
    pco_event_done();
    return 0;
}

static void
pco_test_take_give(void **state)
{
    static pco_bcache_t  bc = PCO_BCACHE_INIT("t1", PCO_TEST_SIZE, 1, 4);
    u_char       *a, *b, *c;

    (void) state;
    a = pco_bcache_take(&bc);
    b = pco_bcache_take(&bc);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a != b);
    assert_int_equal(bc.maps, 2);
    assert_int_equal(bc.nused, 2);
    /* the whole buffer is writable */
    memset(a, 'a', PCO_TEST_SIZE);
    memset(b, 'b', PCO_TEST_SIZE);
    pco_bcache_give(&bc, a);
    assert_int_equal(bc.nfree, 1);
    assert_int_equal(bc.nused, 1);
    /* the next take reuses it: no new mapping */
    c = pco_bcache_take(&bc);
    assert_ptr_equal(c, a);
    assert_int_equal(bc.maps, 2);
    assert_int_equal(c[PCO_TEST_SIZE - 1], 'a');
    pco_bcache_give(&bc, b);
    pco_bcache_give(&bc, c);
    /* LIFO: the last given back comes first */
    assert_ptr_equal(pco_bcache_take(&bc), c);
    pco_bcache_give(&bc, c);
    pco_bcache_give(&bc, NULL);         /* nothing taken: ignored */
    assert_int_equal(bc.nfree, 2);
    assert_int_equal(bc.nused, 0);
    assert_int_equal(bc.unmaps, 0);
    bc.low = 0;
    (void) pco_bcache_trim(&bc);
    (void) pco_bcache_trim(&bc);
    assert_int_equal(bc.unmaps, 2);
}

static void
pco_test_bound(void **state)
{
    static pco_bcache_t  bc = PCO_BCACHE_INIT("t2", PCO_TEST_SIZE, 1, 3);
    void         *b[6];
    int           i;

    (void) state;
    for (i = 0; i < 6; i++) {
        b[i] = pco_bcache_take(&bc);
        assert_non_null(b[i]);
    }
    assert_int_equal(bc.maps, 6);
    for (i = 0; i < 6; i++) {
        pco_bcache_give(&bc, b[i]);
    }
    /* three kept, the other three unmapped at once */
    assert_int_equal(bc.nfree, 3);
    assert_int_equal(bc.unmaps, 3);
    assert_int_equal(bc.nused, 0);
    bc.low = 0;
    (void) pco_bcache_trim(&bc);
    (void) pco_bcache_trim(&bc);
    assert_int_equal(bc.unmaps, 6);
}

static void
pco_test_trim_idle(void **state)
{
    static pco_bcache_t  bc = PCO_BCACHE_INIT("t3", PCO_TEST_SIZE, 2, 64);
    void         *b[10];
    int           i;

    (void) state;
    for (i = 0; i < 10; i++) {
        b[i] = pco_bcache_take(&bc);
    }
    for (i = 0; i < 10; i++) {
        pco_bcache_give(&bc, b[i]);
    }
    /* the first trim: the free count was 0 during the interval (all were in use), so none
     * stayed free for a whole interval: nothing unmapped */
    assert_int_equal(pco_bcache_trim(&bc), 0);
    assert_int_equal(bc.nfree, 10);
    /* a steady use of 3 buffers during the next interval: 7 stayed free all along; unmapped
     * down to low (2) of them */
    for (i = 0; i < 3; i++) {
        b[i] = pco_bcache_take(&bc);
    }
    for (i = 0; i < 3; i++) {
        pco_bcache_give(&bc, b[i]);
    }
    assert_int_equal(pco_bcache_trim(&bc), 5);
    assert_int_equal(bc.nfree, 5);
    assert_int_equal(bc.unmaps, 5);
    /* the same use again: 2 stayed free, that is low: nothing more */
    for (i = 0; i < 3; i++) {
        b[i] = pco_bcache_take(&bc);
    }
    for (i = 0; i < 3; i++) {
        pco_bcache_give(&bc, b[i]);
    }
    assert_int_equal(pco_bcache_trim(&bc), 0);
    /* no use at all: everything above low goes */
    assert_int_equal(pco_bcache_trim(&bc), 3);
    assert_int_equal(bc.nfree, 2);
    assert_int_equal(pco_bcache_trim(&bc), 0);
    assert_int_equal(bc.maps - bc.unmaps, 2);
    /* what is left is still good */
    b[0] = pco_bcache_take(&bc);
    memset(b[0], 0, PCO_TEST_SIZE);
    pco_bcache_give(&bc, b[0]);
}

/* Runs the event loop until the reclaim timer ticked once (bounded): it is then off, or
 * armed again for a later deadline. */
static void
pco_test_fire(void)
{
    uint64_t  ticks = pco_reclaim_tick_count();
    int       guard;

    assert_true(pco_reclaim_armed());
    for (guard = 0; guard < 100 && pco_reclaim_tick_count() == ticks; guard++) {
        assert_int_equal(pco_event_process(2000), PCO_OK);
    }
    assert_int_equal(pco_reclaim_tick_count(), ticks + 1);
}

static void
pco_test_reclaim_timer(void **state)
{
    static pco_bcache_t  bc = PCO_BCACHE_INIT("t4", PCO_TEST_SIZE, 1, 64);
    pco_pool_t    *pools[PCO_RECLAIM_BUSY + 8];
    void          *b[4];
    uint64_t       trims;
    int            i;

    (void) state;
    pco_reclaim_init();
    assert_false(pco_reclaim_armed());
    assert_false(pco_reclaim_busy());
    /* gives that leave no more than low free arm nothing */
    b[0] = pco_bcache_take(&bc);
    pco_bcache_give(&bc, b[0]);
    assert_false(pco_reclaim_armed());
    /* a give above low arms it */
    for (i = 0; i < 4; i++) {
        b[i] = pco_bcache_take(&bc);
    }
    for (i = 0; i < 4; i++) {
        pco_bcache_give(&bc, b[i]);
    }
    assert_true(pco_reclaim_armed());
    /* the first tick sees them just freed, the second unmaps them (to low), the timer
     * then stops: nothing left to do */
    pco_test_fire();
    assert_int_equal(bc.nfree, 4);
    assert_true(pco_reclaim_armed());
    pco_test_fire();
    assert_int_equal(bc.nfree, 1);
    assert_false(pco_reclaim_armed());
    assert_false(pco_reclaim_busy());

    /* busy: the live pools reach the alarm; quiet once they fell to a quarter */
    trims = pco_reclaim_heap_trims();
    for (i = 0; i < PCO_RECLAIM_BUSY + 8; i++) {
        pools[i] = pco_pool_create(1024, 0);
        assert_non_null(pools[i]);
    }
    assert_true(pco_reclaim_busy());
    assert_true(pco_reclaim_armed());
    /* still busy at the tick: no trim, the timer goes on */
    pco_test_fire();
    assert_int_equal(pco_reclaim_heap_trims(), trims);
    assert_true(pco_reclaim_busy());
    assert_true(pco_reclaim_armed());
    for (i = 0; i < PCO_RECLAIM_BUSY + 8; i++) {
        pco_pool_destroy(pools[i]);
    }
    /* quiet, but the count fell since the last tick: the burst may still be ending */
    pco_test_fire();
    assert_int_equal(pco_reclaim_heap_trims(), trims);
    assert_true(pco_reclaim_armed());
    /* settled: the heap is trimmed, once */
    pco_test_fire();
    assert_int_equal(pco_reclaim_heap_trims(), trims + 1);
    assert_false(pco_reclaim_busy());
    assert_false(pco_reclaim_armed());
    /* and the alarm is set again for the next burst */
    for (i = 0; i < PCO_RECLAIM_BUSY; i++) {
        pools[i] = pco_pool_create(1024, 0);
    }
    assert_true(pco_reclaim_busy());
    for (i = 0; i < PCO_RECLAIM_BUSY; i++) {
        pco_pool_destroy(pools[i]);
    }
    pco_test_fire();
    pco_test_fire();
    assert_int_equal(pco_reclaim_heap_trims(), trims + 2);
    assert_false(pco_reclaim_armed());
}

/* Busy by connections: 64 accepted since the last quiet point (a burst of TLS handshakes
 * leaves free memory between the connections that stay, with few pools alive); quiet once
 * they come at an eighth of the busiest rate or less. A steady rate never is. Busy ticks
 * come every PCO_RECLAIM_BUSY_MS. */
static void
pco_test_reclaim_connections(void **state)
{
    uint64_t    trims;
    pco_msec_t  t0;
    int         i, k;

    (void) state;
    pco_reclaim_init();
    trims = pco_reclaim_heap_trims();
    for (i = 0; i < PCO_RECLAIM_BUSY - 1; i++) {
        pco_reclaim_conn_opened();
    }
    assert_false(pco_reclaim_busy());
    assert_false(pco_reclaim_armed());
    pco_reclaim_conn_opened();
    assert_true(pco_reclaim_busy());
    assert_true(pco_reclaim_armed());
    /* the burst goes on: 100 in the first tick, then the rate stays: never quiet */
    for (k = 0; k < 3; k++) {
        for (i = 0; i < 100; i++) {
            pco_reclaim_conn_opened();
        }
        t0 = pco_current_msec;
        pco_test_fire();
        assert_true(pco_current_msec - t0 < PCO_RECLAIM_MS);     /* a busy tick */
        assert_int_equal(pco_reclaim_heap_trims(), trims);
        assert_true(pco_reclaim_busy());
    }
    /* it falls to an eighth: quiet, the heap is trimmed once, the timer stops */
    for (i = 0; i < 100 / 8; i++) {
        pco_reclaim_conn_opened();
    }
    pco_test_fire();
    assert_int_equal(pco_reclaim_heap_trims(), trims + 1);
    assert_false(pco_reclaim_busy());
    assert_false(pco_reclaim_armed());
    /* the next burst needs 64 more */
    for (i = 0; i < PCO_RECLAIM_BUSY - 1; i++) {
        pco_reclaim_conn_opened();
    }
    assert_false(pco_reclaim_busy());
    pco_reclaim_conn_opened();
    assert_true(pco_reclaim_busy());
    /* a burst that ended before the first tick: quiet at once */
    pco_test_fire();
    assert_int_equal(pco_reclaim_heap_trims(), trims + 2);
    assert_false(pco_reclaim_armed());
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pco_test_take_give, pco_test_setup, pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_bound, pco_test_setup, pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_trim_idle, pco_test_setup, pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_reclaim_timer, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_reclaim_connections, pco_test_setup,
                                        pco_test_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
