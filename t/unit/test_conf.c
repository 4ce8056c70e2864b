/*
 * test_conf.c: unit tests of the configuration loader (core/pco_conf.c, pco_conf_dump.c)
 * with fake modules and scopes laid out like modules/http's (0x2 http, 0x4 server,
 * 0x8 route): units, types, bounds, did-you-mean, all errors reported, defaults,
 * inheritance http -> server -> route with the inherit_scope sibling rule, lists of groups
 * with required members, @include relative to the main file, -g merge, FILE:LINE, -T round
 * trip, docs.
 * Build: gcc ... -Icore -Iobjs t/unit/test_conf.c core/pco_conf*.c core/pco_pool.c
 *        core/pco_module.c -lconfig -lcmocka
 * (or `make unit`: it links objs/libportico.a; the pco_modules[] below replaces the
 * generated one).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include "pco_conf.h"

#define T_HTTP    0x2u
#define T_SERVER  0x4u
#define T_ROUTE   0x8u
#define T_HSR     (T_HTTP | T_SERVER | T_ROUTE)

/* ---- fake modules ---------------------------------------------------------------------- */

typedef struct {
    pco_str_t  path;
    int        level;
} pco_test_log_t;

typedef struct {
    bool            daemon;
    int64_t         worker_processes;
    int64_t         worker_connections;
    int64_t         shared_memory;
    pco_msec_t      shutdown;
    pco_str_t       pid;
    pco_test_log_t  error_log;
} pco_test_core_conf_t;

typedef struct {
    pco_str_t  address;
    int64_t    backlog;
    bool       reuseport;
} pco_test_listen_t;

typedef struct {
    pco_str_t  certificate;
    pco_str_t  key;
} pco_test_tls_t;

typedef struct {
    pco_msec_t       keepalive_timeout;
    int64_t          max_body;
    bool             server_tokens;
    pco_str_list_t   names;
    pco_int_list_t   ports;
    pco_conf_list_t  listen;
    pco_test_tls_t   tls;
    int              access;       /* CUSTOM: number of rules */
    int              merged;       /* set by conf_merge */
} pco_test_http_conf_t;

typedef struct {
    int64_t    status;
    pco_str_t  body;
} pco_test_ret_t;

typedef struct {
    pco_test_ret_t  ret;
} pco_test_ret_conf_t;

static const char *const pco_test_levels[] = { "error", "warn", "notice", "info", NULL };

static const pco_setting_t pco_test_log_members[] = {
    { .name = "path", .type = PCO_CONF_STRING, .offset = offsetof(pco_test_log_t, path),
      .def = "\"logs/error.log\"", .help = "file" },
    { .name = "level", .type = PCO_CONF_ENUM, .offset = offsetof(pco_test_log_t, level),
      .values = pco_test_levels, .def = "\"notice\"", .help = "level" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_test_core_settings[] = {
    { .name = "daemon", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_test_core_conf_t, daemon), .def = "true", .help = "daemon" },
    { .name = "worker_processes", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_INT,
      .offset = offsetof(pco_test_core_conf_t, worker_processes), .def = "\"auto\"",
      .min = 1, .max = 1024, .flags = PCO_CONF_AUTO, .help = "workers" },
    { .name = "worker_connections", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_INT,
      .offset = offsetof(pco_test_core_conf_t, worker_connections), .def = "1024",
      .min = 16, .max = 1000000, .help = "connections | per worker" },
    { .name = "shared_memory", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SIZE,
      .offset = offsetof(pco_test_core_conf_t, shared_memory), .def = "\"32m\"",
      .help = "zone" },
    { .name = "worker_shutdown_timeout", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_test_core_conf_t, shutdown), .def = "\"30s\"",
      .min = 1000, .max = 3600000, .help = "shutdown" },
    { .name = "pid", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_test_core_conf_t, pid), .help = "pid file" },
    { .name = "error_log", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_test_core_conf_t, error_log), .sub = pco_test_log_members,
      .help = "error log" },
    { .name = "http", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE, .child_scope = T_HTTP,
      .help = "http defaults" },
    { .name = "servers", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SCOPE,
      .child_scope = T_SERVER, .inherit_scope = T_HTTP, .help = "servers" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_test_listen_members[] = {
    { .name = "address", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_test_listen_t, address), .flags = PCO_CONF_REQUIRED,
      .help = "address" },
    { .name = "backlog", .type = PCO_CONF_INT, .offset = offsetof(pco_test_listen_t, backlog),
      .def = "511", .min = 1, .max = 65535, .help = "backlog" },
    { .name = "reuseport", .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_test_listen_t, reuseport), .help = "reuseport" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_test_tls_members[] = {
    { .name = "certificate", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_test_tls_t, certificate), .flags = PCO_CONF_REQUIRED,
      .help = "cert" },
    { .name = "key", .type = PCO_CONF_STRING, .offset = offsetof(pco_test_tls_t, key),
      .help = "key" },
    PCO_SETTINGS_END
};

static int
pco_test_access_parse(pco_conf_t *cf, const config_setting_t *cs, void *field,
                      const pco_setting_t *s)
{
    pco_unused(s);
    if (config_setting_type(cs) != CONFIG_TYPE_ARRAY) {
        pco_conf_error(cf, cs, "expected an array of rules");
        return PCO_ERROR;
    }
    *(int *) field = config_setting_length(cs);
    return PCO_OK;
}

static int
pco_test_http_merge(pco_conf_t *cf, pco_conf_node_t *node, void *parent, void *child)
{
    pco_unused(cf);
    pco_unused(node);
    ((pco_test_http_conf_t *) child)->merged = ((pco_test_http_conf_t *) parent)->merged + 1;
    return PCO_OK;
}

static const pco_setting_t pco_test_http_settings[] = {
    { .name = "keepalive_timeout", .scopes = T_HSR, .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_test_http_conf_t, keepalive_timeout), .def = "\"75s\"",
      .help = "keep-alive" },
    { .name = "client_max_body_size", .scopes = T_HSR, .type = PCO_CONF_SIZE,
      .offset = offsetof(pco_test_http_conf_t, max_body), .def = "\"1m\"", .help = "body" },
    { .name = "server_tokens", .scopes = T_HSR, .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_test_http_conf_t, server_tokens), .help = "tokens" },
    { .name = "names", .scopes = T_SERVER, .type = PCO_CONF_STRLIST,
      .offset = offsetof(pco_test_http_conf_t, names), .help = "server names" },
    { .name = "ports", .scopes = T_HSR, .type = PCO_CONF_INTLIST,
      .offset = offsetof(pco_test_http_conf_t, ports), .def = "[80, 443]", .help = "ports" },
    { .name = "listen", .scopes = T_SERVER, .type = PCO_CONF_LIST,
      .offset = offsetof(pco_test_http_conf_t, listen), .sub = pco_test_listen_members,
      .elt_size = sizeof(pco_test_listen_t), .flags = PCO_CONF_NOINHERIT, .help = "listen" },
    { .name = "tls", .scopes = T_HTTP | T_SERVER, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_test_http_conf_t, tls), .sub = pco_test_tls_members,
      .flags = PCO_CONF_FALSE_OFF, .help = "tls" },
    { .name = "access", .scopes = T_HSR, .type = PCO_CONF_CUSTOM,
      .offset = offsetof(pco_test_http_conf_t, access), .custom = pco_test_access_parse,
      .elt_size = sizeof(int), .help = "access rules" },
    { .name = "routes", .scopes = T_SERVER, .type = PCO_CONF_SCOPE, .child_scope = T_ROUTE,
      .help = "routes" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_test_ret_members[] = {
    { .name = "status", .type = PCO_CONF_INT, .offset = offsetof(pco_test_ret_t, status),
      .min = 100, .max = 599, .flags = PCO_CONF_REQUIRED, .help = "status" },
    { .name = "body", .type = PCO_CONF_STRING, .offset = offsetof(pco_test_ret_t, body),
      .help = "body" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_test_ret_settings[] = {
    { .name = "return", .scopes = T_ROUTE, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_test_ret_conf_t, ret), .sub = pco_test_ret_members,
      .flags = PCO_CONF_NOINHERIT, .help = "return" },
    PCO_SETTINGS_END
};

static pco_module_t pco_test_core_module = {
    .api_version = PCO_MODULE_API_VERSION, .name = "core",
    .settings = pco_test_core_settings, .conf_size = sizeof(pco_test_core_conf_t),
};
static pco_module_t pco_test_http_module = {
    .api_version = PCO_MODULE_API_VERSION, .name = "http",
    .settings = pco_test_http_settings, .conf_size = sizeof(pco_test_http_conf_t),
    .conf_merge = pco_test_http_merge,
};
static pco_module_t pco_test_nothing_module = {
    .api_version = PCO_MODULE_API_VERSION, .name = "nothing",
};
static pco_module_t pco_test_ret_module = {
    .api_version = PCO_MODULE_API_VERSION, .name = "return",
    .settings = pco_test_ret_settings, .conf_size = sizeof(pco_test_ret_conf_t),
};

pco_module_t *pco_modules[] = {
    &pco_test_core_module, &pco_test_http_module, &pco_test_nothing_module,
    &pco_test_ret_module, NULL
};
const char *pco_module_names[] = { "core", "http", "nothing", "return", NULL };
const char *pco_configure_args = "";

/* ---- helpers --------------------------------------------------------------------------- */

typedef struct {
    pco_conf_t   cf;
    char        *errbuf;
    size_t       errlen;
    int          rc;
} pco_test_load_t;

static char pco_test_dir[256];

static void
pco_test_write(const char *name, const char *text)
{
    char   path[512];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", pco_test_dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads dir/name (+ extra) with errors captured in t->errbuf. */
static void
pco_test_load(pco_test_load_t *t, const char *name, const char *text, const char *extra)
{
    char  path[512];

    memset(t, 0, sizeof(*t));
    if (text != NULL) {
        pco_test_write(name, text);
    }
    snprintf(path, sizeof(path), "%s/%s", pco_test_dir, name);
    t->cf.pool = pco_pool_create(4096, 0);
    assert_non_null(t->cf.pool);
    t->cf.prefix = "/usr/local/portico/";
    t->cf.err = open_memstream(&t->errbuf, &t->errlen);
    assert_non_null(t->cf.err);
    t->rc = pco_conf_load(&t->cf, path, extra);
    fflush(t->cf.err);
}

static void
pco_test_done(pco_test_load_t *t)
{
    fclose(t->cf.err);
    free(t->errbuf);
    pco_conf_free(&t->cf);
    pco_pool_destroy(t->cf.pool);
}

static pco_conf_node_t *
pco_test_child(pco_conf_node_t *node, unsigned scope, unsigned nth)
{
    size_t  i;

    for (i = 0; i < node->nchildren; i++) {
        if (node->children[i]->scope == scope && nth-- == 0) {
            return node->children[i];
        }
    }
    return NULL;
}

/* Asserts that the error output contains line (prefixed with the test directory). */
static void
pco_test_has(pco_test_load_t *t, const char *line)
{
    char  want[1024];

    snprintf(want, sizeof(want), "%s/%s\n", pco_test_dir, line);
    if (strstr(t->errbuf, want) == NULL) {
        fail_msg("missing \"%s\" in:\n%s", want, t->errbuf);
    }
}

/* Cuts s at the first occurrence of stop (in place). */
static char *
pco_test_upto(char *s, const char *stop)
{
    char  *p;

    assert_non_null(s);
    p = strstr(s, stop);
    if (p != NULL) {
        *p = '\0';
    }
    return s;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
pco_test_units(void **state)
{
    int64_t     v;
    pco_msec_t  d;

    pco_unused(state);
    assert_int_equal(pco_parse_size("0", &v), PCO_OK);
    assert_int_equal(v, 0);
    assert_int_equal(pco_parse_size("16k", &v), PCO_OK);
    assert_int_equal(v, 16384);
    assert_int_equal(pco_parse_size("16K", &v), PCO_OK);
    assert_int_equal(v, 16384);
    assert_int_equal(pco_parse_size("1m", &v), PCO_OK);
    assert_int_equal(v, 1048576);
    assert_int_equal(pco_parse_size("1M", &v), PCO_OK);
    assert_int_equal(v, 1048576);
    assert_int_equal(pco_parse_size("1g", &v), PCO_OK);
    assert_int_equal(v, 1073741824);
    assert_int_equal(pco_parse_size("1G", &v), PCO_OK);
    assert_int_equal(v, 1073741824);
    assert_int_equal(pco_parse_size("1234", &v), PCO_OK);
    assert_int_equal(v, 1234);
    assert_int_equal(pco_parse_size("", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("k", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("-1", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("1x", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("1kk", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size(" 1", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("9223372036854775807", &v), PCO_OK);
    assert_int_equal(pco_parse_size("9223372036854775808", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("9007199254740992k", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("99999999999g", &v), PCO_ERROR);

    assert_int_equal(pco_parse_duration("500ms", &d), PCO_OK);
    assert_int_equal(d, 500);
    assert_int_equal(pco_parse_duration("2s", &d), PCO_OK);
    assert_int_equal(d, 2000);
    assert_int_equal(pco_parse_duration("1m", &d), PCO_OK);
    assert_int_equal(d, 60000);
    assert_int_equal(pco_parse_duration("1h", &d), PCO_OK);
    assert_int_equal(d, 3600000);
    assert_int_equal(pco_parse_duration("1d", &d), PCO_OK);
    assert_int_equal(d, 86400000);
    assert_int_equal(pco_parse_duration("30", &d), PCO_OK);
    assert_int_equal(d, 30000);
    assert_int_equal(pco_parse_duration("0", &d), PCO_OK);
    assert_int_equal(d, 0);
    assert_int_equal(pco_parse_duration("1m30s", &d), PCO_OK);
    assert_int_equal(d, 90000);
    assert_int_equal(pco_parse_duration("1h2m3s4ms", &d), PCO_OK);
    assert_int_equal(d, 3723004);
    assert_int_equal(pco_parse_duration("", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("s", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("-1s", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("1x", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("1m30", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("1 s", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("99999999999999999d", &d), PCO_ERROR);
    assert_int_equal(pco_parse_duration("9223372036854775808ms", &d), PCO_ERROR);
}

static void
pco_test_defaults(void **state)
{
    pco_test_load_t        t;
    pco_test_core_conf_t  *cc;
    pco_test_http_conf_t  *hc;

    pco_unused(state);
    pco_test_load(&t, "empty.conf", "# nothing\n", NULL);
    assert_int_equal(t.rc, PCO_OK);
    assert_int_equal(t.cf.errors, 0);
    assert_string_equal(t.errbuf, "");
    assert_int_equal(t.cf.root->scope, PCO_SCOPE_TOP);
    assert_int_equal(t.cf.root->nchildren, 0);
    assert_null(t.cf.root->confs[2]);           /* "nothing" has no conf */
    assert_non_null(t.cf.root->confs[1]);       /* every module with a conf, any scope */
    cc = pco_conf_get(t.cf.root, &pco_test_core_module);
    assert_true(cc->daemon);
    assert_int_equal(cc->worker_processes, -1);
    assert_int_equal(cc->worker_connections, 1024);
    assert_int_equal(cc->shared_memory, 32 * 1024 * 1024);
    assert_int_equal(cc->shutdown, 30000);
    assert_null(cc->pid.data);
    assert_string_equal((char *) cc->error_log.path.data, "logs/error.log");
    assert_int_equal(cc->error_log.level, 2);
    assert_false(PCO_CONF_IS_SET(cc, pco_test_core_conf_t, daemon));
    assert_int_equal(PCO_CONF_SRC(cc, pco_test_core_conf_t, daemon)->line, 1);
    pco_test_done(&t);

    /* servers without http: an http node with defaults is created for them */
    pco_test_load(&t, "nohttp.conf", "servers = ( { names = \"a\"; } );\n", NULL);
    assert_int_equal(t.rc, PCO_OK);
    assert_int_equal(t.cf.root->nchildren, 2);
    assert_int_equal(t.cf.root->children[0]->scope, T_SERVER);
    assert_int_equal(t.cf.root->children[1]->scope, T_HTTP);
    assert_ptr_equal(t.cf.root->children[0]->inherit, t.cf.root->children[1]);
    assert_ptr_equal(t.cf.root->children[1]->inherit, t.cf.root);
    hc = pco_conf_get(t.cf.root->children[0], &pco_test_http_module);
    assert_int_equal(hc->keepalive_timeout, 75000);
    assert_int_equal(hc->max_body, 1048576);
    assert_int_equal(hc->ports.n, 2);
    assert_int_equal(hc->ports.elts[0], 80);
    assert_int_equal(hc->ports.elts[1], 443);
    assert_int_equal(hc->names.n, 1);
    assert_int_equal(hc->names.elts[0].len, 1);
    assert_string_equal((char *) hc->names.elts[0].data, "a");
    assert_int_equal(hc->listen.n, 0);
    assert_int_equal(hc->merged, 2);            /* root(0) -> http(1) -> server(2) */
    pco_test_done(&t);
}

static void
pco_test_unknown(void **state)
{
    pco_test_load_t  t;

    pco_unused(state);
    pco_test_load(&t, "unknown.conf",
                  "daemon = false;\n"
                  "http = {\n"
                  "  keepalive_timout = \"10s\";\n"
                  "  zzz = 1;\n"
                  "};\n"
                  "worker_conections = 10;\n"
                  "names = \"x\";\n"
                  "error_log = { lvel = \"info\"; };\n", NULL);
    assert_int_equal(t.rc, PCO_ERROR);
    assert_int_equal(t.cf.errors, 5);
    pco_test_has(&t, "unknown.conf:3: http.keepalive_timout: unknown setting "
                 "\"keepalive_timout\" (did you mean \"keepalive_timeout\"?)");
    pco_test_has(&t, "unknown.conf:4: http.zzz: unknown setting \"zzz\"");
    pco_test_has(&t, "unknown.conf:6: worker_conections: unknown setting "
                 "\"worker_conections\" (did you mean \"worker_connections\"?)");
    pco_test_has(&t, "unknown.conf:7: names: setting \"names\" is not allowed here");
    pco_test_has(&t, "unknown.conf:8: error_log.lvel: unknown setting \"lvel\" "
                 "(did you mean \"level\"?)");
    pco_test_done(&t);
}

static void
pco_test_types_bounds(void **state)
{
    pco_test_load_t  t;

    pco_unused(state);
    pco_test_load(&t, "types.conf",
                  "daemon = 1;\n"                                       /* 1 */
                  "worker_processes = \"many\";\n"                      /* 2 */
                  "worker_connections = 5;\n"                           /* 3 */
                  "shared_memory = \"16x\";\n"                          /* 4 */
                  "worker_shutdown_timeout = (1, 2);\n"                 /* 5 */
                  "pid = 3;\n"                                          /* 6 */
                  "error_log = { level = \"loud\"; };\n"                /* 7 */
                  "http = { keepalive_timeout = -5;\n"                  /* 8 */
                  "  client_max_body_size = -1;\n"                      /* 9 */
                  "  ports = [ \"a\" ]; server_tokens = \"yes\"; };\n"  /* 10 */
                  "servers = ( { worker = 1; keepalive_timeout = 1.5;\n" /* 11 */
                  "  access = \"x\"; } );\n"                            /* 12 */
                  "worker_processes = 2000;\n", NULL);                  /* 13: duplicate */
    assert_int_equal(t.rc, PCO_ERROR);
    /* libconfig rejects the duplicate setting before the walk */
    assert_int_equal(t.cf.errors, 1);
    assert_non_null(strstr(t.errbuf, "types.conf:13: "));
    pco_test_done(&t);


    pco_test_load(&t, "types.conf",
                  "daemon = 1;\n"
                  "worker_processes = \"many\";\n"
                  "worker_connections = 5;\n"
                  "shared_memory = \"16x\";\n"
                  "worker_shutdown_timeout = (1, 2);\n"
                  "pid = 3;\n"
                  "error_log = { level = \"loud\"; };\n"
                  "http = { keepalive_timeout = -5;\n"
                  "  client_max_body_size = -1;\n"
                  "  ports = [ \"a\" ]; server_tokens = \"yes\"; };\n"
                  "servers = ( { worker = 1; keepalive_timeout = 1.5;\n"
                  "  access = \"x\"; } );\n", NULL);
    assert_int_equal(t.rc, PCO_ERROR);
    pco_test_has(&t, "types.conf:1: daemon: expected true or false, got an integer");
    pco_test_has(&t, "types.conf:2: worker_processes: expected an integer or \"auto\", "
                 "got a string");
    pco_test_has(&t, "types.conf:3: worker_connections: must be between 16 and 1000000 (got 5)");
    pco_test_has(&t, "types.conf:4: shared_memory: invalid size \"16x\" (expected a number "
                 "with an optional k, m or g suffix)");
    pco_test_has(&t, "types.conf:5: worker_shutdown_timeout: expected a duration such as "
                 "\"10s\" or 10, got a list");
    pco_test_has(&t, "types.conf:6: pid: expected a string, got an integer");
    pco_test_has(&t, "types.conf:7: error_log.level: invalid value \"loud\", expected one "
                 "of \"error\", \"warn\", \"notice\", \"info\"");
    pco_test_has(&t, "types.conf:8: http.keepalive_timeout: invalid duration -5");
    pco_test_has(&t, "types.conf:9: http.client_max_body_size: invalid size -1");
    pco_test_has(&t, "types.conf:10: http.ports[0]: expected an integer or an array of "
                 "integers, got a string");
    pco_test_has(&t, "types.conf:10: http.server_tokens: expected true or false, got a "
                 "string");
    pco_test_has(&t, "types.conf:11: servers[0].worker: unknown setting \"worker\"");
    pco_test_has(&t, "types.conf:11: servers[0].keepalive_timeout: expected a duration such "
                 "as \"10s\" or 10, got a float");
    pco_test_has(&t, "types.conf:12: servers[0].access: expected an array of rules");
    assert_int_equal(t.cf.errors, 14);
    pco_test_done(&t);

    pco_test_load(&t, "bounds.conf",
                  "worker_processes = 2000;\n"
                  "worker_shutdown_timeout = \"2h\";\n"
                  "worker_connections = 1000000;\n", NULL);
    assert_int_equal(t.cf.errors, 2);
    pco_test_has(&t, "bounds.conf:1: worker_processes: must be between 1 and 1024 (got 2000)");
    pco_test_has(&t, "bounds.conf:2: worker_shutdown_timeout: must be between 1s and 1h (got 2h)");
    pco_test_done(&t);
}

static void
pco_test_inherit(void **state)
{
    pco_test_load_t        t;
    pco_conf_node_t       *http, *s0, *s1, *r0, *r1;
    pco_test_http_conf_t  *hc;
    pco_test_ret_conf_t   *rc;
    const pco_conf_src_t  *src;

    pco_unused(state);
    /* servers written before http: walk order must not matter */
    pco_test_load(&t, "inherit.conf",
                  "servers = (\n"                                            /* 1 */
                  "  { names = [\"a\", \"b\"];\n"                            /* 2 */
                  "    client_max_body_size = \"16k\";\n"                    /* 3 */
                  "    listen = ( { address = \"*:80\"; },\n"                /* 4 */
                  "               { address = \"*:81\"; backlog = 7; } );\n" /* 5 */
                  "    routes = (\n"                                         /* 6 */
                  "      { return = { status = 204; }; },\n"                 /* 7 */
                  "      { keepalive_timeout = \"500ms\"; access = [\"x\", \"y\"]; }\n"
                  "    );\n"                                                 /* 9 */
                  "  },\n"                                                   /* 10 */
                  "  { server_tokens = true; tls = false; }\n"               /* 11 */
                  ");\n"                                                     /* 12 */
                  "http = {\n"                                               /* 13 */
                  "  keepalive_timeout = \"10s\";\n"                         /* 14 */
                  "  access = [\"allow all\"];\n"                            /* 15 */
                  "  tls = { certificate = \"c.pem\"; };\n"                  /* 16 */
                  "};\n", NULL);                                             /* 17 */
    assert_int_equal(t.rc, PCO_OK);
    assert_string_equal(t.errbuf, "");
    assert_int_equal(t.cf.root->nchildren, 3);
    s0 = pco_test_child(t.cf.root, T_SERVER, 0);
    s1 = pco_test_child(t.cf.root, T_SERVER, 1);
    http = pco_test_child(t.cf.root, T_HTTP, 0);
    assert_ptr_equal(t.cf.root->children[2], http);
    assert_int_equal(s0->index, 0);
    assert_int_equal(s1->index, 1);
    assert_ptr_equal(s0->inherit, http);
    assert_ptr_equal(s1->inherit, http);
    assert_ptr_equal(s0->parent, t.cf.root);
    assert_string_equal(s1->src.path, "servers[1]");
    assert_int_equal(s1->src.line, 11);
    assert_int_equal(s0->nchildren, 2);
    r0 = s0->children[0];
    r1 = s0->children[1];
    assert_ptr_equal(r0->inherit, s0);
    assert_string_equal(r1->src.path, "servers[0].routes[1]");
    assert_int_equal(r1->index, 1);

    /* three levels: http -> server -> route */
    hc = pco_conf_get(r0, &pco_test_http_module);
    assert_int_equal(hc->keepalive_timeout, 10000);
    assert_int_equal(hc->max_body, 16384);
    assert_int_equal(hc->access, 1);
    assert_int_equal(hc->merged, 3);
    assert_true(PCO_CONF_IS_SET(hc, pco_test_http_conf_t, keepalive_timeout));
    src = PCO_CONF_SRC(hc, pco_test_http_conf_t, keepalive_timeout);
    assert_int_equal(src->line, 14);
    assert_string_equal(src->path, "http.keepalive_timeout");
    src = PCO_CONF_SRC(hc, pco_test_http_conf_t, max_body);
    assert_int_equal(src->line, 3);
    assert_string_equal(src->path, "servers[0].client_max_body_size");
    assert_false(PCO_CONF_IS_SET(hc, pco_test_http_conf_t, server_tokens));
    src = PCO_CONF_SRC(hc, pco_test_http_conf_t, server_tokens); /* the node's start */
    assert_int_equal(src->line, 7);
    assert_string_equal(src->path, "servers[0].routes[0]");
    /* GROUP inherited with its struct size computed from its members */
    assert_string_equal((char *) pco_conf_get(s0, &pco_test_http_module) != NULL
                        ? (char *) ((pco_test_http_conf_t *)
                                    pco_conf_get(s0, &pco_test_http_module))->tls
                                    .certificate.data : "", "c.pem");

    hc = pco_conf_get(r1, &pco_test_http_module);
    assert_int_equal(hc->keepalive_timeout, 500);
    assert_int_equal(hc->access, 2);
    assert_int_equal(hc->max_body, 16384);

    /* NOINHERIT and route-only settings */
    rc = pco_conf_get(r0, &pco_test_ret_module);
    assert_true(PCO_CONF_IS_SET(rc, pco_test_ret_conf_t, ret));
    assert_int_equal(rc->ret.status, 204);
    assert_null(rc->ret.body.data);
    rc = pco_conf_get(r1, &pco_test_ret_module);
    assert_false(PCO_CONF_IS_SET(rc, pco_test_ret_conf_t, ret));
    assert_int_equal(rc->ret.status, 0);
    rc = pco_conf_get(s0, &pco_test_ret_module);
    assert_false(PCO_CONF_IS_SET(rc, pco_test_ret_conf_t, ret));

    /* lists of groups */
    hc = pco_conf_get(s0, &pco_test_http_module);
    assert_int_equal(hc->names.n, 2);
    assert_string_equal((char *) hc->names.elts[1].data, "b");
    assert_int_equal(hc->listen.n, 2);
    assert_string_equal((char *) ((pco_test_listen_t *) hc->listen.elts)[0].address.data,
                        "*:80");
    assert_int_equal(((pco_test_listen_t *) hc->listen.elts)[0].backlog, 511);
    assert_int_equal(((pco_test_listen_t *) hc->listen.elts)[1].backlog, 7);
    assert_int_equal(hc->listen.src[1].line, 5);
    assert_string_equal(hc->listen.src[1].path, "servers[0].listen[1]");

    /* FALSE_OFF */
    hc = pco_conf_get(s1, &pco_test_http_module);
    assert_true(hc->server_tokens);
    assert_true(PCO_CONF_IS_SET(hc, pco_test_http_conf_t, tls));
    assert_null(hc->tls.certificate.data);
    assert_int_equal(hc->keepalive_timeout, 10000);
    pco_test_done(&t);
}

static void
pco_test_lists_required(void **state)
{
    pco_test_load_t  t;

    pco_unused(state);
    pco_test_load(&t, "req.conf",
                  "servers = (\n"
                  "  { listen = ( { backlog = 5; }, 3, { address = \"x\"; bogus = 1; } );\n"
                  "    routes = ( { return = { body = \"b\"; }; } ); },\n"
                  "  { listen = { address = \"y\"; backlog = 0; }; tls = { key = \"k\"; }; }\n"
                  ");\n"
                  "http = 5;\n", NULL);
    assert_int_equal(t.rc, PCO_ERROR);
    pco_test_has(&t, "req.conf:2: servers[0].listen[0]: missing \"address\"");
    pco_test_has(&t, "req.conf:2: servers[0].listen[1]: expected a list of groups "
                 "( { ... }, ... ), got an integer");
    pco_test_has(&t, "req.conf:2: servers[0].listen[2].bogus: unknown setting \"bogus\"");
    pco_test_has(&t, "req.conf:3: servers[0].routes[0].return: missing \"status\"");
    pco_test_has(&t, "req.conf:4: servers[1].listen.backlog: must be between 1 and 65535 (got 0)");
    pco_test_has(&t, "req.conf:4: servers[1].tls: missing \"certificate\"");
    pco_test_has(&t, "req.conf:6: http: expected a group or a list of groups, "
                 "got an integer");
    assert_int_equal(t.cf.errors, 7);
    pco_test_done(&t);
}

static void
pco_test_include_and_g(void **state)
{
    pco_test_load_t        t;
    pco_test_core_conf_t  *cc;
    pco_test_http_conf_t  *hc;
    char                   cwd[512];

    pco_unused(state);
    pco_test_write("inc.conf", "worker_connections = 2048;\n"
                   "\n"
                   "pid = 7;\n");
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir("/"), 0);            /* includes are relative to the main file */
    pco_test_load(&t, "main.conf",
                  "daemon = false;\n"
                  "@include \"inc.conf\"\n"
                  "http = { keepalive_timeout = 5; client_max_body_size = \"2m\"; };\n",
                  NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(t.rc, PCO_ERROR);
    assert_int_equal(t.cf.errors, 1);
    pco_test_has(&t, "inc.conf:3: pid: expected a string, got an integer");
    pco_test_done(&t);

    /* a relative main file: included files are shown relative to the current directory */
    assert_int_equal(chdir(pco_test_dir), 0);
    assert_int_equal(mkdir("sub", 0700), 0);
    assert_int_equal(rename("main.conf", "sub/main.conf"), 0);
    assert_int_equal(rename("inc.conf", "sub/inc.conf"), 0);
    memset(&t, 0, sizeof(t));
    t.cf.pool = pco_pool_create(4096, 0);
    t.cf.err = open_memstream(&t.errbuf, &t.errlen);
    t.rc = pco_conf_load(&t.cf, "./sub/main.conf", NULL);
    fflush(t.cf.err);
    assert_string_equal(t.errbuf, "sub/inc.conf:3: pid: expected a string, got an integer\n");
    assert_int_equal(strncmp(t.cf.file, pco_test_dir, strlen(pco_test_dir)), 0);
    assert_string_equal(t.cf.file + strlen(pco_test_dir), "/sub/main.conf");
    assert_string_equal(t.cf.conf_dir + strlen(pco_test_dir), "/sub/");
    pco_test_done(&t);
    assert_int_equal(rename("sub/main.conf", "main.conf"), 0);
    assert_int_equal(rename("sub/inc.conf", "inc.conf"), 0);
    assert_int_equal(chdir(cwd), 0);

    pco_test_write("inc.conf", "worker_connections = 2048;\n");
    pco_test_load(&t, "main.conf", NULL,
                  "daemon = true;\n"
                  "worker_connections = 4096; http = { keepalive_timeout = \"1m\"; };\n"
                  "error_log = { level = \"info\"; }; servers = ( { server_tokens = true; } );");
    assert_int_equal(t.rc, PCO_OK);
    assert_string_equal(t.errbuf, "");
    cc = pco_conf_get(t.cf.root, &pco_test_core_module);
    assert_true(cc->daemon);
    assert_int_equal(cc->worker_connections, 4096);
    assert_int_equal(cc->error_log.level, 3);
    assert_string_equal((char *) cc->error_log.path.data, "logs/error.log");
    assert_string_equal(PCO_CONF_SRC(cc, pco_test_core_conf_t, worker_connections)->file, "-g");
    assert_int_equal(PCO_CONF_SRC(cc, pco_test_core_conf_t, worker_connections)->line, 2);
    hc = pco_conf_get(pco_test_child(t.cf.root, T_HTTP, 0), &pco_test_http_module);
    assert_int_equal(hc->keepalive_timeout, 60000);     /* -g value replaces */
    assert_int_equal(hc->max_body, 2 * 1048576);        /* groups merge */
    hc = pco_conf_get(pco_test_child(t.cf.root, T_SERVER, 0), &pco_test_http_module);
    assert_true(hc->server_tokens);
    assert_int_equal(hc->keepalive_timeout, 60000);
    pco_test_done(&t);

    /* an error in a -g value points at -g */
    pco_test_load(&t, "main.conf", NULL, "http = { keepalive_timeout = true; };");
    assert_int_equal(t.cf.errors, 1);
    assert_non_null(strstr(t.errbuf, "-g:1: http.keepalive_timeout: expected a duration"));
    pco_test_done(&t);

    /* syntax errors */
    pco_test_load(&t, "main.conf", NULL, "daemon = ;");
    assert_int_equal(t.rc, PCO_ERROR);
    assert_string_equal(t.errbuf, "-g:1: syntax error in `daemon = ;`: `daemon =` without a "
                        "value\n");
    pco_test_done(&t);
    pco_test_load(&t, "syntax.conf", "daemon = true;\n\nhttp = { x = };\n", NULL);
    assert_int_equal(t.rc, PCO_ERROR);
    pco_test_has(&t, "syntax.conf:3: syntax error in `http = { x = };`: `x =` without a "
                 "value");
    pco_test_done(&t);
    pco_test_load(&t, "missing.conf.none", NULL, NULL);
    assert_int_equal(t.rc, PCO_ERROR);
    assert_non_null(strstr(t.errbuf, "missing.conf.none: cannot read the configuration file"));
    pco_test_done(&t);
}

/* noinline: gcc -O2 otherwise mistakes the memstream buffer for a dangling local */
__attribute__((noinline)) static char *
pco_test_dump(pco_conf_t *cf)
{
    char   *buf = NULL;
    size_t  len = 0;
    FILE   *f = open_memstream(&buf, &len);

    assert_non_null(f);
    pco_conf_dump(cf, f);
    fclose(f);
    return buf;
}

static void
pco_test_dump_roundtrip(void **state)
{
    pco_test_load_t  t;
    char            *d1, *d2, *p;

    pco_unused(state);
    pco_test_load(&t, "dump.conf",
                  "worker_processes = 4; shared_memory = 1000; pid = \"a\\\"b\\\\c\\n\";\n"
                  "worker_shutdown_timeout = \"1m30s\";\n"
                  "servers = (\n"
                  "  { names = [\"a\", \"b\"]; client_max_body_size = \"16k\";\n"
                  "    ports = ( 1, 5000000000L );\n"
                  "    listen = ( { address = \"*:80\"; }, { address = \"*:81\"; } );\n"
                  "    routes = ( { return = { status = 204; body = \"x\"; }; },\n"
                  "               { keepalive_timeout = \"500ms\"; access = [\"x\", \"y\"]; } );\n"
                  "  },\n"
                  "  { server_tokens = true; tls = false; }\n"
                  ");\n"
                  "http = { tls = { certificate = \"c.pem\"; }; };\n", NULL);
    assert_string_equal(t.errbuf, "");
    assert_int_equal(t.rc, PCO_OK);
    d1 = pco_test_dump(&t.cf);
    pco_test_done(&t);
    assert_non_null(strstr(d1, "worker_shutdown_timeout = \"90s\";"));
    assert_non_null(strstr(d1, "shared_memory = 1000;"));
    assert_non_null(strstr(d1, "client_max_body_size = \"16k\";"));
    assert_non_null(strstr(d1, "keepalive_timeout = \"500ms\";"));
    assert_non_null(strstr(d1, "keepalive_timeout = \"75s\";"));
    assert_non_null(strstr(d1, "pid = \"a\\\"b\\\\c\\n\";"));
    assert_non_null(strstr(d1, "ports = ( 1, 5000000000L );"));
    assert_non_null(strstr(d1, "access = [ \"x\", \"y\" ];"));
    assert_non_null(strstr(d1, "tls = false;"));
    assert_non_null(strstr(d1, "\n# error_log = {\n#   path = \"logs/error.log\";\n"
                                "#   level = \"notice\";\n# };  (not set)\n"));

    /* the dump loads again and dumps the same (apart from the file name line) */
    p = strchr(d1, '\n');
    assert_non_null(p);
    pco_test_load(&t, "dump2.conf", p + 1, NULL);
    if (t.rc != PCO_OK) {
        fail_msg("reload failed:\n%s\n---\n%s", t.errbuf, d1);
    }
    d2 = pco_test_dump(&t.cf);
    pco_test_done(&t);
    if (getenv("PCO_TEST_SHOW_DUMP") != NULL) {
        fputs(d2, stderr);
    }
    assert_string_equal(strchr(d2, '\n'), strchr(d1, '\n'));
    free(d1);
    free(d2);

    /* and -g applies on top: the result still loads */
    pco_test_load(&t, "empty.conf", "", "worker_processes = \"auto\";");
    d1 = pco_test_dump(&t.cf);
    assert_non_null(strstr(d1, "worker_processes = \"auto\";"));
    assert_null(strstr(d1, "pid ="));
    assert_null(strstr(d1, "http ="));
    pco_test_done(&t);
    free(d1);
}

static void
pco_test_big(void **state)
{
    pco_test_load_t  t;
    FILE            *f;
    char             path[512];
    int              i, j;

    pco_unused(state);
    snprintf(path, sizeof(path), "%s/big.conf", pco_test_dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("http = { keepalive_timeout = 3; };\nservers = (\n", f);
    for (i = 0; i < 100; i++) {
        fprintf(f, "%s{ names = \"s%d\"; routes = (\n", i ? "," : "", i);
        for (j = 0; j < 20; j++) {
            fprintf(f, "%s{ return = { status = %d; }; }\n", j ? "," : "", 200 + j);
        }
        fputs(" ); }\n", f);
    }
    fputs(");\n", f);
    fclose(f);
    pco_test_load(&t, "big.conf", NULL, NULL);
    assert_int_equal(t.rc, PCO_OK);
    assert_int_equal(t.cf.root->nchildren, 101);
    assert_int_equal(t.cf.root->children[99]->nchildren, 20);
    assert_int_equal(((pco_test_http_conf_t *) pco_conf_get(
                         t.cf.root->children[99]->children[19], &pco_test_http_module))
                     ->keepalive_timeout, 3000);
    pco_test_done(&t);
}

static const pco_setting_t pco_test_bad_settings[] = {
    { .name = "bad_default", .scopes = T_HSR, .type = PCO_CONF_SIZE, .offset = 0,
      .def = "\"12q\"", .help = "broken table" },
    PCO_SETTINGS_END
};

static void
pco_test_reporting(void **state)
{
    pco_test_load_t        t;
    pco_conf_src_t         src = { "conf/x.conf", 41, "servers[0].routes[2].proxy.upstream" };
    pco_test_core_conf_t  *cc;

    pco_unused(state);
    pco_test_load(&t, "rep.conf", "daemon = false;\nservers = ( { }, { } );\n", NULL);
    assert_int_equal(t.rc, PCO_OK);
    pco_conf_error_src(&t.cf, &src, "no upstream named \"%s\" (did you mean \"%s\"?)", "ap",
                       "app");
    pco_conf_warn_src(&t.cf, &src, "shadowed by route %d", 1);
    cc = pco_conf_get(t.cf.root, &pco_test_core_module);
    pco_conf_warn_src(&t.cf, PCO_CONF_SRC(cc, pco_test_core_conf_t, daemon), "odd");
    pco_conf_error(&t.cf, config_lookup(&t.cf.config, "servers.[1]"), "duplicate");
    fflush(t.cf.err);
    assert_int_equal(t.cf.errors, 2);
    assert_int_equal(t.cf.warnings, 2);
    pco_test_has(&t, "rep.conf:1: warning: daemon: odd");
    pco_test_has(&t, "rep.conf:2: servers[1]: duplicate");
    assert_string_equal(pco_test_upto(strstr(t.errbuf, "conf/x.conf"), "/tmp"),
                        "conf/x.conf:41: servers[0].routes[2].proxy.upstream: no upstream named "
                        "\"ap\" (did you mean \"app\"?)\n"
                        "conf/x.conf:41: warning: servers[0].routes[2].proxy.upstream: "
                        "shadowed by route 1\n");
    pco_test_done(&t);

    /* a broken default in a module table is reported once, not per node */
    pco_test_nothing_module.settings = pco_test_bad_settings;
    pco_test_nothing_module.conf_size = sizeof(int64_t);
    pco_test_load(&t, "rep.conf", NULL, NULL);
    pco_test_nothing_module.settings = NULL;
    pco_test_nothing_module.conf_size = 0;
    assert_int_equal(t.rc, PCO_ERROR);
    assert_int_equal(t.cf.errors, 1);
    assert_string_equal(t.errbuf, "(default):1: bad_default: invalid size \"12q\" (expected a "
                        "number with an optional k, m or g suffix)\n");
    pco_test_done(&t);
}

static void
pco_test_misc(void **state)
{
    pco_conf_t  cf;
    char       *buf = NULL;
    size_t      len = 0;
    FILE       *f;

    pco_unused(state);
    memset(&cf, 0, sizeof(cf));
    cf.pool = pco_pool_create(4096, 0);
    cf.prefix = "/usr/local/portico/";
    assert_string_equal(pco_conf_full_path(&cf, "/etc/x"), "/etc/x");
    assert_string_equal(pco_conf_full_path(&cf, "logs/a.log"), "/usr/local/portico/logs/a.log");
    pco_pool_destroy(cf.pool);

    f = open_memstream(&buf, &len);
    pco_conf_write_docs(f);
    fclose(f);
    assert_non_null(strstr(buf, "\n## core\n\n| setting | scopes | type | default | help |\n"));
    assert_non_null(strstr(buf, "| `worker_connections` | top | int 16..1000000 | `1024` | "
                                "connections \\| per worker |\n"));
    assert_non_null(strstr(buf, "| `keepalive_timeout` | http, servers, routes | duration | "
                                "`\"75s\"` | keep-alive |\n"));
    assert_non_null(strstr(buf, "| `error_log.level` | (member) | enum: `error`, `warn`, "
                                "`notice`, `info` | `\"notice\"` | level |\n"));
    assert_null(strstr(buf, "## nothing"));
    free(buf);
}

/* libconfig 1.5 keeps only the low 32 bits of an integer literal without L: the loader gives
 * the written value back (files, includes, -g, arrays, hex), so bounds see it. */
static void
pco_test_wide_ints(void **state)
{
    pco_test_load_t        t;
    pco_test_http_conf_t  *hc;

    pco_unused(state);
    pco_test_write("wide_inc.conf", "# included\nworker_processes = 4294967297;\n");
    pco_test_load(&t, "wide.conf",
                  "worker_connections = 4294967312; # 16 in 32 bits\n"
                  "pid = \"4294967296\"; /* 4294967296 in a comment\n"
                  "  5000000000 */ http = { client_max_body_size = 0; ports = 4294967296; };\n"
                  "@include \"wide_inc.conf\"\n"
                  "servers = ( { listen = ( { address = \"a\"; backlog = -4294967295; } );\n"
                  "  ports = [80, 0x100000050, 4294967296]; client_max_body_size = 1.5e3; } );\n",
                  NULL);
    assert_int_equal(t.rc, PCO_ERROR);
    pco_test_has(&t, "wide.conf:1: worker_connections: must be between 16 and 1000000 "
                 "(got 4294967312)");
    pco_test_has(&t, "wide_inc.conf:2: worker_processes: must be between 1 and 1024 "
                 "(got 4294967297)");
    pco_test_has(&t, "wide.conf:5: servers[0].listen[0].backlog: must be between 1 and 65535 "
                 "(got -4294967295)");
    pco_test_has(&t, "wide.conf:6: servers[0].client_max_body_size: expected a size such as "
                 "\"16k\" or 1024, got a float");
    assert_int_equal(t.cf.errors, 4);
    hc = pco_conf_get(pco_test_child(t.cf.root, T_HTTP, 0), &pco_test_http_module);
    assert_int_equal(hc->max_body, 0);          /* same line, another name: untouched */
    assert_int_equal(hc->ports.n, 1);
    assert_true(hc->ports.elts[0] == 4294967296LL);
    hc = pco_conf_get(pco_test_child(t.cf.root, T_SERVER, 0), &pco_test_http_module);
    assert_int_equal(hc->ports.n, 3);
    assert_int_equal(hc->ports.elts[0], 80);
    assert_true(hc->ports.elts[1] == 0x100000050LL);
    assert_true(hc->ports.elts[2] == 4294967296LL);
    pco_test_done(&t);

    /* -g text; beyond 64 bits saturates (and is out of any range) */
    pco_test_load(&t, "wide2.conf", "daemon = false;\n",
                  "worker_connections = 99999999999999999999;\n"
                  "worker_processes = -5000000000;");
    assert_int_equal(t.rc, PCO_ERROR);
    assert_non_null(strstr(t.errbuf, "-g:1: worker_connections: must be between 16 and "
                                     "1000000 (got 9223372036854775807)\n"));
    assert_non_null(strstr(t.errbuf, "-g:2: worker_processes: must be between 1 and 1024 "
                                     "(got -5000000000)\n"));
    assert_int_equal(t.cf.errors, 2);
    pco_test_done(&t);
}

/* Header text from the configuration: PCO_CONF_NOCTL and PCO_CONF_TOKEN. */
typedef struct {
    pco_str_t       name;
    pco_str_t       value;
    pco_str_list_t  values;
} pco_test_text_conf_t;

static const pco_setting_t pco_test_text_settings[] = {
    { .name = "hname", .scopes = T_HSR, .type = PCO_CONF_STRING, .flags = PCO_CONF_TOKEN,
      .offset = offsetof(pco_test_text_conf_t, name), .help = "a header name" },
    { .name = "hvalue", .scopes = T_HSR, .type = PCO_CONF_STRING, .flags = PCO_CONF_NOCTL,
      .offset = offsetof(pco_test_text_conf_t, value), .help = "a header value" },
    { .name = "hvalues", .scopes = T_HSR, .type = PCO_CONF_STRLIST, .flags = PCO_CONF_NOCTL,
      .offset = offsetof(pco_test_text_conf_t, values), .help = "header values" },
    PCO_SETTINGS_END
};

static void
pco_test_text_flags(void **state)
{
    pco_test_load_t        t;
    pco_test_text_conf_t  *tc;

    pco_unused(state);
    pco_test_nothing_module.settings = pco_test_text_settings;
    pco_test_nothing_module.conf_size = sizeof(pco_test_text_conf_t);
    pco_test_load(&t, "text.conf",
                  "http = { hname = \"X-Ok_1.2!#$%&'*+^`|~\"; hvalue = \"a\\tb \\\"c\\\" \\x80\"; };\n"
                  "servers = ( { hname = \"X Bad\"; },\n"
                  "  { hvalue = \"/x\\r\\nSet-Cookie: injected=1\"; },\n"
                  "  { hvalues = [\"ok\", \"a\\nb\"]; hname = \"\"; },\n"
                  "  { hvalue = \"del\\x7f\"; hname = \"X:\"; } );\n", NULL);
    pco_test_nothing_module.settings = NULL;
    pco_test_nothing_module.conf_size = 0;
    assert_int_equal(t.rc, PCO_ERROR);
    pco_test_has(&t, "text.conf:2: servers[0].hname: invalid header name \"X Bad\" (expected a "
                 "token: letters, digits and !#$%&'*+-.^_`|~)");
    pco_test_has(&t, "text.conf:3: servers[1].hvalue: control character 0x0d (only tab is "
                 "allowed: this text goes into a header line, which CR or LF would split)");
    pco_test_has(&t, "text.conf:4: servers[2].hvalues[1]: control character 0x0a (only tab is "
                 "allowed: this text goes into a header line, which CR or LF would split)");
    pco_test_has(&t, "text.conf:4: servers[2].hname: invalid header name \"\" (expected a "
                 "token: letters, digits and !#$%&'*+-.^_`|~)");
    pco_test_has(&t, "text.conf:5: servers[3].hvalue: control character 0x7f (only tab is "
                 "allowed: this text goes into a header line, which CR or LF would split)");
    pco_test_has(&t, "text.conf:5: servers[3].hname: invalid header name \"X:\" (expected a "
                 "token: letters, digits and !#$%&'*+-.^_`|~)");
    assert_int_equal(t.cf.errors, 6);
    tc = pco_conf_get(pco_test_child(t.cf.root, T_HTTP, 0), &pco_test_nothing_module);
    assert_string_equal((char *) tc->value.data, "a\tb \"c\" \x80");
    pco_test_done(&t);

    assert_false(pco_str_has_ctl((const u_char *) "a\tb\x80\xff", 5));
    assert_true(pco_str_has_ctl((const u_char *) "a\0b", 3));
    assert_true(pco_str_has_ctl((const u_char *) "\r", 1));
    assert_true(pco_str_is_token((const u_char *) "Set-Cookie", 10));
    assert_false(pco_str_is_token((const u_char *) "Set\0Cookie", 10));
    assert_false(pco_str_is_token((const u_char *) "a\x80", 2));
    assert_false(pco_str_is_token((const u_char *) "", 0));
}

/* pco_conf_check_range: a module's own value (a size inside a string) against its bounds. */
static void
pco_test_range(void **state)
{
    pco_conf_t       cf;
    pco_conf_src_t   src = { "conf/x.conf", 7, "servers[0].tls" };
    char            *buf = NULL;
    size_t           len = 0;
    int64_t          v;

    pco_unused(state);
    memset(&cf, 0, sizeof(cf));
    cf.err = open_memstream(&buf, &len);
    assert_int_equal(pco_conf_check_range(&cf, &src, "tls.session_cache", PCO_CONF_SIZE, 1,
                                          PCO_CONF_ZONE_MIN, PCO_CONF_ZONE_MAX), PCO_ERROR);
    assert_int_equal(pco_parse_size("100000g", &v), PCO_OK);
    assert_int_equal(pco_conf_check_range(&cf, &src, "tls.session_cache", PCO_CONF_SIZE, v,
                                          PCO_CONF_ZONE_MIN, PCO_CONF_ZONE_MAX), PCO_ERROR);
    assert_int_equal(pco_conf_check_range(&cf, &src, "tls.session_cache", PCO_CONF_SIZE,
                                          PCO_CONF_ZONE_MAX, PCO_CONF_ZONE_MIN,
                                          PCO_CONF_ZONE_MAX), PCO_OK);
    assert_int_equal(pco_conf_check_range(&cf, &src, "t", PCO_CONF_DURATION, 90000, 1,
                                          PCO_CONF_DAY), PCO_OK);
    assert_int_equal(pco_conf_check_range(&cf, &src, "t", PCO_CONF_DURATION, 0, 1,
                                          PCO_CONF_DAY), PCO_ERROR);
    fclose(cf.err);
    assert_int_equal(cf.errors, 3);
    assert_string_equal(buf,
        "conf/x.conf:7: servers[0].tls: tls.session_cache: must be between 64k and 64g (got 1)\n"
        "conf/x.conf:7: servers[0].tls: tls.session_cache: must be between 64k and 64g "
        "(got 100000g)\n"
        "conf/x.conf:7: servers[0].tls: t: must be between 1ms and 1d (got 0s)\n");
    free(buf);

    /* units that would overflow 64 bits are refused, not wrapped */
    assert_int_equal(pco_parse_size("9007199254740992k", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("8589934592g", &v), PCO_ERROR);
    assert_int_equal(pco_parse_size("8589934591g", &v), PCO_OK);
    assert_int_equal(pco_parse_size("99999999999999999999", &v), PCO_ERROR);
    {
        pco_msec_t  d;

        assert_int_equal(pco_parse_duration("106751991168d", &d), PCO_ERROR);
        assert_int_equal(pco_parse_duration("106751991d", &d), PCO_OK);
        assert_int_equal(pco_parse_duration("9223372036854775807ms1ms", &d), PCO_ERROR);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_units),
        cmocka_unit_test(pco_test_defaults),
        cmocka_unit_test(pco_test_unknown),
        cmocka_unit_test(pco_test_types_bounds),
        cmocka_unit_test(pco_test_inherit),
        cmocka_unit_test(pco_test_lists_required),
        cmocka_unit_test(pco_test_include_and_g),
        cmocka_unit_test(pco_test_dump_roundtrip),
        cmocka_unit_test(pco_test_big),
        cmocka_unit_test(pco_test_reporting),
        cmocka_unit_test(pco_test_misc),
        cmocka_unit_test(pco_test_wide_ints),
        cmocka_unit_test(pco_test_text_flags),
        cmocka_unit_test(pco_test_range),
    };
    int  rc;

    snprintf(pco_test_dir, sizeof(pco_test_dir), "/tmp/pco_test_conf.XXXXXX");
    if (mkdtemp(pco_test_dir) == NULL || pco_modules_init() != PCO_OK) {
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0) {
        char  cmd[600];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pco_test_dir);
        (void) system(cmd);
    }
    return rc;
}
