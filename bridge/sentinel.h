/* Redis Sentinel: finds the master by name and follows it through
 * failovers, redirecting the bridge's Redis links to wherever it moves. */
#ifndef SSE_SENTINEL_H
#define SSE_SENTINEL_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "rlink.h"

#define SENTINEL_FOLLOWERS_MAX 4

typedef struct sentinel_s {
    const cfg_t *cfg;           /* the sentinels' addresses and the master's name */
    rlink_t link;               /* to one sentinel at a time: asks, then hears +switch-master */
    rlink_addr_t at;            /* the link's address: cfg->sentinels[current] */
    int current;                /* the sentinel tried now, an index into cfg->sentinels */
    rlink_addr_t *master;       /* the master's address, written here, read by the followers */
    rlink_t *followers[SENTINEL_FOLLOWERS_MAX]; /* links redirected when the master moves */
    int nfollowers;             /* entries in followers */
    uv_timer_t check;           /* asks again when a follower found the address stale */
    uint64_t switches;          /* times the master's address changed after the first */
    uint64_t asked;             /* answers to get-master-addr-by-name */
} sentinel_t;

/* Prepares s to find cfg->sentinel_master through cfg->sentinels and keep
 * its address in master (which must outlive s; port 0 until found).
 * Nothing happens until sentinel_start. */
void sentinel_init(sentinel_t *s, uv_loop_t *loop, const cfg_t *cfg, rlink_addr_t *master);

/* Adds a link that connects to master, to be redirected when it moves. */
void sentinel_follow(sentinel_t *s, rlink_t *link);

/* Connects to the first sentinel (the next one after each failure), asks
 * for the master and subscribes to +switch-master. */
void sentinel_start(sentinel_t *s);

/* Disconnects and closes the handles; the loop can then end. */
void sentinel_stop(sentinel_t *s);

#endif
