/*
 * test_token.c - capability tokens issued with jg_token_issue() and checked
 * with jg_token_verify(): what the end-to-end tests cannot forge without
 * jitgate's key (exp and nbf around the leeway, another service, another
 * issuer, unknown capabilities) and the kid lookup across a rotation.
 *
 * Each test gets a fresh key directory made by jg_keys_generate().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <oauth2/mem.h>
#include <oauth2/util.h>

#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/token.h"
#include "jitgate/token_cache.h"
#include "unit_fs.h"

#define ISS "https://jitgate.example.com"
#define SVC "payment-gateway"
#define NOW ((int64_t)1795600000)

struct fixture {
	char root[64];
	char dir[128];
	struct jg_token_keys *keys;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";
	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-token-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/keys", f->root);
	if (jg_keys_generate(f->dir, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	if (jg_token_keys_load(f->dir, &f->keys, err, sizeof(err)) != 0)
		fail_msg("jg_token_keys_load: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_token_keys_free(f->keys);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static struct jg_token_claims
claims(void)
{
	struct jg_token_claims c;
	memset(&c, 0, sizeof(c));
	snprintf(c.iss, sizeof(c.iss), "%s", ISS);
	snprintf(c.sub, sizeof(c.sub), "alice");
	snprintf(c.aud, sizeof(c.aud), "%s", SVC);
	snprintf(c.jti, sizeof(c.jti), "tok_test");
	snprintf(c.grant, sizeof(c.grant), "req_test");
	c.iat = c.nbf = NOW;
	c.exp = NOW + 300;
	snprintf(c.caps[0], sizeof(c.caps[0]), "deploy-probe");
	c.ncaps = 1;
	c.audit_seq = 41;
	for (int i = 0; i < 32; i++)
		c.audit_hash[i] = (uint8_t)i;
	return c;
}

static char *
issue(const struct jg_token_keys *k, const struct jg_token_claims *c)
{
	char *token = NULL;
	assert_int_equal(jg_token_issue(k, c, &token), 0);
	assert_non_null(token);
	return token;
}

/* Verifies; on JG_EDENIED the reason must contain needle. */
static void
expect_verify(const struct jg_token_keys *k, const char *token, const char *service, int64_t now,
	      int want, const char *needle)
{
	struct jg_token_claims out;
	char why[256] = "";
	int rc = jg_token_verify(k, token, ISS, service, now, &out, why, sizeof(why));
	if (rc != want || (needle && strstr(why, needle) == NULL))
		fail_msg("at now%+lld: got %d \"%s\", want %d \"%s\"", (long long)(now - NOW), rc,
			 why, want, needle ? needle : "");
}

static void
test_token_round_trip(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims(), out;
	char *token = issue(f->keys, &c);
	char why[256] = "";

	assert_int_equal(jg_token_verify(f->keys, token, ISS, SVC, NOW, &out, why, sizeof(why)), 0);
	assert_string_equal(out.iss, ISS);
	assert_string_equal(out.sub, "alice");
	assert_string_equal(out.aud, SVC);
	assert_string_equal(out.jti, "tok_test");
	assert_string_equal(out.grant, "req_test");
	assert_int_equal(out.iat, NOW);
	assert_int_equal(out.nbf, NOW);
	assert_int_equal(out.exp, NOW + 300);
	assert_int_equal(out.ncaps, 1);
	assert_string_equal(out.caps[0], "deploy-probe");
	assert_int_equal(out.audit_seq, 41);
	assert_memory_equal(out.audit_hash, c.audit_hash, 32);
	assert_true(strlen(out.kid) > 0);

	/* the header is exactly alg, typ, kid */
	json_t *hdr = NULL, *p = NULL;
	assert_int_equal(jg_token_decode_unverified(token, &hdr, &p), 0);
	assert_int_equal(json_object_size(hdr), 3);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")), out.kid);
	assert_string_equal(json_string_value(json_object_get(p, "token_use")), JG_TOKEN_USE);
	json_decref(hdr);
	json_decref(p);
	free(token);
}

static void
test_token_expiry_with_leeway(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims();
	char *token = issue(f->keys, &c);

	expect_verify(f->keys, token, SVC, c.exp - 1, 0, NULL);
	expect_verify(f->keys, token, SVC, c.exp, 0, NULL);
	expect_verify(f->keys, token, SVC, c.exp + JG_TOKEN_LEEWAY - 1, 0, NULL);
	expect_verify(f->keys, token, SVC, c.exp + JG_TOKEN_LEEWAY, JG_EDENIED, "expired");
	expect_verify(f->keys, token, SVC, c.exp + JG_TOKEN_LEEWAY + 1, JG_EDENIED, "expired");
	expect_verify(f->keys, token, SVC, c.exp + 86400, JG_EDENIED, "expired");
	free(token);
}

static void
test_token_not_before_in_the_future(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims();
	c.nbf = NOW + 120;
	c.exp = NOW + 600;
	char *token = issue(f->keys, &c);

	expect_verify(f->keys, token, SVC, NOW, JG_EDENIED, "not valid yet");
	expect_verify(f->keys, token, SVC, c.nbf - JG_TOKEN_LEEWAY - 1, JG_EDENIED,
		      "not valid yet");
	expect_verify(f->keys, token, SVC, c.nbf - JG_TOKEN_LEEWAY, 0, NULL);
	expect_verify(f->keys, token, SVC, c.nbf, 0, NULL);
	free(token);
}

static void
test_token_other_service_or_issuer(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims(), out;
	char *token = issue(f->keys, &c);
	char why[256] = "";

	expect_verify(f->keys, token, "payment-other", NOW, JG_EDENIED, "another service");
	expect_verify(f->keys, token, "payment-gatewa", NOW, JG_EDENIED, "another service");
	expect_verify(f->keys, token, "payment-gateway2", NOW, JG_EDENIED, "another service");
	assert_int_equal(jg_token_verify(f->keys, token, "https://other.example.com", SVC, NOW,
					 &out, why, sizeof(why)),
			 JG_EDENIED);
	assert_non_null(strstr(why, "another jitgate"));
	free(token);
}

static void
test_token_unknown_capability_refused(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims();
	snprintf(c.caps[1], sizeof(c.caps[1]), "read-secrets");
	c.ncaps = 2;
	char *token = issue(f->keys, &c);
	expect_verify(f->keys, token, SVC, NOW, JG_EDENIED, "unknown capability");
	free(token);

	c.ncaps = 0; /* no capability at all */
	token = issue(f->keys, &c);
	expect_verify(f->keys, token, SVC, NOW, JG_EDENIED, "missing or of the wrong type");
	free(token);
}

static void
test_token_kid_lookup_across_rotation(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims(), out;
	char err[512] = "", why[256] = "", old_kid[64];
	char *old = issue(f->keys, &c);

	assert_int_equal(jg_token_verify(f->keys, old, ISS, SVC, NOW, &out, why, sizeof(why)), 0);
	snprintf(old_kid, sizeof(old_kid), "%s", out.kid);

	int number = 0;
	if (jg_keys_rotate(f->dir, JG_KEY_TOKEN, &number, err, sizeof(err)) != 0)
		fail_msg("jg_keys_rotate: %s", err);
	assert_int_equal(number, 2);
	struct jg_token_keys *rotated = NULL;
	if (jg_token_keys_load(f->dir, &rotated, err, sizeof(err)) != 0)
		fail_msg("jg_token_keys_load: %s", err);

	/* the JWKS lists both, newest first */
	json_t *jwks = jg_token_jwks(rotated);
	json_t *keys = json_object_get(jwks, "keys");
	assert_int_equal(json_array_size(keys), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "kid")),
			    old_kid);
	assert_null(json_object_get(json_array_get(keys, 0), "d"));
	json_decref(jwks);

	/* the old token still verifies; a new one carries the new kid and verifies */
	assert_int_equal(jg_token_verify(rotated, old, ISS, SVC, NOW, &out, why, sizeof(why)), 0);
	assert_string_equal(out.kid, old_kid);
	char *fresh = issue(rotated, &c);
	assert_int_equal(jg_token_verify(rotated, fresh, ISS, SVC, NOW, &out, why, sizeof(why)), 0);
	assert_string_not_equal(out.kid, old_kid);
	/* the old key set does not know the new kid */
	expect_verify(f->keys, fresh, SVC, NOW, JG_EDENIED, "does not publish");

	/* a key set of another deployment knows neither */
	char other[160];
	snprintf(other, sizeof(other), "%s/other", f->root);
	if (jg_keys_generate(other, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	struct jg_token_keys *foreign = NULL;
	if (jg_token_keys_load(other, &foreign, err, sizeof(err)) != 0)
		fail_msg("jg_token_keys_load: %s", err);
	expect_verify(foreign, old, SVC, NOW, JG_EDENIED, "does not publish");
	expect_verify(foreign, fresh, SVC, NOW, JG_EDENIED, "does not publish");

	/* a token of the foreign key relabelled with our kid does not verify */
	char *forged = issue(foreign, &c);
	json_t *hdr = NULL, *p = NULL;
	assert_int_equal(jg_token_decode_unverified(forged, &hdr, &p), 0);
	assert_string_not_equal(json_string_value(json_object_get(hdr, "kid")), old_kid);
	size_t dot = strcspn(forged, "."); /* forged + dot: ".payload.signature" */
	assert_int_equal(forged[dot], '.');
	json_object_set_new(hdr, "kid", json_string(old_kid));
	char *hdr_text = json_dumps(hdr, JSON_COMPACT);
	assert_non_null(hdr_text);
	char *b64 = NULL;
	assert_true(
	    oauth2_base64url_encode(NULL, (const uint8_t *)hdr_text, strlen(hdr_text), &b64) > 0);
	char relabelled[JG_TOKEN_MAX + 1];
	snprintf(relabelled, sizeof(relabelled), "%s%s", b64, forged + dot);
	expect_verify(rotated, relabelled, SVC, NOW, JG_EDENIED, "signature does not verify");

	oauth2_mem_free(b64);
	free(hdr_text);
	json_decref(hdr);
	json_decref(p);
	free(forged);
	jg_token_keys_free(foreign);
	free(fresh);
	free(old);
	jg_token_keys_free(rotated);
}

/*
 * The cache skips only the signature: a token seen before is still refused
 * once expired, before nbf, for another service or issuer; a token that
 * differs by one byte is verified afresh (and refused); failures are not
 * remembered, so a bad token stays bad and a good one is not shadowed.
 */
static void
test_token_cache_rechecks_claims_on_every_hit(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims(), out;
	char *token = issue(f->keys, &c), why[256];
	struct jg_token_cache *tc = jg_token_cache_new();
	assert_non_null(tc);

	for (int round = 0; round < 2; round++) { /* round 1 is served from the cache */
		assert_int_equal(jg_token_verify_cached(tc, f->keys, token, ISS, SVC, NOW, &out,
							why, sizeof(why)),
				 0);
		assert_string_equal(out.sub, "alice");
		assert_int_equal(out.audit_seq, 41);
		assert_int_equal(jg_token_verify_cached(tc, f->keys, token, ISS, SVC,
							c.exp + JG_TOKEN_LEEWAY, &out, why,
							sizeof(why)),
				 JG_EDENIED);
		assert_non_null(strstr(why, "expired"));
		assert_int_equal(out.ncaps, 0); /* nothing handed out on refusal */
		assert_int_equal(jg_token_verify_cached(tc, f->keys, token, ISS, SVC,
							c.nbf - JG_TOKEN_LEEWAY - 1, &out, why,
							sizeof(why)),
				 JG_EDENIED);
		assert_non_null(strstr(why, "nbf"));
		assert_int_equal(jg_token_verify_cached(tc, f->keys, token, ISS, "other-svc", NOW,
							&out, why, sizeof(why)),
				 JG_EDENIED);
		assert_non_null(strstr(why, "aud"));
		assert_int_equal(jg_token_verify_cached(tc, f->keys, token, "https://evil.example",
							SVC, NOW, &out, why, sizeof(why)),
				 JG_EDENIED);
		assert_non_null(strstr(why, "iss"));
	}

	/* one flipped signature byte: a different cache key, verified and refused, twice */
	char *bad = strdup(token);
	size_t n = strlen(bad);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
	for (int round = 0; round < 2; round++) {
		assert_int_equal(
		    jg_token_verify_cached(tc, f->keys, bad, ISS, SVC, NOW, &out, why, sizeof(why)),
		    JG_EDENIED);
		assert_non_null(strstr(why, "signature"));
	}
	/* and the good one is still good */
	assert_int_equal(
	    jg_token_verify_cached(tc, f->keys, token, ISS, SVC, NOW, &out, why, sizeof(why)), 0);
	/* no cache at all behaves the same */
	assert_int_equal(
	    jg_token_verify_cached(NULL, f->keys, bad, ISS, SVC, NOW, &out, why, sizeof(why)),
	    JG_EDENIED);
	free(bad);
	free(token);
	jg_token_cache_free(tc);
}

static void
test_token_size_cap(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(JG_TOKEN_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', JG_TOKEN_MAX + 1);
	big[JG_TOKEN_MAX + 1] = '\0';
	expect_verify(f->keys, big, SVC, NOW, JG_EDENIED, "longer than");
	json_t *h, *p;
	assert_int_equal(jg_token_decode_unverified(big, &h, &p), JG_EPARSE);
	assert_null(h);
	assert_null(p);
	free(big);
	expect_verify(f->keys, "", SVC, NOW, JG_EDENIED, "not a signed JWT");
	expect_verify(f->keys, "a.b.c.d", SVC, NOW, JG_EDENIED, "not a signed JWT");
	expect_verify(f->keys, "..", SVC, NOW, JG_EDENIED, "header is malformed");
}

/*
 * Found by fuzz/fuzz_cap_token.c: a '=' where base64url has none made the
 * decoder under liboauth2 (cjose) abort the whole process.  Each part is
 * refused instead: header, payload, signature, and `token inspect`.
 */
static void
test_token_padding_refused_not_fatal(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims();
	char *good = NULL, bad[JG_TOKEN_MAX + 8];
	json_t *h, *p;

	expect_verify(f->keys, "a=.eyJ9.c", SVC, NOW, JG_EDENIED, "header is malformed");
	assert_int_equal(jg_token_decode_unverified("eyJ9.a=.c", &h, &p), JG_EPARSE);
	assert_int_equal(jg_token_decode_unverified("a===.eyJ9.c", &h, &p), JG_EPARSE);
	assert_int_equal(jg_token_issue(f->keys, &c, &good), 0);
	snprintf(bad, sizeof(bad), "%sa=", good); /* a valid token, its signature padded */
	expect_verify(f->keys, bad, SVC, NOW, JG_EDENIED, "signature is malformed");
	char *d1 = strchr(good, '.');
	snprintf(bad, sizeof(bad), "%.*s.a=%s", (int)(d1 - good), good, strchr(d1 + 1, '.'));
	expect_verify(f->keys, bad, SVC, NOW, JG_EDENIED, NULL);
	free(good);
}

/* An entry as the audit log holds it, with the issuance data of c by actor. */
static json_t *
issued_entry(const struct jg_token_claims *c, const char *type, const char *actor)
{
	json_t *data = jg_token_issued_data(c);
	assert_non_null(data);
	json_t *e = json_pack("{s:i,s:i,s:i,s:s,s:s,s:o,s:s}", "v", 1, "seq", 41, "ts", 1, "type",
			      type, "actor", actor, "data", data, "prev", "00");
	assert_non_null(e);
	return e;
}

static void
expect_issuance(const json_t *entry, const struct jg_token_claims *c, int want, const char *needle)
{
	char why[256] = "";
	int rc = jg_token_issuance_check(entry, c, why, sizeof(why));
	if (rc != want || (needle && strstr(why, needle) == NULL)) {
		char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", text, rc, why, want,
			 needle ? needle : "");
	}
}

static void
test_token_issued_data_sorted_capabilities(void **state)
{
	(void)state;
	struct jg_token_claims c = claims();
	snprintf(c.caps[0], sizeof(c.caps[0]), "read-traces");
	snprintf(c.caps[1], sizeof(c.caps[1]), "read-logs");
	snprintf(c.caps[2], sizeof(c.caps[2]), "read-metrics");
	c.ncaps = 3;
	json_t *data = jg_token_issued_data(&c);
	char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
			    "{\"capabilities\":[\"read-logs\",\"read-metrics\",\"read-traces\"],"
			    "\"exp\":1795600300,\"grant\":\"req_test\",\"jti\":\"tok_test\","
			    "\"service\":\"payment-gateway\"}");
	free(text);
	json_decref(data);
}

static void
test_token_issuance_check_own_issuance_only(void **state)
{
	(void)state;
	const struct jg_token_claims c = claims();
	json_t *e = issued_entry(&c, "token.issued", "user:alice");
	expect_issuance(e, &c, 0, NULL);
	json_decref(e);

	/* another entry type with the very same data */
	e = issued_entry(&c, "service.added", "user:alice");
	expect_issuance(e, &c, JG_EDENIED, "not a token issuance");
	json_decref(e);
	/* issued to someone else */
	e = issued_entry(&c, "token.issued", "user:alicia");
	expect_issuance(e, &c, JG_EDENIED, "another token");
	json_decref(e);
	e = issued_entry(&c, "token.issued", "alice");
	expect_issuance(e, &c, JG_EDENIED, "another token");
	json_decref(e);

	/* each field of the token against the same entry */
	struct jg_token_claims other;
	e = issued_entry(&c, "token.issued", "user:alice");
	other = c;
	snprintf(other.jti, sizeof(other.jti), "tok_other");
	expect_issuance(e, &other, JG_EDENIED, "another token");
	other = c;
	snprintf(other.grant, sizeof(other.grant), "req_other");
	expect_issuance(e, &other, JG_EDENIED, "another token");
	other = c;
	snprintf(other.aud, sizeof(other.aud), "payment-other");
	expect_issuance(e, &other, JG_EDENIED, "another token");
	other = c;
	snprintf(other.sub, sizeof(other.sub), "bob");
	expect_issuance(e, &other, JG_EDENIED, "another token");
	other = c;
	other.exp = c.exp + 1;
	expect_issuance(e, &other, JG_EDENIED, "expiry");
	/* a capability more, another one, the same one twice */
	other = c;
	snprintf(other.caps[1], sizeof(other.caps[1]), "read-pii");
	other.ncaps = 2;
	expect_issuance(e, &other, JG_EDENIED, "capabilities");
	other = c;
	snprintf(other.caps[0], sizeof(other.caps[0]), "read-pii");
	expect_issuance(e, &other, JG_EDENIED, "capabilities");
	other = c;
	snprintf(other.caps[1], sizeof(other.caps[1]), "deploy-probe");
	other.ncaps = 2;
	expect_issuance(e, &other, JG_EDENIED, "capabilities");
	json_decref(e);

	/* two capabilities: the token's order does not matter, the entry's must be sorted */
	struct jg_token_claims two = c;
	snprintf(two.caps[0], sizeof(two.caps[0]), "read-pii");
	snprintf(two.caps[1], sizeof(two.caps[1]), "read-logs");
	two.ncaps = 2;
	e = issued_entry(&two, "token.issued", "user:alice");
	expect_issuance(e, &two, 0, NULL);
	json_array_clear(json_object_get(json_object_get(e, "data"), "capabilities"));
	json_array_append_new(json_object_get(json_object_get(e, "data"), "capabilities"),
			      json_string("read-pii"));
	json_array_append_new(json_object_get(json_object_get(e, "data"), "capabilities"),
			      json_string("read-logs"));
	expect_issuance(e, &two, JG_EDENIED, "capabilities");
	json_decref(e);

	/* a data field of the wrong type */
	e = issued_entry(&c, "token.issued", "user:alice");
	json_object_set_new(json_object_get(e, "data"), "exp", json_string("1795600300"));
	expect_issuance(e, &c, JG_EDENIED, "expiry");
	json_decref(e);
	e = json_pack("{s:s,s:s,s:[]}", "type", "token.issued", "actor", "user:alice", "data");
	expect_issuance(e, &c, JG_EDENIED, NULL);
	json_decref(e);
}

static void
test_token_issuance_check_before_capabilities_were_recorded(void **state)
{
	(void)state;
	const struct jg_token_claims c = claims();
	/* token.issued as written before: grant, jti, service, exp */
	json_t *e = issued_entry(&c, "token.issued", "user:alice");
	json_object_del(json_object_get(e, "data"), "capabilities");
	expect_issuance(e, &c, JG_EDENIED, "ask for a new token");
	json_decref(e);
}

/*
 * The probe_budget claim: absent when the grant has no budget; otherwise
 * each member as the grant's (null when 0), read back by the verifier; a
 * claim out of its bounds makes the token refused.
 */
static void
test_token_probe_budget_claim(void **state)
{
	struct fixture *f = *state;
	struct jg_token_claims c = claims(), out;
	char why[256] = "";
	json_t *hdr = NULL, *p = NULL;

	char *token = issue(f->keys, &c);
	assert_int_equal(jg_token_decode_unverified(token, &hdr, &p), 0);
	assert_null(json_object_get(p, "probe_budget"));
	json_decref(hdr);
	json_decref(p);
	free(token);

	c.probe_budget = (struct jg_policy_probe_budget){.max_probes = 3, .max_bytes = 1048576};
	token = issue(f->keys, &c);
	assert_int_equal(jg_token_decode_unverified(token, &hdr, &p), 0);
	json_t *b = json_object_get(p, "probe_budget");
	assert_int_equal(json_integer_value(json_object_get(b, "max_probes")), 3);
	assert_true(json_is_null(json_object_get(b, "max_hits")));
	assert_int_equal(json_integer_value(json_object_get(b, "max_bytes")), 1048576);
	json_decref(hdr);
	json_decref(p);
	assert_int_equal(jg_token_verify(f->keys, token, ISS, SVC, NOW, &out, why, sizeof(why)), 0);
	assert_int_equal(out.probe_budget.max_probes, 3);
	assert_int_equal(out.probe_budget.max_hits, 0);
	assert_int_equal(out.probe_budget.max_bytes, 1048576);
	free(token);

	c.probe_budget.max_probes = JG_POLICY_MAX_BUDGET_PROBES + 1;
	token = issue(f->keys, &c);
	expect_verify(f->keys, token, SVC, NOW, JG_EDENIED, "probe_budget claim is malformed");
	free(token);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_token_probe_budget_claim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_expiry_with_leeway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_not_before_in_the_future, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_other_service_or_issuer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_unknown_capability_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_kid_lookup_across_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_size_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_padding_refused_not_fatal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_cache_rechecks_claims_on_every_hit, setup,
					    teardown),
	    cmocka_unit_test(test_token_issued_data_sorted_capabilities),
	    cmocka_unit_test(test_token_issuance_check_own_issuance_only),
	    cmocka_unit_test(test_token_issuance_check_before_capabilities_were_recorded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
