/*
 * pco_http_variables.c: the variable registry ($remote_addr ... and placeholder upstream/TLS
 * variables other modules replace), templates ("text $var ${var}" compiled at configuration
 * time, names resolved at conf_final) and the request id (client's kept when valid, else 32
 * hex from a per-worker xorshift PRNG seeded with getrandom).
 */
#include "pco_http_int.h"
#include "pco_string.h"
#include <stdio.h>
#include <strings.h>
#include <sys/random.h>

static uint64_t pco_http_prng_state[2] = { 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull };

void
pco_http_prng_seed(void)
{
    uint64_t s[2];

    if (getrandom(s, sizeof(s), 0) == (ssize_t) sizeof(s)) {
        pco_http_prng_state[0] = s[0] | 1;
        pco_http_prng_state[1] = s[1];
    }
}

static uint64_t
pco_http_prng(void)
{
    uint64_t s1 = pco_http_prng_state[0];
    uint64_t s0 = pco_http_prng_state[1];
    uint64_t res = s0 + s1;

    pco_http_prng_state[0] = s0;
    s1 ^= s1 << 23;
    pco_http_prng_state[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    return res;
}

void
pco_http_request_id_generate(u_char *out)
{
    static const char  hex[] = "0123456789abcdef";
    uint64_t           v;
    int                i, k;

    for (k = 0; k < 2; k++) {
        v = pco_http_prng();
        for (i = 0; i < 16; i++) {
            out[k * 16 + i] = (u_char) hex[(v >> (i * 4)) & 0xf];
        }
    }
}

bool
pco_http_request_id_valid(const u_char *p, size_t len)
{
    size_t i;

    if (len < 1 || len > 128) {
        return false;
    }
    for (i = 0; i < len; i++) {
        u_char ch = p[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || ch == '.' || ch == '_' || ch == ':' || ch == '-'))
        {
            return false;
        }
    }
    return true;
}

/* ---- registry ---- */

static pco_http_main_t *
pco_http_vmain(pco_cycle_t *cycle)
{
    return cycle->module_ctx[pco_http_module.index];
}

int
pco_http_variable_add(pco_conf_t *cf, pco_cycle_t *cycle, const char *name,
                      pco_http_var_get_pt get, uintptr_t data, unsigned flags)
{
    pco_http_main_t  *hm = pco_http_vmain(cycle);
    pco_http_var_t   *v;
    size_t            i;

    if (hm == NULL || name == NULL || name[0] == '\0' || get == NULL) {
        pco_conf_error_module(cf, NULL, NULL, "cannot register variable \"$%s\": %s",
                              name != NULL ? name : "",
                              hm == NULL ? "the http module has no configuration"
                              : get == NULL ? "no getter given" : "empty name");
        return PCO_ERROR;
    }
    v = hm->vars.elts;
    for (i = 0; i < hm->vars.nelts; i++) {
        if (strcmp(v[i].name, name) == 0) {
            /* replaces a placeholder (or an earlier definition) */
            v[i].get = get;
            v[i].data = data;
            v[i].flags = flags;
            return PCO_OK;
        }
    }
    v = pco_array_push(&hm->vars);
    if (v == NULL) {
        pco_conf_error_module(cf, NULL, NULL, "cannot register variable \"$%s\": out of "
                              "memory", name);
        return PCO_ERROR;
    }
    v->name = name;
    v->sname.data = (u_char *) name;
    v->sname.len = strlen(name);
    v->get = get;
    v->data = data;
    v->flags = flags;
    return PCO_OK;
}

/* ---- getters ---- */

static int
pco_http_var_absent(pco_http_request_t *r, const pco_str_t *name, uintptr_t d, pco_str_t *v)
{
    pco_unused(r);
    pco_unused(name);
    pco_unused(d);
    pco_unused(v);
    return PCO_DECLINED;
}

/* data = offset of a pco_str_t inside the request */
static int
pco_http_var_rstr(pco_http_request_t *r, const pco_str_t *name, uintptr_t d, pco_str_t *v)
{
    pco_unused(name);
    *v = *(pco_str_t *) ((u_char *) r + d);
    return v->data == NULL && d != offsetof(pco_http_request_t, args) ? PCO_DECLINED : PCO_OK;
}

static int
pco_http_var_num(pco_http_request_t *r, int64_t n, pco_str_t *v)
{
    u_char  *p = pco_pnalloc(r->pool, 20);

    if (p == NULL) {
        return PCO_DECLINED;
    }
    v->data = p;
    v->len = (size_t) (pco_sprint_i64(p, n) - p);
    return PCO_OK;
}

pco_str_t
pco_http_client_addr_text(pco_http_request_t *r)
{
    pco_str_t  none = { 0, NULL };
    u_char    *a;

    if (r->client_addr == &r->connection->sockaddr) {
        return pco_conn_addr_text(r->connection);
    }
    if (r->client_addr_of != r->client_addr) {
        a = pco_pnalloc(r->pool, PCO_ADDR_TEXT_SIZE);
        if (a == NULL) {
            return none;
        }
        r->client_addr_text.len = pco_sockaddr_ntop(r->client_addr, r->client_socklen, a,
                                                    PCO_ADDR_TEXT_SIZE, false);
        r->client_addr_text.data = a;
        r->client_addr_of = r->client_addr;
    }
    return r->client_addr_text;
}

enum {
    PCO_V_REMOTE_ADDR, PCO_V_REMOTE_PORT, PCO_V_SCHEME, PCO_V_REQUEST, PCO_V_METHOD,
    PCO_V_REQUEST_URI, PCO_V_SERVER_NAME, PCO_V_STATUS, PCO_V_BODY_BYTES, PCO_V_REQUEST_TIME,
    PCO_V_TIME_LOCAL, PCO_V_TIME_ISO, PCO_V_PROTOCOL, PCO_V_SERVER_PORT, PCO_V_REQ_LENGTH,
    PCO_V_BYTES_SENT, PCO_V_CONNECTION, PCO_V_CONN_REQUESTS, PCO_V_COMPLETION,
    PCO_V_ROUTE_NAME
};

static int
pco_http_var_misc(pco_http_request_t *r, const pco_str_t *name, uintptr_t d, pco_str_t *v)
{
    pco_connection_t  *c = r->connection;
    pco_msec_t         ms;

    pco_unused(name);
    switch (d) {
    case PCO_V_REMOTE_ADDR:
        *v = pco_http_client_addr_text(r);
        return v->data == NULL ? PCO_DECLINED : PCO_OK;
    case PCO_V_REMOTE_PORT:
        if (c->sockaddr.sa.sa_family == AF_UNIX) {
            return PCO_DECLINED;
        }
        return pco_http_var_num(r, pco_sockaddr_port(&c->sockaddr), v);
    case PCO_V_SCHEME:
        pco_str_set(v, "http");
        return PCO_OK;
    case PCO_V_REQUEST:
        *v = r->head.request_line;
        return v->len ? PCO_OK : PCO_DECLINED;
    case PCO_V_METHOD:
        *v = r->head.method_name;
        return v->len ? PCO_OK : PCO_DECLINED;
    case PCO_V_REQUEST_URI:
        *v = r->head.target;
        return v->len ? PCO_OK : PCO_DECLINED;
    case PCO_V_SERVER_NAME:
        if (r->server == NULL) {
            return PCO_DECLINED;
        }
        *v = r->server->name;
        return PCO_OK;
    case PCO_V_ROUTE_NAME:
        if (r->route == NULL) {
            return PCO_DECLINED;
        }
        *v = r->route->name;
        return PCO_OK;
    case PCO_V_STATUS:
        return pco_http_var_num(r, r->status ? r->status : 0, v);
    case PCO_V_BODY_BYTES:
        return pco_http_var_num(r, r->body_bytes_sent, v);
    case PCO_V_BYTES_SENT:
        return pco_http_var_num(r, r->bytes_sent, v);
    case PCO_V_REQ_LENGTH:
        return pco_http_var_num(r, r->request_length, v);
    case PCO_V_CONNECTION:
        return pco_http_var_num(r, (int64_t) c->number, v);
    case PCO_V_CONN_REQUESTS:
        return pco_http_var_num(r, c->requests, v);
    case PCO_V_COMPLETION:
        if (!r->complete) {
            return PCO_DECLINED;
        }
        pco_str_set(v, "OK");
        return PCO_OK;
    case PCO_V_REQUEST_TIME:
        ms = pco_current_msec - r->start_msec;
        if (ms < 0) {
            ms = 0;
        }
        v->data = pco_pnalloc(r->pool, 32);
        if (v->data == NULL) {
            return PCO_DECLINED;
        }
        v->len = (size_t) (pco_sprint_msec(v->data, ms) - v->data);
        return PCO_OK;
    case PCO_V_TIME_LOCAL:
        *v = pco_cached_log_time;
        return PCO_OK;
    case PCO_V_TIME_ISO:
        *v = pco_cached_iso8601;
        return PCO_OK;
    case PCO_V_PROTOCOL:
        if (r->head.version == 10) {
            pco_str_set(v, "HTTP/1.0");
        } else if (r->head.version == 11) {
            pco_str_set(v, "HTTP/1.1");
        } else if (r->head.version == 20) {
            pco_str_set(v, "HTTP/2.0");
        } else {
            return PCO_DECLINED;
        }
        return PCO_OK;
    case PCO_V_SERVER_PORT:
        if (c->listening == NULL || c->listening->sockaddr.sa.sa_family == AF_UNIX) {
            return PCO_DECLINED;
        }
        return pco_http_var_num(r, pco_sockaddr_port(&c->listening->sockaddr), v);
    }
    return PCO_DECLINED;
}

static int
pco_http_var_http(pco_http_request_t *r, const pco_str_t *name, uintptr_t d, pco_str_t *v)
{
    unsigned  i;
    size_t    k;

    pco_unused(d);
    for (i = 0; i < r->head.nheaders; i++) {
        pco_http_header_t *h = &r->head.headers[i];

        if (h->name.len != name->len) {
            continue;
        }
        for (k = 0; k < name->len; k++) {
            u_char a = h->name.data[k], b = name->data[k];

            a = (a == '-') ? '_' : (u_char) (a | (a >= 'A' && a <= 'Z' ? 0x20 : 0));
            b = (u_char) (b | (b >= 'A' && b <= 'Z' ? 0x20 : 0));
            if (a != b) {
                break;
            }
        }
        if (k == name->len) {
            *v = h->value;
            return PCO_OK;
        }
    }
    return PCO_DECLINED;
}

static int
pco_http_var_arg(pco_http_request_t *r, const pco_str_t *name, uintptr_t d, pco_str_t *v)
{
    u_char *p = r->args.data, *end = p + r->args.len;

    pco_unused(d);
    while (p != NULL && p < end) {
        u_char *amp = memchr(p, '&', (size_t) (end - p)), *eq;

        if (amp == NULL) {
            amp = end;
        }
        eq = memchr(p, '=', (size_t) (amp - p));
        if (eq == NULL) {
            eq = amp;
        }
        if ((size_t) (eq - p) == name->len && memcmp(p, name->data, name->len) == 0) {
            v->data = eq < amp ? eq + 1 : eq;
            v->len = (size_t) (amp - v->data);
            return PCO_OK;
        }
        p = amp + 1;
    }
    return PCO_DECLINED;
}

static int
pco_http_var_cookie(pco_http_request_t *r, const pco_str_t *name, uintptr_t d, pco_str_t *v)
{
    unsigned  i;

    pco_unused(d);
    for (i = 0; i < r->head.nheaders; i++) {
        pco_http_header_t *h = &r->head.headers[i];
        u_char            *p, *end;

        if (h->name.len != 6 || strncasecmp((char *) h->name.data, "cookie", 6) != 0) {
            continue;
        }
        p = h->value.data;
        end = p + h->value.len;
        while (p < end) {
            u_char *semi = memchr(p, ';', (size_t) (end - p)), *eq;

            if (semi == NULL) {
                semi = end;
            }
            while (p < semi && *p == ' ') {
                p++;
            }
            eq = memchr(p, '=', (size_t) (semi - p));
            if (eq != NULL && (size_t) (eq - p) == name->len
                && memcmp(p, name->data, name->len) == 0)
            {
                v->data = eq + 1;
                v->len = (size_t) (semi - eq - 1);
                return PCO_OK;
            }
            p = semi + 1;
        }
    }
    return PCO_DECLINED;
}

int
pco_http_variables_init(pco_conf_t *cf, pco_cycle_t *cycle)
{
    static const struct { const char *name; uintptr_t d; unsigned flags; } misc[] = {
        { "remote_addr", PCO_V_REMOTE_ADDR, 0 },
        { "remote_port", PCO_V_REMOTE_PORT, PCO_HTTP_VAR_NUMBER },
        { "scheme", PCO_V_SCHEME, 0 },
        { "request", PCO_V_REQUEST, 0 },
        { "request_method", PCO_V_METHOD, 0 },
        { "request_uri", PCO_V_REQUEST_URI, 0 },
        { "server_name", PCO_V_SERVER_NAME, 0 },
        /* the route's `name`, else its default label (docs/metrics.md); absent before
         * routing or when no route matched */
        { "route_name", PCO_V_ROUTE_NAME, 0 },
        { "status", PCO_V_STATUS, PCO_HTTP_VAR_NOCACHE | PCO_HTTP_VAR_NUMBER },
        { "body_bytes_sent", PCO_V_BODY_BYTES, PCO_HTTP_VAR_NOCACHE | PCO_HTTP_VAR_NUMBER },
        { "bytes_sent", PCO_V_BYTES_SENT, PCO_HTTP_VAR_NOCACHE | PCO_HTTP_VAR_NUMBER },
        { "request_time", PCO_V_REQUEST_TIME, PCO_HTTP_VAR_NOCACHE | PCO_HTTP_VAR_NUMBER },
        { "time_local", PCO_V_TIME_LOCAL, PCO_HTTP_VAR_NOCACHE },
        { "time_iso8601", PCO_V_TIME_ISO, PCO_HTTP_VAR_NOCACHE },
        { "server_protocol", PCO_V_PROTOCOL, 0 },
        { "server_port", PCO_V_SERVER_PORT, PCO_HTTP_VAR_NUMBER },
        { "request_length", PCO_V_REQ_LENGTH, PCO_HTTP_VAR_NUMBER },
        { "connection", PCO_V_CONNECTION, PCO_HTTP_VAR_NUMBER },
        { "connection_requests", PCO_V_CONN_REQUESTS, PCO_HTTP_VAR_NUMBER },
        /* $request_completion (nginx's name and values): "OK" when the whole response,
         * its framing included, reached the client's socket; absent ("-" in text logs,
         * null in JSON) when it was cut: an upstream that failed after the head went out
         * (timeout, reset, early close, bad framing), a client that timed out or went
         * away. $status keeps the status sent; 499 only when no byte went out. */
        { "request_completion", PCO_V_COMPLETION, PCO_HTTP_VAR_NOCACHE },
    };
    static const char *const absent[] = {
        "remote_user", "upstream_addr", "upstream_status", "upstream_response_time",
        "upstream_cache_status", "ssl_protocol", "ssl_cipher", "ssl_client_s_dn",
        "ssl_client_verify", "ssl_server_name", "ssl_session_reused"
    };
    pco_http_main_t  *hm = pco_http_vmain(cycle);
    size_t            i;
    int               rc = PCO_OK;

    for (i = 0; i < pco_nelems(misc); i++) {
        rc |= pco_http_variable_add(cf, cycle, misc[i].name, pco_http_var_misc, misc[i].d,
                                    misc[i].flags);
    }
    for (i = 0; i < pco_nelems(absent); i++) {
        rc |= pco_http_variable_add(cf, cycle, absent[i], pco_http_var_absent, 0, 0);
    }
    rc |= pco_http_variable_add(cf, cycle, "host", pco_http_var_rstr,
                                offsetof(pco_http_request_t, host), 0);
    rc |= pco_http_variable_add(cf, cycle, "uri", pco_http_var_rstr,
                                offsetof(pco_http_request_t, uri), 0);
    rc |= pco_http_variable_add(cf, cycle, "args", pco_http_var_rstr,
                                offsetof(pco_http_request_t, args), 0);
    rc |= pco_http_variable_add(cf, cycle, "request_id", pco_http_var_rstr,
                                offsetof(pco_http_request_t, request_id), 0);
    rc |= pco_http_proxy_protocol_variables(cf, cycle);
    hm->var_arg = (int) hm->vars.nelts;
    rc |= pco_http_variable_add(cf, cycle, "arg_", pco_http_var_arg, 0, PCO_HTTP_VAR_PREFIX);
    hm->var_http = (int) hm->vars.nelts;
    rc |= pco_http_variable_add(cf, cycle, "http_", pco_http_var_http, 0, PCO_HTTP_VAR_PREFIX);
    hm->var_cookie = (int) hm->vars.nelts;
    rc |= pco_http_variable_add(cf, cycle, "cookie_", pco_http_var_cookie, 0,
                                PCO_HTTP_VAR_PREFIX);
    return rc == PCO_OK ? PCO_OK : PCO_ERROR;
}

/* ---- templates ---- */

static bool
pco_http_name_char(u_char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
           || ch == '_';
}

int
pco_http_template_split(pco_pool_t *pool, const pco_str_t *text, pco_http_template_t *t,
                        const char **err)
{
    size_t  i = 0, n = text->len, max = n / 1 + 2, lit_start = 0;

    t->parts = pco_pcalloc(pool, sizeof(pco_http_template_part_t) * max);
    t->names = pco_pcalloc(pool, sizeof(char *) * max);
    if (t->parts == NULL || t->names == NULL) {
        *err = "out of memory";
        return PCO_ERROR;
    }
    t->nparts = 0;
    t->literal = true;
    t->text = *text;
    while (i <= n) {
        if (i == n || text->data[i] == '$') {
            size_t  ns, ne, next;

            if (i > lit_start) {
                pco_http_template_part_t *p = &t->parts[t->nparts++];

                p->var = -1;
                p->literal.data = text->data + lit_start;
                p->literal.len = i - lit_start;
            }
            if (i == n) {
                break;
            }
            if (i + 1 < n && text->data[i + 1] == '{') {
                ns = i + 2;
                ne = ns;
                while (ne < n && text->data[ne] != '}') {
                    ne++;
                }
                if (ne == n) {
                    *err = "unterminated ${";
                    return PCO_ERROR;
                }
                next = ne + 1;
            } else {
                ns = i + 1;
                ne = ns;
                while (ne < n && pco_http_name_char(text->data[ne])) {
                    ne++;
                }
                next = ne;
            }
            if (ne == ns) {
                if (ns < n && text->data[ns] == '$') {
                    /* "$$" is a literal dollar */
                    pco_http_template_part_t *p = &t->parts[t->nparts++];

                    p->var = -1;
                    p->literal.data = text->data + i;
                    p->literal.len = 1;
                    i = ns + 1;
                    lit_start = i;
                    continue;
                }
                *err = "empty variable name after '$'";
                return PCO_ERROR;
            }
            {
                pco_http_template_part_t *p = &t->parts[t->nparts];
                u_char                   *nm = text->data + ns;
                size_t                    nl = ne - ns;

                t->literal = false;
                p->var = -1;
                if (nl == 1 && nm[0] >= '1' && nm[0] <= '9') {
                    p->capture = nm[0] - '0';
                    p->var = -1;
                    p->literal.len = 0;
                    p->literal.data = NULL;
                } else {
                    t->names[t->nparts] = pco_pstrndup(pool, (char *) nm, nl);
                    if (t->names[t->nparts] == NULL) {
                        *err = "out of memory";
                        return PCO_ERROR;
                    }
                    p->var = -3;     /* unresolved */
                }
                t->nparts++;
            }
            i = next;
            lit_start = i;
            continue;
        }
        i++;
    }
    return PCO_OK;
}

static int
pco_http_template_resolve(pco_conf_t *cf, pco_http_main_t *hm, pco_http_template_t *t)
{
    pco_http_var_t  *v = hm->vars.elts;
    size_t           i, k;
    int              rc = PCO_OK;

    for (i = 0; i < t->nparts; i++) {
        pco_http_template_part_t  *p = &t->parts[i];
        const char                *nm = t->names[i];
        size_t                     nl;

        if (p->var != -3) {
            continue;
        }
        nl = strlen(nm);
        p->var = -1;
        for (k = 0; k < hm->vars.nelts; k++) {
            if (v[k].flags & PCO_HTTP_VAR_PREFIX) {
                if (nl > v[k].sname.len && memcmp(nm, v[k].name, v[k].sname.len) == 0) {
                    p->var = (int) k;
                    p->arg.data = (u_char *) nm + v[k].sname.len;
                    p->arg.len = nl - v[k].sname.len;
                    break;
                }
            } else if (strcmp(nm, v[k].name) == 0) {
                p->var = (int) k;
                break;
            }
        }
        if (p->var < 0) {
            /* a named capture of some route's path_regex: looked up at runtime */
            for (k = 0; k < hm->nroutes; k++) {
                if (hm->routes[k]->path_regex != NULL
                    && pcre2_substring_number_from_name(hm->routes[k]->path_regex,
                                                        (PCRE2_SPTR) nm) >= 0)
                {
                    break;
                }
            }
            if (k == hm->nroutes) {
                pco_http_addr_t *ad = hm->addrs.elts;
                size_t           x, y;

                for (x = 0; x < hm->addrs.nelts && k == hm->nroutes; x++) {
                    for (y = 0; y < ad[x].nregex; y++) {
                        if (pcre2_substring_number_from_name(ad[x].regex[y].re,
                                                             (PCRE2_SPTR) nm) >= 0)
                        {
                            k = 0;
                            break;
                        }
                    }
                }
            }
            if (k < hm->nroutes) {
                p->capture = -2;
                p->arg.data = (u_char *) nm;
                p->arg.len = nl;
            } else {
                pco_conf_error_src(cf, &t->src, "unknown variable \"$%s\"", nm);
                rc = PCO_ERROR;
            }
        }
    }
    t->resolved = true;
    return rc;
}

int
pco_http_templates_resolve(pco_conf_t *cf, pco_http_main_t *hm)
{
    pco_http_template_t  *t;
    int                   rc = PCO_OK;

    for (t = hm->pending; t != NULL; t = t->next) {
        if (pco_http_template_resolve(cf, hm, t) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    hm->pending = NULL;
    hm->vars_final = true;
    return rc;
}

pco_http_template_t *
pco_http_template_compile(pco_conf_t *cf, pco_cycle_t *cycle, const pco_str_t *text,
                          const pco_conf_src_t *src)
{
    pco_http_main_t      *hm = pco_http_vmain(cycle);
    pco_http_template_t  *t;
    const char           *err = NULL;
    pco_str_t             empty = pco_string("");

    t = pco_pcalloc(cf->pool, sizeof(*t));
    if (t == NULL || hm == NULL) {
        return NULL;
    }
    if (src != NULL) {
        t->src = *src;
    }
    if (pco_http_template_split(cf->pool, text->data ? text : &empty, t, &err) != PCO_OK) {
        pco_conf_error_src(cf, &t->src, "bad template \"%.*s\": %s", (int) text->len,
                           (char *) text->data, err);
        return NULL;
    }
    if (hm->vars_final) {
        if (pco_http_template_resolve(cf, hm, t) != PCO_OK) {
            return NULL;
        }
    } else {
        t->next = hm->pending;
        hm->pending = t;
    }
    return t;
}

bool
pco_http_template_is_literal(const pco_http_template_t *t)
{
    return t->literal;
}

size_t
pco_http_template_parts(const pco_http_template_t *t, const pco_http_template_part_t **parts)
{
    *parts = t->parts;
    return t->nparts;
}

int
pco_http_template_part_value(pco_http_request_t *r, const pco_http_template_part_t *p,
                             pco_str_t *v, bool *is_number)
{
    pco_http_main_t  *hm = pco_http_req(r)->main;
    pco_http_var_t   *var;
    int               rc;

    if (is_number != NULL) {
        *is_number = false;
    }
    if (p->var == -1) {
        if (p->capture >= 1) {
            uint32_t k = (uint32_t) p->capture;

            if (r->captures == NULL || k >= r->ncaptures
                || r->captures[2 * k] == PCRE2_UNSET)
            {
                return PCO_DECLINED;
            }
            v->data = r->uri.data + r->captures[2 * k];
            v->len = r->captures[2 * k + 1] - r->captures[2 * k];
            return PCO_OK;
        }
        if (p->capture == -2) {
            int              k;
            pco_http_req_t  *rq = pco_http_req(r);

            if (rq->srv_re != NULL) {
                k = pcre2_substring_number_from_name(rq->srv_re, p->arg.data);
                if (k > 0 && (uint32_t) k < rq->srv_ncaps
                    && rq->srv_caps[2 * k] != PCRE2_UNSET)
                {
                    v->data = r->host.data + rq->srv_caps[2 * k];
                    v->len = rq->srv_caps[2 * k + 1] - rq->srv_caps[2 * k];
                    return PCO_OK;
                }
            }
            if (r->route == NULL || r->route->path_regex == NULL || r->captures == NULL) {
                return PCO_DECLINED;
            }
            k = pcre2_substring_number_from_name(r->route->path_regex, p->arg.data);
            if (k <= 0 || (uint32_t) k >= r->ncaptures
                || r->captures[2 * k] == PCRE2_UNSET)
            {
                return PCO_DECLINED;
            }
            v->data = r->uri.data + r->captures[2 * k];
            v->len = r->captures[2 * k + 1] - r->captures[2 * k];
            return PCO_OK;
        }
        *v = p->literal;
        return PCO_OK;
    }
    if (p->var < 0 || (size_t) p->var >= hm->vars.nelts) {
        return PCO_DECLINED;
    }
    var = &((pco_http_var_t *) hm->vars.elts)[p->var];
    if (is_number != NULL) {
        *is_number = (var->flags & PCO_HTTP_VAR_NUMBER) != 0;
    }
    if (!(var->flags & (PCO_HTTP_VAR_NOCACHE | PCO_HTTP_VAR_PREFIX)) && r->var_state != NULL) {
        if (r->var_state[p->var] == 1) {
            *v = r->var_cache[p->var];
            return PCO_OK;
        }
        if (r->var_state[p->var] == 2) {
            return PCO_DECLINED;
        }
    }
    rc = var->get(r, &p->arg, var->data, v);
    if (!(var->flags & (PCO_HTTP_VAR_NOCACHE | PCO_HTTP_VAR_PREFIX)) && r->var_state != NULL) {
        r->var_state[p->var] = rc == PCO_OK ? 1 : 2;
        if (rc == PCO_OK) {
            r->var_cache[p->var] = *v;
        }
    }
    return rc;
}

int
pco_http_template_eval(pco_http_request_t *r, const pco_http_template_t *t, pco_str_t *out)
{
    pco_str_t  vals[64], *vp = vals;
    size_t     i, len = 0;
    u_char    *p;

    if (t->literal) {
        if (t->nparts == 0) {
            out->len = 0;
            out->data = (u_char *) "";
        } else {
            *out = t->parts[0].literal;
        }
        return PCO_OK;
    }
    if (t->nparts > pco_nelems(vals)) {
        vp = pco_palloc(r->pool, sizeof(pco_str_t) * t->nparts);
        if (vp == NULL) {
            return PCO_ERROR;
        }
    }
    for (i = 0; i < t->nparts; i++) {
        if (pco_http_template_part_value(r, &t->parts[i], &vp[i], NULL) != PCO_OK) {
            vp[i].len = 0;
        }
        len += vp[i].len;
    }
    p = pco_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return PCO_ERROR;
    }
    out->data = p;
    out->len = len;
    for (i = 0; i < t->nparts; i++) {
        if (vp[i].len) {
            memcpy(p, vp[i].data, vp[i].len);
            p += vp[i].len;
        }
    }
    *p = '\0';
    return PCO_OK;
}

int
pco_http_template_eval_header(pco_http_request_t *r, const pco_http_template_t *t,
                              const pco_str_t *name, pco_str_t *out)
{
    if (pco_http_template_eval(r, t, out) != PCO_OK) {
        return PCO_ERROR;
    }
    /* a literal was checked at load time; a variable may carry anything a client sent */
    if (!t->literal && pco_str_has_ctl(out->data, out->len)) {
        pco_log_err(PCO_LOG_ERR, r->connection->log, 0,
                    "header \"%.*s\" expanded to a control character, not sent",
                    (int) name->len, (const char *) name->data);
        return PCO_ERROR;
    }
    return PCO_OK;
}
