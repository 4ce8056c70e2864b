/*
 * pco_http_body.c: the request body: "100 Continue" (only for 1.1 clients that asked, when
 * the body is actually awaited), discarding (what came with the head at once, the rest
 * after the response on a keep-alive connection under client_body_timeout), and the
 * client_max_body_size limit (413) for Content-Length and chunked bodies.
 */
#include "pco_http_int.h"

/* "100 Continue" once, for 1.1 clients that asked and whose body is not here yet. */
void
pco_http_send_continue(pco_http_request_t *r)
{
    static const char   cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    pco_connection_t   *c = r->connection;

    if (!r->head.expect_continue || r->head.version != 11 || r->continue_sent
        || r->header_sent)
    {
        return;
    }
    r->continue_sent = 1;
    (void) c->io->send(c, (const u_char *) cont, sizeof(cont) - 1);
}

/* Drops body bytes from [*pos, last); PCO_DONE when the body is complete, PCO_AGAIN when
 * more is needed, or an HTTP status (400, 413) on bad framing or size. */
static int
pco_http_discard_bytes(pco_http_request_t *r, u_char **pos, u_char *last)
{
    int  rc;

    if (!r->head.chunked) {
        size_t take = (size_t) pco_min((int64_t) (last - *pos), r->body_left);

        *pos += take;
        r->body_left -= (int64_t) take;
        r->request_length += (int64_t) take;
        return r->body_left == 0 ? PCO_DONE : PCO_AGAIN;
    }
    for ( ;; ) {
        rc = pco_http_parse_chunked(&r->chunked, pos, last);
        if (rc == PCO_OK) {
            size_t take = (size_t) pco_min((uint64_t) (last - *pos), r->chunked.left);

            *pos += take;
            r->chunked.left -= take;
            continue;
        }
        if (rc == PCO_ERROR) {
            return r->chunked.status ? r->chunked.status : 400;
        }
        return rc;
    }
}

/* Read handler after the response while the request body is still arriving. */
void
pco_http_discard_read(pco_event_t *ev)
{
    pco_connection_t    *c = ev->data;
    pco_http_request_t  *r = c->data;
    pco_http_req_t      *rq = pco_http_req(r);
    u_char              *pos;
    ssize_t              n;
    int                  rc;

    if (ev->timedout) {
        pco_http_close(c);
        return;
    }
    for ( ;; ) {
        n = c->io->recv(c, pco_http_scratch, pco_http_scratch_size);
        if (n == PCO_AGAIN) {
            c->read.ready = 0;
            pco_event_add_timer(&c->read, rq->conf->client_body_timeout);
            return;
        }
        if (n <= 0) {
            pco_http_close(c);
            return;
        }
        pos = pco_http_scratch;
        rc = pco_http_discard_bytes(r, &pos, pco_http_scratch + n);
        if (rc == PCO_AGAIN) {
            continue;
        }
        if (rc != PCO_DONE) {
            pco_http_close(c);
            return;
        }
        r->discarding = 0;
        r->body_done = 1;
        if (c->read.timer_index) {
            pco_event_del_timer(&c->read);
        }
        /* what follows the body is the next request (copied out by keep-alive) */
        rq->rest = pos;
        rq->rest_last = pco_http_scratch + n;
        pco_http_keepalive(c, r);
        return;
    }
}

int
pco_http_discard_body(pco_http_request_t *r)
{
    pco_http_req_t  *rq = pco_http_req(r);
    int64_t          max = rq->conf->client_max_body_size, seen = 0;
    int              rc;

    if (r->body_done) {
        return PCO_OK;
    }
    if (!r->head.chunked && r->head.content_length <= 0) {
        r->body_done = 1;
        return PCO_OK;
    }
    if (max > 0 && r->head.content_length > max) {
        rq->close_after = 1;
        r->lingering = 1;
        return 413;
    }
    if (rq->stream != NULL) {
        return PCO_OK;      /* a carrier's stream ends without it (RST_STREAM NO_ERROR) */
    }
    if (!r->head.chunked) {
        size_t have = (size_t) (rq->rest_last - rq->rest);

        if (r->body_left < 0) {
            r->body_left = r->head.content_length;
        }
        if ((int64_t) have >= r->body_left) {
            rq->rest += r->body_left;
            r->request_length += r->body_left;
            r->body_left = 0;
            r->body_done = 1;
            return PCO_OK;
        }
        /* the rest is not here yet: read and drop it after the response */
        r->request_length += (int64_t) have;
        r->body_left -= (int64_t) have;
        rq->rest = rq->rest_last;
        r->discarding = 1;
        pco_http_send_continue(r);
        return PCO_OK;
    }
    r->chunked.meta_limit = (size_t) rq->conf->max_header_size;
    for ( ;; ) {
        rc = pco_http_parse_chunked(&r->chunked, &rq->rest, rq->rest_last);
        if (rc == PCO_OK) {
            size_t take = (size_t) pco_min((uint64_t) (rq->rest_last - rq->rest),
                                           r->chunked.left);

            rq->rest += take;
            r->chunked.left -= take;
            seen += (int64_t) take;
            if (max > 0 && seen > max) {
                rq->close_after = 1;
                r->lingering = 1;
                return 413;
            }
            continue;
        }
        if (rc == PCO_DONE) {
            r->body_done = 1;
            return PCO_OK;
        }
        if (rc == PCO_ERROR) {
            rq->close_after = 1;
            return r->chunked.status ? r->chunked.status : 400;
        }
        r->discarding = 1;
        pco_http_send_continue(r);
        return PCO_OK;
    }
}


/*
 * Streaming reader (the proxy): copies up to size body bytes into buf, first what came with
 * the head, then from the socket. A chunked body is de-chunked on the way: only chunk data
 * is copied, its framing validated and dropped with the chunk extensions and the trailers,
 * which count against max_header_size (431); the caller frames the data itself, so nothing
 * the client wrote around the data can reach an upstream. *n is set to the bytes copied.
 * Returns PCO_OK (more may follow), PCO_DONE (the body is complete), PCO_AGAIN (nothing
 * now: r->read_handler runs when more arrives; the client_body_timeout timer is armed),
 * PCO_ERROR (client gone or timed out) or an HTTP status (400 bad framing, 413 over
 * client_max_body_size, 431). Never blocks.
 */
static int
pco_http_read_body_length(pco_http_request_t *r, u_char **pos, u_char *last)
{
    size_t  take = (size_t) pco_min((int64_t) (last - *pos), r->body_left);

    *pos += take;
    r->body_left -= (int64_t) take;
    r->request_length += (int64_t) take;
    return r->body_left == 0 ? PCO_DONE : PCO_OK;
}

/* Moves the chunk data of [*pos, last) to out + *n (out may overlap the input, never
 * ahead of it), *n growing up to cap; PCO_OK when the input is used up or out is full. */
static int
pco_http_read_body_chunked(pco_http_request_t *r, u_char **pos, u_char *last, u_char *out,
                           size_t cap, size_t *n, int64_t max)
{
    size_t  take;
    int     rc;

    for ( ;; ) {
        rc = pco_http_parse_chunked(&r->chunked, pos, last);
        if (rc == PCO_OK) {
            take = (size_t) pco_min((uint64_t) (last - *pos), r->chunked.left);
            take = pco_min(take, cap - *n);
            if (take == 0) {
                return PCO_OK;
            }
            memmove(out + *n, *pos, take);
            *n += take;
            *pos += take;
            r->chunked.left -= take;
            r->request_length += (int64_t) take;
            if (max > 0 && r->request_length > max) {
                return 413;
            }
            continue;
        }
        if (rc == PCO_ERROR) {
            return r->chunked.status ? r->chunked.status : 400;
        }
        return rc == PCO_AGAIN ? PCO_OK : rc;
    }
}

/* A carrier's body of no announced length (body_to_end): raw bytes until its end (recv 0),
 * within client_max_body_size. */
static int
pco_http_read_body_to_end(pco_http_request_t *r, u_char *buf, size_t size, size_t *n)
{
    pco_http_req_t    *rq = pco_http_req(r);
    pco_connection_t  *c = r->connection;
    int64_t            max = rq->conf->client_max_body_size;
    ssize_t            got;

    got = c->io->recv(c, buf, size);
    if (got == PCO_AGAIN) {
        c->read.ready = 0;
        pco_event_wait_timer(&c->read, rq->conf->client_body_timeout, false);
        return PCO_AGAIN;
    }
    if (got < 0) {
        return PCO_ERROR;
    }
    if (c->read.timer_index) {
        pco_event_del_timer(&c->read);
    }
    if (got == 0) {
        r->body_done = 1;
        return PCO_DONE;
    }
    *n = (size_t) got;
    r->request_length += got;
    if (max > 0 && r->request_length > max) {
        return 413;
    }
    return PCO_OK;
}

int
pco_http_read_body(pco_http_request_t *r, u_char *buf, size_t size, size_t *n)
{
    pco_http_req_t    *rq = pco_http_req(r);
    pco_connection_t  *c = r->connection;
    int64_t            max = rq->conf->client_max_body_size;
    u_char            *pos;
    ssize_t            got;
    int                rc;

    *n = 0;
    if (r->body_done) {
        return PCO_DONE;
    }
    if (!r->head.chunked && r->head.content_length <= 0) {
        r->body_done = 1;
        return PCO_DONE;
    }
    if (rq->body_to_end) {
        return pco_http_read_body_to_end(r, buf, size, n);
    }
    if (r->body_left < 0 && !r->head.chunked) {
        if (max > 0 && r->head.content_length > max) {
            rq->close_after = 1;
            r->lingering = 1;
            return 413;
        }
        r->body_left = r->head.content_length;
    }
    if (r->head.chunked && r->chunked.meta_limit == 0) {
        r->chunked.meta_limit = (size_t) rq->conf->max_header_size;
        r->request_length = 0;
    }
    if (rq->rest < rq->rest_last) {
        pos = rq->rest;
        if (r->head.chunked) {
            rc = pco_http_read_body_chunked(r, &pos, rq->rest_last, buf, size, n, max);
        } else {
            rc = pco_http_read_body_length(r, &pos, pco_min(rq->rest_last, rq->rest + size));
            *n = (size_t) (pos - rq->rest);
            memcpy(buf, rq->rest, *n);
        }
        rq->rest = pos;
    } else {
        pco_http_send_continue(r);
        got = c->io->recv(c, buf, size);
        if (got == PCO_AGAIN) {
            c->read.ready = 0;
            /* client_body_timeout runs from the first fruitless read after the last
             * successful one (which drops the timer): a reader woken by the other side
             * (the upstream drained) must not push back the client's deadline */
            pco_event_wait_timer(&c->read, rq->conf->client_body_timeout, false);
            return PCO_AGAIN;
        }
        if (got <= 0) {
            rq->close_after = 1;
            return PCO_ERROR;
        }
        if (c->read.timer_index) {
            pco_event_del_timer(&c->read);
        }
        pos = buf;
        if (r->head.chunked) {
            rc = pco_http_read_body_chunked(r, &pos, buf + got, buf, size, n, max);
        } else {
            rc = pco_http_read_body_length(r, &pos, buf + got);
            *n = (size_t) (pos - buf);
        }
        if (pos < buf + got) {
            /* pipelined bytes after the body: not kept (the connection closes) */
            rq->close_after = 1;
        }
    }
    if (rc == PCO_DONE) {
        r->body_done = 1;
        return PCO_DONE;
    }
    if (rc >= 100) {
        rq->close_after = 1;
        r->lingering = 1;
    }
    return rc;
}
