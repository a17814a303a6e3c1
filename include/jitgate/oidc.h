/*
 * oidc.h - the organisation's OpenID provider: who is calling.
 *
 * jitgate owns the provider's signing keys: it fetches the JWKS named by
 * discovery, keeps it, and refetches only when a token names a key id it
 * does not know - at most once per oidc.jwks_min_refresh_seconds, whoever
 * sends what, from whichever address - and keeps the keys it has while the
 * provider is down.  Each key is handed to liboauth2's `jwk` verifier, so
 * liboauth2 checks signatures but never fetches anything itself.
 *
 * liboauth2 1.4.5 checks the signature, iat and (when told) exp, nothing
 * else, so every other claim is checked here: iss exactly, aud, nbf, exp
 * with a leeway, the token type, for access tokens azp/client_id (one of
 * oidc.allowed_clients; a token naming neither is refused), and for ID
 * tokens azp and nonce.  The claims are jitgate's own parse of the signed
 * bytes, with duplicate keys refused (liboauth2's parse, which keeps one of
 * the values, is not used), in the header too.  alg "none" and HMAC
 * algorithms are refused before any key is touched, and a key is only used
 * with an algorithm of its own type.
 *
 * Thread-safe.
 */
#ifndef JITGATE_OIDC_H
#define JITGATE_OIDC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/config.h"

#define JG_OIDC_MAX_TOKEN      8192 /* bytes in a bearer or ID token */
#define JG_IDENTITY_MAX_GROUPS 128

struct jg_oidc;

struct jg_identity {
	char sub[256];
	char email[256];
	char name[256];
	char *groups[JG_IDENTITY_MAX_GROUPS]; /* owned strings */
	size_t ngroups;
	char via[16];	 /* "bearer" or "session" */
	int64_t expires; /* Unix seconds: token exp or session end */
	/*
	 * Unix seconds: when this authentication was issued (the token's iat,
	 * or the session's sign-in), never when it is used; 0 when unknown (a
	 * token without iat).  Orders the groups seen (session.h).
	 */
	int64_t issued_at;
};

/* Prepares a provider from cfg (no network yet).  NULL issuer: JG_ENOTFOUND. */
int jg_oidc_new(const struct jg_config *cfg, struct jg_oidc **out, char *err, size_t errlen);
void jg_oidc_free(struct jg_oidc *o);

/*
 * Fetches discovery and the JWKS now (start-up).  Failure is not fatal:
 * verification retries, rate-limited.  Returns 0, JG_EUNAVAIL or JG_EPARSE.
 */
int jg_oidc_refresh(struct jg_oidc *o);

/*
 * Takes the keys of a JWKS document (buf, len) as if just fetched: no
 * refetch for unknown kids within oidc.jwks_min_refresh.  For tests and
 * fuzzing, which verify without a provider.  Returns 0 or JG_EPARSE.
 */
int jg_oidc_set_jwks(struct jg_oidc *o, const char *jwks, size_t len);

/*
 * Verifies a bearer access token (typ at+jwt, aud = oidc.audience, azp and
 * client_id, those present, in oidc.allowed_clients) and fills *id.  A key
 * id not known yet may refetch the JWKS (see above).  Returns 0;
 * JG_EDENIED with a reason in why (answer 401); JG_EUNAVAIL when no key
 * could ever be obtained (answer 503).
 */
int jg_oidc_verify_access_token(struct jg_oidc *o, const char *token, struct jg_identity *id,
				char *why, size_t whylen) __attribute__((warn_unused_result));

/* Verifies an ID token for oidc.client_id with the expected nonce. */
int jg_oidc_verify_id_token(struct jg_oidc *o, const char *token, const char *nonce,
			    struct jg_identity *id, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The authorization request URL for the browser login (caller frees). */
int jg_oidc_authorization_url(struct jg_oidc *o, const char *redirect_uri, const char *state,
			      const char *nonce, const char *code_challenge, char **url);

/*
 * Redeems an authorization code at the token endpoint; *id_token (caller
 * frees) is unverified.  JG_EDENIED when the provider refuses the code,
 * JG_EUNAVAIL when it cannot be reached.
 */
int jg_oidc_redeem_code(struct jg_oidc *o, const char *code, const char *redirect_uri,
			const char *code_verifier, char **id_token, char *why, size_t whylen);

/* The configured issuer (exact). */
const char *jg_oidc_issuer(const struct jg_oidc *o);

/* Number of JWKS fetches attempted so far (for metrics and tests). */
uint64_t jg_oidc_jwks_fetches(struct jg_oidc *o);

/* Releases the group strings of id and zeroes it. */
void jg_identity_clear(struct jg_identity *id);
/* {sub,email,name,groups,authenticated_via,expires_at} */
json_t *jg_identity_to_json(const struct jg_identity *id);
/* True when id is in one of the NULL-terminated groups. */
int jg_identity_in_groups(const struct jg_identity *id, char *const *groups);

#endif
