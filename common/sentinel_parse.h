/* Parsing what Redis Sentinel says about a master's address. */
#ifndef SSE_SENTINEL_PARSE_H
#define SSE_SENTINEL_PARSE_H

#include <stddef.h>

/* Parses a +switch-master message, "<name> <old-ip> <old-port> <new-ip>
 * <new-port>", of len bytes. When it is about master name, copies the new
 * address into host (hostcap bytes, NUL-terminated) and port and returns 1;
 * returns 0 for another master, -1 for a malformed message. */
int sentinel_parse_switch(const char *msg, size_t len, const char *name, char *host,
                          size_t hostcap, int *port);

/* Parses a port given as text of len bytes (1..65535). Returns it, or -1. */
int sentinel_parse_port(const char *s, size_t len);

#endif
