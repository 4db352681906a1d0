/* Binds a hiredis async context to a libuv loop, with socket errors passed on. */
#ifndef SSE_REDIS_UV_H
#define SSE_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches ac to loop. Unlike hiredis 0.14's own adapter, a poll error
 * (refused or reset connection) is handed to hiredis, which then reports it
 * through the connect or disconnect callback instead of hanging. The adapter
 * frees itself when hiredis frees ac. Returns 0, or REDIS_ERR when ac already
 * has an event library or memory runs out. */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
