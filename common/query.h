/* URL target and query-string parsing with percent-decoding. */
#ifndef SSE_QUERY_H
#define SSE_QUERY_H

#include <stddef.h>

/* Splits a request target "path?query" into its path (not decoded) and its
 * raw query (NULL when there is no '?'). Lengths through the out params. */
void query_split_target(const char *target, size_t len, const char **path, size_t *path_len,
                        const char **query, size_t *query_len);

/* Iterates "k=v&k2=v2": finds the next pair starting at *pos in query (len
 * bytes), decodes key and value (percent-escapes and '+' as space) into
 * key/val (keycap and valcap bytes each, NUL-terminated), advances *pos.
 * A pair without '=' has an empty value; empty pairs ("&&") are skipped.
 * Returns 1 for a pair, 0 at the end, -1 when a value is badly encoded
 * (a '%' not followed by two hex digits, a decoded NUL) or longer than
 * its buffer. */
int query_next(const char *query, size_t len, size_t *pos, char *key, size_t keycap, size_t *key_len,
               char *val, size_t valcap, size_t *val_len);

#endif
