/*
 * pco_cidr.h: address ranges (CIDRs) for trust and access rules: "10.0.0.0/8", "192.0.2.7",
 * "2001:db8::/32", "::1", and "unix:" (every unix-socket peer). Parsed at configuration load,
 * matched per request without allocation. An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches
 * IPv4 ranges. Used by real_ip and access; nothing HTTP-specific.
 */

#ifndef PCO_CIDR_H
#define PCO_CIDR_H

#include "pco_core.h"

typedef struct {
    int       family;      /* AF_INET, AF_INET6, or AF_UNIX ("unix:") */
    unsigned  bits;        /* prefix length: 0..32 or 0..128 */
    uint8_t   addr[16];    /* network address, host bits cleared (IPv4 in the first 4) */
} pco_cidr_t;

/* Parses text[0..len) into out: a dotted-quad IPv4 or an IPv6 literal (no brackets, no
 * zone), each with an optional "/N" (0..32, 0..128; a bare address is a /32 or /128), or
 * exactly "unix:". PCO_OK, or PCO_ERROR with *err set to a static message: "invalid
 * address", "invalid prefix length" (not 1 to 3 digits), "prefix length out of range",
 * "host bits set in the address (use the network address)" ("10.1.2.3/8"). Never blocks;
 * no allocation. */
int pco_cidr_parse(const char *text, size_t len, pco_cidr_t *out, const char **err);
/* true when the address sa falls in cidr. An IPv4 range also matches an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d); an IPv6 range matches only IPv6 addresses (mapped ones as they
 * are); "unix:" matches every AF_UNIX address and nothing else. NULL arguments: false. */
bool pco_cidr_match(const pco_cidr_t *cidr, const pco_sockaddr_t *sa);
/* Parses a bare IPv4 or IPv6 address literal text[0..len) (no port, brackets, zone or
 * surrounding spaces) into out with port 0 and *outlen = sizeof(struct sockaddr_in or _in6).
 * PCO_OK or PCO_ERROR. */
int pco_addr_parse(const char *text, size_t len, pco_sockaddr_t *out, socklen_t *outlen);

#endif /* PCO_CIDR_H */
