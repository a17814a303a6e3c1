/*
 * test_notify_outbox.c - queuing notifications against a real SQLite store
 * and the audit writer: rows are written in the caller's transaction (a
 * work function that fails leaves none, its batch-mates keep theirs), and
 * routing picks the sinks by audience, group, policy and event type.
 * No delivery threads run here (the end-to-end tests deliver).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/audit.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/notify.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	struct jg_config *cfg;
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_notify *notify;
};

static const char config_fmt[] =
    "public_url: \"https://jg.example.com\"\n"
    "tls: {cert_file: c.pem, key_file: k.pem}\n"
    "database: {url: \"sqlite://test.db\"}\n"
    "oidc: {issuer: \"https://sso.example.com\", client_id: jg, allowed_clients: [jg]}\n"
    "notifications:\n"
    "  sinks:\n"
    "    - {name: all, type: webhook, url: \"https://a.example.com\", secret_file: %s,\n"
    "       audiences: [approvers, requester, security, operators]}\n"
    "    - {name: leads, type: slack, url: \"https://b.example.com\", groups: [payments-leads]}\n"
    "    - {name: sec, type: webhook, url: \"https://c.example.com\", secret_file: %s,\n"
    "       audiences: [security]}\n"
    "    - {name: other-policy, type: slack, url: \"https://d.example.com\", policies: [ledger]}\n"
    "    - {name: decisions, type: slack, url: \"https://e.example.com\", audiences: [requester],\n"
    "       events: [request.approved, request.denied]}\n";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "", path[128], keys[128], cfgtext[2048];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-outbox-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(path, sizeof(path), "%s/secret", f->root);
	FILE *s = fopen(path, "w");
	assert_non_null(s);
	assert_true(fputs("a-secret-of-at-least-16-bytes\n", s) >= 0);
	assert_int_equal(fclose(s), 0);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(cfgtext, sizeof(cfgtext), config_fmt, path, path);
	if (jg_config_parse(cfgtext, strlen(cfgtext), "t.yaml", f->root, &f->cfg, err,
			    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	if (jg_store_open(f->cfg->database_path, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	snprintf(keys, sizeof(keys), "%s/keys", f->root);
	struct jg_audit_config acfg = {.origin = "jg.example.com/audit",
				       .checkpoint_entries = 1000000,
				       .checkpoint_seconds = 3600,
				       .verify_threads = 1};
	if (jg_keys_generate(keys, err, sizeof(err)) != 0 ||
	    jg_audit_open(f->store, keys, &acfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("audit: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_notify_new(f->store, f->audit, f->cfg, &f->notify, err, sizeof(err)) != 0)
		fail_msg("notify: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_notify_free(f->notify);
	jg_audit_free(f->audit);
	jg_store_close(f->store);
	jg_config_free(f->cfg);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static json_t *
request(const char *policy_rule)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:[s],s:s,s:{s:[s],s:[{s:{s:[s],s:[]},s:i}]},s:[s]}",
			 "id", "req_1", "state", "pending", "requester", "alice", "service",
			 "payment-api", "capabilities", "deploy-probe", "justification",
			 "INC-1 checkout down", "decision", "matched_rules", policy_rule,
			 "requirements", "approvers", "groups", "payments-leads", "users", "count",
			 1, "requester_groups", "payments-eng");
}

struct job {
	struct jg_notify *n;
	const char *type;
	unsigned audiences;
	const char *rule;
	int result; /* what the work function returns after queuing */
};

static int
job_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct job *j = ctx;
	json_t *r = request(j->rule);
	int rc = jg_notify_request(j->n, jg_audit_tx_conn(tx), j->type, r, j->audiences, NULL);
	json_decref(r);
	if (rc == 0)
		rc = jg_audit_tx_append(tx, "test.change", "user:alice", NULL, NULL);
	return rc != 0 ? rc : j->result;
}

/* The sinks holding rows of event type, comma-separated in sink order of insertion. */
static void
sinks_of(struct fixture *f, const char *type, char *out, size_t len)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	static const char sql[] =
	    "SELECT sink, payload FROM notify_outbox WHERE event = ? ORDER BY rowid";
	out[0] = '\0';
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, sql, &st), 0);
	jg_stmt_bind_text(st, 1, type);
	while (jg_stmt_step(st) == JG_STMT_ROW) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "%s%s", n ? "," : "", jg_stmt_column_text(st, 0));
		json_t *p = json_loads(jg_stmt_column_text(st, 1), 0, NULL);
		assert_non_null(p);
		assert_string_equal(json_string_value(json_object_get(p, "type")), type);
		assert_true(strncmp(json_string_value(json_object_get(p, "id")), "ntf_", 4) == 0);
		json_decref(p);
	}
	jg_stmt_finish(st);
	jg_store_release(f->store, conn);
}

static void
test_notify_outbox_same_transaction(void **state)
{
	struct fixture *f = *state;
	char got[256];
	struct job ok = {f->notify, "request.pending", JG_NOTIFY_APPROVERS,
			 "payments-debug#rules[1]", 0};
	struct job refused = {f->notify, "request.denied", JG_NOTIFY_REQUESTER,
			      "payments-debug#rules[1]", JG_ECONFLICT};

	assert_int_equal(jg_audit_run(f->audit, job_fn, &ok), 0);
	assert_int_equal(jg_audit_run(f->audit, job_fn, &refused), JG_ECONFLICT);
	sinks_of(f, "request.pending", got, sizeof(got));
	assert_string_equal(got, "all,leads");
	sinks_of(f, "request.denied", got, sizeof(got));
	assert_string_equal(got, ""); /* rolled back with the change that failed */
	uint64_t size;
	assert_int_equal(jg_audit_size(f->store, &size), 0);
	assert_int_equal(size, 1); /* and its audit entry with it */
}

static void
test_notify_outbox_routing(void **state)
{
	struct fixture *f = *state;
	char got[256];
	struct job j = {f->notify, "request.approved", JG_NOTIFY_REQUESTER,
			"payments-debug#rules[1]", 0};

	/* requester: "all" and "decisions" (events filter); "leads" wants payments-leads only */
	assert_int_equal(jg_audit_run(f->audit, job_fn, &j), 0);
	sinks_of(f, "request.approved", got, sizeof(got));
	assert_string_equal(got, "all,decisions");
	/* break-glass: approvers and security */
	j.type = "break_glass.used";
	j.audiences = JG_NOTIFY_APPROVERS | JG_NOTIFY_SECURITY;
	assert_int_equal(jg_audit_run(f->audit, job_fn, &j), 0);
	sinks_of(f, "break_glass.used", got, sizeof(got));
	assert_string_equal(got, "all,leads,sec");
	/* a request of another policy: the policy-bound sink, not the others' policy filter */
	j.type = "request.reminder";
	j.audiences = JG_NOTIFY_APPROVERS;
	j.rule = "ledger#rules[0]";
	assert_int_equal(jg_audit_run(f->audit, job_fn, &j), 0);
	sinks_of(f, "request.reminder", got, sizeof(got));
	assert_string_equal(got, "all,leads,other-policy");
	/* an event no sink wants: nothing, and no error */
	j.type = "request.cancelled";
	j.audiences = 0;
	assert_int_equal(jg_audit_run(f->audit, job_fn, &j), 0);
	sinks_of(f, "request.cancelled", got, sizeof(got));
	assert_string_equal(got, "");
}

static void
test_notify_outbox_metrics_and_inactive(void **state)
{
	struct fixture *f = *state;
	struct job j = {f->notify, "request.pending", JG_NOTIFY_APPROVERS,
			"payments-debug#rules[1]", 0};
	assert_int_equal(jg_audit_run(f->audit, job_fn, &j), 0);
	char *m = jg_notify_metrics(f->notify);
	assert_non_null(m);
	assert_non_null(
	    strstr(m, "jitgate_notifications_queued{sink=\"all\",state=\"pending\"} 1\n"));
	assert_non_null(
	    strstr(m, "jitgate_notifications_queued{sink=\"sec\",state=\"pending\"} 0\n"));
	assert_non_null(
	    strstr(m, "jitgate_notifications_total{sink=\"all\",result=\"delivered\"} 0\n"));
	free(m);
	/* no notifier (no sinks): queuing is a no-op */
	j.n = NULL;
	assert_false(jg_notify_active(NULL));
	assert_int_equal(jg_audit_run(f->audit, job_fn, &j), 0);
}

static int64_t
count(struct fixture *f, const char *id)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	static const char sql[] = "SELECT count(*) FROM notify_outbox WHERE id = ?";
	int64_t n = -1;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, sql, &st), 0);
	jg_stmt_bind_text(st, 1, id);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, conn);
	return n;
}

/* Delivered rows older than keep_delivered_days go; recent ones and dead ones stay. */
static void
test_notify_outbox_prune(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *conn;
	char err[256];
	static const char rows[] =
	    "INSERT INTO notify_outbox (id, sink, event, payload, state, attempts, "
	    "next_attempt_at, "
	    "created_at, delivered_at) VALUES "
	    "('ntf_old', 'sec', 'request.pending', '{}', 'delivered', 1, 0, 0, 1000),"
	    "('ntf_new', 'sec', 'request.pending', '{}', 'delivered', 1, 0, 0, "
	    "  CAST(strftime('%s','now') AS INTEGER) * 1000),"
	    "('ntf_dead', 'sec', 'request.pending', '{}', 'dead', 12, 0, 0, NULL)";
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_store_exec_script(conn, rows, err, sizeof(err)), 0);
	jg_store_release(f->store, conn);
	assert_int_equal(jg_notify_start(f->notify), 0);
	for (int i = 0; i < 40 && count(f, "ntf_old") != 0; i++)
		usleep(100000);
	jg_notify_stop(f->notify);
	assert_int_equal(count(f, "ntf_old"), 0);
	assert_int_equal(count(f, "ntf_new"), 1);
	assert_int_equal(count(f, "ntf_dead"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_notify_outbox_same_transaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_outbox_routing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_outbox_metrics_and_inactive, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_notify_outbox_prune, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
