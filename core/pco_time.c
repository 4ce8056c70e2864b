/*
 * pco_time.c: the cached clock. pco_time_update() reads CLOCK_MONOTONIC and the wall clock
 * once per event-loop pass and rebuilds the formatted strings (HTTP date in GMT, error-log
 * time, $time_local and $time_iso8601 in local time) only when the second changes. Also
 * formats and parses HTTP dates (IMF-fixdate, RFC 850, asctime). Process-local state only.
 */
#include <stdio.h>
#include <time.h>
#include "pco_time.h"

pco_msec_t  pco_current_msec;
time_t      pco_time_sec;
unsigned    pco_time_msec_part;

static u_char  pco_time_http_buf[sizeof("Sat, 28 Nov 2026 14:33:53 GMT")];
static u_char  pco_time_err_buf[sizeof("2026/11/28 14:33:53")];
static u_char  pco_time_log_buf[sizeof("28/Nov/2026:14:33:53 +0000")];
static u_char  pco_time_iso_buf[sizeof("2026-11-28T14:33:53+00:00")];

pco_str_t  pco_cached_http_time = { 0, pco_time_http_buf };
pco_str_t  pco_cached_err_log_time = { 0, pco_time_err_buf };
pco_str_t  pco_cached_log_time = { 0, pco_time_log_buf };
pco_str_t  pco_cached_iso8601 = { 0, pco_time_iso_buf };

static time_t  pco_time_cached_sec = (time_t) -1;

static const char *pco_time_wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *pco_time_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

size_t
pco_http_time(u_char *buf, time_t t)
{
    struct tm  tm;
    char       tmp[64];
    int        n;

    /* format into a scratch copy: callers may pass exactly 29 bytes (no room for the NUL) */
    gmtime_r(&t, &tm);
    n = snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                     pco_time_wdays[tm.tm_wday], tm.tm_mday, pco_time_months[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(buf, tmp, (size_t) n);
    return (size_t) n;
}

static void
pco_time_rebuild(time_t sec)
{
    struct tm  tm;
    long       off;
    char       sign;
    char       tmp[64];
    int        n;

    pco_time_cached_sec = sec;
    pco_cached_http_time.len = pco_http_time(pco_time_http_buf, sec);

    localtime_r(&sec, &tm);
    off = tm.tm_gmtoff / 60;
    sign = off < 0 ? '-' : '+';
    if (off < 0) {
        off = -off;
    }

    n = snprintf(tmp, sizeof(tmp), "%04d/%02d/%02d %02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(pco_time_err_buf, tmp, (size_t) n);
    pco_cached_err_log_time.len = (size_t) n;

    n = snprintf(tmp, sizeof(tmp), "%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld", tm.tm_mday,
                 pco_time_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, sign, off / 60, off % 60);
    memcpy(pco_time_log_buf, tmp, (size_t) n);
    pco_cached_log_time.len = (size_t) n;

    n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, sign, off / 60, off % 60);
    memcpy(pco_time_iso_buf, tmp, (size_t) n);
    pco_cached_iso8601.len = (size_t) n;
}

void
pco_time_init(void)
{
    tzset();
    pco_time_cached_sec = (time_t) -1;
    pco_time_update();
}

void
pco_time_update(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    pco_current_msec = (pco_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    clock_gettime(CLOCK_REALTIME, &ts);
    pco_time_sec = ts.tv_sec;
    pco_time_msec_part = (unsigned) (ts.tv_nsec / 1000000);

    if (pco_time_sec != pco_time_cached_sec) {
        pco_time_rebuild(pco_time_sec);
    }
}

void
pco_time_set_for_test(time_t sec)
{
    pco_time_sec = sec;
    pco_time_msec_part = 0;
    pco_time_rebuild(sec);
}

/* ---- parsing ---- */

static int
pco_time_month(const u_char *p)
{
    int  i;

    for (i = 0; i < 12; i++) {
        if (memcmp(p, pco_time_months[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

static bool
pco_time_digits(const u_char *p, int n, int *out)
{
    int  v, i;

    v = 0;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* "HH:MM:SS" */
static bool
pco_time_hms(const u_char *p, int *h, int *m, int *s)
{
    return pco_time_digits(p, 2, h) && p[2] == ':' && pco_time_digits(p + 3, 2, m)
           && p[5] == ':' && pco_time_digits(p + 6, 2, s);
}

/* Days since the epoch for a proleptic Gregorian date (month 0-11). */
static int64_t
pco_time_days(int year, int mon, int mday)
{
    int64_t  y, m, era, yoe, doy, doe;

    y = year;
    m = mon + 1;
    if (m <= 2) {
        y--;
    }
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + mday - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

time_t
pco_parse_http_time(const u_char *p, size_t len)
{
    const u_char  *e, *q;
    int            mday, mon, year, h, m, s, mdays;
    static const int  pco_time_mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    e = p + len;
    q = memchr(p, ',', len);
    if (q != NULL) {
        q++;
        if (e - q == 25 && q[0] == ' ') {
            /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
            q++;
            if (!pco_time_digits(q, 2, &mday) || q[2] != ' '
                || (mon = pco_time_month(q + 3)) < 0 || q[6] != ' '
                || !pco_time_digits(q + 7, 4, &year) || q[11] != ' '
                || !pco_time_hms(q + 12, &h, &m, &s) || memcmp(q + 20, " GMT", 4) != 0)
            {
                return -1;
            }
        } else if (e - q == 23 && q[0] == ' ') {
            /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
            q++;
            if (!pco_time_digits(q, 2, &mday) || q[2] != '-'
                || (mon = pco_time_month(q + 3)) < 0 || q[6] != '-'
                || !pco_time_digits(q + 7, 2, &year) || q[9] != ' '
                || !pco_time_hms(q + 10, &h, &m, &s) || memcmp(q + 18, " GMT", 4) != 0)
            {
                return -1;
            }
            year += year < 70 ? 2000 : 1900;
        } else {
            return -1;
        }
    } else if (len == 24) {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        q = p + 4;
        if (p[3] != ' ' || (mon = pco_time_month(q)) < 0 || q[3] != ' ') {
            return -1;
        }
        q += 4;
        if (q[0] == ' ') {
            if (!pco_time_digits(q + 1, 1, &mday)) {
                return -1;
            }
        } else if (!pco_time_digits(q, 2, &mday)) {
            return -1;
        }
        if (q[2] != ' ' || !pco_time_hms(q + 3, &h, &m, &s) || q[11] != ' '
            || !pco_time_digits(q + 12, 4, &year))
        {
            return -1;
        }
    } else {
        return -1;
    }

    if (mday < 1 || h > 23 || m > 59 || s > 60 || year < 1970) {
        return -1;
    }
    mdays = pco_time_mdays[mon];
    if (mon == 1 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) {
        mdays = 28;
    }
    if (mday > mdays) {
        return -1;
    }
    return (time_t) (pco_time_days(year, mon, mday) * 86400 + h * 3600 + m * 60 + s);
}
