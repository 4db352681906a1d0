/* Unit tests for log line rendering: text, logfmt and JSON, levels, fields,
 * escaping, and lines cut short that stay well-formed. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "run_suite.h"

static const struct timeval tv0 = {.tv_sec = 1795579860, .tv_usec = 123456};

START_TEST(level_and_format_names_parse_and_others_are_refused)
{
    ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("error"), LOG_ERROR);
    ck_assert_int_eq(log_level_parse("ERROR"), -1);
    ck_assert_int_eq(log_format_parse("text"), LOG_FMT_TEXT);
    ck_assert_int_eq(log_format_parse("logfmt"), LOG_FMT_LOGFMT);
    ck_assert_int_eq(log_format_parse("json"), LOG_FMT_JSON);
    ck_assert_int_eq(log_format_parse("Json"), -1);
    ck_assert_int_eq(log_format_parse(""), -1);
}
END_TEST

START_TEST(text_line_has_time_level_message_and_fields)
{
    char out[512];
    log_kv_t kv[] = {LOG_STR("client_id", "b-1"), LOG_INT("streams", 3)};
    size_t n = log_render(out, sizeof(out), LOG_FMT_TEXT, &tv0, LOG_INFO, "stream opened", kv, 2);
    ck_assert_str_eq(out, "2026-11-25T04:11:00.123Z INFO stream opened client_id=b-1 streams=3\n");
    ck_assert_uint_eq(n, strlen(out));
}
END_TEST

START_TEST(logfmt_quotes_only_values_that_need_it)
{
    char out[512];
    log_kv_t kv[] = {LOG_STR("reason", "client closed"), LOG_STR("client_id", NULL),
                     LOG_DBL("duration_s", 1.5), LOG_STR("empty", ""), LOG_STR("q", "a\"b=c")};
    log_render(out, sizeof(out), LOG_FMT_LOGFMT, &tv0, LOG_WARN, "stream closed", kv, 5);
    ck_assert_str_eq(out, "ts=2026-11-25T04:11:00.123Z level=warn msg=\"stream closed\" "
                          "reason=\"client closed\" client_id=- duration_s=1.500 empty=\"\" "
                          "q=\"a\\\"b=c\"\n");
}
END_TEST

START_TEST(json_line_is_one_object_with_typed_fields)
{
    char out[512];
    log_kv_t kv[] = {LOG_STR("reason", "x\ny\"z\x01"), LOG_INT("n", -7), LOG_DBL("d", 0.25),
                     LOG_STR("none", NULL)};
    size_t n = log_render(out, sizeof(out), LOG_FMT_JSON, &tv0, LOG_ERROR, "a \\ b", kv, 4);
    ck_assert_uint_gt(n, 2);
    ck_assert(out[n - 1] == '\n');
    out[n - 1] = '\0';
    cJSON *o = cJSON_Parse(out);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "ts")->valuestring, "2026-11-25T04:11:00.123Z");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "level")->valuestring, "error");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "msg")->valuestring, "a \\ b");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "reason")->valuestring, "x\ny\"z\x01");
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n")->valueint, -7);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(o, "d")->valuedouble, 0.25, 1e-9);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "none")));
    cJSON_Delete(o);
}
END_TEST

START_TEST(text_replaces_control_bytes_in_the_message)
{
    char out[256];
    log_render(out, sizeof(out), LOG_FMT_TEXT, &tv0, LOG_DEBUG, "a\nb\rc", NULL, 0);
    ck_assert_str_eq(out, "2026-11-25T04:11:00.123Z DEBUG a?b?c\n");
}
END_TEST

/* Every buffer size from tiny to roomy: the JSON line still parses, ends in
 * a newline and never overruns. */
START_TEST(a_cut_json_line_is_still_one_valid_object)
{
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[100] = '"';
    log_kv_t kv[] = {LOG_STR("a", big), LOG_INT("n", 123456789), LOG_STR("b", "tail")};
    for (size_t cap = 64; cap < 3300; cap += 7) {
        char *out = malloc(cap + 16);
        memset(out, 0x55, cap + 16);
        size_t n = log_render(out, cap, LOG_FMT_JSON, &tv0, LOG_INFO, "cut", kv, 3);
        ck_assert_uint_lt(n, cap);
        ck_assert(out[n] == '\0');
        ck_assert((unsigned char)out[cap] == 0x55);
        ck_assert(out[n - 1] == '\n');
        out[n - 1] = '\0';
        cJSON *o = cJSON_Parse(out);
        ck_assert_msg(o != NULL, "cap %zu: not JSON: %s", cap, out);
        cJSON_Delete(o);
        free(out);
    }
}
END_TEST

START_TEST(a_long_text_message_is_cut_to_the_line_limit)
{
    char msg[LOG_LINE_MAX * 2];
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    char out[LOG_LINE_MAX];
    size_t n = log_render(out, sizeof(out), LOG_FMT_LOGFMT, &tv0, LOG_INFO, msg, NULL, 0);
    ck_assert_uint_lt(n, sizeof(out));
    ck_assert(out[n - 1] == '\n');
    ck_assert(out[n - 2] == '"');
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, level_and_format_names_parse_and_others_are_refused);
    tcase_add_test(tc, text_line_has_time_level_message_and_fields);
    tcase_add_test(tc, logfmt_quotes_only_values_that_need_it);
    tcase_add_test(tc, json_line_is_one_object_with_typed_fields);
    tcase_add_test(tc, text_replaces_control_bytes_in_the_message);
    tcase_add_test(tc, a_cut_json_line_is_still_one_valid_object);
    tcase_add_test(tc, a_long_text_message_is_cut_to_the_line_limit);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
