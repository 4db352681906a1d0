/* The hub: which connections listen to which channel, both ways. I/O-free. */
#ifndef SSE_HUB_H
#define SSE_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "histid.h"

typedef struct hub_sub_s hub_sub_t;

typedef struct hub_chan_s {
    char *name;               /* owned, NUL-terminated channel name */
    size_t len;               /* bytes in name */
    uint32_t hash;            /* hash of name */
    hub_sub_t **subs;         /* owned array of subscribers, unordered */
    uint32_t nsubs;           /* subscribers in subs */
    uint32_t cap;             /* capacity of subs */
    int rstate;               /* owned by the Redis subscriber; 0 = nothing in Redis */
    hid_t hist_last;          /* newest history id delivered on the channel */
    uint8_t hist_known;       /* hist_last is set */
    uint8_t catching_up;      /* replaying what Redis sent while it was away */
    void *held;               /* live payloads held during the catch-up (the bridge's) */
    struct hub_chan_s *next;  /* hash chain */
} hub_chan_t;

typedef struct hub_link_s {
    hub_chan_t *chan; /* a channel this subscriber is in */
    uint32_t slot;    /* its index in chan->subs */
} hub_link_t;

struct hub_sub_s {
    hub_link_t *links; /* owned: the channels of this subscriber */
    uint16_t nlinks;   /* entries in links */
};

typedef struct hub_s {
    hub_chan_t **buckets; /* hash table of channels */
    size_t nbuckets;      /* power of two */
    size_t nchans;        /* channels in the table */
} hub_t;

/* Sets up an empty hub; returns 0 or -1 when out of memory. */
int hub_init(hub_t *hub);

/* Frees every channel (their subscribers must be gone) and the table. */
void hub_free(hub_t *hub);

/* The channel named name (len bytes), or NULL. */
hub_chan_t *hub_find(const hub_t *hub, const char *name, size_t len);

/* Adds sub to channel name, creating the channel when needed; *chan (may be
 * NULL) receives it. Joining a channel twice is a no-op returning 0.
 * Returns 1 when sub is the channel's first subscriber (so the caller must
 * make sure Redis delivers it), 0 otherwise, -1 when out of memory (sub is
 * then unchanged). */
int hub_join(hub_t *hub, hub_sub_t *sub, const char *name, size_t len, hub_chan_t **chan);

/* Removes sub from all its channels and frees its links. For every channel
 * left with no subscriber, emptied(chan, arg) is called (may be NULL); the
 * channel itself stays until hub_chan_release frees it. */
void hub_leave_all(hub_t *hub, hub_sub_t *sub, void (*emptied)(hub_chan_t *, void *), void *arg);

/* Frees chan when it has no subscriber and rstate is 0; else does nothing.
 * Returns 1 when freed. */
int hub_chan_release(hub_t *hub, hub_chan_t *chan);

/* Calls fn(chan, arg) for every channel. fn may release the channel it is
 * given, and nothing else. */
void hub_foreach(hub_t *hub, void (*fn)(hub_chan_t *, void *), void *arg);

#endif
