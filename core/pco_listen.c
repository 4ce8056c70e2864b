/*
 * pco_listen.c: listening sockets. Address parsing; the master's binding (taking over the
 * descriptors of the previous generation or those inherited through PORTICO_LISTEN after a
 * binary upgrade, else socket + bind + listen); and the worker side: one listening
 * connection per listener registered with epoll, an accept4() loop, and pausing while the
 * connection table is full (the kernel queue holds clients instead of a reset) or on EMFILE
 * (100 ms timer). pco_listen_conn_freed is the core's connection-freed hook (registered in
 * the cycle by the core module). Process-local state only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include "pco_listen.h"
#include "pco_cycle.h"
#include "pco_conn.h"
#include "pco_bcache.h"
#include "pco_event.h"
#include "pco_log.h"
#include "pco_time.h"

#define PCO_LISTEN_ENV      "PORTICO_LISTEN"
#define PCO_LISTEN_ENV_MAX  (4 * PCO_MAX_WORKERS)

static int           pco_listen_env_fds[PCO_LISTEN_ENV_MAX];
static bool          pco_listen_env_used[PCO_LISTEN_ENV_MAX];
static int           pco_listen_env_n = -1;       /* -1: not parsed yet */

static pco_cycle_t  *pco_listen_worker_cycle;     /* worker: the cycle accepting */
static pco_event_t   pco_listen_pause_ev;         /* EMFILE back-off timer */
static time_t        pco_listen_warned;
static bool          pco_listen_starting;         /* master: binding for a start, not a reload */

/* ---- parsing ---- */

int
pco_parse_addr(const char *text, pco_sockaddr_t *sa, socklen_t *len, bool resolve_star)
{
    const char  *colon, *host_end, *host;
    char         host_buf[INET6_ADDRSTRLEN + 1], *endp;
    size_t       hlen;
    long         port;

    memset(sa, 0, sizeof(pco_sockaddr_t));

    if (strncmp(text, "unix:", 5) == 0) {
        hlen = strlen(text + 5);
        if (hlen == 0 || text[5] != '/' || hlen >= sizeof(sa->sun.sun_path)) {
            return PCO_ERROR;
        }
        sa->sun.sun_family = AF_UNIX;
        memcpy(sa->sun.sun_path, text + 5, hlen + 1);
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + hlen + 1);
        return PCO_OK;
    }

    if (text[0] == '[') {
        host = text + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL || host_end[1] != ':') {
            return PCO_ERROR;
        }
        colon = host_end + 1;
    } else {
        host = text;
        colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t) (colon - text)) != NULL) {
            return PCO_ERROR;         /* a bare IPv6 address needs brackets */
        }
        host_end = colon;
    }

    if (colon[1] < '0' || colon[1] > '9') {
        return PCO_ERROR;
    }
    errno = 0;
    port = strtol(colon + 1, &endp, 10);
    if (errno != 0 || *endp != '\0' || port < 1 || port > 65535) {
        return PCO_ERROR;
    }

    hlen = (size_t) (host_end - host);
    if (hlen == 0 || hlen >= sizeof(host_buf)) {
        return PCO_ERROR;
    }
    memcpy(host_buf, host, hlen);
    host_buf[hlen] = '\0';

    if (text[0] != '[' && strcmp(host_buf, "*") == 0) {
        if (!resolve_star) {
            return PCO_ERROR;
        }
        sa->sin.sin_family = AF_INET;
        sa->sin.sin_addr.s_addr = htonl(INADDR_ANY);
        sa->sin.sin_port = htons((uint16_t) port);
        *len = sizeof(struct sockaddr_in);
        return PCO_OK;
    }
    if (text[0] == '[') {
        if (inet_pton(AF_INET6, host_buf, &sa->sin6.sin6_addr) != 1) {
            return PCO_ERROR;
        }
        sa->sin6.sin6_family = AF_INET6;
        sa->sin6.sin6_port = htons((uint16_t) port);
        *len = sizeof(struct sockaddr_in6);
        return PCO_OK;
    }
    if (inet_pton(AF_INET, host_buf, &sa->sin.sin_addr) != 1) {
        return PCO_ERROR;
    }
    sa->sin.sin_family = AF_INET;
    sa->sin.sin_port = htons((uint16_t) port);
    *len = sizeof(struct sockaddr_in);
    return PCO_OK;
}

static bool
pco_listen_same_addr(const pco_sockaddr_t *a, const pco_sockaddr_t *b)
{
    if (a->sa.sa_family != b->sa.sa_family) {
        return false;
    }
    switch (a->sa.sa_family) {
    case AF_INET:
        return a->sin.sin_port == b->sin.sin_port
               && a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
    case AF_INET6:
        return a->sin6.sin6_port == b->sin6.sin6_port
               && memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(struct in6_addr)) == 0;
    case AF_UNIX:
        return strncmp(a->sun.sun_path, b->sun.sun_path, sizeof(a->sun.sun_path)) == 0;
    default:
        return false;
    }
}

pco_listening_t *
pco_listen_add(pco_cycle_t *cycle, const pco_sockaddr_t *sa, socklen_t len, const char *text)
{
    pco_listening_t  *ls, **last;
    unsigned          i;

    last = &cycle->listening;
    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (pco_listen_same_addr(&ls->sockaddr, sa)) {
            return ls;
        }
        last = &ls->next;
    }
    ls = pco_pcalloc(cycle->pool, sizeof(pco_listening_t));
    if (ls == NULL) {
        return NULL;
    }
    memcpy(&ls->sockaddr, sa, pco_min((size_t) len, sizeof(pco_sockaddr_t)));
    ls->socklen = len;
    ls->addr_text.len = strlen(text);
    ls->addr_text.data = (u_char *) pco_pstrndup(cycle->pool, text, ls->addr_text.len);
    if (ls->addr_text.data == NULL) {
        return NULL;
    }
    ls->fd = -1;
    for (i = 0; i < PCO_MAX_WORKERS; i++) {
        ls->reuse_fds[i] = -1;
    }
    ls->backlog = 511;
    ls->ipv6only = true;
    *last = ls;
    return ls;
}

/* ---- master: binding ---- */

static int
pco_listen_somaxconn(void)
{
    static int  somaxconn = 0;
    FILE       *f;
    int         v;

    if (somaxconn == 0) {
        somaxconn = 4096;
        f = fopen("/proc/sys/net/core/somaxconn", "re");
        if (f != NULL) {
            if (fscanf(f, "%d", &v) == 1 && v > 0) {
                somaxconn = v;
            }
            fclose(f);
        }
    }
    return somaxconn;
}

static int
pco_listen_backlog(const pco_listening_t *ls)
{
    int  backlog;

    backlog = ls->backlog > 0 ? ls->backlog : 511;
    return pco_min(backlog, pco_listen_somaxconn());
}

static void
pco_listen_env_parse(void)
{
    const char  *env, *p;
    char        *endp;
    long         fd;

    pco_listen_env_n = 0;
    env = getenv(PCO_LISTEN_ENV);
    if (env == NULL) {
        return;
    }
    for (p = env; *p != '\0' && pco_listen_env_n < PCO_LISTEN_ENV_MAX; ) {
        errno = 0;
        fd = strtol(p, &endp, 10);
        if (endp == p || errno != 0 || fd < 0 || fd > 0x7fffffff) {
            pco_log_error(PCO_LOG_WARN, pco_log, 0, "invalid " PCO_LISTEN_ENV " \"%s\" ignored",
                          env);
            break;
        }
        pco_listen_env_fds[pco_listen_env_n] = (int) fd;
        pco_listen_env_used[pco_listen_env_n] = false;
        pco_listen_env_n++;
        p = endp;
        while (*p == ';' || *p == ':') {
            p++;
        }
    }
}

/* An inherited descriptor bound to ls's address, or -1. */
static int
pco_listen_env_take(const pco_listening_t *ls)
{
    int             i;
    pco_sockaddr_t  sa;
    socklen_t       len;

    for (i = 0; i < pco_listen_env_n; i++) {
        if (pco_listen_env_used[i]) {
            continue;
        }
        len = sizeof(sa);
        memset(&sa, 0, sizeof(sa));
        if (getsockname(pco_listen_env_fds[i], &sa.sa, &len) == -1) {
            continue;
        }
        if (pco_listen_same_addr(&sa, &ls->sockaddr)) {
            pco_listen_env_used[i] = true;
            /* the old master cleared FD_CLOEXEC for the exec; restore our defaults */
            fcntl(pco_listen_env_fds[i], F_SETFD, FD_CLOEXEC);
            fcntl(pco_listen_env_fds[i], F_SETFL,
                  fcntl(pco_listen_env_fds[i], F_GETFL) | O_NONBLOCK);
            return pco_listen_env_fds[i];
        }
    }
    return -1;
}

/*
 * At start-up, an address still in use (a previous instance that has not finished closing,
 * a service being moved from another process) is tried PCO_BIND_TRIES times,
 * PCO_BIND_DELAY ms apart, as nginx does, before the start fails: one transient conflict
 * must not abort a start under a service manager. A reload does not wait: it fails at once
 * and the running configuration stays.
 */
#define PCO_BIND_TRIES  5
#define PCO_BIND_DELAY  500

static int
pco_listen_bind(int fd, pco_listening_t *ls)
{
    struct timespec  delay = { PCO_BIND_DELAY / 1000, (PCO_BIND_DELAY % 1000) * 1000000L };
    int              try, err;

    for (try = 1; ; try++) {
        if (bind(fd, &ls->sockaddr.sa, ls->socklen) == 0) {
            return PCO_OK;
        }
        err = errno;
        if (err != EADDRINUSE || !pco_listen_starting || try >= PCO_BIND_TRIES) {
            break;
        }
        pco_log_error(PCO_LOG_WARN, pco_log, err, "bind() to %.*s failed, trying again in "
                      "%d ms", (int) ls->addr_text.len, ls->addr_text.data, PCO_BIND_DELAY);
        (void) nanosleep(&delay, NULL);
    }
    pco_log_error(PCO_LOG_STDERR, pco_log, err, "bind() to %.*s failed",
                  (int) ls->addr_text.len, ls->addr_text.data);
    if (err == EADDRINUSE && pco_listen_starting) {
        pco_log_error(PCO_LOG_STDERR, pco_log, 0, "still could not bind() to %.*s "
                      "after %d tries %d ms apart: is another server using it?",
                      (int) ls->addr_text.len, ls->addr_text.data, PCO_BIND_TRIES,
                      PCO_BIND_DELAY);
    }
    return PCO_ERROR;
}

static int
pco_listen_socket(pco_listening_t *ls)
{
    int          fd, one, v6only;
    struct stat  st;

    fd = socket(ls->sockaddr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        pco_log_error(PCO_LOG_STDERR, pco_log, errno, "socket() for %.*s failed",
                      (int) ls->addr_text.len, ls->addr_text.data);
        return -1;
    }
    one = 1;
    if (ls->sockaddr.sa.sa_family != AF_UNIX) {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1) {
            pco_log_error(PCO_LOG_STDERR, pco_log, errno, "setsockopt(SO_REUSEADDR) %.*s failed",
                          (int) ls->addr_text.len, ls->addr_text.data);
            goto failed;
        }
        if (ls->reuseport
            && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
        {
            pco_log_error(PCO_LOG_STDERR, pco_log, errno, "setsockopt(SO_REUSEPORT) %.*s failed",
                          (int) ls->addr_text.len, ls->addr_text.data);
            goto failed;
        }
    }
    if (ls->sockaddr.sa.sa_family == AF_INET6) {
        v6only = ls->ipv6only ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) == -1) {
            pco_log_error(PCO_LOG_STDERR, pco_log, errno, "setsockopt(IPV6_V6ONLY) %.*s failed",
                          (int) ls->addr_text.len, ls->addr_text.data);
            goto failed;
        }
    }
    if (ls->sockaddr.sa.sa_family == AF_UNIX
        && lstat(ls->sockaddr.sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
    {
        /* a stale socket file from a previous run; a live one we took over above */
        unlink(ls->sockaddr.sun.sun_path);
    }
    if (pco_listen_bind(fd, ls) != PCO_OK) {
        goto failed;
    }
    if (listen(fd, pco_listen_backlog(ls)) == -1) {
        pco_log_error(PCO_LOG_STDERR, pco_log, errno, "listen() to %.*s failed",
                      (int) ls->addr_text.len, ls->addr_text.data);
        goto failed;
    }
    return fd;

failed:
    close(fd);
    return -1;
}

static pco_listening_t *
pco_listen_find(pco_cycle_t *cycle, const pco_listening_t *ls)
{
    pco_listening_t  *ols;

    if (cycle == NULL) {
        return NULL;
    }
    for (ols = cycle->listening; ols != NULL; ols = ols->next) {
        if (ols->reuseport == ls->reuseport && pco_listen_same_addr(&ols->sockaddr, &ls->sockaddr))
        {
            return ols;
        }
    }
    return NULL;
}

static bool
pco_listen_fd_in(const pco_listening_t *ls, int fd)
{
    unsigned  i;

    if (fd == -1) {
        return false;
    }
    if (ls->fd == fd) {
        return true;
    }
    for (i = 0; i < PCO_MAX_WORKERS; i++) {
        if (ls->reuse_fds[i] == fd) {
            return true;
        }
    }
    return false;
}

/* Closes the descriptors of cycle's listeners that old did not provide (failure path). */
static void
pco_listen_close_new(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_listening_t  *ls, *ols;
    unsigned          i;
    int               fd;

    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        ols = pco_listen_find(old, ls);
        for (i = 0; i <= PCO_MAX_WORKERS; i++) {
            fd = i == PCO_MAX_WORKERS ? ls->fd : ls->reuse_fds[i];
            if (fd != -1 && (ols == NULL || !pco_listen_fd_in(ols, fd))) {
                close(fd);
            }
        }
        ls->fd = -1;
        for (i = 0; i < PCO_MAX_WORKERS; i++) {
            ls->reuse_fds[i] = -1;
        }
        ls->nreuse = 0;
    }
}

static int
pco_listen_open_one(pco_listening_t *ls, pco_listening_t *ols, unsigned count)
{
    unsigned  i;
    int       fd;

    if (!ls->reuseport) {
        if (ols != NULL && ols->fd != -1) {
            ls->fd = ols->fd;
            ls->inherited = 1;
            /* the backlog may have changed: listen() again just updates it */
            listen(ls->fd, pco_listen_backlog(ls));
            return PCO_OK;
        }
        fd = pco_listen_env_take(ls);
        if (fd != -1) {
            ls->fd = fd;
            ls->inherited = 1;
            return PCO_OK;
        }
        ls->fd = pco_listen_socket(ls);
        return ls->fd == -1 ? PCO_ERROR : PCO_OK;
    }

    for (i = 0; i < count; i++) {
        fd = -1;
        if (ols != NULL && i < ols->nreuse && ols->reuse_fds[i] != -1) {
            fd = ols->reuse_fds[i];
            listen(fd, pco_listen_backlog(ls));
            ls->inherited = 1;
        }
        if (fd == -1) {
            fd = pco_listen_env_take(ls);
            if (fd != -1) {
                ls->inherited = 1;
            }
        }
        if (fd == -1) {
            fd = pco_listen_socket(ls);
            if (fd == -1) {
                return PCO_ERROR;
            }
        }
        ls->reuse_fds[i] = fd;
        ls->nreuse = i + 1;
    }
    return PCO_OK;
}

int
pco_listen_open(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_listening_t  *ls;
    unsigned          count;
    int               i;

    if (pco_listen_env_n == -1) {
        pco_listen_env_parse();
    }
    pco_listen_starting = old == NULL;
    count = cycle->workers == 0 ? 1 : pco_min(cycle->workers, (unsigned) PCO_MAX_WORKERS);

    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (pco_listen_open_one(ls, pco_listen_find(old, ls), count) != PCO_OK) {
            pco_listen_close_new(cycle, old);
            return PCO_ERROR;
        }
    }

    /* inherited descriptors nobody wants any more */
    for (i = 0; i < pco_listen_env_n; i++) {
        if (!pco_listen_env_used[i]) {
            close(pco_listen_env_fds[i]);
            pco_listen_env_used[i] = true;
        }
    }
    unsetenv(PCO_LISTEN_ENV);
    return PCO_OK;
}

void
pco_listen_close_unused(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_listening_t  *ols, *ls;
    unsigned          i;
    int               fd;
    bool              used;

    if (old == NULL) {
        return;
    }
    for (ols = old->listening; ols != NULL; ols = ols->next) {
        for (i = 0; i <= PCO_MAX_WORKERS; i++) {
            fd = i == PCO_MAX_WORKERS ? ols->fd : ols->reuse_fds[i];
            if (fd == -1) {
                continue;
            }
            used = false;
            for (ls = cycle != NULL ? cycle->listening : NULL; ls != NULL; ls = ls->next) {
                if (pco_listen_fd_in(ls, fd)) {
                    used = true;
                    break;
                }
            }
            if (!used) {
                close(fd);
            }
            if (i == PCO_MAX_WORKERS) {
                ols->fd = -1;
            } else {
                ols->reuse_fds[i] = -1;
            }
        }
        ols->nreuse = 0;
    }
}

char *
pco_listen_env(pco_cycle_t *cycle)
{
    pco_listening_t  *ls;
    size_t            n, off;
    unsigned          i;
    char             *s;

    n = 1;
    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        n += 12 * (1 + ls->nreuse);
    }
    s = pco_pnalloc(cycle->pool, n);
    if (s == NULL) {
        return NULL;
    }
    off = 0;
    s[0] = '\0';
    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (ls->fd != -1) {
            off += (size_t) snprintf(s + off, n - off, "%d;", ls->fd);
        }
        for (i = 0; i < ls->nreuse; i++) {
            if (ls->reuse_fds[i] != -1) {
                off += (size_t) snprintf(s + off, n - off, "%d;", ls->reuse_fds[i]);
            }
        }
    }
    return s;
}

/* ---- worker: accepting ---- */

static void
pco_listen_stop_accepting(pco_cycle_t *cycle)
{
    pco_listening_t  *ls;

    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (ls->connection != NULL && !ls->paused) {
            pco_event_del(ls->connection);
            ls->paused = 1;
        }
    }
}

void
pco_listen_pause(pco_cycle_t *cycle, pco_msec_t ms)
{
    pco_listen_stop_accepting(cycle);
    pco_listen_pause_ev.data = cycle;
    pco_event_add_timer(&pco_listen_pause_ev, ms);
}

void
pco_listen_resume_check(pco_cycle_t *cycle)
{
    pco_listening_t  *ls;

    if (cycle == NULL || pco_listen_pause_ev.timer_index != 0 || pco_conn_free_count() == 0) {
        return;
    }
    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (ls->connection != NULL && ls->paused) {
            if (pco_event_add_listen(ls->connection, !ls->reuseport) == PCO_OK) {
                ls->paused = 0;
            }
        }
    }
}

static void
pco_listen_pause_expired(pco_event_t *ev)
{
    ev->timedout = 0;
    pco_listen_resume_check(ev->data);
}

void
pco_listen_conn_freed(pco_cycle_t *cycle)
{
    /* the worker's accepting generation, not the caller's: NULL once the listeners stopped */
    pco_unused(cycle);
    pco_listen_resume_check(pco_listen_worker_cycle);
}

static void
pco_listen_warn(const char *what, int err)
{
    if (pco_listen_warned != pco_time_sec) {
        pco_listen_warned = pco_time_sec;
        pco_log_error(PCO_LOG_ALERT, pco_log, err, "%s", what);
    }
}

#define PCO_LISTEN_ACCEPT_BATCH  64

static void
pco_listen_accept(pco_event_t *ev)
{
    pco_connection_t  *lc, *c;
    pco_listening_t   *ls;
    pco_sockaddr_t     sa;
    socklen_t          len;
    int                fd, batch;

    lc = ev->data;
    ls = lc->listening;
    /* Bounded batches: the listening socket is level-triggered, so what is left is reported
     * again after the events already waiting have run. A TLS connection starts its
     * handshake (an RSA or ECDSA signature) right here, so TLS listeners take one
     * connection per turn, as nginx does without multi_accept: a burst of new connections
     * must not delay the ones already past their handshake. */
    for (batch = ls->tls ? 1 : PCO_LISTEN_ACCEPT_BATCH; batch > 0; batch--) {
        if (pco_conn_free_count() == 0) {
            pco_listen_warn("worker_connections are not enough, not accepting for now", 0);
            pco_listen_stop_accepting(pco_listen_worker_cycle);
            return;
        }
        len = sizeof(sa);
        fd = accept4(lc->fd, &sa.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev->ready = 0;
                return;
            }
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE) {
                pco_listen_warn("accept4() failed, pausing accepts for 100ms", errno);
                pco_listen_pause(pco_listen_worker_cycle, 100);
                return;
            }
            pco_listen_warn("accept4() failed", errno);
            return;
        }
        c = pco_conn_get(fd);
        if (c == NULL) {
            close(fd);
            return;
        }
        memcpy(&c->sockaddr, &sa, pco_min((size_t) len, sizeof(sa)));
        c->socklen = len;
        /* TLS writes its handshake, then session tickets, then the response: the response
         * must not wait for the ticket's ACK. A plain connection sets it at its second write
         * (pco_http_writer_flush), so one that is answered in one write and closed never
         * pays the system call. */
        if (ls->tls) {
            pco_conn_nodelay(c);
        }
        c->listening = ls;
        pco_reclaim_conn_opened();
        ls->handler(c);
    }
}

int
pco_listen_worker_start(pco_cycle_t *cycle, unsigned worker_index)
{
    pco_listening_t   *ls;
    pco_connection_t  *c;
    int                fd;

    pco_listen_worker_cycle = cycle;
    pco_listen_pause_ev.handler = pco_listen_pause_expired;
    pco_listen_pause_ev.data = cycle;
    pco_listen_pause_ev.cancelable = 1;

    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        fd = ls->fd;
        if (ls->reuseport) {
            fd = worker_index < ls->nreuse ? ls->reuse_fds[worker_index] : -1;
        }
        if (fd == -1) {
            pco_log_error(PCO_LOG_ALERT, pco_log, 0, "no socket for %.*s in worker %u",
                          (int) ls->addr_text.len, ls->addr_text.data, worker_index);
            return PCO_ERROR;
        }
        c = pco_conn_get(fd);
        if (c == NULL) {
            return PCO_ERROR;
        }
        c->listening = ls;
        c->listening_conn = 1;
        c->read.accept = 1;
        c->read.handler = pco_listen_accept;
        ls->connection = c;
        ls->paused = 0;
        if (pco_event_add_listen(c, !ls->reuseport) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

void
pco_listen_worker_stop(pco_cycle_t *cycle)
{
    pco_listening_t  *ls;

    pco_listen_worker_cycle = NULL;
    pco_event_del_timer(&pco_listen_pause_ev);
    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (ls->connection != NULL) {
            pco_conn_close(ls->connection);
            ls->connection = NULL;
        }
        ls->paused = 0;
    }
}
