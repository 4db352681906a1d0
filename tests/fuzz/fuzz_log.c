/* Fuzz target: log lines (common/log.c log_render) with untrusted text in
 * the message and the fields (client ids, channel names, reasons, errors
 * quoting request bytes all end up there).
 *
 * Input: byte 0 = format (text, logfmt, json) and level; byte 1 = the line's
 * capacity (64 + 16 * byte); then NUL-separated words: the message, then the
 * string values of up to LOG_FIELDS fields (every third field is an integer
 * and every fourth a NULL string instead, to mix the kinds).
 *
 * Properties: the line fits its buffer, is NUL-terminated, holds no NUL,
 * and is exactly one line (one '\n', at its end; no CR). JSON lines parse
 * as one object, cut or not; when the line was not cut (same as with a
 * large buffer), the message and every string field read back exactly. */
#include <cjson/cJSON.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"

#define LOG_FIELDS 6
#define BIG_CAP 65536

static const char *const keys[LOG_FIELDS] = {"client_id", "channel", "reason", "n", "ip", "err"};

static void check_line(const char *out, size_t len, size_t cap)
{
    FUZZ_CHECK(len > 0 && len < cap && out[len] == '\0' && strlen(out) == len);
    FUZZ_CHECK(out[len - 1] == '\n' && memchr(out, '\n', len - 1) == NULL);
    FUZZ_CHECK(memchr(out, '\r', len) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    log_format_t fmt = (log_format_t)(data[0] % 3);
    log_level_t level = (log_level_t)((data[0] >> 2) % 4);
    size_t cap = 64 + 16 * (size_t)data[1];
    char *words = malloc(size - 2 + 1);
    FUZZ_CHECK(words != NULL);
    memcpy(words, data + 2, size - 2);
    words[size - 2] = '\0';

    const char *msg = words;
    const char *end = words + (size - 2);
    log_kv_t kv[LOG_FIELDS];
    size_t n = 0;
    for (const char *w = msg + strlen(msg) + 1; w <= end && n < LOG_FIELDS; w += strlen(w) + 1) {
        if (n % 4 == 3)
            kv[n] = LOG_STR(keys[n], NULL);
        else if (n % 3 == 2)
            kv[n] = LOG_INT(keys[n], (long long)strlen(w) * 1000003LL - 7);
        else
            kv[n] = LOG_STR(keys[n], w);
        n++;
    }
    struct timeval tv = {.tv_sec = 1795579860 + (time_t)(size % 100000), .tv_usec = 999999};

    char *out = malloc(cap), *big = malloc(BIG_CAP);
    FUZZ_CHECK(out != NULL && big != NULL);
    size_t len = log_render(out, cap, fmt, &tv, level, msg, kv, n);
    check_line(out, len, cap);
    size_t blen = log_render(big, BIG_CAP, fmt, &tv, level, msg, kv, n);
    check_line(big, blen, BIG_CAP);
    int whole = len == blen && memcmp(out, big, len) == 0;

    if (fmt == LOG_FMT_JSON) {
        cJSON *j = cJSON_ParseWithLength(out, len - 1);
        FUZZ_CHECK(j != NULL && cJSON_IsObject(j));
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "msg");
        FUZZ_CHECK(cJSON_IsString(m));
        if (whole) {
            FUZZ_CHECK(strcmp(m->valuestring, msg) == 0);
            for (size_t i = 0; i < n; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, kv[i].key);
                if (kv[i].type == LOG_KV_INT)
                    FUZZ_CHECK(cJSON_IsNumber(v) && v->valuedouble == (double)kv[i].i);
                else if (kv[i].s == NULL)
                    FUZZ_CHECK(cJSON_IsNull(v));
                else
                    FUZZ_CHECK(cJSON_IsString(v) && strcmp(v->valuestring, kv[i].s) == 0);
            }
        }
        cJSON_Delete(j);
    }
    free(big);
    free(out);
    free(words);
    return 0;
}
