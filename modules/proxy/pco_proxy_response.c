/*
 * pco_proxy_response.c: the upstream response (docs/http.md): reads the head into a 16 KiB buffer
 * and parses it strictly (pco_proxy_parse.c; invalid -> 502), consumes interim responses (100
 * Continue absorbed, other 1xx forwarded to HTTP/1.1 clients only, 101 handed to the tunnel for
 * WebSocket and 502 otherwise), retries on statuses listed in next_upstream while allowed, passes
 * the head on (hop-by-hop headers, those named in the upstream's Connection, Server and Date
 * dropped; the engine re-derives the framing), and relays the body with back-pressure, from the
 * head buffer while it fits there (no copy, no other buffer), else through one 64 KiB relay
 * buffer taken for it: Content-Length counted, chunked decoded, close-delimited until EOF; a
 * body cut short or badly framed closes the client connection without completing its framing
 * (one error line with the byte counts; the access log sees $request_completion empty).
 * read_timeout runs only while portico waits for upstream bytes, never while the client drains
 * the relay buffer. Trailers of a chunked upstream response are validated and dropped, as nginx
 * does (HAProxy forwards them; the body is de-chunked here and re-framed by the engine, so an
 * HTTP/1.0 client simply gets the bytes). A connection whose response ended cleanly goes back to
 * the keep-alive pool.
 */
#include <strings.h>
#include "pco_proxy.h"
#include "pco_string.h"

static void pco_proxy_relay(pco_proxy_ctx_t *p);
static void pco_proxy_read_head(pco_proxy_ctx_t *p);
static int pco_proxy_interim_flush(pco_proxy_ctx_t *p);

/* ---- the response ---- */

static bool
pco_proxy_hop_header(const pco_str_t *n)
{
    static const char *const  hop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Server", "Date", "Content-Length", "Content-Type",
        "X-Request-Id",
        NULL
    };
    size_t  i;

    for (i = 0; hop[i] != NULL; i++) {
        if (n->len == strlen(hop[i]) && strncasecmp((const char *) n->data, hop[i], n->len) == 0)
        {
            return true;
        }
    }
    return false;
}

/* True when one of the upstream's Connection headers lists name. */
static bool
pco_proxy_resp_conn_names(pco_proxy_resp_t *resp, const pco_str_t *name)
{
    pco_http_header_t  *h;
    unsigned            i;
    size_t              k, s;

    for (i = 0; i < resp->nheaders; i++) {
        h = &resp->headers[i];
        if (h->name.len != 10 || strncasecmp((const char *) h->name.data, "Connection", 10)) {
            continue;
        }
        k = 0;
        while (k < h->value.len) {
            while (k < h->value.len && (h->value.data[k] == ' ' || h->value.data[k] == ',')) {
                k++;
            }
            s = k;
            while (k < h->value.len && h->value.data[k] != ',' && h->value.data[k] != ' ') {
                k++;
            }
            if (k > s && k - s == name->len
                && strncasecmp((const char *) h->value.data + s, (const char *) name->data,
                               name->len) == 0)
            {
                return true;
            }
        }
    }
    return false;
}

static int
pco_proxy_set_headers_out(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;
    pco_proxy_resp_t    *resp = &p->try.resp;
    pco_http_header_t   *h;
    unsigned             i;

    r->status = resp->status;
    r->out.content_length = resp->content_length;
    if (resp->status == 204 || resp->status == 304 || (resp->status >= 100 && resp->status < 200)) {
        r->out.content_length = -1;
    }
    for (i = 0; i < resp->nheaders; i++) {
        h = &resp->headers[i];
        if (h->name.len == 12
            && strncasecmp((const char *) h->name.data, "Content-Type", 12) == 0)
        {
            r->out.content_type = h->value;
            continue;
        }
        if (pco_proxy_hop_header(&h->name) || pco_proxy_resp_conn_names(resp, &h->name)) {
            continue;
        }
        if (pco_http_set_header(r, &h->name, &h->value, false) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* Decodes the body bytes data[0, n) of the window in place (chunked), counts Content-Length;
 * *len gets the payload bytes kept. PCO_OK (more), PCO_DONE (complete) or PCO_ERROR (bad
 * framing). */
static int
pco_proxy_body_bytes(pco_proxy_ctx_t *p, size_t n, size_t *len)
{
    bool  extra;
    int   rc;

    if (!p->out.chunked) {
        if (p->out.left < 0) {
            *len = n;
            p->out.got += (int64_t) n;
            return PCO_OK;
        }
        *len = (size_t) pco_min((int64_t) n, p->out.left);
        p->out.left -= (int64_t) *len;
        p->out.got += (int64_t) *len;
        if (*len < n) {
            p->out.extra = true;
        }
        return p->out.left == 0 ? PCO_DONE : PCO_OK;
    }
    rc = pco_proxy_dechunk(&p->out.rch, p->out.data, n, len, &extra);
    p->out.got += (int64_t) *len;
    if (extra) {
        p->out.extra = true;
    }
    return rc;
}

/* The client is gone (the writer failed): true when the body is read on all the same,
 * for a filter that stores it (r->keep_producing). */
static bool
pco_proxy_keep_producing(pco_proxy_ctx_t *p)
{
    p->r->client_gone = 1;
    p->out.busy = false;
    return p->r->keep_producing;
}

/* Passes the window's data[0, len) to the client; done adds last_buf. */
static int
pco_proxy_output(pco_proxy_ctx_t *p, size_t len, bool done)
{
    pco_chain_t  cl;
    int          rc;

    p->out.ob->start = p->out.data;
    p->out.ob->end = p->out.data + p->out.size;
    p->out.ob->pos = p->out.data;
    p->out.ob->last = p->out.data + len;
    p->out.ob->last_buf = done;
    /* A flush makes a transforming filter (gzip) emit what it holds, at some cost in output
     * size and CPU; ask for it only for a stream (no Content-Length: chunked or
     * close-delimited) when the upstream has nothing more right now, so that a trickling
     * stream still reaches the client at once. A body of known length is compressed as
     * one stream, as nginx does: its size does not depend on how the bytes arrived. */
    p->out.ob->flush = !p->out.more && p->out.left < 0;
    p->out.more = false;
    cl.buf = p->out.ob;
    cl.next = NULL;
    rc = pco_http_output(p->r, &cl);
    if (rc == PCO_AGAIN) {
        p->out.busy = true;
    }
    return rc;
}

void
pco_proxy_client_write(pco_http_request_t *r)
{
    pco_proxy_ctx_t  *p = pco_http_get_ctx(r, &pco_proxy_module);
    int               rc;

    if (p == NULL || p->req.finished) {
        return;
    }
    if (r->client_gone && (r->background
                           || (r->keep_producing && p->state == PCO_PROXY_READ_BODY)))
    {
        /* the client has its answer (a refresh behind it), or a filter stores the
         * response: the response is read to its end all the same */
        p->out.busy = false;
        if (p->state == PCO_PROXY_READ_BODY) {
            pco_proxy_relay(p);
        }
        return;
    }
    if (r->client_gone) {
        /* the client failed or timed out (send_timeout): the try ends here, its time is
         * recorded, the upstream connection is closed (never pooled) */
        if (p->state != PCO_PROXY_READ_BODY && p->try.counted_server != NULL) {
            pco_proxy_record(p, 0);
        }
        pco_proxy_client_abort(p);
        pco_proxy_finish(p, PCO_ERROR);
        return;
    }
    p->out.busy = false;
    if (p->state == PCO_PROXY_READ_HEAD && p->out.ipos < p->out.ilen) {
        rc = pco_proxy_interim_flush(p);
        if (rc == PCO_ERROR) {
            pco_proxy_record(p, 0);
            pco_proxy_finish(p, PCO_ERROR);
        } else if (rc == PCO_OK) {
            pco_proxy_read_head(p);
        }
        return;
    }
    if (p->state == PCO_PROXY_READ_BODY) {
        pco_proxy_relay(p);
    }
}

static void
pco_proxy_body_done(pco_proxy_ctx_t *p, int orc)
{
    if (p->try.uc != NULL && p->req.u->keepalive > 0 && p->try.resp.version == 11
        && !p->try.resp.conn_close && !p->out.extra && p->try.head_sent == p->upreq.head_len
        && (p->upreq.body_held || p->upreq.body_read_done) && p->try.rbuf_sent == p->upreq.rbuf_len
        && (p->try.resp.chunked || p->try.resp.content_length >= 0
            || p->r->head.method == PCO_HTTP_HEAD || p->try.resp.status == 204
            || p->try.resp.status == 304))
    {
        pco_proxy_pool_put(p->req.u, p->try.uc_server, p->try.uc, p->try.uses + 1);
        p->try.uc = NULL;
    }
    pco_proxy_close_upstream(p, false);
    pco_proxy_finish(p, orc == PCO_AGAIN ? PCO_AGAIN : PCO_OK);
}

/* Bad framing in the upstream body (an invalid chunk): what was valid before it (len bytes
 * in the window, and the head when still queued) is passed on as far as the socket takes it
 * now, then the client connection is closed without completing the framing, so the client
 * sees a truncated response; the upstream connection is closed, never pooled. */
static void
pco_proxy_bad_body(pco_proxy_ctx_t *p, size_t len)
{
    pco_log_err(PCO_LOG_ERR, p->r->connection->log, 0,
                "upstream %.*s sent an invalid chunked body", (int) p->try.sname.len,
                (const char *) p->try.sname.data);
    pco_upstream_stats_inc(p->try.server, bad_responses, 1);
    (void) pco_proxy_output(p, len, false);
    p->r->connection->error = 1;
    pco_proxy_finish(p, PCO_ERROR);
}

/*
 * The upstream failed after the response head went out (what: "timed out reading the
 * response body", "prematurely closed the connection"; err: errno or 0): one error line
 * with the bytes received against those announced and those the client got, then the
 * client connection is closed without completing the framing (no last chunk; a short
 * Content-Length body), so the client sees the cut; the access log marks it
 * ($request_completion). The upstream connection is closed, never pooled.
 */
static void
pco_proxy_cut(pco_proxy_ctx_t *p, const char *what, int err)
{
    pco_http_request_t  *r = p->r;

    if (p->out.chunked) {
        pco_log_err(PCO_LOG_ERR, r->connection->log, err,
                    "upstream %.*s %s (%lld bytes of a chunked body received, %lld sent)",
                    (int) p->try.sname.len, (const char *) p->try.sname.data, what,
                    (long long) p->out.got, (long long) r->body_bytes_sent);
    } else if (p->try.resp.content_length >= 0) {
        pco_log_err(PCO_LOG_ERR, r->connection->log, err,
                    "upstream %.*s %s (%lld of %lld bytes received, %lld sent)",
                    (int) p->try.sname.len, (const char *) p->try.sname.data, what,
                    (long long) p->out.got, (long long) p->try.resp.content_length,
                    (long long) r->body_bytes_sent);
    } else {
        pco_log_err(PCO_LOG_ERR, r->connection->log, err,
                    "upstream %.*s %s (%lld bytes of a close-delimited body received, "
                    "%lld sent)", (int) p->try.sname.len, (const char *) p->try.sname.data, what,
                    (long long) p->out.got, (long long) r->body_bytes_sent);
    }
    r->connection->error = 1;
    pco_proxy_finish(p, PCO_ERROR);
}

/*
 * The window the next read goes into (the client is done with the last one): the head
 * buffer's room after the head while the rest of a Content-Length body fits there, or, for
 * a body of unknown length, until a read fills it; from then on the relay buffer. So a small
 * body never takes a relay buffer, and a large one takes it at its first read after the
 * head. False (logged) when no relay buffer could be had.
 */
static bool
pco_proxy_window(pco_proxy_ctx_t *p)
{
    size_t  unit;

    if (p->out.obuf != NULL && p->out.data == p->out.obuf) {
        return true;
    }
    if (p->out.chunked || p->out.left < 0 ? !p->out.filled
                                          : (size_t) p->out.left <= p->out.size)
    {
        return true;
    }
    if (pco_proxy_obuf(p) == NULL) {
        return false;
    }
    p->out.data = p->out.obuf;
    /* whole frames of the client's protocol: an HTTP/2 stream takes 65,500 bytes, four
     * full DATA frames, rather than 65,536 and a 36-byte frame (a small TLS record and
     * write) after them */
    unit = p->r->connection->io->write_unit;
    p->out.size = unit > 0 && unit < PCO_PROXY_OBUF_SIZE
                  ? PCO_PROXY_OBUF_SIZE - PCO_PROXY_OBUF_SIZE % unit : PCO_PROXY_OBUF_SIZE;
    return true;
}

/*
 * Streams the body: reads the upstream while the client takes what it is given. The
 * upstream's read_timeout runs only while portico waits for upstream bytes (from an EAGAIN
 * after the last successful read); while the client holds the buffer (out.busy) it is
 * stopped, since that wait is the client's, under its own send_timeout (the writer's).
 */
static void
pco_proxy_relay(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->try.uc;
    ssize_t            n;
    size_t             len;
    int                rc, orc;
    bool               moved = false;

    while (!p->out.busy && !p->req.finished) {
        if (!pco_proxy_window(p)) {
            p->r->connection->error = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        n = uc->io->recv(uc, p->out.data, p->out.size);
        if (n == PCO_AGAIN) {
            uc->read.ready = 0;
            pco_event_wait_timer(&uc->read, p->req.u->read_timeout, moved);
            return;
        }
        if (n == 0 && !p->out.chunked && p->out.left < 0) {
            orc = pco_proxy_output(p, 0, true);
            pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
            return;
        }
        if (n <= 0) {
            pco_upstream_stats_inc(p->try.server, aborts, 1);
            pco_proxy_cut(p, n < 0 ? "failed reading the response body"
                                   : "prematurely closed the connection", n < 0 ? errno : 0);
            return;
        }
        moved = true;
        pco_upstream_stats_inc(p->try.server, received_bytes, n);
        p->out.more = (size_t) n == p->out.size;
        p->out.filled = p->out.more;
        rc = pco_proxy_body_bytes(p, (size_t) n, &len);
        if (rc == PCO_ERROR) {
            pco_proxy_bad_body(p, len);
            return;
        }
        orc = pco_proxy_output(p, len, rc == PCO_DONE);
        if (orc == PCO_ERROR && !pco_proxy_keep_producing(p)) {
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        if (rc == PCO_DONE) {
            pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
            return;
        }
    }
    if (p->out.busy && uc->read.timer_index) {
        pco_event_del_timer(&uc->read);
    }
}

/* The response head is parsed: send it and relay what came after it. failed: the status
 * is listed in next_upstream (a failure for passive health even when passed on). */
static void
pco_proxy_start_response(pco_proxy_ctx_t *p, bool failed)
{
    pco_http_request_t  *r = p->r;
    size_t               rest = p->try.hbuf_len - p->try.resp.head_len, len;
    int                  rc, orc;

    if (pco_proxy_set_headers_out(p) != PCO_OK) {
        pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, false);
        return;
    }
    pco_upstream_done(p->try.counted_server, failed);
    p->try.counted_server = NULL;
    if (!r->body_done) {
        /* an early answer: the rest of the request body is not read, the connection ends */
        r->keepalive = 0;
    }
    if (pco_http_send_header(r) != PCO_OK) {
        pco_proxy_finish(p, PCO_ERROR);
        return;
    }
    p->out.left = p->try.resp.content_length;
    p->out.chunked = p->try.resp.chunked;
    /* the body goes out from the head buffer, from where it was read, as long as it fits */
    p->out.data = p->try.hbuf + p->try.resp.head_len;
    p->out.size = p->try.hbuf_size - p->try.resp.head_len;
    p->out.filled = rest == p->out.size;
    if (r->head.method == PCO_HTTP_HEAD || p->try.resp.status == 204 || p->try.resp.status == 304) {
        orc = pco_proxy_output(p, 0, true);
        pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
        return;
    }
    if (!p->out.chunked && p->out.left == 0) {
        orc = pco_proxy_output(p, 0, true);
        pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
        return;
    }
    p->state = PCO_PROXY_READ_BODY;
    if (rest > 0) {
        rc = pco_proxy_body_bytes(p, rest, &len);
        if (rc == PCO_ERROR) {
            pco_proxy_bad_body(p, len);
            return;
        }
        orc = pco_proxy_output(p, len, rc == PCO_DONE);
        if (orc == PCO_ERROR && !pco_proxy_keep_producing(p)) {
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        if (rc == PCO_DONE) {
            pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
            return;
        }
    }
    pco_proxy_relay(p);
}

static unsigned
pco_proxy_status_bit(int status)
{
    switch (status) {
    case 500: return PCO_UPSTREAM_NEXT_500;
    case 502: return PCO_UPSTREAM_NEXT_502;
    case 503: return PCO_UPSTREAM_NEXT_503;
    case 504: return PCO_UPSTREAM_NEXT_504;
    case 429: return PCO_UPSTREAM_NEXT_429;
    default: return 0;
    }
}

/*
 * An interim response other than 100 and 101 (102, 103 Early Hints...): forwarded to
 * HTTP/1.1 clients (RFC 9110 §15.2: a proxy forwards the 1xx it did not ask for, as HAProxy
 * does), dropped for HTTP/1.0 clients (docs/http.md). Its head is rebuilt (hop-by-hop headers
 * dropped) into one reused buffer and written directly: nothing else is queued for the
 * client yet. PCO_OK (written or dropped), PCO_AGAIN (the client's socket is full: the rest
 * goes out from pco_proxy_client_write, the upstream is not read meanwhile), PCO_ERROR
 * (client gone).
 */
static int
pco_proxy_interim(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;
    pco_connection_t    *c = r->connection;
    pco_http_header_t   *h;
    size_t               size = 64 + p->try.resp.reason.len, i;
    u_char              *q;
    ssize_t              n;

    if (r->head.version != 11) {
        return PCO_OK;      /* HTTP/1.0, or an HTTP/2 stream (its head is not text) */
    }
    for (i = 0; i < p->try.resp.nheaders; i++) {
        size += p->try.resp.headers[i].name.len + p->try.resp.headers[i].value.len + 4;
    }
    if (size > p->try.hbuf_size + 512) {
        return PCO_OK;      /* cannot happen: the head fits hbuf */
    }
    if (p->out.ibuf == NULL) {
        p->out.ibuf = pco_pnalloc(r->pool, p->try.hbuf_size + 512);
        if (p->out.ibuf == NULL) {
            return PCO_OK;
        }
    }
    q = p->out.ibuf;
    memcpy(q, "HTTP/1.1 ", 9);
    q += 9;
    q = pco_sprint_status(q, (unsigned) p->try.resp.status);
    *q++ = ' ';
    memcpy(q, p->try.resp.reason.data, p->try.resp.reason.len);
    q += p->try.resp.reason.len;
    *q++ = '\r';
    *q++ = '\n';
    for (i = 0; i < p->try.resp.nheaders; i++) {
        h = &p->try.resp.headers[i];
        if (pco_proxy_hop_header(&h->name) || pco_proxy_resp_conn_names(&p->try.resp, &h->name)) {
            continue;
        }
        memcpy(q, h->name.data, h->name.len);
        q += h->name.len;
        *q++ = ':';
        *q++ = ' ';
        memcpy(q, h->value.data, h->value.len);
        q += h->value.len;
        *q++ = '\r';
        *q++ = '\n';
    }
    *q++ = '\r';
    *q++ = '\n';
    p->out.ipos = 0;
    p->out.ilen = (size_t) (q - p->out.ibuf);
    p->req.interim_sent = true;
    n = c->io->send(c, p->out.ibuf, p->out.ilen);
    if (n == PCO_ERROR) {
        r->client_gone = 1;
        return PCO_ERROR;
    }
    if (n == PCO_AGAIN) {
        n = 0;
    }
    p->out.ipos = (size_t) n;
    if (p->out.ipos < p->out.ilen) {
        c->write.ready = 0;
        pco_event_add_timer(&c->write, pco_http_send_timeout(r));
        return PCO_AGAIN;
    }
    return PCO_OK;
}

/* Writes the rest of a pending interim head; PCO_OK (done), PCO_AGAIN, PCO_ERROR. */
static int
pco_proxy_interim_flush(pco_proxy_ctx_t *p)
{
    pco_connection_t  *c = p->r->connection;
    ssize_t            n;
    bool               moved = false;

    while (p->out.ipos < p->out.ilen) {
        n = c->io->send(c, p->out.ibuf + p->out.ipos, p->out.ilen - p->out.ipos);
        if (n == PCO_AGAIN) {
            c->write.ready = 0;
            /* the client's send_timeout, from its last progress (the engine's writer,
             * which ran first with nothing queued, has dropped the timer) */
            pco_event_wait_timer(&c->write, pco_http_send_timeout(p->r), moved);
            return PCO_AGAIN;
        }
        if (n < 0) {
            p->r->client_gone = 1;
            return PCO_ERROR;
        }
        p->out.ipos += (size_t) n;
        moved = moved || n > 0;
    }
    if (c->write.timer_index) {
        pco_event_del_timer(&c->write);
    }
    return PCO_OK;
}

/* The upstream's status is listed in next_upstream and another try is allowed for this
 * request (docs/http.md: idempotent, its body still held or never written). */
static bool
pco_proxy_retry_status(pco_proxy_ctx_t *p, unsigned bit)
{
    return bit != 0 && (p->req.u->next_upstream & bit) && pco_proxy_idempotent(p->r)
           && (p->upreq.body_held || !p->upreq.body_written) && pco_proxy_can_retry(p);
}

/* A complete head is in p->try.resp: PCO_OK (an interim response was consumed: parse on),
 * PCO_DONE (handled: the response, the tunnel, a failure) or PCO_AGAIN (an interim head
 * waits for the client). */
static int
pco_proxy_head_parsed(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->try.uc;
    unsigned           bit;
    int                rc = PCO_OK;

    if (p->try.resp.status == 101) {
        if (p->req.ws && !p->r->header_sent) {
            pco_proxy_observe(p, offsetof(pco_upstream_stats_t, header));
            pco_proxy_record(p, 101);
            pco_upstream_done(p->try.counted_server, false);
            p->try.counted_server = NULL;
            if (pco_proxy_tunnel_start(p)) {
                return PCO_DONE;
            }
            pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent an invalid 101",
                        (int) p->try.sname.len, (const char *) p->try.sname.data);
            pco_upstream_stats_inc(p->try.server, bad_responses, 1);
            if (p->r->header_sent) {
                p->r->connection->error = 1;
                pco_proxy_finish(p, PCO_ERROR);
            } else {
                pco_proxy_finish(p, 502);
            }
            return PCO_DONE;
        }
        /* switching protocols nobody asked for */
        pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent 101 without an upgrade",
                    (int) p->try.sname.len, (const char *) p->try.sname.data);
        pco_upstream_stats_inc(p->try.server, bad_responses, 1);
        pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
        return PCO_DONE;
    }
    if (p->try.resp.status < 200) {
        /* 100 Continue is absorbed: portico answered the client's Expect itself */
        if (p->try.resp.status != 100) {
            rc = pco_proxy_interim(p);
            if (rc == PCO_ERROR) {
                pco_proxy_record(p, 0);
                pco_proxy_finish(p, PCO_ERROR);
                return PCO_DONE;
            }
        }
        memmove(p->try.hbuf, p->try.hbuf + p->try.resp.head_len,
                p->try.hbuf_len - p->try.resp.head_len);
        p->try.hbuf_len -= p->try.resp.head_len;
        return rc;
    }
    if (uc->read.timer_index) {
        pco_event_del_timer(&uc->read);
    }
    pco_proxy_record_head(p, p->try.resp.status);
    bit = pco_proxy_status_bit(p->try.resp.status);
    if (pco_proxy_retry_status(p, bit)) {
        pco_proxy_fail(p, p->try.resp.status, bit, false);
        return PCO_DONE;
    }
    pco_proxy_start_response(p, bit != 0 && (p->req.u->next_upstream & bit));
    return PCO_DONE;
}

/* Reads and parses the response head; interim responses are consumed on the way. */
static void
pco_proxy_read_head(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->try.uc;
    ssize_t            n;
    int                rc;
    bool               moved = false;

    for ( ;; ) {
        if (p->out.ipos < p->out.ilen) {
            /* an interim head is still going out to the client: until it has, the wait is
             * the client's (send_timeout), not the upstream's */
            if (uc->read.timer_index) {
                pco_event_del_timer(&uc->read);
            }
            return;
        }
        if (p->try.hbuf_len > 0) {
            rc = pco_proxy_parse_head(p);
            if (rc == PCO_ERROR) {
                pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent an invalid response",
                            (int) p->try.sname.len, (const char *) p->try.sname.data);
                pco_upstream_stats_inc(p->try.server, bad_responses, 1);
                pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
                return;
            }
            if (rc == PCO_OK) {
                rc = pco_proxy_head_parsed(p);
                if (rc == PCO_OK || rc == PCO_AGAIN) {
                    continue;       /* PCO_AGAIN: an interim head waits (see above) */
                }
                return;
            }
        }
        if (p->try.hbuf_len == p->try.hbuf_size) {
            pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent a too large head",
                        (int) p->try.sname.len, (const char *) p->try.sname.data);
            pco_upstream_stats_inc(p->try.server, bad_responses, 1);
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        n = uc->io->recv(uc, p->try.hbuf + p->try.hbuf_len, p->try.hbuf_size - p->try.hbuf_len);
        if (n == PCO_AGAIN) {
            uc->read.ready = 0;
            /* read_timeout runs between two successful reads: a head sent slowly, or
             * interim responses (102 Processing) while a long job runs, keep it alive */
            pco_event_wait_timer(&uc->read, p->req.u->read_timeout, moved);
            return;
        }
        if (n <= 0) {
            pco_log_err(PCO_LOG_ERR, uc->log, n < 0 ? errno : 0,
                        "upstream %.*s closed the connection before a response",
                        (int) p->try.sname.len, (const char *) p->try.sname.data);
            if (!p->try.reused || p->try.hbuf_len > 0) {
                /* not a pooled connection the backend had closed (retried on a fresh one,
                 * not a new try) */
                pco_upstream_stats_inc(p->try.server, aborts, 1);
            }
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        p->try.hbuf_len += (size_t) n;
        pco_upstream_stats_inc(p->try.server, received_bytes, n);
        moved = true;
    }
}

/*
 * The upstream spoke while the request is still being sent (an early answer such as 413,
 * often from a backend that stops reading the body): its bytes are kept in hbuf; once they
 * hold a complete final head, sending stops and the response is handled as usual (the
 * client's unread body then makes the engine close its connection after the response).
 * Anything less (a partial head, an interim response, EOF) leaves the sending going on; the
 * head is parsed from hbuf again when sending is done.
 */
static void
pco_proxy_early(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->try.uc;
    ssize_t            n;

    while (p->try.hbuf_len < p->try.hbuf_size) {
        n = uc->io->recv(uc, p->try.hbuf + p->try.hbuf_len, p->try.hbuf_size - p->try.hbuf_len);
        if (n == PCO_AGAIN) {
            uc->read.ready = 0;
            break;
        }
        if (n <= 0) {
            return;     /* the write side reports the failure */
        }
        p->try.hbuf_len += (size_t) n;
        pco_upstream_stats_inc(p->try.server, received_bytes, n);
    }
    if (pco_proxy_parse_head(p) != PCO_OK
        || p->try.resp.status < 200)
    {
        return;
    }
    if (uc->write.timer_index) {
        pco_event_del_timer(&uc->write);
    }
    /* the rest of the client's body is no longer awaited: its client_body_timeout (armed
     * when portico last waited for body bytes) must not cut the response relayed now */
    if (p->r->connection->read.timer_index) {
        pco_event_del_timer(&p->r->connection->read);
    }
    p->state = PCO_PROXY_READ_HEAD;
    pco_event_add_timer(&uc->read, p->req.u->read_timeout);
    pco_proxy_read_head(p);
}

void
pco_proxy_up_read(pco_event_t *ev)
{
    pco_connection_t  *uc = ev->data;
    pco_proxy_ctx_t   *p = uc->data;

    if (ev->timedout) {
        ev->timedout = 0;
        pco_upstream_stats_inc(p->try.server, timeouts, 1);
        if (p->state == PCO_PROXY_READ_BODY) {
            pco_proxy_cut(p, "timed out reading the response body", 0);
            return;
        }
        pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s timed out reading the response",
                    (int) p->try.sname.len, (const char *) p->try.sname.data);
        pco_proxy_fail(p, 504, PCO_UPSTREAM_NEXT_TIMEOUT, true);
        return;
    }
    if (p->state == PCO_PROXY_READ_HEAD) {
        pco_proxy_read_head(p);
    } else if (p->state == PCO_PROXY_READ_BODY) {
        pco_proxy_relay(p);
    } else if (p->state == PCO_PROXY_SENDING) {
        pco_proxy_early(p);
    }
}

