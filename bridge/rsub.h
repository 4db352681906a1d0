/* The Redis subscriber: one pub/sub connection that follows the hub's channels. */
#ifndef SSE_RSUB_H
#define SSE_RSUB_H

#include <uv.h>

#include "config.h"
#include "hub.h"
#include "rlink.h"

/* Called for each pub/sub message on a hub channel. The bytes live only
 * for the duration of the call. */
typedef void (*rsub_message_cb)(void *arg, hub_chan_t *chan, const char *payload, size_t len);

/* Called when Redis delivery goes up (1) or is lost (0). */
typedef void (*rsub_status_cb)(void *arg, int up);

typedef struct rsub_s {
    rlink_t link;               /* the pub/sub connection */
    hub_t *hub;                 /* channels to follow; rstate of each is ours */
    int up;                     /* 1 once the probe's subscribe reply came back */
    char probe[CFG_ID_MAX + 32];/* this bridge's own channel, always subscribed */
    rsub_message_cb on_message; /* message sink */
    rsub_status_cb on_status;   /* up/down sink */
    void *arg;                  /* passed to the sinks */
    uint64_t reconnects;        /* times delivery came back after the first */
    int ever_up;                /* 1 once the first connection came up */
    void (*stopped_cb)(struct rsub_s *); /* rsub_stop's callback */
    void (*on_subscribed)(void *arg, hub_chan_t *chan); /* Redis confirmed a channel (may be NULL) */
    rlink_t *probe_via;         /* the command link the probe is published on (may be NULL) */
    void (*on_probe)(void *arg, const char *payload, size_t len); /* a message on the probe
                                                                   * channel (may be NULL) */
    uv_timer_t probe_timer;     /* publishes the probe, checks it came back */
    uint64_t probe_sent_ms;     /* loop time of the probe in flight; 0 = none */
    uint64_t probe_seq;         /* probes published */
    uint64_t probe_timeouts;    /* times the probe did not come back in time */
} rsub_t;

/* Prepares rs to subscribe at addr; nothing happens until rsub_start. */
void rsub_init(rsub_t *rs, uv_loop_t *loop, hub_t *hub, const cfg_t *cfg, rlink_addr_t *addr,
               rsub_message_cb on_message, rsub_status_cb on_status, void *arg);

/* Connects (and keeps reconnecting with backoff + jitter until stopped). */
void rsub_start(rsub_t *rs);

/* Brings Redis in line with chan: SUBSCRIBE when it gained its first
 * subscriber, UNSUBSCRIBE when it lost its last one, at most one command in
 * flight per channel. Frees chan (hub_chan_release) when nothing refers to
 * it any more, so chan must not be used after this call. */
void rsub_sync(rsub_t *rs, hub_chan_t *chan);

/* Publishes payload on this bridge's probe channel over probe_via; it
 * comes back through on_probe after every message Redis sent the
 * subscriber before it. Returns 0, or -1 when the command link is down. */
int rsub_publish_probe(rsub_t *rs, const char *payload, size_t len);

/* 1 when Redis delivers chan (its SUBSCRIBE was confirmed). */
int rsub_chan_live(const hub_chan_t *chan);

/* 1 while subscribed and delivering. */
int rsub_is_up(const rsub_t *rs);

/* Disconnects, stops retrying and closes the timer; stopped_cb runs once
 * the handles are closed. */
void rsub_stop(rsub_t *rs, void (*stopped_cb)(rsub_t *));

#endif
