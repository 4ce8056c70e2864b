/*
 * pco_auth_basic_htpasswd.c: the htpasswd parser (all problems reported at once, with line
 * numbers), the classification of password hashes, the user lookup (binary search over the
 * sorted entries), the strict base64 decoder, the Authorization header decoder and the
 * WWW-Authenticate challenge builder. Pure functions: no I/O, no logging, no global state;
 * used by pco_auth_basic.c at load time and per request, and by t/unit/test_auth_basic.c.
 */
#include "pco_auth_basic.h"
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <crypt.h>

static const char pco_auth_basic_itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ---- base64 ---- */

static int
pco_auth_basic_b64_value(u_char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == '+') {
        return 62;
    }
    if (ch == '/') {
        return 63;
    }
    return -1;
}

ssize_t
pco_auth_basic_base64_decode(const u_char *in, size_t len, u_char *out, size_t size)
{
    size_t  i, o = 0, pad = 0;

    if (len % 4 != 0) {
        return -1;
    }
    if (len > 0 && in[len - 1] == '=') {
        pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
    }
    if ((len / 4) * 3 - pad > size) {
        return -1;
    }
    for (i = 0; i < len; i += 4) {
        int       v[4], k;
        uint32_t  n;
        bool      last = (i + 4 == len);

        for (k = 0; k < 4; k++) {
            if (last && k >= 4 - (int) pad) {
                v[k] = 0;
                continue;
            }
            v[k] = pco_auth_basic_b64_value(in[i + (size_t) k]);
            if (v[k] < 0) {
                return -1;     /* includes a '=' anywhere but at the end */
            }
        }
        n = ((uint32_t) v[0] << 18) | ((uint32_t) v[1] << 12) | ((uint32_t) v[2] << 6)
            | (uint32_t) v[3];
        out[o++] = (u_char) (n >> 16);
        if (!last || pad < 2) {
            out[o++] = (u_char) (n >> 8);
        }
        if (!last || pad < 1) {
            out[o++] = (u_char) n;
        }
    }
    return (ssize_t) o;
}

/* ---- hash formats ---- */

static bool
pco_auth_basic_crypt_chars(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] != '$' && strchr(pco_auth_basic_itoa64, s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

/* "$apr1$salt$hash22" / "$1$salt$hash22": salt of 0..8 characters without '$'. */
static bool
pco_auth_basic_md5_valid(const char *hash, size_t len, size_t magic)
{
    const char  *salt = hash + magic, *d;
    size_t       slen;

    d = memchr(salt, '$', len - magic);
    if (d == NULL) {
        return false;
    }
    slen = (size_t) (d - salt);
    if (slen > 8 || len - magic - slen - 1 != 22) {
        return false;
    }
    return pco_auth_basic_crypt_chars(salt, slen) && pco_auth_basic_crypt_chars(d + 1, 22)
           && memchr(d + 1, '$', 22) == NULL;
}

/* The length of "$5$rounds=N$" / "$6$rounds=N$" (1 to 9 digits) at the start of a hash of
 * prefix length pl, or 0. */
static size_t
pco_auth_basic_rounds(const char *hash, size_t len, size_t pl)
{
    size_t  i = pl + 7;

    if (pl != 3 || (hash[1] != '5' && hash[1] != '6') || len < i
        || memcmp(hash + pl, "rounds=", 7) != 0)
    {
        return 0;
    }
    while (i < len && i < pl + 7 + 9 && hash[i] >= '0' && hash[i] <= '9') {
        i++;
    }
    return i > pl + 7 && i < len && hash[i] == '$' ? i + 1 : 0;
}

int
pco_auth_basic_hash_kind(const char *hash, size_t len, const char **err)
{
    static const char *const  crypts[] = { "$2a$", "$2b$", "$2y$", "$5$", "$6$", "$y$",
                                           "$gy$", "$7$" };
    u_char                    digest[32];
    size_t                    i, skip;

    if (len == 0) {
        *err = "empty password hash";
        return 0;
    }
    if (len > PCO_AUTH_BASIC_MAX_HASH) {
        *err = "password hash too long";
        return 0;
    }
    if (len >= 5 && memcmp(hash, "{SHA}", 5) == 0) {
        if (len != 5 + 28
            || pco_auth_basic_base64_decode((const u_char *) hash + 5, 28, digest,
                                            sizeof(digest)) != 20)
        {
            *err = "malformed {SHA} hash (base64 of a 20-byte SHA-1 digest expected)";
            return 0;
        }
        return PCO_AUTH_BASIC_SHA;
    }
    if (len >= 6 && memcmp(hash, "$apr1$", 6) == 0) {
        if (!pco_auth_basic_md5_valid(hash, len, 6)) {
            *err = "malformed $apr1$ hash";
            return 0;
        }
        return PCO_AUTH_BASIC_MD5;
    }
    if (len >= 3 && memcmp(hash, "$1$", 3) == 0) {
        if (!pco_auth_basic_md5_valid(hash, len, 3)) {
            *err = "malformed $1$ hash";
            return 0;
        }
        return PCO_AUTH_BASIC_MD5;
    }
    for (i = 0; i < pco_nelems(crypts); i++) {
        size_t  pl = strlen(crypts[i]);

        if (len < pl || memcmp(hash, crypts[i], pl) != 0) {
            continue;
        }
        /* SHA-crypt's "rounds=N$" (mkpasswd -R) is the only place where '=' may stand */
        skip = pco_auth_basic_rounds(hash, len, pl);
        if (len < pl + 8 || !pco_auth_basic_crypt_chars(hash + skip, len - skip)) {
            *err = "malformed crypt(3) hash";
            return 0;
        }
#ifdef CRYPT_CHECKSALT_AVAILABLE
        switch (crypt_checksalt(hash)) {
        case CRYPT_SALT_OK:
        case CRYPT_SALT_METHOD_LEGACY:
        case CRYPT_SALT_TOO_CHEAP:
            break;
        case CRYPT_SALT_METHOD_DISABLED:
            *err = "hash method not supported by this libcrypt";
            return 0;
        default:
            *err = "malformed crypt(3) hash";
            return 0;
        }
#endif
        return PCO_AUTH_BASIC_CRYPT;
    }
    *err = "unknown password hash format (plain-text passwords are not accepted; use "
           "bcrypt, $apr1$, $5$/$6$ or {SHA})";
    return 0;
}

/* ---- the file ---- */

static int
pco_auth_basic_user_cmp(const void *a, const void *b)
{
    const pco_auth_basic_user_t  *x = a, *y = b;
    size_t                        n = pco_min(x->user.len, y->user.len);
    int                           c = memcmp(x->user.data, y->user.data, n);

    if (c != 0) {
        return c;
    }
    if (x->user.len != y->user.len) {
        return x->user.len < y->user.len ? -1 : 1;
    }
    return x->line < y->line ? -1 : (x->line > y->line ? 1 : 0);
}

static void
pco_auth_basic_report(pco_auth_basic_report_pt report, void *data, unsigned line,
                      bool warning, const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;

    if (report == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    report(data, line, warning, msg);
}

/* Parses one non-comment line [p, e); on success fills u (strings point into the copy,
 * the hash is NUL-terminated in place). Returns PCO_OK or PCO_ERROR after reporting. */
static int
pco_auth_basic_parse_line(u_char *p, u_char *e, unsigned line, pco_auth_basic_user_t *u,
                          pco_auth_basic_report_pt report, void *data)
{
    u_char      *colon, *h, *he, *q;
    const char  *err = NULL;

    if (memchr(p, '\0', (size_t) (e - p)) != NULL) {
        pco_auth_basic_report(report, data, line, false, "NUL byte in the line");
        return PCO_ERROR;
    }
    colon = memchr(p, ':', (size_t) (e - p));
    if (colon == NULL) {
        pco_auth_basic_report(report, data, line, false,
                              "malformed line: no \":\" between the user name and the hash");
        return PCO_ERROR;
    }
    if (colon == p) {
        pco_auth_basic_report(report, data, line, false, "empty user name");
        return PCO_ERROR;
    }
    if ((size_t) (colon - p) > PCO_AUTH_BASIC_MAX_USER) {
        pco_auth_basic_report(report, data, line, false, "user name longer than %d bytes",
                              PCO_AUTH_BASIC_MAX_USER);
        return PCO_ERROR;
    }
    for (q = p; q < colon; q++) {
        if (*q < 0x20 || *q == 0x7f) {
            pco_auth_basic_report(report, data, line, false,
                                  "control character in the user name");
            return PCO_ERROR;
        }
    }
    h = colon + 1;
    he = memchr(h, ':', (size_t) (e - h));     /* "user:hash:comment" */
    if (he == NULL) {
        he = e;
    }
    *he = '\0';
    u->kind = pco_auth_basic_hash_kind((const char *) h, (size_t) (he - h), &err);
    if (u->kind == 0) {
        /* never print the hash: it may be a plain-text password */
        pco_auth_basic_report(report, data, line, false, "user \"%.*s\": %s",
                              (int) (colon - p), (const char *) p, err);
        return PCO_ERROR;
    }
    u->user.data = p;
    u->user.len = (size_t) (colon - p);
    u->hash.data = h;
    u->hash.len = (size_t) (he - h);
    u->line = line;
    return PCO_OK;
}

int
pco_auth_basic_parse(pco_pool_t *pool, const u_char *text, size_t len,
                     pco_auth_basic_file_t *f, pco_auth_basic_report_pt report, void *data)
{
    u_char    *copy, *p, *e, *end, *s;
    size_t     lines = 1, i, n = 0;
    unsigned   line = 0, sha_line = 0;
    int        rc = PCO_OK;

    for (i = 0; i < len; i++) {
        lines += (text[i] == '\n');
    }
    copy = pco_pnalloc(pool, len + 1);
    f->users = pco_palloc(pool, sizeof(pco_auth_basic_user_t) * lines);
    f->nusers = 0;
    if (copy == NULL || f->users == NULL) {
        return PCO_ERROR;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    end = copy + len;

    for (p = copy; p < end; p = e + 1) {
        e = memchr(p, '\n', (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }
        line++;
        /* trailing blanks and CR */
        s = e;
        while (s > p && (s[-1] == ' ' || s[-1] == '\t' || s[-1] == '\r')) {
            s--;
        }
        *s = '\0';
        for (i = 0; p + i < s && (p[i] == ' ' || p[i] == '\t'); i++) {
            /* leading blanks, only to recognise comments and blank lines */
        }
        if (p + i == s || p[i] == '#') {
            continue;
        }
        if (pco_auth_basic_parse_line(p, s, line, &f->users[n], report, data) != PCO_OK) {
            rc = PCO_ERROR;
            continue;
        }
        if (f->users[n].kind == PCO_AUTH_BASIC_SHA && sha_line == 0) {
            sha_line = line;
        }
        n++;
    }
    f->nusers = n;
    if (sha_line != 0) {
        pco_auth_basic_report(report, data, sha_line, true,
                              "{SHA} hashes are unsalted SHA-1 and easy to crack: prefer "
                              "bcrypt (htpasswd -B)");
    }
    qsort(f->users, n, sizeof(pco_auth_basic_user_t), pco_auth_basic_user_cmp);
    for (i = 1; i < n; i++) {
        if (f->users[i].user.len == f->users[i - 1].user.len
            && memcmp(f->users[i].user.data, f->users[i - 1].user.data,
                      f->users[i].user.len) == 0)
        {
            pco_auth_basic_report(report, data, f->users[i].line, true,
                                  "user \"%.*s\" is listed again (the entry of line %u is "
                                  "used)", (int) f->users[i].user.len,
                                  (const char *) f->users[i].user.data, f->users[i - 1].line);
        }
    }
    return rc;
}

const pco_auth_basic_user_t *
pco_auth_basic_find(const pco_auth_basic_file_t *f, const u_char *user, size_t len)
{
    size_t  lo = 0, hi = f->nusers;

    /* the first entry whose name is >= user */
    while (lo < hi) {
        size_t                        mid = lo + (hi - lo) / 2;
        const pco_auth_basic_user_t  *u = &f->users[mid];
        size_t                        n = pco_min(u->user.len, len);
        int                           c = memcmp(u->user.data, user, n);

        if (c == 0 && u->user.len != len) {
            c = u->user.len < len ? -1 : 1;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < f->nusers && f->users[lo].user.len == len
        && memcmp(f->users[lo].user.data, user, len) == 0)
    {
        return &f->users[lo];
    }
    return NULL;
}

/* ---- the request side ---- */

int
pco_auth_basic_decode(const u_char *value, size_t len, u_char *buf, size_t size,
                      pco_str_t *user, pco_str_t *password)
{
    const u_char  *p = value, *end = value + len, *colon;
    ssize_t        n;

    if (len < 6 || strncasecmp((const char *) p, "Basic", 5) != 0
        || (p[5] != ' ' && p[5] != '\t'))
    {
        return PCO_DECLINED;
    }
    p += 5;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if ((size_t) (end - p) > PCO_AUTH_BASIC_MAX_CREDENTIALS) {
        return PCO_ERROR;
    }
    n = pco_auth_basic_base64_decode(p, (size_t) (end - p), buf, size);
    if (n <= 0) {
        return PCO_DECLINED;
    }
    colon = memchr(buf, ':', (size_t) n);
    if (colon == NULL || colon == buf) {
        return PCO_DECLINED;
    }
    user->data = buf;
    user->len = (size_t) (colon - buf);
    password->data = (u_char *) colon + 1;
    password->len = (size_t) n - user->len - 1;
    return PCO_OK;
}

size_t
pco_auth_basic_challenge(u_char *out, const u_char *realm, size_t len)
{
    u_char  *p = out;
    size_t   i;

    memcpy(p, "Basic realm=\"", 13);
    p += 13;
    for (i = 0; i < len; i++) {
        if (realm[i] == '"' || realm[i] == '\\') {
            *p++ = '\\';
        }
        *p++ = realm[i];
    }
    *p++ = '"';
    return (size_t) (p - out);
}
