/*
 * pco_conf_hint.c: what a libconfig syntax error probably is. libconfig says only
 * "syntax error" and a line; this reads the text again with a small lexer that knows the
 * shape of libconfig (groups { name = value; }, lists ( a, b ), arrays [ a, b ], strings,
 * comments) and looks for the first thing libconfig would stop at, to name it:
 *   - an nginx-style line (`listen 80;`, `http { ... }`): libconfig writes `name = value;`
 *   - an unquoted word as a value (`level = notice;`): strings are quoted
 *   - two list or array elements without a `,` between them, or a `,` after the last one
 *   - a closing bracket that does not match the open one, or that closes nothing
 *   - at the end of the text: a bracket or a string still open, and where it was opened
 * (A missing `;` alone is not a syntax error in libconfig: the terminator is optional.)
 * Pure: no I/O, no allocation; unit-tested in t/unit/test_conf_hint.c.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include <stdio.h>

#define PCO_HINT_DEPTH  64

typedef enum {
    PCO_HINT_START = 0,   /* after an opener, a separator or at the start */
    PCO_HINT_NAME,        /* a setting name, waiting for = or : */
    PCO_HINT_ASSIGN,      /* after = or : */
    PCO_HINT_VALUE        /* after a value (a scalar or a closed bracket) */
} pco_hint_state_e;

typedef struct {
    const char        *p, *end;
    int                line;            /* of p */
    int                stop;            /* the error line: nothing after it is read */
    char               open[PCO_HINT_DEPTH];
    int                open_line[PCO_HINT_DEPTH];
    size_t             depth;           /* may exceed PCO_HINT_DEPTH: those are not kept */
    pco_hint_state_e   state;
    int                value_line;      /* where the last value ended */
    bool               string;          /* the last value was a string */
    int                multi_start;     /* the first closed string that spans lines: */
    int                multi_end;       /* its first and last line (0: none) */
    const char        *name;            /* the last setting name and its length */
    size_t             name_len;
    char              *hint;
    size_t             size;
} pco_hint_t;

static bool
pco_hint_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*'
           || (!first && ((c >= '0' && c <= '9') || c == '_' || c == '-'));
}

static char
pco_hint_top(const pco_hint_t *h)
{
    if (h->depth == 0) {
        return '{';                     /* the file itself is a group */
    }
    return h->depth <= PCO_HINT_DEPTH ? h->open[h->depth - 1] : '?';
}

static char
pco_hint_closer(char open)
{
    return open == '{' ? '}' : open == '(' ? ')' : ']';
}

/* The rest of the line from p, trimmed, without a trailing ';' or ',', as "%.*s" needs. */
static int
pco_hint_rest(const char *p, const char *end, const char **start)
{
    const char  *e = p;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    for (e = p; e < end && *e != '\n' && *e != '#'; e++) {
        /* to the end of the line or a comment */
    }
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        e--;
    }
    if (e > p && (e[-1] == ';' || e[-1] == ',')) {
        e--;
    }
    *start = p;
    return (int) pco_min((size_t) (e - p), (size_t) PCO_CONF_HINT_SHOWN);
}

/* One value token without spaces (a number, a quoted string without spaces, a bracket
 * pair on the line): the nginx-style value can be shown rewritten. */
static bool
pco_hint_one_token(const char *p, int n)
{
    int  i;
    bool quoted = (n >= 2 && p[0] == '"' && p[n - 1] == '"');

    for (i = 0; i < n; i++) {
        if ((p[i] == ' ' || p[i] == '\t') && !quoted && p[0] != '[' && p[0] != '(') {
            return false;
        }
    }
    return n > 0;
}

/* A word where a setting name was expected to be followed by = : nginx's `name value;`. */
static void
pco_hint_nginx(pco_hint_t *h, const char *at)
{
    const char  *v;
    int          n = pco_hint_rest(at, h->end, &v);

    if (*at == '{') {
        snprintf(h->hint, h->size, "libconfig groups are written `%.*s = { ... };`",
                 (int) h->name_len, h->name);
    } else if (pco_hint_one_token(v, n)) {
        bool quote = pco_hint_name_char(v[0], true)
                     && !(n == 4 && strncasecmp(v, "true", 4) == 0)
                     && !(n == 5 && strncasecmp(v, "false", 5) == 0);

        snprintf(h->hint, h->size, "libconfig settings are written `name = value;` (did you "
                 "mean `%.*s = %s%.*s%s;`?)", (int) h->name_len, h->name, quote ? "\"" : "",
                 n, v, quote ? "\"" : "");
    } else {
        snprintf(h->hint, h->size, "libconfig settings are written `name = value;`, a list of "
                 "values as `%.*s = [\"a\", \"b\"];`", (int) h->name_len, h->name);
    }
}

/* A token that starts a value at p (len bytes; word: a bare word) in the current state;
 * returns true when it is the error. */
static bool
pco_hint_value(pco_hint_t *h, const char *p, size_t len, bool word)
{
    char  top = pco_hint_top(h);

    if (h->state == PCO_HINT_NAME) {
        pco_hint_nginx(h, p);
        return true;
    }
    if (top == '{' && h->state == PCO_HINT_ASSIGN && word) {
        snprintf(h->hint, h->size, "strings are written in double quotes (did you mean "
                 "`%.*s = \"%.*s\";`?)", (int) h->name_len, h->name,
                 (int) pco_min(len, (size_t) PCO_CONF_HINT_SHOWN), p);
        return true;
    }
    if (word) {
        snprintf(h->hint, h->size, "`%.*s` is not a value: strings are written in double "
                 "quotes", (int) pco_min(len, (size_t) PCO_CONF_HINT_SHOWN), p);
        return true;
    }
    if (top != '{' && h->state == PCO_HINT_VALUE) {
        if (h->value_line != h->line) {
            snprintf(h->hint, h->size, "missing `,` at the end of line %d (the elements of "
                     "%s are separated by commas)", h->value_line,
                     top == '(' ? "a list" : "an array");
        } else {
            snprintf(h->hint, h->size, "missing `,` between two elements (the elements of "
                     "%s are separated by commas)", top == '(' ? "a list" : "an array");
        }
        return true;
    }
    if (top == '{' && h->state != PCO_HINT_ASSIGN) {
        snprintf(h->hint, h->size, "a value without a name: settings are written "
                 "`name = value;`");
        return true;
    }
    h->string = false;
    return false;
}

static bool
pco_hint_open(pco_hint_t *h, char c)
{
    if (pco_hint_value(h, h->p, 1, false)) {
        return true;
    }
    if (h->depth < PCO_HINT_DEPTH) {
        h->open[h->depth] = c;
        h->open_line[h->depth] = h->line;
    }
    h->depth++;
    h->state = PCO_HINT_START;
    return false;
}

static bool
pco_hint_close(pco_hint_t *h, char c)
{
    char  top;
    int   at;

    if (h->depth == 0) {
        snprintf(h->hint, h->size, "`%c` closes nothing: one `%c` too many, or one `%c` "
                 "missing before it", c, c, c == '}' ? '{' : c == ')' ? '(' : '[');
        return true;
    }
    top = pco_hint_top(h);
    at = h->depth <= PCO_HINT_DEPTH ? h->open_line[h->depth - 1] : 0;
    if (top != '?' && pco_hint_closer(top) != c) {
        snprintf(h->hint, h->size, "`%c` where the `%c` opened at line %d is still open: "
                 "missing `%c`", c, top, at, pco_hint_closer(top));
        return true;
    }
    if (h->state == PCO_HINT_NAME) {
        pco_hint_nginx(h, h->p);
        return true;
    }
    if (h->state == PCO_HINT_ASSIGN) {
        snprintf(h->hint, h->size, "`%.*s =` without a value", (int) h->name_len, h->name);
        return true;
    }
    h->depth--;
    h->state = PCO_HINT_VALUE;
    h->string = false;
    h->value_line = h->line;
    return false;
}

/* A `;` or `,`. */
static bool
pco_hint_sep(pco_hint_t *h, char c)
{
    char  top = pco_hint_top(h);
    int   at = (h->depth && h->depth <= PCO_HINT_DEPTH) ? h->open_line[h->depth - 1] : 0;

    if (h->state == PCO_HINT_NAME) {
        snprintf(h->hint, h->size, "`%.*s` without `= value`", (int) h->name_len, h->name);
        return true;
    }
    if (h->state == PCO_HINT_ASSIGN) {
        snprintf(h->hint, h->size, "`%.*s =` without a value", (int) h->name_len, h->name);
        return true;
    }
    if (top != '{' && c == ';') {
        snprintf(h->hint, h->size, "a `;` inside the %s opened at line %d: missing `%c` "
                 "before it?", top == '(' ? "list" : "array", at, pco_hint_closer(top));
        return true;
    }
    if (h->state == PCO_HINT_START) {
        snprintf(h->hint, h->size, "an extra `%c`", c);
        return true;
    }
    h->state = PCO_HINT_START;
    if (top != '{') {
        /* a `,` after the last element is an error in libconfig: look ahead for the closer */
        const char *q = h->p + 1;

        while (q < h->end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) {
            q++;
        }
        if (q < h->end && *q == pco_hint_closer(top)) {
            snprintf(h->hint, h->size, "a `,` after the last element of %s is not allowed",
                     top == '(' ? "a list" : "an array");
            return true;
        }
    }
    return false;
}

/* Skips a comment or a string at p; false when p starts neither. */
static bool
pco_hint_skip(pco_hint_t *h, int *str_line)
{
    const char  *p = h->p;

    if (*p == '#' || (*p == '/' && p + 1 < h->end && p[1] == '/')
        || (*p == '@' && (size_t) (h->end - p) >= 8 && memcmp(p, "@include", 8) == 0))
    {
        while (p < h->end && *p != '\n') {
            p++;
        }
    } else if (*p == '/' && p + 1 < h->end && p[1] == '*') {
        for (p += 2; p < h->end && !(*p == '*' && p + 1 < h->end && p[1] == '/'); p++) {
            h->line += (*p == '\n');
        }
        p = (h->end - p >= 2) ? p + 2 : h->end;
    } else if (*p == '"') {
        *str_line = h->line;
        for (p++; p < h->end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < h->end) {
                p++;
            }
            h->line += (*p == '\n');
        }
        if (p < h->end) {
            if (h->line != *str_line && h->multi_start == 0) {
                h->multi_start = *str_line;
                h->multi_end = h->line;
            }
            *str_line = 0;
            p++;
        }
    } else {
        return false;
    }
    h->p = p;
    return true;
}

/* One token at h->p; true when it is the error (hint written). */
static bool
pco_hint_token(pco_hint_t *h, int *str_line)
{
    const char  *p = h->p, *s;
    char         c = *p;

    if (c == '"') {
        s = p;
        (void) pco_hint_skip(h, str_line);
        if (*str_line != 0) {
            return false;               /* not closed: said at the end */
        }
        if (h->state == PCO_HINT_VALUE && h->string) {
            return false;               /* "a" "b": libconfig joins adjacent strings */
        }
        if (pco_hint_value(h, s, 1, false)) {
            return true;
        }
        h->string = true;
        h->state = PCO_HINT_VALUE;
        h->value_line = h->line;
        return false;
    }
    if (pco_hint_skip(h, str_line)) {
        return false;
    }
    if (pco_hint_name_char(c, true)) {
        for (s = p; p < h->end && pco_hint_name_char(*p, false); p++) {
            /* a word */
        }
        h->p = p;
        if ((p - s == 4 && strncasecmp(s, "true", 4) == 0)
            || (p - s == 5 && strncasecmp(s, "false", 5) == 0))
        {
            if (pco_hint_value(h, s, (size_t) (p - s), false)) {
                return true;
            }
            h->state = PCO_HINT_VALUE;
            h->value_line = h->line;
            return false;
        }
        if (pco_hint_top(h) == '{' && h->state != PCO_HINT_ASSIGN
            && h->state != PCO_HINT_NAME)
        {
            h->name = s;
            h->name_len = (size_t) (p - s);
            h->state = PCO_HINT_NAME;
            return false;
        }
        if (h->state == PCO_HINT_NAME) {
            h->p = s;
            pco_hint_nginx(h, s);
            return true;
        }
        return pco_hint_value(h, s, (size_t) (p - s), true);
    }
    if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
        for (s = p; p < h->end && (pco_hint_name_char(*p, false) || *p == '.' || *p == '+'
                                   || *p == '-'); p++)
        {
            /* a number: digits, hex, exponent, L */
        }
        h->p = s;
        if (pco_hint_value(h, s, (size_t) (p - s), false)) {
            return true;
        }
        h->p = p;
        h->state = PCO_HINT_VALUE;
        h->value_line = h->line;
        return false;
    }
    h->p = p + 1;
    switch (c) {
    case '=':
    case ':':
        if (h->state != PCO_HINT_NAME) {
            h->p = p;
            snprintf(h->hint, h->size, "`%c` without a setting name before it", c);
            return true;
        }
        h->state = PCO_HINT_ASSIGN;
        return false;
    case '{':
    case '(':
    case '[':
        h->p = p;
        if (pco_hint_open(h, c)) {
            return true;
        }
        h->p = p + 1;
        return false;
    case '}':
    case ')':
    case ']':
        h->p = p;
        if (pco_hint_close(h, c)) {
            return true;
        }
        h->p = p + 1;
        return false;
    case ';':
    case ',':
        h->p = p;
        if (pco_hint_sep(h, c)) {
            return true;
        }
        h->p = p + 1;
        return false;
    default:
        return false;                   /* a character libconfig rejects: nothing to add */
    }
}

/* Writes line `line` of text, trimmed and cut, into shown ("" past the last non-blank). */
static void
pco_hint_show(const char *text, size_t len, int line, char *shown, size_t size)
{
    const char  *p = text, *end = text + len, *e, *q;
    int          n = 1;
    size_t       l, i;

    shown[0] = '\0';
    while (n < line && p < end) {
        n += (*p++ == '\n');
    }
    for (q = p; q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'); q++) {
        /* blank to the end? */
    }
    if (n < line || q == end || size == 0) {
        return;
    }
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    for (e = p; e < end && *e != '\n'; e++) {
        /* the line */
    }
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        e--;
    }
    l = pco_min((size_t) (e - p), (size_t) PCO_CONF_HINT_SHOWN);
    l = pco_min(l, size - 1);
    for (i = 0; i < l; i++) {
        shown[i] = ((unsigned char) p[i] < 0x20) ? ' ' : p[i];
    }
    shown[l] = '\0';
    if ((size_t) (e - p) > l && l + 4 <= size) {
        memcpy(shown + l, "...", 4);
    }
}

void
pco_conf_syntax_hint(const char *text, size_t len, int line, char *shown, size_t shown_size,
                     char *hint, size_t hint_size)
{
    pco_hint_t  h;
    int         str_line = 0;

    pco_hint_show(text, len, line, shown, shown_size);
    if (hint_size == 0) {
        return;
    }
    hint[0] = '\0';
    memset(&h, 0, sizeof(h));
    h.p = text;
    h.end = text + len;
    h.line = 1;
    h.stop = line;
    h.hint = hint;
    h.size = hint_size;
    while (h.p < h.end && h.line <= h.stop) {
        if (*h.p == '\n') {
            h.line++;
            h.p++;
        } else if (*h.p == ' ' || *h.p == '\t' || *h.p == '\r') {
            h.p++;
        } else if (pco_hint_token(&h, &str_line)) {
            return;
        }
    }
    if (h.p < h.end || shown[0] != '\0') {
        return;                         /* the error is on a line that looks right */
    }
    if (str_line != 0 && h.multi_start != 0) {
        /* "a;\nb = "c"; the string that swallowed the newline is the one to fix */
        snprintf(hint, hint_size, "a `\"` is probably missing on line %d (the string opened "
                 "there ends on line %d)", h.multi_start, h.multi_end);
    } else if (str_line != 0) {
        snprintf(hint, hint_size, "the string opened at line %d is not closed (missing `\"`)",
                 str_line);
    } else if (h.depth > 0 && h.depth <= PCO_HINT_DEPTH) {
        snprintf(hint, hint_size, "missing `%c`: the `%c` opened at line %d is not closed",
                 pco_hint_closer(h.open[h.depth - 1]), h.open[h.depth - 1],
                 h.open_line[h.depth - 1]);
    } else if (h.state == PCO_HINT_NAME) {
        snprintf(hint, hint_size, "`%.*s` without `= value`", (int) h.name_len, h.name);
    } else if (h.state == PCO_HINT_ASSIGN) {
        snprintf(hint, hint_size, "`%.*s =` without a value", (int) h.name_len, h.name);
    }
}
