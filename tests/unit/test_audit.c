/*
 * test_audit.c - the audit log against a real SQLite store.
 *
 * Each test gets a fresh temporary directory with a database migrated by
 * the repository's migrations/ (tests run from the repository root), fresh
 * keys, a table of its own ("things") for state changes, and a started
 * writer.  The tests prove that appends are canonical, numbered and linked,
 * and that what an append accepts always verifies (nesting, size) while a
 * refused append does not fail the callers batched with it;
 * that a work function's state change and its entries commit together and
 * a refused one is rolled back alone while its batch-mates commit; that
 * group commit under 32 threads keeps the sequence contiguous; that
 * checkpoints are signed and stable; that jg_audit_verify_store notices
 * every kind of tampering done through SQL (after dropping the append-only
 * triggers, which themselves refuse UPDATE and DELETE); that exports and
 * proofs verify offline and a flipped byte does not; and that a batch the
 * store cannot take (full, or its transaction lost) fails closed with
 * nothing of it left behind, and the log carries on afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pthread.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "jitgate/audit.h"
#include "jitgate/canon.h"
#include "jitgate/codec.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/merkle.h"
#include "jitgate/migrate.h"
#include "jitgate/signed_note.h"
#include "jitgate/store.h"
#include "unit_fs.h"

#define ORIGIN "jitgate.test/audit"

struct fixture {
	char root[64];
	char db[128];
	char keys[128];
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_audit_verifiers vs;
};

/* A log (type 0x01) verifier key: golang.org/x/mod/sumdb/note's PeterNeumann. */
#define GO_LOG_KEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

static const char things_sql[] =
    "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, payload BLOB)";

static void
audit_start(struct fixture *f)
{
	struct jg_audit_config cfg = {
	    .origin = ORIGIN,
	    .checkpoint_entries = 1000000, /* no automatic checkpoints: tests make their own */
	    .checkpoint_seconds = 3600,
	    .verify_threads = 2,
	};
	char err[512] = "";

	if (jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_audit_verifiers_load(f->keys, ORIGIN, &f->vs, err, sizeof(err)) != 0)
		fail_msg("jg_audit_verifiers_load: %s", err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct jg_store_conn *c;
	char err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-audit-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	if (jg_store_open(f->db, &f->store, err, sizeof(err)) != 0)
		fail_msg("jg_store_open: %s", err);
	if (jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("jg_migrate_apply: %s", err);
	if (jg_keys_generate(f->keys, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_store_exec_script(c, things_sql, err, sizeof(err)), 0);
	jg_store_release(f->store, c);
	audit_start(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* ---- SQL helpers ----------------------------------------------------------- */

/* Runs trusted SQL on a pooled connection; returns the store's code. */
static int
exec_sql(struct fixture *f, const char *sql, char *err, size_t errlen)
{
	struct jg_store_conn *c;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	int rc = jg_store_exec_script(c, sql, err, errlen);
	jg_store_release(f->store, c);
	return rc;
}

static void
must_exec(struct fixture *f, const char *sql)
{
	char err[512] = "";
	if (exec_sql(f, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
}

/* Anyone holding the file can do this; integrity must not depend on the triggers. */
static void
drop_triggers(struct fixture *f)
{
	must_exec(f, "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
		     "DROP TRIGGER audit_nodes_no_update; DROP TRIGGER audit_nodes_no_delete;"
		     "DROP TRIGGER audit_checkpoints_no_update;"
		     "DROP TRIGGER audit_checkpoints_no_delete; DROP TRIGGER audit_head_no_delete;"
		     "DROP TRIGGER audit_head_only_grows;");
}

/* One integer from a literal query (NULL and no row give -1). */
static int64_t
query_int(struct fixture *f, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t v = -1;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW && !jg_stmt_column_is_null(st, 0))
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	return v;
}

static const char sql_get_entry[] = "SELECT entry FROM audit_log WHERE seq = ?";
static const char sql_set_entry[] = "UPDATE audit_log SET entry = ? WHERE seq = ?";
static const char sql_get_note[] = "SELECT note FROM audit_checkpoints WHERE size = ?";
static const char sql_set_note[] = "UPDATE audit_checkpoints SET note = ? WHERE size = ?";
static const char sql_set_head[] =
    "UPDATE audit_head SET size = ?, last_hash = ?, frontier = ? WHERE id = 1";
static const char sql_count_thing[] = "SELECT count(*) FROM things WHERE name = ?";

/* The stored bytes of entry seq, NUL-terminated; the caller frees. */
static char *
get_entry(struct fixture *f, uint64_t seq, size_t *len)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	char *out = NULL;
	*len = 0;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_get_entry, &st), 0);
	jg_stmt_bind_int64(st, 1, (int64_t)seq);
	if (jg_stmt_step(st) == JG_STMT_ROW) {
		const void *blob = jg_stmt_column_blob(st, 0, len);
		out = malloc(*len + 1);
		assert_non_null(out);
		memcpy(out, blob, *len);
		out[*len] = '\0';
	}
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	assert_non_null(out);
	return out;
}

static void
set_entry(struct fixture *f, uint64_t seq, const char *buf, size_t len)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_set_entry, &st), 0);
	jg_stmt_bind_blob(st, 1, buf, len);
	jg_stmt_bind_int64(st, 2, (int64_t)seq);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
}

static char *
get_note(struct fixture *f, uint64_t size)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	char *out = NULL;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_get_note, &st), 0);
	jg_stmt_bind_int64(st, 1, (int64_t)size);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		out = strdup(jg_stmt_column_text(st, 0));
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	assert_non_null(out);
	return out;
}

static void
set_note(struct fixture *f, uint64_t size, const char *note)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_set_note, &st), 0);
	jg_stmt_bind_text(st, 1, note);
	jg_stmt_bind_int64(st, 2, (int64_t)size);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
}

static int64_t
count_thing(struct fixture *f, const char *name)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t n = -1;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_count_thing, &st), 0);
	jg_stmt_bind_text(st, 1, name);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	return n;
}

/* ---- audit helpers --------------------------------------------------------- */

struct append_many {
	int n;
	int first; /* data.i of the first entry */
};

static int
append_many_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct append_many *m = ctx;
	for (int k = 0; k < m->n; k++) {
		json_t *data = json_pack("{s:i,s:s}", "i", m->first + k, "note", "an entry");
		int rc = jg_audit_tx_append(tx, "test.entry", "tester", data, NULL);
		json_decref(data);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Appends n entries in one transaction (fast: one commit). */
static void
populate(struct fixture *f, int n)
{
	uint64_t size = 0;
	assert_int_equal(jg_audit_size(f->store, &size), 0);
	struct append_many m = {n, (int)size};
	assert_int_equal(jg_audit_run(f->audit, append_many_fn, &m), 0);
}

static uint64_t
checkpoint(struct fixture *f)
{
	uint64_t size = UINT64_MAX;
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	return size;
}

static void
expect_verified(struct fixture *f, uint64_t want_size)
{
	struct jg_chain_fault fault;
	uint64_t size = UINT64_MAX;
	int rc = jg_audit_verify_store(f->store, &f->vs, 2, &size, &fault);
	if (rc != 0)
		fail_msg("verify_store: rc=%d seq=%llu: %s", rc, (unsigned long long)fault.seq,
			 fault.why);
	assert_int_equal(size, want_size);
}

/* verify_store must fail with JG_EVERIFY at seq (UINT64_MAX: no entry) for reason needle. */
static void
expect_fault(struct fixture *f, uint64_t seq, const char *needle)
{
	struct jg_chain_fault fault;
	uint64_t size = 12345;
	int rc = jg_audit_verify_store(f->store, &f->vs, 2, &size, &fault);
	if (rc != JG_EVERIFY || fault.seq != seq || strstr(fault.why, needle) == NULL)
		fail_msg("expected JG_EVERIFY at seq %llu with \"%s\"; got rc=%d seq=%llu \"%s\"",
			 (unsigned long long)seq, needle, rc, (unsigned long long)fault.seq,
			 fault.why);
	assert_int_equal(size, 12345); /* not written on failure */
}

/* 20 entries and a signed checkpoint over all of them: what the tamper tests start from. */
static void
populate_checkpointed(struct fixture *f)
{
	populate(f, 20);
	assert_int_equal(checkpoint(f), 20);
	expect_verified(f, 20);
}

/* Replaces the first occurrence of from in s (len bytes) by to (same length). */
static void
patch(char *s, const char *from, const char *to)
{
	char *at = strstr(s, from);
	size_t n = strlen(from);
	assert_non_null(at);
	assert_int_equal(strlen(to), n);
	memcpy(at, to, n); /* over from's bytes only: s stays terminated where it was */
}

/* ---- appends ------------------------------------------------------------------ */

static void
test_audit_append_seqs_canonical_linked(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_receipt r[6];
	char zeros[65], hex[65], why[256];

	memset(zeros, '0', 64);
	zeros[64] = '\0';
	for (int i = 0; i < 6; i++) {
		json_t *data =
		    json_pack("{s:i,s:s,s:[i,i]}", "i", i, "who", "caf\xc3\xa9\t/", "list", -1, i);
		assert_int_equal(
		    jg_audit_append(f->audit, "grant.create", "alice@example.com", data, &r[i]), 0);
		json_decref(data);
		assert_int_equal(r[i].seq, (uint64_t)i);
	}
	/* data NULL is {} */
	assert_int_equal(jg_audit_append(f->audit, "system.start", "jitgate", NULL, NULL), 0);

	uint64_t size = 0;
	assert_int_equal(jg_audit_size(f->store, &size), 0);
	assert_int_equal(size, 7);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 7);
	assert_int_equal(query_int(f, "SELECT min(seq) FROM audit_log"), 0);
	assert_int_equal(query_int(f, "SELECT max(seq) FROM audit_log"), 6);

	uint8_t prev_leaf[32] = {0};
	for (uint64_t seq = 0; seq < 7; seq++) {
		size_t len;
		char *e = get_entry(f, seq, &len);
		json_t *doc = NULL;
		if (jg_canon_check(e, len, &doc, why, sizeof(why)) != 0)
			fail_msg("entry %llu not canonical: %s: %s", (unsigned long long)seq, why,
				 e);
		assert_int_equal(json_integer_value(json_object_get(doc, "seq")), (json_int_t)seq);
		assert_int_equal(json_integer_value(json_object_get(doc, "v")), 1);
		assert_true(json_integer_value(json_object_get(doc, "ts")) > 1600000000000LL);
		jg_hex32(prev_leaf, hex);
		assert_string_equal(json_string_value(json_object_get(doc, "prev")),
				    seq == 0 ? zeros : hex);
		if (seq < 6) {
			assert_string_equal(json_string_value(json_object_get(doc, "type")),
					    "grant.create");
			assert_string_equal(json_string_value(json_object_get(doc, "actor")),
					    "alice@example.com");
			assert_int_equal(
			    json_integer_value(json_object_get(json_object_get(doc, "data"), "i")),
			    (json_int_t)seq);
		} else {
			assert_int_equal(json_object_size(json_object_get(doc, "data")), 0);
		}
		json_decref(doc);
		/* The receipt's hash is the leaf hash of exactly these bytes. */
		assert_int_equal(jg_merkle_leaf_hash(e, len, prev_leaf), 0);
		if (seq < 6)
			assert_memory_equal(prev_leaf, r[seq].hash, 32);
		free(e);
	}
	/* The exact layout: keys sorted, compact. */
	size_t len;
	char *e = get_entry(f, 0, &len);
	static const char want[] = "{\"actor\":\"alice@example.com\",\"data\":{\"i\":0,"
				   "\"list\":[-1,0],\"who\":\"caf\xc3\xa9\\t/\"},\"prev\":\"0000";
	if (strncmp(e, want, sizeof(want) - 1) != 0)
		fail_msg("entry 0 is %s", e);
	free(e);
	expect_verified(f, 7);
}

static void
test_audit_append_refuses_bad_input(void **state)
{
	struct fixture *f = *state;
	json_t *data = json_pack("{s:f}", "ratio", 0.5);

	assert_int_equal(jg_audit_append(f->audit, "x.y", "tester", data, NULL), JG_EINVAL);
	json_decref(data);
	data = json_pack("{s:i}", "caf\xc3\xa9", 1);
	assert_int_equal(jg_audit_append(f->audit, "x.y", "tester", data, NULL), JG_EINVAL);
	json_decref(data);
	assert_int_equal(jg_audit_append(f->audit, "Bad Type", "tester", NULL, NULL), JG_EINVAL);
	assert_int_equal(jg_audit_append(f->audit, "x.y", "", NULL, NULL), JG_EINVAL);
	/* Over 64 KiB. */
	char *big = malloc(70000);
	assert_non_null(big);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	data = json_pack("{s:s}", "big", big);
	assert_int_equal(jg_audit_append(f->audit, "x.y", "tester", data, NULL), JG_ETOOBIG);
	json_decref(data);
	free(big);
	/* Nothing was written; the next good append is seq 0. */
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 0);
	struct jg_audit_receipt r;
	assert_int_equal(jg_audit_append(f->audit, "x.y", "tester", NULL, &r), 0);
	assert_int_equal(r.seq, 0);
	expect_verified(f, 1);
}

/* data nested as deep as one encoder allows must still give a verifiable entry */
static void
test_audit_append_deep_data_stays_verifiable(void **state)
{
	struct fixture *f = *state;
	int accepted = 0;

	for (int depth = 28; depth <= 34; depth++) {
		json_t *data = json_object();
		for (int i = 0; i < depth; i++)
			data = json_pack("{s:o}", "a", data);
		int rc = jg_audit_append(f->audit, "deep.data", "tester", data, NULL);
		json_decref(data);
		if (rc == 0)
			accepted++;
		else
			assert_int_equal(rc, JG_EINVAL);
		/* Whatever was accepted, the log verifies. */
		expect_verified(f, (uint64_t)accepted);
	}
	assert_true(accepted > 0);
}

/* ---- work functions: state and entries together ------------------------------ */

static const char sql_insert_thing[] = "INSERT INTO things (name) VALUES (?)";

struct thing_job {
	char name[32];
	int refuse;
	/* observed on the writer */
	int order;	 /* position among all jobs run */
	uint64_t base;	 /* committed size when it ran: the same for one batch */
	int64_t visible; /* entries its transaction saw: base + earlier batch-mates' */
	int rc;		 /* what jg_audit_run returned */
	struct jg_audit_receipt receipt;
	struct fixture *f;
};

static int job_order; /* touched only by the writer thread */

static int
thing_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct thing_job *j = ctx;
	struct jg_store_conn *c = jg_audit_tx_conn(tx);
	static const char sql_count[] = "SELECT count(*) FROM audit_log";
	struct jg_stmt *st;
	int rc;

	j->order = job_order++;
	if (jg_audit_size(j->f->store, &j->base) != 0) /* another connection: committed only */
		return JG_ESTORE;
	if (jg_stmt_prepare(c, sql_count, &st) != 0)
		return JG_ESTORE;
	j->visible = jg_stmt_step(st) == JG_STMT_ROW ? jg_stmt_column_int64(st, 0) : -1;
	jg_stmt_finish(st);

	if (jg_stmt_prepare(c, sql_insert_thing, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->name);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return rc < 0 ? rc : JG_ESTORE;
	json_t *data = json_pack("{s:s,s:b}", "name", j->name, "refused", j->refuse);
	rc = jg_audit_tx_append(tx, "thing.create", "tester", data, &j->receipt);
	json_decref(data);
	if (rc != 0)
		return rc;
	return j->refuse ? JG_ECONFLICT : 0;
}

static void
test_audit_run_commits_state_with_entry(void **state)
{
	struct fixture *f = *state;
	struct thing_job j = {.name = "alpha", .f = f};

	assert_int_equal(jg_audit_run(f->audit, thing_fn, &j), 0);
	assert_int_equal(j.receipt.seq, 0);
	assert_int_equal(count_thing(f, "alpha"), 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log WHERE "
				      "json_extract(CAST(entry AS TEXT), '$.data.name') = 'alpha'"),
			 1);

	/* A constraint failure in the work function is its result; nothing of it stays. */
	struct thing_job dup = {.name = "alpha", .f = f};
	assert_int_equal(jg_audit_run(f->audit, thing_fn, &dup), JG_ECONFLICT);
	/* Refused after the insert and the append: both rolled back. */
	struct thing_job no = {.name = "beta", .refuse = 1, .f = f};
	assert_int_equal(jg_audit_run(f->audit, thing_fn, &no), JG_ECONFLICT);
	assert_int_equal(count_thing(f, "beta"), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 1);

	struct thing_job ok = {.name = "gamma", .f = f};
	assert_int_equal(jg_audit_run(f->audit, thing_fn, &ok), 0);
	assert_int_equal(ok.receipt.seq, 1); /* the refused job's seq was not used */
	assert_int_equal(query_int(f, "SELECT count(*) FROM things"), 2);
	expect_verified(f, 2);
}

/* A gate that holds the writer inside a job until the test opens it. */
struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	int entered, open, ready;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void
gate_reset(void)
{
	pthread_mutex_lock(&gate.m);
	gate.entered = gate.open = gate.ready = 0;
	pthread_mutex_unlock(&gate.m);
}

static int
blocker_fn(struct jg_audit_tx *tx, void *ctx)
{
	(void)tx;
	(void)ctx;
	pthread_mutex_lock(&gate.m);
	gate.entered = 1;
	pthread_cond_broadcast(&gate.c);
	while (!gate.open)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
	return 0;
}

struct blocker_arg {
	struct fixture *f;
	int rc;
};

static void *
blocker_main(void *arg)
{
	struct blocker_arg *b = arg;
	b->rc = jg_audit_run(b->f->audit, blocker_fn, NULL);
	return NULL;
}

/* Starts a job that holds the writer; returns once it is inside. */
static void
gate_close(struct fixture *f, pthread_t *tid, struct blocker_arg *b)
{
	gate_reset();
	b->f = f;
	assert_int_equal(pthread_create(tid, NULL, blocker_main, b), 0);
	pthread_mutex_lock(&gate.m);
	while (!gate.entered)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
}

/* Waits until ready callers announced themselves, lets them queue, then opens. */
static void
gate_open_when(int ready)
{
	struct timespec pause = {0, 50 * 1000 * 1000};
	pthread_mutex_lock(&gate.m);
	while (gate.ready < ready)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
	nanosleep(&pause, NULL); /* they are queued behind the blocker by now */
	pthread_mutex_lock(&gate.m);
	gate.open = 1;
	pthread_cond_broadcast(&gate.c);
	pthread_mutex_unlock(&gate.m);
}

static void
gate_announce(void)
{
	pthread_mutex_lock(&gate.m);
	gate.ready++;
	pthread_cond_broadcast(&gate.c);
	pthread_mutex_unlock(&gate.m);
}

#define RJ_THREADS 16
#define RJ_JOBS	   6

struct rj_thread {
	struct fixture *f;
	struct thing_job *jobs; /* RJ_JOBS of them */
};

static void *
rj_main(void *arg)
{
	struct rj_thread *t = arg;
	gate_announce();
	for (int k = 0; k < RJ_JOBS; k++)
		t->jobs[k].rc = jg_audit_run(t->f->audit, thing_fn, &t->jobs[k]);
	return NULL;
}

static void
test_audit_run_refused_job_rolled_back_alone(void **state)
{
	struct fixture *f = *state;
	static struct thing_job jobs[RJ_THREADS * RJ_JOBS];
	struct rj_thread th[RJ_THREADS];
	pthread_t tids[RJ_THREADS], btid;
	struct blocker_arg b;
	int n_ok = 0;

	memset(jobs, 0, sizeof(jobs));
	job_order = 0;
	for (int i = 0; i < RJ_THREADS * RJ_JOBS; i++) {
		snprintf(jobs[i].name, sizeof(jobs[i].name), "job-%03d", i);
		jobs[i].refuse = i % 3 == 1;
		jobs[i].f = f;
		n_ok += !jobs[i].refuse;
	}
	/* Hold the writer so that the first job of every thread lands in one batch. */
	gate_close(f, &btid, &b);
	for (int t = 0; t < RJ_THREADS; t++) {
		th[t] = (struct rj_thread){f, &jobs[t * RJ_JOBS]};
		assert_int_equal(pthread_create(&tids[t], NULL, rj_main, &th[t]), 0);
	}
	gate_open_when(RJ_THREADS);
	for (int t = 0; t < RJ_THREADS; t++)
		pthread_join(tids[t], NULL);
	pthread_join(btid, NULL);
	assert_int_equal(b.rc, 0);

	int batched = 0, refused_then_ok = 0;
	for (int i = 0; i < RJ_THREADS * RJ_JOBS; i++) {
		struct thing_job *j = &jobs[i];
		assert_int_equal(j->rc, j->refuse ? JG_ECONFLICT : 0);
		assert_int_equal(count_thing(f, j->name), j->refuse ? 0 : 1);
		if (j->visible > (int64_t)j->base)
			batched++;
		if (!j->refuse)
			continue;
		/* A batch-mate that ran after this refused job still committed. */
		for (int k = 0; k < RJ_THREADS * RJ_JOBS; k++)
			if (!jobs[k].refuse && jobs[k].base == j->base && jobs[k].order > j->order)
				refused_then_ok++;
	}
	if (batched == 0 || refused_then_ok == 0)
		fail_msg("no batching observed (batched=%d, refused_then_ok=%d)", batched,
			 refused_then_ok);
	assert_int_equal(query_int(f, "SELECT count(*) FROM things"), n_ok);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), n_ok);
	assert_int_equal(query_int(f, "SELECT min(seq) FROM audit_log"), 0);
	assert_int_equal(query_int(f, "SELECT max(seq) FROM audit_log"), n_ok - 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log WHERE "
				      "json_extract(CAST(entry AS TEXT), '$.data.refused') != 0"),
			 0);
	/* Each committed row has exactly its entry, and the entry's seq is its receipt's. */
	assert_int_equal(query_int(f,
				   "SELECT count(*) FROM things t JOIN audit_log a ON "
				   "json_extract(CAST(a.entry AS TEXT), '$.data.name') = t.name"),
			 n_ok);
	for (int i = 0; i < RJ_THREADS * RJ_JOBS; i++) {
		if (jobs[i].refuse)
			continue;
		size_t len;
		char *e = get_entry(f, jobs[i].receipt.seq, &len);
		assert_non_null(strstr(e, jobs[i].name));
		free(e);
	}
	expect_verified(f, (uint64_t)n_ok);
}

/* ---- group commit ---------------------------------------------------------------- */

#define GC_THREADS 32
#define GC_APPENDS 40

struct gc_thread {
	struct fixture *f;
	int t;
	pthread_barrier_t *start;
	uint64_t seqs[GC_APPENDS];
	int rc;
};

static void *
gc_main(void *arg)
{
	struct gc_thread *g = arg;
	pthread_barrier_wait(g->start);
	for (int k = 0; k < GC_APPENDS; k++) {
		struct jg_audit_receipt r;
		json_t *data = json_pack("{s:i,s:i}", "t", g->t, "k", k);
		int rc = jg_audit_append(g->f->audit, "load.test", "tester", data, &r);
		json_decref(data);
		if (rc != 0) {
			g->rc = rc;
			return NULL;
		}
		g->seqs[k] = r.seq;
	}
	return NULL;
}

static void
test_audit_append_group_commit_32_threads(void **state)
{
	struct fixture *f = *state;
	static struct gc_thread g[GC_THREADS];
	pthread_t tids[GC_THREADS];
	pthread_barrier_t start;
	const uint64_t n = GC_THREADS * GC_APPENDS;
	static uint8_t seen[GC_THREADS * GC_APPENDS];

	memset(seen, 0, sizeof(seen));
	pthread_barrier_init(&start, NULL, GC_THREADS);
	for (int t = 0; t < GC_THREADS; t++) {
		g[t] = (struct gc_thread){.f = f, .t = t, .start = &start};
		assert_int_equal(pthread_create(&tids[t], NULL, gc_main, &g[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(tids[t], NULL);
	pthread_barrier_destroy(&start);

	for (int t = 0; t < GC_THREADS; t++) {
		assert_int_equal(g[t].rc, 0);
		for (int k = 0; k < GC_APPENDS; k++) {
			assert_true(g[t].seqs[k] < n);
			assert_int_equal(seen[g[t].seqs[k]], 0); /* no seq handed out twice */
			seen[g[t].seqs[k]] = 1;
			if (k > 0)
				assert_true(g[t].seqs[k] > g[t].seqs[k - 1]);
		}
	}
	uint64_t size;
	assert_int_equal(jg_audit_size(f->store, &size), 0);
	assert_int_equal(size, n);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), (int64_t)n);
	assert_int_equal(query_int(f, "SELECT min(seq) FROM audit_log"), 0);
	assert_int_equal(query_int(f, "SELECT max(seq) FROM audit_log"), (int64_t)n - 1);
	/* Every (thread, append) pair landed exactly once. */
	assert_int_equal(
	    query_int(f, "SELECT count(DISTINCT json_extract(CAST(entry AS TEXT), '$.data.t') "
			 "* 1000 + json_extract(CAST(entry AS TEXT), '$.data.k')) FROM audit_log"),
	    (int64_t)n);
	expect_verified(f, n);
	assert_int_equal(checkpoint(f), n);
	expect_verified(f, n);
}

/* ---- checkpoints ------------------------------------------------------------------ */

/* The root of the tree of size entries, from an inclusion proof's answer. */
static void
root_of(struct fixture *f, uint64_t size, uint8_t root[32])
{
	json_t *proof = NULL;
	assert_int_equal(jg_audit_inclusion(f->store, 0, size, &proof), 0);
	assert_int_equal(jg_unhex32(json_string_value(json_object_get(proof, "root")), root), 0);
	json_decref(proof);
}

static void
test_audit_checkpoint_signed_and_stable(void **state)
{
	struct fixture *f = *state;
	struct jg_checkpoint cp;
	char *note = NULL, *again = NULL, *latest = NULL;
	uint64_t size = 0, latest_size = 0;
	uint8_t root[32];

	/* No checkpoint yet. */
	assert_int_equal(jg_audit_latest_checkpoint(f->store, &latest, &latest_size, NULL),
			 JG_ENOTFOUND);
	assert_null(latest);

	populate(f, 10);
	assert_int_equal(jg_audit_checkpoint(f->audit, &note, &size), 0);
	assert_int_equal(size, 10);
	assert_int_equal(f->vs.n, 1);
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &f->vs.v[0], &cp), 0);
	assert_string_equal(cp.origin, ORIGIN);
	assert_int_equal(cp.size, 10);
	root_of(f, 10, root);
	assert_memory_equal(cp.root, root, 32);

	/* Nothing new: the same checkpoint, byte for byte, and no new row. */
	assert_int_equal(jg_audit_checkpoint(f->audit, &again, &size), 0);
	assert_int_equal(size, 10);
	assert_string_equal(again, note);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_checkpoints"), 1);
	assert_int_equal(jg_audit_latest_checkpoint(f->store, &latest, &latest_size, NULL), 0);
	assert_int_equal(latest_size, 10);
	assert_string_equal(latest, note);
	free(again);
	free(latest);

	/* One more entry: a new checkpoint, and both verify against the store. */
	populate(f, 1);
	assert_int_equal(jg_audit_checkpoint(f->audit, &again, &size), 0);
	assert_int_equal(size, 11);
	assert_int_equal(jg_signed_note_open_checkpoint(again, strlen(again), &f->vs.v[0], &cp), 0);
	assert_int_equal(cp.size, 11);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_checkpoints"), 2);
	expect_verified(f, 11);
	free(again);
	free(note);
}

static void
test_audit_checkpoint_empty_log(void **state)
{
	struct fixture *f = *state;
	struct jg_checkpoint cp;
	char *note = NULL;
	uint64_t size = 99;
	uint8_t empty[32];

	assert_int_equal(jg_audit_checkpoint(f->audit, &note, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &f->vs.v[0], &cp), 0);
	assert_int_equal(jg_merkle_empty_root(empty), 0);
	assert_memory_equal(cp.root, empty, 32);
	free(note);
	expect_verified(f, 0);
	populate(f, 3);
	assert_int_equal(checkpoint(f), 3);
	expect_verified(f, 3);
}

static void
test_audit_checkpoint_after_key_rotation(void **state)
{
	struct fixture *f = *state;
	struct jg_checkpoint cp;
	char err[512] = "", *note = NULL;
	uint64_t size;

	populate(f, 4);
	assert_int_equal(checkpoint(f), 4);
	jg_audit_free(f->audit);
	f->audit = NULL;
	assert_int_equal(jg_keys_rotate(f->keys, JG_KEY_CHECKPOINT, NULL, err, sizeof(err)), 0);
	audit_start(f);
	assert_int_equal(f->vs.n, 2);
	populate(f, 3);
	assert_int_equal(jg_audit_checkpoint(f->audit, &note, &size), 0);
	assert_int_equal(size, 7);
	/* Signed by the new (active) key only. */
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &f->vs.v[1], &cp), 0);
	assert_int_not_equal(jg_signed_note_open_checkpoint(note, strlen(note), &f->vs.v[0], &cp),
			     0);
	free(note);
	/* The old checkpoint still verifies with the old key. */
	expect_verified(f, 7);
}

/* ---- tampering --------------------------------------------------------------------- */

static void
test_audit_verify_store_detects_changed_byte(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	expect_verified(f, 20);
	/*
	 * One byte of each entry in turn ("tester" -> "tesTer": still a valid,
	 * canonical entry, so only the hashes can tell).  An odd seq completes a
	 * stored node, which no longer matches; an even one is caught by the next
	 * entry's prev.  Either way the fault names the altered entry.
	 */
	for (uint64_t seq = 0; seq < 20; seq++) {
		size_t len;
		char *orig = get_entry(f, seq, &len), *bad = strdup(orig);
		assert_non_null(bad);
		patch(bad, "\"tester\"", "\"tesTer\"");
		set_entry(f, seq, bad, len);
		if (seq % 2 == 1)
			expect_fault(f, seq, "stored tree node does not match the entries");
		else
			expect_fault(f, seq, "bad hash link");
		set_entry(f, seq, orig, len);
		free(orig);
		free(bad);
	}
	expect_verified(f, 20);

	/* A changed byte that breaks the entry's form is named at that entry. */
	size_t len;
	char *e = get_entry(f, 8, &len);
	patch(e, "\"v\":1}", "\"v\":2}");
	set_entry(f, 8, e, len);
	free(e);
	expect_fault(f, 8, "unknown entry version");
}

static void
test_audit_verify_store_detects_deleted_entry(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	must_exec(f, "DELETE FROM audit_log WHERE seq = 7");
	expect_fault(f, 7, "the log's row 8 sits where entry 7 belongs");
}

/* Renumbering the last row keeps every entry intact but breaks lookups by seq. */
static void
test_audit_verify_store_detects_renumbered_row(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	must_exec(f, "UPDATE audit_log SET seq = 100 WHERE seq = 19");
	expect_fault(f, 19, "the log's row 100 sits where entry 19 belongs");
}

static void
test_audit_verify_store_detects_swapped_entries(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	must_exec(f, "UPDATE audit_log SET seq = 1000 WHERE seq = 3;"
		     "UPDATE audit_log SET seq = 3 WHERE seq = 4;"
		     "UPDATE audit_log SET seq = 4 WHERE seq = 1000;");
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 20);
	expect_fault(f, 3, "gap or reordering: expected seq 3, found seq 4");
}

static void
test_audit_verify_store_detects_reserialised_entry(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *e, *moved;

	populate_checkpointed(f);
	drop_triggers(f);
	/* The same document, same length, with "v" first instead of last. */
	e = get_entry(f, 6, &len);
	assert_true(len > 8 && strcmp(e + len - 7, ",\"v\":1}") == 0);
	assert_int_equal(asprintf(&moved, "{\"v\":1,%.*s}", (int)(len - 8), e + 1), (int)len);
	json_t *a = json_loadb(e, len, 0, NULL), *b = json_loadb(moved, len, 0, NULL);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	set_entry(f, 6, moved, len);
	expect_fault(f, 6, "not canonical");
	/* Whitespace added before the final brace of an earlier entry: refused there. */
	free(e);
	e = get_entry(f, 5, &len);
	char *spaced;
	assert_true(asprintf(&spaced, "%.*s }", (int)(len - 1), e) > 0);
	set_entry(f, 5, spaced, len + 1);
	expect_fault(f, 5, "not canonical");
	free(spaced);
	free(moved);
	free(e);
}

/* Recomputes the head for the first n entries, as someone covering their tracks would. */
static void
rewrite_head(struct fixture *f, uint64_t n)
{
	struct jg_merkle_frontier tree;
	uint8_t leaf[32] = {0}, enc[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t enc_len;
	struct jg_store_conn *c;
	struct jg_stmt *st;

	jg_merkle_frontier_init(&tree);
	for (uint64_t seq = 0; seq < n; seq++) {
		size_t len;
		char *e = get_entry(f, seq, &len);
		assert_int_equal(jg_merkle_leaf_hash(e, len, leaf), 0);
		assert_int_equal(jg_merkle_frontier_append(&tree, leaf, NULL, NULL), 0);
		free(e);
	}
	assert_int_equal(jg_merkle_frontier_encode(&tree, enc, sizeof(enc), &enc_len), 0);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_set_head, &st), 0);
	jg_stmt_bind_int64(st, 1, (int64_t)n);
	jg_stmt_bind_blob(st, 2, leaf, 32);
	jg_stmt_bind_blob(st, 3, enc, enc_len);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
}

static void
test_audit_verify_store_detects_truncation_below_checkpoint(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	/* Remove the last five entries and make everything else agree with that. */
	must_exec(f, "DELETE FROM audit_log WHERE seq >= 15;"
		     "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 15;");
	rewrite_head(f, 15);
	/* Only the signed checkpoint of size 20 still tells. */
	expect_fault(f, 15,
		     "truncated: a signed checkpoint covers 20 entries but the log holds "
		     "only 15");
	/*
	 * Remove the checkpoint too and the store alone cannot tell: that is what
	 * the off-host copies of each checkpoint are for.
	 */
	must_exec(f, "DELETE FROM audit_checkpoints");
	expect_verified(f, 15);
}

static void
test_audit_verify_store_detects_checkpoint_row_size_edited(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	must_exec(f, "UPDATE audit_checkpoints SET size = 19 WHERE size = 20");
	expect_fault(f, UINT64_MAX, "the stored checkpoint of size 19 is not validly signed");
}

static void
test_audit_verify_store_detects_checkpoint_note_size_edited(void **state)
{
	struct fixture *f = *state;
	char *note;

	populate_checkpointed(f);
	drop_triggers(f);
	note = get_note(f, 20);
	patch(note, "\n20\n", "\n21\n");
	set_note(f, 20, note);
	free(note);
	expect_fault(f, UINT64_MAX, "the stored checkpoint of size 20 is not validly signed");
}

static void
test_audit_verify_store_detects_checkpoint_root_edited(void **state)
{
	struct fixture *f = *state;
	char *note, *root_line;

	populate_checkpointed(f);
	drop_triggers(f);
	note = get_note(f, 20);
	root_line = strstr(note, "\n20\n");
	assert_non_null(root_line);
	root_line += 4;
	root_line[0] = root_line[0] == 'A' ? 'B' : 'A'; /* first base64 character of the root */
	set_note(f, 20, note);
	free(note);
	expect_fault(f, UINT64_MAX, "the stored checkpoint of size 20 is not validly signed");
}

/* Re-signs body (a checkpoint body) with key and stores it as the checkpoint of size row. */
static void
store_signed(struct fixture *f, uint64_t row, const char *body, EVP_PKEY *key)
{
	char *note = NULL;
	size_t note_len;
	assert_int_equal(jg_signed_note_sign(body, strlen(body), ORIGIN, key, &note, &note_len), 0);
	set_note(f, row, note);
	free(note);
}

static EVP_PKEY *
deployment_key(struct fixture *f)
{
	struct jg_keyring *ring = NULL;
	char err[512];
	assert_int_equal(jg_keys_load(f->keys, JG_KEY_CHECKPOINT, &ring, err, sizeof(err)), 0);
	EVP_PKEY *k = jg_keyring_active(ring)->pkey;
	EVP_PKEY_up_ref(k);
	jg_keyring_free(ring);
	return k;
}

static void
test_audit_verify_store_detects_checkpoint_resigned_with_other_root(void **state)
{
	struct fixture *f = *state;
	uint8_t root[32];
	char *body;
	size_t body_len;

	populate_checkpointed(f);
	drop_triggers(f);
	/* Even with the deployment's own key, a checkpoint must match the entries. */
	EVP_PKEY *key = deployment_key(f);
	root_of(f, 20, root);
	root[31] ^= 1;
	assert_int_equal(jg_signed_note_checkpoint_body(ORIGIN, 20, root, &body, &body_len), 0);
	store_signed(f, 20, body, key);
	free(body);
	expect_fault(f, UINT64_MAX, "the signed checkpoint of size 20 does not match the entries");

	/* A correct root of size 19 presented as size 20: the row and note sizes disagree... */
	root_of(f, 19, root);
	assert_int_equal(jg_signed_note_checkpoint_body(ORIGIN, 19, root, &body, &body_len), 0);
	store_signed(f, 20, body, key);
	expect_fault(f, UINT64_MAX, "checkpoint of size 20 is not validly signed");
	/* ...and made consistent, it is a valid checkpoint of 19: the log still verifies. */
	must_exec(f, "UPDATE audit_checkpoints SET size = 19 WHERE size = 20");
	expect_verified(f, 20);
	free(body);

	/* A size beyond the log, signed: truncation. */
	root_of(f, 20, root);
	assert_int_equal(jg_signed_note_checkpoint_body(ORIGIN, 21, root, &body, &body_len), 0);
	must_exec(f, "UPDATE audit_checkpoints SET size = 21 WHERE size = 19");
	store_signed(f, 21, body, key);
	free(body);
	expect_fault(f, 20, "truncated: a signed checkpoint covers 21 entries");
	EVP_PKEY_free(key);
}

static void
test_audit_verify_store_detects_checkpoint_signed_by_other_key(void **state)
{
	struct fixture *f = *state;
	struct jg_signed_note *parsed = NULL;
	char *note, *body;

	populate_checkpointed(f);
	drop_triggers(f);
	note = get_note(f, 20);
	assert_int_equal(jg_signed_note_parse(note, strlen(note), &parsed), 0);
	body = strndup(parsed->text, parsed->text_len);
	assert_non_null(body);
	jg_signed_note_free(parsed);
	/* The true body, under the deployment's key name, by a key it does not trust. */
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(other);
	store_signed(f, 20, body, other);
	expect_fault(f, UINT64_MAX, "not validly signed by a checkpoint key of this deployment");
	/* The original note (only the signature differs) verifies again. */
	set_note(f, 20, note);
	expect_verified(f, 20);
	EVP_PKEY_free(other);
	free(body);
	free(note);
}

static void
test_audit_verify_store_detects_edited_node(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	/* Node (2, 1) covers leaves 4..7: it is compared when entry 7 completes it. */
	must_exec(f, "UPDATE audit_nodes SET hash = randomblob(32) WHERE level = 2 AND idx = 1");
	expect_fault(f, 7, "stored tree node does not match the entries");
}

static void
test_audit_verify_store_detects_missing_or_extra_node(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	must_exec(f, "DELETE FROM audit_nodes WHERE level = 1 AND idx = 3");
	expect_fault(f, 7, "stored tree node does not match the entries");
	must_exec(f, "INSERT INTO audit_nodes (level, idx, hash) "
		     "SELECT 1, 3, hash FROM audit_nodes WHERE level = 1 AND idx = 2");
	expect_fault(f, 7, "stored tree node does not match the entries");
	must_exec(f, "DELETE FROM audit_nodes WHERE level = 1 AND idx = 3");
	/* A node for leaves that do not exist yet. */
	must_exec(f, "INSERT INTO audit_nodes (level, idx, hash) VALUES (3, 7, zeroblob(32))");
	expect_fault(f, 7, "stored tree node does not match the entries");
}

static void
test_audit_verify_store_detects_edited_head(void **state)
{
	struct fixture *f = *state;

	populate_checkpointed(f);
	drop_triggers(f);
	must_exec(f, "UPDATE audit_head SET last_hash = randomblob(32)");
	expect_fault(f, 19, "the chain head (size 20) does not match the 20 entries");
}

static void
test_audit_verify_store_detects_head_ahead_of_log(void **state)
{
	struct fixture *f = *state;

	populate(f, 20);
	drop_triggers(f);
	/* The head still says 20; the last entry and its nodes are gone (no checkpoint). */
	must_exec(f, "DELETE FROM audit_log WHERE seq = 19;"
		     "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 19;");
	expect_fault(f, 18, "the chain head (size 20) does not match the 19 entries");
}

static void
test_audit_triggers_refuse_update_and_delete(void **state)
{
	struct fixture *f = *state;
	static const char *const refused[][2] = {
	    {"UPDATE audit_log SET entry = X'00' WHERE seq = 0", "audit_log is append-only"},
	    {"DELETE FROM audit_log WHERE seq = 4", "audit_log is append-only"},
	    {"DELETE FROM audit_log", "audit_log is append-only"},
	    {"UPDATE audit_nodes SET hash = zeroblob(32)", "audit_nodes is append-only"},
	    {"DELETE FROM audit_nodes", "audit_nodes is append-only"},
	    {"UPDATE audit_checkpoints SET size = 1", "audit_checkpoints is append-only"},
	    {"DELETE FROM audit_checkpoints", "audit_checkpoints is append-only"},
	    {"DELETE FROM audit_head", "audit_head cannot be deleted"},
	    {"UPDATE audit_head SET size = size - 1", "audit_head only moves forward"},
	    {"UPDATE audit_head SET last_hash = zeroblob(32)", "audit_head only moves forward"},
	    {"UPDATE audit_head SET ts = ts - 1", "audit_head only moves forward"},
	    {"UPDATE audit_head SET id = 2", "audit_head only moves forward"},
	};
	char err[512];

	populate_checkpointed(f);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		err[0] = '\0';
		assert_int_equal(exec_sql(f, refused[i][0], err, sizeof(err)), JG_ESTORE);
		if (strstr(err, refused[i][1]) == NULL)
			fail_msg("%s: expected \"%s\", got \"%s\"", refused[i][0], refused[i][1],
				 err);
	}
	/* Through the prepared-statement path too. */
	struct jg_store_conn *c;
	struct jg_stmt *st;
	static const char upd[] = "UPDATE audit_log SET entry = entry WHERE seq = 1";
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, upd, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_ECONFLICT); /* RAISE(ABORT) is a constraint */
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 20);
	expect_verified(f, 20);
	/* INSERT stays allowed (that is how entries arrive). */
	populate(f, 1);
	expect_verified(f, 21);
}

/* ---- export and proofs ----------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static int
buf_write(void *ctx, const void *data, size_t len)
{
	struct buf *b = ctx;
	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return JG_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

static void export(struct fixture *f, uint64_t from, uint64_t to, struct buf *b)
{
	memset(b, 0, sizeof(*b));
	assert_int_equal(jg_audit_export(f->store, from, to, buf_write, b), 0);
	assert_non_null(b->p);
}

static int
verify_export(struct fixture *f, const struct buf *b, const char *old, char *summary,
	      size_t summary_len, struct jg_chain_fault *fault)
{
	return jg_audit_verify_export(b->p, b->len, &f->vs, old, old ? strlen(old) : 0, 2, summary,
				      summary_len, fault);
}

static void
expect_export_ok(struct fixture *f, const struct buf *b, const char *old, const char *want)
{
	char summary[512] = "";
	struct jg_chain_fault fault;
	int rc = verify_export(f, b, old, summary, sizeof(summary), &fault);
	if (rc != 0)
		fail_msg("verify_export: rc=%d seq=%llu %s", rc, (unsigned long long)fault.seq,
			 fault.why);
	if (strstr(summary, want) == NULL)
		fail_msg("summary \"%s\" lacks \"%s\"", summary, want);
}

static size_t
count_lines(const struct buf *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n;
}

static void
test_audit_export_round_trip(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	char *old;

	populate(f, 8);
	assert_int_equal(checkpoint(f), 8);
	old = get_note(f, 8);
	populate(f, 12);
	assert_int_equal(checkpoint(f), 20);

	/* Everything: ends with the checkpoint of 20. */
	export(f, 0, 19, &b);
	assert_int_equal(count_lines(&b), 1 + 20 + 1);
	expect_export_ok(f, &b, NULL,
			 ORIGIN
			 ": entries 0..19 verified against the signed checkpoint of size 20");
	expect_export_ok(f, &b, old, "consistent with the older checkpoint");
	free(b.p);

	/* A middle range: left frontier of [0,5), right tiles of [13,20). */
	export(f, 5, 12, &b);
	assert_int_equal(count_lines(&b), 1 + 8 + 1);
	json_t *header = json_loadb(b.p, (size_t)(strchr(b.p, '\n') - b.p), 0, NULL);
	assert_non_null(header);
	assert_int_equal(json_integer_value(json_object_get(header, "tree_size")), 20);
	assert_int_equal(json_array_size(json_object_get(header, "left")), 2); /* [0,4) [4,5) */
	assert_int_equal(json_array_size(json_object_get(header, "right")),
			 3); /* 13, 14-15, 16-19 */
	json_decref(header);
	expect_export_ok(f, &b, NULL,
			 "entries 5..12 verified against the signed checkpoint of size 20");
	/* The older checkpoint (size 8) lies inside the range: consistency is checked. */
	expect_export_ok(f, &b, old, "consistent with the older checkpoint");
	free(b.p);

	/* Ranges ending before 8 also end with the newest checkpoint. */
	export(f, 2, 6, &b);
	expect_export_ok(f, &b, NULL,
			 "entries 2..6 verified against the signed checkpoint of size 20");
	free(b.p);
	export(f, 7, 7, &b);
	expect_export_ok(f, &b, NULL,
			 "entries 7..7 verified against the signed checkpoint of size 20");
	expect_export_ok(f, &b, old, "consistent with the older checkpoint"); /* 8 = to + 1 */
	free(b.p);
	export(f, 19, 19, &b);
	expect_export_ok(f, &b, NULL,
			 "entries 19..19 verified against the signed checkpoint of size 20");
	free(b.p);

	/* Bad ranges, and a range no checkpoint covers yet. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(jg_audit_export(f->store, 5, 4, buf_write, &b), JG_EINVAL);
	assert_int_equal(jg_audit_export(f->store, 0, 20, buf_write, &b), JG_EINVAL);
	populate(f, 1);
	memset(&b, 0, sizeof(b));
	assert_int_equal(jg_audit_export(f->store, 0, 20, buf_write, &b), JG_ENOTFOUND);
	free(b.p);
	free(old);
}

static void
test_audit_verify_export_rejects_flipped_byte(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	struct jg_chain_fault fault;
	char summary[512];
	size_t accepted = 0;

	populate(f, 12);
	assert_int_equal(checkpoint(f), 12);
	export(f, 3, 9, &b);
	expect_export_ok(f, &b, NULL, "entries 3..9");
	/* Every single byte, flipped (lowest bit), must make the export fail. */
	for (size_t i = 0; i < b.len; i++) {
		b.p[i] ^= 1;
		if (verify_export(f, &b, NULL, summary, sizeof(summary), &fault) != JG_EVERIFY) {
			if (accepted++ < 5)
				print_message("byte %zu (0x%02x) flipped was not rejected\n", i,
					      (unsigned char)b.p[i]);
		}
		b.p[i] ^= 1;
	}
	assert_int_equal(accepted, 0);
	expect_export_ok(f, &b, NULL, "entries 3..9");

	/* An edited entry is named. */
	char *e = strstr(b.p, "\"seq\":6,");
	assert_non_null(e);
	char *t = strstr(e, "\"test.entry\"");
	assert_non_null(t);
	t[1] = 'T'; /* an invalid type: the entry's form is checked before any hash */
	assert_int_equal(verify_export(f, &b, NULL, summary, sizeof(summary), &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 6);
	assert_non_null(strstr(fault.why, "type must match"));
	free(b.p);
}

static void
parse_hashes(json_t *arr, uint8_t *out, size_t *len)
{
	assert_true(json_is_array(arr));
	*len = 32 * json_array_size(arr);
	for (size_t i = 0; i < json_array_size(arr); i++)
		assert_int_equal(
		    jg_unhex32(json_string_value(json_array_get(arr, i)), out + 32 * i), 0);
}

static void
hash_field(json_t *doc, const char *key, uint8_t out[32])
{
	assert_int_equal(jg_unhex32(json_string_value(json_object_get(doc, key)), out), 0);
}

static void
test_audit_proofs_verify(void **state)
{
	struct fixture *f = *state;
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES], leaf[32], root[32], entry_leaf[32];
	uint8_t root_m[32], root_n[32];
	size_t plen;
	struct jg_checkpoint cp;
	char *note;

	populate(f, 21);
	assert_int_equal(checkpoint(f), 21);
	note = get_note(f, 21);
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &f->vs.v[0], &cp), 0);
	free(note);

	for (uint64_t size = 1; size <= 21; size++) {
		for (uint64_t seq = 0; seq < size; seq++) {
			json_t *p = NULL;
			assert_int_equal(jg_audit_inclusion(f->store, seq, size, &p), 0);
			assert_int_equal(json_integer_value(json_object_get(p, "seq")),
					 (json_int_t)seq);
			assert_int_equal(json_integer_value(json_object_get(p, "tree_size")),
					 (json_int_t)size);
			hash_field(p, "leaf_hash", leaf);
			hash_field(p, "root", root);
			parse_hashes(json_object_get(p, "proof"), proof, &plen);
			json_decref(p);
			/* The leaf is the hash of the stored entry. */
			size_t len;
			char *e = get_entry(f, seq, &len);
			assert_int_equal(jg_merkle_leaf_hash(e, len, entry_leaf), 0);
			free(e);
			assert_memory_equal(leaf, entry_leaf, 32);
			assert_int_equal(
			    jg_merkle_inclusion_verify(seq, size, leaf, proof, plen, root), 0);
			if (size == 21)
				assert_memory_equal(root, cp.root, 32);
			if (plen > 0) {
				proof[0] ^= 1;
				assert_int_equal(
				    jg_merkle_inclusion_verify(seq, size, leaf, proof, plen, root),
				    JG_EVERIFY);
			}
		}
	}
	for (uint64_t n = 0; n <= 21; n++) {
		for (uint64_t m = 0; m <= n; m++) {
			json_t *p = NULL;
			assert_int_equal(jg_audit_consistency(f->store, m, n, &p), 0);
			assert_int_equal(json_integer_value(json_object_get(p, "from")),
					 (json_int_t)m);
			assert_int_equal(json_integer_value(json_object_get(p, "to")),
					 (json_int_t)n);
			hash_field(p, "root_from", root_m);
			hash_field(p, "root_to", root_n);
			parse_hashes(json_object_get(p, "proof"), proof, &plen);
			json_decref(p);
			assert_int_equal(
			    jg_merkle_consistency_verify(m, n, root_m, root_n, proof, plen), 0);
			if (n == 21)
				assert_memory_equal(root_n, cp.root, 32);
			if (plen > 0) {
				proof[plen - 1] ^= 1;
				assert_int_equal(
				    jg_merkle_consistency_verify(m, n, root_m, root_n, proof, plen),
				    JG_EVERIFY);
			}
		}
	}
	json_t *p = (json_t *)1;
	assert_int_equal(jg_audit_inclusion(f->store, 21, 21, &p), JG_EINVAL);
	assert_null(p);
	assert_int_equal(jg_audit_inclusion(f->store, 0, 22, &p), JG_EINVAL);
	assert_int_equal(jg_audit_consistency(f->store, 5, 4, &p), JG_EINVAL);
	assert_int_equal(jg_audit_consistency(f->store, 0, 22, &p), JG_EINVAL);
}

/* ---- failing closed ------------------------------------------------------------------ */

static const char sql_page_count[] = "PRAGMA page_count";
static const char sql_max_page_count[] = "PRAGMA max_page_count";
static const char sql_insert_big[] =
    "INSERT INTO things (name, payload) VALUES ('doomed-blob', zeroblob(4000000))";

struct full_job {
	int64_t old_max, pages, capped;
	int step;	  /* the step that failed: 1 insert, 2 append, 3 big insert */
	int rc;		  /* what the failing step returned */
	char errmsg[128]; /* SQLite's message for it */
};

static int64_t
pragma_int(struct jg_store_conn *c, const char *sql)
{
	struct jg_stmt *st;
	int64_t v = -1;
	if (jg_stmt_prepare(c, sql, &st) != 0)
		return -1;
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return v;
}

/*
 * Caps the database at its current size on the writer's connection, then
 * writes.  (max_page_count is per connection, so it must be set here, on
 * jg_audit_tx_conn.)  SQLite 3.40 answers SQLITE_FULL by ending the whole
 * transaction, so this takes the writer's lost-transaction path.
 */
static int
full_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct full_job *j = ctx;
	struct jg_store_conn *c = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	char sql[64], err[256];
	int rc;

	j->old_max = pragma_int(c, sql_max_page_count);
	j->pages = pragma_int(c, sql_page_count);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)j->pages);
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		return JG_EINVAL;
	j->capped = pragma_int(c, sql_max_page_count);

	j->step = 1;
	if ((rc = jg_stmt_prepare(c, sql_insert_thing, &st)) != 0)
		return rc;
	jg_stmt_bind_text(st, 1, "doomed");
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		goto failed;
	j->step = 2;
	if ((rc = jg_audit_tx_append(tx, "thing.create", "tester", NULL, NULL)) != 0)
		goto failed;
	j->step = 3;
	if ((rc = jg_stmt_prepare(c, sql_insert_big, &st)) != 0)
		return rc;
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc == JG_STMT_DONE)
		return 0; /* the cap did not hold: the test fails on the result */
failed:
	j->rc = rc;
	snprintf(j->errmsg, sizeof(j->errmsg), "%s", jg_store_errmsg(c));
	return rc;
}

static int
uncap_fn(struct jg_audit_tx *tx, void *ctx)
{
	const struct full_job *j = ctx;
	char sql[64], err[256];
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)j->old_max);
	if (jg_store_exec_script(jg_audit_tx_conn(tx), sql, err, sizeof(err)) != 0)
		return JG_EINVAL;
	return pragma_int(jg_audit_tx_conn(tx), sql_max_page_count) == j->old_max ? 0 : JG_EINVAL;
}

static void
test_audit_run_fails_closed_when_store_full(void **state)
{
	struct fixture *f = *state;
	struct full_job j = {0};

	populate(f, 5);
	assert_int_equal(checkpoint(f), 5);
	assert_int_equal(jg_audit_run(f->audit, full_fn, &j), JG_EUNAVAIL);
	assert_true(j.old_max > j.pages);
	assert_int_equal(j.capped, j.pages);
	assert_int_equal(j.step, 3); /* the state change and the entry went in; the blob did not */
	assert_int_equal(j.rc, JG_ESTORE);
	assert_string_equal(j.errmsg, "database or disk is full");
	/* Nothing of the job remains. */
	assert_int_equal(count_thing(f, "doomed"), 0);
	assert_int_equal(count_thing(f, "doomed-blob"), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 5);
	uint64_t size;
	assert_int_equal(jg_audit_size(f->store, &size), 0);
	assert_int_equal(size, 5);
	expect_verified(f, 5);

	/* Lift the cap on the writer's connection: appends work again. */
	assert_int_equal(jg_audit_run(f->audit, uncap_fn, &j), 0);
	struct jg_audit_receipt r;
	assert_int_equal(jg_audit_append(f->audit, "after.full", "tester", NULL, &r), 0);
	assert_int_equal(r.seq, 5);
	struct thing_job ok = {.name = "doomed", .f = f};
	assert_int_equal(jg_audit_run(f->audit, thing_fn, &ok), 0);
	assert_int_equal(ok.receipt.seq, 6);
	assert_int_equal(count_thing(f, "doomed"), 1);
	assert_int_equal(checkpoint(f), 7);
	expect_verified(f, 7);
}

/* A job that ends the batch's transaction, as SQLite does on an I/O error. */
static int
abort_tx_fn(struct jg_audit_tx *tx, void *ctx)
{
	char err[256];
	(void)ctx;
	return jg_store_exec_script(jg_audit_tx_conn(tx), "ROLLBACK", err, sizeof(err));
}

struct one_job {
	struct fixture *f;
	jg_audit_work_fn fn;
	void *ctx;
	int rc;
};

static void *
one_job_main(void *arg)
{
	struct one_job *o = arg;
	gate_announce();
	o->rc = jg_audit_run(o->f->audit, o->fn, o->ctx);
	return NULL;
}

static void
test_audit_run_fails_whole_batch_when_transaction_lost(void **state)
{
	struct fixture *f = *state;
	struct thing_job good = {.name = "lost", .f = f};
	struct one_job a = {f, thing_fn, &good, 99}, b = {f, abort_tx_fn, NULL, 99};
	struct timespec pause = {0, 20 * 1000 * 1000};
	pthread_t btid, ta, tb;
	struct blocker_arg blk;

	populate(f, 3);
	/* good, then the aborting job, queued together behind a blocker: one batch. */
	gate_close(f, &btid, &blk);
	assert_int_equal(pthread_create(&ta, NULL, one_job_main, &a), 0);
	pthread_mutex_lock(&gate.m);
	while (gate.ready < 1)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
	nanosleep(&pause, NULL);
	assert_int_equal(pthread_create(&tb, NULL, one_job_main, &b), 0);
	gate_open_when(2);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(btid, NULL);
	assert_int_equal(blk.rc, 0);

	/* The good job had appended and committed its savepoint, yet nothing stays. */
	assert_int_equal(a.rc, JG_EUNAVAIL);
	assert_int_equal(b.rc, JG_EUNAVAIL);
	assert_int_equal(count_thing(f, "lost"), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 3);
	expect_verified(f, 3);
	/* The writer carries on. */
	struct thing_job again = {.name = "lost", .f = f};
	assert_int_equal(jg_audit_run(f->audit, thing_fn, &again), 0);
	assert_int_equal(again.receipt.seq, 3);
	expect_verified(f, 4);
}

/*
 * Every way a batch fails is one path: a head the writer cannot read (here
 * a frontier cut to one byte) fails every append, so the store must be
 * reported failing (readiness) until a batch writes again.
 */
static void
test_audit_run_failure_marks_store_failing(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_receipt r;

	populate(f, 3);
	assert_int_equal(jg_audit_writable(f->audit), 0);
	must_exec(f, "UPDATE audit_head SET frontier = X'00'");
	assert_int_equal(jg_audit_append(f->audit, "after.corrupt", "tester", NULL, &r),
			 JG_EUNAVAIL);
	assert_int_equal(jg_audit_writable(f->audit), JG_EUNAVAIL);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 3);

	/* the head put right: the next append commits and the store is writable again */
	rewrite_head(f, 3);
	assert_int_equal(jg_audit_append(f->audit, "after.repair", "tester", NULL, &r), 0);
	assert_int_equal(r.seq, 3);
	assert_int_equal(jg_audit_writable(f->audit), 0);
	expect_verified(f, 4);
}

struct collected {
	uint64_t seqs[16];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int
collect_fn(void *ctx, uint64_t seq, const void *entry, size_t len)
{
	struct collected *c = ctx;
	json_t *e = json_loadb(entry, len, 0, NULL);
	/* the exact stored entry: its own seq inside */
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), seq);
	json_decref(e);
	c->seqs[c->n++] = seq;
	return c->stop_after && c->n == c->stop_after ? JG_ECONFLICT : 0;
}

/* Readers outside the writer (the audit stream) get entries in order, bounded, without gaps. */
static void
test_audit_read_from_in_order_bounded_stops_at_gap(void **state)
{
	struct fixture *f = *state;
	struct collected c = {0};

	populate(f, 6);
	assert_int_equal(jg_audit_read_from(f->store, 2, 3, collect_fn, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.seqs[0], 2);
	assert_int_equal(c.seqs[2], 4);

	/* fn's code stops the read and is returned */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(jg_audit_read_from(f->store, 0, 10, collect_fn, &c), JG_ECONFLICT);
	assert_int_equal(c.n, 2);

	/* past the end: nothing */
	memset(&c, 0, sizeof(c));
	assert_int_equal(jg_audit_read_from(f->store, 6, 10, collect_fn, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(jg_audit_read_from(f->store, 0, 0, collect_fn, &c), JG_EINVAL);

	/* a row removed underneath: the run ends before the gap */
	drop_triggers(f);
	must_exec(f, "DELETE FROM audit_log WHERE seq = 3");
	memset(&c, 0, sizeof(c));
	assert_int_equal(jg_audit_read_from(f->store, 1, 10, collect_fn, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seqs[1], 2);
}

/* serve continues jitgate's clock from the newest entry's ts. */
static void
test_audit_last_ts_ms(void **state)
{
	struct fixture *f = *state;
	int64_t ts = -1;
	size_t len;

	assert_int_equal(jg_audit_last_ts_ms(f->store, &ts), JG_ENOTFOUND);
	populate(f, 3);
	assert_int_equal(jg_audit_last_ts_ms(f->store, &ts), 0);
	char *e = get_entry(f, 2, &len);
	json_t *j = json_loadb(e, len, 0, NULL);
	assert_int_equal(ts, json_integer_value(json_object_get(j, "ts")));
	assert_true(ts > 0);
	json_decref(j);
	free(e);
}

/* The auditor's checkpoint box: the newest checkpoint, its signature checked with the log's keys.
 */
static void
test_audit_checkpoint_view_checks_signature(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_checkpoint_view v;
	struct jg_signed_note *parsed = NULL;

	assert_int_equal(jg_audit_checkpoint_view(f->audit, &v), JG_ENOTFOUND);
	assert_null(v.note);
	populate_checkpointed(f);
	populate(f, 2);
	assert_int_equal(jg_audit_checkpoint_view(f->audit, &v), 0);
	assert_int_equal(v.cp.size, 20);
	assert_string_equal(v.cp.origin, ORIGIN);
	assert_true(v.signature_valid);
	assert_true(v.have_log_size);
	assert_int_equal(v.log_size, 22);
	assert_true(v.created_at > 0);
	char *note = get_note(f, 20);
	assert_string_equal(v.note, note);
	uint8_t root[32];
	root_of(f, 20, root);
	assert_memory_equal(v.cp.root, root, 32);
	jg_audit_checkpoint_view_clear(&v);

	/* the same body signed by a key this log does not trust: shown, but NOT valid */
	drop_triggers(f);
	assert_int_equal(jg_signed_note_parse(note, strlen(note), &parsed), 0);
	char *body = strndup(parsed->text, parsed->text_len);
	assert_non_null(body);
	jg_signed_note_free(parsed);
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(other);
	store_signed(f, 20, body, other);
	assert_int_equal(jg_audit_checkpoint_view(f->audit, &v), 0);
	assert_int_equal(v.cp.size, 20);
	assert_false(v.signature_valid);
	jg_audit_checkpoint_view_clear(&v);

	/* a note that is no checkpoint: an error, nothing shown */
	set_note(f, 20, "not a note");
	assert_int_equal(jg_audit_checkpoint_view(f->audit, &v), JG_EVERIFY);
	assert_null(v.note);
	EVP_PKEY_free(other);
	free(body);
	free(note);
}

/* The auditor's proof page: checked against the signed checkpoint when it covers the entry. */
static void
test_audit_proof_view_checked_against_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_proof_view v;
	struct jg_audit_receipt r;

	populate(f, 7);
	assert_int_equal(jg_audit_append(f->audit, "proof.me", "user:alice", NULL, &r), 0);
	assert_int_equal(r.seq, 7);
	/* no checkpoint yet: against the current tree */
	assert_int_equal(jg_audit_proof_view(f->audit, 7, &v), 0);
	assert_false(v.checkpointed);
	assert_int_equal(v.tree_size, 8);
	assert_true(v.verifies);
	assert_false(v.signed_root);
	assert_memory_equal(v.leaf, r.hash, 32);
	assert_string_equal(json_string_value(json_object_get(v.entry, "type")), "proof.me");
	jg_audit_proof_view_clear(&v);

	assert_int_equal(checkpoint(f), 8);
	populate(f, 4);
	assert_int_equal(jg_audit_proof_view(f->audit, 7, &v), 0);
	assert_true(v.checkpointed);
	assert_int_equal(v.tree_size, 8);
	assert_int_equal(v.path_len, 3 * 32);
	assert_true(v.verifies);
	assert_true(v.signed_root);
	uint8_t root[32];
	root_of(f, 8, root);
	assert_memory_equal(v.root, root, 32);
	jg_audit_proof_view_clear(&v);

	/* past the checkpoint: the current tree again */
	assert_int_equal(jg_audit_proof_view(f->audit, 10, &v), 0);
	assert_false(v.checkpointed);
	assert_int_equal(v.tree_size, 12);
	assert_true(v.verifies);
	jg_audit_proof_view_clear(&v);
	assert_int_equal(jg_audit_proof_view(f->audit, 12, &v), JG_ENOTFOUND);

	/* a stored node on the path edited: the proof no longer verifies */
	drop_triggers(f);
	must_exec(f, "UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 0");
	assert_int_equal(jg_audit_proof_view(f->audit, 7, &v), 0);
	assert_false(v.verifies);
	assert_true(v.signed_root); /* the root is still the signed one: the path is what broke */
	jg_audit_proof_view_clear(&v);
}

/* The export that records itself: its entry, a checkpoint covering it, a verifiable export. */
static void
test_audit_export_audited_records_itself(void **state)
{
	struct fixture *f = *state;
	struct buf b = {0};
	char *out = NULL;
	size_t len = 0;

	populate(f, 5);
	assert_int_equal(
	    jg_audit_export_audited(f->audit, "user:auditor", 0, UINT64_MAX, 1 << 20, &out, &len),
	    0);
	b.p = out;
	b.len = len;
	/* header, entries 0..5 (the export's own entry is 5), checkpoint */
	assert_int_equal(count_lines(&b), 1 + 6 + 1);
	expect_export_ok(f, &b, NULL,
			 "entries 0..5 verified against the signed checkpoint of size 6");
	size_t elen;
	char *e = get_entry(f, 5, &elen);
	json_t *entry = json_loadb(e, elen, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(entry, "type")), "audit.exported");
	assert_string_equal(json_string_value(json_object_get(entry, "actor")), "user:auditor");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(entry, "data"), "from")), 0);
	assert_null(json_object_get(json_object_get(entry, "data"), "to"));
	json_decref(entry);
	free(e);
	free(out);

	/* a range: recorded with its end; too large for the cap: JG_ETOOBIG */
	assert_int_equal(
	    jg_audit_export_audited(f->audit, "user:auditor", 1, 2, 1 << 20, &out, &len), 0);
	b.p = out;
	b.len = len;
	assert_int_equal(count_lines(&b), 1 + 2 + 1);
	free(out);
	assert_int_equal(
	    jg_audit_export_audited(f->audit, "user:auditor", 0, UINT64_MAX, 100, &out, &len),
	    JG_ETOOBIG);
	assert_null(out);
	assert_int_equal(
	    jg_audit_export_audited(f->audit, "user:auditor", 3, 2, 1 << 20, &out, &len),
	    JG_EINVAL);
	/* the export is refused on a stopped log, and nothing is read */
	jg_audit_stop(f->audit);
	assert_int_equal(
	    jg_audit_export_audited(f->audit, "user:auditor", 0, UINT64_MAX, 1 << 20, &out, &len),
	    JG_EUNAVAIL);
	assert_null(out);
}

static void
test_audit_run_refused_after_stop(void **state)
{
	struct fixture *f = *state;
	populate(f, 1);
	jg_audit_stop(f->audit);
	assert_int_equal(jg_audit_append(f->audit, "x.y", "tester", NULL, NULL), JG_EUNAVAIL);
	jg_audit_stop(f->audit); /* twice is fine */
	expect_verified(f, 1);
}

struct append_arg {
	struct fixture *f;
	json_t *data;
	int rc;
	struct jg_audit_receipt r;
};

static void *
append_main(void *arg)
{
	struct append_arg *a = arg;
	gate_announce();
	a->rc = jg_audit_append(a->f->audit, "x.y", "tester", a->data, &a->r);
	return NULL;
}

static void
test_audit_append_oversized_spares_batch_mates(void **state)
{
	struct fixture *f = *state;
	struct append_arg args[5];
	pthread_t tids[5], btid;
	struct blocker_arg blk;
	char *big = malloc(70000);

	assert_non_null(big);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	/* Every other caller sends an entry over the cap; all five queue into one batch. */
	gate_close(f, &btid, &blk);
	for (int i = 0; i < 5; i++) {
		args[i] = (struct append_arg){.f = f, .rc = 99};
		args[i].data = i % 2 ? json_pack("{s:s}", "big", big) : json_pack("{s:i}", "i", i);
		assert_int_equal(pthread_create(&tids[i], NULL, append_main, &args[i]), 0);
	}
	gate_open_when(5);
	for (int i = 0; i < 5; i++)
		pthread_join(tids[i], NULL);
	pthread_join(btid, NULL);
	free(big);
	for (int i = 0; i < 5; i++) {
		json_decref(args[i].data);
		if (args[i].rc != (i % 2 ? JG_ETOOBIG : 0))
			fail_msg("caller %d (%s): rc=%d", i, i % 2 ? "oversized" : "ordinary",
				 args[i].rc);
	}
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 3);
	expect_verified(f, 3);
}

/* jg_audit_list: newest first, exact filters, paging; the newest checkpoint with its time. */
static void
test_audit_list_filters_and_pages(void **state)
{
	struct fixture *f = *state;
	static const char *const types[] = {"request.created", "request.approved",
					    "request.created", "token.issued", "request.created"};
	static const char *const actors[] = {"user:alice", "user:bob", "user:dave", "user:alice",
					     "user:alice"};
	static const char *const services[] = {"payment-api", "payment-api", "checkout-api",
					       "payment-api", "checkout-api"};
	struct jg_audit_filter all = {.before = UINT64_MAX, .limit = 200};
	json_t *out = NULL;
	char *note = NULL;
	uint64_t size = 0;
	int64_t at = 0;

	assert_int_equal(jg_audit_latest_checkpoint(f->store, &note, &size, &at), JG_ENOTFOUND);
	for (int i = 0; i < 5; i++) {
		json_t *data = json_pack("{s:s,s:i}", "service", services[i], "n", i);
		assert_int_equal(jg_audit_append(f->audit, types[i], actors[i], data, NULL), 0);
		json_decref(data);
	}
	assert_int_equal(jg_audit_list(f->store, &all, &out), 0);
	json_t *e = json_object_get(out, "entries");
	assert_int_equal(json_array_size(e), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(e, i), "seq")),
				 4 - i);
	assert_true(json_is_null(json_object_get(out, "next_before")));
	json_decref(out);

	struct jg_audit_filter f1 = {
	    .type = "request.created", .actor = "user:alice", .before = UINT64_MAX, .limit = 200};
	assert_int_equal(jg_audit_list(f->store, &f1, &out), 0);
	e = json_object_get(out, "entries");
	assert_int_equal(json_array_size(e), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 0), "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 1), "seq")), 0);
	json_decref(out);

	struct jg_audit_filter f2 = {.service = "payment-api", .before = UINT64_MAX, .limit = 2};
	assert_int_equal(jg_audit_list(f->store, &f2, &out), 0);
	e = json_object_get(out, "entries");
	assert_int_equal(json_array_size(e), 2); /* seq 3 and 1 */
	assert_int_equal(json_integer_value(json_object_get(out, "next_before")), 1);
	f2.before = 1;
	json_decref(out);
	assert_int_equal(jg_audit_list(f->store, &f2, &out), 0);
	e = json_object_get(out, "entries");
	assert_int_equal(json_array_size(e), 1);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(e, 0), "entry"), "actor")),
			    "user:alice");
	json_decref(out);

	struct jg_audit_filter f3 = {.since_ms = INT64_MAX / 2, .before = UINT64_MAX, .limit = 5};
	assert_int_equal(jg_audit_list(f->store, &f3, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "entries")), 0);
	json_decref(out);
	struct jg_audit_filter bad = {.before = UINT64_MAX, .limit = 0};
	assert_int_equal(jg_audit_list(f->store, &bad, &out), JG_EINVAL);
	bad.limit = JG_AUDIT_LIST_MAX + 1;
	assert_int_equal(jg_audit_list(f->store, &bad, &out), JG_EINVAL);
	assert_null(out);

	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	assert_int_equal(jg_audit_latest_checkpoint(f->store, &note, &size, &at), 0);
	assert_int_equal(size, 5);
	assert_non_null(strstr(note, ORIGIN "\n5\n"));
	assert_true(at > 1700000000000LL); /* milliseconds */
	free(note);
}

/* ---- asynchronous appends ------------------------------------------------------ */

/* Callbacks run on another thread: they report here, the test waits with a timeout. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t c;
	int calls; /* callbacks so far, all appends of the test */
} done_box = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

struct async_done {
	int calls; /* this append's callbacks: exactly one is the contract */
	int rc;
};

static void
async_done_fn(void *ctx, int rc)
{
	struct async_done *d = ctx;
	pthread_mutex_lock(&done_box.m);
	d->calls++;
	d->rc = rc;
	done_box.calls++;
	pthread_cond_broadcast(&done_box.c);
	pthread_mutex_unlock(&done_box.m);
}

static void
done_box_reset(void)
{
	pthread_mutex_lock(&done_box.m);
	done_box.calls = 0;
	pthread_mutex_unlock(&done_box.m);
}

/* Waits until n callbacks have come (generous: ASan builds are slow); fails the test if not. */
static void
wait_for_callbacks(int n)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&done_box.m);
	while (done_box.calls < n && rc == 0)
		rc = pthread_cond_timedwait(&done_box.c, &done_box.m, &until);
	int calls = done_box.calls;
	pthread_mutex_unlock(&done_box.m);
	if (calls < n)
		fail_msg("only %d of %d async callbacks within 30 s", calls, n);
}

static int
callbacks_so_far(void)
{
	pthread_mutex_lock(&done_box.m);
	int n = done_box.calls;
	pthread_mutex_unlock(&done_box.m);
	return n;
}

static int
append_async_i(struct fixture *f, int t, int k, struct async_done *d)
{
	json_t *data = json_pack("{s:i,s:i,s:s}", "t", t, "k", k, "note", "an entry");
	int rc = jg_audit_append_async(f->audit, "async.test", "tester", data, async_done_fn, d);
	json_decref(data); /* borrowed: the append encoded it before returning */
	return rc;
}

#define AS_THREADS 4
#define AS_APPENDS 50

struct as_thread {
	struct fixture *f;
	int t;
	int mix; /* every other append synchronous */
	pthread_barrier_t *start;
	struct async_done done[AS_APPENDS];
	int queue_rc[AS_APPENDS];
	int sync_rc;
};

static void *
as_main(void *arg)
{
	struct as_thread *a = arg;
	pthread_barrier_wait(a->start);
	for (int k = 0; k < AS_APPENDS; k++) {
		if (a->mix && k % 2) {
			json_t *data = json_pack("{s:i,s:i}", "t", a->t, "k", k);
			int rc = jg_audit_append(a->f->audit, "sync.test", "tester", data, NULL);
			json_decref(data);
			if (rc != 0)
				a->sync_rc = rc;
			continue;
		}
		a->queue_rc[k] = append_async_i(a->f, a->t, k, &a->done[k]);
	}
	return NULL;
}

/* Runs AS_THREADS threads of AS_APPENDS appends each; returns how many were asynchronous. */
static int
run_as_threads(struct fixture *f, struct as_thread *th, int mix)
{
	pthread_t tids[AS_THREADS];
	pthread_barrier_t start;
	int n_async = 0;

	done_box_reset();
	pthread_barrier_init(&start, NULL, AS_THREADS);
	for (int t = 0; t < AS_THREADS; t++) {
		memset(&th[t], 0, sizeof(th[t]));
		th[t] = (struct as_thread){.f = f, .t = t, .mix = mix, .start = &start};
		assert_int_equal(pthread_create(&tids[t], NULL, as_main, &th[t]), 0);
	}
	for (int t = 0; t < AS_THREADS; t++)
		pthread_join(tids[t], NULL);
	pthread_barrier_destroy(&start);
	for (int t = 0; t < AS_THREADS; t++) {
		assert_int_equal(th[t].sync_rc, 0);
		for (int k = 0; k < AS_APPENDS; k++)
			if (!(mix && k % 2)) {
				assert_int_equal(th[t].queue_rc[k], 0);
				n_async++;
			}
	}
	wait_for_callbacks(n_async);
	return n_async;
}

/* Each async append's callback came exactly once, with rc 0 (checked after stop drained). */
static void
expect_each_called_once_ok(struct as_thread *th, int mix)
{
	for (int t = 0; t < AS_THREADS; t++)
		for (int k = 0; k < AS_APPENDS; k++) {
			if (mix && k % 2) {
				assert_int_equal(th[t].done[k].calls, 0);
				continue;
			}
			if (th[t].done[k].calls != 1 || th[t].done[k].rc != 0)
				fail_msg("append t=%d k=%d: %d callbacks, rc=%d", t, k,
					 th[t].done[k].calls, th[t].done[k].rc);
		}
}

static void
test_audit_append_async_each_done_once_and_verifies(void **state)
{
	struct fixture *f = *state;
	static struct as_thread th[AS_THREADS];
	const int64_t n = AS_THREADS * AS_APPENDS;

	assert_int_equal(run_as_threads(f, th, 0), n);
	/* Every callback has come; stopping drains anything left, so a second call would show. */
	jg_audit_stop(f->audit);
	assert_int_equal(callbacks_so_far(), n);
	expect_each_called_once_ok(th, 0);
	uint64_t size = 0;
	assert_int_equal(jg_audit_size(f->store, &size), 0);
	assert_int_equal(size, (uint64_t)n);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), n);
	/* Every (thread, append) pair landed exactly once. */
	assert_int_equal(
	    query_int(f, "SELECT count(DISTINCT json_extract(CAST(entry AS TEXT), '$.data.t') "
			 "* 1000 + json_extract(CAST(entry AS TEXT), '$.data.k')) FROM audit_log"),
	    n);
	expect_verified(f, (uint64_t)n);
}

static void
test_audit_append_async_mixed_with_sync_one_chain(void **state)
{
	struct fixture *f = *state;
	static struct as_thread th[AS_THREADS];
	const int64_t n = AS_THREADS * AS_APPENDS;

	int n_async = run_as_threads(f, th, 1);
	assert_int_equal(n_async, n / 2);
	jg_audit_stop(f->audit);
	assert_int_equal(callbacks_so_far(), n_async);
	expect_each_called_once_ok(th, 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), n);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log WHERE "
				      "json_extract(CAST(entry AS TEXT), '$.type') = 'async.test'"),
			 n_async);
	assert_int_equal(query_int(f, "SELECT max(seq) FROM audit_log"), n - 1);
	expect_verified(f, (uint64_t)n);
}

static void
test_audit_append_async_refused_after_stop(void **state)
{
	struct fixture *f = *state;
	struct async_done d = {0, 99};
	struct timespec pause = {0, 100 * 1000 * 1000};

	populate(f, 1);
	done_box_reset();
	jg_audit_stop(f->audit);
	assert_int_equal(append_async_i(f, 0, 0, &d), JG_EUNAVAIL);
	nanosleep(&pause, NULL); /* a callback, wrongly made, would have had time to come */
	assert_int_equal(d.calls, 0);
	assert_int_equal(callbacks_so_far(), 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 1);
	expect_verified(f, 1);
}

struct stopper_arg {
	struct fixture *f;
};

static void *
stopper_main(void *arg)
{
	struct stopper_arg *s = arg;
	jg_audit_stop(s->f->audit);
	return NULL;
}

static void
test_audit_append_async_queued_then_stop_is_written(void **state)
{
	struct fixture *f = *state;
	struct async_done lone = {0, 99};

	done_box_reset();
	assert_int_equal(append_async_i(f, 0, 0, &lone), 0);
	jg_audit_stop(f->audit); /* returns only once the queue is drained */
	assert_int_equal(lone.calls, 1);
	assert_int_equal(lone.rc, 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 1);
	expect_verified(f, 1);
}

#define DRAIN_QUEUED 10

static void
test_audit_append_async_queued_before_stop_is_written(void **state)
{
	struct fixture *f = *state;
	struct async_done d[DRAIN_QUEUED], probe[64];
	struct timespec pause = {0, 2 * 1000 * 1000};
	struct stopper_arg s = {f};
	struct blocker_arg blk;
	pthread_t btid, stid;
	int accepted = 0;

	/* The appends sit in the queue behind a held writer while stop begins. */
	populate(f, 1);
	done_box_reset();
	gate_close(f, &btid, &blk);
	for (int i = 0; i < DRAIN_QUEUED; i++) {
		d[i] = (struct async_done){0, 99};
		assert_int_equal(append_async_i(f, 1, i, &d[i]), 0);
	}
	assert_int_equal(pthread_create(&stid, NULL, stopper_main, &s), 0);
	/* Stop has begun once it refuses new appends; probes it accepted before count too. */
	for (int i = 0; i < 64; i++) {
		probe[i] = (struct async_done){0, 99};
		if (append_async_i(f, 2, i, &probe[i]) != 0)
			break;
		accepted++;
		nanosleep(&pause, NULL);
	}
	assert_true(accepted < 64);
	assert_int_equal(callbacks_so_far(), 0); /* the writer is still held */
	gate_reset();
	pthread_mutex_lock(&gate.m);
	gate.open = 1;
	pthread_cond_broadcast(&gate.c);
	pthread_mutex_unlock(&gate.m);
	pthread_join(stid, NULL);
	pthread_join(btid, NULL);
	assert_int_equal(blk.rc, 0);
	/* stop returned: the queue was drained, each callback called once, with success */
	assert_int_equal(callbacks_so_far(), DRAIN_QUEUED + accepted);
	for (int i = 0; i < DRAIN_QUEUED; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].rc, 0);
	}
	for (int i = 0; i < accepted; i++) {
		assert_int_equal(probe[i].calls, 1);
		assert_int_equal(probe[i].rc, 0);
	}
	assert_int_equal(probe[accepted].calls, 0); /* the refused one: never called */
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"),
			 1 + DRAIN_QUEUED + accepted);
	expect_verified(f, 1 + DRAIN_QUEUED + (uint64_t)accepted);
}

/* ---- verify-then-append ----------------------------------------------------------- */

/* Edits entry seq as another process would: its own SQLite connection, triggers dropped. */
static void
edit_entry_elsewhere(struct fixture *f, uint64_t seq, const char *from, const char *to)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql_get_entry, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	size_t len = (size_t)sqlite3_column_bytes(st, 0);
	char *e = malloc(len + 1);
	assert_non_null(e);
	memcpy(e, sqlite3_column_blob(st, 0), len);
	e[len] = '\0';
	sqlite3_finalize(st);
	patch(e, from, to);

	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER audit_log_no_update", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql_set_entry, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, e, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	free(e);
}

/*
 * The writer's fast path takes its own previous batch as written while the
 * store's data_version is unchanged; an edit from another connection moves
 * it, so the next batch must re-read, catch the edit, fail, and mark the log
 * broken.  The newest entry is the one edited: no later entry links to it.
 */
static void
tamper_newest_then_append(struct fixture *f, int async)
{
	struct jg_store_conn *held[JG_STORE_POOL_SIZE - 1];
	struct jg_chain_fault fault;
	struct jg_chain chain;
	uint64_t size = 0;
	char why[400] = "";

	populate(f, 3);
	assert_int_equal(jg_audit_verify_store_chain(f->store, &f->vs, 2, &size, &chain, &fault),
			 0);
	assert_int_equal(size, 3);
	jg_audit_set_verified(f->audit, &chain);
	/*
	 * Hold every pooled connection but the writer's: the background check
	 * (which borrows one every second) could otherwise extend the verified
	 * chain over the new batch before the edit, and then only the periodic
	 * full re-verification would be left to catch it.
	 */
	for (int i = 0; i < JG_STORE_POOL_SIZE - 1; i++)
		assert_int_equal(jg_store_acquire(f->store, &held[i]), 0);

	/* One batch of 4 (seq 3..6), verified on the way in by nothing: it is this writer's own. */
	done_box_reset();
	if (async) {
		struct async_done d[4];
		for (int k = 0; k < 4; k++) {
			d[k] = (struct async_done){0, 99};
			assert_int_equal(append_async_i(f, 0, k, &d[k]), 0);
		}
		wait_for_callbacks(4);
		for (int k = 0; k < 4; k++)
			assert_int_equal(d[k].rc, 0);
	} else {
		struct append_many m = {4, 3};
		assert_int_equal(jg_audit_run(f->audit, append_many_fn, &m), 0);
	}
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), 0);

	edit_entry_elsewhere(f, 6, "\"an entry\"", "\"an entrY\"");

	done_box_reset();
	if (async) {
		struct async_done d = {0, 99};
		int rc = append_async_i(f, 9, 9, &d);
		if (rc == 0) {
			wait_for_callbacks(1);
			assert_int_equal(d.calls, 1);
			assert_int_equal(d.rc, JG_EUNAVAIL);
		} else {
			assert_int_equal(rc, JG_EUNAVAIL); /* refused outright: no callback */
			assert_int_equal(d.calls, 0);
		}
	} else {
		assert_int_equal(jg_audit_append(f->audit, "after.edit", "tester", NULL, NULL),
				 JG_EUNAVAIL);
	}
	assert_int_equal(jg_audit_healthy(f->audit, why, sizeof(why)), JG_EVERIFY);
	if (strstr(why, "entry 6") == NULL)
		fail_msg("broken, but not at entry 6: %s", why);
	for (int i = 0; i < JG_STORE_POOL_SIZE - 1; i++)
		jg_store_release(f->store, held[i]);
	/* Nothing more was written, and everything after is refused. */
	assert_int_equal(query_int(f, "SELECT count(*) FROM audit_log"), 7);
	assert_int_equal(jg_audit_append(f->audit, "after.edit", "tester", NULL, NULL),
			 JG_EUNAVAIL);
	expect_fault(f, 6, "");
}

static void
test_audit_verified_append_catches_edit_of_newest_entry(void **state)
{
	tamper_newest_then_append(*state, 0);
}

static void
test_audit_verified_append_async_catches_edit_of_newest_entry(void **state)
{
	tamper_newest_then_append(*state, 1);
}

/* ---- anchors: an entry proven once per claim, then only its leaf re-checked ------ */

struct claim_box {
	int calls;
	int verdict;   /* what check returns */
	char type[64]; /* the type of the entry it was last shown */
};

static int
count_check(void *ctx, const json_t *entry)
{
	struct claim_box *b = ctx;
	const char *type = json_string_value(json_object_get(entry, "type"));
	b->calls++;
	snprintf(b->type, sizeof(b->type), "%s", type ? type : "");
	return b->verdict;
}

/*
 * The anchor tests' log: three entries, a token.issued entry of jti tok_a (its
 * receipt into r), after more entries; verified and handed to the writer, as
 * serve does.  Claim a (key 'a') passes whatever it is shown and counts into
 * box; claim b (key 'b') refuses with JG_EDENIED and counts into no.
 */
static void
anchor_setup(struct fixture *f, int after, struct jg_audit_receipt *r, struct claim_box *box,
	     struct claim_box *no, struct jg_audit_anchor_claim *a, struct jg_audit_anchor_claim *b)
{
	struct jg_chain_fault fault;
	struct jg_chain chain;
	uint64_t size = 0;

	populate(f, 3);
	json_t *data = json_pack("{s:s}", "jti", "tok_a");
	assert_int_equal(jg_audit_append(f->audit, "token.issued", "user:alice", data, r), 0);
	json_decref(data);
	if (after > 0)
		populate(f, after);
	assert_int_equal(jg_audit_verify_store_chain(f->store, &f->vs, 2, &size, &chain, &fault),
			 0);
	jg_audit_set_verified(f->audit, &chain);

	*box = (struct claim_box){0, 0, ""};
	*no = (struct claim_box){0, JG_EDENIED, ""};
	*a = (struct jg_audit_anchor_claim){.check = count_check, .ctx = box};
	*b = (struct jg_audit_anchor_claim){.check = count_check, .ctx = no};
	memset(a->key, 'a', 32);
	memset(b->key, 'b', 32);
}

static void
test_audit_anchor_claim_checked_once_per_key(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_receipt r;
	struct claim_box box, no;
	struct jg_audit_anchor_claim a, b;

	anchor_setup(f, 2, &r, &box, &no, &a, &b);
	/* first time: the entry is parsed and judged */
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, r.hash, &a), 0);
	assert_int_equal(box.calls, 1);
	assert_string_equal(box.type, "token.issued");
	/* the same claim again: not judged again */
	for (int i = 0; i < 3; i++)
		assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, r.hash, &a), 0);
	assert_int_equal(box.calls, 1);

	/* another claim on the same entry is judged, and its refusal is JG_EDENIED */
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, r.hash, &b), JG_EDENIED);
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, r.hash, &b), JG_EDENIED);
	assert_int_equal(no.calls, 2);
	/* ...and does not displace the claim that passed */
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, r.hash, &a), 0);
	assert_int_equal(box.calls, 1);

	/* a wrong leaf hash is refused before any judging, with or without a remembered claim */
	uint8_t wrong[32];
	memcpy(wrong, r.hash, 32);
	wrong[0] ^= 1;
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, wrong, &a), JG_EDENIED);
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, wrong, &b), JG_EDENIED);
	assert_int_equal(box.calls, 1);
	assert_int_equal(no.calls, 2);
	/* another entry with its own leaf: judged (and shown that entry) */
	struct jg_audit_receipt other;
	assert_int_equal(jg_audit_append(f->audit, "service.added", "user:alice", NULL, &other), 0);
	assert_int_equal(jg_audit_anchor(f->audit, NULL, other.seq, other.hash, &a), 0);
	assert_int_equal(box.calls, 2);
	assert_string_equal(box.type, "service.added");
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), 0);

	/* the remembered claim still re-reads the entry: an edit underneath breaks the log */
	edit_entry_elsewhere(f, r.seq, "tok_a", "tok_b");
	assert_int_equal(jg_audit_anchor(f->audit, NULL, r.seq, r.hash, &a), JG_EVERIFY);
	assert_int_equal(box.calls, 2);
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), JG_EVERIFY);
}

/*
 * jg_audit_anchor's halves in a read batch (as the guard runs them, with the
 * grant's read beside): the result of the anchor; with fail, the batch also
 * holds a read the engine fails, and must give no verdict.
 */
static int
anchor_batched(struct fixture *f, uint64_t seq, const uint8_t hash[32],
	       const struct jg_audit_anchor_claim *claim, bool fail, bool append_between,
	       struct jg_audit_receipt *appended)
{
	struct jg_store_conn *conn;
	struct jg_store_batch b;
	struct jg_stmt *st;
	size_t slot = 0, other;

	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	jg_store_batch_init(&b, conn);
	assert_int_equal(jg_audit_anchor_queue(&b, seq, &slot), 0);
	if (fail) {
		assert_int_equal(jg_store_batch_prepare(&b, "SELECT abs(?)", &st, &other), 0);
		assert_int_equal(jg_stmt_bind_int64(st, 1, INT64_MIN), 0);
	}
	int run = jg_store_batch_run(&b);
	assert_int_equal(run, fail ? JG_ESTORE : 0);
	if (append_between) { /* appended after the batch read, before it is judged */
		assert_int_equal(
		    jg_audit_append(f->audit, "token.issued", "user:alice", NULL, appended), 0);
		hash = appended->hash;
	}
	int rc = jg_audit_anchor_take(f->audit, &b, slot, seq, hash, claim);
	jg_store_batch_finish(&b);
	jg_store_release(f->store, conn);
	return rc;
}

static void
test_audit_anchor_in_a_batch_judges_as_alone(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_receipt r, later;
	struct claim_box box, no;
	struct jg_audit_anchor_claim a, b;

	anchor_setup(f, 0, &r, &box, &no, &a, &b);
	/* judged once, from the bytes the batch read; then only the leaf re-checked */
	assert_int_equal(anchor_batched(f, r.seq, r.hash, &a, false, false, NULL), 0);
	assert_int_equal(box.calls, 1);
	assert_string_equal(box.type, "token.issued");
	assert_int_equal(anchor_batched(f, r.seq, r.hash, &a, false, false, NULL), 0);
	assert_int_equal(box.calls, 1);
	/* a refusing claim, a wrong leaf hash, an anchor past the log: refused, the log sound */
	assert_int_equal(anchor_batched(f, r.seq, r.hash, &b, false, false, NULL), JG_EDENIED);
	uint8_t wrong[32];
	memcpy(wrong, r.hash, 32);
	wrong[0] ^= 1;
	assert_int_equal(anchor_batched(f, r.seq, wrong, &a, false, false, NULL), JG_EDENIED);
	assert_int_equal(anchor_batched(f, r.seq + 1000, r.hash, &a, false, false, NULL),
			 JG_EDENIED);
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), 0);
	/* a batch that failed gives no verdict: neither a pass nor a refusal, nothing judged */
	assert_int_equal(anchor_batched(f, r.seq, r.hash, &a, true, false, NULL), JG_ESTORE);
	assert_int_equal(anchor_batched(f, r.seq, r.hash, &b, true, false, NULL), JG_ESTORE);
	assert_int_equal(no.calls, 1);
	/*
	 * an entry appended after the batch looked (none there then): read again once
	 * the verified log reaches it, proven and judged - never taken for a hole
	 */
	box.calls = 0;
	assert_int_equal(anchor_batched(f, r.seq + 1, NULL, &a, false, true, &later), 0);
	assert_int_equal(later.seq, r.seq + 1);
	assert_int_equal(box.calls, 1);
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), 0);
	/* an edit underneath, seen through the batch's read too: the log is broken */
	edit_entry_elsewhere(f, r.seq, "tok_a", "tok_b");
	assert_int_equal(anchor_batched(f, r.seq, r.hash, &a, false, false, NULL), JG_EVERIFY);
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), JG_EVERIFY);
}

/* ---- jg_chain_feed: a failure leaves the chain where it was ------------------- */

/* n linked entries, canonical as the writer makes them (the caller frees each). */
static void
chain_entries(char **bufs, size_t *lens, size_t n)
{
	uint8_t prev[32] = {0};
	char hex[65];
	for (size_t i = 0; i < n; i++) {
		jg_hex32(prev, hex);
		int len = asprintf(
		    &bufs[i],
		    "{\"actor\":\"system\",\"data\":{\"i\":%zu},\"prev\":\"%s\",\"seq\":%zu,"
		    "\"ts\":%zu,\"type\":\"test.entry\",\"v\":1}",
		    i, hex, i, 1000 + i);
		assert_true(len > 0);
		lens[i] = (size_t)len;
		assert_int_equal(jg_merkle_leaf_hash(bufs[i], lens[i], prev), 0);
	}
}

/* on_node: the store fails at the node (level, index), once; every other node is taken. */
struct node_fault {
	unsigned level;
	uint64_t index;
	int fired;
};

static int
node_fails_once(void *ctx, const struct jg_merkle_node *node)
{
	struct node_fault *nf = ctx;
	if (!nf->fired && node->level == nf->level && node->index == nf->index) {
		nf->fired = 1;
		return JG_ESTORE;
	}
	return 0;
}

/*
 * The connection is lost while the nodes that entry 3 completes are read
 * (a failover in the middle of an extension): the feed fails with the
 * store's error and the chain holds exactly entries 0-2, so feeding again
 * from entry 3 gives the same chain as one feed without the failure.  (A
 * chain left with its tree one entry ahead took entry 3 twice, and every
 * later node then "did not match the entries": the log was marked broken
 * after each such failover.)
 */
static void
test_chain_feed_store_error_leaves_the_chain_at_the_entry(void **state)
{
	(void)state;
	enum { N = 8 };
	char *bufs[N];
	size_t lens[N];
	struct jg_chain whole, c;
	struct jg_chain_fault fault;
	struct node_fault nf = {.level = 2, .index = 0}; /* completed by entry 3 */
	uint8_t want[32], got[32];

	chain_entries(bufs, lens, N);
	jg_chain_init(&whole, 1);
	assert_int_equal(
	    jg_chain_feed(&whole, (const char *const *)bufs, lens, N, NULL, NULL, NULL, &fault), 0);
	assert_int_equal(jg_merkle_frontier_root(&whole.tree, want), 0);

	jg_chain_init(&c, 1);
	assert_int_equal(jg_chain_feed(&c, (const char *const *)bufs, lens, N, node_fails_once, &nf,
				       NULL, &fault),
			 JG_ESTORE);
	assert_true(nf.fired);
	assert_int_equal(c.next_seq, 3);
	assert_int_equal(c.tree.size, 3);
	uint8_t leaf2[32];
	assert_int_equal(jg_merkle_leaf_hash(bufs[2], lens[2], leaf2), 0);
	assert_memory_equal(c.prev, leaf2, 32);

	/* fed again from where it stopped: the same chain, every node taken */
	assert_int_equal(jg_chain_feed(&c, (const char *const *)bufs + 3, lens + 3, N - 3,
				       node_fails_once, &nf, NULL, &fault),
			 0);
	assert_int_equal(c.next_seq, N);
	assert_int_equal(c.tree.size, N);
	assert_memory_equal(c.prev, whole.prev, 32);
	assert_int_equal(jg_merkle_frontier_root(&c.tree, got), 0);
	assert_memory_equal(got, want, 32);
	for (size_t i = 0; i < N; i++)
		free(bufs[i]);
}

/*
 * A store verified with another origin's verifiers (a command run with a
 * configuration whose audit.origin is not the one serve signs under) says
 * so, instead of "not validly signed".
 */
static void
test_audit_verify_store_names_another_origin(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_verifiers other;
	struct jg_chain_fault fault;
	uint64_t size;
	char err[512];

	populate(f, 3);
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, NULL), 0);
	if (jg_audit_verifiers_load(f->keys, "other.example/audit", &other, err, sizeof(err)) != 0)
		fail_msg("verifiers: %s", err);
	assert_int_equal(jg_audit_verify_store(f->store, &other, 2, &size, &fault), JG_EVERIFY);
	if (strstr(fault.why,
		   "is of the log origin '" ORIGIN "', not of this configuration's audit.origin "
		   "'other.example/audit'") == NULL)
		fail_msg("why: %s", fault.why);
	/* the right origin verifies */
	assert_int_equal(jg_audit_verify_store(f->store, &f->vs, 2, &size, &fault), 0);
}

/*
 * audit.witnesses is checked at open: a key that is not a cosigner key and
 * one public key listed twice (even under two names: it would count twice)
 * are refused.  (A cosigner key posing as a checkpoint key - its name and
 * key ID - is refused too; making one takes about 2^32 tries, so no test.)
 */
static void
test_audit_open_refuses_bad_witness_keys(void **state)
{
	struct fixture *f = *state;
	struct jg_note_verifier a, b;
	struct jg_audit *audit = NULL;
	char *va = NULL, *vb = NULL, err[512];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(key);
	assert_int_equal(jg_signed_note_cosigner_init(&a, "w.example/a", key), 0);
	assert_int_equal(jg_signed_note_cosigner_init(&b, "w.example/b", key), 0);
	assert_int_equal(jg_signed_note_verifier_format(&a, &va), 0);
	assert_int_equal(jg_signed_note_verifier_format(&b, &vb), 0);
	struct jg_witness_cfg ok[1] = {{.url = "https://w.example", .key = va}};
	struct jg_witness_cfg twice[2] = {{.url = "https://w.example", .key = va},
					  {.url = "https://w2.example", .key = vb}};
	struct jg_witness_cfg logkey[1] = {{.url = "https://w.example", .key = (char *)GO_LOG_KEY}};
	struct {
		struct jg_witness_cfg *w;
		size_t n;
		int rc;
		const char *why;
	} cases[] = {
	    {ok, 1, 0, ""},
	    {twice, 2, JG_ECONFIG, "the same witness key twice"},
	    {logkey, 1, JG_ECONFIG, "not a witness's verifier key"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jg_audit_config cfg = {.origin = ORIGIN,
					      .witnesses = cases[i].w,
					      .n_witnesses = cases[i].n,
					      .witnesses_min = 1};
		err[0] = '\0';
		assert_int_equal(jg_audit_open(f->store, f->keys, &cfg, &audit, err, sizeof(err)),
				 cases[i].rc);
		if (strstr(err, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].why);
		jg_audit_free(audit);
		audit = NULL;
	}
	free(va);
	free(vb);
	EVP_PKEY_free(key);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_audit_append_seqs_canonical_linked),
	    T(test_audit_open_refuses_bad_witness_keys),
	    T(test_audit_verify_store_names_another_origin),
	    T(test_audit_append_refuses_bad_input),
	    T(test_audit_append_oversized_spares_batch_mates),
	    T(test_audit_append_deep_data_stays_verifiable),
	    T(test_audit_run_commits_state_with_entry),
	    T(test_audit_run_refused_job_rolled_back_alone),
	    T(test_audit_append_group_commit_32_threads),
	    T(test_audit_checkpoint_signed_and_stable),
	    T(test_audit_checkpoint_empty_log),
	    T(test_audit_checkpoint_after_key_rotation),
	    T(test_audit_verify_store_detects_changed_byte),
	    T(test_audit_verify_store_detects_renumbered_row),
	    T(test_audit_verify_store_detects_deleted_entry),
	    T(test_audit_verify_store_detects_swapped_entries),
	    T(test_audit_verify_store_detects_reserialised_entry),
	    T(test_audit_verify_store_detects_truncation_below_checkpoint),
	    T(test_audit_verify_store_detects_checkpoint_row_size_edited),
	    T(test_audit_verify_store_detects_checkpoint_note_size_edited),
	    T(test_audit_verify_store_detects_checkpoint_root_edited),
	    T(test_audit_verify_store_detects_checkpoint_resigned_with_other_root),
	    T(test_audit_verify_store_detects_checkpoint_signed_by_other_key),
	    T(test_audit_verify_store_detects_edited_node),
	    T(test_audit_verify_store_detects_missing_or_extra_node),
	    T(test_audit_verify_store_detects_edited_head),
	    T(test_audit_verify_store_detects_head_ahead_of_log),
	    T(test_audit_triggers_refuse_update_and_delete),
	    T(test_audit_export_round_trip),
	    T(test_audit_verify_export_rejects_flipped_byte),
	    T(test_audit_proofs_verify),
	    T(test_audit_run_fails_closed_when_store_full),
	    T(test_audit_run_fails_whole_batch_when_transaction_lost),
	    T(test_audit_run_refused_after_stop),
	    T(test_audit_run_failure_marks_store_failing),
	    T(test_audit_read_from_in_order_bounded_stops_at_gap),
	    T(test_audit_last_ts_ms),
	    T(test_audit_checkpoint_view_checks_signature),
	    T(test_audit_proof_view_checked_against_checkpoint),
	    T(test_audit_export_audited_records_itself),
	    T(test_audit_list_filters_and_pages),
	    T(test_audit_append_async_each_done_once_and_verifies),
	    T(test_audit_append_async_mixed_with_sync_one_chain),
	    T(test_audit_append_async_refused_after_stop),
	    T(test_audit_append_async_queued_then_stop_is_written),
	    T(test_audit_append_async_queued_before_stop_is_written),
	    T(test_audit_verified_append_catches_edit_of_newest_entry),
	    T(test_audit_verified_append_async_catches_edit_of_newest_entry),
	    T(test_audit_anchor_claim_checked_once_per_key),
	    T(test_audit_anchor_in_a_batch_judges_as_alone),
	    cmocka_unit_test(test_chain_feed_store_error_leaves_the_chain_at_the_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
