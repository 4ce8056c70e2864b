/*
 * test_pool.c: pool budget accounting, large allocations and pco_pfree, cleanup order,
 * alignment, string copies, arrays doubling, buffers and chain links.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "pco_pool.h"
#include "pco_buf.h"

static int  pco_test_order[8];
static int  pco_test_norder;

static void
pco_test_cleanup(void *data)
{
    pco_test_order[pco_test_norder++] = *(int *) data;
}

static void
pco_test_budget(void **state)
{
    pco_pool_t  *pool;
    void        *p;

    (void) state;
    pool = pco_pool_create(1024, 1000);
    assert_non_null(pool);
    assert_int_equal(pco_pool_used(pool), 0);
    assert_non_null(pco_palloc(pool, 100));
    assert_int_equal(pco_pool_used(pool), 100);
    assert_non_null(pco_pnalloc(pool, 3));
    assert_int_equal(pco_pool_used(pool), 103);
    /* a large allocation counts too */
    p = pco_palloc(pool, 800);
    assert_non_null(p);
    assert_int_equal(pco_pool_used(pool), 903);
    /* crossing the budget fails and does not count */
    assert_null(pco_palloc(pool, 98));
    assert_int_equal(pco_pool_used(pool), 903);
    assert_non_null(pco_palloc(pool, 97));
    assert_int_equal(pco_pool_used(pool), 1000);
    assert_null(pco_pnalloc(pool, 1));
    /* freeing the large one gives its bytes back */
    pco_pfree(pool, p);
    assert_int_equal(pco_pool_used(pool), 200);
    assert_non_null(pco_palloc(pool, 700));
    assert_int_equal(pco_pool_used(pool), 900);
    pco_pool_destroy(pool);
}

/* The counters a debug log reports per request: chunks and large blocks taken from malloc,
 * bytes cleared by pco_pcalloc (not by pco_palloc). */
static void
pco_test_stats(void **state)
{
    pco_pool_t              *pool;
    const pco_pool_stats_t  *st;

    (void) state;
    pool = pco_pool_create(1024, 0);
    assert_non_null(pool);
    st = pco_pool_stats(pool);
    assert_int_equal(st->chunks, 0);
    assert_non_null(pco_palloc(pool, 100));
    assert_non_null(pco_pcalloc(pool, 300));
    assert_int_equal(st->chunks, 1);
    assert_int_equal(st->zeroed, 300);
    assert_non_null(pco_pcalloc(pool, 500));
    assert_int_equal(st->chunks, 1);
    assert_int_equal(st->zeroed, 800);
    assert_non_null(pco_pcalloc(pool, 200));   /* does not fit the first chunk */
    assert_int_equal(st->chunks, 2);
    assert_int_equal(st->zeroed, 1000);
    assert_non_null(pco_palloc(pool, 600));    /* large: its own malloc */
    assert_int_equal(st->chunks, 2);
    assert_int_equal(st->large, 1);
    assert_int_equal(st->zeroed, 1000);
    pco_pool_destroy(pool);
}

static void
pco_test_unlimited_and_align(void **state)
{
    pco_pool_t  *pool;
    u_char      *p;
    int          i;

    (void) state;
    pool = pco_pool_create(4096, 0);
    for (i = 0; i < 1000; i++) {
        assert_non_null(pco_pnalloc(pool, 7));
        p = pco_palloc(pool, 24);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p % 16, 0);
        memset(p, 0xab, 24);
    }
    p = pco_palloc(pool, 100000);
    assert_non_null(p);
    assert_int_equal((uintptr_t) p % 16, 0);
    memset(p, 1, 100000);
    assert_int_equal(pco_pool_used(pool), 1000 * 31 + 100000);
    p = pco_pcalloc(pool, 64);
    for (i = 0; i < 64; i++) {
        assert_int_equal(p[i], 0);
    }
    /* pfree of a small allocation is ignored */
    pco_pfree(pool, p);
    assert_int_equal(pco_pool_used(pool), 1000 * 31 + 100000 + 64);
    pco_pool_destroy(pool);
}

static void
pco_test_cleanups(void **state)
{
    pco_pool_t  *pool;
    static int   a = 1, b = 2, c = 3;

    (void) state;
    pco_test_norder = 0;
    pool = pco_pool_create(512, 0);
    assert_int_equal(pco_pool_cleanup_add(pool, pco_test_cleanup, &a), PCO_OK);
    assert_int_equal(pco_pool_cleanup_add(pool, pco_test_cleanup, &b), PCO_OK);
    assert_int_equal(pco_pool_cleanup_add(pool, pco_test_cleanup, &c), PCO_OK);
    pco_pool_destroy(pool);
    assert_int_equal(pco_test_norder, 3);
    assert_int_equal(pco_test_order[0], 3);
    assert_int_equal(pco_test_order[1], 2);
    assert_int_equal(pco_test_order[2], 1);
}

static void
pco_test_strings(void **state)
{
    pco_pool_t  *pool;
    pco_str_t    s = pco_string("hello");
    u_char      *p;
    char        *q;

    (void) state;
    pool = pco_pool_create(512, 0);
    p = pco_pstrdup(pool, &s);
    assert_string_equal((char *) p, "hello");
    q = pco_pstrndup(pool, "abcdef", 3);
    assert_string_equal(q, "abc");
    pco_pool_destroy(pool);
}

static void
pco_test_array(void **state)
{
    pco_pool_t   *pool;
    pco_array_t  *a;
    int          *e, i;

    (void) state;
    pool = pco_pool_create(1024, 0);
    a = pco_array_create(pool, 2, sizeof(int));
    assert_non_null(a);
    assert_int_equal(a->nalloc, 2);
    for (i = 0; i < 100; i++) {
        e = pco_array_push(a);
        assert_non_null(e);
        *e = i;
        if (i == 2) {
            assert_int_equal(a->nalloc, 4);
        }
    }
    assert_int_equal(a->nelts, 100);
    assert_int_equal(a->nalloc, 128);
    e = a->elts;
    for (i = 0; i < 100; i++) {
        assert_int_equal(e[i], i);
    }
    pco_pool_destroy(pool);

    /* an array in a budgeted pool fails cleanly */
    pool = pco_pool_create(1024, 256);
    a = pco_array_create(pool, 4, 16);
    assert_non_null(a);
    for (i = 0; i < 100; i++) {
        if (pco_array_push(a) == NULL) {
            break;
        }
    }
    assert_true(i < 100);
    assert_true(pco_pool_used(pool) <= 256);
    pco_pool_destroy(pool);
}

static void
pco_test_buf(void **state)
{
    pco_pool_t   *pool;
    pco_buf_t    *b;
    pco_chain_t  *cl;

    (void) state;
    pool = pco_pool_create(1024, 0);
    b = pco_buf_create(pool, 100);
    assert_non_null(b);
    assert_int_equal(b->end - b->start, 100);
    assert_ptr_equal(b->pos, b->start);
    assert_ptr_equal(b->last, b->start);
    assert_true(b->temporary);
    assert_int_equal(pco_buf_size(b), 0);
    b->last += 10;
    assert_int_equal(pco_buf_size(b), 10);
    cl = pco_chain_link(pool, b);
    assert_ptr_equal(cl->buf, b);
    assert_null(cl->next);
    b = pco_buf_calloc(pool);
    assert_int_equal(b->fd, -1);
    b->in_file = 1;
    b->file_pos = 5;
    b->file_last = 105;
    assert_int_equal(pco_buf_size(b), 100);
    pco_pool_destroy(pool);
}

/* The first allocation over the budget calls the over-budget hook once, with the owner. */
static int          pco_test_over_calls;
static size_t       pco_test_over_wanted;
static const char  *pco_test_over_owner;

static void
pco_test_over(pco_pool_t *pool, void *data, size_t wanted)
{
    assert_ptr_equal(data, &pco_test_over_calls);
    pco_test_over_calls++;
    pco_test_over_wanted = wanted;
    pco_test_over_owner = pco_pool_owner(pool);
}

static void
pco_test_over_budget_report(void **state)
{
    pco_pool_t  *pool = pco_pool_create(1024, 4096);

    (void) state;
    assert_non_null(pool);
    pco_pool_set_over(pool, pco_test_over, &pco_test_over_calls);
    pco_pool_set_owner(pool, "echo");
    assert_string_equal(pco_pool_owner(pool), "echo");
    assert_int_equal(pco_pool_budget(pool), 4096);
    assert_non_null(pco_palloc(pool, 1000));
    assert_int_equal(pco_test_over_calls, 0);
    assert_null(pco_palloc(pool, 8000));
    assert_int_equal(pco_test_over_calls, 1);
    assert_int_equal(pco_test_over_wanted, 8000);
    assert_string_equal(pco_test_over_owner, "echo");
    assert_null(pco_palloc(pool, 9000));
    assert_int_equal(pco_test_over_calls, 1);     /* reported once per pool */
    assert_non_null(pco_palloc(pool, 100));       /* what still fits is still given */
    pco_pool_destroy(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_budget),
        cmocka_unit_test(pco_test_stats),
        cmocka_unit_test(pco_test_unlimited_and_align),
        cmocka_unit_test(pco_test_cleanups),
        cmocka_unit_test(pco_test_strings),
        cmocka_unit_test(pco_test_array),
        cmocka_unit_test(pco_test_buf),
        cmocka_unit_test(pco_test_over_budget_report),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
