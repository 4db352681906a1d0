/* Fuzz target: differential test of the incremental event-stream parser
 * (common/sse_parse.c, used by the load generator) against the reference
 * WHATWG parser of whatwg_ref.c, on any bytes.
 *
 * The first input byte sets the read size (0: one read), since ssep_feed
 * must give the same events however the stream is cut (inside a BOM, between
 * CR and LF). Property: with max_line above the input size (no sticky
 * error), both dispatch the same events (type, data, lastEventId), in the
 * same order, and end with the same reconnection time. */
#include <string.h>

#include "fuzz.h"
#include "sse_parse.h"
#include "whatwg_ref.h"

typedef struct seen_s {
    const ref_stream_t *want; /* the reference's events */
    size_t n;                 /* events ssep dispatched so far */
} seen_t;

static void on_event(void *arg, const ssep_event_t *ev)
{
    seen_t *s = arg;
    FUZZ_CHECK(s->n < s->want->nev);
    const ref_event_t *w = &s->want->ev[s->n++];
    FUZZ_CHECK(ref_str_eq(&w->type, ev->event, ev->event_len));
    FUZZ_CHECK(ref_str_eq(&w->data, ev->data, ev->data_len));
    FUZZ_CHECK(ref_str_eq(&w->id, ev->id, ev->id_len));
    /* The documented NUL after each value. */
    FUZZ_CHECK(ev->event[ev->event_len] == '\0' && ev->data[ev->data_len] == '\0' &&
               ev->id[ev->id_len] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = data[0] != 0 ? data[0] : size;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    ref_stream_t want;
    ref_parse(&want, s, len);
    seen_t seen = {&want, 0};
    ssep_t p;
    ssep_init(&p, len + 1, on_event, &seen);
    for (size_t off = 0; off < len;) {
        size_t n = len - off < step ? len - off : step;
        char *chunk = malloc(n); /* each read in a buffer of exactly its size */
        FUZZ_CHECK(chunk != NULL);
        memcpy(chunk, s + off, n);
        FUZZ_CHECK(ssep_feed(&p, chunk, n) == 0);
        free(chunk);
        off += n;
    }
    FUZZ_CHECK(seen.n == want.nev);
    FUZZ_CHECK(p.retry == want.retry);
    ssep_free(&p);
    ref_stream_free(&want);
    return 0;
}
