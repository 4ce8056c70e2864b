/*
 * test_cache_key.c: cache keys (modules/cache/pco_cache_key.c): the exact hash of a key
 * string and of a variant (the bytes hashed are pinned: they decide where entries already
 * on disk are found), Vary value normalisation equalities and inequalities, the canonical
 * Vary name list, hex both ways, and entry paths with nginx-style levels. The module is not
 * in default builds: its pure file is compiled into this program then.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <openssl/evp.h>
#include "pco_core.h"
#ifdef PCO_HAVE_CACHE
#include "pco_cache_key.h"
#else
#include "../../modules/cache/pco_cache_key.c"
#endif

#define PCO_S(lit)  { sizeof(lit) - 1, (u_char *) (lit) }

static void
pco_test_hex_expect(const pco_cache_key_t *key, const char *want)
{
    u_char  hex[PCO_CACHE_KEY_HEX];

    pco_cache_key_hex(hex, key);
    assert_memory_equal(hex, want, PCO_CACHE_KEY_HEX);
}

/* SHA-256 of bytes, truncated: what the key must be. */
static void
pco_test_sha(pco_cache_key_t *key, const void *p, size_t len)
{
    u_char    md[EVP_MAX_MD_SIZE];
    unsigned  n;

    assert_int_equal(EVP_Digest(p, len, md, &n, EVP_sha256(), NULL), 1);
    memcpy(key->md, md, PCO_CACHE_KEY_LEN);
}

static void
pco_test_hash(void **state)
{
    pco_cache_key_t  k, k2;
    pco_str_t        abc = PCO_S("abc"), empty = PCO_S("");

    (void) state;
    assert_int_equal(pco_cache_key_hash(&k, &abc), PCO_OK);
    pco_test_hex_expect(&k, "ba7816bf8f01cfea414140de5dae2223");
    assert_int_equal(pco_cache_key_hash(&k, &empty), PCO_OK);
    pco_test_hex_expect(&k, "e3b0c44298fc1c149afbf4c8996fb924");

    /* a variant without names is the plain key; with a NULL name list too */
    pco_str_t  none = PCO_S("");
    assert_int_equal(pco_cache_key_variant(&k2, &abc, &none, NULL, 0), PCO_OK);
    assert_int_equal(pco_cache_key_hash(&k, &abc), PCO_OK);
    assert_memory_equal(k.md, k2.md, PCO_CACHE_KEY_LEN);
    assert_int_equal(pco_cache_key_variant(&k2, &abc, NULL, NULL, 0), PCO_OK);
    assert_memory_equal(k.md, k2.md, PCO_CACHE_KEY_LEN);
}

static void
pco_test_variant_bytes(void **state)
{
    pco_cache_key_t     k, want;
    pco_str_t           text = PCO_S("httpexample.com/a");
    pco_str_t           names = PCO_S("accept-encoding,accept-language");
    pco_cache_header_t  h[] = {
        { PCO_S("Host"), PCO_S("example.com") },
        { PCO_S("ACCEPT-ENCODING"), PCO_S("  gzip ,  deflate ") },
        { PCO_S("accept-encoding"), PCO_S("br") },
    };
    static const char   bytes[] = "httpexample.com/a\0\naccept-encoding:gzip,deflate,br"
                                  "\naccept-language\0";

    (void) state;
    /* key, NUL, then per name "\n" name ":" combined value, or name NUL when absent */
    assert_int_equal(pco_cache_key_variant(&k, &text, &names, h, pco_nelems(h)), PCO_OK);
    pco_test_sha(&want, bytes, sizeof(bytes) - 1);
    assert_memory_equal(k.md, want.md, PCO_CACHE_KEY_LEN);
}

static void
pco_test_variant_key(pco_cache_key_t *k, const char *names, const pco_cache_header_t *h,
                     size_t n)
{
    pco_str_t  text = PCO_S("k");
    pco_str_t  nm = { strlen(names), (u_char *) names };

    assert_int_equal(pco_cache_key_variant(k, &text, &nm, h, n), PCO_OK);
}

static bool
pco_test_same(const pco_cache_header_t *a, size_t an, const pco_cache_header_t *b, size_t bn)
{
    pco_cache_key_t  ka, kb;

    pco_test_variant_key(&ka, "accept-encoding,x-a", a, an);
    pco_test_variant_key(&kb, "accept-encoding,x-a", b, bn);
    return memcmp(ka.md, kb.md, PCO_CACHE_KEY_LEN) == 0;
}

static void
pco_test_variant_equal(void **state)
{
    pco_cache_header_t  gz1[] = { { PCO_S("Accept-Encoding"), PCO_S("gzip, deflate") } };
    pco_cache_header_t  gz2[] = { { PCO_S("accept-encoding"), PCO_S("gzip,deflate") } };
    pco_cache_header_t  gz3[] = { { PCO_S("ACCEPT-ENCODING"), PCO_S("\tgzip ,, deflate ,") } };
    pco_cache_header_t  gz4[] = { { PCO_S("Accept-Encoding"), PCO_S("gzip") },
                                  { PCO_S("X-Other"), PCO_S("1") },
                                  { PCO_S("Accept-Encoding"), PCO_S("deflate") } };
    pco_cache_header_t  gz5[] = { { PCO_S("Accept-Encoding"), PCO_S("deflate, gzip") } };
    pco_cache_header_t  gz6[] = { { PCO_S("Accept-Encoding"), PCO_S("GZIP, deflate") } };
    pco_cache_header_t  gz7[] = { { PCO_S("Accept-Encoding"), PCO_S("gzip, deflate") },
                                  { PCO_S("X-A"), PCO_S("") } };
    pco_cache_header_t  gz8[] = { { PCO_S("Accept-Encoding"), PCO_S("gzip, deflate") },
                                  { PCO_S("X-A"), PCO_S(" , ") } };
    pco_cache_header_t  sp1[] = { { PCO_S("X-A"), PCO_S("a   b") } };
    pco_cache_header_t  sp2[] = { { PCO_S("X-A"), PCO_S("a \t b") } };
    pco_cache_header_t  sp3[] = { { PCO_S("X-A"), PCO_S("ab") } };
    pco_cache_header_t  sp4[] = { { PCO_S("X-A"), PCO_S("a,b") } };
    pco_cache_header_t  sp5[] = { { PCO_S("X-A"), PCO_S("a") }, { PCO_S("X-A"), PCO_S("b") } };
    pco_cache_header_t  sp6[] = { { PCO_S("X-A"), PCO_S("a,") }, { PCO_S("X-A"), PCO_S("b") } };
    pco_cache_header_t  sp7[] = { { PCO_S("X-A"), PCO_S("b") }, { PCO_S("X-A"), PCO_S("a") } };
    pco_cache_header_t  mv1[] = { { PCO_S("X-A"), PCO_S("1") },
                                  { PCO_S("Accept-Encoding"), PCO_S("2") } };
    pco_cache_header_t  mv2[] = { { PCO_S("X-A"), PCO_S("2") },
                                  { PCO_S("Accept-Encoding"), PCO_S("1") } };

    (void) state;
    assert_true(pco_test_same(gz1, 1, gz2, 1));
    assert_true(pco_test_same(gz1, 1, gz3, 1));
    assert_true(pco_test_same(gz1, 1, gz4, 3));
    assert_false(pco_test_same(gz1, 1, gz5, 1));    /* order kept */
    assert_true(pco_test_same(gz1, 1, gz6, 1));     /* case ignored */
    assert_false(pco_test_same(gz1, 1, gz7, 2));    /* absent differs from empty */
    assert_true(pco_test_same(gz7, 2, gz8, 2));     /* empty elements are nothing */
    assert_false(pco_test_same(gz1, 1, NULL, 0));
    assert_true(pco_test_same(NULL, 0, NULL, 0));
    assert_true(pco_test_same(sp1, 1, sp2, 1));
    assert_false(pco_test_same(sp1, 1, sp3, 1));
    assert_false(pco_test_same(sp1, 1, sp4, 1));
    assert_true(pco_test_same(sp4, 1, sp5, 2));
    assert_true(pco_test_same(sp5, 2, sp6, 2));
    assert_false(pco_test_same(sp5, 2, sp7, 2));
    /* values cannot move between headers */
    assert_false(pco_test_same(mv1, 2, mv2, 2));
}

static void
pco_test_variant_names_matter(void **state)
{
    pco_cache_key_t     a, b, plain;
    pco_cache_header_t  h[] = { { PCO_S("Accept-Encoding"), PCO_S("gzip") } };
    pco_str_t           text = PCO_S("k");

    (void) state;
    pco_test_variant_key(&a, "accept-encoding", h, 1);
    pco_test_variant_key(&b, "accept-language", h, 1);
    assert_memory_not_equal(a.md, b.md, PCO_CACHE_KEY_LEN);
    /* varying on a header the request lacks still differs from the plain key */
    assert_int_equal(pco_cache_key_hash(&plain, &text), PCO_OK);
    assert_memory_not_equal(b.md, plain.md, PCO_CACHE_KEY_LEN);
    assert_memory_not_equal(a.md, plain.md, PCO_CACHE_KEY_LEN);
}

static void
pco_test_normalize_expect(const char *in, const char *want)
{
    u_char  out[128];
    size_t  n;

    n = pco_cache_vary_normalize(out, (const u_char *) in, strlen(in));
    assert_true(n <= strlen(in));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

static void
pco_test_normalize(void **state)
{
    (void) state;
    pco_test_normalize_expect("", "");
    pco_test_normalize_expect("   ", "");
    pco_test_normalize_expect(",,, ,", "");
    pco_test_normalize_expect("gzip", "gzip");
    pco_test_normalize_expect(" gzip , deflate ", "gzip,deflate");
    pco_test_normalize_expect("gzip;q=1.0,\tbr ;q=0.5", "gzip;q=1.0,br ;q=0.5");
    pco_test_normalize_expect("en-US,  en;q=0.9", "en-us,en;q=0.9");
    pco_test_normalize_expect("a  \t b   c", "a b c");
    pco_test_normalize_expect("A,,B", "a,b");
}

static void
pco_test_names_expect(const char *v1, const char *v2, const char *want)
{
    pco_str_t  v[2] = { { strlen(v1), (u_char *) v1 }, { 0, NULL } };
    u_char     out[256];
    ssize_t    n;

    if (v2 != NULL) {
        v[1].len = strlen(v2);
        v[1].data = (u_char *) v2;
    }
    n = pco_cache_vary_names(out, sizeof(out), v, v2 != NULL ? 2 : 1);
    if (want == NULL) {
        assert_int_equal(n, -1);
        return;
    }
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, (size_t) n);
}

static void
pco_test_vary_names(void **state)
{
    pco_str_t  v = PCO_S("accept-encoding, accept-language");
    u_char     out[32];

    (void) state;
    pco_test_names_expect("", NULL, "");
    pco_test_names_expect("Accept-Encoding", NULL, "accept-encoding");
    pco_test_names_expect("User-Agent, Accept-Encoding", NULL, "accept-encoding,user-agent");
    pco_test_names_expect("accept-encoding", "ACCEPT-ENCODING, Cookie", "accept-encoding,cookie");
    pco_test_names_expect(" , x-b,,x-a ,", "x-ab, x-a", "x-a,x-ab,x-b");
    pco_test_names_expect("Accept-Encoding, *", NULL, NULL);
    pco_test_names_expect("bad name", NULL, NULL);
    pco_test_names_expect("a\"b", NULL, NULL);
    pco_test_names_expect("x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                          NULL, NULL);          /* 66 bytes: longer than a name may be */
    pco_test_names_expect("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,aa,ab,ac,ad,"
                          "ae,af", NULL, "a,aa,ab,ac,ad,ae,af,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,"
                          "q,r,s,t,u,v,w,x,y,z");
    pco_test_names_expect("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,aa,ab,ac,ad,"
                          "ae,af,ag", NULL, NULL);  /* 33 names */
    /* the output buffer: exact fit, one byte short */
    assert_int_equal(pco_cache_vary_names(out, 31, &v, 1), 31);
    assert_memory_equal(out, "accept-encoding,accept-language", 31);
    assert_int_equal(pco_cache_vary_names(out, 30, &v, 1), -1);
}

static void
pco_test_hex(void **state)
{
    pco_cache_key_t  k;
    u_char           hex[PCO_CACHE_KEY_HEX];

    (void) state;
    assert_true(pco_cache_key_from_hex(&k, (const u_char *) "b7f54b2df7773722d382f4809d65029c",
                                       32));
    assert_int_equal(k.md[0], 0xb7);
    assert_int_equal(k.md[15], 0x9c);
    pco_cache_key_hex(hex, &k);
    assert_memory_equal(hex, "b7f54b2df7773722d382f4809d65029c", 32);
    assert_true(pco_cache_key_from_hex(&k, (const u_char *) "B7F54B2DF7773722D382F4809D65029C",
                                       32));
    pco_test_hex_expect(&k, "b7f54b2df7773722d382f4809d65029c");
    assert_false(pco_cache_key_from_hex(&k, (const u_char *) "b7f54b2df7773722d382f4809d65029",
                                        31));
    assert_false(pco_cache_key_from_hex(&k, (const u_char *) "b7f54b2df7773722d382f4809d65029cc",
                                        33));
    assert_false(pco_cache_key_from_hex(&k, (const u_char *) "g7f54b2df7773722d382f4809d65029c",
                                        32));
    assert_false(pco_cache_key_from_hex(&k, (const u_char *) "b7f54b2df7773722d382f4809d65029 ",
                                        32));
}

static void
pco_test_path(void **state)
{
    pco_cache_key_t  k;
    char             out[128];
    pco_str_t        dir = PCO_S("/var/cache/p"), slash = PCO_S("/var/cache/p//");
    pco_str_t        root = PCO_S("/"), empty = PCO_S("");
    unsigned         l12[] = { 1, 2 }, l2[] = { 2 }, l221[] = { 2, 2, 1 };
    unsigned         l0[] = { 0 }, l3[] = { 3 }, l1111[] = { 1, 1, 1, 1 };

    (void) state;
    assert_true(pco_cache_key_from_hex(&k, (const u_char *) "b7f54b2df7773722d382f4809d65029c",
                                       32));
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &dir, l12, 2, &k), 50);
    assert_string_equal(out, "/var/cache/p/c/29/b7f54b2df7773722d382f4809d65029c");
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &slash, l12, 2, &k), 50);
    assert_string_equal(out, "/var/cache/p/c/29/b7f54b2df7773722d382f4809d65029c");
    assert_true(pco_cache_key_path(out, sizeof(out), &dir, l2, 1, &k) > 0);
    assert_string_equal(out, "/var/cache/p/9c/b7f54b2df7773722d382f4809d65029c");
    assert_true(pco_cache_key_path(out, sizeof(out), &dir, l221, 3, &k) > 0);
    assert_string_equal(out, "/var/cache/p/9c/02/5/b7f54b2df7773722d382f4809d65029c");
    assert_true(pco_cache_key_path(out, sizeof(out), &root, l12, 2, &k) > 0);
    assert_string_equal(out, "/c/29/b7f54b2df7773722d382f4809d65029c");

    /* exactly enough room for the NUL; one byte short */
    assert_int_equal(pco_cache_key_path(out, 51, &dir, l12, 2, &k), 50);
    assert_int_equal(pco_cache_key_path(out, 50, &dir, l12, 2, &k), -1);
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &empty, l12, 2, &k), -1);
    /* levels */
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &dir, l0, 1, &k), -1);
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &dir, l3, 1, &k), -1);
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &dir, l1111, 4, &k), -1);
    assert_int_equal(pco_cache_key_path(out, sizeof(out), &dir, l12, 0, &k), -1);
    assert_true(pco_cache_levels_valid(l221, 3));
    assert_false(pco_cache_levels_valid(l1111, 4));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_hash),
        cmocka_unit_test(pco_test_variant_bytes),
        cmocka_unit_test(pco_test_variant_equal),
        cmocka_unit_test(pco_test_variant_names_matter),
        cmocka_unit_test(pco_test_normalize),
        cmocka_unit_test(pco_test_vary_names),
        cmocka_unit_test(pco_test_hex),
        cmocka_unit_test(pco_test_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
