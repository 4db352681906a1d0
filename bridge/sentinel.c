/* Redis Sentinel. One link to one sentinel at a time (the next in the list
 * after each failure) asks SENTINEL get-master-addr-by-name, then stays
 * subscribed to +switch-master so a failover redirects the bridge's links
 * at once. A follower that fails at the address, or finds a replica there
 * (ROLE), marks it stale; the check timer then asks again over a fresh
 * connection (a subscribed connection takes no other command). */
#include "sentinel.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sentinel_parse.h"

#define SENTINEL_CHECK_MS 500 /* how soon a stale address is asked about again */
#define SWITCH_CHANNEL "+switch-master"

/* Points the link at the sentinel of index i. */
static void sentinel_aim(sentinel_t *s, int i)
{
    s->current = i;
    snprintf(s->at.host, sizeof(s->at.host), "%s", s->cfg->sentinels[i].host);
    s->at.port = s->cfg->sentinels[i].port;
}

/* The master is at host:port (as a sentinel just said): followers that
 * point elsewhere, or wait to retry, connect there now. */
static void sentinel_set_master(sentinel_t *s, const char *host, int port)
{
    rlink_addr_t *m = s->master;
    int moved = m->port != port || strcmp(m->host, host) != 0;
    if (moved) {
        if (m->port != 0)
            s->switches++;
        log_info("sentinel: master '%s' is at %s:%d%s", s->cfg->sentinel_master, host, port,
                 m->port != 0 ? " (moved)" : "");
        snprintf(m->host, sizeof(m->host), "%s", host);
        m->port = port;
    }
    for (int i = 0; i < s->nfollowers; i++)
        if (moved || s->followers[i]->state == RLINK_IDLE)
            rlink_redirect(s->followers[i]);
    /* Failures seen before this answer are no news about it. */
    m->stale = 0;
}

static void sentinel_on_addr(redisAsyncContext *ac, void *r, void *privdata)
{
    sentinel_t *s = privdata;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || s->link.state != RLINK_UP)
        return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len < sizeof(s->master->host)) {
        int port = sentinel_parse_port(reply->element[1]->str, reply->element[1]->len);
        if (port > 0) {
            s->asked++;
            rlink_healthy(&s->link);
            sentinel_set_master(s, reply->element[0]->str, port);
            return;
        }
    }
    log_warn("sentinel %s:%d: no address for master '%s' (%s): trying the next sentinel",
             s->at.host, s->at.port, s->cfg->sentinel_master,
             reply->type == REDIS_REPLY_ERROR ? reply->str
             : reply->type == REDIS_REPLY_NIL ? "unknown master"
                                              : "unexpected reply");
    rlink_reset(&s->link);
}

static void sentinel_on_event(redisAsyncContext *ac, void *r, void *privdata)
{
    sentinel_t *s = privdata;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || s->link.state != RLINK_UP)
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return; /* the subscribe confirmation */
    char host[CFG_HOST_MAX];
    int port;
    const redisReply *msg = reply->element[2];
    int r2 = sentinel_parse_switch(msg->str, msg->len, s->cfg->sentinel_master, host, sizeof(host),
                                   &port);
    if (r2 < 0)
        log_warn("sentinel %s:%d: malformed %s message ignored", s->at.host, s->at.port,
                 SWITCH_CHANNEL);
    else if (r2 == 1)
        sentinel_set_master(s, host, port);
}

static void sentinel_link_up(rlink_t *link)
{
    sentinel_t *s = link->data;
    const char *ask[3] = {"SENTINEL", "get-master-addr-by-name", s->cfg->sentinel_master};
    size_t asklen[3] = {8, 23, strlen(s->cfg->sentinel_master)};
    rlink_command(link, sentinel_on_addr, s, 3, ask, asklen);
    /* hiredis answers the pending reply above before any pub/sub message. */
    const char *sub[2] = {"SUBSCRIBE", SWITCH_CHANNEL};
    size_t sublen[2] = {9, sizeof(SWITCH_CHANNEL) - 1};
    rlink_command(link, sentinel_on_event, s, 2, sub, sublen);
}

static void sentinel_link_down(rlink_t *link)
{
    (void)link;
}

static void sentinel_link_failed(rlink_t *link)
{
    sentinel_t *s = link->data;
    sentinel_aim(s, (s->current + 1) % s->cfg->nsentinels);
}

static void sentinel_check_cb(uv_timer_t *t)
{
    sentinel_t *s = t->data;
    if (!s->master->stale || s->link.state != RLINK_UP)
        return;
    s->master->stale = 0;
    log_info("sentinel: a link failed at %s:%d: asking again", s->master->host, s->master->port);
    rlink_cut(&s->link); /* reconnects (to the next sentinel) and asks */
}

void sentinel_init(sentinel_t *s, uv_loop_t *loop, const cfg_t *cfg, rlink_addr_t *master)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->master = master;
    master->port = 0;
    master->followed = 1;
    sentinel_aim(s, 0);
    rlink_init(&s->link, loop, cfg, &s->at, "sentinel", sentinel_link_up, sentinel_link_down, s);
    s->link.to_sentinel = 1;
    s->link.on_fail = sentinel_link_failed;
    uv_timer_init(loop, &s->check);
    s->check.data = s;
}

void sentinel_follow(sentinel_t *s, rlink_t *link)
{
    if (s->nfollowers < SENTINEL_FOLLOWERS_MAX)
        s->followers[s->nfollowers++] = link;
}

void sentinel_start(sentinel_t *s)
{
    uv_timer_start(&s->check, sentinel_check_cb, SENTINEL_CHECK_MS, SENTINEL_CHECK_MS);
    rlink_start(&s->link);
}

void sentinel_stop(sentinel_t *s)
{
    uv_close((uv_handle_t *)&s->check, NULL);
    rlink_stop(&s->link, NULL, 0);
}
