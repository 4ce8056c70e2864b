/*
 * pco_static_util.c: the static module's pure parts: the MIME table (parsed once at
 * conf_done from conf/mime.types, then a sorted array searched by extension) and the Range
 * header parser. No I/O, no globals; allocation only through the caller's allocator.
 */
#include "pco_static.h"
#include <stdlib.h>
#include <strings.h>

typedef struct {
    const u_char  *p;
    const u_char  *end;
    unsigned       line;
} pco_static_lex_t;

/* Next token: a word, or one of ';' '{' '}'. Returns its length (0 at the end). */
static size_t
pco_static_lex_next(pco_static_lex_t *lx, const u_char **tok)
{
    const u_char  *s;

    for (;;) {
        while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r'
                                   || *lx->p == '\n'))
        {
            if (*lx->p == '\n') {
                lx->line++;
            }
            lx->p++;
        }
        if (lx->p < lx->end && *lx->p == '#') {
            while (lx->p < lx->end && *lx->p != '\n') {
                lx->p++;
            }
            continue;
        }
        break;
    }
    if (lx->p >= lx->end) {
        return 0;
    }
    s = lx->p;
    *tok = s;
    if (*s == ';' || *s == '{' || *s == '}') {
        lx->p++;
        return 1;
    }
    while (lx->p < lx->end && *lx->p != ' ' && *lx->p != '\t' && *lx->p != '\r'
           && *lx->p != '\n' && *lx->p != ';' && *lx->p != '{' && *lx->p != '}'
           && *lx->p != '#')
    {
        lx->p++;
    }
    return (size_t) (lx->p - s);
}

static int
pco_static_ext_cmp(const u_char *a, size_t alen, const u_char *b, size_t blen)
{
    size_t  i, n = pco_min(alen, blen);

    for (i = 0; i < n; i++) {
        u_char ca = a[i], cb = b[i];

        ca = (ca >= 'A' && ca <= 'Z') ? (u_char) (ca | 0x20) : ca;
        cb = (cb >= 'A' && cb <= 'Z') ? (u_char) (cb | 0x20) : cb;
        if (ca != cb) {
            return ca < cb ? -1 : 1;
        }
    }
    return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

static int
pco_static_mime_sort_cmp(const void *a, const void *b)
{
    const pco_static_mime_t *x = a, *y = b;
    int rc = pco_static_ext_cmp(x->ext.data, x->ext.len, y->ext.data, y->ext.len);

    /* stable on equal extensions: the one written first sorts first */
    if (rc == 0) {
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    return rc;
}

static u_char *
pco_static_copy(pco_static_alloc_pt alloc, void *ctx, const u_char *s, size_t len, bool lower)
{
    u_char  *d = alloc(ctx, len + 1);
    size_t   i;

    if (d == NULL) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        d[i] = (lower && s[i] >= 'A' && s[i] <= 'Z') ? (u_char) (s[i] | 0x20) : s[i];
    }
    d[len] = '\0';
    return d;
}

int
pco_static_mime_parse(pco_static_mime_table_t *t, const u_char *text, size_t len,
                      pco_static_alloc_pt alloc, void *ctx, unsigned *err_line)
{
    pco_static_lex_t    lx = { text, text + len, 1 };
    const u_char       *tok;
    size_t              n, cap = 0, i, j;
    pco_static_mime_t  *e = NULL;
    pco_str_t           type = pco_null_string;
    bool                in_types = false, have_type = false;
    unsigned            exts = 0;

    /* count words first: an upper bound on the entries */
    while ((n = pco_static_lex_next(&lx, &tok)) > 0) {
        cap++;
    }
    t->entries = NULL;
    t->n = 0;
    if (cap > 0) {
        e = alloc(ctx, cap * sizeof(pco_static_mime_t));
        if (e == NULL) {
            *err_line = 0;
            return PCO_ERROR;
        }
    }
    lx.p = text;
    lx.line = 1;
    while ((n = pco_static_lex_next(&lx, &tok)) > 0) {
        if (n == 1 && *tok == '{') {
            if (in_types || !have_type || exts > 0 || !pco_str_eq(&type, "types")) {
                goto syntax;
            }
            in_types = true;
            have_type = false;
            continue;
        }
        if (n == 1 && *tok == '}') {
            if (!in_types || have_type) {
                goto syntax;
            }
            in_types = false;
            continue;
        }
        if (n == 1 && *tok == ';') {
            if (!have_type || exts == 0) {
                goto syntax;
            }
            have_type = false;
            continue;
        }
        if (!have_type) {
            type.len = n;
            type.data = (u_char *) tok;
            have_type = true;
            exts = 0;
            continue;
        }
        if (exts == 0) {
            /* the type string is kept once for all its extensions */
            type.data = pco_static_copy(alloc, ctx, type.data, type.len, false);
            if (type.data == NULL) {
                *err_line = 0;
                return PCO_ERROR;
            }
        }
        exts++;
        e[t->n].type = type;
        e[t->n].ext.len = n;
        e[t->n].ext.data = pco_static_copy(alloc, ctx, tok, n, true);
        if (e[t->n].ext.data == NULL) {
            *err_line = 0;
            return PCO_ERROR;
        }
        t->n++;
    }
    if (have_type || in_types) {
        goto syntax;
    }
    if (t->n > 0) {
        qsort(e, t->n, sizeof(pco_static_mime_t), pco_static_mime_sort_cmp);
        /* drop later duplicates */
        for (i = 1, j = 1; i < t->n; i++) {
            if (pco_static_ext_cmp(e[i].ext.data, e[i].ext.len, e[j - 1].ext.data,
                                   e[j - 1].ext.len) != 0)
            {
                e[j++] = e[i];
            }
        }
        t->n = j;
    }
    t->entries = e;
    return PCO_OK;

syntax:
    *err_line = lx.line;
    t->n = 0;
    return PCO_ERROR;
}

const pco_str_t *
pco_static_mime_lookup(const pco_static_mime_table_t *t, const u_char *path, size_t len)
{
    const u_char  *p = path + len, *dot = NULL;
    size_t         lo = 0, hi = t->n, elen;

    while (p > path) {
        p--;
        if (*p == '/') {
            break;
        }
        if (*p == '.') {
            dot = p;
            break;
        }
    }
    if (dot == NULL) {
        return NULL;
    }
    elen = (size_t) (path + len - dot - 1);
    if (elen == 0 || elen > PCO_STATIC_MAX_EXT) {
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pco_static_mime_t *m = &t->entries[mid];
        int rc = pco_static_ext_cmp(dot + 1, elen, m->ext.data, m->ext.len);

        if (rc == 0) {
            return &m->type;
        }
        if (rc < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Parses decimal digits at [*p, end) into *out; false when none or on overflow. */
static bool
pco_static_parse_off(const u_char **p, const u_char *end, off_t *out)
{
    off_t  v = 0;
    bool   any = false;

    while (*p < end && **p >= '0' && **p <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (**p - '0');
        (*p)++;
        any = true;
    }
    *out = v;
    return any;
}

int
pco_static_parse_range(const u_char *v, size_t len, off_t size, off_t *start, off_t *end)
{
    const u_char  *p = v, *last = v + len;
    off_t          a = -1, b = -1;

    if (len < 6 || strncasecmp((const char *) v, "bytes=", 6) != 0) {
        return 0;
    }
    p += 6;
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if (p < last && *p == '-') {
        p++;
        if (!pco_static_parse_off(&p, last, &b)) {
            return 0;
        }
    } else {
        if (!pco_static_parse_off(&p, last, &a)) {
            return 0;
        }
        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p >= last || *p != '-') {
            return 0;
        }
        p++;
        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < last && *p >= '0' && *p <= '9') {
            if (!pco_static_parse_off(&p, last, &b)) {
                return 0;
            }
        }
    }
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if (p != last) {
        /* a ',' (several ranges) or garbage: serve the whole file */
        return 0;
    }
    if (a < 0) {
        /* suffix range: the last b bytes */
        if (b == 0 || size == 0) {
            return 416;
        }
        *start = b >= size ? 0 : size - b;
        *end = size - 1;
        return 206;
    }
    if (b >= 0 && b < a) {
        return 0;
    }
    if (a >= size) {
        return 416;
    }
    *start = a;
    *end = (b < 0 || b >= size) ? size - 1 : b;
    return 206;
}
