/*
 * test_resolver.c: the pure parts of DNS re-resolution (modules/resolver): nameserver
 * addresses, when a name is asked next (TTL clamping, `valid`, retries after a failure),
 * address sets (order and duplicates do not matter) and the reading of DNS responses
 * (records, TTLs, CNAME chains, rcodes, identifiers, malformed messages) built here byte by
 * byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include "pco_resolver.h"

static void
pco_t_parse_ns(void **state)
{
    pco_sockaddr_t  sa;
    socklen_t       len;
    char            text[64];

    (void) state;
    assert_int_equal(pco_resolver_parse_ns("127.0.0.1", &sa, &len), PCO_OK);
    pco_resolver_addr_text(&sa, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:53");
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(pco_resolver_parse_ns("127.0.0.2:5353", &sa, &len), PCO_OK);
    pco_resolver_addr_text(&sa, text, sizeof(text));
    assert_string_equal(text, "127.0.0.2:5353");
    assert_int_equal(pco_resolver_parse_ns("[::1]:5300", &sa, &len), PCO_OK);
    pco_resolver_addr_text(&sa, text, sizeof(text));
    assert_string_equal(text, "[::1]:5300");
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(pco_resolver_parse_ns("[2001:db8::1]", &sa, &len), PCO_OK);
    pco_resolver_addr_text(&sa, text, sizeof(text));
    assert_string_equal(text, "[2001:db8::1]:53");
    assert_int_equal(pco_resolver_parse_ns("fe80::1", &sa, &len), PCO_OK);
    pco_resolver_addr_text(&sa, text, sizeof(text));
    assert_string_equal(text, "[fe80::1]:53");

    assert_int_equal(pco_resolver_parse_ns("", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("dns.example", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("127.0.0.1:0", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("127.0.0.1:65536", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("127.0.0.1:", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("127.0.0.1:5x", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("[::1", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("[::1]x", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("[127.0.0.1]:53x", &sa, &len), PCO_ERROR);
    assert_int_equal(pco_resolver_parse_ns("[]:53", &sa, &len), PCO_ERROR);
}

static void
pco_t_next(void **state)
{
    (void) state;
    /* success: the TTL, clamped to [1 s, 1 h] */
    assert_int_equal(pco_resolver_next(true, 30, 0, 0), 30000);
    assert_int_equal(pco_resolver_next(true, 0, 0, 0), PCO_RESOLVER_TTL_MIN);
    assert_int_equal(pco_resolver_next(true, 1, 0, 0), 1000);
    assert_int_equal(pco_resolver_next(true, 3600, 0, 0), 3600000);
    assert_int_equal(pco_resolver_next(true, 3601, 0, 0), PCO_RESOLVER_TTL_MAX);
    assert_int_equal(pco_resolver_next(true, UINT32_MAX, 0, 0), PCO_RESOLVER_TTL_MAX);
    /* valid replaces the TTL, unclamped */
    assert_int_equal(pco_resolver_next(true, 30, 5000, 0), 5000);
    assert_int_equal(pco_resolver_next(true, 30, 7200000, 0), 7200000);
    /* failure: the last interval, at most 10 s; TTL_MIN (or valid) before any success */
    assert_int_equal(pco_resolver_next(false, 0, 0, 3000), 3000);
    assert_int_equal(pco_resolver_next(false, 0, 0, 300000), PCO_RESOLVER_RETRY_MAX);
    assert_int_equal(pco_resolver_next(false, 0, 0, 0), PCO_RESOLVER_TTL_MIN);
    assert_int_equal(pco_resolver_next(false, 0, 4000, 0), 4000);
    assert_int_equal(pco_resolver_next(false, 0, 60000, 0), PCO_RESOLVER_RETRY_MAX);
}

static void
pco_t_addr(pco_sockaddr_t *sa, socklen_t *len, const char *text)
{
    assert_int_equal(pco_resolver_parse_ns(text, sa, len), PCO_OK);
}

static void
pco_t_sets(void **state)
{
    pco_sockaddr_t  a[6], b[3];
    socklen_t       la[6], lb[3];
    char            text[64];
    unsigned        na, nb;

    (void) state;
    pco_t_addr(&a[0], &la[0], "[::1]:80");
    pco_t_addr(&a[1], &la[1], "127.0.0.2:80");
    pco_t_addr(&a[2], &la[2], "127.0.0.1:80");
    pco_t_addr(&a[3], &la[3], "127.0.0.2:80");
    pco_t_addr(&a[4], &la[4], "127.0.0.1:81");
    pco_t_addr(&a[5], &la[5], "[::1]:80");
    na = pco_resolver_set_normalize(a, la, 6);
    assert_int_equal(na, 4);
    pco_resolver_addr_text(&a[0], text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:80");
    pco_resolver_addr_text(&a[1], text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:81");
    pco_resolver_addr_text(&a[2], text, sizeof(text));
    assert_string_equal(text, "127.0.0.2:80");
    pco_resolver_addr_text(&a[3], text, sizeof(text));
    assert_string_equal(text, "[::1]:80");
    assert_int_equal(la[3], sizeof(struct sockaddr_in6));
    assert_int_equal(la[0], sizeof(struct sockaddr_in));

    pco_t_addr(&b[0], &lb[0], "127.0.0.2:80");
    pco_t_addr(&b[1], &lb[1], "127.0.0.1:80");
    pco_t_addr(&b[2], &lb[2], "127.0.0.1:80");
    nb = pco_resolver_set_normalize(b, lb, 3);
    assert_int_equal(nb, 2);
    assert_false(pco_resolver_set_equal(a, na, b, nb));
    assert_true(pco_resolver_set_equal(a, 1, b, 1));
    na = pco_resolver_set_normalize(a, la, 0);
    assert_int_equal(na, 0);
    assert_true(pco_resolver_set_equal(a, 0, b, 0));
}

/* ---- DNS responses built by hand ---- */

typedef struct {
    u_char  b[1024];
    size_t  n;
} pco_t_msg_t;

static void
pco_t_u16(pco_t_msg_t *m, unsigned v)
{
    m->b[m->n++] = (u_char) (v >> 8);
    m->b[m->n++] = (u_char) v;
}

static void
pco_t_u32(pco_t_msg_t *m, uint32_t v)
{
    pco_t_u16(m, v >> 16);
    pco_t_u16(m, v & 0xffff);
}

static void
pco_t_name(pco_t_msg_t *m, const char *name)
{
    const char  *dot;

    while (*name != '\0') {
        dot = strchr(name, '.');
        size_t  l = dot ? (size_t) (dot - name) : strlen(name);
        m->b[m->n++] = (u_char) l;
        memcpy(m->b + m->n, name, l);
        m->n += l;
        name += l + (dot != NULL);
    }
    m->b[m->n++] = 0;
}

/* header + the question (name, qtype): flags 0x8180 | rcode */
static void
pco_t_head(pco_t_msg_t *m, unsigned id, unsigned rcode, unsigned an, int qtype)
{
    m->n = 0;
    pco_t_u16(m, id);
    pco_t_u16(m, 0x8180 | rcode);
    pco_t_u16(m, 1);
    pco_t_u16(m, an);
    pco_t_u16(m, 0);
    pco_t_u16(m, 0);
    pco_t_name(m, "backend.test");
    pco_t_u16(m, (unsigned) qtype);
    pco_t_u16(m, ns_c_in);
}

/* an answer record for the question's name (compressed pointer to offset 12) */
static void
pco_t_rr(pco_t_msg_t *m, int type, uint32_t ttl, const void *rdata, unsigned rdlen)
{
    pco_t_u16(m, 0xc00c);
    pco_t_u16(m, (unsigned) type);
    pco_t_u16(m, ns_c_in);
    pco_t_u32(m, ttl);
    pco_t_u16(m, rdlen);
    memcpy(m->b + m->n, rdata, rdlen);
    m->n += rdlen;
}

static void
pco_t_answer(void **state)
{
    pco_resolver_answer_t  a;
    pco_t_msg_t            m;
    u_char                 v4a[4] = { 127, 0, 0, 1 }, v4b[4] = { 127, 0, 0, 2 };
    u_char                 v6[16] = { [15] = 1 };
    u_char                 cname[] = { 4, 'r', 'e', 'a', 'l', 0xc0, 0x0c };
    char                   text[64];

    (void) state;
    /* two A records: both, with the port, the smallest TTL */
    memset(&a, 0, sizeof(a));
    pco_t_head(&m, 0x1234, 0, 2, ns_t_a);
    pco_t_rr(&m, ns_t_a, 30, v4a, 4);
    pco_t_rr(&m, ns_t_a, 20, v4b, 4);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 0x1234, ns_t_a, 8080, &a), PCO_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.ttl, 20);
    pco_resolver_addr_text(&a.addrs[1], text, sizeof(text));
    assert_string_equal(text, "127.0.0.2:8080");

    /* AAAA added to the same answer; a CNAME's shorter TTL counts */
    pco_t_head(&m, 7, 0, 2, ns_t_aaaa);
    pco_t_rr(&m, ns_t_cname, 5, cname, sizeof(cname));
    pco_t_rr(&m, ns_t_aaaa, 60, v6, 16);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 7, ns_t_aaaa, 80, &a), PCO_OK);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.ttl, 5);
    pco_resolver_addr_text(&a.addrs[2], text, sizeof(text));
    assert_string_equal(text, "[::1]:80");

    /* records of another type or a wrong length are skipped; no record is not an error */
    memset(&a, 0, sizeof(a));
    pco_t_head(&m, 9, 0, 2, ns_t_a);
    pco_t_rr(&m, ns_t_aaaa, 60, v6, 16);
    pco_t_rr(&m, ns_t_a, 60, v6, 16);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_a, 80, &a), PCO_OK);
    assert_int_equal(a.n, 0);
    assert_false(a.have_ttl);

    /* rcodes */
    pco_t_head(&m, 9, ns_r_servfail, 0, ns_t_a);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_a, 80, &a), PCO_ERROR);
    assert_string_equal(a.error, "SERVFAIL");
    pco_t_head(&m, 9, ns_r_nxdomain, 0, ns_t_a);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_a, 80, &a), PCO_ERROR);
    assert_string_equal(a.error, "NXDOMAIN");
    pco_t_head(&m, 9, ns_r_refused, 0, ns_t_a);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_a, 80, &a), PCO_ERROR);
    assert_string_equal(a.error, "REFUSED");
    pco_t_head(&m, 9, ns_r_notimpl, 0, ns_t_a);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_a, 80, &a), PCO_ERROR);
    assert_string_equal(a.error, "rcode 4");

    /* another identifier, another question type, not a response: refused as malformed */
    pco_t_head(&m, 9, 0, 1, ns_t_a);
    pco_t_rr(&m, ns_t_a, 60, v4a, 4);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 10, ns_t_a, 80, &a), PCO_ERROR);
    assert_string_equal(a.error, "malformed response");
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_aaaa, 80, &a), PCO_ERROR);
    m.b[2] &= 0x7f;
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n, 9, ns_t_a, 80, &a), PCO_ERROR);

    /* cut in the middle of a record: nothing kept from that message */
    memset(&a, 0, sizeof(a));
    pco_t_head(&m, 9, 0, 2, ns_t_a);
    pco_t_rr(&m, ns_t_a, 60, v4a, 4);
    pco_t_rr(&m, ns_t_a, 60, v4b, 4);
    assert_int_equal(pco_resolver_parse_answer(m.b, m.n - 3, 9, ns_t_a, 80, &a), PCO_ERROR);
    assert_int_equal(a.n, 0);
    assert_int_equal(pco_resolver_parse_answer(m.b, 5, 9, ns_t_a, 80, &a), PCO_ERROR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_parse_ns),
        cmocka_unit_test(pco_t_next),
        cmocka_unit_test(pco_t_sets),
        cmocka_unit_test(pco_t_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
