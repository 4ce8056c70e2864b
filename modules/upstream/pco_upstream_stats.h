/*
 * pco_upstream_stats.h: recording into an upstream server's traffic statistics
 * (pco_upstream_stats_t, in its shared zone slot, pco_upstream.h). Header-only so the
 * request path pays an inline relaxed atomic add per event: no lock, no allocation. The
 * proxy module writes, the status module reads (docs/metrics.md).
 *
 * Latency is measured in microseconds with CLOCK_MONOTONIC read at the event (the cached
 * loop time has only millisecond steps), so the histograms have sub-millisecond buckets.
 */
#ifndef PCO_UPSTREAM_STATS_H
#define PCO_UPSTREAM_STATS_H

#include "pco_upstream.h"
#include <time.h>

/* Bucket upper bounds, microseconds; Prometheus `le` in seconds in the same order. */
static const int64_t pco_upstream_stats_bound_us[PCO_UPSTREAM_STATS_NBUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};

static const char *const pco_upstream_stats_le[PCO_UPSTREAM_STATS_NBUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1", "0.25", "0.5", "1", "2.5", "5", "10"
};

/* The bucket of a duration: the first whose bound is >= us (Prometheus `le`), else +Inf
 * (PCO_UPSTREAM_STATS_NBUCKETS). Negative durations (never, with a monotonic clock) go to
 * the first bucket. */
static inline unsigned
pco_upstream_stats_bucket(int64_t us)
{
    unsigned  lo = 0, hi = PCO_UPSTREAM_STATS_NBUCKETS;

    while (lo < hi) {           /* binary search: 4 steps */
        unsigned  mid = (lo + hi) / 2;

        if (us <= pco_upstream_stats_bound_us[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

static inline int64_t
pco_upstream_stats_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The statistics of s, or NULL before the zone is attached (unit tests). */
static inline pco_upstream_stats_t *
pco_upstream_stats(const pco_upstream_server_t *s)
{
    return s != NULL && s->shared != NULL ? &s->shared->stats : NULL;
}

static inline void
pco_upstream_stats_add(uint64_t *field, uint64_t n)
{
    __atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

/* Counts one event (a field of s's statistics, by offset) when s has statistics. */
#define pco_upstream_stats_inc(s, field, n)                                                 \
    do {                                                                                    \
        pco_upstream_stats_t  *st_ = pco_upstream_stats(s);                                 \
        if (st_ != NULL) {                                                                  \
            pco_upstream_stats_add(&st_->field, (uint64_t) (n));                            \
        }                                                                                   \
    } while (0)

static inline void
pco_upstream_stats_observe(pco_upstream_hist_t *h, int64_t us)
{
    if (us < 0) {
        us = 0;
    }
    pco_upstream_stats_add(&h->bucket[pco_upstream_stats_bucket(us)], 1);
    pco_upstream_stats_add(&h->sum_us, (uint64_t) us);
}

#endif
