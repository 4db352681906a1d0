/* sse-publisher: PUBLISHes numbered, timestamped messages at a fixed rate for the benchmarks. */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BATCH 1000        /* messages pipelined before reading their replies */
#define MAX_PAYLOAD (1 << 24) /* --size bound: 16 MiB */

typedef struct opts_s {
    char host[64];       /* Redis address (loopback) */
    int port;            /* Redis port */
    const char *channel; /* channel to publish on */
    long count;          /* messages: seq 0 .. count-1 */
    double rate;         /* messages per second */
    long size;           /* payload bytes (at least the "<seq> <ts_us> " prefix) */
    long drop;           /* seq left out, -1 for none */
    double timeout;      /* hard cap on the run, seconds */
} opts_t;

typedef struct stats_s {
    long sent;          /* PUBLISH commands answered */
    long errors;        /* error or missing replies */
    long long recv_min; /* fewest receivers a PUBLISH reported */
    long long recv_max; /* most receivers a PUBLISH reported */
    int64_t first_ts;   /* CLOCK_REALTIME µs of the first message */
    int64_t last_ts;    /* CLOCK_REALTIME µs of the last message */
} stats_t;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sse-publisher [options]\n"
            "  --redis-url URL  redis://127.0.0.1:PORT (loopback only; default port 6379)\n"
            "  --channel C      channel to PUBLISH on (default bench)\n"
            "  --count M        messages, seq 0..M-1 (default 1000)\n"
            "  --rate R         messages per second, paced on absolute deadlines (default 100)\n"
            "  --size S         payload bytes: \"<seq> <ts_us> \" padded with 'x' (default 200)\n"
            "  --drop SEQ       skip this sequence number (proves loss is detected)\n"
            "  --timeout S      hard cap on the run (default 2 * M / R + 10)\n"
            "Prints one JSON line with what was sent and the achieved rate.\n");
}

static void die_opt(const char *flag, const char *value, const char *allowed)
{
    fprintf(stderr, "sse-publisher: invalid %s '%s': %s\n", flag, value, allowed);
    exit(2);
}

static double opt_num(const char *flag, const char *v, double min, double max)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(d >= min && d <= max)) {
        char allowed[96];
        snprintf(allowed, sizeof(allowed), "a number from %g to %g", min, max);
        die_opt(flag, v, allowed);
    }
    return d;
}

static long opt_int(const char *flag, const char *v, long min, long max)
{
    double d = opt_num(flag, v, (double)min, (double)max);
    if (d != floor(d))
        die_opt(flag, v, "a whole number");
    return (long)d;
}

/* redis://HOST[:PORT][/DB]: only the address is used; it must be IPv4 loopback. */
static void parse_redis_url(opts_t *o, const char *url)
{
    if (strncmp(url, "redis://", 8) != 0)
        die_opt("--redis-url", url, "redis://127.0.0.1:PORT");
    const char *h = url + 8, *end = h + strcspn(h, "/");
    const char *colon = memchr(h, ':', (size_t)(end - h));
    const char *hend = colon ? colon : end;
    if (hend == h || (size_t)(hend - h) >= sizeof(o->host))
        die_opt("--redis-url", url, "a host is required (no password)");
    memcpy(o->host, h, (size_t)(hend - h));
    o->host[hend - h] = '\0';
    if (strcmp(o->host, "localhost") == 0)
        snprintf(o->host, sizeof(o->host), "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, o->host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        die_opt("--redis-url", url, "the host must be an address in 127.0.0.0/8");
    o->port = 6379;
    if (colon != NULL) {
        char pbuf[8];
        size_t plen = (size_t)(end - colon - 1);
        if (plen == 0 || plen >= sizeof(pbuf))
            die_opt("--redis-url", url, "a port from 1 to 65535");
        memcpy(pbuf, colon + 1, plen);
        pbuf[plen] = '\0';
        o->port = (int)opt_int("--redis-url port", pbuf, 1, 65535);
    }
}

static void parse_args(opts_t *o, int argc, char **argv)
{
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 6379;
    o->channel = "bench";
    o->count = 1000;
    o->rate = 100;
    o->size = 200;
    o->drop = -1;
    o->timeout = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sse-publisher: %s needs a value (or is unknown); see --help\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--redis-url") == 0)
            parse_redis_url(o, v);
        else if (strcmp(a, "--channel") == 0)
            o->channel = v;
        else if (strcmp(a, "--count") == 0)
            o->count = opt_int(a, v, 1, 1000000000L);
        else if (strcmp(a, "--rate") == 0)
            o->rate = opt_num(a, v, 0.001, 10000000);
        else if (strcmp(a, "--size") == 0)
            o->size = opt_int(a, v, 0, MAX_PAYLOAD);
        else if (strcmp(a, "--drop") == 0)
            o->drop = opt_int(a, v, 0, 1000000000L);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout = opt_num(a, v, 0.1, 86400);
        else {
            fprintf(stderr, "sse-publisher: unknown option %s; see --help\n", a);
            exit(2);
        }
    }
    if (o->timeout < 0)
        o->timeout = 2.0 * (double)o->count / o->rate + 10;
    /* The channel goes into the JSON report as is. */
    for (const char *p = o->channel; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f)
            die_opt("--channel", o->channel, "printable ASCII without spaces, quotes, backslashes");
    if (o->channel[0] == '\0')
        die_opt("--channel", o->channel, "a channel name is required");
}

/* Builds the payload of seq into buf (size + 64 bytes) and returns its length. */
static size_t payload(char *buf, long size, long seq, int64_t ts_us)
{
    int n = snprintf(buf, 64, "%ld %" PRId64 " ", seq, ts_us);
    size_t len = (size_t)n;
    if ((long)len < size) {
        memset(buf + len, 'x', (size_t)size - len);
        len = (size_t)size;
    }
    return len;
}

/* Reads the replies of n pipelined PUBLISHes. Returns -1 when the link failed. */
static int read_replies(redisContext *rc, long n, stats_t *st)
{
    for (long i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK || r == NULL) {
            st->errors += n - i;
            return -1;
        }
        if (r->type == REDIS_REPLY_INTEGER) {
            st->sent++;
            if (st->recv_min < 0 || r->integer < st->recv_min)
                st->recv_min = r->integer;
            if (r->integer > st->recv_max)
                st->recv_max = r->integer;
        } else {
            st->errors++;
        }
        freeReplyObject(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof(o));
    parse_args(&o, argc, argv);

    struct timeval tv = {5, 0};
    redisContext *rc = redisConnectWithTimeout(o.host, o.port, tv);
    if (rc == NULL || rc->err) {
        fprintf(stderr, "sse-publisher: cannot connect to %s:%d: %s\n", o.host, o.port,
                rc ? rc->errstr : "out of memory");
        return 1;
    }
    redisSetTimeout(rc, tv);
    char *buf = malloc((size_t)o.size + 64);
    if (buf == NULL) {
        fprintf(stderr, "sse-publisher: out of memory\n");
        return 1;
    }

    stats_t st = {0, 0, -1, 0, 0, 0};
    const char *stop = "done";
    int64_t start = clock_ns(CLOCK_MONOTONIC);
    int64_t hard_end = start + (int64_t)(o.timeout * 1e9), t_last = start;
    long slot = 0; /* the next sequence number, dropped or not */
    while (slot < o.count) {
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now >= hard_end) {
            stop = "timeout";
            break;
        }
        /* Everything whose deadline has passed goes out now, in one pipeline. */
        long due = (long)floor((double)(now - start) * o.rate / 1e9) + 1;
        if (due > o.count)
            due = o.count;
        if (due - slot > MAX_BATCH)
            due = slot + MAX_BATCH;
        long queued = 0;
        int append_failed = 0;
        for (; slot < due; slot++) {
            if (slot == o.drop)
                continue;
            int64_t ts = clock_ns(CLOCK_REALTIME) / 1000;
            size_t len = payload(buf, o.size, slot, ts);
            if (redisAppendCommand(rc, "PUBLISH %s %b", o.channel, buf, len) != REDIS_OK) {
                append_failed = 1;
                break;
            }
            queued++;
            if (st.first_ts == 0)
                st.first_ts = ts;
            st.last_ts = ts;
        }
        t_last = clock_ns(CLOCK_MONOTONIC);
        if (read_replies(rc, queued, &st) != 0) {
            fprintf(stderr, "sse-publisher: redis: %s\n", rc->errstr);
            stop = "redis_error";
            break;
        }
        if (append_failed) {
            fprintf(stderr, "sse-publisher: out of memory\n");
            stop = "out_of_memory";
            break;
        }
        if (slot >= o.count)
            break;
        /* Sleep to the absolute deadline of the next message, so pacing
         * errors do not accumulate. */
        int64_t deadline = start + (int64_t)ceil((double)slot * 1e9 / o.rate);
        struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    double elapsed = (double)(t_last - start) / 1e9;
    long first_to_last = o.count - 1;
    double achieved = elapsed > 0 ? (double)first_to_last / elapsed : 0;

    printf("{\"tool\":\"sse-publisher\",\"channel\":\"%s\",\"stop\":\"%s\",\"count\":%ld,"
           "\"sent\":%ld,\"dropped_seq\":%ld,\"errors\":%ld,\"size\":%ld,\"rate_target\":%.3f,"
           "\"rate_achieved\":%.3f,\"elapsed_s\":%.3f,\"receivers_min\":%lld,"
           "\"receivers_max\":%lld,\"first_ts_us\":%" PRId64 ",\"last_ts_us\":%" PRId64 "}\n",
           o.channel, stop, o.count, st.sent, o.drop, st.errors, o.size, o.rate, achieved, elapsed,
           st.recv_min < 0 ? 0 : st.recv_min, st.recv_max, st.first_ts, st.last_ts);
    fprintf(stderr, "sse-publisher: %ld sent in %.3f s (%.1f msg/s, target %.1f), %ld errors\n",
            st.sent, elapsed, achieved, o.rate, st.errors);
    free(buf);
    redisFree(rc);
    return strcmp(stop, "done") == 0 && st.errors == 0 ? 0 : 1;
}
