/*
 * test_guard.c - the guard's check (guard.h, jg_guard_check) against real
 * parts: a SQLite store with the repository's migrations, the audit writer
 * on a verified log, real token keys, grants made through access.c and
 * tokens issued through token_issue.c.  The guard's clock and the
 * throttle's are the test's: expiry is tested without sleeping.
 *
 * What a user relies on: a call without a valid token is refused and
 * leaves nothing in the log; a token works only for its service and its
 * capabilities; it stops working the moment its grant is revoked or its
 * grant's time is up, whatever the token's own expiry; a token whose audit
 * anchor is not its own issuance, or that claims more than its grant, is
 * refused; refusals of genuine tokens are recorded, and repeated ones are
 * charged to the token, never to its owner's other tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/pii.h"
#include "jitgate/policy.h"
#include "jitgate/store.h"
#include "jitgate/throttle.h"
#include "jitgate/token.h"
#include "jitgate/token_cache.h"
#include "jitgate/token_issue.h"
#include "unit_fs.h"

#define T0  1764000000 /* the tests' clock starts here (Unix seconds) */
#define URL "https://jg.example.com"

static const char policy_yaml[] = "policy: test-guard\n"
				  "description: the policy of test_guard.c\n"
				  "services: [\"svc-*\"]\n"
				  "rules:\n"
				  "  - capabilities: [read-logs, deploy-probe]\n"
				  "    requesters: {groups: [eng]}\n"
				  "    max_duration: 4h\n"
				  "    approval: none\n";

static int64_t now_s; /* the guard's clock */

static int64_t
test_now(void *arg)
{
	(void)arg;
	return now_s;
}

static int64_t
test_now_ms(void *arg)
{
	(void)arg;
	return now_s * 1000;
}

struct fixture {
	char root[64];
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_policy_set *policies;
	struct jg_token_keys *keys;
	struct jg_pii_keys *pii;
	struct jg_token_cache *cache;
	struct jg_throttle *throttle;
	struct jg_token_issuer issuer;
	struct jg_guard_ctx gc;
};

static const char *const eng[] = {"eng"};
static const struct jg_access_caller alice = {
    .actor = "user:alice", .sub = "alice", .groups = eng, .ngroups = 1};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[1024] = "", db[128], keys[128];
	struct jg_audit_verifiers vs;
	struct jg_chain chain;
	struct jg_chain_fault fault;

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-guard-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(db, sizeof(db), "%s/test.db", f->root);
	snprintf(keys, sizeof(keys), "%s/keys", f->root);
	if (jg_store_open(db, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	if (jg_keys_generate(keys, err, sizeof(err)) != 0 ||
	    jg_audit_verifiers_load(keys, "jg.example.com/audit", &vs, err, sizeof(err)) != 0)
		fail_msg("keys: %s", err);
	/* the guard proves anchors into the verified log, as serve sets it up */
	assert_int_equal(jg_audit_verify_store_chain(f->store, &vs, 1, NULL, &chain, &fault), 0);
	struct jg_audit_config acfg = {.origin = "jg.example.com/audit",
				       .checkpoint_entries = 1000000,
				       .checkpoint_seconds = 3600,
				       .verify_threads = 1};
	if (jg_audit_open(f->store, keys, &acfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("audit: %s", err);
	jg_audit_set_verified(f->audit, &chain);
	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_policy_set_parse("test.yaml", policy_yaml, strlen(policy_yaml), NULL, &f->policies,
				err, sizeof(err)) != 0)
		fail_msg("policy: %s", err);
	if (jg_token_keys_load(keys, &f->keys, err, sizeof(err)) != 0 ||
	    jg_pii_keys_load(keys, &f->pii, err, sizeof(err)) != 0)
		fail_msg("keys: %s", err);
	assert_non_null(f->cache = jg_token_cache_new());
	struct jg_limits lim = {.auth_failures_per_minute = 1,
				.auth_failures_burst = 2,
				.requests_per_minute = 10,
				.requests_burst = 10,
				.requests_per_address_per_minute = 10,
				.requests_address_burst = 10,
				.rate_table_entries = 1024};
	assert_non_null(f->throttle = jg_throttle_new_clock(&lim, test_now_ms, NULL));
	f->issuer = (struct jg_token_issuer){
	    .audit = f->audit, .keys = f->keys, .issuer = URL, .lifetime = 86400};
	f->gc = (struct jg_guard_ctx){.store = f->store,
				      .audit = f->audit,
				      .keys = f->keys,
				      .cache = f->cache,
				      .throttle = f->throttle,
				      .pii = f->pii,
				      .public_url = URL,
				      .now = test_now};
	now_s = T0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	jg_store_close(f->store);
	jg_policy_set_free(f->policies);
	jg_token_keys_free(f->keys);
	jg_pii_keys_free(f->pii);
	jg_token_cache_free(f->cache);
	jg_throttle_free(f->throttle);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static struct jg_access_ctx
access_ctx(struct fixture *f)
{
	return (struct jg_access_ctx){.store = f->store,
				      .audit = f->audit,
				      .policies = f->policies,
				      .pending_ttl = 3600,
				      .now = now_s};
}

/* An active grant of alice on service with caps (a JSON list), for duration seconds. */
static void
grant(struct fixture *f, const char *service, const char *caps, int duration, char id[64])
{
	char text[512], why[256] = "";
	struct jg_access_ctx ctx = access_ctx(f);
	json_t *out = NULL;
	snprintf(text, sizeof(text),
		 "{\"service\":\"%s\",\"capabilities\":%s,\"duration\":%d,"
		 "\"justification\":\"looking into it\"}",
		 service, caps, duration);
	json_t *body = json_loads(text, 0, NULL);
	assert_non_null(body);
	if (jg_access_create(&ctx, &alice, body, &out, why, sizeof(why)) != 0)
		fail_msg("create: %s", why);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "active");
	snprintf(id, 64, "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	json_decref(body);
}

/* "Bearer <token>" for grant, issued now (caller frees). */
static char *
bearer(struct fixture *f, const char *grant_id, struct jg_token_claims *claims)
{
	struct jg_token_claims c;
	char *token = NULL, why[256] = "";
	const struct jg_token_holder who = {.sub = alice.sub,
					    .actor = alice.actor,
					    .groups = alice.groups,
					    .ngroups = alice.ngroups,
					    .policies = f->policies};
	if (jg_token_issue_for_holder(&f->issuer, &who, grant_id, now_s, &c, &token, why,
				      sizeof(why)) != 0)
		fail_msg("issue: %s", why);
	if (claims)
		*claims = c;
	char *auth = malloc(strlen(token) + 8);
	assert_non_null(auth);
	sprintf(auth, "Bearer %s", token);
	free(token);
	return auth;
}

/* "Bearer <token>" for claims c as given, signed with the real key (caller frees). */
static char *
forged(struct fixture *f, const struct jg_token_claims *c)
{
	char *token = NULL;
	assert_int_equal(jg_token_issue(f->keys, c, &token), 0);
	char *auth = malloc(strlen(token) + 8);
	assert_non_null(auth);
	sprintf(auth, "Bearer %s", token);
	free(token);
	return auth;
}

static int
check(struct fixture *f, const char *auth, const char *service, const char *capability,
      json_t *params, struct jg_guarded *g, json_t **intent, struct jg_guard_refusal *no)
{
	struct jg_guard_call call = {.authorization = auth,
				     .client = "192.0.2.7",
				     .service = service,
				     .capability = capability,
				     .action = "probe.list",
				     .params = params};
	return jg_guard_check(&f->gc, &call, g, intent, no);
}

/* Entries of type in the log. */
static size_t
entries(struct fixture *f, const char *type, json_t **newest)
{
	struct jg_audit_filter filter = {
	    .type = type, .before = UINT64_MAX, .limit = JG_AUDIT_LIST_MAX};
	json_t *out = NULL;
	assert_int_equal(jg_audit_list(f->store, &filter, &out), 0);
	json_t *list = json_object_get(out, "entries");
	size_t n = json_array_size(list);
	if (newest != NULL)
		*newest = n ? json_incref(json_object_get(json_array_get(list, 0), "entry")) : NULL;
	json_decref(out);
	return n;
}

static void
test_guard_needs_a_token_that_verifies(void **state)
{
	struct fixture *f = *state;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *intent = NULL;

	assert_int_equal(check(f, NULL, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_string_equal(no.message, "a capability token is required");
	assert_string_equal(no.www_authenticate, "Bearer realm=\"jitgate\"");
	assert_null(intent);

	assert_int_equal(
	    check(f, "Bearer not.a.token", "svc-a", "read-logs", NULL, &g, &intent, &no),
	    JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_non_null(strstr(no.www_authenticate, "error=\"invalid_token\""));
	assert_string_equal(g.actor, "");
	/* a token that does not verify proves no one: nothing of it is recorded */
	assert_int_equal(entries(f, "guard.refused", NULL), 0);

	/* no keys configured: every call is refused, as unavailable */
	f->gc.keys = NULL;
	assert_int_equal(check(f, NULL, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EUNAVAIL);
	assert_int_equal(no.status, 503);
}

static void
test_guard_passes_a_live_grant_and_returns_the_intent(void **state)
{
	struct fixture *f = *state;
	char id[64];
	struct jg_token_claims c;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *intent = NULL;

	grant(f, "svc-a", "[\"read-logs\"]", 600, id);
	char *auth = bearer(f, id, &c);
	now_s = T0 + 60;
	json_t *params = json_pack("{s:s,s:f}", "q", "checkout", "ratio", 0.5);
	assert_int_equal(check(f, auth, "svc-a", "read-logs", params, &g, &intent, &no), 0);
	assert_string_equal(g.actor, "user:alice");
	assert_string_equal(g.claims.grant, id);
	assert_int_equal(g.grant_expires, T0 + 600);
	assert_false(g.has_pii);
	/* the entry that must be written before the action */
	assert_string_equal(json_string_value(json_object_get(intent, "grant")), id);
	assert_string_equal(json_string_value(json_object_get(intent, "jti")), c.jti);
	assert_string_equal(json_string_value(json_object_get(intent, "service")), "svc-a");
	assert_string_equal(json_string_value(json_object_get(intent, "capability")), "read-logs");
	/* entries hold integers only: the real number is written as its text */
	json_t *p = json_object_get(intent, "params");
	assert_string_equal(json_string_value(json_object_get(p, "q")), "checkout");
	assert_string_equal(json_string_value(json_object_get(p, "ratio")), "0.5");
	json_decref(intent);
	json_decref(params);
	assert_int_equal(entries(f, "guard.refused", NULL), 0);
	free(auth);
}

static void
test_guard_token_is_for_its_service_and_capabilities(void **state)
{
	struct fixture *f = *state;
	char id[64];
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *intent = NULL, *last = NULL;

	grant(f, "svc-a", "[\"read-logs\"]", 600, id);
	char *auth = bearer(f, id, NULL);

	assert_int_equal(check(f, auth, "svc-a", "deploy-probe", NULL, &g, &intent, &no),
			 JG_EDENIED);
	assert_int_equal(no.status, 403);
	assert_string_equal(no.code, "insufficient_capability");
	assert_string_equal(no.message, "this needs the deploy-probe capability");
	assert_null(intent);
	assert_int_equal(entries(f, "guard.refused", &last), 1);
	json_t *data = json_object_get(last, "data");
	assert_string_equal(json_string_value(json_object_get(last, "actor")), "user:alice");
	assert_string_equal(json_string_value(json_object_get(data, "capability")), "deploy-probe");
	json_decref(last);

	/*
	 * A genuine token at another service: refused and recorded.  The path's
	 * service is named in clear only when it is a live service of the
	 * catalog; otherwise (any text the caller typed) as its keyed marker.
	 */
	const char *owners[] = {"eng"};
	struct jg_catalog_ctx cc = {
	    .store = f->store, .audit = f->audit, .actor = "operator:test", .now = now_s};
	assert_int_equal(jg_catalog_service_add(&cc, "svc-b", owners, 1), 0);
	assert_int_equal(check(f, auth, "svc-b", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_int_equal(entries(f, "guard.refused", &last), 2);
	data = json_object_get(last, "data");
	assert_string_equal(json_string_value(json_object_get(data, "service")), "svc-b");
	assert_string_equal(json_string_value(json_object_get(data, "token_service")), "svc-a");
	json_decref(last);
	static const char *const unknown[] = {"svc-c", "zoe@example.com", "Zo\xc3\xab Q"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(check(f, auth, unknown[i], "read-logs", NULL, &g, &intent, &no),
				 JG_EDENIED);
		assert_int_equal(entries(f, "guard.refused", &last), 3 + (int)i);
		json_t *want = jg_pii_mark_whole(f->pii, unknown[i], strlen(unknown[i]));
		assert_non_null(want);
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(last, "data"), "service")),
		    json_string_value(want));
		assert_int_equal(strncmp(json_string_value(want),
					 i == 1 ? "[REDACTED:email:" : "[REDACTED:field:", 16),
				 0);
		json_decref(want);
		json_decref(last);
	}
	free(auth);
}

static void
test_guard_follows_the_grant_not_the_token(void **state)
{
	struct fixture *f = *state;
	char a[64], b[64], why[256];
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *intent = NULL, *out = NULL;

	/* the token lives a day, its grant ten minutes: the grant decides */
	grant(f, "svc-a", "[\"read-logs\"]", 600, a);
	char *auth = bearer(f, a, NULL);
	now_s = T0 + 599;
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), 0);
	json_decref(intent);
	now_s = T0 + 600; /* its end: within the token's leeway, not the grant's */
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_string_equal(no.message,
			    "the token's grant is no longer active (revoked or expired)");
	free(auth);

	/* revoked: refused at the next call */
	now_s = T0 + 1000;
	grant(f, "svc-a", "[\"read-logs\"]", 600, b);
	auth = bearer(f, b, NULL);
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), 0);
	json_decref(intent);
	struct jg_access_ctx ctx = access_ctx(f);
	assert_int_equal(jg_access_revoke(&ctx, &alice, b, "done", &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_null(intent);
	assert_int_equal(entries(f, "guard.refused", NULL), 2);
	free(auth);
}

static void
test_guard_anchor_must_be_the_tokens_own_issuance(void **state)
{
	struct fixture *f = *state;
	char id[64], other[64];
	struct jg_token_claims c, d;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *intent = NULL;

	grant(f, "svc-a", "[\"read-logs\"]", 600, id);
	free(bearer(f, id, &c));

	/* a leaf hash that is not the entry's */
	d = c;
	d.audit_hash[0] ^= 1;
	char *auth = forged(f, &d);
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_string_equal(no.message, "the token's audit anchor does not match the log");
	free(auth);

	/* another jti on a genuine anchor: that entry is not its issuance */
	d = c;
	snprintf(d.jti, sizeof(d.jti), "tok_copied");
	auth = forged(f, &d);
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	free(auth);

	/* an issuance entry written for claims its grant does not hold */
	grant(f, "svc-a", "[\"read-logs\"]", 600, other);
	d = c;
	snprintf(d.jti, sizeof(d.jti), "tok_more");
	snprintf(d.grant, sizeof(d.grant), "%s", other);
	snprintf(d.caps[1], sizeof(d.caps[1]), "deploy-probe");
	d.ncaps = 2;
	struct jg_audit_receipt r;
	json_t *data = jg_token_issued_data(&d);
	assert_int_equal(jg_audit_append(f->audit, "token.issued", "user:alice", data, &r), 0);
	json_decref(data);
	d.audit_seq = r.seq;
	memcpy(d.audit_hash, r.hash, 32);
	auth = forged(f, &d);
	assert_int_equal(check(f, auth, "svc-a", "read-logs", NULL, &g, &intent, &no), JG_EDENIED);
	assert_int_equal(no.status, 401);
	assert_string_equal(no.message, "the token's capabilities are not all its grant's");
	assert_null(intent);
	assert_int_equal(entries(f, "guard.refused", NULL), 3);
	free(auth);
}

static void
test_guard_charges_a_refused_token_not_its_owner(void **state)
{
	struct fixture *f = *state;
	char a[64], b[64], why[256];
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *intent = NULL, *out = NULL;

	grant(f, "svc-a", "[\"read-logs\"]", 600, a);
	grant(f, "svc-a", "[\"read-logs\"]", 600, b);
	char *revoked = bearer(f, a, NULL), *good = bearer(f, b, NULL);
	struct jg_access_ctx ctx = access_ctx(f);
	assert_int_equal(jg_access_revoke(&ctx, &alice, a, NULL, &out, why, sizeof(why)), 0);
	json_decref(out);
	/* the budget is two failures a minute: the third replay is a 429 */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(check(f, revoked, "svc-a", "read-logs", NULL, &g, &intent, &no),
				 JG_EDENIED);
		assert_int_equal(no.status, 401);
	}
	assert_int_equal(check(f, revoked, "svc-a", "read-logs", NULL, &g, &intent, &no),
			 JG_EDENIED);
	assert_int_equal(no.status, 429);
	assert_true(no.limit.retry_after >= 1);
	/* charged to that token alone: the address still has its own budget */
	assert_int_equal(
	    check(f, "Bearer not.a.token", "svc-a", "read-logs", NULL, &g, &intent, &no),
	    JG_EDENIED);
	assert_int_equal(no.status, 401);
	/* and the owner's other token, from the same address, still works */
	assert_int_equal(check(f, good, "svc-a", "read-logs", NULL, &g, &intent, &no), 0);
	json_decref(intent);
	/* a minute later the token has a failure left again (the clock, not sleep) */
	now_s += 60;
	assert_int_equal(check(f, revoked, "svc-a", "read-logs", NULL, &g, &intent, &no),
			 JG_EDENIED);
	assert_int_equal(no.status, 401);
	free(revoked);
	free(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_guard_needs_a_token_that_verifies, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_guard_passes_a_live_grant_and_returns_the_intent,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_token_is_for_its_service_and_capabilities,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_follows_the_grant_not_the_token, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_guard_anchor_must_be_the_tokens_own_issuance,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_charges_a_refused_token_not_its_owner, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
