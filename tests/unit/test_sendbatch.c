/* Unit tests for the io_uring send batch, on Unix stream socket pairs:
 * bytes arrive in order, results come back in the order sends were added
 * with write()'s meaning (bytes taken, -EAGAIN on a full socket, -EPIPE on
 * a closed peer, -EBADF), and a full batch refuses more. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "run_suite.h"
#include "sendbatch.h"

#define NRES 64

static int res[NRES];
static void *who[NRES];
static int nres;

static void record(void *owner, int r)
{
    ck_assert_int_lt(nres, NRES);
    who[nres] = owner;
    res[nres++] = r;
}

static sendbatch_t *open_batch(unsigned depth)
{
    sendbatch_t *b = NULL;
    int r = sb_open(&b, depth);
    ck_assert_msg(r == 0, "sb_open: %s (io_uring unavailable?)", strerror(-r));
    nres = 0;
    return b;
}

static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void unpair(int sv[2])
{
    close(sv[0]);
    close(sv[1]);
}

static struct iovec io(const char *s)
{
    struct iovec v = {(void *)s, strlen(s)};
    return v;
}

static void expect_read(int fd, const char *want)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    ck_assert_int_eq(n, (ssize_t)strlen(want));
    ck_assert_mem_eq(buf, want, (size_t)n);
}

START_TEST(one_submit_sends_to_every_socket_and_reports_in_the_order_added)
{
    sendbatch_t *b = open_batch(8);
    int s[3][2];
    const char *text[3] = {"first\n", "second\n", "third\n"};
    for (int i = 0; i < 3; i++) {
        pair(s[i]);
        struct iovec v = io(text[i]);
        ck_assert_int_eq(sb_add(b, s[i][0], &v, 1, &s[i]), 0);
    }
    ck_assert_uint_eq(sb_pending(b), 3);
    ck_assert_uint_eq(sb_submit(b, record), 3);
    ck_assert_uint_eq(sb_pending(b), 0);
    ck_assert_int_eq(nres, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_eq(who[i], &s[i]);
        ck_assert_int_eq(res[i], (int)strlen(text[i]));
        expect_read(s[i][1], text[i]);
    }
    for (int i = 0; i < 3; i++)
        unpair(s[i]);
    sb_close(b);
}
END_TEST

START_TEST(several_buffers_leave_as_one_send_in_order)
{
    sendbatch_t *b = open_batch(4);
    int s[2];
    pair(s);
    struct iovec v[3] = {io("data: a\n\n"), io("data: b\n\n"), io("data: c\n\n")};
    ck_assert_int_eq(sb_add(b, s[0], v, 3, NULL), 0);
    sb_submit(b, record);
    ck_assert_int_eq(res[0], 27);
    expect_read(s[1], "data: a\n\ndata: b\n\ndata: c\n\n");
    /* The pool of buffer lists is reused by the next batch. */
    for (int round = 0; round < 50; round++) {
        nres = 0;
        ck_assert_int_eq(sb_add(b, s[0], v, 3, NULL), 0);
        ck_assert_int_eq(sb_add(b, s[0], v + 1, 2, NULL), 0);
        sb_submit(b, record);
        ck_assert_int_eq(res[0], 27);
        ck_assert_int_eq(res[1], 18);
        expect_read(s[1], "data: a\n\ndata: b\n\ndata: c\n\ndata: b\n\ndata: c\n\n");
    }
    unpair(s);
    sb_close(b);
}
END_TEST

/* Fills the socket sv[0] until it refuses, then checks that a batched
 * send to it is answered -EAGAIN at once. */
static void expect_eagain_when_full(int sv[2])
{
    sendbatch_t *b = open_batch(4);
    static char big[1 << 16];
    memset(big, 'x', sizeof(big));
    while (send(sv[0], big, sizeof(big), MSG_DONTWAIT) > 0)
        ;
    ck_assert_int_eq(errno, EAGAIN);
    struct iovec v = {big, sizeof(big)};
    ck_assert_int_eq(sb_add(b, sv[0], &v, 1, NULL), 0);
    ck_assert_uint_eq(sb_submit(b, record), 1);
    ck_assert_int_eq(res[0], -EAGAIN);
    unpair(sv);
    sb_close(b);
}

START_TEST(a_full_socket_answers_eagain_at_once_instead_of_waiting)
{
    int s[2];
    pair(s);
    expect_eagain_when_full(s);
}
END_TEST

START_TEST(a_full_blocking_socket_does_not_block_the_submit)
{
    /* Without MSG_DONTWAIT the kernel would park this send until the peer
     * reads, and the submit (which waits for every send) would hang. */
    int s[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    expect_eagain_when_full(s);
}
END_TEST

START_TEST(several_buffers_into_little_room_report_the_bytes_taken)
{
    sendbatch_t *b = open_batch(4);
    int s[2];
    pair(s);
    int small = 4096;
    ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    static char big[1 << 16];
    memset(big, 'w', sizeof(big));
    struct iovec v[3] = {{big, sizeof(big)}, {big, sizeof(big)}, {big, sizeof(big)}};
    ck_assert_int_eq(sb_add(b, s[0], v, 3, NULL), 0);
    sb_submit(b, record);
    /* Some of it, not all of it: the caller writes the rest later. */
    ck_assert_int_gt(res[0], 0);
    ck_assert_int_lt(res[0], 3 * (int)sizeof(big));
    static char got[3 << 16];
    ssize_t n = 0, r;
    while ((r = read(s[1], got + n, sizeof(got) - (size_t)n)) > 0)
        n += r;
    ck_assert_int_eq(n, res[0]);
    ck_assert_mem_eq(got, big, (size_t)(n < (ssize_t)sizeof(big) ? n : (ssize_t)sizeof(big)));
    unpair(s);
    sb_close(b);
}
END_TEST

START_TEST(a_closed_peer_or_a_bad_descriptor_is_reported_and_the_rest_still_goes)
{
    sendbatch_t *b = open_batch(4);
    int dead[2], live[2];
    pair(dead);
    pair(live);
    close(dead[1]);
    struct iovec v = io("hello\n");
    ck_assert_int_eq(sb_add(b, dead[0], &v, 1, NULL), 0);
    ck_assert_int_eq(sb_add(b, 1000000, &v, 1, NULL), 0);
    ck_assert_int_eq(sb_add(b, live[0], &v, 1, NULL), 0);
    sb_submit(b, record); /* MSG_NOSIGNAL: no SIGPIPE kills the test */
    ck_assert_int_eq(res[0], -EPIPE);
    ck_assert_int_eq(res[1], -EBADF);
    ck_assert_int_eq(res[2], 6);
    expect_read(live[1], "hello\n");
    ck_assert_int_eq(sb_broken(b), 0);
    close(dead[0]);
    unpair(live);
    sb_close(b);
}
END_TEST

START_TEST(a_full_batch_refuses_more_until_submitted)
{
    sendbatch_t *b = open_batch(2);
    int s[2];
    pair(s);
    struct iovec v = io("x");
    ck_assert_int_eq(sb_add(b, s[0], &v, 1, NULL), 0);
    ck_assert_int_eq(sb_add(b, s[0], &v, 1, NULL), 0);
    ck_assert_int_eq(sb_add(b, s[0], &v, 1, NULL), -1);
    ck_assert_uint_eq(sb_submit(b, record), 2);
    ck_assert_int_eq(sb_add(b, s[0], &v, 1, NULL), 0);
    ck_assert_uint_eq(sb_submit(b, record), 1);
    expect_read(s[1], "xxx");
    unpair(s);
    sb_close(b);
}
END_TEST

START_TEST(buffer_lists_beyond_the_limit_or_empty_are_refused)
{
    sendbatch_t *b = open_batch(2);
    struct iovec v[SB_IOV_MAX + 1];
    for (int i = 0; i <= SB_IOV_MAX; i++)
        v[i] = io("y");
    ck_assert_int_eq(sb_add(b, 0, v, SB_IOV_MAX + 1, NULL), -1);
    ck_assert_int_eq(sb_add(b, 0, v, 0, NULL), -1);
    ck_assert_uint_eq(sb_pending(b), 0);
    ck_assert_uint_eq(sb_submit(b, record), 0);
    ck_assert_int_eq(nres, 0);
    sb_close(b);
    sb_close(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sendbatch");
    TCase *tc = tcase_create("io_uring");
    tcase_add_test(tc, one_submit_sends_to_every_socket_and_reports_in_the_order_added);
    tcase_add_test(tc, several_buffers_leave_as_one_send_in_order);
    tcase_add_test(tc, a_full_socket_answers_eagain_at_once_instead_of_waiting);
    tcase_add_test(tc, a_full_blocking_socket_does_not_block_the_submit);
    tcase_add_test(tc, several_buffers_into_little_room_report_the_bytes_taken);
    tcase_add_test(tc, a_closed_peer_or_a_bad_descriptor_is_reported_and_the_rest_still_goes);
    tcase_add_test(tc, a_full_batch_refuses_more_until_submitted);
    tcase_add_test(tc, buffer_lists_beyond_the_limit_or_empty_are_refused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
