/* Unit tests for the request reader (common/httpreq): what a request's
 * callback sees, fed whole and byte by byte; the limits and their answers;
 * the bearer token, the Origin and the CORS lines. */
#include <check.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"
#include "run_suite.h"

static cfg_t cfg;

static void make_cfg(const char *a1, const char *a2)
{
    char *argv[10] = {(char *)"sse-bridge", (char *)"--max-url-bytes", (char *)"300",
                     (char *)"--max-header-bytes", (char *)"1500", (char *)"--max-headers", (char *)"10"};
    int argc = 7;
    if (a1 != NULL) {
        argv[argc++] = (char *)a1;
        argv[argc++] = (char *)a2;
    }
    char err[256];
    FILE *out = tmpfile();
    ck_assert_int_eq(cfg_parse(&cfg, argc, argv, out, err, sizeof(err)), CFG_OK);
    fclose(out);
}

typedef struct seen_s {
    int n;              /* requests seen */
    int stop_after;     /* the callback says stop after this many (0: never) */
    int method;         /* of the last one */
    int keep_alive;     /* of the last one */
    char url[400];      /* of the last one */
    char xff[1100], ae[300], leid[300], inm[300]; /* of the last one; "-" when absent */
    http_req_t *req;    /* for the accessors */
    char bearer[64];    /* http_req_bearer's token, or its result as text */
    char origin[300];   /* http_req_origin's origin, or its result as text */
} seen_t;

static void keep(char *out, size_t cap, const char *s, size_t len)
{
    if (s == NULL)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.*s", (int)len, s);
}

static int on_request(void *owner, int method, const char *url, size_t len, const http_headers_t *h,
                      int keep_alive)
{
    seen_t *s = owner;
    s->n++;
    s->method = method;
    s->keep_alive = keep_alive;
    ck_assert_uint_eq(strlen(url), len);
    keep(s->url, sizeof(s->url), url, len);
    keep(s->xff, sizeof(s->xff), h->xff, h->xff_len);
    keep(s->ae, sizeof(s->ae), h->ae, h->ae_len);
    keep(s->leid, sizeof(s->leid), h->leid, h->leid_len);
    keep(s->inm, sizeof(s->inm), h->inm, h->inm_len);
    const char *t;
    size_t tl;
    int b = http_req_bearer(s->req, &t, &tl);
    if (b == 1)
        snprintf(s->bearer, sizeof(s->bearer), "%.*s", (int)tl, t);
    else
        snprintf(s->bearer, sizeof(s->bearer), "(%d)", b);
    int o = http_req_origin(s->req, &t, &tl);
    if (o == 1)
        snprintf(s->origin, sizeof(s->origin), "%.*s", (int)tl, t);
    else
        snprintf(s->origin, sizeof(s->origin), "(%d)", o);
    return s->stop_after != 0 && s->n >= s->stop_after;
}

/* Feeds raw whole (step 0) or in pieces of step bytes; returns the status
 * of a failure (0 for none), the code in *code. */
static int feed(seen_t *s, const char *raw, size_t len, size_t step, const char **code,
                const char **text)
{
    memset(s, 0, sizeof(*s));
    s->req = http_req_new(&cfg, on_request, s);
    ck_assert_ptr_nonnull(s->req);
    int status = 0;
    const char *c = NULL, *t = NULL;
    size_t off = 0;
    while (off < len) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        if (http_req_feed(s->req, raw + off, n, &status, &c, &t) != 0)
            break;
        off += n;
    }
    if (code != NULL)
        *code = c;
    if (text != NULL)
        *text = t;
    return status;
}

#define REQ(s) s, sizeof(s) - 1

static const size_t steps[] = {0, 1, 2, 7, 64};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

START_TEST(a_request_gives_its_target_and_the_headers_the_routes_use_however_it_is_cut)
{
    static const char raw[] = "GET /events?channels=a,b&x=%20 HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n"
                              "x-forwarded-for: 10.0.0.1\r\n"
                              "X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n"
                              "Accept-Encoding: gzip;q=1\r\n"
                              "accept-encoding: br\r\n"
                              "Last-Event-ID: 5-1@a\r\n"
                              "If-None-Match: \"x\"\r\n"
                              "Authorization: Bearer   abc.def.ghi\r\n"
                              "Origin: https://app.example.com\r\n"
                              "\r\n";
    make_cfg(NULL, NULL);
    seen_t s;
    size_t step = steps[_i];
    ck_assert_int_eq(feed(&s, REQ(raw), step, NULL, NULL), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.method, HTTP_GET);
    ck_assert_int_eq(s.keep_alive, 1);
    ck_assert_str_eq(s.url, "/events?channels=a,b&x=%20");
    ck_assert_str_eq(s.xff, "10.0.0.1,10.0.0.2, 10.0.0.3");
    ck_assert_str_eq(s.ae, "gzip;q=1,br");
    ck_assert_str_eq(s.leid, "5-1@a");
    ck_assert_str_eq(s.inm, "\"x\"");
    ck_assert_str_eq(s.bearer, "abc.def.ghi");
    ck_assert_str_eq(s.origin, "https://app.example.com");
    http_req_free(s.req);
    cfg_free(&cfg);
}
END_TEST

START_TEST(absent_headers_read_as_absent)
{
    make_cfg(NULL, NULL);
    seen_t s;
    ck_assert_int_eq(feed(&s, REQ("GET / HTTP/1.0\r\n\r\n"), steps[_i], NULL, NULL), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.keep_alive, 0);
    ck_assert_str_eq(s.xff, "-");
    ck_assert_str_eq(s.ae, "");
    ck_assert_str_eq(s.leid, "-");
    ck_assert_str_eq(s.inm, "");
    ck_assert_str_eq(s.bearer, "(0)");
    ck_assert_str_eq(s.origin, "(0)");
    http_req_free(s.req);
    cfg_free(&cfg);
}
END_TEST

START_TEST(pipelined_requests_each_reach_the_callback_until_it_says_stop)
{
    static const char raw[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t2\r\n\r\n"
                              "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    make_cfg(NULL, NULL);
    seen_t s;
    ck_assert_int_eq(feed(&s, REQ(raw), steps[_i], NULL, NULL), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.url, "/c");
    ck_assert_str_eq(s.bearer, "(0)"); /* headers do not leak into the next request */
    http_req_free(s.req);
    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    s.req = http_req_new(&cfg, on_request, &s);
    int status;
    const char *code, *text;
    ck_assert_int_eq(http_req_feed(s.req, REQ(raw), &status, &code, &text), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.url, "/b");
    ck_assert_str_eq(s.bearer, "t2");
    http_req_free(s.req);
    cfg_free(&cfg);
}
END_TEST

typedef struct limit_case_s {
    const char *name;
    int status;
    const char *code;
    const char *text; /* NULL: only its start is checked ("malformed HTTP request: ") */
} limit_case_t;

static char *request_with(const char *target, const char *header_name, size_t header_len,
                          int extra_headers)
{
    size_t cap = 4096 + strlen(target) + header_len + 32 * (size_t)extra_headers;
    char *r = malloc(cap);
    size_t n = (size_t)snprintf(r, cap, "GET %s HTTP/1.1\r\nHost: x\r\n", target);
    if (header_name != NULL) {
        n += (size_t)snprintf(r + n, cap - n, "%s: ", header_name);
        memset(r + n, 'a', header_len);
        n += header_len;
        n += (size_t)snprintf(r + n, cap - n, "\r\n");
    }
    for (int i = 0; i < extra_headers; i++)
        n += (size_t)snprintf(r + n, cap - n, "X-H%d: v\r\n", i);
    snprintf(r + n, cap - n, "\r\n");
    return r;
}

START_TEST(each_limit_is_exact_and_answers_with_its_status_whole_or_byte_by_byte)
{
    make_cfg(NULL, NULL);
    char target[400];
    seen_t s;
    const char *code, *text;
    for (size_t k = 0; k < NSTEPS; k++) {
        size_t step = steps[k];
        /* The target: 300 bytes pass, 301 get 414. */
        snprintf(target, sizeof(target), "/%0299d", 0);
        char *r = request_with(target, NULL, 0, 0);
        ck_assert_int_eq(feed(&s, r, strlen(r), step, &code, &text), 0);
        ck_assert_int_eq(s.n, 1);
        http_req_free(s.req);
        free(r);
        snprintf(target, sizeof(target), "/%0300d", 0);
        r = request_with(target, NULL, 0, 0);
        ck_assert_int_eq(feed(&s, r, strlen(r), step, &code, &text), 414);
        ck_assert_str_eq(code, "uri_too_long");
        ck_assert_str_eq(text, "request target longer than 300 bytes");
        ck_assert_int_eq(s.n, 0);
        http_req_free(s.req);
        free(r);
        /* Header bytes: "Host" "x" (5) + "X-Pad" (5) + the value. */
        r = request_with("/", "X-Pad", 1500 - 10, 0);
        ck_assert_int_eq(feed(&s, r, strlen(r), step, &code, &text), 0);
        http_req_free(s.req);
        free(r);
        r = request_with("/", "X-Pad", 1500 - 10 + 1, 0);
        ck_assert_int_eq(feed(&s, r, strlen(r), step, &code, &text), 431);
        ck_assert_str_eq(code, "headers_too_large");
        ck_assert_str_eq(text, "request headers larger than 1500 bytes");
        http_req_free(s.req);
        free(r);
        /* Header lines: Host + 9 pass, Host + 10 get 431. */
        r = request_with("/", NULL, 0, 9);
        ck_assert_int_eq(feed(&s, r, strlen(r), step, &code, &text), 0);
        http_req_free(s.req);
        free(r);
        r = request_with("/", NULL, 0, 10);
        ck_assert_int_eq(feed(&s, r, strlen(r), step, &code, &text), 431);
        ck_assert_str_eq(text, "more than 10 request headers");
        http_req_free(s.req);
        free(r);
        /* Not HTTP at all. */
        ck_assert_int_eq(feed(&s, REQ("BREW /pot HTTP/1.1\r\n\r\n"), step, &code, &text), 400);
        ck_assert_str_eq(code, "bad_request");
        ck_assert_msg(strncmp(text, "malformed HTTP request: ", 24) == 0, "%s", text);
        http_req_free(s.req);
    }
    cfg_free(&cfg);
}
END_TEST

START_TEST(bearer_tokens_are_read_and_anything_else_is_told_apart)
{
    static const struct {
        const char *header;
        const char *expect;
    } cases[] = {
        {"Authorization: Bearer t0k\r\n", "t0k"},
        {"authorization: bearer   t0k\r\n", "t0k"},
        {"Authorization: Basic YWxpY2U6cHc=\r\n", "(-1)"},
        {"Authorization: Bearer \r\n", "(-1)"},
        {"Authorization: Bearer\r\n", "(-1)"},
        {"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n", "b"},
    };
    make_cfg("--max-header-bytes", "65536");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char raw[256];
        snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", cases[i].header);
        seen_t s;
        ck_assert_int_eq(feed(&s, raw, strlen(raw), 1, NULL, NULL), 0);
        ck_assert_msg(strcmp(s.bearer, cases[i].expect) == 0, "%s -> %s", cases[i].header, s.bearer);
        http_req_free(s.req);
    }
    /* Longer than any token: -2, not a cut token. */
    char *r = request_with("/", "Authorization", 20000, 0);
    memcpy(strstr(r, "Authorization: ") + 15, "Bearer ", 7);
    seen_t s;
    ck_assert_int_eq(feed(&s, r, strlen(r), 0, NULL, NULL), 0);
    ck_assert_str_eq(s.bearer, "(-2)");
    http_req_free(s.req);
    free(r);
    cfg_free(&cfg);
}
END_TEST

START_TEST(an_origin_too_long_to_be_one_is_flagged)
{
    make_cfg(NULL, NULL);
    char *r = request_with("/", "Origin", HTTP_ORIGIN_MAX + 1, 0);
    seen_t s;
    ck_assert_int_eq(feed(&s, r, strlen(r), 3, NULL, NULL), 0);
    ck_assert_str_eq(s.origin, "(-1)");
    http_req_free(s.req);
    free(r);
    cfg_free(&cfg);
}
END_TEST

START_TEST(a_cut_accept_encoding_keeps_whole_items_only)
{
    make_cfg(NULL, NULL);
    char raw[1200];
    int n = snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, ");
    memset(raw + n, 'x', 250);
    snprintf(raw + n + 250, sizeof(raw) - (size_t)n - 250, ", gzip;q=0\r\n\r\n");
    seen_t s;
    ck_assert_int_eq(feed(&s, raw, strlen(raw), 0, NULL, NULL), 0);
    /* The cut item is dropped whole: never "gzip;q=0" cut to "gzip". */
    ck_assert_ptr_null(strstr(s.ae, "gzip"));
    ck_assert_int_eq(s.ae[strlen(s.ae) - 1], ',');
    ck_assert_uint_eq(strlen(s.ae), 4 + 250 + 1);
    http_req_free(s.req);
    cfg_free(&cfg);
}
END_TEST

static size_t cors(const char *origins, const char *origin_header, char *out, size_t cap)
{
    make_cfg("--cors-origins", origins);
    char raw[512];
    snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\n%s%s%s\r\n",
             origin_header ? "Origin: " : "", origin_header ? origin_header : "",
             origin_header ? "\r\n" : "");
    seen_t s;
    s.stop_after = 1;
    ck_assert_int_eq(feed(&s, raw, strlen(raw), 0, NULL, NULL), 0);
    size_t n = http_req_cors_lines(s.req, &cfg, out, cap);
    http_req_free(s.req);
    cfg_free(&cfg);
    return n;
}

START_TEST(cors_lines_follow_the_allowlist)
{
    char out[512];
    ck_assert_uint_eq(cors("", "https://a.example", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    cors("*", "https://a.example", out, sizeof(out));
    ck_assert_str_eq(out, "Access-Control-Allow-Origin: *\r\n");
    cors("*", NULL, out, sizeof(out));
    ck_assert_str_eq(out, "");
    cors("https://a.example,http://b:8080", "http://b:8080", out, sizeof(out));
    ck_assert_str_eq(out, "Access-Control-Allow-Origin: http://b:8080\r\n"
                          "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
    cors("https://a.example", "https://evil.example", out, sizeof(out));
    ck_assert_str_eq(out, "Vary: Origin\r\n");
    cors("https://a.example", "https://a.example.evil", out, sizeof(out));
    ck_assert_str_eq(out, "Vary: Origin\r\n");
    /* No request in hand. */
    make_cfg("--cors-origins", "https://a.example");
    ck_assert_uint_eq(http_req_cors_lines(NULL, &cfg, out, sizeof(out)), 14);
    /* Too small a buffer: nothing rather than a cut line. */
    ck_assert_uint_eq(http_req_cors_lines(NULL, &cfg, out, 5), 0);
    ck_assert_str_eq(out, "");
    cfg_free(&cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpreq");
    TCase *tc = tcase_create("requests");
    tcase_add_loop_test(tc, a_request_gives_its_target_and_the_headers_the_routes_use_however_it_is_cut, 0,
                        NSTEPS);
    tcase_add_loop_test(tc, absent_headers_read_as_absent, 0, NSTEPS);
    tcase_add_loop_test(tc, pipelined_requests_each_reach_the_callback_until_it_says_stop, 0, NSTEPS);
    tcase_add_test(tc, each_limit_is_exact_and_answers_with_its_status_whole_or_byte_by_byte);
    tcase_add_test(tc, bearer_tokens_are_read_and_anything_else_is_told_apart);
    tcase_add_test(tc, an_origin_too_long_to_be_one_is_flagged);
    tcase_add_test(tc, a_cut_accept_encoding_keeps_whole_items_only);
    tcase_add_test(tc, cors_lines_follow_the_allowlist);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
