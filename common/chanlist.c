/* Channel names and the channel allowlist (exact names and "prefix*" families). */
#include "chanlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Entries echoed in error messages are cut to this many bytes so that the
 * explanation after them always fits in the caller's buffer. */
#define CHAN_SHOWN_MAX 64

static int chan_char_valid(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

static int chan_chars_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!chan_char_valid((unsigned char)s[i]))
            return 0;
    return 1;
}

int chan_name_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > CHAN_NAME_MAX)
        return 0;
    return chan_chars_valid(name, len);
}

/* Frees the partial list and writes the message into err; returns -1. */
static int chan_fail(chanlist_t *cl, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int chan_fail(chanlist_t *cl, char *err, size_t errlen, const char *fmt, ...)
{
    chanlist_free(cl);
    va_list ap;
    va_start(ap, fmt);
    text_verrf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Grows the three parallel arrays to hold one more entry. */
static int chanlist_grow(chanlist_t *cl)
{
    size_t n = cl->count + 1;
    char **names = realloc(cl->names, n * sizeof(*names));
    if (names == NULL)
        return -1;
    cl->names = names;
    size_t *lens = realloc(cl->lens, n * sizeof(*lens));
    if (lens == NULL)
        return -1;
    cl->lens = lens;
    int *prefix = realloc(cl->prefix, n * sizeof(*prefix));
    if (prefix == NULL)
        return -1;
    cl->prefix = prefix;
    return 0;
}

/* Checks and appends one trimmed entry (len bytes, possibly ending in '*'). */
static int chanlist_add(chanlist_t *cl, const char *entry, size_t len, char *err, size_t errlen)
{
    char shown[CHAN_SHOWN_MAX + 4];
    if (len == 0)
        return chan_fail(cl, err, errlen, "empty channel name in list");
    const char *star = memchr(entry, '*', len);
    int family = star != NULL;
    if (family && star != entry + len - 1)
        return chan_fail(cl, err, errlen,
                         "'*' only allowed at the end of a channel family, as in 'user:*'");
    size_t nlen = family ? len - 1 : len;
    if (nlen > CHAN_NAME_MAX)
        return chan_fail(cl, err, errlen, "channel name longer than %d bytes", CHAN_NAME_MAX);
    text_shown(shown, sizeof(shown), entry, len, CHAN_SHOWN_MAX);
    if (!chan_chars_valid(entry, nlen))
        return chan_fail(cl, err, errlen, "channel '%s' has a character outside [A-Za-z0-9_.:-]",
                         shown);
    for (size_t i = 0; i < cl->count; i++)
        if (cl->prefix[i] == family && cl->lens[i] == nlen &&
            memcmp(cl->names[i], entry, nlen) == 0)
            return chan_fail(cl, err, errlen, "duplicate channel '%s'", shown);

    char *copy = malloc(nlen + 1);
    if (copy == NULL || chanlist_grow(cl) < 0) {
        free(copy);
        return chan_fail(cl, err, errlen, "out of memory");
    }
    memcpy(copy, entry, nlen);
    copy[nlen] = '\0';
    cl->names[cl->count] = copy;
    cl->lens[cl->count] = nlen;
    cl->prefix[cl->count] = family;
    cl->count++;
    return 0;
}

int chanlist_parse(chanlist_t *cl, const char *s, char *err, size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    text_list_t it;
    const char *entry;
    size_t len;
    text_list_init(&it, s);
    while (text_list_next(&it, &entry, &len))
        if (chanlist_add(cl, entry, len, err, errlen) < 0)
            return -1;
    return 0;
}

int chanlist_allows(const chanlist_t *cl, const char *name, size_t len)
{
    if (cl == NULL || !chan_name_valid(name, len))
        return 0;
    for (size_t i = 0; i < cl->count; i++) {
        size_t n = cl->lens[i];
        if (cl->prefix[i] ? (len >= n && memcmp(cl->names[i], name, n) == 0)
                          : (len == n && memcmp(cl->names[i], name, n) == 0))
            return 1;
    }
    return 0;
}

void chanlist_free(chanlist_t *cl)
{
    if (cl == NULL)
        return;
    for (size_t i = 0; i < cl->count; i++)
        free(cl->names[i]);
    free(cl->names);
    free(cl->lens);
    free(cl->prefix);
    memset(cl, 0, sizeof(*cl));
}
