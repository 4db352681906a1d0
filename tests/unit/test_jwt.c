/* Unit tests for HS256 token verification: the RFC 7515 A.1 vector, then
 * tokens built here (base64url + HMAC) with one thing wrong at a time. */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "run_suite.h"

#define NOW 1800000000LL
#define SKEW 30
static const char SECRET[] = "0123456789abcdef0123456789abcdef-test-secret";

/* base64url without padding of n bytes into out. */
static size_t b64url(const void *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = '\0';
    return (size_t)len;
}

/* header.payload.signature, signed with secret using md (EVP_sha256()...). */
static char *token_md(const char *header, const char *payload, const char *secret, const EVP_MD *md)
{
    static char buf[8192];
    size_t n = b64url(header, strlen(header), buf);
    buf[n++] = '.';
    n += b64url(payload, strlen(payload), buf + n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen;
    HMAC(md, secret, (int)strlen(secret), (unsigned char *)buf, n, mac, &maclen);
    buf[n++] = '.';
    b64url(mac, maclen, buf + n);
    return buf;
}

static char *token(const char *payload)
{
    return token_md("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET, EVP_sha256());
}

static jwt_result_t verify(const char *tok, jwt_claims_t *c)
{
    char err[256];
    jwt_result_t r = jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET), NOW, SKEW, c, err,
                                sizeof(err));
    ck_assert_msg(r == JWT_OK || err[0] != '\0', "no reason for %d", r);
    ck_assert_ptr_null(strchr(err, '\n'));
    return r;
}

#define GOOD "{\"sub\":\"user-42\",\"channels\":[\"summary_progress\",\"user:42:*\"],\"exp\":1800000600}"

START_TEST(rfc7515_a1_vector_passes_the_signature_then_lacks_our_claims)
{
    static const char key_hex[] =
        "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebfd3fb5a92d20647ef968ab4c377623"
        "d223d2e2172052e4f08c0cd9af567d080a3";
    unsigned char key[64];
    for (int i = 0; i < 64; i++)
        sscanf(key_hex + 2 * i, "%2hhx", &key[i]);
    const char *tok = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
                      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    jwt_claims_t c;
    char err[256];
    /* At the vector's own time the signature and exp pass; no sub follows. */
    ck_assert_int_eq(jwt_verify(tok, strlen(tok), key, sizeof(key), 1300819000, 0, &c, err, sizeof(err)),
                     JWT_BAD_CLAIMS);
    key[0] ^= 1;
    ck_assert_int_eq(jwt_verify(tok, strlen(tok), key, sizeof(key), 1300819000, 0, &c, err, sizeof(err)),
                     JWT_BAD_SIGNATURE);
}
END_TEST

START_TEST(valid_token_gives_the_client_id_the_grants_and_the_expiry)
{
    jwt_claims_t c;
    ck_assert_int_eq(verify(token(GOOD), &c), JWT_OK);
    ck_assert_str_eq(c.sub, "user-42");
    ck_assert_uint_eq(c.sub_len, 7);
    ck_assert_int_eq(c.exp, 1800000600);
    ck_assert(chanlist_allows(&c.channels, "summary_progress", 16));
    ck_assert(chanlist_allows(&c.channels, "user:42:jobs", 12));
    ck_assert(!chanlist_allows(&c.channels, "user:43:jobs", 12));
    ck_assert(!chanlist_allows(&c.channels, "summary_complete", 16));
    jwt_claims_free(&c);
    jwt_claims_free(&c);
}
END_TEST

START_TEST(expiry_is_checked_with_the_skew)
{
    jwt_claims_t c;
    ck_assert_int_eq(verify(token("{\"sub\":\"a\",\"channels\":[],\"exp\":1799999971}"), &c), JWT_OK);
    jwt_claims_free(&c);
    ck_assert_int_eq(verify(token("{\"sub\":\"a\",\"channels\":[],\"exp\":1799999969}"), &c),
                     JWT_EXPIRED);
    ck_assert_int_eq(verify(token("{\"sub\":\"a\",\"channels\":[],\"exp\":1799999000.5}"), &c),
                     JWT_EXPIRED);
}
END_TEST

START_TEST(nbf_and_iat_in_the_future_are_not_valid_yet)
{
    jwt_claims_t c;
    ck_assert_int_eq(
        verify(token("{\"sub\":\"a\",\"channels\":[],\"exp\":1800000600,\"nbf\":1800000031}"), &c),
        JWT_NOT_YET_VALID);
    ck_assert_int_eq(
        verify(token("{\"sub\":\"a\",\"channels\":[],\"exp\":1800000600,\"iat\":1800000100}"), &c),
        JWT_NOT_YET_VALID);
    ck_assert_int_eq(verify(token("{\"sub\":\"a\",\"channels\":[],\"exp\":1800000600,"
                                  "\"nbf\":1800000030,\"iat\":1799999000}"),
                            &c),
                     JWT_OK);
    jwt_claims_free(&c);
}
END_TEST

START_TEST(a_wrong_secret_or_a_changed_part_breaks_the_signature)
{
    jwt_claims_t c;
    char *t = token_md("{\"alg\":\"HS256\"}", GOOD, "another secret entirely, also long", EVP_sha256());
    ck_assert_int_eq(verify(t, &c), JWT_BAD_SIGNATURE);
    /* Same signature, payload granting more: the HMAC covers it. */
    char good[8192], evil[8192];
    strcpy(good, token(GOOD));
    strcpy(evil, token("{\"sub\":\"user-42\",\"channels\":[\"*\"],\"exp\":1800000600}"));
    char *gsig = strrchr(good, '.'), *esig = strrchr(evil, '.');
    strcpy(esig, gsig);
    ck_assert_int_eq(verify(evil, &c), JWT_BAD_SIGNATURE);
    /* The signature cut short, or one byte changed. */
    good[strlen(good) - 5] = good[strlen(good) - 5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(good, &c), JWT_BAD_SIGNATURE);
    strcpy(good, token(GOOD));
    good[strlen(good) - 3] = '\0'; /* 40 characters: 30 bytes, no spare bits */
    ck_assert_int_eq(verify(good, &c), JWT_BAD_SIGNATURE);
}
END_TEST

START_TEST(a_signature_spelled_with_nonzero_spare_bits_is_refused)
{
    jwt_claims_t c;
    char t[8192];
    strcpy(t, token(GOOD));
    /* 32 bytes are 43 characters: the last one has 2 spare bits. */
    size_t n = strlen(t);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alphabet, t[n - 1]) - alphabet);
    ck_assert_int_eq(v & 3, 0);
    ck_assert_int_eq(verify(t, &c), JWT_OK);
    jwt_claims_free(&c);
    for (int spare = 1; spare < 4; spare++) {
        t[n - 1] = alphabet[v | spare];
        ck_assert_msg(verify(t, &c) != JWT_OK, "spare bits %d accepted", spare);
    }
}
END_TEST

START_TEST(only_hs256_is_accepted)
{
    jwt_claims_t c;
    char none[8192];
    /* alg none with an empty signature, as an attacker would send it. */
    strcpy(none, token_md("{\"alg\":\"none\"}", GOOD, SECRET, EVP_sha256()));
    strrchr(none, '.')[1] = '\0';
    ck_assert_int_eq(verify(none, &c), JWT_BAD_ALG);
    ck_assert_int_eq(verify(token_md("{\"alg\":\"HS512\"}", GOOD, SECRET, EVP_sha512()), &c),
                     JWT_BAD_ALG);
    ck_assert_int_eq(verify(token_md("{\"alg\":\"hs256\"}", GOOD, SECRET, EVP_sha256()), &c),
                     JWT_BAD_ALG);
    ck_assert_int_eq(verify(token_md("{\"typ\":\"JWT\"}", GOOD, SECRET, EVP_sha256()), &c),
                     JWT_BAD_ALG);
    ck_assert_int_eq(
        verify(token_md("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", GOOD, SECRET, EVP_sha256()), &c),
        JWT_BAD_ALG);
}
END_TEST

START_TEST(malformed_tokens_are_refused)
{
    static const char *const bad[] = {"",      ".",    "..",    "a.b",  "a.b.c.d", "e30.e30.",
                                      "***.e30.AAAA", "e30=.e30.AAAA", "eyJhbGciOiJIUzI1NiJ9x.e30.AAAA"};
    jwt_claims_t c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jwt_result_t r = verify(bad[i], &c);
        ck_assert_msg(r == JWT_MALFORMED || r == JWT_BAD_ALG, "'%s' gave %d", bad[i], r);
    }
    /* A header that is JSON but no object, and trailing bytes after it. */
    ck_assert_int_eq(verify(token_md("[1]", GOOD, SECRET, EVP_sha256()), &c), JWT_MALFORMED);
    ck_assert_int_eq(verify(token_md("{\"alg\":\"HS256\"} x", GOOD, SECRET, EVP_sha256()), &c),
                     JWT_MALFORMED);
    /* Signed, but the payload is not a JSON object. */
    ck_assert_int_eq(verify(token("\"just a string\""), &c), JWT_MALFORMED);
    /* '+' and '/' are base64, not base64url. */
    char t[8192];
    strcpy(t, token(GOOD));
    t[3] = '+';
    ck_assert_int_eq(verify(t, &c), JWT_MALFORMED);
}
END_TEST

START_TEST(missing_or_ill_typed_claims_are_refused)
{
    static const char *const bad[] = {
        "{\"channels\":[],\"exp\":1800000600}",
        "{\"sub\":\"\",\"channels\":[],\"exp\":1800000600}",
        "{\"sub\":\"a b\",\"channels\":[],\"exp\":1800000600}",
        "{\"sub\":42,\"channels\":[],\"exp\":1800000600}",
        "{\"sub\":\"a\",\"exp\":1800000600}",
        "{\"sub\":\"a\",\"channels\":\"x\",\"exp\":1800000600}",
        "{\"sub\":\"a\",\"channels\":[\"a,b\"],\"exp\":1800000600}",
        "{\"sub\":\"a\",\"channels\":[\"a b\"],\"exp\":1800000600}",
        "{\"sub\":\"a\",\"channels\":[1],\"exp\":1800000600}",
        "{\"sub\":\"a\",\"channels\":[\"x\",\"x\"],\"exp\":1800000600}",
        "{\"sub\":\"a\",\"channels\":[]}",
        "{\"sub\":\"a\",\"channels\":[],\"exp\":\"1800000600\"}",
        "{\"sub\":\"a\",\"channels\":[],\"exp\":1800000600,\"nbf\":\"0\"}",
        "{\"sub\":\"a\",\"channels\":[],\"exp\":-1}",
        "{\"sub\":\"a\",\"channels\":[],\"exp\":1e300}",
    };
    jwt_claims_t c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(verify(token(bad[i]), &c) == JWT_BAD_CLAIMS, "'%s' was accepted", bad[i]);
}
END_TEST

START_TEST(a_token_over_the_size_bound_is_not_even_parsed)
{
    char *t = malloc(JWT_MAX_BYTES + 2);
    memset(t, 'A', JWT_MAX_BYTES + 1);
    t[JWT_MAX_BYTES + 1] = '\0';
    jwt_claims_t c;
    ck_assert_int_eq(verify(t, &c), JWT_TOO_LARGE);
    free(t);
}
END_TEST

START_TEST(codes_name_every_result)
{
    ck_assert_str_eq(jwt_code(JWT_EXPIRED), "token_expired");
    ck_assert_str_eq(jwt_code(JWT_BAD_ALG), "token_algorithm");
    ck_assert_str_eq(jwt_code(JWT_BAD_SIGNATURE), "token_signature");
    ck_assert_str_eq(jwt_code(JWT_MALFORMED), "token_malformed");
    ck_assert_str_eq(jwt_code(JWT_TOO_LARGE), "token_too_large");
    ck_assert_str_eq(jwt_code((jwt_result_t)99), "token_invalid");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("verify");
    tcase_add_test(tc, rfc7515_a1_vector_passes_the_signature_then_lacks_our_claims);
    tcase_add_test(tc, valid_token_gives_the_client_id_the_grants_and_the_expiry);
    tcase_add_test(tc, expiry_is_checked_with_the_skew);
    tcase_add_test(tc, nbf_and_iat_in_the_future_are_not_valid_yet);
    tcase_add_test(tc, a_wrong_secret_or_a_changed_part_breaks_the_signature);
    tcase_add_test(tc, only_hs256_is_accepted);
    tcase_add_test(tc, a_signature_spelled_with_nonzero_spare_bits_is_refused);
    tcase_add_test(tc, malformed_tokens_are_refused);
    tcase_add_test(tc, missing_or_ill_typed_claims_are_refused);
    tcase_add_test(tc, a_token_over_the_size_bound_is_not_even_parsed);
    tcase_add_test(tc, codes_name_every_result);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
