/*
 * pco_event.h: the worker's event loop (epoll) with timers and posted events.
 *
 * A connection's descriptor is registered once, edge-triggered, for EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP; readiness is remembered in ev->ready and handlers read or write until EAGAIN
 * (then clear ready). Listening sockets are level-triggered with EPOLLEXCLUSIVE unless they
 * are per-worker reuseport sockets. Timers are a min-heap keyed by deadline; a handler finds
 * ev->timedout set when it was woken by its timer.
 */
#ifndef PCO_EVENT_H
#define PCO_EVENT_H

#include "pco_core.h"
#include "pco_time.h"

typedef void (*pco_event_handler_pt)(pco_event_t *ev);

struct pco_event_s {
    void                  *data;          /* the connection (or any owner) */
    pco_event_handler_pt   handler;
    pco_msec_t             timer_key;     /* deadline while in the timer heap */
    uint32_t               timer_index;   /* 1-based heap slot; 0 = no timer */
    unsigned               write:1;       /* this is the write side */
    unsigned               ready:1;       /* epoll said ready and EAGAIN not yet seen */
    unsigned               active:1;      /* registered with epoll */
    unsigned               timedout:1;
    unsigned               eof:1;         /* peer closed (EPOLLRDHUP / read 0) */
    unsigned               error:1;       /* EPOLLERR */
    unsigned               posted:1;      /* queued in the posted list */
    unsigned               accept:1;      /* a listening socket's read event */
    unsigned               cancelable:1;  /* timer may be dropped at graceful shutdown */
    pco_event_t           *posted_next;
};

/* Creates the epoll instance for this process (after fork). */
int pco_event_init(unsigned max_events);
void pco_event_done(void);
/* Registers c->fd once for both directions (edge-triggered, EPOLLRDHUP). */
int pco_event_add_conn(pco_connection_t *c);
/* Registers a listening socket's connection (level-triggered; exclusive unless reuseport). */
int pco_event_add_listen(pco_connection_t *c, bool exclusive);
int pco_event_del(pco_connection_t *c);       /* before close(); safe if not added */
/* Waits at most until the nearest timer (or max_wait ms; -1 = no limit), updates the
 * clock, runs ready handlers, expired timers and posted events. */
int pco_event_process(pco_msec_t max_wait);

void pco_event_add_timer(pco_event_t *ev, pco_msec_t after_ms);
void pco_event_del_timer(pco_event_t *ev);
/* The side of ev is now waiting (EAGAIN): arms its timer for after_ms when this pass moved
 * bytes on that side (moved) or no timer runs; otherwise the running timer is kept, so an I/O
 * timeout always runs from the last successful operation, never from a fruitless wake-up. */
void pco_event_wait_timer(pco_event_t *ev, pco_msec_t after_ms, bool moved);
size_t pco_event_timer_count(void);
/* True when every remaining timer is cancelable (graceful shutdown may proceed). */
bool pco_event_no_timers_left(void);
/* Runs ev->handler at the end of the current pass (deduplicated). */
void pco_event_post(pco_event_t *ev);
void pco_event_unpost(pco_event_t *ev);

#endif
