/* The health monitor. Every --health-check-interval a check takes this
 * bridge's figures over the interval, raises or clears alerts and keeps the
 * sample in a bounded ring; every second a tick takes the dashboard's
 * figures and pushes them to the dashboard streams. Latency is measured on
 * the hot path with two time stamps per message and no allocation: each
 * fanned-out message waits in a fixed array until the writes it queued are
 * flushed, and is then recorded in fixed-bucket histograms. */
#include "health.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"

const char *const health_alert_names[HEALTH_NALERTS] = {"redis_down", "error_rate",
                                                         "queue_pressure"};

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Errors as /sse/health and the mirrored counters count them. */
static uint64_t health_errors(const bridge_t *br)
{
    const bridge_stats_t *s = &br->stats;
    return s->requests_rejected + s->messages_malformed + s->messages_oversize +
           s->slow_consumer_drops;
}

int health_init(health_t *h, bridge_t *br)
{
    memset(h, 0, sizeof(*h));
    h->br = br;
    h->redis_rtt_ms = -1;
    list_init(&h->watchers);
    h->hist_cap = (uint32_t)br->cfg->health_history;
    if (h->hist_cap == 0)
        h->hist_cap = 1;
    h->history = calloc(h->hist_cap, sizeof(*h->history));
    return h->history == NULL ? UV_ENOMEM : 0;
}

static void health_check_cb(uv_timer_t *t);
static void health_tick_cb(uv_timer_t *t);

void health_start(health_t *h)
{
    bridge_t *br = h->br;
    uv_timer_init(br->loop, &h->check);
    uv_timer_init(br->loop, &h->tick);
    h->check.data = h->tick.data = h;
    h->started = 1;
    h->prev_ns = h->tick_ns = uv_hrtime();
    uint64_t ms = (uint64_t)br->cfg->health_check_interval * 1000;
    uv_timer_start(&h->check, health_check_cb, ms, ms);
    uv_timer_start(&h->tick, health_tick_cb, 1000, 1000);
}

void health_shutdown(health_t *h)
{
    /* A dashboard has nothing to drain: its page reconnects elsewhere. */
    while (!list_empty(&h->watchers))
        conn_close(list_entry(h->watchers.next, conn_t, node), "shutdown");
}

void health_close(health_t *h)
{
    if (!h->started)
        return;
    h->started = 0;
    uv_close((uv_handle_t *)&h->check, NULL);
    uv_close((uv_handle_t *)&h->tick, NULL);
}

void health_free(health_t *h)
{
    free(h->history);
    h->history = NULL;
}

/* --- latency ------------------------------------------------------------ */

void health_on_fanout(health_t *h, double ts_ms)
{
    if (h->npend == HEALTH_PENDING_MAX)
        health_on_flushed(h); /* a huge batch: time what waits so far now */
    health_pending_t *p = &h->pend[h->npend++];
    p->recv_ns = h->recv_ns != 0 ? h->recv_ns : uv_hrtime();
    p->ts_ms = ts_ms;
    h->recv_ns = 0;
}

void health_on_flushed(health_t *h)
{
    if (h->npend == 0)
        return;
    uint64_t now_ns = uv_hrtime();
    double now_us = (double)wall_us();
    for (uint32_t i = 0; i < h->npend; i++) {
        const health_pending_t *p = &h->pend[i];
        histo_add(&h->fanout, (now_ns - p->recv_ns) / 1000u);
        if (p->ts_ms > 0) {
            /* A publisher's clock ahead of ours would give a negative figure. */
            double us = now_us - p->ts_ms * 1000.0;
            histo_add(&h->latency, us > 0 ? (uint64_t)us : 0);
        }
    }
    h->npend = 0;
}

double health_average_latency_ms(const health_t *h)
{
    const health_sample_t *s = health_last(h);
    if (s != NULL && s->latency_count > 0)
        return s->latency_mean_ms;
    double us = histo_mean_us(&h->latency);
    return us < 0 ? 0 : us / 1000.0;
}

/* --- connections --------------------------------------------------------- */

int health_conn_unhealthy(const health_t *h, const conn_t *c, uint64_t now_ms)
{
    if (c->wq_bytes == 0)
        return 0;
    if (c->health_wq > 0 && c->wq_bytes > c->health_wq)
        return 1; /* behind at the last check, and further behind now */
    uint64_t last = c->last_write_ms != 0 ? c->last_write_ms : c->opened_ms;
    uint64_t hb_ms = (uint64_t)h->br->cfg->heartbeat_interval * 1000;
    return now_ms > last && now_ms - last > hb_ms;
}

uint64_t health_healthy(const health_t *h)
{
    const bridge_t *br = h->br;
    uint64_t now = uv_now(br->loop), unhealthy = 0;
    for (const list_t *n = br->streams.next; n != &br->streams; n = n->next)
        unhealthy += (uint64_t)health_conn_unhealthy(h, list_entry(n, conn_t, node), now);
    return br->nstreams - unhealthy;
}

uint64_t health_mirror_healthy(health_t *h)
{
    h->mirrored_healthy = health_healthy(h);
    return h->mirrored_healthy;
}

uint64_t health_cluster_healthy(const health_t *h, uint64_t cl_sum, uint64_t total)
{
    uint64_t others = cl_sum > h->mirrored_healthy ? cl_sum - h->mirrored_healthy : 0;
    uint64_t v = others + health_healthy(h);
    return v < total ? v : total;
}

/* --- process -------------------------------------------------------------- */

uint64_t health_rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size = 0, resident = 0;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t health_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

/* --- alerts ----------------------------------------------------------------- */

static void health_alert_log(health_t *h, health_alert_id_t id, int raised, uint64_t at)
{
    uint32_t i;
    if (h->log_len < HEALTH_ALERT_LOG_MAX) {
        i = (h->log_head + h->log_len++) % HEALTH_ALERT_LOG_MAX;
    } else {
        i = h->log_head;
        h->log_head = (h->log_head + 1) % HEALTH_ALERT_LOG_MAX;
    }
    h->alert_log[i] = (health_event_t){.at_ms = at, .alert = (uint8_t)id, .raised = (uint8_t)raised};
}

/* Raises (on) or clears alert id; detail says why it is raised. */
static void health_alert_set(health_t *h, health_alert_id_t id, int on, const char *detail)
{
    health_alert_t *a = &h->alerts[id];
    uint64_t now = bridge_now_ms();
    if (on) {
        snprintf(a->detail, sizeof(a->detail), "%s", detail);
        if (a->active)
            return;
        a->active = 1;
        a->since_ms = now;
        a->raised++;
        health_alert_log(h, id, 1, now);
        log_kv_t kv[] = {LOG_STR("alert", health_alert_names[id]), LOG_STR("detail", detail)};
        log_kv(LOG_WARN, "alert raised", kv, 2);
    } else if (a->active) {
        a->active = 0;
        health_alert_log(h, id, 0, now);
        log_kv_t kv[] = {LOG_STR("alert", health_alert_names[id]),
                         LOG_DBL("active_s", (double)(now - a->since_ms) / 1000.0)};
        log_kv(LOG_INFO, "alert cleared", kv, 2);
    }
}

static uint32_t health_alert_bits(const health_t *h)
{
    uint32_t bits = 0;
    for (int i = 0; i < HEALTH_NALERTS; i++)
        if (h->alerts[i].active)
            bits |= 1u << i;
    return bits;
}

/* --- the check ---------------------------------------------------------------- */

static void health_ping_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    health_t *h = privdata;
    (void)ac;
    if (r != NULL && h->ping_sent_ns != 0)
        h->redis_rtt_ms = (double)(uv_hrtime() - h->ping_sent_ns) / 1e6;
    h->ping_sent_ns = 0;
}

/* Sends a PING on the command link (the subscriber link cannot PING). */
static void health_ping(health_t *h)
{
    if (h->ping_sent_ns != 0) {
        h->redis_rtt_ms = -1; /* the last one never came back */
        return;
    }
    static const char *const argv[] = {"PING"};
    static const size_t lens[] = {4};
    uint64_t now = uv_hrtime();
    if (rlink_command(&h->br->cluster.link, health_ping_cb, h, 1, (const char **)argv, lens) == 0)
        h->ping_sent_ns = now;
    else
        h->redis_rtt_ms = -1;
}

static double ms_or_none(double us)
{
    return us < 0 ? -1 : us / 1000.0;
}

static void health_check_cb(uv_timer_t *t)
{
    health_t *h = t->data;
    bridge_t *br = h->br;
    const bridge_stats_t *st = &br->stats;
    uint64_t now_ns = uv_hrtime(), now = uv_now(br->loop);
    double dt = (double)(now_ns - h->prev_ns) / 1e9;
    if (dt <= 0)
        dt = 1e-9;
    health_sample_t s;
    memset(&s, 0, sizeof(s));
    s.at_ms = bridge_now_ms();
    s.interval_s = dt;

    uint64_t unhealthy = 0, behind = 0;
    for (list_t *n = br->streams.next; n != &br->streams; n = n->next) {
        conn_t *c = list_entry(n, conn_t, node);
        unhealthy += (uint64_t)health_conn_unhealthy(h, c, now);
        behind += c->wq_bytes > 0;
        c->health_wq = c->wq_bytes;
    }
    s.connections = br->nstreams;
    s.healthy = br->nstreams - unhealthy;

    uint64_t errors = health_errors(br), events = st->events_sent;
    s.errors = errors - h->prev_errors;
    uint64_t deliveries = events - h->prev_events;
    s.error_rate = s.errors + deliveries > 0 ? (double)s.errors / (double)(s.errors + deliveries) : 0;
    s.events_per_s = (double)deliveries / dt;
    s.bytes_per_s = (double)(st->bytes_sent - h->prev_bytes) / dt;
    s.messages_per_s = (double)(st->messages_received - h->prev_received) / dt;

    histo_t w;
    histo_sub(&h->latency, &h->prev_latency, &w);
    s.latency_count = w.count;
    s.latency_p50_ms = ms_or_none(histo_quantile_us(&w, 0.5));
    s.latency_p90_ms = ms_or_none(histo_quantile_us(&w, 0.9));
    s.latency_p99_ms = ms_or_none(histo_quantile_us(&w, 0.99));
    s.latency_mean_ms = ms_or_none(histo_mean_us(&w));
    histo_sub(&h->fanout, &h->prev_fanout, &w);
    s.fanout_count = w.count;
    s.fanout_p50_ms = ms_or_none(histo_quantile_us(&w, 0.5));
    s.fanout_p99_ms = ms_or_none(histo_quantile_us(&w, 0.99));

    s.redis_up = rsub_is_up(&br->rsub);
    s.pool_up = cluster_is_up(&br->cluster);
    health_ping(h);
    s.redis_rtt_ms = h->redis_rtt_ms;
    s.rss_bytes = health_rss_bytes();
    s.open_fds = health_open_fds();

    char why[160];
    snprintf(why, sizeof(why), "Redis delivery lost (subscriber down, %llu reconnects so far)",
             (unsigned long long)br->rsub.reconnects);
    health_alert_set(h, HEALTH_ALERT_REDIS_DOWN, !s.redis_up, why);
    snprintf(why, sizeof(why), "%llu errors, error rate %.3f over %.0f s (threshold %.2f)",
             (unsigned long long)s.errors, s.error_rate, dt, HEALTH_ERROR_RATE_MAX);
    health_alert_set(h, HEALTH_ALERT_ERROR_RATE,
                     s.errors >= HEALTH_ERRORS_MIN && s.error_rate > HEALTH_ERROR_RATE_MAX, why);
    uint64_t drops = st->slow_consumer_drops - h->prev_drops;
    snprintf(why, sizeof(why), "%llu of %llu streams unhealthy (%llu with queued bytes), %llu slow "
             "consumers cut",
             (unsigned long long)unhealthy, (unsigned long long)s.connections,
             (unsigned long long)behind, (unsigned long long)drops);
    health_alert_set(h, HEALTH_ALERT_QUEUE_PRESSURE,
                     drops > 0 || (unhealthy > 0 && (double)unhealthy >=
                                                        HEALTH_UNHEALTHY_SHARE * (double)s.connections),
                     why);
    s.alerts = health_alert_bits(h);

    uint32_t slot;
    if (h->hist_len < h->hist_cap) {
        slot = (h->hist_head + h->hist_len++) % h->hist_cap;
    } else {
        slot = h->hist_head;
        h->hist_head = (h->hist_head + 1) % h->hist_cap;
    }
    h->history[slot] = s;
    h->checks++;

    h->prev_ns = now_ns;
    h->prev_events = events;
    h->prev_bytes = st->bytes_sent;
    h->prev_errors = errors;
    h->prev_received = st->messages_received;
    h->prev_drops = st->slow_consumer_drops;
    h->prev_latency = h->latency;
    h->prev_fanout = h->fanout;

    log_kv_t kv[] = {LOG_INT("connections", s.connections), LOG_INT("healthy", s.healthy),
                     LOG_DBL("error_rate", s.error_rate), LOG_DBL("events_per_s", s.events_per_s),
                     LOG_DBL("latency_p99_ms", s.latency_p99_ms),
                     LOG_STR("redis", s.redis_up ? "up" : "down"),
                     LOG_DBL("redis_rtt_ms", s.redis_rtt_ms), LOG_INT("rss_bytes", s.rss_bytes),
                     LOG_INT("open_fds", s.open_fds), LOG_INT("alerts", s.alerts)};
    log_kv(LOG_DEBUG, "health check", kv, sizeof(kv) / sizeof(kv[0]));
}

const health_sample_t *health_last(const health_t *h)
{
    return h->hist_len == 0 ? NULL : health_history_at(h, h->hist_len - 1);
}

const health_sample_t *health_history_at(const health_t *h, uint32_t i)
{
    return &h->history[(h->hist_head + i) % h->hist_cap];
}

const health_tick_t *health_tick_at(const health_t *h, uint32_t i)
{
    return &h->ticks[(h->ticks_head + i) % HEALTH_TICKS_MAX];
}

/* --- every replica's figures ----------------------------------------------------- */

/* Reads the mirrored counters of every replica with a live lease (at most
 * HEALTH_REPLICAS_MAX, by id): the pool's keys share one hash tag, so one
 * read-only script reaches them all. */
static const char replicas_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  out[#out + 1] = id\n"
    "  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'stats:' .. id)\n"
    "end\n"
    "return out\n";

static uint64_t reply_num(const redisReply *r, int *ok)
{
    char *end;
    *ok = 0;
    if (r->type != REDIS_REPLY_STRING || r->len == 0)
        return 0;
    unsigned long long v = strtoull(r->str, &end, 10);
    *ok = end == r->str + r->len && r->str[0] != '-';
    return (uint64_t)v;
}

static int replica_cmp(const void *a, const void *b)
{
    return strcmp(((const health_replica_t *)a)->id, ((const health_replica_t *)b)->id);
}

static void health_replicas_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    health_t *h = privdata;
    redisReply *reply = r;
    (void)ac;
    h->replicas_inflight = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    health_replica_t old[HEALTH_REPLICAS_MAX];
    uint32_t nold = h->nreplicas;
    memcpy(old, h->replicas, sizeof(old[0]) * nold);
    uint64_t now = uv_now(h->br->loop);
    uint32_t n = 0;
    for (size_t i = 0; i + 1 < reply->elements && n < HEALTH_REPLICAS_MAX; i += 2) {
        const redisReply *id = reply->element[i], *kv = reply->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || kv->type != REDIS_REPLY_ARRAY)
            continue;
        health_replica_t *x = &h->replicas[n++];
        memset(x, 0, sizeof(*x));
        snprintf(x->id, sizeof(x->id), "%.*s", (int)id->len, id->str);
        x->events_per_s = -1;
        x->p99_ms = -1;
        x->read_ms = now;
        for (size_t k = 0; k + 1 < kv->elements; k += 2) {
            const redisReply *f = kv->element[k], *v = kv->element[k + 1];
            if (f->type != REDIS_REPLY_STRING)
                continue;
            int ok;
            uint64_t num = reply_num(v, &ok);
            if (strcmp(f->str, "connections") == 0)
                x->connections = num;
            else if (strcmp(f->str, "healthy") == 0)
                x->healthy = num;
            else if (strcmp(f->str, "events_sent") == 0)
                x->events_sent = num;
            else if (strcmp(f->str, "latency_p99_us") == 0 && ok)
                x->p99_ms = (double)num / 1000.0;
            else if (strcmp(f->str, "redis") == 0)
                x->redis_up = v->type == REDIS_REPLY_STRING && strcmp(v->str, "up") == 0;
        }
        for (uint32_t k = 0; k < nold; k++) {
            if (strcmp(old[k].id, x->id) != 0)
                continue;
            /* The same mirror read twice (renewals are slower than reads)
             * says nothing new: keep the last rate. */
            if (x->events_sent == old[k].events_sent && now - old[k].read_ms < 10000) {
                x->events_per_s = old[k].events_per_s;
                x->read_ms = old[k].read_ms;
            } else if (x->events_sent >= old[k].events_sent && now > old[k].read_ms) {
                x->events_per_s = (double)(x->events_sent - old[k].events_sent) * 1000.0 /
                                  (double)(now - old[k].read_ms);
            }
        }
    }
    h->nreplicas = n;
    qsort(h->replicas, n, sizeof(h->replicas[0]), replica_cmp);
}

static void health_read_replicas(health_t *h)
{
    bridge_t *br = h->br;
    if (h->replicas_inflight || !cluster_is_up(&br->cluster))
        return;
    char key[CFG_PREFIX_MAX + 16], max[16];
    snprintf(key, sizeof(key), "%sbridges", br->cfg->redis_prefix);
    snprintf(max, sizeof(max), "%d", HEALTH_REPLICAS_MAX);
    const char *argv[] = {"EVAL", replicas_lua, "1", key, br->cfg->redis_prefix, max};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (rlink_command(&br->cluster.link, health_replicas_cb, h, 6, argv, lens) == 0)
        h->replicas_inflight = 1;
}

/* --- the dashboard's ticks ------------------------------------------------------ */

static void health_tick_cb(uv_timer_t *t)
{
    health_t *h = t->data;
    bridge_t *br = h->br;
    const bridge_stats_t *st = &br->stats;
    uint64_t now_ns = uv_hrtime();
    double dt = (double)(now_ns - h->tick_ns) / 1e9;
    if (dt <= 0)
        dt = 1e-9;
    health_tick_t k;
    memset(&k, 0, sizeof(k));
    k.at_ms = bridge_now_ms();
    k.connections = br->nstreams;
    k.healthy = health_healthy(h);
    k.events_per_s = (double)(st->events_sent - h->tick_events) / dt;
    k.bytes_per_s = (double)(st->bytes_sent - h->tick_bytes) / dt;
    k.messages_per_s = (double)(st->messages_received - h->tick_received) / dt;
    histo_t w;
    histo_sub(&h->latency, &h->tick_latency, &w);
    k.p50_ms = ms_or_none(histo_quantile_us(&w, 0.5));
    k.p90_ms = ms_or_none(histo_quantile_us(&w, 0.9));
    k.p99_ms = ms_or_none(histo_quantile_us(&w, 0.99));
    histo_sub(&h->fanout, &h->tick_fanout, &w);
    k.fanout_p99_ms = ms_or_none(histo_quantile_us(&w, 0.99));
    k.redis_up = rsub_is_up(&br->rsub);
    k.redis_rtt_ms = h->redis_rtt_ms;
    k.rss_bytes = health_rss_bytes();
    k.alerts = health_alert_bits(h);

    const cluster_totals_t *ct = &br->cluster.totals;
    if (ct->at_ms != 0 && cluster_is_up(&br->cluster)) {
        k.cl_bridges = ct->bridges;
        k.cl_connections = ct->connections;
        k.cl_healthy = health_cluster_healthy(h, ct->healthy, ct->connections);
        if (ct->at_ms != h->cl_at_ms) {
            if (h->cl_at_ms != 0 && ct->at_ms > h->cl_at_ms && ct->events_sent >= h->cl_events)
                h->cl_events_per_s = (double)(ct->events_sent - h->cl_events) * 1000.0 /
                                     (double)(ct->at_ms - h->cl_at_ms);
            h->cl_at_ms = ct->at_ms;
            h->cl_events = ct->events_sent;
        }
        k.cl_events_per_s = h->cl_events_per_s;
    }

    uint32_t slot;
    if (h->ticks_len < HEALTH_TICKS_MAX) {
        slot = (h->ticks_head + h->ticks_len++) % HEALTH_TICKS_MAX;
    } else {
        slot = h->ticks_head;
        h->ticks_head = (h->ticks_head + 1) % HEALTH_TICKS_MAX;
    }
    h->ticks[slot] = k;
    h->tick_ns = now_ns;
    h->tick_events = st->events_sent;
    h->tick_bytes = st->bytes_sent;
    h->tick_received = st->messages_received;
    h->tick_latency = h->latency;
    h->tick_fanout = h->fanout;
    if (h->ticks_done++ % HEALTH_REPLICAS_EVERY == 0)
        health_read_replicas(h);

    if (list_empty(&h->watchers))
        return;
    msg_t *m = metrics_tick_msg(br, &k);
    if (m == NULL)
        return;
    for (list_t *n = h->watchers.next; n != &h->watchers; n = n->next)
        conn_send(list_entry(n, conn_t, node), m);
    msg_unref(m);
}

/* --- dashboard streams ------------------------------------------------------------ */

static const char watch_head[] = "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: text/event-stream; charset=utf-8\r\n"
                                 "Cache-Control: no-cache\r\n"
                                 "X-Accel-Buffering: no\r\n"
                                 "\r\n"
                                 ": sse-bridge metrics\n\n"
                                 "retry: 2000\n\n";

void health_watch(health_t *h, conn_t *c)
{
    bridge_t *br = h->br;
    if (br->draining) {
        conn_respond_error(c, 503, "draining", "the bridge is shutting down", NULL);
        return;
    }
    uint32_t n = 0;
    for (list_t *i = h->watchers.next; i != &h->watchers; i = i->next)
        n++;
    if (n >= HEALTH_WATCHERS_MAX) {
        conn_respond_error(c, 503, "too_many_watchers", "too many dashboard streams", NULL);
        return;
    }
    msg_t *m = msg_copy(watch_head, sizeof(watch_head) - 1);
    if (m == NULL) {
        conn_respond_error(c, 500, "internal", "out of memory", NULL);
        return;
    }
    /* No more requests on this connection: it is a stream now, outside the
     * pool (a dashboard is not a client) and outside the request sweep. */
    conn_park(c);
    list_remove(&c->node);
    list_push_back(&h->watchers, &c->node);
    conn_send(c, m);
    msg_unref(m);
    /* The last two minutes at once, so the charts start full. */
    for (uint32_t i = 0; i < h->ticks_len; i++) {
        m = metrics_tick_msg(br, health_tick_at(h, i));
        if (m == NULL)
            break;
        conn_send(c, m);
        msg_unref(m);
    }
    log_kv_t kv[] = {LOG_INT("watchers", n + 1)};
    log_kv(LOG_INFO, "dashboard stream opened", kv, 1);
}
