/*
 * pco_auth_basic.h: the pure parts of the auth_basic module, unit-tested in
 * t/unit/test_auth_basic.c: the htpasswd parser, the password hash formats and their
 * verification, the Authorization header decoder, the WWW-Authenticate challenge builder and
 * the per-worker cache of successful verifications. Nothing here does I/O or logs.
 *
 * htpasswd lines read `user:hash` or `user:hash:comment`; lines whose first non-blank
 * character is '#' and blank lines are skipped; trailing blanks and CR are ignored. Hashes:
 *     {SHA}base64(sha1(password))          unsalted, accepted with a warning
 *     $apr1$salt$hash  and  $1$salt$hash   MD5-crypt, computed on OpenSSL's MD5
 *     $2a$ $2b$ $2y$ (bcrypt), $5$, $6$ (SHA-crypt, "rounds=N$" too), $y$ $gy$
 *     (yescrypt), $7$ (scrypt)             through libcrypt's crypt_rn
 * Anything else (plain text, DES crypt, which cannot be told from plain text) is an error.
 * Comparisons are constant-time (CRYPTO_memcmp).
 *
 * Timing: an unknown user's password is checked against the file's dummy entry, a hash made
 * at load with the scheme, cost and salt of the file's costliest entry (below), so that a
 * refusal takes as long whether the user exists or not. bcrypt reads only the first 72
 * bytes of a password (as in Apache and nginx: the hash was made from those bytes too), and
 * libcrypt refuses passwords of 512 bytes or more (no crypt(3) hash matches them).
 */
#ifndef PCO_AUTH_BASIC_H
#define PCO_AUTH_BASIC_H

#include "pco_core.h"
#include "pco_pool.h"

enum {
    PCO_AUTH_BASIC_SHA = 1,      /* {SHA} */
    PCO_AUTH_BASIC_MD5,          /* $apr1$ or $1$, ours */
    PCO_AUTH_BASIC_CRYPT         /* libcrypt */
};

#define PCO_AUTH_BASIC_MAX_USER  255     /* longer user names are refused */
#define PCO_AUTH_BASIC_MAX_HASH  512
#define PCO_AUTH_BASIC_MD5_LEN   64      /* room for "$apr1$" + 8 salt + "$" + 22 + NUL */
/* Longest base64 credentials after "Basic ": 4 KiB, about 3 KiB of user:password. Longer
 * ones are refused (400) before decoding or hashing: the cost of MD5-crypt and SHA-crypt
 * grows with the password's length, and no real password comes near this. */
#define PCO_AUTH_BASIC_MAX_CREDENTIALS  4096

typedef struct {
    pco_str_t   user;
    pco_str_t   hash;        /* NUL-terminated */
    int         kind;        /* PCO_AUTH_BASIC_* */
    unsigned    line;
} pco_auth_basic_user_t;

typedef struct {
    const char              *path;       /* absolute, for messages */
    pco_auth_basic_user_t   *users;      /* sorted by name, then line */
    size_t                   nusers;
    pco_auth_basic_user_t    dummy;      /* for unknown users; kind 0 while nusers == 0;
                                            line: the entry it copies */
    bool                     invalid;    /* the module's: loading it failed */
} pco_auth_basic_file_t;

/* Called for every problem found by the parser: line (1-based), warning or error, text. */
typedef void (*pco_auth_basic_report_pt)(void *data, unsigned line, bool warning,
                                         const char *msg);

/*
 * Parses an htpasswd file's text[0..len) into f (strings copied into pool). Every problem
 * is reported (all of them, not only the first): errors for a line without ':', an empty or
 * over-long user name, a user name with a control character, an unknown or malformed hash
 * (plain-text passwords included); warnings for {SHA} hashes (once per file) and for a user
 * listed twice (the first entry is used). Returns PCO_OK, or PCO_ERROR when an error was
 * reported or memory ran out.
 */
int pco_auth_basic_parse(pco_pool_t *pool, const u_char *text, size_t len,
                         pco_auth_basic_file_t *f, pco_auth_basic_report_pt report,
                         void *data);

/*
 * Makes f->dummy (strings in pool): the hash of a random password with the scheme and the
 * parameters of the file's representative entry, the first in file order among those of
 * the costliest kind (crypt(3) formats, then MD5-crypt, then {SHA}). For crypt(3) and
 * MD5-crypt the entry's own hash is the setting, so the dummy has its cost and salt. Costs
 * one verification (bcrypt: milliseconds); called once per file at load. No entry: kind 0
 * and PCO_OK. PCO_ERROR when randomness, the digest or memory failed.
 */
int pco_auth_basic_make_dummy(pco_pool_t *pool, pco_auth_basic_file_t *f);

/*
 * The entries whose cost differs from the dummy's (another scheme; another bcrypt cost,
 * SHA-crypt rounds or yescrypt/scrypt parameters): a refusal for them takes another time
 * than for an unknown user, which tells that they exist. Returns how many, with *first the
 * one of the lowest line (NULL when none). Call after pco_auth_basic_make_dummy.
 */
size_t pco_auth_basic_odd_costs(const pco_auth_basic_file_t *f,
                                const pco_auth_basic_user_t **first);

/* Classifies and validates a hash (NUL-terminated). Returns its kind, or 0 with *err set. */
int pco_auth_basic_hash_kind(const char *hash, size_t len, const char **err);

/* The entry of user (first of duplicates), or NULL. */
const pco_auth_basic_user_t *pco_auth_basic_find(const pco_auth_basic_file_t *f,
                                                 const u_char *user, size_t len);

/*
 * Checks password pw[0..len) against u's hash. May take as long as the hash demands
 * (bcrypt: milliseconds); callers use the cache below. A password holding a NUL byte never
 * matches. Thread-unsafe (one crypt_data per process); never blocks on I/O.
 */
bool pco_auth_basic_verify(const pco_auth_basic_user_t *u, const u_char *pw, size_t len);

/* MD5-crypt with magic "$apr1$" or "$1$": setting is the stored hash (or "$apr1$salt"),
 * out gets the NUL-terminated result. PCO_OK, or PCO_ERROR (bad setting, no MD5). */
int pco_auth_basic_md5_crypt(const u_char *pw, size_t len, const char *setting,
                             char out[PCO_AUTH_BASIC_MD5_LEN]);

/*
 * Decodes an Authorization header value "Basic <base64>" (scheme case-insensitive, blanks
 * after it) into buf (size bytes), setting user and password to point into buf: the user
 * ends at the first ':' and the password, which may hold ':', is the rest. PCO_OK;
 * PCO_DECLINED for another scheme, bad base64, no ':', an empty user, or not enough room;
 * PCO_ERROR, before decoding anything, when the base64 text is longer than
 * PCO_AUTH_BASIC_MAX_CREDENTIALS.
 */
int pco_auth_basic_decode(const u_char *value, size_t len, u_char *buf, size_t size,
                          pco_str_t *user, pco_str_t *password);

/* Strict base64 (RFC 4648, padding required): decoded length, or -1 when invalid. */
ssize_t pco_auth_basic_base64_decode(const u_char *in, size_t len, u_char *out, size_t size);

/* Writes `Basic realm="REALM"` with '"' and '\' escaped into out (size >= 2 * realm + 16);
 * returns the length. */
size_t pco_auth_basic_challenge(u_char *out, const u_char *realm, size_t len);

/* ---- cache of successful verifications (per worker) ---- */

#define PCO_AUTH_BASIC_CACHE_SIZE  64
#define PCO_AUTH_BASIC_CACHE_TTL   60000      /* ms */

typedef struct {
    u_char      key[32];     /* SHA-256 of the stored hash, NUL, the password */
    pco_msec_t  expires;     /* 0: empty */
} pco_auth_basic_cache_entry_t;

typedef struct {
    pco_auth_basic_cache_entry_t  e[PCO_AUTH_BASIC_CACHE_SIZE];
} pco_auth_basic_cache_t;

/* Hash computations done by pco_auth_basic_verify in this process (tests read it). */
extern uint64_t  pco_auth_basic_nverify;

enum {
    PCO_AUTH_BASIC_PASS = 1,     /* the user's password */
    PCO_AUTH_BASIC_UNKNOWN,      /* no such user (the dummy entry was verified) */
    PCO_AUTH_BASIC_MISMATCH      /* a wrong password */
};

/*
 * Checks user/password against f with the cache c at time now: the user's entry, or the
 * dummy entry for an unknown user, goes through the same steps (cache key, lookup, one
 * verification on a miss), so that the answer costs the same either way. Only successes
 * are cached. The caller has refused NUL bytes already. Returns PCO_AUTH_BASIC_*.
 */
int pco_auth_basic_authenticate(const pco_auth_basic_file_t *f, pco_auth_basic_cache_t *c,
                                const pco_str_t *user, const pco_str_t *pw, pco_msec_t now);

/* The key of (hash, password). PCO_OK or PCO_ERROR (digest unavailable). */
int pco_auth_basic_cache_key(const pco_auth_basic_user_t *u, const u_char *pw, size_t len,
                             u_char key[32]);
/* true when key was stored and has not expired at now. */
bool pco_auth_basic_cache_lookup(pco_auth_basic_cache_t *c, const u_char key[32],
                                 pco_msec_t now);
/* Stores key until now + ttl, replacing an expired entry or else the one expiring first. */
void pco_auth_basic_cache_store(pco_auth_basic_cache_t *c, const u_char key[32],
                                pco_msec_t now, pco_msec_t ttl);

#endif
