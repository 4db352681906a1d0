/* IPv4/IPv6 CIDR lists, for trusted proxies. */
#ifndef SSE_CIDR_H
#define SSE_CIDR_H

#include <stddef.h>
#include <stdint.h>

typedef struct cidr_s {
    uint8_t addr[16]; /* network address; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d) */
    uint8_t bits;     /* prefix length over the 128-bit form */
} cidr_t;

typedef struct cidrlist_s {
    cidr_t *items; /* owned array */
    size_t count;  /* entries in items */
} cidrlist_t;

/* Parses "10.0.0.0/8,127.0.0.1,::1/128" (comma-separated; an address with no
 * '/' is a single host; spaces around entries ignored; "" is an empty list).
 * Host bits set beyond the prefix are an error. Returns 0, or -1 with one
 * line in err. */
int cidrlist_parse(cidrlist_t *l, const char *s, char *err, size_t errlen);

/* 1 when the textual IP address (v4 or v6) is inside some entry; else 0
 * (also for text that is no address). */
int cidrlist_contains(const cidrlist_t *l, const char *ip);

/* Frees the list; safe on a zeroed one. */
void cidrlist_free(cidrlist_t *l);

#endif
