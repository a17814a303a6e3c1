/*
 * test_auth.c - who is calling (auth.h, jg_auth_identify) with real parts:
 * the provider's access tokens signed here with a key handed to oidc.c as
 * its JWKS (jg_oidc_set_jwks: no provider, no network), sessions in a real
 * SQLite store, and the throttle on the test's clock.
 *
 * What a user relies on: a request with an Authorization header is judged
 * by it alone (a bad token is refused even with a good cookie beside it);
 * without one, the session cookie identifies, and a change made with the
 * cookie needs the session's CSRF token (a bearer call does not); no
 * credential is refused without cost, while failed credentials are
 * charged - to the address, or to the session for a missing CSRF token -
 * and never stop a credential that verifies.
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
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jitgate/auth.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "jitgate/oidc.h"
#include "jitgate/session.h"
#include "jitgate/store.h"
#include "jitgate/throttle.h"
#include "unit_fs.h"

#define ISSUER "http://127.0.0.1:9"
#define URL    "https://jg.example.com"

/* Port 9 (discard): a fetch would fail at once; the keys come from set_jwks. */
static const char cfg_text[] = "public_url: \"" URL "\"\n"
			       "tls: {cert_file: c.pem, key_file: k.pem}\n"
			       "database: {url: \"sqlite://j.db\"}\n"
			       "oidc:\n"
			       "  issuer: \"" ISSUER "\"\n"
			       "  client_id: jitgate\n"
			       "  allowed_clients: [jitgate, jitgate-cli]\n"
			       "  jwks_min_refresh_seconds: 3600\n";

static int64_t clock_ms;

static int64_t
test_clock(void *arg)
{
	(void)arg;
	return clock_ms;
}

struct fixture {
	char root[64];
	struct jg_config *cfg;
	struct jg_oidc *oidc;
	EVP_PKEY *key; /* the provider's signing key (RS256, kid "k1") */
	struct jg_store *store;
	struct jg_throttle *throttle;
	struct jg_auth_ctx ctx;
	char bob_cookie[JG_SESSION_TOKEN_LEN + 1], bob_csrf[JG_SESSION_TOKEN_LEN + 1];
};

/* bytes as base64url without padding into out (caller frees). */
static char *
b64url(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	assert_non_null(out);
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (int i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

static char *
b64url_bn(EVP_PKEY *key, const char *param)
{
	BIGNUM *bn = NULL;
	assert_int_equal(EVP_PKEY_get_bn_param(key, param, &bn), 1);
	int n = BN_num_bytes(bn);
	unsigned char *buf = malloc((size_t)n);
	assert_non_null(buf);
	BN_bn2bin(bn, buf);
	char *s = b64url(buf, (size_t)n);
	free(buf);
	BN_free(bn);
	return s;
}

/* A JWT of the provider: header and claims as JSON text, signed RS256 with f->key. */
static char *
jwt(struct fixture *f, const char *claims)
{
	const char *header = "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}";
	char *h = b64url((const unsigned char *)header, strlen(header));
	char *c = b64url((const unsigned char *)claims, strlen(claims));
	size_t len = strlen(h) + strlen(c) + 2;
	char *input = malloc(len);
	assert_non_null(input);
	snprintf(input, len, "%s.%s", h, c);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, f->key), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, len - 1),
			 1);
	EVP_MD_CTX_free(md);
	char *s = b64url(sig, siglen);
	size_t tlen = len + strlen(s) + 1;
	char *token = malloc(tlen);
	assert_non_null(token);
	snprintf(token, tlen, "%s.%s", input, s);
	free(h);
	free(c);
	free(input);
	free(s);
	return token;
}

/* "Bearer " + an access token of the provider for sub, valid for an hour of the wall clock. */
static char *
bearer(struct fixture *f, const char *sub)
{
	char claims[512];
	long long now = (long long)time(NULL);
	snprintf(claims, sizeof(claims),
		 "{\"iss\":\"" ISSUER "\",\"aud\":\"" URL "\",\"sub\":\"%s\",\"client_id\":"
		 "\"jitgate\",\"iat\":%lld,\"exp\":%lld,\"groups\":[\"eng\"]}",
		 sub, now, now + 3600);
	char *t = jwt(f, claims);
	char *auth = malloc(strlen(t) + 8);
	assert_non_null(auth);
	sprintf(auth, "Bearer %s", t);
	free(t);
	return auth;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "", db[128], jwks[2048];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-auth-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(jg_config_parse(cfg_text, strlen(cfg_text), "t.yaml", "/srv", &f->cfg, err,
					 sizeof(err)),
			 0);
	assert_int_equal(jg_oidc_new(f->cfg, &f->oidc, err, sizeof(err)), 0);
	assert_non_null(f->key = EVP_RSA_gen(2048));
	char *n = b64url_bn(f->key, OSSL_PKEY_PARAM_RSA_N), *e = b64url_bn(f->key, "e");
	snprintf(jwks, sizeof(jwks),
		 "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"alg\":\"RS256\",\"use\":\"sig\","
		 "\"n\":\"%s\",\"e\":\"%s\"}]}",
		 n, e);
	free(n);
	free(e);
	assert_int_equal(jg_oidc_set_jwks(f->oidc, jwks, strlen(jwks)), 0);
	snprintf(db, sizeof(db), "%s/test.db", f->root);
	if (jg_store_open(db, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	struct jg_limits lim = {.auth_failures_per_minute = 1,
				.auth_failures_burst = 3,
				.requests_per_minute = 10,
				.requests_burst = 10,
				.requests_per_address_per_minute = 10,
				.requests_address_burst = 10,
				.rate_table_entries = 1024};
	clock_ms = 1000000;
	assert_non_null(f->throttle = jg_throttle_new_clock(&lim, test_clock, NULL));
	int64_t now = (int64_t)time(NULL);
	f->ctx = (struct jg_auth_ctx){.oidc = f->oidc,
				      .store = f->store,
				      .throttle = f->throttle,
				      .session_idle = 600,
				      .now = now};
	/* bob is signed in in a browser */
	struct jg_identity bob = {.sub = "bob"};
	struct jg_store_conn *c;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_put(c, &bob, now, 3600, f->bob_cookie, f->bob_csrf), 0);
	jg_store_release(f->store, c);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_throttle_free(f->throttle);
	jg_store_close(f->store);
	jg_oidc_free(f->oidc);
	jg_config_free(f->cfg);
	EVP_PKEY_free(f->key);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static int
identify(struct fixture *f, const char *method, const char *authorization, const char *cookie,
	 const char *csrf, struct jg_caller *caller, struct jg_auth_refusal *no)
{
	struct jg_auth_input in = {.method = method,
				   .authorization = authorization,
				   .cookie = cookie,
				   .csrf = csrf,
				   .client = "198.51.100.4"};
	return jg_auth_identify(&f->ctx, &in, caller, no);
}

static void
test_auth_bearer_token_identifies(void **state)
{
	struct fixture *f = *state;
	struct jg_caller caller;
	struct jg_auth_refusal no;
	char *alice = bearer(f, "alice");

	assert_int_equal(identify(f, "POST", alice, NULL, NULL, &caller, &no), 0);
	assert_string_equal(caller.id.sub, "alice");
	assert_string_equal(caller.actor, "user:alice");
	assert_string_equal(caller.id.via, "bearer");
	assert_int_equal(caller.id.ngroups, 1);
	assert_string_equal(caller.csrf, ""); /* a bearer change needs no CSRF token */
	jg_caller_clear(&caller);
	free(alice);
}

static void
test_auth_header_wins_over_cookie(void **state)
{
	struct fixture *f = *state;
	struct jg_caller caller;
	struct jg_auth_refusal no;
	char *alice = bearer(f, "alice");

	/* both: the token decides */
	assert_int_equal(identify(f, "GET", alice, f->bob_cookie, NULL, &caller, &no), 0);
	assert_string_equal(caller.id.sub, "alice");
	jg_caller_clear(&caller);
	/* a bad token is refused although bob's cookie came along */
	alice[strlen(alice) - 3] ^= 1;
	assert_int_equal(identify(f, "GET", alice, f->bob_cookie, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_non_null(strstr(no.www_authenticate, "error=\"invalid_token\""));
	assert_string_equal(caller.id.sub, "");
	/* so is another scheme */
	assert_int_equal(
	    identify(f, "GET", "Basic Ym9iOmJvYg==", f->bob_cookie, NULL, &caller, &no),
	    JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_non_null(strstr(no.www_authenticate, "error=\"invalid_request\""));
	free(alice);
}

static void
test_auth_cookie_changes_need_the_csrf_token(void **state)
{
	struct fixture *f = *state;
	struct jg_caller caller;
	struct jg_auth_refusal no;
	char wrong[JG_SESSION_TOKEN_LEN + 1];

	/* reading needs no CSRF token */
	assert_int_equal(identify(f, "GET", NULL, f->bob_cookie, NULL, &caller, &no), 0);
	assert_string_equal(caller.id.sub, "bob");
	assert_string_equal(caller.id.via, "session");
	assert_string_equal(caller.csrf, f->bob_csrf); /* what /v1/me hands the page */
	jg_caller_clear(&caller);
	/* a change without it, or with another, is refused; with it, allowed */
	assert_int_equal(identify(f, "POST", NULL, f->bob_cookie, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 403);
	assert_string_equal(no.code, "csrf");
	assert_string_equal(caller.id.sub, "");
	memcpy(wrong, f->bob_csrf, sizeof(wrong));
	wrong[5] = wrong[5] == 'x' ? 'y' : 'x';
	assert_int_equal(identify(f, "DELETE", NULL, f->bob_cookie, wrong, &caller, &no),
			 JG_EDENIED);
	assert_int_equal(no.status, 403);
	assert_int_equal(identify(f, "POST", NULL, f->bob_cookie, "short", &caller, &no),
			 JG_EDENIED);
	assert_int_equal(identify(f, "POST", NULL, f->bob_cookie, f->bob_csrf, &caller, &no), 0);
	assert_string_equal(caller.id.sub, "bob");
	jg_caller_clear(&caller);
}

static void
test_auth_no_credential_or_an_ended_session(void **state)
{
	struct fixture *f = *state;
	struct jg_caller caller;
	struct jg_auth_refusal no;
	char unknown[JG_SESSION_TOKEN_LEN + 1];

	/* no credential at all costs nothing, however often */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(identify(f, "GET", NULL, NULL, NULL, &caller, &no), JG_EDENIED);
		assert_int_equal(no.status, 401);
		assert_string_equal(no.www_authenticate, "Bearer realm=\"jitgate\"");
	}
	memset(unknown, 'A', JG_SESSION_TOKEN_LEN);
	unknown[JG_SESSION_TOKEN_LEN] = '\0';
	assert_int_equal(identify(f, "GET", NULL, unknown, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_string_equal(no.message, "the session has ended; sign in again");
	/* bob's session past its idle time: ended */
	f->ctx.now += 600;
	assert_int_equal(identify(f, "GET", NULL, f->bob_cookie, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	/* without a provider configured nothing can be judged */
	f->ctx.oidc = NULL;
	assert_int_equal(identify(f, "GET", NULL, NULL, NULL, &caller, &no), JG_EUNAVAIL);
	assert_int_equal(no.status, 503);
}

static void
test_auth_failures_are_charged_but_never_refuse_a_good_credential(void **state)
{
	struct fixture *f = *state;
	struct jg_caller caller;
	struct jg_auth_refusal no;
	char *alice = bearer(f, "alice");

	/* the address's budget is three failures */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(identify(f, "GET", "Bearer x.y.z", NULL, NULL, &caller, &no),
				 JG_EDENIED);
		assert_int_equal(no.status, 401);
	}
	assert_int_equal(identify(f, "GET", "Bearer x.y.z", NULL, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 429);
	assert_true(no.limit.retry_after >= 1);
	/* a token that verifies, from that address, still gets in */
	assert_int_equal(identify(f, "GET", alice, NULL, NULL, &caller, &no), 0);
	jg_caller_clear(&caller);
	/* and bob's session is charged for its own CSRF failures, not the address's */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(identify(f, "POST", NULL, f->bob_cookie, NULL, &caller, &no),
				 JG_EDENIED);
		assert_int_equal(no.status, 403);
	}
	assert_int_equal(identify(f, "POST", NULL, f->bob_cookie, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 429);
	assert_int_equal(identify(f, "POST", NULL, f->bob_cookie, f->bob_csrf, &caller, &no), 0);
	jg_caller_clear(&caller);
	/* a minute on the throttle's clock gives the address a failure back */
	clock_ms += 60000;
	assert_int_equal(identify(f, "GET", "Bearer x.y.z", NULL, NULL, &caller, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	free(alice);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_auth_bearer_token_identifies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_header_wins_over_cookie, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_cookie_changes_need_the_csrf_token, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_auth_no_credential_or_an_ended_session, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_auth_failures_are_charged_but_never_refuse_a_good_credential, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
