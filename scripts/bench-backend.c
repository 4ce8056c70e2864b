/*
 * bench-backend.c: the backend of the proxy benchmark (scripts/bench compiles it with
 * `cc -O2` into its temporary directory). One process, one epoll loop, edge-triggered,
 * keep-alive, responses built once at start-up with a Content-Length:
 *
 *   GET /1m        1 MiB body ("x" bytes)
 *   GET /json      about 100 KiB of JSON (application/json), varied enough that gzip level 1
 *                  gives about 4:1, as real API answers do (the gzip case)
 *   GET /cache1k   1 KiB body with Cache-Control: max-age=3600 (the cache hit cases: every
 *                  cache stores it and keeps it fresh for the whole run)
 *   GET /cache1m   1 MiB body, the same Cache-Control
 *   GET /__stats   "connections N requests M\n" and Connection: close; the numbers count
 *                  every accepted connection and answered request except the stats ones
 *   GET anything   128-byte body
 *
 * A request head carrying "Connection: close" gets the same response with Connection: close,
 * and the connection is closed once it is written. Request bodies are not expected (the
 * benchmark sends GETs only); a head over 16 KiB closes the connection. On SIGTERM or SIGINT
 * it prints the same counters on stdout and exits.
 *
 * Usage: bench-backend PORT   (listens on 127.0.0.1:PORT; prints "ready" once listening)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PCO_BB_HEAD_MAX  16384
#define PCO_BB_SMALL     128
#define PCO_BB_BIG       (1024 * 1024)
#define PCO_BB_JSON      (100 * 1024)
#define PCO_BB_KIB       1024
#define PCO_BB_MAX_FDS   131072

typedef struct {
    const char  *data;
    size_t       len;
} pco_bb_resp_t;

typedef struct {
    int            fd;
    int            close_after;
    size_t         in_len;
    const char    *out;
    size_t         out_len;
    size_t         out_off;
    char           stats[128];
    char           in[PCO_BB_HEAD_MAX];
} pco_bb_conn_t;

/* The kinds of response, the index of pco_bb_resp. */
enum { PCO_BB_K_SMALL, PCO_BB_K_BIG, PCO_BB_K_JSON, PCO_BB_K_CACHE1K, PCO_BB_K_CACHE1M,
       PCO_BB_K_N };

static const size_t  pco_bb_body_len[PCO_BB_K_N] = {
    PCO_BB_SMALL, PCO_BB_BIG, PCO_BB_JSON, PCO_BB_KIB, PCO_BB_BIG
};

/* [kind][close] */
static pco_bb_resp_t           pco_bb_resp[PCO_BB_K_N][2];
static pco_bb_conn_t          *pco_bb_conns[PCO_BB_MAX_FDS];
static volatile sig_atomic_t   pco_bb_stop;
static uint64_t                pco_bb_accepted;
static uint64_t                pco_bb_stats_conns;
static uint64_t                pco_bb_requests;

static void
pco_bb_on_signal(int signo)
{
    (void) signo;
    pco_bb_stop = 1;
}

/* PCO_BB_JSON bytes of a JSON array of records (deterministic pseudo-random fields). */
static void
pco_bb_json(char *p)
{
    static const char  *words[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                                    "golf", "hotel", "india", "juliet", "kilo", "lima" };
    uint32_t            x = 12345;
    size_t              len = 0, i = 0;
    int                 n;
    char                rec[192];

    p[len++] = '[';
    for ( ;; ) {
        x = x * 1103515245u + 12345u;
        n = snprintf(rec, sizeof(rec), "%s{\"id\":%zu,\"name\":\"%s %s\",\"price\":%u.%02u,"
                     "\"stock\":%u,\"sku\":\"%08x\",\"active\":%s}", i ? "," : "", i,
                     words[x % 12], words[(x >> 8) % 12], (x >> 4) % 1000, x % 100,
                     (x >> 12) % 500, x, (x & 1) ? "true" : "false");
        if (len + (size_t) n + 1 > PCO_BB_JSON) {
            break;
        }
        memcpy(p + len, rec, (size_t) n);
        len += (size_t) n;
        i++;
    }
    memset(p + len, ' ', PCO_BB_JSON - 1 - len);     /* pad to the exact size */
    p[PCO_BB_JSON - 1] = ']';
}

static int
pco_bb_build(pco_bb_resp_t *rs, int kind, int close)
{
    char    head[256];
    int     n, cacheable = kind == PCO_BB_K_CACHE1K || kind == PCO_BB_K_CACHE1M;
    char   *p;
    size_t  body = pco_bb_body_len[kind];

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nServer: bench-backend\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%s%s\r\n",
                 kind == PCO_BB_K_JSON ? "application/json" : "text/plain", body,
                 cacheable ? "Cache-Control: max-age=3600\r\n" : "",
                 close ? "Connection: close\r\n" : "");
    p = malloc((size_t) n + body);
    if (p == NULL) {
        return -1;
    }
    memcpy(p, head, (size_t) n);
    if (kind == PCO_BB_K_JSON) {
        pco_bb_json(p + n);
    } else {
        memset(p + n, 'x', body);
    }
    rs->data = p;
    rs->len = (size_t) n + body;
    return 0;
}

static void
pco_bb_close(pco_bb_conn_t *c)
{
    pco_bb_conns[c->fd] = NULL;
    close(c->fd);
    free(c);
}

/* Parses one complete head at the start of c->in, if any, and sets the response. Returns 1
 * when a response was set, 0 when the head is incomplete, -1 on an oversized head. */
static int
pco_bb_parse(pco_bb_conn_t *c)
{
    char    *end, *line_end;
    size_t   head_len;
    int      kind, close, stats, n;
    char     body[80];

    end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->in_len >= sizeof(c->in) ? -1 : 0;
    }
    head_len = (size_t) (end - c->in) + 4;
    *end = '\0';
    line_end = strstr(c->in, "\r\n");
    if (line_end != NULL) {
        *line_end = '\0';
    }
    kind = strstr(c->in, " /1m") != NULL ? PCO_BB_K_BIG
           : strstr(c->in, " /json") != NULL ? PCO_BB_K_JSON
           : strstr(c->in, " /cache1k") != NULL ? PCO_BB_K_CACHE1K
           : strstr(c->in, " /cache1m") != NULL ? PCO_BB_K_CACHE1M : PCO_BB_K_SMALL;
    stats = strstr(c->in, " /__stats") != NULL;
    close = line_end != NULL && strcasestr(line_end + 2, "\nconnection: close") != NULL;
    if (line_end != NULL && strncasecmp(line_end + 2, "connection: close", 17) == 0) {
        close = 1;
    }

    if (stats) {
        pco_bb_stats_conns++;
        n = snprintf(body, sizeof(body), "connections %llu requests %llu\n",
                     (unsigned long long) (pco_bb_accepted - pco_bb_stats_conns),
                     (unsigned long long) pco_bb_requests);
        c->out_len = (size_t) snprintf(c->stats, sizeof(c->stats),
                                       "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                       "Connection: close\r\n\r\n%s", n, body);
        c->out = c->stats;
        c->close_after = 1;
    } else {
        pco_bb_requests++;
        c->out = pco_bb_resp[kind][close].data;
        c->out_len = pco_bb_resp[kind][close].len;
        c->close_after = close;
    }
    c->out_off = 0;
    memmove(c->in, c->in + head_len, c->in_len - head_len);
    c->in_len -= head_len;
    return 1;
}

/* Writes what is pending, answers complete heads, reads until EAGAIN. Returns -1 when the
 * connection is to be closed. */
static int
pco_bb_io(pco_bb_conn_t *c)
{
    ssize_t  n;
    int      rc;

    for ( ;; ) {
        while (c->out != NULL) {
            n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return errno == EAGAIN ? 0 : -1;
            }
            c->out_off += (size_t) n;
            if (c->out_off == c->out_len) {
                c->out = NULL;
                if (c->close_after) {
                    return -1;
                }
            }
        }
        rc = pco_bb_parse(c);
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            continue;
        }
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -1;
        }
        if (n == 0) {
            return -1;
        }
        c->in_len += (size_t) n;
    }
}

static void
pco_bb_accept(int ep, int ls)
{
    int                  fd, one = 1;
    pco_bb_conn_t       *c;
    struct epoll_event   ev;

    for ( ;; ) {
        fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN) {
                perror("bench-backend: accept4");
            }
            return;
        }
        c = fd < PCO_BB_MAX_FDS ? malloc(sizeof(*c)) : NULL;
        if (c == NULL) {
            close(fd);
            continue;
        }
        pco_bb_accepted++;
        c->fd = fd;
        c->in_len = 0;
        c->out = NULL;
        c->close_after = 0;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pco_bb_conns[fd] = c;
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 || pco_bb_io(c) < 0) {
            pco_bb_close(c);
        }
    }
}

int
main(int argc, char **argv)
{
    int                  ls, ep, n, i, one = 1, kind, close;
    struct sockaddr_in   sin;
    struct epoll_event   ev, evs[256];
    struct sigaction     sa;
    pco_bb_conn_t       *c;

    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: bench-backend PORT\n");
        return 2;
    }
    for (kind = 0; kind < PCO_BB_K_N; kind++) {
        for (close = 0; close < 2; close++) {
            if (pco_bb_build(&pco_bb_resp[kind][close], kind, close) < 0)
            {
                perror("bench-backend: malloc");
                return 1;
            }
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pco_bb_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) atoi(argv[1]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
        || bind(ls, (struct sockaddr *) &sin, sizeof(sin)) < 0 || listen(ls, 4096) < 0)
    {
        perror("bench-backend: listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0) {
        perror("bench-backend: epoll");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    while (!pco_bb_stop) {
        n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno != EINTR) {
            perror("bench-backend: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            if (evs[i].data.fd == ls) {
                pco_bb_accept(ep, ls);
                continue;
            }
            c = pco_bb_conns[evs[i].data.fd];
            if (c != NULL && pco_bb_io(c) < 0) {
                pco_bb_close(c);
            }
        }
    }
    printf("connections %llu requests %llu\n",
           (unsigned long long) (pco_bb_accepted - pco_bb_stats_conns),
           (unsigned long long) pco_bb_requests);
    return 0;
}
