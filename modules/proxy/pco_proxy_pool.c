/*
 * pco_proxy_pool.c: the per-worker keep-alive pool of upstream connections, one per
 * upstream (u->pool, created on first use in the worker): up to `keepalive` idle
 * connections, each closed after keepalive_timeout idle, when the backend closes it or
 * sends anything while idle, or after keepalive_requests uses. Taking a connection checks
 * it is still open (recv MSG_PEEK). Worker-local: no shared state, no locks.
 */
#include <stdlib.h>
#include "pco_proxy.h"

typedef struct {
    pco_connection_t       *c;
    pco_upstream_server_t  *s;
    int64_t                 uses;
    pco_upstream_t         *u;
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
    pco_conn_close(c);
}

static void
pco_proxy_pool_remove(pco_proxy_pool_t *pl, size_t i)
{
    pl->items[i] = pl->items[pl->n - 1];
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

    if (pl == NULL) {
        return NULL;
    }
    for (i = pl->n; i-- > 0; ) {
        if (pl->items[i].s != s) {
            continue;
        }
        c = pl->items[i].c;
        *uses = pl->items[i].uses;
        pco_proxy_pool_remove(pl, i);
        if (c->read.eof || c->read.error) {
            pco_conn_close(c);
            continue;
        }
        n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            /* closed by the backend (0), stray bytes, or an error */
            pco_conn_close(c);
            continue;
        }
        if (c->read.timer_index) {
            pco_event_del_timer(&c->read);
        }
        return c;
    }
    return NULL;
}

/* Keeps c (to s, after `uses` requests) idle for the next request, or closes it. */
void
pco_proxy_pool_put(pco_upstream_t *u, pco_upstream_server_t *s, pco_connection_t *c,
                   int64_t uses)
{
    pco_proxy_pool_t  *pl = pco_proxy_pool_of(u);

    if (pl == NULL || (u->keepalive_requests > 0 && uses >= u->keepalive_requests)) {
        pco_conn_close(c);
        return;
    }
    if (pl->n == pl->cap) {
        /* the oldest idle connection makes room */
        pco_conn_close(pl->items[0].c);
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
    pl->n++;
    pco_event_add_timer(&c->read, u->keepalive_timeout);
    c->read.cancelable = 1;
}
