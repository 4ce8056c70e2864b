/*
 * test_event.c: the event loop: timer ordering, removal and re-arming through the heap, the
 * I/O wait timer (kept by a wake-up that moved nothing),
 * posted events (dedup, unpost, re-post in a handler), edge-triggered readiness over a
 * socketpair, the stale-event guard when a handler closes another connection of the same
 * batch, and the connection table (free list, numbers, idle list).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>
#include <fcntl.h>
#include "pco_event.h"
#include "pco_conn.h"
#include "pco_pool.h"
#include <arpa/inet.h>

static int  pco_test_fired[256];
static int  pco_test_nfired;

static void
pco_test_record(pco_event_t *ev)
{
    assert_true(ev->timedout || ev->posted == 0);
    pco_test_fired[pco_test_nfired++] = (int) (intptr_t) ev->data;
}

static int
pco_test_setup(void **state)
{
    (void) state;
    pco_time_init();
    pco_test_nfired = 0;
    assert_int_equal(pco_event_init(64), PCO_OK);
    assert_int_equal(pco_conn_pool_init(8), PCO_OK);
    return 0;
}

static int
pco_test_teardown(void **state)
{
    (void) state;
    pco_event_done();
    return 0;
}

static void
pco_test_timers_order(void **state)
{
    pco_event_t  ev[5];
    int          afters[5] = { 30, 10, 20, 0, 10 };
    int          i, guard;

    (void) state;
    memset(ev, 0, sizeof(ev));
    for (i = 0; i < 5; i++) {
        ev[i].data = (void *) (intptr_t) i;
        ev[i].handler = pco_test_record;
        pco_event_add_timer(&ev[i], afters[i]);
        assert_int_not_equal(ev[i].timer_index, 0);
    }
    assert_int_equal(pco_event_timer_count(), 5);
    for (guard = 0; pco_event_timer_count() > 0 && guard < 1000; guard++) {
        assert_int_equal(pco_event_process(-1), PCO_OK);
    }
    assert_int_equal(pco_test_nfired, 5);
    assert_int_equal(pco_test_fired[0], 3);
    /* 1 and 4 share a deadline unless the clock moved between the two adds */
    assert_true((pco_test_fired[1] == 1 && pco_test_fired[2] == 4)
                || (pco_test_fired[1] == 4 && pco_test_fired[2] == 1));
    assert_int_equal(pco_test_fired[3], 2);
    assert_int_equal(pco_test_fired[4], 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(ev[i].timer_index, 0);
        assert_true(ev[i].timedout);
    }
}

static void
pco_test_timers_remove(void **state)
{
    static pco_event_t  ev[100];
    pco_msec_t          last;
    int                 i, guard;
    unsigned            seed = 12345;

    (void) state;
    memset(ev, 0, sizeof(ev));
    for (i = 0; i < 100; i++) {
        seed = seed * 1103515245 + 12345;
        ev[i].data = (void *) (intptr_t) i;
        ev[i].handler = pco_test_record;
        pco_event_add_timer(&ev[i], (pco_msec_t) ((seed >> 16) % 20));
    }
    for (i = 0; i < 100; i += 2) {
        pco_event_del_timer(&ev[i]);
        assert_int_equal(ev[i].timer_index, 0);
    }
    pco_event_del_timer(&ev[0]);        /* deleting twice is harmless */
    assert_int_equal(pco_event_timer_count(), 50);
    /* re-arming moves a timer: 1 now goes last */
    pco_event_add_timer(&ev[1], 40);
    assert_int_equal(pco_event_timer_count(), 50);

    for (guard = 0; pco_event_timer_count() > 0 && guard < 1000; guard++) {
        assert_int_equal(pco_event_process(-1), PCO_OK);
    }
    assert_int_equal(pco_test_nfired, 50);
    last = 0;
    for (i = 0; i < 50; i++) {
        assert_int_equal(pco_test_fired[i] % 2, 1);
        assert_true(ev[pco_test_fired[i]].timer_key >= last);
        last = ev[pco_test_fired[i]].timer_key;
    }
    assert_int_equal(pco_test_fired[49], 1);
}

static void
pco_test_timers_cancelable(void **state)
{
    pco_event_t  a, b;

    (void) state;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.handler = pco_test_record;
    b.handler = pco_test_record;
    assert_true(pco_event_no_timers_left());
    a.cancelable = 1;
    pco_event_add_timer(&a, 100000);
    assert_true(pco_event_no_timers_left());
    pco_event_add_timer(&b, 100000);
    assert_false(pco_event_no_timers_left());
    pco_event_del_timer(&b);
    assert_true(pco_event_no_timers_left());
    pco_event_del_timer(&a);
    assert_int_equal(pco_event_timer_count(), 0);
}

/* pco_event_wait_timer: an I/O timeout runs from the last pass that moved bytes. */
static void
pco_test_wait_timer(void **state)
{
    pco_event_t  a;
    pco_msec_t   now = pco_current_msec;

    (void) state;
    memset(&a, 0, sizeof(a));
    a.handler = pco_test_record;
    /* no timer yet: the wait arms one, moved or not */
    pco_event_wait_timer(&a, 1000, false);
    assert_int_not_equal(a.timer_index, 0);
    assert_true(a.timer_key == now + 1000);
    /* later, a wake-up that moved nothing keeps the deadline */
    pco_current_msec = now + 600;
    pco_event_wait_timer(&a, 1000, false);
    assert_true(a.timer_key == now + 1000);
    assert_int_equal(pco_event_timer_count(), 1);
    /* a pass that moved bytes starts the wait again */
    pco_event_wait_timer(&a, 1000, true);
    assert_true(a.timer_key == now + 1600);
    assert_int_equal(pco_event_timer_count(), 1);
    pco_event_del_timer(&a);
    /* deleted (the side stopped waiting): the next wait arms from now */
    pco_current_msec = now + 5000;
    pco_event_wait_timer(&a, 1000, false);
    assert_true(a.timer_key == now + 6000);
    pco_event_del_timer(&a);
    pco_current_msec = now;
    assert_int_equal(pco_event_timer_count(), 0);
}

static pco_event_t  pco_test_self;
static int          pco_test_self_runs;

static void
pco_test_repost(pco_event_t *ev)
{
    pco_test_self_runs++;
    if (pco_test_self_runs < 3) {
        pco_event_post(ev);
    }
}

static void
pco_test_posted(void **state)
{
    pco_event_t  a, b, c;

    (void) state;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    a.data = (void *) 1;
    b.data = (void *) 2;
    c.data = (void *) 3;
    a.handler = b.handler = c.handler = pco_test_record;
    pco_event_post(&a);
    pco_event_post(&b);
    pco_event_post(&a);
    pco_event_post(&c);
    assert_true(b.posted);
    pco_event_unpost(&b);
    assert_false(b.posted);
    pco_event_unpost(&b);
    assert_int_equal(pco_event_process(1000), PCO_OK);   /* posted: does not wait */
    assert_int_equal(pco_test_nfired, 2);
    assert_int_equal(pco_test_fired[0], 1);
    assert_int_equal(pco_test_fired[1], 3);
    assert_false(a.posted);
    assert_false(c.posted);

    /* a handler re-posting itself runs once per pass */
    memset(&pco_test_self, 0, sizeof(pco_test_self));
    pco_test_self.handler = pco_test_repost;
    pco_test_self_runs = 0;
    pco_event_post(&pco_test_self);
    assert_int_equal(pco_event_process(0), PCO_OK);
    assert_int_equal(pco_test_self_runs, 1);
    assert_int_equal(pco_event_process(0), PCO_OK);
    assert_int_equal(pco_test_self_runs, 2);
    assert_int_equal(pco_event_process(0), PCO_OK);
    assert_int_equal(pco_test_self_runs, 3);
    assert_int_equal(pco_event_process(0), PCO_OK);
    assert_int_equal(pco_test_self_runs, 3);
}

static int  pco_test_reads, pco_test_writes;

static void
pco_test_on_read(pco_event_t *ev)
{
    assert_true(ev->ready);
    assert_false(ev->write);
    pco_test_reads++;
}

static void
pco_test_on_write(pco_event_t *ev)
{
    assert_true(ev->ready);
    assert_true(ev->write);
    pco_test_writes++;
}

static void
pco_test_socketpair(void **state)
{
    int                sv[2];
    pco_connection_t  *c;
    u_char             buf[64];

    (void) state;
    pco_test_reads = pco_test_writes = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    c = pco_conn_get(sv[0]);
    assert_non_null(c);
    assert_ptr_equal(c->read.data, c);
    assert_ptr_equal(c->write.data, c);
    assert_true(c->write.write);
    assert_ptr_equal(c->io, &pco_conn_plain_io);
    c->read.handler = pco_test_on_read;
    c->write.handler = pco_test_on_write;
    assert_int_equal(pco_event_add_conn(c), PCO_OK);
    assert_true(c->read.active);

    /* writable at once, nothing to read */
    assert_int_equal(pco_event_process(1000), PCO_OK);
    assert_int_equal(pco_test_writes, 1);
    assert_int_equal(pco_test_reads, 0);

    assert_int_equal(write(sv[1], "hello", 5), 5);
    assert_int_equal(pco_event_process(1000), PCO_OK);
    assert_int_equal(pco_test_reads, 1);
    assert_true(c->read.ready);
    assert_int_equal(c->io->recv(c, buf, 3), 3);
    assert_memory_equal(buf, "hel", 3);
    assert_int_equal(c->io->recv(c, buf, sizeof(buf)), 2);
    assert_int_equal(c->io->recv(c, buf, sizeof(buf)), PCO_AGAIN);
    assert_false(c->read.ready);

    /* edge-triggered: no new data, no new read event */
    assert_int_equal(pco_event_process(0), PCO_OK);
    assert_int_equal(pco_test_reads, 1);

    assert_int_equal(c->io->send(c, (const u_char *) "pong", 4), 4);
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 4);

    /* the peer closes: read event with eof, recv gives 0 */
    close(sv[1]);
    assert_int_equal(pco_event_process(1000), PCO_OK);
    assert_int_equal(pco_test_reads, 2);
    assert_true(c->read.eof);
    assert_int_equal(c->io->recv(c, buf, sizeof(buf)), 0);

    assert_int_equal(pco_conn_used(), 1);
    pco_conn_close(c);
    assert_int_equal(pco_conn_used(), 0);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);   /* the fd was closed */
}

static pco_connection_t  *pco_test_pair[2];
static int                pco_test_stale_calls;

static void
pco_test_close_other(pco_event_t *ev)
{
    pco_connection_t  *c = ev->data, *other, *n;
    int                sv[2];

    pco_test_stale_calls++;
    other = pco_test_pair[0] == c ? pco_test_pair[1] : pco_test_pair[0];
    pco_conn_close(other);
    /* and reuse the struct at once, as an accept would */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    n = pco_conn_get(sv[0]);
    assert_non_null(n);
    n->read.handler = pco_test_close_other;
    n->write.handler = pco_test_close_other;
    assert_int_equal(pco_event_add_conn(n), PCO_OK);
    close(sv[1]);
    pco_test_pair[0] = c;
    pco_test_pair[1] = n;
}

static void
pco_test_stale(void **state)
{
    int  a[2], b[2];

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    pco_test_pair[0] = pco_conn_get(a[0]);
    pco_test_pair[1] = pco_conn_get(b[0]);
    pco_test_pair[0]->write.handler = pco_test_close_other;
    pco_test_pair[1]->write.handler = pco_test_close_other;
    pco_test_pair[0]->read.handler = pco_test_close_other;
    pco_test_pair[1]->read.handler = pco_test_close_other;
    assert_int_equal(pco_event_add_conn(pco_test_pair[0]), PCO_OK);
    assert_int_equal(pco_event_add_conn(pco_test_pair[1]), PCO_OK);
    pco_test_stale_calls = 0;
    /* both are writable in the same batch; the first handler closes the other one */
    assert_int_equal(pco_event_process(1000), PCO_OK);
    assert_int_equal(pco_test_stale_calls, 1);
    pco_conn_close(pco_test_pair[0]);
    pco_conn_close(pco_test_pair[1]);
    close(a[1]);
    close(b[1]);
    assert_int_equal(pco_conn_used(), 0);
}

static int pco_test_close_calls;

/* an idle connection's owner: closes it its own way when asked (c->close) */
static void
pco_test_close_handler(pco_event_t *ev)
{
    pco_connection_t *c = ev->data;

    pco_test_close_calls++;
    if (c->close) {
        pco_conn_close(c);
    }
}

/* an owner that ignores c->close: pco_conn_close_idle must still close the connection */
static void
pco_test_ignore_handler(pco_event_t *ev)
{
    (void) ev;
    pco_test_close_calls++;
}

static void
pco_test_conn_table(void **state)
{
    pco_connection_t  *c[9];
    int                i, sv[2];
    uint64_t           prev;

    (void) state;
    prev = 0;
    for (i = 0; i < 8; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        close(sv[1]);
        c[i] = pco_conn_get(sv[0]);
        assert_non_null(c[i]);
        assert_true(c[i]->number > prev);
        prev = c[i]->number;
    }
    assert_int_equal(pco_conn_free_count(), 0);
    assert_int_equal(pco_conn_used(), 8);
    c[8] = pco_conn_get(99999);
    assert_null(c[8]);

    pco_conn_set_idle(c[1], true);
    pco_conn_set_idle(c[3], true);
    pco_conn_set_idle(c[5], true);
    pco_conn_set_idle(c[5], false);
    c[3]->pool = pco_pool_create(1024, 0);
    assert_non_null(pco_palloc(c[3]->pool, 10));
    c[1]->read.handler = pco_test_close_handler;
    c[3]->read.handler = pco_test_ignore_handler;
    pco_test_close_calls = 0;
    assert_int_equal(pco_conn_close_idle(), 2);
    assert_int_equal(pco_test_close_calls, 2);
    assert_true(c[1]->destroyed && c[3]->destroyed);
    assert_int_equal(pco_conn_free_count(), 2);
    assert_null(c[3]->pool);
    pco_conn_close(c[1]);                 /* already closed: ignored */
    assert_int_equal(pco_conn_free_count(), 2);
    for (i = 0; i < 8; i++) {
        if (i != 1 && i != 3) {
            pco_conn_close(c[i]);
        }
    }
    assert_int_equal(pco_conn_free_count(), 8);
}

static void
pco_test_ntop(void **state)
{
    pco_sockaddr_t  sa;
    u_char          buf[128];
    size_t          n;

    (void) state;
    memset(&sa, 0, sizeof(sa));
    sa.sin.sin_family = AF_INET;
    sa.sin.sin_port = htons(8080);
    sa.sin.sin_addr.s_addr = htonl(0x01020304);
    n = pco_sockaddr_ntop(&sa, sizeof(sa.sin), buf, sizeof(buf), false);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "1.2.3.4", 7);
    n = pco_sockaddr_ntop(&sa, sizeof(sa.sin), buf, sizeof(buf), true);
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "1.2.3.4:8080", 12);
    assert_int_equal(pco_sockaddr_port(&sa), 8080);

    memset(&sa, 0, sizeof(sa));
    sa.sin6.sin6_family = AF_INET6;
    sa.sin6.sin6_port = htons(443);
    sa.sin6.sin6_addr.s6_addr[15] = 1;
    n = pco_sockaddr_ntop(&sa, sizeof(sa.sin6), buf, sizeof(buf), false);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "::1", 3);
    n = pco_sockaddr_ntop(&sa, sizeof(sa.sin6), buf, sizeof(buf), true);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "[::1]:443", 9);

    memset(&sa, 0, sizeof(sa));
    sa.sun.sun_family = AF_UNIX;
    n = pco_sockaddr_ntop(&sa, sizeof(sa_family_t), buf, sizeof(buf), true);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "unix:", 5);
    assert_int_equal(pco_sockaddr_port(&sa), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pco_test_timers_order, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_timers_remove, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_timers_cancelable, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_wait_timer, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_posted, pco_test_setup, pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_socketpair, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_stale, pco_test_setup, pco_test_teardown),
        cmocka_unit_test_setup_teardown(pco_test_conn_table, pco_test_setup,
                                        pco_test_teardown),
        cmocka_unit_test(pco_test_ntop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
