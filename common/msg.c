/* Reference-counted message buffers. */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

msg_t *msg_alloc(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    msg_t *m = malloc(sizeof(*m) + len);
    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)len;
    return m;
}

msg_t *msg_copy(const void *p, size_t len)
{
    msg_t *m = msg_alloc(len);
    if (m != NULL && len > 0)
        memcpy(m->data, p, len);
    return m;
}

void msg_unref(msg_t *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}
