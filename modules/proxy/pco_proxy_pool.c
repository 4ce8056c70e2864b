/*
 * pco_proxy_pool.c: the per-worker keep-alive pool of upstream connections, one per
 * upstream (u->pool, created on first use in the worker): up to `keepalive` idle
 * connections, each closed after keepalive_timeout idle, when the backend closes it or
 * sends anything while idle, or after keepalive_requests uses; a connection to a
 * send_proxy_protocol server is never kept (its PROXY header named one client, and pooling
 * it per client would hold idle slots for clients that may not return, so each of its
 * requests opens a new one). The most recently used connection is taken first; beyond
 * `keepalive`, the least recently used ones are closed at the end of the event-loop pass
 * (see pco_proxy_pool_trim), not at once.
 * Taking a connection for a request that could not be replayed on a fresh one (a
 * non-idempotent method, or a body not held whole) checks it is still open (recv
 * MSG_PEEK): a backend close that arrived since the last epoll_wait, whose event this pass
 * has not handled yet, is caught before such a request is written. A replayable request
 * skips that system call: if the connection turns out closed, the try is repeated on a
 * fresh connection (pco_proxy_fail), as nginx does for every method it may retry.
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
    uint64_t                epoch;        /* s->epoch when pooled: the position's server */
    pco_msec_t              deadline;     /* closed then (keepalive_timeout idle) */
} pco_proxy_idle_t;

typedef struct {
    size_t              n;
    size_t              cap;            /* `keepalive`: kept between passes */
    size_t              size;           /* items allocated (grows past cap in a pass) */
    pco_event_t         trim;           /* posted when n went past cap */
    pco_event_t         expire;         /* the timer of the oldest entry's deadline */
    pco_proxy_idle_t   *items;          /* oldest first */
} pco_proxy_pool_t;

static void pco_proxy_pool_remove(pco_proxy_pool_t *pl, size_t i);
static void pco_proxy_pool_trim(pco_event_t *ev);
static void pco_proxy_pool_expire(pco_event_t *ev);

static pco_proxy_pool_t *
pco_proxy_pool_of(pco_upstream_t *u)
{
    pco_proxy_pool_t  *pl = u->pool;

    if (pl == NULL && u->keepalive > 0) {
        /* lives as long as the worker (one generation per worker) */
        pl = calloc(1, sizeof(*pl));
        if (pl == NULL) {
            return NULL;
        }
        pl->items = calloc((size_t) u->keepalive, sizeof(pco_proxy_idle_t));
        if (pl->items == NULL) {
            free(pl);
            return NULL;
        }
        pl->cap = (size_t) u->keepalive;
        pl->size = pl->cap;
        pl->trim.data = pl;
        pl->trim.handler = pco_proxy_pool_trim;
        pl->expire.data = pl;
        pl->expire.handler = pco_proxy_pool_expire;
        pl->expire.cancelable = 1;      /* a graceful shutdown does not wait for it */
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

    /* anything while idle (EOF, stray bytes, a graceful shutdown) ends the connection */
    if (ev->write) {
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
pco_proxy_pool_get(pco_upstream_t *u, pco_upstream_server_t *s, int64_t *uses,
                   bool replayable)
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
        if (pl->items[i].epoch != s->epoch) {
            /* the position holds another server now (admin API, DNS): not ours to reuse */
            c = pl->items[i].c;
            if (!c->destroyed && c->number == pl->items[i].number) {
                pco_conn_set_idle(c, false);
                pco_upstream_conn_close(c);
            }
            pco_proxy_pool_remove(pl, i);
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
        if (!replayable) {
            n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                /* closed by the backend (0), stray bytes, or an error */
                pco_upstream_conn_close(c);
                continue;
            }
        }
        pco_counter_add(pco_upstream_ctr_reused, 1);
        return c;
    }
    /* the caller opens a new connection */
    pco_counter_add(pco_upstream_ctr_opened, 1);
    return NULL;
}

/* Closes the least recently used idle connection (items[0]). */
static void
pco_proxy_pool_close_oldest(pco_proxy_pool_t *pl)
{
    if (!pl->items[0].c->destroyed && pl->items[0].c->number == pl->items[0].number) {
        pco_upstream_conn_close(pl->items[0].c);
    }
    pco_proxy_pool_remove(pl, 0);
}

/* At the end of the pass in which the pool went past `keepalive`: the least recently used
 * idle connections are closed until `keepalive` remain, as nginx's keepalive cache does
 * at once when it is full. */
static void
pco_proxy_pool_trim(pco_event_t *ev)
{
    pco_proxy_pool_t  *pl = ev->data;

    while (pl->n > pl->cap) {
        pco_proxy_pool_close_oldest(pl);
    }
}

/*
 * keepalive_timeout: one timer per pool instead of one per idle connection, so taking and
 * giving back a connection touches no timer. Entries are in the order they were given
 * back and share one timeout, so items[0] has the earliest deadline: the timer runs for
 * it, closes what has expired and is armed again for the next one.
 */
static void
pco_proxy_pool_expire(pco_event_t *ev)
{
    pco_proxy_pool_t  *pl = ev->data;

    ev->timedout = 0;
    while (pl->n > 0 && pl->items[0].deadline <= pco_current_msec) {
        pco_proxy_pool_close_oldest(pl);
    }
    if (pl->n > 0) {
        pco_event_add_timer(ev, pl->items[0].deadline - pco_current_msec);
    }
}

/* Room for twice as many entries; the array is never shrunk (an entry is 40 bytes). */
static int
pco_proxy_pool_grow(pco_proxy_pool_t *pl)
{
    pco_proxy_idle_t  *items;
    size_t             size = 2 * pl->size;

    items = realloc(pl->items, size * sizeof(pco_proxy_idle_t));
    if (items == NULL) {
        return PCO_ERROR;
    }
    pl->items = items;
    pl->size = size;
    return PCO_OK;
}

/* Keeps c (to s, after `uses` requests) idle for the next request, or closes it. */
void
pco_proxy_pool_put(pco_upstream_t *u, pco_upstream_server_t *s, pco_connection_t *c,
                   int64_t uses)
{
    pco_proxy_pool_t  *pl = pco_proxy_pool_of(u);

    /* a connection that began with a PROXY header speaks for one client only */
    pco_upstream_sync(u);
    /* a drained, downed or removed server: its connections are closed, never pooled */
    if (pl == NULL || pco_worker_exiting || s->send_proxy_protocol || s->vacant
        || s->admin != PCO_UPSTREAM_ADMIN_UP
        || (u->keepalive_requests > 0 && uses >= u->keepalive_requests))
    {
        pco_upstream_conn_close(c);
        return;
    }
    if (pl->n == pl->cap) {
        /* over `keepalive` until the end of this pass: a request handled later in the same
         * pass takes it instead of opening a new connection (under load, responses and
         * new requests come in the same epoll batch) */
        pco_event_post(&pl->trim);
    }
    if (pl->n == pl->size && pco_proxy_pool_grow(pl) != PCO_OK) {
        pco_proxy_pool_close_oldest(pl);
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
    pl->items[pl->n].epoch = s->epoch;
    pl->items[pl->n].deadline = pco_current_msec + u->keepalive_timeout;
    pl->n++;
    pco_conn_set_idle(c, true);
    if (pl->expire.timer_index == 0) {
        pco_event_add_timer(&pl->expire, u->keepalive_timeout);
    }
}
