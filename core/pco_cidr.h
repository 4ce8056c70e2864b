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

/* Parses text[0..len) into out. PCO_OK, or PCO_ERROR with *err set to a static message
 * ("invalid address", "prefix length out of range", "host bits set in ..."). */
int pco_cidr_parse(const char *text, size_t len, pco_cidr_t *out, const char **err);
/* true when the address sa falls in cidr. */
bool pco_cidr_match(const pco_cidr_t *cidr, const pco_sockaddr_t *sa);
/* Parses a bare IPv4 or IPv6 address literal (no port, no brackets) into out with port 0.
 * PCO_OK or PCO_ERROR. */
int pco_addr_parse(const char *text, size_t len, pco_sockaddr_t *out, socklen_t *outlen);

#endif /* PCO_CIDR_H */
