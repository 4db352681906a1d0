/* Batched socket sends through io_uring (see sendbatch.h). A send of one
 * buffer is IORING_OP_SEND; several use IORING_OP_SENDMSG with a msghdr
 * and iovecs from pools that live as long as the batch. */
#include "sendbatch.h"

#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sendbatch_s {
    struct io_uring ring;      /* submission and completion queues */
    unsigned depth;            /* sends per batch (the ring's size) */
    unsigned n;                /* sends prepared, not yet submitted */
    unsigned iov_used;         /* iovecs of the pool in use by them */
    unsigned iov_cap;          /* iovecs in the pool */
    struct iovec *iov;         /* copies of the callers' buffer lists */
    struct msghdr *msg;        /* one per send slot (SENDMSG only) */
    void **owner;              /* the caller's pointer per slot, in order */
    int *res;                  /* each slot's result, filled by the submit */
    int ring_open;             /* the ring was set up (and must be torn down) */
    int broken;                /* a submit failed: the ring must not be used again */
};

int sb_open(sendbatch_t **out, unsigned depth)
{
    sendbatch_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->depth = depth;
    b->iov_cap = depth * 4;
    b->iov = calloc(b->iov_cap, sizeof(*b->iov));
    b->msg = calloc(depth, sizeof(*b->msg));
    b->owner = calloc(depth, sizeof(*b->owner));
    b->res = calloc(depth, sizeof(*b->res));
    if (b->iov == NULL || b->msg == NULL || b->owner == NULL || b->res == NULL) {
        sb_close(b);
        return -ENOMEM;
    }
    int r = io_uring_queue_init(depth, &b->ring, 0);
    if (r < 0) {
        sb_close(b);
        return r;
    }
    b->ring_open = 1;
    /* Sends on sockets came with Linux 5.3 (SENDMSG) and 5.6 (SEND). */
    struct io_uring_probe *p = io_uring_get_probe_ring(&b->ring);
    int ok = p != NULL && io_uring_opcode_supported(p, IORING_OP_SEND) &&
             io_uring_opcode_supported(p, IORING_OP_SENDMSG);
    io_uring_free_probe(p);
    if (!ok) {
        sb_close(b);
        return -EOPNOTSUPP;
    }
    *out = b;
    return 0;
}

void sb_close(sendbatch_t *b)
{
    if (b == NULL)
        return;
    if (b->ring_open)
        io_uring_queue_exit(&b->ring);
    free(b->iov);
    free(b->msg);
    free(b->owner);
    free(b->res);
    free(b);
}

int sb_add(sendbatch_t *b, int fd, const struct iovec *iov, unsigned n, void *owner)
{
    if (n == 0 || n > SB_IOV_MAX || b->n == b->depth || b->broken)
        return -1;
    if (n > 1 && b->iov_used + n > b->iov_cap)
        return -1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (sqe == NULL)
        return -1;
    unsigned slot = b->n++;
    if (n == 1) {
        io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        struct iovec *v = &b->iov[b->iov_used];
        memcpy(v, iov, n * sizeof(*iov));
        b->iov_used += n;
        struct msghdr *m = &b->msg[slot];
        memset(m, 0, sizeof(*m));
        m->msg_iov = v;
        m->msg_iovlen = n;
        io_uring_prep_sendmsg(sqe, fd, m, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    b->owner[slot] = owner;
    io_uring_sqe_set_data64(sqe, slot);
    return 0;
}

unsigned sb_pending(const sendbatch_t *b)
{
    return b->n;
}

unsigned sb_submit(sendbatch_t *b, sb_done_cb done)
{
    unsigned want = b->n;
    if (want == 0)
        return 0;
    /* MSG_DONTWAIT completes every send inside this call; waiting for all
     * of them only makes that a guarantee, it does not block. */
    int r;
    do {
        r = io_uring_submit_and_wait(&b->ring, want);
    } while (r == -EINTR);
    unsigned submitted = r < 0 ? 0 : (unsigned)r < want ? (unsigned)r : want;
    /* SQEs are taken in order. A send the kernel did not take was not done:
     * -EAGAIN lets the caller's ordinary write path send its bytes (such a
     * send stays in the ring, so the ring is never used again). A send it
     * took but never reported may have gone out: -EIO, never a resend. */
    for (unsigned i = 0; i < want; i++)
        b->res[i] = i < submitted ? -EIO : -EAGAIN;
    if (submitted < want)
        b->broken = 1;
    /* Completions may come in any order: they are reported in the order
     * added, so a caller sees its sends as it queued them. */
    for (unsigned seen = 0; seen < submitted;) {
        struct io_uring_cqe *cqe;
        int w = io_uring_wait_cqe(&b->ring, &cqe);
        if (w == -EINTR)
            continue;
        if (w < 0) {
            b->broken = 1;
            break;
        }
        uint64_t slot = io_uring_cqe_get_data64(cqe);
        if (slot < want)
            b->res[slot] = cqe->res;
        io_uring_cqe_seen(&b->ring, cqe);
        seen++;
    }
    b->n = 0;
    b->iov_used = 0;
    for (unsigned i = 0; i < want; i++) {
        /* An opcode this kernel lacks (or refuses) is not the socket's
         * fault: the ordinary write path takes over for good. */
        if (b->res[i] == -EINVAL || b->res[i] == -EOPNOTSUPP) {
            b->res[i] = -EAGAIN;
            b->broken = 1;
        }
        done(b->owner[i], b->res[i]);
    }
    return submitted;
}

int sb_broken(const sendbatch_t *b)
{
    return b->broken;
}
