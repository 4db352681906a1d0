/* Command-line and environment configuration: one table row per option. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "text.h"

/* Values echoed in error messages are cut to this many bytes, so that the
 * explanation after them always fits. */
#define CFG_SHOWN_MAX 80
#define CFG_WHY_MAX 256

typedef struct opt_s opt_t;

/* Parses text into the field the row describes. Returns 0, or -1 with what
 * is allowed ("expected ...") in why. */
typedef int (*opt_set_fn)(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);

struct opt_s {
    const char *name;    /* flag without the leading "--" */
    const char *env;     /* environment variable */
    const char *metavar; /* placeholder shown in --help */
    opt_set_fn set;      /* the kind of value: parses and stores it */
    long min;            /* integers: smallest value; lists: 1 when it must not be empty */
    long max;            /* integers: largest value */
    size_t offset;       /* the field in cfg_t the setter writes */
    const char *def;     /* default as text; NULL when computed at run time */
    const char *help;    /* meaning, for --help */
};

static int set_int(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_long(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_listen(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_redis(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_chanlist(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_cidrs(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_id(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_level(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_log_format(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_bool(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_prefix(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_limit_response(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_io_uring(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_secret(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_secret_file(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);
static int set_origins(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen);

#define OFF(field) offsetof(cfg_t, field)

static const opt_t opts[] = {
    {"listen", "SSE_LISTEN", "HOST:PORT", set_listen, 0, 65535, 0, "0.0.0.0:8080",
     "address to listen on: an IPv4 address, [IPv6] address or hostname, and a port (0 = any free "
     "port)"},
    {"redis-url", "SSE_REDIS_URL", "URL", set_redis, 0, 0, 0, "redis://127.0.0.1:6379",
     "Redis to subscribe to, as redis://[:password@]host[:port][/db], or a master found and "
     "followed through failovers by Sentinel, as "
     "redis-sentinel://[:password@]host[:port][,host[:port]...]/master[/db]"},
    {"channels", "SSE_CHANNELS", "LIST", set_chanlist, 1, 0, OFF(channels),
     "summary_progress,summary_complete,system",
     "comma-separated channels browsers may subscribe to; 'prefix*' allows a family"},
    {"flask-channels", "SSE_FLASK_CHANNELS", "LIST", set_chanlist, 0, 0, OFF(flask_channels), "sse",
     "channels carrying flask-sse JSON messages (may be empty)"},
    {"heartbeat-interval", "SSE_HEARTBEAT_INTERVAL", "S", set_int, 1, 3600, OFF(heartbeat_interval),
     "30", "seconds between heartbeat comments on idle streams"},
    {"max-connections", "SSE_MAX_CONNECTIONS", "N", set_int, 1, 1000000, OFF(max_connections),
     "500", "most open streams, cluster-wide"},
    {"max-connections-per-ip", "SSE_MAX_CONNECTIONS_PER_IP", "N", set_int, 1, 1000000,
     OFF(max_connections_per_ip), "10", "most open streams per client IP, cluster-wide"},
    {"health-check-interval", "SSE_HEALTH_CHECK_INTERVAL", "S", set_int, 1, 86400,
     OFF(health_check_interval), "60",
     "seconds between health checks (connections, error rate, latency, Redis, alerts)"},
    {"health-history", "SSE_HEALTH_HISTORY", "N", set_int, 1, 10000, OFF(health_history), "60",
     "health checks kept in /sse/metrics' history"},
    {"compression-threshold", "SSE_COMPRESSION_THRESHOLD", "BYTES", set_long, 0, 67108864,
     OFF(compression_threshold), "1024", "gzip payloads larger than this many bytes"},
    {"compression", "SSE_COMPRESSION", "[on|off]", set_bool, 0, 0, OFF(compression), "on",
     "gzip streams for clients that accept it (\"--compression\" alone = on)"},
    {"compression-level", "SSE_COMPRESSION_LEVEL", "N", set_int, 1, 9, OFF(compression_level), "6",
     "zlib level for payloads above the threshold (smaller ones go stored)"},
    {"redis-probe-timeout", "SSE_REDIS_PROBE_TIMEOUT", "MS", set_int, 100, 600000,
     OFF(redis_probe_timeout), "3000",
     "a probe published every third of this must arrive within it, or the subscriber reconnects"},
    {"history", "SSE_HISTORY", "[on|off]", set_bool, 0, 0, OFF(history), "on",
     "replay retained events (the publisher's history streams) to clients resuming with Last-Event-ID"},
    {"trusted-proxies", "SSE_TRUSTED_PROXIES", "CIDRS", set_cidrs, 0, 0, OFF(trusted_proxies), "",
     "comma-separated addresses/CIDRs whose X-Forwarded-For is believed"},
    {"bridge-id", "SSE_BRIDGE_ID", "ID", set_id, 0, 0, OFF(bridge_id), NULL,
     "this replica's id, 1 to 64 characters of [A-Za-z0-9_.:-]"},
    {"log-level", "SSE_LOG_LEVEL", "LEVEL", set_level, 0, 0, OFF(log_level), "info",
     "least severe messages logged: debug, info, warn or error"},
    {"log-format", "SSE_LOG_FORMAT", "FORMAT", set_log_format, 0, 0, OFF(log_format), "text",
     "log line format: text (for people), logfmt or json (one object per line)"},
    {"max-queue-bytes", "SSE_MAX_QUEUE_BYTES", "N", set_long, 4096, 1073741824,
     OFF(max_queue_bytes), "1048576", "bytes queued for one slow stream before it is closed"},
    {"max-message-bytes", "SSE_MAX_MESSAGE_BYTES", "N", set_long, 64, 67108864,
     OFF(max_message_bytes), "1048576", "larger Redis messages are dropped"},
    {"max-channels-per-connection", "SSE_MAX_CHANNELS_PER_CONNECTION", "N", set_int, 1, 256,
     OFF(max_channels_per_conn), "16", "channels one stream may subscribe to"},
    {"max-url-bytes", "SSE_MAX_URL_BYTES", "N", set_int, 256, 65536, OFF(max_url_bytes), "2048",
     "longer request targets are answered 414"},
    {"max-header-bytes", "SSE_MAX_HEADER_BYTES", "N", set_int, 1024, 65536, OFF(max_header_bytes),
     "8192", "more request header bytes (names and values) are answered 431"},
    {"max-headers", "SSE_MAX_HEADERS", "N", set_int, 8, 1000, OFF(max_headers), "100",
     "more request header lines are answered 431"},
    {"header-timeout", "SSE_HEADER_TIMEOUT", "S", set_int, 1, 3600, OFF(header_timeout), "10",
     "seconds a client has to send a complete request"},
    {"drain-timeout", "SSE_DRAIN_TIMEOUT", "S", set_int, 0, 3600, OFF(drain_timeout), "10",
     "seconds streams get to drain on shutdown"},
    {"retry-ms", "SSE_RETRY_MS", "N", set_int, 100, 600000, OFF(retry_ms), "3000",
     "base of the jittered \"retry:\" reconnect delay sent to browsers, in ms"},
    {"reuseport", "SSE_REUSEPORT", "[on|off]", set_bool, 0, 0, OFF(reuseport), "off",
     "listen with SO_REUSEPORT so several processes share the port (\"--reuseport\" alone = on)"},
    {"coalesce-ms", "SSE_COALESCE_MS", "MS", set_int, 0, 1000, OFF(coalesce_ms), "0",
     "hold writes up to this many ms to batch them (0 = write every loop iteration)"},
    {"io-uring", "SSE_IO_URING", "MODE", set_io_uring, 0, 0, OFF(io_uring), "auto",
     "send a flush's writes in one io_uring system call: 'auto' uses it where the kernel allows, "
     "'on' refuses to start without it, 'off' writes one connection at a time"},
    {"lease-ms", "SSE_LEASE_MS", "MS", set_int, 300, 600000, OFF(lease_ms), "15000",
     "this replica's lease in the cluster pool; renewed every third of it, a dead replica's "
     "connections are freed when it expires"},
    {"limit-response", "SSE_LIMIT_RESPONSE", "MODE", set_limit_response, 0, 0,
     OFF(limit_response_retry), "status",
     "over a connection limit: 'status' answers 429 with Retry-After, 'retry' answers 200 with a "
     "jittered retry: and event: limit (a plain EventSource stops for good on any non-200)"},
    {"redis-prefix", "SSE_REDIS_PREFIX", "PREFIX", set_prefix, 0, 0, OFF(redis_prefix), "{sse}:",
     "prefix of the cluster's Redis keys; keep a {hash tag} so Redis Cluster puts them in one slot"},
    {"auth-secret", "SSE_AUTH_SECRET", "SECRET", set_secret, 0, 0, 0, "",
     "HS256 key (32 to 1024 bytes) the app signs client tokens with; when set, /events needs a "
     "token (token= or Authorization: Bearer) for every channel that is not public"},
    {"auth-secret-file", "SSE_AUTH_SECRET_FILE", "PATH", set_secret_file, 0, 0, 0, "",
     "read the HS256 key from this file (one trailing newline is dropped)"},
    {"public-channels", "SSE_PUBLIC_CHANNELS", "LIST", set_chanlist, 0, 0, OFF(public_channels), "",
     "channels (or prefix* families) anyone may subscribe to without a token"},
    {"token-skew", "SSE_TOKEN_SKEW", "S", set_int, 0, 600, OFF(token_skew), "30",
     "seconds of clock difference tolerated on a token's exp, nbf and iat"},
    {"max-token-bytes", "SSE_MAX_TOKEN_BYTES", "N", set_int, 256, 16384, OFF(max_token_bytes),
     "4096", "longer tokens are refused unread"},
    {"rate-limit", "SSE_RATE_LIMIT", "N", set_int, 0, 100000, OFF(rate_limit), "0",
     "new streams per second one client IP may open on this bridge (token bucket; 0 = off)"},
    {"rate-limit-burst", "SSE_RATE_LIMIT_BURST", "N", set_int, 1, 100000, OFF(rate_limit_burst),
     "20", "streams a client IP may open at once before --rate-limit applies"},
    {"cors-origins", "SSE_CORS_ORIGINS", "LIST", set_origins, 0, 0, 0, "",
     "origins whose pages may open streams: exact origins (https://app.example.com) or '*' "
     "(any origin, without credentials)"},
};

#define OPT_COUNT (sizeof(opts) / sizeof(opts[0]))

static void *field(cfg_t *cfg, const opt_t *o)
{
    return (char *)cfg + o->offset;
}

/* Parses decimal digits only (no sign, no blanks, no junk) within [min, max]. */
static int parse_num(const char *s, long min, long max, long *out)
{
    if (*s == '\0')
        return -1;
    long v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > max) /* stops long before v * 10 could overflow */
            return -1;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

static int set_num(const opt_t *o, const char *v, long *out, char *why, size_t whylen)
{
    if (parse_num(v, o->min, o->max, out) == 0)
        return 0;
    snprintf(why, whylen, "expected an integer from %ld to %ld", o->min, o->max);
    return -1;
}

static int set_int(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    long n;
    if (set_num(o, v, &n, why, whylen) < 0)
        return -1;
    *(int *)field(cfg, o) = (int)n;
    return 0;
}

static int set_long(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    long n;
    if (set_num(o, v, &n, why, whylen) < 0)
        return -1;
    *(long *)field(cfg, o) = n;
    return 0;
}

static int host_char(char c, int underscore)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || (underscore && c == '_');
}

/* Checks a host of len bytes: "[IPv6]", an IPv4 literal or a hostname, and
 * copies it without brackets into out (CFG_HOST_MAX bytes). Underscores are
 * allowed for Redis hosts (container names). Returns 0 or -1. */
static int parse_host(const char *h, size_t len, int underscore, char *out)
{
    if (len == 0 || len >= CFG_HOST_MAX)
        return -1;
    if (h[0] == '[') {
        if (len < 3 || h[len - 1] != ']')
            return -1;
        memcpy(out, h + 1, len - 2);
        out[len - 2] = '\0';
        unsigned char a6[16];
        return inet_pton(AF_INET6, out, a6) == 1 ? 0 : -1;
    }
    int numeric = 1;
    for (size_t i = 0; i < len; i++) {
        if (!host_char(h[i], underscore))
            return -1;
        if (h[i] != '.' && (h[i] < '0' || h[i] > '9'))
            numeric = 0;
    }
    memcpy(out, h, len);
    out[len] = '\0';
    /* Digits and dots only is meant as an IPv4 address, so it must be one. */
    unsigned char a4[4];
    if (numeric && inet_pton(AF_INET, out, a4) != 1)
        return -1;
    return 0;
}

static int set_listen(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    char host[CFG_HOST_MAX];
    long port;
    const char *colon = strrchr(v, ':');
    if (colon == NULL || parse_num(colon + 1, o->min, o->max, &port) < 0) {
        snprintf(why, whylen, "expected HOST:PORT with a port from %ld to %ld", o->min, o->max);
        return -1;
    }
    if (parse_host(v, (size_t)(colon - v), 0, host) < 0) {
        snprintf(why, whylen,
                 "expected HOST:PORT with HOST an IPv4 address, [IPv6] address or hostname");
        return -1;
    }
    memcpy(cfg->listen_host, host, sizeof(host));
    cfg->listen_port = (int)port;
    return 0;
}

#define REDIS_SHAPE "redis://[:password@]host[:port][/db]"
#define SENTINEL_SHAPE "redis-sentinel://[:password@]host[:port][,host[:port]...]/master[/db]"
#define REDIS_FORM "expected " REDIS_SHAPE
#define SENTINEL_FORM "expected " SENTINEL_SHAPE
#define SENTINEL_DEFAULT_PORT 26379

/* Parses "host[:port]" at *pp up to ',', '/' or the end into host and port
 * (left as given when absent), and moves *pp past it. Returns 0, -1 for a
 * bad host, -2 for a bad port. */
static int parse_hostport(const char **pp, char *host, long *port)
{
    const char *p = *pp, *h = p;
    char num[16];
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL)
            return -1;
        p = close + 1;
    } else {
        while (host_char(*p, 1))
            p++;
    }
    if (parse_host(h, (size_t)(p - h), 1, host) < 0)
        return -1;
    if (*p == ':') {
        const char *d = ++p;
        while (*p != '\0' && *p != '/' && *p != ',')
            p++;
        size_t n = (size_t)(p - d);
        if (n >= sizeof(num))
            n = sizeof(num) - 1; /* still too many digits for a port: rejected below */
        memcpy(num, d, n);
        num[n] = '\0';
        if (parse_num(num, 1, 65535, port) < 0)
            return -2;
    }
    *pp = p;
    return 0;
}

/* A Sentinel master name: what redis-sentinel accepts in its config, kept
 * to a safe charset. */
static int master_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* --redis-url: redis://[:password@]host[:port][/db] for one Redis, or
 * redis-sentinel://[:password@]h1[:p1],h2[:p2]/master[/db] for a master
 * found (and followed through failovers) by Sentinel. The password is the
 * master's; the sentinels are asked without one. */
static int set_redis(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    char host[CFG_HOST_MAX];
    char password[sizeof(cfg->redis_password)] = "";
    char master[sizeof(cfg->sentinel_master)] = "";
    cfg_addr_t sentinels[CFG_SENTINELS_MAX];
    int nsentinels = 0;
    long port = 6379, db = 0;
    const char *p, *at, *form;
    (void)o;

    int sentinel = strncasecmp(v, "redis-sentinel://", 17) == 0;
    if (sentinel) {
        form = SENTINEL_FORM;
        p = v + 17;
    } else if (strncasecmp(v, "redis://", 8) == 0) {
        form = REDIS_FORM;
        p = v + 8;
    } else {
        snprintf(why, whylen, REDIS_FORM " or " SENTINEL_SHAPE);
        return -1;
    }
    /* The last '@' ends the user info: the password is not percent-decoded,
     * so it may itself contain '@' (never a valid host or path byte). */
    at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL)
            goto bad_form;
        size_t plen = (size_t)(at - colon - 1);
        if (plen >= sizeof(password)) {
            snprintf(why, whylen, "%s with a password of at most %zu bytes", form,
                     sizeof(password) - 1);
            return -1;
        }
        memcpy(password, colon + 1, plen);
        password[plen] = '\0';
        p = at + 1;
    }

    for (;;) {
        long hport = sentinel ? SENTINEL_DEFAULT_PORT : 6379;
        int r = parse_hostport(&p, host, &hport);
        if (r == -2) {
            snprintf(why, whylen, "%s with a port from 1 to 65535", form);
            return -1;
        }
        if (r < 0)
            goto bad_form;
        port = hport;
        if (sentinel) {
            if (nsentinels == CFG_SENTINELS_MAX) {
                snprintf(why, whylen, "%s with at most %d sentinels", form, CFG_SENTINELS_MAX);
                return -1;
            }
            memcpy(sentinels[nsentinels].host, host, sizeof(host));
            sentinels[nsentinels++].port = (int)port;
        }
        if (!sentinel || *p != ',')
            break;
        p++;
    }

    if (sentinel) {
        /* The master name is required: Sentinel knows masters by name. */
        const char *m = *p == '/' ? p + 1 : p;
        size_t n = 0;
        while (master_char(m[n]))
            n++;
        if (*p != '/' || n == 0 || n >= sizeof(master) || (m[n] != '\0' && m[n] != '/')) {
            snprintf(why, whylen,
                     "%s with a master name of 1 to %zu characters of [A-Za-z0-9_.-]", form,
                     sizeof(master) - 1);
            return -1;
        }
        memcpy(master, m, n);
        master[n] = '\0';
        p = m + n;
    }
    if (*p == '/') {
        p++;
        if (*p != '\0' && parse_num(p, 0, 15, &db) < 0) {
            snprintf(why, whylen, "%s with a db from 0 to 15", form);
            return -1;
        }
    } else if (*p != '\0') {
        goto bad_form;
    }

    if (sentinel) {
        memcpy(cfg->sentinels, sentinels, sizeof(sentinels[0]) * (size_t)nsentinels);
        cfg->redis_host[0] = '\0';
        cfg->redis_port = 0;
    } else {
        memcpy(cfg->redis_host, host, sizeof(host));
        cfg->redis_port = (int)port;
    }
    cfg->nsentinels = nsentinels;
    memcpy(cfg->sentinel_master, master, sizeof(master));
    memcpy(cfg->redis_password, password, sizeof(password));
    cfg->redis_db = (int)db;
    return 0;

bad_form:
    snprintf(why, whylen, "%s", form);
    return -1;
}

static int set_chanlist(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    chanlist_t cl;
    if (chanlist_parse(&cl, v, why, whylen) < 0)
        return -1;
    if (o->min > 0 && cl.count == 0) {
        snprintf(why, whylen, "expected at least one channel name or prefix* family");
        return -1;
    }
    chanlist_t *dst = field(cfg, o);
    chanlist_free(dst);
    *dst = cl;
    return 0;
}

static int set_cidrs(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    cidrlist_t l;
    if (cidrlist_parse(&l, v, why, whylen) < 0)
        return -1;
    cidrlist_t *dst = field(cfg, o);
    cidrlist_free(dst);
    *dst = l;
    return 0;
}

static int id_char(char c)
{
    return host_char(c, 1) || c == ':';
}

static int set_id(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    size_t len = strlen(v);
    int ok = len >= 1 && len <= CFG_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = id_char(v[i]);
    if (!ok) {
        snprintf(why, whylen, "expected 1 to %d characters of [A-Za-z0-9_.:-]", CFG_ID_MAX);
        return -1;
    }
    memcpy(field(cfg, o), v, len + 1);
    return 0;
}

static const char *const yes[] = {"on", "true", "yes", "1"};
static const char *const no[] = {"off", "false", "no", "0"};

static int is_bool_word(const char *v)
{
    for (size_t i = 0; i < 4; i++)
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0)
            return 1;
    return 0;
}

static int set_bool(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *(int *)field(cfg, o) = strcmp(v, yes[i]) == 0;
            return 0;
        }
    }
    snprintf(why, whylen, "expected on or off (true/false, yes/no, 1/0)");
    return -1;
}

static int secret_store(cfg_t *cfg, const char *v, size_t len, char *why, size_t whylen)
{
    if (len != 0 && (len < CFG_SECRET_MIN || len > CFG_SECRET_MAX)) {
        snprintf(why, whylen, "expected %d to %d bytes (an HS256 key shorter than 32 bytes is weak)",
                 CFG_SECRET_MIN, CFG_SECRET_MAX);
        return -1;
    }
    memcpy(cfg->auth_secret, v, len);
    cfg->auth_secret[len] = '\0';
    cfg->auth_secret_len = len;
    return 0;
}

static int set_secret(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    (void)o;
    return secret_store(cfg, v, strlen(v), why, whylen);
}

static int set_secret_file(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    char buf[CFG_SECRET_MAX + 3];
    (void)o;
    if (*v == '\0')
        return 0; /* none: --auth-secret (or nothing) decides */
    FILE *f = fopen(v, "rb");
    if (f == NULL) {
        snprintf(why, whylen, "cannot read it: %s", strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(why, whylen, "cannot read it");
        return -1;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0) {
        snprintf(why, whylen, "the file is empty; expected %d to %d bytes", CFG_SECRET_MIN,
                 CFG_SECRET_MAX);
        return -1;
    }
    return secret_store(cfg, buf, n, why, whylen);
}

/* An origin as browsers send it: http(s)://host[:port], lower case, no
 * path. */
static int origin_valid(const char *s, size_t len)
{
    size_t i;
    if (len > 7 && memcmp(s, "http://", 7) == 0)
        i = 7;
    else if (len > 8 && memcmp(s, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    size_t host = i;
    if (s[i] == '[') {
        /* An IPv6 literal, lower case as browsers serialize it: anything
         * else in the brackets (spaces, control bytes) is no origin. */
        char a6[INET6_ADDRSTRLEN];
        unsigned char bin[16];
        size_t start = ++i;
        while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                           s[i] == ':' || s[i] == '.'))
            i++;
        if (i == len || s[i] != ']' || i - start >= sizeof(a6))
            return 0;
        memcpy(a6, s + start, i - start);
        a6[i - start] = '\0';
        if (inet_pton(AF_INET6, a6, bin) != 1)
            return 0;
        i++;
    } else {
        while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                           s[i] == '-' || s[i] == '.'))
            i++;
    }
    if (i == host)
        return 0;
    if (i < len && s[i] == ':') {
        size_t d = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d || i - d > 5)
            return 0;
    }
    return i == len;
}

static int set_origins(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    char out[CFG_ORIGINS_MAX + 1];
    size_t used = 0, n = 0, len;
    int any = 0;
    const char *item;
    text_list_t it;
    (void)o;
    text_list_init(&it, v);
    while (text_list_next(&it, &item, &len)) {
        char shown[96];
        n++;
        if (len == 1 && item[0] == '*') {
            any = 1;
            continue;
        }
        if (!origin_valid(item, len)) {
            text_shown(shown, sizeof(shown), item, len, 80);
            snprintf(why, whylen,
                     "origin '%s' is not scheme://host[:port] (http or https, lower case, no path) "
                     "or '*'",
                     shown);
            return -1;
        }
        if (used + len + 1 > CFG_ORIGINS_MAX) {
            snprintf(why, whylen, "expected at most %d bytes of origins", CFG_ORIGINS_MAX);
            return -1;
        }
        if (used > 0)
            out[used++] = ',';
        memcpy(out + used, item, len);
        used += len;
    }
    if (any && n > 1) {
        snprintf(why, whylen, "'*' allows every origin and must stand alone");
        return -1;
    }
    memcpy(cfg->cors_origins, out, used);
    cfg->cors_origins[used] = '\0';
    cfg->cors_any = any;
    return 0;
}

int cfg_cors_allows(const cfg_t *cfg, const char *origin, size_t len)
{
    if (cfg->cors_any)
        return 1;
    const char *item;
    size_t ilen;
    text_list_t it;
    text_list_init(&it, cfg->cors_origins);
    while (text_list_next(&it, &item, &ilen))
        if (ilen == len && memcmp(item, origin, len) == 0)
            return 1;
    return 0;
}

static int set_prefix(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    size_t len = strlen(v);
    int ok = len >= 1 && len <= CFG_PREFIX_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = v[i] > 0x20 && v[i] < 0x7f;
    if (!ok) {
        snprintf(why, whylen, "expected 1 to %d printable characters without spaces",
                 CFG_PREFIX_MAX);
        return -1;
    }
    /* The pool's scripts reach other replicas' keys: on Redis Cluster they
     * share a slot only through a non-empty {hash tag}. */
    const char *open = strchr(v, '{');
    const char *close = open != NULL ? strchr(open + 1, '}') : NULL;
    if (close == NULL || close == open + 1) {
        snprintf(why, whylen, "expected a {hash tag} in it, as in {sse}:");
        return -1;
    }
    memcpy(field(cfg, o), v, len + 1);
    return 0;
}

static int set_limit_response(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "status") != 0 && strcmp(v, "retry") != 0) {
        snprintf(why, whylen, "expected status or retry");
        return -1;
    }
    *(int *)field(cfg, o) = strcmp(v, "retry") == 0;
    return 0;
}

static int set_io_uring(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    static const char *const modes[] = {"off", "on", "auto"}; /* CFG_URING_* order */
    for (int i = 0; i < 3; i++) {
        if (strcmp(v, modes[i]) == 0) {
            *(int *)field(cfg, o) = i;
            return 0;
        }
    }
    snprintf(why, whylen, "expected auto, on or off");
    return -1;
}

static int set_level(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    int level = log_level_parse(v);
    if (level < 0) {
        snprintf(why, whylen, "expected one of debug, info, warn, error");
        return -1;
    }
    *(log_level_t *)field(cfg, o) = (log_level_t)level;
    return 0;
}

static int set_log_format(cfg_t *cfg, const opt_t *o, const char *v, char *why, size_t whylen)
{
    int f = log_format_parse(v);
    if (f < 0) {
        snprintf(why, whylen, "expected one of text, logfmt, json");
        return -1;
    }
    *(log_format_t *)field(cfg, o) = (log_format_t)f;
    return 0;
}

/* "<hostname>-<pid>", the hostname cleaned to the id alphabet and cut so the
 * whole id fits in CFG_ID_MAX bytes. */
static void default_bridge_id(char *out)
{
    char host[256];
    char suffix[32];
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p != '\0'; p++)
        if (!id_char(*p))
            *p = '-';
    if (host[0] == '\0')
        snprintf(host, sizeof(host), "bridge");
    int n = snprintf(suffix, sizeof(suffix), "-%ld", (long)getpid());
    size_t room = CFG_ID_MAX - (size_t)n;
    size_t hlen = strlen(host);
    if (hlen > room)
        hlen = room;
    memcpy(out, host, hlen);
    memcpy(out + hlen, suffix, (size_t)n + 1);
}

/* Copies v for an error message: cut short, and for a Redis URL with the
 * password replaced by "***" so that it never reaches a log. */
static void shown_value(const opt_t *o, const char *v, char *out, size_t outlen)
{
    char buf[CFG_SHOWN_MAX + 8];
    const char *s = v;
    const char *scheme = strstr(v, "://");
    const char *at = strrchr(v, '@');
    if (o->set == set_secret) {
        s = "***"; /* a key never reaches a message */
    } else if (o->set == set_redis && scheme != NULL && at != NULL && at > scheme) {
        const char *user = scheme + 3;
        const char *colon = memchr(user, ':', (size_t)(at - user));
        const char *secret = colon != NULL ? colon + 1 : user;
        snprintf(buf, sizeof(buf), "%.*s***%s", (int)(secret - v), v, at);
        s = buf;
    }
    size_t len = strlen(s);
    if (len > CFG_SHOWN_MAX)
        snprintf(out, outlen, "%.*s...", CFG_SHOWN_MAX - 3, s);
    else
        snprintf(out, outlen, "%s", s);
}

/* Applies one value; on failure writes the full message into err. from_env
 * chooses the wording that names the environment variable. */
static int apply(cfg_t *cfg, const opt_t *o, const char *v, int from_env, char *err, size_t errlen)
{
    char why[CFG_WHY_MAX];
    char shown[CFG_SHOWN_MAX + 8];
    why[0] = '\0';
    if (o->set(cfg, o, v, why, sizeof(why)) == 0)
        return 0;
    shown_value(o, v, shown, sizeof(shown));
    if (from_env)
        text_errf(err, errlen, "invalid value '%s' for %s (--%s): %s", shown, o->env, o->name, why);
    else
        text_errf(err, errlen, "invalid value '%s' for --%s: %s", shown, o->name, why);
    return -1;
}

/* The row for "--name" or "--name=value" (arg without the dashes). */
static const opt_t *find_opt(const char *arg)
{
    size_t len = strcspn(arg, "=");
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, arg, len) == 0)
            return &opts[i];
    return NULL;
}

static void print_help(FILE *out)
{
    fprintf(out, "Usage: sse-bridge [OPTION]...\n"
                 "Delivers Redis pub/sub messages to browsers as Server-Sent Events.\n"
                 "\n"
                 "Options take \"--flag value\" or \"--flag=value\". Each can also be set\n"
                 "with its environment variable; the command line wins over the environment.\n"
                 "\n");
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const opt_t *o = &opts[i];
        fprintf(out, "  --%s %s\n      %s", o->name, o->metavar, o->help);
        if (o->set == set_int || o->set == set_long)
            fprintf(out, " (%ld to %ld)", o->min, o->max);
        const char *def = o->def == NULL ? "<hostname>-<pid>" : o->def;
        fprintf(out, "\n      env %s, default %s\n", o->env, def[0] != '\0' ? def : "none");
    }
    fprintf(out, "  --help\n      print this help and exit\n"
                 "  --version\n      print the version and exit\n");
}

/* Checks the shape of argv (known flags, values present, no positional
 * arguments) and handles --help/--version, before any value is applied, so
 * that --help works whatever the environment holds. Returns CFG_OK to go on. */
static cfg_result_t scan_args(int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (arg[0] == '-' && arg[1] != '\0')
                text_errf(err, errlen, "unknown option '%s' (see --help)", arg);
            else
                text_errf(err, errlen, "unexpected argument '%s' (see --help)", arg);
            return CFG_ERROR;
        }
        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        if ((len == 4 && strncmp(name, "help", 4) == 0) ||
            (len == 7 && strncmp(name, "version", 7) == 0)) {
            if (name[len] == '=') {
                text_errf(err, errlen, "option --%.*s takes no value", (int)len, name);
                return CFG_ERROR;
            }
            if (len == 4)
                print_help(out);
            else
                fprintf(out, "sse-bridge %s\n", SSE_BRIDGE_VERSION);
            fflush(out);
            return CFG_EXIT_OK;
        }
        const opt_t *o = find_opt(name);
        if (o == NULL) {
            text_errf(err, errlen, "unknown option '--%.*s' (see --help)", (int)len, name);
            return CFG_ERROR;
        }
        /* A switch alone ("--reuseport") means on; it takes a separate value
         * only when the next word is one of its values ("--compression off"). */
        if (name[len] != '=' && o->set == set_bool) {
            if (i + 1 < argc && is_bool_word(argv[i + 1]))
                i++;
        } else if (name[len] != '=') {
            if (i + 1 >= argc) {
                text_errf(err, errlen, "option --%s needs a value", o->name);
                return CFG_ERROR;
            }
            i++;
        }
    }
    return CFG_OK;
}

cfg_result_t cfg_parse(cfg_t *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        out = stdout;

    cfg_result_t r = scan_args(argc, argv, out, err, errlen);
    if (r != CFG_OK)
        return r;

    /* Defaults go through the same setters as user input; they cannot fail. */
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (opts[i].def != NULL && apply(cfg, &opts[i], opts[i].def, 0, err, errlen) < 0)
            return CFG_ERROR;
    default_bridge_id(cfg->bridge_id);

    /* Every value given is checked, also an environment value that a flag
     * then overrides: a broken deployment setting should not lie in wait. */
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const char *v = getenv(opts[i].env);
        if (v != NULL && apply(cfg, &opts[i], v, 1, err, errlen) < 0)
            return CFG_ERROR;
    }

    for (int i = 1; i < argc; i++) {
        const char *name = argv[i] + 2;
        const opt_t *o = find_opt(name);
        const char *eq = strchr(name, '=');
        const char *v;
        if (eq != NULL)
            v = eq + 1;
        else if (o->set != set_bool)
            v = argv[++i];
        else if (i + 1 < argc && is_bool_word(argv[i + 1]))
            v = argv[++i];
        else
            v = "on";
        if (apply(cfg, o, v, 0, err, errlen) < 0)
            return CFG_ERROR;
    }
    return CFG_OK;
}

void cfg_free(cfg_t *cfg)
{
    if (cfg == NULL)
        return;
    chanlist_free(&cfg->channels);
    chanlist_free(&cfg->flask_channels);
    chanlist_free(&cfg->public_channels);
    cidrlist_free(&cfg->trusted_proxies);
}
