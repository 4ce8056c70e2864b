/*
 * test_conf_src.c: unit tests of the lookups by struct member (core/pco_conf.c):
 * pco_conf_is_set_at / pco_conf_src_at / pco_conf_elt_src_at through their macros: a
 * top-level setting, a group member written and not written (its own FILE:LINE and path,
 * else the group's), a member inherited from the http scope, a list element's members, a
 * group whose optional member fails (still set, the member keeps its default) or whose
 * required member fails (unset), and the abort() on an offset that is no setting.
 * Fake modules with scopes laid out like modules/http's (0x2 http, 0x4 server); `make unit`
 * links objs/libportico.a, the pco_modules[] below replaces the generated one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include "pco_conf.h"

#define T_HTTP    0x2u
#define T_SERVER  0x4u

typedef struct {
    pco_str_t  path;
    int64_t    size;
} pco_tsrc_log_t;

typedef struct {
    bool            daemon;
    int64_t         workers;
    pco_tsrc_log_t  log;
} pco_tsrc_core_t;

typedef struct {
    pco_str_t  address;
    int64_t    backlog;
} pco_tsrc_listen_t;

typedef struct {
    pco_str_t  inner;
    int64_t    depth;
} pco_tsrc_nest_t;

typedef struct {
    int64_t          status;     /* required */
    pco_str_t        certificate;
    pco_str_t        key;
    pco_tsrc_nest_t  nest;
    pco_conf_list_t  hosts;      /* of pco_tsrc_listen_t */
} pco_tsrc_tls_t;

typedef struct {
    pco_str_t        name;
    pco_conf_list_t  listen;
    pco_tsrc_tls_t   tls;
} pco_tsrc_http_t;

static const pco_setting_t pco_tsrc_log_members[] = {
    { .name = "path", .type = PCO_CONF_STRING, .offset = offsetof(pco_tsrc_log_t, path),
      .def = "\"logs/error.log\"" },
    { .name = "size", .type = PCO_CONF_SIZE, .offset = offsetof(pco_tsrc_log_t, size),
      .def = "\"1m\"", .min = 0, .max = 1 << 30 },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_tsrc_core_settings[] = {
    { .name = "daemon", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_tsrc_core_t, daemon), .def = "true" },
    { .name = "workers", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_INT,
      .offset = offsetof(pco_tsrc_core_t, workers), .def = "1", .min = 1, .max = 64 },
    { .name = "log", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_tsrc_core_t, log), .sub = pco_tsrc_log_members },
    { .name = "http", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE, .child_scope = T_HTTP },
    { .name = "servers", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE,
      .child_scope = T_SERVER, .inherit_scope = T_HTTP },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_tsrc_listen_members[] = {
    { .name = "address", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_tsrc_listen_t, address), .flags = PCO_CONF_REQUIRED },
    { .name = "backlog", .type = PCO_CONF_INT, .offset = offsetof(pco_tsrc_listen_t, backlog),
      .def = "511", .min = 1, .max = 65535 },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_tsrc_nest_members[] = {
    { .name = "inner", .type = PCO_CONF_STRING, .offset = offsetof(pco_tsrc_nest_t, inner) },
    { .name = "depth", .type = PCO_CONF_INT, .offset = offsetof(pco_tsrc_nest_t, depth),
      .def = "3", .min = 0, .max = 9 },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_tsrc_tls_members[] = {
    { .name = "status", .type = PCO_CONF_INT, .offset = offsetof(pco_tsrc_tls_t, status),
      .min = 1, .max = 9, .flags = PCO_CONF_REQUIRED },
    { .name = "certificate", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_tsrc_tls_t, certificate), .def = "\"none\"" },
    { .name = "key", .type = PCO_CONF_STRING, .offset = offsetof(pco_tsrc_tls_t, key) },
    { .name = "nest", .type = PCO_CONF_GROUP, .offset = offsetof(pco_tsrc_tls_t, nest),
      .sub = pco_tsrc_nest_members },
    { .name = "hosts", .type = PCO_CONF_LIST, .offset = offsetof(pco_tsrc_tls_t, hosts),
      .sub = pco_tsrc_listen_members, .elt_size = sizeof(pco_tsrc_listen_t) },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_tsrc_http_settings[] = {
    { .name = "name", .scopes = T_HTTP | T_SERVER, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_tsrc_http_t, name) },
    { .name = "listen", .scopes = T_SERVER, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_tsrc_http_t, listen), .sub = pco_tsrc_listen_members,
      .elt_size = sizeof(pco_tsrc_listen_t) },
    { .name = "tls", .scopes = T_HTTP | T_SERVER, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_tsrc_http_t, tls), .sub = pco_tsrc_tls_members },
    PCO_SETTINGS_END
};

static pco_module_t pco_tsrc_core_module = {
    .api_version = PCO_MODULE_API_VERSION, .name = "core",
    .settings = pco_tsrc_core_settings, .conf_size = sizeof(pco_tsrc_core_t),
};
static pco_module_t pco_tsrc_http_module = {
    .api_version = PCO_MODULE_API_VERSION, .name = "http",
    .settings = pco_tsrc_http_settings, .conf_size = sizeof(pco_tsrc_http_t),
};

pco_module_t *pco_modules[] = { &pco_tsrc_core_module, &pco_tsrc_http_module, NULL };
const char *pco_module_names[] = { "core", "http", NULL };
const char *pco_configure_args = "";

static char pco_tsrc_dir[256];

typedef struct {
    pco_conf_t   cf;
    char        *errbuf;
    size_t       errlen;
    int          rc;
} pco_tsrc_load_t;

static void
pco_tsrc_load(pco_tsrc_load_t *t, const char *text)
{
    char   path[512];
    FILE  *f;

    memset(t, 0, sizeof(*t));
    snprintf(path, sizeof(path), "%s/src.conf", pco_tsrc_dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    t->cf.pool = pco_pool_create(4096, 0);
    assert_non_null(t->cf.pool);
    t->cf.prefix = "/usr/local/portico/";
    t->cf.err = open_memstream(&t->errbuf, &t->errlen);
    assert_non_null(t->cf.err);
    t->rc = pco_conf_load(&t->cf, path, NULL);
    fflush(t->cf.err);
}

static void
pco_tsrc_done(pco_tsrc_load_t *t)
{
    fclose(t->cf.err);
    free(t->errbuf);
    pco_conf_free(&t->cf);
    pco_pool_destroy(t->cf.pool);
}

static pco_conf_node_t *
pco_tsrc_child(pco_conf_node_t *node, unsigned scope)
{
    size_t  i;

    for (i = 0; i < node->nchildren; i++) {
        if (node->children[i]->scope == scope) {
            return node->children[i];
        }
    }
    return NULL;
}

/* Asserts where src points: line and path (the file is the test's). */
static void
pco_tsrc_at(const pco_conf_src_t *src, int line, const char *path)
{
    assert_non_null(src);
    assert_int_equal(src->line, line);
    assert_string_equal(src->path, path);
    assert_non_null(strstr(src->file, "/src.conf"));
}

static void
pco_tsrc_members(void **state)
{
    pco_tsrc_load_t     t;
    pco_tsrc_core_t    *cc;
    pco_tsrc_http_t    *hc;
    pco_conf_node_t    *http, *server;

    pco_unused(state);
    pco_tsrc_load(&t,
                  "daemon = false;\n"                                      /*  1 */
                  "log = {\n"                                              /*  2 */
                  "  size = \"2m\";\n"                                     /*  3 */
                  "};\n"                                                   /*  4 */
                  "http = { tls = {\n"                                     /*  5 */
                  "  status = 1;\n"                                        /*  6 */
                  "  key = \"h.key\"; }; };\n"                             /*  7 */
                  "servers = ( {\n"                                        /*  8 */
                  "  listen = ( { address = \"a\"; },\n"                   /*  9 */
                  "             { address = \"b\";\n"                      /* 10 */
                  "               backlog = 9; } );\n"                     /* 11 */
                  "} );\n");                                               /* 12 */
    assert_string_equal(t.errbuf, "");
    assert_int_equal(t.rc, PCO_OK);

    /* a top-level setting, written and not */
    cc = pco_conf_get(t.cf.root, &pco_tsrc_core_module);
    assert_true(PCO_CONF_IS_SET(cc, pco_tsrc_core_t, daemon));
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, daemon), 1, "daemon");
    assert_false(PCO_CONF_IS_SET(cc, pco_tsrc_core_t, workers));
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, workers), 1, "");     /* the node's start */

    /* group members: written (own line and path), not written (the group's) */
    assert_true(PCO_CONF_IS_SET(cc, pco_tsrc_core_t, log));
    assert_true(PCO_CONF_IS_SET(cc, pco_tsrc_core_t, log.path));        /* = its group */
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, log.size), 3, "log.size");
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, log.path), 2, "log");
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, log), 2, "log");

    /* in a scope node; inherited members keep the lines where they were written */
    http = pco_tsrc_child(t.cf.root, T_HTTP);
    server = pco_tsrc_child(t.cf.root, T_SERVER);
    assert_non_null(http);
    assert_non_null(server);
    hc = pco_conf_get(http, &pco_tsrc_http_module);
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.key), 7, "http.tls.key");
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.certificate), 5, "http.tls");
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.nest.depth), 5, "http.tls");
    /* status is the group's first member: the same offset, told apart by the size */
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.status), 6, "http.tls.status");
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls), 5, "http.tls");
    assert_false(PCO_CONF_IS_SET(hc, pco_tsrc_http_t, name));
    hc = pco_conf_get(server, &pco_tsrc_http_module);
    assert_true(PCO_CONF_IS_SET(hc, pco_tsrc_http_t, tls));
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.key), 7, "http.tls.key");
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.certificate), 5, "http.tls");
    assert_string_equal((char *) hc->tls.certificate.data, "none");

    /* a list: the setting, each element, each element's members */
    assert_true(PCO_CONF_IS_SET(hc, pco_tsrc_http_t, listen));
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, listen), 9, "servers[0].listen");
    assert_int_equal(hc->listen.n, 2);
    pco_tsrc_at(&hc->listen.src[1], 10, "servers[0].listen[1]");
    pco_tsrc_at(PCO_CONF_ELT_SRC(&hc->listen, 1, pco_tsrc_listen_t, backlog), 11,
                "servers[0].listen[1].backlog");
    pco_tsrc_at(PCO_CONF_ELT_SRC(&hc->listen, 1, pco_tsrc_listen_t, address), 10,
                "servers[0].listen[1].address");
    pco_tsrc_at(PCO_CONF_ELT_SRC(&hc->listen, 0, pco_tsrc_listen_t, backlog), 9,
                "servers[0].listen[0]");
    pco_tsrc_done(&t);
}

static void
pco_tsrc_nested(void **state)
{
    pco_tsrc_load_t     t;
    pco_tsrc_http_t    *hc;

    pco_unused(state);
    pco_tsrc_load(&t,
                  "http = { tls = {\n"                                     /* 1 */
                  "  status = 2;\n"                                        /* 2 */
                  "  nest = {\n"                                           /* 3 */
                  "    depth = 4;\n"                                       /* 4 */
                  "  };\n"                                                 /* 5 */
                  "}; };\n");                                              /* 6 */
    assert_string_equal(t.errbuf, "");
    hc = pco_conf_get(pco_tsrc_child(t.cf.root, T_HTTP), &pco_tsrc_http_module);
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.nest.depth), 4, "http.tls.nest.depth");
    /* nest.inner is not written: the nested group around it was */
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.nest.inner), 3, "http.tls.nest");
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.key), 1, "http.tls");
    pco_tsrc_done(&t);
}

/* A failed optional member leaves its group set (the member at its default), so that the
 * module's checks of the other members still run; a failed required member does not. */
static void
pco_tsrc_partial(void **state)
{
    pco_tsrc_load_t     t;
    pco_tsrc_core_t    *cc;
    pco_tsrc_http_t    *hc;

    pco_unused(state);
    pco_tsrc_load(&t,
                  "log = {\n"                                              /* 1 */
                  "  path = 5;\n"                                          /* 2 */
                  "  size = \"1k\";\n"                                     /* 3 */
                  "};\n"                                                   /* 4 */
                  "http = { tls = {\n"                                     /* 5 */
                  "  status = \"x\";\n"                                    /* 6 */
                  "  key = \"k\"; }; };\n"                                 /* 7 */
                  "servers = ( { listen = ( { address = \"a\";\n"          /* 8 */
                  "                           backlog = \"many\"; } );\n"  /* 9 */
                  "              tls = { status = 3; nest = { depth = 99; }; key = \"s\";\n"
                  "                      hosts = ( { address = \"h\"; }, { backlog = 2; } ); };\n"
                  "} );\n");                                               /* 12 */
    assert_int_equal(t.rc, PCO_ERROR);
    assert_int_equal(t.cf.errors, 5);
    cc = pco_conf_get(t.cf.root, &pco_tsrc_core_module);
    assert_true(PCO_CONF_IS_SET(cc, pco_tsrc_core_t, log));
    assert_string_equal((char *) cc->log.path.data, "logs/error.log");
    assert_int_equal(cc->log.size, 1024);
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, log.size), 3, "log.size");
    pco_tsrc_at(PCO_CONF_SRC(cc, pco_tsrc_core_t, log.path), 1, "log");   /* failed */

    hc = pco_conf_get(pco_tsrc_child(t.cf.root, T_HTTP), &pco_tsrc_http_module);
    assert_false(PCO_CONF_IS_SET(hc, pco_tsrc_http_t, tls));             /* required failed */

    hc = pco_conf_get(pco_tsrc_child(t.cf.root, T_SERVER), &pco_tsrc_http_module);
    assert_true(PCO_CONF_IS_SET(hc, pco_tsrc_http_t, listen));
    assert_int_equal(hc->listen.n, 1);
    assert_int_equal(((pco_tsrc_listen_t *) hc->listen.elts)[0].backlog, 511);
    assert_true(PCO_CONF_IS_SET(hc, pco_tsrc_http_t, tls));       /* a nested member failed */
    assert_string_equal((char *) hc->tls.key.data, "s");
    assert_int_equal(hc->tls.nest.depth, 3);
    assert_int_equal(hc->tls.hosts.n, 0);         /* a failed list: back to empty, not half */
    assert_null(hc->tls.hosts.elts);
    pco_tsrc_at(PCO_CONF_SRC(hc, pco_tsrc_http_t, tls.key), 10, "servers[0].tls.key");
    pco_tsrc_done(&t);
}

/* Runs fn in a child, which must abort() after printing want on stderr. */
static void
pco_tsrc_aborts(void (*fn)(const void *conf), const void *conf, const char *want)
{
    int     fds[2], status;
    pid_t   pid;
    char    buf[256];
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        signal(SIGABRT, SIG_DFL);        /* not cmocka's handler: die as a module would */
        fn(conf);
        _exit(0);
    }
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void
pco_tsrc_bad_is_set(const void *conf)
{
    (void) pco_conf_is_set_at(conf, offsetof(pco_tsrc_core_t, daemon) + 1);   /* padding */
}

static void
pco_tsrc_bad_src(const void *conf)
{
    /* inside the log group, but no member of it */
    (void) pco_conf_src_at(conf, offsetof(pco_tsrc_core_t, log.path) + 1, 1);
}

static void
pco_tsrc_bad_offset(void **state)
{
    pco_tsrc_load_t  t;
    char             want[128];
    void            *cc;

    pco_unused(state);
    pco_tsrc_load(&t, "daemon = true;\n");
    cc = pco_conf_get(t.cf.root, &pco_tsrc_core_module);
    pco_tsrc_aborts(pco_tsrc_bad_is_set, cc,
                    "pco_conf_is_set_at: module \"core\" has no setting at offset 1\n");
    snprintf(want, sizeof(want), "pco_conf_src_at: module \"core\" has no setting at offset "
             "%zu\n", offsetof(pco_tsrc_core_t, log.path) + 1);
    pco_tsrc_aborts(pco_tsrc_bad_src, cc, want);
    pco_tsrc_done(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_tsrc_members),
        cmocka_unit_test(pco_tsrc_nested),
        cmocka_unit_test(pco_tsrc_partial),
        cmocka_unit_test(pco_tsrc_bad_offset),
    };
    char  cmd[300];
    int   rc;

    snprintf(pco_tsrc_dir, sizeof(pco_tsrc_dir), "/tmp/pco_test_conf_src.XXXXXX");
    if (mkdtemp(pco_tsrc_dir) == NULL || pco_modules_init() != PCO_OK) {
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pco_tsrc_dir);
    if (system(cmd) != 0) {
        rc = rc ? rc : 1;
    }
    return rc;
}
