/* Fuzz target: the HTTP request path. llhttp (Debian's node-llhttp sources,
 * compiled with the fuzzing flags) runs over the input with callbacks that
 * MIRROR bridge/conn.c's: request-target accumulation and its 2048-byte
 * limit, header byte and line limits, and the capture of X-Forwarded-For,
 * Accept-Encoding, Last-Event-ID and If-None-Match with their caps. Each
 * complete request then goes through what bridge/routes.c does with it:
 * query_split_target, query_next into the same buffers, the channel list
 * (chan_name_valid, chanlist_allows, the per-connection cap), client_id, the
 * resume cursor (hid_cursor_next as replay.c walks it, hid_of_event),
 * gzs_accepts on Accept-Encoding and clientip_resolve on X-Forwarded-For.
 *
 * Why a mirror: conn.c's callbacks are static and tied to conn_t and libuv.
 * Moving them into an I/O-free common/ module (so this target could call the
 * real ones) is the right refactor, but conn.c is being edited by another
 * engineer right now; until then, keep this copy in step with conn.c (it
 * follows conn.c as of the If-None-Match capture).
 *
 * The first input byte sets how the rest is cut into reads (0: one read,
 * else reads of that many bytes), since llhttp may split any value across
 * reads. Properties: buffers never overflow (ASan), captured lengths stay
 * within their caps, decoded query values are NUL-free C strings, cursor
 * walks always advance and end, a resolved client IP is an address. */
#include <arpa/inet.h>
#include <llhttp.h>
#include <string.h>
#include <strings.h>

#include "chanlist.h"
#include "cidr.h"
#include "clientip.h"
#include "fuzz.h"
#include "gzseg.h"
#include "histid.h"
#include "query.h"

/* Mirrors of bridge/conn.h and bridge/conn.c. */
#define HTTP_URL_MAX 2048
#define HTTP_HEADERS_MAX 8192
#define HTTP_HEADER_COUNT_MAX 100
#define HTTP_FIELD_MAX 32
#define HTTP_XFF_MAX 1024
#define HTTP_AE_MAX 256
#define HTTP_LEID_MAX 4096
#define HTTP_INM_MAX 256
/* Mirrors of bridge/routes.c and the --max-channels-per-connection default. */
#define ROUTE_QUERY_VAL_MAX HTTP_URL_MAX
#define MAX_CHANNELS_PER_CONN 16

enum { HDR_OTHER = 0, HDR_XFF, HDR_AE, HDR_LEID, HDR_INM };

typedef struct http_req_s {
    llhttp_t parser;            /* llhttp state, data points to this struct */
    char field[HTTP_FIELD_MAX]; /* the header name being read */
    size_t field_len;           /* bytes in field; > HTTP_FIELD_MAX: not one of ours */
    int field_id;               /* HDR_* of the current header */
    char xff[HTTP_XFF_MAX];     /* X-Forwarded-For, several headers joined by ',' */
    size_t xff_len;             /* bytes in xff */
    int has_xff;                /* an X-Forwarded-For header was present */
    char ae[HTTP_AE_MAX];       /* Accept-Encoding, several headers joined by ',' */
    size_t ae_len;              /* bytes in ae */
    int ae_cut;                 /* ae overflowed: its last item is incomplete */
    char leid[HTTP_LEID_MAX];   /* Last-Event-ID (the last such header) */
    size_t leid_len;            /* bytes in leid */
    int leid_state;             /* 0 absent, 1 present, -1 too long */
    char inm[HTTP_INM_MAX];     /* If-None-Match, several headers joined by ',' */
    size_t inm_len;             /* bytes in inm */
    int inm_cut;                /* inm overflowed: ignored */
    char url[HTTP_URL_MAX + 1]; /* request target, NUL-terminated */
    size_t url_len;             /* bytes in url */
    size_t header_bytes;        /* header names and values seen so far */
    unsigned nheaders;          /* header lines seen so far */
    int err_status;             /* status to answer when a callback failed */
    int streamed;               /* a stream route took the connection: stop */
} http_req_t;

static llhttp_settings_t settings;
static chanlist_t allowed;       /* --channels */
static chanlist_t flask_allowed; /* --flask-channels */
static cidrlist_t trusted;       /* --trusted-proxies */

static int req_fail(http_req_t *req, int status)
{
    req->err_status = status;
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
    http_req_t *req = p->data;
    req->url_len = 0;
    req->header_bytes = 0;
    req->nheaders = 0;
    req->field_len = 0;
    req->xff_len = 0;
    req->has_xff = 0;
    req->ae_len = 0;
    req->ae_cut = 0;
    req->leid_len = 0;
    req->leid_state = 0;
    req->inm_len = 0;
    req->inm_cut = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = p->data;
    if (len > HTTP_URL_MAX - req->url_len)
        return req_fail(req, 414);
    memcpy(req->url + req->url_len, at, len);
    req->url_len += len;
    req->url[req->url_len] = '\0';
    return 0;
}

static int on_header_data(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = p->data;
    (void)at;
    req->header_bytes += len;
    if (req->header_bytes > HTTP_HEADERS_MAX)
        return req_fail(req, 431);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = p->data;
    if (req->field_len + len <= HTTP_FIELD_MAX)
        memcpy(req->field + req->field_len, at, len);
    req->field_len += len;
    return on_header_data(p, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    http_req_t *req = p->data;
    req->field_id = HDR_OTHER;
    if (req->field_len == 15 && strncasecmp(req->field, "X-Forwarded-For", 15) == 0) {
        req->field_id = HDR_XFF;
        if (req->has_xff && req->xff_len < HTTP_XFF_MAX)
            req->xff[req->xff_len++] = ',';
        req->has_xff = 1;
    } else if (req->field_len == 13 && strncasecmp(req->field, "Last-Event-ID", 13) == 0) {
        req->field_id = HDR_LEID;
        req->leid_len = 0;
        req->leid_state = 1;
    } else if (req->field_len == 15 && strncasecmp(req->field, "Accept-Encoding", 15) == 0) {
        req->field_id = HDR_AE;
        if (req->ae_len > 0 && req->ae_len < HTTP_AE_MAX)
            req->ae[req->ae_len++] = ',';
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
    http_req_t *req = p->data;
    if (req->field_id == HDR_XFF) {
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
    http_req_t *req = p->data;
    if (req->field_id == HDR_AE && req->ae_cut) {
        while (req->ae_len > 0 && req->ae[req->ae_len - 1] != ',')
            req->ae_len--;
    }
    req->field_id = HDR_OTHER;
    if (++req->nheaders > HTTP_HEADER_COUNT_MAX)
        return req_fail(req, 431);
    return 0;
}

/* --- what routes.c does with a complete request ---------------------------- */

/* The walk replay.c makes over a cursor (replay_cursor_valid, then the
 * positions), with the iterator's contract checked at every step. */
static void check_cursor(const char *cur, size_t len, const char *const *names,
                         const size_t *lens, int n)
{
    size_t pos = 0, prev = 0;
    hid_token_t t;
    int r;
    while ((r = hid_cursor_next(cur, len, &pos, &t)) == 1) {
        /* Every token moves forward, so the walk ends. */
        FUZZ_CHECK(pos > prev && pos <= len);
        if (t.chan != NULL) {
            FUZZ_CHECK(t.chan >= cur + prev && t.chan + t.chan_len <= cur + pos);
            FUZZ_CHECK(chan_name_valid(t.chan, t.chan_len));
        }
        prev = pos;
        char text[HID_TEXT_MAX];
        hid_t back;
        size_t tl = hid_format(t.id, text);
        FUZZ_CHECK(tl > 0 && tl < HID_TEXT_MAX);
        FUZZ_CHECK(hid_parse(text, tl, &back) == 0 && hid_cmp(back, t.id) == 0);
    }
    FUZZ_CHECK(r == 0 || r == -1);
    /* hid_of_event on the whole cursor, as the stream does for live ids. */
    for (int i = 0; i < n; i++) {
        hid_t id;
        if (hid_of_event(cur, len, names[i], lens[i], &id))
            FUZZ_CHECK(len > lens[i] && cur[len - lens[i] - 1] == '@');
    }
}

/* 1 when s (len bytes) holds needle, ASCII case-insensitively. */
static int has_ci(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(s + i, needle, n) == 0)
            return 1;
    return 0;
}

static char key[256];
static char val[ROUTE_QUERY_VAL_MAX + 1];
static char chans[ROUTE_QUERY_VAL_MAX + 1];
static char client_id[ROUTE_QUERY_VAL_MAX + 1];
static char qcursor[ROUTE_QUERY_VAL_MAX + 1];

/* route_stream_parse and route_channels of bridge/routes.c. */
static void route_stream(const http_req_t *req, const char *query, size_t qlen, int flask_alias)
{
    const char *chans_key = flask_alias ? "channel" : "channels";
    size_t klen, vlen, pos = 0, chans_len = 0, client_id_len = 0, qcursor_len = 0;
    int r, has_chans = 0, has_client_id = 0, has_cursor = 0;
    while (query != NULL &&
           (r = query_next(query, qlen, &pos, key, sizeof(key), &klen, val, sizeof(val), &vlen)) != 0) {
        FUZZ_CHECK(pos <= qlen);
        if (r < 0)
            return; /* 400 invalid_query */
        FUZZ_CHECK(r == 1 && klen < sizeof(key) && strlen(key) == klen);
        FUZZ_CHECK(vlen <= ROUTE_QUERY_VAL_MAX && strlen(val) == vlen);
        if (strcmp(key, chans_key) == 0) {
            memcpy(chans, val, vlen + 1);
            chans_len = vlen;
            has_chans = 1;
        } else if (strcmp(key, "client_id") == 0) {
            memcpy(client_id, val, vlen + 1);
            client_id_len = vlen;
            has_client_id = 1;
        } else if (strcmp(key, "last_event_id") == 0) {
            memcpy(qcursor, val, vlen + 1);
            qcursor_len = vlen;
            has_cursor = 1;
        } else if (strcmp(key, "compression") == 0) {
            if (strcmp(val, "none") != 0 && strcmp(val, "gzip") != 0)
                return; /* 400 */
        }
    }
    if (has_client_id && !chan_name_valid(client_id, client_id_len))
        return; /* 400 invalid_client_id */
    if (flask_alias && !has_chans) {
        memcpy(chans, "sse", 4);
        chans_len = 3;
        has_chans = 1;
    }
    const char *names[MAX_CHANNELS_PER_CONN];
    size_t lens[MAX_CHANNELS_PER_CONN];
    int n = 0;
    if (has_chans) {
        size_t start = 0;
        for (size_t i = 0; i <= chans_len; i++) {
            if (i < chans_len && chans[i] != ',')
                continue;
            const char *name = chans + start;
            size_t nlen = i - start;
            start = i + 1;
            if (!chan_name_valid(name, nlen))
                return; /* 400 invalid_channel */
            if (!chanlist_allows(&allowed, name, nlen) && !chanlist_allows(&flask_allowed, name, nlen))
                return; /* 403 channel_forbidden */
            if (n == MAX_CHANNELS_PER_CONN)
                return; /* 400 too_many_channels */
            names[n] = name;
            lens[n] = nlen;
            n++;
        }
    }

    char peer[] = "127.0.0.1", ip[CLIENTIP_MAX];
    int from_xff = clientip_resolve(peer, req->has_xff ? req->xff : NULL, req->xff_len, &trusted, ip);
    FUZZ_CHECK(memchr(ip, '\0', sizeof(ip)) != NULL);
    if (from_xff) {
        unsigned char bin[16];
        FUZZ_CHECK(inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1);
    } else {
        FUZZ_CHECK(strcmp(ip, peer) == 0);
    }

    /* The Last-Event-ID header wins over ?last_event_id. */
    const char *leid = req->leid_state != 0 ? req->leid : NULL;
    size_t leid_len = req->leid_state == 1 ? req->leid_len : 0;
    if (leid != NULL)
        check_cursor(leid, leid_len, names, lens, n);
    else if (has_cursor)
        check_cursor(qcursor, qcursor_len, names, lens, n);

    int gz = gzs_accepts(req->ae, req->ae_len);
    FUZZ_CHECK(gz == 0 || gz == 1);
    if (gz)
        FUZZ_CHECK(has_ci(req->ae, req->ae_len, "gzip") || memchr(req->ae, '*', req->ae_len));
}

static int on_message_complete(llhttp_t *p)
{
    http_req_t *req = p->data;
    FUZZ_CHECK(req->url_len <= HTTP_URL_MAX && req->url[req->url_len] == '\0');
    FUZZ_CHECK(req->xff_len <= HTTP_XFF_MAX && req->ae_len <= HTTP_AE_MAX);
    FUZZ_CHECK(req->leid_len <= HTTP_LEID_MAX && req->inm_len <= HTTP_INM_MAX);
    FUZZ_CHECK(req->header_bytes <= HTTP_HEADERS_MAX && req->nheaders <= HTTP_HEADER_COUNT_MAX);
    const char *path, *query;
    size_t plen, qlen;
    query_split_target(req->url, req->url_len, &path, &plen, &query, &qlen);
    FUZZ_CHECK(path == req->url && plen <= req->url_len);
    FUZZ_CHECK(query == NULL || (query == req->url + plen + 1 && plen + 1 + qlen == req->url_len));
#define PATH_IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
    int events = PATH_IS("/events"), flask = PATH_IS("/stream");
#undef PATH_IS
    if ((events || flask) && llhttp_get_method(p) == HTTP_GET) {
        route_stream(req, query, qlen, flask);
        /* The connection becomes a stream (or waits for the pool): conn.c
         * stops parsing, later bytes are dropped. */
        req->streamed = 1;
        return HPE_PAUSED;
    }
    return 0; /* other routes answer and keep the connection alive */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc;
    (void)argv;
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_message_complete = on_message_complete;
    if (chanlist_parse(&allowed, "summary_progress,summary_complete,system,user:*", err,
                       sizeof(err)) != 0 ||
        chanlist_parse(&flask_allowed, "sse", err, sizeof(err)) != 0 ||
        cidrlist_parse(&trusted, "127.0.0.0/8,10.0.0.0/8,::1,fd00::/8", err, sizeof(err)) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = data[0] != 0 ? data[0] : size;
    data++;
    size--;
    http_req_t *req = calloc(1, sizeof(*req));
    FUZZ_CHECK(req != NULL);
    llhttp_init(&req->parser, HTTP_REQUEST, &settings);
    req->parser.data = req;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < step ? size - off : step;
        /* Each read in its own buffer of exactly its size, as from a socket. */
        char *chunk = malloc(n);
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data + off, n);
        llhttp_errno_t e = llhttp_execute(&req->parser, chunk, n);
        free(chunk);
        off += n;
        if (req->streamed || (e != HPE_OK && e != HPE_PAUSED))
            break; /* conn.c answers (error or stream) and reads no more */
        if (e == HPE_USER || req->err_status != 0)
            break;
    }
    free(req);
    return 0;
}
