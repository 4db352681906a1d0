/* Fuzz target: SSE framing (common/sse_frame.c), checked by a property.
 *
 * The input describes up to FRAME_MAX_EVENTS events (event type, id, retry,
 * data, each present or not, with any bytes). They are framed one after the
 * other into one stream, which the reference WHATWG parser (whatwg_ref.c,
 * independent of common/sse_parse.c) then reads as a browser would. The
 * property: it dispatches exactly one event per framed event, and each has
 *  - the type: the input's, with CR/LF/NUL removed, or "message" when that
 *    leaves nothing or no type was given;
 *  - the data: the input's with every CRLF and lone CR turned into LF;
 *  - the lastEventId: the latest id given so far (CR/LF/NUL removed), "" if none;
 *  - the reconnection time: the latest retry given so far.
 * So hostile event/id values (CR, LF, NUL) can never add a field or an event,
 * and data with any bytes reaches the client as the WHATWG parser defines.
 * sse_frame_size() must also be exactly what sse_frame_write() writes (the
 * buffer is allocated to that size, so ASan sees any overrun).
 *
 * Input layout, per event, until the input runs out:
 *   flags (1 byte): 1 = event, 2 = id, 4 = retry, 8 = data is NULL,
 *                   16 = retry read from 8 bytes (else 2)
 *   [retry: 2 or 8 bytes, little endian, masked to 0..LONG_MAX]
 *   [event: length byte, then that many bytes (fewer at the end)]
 *   [id: length byte, then that many bytes]
 *   data: 2 length bytes (little endian), then that many bytes */
#include <limits.h>
#include <string.h>

#include "fuzz.h"
#include "sse_frame.h"
#include "whatwg_ref.h"

#define FRAME_MAX_EVENTS 8

typedef struct reader_s {
    const uint8_t *p; /* next unread byte */
    size_t left;      /* bytes left */
} reader_t;

static uint64_t take_le(reader_t *r, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && r->left > 0; i++, r->p++, r->left--)
        v |= (uint64_t)*r->p << (8 * i);
    return v;
}

static const char *take_bytes(reader_t *r, size_t n, size_t *got)
{
    if (n > r->left)
        n = r->left;
    const char *s = (const char *)r->p;
    r->p += n;
    r->left -= n;
    *got = n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader_t r = {data, size};
    sse_event_t ev[FRAME_MAX_EVENTS];
    size_t nev = 0, total = 0;
    while (r.left > 0 && nev < FRAME_MAX_EVENTS) {
        sse_event_t *e = &ev[nev++];
        memset(e, 0, sizeof(*e));
        unsigned flags = (unsigned)take_le(&r, 1);
        e->retry = -1;
        if (flags & 4)
            e->retry = (long)(take_le(&r, flags & 16 ? 8 : 2) & (uint64_t)LONG_MAX);
        if (flags & 1)
            e->event = take_bytes(&r, (size_t)take_le(&r, 1), &e->event_len);
        if (flags & 2)
            e->id = take_bytes(&r, (size_t)take_le(&r, 1), &e->id_len);
        size_t dlen = (size_t)take_le(&r, 2);
        const char *d = take_bytes(&r, dlen, &e->data_len);
        e->data = flags & 8 ? NULL : d;
        if (e->data == NULL)
            e->data_len = 0;
        size_t n = sse_frame_size(e);
        FUZZ_CHECK(n != SIZE_MAX);
        total += n;
    }
    if (nev == 0)
        return 0;

    char *stream = malloc(total);
    FUZZ_CHECK(stream != NULL);
    size_t off = 0;
    for (size_t i = 0; i < nev; i++) {
        size_t n = sse_frame_size(&ev[i]);
        /* Each block alone, in a buffer of exactly its size. */
        char *block = malloc(n);
        FUZZ_CHECK(block != NULL);
        FUZZ_CHECK(sse_frame_write(&ev[i], block) == n);
        memcpy(stream + off, block, n);
        free(block);
        msg_t *m = sse_frame_msg(&ev[i]);
        FUZZ_CHECK(m != NULL && m->len == n && memcmp(m->data, stream + off, n) == 0);
        msg_unref(m);
        off += n;
    }

    ref_stream_t st;
    ref_parse(&st, stream, total);
    FUZZ_CHECK(st.nev == nev);
    char *buf = malloc(total); /* any expected value is shorter than the stream */
    FUZZ_CHECK(buf != NULL);
    char last_id[256];
    size_t last_id_len = 0;
    long long retry = -1;
    for (size_t i = 0; i < nev; i++) {
        const sse_event_t *e = &ev[i];
        const ref_event_t *got = &st.ev[i];
        size_t n = e->event != NULL ? ref_strip_breaks(e->event, e->event_len, buf) : 0;
        if (n == 0)
            FUZZ_CHECK(ref_str_eq(&got->type, "message", 7));
        else
            FUZZ_CHECK(ref_str_eq(&got->type, buf, n));
        n = e->data != NULL ? ref_normalize_breaks(e->data, e->data_len, buf) : 0;
        FUZZ_CHECK(ref_str_eq(&got->data, buf, n));
        if (e->id != NULL)
            last_id_len = ref_strip_breaks(e->id, e->id_len, last_id);
        FUZZ_CHECK(ref_str_eq(&got->id, last_id, last_id_len));
        if (e->retry >= 0)
            retry = e->retry;
        FUZZ_CHECK(got->retry == retry);
    }
    FUZZ_CHECK(st.retry == retry);
    free(buf);
    ref_stream_free(&st);
    free(stream);
    return 0;
}
