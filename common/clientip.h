/* Which address a request comes from: the peer, or what a trusted proxy says. */
#ifndef SSE_CLIENTIP_H
#define SSE_CLIENTIP_H

#include <stddef.h>

#include "cidr.h"

#define CLIENTIP_MAX 46 /* INET6_ADDRSTRLEN: the longest textual address with its NUL */

/* Writes the client's address into out (CLIENTIP_MAX bytes). It is peer,
 * unless peer is in trusted and xff (an X-Forwarded-For value, xfflen
 * bytes, NULL when absent) names hops: then the hops are walked from the
 * right, skipping trusted proxies, and the first untrusted one is the
 * client. A hop that is no IP address ends the walk at the last good one
 * (anything left of garbage is unverifiable); when every hop is trusted the
 * leftmost is taken. A spoofed header from an untrusted peer changes
 * nothing. Returns 1 when the address came from xff, 0 when it is peer. */
int clientip_resolve(const char *peer, const char *xff, size_t xfflen, const cidrlist_t *trusted,
                     char *out);

#endif
