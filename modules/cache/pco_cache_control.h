/*
 * pco_cache_control.h: the HTTP caching rules a shared cache applies, as pure functions
 * (no I/O, no allocation, no clock: the caller passes every time). Parses the response
 * headers that decide caching (Cache-Control, Expires, Date, Age, Last-Modified, Set-Cookie,
 * Vary) and the request's (Cache-Control, Pragma, Authorization); decides whether a response
 * may be stored, its freshness lifetime and age (RFC 9111), whether a stored response may
 * be served fresh or stale (RFC 5861 windows), and formats the Cache-Status (RFC 9211) and
 * X-Cache-Status values. No heuristic freshness from Last-Modified: like nginx, a response
 * without explicit freshness is stored only for the time the configuration gives its status.
 */
#ifndef PCO_CACHE_CONTROL_H
#define PCO_CACHE_CONTROL_H

#include "pco_core.h"
#include <time.h>

#define PCO_CACHE_NONE       (-1)           /* a delta-seconds directive that is absent */
#define PCO_CACHE_ANY        INT64_MAX      /* request max-stale without a value */
#define PCO_CACHE_DELTA_MAX  2147483648LL   /* larger delta-seconds are read as 2^31 */

/* Response Cache-Control directives, accumulated over every Cache-Control line. */
typedef struct {
    unsigned   no_store:1;
    unsigned   no_cache:1;          /* with or without field names */
    unsigned   private_:1;          /* with or without field names */
    unsigned   public_:1;
    unsigned   must_revalidate:1;
    unsigned   proxy_revalidate:1;
    int64_t    max_age;             /* PCO_CACHE_NONE when absent; 0 when malformed */
    int64_t    s_maxage;            /* PCO_CACHE_NONE when absent; 0 when malformed */
    int64_t    stale_while_revalidate;  /* PCO_CACHE_NONE when absent or malformed */
    int64_t    stale_if_error;          /* PCO_CACHE_NONE when absent or malformed */
} pco_cache_resp_cc_t;

/* What the cache needs from a response head. */
typedef struct {
    pco_cache_resp_cc_t  cc;
    time_t     date;                /* -1 when absent or invalid */
    time_t     expires;             /* -1 when absent; 0 when invalid ("0" means expired) */
    time_t     last_modified;       /* -1 when absent or invalid */
    int64_t    age;                 /* Age value, 0 when absent or invalid */
    unsigned   has_expires:1;
    unsigned   has_age:1;
    unsigned   set_cookie:1;
    unsigned   vary_star:1;         /* Vary: * */
} pco_cache_resp_t;

/* Request Cache-Control (and Pragma, Authorization). */
typedef struct {
    unsigned   no_cache:1;          /* Cache-Control: no-cache */
    unsigned   no_store:1;
    unsigned   only_if_cached:1;
    unsigned   authorization:1;
    unsigned   has_cache_control:1; /* Pragma counts only without Cache-Control */
    unsigned   pragma_no_cache:1;   /* Pragma: no-cache (counts only without Cache-Control) */
    int64_t    max_age;             /* PCO_CACHE_NONE when absent; 0 when malformed */
    int64_t    max_stale;           /* PCO_CACHE_NONE absent or malformed; ANY without value */
    int64_t    min_fresh;           /* PCO_CACHE_NONE when absent or malformed */
} pco_cache_req_t;

/* Why a response is not stored (PCO_CACHE_STORE when it is). */
typedef enum {
    PCO_CACHE_STORE = 0,
    PCO_CACHE_NOSTORE_METHOD,       /* not GET or HEAD */
    PCO_CACHE_NOSTORE_STATUS,       /* 1xx, 206, 304, or outside 200-599 */
    PCO_CACHE_NOSTORE_REQUEST,      /* request Cache-Control: no-store */
    PCO_CACHE_NOSTORE_NO_STORE,
    PCO_CACHE_NOSTORE_NO_CACHE,
    PCO_CACHE_NOSTORE_PRIVATE,
    PCO_CACHE_NOSTORE_SET_COOKIE,
    PCO_CACHE_NOSTORE_AUTHORIZATION,
    PCO_CACHE_NOSTORE_VARY_STAR,
    PCO_CACHE_NOSTORE_LIFETIME      /* no lifetime, or 0 with no stale window */
} pco_cache_store_e;

/* Freshness facts of a stored response: computed once when it is stored, kept in the entry. */
typedef struct {
    int64_t    lifetime;            /* freshness lifetime, seconds */
    int64_t    initial_age;         /* corrected initial age at response_time */
    time_t     response_time;       /* when the response was received */
    int64_t    stale_while_revalidate;  /* window after expiry, PCO_CACHE_NONE when none */
    int64_t    stale_if_error;          /* window after expiry, PCO_CACHE_NONE when none */
    bool       no_stale;            /* must-revalidate, proxy-revalidate or s-maxage */
} pco_cache_fresh_t;

/* What a lookup may do with a stored response. */
typedef enum {
    PCO_CACHE_USE_FRESH = 0,        /* serve it */
    PCO_CACHE_USE_STALE_REVALIDATE, /* serve it stale and refresh it in the background */
    PCO_CACHE_USE_STALE_ALLOWED,    /* serve it stale: the request's max-stale allows it */
    PCO_CACHE_USE_EXPIRED           /* forward the request */
} pco_cache_use_e;

/* Why a stale response might be served instead of the upstream's. */
typedef enum {
    PCO_CACHE_STALE_ERROR,          /* the upstream failed or timed out */
    PCO_CACHE_STALE_UPDATING        /* another request is refreshing it */
} pco_cache_stale_e;

/* Cache outcomes, reported in X-Cache-Status and Cache-Status. */
typedef enum {
    PCO_CACHE_STATUS_MISS = 0,
    PCO_CACHE_STATUS_HIT,
    PCO_CACHE_STATUS_EXPIRED,
    PCO_CACHE_STATUS_STALE,
    PCO_CACHE_STATUS_UPDATING,
    PCO_CACHE_STATUS_BYPASS,
    PCO_CACHE_STATUS_REVALIDATED    /* expired, the upstream answered 304: the entry served */
} pco_cache_status_e;

typedef struct {
    pco_cache_status_e  outcome;
    unsigned            fwd_status;   /* upstream status when forwarded, 0 when none */
    bool                stored;       /* MISS/EXPIRED: the response was stored */
    bool                has_ttl;
    int64_t             ttl;          /* HIT/STALE/UPDATING: lifetime - age (negative: stale) */
} pco_cache_status_t;

#define PCO_CACHE_STATUS_LEN  96      /* enough for the longest Cache-Status value */

void pco_cache_resp_init(pco_cache_resp_t *resp);
void pco_cache_req_init(pco_cache_req_t *req);

/* Parses one Cache-Control line into cc (call once per line: directives accumulate; a
 * repeated delta-seconds directive keeps its first value). Unknown directives are ignored. */
void pco_cache_cc_parse_resp(pco_cache_resp_cc_t *cc, const u_char *p, size_t len);
void pco_cache_cc_parse_req(pco_cache_req_t *req, const u_char *p, size_t len);

/* Feeds one response (request) header line; names are matched ignoring case, other headers
 * are ignored. */
void pco_cache_resp_header(pco_cache_resp_t *resp, const pco_str_t *name,
                           const pco_str_t *value);
void pco_cache_req_header(pco_cache_req_t *req, const pco_str_t *name, const pco_str_t *value);

/* Parses delta-seconds (RFC 9111: digits only, capped at 2^31); -1 when malformed. */
int64_t pco_cache_delta_seconds(const u_char *p, size_t len);

/*
 * The freshness lifetime: s-maxage, else max-age, else Expires - Date (Date absent: the
 * response_time), else valid (the configured time for this status, PCO_CACHE_NONE when the
 * configuration has none). PCO_CACHE_NONE when there is none at all; never negative else.
 */
int64_t pco_cache_lifetime(const pco_cache_resp_t *resp, time_t response_time, int64_t valid);

/* Whether the response to req may be stored; lifetime as pco_cache_lifetime returned.
 * allow_set_cookie: store responses with Set-Cookie (the cookie is stored too). */
pco_cache_store_e pco_cache_storable(const pco_str_t *method, const pco_cache_req_t *req,
                                     unsigned status, const pco_cache_resp_t *resp,
                                     int64_t lifetime, bool allow_set_cookie);
const char *pco_cache_store_reason(pco_cache_store_e reason);

/* Fills f for a response received at response_time for a request sent at request_time. */
void pco_cache_fresh_init(pco_cache_fresh_t *f, const pco_cache_resp_t *resp, int64_t lifetime,
                          time_t request_time, time_t response_time);
/* Current age at now (RFC 9111 section 4.2.3), never negative. */
int64_t pco_cache_current_age(const pco_cache_fresh_t *f, time_t now);
/* What a lookup at now may do; req may be NULL to ignore request directives. */
pco_cache_use_e pco_cache_use(const pco_cache_fresh_t *f, const pco_cache_req_t *req,
                              time_t now);
/* Whether a stale response may be served for why: the response's own window
 * (stale-if-error, stale-while-revalidate) or the configuration (configured) allows it, and
 * nothing forbids it (must-revalidate, proxy-revalidate, s-maxage). */
bool pco_cache_stale_ok(const pco_cache_fresh_t *f, pco_cache_stale_e why, bool configured,
                        time_t now);

/* "HIT", "MISS", ... for X-Cache-Status and $upstream_cache_status. */
const char *pco_cache_status_name(pco_cache_status_e outcome);
/* The Cache-Status value ("portico; hit; ttl=60") into buf; its length, 0 when it does not
 * fit in size bytes. */
size_t pco_cache_status_format(u_char *buf, size_t size, const pco_cache_status_t *s);

#endif
