/* Token buckets per client address: how many new streams an address may
 * open per second (with a burst). I/O-free; the caller passes the time. */
#ifndef SSE_RATELIMIT_H
#define SSE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RL_KEY_MAX 46   /* an address in text, NUL included (INET6_ADDRSTRLEN) */
#define RL_SLOTS 4096   /* addresses tracked at once; more evict the least recent */
#define RL_WINDOW 8     /* slots probed per address */

typedef struct rl_entry_s {
    char key[RL_KEY_MAX];  /* the address; "" = free */
    uint64_t last_ms;      /* when the bucket was last refilled */
    uint64_t milli;        /* tokens in thousandths, up to burst * 1000 */
} rl_entry_t;

typedef struct rl_s {
    rl_entry_t *slots; /* RL_SLOTS entries; NULL when limiting is off */
    uint32_t rate;     /* tokens per second */
    uint32_t burst;    /* bucket size */
} rl_t;

/* Prepares rl for rate tokens per second and a bucket of burst (rate 0:
 * off, every take succeeds). Returns 0, or -1 out of memory. */
int rl_init(rl_t *rl, uint32_t rate, uint32_t burst);

/* Takes one token for key at now_ms: 1 when allowed; 0 when the bucket is
 * empty, with the wait until the next token in *retry_ms. */
int rl_take(rl_t *rl, const char *key, uint64_t now_ms, uint32_t *retry_ms);

/* Frees the table; safe on a zeroed or freed rl. */
void rl_free(rl_t *rl);

#endif
