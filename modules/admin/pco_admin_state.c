/*
 * pco_admin_state.c: the admin state file (admin.state_file, docs/admin.md), which carries
 * runtime changes across a restart. JSON lines, one per server whose state differs from
 * the configuration:
 *   {"upstream": "app", "address": "127.0.0.1:9001", "origin": "config", "state": "drain",
 *    "weight": 3}
 *   {"upstream": "app", "address": "127.0.0.1:9005", "origin": "api", "state": "up",
 *    "weight": 1, "max_conns": 0, "backup": false}
 * (weight 0 on a configured server: its configured weight). Written by the helper process
 * "admin state writer" (never by a worker: the file may be slow to write), which polls the
 * upstream zone's version every 200 ms and, when it moved, writes the file aside, fsyncs
 * it and renames it over the old one. Read by the master at init_master when the upstream
 * zone is fresh (a start, or a reload that could not keep the zone), with the same strict
 * JSON parser as the API; a line that no longer applies (an upstream or a configured server
 * gone) is skipped with a notice, a damaged line with a warning.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pco_admin.h"
#include "pco_log.h"
#include "pco_listen.h"
#include "pco_event.h"

#define PCO_ADMIN_STATE_POLL   200          /* ms */
#define PCO_ADMIN_STATE_MAX    (4 * 1024 * 1024)

static const char *const pco_admin_state_names[] = { "up", "drain", "down" };

static pco_event_t  pco_admin_state_timer;
static uint64_t     pco_admin_state_seen;

void
pco_admin_state_render(pco_cycle_t *cycle, pco_admin_out_t *o)
{
    pco_upstream_t         *all, *u;
    pco_upstream_server_t  *s;
    pco_upstream_runtime_t *rt;
    unsigned                n, k, i;

    all = pco_upstream_all(cycle, &n);
    for (k = 0; k < n; k++) {
        u = &all[k];
        pco_upstream_sync(u);
        for (i = 0; i < pco_upstream_npos(u); i++) {
            s = &u->servers[i];
            if (s->vacant || s->shared == NULL) {
                continue;
            }
            rt = &s->shared->rt;
            if (s->origin == PCO_UPSTREAM_ORIGIN_CONF
                && rt->admin == PCO_UPSTREAM_ADMIN_UP && rt->weight == 0)
            {
                continue;                 /* as configured */
            }
            if (s->origin == PCO_UPSTREAM_ORIGIN_DNS) {
                continue;                 /* the resolver's: found again after a restart */
            }
            pco_admin_out_printf(o, "{\"upstream\": ");
            pco_admin_out_str(o, u->name.data, u->name.len);
            pco_admin_out_printf(o, ", \"address\": ");
            pco_admin_out_str(o, s->name.data, s->name.len);
            if (s->origin == PCO_UPSTREAM_ORIGIN_CONF) {
                pco_admin_out_printf(o, ", \"origin\": \"config\", \"state\": \"%s\", "
                                     "\"weight\": %d}\n",
                                     pco_admin_state_names[(unsigned) s->admin % 3],
                                     (int) rt->weight);
            } else {
                pco_admin_out_printf(o, ", \"origin\": \"api\", \"state\": \"%s\", "
                                     "\"weight\": %lld, \"max_conns\": %lld, "
                                     "\"backup\": %s}\n",
                                     pco_admin_state_names[(unsigned) s->admin % 3],
                                     (long long) s->weight, (long long) s->max_conns,
                                     s->backup ? "true" : "false");
            }
        }
    }
}

/* Writes the file aside, then renames it over the old one (blocking: helper only). */
static int
pco_admin_state_write(const char *path, const pco_admin_out_t *o)
{
    char     tmp[PATH_MAX];
    size_t   off = 0;
    ssize_t  w;
    int      fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)) {
        return PCO_ERROR;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "admin: open(\"%s\") failed", tmp);
        return PCO_ERROR;
    }
    while (off < o->len) {
        w = write(fd, o->data + off, o->len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            pco_log_err(PCO_LOG_ERR, pco_log, errno, "admin: write(\"%s\") failed", tmp);
            close(fd);
            unlink(tmp);
            return PCO_ERROR;
        }
        off += (size_t) w;
    }
    if (fsync(fd) == -1 || close(fd) == -1) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "admin: fsync/close(\"%s\") failed", tmp);
        unlink(tmp);
        return PCO_ERROR;
    }
    if (rename(tmp, path) == -1) {
        pco_log_err(PCO_LOG_ERR, pco_log, errno, "admin: rename(\"%s\", \"%s\") failed", tmp,
                    path);
        unlink(tmp);
        return PCO_ERROR;
    }
    return PCO_OK;
}

static void
pco_admin_state_tick(pco_event_t *ev)
{
    pco_admin_ctx_t  *ctx = pco_cycle->module_ctx[pco_admin_module.index];
    pco_admin_out_t   o;
    uint64_t          v = pco_upstream_version(pco_cycle);

    if (v != pco_admin_state_seen && ctx != NULL && ctx->state_path != NULL) {
        pco_admin_out_init(&o, NULL, PCO_ADMIN_STATE_MAX);
        pco_admin_state_render(pco_cycle, &o);
        if (!o.failed && pco_admin_state_write(ctx->state_path, &o) == PCO_OK) {
            pco_admin_state_seen = v;
            pco_log_err(PCO_LOG_INFO, pco_log, 0, "admin: state written to \"%s\"",
                        ctx->state_path);
        }
        pco_admin_out_free(&o);
    }
    pco_event_add_timer(ev, PCO_ADMIN_STATE_POLL);
}

int
pco_admin_state_helper_init(pco_cycle_t *cycle)
{
    pco_unused(cycle);
    pco_admin_state_seen = 0;
    pco_admin_state_timer.handler = pco_admin_state_tick;
    pco_admin_state_timer.cancelable = 1;
    pco_event_add_timer(&pco_admin_state_timer, 1);
    return PCO_OK;
}

/* ---- reading (master) ---- */

/* Applies one parsed line; a reason in why when it does not apply. */
static int
pco_admin_state_line(pco_cycle_t *cycle, const pco_admin_json_obj_t *obj, char *why,
                     size_t wl)
{
    const pco_admin_json_field_t  *fu, *fa, *fo, *fs, *fw, *fm, *fb;
    pco_upstream_dyn_spec_t        spec;
    pco_upstream_t                *u;
    pco_sockaddr_t                 sa;
    socklen_t                      salen;
    char                           addr[PCO_UPSTREAM_NAME_LEN];
    unsigned                       i, idx;
    int                            state = 0, code;

    fu = pco_admin_json_get(obj, "upstream");
    fa = pco_admin_json_get(obj, "address");
    fo = pco_admin_json_get(obj, "origin");
    fs = pco_admin_json_get(obj, "state");
    fw = pco_admin_json_get(obj, "weight");
    if (fu == NULL || fa == NULL || fo == NULL || fs == NULL || fw == NULL
        || fu->type != PCO_ADMIN_JSON_STRING || fa->type != PCO_ADMIN_JSON_STRING
        || fo->type != PCO_ADMIN_JSON_STRING || fs->type != PCO_ADMIN_JSON_STRING
        || fw->type != PCO_ADMIN_JSON_INT || fa->str.len >= sizeof(addr))
    {
        snprintf(why, wl, "a member is missing or of the wrong type");
        return PCO_ERROR;
    }
    while (state < 3 && !(fs->str.len == strlen(pco_admin_state_names[state])
                          && memcmp(fs->str.data, pco_admin_state_names[state],
                                    fs->str.len) == 0))
    {
        state++;
    }
    u = pco_upstream_find(cycle, &fu->str);
    if (u == NULL || state == 3) {
        snprintf(why, wl, "%s", u == NULL ? "no such upstream now" : "bad state");
        return PCO_ERROR;
    }
    memcpy(addr, fa->str.data, fa->str.len);
    addr[fa->str.len] = '\0';
    if (fo->str.len == 6 && memcmp(fo->str.data, "config", 6) == 0) {
        for (i = 0; i < u->nservers; i++) {
            if (u->servers[i].name.len == fa->str.len
                && memcmp(u->servers[i].name.data, addr, fa->str.len) == 0)
            {
                return pco_upstream_dyn_set(u, i, state, fw->num > 0 ? fw->num : -1, &code,
                                            why, wl);
            }
        }
        snprintf(why, wl, "no such configured server now");
        return PCO_ERROR;
    }
    fm = pco_admin_json_get(obj, "max_conns");
    fb = pco_admin_json_get(obj, "backup");
    if (pco_parse_addr(addr, &sa, &salen, false) != PCO_OK || fm == NULL || fb == NULL
        || fm->type != PCO_ADMIN_JSON_INT || fb->type != PCO_ADMIN_JSON_BOOL)
    {
        snprintf(why, wl, "bad added server");
        return PCO_ERROR;
    }
    memset(&spec, 0, sizeof(spec));
    spec.sockaddr = &sa;
    spec.socklen = salen;
    spec.weight = fw->num;
    spec.max_conns = fm->num;
    spec.backup = fb->b;
    spec.admin = state;
    spec.origin = PCO_UPSTREAM_ORIGIN_API;
    spec.entry = -1;
    return pco_upstream_dyn_add(u, &spec, &idx, &code, why, wl);
}

void
pco_admin_state_apply(pco_cycle_t *cycle, const char *path)
{
    pco_admin_json_obj_t  obj;
    struct stat           st;
    u_char               *data, *line, *nl, *scratch;
    char                  err[256];
    unsigned              applied = 0, skipped = 0, lineno = 0;
    ssize_t               n;
    int                   fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno != ENOENT) {
            pco_log_err(PCO_LOG_WARN, pco_log, errno, "admin: open(\"%s\") failed", path);
        }
        return;
    }
    if (fstat(fd, &st) == -1 || st.st_size > PCO_ADMIN_STATE_MAX) {
        pco_log_err(PCO_LOG_WARN, pco_log, 0, "admin: state file \"%s\" unreadable or "
                    "too large: ignored", path);
        close(fd);
        return;
    }
    data = malloc((size_t) st.st_size + 1);
    scratch = malloc((size_t) st.st_size + 1);
    n = data != NULL && scratch != NULL ? read(fd, data, (size_t) st.st_size) : -1;
    close(fd);
    if (n != (ssize_t) st.st_size) {
        pco_log_err(PCO_LOG_WARN, pco_log, errno, "admin: reading \"%s\" failed", path);
        free(data);
        free(scratch);
        return;
    }
    for (line = data; line < data + n; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (data + n - line));
        if (nl == NULL) {
            nl = data + n;
        }
        lineno++;
        if (nl == line) {
            continue;
        }
        if (pco_admin_json_parse(line, (size_t) (nl - line), scratch, &obj, err, sizeof(err))
            != PCO_OK || pco_admin_state_line(cycle, &obj, err, sizeof(err)) != PCO_OK)
        {
            pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "admin: %s:%u skipped: %s", path,
                        lineno, err);
            skipped++;
            continue;
        }
        applied++;
    }
    free(data);
    free(scratch);
    pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "admin: state file \"%s\": %u change%s "
                "applied, %u skipped", path, applied, applied == 1 ? "" : "s", skipped);
}
