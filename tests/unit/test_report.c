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
 * Scheduled grants are reported as access.c writes them; the verified read
 * of a real log is not misled by edited ts; and a receipt's counters
 * (jg_audit_usage_classify) ignore refusals aimed at a grant by others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/audit_chain.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/report.h"
#include "jitgate/store.h"
#include "unit_fs.h"

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
	feed(s, T0 + 16, "grant.extension_requested", "user:alice",
	     json_pack("{s:s,s:s,s:s,s:[s],s:i,s:s}", "request", "req_x", "grant", "req_ext",
		       "service", "payment-gateway", "capabilities", "read-logs", "duration", 600,
		       "state", "pending"));
	/* as access.c writes an extension's approval: its id, and grant */
	feed(s, T0 + 17, "request.approved", "user:henry",
	     json_pack("{s:s,s:s,s:s,s:b,s:b,s:i}", "request", "req_x", "service",
		       "payment-gateway", "grant", "req_ext", "activated", 0, "granted", 1,
		       "expires_at", T0 + 1206));
	feed(s, T0 + 17, "grant.extended", "user:henry",
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
	/* who approved the extension (review finding 5), not an approver of the grant */
	assert_int_equal(json_array_size(json_object_get(g, "approvers")), 0);
	json_t *x = json_array_get(json_object_get(g, "extension_requests"), 0);
	assert_int_equal(json_array_size(json_object_get(g, "extension_requests")), 1);
	assert_string_equal(json_string_value(json_object_get(x, "id")), "req_x");
	assert_int_equal(json_array_size(json_object_get(x, "approvers")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(x, "approvers"), 0)),
			    "henry");
	assert_int_equal(json_integer_value(json_object_get(x, "expires_at")), T0 + 1206);
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

static json_t *
window_of(json_t *r, const char *id, const char *key)
{
	json_t *g = grant_of(r, id);
	assert_non_null(g);
	return json_object_get(json_object_get(g, "window"), key);
}

static void
created_later(struct jg_report_scan *s, int64_t ts, const char *id, const char *state)
{
	/* as access.c writes it: starts_at, no expires_at (not active at once) */
	feed(s, ts, "request.created", "user:alice",
	     json_pack("{s:s,s:s,s:[s],s:i,s:s,s:b,s:I}", "request", id, "service",
		       "payment-gateway", "capabilities", "read-logs", "duration", 600, "state",
		       state, "break_glass", 0, "starts_at", (json_int_t)T0 + 100));
}

static void
approved_later(struct jg_report_scan *s, int64_t ts, const char *id)
{
	/* access.c approve(): approved before starts_at */
	feed(s, ts, "request.approved", "user:carol",
	     json_pack("{s:s,s:s,s:b,s:b,s:I,s:I}", "request", id, "service", "payment-gateway",
		       "activated", 0, "scheduled", 1, "starts_at", (json_int_t)T0 + 100,
		       "expires_at", (json_int_t)T0 + 700));
}

/*
 * Scheduled starts (review finding 9), entries as access.c writes them:
 * approved before its start is a grant (scheduled, not pending); its
 * window is grant.activated's activated_at .. expires_at; one cancelled,
 * revoked or not activated before its start is a grant that ended
 * without starting; one granted at once with a later start (created
 * "scheduled") is a grant too.
 */
static void
test_report_scheduled(void **state)
{
	(void)state;
	struct jg_report_query q = {.from = T0, .to = T0 + 1000};
	struct jg_report_scan *s = NULL;
	json_t *r = NULL, *g;

	next_seq = 10;
	assert_int_equal(jg_report_scan_new(&q, &s), 0);
	created_later(s, T0 + 1, "req_started", "pending");
	created_later(s, T0 + 2, "req_waiting", "pending");
	created_later(s, T0 + 3, "req_cancelled", "pending");
	created_later(s, T0 + 4, "req_notact", "pending");
	created_later(s, T0 + 5, "req_revoked", "pending");
	created_later(s, T0 + 6, "req_auto", "scheduled");
	created_later(s, T0 + 7, "req_unapproved", "pending");
	approved_later(s, T0 + 10, "req_started");
	approved_later(s, T0 + 11, "req_waiting");
	approved_later(s, T0 + 12, "req_cancelled");
	approved_later(s, T0 + 13, "req_notact");
	approved_later(s, T0 + 14, "req_revoked");
	feed(s, T0 + 20, "request.cancelled", "user:alice",
	     json_pack("{s:s,s:s,s:s}", "request", "req_cancelled", "service", "payment-gateway",
		       "was", "scheduled"));
	feed(s, T0 + 21, "grant.revoked", "user:bob",
	     json_pack("{s:s,s:s,s:s}", "request", "req_revoked", "service", "payment-gateway",
		       "was", "scheduled"));
	feed(s, T0 + 100, "grant.activated", "system",
	     json_pack("{s:s,s:s,s:I,s:I}", "grant", "req_started", "service", "payment-gateway",
		       "activated_at", (json_int_t)T0 + 100, "expires_at", (json_int_t)T0 + 700));
	feed(s, T0 + 100, "grant.not_activated", "system",
	     json_pack("{s:s,s:s,s:s}", "grant", "req_notact", "service", "payment-gateway",
		       "reason", "m:0123"));
	feed(s, T0 + 101, "grant.activated", "system",
	     json_pack("{s:s,s:s,s:I,s:I}", "grant", "req_auto", "service", "payment-gateway",
		       "activated_at", (json_int_t)T0 + 100, "expires_at", (json_int_t)T0 + 700));
	feed(s, T0 + 102, "token.issued", "user:alice", json_pack("{s:s}", "grant", "req_started"));
	feed(s, T0 + 103, "logs.read", "user:alice", json_pack("{s:s}", "grant", "req_started"));
	assert_int_equal(jg_report_scan_finish(s, &r), 0);
	jg_report_scan_free(s);

	/* every approved one is a grant; the one never approved is not */
	assert_int_equal(json_array_size(json_object_get(r, "grants")), 6);
	assert_null(grant_of(r, "req_unapproved"));

	g = grant_of(r, "req_started");
	assert_string_equal(json_string_value(json_object_get(g, "state")), "active");
	assert_int_equal(json_integer_value(window_of(r, "req_started", "start")), T0 + 100);
	assert_int_equal(json_integer_value(window_of(r, "req_started", "expires_at")), T0 + 700);
	assert_int_equal(json_integer_value(json_object_get(g, "starts_at")), T0 + 100);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g, "approvers"), 0)),
			    "carol");
	assert_false(has_flag(g, "never_used"));
	assert_false(has_flag(g, "never_started"));

	g = grant_of(r, "req_waiting"); /* approved, its start not come yet */
	assert_string_equal(json_string_value(json_object_get(g, "state")), "scheduled");
	assert_true(json_is_null(window_of(r, "req_waiting", "start")));
	assert_int_equal(json_integer_value(window_of(r, "req_waiting", "expires_at")), T0 + 700);

	const char *unstarted[][2] = {{"req_cancelled", "cancelled"},
				      {"req_notact", "not_activated"},
				      {"req_revoked", "revoked"}};
	for (size_t i = 0; i < 3; i++) {
		g = grant_of(r, unstarted[i][0]);
		assert_non_null(g);
		assert_string_equal(json_string_value(json_object_get(g, "state")), "ended");
		assert_string_equal(json_string_value(window_of(r, unstarted[i][0], "end_reason")),
				    unstarted[i][1]);
		assert_true(json_is_null(window_of(r, unstarted[i][0], "start")));
		assert_true(has_flag(g, "never_started"));
	}

	g = grant_of(r, "req_auto"); /* granted at once, started by the sweeper */
	assert_string_equal(json_string_value(json_object_get(g, "state")), "active");
	assert_int_equal(json_integer_value(window_of(r, "req_auto", "start")), T0 + 100);
	assert_int_equal(json_array_size(json_object_get(g, "approvers")), 0);
	json_decref(r);
}

/*
 * Review finding 7: a receipt counts what its grant was used for.  A
 * refusal to a signed-in caller names the request they aimed at, which
 * anyone who knows a grant's id can cause: it must not count toward that
 * grant (nor its suppressed summary), while the grant's own entries do.
 */
static void
test_receipt_ignores_refusals(void **state)
{
	(void)state;
	char grant[JG_AUDIT_GRANT_ID_MAX];
	struct jg_audit_usage d;
	json_t *refused = json_pack("{s:s,s:s,s:s,s:s}", "request", "req_victim", "service",
				    "payment-gateway", "action", "revoke", "reason", "m:01");
	json_t *summary =
	    json_pack("{s:i,s:i,s:[s],s:[s],s:s}", "suppressed", 5, "recorded", 3, "actions",
		      "revoke", "targets", "req_victim", "request", "req_victim");
	json_t *revoked = json_pack("{s:s}", "request", "req_victim");
	json_t *read = json_pack("{s:s,s:b}", "grant", "req_victim", "pii", 1);

	assert_int_equal(jg_audit_usage_classify("request.action_refused", refused, grant, &d), 0);
	assert_int_equal(d.entries, 0);
	assert_int_equal(
	    jg_audit_usage_classify("request.action_refusals_suppressed", summary, grant, &d), 0);
	assert_int_equal(d.entries, 0);
	/* the grant's own entries still count */
	assert_int_equal(jg_audit_usage_classify("grant.revoked", revoked, grant, &d), 1);
	assert_string_equal(grant, "req_victim");
	assert_int_equal(d.entries, 1);
	assert_int_equal(jg_audit_usage_classify("logs.read", read, grant, &d), 1);
	assert_int_equal(d.actions, 1);
	assert_int_equal(d.log_queries, 1);
	assert_int_equal(d.pii_reads, 1);
	json_decref(refused);
	json_decref(summary);
	json_decref(revoked);
	json_decref(read);
}

/* ---- the verified read of a real log (report_read.c) ----------------------------------- */

struct logfix {
	char root[64], db[128], keys[128];
	struct jg_store *store;
	struct jg_audit *audit;
};

static void
log_open(struct logfix *f)
{
	struct jg_audit_config cfg = {.origin = "jitgate.test/report",
				      .checkpoint_entries = 1000000,
				      .checkpoint_seconds = 3600,
				      .verify_threads = 1};
	char err[512] = "";
	snprintf(f->root, sizeof(f->root), "/tmp/jg-report-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	if (jg_store_open(f->db, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0 ||
	    jg_keys_generate(f->keys, err, sizeof(err)) != 0 ||
	    jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("log_open: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	/* serve hands over the log verified at start; here it is empty */
	struct jg_chain chain;
	jg_chain_init(&chain, 1);
	jg_audit_set_verified(f->audit, &chain);
}

static void
log_close(struct logfix *f)
{
	jg_audit_free(f->audit);
	jg_store_close(f->store);
	unit_rm_tree(f->root);
}

static void
log_sql(struct logfix *f, const char *sql)
{
	struct jg_store_conn *c;
	char err[512] = "";
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	int rc = jg_store_exec_script(c, sql, err, sizeof(err));
	jg_store_release(f->store, c);
	if (rc != 0)
		fail_msg("%s: %s", sql, err);
}

static int64_t
log_int(struct logfix *f, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t v = -1;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	return v;
}

static void
log_append(struct logfix *f, const char *type, json_t *data)
{
	assert_int_equal(jg_audit_append(f->audit, type, "user:alice", data, NULL), 0);
	json_decref(data);
}

static json_t *
created_data(const char *id)
{
	return json_pack("{s:s,s:s,s:[s],s:i,s:s,s:b,s:I}", "request", id, "service",
			 "payment-gateway", "capabilities", "read-logs", "duration", 600, "state",
			 "active", "break_glass", 0, "expires_at", (json_int_t)time(NULL) + 600);
}

/*
 * Finding 2 of the issue-19 review: the binary search for the period's
 * first entry reads stored ts that nothing verified.  Someone with write
 * access to the database sets ts of the period's first entries (those the
 * search probes) before the period: the search lands later and the
 * period's first grant would be skipped from a report that still
 * verifies.  The read starts at the entry before the search's answer,
 * proven through the links, and its ts must be before the period: the
 * report is refused instead.
 */
static void
test_report_start_not_misled(void **state)
{
	(void)state;
	struct logfix f = {0};
	json_t *out = NULL;
	log_open(&f);
	for (int i = 0; i < 40; i++)
		log_append(&f, "x.filler", json_object());
	int64_t last_ms = log_int(&f, "SELECT json_extract(CAST(entry AS TEXT), '$.ts') FROM "
				      "audit_log ORDER BY seq DESC LIMIT 1");
	int64_t from = last_ms / 1000 + 1;
	struct timespec now;
	do {
		usleep(20000);
		clock_gettime(CLOCK_REALTIME, &now);
	} while ((int64_t)now.tv_sec < from || now.tv_nsec < 50000000);
	log_append(&f, "request.created", created_data("req_first"));
	int64_t first = log_int(&f, "SELECT max(seq) FROM audit_log");
	assert_true(log_int(&f, "SELECT json_extract(CAST(entry AS TEXT), '$.ts') FROM audit_log "
				"ORDER BY seq DESC LIMIT 1") >= from * 1000);
	for (int i = 0; i < 40; i++)
		log_append(&f, "x.filler", json_object());
	log_append(&f, "request.created", created_data("req_later"));

	struct jg_report_query q = {.from = from, .to = from + 3600};
	assert_int_equal(jg_report_access(f.audit, f.store, &q, &out), 0);
	assert_non_null(grant_of(out, "req_first"));
	assert_non_null(grant_of(out, "req_later"));
	/* the entry before the period is read to prove the start, not reported as scanned */
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(out, "scanned"), "first_seq")),
	    first);
	json_decref(out);
	out = NULL;

	/* the attack: the period's first 31 entries dated before it, in the stored bytes */
	log_sql(&f, "DROP TRIGGER audit_log_no_update");
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE audit_log SET entry = CAST(json_set(CAST(entry AS TEXT), '$.ts', 0) AS "
		 "BLOB) WHERE seq BETWEEN %lld AND %lld",
		 (long long)first, (long long)first + 30);
	log_sql(&f, sql);
	int rc = jg_report_access(f.audit, f.store, &q, &out);
	if (rc == 0)
		fail_msg("a report that %s req_first was made from a misled search",
			 grant_of(out, "req_first") ? "shows" : "silently skips");
	assert_int_equal(rc, JG_EVERIFY);
	log_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report_flags),
	    cmocka_unit_test(test_report_done),
	    cmocka_unit_test(test_report_csv),
	    cmocka_unit_test(test_report_scheduled),
	    cmocka_unit_test(test_report_start_not_misled),
	    cmocka_unit_test(test_receipt_ignores_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
