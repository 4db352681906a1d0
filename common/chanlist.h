/* Channel names and the channel allowlist (exact names and "prefix*" families). */
#ifndef SSE_CHANLIST_H
#define SSE_CHANLIST_H

#include <stddef.h>

#define CHAN_NAME_MAX 128 /* longest channel name accepted, in bytes */

typedef struct chanlist_s {
    char **names;  /* owned: each entry, without the trailing '*' of a family */
    size_t *lens;  /* bytes in each names[i] */
    int *prefix;   /* 1 when names[i] is a "prefix*" family */
    size_t count;  /* number of entries */
} chanlist_t;

/* 1 when name (len bytes) is a valid concrete channel name: 1 to
 * CHAN_NAME_MAX bytes of [A-Za-z0-9_.:-]; else 0. */
int chan_name_valid(const char *name, size_t len);

/* Parses a comma-separated list of names and "prefix*" families (a '*' only
 * as the last byte, the prefix itself may be empty only as "*" alone, which
 * allows every valid name). Spaces around entries are ignored; empty entries
 * and duplicates are errors. Returns 0, or -1 with one line in err. */
int chanlist_parse(chanlist_t *cl, const char *s, char *err, size_t errlen);

/* 1 when the concrete channel name is allowed by an exact entry or family. */
int chanlist_allows(const chanlist_t *cl, const char *name, size_t len);

/* Frees what chanlist_parse allocated; safe on a zeroed list. */
void chanlist_free(chanlist_t *cl);

#endif
