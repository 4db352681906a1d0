/* IPv4/IPv6 CIDR lists, for trusted proxies. */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Longest entry text worth handing to inet_pton: a full IPv6 address with an
 * embedded IPv4 tail and "/128". Anything longer is not an address. */
#define CIDR_TEXT_MAX 64
/* Entries echoed in error messages are cut to this many bytes. */
#define CIDR_SHOWN_MAX 64

/* Parses a textual IPv4 or IPv6 address (NUL-terminated) into the 128-bit
 * form, IPv4 as ::ffff:a.b.c.d. Sets *v4 to 1 for IPv4 text. Returns 0 or -1. */
static int ip_parse(const char *text, uint8_t out[16], int *v4)
{
    if (strchr(text, ':') != NULL) {
        *v4 = 0;
        return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
    }
    uint8_t a4[4];
    if (inet_pton(AF_INET, text, a4) != 1)
        return -1;
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, a4, 4);
    *v4 = 1;
    return 0;
}

/* 1 when the first bits of a and b are equal. */
static int prefix_equal(const uint8_t a[16], const uint8_t b[16], unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* 1 when some bit after the first bits of addr is set. */
static int host_bits_set(const uint8_t addr[16], unsigned bits)
{
    for (unsigned i = bits; i < 128; i++)
        if (addr[i / 8] & (0x80 >> (i % 8)))
            return 1;
    return 0;
}

/* Frees the partial list and writes the message into err; returns -1. */
static int cidr_fail(cidrlist_t *l, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cidr_fail(cidrlist_t *l, char *err, size_t errlen, const char *fmt, ...)
{
    cidrlist_free(l);
    va_list ap;
    va_start(ap, fmt);
    text_verrf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Parses one trimmed entry ("addr" or "addr/bits") into c. Returns 0, -1 when
 * it is no address or CIDR, -2 when host bits are set. */
static int cidr_parse_one(const char *entry, size_t len, cidr_t *c)
{
    char text[CIDR_TEXT_MAX + 1];
    if (len == 0 || len > CIDR_TEXT_MAX)
        return -1;
    memcpy(text, entry, len);
    text[len] = '\0';

    char *slash = strchr(text, '/');
    long plen = -1;
    if (slash != NULL) {
        const char *d = slash + 1;
        if (*d == '\0' || strlen(d) > 3)
            return -1;
        plen = 0;
        for (; *d != '\0'; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            plen = plen * 10 + (*d - '0');
        }
        *slash = '\0';
    }
    int v4;
    if (ip_parse(text, c->addr, &v4) < 0)
        return -1;
    long maxlen = v4 ? 32 : 128;
    if (plen < 0)
        plen = maxlen;
    if (plen > maxlen)
        return -1;
    c->bits = (uint8_t)(v4 ? 96 + plen : plen);
    if (host_bits_set(c->addr, c->bits))
        return -2;
    return 0;
}

int cidrlist_parse(cidrlist_t *l, const char *s, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    text_list_t it;
    const char *a;
    size_t len;
    text_list_init(&it, s);
    while (text_list_next(&it, &a, &len)) {
        if (len == 0)
            return cidr_fail(l, err, errlen, "empty address in list");

        cidr_t c;
        char shown[CIDR_SHOWN_MAX + 4];
        int rc = cidr_parse_one(a, len, &c);
        if (rc < 0) {
            text_shown(shown, sizeof(shown), a, len, CIDR_SHOWN_MAX);
            if (rc == -2)
                return cidr_fail(l, err, errlen, "'%s' has host bits set beyond the prefix", shown);
            return cidr_fail(l, err, errlen, "'%s' is not an IPv4/IPv6 address or CIDR", shown);
        }
        cidr_t *items = realloc(l->items, (l->count + 1) * sizeof(*items));
        if (items == NULL)
            return cidr_fail(l, err, errlen, "out of memory");
        l->items = items;
        l->items[l->count++] = c;
    }
    return 0;
}

int cidrlist_contains(const cidrlist_t *l, const char *ip)
{
    if (l == NULL || ip == NULL || strlen(ip) > CIDR_TEXT_MAX)
        return 0;
    uint8_t addr[16];
    int v4;
    if (ip_parse(ip, addr, &v4) < 0)
        return 0;
    for (size_t i = 0; i < l->count; i++)
        if (prefix_equal(addr, l->items[i].addr, l->items[i].bits))
            return 1;
    return 0;
}

void cidrlist_free(cidrlist_t *l)
{
    if (l == NULL)
        return;
    free(l->items);
    memset(l, 0, sizeof(*l));
}
