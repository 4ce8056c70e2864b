/*
 * test_upstream_zone.c: the upstream zone's slot assignment (pco_upstream_zone.c) across
 * "reloads": a server that stays keeps its state, a new one starts fresh, a removed one's
 * slot is cleared (so it starts fresh when it comes back), a full zone is an error; the zone
 * init keeps old data only with the right magic; server keys differ by upstream, configured
 * and resolved address; the zone size is stable for small changes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pco_upstream_int.h"

static pco_shm_zone_t  pco_t_zone;

static int
pco_t_setup(void **state)
{
    pco_unused(state);
    memset(&pco_t_zone, 0, sizeof(pco_t_zone));
    pco_t_zone.size = pco_upstream_zone_size(3);
    pco_t_zone.addr = calloc(1, pco_t_zone.size);
    assert_non_null(pco_t_zone.addr);
    memset(pco_t_zone.addr, 0xa5, pco_t_zone.size);     /* garbage: a fresh mapping is reset */
    assert_int_equal(pco_upstream_zone_init(&pco_t_zone, NULL), PCO_OK);
    return 0;
}

static int
pco_t_teardown(void **state)
{
    pco_unused(state);
    free(pco_t_zone.addr);
    return 0;
}

static void
pco_t_sizes(void **state)
{
    pco_upstream_zone_hdr_t  *hdr = pco_t_zone.addr;

    pco_unused(state);
    assert_int_equal(hdr->magic, PCO_UPSTREAM_ZONE_MAGIC);
    assert_int_equal(hdr->capacity, 64);
    assert_ptr_equal(pco_t_zone.data, pco_t_zone.addr);
    assert_int_equal(pco_upstream_zone_size(0), pco_upstream_zone_size(32));
    assert_int_equal(pco_upstream_zone_size(33) - sizeof(pco_upstream_zone_hdr_t),
                     128 * sizeof(pco_upstream_slot_t));
    assert_int_equal(sizeof(pco_upstream_slot_t) % 8, 0);
}

static void
pco_t_keys(void **state)
{
    pco_str_t  u1 = pco_string("app"), u2 = pco_string("api");
    pco_str_t  c1 = pco_string("localhost:80"), c2 = pco_string("127.0.0.1:80");
    pco_str_t  r1 = pco_string("127.0.0.1:80"), r2 = pco_string("[::1]:80");
    uint64_t   k = pco_upstream_server_key(&u1, &c1, &r1);

    pco_unused(state);
    assert_true(k != 0);
    assert_int_equal(k, pco_upstream_server_key(&u1, &c1, &r1));
    assert_true(k != pco_upstream_server_key(&u2, &c1, &r1));
    assert_true(k != pco_upstream_server_key(&u1, &c2, &r1));
    assert_true(k != pco_upstream_server_key(&u1, &c1, &r2));
}

static void
pco_t_reloads(void **state)
{
    uint64_t                gen1[] = { 11, 22, 33 }, gen2[] = { 22, 44 }, gen3[] = { 11, 22 };
    pco_upstream_shared_t  *st[3], *st2[2], *st3[2], *kept;

    pco_unused(state);
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, gen1, 3, st), PCO_OK);
    assert_true(st[0] != st[1] && st[1] != st[2] && st[0] != st[2]);
    st[0]->down_until = 1000;
    st[1]->fails = 2;
    st[1]->down_until = 5000;
    st[2]->requests = 7;
    kept = st[1];

    /* 22 stays (state kept), 44 is new (fresh), 11 and 33 leave (cleared) */
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, gen2, 2, st2), PCO_OK);
    assert_ptr_equal(st2[0], kept);
    assert_int_equal(st2[0]->fails, 2);
    assert_int_equal(st2[0]->down_until, 5000);
    assert_int_equal(st2[1]->fails, 0);
    assert_int_equal(st2[1]->down_until, 0);
    assert_int_equal(st2[1]->requests, 0);
    assert_int_equal(st[0]->down_until, 0);
    assert_int_equal(st[2]->requests, 0);

    /* 11 comes back: fresh state */
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, gen3, 2, st3), PCO_OK);
    assert_int_equal(st3[0]->down_until, 0);
    assert_ptr_equal(st3[1], kept);
    assert_int_equal(st3[1]->down_until, 5000);

    /* the same data survives a kept mapping; a wrong magic resets it */
    assert_int_equal(pco_upstream_zone_init(&pco_t_zone, pco_t_zone.addr), PCO_OK);
    assert_int_equal(kept->down_until, 5000);
    ((pco_upstream_zone_hdr_t *) pco_t_zone.addr)->magic = 1;
    assert_int_equal(pco_upstream_zone_init(&pco_t_zone, pco_t_zone.addr), PCO_OK);
    assert_int_equal(kept->down_until, 0);
}

static void
pco_t_full(void **state)
{
    uint64_t                keys[65];
    pco_upstream_shared_t  *st[65];
    unsigned                i;

    pco_unused(state);
    for (i = 0; i < 65; i++) {
        keys[i] = 100 + i;
    }
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, keys, 64, st), PCO_OK);
    /* 64 other keys: every slot is reused with fresh state */
    for (i = 0; i < 64; i++) {
        st[i]->fails = 1;
        keys[i] = 1000 + i;
    }
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, keys, 64, st), PCO_OK);
    for (i = 0; i < 64; i++) {
        assert_int_equal(st[i]->fails, 0);
    }
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, keys, 65, st), PCO_ERROR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pco_t_sizes, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_keys, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_reloads, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_full, pco_t_setup, pco_t_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
