/*
 * test_shm.c: robust process-shared mutexes (a holder that _exits or is SIGKILLed while
 * holding the lock does not block the parent), zones kept or recreated across a "reload",
 * and counters: registration, per-process slots, reading sums, folding a dead slot keeps
 * monotonic totals and clears gauges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "pco_shm.h"
#include "pco_cycle.h"

/* Configuration errors land here (weak: pco_conf.o wins when the library brings it in,
 * and then the count stays 0 because no error is expected). */
static int  pco_test_conf_errors;

__attribute__((weak)) void
pco_conf_error_src(pco_conf_t *cf, const pco_conf_src_t *src, const char *fmt, ...)
{
    (void) cf;
    (void) src;
    (void) fmt;
    pco_test_conf_errors++;
}

static pco_shmtx_t *
pco_test_shared_mutex(void)
{
    pco_shmtx_t  *mtx;

    mtx = mmap(NULL, sizeof(pco_shmtx_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    assert_true(mtx != MAP_FAILED);
    assert_int_equal(pco_shmtx_init(mtx), PCO_OK);
    return mtx;
}

static void
pco_test_mutex_exit(void **state)
{
    pco_shmtx_t  *mtx;
    pid_t         pid;
    int           status;

    (void) state;
    mtx = pco_test_shared_mutex();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pco_shmtx_lock(mtx);
        _exit(0);                        /* dies holding the lock */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    pco_shmtx_lock(mtx);                 /* EOWNERDEAD, repaired */
    pco_shmtx_unlock(mtx);
    assert_true(pco_shmtx_trylock(mtx));
    pco_shmtx_unlock(mtx);
    munmap(mtx, sizeof(pco_shmtx_t));
}

static void
pco_test_mutex_kill(void **state)
{
    pco_shmtx_t  *mtx;
    pid_t         pid;
    int           status, p[2];
    char          ch;

    (void) state;
    mtx = pco_test_shared_mutex();
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pco_shmtx_lock(mtx);
        if (write(p[1], "L", 1) != 1) {
            _exit(1);
        }
        for ( ;; ) {
            pause();
        }
    }
    assert_int_equal(read(p[0], &ch, 1), 1);
    assert_false(pco_shmtx_trylock(mtx));   /* really held by the child */
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(pco_shmtx_trylock(mtx));
    pco_shmtx_unlock(mtx);
    pco_shmtx_lock(mtx);
    pco_shmtx_unlock(mtx);
    close(p[0]);
    close(p[1]);
    munmap(mtx, sizeof(pco_shmtx_t));
}

static void
pco_test_counters(void **state)
{
    void     *mem;
    int       req, act, s1, s2, late, i;
    int64_t  *slot;

    (void) state;
    req = pco_counter_register(NULL, NULL, "test.requests", PCO_COUNTER_MONOTONIC);
    act = pco_counter_register(NULL, NULL, "test.active", PCO_COUNTER_GAUGE);
    assert_true(req >= 0);
    assert_true(act >= 0 && act != req);
    assert_int_equal(pco_counter_register(NULL, NULL, "test.requests", PCO_COUNTER_MONOTONIC),
                     req);
    assert_int_equal(pco_counter_find("test.active"), act);
    assert_int_equal(pco_counter_find("nope"), -1);
    assert_string_equal(pco_counter_name(req), "test.requests");

    mem = malloc(pco_counters_zone_size());
    assert_non_null(mem);
    pco_counters_attach_memory(mem, true);
    assert_null(pco_counter_slot);
    pco_counter_add(req, 5);            /* no slot (master): ignored */
    assert_int_equal(pco_counter_read(req), 0);

    s1 = pco_counter_slot_alloc();
    s2 = pco_counter_slot_alloc();
    assert_true(s1 > 0);
    assert_true(s2 > 0 && s2 != s1);

    pco_counter_slot_attach(s1);
    pco_counter_add(req, 10);
    pco_counter_add(act, 3);
    pco_counter_slot_attach(s2);
    pco_counter_add(req, 7);
    pco_counter_add(act, 2);
    assert_int_equal(pco_counter_read(req), 17);
    assert_int_equal(pco_counter_read(act), 5);

    /* s1 dies: its requests stay in the total, its active connections vanish */
    pco_counter_slot_fold(s1);
    assert_int_equal(pco_counter_read(req), 17);
    assert_int_equal(pco_counter_read(act), 2);
    /* the slot is free again and starts at zero */
    assert_int_equal(pco_counter_slot_alloc(), s1);
    assert_int_equal(pco_counter_read(req), 17);

    pco_counter_slot_fold(s2);
    assert_int_equal(pco_counter_read(req), 17);
    assert_int_equal(pco_counter_read(act), 0);

    /* a counter registered later (reload) gets the next id; old ids are unchanged */
    late = pco_counter_register(NULL, NULL, "test.late", PCO_COUNTER_MONOTONIC);
    assert_int_equal(late, pco_counter_count() - 1);
    assert_int_equal(pco_counter_find("test.requests"), req);

    /* re-attaching kept memory (reload) keeps the values */
    pco_counters_attach_memory(mem, false);
    assert_int_equal(pco_counter_read(req), 17);

    /* every slot can be handed out once */
    pco_counter_slot_fold(s1);
    for (i = 1; i < PCO_COUNTER_SLOTS; i++) {
        assert_true(pco_counter_slot_alloc() > 0);
    }
    assert_int_equal(pco_counter_slot_alloc(), -1);

    slot = pco_counter_slot;
    pco_counter_slot_attach(0);         /* the retired slot is never attached */
    assert_null(pco_counter_slot);
    (void) slot;
    pco_counters_attach_memory(NULL, false);
    free(mem);
}

static int    pco_test_inits;
static void  *pco_test_init_old;

static int
pco_test_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_test_inits++;
    pco_test_init_old = old_data;
    if (old_data == NULL) {
        memset(zone->addr, 0, zone->size);
        zone->data = zone->addr;
    }
    return PCO_OK;
}

static void
pco_test_zones(void **state)
{
    static const char  tag1 = 1, tag2 = 2;
    pco_cycle_t        c1, c2, c3;
    pco_shm_zone_t    *z, *z2, *cz;

    (void) state;
    memset(&c1, 0, sizeof(c1));
    memset(&c2, 0, sizeof(c2));
    memset(&c3, 0, sizeof(c3));
    c1.pool = pco_pool_create(4096, 0);
    c2.pool = pco_pool_create(4096, 0);
    c3.pool = pco_pool_create(4096, 0);

    z = pco_shm_zone_add(NULL, &c1, "health", 65536, &tag1, pco_test_zone_init);
    assert_non_null(z);
    assert_ptr_equal(pco_shm_zone_add(NULL, &c1, "health", 65536, &tag1, pco_test_zone_init),
                     z);
    assert_null(pco_shm_zone_add(NULL, &c1, "health", 4096, &tag1, pco_test_zone_init));
    assert_null(pco_shm_zone_add(NULL, &c1, "health", 65536, &tag2, pco_test_zone_init));
    assert_non_null(pco_shm_zone_add(NULL, &c1, "limit", 8192, &tag2, pco_test_zone_init));
    assert_true(pco_counter_register(NULL, &c1, "test.zone", PCO_COUNTER_MONOTONIC) >= 0);
    assert_int_equal(c1.shm_zones.nelts, 3);

    pco_test_inits = 0;
    assert_int_equal(pco_shm_zones_create(&c1, NULL), PCO_OK);
    assert_int_equal(pco_test_inits, 2);
    assert_non_null(z->addr);
    assert_false(z->reused);
    ((int *) z->addr)[0] = 42;

    /* reload: health unchanged, limit resized */
    z2 = pco_shm_zone_add(NULL, &c2, "health", 65536, &tag1, pco_test_zone_init);
    assert_non_null(pco_shm_zone_add(NULL, &c2, "limit", 16384, &tag2, pco_test_zone_init));
    assert_true(pco_counter_register(NULL, &c2, "test.zone", PCO_COUNTER_MONOTONIC) >= 0);
    pco_test_inits = 0;
    assert_int_equal(pco_shm_zones_create(&c2, &c1), PCO_OK);
    assert_int_equal(pco_test_inits, 2);
    assert_ptr_equal(z2->addr, z->addr);
    assert_true(z2->reused);
    assert_ptr_equal(z2->data, z->data);
    assert_int_equal(((int *) z2->addr)[0], 42);
    cz = &((pco_shm_zone_t *) c2.shm_zones.elts)[2];
    assert_int_equal(cz->name.len, strlen("pco_counters"));
    assert_true(cz->reused);

    pco_shm_zones_release(&c1, &c2);
    assert_int_equal(((int *) z2->addr)[0], 42);     /* still mapped */
    assert_int_equal(pco_counter_read(pco_counter_find("test.zone")), 0);

    /* another tag for the same name starts fresh */
    z = pco_shm_zone_add(NULL, &c3, "health", 65536, &tag2, pco_test_zone_init);
    assert_int_equal(pco_shm_zones_create(&c3, &c2), PCO_OK);
    assert_ptr_not_equal(z->addr, z2->addr);
    assert_null(pco_test_init_old);
    assert_int_equal(((int *) z->addr)[0], 0);
    pco_shm_zones_release(&c2, &c3);
    pco_shm_zones_release(&c3, NULL);
    pco_counters_attach_memory(NULL, false);
    pco_pool_destroy(c1.pool);
    pco_pool_destroy(c2.pool);
    pco_pool_destroy(c3.pool);
    assert_int_equal(pco_test_conf_errors, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_mutex_exit),
        cmocka_unit_test(pco_test_mutex_kill),
        cmocka_unit_test(pco_test_counters),
        cmocka_unit_test(pco_test_zones),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
