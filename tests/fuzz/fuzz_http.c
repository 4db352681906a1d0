/* Fuzz target: the HTTP request path. llhttp (Debian's node-llhttp sources,
 * compiled with the fuzzing flags) runs over the input with callbacks that
 * MIRROR bridge/conn.c's: request-target accumulation and its 2048-byte
 * limit, header byte and line limits (from a cfg_t that cfg_parse built, as
 * the bridge does), and the capture of X-Forwarded-For, Accept-Encoding,
 * Last-Event-ID, If-None-Match, Authorization and Origin with their caps.
 * Each complete request then goes through what bridge/routes.c does with it:
 * query_split_target, query_next into the same buffers, the channel list
 * (chan_name_valid, chanlist_allows, the per-connection cap), client_id, the
 * token (conn_bearer's Authorization parsing, else ?token=, jwt_verify, the
 * grants and public channels, client_id against sub), the resume cursor
 * (hid_cursor_next as replay.c walks it, hid_of_event), gzs_accepts on
 * Accept-Encoding, clientip_resolve on X-Forwarded-For, and the CORS lines
 * (cfg_cors_allows, conn_cors_lines).
 *
 * Why a mirror: conn.c's callbacks are static and tied to conn_t and libuv.
 * Moving them into an I/O-free common/ module (so this target could call the
 * real ones) is the right refactor, but conn.c is being edited by another
 * engineer right now; until then, keep this copy in step with conn.c (it
 * follows conn.c and routes.c as of the Authorization/Origin capture and
 * the configurable request limits).
 *
 * The first input byte sets how the rest is cut into reads (0: one read,
 * else reads of that many bytes), since llhttp may split any value across
 * reads. Properties: buffers never overflow (ASan), captured lengths stay
 * within their caps, decoded query values are NUL-free C strings, cursor
 * walks always advance and end, a resolved client IP is an address, an
 * accepted token has a valid subject and grants every channel that is not
 * public, and CORS lines echo only allowlisted (printable) origins. */
#include <arpa/inet.h>
#include <llhttp.h>
#include <string.h>
#include <strings.h>

#include "chanlist.h"
#include "cidr.h"
#include "clientip.h"
#include "config.h"
#include "fuzz.h"
#include "gzseg.h"
#include "histid.h"
#include "jwt.h"
#include "query.h"

/* Mirrors of bridge/conn.h and bridge/conn.c. */
#define HTTP_URL_LIMIT 65536
#define HTTP_AUTH_MAX 16400
#define HTTP_FIELD_MAX 32
#define HTTP_XFF_MAX 1024
#define HTTP_AE_MAX 256
#define HTTP_LEID_MAX 4096
#define HTTP_INM_MAX 256
#define HTTP_ORIGIN_MAX 256
/* Mirror of bridge/routes.c. */
#define ROUTE_QUERY_VAL_MAX HTTP_URL_LIMIT
#define ROUTE_CHANNELS_MAX 256

#define NOW 1795579860 /* the clock for tokens, s (the seeds' tokens expire later) */
#define SECRET "fuzz-secret-0123456789-abcdefghijklmnop"

enum { HDR_OTHER = 0, HDR_XFF, HDR_AE, HDR_LEID, HDR_INM, HDR_AUTH, HDR_ORIGIN };

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
    char auth[HTTP_AUTH_MAX];   /* Authorization (the last such header) */
    size_t auth_len;            /* bytes in auth */
    int auth_cut;               /* auth overflowed: too long for any token */
    char origin[HTTP_ORIGIN_MAX]; /* Origin (the last such header) */
    size_t origin_len;          /* bytes in origin */
    int origin_state;           /* 0 absent, 1 present, -1 too long */
    size_t url_len;             /* bytes in url */
    size_t header_bytes;        /* header names and values seen so far */
    unsigned nheaders;          /* header lines seen so far */
    int err_status;             /* status to answer when a callback failed */
    int streamed;               /* a stream route took the connection: stop */
    char url[];                 /* request target, NUL-terminated: max_url_bytes + 1 */
} http_req_t;

static llhttp_settings_t settings;
static cfg_t cfg; /* the bridge's configuration, from cfg_parse */

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
    req->auth_len = 0;
    req->auth_cut = 0;
    req->origin_len = 0;
    req->origin_state = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = p->data;
    if (len > (size_t)cfg.max_url_bytes - req->url_len)
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
    if (req->header_bytes > (size_t)cfg.max_header_bytes)
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
    http_req_t *req = p->data;
    if (req->field_id == HDR_AE && req->ae_cut) {
        while (req->ae_len > 0 && req->ae[req->ae_len - 1] != ',')
            req->ae_len--;
    }
    req->field_id = HDR_OTHER;
    if (++req->nheaders > (unsigned)cfg.max_headers)
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
static char qtoken[ROUTE_QUERY_VAL_MAX + 1];
static char qcursor[ROUTE_QUERY_VAL_MAX + 1];

/* conn_bearer of bridge/conn.c: 1 with the token, 0 without the header, -1
 * when it is not "Bearer <token>", -2 when it was too long to keep. */
static int bearer(const http_req_t *req, const char **token, size_t *len)
{
    if (req->auth_len == 0 && !req->auth_cut)
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

/* route_auth of bridge/routes.c: 0 when the request may open its stream. */
static int route_auth(const http_req_t *req, const char *const *names, const size_t *lens, int n,
                      const char *qtok, size_t qtok_len, int has_client_id, size_t client_id_len)
{
    const char *tok = NULL;
    size_t tlen = 0;
    int b = bearer(req, &tok, &tlen);
    if (b < 0)
        return -1; /* 401 token_too_large / token_malformed */
    if (b == 1)
        FUZZ_CHECK(tok >= req->auth && tok + tlen <= req->auth + req->auth_len);
    if (b == 0 && qtok != NULL) {
        tok = qtok;
        tlen = qtok_len;
    }
    jwt_claims_t claims;
    int has = tok != NULL;
    if (has) {
        char err[160];
        jwt_result_t r = (size_t)cfg.max_token_bytes < tlen
                             ? JWT_TOO_LARGE
                             : jwt_verify(tok, tlen, cfg.auth_secret, cfg.auth_secret_len, NOW,
                                          cfg.token_skew, &claims, err, sizeof(err));
        if (r != JWT_OK)
            return -1; /* 401 */
        FUZZ_CHECK(chan_name_valid(claims.sub, claims.sub_len) && claims.exp + cfg.token_skew >= NOW);
    }
    int status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        if (chanlist_allows(&cfg.public_channels, names[i], lens[i]))
            continue;
        if (!has || !chanlist_allows(&claims.channels, names[i], lens[i]))
            status = has ? 403 : 401;
    }
    if (status == 0 && has && has_client_id &&
        (client_id_len != claims.sub_len || memcmp(client_id, claims.sub, claims.sub_len) != 0))
        status = 403;
    else if (status == 0 && !has && has_client_id)
        status = 401;
    if (status == 0) {
        /* Admitted: every channel is public or granted by a verified token. */
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(chanlist_allows(&cfg.public_channels, names[i], lens[i]) ||
                       (has && chanlist_allows(&claims.channels, names[i], lens[i])));
    }
    if (has)
        jwt_claims_free(&claims);
    return status == 0 ? 0 : -1;
}

/* conn_cors_lines of bridge/conn.c, checked: what goes into the response
 * is whole header lines of printable ASCII. */
static void check_cors_lines(const http_req_t *req)
{
    char out[HTTP_ORIGIN_MAX + 128];
    int n = 0;
    out[0] = '\0';
    if (!cfg.cors_any && cfg.cors_origins[0] == '\0')
        return;
    int has = req->origin_state == 1 && cfg_cors_allows(&cfg, req->origin, req->origin_len);
    if (cfg.cors_any)
        n = has ? snprintf(out, sizeof(out), "Access-Control-Allow-Origin: *\r\n") : 0;
    else if (has)
        n = snprintf(out, sizeof(out),
                     "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: "
                     "true\r\nVary: Origin\r\n",
                     (int)req->origin_len, req->origin);
    else
        n = snprintf(out, sizeof(out), "Vary: Origin\r\n");
    if (n < 0 || (size_t)n >= sizeof(out))
        return;
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch == '\r')
            FUZZ_CHECK(i + 1 < n && out[i + 1] == '\n');
        else if (ch == '\n')
            FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
        else
            FUZZ_CHECK(ch >= 0x20 && ch < 0x7f);
    }
}

/* route_stream_parse, route_channels and route_default_channels of
 * bridge/routes.c, then what route_stream does with the headers. */
static void route_stream(const http_req_t *req, const char *query, size_t qlen, int flask_alias)
{
    const char *chans_key = flask_alias ? "channel" : "channels";
    size_t klen, vlen, pos = 0, chans_len = 0, client_id_len = 0, qcursor_len = 0, qtoken_len = 0;
    int r, has_chans = 0, has_client_id = 0, has_cursor = 0, has_token = 0;
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
        } else if (strcmp(key, "token") == 0) {
            memcpy(qtoken, val, vlen + 1);
            qtoken_len = vlen;
            has_token = 1;
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
    const char *names[ROUTE_CHANNELS_MAX];
    size_t lens[ROUTE_CHANNELS_MAX];
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
            if (!chanlist_allows(&cfg.channels, name, nlen) &&
                !chanlist_allows(&cfg.flask_channels, name, nlen))
                return; /* 403 channel_forbidden */
            if (n == cfg.max_channels_per_conn)
                return; /* 400 too_many_channels */
            names[n] = name;
            lens[n] = nlen;
            n++;
        }
    } else {
        for (size_t i = 0; i < cfg.channels.count && n < cfg.max_channels_per_conn; i++) {
            if (cfg.channels.prefix[i])
                continue;
            names[n] = cfg.channels.names[i];
            lens[n] = cfg.channels.lens[i];
            n++;
        }
    }
    if (cfg.auth_secret_len > 0 &&
        route_auth(req, names, lens, n, has_token ? qtoken : NULL, qtoken_len, has_client_id,
                   client_id_len) != 0)
        return;

    char peer[] = "127.0.0.1", ip[CLIENTIP_MAX];
    int from_xff = clientip_resolve(peer, req->has_xff ? req->xff : NULL, req->xff_len,
                                    &cfg.trusted_proxies, ip);
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
    check_cors_lines(req);
}

static int on_message_complete(llhttp_t *p)
{
    http_req_t *req = p->data;
    FUZZ_CHECK(req->url_len <= (size_t)cfg.max_url_bytes && req->url[req->url_len] == '\0');
    FUZZ_CHECK(req->xff_len <= HTTP_XFF_MAX && req->ae_len <= HTTP_AE_MAX);
    FUZZ_CHECK(req->leid_len <= HTTP_LEID_MAX && req->inm_len <= HTTP_INM_MAX);
    FUZZ_CHECK(req->auth_len <= HTTP_AUTH_MAX && req->origin_len <= HTTP_ORIGIN_MAX);
    FUZZ_CHECK(req->header_bytes <= (size_t)cfg.max_header_bytes);
    FUZZ_CHECK(req->nheaders <= (unsigned)cfg.max_headers);
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
    /* The bridge's settings as an operator with auth and CORS would set them. */
    char *args[] = {"sse-bridge",
                    "--channels=summary_progress,summary_complete,system,user:*",
                    "--flask-channels=sse",
                    "--trusted-proxies=127.0.0.0/8,10.0.0.0/8,::1,fd00::/8",
                    "--auth-secret=" SECRET,
                    "--public-channels=summary_progress,system",
                    "--cors-origins=https://app.example.com,http://localhost:5000,http://[::1]:8000",
                    NULL};
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
    if (cfg_parse(&cfg, (int)(sizeof(args) / sizeof(args[0])) - 1, args, NULL, err, sizeof(err)) !=
        CFG_OK) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = data[0] != 0 ? data[0] : size;
    data++;
    size--;
    http_req_t *req = calloc(1, sizeof(*req) + (size_t)cfg.max_url_bytes + 1);
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
