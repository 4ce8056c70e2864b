/*
 * test_upstream_balancers.c: the balancers on hand-built upstreams (no processes, no zone):
 * the smooth weighted round robin sequence and ratios, least_conn with unequal counts and
 * ties, ip_hash stability and rehash, the ketama remapping property of hash, random_two's
 * preference for the less loaded server, tried[] and max_conns through pco_upstream_get,
 * and backups only when every primary is unusable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "pco_upstream.h"
#include "pco_time.h"

extern pco_module_t pco_upstream_round_robin_module, pco_upstream_least_conn_module,
                    pco_upstream_ip_hash_module, pco_upstream_hash_module,
                    pco_upstream_random_two_module;

#define PCO_T_MAX 8

static pco_pool_t             *pco_t_pool;
static pco_conf_t              pco_t_cf;
static pco_cycle_t             pco_t_cycle;
static void                   *pco_t_ctx[256];
static pco_upstream_t          pco_t_u;
static pco_upstream_server_t   pco_t_srv[PCO_T_MAX];
static pco_upstream_shared_t   pco_t_sh[PCO_T_MAX];
static char                    pco_t_names[PCO_T_MAX][32];
static uint64_t                pco_t_tried[PCO_UPSTREAM_MAX_SERVERS / 64];
static unsigned                pco_t_port;     /* nonzero: servers are 127.0.0.1:PORT+I */

static int
pco_t_setup_all(void **state)
{
    pco_unused(state);
    assert_int_equal(pco_modules_init(), PCO_OK);
    pco_t_pool = pco_pool_create(4096, 0);
    assert_non_null(pco_t_pool);
    pco_t_cf.pool = pco_t_pool;
    pco_t_cf.err = stderr;
    pco_t_cycle.pool = pco_t_pool;
    pco_t_cycle.module_ctx = pco_t_ctx;
    assert_int_equal(pco_upstream_round_robin_module.conf_done(&pco_t_cf, &pco_t_cycle),
                     PCO_OK);
    assert_int_equal(pco_upstream_least_conn_module.conf_done(&pco_t_cf, &pco_t_cycle),
                     PCO_OK);
    assert_int_equal(pco_upstream_ip_hash_module.conf_done(&pco_t_cf, &pco_t_cycle), PCO_OK);
    assert_int_equal(pco_upstream_hash_module.conf_done(&pco_t_cf, &pco_t_cycle), PCO_OK);
    assert_int_equal(pco_upstream_random_two_module.conf_done(&pco_t_cf, &pco_t_cycle),
                     PCO_OK);
    pco_current_msec = 1000000;
    return 0;
}

static int
pco_t_teardown_all(void **state)
{
    pco_unused(state);
    pco_pool_destroy(pco_t_pool);
    return 0;
}

/* n servers with the given weights; the last nbackup are backups; "10.0.0.I:80". */
static void
pco_t_make(const char *balance, unsigned n, const int64_t *weights, unsigned nbackup)
{
    unsigned  i;

    memset(&pco_t_u, 0, sizeof(pco_t_u));
    memset(pco_t_srv, 0, sizeof(pco_t_srv));
    memset(pco_t_sh, 0, sizeof(pco_t_sh));
    memset(pco_t_tried, 0, sizeof(pco_t_tried));
    pco_str_set(&pco_t_u.name, "app");
    pco_t_u.servers = pco_t_srv;
    pco_t_u.nservers = n;
    pco_t_u.nprimary = n - nbackup;
    pco_t_u.max_fails = 1;
    pco_t_u.fail_timeout = 10000;
    pco_t_u.hash_key = (pco_http_template_t *) &pco_t_u;   /* "set": hash needs one */
    for (i = 0; i < n; i++) {
        int  len = pco_t_port != 0
                   ? snprintf(pco_t_names[i], sizeof(pco_t_names[i]), "127.0.0.1:%u",
                              pco_t_port + i)
                   : snprintf(pco_t_names[i], sizeof(pco_t_names[i]), "10.0.0.%u:80", i + 1);

        pco_t_srv[i].name.data = (u_char *) pco_t_names[i];
        pco_t_srv[i].name.len = (size_t) len;
        pco_t_srv[i].configured = pco_t_srv[i].name;
        pco_t_srv[i].weight = weights != NULL ? weights[i] : 1;
        pco_t_srv[i].backup = i >= n - nbackup;
        pco_t_srv[i].index = i;
        pco_t_srv[i].shared = &pco_t_sh[i];
        pco_t_srv[i].upstream = &pco_t_u;
        pco_t_srv[i].active_counter = -1;
    }
    pco_t_u.balancer = pco_upstream_balancer_find(&pco_t_cycle, balance);
    assert_non_null(pco_t_u.balancer);
    assert_int_equal(pco_t_u.balancer->init(&pco_t_cf, &pco_t_u), PCO_OK);
}

/* One pick (nothing tried, nothing counted); the index or -1. */
static int
pco_t_pick(const char *key)
{
    pco_upstream_server_t  *s;
    pco_str_t               k;
    uint64_t                tried[PCO_UPSTREAM_MAX_SERVERS / 64];

    memset(tried, 0, sizeof(tried));
    k.data = (u_char *) key;
    k.len = key != NULL ? strlen(key) : 0;
    s = pco_t_u.balancer->pick(&pco_t_u, key != NULL ? &k : NULL, tried, false);
    if (s == NULL && pco_t_u.nservers > pco_t_u.nprimary) {
        s = pco_t_u.balancer->pick(&pco_t_u, key != NULL ? &k : NULL, tried, true);
    }
    return s == NULL ? -1 : (int) s->index;
}

static void
pco_t_rr_sequence(void **state)
{
    static const int64_t  w[] = { 5, 1, 1 };
    static const int      want[] = { 0, 0, 1, 0, 2, 0, 0 };   /* a a b a c a a */
    unsigned              i, round;

    pco_unused(state);
    pco_t_make("round_robin", 3, w, 0);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < pco_nelems(want); i++) {
            assert_int_equal(pco_t_pick(NULL), want[i]);
        }
    }
}

static void
pco_t_rr_ratios(void **state)
{
    static const int64_t  w[] = { 5, 1, 1 };
    static const int64_t  w2[] = { 3, 2, 2, 1 };
    unsigned              count[4] = { 0 }, i;

    pco_unused(state);
    pco_t_make("round_robin", 3, w, 0);
    for (i = 0; i < 7000; i++) {
        count[pco_t_pick(NULL)]++;
    }
    assert_int_equal(count[0], 5000);
    assert_int_equal(count[1], 1000);
    assert_int_equal(count[2], 1000);

    memset(count, 0, sizeof(count));
    pco_t_make("round_robin", 4, w2, 0);
    for (i = 0; i < 8000; i++) {
        count[pco_t_pick(NULL)]++;
    }
    assert_int_equal(count[0], 3000);
    assert_int_equal(count[1], 2000);
    assert_int_equal(count[2], 2000);
    assert_int_equal(count[3], 1000);

    /* a down server is skipped; the others keep their ratio */
    memset(count, 0, sizeof(count));
    pco_t_make("round_robin", 3, w, 0);
    pco_t_srv[0].down = true;
    for (i = 0; i < 1000; i++) {
        count[pco_t_pick(NULL)]++;
    }
    assert_int_equal(count[0], 0);
    assert_int_equal(count[1], 500);
    assert_int_equal(count[2], 500);
}

static void
pco_t_least_conn(void **state)
{
    static const int64_t  w[] = { 2, 1, 1 };
    unsigned              i;

    pco_unused(state);
    pco_t_make("least_conn", 3, NULL, 0);
    pco_t_sh[0].active = 3;
    pco_t_sh[1].active = 1;
    pco_t_sh[2].active = 2;
    for (i = 0; i < 10; i++) {
        assert_int_equal(pco_t_pick(NULL), 1);
    }
    pco_t_sh[1].active = 5;
    assert_int_equal(pco_t_pick(NULL), 2);

    /* weighted: 3/2 < 2/1 */
    pco_t_make("least_conn", 3, w, 0);
    pco_t_sh[0].active = 3;
    pco_t_sh[1].active = 2;
    pco_t_sh[2].active = 2;
    assert_int_equal(pco_t_pick(NULL), 0);
    pco_t_sh[0].active = 5;
    /* 1 and 2 tie at 2: round robin between them */
    assert_int_equal(pco_t_pick(NULL), 1);
    assert_int_equal(pco_t_pick(NULL), 2);
    assert_int_equal(pco_t_pick(NULL), 1);
    assert_int_equal(pco_t_pick(NULL), 2);

    /* all equal: plain round robin */
    pco_t_make("least_conn", 3, NULL, 0);
    for (i = 0; i < 9; i++) {
        assert_int_equal(pco_t_pick(NULL), (int) (i % 3));
    }
}

static void
pco_t_ip_hash(void **state)
{
    unsigned  i, used[4] = { 0 }, nused = 0;
    char      ip[32];
    int       a, b, c;

    pco_unused(state);
    pco_t_make("ip_hash", 4, NULL, 0);
    a = pco_t_pick("192.168.7.10");
    assert_true(a >= 0 && a < 4);
    for (i = 0; i < 50; i++) {
        assert_int_equal(pco_t_pick("192.168.7.10"), a);
    }
    /* the same /24 goes to the same server */
    assert_int_equal(pco_t_pick("192.168.7.250"), a);
    assert_int_equal(pco_t_pick("192.168.7.1"), a);
    /* IPv6: the whole address; stable */
    b = pco_t_pick("2001:db8::1");
    assert_int_equal(pco_t_pick("2001:db8::1"), b);
    /* many /24s spread over every server */
    for (i = 0; i < 256; i++) {
        snprintf(ip, sizeof(ip), "10.%u.%u.1", i, (i * 7) % 256);
        c = pco_t_pick(ip);
        assert_true(c >= 0 && c < 4);
        used[c]++;
    }
    for (i = 0; i < 4; i++) {
        nused += used[i] > 0;
    }
    assert_int_equal(nused, 4);
    /* its server down: rehash elsewhere, stably; back up: back to it */
    pco_t_srv[a].down = true;
    c = pco_t_pick("192.168.7.10");
    assert_true(c >= 0 && c != a);
    assert_int_equal(pco_t_pick("192.168.7.10"), c);
    pco_t_srv[a].down = false;
    assert_int_equal(pco_t_pick("192.168.7.10"), a);
    /* every server down: none */
    for (i = 0; i < 4; i++) {
        pco_t_srv[i].down = true;
    }
    assert_int_equal(pco_t_pick("192.168.7.10"), -1);
}

static void
pco_t_hash_ketama(void **state)
{
    static int  before[10000], after[10000], downmap[10000];
    char        key[32];
    unsigned    i, moved = 0, on_removed = 0, count[4] = { 0 };
    uint32_t    fp = 0;

    pco_unused(state);
    pco_t_make("hash", 4, NULL, 0);
    for (i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "/item/%u", i);
        before[i] = pco_t_pick(key);
        assert_true(before[i] >= 0 && before[i] < 4);
        count[before[i]]++;
        assert_int_equal(pco_t_pick(key), before[i]);
    }
    for (i = 0; i < 4; i++) {
        assert_true(count[i] > 1500 && count[i] < 3500);
    }
    for (i = 0; i < 10000; i++) {
        fp = fp * 31 + (uint32_t) before[i];
    }
    /* the ring itself is pinned: these are the picks of the hand-written CRC-32 that zlib's
     * crc32() replaced; a change of hash would move keys between releases */
    assert_int_equal(count[0], 2372);
    assert_int_equal(count[1], 3288);
    assert_int_equal(count[2], 2702);
    assert_int_equal(count[3], 1638);
    assert_int_equal(fp, 2899944380u);
    /* server 3 down: only its keys move */
    pco_t_srv[2].down = true;
    for (i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "/item/%u", i);
        downmap[i] = pco_t_pick(key);
    }
    /* server 3 removed from the configuration: 10.0.0.1, .2, .4 remain */
    pco_t_make("hash", 4, NULL, 0);
    pco_t_srv[2] = pco_t_srv[3];
    pco_t_srv[2].index = 2;
    pco_t_srv[2].shared = &pco_t_sh[2];
    pco_t_u.nservers = pco_t_u.nprimary = 3;
    assert_int_equal(pco_t_u.balancer->init(&pco_t_cf, &pco_t_u), PCO_OK);
    for (i = 0; i < 10000; i++) {
        int  old = before[i] == 3 ? 2 : before[i];   /* the new index of a kept server */

        snprintf(key, sizeof(key), "/item/%u", i);
        after[i] = pco_t_pick(key);
        if (before[i] == 2) {
            on_removed++;
            assert_true(after[i] >= 0 && after[i] <= 2);
            moved++;
            continue;
        }
        /* a key that was on a kept server does not move */
        assert_int_equal(after[i], old);
        /* and "down" maps every key as removal does */
        assert_int_equal(downmap[i] == 3 ? 2 : downmap[i], after[i]);
    }
    assert_int_equal(moved, on_removed);
    assert_int_equal(on_removed, count[2]);
    assert_true(moved > 1500 && moved < 3500);         /* about a quarter */
}

/* Servers whose names differ in one digit (consecutive ports) still share the ring fairly. */
static void
pco_t_hash_similar_names(void **state)
{
    static const unsigned  ports[] = { 9001, 40102, 52340, 61000 };
    char                   key[48];
    unsigned               p, i, k, count[4], count80[4];

    pco_unused(state);
    for (p = 0; p < pco_nelems(ports); p++) {
        pco_t_port = ports[p];
        pco_t_make("hash", 4, NULL, 0);
        memset(count, 0, sizeof(count));
        memset(count80, 0, sizeof(count80));
        for (i = 0; i < 10000; i++) {
            snprintf(key, sizeof(key), "/h4/id?k=%u", i + 1);
            k = (unsigned) pco_t_pick(key);
            count[k]++;
            if (i < 80) {
                count80[k]++;
            }
        }
        for (i = 0; i < 4; i++) {
            assert_true(count[i] > 1500 && count[i] < 3500);
            assert_true(count80[i] > 0);
        }
    }
    pco_t_port = 0;
}

static void
pco_t_hash_errors(void **state)
{
    int64_t  w[] = { 1, 1 };

    pco_unused(state);
    pco_t_make("hash", 2, w, 0);
    pco_t_u.hash_key = NULL;
    pco_t_cf.errors = 0;
    pco_str_set(&pco_t_u.name, "app");
    {
        pco_conf_node_t  node;

        memset(&node, 0, sizeof(node));
        node.src.file = "test.conf";
        node.src.line = 1;
        node.src.path = "upstreams[0]";
        pco_t_u.node = &node;
        assert_int_equal(pco_t_u.balancer->init(&pco_t_cf, &pco_t_u), PCO_ERROR);
        pco_t_u.hash_key = (pco_http_template_t *) &pco_t_u;
        pco_t_u.nprimary = 1;     /* server 2 a backup */
        assert_int_equal(pco_t_u.balancer->init(&pco_t_cf, &pco_t_u), PCO_ERROR);
        pco_t_u.balancer = pco_upstream_balancer_find(&pco_t_cycle, "ip_hash");
        assert_int_equal(pco_t_u.balancer->init(&pco_t_cf, &pco_t_u), PCO_ERROR);
        pco_t_u.node = NULL;
    }
    assert_int_equal(pco_t_cf.errors, 3);
}

static void
pco_t_random_two(void **state)
{
    unsigned  i, count[3] = { 0 };

    pco_unused(state);
    pco_t_make("random_two", 2, NULL, 0);
    pco_t_sh[0].active = 5;
    pco_t_sh[1].active = 1;
    for (i = 0; i < 200; i++) {
        assert_int_equal(pco_t_pick(NULL), 1);
    }
    pco_t_make("random_two", 3, NULL, 0);
    pco_t_sh[0].active = 0;
    pco_t_sh[1].active = 5;
    pco_t_sh[2].active = 10;
    for (i = 0; i < 3000; i++) {
        count[pco_t_pick(NULL)]++;
    }
    assert_int_equal(count[2], 0);           /* the most loaded never wins a pair */
    assert_true(count[0] > count[1]);        /* the least loaded wins 2 pairs of 3 */
    /* only one usable: that one */
    pco_t_srv[0].down = true;
    pco_t_srv[1].down = true;
    assert_int_equal(pco_t_pick(NULL), 2);
    pco_t_srv[2].down = true;
    assert_int_equal(pco_t_pick(NULL), -1);
}

static void
pco_t_get_tried_max_conns(void **state)
{
    pco_upstream_server_t  *s[4];
    unsigned                i;

    pco_unused(state);
    pco_t_make("round_robin", 3, NULL, 0);
    for (i = 0; i < 3; i++) {
        s[i] = pco_upstream_get(&pco_t_u, NULL, pco_t_tried);
        assert_non_null(s[i]);
        assert_int_equal(pco_upstream_active(s[i]), 1);
        assert_int_equal(pco_t_sh[s[i]->index].requests, 1);
    }
    assert_true(s[0] != s[1] && s[1] != s[2] && s[0] != s[2]);
    assert_null(pco_upstream_get(&pco_t_u, NULL, pco_t_tried));   /* every one tried */
    for (i = 0; i < 3; i++) {
        pco_upstream_done(s[i], false);
        assert_int_equal(pco_upstream_active(s[i]), 0);
    }

    /* max_conns = 2 on a single server */
    pco_t_make("round_robin", 1, NULL, 0);
    pco_t_srv[0].max_conns = 2;
    for (i = 0; i < 2; i++) {
        memset(pco_t_tried, 0, sizeof(pco_t_tried));
        s[i] = pco_upstream_get(&pco_t_u, NULL, pco_t_tried);
        assert_ptr_equal(s[i], &pco_t_srv[0]);
    }
    memset(pco_t_tried, 0, sizeof(pco_t_tried));
    assert_false(pco_upstream_usable(&pco_t_srv[0]));
    assert_null(pco_upstream_get(&pco_t_u, NULL, pco_t_tried));
    pco_upstream_done(s[0], false);
    assert_true(pco_upstream_usable(&pco_t_srv[0]));
    assert_ptr_equal(pco_upstream_get(&pco_t_u, NULL, pco_t_tried), &pco_t_srv[0]);

    /* max_conns with two servers: the full one is skipped by every balancer */
    pco_t_make("least_conn", 2, NULL, 0);
    pco_t_srv[0].max_conns = 1;
    pco_t_sh[0].active = 1;
    pco_t_sh[1].active = 7;
    assert_int_equal(pco_t_pick(NULL), 1);
}

static void
pco_t_backups(void **state)
{
    static const char  *const names[] = { "round_robin", "least_conn", "random_two" };
    unsigned                  b, i;
    pco_upstream_server_t    *s;

    pco_unused(state);
    for (b = 0; b < pco_nelems(names); b++) {
        pco_t_make(names[b], 4, NULL, 2);         /* 0, 1 primaries; 2, 3 backups */
        for (i = 0; i < 20; i++) {
            int  k = pco_t_pick(NULL);

            assert_true(k == 0 || k == 1);
        }
        pco_t_srv[0].down = true;
        for (i = 0; i < 20; i++) {
            assert_int_equal(pco_t_pick(NULL), 1);
        }
        pco_t_srv[1].down = true;
        for (i = 0; i < 20; i++) {
            int  k = pco_t_pick(NULL);

            assert_true(k == 2 || k == 3);
        }
        /* tried primaries count as unusable: the next try goes to a backup */
        pco_t_srv[0].down = false;
        pco_t_srv[1].down = false;
        memset(pco_t_tried, 0, sizeof(pco_t_tried));
        s = pco_upstream_get(&pco_t_u, NULL, pco_t_tried);
        assert_true(s != NULL && !s->backup);
        s = pco_upstream_get(&pco_t_u, NULL, pco_t_tried);
        assert_true(s != NULL && !s->backup);
        s = pco_upstream_get(&pco_t_u, NULL, pco_t_tried);
        assert_true(s != NULL && s->backup);
        s = pco_upstream_get(&pco_t_u, NULL, pco_t_tried);
        assert_true(s != NULL && s->backup);
        assert_null(pco_upstream_get(&pco_t_u, NULL, pco_t_tried));
    }
}

/* Positions that appear (past a configured backup), disappear, are drained or re-weighted
 * at run time (pco_upstream_dyn.c sets them; here by hand), then the balancer's update
 * hook: every balancer picks only usable positions, the added one takes picks, round robin
 * restarts exactly from the new weights and hash keeps keys on the server that stays. */
static void
pco_t_dynamic_positions(void **state)
{
    static const char *const  names[] = { "round_robin", "least_conn", "ip_hash", "hash",
                                          "random_two" };
    char                      key[32];
    int                       hits[PCO_T_MAX], before[64], i, k, pick, moved_not = 0;
    unsigned                  b;

    pco_unused(state);
    for (b = 0; b < pco_nelems(names); b++) {
        bool  hashed = strcmp(names[b], "hash") == 0 || strcmp(names[b], "ip_hash") == 0;

        /* 0, 1 configured primaries, 2 a configured backup (not with hash balancers) */
        pco_t_make(names[b], 3, NULL, hashed ? 0 : 1);
        pco_t_u.capacity = 5;                 /* per-position balancer arrays: again */
        assert_int_equal(pco_t_u.balancer->init(&pco_t_cf, &pco_t_u), PCO_OK);
        for (i = 3; i < 5; i++) {
            snprintf(pco_t_names[i], sizeof(pco_t_names[i]), "10.0.0.%d:80", i + 1);
            pco_t_srv[i].name.data = (u_char *) pco_t_names[i];
            pco_t_srv[i].name.len = strlen(pco_t_names[i]);
            pco_t_srv[i].index = (unsigned) i;
            pco_t_srv[i].shared = &pco_t_sh[i];
            pco_t_srv[i].upstream = &pco_t_u;
            pco_t_srv[i].active_counter = -1;
            pco_t_srv[i].weight = 1;
        }
        for (k = 0; k < 64; k++) {
            snprintf(key, sizeof(key), "10.1.%d.7", k);
            before[k] = pco_t_pick(key);
        }
        /* position 3 added (a primary), 4 free, 1 drained, 2 down in the configuration */
        pco_t_srv[4].vacant = true;
        pco_t_srv[2].down = true;
        pco_t_srv[1].admin = PCO_UPSTREAM_ADMIN_DRAIN;
        pco_t_u.npositions = 5;
        if (pco_t_u.balancer->update != NULL) {
            pco_t_u.balancer->update(&pco_t_u);
        }
        memset(hits, 0, sizeof(hits));
        for (k = 0; k < 64; k++) {
            snprintf(key, sizeof(key), "10.1.%d.7", k);
            pick = pco_t_pick(key);
            assert_true(pick == 0 || pick == 3);
            hits[pick]++;
            if (strcmp(names[b], "hash") == 0 && before[k] == 0 && pick != 3) {
                moved_not++;                        /* stayed on its server */
            }
        }
        assert_true(hits[3] > 0);
        if (strcmp(names[b], "hash") == 0) {
            assert_true(moved_not > 0);         /* the ring was not reshuffled */
        }
        /* the added server goes again: only 0 left */
        pco_t_srv[3].vacant = true;
        pco_t_u.npositions = 4;
        if (pco_t_u.balancer->update != NULL) {
            pco_t_u.balancer->update(&pco_t_u);
        }
        for (k = 0; k < 16; k++) {
            snprintf(key, sizeof(key), "10.1.%d.7", k);
            assert_int_equal(pco_t_pick(key), 0);
        }
    }
    /* round robin: weights 3 and 1 after an update give exactly a a b a */
    pco_t_make("round_robin", 2, NULL, 0);
    (void) pco_t_pick(NULL);
    pco_t_srv[0].weight = 3;
    pco_t_u.balancer->update(&pco_t_u);
    assert_int_equal(pco_t_pick(NULL), 0);
    assert_int_equal(pco_t_pick(NULL), 0);
    assert_int_equal(pco_t_pick(NULL), 1);
    assert_int_equal(pco_t_pick(NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_rr_sequence),
        cmocka_unit_test(pco_t_rr_ratios),
        cmocka_unit_test(pco_t_least_conn),
        cmocka_unit_test(pco_t_ip_hash),
        cmocka_unit_test(pco_t_hash_ketama),
        cmocka_unit_test(pco_t_hash_similar_names),
        cmocka_unit_test(pco_t_hash_errors),
        cmocka_unit_test(pco_t_random_two),
        cmocka_unit_test(pco_t_get_tried_max_conns),
        cmocka_unit_test(pco_t_backups),
        cmocka_unit_test(pco_t_dynamic_positions),
    };

    return cmocka_run_group_tests(tests, pco_t_setup_all, pco_t_teardown_all);
}
