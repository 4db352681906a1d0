/* Token buckets per client address in one open-addressing table. An
 * address probes RL_WINDOW slots from its hash; a new one takes a free
 * slot, else one whose bucket refilled to full (forgetting it changes
 * nothing), else the least recently used (that address gets a full bucket
 * back: flooding with many addresses buys nothing per address). */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

int rl_init(rl_t *rl, uint32_t rate, uint32_t burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst > 0 ? burst : 1;
    if (rate == 0)
        return 0;
    rl->slots = calloc(RL_SLOTS, sizeof(*rl->slots));
    return rl->slots != NULL ? 0 : -1;
}

void rl_free(rl_t *rl)
{
    free(rl->slots);
    rl->slots = NULL;
}

static uint32_t rl_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* Refills e up to now; returns its tokens in thousandths. */
static uint64_t rl_refill(const rl_t *rl, rl_entry_t *e, uint64_t now_ms)
{
    uint64_t full = (uint64_t)rl->burst * 1000;
    if (now_ms > e->last_ms) {
        uint64_t add = (now_ms - e->last_ms) * rl->rate; /* rate/s = rate thousandths per ms */
        e->milli = add >= full - e->milli ? full : e->milli + add;
        e->last_ms = now_ms;
    }
    return e->milli;
}

int rl_take(rl_t *rl, const char *key, uint64_t now_ms, uint32_t *retry_ms)
{
    if (rl->slots == NULL)
        return 1;
    size_t klen = strlen(key);
    if (klen >= RL_KEY_MAX)
        klen = RL_KEY_MAX - 1;
    uint32_t h = rl_hash(key);
    uint64_t full = (uint64_t)rl->burst * 1000;
    rl_entry_t *e = NULL, *free_slot = NULL, *full_slot = NULL, *lru = NULL;
    for (uint32_t i = 0; i < RL_WINDOW && e == NULL; i++) {
        rl_entry_t *s = &rl->slots[(h + i) % RL_SLOTS];
        if (s->key[0] == '\0') {
            if (free_slot == NULL)
                free_slot = s;
        } else if (strncmp(s->key, key, klen) == 0 && s->key[klen] == '\0') {
            e = s;
        } else if (rl_refill(rl, s, now_ms) == full) {
            if (full_slot == NULL)
                full_slot = s;
        } else if (lru == NULL || s->last_ms < lru->last_ms) {
            lru = s;
        }
    }
    rl_entry_t *spare = free_slot != NULL ? free_slot : full_slot != NULL ? full_slot : lru;
    if (e == NULL) {
        e = spare;
        memcpy(e->key, key, klen);
        e->key[klen] = '\0';
        e->last_ms = now_ms;
        e->milli = full;
    }
    rl_refill(rl, e, now_ms);
    if (e->milli >= 1000) {
        e->milli -= 1000;
        return 1;
    }
    *retry_ms = (uint32_t)((1000 - e->milli + rl->rate - 1) / rl->rate);
    return 0;
}
