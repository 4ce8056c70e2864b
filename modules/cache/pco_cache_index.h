/*
 * pco_cache_index.h: a cache zone's index, kept in the zone's own shared mapping
 * (`keys_size` bytes) so that every worker and both cache helpers see every entry. Pure code
 * over a block of memory (the zone in the server, malloc'ed memory in the unit tests): no
 * allocation, no file I/O; the only system calls are the robust mutex and kill(pid, 0) for
 * a lock whose holder may be gone.
 *
 * Layout: a header (magic, the zone path's hash, robust lock, counts, LRU ends), a bucket
 * array of power-of-two size, a fixed array of nodes. A node is one of:
 *   an entry    a stored response: its file is DIR/levels/<hex of key> (pco_cache_key.h),
 *               with its size, freshness facts, status and the start of its key text;
 *   a marker    the response under this key varies (Vary): the node holds the canonical
 *               Vary names, and the entries are stored under variant keys, whose `main`
 *               is this key;
 *   a lock      a miss is being fetched (lock = true): the key has no entry yet, a
 *               request of process lock_pid holds the right to fetch it until lock_until.
 * A key may be an entry (or marker) and locked at once (an expired entry being refreshed).
 *
 * Eviction: when every node is used, the least recently used node that is not locked is
 * recycled (an entry's file must then be unlinked by the caller: pco_cache_index_insert
 * reports it). The manager removes what is inactive or over max_size, least recently used
 * first. Every walk is bounded by the node count.
 *
 * Locking: every function takes the zone's robust mutex for the time of a few node
 * updates; when a holder died inside the critical section the buckets, free list and LRU
 * list are rebuilt from the nodes, so a kill -9 at any instruction leaves a usable index.
 */
#ifndef PCO_CACHE_INDEX_H
#define PCO_CACHE_INDEX_H

#include "pco_core.h"
#include "pco_shm.h"
#include "pco_cache_key.h"

#define PCO_CACHE_VARY_MAX   80     /* canonical Vary names kept in a marker (longer: not
                                       stored) */
#define PCO_CACHE_TEXT_MAX   96     /* key text bytes kept for wildcard purges */

enum {
    PCO_CACHE_NODE_ENTRY  = 0x01,
    PCO_CACHE_NODE_MARKER = 0x02
};

/* What the index knows of a key (copied in and out; no pointer into the zone escapes). */
typedef struct {
    pco_cache_key_t   key;
    pco_cache_key_t   main;             /* the key a variant belongs to (= key otherwise) */
    unsigned          kind;             /* PCO_CACHE_NODE_ENTRY or _MARKER, 0: lock only */
    unsigned          status;
    uint64_t          body_len;
    uint64_t          file_size;        /* bytes on disk (header + body) */
    /* freshness facts (pco_cache_fresh_t, flattened) */
    int64_t           response_time;
    int64_t           lifetime;
    int64_t           initial_age;
    int64_t           stale_while_revalidate;   /* -1: none */
    int64_t           stale_if_error;           /* -1: none */
    bool              no_stale;
    int64_t           last_access;      /* seconds (wall clock), for `inactive` */
    uint32_t          text_len;         /* the whole key text's length */
    u_char            text[PCO_CACHE_TEXT_MAX];  /* its first bytes */
    uint32_t          vary_len;         /* markers */
    u_char            vary[PCO_CACHE_VARY_MAX];
    /* set by the index: a new value each time the key's entry is stored or refreshed, so
     * that a worker holding the entry's file open knows when it changed */
    uint64_t          stamp;
    /* the fetch lock (lookups report it; only the lock functions change it) */
    int32_t           lock_pid;         /* 0: not locked */
    int64_t           lock_until;       /* msec, pco_current_msec's clock */
} pco_cache_meta_t;

typedef struct pco_cache_index_s pco_cache_index_t;

/* Totals (read under the lock, for the manager and the status figures). */
typedef struct {
    uint64_t   entries;                 /* entry nodes */
    uint64_t   nodes;                   /* nodes used, of every kind */
    uint64_t   capacity;                /* nodes in all */
    uint64_t   bytes;                   /* sum of entries' file_size */
    uint64_t   evictions;               /* nodes recycled because the index was full */
    bool       loaded;                  /* the loader has finished */
} pco_cache_index_stats_t;

/* Bytes needed for at least n nodes (tests size their blocks with it). */
size_t pco_cache_index_size_for(size_t n);

/*
 * Formats mem (size bytes) as an index for the zone at path_hash; NULL when size is too
 * small for 16 nodes. pco_cache_index_attach instead reuses an index a previous generation
 * formatted (a reload that keeps the zone): NULL when mem does not hold a valid index of
 * that size for that path (the caller then formats it fresh).
 */
pco_cache_index_t *pco_cache_index_init(void *mem, size_t size, uint64_t path_hash);
pco_cache_index_t *pco_cache_index_attach(void *mem, size_t size, uint64_t path_hash);

/*
 * Finds key: true with *m filled, and the node made the most recently used with
 * last_access = now_sec when touch is true; false when absent. A lock-only node is found
 * too (kind 0).
 */
bool pco_cache_index_lookup(pco_cache_index_t *idx, const pco_cache_key_t *key,
                            int64_t now_sec, bool touch, pco_cache_meta_t *m);

/*
 * Stores m under m->key (an entry or a marker), replacing what the key held (its lock is
 * kept; a replaced entry's file was overwritten by the rename that stored the new one, as
 * the file is named after the key). When the index is full the least recently used
 * unlocked node is recycled: if it was an entry, *evicted is filled and *had_evicted set
 * (the caller unlinks its file); evictions are counted. PCO_OK, or PCO_ERROR when every
 * node is locked.
 */
int pco_cache_index_insert(pco_cache_index_t *idx, const pco_cache_meta_t *m,
                           pco_cache_meta_t *evicted, bool *had_evicted);

/* Like insert, but only when the key is absent (the loader: a worker's newer entry wins).
 * A lock-only key counts as absent (the fetching worker's entry will replace this one).
 * PCO_OK (inserted), PCO_DECLINED (present), PCO_ERROR (full of locked nodes). */
int pco_cache_index_insert_new(pco_cache_index_t *idx, const pco_cache_meta_t *m,
                               pco_cache_meta_t *evicted, bool *had_evicted);

/* Refreshes an entry's freshness facts (a 304 revalidated it): response_time, lifetime,
 * initial_age, stale windows, no_stale from m. false when key is no longer an entry. */
bool pco_cache_index_refresh(pco_cache_index_t *idx, const pco_cache_meta_t *m);

/* Removes key (entry or marker; a lock on it is kept as a lock-only node). true with *m
 * filled when it was an entry or marker. */
bool pco_cache_index_remove(pco_cache_index_t *idx, const pco_cache_key_t *key,
                            pco_cache_meta_t *m);

/*
 * Removes the entries whose main key is main (the variants of a marker), at most max of
 * them per call, into out; returns how many. Call until it returns less than max. An
 * entry stored under main itself is not a variant (pco_cache_index_remove takes it); a
 * locked variant stays as a lock-only node.
 */
size_t pco_cache_index_remove_variants(pco_cache_index_t *idx, const pco_cache_key_t *main,
                                       pco_cache_meta_t *out, size_t max);

/*
 * Wildcard purge: removes entries and markers whose key text starts with prefix[0..len),
 * at most max per call, into out; returns how many were removed. Nodes whose stored text
 * is shorter than len (text_len > PCO_CACHE_TEXT_MAX) but matches as far as it goes are
 * not removed: they are returned in unsure (at most max_unsure, count in *nunsure) for the
 * caller to check against the file's key text and remove with pco_cache_index_remove.
 * *cursor (start at 0) lets a caller continue a walk in further calls; it is set to the
 * node count when the walk is over.
 */
size_t pco_cache_index_purge_prefix(pco_cache_index_t *idx, const u_char *prefix, size_t len,
                                    uint32_t *cursor, pco_cache_meta_t *out, size_t max,
                                    pco_cache_meta_t *unsure, size_t max_unsure,
                                    size_t *nunsure);

/*
 * The manager's pass: removes up to max entries, least recently used first, while the
 * entries' bytes exceed max_bytes (0: no limit) or the least recently used entry was last
 * accessed at or before now_sec - inactive_sec (inactive_sec 0: never). Locked entries are
 * skipped. Removed entries are copied to out (the caller unlinks their files); returns
 * how many. A marker not accessed for inactive_sec goes too, reported with its kind
 * (PCO_CACHE_NODE_MARKER: no file of its own); markers are skipped while only max_bytes
 * is exceeded.
 */
size_t pco_cache_index_expire(pco_cache_index_t *idx, int64_t now_sec, int64_t inactive_sec,
                              uint64_t max_bytes, pco_cache_meta_t *out, size_t max);

/*
 * The fetch lock of key (lock = true): PCO_OK when taken by pid until now_msec +
 * timeout_msec (creating a lock-only node when the key is absent), PCO_BUSY when another
 * live process holds it (*holder_until then tells until when), PCO_ERROR when no node
 * could be had. A lock whose time is over, or whose holder is not a live process
 * (kill(pid, 0) fails with ESRCH), is taken over. pid == the holder's pid renews it.
 * When the index is full the lock-only node recycles the least recently used unlocked
 * node as insert does; an entry evicted so cannot be reported here, so its key is kept for
 * pco_cache_index_orphans.
 */
#define PCO_BUSY  (-10)
int pco_cache_index_lock(pco_cache_index_t *idx, const pco_cache_key_t *key, int32_t pid,
                         int64_t now_msec, int64_t timeout_msec, int64_t *holder_until);
/* Releases key's lock if pid holds it; a lock-only node then goes away. */
void pco_cache_index_unlock(pco_cache_index_t *idx, const pco_cache_key_t *key, int32_t pid);
/* Releases every lock pid holds (the master, when a worker died). */
void pco_cache_index_unlock_pid(pco_cache_index_t *idx, int32_t pid);
/*
 * The keys of entries pco_cache_index_lock evicted (the newest 128 are kept), at most max
 * per call, into out; returns how many. A key stored again since is left out (the file is
 * the new entry's). The manager unlinks their files on each pass.
 */
size_t pco_cache_index_orphans(pco_cache_index_t *idx, pco_cache_key_t *out, size_t max);

/* Totals; the loader marks its end with pco_cache_index_set_loaded. */
void pco_cache_index_stats(pco_cache_index_t *idx, pco_cache_index_stats_t *st);
void pco_cache_index_set_loaded(pco_cache_index_t *idx, bool loaded);

/* True at most once a minute per zone (now_msec): whether to warn that the index is full
 * (evictions happened since the last warning). */
bool pco_cache_index_warn_due(pco_cache_index_t *idx, int64_t now_msec);

#endif
