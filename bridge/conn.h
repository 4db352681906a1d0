/* A client connection: request parsing, the write queue, deferred close. */
#ifndef SSE_CONN_H
#define SSE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <uv.h>

#include "bridge.h"
#include "clientip.h"
#include "gzseg.h"
#include "httpreq.h"
#include "hub.h"
#include "list.h"
#include "msg.h"


typedef enum {
    CONN_HTTP = 0, /* reading requests, answering them */
    CONN_STREAM,   /* an SSE stream */
    CONN_CLOSING   /* uv_close called; waiting for the close callback */
} conn_state_t;

typedef struct wq_item_s {
    msg_t *msg;   /* a reference held until the bytes are written */
    uint32_t off; /* bytes of msg already written */
} wq_item_t;

struct admission_s;

/* How a stream got its slot in the pool. */
enum { ADMIT_NONE = 0, ADMIT_REDIS, ADMIT_LOCAL };


typedef struct conn_s {
    uv_tcp_t tcp;              /* the socket; tcp.data points to this conn */
    bridge_t *br;              /* the bridge it belongs to */
    conn_state_t state;        /* see conn_state_t */
    uint8_t keep_alive;        /* the request in hand allows another one */
    uint8_t finish;            /* shut down once the queue is written */
    uint8_t shut;              /* uv_shutdown issued */
    const char *doom;          /* close reason decided during a fan-out, acted on at flush */
    http_req_t *req;           /* request parser; NULL once streaming */
    list_t node;               /* in br->http_conns or br->streams */
    list_t dirty;              /* in br->dirty while bytes wait for a flush */
    uint64_t deadline;         /* loop time (ms) by which a request must be complete */
    hub_sub_t sub;             /* a stream's channels */
    char *client_id;           /* a stream's client id, NULL when none */
    uint16_t client_id_len;    /* bytes in client_id */
    wq_item_t *wq;             /* ring of queued messages, power-of-two capacity */
    uint32_t wq_head;          /* index of the oldest item */
    uint32_t wq_len;           /* items queued */
    uint32_t wq_cap;           /* ring capacity */
    uint32_t wq_inflight;      /* items covered by the outstanding uv_write */
    size_t wq_bytes;           /* unwritten bytes queued, in flight included */
    uv_write_t *wreq;          /* the outstanding uv_write, NULL when none */
    uint64_t opened_ms;        /* loop time the stream opened, for the close log */
    uint64_t last_write_ms;    /* loop time bytes last left the queue (0: never) */
    size_t health_wq;          /* wq_bytes at the last health check */
    struct admission_s *admission; /* pending pool decision, NULL when none */
    uint8_t admit_mode;        /* ADMIT_*: where this stream's slot is counted */
    uint8_t parked;            /* waiting for the pool: no more request parsing */
    uint8_t flask_alias;       /* the parked request came in on /stream */
    hub_sub_t ipsub;           /* the pool's per-IP multiset entry of this stream */
    uint8_t gzip;              /* the stream is one gzip member (Content-Encoding: gzip) */
    gzs_stream_t gz;           /* its running CRC and length, for the trailer */
    char *query;               /* the parked request's query, re-read once admitted */
    size_t query_len;          /* bytes in query */
    char *cursor;              /* the parked request's resume cursor, NULL for none */
    size_t cursor_len;         /* bytes in cursor */
    struct replay_s *replay;   /* the resume under way, NULL when live */
    int64_t token_exp;         /* the stream's token expiry, s since the epoch; 0 = none */
} conn_t;

/* Accepts a pending connection on the bridge's listener. */
void conn_accept(bridge_t *br);

/* Queues a reference to m for c (the caller keeps its own reference). When
 * the queue would exceed --max-queue-bytes the connection is marked to close
 * as a slow consumer instead; the close happens at the next flush, so
 * callers may loop over the hub while sending. */
void conn_send(conn_t *c, msg_t *m);

/* Queues a gzip segment for a gzip stream and accounts for it in the
 * stream's CRC and length (only when it was queued). */
void conn_send_gz(conn_t *c, msg_t *seg, const gzs_info_t *info);

/* Writes what is queued: uv_try_write of the whole queue first, a uv_write
 * of the remainder only. Closes a doomed connection. */
void conn_flush(conn_t *c);

/* Writes every connection in br->dirty: through one batched io_uring
 * submit when br->sendbatch is set, else one conn_flush each. */
void conn_flush_all(bridge_t *br);

/* Closes c now (idempotent): unlinks it from the hub and lists; memory is
 * freed in the close callback. reason appears in the log. */
void conn_close(conn_t *c, const char *reason);

/* Queues an HTTP response with a Content-Length. extra is NULL or header
 * lines each ending in CRLF. Unless the request allows keep-alive (and
 * close is 0), the connection is shut down after the response. */
void conn_respond(conn_t *c, int status, const char *content_type, const char *body, size_t len,
                  const char *extra, int close);

/* The bearer token of the request's Authorization header: 1 with *token
 * and *len, 0 when there is no such header, -1 when it is not "Bearer
 * <token>", -2 when it is longer than any token. Valid while c->req lives
 * (through a park). */
int conn_bearer(const conn_t *c, const char **token, size_t *len);

/* The request's Origin: 1 with *origin and *len, 0 when absent, -1 when
 * too long to be one. */
int conn_origin(const conn_t *c, const char **origin, size_t *len);

/* Writes the CORS header lines for the request (each ending in CRLF) into
 * out (cap bytes): none when --cors-origins is unset, the allow lines when
 * it allows the request's Origin, "Vary: Origin" for an exact list.
 * Returns the bytes written. */
size_t conn_cors_lines(const conn_t *c, char *out, size_t cap);

/* Answers 200 with o printed as compact JSON; takes o (deleted here). */
void conn_respond_json(conn_t *c, cJSON *o);

/* Answers a JSON error {"error": text, "code": code} and closes afterwards;
 * extra is NULL or header lines each ending in CRLF (a 405 without extra
 * gets "Allow: GET"). */
void conn_respond_error(conn_t *c, int status, const char *code, const char *text,
                        const char *extra);

/* Shuts the connection down once its queue is written (streams: then
 * closes; requests: waits for the peer's EOF or the deadline). A gzip
 * stream gets its trailer first. Idempotent. */
void conn_finish(conn_t *c);

/* The peer's address as text into out (CLIENTIP_MAX bytes); "unknown" and
 * a UV error when the socket has none. */
int conn_peer_ip(conn_t *c, char *out);

/* Parks c while the pool decides: request parsing stops until it is a
 * stream or answered. */
void conn_park(conn_t *c);

/* Frees the request parser once c is a stream (outside llhttp callbacks). */
void conn_request_done(conn_t *c);

/* Closes request connections whose deadline passed (slow or idle clients). */
void conn_sweep(bridge_t *br);

#endif
