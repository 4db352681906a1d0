/* Parsing what Redis Sentinel says about a master's address. */
#include "sentinel_parse.h"

#include <string.h>

int sentinel_parse_port(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

int sentinel_parse_switch(const char *msg, size_t len, const char *name, char *host,
                          size_t hostcap, int *port)
{
    const char *word[5];
    size_t wlen[5];
    size_t n = 0, i = 0;
    while (i < len) {
        if (n == 5 || msg[i] == ' ')
            return -1; /* a sixth word, or an empty one */
        word[n] = msg + i;
        while (i < len && msg[i] != ' ')
            i++;
        wlen[n] = (size_t)(msg + i - word[n]);
        n++;
        if (i < len && ++i == len)
            return -1; /* a trailing space */
    }
    if (n != 5)
        return -1;
    int newport = sentinel_parse_port(word[4], wlen[4]);
    if (newport < 0 || sentinel_parse_port(word[2], wlen[2]) < 0 || wlen[3] >= hostcap)
        return -1;
    for (size_t k = 0; k < wlen[3]; k++)
        if (word[3][k] == '\0')
            return -1;
    if (wlen[0] != strlen(name) || memcmp(word[0], name, wlen[0]) != 0)
        return 0;
    memcpy(host, word[3], wlen[3]);
    host[wlen[3]] = '\0';
    *port = newport;
    return 1;
}
