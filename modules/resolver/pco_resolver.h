/*
 * pco_resolver.h: DNS re-resolution of upstream servers written with `resolve = true`
 * (docs/resolver.md). The module (pco_resolver.c) runs the "portico: resolver" helper
 * process, which looks every such name up again at its record's TTL (or at `valid`) and
 * hands the addresses to the upstream module (pco_upstream_resolved_set), which publishes
 * them to every worker through the shared zone.
 *
 * This header holds the parts the tests reach: the `resolver` block, the DNS client
 * (pco_resolver_dns.c: blocking; only the helper calls it, never a worker) and the pure
 * helpers (pco_resolver_util.c: nameserver addresses, TTL clamping, address sets), which are
 * unit-tested in t/unit/test_resolver.c.
 */
#ifndef PCO_RESOLVER_H
#define PCO_RESOLVER_H

#include "pco_core.h"
#include "pco_conf.h"
#include <netinet/in.h>

extern pco_module_t pco_resolver_module;

/* A record's TTL is clamped to [1 s, 1 h]: a TTL of 0 (or 1) would make the helper ask
 * again and again, and a week-long TTL would hide a move for a week. `valid` (when set)
 * replaces the TTL and is bounded by its settings table entry instead. */
#define PCO_RESOLVER_TTL_MIN     1000
#define PCO_RESOLVER_TTL_MAX     3600000
/* After a failed lookup the name is asked again sooner than its usual interval: after that
 * interval, but at most 10 s later, so a DNS outage is noticed to end quickly. */
#define PCO_RESOLVER_RETRY_MAX   10000
#define PCO_RESOLVER_MAX_NS      8       /* nameservers used (resolv.conf has at most 3) */
#define PCO_RESOLVER_MAX_ADDRS   64      /* addresses kept from one name (A + AAAA) */
#define PCO_RESOLVER_MSG_MAX     4096    /* a UDP answer (larger ones are cut by recv) */

/* The top-level `resolver` block (docs/settings.md). */
typedef struct {
    pco_str_list_t  nameservers;     /* "IP", "IP:PORT", "[IPv6]:PORT"; empty: resolv.conf */
    pco_msec_t      valid;           /* 0: the record's TTL */
    pco_msec_t      timeout;         /* one query to one nameserver */
    int64_t         attempts;        /* rounds over the nameservers */
    bool            ipv6;            /* also ask for AAAA records */
} pco_resolver_block_t;

typedef struct {
    pco_resolver_block_t  resolver;
} pco_resolver_conf_t;

/* The outcome of looking one name up (A, then AAAA when ipv6). */
typedef struct {
    pco_sockaddr_t  addrs[PCO_RESOLVER_MAX_ADDRS];
    socklen_t       lens[PCO_RESOLVER_MAX_ADDRS];
    unsigned        n;
    uint32_t        ttl;             /* seconds: the smallest TTL of the records used */
    bool            have_ttl;
    char            error[64];       /* "" on success, else why ("SERVFAIL", "timed out") */
} pco_resolver_answer_t;

/* ---- pco_resolver_util.c (pure) ---- */

/* "IP", "IP:PORT", "[IPv6]", "[IPv6]:PORT" or a bare IPv6 address (port 53) into sa;
 * PCO_ERROR when text is none of these or the port is not 1..65535. */
int pco_resolver_parse_ns(const char *text, pco_sockaddr_t *sa, socklen_t *len);
/* The time until the next lookup of a name, in ms. ok: the lookup just done succeeded with
 * ttl (seconds); valid: the `valid` setting (0: use the TTL); last: the interval used after
 * the last success (0 if none). Success: valid, else ttl clamped to [TTL_MIN, TTL_MAX].
 * Failure: last (valid, or TTL_MIN before any success), at most RETRY_MAX. */
pco_msec_t pco_resolver_next(bool ok, uint32_t ttl, pco_msec_t valid, pco_msec_t last);
/* Sorts addrs/lens (family, address, port) and drops duplicates; returns the new n. */
unsigned pco_resolver_set_normalize(pco_sockaddr_t *addrs, socklen_t *lens, unsigned n);
/* True when the two normalized sets hold the same addresses. */
bool pco_resolver_set_equal(const pco_sockaddr_t *a, unsigned na, const pco_sockaddr_t *b,
                            unsigned nb);
/* "127.0.0.1:80", "[::1]:80" into buf (NUL-terminated, cut to size). */
void pco_resolver_addr_text(const pco_sockaddr_t *sa, char *buf, size_t size);

/* ---- pco_resolver_dns.c ---- */

/* Adds to a the A (qtype 1) or AAAA (28) records of one DNS response msg[0..len) to the
 * query with identifier id, each with port; the smallest TTL of those records (and of the
 * CNAME records leading to them) goes to a->ttl. Pure (uses libresolv's ns_initparse and
 * ns_parserr, no I/O): PCO_OK (no record is not an error here), or PCO_ERROR with a->error
 * set: "SERVFAIL", "NXDOMAIN", "REFUSED", "rcode N", "malformed response". */
int pco_resolver_parse_answer(const u_char *msg, size_t len, uint16_t id, int qtype,
                              in_port_t port, pco_resolver_answer_t *a);
/* Looks name up (blocking: the helper process only). ns: the nameservers (n of them); a is
 * filled; PCO_OK when at least one address came and no query failed, else PCO_ERROR with
 * a->error: "timed out", "SERVFAIL", "NXDOMAIN", "no addresses", ... */
/* The nameservers of /etc/resolv.conf (IPv4 and IPv6), at most max; their number. */
unsigned pco_resolver_system_ns(pco_sockaddr_t *ns, socklen_t *lens, unsigned max);
int pco_resolver_lookup(const pco_resolver_block_t *conf, const pco_sockaddr_t *ns,
                        const socklen_t *nslen, unsigned nns, const char *name,
                        in_port_t port, pco_resolver_answer_t *a);

#endif
