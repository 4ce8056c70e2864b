/*
 * test_cache_index.c: the cache zone's shared index (modules/cache/pco_cache_index.c):
 * format and reuse checks, insert / lookup / replace, exact totals through every kind of
 * change, LRU order and touch, eviction when full (the evicted entry reported, locked nodes
 * skipped, the bounded scan), insert_new, refresh, remove, variants, wildcard purges (unsure
 * long keys, continuation), the manager's expiry, fetch locks (busy, renew, take-over after
 * the time or the holder's death, unlock_pid, orphans), the warning pace, and the repair
 * after a process died holding the mutex with the lists half-written. The module is not in
 * default builds: its pure file is compiled into this program then.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "pco_core.h"
#ifdef PCO_HAVE_CACHE
#include "pco_cache_index_int.h"
#else
#include "../../modules/cache/pco_cache_index.c"
#endif

#define PCO_T_HASH  0x5eed1234abcdull

typedef struct {
    void                *mem;
    size_t               size;
    pco_cache_index_t   *idx;
    uint32_t             cap;
} pco_t_ix_t;

/* A shared mapping (children of fork see it) formatted for at least n nodes. */
static pco_t_ix_t
pco_t_ix(size_t n)
{
    pco_t_ix_t               t;
    pco_cache_index_stats_t  st;

    t.size = pco_cache_index_size_for(n);
    t.mem = mmap(NULL, t.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(t.mem != MAP_FAILED);
    t.idx = pco_cache_index_init(t.mem, t.size, PCO_T_HASH);
    assert_non_null(t.idx);
    pco_cache_index_stats(t.idx, &st);
    assert_true(st.capacity >= n);
    t.cap = (uint32_t) st.capacity;
    return t;
}

static void
pco_t_free(pco_t_ix_t *t)
{
    munmap(t->mem, t->size);
}

/* Key i: spread over the bucket bytes and the rest. */
static pco_cache_key_t
pco_t_key(uint32_t i)
{
    pco_cache_key_t  k;
    unsigned         j;

    for (j = 0; j < PCO_CACHE_KEY_LEN; j++) {
        k.md[j] = (u_char) ((i * 2654435761u) >> ((j % 4) * 8)) ^ (u_char) (j * 17);
    }
    return k;
}

static pco_cache_meta_t
pco_t_meta(uint32_t i, unsigned kind, uint64_t file_size, const char *text)
{
    pco_cache_meta_t  m;

    memset(&m, 0, sizeof(m));
    m.key = pco_t_key(i);
    m.main = m.key;
    m.kind = kind;
    m.status = 200;
    m.body_len = file_size > 100 ? file_size - 100 : 0;
    m.file_size = file_size;
    m.response_time = 1000 + i;
    m.lifetime = 60;
    m.stale_while_revalidate = -1;
    m.stale_if_error = -1;
    m.last_access = 100 + i;
    if (text != NULL) {
        m.text_len = (uint32_t) strlen(text);
        memcpy(m.text, text, pco_min(strlen(text), (size_t) PCO_CACHE_TEXT_MAX));
    }
    if (kind == PCO_CACHE_NODE_MARKER) {
        m.vary_len = 15;
        memcpy(m.vary, "accept-encoding", 15);
    }
    return m;
}

static void
pco_t_insert(pco_cache_index_t *idx, const pco_cache_meta_t *m)
{
    pco_cache_meta_t  ev;
    bool              had = true;

    assert_int_equal(pco_cache_index_insert(idx, m, &ev, &had), PCO_OK);
    assert_false(had);
}

static void
pco_t_stats(pco_cache_index_t *idx, uint64_t entries, uint64_t nodes, uint64_t bytes)
{
    pco_cache_index_stats_t  st;

    pco_cache_index_stats(idx, &st);
    assert_int_equal(st.entries, entries);
    assert_int_equal(st.nodes, nodes);
    assert_int_equal(st.bytes, bytes);
}

static bool
pco_t_has(pco_cache_index_t *idx, uint32_t i, pco_cache_meta_t *m)
{
    pco_cache_key_t  k = pco_t_key(i);

    return pco_cache_index_lookup(idx, &k, 0, false, m);
}

/* The lists agree with each other and with the totals; returns the LRU list length. */
static uint32_t
pco_t_check_lists(pco_cache_index_t *idx)
{
    pco_cache_node_t  *nd = pco_cache_index_nodes(idx);
    uint32_t           cur, prev = 0, n = 0, nfree = 0;

    for (cur = idx->head; cur != 0; cur = nd[cur - 1].next) {
        assert_true(cur <= idx->nnodes && n < idx->nnodes);
        assert_true(nd[cur - 1].used);
        assert_int_equal(nd[cur - 1].prev, prev);
        prev = cur;
        n++;
    }
    assert_int_equal(idx->tail, prev);
    for (cur = idx->free; cur != 0; cur = nd[cur - 1].chain) {
        assert_true(cur <= idx->nnodes && nfree < idx->nnodes);
        assert_false(nd[cur - 1].used);
        nfree++;
    }
    assert_int_equal(n + nfree, idx->nnodes);
    assert_int_equal(idx->nodes, n);
    return n;
}

/* ---- format ---- */

static void
pco_t_init_attach(void **state)
{
    pco_t_ix_t               t = pco_t_ix(100);
    pco_cache_meta_t         m = pco_t_meta(1, PCO_CACHE_NODE_ENTRY, 500, "k1"), got;
    pco_cache_index_stats_t  st;
    size_t                   n;
    u_char                  *raw;

    (void) state;
    /* every requested count fits in the size asked for */
    for (n = 1; n < 3000; n += 37) {
        raw = calloc(1, pco_cache_index_size_for(n));
        assert_non_null(raw);
        assert_non_null(pco_cache_index_init(raw, pco_cache_index_size_for(n), 1));
        pco_cache_index_stats((pco_cache_index_t *) raw, &st);
        assert_true(st.capacity >= pco_max(n, (size_t) 16));
        assert_int_equal(st.nodes, 0);
        assert_false(st.loaded);
        free(raw);
    }
    raw = calloc(1, pco_cache_index_size_for(16));
    assert_null(pco_cache_index_init(raw, pco_cache_index_size_for(16) - 1, 1));
    assert_null(pco_cache_index_attach(raw, pco_cache_index_size_for(16), 1));  /* zeroes */
    free(raw);

    pco_t_insert(t.idx, &m);
    pco_cache_index_set_loaded(t.idx, true);
    /* reuse: same size and path, data intact */
    assert_ptr_equal(pco_cache_index_attach(t.mem, t.size, PCO_T_HASH), t.idx);
    assert_true(pco_t_has(t.idx, 1, &got));
    assert_int_equal(got.file_size, 500);
    pco_cache_index_stats(t.idx, &st);
    assert_true(st.loaded);
    assert_int_equal(st.entries, 1);
    /* another path, another size, another layout version: not reused */
    assert_null(pco_cache_index_attach(t.mem, t.size, PCO_T_HASH + 1));
    assert_null(pco_cache_index_attach(t.mem, t.size - 64, PCO_T_HASH));
    assert_null(pco_cache_index_attach(NULL, t.size, PCO_T_HASH));
    t.idx->version++;
    assert_null(pco_cache_index_attach(t.mem, t.size, PCO_T_HASH));
    t.idx->version--;
    t.idx->magic = 0;
    assert_null(pco_cache_index_attach(t.mem, t.size, PCO_T_HASH));
    pco_t_free(&t);
}

/* ---- entries ---- */

static void
pco_t_insert_lookup(void **state)
{
    pco_t_ix_t        t = pco_t_ix(64);
    pco_cache_meta_t  m = pco_t_meta(7, PCO_CACHE_NODE_ENTRY, 1234, "http://a/x"), got;
    pco_cache_key_t   k = pco_t_key(7), other = pco_t_key(8);

    (void) state;
    assert_false(pco_cache_index_lookup(t.idx, &k, 0, false, &got));
    m.status = 301;
    m.initial_age = 5;
    m.no_stale = true;
    pco_t_insert(t.idx, &m);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &got));
    assert_memory_equal(got.key.md, k.md, PCO_CACHE_KEY_LEN);
    assert_memory_equal(got.main.md, k.md, PCO_CACHE_KEY_LEN);
    assert_int_equal(got.kind, PCO_CACHE_NODE_ENTRY);
    assert_int_equal(got.status, 301);
    assert_int_equal(got.file_size, 1234);
    assert_int_equal(got.body_len, 1134);
    assert_int_equal(got.response_time, 1007);
    assert_int_equal(got.initial_age, 5);
    assert_int_equal(got.stale_if_error, -1);
    assert_true(got.no_stale);
    assert_int_equal(got.last_access, 107);
    assert_int_equal(got.text_len, 10);
    assert_memory_equal(got.text, "http://a/x", 10);
    assert_int_equal(got.lock_pid, 0);
    assert_false(pco_cache_index_lookup(t.idx, &other, 0, false, &got));
    pco_t_stats(t.idx, 1, 1, 1234);

    /* replace: the same node, new facts */
    m = pco_t_meta(7, PCO_CACHE_NODE_ENTRY, 99, "http://a/x");
    m.status = 404;
    pco_t_insert(t.idx, &m);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &got));
    assert_int_equal(got.status, 404);
    assert_int_equal(got.file_size, 99);
    pco_t_stats(t.idx, 1, 1, 99);
    /* an entry becomes a marker: no longer an entry, no bytes */
    m = pco_t_meta(7, PCO_CACHE_NODE_MARKER, 0, "http://a/x");
    pco_t_insert(t.idx, &m);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &got));
    assert_int_equal(got.kind, PCO_CACHE_NODE_MARKER);
    assert_int_equal(got.vary_len, 15);
    assert_memory_equal(got.vary, "accept-encoding", 15);
    pco_t_stats(t.idx, 0, 1, 0);
    /* kind 0 is not something to insert */
    m.kind = 0;
    assert_int_equal(pco_cache_index_insert(t.idx, &m, NULL, NULL), PCO_ERROR);
    pco_t_stats(t.idx, 0, 1, 0);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

/* A model of 40 keys under random inserts, replaces, removes and expiries: the totals
 * match the model after every step (no eviction: the index has room). */
static void
pco_t_stats_exact(void **state)
{
    pco_t_ix_t        t = pco_t_ix(64);
    unsigned          kind[40] = { 0 };
    uint64_t          size[40] = { 0 };
    uint64_t          entries, nodes, bytes;
    pco_cache_meta_t  m, out[64];
    pco_cache_key_t   k;
    uint32_t          seed = 12345, i, op, step;
    size_t            n, j;

    (void) state;
    for (step = 0; step < 3000; step++) {
        seed = seed * 1103515245u + 12345u;
        i = (seed >> 8) % 40;
        op = (seed >> 20) % 10;
        k = pco_t_key(i);
        if (op < 6) {
            m = pco_t_meta(i, op < 5 ? PCO_CACHE_NODE_ENTRY : PCO_CACHE_NODE_MARKER,
                           (seed >> 4) % 5000, "x");
            m.last_access = step;
            pco_t_insert(t.idx, &m);
            kind[i] = m.kind;
            size[i] = m.kind == PCO_CACHE_NODE_ENTRY ? m.file_size : 0;
        } else if (op < 9) {
            assert_int_equal(pco_cache_index_remove(t.idx, &k, &m), kind[i] != 0);
            if (kind[i] != 0) {
                assert_int_equal(m.kind, kind[i]);
            }
            kind[i] = 0;
            size[i] = 0;
        } else {
            /* the least recently used ones, accessed more than 30 steps ago */
            n = pco_cache_index_expire(t.idx, step, 30, 0, out, 64);
            for (j = 0; j < n; j++) {
                for (i = 0; i < 40; i++) {
                    k = pco_t_key(i);
                    if (memcmp(k.md, out[j].key.md, PCO_CACHE_KEY_LEN) == 0) {
                        assert_true(out[j].last_access <= (int64_t) step - 30);
                        kind[i] = 0;
                        size[i] = 0;
                    }
                }
            }
        }
        entries = nodes = bytes = 0;
        for (i = 0; i < 40; i++) {
            entries += kind[i] == PCO_CACHE_NODE_ENTRY;
            nodes += kind[i] != 0;
            bytes += size[i];
        }
        pco_t_stats(t.idx, entries, nodes, bytes);
    }
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

static void
pco_t_lru_evict(void **state)
{
    pco_t_ix_t               t = pco_t_ix(16);
    pco_cache_meta_t         m, ev, got;
    pco_cache_index_stats_t  st;
    pco_cache_key_t          k;
    bool                     had;
    uint32_t                 i;

    (void) state;
    for (i = 0; i < t.cap; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 10 + i, NULL);
        pco_t_insert(t.idx, &m);
    }
    pco_t_stats(t.idx, t.cap, t.cap, (uint64_t) t.cap * 10 + (uint64_t) t.cap * (t.cap - 1) / 2);
    /* 0 is the least recent: a touch makes it the most recent and stamps it */
    k = pco_t_key(0);
    assert_true(pco_cache_index_lookup(t.idx, &k, 5000, true, &got));
    assert_int_equal(got.last_access, 5000);
    /* without touch 1 stays the least recent */
    k = pco_t_key(1);
    assert_true(pco_cache_index_lookup(t.idx, &k, 6000, false, &got));
    assert_int_equal(got.last_access, 101);

    m = pco_t_meta(1000, PCO_CACHE_NODE_ENTRY, 7, NULL);
    had = false;
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &ev, &had), PCO_OK);
    assert_true(had);
    assert_memory_equal(ev.key.md, pco_t_key(1).md, PCO_CACHE_KEY_LEN);
    assert_int_equal(ev.file_size, 11);
    assert_false(pco_t_has(t.idx, 1, NULL));
    assert_true(pco_t_has(t.idx, 0, NULL));
    /* next: 2, then 3 (0 was touched) */
    m = pco_t_meta(1001, PCO_CACHE_NODE_ENTRY, 7, NULL);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &ev, &had), PCO_OK);
    assert_true(had);
    assert_memory_equal(ev.key.md, pco_t_key(2).md, PCO_CACHE_KEY_LEN);
    pco_cache_index_stats(t.idx, &st);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.entries, t.cap);
    assert_int_equal(st.bytes, (uint64_t) t.cap * 10 + (uint64_t) t.cap * (t.cap - 1) / 2
                               - 11 - 12 + 7 + 7);

    /* a marker at the tail is recycled without a report, but counted */
    m = pco_t_meta(3, PCO_CACHE_NODE_MARKER, 0, NULL);
    pco_t_insert(t.idx, &m);                     /* replace: 3 becomes the most recent */
    for (i = 4; i < t.cap; i++) {
        k = pco_t_key(i);
        assert_true(pco_cache_index_lookup(t.idx, &k, 0, true, NULL));
    }
    k = pco_t_key(0);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, true, NULL));
    k = pco_t_key(1000);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, true, NULL));
    k = pco_t_key(1001);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, true, NULL));
    m = pco_t_meta(1002, PCO_CACHE_NODE_ENTRY, 7, NULL);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &ev, &had), PCO_OK);
    assert_false(had);
    assert_false(pco_t_has(t.idx, 3, NULL));
    pco_cache_index_stats(t.idx, &st);
    assert_int_equal(st.evictions, 3);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

/* Locked nodes are never recycled; the scan gives up after 64 of them. */
static void
pco_t_evict_locked(void **state)
{
    pco_t_ix_t               t = pco_t_ix(100);
    pco_cache_meta_t         m, ev;
    pco_cache_index_stats_t  st;
    pco_cache_key_t          k;
    int32_t                  me = (int32_t) getpid();
    bool                     had;
    uint32_t                 i;

    (void) state;
    for (i = 0; i < t.cap; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 1, NULL);
        pco_t_insert(t.idx, &m);
    }
    for (i = 0; i < 3; i++) {
        k = pco_t_key(i);
        assert_int_equal(pco_cache_index_lock(t.idx, &k, me, 0, 100000, NULL), PCO_OK);
    }
    m = pco_t_meta(5000, PCO_CACHE_NODE_ENTRY, 1, NULL);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &ev, &had), PCO_OK);
    assert_true(had);
    assert_memory_equal(ev.key.md, pco_t_key(3).md, PCO_CACHE_KEY_LEN);
    for (i = 0; i < 3; i++) {
        assert_true(pco_t_has(t.idx, i, NULL));
    }
    /* the 64 least recent locked: full as far as the scan goes */
    for (i = 4; i < 65; i++) {
        k = pco_t_key(i);
        assert_int_equal(pco_cache_index_lock(t.idx, &k, me, 0, 100000, NULL), PCO_OK);
    }
    m = pco_t_meta(5001, PCO_CACHE_NODE_ENTRY, 1, NULL);
    had = true;
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &ev, &had), PCO_ERROR);
    assert_false(had);
    assert_false(pco_t_has(t.idx, 5001, NULL));
    pco_cache_index_stats(t.idx, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.nodes, t.cap);
    /* one unlocked within reach: it goes */
    k = pco_t_key(40);
    pco_cache_index_unlock(t.idx, &k, me);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &ev, &had), PCO_OK);
    assert_true(had);
    assert_memory_equal(ev.key.md, k.md, PCO_CACHE_KEY_LEN);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

static void
pco_t_insert_new_refresh(void **state)
{
    pco_t_ix_t        t = pco_t_ix(16);
    pco_cache_meta_t  m = pco_t_meta(1, PCO_CACHE_NODE_ENTRY, 300, NULL), got;
    pco_cache_key_t   k = pco_t_key(1), k2 = pco_t_key(2);

    (void) state;
    assert_int_equal(pco_cache_index_insert_new(t.idx, &m, NULL, NULL), PCO_OK);
    m.file_size = 999;
    assert_int_equal(pco_cache_index_insert_new(t.idx, &m, NULL, NULL), PCO_DECLINED);
    assert_true(pco_t_has(t.idx, 1, &got));
    assert_int_equal(got.file_size, 300);
    pco_t_stats(t.idx, 1, 1, 300);
    /* a key being fetched has no entry yet: the loader's goes in, the lock stays */
    assert_int_equal(pco_cache_index_lock(t.idx, &k2, 77, 0, 1000, NULL), PCO_OK);
    m = pco_t_meta(2, PCO_CACHE_NODE_ENTRY, 50, NULL);
    assert_int_equal(pco_cache_index_insert_new(t.idx, &m, NULL, NULL), PCO_OK);
    assert_true(pco_t_has(t.idx, 2, &got));
    assert_int_equal(got.kind, PCO_CACHE_NODE_ENTRY);
    assert_int_equal(got.lock_pid, 77);
    assert_int_equal(got.lock_until, 1000);
    pco_t_stats(t.idx, 2, 2, 350);

    /* refresh: the freshness facts only */
    m = pco_t_meta(1, PCO_CACHE_NODE_ENTRY, 1, NULL);
    m.response_time = 9000;
    m.lifetime = 3600;
    m.initial_age = 12;
    m.stale_while_revalidate = 30;
    m.stale_if_error = 40;
    m.no_stale = true;
    m.status = 500;
    assert_true(pco_cache_index_refresh(t.idx, &m));
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &got));
    assert_int_equal(got.response_time, 9000);
    assert_int_equal(got.lifetime, 3600);
    assert_int_equal(got.initial_age, 12);
    assert_int_equal(got.stale_while_revalidate, 30);
    assert_int_equal(got.stale_if_error, 40);
    assert_true(got.no_stale);
    assert_int_equal(got.status, 200);
    assert_int_equal(got.file_size, 300);
    pco_t_stats(t.idx, 2, 2, 350);
    /* no longer an entry: absent, a marker, a lock only */
    m = pco_t_meta(3, PCO_CACHE_NODE_ENTRY, 1, NULL);
    assert_false(pco_cache_index_refresh(t.idx, &m));
    m = pco_t_meta(3, PCO_CACHE_NODE_MARKER, 0, NULL);
    pco_t_insert(t.idx, &m);
    assert_false(pco_cache_index_refresh(t.idx, &m));
    k = pco_t_key(4);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, 77, 0, 1000, NULL), PCO_OK);
    m = pco_t_meta(4, PCO_CACHE_NODE_ENTRY, 1, NULL);
    assert_false(pco_cache_index_refresh(t.idx, &m));
    pco_t_free(&t);
}

static void
pco_t_remove(void **state)
{
    pco_t_ix_t        t = pco_t_ix(16);
    pco_cache_meta_t  m = pco_t_meta(1, PCO_CACHE_NODE_ENTRY, 300, NULL), got;
    pco_cache_key_t   k = pco_t_key(1);

    (void) state;
    assert_false(pco_cache_index_remove(t.idx, &k, &got));
    pco_t_insert(t.idx, &m);
    assert_true(pco_cache_index_remove(t.idx, &k, &got));
    assert_int_equal(got.file_size, 300);
    assert_false(pco_t_has(t.idx, 1, NULL));
    pco_t_stats(t.idx, 0, 0, 0);
    /* a locked entry leaves its lock behind */
    pco_t_insert(t.idx, &m);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, 55, 10, 1000, NULL), PCO_OK);
    assert_true(pco_cache_index_remove(t.idx, &k, &got));
    assert_int_equal(got.kind, PCO_CACHE_NODE_ENTRY);
    assert_true(pco_t_has(t.idx, 1, &got));
    assert_int_equal(got.kind, 0);
    assert_int_equal(got.lock_pid, 55);
    assert_int_equal(got.lock_until, 1010);
    assert_int_equal(got.file_size, 0);
    pco_t_stats(t.idx, 0, 1, 0);
    assert_false(pco_cache_index_remove(t.idx, &k, &got));    /* a lock is not an entry */
    pco_cache_index_unlock(t.idx, &k, 55);
    assert_false(pco_t_has(t.idx, 1, NULL));
    pco_t_stats(t.idx, 0, 0, 0);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

static void
pco_t_variants(void **state)
{
    pco_t_ix_t        t = pco_t_ix(32);
    pco_cache_meta_t  m, out[4];
    pco_cache_key_t   main = pco_t_key(1);
    uint32_t          i;
    size_t            n, total = 0;
    bool              seen[8] = { false };

    (void) state;
    m = pco_t_meta(1, PCO_CACHE_NODE_MARKER, 0, NULL);
    pco_t_insert(t.idx, &m);
    for (i = 10; i < 15; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 100, NULL);
        m.main = main;
        pco_t_insert(t.idx, &m);
    }
    m = pco_t_meta(15, PCO_CACHE_NODE_ENTRY, 100, NULL);  /* another key's own entry */
    pco_t_insert(t.idx, &m);
    m = pco_t_meta(16, PCO_CACHE_NODE_ENTRY, 100, NULL);  /* a variant being refetched */
    m.main = main;
    pco_t_insert(t.idx, &m);
    assert_int_equal(pco_cache_index_lock(t.idx, &m.key, 9, 0, 1000, NULL), PCO_OK);
    pco_t_stats(t.idx, 7, 8, 700);
    do {
        n = pco_cache_index_remove_variants(t.idx, &main, out, 2);
        assert_true(n <= 2);
        for (i = 0; i < n; i++) {
            assert_memory_equal(out[i].main.md, main.md, PCO_CACHE_KEY_LEN);
            assert_int_equal(out[i].kind, PCO_CACHE_NODE_ENTRY);
            assert_int_equal(out[i].file_size, 100);
            seen[out[i].response_time - 1010] = true;
        }
        total += n;
    } while (n == 2);
    assert_int_equal(total, 6);
    for (i = 0; i < 7; i++) {
        assert_int_equal(seen[i], i != 5);      /* keys 10..14 and 16 */
    }
    /* the marker and the other entry stay; the locked variant is a lock only */
    assert_true(pco_t_has(t.idx, 1, &m));
    assert_int_equal(m.kind, PCO_CACHE_NODE_MARKER);
    assert_true(pco_t_has(t.idx, 15, NULL));
    assert_true(pco_t_has(t.idx, 16, &m));
    assert_int_equal(m.kind, 0);
    assert_int_equal(m.lock_pid, 9);
    pco_t_stats(t.idx, 1, 3, 100);
    assert_int_equal(pco_cache_index_remove_variants(t.idx, &main, out, 4), 0);
    /* a key's own entry (no Vary) is not a variant of itself */
    main = pco_t_key(15);
    assert_int_equal(pco_cache_index_remove_variants(t.idx, &main, out, 4), 0);
    assert_true(pco_t_has(t.idx, 15, NULL));
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

/* Key text i of the long family: 150 bytes, the prefix at 0..95 decided by i's parity. */
static void
pco_t_long_text(char *buf, uint32_t i)
{
    memset(buf, 'z', 150);
    memcpy(buf, "http://a/long/", 14);
    if (i % 2) {
        buf[90] = 'q';              /* differs within the stored start */
    }
    buf[120] = (char) ('0' + i % 10);
    buf[150] = '\0';
}

static void
pco_t_purge_prefix(void **state)
{
    pco_t_ix_t        t = pco_t_ix(64);
    pco_cache_meta_t  m, out[64], unsure[4];
    uint32_t          cursor = 0, last;
    size_t            n, nu, total = 0, utotal = 0;
    char              text[160], prefix[160];
    uint32_t          i;
    int               calls = 0;

    (void) state;
    for (i = 0; i < 10; i++) {
        snprintf(text, sizeof(text), "http://a/x%u", i);
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 10, text);
        pco_t_insert(t.idx, &m);
    }
    m = pco_t_meta(20, PCO_CACHE_NODE_MARKER, 0, "http://a/m");
    pco_t_insert(t.idx, &m);
    m = pco_t_meta(21, PCO_CACHE_NODE_ENTRY, 10, "http://b/x1");
    pco_t_insert(t.idx, &m);
    m = pco_t_meta(22, PCO_CACHE_NODE_ENTRY, 10, "http://a/");   /* equal to the prefix */
    pco_t_insert(t.idx, &m);
    m = pco_t_meta(23, PCO_CACHE_NODE_ENTRY, 10, "http://a");    /* shorter than it */
    pco_t_insert(t.idx, &m);
    assert_int_equal(pco_cache_index_lock(t.idx, &m.key, 5, 0, 1000, NULL), PCO_OK);
    for (i = 30; i < 34; i++) {
        pco_t_long_text(text, i);
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 10, text);
        pco_t_insert(t.idx, &m);
    }
    /* a lock-only node never matches */
    m = pco_t_meta(40, 0, 0, NULL);
    assert_int_equal(pco_cache_index_lock(t.idx, &m.key, 5, 0, 1000, NULL), PCO_OK);

    /* "http://a/x*": 10 entries, 3 per call, the cursor carries the walk on */
    do {
        last = cursor;
        n = pco_cache_index_purge_prefix(t.idx, (const u_char *) "http://a/x", 10, &cursor,
                                         out, 3, unsure, 4, &nu);
        assert_true(n <= 3);
        assert_int_equal(nu, 0);
        assert_true(cursor > last);
        for (i = 0; i < n; i++) {
            assert_memory_equal(out[i].text, "http://a/x", 10);
        }
        total += n;
        assert_true(++calls < 20);
    } while (cursor < t.cap);
    assert_int_equal(cursor, t.cap);
    assert_int_equal(total, 10);
    for (i = 0; i < 10; i++) {
        assert_false(pco_t_has(t.idx, i, NULL));
    }
    pco_t_stats(t.idx, 7, 9, 70);

    /* a prefix longer than the stored text: the long keys whose start matches are unsure,
     * one at a time with max_unsure 1 */
    pco_t_long_text(prefix, 0);
    prefix[125] = '\0';                 /* 125 bytes: beyond the 96 stored */
    cursor = 0;
    calls = 0;
    do {
        n = pco_cache_index_purge_prefix(t.idx, (const u_char *) prefix, 125, &cursor, out,
                                         8, unsure, 1, &nu);
        assert_int_equal(n, 0);
        for (i = 0; i < nu; i++) {
            assert_int_equal(unsure[i].text_len, 150);
            assert_int_equal(unsure[i].response_time % 2, 0);     /* keys 30 and 32 */
        }
        utotal += nu;
        assert_true(++calls < 10);
    } while (cursor < t.cap);
    assert_int_equal(utotal, 2);
    assert_true(pco_t_has(t.idx, 30, NULL));   /* unsure ones are left to the caller */
    cursor = 0;
    assert_int_equal(pco_cache_index_purge_prefix(t.idx, (const u_char *) prefix, 125, &cursor,
                                                  out, 8, unsure, 0, &nu), 0);
    assert_int_equal(nu, 0);
    assert_int_equal(cursor, t.cap);

    /* prefix "http://a/": the marker, the exact one, the long ones (decided by the stored start);
     * the locked shorter key and the other host stay */
    cursor = 0;
    n = pco_cache_index_purge_prefix(t.idx, (const u_char *) "http://a/", 9, &cursor, out, 64,
                                     unsure, 4, &nu);
    assert_int_equal(n, 6);
    assert_int_equal(nu, 0);
    assert_false(pco_t_has(t.idx, 20, NULL));
    assert_false(pco_t_has(t.idx, 22, NULL));
    assert_false(pco_t_has(t.idx, 31, NULL));
    assert_true(pco_t_has(t.idx, 21, NULL));
    assert_true(pco_t_has(t.idx, 23, NULL));
    assert_true(pco_t_has(t.idx, 40, &m));
    assert_int_equal(m.kind, 0);
    pco_t_stats(t.idx, 2, 3, 20);
    /* empty prefix: everything (the lock stays) */
    cursor = 0;
    m = pco_t_meta(23, 0, 0, NULL);
    pco_cache_index_unlock(t.idx, &m.key, 5);
    n = pco_cache_index_purge_prefix(t.idx, (const u_char *) "", 0, &cursor, out, 64, unsure,
                                     4, &nu);
    assert_int_equal(n, 2);
    pco_t_stats(t.idx, 0, 1, 0);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

/* ---- the manager's expiry ---- */

static void
pco_t_expire(void **state)
{
    pco_t_ix_t        t = pco_t_ix(32);
    pco_cache_meta_t  m, out[32];
    pco_cache_key_t   k;
    uint32_t          i;
    size_t            n;

    (void) state;
    /* 0..9 inserted in order, last accessed at 100 + i */
    for (i = 0; i < 10; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 100, NULL);
        pco_t_insert(t.idx, &m);
    }
    k = pco_t_key(2);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, (int32_t) getpid(), 0, 1000, NULL),
                     PCO_OK);
    /* nothing inactive, no size limit */
    assert_int_equal(pco_cache_index_expire(t.idx, 150, 100, 0, out, 32), 0);
    assert_int_equal(pco_cache_index_expire(t.idx, 150, 0, 0, out, 32), 0);
    /* accessed at or before 205 - 100 = 105: 0..5 without the locked 2; max 3 per call */
    n = pco_cache_index_expire(t.idx, 205, 100, 0, out, 3);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].last_access, 100);
    assert_int_equal(out[1].last_access, 101);
    assert_int_equal(out[2].last_access, 103);
    n = pco_cache_index_expire(t.idx, 205, 100, 0, out, 32);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].last_access, 104);
    assert_int_equal(out[1].last_access, 105);
    assert_true(pco_t_has(t.idx, 2, NULL));
    pco_t_stats(t.idx, 5, 5, 500);

    /* over max_bytes: least recent first until at or under it (2 is locked, skipped) */
    for (i = 10; i < 15; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 100, NULL);
        pco_t_insert(t.idx, &m);
    }
    /* a marker at the tail: no bytes, skipped while only the size is over */
    m = pco_t_meta(50, PCO_CACHE_NODE_MARKER, 0, NULL);
    m.last_access = 300;
    pco_t_insert(t.idx, &m);
    for (i = 6; i < 15; i++) {
        k = pco_t_key(i);
        assert_true(pco_cache_index_lookup(t.idx, &k, 300 + i, true, NULL));
    }
    pco_t_stats(t.idx, 10, 11, 1000);
    n = pco_cache_index_expire(t.idx, 400, 0, 650, out, 32);
    assert_int_equal(n, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(out[i].last_access, 306 + i);
        assert_int_equal(out[i].kind, PCO_CACHE_NODE_ENTRY);
    }
    pco_t_stats(t.idx, 6, 7, 600);
    assert_true(pco_t_has(t.idx, 2, NULL));
    assert_true(pco_t_has(t.idx, 50, NULL));
    /* an inactive marker goes, reported as a marker */
    n = pco_cache_index_expire(t.idx, 400, 100, 0, out, 32);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, PCO_CACHE_NODE_MARKER);
    pco_t_stats(t.idx, 6, 6, 600);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

/* ---- fetch locks ---- */

/* A pid that no longer exists: a child that has exited and been reaped. */
static int32_t
pco_t_dead_pid(void)
{
    pid_t  pid = fork();
    int    status;

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return (int32_t) pid;
}

static void
pco_t_lock(void **state)
{
    pco_t_ix_t        t = pco_t_ix(16);
    pco_cache_key_t   k = pco_t_key(1), k2 = pco_t_key(2), k3 = pco_t_key(3);
    pco_cache_meta_t  m;
    int32_t           me = (int32_t) getpid(), other = me + 1, dead = pco_t_dead_pid();
    int64_t           until = 0;

    (void) state;
    /* an absent key gets a lock-only node */
    assert_int_equal(pco_cache_index_lock(t.idx, &k, me, 1000, 5000, &until), PCO_OK);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &m));
    assert_int_equal(m.kind, 0);
    assert_int_equal(m.lock_pid, me);
    assert_int_equal(m.lock_until, 6000);
    pco_t_stats(t.idx, 0, 1, 0);
    /* another process while the holder lives and the time runs: busy */
    assert_int_equal(pco_cache_index_lock(t.idx, &k, other, 5999, 5000, &until), PCO_BUSY);
    assert_int_equal(until, 6000);
    /* the holder renews */
    assert_int_equal(pco_cache_index_lock(t.idx, &k, me, 2000, 5000, &until), PCO_OK);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, other, 6500, 5000, &until), PCO_BUSY);
    assert_int_equal(until, 7000);
    /* the time is over: taken over */
    assert_int_equal(pco_cache_index_lock(t.idx, &k, other, 7000, 5000, &until), PCO_OK);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &m));
    assert_int_equal(m.lock_pid, other);
    assert_int_equal(m.lock_until, 12000);
    /* unlock by someone else: nothing; by the holder: the lock-only node goes */
    pco_cache_index_unlock(t.idx, &k, me);
    assert_true(pco_cache_index_lookup(t.idx, &k, 0, false, &m));
    pco_cache_index_unlock(t.idx, &k, other);
    assert_false(pco_cache_index_lookup(t.idx, &k, 0, false, &m));
    pco_t_stats(t.idx, 0, 0, 0);

    /* a dead holder's lock is taken over before its time */
    assert_int_equal(pco_cache_index_lock(t.idx, &k2, dead, 0, 1000000, NULL), PCO_OK);
    assert_int_equal(pco_cache_index_lock(t.idx, &k2, me, 10, 5000, &until), PCO_OK);
    assert_true(pco_cache_index_lookup(t.idx, &k2, 0, false, &m));
    assert_int_equal(m.lock_pid, me);
    assert_int_equal(m.lock_until, 5010);

    /* a lock on an entry: the entry survives the unlock, and replacing keeps the lock */
    m = pco_t_meta(3, PCO_CACHE_NODE_ENTRY, 40, NULL);
    pco_t_insert(t.idx, &m);
    assert_int_equal(pco_cache_index_lock(t.idx, &k3, me, 0, 100, NULL), PCO_OK);
    m.file_size = 41;
    pco_t_insert(t.idx, &m);
    assert_true(pco_cache_index_lookup(t.idx, &k3, 0, false, &m));
    assert_int_equal(m.lock_pid, me);
    assert_int_equal(m.lock_until, 100);
    assert_int_equal(m.file_size, 41);
    pco_cache_index_unlock(t.idx, &k3, me);
    assert_true(pco_cache_index_lookup(t.idx, &k3, 0, false, &m));
    assert_int_equal(m.lock_pid, 0);
    assert_int_equal(m.kind, PCO_CACHE_NODE_ENTRY);
    pco_t_stats(t.idx, 1, 2, 41);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

static void
pco_t_unlock_pid(void **state)
{
    pco_t_ix_t        t = pco_t_ix(16);
    pco_cache_meta_t  m;
    pco_cache_key_t   k;
    uint32_t          i;

    (void) state;
    m = pco_t_meta(3, PCO_CACHE_NODE_ENTRY, 40, NULL);
    pco_t_insert(t.idx, &m);
    for (i = 1; i <= 4; i++) {
        k = pco_t_key(i);
        assert_int_equal(pco_cache_index_lock(t.idx, &k, i == 4 ? 222 : 111, 0, 1000, NULL),
                         PCO_OK);
    }
    pco_t_stats(t.idx, 1, 4, 40);
    pco_cache_index_unlock_pid(t.idx, 111);
    assert_false(pco_t_has(t.idx, 1, NULL));
    assert_false(pco_t_has(t.idx, 2, NULL));
    assert_true(pco_t_has(t.idx, 3, &m));
    assert_int_equal(m.lock_pid, 0);
    assert_true(pco_t_has(t.idx, 4, &m));
    assert_int_equal(m.lock_pid, 222);
    pco_t_stats(t.idx, 1, 2, 40);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

/* A lock needing a node in a full index evicts; the evicted entry's key waits in the
 * orphans for the manager. Every node locked: no lock. */
static void
pco_t_lock_full(void **state)
{
    pco_t_ix_t        t = pco_t_ix(16);
    pco_cache_meta_t  m;
    pco_cache_key_t   k, out[4];
    uint32_t          i;

    (void) state;
    for (i = 0; i < t.cap; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 10, NULL);
        pco_t_insert(t.idx, &m);
    }
    assert_int_equal(pco_cache_index_orphans(t.idx, out, 4), 0);
    k = pco_t_key(500);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, 1, 0, 1000, NULL), PCO_OK);
    k = pco_t_key(501);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, 1, 0, 1000, NULL), PCO_OK);
    pco_t_stats(t.idx, t.cap - 2, t.cap, (uint64_t) (t.cap - 2) * 10);
    /* 1 was stored again since its eviction: its file is the new entry's */
    m = pco_t_meta(1, PCO_CACHE_NODE_ENTRY, 10, NULL);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &m, &(bool) { false }), PCO_OK);
    assert_int_equal(pco_cache_index_orphans(t.idx, out, 4), 1);
    assert_memory_equal(out[0].md, pco_t_key(0).md, PCO_CACHE_KEY_LEN);
    assert_int_equal(pco_cache_index_orphans(t.idx, out, 4), 0);
    /* every node locked */
    for (i = 0; i < t.cap + 5; i++) {
        k = pco_t_key(i);
        (void) pco_cache_index_lock(t.idx, &k, 1, 0, 1000, NULL);
    }
    k = pco_t_key(900);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, 1, 0, 1000, NULL), PCO_ERROR);
    pco_t_check_lists(t.idx);
    pco_t_free(&t);
}

static void
pco_t_warn_due(void **state)
{
    pco_t_ix_t        t = pco_t_ix(16);
    pco_cache_meta_t  m;
    uint32_t          i;

    (void) state;
    for (i = 0; i < t.cap; i++) {
        m = pco_t_meta(i, PCO_CACHE_NODE_ENTRY, 10, NULL);
        pco_t_insert(t.idx, &m);
    }
    assert_false(pco_cache_index_warn_due(t.idx, 1000));     /* full, nothing evicted */
    m = pco_t_meta(100, PCO_CACHE_NODE_ENTRY, 10, NULL);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &m, &(bool) { false }), PCO_OK);
    assert_true(pco_cache_index_warn_due(t.idx, 1000));
    assert_false(pco_cache_index_warn_due(t.idx, 1001));
    m = pco_t_meta(101, PCO_CACHE_NODE_ENTRY, 10, NULL);
    assert_int_equal(pco_cache_index_insert(t.idx, &m, &m, &(bool) { false }), PCO_OK);
    assert_false(pco_cache_index_warn_due(t.idx, 60999));    /* within the minute */
    assert_true(pco_cache_index_warn_due(t.idx, 61000));
    assert_false(pco_cache_index_warn_due(t.idx, 200000));   /* nothing new */
    pco_t_free(&t);
}

/* ---- repair ---- */

/* Runs fn in a child that ends (without unlocking) while it holds the index's mutex. */
static void
pco_t_die_holding(pco_cache_index_t *idx, void (*fn)(pco_cache_index_t *), bool kill9)
{
    pid_t  pid = fork();
    int    status;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (pthread_mutex_lock(&idx->lock.mutex) != 0) {
            _exit(3);
        }
        fn(idx);
        if (kill9) {
            kill(getpid(), SIGKILL);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (kill9) {
        assert_true(WIFSIGNALED(status));
    } else {
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

static void
pco_t_scribble(pco_cache_index_t *idx)
{
    pco_cache_node_t  *nd = pco_cache_index_nodes(idx);

    /* half-written links and totals everywhere */
    idx->head = 0xdeadbeef;
    idx->tail = 7;
    idx->free = 3;
    idx->entries = 999;
    idx->bytes = 1;
    memset((u_char *) idx + pco_align(sizeof(*idx), 64), 0xff,
           (size_t) idx->nbuckets * sizeof(uint32_t));
    nd[0].next = 5;
    nd[1].prev = 2;
    nd[2].chain = 2;
}

static void
pco_t_half_node(pco_cache_index_t *idx)
{
    pco_cache_node_t  *nd = pco_cache_index_nodes(idx);
    uint32_t           i = idx->free - 1;

    /* taken off the free list, half filled, marked used but never linked */
    idx->free = nd[i].chain;
    nd[i].m.kind = 7;
    nd[i].used = 1;
    nd[i + 1].used = 1;             /* another: a lock-only node whose lock never came */
    nd[i + 1].m.kind = 0;
    nd[i + 1].m.lock_pid = 0;
}

static void
pco_t_repair(void **state)
{
    pco_t_ix_t        t = pco_t_ix(100);
    pco_cache_meta_t  m;
    pco_cache_key_t   k;
    uint64_t          repairs = t.idx->repairs;
    uint32_t          i;

    (void) state;
    for (i = 0; i < 50; i++) {
        m = pco_t_meta(i, i % 5 ? PCO_CACHE_NODE_ENTRY : PCO_CACHE_NODE_MARKER, 100 + i, NULL);
        pco_t_insert(t.idx, &m);
    }
    k = pco_t_key(60);
    assert_int_equal(pco_cache_index_lock(t.idx, &k, 42, 0, 1000, NULL), PCO_OK);

    pco_t_die_holding(t.idx, pco_t_scribble, false);
    /* the next call repairs first: every node and its facts are there, totals exact */
    for (i = 0; i < 50; i++) {
        assert_true(pco_t_has(t.idx, i, &m));
        assert_int_equal(m.file_size, 100 + i);
        assert_int_equal(m.kind, i % 5 ? PCO_CACHE_NODE_ENTRY : PCO_CACHE_NODE_MARKER);
    }
    assert_true(pco_t_has(t.idx, 60, &m));
    assert_int_equal(m.lock_pid, 42);
    assert_int_equal(t.idx->repairs, repairs + 1);
    /* 40 entries of 100 + i bytes for i not a multiple of 5 */
    pco_t_stats(t.idx, 40, 51, 40 * 100 + 1225 - 225);
    assert_int_equal(pco_t_check_lists(t.idx), 51);
    m = pco_t_meta(70, PCO_CACHE_NODE_ENTRY, 1, NULL);
    pco_t_insert(t.idx, &m);
    assert_true(pco_t_has(t.idx, 70, NULL));

    /* a killed holder with a node half taken: the half node is freed */
    pco_t_die_holding(t.idx, pco_t_half_node, true);
    pco_t_stats(t.idx, 41, 52, 40 * 100 + 1225 - 225 + 1);
    assert_int_equal(t.idx->repairs, repairs + 2);
    assert_int_equal(pco_t_check_lists(t.idx), 52);
    for (i = 0; i < 50; i++) {
        assert_true(pco_t_has(t.idx, i, NULL));
    }
    pco_t_free(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_init_attach),
        cmocka_unit_test(pco_t_insert_lookup),
        cmocka_unit_test(pco_t_stats_exact),
        cmocka_unit_test(pco_t_lru_evict),
        cmocka_unit_test(pco_t_evict_locked),
        cmocka_unit_test(pco_t_insert_new_refresh),
        cmocka_unit_test(pco_t_remove),
        cmocka_unit_test(pco_t_variants),
        cmocka_unit_test(pco_t_purge_prefix),
        cmocka_unit_test(pco_t_expire),
        cmocka_unit_test(pco_t_lock),
        cmocka_unit_test(pco_t_unlock_pid),
        cmocka_unit_test(pco_t_lock_full),
        cmocka_unit_test(pco_t_warn_due),
        cmocka_unit_test(pco_t_repair),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
