/*
 * pco_http_server.c: builds the servers, routes and per-address virtual server tables at
 * conf_done (with the -t checks: listen, default, tls, regexes, methods, shadowed routes),
 * and selects the server by Host and the route by path, method and headers at runtime.
 * Matching functions are pure (unit-tested in t/unit/test_http_select.c).
 */
#include "pco_http_int.h"
#include "pco_string.h"
#include <stdlib.h>

int
pco_http_name_cmp(const void *a, const void *b)
{
    const pco_http_name_t *x = a, *y = b;
    size_t                 n = pco_min(x->name.len, y->name.len);
    int                    c = memcmp(x->name.data, y->name.data, n);

    if (c != 0) {
        return c;
    }
    return x->name.len < y->name.len ? -1 : (x->name.len > y->name.len);
}

static int
pco_http_wild_cmp(const void *a, const void *b)
{
    const pco_http_name_t *x = a, *y = b;

    /* longest suffix first */
    if (x->name.len != y->name.len) {
        return x->name.len > y->name.len ? -1 : 1;
    }
    return pco_http_name_cmp(a, b);
}

pco_http_server_t *
pco_http_listener_find_server(const pco_listening_t *ls, const pco_str_t *host,
                              pcre2_match_data *md)
{
    return pco_http_find_server(ls->servers, host, md);
}

pco_http_server_t *
pco_http_listener_default_server(const pco_listening_t *ls)
{
    const pco_http_addr_t  *a = ls->servers;

    return a->default_server;
}

pco_http_server_t *
pco_http_find_server(const pco_http_addr_t *a, const pco_str_t *host, pcre2_match_data *md)
{
    size_t  lo = 0, hi = a->nexact, i;

    if (host->len == 0) {
        return a->default_server;
    }
    while (lo < hi) {
        size_t           mid = (lo + hi) / 2;
        pco_http_name_t  key = { *host, NULL };
        int              c = pco_http_name_cmp(&key, &a->exact[mid]);

        if (c == 0) {
            return a->exact[mid].server;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    for (i = 0; i < a->nwild; i++) {
        const pco_str_t *w = &a->wild[i].name;    /* ".example.com" */

        if (host->len > w->len
            && memcmp(host->data + host->len - w->len, w->data, w->len) == 0)
        {
            return a->wild[i].server;
        }
    }
    for (i = 0; i < a->nregex && md != NULL; i++) {
        if (pcre2_match(a->regex[i].re, host->data, host->len, 0, 0, md, NULL) >= 0) {
            return a->regex[i].server;
        }
    }
    return a->default_server;
}

bool
pco_http_route_matches(const pco_http_route_t *rt, const pco_str_t *uri, unsigned method,
                       pco_http_head_t *h, pcre2_match_data *md)
{
    size_t  i;

    if (rt->path.len
        && (uri->len != rt->path.len || memcmp(uri->data, rt->path.data, uri->len) != 0))
    {
        return false;
    }
    if (rt->path_prefix.len
        && (uri->len < rt->path_prefix.len
            || memcmp(uri->data, rt->path_prefix.data, rt->path_prefix.len) != 0))
    {
        return false;
    }
    if (rt->methods != 0) {
        unsigned m = rt->methods;

        if (m & PCO_HTTP_GET) {
            m |= PCO_HTTP_HEAD;
        }
        if ((m & method) == 0) {
            return false;
        }
    }
    for (i = 0; i < rt->nheaders; i++) {
        pco_http_header_t *hd;
        unsigned           k;
        bool               ok = false;

        if (h == NULL) {
            return false;
        }
        for (k = 0; k < h->nheaders; k++) {
            hd = &h->headers[k];
            if (pco_str_caseeq(&hd->name, &rt->headers[i].name)
                && hd->value.len == rt->headers[i].value.len
                && memcmp(hd->value.data, rt->headers[i].value.data, hd->value.len) == 0)
            {
                ok = true;
                break;
            }
        }
        if (!ok) {
            return false;
        }
    }
    if (rt->path_regex != NULL) {
        if (md == NULL
            || pcre2_match(rt->path_regex, uri->data, uri->len, 0, 0, md, NULL) < 0)
        {
            return false;
        }
    }
    return true;
}

pco_http_route_t *
pco_http_find_route(const pco_http_server_t *s, const pco_str_t *uri, unsigned method,
                    pco_http_head_t *h, pcre2_match_data *md)
{
    size_t  i;

    for (i = 0; i < s->nroutes; i++) {
        if (pco_http_route_matches(s->routes[i], uri, method, h, md)) {
            return s->routes[i];
        }
    }
    return NULL;
}

bool
pco_http_route_shadows(const pco_http_route_t *e, const pco_http_route_t *l)
{
    if (e->methods != 0 || e->nheaders != 0 || e->path_regex != NULL) {
        return false;
    }
    if (e->path.len == 0 && e->path_prefix.len == 0) {
        return true;      /* matches everything */
    }
    if (e->path.len) {
        return l->path.len == e->path.len && memcmp(l->path.data, e->path.data, e->path.len) == 0;
    }
    if (l->path.len >= e->path_prefix.len
        && memcmp(l->path.data, e->path_prefix.data, e->path_prefix.len) == 0)
    {
        return true;
    }
    if (l->path_prefix.len >= e->path_prefix.len
        && memcmp(l->path_prefix.data, e->path_prefix.data, e->path_prefix.len) == 0)
    {
        return true;
    }
    return false;
}

static pcre2_code *
pco_http_regex(pco_conf_t *cf, const pco_conf_src_t *src, const pco_str_t *text,
               bool caseless, uint32_t *ncap)
{
    int          err;
    PCRE2_SIZE   off;
    pcre2_code  *re;
    PCRE2_UCHAR  msg[256];

    re = pcre2_compile(text->data, text->len, caseless ? PCRE2_CASELESS : 0, &err, &off, NULL);
    if (re == NULL) {
        pcre2_get_error_message(err, msg, sizeof(msg));
        pco_conf_error_src(cf, src, "invalid regex \"%s\": %s at offset %zu",
                           (char *) text->data, (char *) msg, (size_t) off);
        return NULL;
    }
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (pco_pool_cleanup_add(cf->pool, (pco_pool_cleanup_pt) pcre2_code_free, re) != PCO_OK) {
        pcre2_code_free(re);
        return NULL;
    }
    if (ncap != NULL) {
        pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, ncap);
    }
    return re;
}

static int
pco_http_build_route(pco_conf_t *cf, pco_http_server_t *s, pco_conf_node_t *node,
                     pco_http_route_t *rt)
{
    pco_http_conf_t  *hc = node->confs[pco_http_module.index];
    size_t            i;
    int               rc = PCO_OK;

    rt->node = node;
    rt->server = s;
    rt->src = node->src;
    rt->path = hc->match.path;
    rt->path_prefix = hc->match.path_prefix;
    /* a normalised request path always starts with '/' (or is the "*" of OPTIONS *) */
    if (rt->path.len && rt->path.data[0] != '/'
        && !(rt->path.len == 1 && rt->path.data[0] == '*'))
    {
        pco_conf_error_src(cf, PCO_CONF_SRC(hc, pco_http_conf_t, match.path),
                           "match.path \"%.*s\" must start with \"/\"", (int) rt->path.len,
                           (const char *) rt->path.data);
        rc = PCO_ERROR;
    }
    if (rt->path_prefix.len && rt->path_prefix.data[0] != '/') {
        pco_conf_error_src(cf, PCO_CONF_SRC(hc, pco_http_conf_t, match.path_prefix),
                           "match.path_prefix \"%.*s\" must start with \"/\"",
                           (int) rt->path_prefix.len, (const char *) rt->path_prefix.data);
        rc = PCO_ERROR;
    }
    if (hc->match.path_regex.len) {
        rt->path_regex = pco_http_regex(cf, PCO_CONF_SRC(hc, pco_http_conf_t, match.path_regex),
                                        &hc->match.path_regex,
                                        false, &rt->regex_captures);
        if (rt->path_regex == NULL) {
            rc = PCO_ERROR;
        }
    }
    for (i = 0; i < hc->match.methods.n; i++) {
        pco_str_t *m = &hc->match.methods.elts[i];
        unsigned   bit = pco_http_method_bit(m->data, m->len);

        if (bit == PCO_HTTP_OTHER) {
            pco_conf_error_src(cf, PCO_CONF_SRC(hc, pco_http_conf_t, match.methods),
                               "unknown method \"%s\" in match.methods", (char *) m->data);
            rc = PCO_ERROR;
        }
        rt->methods |= bit;
    }
    rt->headers = hc->match.headers.elts;
    rt->nheaders = hc->match.headers.n;
    return rc;
}

static pco_http_addr_t *
pco_http_addr_get(pco_conf_t *cf, pco_http_main_t *hm, const pco_http_listen_t *l)
{
    pco_http_addr_t  *a = hm->addrs.elts;
    size_t            i;

    for (i = 0; i < hm->addrs.nelts; i++) {
        if (a[i].socklen == l->socklen && memcmp(&a[i].sa, &l->sa, l->socklen) == 0) {
            return &a[i];
        }
    }
    a = pco_array_push(&hm->addrs);
    if (a == NULL) {
        return NULL;
    }
    memset(a, 0, sizeof(*a));
    a->sa = l->sa;
    a->socklen = l->socklen;
    a->text = l->text;
    if (pco_array_init(&a->a_exact, cf->pool, 4, sizeof(pco_http_name_t)) != PCO_OK
        || pco_array_init(&a->a_wild, cf->pool, 2, sizeof(pco_http_name_t)) != PCO_OK
        || pco_array_init(&a->a_regex, cf->pool, 2, sizeof(pco_http_name_re_t)) != PCO_OK)
    {
        return NULL;
    }
    return a;
}

/* A name is written once per listening address: two servers with the same name there
 * would leave one of them unreachable by that name without a word. Exact and wildcard
 * names are compared as Host is matched (without case), regexes as written. Reports the
 * duplicate with both places; false when the name is new. */
static bool
pco_http_addr_name_dup(pco_conf_t *cf, const pco_http_addr_t *a, const pco_array_t *arr,
                       const pco_str_t *key, bool regex, pco_http_server_t *s,
                       const pco_str_t *written)
{
    const pco_conf_src_t  *here, *there;
    pco_http_server_t     *other = NULL;
    const pco_str_t       *k;
    pco_http_conf_t       *hc, *ohc;
    size_t                 i;

    for (i = 0; i < arr->nelts && other == NULL; i++) {
        if (regex) {
            k = &((const pco_http_name_re_t *) arr->elts)[i].text;
        } else {
            k = &((const pco_http_name_t *) arr->elts)[i].name;
        }
        if (k->len == key->len && memcmp(k->data, key->data, key->len) == 0) {
            other = regex ? ((const pco_http_name_re_t *) arr->elts)[i].server
                          : ((const pco_http_name_t *) arr->elts)[i].server;
        }
    }
    if (other == NULL) {
        return false;
    }
    if (other == s) {
        return true;                    /* pco_http_names_twice reported it once */
    }
    hc = s->node->confs[pco_http_module.index];
    ohc = other->node->confs[pco_http_module.index];
    here = PCO_CONF_SRC(hc, pco_http_conf_t, names);
    there = PCO_CONF_SRC(ohc, pco_http_conf_t, names);
    pco_conf_error_src(cf, here, "duplicate server name \"%.*s\" on %s: already given by the "
                       "server at %s:%d", (int) written->len, (const char *) written->data,
                       a->text, there->file, there->line);
    return true;
}

/* Whether two names of one server are the same name (compared as for the tables). */
static bool
pco_http_same_name(const pco_str_t *x, const pco_str_t *y)
{
    bool  re = (x->len > 1 && x->data[0] == '~');

    if (x->len != y->len || re != (y->len > 1 && y->data[0] == '~')) {
        return false;
    }
    return re ? memcmp(x->data, y->data, x->len) == 0
              : strncasecmp((const char *) x->data, (const char *) y->data, x->len) == 0;
}

/* A name written twice in one server's names: reported once, whatever its addresses. */
static void
pco_http_names_twice(pco_conf_t *cf, pco_http_conf_t *hc, int *rc)
{
    const pco_str_t  *n = hc->names.elts;
    size_t            i, j;

    for (i = 1; i < hc->names.n; i++) {
        for (j = 0; j < i; j++) {
            if (pco_http_same_name(&n[i], &n[j])) {
                pco_conf_error_src(cf, PCO_CONF_SRC(hc, pco_http_conf_t, names),
                                   "server name \"%.*s\" is listed twice", (int) n[i].len,
                                   (const char *) n[i].data);
                *rc = PCO_ERROR;
                break;
            }
        }
    }
}

/* Adds the names of server s to the tables of address a; a duplicate is reported and
 * recorded in *rc. */
static int
pco_http_addr_names(pco_conf_t *cf, pco_http_addr_t *a, pco_http_server_t *s,
                    pco_http_conf_t *hc, int *rc)
{
    size_t  i, k;

    for (i = 0; i < hc->names.n; i++) {
        pco_str_t        *n = &hc->names.elts[i];
        pco_http_name_t  *e;
        pco_array_t      *arr;
        pco_str_t         key;

        if (n->len > 1 && n->data[0] == '~') {
            pco_http_name_re_t *re;
            pco_str_t           t = { n->len - 1, n->data + 1 };

            if (pco_http_addr_name_dup(cf, a, &a->a_regex, &t, true, s, n)) {
                *rc = PCO_ERROR;
                continue;
            }
            re = pco_array_push(&a->a_regex);
            if (re == NULL) {
                return PCO_ERROR;
            }
            re->server = s;
            re->text = t;
            re->re = pco_http_regex(cf, PCO_CONF_SRC(hc, pco_http_conf_t, names), &t, true, NULL);
            if (re->re == NULL) {
                return PCO_ERROR;
            }
            continue;
        }
        arr = (n->len > 2 && n->data[0] == '*' && n->data[1] == '.') ? &a->a_wild : &a->a_exact;
        key.len = (n->data[0] == '*') ? n->len - 1 : n->len;
        key.data = pco_pnalloc(cf->pool, key.len ? key.len : 1);
        if (key.data == NULL) {
            return PCO_ERROR;
        }
        memcpy(key.data, n->data + (n->len - key.len), key.len);
        for (k = 0; k < key.len; k++) {
            if (key.data[k] >= 'A' && key.data[k] <= 'Z') {
                key.data[k] |= 0x20;
            }
        }
        if (pco_http_addr_name_dup(cf, a, arr, &key, false, s, n)) {
            *rc = PCO_ERROR;
            continue;
        }
        e = pco_array_push(arr);
        if (e == NULL) {
            return PCO_ERROR;
        }
        e->server = s;
        e->name = key;
    }
    return PCO_OK;
}

/*
 * Building the servers. The helpers below return PCO_ERROR only when memory runs out (the
 * build stops); a configuration error is reported and recorded in *rc, and the build goes
 * on so that every error of the file is reported at once.
 */

/* Counts the servers and routes of the configuration and allocates hm's tables for them. */
static int
pco_http_alloc_servers(pco_conf_t *cf, pco_http_main_t *hm)
{
    pco_conf_node_t  *root = cf->root;
    size_t            i, j, ns = 0, nr = 0;

    for (i = 0; i < root->nchildren; i++) {
        if (root->children[i]->scope == PCO_SCOPE_SERVER) {
            ns++;
            for (j = 0; j < root->children[i]->nchildren; j++) {
                nr += root->children[i]->children[j]->scope == PCO_SCOPE_ROUTE;
            }
        }
    }
    hm->servers = pco_pcalloc(cf->pool, sizeof(void *) * (ns + 1));
    hm->routes = pco_pcalloc(cf->pool, sizeof(void *) * (nr + 1));
    if (hm->servers == NULL || hm->routes == NULL) {
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* Builds one route of s and appends it, warning when an earlier route of s shadows it. */
static int
pco_http_add_route(pco_conf_t *cf, pco_http_main_t *hm, pco_http_server_t *s,
                   pco_conf_node_t *node, int *rc)
{
    pco_http_route_t  *rt;
    size_t             k;

    rt = pco_pcalloc(cf->pool, sizeof(*rt));
    if (rt == NULL) {
        return PCO_ERROR;
    }
    if (pco_http_build_route(cf, s, node, rt) != PCO_OK) {
        *rc = PCO_ERROR;
    }
    rt->index = (unsigned) s->nroutes;
    for (k = 0; k < s->nroutes; k++) {
        pco_http_conf_t *ec = s->routes[k]->node->confs[pco_http_module.index];

        if (ec->match.path_regex.len == 0 && pco_http_route_shadows(s->routes[k], rt)) {
            pco_conf_warn_src(cf, &rt->src, "route can never match: routes[%u] "
                              "(line %d) matches first", s->routes[k]->index,
                              s->routes[k]->src.line);
            break;
        }
    }
    s->routes[s->nroutes++] = rt;
    hm->routes[hm->nroutes++] = rt;
    return PCO_OK;
}

/* Builds the server of node sn and its routes; NULL when memory ran out. */
static pco_http_server_t *
pco_http_build_server(pco_conf_t *cf, pco_http_main_t *hm, pco_conf_node_t *sn, int *rc)
{
    pco_http_conf_t    *hc;
    pco_http_server_t  *s;
    size_t              j;

    hc = sn->confs[pco_http_module.index];
    s = pco_pcalloc(cf->pool, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->node = sn;
    s->index = (unsigned) hm->nservers;
    pco_http_names_twice(cf, hc, rc);
    if (hc->names.n) {
        s->name = hc->names.elts[0];
    } else {
        pco_str_set(&s->name, "");
    }
    s->routes = pco_pcalloc(cf->pool, sizeof(void *) * (sn->nchildren + 1));
    if (s->routes == NULL) {
        return NULL;
    }
    hm->servers[hm->nservers++] = s;
    for (j = 0; j < sn->nchildren; j++) {
        if (sn->children[j]->scope != PCO_SCOPE_ROUTE) {
            continue;
        }
        if (pco_http_add_route(cf, hm, s, sn->children[j], rc) != PCO_OK) {
            return NULL;
        }
    }
    return s;
}

/* IPV6_V6ONLY is one option of the socket, so the entries that name the address must agree
 * on it; the entries that do not set it follow the one that does, else the default (true,
 * which pco_listen_add gives the socket). */
static int
pco_http_listen_ipv6only(pco_conf_t *cf, pco_http_addr_t *a, const pco_http_listen_t *l)
{
    if (!l->ipv6only_set) {
        return PCO_OK;
    }
    if (a->ipv6only_by == NULL) {
        a->ipv6only_by = l;
        a->ls->ipv6only = l->ipv6only;
        return PCO_OK;
    }
    if (a->ipv6only_by->ipv6only != l->ipv6only) {
        pco_conf_error_src(cf, &l->src, "\"%s\" has ipv6only = %s here and %s at %s:%d (one "
                           "socket, one setting)", l->text, l->ipv6only ? "true" : "false",
                           a->ipv6only_by->ipv6only ? "true" : "false",
                           a->ipv6only_by->src.file ? a->ipv6only_by->src.file : "?",
                           a->ipv6only_by->src.line);
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* Gives address a its listening socket (shared by every server listing the address) and
 * merges the socket options of listen entry l into it. */
static int
pco_http_listen_socket(pco_conf_t *cf, pco_cycle_t *cycle, pco_http_addr_t *a,
                       const pco_http_listen_t *l, int *rc)
{
    pco_listening_t *ls = a->ls;

    if (ls == NULL) {
        ls = pco_listen_add(cycle, &a->sa, a->socklen, a->text);
        if (ls == NULL) {
            return PCO_ERROR;
        }
        a->ls = ls;
    }
    ls->backlog = (int) l->backlog;
    ls->reuseport = ls->reuseport || l->reuseport;
    if (pco_http_listen_ipv6only(cf, a, l) != PCO_OK) {
        *rc = PCO_ERROR;
    }
    ls->proxy_protocol = ls->proxy_protocol || l->proxy_protocol;
    if (ls->handler != NULL && ls->tls != l->tls) {
        pco_conf_error_src(cf, &l->src, "\"%s\" is tls in one server and plain "
                           "in another", l->text);
        *rc = PCO_ERROR;
    }
    ls->tls = ls->tls || l->tls;
    if (ls->handler != NULL && a->http2 != l->http2) {
        pco_conf_error_src(cf, &l->src, "\"%s\" has http2 = %s here and %s in another "
                           "server (one socket, one setting)", l->text,
                           l->http2 ? "true" : "false", a->http2 ? "true" : "false");
        *rc = PCO_ERROR;
    }
    a->http2 = a->http2 || l->http2;
    ls->handler = ls->tls ? pco_http_init_tls_connection : pco_http_init_connection;
    return PCO_OK;
}

/* Binds listen entry j of server s to its address: the default server, the header size,
 * the server's names in the address's tables and the listening socket. */
static int
pco_http_bind_listen(pco_conf_t *cf, pco_cycle_t *cycle, pco_http_main_t *hm,
                     pco_http_server_t *s, pco_http_conf_t *hc, size_t j, int *rc)
{
    pco_http_listen_t  *l = &hc->listen.elts[j];
    pco_http_addr_t    *a;
    size_t              k;

    for (k = 0; k < j; k++) {
        if (hc->listen.elts[k].socklen == l->socklen
            && memcmp(&hc->listen.elts[k].sa, &l->sa, l->socklen) == 0)
        {
            pco_conf_error_src(cf, &l->src, "duplicate listen address \"%s\" in "
                               "this server", l->text);
            *rc = PCO_ERROR;
            break;
        }
    }
    if (k < j) {
        return PCO_OK;
    }
    if (l->tls && pco_module_find("tls") == NULL) {
        pco_conf_error_src(cf, &l->src, "tls listeners need the tls module");
        *rc = PCO_ERROR;
        return PCO_OK;
    }
    if (l->http2 && pco_module_find("http2") == NULL) {
        pco_conf_error_src(cf, &l->src, "http2 listeners need the http2 module (this "
                           "portico was built without libnghttp2: see `portico -V`)");
        *rc = PCO_ERROR;
        return PCO_OK;
    }
    a = pco_http_addr_get(cf, hm, l);
    if (a == NULL) {
        return PCO_ERROR;
    }
    if (l->default_server) {
        if (a->explicit_default) {
            pco_conf_error_src(cf, &l->src, "two default servers for \"%s\"", l->text);
            *rc = PCO_ERROR;
        }
        a->explicit_default = true;
        a->default_server = s;
    } else if (a->default_server == NULL) {
        a->default_server = s;
    }
    if ((size_t) hc->max_header_size > a->max_header_size) {
        a->max_header_size = (size_t) hc->max_header_size;
    }
    if (a->max_header_size > hm->scratch_size) {
        hm->scratch_size = a->max_header_size;
    }
    if (pco_http_addr_names(cf, a, s, hc, rc) != PCO_OK) {
        *rc = PCO_ERROR;
    }
    return pco_http_listen_socket(cf, cycle, a, l, rc);
}

/* Binds every listen entry of server s (a server without one is an error). */
static int
pco_http_bind_server(pco_conf_t *cf, pco_cycle_t *cycle, pco_http_main_t *hm,
                     pco_http_server_t *s, int *rc)
{
    pco_conf_node_t  *sn = s->node;
    pco_http_conf_t  *hc = sn->confs[pco_http_module.index];
    size_t            j;

    if (hc->listen.n == 0) {
        if (!hc->listen.invalid) {
            pco_conf_error_src(cf, &sn->src, "server has no listen address");
        }
        *rc = PCO_ERROR;
        return PCO_OK;
    }
    for (j = 0; j < hc->listen.n; j++) {
        if (pco_http_bind_listen(cf, cycle, hm, s, hc, j, rc) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* Without a server nothing listens: starting, or reloading into it (which would close
 * every listener of the running generation), must be refused. */
static int
pco_http_check_nservers(pco_conf_t *cf, pco_http_main_t *hm)
{
    if (hm->nservers == 0) {
        const config_setting_t *cs = config_lookup(&cf->config, "servers");

        if (cs != NULL) {
            pco_conf_error(cf, cs, "no servers configured (the list is empty)");
        } else {
            pco_conf_error_src(cf, &cf->root->src, "no servers configured");
        }
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* Freezes the per-address tables (the arrays do not move after this): sorts the names
 * for the lookups of pco_http_find_server and links each listening socket to its address. */
static void
pco_http_freeze_addrs(pco_http_main_t *hm)
{
    pco_http_addr_t  *a = hm->addrs.elts;
    size_t            i;

    for (i = 0; i < hm->addrs.nelts; i++) {
        a[i].exact = a[i].a_exact.elts;
        a[i].nexact = a[i].a_exact.nelts;
        qsort(a[i].exact, a[i].nexact, sizeof(pco_http_name_t), pco_http_name_cmp);
        a[i].wild = a[i].a_wild.elts;
        a[i].nwild = a[i].a_wild.nelts;
        qsort(a[i].wild, a[i].nwild, sizeof(pco_http_name_t), pco_http_wild_cmp);
        a[i].regex = a[i].a_regex.elts;
        a[i].nregex = a[i].a_regex.nelts;
        if (a[i].ls != NULL) {
            a[i].ls->servers = &a[i];
        }
    }
}

int
pco_http_build_servers(pco_conf_t *cf, pco_cycle_t *cycle, pco_http_main_t *hm)
{
    pco_conf_node_t    *root = cf->root;
    pco_http_server_t  *s;
    size_t              i;
    int                 rc = PCO_OK;

    if (pco_http_alloc_servers(cf, hm) != PCO_OK) {
        return PCO_ERROR;
    }
    for (i = 0; i < root->nchildren; i++) {
        if (root->children[i]->scope != PCO_SCOPE_SERVER) {
            continue;
        }
        s = pco_http_build_server(cf, hm, root->children[i], &rc);
        if (s == NULL || pco_http_bind_server(cf, cycle, hm, s, &rc) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    if (pco_http_check_nservers(cf, hm) != PCO_OK) {
        rc = PCO_ERROR;
    }
    pco_http_freeze_addrs(hm);
    return rc;
}

int
pco_http_listen_module(pco_conf_t *cf, pco_cycle_t *cycle, const char *text,
                       const char *action, pco_http_handler_pt content,
                       const pco_conf_src_t *src)
{
    pco_http_main_t    *hm = cycle->module_ctx[pco_http_module.index];
    pco_conf_node_t    *node = NULL;
    pco_http_conf_t    *hc;
    pco_http_server_t  *s;
    pco_http_route_t   *rt;
    pco_http_addr_t    *a;
    pco_listening_t    *ls;
    size_t              i;

    for (i = 0; i < cf->root->nchildren; i++) {
        if (cf->root->children[i]->scope == PCO_SCOPE_HTTP) {
            node = cf->root->children[i];
        }
    }
    if (hm == NULL || node == NULL) {
        pco_conf_error_src(cf, src, "\"%s\": no HTTP configuration to serve it with", text);
        return PCO_ERROR;
    }
    hc = node->confs[pco_http_module.index];
    s = pco_pcalloc(cf->pool, sizeof(*s));
    rt = pco_pcalloc(cf->pool, sizeof(*rt));
    a = pco_pcalloc(cf->pool, sizeof(*a));
    if (s == NULL || rt == NULL || a == NULL) {
        return PCO_ERROR;
    }
    if (pco_parse_addr(text, &a->sa, &a->socklen, false) != PCO_OK) {
        pco_conf_error_src(cf, src, "invalid address \"%s\"", text);
        return PCO_ERROR;
    }
    /* the route: every request; the module's handler is the content phase */
    s->node = node;
    s->index = (unsigned) hm->nservers;     /* past the configured servers */
    pco_str_set(&s->name, "");
    s->routes = pco_pcalloc(cf->pool, sizeof(void *));
    if (s->routes == NULL) {
        return PCO_ERROR;
    }
    rt->node = node;
    rt->server = s;
    rt->action = action;
    rt->content = content;
    rt->src = *src;
    s->routes[0] = rt;
    s->nroutes = 1;
    a->text = pco_pstrndup(cf->pool, text, strlen(text));
    a->default_server = s;
    a->max_header_size = (size_t) hc->max_header_size;
    ls = pco_listen_add(cycle, &a->sa, a->socklen, a->text);
    if (a->text == NULL || ls == NULL) {
        return PCO_ERROR;
    }
    if (ls->handler != NULL) {
        pco_conf_error_src(cf, src, "\"%s\" is already the listen address of a server", text);
        return PCO_ERROR;
    }
    ls->handler = pco_http_init_connection;
    ls->servers = a;
    a->ls = ls;
    return PCO_OK;
}
