/* The cluster-wide connection pool: admission against cluster-wide limits,
 * leases that free a dead replica's slots, and mirrored health counters,
 * all through atomic Lua scripts on a second Redis connection. */
#ifndef SSE_CLUSTER_H
#define SSE_CLUSTER_H

#include <stdint.h>
#include <uv.h>

#include "clientip.h"
#include "hub.h"
#include "rlink.h"

struct bridge_s;
struct conn_s;

typedef enum {
    CLUSTER_ADMITTED = 0, /* the stream may open */
    CLUSTER_OVER_TOTAL,   /* --max-connections reached, cluster-wide */
    CLUSTER_OVER_IP       /* --max-connections-per-ip reached for this client */
} cluster_verdict_t;

/* Called once per cluster_admit, possibly before cluster_admit returns. */
typedef void (*cluster_admit_cb)(struct conn_s *c, cluster_verdict_t verdict);

typedef struct cluster_totals_s {
    uint64_t bridges;           /* replicas with a live lease */
    uint64_t connections;       /* admitted streams, cluster-wide (the pool's count) */
    uint64_t healthy;           /* sum of replicas' healthy streams */
    uint64_t events_sent;       /* sum of replicas' deliveries */
    uint64_t bytes_sent;        /* sum of replicas' bytes written */
    uint64_t bytes_saved;       /* sum of replicas' compression savings */
    uint64_t errors;            /* sum of replicas' errors */
    uint64_t at_ms;             /* when these figures arrived; 0 = never */
} cluster_totals_t;

typedef struct cluster_s {
    struct bridge_s *br;        /* the bridge */
    rlink_t link;               /* the command connection */
    char sha[3][41];            /* SHA1 of the admit, release, renew scripts; "" until loaded */
    uv_timer_t renew;           /* lease renewal, every third of the lease */
    hub_t ips;                  /* admitted streams per client IP, as a multiset */
    uint64_t admitted;          /* streams admitted here and not yet released */
    uint64_t pending;           /* admissions waiting for Redis */
    int force_reassert;         /* the next renewal re-asserts our counts */
    int renew_inflight;         /* a renewal's reply is pending */
    int stopping;               /* cluster_stop was called */
    cluster_totals_t totals;    /* the cluster's figures from the last renewal */
    uint64_t rejected_total;    /* admissions refused for the total cap */
    uint64_t rejected_ip;       /* admissions refused for the per-IP cap */
    uint64_t admitted_degraded; /* admissions decided locally while Redis was away */
} cluster_t;

/* Prepares cl for br; nothing happens until cluster_start. */
void cluster_init(cluster_t *cl, struct bridge_s *br);

/* Connects the command link; the lease is taken as soon as it is up. */
void cluster_start(cluster_t *cl);

/* Asks for a slot for c coming from ip. With Redis: one atomic script call,
 * answered later through cb; without: the local share of the limits (the
 * caps divided by the replicas last seen), answered at once. If c closes
 * before the answer, a granted slot is given back and cb is not called. */
void cluster_admit(cluster_t *cl, struct conn_s *c, const char *ip, cluster_admit_cb cb);

/* Gives back c's slot (when it has one). */
void cluster_release(cluster_t *cl, struct conn_s *c);

/* Forgets a pending admission of c (c is closing). */
void cluster_cancel(cluster_t *cl, struct conn_s *c);

/* 1 when the pool is backed by Redis now. */
int cluster_is_up(const cluster_t *cl);

/* Ends the lease (so the slots free at once, not after it expires), lets
 * queued releases reach Redis, then closes the link and the timer. */
void cluster_stop(cluster_t *cl);

#endif
