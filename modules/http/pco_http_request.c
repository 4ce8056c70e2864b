/*
 * pco_http_request.c: the request life cycle, from a complete head (read by
 * pco_http_connection.c) to the end: the request and its capped pool, parse, Host and path
 * normalisation, request id, phases with server/route selection, the content handler,
 * finalisation (error pages, 499), the LOG phase, then keep-alive or a lingering close
 * (pco_http_connection.c again). Also the error-log context (the body is in
 * pco_http_body.c). Touches only per-worker statics (the regex match data).
 */
#include "pco_http_int.h"
#include "pco_shm.h"
#include "pco_process.h"
#include <stdio.h>
#include <sys/socket.h>

static void pco_http_process_request(pco_http_request_t *r);
static void pco_http_conn_write(pco_event_t *ev);
static void pco_http_req_read(pco_event_t *ev);

/* The request pool refused an allocation: say which module asked, once per request. The
 * caller sees NULL and answers 500 (or closes); without this line nothing would say why. */
static void
pco_http_pool_over(pco_pool_t *pool, void *data, size_t wanted)
{
    pco_http_req_t  *rq = data;
    const char      *owner = pco_pool_owner(pool);

    pco_log_err(PCO_LOG_ERR, &rq->log, 0, "module \"%s\": request memory limit of %zu bytes "
                "reached (%zu in use, %zu more asked for); large bodies must be streamed, "
                "not built in memory", owner != NULL ? owner : "?", pco_pool_budget(pool),
                pco_pool_used(pool), wanted);
}

/* Debug builds: what the request's pool cost, once the request is logged (a test counts
 * the chunks of a proxied request; more than one is a regression in per-request memory). */
static void
pco_http_pool_report(pco_http_request_t *r)
{
#ifdef PCO_DEBUG
    const pco_pool_stats_t  *st = pco_pool_stats(r->pool);

    pco_log_debug(r->connection->log, "request pool: %zu chunks, %zu large, %zu bytes used, "
                  "%zu bytes zeroed", st->chunks, st->large, pco_pool_used(r->pool),
                  st->zeroed);
#else
    (void) r;
#endif
}

/* Creates the request for a complete head in data[0..total) (head_len bytes of head). */
pco_http_request_t *
pco_http_create_request(pco_connection_t *c, pco_http_addr_t *a, const u_char *data,
                        size_t total, size_t head_len)
{
    pco_http_main_t    *hm = pco_http_cur_main;
    pco_http_conf_t    *hc = pco_http_addr_conf(a);
    size_t              budget = (size_t) hc->max_header_size * 2 + 65536 + total;
    pco_pool_t         *pool;
    pco_http_req_t     *rq;
    pco_http_request_t *r;
    u_char             *copy;
    size_t              nv = hm->vars.nelts;

    pool = pco_pool_create(8192, budget);
    if (pool == NULL) {
        return NULL;
    }
    rq = pco_pcalloc(pool, sizeof(*rq));
    copy = pco_pnalloc(pool, total + 1);
    if (rq == NULL || copy == NULL) {
        pco_pool_destroy(pool);
        return NULL;
    }
    r = &rq->r;
    r->ctx = pco_pcalloc(pool, sizeof(void *) * (pco_http_nmodules + 1));
    r->var_cache = pco_palloc(pool, sizeof(pco_str_t) * (nv + 1));
    r->var_state = pco_pcalloc(pool, nv + 1);
    if (r->ctx == NULL || r->var_cache == NULL || r->var_state == NULL) {
        pco_pool_destroy(pool);
        return NULL;
    }
    memcpy(copy, data, total);
    rq->main = hm;
    rq->addr = a;
    rq->conf = hc;
    rq->rest = copy + head_len;
    rq->rest_last = copy + total;
    rq->head_len = head_len;
    rq->out_tail = &rq->out;
    rq->log = *pco_log;
    rq->log.context = pco_http_log_context;
    rq->log.data = r;
    pco_pool_set_owner(pool, "http");
    pco_pool_set_over(pool, pco_http_pool_over, rq);
    r->connection = c;
    r->client_addr = &c->sockaddr;
    r->client_socklen = c->socklen;
    r->pool = pool;
    r->out.content_length = -1;
    r->out.last_modified = -1;
    r->body_left = -1;
    r->request_length = (int64_t) head_len;
    r->start_msec = pco_current_msec;
    r->start_sec = pco_time_sec;
    r->start_msec_part = pco_time_msec_part;
    r->keepalive = 0;
    r->head.content_length = -1;
    c->requests++;
    c->data = r;
    c->pool = pool;
    c->log = &rq->log;
    c->read.handler = pco_http_req_read;
    c->write.handler = pco_http_conn_write;
    if (c->read.timer_index) {
        pco_event_del_timer(&c->read);
    }
    pco_http_set_idle(c, false);
    return r;
}

int
pco_http_headers_grow(pco_pool_t *pool, pco_http_header_t **headers, unsigned n,
                      unsigned *nalloc, unsigned want, unsigned max)
{
    pco_http_header_t  *h;
    unsigned            room = *nalloc;

    if (room >= max) {
        return PCO_ERROR;
    }
    room = pco_min(pco_max(want, room ? 2 * room : PCO_HTTP_HEADERS_START), max);
    h = pco_palloc(pool, room * sizeof(pco_http_header_t));
    if (h == NULL) {
        return PCO_ERROR;
    }
    if (n > 0) {
        memcpy(h, *headers, n * sizeof(pco_http_header_t));
    }
    *headers = h;
    *nalloc = room;
    return PCO_OK;
}

pco_http_header_t *
pco_http_head_add(pco_http_request_t *r)
{
    pco_http_head_t  *h = &r->head;

    if (h->nheaders >= PCO_HTTP_MAX_HEADERS
        || (h->nheaders == h->nalloc
            && pco_http_headers_grow(r->pool, &h->headers, h->nheaders, &h->nalloc,
                                     h->nheaders + 1, PCO_HTTP_MAX_HEADERS) != PCO_OK))
    {
        return NULL;
    }
    return &h->headers[h->nheaders++];
}

/* Parses the head into r->head, giving its header list the room it asks for: the parse
 * starts over then, which only a head with more than PCO_HTTP_HEADERS_START headers pays
 * (once: the parser asks for all the lines it sees). 0, an HTTP status, or 500 when the
 * room cannot be had. */
static int
pco_http_parse_request_head(pco_http_request_t *r, u_char *head, size_t len, size_t max_uri)
{
    pco_http_head_t  *h = &r->head;
    int               rc;

    h->headers = pco_palloc(r->pool, PCO_HTTP_HEADERS_START * sizeof(pco_http_header_t));
    h->nalloc = h->headers != NULL ? PCO_HTTP_HEADERS_START : 0;
    while ((rc = pco_http_parse_head(h, head, len, max_uri)) == PCO_HTTP_HEAD_ROOM) {
        /* nothing parsed needs keeping: the parse starts over */
        if (pco_http_headers_grow(r->pool, &h->headers, 0, &h->nalloc, h->nwant,
                                  PCO_HTTP_MAX_HEADERS) != PCO_OK)
        {
            h->nheaders = 0;
            return 500;
        }
    }
    return rc;
}

/* Handles a complete head in buf[0..len) (scratch or a connection buffer). */
void
pco_http_handle_bytes(pco_connection_t *c, u_char *buf, size_t len, size_t head_len)
{
    pco_http_request_t  *r;

    r = pco_http_create_request(c, c->listening->servers, buf, len, head_len);
    if (r == NULL) {
        pco_http_close(c);
        return;
    }
    pco_http_process_request(r);
}

/* Copies s into pool (NUL-terminated; a NULL data stays NULL: no query vs an empty one). */
static int
pco_http_str_copy(pco_pool_t *pool, pco_str_t *d, const pco_str_t *s)
{
    d->len = s->len;
    d->data = s->data != NULL ? pco_pstrdup(pool, s) : NULL;
    return s->data == NULL || d->data != NULL ? PCO_OK : PCO_ERROR;
}

/* A carrier's head, made the request's own (its strings and list in r->pool). */
static int
pco_http_head_copy(pco_http_request_t *r, const pco_http_head_t *src)
{
    pco_http_head_t  *h = &r->head;
    unsigned          i;

    *h = *src;
    h->nalloc = pco_max(src->nheaders, (unsigned) PCO_HTTP_HEADERS_START);
    h->headers = pco_palloc(r->pool, h->nalloc * sizeof(pco_http_header_t));
    if (h->headers == NULL
        || pco_http_str_copy(r->pool, &h->method_name, &src->method_name) != PCO_OK
        || pco_http_str_copy(r->pool, &h->target, &src->target) != PCO_OK
        || pco_http_str_copy(r->pool, &h->path, &src->path) != PCO_OK
        || pco_http_str_copy(r->pool, &h->query, &src->query) != PCO_OK
        || pco_http_str_copy(r->pool, &h->authority, &src->authority) != PCO_OK
        || pco_http_str_copy(r->pool, &h->request_line, &src->request_line) != PCO_OK)
    {
        h->nheaders = 0;
        return PCO_ERROR;
    }
    for (i = 0; i < src->nheaders; i++) {
        if (pco_http_str_copy(r->pool, &h->headers[i].name, &src->headers[i].name) != PCO_OK
            || pco_http_str_copy(r->pool, &h->headers[i].value, &src->headers[i].value)
               != PCO_OK)
        {
            h->nheaders = i;
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

static void pco_http_process_head(pco_http_request_t *r);
static int pco_http_set_request_id(pco_http_request_t *r);

int
pco_http_stream_request(pco_connection_t *c, const pco_http_stream_ops_t *ops,
                        const pco_http_head_t *head, int status, bool body_to_end)
{
    pco_http_request_t  *r;
    pco_http_req_t      *rq;

    r = pco_http_create_request(c, c->listening->servers, (const u_char *) "", 0, 0);
    if (r == NULL) {
        return PCO_ERROR;
    }
    rq = pco_http_req(r);
    rq->stream = ops;
    rq->body_to_end = body_to_end;
    r->request_length = 0;
    pco_counter_add(rq->main->c_requests, 1);
    if (pco_http_head_copy(r, head) != PCO_OK && status == 0) {
        status = 500;
    }
    r->head.version = 20;
    if (status != 0) {
        if (pco_http_set_request_id(r) != PCO_OK) {
            pco_http_finalize_request(r, PCO_ERROR);
            return PCO_OK;
        }
        rq->close_after = 1;
        rq->head_error = 1;
        pco_http_finalize_request(r, status);
        return PCO_OK;
    }
    pco_http_process_head(r);
    return PCO_OK;
}

/*
 * The request id: the client's X-Request-Id when it is valid and the peer is in
 * http.request_id.trust_from, else 32 random hex digits. Runs before POST_READ, so
 * r->client_addr is still the immediate peer (the PROXY protocol source where the listener
 * takes it), never an address real_ip read from a header: what is trusted is the load
 * balancer in front, as the operator listed it.
 */
static int
pco_http_set_request_id(pco_http_request_t *r)
{
    const pco_cidr_list_t  *trust = pco_http_req(r)->main->request_id_trust;
    pco_http_header_t      *h = NULL;

    if (trust != NULL && r->head.nheaders && pco_cidr_list_match(trust, r->client_addr)) {
        h = pco_http_head_find(&r->head, "X-Request-Id", 12);
    }
    if (h != NULL && pco_http_request_id_valid(h->value.data, h->value.len)) {
        r->request_id = h->value;
        return PCO_OK;
    }
    r->request_id.data = pco_pnalloc(r->pool, 32);
    if (r->request_id.data == NULL) {
        return PCO_ERROR;
    }
    pco_http_request_id_generate(r->request_id.data);
    r->request_id.len = 32;
    return PCO_OK;
}

static void
pco_http_process_request(pco_http_request_t *r)
{
    pco_http_req_t  *rq = pco_http_req(r);
    pco_http_main_t *hm = rq->main;
    u_char          *head = rq->rest - rq->head_len;
    int              rc;

    pco_counter_add(hm->c_requests, 1);
    rc = pco_http_parse_request_head(r, head, rq->head_len, (size_t) rq->conf->max_uri_size);
    if (rc != 0) {
        if (pco_http_set_request_id(r) != PCO_OK) {
            pco_http_finalize_request(r, PCO_ERROR);
            return;
        }
        if (r->head.version == 0) {
            r->head.version = 11;
        }
        rq->close_after = 1;
        rq->head_error = 1;
        r->lingering = 1;
        pco_http_finalize_request(r, rc);
        return;
    }
    pco_http_process_head(r);
}

/* A parsed head (HTTP/1 or a carrier's): host, path, request id, then the phases. */
static void
pco_http_process_head(pco_http_request_t *r)
{
    pco_http_req_t  *rq = pco_http_req(r);
    pco_http_main_t *hm = rq->main;
    pco_str_t        hostsrc = pco_null_string;
    bool             changed = false;

    pco_counter_add(hm->c_proto[r->head.version == 10 ? 0 : r->head.version == 11 ? 1 : 2], 1);
    if (!hm->underscores) {
        (void) pco_http_head_drop_underscores(&r->head);
    }
    r->keepalive = r->head.keepalive && rq->conf->keepalive_timeout > 0;
    if (pco_http_set_request_id(r) != PCO_OK) {
        pco_http_finalize_request(r, PCO_ERROR);
        return;
    }
    if (r->head.authority.len) {
        hostsrc = r->head.authority;
    } else if (r->head.host_idx) {
        hostsrc = r->head.headers[r->head.host_idx - 1].value;
    }
    if (hostsrc.len) {
        r->host.data = pco_pnalloc(r->pool, hostsrc.len + 1);
        if (r->host.data == NULL) {
            pco_http_finalize_request(r, PCO_ERROR);
            return;
        }
        if (pco_http_normalize_host(hostsrc.data, hostsrc.len, r->host.data, &r->host.len)
            != 0)
        {
            r->host.len = 0;
            rq->close_after = 1;
            pco_http_finalize_request(r, 400);
            return;
        }
    } else if (r->head.version >= 11) {
        rq->close_after = 1;
        pco_http_finalize_request(r, 400);
        return;
    }
    r->uri.data = pco_pnalloc(r->pool, r->head.path.len + 1);
    if (r->uri.data == NULL) {
        pco_http_finalize_request(r, PCO_ERROR);
        return;
    }
    if (pco_http_normalize_path(r->head.path.data, r->head.path.len, r->uri.data, &r->uri.len,
                                &changed) != 0)
    {
        r->uri.len = 0;
        rq->close_after = 1;
        pco_http_finalize_request(r, 400);
        return;
    }
    r->uri_changed = changed;
    r->args = r->head.query;
    r->phase = PCO_HTTP_POST_READ_PHASE;
    r->phase_handler = 0;
    pco_http_run_phases(r);
}

static pcre2_match_data *pco_http_md;

static int
pco_http_select(pco_http_request_t *r)
{
    pco_http_req_t  *rq = pco_http_req(r);
    pcre2_match_data *md;
    int              n;

    if (pco_http_md == NULL) {
        pco_http_md = pcre2_match_data_create(32, NULL);
    }
    md = pco_http_md;
    r->server = pco_http_find_server(rq->addr, &r->host, md);
    rq->conf = r->server->node->confs[pco_http_module.index];
    if (rq->addr->nregex && md != NULL) {
        size_t k;

        /* keep the server-name regex captures for named-capture variables */
        for (k = 0; k < rq->addr->nregex; k++) {
            if (rq->addr->regex[k].server == r->server
                && pcre2_match(rq->addr->regex[k].re, r->host.data, r->host.len, 0, 0, md,
                               NULL) >= 0)
            {
                rq->srv_ncaps = pcre2_get_ovector_count(md);
                rq->srv_caps = pco_palloc(r->pool, sizeof(PCRE2_SIZE) * 2 * rq->srv_ncaps);
                if (rq->srv_caps == NULL) {
                    return PCO_ERROR;
                }
                memcpy(rq->srv_caps, pcre2_get_ovector_pointer(md),
                       sizeof(PCRE2_SIZE) * 2 * rq->srv_ncaps);
                rq->srv_re = rq->addr->regex[k].re;
                break;
            }
        }
    }
    r->route = pco_http_find_route(r->server, &r->uri, r->head.method, &r->head, md);
    if (r->route == NULL) {
        return 404;
    }
    rq->conf = r->route->node->confs[pco_http_module.index];
    if (r->route->path_regex != NULL && md != NULL) {
        n = (int) pcre2_get_ovector_count(md);
        n = pco_min(n, (int) r->route->regex_captures + 1);
        r->captures = pco_palloc(r->pool, sizeof(PCRE2_SIZE) * 2 * (size_t) n);
        if (r->captures == NULL) {
            return PCO_ERROR;
        }
        memcpy(r->captures, pcre2_get_ovector_pointer(md), sizeof(PCRE2_SIZE) * 2 * (size_t) n);
        r->ncaptures = (uint32_t) n;
    }
    if (rq->conf->client_max_body_size > 0
        && r->head.content_length > rq->conf->client_max_body_size)
    {
        rq->close_after = 1;
        r->lingering = 1;
        return 413;
    }
    if (!r->keepalive || rq->conf->keepalive_timeout == 0) {
        r->keepalive = 0;
    }
    return PCO_OK;
}

void
pco_http_run_phases(pco_http_request_t *r)
{
    pco_http_main_t  *hm = pco_http_req(r)->main;
    int               rc;

    while (r->phase < PCO_HTTP_CONTENT_PHASE) {
        if (r->phase_handler >= hm->nphases[r->phase]) {
            if (r->phase == PCO_HTTP_POST_READ_PHASE) {
                rc = pco_http_select(r);
                if (rc != PCO_OK) {
                    pco_http_finalize_request(r, rc);
                    return;
                }
            }
            r->phase++;
            r->phase_handler = 0;
            continue;
        }
        pco_pool_set_owner(r->pool, hm->phase_owners[r->phase][r->phase_handler]);
        rc = hm->phases[r->phase][r->phase_handler](r);
        if (rc == PCO_DECLINED) {
            r->phase_handler++;
            continue;
        }
        if (rc == PCO_OK) {
            r->phase_handler = (unsigned) hm->nphases[r->phase];
            continue;
        }
        if (rc == PCO_AGAIN) {
            return;
        }
        pco_http_finalize_request(r, rc);
        return;
    }
    if (r->phase == PCO_HTTP_CONTENT_PHASE) {
        r->phase = PCO_HTTP_LOG_PHASE;
        if (r->route == NULL || r->route->content == NULL) {
            pco_http_finalize_request(r, 404);
            return;
        }
        pco_pool_set_owner(r->pool, r->route->action);
        rc = r->route->content(r);
        pco_http_finalize_request(r, rc);
    }
}

bool
pco_http_conn_retiring(pco_http_request_t *r)
{
    pco_http_req_t  *rq = pco_http_req(r);
    bool             body_left;

    if (rq->stream != NULL || (!pco_worker_exiting && !r->connection->close)) {
        return false;       /* a carrier's stream is never reused: its carrier retires */
    }
    /* bytes after the head are the next requests only once this one's body is read */
    body_left = !r->body_done && (r->head.content_length > 0 || r->head.chunked);
    return body_left || rq->rest >= rq->rest_last;
}

void
pco_http_request_done(pco_http_request_t *r)
{
    pco_http_req_t    *rq = pco_http_req(r);
    pco_http_main_t   *hm = rq->main;
    pco_connection_t  *c = r->connection;
    size_t             i;
    int                cls;

    if (rq->done) {
        return;
    }
    rq->done = 1;
    /* A response cut short keeps the status the client was sent (as nginx does once bytes
     * went out); 499 is for a client gone before any byte of the response. Whether the
     * whole response went out is r->complete ($request_completion), decided here once. */
    if (r->client_gone && r->bytes_sent == 0) {
        r->status = 499;
    }
    if (!c->error && !r->client_gone && rq->last_seen && rq->out == NULL) {
        r->complete = 1;
    }
    cls = r->status / 100 - 1;
    if (cls >= 0 && cls < 5) {
        pco_counter_add(hm->c_status[cls], 1);
    }
    if (!r->logged) {
        r->logged = 1;
        for (i = 0; i < hm->nphases[PCO_HTTP_LOG_PHASE]; i++) {
            pco_pool_set_owner(r->pool, hm->phase_owners[PCO_HTTP_LOG_PHASE][i]);
            (void) hm->phases[PCO_HTTP_LOG_PHASE][i](r);
        }
        pco_http_pool_report(r);
    }
    if (rq->stream != NULL) {
        rq->stream->done(r);        /* destroys r->pool: nothing of r after this */
        return;
    }
    if (!r->body_done && !r->discarding && (r->head.content_length > 0 || r->head.chunked)) {
        rq->close_after = 1;
        r->lingering = 1;
    }
    if (c->error || r->client_gone) {
        pco_http_close(c);
        return;
    }
    /* the response head decided keep-alive (pco_http_conn_retiring included); a connection
     * kept alive in a retiring worker goes idle and is retired from there */
    if (!r->keepalive || rq->close_after) {
        if (r->lingering || (pco_worker_exiting && c->io == &pco_conn_plain_io)) {
            /* a retiring worker closes with a FIN after `Connection: close`: a request the
             * client sent meanwhile must not turn into a reset that destroys the response */
            pco_http_start_lingering(c);
        } else {
            pco_http_close(c);
        }
        return;
    }
    if (r->discarding) {
        c->read.handler = pco_http_discard_read;
        c->write.handler = pco_http_empty_handler;
        c->log = pco_log;
        pco_event_add_timer(&c->read, rq->conf->client_body_timeout);
        if (c->read.ready) {
            pco_http_discard_read(&c->read);
        }
        return;
    }
    pco_http_keepalive(c, r);
}

/* The answer before a background handler is all written: a client that asked to close
 * gets its end of file now (plain TCP; TLS closes with close_notify when the request
 * ends). */
static void
pco_http_background_answered(pco_http_request_t *r)
{
    pco_connection_t  *c = r->connection;

    if (!r->keepalive && c->io == &pco_conn_plain_io && !c->error) {
        (void) shutdown(c->fd, SHUT_WR);
    }
}

void
pco_http_background_start(pco_http_request_t *r)
{
    r->background = 1;
    r->client_status = r->status;
    r->out.nheaders = 0;
    r->out.content_type.len = 0;
    r->out.content_length = -1;
    r->out.location.len = 0;
    r->out.last_modified = -1;
    r->out.status_line.len = 0;
    if (pco_http_req(r)->last_seen && pco_http_req(r)->out == NULL) {
        pco_http_background_answered(r);
    }
}

void
pco_http_finalize_request(pco_http_request_t *r, int rc)
{
    pco_http_req_t  *rq = pco_http_req(r);

    if (rq->done) {
        return;
    }
    if (rc == PCO_AGAIN) {
        return;
    }
    if (r->background) {
        /* the refresh behind a complete answer ended: its outcome is not the client's */
        r->background = 0;
        r->status = r->client_status;
        if (!r->client_gone) {
            r->connection->error = 0;
            rc = PCO_DONE;
        }
    }
    if (rc == PCO_ERROR) {
        r->connection->error = 1;
        pco_http_request_done(r);
        return;
    }
    if (rc >= 100) {
        if (r->header_sent) {
            r->connection->error = 1;
            pco_http_request_done(r);
            return;
        }
        if (rc >= 400 && rq->head_error) {
            rq->close_after = 1;
        }
        rc = pco_http_special_response(r, rc);
        if (rc == PCO_ERROR) {
            r->connection->error = 1;
            pco_http_request_done(r);
            return;
        }
    }
    if (!rq->last_seen) {
        /* the handler is still producing (r->write_handler) */
        return;
    }
    if (rq->out != NULL) {
        return;      /* the write event finishes it */
    }
    pco_http_request_done(r);
}

void
pco_http_finalize_closed(pco_http_request_t *r)
{
    if (pco_http_req(r)->done) {
        return;
    }
    r->keepalive = 0;
    /* the tunnel ended with a close from one side: nothing of it was cut */
    r->complete = !r->connection->error && !r->client_gone;
    pco_http_request_done(r);
}

/* The client is gone or timed out (r->client_gone) while a response was being written: a
 * producing handler (r->write_handler) is told so that it ends its own work first (the
 * proxy records its try and closes the upstream connection) and finalises the request;
 * otherwise the request ends here. */
static void
pco_http_conn_write_failed(pco_http_request_t *r)
{
    if (r->write_handler != NULL) {
        r->write_handler(r);
        return;
    }
    pco_http_request_done(r);
}

static void
pco_http_conn_write(pco_event_t *ev)
{
    pco_connection_t    *c = ev->data;
    pco_http_request_t  *r = c->data;
    pco_http_req_t      *rq = pco_http_req(r);
    int                  rc;

    if (ev->timedout) {
        ev->timedout = 0;
        if (r->out.content_length >= 0 && !r->header_only) {
            pco_log_err(PCO_LOG_INFO, c->log, 0,
                        "client timed out sending the response (%lld of %lld bytes sent)",
                        (long long) r->body_bytes_sent, (long long) r->out.content_length);
        } else {
            pco_log_err(PCO_LOG_INFO, c->log, 0,
                        "client timed out sending the response (%lld bytes sent)",
                        (long long) r->body_bytes_sent);
        }
        r->client_gone = 1;
        c->timedout = 1;
        pco_http_conn_write_failed(r);
        return;
    }
    rc = pco_http_writer_flush(r);
    if (rc == PCO_AGAIN) {
        return;
    }
    if (rc == PCO_ERROR) {
        pco_http_conn_write_failed(r);
        return;
    }
    if (rq->last_seen && !r->background) {
        pco_http_request_done(r);
        return;
    }
    if (rq->last_seen && rq->out == NULL) {
        pco_http_background_answered(r);
    }
    if (r->write_handler != NULL) {
        pco_pool_set_owner(r->pool, r->route != NULL ? r->route->action : "http");
        r->write_handler(r);
    }
}

static void
pco_http_req_read(pco_event_t *ev)
{
    pco_connection_t    *c = ev->data;
    pco_http_request_t  *r = c->data;

    if (ev->timedout) {
        /* client_body_timeout: the only timer on the client's read side during a request */
        ev->timedout = 0;
        pco_log_err(PCO_LOG_INFO, c->log, 0, "client timed out sending the request body");
        r->client_gone = 1;
        c->timedout = 1;
        pco_http_request_done(r);
        return;
    }
    if (r->read_handler != NULL) {
        pco_pool_set_owner(r->pool, r->route != NULL ? r->route->action : "http");
        r->read_handler(r);
    }
}

u_char *
pco_http_log_context(pco_log_t *log, u_char *buf, u_char *end)
{
    pco_http_request_t  *r = log->data;
    pco_connection_t    *c;
    u_char               addr[64];
    size_t               alen;
    int                  n;

    if (r == NULL || buf >= end) {
        return buf;
    }
    c = r->connection;
    alen = pco_sockaddr_ntop(&c->sockaddr, c->socklen, addr, sizeof(addr), false);
    n = snprintf((char *) buf, (size_t) (end - buf), ", client: %.*s", (int) alen,
                 (char *) addr);
    buf += n > 0 ? pco_min((size_t) n, (size_t) (end - buf)) : 0;
    if (r->server != NULL && r->server->name.len && buf < end) {
        n = snprintf((char *) buf, (size_t) (end - buf), ", server: %.*s",
                     (int) r->server->name.len, (char *) r->server->name.data);
        buf += n > 0 ? pco_min((size_t) n, (size_t) (end - buf)) : 0;
    }
    if (r->head.request_line.len && buf < end) {
        n = snprintf((char *) buf, (size_t) (end - buf), ", request: \"%.*s\"",
                     (int) pco_min(r->head.request_line.len, (size_t) 2048),
                     (char *) r->head.request_line.data);
        buf += n > 0 ? pco_min((size_t) n, (size_t) (end - buf)) : 0;
    }
    if (r->request_id.len && buf < end) {
        n = snprintf((char *) buf, (size_t) (end - buf), ", request_id: %.*s",
                     (int) r->request_id.len, (char *) r->request_id.data);
        buf += n > 0 ? pco_min((size_t) n, (size_t) (end - buf)) : 0;
    }
    return buf;
}
