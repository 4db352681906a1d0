/* Text helpers for parsers' error messages and lists. */
#include "text.h"

#include <stdio.h>
#include <string.h>

static int text_blank(char c)
{
    return c == ' ' || c == '\t';
}

void text_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err == NULL || errlen == 0)
        return;
    vsnprintf(err, errlen, fmt, ap);
    for (char *p = err; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

void text_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_verrf(err, errlen, fmt, ap);
    va_end(ap);
}

void text_shown(char *out, size_t outlen, const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    if (n > outlen - 4)
        n = outlen - 4;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

void text_list_init(text_list_t *it, const char *s)
{
    const char *p = s != NULL ? s : "";
    while (text_blank(*p))
        p++;
    it->p = *p == '\0' ? NULL : s;
}

int text_list_next(text_list_t *it, const char **item, size_t *len)
{
    if (it->p == NULL)
        return 0;
    const char *end = strchr(it->p, ',');
    if (end == NULL)
        end = it->p + strlen(it->p);
    const char *a = it->p, *b = end;
    while (a < b && text_blank(*a))
        a++;
    while (b > a && text_blank(b[-1]))
        b--;
    *item = a;
    *len = (size_t)(b - a);
    it->p = *end == '\0' ? NULL : end + 1;
    return 1;
}
