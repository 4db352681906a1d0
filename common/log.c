/* Logging: one line per message on stderr, written with a single write, in
 * the format the operator chose (text for people, logfmt or JSON for log
 * pipelines). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level_t log_level = LOG_INFO;
static log_format_t log_format = LOG_FMT_TEXT;
static const char *const level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_lower[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_lower[i]) == 0)
            return i;
    return -1;
}

int log_format_parse(const char *s)
{
    static const char *const names[] = {"text", "logfmt", "json"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(log_level_t level)
{
    log_level = level;
}

void log_set_format(log_format_t fmt)
{
    log_format = fmt;
}

/* A bounded line: writes stop RESERVE bytes short of the end, which are
 * kept for closing quotes, the closing brace and the newline. */
#define RESERVE 8

typedef struct line_s {
    char *p;    /* the buffer */
    size_t len; /* bytes written */
    size_t cap; /* its size */
    int full;   /* a write did not fit: the rest of the content is dropped */
} line_t;

static void put(line_t *l, const char *s, size_t n)
{
    if (l->full || l->len + n + RESERVE > l->cap) {
        l->full = 1;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(line_t *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Writes into the reserve: only closing characters use it. */
static void force(line_t *l, char c)
{
    if (l->len + 1 < l->cap)
        l->p[l->len++] = c;
}

/* A quoted string, escaped the JSON way (logfmt readers accept the same). */
static void put_quoted(line_t *l, const char *s)
{
    put(l, "\"", 1);
    if (l->full)
        return;
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0' && !l->full; c++) {
        char esc[8];
        switch (*c) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                snprintf(esc, sizeof(esc), "\\u%04x", *c);
                put(l, esc, 6);
            } else {
                put(l, (const char *)c, 1);
            }
        }
    }
    force(l, '"');
}

/* logfmt leaves a value bare when nothing in it needs quoting. */
static int needs_quotes(const char *s)
{
    if (*s == '\0')
        return 1;
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
        if (*c <= ' ' || *c == '"' || *c == '=' || *c == '\\' || *c == 0x7f)
            return 1;
    return 0;
}

static void put_value(line_t *l, log_format_t fmt, const log_kv_t *kv)
{
    char num[48];
    switch (kv->type) {
    case LOG_KV_INT:
        snprintf(num, sizeof(num), "%lld", kv->i);
        puts_(l, num);
        return;
    case LOG_KV_DBL:
        snprintf(num, sizeof(num), "%.3f", kv->d);
        puts_(l, num);
        return;
    case LOG_KV_STR:
        break;
    }
    if (kv->s == NULL)
        puts_(l, fmt == LOG_FMT_JSON ? "null" : "-");
    else if (fmt == LOG_FMT_JSON || needs_quotes(kv->s))
        put_quoted(l, kv->s);
    else
        puts_(l, kv->s);
}

size_t log_render(char *out, size_t cap, log_format_t fmt, const struct timeval *tv,
                  log_level_t level, const char *msg, const log_kv_t *kv, size_t n)
{
    line_t l = {.p = out, .len = 0, .cap = cap, .full = 0};
    char ts[48];
    struct tm tm;
    time_t sec = tv->tv_sec;
    gmtime_r(&sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03dZ", (int)(tv->tv_usec / 1000));
    if (fmt == LOG_FMT_JSON) {
        puts_(&l, "{\"ts\":\"");
        puts_(&l, ts);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_lower[level]);
        puts_(&l, "\",\"msg\":");
        put_quoted(&l, msg);
    } else if (fmt == LOG_FMT_LOGFMT) {
        puts_(&l, "ts=");
        puts_(&l, ts);
        puts_(&l, " level=");
        puts_(&l, level_lower[level]);
        puts_(&l, " msg=");
        put_quoted(&l, msg);
    } else {
        puts_(&l, ts);
        puts_(&l, " ");
        puts_(&l, level_upper[level]);
        puts_(&l, " ");
        /* Text is for people: the message as it is, control bytes excepted. */
        for (const unsigned char *c = (const unsigned char *)msg; *c != '\0' && !l.full; c++) {
            char ch = *c < 0x20 ? '?' : (char)*c;
            put(&l, &ch, 1);
        }
    }
    for (size_t i = 0; i < n && !l.full; i++) {
        size_t before = l.len;
        if (fmt == LOG_FMT_JSON) {
            puts_(&l, ",\"");
            puts_(&l, kv[i].key);
            puts_(&l, "\":");
        } else {
            puts_(&l, " ");
            puts_(&l, kv[i].key);
            puts_(&l, "=");
        }
        size_t value_at = l.len;
        if (!l.full)
            put_value(&l, fmt, &kv[i]);
        /* A field cut short goes away whole, unless it is a string whose
         * quotes were closed (still well-formed, visibly cut). */
        if (l.full && (l.len == value_at || l.p[l.len - 1] != '"' || l.len - value_at < 2))
            l.len = before;
    }
    if (fmt == LOG_FMT_JSON)
        force(&l, '}');
    force(&l, '\n');
    l.p[l.len] = '\0';
    return l.len;
}

void log_kv(log_level_t level, const char *msg, const log_kv_t *kv, size_t n)
{
    if (level < log_level)
        return;
    char line[LOG_LINE_MAX];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    size_t len = log_render(line, sizeof(line), log_format, &tv, level, msg, kv, n);
    /* One write per line keeps lines whole when several processes share stderr. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m < 0)
        msg[0] = '\0';
    log_kv(level, msg, NULL, 0);
}
