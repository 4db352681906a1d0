/* Incremental, I/O-free parser for text/event-stream (WHATWG "Interpreting an event stream"). */
#ifndef SSE_PARSE_H
#define SSE_PARSE_H

#include <stddef.h>

/* Error codes; the parser keeps the first one (sticky) until ssep_free(). */
#define SSEP_ELINE (-1)  /* a line is longer than max_line bytes */
#define SSEP_EDATA (-2)  /* an event's data would exceed max_line bytes */
#define SSEP_ENOMEM (-3) /* a buffer could not grow */

/* One dispatched event. Every pointer is valid only during the callback and
 * is followed by a NUL byte that its length does not count (the bytes
 * themselves may hold NUL, except id). */
typedef struct ssep_event_s {
    const char *event; /* event type; "message" when the stream gave none */
    size_t event_len;  /* bytes in event */
    const char *data;  /* data lines joined by LF, the final LF removed */
    size_t data_len;   /* bytes in data */
    const char *id;    /* the last event ID at dispatch ("" when none yet) */
    size_t id_len;     /* bytes in id */
} ssep_event_t;

/* Called once per dispatched event, from inside ssep_feed(). It must not call
 * ssep_feed() or ssep_free() on the same parser. */
typedef void (*ssep_event_cb)(void *arg, const ssep_event_t *ev);

/* A growable byte buffer owned by the parser. */
typedef struct ssep_buf_s {
    char *p;    /* bytes, NUL-terminated when non-NULL; NULL until first used */
    size_t len; /* bytes used, the NUL not counted */
    size_t cap; /* bytes allocated */
} ssep_buf_t;

/* The parser. Fields are public so it can be embedded in a connection; read
 * them, never write them. */
typedef struct ssep_s {
    ssep_event_cb cb;  /* receives each dispatched event */
    void *arg;         /* passed to cb */
    size_t max_line;   /* bound on a line and on an event's data, in bytes */
    ssep_buf_t line;   /* the start of a line split across feeds */
    ssep_buf_t data;   /* data buffer: each data value followed by LF */
    ssep_buf_t event;  /* event type buffer */
    ssep_buf_t id;     /* last event ID buffer; kept from event to event */
    long retry;        /* last valid retry: value in ms (saturated), -1 if none */
    unsigned bom;      /* leading UTF-8 BOM bytes matched so far */
    unsigned started;  /* the BOM check is over: bytes are stream content */
    unsigned after_cr; /* the last byte fed was CR: a LF first in the next feed pairs with it */
    int err;           /* first error (SSEP_E*), 0 while healthy */
    unsigned long long events; /* events dispatched so far */
} ssep_t;

/* Prepares p to parse one stream; allocates nothing. Buffers grow on demand
 * up to max_line + 2 bytes each (a value, the LF after data, a NUL) and are
 * kept for reuse, so a steady stream costs no allocation per event. cb gets
 * every event. max_line is capped at SIZE_MAX / 4. */
void ssep_init(ssep_t *p, size_t max_line, ssep_event_cb cb, void *arg);

/* Parses len bytes of the stream, which may end anywhere (inside a line,
 * between CR and LF, inside the BOM). Calls cb for each event completed by
 * these bytes. Lines end at CRLF, LF or a lone CR. Returns 0, or the sticky
 * error code: once a line or an event's data is over max_line bytes, or
 * memory runs out, nothing more is parsed and every call returns that code.
 * Data is treated as bytes: no UTF-8 validation or replacement. */
int ssep_feed(ssep_t *p, const char *buf, size_t len);

/* Text for an error code (static string). */
const char *ssep_strerror(int err);

/* Frees the buffers. An incomplete event at the end of a stream is discarded,
 * as the WHATWG parser does at end of file. p may be ssep_init()ed again. */
void ssep_free(ssep_t *p);

#endif
