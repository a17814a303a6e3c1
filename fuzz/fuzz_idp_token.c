/*
 * fuzz_idp_token.c - tokens from the identity provider before and around
 * verification (oidc.c: the header checks, liboauth2/cjose parsing the
 * JWS, the claim checks), and the provider's JWKS document.  An ES256 key
 * is made at start-up and handed over with jg_oidc_set_jwks(), so nothing
 * is fetched.
 *
 * The first input byte picks what the rest is:
 *   'T' the whole token text (bearer access token and ID token);
 *   'P' the claims, signed here under {"alg":"ES256","kid":"k1","typ":"at+jwt"}
 *       - so the claim checks after the signature are reached;
 *   'H' the header, signed here over fixed valid claims;
 *   'J' a JWKS document for a fresh provider, then a valid token.
 * Anything else is treated as 'T' (with the byte kept).
 *
 * Beyond memory safety: only tokens signed here verify, and a token that
 * verifies really carries the configured issuer, an audience that
 * includes ours, an unexpired exp and a subject.
 */
#include <openssl/core_names.h>
#include <time.h>

#include "fuzz_common.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/oidc.h"

#define ISSUER "http://127.0.0.1:9" /* port 9: nothing answers an unexpected fetch */
#define AUD    "https://jitgate.example.com"
#define NONCE  "n-0S6_WzA2Mj"

static const char cfg_text[] = "public_url: \"" AUD "\"\n"
			       "tls: {cert_file: c.pem, key_file: k.pem}\n"
			       "database: {url: \"sqlite://j.db\"}\n"
			       "oidc:\n"
			       "  issuer: \"" ISSUER "\"\n"
			       "  client_id: jitgate\n"
			       "  allowed_clients: [jitgate, jitgate-cli]\n"
			       "  jwks_min_refresh_seconds: 3600\n";

static struct jg_config *cfg;
static struct jg_oidc *oidc;
static EVP_PKEY *key;
static char jwks[1024];
static const char header[] = "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}";
static char valid_claims[512];

static char *
coord(const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char raw[32];
	if (EVP_PKEY_get_bn_param(key, name, &bn) != 1 || BN_bn2binpad(bn, raw, 32) != 32)
		abort();
	BN_free(bn);
	return fuzz_b64url(raw, 32);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if ((key = EVP_EC_gen("P-256")) == NULL)
		abort();
	char *x = coord(OSSL_PKEY_PARAM_EC_PUB_X), *y = coord(OSSL_PKEY_PARAM_EC_PUB_Y);
	snprintf(jwks, sizeof(jwks),
		 "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"alg\":\"ES256\","
		 "\"kid\":\"k1\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		 x, y);
	free(x);
	free(y);
	if (jg_config_parse(cfg_text, strlen(cfg_text), "fuzz.yaml", "/srv", &cfg, err,
			    sizeof(err)) != 0 ||
	    jg_oidc_new(cfg, &oidc, err, sizeof(err)) != 0 ||
	    jg_oidc_set_jwks(oidc, jwks, strlen(jwks)) != 0) {
		fprintf(stderr, "fuzz_idp_token: %s\n", err);
		abort();
	}
	snprintf(valid_claims, sizeof(valid_claims),
		 "{\"iss\":\"" ISSUER "\",\"aud\":[\"" AUD "\",\"jitgate\"],\"azp\":\"jitgate\","
		 "\"sub\":\"alice\",\"exp\":%lld,\"iat\":%lld,\"nonce\":\"" NONCE "\","
		 "\"groups\":[\"payments-eng\"]}",
		 (long long)time(NULL) + 3600, (long long)time(NULL) - 10);
	return 0;
}

/* azp and client_id, those present, name a client of oidc.allowed_clients; one is present. */
static int
client_ok(json_t *p)
{
	json_t *azp = json_object_get(p, "azp"), *cid = json_object_get(p, "client_id");
	int n = 0;
	json_t *c[2] = {azp, cid};
	for (int i = 0; i < 2; i++) {
		if (c[i] == NULL)
			continue;
		const char *v = json_string_value(c[i]);
		if (v == NULL || (strcmp(v, "jitgate") != 0 && strcmp(v, "jitgate-cli") != 0))
			return 0;
		n++;
	}
	return n > 0;
}

/* What a successful verification promises about the claims it read. */
static void
check_accepted(const char *claims, size_t len, const struct jg_identity *id, const char *aud)
{
	/* the signed bytes themselves, whole: one JSON object with no key twice */
	json_t *p = json_loadb(claims, len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(p != NULL);
	if (strcmp(aud, AUD) == 0) /* an access token */
		FUZZ_CHECK(client_ok(p));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(p, "iss")), ISSUER) == 0);
	json_t *a = json_object_get(p, "aud");
	int has = json_is_string(a) && strcmp(json_string_value(a), aud) == 0;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) has |=
	    json_is_string(v) && strcmp(json_string_value(v), aud) == 0;
	FUZZ_CHECK(has);
	FUZZ_CHECK(json_integer_value(json_object_get(p, "exp")) + 30 > (json_int_t)time(NULL));
	FUZZ_CHECK(id->sub[0] != '\0' && id->ngroups <= JG_IDENTITY_MAX_GROUPS);
	json_decref(p);
}

static void
verify_both(struct jg_oidc *o, const char *token, int signed_here, const char *claims,
	    size_t claims_len)
{
	struct jg_identity id = {0};
	char why[256] = "";

	int rc = jg_oidc_verify_access_token(o, token, &id, why, sizeof(why));
	FUZZ_CHECK(rc == 0 || rc == JG_EDENIED || rc == JG_EUNAVAIL);
	if (rc == 0) {
		FUZZ_CHECK(signed_here);
		if (claims)
			check_accepted(claims, claims_len, &id, AUD);
	} else {
		FUZZ_CHECK(why[0] != '\0');
	}
	jg_identity_clear(&id);
	rc = jg_oidc_verify_id_token(o, token, NONCE, &id, why, sizeof(why));
	FUZZ_CHECK(rc == 0 || rc == JG_EDENIED || rc == JG_EUNAVAIL);
	if (rc == 0) {
		FUZZ_CHECK(signed_here);
		if (claims)
			check_accepted(claims, claims_len, &id, "jitgate");
	}
	jg_identity_clear(&id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t mode = size > 0 ? data[0] : 0; /* the first byte picks the shape */
	const uint8_t *rest = data + (size > 0 ? 1 : 0);
	size_t n = size > 0 ? size - 1 : 0;
	char *token;

	switch (mode) {
	case 'P':
		token = fuzz_jws_es256(key, (const unsigned char *)header, strlen(header), rest, n);
		verify_both(oidc, token, 1, (const char *)rest, n);
		break;
	case 'H':
		token = fuzz_jws_es256(key, rest, n, (const unsigned char *)valid_claims,
				       strlen(valid_claims));
		verify_both(oidc, token, 1, valid_claims, strlen(valid_claims));
		break;
	case 'J': {
		struct jg_oidc *fresh = NULL;
		char err[256];
		FUZZ_CHECK(jg_oidc_new(cfg, &fresh, err, sizeof(err)) == 0);
		int rc = jg_oidc_set_jwks(fresh, (const char *)rest, n);
		FUZZ_CHECK(rc == 0 || rc == JG_EPARSE);
		token = fuzz_jws_es256(key, (const unsigned char *)header, strlen(header),
				       (const unsigned char *)valid_claims, strlen(valid_claims));
		verify_both(fresh, token, 1, valid_claims, strlen(valid_claims));
		jg_oidc_free(fresh);
		break;
	}
	default:
		token = fuzz_cstr(mode == 'T' ? rest : data, mode == 'T' ? n : size);
		verify_both(oidc, token, 0, NULL, 0);
		break;
	}
	free(token);
	return 0;
}
