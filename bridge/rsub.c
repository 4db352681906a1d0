/* The Redis subscriber. Every hub channel carries an rstate telling what
 * Redis knows of it; at most one SUBSCRIBE or UNSUBSCRIBE is in flight per
 * channel and the reply drives the next step. This keeps hiredis 0.14's
 * subscription table consistent (an "unsubscribe" reply deletes the
 * channel's callback even if a newer SUBSCRIBE is pending), and the
 * always-subscribed probe channel keeps the subscription count above zero
 * (at zero hiredis 0.14 leaves pub/sub mode and asserts on the next reply). */
#include "rsub.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

enum {
    RCHAN_IDLE = 0,      /* Redis does not deliver the channel */
    RCHAN_SUBSCRIBING,   /* SUBSCRIBE sent, reply pending */
    RCHAN_SUBSCRIBED,    /* Redis delivers the channel */
    RCHAN_UNSUBSCRIBING  /* UNSUBSCRIBE sent, reply pending */
};

static void rsub_set_up(rsub_t *rs, int up)
{
    if (rs->up == up)
        return;
    rs->up = up;
    if (up) {
        if (rs->ever_up)
            rs->reconnects++;
        rs->ever_up = 1;
        rlink_healthy(&rs->link);
        log_info("redis: subscribed at %s:%d", rs->link.addr->host, rs->link.addr->port);
    } else {
        log_warn("redis: delivery from %s:%d lost", rs->link.addr->host, rs->link.addr->port);
    }
    rs->on_status(rs->arg, up);
}

static void rsub_send(rsub_t *rs, const char *verb, hub_chan_t *chan);

void rsub_sync(rsub_t *rs, hub_chan_t *chan)
{
    int live = rs->link.state == RLINK_UP;
    if (chan->rstate == RCHAN_IDLE) {
        if (chan->nsubs > 0 && live) {
            chan->rstate = RCHAN_SUBSCRIBING;
            rsub_send(rs, "SUBSCRIBE", chan);
        } else {
            hub_chan_release(rs->hub, chan);
        }
    } else if (chan->rstate == RCHAN_SUBSCRIBED && chan->nsubs == 0 && live) {
        chan->rstate = RCHAN_UNSUBSCRIBING;
        rsub_send(rs, "UNSUBSCRIBE", chan);
    }
    /* A pending command: its reply calls rsub_sync again. */
}

static void rsub_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    rsub_t *rs = privdata;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || rs->link.state != RLINK_UP)
        return; /* teardown */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        log_warn("redis: unexpected pub/sub reply of type %d", reply->type);
        return;
    }
    const char *kind = reply->element[0]->str;
    redisReply *name = reply->element[1];
    int is_probe = name->len == strlen(rs->probe) && memcmp(name->str, rs->probe, name->len) == 0;
    hub_chan_t *chan = is_probe ? NULL : hub_find(rs->hub, name->str, name->len);

    if (strcmp(kind, "message") == 0) {
        redisReply *payload = reply->element[2];
        if (is_probe) {
            rs->probe_sent_ms = 0; /* the round trip through Redis works */
            if (rs->on_probe != NULL && payload->type == REDIS_REPLY_STRING)
                rs->on_probe(rs->arg, payload->str, payload->len);
            return;
        }
        if (chan != NULL && payload->type == REDIS_REPLY_STRING)
            rs->on_message(rs->arg, chan, payload->str, payload->len);
    } else if (strcmp(kind, "subscribe") == 0) {
        if (is_probe)
            rsub_set_up(rs, 1);
        if (chan != NULL) {
            chan->rstate = RCHAN_SUBSCRIBED;
            if (chan->nsubs > 0 && rs->on_subscribed != NULL)
                rs->on_subscribed(rs->arg, chan);
            rsub_sync(rs, chan);
        }
    } else if (strcmp(kind, "unsubscribe") == 0) {
        if (chan != NULL) {
            chan->rstate = RCHAN_IDLE;
            rsub_sync(rs, chan);
        }
    }
}

static void rsub_send(rsub_t *rs, const char *verb, hub_chan_t *chan)
{
    const char *argv[2] = {verb, chan->name};
    size_t lens[2] = {strlen(verb), chan->len};
    rlink_command(&rs->link, rsub_on_reply, rs, 2, argv, lens);
}

/* Subscribes every channel that has subscribers (called once connected). */
static void rsub_resubscribe(hub_chan_t *chan, void *arg)
{
    rsub_sync(arg, chan);
}

/* Forgets what Redis knew of each channel after the connection is gone. */
static void rsub_reset_chan(hub_chan_t *chan, void *arg)
{
    rsub_t *rs = arg;
    chan->rstate = RCHAN_IDLE;
    hub_chan_release(rs->hub, chan);
}

static void rsub_link_up(rlink_t *link)
{
    rsub_t *rs = link->data;
    /* The probe first: its reply marks delivery up. */
    const char *argv[2] = {"SUBSCRIBE", rs->probe};
    size_t lens[2] = {9, strlen(rs->probe)};
    rlink_command(link, rsub_on_reply, rs, 2, argv, lens);
    hub_foreach(rs->hub, rsub_resubscribe, rs);
}

static void rsub_link_down(rlink_t *link)
{
    rsub_t *rs = link->data;
    hub_foreach(rs->hub, rsub_reset_chan, rs);
    rsub_set_up(rs, 0);
}

void rsub_init(rsub_t *rs, uv_loop_t *loop, hub_t *hub, const cfg_t *cfg, rlink_addr_t *addr,
               rsub_message_cb on_message, rsub_status_cb on_status, void *arg)
{
    memset(rs, 0, sizeof(*rs));
    rs->hub = hub;
    rs->on_message = on_message;
    rs->on_status = on_status;
    rs->arg = arg;
    snprintf(rs->probe, sizeof(rs->probe), "{sse}:probe:%s", cfg->bridge_id);
    rlink_init(&rs->link, loop, cfg, addr, "subscriber", rsub_link_up, rsub_link_down, rs);
}

/* Every third of --redis-probe-timeout: a probe published on the command
 * link must come back through pub/sub within the timeout, else the
 * subscriber is cut and reconnects (a hung or black-holed Redis keeps the
 * socket open and says nothing, and PING cannot be used on a subscribed
 * hiredis 0.14 connection). */
static void rsub_probe_cb(uv_timer_t *t)
{
    rsub_t *rs = t->data;
    uint64_t now = uv_now(t->loop);
    if (!rs->up) {
        rs->probe_sent_ms = 0;
        return;
    }
    if (rs->probe_sent_ms != 0) {
        if (now - rs->probe_sent_ms < (uint64_t)rs->link.cfg->redis_probe_timeout)
            return;
        rs->probe_timeouts++;
        rs->probe_sent_ms = 0;
        log_warn("redis: probe not delivered within %d ms: reconnecting the subscriber",
                 rs->link.cfg->redis_probe_timeout);
        rlink_cut(&rs->link);
        return;
    }
    char seq[24];
    int n = snprintf(seq, sizeof(seq), "%llu", (unsigned long long)(rs->probe_seq + 1));
    if (rsub_publish_probe(rs, seq, (size_t)n) == 0) {
        rs->probe_seq++;
        rs->probe_sent_ms = now;
    }
}

int rsub_publish_probe(rsub_t *rs, const char *payload, size_t len)
{
    if (rs->probe_via == NULL || rs->probe_via->state != RLINK_UP)
        return -1;
    const char *argv[3] = {"PUBLISH", rs->probe, payload};
    size_t lens[3] = {7, strlen(rs->probe), len};
    return rlink_command(rs->probe_via, NULL, NULL, 3, argv, lens);
}

void rsub_start(rsub_t *rs)
{
    uint64_t every = (uint64_t)rs->link.cfg->redis_probe_timeout / 3;
    uv_timer_init(rs->link.loop, &rs->probe_timer);
    rs->probe_timer.data = rs;
    uv_timer_start(&rs->probe_timer, rsub_probe_cb, every, every > 0 ? every : 1);
    rlink_start(&rs->link);
}

int rsub_chan_live(const hub_chan_t *chan)
{
    return chan->rstate == RCHAN_SUBSCRIBED;
}

int rsub_is_up(const rsub_t *rs)
{
    return rs->up;
}

static void rsub_link_stopped(rlink_t *link)
{
    rsub_t *rs = link->data;
    if (rs->stopped_cb != NULL)
        rs->stopped_cb(rs);
}

void rsub_stop(rsub_t *rs, void (*stopped_cb)(rsub_t *))
{
    rs->stopped_cb = stopped_cb;
    rs->up = 0;
    uv_close((uv_handle_t *)&rs->probe_timer, NULL);
    rlink_stop(&rs->link, rsub_link_stopped, 0);
    hub_foreach(rs->hub, rsub_reset_chan, rs);
}
