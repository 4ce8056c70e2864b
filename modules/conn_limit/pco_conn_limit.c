/*
 * pco_conn_limit.c: connection limits (docs/settings.md, docs/architecture.md):
 *     conn_limits = ( { name = "per_ip_conn"; key = "$remote_addr"; max = 100; status = 503; } );
 *     ... routes = ( { ...; conn_limit = "per_ip_conn"; } )   (also http/server, inherited)
 * Counts, per key, the client connections that have a request in progress, as nginx's
 * limit_conn: the count is taken in the ACCESS phase (priority 20, after rate limits) and
 * given back when the request ends (the LOG phase, or the request pool's cleanup when the
 * connection goes away first), so idle keep-alive connections never count. Above `max`
 * the request gets `status` (503); an empty key is not limited.
 *
 * Shared state: one zone "conn_limit:NAME" per limit: a small header, one record per
 * worker process (its pid and a ledger of the keys it holds, one slot per request in
 * progress, worker_connections slots) and a pco_limit_table_t of `size` bytes whose nodes
 * count holders (value[0]). A worker that exits gives its holds back in exit_worker; the
 * holds of a worker killed with kill -9 are given back by the next worker that starts (its
 * init_worker finds records whose pid no longer exists), so a key is never blocked for
 * longer than the respawn. Busy keys are never evicted; when every node is busy a new key
 * is not limited (warned at most once a minute). Rejections are logged at info ("limiting
 * connections by zone "NAME"") and counted in conn_limit_rejected:NAME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include "pco_http.h"
#include "pco_limit_table.h"
#include "pco_log.h"
#include "pco_time.h"
#include "pco_process.h"

#define PCO_CONN_LIMIT_PRIORITY  20
#define PCO_CONN_LIMIT_MAGIC     0x70636331u

/* The zone: this header, nprocs records, then the table at table_off. */
typedef struct {
    uint32_t    magic;
    uint32_t    nprocs;
    uint32_t    nheld;
    uint32_t    pad;
    size_t      table_off;
    size_t      table_size;
} pco_conn_limit_shm_t;

typedef struct {
    int32_t     pid;             /* 0: free */
    uint32_t    pad;
    uint32_t    held[];          /* node index + 1 per request in progress, 0: free */
} pco_conn_limit_proc_t;

typedef struct {
    pco_str_t               name;
    pco_str_t               key;
    int64_t                 max;
    int64_t                 status;
    int64_t                 size;
    /* settled at conf_done */
    pco_http_template_t    *tpl;
    pco_shm_zone_t         *zone;
    int                     c_rejected;
    /* per worker process (copies after fork) */
    pco_conn_limit_proc_t  *proc;
    uint32_t               *free_pos;
    uint32_t                nfree;
    pco_msec_t              last_claim;
} pco_conn_limit_zone_t;

typedef struct {
    pco_conf_list_t         limits;    /* top: conn_limits (pco_conn_limit_zone_t) */
    pco_str_t               use;       /* conn_limit = "name" */
    pco_conn_limit_zone_t  *zone;      /* resolved for routes at conf_done */
} pco_conn_limit_conf_t;

typedef struct {
    pco_conn_limit_zone_t  *z;
    pco_conn_limit_shm_t   *sh;
    pco_limit_table_t      *t;
    uint32_t                node;
    int64_t                 pos;       /* ledger slot, -1: none */
    bool                    active;
} pco_conn_limit_ctx_t;

static int pco_conn_limit_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_conn_limit_init_worker(pco_cycle_t *cycle);
static void pco_conn_limit_exit_worker(pco_cycle_t *cycle);

static const pco_setting_t pco_conn_limit_members[] = {
    { .name = "name", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_conn_limit_zone_t, name), .flags = PCO_CONF_REQUIRED,
      .help = "the limit's name, used by conn_limit = \"NAME\" and in metrics" },
    { .name = "key", .type = PCO_CONF_STRING, .offset = offsetof(pco_conn_limit_zone_t, key),
      .def = "\"$remote_addr\"",
      .help = "what is limited: a template of variables; an empty value is not limited" },
    { .name = "max", .type = PCO_CONF_INT, .offset = offsetof(pco_conn_limit_zone_t, max),
      .min = 1, .max = 1000000000, .flags = PCO_CONF_REQUIRED,
      .help = "connections of one key with a request in progress" },
    { .name = "status", .type = PCO_CONF_INT, .offset = offsetof(pco_conn_limit_zone_t, status),
      .def = "503", .min = 400, .max = 599, .help = "status of a rejected request" },
    { .name = "size", .type = PCO_CONF_SIZE, .offset = offsetof(pco_conn_limit_zone_t, size),
      .def = "\"1m\"", .min = 16384, .max = (int64_t) 1 << 34,
      .help = "the shared table of keys (about 100 bytes a key; per-worker ledgers added)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_conn_limit_settings[] = {
    { .name = "conn_limits", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_conn_limit_conf_t, limits), .sub = pco_conn_limit_members,
      .elt_size = sizeof(pco_conn_limit_zone_t),
      .flags = PCO_CONF_INCLUDABLE,
      .help = "connection limits: ( { name; key; max; status; size; } )" },
    { .name = "conn_limit", .scopes = PCO_SCOPE_HSR, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_conn_limit_conf_t, use), .flags = PCO_CONF_FALSE_OFF,
      .help = "the connection limit applied to requests (a conn_limits name; false: none)" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too: checks the limits, resolves conn_limit names with
 * FILE:LINE errors, declares the zones and counters, registers the ACCESS and LOG
 * handlers; PCO_OK or PCO_ERROR after reporting). Zone init in the master (start,
 * reload). init_worker (workers only): gives back the holds of dead workers and claims a
 * process record; PCO_OK (a worker without a record still limits, its holds are then
 * only given back by the requests themselves). exit_worker: gives back every hold left.
 * Handlers run in workers and never block (the zone lock is held for a table lookup).
 */
pco_module_t pco_conn_limit_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "conn_limit",
    .settings = pco_conn_limit_settings,
    .conf_size = sizeof(pco_conn_limit_conf_t),
    .conf_done = pco_conn_limit_conf_done,
    .init_worker = pco_conn_limit_init_worker,
    .exit_worker = pco_conn_limit_exit_worker,
};

/* ---- the zone ---- */

static size_t
pco_conn_limit_proc_size(uint32_t nheld)
{
    return pco_align(sizeof(pco_conn_limit_proc_t) + (size_t) nheld * sizeof(uint32_t), 8);
}

static pco_conn_limit_proc_t *
pco_conn_limit_proc(pco_conn_limit_shm_t *sh, uint32_t i)
{
    return (pco_conn_limit_proc_t *) ((u_char *) sh + pco_align(sizeof(*sh), 64)
                                      + i * pco_conn_limit_proc_size(sh->nheld));
}

static pco_limit_table_t *
pco_conn_limit_table(pco_conn_limit_shm_t *sh)
{
    return (pco_limit_table_t *) ((u_char *) sh + sh->table_off);
}

/* Zone bytes for a table of size bytes and nprocs ledgers of nheld slots. */
static size_t
pco_conn_limit_zone_size(size_t size, uint32_t nprocs, uint32_t nheld)
{
    return pco_align(pco_align(sizeof(pco_conn_limit_shm_t), 64)
                     + nprocs * pco_conn_limit_proc_size(nheld), 64) + size;
}

/* The geometry of a new zone, hung on zone->data at conf_done until the init formats it
 * (the zone header then describes itself). */
typedef struct {
    uint32_t    nprocs;
    uint32_t    nheld;
} pco_conn_limit_geom_t;

static int
pco_conn_limit_zone_init(pco_shm_zone_t *zone, void *old_data)
{
    pco_conn_limit_shm_t   *sh = zone->addr;
    pco_conn_limit_geom_t  *geom = zone->data;
    uint32_t                nprocs, nheld;
    size_t                  off;

    if (old_data != NULL && sh->magic == PCO_CONN_LIMIT_MAGIC
        && pco_limit_table_valid(pco_conn_limit_table(sh), sh->table_size))
    {
        zone->data = old_data;           /* same name and size: the counts live on */
        return PCO_OK;
    }
    if (old_data != NULL || geom == NULL) {
        /* a kept mapping in an unknown state: nothing to format it with */
        pco_log_error(PCO_LOG_STDERR, pco_log, 0, "shared memory zone \"%.*s\" is unusable",
                      (int) zone->name.len, zone->name.data);
        return PCO_ERROR;
    }
    nprocs = geom->nprocs;
    nheld = geom->nheld;
    off = pco_align(pco_align(sizeof(pco_conn_limit_shm_t), 64)
                    + nprocs * pco_conn_limit_proc_size(nheld), 64);
    if (nprocs == 0 || off >= zone->size) {
        return PCO_ERROR;
    }
    memset(zone->addr, 0, off);
    sh->nprocs = nprocs;
    sh->nheld = nheld;
    sh->table_off = off;
    sh->table_size = zone->size - off;
    if (pco_limit_table_init(pco_conn_limit_table(sh), sh->table_size, pco_limit_seed())
        != PCO_OK)
    {
        pco_log_error(PCO_LOG_STDERR, pco_log, 0, "shared memory zone \"%.*s\" is too small",
                      (int) zone->name.len, zone->name.data);
        return PCO_ERROR;
    }
    sh->magic = PCO_CONN_LIMIT_MAGIC;
    zone->data = zone->addr;
    return PCO_OK;
}

/* Under the lock: gives back the holds of processes that no longer exist. */
static void
pco_conn_limit_reclaim(pco_conn_limit_shm_t *sh, pco_limit_table_t *t)
{
    pco_conn_limit_proc_t  *p;
    pco_limit_node_t       *node;
    uint32_t                i, j;
    pid_t                   self = getpid();

    for (i = 0; i < sh->nprocs; i++) {
        p = pco_conn_limit_proc(sh, i);
        if (p->pid == 0 || p->pid == self || kill(p->pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        for (j = 0; j < sh->nheld; j++) {
            if (p->held[j] == 0) {
                continue;
            }
            node = pco_limit_table_node(t, p->held[j] - 1);
            if (node != NULL && node->value[0] > 0) {
                node->value[0]--;
            }
            p->held[j] = 0;
        }
        p->pid = 0;
    }
}

/* Under the lock: a process record for this worker (after reclaiming dead ones). */
static void
pco_conn_limit_claim(pco_conn_limit_zone_t *z, pco_conn_limit_shm_t *sh,
                     pco_limit_table_t *t)
{
    pco_conn_limit_proc_t  *p;
    uint32_t                i;

    z->last_claim = pco_current_msec;
    pco_conn_limit_reclaim(sh, t);
    if (z->free_pos == NULL) {
        z->free_pos = malloc(sh->nheld * sizeof(uint32_t));
        if (z->free_pos == NULL) {
            return;
        }
    }
    for (i = 0; i < sh->nprocs; i++) {
        p = pco_conn_limit_proc(sh, i);
        if (p->pid != 0) {
            continue;
        }
        memset(p->held, 0, sh->nheld * sizeof(uint32_t));
        p->pid = (int32_t) getpid();
        z->proc = p;
        for (z->nfree = 0; z->nfree < sh->nheld; z->nfree++) {
            z->free_pos[z->nfree] = sh->nheld - 1 - z->nfree;
        }
        return;
    }
}

static int
pco_conn_limit_init_worker(pco_cycle_t *cycle)
{
    pco_conn_limit_conf_t  *top = pco_conf_get(cycle->conf.root, &pco_conn_limit_module);
    pco_conn_limit_zone_t  *z = top->limits.elts;
    pco_conn_limit_shm_t   *sh;
    size_t                  i;

    if (pco_process_type != PCO_PROCESS_WORKER) {
        return PCO_OK;
    }
    for (i = 0; i < top->limits.n; i++) {
        if (z[i].zone == NULL || z[i].zone->data == NULL) {
            continue;
        }
        sh = z[i].zone->data;
        z[i].proc = NULL;
        z[i].free_pos = NULL;
        pco_limit_table_lock(pco_conn_limit_table(sh));
        pco_conn_limit_claim(&z[i], sh, pco_conn_limit_table(sh));
        pco_limit_table_unlock(pco_conn_limit_table(sh));
        if (z[i].proc == NULL) {
            pco_log_error(PCO_LOG_WARN, pco_log, 0, "connection limit \"%s\": no free process "
                          "record; a crash of this worker would leave its counts until they "
                          "end", (char *) z[i].name.data);
        }
    }
    return PCO_OK;
}

static void
pco_conn_limit_exit_worker(pco_cycle_t *cycle)
{
    pco_conn_limit_conf_t  *top = pco_conf_get(cycle->conf.root, &pco_conn_limit_module);
    pco_conn_limit_zone_t  *z = top->limits.elts;
    pco_conn_limit_shm_t   *sh;
    pco_limit_table_t      *t;
    pco_limit_node_t       *node;
    size_t                  i, j;

    for (i = 0; i < top->limits.n; i++) {
        if (z[i].proc == NULL || z[i].zone == NULL || z[i].zone->data == NULL) {
            continue;
        }
        sh = z[i].zone->data;
        t = pco_conn_limit_table(sh);
        pco_limit_table_lock(t);
        for (j = 0; j < sh->nheld; j++) {
            if (z[i].proc->held[j] != 0) {
                node = pco_limit_table_node(t, z[i].proc->held[j] - 1);
                if (node != NULL && node->value[0] > 0) {
                    node->value[0]--;
                }
                z[i].proc->held[j] = 0;
            }
        }
        z[i].proc->pid = 0;
        z[i].proc = NULL;
        pco_limit_table_unlock(t);
    }
}

/* ---- configuration ---- */

static pco_conn_limit_zone_t *
pco_conn_limit_find(pco_conn_limit_conf_t *top, const pco_str_t *name)
{
    pco_conn_limit_zone_t  *z = top->limits.elts;
    size_t                  i;

    for (i = 0; i < top->limits.n; i++) {
        if (z[i].name.len == name->len && memcmp(z[i].name.data, name->data, name->len) == 0) {
            return &z[i];
        }
    }
    return NULL;
}

static int
pco_conn_limit_zones(pco_conf_t *cf, pco_cycle_t *cycle, pco_conn_limit_conf_t *top)
{
    pco_conn_limit_zone_t  *z = top->limits.elts;
    char                    buf[PCO_COUNTER_NAME_LEN];
    int64_t                 workers = cycle->core->worker_processes;
    pco_conn_limit_geom_t  *geom;
    size_t                  i, j;
    int                     rc = PCO_OK;

    if (workers < 1) {
        workers = sysconf(_SC_NPROCESSORS_ONLN);
    }
    workers = pco_max(1, pco_min(workers, 64));
    /* two generations side by side during a reload, plus room for a slow one */
    geom = pco_palloc(cf->pool, sizeof(pco_conn_limit_geom_t));
    if (geom == NULL) {
        return PCO_ERROR;
    }
    geom->nprocs = (uint32_t) (3 * workers + 2);
    geom->nheld = (uint32_t) pco_max(16, pco_min(cycle->core->worker_connections, 1 << 20));
    for (i = 0; i < top->limits.n; i++) {
        const pco_conf_src_t *src = top->limits.src
            ? &top->limits.src[i] : PCO_CONF_SRC(top, pco_conn_limit_conf_t, limits);
        size_t  len = z[i].name.len;

        if (!pco_limit_name_valid(&z[i].name)) {
            pco_conf_error_src(cf, src, "invalid connection limit name \"%s\" (1..64 of "
                               "A-Z a-z 0-9 _ - .)", z[i].name.data ? (char *) z[i].name.data
                                                                    : "");
            rc = PCO_ERROR;
            continue;
        }
        for (j = 0; j < i; j++) {
            if (z[j].name.len == len && memcmp(z[j].name.data, z[i].name.data, len) == 0) {
                break;
            }
        }
        if (j < i) {
            pco_conf_error_src(cf, src, "duplicate connection limit name \"%s\"",
                               (char *) z[i].name.data);
            rc = PCO_ERROR;
            continue;
        }
        z[i].tpl = pco_http_template_compile(cf, cycle, &z[i].key, src);
        if (z[i].tpl == NULL) {
            rc = PCO_ERROR;
            continue;
        }
        snprintf(buf, sizeof(buf), "conn_limit:%s", (char *) z[i].name.data);
        z[i].zone = pco_shm_zone_add(cf, cycle, buf,
                                     pco_conn_limit_zone_size((size_t) z[i].size,
                                                              geom->nprocs, geom->nheld),
                                     &pco_conn_limit_module, pco_conn_limit_zone_init);
        if (z[i].zone != NULL && z[i].zone->addr == NULL) {
            z[i].zone->data = geom;
        }
        snprintf(buf, sizeof(buf), "conn_limit_rejected:%s", (char *) z[i].name.data);
        z[i].c_rejected = pco_counter_register(cf, cycle, buf, PCO_COUNTER_MONOTONIC);
        if (z[i].zone == NULL || z[i].c_rejected < 0) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static int
pco_conn_limit_check_node(pco_conf_t *cf, pco_conn_limit_conf_t *top, pco_conf_node_t *node,
                          unsigned depth)
{
    pco_conn_limit_conf_t  *c = pco_conf_get(node, &pco_conn_limit_module);
    const char             *hint;
    size_t                  i;
    int                     rc = PCO_OK;

    if (depth > 16) {
        return PCO_OK;
    }
    if (c != NULL && (node->scope & PCO_SCOPE_HSR) && PCO_CONF_IS_SET(c, pco_conn_limit_conf_t, use)
        && c->use.len > 0 && pco_conn_limit_find(top, &c->use) == NULL)
    {
        hint = pco_conf_suggest_str((const char *) c->use.data, top->limits.elts, top->limits.n,
                                 sizeof(pco_conn_limit_zone_t));
        if (hint != NULL) {
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_conn_limit_conf_t, use),
                               "no connection limit "
                               "named \"%s\" (did you mean \"%s\"?)", (char *) c->use.data,
                               hint);
        } else {
            pco_conf_error_src(cf, PCO_CONF_SRC(c, pco_conn_limit_conf_t, use),
                               "no connection limit "
                               "named \"%s\" in conn_limits", (char *) c->use.data);
        }
        rc = PCO_ERROR;
    }
    for (i = 0; i < node->nchildren; i++) {
        if (pco_conn_limit_check_node(cf, top, node->children[i], depth + 1) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

static int pco_conn_limit_handler(pco_http_request_t *r);
static int pco_conn_limit_log_handler(pco_http_request_t *r);

static int
pco_conn_limit_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_conn_limit_conf_t   *top = pco_conf_get(cf->root, &pco_conn_limit_module);
    pco_http_route_t       **routes;
    size_t                   n, i;
    bool                     used = false;
    int                      rc;

    rc = pco_conn_limit_zones(cf, cycle, top);
    if (pco_conn_limit_check_node(cf, top, cf->root, 0) != PCO_OK) {
        rc = PCO_ERROR;
    }
    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        pco_conn_limit_conf_t *c = pco_conf_get(routes[i]->node, &pco_conn_limit_module);

        if (c != NULL && c->use.len > 0) {
            c->zone = pco_conn_limit_find(top, &c->use);
            used = used || c->zone != NULL;
        }
    }
    if (rc != PCO_OK || !used) {
        return rc;
    }
    if (pco_http_add_handler(cf, cycle, PCO_HTTP_ACCESS_PHASE, PCO_CONN_LIMIT_PRIORITY,
                             &pco_conn_limit_module, pco_conn_limit_handler) != PCO_OK
        || pco_http_add_handler(cf, cycle, PCO_HTTP_LOG_PHASE, 10, &pco_conn_limit_module,
                                pco_conn_limit_log_handler) != PCO_OK)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* ---- requests ---- */

static bool
pco_conn_limit_evictable(const pco_limit_node_t *node)
{
    return node->value[0] <= 0;           /* a key with holders stays */
}

/* Gives the request's hold back (the LOG phase, or the pool cleanup; once). */
static void
pco_conn_limit_release(void *data)
{
    pco_conn_limit_ctx_t  *ctx = data;
    pco_limit_node_t      *node;
    pco_conn_limit_zone_t *z = ctx->z;

    if (!ctx->active) {
        return;
    }
    ctx->active = false;
    if (ctx->pos >= 0 && z->proc == NULL) {
        return;             /* exit_worker already gave back every hold of the ledger */
    }
    pco_limit_table_lock(ctx->t);
    node = pco_limit_table_node(ctx->t, ctx->node);
    if (node != NULL && node->value[0] > 0) {
        node->value[0]--;
    }
    if (ctx->pos >= 0 && z->proc != NULL && z->zone->data == ctx->sh) {
        z->proc->held[ctx->pos] = 0;
        if (z->nfree < ctx->sh->nheld) {
            z->free_pos[z->nfree++] = (uint32_t) ctx->pos;
        }
    }
    pco_limit_table_unlock(ctx->t);
}

static int
pco_conn_limit_log_handler(pco_http_request_t *r)
{
    pco_conn_limit_ctx_t  *ctx = pco_http_get_ctx(r, &pco_conn_limit_module);

    if (ctx != NULL) {
        pco_conn_limit_release(ctx);
    }
    return PCO_DECLINED;
}

static int
pco_conn_limit_handler(pco_http_request_t *r)
{
    pco_conn_limit_conf_t  *c = pco_http_route_conf(r, &pco_conn_limit_module);
    pco_conn_limit_zone_t  *z;
    pco_conn_limit_ctx_t   *ctx;
    pco_conn_limit_shm_t   *sh;
    pco_limit_table_t      *t;
    pco_limit_node_t       *node;
    pco_str_t               key;
    bool                    evicted = false, rejected = false, warn = false;

    if (c == NULL || c->zone == NULL || c->zone->zone == NULL || c->zone->zone->data == NULL
        || pco_http_get_ctx(r, &pco_conn_limit_module) != NULL)
    {
        return PCO_DECLINED;
    }
    z = c->zone;
    sh = z->zone->data;
    t = pco_conn_limit_table(sh);
    if (pco_http_template_eval(r, z->tpl, &key) != PCO_OK) {
        return 500;
    }
    if (key.len == 0) {
        return PCO_DECLINED;
    }
    ctx = pco_pcalloc(r->pool, sizeof(pco_conn_limit_ctx_t));
    if (ctx == NULL || pco_pool_cleanup_add(r->pool, pco_conn_limit_release, ctx) != PCO_OK) {
        return 500;
    }
    ctx->z = z;
    ctx->sh = sh;
    ctx->t = t;
    ctx->pos = -1;

    pco_limit_table_lock(t);
    if (z->proc == NULL && pco_current_msec - z->last_claim >= 1000) {
        pco_conn_limit_claim(z, sh, t);
    }
    node = pco_limit_table_get(t, key.data, key.len, true, pco_conn_limit_evictable,
                               &evicted);
    if (node != NULL && node->value[0] >= z->max) {
        rejected = true;
    } else if (node != NULL) {
        node->value[0]++;
        ctx->node = pco_limit_table_index(t, node);
        ctx->active = true;
        if (z->proc != NULL && z->nfree > 0) {
            ctx->pos = z->free_pos[--z->nfree];
            z->proc->held[ctx->pos] = ctx->node + 1;
        }
    }
    if ((evicted || node == NULL)
        && (t->last_warn == 0 || pco_current_msec - t->last_warn >= 60000))
    {
        t->last_warn = pco_current_msec;
        warn = true;
    }
    pco_limit_table_unlock(t);

    if (warn) {
        pco_log_err(PCO_LOG_WARN, r->connection->log, 0, "connection limit zone \"%s\" is "
                    "full: %s", (char *) z->name.data,
                    node == NULL ? "a new key is not limited (every key is busy)"
                                 : "evicting the least recently used idle keys");
    }
    if (!rejected) {
        pco_http_set_ctx(r, ctx, &pco_conn_limit_module);
        return PCO_DECLINED;                  /* the other ACCESS checks still run */
    }
    pco_counter_add(z->c_rejected, 1);
    pco_log_err(PCO_LOG_INFO, r->connection->log, 0, "limiting connections by zone \"%s\"",
                (char *) z->name.data);
    return (int) z->status;
}
