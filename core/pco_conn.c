/*
 * pco_conn.c: the per-worker connection table. `max` structs are allocated once at worker
 * start and handed out from a free list (O(1) get and put); an idle connection holds nothing
 * else. Also the idle list used at graceful shutdown, the plain (non-TLS) I/O methods and
 * socket address formatting. Process-local state only; nothing here blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include "pco_conn.h"
#include "pco_pool.h"
#include "pco_time.h"
#include "pco_cycle.h"

static pco_connection_t  *pco_conn_array;
static uint8_t           *pco_conn_instances;
static pco_connection_t  *pco_conn_free;        /* linked through data */
static unsigned           pco_conn_max;
static unsigned           pco_conn_nfree;
static uint64_t           pco_conn_counter;
static time_t             pco_conn_warned;
static pco_connection_t   pco_conn_idle_head;   /* sentinel of the idle list */

int
pco_conn_pool_init(unsigned max)
{
    unsigned  i;

    free(pco_conn_array);
    free(pco_conn_instances);
    pco_conn_array = calloc(max ? max : 1, sizeof(pco_connection_t));
    pco_conn_instances = calloc(max ? max : 1, 1);
    if (pco_conn_array == NULL || pco_conn_instances == NULL) {
        pco_log_error(PCO_LOG_ALERT, pco_log, errno, "cannot allocate %u connections", max);
        return PCO_ERROR;
    }
    pco_conn_max = max;
    pco_conn_free = NULL;
    for (i = max; i > 0; i--) {
        pco_conn_array[i - 1].fd = -1;
        pco_conn_array[i - 1].data = pco_conn_free;
        pco_conn_free = &pco_conn_array[i - 1];
    }
    pco_conn_nfree = max;
    pco_conn_idle_head.queue_next = &pco_conn_idle_head;
    pco_conn_idle_head.queue_prev = &pco_conn_idle_head;
    return PCO_OK;
}

unsigned
pco_conn_instance(const pco_connection_t *c)
{
    if (pco_conn_array == NULL || c < pco_conn_array || c >= pco_conn_array + pco_conn_max) {
        return 0;
    }
    return pco_conn_instances[c - pco_conn_array];
}

pco_connection_t *
pco_conn_get(int fd)
{
    pco_connection_t  *c;
    size_t             i;

    c = pco_conn_free;
    if (c == NULL) {
        if (pco_conn_warned != pco_time_sec) {
            pco_conn_warned = pco_time_sec;
            pco_log_error(PCO_LOG_ALERT, pco_log, 0, "%u worker_connections are not enough",
                          pco_conn_max);
        }
        return NULL;
    }
    pco_conn_free = c->data;
    pco_conn_nfree--;

    i = (size_t) (c - pco_conn_array);
    pco_conn_instances[i] ^= 1;
    memset(c, 0, sizeof(pco_connection_t));
    c->fd = fd;
    c->number = ++pco_conn_counter * 64 + (uint64_t) (pco_log_worker_id & 63);
    c->read.data = c;
    c->write.data = c;
    c->write.write = 1;
    c->io = &pco_conn_plain_io;
    c->log = pco_log;
    return c;
}

/* The hooks of the process's current generation (pco_cycle_t.conn_freed), in order. */
static void
pco_conn_freed_notify(void)
{
    pco_cycle_t        *cycle = pco_cycle;
    pco_conn_freed_pt  *h;
    size_t              i;

    if (cycle == NULL) {
        return;
    }
    h = cycle->conn_freed.elts;
    for (i = 0; i < cycle->conn_freed.nelts; i++) {
        h[i](cycle);
    }
}

void
pco_conn_close(pco_connection_t *c)
{
    if (c == NULL || c->destroyed) {
        return;
    }
    if (c->listening_conn) {
        pco_event_del(c);       /* the socket is shared with other processes */
    } else {
        /* close() below drops a socket no other descriptor refers to from the epoll set:
         * one system call less per connection */
        c->read.active = 0;
        c->write.active = 0;
    }
    pco_event_del_timer(&c->read);
    pco_event_del_timer(&c->write);
    pco_event_unpost(&c->read);
    pco_event_unpost(&c->write);
    if (c->idle) {
        pco_conn_set_idle(c, false);
    }
    if (c->fd != -1) {
        if (c->more_held) {
            /* the FIN now, with what MSG_MORE held, before close() could reset instead */
            (void) shutdown(c->fd, SHUT_WR);
        }
        /* no retry on EINTR: Linux has closed the descriptor anyway */
        close(c->fd);
    }
    c->fd = -1;
    c->destroyed = 1;
    if (c->pool != NULL) {
        pco_pool_destroy(c->pool);
        c->pool = NULL;
    }
    c->data = pco_conn_free;
    pco_conn_free = c;
    pco_conn_nfree++;
    pco_conn_freed_notify();
}

void
pco_conn_nodelay(pco_connection_t *c)
{
    int  one = 1;

    if (c->tcp_nodelay
        || (c->sockaddr.sa.sa_family != AF_INET && c->sockaddr.sa.sa_family != AF_INET6))
    {
        return;
    }
    /* set even when it fails, so a failure costs one call per connection, not per write */
    c->tcp_nodelay = 1;
    (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

unsigned
pco_conn_used(void)
{
    return pco_conn_max - pco_conn_nfree;
}

unsigned
pco_conn_free_count(void)
{
    return pco_conn_nfree;
}

void
pco_conn_set_idle(pco_connection_t *c, bool idle)
{
    if (pco_conn_idle_head.queue_next == NULL) {
        pco_conn_idle_head.queue_next = &pco_conn_idle_head;
        pco_conn_idle_head.queue_prev = &pco_conn_idle_head;
    }
    if (idle == (bool) c->idle) {
        return;
    }
    if (idle) {
        c->queue_next = &pco_conn_idle_head;
        c->queue_prev = pco_conn_idle_head.queue_prev;
        pco_conn_idle_head.queue_prev->queue_next = c;
        pco_conn_idle_head.queue_prev = c;
        c->idle = 1;
    } else {
        c->queue_prev->queue_next = c->queue_next;
        c->queue_next->queue_prev = c->queue_prev;
        c->queue_next = NULL;
        c->queue_prev = NULL;
        c->idle = 0;
    }
}

unsigned
pco_conn_close_idle(void)
{
    unsigned           n;
    pco_connection_t  *c;

    n = 0;
    if (pco_conn_idle_head.queue_next == NULL) {
        return 0;
    }
    while (pco_conn_idle_head.queue_next != &pco_conn_idle_head) {
        c = pco_conn_idle_head.queue_next;
        /* the owner closes it its own way (TLS close_notify, counters, pool bookkeeping) */
        c->close = 1;
        if (c->read.handler != NULL) {
            c->read.handler(&c->read);
        }
        if (!c->destroyed && c->idle) {
            pco_conn_close(c);     /* the handler ignored c->close */
        }
        n++;
    }
    return n;
}

/* ---- plain I/O ---- */

static ssize_t
pco_conn_plain_recv(pco_connection_t *c, u_char *buf, size_t size)
{
    ssize_t  n;

    for ( ;; ) {
        n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            if ((size_t) n < size && !c->read.eof) {
                /* fewer bytes than asked: the socket is drained. With edge-triggered epoll
                 * the next bytes raise a new event, so a reader may stop here instead of
                 * calling recv again for an EAGAIN (nginx does the same). A pending EOF
                 * (EPOLLRDHUP) keeps ready set: the next recv returns it. */
                c->read.ready = 0;
            }
            return n;
        }
        if (n == 0) {
            c->read.eof = 1;
            c->read.ready = 0;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->read.ready = 0;
            return PCO_AGAIN;
        }
        c->read.error = 1;
        c->read.ready = 0;
        return PCO_ERROR;
    }
}

/* The outcome of a send-side system call that returned n (EINTR already retried). */
static ssize_t
pco_conn_sent(pco_connection_t *c, ssize_t n)
{
    if (n >= 0) {
        return n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->write.ready = 0;
        return PCO_AGAIN;
    }
    c->write.error = 1;
    return PCO_ERROR;
}

static ssize_t
pco_conn_plain_send(pco_connection_t *c, const u_char *buf, size_t size)
{
    ssize_t  n;

    do {
        c->more_held |= c->fin_next;
        n = send(c->fd, buf, size, MSG_NOSIGNAL | (c->fin_next ? MSG_MORE : 0));
    } while (n < 0 && errno == EINTR);
    return pco_conn_sent(c, n);
}

static ssize_t
pco_conn_plain_writev(pco_connection_t *c, const struct iovec *iov, int iovcnt)
{
    ssize_t        n;
    struct msghdr  msg;

    /* sendmsg rather than writev: MSG_NOSIGNAL avoids SIGPIPE on a reset peer */
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = (struct iovec *) iov;
    msg.msg_iovlen = (size_t) iovcnt;
    do {
        c->more_held |= c->fin_next;
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | (c->fin_next ? MSG_MORE : 0));
    } while (n < 0 && errno == EINTR);
    return pco_conn_sent(c, n);
}

static ssize_t
pco_conn_plain_sendfile(pco_connection_t *c, int fd, off_t *offset, size_t size)
{
    ssize_t  n;

    do {
        n = sendfile(c->fd, fd, offset, size);
    } while (n < 0 && errno == EINTR);
    return pco_conn_sent(c, n);
}

const pco_conn_io_t pco_conn_plain_io = {
    .recv = pco_conn_plain_recv,
    .send = pco_conn_plain_send,
    .writev = pco_conn_plain_writev,
    .sendfile = pco_conn_plain_sendfile,
    .write_unit = 0,
};

/* ---- addresses ---- */

size_t
pco_sockaddr_ntop(const pco_sockaddr_t *sa, socklen_t len, u_char *buf, size_t size,
                  bool with_port)
{
    char    text[INET6_ADDRSTRLEN + 16];
    int     n;
    size_t  plen;

    if (size == 0) {
        return 0;
    }
    n = 0;
    switch (sa->sa.sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &sa->sin.sin_addr, text, sizeof(text));
        if (with_port) {
            n = snprintf((char *) buf, size, "%s:%u", text, (unsigned) ntohs(sa->sin.sin_port));
        } else {
            n = snprintf((char *) buf, size, "%s", text);
        }
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &sa->sin6.sin6_addr, text, sizeof(text));
        if (with_port) {
            n = snprintf((char *) buf, size, "[%s]:%u", text,
                         (unsigned) ntohs(sa->sin6.sin6_port));
        } else {
            n = snprintf((char *) buf, size, "%s", text);
        }
        break;
    case AF_UNIX:
        plen = 0;
        if (len > offsetof(struct sockaddr_un, sun_path)) {
            plen = strnlen(sa->sun.sun_path, len - offsetof(struct sockaddr_un, sun_path));
        }
        n = snprintf((char *) buf, size, "unix:%.*s", (int) plen, sa->sun.sun_path);
        break;
    default:
        n = snprintf((char *) buf, size, "unknown");
        break;
    }
    if (n < 0) {
        return 0;
    }
    return pco_min((size_t) n, size - 1);
}

pco_str_t
pco_conn_addr_text(pco_connection_t *c)
{
    pco_str_t  s;

    if (c->addr_text_len == 0) {
        c->addr_text_len = (uint8_t) pco_sockaddr_ntop(&c->sockaddr, c->socklen, c->addr_text,
                                                       sizeof(c->addr_text), false);
    }
    s.data = c->addr_text;
    s.len = c->addr_text_len;
    return s;
}

in_port_t
pco_sockaddr_port(const pco_sockaddr_t *sa)
{
    switch (sa->sa.sa_family) {
    case AF_INET:
        return ntohs(sa->sin.sin_port);
    case AF_INET6:
        return ntohs(sa->sin6.sin6_port);
    default:
        return 0;
    }
}
