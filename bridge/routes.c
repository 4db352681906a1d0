/* HTTP routes: /events and /stream open SSE streams, /healthz reports
 * liveness and counters; anything else is a JSON error. */
#include "routes.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "chanlist.h"
#include "query.h"
#include "stream.h"

#define ROUTE_QUERY_VAL_MAX HTTP_URL_MAX /* a decoded value is never longer than the URL */
#define ROUTE_CHANNELS_MAX 256           /* upper bound of --max-channels-per-connection */

/* Copies at most 64 bytes of untrusted text into out for an error message,
 * replacing anything that would need escaping in JSON. */
static const char *route_sanitize(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    out[n] = '\0';
    return out;
}

/* Answers an error whose text quotes an untrusted value: before 'arg' after. */
static void route_reject(conn_t *c, int status, const char *code, const char *before,
                         const char *arg, size_t arglen, const char *after)
{
    char safe[72], text[256];
    snprintf(text, sizeof(text), "%s'%s'%s", before,
             route_sanitize(arg, arglen, safe, sizeof(safe)), after);
    conn_respond_error(c, status, code, text);
}

static void route_healthz(conn_t *c)
{
    bridge_t *br = c->br;
    const bridge_stats_t *s = &br->stats;
    char body[1024];
    int n = snprintf(
        body, sizeof(body),
        "{\"status\":\"ok\",\"bridge\":\"%s\",\"version\":\"%s\",\"redis\":\"%s\","
        "\"draining\":%s,\"connections\":%llu,\"counters\":{"
        "\"connections_opened\":%llu,\"connections_closed\":%llu,\"slow_consumer_drops\":%llu,"
        "\"messages_received\":%llu,\"messages_malformed\":%llu,\"messages_oversize\":%llu,"
        "\"events_sent\":%llu,\"heartbeats_sent\":%llu,\"requests_rejected\":%llu,"
        "\"redis_reconnects\":%llu,\"bytes_sent\":%llu}}",
        br->cfg->bridge_id, SSE_BRIDGE_VERSION, rsub_is_up(&br->rsub) ? "up" : "down",
        br->draining ? "true" : "false", (unsigned long long)br->nstreams,
        (unsigned long long)s->connections_opened, (unsigned long long)s->connections_closed,
        (unsigned long long)s->slow_consumer_drops, (unsigned long long)s->messages_received,
        (unsigned long long)s->messages_malformed, (unsigned long long)s->messages_oversize,
        (unsigned long long)s->events_sent, (unsigned long long)s->heartbeats_sent,
        (unsigned long long)s->requests_rejected, (unsigned long long)br->rsub.reconnects,
        (unsigned long long)s->bytes_sent);
    conn_respond(c, 200, "application/json", body, (size_t)n, NULL, 0);
}

typedef struct stream_req_s {
    const char *names[ROUTE_CHANNELS_MAX];   /* requested channels, pointing into chans */
    size_t lens[ROUTE_CHANNELS_MAX];         /* their lengths */
    int n;                                   /* entries in names */
    char chans[ROUTE_QUERY_VAL_MAX + 1];     /* decoded channel list */
    size_t chans_len;                        /* bytes in chans */
    int has_chans;                           /* the channel list was in the query */
    char client_id[ROUTE_QUERY_VAL_MAX + 1]; /* decoded client id */
    size_t client_id_len;                    /* bytes in client_id */
    int has_client_id;                       /* client_id was in the query */
    char val[ROUTE_QUERY_VAL_MAX + 1];       /* scratch for each decoded value */
} stream_req_t;

/* Splits list (len bytes, modified in place) at commas into sr. Returns 0, or
 * -1 after answering the request. */
static int route_channels(conn_t *c, stream_req_t *sr, char *list, size_t len)
{
    const cfg_t *cfg = c->br->cfg;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && list[i] != ',')
            continue;
        const char *name = list + start;
        size_t nlen = i - start;
        start = i + 1;
        if (!chan_name_valid(name, nlen)) {
            route_reject(c, 400, "invalid_channel", "invalid channel name ", name, nlen,
                         ": 1 to 128 bytes of [A-Za-z0-9_.:-]");
            return -1;
        }
        if (!chanlist_allows(&cfg->channels, name, nlen) &&
            !chanlist_allows(&cfg->flask_channels, name, nlen)) {
            route_reject(c, 403, "channel_forbidden", "channel ", name, nlen, " is not allowed");
            return -1;
        }
        if (sr->n == cfg->max_channels_per_conn) {
            char text[96];
            snprintf(text, sizeof(text), "more than %d channels requested", cfg->max_channels_per_conn);
            conn_respond_error(c, 400, "too_many_channels", text);
            return -1;
        }
        sr->names[sr->n] = name;
        sr->lens[sr->n] = nlen;
        sr->n++;
    }
    return 0;
}

/* The default channel set: every concrete name of --channels. */
static void route_default_channels(conn_t *c, stream_req_t *sr)
{
    const chanlist_t *cl = &c->br->cfg->channels;
    for (size_t i = 0; i < cl->count && sr->n < c->br->cfg->max_channels_per_conn; i++) {
        if (cl->prefix[i])
            continue;
        sr->names[sr->n] = cl->names[i];
        sr->lens[sr->n] = cl->lens[i];
        sr->n++;
    }
}

/* /events?channels=a,b&client_id=X and the flask-sse alias /stream?channel=C.
 * Unknown query keys (cache busters, later features) are ignored. */
static void route_stream(conn_t *c, const char *query, size_t qlen, int flask_alias)
{
    static stream_req_t sr; /* one request at a time on this loop; too big for the stack */
    const char *chans_key = flask_alias ? "channel" : "channels";
    char key[256];
    size_t klen, vlen, pos = 0;
    int r;
    sr.n = sr.has_chans = sr.has_client_id = 0;
    while (query != NULL && (r = query_next(query, qlen, &pos, key, sizeof(key), &klen, sr.val,
                                            sizeof(sr.val), &vlen)) != 0) {
        if (r < 0) {
            conn_respond_error(c, 400, "invalid_query", "malformed query string");
            return;
        }
        if (strcmp(key, chans_key) == 0) {
            memcpy(sr.chans, sr.val, vlen + 1);
            sr.chans_len = vlen;
            sr.has_chans = 1;
        } else if (strcmp(key, "client_id") == 0) {
            memcpy(sr.client_id, sr.val, vlen + 1);
            sr.client_id_len = vlen;
            sr.has_client_id = 1;
        }
    }
    /* Client ids follow the channel-name rule: safe in logs, JSON and keys. */
    if (sr.has_client_id && !chan_name_valid(sr.client_id, sr.client_id_len)) {
        route_reject(c, 400, "invalid_client_id", "invalid client_id ", sr.client_id,
                     sr.client_id_len, ": 1 to 128 bytes of [A-Za-z0-9_.:-]");
        return;
    }
    if (flask_alias && !sr.has_chans) {
        memcpy(sr.chans, "sse", 4); /* flask-sse's default channel */
        sr.chans_len = 3;
        sr.has_chans = 1;
    }
    if (sr.has_chans) {
        if (route_channels(c, &sr, sr.chans, sr.chans_len) != 0)
            return;
    } else {
        route_default_channels(c, &sr);
    }
    if (stream_open(c, sr.names, sr.lens, sr.n, sr.has_client_id ? sr.client_id : NULL,
                    sr.client_id_len) != 0)
        conn_respond_error(c, 500, "internal", "out of memory");
}

void routes_dispatch(conn_t *c, int method, const char *url, size_t len)
{
    const char *path, *query;
    size_t plen, qlen;
    query_split_target(url, len, &path, &plen, &query, &qlen);
#define PATH_IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
    int events = PATH_IS("/events"), flask = PATH_IS("/stream"), healthz = PATH_IS("/healthz");
#undef PATH_IS
    if (!events && !flask && !healthz) {
        route_reject(c, 404, "not_found", "no route for ", path, plen, "");
        return;
    }
    if (method != HTTP_GET) {
        conn_respond_error(c, 405, "method_not_allowed", "only GET is allowed here");
        return;
    }
    if (healthz) {
        route_healthz(c);
        return;
    }
    if (c->br->draining) {
        conn_respond_error(c, 503, "draining", "the bridge is shutting down");
        return;
    }
    route_stream(c, query, qlen, flask);
}
