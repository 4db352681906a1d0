/* Fuzz target: the HTTP request path. The bridge's own request reader
 * (common/httpreq: llhttp from Debian's node-llhttp, compiled with the
 * fuzzing flags, with the configured target, header-byte and header-line
 * limits and the capture of X-Forwarded-For, Accept-Encoding,
 * Last-Event-ID, If-None-Match, Authorization and Origin) runs over the
 * input; each complete request then goes through what bridge/routes.c does
 * with it: query_split_target, query_next into the same buffers, the
 * channel list (chan_name_valid, chanlist_allows, the per-connection cap),
 * client_id, the token (http_req_bearer, else ?token=, jwt_verify, the
 * grants and public channels, client_id against sub), the resume cursor
 * (hid_cursor_next as replay.c walks it, hid_of_event), gzs_accepts on
 * Accept-Encoding, clientip_resolve on X-Forwarded-For, and the CORS lines
 * (http_req_cors_lines).
 *
 * routes.c's own functions take a conn_t tied to libuv, so the route
 * steps here MIRROR routes.c (route_stream_parse, route_auth); the request
 * reading is the real code.
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
#include "httpreq.h"
#include "query.h"

/* The caps common/httpreq.c documents for what it keeps. */
#define HTTP_XFF_MAX 1024
#define HTTP_AE_MAX 256
#define HTTP_LEID_MAX 4096
#define HTTP_INM_MAX 256
/* Mirror of bridge/routes.c. */
#define ROUTE_QUERY_VAL_MAX HTTP_URL_LIMIT
#define ROUTE_CHANNELS_MAX 256

#define NOW 1795579860 /* the clock for tokens, s (the seeds' tokens expire later) */
#define SECRET "fuzz-secret-0123456789-abcdefghijklmnop"

static cfg_t cfg; /* the bridge's configuration, from cfg_parse */

typedef struct fuzz_conn_s {
    http_req_t *req; /* the reader */
    int streamed;    /* a stream route took the connection: no more reads */
} fuzz_conn_t;

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

/* route_auth of bridge/routes.c: 0 when the request may open its stream. */
static int route_auth(const http_req_t *req, const char *const *names, const size_t *lens, int n,
                      const char *qtok, size_t qtok_len, int has_client_id, size_t client_id_len)
{
    const char *tok = NULL;
    size_t tlen = 0;
    int b = http_req_bearer(req, &tok, &tlen);
    if (b < 0)
        return -1; /* 401 token_too_large / token_malformed */
    if (b == 1)
        FUZZ_CHECK(tlen > 0 && tlen <= HTTP_AUTH_MAX && memchr(tok, 0, tlen) == NULL);
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

/* The CORS lines the response would carry, checked: whole header lines of
 * printable ASCII. */
static void check_cors_lines(const http_req_t *req)
{
    char out[HTTP_ORIGIN_MAX + 128];
    size_t n = http_req_cors_lines(req, &cfg, out, sizeof(out));
    FUZZ_CHECK(n < sizeof(out) && strlen(out) == n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch == '\r')
            FUZZ_CHECK(i + 1 < n && out[i + 1] == '\n');
        else if (ch == '\n')
            FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
        else
            FUZZ_CHECK(ch >= 0x20 && ch < 0x7f);
    }
    const char *origin;
    size_t olen;
    if (n > 40 && strncmp(out, "Access-Control-Allow-Origin: ", 29) == 0 && out[29] != '*') {
        FUZZ_CHECK(http_req_origin(req, &origin, &olen) == 1);
        FUZZ_CHECK(cfg_cors_allows(&cfg, origin, olen));
    }
}

/* route_stream_parse, route_channels and route_default_channels of
 * bridge/routes.c, then what route_stream does with the headers. */
static void route_stream(const http_req_t *req, const http_headers_t *h, const char *query, size_t qlen,
                         int flask_alias)
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
    int from_xff = clientip_resolve(peer, h->xff, h->xff_len,
                                    &cfg.trusted_proxies, ip);
    FUZZ_CHECK(memchr(ip, '\0', sizeof(ip)) != NULL);
    if (from_xff) {
        unsigned char bin[16];
        FUZZ_CHECK(inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1);
    } else {
        FUZZ_CHECK(strcmp(ip, peer) == 0);
    }

    /* The Last-Event-ID header wins over ?last_event_id. */
    const char *leid = h->leid;
    size_t leid_len = h->leid_len;
    if (leid != NULL)
        check_cursor(leid, leid_len, names, lens, n);
    else if (has_cursor)
        check_cursor(qcursor, qcursor_len, names, lens, n);

    int gz = gzs_accepts(h->ae, h->ae_len);
    FUZZ_CHECK(gz == 0 || gz == 1);
    if (gz)
        FUZZ_CHECK(has_ci(h->ae, h->ae_len, "gzip") || memchr(h->ae, '*', h->ae_len));
    check_cors_lines(req);
}

/* httpreq's callback: a complete request, routed as routes.c would. */
static int on_request(void *owner, int method, const char *url, size_t len, const http_headers_t *h,
                      int keep_alive)
{
    fuzz_conn_t *fc = owner;
    (void)keep_alive;
    FUZZ_CHECK(len <= (size_t)cfg.max_url_bytes && url[len] == '\0' && strlen(url) == len);
    FUZZ_CHECK(h->xff == NULL || h->xff_len <= HTTP_XFF_MAX);
    FUZZ_CHECK(h->ae != NULL && h->ae_len <= HTTP_AE_MAX);
    FUZZ_CHECK(h->leid == NULL || h->leid_len <= HTTP_LEID_MAX);
    FUZZ_CHECK(h->inm != NULL && h->inm_len <= HTTP_INM_MAX);
    const char *path, *query;
    size_t plen, qlen;
    query_split_target(url, len, &path, &plen, &query, &qlen);
    FUZZ_CHECK(path == url && plen <= len);
    FUZZ_CHECK(query == NULL || (query == url + plen + 1 && plen + 1 + qlen == len));
#define PATH_IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
    int events = PATH_IS("/events"), flask = PATH_IS("/stream");
#undef PATH_IS
    if ((events || flask) && method == HTTP_GET) {
        route_stream(fc->req, h, query, qlen, flask);
        /* The connection becomes a stream (or waits for the pool): conn.c
         * stops reading requests, later bytes are dropped. */
        fc->streamed = 1;
        return 1;
    }
    check_cors_lines(fc->req);
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
    fuzz_conn_t fc = {0};
    fc.req = http_req_new(&cfg, on_request, &fc);
    FUZZ_CHECK(fc.req != NULL);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < step ? size - off : step;
        /* Each read in its own buffer of exactly its size, as from a socket. */
        char *chunk = malloc(n);
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, data + off, n);
        int status;
        const char *code, *text;
        int r = http_req_feed(fc.req, chunk, n, &status, &code, &text);
        free(chunk);
        off += n;
        if (r != 0) {
            /* conn.c answers the error and reads no more. */
            FUZZ_CHECK(status == 400 || status == 414 || status == 431);
            FUZZ_CHECK(code != NULL && text != NULL && strchr(text, '\n') == NULL);
            break;
        }
        if (fc.streamed)
            break;
    }
    http_req_free(fc.req);
    return 0;
}
