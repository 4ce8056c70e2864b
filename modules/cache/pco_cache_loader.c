/*
 * pco_cache_loader.c: the "cache loader" helper process. At start, and whenever it is
 * respawned or replaced on reload, it walks the directory of every zone,
 * DIR/<level 1>/<level 2>/<32 hex digits>, reads the header of each file and inserts the
 * valid entries into the zone's shared index with pco_cache_index_insert_new, so that an
 * entry a worker stored meanwhile (newer) wins. A file with Vary names is a variant: the
 * marker of its main key (the hash of its key text) is inserted too. Files that are not a
 * valid entry of the key they are named after (corrupt, truncated, wrong size, wrong
 * folder) are unlinked, and so are temporary files in DIR/tmp older than a minute (a worker
 * that died while storing left them). Then the index is marked loaded and the process
 * stays idle: core respawns a helper that ends, and a respawned loader would walk again.
 *
 * The walk never holds the event loop for long: a timer runs it in slices of at most
 * PCO_CACHE_LOADER_SLICE directory entries, so signals (TERM, QUIT, reopen) are seen
 * between slices. Zones are walked one after the other, each ending with one notice line.
 * Shared state touched: the zones' indexes (under their own locks).
 */
#include "pco_cache.h"
#include "pco_process.h"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#define PCO_CACHE_LOADER_SLICE     256      /* directory entries per timer tick */
#define PCO_CACHE_LOADER_TMP_AGE   60       /* seconds: older temporary files are stale */
#define PCO_CACHE_LOADER_BUF       4096     /* the first read of a file: most headers fit */
#define PCO_CACHE_LOADER_LOG_MAX   20       /* removals logged one by one per zone and walk */
#define PCO_CACHE_LOADER_LEVELS    2        /* pco_cache_zone_t.levels */

/* The walk of one zone: the open folders from DIR down to the current one. */
typedef struct {
    pco_cache_zone_t   *z;
    pco_cache_index_t  *idx;
    DIR                *dirs[PCO_CACHE_LOADER_LEVELS + 1];
    size_t              plen[PCO_CACHE_LOADER_LEVELS + 1];   /* path length per depth */
    size_t              depth;          /* open folders; 0 before the walk starts */
    bool                in_tmp;         /* dirs[1] is DIR/tmp */
    bool                started;        /* DIR was opened (or failed to) */
    char                path[PATH_MAX];
    unsigned            loaded;         /* valid entries (inserted or already present) */
    unsigned            removed;        /* files unlinked */
    uint64_t            evictions;      /* the index's count when the walk started */
    pco_msec_t          start;
} pco_cache_loader_zone_t;

typedef struct {
    pco_cache_loader_zone_t  *zones;
    size_t                    nzones;
    size_t                    cur;      /* the zone being walked */
    pco_event_t               timer;
    u_char                   *buf;      /* PCO_CACHE_LOADER_BUF bytes */
} pco_cache_loader_t;

static pco_cache_loader_t  pco_cache_loader;

/* Logs a removal (the first few of a walk one by one; the summary counts them all). */
static void
pco_cache_loader_removed(pco_cache_loader_zone_t *lz, const char *name, const char *why)
{
    if (lz->removed++ < PCO_CACHE_LOADER_LOG_MAX) {
        pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "cache \"%.*s\": removed %s/%s: %s",
                    (int) lz->z->name.len, (const char *) lz->z->name.data, lz->path, name,
                    why);
    }
}

/* Unlinks dfd/name when it is still the file that was examined (st): a worker may have
 * renamed a fresh entry over it since. */
static void
pco_cache_loader_unlink(pco_cache_loader_zone_t *lz, int dfd, const char *name,
                        const struct stat *st, const char *why)
{
    struct stat  now;

    if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_ino != st->st_ino
        || now.st_dev != st->st_dev)
    {
        return;
    }
    if (unlinkat(dfd, name, 0) != 0) {
        if (errno != ENOENT) {
            pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": unlink(\"%s/%s\") "
                        "failed", (int) lz->z->name.len, (const char *) lz->z->name.data,
                        lz->path, name);
        }
        return;
    }
    pco_cache_loader_removed(lz, name, why);
}

/* Unlinks the file of an entry the index recycled to make room (the index was full). */
static void
pco_cache_loader_evicted(pco_cache_loader_zone_t *lz, const pco_cache_meta_t *m)
{
    char  path[PATH_MAX];

    if (m->kind == PCO_CACHE_NODE_ENTRY
        && pco_cache_key_path(path, sizeof(path), &lz->z->dir, lz->z->levels,
                              PCO_CACHE_LOADER_LEVELS, &m->key) > 0
        && unlink(path) != 0 && errno != ENOENT)
    {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": unlink(\"%s\") failed",
                    (int) lz->z->name.len, (const char *) lz->z->name.data, path);
    }
}

static void
pco_cache_loader_insert(pco_cache_loader_zone_t *lz, const pco_cache_meta_t *m)
{
    pco_cache_meta_t  evicted;
    bool              had = false;

    (void) pco_cache_index_insert_new(lz->idx, m, &evicted, &had);
    if (had) {
        pco_cache_loader_evicted(lz, &evicted);
    }
}

/* Inserts the valid entry e (a file of st_size bytes) and, for a variant, its marker.
 * false when the entry cannot be kept (its Vary names do not fit a marker). */
static bool
pco_cache_loader_add(pco_cache_loader_zone_t *lz, const pco_cache_entry_t *e, off_t size)
{
    pco_cache_meta_t  m, marker;

    if (e->vary.len > PCO_CACHE_VARY_MAX) {
        return false;
    }
    memset(&m, 0, sizeof(m));
    m.key = e->key;
    m.main = e->key;
    m.kind = PCO_CACHE_NODE_ENTRY;
    m.status = e->status;
    m.body_len = e->body_len;
    m.file_size = (uint64_t) size;
    pco_cache_meta_set_fresh(&m, &e->fresh);
    /* when the entry was last used before the restart is unknown (the file's time is when
     * it was stored): `inactive` counts from now */
    m.last_access = (int64_t) pco_time_sec;
    m.text_len = (uint32_t) e->key_text.len;
    memcpy(m.text, e->key_text.data, pco_min(e->key_text.len, (size_t) PCO_CACHE_TEXT_MAX));

    if (e->vary.len > 0) {
        if (pco_cache_key_hash(&m.main, &e->key_text) != PCO_OK) {
            return true;                    /* OpenSSL failed: leave the file alone */
        }
        memset(&marker, 0, sizeof(marker));
        marker.key = m.main;
        marker.main = m.main;
        marker.kind = PCO_CACHE_NODE_MARKER;
        marker.last_access = m.last_access;
        marker.text_len = m.text_len;
        memcpy(marker.text, m.text, sizeof(m.text));
        marker.vary_len = (uint32_t) e->vary.len;
        memcpy(marker.vary, e->vary.data, e->vary.len);
        pco_cache_loader_insert(lz, &marker);
    }
    pco_cache_loader_insert(lz, &m);
    lz->loaded++;
    return true;
}

/*
 * Reads and parses the header of fd (a file of size bytes) into e: PCO_OK when it is a
 * valid header, PCO_DECLINED when it is not (*why says how), PCO_ERROR when it could not
 * be read (the file is then left alone). e's strings point into buf or, for a header
 * longer than buf, into *big (malloc'ed; the caller frees it).
 */
static int
pco_cache_loader_read(int fd, off_t size, pco_cache_entry_t *e, u_char *buf, u_char **big,
                      const char **why)
{
    ssize_t  n, more;
    int      rc;

    *big = NULL;
    n = pread(fd, buf, PCO_CACHE_LOADER_BUF, 0);
    if (n < 0) {
        return PCO_ERROR;
    }
    rc = pco_cache_entry_parse(e, buf, (size_t) n);
    if (rc == PCO_AGAIN && e->header_len > (size_t) n && (off_t) e->header_len <= size) {
        /* a long header (many stored headers): read the rest of it */
        *big = malloc(e->header_len);
        if (*big == NULL) {
            return PCO_ERROR;
        }
        memcpy(*big, buf, (size_t) n);
        more = pread(fd, *big + n, e->header_len - (size_t) n, n);
        if (more < 0) {
            return PCO_ERROR;
        }
        rc = pco_cache_entry_parse(e, *big, (size_t) (n + more));
    }
    if (rc == PCO_OK) {
        return PCO_OK;
    }
    *why = rc == PCO_AGAIN ? "truncated" : "not a valid cache entry";
    return PCO_DECLINED;
}

/* Whether name is the file an entry of e's key would have in the folder being walked. */
static bool
pco_cache_loader_placed(pco_cache_loader_zone_t *lz, const char *name,
                        const pco_cache_entry_t *e)
{
    char     want[PATH_MAX];
    ssize_t  n;
    size_t   dlen = lz->plen[lz->depth - 1];

    n = pco_cache_key_path(want, sizeof(want), &lz->z->dir, lz->z->levels,
                           PCO_CACHE_LOADER_LEVELS, &e->key);
    return n > 0 && (size_t) n == dlen + 1 + strlen(name)
           && memcmp(want, lz->path, dlen) == 0 && want[dlen] == '/'
           && strcmp(want + dlen + 1, name) == 0;
}

/* One file in a level folder: loaded when valid, unlinked when not. */
static void
pco_cache_loader_file(pco_cache_loader_zone_t *lz, int dfd, const char *name)
{
    pco_cache_entry_t  e;
    pco_cache_key_t    key;
    struct stat        st;
    const char        *why = NULL;
    u_char            *big = NULL;
    int                fd, rc;

    fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT && errno != ELOOP) {      /* gone meanwhile; a symlink: ignored */
            pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": open(\"%s/%s\") "
                        "failed", (int) lz->z->name.len, (const char *) lz->z->name.data,
                        lz->path, name);
        }
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return;                             /* not a regular file: not ours */
    }
    if (!pco_cache_key_from_hex(&key, (const u_char *) name, strlen(name))) {
        rc = PCO_DECLINED;
        why = "not a cache file name";
    } else {
        rc = pco_cache_loader_read(fd, st.st_size, &e, pco_cache_loader.buf, &big, &why);
    }
    if (rc == PCO_OK) {
        if (memcmp(e.key.md, key.md, sizeof(key.md)) != 0) {
            rc = PCO_DECLINED;
            why = "the key in the file differs from its name";
        } else if (!pco_cache_entry_size_ok(&e, (uint64_t) st.st_size)) {
            rc = PCO_DECLINED;
            why = "truncated or wrong size";
        } else if (!pco_cache_loader_placed(lz, name, &e)) {
            rc = PCO_DECLINED;
            why = "in the wrong folder";
        } else if (!pco_cache_loader_add(lz, &e, st.st_size)) {
            rc = PCO_DECLINED;
            why = "Vary names too long";
        }
    } else if (rc == PCO_ERROR) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": reading \"%s/%s\" failed",
                    (int) lz->z->name.len, (const char *) lz->z->name.data, lz->path, name);
    }
    free(big);
    close(fd);
    if (rc == PCO_DECLINED) {
        pco_cache_loader_unlink(lz, dfd, name, &st, why);
    }
}

/* One entry of DIR/tmp: a temporary file older than a minute belongs to no store in
 * progress (a store takes at most the upstream's timeouts, and its worker renames or
 * removes it): unlinked. */
static void
pco_cache_loader_tmp(pco_cache_loader_zone_t *lz, int dfd, const char *name)
{
    struct stat  st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    if (st.st_mtime <= pco_time_sec - PCO_CACHE_LOADER_TMP_AGE) {
        pco_cache_loader_unlink(lz, dfd, name, &st, "stale temporary file");
    }
}

/* Whether name is a level folder's name at depth (level depth - 1): that many hex digits. */
static bool
pco_cache_loader_level_name(const pco_cache_loader_zone_t *lz, const char *name,
                            size_t depth)
{
    size_t  i, len = strlen(name);

    if (len != lz->z->levels[depth - 1]) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Opens the folder dfd/name as the next depth (a missing or non-folder name is skipped). */
static void
pco_cache_loader_push(pco_cache_loader_zone_t *lz, int dfd, const char *name)
{
    size_t  len = lz->plen[lz->depth - 1], nlen = strlen(name);
    DIR    *d;
    int     fd;

    if (len + 1 + nlen >= sizeof(lz->path)) {
        return;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
            pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": open(\"%s/%s\") "
                        "failed", (int) lz->z->name.len, (const char *) lz->z->name.data,
                        lz->path, name);
        }
        return;
    }
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    lz->path[len] = '/';
    memcpy(lz->path + len + 1, name, nlen + 1);
    lz->dirs[lz->depth] = d;
    lz->plen[lz->depth] = len + 1 + nlen;
    lz->depth++;
}

static void
pco_cache_loader_pop(pco_cache_loader_zone_t *lz)
{
    lz->depth--;
    closedir(lz->dirs[lz->depth]);
    lz->dirs[lz->depth] = NULL;
    if (lz->depth > 0) {
        lz->path[lz->plen[lz->depth - 1]] = '\0';
    }
    if (lz->depth <= 1) {
        lz->in_tmp = false;
    }
}

/* Opens DIR. false when it cannot be walked (logged). */
static bool
pco_cache_loader_open(pco_cache_loader_zone_t *lz)
{
    pco_cache_zone_t         *z = lz->z;

    pco_cache_index_stats_t   st;

    pco_cache_index_stats(lz->idx, &st);
    lz->evictions = st.evictions;
    lz->start = pco_current_msec;
    if (z->dir.len >= sizeof(lz->path)) {
        return false;
    }
    memcpy(lz->path, z->dir.data, z->dir.len);
    lz->path[z->dir.len] = '\0';
    lz->plen[0] = z->dir.len;
    lz->dirs[0] = opendir(lz->path);
    if (lz->dirs[0] == NULL) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "cache \"%.*s\": opendir(\"%s\") failed",
                    (int) z->name.len, (const char *) z->name.data, lz->path);
        return false;
    }
    lz->depth = 1;
    return true;
}

/* One directory entry of the walk. false when the zone's walk is over. */
static bool
pco_cache_loader_step(pco_cache_loader_zone_t *lz)
{
    struct dirent  *de;
    DIR            *d;
    int             dfd;

    if (lz->depth == 0) {
        return false;
    }
    d = lz->dirs[lz->depth - 1];
    de = readdir(d);
    if (de == NULL) {
        pco_cache_loader_pop(lz);
        return lz->depth > 0;
    }
    if (de->d_name[0] == '.') {
        return true;                        /* ".", "..", and nothing we write */
    }
    dfd = dirfd(d);
    if (lz->in_tmp) {
        pco_cache_loader_tmp(lz, dfd, de->d_name);
    } else if (lz->depth == 1 && strcmp(de->d_name, "tmp") == 0) {
        pco_cache_loader_push(lz, dfd, de->d_name);
        lz->in_tmp = lz->depth == 2;
    } else if (lz->depth <= PCO_CACHE_LOADER_LEVELS) {
        if (pco_cache_loader_level_name(lz, de->d_name, lz->depth)) {
            pco_cache_loader_push(lz, dfd, de->d_name);
        }
    } else {
        pco_cache_loader_file(lz, dfd, de->d_name);
    }
    return true;
}

/* The zone's walk is over: mark its index loaded and say what was done. */
static void
pco_cache_loader_done(pco_cache_loader_zone_t *lz)
{
    pco_cache_index_stats_t  st;

    pco_cache_index_set_loaded(lz->idx, true);
    pco_cache_index_stats(lz->idx, &st);
    if (st.evictions > lz->evictions) {
        /* the least recently used entries made room for the others: their files are gone */
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "cache \"%.*s\": keys_size is too small for "
                    "the entries on disk: %" PRIu64 " entries dropped while loading",
                    (int) lz->z->name.len, (const char *) lz->z->name.data,
                    st.evictions - lz->evictions);
    }
    pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "cache \"%.*s\": %u entries loaded, %u invalid "
                "files removed in %" PRIu64 " ms", (int) lz->z->name.len,
                (const char *) lz->z->name.data, lz->loaded, lz->removed,
                (uint64_t) (pco_current_msec - lz->start));
}

/* The timer: one slice of the walk, then the next tick 1 ms later (a timer due at once
 * would run again in the same pass of the loop, before it looks at signals) until every
 * zone is done. */
static void
pco_cache_loader_tick(pco_event_t *ev)
{
    pco_cache_loader_t       *ld = ev->data;
    pco_cache_loader_zone_t  *lz;
    unsigned                  n;

    for (n = 0; n < PCO_CACHE_LOADER_SLICE && ld->cur < ld->nzones; n++) {
        lz = &ld->zones[ld->cur];
        if (!lz->started) {
            lz->started = true;
            if (!pco_cache_loader_open(lz)) {
                ld->cur++;
            }
            continue;
        }
        if (!pco_cache_loader_step(lz)) {
            pco_cache_loader_done(lz);
            ld->cur++;
        }
    }
    if (ld->cur < ld->nzones && !pco_worker_exiting) {
        pco_event_add_timer(ev, 1);
    }
}

int
pco_cache_loader_init(pco_cycle_t *cycle)
{
    pco_cache_loader_t  *ld = &pco_cache_loader;
    pco_cache_zone_t    *zones;
    size_t               i, n;

    n = pco_cache_zones(cycle, &zones);
    ld->zones = pco_pcalloc(cycle->pool, n * sizeof(pco_cache_loader_zone_t) + 1);
    ld->buf = pco_pnalloc(cycle->pool, PCO_CACHE_LOADER_BUF);
    if (ld->zones == NULL || ld->buf == NULL) {
        return PCO_ERROR;
    }
    ld->nzones = 0;
    for (i = 0; i < n; i++) {
        if (zones[i].zone != NULL && zones[i].zone->data != NULL) {     /* has its index */
            ld->zones[ld->nzones].z = &zones[i];
            ld->zones[ld->nzones].idx = pco_cache_zone_index(&zones[i]);
            ld->nzones++;
        }
    }
    ld->cur = 0;
    ld->timer.data = ld;
    ld->timer.handler = pco_cache_loader_tick;
    ld->timer.cancelable = 1;
    pco_event_add_timer(&ld->timer, 0);
    return PCO_OK;
}
