/* Client address resolution over X-Forwarded-For, trusting only known proxies. */
#include "clientip.h"

#include <arpa/inet.h>
#include <string.h>

/* Copies the hop [a, b) into out when it is a textual IPv4 or IPv6 address
 * (normalized by a round trip through inet_pton/inet_ntop); 0 when it is not. */
static int clientip_hop(const char *a, const char *b, char *out)
{
    char text[CLIENTIP_MAX];
    unsigned char bin[16];
    size_t len = (size_t)(b - a);
    if (len == 0 || len >= sizeof(text))
        return 0;
    memcpy(text, a, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, bin) == 1)
        return inet_ntop(AF_INET, bin, out, CLIENTIP_MAX) != NULL;
    if (inet_pton(AF_INET6, text, bin) == 1)
        return inet_ntop(AF_INET6, bin, out, CLIENTIP_MAX) != NULL;
    return 0;
}

int clientip_resolve(const char *peer, const char *xff, size_t xfflen, const cidrlist_t *trusted,
                     char *out)
{
    size_t plen = strlen(peer);
    if (plen >= CLIENTIP_MAX)
        plen = CLIENTIP_MAX - 1;
    memcpy(out, peer, plen);
    out[plen] = '\0';
    if (xff == NULL || trusted == NULL || !cidrlist_contains(trusted, peer))
        return 0;
    int from_xff = 0;
    const char *end = xff + xfflen;
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        char hop[CLIENTIP_MAX];
        if (!clientip_hop(a, b, hop))
            break;
        memcpy(out, hop, strlen(hop) + 1);
        from_xff = 1;
        if (!cidrlist_contains(trusted, hop))
            break;
        end = start > xff ? start - 1 : xff;
    }
    return from_xff;
}
