/* Fuzz target: the HS256 token verifier (common/jwt.c jwt_verify).
 *
 * Random bytes almost never carry a valid HMAC, so the harness also signs:
 * the first input byte picks a mode, the rest is
 *   mode 0: the token text, verified as is;
 *   mode 1: "<header JSON>\0<payload JSON>", which the harness encodes in
 *           base64url and signs with the secret, so the claims code is
 *           reached with any JSON;
 *   mode 2: as mode 1, then one byte of the signed text (position and new
 *           value from the input's last two bytes) is changed.
 * Properties, beyond memory and UB safety:
 *  - the result is one of jwt_result_t; on failure err is one line;
 *  - JWT_OK only for a token whose third part decodes to HMAC-SHA256(secret,
 *    first two parts) (recomputed here) and whose header says alg HS256;
 *  - a token signed with the secret is never JWT_BAD_SIGNATURE (mode 1);
 *  - a signed token changed in any byte is never JWT_OK (mode 2);
 *  - on JWT_OK, sub is the payload's "sub" (a valid client id), exp the
 *    payload's, and every granted channel entry is valid;
 *  - jwt_claims_free releases everything (LSan), twice is safe. */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "fuzz.h"
#include "jwt.h"

#define NOW 1795579860 /* seconds; the seeds' exp lie after it */
#define SKEW 60

static const char secret[] = "fuzz-secret-0123456789-abcdefghijklmnop";

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of s (n bytes) at out; returns the length. */
static size_t enc(const unsigned char *s, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    return o;
}

/* Decodes base64url (no padding; bits left over in the last character are
 * dropped, as a lenient decoder does) into out; -1 when s is not base64url. */
static long dec(const char *s, size_t n, unsigned char *out)
{
    unsigned acc = 0, bits = 0;
    long o = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(b64url, s[i], 64);
        if (p == NULL || s[i] == '\0')
            return -1;
        acc = (acc << 6 | (unsigned)(p - b64url)) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

/* The independent view of a JWT_OK token: signature and header. */
static void check_ok(const char *tok, size_t len)
{
    const char *d1 = memchr(tok, '.', len);
    FUZZ_CHECK(d1 != NULL);
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
    FUZZ_CHECK(d2 != NULL);
    unsigned char mac[EVP_MAX_MD_SIZE], sig[JWT_MAX_BYTES];
    unsigned maclen = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)(sizeof(secret) - 1), (const unsigned char *)tok,
                    (size_t)(d2 - tok), mac, &maclen) != NULL);
    long siglen = dec(d2 + 1, len - (size_t)(d2 + 1 - tok), sig);
    FUZZ_CHECK(siglen == (long)maclen && memcmp(sig, mac, maclen) == 0);
    unsigned char hdr[JWT_MAX_BYTES];
    long hlen = dec(tok, (size_t)(d1 - tok), hdr);
    FUZZ_CHECK(hlen >= 0);
    cJSON *h = cJSON_ParseWithLength((const char *)hdr, (size_t)hlen);
    FUZZ_CHECK(h != NULL);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    FUZZ_CHECK(cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0);
    cJSON_Delete(h);
}

static void check_claims(const jwt_claims_t *c, const char *payload, size_t plen)
{
    FUZZ_CHECK(c->sub_len >= 1 && c->sub_len <= JWT_SUB_MAX && strlen(c->sub) == c->sub_len);
    FUZZ_CHECK(chan_name_valid(c->sub, c->sub_len));
    FUZZ_CHECK(c->exp + SKEW >= NOW);
    for (size_t i = 0; i < c->channels.count; i++)
        FUZZ_CHECK(c->channels.prefix[i] ||
                   chan_name_valid(c->channels.names[i], c->channels.lens[i]));
    if (payload == NULL)
        return;
    cJSON *p = cJSON_ParseWithLength(payload, plen);
    FUZZ_CHECK(p != NULL);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(p, "sub");
    FUZZ_CHECK(cJSON_IsString(sub) && strcmp(sub->valuestring, c->sub) == 0);
    cJSON_Delete(p);
}

static jwt_result_t verify(const char *tok, size_t len, jwt_claims_t *claims)
{
    char err[256];
    memset(err, 'x', sizeof(err));
    /* An exact-size copy: ASan sees any read past the token. */
    char *copy = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, tok, len);
    jwt_result_t r =
        jwt_verify(copy, len, secret, sizeof(secret) - 1, NOW, SKEW, claims, err, sizeof(err));
    free(copy);
    FUZZ_CHECK((unsigned)r <= JWT_TOO_LARGE);
    FUZZ_CHECK(jwt_code(r) != NULL);
    if (r != JWT_OK) {
        /* The reason: one line (err is left alone on success). */
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && strchr(err, '\n') == NULL);
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(claims->channels.count == 0 && claims->channels.names == NULL);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] % 3;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    jwt_claims_t claims;

    if (mode == 0) {
        jwt_result_t r = verify(in, len, &claims);
        if (r == JWT_OK) {
            check_ok(in, len);
            check_claims(&claims, NULL, 0);
        }
        jwt_claims_free(&claims);
        jwt_claims_free(&claims);
        return 0;
    }

    /* Modes 1 and 2: encode and sign. */
    unsigned char flip_at = 0, flip_to = 0;
    if (mode == 2) {
        if (len < 2)
            return 0;
        flip_at = (unsigned char)in[len - 2];
        flip_to = (unsigned char)in[len - 1];
        len -= 2;
    }
    const char *nul = memchr(in, '\0', len);
    const char *hdr = in, *pay = nul != NULL ? nul + 1 : in + len;
    size_t hl = nul != NULL ? (size_t)(nul - in) : len;
    size_t pl = (size_t)(in + len - pay);
    char *tok = malloc((hl + pl) / 3 * 4 + 64 + 2);
    FUZZ_CHECK(tok != NULL);
    size_t t = enc((const unsigned char *)hdr, hl, tok);
    tok[t++] = '.';
    t += enc((const unsigned char *)pay, pl, tok + t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)(sizeof(secret) - 1), (unsigned char *)tok, t, mac,
                    &maclen) != NULL);
    size_t signed_len = t;
    tok[t++] = '.';
    t += enc(mac, maclen, tok + t);

    if (mode == 2) {
        size_t at = flip_at % signed_len;
        if (tok[at] == (char)flip_to)
            flip_to ^= 1;
        tok[at] = (char)flip_to;
    }
    jwt_result_t r = verify(tok, t, &claims);
    if (mode == 1)
        FUZZ_CHECK(r != JWT_BAD_SIGNATURE || t > JWT_MAX_BYTES);
    else
        FUZZ_CHECK(r != JWT_OK);
    if (r == JWT_OK) {
        check_ok(tok, t);
        check_claims(&claims, pay, pl);
    }
    jwt_claims_free(&claims);
    jwt_claims_free(&claims);
    free(tok);
    return 0;
}
