/* hiredis <-> libuv adapter: one uv_poll_t per Redis connection. */
#include "redis_uv.h"

#include <stdlib.h>

typedef struct redis_uv_s {
    redisAsyncContext *ac; /* the context, NULL once hiredis cleaned up */
    uv_poll_t poll;        /* watches the context's socket */
    int events;            /* UV_READABLE / UV_WRITABLE hiredis wants */
} redis_uv_t;

static void redis_uv_poll_cb(uv_poll_t *handle, int status, int events)
{
    redis_uv_t *a = handle->data;
    if (a->ac == NULL)
        return;
    if (status < 0) {
        /* libuv stopped the handle on POLLERR. Let hiredis find the error on
         * the socket itself: a pending connect is checked on write, an
         * established one fails its next read. */
        events = a->events != 0 ? a->events : UV_READABLE;
        a->events = 0;
    }
    if (events & UV_WRITABLE)
        redisAsyncHandleWrite(a->ac);
    /* The write may have freed the context (failed connect). */
    if (a->ac != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(a->ac);
}

static void redis_uv_update(redis_uv_t *a, int events)
{
    if (events == a->events)
        return;
    a->events = events;
    if (events != 0)
        uv_poll_start(&a->poll, events, redis_uv_poll_cb);
    else
        uv_poll_stop(&a->poll);
}

static void redis_uv_add_read(void *p)
{
    redis_uv_t *a = p;
    redis_uv_update(a, a->events | UV_READABLE);
}

static void redis_uv_del_read(void *p)
{
    redis_uv_t *a = p;
    redis_uv_update(a, a->events & ~UV_READABLE);
}

static void redis_uv_add_write(void *p)
{
    redis_uv_t *a = p;
    redis_uv_update(a, a->events | UV_WRITABLE);
}

static void redis_uv_del_write(void *p)
{
    redis_uv_t *a = p;
    redis_uv_update(a, a->events & ~UV_WRITABLE);
}

static void redis_uv_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void redis_uv_cleanup(void *p)
{
    redis_uv_t *a = p;
    a->ac->ev.data = NULL;
    a->ac = NULL;
    uv_close((uv_handle_t *)&a->poll, redis_uv_close_cb);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL)
        return REDIS_ERR;
    redis_uv_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return REDIS_ERR;
    if (uv_poll_init(loop, &a->poll, ac->c.fd) != 0) {
        free(a);
        return REDIS_ERR;
    }
    a->ac = ac;
    a->poll.data = a;
    ac->ev.addRead = redis_uv_add_read;
    ac->ev.delRead = redis_uv_del_read;
    ac->ev.addWrite = redis_uv_add_write;
    ac->ev.delWrite = redis_uv_del_write;
    ac->ev.cleanup = redis_uv_cleanup;
    ac->ev.data = a;
    return REDIS_OK;
}
