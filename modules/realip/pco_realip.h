/*
 * pco_realip.h: the pure part of the real_ip module (the header walk), exposed for the unit
 * test t/unit/test_realip.c. Nothing here allocates, blocks or touches shared state.
 */
#ifndef PCO_REALIP_H
#define PCO_REALIP_H

#include "pco_core.h"
#include "pco_cidr.h"

/* true when sa falls in one of from[0..nfrom). */
bool pco_realip_trusted(const pco_cidr_t *from, size_t nfrom, const pco_sockaddr_t *sa);

/* Parses one list entry p[0..len) (no surrounding spaces): "192.0.2.1", "2001:db8::1",
 * "[2001:db8::1]", and with a port "192.0.2.1:8080" or "[2001:db8::1]:8080" (the port is
 * checked and dropped: out gets port 0). PCO_OK or PCO_ERROR. */
int pco_realip_parse_entry(const u_char *p, size_t len, pco_sockaddr_t *out,
                           socklen_t *outlen);

/* Walks the comma-separated list[0..len) from the right: each entry (spaces and tabs around
 * it trimmed, empty entries skipped) becomes the candidate; the walk stops at the first
 * entry not in from (the client), or at an unparsable one (the last good candidate stays).
 * When every entry is trusted the leftmost is the answer. PCO_OK with *out set, or
 * PCO_DECLINED when there is no candidate (empty list, or the rightmost entry is garbage). */
int pco_realip_walk(const u_char *list, size_t len, const pco_cidr_t *from, size_t nfrom,
                    pco_sockaddr_t *out, socklen_t *outlen);

#endif /* PCO_REALIP_H */
