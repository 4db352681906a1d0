/* Benchmark counters, I/O-free: per-stream sequence tracking and a log-linear latency histogram. */
#include "counters.h"

#include <math.h>
#include <string.h>

/* ---- sequence tracking ---- */

static int seen_get(const bc_seq_t *s, uint64_t seq)
{
    uint64_t b = seq % BC_WINDOW;
    return (int)((s->seen[b / 64] >> (b % 64)) & 1);
}

static void seen_set(bc_seq_t *s, uint64_t seq)
{
    uint64_t b = seq % BC_WINDOW;
    s->seen[b / 64] |= (uint64_t)1 << (b % 64);
}

static void seen_clear(bc_seq_t *s, uint64_t seq)
{
    uint64_t b = seq % BC_WINDOW;
    s->seen[b / 64] &= ~((uint64_t)1 << (b % 64));
}

void bc_seq_init(bc_seq_t *s)
{
    memset(s, 0, sizeof(*s));
}

bc_kind_t bc_seq_add(bc_seq_t *s, uint64_t seq)
{
    s->received++;
    if (seq >= s->next) {
        bc_kind_t kind = seq == s->next ? BC_IN_ORDER : BC_AHEAD;
        s->missing += seq - s->next;
        /* The window slides to end at seq: the slots of next..seq held
         * numbers that fall out of it and are cleared for their new owners. */
        if (seq - s->next >= BC_WINDOW)
            memset(s->seen, 0, sizeof(s->seen));
        else
            for (uint64_t i = s->next; i < seq; i++)
                seen_clear(s, i);
        seen_set(s, seq);
        s->next = seq + 1;
        return kind;
    }
    if (s->next - seq > BC_WINDOW) {
        s->stale++;
        return BC_STALE;
    }
    if (seen_get(s, seq)) {
        s->duplicates++;
        return BC_DUPLICATE;
    }
    seen_set(s, seq);
    s->missing--;
    s->reordered++;
    return BC_LATE;
}

void bc_seq_finish(bc_seq_t *s, uint64_t expect)
{
    if (s->finished)
        return;
    s->finished = 1;
    if (expect > s->next)
        s->missing += expect - s->next;
}

/* Reads decimal digits; returns the bytes used, 0 when none or on overflow. */
static size_t read_u64(const char *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

int bc_parse_payload(const char *data, size_t len, uint64_t *seq, int64_t *ts_us)
{
    uint64_t a, b;
    size_t n = read_u64(data, len, &a);
    if (n == 0 || n == len || data[n] != ' ')
        return -1;
    size_t m = read_u64(data + n + 1, len - n - 1, &b);
    if (m == 0 || b > INT64_MAX)
        return -1;
    if (n + 1 + m < len && data[n + 1 + m] != ' ')
        return -1;
    *seq = a;
    *ts_us = (int64_t)b;
    return 0;
}

/* ---- latency histogram ---- */

#define SUB_BITS 7 /* 128 buckets per power of two */
#define SUB (1 << SUB_BITS)
#define LINEAR (2 * SUB) /* values below this have a bucket each */

void bc_hist_init(bc_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = INT64_MAX;
    h->max = INT64_MIN;
}

size_t bc_hist_bucket(int64_t v)
{
    if (v < LINEAR)
        return v < 0 ? 0 : (size_t)v;
    if (v > BC_HIST_MAX)
        v = BC_HIST_MAX;
    int k = 63 - __builtin_clzll((unsigned long long)v); /* 2^k <= v < 2^(k+1), k >= 8 */
    int shift = k - SUB_BITS;
    return LINEAR + (size_t)(k - SUB_BITS - 1) * SUB + (size_t)((v >> shift) - SUB);
}

int64_t bc_hist_value(size_t bucket)
{
    if (bucket < LINEAR)
        return (int64_t)bucket;
    size_t octave = (bucket - LINEAR) / SUB, j = (bucket - LINEAR) % SUB;
    int shift = (int)octave + 1;
    int64_t low = (int64_t)(SUB + j) << shift;
    return low + (((int64_t)1 << shift) - 1) / 2;
}

void bc_hist_add(bc_hist_t *h, int64_t v, uint64_t n)
{
    if (n == 0)
        return;
    if (v < 0) {
        h->negative += n;
        v = 0;
    } else if (v > BC_HIST_MAX) {
        h->overflow += n;
        v = BC_HIST_MAX;
    }
    h->counts[bc_hist_bucket(v)] += n;
    h->total += n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void bc_hist_merge(bc_hist_t *dst, const bc_hist_t *src)
{
    for (size_t i = 0; i < BC_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->negative += src->negative;
    dst->overflow += src->overflow;
    if (src->total > 0) {
        if (src->min < dst->min)
            dst->min = src->min;
        if (src->max > dst->max)
            dst->max = src->max;
    }
}

int64_t bc_hist_quantile(const bc_hist_t *h, double q)
{
    if (h->total == 0)
        return 0;
    if (!(q > 0))
        return h->min;
    if (q >= 1)
        return h->max;
    uint64_t rank = (uint64_t)ceil(q * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BC_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            int64_t v = bc_hist_value(i);
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}
