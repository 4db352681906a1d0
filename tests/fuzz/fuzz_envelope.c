/* Fuzz target: the publishing contract (common/envelope.c envelope_parse):
 * plain payloads, 0x1E envelopes and flask-sse JSON, as they arrive from
 * Redis. The first input byte picks the channel and whether it is a flask-sse
 * channel; the rest is the payload.
 *
 * Properties, beyond "no crash, no leak, no UB":
 *  - a failure leaves one NUL-terminated line in err and nothing to free;
 *  - a plain payload is delivered verbatim as event <channel>;
 *  - every parsed event frames to a block that the reference WHATWG parser
 *    reads as exactly one event with the envelope's type, data and id (so no
 *    JSON string can smuggle a field or a second event to the browser);
 *  - a target, when present, is a non-empty string without NUL. */
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "whatwg_ref.h"

static const char *const channels[] = {"summary_progress", "sse", "user:42", "x"};

static void check_framing(const envelope_t *env)
{
    const sse_event_t *e = &env->ev;
    size_t n = sse_frame_size(e);
    FUZZ_CHECK(n != SIZE_MAX);
    char *block = malloc(n);
    FUZZ_CHECK(block != NULL);
    FUZZ_CHECK(sse_frame_write(e, block) == n);
    ref_stream_t st;
    ref_parse(&st, block, n);
    FUZZ_CHECK(st.nev == 1);
    char *buf = malloc(n);
    FUZZ_CHECK(buf != NULL);
    size_t k = e->event != NULL ? ref_strip_breaks(e->event, e->event_len, buf) : 0;
    FUZZ_CHECK(k == 0 ? ref_str_eq(&st.ev[0].type, "message", 7)
                      : ref_str_eq(&st.ev[0].type, buf, k));
    k = e->data != NULL ? ref_normalize_breaks(e->data, e->data_len, buf) : 0;
    FUZZ_CHECK(ref_str_eq(&st.ev[0].data, buf, k));
    k = e->id != NULL ? ref_strip_breaks(e->id, e->id_len, buf) : 0;
    FUZZ_CHECK(ref_str_eq(&st.ev[0].id, buf, k));
    FUZZ_CHECK(st.ev[0].retry == (e->retry >= 0 ? e->retry : -1));
    free(buf);
    ref_stream_free(&st);
    free(block);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int flask = data[0] & 1;
    const char *chan = channels[(data[0] >> 1) & 3];
    size_t chlen = strlen(chan);
    /* A copy of exactly the payload's size, so ASan sees any read past it. */
    size_t len = size - 1;
    char *payload = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(payload != NULL);
    memcpy(payload, data + 1, len);

    envelope_t env;
    char err[128];
    memset(err, 'x', sizeof(err));
    int r = envelope_parse(chan, chlen, payload, len, flask, &env, err, sizeof(err));
    if (r != 0) {
        FUZZ_CHECK(r == -1);
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strlen(err) > 0 && strchr(err, '\n') == NULL);
        FUZZ_CHECK(env.json_ == NULL && env.printed_ == NULL);
        free(payload);
        return 0;
    }
    if (env.kind == ENVELOPE_PLAIN) {
        FUZZ_CHECK(!flask && (len == 0 || (unsigned char)payload[0] != ENVELOPE_RS));
        FUZZ_CHECK(env.ev.data == payload && env.ev.data_len == len);
        FUZZ_CHECK(env.ev.event == chan && env.ev.event_len == chlen);
        FUZZ_CHECK(env.ev.id == NULL && env.ev.retry == -1 && env.target == NULL);
    } else {
        FUZZ_CHECK(env.kind == (flask ? ENVELOPE_FLASK : ENVELOPE_JSON));
        FUZZ_CHECK(env.ev.data != NULL && strlen(env.ev.data) == env.ev.data_len);
        FUZZ_CHECK(env.ev.id == NULL || strlen(env.ev.id) == env.ev.id_len);
        FUZZ_CHECK(env.ev.event == NULL || env.ev.event == chan ||
                   strlen(env.ev.event) == env.ev.event_len);
        FUZZ_CHECK(env.ev.retry >= -1);
    }
    if (env.target != NULL)
        FUZZ_CHECK(env.target_len > 0 && strlen(env.target) == env.target_len);
    check_framing(&env);
    envelope_free(&env);
    free(payload);
    return 0;
}
