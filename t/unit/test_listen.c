/*
 * test_listen.c: listen address parsing, listener de-duplication, binding (reuse of the old
 * generation's descriptor, PORTICO_LISTEN inheritance, bind errors, stale unix socket
 * files), and the worker side: accepting over loopback, pausing when the connection table
 * is full and resuming when a connection is freed; the connection-freed hooks, which live
 * in the cycle (run in order for the current generation only, registration errors named).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include "pco_listen.h"
#include "pco_cycle.h"
#include "pco_conn.h"
#include "pco_event.h"

static void
pco_test_parse(void **state)
{
    pco_sockaddr_t  sa;
    socklen_t       len;
    char            text[64];

    (void) state;
    assert_int_equal(pco_parse_addr("127.0.0.1:8080", &sa, &len, true), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(sa.sin.sin_port), 8080);
    assert_int_equal(ntohl(sa.sin.sin_addr.s_addr), 0x7f000001);

    assert_int_equal(pco_parse_addr("*:80", &sa, &len, true), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_INET);
    assert_int_equal(sa.sin.sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(ntohs(sa.sin.sin_port), 80);
    assert_int_equal(pco_parse_addr("*:80", &sa, &len, false), PCO_ERROR);

    assert_int_equal(pco_parse_addr("[::1]:443", &sa, &len, true), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(sa.sin6.sin6_port), 443);
    inet_ntop(AF_INET6, &sa.sin6.sin6_addr, text, sizeof(text));
    assert_string_equal(text, "::1");
    assert_int_equal(pco_parse_addr("[::]:80", &sa, &len, true), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_INET6);

    assert_int_equal(pco_parse_addr("unix:/run/app.sock", &sa, &len, true), PCO_OK);
    assert_int_equal(sa.sa.sa_family, AF_UNIX);
    assert_string_equal(sa.sun.sun_path, "/run/app.sock");
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/app.sock") + 1);

    assert_int_equal(pco_parse_addr("127.0.0.1", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("127.0.0.1:", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("127.0.0.1:0", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("127.0.0.1:65536", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("127.0.0.1:80x", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("127.0.0.1:-1", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("256.0.0.1:80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("localhost:80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("::1:80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("[::1]80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("[::1:80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("[1.2.3.4]:80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr(":80", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("unix:", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("unix:relative", &sa, &len, true), PCO_ERROR);
    assert_int_equal(pco_parse_addr("", &sa, &len, true), PCO_ERROR);
}

static void
pco_test_cycle_init(pco_cycle_t *cycle)
{
    memset(cycle, 0, sizeof(pco_cycle_t));
    cycle->pool = pco_pool_create(4096, 0);
    cycle->workers = 2;
}

static pco_listening_t *
pco_test_add(pco_cycle_t *cycle, const char *text)
{
    pco_sockaddr_t  sa;
    socklen_t       len;

    assert_int_equal(pco_parse_addr(text, &sa, &len, true), PCO_OK);
    return pco_listen_add(cycle, &sa, len, text);
}

static in_port_t
pco_test_port(int fd)
{
    pco_sockaddr_t  sa;
    socklen_t       len = sizeof(sa);

    assert_int_equal(getsockname(fd, &sa.sa, &len), 0);
    return pco_sockaddr_port(&sa);
}

static void
pco_test_add_dedup(void **state)
{
    pco_cycle_t       c;
    pco_listening_t  *a, *b;

    (void) state;
    pco_test_cycle_init(&c);
    a = pco_test_add(&c, "127.0.0.1:8080");
    assert_non_null(a);
    assert_int_equal(a->fd, -1);
    assert_int_equal(a->backlog, 511);
    assert_true(a->ipv6only);
    assert_int_equal(a->addr_text.len, 14);
    b = pco_test_add(&c, "127.0.0.1:8081");
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(pco_test_add(&c, "127.0.0.1:8080"), a);
    assert_ptr_equal(c.listening, a);
    assert_ptr_equal(a->next, b);
    assert_null(b->next);
    pco_pool_destroy(c.pool);
}

static void
pco_test_open(void **state)
{
    pco_cycle_t       c0, c1, c2, c3;
    pco_listening_t  *ls, *ls2;
    int               inh, port, tmp, one = 1;
    char              env[32], text[64];
    struct sockaddr_in sin;

    (void) state;
    /* a descriptor inherited through the environment (binary upgrade) */
    inh = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(inh, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(inh, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(inh, 16), 0);
    port = pco_test_port(inh);
    snprintf(env, sizeof(env), "%d;", inh);
    setenv("PORTICO_LISTEN", env, 1);
    pco_test_cycle_init(&c0);
    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    ls = pco_test_add(&c0, text);
    assert_int_equal(pco_listen_open(&c0, NULL), PCO_OK);
    assert_int_equal(ls->fd, inh);
    assert_true(ls->inherited);
    assert_null(getenv("PORTICO_LISTEN"));
    assert_string_equal(pco_listen_env(&c0), env);

    /* same address without the old cycle: the port is taken */
    pco_test_cycle_init(&c1);
    ls = pco_test_add(&c1, text);
    assert_int_equal(pco_listen_open(&c1, NULL), PCO_ERROR);
    assert_int_equal(ls->fd, -1);

    /* with the old cycle the descriptor is taken over */
    assert_int_equal(pco_listen_open(&c1, &c0), PCO_OK);
    assert_int_equal(ls->fd, inh);
    pco_listen_close_unused(&c1, &c0);
    assert_int_not_equal(fcntl(inh, F_GETFD), -1);    /* still open */

    /* a new unix listener (over a stale socket file) next to a taken-over one */
    pco_test_cycle_init(&c2);
    ls = pco_test_add(&c2, text);
    ls2 = pco_test_add(&c2, "unix:/tmp/pco_test_listen.sock");
    assert_non_null(ls2);
    {
        /* leave a stale socket file behind */
        int                 u = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un  sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, "/tmp/pco_test_listen.sock");
        unlink(sun.sun_path);
        assert_int_equal(bind(u, (struct sockaddr *) &sun, sizeof(sun)), 0);
        close(u);
        assert_int_equal(access(sun.sun_path, F_OK), 0);
    }
    assert_int_equal(pco_listen_open(&c2, &c1), PCO_OK);
    assert_int_equal(ls->fd, inh);            /* taken over from c1 */
    assert_true(ls2->fd >= 0);
    assert_true(fcntl(ls2->fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(ls2->fd, F_GETFL) & O_NONBLOCK);
    pco_listen_close_unused(&c2, &c1);

    /* a reuseport listener gets one socket per worker; a helper socket with SO_REUSEPORT
     * holds a free port for it */
    pco_test_cycle_init(&c3);
    tmp = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(tmp, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    sin.sin_port = 0;
    assert_int_equal(bind(tmp, (struct sockaddr *) &sin, sizeof(sin)), 0);
    snprintf(text, sizeof(text), "127.0.0.1:%d", pco_test_port(tmp));
    ls = pco_test_add(&c3, text);
    ls->reuseport = true;
    assert_int_equal(pco_listen_open(&c3, NULL), PCO_OK);
    close(tmp);
    assert_int_equal(ls->fd, -1);
    assert_int_equal(ls->nreuse, 2);
    assert_true(ls->reuse_fds[0] >= 0);
    assert_true(ls->reuse_fds[1] >= 0);
    assert_int_not_equal(ls->reuse_fds[0], ls->reuse_fds[1]);
    assert_int_equal(pco_test_port(ls->reuse_fds[0]), pco_test_port(ls->reuse_fds[1]));
    assert_true(fcntl(ls->reuse_fds[0], F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(ls->reuse_fds[1], F_GETFL) & O_NONBLOCK);
    pco_listen_close_unused(NULL, &c3);
    assert_int_equal(ls->reuse_fds[0], -1);

    pco_listen_close_unused(NULL, &c2);
    unlink("/tmp/pco_test_listen.sock");
    pco_pool_destroy(c0.pool);
    pco_pool_destroy(c1.pool);
    pco_pool_destroy(c2.pool);
    pco_pool_destroy(c3.pool);
}

static pco_connection_t  *pco_test_accepted[4];
static int                pco_test_naccepted;

static void
pco_test_handler(pco_connection_t *c)
{
    pco_test_accepted[pco_test_naccepted++] = c;
}

static void
pco_test_accept(void **state)
{
    pco_cycle_t       cycle;
    pco_listening_t  *ls;
    int               cl[3], i, guard;
    struct sockaddr_in sin;
    socklen_t         len;
    u_char            text[64];

    (void) state;
    pco_time_init();
    assert_int_equal(pco_event_init(16), PCO_OK);
    assert_int_equal(pco_conn_pool_init(2), PCO_OK);   /* the listener + one client */
    pco_test_cycle_init(&cycle);
    cycle.workers = 1;
    /* the core module registers this hook at conf_done (pco_core_conf_done) */
    assert_int_equal(pco_array_init(&cycle.conn_freed, cycle.pool, 2,
                                    sizeof(pco_conn_freed_pt)), PCO_OK);
    *(pco_conn_freed_pt *) pco_array_push(&cycle.conn_freed) = pco_listen_conn_freed;
    pco_cycle = &cycle;
    /* bind to an ephemeral port, then learn it */
    ls = pco_test_add(&cycle, "127.0.0.1:1");
    ls->sockaddr.sin.sin_port = 0;
    ls->handler = pco_test_handler;
    assert_int_equal(pco_listen_open(&cycle, NULL), PCO_OK);
    assert_int_equal(pco_listen_worker_start(&cycle, 0), PCO_OK);
    assert_non_null(ls->connection);
    assert_true(ls->connection->listening_conn);
    assert_true(ls->connection->read.accept);

    len = sizeof(sin);
    getsockname(ls->fd, (struct sockaddr *) &sin, &len);
    for (i = 0; i < 2; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(cl[i], (struct sockaddr *) &sin, sizeof(sin)), 0);
    }
    pco_test_naccepted = 0;
    for (guard = 0; pco_test_naccepted < 1 && guard < 100; guard++) {
        assert_int_equal(pco_event_process(1000), PCO_OK);
    }
    assert_int_equal(pco_test_naccepted, 1);
    /* plain: TCP_NODELAY waits for a second write (pco_conn_nodelay) */
    assert_false(pco_test_accepted[0]->tcp_nodelay);
    assert_ptr_equal(pco_test_accepted[0]->listening, ls);
    assert_int_equal(pco_sockaddr_ntop(&pco_test_accepted[0]->sockaddr,
                                       pco_test_accepted[0]->socklen, text, sizeof(text),
                                       false), 9);
    assert_memory_equal(text, "127.0.0.1", 9);
    /* the table is full: the second client waits in the kernel queue */
    assert_true(ls->paused);
    assert_int_equal(pco_event_process(0), PCO_OK);
    assert_int_equal(pco_test_naccepted, 1);

    /* freeing a connection resumes accepting; a TLS listener sets TCP_NODELAY at once */
    ls->tls = true;
    pco_conn_close(pco_test_accepted[0]);
    assert_false(ls->paused);
    for (guard = 0; pco_test_naccepted < 2 && guard < 100; guard++) {
        assert_int_equal(pco_event_process(1000), PCO_OK);
    }
    assert_int_equal(pco_test_naccepted, 2);
    assert_true(pco_test_accepted[1]->tcp_nodelay);
    ls->tls = false;
    pco_conn_close(pco_test_accepted[1]);

    /* EMFILE-style pause: a timer resumes */
    pco_listen_pause(&cycle, 1);
    assert_true(ls->paused);
    cl[2] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cl[2], (struct sockaddr *) &sin, sizeof(sin)), 0);
    for (guard = 0; pco_test_naccepted < 3 && guard < 100; guard++) {
        assert_int_equal(pco_event_process(1000), PCO_OK);
    }
    assert_int_equal(pco_test_naccepted, 3);
    assert_true(ls->paused);             /* full again */
    pco_conn_close(pco_test_accepted[2]);
    assert_false(ls->paused);

    pco_listen_worker_stop(&cycle);
    assert_null(ls->connection);
    assert_int_equal(pco_conn_used(), 0);
    for (i = 0; i < 3; i++) {
        close(cl[i]);
    }
    pco_event_done();
    pco_cycle = NULL;
    pco_pool_destroy(cycle.pool);
}

static int  pco_test_freed_log[8];
static int  pco_test_nfreed;

static void
pco_test_freed_a(pco_cycle_t *cycle)
{
    (void) cycle;
    pco_test_freed_log[pco_test_nfreed++ & 7] = 1;
}

static void
pco_test_freed_b(pco_cycle_t *cycle)
{
    (void) cycle;
    pco_test_freed_log[pco_test_nfreed++ & 7] = 2;
}

/* Hooks are registrations of one cycle: any number, run in order; only the current
 * generation's run, so a cycle that was built and thrown away (a rejected reload) changes
 * nothing; a missing function is reported once, naming the module. */
static void
pco_test_freed_hooks(void **state)
{
    static pco_module_t  mod = { .name = "echo" };
    pco_cycle_t          cur, rejected;
    pco_conf_t           cf;
    pco_connection_t    *c;
    char                 out[512];
    FILE                *err;

    (void) state;
    assert_int_equal(pco_conn_pool_init(4), PCO_OK);
    pco_test_cycle_init(&cur);
    pco_test_cycle_init(&rejected);
    assert_int_equal(pco_array_init(&cur.conn_freed, cur.pool, 1, sizeof(pco_conn_freed_pt)),
                     PCO_OK);
    assert_int_equal(pco_array_init(&rejected.conn_freed, rejected.pool, 1,
                                    sizeof(pco_conn_freed_pt)), PCO_OK);
    memset(&cf, 0, sizeof(cf));
    memset(out, 0, sizeof(out));
    err = fmemopen(out, sizeof(out) - 1, "w");
    assert_non_null(err);
    setvbuf(err, NULL, _IONBF, 0);
    cf.err = err;
    cf.file = "t.conf";
    cf.module = &mod;

    assert_int_equal(pco_conn_freed_add(&cf, &cur, &mod, pco_test_freed_a), PCO_OK);
    assert_int_equal(pco_conn_freed_add(&cf, &cur, NULL, pco_test_freed_b), PCO_OK);
    assert_int_equal(pco_conn_freed_add(&cf, &rejected, &mod, pco_test_freed_b), PCO_OK);
    assert_int_equal(cf.errors, 0);
    pco_cycle = &cur;
    pco_test_nfreed = 0;
    c = pco_conn_get(-1);
    assert_non_null(c);
    pco_conn_close(c);
    assert_int_equal(pco_test_nfreed, 2);
    assert_int_equal(pco_test_freed_log[0], 1);
    assert_int_equal(pco_test_freed_log[1], 2);

    assert_int_equal(pco_conn_freed_add(&cf, &cur, NULL, NULL), PCO_ERROR);
    assert_int_equal(cf.errors, 1);
    assert_string_equal(out, "t.conf:0: module \"echo\": cannot register a connection-freed "
                        "hook: no function given\n");
    assert_int_equal(cur.conn_freed.nelts, 2);

    pco_cycle = NULL;          /* no generation (the master before its first load) */
    pco_test_nfreed = 0;
    pco_conn_close(pco_conn_get(-1));
    assert_int_equal(pco_test_nfreed, 0);
    fclose(err);
    pco_pool_destroy(cur.pool);
    pco_pool_destroy(rejected.pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_parse),
        cmocka_unit_test(pco_test_add_dedup),
        cmocka_unit_test(pco_test_open),
        cmocka_unit_test(pco_test_accept),
        cmocka_unit_test(pco_test_freed_hooks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
