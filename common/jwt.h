/* HS256 JSON Web Tokens: the identity and channel grants the Flask app
 * signs for a browser (see scripts/sse_publish.py make_token). */
#ifndef SSE_JWT_H
#define SSE_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "chanlist.h"

#define JWT_MAX_BYTES 16384 /* no token longer than this is even looked at */
#define JWT_SUB_MAX 128     /* a client id, like a channel name */

typedef enum {
    JWT_OK = 0,
    JWT_MALFORMED,     /* not three base64url parts of JSON objects */
    JWT_BAD_ALG,       /* alg is not HS256 (none, HS512, RS256...), or crit is set */
    JWT_BAD_SIGNATURE, /* the HMAC does not match */
    JWT_EXPIRED,       /* exp (plus the skew) is past */
    JWT_NOT_YET_VALID, /* nbf or iat (minus the skew) is in the future */
    JWT_BAD_CLAIMS,    /* sub, channels or exp missing or of the wrong kind */
    JWT_TOO_LARGE      /* longer than JWT_MAX_BYTES */
} jwt_result_t;

typedef struct jwt_claims_s {
    char sub[JWT_SUB_MAX + 1]; /* the client id, a valid channel-like name */
    size_t sub_len;            /* bytes in sub */
    chanlist_t channels;       /* the grants: names and "prefix*" families (owned) */
    int64_t exp;               /* expiry, seconds since the epoch */
} jwt_claims_t;

/* Verifies token (len bytes) against secret: the header must say HS256, the
 * signature must match (compared in constant time) and only then are the
 * claims read: sub (client id), channels (array of names or "prefix*"),
 * exp, and optional nbf and iat, checked against now (seconds) with skew
 * seconds of tolerance. On JWT_OK, claims is filled and must be released
 * with jwt_claims_free; on any other result it holds nothing to free. A
 * one-line reason goes into err (never any part of the token). */
jwt_result_t jwt_verify(const char *token, size_t len, const void *secret, size_t secret_len,
                        int64_t now, int64_t skew, jwt_claims_t *claims, char *err, size_t errlen);

/* The error code for a result, e.g. "token_expired" (for JSON errors). */
const char *jwt_code(jwt_result_t r);

/* Frees what jwt_verify put in claims; safe on a zeroed struct and twice. */
void jwt_claims_free(jwt_claims_t *claims);

#endif
