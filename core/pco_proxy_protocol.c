/*
 * pco_proxy_protocol.c: the PROXY protocol header, parsed (listeners) and built (upstream
 * connections, health checks). Version 1 is one text line, "PROXY TCP4|TCP6|UNKNOWN ...
 * \r\n", 107 bytes at most; version 2 a 16-byte binary part (12-byte signature, version and
 * command, family and transport, length) followed by the addresses and TLVs. TLVs are
 * skipped (each one bounds-checked against the announced length); nothing of them is used.
 * Pure functions over caller buffers: no I/O, no allocation, no state.
 */
#include "pco_proxy_protocol.h"
#include "pco_string.h"
#include <arpa/inet.h>
#include <stdio.h>

static const u_char  pco_proxy_protocol_v1_sig[6] = { 'P', 'R', 'O', 'X', 'Y', ' ' };
static const u_char  pco_proxy_protocol_v2_sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

#define PCO_PP2_HEAD       16
#define PCO_PP2_INET_LEN   12
#define PCO_PP2_INET6_LEN  36
#define PCO_PP2_UNIX_LEN   216
#define PCO_PP2_PATH_LEN   108

static int
pco_proxy_protocol_fail(pco_proxy_protocol_t *pp, const char *why)
{
    pp->error = why;
    return PCO_ERROR;
}

/* A decimal port of 1 to 5 digits, at most 65535, in s[0..len), into *port (network order). */
static bool
pco_proxy_protocol_port(const u_char *s, size_t len, in_port_t *port)
{
    unsigned  v;

    if (!pco_port_parse(s, len, &v)) {
        return false;
    }
    *port = htons((in_port_t) v);
    return true;
}

/* One v1 address token s[0..len) of family af into sa. */
static bool
pco_proxy_protocol_addr(int af, const u_char *s, size_t len, pco_sockaddr_t *sa,
                        socklen_t *salen)
{
    char  text[INET6_ADDRSTRLEN];

    if (len == 0 || len >= sizeof(text)) {
        return false;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    memset(sa, 0, sizeof(*sa));
    if (af == AF_INET) {
        sa->sin.sin_family = AF_INET;
        *salen = sizeof(struct sockaddr_in);
        return inet_pton(AF_INET, text, &sa->sin.sin_addr) == 1;
    }
    sa->sin6.sin6_family = AF_INET6;
    *salen = sizeof(struct sockaddr_in6);
    return inet_pton(AF_INET6, text, &sa->sin6.sin6_addr) == 1;
}

/* The fields of a complete v1 line: line[0..len) is what follows "PROXY " up to the CR. */
static int
pco_proxy_protocol_v1_fields(const u_char *line, size_t len, pco_proxy_protocol_t *pp)
{
    const u_char  *tok[5];
    size_t         tlen[5], i, n = 0, start = 0;
    in_port_t      sport, dport;
    int            af;

    if (len >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (len == 7 || line[7] == ' ')) {
        pp->local = true;          /* whatever follows UNKNOWN is ignored */
        return PCO_OK;
    }
    if (len < 5 || (memcmp(line, "TCP4 ", 5) != 0 && memcmp(line, "TCP6 ", 5) != 0)) {
        return pco_proxy_protocol_fail(pp, "unknown v1 protocol");
    }
    af = line[3] == '4' ? AF_INET : AF_INET6;
    /* exactly four tokens separated by single spaces: src dst sport dport */
    for (i = 5; i <= len; i++) {
        if (i == len || line[i] == ' ') {
            if (n == 4 || i == 5 + start) {
                return pco_proxy_protocol_fail(pp, "bad v1 address fields");
            }
            tok[n] = line + 5 + start;
            tlen[n] = i - 5 - start;
            n++;
            start = i + 1 - 5;
        }
    }
    if (n != 4) {
        return pco_proxy_protocol_fail(pp, "bad v1 address fields");
    }
    if (!pco_proxy_protocol_addr(af, tok[0], tlen[0], &pp->src, &pp->src_len)
        || !pco_proxy_protocol_addr(af, tok[1], tlen[1], &pp->dst, &pp->dst_len))
    {
        return pco_proxy_protocol_fail(pp, "bad v1 address");
    }
    if (!pco_proxy_protocol_port(tok[2], tlen[2], &sport)
        || !pco_proxy_protocol_port(tok[3], tlen[3], &dport))
    {
        return pco_proxy_protocol_fail(pp, "bad v1 port");
    }
    if (af == AF_INET) {
        pp->src.sin.sin_port = sport;
        pp->dst.sin.sin_port = dport;
    } else {
        pp->src.sin6.sin6_port = sport;
        pp->dst.sin6.sin6_port = dport;
    }
    return PCO_OK;
}

static int
pco_proxy_protocol_v1(const u_char *buf, size_t len, pco_proxy_protocol_t *pp)
{
    size_t  i, n = pco_min(len, sizeof(pco_proxy_protocol_v1_sig));

    if (memcmp(buf, pco_proxy_protocol_v1_sig, n) != 0) {
        return pco_proxy_protocol_fail(pp, "bad v1 signature");
    }
    for (i = n; i < len && i < PCO_PROXY_PROTOCOL_V1_MAX; i++) {
        if (buf[i] == '\r') {
            if (i + 2 > PCO_PROXY_PROTOCOL_V1_MAX) {
                break;                          /* no room left for the LF */
            }
            if (i + 1 == len) {
                return PCO_AGAIN;
            }
            if (buf[i + 1] != '\n') {
                return pco_proxy_protocol_fail(pp, "CR without LF in v1 header");
            }
            pp->version = 1;
            pp->len = i + 2;
            return pco_proxy_protocol_v1_fields(buf + 6, i - 6, pp);
        }
        if (buf[i] < 0x20 || buf[i] > 0x7e) {
            return pco_proxy_protocol_fail(pp, "bad character in v1 header");
        }
    }
    if (i + 1 >= PCO_PROXY_PROTOCOL_V1_MAX) {
        return pco_proxy_protocol_fail(pp, "v1 header longer than 107 bytes");
    }
    return PCO_AGAIN;
}

/* The address block of a v2 PROXY command: family af (high nibble), blen bytes at p. */
static int
pco_proxy_protocol_v2_addrs(unsigned af, const u_char *p, size_t blen, size_t *alen,
                            pco_proxy_protocol_t *pp)
{
    size_t  n;

    switch (af) {
    case 0:                                   /* AF_UNSPEC: keep the peer */
        pp->local = true;
        *alen = 0;
        return PCO_OK;
    case 1:
        if (blen < PCO_PP2_INET_LEN) {
            return pco_proxy_protocol_fail(pp, "v2 address block too short");
        }
        pp->src.sin.sin_family = AF_INET;
        pp->dst.sin.sin_family = AF_INET;
        memcpy(&pp->src.sin.sin_addr, p, 4);
        memcpy(&pp->dst.sin.sin_addr, p + 4, 4);
        memcpy(&pp->src.sin.sin_port, p + 8, 2);
        memcpy(&pp->dst.sin.sin_port, p + 10, 2);
        pp->src_len = pp->dst_len = sizeof(struct sockaddr_in);
        *alen = PCO_PP2_INET_LEN;
        return PCO_OK;
    case 2:
        if (blen < PCO_PP2_INET6_LEN) {
            return pco_proxy_protocol_fail(pp, "v2 address block too short");
        }
        pp->src.sin6.sin6_family = AF_INET6;
        pp->dst.sin6.sin6_family = AF_INET6;
        memcpy(&pp->src.sin6.sin6_addr, p, 16);
        memcpy(&pp->dst.sin6.sin6_addr, p + 16, 16);
        memcpy(&pp->src.sin6.sin6_port, p + 32, 2);
        memcpy(&pp->dst.sin6.sin6_port, p + 34, 2);
        pp->src_len = pp->dst_len = sizeof(struct sockaddr_in6);
        *alen = PCO_PP2_INET6_LEN;
        return PCO_OK;
    case 3:
        if (blen < PCO_PP2_UNIX_LEN) {
            return pco_proxy_protocol_fail(pp, "v2 address block too short");
        }
        /* 108-byte paths, NUL-padded; one that fills all 108 bytes has no NUL */
        pp->src.sun.sun_family = AF_UNIX;
        pp->dst.sun.sun_family = AF_UNIX;
        memcpy(pp->src.sun.sun_path, p, PCO_PP2_PATH_LEN);
        memcpy(pp->dst.sun.sun_path, p + PCO_PP2_PATH_LEN, PCO_PP2_PATH_LEN);
        n = strnlen(pp->src.sun.sun_path, PCO_PP2_PATH_LEN);
        pp->src_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
        n = strnlen(pp->dst.sun.sun_path, PCO_PP2_PATH_LEN);
        pp->dst_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
        *alen = PCO_PP2_UNIX_LEN;
        return PCO_OK;
    default:
        return pco_proxy_protocol_fail(pp, "unknown v2 address family");
    }
}

static int
pco_proxy_protocol_v2(const u_char *buf, size_t len, pco_proxy_protocol_t *pp)
{
    size_t         n = pco_min(len, sizeof(pco_proxy_protocol_v2_sig)), blen, total, alen;
    const u_char  *p, *end;
    size_t         tlen;

    if (memcmp(buf, pco_proxy_protocol_v2_sig, n) != 0) {
        return pco_proxy_protocol_fail(pp, "bad v2 signature");
    }
    if (len > 12 && (buf[12] >> 4) != 2) {
        return pco_proxy_protocol_fail(pp, "unsupported v2 version");
    }
    if (len > 12 && (buf[12] & 0x0f) > 1) {
        return pco_proxy_protocol_fail(pp, "unknown v2 command");
    }
    if (len > 13 && ((buf[13] >> 4) > 3 || (buf[13] & 0x0f) > 2)) {
        return pco_proxy_protocol_fail(pp, "unknown v2 address family or transport");
    }
    if (len < PCO_PP2_HEAD) {
        return PCO_AGAIN;
    }
    blen = ((size_t) buf[14] << 8) | buf[15];
    total = PCO_PP2_HEAD + blen;
    if (total > PCO_PROXY_PROTOCOL_MAX) {
        return pco_proxy_protocol_fail(pp, "v2 header too long");
    }
    if (len < total) {
        return PCO_AGAIN;
    }
    pp->version = 2;
    pp->len = total;
    if ((buf[12] & 0x0f) == 0) {
        pp->local = true;         /* LOCAL: the balancer's own connection (health check) */
        return PCO_OK;
    }
    if (pco_proxy_protocol_v2_addrs(buf[13] >> 4, buf + PCO_PP2_HEAD, blen, &alen, pp)
        != PCO_OK)
    {
        return PCO_ERROR;
    }
    /* TLVs: type (1), length (2, big-endian), value; each must end within the header */
    p = buf + PCO_PP2_HEAD + alen;
    end = buf + total;
    while (p < end) {
        if (end - p < 3) {
            return pco_proxy_protocol_fail(pp, "truncated v2 TLV");
        }
        tlen = ((size_t) p[1] << 8) | p[2];
        if ((size_t) (end - p - 3) < tlen) {
            return pco_proxy_protocol_fail(pp, "v2 TLV past the header");
        }
        p += 3 + tlen;
    }
    return PCO_OK;
}

int
pco_proxy_protocol_parse(const u_char *buf, size_t len, pco_proxy_protocol_t *pp)
{
    memset(pp, 0, sizeof(*pp));
    if (len == 0) {
        return PCO_AGAIN;
    }
    if (buf[0] == pco_proxy_protocol_v1_sig[0]) {
        return pco_proxy_protocol_v1(buf, len, pp);
    }
    if (buf[0] == pco_proxy_protocol_v2_sig[0]) {
        return pco_proxy_protocol_v2(buf, len, pp);
    }
    return pco_proxy_protocol_fail(pp, "no PROXY protocol signature");
}

/* ---- building ---- */

/* sa as IPv6 (IPv4-mapped when it is IPv4) into out. */
static void
pco_proxy_protocol_to6(const pco_sockaddr_t *sa, pco_sockaddr_t *out)
{
    if (sa->sa.sa_family == AF_INET6) {
        *out = *sa;
        return;
    }
    memset(out, 0, sizeof(*out));
    out->sin6.sin6_family = AF_INET6;
    out->sin6.sin6_port = sa->sin.sin_port;
    out->sin6.sin6_addr.s6_addr[10] = 0xff;
    out->sin6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&out->sin6.sin6_addr.s6_addr[12], &sa->sin.sin_addr, 4);
}

static bool
pco_proxy_protocol_inet(const pco_sockaddr_t *sa)
{
    return sa->sa.sa_family == AF_INET || sa->sa.sa_family == AF_INET6;
}

static size_t
pco_proxy_protocol_build_v1(u_char *buf, size_t size, const pco_sockaddr_t *s,
                            const pco_sockaddr_t *d)
{
    char  a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int   n;

    if (s == NULL) {
        memcpy(buf, "PROXY UNKNOWN\r\n", 15);
        return 15;
    }
    if (s->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &s->sin.sin_addr, a, sizeof(a));
        inet_ntop(AF_INET, &d->sin.sin_addr, b, sizeof(b));
        n = snprintf((char *) buf, size, "PROXY TCP4 %s %s %u %u\r\n", a, b,
                     (unsigned) ntohs(s->sin.sin_port), (unsigned) ntohs(d->sin.sin_port));
    } else {
        inet_ntop(AF_INET6, &s->sin6.sin6_addr, a, sizeof(a));
        inet_ntop(AF_INET6, &d->sin6.sin6_addr, b, sizeof(b));
        n = snprintf((char *) buf, size, "PROXY TCP6 %s %s %u %u\r\n", a, b,
                     (unsigned) ntohs(s->sin6.sin6_port), (unsigned) ntohs(d->sin6.sin6_port));
    }
    return n > 0 && (size_t) n < size ? (size_t) n : 0;
}

/* The v2 address block of s and d (same family, or s NULL) after buf[0..16). */
static size_t
pco_proxy_protocol_build_v2(u_char *buf, const pco_sockaddr_t *s, socklen_t slen,
                            const pco_sockaddr_t *d, socklen_t dlen)
{
    size_t  blen = 0, off = offsetof(struct sockaddr_un, sun_path);
    int     af = s != NULL && s->sa.sa_family == d->sa.sa_family ? s->sa.sa_family : 0;

    memcpy(buf, pco_proxy_protocol_v2_sig, 12);
    buf[12] = s != NULL ? 0x21 : 0x20;                /* version 2, PROXY or LOCAL */
    buf[13] = 0x00;                                   /* AF_UNSPEC, UNSPEC */
    if (af == AF_INET) {
        buf[13] = 0x11;                               /* AF_INET, STREAM */
        memcpy(buf + 16, &s->sin.sin_addr, 4);
        memcpy(buf + 20, &d->sin.sin_addr, 4);
        memcpy(buf + 24, &s->sin.sin_port, 2);
        memcpy(buf + 26, &d->sin.sin_port, 2);
        blen = PCO_PP2_INET_LEN;
    } else if (af == AF_INET6) {
        buf[13] = 0x21;                               /* AF_INET6, STREAM */
        memcpy(buf + 16, &s->sin6.sin6_addr, 16);
        memcpy(buf + 32, &d->sin6.sin6_addr, 16);
        memcpy(buf + 48, &s->sin6.sin6_port, 2);
        memcpy(buf + 50, &d->sin6.sin6_port, 2);
        blen = PCO_PP2_INET6_LEN;
    } else if (af == AF_UNIX) {
        buf[13] = 0x31;                               /* AF_UNIX, STREAM */
        memset(buf + 16, 0, PCO_PP2_UNIX_LEN);
        if (slen > off) {
            memcpy(buf + 16, s->sun.sun_path,
                   strnlen(s->sun.sun_path, pco_min(slen - off, PCO_PP2_PATH_LEN)));
        }
        if (dlen > off) {
            memcpy(buf + 16 + PCO_PP2_PATH_LEN, d->sun.sun_path,
                   strnlen(d->sun.sun_path, pco_min(dlen - off, PCO_PP2_PATH_LEN)));
        }
        blen = PCO_PP2_UNIX_LEN;
    }
    buf[14] = (u_char) (blen >> 8);
    buf[15] = (u_char) (blen & 0xff);
    return PCO_PP2_HEAD + blen;
}

size_t
pco_proxy_protocol_build(u_char *buf, size_t size, unsigned version,
                         const pco_sockaddr_t *src, socklen_t src_len,
                         const pco_sockaddr_t *dst, socklen_t dst_len)
{
    pco_sockaddr_t  s6, d6;

    if (size < PCO_PROXY_PROTOCOL_BUILD_MAX) {
        return 0;
    }
    if (src != NULL && dst == NULL) {
        src = NULL;
    }
    if (src != NULL && pco_proxy_protocol_inet(src) && pco_proxy_protocol_inet(dst)
        && src->sa.sa_family != dst->sa.sa_family)
    {
        pco_proxy_protocol_to6(src, &s6);
        pco_proxy_protocol_to6(dst, &d6);
        src = &s6;
        dst = &d6;
    }
    if (version == 1) {
        if (src != NULL && !(pco_proxy_protocol_inet(src) && pco_proxy_protocol_inet(dst))) {
            src = NULL;
        }
        return pco_proxy_protocol_build_v1(buf, size, src, dst);
    }
    return pco_proxy_protocol_build_v2(buf, src, src_len, dst, dst_len);
}
