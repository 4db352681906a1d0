/* Unit tests for command-line and environment configuration. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ERR_LEN 512

/* Every option, as the tests know it: flag, env variable and default text. */
typedef struct {
    const char *flag; /* without "--" */
    const char *env;  /* environment variable */
    const char *def;  /* default as shown by --help */
} flag_t;

static const flag_t flags[] = {
    {"listen", "SSE_LISTEN", "0.0.0.0:8080"},
    {"redis-url", "SSE_REDIS_URL", "redis://127.0.0.1:6379"},
    {"channels", "SSE_CHANNELS", "summary_progress,summary_complete,system"},
    {"flask-channels", "SSE_FLASK_CHANNELS", "sse"},
    {"heartbeat-interval", "SSE_HEARTBEAT_INTERVAL", "30"},
    {"max-connections", "SSE_MAX_CONNECTIONS", "500"},
    {"max-connections-per-ip", "SSE_MAX_CONNECTIONS_PER_IP", "10"},
    {"health-check-interval", "SSE_HEALTH_CHECK_INTERVAL", "60"},
    {"compression-threshold", "SSE_COMPRESSION_THRESHOLD", "1024"},
    {"compression", "SSE_COMPRESSION", "on"},
    {"compression-level", "SSE_COMPRESSION_LEVEL", "6"},
    {"trusted-proxies", "SSE_TRUSTED_PROXIES", "none"},
    {"bridge-id", "SSE_BRIDGE_ID", "<hostname>-<pid>"},
    {"log-level", "SSE_LOG_LEVEL", "info"},
    {"max-queue-bytes", "SSE_MAX_QUEUE_BYTES", "1048576"},
    {"max-message-bytes", "SSE_MAX_MESSAGE_BYTES", "1048576"},
    {"max-channels-per-connection", "SSE_MAX_CHANNELS_PER_CONNECTION", "16"},
    {"header-timeout", "SSE_HEADER_TIMEOUT", "10"},
    {"drain-timeout", "SSE_DRAIN_TIMEOUT", "10"},
    {"retry-ms", "SSE_RETRY_MS", "3000"},
    {"reuseport", "SSE_REUSEPORT", "off"},
    {"coalesce-ms", "SSE_COALESCE_MS", "0"},
    {"io-uring", "SSE_IO_URING", "auto"},
    {"lease-ms", "SSE_LEASE_MS", "15000"},
    {"limit-response", "SSE_LIMIT_RESPONSE", "status"},
    {"redis-prefix", "SSE_REDIS_PREFIX", "{sse}:"},
    {"history", "SSE_HISTORY", "on"},
    {"redis-probe-timeout", "SSE_REDIS_PROBE_TIMEOUT", "3000"},
    {"log-format", "SSE_LOG_FORMAT", "text"},
    {"health-history", "SSE_HEALTH_HISTORY", "60"},
    {"auth-secret", "SSE_AUTH_SECRET", "none"},
    {"auth-secret-file", "SSE_AUTH_SECRET_FILE", "none"},
    {"public-channels", "SSE_PUBLIC_CHANNELS", "none"},
    {"token-skew", "SSE_TOKEN_SKEW", "30"},
    {"max-token-bytes", "SSE_MAX_TOKEN_BYTES", "4096"},
    {"cors-origins", "SSE_CORS_ORIGINS", "none"},
    {"rate-limit", "SSE_RATE_LIMIT", "0"},
    {"rate-limit-burst", "SSE_RATE_LIMIT_BURST", "20"},
    {"max-url-bytes", "SSE_MAX_URL_BYTES", "2048"},
    {"max-header-bytes", "SSE_MAX_HEADER_BYTES", "8192"},
    {"max-headers", "SSE_MAX_HEADERS", "100"},
};
#define FLAG_COUNT ((int)(sizeof(flags) / sizeof(flags[0])))

/* Switches ("--reuseport") alone mean on; the table tests use "--flag=value". */
static int is_switch(const char *flag)
{
    return strcmp(flag, "reuseport") == 0 || strcmp(flag, "compression") == 0 ||
           strcmp(flag, "history") == 0;
}

/* "--flag value", or "--flag=value" for a switch, into a (and b, or NULL). */
static void flag_args(const char *flag, const char *value, char *a, size_t n, const char **b)
{
    if (is_switch(flag)) {
        snprintf(a, n, "--%s=%s", flag, value);
        *b = NULL;
    } else {
        snprintf(a, n, "--%s", flag);
        *b = value;
    }
}

static const char *env_of(const char *flag)
{
    for (int i = 0; i < FLAG_COUNT; i++)
        if (strcmp(flags[i].flag, flag) == 0)
            return flags[i].env;
    ck_abort_msg("no such flag %s", flag);
    return NULL;
}

/* Checked fixture: every test starts with no SSE_* variable set, whatever
 * the shell running the tests exports. */
/* Relative to a private directory main() makes and enters, so parallel
 * runs of this suite never share (and race on) these files. */
#define SECRET_FILE "secret"
#define SECRET_FILE_CRLF "secret-crlf"
#define SECRET_FILE_EMPTY "secret-empty"
#define SECRET_FILE_SHORT "secret-short"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void clean_env(void)
{
    for (int i = 0; i < FLAG_COUNT; i++)
        unsetenv(flags[i].env);
    write_file(SECRET_FILE, "file-secret-0123456789-0123456789\n");
    write_file(SECRET_FILE_CRLF, "crlf-secret-0123456789-0123456789\r\n");
    write_file(SECRET_FILE_EMPTY, "\n");
    write_file(SECRET_FILE_SHORT, "short\n");
}

/* Runs cfg_parse on "sse-bridge" followed by the NULL-terminated arguments;
 * --help/--version output is thrown away. */
static cfg_result_t run(cfg_t *cfg, char *err, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"sse-bridge";
    va_list ap;
    va_start(ap, err);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *out = tmpfile();
    ck_assert_ptr_nonnull(out);
    cfg_result_t r = cfg_parse(cfg, argc, argv, out, err, ERR_LEN);
    fclose(out);
    return r;
}

/* Renders the field(s) a flag sets, so one table can check every flag. */
static void render(const cfg_t *c, const char *flag, char *out, size_t n)
{
    if (strcmp(flag, "listen") == 0) {
        snprintf(out, n, "%s %d", c->listen_host, c->listen_port);
    } else if (strcmp(flag, "redis-url") == 0 && c->nsentinels > 0) {
        size_t used = (size_t)snprintf(out, n, "sentinels");
        for (int i = 0; i < c->nsentinels && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, "%s%s:%d", i ? "," : " ",
                                     c->sentinels[i].host, c->sentinels[i].port);
        if (used < n)
            snprintf(out + used, n - used, " master %s '%s' %d%s", c->sentinel_master,
                     c->redis_password, c->redis_db, c->redis_port == 0 ? "" : " port set");
    } else if (strcmp(flag, "redis-url") == 0) {
        snprintf(out, n, "%s %d '%s' %d", c->redis_host, c->redis_port, c->redis_password,
                 c->redis_db);
    } else if (strcmp(flag, "channels") == 0 || strcmp(flag, "flask-channels") == 0) {
        const chanlist_t *cl = flag[0] == 'c' ? &c->channels : &c->flask_channels;
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; i < cl->count && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, "%s%s%s", i ? "," : "", cl->names[i],
                                     cl->prefix[i] ? "*" : "");
    } else if (strcmp(flag, "trusted-proxies") == 0) {
        snprintf(out, n, "n=%zu", c->trusted_proxies.count);
    } else if (strcmp(flag, "bridge-id") == 0) {
        snprintf(out, n, "%s", c->bridge_id);
    } else if (strcmp(flag, "log-level") == 0) {
        snprintf(out, n, "%d", (int)c->log_level);
    } else if (strcmp(flag, "heartbeat-interval") == 0) {
        snprintf(out, n, "%d", c->heartbeat_interval);
    } else if (strcmp(flag, "max-connections") == 0) {
        snprintf(out, n, "%d", c->max_connections);
    } else if (strcmp(flag, "max-connections-per-ip") == 0) {
        snprintf(out, n, "%d", c->max_connections_per_ip);
    } else if (strcmp(flag, "health-check-interval") == 0) {
        snprintf(out, n, "%d", c->health_check_interval);
    } else if (strcmp(flag, "compression-threshold") == 0) {
        snprintf(out, n, "%ld", c->compression_threshold);
    } else if (strcmp(flag, "max-queue-bytes") == 0) {
        snprintf(out, n, "%ld", c->max_queue_bytes);
    } else if (strcmp(flag, "max-message-bytes") == 0) {
        snprintf(out, n, "%ld", c->max_message_bytes);
    } else if (strcmp(flag, "max-channels-per-connection") == 0) {
        snprintf(out, n, "%d", c->max_channels_per_conn);
    } else if (strcmp(flag, "header-timeout") == 0) {
        snprintf(out, n, "%d", c->header_timeout);
    } else if (strcmp(flag, "drain-timeout") == 0) {
        snprintf(out, n, "%d", c->drain_timeout);
    } else if (strcmp(flag, "retry-ms") == 0) {
        snprintf(out, n, "%d", c->retry_ms);
    } else if (strcmp(flag, "compression") == 0) {
        snprintf(out, n, "%d", c->compression);
    } else if (strcmp(flag, "compression-level") == 0) {
        snprintf(out, n, "%d", c->compression_level);
    } else if (strcmp(flag, "reuseport") == 0) {
        snprintf(out, n, "%d", c->reuseport);
    } else if (strcmp(flag, "coalesce-ms") == 0) {
        snprintf(out, n, "%d", c->coalesce_ms);
    } else if (strcmp(flag, "io-uring") == 0) {
        snprintf(out, n, "%d", c->io_uring);
    } else if (strcmp(flag, "lease-ms") == 0) {
        snprintf(out, n, "%d", c->lease_ms);
    } else if (strcmp(flag, "limit-response") == 0) {
        snprintf(out, n, "%d", c->limit_response_retry);
    } else if (strcmp(flag, "redis-prefix") == 0) {
        snprintf(out, n, "%s", c->redis_prefix);
    } else if (strcmp(flag, "history") == 0) {
        snprintf(out, n, "%d", c->history);
    } else if (strcmp(flag, "redis-probe-timeout") == 0) {
        snprintf(out, n, "%d", c->redis_probe_timeout);
    } else if (strcmp(flag, "log-format") == 0) {
        snprintf(out, n, "%d", (int)c->log_format);
    } else if (strcmp(flag, "health-history") == 0) {
        snprintf(out, n, "%d", c->health_history);
    } else if (strcmp(flag, "auth-secret") == 0 || strcmp(flag, "auth-secret-file") == 0) {
        snprintf(out, n, "%zu:%.64s", c->auth_secret_len, c->auth_secret);
    } else if (strcmp(flag, "public-channels") == 0) {
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; i < c->public_channels.count && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, "%s%s%s", i ? "," : "",
                                     c->public_channels.names[i],
                                     c->public_channels.prefix[i] ? "*" : "");
    } else if (strcmp(flag, "token-skew") == 0) {
        snprintf(out, n, "%d", c->token_skew);
    } else if (strcmp(flag, "max-token-bytes") == 0) {
        snprintf(out, n, "%d", c->max_token_bytes);
    } else if (strcmp(flag, "max-url-bytes") == 0) {
        snprintf(out, n, "%d", c->max_url_bytes);
    } else if (strcmp(flag, "max-header-bytes") == 0) {
        snprintf(out, n, "%d", c->max_header_bytes);
    } else if (strcmp(flag, "max-headers") == 0) {
        snprintf(out, n, "%d", c->max_headers);
    } else if (strcmp(flag, "rate-limit") == 0) {
        snprintf(out, n, "%d", c->rate_limit);
    } else if (strcmp(flag, "rate-limit-burst") == 0) {
        snprintf(out, n, "%d", c->rate_limit_burst);
    } else if (strcmp(flag, "cors-origins") == 0) {
        snprintf(out, n, "%s%.512s", c->cors_any ? "any " : "", c->cors_origins);
    } else {
        ck_abort_msg("render: unknown flag %s", flag);
    }
}

/* ---- defaults ---- */

START_TEST(no_arguments_give_the_documented_defaults)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, NULL), CFG_OK);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(c.listen_host, "0.0.0.0");
    ck_assert_int_eq(c.listen_port, 8080);
    ck_assert_str_eq(c.redis_host, "127.0.0.1");
    ck_assert_int_eq(c.redis_port, 6379);
    ck_assert_str_eq(c.redis_password, "");
    ck_assert_int_eq(c.redis_db, 0);
    ck_assert_uint_eq(c.channels.count, 3);
    ck_assert_str_eq(c.channels.names[0], "summary_progress");
    ck_assert_str_eq(c.channels.names[1], "summary_complete");
    ck_assert_str_eq(c.channels.names[2], "system");
    ck_assert_uint_eq(c.flask_channels.count, 1);
    ck_assert_str_eq(c.flask_channels.names[0], "sse");
    ck_assert_int_eq(c.heartbeat_interval, 30);
    ck_assert_int_eq(c.max_connections, 500);
    ck_assert_int_eq(c.max_connections_per_ip, 10);
    ck_assert_int_eq(c.health_check_interval, 60);
    ck_assert_int_eq(c.compression_threshold, 1024);
    ck_assert_uint_eq(c.trusted_proxies.count, 0);
    ck_assert_int_eq(c.log_level, LOG_INFO);
    ck_assert_int_eq(c.max_queue_bytes, 1048576);
    ck_assert_int_eq(c.max_message_bytes, 1048576);
    ck_assert_int_eq(c.max_channels_per_conn, 16);
    ck_assert_int_eq(c.header_timeout, 10);
    ck_assert_int_eq(c.drain_timeout, 10);
    ck_assert_int_eq(c.retry_ms, 3000);
    ck_assert_int_eq(c.log_format, LOG_FMT_TEXT);
    ck_assert_int_eq(c.health_history, 60);
    cfg_free(&c);
}
END_TEST

START_TEST(default_bridge_id_is_the_cleaned_hostname_then_the_pid)
{
    cfg_t c;
    char err[ERR_LEN] = "", host[256] = "", suffix[32];
    ck_assert_int_eq(run(&c, err, NULL), CFG_OK);
    size_t len = strlen(c.bridge_id);
    ck_assert_uint_ge(len, 1);
    ck_assert_uint_le(len, CFG_ID_MAX);
    ck_assert_uint_eq(strspn(c.bridge_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_.:-"),
                      len);
    snprintf(suffix, sizeof(suffix), "-%ld", (long)getpid());
    ck_assert_uint_gt(len, strlen(suffix));
    ck_assert_str_eq(c.bridge_id + len - strlen(suffix), suffix);
    ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
    size_t hlen = len - strlen(suffix);
    for (size_t i = 0; i < hlen; i++)
        ck_assert(c.bridge_id[i] == host[i] || c.bridge_id[i] == '-');
    cfg_free(&c);
}
END_TEST

START_TEST(an_empty_argv_gives_the_defaults)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(cfg_parse(&c, 0, NULL, stdout, err, sizeof(err)), CFG_OK);
    ck_assert_int_eq(c.listen_port, 8080);
    cfg_free(&c);
}
END_TEST

START_TEST(parse_zero_fills_an_uninitialized_cfg)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    memset(&c, 0xab, sizeof(c)); /* garbage pointers in the lists */
    ck_assert_int_eq(run(&c, err, "--channels", "a", NULL), CFG_OK);
    ck_assert_uint_eq(c.trusted_proxies.count, 0);
    cfg_free(&c);
    memset(&c, 0xab, sizeof(c));
    ck_assert_int_eq(run(&c, err, "--nope", NULL), CFG_ERROR);
    cfg_free(&c);
}
END_TEST

/* ---- every flag, each way of giving it ---- */

typedef struct {
    const char *flag;     /* without "--" */
    const char *value;    /* a valid value */
    const char *expect;   /* render() of the result */
    const char *other;    /* another valid value, used for the environment */
    const char *other_ex; /* render() of that one */
} good_case_t;

static const good_case_t good_cases[] = {
    {"listen", "127.0.0.2:9000", "127.0.0.2 9000", "[::1]:0", "::1 0"},
    {"redis-url", "redis://:s3cret@redis.local:6380/3", "redis.local 6380 's3cret' 3",
     "redis://cache", "cache 6379 '' 0"},
    {"channels", "a, user:*", "a,user:*", "*", "*"},
    {"flask-channels", "", "", "x,y", "x,y"},
    {"heartbeat-interval", "45", "45", "3600", "3600"},
    {"max-connections", "1000000", "1000000", "1", "1"},
    {"max-connections-per-ip", "3", "3", "99", "99"},
    {"health-check-interval", "86400", "86400", "1", "1"},
    {"compression-threshold", "0", "0", "67108864", "67108864"},
    {"compression", "off", "0", "on", "1"},
    {"compression-level", "1", "1", "9", "9"},
    {"trusted-proxies", "10.0.0.0/8, ::1", "n=2", "127.0.0.1", "n=1"},
    {"bridge-id", "node-a:1.x_Y", "node-a:1.x_Y", "b", "b"},
    {"log-level", "debug", "0", "error", "3"},
    {"max-queue-bytes", "4096", "4096", "1073741824", "1073741824"},
    {"max-message-bytes", "64", "64", "67108864", "67108864"},
    {"max-channels-per-connection", "256", "256", "1", "1"},
    {"header-timeout", "1", "1", "3600", "3600"},
    {"drain-timeout", "0", "0", "3600", "3600"},
    {"retry-ms", "100", "100", "600000", "600000"},
    {"reuseport", "on", "1", "off", "0"},
    {"coalesce-ms", "1000", "1000", "0", "0"},
    {"io-uring", "off", "0", "on", "1"},
    {"lease-ms", "300", "300", "600000", "600000"},
    {"limit-response", "retry", "1", "status", "0"},
    {"redis-prefix", "{app1}:sse:", "{app1}:sse:", "x{y}", "x{y}"},
    {"history", "off", "0", "on", "1"},
    {"redis-probe-timeout", "100", "100", "600000", "600000"},
    {"log-format", "json", "2", "logfmt", "1"},
    {"health-history", "1", "1", "10000", "10000"},
    {"auth-secret", "0123456789abcdef0123456789abcdef", "32:0123456789abcdef0123456789abcdef", "",
     "0:"},
    {"auth-secret-file", SECRET_FILE, "33:file-secret-0123456789-0123456789", SECRET_FILE_CRLF,
     "33:crlf-secret-0123456789-0123456789"},
    {"public-channels", "system, news:*", "system,news:*", "", ""},
    {"token-skew", "0", "0", "600", "600"},
    {"max-token-bytes", "256", "256", "16384", "16384"},
    {"cors-origins", "https://app.example.com, http://localhost:5000, http://[::1]:8000",
     "https://app.example.com,http://localhost:5000,http://[::1]:8000", "*", "any "},
    {"rate-limit", "100000", "100000", "5", "5"},
    {"rate-limit-burst", "1", "1", "100000", "100000"},
    {"max-url-bytes", "256", "256", "65536", "65536"},
    {"max-header-bytes", "1024", "1024", "65536", "65536"},
    {"max-headers", "8", "8", "1000", "1000"},
};
#define GOOD_COUNT ((int)(sizeof(good_cases) / sizeof(good_cases[0])))

START_TEST(the_good_case_table_covers_every_flag)
{
    ck_assert_int_eq(GOOD_COUNT, FLAG_COUNT);
    for (int i = 0; i < FLAG_COUNT; i++)
        ck_assert_str_eq(good_cases[i].flag, flags[i].flag);
}
END_TEST

START_TEST(flag_with_a_separate_value_sets_its_field)
{
    const good_case_t *g = &good_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", flag[64], got[1024];
    const char *second;
    flag_args(g->flag, g->value, flag, sizeof(flag), &second);
    ck_assert_msg(run(&c, err, flag, second, NULL) == CFG_OK, "%s", err);
    render(&c, g->flag, got, sizeof(got));
    ck_assert_str_eq(got, g->expect);
    cfg_free(&c);
}
END_TEST

START_TEST(flag_with_an_equals_sign_sets_its_field)
{
    const good_case_t *g = &good_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", arg[256], got[1024];
    snprintf(arg, sizeof(arg), "--%s=%s", g->flag, g->value);
    ck_assert_msg(run(&c, err, arg, NULL) == CFG_OK, "%s", err);
    render(&c, g->flag, got, sizeof(got));
    ck_assert_str_eq(got, g->expect);
    cfg_free(&c);
}
END_TEST

START_TEST(environment_variable_sets_its_field)
{
    const good_case_t *g = &good_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", got[1024];
    setenv(env_of(g->flag), g->value, 1);
    ck_assert_msg(run(&c, err, NULL) == CFG_OK, "%s", err);
    render(&c, g->flag, got, sizeof(got));
    ck_assert_str_eq(got, g->expect);
    cfg_free(&c);
}
END_TEST

START_TEST(flag_beats_environment_variable)
{
    const good_case_t *g = &good_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", flag[64], got[1024];
    setenv(env_of(g->flag), g->other, 1);
    ck_assert_msg(run(&c, err, NULL) == CFG_OK, "%s", err);
    render(&c, g->flag, got, sizeof(got));
    ck_assert_str_eq(got, g->other_ex); /* the environment alone does take effect */
    cfg_free(&c);
    const char *second;
    flag_args(g->flag, g->value, flag, sizeof(flag), &second);
    ck_assert_msg(run(&c, err, flag, second, NULL) == CFG_OK, "%s", err);
    render(&c, g->flag, got, sizeof(got));
    ck_assert_str_eq(got, g->expect);
    cfg_free(&c);
}
END_TEST

START_TEST(last_occurrence_of_a_flag_wins_and_lists_are_replaced)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--heartbeat-interval", "5", "--heartbeat-interval=6",
                         "--channels", "a,b", "--channels", "c", "--trusted-proxies", "::1",
                         "--trusted-proxies=10.0.0.0/8,127.0.0.1,::/0", NULL),
                     CFG_OK);
    ck_assert_int_eq(c.heartbeat_interval, 6);
    ck_assert_uint_eq(c.channels.count, 1);
    ck_assert_str_eq(c.channels.names[0], "c");
    ck_assert_uint_eq(c.trusted_proxies.count, 3);
    cfg_free(&c);
}
END_TEST

START_TEST(integers_accept_leading_zeros)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--heartbeat-interval", "0007", NULL), CFG_OK);
    ck_assert_int_eq(c.heartbeat_interval, 7);
    cfg_free(&c);
}
END_TEST

/* ---- listen and redis-url forms ---- */

typedef struct {
    const char *flag;   /* listen or redis-url */
    const char *value;  /* a valid value */
    const char *expect; /* render() of the result */
} form_case_t;

static const form_case_t form_cases[] = {
    {"listen", "0.0.0.0:8080", "0.0.0.0 8080"},
    {"listen", "localhost:1", "localhost 1"},
    {"listen", "my-host.example.com:65535", "my-host.example.com 65535"},
    {"listen", "[::]:443", ":: 443"},
    {"listen", "[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1 80"},
    {"redis-url", "redis://h", "h 6379 '' 0"},
    {"redis-url", "redis://h/", "h 6379 '' 0"},
    {"redis-url", "redis://h:1/15", "h 1 '' 15"},
    {"redis-url", "redis://:pw@h", "h 6379 'pw' 0"},
    {"redis-url", "redis://user:pw@h:7000", "h 7000 'pw' 0"},
    {"redis-url", "redis://:@h", "h 6379 '' 0"},
    {"redis-url", "redis://:p@ss:w/rd@h", "h 6379 'p@ss:w/rd' 0"},
    {"redis-url", "redis://[::1]:6380/2", "::1 6380 '' 2"},
    {"redis-url", "redis://my_redis.internal", "my_redis.internal 6379 '' 0"},
    {"redis-url", "redis://10.1.2.3:65535/0", "10.1.2.3 65535 '' 0"},
    {"redis-url", "REDIS://H", "H 6379 '' 0"},
    {"redis-url", "redis-sentinel://s1/mymaster", "sentinels s1:26379 master mymaster '' 0"},
    {"redis-url", "redis-sentinel://:pw@s1:1,[::1]:26380,s_3/m-1.x/7",
     "sentinels s1:1,::1:26380,s_3:26379 master m-1.x 'pw' 7"},
    {"redis-url", "redis-sentinel://a,b,c,d,e,f,g,h/m/",
     "sentinels a:26379,b:26379,c:26379,d:26379,e:26379,f:26379,g:26379,h:26379 master m '' 0"},
    {"redis-url", "REDIS-SENTINEL://h:5/M", "sentinels h:5 master M '' 0"},
};

START_TEST(listen_and_redis_url_accept_their_documented_forms)
{
    const form_case_t *f = &form_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", flag[64], got[1024];
    snprintf(flag, sizeof(flag), "--%s", f->flag);
    ck_assert_msg(run(&c, err, flag, f->value, NULL) == CFG_OK, "%s: %s", f->value, err);
    render(&c, f->flag, got, sizeof(got));
    ck_assert_str_eq(got, f->expect);
    cfg_free(&c);
}
END_TEST

START_TEST(redis_password_of_255_bytes_is_kept_and_256_rejected)
{
    cfg_t c;
    char err[ERR_LEN] = "", url[400];
    memset(url, 0, sizeof(url));
    snprintf(url, sizeof(url), "redis://:%0255d@h", 0);
    ck_assert_msg(run(&c, err, "--redis-url", url, NULL) == CFG_OK, "%s", err);
    ck_assert_uint_eq(strlen(c.redis_password), 255);
    cfg_free(&c);
    snprintf(url, sizeof(url), "redis://:%0256d@h", 0);
    ck_assert_int_eq(run(&c, err, "--redis-url", url, NULL), CFG_ERROR);
    ck_assert_str_eq(err,
                     "invalid value 'redis://:***@h' for --redis-url: expected "
                     "redis://[:password@]host[:port][/db] with a password of at most 255 bytes");
    cfg_free(&c);
}
END_TEST

/* ---- bad values ---- */

typedef struct {
    const char *flag;  /* without "--" */
    const char *value; /* an invalid value */
    const char *err;   /* the exact message for the flag form */
} bad_case_t;

#define INT_MSG(flag, v, range)                                                                    \
    "invalid value '" v "' for --" flag ": expected an integer from " range
#define LISTEN_PORT "expected HOST:PORT with a port from 0 to 65535"
#define LISTEN_HOST "expected HOST:PORT with HOST an IPv4 address, [IPv6] address or hostname"
#define REDIS_FORM "expected redis://[:password@]host[:port][/db]"
#define SENTINEL_FORM                                                                              \
    "expected redis-sentinel://[:password@]host[:port][,host[:port]...]/master[/db]"
#define ANY_REDIS_FORM                                                                             \
    REDIS_FORM " or redis-sentinel://[:password@]host[:port][,host[:port]...]/master[/db]"
#define CHAN_CHARS "has a character outside [A-Za-z0-9_.:-]"
#define SECRET_LEN "expected 32 to 1024 bytes (an HS256 key shorter than 32 bytes is weak)"
#define ORIGIN_FORM "is not scheme://host[:port] (http or https, lower case, no path) or '*'"
#define ID_MSG "expected 1 to 64 characters of [A-Za-z0-9_.:-]"

static const bad_case_t bad_cases[] = {
    {"listen", "8080", "invalid value '8080' for --listen: " LISTEN_PORT},
    {"listen", "", "invalid value '' for --listen: " LISTEN_PORT},
    {"listen", "host:65536", "invalid value 'host:65536' for --listen: " LISTEN_PORT},
    {"listen", "host:-1", "invalid value 'host:-1' for --listen: " LISTEN_PORT},
    {"listen", "host:", "invalid value 'host:' for --listen: " LISTEN_PORT},
    {"listen", "host:80x", "invalid value 'host:80x' for --listen: " LISTEN_PORT},
    {"listen", ":80", "invalid value ':80' for --listen: " LISTEN_HOST},
    {"listen", "a_b:80", "invalid value 'a_b:80' for --listen: " LISTEN_HOST},
    {"listen", "::1:80", "invalid value '::1:80' for --listen: " LISTEN_HOST},
    {"listen", "[::1:80", "invalid value '[::1:80' for --listen: " LISTEN_HOST},
    {"listen", "[zz]:80", "invalid value '[zz]:80' for --listen: " LISTEN_HOST},
    {"listen", "999.1.1.1:80", "invalid value '999.1.1.1:80' for --listen: " LISTEN_HOST},
    {"redis-url", "http://h", "invalid value 'http://h' for --redis-url: " ANY_REDIS_FORM},
    {"redis-url", "rediss://h", "invalid value 'rediss://h' for --redis-url: " ANY_REDIS_FORM},
    {"redis-url", "redis-sentinel://h",
     "invalid value 'redis-sentinel://h' for --redis-url: " SENTINEL_FORM
     " with a master name of 1 to 63 characters of [A-Za-z0-9_.-]"},
    {"redis-url", "redis-sentinel://h/",
     "invalid value 'redis-sentinel://h/' for --redis-url: " SENTINEL_FORM
     " with a master name of 1 to 63 characters of [A-Za-z0-9_.-]"},
    {"redis-url", "redis-sentinel://h/m m",
     "invalid value 'redis-sentinel://h/m m' for --redis-url: " SENTINEL_FORM
     " with a master name of 1 to 63 characters of [A-Za-z0-9_.-]"},
    {"redis-url", "redis-sentinel://h/m/16",
     "invalid value 'redis-sentinel://h/m/16' for --redis-url: " SENTINEL_FORM
     " with a db from 0 to 15"},
    {"redis-url", "redis-sentinel://h,/m",
     "invalid value 'redis-sentinel://h,/m' for --redis-url: " SENTINEL_FORM},
    {"redis-url", "redis-sentinel://:pw@h:0/m",
     "invalid value 'redis-sentinel://:***@h:0/m' for --redis-url: " SENTINEL_FORM
     " with a port from 1 to 65535"},
    {"redis-url", "redis-sentinel://a,b,c,d,e,f,g,h,i/m",
     "invalid value 'redis-sentinel://a,b,c,d,e,f,g,h,i/m' for --redis-url: " SENTINEL_FORM
     " with at most 8 sentinels"},
    {"redis-url", "redis://h,i", "invalid value 'redis://h,i' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://", "invalid value 'redis://' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://:pw@", "invalid value 'redis://:***@' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://pw@h", "invalid value 'redis://***@h' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://h?db=1", "invalid value 'redis://h?db=1' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://h h", "invalid value 'redis://h h' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://[::1", "invalid value 'redis://[::1' for --redis-url: " REDIS_FORM},
    {"redis-url", "redis://h:0",
     "invalid value 'redis://h:0' for --redis-url: " REDIS_FORM " with a port from 1 to 65535"},
    {"redis-url", "redis://:secret@h:65536",
     "invalid value 'redis://:***@h:65536' for --redis-url: " REDIS_FORM
     " with a port from 1 to 65535"},
    {"redis-url", "redis://h:",
     "invalid value 'redis://h:' for --redis-url: " REDIS_FORM " with a port from 1 to 65535"},
    {"redis-url", "redis://h/16",
     "invalid value 'redis://h/16' for --redis-url: " REDIS_FORM " with a db from 0 to 15"},
    {"redis-url", "redis://h/x",
     "invalid value 'redis://h/x' for --redis-url: " REDIS_FORM " with a db from 0 to 15"},
    {"channels", "",
     "invalid value '' for --channels: expected at least one channel name or "
     "prefix* family"},
    {"auth-secret", "too-short-secret", "invalid value '***' for --auth-secret: " SECRET_LEN},
    {"auth-secret-file", "/nonexistent/secret",
     "invalid value '/nonexistent/secret' for --auth-secret-file: cannot read it: No such file or "
     "directory"},
    {"auth-secret-file", SECRET_FILE_EMPTY,
     "invalid value '" SECRET_FILE_EMPTY "' for --auth-secret-file: the file is empty; expected 32 "
     "to 1024 bytes"},
    {"auth-secret-file", SECRET_FILE_SHORT,
     "invalid value '" SECRET_FILE_SHORT "' for --auth-secret-file: " SECRET_LEN},
    {"public-channels", "a b", "invalid value 'a b' for --public-channels: channel 'a b' " CHAN_CHARS},
    {"token-skew", "601", INT_MSG("token-skew", "601", "0 to 600")},
    {"rate-limit", "-1", INT_MSG("rate-limit", "-1", "0 to 100000")},
    {"max-url-bytes", "255", INT_MSG("max-url-bytes", "255", "256 to 65536")},
    {"max-header-bytes", "65537", INT_MSG("max-header-bytes", "65537", "1024 to 65536")},
    {"max-headers", "7", INT_MSG("max-headers", "7", "8 to 1000")},
    {"rate-limit-burst", "0", INT_MSG("rate-limit-burst", "0", "1 to 100000")},
    {"max-token-bytes", "255", INT_MSG("max-token-bytes", "255", "256 to 16384")},
    {"cors-origins", "https://a.example.com/",
     "invalid value 'https://a.example.com/' for --cors-origins: origin 'https://a.example.com/' "
     ORIGIN_FORM},
    {"cors-origins", "HTTPS://A.example.com",
     "invalid value 'HTTPS://A.example.com' for --cors-origins: origin 'HTTPS://A.example.com' "
     ORIGIN_FORM},
    {"cors-origins", "ftp://a", "invalid value 'ftp://a' for --cors-origins: origin 'ftp://a' " ORIGIN_FORM},
    {"cors-origins", "http://a:123456",
     "invalid value 'http://a:123456' for --cors-origins: origin 'http://a:123456' " ORIGIN_FORM},
    {"cors-origins", "*,http://a",
     "invalid value '*,http://a' for --cors-origins: '*' allows every origin and must stand alone"},
    {"cors-origins", "http://[not ::1]",
     "invalid value 'http://[not ::1]' for --cors-origins: origin 'http://[not ::1]' " ORIGIN_FORM},
    {"cors-origins", "http://[::g]:80",
     "invalid value 'http://[::g]:80' for --cors-origins: origin 'http://[::g]:80' " ORIGIN_FORM},
    {"cors-origins", "https://[1:2:3]",
     "invalid value 'https://[1:2:3]' for --cors-origins: origin 'https://[1:2:3]' " ORIGIN_FORM},
    {"cors-origins", "http://[\r\nX-Injected: 1]",
     "invalid value 'http://[??X-Injected: 1]' for --cors-origins: origin 'http://[??X-Injected: 1]' "
     ORIGIN_FORM},
    {"channels", "a b", "invalid value 'a b' for --channels: channel 'a b' " CHAN_CHARS},
    {"channels", "a,,b", "invalid value 'a,,b' for --channels: empty channel name in list"},
    {"channels", "a,a", "invalid value 'a,a' for --channels: duplicate channel 'a'"},
    {"channels", "a*b",
     "invalid value 'a*b' for --channels: '*' only allowed at the end of a "
     "channel family, as in 'user:*'"},
    {"flask-channels", "x y",
     "invalid value 'x y' for --flask-channels: channel 'x y' " CHAN_CHARS},
    {"heartbeat-interval", "abc", INT_MSG("heartbeat-interval", "abc", "1 to 3600")},
    {"heartbeat-interval", "", INT_MSG("heartbeat-interval", "", "1 to 3600")},
    {"heartbeat-interval", "1.5", INT_MSG("heartbeat-interval", "1.5", "1 to 3600")},
    {"heartbeat-interval", "10x", INT_MSG("heartbeat-interval", "10x", "1 to 3600")},
    {"heartbeat-interval", "-1", INT_MSG("heartbeat-interval", "-1", "1 to 3600")},
    {"heartbeat-interval", "+5", INT_MSG("heartbeat-interval", "+5", "1 to 3600")},
    {"heartbeat-interval", " 5", INT_MSG("heartbeat-interval", " 5", "1 to 3600")},
    {"heartbeat-interval", "5 ", INT_MSG("heartbeat-interval", "5 ", "1 to 3600")},
    {"heartbeat-interval", "0x10", INT_MSG("heartbeat-interval", "0x10", "1 to 3600")},
    {"heartbeat-interval", "99999999999999999999",
     INT_MSG("heartbeat-interval", "99999999999999999999", "1 to 3600")},
    {"heartbeat-interval", "0", INT_MSG("heartbeat-interval", "0", "1 to 3600")},
    {"heartbeat-interval", "3601", INT_MSG("heartbeat-interval", "3601", "1 to 3600")},
    {"max-connections", "0", INT_MSG("max-connections", "0", "1 to 1000000")},
    {"max-connections", "1000001", INT_MSG("max-connections", "1000001", "1 to 1000000")},
    {"max-connections-per-ip", "0", INT_MSG("max-connections-per-ip", "0", "1 to 1000000")},
    {"max-connections-per-ip", "ten", INT_MSG("max-connections-per-ip", "ten", "1 to 1000000")},
    {"health-check-interval", "86401", INT_MSG("health-check-interval", "86401", "1 to 86400")},
    {"health-check-interval", "0", INT_MSG("health-check-interval", "0", "1 to 86400")},
    {"compression-threshold", "-1", INT_MSG("compression-threshold", "-1", "0 to 67108864")},
    {"compression-threshold", "67108865",
     INT_MSG("compression-threshold", "67108865", "0 to 67108864")},
    {"trusted-proxies", "10.0.0.1/33",
     "invalid value '10.0.0.1/33' for --trusted-proxies: "
     "'10.0.0.1/33' is not an IPv4/IPv6 address or CIDR"},
    {"trusted-proxies", "10.0.0.1/8",
     "invalid value '10.0.0.1/8' for --trusted-proxies: "
     "'10.0.0.1/8' has host bits set beyond the prefix"},
    {"bridge-id", "", "invalid value '' for --bridge-id: " ID_MSG},
    {"bridge-id", "a b", "invalid value 'a b' for --bridge-id: " ID_MSG},
    {"bridge-id", "a/b", "invalid value 'a/b' for --bridge-id: " ID_MSG},
    {"bridge-id", "12345678901234567890123456789012345678901234567890123456789012345",
     "invalid value '12345678901234567890123456789012345678901234567890123456789012345' for "
     "--bridge-id: " ID_MSG},
    {"log-level", "verbose",
     "invalid value 'verbose' for --log-level: expected one of debug, info, warn, error"},
    {"log-level", "INFO",
     "invalid value 'INFO' for --log-level: expected one of debug, info, warn, error"},
    {"max-queue-bytes", "4095", INT_MSG("max-queue-bytes", "4095", "4096 to 1073741824")},
    {"max-queue-bytes", "1073741825",
     INT_MSG("max-queue-bytes", "1073741825", "4096 to 1073741824")},
    {"max-message-bytes", "63", INT_MSG("max-message-bytes", "63", "64 to 67108864")},
    {"max-message-bytes", "1M", INT_MSG("max-message-bytes", "1M", "64 to 67108864")},
    {"max-channels-per-connection", "257",
     INT_MSG("max-channels-per-connection", "257", "1 to 256")},
    {"max-channels-per-connection", "0", INT_MSG("max-channels-per-connection", "0", "1 to 256")},
    {"header-timeout", "0", INT_MSG("header-timeout", "0", "1 to 3600")},
    {"header-timeout", "3601", INT_MSG("header-timeout", "3601", "1 to 3600")},
    {"drain-timeout", "3601", INT_MSG("drain-timeout", "3601", "0 to 3600")},
    {"drain-timeout", "-0", INT_MSG("drain-timeout", "-0", "0 to 3600")},
    {"retry-ms", "99", INT_MSG("retry-ms", "99", "100 to 600000")},
    {"retry-ms", "600001", INT_MSG("retry-ms", "600001", "100 to 600000")},
    {"compression", "gzip", "invalid value 'gzip' for --compression: expected on or off (true/false, yes/no, 1/0)"},
    {"compression-level", "0", INT_MSG("compression-level", "0", "1 to 9")},
    {"compression-level", "10", INT_MSG("compression-level", "10", "1 to 9")},
    {"reuseport", "maybe",
     "invalid value 'maybe' for --reuseport: expected on or off (true/false, yes/no, 1/0)"},
    {"reuseport", "", "invalid value '' for --reuseport: expected on or off (true/false, yes/no, 1/0)"},
    {"coalesce-ms", "1001", INT_MSG("coalesce-ms", "1001", "0 to 1000")},
    {"coalesce-ms", "-1", INT_MSG("coalesce-ms", "-1", "0 to 1000")},
    {"lease-ms", "299", INT_MSG("lease-ms", "299", "300 to 600000")},
    {"io-uring", "yes", "invalid value 'yes' for --io-uring: expected auto, on or off"},
    {"io-uring", "", "invalid value '' for --io-uring: expected auto, on or off"},
    {"limit-response", "close", "invalid value 'close' for --limit-response: expected status or retry"},
    {"redis-prefix", "a b",
     "invalid value 'a b' for --redis-prefix: expected 1 to 32 printable characters without spaces"},
    {"redis-prefix", "", "invalid value '' for --redis-prefix: expected 1 to 32 printable characters without spaces"},
    {"redis-prefix", "sse:", "invalid value 'sse:' for --redis-prefix: expected a {hash tag} in it, as in {sse}:"},
    {"redis-prefix", "{}:", "invalid value '{}:' for --redis-prefix: expected a {hash tag} in it, as in {sse}:"},
    {"history", "sometimes",
     "invalid value 'sometimes' for --history: expected on or off (true/false, yes/no, 1/0)"},
    {"redis-probe-timeout", "99", INT_MSG("redis-probe-timeout", "99", "100 to 600000")},
    {"redis-probe-timeout", "600001", INT_MSG("redis-probe-timeout", "600001", "100 to 600000")},
    {"log-format", "xml", "invalid value 'xml' for --log-format: expected one of text, logfmt, json"},
    {"log-format", "JSON", "invalid value 'JSON' for --log-format: expected one of text, logfmt, json"},
    {"log-format", "", "invalid value '' for --log-format: expected one of text, logfmt, json"},
    {"health-history", "0", INT_MSG("health-history", "0", "1 to 10000")},
    {"health-history", "10001", INT_MSG("health-history", "10001", "1 to 10000")},
};
#define BAD_COUNT ((int)(sizeof(bad_cases) / sizeof(bad_cases[0])))

START_TEST(the_bad_case_table_covers_every_flag)
{
    for (int i = 0; i < FLAG_COUNT; i++) {
        int found = 0;
        for (int j = 0; j < BAD_COUNT; j++)
            found |= strcmp(bad_cases[j].flag, flags[i].flag) == 0;
        ck_assert_msg(found, "no bad value for --%s", flags[i].flag);
    }
}
END_TEST

START_TEST(bad_flag_value_gives_the_exact_one_line_message)
{
    const bad_case_t *b = &bad_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", flag[64];
    const char *second;
    flag_args(b->flag, b->value, flag, sizeof(flag), &second);
    ck_assert_int_eq(run(&c, err, flag, second, NULL), CFG_ERROR);
    ck_assert_str_eq(err, b->err);
    cfg_free(&c);
}
END_TEST

START_TEST(bad_flag_value_after_an_equals_sign_gives_the_same_message)
{
    const bad_case_t *b = &bad_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", arg[256];
    snprintf(arg, sizeof(arg), "--%s=%s", b->flag, b->value);
    ck_assert_int_eq(run(&c, err, arg, NULL), CFG_ERROR);
    ck_assert_str_eq(err, b->err);
    cfg_free(&c);
}
END_TEST

START_TEST(bad_environment_value_names_the_variable_and_the_flag)
{
    const bad_case_t *b = &bad_cases[_i];
    cfg_t c;
    char err[ERR_LEN] = "", expect[ERR_LEN];
    const char *env = env_of(b->flag);
    /* The flag message with "for --x:" turned into "for SSE_X (--x):". */
    char needle[96];
    snprintf(needle, sizeof(needle), "' for --%s: ", b->flag);
    const char *at = strstr(b->err, needle);
    ck_assert_ptr_nonnull(at);
    snprintf(expect, sizeof(expect), "%.*s' for %s (--%s): %s", (int)(at - b->err), b->err, env,
             b->flag, at + strlen(needle));
    setenv(env, b->value, 1);
    ck_assert_int_eq(run(&c, err, NULL), CFG_ERROR);
    ck_assert_str_eq(err, expect);
    cfg_free(&c);
}
END_TEST

START_TEST(bad_environment_values_give_the_documented_messages)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    setenv("SSE_HEARTBEAT_INTERVAL", "abc", 1);
    ck_assert_int_eq(run(&c, err, NULL), CFG_ERROR);
    ck_assert_str_eq(err, "invalid value 'abc' for SSE_HEARTBEAT_INTERVAL (--heartbeat-interval): "
                          "expected an integer from 1 to 3600");
    cfg_free(&c);
    unsetenv("SSE_HEARTBEAT_INTERVAL");
    setenv("SSE_CHANNELS", "a b", 1);
    ck_assert_int_eq(run(&c, err, NULL), CFG_ERROR);
    ck_assert_str_eq(err, "invalid value 'a b' for SSE_CHANNELS (--channels): channel 'a b' has a "
                          "character outside [A-Za-z0-9_.:-]");
    cfg_free(&c);
    unsetenv("SSE_CHANNELS");
    setenv("SSE_MAX_CONNECTIONS_PER_IP", "", 1);
    ck_assert_int_eq(run(&c, err, NULL), CFG_ERROR);
    ck_assert_str_eq(err, "invalid value '' for SSE_MAX_CONNECTIONS_PER_IP "
                          "(--max-connections-per-ip): expected an integer from 1 to 1000000");
    cfg_free(&c);
    unsetenv("SSE_MAX_CONNECTIONS_PER_IP");
    setenv("SSE_LOG_FORMAT", "yaml", 1);
    ck_assert_int_eq(run(&c, err, NULL), CFG_ERROR);
    ck_assert_str_eq(err, "invalid value 'yaml' for SSE_LOG_FORMAT (--log-format): expected one "
                          "of text, logfmt, json");
    cfg_free(&c);
}
END_TEST

START_TEST(bad_environment_value_is_reported_even_when_a_flag_overrides_it)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    setenv("SSE_LOG_LEVEL", "loud", 1);
    ck_assert_int_eq(run(&c, err, "--log-level", "warn", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "invalid value 'loud' for SSE_LOG_LEVEL (--log-level): expected one of "
                          "debug, info, warn, error");
    cfg_free(&c);
}
END_TEST

START_TEST(empty_flask_channels_in_the_environment_is_an_empty_list)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    setenv("SSE_FLASK_CHANNELS", "", 1);
    ck_assert_int_eq(run(&c, err, NULL), CFG_OK);
    ck_assert_uint_eq(c.flask_channels.count, 0);
    cfg_free(&c);
}
END_TEST

START_TEST(error_messages_never_contain_a_newline_or_the_redis_password)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--bridge-id", "a\nb", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "invalid value 'a?b' for --bridge-id: " ID_MSG);
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--channels", "ok,x\r\ny", NULL), CFG_ERROR);
    ck_assert_ptr_null(strpbrk(err, "\r\n"));
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--redis-url", "redis://admin:hunter2@h:99999", NULL), CFG_ERROR);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    ck_assert_ptr_nonnull(strstr(err, "'redis://admin:***@h:99999'"));
    cfg_free(&c);
}
END_TEST

START_TEST(a_very_long_bad_value_is_cut_short_in_the_message)
{
    cfg_t c;
    char err[ERR_LEN] = "", value[300];
    memset(value, '7', 200);
    value[200] = '\0';
    ck_assert_int_eq(run(&c, err, "--retry-ms", value, NULL), CFG_ERROR);
    ck_assert_ptr_nonnull(
        strstr(err, "7...' for --retry-ms: expected an integer from 100 to 600000"));
    ck_assert_uint_lt(strlen(err), 200);
    cfg_free(&c);
}
END_TEST

START_TEST(a_small_error_buffer_is_truncated_safely)
{
    cfg_t c;
    char err[8];
    char *argv[] = {(char *)"sse-bridge", (char *)"--nope", NULL};
    ck_assert_int_eq(cfg_parse(&c, 2, argv, stdout, err, sizeof(err)), CFG_ERROR);
    ck_assert_str_eq(err, "unknown");
    cfg_free(&c);
    ck_assert_int_eq(cfg_parse(&c, 2, argv, stdout, NULL, 0), CFG_ERROR);
    cfg_free(&c);
}
END_TEST

/* ---- argv shape ---- */

START_TEST(unknown_option_is_an_error)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--foo", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unknown option '--foo' (see --help)");
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--foo=1", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unknown option '--foo' (see --help)");
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--listen-x", "1", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unknown option '--listen-x' (see --help)");
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "-h", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unknown option '-h' (see --help)");
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unknown option '--' (see --help)");
    cfg_free(&c);
}
END_TEST

START_TEST(positional_argument_is_an_error)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "x", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unexpected argument 'x' (see --help)");
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--listen", "1.2.3.4:5", "-", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unexpected argument '-' (see --help)");
    cfg_free(&c);
}
END_TEST

START_TEST(flag_given_last_without_a_value_is_an_error)
{
    cfg_t c;
    char err[ERR_LEN] = "", flag[64], expect[128];
    if (is_switch(flags[_i].flag))
        return; /* covered by a_switch_alone_is_on_and_takes_only_its_own_words_as_a_value */
    snprintf(flag, sizeof(flag), "--%s", flags[_i].flag);
    snprintf(expect, sizeof(expect), "option --%s needs a value", flags[_i].flag);
    ck_assert_int_eq(run(&c, err, "--log-level", "debug", flag, NULL), CFG_ERROR);
    ck_assert_str_eq(err, expect);
    cfg_free(&c);
}
END_TEST

START_TEST(a_switch_alone_is_on_and_takes_only_its_own_words_as_a_value)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_msg(run(&c, err, "--reuseport", NULL) == CFG_OK, "%s", err);
    ck_assert_int_eq(c.reuseport, 1);
    cfg_free(&c);
    ck_assert_msg(run(&c, err, "--reuseport", "--coalesce-ms", "5", NULL) == CFG_OK, "%s", err);
    ck_assert_int_eq(c.reuseport, 1);
    ck_assert_int_eq(c.coalesce_ms, 5);
    cfg_free(&c);
    ck_assert_msg(run(&c, err, "--reuseport", "on", "--compression", "off", NULL) == CFG_OK, "%s",
                  err);
    ck_assert_int_eq(c.reuseport, 1);
    ck_assert_int_eq(c.compression, 0);
    cfg_free(&c);
    /* Only a switch's own words are taken as its value. */
    ck_assert_int_eq(run(&c, err, "--reuseport", "maybe", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unexpected argument 'maybe' (see --help)");
    cfg_free(&c);
    ck_assert_msg(run(&c, err, "--reuseport=off", NULL) == CFG_OK, "%s", err);
    ck_assert_int_eq(c.reuseport, 0);
    cfg_free(&c);
}
END_TEST

START_TEST(a_value_that_looks_like_a_flag_is_taken_as_the_value)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--listen", "--heartbeat-interval", "5", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "unexpected argument '5' (see --help)");
    cfg_free(&c);
}
END_TEST

/* ---- help and version ---- */

/* Runs cfg_parse and returns what it printed (caller frees). */
static char *run_capture(cfg_result_t *r, char *err, const char *arg)
{
    char *buf = NULL;
    size_t len = 0;
    char *argv[] = {(char *)"sse-bridge", (char *)arg, NULL};
    cfg_t c;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    *r = cfg_parse(&c, 2, argv, out, err, ERR_LEN);
    fclose(out);
    cfg_free(&c);
    return buf;
}

START_TEST(version_prints_the_version_line)
{
    cfg_result_t r;
    char err[ERR_LEN] = "";
    char *text = run_capture(&r, err, "--version");
    ck_assert_int_eq(r, CFG_EXIT_OK);
    ck_assert_str_eq(text, "sse-bridge " SSE_BRIDGE_VERSION "\n");
    ck_assert_str_eq(text, "sse-bridge 0.1.0\n");
    free(text);
}
END_TEST

START_TEST(help_lists_every_flag_with_its_variable_and_default)
{
    cfg_result_t r;
    char err[ERR_LEN] = "";
    char *text = run_capture(&r, err, "--help");
    ck_assert_int_eq(r, CFG_EXIT_OK);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(strstr(text, "Usage: sse-bridge"));
    for (int i = 0; i < FLAG_COUNT; i++) {
        char want[256];
        snprintf(want, sizeof(want), "  --%s ", flags[i].flag);
        ck_assert_msg(strstr(text, want) != NULL, "help lacks %s", want);
        snprintf(want, sizeof(want), "env %s, default %s\n", flags[i].env, flags[i].def);
        ck_assert_msg(strstr(text, want) != NULL, "help lacks %s", want);
    }
    ck_assert_ptr_nonnull(strstr(text, "--help"));
    ck_assert_ptr_nonnull(strstr(text, "--version"));
    free(text);
}
END_TEST

START_TEST(help_works_even_with_a_broken_environment)
{
    cfg_result_t r;
    char err[ERR_LEN] = "";
    setenv("SSE_LISTEN", "nonsense", 1);
    char *text = run_capture(&r, err, "--help");
    ck_assert_int_eq(r, CFG_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(text, "--listen"));
    free(text);
}
END_TEST

START_TEST(help_and_version_take_no_value)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--help=yes", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "option --help takes no value");
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, "--version=1", NULL), CFG_ERROR);
    ck_assert_str_eq(err, "option --version takes no value");
    cfg_free(&c);
}
END_TEST

START_TEST(cfg_free_is_safe_after_every_result_and_twice)
{
    cfg_t c;
    char err[ERR_LEN] = "";
    ck_assert_int_eq(run(&c, err, "--version", NULL), CFG_EXIT_OK);
    cfg_free(&c);
    ck_assert_int_eq(
        run(&c, err, "--channels", "a", "--trusted-proxies", "::1", "--listen", "x", NULL),
        CFG_ERROR);
    cfg_free(&c);
    cfg_free(&c);
    ck_assert_int_eq(run(&c, err, NULL), CFG_OK);
    cfg_free(&c);
    cfg_free(&c);
    cfg_free(NULL);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");

    TCase *tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, clean_env, NULL);
    tcase_add_test(tc, no_arguments_give_the_documented_defaults);
    tcase_add_test(tc, default_bridge_id_is_the_cleaned_hostname_then_the_pid);
    tcase_add_test(tc, an_empty_argv_gives_the_defaults);
    tcase_add_test(tc, parse_zero_fills_an_uninitialized_cfg);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_checked_fixture(tc, clean_env, NULL);
    tcase_add_test(tc, the_good_case_table_covers_every_flag);
    tcase_add_loop_test(tc, flag_with_a_separate_value_sets_its_field, 0, GOOD_COUNT);
    tcase_add_loop_test(tc, flag_with_an_equals_sign_sets_its_field, 0, GOOD_COUNT);
    tcase_add_loop_test(tc, environment_variable_sets_its_field, 0, GOOD_COUNT);
    tcase_add_loop_test(tc, flag_beats_environment_variable, 0, GOOD_COUNT);
    tcase_add_test(tc, last_occurrence_of_a_flag_wins_and_lists_are_replaced);
    tcase_add_test(tc, integers_accept_leading_zeros);
    tcase_add_loop_test(tc, listen_and_redis_url_accept_their_documented_forms, 0,
                        (int)(sizeof(form_cases) / sizeof(form_cases[0])));
    tcase_add_test(tc, redis_password_of_255_bytes_is_kept_and_256_rejected);
    tcase_add_test(tc, empty_flask_channels_in_the_environment_is_an_empty_list);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, clean_env, NULL);
    tcase_add_test(tc, the_bad_case_table_covers_every_flag);
    tcase_add_loop_test(tc, bad_flag_value_gives_the_exact_one_line_message, 0, BAD_COUNT);
    tcase_add_loop_test(tc, bad_flag_value_after_an_equals_sign_gives_the_same_message, 0,
                        BAD_COUNT);
    tcase_add_loop_test(tc, bad_environment_value_names_the_variable_and_the_flag, 0, BAD_COUNT);
    tcase_add_test(tc, bad_environment_values_give_the_documented_messages);
    tcase_add_test(tc, bad_environment_value_is_reported_even_when_a_flag_overrides_it);
    tcase_add_test(tc, error_messages_never_contain_a_newline_or_the_redis_password);
    tcase_add_test(tc, a_very_long_bad_value_is_cut_short_in_the_message);
    tcase_add_test(tc, a_small_error_buffer_is_truncated_safely);
    suite_add_tcase(s, tc);

    tc = tcase_create("argv");
    tcase_add_checked_fixture(tc, clean_env, NULL);
    tcase_add_test(tc, unknown_option_is_an_error);
    tcase_add_test(tc, positional_argument_is_an_error);
    tcase_add_loop_test(tc, flag_given_last_without_a_value_is_an_error, 0, FLAG_COUNT);
    tcase_add_test(tc, a_value_that_looks_like_a_flag_is_taken_as_the_value);
    tcase_add_test(tc, a_switch_alone_is_on_and_takes_only_its_own_words_as_a_value);
    tcase_add_test(tc, cfg_free_is_safe_after_every_result_and_twice);
    suite_add_tcase(s, tc);

    tc = tcase_create("help");
    tcase_add_checked_fixture(tc, clean_env, NULL);
    tcase_add_test(tc, version_prints_the_version_line);
    tcase_add_test(tc, help_lists_every_flag_with_its_variable_and_default);
    tcase_add_test(tc, help_works_even_with_a_broken_environment);
    tcase_add_test(tc, help_and_version_take_no_value);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    char dir[] = "/tmp/sse-test-config-XXXXXX";
    if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
        perror("test_config: private directory");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    const char *files[] = {SECRET_FILE, SECRET_FILE_CRLF, SECRET_FILE_EMPTY, SECRET_FILE_SHORT};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    if (chdir("/") != 0 || rmdir(dir) != 0)
        perror("test_config: removing the private directory");
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
