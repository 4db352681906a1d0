/* Resume and catch-up from the publisher's history streams (XADDed by
 * scripts/sse_publish.py; key = redis prefix + "history:" + channel).
 *
 * Resume: a stream opened with a cursor (Last-Event-ID or last_event_id:
 * "<ms>-<seq>@<channel>,...") gets, per channel, the retained events after
 * its position (XRANGE exclusive, in batches, each batch in one MULTI with
 * an XINFO STREAM so trimming is seen atomically: an `event: reset` says
 * when some were lost), then goes live. Live events that arrive meanwhile
 * are held and deduplicated by id. Every stream's "connected" event carries
 * its full cursor as its id, so even a client that saw no event can resume.
 *
 * Catch-up: when the subscriber comes back after losing Redis, each channel
 * with a known last history id replays what was published meanwhile to all
 * its subscribers, holding live payloads until done. */
#ifndef SSE_REPLAY_H
#define SSE_REPLAY_H

#include <stddef.h>

#include "bridge.h"
#include "conn.h"
#include "histid.h"

/* Starts the resume of the new stream c from cursor (len bytes, may be
 * NULL): returns 1 when the replay took over (it sends the "connected"
 * event once positions are known, and holds live events until done), 0
 * when history does not apply (disabled, or Redis away: the caller sends
 * "connected" itself, with resets for the cursor's channels), -1 out of
 * memory. */
int replay_open(conn_t *c, const char *cursor, size_t len);

/* 1 when cursor (len bytes) is a valid cursor. */
int replay_cursor_valid(const char *cursor, size_t len);

/* Sends an `event: reset` to c for each channel of cursor: history could
 * not be read (reason), so the client may have missed events. */
void replay_reset_all(conn_t *c, const char *cursor, size_t len, const char *reason);

/* Keeps a frame for c until its replay is done (c->replay != NULL). id is
 * the frame's history id on chan, NULL for other frames. */
void replay_hold(conn_t *c, msg_t *plain, msg_t *gz, const gzs_info_t *info, hub_chan_t *chan,
                 const hid_t *id);

/* 1 when c's replay has sent the "connected" event (news that is not
 * channel data may then go out before the replay ends). */
int replay_said_hello(const conn_t *c);

/* c is closing: its replay stops (replies still pending are ignored). */
void replay_detach(conn_t *c);

/* The subscriber confirmed chan: a catch-up starts when the channel has a
 * known position (the subscription follows a loss of Redis). */
void replay_on_subscribed(bridge_t *br, hub_chan_t *chan);

/* During chan's catch-up, keeps a copy of a live payload for later and
 * returns 1; else 0. */
int replay_catchup_hold(bridge_t *br, hub_chan_t *chan, const char *payload, size_t len);

/* chan lost its last subscriber: its catch-up is dropped. */
void replay_chan_emptied(bridge_t *br, hub_chan_t *chan);

/* A message on the bridge's probe channel (arg is the bridge): a replay
 * barrier ("b<seq>") that came back ends the replays waiting for it. */
void replay_on_probe(void *arg, const char *payload, size_t len);

/* Timer and lists; replay_stop closes the timer at shutdown. */
void replay_init(bridge_t *br);
void replay_stop(bridge_t *br);

#endif
