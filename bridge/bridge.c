/* The bridge: listener, timers, signals, the write flush and the shutdown. */
#include "bridge.h"

#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "replay.h"
#include "sendbatch.h"
#include "stream.h"

#define BRIDGE_BACKLOG 1024
#define BRIDGE_SWEEP_MS 250
#define BRIDGE_LINGER_MS 500 /* an idle request connection's last moments at shutdown */
/* Sends per io_uring submit: larger batches save little more, and their
 * long bursts of loopback softirq work spill over to ksoftirqd. */
#define BRIDGE_BATCH_DEPTH 64
#define BRIDGE_TRIM_AFTER 256   /* streams opened in a burst before the heap is trimmed */

uint64_t bridge_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void bridge_on_connection(uv_stream_t *server, int status)
{
    bridge_t *br = server->data;
    if (status < 0) {
        log_warn("http: cannot accept: %s", uv_strerror(status));
        return;
    }
    conn_accept(br);
}

/* Writes everything queued: messages that became ready for a connection
 * together leave in one write. */
static void bridge_flush_now(bridge_t *br)
{
    conn_flush_all(br);
    health_on_flushed(&br->health);
}

static void bridge_coalesce_cb(uv_timer_t *t)
{
    bridge_flush_now(t->data);
}

/* Runs after every loop iteration's callbacks. By default everything queued
 * goes out before the loop sleeps; with --coalesce-ms the first queued byte
 * starts a timer and everything queued until it fires leaves together. */
static void bridge_flush(bridge_t *br)
{
    if (br->cfg->coalesce_ms == 0) {
        bridge_flush_now(br);
    } else if (!list_empty(&br->dirty) && !uv_is_active((uv_handle_t *)&br->coalesce)) {
        uv_timer_start(&br->coalesce, bridge_coalesce_cb, (uint64_t)br->cfg->coalesce_ms, 0);
    }
}

static void bridge_check_cb(uv_check_t *h)
{
    bridge_flush(h->data);
}

static void bridge_prepare_cb(uv_prepare_t *h)
{
    bridge_flush(h->data);
}

static void bridge_heartbeat_cb(uv_timer_t *t)
{
    stream_heartbeat(t->data);
}

void bridge_count_reject(bridge_t *br, const char *code)
{
    br->stats.requests_rejected++;
    for (int i = 0; i < BRIDGE_REJECT_CODES; i++) {
        bridge_reject_t *r = &br->rejects[i];
        if (r->code == NULL || i == BRIDGE_REJECT_CODES - 1) {
            r->code = r->code != NULL ? r->code : i == BRIDGE_REJECT_CODES - 1 ? "other" : code;
            r->n++;
            return;
        }
        if (strcmp(r->code, code) == 0) {
            r->n++;
            return;
        }
    }
}

void bridge_watch_token(bridge_t *br, int64_t exp)
{
    if (exp > 0 && (br->next_token_exp == 0 || exp < br->next_token_exp))
        br->next_token_exp = exp;
}

/* Closes the streams whose token expired (a walk only when one did). */
static void bridge_expire_tokens(bridge_t *br)
{
    int64_t now = (int64_t)(bridge_now_ms() / 1000);
    if (br->next_token_exp == 0 || now < br->next_token_exp)
        return;
    br->next_token_exp = 0;
    for (list_t *n = br->streams.next; n != &br->streams;) {
        conn_t *c = list_entry(n, conn_t, node);
        n = n->next;
        if (c->token_exp == 0)
            continue;
        if (c->token_exp <= now)
            stream_expire(c);
        else
            bridge_watch_token(br, c->token_exp);
    }
}

/* A burst of new streams (a deploy, a reconnect storm) leaves the heap
 * holding the request parsers it needed at its peak. Once the burst has
 * settled (no stream opened since the last sweep), the free pages go back
 * to the system, so a replica's RSS follows what its streams hold. */
static void bridge_trim_heap(bridge_t *br)
{
    uint64_t n = br->parsers_freed;
    if (n - br->parsers_trimmed >= BRIDGE_TRIM_AFTER && n == br->parsers_seen) {
        malloc_trim(0);
        br->parsers_trimmed = n;
    }
    br->parsers_seen = n;
}

static void bridge_sweep_cb(uv_timer_t *t)
{
    conn_sweep(t->data);
    bridge_expire_tokens(t->data);
    bridge_trim_heap(t->data);
}

static void bridge_drain_cb(uv_timer_t *t);

static void bridge_on_subscribed(void *arg, hub_chan_t *chan)
{
    replay_on_subscribed(arg, chan);
}

static void bridge_signal_cb(uv_signal_t *s, int signum)
{
    bridge_t *br = s->data;
    if (br->draining == 1) {
        log_warn("signal %d during the drain: closing every connection now", signum);
        bridge_drain_cb(&br->drain);
        return;
    }
    log_info("signal %d: shutting down", signum);
    bridge_shutdown(br);
}

/* Resolves cfg's listen address (a literal or a host name). */
static int bridge_listen_addr(const cfg_t *cfg, struct sockaddr_storage *ss)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    int r = getaddrinfo(cfg->listen_host, port, &hints, &res);
    if (r != 0) {
        log_error("cannot resolve --listen host '%s': %s", cfg->listen_host, gai_strerror(r));
        return UV_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int bridge_listen(bridge_t *br)
{
    struct sockaddr_storage ss;
    int r = bridge_listen_addr(br->cfg, &ss);
    if (r != 0)
        return r;
    uv_tcp_init(br->loop, &br->listener);
    br->listener.data = br;
    if (br->cfg->reuseport) {
        /* libuv 1.44 has no flag for it: set SO_REUSEPORT on our own socket. */
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        r = fd < 0 ? uv_translate_sys_error(errno) : 0;
        if (r == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
            r = uv_translate_sys_error(errno);
        if (r == 0)
            r = uv_tcp_open(&br->listener, fd);
        if (r != 0 && fd >= 0)
            close(fd);
    }
    if (r == 0)
        r = uv_tcp_bind(&br->listener, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&br->listener, BRIDGE_BACKLOG, bridge_on_connection);
    if (r != 0) {
        log_error("cannot listen on %s:%d: %s", br->cfg->listen_host, br->cfg->listen_port,
                  uv_strerror(r));
        uv_close((uv_handle_t *)&br->listener, NULL);
        return r;
    }
    int len = sizeof(ss);
    char ip[64];
    uv_tcp_getsockname(&br->listener, (struct sockaddr *)&ss, &len);
    int port;
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        log_info("listening on http://[%s]:%d bridge=%s%s", ip, port, br->cfg->bridge_id,
                 br->cfg->reuseport ? " reuseport" : "");
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        log_info("listening on http://%s:%d bridge=%s%s", ip, port, br->cfg->bridge_id,
                 br->cfg->reuseport ? " reuseport" : "");
    }
    return 0;
}

/* --io-uring: a flush's sends leave in one system call where the kernel
 * allows it (io_uring may be missing, disabled by sysctl or forbidden by a
 * seccomp profile, as Docker's default one does). */
static int bridge_open_batch(bridge_t *br)
{
    if (br->cfg->io_uring == CFG_URING_OFF) {
        log_info("io_uring: off; writing one connection at a time");
        return 0;
    }
    int r = sb_open(&br->sendbatch, BRIDGE_BATCH_DEPTH);
    if (r == 0) {
        log_info("io_uring: on; each flush's writes leave in one system call");
        return 0;
    }
    if (br->cfg->io_uring == CFG_URING_ON) {
        log_error("io_uring: cannot set up a ring: %s (--io-uring on requires it; use auto or off)",
                  strerror(-r));
        return UV_ENOTSUP;
    }
    log_info("io_uring: unavailable (%s); writing one connection at a time", strerror(-r));
    return 0;
}

int bridge_start(bridge_t *br, uv_loop_t *loop, const cfg_t *cfg)
{
    memset(br, 0, sizeof(*br));
    br->started_ms = bridge_now_ms();
    br->loop = loop;
    br->cfg = cfg;
    list_init(&br->http_conns);
    list_init(&br->streams);
    list_init(&br->dirty);
    rng_seed(&br->rng, (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid());
    br->rbuf = malloc(BRIDGE_READ_BUF);
    if (br->rbuf == NULL || hub_init(&br->hub) != 0 ||
        gzs_ctx_init(&br->gz, cfg->compression_level) != 0 || health_init(&br->health, br) != 0) {
        log_error("out of memory");
        return UV_ENOMEM;
    }
    int r = bridge_open_batch(br);
    if (r != 0)
        return r;
    r = bridge_listen(br);
    if (r != 0)
        return r;

    uv_timer_init(loop, &br->heartbeat);
    uv_timer_init(loop, &br->sweep);
    uv_timer_init(loop, &br->drain);
    uv_timer_init(loop, &br->coalesce);
    uv_check_init(loop, &br->flush_check);
    uv_prepare_init(loop, &br->flush_prepare);
    uv_signal_init(loop, &br->sigterm);
    uv_signal_init(loop, &br->sigint);
    br->heartbeat.data = br->sweep.data = br->drain.data = br->coalesce.data = br;
    br->flush_check.data = br->flush_prepare.data = br;
    br->sigterm.data = br->sigint.data = br;

    uint64_t hb = (uint64_t)cfg->heartbeat_interval * 1000;
    uv_timer_start(&br->heartbeat, bridge_heartbeat_cb, hb, hb);
    uv_timer_start(&br->sweep, bridge_sweep_cb, BRIDGE_SWEEP_MS, BRIDGE_SWEEP_MS);
    uv_check_start(&br->flush_check, bridge_check_cb);
    uv_prepare_start(&br->flush_prepare, bridge_prepare_cb);
    uv_signal_start(&br->sigterm, bridge_signal_cb, SIGTERM);
    uv_signal_start(&br->sigint, bridge_signal_cb, SIGINT);

    if (rl_init(&br->ratelimit, (uint32_t)cfg->rate_limit, (uint32_t)cfg->rate_limit_burst) != 0) {
        log_error("out of memory");
        return UV_ENOMEM;
    }
    if (cfg->auth_secret_len == 0)
        log_warn("no --auth-secret: client ids are claimed, not proven, so anyone may ask for "
                 "another client's targeted events (see README, Security)");
    replay_init(br);
    if (cfg->nsentinels > 0) {
        sentinel_init(&br->sentinel, loop, cfg, &br->redis_addr);
    } else {
        snprintf(br->redis_addr.host, sizeof(br->redis_addr.host), "%s", cfg->redis_host);
        br->redis_addr.port = cfg->redis_port;
    }
    rsub_init(&br->rsub, loop, &br->hub, cfg, &br->redis_addr, stream_on_message, stream_on_status,
              br);
    br->rsub.on_subscribed = bridge_on_subscribed;
    br->rsub.on_probe = replay_on_probe;
    br->rsub.probe_via = &br->cluster.link;
    rsub_start(&br->rsub);
    cluster_init(&br->cluster, br);
    cluster_start(&br->cluster);
    health_start(&br->health);
    if (cfg->nsentinels > 0) {
        sentinel_follow(&br->sentinel, &br->rsub.link);
        sentinel_follow(&br->sentinel, &br->cluster.link);
        sentinel_start(&br->sentinel);
    }
    return 0;
}

/* The last step of a shutdown: every handle closes, so uv_run returns. */
static void bridge_finish(bridge_t *br)
{
    if (br->draining == 2)
        return;
    br->draining = 2;
    rsub_stop(&br->rsub, NULL);
    cluster_stop(&br->cluster);
    if (br->cfg->nsentinels > 0)
        sentinel_stop(&br->sentinel);
    replay_stop(br);
    health_close(&br->health);
    uv_close((uv_handle_t *)&br->heartbeat, NULL);
    uv_close((uv_handle_t *)&br->sweep, NULL);
    uv_close((uv_handle_t *)&br->drain, NULL);
    uv_close((uv_handle_t *)&br->coalesce, NULL);
    uv_close((uv_handle_t *)&br->flush_check, NULL);
    uv_close((uv_handle_t *)&br->flush_prepare, NULL);
    uv_close((uv_handle_t *)&br->sigterm, NULL);
    uv_close((uv_handle_t *)&br->sigint, NULL);
    log_info("shutdown complete");
}

uint64_t bridge_bytes_saved(const bridge_t *br)
{
    const bridge_stats_t *s = &br->stats;
    return s->gzip_bytes_in > s->gzip_bytes_out ? s->gzip_bytes_in - s->gzip_bytes_out : 0;
}

void bridge_conn_closed(bridge_t *br)
{
    br->nconns--;
    if (br->draining == 1 && br->nconns == 0)
        bridge_finish(br);
}

/* The drain window is over: whoever is still connected is closed now. */
static void bridge_drain_cb(uv_timer_t *t)
{
    bridge_t *br = t->data;
    log_warn("drain timeout: closing %llu remaining connections", (unsigned long long)br->nconns);
    while (!list_empty(&br->streams))
        conn_close(list_entry(br->streams.next, conn_t, node), "drain timeout");
    while (!list_empty(&br->http_conns))
        conn_close(list_entry(br->http_conns.next, conn_t, node), "drain timeout");
}

void bridge_shutdown(bridge_t *br)
{
    if (br->draining)
        return;
    br->draining = 1;
    uv_close((uv_handle_t *)&br->listener, NULL);
    uv_timer_stop(&br->heartbeat);
    log_info("draining %llu streams (at most %d s)", (unsigned long long)br->nstreams,
             br->cfg->drain_timeout);
    stream_shutdown_all(br);
    health_shutdown(&br->health);
    /* Idle request connections have nothing to wait for: each is shut
     * down, and the sweep closes it soon even if the peer keeps its side
     * open (a browser keeps an idle keep-alive socket for minutes). */
    uint64_t linger = uv_now(br->loop) + BRIDGE_LINGER_MS;
    for (list_t *n = br->http_conns.next; n != &br->http_conns; n = n->next) {
        conn_t *c = list_entry(n, conn_t, node);
        if (c->deadline > linger)
            c->deadline = linger;
        conn_finish(c);
    }
    if (br->nconns == 0)
        bridge_finish(br);
    else
        uv_timer_start(&br->drain, bridge_drain_cb, (uint64_t)br->cfg->drain_timeout * 1000, 0);
}

void bridge_free(bridge_t *br)
{
    rl_free(&br->ratelimit);
    hub_free(&br->hub);
    gzs_ctx_free(&br->gz);
    health_free(&br->health);
    sb_close(br->sendbatch);
    br->sendbatch = NULL;
    free(br->rbuf);
    br->rbuf = NULL;
}
