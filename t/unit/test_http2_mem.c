/*
 * test_http2_mem.c: the allocator of an nghttp2 session (modules/http2/pco_http2_mem.c).
 * Blocks of 4 KiB or more are mapped on their own and small ones come from malloc; a trim
 * gives back every page of the frame buffer (a block of 8 KiB or more mapped while the
 * session was created) and every all-zero page of the other mapped blocks (the stream
 * map's table once empty), keeps any page that holds another byte, and leaves malloc'd
 * blocks alone; realloc keeps the contents across both kinds; free unmaps. Residency is
 * read with mincore(). Skipped in a build without the module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "pco_core.h"

#ifdef PCO_HAVE_HTTP2

#include "pco_http2_mem.h"

#define PAGE  4096

/* How many of the n pages from p are resident. */
static unsigned
pco_test_resident(const void *p, size_t n)
{
    unsigned char  vec[16];
    unsigned       i, k = 0;

    assert_true(n <= sizeof(vec));
    assert_int_equal(mincore((void *) p, n * PAGE, vec), 0);
    for (i = 0; i < n; i++) {
        k += vec[i] & 1;
    }
    return k;
}

static void
pco_test_trim(void **state)
{
    pco_http2_mem_t  m;
    nghttp2_mem     *mem = &m.mem;
    u_char          *frame, *table, *small, *later;

    (void) state;
    pco_http2_mem_init(&m);
    /* what nghttp2_session_server_new3 allocates: a frame buffer, the map's table, and
     * small blocks */
    m.creating = 1;
    frame = mem->malloc(16394, mem->mem_user_data);
    table = mem->calloc(256, 16, mem->mem_user_data);
    small = mem->malloc(100, mem->mem_user_data);
    m.creating = 0;
    assert_non_null(frame);
    assert_non_null(table);
    assert_non_null(small);
    assert_int_equal((uintptr_t) frame % PAGE, 0);
    assert_int_equal((uintptr_t) table % PAGE, 0);
    assert_int_equal(pco_test_resident(table, 1), 0);     /* calloc: a fresh mapping */
    /* a block mapped later: state, such as a large header kept in the HPACK table */
    later = mem->malloc(2 * PAGE, mem->mem_user_data);
    assert_non_null(later);

    memset(frame, 'f', 16394);
    memset(small, 's', 100);
    memset(later, 0, 2 * PAGE);
    later[PAGE + 7] = 'l';                            /* its second page is not all zeros */
    table[100] = 1;                                   /* a stream in the map */
    assert_int_equal(pco_test_resident(frame, 5), 5);
    assert_int_equal(pco_test_resident(table, 1), 1);

    /* the map is not empty: its page stays, with its byte */
    pco_http2_mem_trim(&m);
    assert_int_equal(pco_test_resident(frame, 5), 0);
    assert_int_equal(pco_test_resident(table, 1), 1);
    assert_int_equal(table[100], 1);
    assert_int_equal(pco_test_resident(later, 2), 1);     /* its all-zero page went */
    assert_int_equal(later[PAGE + 7], 'l');
    assert_int_equal(later[0], 0);
    assert_int_equal(small[99], 's');

    /* the stream is gone: the table is all zeros, and its page goes too */
    table[100] = 0;
    pco_http2_mem_trim(&m);
    assert_int_equal(pco_test_resident(table, 1), 0);
    assert_int_equal(table[100], 0);                  /* reads as zeros */
    table[5] = 9;                                     /* and takes writes again */
    assert_int_equal(table[5], 9);
    memset(frame, 'g', 100);
    assert_int_equal(frame[99], 'g');

    mem->free(frame, mem->mem_user_data);
    mem->free(table, mem->mem_user_data);
    mem->free(small, mem->mem_user_data);
    mem->free(later, mem->mem_user_data);
    mem->free(NULL, mem->mem_user_data);
    assert_null(m.map[0]);
    assert_null(m.map[1]);
    assert_null(m.map[2]);
}

static void
pco_test_realloc(void **state)
{
    pco_http2_mem_t  m;
    nghttp2_mem     *mem = &m.mem;
    u_char          *p;
    unsigned         i;

    (void) state;
    pco_http2_mem_init(&m);
    /* malloc'd, grown past the mapping size: mapped, contents kept */
    p = mem->malloc(1000, mem->mem_user_data);
    assert_non_null(p);
    memset(p, 'a', 1000);
    p = mem->realloc(p, 3 * PAGE, mem->mem_user_data);
    assert_non_null(p);
    assert_int_equal((uintptr_t) p % PAGE, 0);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(p[i], 'a');
    }
    memset(p + 1000, 'b', 3 * PAGE - 1000);
    /* mapped, shrunk below it: from malloc again, the head kept */
    p = mem->realloc(p, 2000, mem->mem_user_data);
    assert_non_null(p);
    assert_int_equal(p[999], 'a');
    assert_int_equal(p[1999], 'b');
    for (i = 0; i < PCO_HTTP2_MEM_MAPS; i++) {
        assert_null(m.map[i]);
    }
    assert_null(mem->realloc(p, 0, mem->mem_user_data));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_trim),
        cmocka_unit_test(pco_test_realloc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void
pco_test_skip(void **state)
{
    (void) state;
    skip();
}

int
main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(pco_test_skip) };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
