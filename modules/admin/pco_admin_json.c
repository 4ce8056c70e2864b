/*
 * pco_admin_json.c: the admin API's JSON (pco_admin_json.h): a strict recursive-free parser
 * for one flat object (the request bodies are small, so a library would bring more than
 * it gives: no nesting, a bounded size, exact error texts) and a small writer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "pco_admin_json.h"

typedef struct {
    const u_char  *start;
    const u_char  *p;
    const u_char  *end;
    u_char        *out;
    char          *err;
    size_t         errlen;
} pco_admin_json_t;

static int
pco_admin_json_fail(pco_admin_json_t *j, const char *what)
{
    if (j->err != NULL && j->errlen > 0) {
        snprintf(j->err, j->errlen, "at byte %zu: %s", (size_t) (j->p - j->start), what);
    }
    return PCO_ERROR;
}

static void
pco_admin_json_ws(pco_admin_json_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

static int
pco_admin_json_hex4(pco_admin_json_t *j, unsigned *v)
{
    unsigned  i, c;

    if (j->end - j->p < 4) {
        return pco_admin_json_fail(j, "bad \\u escape");
    }
    *v = 0;
    for (i = 0; i < 4; i++) {
        c = j->p[i];
        if (c >= '0' && c <= '9') {
            c -= '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;
        } else {
            return pco_admin_json_fail(j, "bad \\u escape");
        }
        *v = *v << 4 | c;
    }
    j->p += 4;
    return PCO_OK;
}

/* Appends code point cp as UTF-8. */
static void
pco_admin_json_utf8(pco_admin_json_t *j, unsigned cp)
{
    if (cp < 0x80) {
        *j->out++ = (u_char) cp;
    } else if (cp < 0x800) {
        *j->out++ = (u_char) (0xc0 | cp >> 6);
        *j->out++ = (u_char) (0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *j->out++ = (u_char) (0xe0 | cp >> 12);
        *j->out++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *j->out++ = (u_char) (0x80 | (cp & 0x3f));
    } else {
        *j->out++ = (u_char) (0xf0 | cp >> 18);
        *j->out++ = (u_char) (0x80 | ((cp >> 12) & 0x3f));
        *j->out++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *j->out++ = (u_char) (0x80 | (cp & 0x3f));
    }
}

/* One escape after the backslash. */
static int
pco_admin_json_escape(pco_admin_json_t *j)
{
    static const char  from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char        *k;
    unsigned           cp, lo;

    if (j->p == j->end) {
        return pco_admin_json_fail(j, "unterminated string");
    }
    if (*j->p != 'u') {
        k = *j->p != '\0' ? strchr(from, *j->p) : NULL;
        if (k == NULL) {
            return pco_admin_json_fail(j, "bad escape");
        }
        *j->out++ = (u_char) to[k - from];
        j->p++;
        return PCO_OK;
    }
    j->p++;
    if (pco_admin_json_hex4(j, &cp) != PCO_OK) {
        return PCO_ERROR;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        return pco_admin_json_fail(j, "lone surrogate in \\u escape");
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
            return pco_admin_json_fail(j, "lone surrogate in \\u escape");
        }
        j->p += 2;
        if (pco_admin_json_hex4(j, &lo) != PCO_OK) {
            return PCO_ERROR;
        }
        if (lo < 0xdc00 || lo > 0xdfff) {
            return pco_admin_json_fail(j, "lone surrogate in \\u escape");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    pco_admin_json_utf8(j, cp);
    return PCO_OK;
}

/* Copies one UTF-8 sequence starting at a byte >= 0x80 (validated: no overlong form, no
 * surrogate, at most U+10FFFF). */
static int
pco_admin_json_utf8_copy(pco_admin_json_t *j)
{
    u_char    c = *j->p;
    unsigned  n, cp, i;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        cp = c & 0x07;
    } else {
        return pco_admin_json_fail(j, "invalid UTF-8");
    }
    if ((size_t) (j->end - j->p) <= n) {
        return pco_admin_json_fail(j, "invalid UTF-8");
    }
    for (i = 1; i <= n; i++) {
        if ((j->p[i] & 0xc0) != 0x80) {
            return pco_admin_json_fail(j, "invalid UTF-8");
        }
        cp = cp << 6 | (j->p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
    {
        return pco_admin_json_fail(j, "invalid UTF-8");
    }
    memcpy(j->out, j->p, n + 1);
    j->out += n + 1;
    j->p += n + 1;
    return PCO_OK;
}

/* A string at j->p (the opening quote), unescaped into j->out. */
static int
pco_admin_json_string(pco_admin_json_t *j, pco_str_t *s)
{
    j->p++;
    s->data = j->out;
    for ( ;; ) {
        if (j->p == j->end) {
            return pco_admin_json_fail(j, "unterminated string");
        }
        if (*j->p == '"') {
            j->p++;
            break;
        }
        if (*j->p < 0x20) {
            return pco_admin_json_fail(j, "control character in string");
        }
        if (*j->p == '\\') {
            j->p++;
            if (pco_admin_json_escape(j) != PCO_OK) {
                return PCO_ERROR;
            }
        } else if (*j->p >= 0x80) {
            if (pco_admin_json_utf8_copy(j) != PCO_OK) {
                return PCO_ERROR;
            }
        } else {
            *j->out++ = *j->p++;
        }
    }
    s->len = (size_t) (j->out - s->data);
    return PCO_OK;
}

static int
pco_admin_json_int(pco_admin_json_t *j, int64_t *v)
{
    bool      neg = false;
    uint64_t  n = 0, lim;

    if (*j->p == '-') {
        neg = true;
        j->p++;
    }
    if (j->p == j->end || *j->p < '0' || *j->p > '9') {
        return pco_admin_json_fail(j, "bad number");
    }
    if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9') {
        return pco_admin_json_fail(j, "leading zero in number");
    }
    lim = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (n > (lim - (uint64_t) (*j->p - '0')) / 10) {
            return pco_admin_json_fail(j, "number out of range");
        }
        n = n * 10 + (uint64_t) (*j->p - '0');
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) {
        return pco_admin_json_fail(j, "numbers must be integers");
    }
    *v = neg ? (int64_t) (0 - n) : (int64_t) n;
    return PCO_OK;
}

static bool
pco_admin_json_word(pco_admin_json_t *j, const char *w)
{
    size_t  n = strlen(w);

    if ((size_t) (j->end - j->p) >= n && memcmp(j->p, w, n) == 0) {
        j->p += n;
        return true;
    }
    return false;
}

static int
pco_admin_json_value(pco_admin_json_t *j, pco_admin_json_field_t *f)
{
    if (j->p == j->end) {
        return pco_admin_json_fail(j, "value expected");
    }
    switch (*j->p) {
    case '"':
        f->type = PCO_ADMIN_JSON_STRING;
        return pco_admin_json_string(j, &f->str);
    case '{':
    case '[':
        return pco_admin_json_fail(j, "nested values are not accepted");
    case 't':
    case 'f':
    case 'n':
        f->type = PCO_ADMIN_JSON_BOOL;
        if (pco_admin_json_word(j, "true")) {
            f->b = true;
        } else if (pco_admin_json_word(j, "false")) {
            f->b = false;
        } else if (pco_admin_json_word(j, "null")) {
            f->type = PCO_ADMIN_JSON_NULL;
        } else {
            return pco_admin_json_fail(j, "bad value");
        }
        return PCO_OK;
    default:
        f->type = PCO_ADMIN_JSON_INT;
        return pco_admin_json_int(j, &f->num);
    }
}

int
pco_admin_json_parse(const u_char *p, size_t len, u_char *buf, pco_admin_json_obj_t *obj,
                     char *err, size_t errlen)
{
    pco_admin_json_t         j = { p, p, p + len, buf, err, errlen };
    pco_admin_json_field_t  *f;
    unsigned                 i;

    obj->n = 0;
    pco_admin_json_ws(&j);
    if (j.p == j.end || *j.p != '{') {
        return pco_admin_json_fail(&j, "a JSON object expected");
    }
    j.p++;
    pco_admin_json_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto end;
    }
    for ( ;; ) {
        if (obj->n == PCO_ADMIN_JSON_MAX_FIELDS) {
            return pco_admin_json_fail(&j, "too many members");
        }
        f = &obj->f[obj->n];
        memset(f, 0, sizeof(*f));
        if (j.p == j.end || *j.p != '"') {
            return pco_admin_json_fail(&j, "member name expected");
        }
        if (pco_admin_json_string(&j, &f->name) != PCO_OK) {
            return PCO_ERROR;
        }
        for (i = 0; i < obj->n; i++) {
            if (obj->f[i].name.len == f->name.len
                && memcmp(obj->f[i].name.data, f->name.data, f->name.len) == 0)
            {
                return pco_admin_json_fail(&j, "duplicate member");
            }
        }
        pco_admin_json_ws(&j);
        if (j.p == j.end || *j.p != ':') {
            return pco_admin_json_fail(&j, "':' expected");
        }
        j.p++;
        pco_admin_json_ws(&j);
        if (pco_admin_json_value(&j, f) != PCO_OK) {
            return PCO_ERROR;
        }
        obj->n++;
        pco_admin_json_ws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            pco_admin_json_ws(&j);
            continue;
        }
        if (j.p < j.end && *j.p == '}') {
            j.p++;
            break;
        }
        return pco_admin_json_fail(&j, "',' or '}' expected");
    }
end:
    pco_admin_json_ws(&j);
    if (j.p != j.end) {
        return pco_admin_json_fail(&j, "trailing bytes after the object");
    }
    return PCO_OK;
}

const pco_admin_json_field_t *
pco_admin_json_get(const pco_admin_json_obj_t *obj, const char *name)
{
    size_t    n = strlen(name);
    unsigned  i;

    for (i = 0; i < obj->n; i++) {
        if (obj->f[i].name.len == n && memcmp(obj->f[i].name.data, name, n) == 0) {
            return &obj->f[i];
        }
    }
    return NULL;
}

/* ---- writer ---- */

void
pco_admin_out_init(pco_admin_out_t *o, pco_pool_t *pool, size_t limit)
{
    memset(o, 0, sizeof(*o));
    o->pool = pool;
    o->limit = limit;
}

void
pco_admin_out_free(pco_admin_out_t *o)
{
    if (o->pool == NULL) {
        free(o->data);
    }
    o->data = NULL;
    o->len = o->cap = 0;
}

static bool
pco_admin_out_reserve(pco_admin_out_t *o, size_t more)
{
    size_t   cap;
    u_char  *d;

    if (o->failed) {
        return false;
    }
    if (o->len + more + 1 <= o->cap) {
        return true;
    }
    cap = o->cap ? o->cap : 1024;
    while (cap < o->len + more + 1) {
        cap *= 2;
    }
    if (cap > o->limit) {
        o->failed = true;
        return false;
    }
    if (o->pool != NULL) {
        d = pco_palloc(o->pool, cap);
        if (d != NULL && o->len > 0) {
            memcpy(d, o->data, o->len);
        }
    } else {
        d = realloc(o->data, cap);
    }
    if (d == NULL) {
        o->failed = true;
        return false;
    }
    o->data = d;
    o->cap = cap;
    return true;
}

void
pco_admin_out_printf(pco_admin_out_t *o, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !pco_admin_out_reserve(o, (size_t) n)) {
        o->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf((char *) o->data + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t) n;
}

void
pco_admin_out_str(pco_admin_out_t *o, const u_char *s, size_t len)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;
    u_char            *d;

    if (!pco_admin_out_reserve(o, len * 6 + 2)) {
        return;
    }
    d = o->data + o->len;
    *d++ = '"';
    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            *d++ = '\\';
            *d++ = s[i];
        } else if (s[i] < 0x20 || s[i] == 0x7f) {
            *d++ = '\\';
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = (u_char) hex[s[i] >> 4];
            *d++ = (u_char) hex[s[i] & 0xf];
        } else {
            *d++ = s[i];
        }
    }
    *d++ = '"';
    o->len = (size_t) (d - o->data);
}
