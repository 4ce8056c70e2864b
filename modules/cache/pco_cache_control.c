/*
 * pco_cache_control.c: the caching rules of a shared cache as pure functions (see
 * pco_cache_control.h). Nothing here allocates, blocks or reads the clock; it runs in the
 * worker on each response and lookup. Where RFC 9111 leaves a choice, the conservative one
 * is taken: a malformed max-age or s-maxage means "already stale", a malformed
 * stale-while-revalidate, stale-if-error, max-stale or min-fresh is ignored (it could only
 * widen what the cache may do), a repeated directive keeps its first value, and a response
 * with no-cache or private (with or without field names) is not stored at all, as nginx does.
 */
#include <stdio.h>
#include "pco_cache_control.h"
#include "pco_string.h"
#include "pco_time.h"

/* One element of a comma-separated directive list. */
typedef struct {
    const u_char  *name;
    size_t         name_len;
    const u_char  *val;             /* the value without its quotes */
    size_t         val_len;
    bool           has_val;
    bool           bad;             /* syntax error: the value is not usable */
} pco_cache_item_t;

static bool
pco_cache_ows(u_char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Skips to just after the next comma that is not inside a quoted string, or to e. */
static const u_char *
pco_cache_skip_element(const u_char *p, const u_char *e)
{
    bool  quoted = false;

    while (p < e) {
        if (quoted && *p == '\\' && p + 1 < e) {
            p += 2;
            continue;
        }
        if (*p == '"') {
            quoted = !quoted;
        } else if (*p == ',' && !quoted) {
            return p + 1;
        }
        p++;
    }
    return e;
}

/* Reads the next element of the list at *pp; false when none is left. An element that is
 * not `token [ "=" ( token / quoted-string ) ]` comes back with bad set (its name may be
 * empty) and the list resumes after the next comma outside quotes. */
static bool
pco_cache_next_item(const u_char **pp, const u_char *e, pco_cache_item_t *it)
{
    const u_char  *p = *pp;

    memset(it, 0, sizeof(*it));
    while (p < e && (pco_cache_ows(*p) || *p == ',')) {
        p++;
    }
    if (p == e) {
        *pp = p;
        return false;
    }
    it->name = p;
    while (p < e && pco_is_tchar(*p)) {
        p++;
    }
    it->name_len = (size_t) (p - it->name);
    if (p < e && *p == '=') {
        p++;
        it->has_val = true;
        if (p < e && *p == '"') {
            it->val = ++p;
            while (p < e && *p != '"') {
                if (*p == '\\') {
                    it->bad = true;     /* escapes never occur in a usable value */
                    if (p + 1 < e) {
                        p++;
                    }
                }
                p++;
            }
            if (p >= e) {
                it->bad = true;         /* unterminated quoted string */
                p = e;
                it->val_len = (size_t) (p - it->val);
            } else {
                it->val_len = (size_t) (p - it->val);
                p++;
            }
        } else {
            it->val = p;
            while (p < e && pco_is_tchar(*p)) {
                p++;
            }
            it->val_len = (size_t) (p - it->val);
        }
    }
    while (p < e && pco_cache_ows(*p)) {
        p++;
    }
    if (it->name_len == 0 || (p < e && *p != ',')) {
        it->bad = true;
        p = pco_cache_skip_element(p, e);
    }
    *pp = p;
    return true;
}

static bool
pco_cache_item_is(const pco_cache_item_t *it, const char *name)
{
    size_t  n = strlen(name);

    return it->name_len == n && pco_mem_caseeq(it->name, (const u_char *) name, n);
}

/* The item's value as delta-seconds, -1 when absent or malformed. */
static int64_t
pco_cache_item_delta(const pco_cache_item_t *it)
{
    if (it->bad || !it->has_val) {
        return -1;
    }
    return pco_cache_delta_seconds(it->val, it->val_len);
}

int64_t
pco_cache_delta_seconds(const u_char *p, size_t len)
{
    int64_t  v = 0;
    size_t   i;

    if (len == 0) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        if (v < PCO_CACHE_DELTA_MAX) {
            v = v * 10 + (p[i] - '0');
        }
    }
    return v > PCO_CACHE_DELTA_MAX ? PCO_CACHE_DELTA_MAX : v;
}

/* Sets *slot once: the first occurrence wins; bad_as is stored for a malformed value
 * (PCO_CACHE_NONE leaves the directive absent). */
static void
pco_cache_set_once(int64_t *slot, int64_t v, int64_t bad_as)
{
    if (*slot != PCO_CACHE_NONE) {
        return;
    }
    *slot = v >= 0 ? v : bad_as;
}

void
pco_cache_resp_init(pco_cache_resp_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->cc.max_age = PCO_CACHE_NONE;
    resp->cc.s_maxage = PCO_CACHE_NONE;
    resp->cc.stale_while_revalidate = PCO_CACHE_NONE;
    resp->cc.stale_if_error = PCO_CACHE_NONE;
    resp->date = -1;
    resp->expires = -1;
    resp->last_modified = -1;
}

void
pco_cache_req_init(pco_cache_req_t *req)
{
    memset(req, 0, sizeof(*req));
    req->max_age = PCO_CACHE_NONE;
    req->max_stale = PCO_CACHE_NONE;
    req->min_fresh = PCO_CACHE_NONE;
}

void
pco_cache_cc_parse_resp(pco_cache_resp_cc_t *cc, const u_char *p, size_t len)
{
    const u_char      *e = p + len;
    pco_cache_item_t   it;

    while (pco_cache_next_item(&p, e, &it)) {
        if (pco_cache_item_is(&it, "no-store")) {
            cc->no_store = 1;
        } else if (pco_cache_item_is(&it, "no-cache")) {
            cc->no_cache = 1;
        } else if (pco_cache_item_is(&it, "private")) {
            cc->private_ = 1;
        } else if (pco_cache_item_is(&it, "public")) {
            cc->public_ = 1;
        } else if (pco_cache_item_is(&it, "must-revalidate")) {
            cc->must_revalidate = 1;
        } else if (pco_cache_item_is(&it, "proxy-revalidate")) {
            cc->proxy_revalidate = 1;
        } else if (pco_cache_item_is(&it, "max-age")) {
            pco_cache_set_once(&cc->max_age, pco_cache_item_delta(&it), 0);
        } else if (pco_cache_item_is(&it, "s-maxage")) {
            pco_cache_set_once(&cc->s_maxage, pco_cache_item_delta(&it), 0);
        } else if (pco_cache_item_is(&it, "stale-while-revalidate")) {
            pco_cache_set_once(&cc->stale_while_revalidate, pco_cache_item_delta(&it),
                               PCO_CACHE_NONE);
        } else if (pco_cache_item_is(&it, "stale-if-error")) {
            pco_cache_set_once(&cc->stale_if_error, pco_cache_item_delta(&it),
                               PCO_CACHE_NONE);
        }
    }
}

void
pco_cache_cc_parse_req(pco_cache_req_t *req, const u_char *p, size_t len)
{
    const u_char      *e = p + len;
    pco_cache_item_t   it;

    req->has_cache_control = 1;
    while (pco_cache_next_item(&p, e, &it)) {
        if (pco_cache_item_is(&it, "no-cache")) {
            req->no_cache = 1;
        } else if (pco_cache_item_is(&it, "no-store")) {
            req->no_store = 1;
        } else if (pco_cache_item_is(&it, "only-if-cached")) {
            req->only_if_cached = 1;
        } else if (pco_cache_item_is(&it, "max-age")) {
            pco_cache_set_once(&req->max_age, pco_cache_item_delta(&it), 0);
        } else if (pco_cache_item_is(&it, "max-stale")) {
            /* without a value the client accepts any staleness */
            pco_cache_set_once(&req->max_stale,
                               it.has_val ? pco_cache_item_delta(&it) : PCO_CACHE_ANY,
                               PCO_CACHE_NONE);
        } else if (pco_cache_item_is(&it, "min-fresh")) {
            pco_cache_set_once(&req->min_fresh, pco_cache_item_delta(&it), PCO_CACHE_NONE);
        }
    }
}

/* The value without leading and trailing whitespace. */
static void
pco_cache_trim(const pco_str_t *v, const u_char **p, size_t *len)
{
    const u_char  *s = v->data, *e = v->data + v->len;

    while (s < e && pco_cache_ows(*s)) {
        s++;
    }
    while (e > s && pco_cache_ows(e[-1])) {
        e--;
    }
    *p = s;
    *len = (size_t) (e - s);
}

/* A date header: the first one counts; -1 when invalid. */
static void
pco_cache_date(time_t *slot, bool first, const pco_str_t *value)
{
    const u_char  *p;
    size_t         len;

    if (!first) {
        return;
    }
    pco_cache_trim(value, &p, &len);
    *slot = pco_parse_http_time(p, len);
}

/* True when the list holds the element word (case-insensitive, no value). */
static bool
pco_cache_list_has(const pco_str_t *value, const char *word)
{
    const u_char      *p = value->data, *e = value->data + value->len;
    pco_cache_item_t   it;

    while (pco_cache_next_item(&p, e, &it)) {
        if (!it.bad && !it.has_val && pco_cache_item_is(&it, word)) {
            return true;
        }
    }
    return false;
}

void
pco_cache_resp_header(pco_cache_resp_t *resp, const pco_str_t *name, const pco_str_t *value)
{
    const u_char  *p;
    size_t         len;
    int64_t        v;

    if (pco_str_caseeq_lit(name, "Cache-Control")) {
        pco_cache_cc_parse_resp(&resp->cc, value->data, value->len);
    } else if (pco_str_caseeq_lit(name, "Expires")) {
        if (!resp->has_expires) {
            pco_cache_date(&resp->expires, true, value);
            /* an invalid Expires ("0" above all) means already expired */
            if (resp->expires < 0) {
                resp->expires = 0;
            }
            resp->has_expires = 1;
        }
    } else if (pco_str_caseeq_lit(name, "Date")) {
        pco_cache_date(&resp->date, resp->date < 0, value);
    } else if (pco_str_caseeq_lit(name, "Last-Modified")) {
        pco_cache_date(&resp->last_modified, resp->last_modified < 0, value);
    } else if (pco_str_caseeq_lit(name, "Age")) {
        pco_cache_trim(value, &p, &len);
        v = pco_cache_delta_seconds(p, len);
        if (!resp->has_age && v >= 0) {
            resp->age = v;
            resp->has_age = 1;
        }
    } else if (pco_str_caseeq_lit(name, "Set-Cookie")) {
        resp->set_cookie = 1;
    } else if (pco_str_caseeq_lit(name, "Vary")) {
        if (pco_cache_list_has(value, "*")) {
            resp->vary_star = 1;
        }
    }
}

void
pco_cache_req_header(pco_cache_req_t *req, const pco_str_t *name, const pco_str_t *value)
{
    if (pco_str_caseeq_lit(name, "Cache-Control")) {
        pco_cache_cc_parse_req(req, value->data, value->len);
    } else if (pco_str_caseeq_lit(name, "Pragma")) {
        if (pco_cache_list_has(value, "no-cache")) {
            req->pragma_no_cache = 1;
        }
    } else if (pco_str_caseeq_lit(name, "Authorization")) {
        req->authorization = 1;
    }
}

int64_t
pco_cache_lifetime(const pco_cache_resp_t *resp, time_t response_time, int64_t valid)
{
    int64_t  base, d;

    if (resp->cc.s_maxage != PCO_CACHE_NONE) {
        return resp->cc.s_maxage;
    }
    if (resp->cc.max_age != PCO_CACHE_NONE) {
        return resp->cc.max_age;
    }
    if (resp->has_expires) {
        base = resp->date >= 0 ? (int64_t) resp->date : (int64_t) response_time;
        d = (int64_t) resp->expires - base;
        return d > 0 ? d : 0;
    }
    return valid >= 0 ? valid : PCO_CACHE_NONE;
}

/* must-revalidate, proxy-revalidate (ours is a shared cache) and s-maxage (which implies
 * proxy-revalidate) forbid serving the response stale. */
static bool
pco_cache_no_stale(const pco_cache_resp_t *resp)
{
    return resp->cc.must_revalidate || resp->cc.proxy_revalidate
           || resp->cc.s_maxage != PCO_CACHE_NONE;
}

pco_cache_store_e
pco_cache_storable(const pco_str_t *method, const pco_cache_req_t *req, unsigned status,
                   const pco_cache_resp_t *resp, int64_t lifetime, bool allow_set_cookie)
{
    bool  window;

    if (!pco_str_eq(method, "GET") && !pco_str_eq(method, "HEAD")) {
        return PCO_CACHE_NOSTORE_METHOD;
    }
    /* a partial (206) or a 304 is not a complete response to the request */
    if (status < 200 || status > 599 || status == 206 || status == 304) {
        return PCO_CACHE_NOSTORE_STATUS;
    }
    if (req != NULL && req->no_store) {
        return PCO_CACHE_NOSTORE_REQUEST;
    }
    if (resp->cc.no_store) {
        return PCO_CACHE_NOSTORE_NO_STORE;
    }
    if (resp->cc.private_) {
        return PCO_CACHE_NOSTORE_PRIVATE;
    }
    if (resp->cc.no_cache) {
        return PCO_CACHE_NOSTORE_NO_CACHE;
    }
    if (req != NULL && req->authorization && !resp->cc.public_
        && resp->cc.s_maxage == PCO_CACHE_NONE)
    {
        return PCO_CACHE_NOSTORE_AUTHORIZATION;
    }
    if (resp->set_cookie && !allow_set_cookie) {
        return PCO_CACHE_NOSTORE_SET_COOKIE;
    }
    if (resp->vary_star) {
        return PCO_CACHE_NOSTORE_VARY_STAR;
    }
    /* an already expired response is worth keeping only to be served stale */
    window = !pco_cache_no_stale(resp)
             && (resp->cc.stale_while_revalidate > 0 || resp->cc.stale_if_error > 0);
    if (lifetime < 0 || (lifetime == 0 && !window)) {
        return PCO_CACHE_NOSTORE_LIFETIME;
    }
    return PCO_CACHE_STORE;
}

const char *
pco_cache_store_reason(pco_cache_store_e reason)
{
    static const char  *names[] = {
        "stored", "method", "status", "request no-store", "no-store", "no-cache", "private",
        "Set-Cookie", "Authorization", "Vary: *", "no freshness lifetime"
    };

    return (unsigned) reason < pco_nelems(names) ? names[reason] : "?";
}

void
pco_cache_fresh_init(pco_cache_fresh_t *f, const pco_cache_resp_t *resp, int64_t lifetime,
                     time_t request_time, time_t response_time)
{
    int64_t  apparent, delay, corrected;

    /* RFC 9111 section 4.2.3; without a Date the response counts as dated on receipt */
    apparent = resp->date >= 0 ? (int64_t) response_time - resp->date : 0;
    if (apparent < 0) {
        apparent = 0;
    }
    delay = (int64_t) response_time - request_time;
    if (delay < 0) {
        delay = 0;
    }
    corrected = resp->age + delay;

    f->lifetime = lifetime > 0 ? lifetime : 0;
    f->initial_age = pco_max(apparent, corrected);
    f->response_time = response_time;
    f->stale_while_revalidate = resp->cc.stale_while_revalidate;
    f->stale_if_error = resp->cc.stale_if_error;
    f->no_stale = pco_cache_no_stale(resp);
}

int64_t
pco_cache_current_age(const pco_cache_fresh_t *f, time_t now)
{
    int64_t  resident = (int64_t) now - f->response_time;

    return f->initial_age + (resident > 0 ? resident : 0);
}

pco_cache_use_e
pco_cache_use(const pco_cache_fresh_t *f, const pco_cache_req_t *req, time_t now)
{
    int64_t  age = pco_cache_current_age(f, now);
    int64_t  staleness = age - f->lifetime;

    if (req != NULL) {
        /* Pragma: no-cache counts only when the request has no Cache-Control */
        if (req->no_cache || (req->pragma_no_cache && !req->has_cache_control)) {
            return PCO_CACHE_USE_EXPIRED;
        }
        if (req->max_age != PCO_CACHE_NONE && age > req->max_age) {
            return PCO_CACHE_USE_EXPIRED;
        }
        if (req->min_fresh != PCO_CACHE_NONE && f->lifetime - age < req->min_fresh) {
            return PCO_CACHE_USE_EXPIRED;
        }
    }
    if (staleness < 0) {
        return PCO_CACHE_USE_FRESH;
    }
    if (f->no_stale) {
        return PCO_CACHE_USE_EXPIRED;
    }
    if (f->stale_while_revalidate != PCO_CACHE_NONE && staleness < f->stale_while_revalidate) {
        return PCO_CACHE_USE_STALE_REVALIDATE;
    }
    if (req != NULL && req->max_stale != PCO_CACHE_NONE && staleness <= req->max_stale) {
        return PCO_CACHE_USE_STALE_ALLOWED;
    }
    return PCO_CACHE_USE_EXPIRED;
}

bool
pco_cache_stale_ok(const pco_cache_fresh_t *f, pco_cache_stale_e why, bool configured,
                   time_t now)
{
    int64_t  staleness, window;

    if (f->no_stale) {
        return false;
    }
    staleness = pco_cache_current_age(f, now) - f->lifetime;
    window = why == PCO_CACHE_STALE_ERROR ? f->stale_if_error : f->stale_while_revalidate;
    if (window != PCO_CACHE_NONE && staleness < window) {
        return true;
    }
    return configured;
}

const char *
pco_cache_status_name(pco_cache_status_e outcome)
{
    static const char  *names[] = { "MISS", "HIT", "EXPIRED", "STALE", "UPDATING", "BYPASS",
                                         "REVALIDATED" };

    return (unsigned) outcome < pco_nelems(names) ? names[outcome] : "MISS";
}

/* Appends text to buf[*n..size), or marks *n past size (then nothing more fits). */
static void
pco_cache_put(u_char *buf, size_t size, size_t *n, const char *text, size_t len)
{
    if (*n + len >= size) {
        *n = size;
        return;
    }
    memcpy(buf + *n, text, len);
    *n += len;
}

static void
pco_cache_put_num(u_char *buf, size_t size, size_t *n, int64_t v)
{
    u_char  tmp[24];

    pco_cache_put(buf, size, n, (const char *) tmp, (size_t) (pco_sprint_i64(tmp, v) - tmp));
}

/* Written by hand rather than with snprintf: every answer of a cached route carries it. */
size_t
pco_cache_status_format(u_char *buf, size_t size, const pco_cache_status_t *s)
{
    static const char  *fwd[] = { "miss", NULL, "stale", "stale", NULL, "bypass", "stale" };
    const char         *how;
    size_t              n = 0;

    how = (unsigned) s->outcome < pco_nelems(fwd) ? fwd[s->outcome] : "miss";
    /* "hit": answered from the cache without going to the upstream (RFC 9211) */
    if (how == NULL) {
        pco_cache_put(buf, size, &n, "portico; hit", 12);
    } else {
        pco_cache_put(buf, size, &n, "portico; fwd=", 13);
        pco_cache_put(buf, size, &n, how, strlen(how));
        if (s->fwd_status != 0) {
            pco_cache_put(buf, size, &n, "; fwd-status=", 13);
            pco_cache_put_num(buf, size, &n, (int64_t) s->fwd_status);
        }
    }
    if (s->has_ttl) {
        pco_cache_put(buf, size, &n, "; ttl=", 6);
        pco_cache_put_num(buf, size, &n, s->ttl);
    }
    if (how != NULL && s->stored) {
        pco_cache_put(buf, size, &n, "; stored", 8);
    }
    if (s->outcome == PCO_CACHE_STATUS_STALE) {
        pco_cache_put(buf, size, &n, "; detail=served-stale", 21);
    }
    return n >= size ? 0 : n;
}
