/*
 * pco_admin_api.c: the admin API's requests (docs/admin.md), in workers:
 *   GET    /upstreams                         every upstream with its servers
 *   GET    /upstreams/NAME                    one upstream
 *   GET    /upstreams/NAME/servers/ID         one server
 *   PATCH  /upstreams/NAME/servers/ID         {"state": "up"|"drain"|"down", "weight": N|null}
 *   POST   /upstreams/NAME/servers            {"address", "weight", "max_conns", "backup",
 *                                             "state"} -> 201
 *   DELETE /upstreams/NAME/servers/ID         a server added at run time
 * Bodies are read whole (at most PCO_ADMIN_JSON_MAX_BODY bytes) before anything changes;
 * answers are JSON, errors {"error": "..."} with 400, 403, 404, 405, 409 or 413. Each change
 * is made in the upstream zone (pco_upstream_dyn_*), so every worker sees it at its next
 * pick, and is logged at notice with who made it: the peer's uid and pid (SO_PEERCRED) on
 * the Unix socket, else the client address and $remote_user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "pco_admin.h"
#include "pco_log.h"
#include "pco_listen.h"
#include "pco_time.h"

#define PCO_ADMIN_OUT_LIMIT  (8 * 1024 * 1024)

typedef struct {
    u_char                  body[PCO_ADMIN_JSON_MAX_BODY + 1];
    size_t                  len;
    u_char                  scratch[PCO_ADMIN_JSON_MAX_BODY + 1];
    pco_admin_json_obj_t    obj;
    pco_admin_out_t         out;
    int                     status;
    char                    who[256];
    const char             *allow;     /* 405: the Allow header */
} pco_admin_req_t;

static const char *const pco_admin_states[] = { "up", "drain", "down" };
static const char *const pco_admin_origins[] = { "config", "api", "dns" };

static int
pco_admin_error(pco_admin_req_t *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
pco_admin_error(pco_admin_req_t *q, int status, const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    q->out.len = 0;
    q->status = status;
    pco_admin_out_printf(&q->out, "{\"error\": ");
    pco_admin_out_str(&q->out, (const u_char *) msg, strlen(msg));
    pco_admin_out_printf(&q->out, "}\n");
    return status;
}

static bool
pco_admin_is_loopback(const pco_sockaddr_t *sa)
{
    static const u_char  v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (sa == NULL) {
        return false;
    }
    switch (sa->sa.sa_family) {
    case AF_UNIX:
        return true;
    case AF_INET:
        return (ntohl(sa->sin.sin_addr.s_addr) >> 24) == 127;
    case AF_INET6:
        if (IN6_IS_ADDR_LOOPBACK(&sa->sin6.sin6_addr)) {
            return true;
        }
        return memcmp(sa->sin6.sin6_addr.s6_addr, v4mapped, 12) == 0
               && sa->sin6.sin6_addr.s6_addr[12] == 127;
    default:
        return false;
    }
}

/* Who asks: "uid 1000 pid 4242" on a Unix socket, else "client 10.0.0.1 user \"ops\"". */
static void
pco_admin_who(pco_http_request_t *r, pco_admin_req_t *q)
{
    pco_admin_ctx_t    *ctx = pco_cycle->module_ctx[pco_admin_module.index];
    pco_connection_t   *c = r->connection;
    struct ucred        cred;
    socklen_t           len = sizeof(cred);
    pco_str_t           addr, user;
    int                 n;

    if (c->sockaddr.sa.sa_family == AF_UNIX
        && getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    {
        snprintf(q->who, sizeof(q->who), "uid %u pid %d", (unsigned) cred.uid, (int) cred.pid);
        return;
    }
    addr = pco_http_client_addr_text(r);
    n = snprintf(q->who, sizeof(q->who), "client %.*s", (int) pco_min(addr.len, 64),
                 addr.data);
    if (ctx != NULL && ctx->remote_user != NULL && n > 0
        && pco_http_template_eval(r, ctx->remote_user, &user) == PCO_OK && user.len > 0)
    {
        snprintf(q->who + n, sizeof(q->who) - (size_t) n, " user \"%.*s\"",
                 (int) pco_min(user.len, 64), user.data);
    }
}

/* ---- answers ---- */

static const char *
pco_admin_health(const pco_upstream_server_t *s)
{
    const pco_upstream_shared_t  *sh = s->shared;

    if (sh == NULL) {
        return "up";
    }
    if (__atomic_load_n(&sh->health_down, __ATOMIC_RELAXED)) {
        return "unhealthy";
    }
    if (s->upstream->max_fails > 0
        && __atomic_load_n(&sh->down_until, __ATOMIC_RELAXED) > (int64_t) pco_current_msec)
    {
        return "failed";
    }
    return "up";
}

static void
pco_admin_server_json(pco_admin_out_t *o, const pco_upstream_server_t *s)
{
    unsigned  origin = (unsigned) s->origin < 3 ? (unsigned) s->origin : 0;
    unsigned  admin = (unsigned) s->admin < 3 ? (unsigned) s->admin : 0;

    pco_admin_out_printf(o, "{\"id\": %u, \"address\": ", s->index);
    pco_admin_out_str(o, s->name.data, s->name.len);
    pco_admin_out_printf(o, ", \"configured\": ");
    pco_admin_out_str(o, s->configured.data, s->configured.len);
    pco_admin_out_printf(o, ", \"origin\": \"%s\", \"state\": \"%s\", \"weight\": %lld, "
                         "\"backup\": %s, \"max_conns\": %lld, \"down\": %s, "
                         "\"health\": \"%s\", \"active\": %lld, \"requests\": %llu}",
                         pco_admin_origins[origin], pco_admin_states[admin],
                         (long long) s->weight, s->backup ? "true" : "false",
                         (long long) s->max_conns, s->down ? "true" : "false",
                         pco_admin_health(s), (long long) pco_upstream_active(s),
                         s->shared != NULL
                         ? (unsigned long long) __atomic_load_n(&s->shared->requests,
                                                                __ATOMIC_RELAXED) : 0ull);
}

static void
pco_admin_upstream_json(pco_admin_out_t *o, pco_upstream_t *u)
{
    unsigned  i, n = 0;

    pco_upstream_sync(u);
    pco_admin_out_printf(o, "{\"name\": ");
    pco_admin_out_str(o, u->name.data, u->name.len);
    pco_admin_out_printf(o, ", \"balance\": \"%s\", \"max_servers\": %u, \"servers\": [",
                         u->balancer != NULL ? u->balancer->name : "", u->capacity);
    for (i = 0; i < pco_upstream_npos(u); i++) {
        if (u->servers[i].vacant) {
            continue;
        }
        pco_admin_out_printf(o, n++ ? ", " : "");
        pco_admin_server_json(o, &u->servers[i]);
    }
    pco_admin_out_printf(o, "]}");
}

/* ---- path ---- */

typedef struct {
    pco_str_t   seg[5];
    unsigned    n;
} pco_admin_path_t;

/* The API path: the URI, less the route's path_prefix (its trailing slash kept). */
static void
pco_admin_split(pco_http_request_t *r, pco_admin_path_t *path)
{
    pco_str_t   uri = r->uri;
    pco_str_t   pfx = r->route != NULL ? r->route->path_prefix : (pco_str_t) { 0, NULL };
    size_t      i, start;

    if (pfx.len > 0 && uri.len >= pfx.len && memcmp(uri.data, pfx.data, pfx.len) == 0) {
        size_t  cut = pfx.data[pfx.len - 1] == '/' ? pfx.len - 1 : pfx.len;

        uri.data += cut;
        uri.len -= cut;
    }
    path->n = 0;
    for (i = 0; i < uri.len; ) {
        while (i < uri.len && uri.data[i] == '/') {
            i++;
        }
        start = i;
        while (i < uri.len && uri.data[i] != '/') {
            i++;
        }
        if (i > start) {
            if (path->n == pco_nelems(path->seg)) {
                path->n++;           /* too deep: no such resource */
                return;
            }
            path->seg[path->n].data = uri.data + start;
            path->seg[path->n].len = i - start;
            path->n++;
        }
    }
}

static bool
pco_admin_seg_is(const pco_str_t *s, const char *lit)
{
    return s->len == strlen(lit) && memcmp(s->data, lit, s->len) == 0;
}

/* A decimal position, or -1. */
static long
pco_admin_id(const pco_str_t *s)
{
    long    v = 0;
    size_t  i;

    if (s->len == 0 || s->len > 6) {
        return -1;
    }
    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return -1;
        }
        v = v * 10 + (s->data[i] - '0');
    }
    return v;
}

static pco_upstream_t *
pco_admin_upstream(const pco_str_t *name)
{
    return pco_upstream_find(pco_cycle, name);
}

/* ---- request bodies ---- */

static int
pco_admin_parse(pco_admin_req_t *q, const char *const *allowed)
{
    char      err[128];
    unsigned  i, k;

    if (pco_admin_json_parse(q->body, q->len, q->scratch, &q->obj, err, sizeof(err))
        != PCO_OK)
    {
        return pco_admin_error(q, 400, "invalid JSON: %s", err);
    }
    for (i = 0; i < q->obj.n; i++) {
        for (k = 0; allowed[k] != NULL; k++) {
            if (q->obj.f[i].name.len == strlen(allowed[k])
                && memcmp(q->obj.f[i].name.data, allowed[k], q->obj.f[i].name.len) == 0)
            {
                break;
            }
        }
        if (allowed[k] == NULL) {
            return pco_admin_error(q, 400, "unknown field \"%.*s\"",
                                   (int) pco_min(q->obj.f[i].name.len, 64),
                                   q->obj.f[i].name.data);
        }
    }
    return PCO_OK;
}

/* "state": absent -1, else PCO_UPSTREAM_ADMIN_*; -2 after an error answer. */
static int
pco_admin_state_field(pco_admin_req_t *q)
{
    const pco_admin_json_field_t  *f = pco_admin_json_get(&q->obj, "state");
    unsigned                       i;

    if (f == NULL) {
        return -1;
    }
    for (i = 0; f->type == PCO_ADMIN_JSON_STRING && i < 3; i++) {
        if (pco_admin_seg_is(&f->str, pco_admin_states[i])) {
            return (int) i;
        }
    }
    pco_admin_error(q, 400, "\"state\" must be \"up\", \"drain\" or \"down\"");
    return -2;
}

/* An integer field within [min, max]: PCO_OK with *v (def when absent), else an answer. */
static int
pco_admin_int_field(pco_admin_req_t *q, const char *name, int64_t min, int64_t max,
                    int64_t def, int64_t *v)
{
    const pco_admin_json_field_t  *f = pco_admin_json_get(&q->obj, name);

    *v = def;
    if (f == NULL) {
        return PCO_OK;
    }
    if (f->type != PCO_ADMIN_JSON_INT || f->num < min || f->num > max) {
        return pco_admin_error(q, 400, "\"%s\" must be an integer %lld..%lld", name,
                               (long long) min, (long long) max);
    }
    *v = f->num;
    return PCO_OK;
}

/* ---- operations ---- */

static int
pco_admin_patch(pco_http_request_t *r, pco_admin_req_t *q, pco_upstream_t *u, unsigned id)
{
    static const char *const       allowed[] = { "state", "weight", NULL };
    const pco_admin_json_field_t  *wf;
    int64_t                        weight = 0;
    char                           err[256], what[96];
    int                            state, code = 500;

    pco_unused(r);
    if (pco_admin_parse(q, allowed) != PCO_OK) {
        return q->status;
    }
    state = pco_admin_state_field(q);
    if (state == -2) {
        return q->status;
    }
    wf = pco_admin_json_get(&q->obj, "weight");
    if (wf != NULL && wf->type == PCO_ADMIN_JSON_NULL) {
        weight = -1;                 /* back to the configured weight */
    } else if (pco_admin_int_field(q, "weight", 1, 1000, 0, &weight) != PCO_OK) {
        return q->status;
    }
    if (state == -1 && wf == NULL) {
        return pco_admin_error(q, 400, "nothing to change: give \"state\" and/or \"weight\"");
    }
    if (pco_upstream_dyn_set(u, id, state, weight, &code, err, sizeof(err)) != PCO_OK) {
        return pco_admin_error(q, code, "%s", err);
    }
    pco_upstream_sync(u);
    what[0] = '\0';
    if (state >= 0) {
        snprintf(what, sizeof(what), " state %s", pco_admin_states[state]);
    }
    if (weight != 0) {
        snprintf(what + strlen(what), sizeof(what) - strlen(what), " weight %lld",
                 (long long) u->servers[id].weight);
    }
    pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "admin: %s: upstream \"%.*s\" server %u %.*s:%s",
                q->who, (int) u->name.len, u->name.data, id, (int) u->servers[id].name.len,
                u->servers[id].name.data, what);
    q->status = 200;
    pco_admin_server_json(&q->out, &u->servers[id]);
    pco_admin_out_printf(&q->out, "\n");
    return 200;
}

static int
pco_admin_post(pco_http_request_t *r, pco_admin_req_t *q, pco_upstream_t *u)
{
    static const char *const       allowed[] = { "address", "weight", "max_conns", "backup",
                                                 "state", NULL };
    const pco_admin_json_field_t  *af, *bf;
    pco_upstream_dyn_spec_t        spec;
    pco_sockaddr_t                 sa;
    socklen_t                      salen;
    char                           addr[256], err[256];
    unsigned                       idx;
    int                            state, code = 500;

    pco_unused(r);
    if (pco_admin_parse(q, allowed) != PCO_OK) {
        return q->status;
    }
    memset(&spec, 0, sizeof(spec));
    af = pco_admin_json_get(&q->obj, "address");
    if (af == NULL) {
        return pco_admin_error(q, 400, "\"address\" is required");
    }
    if (af->type != PCO_ADMIN_JSON_STRING || af->str.len == 0 || af->str.len >= sizeof(addr)
        || memchr(af->str.data, '\0', af->str.len) != NULL)
    {
        return pco_admin_error(q, 400, "\"address\" must be a string");
    }
    memcpy(addr, af->str.data, af->str.len);
    addr[af->str.len] = '\0';
    if (pco_parse_addr(addr, &sa, &salen, false) != PCO_OK
        || (sa.sa.sa_family == AF_INET && sa.sin.sin_port == 0)
        || (sa.sa.sa_family == AF_INET6 && sa.sin6.sin6_port == 0))
    {
        return pco_admin_error(q, 400, "invalid address \"%s\": IP:port, [IPv6]:port or "
                               "unix:/path (host names are not resolved here)", addr);
    }
    state = pco_admin_state_field(q);
    if (state == -2) {
        return q->status;
    }
    if (pco_admin_int_field(q, "weight", 1, 1000, 1, &spec.weight) != PCO_OK
        || pco_admin_int_field(q, "max_conns", 0, 1000000, 0, &spec.max_conns) != PCO_OK)
    {
        return q->status;
    }
    bf = pco_admin_json_get(&q->obj, "backup");
    if (bf != NULL && bf->type != PCO_ADMIN_JSON_BOOL) {
        return pco_admin_error(q, 400, "\"backup\" must be true or false");
    }
    spec.backup = bf != NULL && bf->b;
    spec.sockaddr = &sa;
    spec.socklen = salen;
    spec.admin = state < 0 ? PCO_UPSTREAM_ADMIN_UP : state;
    spec.origin = PCO_UPSTREAM_ORIGIN_API;
    spec.entry = -1;
    if (pco_upstream_dyn_add(u, &spec, &idx, &code, err, sizeof(err)) != PCO_OK) {
        return pco_admin_error(q, code, "%s", err);
    }
    pco_upstream_sync(u);
    pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "admin: %s: upstream \"%.*s\": added server %u "
                "%.*s weight %lld max_conns %lld backup %s state %s", q->who,
                (int) u->name.len, u->name.data, idx, (int) u->servers[idx].name.len,
                u->servers[idx].name.data, (long long) spec.weight,
                (long long) spec.max_conns, spec.backup ? "true" : "false",
                pco_admin_states[spec.admin]);
    q->status = 201;
    pco_admin_server_json(&q->out, &u->servers[idx]);
    pco_admin_out_printf(&q->out, "\n");
    return 201;
}

static int
pco_admin_delete(pco_admin_req_t *q, pco_upstream_t *u, unsigned id)
{
    char  err[256], name[PCO_UPSTREAM_NAME_LEN];
    int   code = 500;

    pco_upstream_sync(u);
    snprintf(name, sizeof(name), "%.*s",
             id < u->capacity ? (int) u->servers[id].name.len : 0,
             id < u->capacity ? (const char *) u->servers[id].name.data : "");
    if (pco_upstream_dyn_remove(u, id, &code, err, sizeof(err)) != PCO_OK) {
        return pco_admin_error(q, code, "%s", err);
    }
    pco_upstream_sync(u);
    pco_log_err(PCO_LOG_NOTICE, pco_log, 0, "admin: %s: upstream \"%.*s\": removed server "
                "%u %s", q->who, (int) u->name.len, u->name.data, id, name);
    q->status = 200;
    pco_admin_out_printf(&q->out, "{\"removed\": %u}\n", id);
    return 200;
}

/* Routes the request to its operation; the answer is in q->out with q->status. */
static int
pco_admin_dispatch(pco_http_request_t *r, pco_admin_req_t *q)
{
    unsigned          m = r->head.method, i, n;
    pco_admin_path_t  path;
    pco_upstream_t   *u, *all;
    long              id = -1;
    bool              get = (m & (PCO_HTTP_GET | PCO_HTTP_HEAD)) != 0;

    pco_admin_split(r, &path);
    if (path.n == 0 || path.n > 4 || !pco_admin_seg_is(&path.seg[0], "upstreams")
        || (path.n >= 3 && !pco_admin_seg_is(&path.seg[2], "servers")))
    {
        return pco_admin_error(q, 404, "no such resource");
    }
    if (path.n == 1) {
        if (!get) {
            q->allow = "GET, HEAD";
            return pco_admin_error(q, 405, "method not allowed");
        }
        all = pco_upstream_all(pco_cycle, &n);
        pco_admin_out_printf(&q->out, "{\"upstreams\": [");
        for (i = 0; i < n; i++) {
            pco_admin_out_printf(&q->out, i ? ", " : "");
            pco_admin_upstream_json(&q->out, &all[i]);
        }
        pco_admin_out_printf(&q->out, "]}\n");
        q->status = 200;
        return 200;
    }
    u = pco_admin_upstream(&path.seg[1]);
    if (u == NULL) {
        return pco_admin_error(q, 404, "no upstream \"%.*s\"",
                               (int) pco_min(path.seg[1].len, 128), path.seg[1].data);
    }
    if (path.n == 4) {
        id = pco_admin_id(&path.seg[3]);
        pco_upstream_sync(u);
        if (id < 0 || (unsigned long) id >= pco_upstream_npos(u) || u->servers[id].vacant) {
            return pco_admin_error(q, 404, "no server \"%.*s\" in upstream \"%.*s\"",
                                   (int) pco_min(path.seg[3].len, 32), path.seg[3].data,
                                   (int) u->name.len, u->name.data);
        }
    }
    if (path.n == 2 && get) {
        pco_admin_upstream_json(&q->out, u);
        pco_admin_out_printf(&q->out, "\n");
        q->status = 200;
        return 200;
    }
    if (path.n == 3 && (m & PCO_HTTP_POST)) {
        return pco_admin_post(r, q, u);
    }
    if (path.n == 3 && get) {
        pco_admin_upstream_json(&q->out, u);
        pco_admin_out_printf(&q->out, "\n");
        q->status = 200;
        return 200;
    }
    if (path.n == 4 && get) {
        pco_admin_server_json(&q->out, &u->servers[id]);
        pco_admin_out_printf(&q->out, "\n");
        q->status = 200;
        return 200;
    }
    if (path.n == 4 && (m & PCO_HTTP_PATCH)) {
        return pco_admin_patch(r, q, u, (unsigned) id);
    }
    if (path.n == 4 && (m & PCO_HTTP_DELETE)) {
        return pco_admin_delete(q, u, (unsigned) id);
    }
    q->allow = path.n == 2 ? "GET, HEAD" : path.n == 3 ? "GET, HEAD, POST"
                                                        : "GET, HEAD, PATCH, DELETE";
    return pco_admin_error(q, 405, "method not allowed");
}

/* Sends q's answer; the return value is the content handler's. */
static int
pco_admin_send(pco_http_request_t *r, pco_admin_req_t *q)
{
    static const pco_str_t  json = pco_string("application/json");
    static const pco_str_t  allow = pco_string("Allow");
    pco_str_t               body, av;
    int                     rc;

    if (q->out.failed) {
        return 500;
    }
    if (q->allow != NULL) {
        av.data = (u_char *) q->allow;
        av.len = strlen(q->allow);
        if (pco_http_set_header(r, &allow, &av, true) != PCO_OK) {
            return 500;
        }
    }
    body.data = q->out.data;
    body.len = q->out.len;
    rc = pco_http_send_response(r, q->status, &json, &body);
    return rc == PCO_ERROR ? PCO_ERROR : rc == PCO_AGAIN ? PCO_AGAIN : PCO_OK;
}

/* Reads what is there of the body: PCO_DONE (whole), PCO_AGAIN, or a status answered. */
static int
pco_admin_read(pco_http_request_t *r, pco_admin_req_t *q)
{
    size_t  got;
    int     rc;

    for ( ;; ) {
        got = 0;
        rc = pco_http_read_body(r, q->body + q->len, sizeof(q->body) - q->len, &got);
        q->len += got;
        if (q->len > PCO_ADMIN_JSON_MAX_BODY) {
            return pco_admin_error(q, 413, "request body too large (%d bytes at most)",
                                   PCO_ADMIN_JSON_MAX_BODY);
        }
        if (rc == PCO_OK) {
            continue;
        }
        if (rc == PCO_DONE || rc == PCO_AGAIN || rc == PCO_ERROR) {
            return rc;
        }
        return rc >= 400 ? pco_admin_error(q, rc, "bad request body") : rc;
    }
}

static void
pco_admin_read_more(pco_http_request_t *r)
{
    pco_admin_req_t  *q = pco_http_get_ctx(r, &pco_admin_module);
    int               rc;

    rc = pco_admin_read(r, q);
    if (rc == PCO_AGAIN) {
        return;
    }
    r->read_handler = NULL;
    if (rc == PCO_ERROR) {
        pco_http_finalize_request(r, PCO_ERROR);
        return;
    }
    if (rc == PCO_DONE) {
        pco_admin_dispatch(r, q);
    }
    pco_http_finalize_request(r, pco_admin_send(r, q));
}

int
pco_admin_handler(pco_http_request_t *r)
{
    pco_admin_conf_t  *acf = pco_http_route_conf(r, &pco_admin_module);
    pco_admin_req_t   *q;
    int                rc;

    q = pco_pcalloc(r->pool, sizeof(pco_admin_req_t));
    if (q == NULL) {
        return 500;
    }
    pco_admin_out_init(&q->out, r->pool, PCO_ADMIN_OUT_LIMIT);
    pco_http_set_ctx(r, q, &pco_admin_module);
    if (acf != NULL && acf->route && !acf->has_access
        && !pco_admin_is_loopback(r->client_addr))
    {
        rc = pco_http_discard_body(r);
        if (rc != PCO_OK) {
            return rc;
        }
        pco_admin_error(q, 403, "forbidden: the admin API answers loopback clients only "
                        "unless the route has `access`");
        return pco_admin_send(r, q);
    }
    pco_admin_who(r, q);
    if (r->head.method & (PCO_HTTP_GET | PCO_HTTP_HEAD)) {
        rc = pco_http_discard_body(r);
        if (rc != PCO_OK) {
            return rc;
        }
        pco_admin_dispatch(r, q);
        return pco_admin_send(r, q);
    }
    rc = pco_admin_read(r, q);
    if (rc == PCO_AGAIN) {
        r->read_handler = pco_admin_read_more;
        return PCO_AGAIN;
    }
    if (rc == PCO_ERROR) {
        return PCO_ERROR;
    }
    if (rc == PCO_DONE) {
        pco_admin_dispatch(r, q);
    }
    return pco_admin_send(r, q);
}
