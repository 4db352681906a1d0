/* URL target and query-string parsing with percent-decoding. */
#include "query.h"

#include <string.h>

void query_split_target(const char *target, size_t len, const char **path, size_t *path_len,
                        const char **query, size_t *query_len)
{
    const char *q = len > 0 ? memchr(target, '?', len) : NULL;
    *path = target;
    if (q == NULL) {
        *path_len = len;
        *query = NULL;
        *query_len = 0;
        return;
    }
    *path_len = (size_t)(q - target);
    *query = q + 1;
    *query_len = len - *path_len - 1;
}

static int query_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s (len bytes) into out (cap bytes, NUL-terminated) and stores the
 * decoded length. Returns -1 for a bad escape, a NUL (raw or decoded) or an
 * out buffer too small for the text and its terminator. */
static int query_decode(const char *s, size_t len, char *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? query_hex(s[i + 1]) : -1;
            int lo = hi >= 0 ? query_hex(s[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    if (out_len != NULL)
        *out_len = n;
    return 0;
}

int query_next(const char *query, size_t len, size_t *pos, char *key, size_t keycap,
               size_t *key_len, char *val, size_t valcap, size_t *val_len)
{
    while (*pos < len) {
        const char *pair = query + *pos;
        size_t rest = len - *pos;
        const char *amp = memchr(pair, '&', rest);
        size_t plen = amp != NULL ? (size_t)(amp - pair) : rest;
        /* Step past the pair and its '&' first: a bad pair is then skipped by
         * the next call, should the caller choose to carry on. */
        *pos += amp != NULL ? plen + 1 : plen;
        if (plen == 0)
            continue;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - pair) : plen;
        const char *v = eq != NULL ? eq + 1 : pair + plen;
        size_t vlen = eq != NULL ? plen - klen - 1 : 0;
        if (query_decode(pair, klen, key, keycap, key_len) != 0 ||
            query_decode(v, vlen, val, valcap, val_len) != 0)
            return -1;
        return 1;
    }
    return 0;
}
