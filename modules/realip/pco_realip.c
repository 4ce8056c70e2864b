/*
 * pco_realip.c: the client address behind trusted proxies (docs/settings.md, docs/http.md).
 *     http = { real_ip = { from = ["10.0.0.0/8", "::1", "unix:"]; header = "X-Forwarded-For"; }; };
 * `from` is empty by default (off). When the connection's peer is in `from`, the header
 * (every field of that name, joined in order) is walked from the right, skipping trusted
 * addresses; the first untrusted one is the client, the leftmost when all are trusted, and
 * an unparsable entry stops the walk keeping the last good address (nginx's realip with
 * real_ip_recursive on). The result goes to r->client_addr (from r->pool), which
 * $remote_addr, X-Real-IP, ip_hash and access rules read; c->sockaddr stays the peer, and
 * $realip_remote_addr shows it (as in nginx), whether real_ip is on or not.
 *
 * `from` is parsed at load (core/pco_cidr_list.c), each bad entry reported as FILE:LINE. conf_done
 * registers $realip_remote_addr, keeps the http scope's settings in cycle->module_ctx and
 * registers a POST_READ handler only when `from` is not empty, so the feature costs nothing
 * when off. No shared state,
 * nothing per worker; the handler never blocks and its work is bounded by the head size.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "pco_http.h"
#include "pco_string.h"
#include "pco_cidr.h"
#include "pco_cidr_list.h"
#include "pco_realip.h"

/* POST_READ priority: before any other POST_READ handler that may look at the client. */
#define PCO_REALIP_PRIORITY  10

typedef struct {
    pco_cidr_list_t     from;
    pco_str_t           header;
} pco_realip_spec_t;

typedef struct {
    pco_realip_spec_t   real_ip;
} pco_realip_conf_t;

static int pco_realip_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_realip_handler(pco_http_request_t *r);
static int pco_realip_variable(pco_http_request_t *r, const pco_str_t *name, uintptr_t data,
                               pco_str_t *v);

static const pco_setting_t pco_realip_members[] = {
    { .name = "from", .type = PCO_CONF_CUSTOM, .offset = offsetof(pco_realip_spec_t, from),
      .elt_size = sizeof(pco_cidr_list_t), .custom = pco_cidr_list_parse,
      .dump = pco_cidr_list_dump,
      .help = "trusted proxies: CIDRs, addresses or \"unix:\" (empty = off)" },
    { .name = "header", .type = PCO_CONF_STRING, .offset = offsetof(pco_realip_spec_t, header),
      .def = "\"X-Forwarded-For\"",
      .help = "request header holding the client address (X-Forwarded-For, X-Real-IP...)" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_realip_settings[] = {
    { .name = "real_ip", .scopes = PCO_SCOPE_HTTP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_realip_conf_t, real_ip), .sub = pco_realip_members,
      .help = "client address from a header set by trusted proxies: { from; header; }" },
    PCO_SETTINGS_END
};

/*
 * Hooks:
 *   real_ip.from  (custom parser) master, every load and -t: CIDRs into the cycle pool;
 *                 every bad entry reported at its line. PCO_OK or PCO_ERROR.
 *   conf_done     master, every load and -t: checks the header name, registers
 *                 $realip_remote_addr, stores the http scope's settings in
 *                 cycle->module_ctx and, when `from` is not empty, registers the POST_READ
 *                 handler. PCO_OK or PCO_ERROR after reporting.
 * The POST_READ handler runs in workers and returns PCO_DECLINED (the next handler runs),
 * or 500 when the request pool is exhausted.
 */
pco_module_t pco_realip_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "realip",
    .settings = pco_realip_settings,
    .conf_size = sizeof(pco_realip_conf_t),
    .conf_done = pco_realip_conf_done,
};

/* ---- configuration --------------------------------------------------------------------- */

static int
pco_realip_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_realip_conf_t  *rc = pco_http_main_conf(cycle, &pco_realip_module);
    pco_conf_src_t      src;

    if (pco_http_variable_add(cf, cycle, "realip_remote_addr", pco_realip_variable, 0, 0)
        != PCO_OK)
    {
        return PCO_ERROR;                    /* reported, naming the module */
    }
    if (rc == NULL) {
        return PCO_OK;                       /* no http { }: nothing to trust */
    }
    if (!pco_str_is_token(rc->real_ip.header.data, rc->real_ip.header.len)) {
        src = *PCO_CONF_SRC(rc, pco_realip_conf_t, real_ip.header);
        src.path = "http.real_ip.header";
        pco_conf_error_src(cf, &src, "\"%.*s\" is not a valid header name",
                           (int) rc->real_ip.header.len,
                           rc->real_ip.header.data != NULL
                           ? (const char *) rc->real_ip.header.data : "");
        return PCO_ERROR;
    }
    if (rc->real_ip.from.n == 0) {
        return PCO_OK;                       /* off: no handler at all */
    }
    cycle->module_ctx[pco_realip_module.index] = &rc->real_ip;
    return pco_http_add_handler(cf, cycle, PCO_HTTP_POST_READ_PHASE, PCO_REALIP_PRIORITY,
                                &pco_realip_module, pco_realip_handler);
}

/* ---- the walk (pure; unit-tested) ------------------------------------------------------- */

bool
pco_realip_trusted(const pco_cidr_t *from, size_t nfrom, const pco_sockaddr_t *sa)
{
    size_t  i;

    for (i = 0; i < nfrom; i++) {
        if (pco_cidr_match(&from[i], sa)) {
            return true;
        }
    }
    return false;
}

int
pco_realip_parse_entry(const u_char *p, size_t len, pco_sockaddr_t *out, socklen_t *outlen)
{
    const u_char  *q;
    size_t         alen;

    if (len > 0 && p[0] == '[') {
        /* [v6] or [v6]:port */
        q = memchr(p, ']', len);
        if (q == NULL) {
            return PCO_ERROR;
        }
        alen = (size_t) (q - p) - 1;
        if (memchr(p + 1, ':', alen) == NULL) {
            return PCO_ERROR;                /* brackets are for IPv6 only */
        }
        q++;
        if (q != p + len && (*q != ':' || !pco_port_parse(q + 1, (size_t) (p + len - q - 1), NULL))) {
            return PCO_ERROR;
        }
        return pco_addr_parse((const char *) p + 1, alen, out, outlen);
    }
    q = memchr(p, ':', len);
    if (q != NULL && memchr(q + 1, ':', (size_t) (p + len - q - 1)) == NULL) {
        /* a single colon: IPv4 with a port */
        if (!pco_port_parse(q + 1, (size_t) (p + len - q - 1), NULL)) {
            return PCO_ERROR;
        }
        if (pco_addr_parse((const char *) p, (size_t) (q - p), out, outlen) != PCO_OK
            || out->sa.sa_family != AF_INET)
        {
            return PCO_ERROR;
        }
        return PCO_OK;
    }
    return pco_addr_parse((const char *) p, len, out, outlen);
}

int
pco_realip_walk(const u_char *list, size_t len, const pco_cidr_t *from, size_t nfrom,
                pco_sockaddr_t *out, socklen_t *outlen)
{
    pco_sockaddr_t  sa;
    socklen_t       salen;
    size_t          end = len, start, last;
    bool            found = false;

    while (end > 0) {
        start = end;
        while (start > 0 && list[start - 1] != ',') {
            start--;
        }
        last = end;
        end = start > 0 ? start - 1 : 0;      /* the next entry ends before this comma */

        /* trim the entry's spaces and tabs; an empty entry is skipped */
        while (start < last && (list[start] == ' ' || list[start] == '\t')) {
            start++;
        }
        while (last > start && (list[last - 1] == ' ' || list[last - 1] == '\t')) {
            last--;
        }
        if (start == last) {
            continue;
        }
        if (pco_realip_parse_entry(list + start, last - start, &sa, &salen) != PCO_OK) {
            break;                            /* garbage: keep the last good address */
        }
        *out = sa;
        *outlen = salen;
        found = true;
        if (!pco_realip_trusted(from, nfrom, &sa)) {
            break;                            /* the first untrusted hop is the client */
        }
    }
    return found ? PCO_OK : PCO_DECLINED;
}

/* ---- the POST_READ handler ------------------------------------------------------------- */

/* The value of every field named `name`, joined with "," in order (one field: no copy).
 * PCO_OK, PCO_DECLINED (no such field) or PCO_ERROR (pool exhausted). */
static int
pco_realip_header(pco_http_request_t *r, const pco_str_t *name, pco_str_t *v)
{
    pco_http_header_t  *h;
    size_t              i, n = 0, total = 0;
    u_char             *p;

    for (i = 0; i < r->head.nheaders; i++) {
        h = &r->head.headers[i];
        if (pco_str_caseeq(&h->name, name)) {
            if (n++ == 0) {
                *v = h->value;
            }
            total += h->value.len + 1;
        }
    }
    if (n <= 1) {
        return n == 1 ? PCO_OK : PCO_DECLINED;
    }
    p = pco_pnalloc(r->pool, total);
    if (p == NULL) {
        return PCO_ERROR;
    }
    v->data = p;
    for (i = 0; i < r->head.nheaders; i++) {
        h = &r->head.headers[i];
        if (pco_str_caseeq(&h->name, name)) {
            if (p != v->data) {
                *p++ = ',';
            }
            memcpy(p, h->value.data, h->value.len);
            p += h->value.len;
        }
    }
    v->len = (size_t) (p - v->data);
    return PCO_OK;
}

static int
pco_realip_handler(pco_http_request_t *r)
{
    const pco_realip_spec_t  *spec = pco_cycle->module_ctx[pco_realip_module.index];
    pco_connection_t         *c = r->connection;
    pco_sockaddr_t           *sa;
    socklen_t                 salen = 0;
    pco_str_t                 v = pco_null_string;
    int                       rc;

    if (spec == NULL || !pco_realip_trusted(spec->from.elts, spec->from.n, &c->sockaddr)) {
        return PCO_DECLINED;
    }
    rc = pco_realip_header(r, &spec->header, &v);
    if (rc == PCO_DECLINED) {
        return PCO_DECLINED;
    }
    sa = rc == PCO_OK ? pco_palloc(r->pool, sizeof(pco_sockaddr_t)) : NULL;
    if (sa == NULL) {
        return 500;
    }
    if (pco_realip_walk(v.data, v.len, spec->from.elts, spec->from.n, sa, &salen) != PCO_OK) {
        return PCO_DECLINED;
    }
    r->client_addr = sa;
    r->client_socklen = salen;
    return PCO_DECLINED;
}

/* $realip_remote_addr: the connection's peer, whatever real_ip decided. */
static int
pco_realip_variable(pco_http_request_t *r, const pco_str_t *name, uintptr_t data,
                    pco_str_t *v)
{
    pco_connection_t  *c = r->connection;

    pco_unused(name);
    pco_unused(data);
    v->data = pco_pnalloc(r->pool, 64);
    if (v->data == NULL) {
        return PCO_DECLINED;
    }
    v->len = pco_sockaddr_ntop(&c->sockaddr, c->socklen, v->data, 64, false);
    return PCO_OK;
}
