/* Exponential backoff with jitter, and the small PRNG it draws from. */
#ifndef SSE_BACKOFF_H
#define SSE_BACKOFF_H

#include <stdint.h>

/* xorshift64* state; never 0. */
typedef struct rng_s {
    uint64_t s; /* current state */
} rng_t;

/* Seeds r (a seed of 0 is replaced by a fixed non-zero constant). */
void rng_seed(rng_t *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t rng_next(rng_t *r);

/* Uniform integer in [lo, hi] (hi >= lo). */
uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi);

typedef struct backoff_s {
    uint32_t base_ms; /* delay before the first retry, before jitter */
    uint32_t cap_ms;  /* the delay never exceeds this */
    uint32_t attempt; /* retries so far since the last reset */
    rng_t rng;        /* jitter source */
} backoff_t;

/* Sets up b: base_ms >= 1, cap_ms >= base_ms. */
void backoff_init(backoff_t *b, uint32_t base_ms, uint32_t cap_ms, uint64_t seed);

/* The delay before the next attempt, with "equal jitter": with
 * d = min(cap, base * 2^attempt), a uniform value in [d/2, d]. Then counts
 * the attempt. Half the delay is guaranteed (no hammering), half is spread
 * (no thundering herd). */
uint32_t backoff_next(backoff_t *b);

/* Starts over at base after a success. */
void backoff_reset(backoff_t *b);

/* A uniform value in [ms/2, ms*3/2]: used for the SSE "retry:" field so that
 * clients told to come back do not all come back at once. */
uint32_t jitter_ms(rng_t *r, uint32_t ms);

#endif
