/* History ids and resume cursors. */
#include "histid.h"

#include <stdio.h>
#include <string.h>

#include "chanlist.h"

/* Parses decimal digits s[0..len) into *out; -1 when empty, not digits or
 * over 64 bits. */
static int hid_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int hid_parse(const char *s, size_t len, hid_t *out)
{
    const char *dash = memchr(s, '-', len);
    if (dash == NULL)
        return -1;
    size_t ml = (size_t)(dash - s);
    hid_t id;
    if (hid_u64(s, ml, &id.ms) != 0 || hid_u64(dash + 1, len - ml - 1, &id.seq) != 0)
        return -1;
    *out = id;
    return 0;
}

int hid_cmp(hid_t a, hid_t b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

size_t hid_format(hid_t id, char *out)
{
    int n = snprintf(out, HID_TEXT_MAX, "%llu-%llu", (unsigned long long)id.ms,
                     (unsigned long long)id.seq);
    return n > 0 ? (size_t)n : 0;
}

int hid_of_event(const char *s, size_t len, const char *chan, size_t chan_len, hid_t *out)
{
    /* The channel is the tail: compare it first, it rules out most ids. */
    if (len < chan_len + 4 || s[len - chan_len - 1] != '@' ||
        memcmp(s + len - chan_len, chan, chan_len) != 0)
        return 0;
    return hid_parse(s, len - chan_len - 1, out) == 0;
}

int hid_cursor_next(const char *s, size_t len, size_t *pos, hid_token_t *tok)
{
    size_t i = *pos, start = *pos;
    while (i < len && s[i] == ' ')
        i++;
    if (i >= len) {
        *pos = len;
        /* A cursor without a token is not one. */
        return start == 0 ? -1 : 0;
    }
    const char *comma = memchr(s + i, ',', len - i);
    size_t end = comma != NULL ? (size_t)(comma - s) : len;
    size_t tend = end;
    while (tend > i && s[tend - 1] == ' ')
        tend--;
    const char *at = memchr(s + i, '@', tend - i);
    size_t idend = at != NULL ? (size_t)(at - s) : tend;
    if (hid_parse(s + i, idend - i, &tok->id) != 0)
        return -1;
    tok->chan = NULL;
    tok->chan_len = 0;
    if (at != NULL) {
        tok->chan = at + 1;
        tok->chan_len = tend - idend - 1;
        if (!chan_name_valid(tok->chan, tok->chan_len))
            return -1;
    }
    *pos = comma != NULL ? end + 1 : len;
    if (comma != NULL) {
        size_t next = end + 1;
        while (next < len && s[next] == ' ')
            next++;
        if (next >= len)
            return -1; /* a trailing comma, spaces after it or not */
    }
    return 1;
}
