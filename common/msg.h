/* Immutable, reference-counted byte buffers shared by every write of a message. */
#ifndef SSE_MSG_H
#define SSE_MSG_H

#include <stddef.h>
#include <stdint.h>

typedef struct msg_s {
    uint32_t refs; /* owners; the buffer is freed when this drops to 0 */
    uint32_t len;  /* bytes in data */
    char data[];   /* the bytes, allocated with the header */
} msg_t;

/* Allocates a message of len bytes with one reference, contents undefined
 * (the caller fills data before sharing it). Returns NULL when out of memory. */
msg_t *msg_alloc(size_t len);

/* Allocates a message holding a copy of len bytes at p; one reference. */
msg_t *msg_copy(const void *p, size_t len);

/* Adds a reference and returns m. */
static inline msg_t *msg_ref(msg_t *m)
{
    m->refs++;
    return m;
}

/* Drops a reference; frees m when it was the last. NULL is ignored. */
void msg_unref(msg_t *m);

#endif
