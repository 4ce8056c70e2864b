/*
 * pco_admin_json.h: the admin API's JSON: a strict parser for small flat request objects
 * and an append-only writer for the answers. Pure code (no I/O, no allocation by the
 * parser): unit-tested in t/unit/test_admin_json.c and fuzzed by t/fuzz/fuzz_admin_json.c.
 */
#ifndef PCO_ADMIN_JSON_H
#define PCO_ADMIN_JSON_H

#include "pco_core.h"
#include "pco_pool.h"

#define PCO_ADMIN_JSON_MAX_BODY    4096   /* request bodies (larger: 413) */
#define PCO_ADMIN_JSON_MAX_FIELDS  16

typedef enum {
    PCO_ADMIN_JSON_STRING = 1,
    PCO_ADMIN_JSON_INT,
    PCO_ADMIN_JSON_BOOL,
    PCO_ADMIN_JSON_NULL
} pco_admin_json_type_e;

typedef struct {
    pco_str_t                name;     /* unescaped, into the caller's buffer */
    pco_admin_json_type_e    type;
    pco_str_t                str;      /* STRING: unescaped (UTF-8), not NUL-terminated */
    int64_t                  num;      /* INT */
    bool                     b;        /* BOOL */
} pco_admin_json_field_t;

typedef struct {
    pco_admin_json_field_t   f[PCO_ADMIN_JSON_MAX_FIELDS];
    unsigned                 n;
} pco_admin_json_obj_t;

/*
 * Parses exactly one JSON object of at most PCO_ADMIN_JSON_MAX_FIELDS members whose values
 * are strings (with every JSON escape, \u surrogate pairs included; a lone surrogate, a raw
 * control character or invalid UTF-8 is refused), integers (no fraction, no exponent,
 * within int64), true, false or null; nested objects and arrays are refused, and so are a
 * duplicate name and anything but white space after the object. Strings are unescaped into
 * buf, which needs len bytes (unescaping never grows). PCO_OK, or PCO_ERROR with err set
 * to a short reason ("at byte N: ..."). Never reads past p + len.
 */
int pco_admin_json_parse(const u_char *p, size_t len, u_char *buf, pco_admin_json_obj_t *obj,
                         char *err, size_t errlen);
/* The member named name, or NULL. */
const pco_admin_json_field_t *pco_admin_json_get(const pco_admin_json_obj_t *obj,
                                                 const char *name);

/* An answer being written into memory of a pool (grown by doubling up to a limit). */
typedef struct {
    u_char      *data;
    size_t       len;
    size_t       cap;
    size_t       limit;
    pco_pool_t  *pool;           /* NULL: malloc/realloc (the state-file writer) */
    bool         failed;         /* out of memory or over the limit: the answer is a 500 */
} pco_admin_out_t;

void pco_admin_out_init(pco_admin_out_t *o, pco_pool_t *pool, size_t limit);
void pco_admin_out_free(pco_admin_out_t *o);      /* malloc'd only */
void pco_admin_out_printf(pco_admin_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string (quotes included) of len bytes: ", \ and control characters escaped. */
void pco_admin_out_str(pco_admin_out_t *o, const u_char *s, size_t len);

#endif
