/*
 * test_health_check.c: the pure parts of the active health checks
 * (modules/health_check/pco_health_check_parse.c): `status` ranges and their errors, the
 * status line of a check's response (partial input too) and the rise/fall state machine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "pco_health_check.h"

static int
pco_t_status(const char *text, pco_health_check_status_t *st)
{
    const char  *err = NULL;
    int          rc;

    rc = pco_health_check_parse_status(text, st, &err);
    if (rc != PCO_OK) {
        assert_non_null(err);
    }
    return rc;
}

static void
pco_t_status_ranges(void **state)
{
    pco_health_check_status_t  st;

    (void) state;
    assert_int_equal(pco_t_status("200-399", &st), PCO_OK);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.r[0].lo, 200);
    assert_int_equal(st.r[0].hi, 399);
    assert_true(pco_health_check_status_ok(&st, 200));
    assert_true(pco_health_check_status_ok(&st, 399));
    assert_false(pco_health_check_status_ok(&st, 199));
    assert_false(pco_health_check_status_ok(&st, 400));

    assert_int_equal(pco_t_status("200-299,302", &st), PCO_OK);
    assert_int_equal(st.n, 2);
    assert_true(pco_health_check_status_ok(&st, 204));
    assert_true(pco_health_check_status_ok(&st, 302));
    assert_false(pco_health_check_status_ok(&st, 301));
    assert_false(pco_health_check_status_ok(&st, 500));

    assert_int_equal(pco_t_status(" 200 , 204 - 204", &st), PCO_ERROR);   /* space in range */
    assert_int_equal(pco_t_status(" 200 , 204,418 ", &st), PCO_OK);
    assert_int_equal(st.n, 3);
    assert_true(pco_health_check_status_ok(&st, 418));
    assert_false(pco_health_check_status_ok(&st, 201));
}

static void
pco_t_status_errors(void **state)
{
    pco_health_check_status_t  st;
    static const char *const   bad[] = {
        "", " ", "abc", "200-", "-300", "200-199", "99", "600", "2000", "200,,300", "200,",
        "200;300", "20x", "200-3", "1000-2000", "200 300",
        "200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216",
    };
    size_t                     i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pco_t_status(bad[i], &st) != PCO_ERROR) {
            fail_msg("accepted \"%s\"", bad[i]);
        }
    }
    assert_int_equal(pco_t_status("100-599", &st), PCO_OK);
    assert_int_equal(pco_t_status("200,201,202,203,204,205,206,207,208,209,210,211,212,213,"
                                  "214,215", &st), PCO_OK);
    assert_int_equal(st.n, 16);
}

static int
pco_t_line(const char *text, int *status)
{
    return pco_health_check_parse_line((const u_char *) text, strlen(text), status);
}

static void
pco_t_status_line(void **state)
{
    int          status = 0;
    size_t       i;
    const char  *full = "HTTP/1.1 204 No Content\r\n";

    (void) state;
    assert_int_equal(pco_t_line("HTTP/1.1 200 OK\r\n", &status), PCO_OK);
    assert_int_equal(status, 200);
    assert_int_equal(pco_t_line("HTTP/1.0 503\r\n", &status), PCO_OK);
    assert_int_equal(status, 503);
    assert_int_equal(pco_t_line("HTTP/1.1 302\n", &status), PCO_OK);
    assert_int_equal(status, 302);
    /* every proper prefix asks for more */
    for (i = 0; i < 13; i++) {
        assert_int_equal(pco_health_check_parse_line((const u_char *) full, i, &status),
                         PCO_AGAIN);
    }
    assert_int_equal(pco_health_check_parse_line((const u_char *) full, 13, &status), PCO_OK);
    assert_int_equal(status, 204);

    assert_int_equal(pco_t_line("HTTP/2 200 OK\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("http/1.1 200 OK\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("HTTP/1.1 20 OK\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("HTTP/1.1 2000 OK\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("HTTP/1.1 099 X\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("HTTP/1.1  200 OK\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("SSH-2.0-OpenSSH\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("HTTP/1.x 200 OK\r\n", &status), PCO_ERROR);
    assert_int_equal(pco_t_line("X", &status), PCO_ERROR);
}

static void
pco_t_fsm(void **state)
{
    pco_health_check_fsm_t  f = { 0, 0, false };

    (void) state;
    /* fall = 2: one failure is not enough, a success resets the count */
    assert_int_equal(pco_health_check_fsm(&f, false, 2, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, true, 2, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, false, 2, 2), PCO_HEALTH_CHECK_SAME);
    assert_false(f.down);
    assert_int_equal(pco_health_check_fsm(&f, false, 2, 2), PCO_HEALTH_CHECK_DOWN);
    assert_true(f.down);
    assert_int_equal(pco_health_check_fsm(&f, false, 2, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(f.fail, 3);
    /* rise = 3 */
    assert_int_equal(pco_health_check_fsm(&f, true, 3, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, true, 3, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, false, 3, 2), PCO_HEALTH_CHECK_SAME);
    assert_true(f.down);
    assert_int_equal(pco_health_check_fsm(&f, true, 3, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, true, 3, 2), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, true, 3, 2), PCO_HEALTH_CHECK_UP);
    assert_false(f.down);
    assert_int_equal(pco_health_check_fsm(&f, true, 3, 2), PCO_HEALTH_CHECK_SAME);
    /* rise = fall = 1: every change of result is a transition */
    assert_int_equal(pco_health_check_fsm(&f, false, 1, 1), PCO_HEALTH_CHECK_DOWN);
    assert_int_equal(pco_health_check_fsm(&f, true, 1, 1), PCO_HEALTH_CHECK_UP);
    /* initial = "down": starts down with no counts */
    f = (pco_health_check_fsm_t) { 0, 0, true };
    assert_int_equal(pco_health_check_fsm(&f, true, 2, 3), PCO_HEALTH_CHECK_SAME);
    assert_int_equal(pco_health_check_fsm(&f, true, 2, 3), PCO_HEALTH_CHECK_UP);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_status_ranges),
        cmocka_unit_test(pco_t_status_errors),
        cmocka_unit_test(pco_t_status_line),
        cmocka_unit_test(pco_t_fsm),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
