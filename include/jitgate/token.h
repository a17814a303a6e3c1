/*
 * token.h - capability tokens: ES256 JWTs that the guarded endpoints accept.
 *
 * Issued with libjwt; verified here with OpenSSL EVP on keys parsed once per
 * kid, never through jwt_decode() (which takes the algorithm from the token,
 * skips verification for a NULL key, compares alg case-insensitively,
 * validates no claim, and re-parses the PEM key on every call).  The header
 * is parsed first and must be exactly {"alg":"ES256","typ":"JWT","kid":k}
 * with k a key jitgate publishes; the signature is the raw r||s of JWS,
 * turned into DER for EVP_DigestVerify; then every claim is checked with
 * its JSON type.  docs/tokens.md specifies the format for third parties.
 */
#ifndef JITGATE_TOKEN_H
#define JITGATE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/keys.h"
#include "jitgate/policy.h"

#define JG_TOKEN_MAX	4096 /* bytes in a capability token */
#define JG_TOKEN_USE	"jitgate-capability"
#define JG_TOKEN_LEEWAY 30 /* seconds of clock skew on nbf/exp */

struct jg_token_keys;

/* Loads every token key of key_dir (the newest signs); kids are RFC 7638 thumbprints. */
int jg_token_keys_load(const char *key_dir, struct jg_token_keys **out, char *err, size_t errlen);
void jg_token_keys_free(struct jg_token_keys *k);

/* The public JWKS {"keys":[...]} of every key (so tokens of older keys stay verifiable). */
json_t *jg_token_jwks(const struct jg_token_keys *k);

struct jg_token_claims {
	char iss[256];
	char sub[256];
	char aud[64]; /* the service */
	char jti[64];
	char grant[64];
	int64_t iat, nbf, exp;
	char caps[8][16];
	size_t ncaps;
	uint64_t audit_seq;
	uint8_t audit_hash[32];
	char kid[64];
	/* the grant's probe budget (claim probe_budget, present when a member is set; 0: none);
	   what it tells the holder: the server counts against the grant's own */
	struct jg_policy_probe_budget probe_budget;
};

/*
 * Signs claims with the newest key; *token is the caller's.  iss, sub, aud,
 * jti, grant, caps, iat/nbf/exp and the audit anchor come from c.
 */
int jg_token_issue(const struct jg_token_keys *k, const struct jg_token_claims *c, char **token);

/*
 * Verifies token for service at time now and fills *c: signature by a
 * known key, iss == issuer, aud == service, token_use, nbf/exp within
 * JG_TOKEN_LEEWAY, every claim of the right type.  The grant's state and
 * the audit anchor are the guard's to check.  JG_EDENIED with why.
 */
int jg_token_verify(const struct jg_token_keys *k, const char *token, const char *issuer,
		    const char *service, int64_t now, struct jg_token_claims *c, char *why,
		    size_t whylen) __attribute__((warn_unused_result));

/*
 * The two halves of jg_token_verify: the signature, header and claim types
 * (the costly part, cached by token_cache.h), then the claims that depend on
 * the caller and the time (iss, aud, nbf, exp), checked on every call.
 */
int jg_token_verify_signed(const struct jg_token_keys *k, const char *token,
			   struct jg_token_claims *c, char *why, size_t whylen)
    __attribute__((warn_unused_result));
int jg_token_check_claims(const struct jg_token_claims *c, const char *issuer, const char *service,
			  int64_t now, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/*
 * The data of the token.issued entry that records c's issuance (the entry
 * the token's `audit` claim anchors it to): {"capabilities": c's, sorted
 * and without repeats, "exp", "grant", "jti", "service": c->aud}.  NULL when
 * out of memory; the caller decrefs.
 */
json_t *jg_token_issued_data(const struct jg_token_claims *c);

/*
 * Whether entry (a parsed audit entry) records the issuance of the token
 * whose claims are c: a token.issued entry by "user:" + sub whose data's
 * jti, grant, service, exp and capabilities are c's (capabilities as a set;
 * c may not repeat one).  0, or JG_EDENIED with why.  An issuance recorded
 * before the capabilities were (no data.capabilities) is refused too: its
 * token must be replaced by a new one.
 */
int jg_token_issuance_check(const json_t *entry, const struct jg_token_claims *c, char *why,
			    size_t whylen) __attribute__((warn_unused_result));

/* Decodes header and payload without verifying (for `jitgate token inspect`). */
int jg_token_decode_unverified(const char *token, json_t **header, json_t **payload);

#endif
