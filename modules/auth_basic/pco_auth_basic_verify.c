/*
 * pco_auth_basic_verify.c: password verification for auth_basic: {SHA} (OpenSSL SHA-1 and
 * base64), MD5-crypt ($apr1$ and $1$, the FreeBSD/Apache algorithm computed on OpenSSL's
 * MD5 fetched once per process), the crypt(3) formats through libcrypt's crypt_rn with one
 * crypt_data per process, the dummy entry that unknown users are checked against, the
 * authentication step shared by known and unknown users, and the small cache of successful
 * verifications keyed by SHA-256. All results are compared in constant time (CRYPTO_memcmp).
 * Per-process state: the MD5 method, the crypt_data scratch area (workers are
 * single-threaded) and the verification counter.
 */
#include "pco_auth_basic.h"
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

uint64_t                   pco_auth_basic_nverify;

static EVP_MD             *pco_auth_basic_md5;
static struct crypt_data   pco_auth_basic_crypt_data;

static const char pco_auth_basic_itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static char *
pco_auth_basic_to64(char *s, uint32_t v, int n)
{
    while (n-- > 0) {
        *s++ = pco_auth_basic_itoa64[v & 0x3f];
        v >>= 6;
    }
    return s;
}

static bool
pco_auth_basic_md5_digest(EVP_MD_CTX *ctx, const void *a, size_t al, const void *b, size_t bl,
                          const void *c, size_t cl, u_char out[16])
{
    unsigned  n = 0;

    return EVP_DigestInit_ex(ctx, pco_auth_basic_md5, NULL) == 1
           && EVP_DigestUpdate(ctx, a, al) == 1 && EVP_DigestUpdate(ctx, b, bl) == 1
           && EVP_DigestUpdate(ctx, c, cl) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1
           && n == 16;
}

/* The initial MD5-crypt digest: MD5(pw magic salt, alternate bytes, length bits). */
static bool
pco_auth_basic_md5_initial(EVP_MD_CTX *ctx, const u_char *pw, size_t len, const char *magic,
                           size_t mlen, const char *salt, size_t slen, u_char fin[16])
{
    u_char    alt[16];
    unsigned  n = 0;
    size_t    i;
    ssize_t   pl;

    if (!pco_auth_basic_md5_digest(ctx, pw, len, salt, slen, pw, len, alt)) {
        return false;
    }
    if (EVP_DigestInit_ex(ctx, pco_auth_basic_md5, NULL) != 1
        || EVP_DigestUpdate(ctx, pw, len) != 1 || EVP_DigestUpdate(ctx, magic, mlen) != 1
        || EVP_DigestUpdate(ctx, salt, slen) != 1)
    {
        return false;
    }
    for (pl = (ssize_t) len; pl > 0; pl -= 16) {
        if (EVP_DigestUpdate(ctx, alt, pl > 16 ? 16 : (size_t) pl) != 1) {
            return false;
        }
    }
    for (i = len; i != 0; i >>= 1) {
        static const u_char  zero = 0;

        if (EVP_DigestUpdate(ctx, (i & 1) ? &zero : pw, 1) != 1) {
            return false;
        }
    }
    return EVP_DigestFinal_ex(ctx, fin, &n) == 1 && n == 16;
}

int
pco_auth_basic_md5_crypt(const u_char *pw, size_t len, const char *setting,
                         char out[PCO_AUTH_BASIC_MD5_LEN])
{
    const char  *magic, *salt, *d;
    size_t       mlen, slen, i;
    u_char       fin[16];
    EVP_MD_CTX  *ctx;
    char        *p;
    bool         ok = true;

    if (strncmp(setting, "$apr1$", 6) == 0) {
        magic = "$apr1$";
        mlen = 6;
    } else if (strncmp(setting, "$1$", 3) == 0) {
        magic = "$1$";
        mlen = 3;
    } else {
        return PCO_ERROR;
    }
    salt = setting + mlen;
    d = strchr(salt, '$');
    slen = d != NULL ? (size_t) (d - salt) : strlen(salt);
    slen = pco_min(slen, 8);
    if (pco_auth_basic_md5 == NULL) {
        pco_auth_basic_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
        if (pco_auth_basic_md5 == NULL) {
            return PCO_ERROR;
        }
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return PCO_ERROR;
    }
    ok = pco_auth_basic_md5_initial(ctx, pw, len, magic, mlen, salt, slen, fin);
    /* 1000 rounds that mix the password, the salt and the previous digest */
    for (i = 0; ok && i < 1000; i++) {
        unsigned  n = 0;

        ok = EVP_DigestInit_ex(ctx, pco_auth_basic_md5, NULL) == 1
             && ((i & 1) ? EVP_DigestUpdate(ctx, pw, len) : EVP_DigestUpdate(ctx, fin, 16))
             && (i % 3 == 0 || EVP_DigestUpdate(ctx, salt, slen) == 1)
             && (i % 7 == 0 || EVP_DigestUpdate(ctx, pw, len) == 1)
             && ((i & 1) ? EVP_DigestUpdate(ctx, fin, 16) : EVP_DigestUpdate(ctx, pw, len))
             && EVP_DigestFinal_ex(ctx, fin, &n) == 1 && n == 16;
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return PCO_ERROR;
    }
    p = out;
    memcpy(p, magic, mlen);
    p += mlen;
    memcpy(p, salt, slen);
    p += slen;
    *p++ = '$';
    p = pco_auth_basic_to64(p, ((uint32_t) fin[0] << 16) | ((uint32_t) fin[6] << 8) | fin[12],
                            4);
    p = pco_auth_basic_to64(p, ((uint32_t) fin[1] << 16) | ((uint32_t) fin[7] << 8) | fin[13],
                            4);
    p = pco_auth_basic_to64(p, ((uint32_t) fin[2] << 16) | ((uint32_t) fin[8] << 8) | fin[14],
                            4);
    p = pco_auth_basic_to64(p, ((uint32_t) fin[3] << 16) | ((uint32_t) fin[9] << 8) | fin[15],
                            4);
    p = pco_auth_basic_to64(p, ((uint32_t) fin[4] << 16) | ((uint32_t) fin[10] << 8) | fin[5],
                            4);
    p = pco_auth_basic_to64(p, fin[11], 2);
    *p = '\0';
    OPENSSL_cleanse(fin, sizeof(fin));
    return PCO_OK;
}

static bool
pco_auth_basic_verify_sha(const pco_auth_basic_user_t *u, const u_char *pw, size_t len)
{
    u_char    digest[EVP_MAX_MD_SIZE], enc[64];
    unsigned  n = 0;
    int       el;

    if (EVP_Digest(pw, len, digest, &n, EVP_sha1(), NULL) != 1 || n != 20) {
        return false;
    }
    el = EVP_EncodeBlock(enc, digest, 20);
    return el == 28 && u->hash.len == 5 + 28 && CRYPTO_memcmp(enc, u->hash.data + 5, 28) == 0;
}

bool
pco_auth_basic_verify(const pco_auth_basic_user_t *u, const u_char *pw, size_t len)
{
    char         md5[PCO_AUTH_BASIC_MD5_LEN], *pwz;
    const char  *out;
    bool         ok = false;

    if (memchr(pw, '\0', len) != NULL) {
        return false;              /* crypt(3) would stop at the NUL */
    }
    pco_auth_basic_nverify++;
    switch (u->kind) {
    case PCO_AUTH_BASIC_SHA:
        return pco_auth_basic_verify_sha(u, pw, len);
    case PCO_AUTH_BASIC_MD5:
        if (pco_auth_basic_md5_crypt(pw, len, (const char *) u->hash.data, md5) != PCO_OK) {
            return false;
        }
        ok = strlen(md5) == u->hash.len && CRYPTO_memcmp(md5, u->hash.data, u->hash.len) == 0;
        OPENSSL_cleanse(md5, sizeof(md5));
        return ok;
    case PCO_AUTH_BASIC_CRYPT:
        pwz = OPENSSL_malloc(len + 1);
        if (pwz == NULL) {
            return false;
        }
        memcpy(pwz, pw, len);
        pwz[len] = '\0';
        out = crypt_rn(pwz, (const char *) u->hash.data, &pco_auth_basic_crypt_data,
                       (int) sizeof(pco_auth_basic_crypt_data));
        ok = out != NULL && out[0] != '*' && strlen(out) == u->hash.len
             && CRYPTO_memcmp(out, u->hash.data, u->hash.len) == 0;
        OPENSSL_clear_free(pwz, len + 1);
        OPENSSL_cleanse(&pco_auth_basic_crypt_data, sizeof(pco_auth_basic_crypt_data));
        return ok;
    default:
        return false;
    }
}

/* ---- unknown users ---- */

/* The hash of the random password pw[0..len) with rep's scheme and setting, into out
 * (size bytes); false when the scheme's code failed. */
static bool
pco_auth_basic_dummy_hash(const pco_auth_basic_user_t *rep, const char *pw, size_t len,
                          const u_char rnd[20], char *out, size_t size)
{
    char         md5[PCO_AUTH_BASIC_MD5_LEN];
    const char  *res = NULL;

    switch (rep->kind) {
    case PCO_AUTH_BASIC_SHA:
        memcpy(out, "{SHA}", 5);
        return EVP_EncodeBlock((u_char *) out + 5, rnd, 20) == 28;
    case PCO_AUTH_BASIC_MD5:
        if (pco_auth_basic_md5_crypt((const u_char *) pw, len, (const char *) rep->hash.data,
                                     md5) != PCO_OK)
        {
            return false;
        }
        res = md5;
        break;
    case PCO_AUTH_BASIC_CRYPT:
        /* the stored hash as the setting: the same method, cost and salt */
        res = crypt_rn(pw, (const char *) rep->hash.data, &pco_auth_basic_crypt_data,
                       (int) sizeof(pco_auth_basic_crypt_data));
        if (res == NULL || res[0] == '*') {
            return false;
        }
        break;
    default:
        return false;
    }
    if (strlen(res) >= size) {
        return false;
    }
    memcpy(out, res, strlen(res) + 1);
    return true;
}

int
pco_auth_basic_make_dummy(pco_pool_t *pool, pco_auth_basic_file_t *f)
{
    static const char              hex[] = "0123456789abcdef";
    const pco_auth_basic_user_t   *rep = NULL, *u;
    char                           pw[41], out[PCO_AUTH_BASIC_MAX_HASH + 1];
    u_char                         rnd[20];
    size_t                         i;

    memset(&f->dummy, 0, sizeof(f->dummy));
    for (i = 0; i < f->nusers; i++) {
        u = &f->users[i];
        /* kinds are numbered by cost: {SHA} < MD5-crypt < crypt(3) */
        if (rep == NULL || u->kind > rep->kind || (u->kind == rep->kind && u->line < rep->line)) {
            rep = u;
        }
    }
    if (rep == NULL) {
        return PCO_OK;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return PCO_ERROR;
    }
    for (i = 0; i < sizeof(rnd); i++) {
        pw[2 * i] = hex[rnd[i] >> 4];
        pw[2 * i + 1] = hex[rnd[i] & 0xf];
    }
    pw[40] = '\0';
    if (!pco_auth_basic_dummy_hash(rep, pw, 40, rnd, out, sizeof(out))) {
        /* cannot happen with a hash the parser accepted; the entry itself costs as much */
        memcpy(out, rep->hash.data, rep->hash.len + 1);
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    OPENSSL_cleanse(&pco_auth_basic_crypt_data, sizeof(pco_auth_basic_crypt_data));
    f->dummy.hash.len = strlen(out);
    f->dummy.hash.data = pco_pnalloc(pool, f->dummy.hash.len + 1);
    if (f->dummy.hash.data == NULL) {
        return PCO_ERROR;
    }
    memcpy(f->dummy.hash.data, out, f->dummy.hash.len + 1);
    f->dummy.user.data = (u_char *) "";
    f->dummy.kind = rep->kind;
    f->dummy.line = rep->line;
    return PCO_OK;
}

/* The length of the start of a hash that sets its cost (0: the scheme's cost is fixed). */
static size_t
pco_auth_basic_cost_prefix(const pco_auth_basic_user_t *u)
{
    const char  *h = (const char *) u->hash.data, *d;

    if (u->kind != PCO_AUTH_BASIC_CRYPT) {
        return 0;                                  /* {SHA}, MD5-crypt: 1000 rounds */
    }
    if (h[1] == '2') {
        return 7;                                  /* "$2b$10$" */
    }
    if (h[1] == '5' || h[1] == '6') {
        /* "$6$" or "$6$rounds=N$" */
        d = strncmp(h + 3, "rounds=", 7) == 0 ? strchr(h + 10, '$') : NULL;
        return d != NULL ? (size_t) (d - h) + 1 : 3;
    }
    if (h[1] == '7') {
        return pco_min(u->hash.len, (size_t) 14);  /* "$7$" N, r and p */
    }
    /* "$y$PARAMS$" and "$gy$PARAMS$" */
    d = strchr(h + 1, '$');
    d = d != NULL ? strchr(d + 1, '$') : NULL;
    return d != NULL ? (size_t) (d - h) + 1 : u->hash.len;
}

size_t
pco_auth_basic_odd_costs(const pco_auth_basic_file_t *f, const pco_auth_basic_user_t **first)
{
    const pco_auth_basic_user_t  *u;
    size_t                        i, n = 0, dl, ul;

    *first = NULL;
    if (f->dummy.kind == 0) {
        return 0;
    }
    dl = pco_auth_basic_cost_prefix(&f->dummy);
    for (i = 0; i < f->nusers; i++) {
        u = &f->users[i];
        ul = pco_auth_basic_cost_prefix(u);
        if (u->kind == f->dummy.kind && ul == dl
            && memcmp(u->hash.data, f->dummy.hash.data, ul) == 0)
        {
            continue;
        }
        n++;
        if (*first == NULL || u->line < (*first)->line) {
            *first = u;
        }
    }
    return n;
}

int
pco_auth_basic_authenticate(const pco_auth_basic_file_t *f, pco_auth_basic_cache_t *c,
                            const pco_str_t *user, const pco_str_t *pw, pco_msec_t now)
{
    const pco_auth_basic_user_t  *u, *e;
    u_char                        key[32];
    bool                          keyed, hit, ok;
    int                           rc;

    u = pco_auth_basic_find(f, user->data, user->len);
    e = u != NULL ? u : &f->dummy;
    if (e->kind == 0) {
        return PCO_AUTH_BASIC_UNKNOWN;          /* a file without users: nothing to tell */
    }
    /* the same steps for the user's entry and for the dummy one: only the answer differs */
    keyed = pco_auth_basic_cache_key(e, pw->data, pw->len, key) == PCO_OK;
    hit = keyed && pco_auth_basic_cache_lookup(c, key, now);
    ok = hit || pco_auth_basic_verify(e, pw->data, pw->len);
    if (u == NULL) {
        rc = PCO_AUTH_BASIC_UNKNOWN;
    } else if (!ok) {
        rc = PCO_AUTH_BASIC_MISMATCH;           /* failures are never cached */
    } else {
        if (keyed && !hit) {
            pco_auth_basic_cache_store(c, key, now, PCO_AUTH_BASIC_CACHE_TTL);
        }
        rc = PCO_AUTH_BASIC_PASS;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

/* ---- cache ---- */

int
pco_auth_basic_cache_key(const pco_auth_basic_user_t *u, const u_char *pw, size_t len,
                         u_char key[32])
{
    static const u_char   sep = 0;
    EVP_MD_CTX           *ctx = EVP_MD_CTX_new();
    unsigned              n = 0;
    bool                  ok;

    if (ctx == NULL) {
        return PCO_ERROR;
    }
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(ctx, u->hash.data, u->hash.len) == 1
         && EVP_DigestUpdate(ctx, &sep, 1) == 1 && EVP_DigestUpdate(ctx, pw, len) == 1
         && EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
    return ok ? PCO_OK : PCO_ERROR;
}

bool
pco_auth_basic_cache_lookup(pco_auth_basic_cache_t *c, const u_char key[32], pco_msec_t now)
{
    size_t  i;

    for (i = 0; i < PCO_AUTH_BASIC_CACHE_SIZE; i++) {
        if (c->e[i].expires > now && CRYPTO_memcmp(c->e[i].key, key, 32) == 0) {
            return true;
        }
    }
    return false;
}

void
pco_auth_basic_cache_store(pco_auth_basic_cache_t *c, const u_char key[32], pco_msec_t now,
                           pco_msec_t ttl)
{
    size_t  i, victim = 0;

    for (i = 0; i < PCO_AUTH_BASIC_CACHE_SIZE; i++) {
        if (c->e[i].expires > now && memcmp(c->e[i].key, key, 32) == 0) {
            victim = i;                       /* the same key: refresh it */
            break;
        }
        if (c->e[i].expires <= now) {
            victim = i;
            break;
        }
        if (c->e[i].expires < c->e[victim].expires) {
            victim = i;
        }
    }
    memcpy(c->e[victim].key, key, 32);
    c->e[victim].expires = now + ttl;
}
