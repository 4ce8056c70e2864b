/*
 * test_upstream_dyn.c: the runtime server table (pco_upstream_dyn.c) on a hand-built
 * upstream and zone: add/remove/set and what a process's view shows after
 * pco_upstream_sync (positions, weights, admin state, vacant), duplicates and a full
 * upstream refused with their codes, a configured server not removable, a removed
 * position reused only once nothing is in flight to it, the DNS address-set replacement
 * (kept, added, removed), the carry-over of API servers across a "reload", the health
 * checker's write guard and `initial` for added servers, a removed server added again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "pco_upstream_int.h"

static pco_shm_zone_t         pco_t_zone;
static pco_upstream_t         pco_t_u;
static pco_upstream_server_t  pco_t_srv[6];
static pco_upstream_entry_t   pco_t_entries[2];
static char                   pco_t_err[160];

static void
pco_t_addr(pco_sockaddr_t *sa, socklen_t *len, unsigned port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin.sin_family = AF_INET;
    sa->sin.sin_port = htons((in_port_t) port);
    sa->sin.sin_addr.s_addr = htonl(0x7f000001);
    *len = sizeof(struct sockaddr_in);
}

/* Two configured servers (127.0.0.1:9001 from entry 0, :9002 from entry 1, resolve), four
 * free positions; slots given as init_master does. */
static int
pco_t_setup(void **state)
{
    static pco_str_t       names[2] = { pco_string("127.0.0.1:9001"),
                                        pco_string("127.0.0.1:9002") };
    pco_upstream_shared_t *st[2];
    uint64_t               keys[2];
    unsigned               i;

    pco_unused(state);
    memset(&pco_t_zone, 0, sizeof(pco_t_zone));
    pco_t_zone.size = pco_upstream_zone_size(6);
    pco_t_zone.addr = calloc(1, pco_t_zone.size);
    assert_non_null(pco_t_zone.addr);
    assert_int_equal(pco_upstream_zone_init(&pco_t_zone, NULL), PCO_OK);
    memset(&pco_t_u, 0, sizeof(pco_t_u));
    memset(pco_t_srv, 0, sizeof(pco_t_srv));
    pco_t_u.name = (pco_str_t) pco_string("app");
    pco_t_u.key = pco_upstream_name_key(&pco_t_u.name);
    pco_t_u.servers = pco_t_srv;
    pco_t_u.nservers = 2;
    pco_t_u.nprimary = 2;
    pco_t_u.npositions = 2;
    pco_t_u.capacity = 6;
    pco_t_u.entries = pco_t_entries;
    pco_t_u.nentries = 2;
    pco_t_u.rt_zone = pco_t_zone.addr;
    memset(pco_t_entries, 0, sizeof(pco_t_entries));
    pco_t_entries[1].resolve = true;
    pco_t_entries[1].weight = 4;
    for (i = 0; i < 6; i++) {
        pco_t_srv[i].index = i;
        pco_t_srv[i].upstream = &pco_t_u;
        pco_t_srv[i].active_counter = -1;
        pco_t_srv[i].vacant = i >= 2;
        pco_t_srv[i].weight = pco_t_srv[i].conf_weight = 1;
        pco_t_srv[i].entry = i < 2 ? (int) i : -1;
    }
    for (i = 0; i < 2; i++) {
        pco_t_srv[i].name = names[i];
        pco_t_srv[i].configured = names[i];
        keys[i] = pco_upstream_server_key(&pco_t_u.name, &names[i], &names[i]);
    }
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, keys, 2, st), PCO_OK);
    pco_t_srv[0].shared = st[0];
    pco_t_srv[1].shared = st[1];
    pco_upstream_dyn_restore(&pco_t_u, st, 0);
    return 0;
}

static int
pco_t_teardown(void **state)
{
    pco_unused(state);
    free(pco_t_zone.addr);
    return 0;
}

static int
pco_t_add(unsigned port, int64_t weight, bool backup, unsigned *index, int *code)
{
    pco_upstream_dyn_spec_t  spec;
    pco_sockaddr_t           sa;
    socklen_t                len;

    pco_t_addr(&sa, &len, port);
    memset(&spec, 0, sizeof(spec));
    spec.sockaddr = &sa;
    spec.socklen = len;
    spec.weight = weight;
    spec.backup = backup;
    spec.origin = PCO_UPSTREAM_ORIGIN_API;
    spec.entry = -1;
    return pco_upstream_dyn_add(&pco_t_u, &spec, index, code, pco_t_err, sizeof(pco_t_err));
}

static void
pco_t_add_remove_set(void **state)
{
    unsigned  idx = 99;
    int       code = 0;

    pco_unused(state);
    assert_int_equal(pco_t_add(9003, 3, false, &idx, &code), PCO_OK);
    assert_int_equal(idx, 2);
    /* not seen before the sync */
    assert_true(pco_t_srv[2].vacant);
    pco_upstream_sync(&pco_t_u);
    assert_false(pco_t_srv[2].vacant);
    assert_int_equal(pco_t_u.npositions, 3);
    assert_int_equal(pco_t_srv[2].weight, 3);
    assert_string_equal((char *) pco_t_srv[2].name.data, "127.0.0.1:9003");
    assert_true(pco_upstream_usable(&pco_t_srv[2]));

    /* a duplicate, configured or added: 409 */
    assert_int_equal(pco_t_add(9003, 1, false, &idx, &code), PCO_ERROR);
    assert_int_equal(code, 409);
    assert_string_equal(pco_t_err, "server 127.0.0.1:9003 is already in upstream \"app\"");
    assert_int_equal(pco_t_add(9001, 1, false, &idx, &code), PCO_ERROR);
    assert_int_equal(code, 409);
    assert_int_equal(pco_t_add(9004, 0, false, &idx, &code), PCO_ERROR);
    assert_int_equal(code, 400);

    /* drain a configured server, re-weight it, then back to its configured weight */
    assert_int_equal(pco_upstream_dyn_set(&pco_t_u, 0, PCO_UPSTREAM_ADMIN_DRAIN, 7, &code,
                                          pco_t_err, sizeof(pco_t_err)), PCO_OK);
    pco_upstream_sync(&pco_t_u);
    assert_int_equal(pco_t_srv[0].admin, PCO_UPSTREAM_ADMIN_DRAIN);
    assert_int_equal(pco_t_srv[0].weight, 7);
    assert_false(pco_upstream_usable(&pco_t_srv[0]));
    assert_int_equal(pco_upstream_dyn_set(&pco_t_u, 0, PCO_UPSTREAM_ADMIN_UP, -1, &code,
                                          pco_t_err, sizeof(pco_t_err)), PCO_OK);
    pco_upstream_sync(&pco_t_u);
    assert_int_equal(pco_t_srv[0].weight, 1);
    assert_true(pco_upstream_usable(&pco_t_srv[0]));

    /* unknown positions: 404; a configured server cannot be removed: 409 */
    assert_int_equal(pco_upstream_dyn_set(&pco_t_u, 4, 1, 0, &code, pco_t_err,
                                          sizeof(pco_t_err)), PCO_ERROR);
    assert_int_equal(code, 404);
    assert_int_equal(pco_upstream_dyn_remove(&pco_t_u, 1, &code, pco_t_err,
                                             sizeof(pco_t_err)), PCO_ERROR);
    assert_int_equal(code, 409);

    /* removal with a request in flight: the position is not reused until it ends */
    __atomic_add_fetch(&pco_t_srv[2].shared->active, 1, __ATOMIC_RELAXED);
    assert_int_equal(pco_upstream_dyn_remove(&pco_t_u, 2, &code, pco_t_err,
                                             sizeof(pco_t_err)), PCO_OK);
    pco_upstream_sync(&pco_t_u);
    assert_true(pco_t_srv[2].vacant);
    assert_int_equal(pco_t_u.npositions, 2);
    assert_int_equal(pco_t_add(9005, 1, false, &idx, &code), PCO_OK);
    assert_int_equal(idx, 3);
    __atomic_sub_fetch(&pco_t_srv[2].shared->active, 1, __ATOMIC_RELAXED);
    assert_int_equal(pco_t_add(9006, 1, false, &idx, &code), PCO_OK);
    assert_int_equal(idx, 2);
    pco_upstream_sync(&pco_t_u);
    assert_string_equal((char *) pco_t_srv[2].name.data, "127.0.0.1:9006");
    assert_int_equal(pco_t_srv[2].epoch, 2);     /* a new occupant: pooled ones are not its */

    /* full: positions 4 and 5 left */
    assert_int_equal(pco_t_add(9007, 1, false, &idx, &code), PCO_OK);
    assert_int_equal(pco_t_add(9008, 1, true, &idx, &code), PCO_OK);
    assert_int_equal(pco_t_add(9009, 1, false, &idx, &code), PCO_ERROR);
    assert_int_equal(code, 409);
    assert_string_equal(pco_t_err, "upstream \"app\" is full (max_servers = 6)");
    pco_upstream_sync(&pco_t_u);
    assert_true(pco_t_srv[5].backup);
    assert_int_equal(pco_t_u.npositions, 6);
}

static void
pco_t_resolved(void **state)
{
    pco_sockaddr_t  sa[3];
    socklen_t       len[3];

    pco_unused(state);
    pco_t_addr(&sa[0], &len[0], 9002);
    pco_t_addr(&sa[1], &len[1], 9010);
    pco_t_addr(&sa[2], &len[2], 9011);
    /* entry 0 is not resolve = true; no address is refused */
    assert_int_equal(pco_upstream_resolved_set(&pco_t_u, 0, sa, len, 1, pco_t_err,
                                               sizeof(pco_t_err)), -1);
    assert_int_equal(pco_upstream_resolved_set(&pco_t_u, 1, sa, len, 0, pco_t_err,
                                               sizeof(pco_t_err)), -1);
    /* :9002 stays (configured), two new */
    assert_int_equal(pco_upstream_resolved_set(&pco_t_u, 1, sa, len, 3, pco_t_err,
                                               sizeof(pco_t_err)), 2);
    pco_upstream_sync(&pco_t_u);
    assert_false(pco_t_srv[1].vacant);
    assert_int_equal(pco_t_srv[2].origin, PCO_UPSTREAM_ORIGIN_DNS);
    assert_int_equal(pco_t_srv[2].weight, 4);          /* the entry's options */
    assert_int_equal(pco_t_srv[3].entry, 1);
    /* the same set again: nothing changes */
    assert_int_equal(pco_upstream_resolved_set(&pco_t_u, 1, sa, len, 3, pco_t_err,
                                               sizeof(pco_t_err)), 0);
    /* only :9011 now: the configured :9002 and the added :9010 go */
    assert_int_equal(pco_upstream_resolved_set(&pco_t_u, 1, &sa[2], &len[2], 1, pco_t_err,
                                               sizeof(pco_t_err)), 2);
    pco_upstream_sync(&pco_t_u);
    assert_true(pco_t_srv[1].vacant);
    assert_true(pco_t_srv[2].vacant);
    assert_false(pco_t_srv[3].vacant);
    assert_false(pco_upstream_usable(&pco_t_srv[1]));
}

static void
pco_t_reload(void **state)
{
    pco_upstream_shared_t *st[3];
    uint64_t               keys[3];
    unsigned               idx, n;
    int                    code;

    pco_unused(state);
    assert_int_equal(pco_t_add(9003, 5, false, &idx, &code), PCO_OK);
    assert_int_equal(pco_upstream_dyn_set(&pco_t_u, 0, PCO_UPSTREAM_ADMIN_DOWN, 0, &code,
                                          pco_t_err, sizeof(pco_t_err)), PCO_OK);
    /* the next generation has only :9001 configured: the API server follows it */
    keys[0] = pco_upstream_server_key(&pco_t_u.name, &pco_t_srv[0].configured,
                                      &pco_t_srv[0].name);
    pco_t_u.nservers = 1;
    pco_t_u.nprimary = 1;
    n = pco_upstream_dyn_collect(pco_t_zone.addr, &pco_t_u, &keys[1], 5);
    assert_int_equal(n, 1);
    assert_int_equal(pco_upstream_zone_assign(pco_t_zone.addr, keys, 2, st), PCO_OK);
    pco_t_srv[0].shared = st[0];
    pco_upstream_dyn_restore(&pco_t_u, st, n);
    assert_int_equal(st[0]->rt.admin, PCO_UPSTREAM_ADMIN_DOWN);    /* kept */
    pco_t_u.rt_version = 0;
    pco_upstream_sync(&pco_t_u);
    assert_false(pco_t_srv[1].vacant);
    assert_string_equal((char *) pco_t_srv[1].name.data, "127.0.0.1:9003");
    assert_int_equal(pco_t_srv[1].weight, 5);
    assert_int_equal(pco_t_srv[0].admin, PCO_UPSTREAM_ADMIN_DOWN);
}

/* The health checker's guard: a dynamic position's slot is written only while it still
 * holds the server the process's view has; an added server starts as `initial` says. */
static void
pco_t_health(void **state)
{
    static const pco_upstream_health_conf_t  down = { .initial = 1 };
    unsigned                                  idx;
    int                                       code;

    pco_unused(state);
    assert_int_equal(pco_t_add(9003, 1, false, &idx, &code), PCO_OK);
    pco_upstream_sync(&pco_t_u);
    assert_int_equal(pco_t_srv[2].shared->health_down, 0);        /* no health_check */
    assert_true(pco_upstream_server_lock(&pco_t_srv[0]));          /* configured: no lock */
    pco_upstream_server_unlock(&pco_t_srv[0]);
    assert_true(pco_upstream_server_lock(&pco_t_srv[2]));
    pco_upstream_server_unlock(&pco_t_srv[2]);
    /* another process removes :9003 and adds :9004 at the same position (same slot);
     * this process has not synced yet: its view still says :9003 */
    pco_t_u.health_check = &down;
    assert_int_equal(pco_upstream_dyn_remove(&pco_t_u, 2, &code, pco_t_err,
                                             sizeof(pco_t_err)), PCO_OK);
    assert_false(pco_upstream_server_lock(&pco_t_srv[2]));         /* removed */
    assert_int_equal(pco_t_add(9004, 1, false, &idx, &code), PCO_OK);
    assert_int_equal(idx, 2);
    assert_false(pco_upstream_server_lock(&pco_t_srv[2]));         /* another server */
    assert_int_equal(pco_t_srv[2].shared->health_down, 1);        /* initial = "down" */
    pco_upstream_sync(&pco_t_u);
    assert_string_equal((char *) pco_t_srv[2].name.data, "127.0.0.1:9004");
    assert_false(pco_upstream_usable(&pco_t_srv[2]));
    assert_true(pco_upstream_server_lock(&pco_t_srv[2]));
    pco_upstream_server_unlock(&pco_t_srv[2]);
    /* the lock was released: a change goes through */
    assert_int_equal(pco_upstream_dyn_remove(&pco_t_u, 2, &code, pco_t_err,
                                             sizeof(pco_t_err)), PCO_OK);
    pco_t_u.health_check = NULL;
}

/* A server removed while a request is in flight to it and added again takes its own slot
 * back, with the in-flight count kept (a second slot under its key lost it at a reload). */
static void
pco_t_readd(void **state)
{
    pco_upstream_shared_t  *sh;
    uint64_t                key;
    unsigned                idx, k, same = 0;
    int                     code;

    pco_unused(state);
    assert_int_equal(pco_t_add(9003, 1, false, &idx, &code), PCO_OK);
    pco_upstream_sync(&pco_t_u);
    sh = pco_t_srv[2].shared;
    __atomic_add_fetch(&sh->active, 1, __ATOMIC_RELAXED);
    assert_int_equal(pco_upstream_dyn_remove(&pco_t_u, 2, &code, pco_t_err,
                                             sizeof(pco_t_err)), PCO_OK);
    assert_int_equal(pco_t_add(9003, 2, false, &idx, &code), PCO_OK);
    assert_int_equal(idx, 2);
    pco_upstream_sync(&pco_t_u);
    assert_ptr_equal(pco_t_srv[2].shared, sh);
    assert_int_equal(sh->active, 1);
    assert_int_equal(pco_t_srv[2].weight, 2);
    key = pco_upstream_dyn_key(&pco_t_u, "127.0.0.1:9003");
    for (k = 0; k < ((pco_upstream_zone_hdr_t *) pco_t_zone.addr)->capacity; k++) {
        same += pco_upstream_zone_slots(pco_t_zone.addr)[k].key == key;
    }
    assert_int_equal(same, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pco_t_add_remove_set, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_resolved, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_reload, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_health, pco_t_setup, pco_t_teardown),
        cmocka_unit_test_setup_teardown(pco_t_readd, pco_t_setup, pco_t_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
