/* Fixed-bucket latency histograms: constant size, no allocation, cheap to
 * add to on the hot path, exported as Prometheus histograms and read as
 * percentiles over a window (the difference of two snapshots). */
#ifndef SSE_HISTO_H
#define SSE_HISTO_H

#include <stdint.h>

#define HISTO_NBOUNDS 17 /* finite upper bounds; one more bucket holds the rest (+Inf) */

/* The buckets' upper bounds in microseconds, ascending (inclusive, as
 * Prometheus' "le"): 100 us .. 30 s. */
extern const uint64_t histo_bounds_us[HISTO_NBOUNDS];

typedef struct histo_s {
    uint64_t buckets[HISTO_NBOUNDS + 1]; /* observations per bucket (not cumulative); the last is +Inf */
    uint64_t count;                      /* observations */
    uint64_t sum_us;                     /* their sum, in microseconds */
} histo_t;

/* Records one observation of us microseconds. */
void histo_add(histo_t *h, uint64_t us);

/* out = now - then: the observations between two snapshots of the same
 * histogram (then taken earlier). out may alias now. */
void histo_sub(const histo_t *now, const histo_t *then, histo_t *out);

/* Observations at or below bound i (i = HISTO_NBOUNDS: all of them). */
uint64_t histo_cumulative(const histo_t *h, int i);

/* The q-quantile (0 <= q <= 1) in microseconds, interpolated linearly
 * inside its bucket as Prometheus' histogram_quantile does; a quantile in
 * the +Inf bucket is reported as the largest bound. -1 when h is empty. */
double histo_quantile_us(const histo_t *h, double q);

/* Mean in microseconds; -1 when h is empty. */
double histo_mean_us(const histo_t *h);

#endif
