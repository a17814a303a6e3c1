/*
 * test_report.c - the access-review scanner (report.h) fed entries as the
 * log holds them.
 *
 * A period holds five requests of one service and one of another: a grant
 * never used, one used with read-pii, an unreviewed break-glass grant, a
 * reviewed one that was used, one extended (grant.extended, issue 19 item
 * 1) whose grant.receipt (item 3) becomes its summary, and a denied
 * request (not a grant).  Each flag must be on exactly the grants it
 * describes; requests outside the period or of another service are not
 * reported; the scanner says "done" only once the period is over and no
 * grant is open; the CSV quotes cells and defuses formula-looking ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/report.h"

#define T0 1800000000LL /* seconds: the period is [T0, T0 + 1000) */

static uint64_t next_seq;

/* Feeds {seq, ts (s), type, actor, data (stolen)}; returns the scanner's done. */
static bool
feed(struct jg_report_scan *s, int64_t ts, const char *type, const char *actor, json_t *data)
{
	bool done = true;
	json_t *e =
	    json_pack("{s:I,s:I,s:s,s:s,s:o,s:i}", "seq", (json_int_t)next_seq++, "ts",
		      (json_int_t)ts * 1000, "type", type, "actor", actor, "data", data, "v", 1);
	assert_non_null(e);
	assert_int_equal(jg_report_scan_feed(s, e, &done), 0);
	json_decref(e);
	return done;
}

static void
created(struct jg_report_scan *s, int64_t ts, const char *id, const char *svc, const char *actor,
	const char *state, int break_glass)
{
	feed(s, ts, "request.created", actor,
	     json_pack("{s:s,s:s,s:[s],s:i,s:s,s:b}", "request", id, "service", svc, "capabilities",
		       "read-logs", "duration", 600, "state", state, "break_glass", break_glass));
}

static json_t *
grant_of(json_t *report, const char *id)
{
	json_t *g;
	size_t i;
	json_array_foreach(json_object_get(report, "grants"), i,
			   g) if (strcmp(json_string_value(json_object_get(g, "grant")), id) ==
				  0) return g;
	return NULL;
}

static bool
has_flag(json_t *g, const char *flag)
{
	json_t *f;
	size_t i;
	json_array_foreach(json_object_get(g, "flags"), i,
			   f) if (strcmp(json_string_value(f), flag) == 0) return true;
	return false;
}

static json_t *
period_report(bool *done_at_end)
{
	struct jg_report_query q = {.from = T0, .to = T0 + 1000, .service = "payment-gateway"};
	struct jg_report_scan *s = NULL;
	json_t *out = NULL;

	next_seq = 100;
	assert_int_equal(jg_report_scan_new(&q, &s), 0);
	/* before the period: not reported even though it is used in it */
	created(s, T0 - 1, "req_before", "payment-gateway", "user:alice", "active", 0);
	created(s, T0 + 1, "req_unused", "payment-gateway", "user:alice", "active", 0);
	created(s, T0 + 2, "req_pii", "payment-gateway", "user:alice", "pending", 0);
	created(s, T0 + 3, "req_other", "checkout", "user:alice", "active", 0);
	created(s, T0 + 4, "req_bg", "payment-gateway", "user:frank", "active", 1);
	created(s, T0 + 5, "req_bg_ok", "payment-gateway", "user:frank", "active", 1);
	created(s, T0 + 6, "req_ext", "payment-gateway", "user:alice", "active", 0);
	created(s, T0 + 7, "req_denied", "payment-gateway", "user:dave", "pending", 0);
	feed(s, T0 + 8, "logs.read", "user:alice", json_pack("{s:s}", "grant", "req_before"));
	feed(s, T0 + 10, "request.approved", "user:carol",
	     json_pack("{s:s,s:b}", "request", "req_pii", "activated", 0));
	feed(s, T0 + 11, "request.approved", "user:grace",
	     json_pack("{s:s,s:b,s:i}", "request", "req_pii", "activated", 1, "expires_at",
		       T0 + 611));
	feed(s, T0 + 12, "token.issued", "user:alice", json_pack("{s:s}", "grant", "req_pii"));
	feed(s, T0 + 13, "logs.read", "user:alice",
	     json_pack("{s:s,s:b}", "grant", "req_pii", "pii", 1));
	feed(s, T0 + 14, "logs.read", "user:frank", json_pack("{s:s}", "grant", "req_bg_ok"));
	feed(s, T0 + 15, "grant.reviewed", "user:bob", json_pack("{s:s}", "request", "req_bg_ok"));
	feed(s, T0 + 16, "metrics.read", "user:alice", json_pack("{s:s}", "grant", "req_ext"));
	feed(s, T0 + 17, "grant.extended", "user:bob",
	     json_pack("{s:s,s:s,s:i,s:i}", "grant", "req_ext", "extension", "req_x",
		       "previous_expires_at", T0 + 606, "expires_at", T0 + 1206));
	feed(s, T0 + 18, "guard.refused", "user:alice", json_pack("{s:s}", "grant", "req_ext"));
	feed(s, T0 + 19, "request.denied", "user:bob", json_pack("{s:s}", "request", "req_denied"));
	feed(s, T0 + 20, "grant.revoked", "user:alice",
	     json_pack("{s:s}", "request", "req_unused"));
	/* after the period: the open grants still end, and are followed */
	assert_false(feed(s, T0 + 1001, "grant.expired", "system",
			  json_pack("{s:s,s:s}", "request", "req_pii", "was", "active")));
	assert_false(feed(s, T0 + 1002, "grant.expired", "system",
			  json_pack("{s:s,s:s}", "request", "req_bg_ok", "was", "active")));
	assert_false(feed(s, T0 + 1003, "grant.expired", "system",
			  json_pack("{s:s,s:s}", "request", "req_bg", "was", "active")));
	feed(s, T0 + 1206, "grant.expired", "system",
	     json_pack("{s:s,s:s}", "request", "req_ext", "was", "active"));
	/* the receipt written with the end entry is the summary */
	bool done = feed(s, T0 + 1206, "grant.receipt", "system",
			 json_pack("{s:s,s:i,s:{s:i}}", "grant", "req_ext", "tokens_issued", 0,
				   "actions", "metrics.read", 1));
	/* req_bg is still unreviewed: an unreviewed break-glass grant keeps the scan going */
	assert_false(done);
	*done_at_end = done;
	assert_int_equal(jg_report_scan_finish(s, &out), 0);
	jg_report_scan_free(s);
	return out;
}

static void
test_report_flags(void **state)
{
	(void)state;
	bool done;
	json_t *r = period_report(&done), *g;

	assert_non_null(r);
	assert_int_equal(json_array_size(json_object_get(r, "grants")), 5);
	assert_null(grant_of(r, "req_before"));
	assert_null(grant_of(r, "req_other"));
	assert_null(grant_of(r, "req_denied"));

	g = grant_of(r, "req_unused");
	assert_non_null(g);
	assert_true(has_flag(g, "never_used"));
	assert_int_equal(json_array_size(json_object_get(g, "flags")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(g, "window"), "end_reason")),
	    "revoked");
	assert_int_equal(json_array_size(json_object_get(g, "approvers")), 0);

	g = grant_of(r, "req_pii");
	assert_true(has_flag(g, "read_pii_used"));
	assert_false(has_flag(g, "never_used"));
	assert_int_equal(json_array_size(json_object_get(g, "approvers")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g, "approvers"), 1)),
			    "grace");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(g, "window"), "start")),
			 T0 + 11);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(g, "usage"), "tokens_issued")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(g, "receipt"), "source")), "log");

	g = grant_of(r, "req_bg");
	assert_true(has_flag(g, "break_glass_unreviewed"));
	assert_true(has_flag(g, "never_used"));

	g = grant_of(r, "req_bg_ok");
	assert_int_equal(json_array_size(json_object_get(g, "flags")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(g, "review"), "by")),
			    "bob");

	g = grant_of(r, "req_ext");
	assert_true(has_flag(g, "extended"));
	assert_int_equal(json_array_size(json_object_get(g, "flags")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(g, "window"), "expires_at")),
	    T0 + 1206);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(g, "usage"), "refusals")), 1);
	json_t *rc = json_object_get(g, "receipt");
	assert_string_equal(json_string_value(json_object_get(rc, "source")), "grant.receipt");
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(rc, "data"), "actions"), "metrics.read")),
	    1);
	json_decref(r);
}

/* Once the period is over and nothing is open, the scanner says so. */
static void
test_report_done(void **state)
{
	(void)state;
	struct jg_report_query q = {.from = T0, .to = T0 + 10};
	struct jg_report_scan *s = NULL;
	assert_int_equal(jg_report_scan_new(&q, &s), 0);
	created(s, T0 + 1, "req_a", "payment-gateway", "user:frank", "active", 1);
	assert_false(
	    feed(s, T0 + 11, "grant.expired", "system", json_pack("{s:s}", "request", "req_a")));
	assert_false(feed(s, T0 + 12, "auth.login", "user:bob", json_object()));
	assert_true(
	    feed(s, T0 + 13, "grant.reviewed", "user:bob", json_pack("{s:s}", "request", "req_a")));
	jg_report_scan_free(s);
	/* a bad period or service */
	q.to = T0;
	assert_int_equal(jg_report_scan_new(&q, &s), JG_EINVAL);
	q.to = T0 + 1;
	q.service = "Bad Service";
	assert_int_equal(jg_report_scan_new(&q, &s), JG_EINVAL);
}

static void
test_report_csv(void **state)
{
	(void)state;
	bool done;
	json_t *r = period_report(&done);
	char *csv = NULL;
	size_t len = 0;

	/* a requester as some identity providers name them: a formula must stay text */
	json_object_set_new(json_array_get(json_object_get(r, "grants"), 0), "requester",
			    json_string("=HYPERLINK(\"x\")"));
	assert_int_equal(jg_report_csv(r, &csv, &len), 0);
	assert_int_equal(strlen(csv), len);
	assert_non_null(strstr(csv, "\"grant\",\"service\",\"requester\""));
	assert_non_null(strstr(csv, "\"'=HYPERLINK(\"\"x\"\")\""));
	assert_non_null(strstr(csv, "\"req_pii\",\"payment-gateway\",\"alice\""));
	assert_non_null(strstr(csv, "\"read_pii_used\"\r\n"));
	assert_non_null(strstr(csv, "\"extended\"\r\n"));
	assert_non_null(strstr(csv, "\"never_used break_glass_unreviewed\"\r\n"));
	int lines = 0;
	for (const char *p = csv; (p = strstr(p, "\r\n")) != NULL; p += 2)
		lines++;
	assert_int_equal(lines, 6); /* the header and five grants */
	free(csv);
	char *text = NULL;
	assert_int_equal(jg_report_text(r, &text), 0);
	assert_non_null(strstr(text, "NOT REVIEWED"));
	free(text);
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report_flags),
	    cmocka_unit_test(test_report_done),
	    cmocka_unit_test(test_report_csv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
