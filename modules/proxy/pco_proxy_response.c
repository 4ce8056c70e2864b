/*
 * pco_proxy_response.c: the upstream response (SPEC §5 "Proxying"): reads the head into a
 * 16 KiB buffer and parses it strictly (pco_proxy_parse.c; invalid -> 502, interim 1xx
 * skipped, 101 handed to the tunnel for WebSocket), retries on statuses listed in
 * next_upstream while allowed, passes the head on (hop-by-hop headers, those named in the
 * upstream's Connection, Server and Date dropped; the engine re-derives the framing), and
 * relays the body through one 16 KiB buffer with back-pressure: Content-Length counted,
 * chunked decoded, close-delimited until EOF; a body cut short closes the client connection.
 * A connection whose response ended cleanly goes back to the keep-alive pool.
 */
#include <strings.h>
#include "pco_proxy.h"

static void pco_proxy_relay(pco_proxy_ctx_t *p);
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
    pco_proxy_resp_t    *resp = &p->resp;
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

/* Decodes the body bytes obuf[0, n) in place (chunked), counts Content-Length; *len gets
 * the payload bytes kept. PCO_OK (more), PCO_DONE (complete) or PCO_ERROR (bad framing). */
static int
pco_proxy_body_bytes(pco_proxy_ctx_t *p, size_t n, size_t *len)
{
    u_char  *pos = p->obuf, *last = p->obuf + n, *dst = p->obuf;
    int      rc;

    if (!p->resp_chunked) {
        if (p->resp_left < 0) {
            *len = n;
            return PCO_OK;
        }
        *len = (size_t) pco_min((int64_t) n, p->resp_left);
        p->resp_left -= (int64_t) *len;
        if (*len < n) {
            p->extra = true;
        }
        return p->resp_left == 0 ? PCO_DONE : PCO_OK;
    }
    for ( ;; ) {
        rc = pco_http_parse_chunked(&p->rch, &pos, last);
        if (rc == PCO_OK) {
            size_t take = (size_t) pco_min((uint64_t) (last - pos), p->rch.left);

            memmove(dst, pos, take);
            dst += take;
            pos += take;
            p->rch.left -= take;
            continue;
        }
        *len = (size_t) (dst - p->obuf);
        if (rc == PCO_AGAIN) {
            return PCO_OK;
        }
        if (rc == PCO_DONE && pos != last) {
            p->extra = true;
        }
        return rc;
    }
}

/* Passes obuf[0, len) to the client; done adds last_buf. */
static int
pco_proxy_output(pco_proxy_ctx_t *p, size_t len, bool done)
{
    pco_chain_t  cl;
    int          rc;

    p->ob->pos = p->obuf;
    p->ob->last = p->obuf + len;
    p->ob->last_buf = done;
    p->ob->flush = 1;
    cl.buf = p->ob;
    cl.next = NULL;
    rc = pco_http_output(p->r, &cl);
    if (rc == PCO_AGAIN) {
        p->out_busy = true;
    }
    return rc;
}

void
pco_proxy_client_write(pco_http_request_t *r)
{
    pco_proxy_ctx_t  *p = pco_http_get_ctx(r, &pco_proxy_module);

    if (p == NULL || p->finished) {
        return;
    }
    p->out_busy = false;
    if (p->state == PCO_PROXY_READ_BODY) {
        pco_proxy_relay(p);
    }
}

static void
pco_proxy_body_done(pco_proxy_ctx_t *p, int orc)
{
    if (p->uc != NULL && p->u->keepalive > 0 && p->resp.version == 11 && !p->resp.conn_close
        && !p->extra && p->head_sent == p->head_len
        && (p->body_held || p->body_read_done) && p->rbuf_sent == p->rbuf_len
        && (p->resp.chunked || p->resp.content_length >= 0
            || p->r->head.method == PCO_HTTP_HEAD || p->resp.status == 204
            || p->resp.status == 304))
    {
        pco_proxy_pool_put(p->u, p->ks, p->uc, p->uses + 1);
        p->uc = NULL;
    }
    pco_proxy_close_upstream(p, false);
    pco_proxy_finish(p, orc == PCO_AGAIN ? PCO_AGAIN : PCO_OK);
}

static void
pco_proxy_relay(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->uc;
    ssize_t            n;
    size_t             len;
    int                rc, orc;

    while (!p->out_busy && !p->finished) {
        n = uc->io->recv(uc, p->obuf, PCO_PROXY_BUF_SIZE);
        if (n == PCO_AGAIN) {
            uc->read.ready = 0;
            pco_event_add_timer(&uc->read, p->u->read_timeout);
            return;
        }
        if (n == 0 && !p->resp_chunked && p->resp_left < 0) {
            orc = pco_proxy_output(p, 0, true);
            pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
            return;
        }
        if (n <= 0) {
            /* the upstream ended mid-body: close the client without completing framing */
            pco_log_err(PCO_LOG_ERR, uc->log, n < 0 ? errno : 0,
                        "upstream %.*s closed the connection mid-body",
                        (int) p->sname.len, (const char *) p->sname.data);
            p->r->connection->error = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        rc = pco_proxy_body_bytes(p, (size_t) n, &len);
        if (rc == PCO_ERROR) {
            p->r->connection->error = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        orc = pco_proxy_output(p, len, rc == PCO_DONE);
        if (orc == PCO_ERROR) {
            p->r->client_gone = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        if (rc == PCO_DONE) {
            pco_proxy_body_done(p, orc);
            return;
        }
    }
}

/* The response head is parsed: send it and relay what came after it. */
static void
pco_proxy_start_response(pco_proxy_ctx_t *p)
{
    pco_http_request_t  *r = p->r;
    size_t               rest = p->hbuf_len - p->resp.head_len, len;
    int                  rc, orc;

    if (pco_proxy_set_headers_out(p) != PCO_OK) {
        pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, false);
        return;
    }
    pco_upstream_done(p->s, false);
    p->s = NULL;
    if (pco_http_send_header(r) != PCO_OK) {
        pco_proxy_finish(p, PCO_ERROR);
        return;
    }
    p->resp_left = p->resp.content_length;
    p->resp_chunked = p->resp.chunked;
    if (r->head.method == PCO_HTTP_HEAD || p->resp.status == 204 || p->resp.status == 304) {
        orc = pco_proxy_output(p, 0, true);
        pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
        return;
    }
    if (!p->resp_chunked && p->resp_left == 0) {
        orc = pco_proxy_output(p, 0, true);
        pco_proxy_body_done(p, orc == PCO_ERROR ? PCO_OK : orc);
        return;
    }
    p->state = PCO_PROXY_READ_BODY;
    if (rest > 0) {
        memcpy(p->obuf, p->hbuf + p->resp.head_len, rest);
        rc = pco_proxy_body_bytes(p, rest, &len);
        if (rc == PCO_ERROR) {
            r->connection->error = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        orc = pco_proxy_output(p, len, rc == PCO_DONE);
        if (orc == PCO_ERROR) {
            r->client_gone = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        if (rc == PCO_DONE) {
            pco_proxy_body_done(p, orc);
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

static void
pco_proxy_read_head(pco_proxy_ctx_t *p)
{
    pco_connection_t  *uc = p->uc;
    ssize_t            n;
    int                rc;
    unsigned           bit;

    for ( ;; ) {
        if (p->hbuf_len == p->hbuf_size) {
            pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent a too large head",
                        (int) p->sname.len, (const char *) p->sname.data);
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        n = uc->io->recv(uc, p->hbuf + p->hbuf_len, p->hbuf_size - p->hbuf_len);
        if (n == PCO_AGAIN) {
            uc->read.ready = 0;
            return;
        }
        if (n <= 0) {
            pco_log_err(PCO_LOG_ERR, uc->log, n < 0 ? errno : 0,
                        "upstream %.*s closed the connection before a response",
                        (int) p->sname.len, (const char *) p->sname.data);
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        p->hbuf_len += (size_t) n;
again:
        rc = pco_proxy_parse_response(p->hbuf, p->hbuf_len, &p->resp);
        if (rc == PCO_AGAIN) {
            continue;
        }
        if (rc == PCO_OK && p->resp.status == 101 && p->ws && !p->r->header_sent) {
            pco_proxy_record(p, 101);
            pco_upstream_done(p->s, false);
            p->s = NULL;
            if (pco_proxy_tunnel_start(p)) {
                return;
            }
            pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent an invalid 101",
                        (int) p->sname.len, (const char *) p->sname.data);
            if (p->r->header_sent) {
                p->r->connection->error = 1;
                pco_proxy_finish(p, PCO_ERROR);
            } else {
                pco_proxy_finish(p, 502);
            }
            return;
        }
        if (rc == PCO_ERROR || (p->resp.status >= 100 && p->resp.status < 200
                                && p->resp.status != 100 && p->resp.status != 102
                                && p->resp.status != 103))
        {
            pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s sent an invalid response",
                        (int) p->sname.len, (const char *) p->sname.data);
            pco_proxy_fail(p, 502, PCO_UPSTREAM_NEXT_ERROR, true);
            return;
        }
        if (p->resp.status < 200) {
            /* interim response: skipped */
            memmove(p->hbuf, p->hbuf + p->resp.head_len, p->hbuf_len - p->resp.head_len);
            p->hbuf_len -= p->resp.head_len;
            goto again;
        }
        if (uc->read.timer_index) {
            pco_event_del_timer(&uc->read);
        }
        pco_proxy_record(p, p->resp.status);
        bit = pco_proxy_status_bit(p->resp.status);
        if (bit != 0 && (p->u->next_upstream & bit) && p->tries <= (unsigned) p->u->retries
            && pco_proxy_idempotent(p->r) && (p->body_held || !p->body_written))
        {
            pco_proxy_fail(p, p->resp.status, bit, false);
            return;
        }
        pco_proxy_start_response(p);
        return;
    }
}

void
pco_proxy_up_read(pco_event_t *ev)
{
    pco_connection_t  *uc = ev->data;
    pco_proxy_ctx_t   *p = uc->data;

    if (ev->timedout) {
        ev->timedout = 0;
        pco_log_err(PCO_LOG_ERR, uc->log, 0, "upstream %.*s timed out reading the response",
                    (int) p->sname.len, (const char *) p->sname.data);
        if (p->state == PCO_PROXY_READ_BODY) {
            p->r->connection->error = 1;
            pco_proxy_finish(p, PCO_ERROR);
            return;
        }
        pco_proxy_fail(p, 504, PCO_UPSTREAM_NEXT_TIMEOUT, true);
        return;
    }
    if (p->state == PCO_PROXY_READ_HEAD) {
        pco_proxy_read_head(p);
    } else if (p->state == PCO_PROXY_READ_BODY) {
        pco_proxy_relay(p);
    }
}

