/*
 * pco_cache.c: the response cache module (docs/caching.md): its settings, the checks and
 * registrations of conf_done, the zones' shared index and their folders.
 *
 *     caches = ( { name = "main"; path = "cache/main"; max_size = "1g"; inactive = "10m";
 *                  keys_size = "10m"; purge = ["allow 127.0.0.1", "deny all"]; } );
 *     ... route: cache = { zone = "main"; key = "$scheme$host$request_uri";
 *                          valid = ( { status = [200, 301]; time = "10m"; } );
 *                          use_stale = ["error", "timeout", "updating"]; lock = true; };
 *
 * Each zone is a folder of entry files (pco_cache_entry.h) and a shared index
 * (pco_cache_index.h) in the zone "cache:NAME" of keys_size bytes, kept across a reload
 * when the name, size and folder stay the same. The request path is in pco_cache_lookup.c
 * (PRECONTENT: PURGE, lookup, lock), pco_cache_serve.c (answers from a file) and
 * pco_cache_store.c (filters that store a proxied response); the helpers "cache loader"
 * and "cache manager" in their own files.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pco_cache.h"
#include "pco_limit_table.h"
#include "pco_process.h"
#include "pco_string.h"
#include <openssl/evp.h>

/* The store and status filters run before the header edits (100) so that what is stored is
 * the upstream's response, not what a route adds to it (added again on every hit), and
 * before gzip (300), so that the identity body is stored and compressed per client. */
#define PCO_CACHE_FILTER_PRIORITY  50
/* PRECONTENT: after the ACCESS phase's limits, access rules and authentication. */
#define PCO_CACHE_PRIORITY         50

static int pco_cache_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_cache_conf_final(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_cache_init_master(pco_cycle_t *cycle, pco_cycle_t *old);

static const pco_setting_t pco_cache_zone_members[] = {
    { .name = "name", .type = PCO_CONF_STRING, .offset = offsetof(pco_cache_zone_t, name),
      .flags = PCO_CONF_REQUIRED, .help = "the zone's name, used by a route's cache.zone" },
    { .name = "path", .type = PCO_CONF_STRING, .offset = offsetof(pco_cache_zone_t, path),
      .flags = PCO_CONF_REQUIRED,
      .help = "folder of the entry files (prefix-relative or absolute; created at start)" },
    { .name = "max_size", .type = PCO_CONF_SIZE,
      .offset = offsetof(pco_cache_zone_t, max_size), .def = "0", .min = 0,
      .max = (int64_t) 1 << 50,
      .help = "bytes on disk the cache manager keeps the zone under, least recently used "
              "entries removed first (0: no limit)" },
    { .name = "inactive", .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_cache_zone_t, inactive), .def = "\"10m\"", .min = 1000,
      .max = 365 * PCO_CONF_DAY,
      .help = "entries not used for this long are removed, fresh or not" },
    { .name = "keys_size", .type = PCO_CONF_SIZE,
      .offset = offsetof(pco_cache_zone_t, keys_size), .def = "\"10m\"",
      .min = PCO_CONF_ZONE_MIN, .max = PCO_CONF_ZONE_MAX,
      .help = "the shared index (about 300 bytes an entry)" },
    { .name = "purge", .type = PCO_CONF_CUSTOM, .offset = offsetof(pco_cache_zone_t, purge),
      .custom = pco_access_conf_parse,
      .help = "who may PURGE: [\"allow CIDR\" | \"deny CIDR\" | \"allow all\" | \"deny all\"], "
              "first match wins, no match or no list: nobody" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_cache_valid_members[] = {
    { .name = "status", .type = PCO_CONF_INTLIST,
      .offset = offsetof(pco_cache_valid_t, status), .min = 200, .max = 599,
      .flags = PCO_CONF_REQUIRED, .help = "response statuses" },
    { .name = "time", .type = PCO_CONF_DURATION, .offset = offsetof(pco_cache_valid_t, time),
      .min = 1000, .max = 365 * PCO_CONF_DAY, .flags = PCO_CONF_REQUIRED,
      .help = "how long they stay fresh" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_cache_route_members[] = {
    { .name = "zone", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_cache_route_t, zone_name), .flags = PCO_CONF_REQUIRED,
      .help = "the caches zone that stores this route's responses" },
    { .name = "key", .type = PCO_CONF_STRING, .offset = offsetof(pco_cache_route_t, key),
      .def = "\"$scheme$host$request_uri\"",
      .help = "what tells entries apart: a template of variables" },
    { .name = "valid", .type = PCO_CONF_LIST, .offset = offsetof(pco_cache_route_t, valid),
      .sub = pco_cache_valid_members, .elt_size = sizeof(pco_cache_valid_t),
      .help = "freshness by status when the upstream gives none: ( { status; time; } )" },
    { .name = "use_stale", .type = PCO_CONF_STRLIST,
      .offset = offsetof(pco_cache_route_t, use_stale),
      .help = "when a stale entry is served: \"error\", \"timeout\", \"http_500\", "
              "\"http_502\", \"http_503\", \"http_504\", \"updating\"" },
    { .name = "lock", .type = PCO_CONF_BOOL, .offset = offsetof(pco_cache_route_t, lock),
      .def = "false",
      .help = "concurrent misses of one key make one upstream request, the others wait" },
    { .name = "lock_timeout", .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_cache_route_t, lock_timeout), .def = "\"5s\"", .min = 1,
      .max = PCO_CONF_DAY,
      .help = "how long a request waits for the lock before going upstream itself" },
    { .name = "store_set_cookie", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_cache_route_t, store_set_cookie), .def = "false",
      .help = "store responses with Set-Cookie (and their cookies) too" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_cache_settings[] = {
    { .name = "caches", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_cache_conf_t, caches), .sub = pco_cache_zone_members,
      .elt_size = sizeof(pco_cache_zone_t),
      .flags = PCO_CONF_INCLUDABLE,
      .help = "response caches: ( { name; path; max_size; inactive; keys_size; purge; } )" },
    { .name = "cache", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_cache_conf_t, route), .sub = pco_cache_route_members,
      .flags = PCO_CONF_NOINHERIT | PCO_CONF_FALSE_OFF,
      .help = "cache this proxy route's responses { zone; key; valid; use_stale; lock; "
              "lock_timeout; store_set_cookie; } (false: off)" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too: checks zones and routes, declares the index zones,
 * counters, the PRECONTENT handler, the filters, $upstream_cache_status and the two
 * helpers), conf_final (a cached route must proxy), init_master (creates the folders).
 */
pco_module_t pco_cache_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "cache",
    .settings = pco_cache_settings,
    .conf_size = sizeof(pco_cache_conf_t),
    .conf_done = pco_cache_conf_done,
    .conf_final = pco_cache_conf_final,
    .init_master = pco_cache_init_master,
};

/* ---- shared helpers of the module's files ---- */

pco_cache_ctx_t *
pco_cache_ctx(pco_http_request_t *r)
{
    return pco_http_get_ctx(r, &pco_cache_module);
}

size_t
pco_cache_zones(pco_cycle_t *cycle, pco_cache_zone_t **zones)
{
    pco_cache_conf_t  *top = cycle->module_ctx[pco_cache_module.index];

    if (top == NULL) {
        *zones = NULL;
        return 0;
    }
    *zones = top->caches.elts;
    return top->caches.n;
}

char *
pco_cache_entry_path(pco_pool_t *pool, pco_cache_zone_t *z, const pco_cache_key_t *key)
{
    size_t   size = z->dir.len + 48;
    char    *p = pco_pnalloc(pool, size);

    if (p == NULL || pco_cache_key_path(p, size, &z->dir, z->levels, 2, key) < 0) {
        return NULL;
    }
    return p;
}

void
pco_cache_meta_set_fresh(pco_cache_meta_t *m, const pco_cache_fresh_t *f)
{
    m->response_time = (int64_t) f->response_time;
    m->lifetime = f->lifetime;
    m->initial_age = f->initial_age;
    m->stale_while_revalidate = f->stale_while_revalidate;
    m->stale_if_error = f->stale_if_error;
    m->no_stale = f->no_stale;
}

void
pco_cache_meta_get_fresh(const pco_cache_meta_t *m, pco_cache_fresh_t *f)
{
    f->response_time = (time_t) m->response_time;
    f->lifetime = m->lifetime;
    f->initial_age = m->initial_age;
    f->stale_while_revalidate = m->stale_while_revalidate;
    f->stale_if_error = m->stale_if_error;
    f->no_stale = m->no_stale;
}

/* ---- variables ---- */

static int
pco_cache_var_status(pco_http_request_t *r, const pco_str_t *name, uintptr_t data,
                     pco_str_t *v)
{
    pco_cache_ctx_t  *ctx = pco_cache_ctx(r);
    const char       *s;

    pco_unused(name);
    pco_unused(data);
    if (ctx == NULL || ctx->act == PCO_CACHE_ACT_NONE) {
        return PCO_DECLINED;
    }
    s = pco_cache_status_name(ctx->status.outcome);
    v->data = (u_char *) s;
    v->len = strlen(s);
    return PCO_OK;
}

/* ---- configuration ---- */

static bool
pco_cache_same(const pco_str_t *a, const pco_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* A 64-bit hash of the folder, kept in the index: a kept zone whose folder changed starts
 * fresh (its entries are elsewhere). */
static uint64_t
pco_cache_path_hash(const pco_str_t *dir)
{
    pco_cache_key_t  k;
    uint64_t         h = 0;
    size_t           i;

    if (pco_cache_key_hash(&k, dir) != PCO_OK) {
        return 0;
    }
    for (i = 0; i < 8; i++) {
        h = (h << 8) | k.md[i];
    }
    return h;
}

/* The master maps the zone: a kept one keeps its index (checked against the folder at
 * init_master, which knows it), a new one is formatted. */
static int
pco_cache_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    if (old_data != NULL) {
        return PCO_OK;                  /* zone->data: the previous generation's index */
    }
    zone->data = pco_cache_index_init(zone->addr, zone->size, 0);
    if (zone->data == NULL) {
        pco_log_error(PCO_LOG_STDERR, pco_log, 0, "shared memory zone \"%.*s\" is too small",
                      (int) zone->name.len, (const char *) zone->name.data);
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* Ties the index to the zone's folder: a kept index whose folder changed starts fresh. */
static void
pco_cache_zone_bind(pco_cycle_t *cycle, pco_cache_zone_t *z)
{
    uint64_t  ph = pco_cache_path_hash(&z->dir);

    if (z->zone->reused && pco_cache_index_attach(z->zone->addr, z->zone->size, ph) != NULL) {
        return;
    }
    if (z->zone->reused) {
        pco_log_err(PCO_LOG_NOTICE, cycle->log, 0, "cache \"%.*s\": the folder changed, "
                    "starting with an empty index", (int) z->name.len,
                    (const char *) z->name.data);
    }
    z->zone->data = pco_cache_index_init(z->zone->addr, z->zone->size, ph);
}

static int
pco_cache_counters(pco_conf_t *cf, pco_cycle_t *cycle, pco_cache_zone_t *z)
{
    static const struct {
        const char  *name;
        size_t       off;
        bool         gauge;
    } list[] = {
        { "cache_hits", offsetof(pco_cache_zone_t, c_hit), false },
        { "cache_misses", offsetof(pco_cache_zone_t, c_miss), false },
        { "cache_expired", offsetof(pco_cache_zone_t, c_expired), false },
        { "cache_stale", offsetof(pco_cache_zone_t, c_stale), false },
        { "cache_updating", offsetof(pco_cache_zone_t, c_updating), false },
        { "cache_revalidated", offsetof(pco_cache_zone_t, c_revalidated), false },
        { "cache_bypass", offsetof(pco_cache_zone_t, c_bypass), false },
        { "cache_bytes_served", offsetof(pco_cache_zone_t, c_bytes), false },
        { "cache_evictions", offsetof(pco_cache_zone_t, c_evictions), false },
        { "cache_entries", offsetof(pco_cache_zone_t, c_entries), true },
        { "cache_disk_bytes", offsetof(pco_cache_zone_t, c_disk), true },
    };
    char    buf[PCO_COUNTER_NAME_LEN];
    size_t  i;
    int     id;

    for (i = 0; i < pco_nelems(list); i++) {
        snprintf(buf, sizeof(buf), "%s:%s", list[i].name, (const char *) z->name.data);
        id = pco_counter_register(cf, cycle, buf, list[i].gauge ? PCO_COUNTER_GAUGE
                                                                : PCO_COUNTER_MONOTONIC);
        if (id < 0) {
            return PCO_ERROR;
        }
        *(int *) ((char *) z + list[i].off) = id;
    }
    return PCO_OK;
}

/* Checks each `caches` element and declares its index zone and counters. */
static int
pco_cache_conf_zones(pco_conf_t *cf, pco_cycle_t *cycle, pco_cache_conf_t *top)
{
    pco_cache_zone_t  *z = top->caches.elts;
    char               buf[PCO_COUNTER_NAME_LEN];
    const char        *full;
    size_t             i, j;
    int                rc = PCO_OK;

    for (i = 0; i < top->caches.n; i++) {
        const pco_conf_src_t *src = PCO_CONF_ELT_SRC(&top->caches, i, pco_cache_zone_t, name);

        if (!pco_limit_name_valid(&z[i].name)) {
            pco_conf_error_src(cf, src, "invalid cache name \"%s\" (1..64 of A-Z a-z 0-9 _ - .)",
                               z[i].name.data ? (char *) z[i].name.data : "");
            rc = PCO_ERROR;
            continue;
        }
        for (j = 0; j < i; j++) {
            if (pco_cache_same(&z[j].name, &z[i].name)) {
                pco_conf_error_src(cf, src, "duplicate cache name \"%s\"",
                                   (char *) z[i].name.data);
                rc = PCO_ERROR;
                break;
            }
        }
        if (j < i) {
            continue;
        }
        full = z[i].path.len > 0 ? pco_conf_full_path(cf, (const char *) z[i].path.data)
                                 : NULL;
        if (full == NULL) {
            pco_conf_error_src(cf, PCO_CONF_ELT_SRC(&top->caches, i, pco_cache_zone_t, path),
                               "cache \"%s\": path must not be empty", (char *) z[i].name.data);
            rc = PCO_ERROR;
            continue;
        }
        z[i].dir.data = (u_char *) full;
        z[i].dir.len = strlen(full);
        while (z[i].dir.len > 1 && z[i].dir.data[z[i].dir.len - 1] == '/') {
            z[i].dir.len--;
        }
        z[i].dir.data[z[i].dir.len] = '\0';
        if (z[i].dir.len > 3000) {
            pco_conf_error_src(cf, PCO_CONF_ELT_SRC(&top->caches, i, pco_cache_zone_t, path),
                               "cache \"%s\": path too long", (char *) z[i].name.data);
            rc = PCO_ERROR;
            continue;
        }
        for (j = 0; j < i; j++) {
            if (pco_cache_same(&z[j].dir, &z[i].dir)) {
                pco_conf_error_src(cf, PCO_CONF_ELT_SRC(&top->caches, i, pco_cache_zone_t,
                                                        path),
                                   "cache \"%s\": path is also cache \"%s\"'s",
                                   (char *) z[i].name.data, (char *) z[j].name.data);
                rc = PCO_ERROR;
                break;
            }
        }
        if (j < i) {
            continue;
        }
        z[i].levels[0] = 1;
        z[i].levels[1] = 2;
        snprintf(buf, sizeof(buf), "cache:%s", (const char *) z[i].name.data);
        z[i].zone = pco_shm_zone_add(cf, cycle, buf, (size_t) z[i].keys_size, &pco_cache_module,
                                     pco_cache_zone_init);
        if (z[i].zone == NULL || pco_cache_counters(cf, cycle, &z[i]) != PCO_OK) {
            rc = PCO_ERROR;
            continue;
        }
    }
    return rc;
}

static pco_cache_zone_t *
pco_cache_find(pco_cache_conf_t *top, const pco_str_t *name)
{
    pco_cache_zone_t  *z = top->caches.elts;
    size_t             i;

    for (i = 0; i < top->caches.n; i++) {
        if (z[i].zone != NULL && pco_cache_same(&z[i].name, name)) {
            return &z[i];
        }
    }
    return NULL;
}

static int
pco_cache_conf_use_stale(pco_conf_t *cf, pco_cache_conf_t *c)
{
    static const struct {
        const char  *name;
        unsigned     bit;
    } names[] = {
        { "error", PCO_CACHE_STALE_ON_ERROR }, { "timeout", PCO_CACHE_STALE_ON_TIMEOUT },
        { "http_500", PCO_CACHE_STALE_ON_500 }, { "http_502", PCO_CACHE_STALE_ON_502 },
        { "http_503", PCO_CACHE_STALE_ON_503 }, { "http_504", PCO_CACHE_STALE_ON_504 },
        { "updating", PCO_CACHE_STALE_ON_UPDATING },
    };
    pco_cache_route_t  *rc = &c->route;
    size_t              i, k;

    for (i = 0; i < rc->use_stale.n; i++) {
        for (k = 0; k < pco_nelems(names); k++) {
            if (strcmp((const char *) rc->use_stale.elts[i].data, names[k].name) == 0) {
                rc->stale |= names[k].bit;
                break;
            }
        }
        if (k == pco_nelems(names)) {
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_cache_conf_t, route.use_stale),
                               "unknown use_stale value \"%s\" (error, timeout, http_500, "
                               "http_502, http_503, http_504, updating)",
                               (const char *) rc->use_stale.elts[i].data);
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* Resolves each cached route's zone, compiles its key, checks use_stale; *used: any. */
static int
pco_cache_conf_routes(pco_conf_t *cf, pco_cycle_t *cycle, pco_cache_conf_t *top, bool *used)
{
    pco_http_route_t  **routes;
    size_t              n, i;
    int                 rc = PCO_OK;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_cache_conf_t  *c = pco_conf_get(routes[i]->node, &pco_cache_module);
        const char        *hint;

        if (c == NULL || !PCO_CONF_IS_SET(c, pco_cache_conf_t, route)
            || c->route.zone_name.len == 0)
        {
            continue;
        }
        c->route.zone = pco_cache_find(top, &c->route.zone_name);
        if (c->route.zone == NULL) {
            hint = pco_conf_suggest_str((const char *) c->route.zone_name.data,
                                        &((pco_cache_zone_t *) top->caches.elts)->name,
                                        top->caches.n, sizeof(pco_cache_zone_t));
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_cache_conf_t, route.zone_name),
                               hint ? "no cache named \"%s\" (did you mean \"%s\"?)"
                                    : "no cache named \"%s\"",
                               (const char *) c->route.zone_name.data, hint);
            rc = PCO_ERROR;
            continue;
        }
        c->route.key_tpl = pco_http_template_compile(cf, cycle, &c->route.key,
                                                     PCO_CONF_SRC(c, pco_cache_conf_t,
                                                                  route.key));
        if (c->route.key_tpl == NULL || pco_cache_conf_use_stale(cf, c) != PCO_OK) {
            rc = PCO_ERROR;
            continue;
        }
        *used = true;
    }
    return rc;
}

static int
pco_cache_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_cache_conf_t  *top = pco_conf_get(cf->root, &pco_cache_module);
    bool               used = false;
    int                rc;

    cycle->module_ctx[pco_cache_module.index] = top;
    rc = pco_cache_conf_zones(cf, cycle, top);
    if (pco_cache_conf_routes(cf, cycle, top, &used) != PCO_OK) {
        rc = PCO_ERROR;
    }
    if (pco_http_variable_add(cf, cycle, "upstream_cache_status", pco_cache_var_status, 0,
                              0) != PCO_OK)
    {
        rc = PCO_ERROR;
    }
    if (rc != PCO_OK || top->caches.n == 0) {
        return rc;
    }
    if (used
        && (pco_http_add_handler(cf, cycle, PCO_HTTP_PRECONTENT_PHASE, PCO_CACHE_PRIORITY,
                                 &pco_cache_module, pco_cache_precontent) != PCO_OK
            || pco_http_add_header_filter(cf, cycle, PCO_CACHE_FILTER_PRIORITY,
                                          &pco_cache_module, pco_cache_header_filter) != PCO_OK
            || pco_http_add_body_filter(cf, cycle, PCO_CACHE_FILTER_PRIORITY,
                                        &pco_cache_module, pco_cache_body_filter) != PCO_OK))
    {
        return PCO_ERROR;
    }
    if (pco_helper_add(cycle, &(pco_helper_t) { .title = "cache loader",
                                                .init = pco_cache_loader_init }) != PCO_OK
        || pco_helper_add(cycle, &(pco_helper_t) { .title = "cache manager",
                                                   .init = pco_cache_manager_init }) != PCO_OK)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* A cached route proxies: nothing else has a response worth storing (and a static file
 * is already on disk). */
static int
pco_cache_conf_final(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_route_t  **routes;
    size_t              n, i;
    int                 rc = PCO_OK;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_cache_conf_t  *c = pco_conf_get(routes[i]->node, &pco_cache_module);

        if (c == NULL || c->route.zone == NULL) {
            continue;
        }
        if (routes[i]->action == NULL || strcmp(routes[i]->action, "proxy") != 0) {
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_cache_conf_t, route),
                               "cache needs a proxy route (this route's action is %s)",
                               routes[i]->action ? routes[i]->action : "missing");
            rc = PCO_ERROR;
        }
    }
    return rc;
}

/* ---- folders ---- */

/* Creates dir (and its parents) and dir/tmp, 0700 and owned by the worker user and group
 * when the master runs as root, so that workers and helpers can write there after dropping privileges. */
static int
pco_cache_make_dir(pco_cycle_t *cycle, pco_cache_zone_t *z)
{
    char    path[4096];
    size_t  i;

    snprintf(path, sizeof(path), "%s/tmp", (const char *) z->dir.data);
    for (i = 1; path[i] != '\0'; i++) {
        if (path[i] != '/') {
            continue;
        }
        path[i] = '\0';
        /* the folders above DIR may be new too ("cache/main"): the worker user must be
         * able to pass through them, so only DIR and DIR/tmp are private */
        if (mkdir(path, i < z->dir.len ? 0755 : 0700) != 0 && errno != EEXIST) {
            goto failed;
        }
        path[i] = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        goto failed;
    }
    pco_give_to_workers(cycle, -1, (const char *) z->dir.data);
    pco_give_to_workers(cycle, -1, path);
    return PCO_OK;

failed:
    /* the zone still works: every store fails and is logged, requests are proxied */
    pco_log_err(PCO_LOG_ERR, cycle->log, errno, "cache \"%.*s\": mkdir(\"%s\") failed",
                (int) z->name.len, (const char *) z->name.data, path);
    return PCO_OK;
}

static int
pco_cache_init_master(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_cache_zone_t  *z;
    size_t             n, i;

    pco_unused(old);
    n = pco_cache_zones(cycle, &z);
    for (i = 0; i < n; i++) {
        if (z[i].zone != NULL) {
            pco_cache_zone_bind(cycle, &z[i]);
            (void) pco_cache_make_dir(cycle, &z[i]);
        }
    }
    return PCO_OK;
}
