/* SSE framing: turns one event into the bytes of a text/event-stream block. */
#ifndef SSE_FRAME_H
#define SSE_FRAME_H

#include <stddef.h>

#include "msg.h"

typedef struct sse_event_s {
    const char *event; /* event type, NULL for none (the client sees "message") */
    size_t event_len;  /* bytes in event */
    const char *id;    /* last-event id, NULL for none */
    size_t id_len;     /* bytes in id */
    long retry;        /* reconnection time in ms, < 0 for none */
    const char *data;  /* payload bytes, may contain anything (NUL too); NULL = "" */
    size_t data_len;   /* bytes in data */
} sse_event_t;

/* Exact number of bytes sse_frame_write() produces for ev; SIZE_MAX when that
 * does not fit a size_t (data of mostly line breaks near the address-space size). */
size_t sse_frame_size(const sse_event_t *ev);

/* Writes the block for ev into out (sse_frame_size(ev) bytes available) and
 * returns the bytes written. The block is, in this order:
 *   "event: <event>\n"  when event != NULL,
 *   "id: <id>\n"        when id != NULL,
 *   "retry: <retry>\n"  when retry >= 0,
 *   "data: <line>\n"    once per line of data, then "\n".
 * Data lines split at LF, CRLF and lone CR, as the WHATWG parser does, so a
 * browser rebuilds data with every line break as LF; empty data is one
 * "data: " line. CR, LF and NUL bytes are left out of event and id, so no
 * publisher can inject fields or events through them. */
size_t sse_frame_write(const sse_event_t *ev, char *out);

/* Frames ev into a new message with one reference; NULL when out of memory. */
msg_t *sse_frame_msg(const sse_event_t *ev);

#endif
