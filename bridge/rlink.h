/* A Redis connection that keeps itself up: connect with a watchdog, AUTH,
 * reconnect with backoff + jitter. Its owner issues the commands. */
#ifndef SSE_RLINK_H
#define SSE_RLINK_H

#include <hiredis/async.h>
#include <uv.h>

#include "backoff.h"
#include "config.h"

typedef enum {
    RLINK_IDLE = 0,  /* not started, or waiting to reconnect */
    RLINK_CONNECTING,/* TCP connect in progress, or ROLE asked (Sentinel) */
    RLINK_UP,        /* connected; AUTH (if any) queued ahead of the owner's commands */
    RLINK_STOPPED    /* rlink_stop was called */
} rlink_state_t;

typedef struct rlink_s rlink_t;
typedef void (*rlink_cb)(rlink_t *link);

/* Where a link connects. Fixed for redis://; with Sentinel the sentinel
 * module writes it and the links follow (rlink_redirect). */
typedef struct rlink_addr_s {
    char host[CFG_HOST_MAX]; /* name or address */
    int port;                /* 0 while unknown: links wait for it */
    int followed;            /* 1: found by Sentinel, so links check ROLE and report failures */
    int stale;               /* set by a link that failed here; the sentinel module re-asks */
} rlink_addr_t;

struct rlink_s {
    uv_loop_t *loop;          /* the bridge's loop */
    const cfg_t *cfg;         /* password and db */
    rlink_addr_t *addr;       /* where to connect, read at each attempt */
    int to_sentinel;          /* 1: a link to a sentinel: no AUTH, SELECT or ROLE check */
    const char *name;         /* for logs: "subscriber", "commands" */
    redisAsyncContext *ac;    /* the connection, NULL while there is none */
    rlink_state_t state;      /* changed by rlink_set_state only */
    uv_timer_t timer;         /* reconnect delay, or connect watchdog */
    backoff_t backoff;        /* delay between attempts; reset by rlink_healthy */
    rlink_cb on_up;           /* connected: the owner sends its commands */
    rlink_cb on_down;         /* the connection was lost (after on_up) */
    rlink_cb on_stopped;      /* rlink_stop is complete */
    rlink_cb on_fail;         /* optional: an attempt failed or the connection was lost */
    void *data;               /* the owner */
};

/* Prepares link to connect to addr (which must outlive it); nothing
 * happens until rlink_start. Once connected, the link sends AUTH and SELECT
 * as cfg says and, when addr is followed, checks with ROLE that it reached
 * a master before it calls on_up. */
void rlink_init(rlink_t *link, uv_loop_t *loop, const cfg_t *cfg, rlink_addr_t *addr,
                const char *name, rlink_cb on_up, rlink_cb on_down, void *data);

/* Connects, and keeps reconnecting until stopped. */
void rlink_start(rlink_t *link);

/* Tells the link its owner saw the connection work end to end (a reply
 * arrived), so the next failure starts the backoff over. */
void rlink_healthy(rlink_t *link);

/* Queues a command; fn gets the reply, or NULL when the link drops first.
 * Returns 0, or -1 when the link is not up (fn is then never called). */
int rlink_command(rlink_t *link, redisCallbackFn *fn, void *privdata, int argc, const char **argv,
                  const size_t *lens);

/* Cuts an established connection at once, pending replies or not (e.g. a
 * Redis that stopped answering); it reconnects. Not from a hiredis callback
 * of this link. */
void rlink_cut(rlink_t *link);

/* The address changed: drops the connection or attempt there is and
 * connects to the new address now. Not from a hiredis callback of this
 * link. */
void rlink_redirect(rlink_t *link);

/* Drops the connection (e.g. after a protocol error); it reconnects. */
void rlink_reset(rlink_t *link);

/* Disconnects for good; on_stopped (may be NULL) runs once the timer closed.
 * graceful: commands already queued are written and their replies awaited
 * first (at most RLINK_DRAIN_MS), otherwise the connection is cut now. */
void rlink_stop(rlink_t *link, rlink_cb on_stopped, int graceful);

#endif
