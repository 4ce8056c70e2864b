/*
 * pco_limit_table.c: the keyed table with LRU eviction shared by rate limits and connection
 * limits (see pco_limit_table.h for the layout), and the GCRA arithmetic. Everything here
 * works on memory the caller gives (a shared zone, or malloc'ed memory in unit tests) and
 * is bounded: chain walks and eviction scans stop after the node count or
 * PCO_LIMIT_EVICT_SCAN nodes, so a corrupted link can never loop a worker.
 */
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "pco_limit_table.h"

#define PCO_LIMIT_MAGIC    0x70636c74u      /* "pclt" */
#define PCO_LIMIT_VERSION  1u

static uint32_t *
pco_limit_buckets(pco_limit_table_t *t)
{
    return (uint32_t *) ((u_char *) t + pco_align(sizeof(pco_limit_table_t), 64));
}

static pco_limit_node_t *
pco_limit_nodes(pco_limit_table_t *t)
{
    return (pco_limit_node_t *) ((u_char *) pco_limit_buckets(t)
                                 + pco_align((size_t) t->nbuckets * sizeof(uint32_t), 64));
}

uint64_t
pco_limit_hash(uint64_t seed, const u_char *p, size_t len)
{
    uint64_t  h = seed ^ ((uint64_t) len * 0x9e3779b97f4a7c15ull);
    uint64_t  w;
    size_t    i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h ^= w * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
        h *= 0xc4ceb9fe1a85ec53ull;
    }
    w = 0;
    if (i < len) {
        memcpy(&w, p + i, len - i);
        h ^= w * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
        h *= 0xc4ceb9fe1a85ec53ull;
    }
    /* final avalanche (murmur3 fmix64) */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int
pco_limit_table_init(void *addr, size_t size, uint64_t seed)
{
    pco_limit_table_t  *t = addr;
    size_t              hdr = pco_align(sizeof(pco_limit_table_t), 64);
    size_t              n, nb;

    if (size < hdr + 4 * (sizeof(pco_limit_node_t) + 2 * sizeof(uint32_t)) + 128) {
        return PCO_ERROR;
    }
    /* as many nodes as fit with a bucket array of the next power of two */
    n = (size - hdr - 128) / (sizeof(pco_limit_node_t) + 2 * sizeof(uint32_t));
    for (nb = 4; nb < n; nb <<= 1) {
        /* next power of two */
    }
    while (hdr + pco_align(nb * sizeof(uint32_t), 64) + n * sizeof(pco_limit_node_t) > size) {
        n--;
    }
    if (n < 4 || n > UINT32_MAX - 1) {
        return PCO_ERROR;
    }
    memset(t, 0, hdr);
    t->nnodes = (uint32_t) n;
    t->nbuckets = (uint32_t) nb;
    t->seed = seed;
    t->size = size;
    if (pco_shmtx_init(&t->lock) != PCO_OK) {
        return PCO_ERROR;
    }
    memset(pco_limit_buckets(t), 0, nb * sizeof(uint32_t));
    memset(pco_limit_nodes(t), 0, n * sizeof(pco_limit_node_t));
    pco_limit_table_repair(t);      /* builds the free list */
    t->repairs = 0;
    t->version = PCO_LIMIT_VERSION;
    t->magic = PCO_LIMIT_MAGIC;
    return PCO_OK;
}

bool
pco_limit_table_valid(const void *addr, size_t size)
{
    const pco_limit_table_t  *t = addr;

    return t != NULL && t->magic == PCO_LIMIT_MAGIC && t->version == PCO_LIMIT_VERSION
           && t->size == size;
}

void
pco_limit_table_lock(pco_limit_table_t *t)
{
    int  rc;

    /* pco_shmtx_lock() would repair the mutex silently; the table needs to know, so that
     * links the dead holder left half-written are rebuilt before anyone follows them */
    rc = pthread_mutex_lock(&t->lock.mutex);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&t->lock.mutex);
        pco_limit_table_repair(t);
    }
}

void
pco_limit_table_unlock(pco_limit_table_t *t)
{
    pthread_mutex_unlock(&t->lock.mutex);
}

static void pco_limit_lru_push(pco_limit_table_t *t, pco_limit_node_t *nd, uint32_t i);

void
pco_limit_table_repair(pco_limit_table_t *t)
{
    uint32_t          *b = pco_limit_buckets(t);
    pco_limit_node_t  *nd = pco_limit_nodes(t);
    uint32_t           i, slot;

    memset(b, 0, (size_t) t->nbuckets * sizeof(uint32_t));
    t->head = 0;
    t->tail = 0;
    t->free = 0;
    t->used = 0;
    /* walk backwards so the free list and the LRU list come out in index order */
    for (i = t->nnodes; i-- > 0; ) {
        if (!nd[i].used) {
            nd[i].chain = t->free;
            nd[i].prev = nd[i].next = 0;
            t->free = i + 1;
            continue;
        }
        slot = (uint32_t) (nd[i].hash & (t->nbuckets - 1));
        nd[i].chain = b[slot];
        b[slot] = i + 1;
        pco_limit_lru_push(t, nd, i);
        t->used++;
    }
    t->repairs++;
}

static void
pco_limit_lru_unlink(pco_limit_table_t *t, pco_limit_node_t *nd, uint32_t i)
{
    pco_limit_node_t  *n = &nd[i];

    if (n->prev != 0) {
        nd[n->prev - 1].next = n->next;
    } else {
        t->head = n->next;
    }
    if (n->next != 0) {
        nd[n->next - 1].prev = n->prev;
    } else {
        t->tail = n->prev;
    }
    n->prev = n->next = 0;
}

static void
pco_limit_lru_push(pco_limit_table_t *t, pco_limit_node_t *nd, uint32_t i)
{
    nd[i].prev = 0;
    nd[i].next = t->head;
    if (t->head != 0) {
        nd[t->head - 1].prev = i + 1;
    } else {
        t->tail = i + 1;
    }
    t->head = i + 1;
}

/* Removes node i from its bucket chain. */
static void
pco_limit_chain_unlink(pco_limit_table_t *t, pco_limit_node_t *nd, uint32_t i)
{
    uint32_t  *link = &pco_limit_buckets(t)[nd[i].hash & (t->nbuckets - 1)];
    uint32_t   steps;

    for (steps = 0; *link != 0 && steps <= t->nnodes; steps++) {
        if (*link == i + 1) {
            *link = nd[i].chain;
            nd[i].chain = 0;
            return;
        }
        link = &nd[*link - 1].chain;
    }
}

/* A node for a new key: a free one, or the least recently used evictable one. */
static int64_t
pco_limit_take(pco_limit_table_t *t, pco_limit_node_t *nd, pco_limit_evictable_pt evictable,
               bool *evicted)
{
    uint32_t  i, cur, steps;

    if (t->free != 0 && t->free <= t->nnodes) {
        i = t->free - 1;
        t->free = nd[i].chain;
        nd[i].chain = 0;
        return i;
    }
    cur = t->tail;
    for (steps = 0; cur != 0 && cur <= t->nnodes && steps < PCO_LIMIT_EVICT_SCAN; steps++) {
        i = cur - 1;
        if (evictable == NULL || evictable(&nd[i])) {
            pco_limit_lru_unlink(t, nd, i);
            pco_limit_chain_unlink(t, nd, i);
            nd[i].used = 0;
            t->used--;
            t->evictions++;
            *evicted = true;
            return i;
        }
        cur = nd[i].prev;
    }
    return -1;
}

pco_limit_node_t *
pco_limit_table_get(pco_limit_table_t *t, const u_char *key, size_t len, bool create,
                    pco_limit_evictable_pt evictable, bool *evicted)
{
    pco_limit_node_t  *nd = pco_limit_nodes(t);
    uint64_t           h = pco_limit_hash(t->seed, key, len);
    uint32_t          *b = pco_limit_buckets(t);
    uint32_t           slot = (uint32_t) (h & (t->nbuckets - 1));
    uint32_t           cur, steps, i;
    size_t             cmp = pco_min(len, (size_t) PCO_LIMIT_KEY_MAX);
    int64_t            got;

    *evicted = false;
    cur = b[slot];
    for (steps = 0; cur != 0 && cur <= t->nnodes && steps < t->nnodes; steps++) {
        i = cur - 1;
        if (nd[i].hash == h && nd[i].key_len == len && memcmp(nd[i].key, key, cmp) == 0) {
            if (t->head != cur) {
                pco_limit_lru_unlink(t, nd, i);
                pco_limit_lru_push(t, nd, i);
            }
            return &nd[i];
        }
        cur = nd[i].chain;
    }
    if (!create) {
        return NULL;
    }
    got = pco_limit_take(t, nd, evictable, evicted);
    if (got < 0) {
        return NULL;
    }
    i = (uint32_t) got;
    nd[i].hash = h;
    nd[i].key_len = (uint32_t) len;
    memcpy(nd[i].key, key, cmp);
    nd[i].value[0] = 0;
    nd[i].value[1] = 0;
    nd[i].used = 1;         /* last: a repair after a crash above sees no half key */
    nd[i].chain = b[slot];
    b[slot] = i + 1;
    pco_limit_lru_push(t, nd, i);
    t->used++;
    return &nd[i];
}

pco_limit_node_t *
pco_limit_table_node(pco_limit_table_t *t, uint32_t index)
{
    if (index >= t->nnodes) {
        return NULL;
    }
    return &pco_limit_nodes(t)[index];
}

uint32_t
pco_limit_table_index(pco_limit_table_t *t, const pco_limit_node_t *node)
{
    return (uint32_t) (node - pco_limit_nodes(t));
}

pco_limit_node_t *
pco_limit_table_lru(pco_limit_table_t *t)
{
    if (t->tail == 0 || t->tail > t->nnodes) {
        return NULL;
    }
    return &pco_limit_nodes(t)[t->tail - 1];
}

/* ---- GCRA ---- */

int
pco_gcra_init(pco_gcra_t *g, int64_t count, int64_t period_ms, int64_t burst)
{
    if (count <= 0 || period_ms <= 0 || burst < 0) {
        return PCO_ERROR;
    }
    g->interval = period_ms * 1000 / count;
    if (g->interval <= 0) {
        return PCO_ERROR;
    }
    g->tolerance = burst * g->interval;
    return PCO_OK;
}

bool
pco_gcra_admit(const pco_gcra_t *g, int64_t *tat, int64_t now, int64_t *wait,
               int64_t *excess_milli)
{
    int64_t  t = *tat > now ? *tat : now;

    if (t - now > g->tolerance) {
        /* admitted again once t - now' <= tolerance */
        *wait = t - g->tolerance - now;
        *excess_milli = (t - now) * 1000 / g->interval;
        return false;
    }
    *tat = t + g->interval;
    *wait = 0;
    *excess_milli = 0;
    return true;
}

int64_t
pco_gcra_retry_after(int64_t wait)
{
    int64_t  s = (wait + 999999) / 1000000;

    return s < 1 ? 1 : s;
}

uint64_t
pco_limit_seed(void)
{
    uint64_t         seed = 0;
    struct timespec  ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t) sizeof(seed)) {
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t) ts.tv_sec << 32) ^ (uint64_t) ts.tv_nsec ^ (uint64_t) getpid();
    }
    return seed;
}

bool
pco_limit_name_valid(const pco_str_t *s)
{
    size_t  i;

    if (s->data == NULL || s->len == 0 || s->len > 64) {
        return false;
    }
    for (i = 0; i < s->len; i++) {
        u_char ch = s->data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || ch == '_' || ch == '-' || ch == '.'))
        {
            return false;
        }
    }
    return true;
}
