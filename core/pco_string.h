/*
 * pco_string.h: small string helpers every module needs, exported once: case-insensitive
 * comparison of byte ranges and pco_str_t (ASCII case only, every byte compared: a NUL is
 * an ordinary byte), and formatting into a pool. The token test (pco_is_tchar,
 * pco_str_is_token) and the control-character test (pco_str_has_ctl) are in pco_core.h.
 * Nothing here blocks; only pco_psprintf allocates (from the pool given). pco_sprint_u64
 * and pco_sprint_i64 write a decimal number without the cost of printf's format parsing,
 * for the numbers every response carries (Content-Length, Age).
 */
#ifndef PCO_STRING_H
#define PCO_STRING_H

#include "pco_core.h"
#include "pco_pool.h"

static inline u_char
pco_ascii_lower(u_char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (u_char) (ch | 0x20) : ch;
}

/* Writes v in decimal at p (at most 20 bytes) and returns the end. */
static inline u_char *
pco_sprint_u64(u_char *p, uint64_t v)
{
    u_char   tmp[20];
    size_t   n = 0;

    do {
        tmp[n++] = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* Writes v in decimal at p (at most 20 bytes, "-" included) and returns the end. */
static inline u_char *
pco_sprint_i64(u_char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return pco_sprint_u64(p, (uint64_t) 0 - (uint64_t) v);
    }
    return pco_sprint_u64(p, (uint64_t) v);
}

/* Writes v in lowercase hexadecimal at p (at most 16 bytes; chunk sizes) and returns the end. */
static inline u_char *
pco_sprint_hex(u_char *p, uint64_t v)
{
    static const u_char  digits[] = "0123456789abcdef";
    u_char               tmp[16];
    size_t               n = 0;

    do {
        tmp[n++] = digits[v & 0xf];
        v >>= 4;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* Writes ms milliseconds as seconds with three decimals ("0.004", "12.345"; at most 25
 * bytes) at p and returns the end: $request_time, $upstream_response_time. */
static inline u_char *
pco_sprint_msec(u_char *p, int64_t ms)
{
    p = pco_sprint_i64(p, ms / 1000);
    ms = ms < 0 ? -ms : ms;
    *p++ = '.';
    *p++ = (u_char) ('0' + ms % 1000 / 100);
    *p++ = (u_char) ('0' + ms % 100 / 10);
    *p++ = (u_char) ('0' + ms % 10);
    return p;
}

/* Writes a status code 100..999 as exactly three digits at p and returns the end. */
static inline u_char *
pco_sprint_status(u_char *p, unsigned status)
{
    *p++ = (u_char) ('0' + status / 100 % 10);
    *p++ = (u_char) ('0' + status / 10 % 10);
    *p++ = (u_char) ('0' + status % 10);
    return p;
}

/* True when a[0..n) and b[0..n) are equal ignoring ASCII case. */
static inline bool
pco_mem_caseeq(const u_char *a, const u_char *b, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (pco_ascii_lower(a[i]) != pco_ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

/* True when a and b have the same length and bytes, ignoring ASCII case. */
static inline bool
pco_str_caseeq(const pco_str_t *a, const pco_str_t *b)
{
    return a->len == b->len && pco_mem_caseeq(a->data, b->data, a->len);
}

/* pco_str_caseeq against a NUL-terminated literal ("Content-Length"). */
static inline bool
pco_str_caseeq_lit(const pco_str_t *a, const char *lit)
{
    size_t  n = strlen(lit);

    return a->len == n && pco_mem_caseeq(a->data, (const u_char *) lit, n);
}

/* A decimal port of 1 to 5 digits in p[0..len), 0..65535; its value in *port (host order)
 * when port is not NULL. Port 0 passes: callers that need 1..65535 check it. */
static inline bool
pco_port_parse(const u_char *p, size_t len, unsigned *port)
{
    unsigned  v = 0;
    size_t    i;

    if (len == 0 || len > 5) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned) (p[i] - '0');
    }
    if (v > 65535) {
        return false;
    }
    if (port != NULL) {
        *port = v;
    }
    return true;
}

/* printf into memory from pool: the text (NUL-terminated, the NUL not counted in len), or
 * { 0, NULL } when the pool refuses the bytes or the format fails. */
pco_str_t pco_psprintf(pco_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
