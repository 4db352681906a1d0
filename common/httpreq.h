/* Reading one HTTP/1.1 request after another with llhttp: the request
 * target and the few headers the bridge uses, within configurable limits.
 * I/O-free: the owner feeds the bytes it read and gets each complete
 * request through a callback. */
#ifndef SSE_HTTPREQ_H
#define SSE_HTTPREQ_H

#include <stddef.h>

#include "config.h"

#define HTTP_URL_LIMIT 65536 /* the largest --max-url-bytes */
#define HTTP_AUTH_MAX 16400  /* Authorization kept: "Bearer " and the largest token */
#define HTTP_ORIGIN_MAX 256  /* a longer Origin is no origin of ours */

/* The request headers the routes use, valid during the request callback. */
typedef struct http_headers_s {
    const char *xff; /* X-Forwarded-For (repeated headers joined), NULL when absent */
    size_t xff_len;  /* bytes in xff */
    const char *ae;  /* Accept-Encoding (repeated headers joined; "" when absent) */
    size_t ae_len;   /* bytes in ae */
    const char *leid;/* Last-Event-ID, NULL when absent (or too long to be a cursor) */
    size_t leid_len; /* bytes in leid */
    const char *inm; /* If-None-Match (repeated headers joined; "" when absent or too long) */
    size_t inm_len;  /* bytes in inm */
} http_headers_t;

typedef struct http_req_s http_req_t;

/* A complete request: method (llhttp's HTTP_GET...), target (len bytes,
 * NUL-terminated), headers, and whether the connection may carry another
 * request. Return 0 to read the next request from the same bytes, 1 to
 * stop (the connection became a stream, waits, or closes). */
typedef int (*http_req_cb)(void *owner, int method, const char *url, size_t len,
                           const http_headers_t *h, int keep_alive);

/* A reader with the limits of cfg (max_url_bytes, max_header_bytes,
 * max_headers; cfg must outlive it), calling cb(owner, ...) for each
 * request. NULL when out of memory. */
http_req_t *http_req_new(const cfg_t *cfg, http_req_cb cb, void *owner);

/* Frees req; safe on NULL. Not from inside its callback. */
void http_req_free(http_req_t *req);

/* Reads len bytes. Returns 0 when they were taken (or the callback said
 * stop); -1 when the request is bad, with the status to answer (400, 414,
 * 431) and its JSON code and text (valid until the next call). */
int http_req_feed(http_req_t *req, const char *data, size_t len, int *status, const char **code,
                  const char **text);

/* The bearer token of the request's Authorization header: 1 with *token
 * and *len, 0 when there is no such header, -1 when it is not "Bearer
 * <token>", -2 when it is longer than any token. Valid until the next
 * request starts. */
int http_req_bearer(const http_req_t *req, const char **token, size_t *len);

/* The request's Origin: 1 with *origin and *len, 0 when absent, -1 when
 * too long to be one. */
int http_req_origin(const http_req_t *req, const char **origin, size_t *len);

/* Writes the CORS header lines for the request (each ending in CRLF) into
 * out (cap bytes): none when --cors-origins is unset, the allow lines when
 * it allows the request's Origin, "Vary: Origin" for an exact list. req may
 * be NULL (no request in hand: no lines). Returns the bytes written. */
size_t http_req_cors_lines(const http_req_t *req, const cfg_t *cfg, char *out, size_t cap);

#endif
