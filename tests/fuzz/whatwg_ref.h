/* A reference text/event-stream parser for the fuzz targets, written from the
 * WHATWG HTML standard's "Interpreting an event stream" (9.2.6), on purpose
 * simple and independent of common/sse_parse.c: it parses a whole stream at
 * once, the way the standard describes it, and records every dispatched
 * event. */
#ifndef SSE_WHATWG_REF_H
#define SSE_WHATWG_REF_H

#include <stddef.h>

/* A growable byte string (may hold NUL). */
typedef struct ref_str_s {
    char *p;    /* bytes; NULL while empty and never grown */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} ref_str_t;

/* One event as a browser's EventSource would dispatch it. */
typedef struct ref_event_s {
    ref_str_t type;   /* event type; "message" when the stream set none */
    ref_str_t data;   /* data lines joined with LF, the last LF removed */
    ref_str_t id;     /* lastEventId at dispatch ("" when none set yet) */
    long long retry;  /* reconnection time at dispatch, -1 when never set */
} ref_event_t;

typedef struct ref_stream_s {
    ref_event_t *ev;   /* dispatched events, in order (owned) */
    size_t nev;        /* entries in ev */
    size_t cap;        /* entries allocated */
    long long retry;   /* reconnection time at the end, -1 when never set */
    size_t comments;   /* comment lines seen (":..."), for the harnesses' curiosity */
} ref_stream_t;

/* Parses the complete stream s (len bytes) as a browser would, up to the
 * end of file: a leading UTF-8 BOM is skipped, lines end at CRLF, LF or CR,
 * and an event not ended by a blank line is discarded. Bytes are not UTF-8
 * decoded: a decoder maps invalid sequences to U+FFFD but never merges or
 * drops an ASCII byte (CR, LF, ':', ' '), so lines and fields split the same
 * on bytes, and equal bytes decode to equal strings. Aborts when memory runs
 * out. Release with ref_stream_free. */
void ref_parse(ref_stream_t *out, const char *s, size_t len);

void ref_stream_free(ref_stream_t *st);

/* 1 when the string holds exactly the len bytes at s. */
int ref_str_eq(const ref_str_t *a, const char *s, size_t len);

/* What a correct framer makes of an event or id field: s without CR, LF
 * and NUL, into out (len bytes available). Returns the bytes written. */
size_t ref_strip_breaks(const char *s, size_t len, char *out);

/* What a browser makes of framed data: s with CRLF and lone CR turned into
 * LF, into out (len bytes available). Returns the bytes written. */
size_t ref_normalize_breaks(const char *s, size_t len, char *out);

#endif
