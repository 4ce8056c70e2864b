/*
 * test_syslog.c: core/pco_syslog.c without sockets: the RFC 5424 formatter (PRI, UTC
 * timestamp with milliseconds, NILVALUE hostname, truncation to the buffer) and the target
 * parser (unix and UDP servers, IPv6, facilities, severities, tags, and every error).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <arpa/inet.h>
#include "pco_syslog.h"

static void
pco_test_format(void **state)
{
    u_char  buf[256];
    size_t  n;
    const char *want;

    (void) state;
    /* 2026-11-28T14:33:53Z = 1795876433 */
    n = pco_syslog_format(buf, sizeof(buf), 23, 6, 1795876433, 42, "edge1", "portico", 1234,
                          "access", (const u_char *) "GET / 200", 9);
    want = "<190>1 2026-11-28T14:33:53.042Z edge1 portico 1234 access - GET / 200";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);

    n = pco_syslog_format(buf, sizeof(buf), 3, 3, 0, 999, "-", "p", 1, "error",
                          (const u_char *) "[error] x", 9);
    want = "<27>1 1970-01-01T00:00:00.999Z - p 1 error - [error] x";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);

    /* kern.emerg is PRI 0 */
    n = pco_syslog_format(buf, sizeof(buf), 0, 0, 0, 0, "h", "t", 7, "m",
                          (const u_char *) "", 0);
    want = "<0>1 1970-01-01T00:00:00.000Z h t 7 m - ";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);

    /* the message is cut to the buffer */
    n = pco_syslog_format(buf, 45, 23, 6, 0, 0, "h", "t", 7, "m",
                          (const u_char *) "0123456789abcdef", 16);
    assert_int_equal(n, 45);
    assert_memory_equal(buf, "<190>1 1970-01-01T00:00:00.000Z h t 7 m - 012", 45);
    /* a buffer too small for the header gives nothing */
    assert_int_equal(pco_syslog_format(buf, 30, 23, 6, 0, 0, "h", "t", 7, "m",
                                       (const u_char *) "x", 1), 0);
}

static int
pco_test_parse(const char *s, pco_syslog_t *t, char *err)
{
    return pco_syslog_parse(t, (const u_char *) s, strlen(s), err, 256);
}

static void
pco_test_parse_ok(void **state)
{
    pco_syslog_t          t;
    char                  err[256];
    struct sockaddr_in   *sin = (struct sockaddr_in *) &t.addr;
    struct sockaddr_in6  *sin6 = (struct sockaddr_in6 *) &t.addr;
    struct sockaddr_un   *sun = (struct sockaddr_un *) &t.addr;

    (void) state;
    assert_int_equal(pco_test_parse("syslog:server=unix:/dev/log", &t, err), PCO_OK);
    assert_int_equal(t.addr.ss_family, AF_UNIX);
    assert_string_equal(sun->sun_path, "/dev/log");
    assert_int_equal(t.facility, 23);
    assert_int_equal(t.severity, -1);
    assert_string_equal(t.tag, "portico");
    assert_false(t.nohostname);
    assert_true(strlen(t.hostname) > 0);
    assert_int_equal(t.fd, -1);

    assert_int_equal(pco_test_parse("syslog:server=127.0.0.1:5514,facility=local0,tag=edge_1,"
                                    "severity=notice,nohostname", &t, err), PCO_OK);
    assert_int_equal(t.addr.ss_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 5514);
    assert_int_equal(t.facility, 16);
    assert_int_equal(t.severity, 5);
    assert_string_equal(t.tag, "edge_1");
    assert_string_equal(t.hostname, "-");

    assert_int_equal(pco_test_parse("syslog:server=127.0.0.1", &t, err), PCO_OK);
    assert_int_equal(ntohs(sin->sin_port), 514);
    assert_int_equal(pco_test_parse("syslog:server=[::1]:600,facility=daemon", &t, err), PCO_OK);
    assert_int_equal(t.addr.ss_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 600);
    assert_int_equal(t.facility, 3);
    assert_int_equal(pco_test_parse("syslog:facility=kern,server=[::1]", &t, err), PCO_OK);
    assert_int_equal(t.facility, 0);
    assert_int_equal(ntohs(sin6->sin6_port), 514);
}

static void
pco_test_bad(const char *s, const char *want)
{
    pco_syslog_t  t;
    char          err[256];

    assert_int_equal(pco_test_parse(s, &t, err), PCO_ERROR);
    assert_string_equal(err, want);
}

static void
pco_test_parse_errors(void **state)
{
    (void) state;
    pco_test_bad("syslog:", "no server= (e.g. syslog:server=unix:/dev/log)");
    pco_test_bad("syslog:facility=local7", "no server= (e.g. syslog:server=unix:/dev/log)");
    pco_test_bad("/var/log/x", "a syslog target starts with \"syslog:\"");
    pco_test_bad("syslog:server=unix:dev/log",
                 "bad unix socket path \"dev/log\" (absolute, at most 107 bytes)");
    pco_test_bad("syslog:server=127.0.0.1:0", "bad port in \"127.0.0.1:0\"");
    pco_test_bad("syslog:server=127.0.0.1:65536", "bad port in \"127.0.0.1:65536\"");
    pco_test_bad("syslog:server=127.0.0.1:", "bad port in \"127.0.0.1:\"");
    pco_test_bad("syslog:server=127.0.0.1:5x", "bad port in \"127.0.0.1:5x\"");
    pco_test_bad("syslog:server=[::1", "missing \"]\" in \"[::1\"");
    pco_test_bad("syslog:server=", "bad server \"\"");
    pco_test_bad("syslog:server=unix:/dev/log,facility=local9",
                 "unknown facility \"local9\" (kern, user, daemon, ..., local0 to local7)");
    pco_test_bad("syslog:server=unix:/dev/log,severity=warning",
                 "unknown severity \"warning\" (emerg, alert, crit, error, warn, notice, info, "
                 "debug)");
    pco_test_bad("syslog:server=unix:/dev/log,tag=a b",
                 "bad tag \"a b\" (1 to 48 letters, digits, \"_\", \"-\", \".\")");
    pco_test_bad("syslog:server=unix:/dev/log,tag=",
                 "bad tag \"\" (1 to 48 letters, digits, \"_\", \"-\", \".\")");
    pco_test_bad("syslog:server=unix:/dev/log,color=red",
                 "unknown parameter \"color\" (server=, facility=, severity=, tag=, nohostname)");
    pco_test_bad("syslog:server=unix:/dev/log,nohostname=1",
                 "unknown parameter \"nohostname\" (server=, facility=, severity=, tag=, "
                 "nohostname)");
    pco_test_bad("syslog:server=unix:/dev/log,", "empty parameter");
    pco_test_bad("syslog:,server=unix:/dev/log", "empty parameter");
}

static void
pco_test_is_target(void **state)
{
    (void) state;
    assert_true(pco_syslog_is_target((const u_char *) "syslog:x", 8));
    assert_true(pco_syslog_is_target((const u_char *) "syslog:", 7));
    assert_false(pco_syslog_is_target((const u_char *) "syslog", 6));
    assert_false(pco_syslog_is_target((const u_char *) "logs/syslog:x", 13));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_format),
        cmocka_unit_test(pco_test_parse_ok),
        cmocka_unit_test(pco_test_parse_errors),
        cmocka_unit_test(pco_test_is_target),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
