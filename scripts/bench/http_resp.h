/* Reads an HTTP/1.1 response for the load generator, I/O-free: head, then plain or chunked body. */
#ifndef BENCH_HTTP_RESP_H
#define BENCH_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#define HR_HEAD_MAX 8192 /* bytes a response head may take */

/* Error codes, kept in the reader once returned. */
#define HR_ETOOBIG (-1) /* the head is over HR_HEAD_MAX bytes */
#define HR_EBAD (-2)    /* the head is not an HTTP/1.x response */
#define HR_ESTATUS (-3) /* the status is not 200 (see status) */
#define HR_ETYPE (-4)   /* the content type is not text/event-stream */
#define HR_ECHUNK (-5)  /* malformed chunked framing */
#define HR_ENOMEM (-6)  /* no memory for the head buffer */

typedef struct hr_s {
    char *head;          /* head bytes while reading it; NULL before and after */
    uint32_t head_len;   /* bytes in head */
    uint16_t status;     /* status code, 0 until the head is read */
    uint8_t chunked;     /* the body uses chunked transfer coding */
    uint8_t state;       /* where the reader is (private) */
    uint8_t has_digit;   /* the chunk-size line being read has a digit (private) */
    uint8_t done;        /* the last chunk was read: the response is over */
    int err;             /* first error, 0 while healthy */
    uint64_t chunk_left; /* bytes of the current chunk still to come, or the size being read */
} hr_t;

/* Prepares a reader for one response; allocates nothing yet. */
void hr_init(hr_t *h);

/* Feeds response bytes until the head is complete. Sets *used to the bytes
 * of buf that belong to the head (the rest is body). Returns 1 when the head
 * is complete and acceptable (200, text/event-stream), 0 when more bytes are
 * needed (all of buf used), or an HR_E* code. The head buffer is allocated
 * on the first call and freed when the head is complete or rejected. */
int hr_head(hr_t *h, const char *buf, size_t len, size_t *used);

/* Decodes body bytes in place: removes chunk framing when the body is
 * chunked (a plain body is left as is). Returns the number of body bytes now
 * at the start of buf, or HR_ECHUNK. Bytes after the last chunk are ignored
 * and set done. */
long hr_body(hr_t *h, char *buf, size_t len);

/* Text for an error code (static string). */
const char *hr_strerror(int err);

/* Frees what the reader holds; it may be hr_init()ed again. */
void hr_free(hr_t *h);

/* ---- replies to pipelined requests (the publisher's HTTP mode) ----
 * A keep-alive connection carries a series of responses, each framed by
 * Content-Length (or without a body: 1xx, 204, 304). Chunked or
 * close-delimited replies cannot be told apart on a pipelined connection
 * and are refused (HR_ECHUNK, HR_EBAD); interim 1xx replies are skipped. */

#define HRR_HEAD_MAX 4096 /* bytes a reply head may take */

typedef struct hrr_s {
    char head[HRR_HEAD_MAX]; /* the head being read */
    uint32_t head_len;       /* bytes in head */
    uint16_t status;         /* status of the reply whose body is being skipped */
    uint8_t in_body;         /* skipping a body (private) */
    uint8_t close;           /* that reply carries "Connection: close" */
    int err;                 /* first error, 0 while healthy (sticky) */
    uint64_t body_left;      /* body bytes of the current reply still to come */
    uint64_t replies;        /* final replies completed so far */
} hrr_t;

/* Called once per complete final reply with its status and whether it asked
 * to close the connection. */
typedef void (*hrr_cb)(void *arg, int status, int close);

/* Prepares a reader for a connection's replies. */
void hrr_init(hrr_t *r);

/* Feeds reply bytes (split anywhere). Calls cb for each reply they complete.
 * Returns 0, or the sticky HR_E* code (HR_ETOOBIG, HR_EBAD, HR_ECHUNK). */
int hrr_feed(hrr_t *r, const char *buf, size_t len, hrr_cb cb, void *arg);

#endif
