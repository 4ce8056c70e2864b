/*
 * pco_resolver_util.c: the pure parts of DNS re-resolution (pco_resolver.h): nameserver
 * addresses as written in the `resolver` block, when to look a name up next, and address
 * sets compared without regard to order. No process state, no I/O; unit-tested in
 * t/unit/test_resolver.c.
 */
#include "pco_resolver.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "53" .. "65535" (digits only); 0 when invalid. */
static in_port_t
pco_resolver_port(const char *p)
{
    long  v = 0;

    if (*p == '\0') {
        return 0;
    }
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > 65535) {
            return 0;
        }
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535 ? (in_port_t) v : 0;
}

int
pco_resolver_parse_ns(const char *text, pco_sockaddr_t *sa, socklen_t *len)
{
    char         host[INET6_ADDRSTRLEN + 1];
    const char  *colon, *end, *port = "53";
    size_t       hlen;

    memset(sa, 0, sizeof(*sa));
    if (text[0] == '[') {
        end = strchr(text, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return PCO_ERROR;
        }
        hlen = (size_t) (end - text - 1);
        text++;
        if (end[1] == ':') {
            port = end + 2;
        }
    } else {
        colon = strchr(text, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            hlen = (size_t) (colon - text);          /* IPv4:PORT */
            port = colon + 1;
        } else {
            hlen = strlen(text);                     /* IPv4, or a bare IPv6 address */
        }
    }
    if (hlen == 0 || hlen >= sizeof(host) || pco_resolver_port(port) == 0) {
        return PCO_ERROR;
    }
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, &sa->sin.sin_addr) == 1) {
        sa->sin.sin_family = AF_INET;
        sa->sin.sin_port = htons(pco_resolver_port(port));
        *len = sizeof(struct sockaddr_in);
        return PCO_OK;
    }
    if (inet_pton(AF_INET6, host, &sa->sin6.sin6_addr) == 1) {
        sa->sin6.sin6_family = AF_INET6;
        sa->sin6.sin6_port = htons(pco_resolver_port(port));
        *len = sizeof(struct sockaddr_in6);
        return PCO_OK;
    }
    return PCO_ERROR;
}

pco_msec_t
pco_resolver_next(bool ok, uint32_t ttl, pco_msec_t valid, pco_msec_t last)
{
    pco_msec_t  t;

    if (ok) {
        if (valid > 0) {
            return valid;
        }
        t = (pco_msec_t) ttl * 1000;
        return t < PCO_RESOLVER_TTL_MIN ? PCO_RESOLVER_TTL_MIN
             : t > PCO_RESOLVER_TTL_MAX ? PCO_RESOLVER_TTL_MAX : t;
    }
    t = last > 0 ? last : valid > 0 ? valid : PCO_RESOLVER_TTL_MIN;
    return t > PCO_RESOLVER_RETRY_MAX ? PCO_RESOLVER_RETRY_MAX : t;
}

/* Orders two addresses: family, then address bytes, then port. */
static int
pco_resolver_addr_cmp(const pco_sockaddr_t *a, const pco_sockaddr_t *b)
{
    int  rc;

    if (a->sa.sa_family != b->sa.sa_family) {
        return a->sa.sa_family < b->sa.sa_family ? -1 : 1;
    }
    if (a->sa.sa_family == AF_INET) {
        rc = memcmp(&a->sin.sin_addr, &b->sin.sin_addr, sizeof(a->sin.sin_addr));
        return rc != 0 ? rc : (int) ntohs(a->sin.sin_port) - (int) ntohs(b->sin.sin_port);
    }
    rc = memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(a->sin6.sin6_addr));
    return rc != 0 ? rc : (int) ntohs(a->sin6.sin6_port) - (int) ntohs(b->sin6.sin6_port);
}

unsigned
pco_resolver_set_normalize(pco_sockaddr_t *addrs, socklen_t *lens, unsigned n)
{
    pco_sockaddr_t  t;
    socklen_t       tl;
    unsigned        i, j, k;

    /* insertion sort: at most PCO_RESOLVER_MAX_ADDRS elements */
    for (i = 1; i < n; i++) {
        t = addrs[i];
        tl = lens[i];
        for (j = i; j > 0 && pco_resolver_addr_cmp(&addrs[j - 1], &t) > 0; j--) {
            addrs[j] = addrs[j - 1];
            lens[j] = lens[j - 1];
        }
        addrs[j] = t;
        lens[j] = tl;
    }
    for (i = 0, k = 0; i < n; i++) {
        if (k > 0 && pco_resolver_addr_cmp(&addrs[k - 1], &addrs[i]) == 0) {
            continue;
        }
        addrs[k] = addrs[i];
        lens[k] = lens[i];
        k++;
    }
    return k;
}

bool
pco_resolver_set_equal(const pco_sockaddr_t *a, unsigned na, const pco_sockaddr_t *b,
                       unsigned nb)
{
    unsigned  i;

    if (na != nb) {
        return false;
    }
    for (i = 0; i < na; i++) {
        if (pco_resolver_addr_cmp(&a[i], &b[i]) != 0) {
            return false;
        }
    }
    return true;
}

void
pco_resolver_addr_text(const pco_sockaddr_t *sa, char *buf, size_t size)
{
    char  ip[INET6_ADDRSTRLEN];

    if (sa->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &sa->sin6.sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, (unsigned) ntohs(sa->sin6.sin6_port));
    } else {
        inet_ntop(AF_INET, &sa->sin.sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, (unsigned) ntohs(sa->sin.sin_port));
    }
}
