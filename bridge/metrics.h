/* Monitoring endpoints: /metrics (Prometheus text format 0.0.4),
 * /sse/metrics (the health report as JSON), /sse/metrics/stream (the
 * dashboard's live figures over SSE) and /sse/dashboard (the page). */
#ifndef SSE_METRICS_H
#define SSE_METRICS_H

#include <stddef.h>

#include "conn.h"
#include "health.h"
#include "msg.h"

/* Answers c when path (plen bytes) is one of the monitoring routes and
 * returns 1; returns 0 (c untouched) for any other path. method is an
 * llhttp method number; only GET is served. */
int metrics_route(conn_t *c, int method, const char *path, size_t plen);

/* The dashboard event ("event: metrics", data: the tick as JSON) for k,
 * with one reference; NULL when out of memory. */
msg_t *metrics_tick_msg(const bridge_t *br, const health_tick_t *k);

#endif
