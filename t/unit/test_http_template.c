/*
 * test_http_template.c: template splitting ($name, ${name}, $1..$9, $$), the request id
 * check and generator, status reasons and the built-in error bodies, and the control
 * character check of header values expanded from templates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "pco_http_int.h"
#include <unistd.h>

static void
pco_t_split(void **state)
{
    pco_pool_t           *pool = pco_pool_create(4096, 0);
    pco_http_template_t   t;
    const char           *err = NULL;
    pco_str_t             s = pco_string("a $host-${http_user_agent}x$1 $$ end");

    (void) state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(pco_http_template_split(pool, &s, &t, &err), PCO_OK);
    assert_false(t.literal);
    assert_int_equal(t.nparts, 9);
    assert_int_equal(t.parts[0].var, -1);
    assert_int_equal(t.parts[0].literal.len, 2);
    assert_string_equal(t.names[1], "host");
    assert_memory_equal(t.parts[2].literal.data, "-", 1);
    assert_string_equal(t.names[3], "http_user_agent");
    assert_memory_equal(t.parts[4].literal.data, "x", 1);
    assert_int_equal(t.parts[5].capture, 1);
    assert_memory_equal(t.parts[6].literal.data, " ", 1);
    assert_memory_equal(t.parts[7].literal.data, "$", 1);
    assert_memory_equal(t.parts[8].literal.data, " end", 4);

    memset(&t, 0, sizeof(t));
    pco_str_set(&s, "plain text");
    assert_int_equal(pco_http_template_split(pool, &s, &t, &err), PCO_OK);
    assert_true(t.literal);
    assert_int_equal(t.nparts, 1);

    memset(&t, 0, sizeof(t));
    pco_str_set(&s, "bad ${host");
    assert_int_equal(pco_http_template_split(pool, &s, &t, &err), PCO_ERROR);
    assert_string_equal(err, "unterminated ${");
    memset(&t, 0, sizeof(t));
    pco_str_set(&s, "bad $ x");
    assert_int_equal(pco_http_template_split(pool, &s, &t, &err), PCO_ERROR);
    pco_pool_destroy(pool);
}

static void
pco_t_request_id(void **state)
{
    u_char  id[32], id2[32];
    size_t  i;

    (void) state;
    assert_true(pco_http_request_id_valid((u_char *) "abc-DEF_1.2:3", 13));
    assert_false(pco_http_request_id_valid((u_char *) "a b", 3));
    assert_false(pco_http_request_id_valid((u_char *) "", 0));
    pco_http_prng_seed();
    pco_http_request_id_generate(id);
    pco_http_request_id_generate(id2);
    for (i = 0; i < 32; i++) {
        assert_true((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
    }
    assert_true(memcmp(id, id2, 32) != 0);
}

static void
pco_t_error_body(void **state)
{
    pco_pool_t  *pool = pco_pool_create(4096, 0);
    pco_str_t    rid = pco_string("abc"), b, reason;

    (void) state;
    reason = pco_http_status_reason(404);
    assert_int_equal(reason.len, 9);
    assert_memory_equal(reason.data, "Not Found", 9);
    assert_int_equal(pco_http_status_reason(299).len, 0);
    b = pco_http_build_error_body(pool, 404, &rid, false);
    assert_int_equal(b.len, strlen("404 Not Found\nrequest_id: abc\n"));
    assert_memory_equal(b.data, "404 Not Found\nrequest_id: abc\n", b.len);
    b = pco_http_build_error_body(pool, 413, &rid, true);
    assert_int_equal(b.len,
                     strlen("{\"status\":413,\"error\":\"Content Too Large\",\"request_id\":"
                            "\"abc\"}\n"));
    assert_memory_equal(b.data, "{\"status\":413,\"error\":\"Content Too Large\","
                        "\"request_id\":\"abc\"}\n", b.len);
    pco_pool_destroy(pool);
}

/* A header value from a template: a variable that expands to CR/LF (here a regex capture
 * of a path holding them) is refused with one error-log line naming the header; a clean
 * value and a literal pass. */
static void
pco_t_eval_header(void **state)
{
    pco_http_req_t        rq;
    pco_connection_t      c;
    pco_log_t             log;
    pco_http_template_t   t, lit;
    const char           *err = NULL;
    pco_str_t             text = pco_string("/x$1"), plain = pco_string("/fixed"),
                          name = pco_string("Location"), out;
    PCRE2_SIZE            caps[4] = { 0, 0, 0, 0 };
    char                  buf[512];
    ssize_t               n;
    int                   fds[2];

    (void) state;
    memset(&rq, 0, sizeof(rq));
    memset(&c, 0, sizeof(c));
    memset(&log, 0, sizeof(log));
    memset(&t, 0, sizeof(t));
    memset(&lit, 0, sizeof(lit));
    assert_int_equal(pipe(fds), 0);
    log.fd = fds[1];
    log.level = PCO_LOG_INFO;
    c.log = &log;
    rq.r.connection = &c;
    rq.r.pool = pco_pool_create(4096, 0);
    assert_non_null(rq.r.pool);
    assert_int_equal(pco_http_template_split(rq.r.pool, &text, &t, &err), PCO_OK);
    assert_int_equal(pco_http_template_split(rq.r.pool, &plain, &lit, &err), PCO_OK);

    pco_str_set(&rq.r.uri, "a\r\nSet-Cookie: injected=1");
    caps[2] = 0;
    caps[3] = rq.r.uri.len;
    rq.r.captures = caps;
    rq.r.ncaptures = 2;
    assert_int_equal(pco_http_template_eval_header(&rq.r, &t, &name, &out), PCO_ERROR);
    n = read(fds[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "[error] "));
    assert_non_null(strstr(buf, "header \"Location\" expanded to a control character, not "
                                "sent\n"));
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);             /* one line */

    pco_str_set(&rq.r.uri, "a\tb");                               /* tab is allowed */
    caps[3] = rq.r.uri.len;
    assert_int_equal(pco_http_template_eval_header(&rq.r, &t, &name, &out), PCO_OK);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "/xa\tb", 5);
    assert_int_equal(pco_http_template_eval_header(&rq.r, &lit, &name, &out), PCO_OK);
    assert_memory_equal(out.data, "/fixed", 6);
    close(fds[0]);
    close(fds[1]);
    pco_pool_destroy(rq.r.pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_t_split),
        cmocka_unit_test(pco_t_request_id),
        cmocka_unit_test(pco_t_error_body),
        cmocka_unit_test(pco_t_eval_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
