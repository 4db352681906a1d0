/* The Redis subscriber. Every hub channel carries an rstate telling what
 * Redis knows of it; at most one SUBSCRIBE or UNSUBSCRIBE is in flight per
 * channel and the reply drives the next step. This keeps hiredis 0.14's
 * subscription table consistent (an "unsubscribe" reply deletes the
 * channel's callback even if a newer SUBSCRIBE is pending), and the
 * always-subscribed probe channel keeps the subscription count above zero
 * (at zero hiredis 0.14 leaves pub/sub mode and asserts on the next reply). */
#include "rsub.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis_uv.h"

enum {
    RCHAN_IDLE = 0,      /* Redis does not deliver the channel */
    RCHAN_SUBSCRIBING,   /* SUBSCRIBE sent, reply pending */
    RCHAN_SUBSCRIBED,    /* Redis delivers the channel */
    RCHAN_UNSUBSCRIBING  /* UNSUBSCRIBE sent, reply pending */
};

#define RSUB_CONNECT_TIMEOUT_MS 3000
#define RSUB_BACKOFF_BASE_MS 200
#define RSUB_BACKOFF_CAP_MS 5000

static const char *const rsub_state_names[] = {"idle", "connecting", "subscribing", "up",
                                               "stopped"};

static void rsub_connect(rsub_t *rs);

/* The one place the link state changes, so every transition is logged. */
static void rsub_set_state(rsub_t *rs, rsub_state_t to)
{
    if (rs->state == to)
        return;
    log_debug("redis: %s -> %s", rsub_state_names[rs->state], rsub_state_names[to]);
    int was_up = rs->state == RSUB_UP;
    rs->state = to;
    if (to == RSUB_UP) {
        if (rs->ever_up)
            rs->reconnects++;
        rs->ever_up = 1;
        backoff_reset(&rs->backoff);
        log_info("redis: subscribed at %s:%d", rs->cfg->redis_host, rs->cfg->redis_port);
        rs->on_status(rs->arg, 1);
    } else if (was_up && to != RSUB_STOPPED) {
        log_warn("redis: connection to %s:%d lost", rs->cfg->redis_host, rs->cfg->redis_port);
        rs->on_status(rs->arg, 0);
    }
}

void rsub_init(rsub_t *rs, uv_loop_t *loop, hub_t *hub, const cfg_t *cfg, rsub_message_cb on_message,
              rsub_status_cb on_status, void *arg)
{
    memset(rs, 0, sizeof(*rs));
    rs->loop = loop;
    rs->hub = hub;
    rs->cfg = cfg;
    rs->on_message = on_message;
    rs->on_status = on_status;
    rs->arg = arg;
    snprintf(rs->probe, sizeof(rs->probe), "{sse}:probe:%s", cfg->bridge_id);
    backoff_init(&rs->backoff, RSUB_BACKOFF_BASE_MS, RSUB_BACKOFF_CAP_MS,
                 (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    uv_timer_init(loop, &rs->timer);
    rs->timer.data = rs;
}

static void rsub_timer_cb(uv_timer_t *t)
{
    rsub_t *rs = t->data;
    if (rs->state == RSUB_CONNECTING && rs->ac != NULL) {
        /* Connect watchdog: hiredis 0.14 has no async connect timeout. Freeing
         * from a timer is safe (never from the connect callback). */
        log_warn("redis: connect to %s:%d timed out", rs->cfg->redis_host, rs->cfg->redis_port);
        redisAsyncContext *ac = rs->ac;
        rs->ac = NULL;
        redisAsyncFree(ac);
        rsub_set_state(rs, RSUB_IDLE);
    }
    if (rs->state == RSUB_IDLE)
        rsub_connect(rs);
}

static void rsub_schedule_retry(rsub_t *rs)
{
    if (rs->state == RSUB_STOPPED)
        return;
    uint32_t delay = backoff_next(&rs->backoff);
    log_info("redis: reconnecting in %u ms", delay);
    uv_timer_start(&rs->timer, rsub_timer_cb, delay, 0);
}

/* Forgets what Redis knew of each channel after the connection is gone. */
static void rsub_reset_chan(hub_chan_t *chan, void *arg)
{
    rsub_t *rs = arg;
    chan->rstate = RCHAN_IDLE;
    hub_chan_release(rs->hub, chan);
}

static void rsub_send(rsub_t *rs, const char *verb, hub_chan_t *chan);

void rsub_sync(rsub_t *rs, hub_chan_t *chan)
{
    int live = rs->ac != NULL && (rs->state == RSUB_SUBSCRIBING || rs->state == RSUB_UP);
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
    if (reply == NULL || rs->state == RSUB_STOPPED)
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
        if (chan != NULL && payload->type == REDIS_REPLY_STRING)
            rs->on_message(rs->arg, chan, payload->str, payload->len);
    } else if (strcmp(kind, "subscribe") == 0) {
        if (is_probe)
            rsub_set_state(rs, RSUB_UP);
        if (chan != NULL) {
            chan->rstate = RCHAN_SUBSCRIBED;
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
    if (redisAsyncCommandArgv(rs->ac, rsub_on_reply, rs, 2, argv, lens) != REDIS_OK)
        log_error("redis: could not queue %s %s", verb, chan->name);
}

static void rsub_on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    rsub_t *rs = privdata;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && rs->state != RSUB_STOPPED) {
        log_error("redis: AUTH failed: %s", reply->str);
        redisAsyncDisconnect(ac);
    }
}

/* Subscribes every channel that has subscribers (called once connected). */
static void rsub_resubscribe(hub_chan_t *chan, void *arg)
{
    rsub_sync(arg, chan);
}

static void rsub_on_connect(const redisAsyncContext *ac, int status)
{
    rsub_t *rs = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback returns. */
        log_warn("redis: cannot connect to %s:%d: %s", rs->cfg->redis_host, rs->cfg->redis_port,
                 ac->c.errstr);
        rs->ac = NULL;
        uv_timer_stop(&rs->timer);
        rsub_set_state(rs, RSUB_IDLE);
        rsub_schedule_retry(rs);
        return;
    }
    uv_timer_stop(&rs->timer);
    rsub_set_state(rs, RSUB_SUBSCRIBING);
    redisAsyncContext *c = rs->ac;
    if (rs->cfg->redis_password[0] != '\0')
        redisAsyncCommand(c, rsub_on_auth, rs, "AUTH %s", rs->cfg->redis_password);
    /* The probe first: its reply marks the link up. */
    redisAsyncCommand(c, rsub_on_reply, rs, "SUBSCRIBE %s", rs->probe);
    hub_foreach(rs->hub, rsub_resubscribe, rs);
}

static void rsub_on_disconnect(const redisAsyncContext *ac, int status)
{
    rsub_t *rs = ac->data;
    (void)status;
    rs->ac = NULL; /* hiredis frees it after this callback returns */
    hub_foreach(rs->hub, rsub_reset_chan, rs);
    if (rs->state == RSUB_STOPPED)
        return;
    if (ac->c.err != 0)
        log_warn("redis: disconnected: %s", ac->c.errstr);
    rsub_set_state(rs, RSUB_IDLE);
    rsub_schedule_retry(rs);
}

static void rsub_connect(rsub_t *rs)
{
    redisAsyncContext *ac = redisAsyncConnect(rs->cfg->redis_host, rs->cfg->redis_port);
    if (ac == NULL || ac->err != 0) {
        log_warn("redis: cannot connect to %s:%d: %s", rs->cfg->redis_host, rs->cfg->redis_port,
                 ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rsub_schedule_retry(rs);
        return;
    }
    ac->data = rs;
    if (redis_uv_attach(ac, rs->loop) != REDIS_OK) {
        log_error("redis: cannot attach the connection to the loop");
        redisAsyncFree(ac);
        rsub_schedule_retry(rs);
        return;
    }
    redisAsyncSetConnectCallback(ac, rsub_on_connect);
    redisAsyncSetDisconnectCallback(ac, rsub_on_disconnect);
    rs->ac = ac;
    rsub_set_state(rs, RSUB_CONNECTING);
    uv_timer_start(&rs->timer, rsub_timer_cb, RSUB_CONNECT_TIMEOUT_MS, 0);
}

void rsub_start(rsub_t *rs)
{
    rsub_connect(rs);
}

int rsub_is_up(const rsub_t *rs)
{
    return rs->state == RSUB_UP;
}

static void rsub_timer_closed(uv_handle_t *h)
{
    rsub_t *rs = h->data;
    if (rs->stopped_cb != NULL)
        rs->stopped_cb(rs);
}

void rsub_stop(rsub_t *rs, void (*stopped_cb)(rsub_t *))
{
    rsub_set_state(rs, RSUB_STOPPED);
    rs->stopped_cb = stopped_cb;
    if (rs->ac != NULL) {
        redisAsyncContext *ac = rs->ac;
        rs->ac = NULL;
        redisAsyncFree(ac);
    }
    hub_foreach(rs->hub, rsub_reset_chan, rs);
    uv_close((uv_handle_t *)&rs->timer, rsub_timer_closed);
}
