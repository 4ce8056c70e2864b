/*
 * pco_health_check_parse.c: the pure parts of the health checks (pco_health_check.h): the
 * `status` ranges, the response status line and the rise/fall state machine. No I/O, no
 * allocation: unit-tested in t/unit/test_health_check.c.
 */
#include "pco_health_check.h"

/* Three digits at *pp (100..599); advances *pp. -1 when not. */
static int
pco_health_check_code(const char **pp)
{
    const char  *p = *pp;
    int          v;

    if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9'
        || (p[3] >= '0' && p[3] <= '9'))
    {
        return -1;
    }
    v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    *pp = p + 3;
    return v;
}

int
pco_health_check_parse_status(const char *text, pco_health_check_status_t *out,
                              const char **err)
{
    const char  *p = text;
    int          lo, hi;

    out->n = 0;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        lo = pco_health_check_code(&p);
        if (lo < 0) {
            *err = "a status is a code 100..599 or a range such as \"200-399\"";
            return PCO_ERROR;
        }
        hi = lo;
        if (*p == '-') {
            p++;
            hi = pco_health_check_code(&p);
            if (hi < 0) {
                *err = "a status is a code 100..599 or a range such as \"200-399\"";
                return PCO_ERROR;
            }
            if (hi < lo) {
                *err = "a status range must not end below its start";
                return PCO_ERROR;
            }
        }
        if (out->n == PCO_HEALTH_CHECK_MAX_RANGES) {
            *err = "at most 16 status codes or ranges";
            return PCO_ERROR;
        }
        out->r[out->n].lo = (uint16_t) lo;
        out->r[out->n].hi = (uint16_t) hi;
        out->n++;
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            return PCO_OK;
        }
        if (*p != ',') {
            *err = "status codes and ranges are separated by commas, e.g. \"200-299,302\"";
            return PCO_ERROR;
        }
        p++;
    }
}

bool
pco_health_check_status_ok(const pco_health_check_status_t *st, int status)
{
    unsigned  i;

    for (i = 0; i < st->n; i++) {
        if (status >= st->r[i].lo && status <= st->r[i].hi) {
            return true;
        }
    }
    return false;
}

int
pco_health_check_parse_line(const u_char *p, size_t len, int *status)
{
    static const char  pco_health_check_pfx[] = "HTTP/1.";
    size_t             i;
    int                v = 0;

    /* "HTTP/1." DIGIT SP DIGIT DIGIT DIGIT (SP | CR | LF) */
    for (i = 0; i < len && i < 13; i++) {
        u_char  ch = p[i];

        if (i < 7) {
            if (ch != (u_char) pco_health_check_pfx[i]) {
                return PCO_ERROR;
            }
        } else if (i == 7) {
            if (ch < '0' || ch > '9') {
                return PCO_ERROR;
            }
        } else if (i == 8) {
            if (ch != ' ') {
                return PCO_ERROR;
            }
        } else if (i < 12) {
            if (ch < '0' || ch > '9') {
                return PCO_ERROR;
            }
            v = v * 10 + (ch - '0');
        } else if (ch != ' ' && ch != '\r' && ch != '\n') {
            return PCO_ERROR;
        }
    }
    if (i < 13) {
        return PCO_AGAIN;
    }
    if (v < 100) {
        return PCO_ERROR;
    }
    *status = v;
    return PCO_OK;
}

int
pco_health_check_fsm(pco_health_check_fsm_t *f, bool success, unsigned rise, unsigned fall)
{
    if (success) {
        f->fail = 0;
        if (f->ok < UINT32_MAX) {
            f->ok++;
        }
        if (f->down && f->ok >= rise) {
            f->down = false;
            return PCO_HEALTH_CHECK_UP;
        }
        return PCO_HEALTH_CHECK_SAME;
    }
    f->ok = 0;
    if (f->fail < UINT32_MAX) {
        f->fail++;
    }
    if (!f->down && f->fail >= fall) {
        f->down = true;
        return PCO_HEALTH_CHECK_DOWN;
    }
    return PCO_HEALTH_CHECK_SAME;
}
