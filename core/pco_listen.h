/*
 * pco_listen.h: listening sockets. Modules declare them at conf_done; the master binds
 * them (reusing the previous generation's descriptors when the address and options match,
 * or descriptors inherited through the PORTICO_LISTEN environment variable after a binary
 * upgrade) before forking workers. With reuseport each worker gets its own socket.
 */
#ifndef PCO_LISTEN_H
#define PCO_LISTEN_H

#include "pco_core.h"

/* Called in the worker for each accepted connection (c->fd non-blocking, no pool yet). */
typedef void (*pco_connection_handler_pt)(pco_connection_t *c);

#define PCO_MAX_WORKERS 64

struct pco_listening_s {
    pco_sockaddr_t              sockaddr;
    socklen_t                   socklen;
    pco_str_t                   addr_text;     /* as configured: "127.0.0.1:8080" */
    int                         fd;            /* the shared socket (no reuseport) */
    int                         reuse_fds[PCO_MAX_WORKERS]; /* reuseport: one per worker */
    unsigned                    nreuse;
    int                         backlog;
    bool                        reuseport;
    bool                        ipv6only;
    bool                        tls;
    bool                        proxy_protocol;
    void                       *servers;       /* owner module's data (virtual servers) */
    pco_connection_handler_pt   handler;
    pco_connection_t           *connection;    /* in a worker: its listening connection */
    pco_listening_t            *next;          /* list in the cycle */
    unsigned                    inherited:1;   /* came from the old cycle / environment */
    unsigned                    paused:1;      /* worker stopped accepting (limit, EMFILE) */
};

/* Parses "IP:port", "[v6]:port", "*:port", "unix:/path" into sa; PCO_ERROR on bad text. */
int pco_parse_addr(const char *text, pco_sockaddr_t *sa, socklen_t *len, bool resolve_star);
/* Adds (or finds, when the same address was already added) a listener to the cycle. */
pco_listening_t *pco_listen_add(pco_cycle_t *cycle, const pco_sockaddr_t *sa,
                                socklen_t len, const char *text);
/* Master: opens/binds all listeners of cycle, taking over fds from old (may be NULL) and
 * from PORTICO_LISTEN; closes old ones not reused. Logs and returns PCO_ERROR on failure. */
int pco_listen_open(pco_cycle_t *cycle, pco_cycle_t *old);
void pco_listen_close_unused(pco_cycle_t *cycle, pco_cycle_t *old);
/* Worker: create listening connections and register them with epoll. */
int pco_listen_worker_start(pco_cycle_t *cycle, unsigned worker_index);
/* Worker: stop accepting (graceful shutdown); closes this worker's listening conns. */
void pco_listen_worker_stop(pco_cycle_t *cycle);
/* Pause/resume accepting for ms (EMFILE, worker_connections reached). */
void pco_listen_pause(pco_cycle_t *cycle, pco_msec_t ms);
void pco_listen_resume_check(pco_cycle_t *cycle);
/* Connection-freed hook (registered by the core module): resumes accepting in a worker whose
 * listeners paused at worker_connections. */
void pco_listen_conn_freed(pco_cycle_t *cycle);
/* "fd;fd;..." for PORTICO_LISTEN (binary upgrade). */
char *pco_listen_env(pco_cycle_t *cycle);

#endif
