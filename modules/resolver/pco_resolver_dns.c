/*
 * pco_resolver_dns.c: a small blocking DNS stub client for the resolver helper process
 * (never called by a worker). Queries are built with libresolv's res_nmkquery (a random
 * identifier) and sent over UDP to each nameserver in turn, `attempts` rounds, each try
 * waiting `timeout`; responses are read with libresolv's ns_initparse/ns_parserr (no DNS
 * message parser of our own), which give every record's TTL, what getaddrinfo hides.
 *
 * Our own UDP exchange (rather than res_nsend) lets the nameserver list carry any port and
 * IPv6 addresses without touching the private parts of the res_state, and keeps the time
 * spent on a dead nameserver to exactly `timeout`. A connected UDP socket only accepts
 * datagrams from the nameserver asked; a response must carry the query's identifier and be
 * a response (QR) to the same question type. A truncated (TC) response is used as it is:
 * the records that fitted in 4 KiB (far more addresses than a server list needs).
 */
#include "pco_resolver.h"
#include <arpa/nameser.h>
#include <errno.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Appends one A/AAAA record's address (with port) to a; false when a is full. */
static bool
pco_resolver_add_addr(pco_resolver_answer_t *a, int type, const u_char *rdata, in_port_t port)
{
    pco_sockaddr_t  *sa;

    if (a->n >= PCO_RESOLVER_MAX_ADDRS) {
        return false;
    }
    sa = &a->addrs[a->n];
    memset(sa, 0, sizeof(*sa));
    if (type == ns_t_a) {
        sa->sin.sin_family = AF_INET;
        sa->sin.sin_port = htons(port);
        memcpy(&sa->sin.sin_addr, rdata, 4);
        a->lens[a->n] = sizeof(struct sockaddr_in);
    } else {
        sa->sin6.sin6_family = AF_INET6;
        sa->sin6.sin6_port = htons(port);
        memcpy(&sa->sin6.sin6_addr, rdata, 16);
        a->lens[a->n] = sizeof(struct sockaddr_in6);
    }
    a->n++;
    return true;
}

static void
pco_resolver_take_ttl(pco_resolver_answer_t *a, uint32_t ttl)
{
    if (!a->have_ttl || ttl < a->ttl) {
        a->ttl = ttl;
        a->have_ttl = true;
    }
}

int
pco_resolver_parse_answer(const u_char *msg, size_t len, uint16_t id, int qtype,
                          in_port_t port, pco_resolver_answer_t *a)
{
    ns_msg     m;
    ns_rr      rr;
    unsigned   n0 = a->n, i, count;
    int        rcode, type;
    uint32_t   ttl = a->ttl;
    bool       have_ttl = a->have_ttl;

    if (len > PCO_RESOLVER_MSG_MAX || ns_initparse(msg, (int) len, &m) != 0
        || ns_msg_id(m) != id || !ns_msg_getflag(m, ns_f_qr)
        || ns_msg_count(m, ns_s_qd) != 1 || ns_parserr(&m, ns_s_qd, 0, &rr) != 0
        || (int) ns_rr_type(rr) != qtype)
    {
        snprintf(a->error, sizeof(a->error), "malformed response");
        return PCO_ERROR;
    }
    rcode = ns_msg_getflag(m, ns_f_rcode);
    if (rcode != ns_r_noerror) {
        snprintf(a->error, sizeof(a->error), "%s",
                 rcode == ns_r_servfail ? "SERVFAIL" : rcode == ns_r_nxdomain ? "NXDOMAIN"
                 : rcode == ns_r_refused ? "REFUSED" : "");
        if (a->error[0] == '\0') {
            snprintf(a->error, sizeof(a->error), "rcode %d", rcode);
        }
        return PCO_ERROR;
    }
    count = ns_msg_count(m, ns_s_an);
    for (i = 0; i < count; i++) {
        if (ns_parserr(&m, ns_s_an, (int) i, &rr) != 0) {
            a->n = n0;                               /* all or nothing */
            a->ttl = ttl;
            a->have_ttl = have_ttl;
            snprintf(a->error, sizeof(a->error), "malformed response");
            return PCO_ERROR;
        }
        type = (int) ns_rr_type(rr);
        if (ns_rr_class(rr) != ns_c_in) {
            continue;
        }
        if (type == ns_t_cname) {
            pco_resolver_take_ttl(a, ns_rr_ttl(rr));   /* the chain expires with its link */
            continue;
        }
        if (type != qtype || ns_rr_rdlen(rr) != (type == ns_t_a ? 4 : 16)) {
            continue;
        }
        if (pco_resolver_add_addr(a, type, ns_rr_rdata(rr), port)) {
            pco_resolver_take_ttl(a, ns_rr_ttl(rr));
        }
    }
    return PCO_OK;
}

static int64_t
pco_resolver_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* strerror(err) with a lowercase first letter, as the error log's other reasons read. */
static void
pco_resolver_strerror(int err, char *why, size_t wlen)
{
    snprintf(why, wlen, "%s", strerror(err));
    if (why[0] >= 'A' && why[0] <= 'Z') {
        why[0] = (char) (why[0] - 'A' + 'a');
    }
}

/* One query to one nameserver: the response in ans (*alen bytes). PCO_OK, or PCO_ERROR with
 * why set ("timed out", the socket error). */
static int
pco_resolver_exchange(const pco_sockaddr_t *ns, socklen_t nslen, const u_char *q, size_t qlen,
                      u_char *ans, size_t *alen, pco_msec_t timeout, char *why, size_t wlen)
{
    struct pollfd  pfd;
    int64_t        deadline = pco_resolver_now_ms() + (int64_t) timeout, left;
    ssize_t        n;
    int            fd, rc;

    fd = socket(ns->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1 || connect(fd, &ns->sa, nslen) == -1
        || send(fd, q, qlen, 0) != (ssize_t) qlen)
    {
        pco_resolver_strerror(errno, why, wlen);
        if (fd != -1) {
            close(fd);
        }
        return PCO_ERROR;
    }
    for (;;) {
        left = deadline - pco_resolver_now_ms();
        if (left <= 0) {
            snprintf(why, wlen, "timed out");
            break;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, (int) left);
        if (rc == -1 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            if (rc == 0) {
                snprintf(why, wlen, "timed out");
            } else {
                pco_resolver_strerror(errno, why, wlen);
            }
            break;
        }
        n = recv(fd, ans, PCO_RESOLVER_MSG_MAX, 0);
        if (n == -1) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            pco_resolver_strerror(errno, why, wlen);     /* "connection refused" */
            break;
        }
        /* a stray datagram (an earlier try's late answer) does not end the wait */
        if (n >= NS_HFIXEDSZ && ans[0] == q[0] && ans[1] == q[1]) {
            *alen = (size_t) n;
            close(fd);
            return PCO_OK;
        }
    }
    close(fd);
    return PCO_ERROR;
}

/* Asks the nameservers for the qtype records of name until one answers (or says NXDOMAIN);
 * the records go to a. PCO_OK or PCO_ERROR with a->error. */
static int
pco_resolver_query(res_state st, const pco_resolver_block_t *conf, const pco_sockaddr_t *ns,
                   const socklen_t *nslen, unsigned nns, const char *name, int qtype,
                   in_port_t port, pco_resolver_answer_t *a)
{
    u_char    q[NS_PACKETSZ], ans[PCO_RESOLVER_MSG_MAX];
    size_t    alen;
    int       qlen;
    int64_t   round;
    unsigned  i;

    qlen = res_nmkquery(st, ns_o_query, name, ns_c_in, qtype, NULL, 0, NULL, q, sizeof(q));
    if (qlen < NS_HFIXEDSZ) {
        snprintf(a->error, sizeof(a->error), "cannot build a query for this name");
        return PCO_ERROR;
    }
    snprintf(a->error, sizeof(a->error), "no nameserver");
    for (round = 0; round < conf->attempts; round++) {
        for (i = 0; i < nns; i++) {
            if (pco_resolver_exchange(&ns[i], nslen[i], q, (size_t) qlen, ans, &alen,
                                      conf->timeout, a->error, sizeof(a->error)) != PCO_OK)
            {
                continue;
            }
            if (pco_resolver_parse_answer(ans, alen, (uint16_t) (q[0] << 8 | q[1]), qtype,
                                          port, a) == PCO_OK)
            {
                a->error[0] = '\0';
                return PCO_OK;
            }
            if (strcmp(a->error, "NXDOMAIN") == 0) {
                return PCO_ERROR;          /* an authoritative no: asking again won't help */
            }
        }
    }
    return PCO_ERROR;
}

/* res_nmkquery needs a state for its options and identifier source: this process's own,
 * built once (it reads resolv.conf, whose nameservers are the default list). */
static res_state
pco_resolver_state(void)
{
    static struct __res_state  st;
    static bool                ready;

    if (!ready) {
        if (res_ninit(&st) != 0) {
            return NULL;
        }
        ready = true;
    }
    return &st;
}

unsigned
pco_resolver_system_ns(pco_sockaddr_t *ns, socklen_t *lens, unsigned max)
{
    res_state  st = pco_resolver_state();
    unsigned   i, n = 0;

    for (i = 0; st != NULL && i < (unsigned) st->nscount && i < MAXNS && n < max; i++) {
        memset(&ns[n], 0, sizeof(ns[n]));
        if (st->nsaddr_list[i].sin_family == AF_INET) {
            ns[n].sin = st->nsaddr_list[i];
            lens[n++] = sizeof(struct sockaddr_in);
        } else if (st->_u._ext.nsaddrs[i] != NULL) {
            /* glibc keeps IPv6 nameservers beside the list, in its extension part */
            ns[n].sin6 = *st->_u._ext.nsaddrs[i];
            lens[n++] = sizeof(struct sockaddr_in6);
        }
    }
    return n;
}

int
pco_resolver_lookup(const pco_resolver_block_t *conf, const pco_sockaddr_t *ns,
                    const socklen_t *nslen, unsigned nns, const char *name, in_port_t port,
                    pco_resolver_answer_t *a)
{
    res_state  st = pco_resolver_state();
    char       first[sizeof(a->error)] = "";

    a->n = 0;
    a->ttl = 0;
    a->have_ttl = false;
    a->error[0] = '\0';
    if (st == NULL) {
        snprintf(a->error, sizeof(a->error), "res_ninit() failed");
        return PCO_ERROR;
    }
    if (pco_resolver_query(st, conf, ns, nslen, nns, name, ns_t_a, port, a) != PCO_OK) {
        snprintf(first, sizeof(first), "%s", a->error);
    }
    if (conf->ipv6
        && pco_resolver_query(st, conf, ns, nslen, nns, name, ns_t_aaaa, port, a) != PCO_OK
        && first[0] == '\0')
    {
        snprintf(first, sizeof(first), "%s", a->error);
    }
    /* a query that failed (other than "no such name") means the answer may be partial:
     * the caller keeps what it had rather than dropping the family that did not answer */
    if (first[0] != '\0' && (strcmp(first, "NXDOMAIN") != 0 || a->n == 0)) {
        snprintf(a->error, sizeof(a->error), "%s", first);
        return PCO_ERROR;
    }
    if (a->n == 0) {
        snprintf(a->error, sizeof(a->error), "no addresses");
        return PCO_ERROR;
    }
    a->error[0] = '\0';
    return PCO_OK;
}
