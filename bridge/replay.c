/* Resume and catch-up from the history streams (see replay.h).
 *
 * Ordering argument, per channel: a replay's first Redis command is sent
 * only once the subscriber has confirmed the channel, so an event is either
 * published before that command runs (then XRANGE/XINFO see it) or after
 * (then it arrives live and is held). An event can be both: published
 * after the first command and before a later XRANGE, its pub/sub copy may
 * still be unread on the subscriber's socket when the XRANGE reply comes
 * (two connections, read in any order). So the replay ends only after a
 * barrier, published on the command link after its last XRANGE, came back
 * through pub/sub: every live copy of what XRANGE saw was read (and held)
 * before it. Held events whose id the replay already covered are dropped:
 * the client sees each event once, in order.
 *
 * Records (replay_t, catchup_t) outlive what they serve while a reply is
 * pending: a closed stream leaves c == NULL, a freed channel is looked up
 * again by name. */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanlist.h"
#include "log.h"
#include "sse_frame.h"
#include "stream.h"

#define REPLAY_BATCH_MAX 100 /* entries per XRANGE */
#define REPLAY_PUMP_MS 5     /* retry period of waiting replays and catch-ups */
#define REPLAY_BARRIER_RESEND_MS 500 /* a barrier not back by then is published again */
#define REPLAY_KEY_MAX (CFG_PREFIX_MAX + 16 + CHAN_NAME_MAX)
#define REPLAY_TOKEN_MAX (HID_TEXT_MAX + 1 + CHAN_NAME_MAX) /* "<id>@<channel>" */

enum { RP_WAIT = 0, RP_INFO, RP_REPLAY };

typedef struct held_s {
    msg_t *plain;     /* identity bytes (a reference) */
    msg_t *gz;        /* gzip segment (a reference) for gzip streams, else NULL */
    gzs_info_t info;  /* the segment's CRC and length */
    hid_t id;         /* the history id, when has_id */
    hub_chan_t *chan; /* its channel, when has_id (valid while c is subscribed) */
    uint8_t has_id;   /* a history event */
} held_t;

typedef struct rchan_s {
    hid_t pos;        /* what the client has seen up to (exclusive start) */
    uint8_t known;    /* pos is set (else the INFO reply sets it) */
    uint8_t replay;   /* 1: replay from pos; 0: live only */
    uint8_t explicit_;/* the cursor named this channel (a missing stream is a loss) */
    uint8_t first;    /* the next batch is this channel's first */
} rchan_t;

typedef struct replay_s replay_t;

struct replay_s {
    bridge_t *br;     /* the bridge */
    conn_t *c;        /* the stream; NULL once it closed */
    list_t node;      /* in br->replay_wait while waiting; else self-linked */
    int phase;        /* RP_* */
    int inflight;     /* replies pending */
    int resumed;      /* the client came with a valid cursor */
    uint16_t n;       /* channels, in c->sub.links order */
    uint16_t cur;     /* the channel being replayed */
    int batch;        /* entries asked for in the pending batch */
    rchan_t *ch;      /* per channel */
    held_t *held;     /* frames kept until the replay is done */
    uint32_t nheld;   /* entries in held */
    uint32_t capheld; /* capacity of held */
    size_t held_bytes;/* identity bytes in held */
    uint64_t barrier; /* the barrier the end waits for; 0 = none published yet */
    uint64_t barrier_ms; /* loop time it was published */
};

typedef struct catchup_s {
    bridge_t *br;     /* the bridge */
    list_t node;      /* in br->catchups */
    char name[CHAN_NAME_MAX + 1]; /* the channel (looked up again on each reply) */
    size_t len;       /* bytes in name */
    int inflight;     /* a batch is pending */
    int first;        /* the next batch is the first (reset check) */
    hid_t from;       /* the position the catch-up started from */
} catchup_t;

typedef struct chold_s {
    msg_t **items;    /* payload copies, oldest first */
    uint32_t n;       /* entries */
    uint32_t cap;     /* capacity */
    size_t bytes;     /* payload bytes */
} chold_t;

/* --- small helpers ------------------------------------------------------- */

static redisAsyncContext *replay_ctx(bridge_t *br)
{
    rlink_t *l = &br->cluster.link;
    return l->state == RLINK_UP ? l->ac : NULL;
}

static size_t replay_key(const bridge_t *br, const hub_chan_t *chan, char *out)
{
    int n = snprintf(out, REPLAY_KEY_MAX, "%shistory:%s", br->cfg->redis_prefix, chan->name);
    return n > 0 ? (size_t)n : 0;
}

static redisReply *xinfo_field(const redisReply *r, const char *field)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, field) == 0)
            return r->element[i + 1];
    return NULL;
}

static int reply_hid(const redisReply *r, hid_t *out)
{
    return r != NULL && r->type == REDIS_REPLY_STRING && hid_parse(r->str, r->len, out) == 0;
}

static int reply_int(const redisReply *r, long long *out)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return 0;
    *out = r->integer;
    return 1;
}

/* From an XINFO STREAM reply: 1 when an entry after pos may have been
 * deleted, with the oldest retained id in *oldest. Trimming (MAXLEN ~)
 * removes the oldest entries and is not recorded in max-deleted-entry-id
 * (only XDEL is), so: nothing ever deleted (entries-added == length) means
 * no loss; else a position before the oldest retained entry was itself
 * trimmed, and entries after it may have been too. (When pos was exactly
 * the last one trimmed this says "maybe" for nothing lost: a reset too
 * many, never one too few.) */
static int xinfo_lost_after(const redisReply *info, hid_t pos, hid_t *oldest, int *has_oldest)
{
    redisReply *first = xinfo_field(info, "first-entry");
    *has_oldest = first != NULL && first->type == REDIS_REPLY_ARRAY && first->elements >= 1 &&
                  reply_hid(first->element[0], oldest);
    long long added, length;
    if (reply_int(xinfo_field(info, "entries-added"), &added) &&
        reply_int(xinfo_field(info, "length"), &length) && added == length)
        return 0;
    hid_t maxdel;
    if (reply_hid(xinfo_field(info, "max-deleted-entry-id"), &maxdel) && hid_cmp(maxdel, pos) > 0)
        return 1; /* XDEL after pos */
    return *has_oldest && hid_cmp(*oldest, pos) > 0;
}

/* Sends an `event: reset` for chan to c (or to every subscriber). */
static void replay_send_reset(bridge_t *br, conn_t *c, hub_chan_t *chan, const hid_t *asked,
                              const hid_t *oldest, const char *reason)
{
    char a[HID_TEXT_MAX], o[HID_TEXT_MAX], data[512];
    if (asked != NULL)
        hid_format(*asked, a);
    if (oldest != NULL)
        hid_format(*oldest, o);
    int n = snprintf(data, sizeof(data),
                     "{\"channel\":\"%s\",\"reason\":\"%s\",\"last_event_id\":%s%s%s%s%s,"
                     "\"oldest_id\":%s%s%s%s%s}",
                     chan->name, reason, asked ? "\"" : "", asked ? a : "null", asked ? "@" : "",
                     asked ? chan->name : "", asked ? "\"" : "", oldest ? "\"" : "",
                     oldest ? o : "null", oldest ? "@" : "", oldest ? chan->name : "",
                     oldest ? "\"" : "");
    sse_event_t ev = {.event = "reset", .event_len = 5, .retry = -1, .data = data,
                      .data_len = (size_t)n};
    msg_t *m = sse_frame_msg(&ev);
    if (m == NULL)
        return;
    if (c != NULL)
        stream_send_now(c, m);
    else
        stream_broadcast_chan(br, chan, m);
    br->stats.resets_sent += c != NULL ? 1 : chan->nsubs;
    msg_unref(m);
}

/* Rebuilds the published payload of a stream entry [id, [field, value...]]
 * into buf (grown as needed); returns its length, 0 when the entry is not
 * one of the publisher's. */
static size_t entry_payload(const redisReply *e, const hub_chan_t *chan, char **buf,
                            size_t *cap, hid_t *id)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !reply_hid(e->element[0], id) ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *f = e->element[1], *format = NULL, *json = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (f->element[i]->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(f->element[i]->str, "format") == 0)
            format = f->element[i + 1];
        else if (strcmp(f->element[i]->str, "json") == 0)
            json = f->element[i + 1];
    }
    if (format == NULL || json == NULL || format->type != REDIS_REPLY_STRING ||
        json->type != REDIS_REPLY_STRING || json->len < 2 || json->str[0] != '{')
        return 0;
    int envelope = strcmp(format->str, "envelope") == 0;
    if (!envelope && strcmp(format->str, "flask-sse") != 0)
        return 0;
    /* [0x1E] {"id":"<entry id>@<channel>", + the JSON after its '{' */
    size_t need = 1 + 7 + HID_TEXT_MAX + 1 + chan->len + 2 + json->len;
    if (need > *cap) {
        char *nb = realloc(*buf, need);
        if (nb == NULL)
            return 0;
        *buf = nb;
        *cap = need;
    }
    char *p = *buf;
    if (envelope)
        *p++ = 0x1e;
    memcpy(p, "{\"id\":\"", 7);
    p += 7;
    p += hid_format(*id, p);
    *p++ = '@';
    memcpy(p, chan->name, chan->len);
    p += chan->len;
    *p++ = '"';
    *p++ = ',';
    memcpy(p, json->str + 1, json->len - 1);
    p += json->len - 1;
    return (size_t)(p - *buf);
}

static char *entry_buf;     /* scratch for entry_payload, one loop */
static size_t entry_buf_cap;

/* Sends MULTI; XRANGE key (pos + COUNT count; XINFO STREAM key; EXEC, the
 * EXEC reply to fn. Returns 0, or -1 when it could not be queued. */
static int replay_batch_send(bridge_t *br, hub_chan_t *chan, hid_t pos, int count,
                             redisCallbackFn *fn, void *privdata)
{
    redisAsyncContext *ac = replay_ctx(br);
    if (ac == NULL)
        return -1;
    char key[REPLAY_KEY_MAX], start[HID_TEXT_MAX + 1], cnt[16];
    size_t kl = replay_key(br, chan, key);
    start[0] = '(';
    size_t sl = 1 + hid_format(pos, start + 1);
    int cl = snprintf(cnt, sizeof(cnt), "%d", count);
    const char *xr[] = {"XRANGE", key, start, "+", "COUNT", cnt};
    size_t xrl[] = {6, kl, sl, 1, 5, (size_t)cl};
    const char *xi[] = {"XINFO", "STREAM", key};
    size_t xil[] = {5, 6, kl};
    /* Queued back to back on one connection: nothing can come in between. */
    if (redisAsyncCommand(ac, NULL, NULL, "MULTI") != REDIS_OK ||
        redisAsyncCommandArgv(ac, NULL, NULL, 6, xr, xrl) != REDIS_OK ||
        redisAsyncCommandArgv(ac, NULL, NULL, 3, xi, xil) != REDIS_OK ||
        redisAsyncCommand(ac, fn, privdata, "EXEC") != REDIS_OK) {
        rlink_reset(&br->cluster.link); /* a half-queued transaction must not stay */
        return -1;
    }
    return 0;
}

/* The EXEC reply of a batch: 0 with the XRANGE and XINFO replies, -1 when
 * the transaction failed. */
static int batch_parts(const redisReply *r, const redisReply **range, const redisReply **info)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    *range = r->element[0];
    *info = r->element[1];
    return (*range)->type == REDIS_REPLY_ARRAY ? 0 : -1;
}

/* --- per-stream replay ------------------------------------------------------- */

static void replay_step(replay_t *rp);
static void replay_pump_cb(uv_timer_t *t);
static int replay_stopping; /* replay_stop ran: records are freed, never retried */

static void replay_wait(replay_t *rp)
{
    bridge_t *br = rp->br;
    if (rp->node.next == &rp->node)
        list_push_back(&br->replay_wait, &rp->node);
    if (!uv_is_active((uv_handle_t *)&br->replay_pump))
        uv_timer_start(&br->replay_pump, replay_pump_cb, REPLAY_PUMP_MS, REPLAY_PUMP_MS);
}

static void replay_unwait(replay_t *rp)
{
    list_remove(&rp->node);
    list_init(&rp->node);
}

static void held_free(held_t *h)
{
    msg_unref(h->plain);
    msg_unref(h->gz);
}

static void replay_free(replay_t *rp)
{
    replay_unwait(rp);
    for (uint32_t i = 0; i < rp->nheld; i++)
        held_free(&rp->held[i]);
    free(rp->held);
    free(rp->ch);
    free(rp);
}

/* The position of chan in c's list, or -1. */
static int replay_index(const conn_t *c, const hub_chan_t *chan)
{
    for (uint16_t i = 0; i < c->sub.nlinks; i++)
        if (c->sub.links[i].chan == chan)
            return i;
    return -1;
}

/* Done: the held frames go out, minus what the replay already sent. */
static void replay_finish(replay_t *rp)
{
    conn_t *c = rp->c;
    c->replay = NULL;
    for (uint32_t i = 0; i < rp->nheld; i++) {
        held_t *h = &rp->held[i];
        int k = h->has_id ? replay_index(c, h->chan) : -1;
        if (k >= 0 && rp->ch[k].known && hid_cmp(h->id, rp->ch[k].pos) <= 0) {
            rp->br->stats.replay_duplicates++;
            continue;
        }
        if (k >= 0) {
            rp->ch[k].pos = h->id;
            rp->ch[k].known = 1;
        }
        if (c->state == CONN_STREAM)
            stream_send_frame(c, h->plain, h->gz, &h->info);
    }
    replay_free(rp);
}

/* The cursor as "<id>@<channel>,..." of every known position; malloc'd. */
static char *replay_cursor(const replay_t *rp, size_t *len)
{
    const conn_t *c = rp->c;
    char *s = malloc((size_t)rp->n * (REPLAY_TOKEN_MAX + 1) + 1);
    size_t n = 0;
    if (s == NULL)
        return NULL;
    for (uint16_t i = 0; i < rp->n; i++) {
        if (!rp->ch[i].known)
            continue;
        if (n > 0)
            s[n++] = ',';
        n += hid_format(rp->ch[i].pos, s + n);
        s[n++] = '@';
        const hub_chan_t *chan = c->sub.links[i].chan;
        memcpy(s + n, chan->name, chan->len);
        n += chan->len;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

static void replay_hello(replay_t *rp)
{
    size_t len = 0;
    char *cursor = replay_cursor(rp, &len);
    stream_hello(rp->c, len > 0 ? cursor : NULL, len, rp->resumed);
    free(cursor);
}

/* History could not be read: say so for every channel still to replay,
 * then go live with what is held. */
static void replay_fail(replay_t *rp, const char *reason)
{
    conn_t *c = rp->c;
    bridge_t *br = rp->br;
    log_warn("resume of client_id=%s incomplete: %s", c->client_id ? c->client_id : "-", reason);
    br->stats.replays_failed++;
    if (rp->phase != RP_REPLAY)
        stream_hello(c, NULL, 0, 0);
    for (uint16_t i = rp->phase == RP_REPLAY ? rp->cur : 0; i < rp->n; i++)
        if (rp->ch[i].replay)
            replay_send_reset(br, c, c->sub.links[i].chan,
                              rp->ch[i].known ? &rp->ch[i].pos : NULL, NULL, reason);
    replay_finish(rp);
}

/* A reply arrived for rp: 1 when rp can go on, 0 when it is finished with
 * (the stream closed, or the link dropped and the replay failed). */
static int replay_reply_ok(replay_t *rp, const void *reply)
{
    rp->inflight--;
    if (rp->c == NULL) {
        if (rp->inflight == 0)
            replay_free(rp);
        return 0;
    }
    if (reply == NULL) {
        if (rp->inflight == 0)
            replay_fail(rp, "history_unavailable");
        return 0;
    }
    return 1;
}

static void replay_info_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    replay_t *rp = privdata;
    (void)ac;
    /* Replies arrive in the order sent: the first unknown channel is ours. */
    uint16_t i = 0;
    while (i < rp->n && rp->ch[i].known)
        i++;
    if (!replay_reply_ok(rp, r))
        return;
    if (i < rp->n) {
        rchan_t *ch = &rp->ch[i];
        /* A missing stream starts at 0-0: whatever is added later is new. */
        ch->pos = (hid_t){0, 0};
        reply_hid(xinfo_field(r, "last-generated-id"), &ch->pos);
        ch->known = 1;
    }
    if (rp->inflight == 0)
        replay_step(rp);
}

static void replay_batch_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    replay_t *rp = privdata;
    (void)ac;
    if (!replay_reply_ok(rp, r))
        return;
    conn_t *c = rp->c;
    bridge_t *br = rp->br;
    rchan_t *ch = &rp->ch[rp->cur];
    hub_chan_t *chan = c->sub.links[rp->cur].chan;
    const redisReply *range, *info;
    if (batch_parts(r, &range, &info) != 0) {
        const redisReply *e = r;
        log_warn("history of '%s' unreadable: %s", chan->name,
                 e->type == REDIS_REPLY_ERROR ? e->str : "unexpected reply");
        replay_send_reset(br, c, chan, &ch->pos, NULL, "history_error");
        ch->replay = 0;
        rp->cur++;
        replay_step(rp);
        return;
    }
    if (ch->first) {
        ch->first = 0;
        hid_t oldest;
        int has_oldest;
        if (info->type == REDIS_REPLY_ARRAY) {
            if (xinfo_lost_after(info, ch->pos, &oldest, &has_oldest))
                replay_send_reset(br, c, chan, &ch->pos, has_oldest ? &oldest : NULL, "trimmed");
        } else if (ch->explicit_ && hid_cmp(ch->pos, (hid_t){0, 0}) > 0) {
            /* The client saw history here, and it is gone (flushed, expired). */
            replay_send_reset(br, c, chan, &ch->pos, NULL, "missing");
        }
    }
    size_t k;
    for (k = 0; k < range->elements; k++) {
        hid_t id = ch->pos; /* kept when the entry has no readable id */
        size_t len = entry_payload(range->element[k], chan, &entry_buf, &entry_buf_cap, &id);
        if (len == 0) {
            br->stats.replay_malformed++;
            ch->pos = id;
            continue;
        }
        /* No more than the queue takes: the rest is read again later (a
         * stream with an empty queue always takes one, as live would). */
        if (c->wq_bytes > 0 &&
            c->wq_bytes + rp->held_bytes + len > (size_t)br->cfg->max_queue_bytes)
            break;
        ch->pos = id;
        stream_deliver(br, chan, entry_buf, len, c);
        br->stats.replayed_events++;
        if (rp->c == NULL || c->state != CONN_STREAM)
            return; /* closed as a slow consumer: the record went with it */
    }
    if (k == range->elements && (int)range->elements < rp->batch) {
        ch->replay = 0; /* this channel is done */
        rp->cur++;
    }
    replay_step(rp);
}

/* Entries per batch: what fits the stream's queue room, 1 to the max. */
static int replay_batch_size(const replay_t *rp)
{
    const conn_t *c = rp->c;
    const cfg_t *cfg = rp->br->cfg;
    long room = cfg->max_queue_bytes - (long)c->wq_bytes - (long)rp->held_bytes;
    if (room < cfg->max_queue_bytes / 4)
        return 0;
    return REPLAY_BATCH_MAX;
}

static int replay_all_subscribed(const conn_t *c)
{
    for (uint16_t i = 0; i < c->sub.nlinks; i++)
        if (!rsub_chan_live(c->sub.links[i].chan))
            return 0;
    return 1;
}

/* 1 once the replay's barrier came back through pub/sub (see the top of
 * this file); publishes it when none is out, and again when it is overdue
 * (the command link or the subscriber dropped it). */
static int replay_barrier_passed(replay_t *rp)
{
    bridge_t *br = rp->br;
    if (rp->barrier != 0 && br->barrier_seen >= rp->barrier)
        return 1;
    uint64_t now = uv_now(br->loop);
    if (rp->barrier == 0 || now - rp->barrier_ms >= REPLAY_BARRIER_RESEND_MS) {
        char b[24];
        int n = snprintf(b, sizeof(b), "b%llu", (unsigned long long)(br->barrier_sent + 1));
        if (rsub_publish_probe(&br->rsub, b, (size_t)n) == 0) {
            rp->barrier = ++br->barrier_sent;
            rp->barrier_ms = now;
        }
    }
    return 0;
}

void replay_on_probe(void *arg, const char *payload, size_t len)
{
    bridge_t *br = arg;
    uint64_t seq = 0;
    if (len < 2 || len > 21 || payload[0] != 'b')
        return; /* a health probe */
    for (size_t i = 1; i < len; i++) {
        if (payload[i] < '0' || payload[i] > '9')
            return;
        seq = seq * 10 + (uint64_t)(payload[i] - '0');
    }
    if (seq <= br->barrier_seen)
        return;
    br->barrier_seen = seq;
    /* Replays waiting for it end now rather than at the next pump. */
    list_t *n = br->replay_wait.next;
    while (n != &br->replay_wait) {
        replay_t *rp = list_entry(n, replay_t, node);
        n = n->next;
        if (rp->barrier != 0 && rp->barrier <= seq)
            replay_step(rp);
    }
}

static void replay_step(replay_t *rp)
{
    conn_t *c = rp->c;
    bridge_t *br = rp->br;
    if (rp->phase == RP_WAIT) {
        if (!rsub_is_up(&br->rsub) || replay_ctx(br) == NULL) {
            replay_unwait(rp);
            replay_fail(rp, "history_unavailable");
            return;
        }
        if (!replay_all_subscribed(c)) {
            replay_wait(rp);
            return;
        }
        replay_unwait(rp);
        rp->phase = RP_INFO;
        for (uint16_t i = 0; i < rp->n; i++) {
            if (rp->ch[i].known)
                continue;
            char key[REPLAY_KEY_MAX];
            size_t kl = replay_key(br, c->sub.links[i].chan, key);
            const char *argv[] = {"XINFO", "STREAM", key};
            size_t lens[] = {5, 6, kl};
            if (rlink_command(&br->cluster.link, replay_info_reply, rp, 3, argv, lens) != 0) {
                if (rp->inflight == 0)
                    replay_fail(rp, "history_unavailable");
                return; /* else the pending replies end in a failure */
            }
            rp->inflight++;
        }
        if (rp->inflight > 0)
            return;
    }
    if (rp->phase == RP_INFO) {
        rp->phase = RP_REPLAY;
        rp->cur = 0;
        replay_hello(rp);
    }
    while (rp->cur < rp->n && !rp->ch[rp->cur].replay)
        rp->cur++;
    if (rp->cur == rp->n) {
        /* A channel catching up (Redis came back) still sends what this
         * stream may have replayed: hold on until it is done, so the
         * duplicates are dropped here. */
        for (uint16_t i = 0; i < c->sub.nlinks; i++) {
            /* Likewise while a channel's subscription is down (it comes
             * back with a catch-up from the channel's last id, which may
             * be older than what this stream replayed). */
            const hub_chan_t *chan = c->sub.links[i].chan;
            if (chan->catching_up || !rsub_chan_live(chan)) {
                replay_wait(rp);
                return;
            }
        }
        if (!replay_barrier_passed(rp)) {
            replay_wait(rp);
            return;
        }
        replay_unwait(rp);
        replay_finish(rp);
        return;
    }
    int count = replay_batch_size(rp);
    if (count == 0) {
        replay_wait(rp); /* the client reads slowly: wait for room */
        return;
    }
    replay_unwait(rp);
    rchan_t *ch = &rp->ch[rp->cur];
    rp->batch = count; /* a shorter answer is the channel's last batch */
    if (replay_batch_send(br, c->sub.links[rp->cur].chan, ch->pos, count, replay_batch_reply, rp) != 0) {
        replay_fail(rp, "history_unavailable");
        return;
    }
    rp->inflight++;
}

int replay_cursor_valid(const char *cursor, size_t len)
{
    size_t pos = 0;
    hid_token_t t;
    int r;
    if (cursor == NULL)
        return 0;
    while ((r = hid_cursor_next(cursor, len, &pos, &t)) == 1)
        ;
    return r == 0;
}

void replay_reset_all(conn_t *c, const char *cursor, size_t len, const char *reason)
{
    size_t pos = 0;
    hid_token_t t;
    for (uint16_t i = 0; i < c->sub.nlinks; i++) {
        hub_chan_t *chan = c->sub.links[i].chan;
        const hid_t *asked = NULL;
        hid_t bare;
        int has_bare = 0;
        pos = 0;
        while (hid_cursor_next(cursor, len, &pos, &t) == 1) {
            if (t.chan == NULL) {
                bare = t.id;
                has_bare = 1;
            } else if (t.chan_len == chan->len && memcmp(t.chan, chan->name, chan->len) == 0) {
                asked = &t.id;
                break;
            }
        }
        if (asked == NULL && has_bare)
            asked = &bare;
        replay_send_reset(c->br, c, chan, asked, NULL, reason);
    }
}

/* Positions from the cursor: a channel's own token, else the bare token,
 * else (approximate) from the earliest millisecond the cursor names. */
static int replay_positions(replay_t *rp, const char *cursor, size_t len)
{
    const conn_t *c = rp->c;
    size_t pos = 0;
    hid_token_t t;
    int any = 0, has_bare = 0;
    uint64_t min_ms = UINT64_MAX;
    hid_t bare = {0, 0};
    if (!replay_cursor_valid(cursor, len))
        return 0;
    while (hid_cursor_next(cursor, len, &pos, &t) == 1) {
        any = 1;
        if (t.id.ms < min_ms)
            min_ms = t.id.ms;
        if (t.chan == NULL) {
            bare = t.id;
            has_bare = 1;
            continue;
        }
        for (uint16_t i = 0; i < c->sub.nlinks; i++) {
            const hub_chan_t *chan = c->sub.links[i].chan;
            if (t.chan_len == chan->len && memcmp(t.chan, chan->name, chan->len) == 0) {
                rp->ch[i].pos = t.id;
                rp->ch[i].known = rp->ch[i].explicit_ = 1;
            }
        }
    }
    if (!any)
        return 0;
    for (uint16_t i = 0; i < rp->n; i++) {
        rchan_t *ch = &rp->ch[i];
        if (!ch->known) {
            /* No token for this channel: from the start of that millisecond
             * (a same-millisecond event may come twice, none is lost). */
            uint64_t ms = has_bare ? bare.ms : min_ms;
            ch->pos = ms > 0 ? (hid_t){ms - 1, UINT64_MAX} : (hid_t){0, 0};
            ch->known = 1;
        }
        ch->replay = 1;
        ch->first = 1;
    }
    return 1;
}

int replay_open(conn_t *c, const char *cursor, size_t len)
{
    bridge_t *br = c->br;
    if (!br->cfg->history || !rsub_is_up(&br->rsub) || replay_ctx(br) == NULL)
        return 0;
    replay_t *rp = calloc(1, sizeof(*rp));
    if (rp != NULL)
        rp->ch = calloc(c->sub.nlinks ? c->sub.nlinks : 1, sizeof(*rp->ch));
    if (rp == NULL || rp->ch == NULL) {
        free(rp);
        return -1;
    }
    rp->br = br;
    rp->c = c;
    rp->n = c->sub.nlinks;
    list_init(&rp->node);
    rp->resumed = replay_positions(rp, cursor, len);
    if (cursor != NULL && !rp->resumed)
        br->stats.resume_ignored++;
    if (rp->resumed)
        br->stats.resumes++;
    c->replay = rp;
    replay_step(rp);
    return 1;
}

void replay_hold(conn_t *c, msg_t *plain, msg_t *gz, const gzs_info_t *info, hub_chan_t *chan,
                 const hid_t *id)
{
    replay_t *rp = c->replay;
    const cfg_t *cfg = c->br->cfg;
    if (rp->held_bytes + plain->len + c->wq_bytes > (size_t)cfg->max_queue_bytes) {
        c->br->stats.slow_consumer_drops++;
        conn_close(c, "slow consumer (queue cap reached during replay)");
        return;
    }
    if (rp->nheld == rp->capheld) {
        uint32_t cap = rp->capheld ? rp->capheld * 2 : 16;
        held_t *h = realloc(rp->held, cap * sizeof(*h));
        if (h == NULL) {
            conn_close(c, "out of memory");
            return;
        }
        rp->held = h;
        rp->capheld = cap;
    }
    held_t *h = &rp->held[rp->nheld++];
    h->plain = msg_ref(plain);
    h->gz = gz != NULL ? msg_ref(gz) : NULL;
    if (info != NULL)
        h->info = *info;
    h->has_id = id != NULL;
    if (id != NULL) {
        h->id = *id;
        h->chan = chan;
    }
    rp->held_bytes += plain->len;
}

int replay_said_hello(const conn_t *c)
{
    return c->replay != NULL && c->replay->phase == RP_REPLAY;
}

void replay_detach(conn_t *c)
{
    replay_t *rp = c->replay;
    if (rp == NULL)
        return;
    c->replay = NULL;
    rp->c = NULL;
    if (rp->inflight == 0)
        replay_free(rp);
    else
        replay_unwait(rp);
}

/* --- channel catch-up after Redis came back ---------------------------------- */

static void chold_free(hub_chan_t *chan)
{
    chold_t *h = chan->held;
    if (h == NULL)
        return;
    for (uint32_t i = 0; i < h->n; i++)
        msg_unref(h->items[i]);
    free(h->items);
    free(h);
    chan->held = NULL;
}

static void catchup_free(catchup_t *k)
{
    list_remove(&k->node);
    free(k);
}

/* The catch-up of chan ends: what was held goes out through the live path
 * (which drops what the catch-up already delivered). */
static void catchup_end(bridge_t *br, hub_chan_t *chan)
{
    chold_t *h = chan->held;
    chan->held = NULL;
    chan->catching_up = 0;
    if (h == NULL)
        return;
    for (uint32_t i = 0; i < h->n; i++)
        stream_deliver(br, chan, h->items[i]->data, h->items[i]->len, NULL);
    chan->held = h;
    chold_free(chan);
}

static void catchup_send(catchup_t *k);

static void catchup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    catchup_t *k = privdata;
    bridge_t *br = k->br;
    (void)ac;
    k->inflight = 0;
    hub_chan_t *chan = replay_stopping ? NULL : hub_find(&br->hub, k->name, k->len);
    if (chan == NULL || !chan->catching_up || chan->nsubs == 0) {
        catchup_free(k);
        return;
    }
    if (r == NULL)
        return; /* the link dropped: the pump tries again */
    const redisReply *range, *info;
    if (batch_parts(r, &range, &info) != 0) {
        const redisReply *e = r;
        log_warn("catch-up of '%s' failed: %s", k->name,
                 e->type == REDIS_REPLY_ERROR ? e->str : "unexpected reply");
        replay_send_reset(br, NULL, chan, &k->from, NULL, "history_error");
        catchup_free(k);
        catchup_end(br, chan);
        return;
    }
    if (k->first) {
        k->first = 0;
        hid_t oldest;
        int has_oldest;
        if (info->type == REDIS_REPLY_ARRAY &&
            xinfo_lost_after(info, chan->hist_last, &oldest, &has_oldest))
            replay_send_reset(br, NULL, chan, &chan->hist_last, has_oldest ? &oldest : NULL,
                              "trimmed");
    }
    for (size_t i = 0; i < range->elements; i++) {
        hid_t id;
        size_t len = entry_payload(range->element[i], chan, &entry_buf, &entry_buf_cap, &id);
        if (len == 0) {
            br->stats.replay_malformed++;
            continue;
        }
        stream_deliver(br, chan, entry_buf, len, NULL);
        br->stats.caught_up_events++;
    }
    if (range->elements < REPLAY_BATCH_MAX) {
        log_info("caught up on '%s'", k->name);
        catchup_free(k);
        catchup_end(br, chan);
        return;
    }
    catchup_send(k);
}

static void catchup_send(catchup_t *k)
{
    bridge_t *br = k->br;
    hub_chan_t *chan = hub_find(&br->hub, k->name, k->len);
    if (chan == NULL || !chan->catching_up) {
        catchup_free(k);
        return;
    }
    if (replay_batch_send(br, chan, chan->hist_last, REPLAY_BATCH_MAX, catchup_reply, k) == 0)
        k->inflight = 1;
    else if (!uv_is_active((uv_handle_t *)&br->replay_pump))
        uv_timer_start(&br->replay_pump, replay_pump_cb, REPLAY_PUMP_MS, REPLAY_PUMP_MS);
}

void replay_on_subscribed(bridge_t *br, hub_chan_t *chan)
{
    if (!br->cfg->history || !chan->hist_known || chan->nsubs == 0)
        return;
    for (list_t *n = br->catchups.next; n != &br->catchups; n = n->next) {
        catchup_t *k = list_entry(n, catchup_t, node);
        if (k->len == chan->len && memcmp(k->name, chan->name, k->len) == 0)
            return; /* already under way; it reads on from hist_last */
    }
    catchup_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return;
    k->br = br;
    memcpy(k->name, chan->name, chan->len + 1);
    k->len = chan->len;
    k->first = 1;
    k->from = chan->hist_last;
    list_push_back(&br->catchups, &k->node);
    chan->catching_up = 1;
    br->stats.catchups++;
    catchup_send(k);
}

int replay_catchup_hold(bridge_t *br, hub_chan_t *chan, const char *payload, size_t len)
{
    if (!chan->catching_up)
        return 0;
    chold_t *h = chan->held;
    if (h == NULL && (h = chan->held = calloc(1, sizeof(*h))) == NULL)
        return 0;
    if (h->bytes + len > (size_t)br->cfg->max_queue_bytes * 4) {
        /* Too much piles up behind a catch-up that does not finish: stop
         * waiting, deliver, and tell the clients they may have missed some. */
        log_warn("catch-up of '%s' abandoned: %zu bytes held", chan->name, h->bytes);
        replay_send_reset(br, NULL, chan, &chan->hist_last, NULL, "catch_up_overflow");
        catchup_end(br, chan);
        return 0;
    }
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 16;
        msg_t **items = realloc(h->items, cap * sizeof(*items));
        if (items == NULL)
            return 0;
        h->items = items;
        h->cap = cap;
    }
    msg_t *m = msg_copy(payload, len);
    if (m == NULL)
        return 0;
    h->items[h->n++] = m;
    h->bytes += len;
    return 1;
}

void replay_chan_emptied(bridge_t *br, hub_chan_t *chan)
{
    (void)br;
    chold_free(chan);
    chan->catching_up = 0;
}

/* --- the pump -------------------------------------------------------------------- */

static void replay_pump_cb(uv_timer_t *t)
{
    bridge_t *br = t->data;
    list_t *n = br->replay_wait.next;
    while (n != &br->replay_wait) {
        replay_t *rp = list_entry(n, replay_t, node);
        n = n->next;
        replay_step(rp);
    }
    for (n = br->catchups.next; n != &br->catchups;) {
        catchup_t *k = list_entry(n, catchup_t, node);
        n = n->next;
        if (!k->inflight)
            catchup_send(k);
    }
    int waiting = !list_empty(&br->replay_wait);
    for (n = br->catchups.next; n != &br->catchups && !waiting; n = n->next)
        waiting = !list_entry(n, catchup_t, node)->inflight;
    if (!waiting)
        uv_timer_stop(t);
}

void replay_init(bridge_t *br)
{
    list_init(&br->replay_wait);
    list_init(&br->catchups);
    uv_timer_init(br->loop, &br->replay_pump);
    br->replay_pump.data = br;
    replay_stopping = 0;
}

void replay_stop(bridge_t *br)
{
    uv_close((uv_handle_t *)&br->replay_pump, NULL);
    replay_stopping = 1;
    /* Records with a reply pending are freed by their callback. */
    for (list_t *n = br->catchups.next; n != &br->catchups;) {
        catchup_t *k = list_entry(n, catchup_t, node);
        n = n->next;
        if (!k->inflight)
            catchup_free(k);
    }
    free(entry_buf);
    entry_buf = NULL;
    entry_buf_cap = 0;
}
