/*
 * pco_proxy_protocol.h: the PROXY protocol (HAProxy's, versions 1 and 2), both directions:
 * a pure parser over a byte buffer for listeners behind an L4 balancer, and a builder of the
 * header portico sends first on an upstream connection. It lives in core because it is a
 * layer-4 framing that knows nothing of HTTP: the http module reads it on listeners, the
 * proxy module and the health checker write it to upstreams. Neither function does I/O,
 * allocates or keeps state.
 */
#ifndef PCO_PROXY_PROTOCOL_H
#define PCO_PROXY_PROTOCOL_H

#include "pco_core.h"

/* A v1 line is at most 107 bytes with its CRLF (the protocol's own bound). */
#define PCO_PROXY_PROTOCOL_V1_MAX   107
/* A v2 header with its TLVs is refused beyond this (signature and fixed part included):
 * TLVs sent by cloud balancers (authority, unique id, SSL, VPC ids) fit in far less. */
#define PCO_PROXY_PROTOCOL_MAX      4096
/* The longest header pco_proxy_protocol_build writes (v2 with two AF_UNIX paths). */
#define PCO_PROXY_PROTOCOL_BUILD_MAX  232

typedef struct {
    size_t           len;         /* bytes of the header, TLVs included */
    unsigned         version;     /* 1 or 2 */
    /* v2 LOCAL, v1 UNKNOWN or v2 AF_UNSPEC: no addresses, the TCP peer stays the client */
    bool             local;
    pco_sockaddr_t   src;         /* the client as the balancer saw it */
    socklen_t        src_len;
    pco_sockaddr_t   dst;         /* the address the client connected to */
    socklen_t        dst_len;
    const char      *error;       /* why, when PCO_ERROR */
} pco_proxy_protocol_t;

/* Parses the header at the start of buf[0..len). Returns PCO_OK (pp->len bytes are the
 * header; bytes after it are not looked at), PCO_AGAIN (a valid beginning: more bytes are
 * needed) or PCO_ERROR (never a valid header, pp->error says why). Any prefix of a valid
 * header gives PCO_AGAIN; bytes that can no longer become one give PCO_ERROR at once, so a
 * plain request on a PROXY listener is refused without waiting. Pure: no I/O, no memory. */
int pco_proxy_protocol_parse(const u_char *buf, size_t len, pco_proxy_protocol_t *pp);

/* Writes a version 1 or 2 header into buf (size >= PCO_PROXY_PROTOCOL_BUILD_MAX) and returns
 * its length. src NULL means "no client" (health checks): v1 "PROXY UNKNOWN", v2 LOCAL.
 * Mixed IPv4/IPv6 addresses are sent as IPv6 (IPv4-mapped); pairs v1 cannot express
 * (AF_UNIX) are sent as UNKNOWN, and v2 sends AF_UNSPEC for pairs of different families. */
size_t pco_proxy_protocol_build(u_char *buf, size_t size, unsigned version,
                                const pco_sockaddr_t *src, socklen_t src_len,
                                const pco_sockaddr_t *dst, socklen_t dst_len);

#endif
