/*
 * pco_upstream_addr.c: server addresses of the upstream module at load (master): the text
 * form of a resolved address ($upstream_addr, the admin API, slot keys) and the resolution
 * of a configured address (IP literal, unix:/path, or HOST:PORT with getaddrinfo: every
 * A/AAAA record; with resolve = true a name that does not resolve yet is a warning).
 */
#include "pco_upstream_int.h"
#include "pco_listen.h"
#include <netdb.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

int
pco_upstream_addr_format(const pco_sockaddr_t *sa, char *buf, size_t size)
{
    char  ip[INET6_ADDRSTRLEN];
    int   n;

    if (sa->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &sa->sin.sin_addr, ip, sizeof(ip));
        n = snprintf(buf, size, "%s:%u", ip, (unsigned) ntohs(sa->sin.sin_port));
    } else if (sa->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &sa->sin6.sin6_addr, ip, sizeof(ip));
        n = snprintf(buf, size, "[%s]:%u", ip, (unsigned) ntohs(sa->sin6.sin6_port));
    } else if (sa->sa.sa_family == AF_UNIX) {
        n = snprintf(buf, size, "unix:%.*s", (int) sizeof(sa->sun.sun_path),
                     sa->sun.sun_path);
    } else {
        return PCO_ERROR;
    }
    return n < 0 || (size_t) n >= size ? PCO_ERROR : PCO_OK;
}

/* "127.0.0.1:9001", "[::1]:9001", "unix:/path" into the pool. */
int
pco_upstream_addr_text(pco_pool_t *pool, const pco_sockaddr_t *sa, pco_str_t *out)
{
    char  buf[sizeof(((struct sockaddr_un *) 0)->sun_path) + 64];
    int   n;

    if (pco_upstream_addr_format(sa, buf, sizeof(buf)) != PCO_OK) {
        return PCO_ERROR;
    }
    n = (int) strlen(buf);
    out->len = (size_t) n;
    out->data = (u_char *) pco_pstrndup(pool, buf, (size_t) n);
    return out->data == NULL ? PCO_ERROR : PCO_OK;
}

int
pco_upstream_resolve(pco_conf_t *cf, const pco_conf_src_t *src, const char *text,
                     pco_sockaddr_t *out, socklen_t *lens, unsigned max, unsigned *nout,
                     bool soft)
{
    struct addrinfo   hints, *res = NULL, *ai;
    const char       *colon;
    char              host[256];
    size_t            hl;
    long              port;
    char             *end;
    int               rc;

    *nout = 0;
    if (pco_parse_addr(text, &out[0], &lens[0], false) == PCO_OK) {
        if (out[0].sa.sa_family != AF_UNIX
            && ((out[0].sa.sa_family == AF_INET && out[0].sin.sin_port == 0)
                || (out[0].sa.sa_family == AF_INET6 && out[0].sin6.sin6_port == 0)))
        {
            pco_conf_error_src(cf, src, "address \"%s\": a port is required", text);
            return PCO_ERROR;
        }
        *nout = 1;
        return PCO_OK;
    }
    colon = strrchr(text, ':');
    if (colon == NULL || colon == text || text[0] == '[' || strncmp(text, "unix:", 5) == 0) {
        pco_conf_error_src(cf, src, "invalid address \"%s\" (HOST:PORT, [IPv6]:PORT or "
                           "unix:/path)", text);
        return PCO_ERROR;
    }
    hl = (size_t) (colon - text);
    port = strtol(colon + 1, &end, 10);
    if (hl >= sizeof(host) || memchr(text, ':', hl) != NULL || *end != '\0' || end == colon + 1
        || port < 1 || port > 65535)
    {
        pco_conf_error_src(cf, src, "invalid address \"%s\" (HOST:PORT, [IPv6]:PORT or "
                           "unix:/path)", text);
        return PCO_ERROR;
    }
    memcpy(host, text, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 && soft) {
        /* resolve = true: the resolver gives it addresses later */
        pco_conf_warn_src(cf, src, "host \"%s\" not found: %s; resolve = true: the "
                          "server gets its addresses when the name resolves", host,
                          gai_strerror(rc));
        return PCO_OK;
    }
    if (rc != 0) {
        pco_conf_error_src(cf, src, "host \"%s\" not found: %s", host, gai_strerror(rc));
        return PCO_ERROR;
    }
    for (ai = res; ai != NULL && *nout < max; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            || ai->ai_addrlen > sizeof(pco_sockaddr_t))
        {
            continue;
        }
        memset(&out[*nout], 0, sizeof(pco_sockaddr_t));
        memcpy(&out[*nout], ai->ai_addr, ai->ai_addrlen);
        lens[*nout] = ai->ai_addrlen;
        (*nout)++;
    }
    freeaddrinfo(res);
    if (*nout == 0 && soft) {
        pco_conf_warn_src(cf, src, "host \"%s\" has no IPv4/IPv6 address yet", host);
        return PCO_OK;
    }
    if (*nout == 0) {
        pco_conf_error_src(cf, src, "host \"%s\" has no IPv4/IPv6 address", host);
        return PCO_ERROR;
    }
    return PCO_OK;
}
