/*
 * test_proxy_protocol.c: core/pco_proxy_protocol.c. Version 1 (TCP4, TCP6, UNKNOWN) and
 * version 2 (PROXY over AF_INET, AF_INET6, AF_UNIX and AF_UNSPEC, LOCAL, TLVs) headers, every
 * prefix of a valid header asking for more, bytes after a header left alone, and the refusals:
 * bad signatures, versions, commands, families, oversize lines and blocks, truncated TLVs,
 * bad addresses and ports. Then the builder, checked byte for byte and parsed back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include "pco_core.h"
#include "pco_proxy_protocol.h"

static const u_char  pco_test_sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/* The address of sa as text with its port, "a.b.c.d:p" or "[v6]:p". */
static const char *
pco_test_addr(const pco_sockaddr_t *sa)
{
    static char  out[2][80];
    static int   k;
    char         t[INET6_ADDRSTRLEN];
    char        *o = out[k++ & 1];

    if (sa->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &sa->sin.sin_addr, t, sizeof(t));
        snprintf(o, 80, "%s:%u", t, (unsigned) ntohs(sa->sin.sin_port));
    } else if (sa->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &sa->sin6.sin6_addr, t, sizeof(t));
        snprintf(o, 80, "[%s]:%u", t, (unsigned) ntohs(sa->sin6.sin6_port));
    } else {
        snprintf(o, 80, "family %d", sa->sa.sa_family);
    }
    return o;
}

/* Every strict prefix of a valid header of len bytes gives PCO_AGAIN. */
static void
pco_test_prefixes(const u_char *buf, size_t len)
{
    pco_proxy_protocol_t  pp;
    size_t                i;

    for (i = 0; i < len; i++) {
        if (pco_proxy_protocol_parse(buf, i, &pp) != PCO_AGAIN) {
            fail_msg("prefix of %zu bytes (of %zu) was not PCO_AGAIN", i, len);
        }
    }
}

static void
pco_test_parse_ok(const u_char *buf, size_t len, pco_proxy_protocol_t *pp)
{
    pco_test_prefixes(buf, len);
    assert_int_equal(pco_proxy_protocol_parse(buf, len, pp), PCO_OK);
    assert_int_equal(pp->len, len);
}

static const char *
pco_test_parse_err(const u_char *buf, size_t len)
{
    pco_proxy_protocol_t  pp;

    assert_int_equal(pco_proxy_protocol_parse(buf, len, &pp), PCO_ERROR);
    assert_non_null(pp.error);
    return pp.error;
}

#define PCO_S(s)  (const u_char *) (s), sizeof(s) - 1

static void
pco_test_v1_tcp4(void **state)
{
    pco_proxy_protocol_t  pp;
    const char           *h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    size_t                hl = strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");

    (void) state;
    pco_test_parse_ok((const u_char *) h, hl, &pp);
    /* bytes after the header are not looked at and not counted */
    assert_int_equal(pco_proxy_protocol_parse((const u_char *) h, strlen(h), &pp), PCO_OK);
    assert_int_equal(pp.len, hl);
    assert_int_equal(pp.version, 1);
    assert_false(pp.local);
    assert_string_equal(pco_test_addr(&pp.src), "192.0.2.1:56324");
    assert_string_equal(pco_test_addr(&pp.dst), "198.51.100.2:443");
    assert_int_equal(pp.src_len, sizeof(struct sockaddr_in));
}

static void
pco_test_v1_tcp6(void **state)
{
    pco_proxy_protocol_t  pp;

    (void) state;
    pco_test_parse_ok(PCO_S("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n"), &pp);
    assert_string_equal(pco_test_addr(&pp.src), "[2001:db8::1]:65535");
    assert_string_equal(pco_test_addr(&pp.dst), "[::1]:0");
    /* the longest possible line: 107 bytes */
    pco_test_parse_ok(PCO_S("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), &pp);
    assert_int_equal(pp.len, 104);
}

static void
pco_test_v1_unknown(void **state)
{
    pco_proxy_protocol_t  pp;

    (void) state;
    pco_test_parse_ok(PCO_S("PROXY UNKNOWN\r\n"), &pp);
    assert_true(pp.local);
    assert_int_equal(pp.version, 1);
    /* what follows UNKNOWN is ignored */
    pco_test_parse_ok(PCO_S("PROXY UNKNOWN ffff::1 whatever 1 2\r\n"), &pp);
    assert_true(pp.local);
}

static void
pco_test_v1_errors(void **state)
{
    u_char  big[200];

    (void) state;
    assert_string_equal(pco_test_parse_err(PCO_S("GET / HTTP/1.1\r\n")),
                        "no PROXY protocol signature");
    /* refused at the first byte that cannot belong to a header */
    assert_string_equal(pco_test_parse_err(PCO_S("PRX")), "bad v1 signature");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY\r\n")), "bad v1 signature");
    pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"));
    pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"));
    pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4\x01"));
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n")),
                        "unknown v1 protocol");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY \r\n")), "unknown v1 protocol");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY UNKNOWNX\r\n")),
                        "unknown v1 protocol");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 ::1 ::1 1 2\r\n")),
                        "bad v1 address");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP6 1.2.3.4 ::1 1 2\r\n")),
                        "bad v1 address");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n")),
                        "bad v1 port");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n")),
                        "bad v1 port");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n")),
                        "bad v1 address fields");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n")),
                        "bad v1 address fields");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n")),
                        "bad v1 address fields");
    assert_string_equal(pco_test_parse_err(PCO_S("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")),
                        "bad v1 address fields");
    /* no CR within the first 106 bytes: refused, never waiting for more */
    memcpy(big, "PROXY UNKNOWN ", 14);
    memset(big + 14, 'a', sizeof(big) - 14);
    assert_int_equal(pco_proxy_protocol_parse(big, 105, &(pco_proxy_protocol_t){0}),
                     PCO_AGAIN);
    assert_string_equal(pco_test_parse_err(big, 106), "v1 header longer than 107 bytes");
    assert_string_equal(pco_test_parse_err(big, 107), "v1 header longer than 107 bytes");
    assert_string_equal(pco_test_parse_err(big, sizeof(big)),
                        "v1 header longer than 107 bytes");
    big[105] = '\r';
    big[106] = '\n';
    assert_int_equal(pco_proxy_protocol_parse(big, sizeof(big), &(pco_proxy_protocol_t){0}),
                     PCO_OK);
    big[105] = 'a';
    big[106] = '\r';
    big[107] = '\n';
    pco_test_parse_err(big, sizeof(big));
}

/* A v2 header: signature, ver_cmd, fam, then blen bytes of body (length written here). */
static size_t
pco_test_v2(u_char *out, u_char ver_cmd, u_char fam, const u_char *body, size_t blen)
{
    memcpy(out, pco_test_sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (u_char) (blen >> 8);
    out[15] = (u_char) blen;
    if (blen > 0) {
        memcpy(out + 16, body, blen);
    }
    return 16 + blen;
}

static void
pco_test_v2_inet(void **state)
{
    static const u_char   body[] = { 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb };
    u_char                h[64];
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    n = pco_test_v2(h, 0x21, 0x11, body, sizeof(body));
    pco_test_parse_ok(h, n, &pp);
    assert_int_equal(pp.version, 2);
    assert_false(pp.local);
    assert_string_equal(pco_test_addr(&pp.src), "192.0.2.1:56324");
    assert_string_equal(pco_test_addr(&pp.dst), "198.51.100.2:443");
    /* UNSPEC transport is accepted as well */
    n = pco_test_v2(h, 0x21, 0x10, body, sizeof(body));
    pco_test_parse_ok(h, n, &pp);
    assert_string_equal(pco_test_addr(&pp.src), "192.0.2.1:56324");
}

static void
pco_test_v2_inet6(void **state)
{
    u_char                body[36], h[64];
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    memset(body, 0, sizeof(body));
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", body), 1);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1:2", body + 16), 1);
    body[32] = 0x30; body[33] = 0x39;          /* 12345 */
    body[34] = 0x00; body[35] = 0x50;          /* 80 */
    n = pco_test_v2(h, 0x21, 0x21, body, sizeof(body));
    pco_test_parse_ok(h, n, &pp);
    assert_string_equal(pco_test_addr(&pp.src), "[2001:db8::7]:12345");
    assert_string_equal(pco_test_addr(&pp.dst), "[2001:db8::1:2]:80");
    assert_int_equal(pp.src_len, sizeof(struct sockaddr_in6));
}

static void
pco_test_v2_unix(void **state)
{
    u_char                body[216], h[240];
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    memset(body, 0, sizeof(body));
    memcpy(body, "/run/client.sock", 16);
    memset(body + 108, 'x', 108);              /* a full path has no NUL */
    n = pco_test_v2(h, 0x21, 0x31, body, sizeof(body));
    pco_test_parse_ok(h, n, &pp);
    assert_int_equal(pp.src.sa.sa_family, AF_UNIX);
    assert_int_equal(pp.src_len, offsetof(struct sockaddr_un, sun_path) + 16);
    assert_memory_equal(pp.src.sun.sun_path, "/run/client.sock", 16);
    assert_int_equal(pp.dst_len, offsetof(struct sockaddr_un, sun_path) + 108);
    /* an address block too short for its family */
    n = pco_test_v2(h, 0x21, 0x31, body, 100);
    assert_string_equal(pco_test_parse_err(h, n), "v2 address block too short");
}

static void
pco_test_v2_local_unspec(void **state)
{
    static const u_char   junk[] = { 1, 2, 3, 4, 5 };
    u_char                h[64];
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    n = pco_test_v2(h, 0x20, 0x00, NULL, 0);
    pco_test_parse_ok(h, n, &pp);
    assert_true(pp.local);
    /* LOCAL ignores whatever address block comes with it */
    n = pco_test_v2(h, 0x20, 0x11, junk, sizeof(junk));
    pco_test_parse_ok(h, n, &pp);
    assert_true(pp.local);
    /* PROXY with AF_UNSPEC: no addresses either */
    n = pco_test_v2(h, 0x21, 0x00, NULL, 0);
    pco_test_parse_ok(h, n, &pp);
    assert_true(pp.local);
    assert_int_equal(pp.len, 16);
}

static void
pco_test_v2_tlvs(void **state)
{
    u_char                body[64], h[128];
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    memset(body, 0, sizeof(body));
    body[0] = 10; body[3] = 1; body[4] = 10; body[7] = 2;  /* 10.0.0.1 -> 10.0.0.2 */
    body[8] = 0x04; body[9] = 0xd2; body[10] = 0; body[11] = 80;
    /* PP2_TYPE_AUTHORITY "example.com", then a NOOP of zero length, then an UNIQUE_ID */
    memcpy(body + 12, "\x02\x00\x0b" "example.com" "\x04\x00\x00" "\x05\x00\x02" "id", 22);
    n = pco_test_v2(h, 0x21, 0x11, body, 34);
    pco_test_parse_ok(h, n, &pp);
    assert_string_equal(pco_test_addr(&pp.src), "10.0.0.1:1234");
    /* a TLV whose value ends past the header, and a TLV cut inside its own 3 bytes */
    body[12 + 2] = 0x0c;
    n = pco_test_v2(h, 0x21, 0x11, body, 34);
    pco_test_parse_err(h, n);
    body[12 + 2] = 0x0b;
    n = pco_test_v2(h, 0x21, 0x11, body, 34 - 3 + 2);
    assert_string_equal(pco_test_parse_err(h, n), "v2 TLV past the header");
    n = pco_test_v2(h, 0x21, 0x11, body, 12 + 14 + 2);
    assert_string_equal(pco_test_parse_err(h, n), "truncated v2 TLV");
}

static void
pco_test_v2_errors(void **state)
{
    static u_char         h[4200], body[4096];
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    memcpy(h, pco_test_sig, 12);
    h[6] = 0x0B;
    assert_string_equal(pco_test_parse_err(h, 7), "bad v2 signature");
    n = pco_test_v2(h, 0x11, 0x11, NULL, 0);
    assert_string_equal(pco_test_parse_err(h, 13), "unsupported v2 version");
    n = pco_test_v2(h, 0x22, 0x11, NULL, 0);
    assert_string_equal(pco_test_parse_err(h, 13), "unknown v2 command");
    n = pco_test_v2(h, 0x21, 0x41, NULL, 0);
    assert_string_equal(pco_test_parse_err(h, 14), "unknown v2 address family or transport");
    n = pco_test_v2(h, 0x21, 0x13, NULL, 0);
    pco_test_parse_err(h, n);
    /* the total length bound: 4096 accepted (in TLVs), 4097 refused from 16 bytes on */
    body[0] = 127; body[3] = 1;
    body[12] = 0xee; body[13] = (u_char) ((4096 - 16 - 12 - 3) >> 8);
    body[14] = (u_char) (4096 - 16 - 12 - 3);
    n = pco_test_v2(h, 0x21, 0x11, body, 4096 - 16);
    assert_int_equal(pco_proxy_protocol_parse(h, n, &pp), PCO_OK);
    assert_int_equal(pp.len, 4096);
    h[15] += 1;
    assert_string_equal(pco_test_parse_err(h, 16), "v2 header too long");
    h[14] = 0xff; h[15] = 0xff;
    assert_string_equal(pco_test_parse_err(h, 16), "v2 header too long");
    pco_unused(n);
}

/* ---- the builder ---- */

static void
pco_test_sa(pco_sockaddr_t *sa, socklen_t *len, const char *ip, unsigned port)
{
    memset(sa, 0, sizeof(*sa));
    if (strchr(ip, ':') == NULL) {
        sa->sin.sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &sa->sin.sin_addr), 1);
        sa->sin.sin_port = htons((in_port_t) port);
        *len = sizeof(struct sockaddr_in);
    } else {
        sa->sin6.sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &sa->sin6.sin6_addr), 1);
        sa->sin6.sin6_port = htons((in_port_t) port);
        *len = sizeof(struct sockaddr_in6);
    }
}

static void
pco_test_build_v1(void **state)
{
    u_char          b[PCO_PROXY_PROTOCOL_BUILD_MAX];
    pco_sockaddr_t  s, d, u;
    socklen_t       sl, dl;
    size_t          n;

    (void) state;
    pco_test_sa(&s, &sl, "192.0.2.1", 56324);
    pco_test_sa(&d, &dl, "127.0.0.1", 8080);
    n = pco_proxy_protocol_build(b, sizeof(b), 1, &s, sl, &d, dl);
    assert_int_equal(n, strlen("PROXY TCP4 192.0.2.1 127.0.0.1 56324 8080\r\n"));
    assert_memory_equal(b, "PROXY TCP4 192.0.2.1 127.0.0.1 56324 8080\r\n", n);
    pco_test_sa(&d, &dl, "::1", 8080);
    n = pco_proxy_protocol_build(b, sizeof(b), 1, &s, sl, &d, dl);
    assert_memory_equal(b, "PROXY TCP6 ::ffff:192.0.2.1 ::1 56324 8080\r\n", n);
    n = pco_proxy_protocol_build(b, sizeof(b), 1, NULL, 0, NULL, 0);
    assert_memory_equal(b, "PROXY UNKNOWN\r\n", n);
    assert_int_equal(n, 15);
    memset(&u, 0, sizeof(u));
    u.sun.sun_family = AF_UNIX;
    n = pco_proxy_protocol_build(b, sizeof(b), 1, &u, 2, &u, 2);
    assert_memory_equal(b, "PROXY UNKNOWN\r\n", n);
    assert_int_equal(pco_proxy_protocol_build(b, 100, 1, &s, sl, &d, dl), 0);
}

static void
pco_test_build_v2(void **state)
{
    static const u_char   inet[] = { 0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 127, 0, 0, 1,
                                     0xdc, 0x04, 0x1f, 0x90 };
    u_char                b[PCO_PROXY_PROTOCOL_BUILD_MAX];
    pco_sockaddr_t        s, d, u;
    socklen_t             sl, dl;
    pco_proxy_protocol_t  pp;
    size_t                n;

    (void) state;
    pco_test_sa(&s, &sl, "192.0.2.1", 56324);
    pco_test_sa(&d, &dl, "127.0.0.1", 8080);
    n = pco_proxy_protocol_build(b, sizeof(b), 2, &s, sl, &d, dl);
    assert_int_equal(n, 28);
    assert_memory_equal(b, pco_test_sig, 12);
    assert_memory_equal(b + 12, inet, sizeof(inet));
    pco_test_sa(&s, &sl, "2001:db8::1", 1);
    pco_test_sa(&d, &dl, "::1", 2);
    n = pco_proxy_protocol_build(b, sizeof(b), 2, &s, sl, &d, dl);
    assert_int_equal(n, 52);
    assert_int_equal(pco_proxy_protocol_parse(b, n, &pp), PCO_OK);
    assert_string_equal(pco_test_addr(&pp.src), "[2001:db8::1]:1");
    assert_string_equal(pco_test_addr(&pp.dst), "[::1]:2");
    n = pco_proxy_protocol_build(b, sizeof(b), 2, NULL, 0, NULL, 0);
    assert_int_equal(n, 16);
    assert_int_equal(b[12], 0x20);
    assert_int_equal(b[13], 0x00);
    assert_int_equal(pco_proxy_protocol_parse(b, n, &pp), PCO_OK);
    assert_true(pp.local);
    memset(&u, 0, sizeof(u));
    u.sun.sun_family = AF_UNIX;
    memcpy(u.sun.sun_path, "/tmp/a.sock", 11);
    n = pco_proxy_protocol_build(b, sizeof(b), 2, &u,
                                 offsetof(struct sockaddr_un, sun_path) + 11, &u,
                                 offsetof(struct sockaddr_un, sun_path) + 11);
    assert_int_equal(n, 232);
    assert_int_equal(pco_proxy_protocol_parse(b, n, &pp), PCO_OK);
    assert_int_equal(pp.src_len, offsetof(struct sockaddr_un, sun_path) + 11);
    /* different families that cannot be mapped: PROXY with AF_UNSPEC */
    n = pco_proxy_protocol_build(b, sizeof(b), 2, &s, sl, &u, 2);
    assert_int_equal(n, 16);
    assert_int_equal(b[12], 0x21);
    assert_int_equal(b[13], 0x00);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_v1_tcp4),
        cmocka_unit_test(pco_test_v1_tcp6),
        cmocka_unit_test(pco_test_v1_unknown),
        cmocka_unit_test(pco_test_v1_errors),
        cmocka_unit_test(pco_test_v2_inet),
        cmocka_unit_test(pco_test_v2_inet6),
        cmocka_unit_test(pco_test_v2_unix),
        cmocka_unit_test(pco_test_v2_local_unspec),
        cmocka_unit_test(pco_test_v2_tlvs),
        cmocka_unit_test(pco_test_v2_errors),
        cmocka_unit_test(pco_test_build_v1),
        cmocka_unit_test(pco_test_build_v2),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
