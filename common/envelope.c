/* Publishing contract: parses plain, 0x1E-envelope and flask-sse payloads into SSE events. */
#include "envelope.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* Integers are accepted only where a double holds them exactly, so that an
 * id of 9007199254740993 is refused rather than silently changed. */
#define ENV_MAX_EXACT 9007199254740992.0 /* 2^53 */

/* Which keys a JSON format uses, and how its errors start. */
typedef struct env_format_s {
    const char *name;      /* error prefix: "envelope" or "flask-sse" */
    const char *event_key; /* key holding the event type */
    int extended;          /* 1 when "target" and "ts" are read too */
} env_format_t;

static const env_format_t env_envelope = {"envelope", "event", 1};
static const env_format_t env_flask = {"flask-sse", "type", 0};


/* cJSON keeps strings NUL-terminated without a length, so a "\u0000" escape
 * would silently cut a string (or turn the key "data\u0000x" into "data").
 * Such payloads are refused. Backslashes only occur inside JSON strings, where
 * a run of an odd number of them escapes the character that follows. */
static int env_has_escaped_nul(const char *s, size_t len)
{
    const char *end = s + len;
    const char *p = s;
    while (p < end && (p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        const char *q = p;
        while (q < end && *q == '\\')
            q++;
        if (((q - p) & 1) != 0 && end - q >= 5 && memcmp(q, "u0000", 5) == 0)
            return 1;
        p = q;
    }
    return 0;
}

static int env_is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Stores v in *out when it is a JSON number holding an integer in [lo, hi]. */
static int env_integer(const cJSON *v, double lo, double hi, long long *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi)) /* also refuses NaN */
        return -1;
    long long i = (long long)d;
    if ((double)i != d)
        return -1;
    *out = i;
    return 0;
}

/* Fills out->ev from the parsed object root; returns 0 or -1 with err set. */
static int env_read_object(const env_format_t *f, cJSON *root, const char *channel, size_t chlen,
                           envelope_t *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (v == NULL) {
        text_errf(err, errlen, "%s: missing 'data'", f->name);
        return -1;
    }
    if (cJSON_IsString(v)) {
        out->ev.data = v->valuestring;
        out->ev.data_len = strlen(v->valuestring);
    } else {
        out->printed_ = cJSON_PrintUnformatted(v);
        if (out->printed_ == NULL) {
            text_errf(err, errlen, "%s: out of memory serializing 'data'", f->name);
            return -1;
        }
        out->ev.data = out->printed_;
        out->ev.data_len = strlen(out->printed_);
    }

    v = cJSON_GetObjectItemCaseSensitive(root, f->event_key);
    if (v == NULL) {
        /* flask-sse leaves the type out for plain "message" events. */
        out->ev.event = f->extended ? channel : NULL;
        out->ev.event_len = f->extended ? chlen : 0;
    } else if (cJSON_IsString(v)) {
        out->ev.event = v->valuestring;
        out->ev.event_len = strlen(v->valuestring);
    } else {
        text_errf(err, errlen, "%s: '%s' must be a string", f->name, f->event_key);
        return -1;
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "id");
    long long n;
    if (v == NULL) {
        out->ev.id = NULL;
    } else if (cJSON_IsString(v)) {
        out->ev.id = v->valuestring;
        out->ev.id_len = strlen(v->valuestring);
    } else if (env_integer(v, -ENV_MAX_EXACT, ENV_MAX_EXACT, &n) == 0) {
        int w = snprintf(out->idbuf_, sizeof(out->idbuf_), "%lld", n);
        out->ev.id = out->idbuf_;
        out->ev.id_len = (size_t)w; /* at most 17 characters: |n| <= 2^53 */
    } else {
        text_errf(err, errlen, "%s: 'id' must be a string or an integer", f->name);
        return -1;
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "retry");
    double retry_max = (double)LONG_MAX < ENV_MAX_EXACT ? (double)LONG_MAX : ENV_MAX_EXACT;
    if (v == NULL) {
        out->ev.retry = -1;
    } else if (env_integer(v, 0, retry_max, &n) == 0) {
        out->ev.retry = (long)n;
    } else {
        text_errf(err, errlen, "%s: 'retry' must be a non-negative integer", f->name);
        return -1;
    }

    if (!f->extended)
        return 0;

    v = cJSON_GetObjectItemCaseSensitive(root, "target");
    if (v != NULL) {
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
            text_errf(err, errlen, "%s: 'target' must be a non-empty string", f->name);
            return -1;
        }
        out->target = v->valuestring;
        out->target_len = strlen(v->valuestring);
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "ts");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            text_errf(err, errlen, "%s: 'ts' must be a number", f->name);
            return -1;
        }
        out->ts = v->valuedouble;
    }
    return 0;
}

int envelope_parse(const char *channel, size_t chlen, const char *payload, size_t len, int flask,
                   envelope_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->ev.retry = -1;

    if (!flask && (len == 0 || (unsigned char)payload[0] != ENVELOPE_RS)) {
        out->kind = ENVELOPE_PLAIN;
        out->ev.event = channel;
        out->ev.event_len = chlen;
        out->ev.data = payload;
        out->ev.data_len = len;
        return 0;
    }

    const env_format_t *f = flask ? &env_flask : &env_envelope;
    size_t skip = flask ? 0 : 1; /* the 0x1E; error offsets count it */
    const char *json = payload + skip;
    size_t jlen = len - skip;
    out->kind = flask ? ENVELOPE_FLASK : ENVELOPE_JSON;

    if (jlen == 0) {
        text_errf(err, errlen, flask ? "%s: empty payload" : "%s: no JSON after the 0x1E", f->name);
        goto fail;
    }
    const char *nul = memchr(json, '\0', jlen);
    if (nul != NULL) {
        text_errf(err, errlen, "%s: invalid JSON near byte %zu", f->name,
                skip + (size_t)(nul - json));
        goto fail;
    }
    if (env_has_escaped_nul(json, jlen)) {
        text_errf(err, errlen, "%s: \\u0000 in a JSON string is not supported", f->name);
        goto fail;
    }

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, jlen, &end, 0);
    out->json_ = root;
    if (root == NULL) {
        size_t at = end != NULL ? (size_t)(end - json) : 0;
        text_errf(err, errlen, "%s: invalid JSON near byte %zu", f->name, skip + at);
        goto fail;
    }
    /* cJSON stops after the value; only whitespace may follow it. */
    size_t at = (size_t)(end - json);
    while (at < jlen && env_is_json_space(json[at]))
        at++;
    if (at < jlen) {
        text_errf(err, errlen, "%s: unexpected bytes after the JSON value at byte %zu", f->name,
                skip + at);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        text_errf(err, errlen, "%s: not a JSON object", f->name);
        goto fail;
    }
    if (env_read_object(f, root, channel, chlen, out, err, errlen) != 0)
        goto fail;
    return 0;

fail:
    envelope_free(out);
    return -1;
}

void envelope_free(envelope_t *e)
{
    cJSON_Delete(e->json_);
    cJSON_free(e->printed_);
    memset(e, 0, sizeof(*e));
    e->ev.retry = -1;
}
