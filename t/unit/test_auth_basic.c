/*
 * test_auth_basic.c: unit tests of the auth_basic module's pure parts: the htpasswd parser
 * (comments, blank lines, CRLF, comments after the hash, every error and warning with its
 * line), hash classification, verification of each format against vectors made with
 * `openssl passwd`, Perl Digest::SHA and Python's crypt (right and wrong passwords), the
 * strict base64 and Authorization decoders (the 4 KiB cap), the realm escaping, the cache,
 * bcrypt's 72-byte limit, and the dummy entry: its scheme and cost, and that an unknown
 * user costs one verification exactly like a wrong password (counted, not timed).
 * Built against libportico.a; skips everything when the module is not compiled in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pco_core.h"

#ifdef PCO_HAVE_AUTH_BASIC

#include "pco_auth_basic.h"

typedef struct {
    unsigned  lines[16];
    bool      warning[16];
    char      msgs[16][512];
    size_t    n;
} pco_test_reports_t;

static void
pco_test_report(void *data, unsigned line, bool warning, const char *msg)
{
    pco_test_reports_t  *r = data;

    if (r->n < 16) {
        r->lines[r->n] = line;
        r->warning[r->n] = warning;
        snprintf(r->msgs[r->n], sizeof(r->msgs[0]), "%s", msg);
        r->n++;
    }
}

static int
pco_test_parse(pco_pool_t *pool, const char *text, pco_auth_basic_file_t *f,
               pco_test_reports_t *r)
{
    memset(r, 0, sizeof(*r));
    memset(f, 0, sizeof(*f));
    return pco_auth_basic_parse(pool, (const u_char *) text, strlen(text), f, pco_test_report,
                                r);
}

static const pco_auth_basic_user_t *
pco_test_find(const pco_auth_basic_file_t *f, const char *user)
{
    return pco_auth_basic_find(f, (const u_char *) user, strlen(user));
}

static bool
pco_test_verify(const pco_auth_basic_file_t *f, const char *user, const char *pw)
{
    const pco_auth_basic_user_t  *u = pco_test_find(f, user);

    assert_non_null(u);
    return pco_auth_basic_verify(u, (const u_char *) pw, strlen(pw));
}

static void
pco_test_parse_ok(void **state)
{
    static const char  text[] =
        "# users of the admin area\n"
        "\n"
        "   \t\n"
        "  # an indented comment\n"
        "carol:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/\r\n"
        "alice:$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW:the admin\n"
        "bob:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77"
        "vwPZN.Pq.H91p5hVO1   \n"
        "dave:$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA\n"
        "erin:$1$saltsalt$9xy1btjgzLYfb7hivXtC//\n"
        "frank:$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.";
    pco_pool_t             *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t   f;
    pco_test_reports_t      r;

    (void) state;
    assert_int_equal(pco_test_parse(pool, text, &f, &r), PCO_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(f.nusers, 6);
    /* sorted by name */
    assert_memory_equal(f.users[0].user.data, "alice", 5);
    assert_memory_equal(f.users[5].user.data, "frank", 5);
    assert_int_equal(pco_test_find(&f, "carol")->line, 5);
    assert_int_equal(pco_test_find(&f, "carol")->kind, PCO_AUTH_BASIC_MD5);
    assert_int_equal(pco_test_find(&f, "alice")->kind, PCO_AUTH_BASIC_CRYPT);
    assert_string_equal((const char *) pco_test_find(&f, "alice")->hash.data,
                        "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW");
    assert_int_equal(pco_test_find(&f, "bob")->hash.len, 98);
    assert_null(pco_test_find(&f, "alic"));
    assert_null(pco_test_find(&f, "alicee"));
    assert_null(pco_test_find(&f, ""));
    assert_null(pco_test_find(&f, "zed"));
    pco_pool_destroy(pool);
}

static void
pco_test_parse_errors(void **state)
{
    static const char  text[] =
        "good:$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n"      /* 1 */
        "nocolon\n"                                   /* 2 */
        ":$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n"          /* 3 */
        "plain:secret\n"                              /* 4 */
        "des:abJnggxhB/yWI\n"                         /* 5 */
        "shortsha:{SHA}abc=\n"                        /* 6 */
        "badmd5:$apr1$toolongsalt$94JxxwMvxqQwA3Iid6OL9.\n"   /* 7 */
        "empty:\n"                                    /* 8 */
        "ctl\001x:$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n"  /* 9 */
        "badcrypt:$2b$04$!!\n";                       /* 10 */
    pco_pool_t             *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t   f;
    pco_test_reports_t      r;
    size_t                  i;

    (void) state;
    assert_int_equal(pco_test_parse(pool, text, &f, &r), PCO_ERROR);
    assert_int_equal(r.n, 9);
    for (i = 0; i < r.n; i++) {
        assert_false(r.warning[i]);
        assert_int_equal(r.lines[i], i + 2);
        /* the hash (maybe a plain-text password) is never part of a message */
        assert_null(strstr(r.msgs[i], "secret"));
    }
    assert_string_equal(r.msgs[0], "malformed line: no \":\" between the user name and the "
                                   "hash");
    assert_string_equal(r.msgs[1], "empty user name");
    assert_non_null(strstr(r.msgs[2], "user \"plain\": unknown password hash format "
                                      "(plain-text passwords are not accepted"));
    assert_non_null(strstr(r.msgs[3], "user \"des\": unknown password hash format"));
    assert_non_null(strstr(r.msgs[4], "malformed {SHA} hash"));
    assert_string_equal(r.msgs[5], "user \"badmd5\": malformed $apr1$ hash");
    assert_string_equal(r.msgs[6], "user \"empty\": empty password hash");
    assert_string_equal(r.msgs[7], "control character in the user name");
    assert_string_equal(r.msgs[8], "user \"badcrypt\": malformed crypt(3) hash");
    /* the good line is still there */
    assert_int_equal(f.nusers, 1);
    pco_pool_destroy(pool);
}

static void
pco_test_parse_warnings(void **state)
{
    static const char  text[] =
        "sam:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
        "tom:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
        "sam:$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n";
    pco_pool_t             *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t   f;
    pco_test_reports_t      r;

    (void) state;
    assert_int_equal(pco_test_parse(pool, text, &f, &r), PCO_OK);
    assert_int_equal(r.n, 2);
    assert_true(r.warning[0]);
    assert_int_equal(r.lines[0], 1);
    assert_non_null(strstr(r.msgs[0], "{SHA} hashes are unsalted"));
    assert_true(r.warning[1]);
    assert_int_equal(r.lines[1], 3);
    assert_string_equal(r.msgs[1], "user \"sam\" is listed again (the entry of line 1 is "
                                   "used)");
    /* the first entry wins */
    assert_int_equal(pco_test_find(&f, "sam")->line, 1);
    assert_true(pco_test_verify(&f, "sam", "secret"));
    pco_pool_destroy(pool);
}

static void
pco_test_verify_formats(void **state)
{
    static const char  text[] =
        "sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
        "apr:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/\n"
        "apr2:$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n"
        "aprlong:$apr1$abcdefgh$ttF6pN2DAf8ph1igA5Hml0\n"
        "aprempty:$apr1$abc$BfqKdn9xFDWJPa3kcp/PH0\n"
        "md5:$1$saltsalt$9xy1btjgzLYfb7hivXtC//\n"
        "s256:$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA\n"
        "s512:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77"
        "vwPZN.Pq.H91p5hVO1\n"
        "bcrypt:$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\n"
        "s512r:$6$rounds=6000$saltsalt$TcDhk3vUDSxdkj1LteXIA0htMq0pABOdsvxFLaAf.9RFOU5G4Ss5YPBOHb6"
        "uwE8gqarkBzBeX3AE9KlDjd3pv0\n"
        "yes:$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.\n";
    static const char *const  users[] = { "sha", "apr", "apr2", "md5", "s256", "s512",
                                          "s512r", "bcrypt", "yes" };
    pco_pool_t               *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t     f;
    pco_test_reports_t        r;
    size_t                    i;

    (void) state;
    assert_int_equal(pco_test_parse(pool, text, &f, &r), PCO_OK);
    for (i = 0; i < pco_nelems(users); i++) {
        assert_true(pco_test_verify(&f, users[i], "secret"));
        assert_false(pco_test_verify(&f, users[i], "Secret"));
        assert_false(pco_test_verify(&f, users[i], "secret "));
        assert_false(pco_test_verify(&f, users[i], ""));
        /* a NUL byte never matches, even when crypt(3) would stop there */
        assert_false(pco_auth_basic_verify(pco_test_find(&f, users[i]),
                                           (const u_char *) "secret\0x", 8));
    }
    assert_true(pco_test_verify(&f, "aprlong", "a much longer password that exceeds sixteen "
                                "bytes"));
    assert_false(pco_test_verify(&f, "aprlong", "a much longer password that exceeds sixteen "
                                 "byte"));
    assert_true(pco_test_verify(&f, "aprempty", ""));
    assert_false(pco_test_verify(&f, "aprempty", "x"));
    pco_pool_destroy(pool);
}

static void
pco_test_md5_crypt(void **state)
{
    char  out[PCO_AUTH_BASIC_MD5_LEN];

    (void) state;
    assert_int_equal(pco_auth_basic_md5_crypt((const u_char *) "secret", 6, "$apr1$abcdefgh",
                                              out), PCO_OK);
    assert_string_equal(out, "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/");
    assert_int_equal(pco_auth_basic_md5_crypt((const u_char *) "secret", 6,
                                              "$1$saltsalt$whatever", out), PCO_OK);
    assert_string_equal(out, "$1$saltsalt$9xy1btjgzLYfb7hivXtC//");
    assert_int_equal(pco_auth_basic_md5_crypt((const u_char *) "secret", 6, "$5$x", out),
                     PCO_ERROR);
}

static void
pco_test_hash_kind(void **state)
{
    const char  *err = NULL;

    (void) state;
#define KIND(h) pco_auth_basic_hash_kind(h, strlen(h), &err)
    assert_int_equal(KIND("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="), PCO_AUTH_BASIC_SHA);
    assert_int_equal(KIND("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ"), 0);
    assert_int_equal(KIND("$apr1$$94JxxwMvxqQwA3Iid6OL9."), PCO_AUTH_BASIC_MD5);
    assert_int_equal(KIND("$apr1$xy$94JxxwMvxqQwA3Iid6OL9"), 0);
    assert_int_equal(KIND("$apr1$xy"), 0);
    assert_int_equal(KIND("$2y$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"),
                     PCO_AUTH_BASIC_CRYPT);
    assert_int_equal(KIND("$2a$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"),
                     PCO_AUTH_BASIC_CRYPT);
    assert_int_equal(KIND("$2b$"), 0);
    assert_int_equal(KIND("$3$abc"), 0);
    /* "rounds=N$" of SHA-crypt, and '=' nowhere else */
    assert_int_equal(KIND("$5$rounds=1000$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"),
                     PCO_AUTH_BASIC_CRYPT);
    assert_int_equal(KIND("$6$rounds=$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"), 0);
    assert_int_equal(KIND("$6$rounds=12a$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"),
                     0);
    assert_int_equal(KIND("$2b$rounds=10$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8W"), 0);
    assert_int_equal(KIND(""), 0);
    assert_string_equal(err, "empty password hash");
    assert_int_equal(KIND("hunter2"), 0);
    assert_non_null(strstr(err, "plain-text"));
#undef KIND
}

static void
pco_test_base64(void **state)
{
    u_char  out[32];

    (void) state;
#define DEC(s) pco_auth_basic_base64_decode((const u_char *) s, strlen(s), out, sizeof(out))
    assert_int_equal(DEC(""), 0);
    assert_int_equal(DEC("YQ=="), 1);
    assert_memory_equal(out, "a", 1);
    assert_int_equal(DEC("YWI="), 2);
    assert_memory_equal(out, "ab", 2);
    assert_int_equal(DEC("YWJj"), 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(DEC("YWxpY2U6c2VjcmV0"), 12);
    assert_memory_equal(out, "alice:secret", 12);
    assert_int_equal(DEC("YQ"), -1);          /* padding required */
    assert_int_equal(DEC("YQ=a"), -1);
    assert_int_equal(DEC("Y==="), -1);
    assert_int_equal(DEC("YQ==YQ=="), -1);    /* padding only at the end */
    assert_int_equal(DEC("YW J"), -1);
    assert_int_equal(DEC("YW-_"), -1);        /* not the URL alphabet */
    assert_int_equal(pco_auth_basic_base64_decode((const u_char *) "YWJj", 4, out, 2), -1);
#undef DEC
}

static void
pco_test_decode(void **state)
{
    u_char     buf[64];
    pco_str_t  user, pw;

    (void) state;
#define DECODE(s) pco_auth_basic_decode((const u_char *) s, strlen(s), buf, sizeof(buf), \
                                        &user, &pw)
    assert_int_equal(DECODE("Basic YWxpY2U6c2VjcmV0"), PCO_OK);
    assert_int_equal(user.len, 5);
    assert_memory_equal(user.data, "alice", 5);
    assert_int_equal(pw.len, 6);
    assert_memory_equal(pw.data, "secret", 6);
    assert_int_equal(DECODE("bAsIc \t YWxpY2U6c2VjcmV0"), PCO_OK);
    /* the password may hold colons; an empty one is allowed */
    assert_int_equal(DECODE("Basic YTpiOmM="), PCO_OK);     /* a:b:c */
    assert_int_equal(user.len, 1);
    assert_int_equal(pw.len, 3);
    assert_memory_equal(pw.data, "b:c", 3);
    assert_int_equal(DECODE("Basic YTo="), PCO_OK);         /* a: */
    assert_int_equal(pw.len, 0);
    assert_int_equal(DECODE("Basic Ojpi"), PCO_DECLINED);   /* ::b, empty user */
    assert_int_equal(DECODE("Basic YWxpY2U="), PCO_DECLINED);   /* no colon */
    assert_int_equal(DECODE("Basic"), PCO_DECLINED);
    assert_int_equal(DECODE("Basic "), PCO_DECLINED);
    assert_int_equal(DECODE("BasicYWxpY2U6c2VjcmV0"), PCO_DECLINED);
    assert_int_equal(DECODE("Bearer YWxpY2U6c2VjcmV0"), PCO_DECLINED);
    assert_int_equal(DECODE("Basic YWxpY2U6c2VjcmV0 "), PCO_DECLINED);
    assert_int_equal(DECODE("Basic !!!!"), PCO_DECLINED);
#undef DECODE
}

static void
pco_test_challenge(void **state)
{
    u_char  out[128];
    size_t  n;

    (void) state;
    n = pco_auth_basic_challenge(out, (const u_char *) "admin", 5);
    assert_int_equal(n, 19);
    assert_memory_equal(out, "Basic realm=\"admin\"", 19);
    n = pco_auth_basic_challenge(out, (const u_char *) "a \"b\" \\c", 8);
    assert_int_equal(n, 25);
    assert_memory_equal(out, "Basic realm=\"a \\\"b\\\" \\\\c\"", 25);
    n = pco_auth_basic_challenge(out, (const u_char *) "", 0);
    assert_memory_equal(out, "Basic realm=\"\"", n);
}

static void
pco_test_cache(void **state)
{
    static pco_auth_basic_cache_t  c;
    pco_auth_basic_user_t          u = { .hash = pco_string("$apr1$xy$94JxxwMvxqQwA3Iid6OL9.") };
    u_char                         k1[32], k2[32], k3[32];
    u_char                         key[32];
    unsigned                       i;

    (void) state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(pco_auth_basic_cache_key(&u, (const u_char *) "secret", 6, k1), PCO_OK);
    assert_int_equal(pco_auth_basic_cache_key(&u, (const u_char *) "secreT", 6, k2), PCO_OK);
    u.hash.len--;
    assert_int_equal(pco_auth_basic_cache_key(&u, (const u_char *) "secret", 6, k3), PCO_OK);
    assert_memory_not_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);

    assert_false(pco_auth_basic_cache_lookup(&c, k1, 1000));
    pco_auth_basic_cache_store(&c, k1, 1000, 60000);
    assert_true(pco_auth_basic_cache_lookup(&c, k1, 1000));
    assert_true(pco_auth_basic_cache_lookup(&c, k1, 60999));
    assert_false(pco_auth_basic_cache_lookup(&c, k1, 61000));   /* expired */
    assert_false(pco_auth_basic_cache_lookup(&c, k2, 1000));

    /* full: the entry expiring first goes */
    memset(&c, 0, sizeof(c));
    pco_auth_basic_cache_store(&c, k1, 1000, 60000);
    for (i = 0; i < PCO_AUTH_BASIC_CACHE_SIZE - 1; i++) {
        memset(key, 0, sizeof(key));
        memcpy(key, &i, sizeof(i));
        key[31] = 0xee;
        pco_auth_basic_cache_store(&c, key, 2000 + i, 60000);
    }
    assert_true(pco_auth_basic_cache_lookup(&c, k1, 3000));
    pco_auth_basic_cache_store(&c, k2, 3000, 60000);
    assert_false(pco_auth_basic_cache_lookup(&c, k1, 3000));
    assert_true(pco_auth_basic_cache_lookup(&c, k2, 3000));
    memset(key, 0, sizeof(key));
    key[31] = 0xee;
    assert_true(pco_auth_basic_cache_lookup(&c, key, 3000));
}

static void
pco_test_bcrypt_72(void **state)
{
    static const char  text[] =
        "b72:$2b$04$abcdefghijklmnopqrstuuBzzIgyKkz7xMWYSzkIjUSnxEQFQ0WNe\n"
        "six:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77"
        "vwPZN.Pq.H91p5hVO1\n";
    pco_pool_t             *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t   f;
    pco_test_reports_t      r;
    char                    pw[600];

    (void) state;
    assert_int_equal(pco_test_parse(pool, text, &f, &r), PCO_OK);
    /* bcrypt reads 72 bytes: what follows them is not checked (as in Apache and nginx) */
    memset(pw, 'a', sizeof(pw));
    pw[72] = '\0';
    assert_true(pco_test_verify(&f, "b72", pw));
    pw[72] = 'b';
    pw[73] = '\0';
    assert_true(pco_test_verify(&f, "b72", pw));
    pw[71] = '\0';
    assert_false(pco_test_verify(&f, "b72", pw));
    /* libcrypt refuses passphrases of 512 bytes or more: never a match, never a crash */
    memset(pw, 'a', sizeof(pw));
    pw[512] = '\0';
    assert_false(pco_test_verify(&f, "b72", pw));
    assert_false(pco_test_verify(&f, "six", pw));
    pco_pool_destroy(pool);
}

static void
pco_test_decode_cap(void **state)
{
    static u_char  value[6 + PCO_AUTH_BASIC_MAX_CREDENTIALS + 4], buf[8192];
    pco_str_t      user, pw;
    size_t         n;

    (void) state;
    /* "Basic " + base64 of "u:" followed by 'A's: "dTpB" then "QUFB" groups */
    memcpy(value, "Basic dTpB", 10);
    for (n = 10; n < 6 + PCO_AUTH_BASIC_MAX_CREDENTIALS; n += 4) {
        memcpy(value + n, "QUFB", 4);
    }
    assert_int_equal(n, 6 + PCO_AUTH_BASIC_MAX_CREDENTIALS);
    /* exactly 4096 bytes of base64: decoded */
    assert_int_equal(pco_auth_basic_decode(value, n, buf, sizeof(buf), &user, &pw), PCO_OK);
    assert_int_equal(user.len, 1);
    assert_int_equal(pw.len, PCO_AUTH_BASIC_MAX_CREDENTIALS / 4 * 3 - 2);
    /* one group more: refused before decoding, whatever the buffer */
    memcpy(value + n, "QUFB", 4);
    assert_int_equal(pco_auth_basic_decode(value, n + 4, buf, sizeof(buf), &user, &pw),
                     PCO_ERROR);
    /* even when the text is not base64 at all */
    memset(value + 6, '!', n + 4 - 6);
    assert_int_equal(pco_auth_basic_decode(value, n + 4, buf, sizeof(buf), &user, &pw),
                     PCO_ERROR);
    /* another scheme is not Basic's business, however long */
    memcpy(value, "Bearer", 6);
    assert_int_equal(pco_auth_basic_decode(value, n + 4, buf, sizeof(buf), &user, &pw),
                     PCO_DECLINED);
}

static void
pco_test_dummy(void **state)
{
    static const char  mixed[] =
        "aaa:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
        "apr:$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n"
        "zed:$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\n"
        "bob:$2b$05$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\n";
    pco_pool_t                   *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t         f;
    pco_test_reports_t            r;
    const pco_auth_basic_user_t  *odd;

    (void) state;
    /* crypt(3) wins over {SHA} and $apr1$; among them the first line of the file */
    assert_int_equal(pco_test_parse(pool, mixed, &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(f.dummy.kind, PCO_AUTH_BASIC_CRYPT);
    assert_int_equal(f.dummy.hash.len, 60);
    assert_memory_equal(f.dummy.hash.data, "$2b$04$abcdefghijklmnopqrstuu", 29);
    assert_string_not_equal((const char *) f.dummy.hash.data,
                            "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW");
    assert_int_equal(f.dummy.user.len, 0);
    assert_int_equal(f.dummy.line, 3);
    assert_null(pco_test_find(&f, ""));
    /* every other entry costs something else: {SHA}, $apr1$, bcrypt cost 5 */
    assert_int_equal(pco_auth_basic_odd_costs(&f, &odd), 3);
    assert_non_null(odd);
    assert_int_equal(odd->line, 1);

    /* one scheme and cost: nothing odd; SHA-crypt rounds count as a cost */
    assert_int_equal(pco_test_parse(pool,
        "x:$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\n"
        "y:$2b$04$bbcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\n", &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(pco_auth_basic_odd_costs(&f, &odd), 0);
    assert_null(odd);
    assert_int_equal(pco_test_parse(pool,
        "a:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77"
        "vwPZN.Pq.H91p5hVO1\n"
        "b:$6$rounds=6000$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiO"
        "QSpT0Y77vwPZN.Pq.H91p5hVO1\n", &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(pco_auth_basic_odd_costs(&f, &odd), 1);
    assert_int_equal(odd->line, 2);

    /* $apr1$ only: its salt, a new digest */
    assert_int_equal(pco_test_parse(pool, "a:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
                                    "b:$apr1$xy$94JxxwMvxqQwA3Iid6OL9.\n", &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(f.dummy.kind, PCO_AUTH_BASIC_MD5);
    assert_memory_equal(f.dummy.hash.data, "$apr1$xy$", 9);
    assert_int_equal(f.dummy.hash.len, 31);
    assert_string_not_equal((const char *) f.dummy.hash.data, "$apr1$xy$94JxxwMvxqQwA3Iid6OL9.");

    /* {SHA} only: a random digest of the same shape */
    assert_int_equal(pco_test_parse(pool, "a:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n", &f, &r),
                     PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(f.dummy.kind, PCO_AUTH_BASIC_SHA);
    assert_int_equal(f.dummy.hash.len, 33);
    assert_memory_equal(f.dummy.hash.data, "{SHA}", 5);

    /* no user: no dummy */
    assert_int_equal(pco_test_parse(pool, "# nobody\n", &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(f.dummy.kind, 0);
    pco_pool_destroy(pool);
}

/* One authentication: its answer, and how many hashes it computed. */
static int
pco_test_auth(const pco_auth_basic_file_t *f, pco_auth_basic_cache_t *c, const char *user,
              const char *pw, uint64_t *hashes)
{
    pco_str_t  u = { strlen(user), (u_char *) user }, p = { strlen(pw), (u_char *) pw };
    uint64_t   before = pco_auth_basic_nverify;
    int        rc = pco_auth_basic_authenticate(f, c, &u, &p, 1000);

    *hashes = pco_auth_basic_nverify - before;
    return rc;
}

static void
pco_test_authenticate(void **state)
{
    static const char               text[] =
        "aaa:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
        "bcrypt:$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\n";
    static pco_auth_basic_cache_t   c;
    pco_pool_t                     *pool = pco_pool_create(4096, 0);
    pco_auth_basic_file_t           f;
    pco_test_reports_t              r;
    uint64_t                        n;

    (void) state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(pco_test_parse(pool, text, &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);

    /* an unknown user costs one verification, like a wrong password */
    assert_int_equal(pco_test_auth(&f, &c, "nobody", "secret", &n), PCO_AUTH_BASIC_UNKNOWN);
    assert_int_equal(n, 1);
    assert_int_equal(pco_test_auth(&f, &c, "bcrypt", "wrong", &n), PCO_AUTH_BASIC_MISMATCH);
    assert_int_equal(n, 1);
    /* "aaa" sorts first and is {SHA}: an unknown user is still checked against bcrypt */
    assert_int_equal(f.dummy.kind, PCO_AUTH_BASIC_CRYPT);
    assert_int_equal(pco_test_auth(&f, &c, "", "", &n), PCO_AUTH_BASIC_UNKNOWN);
    assert_int_equal(n, 1);

    /* a success is cached; a failure never is */
    assert_int_equal(pco_test_auth(&f, &c, "bcrypt", "secret", &n), PCO_AUTH_BASIC_PASS);
    assert_int_equal(n, 1);
    assert_int_equal(pco_test_auth(&f, &c, "bcrypt", "secret", &n), PCO_AUTH_BASIC_PASS);
    assert_int_equal(n, 0);
    assert_int_equal(pco_test_auth(&f, &c, "bcrypt", "wrong", &n), PCO_AUTH_BASIC_MISMATCH);
    assert_int_equal(n, 1);
    assert_int_equal(pco_test_auth(&f, &c, "nobody", "secret", &n), PCO_AUTH_BASIC_UNKNOWN);
    assert_int_equal(n, 1);
    assert_int_equal(pco_test_auth(&f, &c, "aaa", "secret", &n), PCO_AUTH_BASIC_PASS);
    assert_int_equal(n, 1);

    /* a file without users: nothing to protect, no hashing */
    assert_int_equal(pco_test_parse(pool, "", &f, &r), PCO_OK);
    assert_int_equal(pco_auth_basic_make_dummy(pool, &f), PCO_OK);
    assert_int_equal(pco_test_auth(&f, &c, "bcrypt", "secret", &n), PCO_AUTH_BASIC_UNKNOWN);
    assert_int_equal(n, 0);
    pco_pool_destroy(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_parse_ok),
        cmocka_unit_test(pco_test_parse_errors),
        cmocka_unit_test(pco_test_parse_warnings),
        cmocka_unit_test(pco_test_verify_formats),
        cmocka_unit_test(pco_test_md5_crypt),
        cmocka_unit_test(pco_test_hash_kind),
        cmocka_unit_test(pco_test_base64),
        cmocka_unit_test(pco_test_decode),
        cmocka_unit_test(pco_test_challenge),
        cmocka_unit_test(pco_test_cache),
        cmocka_unit_test(pco_test_bcrypt_72),
        cmocka_unit_test(pco_test_decode_cap),
        cmocka_unit_test(pco_test_dummy),
        cmocka_unit_test(pco_test_authenticate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void
pco_test_skip(void **state)
{
    (void) state;
    skip();   /* built without the auth_basic module */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_skip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
