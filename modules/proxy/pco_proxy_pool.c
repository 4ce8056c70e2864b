/*
 * pco_proxy_pool.c: the per-worker keep-alive pool of upstream connections, one per
 * upstream (u->pool, created on first use in the worker): up to `keepalive` idle
 * connections, each closed after keepalive_timeout idle, when the backend closes it or
 * sends anything while idle, or after keepalive_requests uses; a connection to a
 * send_proxy_protocol server is never kept (its PROXY header named one client, and pooling
 * it per client would hold idle slots for clients that may not return, so each of its
 * requests opens a new one). Taking a connection checks it is still open (recv MSG_PEEK).
 * Pooled connections are on core's idle list, so a
 * graceful shutdown (QUIT, or the old workers of a reload) closes them at once instead of
 * waiting for keepalive_timeout; once the worker is exiting the pool is neither used nor
 * refilled (its entries may already be closed; each entry also keeps the connection's
 * number, so an entry whose connection was closed elsewhere is dropped, never used).
 * Worker-local: no shared state, no locks. Counts the worker's "upstream_conn_reused" and
 * "upstream_conn_opened" counters (pco_upstream.h).
 */
#include <stdlib.h>
#include "pco_proxy.h"
#include "pco_process.h"

typedef struct {
    pco_connection_t       *c;
    pco_upstream_server_t  *s;
    int64_t                 uses;
    pco_upstream_t         *u;
    uint64_t                number;       /* c->number when pooled */
} pco_proxy_idle_t;

typedef struct {
    size_t              n;
    size_t              cap;
    pco_proxy_idle_t    items[];
} pco_proxy_pool_t;

static void pco_proxy_pool_remove(pco_proxy_pool_t *pl, size_t i);

static pco_proxy_pool_t *
pco_proxy_pool_of(pco_upstream_t *u)
{
    pco_proxy_pool_t  *pl = u->pool;

    if (pl == NULL && u->keepalive > 0) {
        /* lives as long as the worker (one generation per worker) */
        pl = calloc(1, sizeof(*pl) + (size_t) u->keepalive * sizeof(pco_proxy_idle_t));
        if (pl == NULL) {
            return NULL;
        }
        pl->cap = (size_t) u->keepalive;
        u->pool = pl;
    }
    return pl;
}

static void
pco_proxy_pool_idle_event(pco_event_t *ev)
{
    pco_connection_t   *c = ev->data;
    pco_upstream_t     *u = c->data;
    pco_proxy_pool_t   *pl = u->pool;
    size_t              i;

    /* anything while idle (timeout, EOF, stray bytes) ends the connection */
    if (!ev->timedout && ev->write) {
        return;
    }
    for (i = 0; pl != NULL && i < pl->n; i++) {
        if (pl->items[i].c == c) {
            pco_proxy_pool_remove(pl, i);
            break;
        }
    }
    pco_upstream_conn_close(c);
}

/* Keeps the order (oldest first): taking from the end reuses the most recently used
 * connection, and the one evicted when the pool is full is the oldest. */
static void
pco_proxy_pool_remove(pco_proxy_pool_t *pl, size_t i)
{
    memmove(&pl->items[i], &pl->items[i + 1], (pl->n - i - 1) * sizeof(pl->items[0]));
    pl->n--;
}

/* An idle connection to s that is still open, or NULL. *uses: its requests so far. */
pco_connection_t *
pco_proxy_pool_get(pco_upstream_t *u, pco_upstream_server_t *s, int64_t *uses)
{
    pco_proxy_pool_t  *pl = u->pool;
    pco_connection_t  *c;
    size_t             i;
    ssize_t            n;
    u_char             ch;

    if (pl == NULL || pco_worker_exiting) {
        pco_counter_add(pco_upstream_ctr_opened, 1);
        return NULL;
    }
    for (i = pl->n; i-- > 0; ) {
        if (pl->items[i].s != s) {
            continue;
        }
        c = pl->items[i].c;
        *uses = pl->items[i].uses;
        if (c->destroyed || c->number != pl->items[i].number) {
            pco_proxy_pool_remove(pl, i);       /* closed elsewhere: the struct is not ours */
            continue;
        }
        pco_proxy_pool_remove(pl, i);
        pco_conn_set_idle(c, false);
        if (c->read.eof || c->read.error) {
            pco_upstream_conn_close(c);
            continue;
        }
        n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            /* closed by the backend (0), stray bytes, or an error */
            pco_upstream_conn_close(c);
            continue;
        }
        if (c->read.timer_index) {
            pco_event_del_timer(&c->read);
        }
        pco_counter_add(pco_upstream_ctr_reused, 1);
        return c;
    }
    /* the caller opens a new connection */
    pco_counter_add(pco_upstream_ctr_opened, 1);
    return NULL;
}

/* Keeps c (to s, after `uses` requests) idle for the next request, or closes it. */
void
pco_proxy_pool_put(pco_upstream_t *u, pco_upstream_server_t *s, pco_connection_t *c,
                   int64_t uses)
{
    pco_proxy_pool_t  *pl = pco_proxy_pool_of(u);

    /* a connection that began with a PROXY header speaks for one client only */
    if (pl == NULL || pco_worker_exiting || s->send_proxy_protocol
        || (u->keepalive_requests > 0 && uses >= u->keepalive_requests))
    {
        pco_upstream_conn_close(c);
        return;
    }
    if (pl->n == pl->cap) {
        /* the oldest idle connection makes room */
        if (!pl->items[0].c->destroyed && pl->items[0].c->number == pl->items[0].number) {
            pco_upstream_conn_close(pl->items[0].c);
        }
        pco_proxy_pool_remove(pl, 0);
    }
    if (c->read.timer_index) {
        pco_event_del_timer(&c->read);
    }
    if (c->write.timer_index) {
        pco_event_del_timer(&c->write);
    }
    c->data = u;
    c->read.handler = pco_proxy_pool_idle_event;
    c->write.handler = pco_proxy_pool_idle_event;
    c->log = pco_log;
    pl->items[pl->n].c = c;
    pl->items[pl->n].s = s;
    pl->items[pl->n].uses = uses;
    pl->items[pl->n].u = u;
    pl->items[pl->n].number = c->number;
    pl->n++;
    pco_conn_set_idle(c, true);
    pco_event_add_timer(&c->read, u->keepalive_timeout);
    c->read.cancelable = 1;
}
