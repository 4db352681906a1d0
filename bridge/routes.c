/* HTTP routes: /events and /stream open SSE streams, /healthz reports
 * liveness and counters, /sse-client.js serves the browser client; anything
 * else is a JSON error. */
#include "routes.h"

#include <cjson/cJSON.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanlist.h"
#include "embed.h"
#include "jwt.h"
#include "metrics.h"
#include "query.h"
#include "stream.h"

#define ROUTE_QUERY_VAL_MAX HTTP_URL_LIMIT /* a decoded value is never longer than the URL */
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

/* Answers an error whose text quotes an untrusted value: before 'arg' after.
 * A 401 says how to authenticate (RFC 6750). */
static void route_reject(conn_t *c, int status, const char *code, const char *before,
                         const char *arg, size_t arglen, const char *after)
{
    char safe[72], text[256];
    snprintf(text, sizeof(text), "%s'%s'%s", before,
             route_sanitize(arg, arglen, safe, sizeof(safe)), after);
    conn_respond_error(c, status, code, text,
                       status == 401 ? "WWW-Authenticate: Bearer realm=\"sse-bridge\"\r\n" : NULL);
}

static void route_healthz(conn_t *c)
{
    bridge_t *br = c->br;
    const bridge_stats_t *s = &br->stats;
    char body[4096];
    int n = snprintf(
        body, sizeof(body),
        "{\"status\":\"ok\",\"bridge\":\"%s\",\"version\":\"%s\",\"redis\":\"%s\","
        "\"draining\":%s,\"connections\":%llu,\"counters\":{"
        "\"connections_opened\":%llu,\"connections_closed\":%llu,\"slow_consumer_drops\":%llu,"
        "\"messages_received\":%llu,\"messages_malformed\":%llu,\"messages_oversize\":%llu,"
        "\"events_sent\":%llu,\"heartbeats_sent\":%llu,\"requests_rejected\":%llu,"
        "\"redis_reconnects\":%llu,\"bytes_sent\":%llu,"
        "\"resumes\":%llu,\"resume_ignored\":%llu,\"replayed_events\":%llu,"
        "\"replay_duplicates\":%llu,\"replay_malformed\":%llu,\"replays_failed\":%llu,"
        "\"resets_sent\":%llu,\"catchups\":%llu,\"caught_up_events\":%llu,"
        "\"redis_probe_timeouts\":%llu,\"auth_failures\":%llu,\"tokens_expired\":%llu,"
        "\"rate_limited\":%llu},\"rejected_by_code\":{",
        br->cfg->bridge_id, SSE_BRIDGE_VERSION, rsub_is_up(&br->rsub) ? "up" : "down",
        br->draining ? "true" : "false", (unsigned long long)br->nstreams,
        (unsigned long long)s->connections_opened, (unsigned long long)s->connections_closed,
        (unsigned long long)s->slow_consumer_drops, (unsigned long long)s->messages_received,
        (unsigned long long)s->messages_malformed, (unsigned long long)s->messages_oversize,
        (unsigned long long)s->events_sent, (unsigned long long)s->heartbeats_sent,
        (unsigned long long)s->requests_rejected, (unsigned long long)br->rsub.reconnects,
        (unsigned long long)s->bytes_sent, (unsigned long long)s->resumes,
        (unsigned long long)s->resume_ignored, (unsigned long long)s->replayed_events,
        (unsigned long long)s->replay_duplicates, (unsigned long long)s->replay_malformed,
        (unsigned long long)s->replays_failed, (unsigned long long)s->resets_sent,
        (unsigned long long)s->catchups, (unsigned long long)s->caught_up_events,
        (unsigned long long)br->rsub.probe_timeouts, (unsigned long long)s->auth_failures,
        (unsigned long long)s->tokens_expired, (unsigned long long)s->rate_limited);
    /* Codes are our own static strings: no escaping needed. */
    for (int i = 0; i < BRIDGE_REJECT_CODES && br->rejects[i].code != NULL && n > 0 &&
                    (size_t)n < sizeof(body);
         i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s\"%s\":%llu", i ? "," : "",
                      br->rejects[i].code, (unsigned long long)br->rejects[i].n);
    if (n > 0 && (size_t)n < sizeof(body))
        n += snprintf(body + n, sizeof(body) - (size_t)n, "}}");
    if (n < 0 || (size_t)n >= sizeof(body)) {
        conn_respond_error(c, 500, "internal", "health report too long", NULL);
        return;
    }
    conn_respond(c, 200, "application/json", body, (size_t)n, NULL, 0);
}

/* /readyz: may a load balancer send new clients here? Not while draining,
 * nor while Redis delivery is lost (streams would get nothing). */
static void route_readyz(conn_t *c)
{
    bridge_t *br = c->br;
    const char *reason = br->draining ? "draining" : !rsub_is_up(&br->rsub) ? "redis_unavailable" : NULL;
    char body[160];
    int n;
    if (reason == NULL)
        n = snprintf(body, sizeof(body), "{\"status\":\"ready\",\"bridge\":\"%s\"}",
                     br->cfg->bridge_id);
    else
        n = snprintf(body, sizeof(body),
                     "{\"status\":\"not_ready\",\"reason\":\"%s\",\"bridge\":\"%s\"}", reason,
                     br->cfg->bridge_id);
    conn_respond(c, reason == NULL ? 200 : 503, "application/json", body, (size_t)n, NULL, 0);
}

static cJSON *json_obj(cJSON *parent, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(parent, name, o);
    return o;
}

/* /sse/health: this replica and the cluster, with the keys that existing
 * code (the integration guide's export_sse_metrics) reads. Cluster figures
 * come from the last lease renewal, at most a third of a lease old. */
static void route_health(conn_t *c)
{
    bridge_t *br = c->br;
    const cfg_t *cfg = br->cfg;
    const bridge_stats_t *s = &br->stats;
    const cluster_t *cl = &br->cluster;
    int redis_up = rsub_is_up(&br->rsub) && cluster_is_up(cl);
    const cluster_totals_t *t = &cl->totals;
    uint64_t errors = s->requests_rejected + s->messages_malformed + s->messages_oversize +
                      s->slow_consumer_drops;
    /* Without fresh cluster figures this replica's own stand in. */
    int fresh = t->at_ms != 0 && redis_up;
    uint64_t total = fresh ? t->connections : br->nstreams;
    uint64_t healthy = fresh ? health_cluster_healthy(&br->health, t->healthy, total)
                             : health_healthy(&br->health);
    uint64_t events = fresh ? t->events_sent : s->events_sent;
    uint64_t cerrors = fresh ? t->errors : errors;
    double error_rate = events + cerrors > 0 ? (double)cerrors / (double)(events + cerrors) : 0.0;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", br->draining ? "draining" : redis_up ? "ok" : "degraded");
    cJSON *b = json_obj(o, "bridge");
    cJSON_AddStringToObject(b, "id", cfg->bridge_id);
    cJSON_AddStringToObject(b, "version", SSE_BRIDGE_VERSION);
    cJSON_AddNumberToObject(b, "started_ms", (double)br->started_ms);
    cJSON_AddStringToObject(b, "redis", rsub_is_up(&br->rsub) ? "up" : "down");
    cJSON_AddStringToObject(b, "pool", cluster_is_up(cl) ? "up" : "degraded");
    cJSON_AddNumberToObject(b, "connections", (double)br->nstreams);
    cJSON_AddNumberToObject(b, "events_sent", (double)s->events_sent);
    cJSON_AddNumberToObject(b, "bytes_sent", (double)s->bytes_sent);
    cJSON_AddNumberToObject(b, "errors", (double)errors);
    cJSON_AddNumberToObject(b, "compression_savings_bytes", (double)bridge_bytes_saved(br));
    cJSON *cj = json_obj(o, "cluster");
    cJSON_AddNumberToObject(cj, "bridges", (double)(fresh ? t->bridges : 1));
    cJSON_AddNumberToObject(cj, "total_connections", (double)total);
    cJSON_AddNumberToObject(cj, "healthy_connections", (double)healthy);
    cJSON_AddNumberToObject(cj, "events_sent", (double)events);
    cJSON_AddNumberToObject(cj, "bytes_sent", (double)(fresh ? t->bytes_sent : s->bytes_sent));
    cJSON_AddNumberToObject(cj, "errors", (double)cerrors);
    cJSON_AddNumberToObject(cj, "age_ms", fresh ? (double)(bridge_now_ms() - t->at_ms) : 0);
    cJSON *pool = json_obj(o, "connection_pool");
    cJSON_AddNumberToObject(pool, "total_connections", (double)total);
    cJSON_AddNumberToObject(pool, "local_connections", (double)br->nstreams);
    cJSON_AddNumberToObject(pool, "max_connections", cfg->max_connections);
    cJSON_AddNumberToObject(pool, "max_connections_per_ip", cfg->max_connections_per_ip);
    cJSON *rej = json_obj(pool, "rejected");
    cJSON_AddNumberToObject(rej, "total_limit", (double)cl->rejected_total);
    cJSON_AddNumberToObject(rej, "ip_limit", (double)cl->rejected_ip);
    cJSON_AddNumberToObject(pool, "admitted_while_degraded", (double)cl->admitted_degraded);
    cJSON *cur = json_obj(json_obj(o, "health"), "current_metrics");
    cJSON_AddNumberToObject(cur, "healthy_connections", (double)healthy);
    cJSON_AddNumberToObject(cur, "error_rate", error_rate);
    cJSON *sys = json_obj(o, "system_metrics");
    cJSON_AddNumberToObject(sys, "compression_savings_bytes",
                            (double)(fresh ? t->bytes_saved : bridge_bytes_saved(br)));
    cJSON *gz = json_obj(sys, "compression");
    cJSON_AddBoolToObject(gz, "enabled", cfg->compression);
    cJSON_AddNumberToObject(gz, "threshold_bytes", (double)cfg->compression_threshold);
    cJSON_AddNumberToObject(gz, "segments_built", (double)s->gzip_segments);
    cJSON_AddNumberToObject(gz, "segments_compressed", (double)s->gzip_compressed);
    cJSON_AddNumberToObject(gz, "cpu_ms", (double)s->gzip_ns / 1e6);
    cJSON_AddNumberToObject(gz, "bytes_before", (double)s->gzip_bytes_in);
    cJSON_AddNumberToObject(gz, "bytes_after", (double)s->gzip_bytes_out);
    cJSON_AddNumberToObject(gz, "bytes_saved", (double)bridge_bytes_saved(br));
    /* Publish to write, in ms: the last health check's mean (or since the start). */
    cJSON_AddNumberToObject(o, "average_latency", health_average_latency_ms(&br->health));
    conn_respond_json(c, o);
}

/* Files served as they were embedded: the browser client, classic script
 * and ES module. */
typedef struct static_route_s {
    const char *path;  /* request path */
    const char *name;  /* embedded file (relative to bridge/) */
    const char *ctype; /* Content-Type */
    char etag[40];     /* strong ETag, quoted; computed on first use */
} static_route_t;

static static_route_t static_routes[] = {
    {"/sse-client.js", "static/sse-client.js", "text/javascript; charset=utf-8", ""},
    {"/sse-client.mjs", "static/sse-client.mjs", "text/javascript; charset=utf-8", ""},
};

/* Browsers may keep the client five minutes, then revalidate with the
 * ETag (a 304 costs a few bytes); a new bridge version changes the ETag. */
#define STATIC_CACHE_CONTROL "public, max-age=300"

static const static_route_t *route_static_find(const char *path, size_t plen)
{
    for (size_t i = 0; i < sizeof(static_routes) / sizeof(static_routes[0]); i++) {
        static_route_t *r = &static_routes[i];
        if (strlen(r->path) == plen && memcmp(r->path, path, plen) == 0) {
            const embed_file_t *f = embed_get(r->name);
            if (f == NULL)
                return NULL;
            if (r->etag[0] == '\0') {
                /* FNV-1a 64 of the bytes, and their length: changes with the file. */
                uint64_t h = 1469598103934665603ULL;
                for (size_t k = 0; k < f->len; k++)
                    h = (h ^ (unsigned char)f->data[k]) * 1099511628211ULL;
                snprintf(r->etag, sizeof(r->etag), "\"%016llx-%zx\"", (unsigned long long)h, f->len);
            }
            return r;
        }
    }
    return NULL;
}

/* 1 when an If-None-Match list (inm, len bytes) names etag or is "*";
 * weak validators (W/"...") compare by their opaque part, as RFC 9110
 * asks for If-None-Match. */
static int route_etag_matches(const char *inm, size_t len, const char *etag)
{
    size_t elen = strlen(etag), i = 0;
    while (i < len) {
        while (i < len && (inm[i] == ' ' || inm[i] == '\t' || inm[i] == ','))
            i++;
        size_t start = i;
        while (i < len && inm[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (inm[end - 1] == ' ' || inm[end - 1] == '\t'))
            end--;
        if (end - start >= 2 && inm[start] == 'W' && inm[start + 1] == '/')
            start += 2;
        if ((end - start == 1 && inm[start] == '*') ||
            (end - start == elen && memcmp(inm + start, etag, elen) == 0))
            return 1;
    }
    return 0;
}

/* GET or HEAD of an embedded file: 200 with the body (HEAD: without), or
 * 304 when the client's copy is current. */
static void route_static(conn_t *c, const static_route_t *r, int head, const http_headers_t *h)
{
    const embed_file_t *f = embed_get(r->name);
    int not_modified = h->inm != NULL && route_etag_matches(h->inm, h->inm_len, r->etag);
    int close = !c->keep_alive;
    char hdr[512];
    int n;
    if (not_modified)
        n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 304 Not Modified\r\nETag: %s\r\nCache-Control: " STATIC_CACHE_CONTROL
                     "\r\n%s\r\n",
                     r->etag, close ? "Connection: close\r\n" : "");
    else
        n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nETag: %s\r\n"
                     "Cache-Control: " STATIC_CACHE_CONTROL "\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     /* module scripts from another origin need CORS; the file is public */
                     "Access-Control-Allow-Origin: *\r\n%s\r\n",
                     r->ctype, f->len, r->etag, close ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(hdr)) {
        conn_close(c, "response header too long");
        return;
    }
    size_t body = not_modified || head ? 0 : f->len;
    msg_t *m = msg_alloc((size_t)n + body);
    if (m == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    memcpy(m->data, hdr, (size_t)n);
    if (body > 0)
        memcpy(m->data + n, f->data, body);
    conn_send(c, m);
    msg_unref(m);
    if (close)
        conn_finish(c);
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
    int no_compression;                      /* compression=none was in the query */
    char cursor[ROUTE_QUERY_VAL_MAX + 1];    /* decoded last_event_id */
    size_t cursor_len;                       /* bytes in cursor */
    int has_cursor;                          /* last_event_id was in the query */
    char token[ROUTE_QUERY_VAL_MAX + 1];     /* decoded token */
    size_t token_len;                        /* bytes in token */
    int has_token;                           /* token was in the query */
    int64_t token_exp;                       /* the verified token's expiry; 0 = none */
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
            conn_respond_error(c, 400, "too_many_channels", text, NULL);
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

/* With --auth-secret: the token (Authorization: Bearer, else token=) must
 * be valid and grant every channel that is not public; its sub becomes the
 * client id (a client_id in the query must equal it), and without a token
 * no client id can be claimed. Returns 0, or -1 after answering. */
static int route_auth(conn_t *c, stream_req_t *sr)
{
    bridge_t *br = c->br;
    const cfg_t *cfg = br->cfg;
    const char *tok = NULL;
    size_t tlen = 0;
    int b = conn_bearer(c, &tok, &tlen);
    if (b == -2) {
        char text[96];
        br->stats.auth_failures++;
        snprintf(text, sizeof(text), "invalid token: token longer than %d bytes", cfg->max_token_bytes);
        conn_respond_error(c, 401, "token_too_large", text,
                           "WWW-Authenticate: Bearer realm=\"sse-bridge\", error=\"invalid_token\"\r\n");
        return -1;
    }
    if (b < 0) {
        br->stats.auth_failures++;
        conn_respond_error(c, 401, "token_malformed",
                           "the Authorization header must be 'Bearer <token>'",
                           "WWW-Authenticate: Bearer realm=\"sse-bridge\", error=\"invalid_request\"\r\n");
        return -1;
    }
    if (b == 0 && sr->has_token) {
        tok = sr->token;
        tlen = sr->token_len;
    }
    jwt_claims_t claims;
    int has = tok != NULL;
    if (has) {
        char err[160], text[224];
        jwt_result_t r = (size_t)cfg->max_token_bytes < tlen
                             ? JWT_TOO_LARGE
                             : jwt_verify(tok, tlen, cfg->auth_secret, cfg->auth_secret_len,
                                          (int64_t)(bridge_now_ms() / 1000), cfg->token_skew,
                                          &claims, err, sizeof(err));
        if (r == JWT_TOO_LARGE)
            snprintf(err, sizeof(err), "token longer than %d bytes", cfg->max_token_bytes);
        if (r != JWT_OK) {
            br->stats.auth_failures++;
            snprintf(text, sizeof(text), "invalid token: %s", err);
            conn_respond_error(c, 401, jwt_code(r), text,
                               "WWW-Authenticate: Bearer realm=\"sse-bridge\", error=\"invalid_token\"\r\n");
            return -1;
        }
    }
    int status = 0;
    const char *name = NULL;
    size_t nlen = 0;
    for (int i = 0; i < sr->n && status == 0; i++) {
        if (chanlist_allows(&cfg->public_channels, sr->names[i], sr->lens[i]))
            continue;
        if (!has || !chanlist_allows(&claims.channels, sr->names[i], sr->lens[i])) {
            status = has ? 403 : 401;
            name = sr->names[i];
            nlen = sr->lens[i];
        }
    }
    if (status != 0) {
        br->stats.auth_failures++;
        if (has)
            route_reject(c, 403, "channel_forbidden", "the token does not grant channel ", name,
                         nlen, "");
        else
            route_reject(c, 401, "token_required", "channel ", name, nlen, " needs a token");
    } else if (has && sr->has_client_id &&
               (sr->client_id_len != claims.sub_len ||
                memcmp(sr->client_id, claims.sub, claims.sub_len) != 0)) {
        br->stats.auth_failures++;
        route_reject(c, 403, "client_id_mismatch", "client_id ", sr->client_id, sr->client_id_len,
                     " is not the token's subject");
        status = 403;
    } else if (!has && sr->has_client_id) {
        br->stats.auth_failures++;
        route_reject(c, 401, "token_required", "client_id ", sr->client_id, sr->client_id_len,
                     " needs a token that proves it");
        status = 401;
    } else if (has) {
        memcpy(sr->client_id, claims.sub, claims.sub_len + 1);
        sr->client_id_len = claims.sub_len;
        sr->has_client_id = 1;
        sr->token_exp = claims.exp;
    }
    if (has)
        jwt_claims_free(&claims);
    return status == 0 ? 0 : -1;
}

static stream_req_t route_sr; /* one request at a time on this loop; too big for the stack */
static int route_dispatching;  /* 1 while routes_dispatch runs (inside llhttp) */

/* Reads and checks /events?channels=a,b&client_id=X or the flask-sse alias
 * /stream?channel=C into route_sr. Unknown query keys (cache busters, later
 * features) are ignored. Returns 0, or -1 after answering the request. */
static int route_stream_parse(conn_t *c, const char *query, size_t qlen, int flask_alias)
{
    stream_req_t *sr = &route_sr;
    const char *chans_key = flask_alias ? "channel" : "channels";
    char key[256];
    size_t klen, vlen, pos = 0;
    int r;
    sr->n = sr->has_chans = sr->has_client_id = sr->no_compression = sr->has_cursor = 0;
    sr->has_token = 0;
    sr->token_exp = 0;
    while (query != NULL && (r = query_next(query, qlen, &pos, key, sizeof(key), &klen, sr->val,
                                            sizeof(sr->val), &vlen)) != 0) {
        if (r < 0) {
            conn_respond_error(c, 400, "invalid_query", "malformed query string", NULL);
            return -1;
        }
        if (strcmp(key, chans_key) == 0) {
            memcpy(sr->chans, sr->val, vlen + 1);
            sr->chans_len = vlen;
            sr->has_chans = 1;
        } else if (strcmp(key, "client_id") == 0) {
            memcpy(sr->client_id, sr->val, vlen + 1);
            sr->client_id_len = vlen;
            sr->has_client_id = 1;
        } else if (strcmp(key, "token") == 0) {
            memcpy(sr->token, sr->val, vlen + 1);
            sr->token_len = vlen;
            sr->has_token = 1;
        } else if (strcmp(key, "last_event_id") == 0) {
            memcpy(sr->cursor, sr->val, vlen + 1);
            sr->cursor_len = vlen;
            sr->has_cursor = 1;
        } else if (strcmp(key, "compression") == 0) {
            if (strcmp(sr->val, "none") != 0 && strcmp(sr->val, "gzip") != 0) {
                route_reject(c, 400, "invalid_query", "compression must be none or gzip, not ",
                             sr->val, vlen, "");
                return -1;
            }
            sr->no_compression = strcmp(sr->val, "none") == 0;
        }
    }
    /* Client ids follow the channel-name rule: safe in logs, JSON and keys. */
    if (sr->has_client_id && !chan_name_valid(sr->client_id, sr->client_id_len)) {
        route_reject(c, 400, "invalid_client_id", "invalid client_id ", sr->client_id,
                     sr->client_id_len, ": 1 to 128 bytes of [A-Za-z0-9_.:-]");
        return -1;
    }
    if (flask_alias && !sr->has_chans) {
        memcpy(sr->chans, "sse", 4); /* flask-sse's default channel */
        sr->chans_len = 3;
        sr->has_chans = 1;
    }
    if (sr->has_chans) {
        if (route_channels(c, sr, sr->chans, sr->chans_len) != 0)
            return -1;
    } else {
        route_default_channels(c, sr);
    }
    return c->br->cfg->auth_secret_len > 0 ? route_auth(c, sr) : 0;
}

/* Over a limit: 429 with Retry-After, or (--limit-response retry) a 200
 * stream that says when to come back and ends, because a plain EventSource
 * gives up for good on any other status. */
static void route_over_limit(conn_t *c, cluster_verdict_t v)
{
    bridge_t *br = c->br;
    int ip = v == CLUSTER_OVER_IP;
    const char *code = ip ? "too_many_connections_per_ip" : "too_many_connections";
    const char *text = ip ? "Maximum connections per IP reached" : "Maximum connections reached";
    uint32_t retry_ms = jitter_ms(&br->rng, (uint32_t)br->cfg->retry_ms);
    if (!br->cfg->limit_response_retry) {
        char extra[48];
        snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", (retry_ms + 999) / 1000);
        conn_respond_error(c, 429, code, text, extra);
        return;
    }
    /* The retry is in the data too: EventSource keeps the retry field to
     * itself, and EnhancedSSEClient waits at least that long. */
    char data[192];
    int n = snprintf(data, sizeof(data), "{\"error\":\"%s\",\"code\":\"%s\",\"retry\":%u}", text,
                     code, retry_ms);
    bridge_count_reject(br, code);
    stream_refuse(c, retry_ms, data, (size_t)n);
}

/* The pool's answer for a parked request. */
static void route_admitted(conn_t *c, cluster_verdict_t v)
{
    if (v != CLUSTER_ADMITTED) {
        free(c->query);
        c->query = NULL;
        c->gzip = 0; /* answered in plain bytes */
        route_over_limit(c, v);
        return;
    }
    /* The request was checked before parking: reading it again succeeds. */
    stream_req_t *sr = &route_sr;
    if (route_stream_parse(c, c->query, c->query_len, c->flask_alias) == 0 &&
        stream_open(c, sr->names, sr->lens, sr->n, sr->has_client_id ? sr->client_id : NULL,
                    sr->client_id_len, c->cursor, c->cursor_len) != 0)
        conn_respond_error(c, 500, "internal", "out of memory", NULL);
    if (c->state != CONN_STREAM) {
        cluster_release(&c->br->cluster, c);
        return;
    }
    c->token_exp = sr->token_exp;
    bridge_watch_token(c->br, sr->token_exp);
    if (route_dispatching) {
        /* Inside llhttp: the reader frees the parser once it returns. */
        free(c->query);
        c->query = NULL;
        free(c->cursor);
        c->cursor = NULL;
        c->parked = 0;
    } else {
        conn_request_done(c);
    }
}

/* A checked stream request waits for a slot in the cluster pool. */
static void route_stream(conn_t *c, const char *query, size_t qlen, int flask_alias,
                         const http_headers_t *h)
{
    if (route_stream_parse(c, query, qlen, flask_alias) != 0)
        return;
    char peer[CLIENTIP_MAX], ip[CLIENTIP_MAX];
    conn_peer_ip(c, peer);
    clientip_resolve(peer, h->xff, h->xff_len, &c->br->cfg->trusted_proxies, ip);
    uint32_t wait_ms;
    if (!rl_take(&c->br->ratelimit, ip, uv_now(c->br->loop), &wait_ms)) {
        char extra[48];
        c->br->stats.rate_limited++;
        snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", (wait_ms + 999) / 1000);
        conn_respond_error(c, 429, "rate_limited", "too many new streams from this address", extra);
        return;
    }
    c->query = malloc(qlen + 1);
    if (c->query == NULL) {
        conn_respond_error(c, 500, "internal", "out of memory", NULL);
        return;
    }
    if (qlen > 0)
        memcpy(c->query, query, qlen);
    c->query[qlen] = '\0';
    c->query_len = qlen;
    /* The resume cursor: the Last-Event-ID header (what a browser sends on
     * its own reconnects) wins over the query's last_event_id (what a page
     * put in the URL, maybe long ago). */
    const char *cur = h->leid != NULL ? h->leid : route_sr.has_cursor ? route_sr.cursor : NULL;
    size_t cur_len = h->leid != NULL ? h->leid_len : route_sr.cursor_len;
    if (cur != NULL) {
        c->cursor = malloc(cur_len + 1);
        if (c->cursor == NULL) {
            conn_respond_error(c, 500, "internal", "out of memory", NULL);
            return;
        }
        memcpy(c->cursor, cur, cur_len);
        c->cursor[cur_len] = '\0';
        c->cursor_len = cur_len;
    }
    c->flask_alias = (uint8_t)flask_alias;
    c->gzip = (uint8_t)(c->br->cfg->compression && !route_sr.no_compression &&
                        gzs_accepts(h->ae, h->ae_len));
    conn_park(c);
    cluster_admit(&c->br->cluster, c, ip, route_admitted);
}

/* 1 when --cors-origins is set and the request's Origin is not allowed
 * (after answering 403). Requests without an Origin (same-origin pages,
 * curl, services) pass. */
static int route_origin_refused(conn_t *c)
{
    const cfg_t *cfg = c->br->cfg;
    const char *origin;
    size_t len;
    if (!cfg->cors_any && cfg->cors_origins[0] == '\0')
        return 0;
    int r = conn_origin(c, &origin, &len);
    if (r == 0 || (r == 1 && cfg_cors_allows(cfg, origin, len)))
        return 0;
    conn_respond_error(c, 403, "origin_forbidden", "this origin may not use the bridge", NULL);
    return 1;
}

/* An OPTIONS preflight (with --cors-origins set): allowed origins may GET
 * with these headers. */
static void route_preflight(conn_t *c)
{
    const char *origin;
    size_t len;
    if (conn_origin(c, &origin, &len) == 0) {
        conn_respond_error(c, 400, "bad_preflight", "a preflight needs an Origin header", NULL);
        return;
    }
    if (route_origin_refused(c))
        return;
    conn_respond(c, 200, "text/plain", "", 0,
                 "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: Authorization, Last-Event-ID, Cache-Control, Accept\r\n"
                 "Access-Control-Max-Age: 600\r\n",
                 0);
}

static void routes_dispatch_path(conn_t *c, int method, const char *url, size_t len,
                                 const http_headers_t *h)
{
    const char *path, *query;
    size_t plen, qlen;
    query_split_target(url, len, &path, &plen, &query, &qlen);
    if (method == HTTP_OPTIONS && (c->br->cfg->cors_any || c->br->cfg->cors_origins[0] != '\0')) {
        route_preflight(c);
        return;
    }
    const static_route_t *st = route_static_find(path, plen);
    if (st != NULL) {
        if (method != HTTP_GET && method != HTTP_HEAD)
            conn_respond_error(c, 405, "method_not_allowed", "only GET and HEAD are allowed here",
                               "Allow: GET, HEAD\r\n");
        else
            route_static(c, st, method == HTTP_HEAD, h);
        return;
    }
    if (metrics_route(c, method, path, plen))
        return;
#define PATH_IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
    int events = PATH_IS("/events"), flask = PATH_IS("/stream"), healthz = PATH_IS("/healthz");
    int health = PATH_IS("/sse/health"), readyz = PATH_IS("/readyz");
#undef PATH_IS
    if (!events && !flask && !healthz && !health && !readyz) {
        route_reject(c, 404, "not_found", "no route for ", path, plen, "");
        return;
    }
    if (method != HTTP_GET) {
        conn_respond_error(c, 405, "method_not_allowed", "only GET is allowed here", NULL);
        return;
    }
    if (healthz) {
        route_healthz(c);
        return;
    }
    if (health) {
        route_health(c);
        return;
    }
    if (readyz) {
        route_readyz(c);
        return;
    }
    if (c->br->draining) {
        conn_respond_error(c, 503, "draining", "the bridge is shutting down", NULL);
        return;
    }
    if (route_origin_refused(c))
        return;
    route_stream(c, query, qlen, flask, h);
}

void routes_dispatch(conn_t *c, int method, const char *url, size_t len, const http_headers_t *h)
{
    route_dispatching = 1;
    routes_dispatch_path(c, method, url, len, h);
    route_dispatching = 0;
}
