/*
 * pco_access_log_escape.c: value escaping for access-log lines. Text formats (combined and
 * named formats) escape '"', '\\', control bytes and bytes from 0x7f as \xHH (docs/http.md);
 * JSON lines use JSON string escapes and keep valid UTF-8. Pure functions: no state, no
 * allocation, no system calls.
 */
#include "pco_access_log.h"

static const u_char pco_access_log_hex[] = "0123456789abcdef";

size_t
pco_access_log_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char  *p = dst;
    size_t   i;

    for (i = 0; i < len; i++) {
        u_char ch = src[i];

        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = pco_access_log_hex[ch >> 4];
            *p++ = pco_access_log_hex[ch & 0x0f];
        } else {
            *p++ = ch;
        }
    }
    return (size_t) (p - dst);
}

/* Length of the valid UTF-8 sequence starting at s[0..len), or 0 when it is invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t
pco_access_log_utf8_len(const u_char *s, size_t len)
{
    u_char    c = s[0];
    size_t    n, i;
    uint32_t  cp;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
    {
        return 0;
    }
    return n;
}

size_t
pco_access_log_json_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char  *p = dst;
    size_t   i, n;

    for (i = 0; i < len; /* void */) {
        u_char ch = src[i];

        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            *p++ = ch;
            i++;
            continue;
        }
        if (ch >= 0x80) {
            n = pco_access_log_utf8_len(src + i, len - i);
            if (n > 0) {
                memcpy(p, src + i, n);
                p += n;
                i += n;
                continue;
            }
        }
        *p++ = '\\';
        switch (ch) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = pco_access_log_hex[ch >> 4];
            *p++ = pco_access_log_hex[ch & 0x0f];
            break;
        }
        i++;
    }
    return (size_t) (p - dst);
}

bool
pco_access_log_is_number(const u_char *s, size_t len)
{
    size_t  i = 0, digits = 0;

    if (len > 0 && s[0] == '-') {
        i = 1;
    }
    for (/* void */; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        digits++;
    }
    if (digits == 0 || (digits > 1 && s[i - digits] == '0')) {
        return false;
    }
    if (i < len && s[i] == '.') {
        size_t frac = 0;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac++;
        }
        if (frac == 0) {
            return false;
        }
    }
    return i == len;
}

size_t
pco_access_log_json_list(u_char *dst, const u_char *src, size_t len)
{
    const u_char  *p = src, *end = src + len, *sep;
    u_char        *q = dst;
    size_t         n;

    *q++ = '[';
    while (p <= end) {
        sep = NULL;
        for (n = 0; p + n + 1 < end; n++) {
            if (p[n] == ',' && p[n + 1] == ' ') {
                sep = p + n;
                break;
            }
        }
        n = sep != NULL ? (size_t) (sep - p) : (size_t) (end - p);
        if (q > dst + 1) {
            *q++ = ',';
        }
        if (n == 1 && p[0] == '-') {
            memcpy(q, "null", 4);
            q += 4;
        } else if (pco_access_log_is_number(p, n)) {
            memcpy(q, p, n);
            q += n;
        } else {
            *q++ = '"';
            q += pco_access_log_json_escape(q, p, n);
            *q++ = '"';
        }
        if (sep == NULL) {
            break;
        }
        p = sep + 2;
    }
    *q++ = ']';
    return (size_t) (q - dst);
}

static bool
pco_access_log_key_char(u_char ch, bool key)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
           || ch == '_' || (key && (ch == '-' || ch == '.'));
}

const char *
pco_access_log_field_parse(const u_char *s, size_t len, pco_str_t *key, pco_str_t *var)
{
    const u_char  *eq = memchr(s, '=', len);
    size_t         i;

    if (eq != NULL) {
        key->data = (u_char *) s;
        key->len = (size_t) (eq - s);
        var->data = (u_char *) eq + 1;
        var->len = len - key->len - 1;
    } else {
        var->data = (u_char *) s;
        var->len = len;
    }
    if (var->len > 0 && var->data[0] == '$') {
        var->data++;
        var->len--;
    }
    if (eq == NULL) {
        *key = *var;
    }
    if (var->len == 0) {
        return "no variable name";
    }
    for (i = 0; i < var->len; i++) {
        if (!pco_access_log_key_char(var->data[i], false)) {
            return "a variable name is letters, digits and \"_\"";
        }
    }
    if (key->len == 0 || key->len > PCO_ACCESS_LOG_KEY_MAX) {
        return "a key is 1 to 64 characters";
    }
    for (i = 0; i < key->len; i++) {
        if (!pco_access_log_key_char(key->data[i], true)) {
            return "a key is letters, digits, \"_\", \"-\" and \".\"";
        }
    }
    return NULL;
}
