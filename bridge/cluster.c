/* The cluster pool. Every decision that must hold across replicas is one
 * Lua script (bridge/lua/, embedded at build time) run atomically by Redis,
 * with Redis's own clock: admit checks and counts, release gives back,
 * renew extends the lease, re-asserts our live counts when the lease was
 * lost (partition, Redis restarted empty) and returns the cluster's figures.
 * Whoever runs a script first reaps replicas whose lease expired.
 *
 * Pending admissions are records that outlive their connection: a client
 * that leaves while Redis is deciding leaves the record behind, and a slot
 * granted to it is given back at once. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "conn.h"
#include "embed.h"
#include "log.h"

enum { SCRIPT_ADMIT = 0, SCRIPT_RELEASE, SCRIPT_RENEW };
static const char *const script_names[] = {"lua/admit.lua", "lua/release.lua", "lua/renew.lua"};

#define CLUSTER_KEY_MAX (CFG_PREFIX_MAX + CFG_ID_MAX + 16)
#define CLUSTER_ADMIT_TRIES 2 /* "unregistered" -> renew -> admit again, once */

typedef struct admission_s {
    cluster_t *cl;          /* the pool */
    conn_t *c;              /* the waiting connection; NULL once it closed */
    cluster_admit_cb cb;    /* its answer */
    char ip[CLIENTIP_MAX];  /* the client address being admitted */
    int tries;              /* admit calls sent */
} admission_t;

/* The script text sent with EVAL: reap.lua's prelude, then the script. */
static char *script_text[3];
static size_t script_len[3];

static int cluster_scripts_build(void)
{
    const embed_file_t *reap = embed_get("lua/reap.lua");
    for (int i = 0; i < 3; i++) {
        if (script_text[i] != NULL)
            continue;
        const embed_file_t *f = embed_get(script_names[i]);
        if (reap == NULL || f == NULL)
            return -1;
        script_len[i] = reap->len + 1 + f->len;
        script_text[i] = malloc(script_len[i] + 1);
        if (script_text[i] == NULL)
            return -1;
        memcpy(script_text[i], reap->data, reap->len);
        script_text[i][reap->len] = '\n';
        memcpy(script_text[i] + reap->len + 1, f->data, f->len + 1);
    }
    return 0;
}

/* --- running scripts -------------------------------------------------------- */

typedef struct call_s {
    cluster_t *cl;          /* the pool */
    int script;             /* SCRIPT_* */
    redisCallbackFn *fn;    /* the caller's reply handler */
    void *privdata;         /* its argument */
    int argc;               /* words in argv */
    char **argv;            /* owned copies, argv[0] is the verb's slot */
    size_t *lens;           /* their lengths */
} call_t;

static void call_free(call_t *k)
{
    for (int i = 0; i < k->argc; i++)
        free(k->argv[i]);
    free(k->argv);
    free(k->lens);
    free(k);
}

static int call_send(call_t *k, int by_text);

/* EVALSHA answered NOSCRIPT (Redis restarted, SCRIPT FLUSH): the same call
 * goes again with the script's text, which also caches it again. */
static void call_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    call_t *k = privdata;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        if (call_send(k, 1) == 0)
            return;
        reply = NULL;
    }
    k->fn(ac, reply, k->privdata);
    call_free(k);
}

static int call_send(call_t *k, int by_text)
{
    cluster_t *cl = k->cl;
    const char *verb = by_text || cl->sha[k->script][0] == '\0' ? "EVAL" : "EVALSHA";
    const char *body = verb[4] == '\0' ? script_text[k->script] : cl->sha[k->script];
    size_t blen = verb[4] == '\0' ? script_len[k->script] : 40;
    const char **argv = malloc((size_t)(k->argc + 2) * sizeof(*argv));
    size_t *lens = malloc((size_t)(k->argc + 2) * sizeof(*lens));
    int r = -1;
    if (argv != NULL && lens != NULL) {
        argv[0] = verb;
        lens[0] = strlen(verb);
        argv[1] = body;
        lens[1] = blen;
        for (int i = 0; i < k->argc; i++) {
            argv[i + 2] = k->argv[i];
            lens[i + 2] = k->lens[i];
        }
        r = rlink_command(&cl->link, call_reply, k, k->argc + 2, argv, lens);
    }
    free(argv);
    free(lens);
    return r;
}

/* Runs script with numkeys keys then args (argc words of NUL-terminated
 * text, copied). fn gets the reply, or NULL when Redis cannot be reached
 * (also when the call could not be queued: then fn runs before this
 * returns). */
static void cluster_call(cluster_t *cl, int script, redisCallbackFn *fn, void *privdata, int argc,
                         const char *const *argv)
{
    call_t *k = calloc(1, sizeof(*k));
    if (k != NULL) {
        k->argv = calloc((size_t)argc, sizeof(*k->argv));
        k->lens = calloc((size_t)argc, sizeof(*k->lens));
    }
    if (k == NULL || k->argv == NULL || k->lens == NULL)
        goto fail;
    k->cl = cl;
    k->script = script;
    k->fn = fn;
    k->privdata = privdata;
    for (int i = 0; i < argc; i++) {
        k->lens[i] = strlen(argv[i]);
        k->argv[i] = malloc(k->lens[i] + 1);
        if (k->argv[i] == NULL)
            goto fail;
        memcpy(k->argv[i], argv[i], k->lens[i] + 1);
        k->argc = i + 1;
    }
    if (call_send(k, 0) == 0)
        return;
fail:
    if (k != NULL) {
        if (k->argv != NULL)
            call_free(k);
        else
            free(k);
    }
    fn(cl->link.ac, NULL, privdata);
}

static void cluster_key(char *out, const cluster_t *cl, const char *what, const char *id)
{
    snprintf(out, CLUSTER_KEY_MAX, "%s%s%s", cl->br->cfg->redis_prefix, what, id ? id : "");
}

/* --- renewal ------------------------------------------------------------------ */

static uint64_t reply_u64(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer > 0 ? (uint64_t)r->integer : 0;
    if (r->type == REDIS_REPLY_STRING)
        return strtoull(r->str, NULL, 10);
    return 0;
}

static void cluster_renew_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    cluster_t *cl = privdata;
    redisReply *reply = r;
    (void)ac;
    cl->renew_inflight = 0;
    if (reply == NULL || cl->stopping)
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 4 ||
        reply->element[3]->type != REDIS_REPLY_ARRAY) {
        log_error("cluster: lease renewal failed: %s",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        return;
    }
    rlink_healthy(&cl->link);
    if (reply_u64(reply->element[0]) == 1)
        log_info("cluster: re-asserted %llu live connections",
                 (unsigned long long)cl->admitted);
    cluster_totals_t t = {0};
    t.bridges = reply_u64(reply->element[1]);
    t.connections = reply_u64(reply->element[2]);
    redisReply *sums = reply->element[3];
    for (size_t i = 0; i + 1 < sums->elements; i += 2) {
        const char *f = sums->element[i]->str;
        uint64_t v = reply_u64(sums->element[i + 1]);
        if (f == NULL)
            continue;
        if (strcmp(f, "healthy") == 0)
            t.healthy = v;
        else if (strcmp(f, "events_sent") == 0)
            t.events_sent = v;
        else if (strcmp(f, "bytes_sent") == 0)
            t.bytes_sent = v;
        else if (strcmp(f, "bytes_saved") == 0)
            t.bytes_saved = v;
        else if (strcmp(f, "errors") == 0)
            t.errors = v;
    }
    t.at_ms = bridge_now_ms();
    cl->totals = t;
}

typedef struct renew_args_s {
    const char **argv; /* words, pointing into bufs or hub names */
    int argc;          /* words used */
    int cap;           /* words argv holds */
    char (*bufs)[24];  /* numbers printed */
    int nbufs;         /* numbers used */
} renew_args_t;

static const char *renew_num(renew_args_t *a, uint64_t v)
{
    snprintf(a->bufs[a->nbufs], sizeof(a->bufs[0]), "%llu", (unsigned long long)v);
    return a->bufs[a->nbufs++];
}

static void renew_ip(hub_chan_t *chan, void *arg)
{
    renew_args_t *a = arg;
    if (chan->nsubs == 0 || a->argc + 2 > a->cap)
        return;
    a->argv[a->argc++] = chan->name;
    a->argv[a->argc++] = renew_num(a, chan->nsubs);
}

/* Extends our lease with our counters (a 1 ms lease ends it at shutdown). */
static void cluster_renew(cluster_t *cl, int lease_ms)
{
    bridge_t *br = cl->br;
    if (cl->renew_inflight || cl->link.state != RLINK_UP)
        return;
    /* numkeys, 5 keys, then id, lease, prefix, force, nstats: 11 words,
     * then the counters and the live (ip, count) pairs. */
    enum { NSTATS = 10, FIXED = 11 };
    size_t nips = cl->ips.nchans;
    int cap = FIXED + 2 * NSTATS + 2 * (int)nips;
    renew_args_t a = {.cap = cap};
    a.argv = malloc((size_t)cap * sizeof(*a.argv));
    a.bufs = malloc((size_t)(NSTATS + nips + 4) * sizeof(*a.bufs));
    char keys[5][CLUSTER_KEY_MAX];
    if (a.argv == NULL || a.bufs == NULL) {
        free(a.argv);
        free(a.bufs);
        return;
    }
    const char *id = br->cfg->bridge_id;
    cluster_key(keys[0], cl, "bridges", NULL);
    cluster_key(keys[1], cl, "total", NULL);
    cluster_key(keys[2], cl, "ips", NULL);
    cluster_key(keys[3], cl, "held:", id);
    cluster_key(keys[4], cl, "stats:", id);
    a.argv[a.argc++] = "5";
    for (int i = 0; i < 5; i++)
        a.argv[a.argc++] = keys[i];
    a.argv[a.argc++] = id;
    a.argv[a.argc++] = renew_num(&a, (uint64_t)lease_ms);
    a.argv[a.argc++] = br->cfg->redis_prefix;
    a.argv[a.argc++] = cl->force_reassert ? "1" : "0";
    a.argv[a.argc++] = renew_num(&a, NSTATS);
    const bridge_stats_t *s = &br->stats;
    a.argv[a.argc++] = "connections";
    a.argv[a.argc++] = renew_num(&a, br->nstreams);
    a.argv[a.argc++] = "healthy";
    a.argv[a.argc++] = renew_num(&a, health_mirror_healthy(&br->health));
    a.argv[a.argc++] = "events_sent";
    a.argv[a.argc++] = renew_num(&a, s->events_sent);
    a.argv[a.argc++] = "bytes_sent";
    a.argv[a.argc++] = renew_num(&a, s->bytes_sent);
    a.argv[a.argc++] = "bytes_saved";
    a.argv[a.argc++] = renew_num(&a, bridge_bytes_saved(br));
    a.argv[a.argc++] = "errors";
    a.argv[a.argc++] = renew_num(&a, s->requests_rejected + s->messages_malformed +
                                          s->messages_oversize + s->slow_consumer_drops);
    a.argv[a.argc++] = "started_ms";
    a.argv[a.argc++] = renew_num(&a, br->started_ms);
    a.argv[a.argc++] = "redis";
    a.argv[a.argc++] = rsub_is_up(&br->rsub) ? "up" : "down";
    a.argv[a.argc++] = "version";
    a.argv[a.argc++] = SSE_BRIDGE_VERSION;
    /* For the dashboard's per-bridge view; not an integer while unknown, so
     * the script does not sum it. */
    const health_sample_t *hs = health_last(&br->health);
    a.argv[a.argc++] = "latency_p99_us";
    a.argv[a.argc++] = hs != NULL && hs->latency_p99_ms >= 0
                           ? renew_num(&a, (uint64_t)(hs->latency_p99_ms * 1000))
                           : "none";
    hub_foreach(&cl->ips, renew_ip, &a);
    cl->renew_inflight = 1;
    cl->force_reassert = 0;
    cluster_call(cl, SCRIPT_RENEW, cluster_renew_reply, cl, a.argc, a.argv);
    free(a.argv);
    free(a.bufs);
}

static void cluster_renew_cb(uv_timer_t *t)
{
    cluster_t *cl = t->data;
    cluster_renew(cl, cl->br->cfg->lease_ms);
}

/* --- the command link ---------------------------------------------------------- */

static void cluster_script_loaded(redisAsyncContext *ac, void *r, void *privdata)
{
    cluster_t *cl = ((rlink_t *)ac->data)->data;
    redisReply *reply = r;
    intptr_t i = (intptr_t)privdata;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy(cl->sha[i], reply->str, 41);
    else if (reply != NULL)
        log_error("cluster: SCRIPT LOAD %s failed: %s", script_names[i],
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
}

static void cluster_link_up(rlink_t *link)
{
    cluster_t *cl = link->data;
    for (intptr_t i = 0; i < 3; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", script_text[i]};
        size_t lens[3] = {6, 4, script_len[i]};
        rlink_command(link, cluster_script_loaded, (void *)i, 3, argv, lens);
    }
    /* Counts decided while Redis was away, or a lease lost meanwhile: the
     * first renewal re-asserts what we hold. */
    cl->force_reassert = 1;
    cl->renew_inflight = 0;
    cluster_renew(cl, cl->br->cfg->lease_ms);
    log_info("cluster: pool connected at %s:%d", link->addr->host, link->addr->port);
}

static void cluster_link_down(rlink_t *link)
{
    cluster_t *cl = link->data;
    memset(cl->sha, 0, sizeof(cl->sha));
    log_warn("cluster: pool lost its Redis link; admitting the local share of the limits");
}

void cluster_init(cluster_t *cl, bridge_t *br)
{
    memset(cl, 0, sizeof(*cl));
    cl->br = br;
    hub_init(&cl->ips);
    rlink_init(&cl->link, br->loop, br->cfg, &br->redis_addr, "pool", cluster_link_up, cluster_link_down, cl);
    uv_timer_init(br->loop, &cl->renew);
    cl->renew.data = cl;
}

void cluster_start(cluster_t *cl)
{
    if (cluster_scripts_build() != 0)
        log_error("cluster: the pool's scripts are missing from the binary");
    uint64_t every = (uint64_t)cl->br->cfg->lease_ms / 3;
    uv_timer_start(&cl->renew, cluster_renew_cb, every, every);
    rlink_start(&cl->link);
}

int cluster_is_up(const cluster_t *cl)
{
    return cl->link.state == RLINK_UP;
}

/* --- admission ------------------------------------------------------------------ */

static void cluster_hold(cluster_t *cl, conn_t *c, const char *ip, int mode)
{
    if (hub_join(&cl->ips, &c->ipsub, ip, strlen(ip), NULL) < 0)
        log_error("cluster: out of memory counting %s", ip);
    c->admit_mode = (uint8_t)mode;
    cl->admitted++;
}

/* Without Redis: the caps divided by the replicas last seen (at least 1). */
static cluster_verdict_t cluster_local_verdict(cluster_t *cl, const char *ip)
{
    const cfg_t *cfg = cl->br->cfg;
    uint64_t n = cl->totals.bridges > 0 ? cl->totals.bridges : 1;
    uint64_t share_total = (uint64_t)cfg->max_connections / n;
    uint64_t share_ip = (uint64_t)cfg->max_connections_per_ip / n;
    if (share_total == 0)
        share_total = 1;
    if (share_ip == 0)
        share_ip = 1;
    hub_chan_t *h = hub_find(&cl->ips, ip, strlen(ip));
    if (cl->admitted + cl->pending >= share_total)
        return CLUSTER_OVER_TOTAL;
    if (h != NULL && h->nsubs >= share_ip)
        return CLUSTER_OVER_IP;
    return CLUSTER_ADMITTED;
}

static void cluster_decide_locally(cluster_t *cl, conn_t *c, const char *ip, cluster_admit_cb cb)
{
    cluster_verdict_t v = cluster_local_verdict(cl, ip);
    if (v == CLUSTER_ADMITTED) {
        cluster_hold(cl, c, ip, ADMIT_LOCAL);
        cl->admitted_degraded++;
    } else if (v == CLUSTER_OVER_TOTAL) {
        cl->rejected_total++;
    } else {
        cl->rejected_ip++;
    }
    cb(c, v);
}

static void cluster_send_admit(admission_t *a);

static void cluster_release_ip(cluster_t *cl, const char *ip);

static void cluster_admit_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    admission_t *a = privdata;
    cluster_t *cl = a->cl;
    redisReply *reply = r;
    (void)ac;
    long long code = -2;
    const char *reason = "";
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
        code = reply->element[0]->integer;
        if (reply->element[3]->type == REDIS_REPLY_STRING)
            reason = reply->element[3]->str;
        if (code >= 0)
            cl->totals.connections = reply_u64(reply->element[1]); /* fresher than the renewal's */
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        log_error("cluster: admission script failed: %s", reply->str);
    }
    if (code == -1 && a->tries < CLUSTER_ADMIT_TRIES && !cl->stopping) {
        /* Our lease is gone (Redis flushed, or we were reaped): re-assert,
         * then ask again; both go in order on the one link. */
        cl->force_reassert = 1;
        cl->renew_inflight = 0;
        cluster_renew(cl, cl->br->cfg->lease_ms);
        cluster_send_admit(a);
        return;
    }
    cl->pending--;
    conn_t *c = a->c;
    if (c == NULL) {
        if (code == 1)
            cluster_release_ip(cl, a->ip); /* the client left meanwhile */
    } else {
        c->admission = NULL;
        if (code == 1) {
            cluster_hold(cl, c, a->ip, ADMIT_REDIS);
            a->cb(c, CLUSTER_ADMITTED);
        } else if (code == 0) {
            int ip = strcmp(reason, "ip") == 0;
            if (ip)
                cl->rejected_ip++;
            else
                cl->rejected_total++;
            a->cb(c, ip ? CLUSTER_OVER_IP : CLUSTER_OVER_TOTAL);
        } else {
            cluster_decide_locally(cl, c, a->ip, a->cb);
        }
    }
    free(a);
}

static void cluster_send_admit(admission_t *a)
{
    cluster_t *cl = a->cl;
    const cfg_t *cfg = cl->br->cfg;
    char keys[4][CLUSTER_KEY_MAX], maxt[24], maxip[24], lease[24];
    cluster_key(keys[0], cl, "bridges", NULL);
    cluster_key(keys[1], cl, "total", NULL);
    cluster_key(keys[2], cl, "ips", NULL);
    cluster_key(keys[3], cl, "held:", cfg->bridge_id);
    snprintf(maxt, sizeof(maxt), "%d", cfg->max_connections);
    snprintf(maxip, sizeof(maxip), "%d", cfg->max_connections_per_ip);
    snprintf(lease, sizeof(lease), "%d", cfg->lease_ms);
    const char *argv[] = {"4", keys[0], keys[1], keys[2], keys[3], cfg->bridge_id,
                          a->ip, maxt, maxip, lease, cfg->redis_prefix};
    a->tries++;
    cluster_call(cl, SCRIPT_ADMIT, cluster_admit_reply, a, (int)(sizeof(argv) / sizeof(argv[0])),
                 argv);
}

void cluster_admit(cluster_t *cl, conn_t *c, const char *ip, cluster_admit_cb cb)
{
    if (!cluster_is_up(cl) || cl->stopping) {
        cluster_decide_locally(cl, c, ip, cb);
        return;
    }
    admission_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        cluster_decide_locally(cl, c, ip, cb);
        return;
    }
    a->cl = cl;
    a->c = c;
    a->cb = cb;
    snprintf(a->ip, sizeof(a->ip), "%s", ip);
    c->admission = a;
    cl->pending++;
    cluster_send_admit(a);
}

void cluster_cancel(cluster_t *cl, conn_t *c)
{
    (void)cl;
    if (c->admission != NULL) {
        c->admission->c = NULL;
        c->admission = NULL;
    }
}

static void cluster_release_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    cluster_t *cl = privdata;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_error("cluster: release script failed: %s", reply->str);
    else if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1)
        cl->totals.connections = reply_u64(reply->element[0]);
}

static void cluster_release_ip(cluster_t *cl, const char *ip)
{
    const cfg_t *cfg = cl->br->cfg;
    char keys[4][CLUSTER_KEY_MAX];
    cluster_key(keys[0], cl, "bridges", NULL);
    cluster_key(keys[1], cl, "total", NULL);
    cluster_key(keys[2], cl, "ips", NULL);
    cluster_key(keys[3], cl, "held:", cfg->bridge_id);
    const char *argv[] = {"4", keys[0], keys[1], keys[2], keys[3], cfg->bridge_id, ip,
                          cfg->redis_prefix};
    if (cluster_is_up(cl))
        cluster_call(cl, SCRIPT_RELEASE, cluster_release_reply, cl,
                     (int)(sizeof(argv) / sizeof(argv[0])), argv);
    /* Without Redis the next re-assertion counts only who is still here. */
}

static void cluster_ip_emptied(hub_chan_t *chan, void *arg)
{
    hub_chan_release(arg, chan);
}

void cluster_release(cluster_t *cl, conn_t *c)
{
    cluster_cancel(cl, c);
    if (c->admit_mode == ADMIT_NONE)
        return;
    if (c->admit_mode == ADMIT_REDIS && c->ipsub.nlinks == 1)
        cluster_release_ip(cl, c->ipsub.links[0].chan->name);
    hub_leave_all(&cl->ips, &c->ipsub, cluster_ip_emptied, &cl->ips);
    c->admit_mode = ADMIT_NONE;
    cl->admitted--;
}

/* --- shutdown ---------------------------------------------------------------------- */

static void cluster_timer_closed(uv_handle_t *h)
{
    cluster_t *cl = h->data;
    hub_free(&cl->ips);
}

void cluster_stop(cluster_t *cl)
{
    if (cl->stopping)
        return;
    /* A 1 ms lease (the scripts' minimum): expired at once, so the next
     * script anywhere reaps what is left of ours (nothing, when every stream
     * released its slot). */
    cl->renew_inflight = 0;
    cluster_renew(cl, 1);
    cl->stopping = 1;
    rlink_stop(&cl->link, NULL, 1);
    uv_close((uv_handle_t *)&cl->renew, cluster_timer_closed);
    for (int i = 0; i < 3; i++) {
        free(script_text[i]);
        script_text[i] = NULL;
    }
}
