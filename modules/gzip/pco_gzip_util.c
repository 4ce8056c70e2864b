/*
 * pco_gzip_util.c: Accept-Encoding, Content-Type and Vary matching for the gzip module
 * (see pco_gzip.h). Pure functions over the header values as received.
 */
#include "pco_gzip.h"
#include "pco_string.h"

static bool
pco_gzip_blank(u_char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks on both sides of [*p, *e). */
static void
pco_gzip_trim(const u_char **p, const u_char **e)
{
    while (*p < *e && pco_gzip_blank(**p)) {
        (*p)++;
    }
    while (*e > *p && pco_gzip_blank((*e)[-1])) {
        (*e)--;
    }
}

/* A qvalue (RFC 9110 12.4.2: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]) is above zero;
 * anything malformed counts as zero. */
static bool
pco_gzip_q_positive(const u_char *p, const u_char *e)
{
    bool  nonzero = false;
    int   digits = 0;

    if (p == e || (*p != '0' && *p != '1')) {
        return false;
    }
    nonzero = *p == '1';
    p++;
    if (p == e) {
        return nonzero;
    }
    if (*p++ != '.') {
        return false;
    }
    for (; p < e; p++, digits++) {
        if (*p < '0' || *p > '9' || digits == 3) {
            return false;
        }
        nonzero = nonzero || *p != '0';
    }
    return nonzero;
}

/* The q of the parameters in [p, e) (";q=0.5;x=y"): positive when there is no q. */
static bool
pco_gzip_params_positive(const u_char *p, const u_char *e)
{
    const u_char  *s, *pe, *next;

    while (p < e) {
        p++;                                     /* the ';' */
        next = memchr(p, ';', (size_t) (e - p));
        next = next != NULL ? next : e;
        s = p;
        pe = next;
        pco_gzip_trim(&s, &pe);
        if (pe - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            return pco_gzip_q_positive(s + 2, pe);
        }
        p = next;
    }
    return true;
}

bool
pco_gzip_accepts(const u_char *v, size_t len)
{
    const u_char  *p = v, *end = v + len, *e, *semi, *ne, *name;
    int            gzip = -1, star = -1;       /* -1 not listed, 0 refused, 1 accepted */

    while (p < end) {
        e = memchr(p, ',', (size_t) (end - p));
        e = e != NULL ? e : end;
        semi = memchr(p, ';', (size_t) (e - p));
        semi = semi != NULL ? semi : e;
        name = p;
        ne = semi;
        pco_gzip_trim(&name, &ne);
        if ((ne - name == 4 && pco_mem_caseeq(name, (const u_char *) "gzip", 4))
            || (ne - name == 6 && pco_mem_caseeq(name, (const u_char *) "x-gzip", 6)))
        {
            /* listed twice: a refusal wins */
            gzip = (gzip != 0 && pco_gzip_params_positive(semi, e)) ? 1 : 0;
        } else if (ne - name == 1 && *name == '*') {
            star = (star != 0 && pco_gzip_params_positive(semi, e)) ? 1 : 0;
        }
        p = e < end ? e + 1 : end;
    }
    return gzip >= 0 ? gzip == 1 : star == 1;
}

bool
pco_gzip_type_match(const pco_str_t *types, size_t n, const pco_str_t *ct)
{
    const u_char  *p = ct->data, *e = ct->data + ct->len, *semi;
    size_t         i;

    semi = ct->len ? memchr(p, ';', ct->len) : NULL;
    if (semi != NULL) {
        e = semi;
    }
    pco_gzip_trim(&p, &e);
    for (i = 0; i < n; i++) {
        if (types[i].len == 1 && types[i].data[0] == '*') {
            return true;
        }
        if (p < e && types[i].len == (size_t) (e - p)
            && pco_mem_caseeq(types[i].data, p, types[i].len))
        {
            return true;
        }
    }
    return false;
}

bool
pco_gzip_vary_covers(const u_char *v, size_t len)
{
    const u_char  *p = v, *end = v + len, *comma, *e, *s;

    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        e = comma != NULL ? comma : end;
        s = p;
        pco_gzip_trim(&s, &e);
        if ((e - s == 1 && *s == '*')
            || (e - s == 15 && pco_mem_caseeq(s, (const u_char *) "accept-encoding", 15)))
        {
            return true;
        }
        p = comma != NULL ? comma + 1 : end;
    }
    return false;
}
