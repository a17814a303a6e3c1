/*
 * test_throttle.c - who is charged for a failure, and what a spent budget
 * refuses (throttle.h), on a clock the test moves: no sleeping.
 *
 * The rule under test: a failure is charged to the address when the
 * credential did not verify, to the credential itself when an authentic one
 * was refused for its own state; one budget never spends another; the
 * guard.refused entries of one token are capped for good.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/throttle.h"

static int64_t clock_ms;

static int64_t
test_clock(void *arg)
{
	(void)arg;
	return clock_ms;
}

/* 5 failures at once, one back every 10 s; 3 requests per identity, 5 per address. */
static const struct jg_limits limits = {
    .auth_failures_per_minute = 6,
    .auth_failures_burst = 5,
    .requests_per_minute = 1,
    .requests_burst = 3,
    .requests_per_address_per_minute = 1,
    .requests_address_burst = 5,
    .rate_table_entries = 64,
};

static int
setup(void **state)
{
	clock_ms = 1000;
	*state = jg_throttle_new_clock(&limits, test_clock, NULL);
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	jg_throttle_free(*state);
	return 0;
}

static void
test_throttle_address_budget_then_refill(void **state)
{
	struct jg_throttle *t = *state;
	struct jg_throttle_refusal why = {0};

	for (int i = 0; i < 5; i++)
		assert_int_equal(jg_throttle_failed_address(t, "192.0.2.1", &why), 0);
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.1", &why), JG_EDENIED);
	assert_int_equal(why.retry_after, 10);
	assert_string_equal(why.what, "too many failed authentications from this address");
	/* another address has its own budget */
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.2", &why), 0);
	/* one failure is back after 10 s, not before (a refused failure takes nothing) */
	clock_ms += 9999;
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.1", &why), JG_EDENIED);
	assert_int_equal(why.retry_after, 1);
	clock_ms += 1;
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.1", &why), 0);
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.1", &why), JG_EDENIED);
}

/* A spent credential spends neither its address nor another credential, and the reverse. */
static void
test_throttle_credential_and_address_are_apart(void **state)
{
	struct jg_throttle *t = *state;
	struct jg_throttle_refusal why = {0};

	for (int i = 0; i < 5; i++)
		assert_int_equal(jg_throttle_failed_credential(t, "jti:leaked", &why), 0);
	assert_int_equal(jg_throttle_failed_credential(t, "jti:leaked", &why), JG_EDENIED);
	assert_string_equal(why.what, "too many failed uses of this credential");
	assert_true(why.retry_after >= 1);
	/* the replays charged no address and no other token or session */
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.7", &why), 0);
	assert_int_equal(jg_throttle_failed_credential(t, "jti:fresh", &why), 0);
	assert_int_equal(jg_throttle_failed_credential(t, "session:abc", &why), 0);

	/* an address that is spent charges no credential */
	for (int i = 0; i < 6; i++)
		assert_int_equal(jg_throttle_failed_address(t, "192.0.2.8", &why),
				 i < 5 ? 0 : JG_EDENIED);
	assert_int_equal(jg_throttle_failed_credential(t, "session:def", &why), 0);
}

/* The guard.refused entries of a token: the first JG_THROTTLE_REFUSALS_PER_TOKEN, ever. */
static void
test_throttle_refusals_capped_per_token_for_good(void **state)
{
	struct jg_throttle *t = *state;

	for (int i = 0; i < JG_THROTTLE_REFUSALS_PER_TOKEN; i++)
		assert_true(jg_throttle_refusal_recordable(t, "replayed"));
	for (int i = 0; i < 40; i++)
		assert_false(jg_throttle_refusal_recordable(t, "replayed"));
	/* a day later: still capped */
	clock_ms += INT64_C(86400) * 1000;
	assert_false(jg_throttle_refusal_recordable(t, "replayed"));
	/* other tokens have their own count */
	assert_true(jg_throttle_refusal_recordable(t, "another"));
	char *m = jg_throttle_metrics_text(t);
	assert_non_null(m);
	assert_non_null(strstr(m, "jitgate_guard_refusals_unrecorded_total 41\n"));
	assert_non_null(
	    strstr(m, "jitgate_rate_limit_entries{table=\"guard_refusals_token\"} 2\n"));
	free(m);
}

static void
test_throttle_requests_per_identity_and_address(void **state)
{
	struct jg_throttle *t = *state;
	struct jg_throttle_refusal why = {0};

	for (int i = 0; i < 3; i++)
		assert_int_equal(jg_throttle_request(t, "192.0.2.9", "user:alice", &why), 0);
	assert_int_equal(jg_throttle_request(t, "192.0.2.9", "user:alice", &why), JG_EDENIED);
	assert_string_equal(why.what, "too many new access requests for this identity");
	assert_int_equal(why.retry_after, 60);
	/* the refusal still charged the address: 4 of 5 used, one left for bob */
	assert_int_equal(jg_throttle_request(t, "192.0.2.9", "user:bob", &why), 0);
	assert_int_equal(jg_throttle_request(t, "192.0.2.9", "user:carol", &why), JG_EDENIED);
	assert_string_equal(why.what, "too many new access requests from this address");
	/* alice from elsewhere is still limited as alice */
	assert_int_equal(jg_throttle_request(t, "192.0.2.10", "user:alice", &why), JG_EDENIED);
	/* a minute later, one more */
	clock_ms += 60000;
	assert_int_equal(jg_throttle_request(t, "192.0.2.10", "user:alice", &why), 0);
}

static void
test_throttle_login_per_address(void **state)
{
	struct jg_throttle *t = *state;
	struct jg_throttle_refusal why = {0};

	for (int i = 0; i < 5; i++)
		assert_int_equal(jg_throttle_login(t, "192.0.2.11", &why), 0);
	assert_int_equal(jg_throttle_login(t, "192.0.2.11", &why), JG_EDENIED);
	assert_string_equal(why.what, "too many sign-ins from this address");
	assert_int_equal(jg_throttle_login(t, "192.0.2.12", &why), 0);
}

static void
test_throttle_reply_is_a_429_with_retry_after(void **state)
{
	struct jg_http_reply reply = {0};
	struct jg_throttle_refusal why = {.retry_after = 7, .what = "too many things"};
	(void)state;

	jg_throttle_reply(&reply, &why);
	assert_int_equal(reply.status, 429);
	assert_non_null(strstr(reply.body, "\"too_many_requests\""));
	assert_non_null(strstr(reply.body, "too many things; retry in 7 seconds"));
	json_t *h = json_array_get(reply.headers, 0);
	assert_string_equal(json_string_value(json_array_get(h, 0)), "Retry-After");
	assert_string_equal(json_string_value(json_array_get(h, 1)), "7");
	free(reply.body);
	json_decref(reply.headers);
}

/* The metrics name the credential table; the identity table is gone. */
static void
test_throttle_metrics_tables(void **state)
{
	struct jg_throttle *t = *state;
	struct jg_throttle_refusal why;

	assert_int_equal(jg_throttle_failed_credential(t, "session:x", &why), 0);
	assert_int_equal(jg_throttle_failed_address(t, "192.0.2.13", &why), 0);
	char *m = jg_throttle_metrics_text(t);
	assert_non_null(m);
	assert_non_null(strstr(m, "jitgate_auth_failures_total 2\n"));
	assert_non_null(strstr(m, "{table=\"auth_failures_credential\"} 1\n"));
	assert_non_null(strstr(m, "{table=\"auth_failures_address\"} 1\n"));
	assert_null(strstr(m, "auth_failures_identity"));
	free(m);
}

static void
test_throttle_null_never_limits(void **state)
{
	struct jg_throttle_refusal why = {0};
	(void)state;

	for (int i = 0; i < 100; i++) {
		assert_int_equal(jg_throttle_failed_address(NULL, "192.0.2.1", &why), 0);
		assert_int_equal(jg_throttle_failed_credential(NULL, "jti:x", &why), 0);
		assert_true(jg_throttle_refusal_recordable(NULL, "x"));
		assert_int_equal(jg_throttle_request(NULL, "192.0.2.1", "user:a", &why), 0);
		assert_int_equal(jg_throttle_login(NULL, "192.0.2.1", &why), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_throttle_address_budget_then_refill, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_throttle_credential_and_address_are_apart, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_throttle_refusals_capped_per_token_for_good, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_throttle_requests_per_identity_and_address, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_throttle_login_per_address, setup, teardown),
	    cmocka_unit_test(test_throttle_reply_is_a_429_with_retry_after),
	    cmocka_unit_test_setup_teardown(test_throttle_metrics_tables, setup, teardown),
	    cmocka_unit_test(test_throttle_null_never_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
