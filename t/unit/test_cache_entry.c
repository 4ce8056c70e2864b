/*
 * test_cache_entry.c: the cache entry header (modules/cache/pco_cache_entry.c): the exact
 * bytes of a serialised header, round trips (full and empty fields), every truncation of a
 * serialised header (PCO_AGAIN with the length still needed), corruption of every field
 * (PCO_ERROR), refusals of the serialiser, the file size check, and the file steps (write,
 * body length set afterwards, rename into level folders created on demand) in a temporary
 * folder. The module is not in default builds: its pure file is compiled in then.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "pco_core.h"
#ifdef PCO_HAVE_CACHE
#include "pco_cache_entry.h"
#else
#include "../../modules/cache/pco_cache_entry.c"
#endif

#define PCO_S(lit)  { sizeof(lit) - 1, (u_char *) (lit) }
#define PCO_T0      1795876433

static const char  pco_test_headers[] =
    "Content-Type: text/html\r\nCache-Control: max-age=60\r\nX-Tab: a\tb\r\n";

static pco_cache_entry_t
pco_test_entry(void)
{
    pco_cache_entry_t  e;
    unsigned           i;

    memset(&e, 0, sizeof(e));
    for (i = 0; i < PCO_CACHE_KEY_LEN; i++) {
        e.key.md[i] = (u_char) (0xa0 + i);
    }
    e.status = 200;
    e.date = PCO_T0 - 5;
    e.expires = -1;
    e.last_modified = PCO_T0 - 86400;
    e.fresh.response_time = PCO_T0;
    e.fresh.lifetime = 60;
    e.fresh.initial_age = 5;
    e.fresh.stale_while_revalidate = 30;
    e.fresh.stale_if_error = PCO_CACHE_NONE;
    e.fresh.no_stale = false;
    e.body_len = 11;
    e.key_text = (pco_str_t) PCO_S("httpexample.com/index.html");
    e.etag = (pco_str_t) PCO_S("\"abc\"");
    e.vary = (pco_str_t) PCO_S("accept-encoding,accept-language");
    e.headers.len = sizeof(pco_test_headers) - 1;
    e.headers.data = (u_char *) pco_test_headers;
    return e;
}

static void
pco_test_str_eq(const pco_str_t *a, const pco_str_t *b)
{
    assert_int_equal(a->len, b->len);
    if (a->len > 0) {
        assert_memory_equal(a->data, b->data, a->len);
    }
}

static void
pco_test_same(const pco_cache_entry_t *a, const pco_cache_entry_t *b)
{
    assert_memory_equal(a->key.md, b->key.md, PCO_CACHE_KEY_LEN);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->date, b->date);
    assert_int_equal(a->expires, b->expires);
    assert_int_equal(a->last_modified, b->last_modified);
    assert_int_equal(a->fresh.response_time, b->fresh.response_time);
    assert_int_equal(a->fresh.lifetime, b->fresh.lifetime);
    assert_int_equal(a->fresh.initial_age, b->fresh.initial_age);
    assert_int_equal(a->fresh.stale_while_revalidate, b->fresh.stale_while_revalidate);
    assert_int_equal(a->fresh.stale_if_error, b->fresh.stale_if_error);
    assert_int_equal(a->fresh.no_stale, b->fresh.no_stale);
    assert_int_equal(a->body_len, b->body_len);
    assert_int_equal(a->header_len, b->header_len);
    pco_test_str_eq(&a->key_text, &b->key_text);
    pco_test_str_eq(&a->etag, &b->etag);
    pco_test_str_eq(&a->vary, &b->vary);
    pco_test_str_eq(&a->headers, &b->headers);
}

static void
pco_test_layout(void **state)
{
    pco_cache_entry_t  e = pco_test_entry();
    u_char             buf[512];
    ssize_t            n;
    static const u_char  fixed[] = {
        'P', 'C', 'O', 'C', 0, 1, 0, 0, 0, 0, 0, 0xf6, 0, 200, 0, 0,
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
        0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
        0, 0, 0, 0, 0x6b, 0x0a, 0xe6, 0x4c,                 /* date T0 - 5 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     /* expires: none */
        0, 0, 0, 0, 0x6b, 0x09, 0x94, 0xd1,                 /* last-modified T0 - 86400 */
        0, 0, 0, 0, 0x6b, 0x0a, 0xe6, 0x51,                 /* stored at T0 */
        0, 0, 0, 0, 0, 0, 0, 60,
        0, 0, 0, 0, 0, 0, 0, 5,
        0, 0, 0, 0, 0, 0, 0, 30,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 11,
        0, 0, 0, 26, 0, 0, 0, 5, 0, 0, 0, 31, 0, 0, 0, 64
    };

    (void) state;
    assert_int_equal(sizeof(fixed), PCO_CACHE_ENTRY_FIXED);
    assert_int_equal(pco_cache_entry_header_size(&e), 120 + 26 + 5 + 31 + 64);
    n = pco_cache_entry_serialize(buf, sizeof(buf), &e);
    assert_int_equal(n, 0xf6);
    assert_int_equal(e.header_len, 0xf6);
    assert_memory_equal(buf, fixed, sizeof(fixed));
    assert_memory_equal(buf + 120, "httpexample.com/index.html\"abc\"accept-encoding,"
                        "accept-language", 26 + 5 + 31);
    assert_memory_equal(buf + 182, pco_test_headers, 64);

    /* the flags word */
    e.fresh.no_stale = true;
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), 0xf6);
    assert_int_equal(buf[7], 1);
}

static void
pco_test_round_trip(void **state)
{
    pco_cache_entry_t  e = pco_test_entry(), got;
    u_char             buf[512];
    ssize_t            n;

    (void) state;
    n = pco_cache_entry_serialize(buf, sizeof(buf), &e);
    assert_true(n > 0);
    assert_int_equal(pco_cache_entry_parse(&got, buf, (size_t) n), PCO_OK);
    pco_test_same(&e, &got);
    /* the strings point into the buffer */
    assert_ptr_equal(got.key_text.data, buf + 120);
    /* trailing body bytes do not matter */
    memcpy(buf + n, "hello world", 11);
    assert_int_equal(pco_cache_entry_parse(&got, buf, (size_t) n + 11), PCO_OK);
    pco_test_same(&e, &got);

    /* empty optional fields, extreme values, no_stale */
    e.etag = (pco_str_t) PCO_S("");
    e.vary = (pco_str_t) PCO_S("");
    e.headers = (pco_str_t) PCO_S("");
    e.date = -1;
    e.last_modified = -1;
    e.expires = 0;
    e.status = 599;
    e.fresh.stale_while_revalidate = -1;
    e.fresh.stale_if_error = (int64_t) 1 << 40;
    e.fresh.no_stale = true;
    e.body_len = INT64_MAX;
    n = pco_cache_entry_serialize(buf, sizeof(buf), &e);
    assert_int_equal(n, 120 + 26);
    assert_int_equal(pco_cache_entry_parse(&got, buf, (size_t) n), PCO_OK);
    pco_test_same(&e, &got);
}

static void
pco_test_truncations(void **state)
{
    pco_cache_entry_t  e = pco_test_entry(), got;
    u_char             buf[512], *copy;
    ssize_t            n;
    size_t             len;

    (void) state;
    n = pco_cache_entry_serialize(buf, sizeof(buf), &e);
    assert_true(n > 0);
    /* every prefix, in a buffer of exactly its size (ASan sees any read past it) */
    for (len = 0; len < (size_t) n; len++) {
        copy = malloc(len + 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        assert_int_equal(pco_cache_entry_parse(&got, copy, len), PCO_AGAIN);
        assert_int_equal(got.header_len, len < 12 ? PCO_CACHE_ENTRY_FIXED : (size_t) n);
        free(copy);
    }
    assert_int_equal(pco_cache_entry_parse(&got, buf, len), PCO_OK);
}

static int
pco_test_parse_bytes(const u_char *buf, size_t len)
{
    pco_cache_entry_t  got;

    return pco_cache_entry_parse(&got, buf, len);
}

/* Serialises the test entry, applies one change at offset, parses it back. */
static int
pco_test_corrupt(size_t off, u_char v)
{
    pco_cache_entry_t  e = pco_test_entry();
    u_char             buf[512];
    ssize_t            n;

    n = pco_cache_entry_serialize(buf, sizeof(buf), &e);
    assert_true(n > 0);
    buf[off] = v;
    return pco_test_parse_bytes(buf, (size_t) n);
}

static void
pco_test_corruptions(void **state)
{
    (void) state;
    assert_int_equal(pco_test_corrupt(0, 'X'), PCO_ERROR);       /* magic */
    assert_int_equal(pco_test_corrupt(3, 'c'), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(5, 2), PCO_ERROR);         /* version */
    assert_int_equal(pco_test_corrupt(4, 1), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(7, 2), PCO_ERROR);         /* unknown flag */
    assert_int_equal(pco_test_corrupt(6, 0x80), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(11, 0xf5), PCO_ERROR);     /* header length */
    assert_int_equal(pco_test_corrupt(11, 0xf7), PCO_ERROR);     /* lengths say otherwise */
    assert_int_equal(pco_test_corrupt(11, 0x77), PCO_ERROR);     /* under the fixed part */
    assert_int_equal(pco_test_corrupt(9, 0x10), PCO_ERROR);      /* over the maximum */
    assert_int_equal(pco_test_corrupt(8, 0xff), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(13, 199), PCO_ERROR);      /* status */
    assert_int_equal(pco_test_corrupt(12, 2), PCO_ERROR);        /* status 712 */
    assert_int_equal(pco_test_corrupt(13, 0), PCO_ERROR);        /* status 0 */
    assert_int_equal(pco_test_corrupt(15, 1), PCO_ERROR);        /* reserved */
    assert_int_equal(pco_test_corrupt(16, 0), PCO_OK);           /* any key is a key */
    assert_int_equal(pco_test_corrupt(32, 0x80), PCO_ERROR);     /* negative date */
    assert_int_equal(pco_test_corrupt(34, 0x01), PCO_ERROR);     /* date past 2^40 */
    assert_int_equal(pco_test_corrupt(47, 0xfe), PCO_ERROR);     /* expires -2 */
    assert_int_equal(pco_test_corrupt(48, 0x80), PCO_ERROR);     /* last-modified */
    assert_int_equal(pco_test_corrupt(56, 0xff), PCO_ERROR);     /* stored at < 0 */
    assert_int_equal(pco_test_corrupt(64, 0xff), PCO_ERROR);     /* lifetime < 0 */
    assert_int_equal(pco_test_corrupt(72, 0xff), PCO_ERROR);     /* age < 0 */
    assert_int_equal(pco_test_corrupt(80, 0xff), PCO_ERROR);     /* windows */
    assert_int_equal(pco_test_corrupt(95, 0xfe), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(96, 0x80), PCO_ERROR);     /* body length > INT64_MAX */
    assert_int_equal(pco_test_corrupt(107, 27), PCO_ERROR);      /* lengths do not add up */
    assert_int_equal(pco_test_corrupt(104, 0x80), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(119, 0), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(120, 0), PCO_ERROR);       /* NUL in the key text */
    assert_int_equal(pco_test_corrupt(147, '\n'), PCO_ERROR);    /* control in the ETag */
    assert_int_equal(pco_test_corrupt(151, 'A'), PCO_ERROR);     /* Vary not lowercase */
    assert_int_equal(pco_test_corrupt(151, ','), PCO_ERROR);     /* empty Vary name */
    assert_int_equal(pco_test_corrupt(181, ','), PCO_ERROR);     /* trailing comma */
    assert_int_equal(pco_test_corrupt(160, ' '), PCO_ERROR);
    assert_int_equal(pco_test_corrupt(182, ':'), PCO_ERROR);     /* header without a name */
    assert_int_equal(pco_test_corrupt(194, ' '), PCO_ERROR);     /* "Content-Type " */
    assert_int_equal(pco_test_corrupt(195, 'x'), PCO_ERROR);     /* no space after ':' */
    assert_int_equal(pco_test_corrupt(200, '\n'), PCO_ERROR);    /* LF inside a value */
    assert_int_equal(pco_test_corrupt(200, '\0'), PCO_ERROR);    /* NUL inside a value */
    assert_int_equal(pco_test_corrupt(205, 'x'), PCO_ERROR);     /* CR without LF */
    assert_int_equal(pco_test_corrupt(245, 'x'), PCO_ERROR);     /* last line without LF */
    assert_int_equal(pco_test_corrupt(200, 'Z'), PCO_OK);        /* other value bytes */
}

static void
pco_test_serialize_refusals(void **state)
{
    pco_cache_entry_t  e;
    u_char             buf[512];
    static u_char      big[PCO_CACHE_ENTRY_HEADER_MAX + 1];

    (void) state;
    e = pco_test_entry();
    assert_int_equal(pco_cache_entry_serialize(buf, 0xf5, &e), -1);      /* one byte short */
    assert_int_equal(pco_cache_entry_serialize(buf, 0xf6, &e), 0xf6);
    e.status = 199;
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.key_text = (pco_str_t) PCO_S("");
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.key_text = (pco_str_t) { 3, (u_char *) "a\0b" };
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.etag = (pco_str_t) PCO_S("\"a\r\nX: y\"");
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.vary = (pco_str_t) PCO_S("Accept-Encoding");
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.headers = (pco_str_t) PCO_S("X: y\n");
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.fresh.lifetime = -1;
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.fresh.initial_age = ((int64_t) 1 << 40) + 1;
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    e = pco_test_entry();
    e.body_len = (uint64_t) INT64_MAX + 1;
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
    /* over the header maximum, even with the room for it */
    e = pco_test_entry();
    e.key_text.data = big;
    e.key_text.len = PCO_CACHE_ENTRY_HEADER_MAX;
    memset(big, 'k', sizeof(big));
    assert_int_equal(pco_cache_entry_serialize(big, sizeof(big), &e), -1);
    e.key_text.len = SIZE_MAX;
    assert_int_equal(pco_cache_entry_serialize(buf, sizeof(buf), &e), -1);
}

static void
pco_test_size_ok(void **state)
{
    pco_cache_entry_t  e = pco_test_entry();

    (void) state;
    e.header_len = 225;
    e.body_len = 11;
    assert_true(pco_cache_entry_size_ok(&e, 236));
    assert_false(pco_cache_entry_size_ok(&e, 235));
    assert_false(pco_cache_entry_size_ok(&e, 237));
    assert_false(pco_cache_entry_size_ok(&e, 10));
    e.body_len = 0;
    assert_true(pco_cache_entry_size_ok(&e, 225));
    e.body_len = UINT64_MAX;
    assert_false(pco_cache_entry_size_ok(&e, 224));
}

static void
pco_test_files(void **state)
{
    pco_cache_entry_t  e = pco_test_entry(), got;
    char               dir[] = "/tmp/pco_test_cache_XXXXXX", tmp[256], path[256], cmd[300];
    u_char             buf[512], file[1024];
    ssize_t            n, r;
    int                fd;
    struct stat        st;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(tmp, sizeof(tmp), "%s/tmp.1", dir);
    snprintf(path, sizeof(path), "%s/c/29/b7f54b2df7773722d382f4809d65029c", dir);

    /* the header first with an unknown body length, then the body, then the length */
    e.body_len = 0;
    n = pco_cache_entry_serialize(buf, sizeof(buf), &e);
    assert_true(n > 0);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pco_cache_entry_write_fd(fd, buf, (size_t) n), PCO_OK);
    assert_int_equal(pco_cache_entry_write_fd(fd, "hello world", 11), PCO_OK);
    assert_int_equal(pco_cache_entry_set_body_len_fd(fd, 11), PCO_OK);
    close(fd);

    /* the level folders do not exist yet: made on the way */
    assert_int_equal(pco_cache_entry_commit(tmp, path, strlen(dir)), PCO_OK);
    assert_int_equal(stat(tmp, &st), -1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, n + 11);
    snprintf(tmp, sizeof(tmp), "%s/c/29", dir);
    assert_int_equal(stat(tmp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    r = read(fd, file, sizeof(file));
    close(fd);
    assert_int_equal(r, n + 11);
    assert_int_equal(pco_cache_entry_parse(&got, file, (size_t) r), PCO_OK);
    assert_int_equal(got.body_len, 11);
    assert_true(pco_cache_entry_size_ok(&got, (uint64_t) r));
    assert_memory_equal(file + got.header_len, "hello world", 11);

    /* a second entry replaces the first (folders exist now) */
    snprintf(tmp, sizeof(tmp), "%s/tmp.2", dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pco_cache_entry_write_fd(fd, buf, (size_t) n), PCO_OK);
    close(fd);
    assert_int_equal(pco_cache_entry_commit(tmp, path, strlen(dir)), PCO_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, n);

    /* failures leave errno: a missing temporary file; a bad fd */
    assert_int_equal(pco_cache_entry_commit(tmp, path, strlen(dir)), PCO_ERROR);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(pco_cache_entry_write_fd(-1, "x", 1), PCO_ERROR);
    assert_int_equal(errno, EBADF);
    assert_int_equal(pco_cache_entry_set_body_len_fd(-1, 1), PCO_ERROR);
    assert_int_equal(errno, EBADF);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_layout),
        cmocka_unit_test(pco_test_round_trip),
        cmocka_unit_test(pco_test_truncations),
        cmocka_unit_test(pco_test_corruptions),
        cmocka_unit_test(pco_test_serialize_refusals),
        cmocka_unit_test(pco_test_size_ok),
        cmocka_unit_test(pco_test_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
