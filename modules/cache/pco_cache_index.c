/*
 * pco_cache_index.c: a cache zone's shared index (see pco_cache_index.h for the contract
 * and pco_cache_index_int.h for the layout). Everything works on memory the caller gives
 * and is bounded: chain walks stop after the node count, an eviction looks at no more than
 * PCO_CACHE_EVICT_SCAN nodes from the LRU tail, and the array walks (purges, unlock_pid)
 * visit each node once per call, so a corrupted link can never loop a worker.
 *
 * Crash safety: a node is filled before its `used` flag is set and linked; the totals,
 * buckets, free list and LRU list are all derived from the nodes, so a holder killed at
 * any instruction costs at most the recency order (a repair rebuilds it in index order).
 */
#include <pthread.h>
#include <signal.h>
#include "pco_cache_index_int.h"

static size_t
pco_cache_index_hdr(void)
{
    return pco_align(sizeof(pco_cache_index_t), 64);
}

/* Bytes for n nodes with nb buckets. */
static size_t
pco_cache_index_need(size_t n, size_t nb)
{
    return pco_cache_index_hdr() + pco_align(nb * sizeof(uint32_t), 64)
           + n * sizeof(pco_cache_node_t);
}

static size_t
pco_cache_index_pow2(size_t n)
{
    size_t  nb;

    for (nb = PCO_CACHE_INDEX_MIN; nb < n; nb <<= 1) {
        /* next power of two */
    }
    return nb;
}

size_t
pco_cache_index_size_for(size_t n)
{
    n = pco_max(n, (size_t) PCO_CACHE_INDEX_MIN);
    return pco_cache_index_need(n, pco_cache_index_pow2(n));
}

/* The node count size bytes hold (the largest n whose need fits), 0 when below the
 * minimum. init and attach both use it, so a reused index has the geometry init gives. */
static size_t
pco_cache_index_fit(size_t size)
{
    size_t  n;

    if (size < pco_cache_index_size_for(PCO_CACHE_INDEX_MIN)) {
        return 0;
    }
    n = (size - pco_cache_index_hdr()) / sizeof(pco_cache_node_t);
    /* need(n) grows with n; the bucket array costs at most 8 bytes a node, so this loop
     * runs about n / 40 times */
    while (n > PCO_CACHE_INDEX_MIN && pco_cache_index_need(n, pco_cache_index_pow2(n)) > size) {
        n--;
    }
    return pco_min(n, (size_t) UINT32_MAX - 1);
}

static uint32_t *
pco_cache_index_buckets(pco_cache_index_t *idx)
{
    return (uint32_t *) ((u_char *) idx + pco_cache_index_hdr());
}

pco_cache_node_t *
pco_cache_index_nodes(pco_cache_index_t *idx)
{
    return (pco_cache_node_t *) ((u_char *) pco_cache_index_buckets(idx)
                                 + pco_align((size_t) idx->nbuckets * sizeof(uint32_t), 64));
}

/* The key is already a SHA-256 prefix: its first 8 bytes are as good as any hash. */
static uint32_t
pco_cache_index_slot(pco_cache_index_t *idx, const pco_cache_key_t *key)
{
    uint64_t  h;

    memcpy(&h, key->md, sizeof(h));
    return (uint32_t) (h & (idx->nbuckets - 1));
}

pco_cache_index_t *
pco_cache_index_init(void *mem, size_t size, uint64_t path_hash)
{
    pco_cache_index_t  *idx = mem;
    size_t              n = pco_cache_index_fit(size);

    if (mem == NULL || n < PCO_CACHE_INDEX_MIN) {
        return NULL;
    }
    memset(idx, 0, pco_cache_index_hdr());
    idx->nnodes = (uint32_t) n;
    idx->nbuckets = (uint32_t) pco_cache_index_pow2(n);
    idx->path_hash = path_hash;
    idx->size = size;
    if (pco_shmtx_init(&idx->lock) != PCO_OK) {
        return NULL;
    }
    memset(pco_cache_index_nodes(idx), 0, n * sizeof(pco_cache_node_t));
    pco_cache_index_repair(idx);        /* builds the free list */
    idx->repairs = 0;
    idx->version = PCO_CACHE_INDEX_VERSION;
    idx->magic = PCO_CACHE_INDEX_MAGIC;
    return idx;
}

pco_cache_index_t *
pco_cache_index_attach(void *mem, size_t size, uint64_t path_hash)
{
    pco_cache_index_t  *idx = mem;
    size_t              n = pco_cache_index_fit(size);

    if (mem == NULL || n < PCO_CACHE_INDEX_MIN || idx->magic != PCO_CACHE_INDEX_MAGIC
        || idx->version != PCO_CACHE_INDEX_VERSION || idx->size != size
        || idx->path_hash != path_hash || idx->nnodes != n
        || idx->nbuckets != pco_cache_index_pow2(n))
    {
        return NULL;
    }
    return idx;
}

/* ---- lists ---- */

static void
pco_cache_lru_unlink(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    pco_cache_node_t  *n = &nd[i];

    if (n->prev != 0 && n->prev <= idx->nnodes) {
        nd[n->prev - 1].next = n->next;
    } else {
        idx->head = n->next;
    }
    if (n->next != 0 && n->next <= idx->nnodes) {
        nd[n->next - 1].prev = n->prev;
    } else {
        idx->tail = n->prev;
    }
    n->prev = n->next = 0;
}

static void
pco_cache_lru_push(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    nd[i].prev = 0;
    nd[i].next = idx->head;
    if (idx->head != 0) {
        nd[idx->head - 1].prev = i + 1;
    } else {
        idx->tail = i + 1;
    }
    idx->head = i + 1;
}

static void
pco_cache_lru_touch(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    if (idx->head != i + 1) {
        pco_cache_lru_unlink(idx, nd, i);
        pco_cache_lru_push(idx, nd, i);
    }
}

static void
pco_cache_chain_unlink(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    uint32_t  *link = &pco_cache_index_buckets(idx)[pco_cache_index_slot(idx, &nd[i].m.key)];
    uint32_t   steps;

    for (steps = 0; *link != 0 && *link <= idx->nnodes && steps < idx->nnodes; steps++) {
        if (*link == i + 1) {
            *link = nd[i].chain;
            nd[i].chain = 0;
            return;
        }
        link = &nd[*link - 1].chain;
    }
}

static void
pco_cache_chain_push(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    uint32_t  *b = &pco_cache_index_buckets(idx)[pco_cache_index_slot(idx, &nd[i].m.key)];

    nd[i].chain = *b;
    *b = i + 1;
}

/* ---- totals ---- */

static void
pco_cache_count(pco_cache_index_t *idx, const pco_cache_meta_t *m, int sign)
{
    idx->nodes += (uint64_t) (int64_t) sign;
    if (m->kind == PCO_CACHE_NODE_ENTRY) {
        idx->entries += (uint64_t) (int64_t) sign;
        idx->bytes += sign > 0 ? m->file_size : (uint64_t) 0 - m->file_size;
    }
}

/* ---- the mutex and the repair ---- */

void
pco_cache_index_mutex_lock(pco_cache_index_t *idx)
{
    /* pco_shmtx_lock() would make the mutex consistent silently; the index needs to know,
     * so that links the dead holder left half-written are rebuilt before anyone follows
     * them */
    if (pthread_mutex_lock(&idx->lock.mutex) == EOWNERDEAD) {
        pthread_mutex_consistent(&idx->lock.mutex);
        pco_cache_index_repair(idx);
    }
}

void
pco_cache_index_mutex_unlock(pco_cache_index_t *idx)
{
    pthread_mutex_unlock(&idx->lock.mutex);
}

static bool
pco_cache_node_sane(const pco_cache_node_t *n)
{
    unsigned  kind = n->m.kind;

    if (kind != 0 && kind != PCO_CACHE_NODE_ENTRY && kind != PCO_CACHE_NODE_MARKER) {
        return false;
    }
    /* a lock-only node whose lock is gone has nothing to keep */
    return kind != 0 || n->m.lock_pid != 0;
}

void
pco_cache_index_repair(pco_cache_index_t *idx)
{
    pco_cache_node_t  *nd = pco_cache_index_nodes(idx);
    uint32_t           i;

    memset(pco_cache_index_buckets(idx), 0, (size_t) idx->nbuckets * sizeof(uint32_t));
    idx->head = idx->tail = idx->free = 0;
    idx->entries = idx->nodes = idx->bytes = 0;
    /* backwards, so that the free list and the LRU list come out in index order */
    for (i = idx->nnodes; i-- > 0; ) {
        if (nd[i].used && !pco_cache_node_sane(&nd[i])) {
            nd[i].used = 0;
        }
        if (!nd[i].used) {
            nd[i].chain = idx->free;
            nd[i].prev = nd[i].next = 0;
            idx->free = i + 1;
            continue;
        }
        pco_cache_chain_push(idx, nd, i);
        pco_cache_lru_push(idx, nd, i);
        pco_cache_count(idx, &nd[i].m, 1);
        idx->stamp = pco_max(idx->stamp, nd[i].m.stamp);
    }
    if (idx->orphan_first >= PCO_CACHE_ORPHANS || idx->orphan_count > PCO_CACHE_ORPHANS) {
        idx->orphan_first = idx->orphan_count = 0;
    }
    idx->repairs++;
}

/* ---- nodes ---- */

static int64_t
pco_cache_find(pco_cache_index_t *idx, const pco_cache_key_t *key)
{
    pco_cache_node_t  *nd = pco_cache_index_nodes(idx);
    uint32_t           cur = pco_cache_index_buckets(idx)[pco_cache_index_slot(idx, key)];
    uint32_t           steps;

    for (steps = 0; cur != 0 && cur <= idx->nnodes && steps < idx->nnodes; steps++) {
        if (memcmp(nd[cur - 1].m.key.md, key->md, PCO_CACHE_KEY_LEN) == 0) {
            return cur - 1;
        }
        cur = nd[cur - 1].chain;
    }
    return -1;
}

/* Frees node i (used). */
static void
pco_cache_release(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    pco_cache_lru_unlink(idx, nd, i);
    pco_cache_chain_unlink(idx, nd, i);
    pco_cache_count(idx, &nd[i].m, -1);
    nd[i].used = 0;
    nd[i].chain = idx->free;
    idx->free = i + 1;
}

/* Removes what node i holds: it goes, or stays as a lock-only node when locked. */
static void
pco_cache_drop(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    pco_cache_meta_t  *m = &nd[i].m;
    pco_cache_key_t    key;
    int32_t            pid;
    int64_t            until;

    if (m->lock_pid == 0) {
        pco_cache_release(idx, nd, i);
        return;
    }
    pco_cache_count(idx, m, -1);
    key = m->key;
    pid = m->lock_pid;
    until = m->lock_until;
    memset(m, 0, sizeof(*m));
    m->key = key;
    m->main = key;
    m->stale_while_revalidate = -1;
    m->stale_if_error = -1;
    m->lock_pid = pid;
    m->lock_until = until;
    pco_cache_count(idx, m, 1);
}

/* A free node, or the least recently used unlocked one recycled (an entry reported in
 * *evicted). -1 when none. */
static int64_t
pco_cache_take(pco_cache_index_t *idx, pco_cache_node_t *nd, pco_cache_meta_t *evicted,
               bool *had_evicted)
{
    uint32_t  i, cur, steps;

    if (idx->free != 0 && idx->free <= idx->nnodes) {
        i = idx->free - 1;
        idx->free = nd[i].chain;
        nd[i].chain = 0;
        return i;
    }
    cur = idx->tail;
    for (steps = 0; cur != 0 && cur <= idx->nnodes && steps < PCO_CACHE_EVICT_SCAN; steps++) {
        i = cur - 1;
        if (nd[i].m.lock_pid == 0) {
            if (nd[i].m.kind == PCO_CACHE_NODE_ENTRY) {
                *evicted = nd[i].m;
                *had_evicted = true;
            }
            pco_cache_release(idx, nd, i);
            idx->evictions++;
            idx->free = nd[i].chain;
            nd[i].chain = 0;
            return i;
        }
        cur = nd[i].prev;
    }
    return -1;
}

/* Fills the taken node i with m (its lock cleared) and links it as the most recent. */
static void
pco_cache_place(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i,
                const pco_cache_meta_t *m)
{
    nd[i].m = *m;
    nd[i].m.lock_pid = 0;
    nd[i].m.lock_until = 0;
    nd[i].m.stamp = ++idx->stamp;
    nd[i].used = 1;         /* before the links: a repair sees the whole node or none */
    pco_cache_chain_push(idx, nd, i);
    pco_cache_lru_push(idx, nd, i);
    pco_cache_count(idx, &nd[i].m, 1);
}

static int
pco_cache_store(pco_cache_index_t *idx, const pco_cache_meta_t *m, pco_cache_meta_t *evicted,
                bool *had_evicted, bool only_new)
{
    pco_cache_node_t  *nd;
    pco_cache_meta_t   ev, *cur;
    bool               had = false;
    int64_t            i;
    int32_t            pid;
    int64_t            until;

    if (had_evicted != NULL) {
        *had_evicted = false;
    }
    if (m->kind != PCO_CACHE_NODE_ENTRY && m->kind != PCO_CACHE_NODE_MARKER) {
        return PCO_ERROR;
    }
    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    i = pco_cache_find(idx, &m->key);
    if (i >= 0) {
        cur = &nd[i].m;
        /* a lock-only node counts as absent: the loader's entry serves until the
         * fetching worker's replaces it */
        if (only_new && cur->kind != 0) {
            pco_cache_index_mutex_unlock(idx);
            return PCO_DECLINED;
        }
        pco_cache_count(idx, cur, -1);
        pid = cur->lock_pid;
        until = cur->lock_until;
        *cur = *m;
        cur->lock_pid = pid;
        cur->lock_until = until;
        cur->stamp = ++idx->stamp;
        pco_cache_count(idx, cur, 1);
        pco_cache_lru_touch(idx, nd, (uint32_t) i);
        pco_cache_index_mutex_unlock(idx);
        return PCO_OK;
    }
    i = pco_cache_take(idx, nd, &ev, &had);
    if (i < 0) {
        pco_cache_index_mutex_unlock(idx);
        return PCO_ERROR;
    }
    pco_cache_place(idx, nd, (uint32_t) i, m);
    pco_cache_index_mutex_unlock(idx);
    if (had && evicted != NULL && had_evicted != NULL) {
        *evicted = ev;
        *had_evicted = true;
    }
    return PCO_OK;
}

int
pco_cache_index_insert(pco_cache_index_t *idx, const pco_cache_meta_t *m,
                       pco_cache_meta_t *evicted, bool *had_evicted)
{
    return pco_cache_store(idx, m, evicted, had_evicted, false);
}

int
pco_cache_index_insert_new(pco_cache_index_t *idx, const pco_cache_meta_t *m,
                           pco_cache_meta_t *evicted, bool *had_evicted)
{
    return pco_cache_store(idx, m, evicted, had_evicted, true);
}

bool
pco_cache_index_lookup(pco_cache_index_t *idx, const pco_cache_key_t *key, int64_t now_sec,
                       bool touch, pco_cache_meta_t *m)
{
    pco_cache_node_t  *nd;
    int64_t            i;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    i = pco_cache_find(idx, key);
    if (i >= 0) {
        if (touch) {
            nd[i].m.last_access = now_sec;
            pco_cache_lru_touch(idx, nd, (uint32_t) i);
        }
        if (m != NULL) {
            *m = nd[i].m;
        }
    }
    pco_cache_index_mutex_unlock(idx);
    return i >= 0;
}

bool
pco_cache_index_refresh(pco_cache_index_t *idx, const pco_cache_meta_t *m)
{
    pco_cache_meta_t  *cur;
    int64_t            i;
    bool               ok;

    pco_cache_index_mutex_lock(idx);
    i = pco_cache_find(idx, &m->key);
    ok = i >= 0 && pco_cache_index_nodes(idx)[i].m.kind == PCO_CACHE_NODE_ENTRY;
    if (ok) {
        cur = &pco_cache_index_nodes(idx)[i].m;
        cur->response_time = m->response_time;
        cur->lifetime = m->lifetime;
        cur->initial_age = m->initial_age;
        cur->stale_while_revalidate = m->stale_while_revalidate;
        cur->stale_if_error = m->stale_if_error;
        cur->no_stale = m->no_stale;
        cur->stamp = ++idx->stamp;
    }
    pco_cache_index_mutex_unlock(idx);
    return ok;
}

bool
pco_cache_index_remove(pco_cache_index_t *idx, const pco_cache_key_t *key, pco_cache_meta_t *m)
{
    pco_cache_node_t  *nd;
    int64_t            i;
    bool               ok;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    i = pco_cache_find(idx, key);
    ok = i >= 0 && nd[i].m.kind != 0;
    if (ok) {
        if (m != NULL) {
            *m = nd[i].m;
        }
        pco_cache_drop(idx, nd, (uint32_t) i);
    }
    pco_cache_index_mutex_unlock(idx);
    return ok;
}

/* The variants are the entries under another key whose main is main: an entry stored
 * under main itself is not one of them (pco_cache_index_remove takes it). */
size_t
pco_cache_index_remove_variants(pco_cache_index_t *idx, const pco_cache_key_t *main,
                                pco_cache_meta_t *out, size_t max)
{
    pco_cache_node_t  *nd;
    uint32_t           i;
    size_t             n = 0;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    for (i = 0; i < idx->nnodes && n < max; i++) {
        if (nd[i].used && nd[i].m.kind == PCO_CACHE_NODE_ENTRY
            && memcmp(nd[i].m.main.md, main->md, PCO_CACHE_KEY_LEN) == 0
            && memcmp(nd[i].m.key.md, main->md, PCO_CACHE_KEY_LEN) != 0)
        {
            out[n++] = nd[i].m;
            pco_cache_drop(idx, nd, i);
        }
    }
    pco_cache_index_mutex_unlock(idx);
    return n;
}

size_t
pco_cache_index_purge_prefix(pco_cache_index_t *idx, const u_char *prefix, size_t len,
                             uint32_t *cursor, pco_cache_meta_t *out, size_t max,
                             pco_cache_meta_t *unsure, size_t max_unsure, size_t *nunsure)
{
    pco_cache_node_t  *nd;
    pco_cache_meta_t  *m;
    uint32_t           i;
    size_t             n = 0, u = 0, kept;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    for (i = *cursor; i < idx->nnodes && n < max; i++) {
        m = &nd[i].m;
        if (!nd[i].used || m->kind == 0 || m->text_len < len) {
            continue;
        }
        kept = pco_min((size_t) m->text_len, (size_t) PCO_CACHE_TEXT_MAX);
        if (kept >= len) {
            if (memcmp(m->text, prefix, len) == 0) {
                out[n++] = *m;
                pco_cache_drop(idx, nd, i);
            }
            continue;
        }
        /* the stored start matches but the key goes on beyond it: only the file knows
         * (max_unsure 0: the caller does not want these) */
        if (max_unsure > 0 && memcmp(m->text, prefix, kept) == 0) {
            if (u == max_unsure) {
                break;              /* this node again in the next call */
            }
            unsure[u++] = *m;
        }
    }
    *cursor = i < idx->nnodes ? i : idx->nnodes;
    pco_cache_index_mutex_unlock(idx);
    if (nunsure != NULL) {
        *nunsure = u;
    }
    return n;
}

size_t
pco_cache_index_expire(pco_cache_index_t *idx, int64_t now_sec, int64_t inactive_sec,
                       uint64_t max_bytes, pco_cache_meta_t *out, size_t max)
{
    pco_cache_node_t  *nd;
    pco_cache_meta_t  *m;
    uint32_t           cur, prev, steps;
    size_t             n = 0;
    bool               old, over;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    cur = idx->tail;
    for (steps = 0; cur != 0 && cur <= idx->nnodes && steps < idx->nnodes && n < max;
         steps++)
    {
        m = &nd[cur - 1].m;
        prev = nd[cur - 1].prev;
        if (m->lock_pid != 0 || m->kind == 0) {
            cur = prev;             /* being fetched: the fetch decides */
            continue;
        }
        old = inactive_sec > 0 && m->last_access <= now_sec - inactive_sec;
        over = max_bytes > 0 && idx->bytes > max_bytes;
        if (!old && !(over && m->kind == PCO_CACHE_NODE_ENTRY)) {
            if (!over) {
                break;              /* everything more recent is newer still */
            }
            cur = prev;             /* a marker holds no bytes */
            continue;
        }
        out[n++] = *m;
        pco_cache_release(idx, nd, cur - 1);
        cur = prev;
    }
    pco_cache_index_mutex_unlock(idx);
    return n;
}

/* ---- fetch locks ---- */

static bool
pco_cache_pid_dead(int32_t pid)
{
    int   err = errno;
    bool  dead = kill((pid_t) pid, 0) == -1 && errno == ESRCH;

    errno = err;
    return dead;
}

/* Remembers an entry evicted where no caller could be told, for pco_cache_index_orphans. */
static void
pco_cache_orphan_push(pco_cache_index_t *idx, const pco_cache_key_t *key)
{
    if (idx->orphan_count == PCO_CACHE_ORPHANS) {
        /* the oldest is lost: its file stays until the loader's next walk */
        idx->orphan_first = (idx->orphan_first + 1) % PCO_CACHE_ORPHANS;
        idx->orphan_count--;
    }
    idx->orphans[(idx->orphan_first + idx->orphan_count) % PCO_CACHE_ORPHANS] = *key;
    idx->orphan_count++;
}

int
pco_cache_index_lock(pco_cache_index_t *idx, const pco_cache_key_t *key, int32_t pid,
                     int64_t now_msec, int64_t timeout_msec, int64_t *holder_until)
{
    pco_cache_node_t  *nd;
    pco_cache_meta_t  *m, ev, fresh;
    bool               had = false;
    int64_t            i;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    i = pco_cache_find(idx, key);
    if (i >= 0) {
        m = &nd[i].m;
        if (m->lock_pid != 0 && m->lock_pid != pid && m->lock_until > now_msec
            && !pco_cache_pid_dead(m->lock_pid))
        {
            if (holder_until != NULL) {
                *holder_until = m->lock_until;
            }
            pco_cache_index_mutex_unlock(idx);
            return PCO_BUSY;
        }
        m->lock_pid = pid;
        m->lock_until = now_msec + timeout_msec;
        pco_cache_index_mutex_unlock(idx);
        return PCO_OK;
    }
    i = pco_cache_take(idx, nd, &ev, &had);
    if (i < 0) {
        pco_cache_index_mutex_unlock(idx);
        return PCO_ERROR;
    }
    if (had) {
        pco_cache_orphan_push(idx, &ev.key);
    }
    memset(&fresh, 0, sizeof(fresh));
    fresh.key = *key;
    fresh.main = *key;
    fresh.stale_while_revalidate = -1;
    fresh.stale_if_error = -1;
    pco_cache_place(idx, nd, (uint32_t) i, &fresh);
    /* a crash before these two lines leaves a lock-only node without a lock: the repair
     * frees it */
    nd[i].m.lock_until = now_msec + timeout_msec;
    nd[i].m.lock_pid = pid;
    pco_cache_index_mutex_unlock(idx);
    return PCO_OK;
}

/* Releases node i's lock; a lock-only node goes. */
static void
pco_cache_unlock_node(pco_cache_index_t *idx, pco_cache_node_t *nd, uint32_t i)
{
    nd[i].m.lock_pid = 0;
    nd[i].m.lock_until = 0;
    if (nd[i].m.kind == 0) {
        pco_cache_release(idx, nd, i);
    }
}

void
pco_cache_index_unlock(pco_cache_index_t *idx, const pco_cache_key_t *key, int32_t pid)
{
    pco_cache_node_t  *nd;
    int64_t            i;

    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    i = pco_cache_find(idx, key);
    if (i >= 0 && pid != 0 && nd[i].m.lock_pid == pid) {
        pco_cache_unlock_node(idx, nd, (uint32_t) i);
    }
    pco_cache_index_mutex_unlock(idx);
}

void
pco_cache_index_unlock_pid(pco_cache_index_t *idx, int32_t pid)
{
    pco_cache_node_t  *nd;
    uint32_t           i;

    if (pid == 0) {
        return;
    }
    pco_cache_index_mutex_lock(idx);
    nd = pco_cache_index_nodes(idx);
    for (i = 0; i < idx->nnodes; i++) {
        if (nd[i].used && nd[i].m.lock_pid == pid) {
            pco_cache_unlock_node(idx, nd, i);
        }
    }
    pco_cache_index_mutex_unlock(idx);
}

size_t
pco_cache_index_orphans(pco_cache_index_t *idx, pco_cache_key_t *out, size_t max)
{
    pco_cache_key_t  *key;
    int64_t           i;
    size_t            n = 0;

    pco_cache_index_mutex_lock(idx);
    while (idx->orphan_count > 0 && n < max) {
        key = &idx->orphans[idx->orphan_first];
        idx->orphan_first = (idx->orphan_first + 1) % PCO_CACHE_ORPHANS;
        idx->orphan_count--;
        i = pco_cache_find(idx, key);
        if (i >= 0 && pco_cache_index_nodes(idx)[i].m.kind == PCO_CACHE_NODE_ENTRY) {
            continue;               /* stored again since: the file is the new entry's */
        }
        out[n++] = *key;
    }
    pco_cache_index_mutex_unlock(idx);
    return n;
}

/* ---- totals ---- */

void
pco_cache_index_stats(pco_cache_index_t *idx, pco_cache_index_stats_t *st)
{
    pco_cache_index_mutex_lock(idx);
    st->entries = idx->entries;
    st->nodes = idx->nodes;
    st->capacity = idx->nnodes;
    st->bytes = idx->bytes;
    st->evictions = idx->evictions;
    st->loaded = idx->loaded != 0;
    pco_cache_index_mutex_unlock(idx);
}

void
pco_cache_index_set_loaded(pco_cache_index_t *idx, bool loaded)
{
    pco_cache_index_mutex_lock(idx);
    idx->loaded = loaded;
    pco_cache_index_mutex_unlock(idx);
}

bool
pco_cache_index_warn_due(pco_cache_index_t *idx, int64_t now_msec)
{
    bool  due;

    pco_cache_index_mutex_lock(idx);
    due = idx->evictions != idx->warned_evictions
          && (!idx->warned || now_msec - idx->last_warn >= 60000);
    if (due) {
        idx->warned = 1;
        idx->last_warn = now_msec;
        idx->warned_evictions = idx->evictions;
    }
    pco_cache_index_mutex_unlock(idx);
    return due;
}
