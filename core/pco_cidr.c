/*
 * pco_cidr.c: address ranges for trust and access rules. pco_cidr_parse turns
 * "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1" or "unix:" into a pco_cidr_t at
 * configuration load; pco_cidr_match compares a peer address with it per request, without
 * allocation or system calls. An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches IPv4 ranges.
 * pco_addr_parse reads one bare address literal (used for X-Forwarded-For entries). No shared
 * state; nothing here blocks.
 */

#include <arpa/inet.h>

#include "pco_core.h"
#include "pco_cidr.h"

/* Longest literal we accept: a full IPv6 address with an embedded IPv4 tail. */
#define PCO_CIDR_ADDR_MAX  INET6_ADDRSTRLEN

static const uint8_t pco_cidr_v4mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Parses a bare IPv4 or IPv6 literal into 4 or 16 bytes at addr; returns the family, or 0
 * when the text is not an address. Rejects NUL bytes, zone ids and anything inet_pton does
 * not take whole. */
static int
pco_cidr_pton(const char *text, size_t len, uint8_t *addr)
{
    char  buf[PCO_CIDR_ADDR_MAX];

    if (len == 0 || len >= sizeof(buf) || memchr(text, '\0', len) != NULL) {
        return 0;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';

    if (memchr(buf, ':', len) != NULL) {
        return inet_pton(AF_INET6, buf, addr) == 1 ? AF_INET6 : 0;
    }
    return inet_pton(AF_INET, buf, addr) == 1 ? AF_INET : 0;
}

/* Parses the decimal prefix length text[0..len): 1 to 3 digits, no sign. -1 when invalid. */
static int
pco_cidr_prefix(const char *text, size_t len)
{
    size_t  i;
    int     n;

    if (len == 0 || len > 3) {
        return -1;
    }
    n = 0;
    for (i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        n = n * 10 + (text[i] - '0');
    }
    return n;
}

/* true when the first bits of a and b are equal. */
static bool
pco_cidr_prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned  whole = bits / 8;
    unsigned  rest = bits % 8;
    uint8_t   mask;

    if (whole > 0 && memcmp(a, b, whole) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    mask = (uint8_t) (0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int
pco_cidr_parse(const char *text, size_t len, pco_cidr_t *out, const char **err)
{
    const char  *slash;
    size_t       alen, i;
    unsigned     maxbits, nbytes;
    int          family, bits;
    uint8_t      addr[16];

    memset(out, 0, sizeof(*out));

    if (len == 5 && memcmp(text, "unix:", 5) == 0) {
        out->family = AF_UNIX;
        return PCO_OK;
    }

    slash = memchr(text, '/', len);
    alen = slash != NULL ? (size_t) (slash - text) : len;

    memset(addr, 0, sizeof(addr));
    family = pco_cidr_pton(text, alen, addr);
    if (family == 0) {
        *err = "invalid address";
        return PCO_ERROR;
    }
    maxbits = family == AF_INET ? 32 : 128;
    nbytes = maxbits / 8;

    if (slash == NULL) {
        bits = (int) maxbits;
    } else {
        bits = pco_cidr_prefix(slash + 1, len - alen - 1);
        if (bits < 0) {
            *err = "invalid prefix length";
            return PCO_ERROR;
        }
        if ((unsigned) bits > maxbits) {
            *err = "prefix length out of range";
            return PCO_ERROR;
        }
    }

    /* "10.1.2.3/8" is almost always a typo for a host or for "10.0.0.0/8": refuse it. */
    for (i = 0; i < nbytes; i++) {
        unsigned  lo = (unsigned) i * 8;
        uint8_t   mask;

        if ((unsigned) bits >= lo + 8) {
            mask = 0xff;
        } else if ((unsigned) bits <= lo) {
            mask = 0;
        } else {
            mask = (uint8_t) (0xff << (8 - ((unsigned) bits - lo)));
        }
        if ((addr[i] & (uint8_t) ~mask) != 0) {
            *err = "host bits set in the address (use the network address)";
            return PCO_ERROR;
        }
    }

    out->family = family;
    out->bits = (unsigned) bits;
    memcpy(out->addr, addr, nbytes);
    return PCO_OK;
}

bool
pco_cidr_match(const pco_cidr_t *cidr, const pco_sockaddr_t *sa)
{
    const uint8_t  *a;

    if (cidr == NULL || sa == NULL) {
        return false;
    }

    switch (cidr->family) {

    case AF_UNIX:
        return sa->sa.sa_family == AF_UNIX;

    case AF_INET:
        if (sa->sa.sa_family == AF_INET) {
            a = (const uint8_t *) &sa->sin.sin_addr;
        } else if (sa->sa.sa_family == AF_INET6) {
            a = sa->sin6.sin6_addr.s6_addr;
            if (memcmp(a, pco_cidr_v4mapped, sizeof(pco_cidr_v4mapped)) != 0) {
                return false;
            }
            a += sizeof(pco_cidr_v4mapped);
        } else {
            return false;
        }
        return pco_cidr_prefix_eq(a, cidr->addr, pco_min(cidr->bits, 32u));

    case AF_INET6:
        if (sa->sa.sa_family != AF_INET6) {
            return false;
        }
        return pco_cidr_prefix_eq(sa->sin6.sin6_addr.s6_addr, cidr->addr,
                                  pco_min(cidr->bits, 128u));

    default:
        return false;
    }
}

int
pco_addr_parse(const char *text, size_t len, pco_sockaddr_t *out, socklen_t *outlen)
{
    uint8_t  addr[16];
    int      family;

    family = pco_cidr_pton(text, len, addr);
    if (family == 0) {
        return PCO_ERROR;
    }

    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        out->sin.sin_family = AF_INET;
        memcpy(&out->sin.sin_addr, addr, 4);
        *outlen = sizeof(struct sockaddr_in);
    } else {
        out->sin6.sin6_family = AF_INET6;
        memcpy(&out->sin6.sin6_addr, addr, 16);
        *outlen = sizeof(struct sockaddr_in6);
    }
    return PCO_OK;
}
