/*
 * test_oidc.c - what oidc.c refuses before any signature is checked, with
 * the provider's keys given by jg_oidc_set_jwks() (no provider, no network).
 *
 * A bearer token is the first thing an unauthenticated client controls, so
 * each malformed one must be a clean refusal (401), never a crash, and an
 * unknown kid must not make jitgate fetch the JWKS again within the
 * configured interval.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/oidc.h"

/* Port 9 (discard): nothing answers, so an unexpected fetch fails at once. */
static const char cfg_text[] = "public_url: \"https://jitgate.example.com\"\n"
			       "tls: {cert_file: c.pem, key_file: k.pem}\n"
			       "database: {url: \"sqlite://j.db\"}\n"
			       "oidc:\n"
			       "  issuer: \"http://127.0.0.1:9\"\n"
			       "  client_id: jitgate\n"
			       "  allowed_clients: [jitgate, jitgate-cli]\n"
			       "  jwks_min_refresh_seconds: 3600\n";

/* The P-256 public key of RFC 7517 appendix A.1, kid "1". */
static const char jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\","
			   "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
			   "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\",\"kid\":\"1\"}]}";

struct fixture {
	struct jg_config *cfg;
	struct jg_oidc *o;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];
	assert_non_null(f);
	assert_int_equal(jg_config_parse(cfg_text, strlen(cfg_text), "t.yaml", "/srv", &f->cfg, err,
					 sizeof(err)),
			 0);
	assert_int_equal(jg_oidc_new(f->cfg, &f->o, err, sizeof(err)), 0);
	assert_int_equal(jg_oidc_set_jwks(f->o, jwks, strlen(jwks)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_oidc_free(f->o);
	jg_config_free(f->cfg);
	free(f);
	return 0;
}

/* text as base64url without padding into out (512 bytes). */
static void
b64url(const char *text, char out[512])
{
	int n =
	    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)strlen(text));
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

/* header and claims (JSON) + ".c2ln" as a token (caller frees). */
static char *
token_with(const char *header, const char *claims)
{
	char h[512], c[512];
	b64url(header, h);
	b64url(claims, c);
	size_t len = strlen(h) + strlen(c) + 16;
	char *t = malloc(len);
	assert_non_null(t);
	snprintf(t, len, "%s.%s.c2ln", h, c);
	return t;
}

/* header (JSON) + ".e30.c2ln" as a token (caller frees). */
static char *
token_with_header(const char *header)
{
	return token_with(header, "{}");
}

static void
expect_denied(struct jg_oidc *o, const char *token, const char *needle)
{
	struct jg_identity id = {0};
	char why[256] = "";
	int rc = jg_oidc_verify_access_token(o, token, &id, why, sizeof(why));
	if (rc != JG_EDENIED || strstr(why, needle) == NULL)
		fail_msg("%s: got %d \"%s\", want \"%s\"", token, rc, why, needle);
	rc = jg_oidc_verify_id_token(o, token, "nonce", &id, why, sizeof(why));
	assert_int_equal(rc, JG_EDENIED);
	jg_identity_clear(&id);
}

/* Found with fuzz/fuzz_cap_token.c (same decoder): cjose aborted on "a=" in a token. */
static void
test_oidc_padding_is_refused_not_fatal(void **state)
{
	struct fixture *f = *state;
	expect_denied(f->o, "a=.e30.c2ln", "not a JWT");
	expect_denied(f->o, "eyJhbGciOiJFUzI1NiJ9.a=.c2ln", "not a JWT");
	expect_denied(f->o, "a b.c.d", "not a JWT");
}

static void
test_oidc_header_checks(void **state)
{
	struct fixture *f = *state;
	char *t;

	t = token_with_header("{\"alg\":\"none\",\"kid\":\"1\",\"typ\":\"at+jwt\"}");
	expect_denied(f->o, t, "algorithm is not accepted");
	free(t);
	t = token_with_header("{\"alg\":\"es256\",\"kid\":\"1\",\"typ\":\"at+jwt\"}");
	expect_denied(f->o, t, "algorithm is not accepted");
	free(t);
	t = token_with_header("{\"alg\":\"RS256\",\"kid\":\"1\",\"typ\":\"at+jwt\"}");
	expect_denied(f->o, t, "does not match its key");
	free(t);
	t = token_with_header(
	    "{\"alg\":\"ES256\",\"kid\":\"1\",\"typ\":\"at+jwt\",\"crit\":[\"x\"]}");
	expect_denied(f->o, t, "critical header");
	free(t);
}

static void
test_oidc_set_jwks_unknown_kid_no_refetch(void **state)
{
	struct fixture *f = *state;
	char *t = token_with_header("{\"alg\":\"ES256\",\"kid\":\"2\",\"typ\":\"at+jwt\"}");
	expect_denied(f->o, t, "does not publish");
	free(t);
	assert_int_equal(jg_oidc_jwks_fetches(f->o), 0);
	assert_int_equal(jg_oidc_set_jwks(f->o, "{\"keys\":", 8), JG_EPARSE);
	assert_int_equal(jg_oidc_set_jwks(f->o, "[]", 2), JG_EPARSE);
	assert_int_equal(jg_oidc_set_jwks(f->o, "{}", 2), JG_EPARSE);
}

/*
 * Duplicate keys, in the header or in the claims at any depth, are refused
 * on jitgate's own parse of the signed bytes, before a key is looked up (an
 * unknown kid: no fetch).
 */
static void
test_oidc_duplicate_keys_refused_first(void **state)
{
	struct fixture *f = *state;
	static const char hdr[] = "{\"alg\":\"ES256\",\"kid\":\"2\",\"typ\":\"at+jwt\"}";
	static const char *const claims[] = {
	    "{\"sub\":\"alice\",\"sub\":\"oscar\"}",
	    "{\"sub\":\"alice\",\"groups\":[\"a\"],\"groups\":[\"jitgate-admins\"]}",
	    "{\"sub\":\"alice\",\"x\":{\"a\":1,\"a\":2}}",
	};
	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		char *t = token_with(hdr, claims[i]);
		expect_denied(f->o, t, "the token's claims repeat a key (duplicate)");
		free(t);
	}
	char *t =
	    token_with("{\"alg\":\"ES256\",\"kid\":\"1\",\"kid\":\"2\",\"typ\":\"at+jwt\"}", "{}");
	expect_denied(f->o, t, "the token's header repeats a key (duplicate)");
	free(t);
	t = token_with(hdr, "[1]");
	expect_denied(f->o, t, "not a JWT");
	free(t);
	assert_int_equal(jg_oidc_jwks_fetches(f->o), 0);
}

/*
 * Never fetched: the first unknown kid fetches at once; with nothing
 * answering (port 9) no key can be had, which is 503, not a refusal.  The
 * next one within oidc.jwks_min_refresh_seconds fetches nothing.
 */
static void
test_oidc_unknown_kid_fetches_once(void **state)
{
	struct fixture *f = *state;
	struct jg_oidc *fresh = NULL;
	struct jg_identity id = {0};
	char err[256], why[256];

	assert_int_equal(jg_oidc_new(f->cfg, &fresh, err, sizeof(err)), 0);
	char *t = token_with("{\"alg\":\"ES256\",\"kid\":\"9\",\"typ\":\"at+jwt\"}",
			     "{\"sub\":\"alice\"}");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(jg_oidc_verify_access_token(fresh, t, &id, why, sizeof(why)),
				 JG_EUNAVAIL);
		assert_int_equal(jg_oidc_jwks_fetches(fresh), 1);
	}
	free(t);
	jg_identity_clear(&id);
	jg_oidc_free(fresh);
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Unknown kids in a loop for 2.5 s with jwks_min_refresh_seconds 1: the
 * fetches are at least that far apart.  With the interval kept in whole
 * seconds, a fetch late in one second and one early in the next were
 * milliseconds apart (e2e abuse.test caught 2 fetches within one interval).
 */
static void
test_oidc_unknown_kid_fetches_at_most_once_per_interval(void **state)
{
	struct fixture *f = *state;
	struct jg_oidc *o = NULL;
	struct jg_identity id = {0};
	char err[256], why[256];
	int64_t at[8];
	int n = 0;

	int64_t saved = f->cfg->oidc_jwks_min_refresh;
	f->cfg->oidc_jwks_min_refresh = 1;
	assert_int_equal(jg_oidc_new(f->cfg, &o, err, sizeof(err)), 0);
	f->cfg->oidc_jwks_min_refresh = saved;
	char *t = token_with("{\"alg\":\"ES256\",\"kid\":\"9\",\"typ\":\"at+jwt\"}",
			     "{\"sub\":\"alice\"}");
	int64_t t0 = monotonic_ms();
	while (monotonic_ms() - t0 < 2500 && n < 8) {
		uint64_t before = jg_oidc_jwks_fetches(o);
		int64_t start = monotonic_ms();
		/* no key can be had (nothing answers): 503 each time, fetched or not */
		assert_int_equal(jg_oidc_verify_access_token(o, t, &id, why, sizeof(why)),
				 JG_EUNAVAIL);
		if (jg_oidc_jwks_fetches(o) > before)
			at[n++] = start; /* the fetch began after this */
		jg_identity_clear(&id);
		struct timespec ms = {0, 1000 * 1000};
		nanosleep(&ms, NULL);
	}
	free(t);
	jg_oidc_free(o);
	assert_true(n >= 2); /* 2.5 s: at least a second fetch */
	for (int i = 1; i < n; i++)
		if (at[i] - at[i - 1] < 990) /* a call's own start is at most its fetch's start */
			fail_msg("fetches %d and %d were %lld ms apart", i - 1, i,
				 (long long)(at[i] - at[i - 1]));
}

/* Found by fuzz/fuzz_idp_token.c: a '=' in a JWK's numbers made cjose abort at import. */
static void
test_oidc_jwks_padding_skips_the_key(void **state)
{
	struct fixture *f = *state;
	static const char bad[] =
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k2\","
	    "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KP=qv7D4\","
	    "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"},"
	    "{\"kty\":\"RSA\",\"kid\":\"k3\",\"n\":\"0vx7ag=\",\"e\":\"AQAB\"}]}";
	assert_int_equal(jg_oidc_set_jwks(f->o, bad, strlen(bad)), 0);
	char *t = token_with_header("{\"alg\":\"ES256\",\"kid\":\"k2\",\"typ\":\"at+jwt\"}");
	expect_denied(f->o, t, "does not publish");
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_oidc_padding_is_refused_not_fatal, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_header_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_set_jwks_unknown_kid_no_refetch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_jwks_padding_skips_the_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_duplicate_keys_refused_first, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_unknown_kid_fetches_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oidc_unknown_kid_fetches_at_most_once_per_interval,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
