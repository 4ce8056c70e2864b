/*
 * fuzz_admin_json.c: libFuzzer target for the admin API's strict JSON object parser
 * (modules/admin/pco_admin_json.c). Every parsed member must lie inside the scratch
 * buffer, which never needs more than the input's length; each string is written back
 * with the JSON writer and must parse again to the same bytes; a refused input must come
 * with a reason. Invariant failures abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include "pco_admin_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static bool
pco_fuzz_inside(const pco_str_t *s, const u_char *buf, size_t size)
{
    return s->len == 0 || (s->data >= buf && s->data + s->len <= buf + size);
}

/* {"k": <s written back>} parses to s again. */
static void
pco_fuzz_roundtrip(const pco_str_t *s)
{
    pco_admin_json_obj_t  obj;
    pco_admin_out_t       o;
    u_char               *scratch;
    char                  err[128];

    pco_admin_out_init(&o, NULL, 1 << 20);
    pco_admin_out_printf(&o, "{\"k\": ");
    pco_admin_out_str(&o, s->data, s->len);
    pco_admin_out_printf(&o, "}");
    pco_fuzz_check(!o.failed);
    scratch = malloc(o.len + 1);
    pco_fuzz_check(scratch != NULL);
    pco_fuzz_check(pco_admin_json_parse(o.data, o.len, scratch, &obj, err, sizeof(err))
                   == PCO_OK);
    pco_fuzz_check(obj.n == 1 && obj.f[0].type == PCO_ADMIN_JSON_STRING);
    pco_fuzz_check(obj.f[0].str.len == s->len
                   && memcmp(obj.f[0].str.data, s->data, s->len) == 0);
    free(scratch);
    pco_admin_out_free(&o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_admin_json_obj_t  obj;
    u_char               *scratch;
    char                  err[128];
    unsigned              i;

    if (size > 2 * PCO_ADMIN_JSON_MAX_BODY) {
        return 0;
    }
    /* exactly size bytes: the parser must never write past what the input needs */
    scratch = malloc(size ? size : 1);
    if (scratch == NULL) {
        return 0;
    }
    err[0] = '\0';
    if (pco_admin_json_parse(data, size, scratch, &obj, err, sizeof(err)) != PCO_OK) {
        pco_fuzz_check(strncmp(err, "at byte ", 8) == 0);
        free(scratch);
        return 0;
    }
    pco_fuzz_check(obj.n <= PCO_ADMIN_JSON_MAX_FIELDS);
    for (i = 0; i < obj.n; i++) {
        pco_fuzz_check(pco_fuzz_inside(&obj.f[i].name, scratch, size));
        pco_fuzz_check(pco_admin_json_get(&obj, "") == NULL || obj.n > 0);
        pco_fuzz_roundtrip(&obj.f[i].name);
        if (obj.f[i].type == PCO_ADMIN_JSON_STRING) {
            pco_fuzz_check(pco_fuzz_inside(&obj.f[i].str, scratch, size));
            pco_fuzz_roundtrip(&obj.f[i].str);
        }
    }
    free(scratch);
    return 0;
}
