/*
 * test_rate_limit.c: the GCRA arithmetic of rate limits (admission with burst, the wait
 * and Retry-After rounding, the excess nginx logs, spacing at the rate) and the keyed
 * table shared by rate and connection limits (pco_limit_table.c): lookups, keys longer
 * than the stored bytes, least-recently-used eviction, owners that refuse eviction, the
 * repair after a holder died inside the lock (a forked child that SIGKILLs itself while
 * holding it), and the format check used to keep a zone across a reload. The table lives
 * in core/, so this runs in every build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "pco_core.h"
#include "pco_limit_table.h"

#define PCO_T_SEC  1000000LL          /* microseconds */

/* ---- GCRA ---- */

static void
pco_t_gcra_init(void **state)
{
    pco_gcra_t  g;

    (void) state;
    assert_int_equal(pco_gcra_init(&g, 0, 1000, 0), PCO_ERROR);
    assert_int_equal(pco_gcra_init(&g, 1, 1000, -1), PCO_ERROR);
    assert_int_equal(pco_gcra_init(&g, 2000000, 1000, 0), PCO_ERROR);   /* < 1 us */
    assert_int_equal(pco_gcra_init(&g, 10, 1000, 20), PCO_OK);
    assert_int_equal(g.interval, 100000);
    assert_int_equal(g.tolerance, 2000000);
    assert_int_equal(pco_gcra_init(&g, 3, 1000, 0), PCO_OK);
    assert_int_equal(g.interval, 333333);
    assert_int_equal(pco_gcra_init(&g, 1, 60000, 2), PCO_OK);
    assert_int_equal(g.interval, 60 * PCO_T_SEC);
    assert_int_equal(g.tolerance, 120 * PCO_T_SEC);
}

static void
pco_t_gcra_burst(void **state)
{
    pco_gcra_t  g;
    int64_t     tat = 0, wait, excess, now = 1000 * PCO_T_SEC;

    (void) state;
    assert_int_equal(pco_gcra_init(&g, 1, 60000, 2), PCO_OK);     /* 1r/m, burst 2 */
    assert_true(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_int_equal(tat, now + 60 * PCO_T_SEC);
    assert_true(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_true(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_int_equal(tat, now + 180 * PCO_T_SEC);
    /* the fourth at once: rejected, due in exactly one interval, bucket level 3 */
    assert_false(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_int_equal(wait, 60 * PCO_T_SEC);
    assert_int_equal(excess, 3000);
    assert_int_equal(tat, now + 180 * PCO_T_SEC);                /* unchanged */
    assert_int_equal(pco_gcra_retry_after(wait), 60);
    /* half a second later the wait shrinks, Retry-After rounds up */
    assert_false(pco_gcra_admit(&g, &tat, now + PCO_T_SEC / 2, &wait, &excess));
    assert_int_equal(wait, 59 * PCO_T_SEC + PCO_T_SEC / 2);
    assert_int_equal(pco_gcra_retry_after(wait), 60);
    assert_int_equal(excess, 2991);
    /* one microsecond early: still rejected, Retry-After at least 1 */
    assert_false(pco_gcra_admit(&g, &tat, now + 60 * PCO_T_SEC - 1, &wait, &excess));
    assert_int_equal(wait, 1);
    assert_int_equal(pco_gcra_retry_after(wait), 1);
    /* when due: admitted, then rejected again */
    assert_true(pco_gcra_admit(&g, &tat, now + 60 * PCO_T_SEC, &wait, &excess));
    assert_int_equal(wait, 0);
    assert_false(pco_gcra_admit(&g, &tat, now + 60 * PCO_T_SEC, &wait, &excess));
    /* after a long idle time the full burst is available again */
    now += 3600 * PCO_T_SEC;
    assert_true(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_true(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_true(pco_gcra_admit(&g, &tat, now, &wait, &excess));
    assert_false(pco_gcra_admit(&g, &tat, now, &wait, &excess));
}

static void
pco_t_gcra_spacing(void **state)
{
    pco_gcra_t  g;
    int64_t     tat = 0, wait, excess, now = 5 * PCO_T_SEC;
    int         i, admitted = 0;

    (void) state;
    assert_int_equal(pco_gcra_init(&g, 10, 1000, 0), PCO_OK);     /* 10r/s, no burst */
    for (i = 0; i < 50; i++) {
        admitted += pco_gcra_admit(&g, &tat, now + i * 100000, &wait, &excess);
    }
    assert_int_equal(admitted, 50);                               /* exactly at the rate */
    /* twice the rate: every other request passes */
    tat = 0;
    admitted = 0;
    for (i = 0; i < 50; i++) {
        admitted += pco_gcra_admit(&g, &tat, now + 100 * PCO_T_SEC + i * 50000, &wait,
                                   &excess);
    }
    assert_int_equal(admitted, 25);
    assert_int_equal(pco_gcra_retry_after(0), 1);
    assert_int_equal(pco_gcra_retry_after(PCO_T_SEC), 1);
    assert_int_equal(pco_gcra_retry_after(PCO_T_SEC + 1), 2);
}

/* ---- the table ---- */

static void *
pco_t_table(size_t size)
{
    void  *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(mem != MAP_FAILED);
    assert_int_equal(pco_limit_table_init(mem, size, 12345), PCO_OK);
    return mem;
}

static pco_limit_node_t *
pco_t_get(pco_limit_table_t *t, const char *key, bool create, pco_limit_evictable_pt ev,
          bool *evicted)
{
    bool               dummy;
    pco_limit_node_t  *n;

    pco_limit_table_lock(t);
    n = pco_limit_table_get(t, (const u_char *) key, strlen(key), create, ev,
                            evicted ? evicted : &dummy);
    pco_limit_table_unlock(t);
    return n;
}

static void
pco_t_table_basic(void **state)
{
    size_t              size = 64 * 1024;
    pco_limit_table_t  *t = pco_t_table(size);
    pco_limit_node_t   *a, *b;
    bool                ev;

    (void) state;
    assert_true(pco_limit_table_valid(t, size));
    assert_false(pco_limit_table_valid(t, size * 2));
    assert_int_equal(pco_limit_table_init(t, 256, 1), PCO_ERROR);   /* too small */
    assert_int_equal(pco_limit_table_init(t, size, 1), PCO_OK);
    assert_true(t->nnodes > 400);
    assert_int_equal(t->nbuckets & (t->nbuckets - 1), 0);
    assert_true(t->nbuckets >= t->nnodes);

    assert_null(pco_t_get(t, "alice", false, NULL, NULL));
    a = pco_t_get(t, "alice", true, NULL, &ev);
    assert_non_null(a);
    assert_false(ev);
    assert_int_equal(a->value[0], 0);
    a->value[0] = 42;
    b = pco_t_get(t, "bob", true, NULL, &ev);
    assert_true(b != a);
    assert_true(pco_t_get(t, "alice", false, NULL, NULL) == a);
    assert_int_equal(a->value[0], 42);
    assert_int_equal(t->used, 2);
    assert_true(pco_limit_table_node(t, pco_limit_table_index(t, a)) == a);
    assert_null(pco_limit_table_node(t, t->nnodes));
    /* "alice" was used last, so "bob" is the least recently used */
    assert_true(pco_limit_table_lru(t) == b);
    /* an empty key and keys differing in length are distinct too */
    assert_non_null(pco_t_get(t, "", true, NULL, NULL));
    assert_true(pco_t_get(t, "alic", true, NULL, NULL) != a);
    munmap(t, size);
}

static void
pco_t_table_long_keys(void **state)
{
    size_t              size = 64 * 1024;
    pco_limit_table_t  *t = pco_t_table(size);
    char                k1[200], k2[200];
    pco_limit_node_t   *a, *b;

    (void) state;
    memset(k1, 'x', sizeof(k1) - 1);
    k1[sizeof(k1) - 1] = '\0';
    memcpy(k2, k1, sizeof(k1));
    k2[150] = 'y';                         /* beyond the stored bytes */
    a = pco_t_get(t, k1, true, NULL, NULL);
    b = pco_t_get(t, k2, true, NULL, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a != b);                   /* told apart by the hash */
    assert_true(pco_t_get(t, k1, false, NULL, NULL) == a);
    assert_int_equal(a->key_len, 199);
    munmap(t, size);
}

static void
pco_t_table_lru(void **state)
{
    size_t              size = 16 * 1024;
    pco_limit_table_t  *t = pco_t_table(size);
    uint32_t            i, n = t->nnodes;
    char                key[32];
    bool                ev;
    pco_limit_node_t   *nd;

    (void) state;
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        nd = pco_t_get(t, key, true, NULL, &ev);
        assert_non_null(nd);
        assert_false(ev);
        nd->value[0] = i;
    }
    assert_int_equal(t->used, n);
    /* touch k0: k1 becomes the least recently used and is the one evicted */
    assert_non_null(pco_t_get(t, "k0", false, NULL, NULL));
    nd = pco_t_get(t, "new", true, NULL, &ev);
    assert_non_null(nd);
    assert_true(ev);
    assert_int_equal(nd->value[0], 0);     /* a new key starts zeroed */
    assert_null(pco_t_get(t, "k1", false, NULL, NULL));
    assert_non_null(pco_t_get(t, "k0", false, NULL, NULL));
    assert_non_null(pco_t_get(t, "k2", false, NULL, NULL));
    assert_int_equal(t->used, n);
    assert_int_equal(t->evictions, 1);
    /* evictions go on in LRU order: k3 next (k2 was just touched) */
    assert_non_null(pco_t_get(t, "new2", true, NULL, &ev));
    assert_true(ev);
    assert_null(pco_t_get(t, "k3", false, NULL, NULL));
    assert_non_null(pco_t_get(t, "k2", false, NULL, NULL));
    munmap(t, size);
}

static bool
pco_t_idle(const pco_limit_node_t *node)
{
    return node->value[0] == 0;
}

static void
pco_t_table_busy(void **state)
{
    size_t              size = 16 * 1024;
    pco_limit_table_t  *t = pco_t_table(size);
    uint32_t            i, n = t->nnodes;
    char                key[32];
    bool                ev;
    pco_limit_node_t   *nd;

    (void) state;
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "c%u", i);
        nd = pco_t_get(t, key, true, pco_t_idle, &ev);
        assert_non_null(nd);
        nd->value[0] = 1;                  /* busy */
    }
    /* every key busy: a new one cannot be added, none is lost */
    assert_null(pco_t_get(t, "extra", true, pco_t_idle, &ev));
    assert_false(ev);
    assert_non_null(pco_t_get(t, "c0", false, NULL, NULL));
    /* the least recently used busy key is skipped for an idle one close behind it */
    nd = pco_t_get(t, "c2", false, NULL, NULL);    /* c1 is now the oldest, c2 recent */
    nd = pco_t_get(t, "c3", false, NULL, NULL);
    nd->value[0] = 0;                              /* c3 idle but recent */
    assert_null(pco_t_get(t, "extra", true, pco_t_idle, &ev));   /* beyond the scan */
    nd = pco_t_get(t, "c4", false, NULL, NULL);
    assert_non_null(nd);
    /* make the oldest few: c1 (busy), c5 (busy), c6 (idle) */
    nd = pco_t_get(t, "c6", false, NULL, NULL);
    nd->value[0] = 0;
    for (i = 7; i < n; i++) {
        snprintf(key, sizeof(key), "c%u", i);
        assert_non_null(pco_t_get(t, key, false, NULL, NULL));
    }
    for (i = 0; i < 6; i++) {
        if (i == 1 || i == 5) {
            continue;
        }
        snprintf(key, sizeof(key), "c%u", i);
        assert_non_null(pco_t_get(t, key, false, NULL, NULL));
    }
    nd = pco_t_get(t, "extra", true, pco_t_idle, &ev);
    assert_non_null(nd);
    assert_true(ev);
    assert_null(pco_t_get(t, "c6", false, NULL, NULL));       /* the idle one went */
    assert_non_null(pco_t_get(t, "c1", false, NULL, NULL));   /* the busy ones stayed */
    assert_non_null(pco_t_get(t, "c5", false, NULL, NULL));
    munmap(t, size);
}

static void
pco_t_table_repair(void **state)
{
    size_t              size = 32 * 1024;
    pco_limit_table_t  *t = pco_t_table(size);
    pco_limit_node_t   *nd;
    uint64_t            repairs;
    char                key[32];
    pid_t               pid;
    int                 i, status;

    (void) state;
    for (i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        nd = pco_t_get(t, key, true, NULL, NULL);
        nd->value[0] = i + 100;
    }
    repairs = t->repairs;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* die inside the critical section with half-written links */
        pco_limit_table_lock(t);
        t->head = 0xdeadbeef;
        t->tail = 7;
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    /* the next holder repairs: every key and value is still there, links are sane */
    for (i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        nd = pco_t_get(t, key, false, NULL, NULL);
        assert_non_null(nd);
        assert_int_equal(nd->value[0], i + 100);
    }
    assert_int_equal(t->repairs, repairs + 1);
    assert_int_equal(t->used, 50);
    assert_true(t->head >= 1 && t->head <= t->nnodes);
    assert_non_null(pco_t_get(t, "after", true, NULL, NULL));
    assert_int_equal(t->used, 51);
    munmap(t, size);
}

static void
pco_t_hash(void **state)
{
    (void) state;
    assert_true(pco_limit_hash(1, (const u_char *) "abc", 3)
                == pco_limit_hash(1, (const u_char *) "abc", 3));
    assert_true(pco_limit_hash(1, (const u_char *) "abc", 3)
                != pco_limit_hash(2, (const u_char *) "abc", 3));
    assert_true(pco_limit_hash(1, (const u_char *) "abc", 3)
                != pco_limit_hash(1, (const u_char *) "abd", 3));
    assert_true(pco_limit_hash(1, (const u_char *) "a\0", 2)
                != pco_limit_hash(1, (const u_char *) "a", 1));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_gcra_init),
        cmocka_unit_test(pco_t_gcra_burst),
        cmocka_unit_test(pco_t_gcra_spacing),
        cmocka_unit_test(pco_t_hash),
        cmocka_unit_test(pco_t_table_basic),
        cmocka_unit_test(pco_t_table_long_keys),
        cmocka_unit_test(pco_t_table_lru),
        cmocka_unit_test(pco_t_table_busy),
        cmocka_unit_test(pco_t_table_repair),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
