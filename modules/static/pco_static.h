/*
 * pco_static.h: the pure helpers of the static module (no I/O): the MIME type table read
 * from conf/mime.types and the parser of a Range request header. Unit-tested in
 * t/unit/test_static.c.
 *
 * conf/mime.types uses nginx's format:
 *     types {
 *         text/html  html htm shtml;
 *         image/png  png;
 *     }
 * ('#' starts a comment to the end of the line; the "types {" wrapper is optional, so a
 * plain list of "type ext ext;" statements is accepted too). Extensions match
 * case-insensitively; a later duplicate of an extension is ignored (first one wins).
 */
#ifndef PCO_STATIC_H
#define PCO_STATIC_H

#include "pco_core.h"

#define PCO_STATIC_MAX_EXT 32   /* longer extensions are never looked up */

typedef struct {
    pco_str_t  ext;     /* lowercase */
    pco_str_t  type;
} pco_static_mime_t;

typedef struct {
    pco_static_mime_t  *entries;   /* sorted by ext */
    size_t              n;
} pco_static_mime_table_t;

/* Allocator given to the parser (the cycle pool in the module, malloc in tests). */
typedef void *(*pco_static_alloc_pt)(void *ctx, size_t size);

/*
 * Parses text[0..len) into t. Strings point into copies made with alloc. Returns PCO_OK, or
 * PCO_ERROR with *err_line set to the 1-based line of a syntax error (an unterminated
 * statement, a type without extensions, a stray '{' or '}'), or 0 on allocation failure.
 */
int pco_static_mime_parse(pco_static_mime_table_t *t, const u_char *text, size_t len,
                          pco_static_alloc_pt alloc, void *ctx, unsigned *err_line);

/* The type of path's extension (after the last '.' of the last component), or NULL. */
const pco_str_t *pco_static_mime_lookup(const pco_static_mime_table_t *t, const u_char *path,
                                        size_t len);

/*
 * Parses a Range header value against a file of `size` bytes. Only one "bytes=" range is
 * honoured: "a-b" (b clamped to size - 1), "a-", "-n" (the last n bytes, all when n > size).
 * Returns 206 with [*start, *end] inclusive, 416 when the single range is unsatisfiable
 * (a >= size, or -0), or 0 when the header is to be ignored (not "bytes=", several ranges,
 * malformed, a > b) and the whole file is sent.
 */
int pco_static_parse_range(const u_char *v, size_t len, off_t size, off_t *start, off_t *end);

#endif
