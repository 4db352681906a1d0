/* Small text helpers shared by the parsers: one-line errors, echoing
 * untrusted input, comma-separated lists. */
#ifndef SSE_TEXT_H
#define SSE_TEXT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err (errlen bytes; NULL or 0 writes nothing) and replaces
 * control bytes by '?', so the message is one line whatever was quoted. */
void text_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void text_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Copies len bytes of s into out (outlen bytes, at least 4) for quoting in a
 * message: at most max bytes, then "..." when cut; control bytes become '?'. */
void text_shown(char *out, size_t outlen, const char *s, size_t len, size_t max);

/* Iterates a comma-separated list with blanks (space, tab) trimmed around
 * each entry. A list of nothing but blanks has no entries; otherwise every
 * comma separates two entries, which may be empty ("a,,b" has three). */
typedef struct text_list_s {
    const char *p; /* the next entry's start; NULL when done */
} text_list_t;

void text_list_init(text_list_t *it, const char *s);

/* 1 with the next entry in *item (*len bytes, not NUL-terminated), or 0. */
int text_list_next(text_list_t *it, const char **item, size_t *len);

#endif
