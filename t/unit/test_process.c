/*
 * test_process.c: the pure parts of the process code: the respawn throttle, the master
 * title, the table of child kinds (respawn positions, log ids, names), the command-line
 * parser (pco_main.c is included with PCO_UNIT_TEST, which leaves out main()), the
 * module registry and the process facts' pure helpers (pco_procstat.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#define PCO_UNIT_TEST 1
#include "../../core/pco_main.c"
#include "pco_process_int.h"
#include "pco_procstat.h"

static void
pco_test_procstat(void **state)
{
    char  kind[PCO_PROCSTAT_KIND_LEN];

    (void) state;
    assert_int_equal(pco_procstat_statm_rss("2788 1354 1020 233 0 402 0\n"), 1354);
    assert_int_equal(pco_procstat_statm_rss("2788 0 1020"), 0);
    assert_int_equal(pco_procstat_statm_rss(""), -1);
    assert_int_equal(pco_procstat_statm_rss("2788"), -1);
    assert_int_equal(pco_procstat_statm_rss("x 12"), -1);
    pco_procstat_kind(kind, sizeof(kind), "health checker");
    assert_string_equal(kind, "health_checker");
    pco_procstat_kind(kind, sizeof(kind), "worker");
    assert_string_equal(kind, "worker");
}

static void
pco_test_throttle_burst(void **state)
{
    pco_respawn_t  r;
    int            i;

    (void) state;
    memset(&r, 0, sizeof(r));

    /* five respawns in a row are free */
    for (i = 0; i < PCO_RESPAWN_BURST; i++) {
        assert_int_equal(pco_respawn_throttle(&r, 1000 + i), 0);
    }
    /* the sixth within 10 s waits a second */
    assert_int_equal(pco_respawn_throttle(&r, 1005), PCO_RESPAWN_DELAY);
    /* and so does the next one: the window still holds five recent respawns */
    assert_int_equal(pco_respawn_throttle(&r, 2005), PCO_RESPAWN_DELAY);
}

static void
pco_test_throttle_window(void **state)
{
    pco_respawn_t  r;
    int            i;

    (void) state;
    memset(&r, 0, sizeof(r));

    for (i = 0; i < PCO_RESPAWN_BURST; i++) {
        assert_int_equal(pco_respawn_throttle(&r, 0), 0);
    }
    /* the oldest respawn is exactly 10 s old: outside the window */
    assert_int_equal(pco_respawn_throttle(&r, PCO_RESPAWN_WINDOW), 0);
    /* the next oldest is still at 0: 10 s - 1 ms later is inside */
    assert_int_equal(pco_respawn_throttle(&r, PCO_RESPAWN_WINDOW - 1), PCO_RESPAWN_DELAY);
    /* a quiet period resets everything */
    for (i = 0; i < PCO_RESPAWN_BURST; i++) {
        assert_int_equal(pco_respawn_throttle(&r, 100000 + i * 3000), 0);
    }
}

static void
pco_test_throttle_spaced(void **state)
{
    pco_respawn_t  r;
    int            i;

    (void) state;
    memset(&r, 0, sizeof(r));

    /* one crash every 2.5 s never waits: at most four fall in any 10 s */
    for (i = 0; i < 50; i++) {
        assert_int_equal(pco_respawn_throttle(&r, (pco_msec_t) i * 2500), 0);
    }
}

static void
pco_test_master_title(void **state)
{
    char        buf[64], small[24];
    char *const argv[] = { "/usr/sbin/portico", "-c", "/etc/portico.conf", NULL };

    (void) state;

    assert_int_equal(pco_master_title(buf, sizeof(buf), 3, argv),
                     strlen("portico: master process /usr/sbin/portico -c /etc/portico.conf"));
    assert_string_equal(buf, "portico: master process /usr/sbin/portico -c /etc/portico.conf");

    assert_int_equal(pco_master_title(small, sizeof(small), 3, argv), sizeof(small) - 1);
    assert_string_equal(small, "portico: master process");

    assert_int_equal(pco_master_title(buf, 30, 3, argv), 29);
    assert_string_equal(buf, "portico: master process /usr/");
}

/* Every kind of child owns its own range of respawn positions, inside the tables. */
static void
pco_test_child_kinds(void **state)
{
    const pco_child_kind_t  *k;
    bool                     owned[PCO_RESPAWN_POSITIONS];
    unsigned                 i, index;
    int                      kind, got;

    (void) state;
    memset(owned, 0, sizeof(owned));

    for (kind = PCO_CHILD_KIND_FIRST; kind < PCO_CHILD_KIND_END; kind++) {
        k = &pco_child_kinds[kind];
        assert_non_null(k->count);
        assert_non_null(k->name);
        assert_non_null(k->title);
        assert_non_null(k->main);
        assert_true(k->max > 0);
        assert_true(k->first + k->max <= PCO_RESPAWN_POSITIONS);
        for (i = 0; i < k->max; i++) {
            assert_false(owned[k->first + i]);
            owned[k->first + i] = true;
            assert_int_equal(pco_respawn_pos_kind(k->first + i, &got, &index), PCO_OK);
            assert_int_equal(got, kind);
            assert_int_equal(index, i);
        }
    }

    assert_int_equal(pco_child_kinds[PCO_PROCESS_WORKER].first, 0);
    assert_int_equal(pco_child_kinds[PCO_PROCESS_WORKER].max, PCO_MAX_WORKERS);
    assert_int_equal(pco_respawn_pos_kind(PCO_MAX_WORKERS - 1, &got, &index), PCO_OK);
    assert_int_equal(got, PCO_PROCESS_WORKER);
    assert_int_equal(index, PCO_MAX_WORKERS - 1);
    assert_int_equal(pco_respawn_pos_kind(PCO_MAX_WORKERS, &got, &index), PCO_OK);
    assert_int_equal(got, PCO_PROCESS_HELPER);
    assert_int_equal(index, 0);
    assert_int_equal(pco_respawn_pos_kind(PCO_RESPAWN_POSITIONS - 1, &got, &index), PCO_OK);
    assert_int_equal(got, PCO_PROCESS_HELPER);
    assert_int_equal(index, PCO_HELPERS_MAX - 1);
    assert_int_equal(pco_respawn_pos_kind(PCO_RESPAWN_POSITIONS, &got, &index), PCO_ERROR);
}

/* Counts, names, titles and error-log ids of the children of a generation. */
static void
pco_test_child_names(void **state)
{
    pco_cycle_t              cycle;
    pco_helper_t             helpers[PCO_HELPERS_MAX + 8];
    const pco_child_kind_t  *w = &pco_child_kinds[PCO_PROCESS_WORKER];
    const pco_child_kind_t  *h = &pco_child_kinds[PCO_PROCESS_HELPER];

    (void) state;
    memset(&cycle, 0, sizeof(cycle));
    memset(helpers, 0, sizeof(helpers));
    helpers[0].title = "health checker";
    helpers[1].title = "cache loader";
    cycle.workers = 3;
    cycle.helpers.elts = helpers;
    cycle.helpers.nelts = 2;

    assert_int_equal(w->count(&cycle), 3);
    assert_int_equal(h->count(&cycle), 2);
    assert_string_equal(w->name(&cycle, 2), "worker");
    assert_string_equal(w->title(&cycle, 2), "worker process");
    assert_string_equal(h->name(&cycle, 0), "health checker");
    assert_string_equal(h->title(&cycle, 1), "cache loader");

    /* "pid#id" in the error log: workers first, then helpers */
    assert_int_equal(pco_child_log_id(&cycle, PCO_PROCESS_WORKER, 0), 0);
    assert_int_equal(pco_child_log_id(&cycle, PCO_PROCESS_WORKER, 2), 2);
    assert_int_equal(pco_child_log_id(&cycle, PCO_PROCESS_HELPER, 0), 3);
    assert_int_equal(pco_child_log_id(&cycle, PCO_PROCESS_HELPER, 1), 4);

    /* more helpers than positions: the extra ones never run */
    cycle.helpers.nelts = PCO_HELPERS_MAX + 8;
    assert_int_equal(h->count(&cycle), PCO_HELPERS_MAX);
    cycle.workers = 0;
    assert_int_equal(w->count(&cycle), 0);
    assert_int_equal(pco_child_log_id(&cycle, PCO_PROCESS_HELPER, 1), 1);
}

static int
pco_test_parse(int argc, char **argv, pco_cli_t *cli, char **msg)
{
    size_t  len;
    FILE   *err;
    int     rc;

    err = open_memstream(msg, &len);
    assert_non_null(err);
    rc = pco_cli_parse(argc, argv, cli, err);
    fclose(err);
    return rc;
}

static void
pco_test_cli_ok(void **state)
{
    pco_cli_t  cli;
    char      *msg;
    char      *a1[] = { "portico", "-c", "x.conf", "-p", "/pfx", "-g", "daemon = false;",
                        "-T", NULL };
    char      *a2[] = { "portico", "-cfile.conf", "-s", "reload", NULL };
    char      *a3[] = { "portico", "-V", NULL };
    char      *a4[] = { "portico", "-tv", "-h", NULL };
    char      *a5[] = { "portico", NULL };

    (void) state;

    assert_int_equal(pco_test_parse(8, a1, &cli, &msg), PCO_OK);
    assert_string_equal(msg, "");
    free(msg);
    assert_string_equal(cli.conf_file, "x.conf");
    assert_string_equal(cli.prefix, "/pfx");
    assert_string_equal(cli.extra, "daemon = false;");
    assert_true(cli.test);
    assert_true(cli.dump);
    assert_null(cli.signal);
    assert_false(cli.version);

    assert_int_equal(pco_test_parse(4, a2, &cli, &msg), PCO_OK);
    free(msg);
    assert_string_equal(cli.conf_file, "file.conf");
    assert_string_equal(cli.signal, "reload");
    assert_false(cli.test);

    assert_int_equal(pco_test_parse(2, a3, &cli, &msg), PCO_OK);
    free(msg);
    assert_true(cli.version);
    assert_true(cli.version_full);

    assert_int_equal(pco_test_parse(3, a4, &cli, &msg), PCO_OK);
    free(msg);
    assert_true(cli.test);
    assert_false(cli.dump);
    assert_true(cli.version);
    assert_false(cli.version_full);
    assert_true(cli.help);

    assert_int_equal(pco_test_parse(1, a5, &cli, &msg), PCO_OK);
    free(msg);
    assert_null(cli.conf_file);
    assert_null(cli.prefix);
    assert_false(cli.test);
}

static void
pco_test_cli_errors(void **state)
{
    pco_cli_t  cli;
    char      *msg;
    char      *a1[] = { "portico", "-x", NULL };
    char      *a2[] = { "portico", "-c", NULL };
    char      *a3[] = { "portico", "-s", "restart", NULL };
    char      *a4[] = { "portico", "stray", NULL };
    char      *a5[] = { "portico", "-", NULL };
    char      *a6[] = { "portico", "-p", "", NULL };

    (void) state;

    assert_int_equal(pco_test_parse(2, a1, &cli, &msg), PCO_ERROR);
    assert_string_equal(msg, "portico: invalid option: \"x\"\n");
    free(msg);

    assert_int_equal(pco_test_parse(2, a2, &cli, &msg), PCO_ERROR);
    assert_string_equal(msg, "portico: option \"-c\" requires file name\n");
    free(msg);

    assert_int_equal(pco_test_parse(3, a3, &cli, &msg), PCO_ERROR);
    assert_string_equal(msg, "portico: invalid option: \"-s restart\"\n");
    free(msg);

    assert_int_equal(pco_test_parse(2, a4, &cli, &msg), PCO_ERROR);
    assert_string_equal(msg, "portico: invalid option: \"stray\"\n");
    free(msg);

    assert_int_equal(pco_test_parse(2, a5, &cli, &msg), PCO_ERROR);
    free(msg);

    assert_int_equal(pco_test_parse(3, a6, &cli, &msg), PCO_ERROR);
    free(msg);
}

static void
pco_test_main_path(void **state)
{
    char  *p;

    (void) state;

    p = pco_main_path(NULL, "/usr/local/portico", true);
    assert_string_equal(p, "/usr/local/portico/");
    free(p);

    p = pco_main_path("/pfx/", "conf/portico.conf", false);
    assert_string_equal(p, "/pfx/conf/portico.conf");
    free(p);

    p = pco_main_path("/pfx/", "/abs.conf", false);
    assert_string_equal(p, "/abs.conf");
    free(p);
}

#define PCO_TEST_USAGE                                                          \
    "Usage: portico [-c FILE] [-p PREFIX] [-g SETTINGS] [-t | -T] "             \
    "[-s stop|quit|reload|reopen] [-v | -V] [-h]\n"

static void
pco_test_usage(void **state)
{
    char    *text;
    size_t   len;
    FILE    *out;

    (void) state;

    out = open_memstream(&text, &len);
    assert_non_null(out);
    pco_usage(out);
    fclose(out);
    assert_true(len > sizeof(PCO_TEST_USAGE));
    assert_memory_equal(text, PCO_TEST_USAGE, sizeof(PCO_TEST_USAGE) - 1);
    free(text);

    pco_show_version(false);     /* "portico/0.1.0" on stdout */
}

static volatile sig_atomic_t  pco_test_got_usr1;

static void
pco_test_usr1(int signo)
{
    (void) signo;
    pco_test_got_usr1 = 1;
}

static void
pco_test_write(const char *path, const char *text)
{
    FILE  *f;

    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* -s: reads the pid file named by the configuration and signals that pid. */
static void
pco_test_signal_process(void **state)
{
    char          dir[] = "/tmp/pco_test_process_XXXXXX", prefix[64], conf[96], pid[96];
    char          text[32];
    pco_cycle_t  *cycle;
    FILE         *err;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(prefix, sizeof(prefix), "%s/", dir);
    snprintf(conf, sizeof(conf), "%s/portico.conf", dir);
    snprintf(pid, sizeof(pid), "%s/test.pid", dir);
    pco_test_write(conf, "pid = \"test.pid\";\n");

    assert_int_equal(pco_modules_init(), PCO_OK);
    err = fopen("/dev/null", "w");
    assert_non_null(err);
    cycle = pco_cycle_create(prefix, conf, "worker_processes = 3;", true, err);
    fclose(err);
    if (cycle == NULL) {
        /* a module that needs more configuration than this (servers...) */
        unlink(conf);
        rmdir(dir);
        skip();
    }
    assert_int_equal(cycle->workers, 3);
    assert_string_equal((char *) cycle->core->pid.data, "test.pid");
    assert_true(cycle->core->daemon);
    assert_int_equal(cycle->core->worker_connections, 1024);
    assert_int_equal(cycle->core->worker_shutdown_timeout, 30000);
    assert_int_equal(cycle->core->shared_memory, 32 * 1024 * 1024);
    assert_int_equal(pco_core_log_level(cycle->core->error_log.level), PCO_LOG_NOTICE);

    /* no pid file */
    assert_int_equal(pco_signal_process(cycle, "reopen"), 1);

    /* a bad pid */
    pco_test_write(pid, "12ab\n");
    assert_int_equal(pco_signal_process(cycle, "reopen"), 1);
    pco_test_write(pid, "\n");
    assert_int_equal(pco_signal_process(cycle, "reopen"), 1);

    /* our own pid: USR1 arrives */
    signal(SIGUSR1, pco_test_usr1);
    snprintf(text, sizeof(text), "%d\n", (int) getpid());
    pco_test_write(pid, text);
    assert_int_equal(pco_signal_process(cycle, "reopen"), 0);
    assert_int_equal(pco_test_got_usr1, 1);
    signal(SIGUSR1, SIG_DFL);

    assert_int_equal(pco_signal_process(cycle, "bogus"), 1);

    pco_cycle_destroy(cycle);
    unlink(pid);
    unlink(conf);
    rmdir(dir);
}

static void
pco_test_modules(void **state)
{
    pco_module_t  *m;

    (void) state;

    assert_int_equal(pco_modules_init(), PCO_OK);
    assert_ptr_equal(pco_modules[0], &pco_core_module);
    assert_int_equal(pco_core_module.index, 0);
    m = pco_module_find("core");
    assert_ptr_equal(m, &pco_core_module);
    assert_null(pco_module_find("no-such-module"));

    assert_int_equal(pco_core_log_level(0), PCO_LOG_DEBUG);
    assert_int_equal(pco_core_log_level(2), PCO_LOG_NOTICE);
    assert_int_equal(pco_core_log_level(4), PCO_LOG_ERR);
    assert_int_equal(pco_core_log_level(6), PCO_LOG_ALERT);
    assert_int_equal(pco_core_log_level(99), PCO_LOG_NOTICE);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(pco_test_throttle_burst),
        cmocka_unit_test(pco_test_throttle_window),
        cmocka_unit_test(pco_test_throttle_spaced),
        cmocka_unit_test(pco_test_master_title),
        cmocka_unit_test(pco_test_child_kinds),
        cmocka_unit_test(pco_test_child_names),
        cmocka_unit_test(pco_test_cli_ok),
        cmocka_unit_test(pco_test_cli_errors),
        cmocka_unit_test(pco_test_main_path),
        cmocka_unit_test(pco_test_usage),
        cmocka_unit_test(pco_test_modules),
        cmocka_unit_test(pco_test_signal_process),
        cmocka_unit_test(pco_test_procstat),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
