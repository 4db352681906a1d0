/* HTTP/1.1 requests on llhttp (Debian's node-llhttp): only the request
 * target and the headers the bridge uses are kept, each within its cap;
 * the target, header bytes and header lines are bounded by the configured
 * limits, and a request over one fails with its status before any more of
 * it is stored. llhttp may split any value across reads: every capture
 * appends. */
#include "httpreq.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_FIELD_MAX 32 /* header names we look for are shorter */
#define HTTP_XFF_MAX 1024 /* X-Forwarded-For kept (its rightmost bytes) */

#define HTTP_AE_MAX 256   /* Accept-Encoding kept (longer lists are cut) */
#define HTTP_LEID_MAX 4096 /* a longer Last-Event-ID is no cursor of ours */
#define HTTP_INM_MAX 256   /* If-None-Match kept (a longer one matches nothing) */

enum { HDR_OTHER = 0, HDR_XFF, HDR_AE, HDR_LEID, HDR_INM, HDR_AUTH, HDR_ORIGIN };

struct http_req_s {
    llhttp_t parser;             /* llhttp state, data points to this struct */
    const cfg_t *cfg;            /* the limits and CORS settings */
    http_req_cb cb;              /* called for each complete request */
    void *owner;                 /* its first argument */
    char text[160];              /* the error text of a malformed request */
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

static int req_fail(http_req_t *req, int status, const char *code, const char *text)
{
    req->err_status = status;
    req->err_code = code;
    req->err_text = text;
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
    size_t max = (size_t)req->cfg->max_url_bytes;
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
    http_req_t *req = p->data;
    (void)at;
    req->header_bytes += len;
    if (req->header_bytes > (size_t)req->cfg->max_header_bytes) {
        snprintf(req->err_buf, sizeof(req->err_buf), "request headers larger than %d bytes",
                 req->cfg->max_header_bytes);
        return req_fail(req, 431, "headers_too_large", req->err_buf);
    }
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
    http_req_t *req = p->data;
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
    http_req_t *req = p->data;
    if (req->field_id == HDR_AE && req->ae_cut) {
        /* A cut item could read "gzip;q=0" as "gzip": keep whole items only,
         * and nothing of later Accept-Encoding headers either. */
        while (req->ae_len > 0 && req->ae[req->ae_len - 1] != ',')
            req->ae_len--;
    }
    req->field_id = HDR_OTHER;
    if (++req->nheaders > (unsigned)req->cfg->max_headers) {
        snprintf(req->err_buf, sizeof(req->err_buf), "more than %d request headers",
                 req->cfg->max_headers);
        return req_fail(req, 431, "headers_too_large", req->err_buf);
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    http_req_t *req = p->data;
    http_headers_t h = {.xff = req->has_xff ? req->xff : NULL, .xff_len = req->xff_len,
                        .ae = req->ae, .ae_len = req->ae_len,
                        /* too long: no cursor of ours, but still "an id was sent" */
                        .leid = req->leid_state != 0 ? req->leid : NULL,
                        .leid_len = req->leid_state == 1 ? req->leid_len : 0,
                        .inm = req->inm_cut ? "" : req->inm,
                        .inm_len = req->inm_cut ? 0 : req->inm_len};
    int stop = req->cb(req->owner, llhttp_get_method(p), req->url, req->url_len, &h,
                       llhttp_should_keep_alive(p));
    return stop ? HPE_PAUSED : 0;
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

http_req_t *http_req_new(const cfg_t *cfg, http_req_cb cb, void *owner)
{
    if (!http_settings_ready)
        http_settings_init();
    http_req_t *req = calloc(1, sizeof(*req) + (size_t)cfg->max_url_bytes + 1);
    if (req == NULL)
        return NULL;
    req->cfg = cfg;
    req->cb = cb;
    req->owner = owner;
    llhttp_init(&req->parser, HTTP_REQUEST, &http_settings);
    req->parser.data = req;
    return req;
}

void http_req_free(http_req_t *req)
{
    free(req);
}

int http_req_feed(http_req_t *req, const char *data, size_t len, int *status, const char **code,
                  const char **text)
{
    llhttp_errno_t e = llhttp_execute(&req->parser, data, len);
    if (e == HPE_OK || e == HPE_PAUSED)
        return 0;
    /* Our callbacks record why they failed; llhttp reports a failing
     * *_complete callback under its own code rather than HPE_USER. */
    if (req->err_status != 0) {
        *status = req->err_status;
        *code = req->err_code;
        *text = req->err_text;
    } else {
        snprintf(req->text, sizeof(req->text), "malformed HTTP request: %s",
                 llhttp_get_error_reason(&req->parser));
        *status = 400;
        *code = "bad_request";
        *text = req->text;
    }
    return -1;
}

int http_req_bearer(const http_req_t *req, const char **token, size_t *len)
{
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

int http_req_origin(const http_req_t *req, const char **origin, size_t *len)
{
    if (req == NULL || req->origin_state == 0)
        return 0;
    *origin = req->origin;
    *len = req->origin_state == 1 ? req->origin_len : 0;
    return req->origin_state == 1 ? 1 : -1;
}

size_t http_req_cors_lines(const http_req_t *req, const cfg_t *cfg, char *out, size_t cap)
{
    const char *origin;
    size_t len;
    int n = 0;
    out[0] = '\0';
    if (!cfg->cors_any && cfg->cors_origins[0] == '\0')
        return 0; /* CORS is off */
    int has = http_req_origin(req, &origin, &len) == 1 && cfg_cors_allows(cfg, origin, len);
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

