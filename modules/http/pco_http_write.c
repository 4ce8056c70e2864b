/*
 * pco_http_write.c: the response side: pco_http_set_header (rejects control characters),
 * the header filter chain entry and the head builder (status line, Server, Date, framing,
 * Connection, X-Request-Id, extra headers), the body filter chain entry, the chunked
 * framing filter and the writer (writev for memory buffers, sendfile with TCP_CORK for file
 * buffers, PCO_AGAIN when the socket is full; the connection's write event resumes it).
 */
#include "pco_http_int.h"
#include "pco_string.h"
#include <stdio.h>
#include <netinet/tcp.h>

/* Doubles the extra-header array (16 to start): the old one stays in the pool, so the
 * waste is bounded by the final size. */
static int
pco_http_grow_headers(pco_http_request_t *r)
{
    unsigned        n = r->out.nalloc ? r->out.nalloc * 2 : 16;
    pco_http_kv_t  *h;

    if (r->out.nalloc >= PCO_HTTP_MAX_RESPONSE_HEADERS) {
        return PCO_ERROR;
    }
    n = pco_min(n, PCO_HTTP_MAX_RESPONSE_HEADERS);
    h = pco_palloc(r->pool, n * sizeof(*h));
    if (h == NULL) {
        return PCO_ERROR;
    }
    if (r->out.nheaders > 0) {
        memcpy(h, r->out.headers, r->out.nheaders * sizeof(*h));
    }
    r->out.headers = h;
    r->out.nalloc = n;
    return PCO_OK;
}

int
pco_http_set_header(pco_http_request_t *r, const pco_str_t *name, const pco_str_t *value,
                     bool replace)
{
    unsigned  i;
    size_t    k;

    if (pco_str_has_ctl(value->data, value->len)) {
        pco_log_err(PCO_LOG_ERR, r->connection->log, 0,
                    "header \"%.*s\" has a control character in its value, not sent",
                    (int) name->len, (char *) name->data);
        return 500;
    }
    for (k = 0; k < name->len; k++) {
        if (name->data[k] <= 0x20 || name->data[k] == ':' || name->data[k] >= 0x7f) {
            return 500;
        }
    }
    if (replace) {
        unsigned  j = 0;

        for (i = 0; i < r->out.nheaders; i++) {
            pco_http_kv_t *h = &r->out.headers[i];

            if (pco_str_caseeq(&h->name, name)) {
                continue;
            }
            r->out.headers[j++] = *h;
        }
        r->out.nheaders = j;
        if (value->data == NULL) {
            return PCO_OK;       /* replace with nothing = remove */
        }
    }
    if (r->out.nheaders == r->out.nalloc && pco_http_grow_headers(r) != PCO_OK) {
        return PCO_ERROR;
    }
    r->out.headers[r->out.nheaders].name = *name;
    r->out.headers[r->out.nheaders].value = *value;
    r->out.nheaders++;
    return PCO_OK;
}

int
pco_http_send_header(pco_http_request_t *r)
{
    pco_http_main_t  *hm = pco_http_req(r)->main;
    size_t            i;
    int               rc;

    if (r->header_sent) {
        return PCO_OK;
    }
    if (r->status == 0) {
        r->status = 200;
    }
    for (i = 0; i < hm->nhfilters; i++) {
        pco_pool_set_owner(r->pool, hm->hfilter_owners[i]);
        rc = hm->hfilters[i](r);
        if (rc != PCO_OK && rc != PCO_DECLINED) {
            return rc == PCO_AGAIN ? PCO_OK : PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* A chain link, recycled from the ones the writer has finished with. */
static pco_chain_t *
pco_http_link(pco_http_request_t *r, pco_buf_t *b)
{
    pco_http_req_t  *rq = pco_http_req(r);
    pco_chain_t     *l = rq->free_links;

    if (l == NULL) {
        return pco_chain_link(r->pool, b);
    }
    rq->free_links = l->next;
    l->buf = b;
    l->next = NULL;
    return l;
}

/* A 24-byte framing buffer, reusing one whose bytes were all written. */
static pco_buf_t *
pco_http_frame_buf(pco_http_request_t *r)
{
    pco_http_req_t  *rq = pco_http_req(r);
    pco_buf_t       *b;
    size_t           i;

    for (i = 0; i < pco_nelems(rq->frame_bufs); i++) {
        b = rq->frame_bufs[i];
        if (b == NULL) {
            b = pco_buf_create(r->pool, 24);
            rq->frame_bufs[i] = b;
            return b;
        }
        if (b->pos == b->last) {
            b->pos = b->last = b->start;
            b->last_buf = 0;
            return b;
        }
    }
    return pco_buf_create(r->pool, 24);
}

static u_char *
pco_cpymem(u_char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    return dst + n;
}

int
pco_http_output(pco_http_request_t *r, pco_chain_t *in)
{
    pco_http_main_t  *hm = pco_http_req(r)->main;
    size_t            i;
    int               rc = PCO_OK;

    /* Body filters run in priority order on the same chain, editing it in place (they may
     * replace buffers and insert links); the writer (last) returns the result. */
    for (i = 0; i < hm->nbfilters; i++) {
        pco_pool_set_owner(r->pool, hm->bfilter_owners[i]);
        rc = hm->bfilters[i](r, in);
        if (rc == PCO_DECLINED) {
            rc = PCO_OK;
            continue;
        }
        if (rc != PCO_OK) {
            return rc;
        }
    }
    return rc;
}

int
pco_http_send_response(pco_http_request_t *r, int status, const pco_str_t *content_type,
                       const pco_str_t *body)
{
    pco_buf_t    *b;
    pco_chain_t  *cl;
    size_t        len = body != NULL ? body->len : 0;
    int           rc;

    r->status = status;
    if (content_type != NULL) {
        r->out.content_type = *content_type;
    }
    r->out.content_length = (int64_t) len;
    rc = pco_http_send_header(r);
    if (rc != PCO_OK) {
        return rc;
    }
    b = pco_buf_calloc(r->pool);
    if (b == NULL) {
        return PCO_ERROR;
    }
    if (len && !r->header_only) {
        b->pos = b->start = body->data;
        b->last = b->end = body->data + len;
        b->memory = 1;
    }
    b->last_buf = 1;
    cl = pco_chain_link(r->pool, b);
    if (cl == NULL) {
        return PCO_ERROR;
    }
    return pco_http_output(r, cl);
}

/* ---- the head builder (header filter, framing band) ---- */

static u_char *
pco_http_cpy(u_char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define pco_http_lit(p, s)  pco_http_cpy(p, s, sizeof(s) - 1)

size_t
pco_http_std_headers_len(pco_http_request_t *r)
{
    /* "Server: " name "/" version CRLF, "Date: " CRLF, "X-Request-Id: " CRLF */
    return 64 + sizeof(PCO_VERSION_STR) + pco_cached_http_time.len + r->request_id.len;
}

static u_char *
pco_http_server_date(pco_http_conf_t *hc, u_char *p)
{
    if (hc->server_tokens) {
        p = pco_http_lit(p, "Server: " PCO_NAME "/" PCO_VERSION_STR "\r\nDate: ");
    } else {
        p = pco_http_lit(p, "Server: " PCO_NAME "\r\nDate: ");
    }
    p = pco_http_cpy(p, pco_cached_http_time.data, pco_cached_http_time.len);
    return pco_http_lit(p, "\r\n");
}

static u_char *
pco_http_request_id_line(pco_http_request_t *r, u_char *p)
{
    if (r->request_id.len) {
        p = pco_http_lit(p, "X-Request-Id: ");
        p = pco_http_cpy(p, r->request_id.data, r->request_id.len);
        p = pco_http_lit(p, "\r\n");
    }
    return p;
}

u_char *
pco_http_std_headers(pco_http_request_t *r, u_char *p)
{
    p = pco_http_server_date(pco_http_req(r)->conf, p);
    return pco_http_request_id_line(r, p);
}

/* A carrier's response head: the fields the HTTP/1 head would carry, as a list (extra: the
 * caller's, instead of r->out's). */
static int
pco_http_stream_fields(pco_http_request_t *r, const pco_http_header_t *extra, unsigned nextra,
                       unsigned flags)
{
    static const pco_str_t  server = pco_string("Server"), date = pco_string("Date"),
                            ctype = pco_string("Content-Type"),
                            clen = pco_string("Content-Length"),
                            lmod = pco_string("Last-Modified"),
                            loc = pco_string("Location"), rid = pco_string("X-Request-Id");
    pco_http_req_t     *rq = pco_http_req(r);
    pco_http_header_t  *f;
    unsigned            n = 0, i;
    u_char             *p;
    size_t              bytes = 0;

    f = pco_palloc(r->pool, (7 + r->out.nheaders + nextra) * sizeof(*f));
    p = pco_pnalloc(r->pool, 64);
    if (f == NULL || p == NULL) {
        return PCO_ERROR;
    }
    f[n].name = server;
    if (rq->conf->server_tokens) {
        pco_str_set(&f[n].value, PCO_NAME "/" PCO_VERSION_STR);
    } else {
        pco_str_set(&f[n].value, PCO_NAME);
    }
    n++;
    f[n].name = date;
    f[n++].value = pco_cached_http_time;
    if (r->out.content_type.len) {
        f[n].name = ctype;
        f[n++].value = r->out.content_type;
    }
    if (r->out.content_length >= 0 && !(r->status == 204 || r->status == 304)) {
        f[n].name = clen;
        f[n].value.data = p;
        f[n++].value.len = (size_t) (pco_sprint_i64(p, r->out.content_length) - p);
        p += 24;
    }
    if (r->out.last_modified >= 0) {
        f[n].name = lmod;
        f[n].value.data = p;
        f[n++].value.len = pco_http_time(p, r->out.last_modified);
    }
    if (r->out.location.len) {
        f[n].name = loc;
        f[n++].value = r->out.location;
    }
    if (r->request_id.len) {
        f[n].name = rid;
        f[n++].value = r->request_id;
    }
    for (i = 0; i < r->out.nheaders; i++) {
        f[n].name = r->out.headers[i].name;
        f[n++].value = r->out.headers[i].value;
    }
    for (i = 0; i < nextra; i++) {
        f[n++] = extra[i];
    }
    for (i = 0; i < n; i++) {
        bytes += f[i].name.len + f[i].value.len + 32;     /* as HTTP/2 counts a field */
    }
    if (r->header_only || r->out.content_length == 0) {
        flags |= PCO_HTTP_STREAM_END;
    }
    if (rq->stream->send_head(r, f, n, flags) != PCO_OK) {
        return PCO_ERROR;
    }
    r->header_sent = 1;
    rq->head_bytes = bytes;
    r->bytes_sent += (int64_t) bytes;
    return PCO_OK;
}

int
pco_http_tunnel_head(pco_http_request_t *r, int status, const pco_http_header_t *fields,
                     unsigned n)
{
    if (pco_http_req(r)->stream == NULL) {
        return PCO_DECLINED;
    }
    r->status = status;
    r->keepalive = 0;
    r->out.nheaders = 0;
    r->out.content_type.len = 0;
    r->out.content_length = -1;
    r->out.last_modified = -1;
    r->out.location.len = 0;
    return pco_http_stream_fields(r, fields, n, PCO_HTTP_STREAM_TUNNEL);
}

int
pco_http_head_filter(pco_http_request_t *r)
{
    pco_http_req_t    *rq = pco_http_req(r);
    pco_http_conf_t   *hc = rq->conf;
    pco_connection_t  *c = r->connection;
    pco_str_t          reason;
    size_t             len, i;
    u_char            *p, *start;
    pco_buf_t         *b;
    pco_chain_t       *cl;
    int                st = r->status;

    if (r->head.method == PCO_HTTP_HEAD || st == 204 || st == 304 || (st >= 100 && st < 200)) {
        r->header_only = 1;
    }
    if (st == 204 || st == 304) {
        r->out.content_length = -1;
    }
    if (st == 204) {
        r->out.content_type.len = 0;     /* nothing to describe (as nginx) */
    }
    if (rq->stream != NULL) {
        r->keepalive = 0;
        return pco_http_stream_fields(r, NULL, 0, 0);
    }
    if (!r->keepalive || rq->close_after || pco_http_conn_retiring(r)) {
        r->keepalive = 0;
    }
    if (hc->keepalive_requests > 0 && c->requests >= (uint64_t) hc->keepalive_requests) {
        r->keepalive = 0;
    }
    if (r->out.content_length < 0 && !(st == 204 || st == 304) && !r->header_only) {
        if (r->head.version >= 11) {
            r->chunked_out = 1;
        } else {
            r->keepalive = 0;
        }
    }
    reason = pco_http_status_reason(st);
    /* fixed parts: status line 16, Server 30, Date 8, Content-Type 16, Content-Length 40,
     * Transfer-Encoding 28, Last-Modified 48, Location 12, Connection 24, X-Request-Id 16,
     * final CRLF 2 = 240; 512 leaves room */
    len = 512 + reason.len + r->out.content_type.len + r->out.location.len
          + r->request_id.len + pco_cached_http_time.len;
    for (i = 0; i < r->out.nheaders; i++) {
        len += r->out.headers[i].name.len + r->out.headers[i].value.len + 4;
    }
    start = pco_pnalloc(r->pool, len);
    if (start == NULL) {
        return PCO_ERROR;
    }
    p = pco_http_lit(start, "HTTP/1.1 ");
    if (r->out.status_line.len) {
        p = pco_http_cpy(p, r->out.status_line.data, r->out.status_line.len);
    } else {
        *p++ = (u_char) ('0' + st / 100 % 10);
        *p++ = (u_char) ('0' + st / 10 % 10);
        *p++ = (u_char) ('0' + st % 10);
        *p++ = ' ';
        p = pco_http_cpy(p, reason.data, reason.len);
    }
    p = pco_http_lit(p, "\r\n");
    p = pco_http_server_date(hc, p);
    if (r->out.content_type.len) {
        p = pco_http_lit(p, "Content-Type: ");
        p = pco_http_cpy(p, r->out.content_type.data, r->out.content_type.len);
        p = pco_http_lit(p, "\r\n");
    }
    if (r->out.content_length >= 0) {
        p = pco_http_lit(p, "Content-Length: ");
        p = pco_sprint_i64(p, r->out.content_length);
        p = pco_http_lit(p, "\r\n");
    } else if (r->chunked_out) {
        p = pco_http_lit(p, "Transfer-Encoding: chunked\r\n");
    }
    if (r->out.last_modified >= 0) {
        p = pco_http_lit(p, "Last-Modified: ");
        p += pco_http_time(p, r->out.last_modified);
        p = pco_http_lit(p, "\r\n");
    }
    if (r->out.location.len) {
        p = pco_http_lit(p, "Location: ");
        p = pco_http_cpy(p, r->out.location.data, r->out.location.len);
        p = pco_http_lit(p, "\r\n");
    }
    if (r->keepalive) {
        if (r->head.version < 11) {
            p = pco_http_lit(p, "Connection: keep-alive\r\n");
        }
    } else {
        p = pco_http_lit(p, "Connection: close\r\n");
    }
    p = pco_http_request_id_line(r, p);
    for (i = 0; i < r->out.nheaders; i++) {
        p = pco_http_cpy(p, r->out.headers[i].name.data, r->out.headers[i].name.len);
        p = pco_http_lit(p, ": ");
        p = pco_http_cpy(p, r->out.headers[i].value.data, r->out.headers[i].value.len);
        p = pco_http_lit(p, "\r\n");
    }
    p = pco_http_lit(p, "\r\n");
    b = pco_buf_calloc(r->pool);
    cl = b != NULL ? pco_chain_link(r->pool, b) : NULL;
    if (cl == NULL) {
        return PCO_ERROR;
    }
    b->start = b->pos = start;
    b->end = b->last = p;
    b->temporary = 1;
    r->header_sent = 1;
    rq->head_bytes = (size_t) (p - start);
    *rq->out_tail = cl;
    rq->out_tail = &cl->next;
    rq->out_bytes += (size_t) (p - start);
    return PCO_OK;
}

/* ---- chunked framing (body filter, framing band): edits the chain in place ---- */

int
pco_http_chunked_filter(pco_http_request_t *r, pco_chain_t *in)
{
    pco_chain_t  *cl, *lastl = NULL, *nl;
    pco_buf_t    *b;
    size_t        size = 0;
    bool          last = false;

    if (in == NULL) {
        return PCO_OK;
    }
    if (r->header_only) {
        for (cl = in; cl != NULL; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }
        return PCO_OK;
    }
    if (!r->chunked_out) {
        return PCO_OK;
    }
    for (cl = in; cl != NULL; cl = cl->next) {
        size += pco_buf_size(cl->buf);
        last = last || cl->buf->last_buf;
        cl->buf->last_buf = 0;
        lastl = cl;
    }
    if (size) {
        /* first link now holds the size line, its old buffer moves to a new link */
        b = pco_http_frame_buf(r);
        nl = &pco_http_req(r)->frame_links[0];
        nl->buf = in->buf;
        if (b == NULL) {
            return PCO_ERROR;
        }
        b->last = pco_sprint_hex(b->last, size);
        *b->last++ = '\r';
        *b->last++ = '\n';
        nl->next = in->next;
        in->next = nl;
        in->buf = b;
        if (lastl == in) {
            lastl = nl;
        }
    }
    if (size || last) {
        b = pco_http_frame_buf(r);
        nl = &pco_http_req(r)->frame_links[1];
        nl->buf = b;
        nl->next = NULL;
        if (b == NULL) {
            return PCO_ERROR;
        }
        if (last) {
            b->last = pco_cpymem(b->last, size ? "\r\n0\r\n\r\n" : "0\r\n\r\n", size ? 7 : 5);
            b->last_buf = 1;
        } else {
            b->last = pco_cpymem(b->last, "\r\n", 2);
        }
        lastl->next = nl;
    }
    return PCO_OK;
}

/* ---- the writer ---- */

/* TCP_CORK on r's client socket; not for a carrier's stream, whose socket is shared by
 * every stream of its connection (the carrier frames the bytes itself). */
static void
pco_http_cork(pco_http_request_t *r, int on)
{
    pco_connection_t  *c = r->connection;

    if (pco_http_req(r)->stream != NULL || c->sockaddr.sa.sa_family == AF_UNIX
        || c->tcp_cork == (unsigned) on)
    {
        return;
    }
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) == 0) {
        c->tcp_cork = on ? 1 : 0;
    }
}

int
pco_http_writer_flush(pco_http_request_t *r)
{
    pco_http_req_t    *rq = pco_http_req(r);
    pco_connection_t  *c = r->connection;
    struct iovec       iov[64];
    ssize_t            n;
    int                cnt;
    pco_chain_t       *cl;
    bool               moved = false;

    if (!c->tcp_nodelay && (c->requests > 1 || r->bytes_sent > 0)) {
        pco_conn_nodelay(c);
    }
    /* the end of a response after which the connection closes at once: its last bytes may
     * wait for the FIN and leave with it. Not while a background handler or a producer
     * outliving the client keeps the request (and so the connection) open. */
    c->fin_next = rq->last_seen && !r->keepalive && !r->background && !r->keep_producing;
    while (rq->out != NULL) {
        pco_buf_t *b = rq->out->buf;

        if (pco_buf_size(b) == 0) {
            pco_chain_t *done = rq->out;

            rq->out = done->next;
            done->next = rq->free_links;
            rq->free_links = done;
            continue;
        }
        if (b->in_file) {
            off_t off = b->file_pos;

            if (c->io->sendfile == NULL) {
                return PCO_ERROR;
            }
            pco_http_cork(r, 1);
            n = c->io->sendfile(c, b->fd, &off, (size_t) pco_min(b->file_last - b->file_pos,
                                                                   (off_t) 1 << 30));
            if (n == PCO_AGAIN) {
                goto again;
            }
            if (n < 0) {
                goto fail;
            }
            b->file_pos += n;
            r->bytes_sent += n;
            moved = moved || n > 0;
            rq->out_bytes -= pco_min(rq->out_bytes, (size_t) n);
            continue;
        }
        cnt = 0;
        for (cl = rq->out; cl != NULL && cnt < 64; cl = cl->next) {
            if (cl->buf->in_file) {
                break;
            }
            if (cl->buf->last > cl->buf->pos) {
                iov[cnt].iov_base = cl->buf->pos;
                iov[cnt].iov_len = (size_t) (cl->buf->last - cl->buf->pos);
                cnt++;
            }
        }
        if (cl != NULL && cl->buf->in_file) {
            /* the head goes out with the file data in one segment train */
            pco_http_cork(r, 1);
        }
        n = cnt == 1 ? c->io->send(c, iov[0].iov_base, iov[0].iov_len)
                     : c->io->writev(c, iov, cnt);
        if (n == PCO_AGAIN) {
            goto again;
        }
        if (n < 0) {
            goto fail;
        }
        r->bytes_sent += n;
        moved = moved || n > 0;
        rq->out_bytes -= pco_min(rq->out_bytes, (size_t) n);
        for (cl = rq->out; cl != NULL && n > 0; cl = cl->next) {
            size_t sz;

            if (cl->buf->in_file) {
                break;
            }
            sz = (size_t) (cl->buf->last - cl->buf->pos);
            if ((size_t) n >= sz) {
                cl->buf->pos = cl->buf->last;
                n -= (ssize_t) sz;
            } else {
                cl->buf->pos += n;
                n = 0;
            }
        }
    }
    rq->out_tail = &rq->out;
    c->fin_next = 0;
    if (c->tcp_cork) {
        pco_http_cork(r, 0);
    }
    if (c->write.timer_index) {
        pco_event_del_timer(&c->write);
    }
    r->body_bytes_sent = pco_max(r->bytes_sent - (int64_t) rq->head_bytes, 0);
    return PCO_OK;

again:
    c->fin_next = 0;
    c->write.ready = 0;
    /* send_timeout runs only while the client does not drain, from its last progress */
    pco_event_wait_timer(&c->write, rq->conf->send_timeout, moved);
    r->body_bytes_sent = pco_max(r->bytes_sent - (int64_t) rq->head_bytes, 0);
    return PCO_AGAIN;

fail:
    c->fin_next = 0;
    r->body_bytes_sent = pco_max(r->bytes_sent - (int64_t) rq->head_bytes, 0);
    c->error = 1;
    r->client_gone = 1;
    rq->out = NULL;
    rq->out_tail = &rq->out;
    return PCO_ERROR;
}

pco_msec_t
pco_http_send_timeout(pco_http_request_t *r)
{
    return pco_http_req(r)->conf->send_timeout;
}

int
pco_http_writer_filter(pco_http_request_t *r, pco_chain_t *in)
{
    pco_http_req_t  *rq = pco_http_req(r);
    pco_chain_t     *cl, *l;

    if (r->client_gone) {
        return PCO_ERROR;
    }
    for (cl = in; cl != NULL; cl = cl->next) {
        if (cl->buf->last_buf) {
            rq->last_seen = 1;
        }
        if (pco_buf_size(cl->buf) == 0) {
            continue;
        }
        l = pco_http_link(r, cl->buf);
        if (l == NULL) {
            return PCO_ERROR;
        }
        *rq->out_tail = l;
        rq->out_tail = &l->next;
        rq->out_bytes += pco_buf_size(cl->buf);
    }
    if (rq->out == NULL) {
        rq->out_tail = &rq->out;
        return PCO_OK;
    }
    if (!r->connection->write.ready && r->connection->write.active) {
        /* wait for the write event (EAGAIN already seen) */
        return PCO_AGAIN;
    }
    return pco_http_writer_flush(r);
}
