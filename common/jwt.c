/* HS256 JWT verification: OpenSSL's HMAC and constant-time compare,
 * base64url through OpenSSL's decoder, JSON through cJSON. The signature is
 * checked before any claim is believed; only HS256 is accepted, so neither
 * "none" nor an algorithm swap can pass. */
#include "jwt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static const char *const jwt_codes[] = {
    "ok",           "token_malformed",     "token_algorithm", "token_signature",
    "token_expired", "token_not_yet_valid", "token_claims",    "token_too_large"};

const char *jwt_code(jwt_result_t r)
{
    return (unsigned)r < sizeof(jwt_codes) / sizeof(jwt_codes[0]) ? jwt_codes[r] : "token_invalid";
}

void jwt_claims_free(jwt_claims_t *claims)
{
    chanlist_free(&claims->channels);
    memset(&claims->channels, 0, sizeof(claims->channels));
}

/* Decodes base64url without padding (len bytes) into a new buffer; *outlen
 * is its size. NULL when a byte is outside the alphabet, the length is
 * impossible, or memory is short. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    size_t pad = (4 - len % 4) % 4;
    char *std = malloc(len + pad + 1);
    unsigned char *out = malloc((len + pad) / 4 * 3 + 1);
    if (std == NULL || out == NULL)
        goto fail;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto fail; /* '+', '/', '=' and anything else are not base64url */
        std[i] = c;
    }
    /* The last character's unused bits must be zero: one spelling per
     * value, so a signature cannot be reworded. */
    if (len % 4 >= 2) {
        char last = std[len - 1];
        int v = last >= 'A' && last <= 'Z'   ? last - 'A'
                : last >= 'a' && last <= 'z' ? last - 'a' + 26
                : last >= '0' && last <= '9' ? last - '0' + 52
                : last == '+'                ? 62
                                             : 63;
        if ((v & (len % 4 == 2 ? 0x0f : 0x03)) != 0)
            goto fail;
    }
    memset(std + len, '=', pad);
    int n = EVP_DecodeBlock(out, (const unsigned char *)std, (int)(len + pad));
    if (n < 0)
        goto fail;
    free(std);
    *outlen = (size_t)n - pad; /* EVP_DecodeBlock counts the padding's zero bytes */
    return out;
fail:
    free(std);
    free(out);
    return NULL;
}

/* Decodes one part into a JSON object; NULL unless it is exactly one. */
static cJSON *part_json(const char *s, size_t len)
{
    size_t n;
    unsigned char *raw = b64url_decode(s, len, &n);
    if (raw == NULL)
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)raw, n, &end, 0);
    if (j != NULL && (!cJSON_IsObject(j) || end != (const char *)raw + n)) {
        cJSON_Delete(j);
        j = NULL;
    }
    free(raw);
    return j;
}

/* A NumericDate claim: 1 with *out when present and a finite number, 0 when
 * absent, -1 when of another kind. */
static int numeric_date(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 9e15)
        return -1;
    *out = (int64_t)floor(v->valuedouble);
    return 1;
}

/* Reads sub and channels into claims; -1 with the reason in err. */
static int read_grants(const cJSON *payload, jwt_claims_t *claims, char *err, size_t errlen)
{
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(payload, "sub");
    if (!cJSON_IsString(sub) || !chan_name_valid(sub->valuestring, strlen(sub->valuestring))) {
        text_errf(err, errlen, "sub must be a client id of 1 to %d characters of [A-Za-z0-9_.:-]",
                  JWT_SUB_MAX);
        return -1;
    }
    claims->sub_len = strlen(sub->valuestring);
    memcpy(claims->sub, sub->valuestring, claims->sub_len + 1);

    const cJSON *chans = cJSON_GetObjectItemCaseSensitive(payload, "channels");
    if (!cJSON_IsArray(chans)) {
        text_errf(err, errlen, "channels must be an array of channel names");
        return -1;
    }
    /* One comma-separated list, parsed by the allowlist's own rules. */
    size_t cap = 1, used = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, chans)
    {
        if (!cJSON_IsString(c) || strchr(c->valuestring, ',') != NULL) {
            text_errf(err, errlen, "channels must be an array of channel names");
            return -1;
        }
        cap += strlen(c->valuestring) + 1;
    }
    char *list = malloc(cap);
    if (list == NULL) {
        text_errf(err, errlen, "out of memory");
        return -1;
    }
    list[0] = '\0';
    cJSON_ArrayForEach(c, chans)
    {
        size_t n = strlen(c->valuestring);
        if (used > 0)
            list[used++] = ',';
        memcpy(list + used, c->valuestring, n + 1);
        used += n;
    }
    char why[256];
    int r = used == 0 ? 0 : chanlist_parse(&claims->channels, list, why, sizeof(why));
    free(list);
    if (r != 0) {
        text_errf(err, errlen, "channels: %s", why);
        return -1;
    }
    return 0;
}

jwt_result_t jwt_verify(const char *token, size_t len, const void *secret, size_t secret_len,
                        int64_t now, int64_t skew, jwt_claims_t *claims, char *err, size_t errlen)
{
    cJSON *header = NULL, *payload = NULL;
    unsigned char *sig = NULL;
    jwt_result_t res = JWT_MALFORMED;
    memset(claims, 0, sizeof(*claims));
    if (len > JWT_MAX_BYTES) {
        text_errf(err, errlen, "token longer than %d bytes", JWT_MAX_BYTES);
        return JWT_TOO_LARGE;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        text_errf(err, errlen, "a token is three base64url parts separated by dots");
        return JWT_MALFORMED;
    }
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);

    header = part_json(token, hlen);
    if (header == NULL) {
        text_errf(err, errlen, "the header is not base64url-encoded JSON");
        goto out;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
        text_errf(err, errlen, "alg must be HS256");
        res = JWT_BAD_ALG;
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL) {
        text_errf(err, errlen, "no crit header extension is supported");
        res = JWT_BAD_ALG;
        goto out;
    }

    size_t siglen;
    sig = b64url_decode(dot2 + 1, slen, &siglen);
    if (sig == NULL) {
        text_errf(err, errlen, "the signature is not base64url");
        goto out;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token, hlen + 1 + plen,
             mac, &maclen) == NULL) {
        text_errf(err, errlen, "HMAC failed");
        res = JWT_BAD_SIGNATURE;
        goto out;
    }
    if (siglen != maclen || CRYPTO_memcmp(sig, mac, maclen) != 0) {
        text_errf(err, errlen, "the signature does not match");
        res = JWT_BAD_SIGNATURE;
        goto out;
    }

    /* Signed by the app: now the claims are worth reading. */
    payload = part_json(dot1 + 1, plen);
    if (payload == NULL) {
        text_errf(err, errlen, "the payload is not base64url-encoded JSON");
        goto out;
    }
    int64_t exp, nbf, iat;
    int has_exp = numeric_date(payload, "exp", &exp);
    int has_nbf = numeric_date(payload, "nbf", &nbf);
    int has_iat = numeric_date(payload, "iat", &iat);
    if (has_exp != 1 || has_nbf < 0 || has_iat < 0) {
        text_errf(err, errlen, "exp is required and exp, nbf, iat must be NumericDates");
        res = JWT_BAD_CLAIMS;
        goto out;
    }
    if (now > exp + skew) {
        text_errf(err, errlen, "the token expired");
        res = JWT_EXPIRED;
        goto out;
    }
    if ((has_nbf && nbf > now + skew) || (has_iat && iat > now + skew)) {
        text_errf(err, errlen, "the token is not valid yet");
        res = JWT_NOT_YET_VALID;
        goto out;
    }
    if (read_grants(payload, claims, err, errlen) != 0) {
        jwt_claims_free(claims);
        res = JWT_BAD_CLAIMS;
        goto out;
    }
    claims->exp = exp;
    res = JWT_OK;
out:
    cJSON_Delete(header);
    cJSON_Delete(payload);
    free(sig);
    return res;
}
