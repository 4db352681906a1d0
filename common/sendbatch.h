/* Batched socket sends through io_uring: the sends prepared during one
 * flush leave in one system call instead of one write() each.
 *
 * Every send carries MSG_DONTWAIT, so the kernel completes each one during
 * the submit (a full socket answers -EAGAIN at once instead of waiting):
 * when sb_submit returns, every prepared send has been done and reported,
 * with the meaning of a write(): bytes taken, or a negative errno. Nothing
 * is left in flight between flushes, so no libuv handle ever sees it. */
#ifndef SSE_SENDBATCH_H
#define SSE_SENDBATCH_H

#include <stddef.h>
#include <sys/uio.h>

#define SB_IOV_MAX 16 /* buffers of one send; more go out in a later write */

typedef struct sendbatch_s sendbatch_t;

/* Reports one send: owner as given to sb_add, res = bytes sent or -errno. */
typedef void (*sb_done_cb)(void *owner, int res);

/* Opens a batch of up to depth sends. Returns 0 with *out, or a negative
 * errno (-ENOSYS or -EPERM where io_uring is missing or forbidden, as under
 * Docker's default seccomp profile; -EOPNOTSUPP where it cannot send). */
int sb_open(sendbatch_t **out, unsigned depth);

/* Releases the ring (NULL is fine). */
void sb_close(sendbatch_t *b);

/* Prepares a send of iov[0..n) (1 <= n <= SB_IOV_MAX) to fd. The buffers
 * must stay valid until sb_submit returns. Returns 0, or -1 when the batch
 * is full (submit it first). */
int sb_add(sendbatch_t *b, int fd, const struct iovec *iov, unsigned n, void *owner);

/* Sends prepared so far and not yet submitted. */
unsigned sb_pending(const sendbatch_t *b);

/* Submits every prepared send in one system call and calls done for each,
 * in the order they were added. Returns how many the kernel took (the
 * others were reported -EAGAIN and are the caller's to write). done may
 * not call back into the batch. */
unsigned sb_submit(sendbatch_t *b, sb_done_cb done);

/* 1 once a submit failed or the kernel refused the send opcodes: the
 * batch must be closed, the caller writes on its own from then on. */
int sb_broken(const sendbatch_t *b);

#endif
