/*
 * test_time.c: cached time strings for a fixed instant (UTC and a zone with an offset),
 * HTTP date formatting, parsing of the three HTTP date formats, and the error-log line
 * format written through a pipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "pco_time.h"
#include "pco_log.h"

#define PCO_TEST_T 1795876433     /* Sat, 28 Nov 2026 14:33:53 GMT */

static void
pco_test_expect(const pco_str_t *s, const char *want)
{
    assert_int_equal(s->len, strlen(want));
    assert_memory_equal(s->data, want, s->len);
}

static void
pco_test_strings_utc(void **state)
{
    (void) state;
    setenv("TZ", "UTC", 1);
    tzset();
    pco_time_set_for_test(PCO_TEST_T);
    assert_int_equal(pco_time_sec, PCO_TEST_T);
    pco_test_expect(&pco_cached_http_time, "Sat, 28 Nov 2026 14:33:53 GMT");
    pco_test_expect(&pco_cached_err_log_time, "2026/11/28 14:33:53");
    pco_test_expect(&pco_cached_log_time, "28/Nov/2026:14:33:53 +0000");
    pco_test_expect(&pco_cached_iso8601, "2026-11-28T14:33:53+00:00");
}

static void
pco_test_strings_offset(void **state)
{
    (void) state;
    setenv("TZ", "XST-05:30", 1);        /* 5h30 east of UTC */
    tzset();
    pco_time_set_for_test(PCO_TEST_T);
    pco_test_expect(&pco_cached_http_time, "Sat, 28 Nov 2026 14:33:53 GMT");
    pco_test_expect(&pco_cached_err_log_time, "2026/11/28 20:03:53");
    pco_test_expect(&pco_cached_log_time, "28/Nov/2026:20:03:53 +0530");
    pco_test_expect(&pco_cached_iso8601, "2026-11-28T20:03:53+05:30");

    setenv("TZ", "EST5", 1);
    tzset();
    pco_time_set_for_test(PCO_TEST_T);
    pco_test_expect(&pco_cached_log_time, "28/Nov/2026:09:33:53 -0500");
    pco_test_expect(&pco_cached_iso8601, "2026-11-28T09:33:53-05:00");
    setenv("TZ", "UTC", 1);
    tzset();
}

static void
pco_test_update(void **state)
{
    pco_msec_t  before;

    (void) state;
    pco_time_init();
    before = pco_current_msec;
    assert_true(before > 0);
    assert_int_equal(pco_cached_http_time.len, 29);
    assert_int_equal(pco_cached_err_log_time.len, 19);
    pco_time_update();
    assert_true(pco_current_msec >= before);
    assert_true(pco_time_msec_part < 1000);
}

static void
pco_test_http_time(void **state)
{
    u_char  buf[29];

    (void) state;
    assert_int_equal(pco_http_time(buf, 784111777), 29);
    assert_memory_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT", 29);
    assert_int_equal(pco_http_time(buf, 0), 29);
    assert_memory_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT", 29);
}

static time_t
pco_test_parse(const char *s)
{
    return pco_parse_http_time((const u_char *) s, strlen(s));
}

static void
pco_test_parse_formats(void **state)
{
    (void) state;
    assert_int_equal(pco_test_parse("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(pco_test_parse("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(pco_test_parse("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(pco_test_parse("Sat, 28 Nov 2026 14:33:53 GMT"), PCO_TEST_T);
    assert_int_equal(pco_test_parse("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
    assert_int_equal(pco_test_parse("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_int_equal(pco_test_parse("Sat Nov 28 14:33:53 2026"), PCO_TEST_T);
}

static void
pco_test_parse_invalid(void **state)
{
    (void) state;
    assert_int_equal(pco_test_parse(""), -1);
    assert_int_equal(pco_test_parse("garbage"), -1);
    assert_int_equal(pco_test_parse("Sun, 06 Nov 1994 08:49:37 UTC"), -1);
    assert_int_equal(pco_test_parse("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
    assert_int_equal(pco_test_parse("Sun, 6 Nov 1994 08:49:37 GMT"), -1);
    assert_int_equal(pco_test_parse("Sun, 06 Nov 1994 24:49:37 GMT"), -1);
    assert_int_equal(pco_test_parse("Fri, 29 Feb 2023 00:00:00 GMT"), -1);
    assert_int_equal(pco_test_parse("Sun, 31 Nov 1994 08:49:37 GMT"), -1);
    assert_int_equal(pco_test_parse("Sun, 06 Nov 1994 08:49:37 GMT "), -1);
    assert_int_equal(pco_test_parse("Sun Nov  6 08:49:37 199x"), -1);
    assert_int_equal(pco_test_parse("Sunday, 06-Nov-94 08:49:37"), -1);
}

static u_char *
pco_test_context(pco_log_t *log, u_char *buf, u_char *end)
{
    const char  *ctx = ", client: 1.2.3.4";
    size_t       n;

    (void) log;
    n = pco_min(strlen(ctx), (size_t) (end - buf));
    memcpy(buf, ctx, n);
    return buf + n;
}

static void
pco_test_log_line(void **state)
{
    int        fds[2];
    pco_log_t  log;
    char       got[4096], want[256];
    ssize_t    n;
    char       big[3000];

    (void) state;
    setenv("TZ", "UTC", 1);
    tzset();
    pco_time_set_for_test(PCO_TEST_T);
    assert_int_equal(pipe(fds), 0);
    memset(&log, 0, sizeof(log));
    log.level = PCO_LOG_ERR;
    log.fd = fds[1];
    pco_log_worker_id = 3;

    pco_log_error(PCO_LOG_ERR, &log, ENOENT, "open() \"%s\" failed", "/x");
    n = read(fds[0], got, sizeof(got));
    snprintf(want, sizeof(want), "2026/11/28 14:33:53 [error] %d#3: open() \"/x\" failed "
             "(2: No such file or directory)\n", (int) getpid());
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, (size_t) n);

    log.context = pco_test_context;
    pco_log_error(PCO_LOG_WARN, &log, 0, "slow");
    n = read(fds[0], got, sizeof(got));
    snprintf(want, sizeof(want), "2026/11/28 14:33:53 [warn] %d#3: slow, client: 1.2.3.4\n",
             (int) getpid());
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, (size_t) n);

    /* a line longer than 2048 bytes is truncated, still ends with \n */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pco_log_error(PCO_LOG_ERR, &log, 0, "%s", big);
    n = read(fds[0], got, sizeof(got));
    assert_int_equal(n, 2048);
    assert_int_equal(got[2047], '\n');

    /* the level check lives in the macro */
    log.context = NULL;
    pco_log_err(PCO_LOG_INFO, &log, 0, "not written %d", 1);
    pco_log_err(PCO_LOG_ERR, &log, 0, "written");
    n = read(fds[0], got, sizeof(got));
    assert_true(n > 0);
    assert_memory_equal(got + n - 8, "written\n", 8);
    close(fds[0]);
    close(fds[1]);
    pco_log_worker_id = 0;
}

static void
pco_test_log_levels(void **state)
{
    (void) state;
    assert_int_equal(pco_log_level_by_name("alert"), PCO_LOG_ALERT);
    assert_int_equal(pco_log_level_by_name("crit"), PCO_LOG_CRIT);
    assert_int_equal(pco_log_level_by_name("error"), PCO_LOG_ERR);
    assert_int_equal(pco_log_level_by_name("warn"), PCO_LOG_WARN);
    assert_int_equal(pco_log_level_by_name("notice"), PCO_LOG_NOTICE);
    assert_int_equal(pco_log_level_by_name("info"), PCO_LOG_INFO);
#ifdef PCO_DEBUG
    assert_int_equal(pco_log_level_by_name("debug"), PCO_LOG_DEBUG);
#else
    assert_int_equal(pco_log_level_by_name("debug"), -1);
#endif
    assert_int_equal(pco_log_level_by_name("verbose"), -1);
    assert_string_equal(pco_log_level_name(PCO_LOG_ERR), "error");
    pco_log_init_stderr();
    assert_int_equal(pco_log->level, PCO_LOG_NOTICE);
    assert_int_equal(pco_log->fd, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_strings_utc),
        cmocka_unit_test(pco_test_strings_offset),
        cmocka_unit_test(pco_test_update),
        cmocka_unit_test(pco_test_http_time),
        cmocka_unit_test(pco_test_parse_formats),
        cmocka_unit_test(pco_test_parse_invalid),
        cmocka_unit_test(pco_test_log_line),
        cmocka_unit_test(pco_test_log_levels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
