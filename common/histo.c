/* Fixed-bucket latency histograms. */
#include "histo.h"

#include <string.h>

const uint64_t histo_bounds_us[HISTO_NBOUNDS] = {
    100,    250,    500,     1000,    2500,    5000,    10000,    25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

void histo_add(histo_t *h, uint64_t us)
{
    /* Most observations are small: a linear scan from the bottom ends early. */
    int i = 0;
    while (i < HISTO_NBOUNDS && us > histo_bounds_us[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_us += us;
}

void histo_sub(const histo_t *now, const histo_t *then, histo_t *out)
{
    for (int i = 0; i <= HISTO_NBOUNDS; i++)
        out->buckets[i] = now->buckets[i] - then->buckets[i];
    out->count = now->count - then->count;
    out->sum_us = now->sum_us - then->sum_us;
}

uint64_t histo_cumulative(const histo_t *h, int i)
{
    uint64_t n = 0;
    for (int k = 0; k <= i && k <= HISTO_NBOUNDS; k++)
        n += h->buckets[k];
    return n;
}

double histo_quantile_us(const histo_t *h, double q)
{
    if (h->count == 0)
        return -1;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    double rank = q * (double)h->count;
    uint64_t below = 0;
    for (int i = 0; i < HISTO_NBOUNDS; i++) {
        uint64_t n = h->buckets[i];
        if (n > 0 && (double)(below + n) >= rank) {
            double lo = i == 0 ? 0 : (double)histo_bounds_us[i - 1];
            double hi = (double)histo_bounds_us[i];
            double frac = (rank - (double)below) / (double)n;
            if (frac < 0)
                frac = 0;
            return lo + (hi - lo) * frac;
        }
        below += n;
    }
    return (double)histo_bounds_us[HISTO_NBOUNDS - 1];
}

double histo_mean_us(const histo_t *h)
{
    return h->count == 0 ? -1 : (double)h->sum_us / (double)h->count;
}
