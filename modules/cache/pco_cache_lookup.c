/*
 * pco_cache_lookup.c: the PRECONTENT handler of cached routes. Evaluates the key, answers
 * PURGE, looks the key up in the zone's index (following a Vary marker to the variant of
 * this request), and decides:
 *   fresh entry                         -> HIT, answered here from the file;
 *   stale, the request allows it        -> STALE, answered here;
 *   stale, someone else refreshes it and stale use while updating is allowed (use_stale
 *   "updating", or the entry's own stale-while-revalidate window)
 *                                       -> UPDATING, answered here;
 *   stale otherwise                     -> EXPIRED: the proxy goes upstream with our
 *                                          validators (If-None-Match, If-Modified-Since);
 *   nothing                             -> MISS: the proxy goes upstream;
 *   request Cache-Control: no-store     -> BYPASS: upstream, nothing stored.
 * With lock = true a miss or an expired entry is fetched by one request of the whole
 * instance: the others poll the index every PCO_CACHE_LOCK_POLL ms, are answered from the
 * new entry once it is there, and go upstream themselves after lock_timeout. Whatever goes
 * upstream goes without the client's validators and Range (they are answered from the
 * stored response by the filters), so that the upstream sends a response worth storing.
 */
#include <errno.h>
#include <unistd.h>
#include "pco_cache.h"
#include "pco_log.h"
#include "pco_string.h"

#define PCO_CACHE_LOCK_POLL  20     /* ms between two looks at a lock's key */

static int pco_cache_lookup(pco_http_request_t *r, pco_cache_ctx_t *ctx);

/* ---- request headers ---- */

/* Removes every request header called name (the proxy skips headers with an empty name);
 * the first value is kept in *saved when saved is not NULL. */
static void
pco_cache_drop_header(pco_http_request_t *r, const char *name, pco_str_t *saved)
{
    size_t              len = strlen(name);
    pco_http_header_t  *h;
    unsigned            i;

    for (i = 0; i < r->head.nheaders; i++) {
        h = &r->head.headers[i];
        if (h->name.len == len && pco_mem_caseeq(h->name.data, (const u_char *) name, len)) {
            if (saved != NULL && saved->data == NULL) {
                *saved = h->value;
            }
            h->name.len = 0;
        }
    }
}

static int
pco_cache_add_header(pco_http_request_t *r, const char *name, const pco_str_t *value)
{
    pco_http_header_t  *h = pco_http_head_add(r);

    if (h == NULL) {
        return PCO_ERROR;
    }
    h->name.data = (u_char *) name;
    h->name.len = strlen(name);
    h->value = *value;
    return PCO_OK;
}

/* What goes upstream for a fetch: none of the client's validators or ranges; ours when an
 * entry is being revalidated. */
static void
pco_cache_fetch_headers(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_str_t  v;
    u_char    *p;
    pco_str_t  if_range = pco_null_string;

    ctx->cond_saved = true;
    pco_cache_drop_header(r, "If-None-Match", &ctx->if_none_match);
    pco_cache_drop_header(r, "If-Modified-Since", &ctx->if_modified_since);
    pco_cache_drop_header(r, "If-Match", NULL);
    pco_cache_drop_header(r, "If-Unmodified-Since", NULL);
    pco_cache_drop_header(r, "If-Range", &if_range);
    pco_cache_drop_header(r, "Range", &ctx->range);
    ctx->if_range = if_range.data != NULL;
    if (ctx->serve_fd < 0) {
        return;
    }
    if (ctx->entry.etag.len > 0 && pco_cache_add_header(r, "If-None-Match", &ctx->entry.etag)
                                   == PCO_OK)
    {
        ctx->revalidating = true;
    }
    if (ctx->entry.last_modified != -1) {
        p = pco_pnalloc(r->pool, 40);
        if (p != NULL) {
            v.data = p;
            v.len = pco_http_time(p, ctx->entry.last_modified);
            if (pco_cache_add_header(r, "If-Modified-Since", &v) == PCO_OK) {
                ctx->revalidating = true;
            }
        }
    }
}

/* ---- request life ---- */

static void
pco_cache_cleanup(void *data)
{
    pco_cache_ctx_t  *ctx = data;

    if (ctx->wait.timer_index) {
        pco_event_del_timer(&ctx->wait);
    }
    if (ctx->fd >= 0) {
        close(ctx->fd);
        ctx->fd = -1;
        if (ctx->tmp_path != NULL) {
            (void) unlink(ctx->tmp_path);
        }
    }
    pco_cache_close_entry(ctx);
    pco_cache_lock_release(ctx);
}

static pco_cache_ctx_t *
pco_cache_ctx_create(pco_http_request_t *r, pco_cache_route_t *rc)
{
    pco_cache_ctx_t  *ctx = pco_pcalloc(r->pool, sizeof(pco_cache_ctx_t));

    if (ctx == NULL) {
        return NULL;
    }
    ctx->r = r;
    ctx->rc = rc;
    ctx->z = rc->zone;
    ctx->fd = -1;
    ctx->serve_fd = -1;
    if (pco_pool_cleanup_add(r->pool, pco_cache_cleanup, ctx) != PCO_OK) {
        return NULL;
    }
    pco_http_set_ctx(r, ctx, &pco_cache_module);
    return ctx;
}

/* ---- outcomes ---- */

static void
pco_cache_count(pco_cache_ctx_t *ctx)
{
    pco_cache_zone_t  *z = ctx->z;
    static const size_t  off[] = {
        [PCO_CACHE_STATUS_MISS] = offsetof(pco_cache_zone_t, c_miss),
        [PCO_CACHE_STATUS_HIT] = offsetof(pco_cache_zone_t, c_hit),
        [PCO_CACHE_STATUS_EXPIRED] = offsetof(pco_cache_zone_t, c_expired),
        [PCO_CACHE_STATUS_STALE] = offsetof(pco_cache_zone_t, c_stale),
        [PCO_CACHE_STATUS_UPDATING] = offsetof(pco_cache_zone_t, c_updating),
        [PCO_CACHE_STATUS_BYPASS] = offsetof(pco_cache_zone_t, c_bypass),
        [PCO_CACHE_STATUS_REVALIDATED] = offsetof(pco_cache_zone_t, c_revalidated),
    };

    if ((unsigned) ctx->status.outcome < pco_nelems(off)) {
        pco_counter_add(*(const int *) ((const char *) z + off[ctx->status.outcome]), 1);
    }
}

/* Answers from the opened entry with outcome; what the handler returns. */
static int
pco_cache_answer(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_status_e outcome)
{
    int  rc;

    ctx->act = PCO_CACHE_ACT_SERVE;
    ctx->status.outcome = outcome;
    pco_cache_count(ctx);
    rc = pco_cache_prepare(r, ctx);
    if (rc >= 500) {
        return rc;
    }
    rc = pco_cache_send(r, ctx);
    return rc == PCO_ERROR ? PCO_ERROR : PCO_DONE;
}

/* Goes upstream (the proxy runs next) with outcome; stores unless bypassed. */
static int
pco_cache_fetch(pco_http_request_t *r, pco_cache_ctx_t *ctx, pco_cache_status_e outcome)
{
    ctx->act = PCO_CACHE_ACT_FETCH;
    ctx->status.outcome = outcome;
    ctx->may_store = outcome != PCO_CACHE_STATUS_BYPASS && r->head.method == PCO_HTTP_GET;
    if (outcome != PCO_CACHE_STATUS_BYPASS) {
        pco_cache_fetch_headers(r, ctx);
    }
    /* counted when the response is known: a 304 turns EXPIRED into REVALIDATED, an error
     * into STALE */
    return PCO_DECLINED;
}

/* ---- the lock ---- */

static void
pco_cache_wait_handler(pco_event_t *ev)
{
    pco_cache_ctx_t     *ctx = ev->data;
    pco_http_request_t  *r = ctx->r;

    ev->timedout = 0;
    pco_http_run_phases(r);
}

/*
 * The index's lock is held by a process; the requests of this worker that hold one are
 * listed here, so that a second request of the same worker for the same key waits as one
 * of another worker would.
 */
static pco_cache_ctx_t  *pco_cache_local_locks;

static bool
pco_cache_locked_here(const pco_cache_ctx_t *ctx)
{
    const pco_cache_ctx_t  *l;

    for (l = pco_cache_local_locks; l != NULL; l = l->lock_next) {
        if (l->z == ctx->z && memcmp(l->main.md, ctx->main.md, PCO_CACHE_KEY_LEN) == 0) {
            return true;
        }
    }
    return false;
}

/* Takes the fetch lock of the main key: PCO_OK (ours, or the route has no lock and this
 * is not an update), PCO_BUSY (another request fetches it), PCO_ERROR. */
static int
pco_cache_take_lock(pco_cache_ctx_t *ctx, bool always)
{
    int64_t  until;
    int      rc;

    if ((!ctx->rc->lock && !always) || ctx->locked) {
        return PCO_OK;
    }
    if (pco_cache_locked_here(ctx)) {
        return PCO_BUSY;
    }
    rc = pco_cache_index_lock(pco_cache_zone_index(ctx->z), &ctx->main, (int32_t) getpid(),
                              (int64_t) pco_current_msec, (int64_t) ctx->rc->lock_timeout,
                              &until);
    if (rc == PCO_OK) {
        ctx->locked = true;
        ctx->lock_prev = NULL;
        ctx->lock_next = pco_cache_local_locks;
        if (pco_cache_local_locks != NULL) {
            pco_cache_local_locks->lock_prev = ctx;
        }
        pco_cache_local_locks = ctx;
    }
    return rc;
}

void
pco_cache_lock_release(pco_cache_ctx_t *ctx)
{
    if (!ctx->locked) {
        return;
    }
    pco_cache_index_unlock(pco_cache_zone_index(ctx->z), &ctx->main, (int32_t) getpid());
    ctx->locked = false;
    if (ctx->lock_prev != NULL) {
        ctx->lock_prev->lock_next = ctx->lock_next;
    } else {
        pco_cache_local_locks = ctx->lock_next;
    }
    if (ctx->lock_next != NULL) {
        ctx->lock_next->lock_prev = ctx->lock_prev;
    }
    ctx->lock_next = ctx->lock_prev = NULL;
}

/* Waits for the key's fetch to end: PCO_AGAIN while it may, PCO_DECLINED when the wait is
 * over (lock_timeout) and the request goes upstream itself. */
static int
pco_cache_wait(pco_cache_ctx_t *ctx)
{
    if (ctx->wait_until == 0) {
        ctx->wait_until = pco_current_msec + ctx->rc->lock_timeout;
        ctx->wait.data = ctx;
        ctx->wait.handler = pco_cache_wait_handler;
    }
    if (pco_current_msec >= ctx->wait_until) {
        return PCO_DECLINED;
    }
    pco_event_add_timer(&ctx->wait, pco_min((pco_msec_t) PCO_CACHE_LOCK_POLL,
                                            ctx->wait_until - pco_current_msec));
    return PCO_AGAIN;
}

/* ---- lookup ---- */

/* Finds this request's entry: the main key's, or through a Vary marker the variant's.
 * true with ctx->meta filled and ctx->key set. */
static bool
pco_cache_find(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_index_t   *idx = pco_cache_zone_index(ctx->z);
    pco_str_t            names;

    ctx->key = ctx->main;
    if (!pco_cache_index_lookup(idx, &ctx->main, pco_time_sec, true, &ctx->meta)) {
        return false;
    }
    if (ctx->meta.kind != PCO_CACHE_NODE_MARKER) {
        return ctx->meta.kind == PCO_CACHE_NODE_ENTRY;
    }
    names.data = pco_pnalloc(r->pool, ctx->meta.vary_len + 1);
    if (names.data == NULL) {
        return false;
    }
    memcpy(names.data, ctx->meta.vary, ctx->meta.vary_len);
    names.len = ctx->meta.vary_len;
    if (pco_cache_entry_key(r, ctx, &names) != PCO_OK) {
        return false;
    }
    return pco_cache_index_lookup(idx, &ctx->key, pco_time_sec, true, &ctx->meta)
           && ctx->meta.kind == PCO_CACHE_NODE_ENTRY;
}

/*
 * The entry is stale, may be served while it is refreshed, and this request holds the
 * refresh: the client is answered from the entry at once (UPDATING), then the route's
 * handler (the proxy) fetches the new response behind it, with our validators; the body
 * filter stores it (or renews the entry on a 304) and drops it, and the request ends when
 * both are done (r->background).
 */
static int
pco_cache_refresh_behind(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    int  rc = pco_cache_answer(r, ctx, PCO_CACHE_STATUS_UPDATING);

    if (rc != PCO_DONE) {
        return rc;
    }
    pco_http_background_start(r);
    ctx->background = true;
    ctx->act = PCO_CACHE_ACT_FETCH;
    ctx->may_store = true;
    ctx->stale_ok_error = false;
    pco_cache_fetch_headers(r, ctx);
    return PCO_OK;
}

/* An entry was found: serve it, or go upstream to refresh it. */
static int
pco_cache_found(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    pco_cache_fresh_t  f;
    pco_cache_use_e    use;
    int                rc;
    bool               updating_ok;

    pco_cache_meta_get_fresh(&ctx->meta, &f);
    use = pco_cache_use(&f, &ctx->req, pco_cache_fresh_now());
    rc = pco_cache_open_entry(r, ctx);
    if (rc == PCO_ERROR) {
        return 500;
    }
    if (rc == PCO_DECLINED) {
        return PCO_DECLINED;     /* gone or corrupt: a miss */
    }
    if (use == PCO_CACHE_USE_FRESH) {
        return pco_cache_answer(r, ctx, PCO_CACHE_STATUS_HIT);
    }
    if (use == PCO_CACHE_USE_STALE_ALLOWED) {
        return pco_cache_answer(r, ctx, PCO_CACHE_STATUS_STALE);
    }
    if (ctx->req.only_if_cached) {
        return 504;             /* RFC 9111 section 5.2.1.7: nothing usable is stored */
    }
    /* stale: one request refreshes it; the others may be answered with it meanwhile */
    updating_ok = pco_cache_stale_ok(&f, PCO_CACHE_STALE_UPDATING,
                                     (ctx->rc->stale & PCO_CACHE_STALE_ON_UPDATING) != 0,
                                     pco_cache_fresh_now())
                  && !ctx->req.no_cache;
    rc = pco_cache_take_lock(ctx, updating_ok);
    if (rc == PCO_BUSY) {
        if (updating_ok) {
            return pco_cache_answer(r, ctx, PCO_CACHE_STATUS_UPDATING);
        }
        rc = pco_cache_wait(ctx);
        if (rc == PCO_AGAIN) {
            pco_cache_close_entry(ctx);
            return PCO_AGAIN;
        }
    }
    if (updating_ok && ctx->locked && r->head.method == PCO_HTTP_GET) {
        return pco_cache_refresh_behind(r, ctx);
    }
    ctx->stale_ok_error = true;
    return pco_cache_fetch(r, ctx, PCO_CACHE_STATUS_EXPIRED);
}

static int
pco_cache_lookup(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    int  rc;

    if (pco_cache_find(r, ctx)) {
        rc = pco_cache_found(r, ctx);
        if (rc != PCO_DECLINED || ctx->act != PCO_CACHE_ACT_NONE) {
            return rc;          /* answered, waiting, or going upstream to refresh */
        }
    }
    ctx->key = ctx->main;
    if (ctx->req.only_if_cached) {
        return 504;
    }
    rc = pco_cache_take_lock(ctx, false);
    if (rc == PCO_BUSY) {
        rc = pco_cache_wait(ctx);
        if (rc == PCO_AGAIN) {
            return PCO_AGAIN;
        }
    }
    return pco_cache_fetch(r, ctx, PCO_CACHE_STATUS_MISS);
}

static int
pco_cache_eval_key(pco_http_request_t *r, pco_cache_ctx_t *ctx)
{
    if (pco_http_template_eval(r, ctx->rc->key_tpl, &ctx->key_text) != PCO_OK
        || pco_cache_key_hash(&ctx->main, &ctx->key_text) != PCO_OK)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

int
pco_cache_precontent(pco_http_request_t *r)
{
    pco_cache_conf_t  *c = pco_http_route_conf(r, &pco_cache_module);
    pco_cache_ctx_t   *ctx = pco_cache_ctx(r);
    unsigned           i;

    if (ctx != NULL) {
        /* woken while waiting for another request's fetch */
        return ctx->act == PCO_CACHE_ACT_NONE ? pco_cache_lookup(r, ctx) : PCO_DECLINED;
    }
    if (c == NULL || c->route.zone == NULL) {
        return PCO_DECLINED;
    }
    if (!(r->head.method & (PCO_HTTP_GET | PCO_HTTP_HEAD | PCO_HTTP_PURGE))) {
        return PCO_DECLINED;
    }
    ctx = pco_cache_ctx_create(r, &c->route);
    if (ctx == NULL || pco_cache_eval_key(r, ctx) != PCO_OK) {
        return 500;
    }
    if (r->head.method == PCO_HTTP_PURGE) {
        return pco_cache_purge(r, ctx);
    }
    pco_cache_req_init(&ctx->req);
    for (i = 0; i < r->head.nheaders; i++) {
        pco_cache_req_header(&ctx->req, &r->head.headers[i].name, &r->head.headers[i].value);
    }
    if (ctx->req.no_store) {
        return pco_cache_fetch(r, ctx, PCO_CACHE_STATUS_BYPASS);
    }
    return pco_cache_lookup(r, ctx);
}
