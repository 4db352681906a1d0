/* SSE streams. Every message is parsed and framed once into a refcounted
 * buffer; each subscriber's write queue takes a reference to those same
 * bytes. Closing is deferred to the flush, so a fan-out never sees the hub
 * change under it. */
#include "stream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "replay.h"
#include "sse_frame.h"

/* The response head without its blank line: CORS lines may follow. */
static const char stream_head[] = "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: text/event-stream; charset=utf-8\r\n"
                                  "Cache-Control: no-cache\r\n"
                                  "X-Accel-Buffering: no\r\n"
                                  "Vary: Accept-Encoding\r\n";
static const char stream_gzip_line[] = "Content-Encoding: gzip\r\n";
static const char stream_banner[] = ": sse-bridge " SSE_BRIDGE_VERSION "\n\n";

/* One message on its way to many streams: the identity bytes, and the same
 * as a gzip segment, built on the first gzip subscriber and shared by all. */
typedef struct frame_s {
    msg_t *plain;    /* identity bytes (a reference) */
    size_t payload;  /* the publisher's payload bytes, compared to the threshold */
    msg_t *gz;       /* gzip segment (a reference), NULL until needed */
    gzs_info_t info; /* the segment's CRC and length */
    int gz_failed;   /* building the segment failed: gzip streams miss it */
    hub_chan_t *chan;/* the channel, for a history event */
    hid_t id;        /* its history id, when has_id */
    int has_id;      /* a history event */
} frame_t;

static msg_t *frame_gz(bridge_t *br, frame_t *f)
{
    if (f->gz == NULL && !f->gz_failed) {
        size_t payload = f->payload != 0 ? f->payload : f->plain->len;
        int compress = (long)payload > br->cfg->compression_threshold;
        uint64_t t0 = uv_hrtime();
        f->gz = gzs_segment(&br->gz, f->plain->data, f->plain->len, compress, &f->info);
        br->stats.gzip_ns += uv_hrtime() - t0;
        br->stats.gzip_segments++;
        br->stats.gzip_compressed += compress;
        f->gz_failed = f->gz == NULL;
    }
    return f->gz;
}

/* Sends f to c now, whatever its state. */
static void frame_send_now(bridge_t *br, conn_t *c, frame_t *f)
{
    if (!c->gzip) {
        conn_send(c, f->plain);
        return;
    }
    msg_t *g = frame_gz(br, f);
    if (g == NULL) {
        /* A gap would corrupt the stream: better to end it. */
        conn_close(c, "gzip segment failed");
        return;
    }
    conn_send_gz(c, g, &f->info);
    br->stats.gzip_bytes_in += f->plain->len;
    br->stats.gzip_bytes_out += g->len;
}

/* Sends f to c, or holds it while c's replay runs. */
static void frame_send(bridge_t *br, conn_t *c, frame_t *f)
{
    if (c->replay == NULL) {
        frame_send_now(br, c, f);
        return;
    }
    msg_t *g = c->gzip ? frame_gz(br, f) : NULL;
    if (c->gzip && g == NULL) {
        conn_close(c, "gzip segment failed");
        return;
    }
    replay_hold(c, f->plain, g, &f->info, f->chan, f->has_id ? &f->id : NULL);
}

static void frame_done(frame_t *f)
{
    msg_unref(f->plain);
    msg_unref(f->gz);
}

void stream_send_now(conn_t *c, msg_t *m)
{
    frame_t f = {.plain = msg_ref(m)};
    frame_send_now(c->br, c, &f);
    frame_done(&f);
}

void stream_send_frame(conn_t *c, msg_t *plain, msg_t *gz, const gzs_info_t *info)
{
    if (gz == NULL) {
        conn_send(c, plain);
        return;
    }
    conn_send_gz(c, gz, info);
    c->br->stats.gzip_bytes_in += plain->len;
    c->br->stats.gzip_bytes_out += gz->len;
}

enum {
    BCAST_SKIP_REPLAYING, /* streams still replaying miss it (heartbeats) */
    BCAST_STATUS          /* news about Redis: sent at once, also to a replaying stream
                           * that said hello (its replay may wait for Redis to return) */
};

/* Sends m to every stream as mode says; gzip streams share one segment. */
static void stream_broadcast(bridge_t *br, msg_t *m, int mode)
{
    frame_t f = {.plain = msg_ref(m)};
    for (list_t *n = br->streams.next; n != &br->streams; n = n->next) {
        conn_t *c = list_entry(n, conn_t, node);
        if (c->replay == NULL)
            frame_send_now(br, c, &f);
        else if (mode == BCAST_STATUS && replay_said_hello(c))
            frame_send_now(br, c, &f);
        else if (mode == BCAST_STATUS)
            frame_send(br, c, &f); /* held until the hello has gone out */
    }
    frame_done(&f);
}

void stream_broadcast_chan(bridge_t *br, hub_chan_t *chan, msg_t *m)
{
    frame_t f = {.plain = msg_ref(m)};
    for (uint32_t i = 0; i < chan->nsubs; i++)
        frame_send(br, list_entry(chan->subs[i], conn_t, sub), &f);
    frame_done(&f);
}

/* An "event: system" block; retry < 0 leaves the retry field out. */
static msg_t *stream_system_msg(bridge_t *br, const char *status, long retry)
{
    char data[256];
    unsigned long long now = (unsigned long long)bridge_now_ms();
    /* A retry is repeated in the data, where a browser client can read it
     * (EventSource keeps the retry field to itself). */
    int n = retry >= 0 ? snprintf(data, sizeof(data),
                                  "{\"status\":\"%s\",\"bridge\":\"%s\",\"ts\":%llu,\"retry\":%ld}",
                                  status, br->cfg->bridge_id, now, retry)
                       : snprintf(data, sizeof(data), "{\"status\":\"%s\",\"bridge\":\"%s\",\"ts\":%llu}",
                                  status, br->cfg->bridge_id, now);
    sse_event_t ev = {.event = "system", .event_len = 6, .retry = retry, .data = data,
                      .data_len = (size_t)n};
    return sse_frame_msg(&ev);
}

static void stream_chan_emptied(hub_chan_t *chan, void *arg)
{
    bridge_t *br = arg;
    replay_chan_emptied(br, chan);
    rsub_sync(&br->rsub, chan);
}

/* The "connected" event's JSON: who we are and what the client gets. */
static char *stream_connected_json(const bridge_t *br, const conn_t *c, int resumed)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *chans = cJSON_CreateArray();
    if (o == NULL || chans == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(chans);
        return NULL;
    }
    cJSON_AddItemToObject(o, "bridge", cJSON_CreateString(br->cfg->bridge_id));
    cJSON_AddItemToObject(o, "client_id",
                          c->client_id ? cJSON_CreateString(c->client_id) : cJSON_CreateNull());
    for (uint16_t i = 0; i < c->sub.nlinks; i++)
        cJSON_AddItemToArray(chans, cJSON_CreateString(c->sub.links[i].chan->name));
    cJSON_AddItemToObject(o, "channels", chans);
    cJSON_AddNumberToObject(o, "heartbeat_interval", br->cfg->heartbeat_interval);
    cJSON_AddBoolToObject(o, "resumed", resumed);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The opening comment and the "connected" event (identity bytes), with
 * the stream's cursor as its id when it has one. */
static msg_t *stream_hello_msg(bridge_t *br, const conn_t *c, const char *cursor, size_t cursor_len,
                               int resumed)
{
    char *json = stream_connected_json(br, c, resumed);
    if (json == NULL)
        return NULL;
    sse_event_t ev = {.event = "connected", .event_len = 9, .id = cursor, .id_len = cursor_len,
                      .retry = jitter_ms(&br->rng, (uint32_t)br->cfg->retry_ms), .data = json,
                      .data_len = strlen(json)};
    size_t hl = sizeof(stream_banner) - 1;
    msg_t *m = msg_alloc(hl + sse_frame_size(&ev));
    if (m != NULL) {
        memcpy(m->data, stream_banner, hl);
        sse_frame_write(&ev, m->data + hl);
    }
    free(json);
    return m;
}

/* The response head, and for gzip the member header: one buffer. */
/* The response head (with the CORS lines the request earned) and room
 * for room more bytes, which the caller fills; *used is the head's size. */
static msg_t *stream_head_build(const conn_t *c, size_t room, size_t *used)
{
    char cors[512];
    size_t hl = sizeof(stream_head) - 1, cl = conn_cors_lines(c, cors, sizeof(cors));
    size_t gl = c->gzip ? sizeof(stream_gzip_line) - 1 : 0;
    msg_t *m = msg_alloc(hl + gl + cl + 2 + room);
    if (m == NULL)
        return NULL;
    char *p = m->data;
    memcpy(p, stream_head, hl);
    p += hl;
    memcpy(p, stream_gzip_line, gl);
    p += gl;
    memcpy(p, cors, cl);
    p += cl;
    memcpy(p, "\r\n", 2);
    *used = hl + gl + cl + 2;
    return m;
}

static msg_t *stream_head_msg(const conn_t *c)
{
    size_t used;
    msg_t *m = stream_head_build(c, c->gzip ? GZS_HEADER_LEN : 0, &used);
    if (m != NULL && c->gzip)
        memcpy(m->data + used, gzs_header, GZS_HEADER_LEN);
    return m;
}

void stream_expire(conn_t *c)
{
    bridge_t *br = c->br;
    if (c->state != CONN_STREAM || c->token_exp == 0)
        return;
    c->token_exp = 0;
    msg_t *m = stream_system_msg(br, "token_expired", -1);
    if (m != NULL) {
        stream_send_now(c, m);
        msg_unref(m);
    }
    br->stats.tokens_expired++;
    log_info("stream of client_id=%s: token expired", c->client_id ? c->client_id : "-");
    conn_finish(c);
}

void stream_refuse(conn_t *c, uint32_t retry_ms, const char *data, size_t len)
{
    sse_event_t ev = {.event = "limit", .event_len = 5, .retry = (long)retry_ms, .data = data,
                      .data_len = len};
    size_t hl, cl = sizeof(stream_banner) - 1;
    c->gzip = 0; /* a few bytes: identity */
    msg_t *m = stream_head_build(c, cl + sse_frame_size(&ev), &hl);
    if (m == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    memcpy(m->data + hl, stream_banner, cl);
    sse_frame_write(&ev, m->data + hl + cl);
    conn_send(c, m);
    msg_unref(m);
    conn_finish(c);
}

void stream_hello(conn_t *c, const char *cursor, size_t cursor_len, int resumed)
{
    bridge_t *br = c->br;
    msg_t *hello = stream_hello_msg(br, c, cursor, cursor_len, resumed);
    if (hello == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    stream_send_now(c, hello);
    msg_unref(hello);
    if (!rsub_is_up(&br->rsub)) {
        /* The client learns at once that events may be late. */
        msg_t *m = stream_system_msg(br, "degraded", -1);
        if (m != NULL) {
            stream_send_now(c, m);
            msg_unref(m);
        }
        br->degraded_sent = 1;
    }
}

int stream_open(conn_t *c, const char *const *names, const size_t *lens, int n,
                const char *client_id, size_t client_id_len, const char *cursor, size_t cursor_len)
{
    bridge_t *br = c->br;
    msg_t *m = NULL;
    if (client_id != NULL) {
        c->client_id = malloc(client_id_len + 1);
        if (c->client_id == NULL)
            goto fail;
        memcpy(c->client_id, client_id, client_id_len);
        c->client_id[client_id_len] = '\0';
        c->client_id_len = (uint16_t)client_id_len;
    }
    for (int i = 0; i < n; i++) {
        hub_chan_t *chan;
        int r = hub_join(&br->hub, &c->sub, names[i], lens[i], &chan);
        if (r < 0)
            goto fail;
        if (r == 1)
            rsub_sync(&br->rsub, chan);
    }
    gzs_stream_init(&c->gz);
    m = stream_head_msg(c);
    if (m == NULL)
        goto fail;

    c->state = CONN_STREAM;
    c->opened_ms = uv_now(br->loop);
    list_remove(&c->node);
    list_push_back(&br->streams, &c->node);
    br->nstreams++;
    br->stats.connections_opened++;
    conn_send(c, m);
    msg_unref(m);
    char peer[CLIENTIP_MAX];
    conn_peer_ip(c, peer);
    log_kv_t kv[] = {LOG_STR("client_id", c->client_id), LOG_STR("peer", peer),
                     LOG_INT("channels", c->sub.nlinks), LOG_INT("streams", br->nstreams),
                     LOG_STR("gzip", c->gzip ? "yes" : "no"),
                     LOG_STR("resuming", cursor != NULL ? "yes" : "no")};
    log_kv(LOG_INFO, "stream opened", kv, sizeof(kv) / sizeof(kv[0]));
    int r = replay_open(c, cursor, cursor_len);
    if (r < 0) {
        conn_close(c, "out of memory");
        return 0;
    }
    if (r == 0) {
        /* No history now: live only, and a resuming client hears that it
         * may have missed events. */
        stream_hello(c, NULL, 0, 0);
        if (br->cfg->history && c->state == CONN_STREAM && replay_cursor_valid(cursor, cursor_len))
            replay_reset_all(c, cursor, cursor_len, "history_unavailable");
    }
    return 0;

fail:
    msg_unref(m);
    hub_leave_all(&br->hub, &c->sub, stream_chan_emptied, br);
    free(c->client_id);
    c->client_id = NULL;
    return -1;
}

void stream_detach(conn_t *c, const char *reason)
{
    bridge_t *br = c->br;
    replay_detach(c);
    hub_leave_all(&br->hub, &c->sub, stream_chan_emptied, br);
    cluster_release(&br->cluster, c);
    br->nstreams--;
    br->stats.connections_closed++;
    log_kv_t kv[] = {LOG_STR("client_id", c->client_id), LOG_STR("reason", reason),
                     LOG_DBL("duration_s", (double)(uv_now(br->loop) - c->opened_ms) / 1000.0),
                     LOG_INT("streams", br->nstreams)};
    log_kv(LOG_INFO, "stream closed", kv, sizeof(kv) / sizeof(kv[0]));
}

void stream_deliver(bridge_t *br, hub_chan_t *chan, const char *payload, size_t len, conn_t *only)
{
    const cfg_t *cfg = br->cfg;
    if (len > (size_t)cfg->max_message_bytes) {
        br->stats.messages_oversize++;
        log_warn("dropped message on '%s': %zu bytes, over --max-message-bytes %ld", chan->name,
                 len, cfg->max_message_bytes);
        return;
    }
    envelope_t env;
    char err[256];
    int flask = chanlist_allows(&cfg->flask_channels, chan->name, chan->len);
    if (envelope_parse(chan->name, chan->len, payload, len, flask, &env, err, sizeof(err)) != 0) {
        br->stats.messages_malformed++;
        log_warn("dropped message on '%s': %s", chan->name, err);
        return;
    }
    frame_t f = {.payload = env.ev.data_len, .chan = chan};
    f.has_id = env.ev.id != NULL && hid_of_event(env.ev.id, env.ev.id_len, chan->name, chan->len, &f.id);
    if (f.has_id && only == NULL) {
        /* Channel order: a history id at or before the last one delivered
         * was delivered already (by a catch-up after Redis came back). */
        if (chan->hist_known && hid_cmp(f.id, chan->hist_last) <= 0) {
            br->stats.replay_duplicates++;
            envelope_free(&env);
            return;
        }
        chan->hist_last = f.id;
        chan->hist_known = 1;
    }
    f.plain = sse_frame_msg(&env.ev);
    if (f.plain == NULL) {
        log_error("dropped message on '%s': out of memory", chan->name);
        envelope_free(&env);
        return;
    }
    uint32_t nsubs = only != NULL ? 1 : chan->nsubs;
    for (uint32_t i = 0; i < nsubs; i++) {
        conn_t *c = only != NULL ? only : list_entry(chan->subs[i], conn_t, sub);
        if (env.target != NULL && (c->client_id == NULL || c->client_id_len != env.target_len ||
                                   memcmp(c->client_id, env.target, env.target_len) != 0))
            continue;
        if (only != NULL)
            frame_send_now(br, c, &f); /* the replay itself: never held */
        else
            frame_send(br, c, &f);
        br->stats.events_sent++;
    }
    if (only == NULL)
        health_on_fanout(&br->health, env.ts);
    frame_done(&f);
    envelope_free(&env);
}

void stream_on_message(void *arg, hub_chan_t *chan, const char *payload, size_t len)
{
    bridge_t *br = arg;
    br->stats.messages_received++;
    health_on_receipt(&br->health);
    if (replay_catchup_hold(br, chan, payload, len))
        return;
    stream_deliver(br, chan, payload, len, NULL);
}

void stream_on_status(void *arg, int up)
{
    bridge_t *br = arg;
    if (up && !br->degraded_sent)
        return;
    msg_t *m = stream_system_msg(br, up ? "recovered" : "degraded", -1);
    if (m == NULL)
        return;
    stream_broadcast(br, m, BCAST_STATUS);
    msg_unref(m);
    br->degraded_sent = !up;
}

void stream_heartbeat(bridge_t *br)
{
    if (br->nstreams == 0)
        return;
    char data[160];
    int n = snprintf(data, sizeof(data), "{\"ts\":%llu,\"bridge\":\"%s\"}",
                     (unsigned long long)bridge_now_ms(), br->cfg->bridge_id);
    sse_event_t ev = {.event = "heartbeat", .event_len = 9, .retry = -1, .data = data,
                      .data_len = (size_t)n};
    msg_t *m = sse_frame_msg(&ev);
    if (m == NULL)
        return;
    stream_broadcast(br, m, BCAST_SKIP_REPLAYING);
    br->stats.heartbeats_sent += br->nstreams;
    msg_unref(m);
}

void stream_shutdown_all(bridge_t *br)
{
    for (list_t *n = br->streams.next; n != &br->streams; n = n->next) {
        conn_t *c = list_entry(n, conn_t, node);
        /* A replay stops here; the client resumes from what it has. */
        replay_detach(c);
        /* Each client gets its own retry so reconnections spread out. */
        msg_t *m = stream_system_msg(br, "shutdown", jitter_ms(&br->rng, (uint32_t)br->cfg->retry_ms));
        if (m != NULL) {
            stream_send_now(c, m);
            msg_unref(m);
        }
        conn_finish(c);
    }
}
