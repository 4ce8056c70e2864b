/*
 * pco_cache.h: internals shared by the cache module's files (not a public API).
 *
 *   pco_cache.c          settings, conf_done (zones, handlers, filters, variables,
 *                        counters, helpers), the zone init
 *   pco_cache_lookup.c   PRECONTENT: key, PURGE, lookup, fetch lock, what to do
 *   pco_cache_purge.c    PURGE, of a key or a key prefix
 *   pco_cache_serve.c    answers from an entry file (headers, Age, 304, Range, HEAD, sendfile)
 *   pco_cache_open.c     the entries each worker keeps open (no file read on a repeat hit)
 *   pco_cache_store.c    header and body filters: store a proxied response, serve stale on
 *                        upstream errors, store what a refresh behind a stale answer got
 *   pco_cache_refresh.c  an entry renewed by a 304
 *   pco_cache_loader.c   the "cache loader" helper: entries on disk into the index
 *   pco_cache_manager.c  the "cache manager" helper: max_size and inactive
 *   pco_cache_index.c    the shared index (pco_cache_index.h)
 *   pco_cache_control.c, pco_cache_key.c, pco_cache_entry.c: pure building blocks
 */
#ifndef PCO_CACHE_H
#define PCO_CACHE_H

#include "pco_http.h"
#include "pco_event.h"
#include "pco_access.h"
#include "pco_cache_control.h"
#include "pco_cache_key.h"
#include "pco_cache_entry.h"
#include "pco_cache_index.h"

extern pco_module_t pco_cache_module;

/* use_stale bits (not the pco_cache_stale_e reasons of pco_cache_control.h) */
#define PCO_CACHE_STALE_ON_ERROR    0x01
#define PCO_CACHE_STALE_ON_TIMEOUT  0x02
#define PCO_CACHE_STALE_ON_500      0x04
#define PCO_CACHE_STALE_ON_502      0x08
#define PCO_CACHE_STALE_ON_503      0x10
#define PCO_CACHE_STALE_ON_504      0x20
#define PCO_CACHE_STALE_ON_UPDATING 0x40

/* One element of `caches`: a zone. */
typedef struct {
    pco_str_t            name;
    pco_str_t            path;               /* as written (prefix-relative or absolute) */
    int64_t              max_size;           /* bytes on disk, 0: no limit */
    pco_msec_t           inactive;           /* unused for this long: removed */
    int64_t              keys_size;          /* the index zone */
    pco_access_list_t    purge;              /* who may PURGE: empty, or no rule matching,
                                                is nobody */
    /* settled at conf_done */
    pco_str_t            dir;                /* absolute path, no trailing '/' */
    pco_shm_zone_t      *zone;
    unsigned             levels[2];          /* 1:2 */
    /* counters (ids) */
    int                  c_hit, c_miss, c_expired, c_stale, c_updating, c_revalidated,
                         c_bypass, c_bytes, c_entries, c_disk, c_evictions;
} pco_cache_zone_t;

/* One element of a route's `valid`. */
typedef struct {
    pco_int_list_t       status;
    pco_msec_t           time;
} pco_cache_valid_t;

/* The route's `cache` group. */
typedef struct {
    pco_str_t            zone_name;          /* `zone` */
    pco_str_t            key;
    pco_conf_list_t      valid;              /* pco_cache_valid_t */
    pco_str_list_t       use_stale;
    bool                 lock;
    pco_msec_t           lock_timeout;
    bool                 store_set_cookie;
    /* settled at conf_done */
    pco_cache_zone_t    *zone;
    pco_http_template_t *key_tpl;
    unsigned             stale;              /* PCO_CACHE_STALE_* */
} pco_cache_route_t;

typedef struct {
    pco_conf_list_t      caches;             /* top: pco_cache_zone_t */
    pco_cache_route_t    route;              /* route: `cache`; zone_name empty = none */
    bool                 route_set;
} pco_cache_conf_t;

/* The index of a zone in this process (the zone's data). */
static inline pco_cache_index_t *
pco_cache_zone_index(pco_cache_zone_t *z)
{
    return z->zone->data;
}

/*
 * The time freshness is judged at. Entries keep whole seconds, so an age is off by up to
 * a second either way; judging one second back makes an entry fresh for at least its
 * lifetime (a max-age=1 response is not stale a millisecond after it was stored) and at
 * most a second more, as nginx's whole-second expiry does. Age headers use the real time.
 */
static inline time_t
pco_cache_fresh_now(void)
{
    return pco_time_sec - 1;
}

/* What the lookup decided. */
typedef enum {
    PCO_CACHE_ACT_NONE = 0,     /* not cached: the route has no cache, or a method we skip */
    PCO_CACHE_ACT_FETCH,        /* go upstream (MISS, EXPIRED, BYPASS): store if allowed */
    PCO_CACHE_ACT_SERVE         /* answered from the entry */
} pco_cache_act_e;

/* Per request (r->pool). */
typedef struct pco_cache_ctx_s  pco_cache_ctx_t;
typedef struct pco_cache_open_s pco_cache_open_t;

struct pco_cache_ctx_s {
    pco_http_request_t  *r;
    pco_cache_route_t   *rc;
    pco_cache_zone_t    *z;
    pco_str_t            key_text;           /* the evaluated key */
    pco_cache_key_t      main;               /* hash of key_text */
    pco_cache_key_t      key;                /* the entry's key (variant or main) */
    pco_cache_req_t      req;                /* request Cache-Control */
    pco_cache_status_t   status;             /* the outcome, for headers and logs */
    pco_cache_act_e      act;
    pco_cache_meta_t     meta;               /* the entry the index gave */
    /* the fetch */
    bool                 locked;             /* this request holds the fetch lock */
    pco_cache_ctx_t     *lock_next;          /* this worker's requests holding locks */
    pco_cache_ctx_t     *lock_prev;
    bool                 revalidating;       /* conditional headers of ours went upstream */
    bool                 stale_ok_error;     /* the entry may stand in for an upstream error */
    bool                 may_store;          /* not bypassed (request no-store) */
    bool                 background;         /* the client was answered stale: the fetch
                                                refreshes the entry behind it */
    bool                 bg_head;            /* the background response's head was seen */
    /* the client's conditionals and range, saved before a fetch drops them (ours then
     * replace them upstream) */
    bool                 cond_saved;
    pco_str_t            if_none_match;
    pco_str_t            if_modified_since;
    pco_str_t            range;
    bool                 if_range;
    /* lock wait */
    pco_event_t          wait;
    pco_msec_t           wait_until;
    /* storing (pco_cache_store.c) */
    int                  fd;                 /* the temporary file, -1 none */
    char                *tmp_path;
    char                *path;               /* where the entry goes */
    uint64_t             written;            /* body bytes written */
    pco_cache_meta_t     new_meta;
    bool                 storing;
    /* serving a stored entry in place of the upstream's response (304 refresh, stale) */
    int                  serve_fd;
    pco_cache_open_t    *open;               /* the worker's open slot serve_fd is from */
    bool                 open_cleanup;
    pco_cache_entry_t    entry;
    u_char              *entry_head;         /* the file's first bytes (entry points in) */
    size_t               entry_read;         /* how many: a small body is among them */
    bool                 swap_body;          /* the body filter replaces the upstream body */
    off_t                body_start, body_end;   /* file range of the body to send */
};

/* pco_cache_lookup.c */
int pco_cache_precontent(pco_http_request_t *r);
/* Gives the fetch lock back (the entry is stored, or nothing will be). */
void pco_cache_lock_release(pco_cache_ctx_t *ctx);
int pco_cache_purge(pco_http_request_t *r, pco_cache_ctx_t *ctx);

/*
 * pco_cache_serve.c: opens the entry file of ctx->key, reads and checks its header into
 * ctx->entry (ctx->entry_head, ctx->serve_fd; the descriptor is closed with r->pool).
 * PCO_OK, PCO_DECLINED when the file is missing or not a valid entry of that key (the
 * index entry is then removed: the caller treats it as a miss), PCO_ERROR.
 */
int pco_cache_open_entry(pco_http_request_t *r, pco_cache_ctx_t *ctx);
/*
 * Sets r's status and headers from the opened entry: the stored headers, Age (current age
 * at now), X-Cache-Status and Cache-Status from ctx->status; the client's conditionals
 * (ctx->if_none_match / if_modified_since) turn a 200 into 304; Range into 206 or 416.
 * Fills ctx->body_start/end with the file range of the body to send (end < start: none).
 * Returns the status set, or 500.
 */
int pco_cache_prepare(pco_http_request_t *r, pco_cache_ctx_t *ctx);
/* Sends the response pco_cache_prepare prepared (head, then the file range by sendfile):
 * what a content handler returns (PCO_OK, PCO_ERROR). */
int pco_cache_send(pco_http_request_t *r, pco_cache_ctx_t *ctx);
/* The headers every cache answer carries: X-Cache-Status and Cache-Status from
 * ctx->status. PCO_OK / PCO_ERROR. */
int pco_cache_status_headers(pco_http_request_t *r, pco_cache_ctx_t *ctx);
/* A chain link with the body range of the opened entry (in_file, last_buf), for the body
 * filter that swaps an upstream body for the entry's. NULL on memory failure. */
pco_chain_t *pco_cache_body_link(pco_http_request_t *r, pco_cache_ctx_t *ctx);

/* pco_cache_open.c: the entries a worker keeps open. find: true when the slot of
 * ctx->key holds the entry of ctx->meta (same stamp): ctx->entry, entry_head, entry_read
 * and serve_fd are set from it. keep: after a file was opened and read, hands serve_fd and
 * a copy of the bytes read to the slot (when small enough and the slot is free). close:
 * gives the entry up (the slot's use, or the descriptor). */
bool pco_cache_open_find(pco_http_request_t *r, pco_cache_ctx_t *ctx);
void pco_cache_open_keep(pco_http_request_t *r, pco_cache_ctx_t *ctx);
void pco_cache_close_entry(pco_cache_ctx_t *ctx);

/* pco_cache_store.c: helpers shared with pco_cache_refresh.c */
void pco_cache_resp_from_out(pco_http_request_t *r, pco_cache_resp_t *resp);
void pco_cache_resp_from_lines(const pco_str_t *lines, pco_cache_resp_t *resp);
void pco_cache_times(pco_http_request_t *r, time_t *request_time, time_t *response_time);
int64_t pco_cache_valid(pco_cache_route_t *rc, unsigned status);
int pco_cache_header_lines(pco_http_request_t *r, pco_str_t *out);
void pco_cache_unlink_evicted(pco_http_request_t *r, pco_cache_ctx_t *ctx,
                              pco_cache_meta_t *m);
/* pco_cache_refresh.c: renews ctx's opened entry from the 304 in r->out. PCO_OK/ERROR. */
int pco_cache_refresh(pco_http_request_t *r, pco_cache_ctx_t *ctx);

/* pco_cache_store.c */
/* Sets ctx->key: the main key when names (canonical Vary names) is empty, else the
 * variant of this request's values of those headers. PCO_OK / PCO_ERROR. */
int pco_cache_entry_key(pco_http_request_t *r, pco_cache_ctx_t *ctx, const pco_str_t *names);
int pco_cache_header_filter(pco_http_request_t *r);
int pco_cache_body_filter(pco_http_request_t *r, pco_chain_t *in);

/* pco_cache_loader.c / pco_cache_manager.c: the helpers' init and exit (pco_helper_t). */
int pco_cache_loader_init(pco_cycle_t *cycle);
int pco_cache_manager_init(pco_cycle_t *cycle);

/* pco_cache.c */
pco_cache_ctx_t *pco_cache_ctx(pco_http_request_t *r);
/* Every zone of the current generation. */
size_t pco_cache_zones(pco_cycle_t *cycle, pco_cache_zone_t **zones);
/* The entry path of key in zone z into r->pool (NULL: memory). */
char *pco_cache_entry_path(pco_pool_t *pool, pco_cache_zone_t *z, const pco_cache_key_t *key);
/* Fills a meta's freshness facts from f. */
void pco_cache_meta_set_fresh(pco_cache_meta_t *m, const pco_cache_fresh_t *f);
void pco_cache_meta_get_fresh(const pco_cache_meta_t *m, pco_cache_fresh_t *f);

#endif
