/* Monitoring endpoints. /metrics follows the Prometheus text exposition
 * format 0.0.4 (HELP and TYPE lines, counters named *_total, base units:
 * seconds and bytes); /sse/metrics is the health monitor's report; the
 * dashboard page is embedded in the binary and reads /sse/metrics/stream. */
#include "metrics.h"

#include <cjson/cJSON.h>
#include <llhttp.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "embed.h"
#include "log.h"

/* --- a growing text buffer ------------------------------------------------ */

typedef struct sb_s {
    char *p;    /* the text, NUL-terminated */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* an allocation failed: the text is incomplete */
} sb_t;

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sb_t *b, const char *fmt, ...)
{
    for (;;) {
        if (b->oom)
            return;
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 8192;
        while (ncap - b->len <= (size_t)n)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* --- Prometheus ------------------------------------------------------------ */

#define P "sse_bridge_"

static void prom_head(sb_t *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP " P "%s %s\n# TYPE " P "%s %s\n", name, help, name, type);
}

static void prom_u64(sb_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    prom_head(b, name, type, help);
    sb_printf(b, P "%s %llu\n", name, (unsigned long long)v);
}

static void prom_dbl(sb_t *b, const char *name, const char *help, double v)
{
    prom_head(b, name, "gauge", help);
    if (isnan(v))
        sb_printf(b, P "%s NaN\n", name);
    else
        sb_printf(b, P "%s %.9g\n", name, v);
}

static void prom_histo(sb_t *b, const char *name, const char *help, const histo_t *h)
{
    prom_head(b, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < HISTO_NBOUNDS; i++) {
        cum += h->buckets[i];
        sb_printf(b, P "%s_bucket{le=\"%g\"} %llu\n", name, (double)histo_bounds_us[i] / 1e6,
                  (unsigned long long)cum);
    }
    sb_printf(b, P "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    sb_printf(b, P "%s_sum %.6f\n", name, (double)h->sum_us / 1e6);
    sb_printf(b, P "%s_count %llu\n", name, (unsigned long long)h->count);
}

static const char *metrics_status(const bridge_t *br)
{
    return br->draining ? "draining"
           : rsub_is_up(&br->rsub) && cluster_is_up(&br->cluster) ? "ok"
                                                                  : "degraded";
}

static void metrics_prometheus(conn_t *c)
{
    bridge_t *br = c->br;
    const bridge_stats_t *s = &br->stats;
    const cluster_t *cl = &br->cluster;
    const health_t *h = &br->health;
    sb_t b = {0};

    prom_head(&b, "info", "gauge", "Build and identity of this bridge (always 1).");
    sb_printf(&b, P "info{bridge=\"%s\",version=\"%s\"} 1\n", br->cfg->bridge_id,
              SSE_BRIDGE_VERSION);
    prom_dbl(&b, "start_time_seconds", "Start time of the bridge, seconds since the epoch.",
             (double)br->started_ms / 1000.0);
    prom_u64(&b, "connections", "gauge", "Open SSE streams on this bridge.", br->nstreams);
    prom_u64(&b, "healthy_connections", "gauge",
             "Open streams not falling behind (queue not growing, written within a heartbeat).",
             health_healthy(h));
    prom_u64(&b, "connections_opened_total", "counter", "SSE streams opened.",
             s->connections_opened);
    prom_u64(&b, "connections_closed_total", "counter", "SSE streams closed, for any reason.",
             s->connections_closed);
    prom_head(&b, "connections_rejected_total", "counter",
              "Stream requests refused by the cluster-wide pool, by limit.");
    sb_printf(&b, P "connections_rejected_total{reason=\"max_connections\"} %llu\n",
              (unsigned long long)cl->rejected_total);
    sb_printf(&b, P "connections_rejected_total{reason=\"max_connections_per_ip\"} %llu\n",
              (unsigned long long)cl->rejected_ip);
    prom_u64(&b, "http_errors_total", "counter",
             "Requests answered with an error status (bad requests, forbidden channels, limits, "
             "draining).",
             s->requests_rejected);
    prom_head(&b, "http_errors_by_code_total", "counter",
              "Requests answered with an error status, by the JSON error code.");
    for (int i = 0; i < BRIDGE_REJECT_CODES && br->rejects[i].code != NULL; i++)
        sb_printf(&b, P "http_errors_by_code_total{code=\"%s\"} %llu\n", br->rejects[i].code,
                  (unsigned long long)br->rejects[i].n);
    prom_u64(&b, "slow_consumer_drops_total", "counter",
             "Streams closed because their write queue exceeded --max-queue-bytes.",
             s->slow_consumer_drops);
    prom_u64(&b, "events_sent_total", "counter", "Events queued to streams (one per stream).",
             s->events_sent);
    prom_u64(&b, "heartbeats_sent_total", "counter", "Heartbeats queued to streams.",
             s->heartbeats_sent);
    prom_u64(&b, "bytes_sent_total", "counter", "Bytes written to client sockets.", s->bytes_sent);
    prom_u64(&b, "io_uring", "gauge",
             "1 while a flush's writes leave in one io_uring submit (--io-uring), 0 when each "
             "connection is written on its own.",
             (uint64_t)(br->sendbatch != NULL));
    prom_u64(&b, "batched_sends_total", "counter",
             "Socket sends the kernel took through an io_uring submit.", s->batched_sends);
    prom_u64(&b, "batch_submits_total", "counter",
             "io_uring submits (system calls) that carried them.", s->batch_submits);
    prom_u64(&b, "compression_input_bytes_total", "counter",
             "Identity bytes of deliveries to gzip streams.", s->gzip_bytes_in);
    prom_u64(&b, "compression_output_bytes_total", "counter",
             "Bytes actually queued for those deliveries (shared gzip segments).",
             s->gzip_bytes_out);
    prom_u64(&b, "compression_saved_bytes", "gauge",
             "Bytes compression saved so far (input minus output, not below 0).",
             bridge_bytes_saved(br));
    prom_u64(&b, "messages_received_total", "counter", "Pub/sub messages read from Redis.",
             s->messages_received);
    prom_head(&b, "messages_dropped_total", "counter", "Messages not delivered, by reason.");
    sb_printf(&b, P "messages_dropped_total{reason=\"malformed\"} %llu\n",
              (unsigned long long)s->messages_malformed);
    sb_printf(&b, P "messages_dropped_total{reason=\"oversize\"} %llu\n",
              (unsigned long long)s->messages_oversize);
    sb_printf(&b, P "messages_dropped_total{reason=\"duplicate\"} %llu\n",
              (unsigned long long)s->replay_duplicates);
    prom_u64(&b, "redis_up", "gauge", "1 while the subscriber is subscribed and delivering.",
             (uint64_t)rsub_is_up(&br->rsub));
    prom_u64(&b, "redis_pool_up", "gauge", "1 while the cluster pool's command link is up.",
             (uint64_t)cluster_is_up(cl));
    prom_u64(&b, "redis_reconnects_total", "counter",
             "Times Redis delivery came back after being lost.", br->rsub.reconnects);
    prom_u64(&b, "redis_probe_timeouts_total", "counter",
             "Pub/sub probes that did not come back in time (the subscriber was cut).",
             br->rsub.probe_timeouts);
    prom_dbl(&b, "redis_rtt_seconds", "Round trip of the last health check's PING (NaN: none).",
             h->redis_rtt_ms < 0 ? NAN : h->redis_rtt_ms / 1000.0);
    prom_u64(&b, "resumes_total", "counter", "Streams opened with a valid resume cursor.",
             s->resumes);
    prom_u64(&b, "replayed_events_total", "counter", "History events replayed to resuming streams.",
             s->replayed_events);
    prom_u64(&b, "resets_sent_total", "counter",
             "Reset events sent (a client may have missed events).", s->resets_sent);
    prom_histo(&b, "delivery_latency_seconds",
               "Publish time (envelope ts) to the last write of the fan-out.", &h->latency);
    prom_histo(&b, "fanout_duration_seconds",
               "Receipt off the Redis socket to the fan-out's writes, every message.", &h->fanout);
    prom_u64(&b, "health_checks_total", "counter", "Health checks done.", h->checks);
    prom_head(&b, "alert_active", "gauge", "1 while the alert is raised by the health monitor.");
    for (int i = 0; i < HEALTH_NALERTS; i++)
        sb_printf(&b, P "alert_active{alert=\"%s\"} %d\n", health_alert_names[i],
                  h->alerts[i].active);
    prom_u64(&b, "process_resident_memory_bytes", "gauge", "Resident memory of the process.",
             health_rss_bytes());
    prom_u64(&b, "process_open_fds", "gauge", "Open file descriptors of the process.",
             health_open_fds());
    const cluster_totals_t *t = &cl->totals;
    if (t->at_ms != 0) {
        prom_u64(&b, "cluster_bridges", "gauge", "Replicas with a live lease (last renewal).",
                 t->bridges);
        prom_u64(&b, "cluster_connections", "gauge", "Streams admitted cluster-wide.",
                 t->connections);
        prom_u64(&b, "cluster_healthy_connections", "gauge",
                 "Healthy streams summed over the replicas.", t->healthy);
    }
    if (b.oom) {
        free(b.p);
        conn_respond_error(c, 500, "internal", "out of memory", NULL);
        return;
    }
    conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, NULL, 0);
    free(b.p);
}

#undef P

/* --- every replica ------------------------------------------------------------ */

static cJSON *replicas_json(const health_t *h)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; i < h->nreplicas; i++) {
        const health_replica_t *x = &h->replicas[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", x->id);
        cJSON_AddNumberToObject(o, "connections", (double)x->connections);
        cJSON_AddNumberToObject(o, "healthy", (double)x->healthy);
        cJSON_AddNumberToObject(o, "events_sent", (double)x->events_sent);
        if (x->events_per_s < 0)
            cJSON_AddNullToObject(o, "events_per_s");
        else
            cJSON_AddNumberToObject(o, "events_per_s", x->events_per_s);
        if (x->p99_ms < 0)
            cJSON_AddNullToObject(o, "latency_p99_ms");
        else
            cJSON_AddNumberToObject(o, "latency_p99_ms", x->p99_ms);
        cJSON_AddBoolToObject(o, "redis_up", x->redis_up);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* --- /sse/metrics ------------------------------------------------------------ */

/* A latency figure: null when the window had none. */
static void json_ms(cJSON *o, const char *name, double ms)
{
    if (ms < 0)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, ms);
}

static cJSON *alerts_array(uint32_t bits)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < HEALTH_NALERTS; i++)
        if (bits & (1u << i))
            cJSON_AddItemToArray(a, cJSON_CreateString(health_alert_names[i]));
    return a;
}

static cJSON *sample_json(const health_sample_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "at_ms", (double)s->at_ms);
    cJSON_AddNumberToObject(o, "interval_s", s->interval_s);
    cJSON_AddNumberToObject(o, "connections", (double)s->connections);
    cJSON_AddNumberToObject(o, "healthy_connections", (double)s->healthy);
    cJSON_AddNumberToObject(o, "errors", (double)s->errors);
    cJSON_AddNumberToObject(o, "error_rate", s->error_rate);
    cJSON_AddNumberToObject(o, "events_per_second", s->events_per_s);
    cJSON_AddNumberToObject(o, "bytes_per_second", s->bytes_per_s);
    cJSON_AddNumberToObject(o, "messages_per_second", s->messages_per_s);
    cJSON *l = cJSON_CreateObject();
    cJSON_AddNumberToObject(l, "count", (double)s->latency_count);
    json_ms(l, "p50", s->latency_p50_ms);
    json_ms(l, "p90", s->latency_p90_ms);
    json_ms(l, "p99", s->latency_p99_ms);
    json_ms(l, "mean", s->latency_mean_ms);
    cJSON_AddItemToObject(o, "latency_ms", l);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "count", (double)s->fanout_count);
    json_ms(f, "p50", s->fanout_p50_ms);
    json_ms(f, "p99", s->fanout_p99_ms);
    cJSON_AddItemToObject(o, "fanout_ms", f);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", s->redis_up ? "up" : "down");
    cJSON_AddStringToObject(r, "pool", s->pool_up ? "up" : "down");
    json_ms(r, "rtt_ms", s->redis_rtt_ms);
    cJSON_AddItemToObject(o, "redis", r);
    cJSON_AddNumberToObject(o, "rss_bytes", (double)s->rss_bytes);
    cJSON_AddNumberToObject(o, "open_fds", (double)s->open_fds);
    cJSON_AddItemToObject(o, "alerts", alerts_array(s->alerts));
    return o;
}

static cJSON *histo_json(const histo_t *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)h->count);
    json_ms(o, "p50", histo_quantile_us(h, 0.5) < 0 ? -1 : histo_quantile_us(h, 0.5) / 1000);
    json_ms(o, "p90", histo_quantile_us(h, 0.9) < 0 ? -1 : histo_quantile_us(h, 0.9) / 1000);
    json_ms(o, "p99", histo_quantile_us(h, 0.99) < 0 ? -1 : histo_quantile_us(h, 0.99) / 1000);
    json_ms(o, "mean", histo_mean_us(h) < 0 ? -1 : histo_mean_us(h) / 1000);
    return o;
}

static void metrics_report(conn_t *c)
{
    bridge_t *br = c->br;
    const health_t *h = &br->health;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bridge", br->cfg->bridge_id);
    cJSON_AddStringToObject(o, "status", metrics_status(br));
    cJSON_AddNumberToObject(o, "generated_ms", (double)bridge_now_ms());
    cJSON_AddNumberToObject(o, "check_interval_s", br->cfg->health_check_interval);
    cJSON_AddNumberToObject(o, "checks", (double)h->checks);
    cJSON *th = cJSON_CreateObject();
    cJSON_AddNumberToObject(th, "error_rate", HEALTH_ERROR_RATE_MAX);
    cJSON_AddNumberToObject(th, "errors_min", HEALTH_ERRORS_MIN);
    cJSON_AddNumberToObject(th, "unhealthy_share", HEALTH_UNHEALTHY_SHARE);
    cJSON_AddItemToObject(o, "thresholds", th);
    const health_sample_t *last = health_last(h);
    cJSON_AddItemToObject(o, "current", last != NULL ? sample_json(last) : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "history_max", h->hist_cap);
    cJSON *hist = cJSON_CreateArray();
    for (uint32_t i = 0; i < h->hist_len; i++)
        cJSON_AddItemToArray(hist, sample_json(health_history_at(h, i)));
    cJSON_AddItemToObject(o, "history", hist);
    cJSON *alerts = cJSON_CreateArray();
    for (int i = 0; i < HEALTH_NALERTS; i++) {
        const health_alert_t *a = &h->alerts[i];
        if (!a->active)
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", health_alert_names[i]);
        cJSON_AddNumberToObject(x, "since_ms", (double)a->since_ms);
        cJSON_AddStringToObject(x, "detail", a->detail);
        cJSON_AddNumberToObject(x, "times_raised", (double)a->raised);
        cJSON_AddItemToArray(alerts, x);
    }
    cJSON_AddItemToObject(o, "alerts", alerts);
    cJSON *log = cJSON_CreateArray();
    for (uint32_t i = 0; i < h->log_len; i++) {
        const health_event_t *e = &h->alert_log[(h->log_head + i) % HEALTH_ALERT_LOG_MAX];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "at_ms", (double)e->at_ms);
        cJSON_AddStringToObject(x, "alert", health_alert_names[e->alert]);
        cJSON_AddStringToObject(x, "event", e->raised ? "raised" : "cleared");
        cJSON_AddItemToArray(log, x);
    }
    cJSON_AddItemToObject(o, "alert_log", log);
    cJSON *life = cJSON_CreateObject();
    cJSON_AddItemToObject(life, "latency_ms", histo_json(&h->latency));
    cJSON_AddItemToObject(life, "fanout_ms", histo_json(&h->fanout));
    cJSON_AddItemToObject(o, "since_start", life);
    /* Every replica's mirrored figures (the pool's keys, read every few s). */
    cJSON_AddItemToObject(o, "replicas", replicas_json(h));
    conn_respond_json(c, o);
}

/* --- the dashboard's stream ------------------------------------------------------ */

msg_t *metrics_tick_msg(const bridge_t *br, const health_tick_t *k)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddNumberToObject(o, "ts", (double)k->at_ms);
    cJSON_AddStringToObject(o, "bridge", br->cfg->bridge_id);
    cJSON_AddStringToObject(o, "status", metrics_status(br));
    cJSON_AddNumberToObject(o, "connections", (double)k->connections);
    cJSON_AddNumberToObject(o, "healthy", (double)k->healthy);
    cJSON_AddNumberToObject(o, "events_per_s", k->events_per_s);
    cJSON_AddNumberToObject(o, "bytes_per_s", k->bytes_per_s);
    cJSON_AddNumberToObject(o, "messages_per_s", k->messages_per_s);
    cJSON *l = cJSON_CreateObject();
    json_ms(l, "p50", k->p50_ms);
    json_ms(l, "p90", k->p90_ms);
    json_ms(l, "p99", k->p99_ms);
    json_ms(l, "fanout_p99", k->fanout_p99_ms);
    cJSON_AddItemToObject(o, "latency_ms", l);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "up", k->redis_up);
    json_ms(r, "rtt_ms", k->redis_rtt_ms);
    cJSON_AddItemToObject(o, "redis", r);
    cJSON_AddNumberToObject(o, "rss_bytes", (double)k->rss_bytes);
    cJSON_AddItemToObject(o, "alerts", alerts_array(k->alerts));
    if (k->cl_bridges > 0) {
        cJSON *cl = cJSON_CreateObject();
        cJSON_AddNumberToObject(cl, "bridges", (double)k->cl_bridges);
        cJSON_AddNumberToObject(cl, "connections", (double)k->cl_connections);
        cJSON_AddNumberToObject(cl, "healthy", (double)k->cl_healthy);
        cJSON_AddNumberToObject(cl, "events_per_s", k->cl_events_per_s);
        cJSON_AddItemToObject(cl, "replicas", replicas_json(&br->health));
        cJSON_AddItemToObject(o, "cluster", cl);
    } else {
        cJSON_AddNullToObject(o, "cluster");
    }
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json == NULL)
        return NULL;
    static const char pre[] = "event: metrics\ndata: ";
    size_t jl = strlen(json), pl = sizeof(pre) - 1;
    msg_t *m = msg_alloc(pl + jl + 2);
    if (m != NULL) {
        memcpy(m->data, pre, pl);
        memcpy(m->data + pl, json, jl);
        memcpy(m->data + pl + jl, "\n\n", 2);
    }
    free(json);
    return m;
}

/* --- the page ------------------------------------------------------------------ */

static void metrics_dashboard(conn_t *c)
{
    const embed_file_t *f = embed_get("static/dashboard.html");
    if (f == NULL) {
        conn_respond_error(c, 404, "not_found", "the dashboard is not built in", NULL);
        return;
    }
    /* Everything the page needs is in it or comes from this origin; the
     * policy makes sure nothing else is ever loaded. */
    conn_respond(c, 200, "text/html; charset=utf-8", f->data, f->len,
                 "X-Content-Type-Options: nosniff\r\n"
                 "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                 "style-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\n",
                 0);
}

int metrics_route(conn_t *c, int method, const char *path, size_t plen)
{
#define PATH_IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
    int prom = PATH_IS("/metrics"), report = PATH_IS("/sse/metrics");
    int stream = PATH_IS("/sse/metrics/stream"), page = PATH_IS("/sse/dashboard");
#undef PATH_IS
    if (!prom && !report && !stream && !page)
        return 0;
    if (method != HTTP_GET)
        conn_respond_error(c, 405, "method_not_allowed", "only GET is allowed here", NULL);
    else if (prom)
        metrics_prometheus(c);
    else if (report)
        metrics_report(c);
    else if (stream)
        health_watch(&c->br->health, c);
    else
        metrics_dashboard(c);
    return 1;
}
