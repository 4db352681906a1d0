/* Self-healing Redis connection. hiredis 0.14 rules kept here: never
 * redisAsyncFree inside the connect or disconnect callback (hiredis frees
 * the context itself after them), a timer is the connect watchdog (there is
 * no async connect timeout), and after a failed connect the reason is in
 * ac->c.errstr. */
#include "rlink.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis_uv.h"

#define RLINK_CONNECT_TIMEOUT_MS 3000
#define RLINK_BACKOFF_BASE_MS 200
#define RLINK_BACKOFF_CAP_MS 5000
#define RLINK_DRAIN_MS 1000 /* a graceful stop waits this long for replies at most */

static const char *const rlink_state_names[] = {"idle", "connecting", "up", "stopped"};

static void rlink_connect(rlink_t *link);

/* The one place the state changes, so every transition is logged. */
static void rlink_set_state(rlink_t *link, rlink_state_t to)
{
    if (link->state == to)
        return;
    log_debug("redis %s: %s -> %s", link->name, rlink_state_names[link->state],
              rlink_state_names[to]);
    int was_up = link->state == RLINK_UP;
    link->state = to;
    if (to == RLINK_UP)
        link->on_up(link);
    else if (was_up && to != RLINK_STOPPED)
        link->on_down(link);
}

void rlink_init(rlink_t *link, uv_loop_t *loop, const cfg_t *cfg, rlink_addr_t *addr,
                const char *name, rlink_cb on_up, rlink_cb on_down, void *data)
{
    memset(link, 0, sizeof(*link));
    link->loop = loop;
    link->cfg = cfg;
    link->addr = addr;
    link->name = name;
    link->on_up = on_up;
    link->on_down = on_down;
    link->data = data;
    backoff_init(&link->backoff, RLINK_BACKOFF_BASE_MS, RLINK_BACKOFF_CAP_MS,
                 (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)link);
    uv_timer_init(loop, &link->timer);
    link->timer.data = link;
}

static void rlink_timer_closed(uv_handle_t *h);

/* An attempt failed or an established connection was lost: a followed
 * address is marked stale so the sentinel module asks where the master is
 * now, and the owner hears of it. */
static void rlink_failed(rlink_t *link)
{
    if (link->addr->followed && !link->to_sentinel)
        link->addr->stale = 1;
    if (link->on_fail != NULL)
        link->on_fail(link);
}

/* The end of a stop: frees the context now (outside hiredis callbacks, so
 * safe) and closes the timer, unless the disconnect callback did. */
static void rlink_teardown(rlink_t *link)
{
    if (link->ac != NULL) {
        redisAsyncContext *ac = link->ac;
        link->ac = NULL;
        redisAsyncFree(ac);
    }
    if (!uv_is_closing((uv_handle_t *)&link->timer))
        uv_close((uv_handle_t *)&link->timer, rlink_timer_closed);
}

static void rlink_timer_cb(uv_timer_t *t)
{
    rlink_t *link = t->data;
    if (link->state == RLINK_STOPPED) {
        /* A graceful stop ran out of time. */
        rlink_teardown(link);
        return;
    }
    if (link->state == RLINK_CONNECTING && link->ac != NULL) {
        /* Freeing from a timer is safe. A context that connected (its ROLE
         * reply is late) gets its disconnect callback, which sees link->ac
         * cleared and leaves what comes next to us. */
        log_warn("redis %s: connect to %s:%d timed out", link->name, link->addr->host,
                 link->addr->port);
        redisAsyncContext *ac = link->ac;
        link->ac = NULL;
        redisAsyncFree(ac);
        rlink_set_state(link, RLINK_IDLE);
        rlink_failed(link);
    }
    if (link->state == RLINK_IDLE)
        rlink_connect(link);
}

static void rlink_retry(rlink_t *link)
{
    if (link->state == RLINK_STOPPED)
        return;
    uint32_t delay = backoff_next(&link->backoff);
    log_info("redis %s: reconnecting in %u ms", link->name, delay);
    uv_timer_start(&link->timer, rlink_timer_cb, delay, 0);
}

static void rlink_on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    rlink_t *link = privdata;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && link->ac == ac &&
        (link->state == RLINK_UP || link->state == RLINK_CONNECTING)) {
        log_error("redis %s: AUTH or SELECT refused: %s", link->name, reply->str);
        redisAsyncDisconnect(ac);
    }
}

/* A followed address must be the master: a demoted master or a replica
 * would take the subscription but refuse the pool's writes. */
static void rlink_on_role(redisAsyncContext *ac, void *r, void *privdata)
{
    rlink_t *link = privdata;
    redisReply *reply = r;
    if (reply == NULL || link->state != RLINK_CONNECTING || link->ac != ac)
        return; /* teardown, or an attempt given up */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING && strcmp(reply->element[0]->str, "master") == 0) {
        uv_timer_stop(&link->timer);
        rlink_set_state(link, RLINK_UP);
        return;
    }
    log_warn("redis %s: %s:%d is not the master (%s): asking Sentinel again", link->name,
             link->addr->host, link->addr->port,
             reply->type == REDIS_REPLY_ERROR                                       ? reply->str
             : reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                     reply->element[0]->type == REDIS_REPLY_STRING ? reply->element[0]->str
                                                                   : "unexpected ROLE reply");
    redisAsyncDisconnect(ac); /* the disconnect callback counts the failure and retries */
}

static void rlink_on_connect(const redisAsyncContext *ac, int status)
{
    rlink_t *link = ac->data;
    uv_timer_stop(&link->timer);
    if (status != REDIS_OK) {
        log_warn("redis %s: cannot connect to %s:%d: %s", link->name, link->addr->host,
                 link->addr->port, ac->c.errstr);
        link->ac = NULL;
        rlink_set_state(link, RLINK_IDLE);
        rlink_failed(link);
        rlink_retry(link);
        return;
    }
    if (link->to_sentinel) {
        rlink_set_state(link, RLINK_UP);
        return;
    }
    const cfg_t *cfg = link->cfg;
    if (cfg->redis_password[0] != '\0')
        redisAsyncCommand(link->ac, rlink_on_auth, link, "AUTH %s", cfg->redis_password);
    if (cfg->redis_db != 0)
        redisAsyncCommand(link->ac, rlink_on_auth, link, "SELECT %d", cfg->redis_db);
    if (link->addr->followed) {
        /* Still connecting until ROLE answers; the watchdog bounds it. */
        redisAsyncCommand(link->ac, rlink_on_role, link, "ROLE");
        uv_timer_start(&link->timer, rlink_timer_cb, RLINK_CONNECT_TIMEOUT_MS, 0);
        return;
    }
    rlink_set_state(link, RLINK_UP);
}

static void rlink_on_disconnect(const redisAsyncContext *ac, int status)
{
    rlink_t *link = ac->data;
    (void)status;
    if (link->ac != ac)
        return; /* freed by rlink itself (a timeout, a redirect), which goes on from there */
    link->ac = NULL;
    if (link->state == RLINK_STOPPED) {
        /* The end of a graceful stop: every reply came back. */
        if (!uv_is_closing((uv_handle_t *)&link->timer))
            uv_close((uv_handle_t *)&link->timer, rlink_timer_closed);
        return;
    }
    if (ac->c.err != 0)
        log_warn("redis %s: disconnected: %s", link->name, ac->c.errstr);
    rlink_set_state(link, RLINK_IDLE);
    rlink_failed(link);
    rlink_retry(link);
}

static void rlink_connect(rlink_t *link)
{
    const rlink_addr_t *addr = link->addr;
    if (addr->port == 0) {
        /* Sentinel has not named the master yet; rlink_redirect comes. */
        log_debug("redis %s: waiting for the master's address", link->name);
        rlink_retry(link);
        return;
    }
    redisAsyncContext *ac = redisAsyncConnect(addr->host, addr->port);
    if (ac == NULL || ac->err != 0) {
        log_warn("redis %s: cannot connect to %s:%d: %s", link->name, addr->host, addr->port,
                 ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rlink_failed(link);
        rlink_retry(link);
        return;
    }
    ac->data = link;
    if (redis_uv_attach(ac, link->loop) != REDIS_OK) {
        log_error("redis %s: cannot attach the connection to the loop", link->name);
        redisAsyncFree(ac);
        rlink_retry(link);
        return;
    }
    redisAsyncSetConnectCallback(ac, rlink_on_connect);
    redisAsyncSetDisconnectCallback(ac, rlink_on_disconnect);
    link->ac = ac;
    rlink_set_state(link, RLINK_CONNECTING);
    uv_timer_start(&link->timer, rlink_timer_cb, RLINK_CONNECT_TIMEOUT_MS, 0);
}

void rlink_start(rlink_t *link)
{
    rlink_connect(link);
}

void rlink_healthy(rlink_t *link)
{
    backoff_reset(&link->backoff);
}

int rlink_command(rlink_t *link, redisCallbackFn *fn, void *privdata, int argc, const char **argv,
                  const size_t *lens)
{
    if (link->state != RLINK_UP || link->ac == NULL)
        return -1;
    if (redisAsyncCommandArgv(link->ac, fn, privdata, argc, argv, lens) != REDIS_OK) {
        log_error("redis %s: could not queue %s", link->name, argv[0]);
        return -1;
    }
    return 0;
}

void rlink_cut(rlink_t *link)
{
    if (link->state != RLINK_UP || link->ac == NULL)
        return;
    /* Pending callbacks get NULL, then the disconnect callback retries. */
    redisAsyncFree(link->ac);
}

void rlink_redirect(rlink_t *link)
{
    switch (link->state) {
    case RLINK_STOPPED:
        return;
    case RLINK_UP:
        /* The disconnect callback tells the owner and retries, at once. */
        backoff_reset(&link->backoff);
        rlink_cut(link);
        return;
    case RLINK_CONNECTING: {
        redisAsyncContext *ac = link->ac;
        link->ac = NULL;
        rlink_set_state(link, RLINK_IDLE);
        if (ac != NULL)
            redisAsyncFree(ac); /* its disconnect callback (if any) sees link->ac cleared */
        break;
    }
    case RLINK_IDLE:
        break;
    }
    uv_timer_stop(&link->timer);
    backoff_reset(&link->backoff);
    rlink_connect(link);
}

void rlink_reset(rlink_t *link)
{
    if (link->ac != NULL)
        redisAsyncDisconnect(link->ac);
}

static void rlink_timer_closed(uv_handle_t *h)
{
    rlink_t *link = h->data;
    if (link->on_stopped != NULL)
        link->on_stopped(link);
}

void rlink_stop(rlink_t *link, rlink_cb on_stopped, int graceful)
{
    int connected = link->state == RLINK_UP;
    rlink_set_state(link, RLINK_STOPPED);
    link->on_stopped = on_stopped;
    if (graceful && connected && link->ac != NULL) {
        uv_timer_start(&link->timer, rlink_timer_cb, RLINK_DRAIN_MS, 0);
        redisAsyncDisconnect(link->ac);
        return;
    }
    rlink_teardown(link);
}
