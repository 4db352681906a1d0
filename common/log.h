/* One-line logging to stderr with levels, as plain text, logfmt or JSON. */
#ifndef SSE_LOG_H
#define SSE_LOG_H

#include <stddef.h>
#include <sys/time.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

typedef enum {
    LOG_FMT_TEXT = 0, /* "<UTC time> <LEVEL> <message> key=value..." */
    LOG_FMT_LOGFMT,   /* ts=... level=info msg="..." key=value... */
    LOG_FMT_JSON      /* {"ts":"...","level":"info","msg":"...","key":value...} */
} log_format_t;

typedef enum { LOG_KV_STR = 0, LOG_KV_INT, LOG_KV_DBL } log_kv_type_t;

/* One structured field of a log line. */
typedef struct log_kv_s {
    const char *key;    /* [a-z_] name */
    log_kv_type_t type; /* which of s, i, d holds the value */
    const char *s;      /* LOG_KV_STR: the text (NULL is written as "-" / null) */
    long long i;        /* LOG_KV_INT */
    double d;           /* LOG_KV_DBL: written with 3 decimals */
} log_kv_t;

#define LOG_STR(k, v) ((log_kv_t){.key = (k), .type = LOG_KV_STR, .s = (v)})
#define LOG_INT(k, v) ((log_kv_t){.key = (k), .type = LOG_KV_INT, .i = (long long)(v)})
#define LOG_DBL(k, v) ((log_kv_t){.key = (k), .type = LOG_KV_DBL, .d = (double)(v)})

#define LOG_LINE_MAX 4096 /* longer lines are cut, still well-formed */

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

/* Parses "text", "logfmt" or "json"; returns -1 for anything else. */
int log_format_parse(const char *s);

/* Only messages at or above level are written (default LOG_INFO). */
void log_set_level(log_level_t level);

/* The line format (default LOG_FMT_TEXT). */
void log_set_format(log_format_t fmt);

/* Renders one line (with its '\n', NUL-terminated) into out (cap bytes, at
 * least 64) without I/O: time tv, level, message msg and n fields kv.
 * Returns the bytes written, without the NUL. Over cap, strings are cut so
 * that the line stays well-formed (closed quotes, closed JSON object). */
size_t log_render(char *out, size_t cap, log_format_t fmt, const struct timeval *tv,
                  log_level_t level, const char *msg, const log_kv_t *kv, size_t n);

/* Writes message with fields to stderr (one write) when level is enabled. */
void log_kv(log_level_t level, const char *msg, const log_kv_t *kv, size_t n);

/* Writes a printf-formatted message to stderr when level is enabled. */
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
