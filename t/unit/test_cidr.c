/*
 * test_cidr.c: core/pco_cidr.c. Parsing of IPv4 and IPv6 ranges and single addresses, the
 * prefix limits (/0, /32, /128), the errors (host bits set, bad prefixes, bad text), matching
 * of IPv4, IPv6, IPv4-mapped IPv6 and unix-socket peers, bare address literals, and the
 * list match of core/pco_cidr_list.c (the empty list trusts nobody).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include "pco_core.h"
#include "pco_cidr.h"
#include "pco_cidr_list.h"

/* Parses a NUL-terminated range that must be valid. */
static pco_cidr_t
pco_test_cidr(const char *text)
{
    pco_cidr_t   cidr;
    const char  *err = NULL;

    assert_int_equal(pco_cidr_parse(text, strlen(text), &cidr, &err), PCO_OK);
    return cidr;
}

/* Returns the error message for a range that must be refused. */
static const char *
pco_test_cidr_err(const char *text)
{
    pco_cidr_t   cidr;
    const char  *err = NULL;

    assert_int_equal(pco_cidr_parse(text, strlen(text), &cidr, &err), PCO_ERROR);
    assert_non_null(err);
    return err;
}

static pco_sockaddr_t
pco_test_peer(const char *text)
{
    pco_sockaddr_t  sa;

    memset(&sa, 0, sizeof(sa));
    if (strcmp(text, "unix:") == 0) {
        sa.sun.sun_family = AF_UNIX;
    } else if (strchr(text, ':') != NULL) {
        sa.sin6.sin6_family = AF_INET6;
        sa.sin6.sin6_port = htons(4321);
        assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6.sin6_addr), 1);
    } else {
        sa.sin.sin_family = AF_INET;
        sa.sin.sin_port = htons(4321);
        assert_int_equal(inet_pton(AF_INET, text, &sa.sin.sin_addr), 1);
    }
    return sa;
}

static bool
pco_test_match(const char *range, const char *peer)
{
    pco_cidr_t      cidr = pco_test_cidr(range);
    pco_sockaddr_t  sa = pco_test_peer(peer);

    return pco_cidr_match(&cidr, &sa);
}

static void
pco_test_parse_ipv4(void **state)
{
    pco_cidr_t     c;
    const uint8_t  net[4] = { 10, 0, 0, 0 };
    const uint8_t  host[4] = { 192, 0, 2, 7 };
    const uint8_t  zero[16] = { 0 };

    (void) state;
    c = pco_test_cidr("10.0.0.0/8");
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.bits, 8);
    assert_memory_equal(c.addr, net, 4);
    assert_memory_equal(c.addr + 4, zero, 12);

    c = pco_test_cidr("192.0.2.7");
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.bits, 32);
    assert_memory_equal(c.addr, host, 4);

    c = pco_test_cidr("192.0.2.7/32");
    assert_int_equal(c.bits, 32);
    assert_memory_equal(c.addr, host, 4);

    c = pco_test_cidr("0.0.0.0/0");
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.bits, 0);
    assert_memory_equal(c.addr, zero, 16);

    c = pco_test_cidr("172.16.0.0/12");
    assert_int_equal(c.bits, 12);
    assert_int_equal(c.addr[0], 172);
    assert_int_equal(c.addr[1], 16);
}

static void
pco_test_parse_ipv6(void **state)
{
    pco_cidr_t     c;
    const uint8_t  db8[16] = { 0x20, 0x01, 0x0d, 0xb8 };
    const uint8_t  one[16] = { [15] = 1 };
    const uint8_t  zero[16] = { 0 };

    (void) state;
    c = pco_test_cidr("2001:db8::/32");
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.bits, 32);
    assert_memory_equal(c.addr, db8, 16);

    c = pco_test_cidr("::1");
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.bits, 128);
    assert_memory_equal(c.addr, one, 16);

    c = pco_test_cidr("::1/128");
    assert_int_equal(c.bits, 128);

    c = pco_test_cidr("::/0");
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.bits, 0);
    assert_memory_equal(c.addr, zero, 16);

    c = pco_test_cidr("fe80::/10");
    assert_int_equal(c.bits, 10);
    assert_int_equal(c.addr[0], 0xfe);
    assert_int_equal(c.addr[1], 0x80);

    c = pco_test_cidr("::ffff:10.0.0.0/104");
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.bits, 104);
    assert_int_equal(c.addr[12], 10);
}

static void
pco_test_parse_unix(void **state)
{
    pco_cidr_t  c = pco_test_cidr("unix:");

    (void) state;
    assert_int_equal(c.family, AF_UNIX);
    assert_string_equal(pco_test_cidr_err("unix:/tmp/x"), "invalid address");
    assert_string_equal(pco_test_cidr_err("unix"), "invalid address");
    assert_string_equal(pco_test_cidr_err("UNIX:"), "invalid address");
}

static void
pco_test_parse_errors(void **state)
{
    static const char  *bad_text[] = {
        "", "/8", "10.0.0", "10.0.0.0.0", "256.0.0.0", "10.0.0.x", " 10.0.0.0", "10.0.0.0 ",
        "1.2.3.4/", "example.com", "2001:db8:::/32", "fe80::1%eth0", "::g", "10.0.0.0/8/8",
        "1.2.3.04", "[::1]", "[::1]/128", "localhost", "-1",
    };
    static const char  *bad_prefix[] = {
        "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/0008",
        "::/1x",
    };
    const char         *with_nul = "10.0.0.0\0/8";
    pco_cidr_t          c;
    const char         *err = NULL;
    size_t              i;

    (void) state;
    for (i = 0; i < pco_nelems(bad_text); i++) {
        const char  *e = pco_test_cidr_err(bad_text[i]);

        /* "1.2.3.4/" and "10.0.0.0/8/8" reach the prefix parser; the rest fail as text */
        if (strcmp(bad_text[i], "1.2.3.4/") == 0 || strcmp(bad_text[i], "10.0.0.0/8/8") == 0) {
            assert_string_equal(e, "invalid prefix length");
        } else {
            assert_string_equal(e, "invalid address");
        }
    }
    for (i = 0; i < pco_nelems(bad_prefix); i++) {
        assert_string_equal(pco_test_cidr_err(bad_prefix[i]), "invalid prefix length");
    }

    assert_string_equal(pco_test_cidr_err("10.0.0.0/33"), "prefix length out of range");
    assert_string_equal(pco_test_cidr_err("10.0.0.0/999"), "prefix length out of range");
    assert_string_equal(pco_test_cidr_err("::/129"), "prefix length out of range");

    assert_int_equal(pco_cidr_parse(with_nul, 11, &c, &err), PCO_ERROR);
    assert_string_equal(err, "invalid address");
    /* the length is honoured: only "10.0.0.0" of "10.0.0.0/8" */
    err = NULL;
    assert_int_equal(pco_cidr_parse("10.0.0.0/8", 8, &c, &err), PCO_OK);
    assert_int_equal(c.bits, 32);
}

static void
pco_test_parse_host_bits(void **state)
{
    const char  *msg = "host bits set in the address (use the network address)";

    (void) state;
    assert_string_equal(pco_test_cidr_err("10.1.2.3/8"), msg);
    assert_string_equal(pco_test_cidr_err("10.0.0.1/31"), msg);
    assert_string_equal(pco_test_cidr_err("0.0.0.1/0"), msg);
    assert_string_equal(pco_test_cidr_err("172.17.0.0/12"), msg);
    assert_string_equal(pco_test_cidr_err("2001:db8::1/32"), msg);
    assert_string_equal(pco_test_cidr_err("::1/127"), msg);
    assert_string_equal(pco_test_cidr_err("fec0::/9"), msg);
    /* the last allowed bit */
    pco_test_cidr("10.0.0.1/32");
    pco_test_cidr("10.0.0.2/31");
    pco_test_cidr("::2/127");
}

static void
pco_test_match_ipv4(void **state)
{
    (void) state;
    assert_true(pco_test_match("10.0.0.0/8", "10.0.0.0"));
    assert_true(pco_test_match("10.0.0.0/8", "10.255.255.255"));
    assert_false(pco_test_match("10.0.0.0/8", "11.0.0.0"));
    assert_false(pco_test_match("10.0.0.0/8", "9.255.255.255"));
    assert_true(pco_test_match("172.16.0.0/12", "172.31.1.1"));
    assert_false(pco_test_match("172.16.0.0/12", "172.32.0.0"));
    assert_true(pco_test_match("192.0.2.7", "192.0.2.7"));
    assert_false(pco_test_match("192.0.2.7", "192.0.2.6"));
    assert_true(pco_test_match("192.0.2.7/32", "192.0.2.7"));
    assert_true(pco_test_match("0.0.0.0/0", "1.2.3.4"));
    assert_true(pco_test_match("0.0.0.0/0", "255.255.255.255"));
    /* IPv4 ranges never match a real IPv6 peer, nor a unix one */
    assert_false(pco_test_match("0.0.0.0/0", "::1"));
    assert_false(pco_test_match("0.0.0.0/0", "2001:db8::1"));
    assert_false(pco_test_match("0.0.0.0/0", "::"));
    assert_false(pco_test_match("0.0.0.0/0", "unix:"));
}

static void
pco_test_match_ipv6(void **state)
{
    (void) state;
    assert_true(pco_test_match("2001:db8::/32", "2001:db8::1"));
    assert_true(pco_test_match("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(pco_test_match("2001:db8::/32", "2001:db9::"));
    assert_true(pco_test_match("::1", "::1"));
    assert_true(pco_test_match("::1/128", "::1"));
    assert_false(pco_test_match("::1", "::2"));
    assert_true(pco_test_match("fe80::/10", "febf::1"));
    assert_false(pco_test_match("fe80::/10", "fec0::1"));
    assert_true(pco_test_match("::/0", "2001:db8::1"));
    assert_false(pco_test_match("::/0", "1.2.3.4"));
    assert_false(pco_test_match("::1", "127.0.0.1"));
    assert_false(pco_test_match("::/0", "unix:"));
}

static void
pco_test_match_mapped(void **state)
{
    (void) state;
    assert_true(pco_test_match("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(pco_test_match("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(pco_test_match("127.0.0.1", "::ffff:127.0.0.1"));
    assert_true(pco_test_match("0.0.0.0/0", "::ffff:1.2.3.4"));
    /* not mapped: the IPv4-compatible form and a near miss of the prefix */
    assert_false(pco_test_match("10.0.0.0/8", "::10.1.2.3"));
    assert_false(pco_test_match("10.0.0.0/8", "::fffe:10.1.2.3"));
    assert_false(pco_test_match("10.0.0.0/8", "1::ffff:10.1.2.3"));
    /* a mapped peer is still an IPv6 address for IPv6 ranges */
    assert_true(pco_test_match("::ffff:0.0.0.0/96", "::ffff:10.1.2.3"));
    assert_true(pco_test_match("::/0", "::ffff:10.1.2.3"));
}

static void
pco_test_match_unix(void **state)
{
    (void) state;
    assert_true(pco_test_match("unix:", "unix:"));
    assert_false(pco_test_match("unix:", "127.0.0.1"));
    assert_false(pco_test_match("unix:", "::1"));
    assert_false(pco_test_match("10.0.0.0/8", "unix:"));
    assert_false(pco_cidr_match(NULL, NULL));
}

static void
pco_test_addr_parse(void **state)
{
    pco_sockaddr_t  sa;
    socklen_t       len = 0;
    const uint8_t   v4[4] = { 203, 0, 113, 9 };
    const uint8_t   v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 };

    (void) state;
    memset(&sa, 0xaa, sizeof(sa));
    assert_int_equal(pco_addr_parse("203.0.113.9", 11, &sa, &len), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(sa.sin.sin_port, 0);
    assert_memory_equal(&sa.sin.sin_addr, v4, 4);

    memset(&sa, 0xaa, sizeof(sa));
    assert_int_equal(pco_addr_parse("2001:db8::5", 11, &sa, &len), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(sa.sin6.sin6_port, 0);
    assert_int_equal(sa.sin6.sin6_scope_id, 0);
    assert_memory_equal(&sa.sin6.sin6_addr, v6, 16);

    /* only len bytes are read */
    assert_int_equal(pco_addr_parse("1.2.3.4, 5.6.7.8", 7, &sa, &len), PCO_OK);
    assert_int_equal(sa.sin.sin_addr.s_addr, htonl(0x01020304));

    assert_int_equal(pco_addr_parse("", 0, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("10.0.0.0/8", 10, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("1.2.3.4:80", 10, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("[::1]", 5, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse(" 1.2.3.4", 8, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("unknown", 7, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("unix:", 5, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("1.2.3.4\0", 8, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse("fe80::1%lo", 10, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse(
        "0000:0000:0000:0000:0000:ffff:255.255.255.255:1", 47, &sa, &len), PCO_ERROR);
    assert_int_equal(pco_addr_parse(
        "0000:0000:0000:0000:0000:ffff:255.255.255.255", 45, &sa, &len), PCO_OK);
}

static void
pco_test_list_match(void **state)
{
    pco_cidr_t       elts[3] = { pco_test_cidr("10.0.0.0/8"), pco_test_cidr("::1"),
                                 pco_test_cidr("unix:") };
    pco_cidr_list_t  l = { elts, 3 }, empty = { elts, 0 };
    pco_sockaddr_t   a = pco_test_peer("10.200.0.1"), b = pco_test_peer("11.0.0.1"),
                     c = pco_test_peer("::1"), d = pco_test_peer("::2"),
                     e = pco_test_peer("unix:"), f = pco_test_peer("::ffff:10.1.1.1");

    (void) state;
    assert_true(pco_cidr_list_match(&l, &a));
    assert_false(pco_cidr_list_match(&l, &b));
    assert_true(pco_cidr_list_match(&l, &c));
    assert_false(pco_cidr_list_match(&l, &d));
    assert_true(pco_cidr_list_match(&l, &e));
    assert_true(pco_cidr_list_match(&l, &f));
    assert_false(pco_cidr_list_match(&empty, &a));
    assert_false(pco_cidr_list_match(&empty, &e));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_parse_ipv4),
        cmocka_unit_test(pco_test_parse_ipv6),
        cmocka_unit_test(pco_test_parse_unix),
        cmocka_unit_test(pco_test_parse_errors),
        cmocka_unit_test(pco_test_parse_host_bits),
        cmocka_unit_test(pco_test_match_ipv4),
        cmocka_unit_test(pco_test_match_ipv6),
        cmocka_unit_test(pco_test_match_mapped),
        cmocka_unit_test(pco_test_match_unix),
        cmocka_unit_test(pco_test_addr_parse),
        cmocka_unit_test(pco_test_list_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
