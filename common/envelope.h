/* Publishing contract: turns a Redis (channel, payload) pair into an SSE event. */
#ifndef SSE_ENVELOPE_H
#define SSE_ENVELOPE_H

#include <stddef.h>

#include "sse_frame.h"

/* The first byte of an envelope payload: RFC 7464 record separator. */
#define ENVELOPE_RS 0x1E

typedef enum {
    ENVELOPE_PLAIN = 0, /* payload delivered verbatim as event <channel> */
    ENVELOPE_JSON,      /* 0x1E followed by a JSON object */
    ENVELOPE_FLASK      /* flask-sse's {"data","type","id","retry"} JSON */
} envelope_kind_t;

typedef struct envelope_s {
    envelope_kind_t kind; /* which format the payload was in */
    sse_event_t ev;       /* what to frame; points into the payload or owned storage */
    const char *target;   /* client id to deliver to, NULL for every subscriber */
    size_t target_len;    /* bytes in target */
    double ts;            /* publish time in ms since the epoch, 0 when absent */
    void *json_;          /* owned: the parsed cJSON tree, freed by envelope_free */
    char *printed_;       /* owned: data serialized from a non-string JSON value */
    char idbuf_[24];      /* owned: an integer id printed as text */
} envelope_t;

/* Parses payload (len bytes) published on channel (chlen bytes).
 *  - flask != 0: the channel is a flask-sse channel; payload must be a JSON
 *    object with "data" (any JSON value) and optional "type" (string, becomes
 *    the event; absent means no event line), "id" (string or integer) and
 *    "retry" (non-negative integer).
 *  - else, a payload whose first byte is 0x1E is an envelope: a JSON object
 *    with "data" (required, any JSON value), optional "event" (string;
 *    absent means the channel name), "id" (string or integer), "retry"
 *    (non-negative integer), "target" (non-empty string), "ts" (number).
 *  - else the payload is plain: event = channel, data = payload verbatim.
 * A string "data" is used verbatim; any other JSON value is serialized
 * compactly. Unknown keys are ignored. On success returns 0 and out borrows
 * from channel and payload (keep them alive while using out), then
 * envelope_free(out) must be called. On error returns -1, writes one line of
 * explanation into err (errlen bytes) and out needs no free. */
int envelope_parse(const char *channel, size_t chlen, const char *payload, size_t len, int flask,
                   envelope_t *out, char *err, size_t errlen);

/* Releases what envelope_parse allocated. Safe on a zeroed envelope. */
void envelope_free(envelope_t *e);

#endif
