/*
 * token.c - issue and verify capability tokens (see token.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/policy.h"
#include "jitgate/sha256.h"
#include "jitgate/token.h"

struct tkey {
	char kid[64];
	EVP_PKEY *pkey; /* parsed once */
	char *pem;	/* private PEM for libjwt (newest key only signs) */
	size_t pem_len;
	json_t *jwk; /* public JWK */
};

struct jg_token_keys {
	int n;
	struct tkey keys[JG_KEYS_MAX]; /* oldest first; keys[n-1] signs */
};

/* The public JWK and its RFC 7638 thumbprint (SHA-256 of {"crv","kty","x","y"}). */
static int
public_jwk(EVP_PKEY *pkey, json_t **jwk, char kid[64])
{
	uint8_t pub[65], md[JG_SHA256_LEN];
	char x[JG_B64URL_LEN(32) + 1], y[JG_B64URL_LEN(32) + 1];
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
					    sizeof(pub), &len) != 1 ||
	    len != 65 || pub[0] != 0x04)
		return JG_ECRYPTO;
	if (jg_b64url_encode(pub + 1, 32, x, sizeof(x)) != 0 ||
	    jg_b64url_encode(pub + 33, 32, y, sizeof(y)) != 0)
		return JG_ECRYPTO;
	json_t *thumb = json_pack("{s:s,s:s,s:s,s:s}", "crv", "P-256", "kty", "EC", "x", x, "y", y);
	char *canon = thumb ? json_dumps(thumb, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = JG_ECRYPTO;
	if (canon && jg_sha256(canon, strlen(canon), md) == 0 &&
	    jg_b64url_encode(md, sizeof(md), kid, 64) == 0) {
		*jwk = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x",
				 x, "y", y, "kid", kid, "alg", "ES256", "use", "sig");
		rc = *jwk ? 0 : JG_ENOMEM;
	}
	free(canon);
	json_decref(thumb);
	return rc;
}

int
jg_token_keys_load(const char *key_dir, struct jg_token_keys **out, char *err, size_t errlen)
{
	struct jg_keyring *ring = NULL;
	struct jg_token_keys *k;
	int rc;

	*out = NULL;
	if ((rc = jg_keys_load(key_dir, JG_KEY_TOKEN, &ring, err, errlen)) != 0)
		return rc;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		jg_keyring_free(ring);
		return JG_ENOMEM;
	}
	for (int i = 0; i < ring->n; i++) {
		struct tkey *t = &k->keys[i];
		t->pkey = ring->keys[i].pkey;
		ring->keys[i].pkey = NULL; /* transferred */
		k->n++;
		if ((rc = public_jwk(t->pkey, &t->jwk, t->kid)) != 0)
			break;
		if (i == ring->n - 1) {
			BIO *mem = BIO_new(BIO_s_secmem());
			char *data;
			if (mem &&
			    PEM_write_bio_PrivateKey(mem, t->pkey, NULL, NULL, 0, NULL, NULL)) {
				long len = BIO_get_mem_data(mem, &data);
				t->pem = OPENSSL_secure_malloc((size_t)len + 1);
				if (t->pem) {
					memcpy(t->pem, data, (size_t)len);
					t->pem[len] = '\0';
					t->pem_len = (size_t)len;
				}
			}
			BIO_free(mem);
			if (t->pem == NULL)
				rc = JG_ECRYPTO;
		}
	}
	jg_keyring_free(ring);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot prepare the token keys", key_dir);
		jg_token_keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void
jg_token_keys_free(struct jg_token_keys *k)
{
	if (k == NULL)
		return;
	for (int i = 0; i < k->n; i++) {
		EVP_PKEY_free(k->keys[i].pkey);
		json_decref(k->keys[i].jwk);
		if (k->keys[i].pem)
			OPENSSL_secure_clear_free(k->keys[i].pem, k->keys[i].pem_len + 1);
	}
	free(k);
}

json_t *
jg_token_jwks(const struct jg_token_keys *k)
{
	json_t *keys = json_array();
	for (int i = k->n - 1; keys && i >= 0; i--)
		json_array_append(keys, k->keys[i].jwk);
	return json_pack("{s:o}", "keys", keys);
}

int
jg_token_issue(const struct jg_token_keys *k, const struct jg_token_claims *c, char **token)
{
	const struct tkey *key = &k->keys[k->n - 1];
	jwt_t *jwt = NULL;
	char hash[65];
	json_t *claims, *caps = json_array();
	char *text = NULL;
	int rc = JG_ECRYPTO;

	*token = NULL;
	for (size_t i = 0; caps && i < c->ncaps; i++)
		json_array_append_new(caps, json_string(c->caps[i]));
	jg_hex32(c->audit_hash, hash);
	claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:o,s:s,s:{s:I,s:s}}", "iss", c->iss,
			   "sub", c->sub, "aud", c->aud, "iat", (json_int_t)c->iat, "nbf",
			   (json_int_t)c->nbf, "exp", (json_int_t)c->exp, "jti", c->jti, "grant",
			   c->grant, "caps", caps, "token_use", JG_TOKEN_USE, "audit", "seq",
			   (json_int_t)c->audit_seq, "hash", hash);
	if (claims != NULL &&
	    (c->probe_budget.max_probes > 0 || c->probe_budget.max_hits > 0 ||
	     c->probe_budget.max_bytes > 0) &&
	    json_object_set_new(claims, "probe_budget",
				jg_policy_probe_budget_json(&c->probe_budget)) != 0) {
		json_decref(claims);
		claims = NULL;
	}
	text = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
	json_decref(claims);
	if (text == NULL)
		return JG_ENOMEM;
	if (jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, text) == 0 &&
	    jwt_add_header(jwt, "kid", key->kid) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_ES256, (const unsigned char *)key->pem, (int)key->pem_len) ==
		0) {
		char *enc = jwt_encode_str(jwt);
		if (enc) {
			*token = strdup(enc);
			free(enc); /* libjwt 1.10 allocates with malloc */
			rc = *token ? 0 : JG_ENOMEM;
		}
	}
	jwt_free(jwt);
	free(text);
	return rc;
}

/*
 * One JWS part: strict base64url (codec.h: no padding, no stray bits), then
 * one JSON object with no key repeated.  NULL for anything else.
 */
static json_t *
b64url_json(const char *part, size_t len)
{
	uint8_t raw[JG_B64URL_DECODED_LEN(JG_TOKEN_MAX)];
	size_t raw_len = 0;
	if (len == 0 || len > JG_TOKEN_MAX ||
	    jg_b64url_decode(part, len, raw, sizeof(raw), &raw_len) != 0)
		return NULL;
	json_t *doc = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

int
jg_token_decode_unverified(const char *token, json_t **header, json_t **payload)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	*header = *payload = NULL;
	if (strlen(token) > JG_TOKEN_MAX || d2 == NULL)
		return JG_EPARSE;
	*header = b64url_json(token, (size_t)(d1 - token));
	*payload = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (*header && *payload)
		return 0;
	json_decref(*header);
	json_decref(*payload);
	*header = *payload = NULL;
	return JG_EPARSE;
}

static int
copy_str(json_t *p, const char *name, char *out, size_t len)
{
	json_t *v = json_object_get(p, name);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
get_int(json_t *p, const char *name, int64_t *out)
{
	json_t *v = json_object_get(p, name);
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

int
jg_token_verify_signed(const struct jg_token_keys *k, const char *token, struct jg_token_claims *c,
		       char *why, size_t whylen)
{
	const struct tkey *key = NULL;
	json_t *hdr = NULL, *p = NULL;
	uint8_t sig[64];
	size_t sig_len = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (strlen(token) > JG_TOKEN_MAX)
		return jg_errf(why, whylen, JG_EDENIED, "the token is longer than %d bytes",
			       JG_TOKEN_MAX);
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return jg_errf(why, whylen, JG_EDENIED, "the token is not a signed JWT");
	if ((hdr = b64url_json(token, (size_t)(d1 - token))) == NULL)
		return jg_errf(why, whylen, JG_EDENIED, "the token's header is malformed");
	/* exactly {"alg":"ES256","typ":"JWT","kid":...}: "none", "NoNe", HS256 all fail here */
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	const char *typ = json_string_value(json_object_get(hdr, "typ"));
	if (alg == NULL || strcmp(alg, "ES256") != 0) {
		rc = jg_errf(why, whylen, JG_EDENIED, "the token's algorithm must be ES256");
		goto out;
	}
	if (typ == NULL || strcmp(typ, "JWT") != 0 || json_object_size(hdr) != 3 || kid == NULL) {
		rc = jg_errf(why, whylen, JG_EDENIED,
			     "the token's header must be exactly alg, typ JWT and kid");
		goto out;
	}
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->keys[i].kid, kid) == 0)
			key = &k->keys[i];
	if (key == NULL) {
		rc = jg_errf(why, whylen, JG_EDENIED,
			     "the token is signed by a key jitgate does not publish");
		goto out;
	}
	/* signature: raw r||s (64 bytes) -> DER, verified over "header.payload" */
	if (jg_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig), &sig_len) != 0 ||
	    sig_len != 64) {
		rc = jg_errf(why, whylen, JG_EDENIED, "the token's signature is malformed");
		goto out;
	}
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len = -1;
	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL; /* owned by es */
		der_len = i2d_ECDSA_SIG(es, &der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = der_len > 0 && md &&
		 EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
		 EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)token,
				  (size_t)(d2 - token)) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	if (!ok) {
		rc = jg_errf(why, whylen, JG_EDENIED, "the token's signature does not verify");
		goto out;
	}
	if ((p = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL) {
		rc = jg_errf(why, whylen, JG_EDENIED, "the token's payload is malformed");
		goto out;
	}
	json_t *audit = json_object_get(p, "audit"), *caps = json_object_get(p, "caps");
	const char *use = json_string_value(json_object_get(p, "token_use"));
	const char *hash = json_string_value(json_object_get(audit, "hash"));
	json_t *seq = json_object_get(audit, "seq");
	if (copy_str(p, "iss", c->iss, sizeof(c->iss)) ||
	    copy_str(p, "sub", c->sub, sizeof(c->sub)) ||
	    copy_str(p, "aud", c->aud, sizeof(c->aud)) ||
	    copy_str(p, "jti", c->jti, sizeof(c->jti)) ||
	    copy_str(p, "grant", c->grant, sizeof(c->grant)) || get_int(p, "iat", &c->iat) ||
	    get_int(p, "nbf", &c->nbf) || get_int(p, "exp", &c->exp) || use == NULL ||
	    !json_is_array(caps) || json_array_size(caps) == 0 || json_array_size(caps) > 8 ||
	    !json_is_integer(seq) || json_integer_value(seq) < 0 || hash == NULL ||
	    jg_unhex32(hash, c->audit_hash) != 0) {
		rc = jg_errf(why, whylen, JG_EDENIED,
			     "the token's claims are missing or of the wrong type");
		goto out;
	}
	c->audit_seq = (uint64_t)json_integer_value(seq);
	json_t *budget = json_object_get(p, "probe_budget");
	if (budget != NULL && (!json_is_object(budget) ||
			       jg_policy_probe_budget_parse(budget, &c->probe_budget) != 0)) {
		rc =
		    jg_errf(why, whylen, JG_EDENIED, "the token's probe_budget claim is malformed");
		goto out;
	}
	size_t i;
	json_t *cap;
	json_array_foreach(caps, i, cap)
	{
		if (!json_is_string(cap) || !jg_policy_capability_known(json_string_value(cap))) {
			rc = jg_errf(why, whylen, JG_EDENIED,
				     "the token names an unknown capability");
			goto out;
		}
		snprintf(c->caps[c->ncaps++], sizeof(c->caps[0]), "%s", json_string_value(cap));
	}
	snprintf(c->kid, sizeof(c->kid), "%s", kid);
	if (strcmp(use, JG_TOKEN_USE) != 0)
		rc = jg_errf(why, whylen, JG_EDENIED, "not a jitgate capability token (token_use)");
	else
		rc = 0;
out:
	json_decref(hdr);
	json_decref(p);
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return rc;
}

int
jg_token_check_claims(const struct jg_token_claims *c, const char *issuer, const char *service,
		      int64_t now, char *why, size_t whylen)
{
	if (strcmp(c->iss, issuer) != 0)
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token was issued by another jitgate (iss)");
	if (strcmp(c->aud, service) != 0)
		return jg_errf(why, whylen, JG_EDENIED, "the token is for another service (aud)");
	if (c->nbf - JG_TOKEN_LEEWAY > now)
		return jg_errf(why, whylen, JG_EDENIED, "the token is not valid yet (nbf)");
	if (c->exp + JG_TOKEN_LEEWAY <= now)
		return jg_errf(why, whylen, JG_EDENIED, "the token has expired");
	return 0;
}

int
jg_token_verify(const struct jg_token_keys *k, const char *token, const char *issuer,
		const char *service, int64_t now, struct jg_token_claims *c, char *why,
		size_t whylen)
{
	int rc = jg_token_verify_signed(k, token, c, why, whylen);
	if (rc == 0)
		rc = jg_token_check_claims(c, issuer, service, now, why, whylen);
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return rc;
}

/* ---- the issuance entry ---------------------------------------------------- */

static int
cmp_cap(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* c's capabilities sorted by their bytes into out (repeats kept); their count. */
static size_t
sorted_caps(const struct jg_token_claims *c, const char *out[8])
{
	size_t n = c->ncaps < 8 ? c->ncaps : 8;
	for (size_t i = 0; i < n; i++)
		out[i] = c->caps[i];
	qsort(out, n, sizeof(out[0]), cmp_cap);
	return n;
}

json_t *
jg_token_issued_data(const struct jg_token_claims *c)
{
	const char *caps[8] = {NULL};
	size_t n = sorted_caps(c, caps);
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (i == 0 || strcmp(caps[i - 1], caps[i]) != 0)
			json_array_append_new(arr, json_string(caps[i]));
	return json_pack("{s:o,s:I,s:s,s:s,s:s}", "capabilities", arr, "exp", (json_int_t)c->exp,
			 "grant", c->grant, "jti", c->jti, "service", c->aud);
}

static bool
string_is(const json_t *obj, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v != NULL && strcmp(v, want) == 0;
}

int
jg_token_issuance_check(const json_t *entry, const struct jg_token_claims *c, char *why,
			size_t whylen)
{
	const json_t *data = json_object_get(entry, "data");
	const json_t *exp = json_object_get(data, "exp");
	const json_t *caps = json_object_get(data, "capabilities");
	const char *actor = json_string_value(json_object_get(entry, "actor"));
	const char *mine[8] = {NULL};

	if (!string_is(entry, "type", "token.issued") || !json_is_object(data))
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token's audit anchor is not a token issuance");
	/* the issuance of this token: its id, grant and service, by its subject */
	if (!string_is(data, "jti", c->jti) || !string_is(data, "grant", c->grant) ||
	    !string_is(data, "service", c->aud) || actor == NULL ||
	    strncmp(actor, "user:", 5) != 0 || strcmp(actor + 5, c->sub) != 0)
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token's audit anchor is the issuance of another token");
	if (caps == NULL)
		return jg_errf(
		    why, whylen, JG_EDENIED,
		    "the token was issued before jitgate recorded a token's capabilities "
		    "in its issuance; ask for a new token");
	if (!json_is_integer(exp) || json_integer_value(exp) != c->exp)
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token's expiry is not the one it was issued with");
	size_t n = sorted_caps(c, mine);
	/* element by element: jitgate writes them sorted without repeats (a repeat never matches)
	 */
	bool same = n > 0 && json_is_array(caps) && json_array_size(caps) == n;
	for (size_t i = 0; same && i < n; i++) {
		const char *have = json_string_value(json_array_get(caps, i));
		same = have != NULL && strcmp(have, mine[i]) == 0;
	}
	if (!same)
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token's capabilities are not the ones it was issued with");
	return 0;
}
