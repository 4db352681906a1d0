/* Client connections. Request bytes are read into the bridge's one shared
 * buffer and parsed by llhttp; only the request target is copied. Writes go
 * through a ring of refcounted messages: each flush tries one uv_try_write
 * of the whole ring and queues a single uv_write for whatever the kernel did
 * not take, so a connection has at most one write in flight. */
#include "conn.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "routes.h"
#include "stream.h"

#define CONN_IOV_MAX 64 /* buffers handed to one write */

#define HTTP_FIELD_MAX 32 /* header names we look for are shorter */
#define HTTP_XFF_MAX 1024 /* X-Forwarded-For kept (its rightmost bytes) */

#define HTTP_AE_MAX 256   /* Accept-Encoding kept (longer lists are cut) */
#define HTTP_LEID_MAX 4096 /* a longer Last-Event-ID is no cursor of ours */
#define HTTP_INM_MAX 256   /* If-None-Match kept (a longer one matches nothing) */
#define HTTP_ORIGIN_MAX 256 /* a longer Origin is no origin of ours */

enum { HDR_OTHER = 0, HDR_XFF, HDR_AE, HDR_LEID, HDR_INM, HDR_AUTH, HDR_ORIGIN };

struct http_req_s {
    llhttp_t parser;             /* llhttp state, data points to the conn */
    char field[HTTP_FIELD_MAX];  /* the header name being read */
    size_t field_len;            /* bytes in field; > HTTP_FIELD_MAX: not one of ours */
    int field_id;                /* HDR_* of the current header */
    char xff[HTTP_XFF_MAX];      /* X-Forwarded-For, several headers joined by ',' */
    size_t xff_len;              /* bytes in xff */
    int has_xff;                 /* an X-Forwarded-For header was present */
    char ae[HTTP_AE_MAX];        /* Accept-Encoding, several headers joined by ',' */
    size_t ae_len;               /* bytes in ae */
    int ae_cut;                  /* ae overflowed: its last item is incomplete */
    char leid[HTTP_LEID_MAX];    /* Last-Event-ID (the last such header) */
    size_t leid_len;             /* bytes in leid */
    int leid_state;              /* 0 absent, 1 present, -1 too long */
    char inm[HTTP_INM_MAX];      /* If-None-Match, several headers joined by ',' */
    size_t inm_len;              /* bytes in inm */
    int inm_cut;                 /* inm overflowed: ignored */
    char auth[HTTP_AUTH_MAX];    /* Authorization (the last such header) */
    size_t auth_len;             /* bytes in auth */
    int auth_cut;                /* auth overflowed: too long for any token */
    char origin[HTTP_ORIGIN_MAX];/* Origin (the last such header) */
    size_t origin_len;           /* bytes in origin */
    int origin_state;            /* 0 absent, 1 present, -1 too long */
    char err_buf[96];            /* err_text when it names a configured limit */
    size_t url_len;              /* bytes in url */
    size_t header_bytes;         /* header names and values seen so far */
    unsigned nheaders;           /* header lines seen so far */
    int err_status;              /* status to answer when a callback failed */
    const char *err_code;        /* its JSON code */
    const char *err_text;        /* its JSON message */
    char url[];                  /* request target, NUL-terminated: --max-url-bytes + 1 */
};

static llhttp_settings_t http_settings;
static int http_settings_ready;

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

/* --- request parsing ------------------------------------------------------ */

static int req_fail(http_req_t *req, int status, const char *code, const char *text)
{
    req->err_status = status;
    req->err_code = code;
    req->err_text = text;
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
    conn_t *c = p->data;
    c->req->url_len = 0;
    c->req->header_bytes = 0;
    c->req->nheaders = 0;
    c->req->field_len = 0;
    c->req->xff_len = 0;
    c->req->has_xff = 0;
    c->req->ae_len = 0;
    c->req->ae_cut = 0;
    c->req->leid_len = 0;
    c->req->leid_state = 0;
    c->req->inm_len = 0;
    c->req->inm_cut = 0;
    c->req->auth_len = 0;
    c->req->auth_cut = 0;
    c->req->origin_len = 0;
    c->req->origin_state = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    http_req_t *req = c->req;
    size_t max = (size_t)c->br->cfg->max_url_bytes;
    if (len > max - req->url_len) {
        snprintf(req->err_buf, sizeof(req->err_buf), "request target longer than %zu bytes", max);
        return req_fail(req, 414, "uri_too_long", req->err_buf);
    }
    memcpy(req->url + req->url_len, at, len);
    req->url_len += len;
    req->url[req->url_len] = '\0';
    return 0;
}

static int on_header_data(llhttp_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    http_req_t *req = c->req;
    (void)at;
    req->header_bytes += len;
    if (req->header_bytes > (size_t)c->br->cfg->max_header_bytes) {
        snprintf(req->err_buf, sizeof(req->err_buf), "request headers larger than %d bytes",
                 c->br->cfg->max_header_bytes);
        return req_fail(req, 431, "headers_too_large", req->err_buf);
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = ((conn_t *)p->data)->req;
    if (req->field_len + len <= HTTP_FIELD_MAX)
        memcpy(req->field + req->field_len, at, len);
    req->field_len += len;
    return on_header_data(p, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    http_req_t *req = ((conn_t *)p->data)->req;
    req->field_id = HDR_OTHER;
    if (req->field_len == 15 && strncasecmp(req->field, "X-Forwarded-For", 15) == 0) {
        req->field_id = HDR_XFF;
        if (req->has_xff && req->xff_len < HTTP_XFF_MAX)
            req->xff[req->xff_len++] = ','; /* repeated headers form one list */
        req->has_xff = 1;
    } else if (req->field_len == 13 && strncasecmp(req->field, "Last-Event-ID", 13) == 0) {
        req->field_id = HDR_LEID;
        req->leid_len = 0;
        req->leid_state = 1;
    } else if (req->field_len == 15 && strncasecmp(req->field, "Accept-Encoding", 15) == 0) {
        req->field_id = HDR_AE;
        if (req->ae_len > 0 && req->ae_len < HTTP_AE_MAX)
            req->ae[req->ae_len++] = ',';
    } else if (req->field_len == 13 && strncasecmp(req->field, "Authorization", 13) == 0) {
        req->field_id = HDR_AUTH;
        req->auth_len = 0;
    } else if (req->field_len == 6 && strncasecmp(req->field, "Origin", 6) == 0) {
        req->field_id = HDR_ORIGIN;
        req->origin_len = 0;
        req->origin_state = 1;
    } else if (req->field_len == 13 && strncasecmp(req->field, "If-None-Match", 13) == 0) {
        req->field_id = HDR_INM;
        if (req->inm_len > 0 && req->inm_len < HTTP_INM_MAX)
            req->inm[req->inm_len++] = ',';
    }
    req->field_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = ((conn_t *)p->data)->req;
    if (req->field_id == HDR_XFF) {
        /* The rightmost hops matter: past the cap, older bytes give way. */
        if (len >= HTTP_XFF_MAX) {
            at += len - HTTP_XFF_MAX;
            len = HTTP_XFF_MAX;
            req->xff_len = 0;
        } else if (req->xff_len + len > HTTP_XFF_MAX) {
            size_t drop = req->xff_len + len - HTTP_XFF_MAX;
            memmove(req->xff, req->xff + drop, req->xff_len - drop);
            req->xff_len -= drop;
        }
        memcpy(req->xff + req->xff_len, at, len);
        req->xff_len += len;
    } else if (req->field_id == HDR_AE) {
        size_t n = len < HTTP_AE_MAX - req->ae_len ? len : HTTP_AE_MAX - req->ae_len;
        memcpy(req->ae + req->ae_len, at, n);
        req->ae_len += n;
        req->ae_cut |= n < len;
    } else if (req->field_id == HDR_LEID && req->leid_state == 1) {
        if (len > HTTP_LEID_MAX - req->leid_len) {
            req->leid_state = -1;
        } else {
            memcpy(req->leid + req->leid_len, at, len);
            req->leid_len += len;
        }
    } else if (req->field_id == HDR_AUTH) {
        if (len <= sizeof(req->auth) - req->auth_len) {
            memcpy(req->auth + req->auth_len, at, len);
            req->auth_len += len;
        } else {
            req->auth_cut = 1;
        }
    } else if (req->field_id == HDR_ORIGIN && req->origin_state == 1) {
        if (len > HTTP_ORIGIN_MAX - req->origin_len) {
            req->origin_state = -1;
        } else {
            memcpy(req->origin + req->origin_len, at, len);
            req->origin_len += len;
        }
    } else if (req->field_id == HDR_INM) {
        if (len > HTTP_INM_MAX - req->inm_len) {
            req->inm_cut = 1;
        } else {
            memcpy(req->inm + req->inm_len, at, len);
            req->inm_len += len;
        }
    }
    return on_header_data(p, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    conn_t *c = p->data;
    http_req_t *req = c->req;
    if (req->field_id == HDR_AE && req->ae_cut) {
        /* A cut item could read "gzip;q=0" as "gzip": keep whole items only,
         * and nothing of later Accept-Encoding headers either. */
        while (req->ae_len > 0 && req->ae[req->ae_len - 1] != ',')
            req->ae_len--;
    }
    req->field_id = HDR_OTHER;
    if (++req->nheaders > (unsigned)c->br->cfg->max_headers) {
        snprintf(req->err_buf, sizeof(req->err_buf), "more than %d request headers",
                 c->br->cfg->max_headers);
        return req_fail(req, 431, "headers_too_large", req->err_buf);
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn_t *c = p->data;
    c->keep_alive = (uint8_t)llhttp_should_keep_alive(p);
    http_req_t *req = c->req;
    http_headers_t h = {.xff = req->has_xff ? req->xff : NULL, .xff_len = req->xff_len,
                        .ae = req->ae, .ae_len = req->ae_len,
                        /* too long: no cursor of ours, but still "an id was sent" */
                        .leid = req->leid_state != 0 ? req->leid : NULL,
                        .leid_len = req->leid_state == 1 ? req->leid_len : 0,
                        .inm = req->inm_cut ? "" : req->inm,
                        .inm_len = req->inm_cut ? 0 : req->inm_len};
    routes_dispatch(c, llhttp_get_method(p), req->url, req->url_len, &h);
    /* Stop parsing once the connection is a stream, parked, closing or done. */
    if (c->state != CONN_HTTP || c->finish || c->parked)
        return HPE_PAUSED;
    /* Keep-alive: the next request gets a fresh deadline. */
    list_remove(&c->node);
    c->deadline = uv_now(c->br->loop) + (uint64_t)c->br->cfg->header_timeout * 1000;
    list_push_back(&c->br->http_conns, &c->node);
    return 0;
}

static void http_settings_init(void)
{
    llhttp_settings_init(&http_settings);
    http_settings.on_message_begin = on_message_begin;
    http_settings.on_url = on_url;
    http_settings.on_header_field = on_header_field;
    http_settings.on_header_field_complete = on_header_field_complete;
    http_settings.on_header_value = on_header_value;
    http_settings.on_header_value_complete = on_header_value_complete;
    http_settings.on_message_complete = on_message_complete;
    http_settings_ready = 1;
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
    http_req_t *req = c->req;
    llhttp_errno_t e = llhttp_execute(&req->parser, buf->base, (size_t)nread);
    if (c->state == CONN_STREAM) {
        free(c->req); /* not inside llhttp any more */
        c->req = NULL;
        return;
    }
    if (c->state != CONN_HTTP || c->finish || c->parked || e == HPE_OK || e == HPE_PAUSED)
        return;
    /* Our callbacks record why they failed; llhttp reports a failing
     * *_complete callback under its own code rather than HPE_USER. */
    if (req->err_status != 0) {
        conn_respond_error(c, req->err_status, req->err_code, req->err_text, NULL);
    } else {
        char text[160];
        snprintf(text, sizeof(text), "malformed HTTP request: %s", llhttp_get_error_reason(&req->parser));
        conn_respond_error(c, 400, "bad_request", text, NULL);
    }
}

/* --- accepting ------------------------------------------------------------- */

static void conn_free_cb(uv_handle_t *h)
{
    free(h->data);
}

void conn_accept(bridge_t *br)
{
    if (!http_settings_ready)
        http_settings_init();
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
        c->req = calloc(1, sizeof(*c->req) + (size_t)br->cfg->max_url_bytes + 1);
    if (r != 0 || c->req == NULL) {
        log_warn("http: accept failed: %s", r != 0 ? uv_strerror(r) : "out of memory");
        uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
        return;
    }
    llhttp_init(&c->req->parser, HTTP_REQUEST, &http_settings);
    c->req->parser.data = c;
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

static unsigned wq_iov(conn_t *c, uv_buf_t *iov)
{
    unsigned n = c->wq_len < CONN_IOV_MAX ? c->wq_len : CONN_IOV_MAX;
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
        unsigned n = wq_iov(c, iov);
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
        n = wq_iov(c, iov);
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

void conn_respond_error(conn_t *c, int status, const char *code, const char *text, const char *extra)
{
    char body[512];
    /* Texts are ours or escaped by the caller: no quotes or controls inside. */
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"code\":\"%s\"}", text, code);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = snprintf(body, sizeof(body), "{\"error\":\"request rejected\",\"code\":\"%s\"}", code);
    c->br->stats.requests_rejected++;
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
    free(c->req);
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
    const http_req_t *req = c->req;
    if (req == NULL || (req->auth_len == 0 && !req->auth_cut))
        return 0;
    if (req->auth_cut)
        return -2;
    if (req->auth_len < 8 || strncasecmp(req->auth, "Bearer ", 7) != 0)
        return -1;
    *token = req->auth + 7;
    *len = req->auth_len - 7;
    while (*len > 0 && **token == ' ') {
        (*token)++;
        (*len)--;
    }
    return *len > 0 ? 1 : -1;
}

int conn_origin(const conn_t *c, const char **origin, size_t *len)
{
    const http_req_t *req = c->req;
    if (req == NULL || req->origin_state == 0)
        return 0;
    *origin = req->origin;
    *len = req->origin_state == 1 ? req->origin_len : 0;
    return req->origin_state == 1 ? 1 : -1;
}

size_t conn_cors_lines(const conn_t *c, char *out, size_t cap)
{
    const cfg_t *cfg = c->br->cfg;
    const char *origin;
    size_t len;
    int n = 0;
    out[0] = '\0';
    if (!cfg->cors_any && cfg->cors_origins[0] == '\0')
        return 0; /* CORS is off */
    int has = conn_origin(c, &origin, &len) == 1 && cfg_cors_allows(cfg, origin, len);
    if (cfg->cors_any)
        n = has ? snprintf(out, cap, "Access-Control-Allow-Origin: *\r\n") : 0;
    else if (has)
        n = snprintf(out, cap,
                     "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: "
                     "true\r\nVary: Origin\r\n",
                     (int)len, origin);
    else
        n = snprintf(out, cap, "Vary: Origin\r\n"); /* the answer depends on the Origin */
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

void conn_park(conn_t *c)
{
    c->parked = 1;
}

void conn_request_done(conn_t *c)
{
    c->parked = 0;
    free(c->req);
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
