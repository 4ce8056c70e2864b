/*
 * pco_cache_key.c: cache keys, Vary variants and entry paths (see pco_cache_key.h).
 * SHA-256 rather than nginx's MD5: keys include client-chosen text (the URI), and a
 * truncated SHA-256 leaves no practical collision to craft; the entry still stores the
 * full key text, which the reader compares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include "pco_cache_key.h"
#include "pco_string.h"

/* Where normalised bytes go: a digest, or a buffer. */
typedef struct {
    EVP_MD_CTX  *md;
    u_char      *out;
    size_t       len;
    bool         failed;
    bool         started;       /* an element was written: the next one needs a comma */
} pco_cache_sink_t;

static void pco_cache_emit(pco_cache_sink_t *s, const void *p, size_t n);

/* Emits p[0..n) lowercased (request header values a response varies on compare without
 * case: "EN" and "en" are one variant). */
static void
pco_cache_emit_lower(pco_cache_sink_t *s, const u_char *p, size_t n)
{
    u_char  buf[256];
    size_t  k, i;

    while (n > 0) {
        k = pco_min(n, sizeof(buf));
        for (i = 0; i < k; i++) {
            buf[i] = pco_ascii_lower(p[i]);
        }
        pco_cache_emit(s, buf, k);
        p += k;
        n -= k;
    }
}

static void
pco_cache_emit(pco_cache_sink_t *s, const void *p, size_t n)
{
    if (n == 0) {
        return;
    }
    if (s->md != NULL) {
        if (EVP_DigestUpdate(s->md, p, n) != 1) {
            s->failed = true;
        }
        return;
    }
    memcpy(s->out + s->len, p, n);
    s->len += n;
}

static bool
pco_cache_ws(u_char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Emits the elements of one value (see pco_cache_vary_normalize); several lines of one
 * header feed the same sink, so they read as one comma-joined value. */
static void
pco_cache_normalize_into(pco_cache_sink_t *s, const u_char *p, size_t len)
{
    const u_char  *e = p + len, *el, *ee, *w;

    while (p < e) {
        el = p;
        while (p < e && *p != ',') {
            p++;
        }
        ee = p;
        if (p < e) {
            p++;        /* the comma */
        }
        while (el < ee && pco_cache_ws(*el)) {
            el++;
        }
        while (ee > el && pco_cache_ws(ee[-1])) {
            ee--;
        }
        if (el == ee) {
            continue;   /* empty element */
        }
        if (s->started) {
            pco_cache_emit(s, ",", 1);
        }
        s->started = true;
        while (el < ee) {
            w = el;
            while (el < ee && !pco_cache_ws(*el)) {
                el++;
            }
            pco_cache_emit_lower(s, w, (size_t) (el - w));
            if (el < ee) {
                pco_cache_emit(s, " ", 1);
                while (el < ee && pco_cache_ws(*el)) {
                    el++;
                }
            }
        }
    }
}

size_t
pco_cache_vary_normalize(u_char *out, const u_char *p, size_t len)
{
    pco_cache_sink_t  s = { .out = out };

    pco_cache_normalize_into(&s, p, len);
    return s.len;
}

int
pco_cache_key_hash(pco_cache_key_t *key, const pco_str_t *text)
{
    return pco_cache_key_variant(key, text, NULL, NULL, 0);
}

/* Feeds "name" then, per header of that name, its normalised value; "\0" when absent. */
static void
pco_cache_variant_header(pco_cache_sink_t *s, const u_char *name, size_t len,
                         const pco_cache_header_t *headers, size_t n)
{
    size_t  i;
    bool    found = false;

    pco_cache_emit(s, "\n", 1);
    pco_cache_emit(s, name, len);
    s->started = false;
    for (i = 0; i < n; i++) {
        if (headers[i].name.len == len && pco_mem_caseeq(headers[i].name.data, name, len)) {
            if (!found) {
                pco_cache_emit(s, ":", 1);
                found = true;
            }
            pco_cache_normalize_into(s, headers[i].value.data, headers[i].value.len);
        }
    }
    if (!found) {
        pco_cache_emit(s, "", 1);       /* the NUL byte: absent */
    }
}

/*
 * The digest and its context, made once per process and reused: every request of a cached
 * route hashes its key, and OpenSSL 3's implicit fetch (EVP_sha256() in an init) and a
 * context allocation each time cost more than the hash of a short key. A process has one
 * thread, and no call here is re-entered.
 */
static EVP_MD      *pco_cache_sha256;
static EVP_MD_CTX  *pco_cache_md_ctx;

static EVP_MD_CTX *
pco_cache_digest_start(void)
{
    if (pco_cache_sha256 == NULL) {
        pco_cache_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (pco_cache_sha256 == NULL) {
            return NULL;
        }
    }
    if (pco_cache_md_ctx == NULL) {
        pco_cache_md_ctx = EVP_MD_CTX_new();
        if (pco_cache_md_ctx == NULL) {
            return NULL;
        }
    }
    if (EVP_DigestInit_ex2(pco_cache_md_ctx, pco_cache_sha256, NULL) != 1) {
        return NULL;
    }
    return pco_cache_md_ctx;
}

int
pco_cache_key_variant(pco_cache_key_t *key, const pco_str_t *text, const pco_str_t *vary_names,
                      const pco_cache_header_t *headers, size_t n)
{
    pco_cache_sink_t  s = { 0 };
    u_char            md[EVP_MAX_MD_SIZE];
    unsigned          mdlen = 0;
    const u_char     *p, *e, *w;
    int               rc = PCO_ERROR;

    s.md = pco_cache_digest_start();
    if (s.md == NULL) {
        return PCO_ERROR;
    }
    pco_cache_emit(&s, text->data, text->len);
    if (vary_names != NULL && vary_names->len > 0) {
        /* the NUL cannot occur in a key string: it separates the key from the variant */
        pco_cache_emit(&s, "", 1);
        p = vary_names->data;
        e = p + vary_names->len;
        while (p < e) {
            w = p;
            while (p < e && *p != ',') {
                p++;
            }
            pco_cache_variant_header(&s, w, (size_t) (p - w), headers, n);
            if (p < e) {
                p++;
            }
        }
    }
    if (!s.failed && EVP_DigestFinal_ex(s.md, md, &mdlen) == 1 && mdlen >= PCO_CACHE_KEY_LEN) {
        memcpy(key->md, md, PCO_CACHE_KEY_LEN);
        rc = PCO_OK;
    }
    return rc;
}

/* One name of a Vary list, lowercased. */
typedef struct {
    u_char   name[64];
    size_t   len;
} pco_cache_vname_t;

static int
pco_cache_vname_cmp(const void *a, const void *b)
{
    const pco_cache_vname_t  *x = a, *y = b;
    int                       c = memcmp(x->name, y->name, pco_min(x->len, y->len));

    if (c != 0) {
        return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

ssize_t
pco_cache_vary_names(u_char *out, size_t size, const pco_str_t *values, size_t n)
{
    pco_cache_vname_t   names[32];
    size_t              count = 0, i, j, len;
    const u_char       *p, *e, *w, *we;

    for (i = 0; i < n; i++) {
        p = values[i].data;
        e = p + values[i].len;
        while (p < e) {
            w = p;
            while (p < e && *p != ',') {
                p++;
            }
            we = p;
            if (p < e) {
                p++;
            }
            while (w < we && pco_cache_ws(*w)) {
                w++;
            }
            while (we > w && pco_cache_ws(we[-1])) {
                we--;
            }
            len = (size_t) (we - w);
            if (len == 0) {
                continue;
            }
            if (!pco_str_is_token(w, len) || (len == 1 && *w == '*')
                || len > sizeof(names[0].name) || count == pco_nelems(names))
            {
                return -1;
            }
            for (j = 0; j < len; j++) {
                names[count].name[j] = pco_ascii_lower(w[j]);
            }
            names[count++].len = len;
        }
    }

    qsort(names, count, sizeof(names[0]), pco_cache_vname_cmp);
    len = 0;
    for (i = 0; i < count; i++) {
        if (i > 0 && pco_cache_vname_cmp(&names[i - 1], &names[i]) == 0) {
            continue;
        }
        if (len + (len > 0) + names[i].len > size) {
            return -1;
        }
        if (len > 0) {
            out[len++] = ',';
        }
        memcpy(out + len, names[i].name, names[i].len);
        len += names[i].len;
    }
    return (ssize_t) len;
}

void
pco_cache_key_hex(u_char *out, const pco_cache_key_t *key)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < PCO_CACHE_KEY_LEN; i++) {
        out[2 * i] = (u_char) hex[key->md[i] >> 4];
        out[2 * i + 1] = (u_char) hex[key->md[i] & 0x0f];
    }
}

static int
pco_cache_hexval(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = pco_ascii_lower(ch);
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

bool
pco_cache_key_from_hex(pco_cache_key_t *key, const u_char *p, size_t len)
{
    size_t  i;
    int     hi, lo;

    if (len != PCO_CACHE_KEY_HEX) {
        return false;
    }
    for (i = 0; i < PCO_CACHE_KEY_LEN; i++) {
        hi = pco_cache_hexval(p[2 * i]);
        lo = pco_cache_hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        key->md[i] = (u_char) (hi << 4 | lo);
    }
    return true;
}

bool
pco_cache_levels_valid(const unsigned *levels, size_t n)
{
    size_t  i;

    if (n == 0 || n > PCO_CACHE_LEVELS_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (levels[i] != 1 && levels[i] != 2) {
            return false;
        }
    }
    return true;
}

ssize_t
pco_cache_key_path(char *out, size_t size, const pco_str_t *dir, const unsigned *levels,
                   size_t n, const pco_cache_key_t *key)
{
    u_char  hex[PCO_CACHE_KEY_HEX];
    size_t  dlen, len, i, end;

    if (!pco_cache_levels_valid(levels, n)) {
        return -1;
    }
    dlen = dir->len;
    while (dlen > 1 && dir->data[dlen - 1] == '/') {
        dlen--;
    }
    len = dlen + 1 + PCO_CACHE_KEY_HEX;
    for (i = 0; i < n; i++) {
        len += levels[i] + 1;
    }
    if (dlen == 0 || len + 1 > size) {
        return -1;
    }
    pco_cache_key_hex(hex, key);

    memcpy(out, dir->data, dlen);
    len = dlen;
    if (out[len - 1] != '/') {
        out[len++] = '/';
    }
    /* each level takes the next digits from the end of the name, as nginx does */
    end = PCO_CACHE_KEY_HEX;
    for (i = 0; i < n; i++) {
        end -= levels[i];
        memcpy(out + len, hex + end, levels[i]);
        len += levels[i];
        out[len++] = '/';
    }
    memcpy(out + len, hex, PCO_CACHE_KEY_HEX);
    len += PCO_CACHE_KEY_HEX;
    out[len] = '\0';
    return (ssize_t) len;
}
