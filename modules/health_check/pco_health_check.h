/*
 * pco_health_check.h: active health checks (docs/settings.md). The pure parts,
 * unit-tested in t/unit/test_health_check.c: the `status` ranges ("200-299,302"), the
 * status line of a check's response and the rise/fall state machine. The module itself
 * (pco_health_check.c) runs the checks in the "portico: health checker" helper process.
 */
#ifndef PCO_HEALTH_CHECK_H
#define PCO_HEALTH_CHECK_H

#include "pco_core.h"

extern pco_module_t pco_health_check_module;

#define PCO_HEALTH_CHECK_MAX_RANGES  16

/* `status`: comma-separated codes ("302") and inclusive ranges ("200-299"), 100..599,
 * spaces allowed around the commas. */
typedef struct {
    unsigned    n;
    struct {
        uint16_t    lo;
        uint16_t    hi;
    } r[PCO_HEALTH_CHECK_MAX_RANGES];
} pco_health_check_status_t;

/* PCO_OK, or PCO_ERROR with *err set to a static message. */
int pco_health_check_parse_status(const char *text, pco_health_check_status_t *out,
                                  const char **err);
bool pco_health_check_status_ok(const pco_health_check_status_t *st, int status);

/* The status of "HTTP/1.x NNN ..." at the start of p[0..len): PCO_OK (*status set),
 * PCO_AGAIN (a valid prefix: read more) or PCO_ERROR (not an HTTP/1.x status line). */
int pco_health_check_parse_line(const u_char *p, size_t len, int *status);

/* The rise/fall state machine of one server: `fall` consecutive failures mark it down,
 * `rise` consecutive successes mark it up; a result of the other kind resets the count. */
typedef struct {
    uint32_t    ok;          /* consecutive successes */
    uint32_t    fail;        /* consecutive failures */
    bool        down;
} pco_health_check_fsm_t;

enum {
    PCO_HEALTH_CHECK_SAME = 0,
    PCO_HEALTH_CHECK_UP,     /* just marked up */
    PCO_HEALTH_CHECK_DOWN    /* just marked down */
};

int pco_health_check_fsm(pco_health_check_fsm_t *f, bool success, unsigned rise,
                         unsigned fall);

#endif
