/* Reads an HTTP/1.1 response for the load generator, I/O-free: head, then plain or chunked body. */
#include "http_resp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    ST_HEAD = 0, /* reading the head */
    ST_PLAIN,    /* close-delimited body */
    ST_SIZE,     /* chunk-size hex digits */
    ST_EXT,      /* chunk extension, skipped up to LF */
    ST_DATA,     /* chunk data */
    ST_DATA_CR,  /* the CR after chunk data */
    ST_DATA_LF,  /* the LF after chunk data */
    ST_TRAILER,  /* after the last chunk: everything is ignored */
};

#define MAX_CHUNK ((uint64_t)1 << 40) /* refuse chunk sizes beyond this */

void hr_init(hr_t *h)
{
    memset(h, 0, sizeof(*h));
}

void hr_free(hr_t *h)
{
    free(h->head);
    h->head = NULL;
}

const char *hr_strerror(int err)
{
    switch (err) {
    case HR_ETOOBIG:
        return "response head too large";
    case HR_EBAD:
        return "malformed response head";
    case HR_ESTATUS:
        return "status is not 200";
    case HR_ETYPE:
        return "content type is not text/event-stream";
    case HR_ECHUNK:
        return "malformed chunked body";
    case HR_ENOMEM:
        return "out of memory";
    default:
        return err == 0 ? "no error" : "unknown error";
    }
}

static int fail(hr_t *h, int err)
{
    if (h->err == 0)
        h->err = err;
    hr_free(h);
    return h->err;
}

/* Does the header value v (n bytes) contain word, case-insensitively? */
static int has_word(const char *v, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (strncasecmp(v + i, word, w) == 0)
            return 1;
    return 0;
}

/* Checks the complete head (n bytes, ending with its blank line). */
static int parse_head(hr_t *h, const char *p, size_t n)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return HR_EBAD;
    unsigned status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return HR_EBAD;
        status = status * 10 + (unsigned)(p[i] - '0');
    }
    h->status = (uint16_t)status;
    int sse = 0;
    const char *end = p + n, *line = memchr(p, '\n', n);
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        size_t len = (size_t)(eol - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        const char *colon = memchr(line, ':', len);
        if (colon != NULL) {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            if (nlen == 12 && strncasecmp(line, "content-type", 12) == 0)
                sse = vlen >= 17 && strncasecmp(v, "text/event-stream", 17) == 0;
            else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0)
                h->chunked = (uint8_t)has_word(v, vlen, "chunked");
        }
        line = eol;
    }
    if (status != 200)
        return HR_ESTATUS;
    if (!sse)
        return HR_ETYPE;
    return 0;
}

int hr_head(hr_t *h, const char *buf, size_t len, size_t *used)
{
    *used = 0;
    if (h->err != 0)
        return h->err;
    if (h->state != ST_HEAD)
        return 1;
    if (h->head == NULL && (h->head = malloc(HR_HEAD_MAX)) == NULL)
        return fail(h, HR_ENOMEM);
    size_t old = h->head_len, room = HR_HEAD_MAX - old, n = len < room ? len : room;
    memcpy(h->head + old, buf, n);
    h->head_len += (uint32_t)n;
    /* The head ends at an empty line: LF, optional CR, LF. */
    size_t from = old >= 2 ? old - 2 : 0;
    for (size_t i = from; i < h->head_len; i++) {
        if (h->head[i] != '\n')
            continue;
        size_t j = i + 1;
        if (j < h->head_len && h->head[j] == '\r')
            j++;
        if (j < h->head_len && h->head[j] == '\n') {
            size_t total = j + 1;
            *used = total - old;
            int rc = parse_head(h, h->head, total);
            hr_free(h);
            if (rc != 0)
                return fail(h, rc);
            h->state = h->chunked ? ST_SIZE : ST_PLAIN;
            return 1;
        }
    }
    if (h->head_len == HR_HEAD_MAX)
        return fail(h, HR_ETOOBIG);
    *used = n;
    return 0;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The chunk-size line ended: start its data, or the trailer after size 0. */
static int size_line_done(hr_t *h)
{
    if (!h->has_digit)
        return HR_ECHUNK;
    h->has_digit = 0;
    if (h->chunk_left == 0) {
        h->state = ST_TRAILER;
        h->done = 1;
    } else {
        h->state = ST_DATA;
    }
    return 0;
}

long hr_body(hr_t *h, char *buf, size_t len)
{
    if (h->err != 0)
        return h->err;
    if (h->state == ST_PLAIN)
        return (long)len;
    size_t out = 0, i = 0;
    while (i < len) {
        char c = buf[i];
        switch (h->state) {
        case ST_SIZE: {
            int d = hex(c);
            i++;
            if (d >= 0) {
                h->chunk_left = h->chunk_left * 16 + (uint64_t)d;
                h->has_digit = 1;
                if (h->chunk_left > MAX_CHUNK)
                    return fail(h, HR_ECHUNK);
            } else if (c == ';' || c == ' ' || c == '\t' || c == '\r') {
                h->state = ST_EXT;
            } else if (c == '\n') {
                if (size_line_done(h) != 0)
                    return fail(h, HR_ECHUNK);
            } else {
                return fail(h, HR_ECHUNK);
            }
            break;
        }
        case ST_EXT:
            i++;
            if (c == '\n' && size_line_done(h) != 0)
                return fail(h, HR_ECHUNK);
            break;
        case ST_DATA: {
            size_t n = len - i;
            if (n > h->chunk_left)
                n = (size_t)h->chunk_left;
            memmove(buf + out, buf + i, n);
            out += n;
            i += n;
            h->chunk_left -= n;
            if (h->chunk_left == 0)
                h->state = ST_DATA_CR;
            break;
        }
        case ST_DATA_CR:
            i++;
            if (c == '\r')
                h->state = ST_DATA_LF;
            else if (c == '\n')
                h->state = ST_SIZE;
            else
                return fail(h, HR_ECHUNK);
            break;
        case ST_DATA_LF:
            i++;
            if (c != '\n')
                return fail(h, HR_ECHUNK);
            h->state = ST_SIZE;
            break;
        default: /* ST_TRAILER */
            i = len;
            break;
        }
    }
    return (long)out;
}

/* ---- replies to pipelined requests ---- */

void hrr_init(hrr_t *r)
{
    memset(r, 0, sizeof(*r));
}

static int hrr_fail(hrr_t *r, int err)
{
    if (r->err == 0)
        r->err = err;
    return r->err;
}

/* Reads a complete reply head (n bytes with its blank line): status, body
 * length, Connection: close. Returns 0 or an HR_E* code. */
static int hrr_parse_head(hrr_t *r, const char *p, size_t n, int *has_length)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return HR_EBAD;
    unsigned status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return HR_EBAD;
        status = status * 10 + (unsigned)(p[i] - '0');
    }
    r->status = (uint16_t)status;
    r->close = p[7] == '0'; /* HTTP/1.0 closes unless told otherwise */
    r->body_left = 0;
    *has_length = 0;
    const char *end = p + n, *line = memchr(p, '\n', n);
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        size_t len = (size_t)(eol - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        const char *colon = memchr(line, ':', len);
        if (colon != NULL) {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
                uint64_t cl = 0;
                if (vlen == 0)
                    return HR_EBAD;
                for (size_t i = 0; i < vlen; i++) {
                    if (v[i] < '0' || v[i] > '9' || cl > MAX_CHUNK)
                        return HR_EBAD;
                    cl = cl * 10 + (uint64_t)(v[i] - '0');
                }
                r->body_left = cl;
                *has_length = 1;
            } else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
                if (has_word(v, vlen, "chunked"))
                    return HR_ECHUNK;
            } else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
                if (has_word(v, vlen, "close"))
                    r->close = 1;
                else if (has_word(v, vlen, "keep-alive"))
                    r->close = 0;
            }
        }
        line = eol;
    }
    return 0;
}

/* The reply whose head was just read is over: report it unless interim. */
static void hrr_done(hrr_t *r, hrr_cb cb, void *arg)
{
    r->in_body = 0;
    if (r->status >= 100 && r->status < 200)
        return;
    r->replies++;
    cb(arg, r->status, r->close);
}

int hrr_feed(hrr_t *r, const char *buf, size_t len, hrr_cb cb, void *arg)
{
    size_t i = 0;
    if (r->err != 0)
        return r->err;
    while (i < len) {
        if (r->in_body) {
            size_t n = len - i;
            if (n > r->body_left)
                n = (size_t)r->body_left;
            i += n;
            r->body_left -= n;
            if (r->body_left == 0)
                hrr_done(r, cb, arg);
            continue;
        }
        /* Head bytes up to and including the blank line. */
        char c = buf[i++];
        if (r->head_len == 0 && (c == '\r' || c == '\n'))
            continue; /* stray line ends between replies */
        if (r->head_len == HRR_HEAD_MAX)
            return hrr_fail(r, HR_ETOOBIG);
        r->head[r->head_len++] = c;
        size_t h = r->head_len;
        if (c != '\n' || h < 2)
            continue;
        int blank = r->head[h - 2] == '\n' ||
                    (h >= 3 && r->head[h - 2] == '\r' && r->head[h - 3] == '\n');
        if (!blank)
            continue;
        int has_length;
        int rc = hrr_parse_head(r, r->head, h, &has_length);
        r->head_len = 0;
        if (rc != 0)
            return hrr_fail(r, rc);
        int no_body = (r->status >= 100 && r->status < 200) || r->status == 204 ||
                      r->status == 304;
        if (no_body) {
            r->body_left = 0;
        } else if (!has_length) {
            return hrr_fail(r, HR_EBAD); /* close-delimited: cannot be pipelined */
        }
        r->in_body = 1;
        if (r->body_left == 0)
            hrr_done(r, cb, arg);
    }
    return 0;
}
