/* Client connections. Request bytes are read into the bridge's one shared
 * buffer and parsed by httpreq (llhttp); only the request target and a
 * few headers are copied. Writes go through a ring of refcounted messages:
 * a flush sends every dirty connection's ring in one io_uring submit per 64
 * connections (sendbatch; else one uv_try_write each) and queues a single
 * uv_write for whatever the kernel did not take, so a connection has at
 * most one write in flight. */
#include "conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "routes.h"
#include "sendbatch.h"
#include "stream.h"

#define CONN_IOV_MAX 64 /* buffers handed to one write */

static const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 401: return "Unauthorized";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* --- requests -------------------------------------------------------------- */

/* A complete request (httpreq's callback): route it, and go on reading only
 * if the connection is still an idle request connection. */
static int conn_on_request(void *owner, int method, const char *url, size_t len,
                           const http_headers_t *h, int keep_alive)
{
    conn_t *c = owner;
    c->keep_alive = (uint8_t)keep_alive;
    routes_dispatch(c, method, url, len, h);
    /* Stop parsing once the connection is a stream, parked, closing or done. */
    if (c->state != CONN_HTTP || c->finish || c->parked)
        return 1;
    /* Keep-alive: the next request gets a fresh deadline. */
    list_remove(&c->node);
    c->deadline = uv_now(c->br->loop) + (uint64_t)c->br->cfg->header_timeout * 1000;
    list_push_back(&c->br->http_conns, &c->node);
    return 0;
}

/* --- reading --------------------------------------------------------------- */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->br->rbuf, BRIDGE_READ_BUF);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (c->state == CONN_CLOSING || nread == 0)
        return;
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "client closed" : uv_strerror((int)nread));
        return;
    }
    /* A stream's client has nothing to say; a finished or parked request
     * neither (bytes after a request waiting for the pool are dropped). */
    if (c->state != CONN_HTTP || c->finish || c->parked)
        return;
    int status;
    const char *code, *text;
    int r = http_req_feed(c->req, buf->base, (size_t)nread, &status, &code, &text);
    if (c->state == CONN_STREAM) {
        http_req_free(c->req); /* not inside llhttp any more */
        c->req = NULL;
        c->br->parsers_freed++;
        return;
    }
    if (r != 0 && c->state == CONN_HTTP && !c->finish && !c->parked)
        conn_respond_error(c, status, code, text, NULL);
}

/* --- accepting ------------------------------------------------------------- */

static void conn_free_cb(uv_handle_t *h)
{
    free(h->data);
}

void conn_accept(bridge_t *br)
{
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_error("http: out of memory accepting a connection");
        return;
    }
    c->br = br;
    c->tcp.data = c;
    list_init(&c->node);
    list_init(&c->dirty);
    uv_tcp_init(br->loop, &c->tcp);
    int r = uv_accept((uv_stream_t *)&br->listener, (uv_stream_t *)&c->tcp);
    if (r == 0)
        c->req = http_req_new(br->cfg, conn_on_request, c);
    if (r != 0 || c->req == NULL) {
        log_warn("http: accept failed: %s", r != 0 ? uv_strerror(r) : "out of memory");
        uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
        return;
    }
    /* Events must not wait for Nagle: each flush is one complete write. */
    uv_tcp_nodelay(&c->tcp, 1);
    c->deadline = uv_now(br->loop) + (uint64_t)br->cfg->header_timeout * 1000;
    list_push_back(&br->http_conns, &c->node);
    br->nconns++;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

/* --- writing --------------------------------------------------------------- */

static int wq_push(conn_t *c, msg_t *m)
{
    if (c->wq_len == c->wq_cap) {
        uint32_t ncap = c->wq_cap ? c->wq_cap * 2 : 8;
        wq_item_t *n = malloc(ncap * sizeof(*n));
        if (n == NULL)
            return -1;
        for (uint32_t i = 0; i < c->wq_len; i++)
            n[i] = c->wq[(c->wq_head + i) & (c->wq_cap - 1)];
        free(c->wq);
        c->wq = n;
        c->wq_cap = ncap;
        c->wq_head = 0;
    }
    wq_item_t *it = &c->wq[(c->wq_head + c->wq_len) & (c->wq_cap - 1)];
    it->msg = msg_ref(m);
    it->off = 0;
    c->wq_len++;
    c->wq_bytes += m->len;
    return 0;
}

/* Drops n written bytes from the head of the queue. */
static void wq_consume(conn_t *c, size_t n)
{
    c->br->stats.bytes_sent += n;
    if (n > 0)
        c->last_write_ms = uv_now(c->br->loop);
    while (n > 0) {
        wq_item_t *it = &c->wq[c->wq_head];
        size_t rem = it->msg->len - it->off;
        if (n < rem) {
            it->off += (uint32_t)n;
            c->wq_bytes -= n;
            return;
        }
        n -= rem;
        c->wq_bytes -= rem;
        msg_unref(it->msg);
        c->wq_head = (c->wq_head + 1) & (c->wq_cap - 1);
        c->wq_len--;
    }
}

/* The first max (at most) queued buffers into iov; returns how many. */
static unsigned wq_iov(conn_t *c, uv_buf_t *iov, unsigned max)
{
    unsigned n = c->wq_len < max ? c->wq_len : max;
    for (unsigned i = 0; i < n; i++) {
        wq_item_t *it = &c->wq[(c->wq_head + i) & (c->wq_cap - 1)];
        iov[i] = uv_buf_init(it->msg->data + it->off, it->msg->len - it->off);
    }
    return n;
}

static void conn_mark_dirty(conn_t *c)
{
    if (list_empty(&c->dirty))
        list_push_back(&c->br->dirty, &c->dirty);
}

void conn_send_gz(conn_t *c, msg_t *seg, const gzs_info_t *info)
{
    if (c->state == CONN_CLOSING || c->doom != NULL || c->finish)
        return;
    conn_send(c, seg);
    gzs_stream_add(&c->gz, info);
}

void conn_send(conn_t *c, msg_t *m)
{
    /* Nothing goes after the last message of a finished connection. */
    if (c->state == CONN_CLOSING || c->doom != NULL || c->finish)
        return;
    size_t cap = (size_t)c->br->cfg->max_queue_bytes;
    /* One message larger than the cap still goes to an idle connection. */
    if (c->wq_bytes > 0 && c->wq_bytes + m->len > cap) {
        c->doom = "slow consumer";
        c->br->stats.slow_consumer_drops++;
    } else if (wq_push(c, m) != 0) {
        c->doom = "out of memory";
    }
    conn_mark_dirty(c);
}

static void conn_write_cb(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    c->wreq = NULL;
    if (c->state == CONN_CLOSING)
        return; /* cancelled by uv_close: the close callback releases the queue */
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < c->wq_inflight; i++) {
        wq_item_t *it = &c->wq[(c->wq_head + i) & (c->wq_cap - 1)];
        bytes += it->msg->len - it->off;
    }
    c->wq_inflight = 0;
    wq_consume(c, bytes);
    conn_flush(c);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    if (c->state == CONN_CLOSING)
        return;
    /* A stream is done; a request connection lingers until the peer's EOF
     * (or its deadline) so that unread request bytes cannot turn our close
     * into a reset that destroys the response. */
    if (status < 0 || c->state == CONN_STREAM)
        conn_close(c, status < 0 ? uv_strerror(status) : "finished");
}

static void conn_shutdown(conn_t *c)
{
    uv_shutdown_t *req = malloc(sizeof(*req));
    c->shut = 1;
    if (req == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    req->data = c;
    int r = uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_shutdown_cb);
    if (r != 0) {
        free(req);
        conn_close(c, uv_strerror(r));
    }
}

void conn_flush(conn_t *c)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->doom != NULL) {
        /* A slow consumer usually has a write stuck in flight: uv_close
         * cancels it. */
        conn_close(c, c->doom);
        return;
    }
    if (c->wreq != NULL)
        return; /* its callback flushes the rest */
    uv_buf_t iov[CONN_IOV_MAX];
    while (c->wq_len > 0) {
        unsigned n = wq_iov(c, iov, CONN_IOV_MAX);
        int r = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
        if (r == UV_EAGAIN)
            r = 0;
        if (r < 0) {
            conn_close(c, uv_strerror(r));
            return;
        }
        size_t total = 0;
        for (unsigned i = 0; i < n; i++)
            total += iov[i].len;
        wq_consume(c, (size_t)r);
        if ((size_t)r == total)
            continue;
        /* The kernel is full: one uv_write carries the rest. */
        n = wq_iov(c, iov, CONN_IOV_MAX);
        c->wreq = malloc(sizeof(*c->wreq));
        if (c->wreq == NULL) {
            conn_close(c, "out of memory");
            return;
        }
        c->wreq->data = c;
        r = uv_write(c->wreq, (uv_stream_t *)&c->tcp, iov, n, conn_write_cb);
        if (r != 0) {
            free(c->wreq);
            c->wreq = NULL;
            conn_close(c, uv_strerror(r));
            return;
        }
        c->wq_inflight = n;
        return;
    }
    /* Idle streams are most streams: they keep no ring between messages. */
    free(c->wq);
    c->wq = NULL;
    c->wq_cap = 0;
    c->wq_head = 0;
    if (c->finish && !c->shut)
        conn_shutdown(c);
}

/* A batched send's report: the bytes go, the remainder (if any) and the
 * bookkeeping of an emptied queue take the ordinary path. */
static void conn_sent_cb(void *owner, int res)
{
    conn_t *c = owner;
    if (c->state == CONN_CLOSING)
        return;
    if (res < 0 && res != -EAGAIN) {
        conn_close(c, uv_strerror(res)); /* -errno is the UV_E* code on Linux */
        return;
    }
    if (res > 0)
        wq_consume(c, (size_t)res);
    conn_flush(c);
}

/* A connection whose queue can go out in a batched send right now. */
static int conn_batchable(const conn_t *c)
{
    return c->state != CONN_CLOSING && c->doom == NULL && c->wreq == NULL && c->wq_len > 0;
}

/* One conn_flush per dirty connection: the path without io_uring. */
static void conn_flush_each(list_t *dirty)
{
    while (!list_empty(dirty)) {
        list_t *n = dirty->next;
        list_remove(n);
        conn_flush(list_entry(n, conn_t, dirty));
    }
}

/* libuv's Unix uv_buf_t is laid out as struct iovec (uv/unix.h says so):
 * the same buffer list serves uv_try_write and a batched send. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
                   offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
               "uv_buf_t is not struct iovec");

void conn_flush_all(bridge_t *br)
{
    uv_buf_t iov[SB_IOV_MAX];
    list_t rest;
    list_init(&rest);
    while (!list_empty(&br->dirty) && br->sendbatch != NULL) {
        sendbatch_t *b = br->sendbatch;
        /* Prepare sends until the batch is full. A prepared connection
         * leaves br->dirty; one queued to again later in this flush comes
         * back and is written then. Nothing here closes a connection, so
         * no prepared descriptor is closed or reused before the submit. */
        while (!list_empty(&br->dirty)) {
            list_t *n = br->dirty.next;
            conn_t *c = list_entry(n, conn_t, dirty);
            int fd = -1;
            if (conn_batchable(c) && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
                unsigned k = wq_iov(c, iov, SB_IOV_MAX);
                if (sb_add(b, fd, (const struct iovec *)iov, k, c) == 0) {
                    list_remove(n);
                    continue;
                }
                if (sb_pending(b) > 0)
                    break; /* full: send this batch, then go on */
            }
            list_remove(n);
            list_push_back(&rest, n);
        }
        /* One system call for the batch; the reports may close connections
         * and queue to others (which then come back to br->dirty). */
        br->stats.batched_sends += sb_submit(b, conn_sent_cb);
        br->stats.batch_submits++;
        if (sb_broken(b)) {
            log_warn("io_uring: a batched send failed; writing one connection at a time from now on");
            sb_close(b);
            br->sendbatch = NULL;
        }
    }
    conn_flush_each(&rest);
    conn_flush_each(&br->dirty);
}

void conn_finish(conn_t *c)
{
    if (c->state == CONN_CLOSING || c->finish)
        return;
    if (c->gzip && c->state == CONN_STREAM) {
        /* A clean end of the gzip member: final block, CRC32, ISIZE. */
        msg_t *m = msg_alloc(GZS_TRAILER_LEN);
        if (m != NULL) {
            gzs_stream_trailer(&c->gz, (unsigned char *)m->data);
            conn_send(c, m);
            msg_unref(m);
        }
    }
    c->finish = 1;
    conn_mark_dirty(c);
}

/* --- responses ------------------------------------------------------------- */

void conn_respond(conn_t *c, int status, const char *content_type, const char *body, size_t len,
                  const char *extra, int close)
{
    if (!c->keep_alive)
        close = 1;
    char head[1024], cors[HTTP_ORIGIN_MAX + 128];
    conn_cors_lines(c, cors, sizeof(cors));
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%s%s%s\r\n",
                     status, http_reason(status), content_type, len, extra ? extra : "", cors,
                     close ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        conn_close(c, "response header too long");
        return;
    }
    msg_t *m = msg_alloc((size_t)n + len);
    if (m == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    memcpy(m->data, head, (size_t)n);
    if (len > 0)
        memcpy(m->data + n, body, len);
    conn_send(c, m);
    msg_unref(m);
    if (close)
        conn_finish(c);
}

void conn_respond_json(conn_t *c, cJSON *o)
{
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL) {
        conn_respond_error(c, 500, "internal", "out of memory", NULL);
        return;
    }
    conn_respond(c, 200, "application/json", body, strlen(body), NULL, 0);
    free(body);
}

void conn_respond_error(conn_t *c, int status, const char *code, const char *text, const char *extra)
{
    char body[512];
    /* Texts are ours or escaped by the caller: no quotes or controls inside. */
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"code\":\"%s\"}", text, code);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = snprintf(body, sizeof(body), "{\"error\":\"request rejected\",\"code\":\"%s\"}", code);
    bridge_count_reject(c->br, code);
    log_debug("http: %d %s: %s", status, code, text);
    conn_respond(c, status, "application/json", body, (size_t)n,
                 status == 405 && extra == NULL ? "Allow: GET\r\n" : extra, 1);
}

/* --- closing --------------------------------------------------------------- */

static void conn_close_cb(uv_handle_t *h)
{
    conn_t *c = h->data;
    bridge_t *br = c->br;
    while (c->wq_len > 0) {
        msg_unref(c->wq[c->wq_head].msg);
        c->wq_head = (c->wq_head + 1) & (c->wq_cap - 1);
        c->wq_len--;
    }
    free(c->wq);
    http_req_free(c->req);
    free(c->client_id);
    free(c->query);
    free(c->cursor);
    free(c);
    bridge_conn_closed(br);
}

void conn_close(conn_t *c, const char *reason)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_STREAM)
        stream_detach(c, reason);
    else
        cluster_release(&c->br->cluster, c); /* a pending admission is dropped */
    c->state = CONN_CLOSING;
    list_remove(&c->node);
    list_remove(&c->dirty);
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

int conn_bearer(const conn_t *c, const char **token, size_t *len)
{
    return http_req_bearer(c->req, token, len);
}

int conn_origin(const conn_t *c, const char **origin, size_t *len)
{
    return http_req_origin(c->req, origin, len);
}

size_t conn_cors_lines(const conn_t *c, char *out, size_t cap)
{
    return http_req_cors_lines(c->req, c->br->cfg, out, cap);
}

void conn_park(conn_t *c)
{
    c->parked = 1;
}

void conn_request_done(conn_t *c)
{
    c->parked = 0;
    c->br->parsers_freed++;
    http_req_free(c->req);
    c->req = NULL;
    free(c->query);
    c->query = NULL;
    free(c->cursor);
    c->cursor = NULL;
}

int conn_peer_ip(conn_t *c, char *out)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int r = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
    if (r == 0)
        r = ss.ss_family == AF_INET6 ? uv_ip6_name((struct sockaddr_in6 *)&ss, out, CLIENTIP_MAX)
                                     : uv_ip4_name((struct sockaddr_in *)&ss, out, CLIENTIP_MAX);
    if (r != 0)
        snprintf(out, CLIENTIP_MAX, "unknown");
    return r;
}

void conn_sweep(bridge_t *br)
{
    uint64_t now = uv_now(br->loop);
    while (!list_empty(&br->http_conns)) {
        conn_t *c = list_entry(br->http_conns.next, conn_t, node);
        if (c->deadline > now)
            break;
        conn_close(c, "request timeout");
    }
}
