/*
 * pco_string.c: formatting into a pool (see pco_string.h). Process-local, never blocks.
 */
#include <stdarg.h>
#include <stdio.h>
#include "pco_string.h"

pco_str_t
pco_psprintf(pco_pool_t *pool, const char *fmt, ...)
{
    pco_str_t  s = { 0, NULL };
    va_list    ap, ap2;
    char       small[128];
    int        n;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return s;
    }
    s.data = pco_pnalloc(pool, (size_t) n + 1);
    if (s.data != NULL) {
        if ((size_t) n < sizeof(small)) {
            memcpy(s.data, small, (size_t) n + 1);
        } else {
            (void) vsnprintf((char *) s.data, (size_t) n + 1, fmt, ap2);
        }
        s.len = (size_t) n;
    }
    va_end(ap2);
    return s;
}
