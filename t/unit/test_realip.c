/*
 * test_realip.c: the pure part of modules/realip: one header entry (bare, bracketed, with a
 * port, garbage) and the right-to-left walk over a list (rightmost untrusted, trusted
 * entries skipped, all trusted -> leftmost, garbage stops the walk, empty entries,
 * IPv4-mapped entries, unix: never matching an address). Skipped in a build without the
 * module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include "pco_core.h"

#ifdef PCO_HAVE_REALIP

#include "pco_cidr.h"
#include "pco_realip.h"

static pco_cidr_t  pco_test_from[4];
static size_t      pco_test_nfrom;

static void
pco_test_trust(const char *const *ranges)
{
    const char  *err;

    for (pco_test_nfrom = 0; ranges[pco_test_nfrom] != NULL; pco_test_nfrom++) {
        assert_int_equal(pco_cidr_parse(ranges[pco_test_nfrom], strlen(ranges[pco_test_nfrom]),
                                        &pco_test_from[pco_test_nfrom], &err), PCO_OK);
    }
}

/* The address the walk finds, as text ("-" when it declines). */
static const char *
pco_test_walk(const char *list)
{
    static char     buf[INET6_ADDRSTRLEN];
    pco_sockaddr_t  sa;
    socklen_t       len = 0;
    int             rc;

    rc = pco_realip_walk((const u_char *) list, strlen(list), pco_test_from, pco_test_nfrom,
                         &sa, &len);
    if (rc == PCO_DECLINED) {
        return "-";
    }
    assert_int_equal(rc, PCO_OK);
    if (sa.sa.sa_family == AF_INET) {
        assert_int_equal(len, sizeof(struct sockaddr_in));
        assert_int_equal(sa.sin.sin_port, 0);
        assert_non_null(inet_ntop(AF_INET, &sa.sin.sin_addr, buf, sizeof(buf)));
    } else {
        assert_int_equal(sa.sa.sa_family, AF_INET6);
        assert_int_equal(len, sizeof(struct sockaddr_in6));
        assert_int_equal(sa.sin6.sin6_port, 0);
        assert_non_null(inet_ntop(AF_INET6, &sa.sin6.sin6_addr, buf, sizeof(buf)));
    }
    return buf;
}

static bool
pco_test_entry_ok(const char *text)
{
    pco_sockaddr_t  sa;
    socklen_t       len;

    return pco_realip_parse_entry((const u_char *) text, strlen(text), &sa, &len) == PCO_OK;
}

static void
pco_test_entries(void **state)
{
    (void) state;
    assert_true(pco_test_entry_ok("192.0.2.1"));
    assert_true(pco_test_entry_ok("192.0.2.1:8080"));
    assert_true(pco_test_entry_ok("192.0.2.1:65535"));
    assert_true(pco_test_entry_ok("2001:db8::1"));
    assert_true(pco_test_entry_ok("[2001:db8::1]"));
    assert_true(pco_test_entry_ok("[2001:db8::1]:443"));
    assert_true(pco_test_entry_ok("::ffff:192.0.2.1"));

    assert_false(pco_test_entry_ok(""));
    assert_false(pco_test_entry_ok("unknown"));
    assert_false(pco_test_entry_ok("unix:"));
    assert_false(pco_test_entry_ok("192.0.2.1:"));
    assert_false(pco_test_entry_ok("192.0.2.1:65536"));
    assert_false(pco_test_entry_ok("192.0.2.1:123456"));
    assert_false(pco_test_entry_ok("192.0.2.1:x"));
    assert_false(pco_test_entry_ok("192.0.2.256"));
    assert_false(pco_test_entry_ok(" 192.0.2.1"));
    assert_false(pco_test_entry_ok("[192.0.2.1]"));
    assert_false(pco_test_entry_ok("[2001:db8::1"));
    assert_false(pco_test_entry_ok("[2001:db8::1]:"));
    assert_false(pco_test_entry_ok("[2001:db8::1]x"));
    assert_false(pco_test_entry_ok("[2001:db8::1]:1:2"));
    assert_false(pco_test_entry_ok("[]"));
    assert_false(pco_test_entry_ok("2001:db8::1%eth0"));
    assert_false(pco_test_entry_ok("10.0.0.0/8"));
}

static void
pco_test_walk_ipv4(void **state)
{
    static const char *const  from[] = { "10.0.0.0/8", "127.0.0.1", NULL };

    (void) state;
    pco_test_trust(from);
    assert_string_equal(pco_test_walk("203.0.113.7"), "203.0.113.7");
    assert_string_equal(pco_test_walk("198.51.100.1, 203.0.113.7"), "203.0.113.7");
    assert_string_equal(pco_test_walk("203.0.113.7, 10.1.1.1"), "203.0.113.7");
    assert_string_equal(pco_test_walk("1.1.1.1, 203.0.113.7, 10.1.1.1, 127.0.0.1"),
                        "203.0.113.7");
    assert_string_equal(pco_test_walk("10.0.0.1, 10.0.0.2"), "10.0.0.1");
    assert_string_equal(pco_test_walk("10.0.0.1"), "10.0.0.1");
    assert_string_equal(pco_test_walk("127.0.0.2"), "127.0.0.2");
    /* garbage stops the walk and keeps the last good address */
    assert_string_equal(pco_test_walk("203.0.113.7, junk, 10.0.0.5"), "10.0.0.5");
    assert_string_equal(pco_test_walk("203.0.113.7, 10.0.0.5, junk"), "-");
    assert_string_equal(pco_test_walk("junk"), "-");
    /* separators */
    assert_string_equal(pco_test_walk(""), "-");
    assert_string_equal(pco_test_walk(",, ,\t,"), "-");
    assert_string_equal(pco_test_walk("203.0.113.7,,10.0.0.1 ,"), "203.0.113.7");
    assert_string_equal(pco_test_walk("\t203.0.113.7\t,10.0.0.1"), "203.0.113.7");
    assert_string_equal(pco_test_walk(",203.0.113.7"), "203.0.113.7");
    assert_string_equal(pco_test_walk("203.0.113.7 10.0.0.1"), "-");
    /* ports */
    assert_string_equal(pco_test_walk("203.0.113.9:8080, 10.0.0.1:1"), "203.0.113.9");
}

static void
pco_test_walk_ipv6(void **state)
{
    static const char *const  from[] = { "2001:db8::/32", "10.0.0.0/8", "unix:", NULL };

    (void) state;
    pco_test_trust(from);
    assert_string_equal(pco_test_walk("2001:db9::7, 2001:db8:1::5"), "2001:db9::7");
    assert_string_equal(pco_test_walk("[2001:db9::8]:4430, 2001:db8::1"), "2001:db9::8");
    assert_string_equal(pco_test_walk("2001:db8::1, 2001:db8::2"), "2001:db8::1");
    assert_string_equal(pco_test_walk("203.0.113.1, 2001:db8::2"), "203.0.113.1");
    /* IPv4-mapped entries match IPv4 ranges */
    assert_string_equal(pco_test_walk("203.0.113.1, ::ffff:10.0.0.1"), "203.0.113.1");
    assert_string_equal(pco_test_walk("::ffff:203.0.113.1, ::ffff:10.0.0.1"),
                        "::ffff:203.0.113.1");
    /* unix: trusts unix peers, never an address */
    assert_string_equal(pco_test_walk("203.0.113.1, unix:"), "-");
}

static void
pco_test_trusted(void **state)
{
    static const char *const  from[] = { "10.0.0.0/8", "unix:", NULL };
    pco_sockaddr_t            sa;

    (void) state;
    pco_test_trust(from);
    memset(&sa, 0, sizeof(sa));
    sa.sun.sun_family = AF_UNIX;
    assert_true(pco_realip_trusted(pco_test_from, pco_test_nfrom, &sa));
    memset(&sa, 0, sizeof(sa));
    sa.sin.sin_family = AF_INET;
    sa.sin.sin_addr.s_addr = htonl(0x0a010203);
    assert_true(pco_realip_trusted(pco_test_from, pco_test_nfrom, &sa));
    sa.sin.sin_addr.s_addr = htonl(0x0b010203);
    assert_false(pco_realip_trusted(pco_test_from, pco_test_nfrom, &sa));
    assert_false(pco_realip_trusted(pco_test_from, 0, &sa));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_entries),
        cmocka_unit_test(pco_test_walk_ipv4),
        cmocka_unit_test(pco_test_walk_ipv6),
        cmocka_unit_test(pco_test_trusted),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void
pco_test_skip(void **state)
{
    (void) state;
    skip();   /* built without the realip module */
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
