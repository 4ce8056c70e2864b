/*
 * pco_event.c: the worker's event loop. One epoll instance per process; connections are
 * registered once, edge-triggered for both directions; listening sockets level-triggered
 * (EPOLLEXCLUSIVE when shared). The epoll data pointer carries the connection with its
 * instance bit in the low bit, so an event of a connection closed (and perhaps reused)
 * earlier in the same batch is recognised as stale and dropped. Timers live in a binary
 * min-heap keyed by deadline (1-based timer_index for O(log n) removal); posted events run
 * at the end of a pass. Process-local state only; never blocks except in epoll_wait.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "pco_event.h"
#include "pco_conn.h"
#include "pco_log.h"

static int                  pco_event_ep = -1;
static struct epoll_event  *pco_event_list;
static unsigned             pco_event_nlist;

static pco_event_t        **pco_event_heap;     /* [1..pco_event_heap_n] */
static size_t               pco_event_heap_n;
static size_t               pco_event_heap_cap;

static pco_event_t         *pco_event_posted;         /* for the next run */
static pco_event_t         *pco_event_posted_tail;
static pco_event_t         *pco_event_posted_running; /* the batch being run */

int
pco_event_init(unsigned max_events)
{
    if (max_events == 0) {
        max_events = 512;
    }
    pco_event_done();
    pco_event_ep = epoll_create1(EPOLL_CLOEXEC);
    if (pco_event_ep == -1) {
        pco_log_error(PCO_LOG_ALERT, pco_log, errno, "epoll_create1() failed");
        return PCO_ERROR;
    }
    pco_event_list = calloc(max_events, sizeof(struct epoll_event));
    if (pco_event_list == NULL) {
        close(pco_event_ep);
        pco_event_ep = -1;
        return PCO_ERROR;
    }
    pco_event_nlist = max_events;
    return PCO_OK;
}

void
pco_event_done(void)
{
    if (pco_event_ep != -1) {
        close(pco_event_ep);
        pco_event_ep = -1;
    }
    free(pco_event_list);
    pco_event_list = NULL;
    pco_event_nlist = 0;
    free(pco_event_heap);
    pco_event_heap = NULL;
    pco_event_heap_n = 0;
    pco_event_heap_cap = 0;
    pco_event_posted = NULL;
    pco_event_posted_tail = NULL;
    pco_event_posted_running = NULL;
}

static int
pco_event_ctl(pco_connection_t *c, int op, uint32_t events)
{
    struct epoll_event  ee;

    ee.events = events;
    ee.data.ptr = (void *) ((uintptr_t) c | pco_conn_instance(c));
    if (epoll_ctl(pco_event_ep, op, c->fd, &ee) == -1) {
        pco_log_error(PCO_LOG_ALERT, c->log != NULL ? c->log : pco_log, errno,
                      "epoll_ctl(%d, %d) failed", op, c->fd);
        return PCO_ERROR;
    }
    c->read.active = 1;
    c->write.active = 1;
    return PCO_OK;
}

int
pco_event_add_conn(pco_connection_t *c)
{
    if (c->read.active) {
        return PCO_OK;
    }
    return pco_event_ctl(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

int
pco_event_add_listen(pco_connection_t *c, bool exclusive)
{
    int  rc;

    if (c->read.active) {
        return PCO_OK;
    }
    rc = pco_event_ctl(c, EPOLL_CTL_ADD, EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0));
    c->write.active = 0;
    return rc;
}

int
pco_event_del(pco_connection_t *c)
{
    if (!c->read.active && !c->write.active) {
        return PCO_OK;
    }
    c->read.active = 0;
    c->write.active = 0;
    if (pco_event_ep == -1 || c->fd == -1) {
        return PCO_OK;
    }
    if (epoll_ctl(pco_event_ep, EPOLL_CTL_DEL, c->fd, NULL) == -1) {
        pco_log_error(PCO_LOG_ALERT, c->log != NULL ? c->log : pco_log, errno,
                      "epoll_ctl(DEL, %d) failed", c->fd);
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* ---- timers: a binary min-heap ---- */

static void
pco_event_heap_set(size_t i, pco_event_t *ev)
{
    pco_event_heap[i] = ev;
    ev->timer_index = (uint32_t) i;
}

static void
pco_event_heap_up(size_t i)
{
    pco_event_t  *ev;

    ev = pco_event_heap[i];
    while (i > 1 && pco_event_heap[i / 2]->timer_key > ev->timer_key) {
        pco_event_heap_set(i, pco_event_heap[i / 2]);
        i /= 2;
    }
    pco_event_heap_set(i, ev);
}

static void
pco_event_heap_down(size_t i)
{
    pco_event_t  *ev;
    size_t        child;

    ev = pco_event_heap[i];
    for ( ;; ) {
        child = 2 * i;
        if (child > pco_event_heap_n) {
            break;
        }
        if (child < pco_event_heap_n
            && pco_event_heap[child + 1]->timer_key < pco_event_heap[child]->timer_key)
        {
            child++;
        }
        if (pco_event_heap[child]->timer_key >= ev->timer_key) {
            break;
        }
        pco_event_heap_set(i, pco_event_heap[child]);
        i = child;
    }
    pco_event_heap_set(i, ev);
}

void
pco_event_del_timer(pco_event_t *ev)
{
    size_t        i;
    pco_event_t  *last;

    i = ev->timer_index;
    if (i == 0 || i > pco_event_heap_n || pco_event_heap[i] != ev) {
        ev->timer_index = 0;
        return;
    }
    ev->timer_index = 0;
    last = pco_event_heap[pco_event_heap_n--];
    if (last == ev) {
        return;
    }
    pco_event_heap_set(i, last);
    if (i > 1 && pco_event_heap[i / 2]->timer_key > last->timer_key) {
        pco_event_heap_up(i);
    } else {
        pco_event_heap_down(i);
    }
}

void
pco_event_add_timer(pco_event_t *ev, pco_msec_t after_ms)
{
    pco_event_t  **heap;
    size_t         cap;

    if (ev->timer_index != 0) {
        pco_event_del_timer(ev);
    }
    ev->timer_key = pco_current_msec + (after_ms > 0 ? after_ms : 0);
    if (pco_event_heap_n + 1 >= pco_event_heap_cap) {
        cap = pco_event_heap_cap == 0 ? 256 : 2 * pco_event_heap_cap;
        heap = realloc(pco_event_heap, cap * sizeof(pco_event_t *));
        if (heap == NULL) {
            /* cannot happen in practice; without a timer the event would hang, so fire it
             * at the end of this pass instead */
            pco_log_error(PCO_LOG_ALERT, pco_log, errno, "timer heap allocation failed");
            ev->timedout = 1;
            pco_event_post(ev);
            return;
        }
        pco_event_heap = heap;
        pco_event_heap_cap = cap;
    }
    pco_event_heap_n++;
    pco_event_heap_set(pco_event_heap_n, ev);
    pco_event_heap_up(pco_event_heap_n);
}

void
pco_event_wait_timer(pco_event_t *ev, pco_msec_t after_ms, bool moved)
{
    /* an I/O timeout counts from the last operation that moved bytes on that side: a
     * wake-up that moved nothing must not push the deadline back */
    if (moved || ev->timer_index == 0) {
        pco_event_add_timer(ev, after_ms);
    }
}

size_t
pco_event_timer_count(void)
{
    return pco_event_heap_n;
}

bool
pco_event_no_timers_left(void)
{
    size_t  i;

    for (i = 1; i <= pco_event_heap_n; i++) {
        if (!pco_event_heap[i]->cancelable) {
            return false;
        }
    }
    return true;
}

static void
pco_event_expire_timers(void)
{
    pco_event_t  *ev;

    while (pco_event_heap_n > 0 && pco_event_heap[1]->timer_key <= pco_current_msec) {
        ev = pco_event_heap[1];
        pco_event_del_timer(ev);
        ev->timedout = 1;
        if (ev->handler != NULL) {
            ev->handler(ev);
        }
    }
}

/* ---- posted events ---- */

void
pco_event_post(pco_event_t *ev)
{
    if (ev->posted) {
        return;
    }
    ev->posted = 1;
    ev->posted_next = NULL;
    if (pco_event_posted_tail != NULL) {
        pco_event_posted_tail->posted_next = ev;
    } else {
        pco_event_posted = ev;
    }
    pco_event_posted_tail = ev;
}

static bool
pco_event_unlink(pco_event_t **head, pco_event_t **tail, pco_event_t *ev)
{
    pco_event_t  **pp, *prev;

    prev = NULL;
    for (pp = head; *pp != NULL; pp = &(*pp)->posted_next) {
        if (*pp == ev) {
            *pp = ev->posted_next;
            if (tail != NULL && *tail == ev) {
                *tail = prev;
            }
            ev->posted_next = NULL;
            return true;
        }
        prev = *pp;
    }
    return false;
}

void
pco_event_unpost(pco_event_t *ev)
{
    if (!ev->posted) {
        return;
    }
    ev->posted = 0;
    if (!pco_event_unlink(&pco_event_posted, &pco_event_posted_tail, ev)) {
        pco_event_unlink(&pco_event_posted_running, NULL, ev);
    }
}

static void
pco_event_run_posted(void)
{
    pco_event_t  *ev;

    /* Run only what was posted before this point: events posted by these handlers run in
     * the next pass (which then does not wait), so a handler re-posting itself cannot spin
     * here forever. */
    pco_event_posted_running = pco_event_posted;
    pco_event_posted = NULL;
    pco_event_posted_tail = NULL;
    while (pco_event_posted_running != NULL) {
        ev = pco_event_posted_running;
        pco_event_posted_running = ev->posted_next;
        ev->posted_next = NULL;
        ev->posted = 0;
        if (ev->handler != NULL) {
            ev->handler(ev);
        }
    }
}

/* ---- the loop ---- */

static bool
pco_event_stale(pco_connection_t *c, unsigned instance)
{
    return c->fd == -1 || pco_conn_instance(c) != instance;
}

int
pco_event_process(pco_msec_t max_wait)
{
    int                 n, i, timeout;
    uint32_t            revents;
    unsigned            instance;
    pco_msec_t          wait;
    pco_connection_t   *c;

    wait = max_wait;
    if (pco_event_heap_n > 0) {
        wait = pco_event_heap[1]->timer_key - pco_current_msec;
        if (wait < 0) {
            wait = 0;
        }
        if (max_wait >= 0 && max_wait < wait) {
            wait = max_wait;
        }
    }
    if (pco_event_posted != NULL) {
        wait = 0;
    }
    timeout = wait < 0 ? -1 : (int) pco_min(wait, (pco_msec_t) 0x7fffffff);

    n = epoll_wait(pco_event_ep, pco_event_list, (int) pco_event_nlist, timeout);
    pco_time_update();
    if (n == -1) {
        if (errno == EINTR) {
            return PCO_OK;
        }
        pco_log_error(PCO_LOG_ALERT, pco_log, errno, "epoll_wait() failed");
        return PCO_ERROR;
    }

    for (i = 0; i < n; i++) {
        c = (pco_connection_t *) ((uintptr_t) pco_event_list[i].data.ptr & ~(uintptr_t) 1);
        instance = (unsigned) ((uintptr_t) pco_event_list[i].data.ptr & 1);
        if (pco_event_stale(c, instance)) {
            continue;
        }
        revents = pco_event_list[i].events;
        if (revents & (EPOLLERR | EPOLLHUP)) {
            /* let both handlers see it: their recv/send reports the error */
            revents |= EPOLLIN | EPOLLOUT;
            if (revents & EPOLLERR) {
                c->read.error = 1;
                c->write.error = 1;
            }
            if (revents & EPOLLHUP) {
                c->read.eof = 1;
            }
        }
        if (revents & EPOLLRDHUP) {
            c->read.eof = 1;
        }
        if ((revents & EPOLLIN) && c->read.active) {
            c->read.ready = 1;
            if (c->read.handler != NULL) {
                c->read.handler(&c->read);
            }
        }
        if (pco_event_stale(c, instance)) {
            continue;
        }
        if ((revents & EPOLLOUT) && c->write.active) {
            c->write.ready = 1;
            if (c->write.handler != NULL) {
                c->write.handler(&c->write);
            }
        }
    }

    pco_event_expire_timers();
    pco_event_run_posted();
    return PCO_OK;
}
