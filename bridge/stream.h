/* SSE streams: opening, fan-out of Redis messages, heartbeats, system events. */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <stddef.h>

#include "bridge.h"
#include "conn.h"
#include "hub.h"

/* Turns c into a stream on the n channels names[i] (lens[i] bytes; already
 * validated and allowed), for client_id (NULL for none), resuming from
 * cursor (cursor_len bytes; NULL for none: see replay.h). Queues the
 * response head and the opening events. Returns 0, or -1 when out of
 * memory (c is then answered 500). */
int stream_open(conn_t *c, const char *const *names, const size_t *lens, int n,
                const char *client_id, size_t client_id_len, const char *cursor, size_t cursor_len);

/* Sends the "connected" event (id: the cursor when not NULL; "resumed" in
 * its JSON), and "degraded" when Redis is away. */
void stream_hello(conn_t *c, const char *cursor, size_t cursor_len, int resumed);

/* Parses a payload published on chan (live, or rebuilt from history) and
 * sends it: to only (never held: the replay's own sends), or to every
 * subscriber (NULL; history ids at or before the channel's last are dropped
 * as already delivered). */
void stream_deliver(bridge_t *br, hub_chan_t *chan, const char *payload, size_t len, conn_t *only);

/* Sends m (built for c alone) now, in c's encoding, even while it replays. */
void stream_send_now(conn_t *c, msg_t *m);

/* Sends a held frame: plain, or the gzip segment gz with its info. */
void stream_send_frame(conn_t *c, msg_t *plain, msg_t *gz, const gzs_info_t *info);

/* Sends m to every subscriber of chan (held for those replaying). */
void stream_broadcast_chan(bridge_t *br, hub_chan_t *chan, msg_t *m);

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

/* The stream's token expired: an `event: system` {"status":"token_expired"}
 * goes out, then the stream ends (the client reconnects with a new one). */
void stream_expire(conn_t *c);

#endif
