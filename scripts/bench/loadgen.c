/* sse-loadgen: holds many SSE streams over loopback (plain epoll), measures what they receive. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "http_resp.h"
#include "sse_parse.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2+: pick the port at connect(), per 4-tuple */
#endif

#define FD_RESERVE 64        /* descriptors kept for stdio, epoll, the ready file */
#define READ_BUF (64 * 1024) /* bytes read per readable event */
#define MAX_EVENTS 512       /* epoll events taken per wait */
#define MAX_WAIT_MS 100      /* longest epoll wait: timers are checked at least this often */

/* Why a connection failed before its stream started, or ended early. */
typedef enum fail_e {
    F_REFUSED,      /* connect: ECONNREFUSED */
    F_ADDR,         /* connect: EADDRNOTAVAIL (out of source ports) */
    F_CONNECT,      /* connect: another errno */
    F_TIMEOUT,      /* no response head within --connect-timeout */
    F_STATUS,       /* response status not 200 */
    F_HEAD,         /* response head malformed, too large, or not an event stream */
    F_EARLY_CLOSE,  /* closed or reset before the head */
    F_STREAM_CLOSE, /* stream closed by the server after it started */
    F_STREAM_ERROR, /* read error, chunk or SSE parse error on a started stream */
    F_COUNT
} fail_t;

static const char *const fail_names[F_COUNT] = {
    "refused",   "addr_unavailable",   "connect_error",    "timeout",     "http_status",
    "http_head", "closed_before_head", "closed_by_server", "stream_error"};

typedef enum cstate_e {
    C_NEW = 0,    /* not started */
    C_CONNECTING, /* connect() in progress */
    C_SENDING,    /* writing the request */
    C_HEAD,       /* reading the response head */
    C_STREAM,     /* the stream is open */
    C_CLOSED      /* failed, dropped, or closed at the end */
} cstate_t;

typedef struct lg_s lg_t;

typedef struct conn_s {
    int fd;           /* socket, -1 when none */
    uint8_t state;    /* cstate_t */
    uint8_t complete; /* saw the last expected sequence number */
    uint8_t streamed; /* the stream started (it counts in the totals) */
    uint16_t req_off; /* request bytes written */
    int64_t t_start;  /* monotonic µs when connect() was called */
    lg_t *lg;         /* the run this connection belongs to */
    hr_t http;        /* response head and body framing */
    ssep_t parser;    /* event-stream parser (stream mode only) */
    bc_seq_t seq;     /* sequence tracking of the counted event type */
} conn_t;

typedef struct opts_s {
    const char *url;        /* http://HOST:PORT/PATH */
    long connections;       /* streams to open */
    double ramp_rate;       /* connects started per second */
    long max_pending;       /* connects allowed in flight (before the head) */
    long sources;           /* source addresses 127.0.0.1 .. 127.0.0.K */
    const char *event;      /* event type whose payloads are counted */
    uint64_t expect;        /* messages the publisher sends, 0 when unknown */
    double duration;        /* seconds to run after the ramp */
    double timeout;         /* hard cap on the whole run, seconds */
    double connect_timeout; /* seconds from connect() to the response head */
    double progress;        /* seconds between progress lines, 0 for none */
    long max_line;          /* SSE parser line bound */
    int idle;               /* hold streams without parsing them */
    const char *ready_file; /* written when the ramp is over */
} opts_t;

struct lg_s {
    opts_t o;                /* options */
    char host[64];           /* destination address text */
    struct sockaddr_in dst;  /* destination */
    char path[1024];         /* request target */
    char req[1300];          /* the request bytes */
    size_t req_len;          /* bytes in req */
    size_t event_len;        /* strlen(o.event) */
    int ep;                  /* epoll descriptor */
    conn_t *conns;           /* o.connections entries */
    long started;            /* connections started */
    long pending;            /* connections before their head */
    long established;        /* streams that started */
    long open;               /* streams open now */
    long failed;             /* connections that never started a stream */
    long dropped;            /* streams that ended before the run */
    long complete;           /* streams that saw the last expected number */
    long waiting;            /* open streams that have not seen it yet */
    uint64_t fails[F_COUNT]; /* failures by reason */
    uint64_t events;         /* events of the counted type with a valid payload */
    uint64_t other_events;   /* events of other types (connected, heartbeat, ...) */
    uint64_t malformed;      /* counted-type events whose payload did not parse */
    uint64_t bytes;          /* body bytes received */
    int64_t now_real;        /* CLOCK_REALTIME µs of the read being parsed */
    int64_t t0, t_ramp_end;  /* monotonic µs: start, end of the ramp (0 until then) */
    bc_hist_t latency;       /* receive time - publish time, µs */
    bc_hist_t connect;       /* connect() to response head, µs */
    char buf[READ_BUF];      /* read buffer shared by every connection */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sse-loadgen --url http://127.0.0.1:PORT/events?channels=C [options]\n"
            "  --connections N      streams to open (default 100)\n"
            "  --ramp-rate R        connects started per second (default 2000)\n"
            "  --max-pending P      connects in flight at once (default 256)\n"
            "  --sources K          bind round-robin to 127.0.0.1 .. 127.0.0.K (default 1)\n"
            "  --event NAME         event type whose payloads \"<seq> <ts_us> ...\" are counted\n"
            "                       (default bench)\n"
            "  --expect M           the publisher sends seq 0..M-1: stop once every stream saw\n"
            "                       M-1; missing counts the tail too (default 0: unknown)\n"
            "  --duration S         seconds to run after the ramp (default 30)\n"
            "  --timeout S          hard cap on the whole run (default duration + 60)\n"
            "  --connect-timeout S  seconds from connect() to the response head (default 10)\n"
            "  --idle               hold the streams without parsing (memory measurements)\n"
            "  --ready-file PATH    written (\"established failed\") when the ramp is over\n"
            "  --progress S         seconds between progress lines on stderr (default 5, 0 off)\n"
            "  --max-line BYTES     SSE line bound (default 65536)\n"
            "One JSON line goes to stdout at the end; progress and a summary to stderr.\n"
            "Loopback only: the host must be in 127.0.0.0/8.\n");
}

static void die_opt(const char *flag, const char *value, const char *allowed)
{
    fprintf(stderr, "sse-loadgen: invalid %s '%s': %s\n", flag, value, allowed);
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

/* Splits http://HOST[:PORT][/PATH] and checks the host is IPv4 loopback. */
static void parse_url(lg_t *lg)
{
    const char *u = lg->o.url;
    if (strncmp(u, "http://", 7) != 0)
        die_opt("--url", u, "http://HOST:PORT/PATH");
    const char *h = u + 7, *slash = strchr(h, '/'), *end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(end - h));
    const char *hend = colon ? colon : end;
    if (hend == h || (size_t)(hend - h) >= sizeof(lg->host))
        die_opt("--url", u, "a host is required");
    memcpy(lg->host, h, (size_t)(hend - h));
    lg->host[hend - h] = '\0';
    long port = 80;
    if (colon != NULL) {
        char pbuf[8];
        size_t plen = (size_t)(end - colon - 1);
        if (plen == 0 || plen >= sizeof(pbuf))
            die_opt("--url", u, "a port from 1 to 65535");
        memcpy(pbuf, colon + 1, plen);
        pbuf[plen] = '\0';
        port = opt_int("--url port", pbuf, 1, 65535);
    }
    if (strlen(slash ? slash : "/") >= sizeof(lg->path))
        die_opt("--url", u, "a path under 1024 bytes");
    snprintf(lg->path, sizeof(lg->path), "%s", slash ? slash : "/");
    if (strcmp(lg->host, "localhost") == 0)
        snprintf(lg->host, sizeof(lg->host), "127.0.0.1");
    memset(&lg->dst, 0, sizeof(lg->dst));
    lg->dst.sin_family = AF_INET;
    lg->dst.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, lg->host, &lg->dst.sin_addr) != 1 ||
        (ntohl(lg->dst.sin_addr.s_addr) >> 24) != 127)
        die_opt("--url", u, "the host must be an address in 127.0.0.0/8");
    int n = snprintf(lg->req, sizeof(lg->req),
                     "GET %s HTTP/1.1\r\nHost: %s:%ld\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\nUser-Agent: sse-loadgen\r\n\r\n",
                     lg->path, lg->host, port);
    lg->req_len = (size_t)n;
}

static void parse_args(lg_t *lg, int argc, char **argv)
{
    opts_t *o = &lg->o;
    o->connections = 100;
    o->ramp_rate = 2000;
    o->max_pending = 256;
    o->sources = 1;
    o->event = "bench";
    o->duration = 30;
    o->timeout = -1;
    o->connect_timeout = 10;
    o->progress = 5;
    o->max_line = 65536;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--idle") == 0) {
            o->idle = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sse-loadgen: %s needs a value (or is unknown); see --help\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--connections") == 0)
            o->connections = opt_int(a, v, 1, 1000000);
        else if (strcmp(a, "--ramp-rate") == 0)
            o->ramp_rate = opt_num(a, v, 1, 1e6);
        else if (strcmp(a, "--max-pending") == 0)
            o->max_pending = opt_int(a, v, 1, 100000);
        else if (strcmp(a, "--sources") == 0)
            o->sources = opt_int(a, v, 1, 254);
        else if (strcmp(a, "--event") == 0)
            o->event = v;
        else if (strcmp(a, "--expect") == 0)
            o->expect = (uint64_t)opt_int(a, v, 0, 1000000000000L);
        else if (strcmp(a, "--duration") == 0)
            o->duration = opt_num(a, v, 0, 86400);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout = opt_num(a, v, 0.1, 86400);
        else if (strcmp(a, "--connect-timeout") == 0)
            o->connect_timeout = opt_num(a, v, 0.01, 3600);
        else if (strcmp(a, "--ready-file") == 0)
            o->ready_file = v;
        else if (strcmp(a, "--progress") == 0)
            o->progress = opt_num(a, v, 0, 3600);
        else if (strcmp(a, "--max-line") == 0)
            o->max_line = opt_int(a, v, 64, 64L * 1024 * 1024);
        else {
            fprintf(stderr, "sse-loadgen: unknown option %s; see --help\n", a);
            exit(2);
        }
    }
    if (o->url == NULL) {
        usage(stderr);
        exit(2);
    }
    if (o->timeout < 0)
        o->timeout = o->duration + 60;
    lg->event_len = strlen(o->event);
    parse_url(lg);
}

/* Raises the descriptor limit to the hard limit; exits when n streams cannot fit. */
static void raise_nofile(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("sse-loadgen: getrlimit");
        exit(1);
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        perror("sse-loadgen: setrlimit (continuing with the soft limit)");
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)n + FD_RESERVE > rl.rlim_cur) {
        fprintf(stderr,
                "sse-loadgen: %ld connections need %ld descriptors but the limit is %llu: "
                "run several processes\n",
                n, n + FD_RESERVE, (unsigned long long)rl.rlim_cur);
        exit(2);
    }
}

/* ---- connections ---- */

/* Closes c's socket and releases its buffers; the counters stay. */
static void conn_close(lg_t *lg, conn_t *c)
{
    if (c->state == C_CONNECTING || c->state == C_SENDING || c->state == C_HEAD)
        lg->pending--;
    if (c->state == C_STREAM) {
        lg->open--;
        if (!c->complete)
            lg->waiting--;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    hr_free(&c->http);
    ssep_free(&c->parser);
}

static void conn_fail(lg_t *lg, conn_t *c, fail_t why)
{
    lg->fails[why]++;
    if (c->state == C_STREAM)
        lg->dropped++;
    else
        lg->failed++;
    conn_close(lg, c);
}

static fail_t connect_reason(int err)
{
    return err == ECONNREFUSED ? F_REFUSED : err == EADDRNOTAVAIL ? F_ADDR : F_CONNECT;
}

static void on_event(void *arg, const ssep_event_t *ev)
{
    conn_t *c = arg;
    lg_t *lg = c->lg;
    if (ev->event_len != lg->event_len || memcmp(ev->event, lg->o.event, lg->event_len) != 0) {
        lg->other_events++;
        return;
    }
    uint64_t seq;
    int64_t ts;
    if (bc_parse_payload(ev->data, ev->data_len, &seq, &ts) != 0 ||
        (lg->o.expect > 0 && seq >= lg->o.expect)) {
        lg->malformed++;
        return;
    }
    lg->events++;
    bc_seq_add(&c->seq, seq);
    bc_hist_add(&lg->latency, lg->now_real - ts, 1);
    if (lg->o.expect > 0 && seq == lg->o.expect - 1 && !c->complete) {
        c->complete = 1;
        lg->complete++;
        lg->waiting--;
    }
}

/* Handles body bytes of a started stream; may close c. */
static void conn_body(lg_t *lg, conn_t *c, char *p, size_t n)
{
    long len = hr_body(&c->http, p, n);
    if (len < 0) {
        conn_fail(lg, c, F_STREAM_ERROR);
        return;
    }
    lg->bytes += (uint64_t)len;
    if (lg->o.idle || len == 0)
        return;
    if (ssep_feed(&c->parser, p, (size_t)len) != 0) {
        fprintf(stderr, "sse-loadgen: stream %ld: %s\n", (long)(c - lg->conns),
                ssep_strerror(c->parser.err));
        conn_fail(lg, c, F_STREAM_ERROR);
    }
}

static void conn_readable(lg_t *lg, conn_t *c)
{
    ssize_t n = read(c->fd, lg->buf, sizeof(lg->buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->state == C_STREAM)
            conn_fail(lg, c, n == 0 ? F_STREAM_CLOSE : F_STREAM_ERROR);
        else
            conn_fail(lg, c, F_EARLY_CLOSE);
        return;
    }
    lg->now_real = clock_us(CLOCK_REALTIME);
    char *p = lg->buf;
    size_t len = (size_t)n;
    if (c->state == C_HEAD) {
        size_t used;
        int rc = hr_head(&c->http, p, len, &used);
        if (rc < 0) {
            conn_fail(lg, c, rc == HR_ESTATUS ? F_STATUS : F_HEAD);
            return;
        }
        if (rc == 0)
            return;
        bc_hist_add(&lg->connect, mono_us() - c->t_start, 1);
        c->state = C_STREAM;
        c->streamed = 1;
        lg->pending--;
        lg->established++;
        lg->open++;
        lg->waiting++;
        p += used;
        len -= used;
    }
    if (len > 0)
        conn_body(lg, c, p, len);
}

/* Writes (the rest of) the request; on completion waits for the response. */
static void conn_send(lg_t *lg, conn_t *c)
{
    ssize_t n = write(c->fd, lg->req + c->req_off, lg->req_len - c->req_off);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_fail(lg, c, F_EARLY_CLOSE);
        return;
    }
    c->req_off = (uint16_t)(c->req_off + n);
    if (c->req_off < lg->req_len) {
        c->state = C_SENDING;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(lg->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        conn_fail(lg, c, F_CONNECT);
        return;
    }
    c->state = C_HEAD;
}

static void conn_writable(lg_t *lg, conn_t *c)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            conn_fail(lg, c, connect_reason(err));
            return;
        }
    }
    conn_send(lg, c);
}

/* Starts connection i: socket, source bind, non-blocking connect. */
static void conn_start(lg_t *lg, long i)
{
    conn_t *c = &lg->conns[i];
    c->lg = lg;
    c->t_start = mono_us();
    c->state = C_CONNECTING;
    lg->started++;
    lg->pending++;
    hr_init(&c->http);
    bc_seq_init(&c->seq);
    if (!lg->o.idle)
        ssep_init(&c->parser, (size_t)lg->o.max_line, on_event, c);

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(lg, c, F_CONNECT);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(1 + i % lg->o.sources));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
        conn_fail(lg, c, connect_reason(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(lg->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        conn_fail(lg, c, F_CONNECT);
        return;
    }
    if (connect(c->fd, (struct sockaddr *)&lg->dst, sizeof(lg->dst)) == 0) {
        c->state = C_SENDING;
        conn_send(lg, c);
    } else if (errno != EINPROGRESS) {
        conn_fail(lg, c, connect_reason(errno));
    }
}

/* Fails connections whose head is overdue. */
static void sweep_timeouts(lg_t *lg, int64_t now)
{
    int64_t limit = (int64_t)(lg->o.connect_timeout * 1e6);
    for (long i = 0; i < lg->started && lg->pending > 0; i++) {
        conn_t *c = &lg->conns[i];
        if ((c->state == C_CONNECTING || c->state == C_SENDING || c->state == C_HEAD) &&
            now - c->t_start > limit)
            conn_fail(lg, c, F_TIMEOUT);
    }
}

static void write_ready_file(lg_t *lg)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", lg->o.ready_file) >= (int)sizeof(tmp))
        return;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "sse-loadgen: cannot write %s: %s\n", tmp, strerror(errno));
        return;
    }
    fprintf(f, "%ld %ld\n", lg->established, lg->failed);
    if (fclose(f) != 0 || rename(tmp, lg->o.ready_file) != 0)
        fprintf(stderr, "sse-loadgen: cannot write %s: %s\n", lg->o.ready_file, strerror(errno));
}

/* ---- the run ---- */

/* Runs until a stop condition; returns its name. */
static const char *run(lg_t *lg)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t hard_end = lg->t0 + (int64_t)(lg->o.timeout * 1e6);
    int64_t next_sweep = lg->t0, next_progress = lg->t0 + (int64_t)(lg->o.progress * 1e6);
    long n = lg->o.connections;

    for (;;) {
        int64_t now = mono_us();
        if (got_signal)
            return "signal";
        if (now >= hard_end)
            return "timeout";

        /* The ramp: start what the rate and the in-flight cap allow. */
        int wait_ms = MAX_WAIT_MS;
        if (lg->started < n) {
            double due = floor((double)(now - lg->t0) * lg->o.ramp_rate / 1e6) + 1;
            while (lg->started < n && lg->started < (long)due && lg->pending < lg->o.max_pending)
                conn_start(lg, lg->started);
            if (lg->started < n)
                wait_ms = 1;
        } else if (lg->t_ramp_end == 0 && lg->pending == 0) {
            lg->t_ramp_end = now;
            fprintf(stderr, "sse-loadgen: ramp over in %.2f s: %ld established, %ld failed\n",
                    (double)(now - lg->t0) / 1e6, lg->established, lg->failed);
            if (lg->o.ready_file != NULL)
                write_ready_file(lg);
        }

        if (lg->t_ramp_end != 0) {
            if (now >= lg->t_ramp_end + (int64_t)(lg->o.duration * 1e6))
                return "duration";
            /* Every stream is complete or gone: nothing more can arrive. */
            if (!lg->o.idle && lg->o.expect > 0 && lg->waiting == 0)
                return lg->established > 0 ? "expect" : "no_streams";
        }
        if (now >= next_sweep) {
            sweep_timeouts(lg, now);
            next_sweep = now + 100000;
        }
        if (lg->o.progress > 0 && now >= next_progress) {
            fprintf(stderr,
                    "sse-loadgen: t=%.1fs open=%ld failed=%ld dropped=%ld events=%" PRIu64
                    " complete=%ld\n",
                    (double)(now - lg->t0) / 1e6, lg->open, lg->failed, lg->dropped, lg->events,
                    lg->complete);
            next_progress = now + (int64_t)(lg->o.progress * 1e6);
        }

        int k = epoll_wait(lg->ep, evs, MAX_EVENTS, wait_ms);
        if (k < 0 && errno != EINTR) {
            perror("sse-loadgen: epoll_wait");
            return "error";
        }
        for (int i = 0; i < k; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->state == C_CONNECTING || c->state == C_SENDING)
                conn_writable(lg, c);
            else if (c->state == C_HEAD || c->state == C_STREAM)
                conn_readable(lg, c);
        }
    }
}

/* ---- report ---- */

/* Writes s as a JSON string; control bytes become '?'. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
    }
    fputc('"', f);
}

static void json_hist_summary(FILE *f, const char *name, const bc_hist_t *h)
{
    fprintf(f,
            "\"%s\":{\"count\":%" PRIu64 ",\"min\":%" PRId64 ",\"p50\":%" PRId64 ",\"p90\":%" PRId64
            ",\"p99\":%" PRId64 ",\"p999\":%" PRId64 ",\"max\":%" PRId64 ",\"negative\":%" PRIu64
            ",\"overflow\":%" PRIu64 "}",
            name, h->total, h->total ? h->min : 0, bc_hist_quantile(h, 0.5),
            bc_hist_quantile(h, 0.9), bc_hist_quantile(h, 0.99), bc_hist_quantile(h, 0.999),
            h->total ? h->max : 0, h->negative, h->overflow);
}

/* The non-empty buckets as [value, count] pairs, so several runs can be merged. */
static void json_hist_buckets(FILE *f, const char *name, const bc_hist_t *h)
{
    fprintf(f, "\"%s\":[", name);
    int first = 1;
    for (size_t i = 0; i < BC_HIST_BUCKETS; i++) {
        if (h->counts[i] == 0)
            continue;
        fprintf(f, "%s[%" PRId64 ",%" PRIu64 "]", first ? "" : ",", bc_hist_value(i), h->counts[i]);
        first = 0;
    }
    fprintf(f, "]");
}

static void report(lg_t *lg, const char *stop)
{
    bc_seq_t sum;
    bc_seq_init(&sum);
    for (long i = 0; i < lg->started; i++) {
        bc_seq_t *s = &lg->conns[i].seq;
        if (!lg->conns[i].streamed)
            continue;
        bc_seq_finish(s, lg->o.idle ? 0 : lg->o.expect);
        sum.received += s->received;
        sum.missing += s->missing;
        sum.duplicates += s->duplicates;
        sum.reordered += s->reordered;
        sum.stale += s->stale;
    }
    double elapsed = (double)(mono_us() - lg->t0) / 1e6;
    double ramp = lg->t_ramp_end ? (double)(lg->t_ramp_end - lg->t0) / 1e6 : elapsed;

    FILE *f = stdout;
    fprintf(f, "{\"tool\":\"sse-loadgen\",\"mode\":\"%s\",\"pid\":%ld,\"url\":",
            lg->o.idle ? "idle" : "stream", (long)getpid());
    json_str(f, lg->o.url);
    fprintf(f, ",\"event\":");
    json_str(f, lg->o.event);
    fprintf(f, ",\"stop\":\"%s\",\"elapsed_s\":%.3f,\"ramp_s\":%.3f,", stop, elapsed, ramp);
    fprintf(f,
            "\"connections_requested\":%ld,\"connections_established\":%ld,"
            "\"connections_failed\":%ld,\"connections_dropped\":%ld,\"connections_open\":%ld,"
            "\"connections_complete\":%ld,",
            lg->o.connections, lg->established, lg->failed + (lg->o.connections - lg->started),
            lg->dropped, lg->open, lg->complete);
    fprintf(f, "\"failures\":{");
    for (int i = 0; i < F_COUNT; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", fail_names[i], lg->fails[i]);
    fprintf(f, "},");
    fprintf(f,
            "\"expect\":%" PRIu64 ",\"events\":%" PRIu64 ",\"other_events\":%" PRIu64
            ",\"malformed\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"duplicates\":%" PRIu64
            ",\"reordered\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"bytes\":%" PRIu64 ",",
            lg->o.expect, lg->events, lg->other_events, lg->malformed, sum.missing, sum.duplicates,
            sum.reordered, sum.stale, lg->bytes);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(f, "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"max_rss_kb\":%ld,",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
    json_hist_summary(f, "latency_us", &lg->latency);
    fprintf(f, ",");
    json_hist_summary(f, "connect_us", &lg->connect);
    fprintf(f, ",");
    json_hist_buckets(f, "latency_hist", &lg->latency);
    fprintf(f, ",");
    json_hist_buckets(f, "connect_hist", &lg->connect);
    fprintf(f, "}\n");
    fflush(f);

    fprintf(stderr,
            "sse-loadgen: stop=%s after %.2f s; %ld/%ld established, %ld failed, %ld dropped\n",
            stop, elapsed, lg->established, lg->o.connections,
            lg->failed + (lg->o.connections - lg->started), lg->dropped);
    if (!lg->o.idle)
        fprintf(stderr,
                "sse-loadgen: events=%" PRIu64 " missing=%" PRIu64 " duplicates=%" PRIu64
                " reordered=%" PRIu64 " latency p50=%" PRId64 "us p99=%" PRId64 "us max=%" PRId64
                "us\n",
                lg->events, sum.missing, sum.duplicates, sum.reordered,
                bc_hist_quantile(&lg->latency, 0.5), bc_hist_quantile(&lg->latency, 0.99),
                lg->latency.total ? lg->latency.max : 0);
}

int main(int argc, char **argv)
{
    lg_t *lg = calloc(1, sizeof(*lg));
    if (lg == NULL) {
        fprintf(stderr, "sse-loadgen: out of memory\n");
        return 1;
    }
    parse_args(lg, argc, argv);
    raise_nofile(lg->o.connections);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    lg->conns = calloc((size_t)lg->o.connections, sizeof(conn_t));
    lg->ep = epoll_create1(EPOLL_CLOEXEC);
    if (lg->conns == NULL || lg->ep < 0) {
        fprintf(stderr, "sse-loadgen: cannot set up: %s\n", strerror(errno));
        return 1;
    }
    for (long i = 0; i < lg->o.connections; i++)
        lg->conns[i].fd = -1;
    bc_hist_init(&lg->latency);
    bc_hist_init(&lg->connect);

    lg->t0 = mono_us();
    const char *stop = run(lg);
    report(lg, stop);

    for (long i = 0; i < lg->started; i++)
        if (lg->conns[i].state != C_CLOSED)
            conn_close(lg, &lg->conns[i]);
    close(lg->ep);
    free(lg->conns);
    free(lg);
    return 0;
}
