/* SSE streams: opening, fan-out of Redis messages, heartbeats, system events. */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <stddef.h>

#include "bridge.h"
#include "conn.h"
#include "hub.h"

/* Turns c into a stream on the n channels names[i] (lens[i] bytes; already
 * validated and allowed), for client_id (NULL for none). Queues the response
 * head and the opening events. Returns 0, or -1 when out of memory (c is
 * then answered 500). */
int stream_open(conn_t *c, const char *const *names, const size_t *lens, int n,
                const char *client_id, size_t client_id_len);

/* Answers c with a stream that only says when to come back: the response
 * head, "retry: retry_ms", "event: limit" with data (len bytes), then the
 * connection is finished. For clients over a limit that must not see a
 * non-200 (a plain EventSource would give up for good). */
void stream_refuse(conn_t *c, uint32_t retry_ms, const char *data, size_t len);

/* Takes a closing stream out of the hub (and Redis, for channels nobody
 * listens to any more) and logs the close with its reason. */
void stream_detach(conn_t *c, const char *reason);

/* rsub's message sink: parses the payload per the publishing contract, frames
 * it once and queues the same bytes to every subscriber of chan. */
void stream_on_message(void *arg, hub_chan_t *chan, const char *payload, size_t len);

/* rsub's status sink: tells every stream Redis was lost or is back. */
void stream_on_status(void *arg, int up);

/* Sends one heartbeat, built once, to every stream. */
void stream_heartbeat(bridge_t *br);

/* Shutdown: every stream gets a jittered retry: and a system event, then is
 * finished (closed once written). */
void stream_shutdown_all(bridge_t *br);

#endif
