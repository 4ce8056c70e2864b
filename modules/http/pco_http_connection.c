/*
 * pco_http_connection.c: an HTTP connection between requests. A new connection is counted,
 * put in epoll and timed by client_header_timeout; on proxy_protocol listeners its PROXY
 * header is read first (pco_http_proxy_protocol.c), on TLS listeners the handshake runs
 * (the tls module's hooks). Then its head is read: an idle connection has no pool, bytes go
 * into the per-worker scratch buffer, and a connection pool and buffer are made only when a
 * read leaves the head incomplete or pipelined bytes wait; a complete head is handed to
 * pco_http_handle_bytes (pco_http_request.c). Head errors (408, 414, 431) are answered
 * here. After a request: keep-alive (idle, pipelined bytes kept) or a lingering close.
 * Touches only per-worker statics (the scratch buffer).
 */
#include "pco_http_int.h"
#include "pco_shm.h"
#include <stdio.h>
#include <sys/socket.h>

static void pco_http_wait_request(pco_event_t *ev);
static void pco_http_lingering(pco_event_t *ev);
static void pco_http_head_error(pco_connection_t *c, pco_http_addr_t *a, int status);

#define PCO_HTTP_LINGER_MS     2000
#define PCO_HTTP_LINGER_BYTES  65536

/*
 * Retiring an idle keep-alive connection when the worker shuts down gracefully (a reload,
 * an upgrade, QUIT). Closing it at once races the client, which may be writing its next
 * request at that very moment and would then see a reset or an end of file instead of an
 * answer. So the connection is kept this long: a request that arrives is answered with
 * `Connection: close`; a client that sent nothing for the whole period gets a half-close
 * (FIN, then what it still sends is read and dropped) rather than a reset. One second
 * covers a client that is using its connection (its next request follows the previous
 * response within a round trip and its own think time) while letting the old worker and
 * its memory go soon after a reload; only a client silent for that whole second and
 * writing exactly as it ends can still meet the close, as at any keepalive_timeout.
 */
#define PCO_HTTP_RETIRE_MS     1000

/*
 * Reading a head. It is read into one of two buffers: the per-worker scratch buffer while
 * the connection has no buffer of its own (the common case: a head that arrives in one read
 * costs no allocation), or the connection's buffer (pco_http_conn_t, in c->pool), made when
 * a read leaves the head incomplete or when pipelined bytes wait after a request.
 */
typedef struct {
    u_char                *buf;
    size_t                 len;       /* bytes of the head read so far */
    size_t                 size;
    pco_http_head_scan_t  *scan;      /* where pco_http_find_head_end stopped */
    pco_http_conn_t       *hcn;       /* NULL: the scratch buffer */
    bool                   started;   /* this read began a head on a kept-alive (or
                                       * retiring) connection */
} pco_http_head_buf_t;

void
pco_http_close(pco_connection_t *c)
{
    pco_http_main_t *hm = pco_http_cur_main;

    if (c->idle) {
        pco_counter_add(hm->c_idle, -1);
        pco_conn_set_idle(c, false);
    }
    pco_counter_add(hm->c_active, -1);
    c->log = pco_log;
    if (c->tls != NULL && hm->tls.free != NULL) {
        hm->tls.free(c);
    }
    pco_conn_close(c);
}

void
pco_http_empty_handler(pco_event_t *ev)
{
    pco_unused(ev);
}

/* A new connection: counted, in epoll, under client_header_timeout (which also bounds a
 * TLS handshake). False when it had to be closed. */
static bool
pco_http_start_connection(pco_connection_t *c, pco_event_handler_pt read_handler)
{
    pco_http_addr_t *a = c->listening->servers;

    pco_counter_add(pco_http_cur_main->c_active, 1);
    pco_counter_add(pco_http_cur_main->c_total, 1);
    c->data = NULL;
    c->read.handler = read_handler;
    c->write.handler = pco_http_empty_handler;
    if (pco_event_add_conn(c) != PCO_OK) {
        pco_http_close(c);
        return false;
    }
    pco_event_add_timer(&c->read, pco_http_addr_conf(a)->client_header_timeout);
    return true;
}

void
pco_http_init_connection(pco_connection_t *c)
{
    if (c->listening->proxy_protocol) {
        /* the PROXY header first (pco_http_proxy_protocol.c), then the TLS handshake or the
         * head, all under the one client_header_timeout armed here */
        (void) pco_http_start_connection(c, pco_http_proxy_protocol_read);
        return;
    }
    if (pco_http_start_connection(c, pco_http_wait_request) && c->read.ready) {
        pco_http_wait_request(&c->read);
    }
}

/* TLS handshake (TLS listeners) or the head: after the PROXY header, or at once. */
static void
pco_http_start_tls(pco_connection_t *c)
{
    if (pco_http_cur_main->tls.handshake == NULL) {
        pco_http_close(c);      /* no tls module (a TLS listener needs it) */
        return;
    }
    pco_http_cur_main->tls.handshake(c);
}

void
pco_http_init_tls_connection(pco_connection_t *c)
{
    if (c->listening->proxy_protocol) {
        pco_http_init_connection(c);
        return;
    }
    if (!pco_http_start_connection(c, pco_http_empty_handler)) {
        return;
    }
    pco_http_start_tls(c);
}

void
pco_http_connection_ready(pco_connection_t *c)
{
    if (c->listening->tls) {
        c->read.handler = pco_http_empty_handler;
        pco_http_start_tls(c);
        return;
    }
    c->read.handler = pco_http_wait_request;
    c->write.handler = pco_http_empty_handler;
    /* the request may have come in the same segment as the header */
    pco_http_wait_request(&c->read);
}

/* Hands c to the HTTP/2 hooks with the bytes read so far (NULL after TLS). */
static void
pco_http_h2_start(pco_connection_t *c, const u_char *data, size_t len)
{
    if (c->read.timer_index) {
        pco_event_del_timer(&c->read);
    }
    pco_http_cur_main->h2.start(c, data, len);
}

void
pco_http_tls_done(pco_connection_t *c, bool h2)
{
    if (h2 && pco_http_cur_main->h2.start != NULL) {
        pco_http_h2_start(c, NULL, 0);
        return;
    }
    c->read.handler = pco_http_wait_request;
    c->write.handler = pco_http_empty_handler;
    /* decrypted bytes may already wait inside the TLS layer: always try once */
    pco_http_wait_request(&c->read);
}

void
pco_http_set_idle(pco_connection_t *c, bool idle)
{
    if ((bool) c->idle == idle) {
        return;
    }
    pco_counter_add(pco_http_cur_main->c_idle, idle ? 1 : -1);
    pco_conn_set_idle(c, idle);
}

/* A connection buffer, in a pool of its own (the caller makes it c->pool), holding
 * data[0..len) of a head not complete yet and the scan state so far (NULL: none yet).
 * NULL when memory runs out or len does not fit a head. */
static pco_http_conn_t *
pco_http_conn_buf(pco_http_addr_t *a, const u_char *data, size_t len,
                  const pco_http_head_scan_t *scan, pco_pool_t **poolp)
{
    pco_pool_t       *pool = pco_pool_create(4096, a->max_header_size + 4096);
    pco_http_conn_t  *hcn = pool != NULL ? pco_pcalloc(pool, sizeof(*hcn)) : NULL;

    if (hcn == NULL || len > a->max_header_size
        || (hcn->buf = pco_pnalloc(pool, a->max_header_size)) == NULL)
    {
        if (pool != NULL) {
            pco_pool_destroy(pool);
        }
        return NULL;
    }
    hcn->size = a->max_header_size;
    hcn->addr = a;
    if (scan != NULL) {
        hcn->scan = *scan;
    }
    hcn->len = len;
    memcpy(hcn->buf, data, len);
    *poolp = pool;
    return hcn;
}

/* The buffer the next read goes into: the connection's, or the scratch buffer (empty, with
 * the scan state in *scan0). */
static void
pco_http_head_buf(pco_connection_t *c, pco_http_addr_t *a, pco_http_head_buf_t *hb,
                  pco_http_head_scan_t *scan0)
{
    pco_http_conn_t  *hcn = c->data;

    hb->hcn = hcn;
    hb->started = false;
    if (hcn != NULL) {
        hb->buf = hcn->buf;
        hb->len = hcn->len;
        hb->size = hcn->size;
        hb->scan = &hcn->scan;
        return;
    }
    hb->buf = pco_http_scratch;
    hb->len = 0;
    hb->size = pco_min(pco_http_scratch_size, a->max_header_size);
    memset(scan0, 0, sizeof(*scan0));
    hb->scan = scan0;
}

/* Reads into hb. Returns the bytes added (0: pipelined bytes wait in the buffer, parse them
 * first), or PCO_DONE when the connection was closed or answered, or must wait for more. */
static ssize_t
pco_http_head_recv(pco_connection_t *c, pco_http_addr_t *a, pco_http_head_buf_t *hb)
{
    ssize_t  n;

    if (hb->hcn != NULL && hb->hcn->pending) {
        hb->hcn->pending = false;
        return 0;
    }
    if (hb->len >= hb->size) {
        pco_http_head_error(c, a, 431);
        return PCO_DONE;
    }
    n = c->io->recv(c, hb->buf + hb->len, hb->size - hb->len);
    if (n == PCO_AGAIN) {
        c->read.ready = 0;
        return PCO_DONE;
    }
    if (n <= 0) {
        pco_http_close(c);
        return PCO_DONE;
    }
    if (hb->hcn == NULL && (c->idle || c->close)) {
        /* the first bytes of a head on a kept-alive (or retiring) connection; its
         * client_header_timeout is armed only if the head is not complete in them (the
         * keep-alive timer left running until then is deleted with the request) */
        pco_http_set_idle(c, false);
        hb->started = true;
    }
    return n;
}

/* The head in hb is complete: the request takes the bytes (a copy), and a connection buffer
 * is freed once they are copied. */
static void
pco_http_head_complete(pco_connection_t *c, pco_http_head_buf_t *hb, size_t head_len)
{
    if (hb->hcn != NULL) {
        pco_pool_t *cpool = c->pool;

        c->pool = NULL;
        c->data = NULL;
        pco_http_handle_bytes(c, hb->buf, hb->len, head_len);
        pco_pool_destroy(cpool);
    } else {
        pco_http_handle_bytes(c, hb->buf, hb->len, head_len);
    }
}

/* The head in hb is incomplete: keep its bytes in the connection's buffer (made from the
 * scratch buffer the first time) for the next read. PCO_ERROR: closed. */
static int
pco_http_head_keep(pco_connection_t *c, pco_http_addr_t *a, pco_http_head_buf_t *hb)
{
    pco_http_conn_t  *hcn = hb->hcn;
    pco_pool_t       *pool;

    if (hcn == NULL) {
        hcn = pco_http_conn_buf(a, hb->buf, hb->len, hb->scan, &pool);
        if (hcn == NULL) {
            pco_http_close(c);
            return PCO_ERROR;
        }
        c->pool = pool;
        c->data = hcn;
    }
    hcn->len = hb->len;
    return PCO_OK;
}

/*
 * Prior knowledge (h2c) on a plain `http2 = true` listener: the first bytes of the
 * connection are the HTTP/2 preface. 1: they are (the connection is HTTP/2's now), 0: they
 * are not (HTTP/1.x), PCO_AGAIN: a prefix of it, wait for more. The preface must be matched
 * before the head scanner sees it: "PRI * HTTP/2.0" followed by an empty line is a complete
 * HTTP/1 head.
 */
static int
pco_http_h2_preface(pco_connection_t *c, pco_http_addr_t *a, const pco_http_head_buf_t *hb)
{
    static const char  preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t             n = pco_min(hb->len, sizeof(preface) - 1);

    if (!a->http2 || c->requests > 0 || c->tls != NULL || pco_http_cur_main->h2.start == NULL
        || memcmp(hb->buf, preface, n) != 0)
    {
        return 0;
    }
    return n == sizeof(preface) - 1 ? 1 : PCO_AGAIN;
}

/* The connection turned out to be HTTP/2: its buffer (if any) goes once the hook has taken
 * the bytes. */
static void
pco_http_h2_switch(pco_connection_t *c, pco_http_head_buf_t *hb)
{
    pco_pool_t  *cpool = c->pool;

    c->pool = NULL;
    c->data = NULL;
    pco_http_h2_start(c, hb->buf, hb->len);
    if (hb->hcn != NULL) {
        pco_pool_destroy(cpool);
    }
}

static void
pco_http_wait_request(pco_event_t *ev)
{
    pco_connection_t      *c = ev->data;
    pco_http_addr_t       *a = c->listening->servers;
    pco_http_conf_t       *cf = pco_http_addr_conf(a);
    pco_http_conn_t       *hcn = c->data;
    pco_http_head_scan_t   scan0;
    pco_http_head_buf_t    hb;
    size_t                 head_len;
    ssize_t                n;
    int                    h2;

    if (c->close && c->idle) {
        /* graceful shutdown (pco_conn_close_idle): off the idle list, so the worker waits
         * for it, and a short wait for a request already on its way (read below) */
        pco_http_set_idle(c, false);
        pco_event_add_timer(&c->read, PCO_HTTP_RETIRE_MS);
    }
    if (ev->timedout) {
        ev->timedout = 0;
        if (hcn != NULL && hcn->len > 0) {
            pco_http_head_error(c, a, 408);
        } else if (c->close && c->io == &pco_conn_plain_io) {
            pco_http_start_lingering(c);    /* retired: FIN, never a reset */
        } else {
            pco_http_close(c);
        }
        return;
    }
    for ( ;; ) {
        pco_http_head_buf(c, a, &hb, &scan0);
        n = pco_http_head_recv(c, a, &hb);
        if (n == PCO_DONE) {
            return;
        }
        hb.len += (size_t) n;
        h2 = pco_http_h2_preface(c, a, &hb);
        if (h2 == 1) {
            pco_http_h2_switch(c, &hb);
            return;
        }
        head_len = h2 == 0 ? pco_http_find_head_end(hb.buf, hb.len, hb.scan) : 0;
        if (head_len > 0) {
            pco_http_head_complete(c, &hb, head_len);
            return;
        }
        if (hb.scan->line_end == 0 && hb.len > (size_t) cf->max_uri_size) {
            pco_http_head_error(c, a, 414);
            return;
        }
        if (hb.len >= a->max_header_size) {
            pco_http_head_error(c, a, 431);
            return;
        }
        if (hb.started) {
            pco_event_add_timer(&c->read, cf->client_header_timeout);
        }
        if (pco_http_head_keep(c, a, &hb) != PCO_OK) {
            return;
        }
    }
}

/* An error while reading the head: a minimal request answers, then a lingering close. */
static void
pco_http_head_error(pco_connection_t *c, pco_http_addr_t *a, int status)
{
    pco_http_conn_t     *hcn = c->data;
    pco_pool_t          *cpool = c->pool;
    pco_http_request_t  *r;
    u_char               id[32];

    c->pool = NULL;
    c->data = NULL;
    r = pco_http_create_request(c, a, (u_char *) "", 0, 0);
    if (cpool != NULL) {
        pco_pool_destroy(cpool);
    }
    pco_unused(hcn);
    if (r == NULL) {
        pco_http_close(c);
        return;
    }
    pco_http_request_id_generate(id);
    r->request_id.data = pco_pnalloc(r->pool, 32);
    if (r->request_id.data != NULL) {
        memcpy(r->request_id.data, id, 32);
        r->request_id.len = 32;
    }
    pco_http_req(r)->close_after = 1;
    pco_http_req(r)->head_error = 1;
    r->lingering = 1;
    r->head.version = 11;
    pco_http_finalize_request(r, status);
}

void
pco_http_keepalive(pco_connection_t *c, pco_http_request_t *r)
{
    pco_http_req_t    *rq = pco_http_req(r);
    pco_http_conf_t   *cf = rq->conf;
    size_t             left = (size_t) (rq->rest_last - rq->rest);
    pco_http_addr_t   *a = rq->addr;
    pco_http_conn_t   *hcn = NULL;
    pco_pool_t        *pool = NULL;

    if (left > 0) {
        /* pipelined bytes: keep them in a connection buffer, parse them next pass */
        hcn = pco_http_conn_buf(a, rq->rest, left, NULL, &pool);
        if (hcn == NULL) {
            pco_http_close(c);
            return;
        }
        hcn->pending = true;
    }
    c->log = pco_log;
    pco_pool_destroy(c->pool);
    c->pool = pool;
    c->data = hcn;
    c->read.handler = pco_http_wait_request;
    c->write.handler = pco_http_empty_handler;
    if (c->write.timer_index) {
        pco_event_del_timer(&c->write);
    }
    if (hcn != NULL) {
        pco_event_add_timer(&c->read, cf->client_header_timeout);
        pco_event_post(&c->read);
        return;
    }
    pco_http_set_idle(c, true);
    pco_event_add_timer(&c->read, cf->keepalive_timeout);
    if (c->read.ready) {
        pco_event_post(&c->read);
    }
}

void
pco_http_start_lingering(pco_connection_t *c)
{
    c->log = pco_log;
    if (c->pool != NULL) {
        pco_pool_destroy(c->pool);
        c->pool = NULL;
    }
    if (shutdown(c->fd, SHUT_WR) == -1) {
        pco_http_close(c);
        return;
    }
    c->more_held = 0;           /* the FIN is out: pco_conn_close need not shut down again */
    c->data = (void *) (uintptr_t) 0;
    c->read.handler = pco_http_lingering;
    c->write.handler = pco_http_empty_handler;
    if (c->write.timer_index) {
        pco_event_del_timer(&c->write);
    }
    pco_event_add_timer(&c->read, PCO_HTTP_LINGER_MS);
    pco_http_lingering(&c->read);
}

static void
pco_http_lingering(pco_event_t *ev)
{
    pco_connection_t  *c = ev->data;
    uintptr_t          total = (uintptr_t) c->data;
    ssize_t            n;

    if (ev->timedout) {
        pco_http_close(c);
        return;
    }
    for ( ;; ) {
        n = c->io->recv(c, pco_http_scratch, pco_http_scratch_size);
        if (n == PCO_AGAIN) {
            c->read.ready = 0;
            c->data = (void *) total;
            return;
        }
        if (n <= 0) {
            pco_http_close(c);
            return;
        }
        total += (uintptr_t) n;
        if (total >= PCO_HTTP_LINGER_BYTES) {
            pco_http_close(c);
            return;
        }
    }
}
