/* Incremental, I/O-free parser for text/event-stream (WHATWG "Interpreting an event stream"). */
#include "sse_parse.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

void ssep_init(ssep_t *p, size_t max_line, ssep_event_cb cb, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->cb = cb;
    p->arg = arg;
    /* Keeps max_line + 2 and the doubling in buf_reserve() from overflowing. */
    p->max_line = max_line < SIZE_MAX / 4 ? max_line : SIZE_MAX / 4;
    p->retry = -1;
}

void ssep_free(ssep_t *p)
{
    free(p->line.p);
    free(p->data.p);
    free(p->event.p);
    free(p->id.p);
    memset(&p->line, 0, sizeof(p->line));
    memset(&p->data, 0, sizeof(p->data));
    memset(&p->event, 0, sizeof(p->event));
    memset(&p->id, 0, sizeof(p->id));
}

const char *ssep_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case SSEP_ELINE:
        return "line longer than the limit";
    case SSEP_EDATA:
        return "event data longer than the limit";
    case SSEP_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

/* Records the first error; every later call reports it. */
static int fail(ssep_t *p, int err)
{
    if (p->err == 0)
        p->err = err;
    return p->err;
}

/* Makes room for len bytes plus a NUL. Callers have bounded len by
 * max_line + 1, so a buffer never grows past max_line + 2 bytes. */
static int buf_reserve(ssep_t *p, ssep_buf_t *b, size_t len)
{
    if (len < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap <= len)
        cap *= 2;
    if (cap > p->max_line + 2 && len < p->max_line + 2)
        cap = p->max_line + 2;
    char *np = realloc(b->p, cap);
    if (np == NULL)
        return fail(p, SSEP_ENOMEM);
    b->p = np;
    b->cap = cap;
    return 0;
}

static int buf_append(ssep_t *p, ssep_buf_t *b, const char *s, size_t n)
{
    if (buf_reserve(p, b, b->len + n) != 0)
        return p->err;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_set(ssep_t *p, ssep_buf_t *b, const char *s, size_t n)
{
    b->len = 0;
    return buf_append(p, b, s, n);
}

static void buf_clear(ssep_buf_t *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

/* A blank line: hands the buffered event to the callback, if it has data. */
static void dispatch(ssep_t *p)
{
    if (p->data.len == 0) {
        /* No event, but the last event ID buffer keeps any id just read. */
        buf_clear(&p->event);
        return;
    }
    p->data.len--; /* the LF after the last data line */
    p->data.p[p->data.len] = '\0';

    ssep_event_t ev;
    ev.event = p->event.len > 0 ? p->event.p : "message";
    ev.event_len = p->event.len > 0 ? p->event.len : 7;
    ev.data = p->data.p;
    ev.data_len = p->data.len;
    ev.id = p->id.p != NULL ? p->id.p : "";
    ev.id_len = p->id.len;
    p->events++;
    p->cb(p->arg, &ev);

    buf_clear(&p->data);
    buf_clear(&p->event);
}

/* The field with a value: data, event, id and retry; other names are ignored. */
static void field(ssep_t *p, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (nlen == 4 && memcmp(name, "data", 4) == 0) {
        /* Bound the data the event would deliver: what is buffered plus this
         * line, the final LF not counted. */
        if (p->data.len + vlen > p->max_line) {
            fail(p, SSEP_EDATA);
            return;
        }
        if (buf_append(p, &p->data, v, vlen) == 0)
            buf_append(p, &p->data, "\n", 1);
    } else if (nlen == 5 && memcmp(name, "event", 5) == 0) {
        buf_set(p, &p->event, v, vlen);
    } else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
        if (memchr(v, '\0', vlen) == NULL)
            buf_set(p, &p->id, v, vlen);
    } else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
        long n = 0;
        size_t i;
        for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++) {
            int d = v[i] - '0';
            n = n > (LONG_MAX - d) / 10 ? LONG_MAX : n * 10 + d;
        }
        if (vlen > 0 && i == vlen)
            p->retry = n;
    }
}

/* One complete line, its terminator removed. */
static void line(ssep_t *p, const char *l, size_t n)
{
    if (n == 0) {
        dispatch(p);
        return;
    }
    if (l[0] == ':')
        return; /* comment */
    const char *colon = memchr(l, ':', n);
    if (colon == NULL) {
        field(p, l, n, "", 0);
        return;
    }
    const char *v = colon + 1;
    size_t vlen = n - (size_t)(v - l);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    field(p, l, (size_t)(colon - l), v, vlen);
}

/* Skips a leading UTF-8 BOM that may arrive split across feeds; returns the
 * bytes of buf consumed. A partial match that turns out not to be a BOM is
 * stream content: its bytes start the first line. */
static size_t skip_bom(ssep_t *p, const char *buf, size_t len)
{
    size_t i = 0;
    while (!p->started && i < len) {
        if ((unsigned char)buf[i] == utf8_bom[p->bom]) {
            i++;
            if (++p->bom == sizeof(utf8_bom))
                p->started = 1;
            continue;
        }
        p->started = 1;
        if (p->bom > p->max_line)
            fail(p, SSEP_ELINE);
        else if (p->bom > 0)
            buf_append(p, &p->line, (const char *)utf8_bom, p->bom);
    }
    return i;
}

int ssep_feed(ssep_t *p, const char *buf, size_t len)
{
    if (p->err != 0)
        return p->err;
    size_t i = skip_bom(p, buf, len);
    /* Where the next LF is, found once per run of lines: a stream of
     * CR-terminated lines would otherwise rescan the chunk on every line. */
    const char *lf = NULL;
    int lf_none = 0;

    while (i < len && p->err == 0) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        const char *s = buf + i;
        size_t rest = len - i;
        if (!lf_none && (lf == NULL || lf < s)) {
            lf = memchr(s, '\n', rest);
            lf_none = lf == NULL;
        }
        size_t scan = lf_none ? rest : (size_t)(lf - s);
        const char *cr = memchr(s, '\r', scan);
        size_t n = cr != NULL ? (size_t)(cr - s) : scan;

        if (p->line.len + n > p->max_line)
            return fail(p, SSEP_ELINE);
        if (cr == NULL && lf_none) {
            /* No terminator in this feed: keep the start of the line. */
            buf_append(p, &p->line, s, n);
            break;
        }
        if (p->line.len > 0) {
            if (buf_append(p, &p->line, s, n) != 0)
                break;
            line(p, p->line.p, p->line.len);
            buf_clear(&p->line);
        } else {
            line(p, s, n);
        }
        p->after_cr = cr != NULL;
        i += n + 1;
    }
    return p->err;
}
