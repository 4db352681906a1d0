/* Exponential backoff with "equal jitter", drawn from a xorshift64* PRNG. */
#include "backoff.h"

/* Replaces a zero state, which xorshift would never leave. */
#define RNG_ZERO_SEED 0x9e3779b97f4a7c15ULL

void rng_seed(rng_t *r, uint64_t seed)
{
    /* One splitmix64 step spreads neighbouring seeds (pid, time) over the whole
     * state, so replicas started together do not draw correlated sequences. */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    r->s = z != 0 ? z : RNG_ZERO_SEED;
}

uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    if (x == 0) /* an unseeded, zeroed generator still makes progress */
        x = RNG_ZERO_SEED;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo;
    if (span == UINT64_MAX)
        return rng_next(r);
    uint64_t n = span + 1;
    /* Rejecting the lowest (2^64 mod n) values leaves a multiple of n
     * outcomes, so the modulo below has no bias. */
    uint64_t threshold = (0 - n) % n;
    uint64_t x;
    do
        x = rng_next(r);
    while (x < threshold);
    return lo + x % n;
}

void backoff_init(backoff_t *b, uint32_t base_ms, uint32_t cap_ms, uint64_t seed)
{
    b->base_ms = base_ms >= 1 ? base_ms : 1;
    b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
    b->attempt = 0;
    rng_seed(&b->rng, seed);
}

uint32_t backoff_next(backoff_t *b)
{
    /* base < 2^32, so base << 31 still fits in 64 bits; from 32 doublings on
     * any base >= 1 is past every 32-bit cap. */
    uint64_t d = b->cap_ms;
    if (b->attempt < 32) {
        uint64_t grown = (uint64_t)b->base_ms << b->attempt;
        if (grown < d)
            d = grown;
    }
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    return (uint32_t)rng_range(&b->rng, d / 2, d);
}

void backoff_reset(backoff_t *b)
{
    b->attempt = 0;
}

uint32_t jitter_ms(rng_t *r, uint32_t ms)
{
    uint64_t lo = ms / 2;
    uint64_t hi = (uint64_t)ms + ms / 2;
    if (hi > UINT32_MAX) /* only for absurd inputs; keeps the result representable */
        hi = UINT32_MAX;
    return (uint32_t)rng_range(r, lo, hi);
}
