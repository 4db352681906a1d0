/* Benchmark counters, I/O-free: per-stream sequence tracking and a log-linear latency histogram. */
#ifndef BENCH_COUNTERS_H
#define BENCH_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- sequence tracking ----
 * A publisher sends seq 0, 1, 2, ... ; each stream should see every one once
 * and in order. The tracker remembers which of the last BC_WINDOW numbers
 * below the highest seen arrived, so a late event is told from a duplicate
 * with constant memory per stream. */

#define BC_WINDOW 1024 /* sequence numbers remembered behind the highest seen */

typedef enum bc_kind_e {
    BC_IN_ORDER = 0,  /* the next number expected */
    BC_AHEAD = 1,     /* past a gap: the skipped numbers count as missing for now */
    BC_LATE = 2,      /* a missing number arriving after a higher one (reordered) */
    BC_DUPLICATE = 3, /* a number already received */
    BC_STALE = 4      /* older than the window: a duplicate or a very late event */
} bc_kind_t;

typedef struct bc_seq_s {
    uint64_t next;       /* one past the highest number seen; 0 before any */
    uint64_t received;   /* numbers passed to bc_seq_add() */
    uint64_t missing;    /* numbers below next never received (tail added by finish) */
    uint64_t duplicates; /* numbers received more than once */
    uint64_t reordered;  /* numbers received after a higher one */
    uint64_t stale;      /* numbers older than the window (left counted missing) */
    uint64_t
        seen[BC_WINDOW / 64]; /* bit s % BC_WINDOW: s arrived, for next - BC_WINDOW <= s < next */
    int finished;             /* bc_seq_finish() ran */
} bc_seq_t;

/* Prepares an empty tracker. */
void bc_seq_init(bc_seq_t *s);

/* Counts one received sequence number and returns how it arrived. */
bc_kind_t bc_seq_add(bc_seq_t *s, uint64_t seq);

/* Ends the stream of a publisher that sent 0..expect-1: numbers from next
 * to expect - 1 never arrived and are added to missing. expect 0 means
 * unknown (nothing added). Only the first call counts. */
void bc_seq_finish(bc_seq_t *s, uint64_t expect);

/* Reads the publisher's payload "<seq> <ts_us> <padding>" (the padding and
 * the space before it optional). Returns 0 and fills seq and ts_us, or -1
 * when data does not start that way. data need not be NUL-terminated. */
int bc_parse_payload(const char *data, size_t len, uint64_t *seq, int64_t *ts_us);

/* ---- latency histogram ----
 * Values in microseconds from 0 to BC_HIST_MAX. Values below 256 have a
 * bucket each; above, every power of two is cut into 128 equal buckets, so a
 * value reported for a bucket (its middle) is within 0.4% of every value in
 * it. Extremes are kept exactly. */

#define BC_HIST_MAX 60000000LL /* 60 s: larger values are recorded as this */
#define BC_HIST_BUCKETS                                                                            \
    2533 /* bc_hist_bucket(BC_HIST_MAX) + 1: 256 exact, then 128 per power of two */

typedef struct bc_hist_s {
    uint64_t counts[BC_HIST_BUCKETS]; /* values per bucket */
    uint64_t total;                   /* values recorded */
    uint64_t negative;                /* values below 0 (a clock step), recorded as 0 */
    uint64_t overflow;                /* values above BC_HIST_MAX, recorded as BC_HIST_MAX */
    int64_t min;                      /* smallest value recorded (after clamping) */
    int64_t max;                      /* largest value recorded (after clamping) */
} bc_hist_t;

/* Prepares an empty histogram. */
void bc_hist_init(bc_hist_t *h);

/* Records n occurrences of value v. */
void bc_hist_add(bc_hist_t *h, int64_t v, uint64_t n);

/* Adds every value of src to dst. */
void bc_hist_merge(bc_hist_t *dst, const bc_hist_t *src);

/* The bucket of a value in [0, BC_HIST_MAX], and the value reported for a
 * bucket (the middle of its range). */
size_t bc_hist_bucket(int64_t v);
int64_t bc_hist_value(size_t bucket);

/* The value below or at which a fraction q (0..1) of the recorded values
 * lie: the reported value of the bucket holding the ceil(q * total)-th
 * smallest, kept within [min, max] (so q = 1 is the exact max). 0 when empty. */
int64_t bc_hist_quantile(const bc_hist_t *h, double q);

#endif
