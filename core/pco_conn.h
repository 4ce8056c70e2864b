/*
 * pco_conn.h: connections. An idle connection holds only this struct (from a per-worker
 * free list): no pool, no buffer. I/O goes through c->io so that TLS can later sit under the
 * same interface; modules never call recv/send on c->fd themselves.
 */
#ifndef PCO_CONN_H
#define PCO_CONN_H

#include "pco_core.h"
#include "pco_event.h"
#include "pco_log.h"
#include <sys/uio.h>

/* recv: bytes read (>0), 0 on EOF, PCO_AGAIN, PCO_ERROR (errno kept).
 * send / writev: bytes written (>=0; short writes possible), PCO_AGAIN, PCO_ERROR. */
typedef struct {
    ssize_t (*recv)(pco_connection_t *c, u_char *buf, size_t size);
    ssize_t (*send)(pco_connection_t *c, const u_char *buf, size_t size);
    ssize_t (*writev)(pco_connection_t *c, const struct iovec *iov, int iovcnt);
    /* sendfile: bytes sent, PCO_AGAIN, PCO_ERROR; NULL when not supported (TLS) */
    ssize_t (*sendfile)(pco_connection_t *c, int fd, off_t *offset, size_t size);
    /* the payload of one frame of the protocol under this io (an HTTP/2 DATA frame), or 0:
     * a writer that fills a large buffer before writing it reads a multiple of this, so
     * that no small frame is left over at the buffer's end */
    size_t   write_unit;
} pco_conn_io_t;

extern const pco_conn_io_t pco_conn_plain_io;

/* Room for a peer address as text (pco_sockaddr_ntop without port), NUL included. */
#define PCO_ADDR_TEXT_SIZE  64

struct pco_connection_s {
    void                *data;        /* the protocol's state (e.g. the HTTP connection) */
    pco_event_t          read;
    pco_event_t          write;
    int                  fd;
    const pco_conn_io_t *io;
    pco_listening_t     *listening;
    pco_pool_t          *pool;        /* NULL while idle */
    pco_log_t           *log;         /* the error log, with context for this connection */
    uint64_t             number;      /* $connection */
    pco_sockaddr_t       sockaddr;    /* peer */
    socklen_t            socklen;
    uint32_t             requests;    /* $connection_requests */
    void                *tls;         /* reserved for the TLS module */
    pco_connection_t    *queue_next;  /* reusable/idle list (graceful shutdown) */
    pco_connection_t    *queue_prev;
    unsigned             close:1;     /* close as soon as possible */
    unsigned             idle:1;      /* between requests: may be closed at shutdown */
    unsigned             destroyed:1;
    unsigned             timedout:1;
    unsigned             error:1;
    unsigned             tcp_nodelay:1;
    unsigned             tcp_cork:1;
    unsigned             listening_conn:1;   /* this is a listening socket's connection */
    unsigned             proxy_protocol:1;   /* sockaddr came from a PROXY protocol header */
    /* the caller closes (or shuts down) the connection as soon as this write is done: the
     * plain writes pass MSG_MORE so that the last bytes and the FIN leave in one segment
     * (one packet less each way for a connection per request) */
    unsigned             fin_next:1;
    /* a write passed MSG_MORE: its tail may still wait in the kernel, so pco_conn_close
     * shuts the write side down first (close() with unread input would reset the
     * connection and drop the held bytes) */
    unsigned             more_held:1;
    /* sockaddr as text without port, formatted at its first use (pco_conn_addr_text) so a
     * keep-alive connection formats it once, not once per request; 0: not yet */
    uint8_t              addr_text_len;
    u_char               addr_text[PCO_ADDR_TEXT_SIZE];
};

/* Per-worker connection table: at most `max` connections (worker_connections). */
int pco_conn_pool_init(unsigned max);
/* Takes a free struct for fd; NULL (and logs at most once a second) when at the limit. */
pco_connection_t *pco_conn_get(int fd);
/* Removes from epoll, closes the fd, destroys c->pool, returns the struct to the list. */
void pco_conn_close(pco_connection_t *c);
unsigned pco_conn_used(void);
/* TCP_NODELAY on c (TCP only, once): for a write that may follow another one not yet
 * acknowledged, which Nagle's algorithm would hold back until the peer's delayed ACK. A
 * connection that writes once and closes never needs it. */
void pco_conn_nodelay(pco_connection_t *c);
unsigned pco_conn_free_count(void);
/* Idle list: connections that may be closed at graceful shutdown. */
void pco_conn_set_idle(pco_connection_t *c, bool idle);
/* Closes every idle connection (graceful shutdown): sets c->close and calls the read handler,
 * which must close c its own way; closes it directly when the handler did not. Returns how
 * many. */
unsigned pco_conn_close_idle(void);
/* Peer address as text ("1.2.3.4", "::1", "unix:"), written into buf (>= 64 bytes). */
size_t pco_sockaddr_ntop(const pco_sockaddr_t *sa, socklen_t len, u_char *buf, size_t size,
                         bool with_port);
in_port_t pco_sockaddr_port(const pco_sockaddr_t *sa);
/* c->sockaddr as pco_sockaddr_ntop writes it (no port), cached in c; whoever changes
 * c->sockaddr afterwards sets c->addr_text_len = 0. */
pco_str_t pco_conn_addr_text(pco_connection_t *c);

/* Stale-event guard for the event loop: a bit flipped every time the struct is handed out
 * again; pco_event.c stores it in the epoll data pointer. */
unsigned pco_conn_instance(const pco_connection_t *c);
/* pco_conn_close calls the connection-freed hooks of the current cycle
 * (pco_conn_freed_add, core/pco_cycle.h) after the struct went back to the free list. */

#endif
