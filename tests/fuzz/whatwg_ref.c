/* Reference WHATWG event-stream parser for the fuzz targets (see whatwg_ref.h). */
#include "whatwg_ref.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void ref_str_put(ref_str_t *s, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap != 0 ? s->cap : 32;
        while (cap < s->len + n)
            cap *= 2;
        s->p = realloc(s->p, cap);
        if (s->p == NULL)
            abort();
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
}

static void ref_str_set(ref_str_t *s, const char *p, size_t n)
{
    s->len = 0;
    ref_str_put(s, p, n);
}

static void ref_str_free(ref_str_t *s)
{
    free(s->p);
    memset(s, 0, sizeof(*s));
}

int ref_str_eq(const ref_str_t *a, const char *s, size_t len)
{
    return a->len == len && (len == 0 || memcmp(a->p, s, len) == 0);
}

/* The parser's buffers, as the standard names them. */
typedef struct ref_state_s {
    ref_str_t data;     /* "data buffer" */
    ref_str_t type;     /* "event type buffer" */
    ref_str_t last_id;  /* "last event ID buffer" (kept across events) */
} ref_state_t;

/* "Dispatch the event". */
static void ref_dispatch(ref_stream_t *out, ref_state_t *st)
{
    /* 1. The event source's last event ID string becomes the buffer (kept
     *    by the stream whether or not an event follows). 2. Empty data:
     *    reset both buffers and stop. */
    if (st->data.len == 0) {
        st->type.len = 0;
        return;
    }
    /* 3. A data buffer ending in LF loses that LF. */
    if (st->data.p[st->data.len - 1] == '\n')
        st->data.len--;
    if (out->nev == out->cap) {
        out->cap = out->cap != 0 ? out->cap * 2 : 8;
        out->ev = realloc(out->ev, out->cap * sizeof(*out->ev));
        if (out->ev == NULL)
            abort();
    }
    ref_event_t *ev = &out->ev[out->nev++];
    memset(ev, 0, sizeof(*ev));
    /* 4. The type is "message" unless the type buffer holds something. */
    if (st->type.len != 0)
        ref_str_set(&ev->type, st->type.p, st->type.len);
    else
        ref_str_set(&ev->type, "message", 7);
    ref_str_set(&ev->data, st->data.p, st->data.len);
    ref_str_set(&ev->id, st->last_id.p, st->last_id.len);
    ev->retry = out->retry;
    /* 5. Both buffers are emptied. */
    st->data.len = 0;
    st->type.len = 0;
}

static int ref_field_is(const char *f, size_t flen, const char *name)
{
    return flen == strlen(name) && memcmp(f, name, flen) == 0;
}

/* "Process the field" with the given name and value. */
static void ref_field(ref_stream_t *out, ref_state_t *st, const char *f, size_t flen,
                      const char *v, size_t vlen)
{
    if (ref_field_is(f, flen, "event")) {
        ref_str_set(&st->type, v, vlen);
    } else if (ref_field_is(f, flen, "data")) {
        ref_str_put(&st->data, v, vlen);
        ref_str_put(&st->data, "\n", 1);
    } else if (ref_field_is(f, flen, "id")) {
        /* A value holding NUL is ignored. */
        if (vlen == 0 || memchr(v, '\0', vlen) == NULL)
            ref_str_set(&st->last_id, v, vlen);
    } else if (ref_field_is(f, flen, "retry")) {
        /* Only ASCII digits, read in base ten; anything else is ignored. An
         * empty value names no integer and is ignored too. Values past
         * LLONG_MAX saturate (no browser waits that long anyway). */
        long long r = 0;
        size_t i;
        for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
            r = r > (LLONG_MAX - (v[i] - '0')) / 10 ? LLONG_MAX : r * 10 + (v[i] - '0');
        if (vlen > 0 && i == vlen)
            out->retry = r;
    }
    /* Any other name is ignored. */
}

/* Handles one line (without its end-of-line). */
static void ref_line(ref_stream_t *out, ref_state_t *st, const char *line, size_t len)
{
    if (len == 0) {
        ref_dispatch(out, st);
        return;
    }
    if (line[0] == ':') {
        out->comments++;
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL) {
        ref_field(out, st, line, len, "", 0);
        return;
    }
    const char *v = colon + 1;
    size_t vlen = len - (size_t)(v - line);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    ref_field(out, st, line, (size_t)(colon - line), v, vlen);
}

void ref_parse(ref_stream_t *out, const char *s, size_t len)
{
    ref_state_t st;
    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    out->retry = -1;
    size_t pos = 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        size_t e = pos;
        while (e < len && s[e] != '\r' && s[e] != '\n')
            e++;
        if (e == len)
            break; /* a line without its end: discarded at end of file */
        ref_line(out, &st, s + pos, e - pos);
        pos = s[e] == '\r' && e + 1 < len && s[e + 1] == '\n' ? e + 2 : e + 1;
    }
    /* End of file: the pending event, if any, is never dispatched. */
    ref_str_free(&st.data);
    ref_str_free(&st.type);
    ref_str_free(&st.last_id);
}

void ref_stream_free(ref_stream_t *st)
{
    for (size_t i = 0; i < st->nev; i++) {
        ref_str_free(&st->ev[i].type);
        ref_str_free(&st->ev[i].data);
        ref_str_free(&st->ev[i].id);
    }
    free(st->ev);
    memset(st, 0, sizeof(*st));
}

size_t ref_strip_breaks(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\r' && s[i] != '\n' && s[i] != '\0')
            out[n++] = s[i];
    return n;
}

size_t ref_normalize_breaks(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r') {
            out[n++] = '\n';
            if (i + 1 < len && s[i + 1] == '\n')
                i++;
        } else {
            out[n++] = s[i];
        }
    }
    return n;
}
