/* The health monitor: periodic checks of this bridge (connections and
 * healthy connections, error rate, throughput, latency percentiles, Redis
 * status and round trip, memory and descriptors), alerts raised and
 * cleared on thresholds, a bounded history, and the latency histograms fed
 * from the fan-out hot path without allocating. */
#ifndef SSE_HEALTH_H
#define SSE_HEALTH_H

#include <stdint.h>
#include <uv.h>

#include "histo.h"
#include "list.h"

struct bridge_s;
struct conn_s;

#define HEALTH_PENDING_MAX 1024  /* fanned-out messages waiting for their flush */
#define HEALTH_ALERT_LOG_MAX 32  /* alert raises and clears kept for /sse/metrics */
#define HEALTH_TICKS_MAX 120     /* one-second dashboard samples kept (two minutes) */
#define HEALTH_WATCHERS_MAX 32   /* dashboard streams at once */
#define HEALTH_ERROR_RATE_MAX 0.05 /* error_rate alert: errors / (deliveries + errors) above this */
#define HEALTH_ERRORS_MIN 5      /* ... with at least this many errors in the interval */
#define HEALTH_UNHEALTHY_SHARE 0.1 /* queue_pressure alert: this share of streams unhealthy */
#define HEALTH_REPLICAS_MAX 16   /* replicas shown per bridge on the dashboard */
#define HEALTH_REPLICAS_EVERY 5  /* ticks between reads of the replicas' mirrored figures */

typedef enum {
    HEALTH_ALERT_REDIS_DOWN = 0, /* Redis delivery lost at the check */
    HEALTH_ALERT_ERROR_RATE,     /* error rate over the interval above the threshold */
    HEALTH_ALERT_QUEUE_PRESSURE, /* streams falling behind, or slow consumers cut */
    HEALTH_NALERTS
} health_alert_id_t;

extern const char *const health_alert_names[HEALTH_NALERTS];

/* One health check's figures. Latencies are -1 when the interval had none. */
typedef struct health_sample_s {
    uint64_t at_ms;          /* wall clock of the check */
    double interval_s;       /* seconds since the previous check (or the start) */
    uint64_t connections;    /* open streams */
    uint64_t healthy;        /* of those, healthy */
    uint64_t errors;         /* errors in the interval */
    double error_rate;       /* errors / (deliveries + errors) in the interval */
    double events_per_s;     /* deliveries per second */
    double bytes_per_s;      /* bytes written per second */
    double messages_per_s;   /* messages received from Redis per second */
    uint64_t latency_count;  /* envelopes with ts delivered in the interval */
    double latency_p50_ms;   /* publish -> last write, median */
    double latency_p90_ms;   /* ... 90th percentile */
    double latency_p99_ms;   /* ... 99th percentile */
    double latency_mean_ms;  /* ... mean */
    uint64_t fanout_count;   /* messages fanned out in the interval */
    double fanout_p50_ms;    /* receipt -> fan-out written, median */
    double fanout_p99_ms;    /* ... 99th percentile */
    int redis_up;            /* 1: subscribed and delivering */
    int pool_up;             /* 1: the cluster pool's link is up */
    double redis_rtt_ms;     /* PING round trip on the command link; -1 unknown */
    uint64_t rss_bytes;      /* resident memory */
    uint64_t open_fds;       /* open descriptors */
    uint32_t alerts;         /* active alerts after the check, bit per health_alert_id_t */
} health_sample_t;

/* One second of dashboard figures. */
typedef struct health_tick_s {
    uint64_t at_ms;           /* wall clock */
    uint64_t connections;     /* open streams */
    uint64_t healthy;         /* healthy streams */
    double events_per_s;      /* deliveries in the last second */
    double bytes_per_s;       /* bytes written in the last second */
    double messages_per_s;    /* messages received in the last second */
    double p50_ms;            /* publish -> write over the last second; -1 none */
    double p90_ms;            /* ... */
    double p99_ms;            /* ... */
    double fanout_p99_ms;     /* receipt -> written; -1 none */
    int redis_up;             /* 1: delivering */
    double redis_rtt_ms;      /* last PING round trip; -1 unknown */
    uint64_t rss_bytes;       /* resident memory */
    uint32_t alerts;          /* active alerts */
    uint64_t cl_bridges;      /* replicas with a live lease (0: no cluster figures) */
    uint64_t cl_connections;  /* cluster-wide streams */
    uint64_t cl_healthy;      /* cluster-wide healthy streams */
    double cl_events_per_s;   /* cluster-wide deliveries per second (between renewals) */
} health_tick_t;

/* One replica's mirrored figures, read from the pool's keys. */
typedef struct health_replica_s {
    char id[72];              /* its bridge id */
    uint64_t connections;     /* its open streams */
    uint64_t healthy;         /* its healthy streams */
    uint64_t events_sent;     /* its deliveries so far */
    double events_per_s;      /* between the last two reads; -1 unknown */
    double p99_ms;            /* its last check's publish -> write p99; -1 unknown */
    int redis_up;             /* its subscriber delivers */
    uint64_t read_ms;         /* loop time of the read */
} health_replica_t;

typedef struct health_alert_s {
    int active;          /* raised and not cleared */
    uint64_t since_ms;   /* when it was raised */
    uint64_t raised;     /* times raised since the start */
    char detail[160];    /* why, in words */
} health_alert_t;

typedef struct health_event_s {
    uint64_t at_ms;      /* when */
    uint8_t alert;       /* health_alert_id_t */
    uint8_t raised;      /* 1 raised, 0 cleared */
} health_event_t;

typedef struct health_pending_s {
    uint64_t recv_ns;    /* loop hrtime the message came off the Redis socket */
    double ts_ms;        /* the envelope's publish time, 0 when it had none */
} health_pending_t;

typedef struct health_s {
    struct bridge_s *br;         /* the bridge */
    uv_timer_t check;            /* every --health-check-interval */
    uv_timer_t tick;             /* every second: dashboard figures */
    int started;                 /* the timers were initialised */
    histo_t latency;             /* publish (envelope ts) -> last write of the fan-out */
    histo_t fanout;              /* receipt off the Redis socket -> fan-out written */
    uint64_t recv_ns;            /* receipt of the message being delivered; 0 none */
    health_pending_t pend[HEALTH_PENDING_MAX]; /* fanned out, waiting for the flush */
    uint32_t npend;              /* entries in pend */
    uint64_t checks;             /* checks done */
    uint64_t prev_ns;            /* hrtime of the previous check */
    uint64_t prev_events;        /* deliveries at the previous check */
    uint64_t prev_bytes;         /* bytes written at the previous check */
    uint64_t prev_errors;        /* errors at the previous check */
    uint64_t prev_received;      /* messages received at the previous check */
    uint64_t prev_drops;         /* slow-consumer drops at the previous check */
    histo_t prev_latency;        /* latency at the previous check */
    histo_t prev_fanout;         /* fanout at the previous check */
    health_sample_t *history;    /* ring of --health-history samples */
    uint32_t hist_cap;           /* its capacity */
    uint32_t hist_len;           /* samples in it */
    uint32_t hist_head;          /* index of the oldest */
    health_alert_t alerts[HEALTH_NALERTS]; /* alert states */
    health_event_t alert_log[HEALTH_ALERT_LOG_MAX]; /* ring of raises and clears */
    uint32_t log_len;            /* entries in alert_log */
    uint32_t log_head;           /* index of the oldest */
    uint64_t ping_sent_ns;       /* hrtime of the PING in flight; 0 none */
    double redis_rtt_ms;         /* last PING round trip; -1 unknown */
    list_t watchers;             /* dashboard streams (conn_t.node) */
    uint32_t nwatchers;          /* entries in watchers */
    health_tick_t ticks[HEALTH_TICKS_MAX]; /* ring of one-second samples */
    uint32_t ticks_len;          /* samples in ticks */
    uint32_t ticks_head;         /* index of the oldest */
    uint64_t tick_ns;            /* hrtime of the previous tick */
    uint64_t tick_events;        /* deliveries at the previous tick */
    uint64_t tick_bytes;         /* bytes at the previous tick */
    uint64_t tick_received;      /* messages received at the previous tick */
    histo_t tick_latency;        /* latency at the previous tick */
    histo_t tick_fanout;         /* fanout at the previous tick */
    uint64_t cl_at_ms;           /* cluster totals' time at the previous rate */
    uint64_t cl_events;          /* cluster deliveries then */
    double cl_events_per_s;      /* the last cluster rate */
    uint64_t mirrored_healthy;   /* our healthy streams in the last renewal sent to the pool */
    health_replica_t replicas[HEALTH_REPLICAS_MAX]; /* every live replica, by id */
    uint32_t nreplicas;          /* entries in replicas */
    uint64_t ticks_done;         /* ticks since the start */
    int replicas_inflight;       /* a read of the replicas is pending */
} health_t;

/* Prepares h for br (allocates the history: returns 0 or UV_ENOMEM). */
int health_init(health_t *h, struct bridge_s *br);

/* Starts the check and tick timers. */
void health_start(health_t *h);

/* Shutdown begins: dashboard streams are finished. */
void health_shutdown(health_t *h);

/* Closes the timers (the loop then ends). */
void health_close(health_t *h);

/* Frees the history, after the loop ended. */
void health_free(health_t *h);

/* Hot path: a message came off the Redis socket now. */
static inline void health_on_receipt(health_t *h)
{
    h->recv_ns = uv_hrtime();
}

/* Hot path: the message was fanned out (queued to its subscribers);
 * ts_ms is its envelope's publish time, 0 when none. Timed when the
 * queued writes are flushed. */
void health_on_fanout(health_t *h, double ts_ms);

/* The queued writes were just flushed: times what was fanned out since. */
void health_on_flushed(health_t *h);

/* Streams healthy now (by the last check's queue sizes). */
uint64_t health_healthy(const health_t *h);

/* Our healthy streams for the cluster's mirrored counters (remembered,
 * so cluster sums can be brought up to date with our live figure). */
uint64_t health_mirror_healthy(health_t *h);

/* The cluster's healthy streams: the sum from the last renewal (cl_sum)
 * with our share replaced by our live figure, at most total. */
uint64_t health_cluster_healthy(const health_t *h, uint64_t cl_sum, uint64_t total);

/* 1 when stream c is unhealthy at loop time now_ms: its queue grew since
 * the last check, or bytes have waited a heartbeat interval unwritten. */
int health_conn_unhealthy(const health_t *h, const struct conn_s *c, uint64_t now_ms);

/* The latest check, or NULL before the first. */
const health_sample_t *health_last(const health_t *h);

/* The i-th sample of the history, oldest first (i < hist_len). */
const health_sample_t *health_history_at(const health_t *h, uint32_t i);

/* The i-th dashboard tick, oldest first (i < ticks_len). */
const health_tick_t *health_tick_at(const health_t *h, uint32_t i);

/* Mean publish -> write latency in ms: over the last check's interval when
 * it had any, else since the start; 0 when nothing was measured. */
double health_average_latency_ms(const health_t *h);

/* Resident memory and open descriptors of this process (0 when unknown). */
uint64_t health_rss_bytes(void);
uint64_t health_open_fds(void);

/* Takes c (a request for the dashboard stream) as a watcher: it gets
 * every tick until it closes. Answers 503 when too many watch. */
void health_watch(health_t *h, struct conn_s *c);

#endif
