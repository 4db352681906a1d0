/* sse-publisher: PUBLISHes (Redis) or POSTs (HTTP, e.g. Nchan) numbered, timestamped messages at
 * a fixed rate for the benchmarks. */
#define _GNU_SOURCE /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_resp.h"

#define MAX_BATCH 1000        /* messages pipelined before reading their replies */
#define MAX_PAYLOAD (1 << 24) /* --size bound: 16 MiB */
#define MAX_HTTP_CONNS 64     /* --http-conns bound */

typedef struct opts_s {
    char host[64];       /* Redis address (loopback) */
    int port;            /* Redis port */
    const char *channel; /* channel to publish on */
    long count;          /* messages: seq 0 .. count-1 */
    double rate;         /* messages per second */
    long size;           /* payload bytes (at least the "<seq> <ts_us> " prefix) */
    long drop;           /* seq left out, -1 for none */
    double timeout;      /* hard cap on the run, seconds */
    int http;            /* POST to http_host:http_port http_path instead of PUBLISH */
    char http_host[64];  /* HTTP target address (loopback) */
    int http_port;       /* HTTP target port */
    char http_path[512]; /* request target of the POSTs */
    long http_conns;     /* keep-alive connections */
    long http_depth;     /* requests in flight per connection */
} opts_t;

typedef struct stats_s {
    long sent;          /* PUBLISH commands answered */
    long errors;        /* error or missing replies */
    long late;          /* messages sent more than LATE_NS after their deadline */
    long reconnects;    /* HTTP: connections reopened after the server closed one */
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
            "  --http HOST:PORT/PATH  POST each payload to http://HOST:PORT/PATH instead (e.g.\n"
            "                   Nchan's publisher location); answers must be 2xx\n"
            "  --http-conns K   keep-alive connections for --http (default 1; each batch of\n"
            "                   due messages goes, pipelined, to the least busy one)\n"
            "  --http-depth D   requests in flight per connection (default 256); when all are\n"
            "                   full, messages wait (counted as late, stamped when sent)\n"
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

/* HOST:PORT/PATH (an http:// prefix allowed): the host must be IPv4 loopback. */
static void parse_http(opts_t *o, const char *v)
{
    const char *h = strncmp(v, "http://", 7) == 0 ? v + 7 : v;
    const char *slash = strchr(h, '/'), *end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(end - h));
    if (colon == NULL || colon == h || (size_t)(colon - h) >= sizeof(o->http_host))
        die_opt("--http", v, "HOST:PORT/PATH");
    memcpy(o->http_host, h, (size_t)(colon - h));
    o->http_host[colon - h] = '\0';
    if (strcmp(o->http_host, "localhost") == 0)
        snprintf(o->http_host, sizeof(o->http_host), "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, o->http_host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        die_opt("--http", v, "the host must be an address in 127.0.0.0/8");
    char pbuf[8];
    size_t plen = (size_t)(end - colon - 1);
    if (plen == 0 || plen >= sizeof(pbuf))
        die_opt("--http", v, "a port from 1 to 65535");
    memcpy(pbuf, colon + 1, plen);
    pbuf[plen] = '\0';
    o->http_port = (int)opt_int("--http port", pbuf, 1, 65535);
    const char *path = slash ? slash : "/";
    if (strlen(path) >= sizeof(o->http_path))
        die_opt("--http", v, "a path under 512 bytes");
    for (const char *q = path; *q; q++)
        if (*q <= ' ' || *q == 0x7f)
            die_opt("--http", v, "a path without spaces or control bytes");
    snprintf(o->http_path, sizeof(o->http_path), "%s", path);
    o->http = 1;
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
    o->http_conns = 1;
    o->http_depth = 256;
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
        else if (strcmp(a, "--http") == 0)
            parse_http(o, v);
        else if (strcmp(a, "--http-conns") == 0)
            o->http_conns = opt_int(a, v, 1, MAX_HTTP_CONNS);
        else if (strcmp(a, "--http-depth") == 0)
            o->http_depth = opt_int(a, v, 1, 100000);
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

/* ---- HTTP mode ---- */

#define HTTP_READ_BUF 65536 /* bytes read per readable event */
#define LATE_NS 5000000     /* a message sent this long after its deadline counts as late */

typedef struct hconn_s {
    int fd;          /* socket, -1 when closed */
    char *out;       /* request bytes not yet written */
    size_t out_off;  /* bytes of out already written */
    size_t out_len;  /* bytes in out */
    size_t out_cap;  /* bytes allocated */
    long inflight;   /* requests queued or written, not answered yet */
    int closing;     /* the server asked to close: no new requests */
    hrr_t rd;        /* reply framing */
} hconn_t;

typedef struct http_s {
    const opts_t *o;
    stats_t *st;
    struct sockaddr_in dst;
    hconn_t c[MAX_HTTP_CONNS];
    hconn_t *cur;     /* connection whose replies are being fed */
    long bad_status;  /* non-2xx answers reported on stderr so far */
    char rbuf[HTTP_READ_BUF];
} http_t;

static void on_http_reply(void *arg, int status, int close_after)
{
    http_t *h = arg;
    hconn_t *c = h->cur;
    c->inflight--;
    if (status >= 200 && status < 300) {
        h->st->sent++;
    } else {
        h->st->errors++;
        if (h->bad_status++ < 5)
            fprintf(stderr, "sse-publisher: http: answer %d\n", status);
    }
    if (close_after)
        c->closing = 1;
}

static int http_open(http_t *h, hconn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, (struct sockaddr *)&h->dst, sizeof(h->dst)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->out_off = c->out_len = 0;
    c->inflight = 0;
    c->closing = 0;
    hrr_init(&c->rd);
    return 0;
}

/* Closes c; requests it still owed answers for count as errors. */
static void http_close(http_t *h, hconn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    h->st->errors += c->inflight;
    c->inflight = 0;
    c->out_off = c->out_len = 0;
}

/* Writes what c has queued. Returns -1 when the connection failed. */
static int http_flush(hconn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Reads c's replies. Returns -1 when the connection is over. */
static int http_read(http_t *h, hconn_t *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, h->rbuf, sizeof(h->rbuf), 0);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        if (n == 0)
            return -1;
        h->cur = c;
        int rc = hrr_feed(&c->rd, h->rbuf, (size_t)n, on_http_reply, h);
        if (rc != 0) {
            fprintf(stderr, "sse-publisher: http: %s\n", hr_strerror(rc));
            return -1;
        }
        if ((size_t)n < sizeof(h->rbuf))
            return 0;
    }
}

/* Queues one POST of body on c. Returns -1 when out of memory. */
static int http_queue(http_t *h, hconn_t *c, const char *body, size_t len)
{
    char head[800];
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      h->o->http_path, h->o->http_host, h->o->http_port, len);
    size_t need = c->out_len + (size_t)hl + len;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 65536;
        while (cap < need)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (p == NULL)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, head, (size_t)hl);
    memcpy(c->out + c->out_len + (size_t)hl, body, len);
    c->out_len = need;
    c->inflight++;
    return 0;
}

/* The open, willing connection with the fewest requests in flight, or NULL when all are full. */
static hconn_t *http_pick(http_t *h)
{
    hconn_t *best = NULL;
    for (long i = 0; i < h->o->http_conns; i++) {
        hconn_t *c = &h->c[i];
        if (c->fd < 0 || c->closing || c->inflight >= h->o->http_depth)
            continue;
        if (best == NULL || c->inflight < best->inflight)
            best = c;
    }
    return best;
}

/* The HTTP publishing loop: the same pacing as the Redis one, but the
 * answers are read as they come (poll), so a slow server does not hold the
 * schedule back until every connection is full. */
static const char *run_http(const opts_t *o, char *buf, stats_t *st, int64_t *startp,
                            int64_t *t_last)
{
    http_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return "out_of_memory";
    h->o = o;
    h->st = st;
    h->dst.sin_family = AF_INET;
    h->dst.sin_port = htons((uint16_t)o->http_port);
    inet_pton(AF_INET, o->http_host, &h->dst.sin_addr);
    for (long i = 0; i < o->http_conns; i++) {
        h->c[i].fd = -1;
        if (http_open(h, &h->c[i]) != 0) {
            fprintf(stderr, "sse-publisher: cannot connect to %s:%d: %s\n", o->http_host,
                    o->http_port, strerror(errno));
            for (long j = 0; j < i; j++)
                http_close(h, &h->c[j]);
            free(h);
            return "connect_error";
        }
    }
    const char *stop = "done";
    int64_t start = clock_ns(CLOCK_MONOTONIC);
    *startp = *t_last = start;
    int64_t hard_end = start + (int64_t)(o->timeout * 1e9);
    long slot = 0;
    for (;;) {
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now >= hard_end) {
            stop = "timeout";
            break;
        }
        /* Due messages go to the least busy connection, pipelined. */
        long due = (long)floor((double)(now - start) * o->rate / 1e9) + 1;
        if (due > o->count)
            due = o->count;
        if (due - slot > MAX_BATCH)
            due = slot + MAX_BATCH;
        hconn_t *c = slot < due ? http_pick(h) : NULL;
        for (; slot < due && c != NULL; slot++) {
            if (slot == o->drop)
                continue;
            if (c->inflight >= o->http_depth && (c = http_pick(h)) == NULL)
                break;
            int64_t deadline = start + (int64_t)ceil((double)slot * 1e9 / o->rate);
            if (clock_ns(CLOCK_MONOTONIC) - deadline > LATE_NS)
                st->late++;
            int64_t ts = clock_ns(CLOCK_REALTIME) / 1000;
            size_t len = payload(buf, o->size, slot, ts);
            if (http_queue(h, c, buf, len) != 0) {
                stop = "out_of_memory";
                goto out;
            }
            if (st->first_ts == 0)
                st->first_ts = ts;
            st->last_ts = ts;
            *t_last = clock_ns(CLOCK_MONOTONIC);
        }
        long inflight = 0;
        for (long i = 0; i < o->http_conns; i++) {
            hconn_t *k = &h->c[i];
            if (k->fd >= 0 && http_flush(k) != 0)
                http_close(h, k);
            inflight += k->inflight;
        }
        if (slot >= o->count && inflight == 0)
            break;

        /* Connections the server closed (after answering all) are reopened. */
        struct pollfd pfd[MAX_HTTP_CONNS];
        for (long i = 0; i < o->http_conns; i++) {
            hconn_t *k = &h->c[i];
            if (k->fd >= 0 && k->closing && k->inflight == 0)
                http_close(h, k);
            if (k->fd < 0 && slot < o->count) {
                if (http_open(h, k) == 0)
                    st->reconnects++;
            }
            pfd[i].fd = k->fd;
            pfd[i].events = (short)(POLLIN | (k->out_off < k->out_len ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        /* Wait for an answer, or the next message's deadline. */
        int64_t wake = hard_end;
        if (slot < o->count) {
            int64_t next = start + (int64_t)ceil((double)slot * 1e9 / o->rate);
            if (http_pick(h) == NULL && next < now + 1000000)
                next = now + 1000000; /* all full: answers first */
            if (next < wake)
                wake = next;
        }
        now = clock_ns(CLOCK_MONOTONIC);
        int64_t wait = wake > now ? wake - now : 0;
        if (wait > 100000000)
            wait = 100000000;
        struct timespec tmo = {(time_t)(wait / 1000000000), (long)(wait % 1000000000)};
        int k = ppoll(pfd, (nfds_t)o->http_conns, &tmo, NULL);
        if (k < 0 && errno != EINTR) {
            stop = "poll_error";
            break;
        }
        for (long i = 0; i < o->http_conns && k > 0; i++) {
            hconn_t *hc = &h->c[i];
            if (hc->fd < 0 || pfd[i].revents == 0)
                continue;
            if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && http_read(h, hc) != 0) {
                http_close(h, hc);
                continue;
            }
            if ((pfd[i].revents & POLLOUT) && http_flush(hc) != 0)
                http_close(h, hc);
        }
    }
out:
    for (long i = 0; i < o->http_conns; i++) {
        http_close(h, &h->c[i]);
        free(h->c[i].out);
    }
    free(h);
    return stop;
}

int main(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof(o));
    parse_args(&o, argc, argv);
    signal(SIGPIPE, SIG_IGN);

    char *buf = malloc((size_t)o.size + 64);
    if (buf == NULL) {
        fprintf(stderr, "sse-publisher: out of memory\n");
        return 1;
    }
    stats_t st = {0, 0, 0, 0, -1, 0, 0, 0};
    const char *stop = "done";
    redisContext *rc = NULL;
    int64_t start = clock_ns(CLOCK_MONOTONIC);
    int64_t t_last = start;
    if (o.http) {
        stop = run_http(&o, buf, &st, &start, &t_last);
        goto report;
    }

    struct timeval tv = {5, 0};
    rc = redisConnectWithTimeout(o.host, o.port, tv);
    if (rc == NULL || rc->err) {
        fprintf(stderr, "sse-publisher: cannot connect to %s:%d: %s\n", o.host, o.port,
                rc ? rc->errstr : "out of memory");
        return 1;
    }
    redisSetTimeout(rc, tv);
    start = clock_ns(CLOCK_MONOTONIC);
    t_last = start;
    int64_t hard_end = start + (int64_t)(o.timeout * 1e9);
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
            int64_t deadline = start + (int64_t)ceil((double)slot * 1e9 / o.rate);
            if (clock_ns(CLOCK_MONOTONIC) - deadline > LATE_NS)
                st.late++;
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
report:;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double elapsed = (double)(t_last - start) / 1e9;
    long first_to_last = o.count - 1;
    double achieved = elapsed > 0 ? (double)first_to_last / elapsed : 0;

    printf("{\"tool\":\"sse-publisher\",\"channel\":\"%s\",\"stop\":\"%s\",\"count\":%ld,"
           "\"mode\":\"%s\",\"sent\":%ld,\"dropped_seq\":%ld,\"errors\":%ld,\"late\":%ld,"
           "\"reconnects\":%ld,\"size\":%ld,\"rate_target\":%.3f,"
           "\"rate_achieved\":%.3f,\"elapsed_s\":%.3f,\"receivers_min\":%lld,"
           "\"receivers_max\":%lld,\"first_ts_us\":%" PRId64 ",\"last_ts_us\":%" PRId64
           ",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
           o.channel, stop, o.count, o.http ? "http" : "redis", st.sent, o.drop, st.errors, st.late,
           st.reconnects, o.size, o.rate, achieved, elapsed,
           st.recv_min < 0 ? 0 : st.recv_min, st.recv_max, st.first_ts, st.last_ts,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    fprintf(stderr, "sse-publisher: %ld sent in %.3f s (%.1f msg/s, target %.1f), %ld errors\n",
            st.sent, elapsed, achieved, o.rate, st.errors);
    free(buf);
    if (rc != NULL)
        redisFree(rc);
    return strcmp(stop, "done") == 0 && st.errors == 0 ? 0 : 1;
}
