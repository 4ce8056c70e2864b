/*
 * pco_conf_int.c: 64-bit integers from libconfig. libconfig 1.5 (the version distributions
 * ship) reads an integer literal without the L suffix into a C int and silently keeps its
 * low 32 bits: `keepalive_requests = 4294967296` arrives as 0, `worker_connections =
 * 4294967312` as 16, and no range check can see the difference. (libconfig 1.6 and later
 * promote such literals to 64 bits themselves.)
 *
 * So after libconfig has read the text, a small lexer reads the same text again (the main
 * file, every @include'd file, or the -g string), skipping comments and strings, and notes
 * every integer literal that does not fit in 32 bits with where it was written (file as
 * libconfig names it, line, the setting name it was assigned to) and its true value,
 * saturated to the int64 range as libconfig does for L literals. Then every 32-bit integer
 * setting of the tree that matches such a note (same file, line, name and low 32 bits) is
 * turned into the 64-bit setting it should have been (config_setting_t is a public struct in
 * libconfig.h), so that every reader and every range check sees the value as written.
 * Master only (blocking reads of the configuration files); memory: malloc'd, freed here.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>
#include <stdlib.h>

#define PCO_CONF_INT_NAME   64
#define PCO_CONF_INT_DEPTH  10      /* @include nesting, as libconfig */

typedef struct {
    char        *file;              /* as libconfig names it; NULL for a string */
    int          line;
    char         name[PCO_CONF_INT_NAME];
    unsigned     nth;               /* numbers before it since the name (array position) */
    int32_t      low;               /* what libconfig 1.5 stored */
    int64_t      value;             /* what was written (saturated to int64) */
    bool         used;
} pco_conf_wide_t;

typedef struct {
    pco_conf_wide_t  *w;
    size_t            n;
    size_t            cap;
    const char       *incdir;
} pco_conf_lex_t;

static void pco_conf_lex_text(pco_conf_lex_t *lx, const char *label, const char *p,
                              const char *end, unsigned depth);

/* Reads a whole file (NULL when it cannot: libconfig has reported that already). */
static char *
pco_conf_int_read(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    char  *buf = NULL;
    long   n;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t) n + 1);
        if (buf != NULL) {
            *len = fread(buf, 1, (size_t) n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static void
pco_conf_lex_file(pco_conf_lex_t *lx, const char *label, unsigned depth)
{
    char    path[4096], *text;
    size_t  len = 0;

    if (depth > PCO_CONF_INT_DEPTH) {
        return;
    }
    /* libconfig resolves a relative @include against the include directory */
    if (depth > 0 && label[0] != '/' && lx->incdir != NULL) {
        snprintf(path, sizeof(path), "%s/%s", lx->incdir, label);
    } else {
        snprintf(path, sizeof(path), "%s", label);
    }
    text = pco_conf_int_read(path, &len);
    if (text != NULL) {
        pco_conf_lex_text(lx, label, text, text + len, depth);
        free(text);
    }
}

static void
pco_conf_lex_note(pco_conf_lex_t *lx, const char *label, int line, const char *name,
                  unsigned nth, int32_t low, int64_t value)
{
    pco_conf_wide_t  *w;

    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? 2 * lx->cap : 16;

        w = realloc(lx->w, cap * sizeof(*w));
        if (w == NULL) {
            return;
        }
        lx->w = w;
        lx->cap = cap;
    }
    w = &lx->w[lx->n];
    w->file = label ? strdup(label) : NULL;
    if (label != NULL && w->file == NULL) {
        return;
    }
    w->line = line;
    w->nth = nth;
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->low = low;
    w->value = value;
    w->used = false;
    lx->n++;
}

/* One numeric token at p (a sign, decimal or hex digits, a float, an L suffix); notes an
 * integer beyond 32 bits. Returns the end of the token. */
static const char *
pco_conf_lex_number(pco_conf_lex_t *lx, const char *label, int line, const char *name,
                    unsigned nth, const char *p, const char *end)
{
    bool      neg = false, hex = false, over = false, wide_suffix = false;
    uint64_t  mag = 0, d;
    int64_t   value;
    int32_t   low;

    if (*p == '-' || *p == '+') {
        neg = (*p++ == '-');
    }
    if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        hex = true;
        p += 2;
    }
    for (; p < end; p++) {
        if (*p >= '0' && *p <= '9') {
            d = (uint64_t) (*p - '0');
        } else if (hex && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')) {
            d = (uint64_t) ((*p | 0x20) - 'a' + 10);
        } else {
            break;
        }
        if (mag > (UINT64_MAX - d) / (hex ? 16 : 10)) {
            over = true;
        } else {
            mag = mag * (hex ? 16 : 10) + d;
        }
    }
    if (p < end && (*p == '.' || (!hex && (*p == 'e' || *p == 'E')))) {
        while (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'
                           || *p == '-' || *p == '+'))
        {
            p++;                                   /* a float: not ours */
        }
        return p;
    }
    if (p < end && *p == 'L') {
        wide_suffix = true;
        p += (p + 1 < end && p[1] == 'L') ? 2 : 1;
    }
    if (hex) {
        /* strtoul: saturates at UINT64_MAX; the int keeps the low 32 bits */
        low = (int32_t) (uint32_t) (over ? UINT64_MAX : mag);
        value = (over || mag > (uint64_t) INT64_MAX) ? INT64_MAX : (int64_t) mag;
        if (neg) {
            return p;                              /* not a libconfig literal */
        }
    } else {
        /* strtol: saturates at the int64 limits; the int keeps the low 32 bits */
        if (over || mag > (uint64_t) INT64_MAX + neg) {
            value = neg ? INT64_MIN : INT64_MAX;
        } else {
            value = neg ? (int64_t) (0 - mag) : (int64_t) mag;
        }
        low = (int32_t) (uint32_t) (uint64_t) value;
    }
    if (!wide_suffix && (value < INT32_MIN || value > INT32_MAX)) {
        pco_conf_lex_note(lx, label, line, name, nth, low, value);
    }
    return p;
}

static bool
pco_conf_lex_namechar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_' || c == '-' || c == '*';
}

static void
pco_conf_lex_text(pco_conf_lex_t *lx, const char *label, const char *p, const char *end,
                  unsigned depth)
{
    char         name[PCO_CONF_INT_NAME] = "", ident[PCO_CONF_INT_NAME] = "", inc[4096];
    const char  *s;
    int          line = 1;
    unsigned     nth = 0;               /* numbers since the last '=' or ':' */
    size_t       l;

    while (p < end) {
        if (*p == '\n') {
            line++;
            p++;
        } else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
            while (p < end && *p != '\n') {
                p++;
            }
        } else if (*p == '/' && p + 1 < end && p[1] == '*') {
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++) {
                line += (*p == '\n');
            }
            p = (end - p >= 2) ? p + 2 : end;
        } else if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end) {
                    p++;
                }
                line += (*p == '\n');
            }
            p = (p < end) ? p + 1 : end;
        } else if (*p == '@' && (size_t) (end - p) > 8 && strncmp(p, "@include", 8) == 0) {
            for (p += 8; p < end && (*p == ' ' || *p == '\t'); p++) {
                /* skip */
            }
            if (p < end && *p == '"') {
                for (s = ++p; p < end && *p != '"' && *p != '\n'; p++) {
                    /* the path */
                }
                l = pco_min((size_t) (p - s), sizeof(inc) - 1);
                memcpy(inc, s, l);
                inc[l] = '\0';
                pco_conf_lex_file(lx, inc, depth + 1);
                p = (p < end) ? p + 1 : end;
            }
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '*') {
            for (s = p; p < end && pco_conf_lex_namechar(*p); p++) {
                /* a name, true or false */
            }
            l = pco_min((size_t) (p - s), sizeof(ident) - 1);
            memcpy(ident, s, l);
            ident[l] = '\0';
        } else if (*p == '=' || *p == ':') {
            memcpy(name, ident, sizeof(name));
            nth = 0;
            p++;
        } else if ((*p >= '0' && *p <= '9')
                   || ((*p == '-' || *p == '+') && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
        {
            p = pco_conf_lex_number(lx, label, line, name, nth++, p, end);
        } else {
            p++;
        }
    }
}

static bool
pco_conf_int_same_file(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* Widens every 32-bit setting under cs that matches a note. */
static void
pco_conf_int_widen(pco_conf_lex_t *lx, config_setting_t *cs, unsigned depth)
{
    const config_setting_t  *named = cs;
    const char              *file;
    size_t                   i;
    int                      n, k, line;
    unsigned                 nth = 0;

    if (depth > 64) {
        return;
    }
    if (config_setting_is_aggregate(cs)) {
        n = config_setting_length(cs);
        for (k = 0; k < n; k++) {
            pco_conf_int_widen(lx, config_setting_get_elem(cs, (unsigned) k), depth + 1);
        }
        return;
    }
    if (config_setting_type(cs) != CONFIG_TYPE_INT) {
        return;
    }
    while (named != NULL && config_setting_name(named) == NULL) {
        named = config_setting_parent(named);        /* an array element: the array's name */
    }
    if (named != cs) {
        /* an element: its position among the numbers of its array, as the lexer counts */
        const config_setting_t  *parent = config_setting_parent(cs);
        int                      t;

        for (k = 0; k < config_setting_index(cs); k++) {
            t = config_setting_type(config_setting_get_elem(parent, (unsigned) k));
            nth += (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT);
        }
    }
    file = config_setting_source_file(cs);
    line = config_setting_source_line(cs);
    for (i = 0; i < lx->n; i++) {
        pco_conf_wide_t *w = &lx->w[i];

        if (!w->used && w->line == line && w->nth == nth && w->low == config_setting_get_int(cs)
            && named != NULL && strcmp(w->name, config_setting_name(named)) == 0
            && pco_conf_int_same_file(w->file, file))
        {
            w->used = true;
            cs->type = CONFIG_TYPE_INT64;
            cs->value.llval = w->value;
            return;
        }
    }
}

void
pco_conf_widen_ints(config_t *c, const char *file, const char *text)
{
    pco_conf_lex_t  lx;
    size_t          i;

    memset(&lx, 0, sizeof(lx));
    lx.incdir = config_get_include_dir(c);
    if (file != NULL) {
        pco_conf_lex_file(&lx, file, 0);
    } else if (text != NULL) {
        pco_conf_lex_text(&lx, NULL, text, text + strlen(text), 0);
    }
    if (lx.n > 0) {
        pco_conf_int_widen(&lx, config_root_setting(c), 0);
    }
    for (i = 0; i < lx.n; i++) {
        free(lx.w[i].file);
    }
    free(lx.w);
}
