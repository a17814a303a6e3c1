/*
 * test_audit_state.c - the audit log's verified state (audit_state.h)
 * against a real SQLite store; built as test_audit_state_pg (JG_TEST_PG),
 * the same cases run on a fresh PostgreSQL database migrated by an owner
 * role and served as a role holding only jitgate_serving (pgdb.h), so the
 * serving role's grants on audit_state are exercised too.
 *
 * What a user relies on: every checkpoint leaves a state row whose MAC
 * verifies; a start from it reads only the entries after it (an edit of an
 * older entry is not looked at then, one after it is caught naming the
 * entry) and hands over the same verified chain a full verification would;
 * a row whose MAC does not verify, that names another log or is ahead of
 * the log stops the start; a fault the running log found is stored and
 * stops every later start naming the entry, and a later checkpoint - by
 * this process or another one - keeps it; without a key, or without a row,
 * the whole log is verified as before.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/audit_state.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/signed_note.h"
#include "jitgate/store.h"
#include "audit_fill.h"
#include "unit_fs.h"
#ifdef JG_TEST_PG
#include "pgdb.h"
#endif

#define ORIGIN "jitgate.test/audit"

struct fixture {
	char root[64];
	char keys[128];
	char db[128];
	struct jg_store *store; /* the serving role's (PostgreSQL) */
	struct jg_store *admin; /* who may lift the append-only guard (the owner; SQLite: store) */
	struct jg_audit *audit;
	struct jg_audit_verifiers vs;
	struct jg_keyring *state_keys;
	/* PostgreSQL: the test holds "audit-checkpoints", so the only checkpoints are its own */
	struct jg_store_leader *leader;
};

static void
audit_open(struct fixture *f, struct jg_audit **out)
{
	struct jg_audit_config cfg = {
	    .origin = ORIGIN,
	    .checkpoint_entries = 1000000, /* no automatic checkpoints: tests make their own */
	    .checkpoint_seconds = 3600,
	    .verify_threads = 2,
	};
	char err[512] = "";

	struct jg_audit_verifiers vs;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	uint64_t size = 0;

	if (jg_audit_open(f->store, f->keys, &cfg, out, err, sizeof(err)) != 0 ||
	    jg_audit_verifiers_load(f->keys, ORIGIN, &vs, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	/* as serve does: the log verified, then handed over (only such a log vouches for a state)
	 */
	assert_int_equal(jg_audit_verify_store_chain(f->store, &vs, 2, &size, &chain, &fault), 0);
	jg_audit_set_verified(*out, &chain);
	assert_int_equal(jg_audit_start(*out), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "", url[256];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-astate-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
#ifdef JG_TEST_PG
	if (pgdb_create_migrated(f->db, sizeof(f->db), &f->admin, url, sizeof(url), err,
				 sizeof(err)) != 0)
		fail_msg("owner store: %s", err);
	if (jg_store_open(url, &f->store, err, sizeof(err)) != 0)
		fail_msg("jg_store_open: %s", err);
	bool held = false;
	assert_int_equal(jg_store_leader_new(f->store, "audit-checkpoints", &f->leader), 0);
	assert_int_equal(jg_store_leader_poll(f->leader, &held), 0);
	assert_true(held);
#else
	snprintf(url, sizeof(url), "%s/test.db", f->root);
	if (jg_store_open(url, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	f->admin = f->store;
#endif
	if (jg_keys_generate(f->keys, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	if (jg_audit_verifiers_load(f->keys, ORIGIN, &f->vs, err, sizeof(err)) != 0 ||
	    jg_keys_load(f->keys, JG_KEY_AUDIT_STATE, &f->state_keys, err, sizeof(err)) != 0)
		fail_msg("keys: %s", err);
	audit_open(f, &f->audit);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	jg_keyring_free(f->state_keys);
	jg_store_leader_free(f->leader);
	if (f->admin != f->store)
		jg_store_close(f->admin);
	jg_store_close(f->store);
#ifdef JG_TEST_PG
	pgdb_drop(f->db);
#endif
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void
append_n(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		json_t *data = json_pack("{s:i}", "n", i);
		assert_int_equal(jg_audit_append(f->audit, "grant.create", "tester", data, NULL),
				 0);
		json_decref(data);
	}
}

static uint64_t
checkpoint(struct fixture *f)
{
	uint64_t size = 0;
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	return size;
}

static void
admin_exec(struct fixture *f, const char *sql)
{
	struct jg_store_conn *c;
	char err[512] = "";
	assert_int_equal(jg_store_acquire(f->admin, &c), 0);
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
	jg_store_release(f->admin, c);
}

/* Changes entry seq's bytes under the append-only guard (which is defence in depth only). */
static void
tamper_entry(struct fixture *f, uint64_t seq)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	const void *blob;
	size_t len;

#ifdef JG_TEST_PG
	admin_exec(f, "ALTER TABLE audit_log DISABLE TRIGGER USER");
#else
	admin_exec(f, "DROP TRIGGER IF EXISTS audit_log_no_update");
#endif
	assert_int_equal(jg_store_acquire(f->admin, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, "SELECT entry FROM audit_log WHERE seq = ?", &st), 0);
	jg_stmt_bind_int64(st, 1, (int64_t)seq);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	blob = jg_stmt_column_blob(st, 0, &len);
	char *text = calloc(1, len + 1);
	assert_non_null(text);
	memcpy(text, blob, len);
	jg_stmt_finish(st);
	/* "tester" -> "Tester": still canonical, another leaf hash */
	char *p = strstr(text, "\"tester\"");
	assert_non_null(p);
	p[1] = 'T';
	assert_int_equal(jg_stmt_prepare(c, "UPDATE audit_log SET entry = ? WHERE seq = ?", &st),
			 0);
	jg_stmt_bind_blob(st, 1, text, len);
	jg_stmt_bind_int64(st, 2, (int64_t)seq);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	free(text);
	jg_store_release(f->admin, c);
#ifdef JG_TEST_PG
	admin_exec(f, "ALTER TABLE audit_log ENABLE TRIGGER USER");
#endif
}

static int
state_read(struct fixture *f, struct jg_audit_state *s)
{
	struct jg_store_conn *c;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	int rc = jg_audit_state_read(c, f->state_keys, s);
	jg_store_release(f->store, c);
	return rc;
}

static int
start(struct fixture *f, struct jg_chain *chain, struct jg_audit_start_report *rep,
      struct jg_chain_fault *fault)
{
	char err[512] = "";
	return jg_audit_state_verify_start(f->store, &f->vs, f->keys, ORIGIN, 2, chain, rep, fault,
					   err, sizeof(err));
}

static void
assert_same_chain(const struct jg_chain *a, const struct jg_chain *b)
{
	assert_int_equal(a->next_seq, b->next_seq);
	assert_memory_equal(a->prev, b->prev, 32);
	assert_int_equal(a->tree.size, b->tree.size);
	assert_memory_equal(a->tree.hash, b->tree.hash, sizeof(a->tree.hash));
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_state_written_at_every_checkpoint_with_a_valid_mac(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_state s;
	struct jg_checkpoint cp;
	char *note = NULL;
	uint64_t size = 0;

	assert_int_equal(state_read(f, &s), JG_ENOTFOUND); /* nothing checkpointed yet */
	append_n(f, 7);
	assert_int_equal(jg_audit_checkpoint(f->audit, &note, &size), 0);
	assert_int_equal(size, 7);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.size, 7);
	assert_string_equal(s.origin, ORIGIN);
	assert_false(s.faulted);
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &f->vs.v[0], &cp), 0);
	assert_memory_equal(s.root, cp.root, 32); /* the state describes the checkpoint */
	free(note);

	append_n(f, 3);
	assert_int_equal(checkpoint(f), 10);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.size, 10);

	/* the MAC covers the columns: one edited in the store no longer verifies */
	admin_exec(f, "UPDATE audit_state SET origin = 'jitgate.test/other' WHERE id = 1");
	assert_int_equal(state_read(f, &s), JG_EVERIFY);
}

static void
test_start_verifies_only_the_entries_after_the_state(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain full, from_state;
	uint64_t size = 0;

	append_n(f, 40);
	assert_int_equal(checkpoint(f), 40);
	append_n(f, 5);
	jg_audit_free(f->audit);
	f->audit = NULL;
	assert_int_equal(jg_audit_verify_store_chain(f->store, &f->vs, 2, &size, &full, &fault), 0);

	assert_int_equal(start(f, &from_state, &rep, &fault), 0);
	assert_int_equal(rep.how, JG_AUDIT_START_TAIL);
	assert_int_equal(rep.from, 40);
	assert_int_equal(rep.tail, 5); /* 5 entries read, not 45 */
	assert_int_equal(rep.size, 45);
	assert_same_chain(&from_state, &full); /* what the guard and writer continue from */

	/* an entry below the state is not looked at at start (the periodic sweep's job) ... */
	tamper_entry(f, 12);
	assert_int_equal(jg_audit_verify_store(f->store, &f->vs, 2, &size, &fault), JG_EVERIFY);
	assert_int_equal(start(f, &from_state, &rep, &fault), 0);
	assert_int_equal(rep.tail, 5);
	/* ... one after it is, naming the entry */
	tamper_entry(f, 42);
	assert_int_equal(start(f, &from_state, &rep, &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 42);
}

static void
test_start_without_state_verifies_everything_then_keeps_it(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain;

	append_n(f, 9); /* no checkpoint: no state */
	jg_audit_free(f->audit);
	f->audit = NULL;
	assert_int_equal(start(f, &chain, &rep, &fault), 0);
	assert_int_equal(rep.how, JG_AUDIT_START_FULL);
	assert_int_equal(rep.size, 9);
	assert_true(rep.state_kept);
	/* the next start begins where that one ended */
	assert_int_equal(start(f, &chain, &rep, &fault), 0);
	assert_int_equal(rep.how, JG_AUDIT_START_TAIL);
	assert_int_equal(rep.from, 9);
	assert_int_equal(rep.tail, 0);

	/* an operator removing the row forces the full verification again, which sees everything */
	tamper_entry(f, 2);
	assert_int_equal(start(f, &chain, &rep, &fault), 0); /* below the state: not read */
	admin_exec(f, "DELETE FROM audit_state");
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_int_equal(rep.how, JG_AUDIT_START_FULL);
	assert_int_equal(fault.seq, 2);
}

static void
test_start_without_a_key_verifies_everything(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	char path[256];

	append_n(f, 6);
	assert_int_equal(checkpoint(f), 6);
	jg_audit_free(f->audit);
	f->audit = NULL;
	tamper_entry(f, 1);
	snprintf(path, sizeof(path), "%s/audit-state-0001.pem", f->keys);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_int_equal(rep.how, JG_AUDIT_START_FULL_NO_KEY);
	assert_int_equal(fault.seq, 1);
}

static void
test_start_refuses_a_state_whose_mac_does_not_verify(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	char err[512] = "";

	append_n(f, 5);
	assert_int_equal(checkpoint(f), 5);
	jg_audit_free(f->audit);
	f->audit = NULL;
	assert_int_equal(start(f, &chain, &rep, &fault), 0);
	/* the MAC of another key: a state from another deployment, or forged */
	struct jg_keyring *other = NULL;
	char other_dir[200];
	snprintf(other_dir, sizeof(other_dir), "%s/other", f->root);
	assert_int_equal(jg_keys_generate_kind(other_dir, JG_KEY_AUDIT_STATE, err, sizeof(err)), 0);
	assert_int_equal(jg_keys_load(other_dir, JG_KEY_AUDIT_STATE, &other, err, sizeof(err)), 0);
	admin_exec(f, "DELETE FROM audit_state");
	struct jg_chain forged = chain;
	assert_int_equal(jg_audit_state_store(f->admin, other, ORIGIN, &forged, UINT64_MAX, NULL),
			 0);
	jg_keyring_free(other);
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "does not verify"));
	assert_int_equal(fault.seq, UINT64_MAX);
}

static void
test_start_refuses_a_state_ahead_of_the_log_or_of_another_log(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain, ahead;

	append_n(f, 8);
	assert_int_equal(checkpoint(f), 8);
	jg_audit_free(f->audit);
	f->audit = NULL;
	assert_int_equal(start(f, &chain, &rep, &fault), 0);
	/* a state of 12 entries (validly MAC'd) over a log of 8: entries were removed */
	ahead = chain;
	ahead.next_seq = 12;
	ahead.tree.size = 12;
	assert_int_equal(
	    jg_audit_state_store(f->store, f->state_keys, ORIGIN, &ahead, UINT64_MAX, NULL), 0);
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "covers 12 entries but the log holds only 8"));

	/* a state of another log's origin */
	admin_exec(f, "DELETE FROM audit_state");
	assert_int_equal(jg_audit_state_store(f->store, f->state_keys, "other.example/audit",
					      &chain, UINT64_MAX, NULL),
			 0);
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "other.example/audit"));
}

/*
 * The newest entry edited underneath the running log: the next append's
 * batch finds it and marks the log broken; the fault is stored (by the
 * background thread, or at the latest when the log stops).
 */
static void
break_running_log(struct fixture *f, uint64_t *bad)
{
	append_n(f, 13);
	assert_int_equal(checkpoint(f), 13);
	*bad = 12;
	tamper_entry(f, *bad);
	json_t *data = json_pack("{s:i}", "n", 99);
	assert_int_not_equal(jg_audit_append(f->audit, "grant.create", "tester", data, NULL), 0);
	json_decref(data);
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), JG_EVERIFY);
	jg_audit_free(f->audit); /* stops: the fault is stored by now */
	f->audit = NULL;
}

static void
test_a_fault_found_while_running_stops_every_later_start(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	struct jg_audit_state s;
	uint64_t bad;

	break_running_log(f, &bad);
	assert_int_equal(state_read(f, &s), 0);
	assert_true(s.faulted);
	assert_int_equal(s.fault_seq, bad);
	assert_int_equal(s.size, 13); /* the verified part is kept */
	for (int i = 0; i < 2; i++) { /* a restart never clears it */
		assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
		assert_int_equal(fault.seq, bad);
		assert_non_null(strstr(fault.why, "stored"));
	}
}

static void
test_a_checkpoint_write_keeps_a_stored_fault(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	struct jg_audit_state s;

	append_n(f, 10);
	assert_int_equal(checkpoint(f), 10);
	/* another replica found entry 3 edited and stored the fault; this one has not seen it */
	assert_int_equal(jg_audit_state_store(f->store, f->state_keys, ORIGIN, NULL, 3,
					      "entry 3: found by another replica"),
			 0);
	append_n(f, 5);
	assert_int_equal(checkpoint(f), 15);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.size, 15); /* the state moved on ... */
	assert_true(s.faulted);	      /* ... with the fault */
	assert_int_equal(s.fault_seq, 3);
	assert_string_equal(s.fault_why, "entry 3: found by another replica");
	/* and a write describing less never moves it back */
	chain.next_seq = 0;
	jg_merkle_frontier_init(&chain.tree);
	memset(chain.prev, 0, 32);
	assert_int_equal(
	    jg_audit_state_store(f->store, f->state_keys, ORIGIN, &chain, UINT64_MAX, NULL), 0);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.size, 15);
	assert_int_equal(s.fault_seq, 3);
	jg_audit_free(f->audit);
	f->audit = NULL;
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 3);
}

/* The command line's checkpoints do not verify the log first: they never move the state. */
static void
test_an_unverified_checkpoint_leaves_the_state_alone(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_config cfg = {.origin = ORIGIN,
				      .checkpoint_entries = 1000000,
				      .checkpoint_seconds = 3600,
				      .verify_threads = 2};
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	struct jg_audit_state s;
	struct jg_audit *cli = NULL;
	char err[512] = "";
	uint64_t size = 0;

	append_n(f, 6);
	assert_int_equal(checkpoint(f), 6);
	append_n(f, 2);
	jg_audit_free(f->audit);
	f->audit = NULL;
	tamper_entry(f, 6); /* after the state: a start from it must still read it */
	/* as `jitgate audit checkpoint`: opened and started, never handed a verified chain */
	if (jg_audit_open(f->store, f->keys, &cfg, &cli, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	assert_int_equal(jg_audit_start(cli), 0);
	assert_int_equal(jg_audit_checkpoint(cli, NULL, &size), 0);
	assert_int_equal(size, 8);
	jg_audit_free(cli);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.size, 6);
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 6);
}

static void
test_a_checkpoint_refuses_to_overwrite_a_state_edited_while_running(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_state s;

	append_n(f, 4);
	assert_int_equal(checkpoint(f), 4);
	admin_exec(f, "UPDATE audit_state SET fault_why = NULL, fault_seq = NULL, size = 4, "
		      "origin = 'edited' WHERE id = 1");
	append_n(f, 1);
	uint64_t size = 0;
	assert_int_not_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	assert_int_equal(jg_audit_healthy(f->audit, NULL, 0), JG_EVERIFY); /* fail closed */
	jg_audit_free(f->audit);
	f->audit = NULL;
	/* the fault replaced the edited row: the next start stops */
	assert_int_equal(state_read(f, &s), 0);
	assert_true(s.faulted);
	assert_non_null(strstr(s.fault_why, "audit_state"));
}

/* ---- start time and history ------------------------------------------------------- */

/* ---- the rolling verifier (audit_sweep.c) ------------------------------------------ */

/* Lifts table's append-only guard (SQLite: its update trigger; PostgreSQL: its triggers). */
static void
unguard(struct fixture *f, const char *table)
{
	char sql[160];
#ifdef JG_TEST_PG
	snprintf(sql, sizeof(sql), "ALTER TABLE %s DISABLE TRIGGER USER", table);
#else
	snprintf(sql, sizeof(sql), "DROP TRIGGER IF EXISTS %s_no_update", table);
#endif
	admin_exec(f, sql);
}

/* The whole log, verified as serve's start verifies it without a state. */
static void
verified_chain(struct fixture *f, struct jg_chain *chain)
{
	struct jg_chain_fault fault;
	uint64_t size = 0;
	assert_int_equal(jg_audit_verify_store_chain(f->store, &f->vs, 2, &size, chain, &fault), 0);
}

/* Sweep slices of max entries from *cur until an error or the end (*wrapped). */
static int
sweep(struct fixture *f, struct jg_chain *cur, const struct jg_chain *verified, size_t max,
      int *wrapped, struct jg_chain_fault *fault)
{
	struct jg_store_conn *c;
	int rc;

	*wrapped = 0;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	do
		rc = jg_audit_sweep_step(c, &f->vs, cur, verified, max, wrapped, fault);
	while (rc == 0 && !*wrapped);
	jg_store_release(f->store, c);
	return rc;
}

/*
 * An edit of an entry below the verified state made while jitgate was
 * stopped: the start does not read it again (the state vouches for it), the
 * running server's rolling verifier (its real thread, here at a budget of
 * 100 %) finds it, the log fails closed and the fault is stored, so the
 * next start refuses naming the entry.
 */
static void
test_the_rolling_verifier_catches_an_old_edit_made_while_stopped(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_config cfg = {.origin = ORIGIN,
				      .checkpoint_entries = 1000000,
				      .checkpoint_seconds = 3600,
				      .verify_threads = 2,
				      .verify_budget = 100};
	struct jg_audit_start_report rep;
	struct jg_chain_fault fault;
	struct jg_audit_state s;
	struct jg_chain chain;
	char err[512] = "";

	append_n(f, 40);
	assert_int_equal(checkpoint(f), 40);
	append_n(f, 5);
	jg_audit_free(f->audit); /* stopped */
	f->audit = NULL;
	tamper_entry(f, 12);

	/* the start reads only the 5 entries after the state: it serves */
	assert_int_equal(start(f, &chain, &rep, &fault), 0);
	assert_int_equal(rep.how, JG_AUDIT_START_TAIL);
	assert_int_equal(rep.tail, 5);
	if (jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	jg_audit_set_verified(f->audit, &chain);
	assert_int_equal(jg_audit_start(f->audit), 0);
	/* the sweep's first round is a second after the start; 45 entries take milliseconds */
	for (int i = 0; i < 300 && jg_audit_healthy(f->audit, NULL, 0) == 0; i++)
		usleep(100 * 1000);
	char why[400] = "";
	assert_int_equal(jg_audit_healthy(f->audit, why, sizeof(why)), JG_EVERIFY);
	assert_non_null(strstr(why, "entry 12"));
	jg_audit_free(f->audit); /* stops: the fault is stored by now */
	f->audit = NULL;

	assert_int_equal(state_read(f, &s), 0);
	assert_true(s.faulted);
	assert_int_equal(s.fault_seq, 12);
	assert_int_equal(start(f, &chain, &rep, &fault), JG_EVERIFY); /* serve: exit 5 */
	assert_int_equal(fault.seq, 12);
	assert_non_null(strstr(fault.why, "stored"));
}

/*
 * The cursor is stored in the verified state (MAC'd, under domain v2) and
 * kept by the checkpoints' writes; a sweep resumed from it goes on from
 * there, not from 0: an edit below it is only found by the next pass.
 */
static void
test_the_sweep_cursor_is_stored_and_a_restart_resumes_from_it(void **state)
{
	struct fixture *f = *state;
	struct jg_chain verified, cur, resumed;
	struct jg_chain_fault fault;
	struct jg_store_conn *c;
	struct jg_audit_state s;
	int wrapped = 0;

	append_n(f, 30);
	assert_int_equal(checkpoint(f), 30);
	assert_int_equal(state_read(f, &s), 0);
	assert_false(s.swept); /* a row without a cursor verifies as before (domain v1) */
	verified_chain(f, &verified);

	jg_chain_init(&cur, 1);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_audit_sweep_step(c, &f->vs, &cur, &verified, 10, &wrapped, &fault), 0);
	jg_store_release(f->store, c);
	assert_int_equal(cur.next_seq, 10);
	assert_false(wrapped);
	assert_int_equal(jg_audit_state_store_sweep(f->store, f->state_keys, &cur), 0);
	assert_int_equal(state_read(f, &s), 0);
	assert_true(s.swept);
	assert_same_chain(&s.sweep, &cur);
	assert_int_equal(s.size, 30); /* the rest of the row as it was */

	/* a checkpoint rewrites the row and keeps the cursor */
	append_n(f, 4);
	assert_int_equal(checkpoint(f), 34);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.size, 34);
	assert_true(s.swept);
	assert_int_equal(s.sweep.next_seq, 10);

	/* restarted from the stored cursor: an edit below it is not seen in this pass ... */
	jg_audit_free(f->audit);
	f->audit = NULL;
	verified_chain(f, &verified);
	tamper_entry(f, 3);
	resumed = s.sweep;
	assert_int_equal(sweep(f, &resumed, &verified, 7, &wrapped, &fault), 0);
	assert_true(wrapped);
	assert_int_equal(resumed.next_seq, 0); /* at the head: over again from 0 */
	/* ... but in the next one, naming the entry */
	assert_int_equal(sweep(f, &resumed, &verified, 7, &wrapped, &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 3);
	assert_int_equal(resumed.next_seq, 3); /* left before the entry at fault */
}

/* A stored checkpoint's signature, and a stored tree node, edited below the state: found. */
static void
test_the_sweep_catches_an_edited_checkpoint_signature_and_tree_node(void **state)
{
	struct fixture *f = *state;
	struct jg_chain verified, cur;
	struct jg_chain_fault fault;
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int wrapped;

	append_n(f, 8);
	assert_int_equal(checkpoint(f), 8);
	append_n(f, 12);
	assert_int_equal(checkpoint(f), 20);
	verified_chain(f, &verified);
	jg_chain_init(&cur, 1);
	assert_int_equal(sweep(f, &cur, &verified, 5, &wrapped, &fault), 0); /* sound: one pass */
	assert_true(wrapped);

	/* one base64 character of the size-8 checkpoint's signature changed */
	unguard(f, "audit_checkpoints");
	admin_exec(f, "UPDATE audit_checkpoints SET note = substr(note, 1, length(note) - 6) || "
		      "CASE WHEN substr(note, length(note) - 5, 1) = 'A' THEN 'B' ELSE 'A' END || "
		      "substr(note, length(note) - 4) WHERE size = 8");
	jg_chain_init(&cur, 1);
	assert_int_equal(sweep(f, &cur, &verified, 5, &wrapped, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "checkpoint of size 8 is not validly signed"));
	assert_int_equal(cur.next_seq, 8); /* found where the tree reaches its size */

	/* a new log: one tree node (level 1, covering entries 4 and 5) edited */
	teardown(state);
	setup(state);
	f = *state;
	append_n(f, 12);
	assert_int_equal(checkpoint(f), 12);
	verified_chain(f, &verified);
	unguard(f, "audit_nodes");
	assert_int_equal(jg_store_acquire(f->admin, &c), 0);
	assert_int_equal(
	    jg_stmt_prepare(c, "UPDATE audit_nodes SET hash = ? WHERE level = 1 AND idx = 2", &st),
	    0);
	uint8_t zeros[32] = {0};
	jg_stmt_bind_blob(st, 1, zeros, sizeof(zeros));
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(f->admin, c);
	jg_chain_init(&cur, 1);
	assert_int_equal(sweep(f, &cur, &verified, 3, &wrapped, &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 5);
	assert_non_null(strstr(fault.why, "tree node"));
}

/*
 * The newest rows removed under the verified chain: with the head left as
 * it was, entries are missing (a fault naming the first); with the head
 * shrunk too - what a failover that lost an unconfirmed tail looks like,
 * which the writer judges - the sweep starts over instead.
 */
static void
test_the_sweep_names_an_entry_removed_and_starts_over_after_a_lost_tail(void **state)
{
	struct fixture *f = *state;
	struct jg_chain verified, cur;
	struct jg_chain_fault fault;
	int wrapped;

	append_n(f, 12);
	assert_int_equal(checkpoint(f), 12);
	verified_chain(f, &verified);
	jg_audit_free(f->audit);
	f->audit = NULL;
#ifdef JG_TEST_PG
	admin_exec(f, "ALTER TABLE audit_log DISABLE TRIGGER USER");
	admin_exec(f, "ALTER TABLE audit_head DISABLE TRIGGER USER");
#else
	admin_exec(f, "DROP TRIGGER IF EXISTS audit_log_no_delete");
	admin_exec(f, "DROP TRIGGER IF EXISTS audit_head_only_grows");
#endif
	admin_exec(f, "DELETE FROM audit_log WHERE seq >= 10");
	jg_chain_init(&cur, 1);
	assert_int_equal(sweep(f, &cur, &verified, 4, &wrapped, &fault), JG_EVERIFY);
	assert_int_equal(fault.seq, 10);
	assert_non_null(strstr(fault.why, "missing"));
	assert_int_equal(cur.next_seq, 10); /* everything before it was re-verified */

	admin_exec(f, "UPDATE audit_head SET size = 10 WHERE id = 1");
	assert_int_equal(sweep(f, &cur, &verified, 4, &wrapped, &fault), 0);
	assert_true(wrapped);
	assert_int_equal(cur.next_seq, 0);
}

/* The cursor's columns copied back from an older row, or removed: the MAC no longer verifies. */
static void
test_the_sweep_cursor_cannot_be_forged_without_the_key(void **state)
{
	struct fixture *f = *state;
	struct jg_chain verified, cur;
	struct jg_chain_fault fault;
	struct jg_store_conn *c;
	struct jg_audit_state s;
	struct jg_stmt *st;
	uint8_t last[32], fr[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t last_len, fr_len;
	int64_t seq;
	int wrapped;

	append_n(f, 30);
	assert_int_equal(checkpoint(f), 30);
	verified_chain(f, &verified);
	jg_chain_init(&cur, 1);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_audit_sweep_step(c, &f->vs, &cur, &verified, 10, &wrapped, &fault), 0);
	jg_store_release(f->store, c);
	assert_int_equal(jg_audit_state_store_sweep(f->store, f->state_keys, &cur), 0);
	/* what the database held at cursor 10 */
	assert_int_equal(jg_store_acquire(f->admin, &c), 0);
	assert_int_equal(jg_stmt_prepare(c,
					 "SELECT sweep_seq, sweep_last, sweep_frontier FROM "
					 "audit_state WHERE id = 1",
					 &st),
			 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	seq = jg_stmt_column_int64(st, 0);
	const void *b = jg_stmt_column_blob(st, 1, &last_len);
	assert_int_equal(last_len, 32);
	memcpy(last, b, 32);
	b = jg_stmt_column_blob(st, 2, &fr_len);
	assert_true(fr_len <= sizeof(fr));
	memcpy(fr, b, fr_len);
	jg_stmt_finish(st);
	jg_store_release(f->admin, c);
	assert_int_equal(seq, 10);

	/* the sweep moves on to 20; the database puts the cursor back to 10 (columns valid) */
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_audit_sweep_step(c, &f->vs, &cur, &verified, 10, &wrapped, &fault), 0);
	jg_store_release(f->store, c);
	assert_int_equal(jg_audit_state_store_sweep(f->store, f->state_keys, &cur), 0);
	assert_int_equal(state_read(f, &s), 0);
	assert_int_equal(s.sweep.next_seq, 20);
	assert_int_equal(jg_store_acquire(f->admin, &c), 0);
	assert_int_equal(jg_stmt_prepare(c,
					 "UPDATE audit_state SET sweep_seq = ?, sweep_last = ?, "
					 "sweep_frontier = ? WHERE id = 1",
					 &st),
			 0);
	jg_stmt_bind_int64(st, 1, seq);
	jg_stmt_bind_blob(st, 2, last, 32);
	jg_stmt_bind_blob(st, 3, fr, fr_len);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(f->admin, c);
	assert_int_equal(state_read(f, &s), JG_EVERIFY);
	/* the writers refuse the row too (the caller fails closed) */
	assert_int_equal(jg_audit_state_store_sweep(f->store, f->state_keys, &cur), JG_EVERIFY);

	/* the cursor removed (a v2 row made to look like v1): refused as well */
	assert_int_equal(jg_audit_state_store(f->store, f->state_keys, ORIGIN, NULL, UINT64_MAX,
					      "a fault, so that the row is rewritten"),
			 0);
	assert_int_equal(jg_audit_state_store_sweep(f->store, f->state_keys, &cur), 0);
	assert_int_equal(state_read(f, &s), 0);
	assert_true(s.swept);
	admin_exec(f, "UPDATE audit_state SET sweep_seq = NULL, sweep_last = NULL, "
		      "sweep_frontier = NULL WHERE id = 1");
	assert_int_equal(state_read(f, &s), JG_EVERIFY);
}

static void
fill(struct fixture *f, int count)
{
	unit_audit_fill(f->audit, count);
}

static double
seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Entries after the verified state at each start: about what a start meets
 * with the default cadence (a checkpoint every 1,000 entries).  With only a
 * handful, the O(log n) node reads that prove the state and the newest
 * checkpoint (a few dozen, one level more per doubling) outweigh the tail
 * and a sub-millisecond start measured 1.65x at 10x the history (a full run
 * on a loaded machine): that is the tree's depth, not the history.
 */
#define TAIL 1000

/* The fastest of 41 starts (the check serve runs), in seconds: other suites share the machine. */
static double
start_seconds(struct fixture *f, uint64_t size)
{
	double best = 1e9;
	for (int i = 0; i < 41; i++) {
		struct jg_audit_start_report rep;
		struct jg_chain_fault fault;
		struct jg_chain chain;
		double t0 = seconds_now();
		assert_int_equal(start(f, &chain, &rep, &fault), 0);
		double took = seconds_now() - t0;
		assert_int_equal(rep.how, JG_AUDIT_START_TAIL);
		assert_int_equal(rep.size, size);
		assert_int_equal(rep.tail, TAIL); /* the entries read: the same at any size */
		best = took < best ? took : best;
	}
	return best;
}

/*
 * The history sizes: a log of a few million entries, written through
 * the writer's bulk path (transactions of 20,000 appends), and a tenth of it.
 * On PostgreSQL a tenth of that: its bulk path wrote about 5,000 entries/s
 * here with other suites running, so two million would take the twin (and
 * its ASan build) seven minutes each - the same 10x is shown at 200,000.
 */
#ifdef JG_TEST_PG
#define SMALL_HISTORY 20000
#define BIG_HISTORY   200000
#else
#define SMALL_HISTORY 200000
#define BIG_HISTORY   2000000
#endif

/*
 * A log ten times longer is started from its state reading the same TAIL
 * entries (start_seconds asserts it at each size): what a start does does
 * not grow with the history.  The times are printed, with the whole-log
 * verification the start used to run at the smaller size, to show what a
 * start without the state costs; they are not asserted - a timing in a
 * test fails on a busy machine, and `make bench` (bench/guard_history.sh,
 * docs/performance.md) is where start times are measured, against a limit
 * of the same run.
 */
static void
test_start_reads_the_same_tail_at_any_history_size(void **state)
{
	struct fixture *f = *state;
	double small, big, whole_small, t0;
	struct jg_chain_fault fault;
	uint64_t size;

	fill(f, SMALL_HISTORY - TAIL);
	assert_int_equal(checkpoint(f), SMALL_HISTORY - TAIL);
	fill(f, TAIL);
	/* the starts timed with no server running beside them (its rolling verifier reads the log)
	 */
	jg_audit_free(f->audit);
	f->audit = NULL;
	small = start_seconds(f, SMALL_HISTORY);
	t0 = seconds_now();
	assert_int_equal(jg_audit_verify_store(f->store, &f->vs, 2, &size, &fault), 0);
	whole_small = seconds_now() - t0;

	audit_open(f, &f->audit);
	fill(f, BIG_HISTORY - SMALL_HISTORY - TAIL);
	assert_int_equal(checkpoint(f), BIG_HISTORY - TAIL);
	fill(f, TAIL);
	jg_audit_free(f->audit);
	f->audit = NULL;
	big = start_seconds(f, BIG_HISTORY);

	print_message("start from the state: %.4f s at %d entries, %.4f s at %d (ratio %.2f); "
		      "the whole log at %d: %.3f s\n",
		      small, SMALL_HISTORY, big, BIG_HISTORY, big / small, SMALL_HISTORY,
		      whole_small);
}

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef JG_TEST_PG
	pgdb_init("test_audit_state_pg", argv);
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_state_written_at_every_checkpoint_with_a_valid_mac,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_verifies_only_the_entries_after_the_state,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_start_without_state_verifies_everything_then_keeps_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_without_a_key_verifies_everything, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_start_refuses_a_state_whose_mac_does_not_verify,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_start_refuses_a_state_ahead_of_the_log_or_of_another_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_fault_found_while_running_stops_every_later_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_checkpoint_write_keeps_a_stored_fault, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_an_unverified_checkpoint_leaves_the_state_alone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_checkpoint_refuses_to_overwrite_a_state_edited_while_running, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_rolling_verifier_catches_an_old_edit_made_while_stopped, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_sweep_cursor_is_stored_and_a_restart_resumes_from_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_sweep_catches_an_edited_checkpoint_signature_and_tree_node, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_sweep_names_an_entry_removed_and_starts_over_after_a_lost_tail, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_the_sweep_cursor_cannot_be_forged_without_the_key,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_reads_the_same_tail_at_any_history_size,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
