/* The bridge context: one event loop, its listener, streams and Redis link. */
#ifndef SSE_BRIDGE_H
#define SSE_BRIDGE_H

#include <stdint.h>
#include <uv.h>

#include "backoff.h"
#include "cluster.h"
#include "config.h"
#include "gzseg.h"
#include "health.h"
#include "hub.h"
#include "list.h"
#include "msg.h"
#include "ratelimit.h"
#include "rsub.h"
#include "sentinel.h"

#define BRIDGE_READ_BUF 65536 /* the one read buffer shared by every connection */

typedef struct bridge_stats_s {
    uint64_t connections_opened;  /* SSE streams opened */
    uint64_t connections_closed;  /* SSE streams closed, for any reason */
    uint64_t slow_consumer_drops; /* streams closed for exceeding their queue cap */
    uint64_t messages_received;   /* pub/sub messages read from Redis */
    uint64_t messages_malformed;  /* envelopes or flask-sse payloads rejected */
    uint64_t messages_oversize;   /* payloads over --max-message-bytes */
    uint64_t events_sent;         /* message deliveries queued to streams */
    uint64_t heartbeats_sent;     /* heartbeat deliveries queued to streams */
    uint64_t requests_rejected;   /* HTTP requests answered with an error status */
    uint64_t bytes_sent;          /* bytes written to client sockets */
    uint64_t batched_sends;       /* sends the kernel took through an io_uring submit */
    uint64_t batch_submits;       /* io_uring submits that carried them */
    uint64_t gzip_segments;       /* messages turned into gzip segments (once each) */
    uint64_t gzip_compressed;     /* of those, compressed (over the threshold) */
    uint64_t gzip_ns;             /* time spent building segments */
    uint64_t gzip_bytes_in;       /* identity bytes of gzip deliveries */
    uint64_t gzip_bytes_out;      /* segment bytes of gzip deliveries */
    uint64_t resumes;             /* streams opened with a valid resume cursor */
    uint64_t resume_ignored;      /* Last-Event-IDs that were no cursor (custom ids) */
    uint64_t replayed_events;     /* history events replayed to resuming streams */
    uint64_t replay_duplicates;   /* live events dropped as already replayed */
    uint64_t replay_malformed;    /* history entries that were not the publisher's */
    uint64_t replays_failed;      /* resumes cut short because Redis could not answer */
    uint64_t resets_sent;         /* "reset" events: a client may have missed events */
    uint64_t catchups;            /* channel catch-ups after Redis came back */
    uint64_t auth_failures;       /* stream requests refused for a missing or bad token */
    uint64_t tokens_expired;      /* streams closed because their token expired */
    uint64_t rate_limited;        /* stream requests refused by --rate-limit */
    uint64_t caught_up_events;    /* history events delivered by catch-ups */
} bridge_stats_t;

#define BRIDGE_REJECT_CODES 48 /* distinct error codes counted apart; more go to "other" */

typedef struct bridge_reject_s {
    const char *code;          /* an error code (a static string of ours) */
    uint64_t n;                /* requests answered with it */
} bridge_reject_t;

typedef struct bridge_s {
    uv_loop_t *loop;           /* the one loop everything runs on */
    const cfg_t *cfg;          /* configuration, read-only */
    uv_tcp_t listener;         /* accepting socket */
    uv_timer_t heartbeat;      /* sends a heartbeat to every stream */
    uv_timer_t sweep;          /* closes HTTP connections past their deadline */
    uv_timer_t drain;          /* bounds the shutdown */
    uv_check_t flush_check;    /* flushes queued writes after I/O callbacks */
    uv_prepare_t flush_prepare;/* flushes writes queued by timers, before polling */
    uv_timer_t coalesce;       /* with --coalesce-ms: the deferred flush */
    uv_timer_t replay_pump;    /* retries replays and catch-ups that wait */
    list_t replay_wait;        /* replays waiting for subscriptions or queue room */
    list_t catchups;           /* channel catch-ups under way */
    uint64_t barrier_sent;     /* replay barriers published on the probe channel */
    uint64_t barrier_seen;     /* the newest barrier that came back through pub/sub */
    int64_t next_token_exp;    /* the soonest token expiry of a stream; 0 = none */
    rl_t ratelimit;            /* --rate-limit: new streams per client IP */
    uv_signal_t sigterm;       /* graceful shutdown */
    uv_signal_t sigint;        /* graceful shutdown */
    hub_t hub;                 /* channel -> streams */
    rlink_addr_t redis_addr;   /* where the Redis links connect (written by Sentinel) */
    sentinel_t sentinel;       /* with redis-sentinel://: finds and follows the master */
    rsub_t rsub;               /* the Redis subscriber */
    cluster_t cluster;         /* the cluster-wide connection pool */
    uint64_t started_ms;       /* wall-clock start, ms since the epoch */
    list_t http_conns;         /* connections still reading a request, oldest deadline first */
    list_t streams;            /* SSE streams */
    list_t dirty;              /* connections with queued, unflushed bytes */
    uint64_t nstreams;         /* entries in streams */
    uint64_t nconns;           /* accepted connections not yet freed */
    rng_t rng;                 /* jitter for retry: values */
    int draining;              /* 1 after SIGTERM/SIGINT */
    int degraded_sent;         /* 1 after streams were told Redis is lost */
    int exit_code;             /* what main returns */
    char *rbuf;                /* the shared read buffer, BRIDGE_READ_BUF bytes */
    gzs_ctx_t gz;              /* the one compressor: every segment is built here */
    bridge_stats_t stats;      /* counters for /healthz and metrics */
    bridge_reject_t rejects[BRIDGE_REJECT_CODES]; /* refused requests by code, first seen first */
    health_t health;           /* the health monitor and latency histograms */
    struct sendbatch_s *sendbatch; /* io_uring batch of a flush's sends; NULL: one write each */
    uint64_t parsers_freed;    /* request parsers freed as connections became streams */
    uint64_t parsers_trimmed;  /* parsers_freed at the last heap trim */
    uint64_t parsers_seen;     /* parsers_freed at the previous sweep */
} bridge_t;

/* Sets up br on loop with cfg, binds the listener and starts everything.
 * Returns 0, or a negative UV error with a line logged. */
int bridge_start(bridge_t *br, uv_loop_t *loop, const cfg_t *cfg);

/* Starts the graceful shutdown (as SIGTERM does). */
void bridge_shutdown(bridge_t *br);

/* Frees what is left after uv_run returned. */
void bridge_free(bridge_t *br);

/* Bytes compression saved so far (identity minus gzip bytes of gzip
 * deliveries; 0 while stored segments' framing outweighs the savings). */
uint64_t bridge_bytes_saved(const bridge_t *br);

/* Called by a connection's close callback; ends a drain when it was the last. */
void bridge_conn_closed(bridge_t *br);

/* A stream's token expires at exp (s since the epoch): the sweep closes
 * it then. */
void bridge_watch_token(bridge_t *br, int64_t exp);

/* Counts a request refused with code (a static string): in
 * stats.requests_rejected and by code. */
void bridge_count_reject(bridge_t *br, const char *code);

/* Milliseconds since the epoch (wall clock). */
uint64_t bridge_now_ms(void);

#endif
