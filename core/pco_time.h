/*
 * pco_time.h: the clock is read once per event-loop pass (pco_time_update) and every
 * formatted time string is cached per second, so the request path never formats a date.
 */
#ifndef PCO_TIME_H
#define PCO_TIME_H

#include "pco_core.h"
#include <time.h>

extern pco_msec_t  pco_current_msec;      /* monotonic ms, updated per loop pass */
extern time_t      pco_time_sec;          /* wall-clock seconds */
extern unsigned    pco_time_msec_part;    /* wall-clock milliseconds within pco_time_sec */

/* Cached strings, valid until the next pco_time_update(); not NUL-terminated. */
extern pco_str_t   pco_cached_http_time;      /* "Sat, 28 Nov 2026 14:33:53 GMT" */
extern pco_str_t   pco_cached_err_log_time;   /* "2026/11/28 14:33:53" (local time) */
extern pco_str_t   pco_cached_log_time;       /* "28/Nov/2026:14:33:53 +0000" */
extern pco_str_t   pco_cached_iso8601;        /* "2026-11-28T14:33:53+00:00" */

void pco_time_init(void);
void pco_time_update(void);
/* Formats t as an HTTP date (29 bytes) into buf, returns bytes written. */
size_t pco_http_time(u_char *buf, time_t t);
/* Parses an HTTP date (IMF-fixdate, RFC 850, asctime); -1 when invalid. */
time_t pco_parse_http_time(const u_char *p, size_t len);
/* Test hook: pins the wall clock to sec (ms part 0) and rebuilds the cached strings;
 * pco_time_update() reads the real clock again afterwards. */
void pco_time_set_for_test(time_t sec);

#endif
