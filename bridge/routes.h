/* HTTP routes: which request gets which answer. */
#ifndef SSE_ROUTES_H
#define SSE_ROUTES_H

#include <stddef.h>

#include "conn.h"

/* Answers one complete request (method is an llhttp method number, url the
 * raw request target, h the headers that matter). Queues a response, turns
 * c into a stream, or parks it until the cluster admits it. */
void routes_dispatch(conn_t *c, int method, const char *url, size_t len, const http_headers_t *h);

#endif
