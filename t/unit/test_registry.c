/*
 * test_registry.c: the registrations modules make at conf_done and the helpers exported
 * once. A real cycle is built from a small configuration (test mode: no side effects); then
 * each registration function is called as a module would: the failures report one line
 * `FILE:0: module "NAME": ...` naming the module and what was registered (a bad phase, the
 * CONTENT phase, a missing function, a second owner of the TLS listener hooks, a variable
 * without a getter, a ninth try observer), the successes report nothing; core's own
 * connection-freed hook is a registration of the cycle (test_listen.c runs such hooks);
 * pco_upstream_suggest gives the did-you-mean over the upstream names; pco_psprintf, the
 * case-insensitive comparisons and the token test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "pco_core.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_string.h"

/* ---- helpers that need no cycle ---- */

static void
pco_test_psprintf(void **state)
{
    pco_pool_t  *pool = pco_pool_create(4096, 0);
    pco_str_t    s;
    char         big[300];

    (void) state;
    s = pco_psprintf(pool, "%lld.%03d", 12LL, 7);
    assert_int_equal(s.len, 6);
    assert_string_equal((char *) s.data, "12.007");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = pco_psprintf(pool, "<%s>", big);          /* longer than the first try's buffer */
    assert_int_equal(s.len, sizeof(big) + 1);
    assert_int_equal(s.data[0], '<');
    assert_int_equal(s.data[s.len - 1], '>');
    assert_int_equal(s.data[s.len], '\0');
    s = pco_psprintf(pool, "%s", "");
    assert_int_equal(s.len, 0);
    assert_non_null(s.data);
    pco_pool_destroy(pool);
}

static void
pco_test_caseeq(void **state)
{
    pco_str_t  a = pco_string("Content-Length"), b = pco_string("content-LENGTH");
    pco_str_t  c = pco_string("Content-Lengths"), z1 = { 3, (u_char *) "a\0b" };
    pco_str_t  z2 = { 3, (u_char *) "a\0c" };

    (void) state;
    assert_true(pco_str_caseeq(&a, &b));
    assert_false(pco_str_caseeq(&a, &c));
    assert_true(pco_str_caseeq_lit(&b, "CONTENT-length"));
    assert_false(pco_str_caseeq_lit(&b, "content-len"));
    assert_false(pco_str_caseeq(&z1, &z2));        /* every byte counts, NUL too */
    assert_true(pco_mem_caseeq((const u_char *) "@[`{", (const u_char *) "@[`{", 4));
    assert_false(pco_mem_caseeq((const u_char *) "@", (const u_char *) "`", 1));
    assert_true(pco_is_tchar('!') && pco_is_tchar('~') && pco_is_tchar('Z'));
    assert_false(pco_is_tchar(':') || pco_is_tchar(' ') || pco_is_tchar('\0'));
    assert_true(pco_str_is_token((const u_char *) "X-Real_IP", 9));
    assert_false(pco_str_is_token((const u_char *) "X Real", 6));
    assert_false(pco_str_is_token((const u_char *) "", 0));
}

#if defined(PCO_HAVE_HTTP) && defined(PCO_HAVE_RETURN) && defined(PCO_HAVE_UPSTREAM) \
    && defined(PCO_HAVE_PROXY)

#include "pco_http_conn.h"
#include "pco_upstream.h"

static char          pco_test_dir[] = "/tmp/pco_test_registry_XXXXXX";
static char          pco_test_out[2048];
static FILE         *pco_test_err;
static pco_module_t  pco_test_mod = { .name = "echo" };

static pco_cycle_t *
pco_test_cycle(void)
{
    char          prefix[64], conf[96];
    FILE         *f, *err;
    pco_cycle_t  *cycle;

    snprintf(prefix, sizeof(prefix), "%s/", pco_test_dir);
    snprintf(conf, sizeof(conf), "%s/portico.conf", pco_test_dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fputs("pid = \"test.pid\";\n"
          "upstreams = ( { name = \"backend\"; servers = ( { address = \"127.0.0.1:9\"; } ); },\n"
          "              { name = \"images\"; servers = ( { address = \"127.0.0.1:9\"; } ); } );\n"
          "servers = ( { listen = [\"127.0.0.1:1\"];\n"
          "  routes = ( { match = { path = \"/p\"; }; proxy = { upstream = \"backend\"; }; },\n"
          "             { match = { path_prefix = \"/\"; }; return = { status = 204; }; } ); } );\n",
          f);
    fclose(f);
    err = fopen("/dev/null", "w");
    assert_non_null(err);
    cycle = pco_cycle_create(prefix, conf, NULL, true, err);
    fclose(err);
    assert_non_null(cycle);
    return cycle;
}

/* Points the cycle's configuration errors at a fresh buffer, as module "echo". */
static pco_conf_t *
pco_test_cf(pco_cycle_t *cycle)
{
    pco_conf_t  *cf = &cycle->conf;

    if (pco_test_err != NULL) {
        fclose(pco_test_err);
    }
    memset(pco_test_out, 0, sizeof(pco_test_out));
    pco_test_err = fmemopen(pco_test_out, sizeof(pco_test_out) - 1, "w");
    assert_non_null(pco_test_err);
    setvbuf(pco_test_err, NULL, _IONBF, 0);
    cf->err = pco_test_err;
    cf->errors = 0;
    cf->file = "t.conf";
    cf->module = &pco_test_mod;
    return cf;
}

static int
pco_test_handler(pco_http_request_t *r)
{
    (void) r;
    return PCO_DECLINED;
}

static int
pco_test_var(pco_http_request_t *r, const pco_str_t *name, uintptr_t data, pco_str_t *v)
{
    (void) r;
    (void) name;
    (void) data;
    (void) v;
    return PCO_DECLINED;
}

static void
pco_test_tls_hs(pco_connection_t *c)
{
    (void) c;
}

static void
pco_test_try(pco_http_request_t *r, pco_upstream_server_t *s, int status, int64_t ms)
{
    (void) r;
    (void) s;
    (void) status;
    (void) ms;
}

static void
pco_test_http_regs(void **state)
{
    pco_cycle_t                 *cycle;
    pco_conf_t                  *cf;
    pco_http_route_t           **routes;
    const pco_http_tls_hooks_t   hooks = { pco_test_tls_hs, pco_test_tls_hs };

    (void) state;
    assert_non_null(mkdtemp(pco_test_dir));
    assert_int_equal(pco_modules_init(), PCO_OK);
    cycle = pco_test_cycle();

    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_add_handler(cf, cycle, PCO_HTTP_ACCESS_PHASE, 10, &pco_test_mod,
                                          pco_test_handler), PCO_OK);
    assert_int_equal(pco_http_variable_add(cf, cycle, "echo_x", pco_test_var, 0, 0), PCO_OK);
    assert_int_equal(cf->errors, 0);
    assert_string_equal(pco_test_out, "");

    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_add_handler(cf, cycle, 9, 10, &pco_test_mod, pco_test_handler),
                     PCO_ERROR);
    assert_int_equal(cf->errors, 1);
    assert_string_equal(pco_test_out, "t.conf:0: module \"echo\": cannot register a handler for "
                        "phase 9: no such phase\n");

    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_add_handler(cf, cycle, PCO_HTTP_CONTENT_PHASE, 0, &pco_test_mod,
                                          pco_test_handler), PCO_ERROR);
    assert_non_null(strstr(pco_test_out, "module \"echo\": cannot register a handler for phase 4: "
                           "the CONTENT phase runs the route's action only"));

    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_add_body_filter(cf, cycle, 300, NULL, NULL), PCO_ERROR);
    assert_int_equal(cf->errors, 1);
    assert_string_equal(pco_test_out, "t.conf:0: module \"echo\": cannot register body filter "
                        "priority 300: no function given\n");

    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_add_handler(cf, cycle, PCO_HTTP_LOG_PHASE, 5, NULL, NULL),
                     PCO_ERROR);
    assert_string_equal(pco_test_out, "t.conf:0: module \"echo\": cannot register LOG-phase "
                        "handler priority 5: no function given\n");

    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_variable_add(cf, cycle, "x", NULL, 0, 0), PCO_ERROR);
    assert_int_equal(cf->errors, 1);
    assert_string_equal(pco_test_out, "t.conf:0: module \"echo\": cannot register variable "
                        "\"$x\": no getter given\n");

    /* the route already has its action: the existing message, once */
    cf = pco_test_cf(cycle);
    assert_true(pco_http_routes(cycle, &routes) == 2);
    assert_int_equal(pco_http_route_set_action(cf, routes[1], "echo", pco_test_handler, NULL),
                     PCO_ERROR);
    assert_int_equal(cf->errors, 1);
    assert_non_null(strstr(pco_test_out, "route has both \"return\" and \"echo\""));

#ifdef PCO_HAVE_TLS
    /* the tls module owns the TLS listener hooks of this cycle */
    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_tls_register(cf, cycle, &pco_test_mod, &hooks), PCO_ERROR);
    assert_string_equal(pco_test_out, "t.conf:0: module \"echo\": cannot register the TLS "
                        "listener hooks: module \"tls\" already did (one module owns them)\n");
#else
    cf = pco_test_cf(cycle);
    assert_int_equal(pco_http_tls_register(cf, cycle, &pco_test_mod, &hooks), PCO_OK);
#endif

    /* try observers: 8 at most; the 9th is refused with a reason */
    cf = pco_test_cf(cycle);
    {
        int  i, ok = 0;

        for (i = 0; i < 9; i++) {
            if (pco_upstream_try_observer_add(cf, cycle, &pco_test_mod, pco_test_try)
                != PCO_OK)
            {
                break;
            }
            ok++;
        }
        assert_true(ok >= 7 && ok <= 8);        /* status may have registered one */
    }
    assert_int_equal(cf->errors, 1);
    assert_string_equal(pco_test_out, "t.conf:0: module \"echo\": cannot register an upstream "
                        "try observer: too many observers (8 at most)\n");

    assert_string_equal(pco_upstream_suggest(cycle, "backnd"), "backend");
    assert_string_equal(pco_upstream_suggest(cycle, "image"), "images");
    assert_null(pco_upstream_suggest(cycle, "zzzzzz"));

    /* core's own connection-freed hook is a registration of this cycle */
    assert_int_equal(cycle->conn_freed.nelts, 1);

    fclose(pco_test_err);
    pco_test_err = NULL;
    cycle->conf.err = stderr;
    pco_cycle_destroy(cycle);
    {
        char  path[96];

        snprintf(path, sizeof(path), "%s/portico.conf", pco_test_dir);
        unlink(path);
        rmdir(pco_test_dir);
    }
}

#define PCO_TEST_HTTP_REGS  cmocka_unit_test(pco_test_http_regs),
#else
#define PCO_TEST_HTTP_REGS
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_psprintf),
        cmocka_unit_test(pco_test_caseeq),
        PCO_TEST_HTTP_REGS
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
