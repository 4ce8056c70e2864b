/*
 * pco_upstream_dyn.c: the runtime server table (pco_upstream.h): servers added, removed,
 * drained, downed or re-weighted at run time by the admin API, and the address sets of
 * `resolve = true` entries replaced by DNS re-resolution, without a reload.
 *
 * Every upstream has `capacity` positions: the configured servers first ([0, nservers)),
 * then free positions. The truth lives in the shared zone "pco_upstreams": a configured
 * position's slot carries its admin state and weight override (pco_upstream_runtime_t);
 * a dynamic position's slot carries the whole server and names its owner (upstream_key)
 * and position. Changes are made under the zone's robust lock by any process and bump the
 * zone's version; each process compares the version with its own copy at pick time and
 * refreshes its u->servers[] view (pco_upstream_sync), then lets the balancer rebuild what
 * it derived from them (update hook). Positions never move within a generation, so tried[]
 * bitmaps and per-worker balancer arrays stay valid. A removed dynamic position keeps its
 * slot (with the connections in flight to it) and is reused only once nothing is in flight.
 *
 * Across a reload (init_master, pco_upstream_dyn_collect/_restore) the API-added servers
 * of an upstream that still exists take the new generation's first free positions with
 * their slots (state and counters kept); DNS-added ones are dropped (the master resolves
 * the entry again at load, and the resolver re-adds what is new).
 */
#include <stdio.h>
#include <stdlib.h>
#include "pco_upstream_int.h"
#include "pco_log.h"

#define PCO_UPSTREAM_DYN_DUP   1     /* pco_upstream_dyn_add_locked: the address exists */

static pco_upstream_zone_hdr_t *
pco_upstream_dyn_hdr(const pco_upstream_t *u)
{
    return u->rt_zone;
}

uint64_t
pco_upstream_name_key(const pco_str_t *name)
{
    static const pco_str_t  empty = pco_string("");

    return pco_upstream_server_key(name, &empty, &empty);
}

uint64_t
pco_upstream_dyn_key(const pco_upstream_t *u, const char *name)
{
    static const pco_str_t  dyn = pco_string("#dyn");
    pco_str_t               n = { strlen(name), (u_char *) name };

    return pco_upstream_server_key(&u->name, &dyn, &n);
}

static void
pco_upstream_dyn_error(int *code, int status, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
pco_upstream_dyn_error(int *code, int status, char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (code != NULL) {
        *code = status;
    }
    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
}

/* by[p - nservers]: the slot of dynamic position p (in use, else a removed one), or NULL. */
static void
pco_upstream_dyn_map(const pco_upstream_t *u, pco_upstream_slot_t **by)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_slot_t      *slots = pco_upstream_zone_slots(hdr);
    pco_upstream_runtime_t   *rt;
    size_t                    k;
    unsigned                  p;

    memset(by, 0, (u->capacity - u->nservers) * sizeof(*by));
    for (k = 0; k < hdr->capacity; k++) {
        rt = &slots[k].st.rt;
        if (slots[k].key == 0 || rt->upstream_key != u->key
            || rt->origin == PCO_UPSTREAM_ORIGIN_CONF)
        {
            continue;
        }
        p = (unsigned) rt->position;
        if (p < u->nservers || p >= u->capacity) {
            continue;
        }
        if (by[p - u->nservers] == NULL || (rt->in_use && !by[p - u->nservers]->st.rt.in_use)) {
            by[p - u->nservers] = &slots[k];
        }
    }
}

static void
pco_upstream_dyn_bump(pco_upstream_zone_hdr_t *hdr)
{
    __atomic_add_fetch(&hdr->version, 1, __ATOMIC_RELEASE);
}

/* Refreshes dynamic position s from its slot (the caller holds the lock). */
static void
pco_upstream_dyn_view(pco_upstream_t *u, pco_upstream_server_t *s, pco_upstream_slot_t *sl)
{
    pco_upstream_runtime_t  *rt = &sl->st.rt;
    size_t                   len = strnlen(rt->name, sizeof(rt->name) - 1);

    if (s->vacant || s->shared != &sl->st || s->name.len != len
        || memcmp(s->dyn_name, rt->name, len) != 0)
    {
        s->epoch++;                      /* pooled connections to the previous occupant */
        memcpy(s->dyn_name, rt->name, len);
        s->dyn_name[len] = '\0';
        s->name.len = len;
        s->name.data = s->dyn_name;
        s->sockaddr = rt->sockaddr;
        s->socklen = rt->socklen;
        s->shared = &sl->st;
        /* s->tls_session is kept: the tls module frees it when the next handshake stores
         * another (a server of the same upstream may refuse to resume it: a full
         * handshake then) */
    }
    s->configured = s->name;
    s->send_proxy_protocol = 0;
    s->entry = rt->entry;
    if (rt->origin == PCO_UPSTREAM_ORIGIN_DNS && rt->entry >= 0
        && (unsigned) rt->entry < u->nentries)
    {
        s->configured = u->entries[rt->entry].configured;
        s->send_proxy_protocol = u->entries[rt->entry].send_proxy_protocol;
    }
    s->vacant = false;
    s->down = false;
    s->origin = rt->origin;
    s->backup = rt->backup != 0;
    s->max_conns = rt->max_conns;
    s->conf_weight = rt->weight > 0 ? rt->weight : 1;
    s->weight = s->conf_weight;
    s->admin = rt->admin;
}

void
pco_upstream_sync(pco_upstream_t *u)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_slot_t      *by[PCO_UPSTREAM_MAX_SERVERS];
    pco_upstream_runtime_t   *rt;
    pco_upstream_server_t    *s;
    unsigned                  i, top;
    uint64_t                  v;

    if (hdr == NULL || __atomic_load_n(&hdr->version, __ATOMIC_ACQUIRE) == u->rt_version) {
        return;
    }
    pco_shmtx_lock(&hdr->lock);
    v = hdr->version;
    for (i = 0; i < u->nservers; i++) {
        s = &u->servers[i];
        if (s->shared == NULL) {
            continue;
        }
        rt = &s->shared->rt;
        s->admin = rt->admin;
        s->weight = rt->weight > 0 ? rt->weight : s->conf_weight;
        s->vacant = rt->gone != 0;
    }
    top = u->nservers;
    pco_upstream_dyn_map(u, by);
    for (i = u->nservers; i < u->capacity; i++) {
        pco_upstream_slot_t  *sl = by[i - u->nservers];

        s = &u->servers[i];
        if (sl == NULL || !sl->st.rt.in_use) {
            s->vacant = true;
            continue;
        }
        pco_upstream_dyn_view(u, s, sl);
        top = i + 1;
    }
    u->npositions = top;
    u->rt_version = v;
    pco_shmtx_unlock(&hdr->lock);
    if (u->balancer != NULL && u->balancer->update != NULL) {
        u->balancer->update(u);
    }
}

/* The runtime part of position index, or NULL (the caller holds the lock). */
static pco_upstream_runtime_t *
pco_upstream_dyn_rt(pco_upstream_t *u, unsigned index, pco_upstream_slot_t **by)
{
    pco_upstream_runtime_t  *rt;

    if (index < u->nservers) {
        if (u->servers[index].shared == NULL) {
            return NULL;
        }
        rt = &u->servers[index].shared->rt;
        return rt->gone ? NULL : rt;
    }
    if (index >= u->capacity || by[index - u->nservers] == NULL
        || !by[index - u->nservers]->st.rt.in_use)
    {
        return NULL;
    }
    return &by[index - u->nservers]->st.rt;
}

/* Clears a slot, all but its `active` counter. */
static void
pco_upstream_dyn_clear_but_active(pco_upstream_slot_t *sl)
{
    u_char  *b = (u_char *) sl;
    size_t   off = offsetof(pco_upstream_slot_t, st) + offsetof(pco_upstream_shared_t, active);
    size_t   end = off + sizeof(sl->st.active);

    memset(b, 0, off);
    memset(b + end, 0, sizeof(*sl) - end);
}

/* Adds under the lock; PCO_UPSTREAM_DYN_DUP when the address is in use in u already. */
static int
pco_upstream_dyn_add_locked(pco_upstream_t *u, const pco_upstream_dyn_spec_t *spec,
                            const char *name, pco_upstream_slot_t **by, unsigned *index,
                            int *code, char *err, size_t errlen)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_slot_t      *slots = pco_upstream_zone_slots(hdr), *sl;
    pco_upstream_runtime_t   *rt;
    unsigned                  i, p = u->capacity, same = u->capacity;
    size_t                    k;

    for (i = 0; i < u->nservers; i++) {
        if (u->servers[i].shared != NULL && !u->servers[i].shared->rt.gone
            && u->servers[i].name.len == strlen(name)
            && memcmp(u->servers[i].name.data, name, u->servers[i].name.len) == 0)
        {
            break;
        }
    }
    for (k = u->nservers; i == u->nservers && k < u->capacity; k++) {
        sl = by[k - u->nservers];
        if (sl != NULL && sl->st.rt.in_use && strcmp(sl->st.rt.name, name) == 0) {
            break;
        }
        if (sl != NULL && !sl->st.rt.in_use && strcmp(sl->st.rt.name, name) == 0) {
            same = (unsigned) k;          /* the same server, removed earlier */
        }
        /* the lowest free position with nothing in flight to a previous occupant */
        if (p == u->capacity
            && (sl == NULL
                || (!sl->st.rt.in_use && __atomic_load_n(&sl->st.active, __ATOMIC_RELAXED)
                                         == 0)))
        {
            p = (unsigned) k;
        }
    }
    if (i < u->nservers || k < u->capacity) {
        pco_upstream_dyn_error(code, 409, err, errlen, "server %s is already in upstream "
                               "\"%.*s\"", name, (int) u->name.len, u->name.data);
        return PCO_UPSTREAM_DYN_DUP;
    }
    if (same != u->capacity) {
        /* back in its own slot and position, even with requests still in flight to it:
         * a second slot with the same key would lose the server at the next reload (the
         * reload keeps the first slot it finds for a key, here the removed one) */
        p = same;
    }
    if (p == u->capacity) {
        pco_upstream_dyn_error(code, 409, err, errlen, "upstream \"%.*s\" is full "
                               "(max_servers = %u)", (int) u->name.len, u->name.data,
                               u->capacity);
        return PCO_ERROR;
    }
    sl = by[p - u->nservers];
    for (k = 0; sl == NULL && k < hdr->capacity; k++) {
        if (slots[k].key == 0) {
            sl = &slots[k];
        }
    }
    if (sl == NULL) {
        pco_upstream_dyn_error(code, 409, err, errlen, "the upstream zone is full");
        return PCO_ERROR;
    }
    if (p == same) {
        /* workers end the requests in flight to it with an atomic decrement of `active`
         * (no lock): every other byte is cleared, that counter is left alone */
        pco_upstream_dyn_clear_but_active(sl);
    } else {
        memset(sl, 0, sizeof(*sl));
    }
    sl->key = pco_upstream_dyn_key(u, name);
    /* initial = "down": never usable before the health checker's first `rise` successes,
     * exactly like a configured server (set before the version moves, so no worker sees
     * it up) */
    sl->st.health_down = u->health_check != NULL && u->health_check->initial == 1;
    rt = &sl->st.rt;
    rt->upstream_key = u->key;
    rt->admin = spec->admin;
    rt->weight = (int32_t) spec->weight;
    rt->origin = spec->origin;
    rt->entry = spec->entry;
    rt->position = (int32_t) p;
    rt->backup = spec->backup;
    rt->max_conns = spec->max_conns;
    memcpy(&rt->sockaddr, spec->sockaddr, spec->socklen);
    rt->socklen = spec->socklen;
    snprintf(rt->name, sizeof(rt->name), "%s", name);
    rt->in_use = 1;
    by[p - u->nservers] = sl;
    *index = p;
    return PCO_OK;
}

/* What pco_upstream_dyn_add checks before taking the lock. */
static int
pco_upstream_dyn_check(pco_upstream_t *u, const pco_upstream_dyn_spec_t *spec, char *name,
                       int *code, char *err, size_t errlen)
{
    const char  *b = u->balancer != NULL ? u->balancer->name : "";

    if (pco_upstream_dyn_hdr(u) == NULL) {
        pco_upstream_dyn_error(code, 409, err, errlen, "no runtime state in this process");
        return PCO_ERROR;
    }
    if (spec->weight < 1 || spec->weight > 1000) {
        pco_upstream_dyn_error(code, 400, err, errlen, "weight must be 1..1000");
        return PCO_ERROR;
    }
    if (spec->max_conns < 0 || spec->max_conns > 1000000) {
        pco_upstream_dyn_error(code, 400, err, errlen, "max_conns must be 0..1000000");
        return PCO_ERROR;
    }
    if (spec->backup && (strcmp(b, "hash") == 0 || strcmp(b, "ip_hash") == 0)) {
        pco_upstream_dyn_error(code, 400, err, errlen, "backup servers cannot be used with "
                               "balance = \"%s\"", b);
        return PCO_ERROR;
    }
    if (spec->socklen > sizeof(pco_sockaddr_t)
        || pco_upstream_addr_format(spec->sockaddr, name, PCO_UPSTREAM_NAME_LEN) != PCO_OK)
    {
        pco_upstream_dyn_error(code, 400, err, errlen, "address too long");
        return PCO_ERROR;
    }
    return PCO_OK;
}

int
pco_upstream_dyn_add(pco_upstream_t *u, const pco_upstream_dyn_spec_t *spec, unsigned *index,
                     int *code, char *err, size_t errlen)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_slot_t      *by[PCO_UPSTREAM_MAX_SERVERS];
    char                      name[PCO_UPSTREAM_NAME_LEN];
    int                       rc;

    if (pco_upstream_dyn_check(u, spec, name, code, err, errlen) != PCO_OK) {
        return PCO_ERROR;
    }
    pco_shmtx_lock(&hdr->lock);
    pco_upstream_dyn_map(u, by);
    rc = pco_upstream_dyn_add_locked(u, spec, name, by, index, code, err, errlen);
    if (rc == PCO_OK) {
        pco_upstream_dyn_bump(hdr);
    }
    pco_shmtx_unlock(&hdr->lock);
    return rc == PCO_OK ? PCO_OK : PCO_ERROR;
}

/* Takes the zone lock and finds position index of u: its runtime part with the lock held,
 * or NULL with the lock released and *code/err set (409 no zone, 404 no such server). */
static pco_upstream_runtime_t *
pco_upstream_dyn_lock_rt(pco_upstream_t *u, unsigned index, int *code, char *err,
                         size_t errlen)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_slot_t      *by[PCO_UPSTREAM_MAX_SERVERS];
    pco_upstream_runtime_t   *rt;

    if (hdr == NULL) {
        pco_upstream_dyn_error(code, 409, err, errlen, "no runtime state in this process");
        return NULL;
    }
    pco_shmtx_lock(&hdr->lock);
    pco_upstream_dyn_map(u, by);
    rt = pco_upstream_dyn_rt(u, index, by);
    if (rt == NULL) {
        pco_shmtx_unlock(&hdr->lock);
        pco_upstream_dyn_error(code, 404, err, errlen, "no server %u in upstream \"%.*s\"",
                               index, (int) u->name.len, u->name.data);
    }
    return rt;
}

int
pco_upstream_dyn_remove(pco_upstream_t *u, unsigned index, int *code, char *err,
                        size_t errlen)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_runtime_t   *rt;
    int                       rc = PCO_OK;

    rt = pco_upstream_dyn_lock_rt(u, index, code, err, errlen);
    if (rt == NULL) {
        return PCO_ERROR;
    }
    if (index < u->nservers) {
        pco_upstream_dyn_error(code, 409, err, errlen, "server %u is in the configuration: "
                               "drain it, then remove it from the configuration and reload",
                               index);
        rc = PCO_ERROR;
    } else {
        rt->in_use = 0;
        pco_upstream_dyn_bump(hdr);
    }
    pco_shmtx_unlock(&hdr->lock);
    return rc;
}

int
pco_upstream_dyn_set(pco_upstream_t *u, unsigned index, int admin, int64_t weight, int *code,
                     char *err, size_t errlen)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_runtime_t   *rt;

    if (admin < -1 || admin > PCO_UPSTREAM_ADMIN_DOWN) {
        pco_upstream_dyn_error(code, 400, err, errlen, "unknown admin state %d", admin);
        return PCO_ERROR;
    }
    if (weight < -1 || weight > 1000) {
        pco_upstream_dyn_error(code, 400, err, errlen, "weight must be 1..1000");
        return PCO_ERROR;
    }
    rt = pco_upstream_dyn_lock_rt(u, index, code, err, errlen);
    if (rt == NULL) {
        return PCO_ERROR;
    }
    if (admin >= 0) {
        rt->admin = admin;
    }
    if (weight > 0) {
        rt->weight = (int32_t) weight;
    } else if (weight == -1 && index < u->nservers) {
        rt->weight = 0;
    }
    pco_upstream_dyn_bump(hdr);
    pco_shmtx_unlock(&hdr->lock);
    return PCO_OK;
}

/* resolved_set, under the lock: configured positions of the entry, then its DNS ones. */
static int
pco_upstream_dyn_resolved_locked(pco_upstream_t *u, unsigned entry, const pco_sockaddr_t *addrs,
                                 const socklen_t *lens, unsigned n, char (*names)[128],
                                 bool *present, char *err, size_t errlen)
{
    const pco_upstream_entry_t  *e = &u->entries[entry];
    pco_upstream_slot_t         *by[PCO_UPSTREAM_MAX_SERVERS];
    pco_upstream_dyn_spec_t      spec;
    pco_upstream_runtime_t      *rt;
    unsigned                     i, j, idx;
    int                          changed = 0, rc, failed = 0;
    bool                         found;

    for (i = 0; i < u->nservers; i++) {
        pco_upstream_server_t  *s = &u->servers[i];

        if (s->entry != (int) entry || s->shared == NULL) {
            continue;
        }
        found = false;
        for (j = 0; j < n; j++) {
            if (s->name.len == strlen(names[j])
                && memcmp(s->name.data, names[j], s->name.len) == 0)
            {
                found = present[j] = true;
            }
        }
        if (s->shared->rt.gone != !found) {
            s->shared->rt.gone = !found;
            changed++;
        }
    }
    pco_upstream_dyn_map(u, by);
    for (i = u->nservers; i < u->capacity; i++) {
        if (by[i - u->nservers] == NULL) {
            continue;
        }
        rt = &by[i - u->nservers]->st.rt;
        if (!rt->in_use || rt->origin != PCO_UPSTREAM_ORIGIN_DNS || rt->entry != (int) entry) {
            continue;
        }
        found = false;
        for (j = 0; j < n; j++) {
            if (strcmp(rt->name, names[j]) == 0) {
                found = present[j] = true;
            }
        }
        if (!found) {
            rt->in_use = 0;
            changed++;
        }
    }
    for (j = 0; j < n; j++) {
        if (present[j]) {
            continue;
        }
        spec.sockaddr = &addrs[j];
        spec.socklen = lens[j];
        spec.weight = e->weight;
        spec.max_conns = e->max_conns;
        spec.backup = e->backup;
        spec.admin = e->down ? PCO_UPSTREAM_ADMIN_DOWN : PCO_UPSTREAM_ADMIN_UP;
        spec.origin = PCO_UPSTREAM_ORIGIN_DNS;
        spec.entry = (int) entry;
        rc = pco_upstream_dyn_add_locked(u, &spec, names[j], by, &idx, NULL,
                                         failed ? NULL : err, errlen);
        if (rc == PCO_OK) {
            changed++;
        } else if (rc != PCO_UPSTREAM_DYN_DUP) {
            failed = 1;
        }
    }
    return failed ? -1 - changed : changed;
}

int
pco_upstream_resolved_set(pco_upstream_t *u, unsigned entry, const pco_sockaddr_t *addrs,
                          const socklen_t *lens, unsigned n, char *err, size_t errlen)
{
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    char                    (*names)[128];
    bool                     *present;
    unsigned                  j;
    int                       rc;

    if (hdr == NULL || entry >= u->nentries || !u->entries[entry].resolve) {
        pco_upstream_dyn_error(NULL, 0, err, errlen, "entry %u of upstream \"%.*s\" is not "
                               "resolve = true", entry, (int) u->name.len, u->name.data);
        return -1;
    }
    if (n == 0 || n > PCO_UPSTREAM_MAX_SERVERS) {
        pco_upstream_dyn_error(NULL, 0, err, errlen, "%s", n ? "too many addresses"
                                                              : "no address");
        return -1;
    }
    names = calloc(n, sizeof(*names));
    present = calloc(n, sizeof(bool));
    if (names == NULL || present == NULL) {
        free(names);
        free(present);
        pco_upstream_dyn_error(NULL, 0, err, errlen, "out of memory");
        return -1;
    }
    for (j = 0; j < n; j++) {
        if (pco_upstream_addr_format(&addrs[j], names[j], sizeof(names[j])) != PCO_OK) {
            names[j][0] = '\0';
            present[j] = true;              /* skipped */
        }
    }
    pco_shmtx_lock(&hdr->lock);
    rc = pco_upstream_dyn_resolved_locked(u, entry, addrs, lens, n, names, present, err,
                                          errlen);
    if (rc != 0 && rc != -1) {
        pco_upstream_dyn_bump(hdr);
    }
    pco_shmtx_unlock(&hdr->lock);
    free(names);
    free(present);
    return rc < 0 ? -1 : rc;
}

const pco_upstream_entry_t *
pco_upstream_entries(const pco_upstream_t *u, unsigned *n)
{
    *n = u->nentries;
    return u->entries;
}

uint64_t
pco_upstream_version(pco_cycle_t *cycle)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];

    if (ctx == NULL || ctx->zone == NULL || ctx->zone->addr == NULL) {
        return 0;
    }
    return __atomic_load_n(&((pco_upstream_zone_hdr_t *) ctx->zone->addr)->version,
                           __ATOMIC_ACQUIRE);
}

bool
pco_upstream_zone_kept(pco_cycle_t *cycle)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];

    return ctx != NULL && ctx->zone != NULL && ctx->zone->reused;
}

pco_upstream_t *
pco_upstream_all(pco_cycle_t *cycle, unsigned *n)
{
    pco_upstream_ctx_t  *ctx = cycle->module_ctx[pco_upstream_module.index];

    *n = ctx != NULL ? ctx->n : 0;
    return ctx != NULL ? ctx->upstreams : NULL;
}

/* ---- reload: carrying the API-added servers over ---- */

typedef struct {
    int32_t     position;
    uint64_t    key;
} pco_upstream_dyn_old_t;

static int
pco_upstream_dyn_old_cmp(const void *a, const void *b)
{
    const pco_upstream_dyn_old_t  *x = a, *y = b;

    return x->position < y->position ? -1 : x->position > y->position;
}

unsigned
pco_upstream_dyn_collect(void *zone, pco_upstream_t *u, uint64_t *keys, unsigned max)
{
    pco_upstream_zone_hdr_t  *hdr = zone;
    pco_upstream_slot_t      *slots = pco_upstream_zone_slots(hdr);
    pco_upstream_dyn_old_t   *old;
    pco_upstream_runtime_t   *rt;
    unsigned                  n = 0, i, j, k;
    size_t                    s;

    old = calloc(PCO_UPSTREAM_MAX_SERVERS, sizeof(*old));
    if (old == NULL) {
        return 0;
    }
    for (s = 0; s < hdr->capacity && n < PCO_UPSTREAM_MAX_SERVERS; s++) {
        rt = &slots[s].st.rt;
        if (slots[s].key == 0 || rt->upstream_key != u->key || !rt->in_use
            || rt->origin != PCO_UPSTREAM_ORIGIN_API)
        {
            continue;
        }
        /* a server now in the configuration keeps its configured position only */
        for (i = 0; i < u->nservers; i++) {
            if (u->servers[i].name.len == strlen(rt->name)
                && memcmp(u->servers[i].name.data, rt->name, u->servers[i].name.len) == 0)
            {
                break;
            }
        }
        if (i == u->nservers) {
            old[n].position = rt->position;
            old[n].key = slots[s].key;
            n++;
        }
    }
    qsort(old, n, sizeof(*old), pco_upstream_dyn_old_cmp);
    for (j = 0, k = 0; j < n && k < max; j++) {
        keys[k++] = old[j].key;
    }
    if (n > max && pco_log != NULL) {
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "upstream \"%.*s\": %u servers added at run "
                    "time dropped: max_servers reached", (int) u->name.len, u->name.data,
                    n - max);
    }
    free(old);
    return k;
}

void
pco_upstream_dyn_restore(pco_upstream_t *u, pco_upstream_shared_t **st, unsigned n)
{
    unsigned  i;

    for (i = 0; i < u->nservers; i++) {
        st[i]->rt.upstream_key = u->key;
        st[i]->rt.origin = PCO_UPSTREAM_ORIGIN_CONF;
        st[i]->rt.position = (int32_t) i;
        st[i]->rt.entry = u->servers[i].entry;
        st[i]->rt.gone = 0;               /* the master resolved the entry again */
    }
    for (i = 0; i < n; i++) {
        st[u->nservers + i]->rt.position = (int32_t) (u->nservers + i);
        if (u->health_check == NULL) {
            /* no checker covers it any more: a down mark would keep it out for good */
            st[u->nservers + i]->health_down = 0;
        }
    }
}

bool
pco_upstream_server_lock(pco_upstream_server_t *s)
{
    pco_upstream_t           *u = s->upstream;
    pco_upstream_zone_hdr_t  *hdr = pco_upstream_dyn_hdr(u);
    pco_upstream_runtime_t   *rt;

    if (s->shared == NULL || s->vacant) {
        return false;
    }
    if (s->index < u->nservers) {
        return true;                      /* a configured position keeps its slot */
    }
    if (hdr == NULL) {
        return false;
    }
    pco_shmtx_lock(&hdr->lock);
    rt = &s->shared->rt;
    if (rt->in_use && rt->upstream_key == u->key && rt->position == (int32_t) s->index
        && rt->origin != PCO_UPSTREAM_ORIGIN_CONF
        && strncmp(rt->name, (const char *) s->dyn_name, sizeof(rt->name)) == 0)
    {
        return true;
    }
    pco_shmtx_unlock(&hdr->lock);
    return false;
}

void
pco_upstream_server_unlock(pco_upstream_server_t *s)
{
    pco_upstream_t  *u = s->upstream;

    if (s->index >= u->nservers && u->rt_zone != NULL) {
        pco_shmtx_unlock(&pco_upstream_dyn_hdr(u)->lock);
    }
}
