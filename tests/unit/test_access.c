/*
 * test_access.c - the request lifecycle (access.h) against a real SQLite
 * store, the repository's migrations and a started audit writer, with the
 * policy set of this file.  Time is the context's `now`, moved by the
 * tests: nothing sleeps.  Built as test_access_pg (JG_TEST_PG), the same
 * cases run on a fresh PostgreSQL database migrated by an owner role and
 * served as a role holding only jitgate_serving (tests/unit/pgdb.h).
 *
 * What a user relies on: a grant ends when its time is up and a request
 * that waits too long expires (the sweep); a request needs as many
 * distinct approvals as its requirement says; nobody approves their own
 * request, nor approves twice; a refused action is evidence in the audit
 * log, within a per-identity budget whose overflow is summed up once the
 * window is over; the time-based notifications are queued once, and a
 * store failure while looking for them is reported, not taken for "none".
 * An extension moves its grant's end only on its last approval (never the
 * requester's), within max_total_duration, one pending at a time, and
 * expires with its grant.
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

#include <cmocka.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/notify.h"
#include "jitgate/policy.h"
#include "jitgate/session.h"
#include "jitgate/session_grant.h"
#include "jitgate/store.h"
#include "unit_fs.h"

#ifdef JG_TEST_PG
#include "pgdb.h"
#endif

#define T0 1764000000 /* the tests' clock starts here (Unix seconds) */

static const char policy_yaml[] = "policy: test-debug\n"
				  "description: the policy of test_access.c\n"
				  "services: [\"svc-*\"]\n"
				  "rules:\n"
				  "  - capabilities: [read-logs]\n"
				  "    requesters: {groups: [eng]}\n"
				  "    max_duration: 4h\n"
				  "    approval: none\n"
				  "  - capabilities: [deploy-probe]\n"
				  "    requesters: {groups: [eng]}\n"
				  "    max_duration: 1h\n"
				  "    max_total_duration: 2h\n"
				  "    approval: {approvers: {groups: [leads]}, count: 1}\n"
				  "  - capabilities: [read-pii]\n"
				  "    requesters: {groups: [eng]}\n"
				  "    max_duration: 30m\n"
				  "    approval: {approvers: {groups: [privacy]}, count: 2}\n"
				  "break_glass:\n"
				  "  requesters: {groups: [oncall]}\n"
				  "  max_duration: 1h\n"
				  "  capabilities: [read-logs]\n"
				  "  justification: {pattern: \"[A-Z][A-Z0-9]+-[0-9]+\"}\n";

/* One webhook sink that hears everything; its thread is never started. */
static const char config_fmt[] =
    "public_url: \"https://jg.example.com\"\n"
    "tls: {cert_file: c.pem, key_file: k.pem}\n"
    "database: {url: \"%s\"}\n"
    "telemetry: {database: t.db}\n"
    "oidc: {issuer: \"https://sso.example.com\", client_id: jg, allowed_clients: [jg]}\n"
    "notifications:\n"
    "  sinks:\n"
    "    - {name: all, type: webhook, url: \"https://a.example.com\", secret_file: %s,\n"
    "       audiences: [approvers, requester, security, operators]}\n";

struct fixture {
	char root[64];
	char db[64];		/* PostgreSQL: the database's name */
	struct jg_store *owner; /* PostgreSQL: the schema's owner, for tampering */
	struct jg_config *cfg;
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_policy_set *policies;
	struct jg_notify *notify; /* only for the tests that need it */
	struct jg_access_ctx ctx;
};

static const char *const eng[] = {"eng"}, *const leads[] = {"leads"},
			 *const privacy[] = {"privacy"}, *const oncall[] = {"oncall", "eng"};
static const struct jg_access_caller
    alice = {.actor = "user:alice", .sub = "alice", .groups = eng, .ngroups = 1},
    lead = {.actor = "user:lee", .sub = "lee", .groups = leads, .ngroups = 1},
    priv1 = {.actor = "user:pia", .sub = "pia", .groups = privacy, .ngroups = 1},
    priv2 = {.actor = "user:pat", .sub = "pat", .groups = privacy, .ngroups = 1},
    bob = {.actor = "user:bob", .sub = "bob", .groups = eng, .ngroups = 1},
    carol = {.actor = "user:carol", .sub = "carol", .groups = oncall, .ngroups = 2};

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[1024] = "", path[128], keys[128], cfgtext[2048];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-access-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(path, sizeof(path), "%s/secret", f->root);
	write_file(path, "a-secret-of-at-least-16-bytes\n", 0600);
	char url[256] = "sqlite://test.db";
#ifdef JG_TEST_PG
	if (pgdb_create_migrated(f->db, sizeof(f->db), &f->owner, url, sizeof(url), err,
				 sizeof(err)) != 0)
		fail_msg("owner store: %s", err);
#endif
	snprintf(cfgtext, sizeof(cfgtext), config_fmt, url, path);
	if (jg_config_parse(cfgtext, strlen(cfgtext), "t.yaml", f->root, &f->cfg, err,
			    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	if (jg_store_open(f->cfg->database_store, &f->store, err, sizeof(err)) != 0 ||
	    (f->owner == NULL &&
	     jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0))
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
	if (jg_policy_set_parse("test.yaml", policy_yaml, strlen(policy_yaml), NULL, &f->policies,
				err, sizeof(err)) != 0)
		fail_msg("policy: %s", err);
	f->ctx = (struct jg_access_ctx){.store = f->store,
					.audit = f->audit,
					.policies = f->policies,
					.pending_ttl = 3600,
					.now = T0};
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
	jg_store_close(f->owner);
#ifdef JG_TEST_PG
	pgdb_drop(f->db);
#endif
	jg_policy_set_free(f->policies);
	jg_config_free(f->cfg);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* A request of caller (body as JSON text) that must be stored; its id into id. */
static json_t *
create(struct fixture *f, const struct jg_access_caller *c, const char *body_json, char id[64])
{
	json_t *body = json_loads(body_json, 0, NULL), *out = NULL;
	char why[256] = "";
	assert_non_null(body);
	int rc = jg_access_create(&f->ctx, c, body, &out, why, sizeof(why));
	json_decref(body);
	if (rc != 0)
		fail_msg("create: %d %s", rc, why);
	snprintf(id, 64, "%s", json_string_value(json_object_get(out, "id")));
	return out;
}

static const char *
state_of(struct fixture *f, const char *id, char buf[16])
{
	json_t *out = NULL;
	char why[128];
	static const struct jg_access_caller admin = {
	    .actor = "user:root", .sub = "root", .is_admin = 1};
	assert_int_equal(jg_access_get(&f->ctx, &admin, id, &out, why, sizeof(why)), 0);
	snprintf(buf, 16, "%s", json_string_value(json_object_get(out, "state")));
	json_decref(out);
	return buf;
}

/* How many audit entries of this type (and actor, when not NULL) the log holds. */
static size_t
entries(struct fixture *f, const char *type, const char *actor, json_t **last)
{
	struct jg_audit_filter filter = {
	    .type = type, .actor = actor, .before = UINT64_MAX, .limit = JG_AUDIT_LIST_MAX};
	json_t *out = NULL;
	assert_int_equal(jg_audit_list(f->store, &filter, &out), 0);
	json_t *list = json_object_get(out, "entries");
	size_t n = json_array_size(list);
	if (last != NULL)
		*last = n ? json_incref(json_object_get(json_array_get(list, 0), "entry")) : NULL;
	json_decref(out);
	return n;
}

/*
 * Runs one statement that changes the schema or the rows on purpose
 * (tampering): on PostgreSQL as the schema's owner (the serving role may not).
 */
static void
tamper(struct fixture *f, const char *sql)
{
	struct jg_store *s = f->owner ? f->owner : f->store;
	struct jg_store_conn *c;
	char err[256];
	assert_int_equal(jg_store_acquire(s, &c), 0);
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
	jg_store_release(s, c);
}

static const char read_logs[] =
    "{\"service\":\"svc-a\",\"capabilities\":[\"read-logs\"],\"duration\":600,"
    "\"justification\":\"looking at the logs\"}";
static const char probe[] =
    "{\"service\":\"svc-a\",\"capabilities\":[\"deploy-probe\"],\"duration\":1800,"
    "\"justification\":\"a probe on the checkout\"}";
static const char pii[] = "{\"service\":\"svc-a\",\"capabilities\":[\"read-pii\"],\"duration\":900,"
			  "\"justification\":\"a customer's complaint\"}";

static void
test_access_grant_expires_when_its_time_is_up(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16];
	int ended = -1;

	json_t *out = create(f, &alice, read_logs, id);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "active");
	assert_int_equal(json_integer_value(json_object_get(out, "expires_at")), T0 + 600);
	json_decref(out);

	f->ctx.now = T0 + 599; /* a second before its end: nothing is due */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 0);
	assert_string_equal(state_of(f, id, st), "active");

	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 1);
	assert_string_equal(state_of(f, id, st), "expired");
	assert_int_equal(entries(f, "grant.expired", "system", NULL), 1);

	f->ctx.now = T0 + 700; /* once ended, never ended again */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 0);
	assert_int_equal(entries(f, "grant.expired", NULL, NULL), 1);
}

/* Keeps a token for (a new session of sub, grant) with keys; the session's cookie into cookie. */
static void
keep_token(struct fixture *f, const struct jg_session_grant_keys *keys, const char *sub,
	   const char *grant, char cookie[JG_SESSION_TOKEN_LEN + 1])
{
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	char csrf[JG_SESSION_TOKEN_LEN + 1];
	snprintf(id.sub, sizeof(id.sub), "%s", sub);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_put(c, &id, f->ctx.now, 86400, cookie, csrf), 0);
	assert_int_equal(jg_session_grant_token_put(c, keys, cookie, grant, "a.token.value",
						    T0 + 300, f->ctx.now),
			 0);
	jg_store_release(f->store, c);
}

static int
kept(struct fixture *f, const struct jg_session_grant_keys *keys, const char *cookie,
     const char *grant)
{
	struct jg_store_conn *c;
	char *token = NULL;
	int64_t exp;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	int rc = jg_session_grant_token_get(c, keys, cookie, grant, &token, &exp);
	jg_store_release(f->store, c);
	free(token);
	return rc == 0;
}

/*
 * The tokens the debugging pages keep for a grant (session_grant.h) are
 * deleted at its end, whichever end it is (revocation, expiry), in the
 * end's transaction; another grant's stay.
 */
static void
test_access_grant_end_deletes_its_kept_tokens(void **state)
{
	struct fixture *f = *state;
	struct jg_session_grant_keys *keys = NULL;
	char a[64], b[64], c1[JG_SESSION_TOKEN_LEN + 1], c2[JG_SESSION_TOKEN_LEN + 1],
	    c3[JG_SESSION_TOKEN_LEN + 1], dir[128], err[256] = "", why[256] = "";
	json_t *out = NULL;
	int ended = 0;

	snprintf(dir, sizeof(dir), "%s/keys", f->root);
	assert_int_equal(jg_session_grant_keys_load(dir, &keys, err, sizeof(err)), 0);
	json_decref(create(f, &alice, read_logs, a));
	json_decref(create(f, &bob, read_logs, b));
	keep_token(f, keys, "alice", a, c1);
	keep_token(f, keys, "alice", a, c2); /* a second session of hers */
	keep_token(f, keys, "bob", b, c3);
	f->ctx.now = T0 + 10;
	assert_int_equal(jg_access_revoke(&f->ctx, &alice, a, "done", &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_false(kept(f, keys, c1, a));
	assert_false(kept(f, keys, c2, a));
	assert_true(kept(f, keys, c3, b));
	f->ctx.now = T0 + 600; /* bob's grant expires */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 1);
	assert_false(kept(f, keys, c3, b));
	jg_session_grant_keys_free(keys);
}

/*
 * jg_access_grant_check and its halves in a read batch give the same
 * verdict, and a batch that failed gives none (JG_ESTORE, never 0 or
 * JG_EDENIED).
 */
static int
check_batched(struct fixture *f, const char *grant, const char *sub, const char *service,
	      int64_t now, bool fail, struct jg_access_grant *g)
{
	struct jg_store_conn *conn;
	struct jg_store_batch b;
	struct jg_stmt *st;
	size_t slot = 0, other;

	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	jg_store_batch_init(&b, conn);
	assert_int_equal(jg_access_grant_check_queue(&b, grant, &slot), 0);
	if (fail) {
		assert_int_equal(jg_store_batch_prepare(&b, "SELECT abs(?)", &st, &other), 0);
		assert_int_equal(jg_stmt_bind_int64(st, 1, INT64_MIN), 0);
	}
	assert_int_equal(jg_store_batch_run(&b), fail ? JG_ESTORE : 0);
	int rc = jg_access_grant_check_take(&b, slot, sub, service, now, g);
	jg_store_batch_finish(&b);
	jg_store_release(f->store, conn);
	return rc;
}

static int
check_alone(struct fixture *f, const char *grant, const char *sub, const char *service, int64_t now)
{
	struct jg_store_conn *conn;
	struct jg_access_grant g;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	int rc = jg_access_grant_check(conn, grant, sub, service, now, &g);
	jg_store_release(f->store, conn);
	return rc;
}

static void
test_access_grant_check_batched_gives_the_same_verdict(void **state)
{
	struct fixture *f = *state;
	struct jg_access_grant g;
	char id[64];
	const struct {
		const char *grant, *sub, *service;
		int64_t now;
		int want;
	} cases[] = {
	    {id, "alice", "svc-a", T0 + 10, 0},
	    {id, "bob", "svc-a", T0 + 10, JG_EDENIED},	    /* someone else's */
	    {id, "alice", "svc-b", T0 + 10, JG_EDENIED},    /* another service's */
	    {id, "alice", "svc-a", T0 + 600, JG_EDENIED},   /* past its end */
	    {"req_none", "alice", "svc-a", T0, JG_EDENIED}, /* no such grant */
	};

	json_decref(create(f, &alice, read_logs, id));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int alone =
		    check_alone(f, cases[i].grant, cases[i].sub, cases[i].service, cases[i].now);
		assert_int_equal(alone, cases[i].want);
		assert_int_equal(check_batched(f, cases[i].grant, cases[i].sub, cases[i].service,
					       cases[i].now, false, &g),
				 alone);
		assert_int_equal(check_batched(f, cases[i].grant, cases[i].sub, cases[i].service,
					       cases[i].now, true, &g),
				 JG_ESTORE);
	}
	assert_int_equal(check_batched(f, id, "alice", "svc-a", T0 + 10, false, &g), 0);
	assert_int_equal(g.expires_at, T0 + 600);
	assert_string_equal(g.service, "svc-a");
}

static void
test_access_pending_request_expires_without_a_decision(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16], why[256];
	int ended = -1;
	json_t *out;

	json_decref(create(f, &alice, probe, id));
	assert_string_equal(state_of(f, id, st), "pending");
	f->ctx.now = T0 + 3599; /* pending_ttl is 3600 */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 0);
	f->ctx.now = T0 + 3600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 1);
	assert_string_equal(state_of(f, id, st), "expired");
	assert_int_equal(entries(f, "request.expired", "system", NULL), 1);
	/* an expired request can no longer be approved */
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)),
			 JG_ECONFLICT);
	assert_null(out);
}

static void
test_access_approvals_are_counted_per_person(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16], why[256];
	json_t *out = NULL;

	json_decref(create(f, &alice, pii, id));
	assert_string_equal(state_of(f, id, st), "pending");

	f->ctx.now = T0 + 10;
	assert_int_equal(jg_access_approve(&f->ctx, &priv1, id, &out, why, sizeof(why)), 0);
	/* one of two: still pending, and the progress says so */
	assert_string_equal(json_string_value(json_object_get(out, "state")), "pending");
	json_t *req = json_array_get(json_object_get(out, "requirements"), 0);
	assert_int_equal(json_integer_value(json_object_get(req, "approved")), 1);
	assert_int_equal(json_integer_value(json_object_get(req, "count")), 2);
	json_decref(out);

	/* the same person again counts for nothing and is refused */
	assert_int_equal(jg_access_approve(&f->ctx, &priv1, id, &out, why, sizeof(why)),
			 JG_ECONFLICT);
	assert_non_null(strstr(why, "already approved"));
	assert_string_equal(state_of(f, id, st), "pending");

	/* an approver of another requirement may not even see this one */
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)),
			 JG_ENOTFOUND);
	assert_string_equal(state_of(f, id, st), "pending");

	f->ctx.now = T0 + 20;
	assert_int_equal(jg_access_approve(&f->ctx, &priv2, id, &out, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "active");
	/* the grant's clock starts at the last approval */
	assert_int_equal(json_integer_value(json_object_get(out, "approved_at")), T0 + 20);
	assert_int_equal(json_integer_value(json_object_get(out, "expires_at")), T0 + 20 + 900);
	assert_int_equal(json_array_size(json_object_get(out, "approvals")), 2);
	json_decref(out);
	assert_int_equal(entries(f, "request.approved", NULL, NULL), 2);
	json_t *last = NULL;
	assert_int_equal(entries(f, "request.approved", "user:pat", &last), 1);
	assert_true(json_is_true(json_object_get(json_object_get(last, "data"), "activated")));
	json_decref(last);

	/* approving an active grant is a conflict, not a second activation */
	assert_int_equal(jg_access_approve(&f->ctx, &priv1, id, &out, why, sizeof(why)),
			 JG_ECONFLICT);
}

static void
test_access_no_one_approves_their_own_request(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16], why[256];
	json_t *out = NULL, *last = NULL;
	/* alice in the approvers' group too: still not for her own request */
	static const char *const both[] = {"eng", "leads"};
	const struct jg_access_caller self = {
	    .actor = "user:alice", .sub = "alice", .groups = both, .ngroups = 2};

	json_decref(create(f, &self, probe, id));
	assert_int_equal(jg_access_approve(&f->ctx, &self, id, &out, why, sizeof(why)), JG_EDENIED);
	assert_null(out);
	assert_non_null(strstr(why, "your own request"));
	assert_string_equal(state_of(f, id, st), "pending");
	assert_int_equal(entries(f, "request.approved", NULL, NULL), 0);
	/* the attempt is evidence */
	assert_int_equal(entries(f, "request.action_refused", "user:alice", &last), 1);
	json_t *data = json_object_get(last, "data");
	assert_string_equal(json_string_value(json_object_get(data, "action")), "approve");
	assert_string_equal(json_string_value(json_object_get(data, "request")), id);
	json_decref(last);
	/* nor deny it */
	assert_int_equal(jg_access_deny(&f->ctx, &self, id, "no", &out, why, sizeof(why)),
			 JG_EDENIED);
	assert_string_equal(state_of(f, id, st), "pending");
	/* a lead who is not the requester can */
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "active");
	json_decref(out);
}

static void
test_access_refusals_are_recorded_within_a_budget(void **state)
{
	struct fixture *f = *state;
	char id[64], why[256];
	json_t *out = NULL, *last = NULL;
	int ended;

	f->ctx.refusals_recorded = 2;
	f->ctx.refusals_window = 600;
	json_decref(create(f, &alice, probe, id));
	/* bob may see nothing of it: four attempts, answered as if it did not exist */
	for (int i = 0; i < 4; i++) {
		f->ctx.now = T0 + i;
		assert_int_equal(jg_access_approve(&f->ctx, &bob, id, &out, why, sizeof(why)),
				 JG_ENOTFOUND);
		assert_string_equal(why, "no such request");
	}
	assert_int_equal(entries(f, "request.action_refused", "user:bob", NULL), 2);
	assert_int_equal(entries(f, "request.action_refusals_suppressed", NULL, NULL), 0);
	/* an id of no request is not evidence of anything */
	assert_int_equal(jg_access_approve(&f->ctx, &bob, "req_none", &out, why, sizeof(why)),
			 JG_ENOTFOUND);
	assert_int_equal(entries(f, "request.action_refused", NULL, NULL), 2);

	f->ctx.now = T0 + 599; /* the window is not over */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "request.action_refusals_suppressed", NULL, NULL), 0);
	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "request.action_refusals_suppressed", "user:bob", &last), 1);
	json_t *data = json_object_get(last, "data");
	assert_int_equal(json_integer_value(json_object_get(data, "suppressed")), 2);
	assert_int_equal(json_integer_value(json_object_get(data, "recorded")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(data, "actions"), "approve")), 2);
	/* which request they were aimed at: once, however often */
	json_t *want = json_pack("[s]", id);
	assert_true(json_equal(json_object_get(data, "targets"), want));
	assert_int_equal(json_integer_value(json_object_get(data, "targets_left_out")), 0);
	json_decref(want);
	json_decref(last);
	/* summed up once */
	f->ctx.now = T0 + 1300;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "request.action_refusals_suppressed", NULL, NULL), 1);
	/* a new window records again */
	assert_int_equal(jg_access_approve(&f->ctx, &bob, id, &out, why, sizeof(why)),
			 JG_ENOTFOUND);
	assert_int_equal(entries(f, "request.action_refused", "user:bob", NULL), 3);
}

/*
 * The budget spent first on harmless refusals (bob on his own request) does
 * not hide what came next: the summary names every other request aimed at,
 * at most 32, and counts the refusals on those left out.
 */
static void
test_access_suppressed_refusals_name_their_targets(void **state)
{
	struct fixture *f = *state;
	char own[64], ids[35][64], why[256];
	json_t *out = NULL, *last = NULL;
	int ended;

	f->ctx.refusals_recorded = 2;
	f->ctx.refusals_window = 600;
	json_decref(create(f, &bob, probe, own));
	for (int i = 0; i < 3; i++)
		assert_int_equal(jg_access_approve(&f->ctx, &bob, own, &out, why, sizeof(why)),
				 JG_EDENIED);
	for (int i = 0; i < 35; i++)
		json_decref(create(f, &alice, probe, ids[i]));
	for (int i = 0; i < 35; i++) {
		assert_int_equal(jg_access_approve(&f->ctx, &bob, ids[i], &out, why, sizeof(why)),
				 JG_ENOTFOUND);
		/* a second try at the same one is counted, not listed twice */
		assert_int_equal(
		    jg_access_deny(&f->ctx, &bob, ids[i], "no", &out, why, sizeof(why)),
		    JG_ENOTFOUND);
	}
	assert_int_equal(entries(f, "request.action_refused", "user:bob", NULL), 2);
	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "request.action_refusals_suppressed", "user:bob", &last), 1);
	json_t *data = json_object_get(last, "data");
	assert_int_equal(json_integer_value(json_object_get(data, "suppressed")), 1 + 70);
	json_t *targets = json_object_get(data, "targets");
	assert_int_equal(json_array_size(targets), 32);
	for (size_t i = 0; i < 32; i++)
		assert_string_equal(json_string_value(json_array_get(targets, i)), ids[i]);
	/* ids[32..34]: approve and deny each */
	assert_int_equal(json_integer_value(json_object_get(data, "targets_left_out")), 6);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(data, "actions"), "approve")), 36);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(data, "actions"), "deny")), 35);
	assert_null(json_object_get(json_object_get(data, "actions"), "targets"));
	json_decref(last);
}

static void
test_access_list_pages_with_sealed_cursors(void **state)
{
	struct fixture *f = *state;
	struct jg_cursor_keys *key = NULL, *other = NULL;
	struct jg_access_page page;
	struct jg_access_filter filter = {.mine = 1, .page = &page};
	char ids[3][64], why[256], cursor[JG_CURSOR_MAX_LEN], dir[128], err[512] = "";
	json_t *out = NULL;

	/* the deployment's cursor key (made by the fixture's jg_keys_generate), and another's */
	snprintf(dir, sizeof(dir), "%s/keys", f->root);
	assert_int_equal(jg_cursor_keys_load(dir, &key, err, sizeof(err)), 0);
	snprintf(dir, sizeof(dir), "%s/other-keys", f->root);
	assert_int_equal(jg_keys_generate_kind(dir, JG_KEY_CURSOR, err, sizeof(err)), 0);
	assert_int_equal(jg_cursor_keys_load(dir, &other, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		f->ctx.now = T0 + i;
		json_decref(create(f, &alice, read_logs, ids[i]));
	}
	assert_int_equal(jg_access_page_open(key, 2, NULL, &page), 0);
	assert_int_equal(jg_access_list(&f->ctx, &alice, &filter, &out, why, sizeof(why)), 0);
	json_t *list = json_object_get(out, "requests");
	assert_int_equal(json_array_size(list), 2); /* newest first */
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
			    ids[2]);
	json_decref(out);
	assert_true(page.more);
	assert_int_equal(jg_access_page_next(key, &page, cursor), 0);
	assert_null(strstr(cursor, ids[1])); /* sealed: the position cannot be read */

	assert_int_equal(jg_access_page_open(key, 2, cursor, &page), 0);
	assert_int_equal(jg_access_list(&f->ctx, &alice, &filter, &out, why, sizeof(why)), 0);
	list = json_object_get(out, "requests");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
			    ids[0]);
	assert_false(page.more);
	json_decref(out);

	/* a cursor of another deployment's key, of another list, or none of ours, is refused */
	assert_int_equal(jg_access_page_open(other, 2, cursor, &page), JG_EINVAL);
	char logs[JG_CURSOR_MAX_LEN];
	assert_int_equal(jg_cursor_seal(key, "logs", "100 req_x", logs, sizeof(logs)), 0);
	assert_int_equal(jg_access_page_open(key, 2, logs, &page), JG_EINVAL);
	assert_int_equal(jg_access_page_open(key, 2, "AAAA", &page), JG_EINVAL);
	assert_int_equal(jg_access_page_open(key, 2, "a=", &page), JG_EINVAL);
	assert_int_equal(jg_access_page_open(key, 0, NULL, &page), JG_EINVAL);
	jg_cursor_keys_free(key);
	jg_cursor_keys_free(other);
}

/* A notify with one sink, and the fixture's context using it. */
static void
with_notify(struct fixture *f)
{
	char err[512] = "";
	if (jg_notify_new(f->store, f->audit, f->cfg, &f->notify, err, sizeof(err)) != 0)
		fail_msg("notify: %s", err);
	f->ctx.notify = f->notify;
}

static const char break_glass[] =
    "{\"service\":\"svc-a\",\"capabilities\":[\"read-logs\"],\"duration\":1800,"
    "\"justification\":\"INC-42 checkout is down\",\"break_glass\":true}";

/* Notifications waiting in the outbox of the sink "all" (notify.h's metrics). */
static long
pending(struct fixture *f)
{
	char *m = jg_notify_metrics(f->notify);
	const char *key = "jitgate_notifications_queued{sink=\"all\",state=\"pending\"} ";
	const char *at = m ? strstr(m, key) : NULL;
	assert_non_null(at);
	long n = strtol(at + strlen(key), NULL, 10);
	free(m);
	return n;
}

static void
test_access_review_overdue_is_notified_once(void **state)
{
	struct fixture *f = *state;
	char id[64];

	with_notify(f);
	json_decref(create(f, &carol, break_glass, id));
	assert_int_equal(pending(f), 1); /* break_glass.used */
	f->ctx.now = T0 + 99;		 /* review_overdue 100: not yet */
	assert_int_equal(jg_access_notify_due(&f->ctx, 0, 100), 0);
	assert_int_equal(pending(f), 1);
	f->ctx.now = T0 + 100;
	assert_int_equal(jg_access_notify_due(&f->ctx, 0, 100), 0);
	assert_int_equal(pending(f), 2); /* grant.review_overdue */
	f->ctx.now = T0 + 200;
	assert_int_equal(jg_access_notify_due(&f->ctx, 0, 100), 0);
	assert_int_equal(pending(f), 2); /* once per request */
	/* the audit log holds the change, not the notices */
	assert_int_equal(entries(f, NULL, NULL, NULL), 1);
}

/*
 * A query for what is due that fails while it runs is a failure of the
 * pass, not "nothing is due": notify_marks is replaced by a view whose rows
 * fail to compute (integer overflow), so the statements prepare but their
 * steps fail on the first candidate request.
 */
static void
test_access_notify_due_reports_a_failing_query(void **state)
{
	struct fixture *f = *state;
	char id[64];

	with_notify(f);
	json_decref(create(f, &carol, break_glass, id));
	tamper(f, "DROP TABLE notify_marks; "
		  "CREATE VIEW notify_marks (request_id, kind, at) AS SELECT "
		  "CASE WHEN abs(-9223372036854775807 - 1) > 0 THEN 'x' END, 'review_overdue', 0"
#ifdef JG_TEST_PG
		  "; GRANT SELECT ON notify_marks TO jitgate_serving"
#endif
	);
	f->ctx.now = T0 + 100;
	assert_int_equal(jg_access_notify_due(&f->ctx, 0, 100), JG_ESTORE);
}

/* Extends grant by body (JSON text) as caller: the code; *out the reply (or NULL). */
static int
extend(struct fixture *f, const struct jg_access_caller *c, const char *grant,
       const char *body_json, json_t **out, char *why, size_t whylen)
{
	json_t *body = json_loads(body_json, 0, NULL);
	assert_non_null(body);
	int rc = jg_access_extend(&f->ctx, c, grant, body, out, why, whylen);
	json_decref(body);
	return rc;
}

static int64_t
expires_of(struct fixture *f, const char *id)
{
	struct jg_store_conn *conn;
	struct jg_access_grant g;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	int rc = jg_access_grant_check(conn, id, "alice", "svc-a", f->ctx.now, &g);
	jg_store_release(f->store, conn);
	return rc == 0 ? g.expires_at : 0;
}

static const char ext_hour[] = "{\"duration\":3600,\"justification\":\"INC-7 needs longer\"}";

static void
test_access_extension_moves_the_end_on_its_last_approval(void **state)
{
	struct fixture *f = *state;
	char id[64], ext[64], st[16], why[256];
	json_t *out = NULL, *last = NULL;

	json_decref(create(f, &alice, probe, id)); /* 1800 s, one approval from leads */
	f->ctx.now = T0 + 10;
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(expires_of(f, id), T0 + 10 + 1800);

	f->ctx.now = T0 + 100;
	assert_int_equal(extend(f, &alice, id, ext_hour, &out, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "pending");
	assert_string_equal(json_string_value(json_object_get(out, "extends")), id);
	/* it waits at most until the grant's end */
	assert_int_equal(json_integer_value(json_object_get(out, "pending_until")), T0 + 1810);
	snprintf(ext, sizeof(ext), "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	/* until granted the grant runs to its current end */
	assert_int_equal(expires_of(f, id), T0 + 1810);
	/* one pending at most */
	assert_int_equal(extend(f, &alice, id, ext_hour, &out, why, sizeof(why)), JG_ECONFLICT);
	assert_null(out);
	assert_non_null(strstr(why, ext));
	/* never by the requester, never by someone else than the grant's requester */
	assert_int_equal(jg_access_approve(&f->ctx, &alice, ext, &out, why, sizeof(why)),
			 JG_EDENIED);
	assert_int_equal(extend(f, &lead, id, ext_hour, &out, why, sizeof(why)), JG_EDENIED);
	assert_null(out);
	assert_string_equal(state_of(f, ext, st), "pending");

	f->ctx.now = T0 + 200;
	assert_int_equal(jg_access_approve(&f->ctx, &lead, ext, &out, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "granted");
	json_decref(out);
	assert_int_equal(expires_of(f, id), T0 + 1810 + 3600);
	assert_string_equal(state_of(f, id, st), "active");
	assert_int_equal(entries(f, "grant.extended", "user:lee", &last), 1);
	json_t *d = json_object_get(last, "data");
	assert_string_equal(json_string_value(json_object_get(d, "grant")), id);
	assert_string_equal(json_string_value(json_object_get(d, "extension")), ext);
	assert_int_equal(json_integer_value(json_object_get(d, "previous_expires_at")), T0 + 1810);
	assert_int_equal(json_integer_value(json_object_get(d, "expires_at")), T0 + 5410);
	json_decref(last);
	/* the grant lists it */
	assert_int_equal(jg_access_get(&f->ctx, &alice, id, &out, why, sizeof(why)), 0);
	json_t *exts = json_object_get(out, "extensions");
	assert_int_equal(json_array_size(exts), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(exts, 0), "id")), ext);
	json_decref(out);

	/* 1800 + 3600 so far: one more second than max_total_duration 2h is denied, audited */
	assert_int_equal(extend(f, &alice, id, "{\"duration\":1801,\"justification\":\"more\"}",
				&out, why, sizeof(why)),
			 JG_EDENIED);
	assert_non_null(out);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "decision"),
							    "max_total_duration")),
			 7200);
	json_decref(out);
	assert_non_null(strstr(why, "max_total_duration"));
	assert_int_equal(entries(f, "request.denied", "user:alice", NULL), 1);
	assert_int_equal(expires_of(f, id), T0 + 5410);
	/* exactly up to it is allowed */
	assert_int_equal(extend(f, &alice, id, "{\"duration\":1800,\"justification\":\"more\"}",
				&out, why, sizeof(why)),
			 0);
	json_decref(out);
}

static void
test_access_extension_is_refused_unless_the_grant_is_active(void **state)
{
	struct fixture *f = *state;
	char id[64], bg[64], why[256];
	json_t *out = NULL;

	/* a pending request is no grant */
	json_decref(create(f, &alice, probe, id));
	assert_int_equal(extend(f, &alice, id, ext_hour, &out, why, sizeof(why)), JG_ECONFLICT);
	assert_non_null(strstr(why, "pending, not active"));
	/* break-glass is never extended */
	json_decref(create(f, &carol, break_glass, bg));
	assert_int_equal(extend(f, &carol, bg, ext_hour, &out, why, sizeof(why)), JG_ECONFLICT);
	assert_non_null(strstr(why, "break-glass"));
	/* a grant past its end, before the sweeper saw it */
	char g[64];
	json_decref(create(f, &alice, read_logs, g)); /* 600 s, no approval */
	f->ctx.now = T0 + 600;
	assert_int_equal(extend(f, &alice, g, ext_hour, &out, why, sizeof(why)), JG_ECONFLICT);
	/* bad bodies */
	f->ctx.now = T0;
	json_decref(create(f, &alice, read_logs, g));
	assert_int_equal(extend(f, &alice, g, "{\"duration\":60}", &out, why, sizeof(why)),
			 JG_EINVAL);
	assert_int_equal(extend(f, &alice, g, "{\"duration\":-1,\"justification\":\"x\"}", &out,
				why, sizeof(why)),
			 JG_EINVAL);
	assert_int_equal(extend(f, &alice, g,
				"{\"duration\":60,\"justification\":\"x\",\"break_glass\":true}",
				&out, why, sizeof(why)),
			 JG_EINVAL);
	assert_int_equal(entries(f, "grant.extension_requested", NULL, NULL), 0);
}

static void
test_access_pending_extension_expires_with_its_grant(void **state)
{
	struct fixture *f = *state;
	char id[64], ext[64], st[16], why[256];
	json_t *out = NULL;
	int ended = -1;

	json_decref(create(f, &alice, probe, id));
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(extend(f, &alice, id, ext_hour, &out, why, sizeof(why)), 0);
	snprintf(ext, sizeof(ext), "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	/* both are due at the grant's end: each ends once */
	f->ctx.now = T0 + 1800;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_string_equal(state_of(f, id, st), "expired");
	assert_string_equal(state_of(f, ext, st), "expired");
	assert_int_equal(entries(f, "grant.expired", NULL, NULL), 1);
	assert_int_equal(entries(f, "request.expired", NULL, NULL), 1);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, ext, &out, why, sizeof(why)),
			 JG_ECONFLICT);
	f->ctx.now = T0 + 1900;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 0);
	assert_int_equal(entries(f, "request.expired", NULL, NULL), 1);
}

static void
test_access_extension_pending_near_the_end_is_notified_once(void **state)
{
	struct fixture *f = *state;
	char id[64], why[256];
	json_t *out = NULL;

	with_notify(f);
	json_decref(create(f, &alice, probe, id)); /* request.pending */
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)), 0);
	json_decref(out); /* request.approved */
	assert_int_equal(extend(f, &alice, id, ext_hour, &out, why, sizeof(why)), 0);
	json_decref(out); /* request.pending of the extension */
	assert_int_equal(pending(f), 3);
	f->ctx.now = T0 + 1800 - 301; /* the warning comes 300 s before the end */
	assert_int_equal(jg_access_notify_due(&f->ctx, 300, 100000), 0);
	assert_int_equal(pending(f), 3);
	f->ctx.now = T0 + 1800 - 300;
	assert_int_equal(jg_access_notify_due(&f->ctx, 300, 100000), 0);
	/* grant.expiring and grant.extension_pending */
	assert_int_equal(pending(f), 5);
	f->ctx.now = T0 + 1800 - 10;
	assert_int_equal(jg_access_notify_due(&f->ctx, 300, 100000), 0);
	assert_int_equal(pending(f), 5);
}

/* Appends an entry as the guard, the token issuer or an agent would (data as JSON text). */
static void
append(struct fixture *f, const char *type, const char *actor, const char *data_json)
{
	json_t *data = json_loads(data_json, 0, NULL);
	assert_non_null(data);
	assert_int_equal(jg_audit_append(f->audit, type, actor, data, NULL), 0);
	json_decref(data);
}

static json_int_t
field(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("receipt field %s is not an integer", key);
	return json_integer_value(v);
}

/*
 * A grant that is used and revoked: its grant.receipt follows the
 * grant.revoked entry at once and counts, per action, exactly the entries
 * that named the grant (another grant's are not counted); the requester
 * and the approvers are told (one more notice); the API shows it.
 */
static void
test_access_receipt_counts_what_the_grant_was_used_for(void **state)
{
	struct fixture *f = *state;
	char id[64], other[64], why[256], buf[512];
	json_t *out = NULL, *last = NULL;

	with_notify(f);
	json_decref(create(f, &alice, probe, id)); /* needs a lead's approval */
	f->ctx.now = T0 + 5;
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, why, sizeof(why)), 0);
	json_decref(out);
	json_decref(create(f, &bob, read_logs, other));
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\",\"jti\":\"j1\"}", id);
	append(f, "token.issued", "user:alice", buf);
	append(f, "probe.deploy", "user:alice", buf);
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\",\"count\":7,\"probe\":\"prb_x\"}", id);
	append(f, "probe.events.ingested", "agent:svc-a", buf); /* from before bytes: none */
	snprintf(buf, sizeof(buf),
		 "{\"grant\":\"%s\",\"count\":2,\"bytes\":300,\"probe\":\"prb_x\"}", id);
	append(f, "probe.events.ingested", "agent:svc-a", buf);
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\",\"reason\":\"max_hits\"}", id);
	append(f, "probe.budget_exhausted", "agent:svc-a", buf);
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\",\"pii\":true}", id);
	append(f, "logs.read", "user:alice", buf);
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\"}", id);
	append(f, "logs.read", "user:alice", buf);
	append(f, "traces.search", "user:alice", buf);
	append(f, "guard.refused", "user:alice", buf);
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\"}", other); /* bob's: not alice's */
	append(f, "logs.read", "user:bob", buf);
	append(f, "metrics.read", "user:bob", buf);
	long before = pending(f);

	f->ctx.now = T0 + 100;
	assert_int_equal(jg_access_revoke(&f->ctx, &alice, id, "done", &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(entries(f, "grant.receipt", "system", &last), 1);
	json_t *r = json_object_get(last, "data");
	json_t *revoked = NULL;
	assert_int_equal(entries(f, "grant.revoked", NULL, &revoked), 1);
	/* right after its end entry, covering the grant from its request.created on */
	assert_int_equal(field(last, "seq"), field(revoked, "seq") + 1);
	assert_int_equal(field(r, "last_seq"), field(revoked, "seq"));
	assert_int_equal(field(r, "first_seq"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "grant")), id);
	assert_string_equal(json_string_value(json_object_get(r, "requester")), "alice");
	assert_string_equal(json_string_value(json_object_get(r, "end")), "grant.revoked");
	assert_int_equal(json_array_size(json_object_get(r, "approvers")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "approvers"), 0)),
			    "lee");
	assert_int_equal(field(r, "started_at"), T0 + 5);
	assert_int_equal(field(r, "expires_at"), T0 + 5 + 1800);
	assert_int_equal(field(r, "tokens_issued"), 1);
	assert_int_equal(field(r, "probes_deployed"), 1);
	assert_int_equal(field(r, "probe_events"), 9);
	assert_int_equal(field(r, "probe_bytes"), 300);
	assert_int_equal(field(r, "probe_budget_exhausted"), 1);
	assert_int_equal(field(r, "log_queries"), 2);
	assert_int_equal(field(r, "trace_reads"), 1);
	assert_int_equal(field(r, "metric_reads"), 0);
	assert_int_equal(field(r, "pii_reads"), 1);
	assert_int_equal(field(r, "refusals"), 1);
	assert_int_equal(field(r, "actions"), 4);
	/* created, approved, 9 of its own above, revoked */
	assert_int_equal(field(r, "entries"), 12);
	assert_false(json_is_true(json_object_get(r, "unused")));
	/* grant.revoked and grant.receipt are told */
	assert_int_equal(pending(f), before + 2);

	static const struct jg_access_caller admin = {
	    .actor = "user:root", .sub = "root", .is_admin = 1};
	assert_int_equal(jg_access_get(&f->ctx, &admin, id, &out, why, sizeof(why)), 0);
	assert_true(json_equal(json_object_get(out, "receipt"), r));
	assert_true(json_is_false(json_object_get(out, "unused")));
	json_decref(out);
	/* bob's grant is still running: its use so far, no receipt */
	assert_int_equal(jg_access_get(&f->ctx, &admin, other, &out, why, sizeof(why)), 0);
	assert_null(json_object_get(out, "receipt"));
	assert_int_equal(field(json_object_get(out, "usage"), "log_queries"), 1);
	assert_int_equal(field(json_object_get(out, "usage"), "metric_reads"), 1);
	json_decref(out);
	json_decref(revoked);
	json_decref(last);
}

/* A grant nobody used expires with a receipt that says so, and so does the API. */
static void
test_access_receipt_flags_a_grant_never_used(void **state)
{
	struct fixture *f = *state;
	char id[64], why[256], buf[128];
	int ended = 0;
	json_t *last = NULL, *out = NULL;

	json_decref(create(f, &alice, read_logs, id));
	snprintf(buf, sizeof(buf), "{\"grant\":\"%s\",\"jti\":\"j1\"}", id);
	append(f, "token.issued", "user:alice", buf); /* a token, but no call made */
	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 1);
	assert_int_equal(entries(f, "grant.receipt", NULL, &last), 1);
	json_t *r = json_object_get(last, "data");
	assert_true(json_is_true(json_object_get(r, "unused")));
	assert_string_equal(json_string_value(json_object_get(r, "end")), "grant.expired");
	assert_int_equal(field(r, "tokens_issued"), 1);
	assert_int_equal(field(r, "actions"), 0);
	assert_int_equal(field(r, "started_at"), T0);
	assert_int_equal(field(r, "expires_at"), T0 + 600);
	assert_int_equal(json_array_size(json_object_get(r, "approvers")), 0);
	static const struct jg_access_caller admin = {
	    .actor = "user:root", .sub = "root", .is_admin = 1};
	assert_int_equal(jg_access_get(&f->ctx, &admin, id, &out, why, sizeof(why)), 0);
	assert_true(json_is_true(json_object_get(out, "unused")));
	json_decref(out);
	json_decref(last);
	/* a request that never became a grant has no receipt when it expires */
	json_decref(create(f, &alice, pii, id));
	f->ctx.now = T0 + 600 + 3600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "grant.receipt", NULL, NULL), 1);
}

/* ---- scheduled start ------------------------------------------------------------- */

/* A request of c for body with "starts_at": at added; the create's code (0, JG_EINVAL, ...). */
static int
create_at(struct fixture *f, const struct jg_access_caller *c, const char *body_json, int64_t at,
	  char id[64], json_t **out)
{
	json_t *body = json_loads(body_json, 0, NULL);
	char why[256] = "";
	assert_non_null(body);
	json_object_set_new(body, "starts_at", json_integer(at));
	*out = NULL;
	int rc = jg_access_create(&f->ctx, c, body, out, why, sizeof(why));
	json_decref(body);
	if (rc == 0)
		snprintf(id, 64, "%s", json_string_value(json_object_get(*out, "id")));
	return rc;
}

static int64_t
int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The request as an admin sees it (the caller's). */
static json_t *
get(struct fixture *f, const char *id)
{
	static const struct jg_access_caller admin = {
	    .actor = "user:root", .sub = "root", .is_admin = 1};
	json_t *out = NULL;
	char why[128];
	assert_int_equal(jg_access_get(&f->ctx, &admin, id, &out, why, sizeof(why)), 0);
	return out;
}

/* Whether a token could be had for grant id by alice at now (access.h). */
static int
token_verdict(struct fixture *f, const char *id, int64_t now)
{
	struct jg_store_conn *conn;
	struct jg_access_grant g;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	int rc = jg_access_grant_for_token(conn, id, "alice", now, &g);
	jg_store_release(f->store, conn);
	return rc;
}

/*
 * Approved before its start, a grant is scheduled: no token, no guarded
 * call; the sweep starts it at starts_at (once), and it ends duration
 * after that, not after the approval.  A request waiting for approval
 * does not expire before its start.
 */
static void
test_access_scheduled_grant_starts_at_its_start(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16];
	int ended;
	json_t *out, *e = NULL;
	const int64_t start = T0 + 7200; /* after the 1 h pending_ttl */

	assert_int_equal(create_at(f, &alice, probe, start, id, &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "pending");
	assert_int_equal(int_of(out, "starts_at"), start);
	assert_int_equal(int_of(out, "pending_until"), start);
	json_decref(out);
	f->ctx.now = T0 + 3600; /* the usual wait is over, the start has not come */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_string_equal(state_of(f, id, st), "pending");

	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, NULL, 0), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "scheduled");
	assert_null(json_object_get(out, "activated_at"));
	assert_int_equal(int_of(out, "expires_at"), start + 1800);
	json_decref(out);
	assert_int_equal(entries(f, "request.approved", NULL, &e), 1);
	assert_true(json_is_false(json_object_get(json_object_get(e, "data"), "activated")));
	assert_true(json_is_true(json_object_get(json_object_get(e, "data"), "scheduled")));
	json_decref(e);
	assert_int_equal(token_verdict(f, id, start - 1), JG_ECONFLICT);
	struct jg_store_conn *conn;
	struct jg_access_grant g;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_access_grant_check(conn, id, "alice", "svc-a", start - 1, &g),
			 JG_EDENIED);
	jg_store_release(f->store, conn);

	f->ctx.now = start - 1;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_string_equal(state_of(f, id, st), "scheduled");
	f->ctx.now = start + 1; /* the sweeper a second late: the window still opens at start */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	out = get(f, id);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "active");
	assert_int_equal(int_of(out, "activated_at"), start);
	assert_int_equal(int_of(out, "expires_at"), start + 1800);
	json_decref(out);
	assert_int_equal(token_verdict(f, id, start + 1), 0);
	assert_int_equal(entries(f, "grant.activated", "system", &e), 1);
	assert_int_equal(int_of(json_object_get(e, "data"), "activated_at"), start);
	assert_int_equal(int_of(json_object_get(e, "data"), "expires_at"), start + 1800);
	json_decref(e);
	f->ctx.now = start + 2; /* once started, never started again */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "grant.activated", NULL, NULL), 1);
	f->ctx.now = start + 1800;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(ended, 1);
	assert_string_equal(state_of(f, id, st), "expired");
}

/* Approved after its start, a grant is active at once, for its whole duration from then. */
static void
test_access_approval_after_the_start_activates_at_once(void **state)
{
	struct fixture *f = *state;
	char id[64];
	json_t *out;

	assert_int_equal(create_at(f, &alice, probe, T0 + 100, id, &out), 0);
	json_decref(out);
	f->ctx.now = T0 + 500;
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, NULL, 0), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "active");
	assert_int_equal(int_of(out, "activated_at"), T0 + 500);
	assert_int_equal(int_of(out, "expires_at"), T0 + 500 + 1800);
	json_decref(out);
	assert_int_equal(token_verdict(f, id, T0 + 500), 0);
	/* one that needs no approval and starts later is scheduled from the start */
	f->ctx.now = T0;
	assert_int_equal(create_at(f, &alice, read_logs, T0 + 60, id, &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "scheduled");
	json_decref(out);
}

/*
 * Approved after its start, a grant starts only when its requester still
 * qualifies with the newest groups seen, as the sweeper's start: otherwise
 * it is approved and at once not activated (grant.not_activated by system).
 */
static void
test_access_approval_after_the_start_rechecks_the_groups(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16];
	json_t *out, *e = NULL;
	static const char *const sales[] = {"sales"};

	assert_int_equal(create_at(f, &alice, probe, T0 + 100, id, &out), 0);
	json_decref(out);
	struct jg_identity who = {.sub = "alice", .ngroups = 1};
	who.groups[0] = (char *)sales[0];
	struct jg_store_conn *conn;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_identity_groups_record(conn, &who, T0 + 300), 0);
	jg_store_release(f->store, conn);
	f->ctx.now = T0 + 500;
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, NULL, 0), 0);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "revoked");
	assert_null(json_object_get(out, "activated_at"));
	json_decref(out);
	assert_string_equal(state_of(f, id, st), "revoked");
	assert_int_equal(entries(f, "request.approved", NULL, &e), 1);
	assert_true(json_is_false(json_object_get(json_object_get(e, "data"), "activated")));
	json_decref(e);
	e = NULL;
	assert_int_equal(entries(f, "grant.not_activated", "system", &e), 1);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(e, "data"), "reason")),
		   "no longer qualifies"));
	json_decref(e);
	assert_int_equal(entries(f, "grant.activated", NULL, NULL), 0);
	assert_int_equal(token_verdict(f, id, T0 + 500), JG_ECONFLICT);
}

/*
 * At its start the policy is evaluated again with the newest groups seen
 * for the requester: one who left the group gets nothing (revoked,
 * grant.not_activated with the reason); a token is refused to a caller
 * whose groups no longer qualify.
 */
static void
test_access_scheduled_grant_not_started_without_the_group(void **state)
{
	struct fixture *f = *state;
	char id[64], st[16], why[256];
	int ended;
	json_t *out, *e = NULL;
	static const char *const sales[] = {"sales"};

	assert_int_equal(create_at(f, &alice, probe, T0 + 600, id, &out), 0);
	json_decref(out);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id, &out, NULL, 0), 0);
	json_decref(out);
	/* alice signs in again, now only in sales */
	struct jg_identity who = {.sub = "alice", .ngroups = 1};
	who.groups[0] = (char *)sales[0];
	struct jg_store_conn *conn;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_identity_groups_record(conn, &who, T0 + 300), 0);
	/* the token issuance's check with the caller's groups now */
	assert_int_equal(
	    jg_access_grant_qualifies(conn, f->policies, id, sales, 1, why, sizeof(why)),
	    JG_EDENIED);
	/*
	 * and with the newest groups seen: a caller still holding an older
	 * login with eng (issued before the sign-in above) gets nothing, and
	 * using that login later does not bring eng back
	 */
	assert_int_equal(jg_access_grant_qualifies(conn, f->policies, id, eng, 1, why, sizeof(why)),
			 JG_EDENIED);
	struct jg_identity old = {.sub = "alice", .ngroups = 1};
	old.groups[0] = (char *)eng[0];
	assert_int_equal(jg_identity_groups_record(conn, &old, T0 + 200), 0);
	assert_int_equal(jg_access_grant_qualifies(conn, f->policies, id, eng, 1, why, sizeof(why)),
			 JG_EDENIED);
	jg_store_release(f->store, conn);
	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	out = get(f, id);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "revoked");
	assert_string_equal(json_string_value(json_object_get(out, "ended_by")), "system");
	assert_null(json_object_get(out, "activated_at"));
	json_decref(out);
	assert_int_equal(entries(f, "grant.activated", NULL, NULL), 0);
	assert_int_equal(entries(f, "grant.not_activated", "system", &e), 1);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(e, "data"), "reason")),
		   "no longer qualifies"));
	json_decref(e);
	assert_int_equal(token_verdict(f, id, T0 + 600), JG_ECONFLICT);
	f->ctx.now = T0 + 700; /* ended once */
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_int_equal(entries(f, "grant.not_activated", NULL, NULL), 1);
	assert_string_equal(state_of(f, id, st), "revoked");
}

/*
 * One scheduled grant whose start cannot be decided (its requester's groups
 * seen are unreadable) never holds back another's: bob's grant, due first,
 * stays scheduled while alice's starts in the same round.  It is tried
 * again each round, and once its window has passed undecided it ends as not
 * activated, saying why - it never starts late.
 */
static void
test_access_undecidable_start_holds_back_no_other(void **state)
{
	struct fixture *f = *state;
	char mine[64], stuck[64], st[16];
	int ended;
	json_t *out, *e = NULL;

	assert_int_equal(create_at(f, &bob, probe, T0 + 500, stuck, &out), 0);
	json_decref(out);
	assert_int_equal(create_at(f, &alice, probe, T0 + 600, mine, &out), 0);
	json_decref(out);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, stuck, &out, NULL, 0), 0);
	json_decref(out);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, mine, &out, NULL, 0), 0);
	json_decref(out);
	/* a groups row for bob that is not what session.c writes: no groups can be read */
	struct jg_store_conn *conn;
	struct jg_stmt *q;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn,
					 "INSERT INTO identity_groups (subject, groups, seen_at) "
					 "VALUES ('bob', '{\"not\": \"a list\"}', ?)",
					 &q),
			 0);
	jg_stmt_bind_int64(q, 1, T0 + 100);
	assert_int_equal(jg_stmt_step(q), JG_STMT_DONE);
	jg_stmt_finish(q);
	jg_store_release(f->store, conn);

	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), JG_EUNAVAIL);
	assert_string_equal(state_of(f, mine, st), "active");
	assert_string_equal(state_of(f, stuck, st), "scheduled");
	assert_int_equal(entries(f, "grant.activated", "system", NULL), 1);
	assert_int_equal(entries(f, "grant.not_activated", NULL, NULL), 0);
	struct jg_access_grant g;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_access_grant_for_token(conn, stuck, "bob", T0 + 600, &g), JG_ECONFLICT);
	jg_store_release(f->store, conn);

	/* tried again each round while its window lasts (bob's: T0 + 500 + 1800) */
	f->ctx.now = T0 + 2299;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), JG_EUNAVAIL);
	assert_string_equal(state_of(f, stuck, st), "scheduled");
	f->ctx.now = T0 + 2300;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	out = get(f, stuck);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "revoked");
	assert_string_equal(json_string_value(json_object_get(out, "ended_by")), "system");
	assert_null(json_object_get(out, "activated_at"));
	json_decref(out);
	assert_int_equal(entries(f, "grant.not_activated", "system", &e), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "data"), "grant")),
			    stuck);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(e, "data"), "reason")),
		   "could not be decided before its window ended"));
	json_decref(e);
	/* ended like every grant: its receipt follows */
	assert_int_equal(entries(f, "grant.receipt", NULL, NULL), 1);
	assert_int_equal(entries(f, "grant.activated", NULL, NULL), 1);
}

/* A scheduled grant can be cancelled by its requester and revoked by an approver before it starts.
 */
static void
test_access_scheduled_grant_cancelled_or_revoked(void **state)
{
	struct fixture *f = *state;
	char id1[64], id2[64], st[16];
	int ended;
	json_t *out;

	assert_int_equal(create_at(f, &alice, probe, T0 + 600, id1, &out), 0);
	json_decref(out);
	assert_int_equal(create_at(f, &alice, probe, T0 + 600, id2, &out), 0);
	json_decref(out);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id1, &out, NULL, 0), 0);
	json_decref(out);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id2, &out, NULL, 0), 0);
	json_decref(out);
	assert_int_equal(jg_access_cancel(&f->ctx, &alice, id1, &out, NULL, 0), 0);
	json_decref(out);
	assert_int_equal(jg_access_revoke(&f->ctx, &lead, id2, "window moved", &out, NULL, 0), 0);
	json_decref(out);
	/* off-boarding revokes a scheduled grant as an active one */
	char id3[64];
	static const struct jg_access_caller admin = {
	    .actor = "user:root", .sub = "root", .is_admin = 1};
	assert_int_equal(create_at(f, &alice, probe, T0 + 600, id3, &out), 0);
	json_decref(out);
	assert_int_equal(jg_access_approve(&f->ctx, &lead, id3, &out, NULL, 0), 0);
	json_decref(out);
	struct jg_identity who = {.sub = "alice", .ngroups = 1};
	who.groups[0] = (char *)eng[0];
	struct jg_store_conn *conn;
	json_t *g = NULL;
	int64_t at;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_identity_groups_record(conn, &who, T0), 0);
	jg_store_release(f->store, conn);
	assert_int_equal(jg_access_revoke_user(&f->ctx, &admin, "alice", &out, NULL, 0), 0);
	assert_int_equal(int_of(out, "revoked"), 1);
	json_decref(out);
	/* the groups kept of the off-boarded are gone with them */
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_identity_groups_latest(conn, "alice", &g, &at), JG_ENOTFOUND);
	jg_store_release(f->store, conn);
	f->ctx.now = T0 + 600;
	assert_int_equal(jg_access_sweep(&f->ctx, &ended), 0);
	assert_string_equal(state_of(f, id1, st), "cancelled");
	assert_string_equal(state_of(f, id2, st), "revoked");
	assert_string_equal(state_of(f, id3, st), "revoked");
	assert_int_equal(entries(f, "grant.activated", NULL, NULL), 0);
}

/* starts_at: not in the past, not beyond max_schedule_ahead (7 days here), never with break-glass.
 */
static void
test_access_starts_at_is_bounded(void **state)
{
	struct fixture *f = *state;
	char id[64];
	json_t *out;

	assert_int_equal(create_at(f, &alice, probe, T0 - 3600, id, &out), JG_EINVAL);
	json_decref(out);
	assert_int_equal(create_at(f, &alice, probe, T0 + 7 * 86400 + 1, id, &out), JG_EDENIED);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(out, "decision"), "reason")),
		   "max_schedule_ahead"));
	json_decref(out);
	assert_int_equal(create_at(f, &alice, probe, T0 + 7 * 86400, id, &out), 0);
	json_decref(out);
	assert_int_equal(create_at(f, &carol, break_glass, T0 + 60, id, &out), JG_EINVAL);
	json_decref(out);
	/* RFC 3339 text is taken too */
	json_t *body = json_loads(probe, 0, NULL);
	char why[256];
	json_object_set_new(body, "starts_at", json_string("2025-11-24T17:00:00Z"));
	assert_int_equal(jg_access_create(&f->ctx, &alice, body, &out, why, sizeof(why)), 0);
	assert_int_equal(int_of(out, "starts_at"), 1764003600);
	json_decref(out);
	json_object_set_new(body, "starts_at", json_string("tomorrow"));
	assert_int_equal(jg_access_create(&f->ctx, &alice, body, &out, why, sizeof(why)),
			 JG_EINVAL);
	json_decref(body);
}

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef JG_TEST_PG
	pgdb_init("test_access_pg", argv);
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_access_grant_end_deletes_its_kept_tokens, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_grant_expires_when_its_time_is_up, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_grant_check_batched_gives_the_same_verdict,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_pending_request_expires_without_a_decision,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_approvals_are_counted_per_person, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_no_one_approves_their_own_request, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_suppressed_refusals_name_their_targets,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_refusals_are_recorded_within_a_budget,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_list_pages_with_sealed_cursors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_review_overdue_is_notified_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_notify_due_reports_a_failing_query, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_access_extension_moves_the_end_on_its_last_approval, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_access_extension_is_refused_unless_the_grant_is_active, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_pending_extension_expires_with_its_grant,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_access_extension_pending_near_the_end_is_notified_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_receipt_counts_what_the_grant_was_used_for,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_receipt_flags_a_grant_never_used, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_scheduled_grant_starts_at_its_start, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_approval_after_the_start_activates_at_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_access_scheduled_grant_not_started_without_the_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_access_approval_after_the_start_rechecks_the_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_scheduled_grant_cancelled_or_revoked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_access_starts_at_is_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_undecidable_start_holds_back_no_other,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
