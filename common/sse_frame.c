/* SSE framing: turns one event into the bytes of a text/event-stream block. */
#include "sse_frame.h"

#include <stdint.h>
#include <string.h>

#define SSE_DATA_PREFIX "data: "
#define SSE_DATA_PREFIX_LEN (sizeof(SSE_DATA_PREFIX) - 1)

/* Walks data line by line. Line breaks are LF, CRLF and lone CR; the next CR
 * and the next LF are each found with memchr and remembered until the walk
 * passes them, so every byte is scanned at most once per character searched
 * and a payload of many LFs with one late CR stays linear. */
typedef struct sse_lines_s {
    const char *p;   /* start of the next line */
    const char *end; /* one past the last byte of data */
    const char *cr;  /* next CR at or after p, or end when there is none */
    const char *lf;  /* next LF at or after p, or end when there is none */
    int done;        /* set once the last line (the one without a break) was returned */
} sse_lines_t;

static const char *sse_find(const char *p, const char *end, char c)
{
    const char *hit = p < end ? memchr(p, c, (size_t)(end - p)) : NULL;
    return hit != NULL ? hit : end;
}

static void sse_lines_init(sse_lines_t *it, const char *data, size_t len)
{
    it->p = data;
    it->end = data + len;
    it->cr = sse_find(it->p, it->end, '\r');
    it->lf = sse_find(it->p, it->end, '\n');
    it->done = 0;
}

/* Returns 1 with the next line in *line / *len (without its break), 0 when
 * every line was returned. Data always has at least one line: "" is one empty
 * line and a trailing break is followed by one more empty line. */
static int sse_lines_next(sse_lines_t *it, const char **line, size_t *len)
{
    if (it->done)
        return 0;
    if (it->cr < it->p)
        it->cr = sse_find(it->p, it->end, '\r');
    if (it->lf < it->p)
        it->lf = sse_find(it->p, it->end, '\n');
    const char *brk = it->cr < it->lf ? it->cr : it->lf;
    *line = it->p;
    *len = (size_t)(brk - it->p);
    if (brk == it->end) {
        it->done = 1;
        return 1;
    }
    /* A CR immediately followed by LF is one break. */
    it->p = (*brk == '\r' && brk + 1 < it->end && brk[1] == '\n') ? brk + 2 : brk + 1;
    return 1;
}

/* Bytes of s that survive filtering: everything except CR, LF and NUL. */
static size_t sse_clean_len(const char *s, size_t len)
{
    size_t n = len;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            n--;
    return n;
}

static char *sse_put(char *out, const char *s, size_t len)
{
    memcpy(out, s, len);
    return out + len;
}

/* Writes "<name>: <s without CR, LF, NUL>\n" and returns the end. */
static char *sse_put_clean_field(char *out, const char *name, const char *s, size_t len)
{
    out = sse_put(out, name, strlen(name));
    *out++ = ':';
    *out++ = ' ';
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\r' && s[i] != '\n' && s[i] != '\0')
            *out++ = s[i];
    *out++ = '\n';
    return out;
}

/* Decimal digits of v (v >= 0). */
static size_t sse_digits(long v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static char *sse_put_long(char *out, long v)
{
    size_t n = sse_digits(v);
    for (size_t i = n; i > 0; i--) {
        out[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return out + n;
}

/* Adds b to *acc; on overflow leaves *acc at SIZE_MAX and returns -1. */
static int sse_add(size_t *acc, size_t b)
{
    if (*acc > SIZE_MAX - b) {
        *acc = SIZE_MAX;
        return -1;
    }
    *acc += b;
    return 0;
}

size_t sse_frame_size(const sse_event_t *ev)
{
    /* Field lengths are bounded by the memory they occupy, so only the data
     * lines (7 bytes of overhead per possibly 1-byte line) can overflow. */
    size_t n = 1; /* the blank line that ends the event */
    if (ev->event != NULL)
        n += sizeof("event: \n") - 1 + sse_clean_len(ev->event, ev->event_len);
    if (ev->id != NULL)
        n += sizeof("id: \n") - 1 + sse_clean_len(ev->id, ev->id_len);
    if (ev->retry >= 0)
        n += sizeof("retry: \n") - 1 + sse_digits(ev->retry);

    const char *data = ev->data != NULL ? ev->data : "";
    size_t data_len = ev->data != NULL ? ev->data_len : 0;
    sse_lines_t it;
    const char *line;
    size_t len;
    sse_lines_init(&it, data, data_len);
    while (sse_lines_next(&it, &line, &len))
        if (sse_add(&n, SSE_DATA_PREFIX_LEN + len + 1) != 0)
            return SIZE_MAX;
    return n;
}

size_t sse_frame_write(const sse_event_t *ev, char *out)
{
    char *o = out;
    if (ev->event != NULL)
        o = sse_put_clean_field(o, "event", ev->event, ev->event_len);
    if (ev->id != NULL)
        o = sse_put_clean_field(o, "id", ev->id, ev->id_len);
    if (ev->retry >= 0) {
        o = sse_put(o, "retry: ", sizeof("retry: ") - 1);
        o = sse_put_long(o, ev->retry);
        *o++ = '\n';
    }

    const char *data = ev->data != NULL ? ev->data : "";
    size_t data_len = ev->data != NULL ? ev->data_len : 0;
    sse_lines_t it;
    const char *line;
    size_t len;
    sse_lines_init(&it, data, data_len);
    while (sse_lines_next(&it, &line, &len)) {
        o = sse_put(o, SSE_DATA_PREFIX, SSE_DATA_PREFIX_LEN);
        o = sse_put(o, line, len);
        *o++ = '\n';
    }
    *o++ = '\n';
    return (size_t)(o - out);
}

msg_t *sse_frame_msg(const sse_event_t *ev)
{
    size_t size = sse_frame_size(ev);
    if (size == SIZE_MAX)
        return NULL;
    msg_t *m = msg_alloc(size); /* NULL also when size does not fit a message */
    if (m == NULL)
        return NULL;
    sse_frame_write(ev, m->data);
    return m;
}
