/*
 * test_conf_regress.c: configurations that once crashed the loader (found by the conf fuzz
 * target, t/fuzz/fuzz_conf.c). Each is checked the way `portico -t` checks it
 * (pco_cycle_create, test_only) and must be rejected with exactly the expected messages,
 * not crash.
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
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_time.h"

static char  pco_t_dir[] = "/tmp/pco_test_conf_regress_XXXXXX";

/* Checks text as conf/t.conf under a fresh prefix; returns what was printed (malloc'ed),
 * with the prefix replaced by "P/". *loaded tells whether the configuration was accepted. */
static char *
pco_t_check(const char *text, bool *loaded)
{
    char          prefix[64], conf[96], *out = NULL, *p, *q;
    size_t        size = 0, plen;
    pco_cycle_t  *cycle;
    FILE         *f, *err;

    snprintf(prefix, sizeof(prefix), "%s/", pco_t_dir);
    snprintf(conf, sizeof(conf), "%st.conf", prefix);
    f = fopen(conf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    err = open_memstream(&out, &size);
    assert_non_null(err);
    cycle = pco_cycle_create(prefix, conf, NULL, true, err);
    *loaded = cycle != NULL;
    pco_cycle_destroy(cycle);
    fclose(err);
    unlink(conf);
    /* P/ for the prefix, so the expected text does not depend on the temporary name */
    plen = strlen(prefix);
    for (p = out, q = out; *p != '\0'; ) {
        if (strncmp(p, prefix, plen) == 0) {
            memcpy(q, "P/", 2);
            q += 2;
            p += plen;
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
    return out;
}

/* A server, so that the only errors are the upstream's. */
#define PCO_T_SERVER "servers = ( { listen = [\"127.0.0.1:1\"]; routes = ( { match = { " \
                     "path = \"/\"; }; return = { status = 200; }; } ); } );\n"

/* An upstream server without its required address: reported, then resolved as NULL
 * (strncmp(NULL, "unix:") in pco_parse_addr: SIGSEGV in portico -t and in a reload). */
static void
pco_t_upstream_server_no_address(void **state)
{
    char  *out;
    bool   loaded;

    pco_unused(state);
    out = pco_t_check("upstreams = ( { name = \"u\"; servers = ( { weight = 2; } ); } );\n"
                      PCO_T_SERVER, &loaded);
    assert_false(loaded);
    assert_string_equal(out, "P/t.conf:1: upstreams[0].servers[0]: missing \"address\"\n");
    free(out);
    out = pco_t_check("upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; },"
                      " { ddaress = \"x\"; } ); } );\n" PCO_T_SERVER, &loaded);
    assert_false(loaded);
    assert_string_equal(out, "P/t.conf:1: upstreams[0].servers[1].ddaress: unknown setting "
                        "\"ddaress\" (did you mean \"address\"?)\n"
                        "P/t.conf:1: upstreams[0].servers[1]: missing \"address\"\n");
    free(out);
}

static int
pco_t_setup(void **state)
{
    pco_unused(state);
    pco_time_init();
    pco_log_init_stderr();
    assert_int_equal(pco_modules_init(), PCO_OK);
    assert_non_null(mkdtemp(pco_t_dir));
    return 0;
}

static int
pco_t_teardown(void **state)
{
    pco_unused(state);
    rmdir(pco_t_dir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_upstream_server_no_address),
    };

    return cmocka_run_group_tests(tests, pco_t_setup, pco_t_teardown);
}
