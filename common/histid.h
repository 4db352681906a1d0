/* History ids: Redis stream ids ("<ms>-<seq>") as they travel in SSE ids
 * ("<ms>-<seq>@<channel>") and in resume cursors (a comma-separated list of
 * those, one per channel). I/O-free. */
#ifndef SSE_HISTID_H
#define SSE_HISTID_H

#include <stddef.h>
#include <stdint.h>

/* "18446744073709551615-18446744073709551615" plus its NUL. */
#define HID_TEXT_MAX 42

typedef struct hid_s {
    uint64_t ms;  /* the stream id's milliseconds part */
    uint64_t seq; /* its sequence part */
} hid_t;

/* Parses exactly "<ms>-<seq>" (decimal digits, no sign, no overflow) from
 * s (len bytes). Returns 0, or -1 when s is anything else. */
int hid_parse(const char *s, size_t len, hid_t *out);

/* <0, 0, >0 as a is before, equal to, after b. */
int hid_cmp(hid_t a, hid_t b);

/* Writes "<ms>-<seq>" and a NUL into out (HID_TEXT_MAX bytes); returns the
 * length. */
size_t hid_format(hid_t id, char *out);

/* When the SSE id s (len bytes) is a history id "<ms>-<seq>@<channel>" of
 * the channel chan (chan_len bytes), stores its stream id and returns 1;
 * else 0 (any other id: the publisher's own, or another channel's). */
int hid_of_event(const char *s, size_t len, const char *chan, size_t chan_len, hid_t *out);

/* One token of a resume cursor. */
typedef struct hid_token_s {
    hid_t id;         /* the position: the last event the client saw */
    const char *chan; /* the channel it belongs to, NULL for a bare token */
    size_t chan_len;  /* bytes in chan */
} hid_token_t;

/* Reads the next token of the cursor s (len bytes) from *pos: either
 * "<ms>-<seq>@<channel>" or a bare "<ms>-<seq>"; spaces around tokens are
 * allowed. Returns 1 with *tok filled, 0 at the end, -1 when the cursor is
 * not one (the whole cursor should then be ignored). */
int hid_cursor_next(const char *s, size_t len, size_t *pos, hid_token_t *tok);

#endif
