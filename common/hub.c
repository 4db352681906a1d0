/* The hub: a hash table of channels, each with an array of subscribers, and
 * per subscriber the list of its channels with its slot in each, so that
 * joining and leaving are O(1) per channel. */
#include "hub.h"

#include <stdlib.h>
#include <string.h>

#define HUB_MIN_BUCKETS 64

static uint32_t hub_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int hub_init(hub_t *hub)
{
    hub->nbuckets = HUB_MIN_BUCKETS;
    hub->nchans = 0;
    hub->buckets = calloc(hub->nbuckets, sizeof(*hub->buckets));
    return hub->buckets == NULL ? -1 : 0;
}

static void hub_chan_free(hub_chan_t *c)
{
    free(c->subs);
    free(c->name);
    free(c);
}

void hub_free(hub_t *hub)
{
    for (size_t i = 0; i < hub->nbuckets; i++) {
        hub_chan_t *c = hub->buckets[i];
        while (c != NULL) {
            hub_chan_t *next = c->next;
            hub_chan_free(c);
            c = next;
        }
    }
    free(hub->buckets);
    hub->buckets = NULL;
    hub->nbuckets = hub->nchans = 0;
}

hub_chan_t *hub_find(const hub_t *hub, const char *name, size_t len)
{
    uint32_t h = hub_hash(name, len);
    for (hub_chan_t *c = hub->buckets[h & (hub->nbuckets - 1)]; c != NULL; c = c->next)
        if (c->hash == h && c->len == len && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

/* Doubles the table when it is more than 3/4 full; failure only means the
 * chains get longer, so it is not reported. */
static void hub_grow(hub_t *hub)
{
    if (hub->nchans * 4 < hub->nbuckets * 3)
        return;
    size_t n = hub->nbuckets * 2;
    hub_chan_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < hub->nbuckets; i++) {
        hub_chan_t *c = hub->buckets[i];
        while (c != NULL) {
            hub_chan_t *next = c->next;
            c->next = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(hub->buckets);
    hub->buckets = b;
    hub->nbuckets = n;
}

static hub_chan_t *hub_chan_get(hub_t *hub, const char *name, size_t len)
{
    hub_chan_t *c = hub_find(hub, name, len);
    if (c != NULL)
        return c;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->name = malloc(len + 1);
    if (c->name == NULL) {
        free(c);
        return NULL;
    }
    memcpy(c->name, name, len);
    c->name[len] = '\0';
    c->len = len;
    c->hash = hub_hash(name, len);
    hub_grow(hub);
    size_t b = c->hash & (hub->nbuckets - 1);
    c->next = hub->buckets[b];
    hub->buckets[b] = c;
    hub->nchans++;
    return c;
}

int hub_join(hub_t *hub, hub_sub_t *sub, const char *name, size_t len, hub_chan_t **chan)
{
    hub_chan_t *c = hub_chan_get(hub, name, len);
    if (c == NULL)
        return -1;
    if (chan != NULL)
        *chan = c;
    for (uint16_t i = 0; i < sub->nlinks; i++)
        if (sub->links[i].chan == c)
            return 0;
    if (sub->nlinks == UINT16_MAX)
        goto fail;
    if (c->nsubs == c->cap) {
        uint32_t ncap = c->cap ? c->cap * 2 : 4;
        hub_sub_t **s = realloc(c->subs, ncap * sizeof(*s));
        if (s == NULL)
            goto fail;
        c->subs = s;
        c->cap = ncap;
    }
    hub_link_t *l = realloc(sub->links, (sub->nlinks + 1u) * sizeof(*l));
    if (l == NULL)
        goto fail;
    sub->links = l;
    l[sub->nlinks].chan = c;
    l[sub->nlinks].slot = c->nsubs;
    sub->nlinks++;
    c->subs[c->nsubs++] = sub;
    return c->nsubs == 1 ? 1 : 0;

fail:
    hub_chan_release(hub, c);
    return -1;
}

/* Removes the subscriber at slot of c by moving the last one into its place
 * and fixing that one's link. */
static void hub_chan_remove_slot(hub_chan_t *c, uint32_t slot)
{
    uint32_t last = --c->nsubs;
    if (slot == last)
        return;
    hub_sub_t *moved = c->subs[last];
    c->subs[slot] = moved;
    for (uint16_t i = 0; i < moved->nlinks; i++) {
        if (moved->links[i].chan == c) {
            moved->links[i].slot = slot;
            break;
        }
    }
}

void hub_leave_all(hub_t *hub, hub_sub_t *sub, void (*emptied)(hub_chan_t *, void *), void *arg)
{
    (void)hub;
    for (uint16_t i = 0; i < sub->nlinks; i++) {
        hub_chan_t *c = sub->links[i].chan;
        hub_chan_remove_slot(c, sub->links[i].slot);
        if (c->nsubs == 0 && emptied != NULL)
            emptied(c, arg);
    }
    free(sub->links);
    sub->links = NULL;
    sub->nlinks = 0;
}

int hub_chan_release(hub_t *hub, hub_chan_t *chan)
{
    if (chan->nsubs != 0 || chan->rstate != 0)
        return 0;
    hub_chan_t **pp = &hub->buckets[chan->hash & (hub->nbuckets - 1)];
    while (*pp != chan)
        pp = &(*pp)->next;
    *pp = chan->next;
    hub->nchans--;
    hub_chan_free(chan);
    return 1;
}

void hub_foreach(hub_t *hub, void (*fn)(hub_chan_t *, void *), void *arg)
{
    for (size_t i = 0; i < hub->nbuckets; i++) {
        hub_chan_t *c = hub->buckets[i];
        while (c != NULL) {
            hub_chan_t *next = c->next; /* fn may release c */
            fn(c, arg);
            c = next;
        }
    }
}
