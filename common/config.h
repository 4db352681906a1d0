/* Command-line and environment configuration of the bridge. */
#ifndef SSE_CONFIG_H
#define SSE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "chanlist.h"
#include "cidr.h"
#include "log.h"

#define SSE_BRIDGE_VERSION "0.1.0"
#define CFG_HOST_MAX 256
#define CFG_ID_MAX 64
#define CFG_PREFIX_MAX 32
#define CFG_SENTINELS_MAX 8
#define CFG_MASTER_MAX 63
#define CFG_SECRET_MIN 32   /* an HS256 key shorter than its 32-byte hash is weak */
#define CFG_SECRET_MAX 1024
#define CFG_ORIGINS_MAX 2048 /* bytes of the --cors-origins list */

enum { CFG_URING_OFF = 0, CFG_URING_ON, CFG_URING_AUTO }; /* --io-uring */

typedef struct cfg_addr_s {
    char host[CFG_HOST_MAX]; /* name or address, without IPv6 brackets */
    int port;                /* TCP port */
} cfg_addr_t;

typedef struct cfg_s {
    char listen_host[CFG_HOST_MAX]; /* address to bind, without IPv6 brackets */
    int listen_port;                /* TCP port, 0..65535 (0 = any free port) */
    char redis_host[CFG_HOST_MAX];  /* Redis host from --redis-url; "" with Sentinel */
    int redis_port;                 /* Redis port from --redis-url; 0 with Sentinel */
    cfg_addr_t sentinels[CFG_SENTINELS_MAX]; /* redis-sentinel:// addresses, in order */
    int nsentinels;                 /* entries in sentinels; 0 without Sentinel */
    char sentinel_master[CFG_MASTER_MAX + 1]; /* the master's name at the sentinels */
    char redis_password[256];       /* AUTH password, "" for none */
    int redis_db;                   /* database index from the URL path, 0..15 */
    chanlist_t channels;            /* --channels: allowed names and families */
    chanlist_t flask_channels;      /* --flask-channels: flask-sse JSON channels */
    int heartbeat_interval;         /* seconds between heartbeats, 1..3600 */
    int max_connections;            /* cluster-wide connection cap */
    int max_connections_per_ip;     /* cluster-wide per-client-IP cap */
    int health_check_interval;      /* seconds between health checks */
    long compression_threshold;     /* gzip payloads above this many bytes */
    int compression;                /* 1: gzip streams for clients that accept it */
    int compression_level;          /* zlib level above the threshold, 1..9 */
    int history;                    /* 1: resume from the history streams */
    int redis_probe_timeout;        /* ms for a probe to come back through pub/sub */
    cidrlist_t trusted_proxies;     /* peers whose X-Forwarded-For is believed */
    char bridge_id[CFG_ID_MAX + 1]; /* this replica's id */
    log_level_t log_level;          /* least severe level logged */
    log_format_t log_format;        /* text, logfmt or json lines */
    int health_history;             /* health checks kept for /sse/metrics */
    long max_queue_bytes;           /* per-connection write queue cap */
    long max_message_bytes;         /* larger Redis payloads are dropped */
    int max_channels_per_conn;      /* channels one stream may ask for */
    int header_timeout;             /* seconds to receive a full request */
    int drain_timeout;              /* seconds to drain streams on shutdown */
    int retry_ms;                   /* base of the jittered "retry:" sent to clients */
    int reuseport;                  /* 1: listen with SO_REUSEPORT */
    int coalesce_ms;                /* hold writes up to this long to batch them; 0 = never */
    int io_uring;                   /* CFG_URING_*: batch each flush's sends through io_uring */
    int lease_ms;                   /* cluster lease; renewed every third of it */
    int limit_response_retry;       /* 1: over-limit answers 200 + retry + event: limit */
    char redis_prefix[CFG_PREFIX_MAX + 1]; /* prefix of the cluster keys, e.g. "{sse}:" */
    char auth_secret[CFG_SECRET_MAX + 1]; /* HS256 key for tokens; empty = no auth */
    size_t auth_secret_len;         /* bytes in auth_secret (a file's may hold NULs) */
    chanlist_t public_channels;     /* --public-channels: need no token */
    int token_skew;                 /* seconds of clock skew allowed on exp/nbf/iat */
    int max_token_bytes;            /* longer tokens are refused unread */
    char cors_origins[CFG_ORIGINS_MAX + 1]; /* "a,b" exact origins; "" = no CORS */
    int cors_any;                   /* --cors-origins '*': any origin, never credentials */
    int rate_limit;                 /* new streams per second per client IP; 0 = off */
    int rate_limit_burst;           /* bucket size of that limit */
    int max_url_bytes;              /* longer request targets get 414 */
    int max_header_bytes;           /* more request header bytes in total get 431 */
    int max_headers;                /* more request header lines get 431 */
} cfg_t;

typedef enum {
    CFG_OK = 0,      /* parsed; run the bridge */
    CFG_EXIT_OK = 1, /* --help or --version was printed; exit 0 */
    CFG_ERROR = -1   /* invalid; the message is in err; exit 2 */
} cfg_result_t;

/* Fills cfg from defaults, then SSE_* environment variables, then argv
 * (flags win). Flags take "--flag value" or "--flag=value". --help and
 * --version print to out and return CFG_EXIT_OK. Any invalid value returns
 * CFG_ERROR with exactly one line (no trailing newline) in err, naming the
 * flag (and the env variable when it came from there), the value and what
 * is allowed, e.g.
 *   invalid value 'abc' for --heartbeat-interval: expected an integer from 1 to 3600
 *   invalid value 'abc' for SSE_HEARTBEAT_INTERVAL (--heartbeat-interval): expected ...
 *   unknown option '--foo' (see --help)
 *   option --listen needs a value
 * cfg must be released with cfg_free whatever the result. */
cfg_result_t cfg_parse(cfg_t *cfg, int argc, char **argv, FILE *out, char *err, size_t errlen);

/* 1 when a browser page from origin (len bytes) may read the streams:
 * --cors-origins is '*' or lists it exactly. */
int cfg_cors_allows(const cfg_t *cfg, const char *origin, size_t len);

/* Releases the lists inside cfg. */
void cfg_free(cfg_t *cfg);

#endif
