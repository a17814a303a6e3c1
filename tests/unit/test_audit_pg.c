/*
 * test_audit_pg.c - the audit writer on a real PostgreSQL server, as a
 * deployment runs it: the schema migrated by an owner role from the
 * repository's migrations/postgres/, the writers connected as a role that
 * only holds jitgate_serving (tests/unit/pgdb.h: a throwaway cluster of
 * tests/lib/pg-cluster.sh; `make unit` runs this under `pg-cluster.sh run`).
 *
 * Two writers on two stores stand for two replicas (or a replica and the
 * command line).  The tests prove that their appends form one chain that
 * verifies, each writer extending its verified chain past the other's
 * entries; that an entry's ts never goes back behind the chain head's,
 * whatever a writer's clock says; that a batch waits for the head row's
 * lock; that an entry another writer appended, or the newest one, edited
 * underneath (past privileges and triggers, as a superuser could) makes the
 * next append refuse; that a writer whose connection the server ended
 * carries on with a new one; that a checkpoint signs what the head says;
 * and that after a failover that lost entries the standby never confirmed
 * the loss is recorded (audit.unconfirmed_dropped) when the database's
 * chain is a prefix of what the writer saw and no checkpoint covers a lost
 * entry, and fails closed otherwise.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/clock.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/store.h"
#include "pgdb.h"
#include "unit_fs.h"

#define ORIGIN "jitgate.test/audit"

struct writer {
	struct jg_store *store;
	struct jg_audit *audit;
};

struct fixture {
	char root[64];
	char keys[128];
	char db[64];
	struct jg_store *owner; /* the schema's owner (and a reader for the checks) */
	struct writer w[2];
	struct jg_audit_verifiers vs;
};

/* A writer as serve starts one: the whole log verified first, then handed over. */
static void
writer_start(struct fixture *f, struct writer *w)
{
	struct jg_audit_config cfg = {
	    .origin = ORIGIN,
	    .checkpoint_entries = 1000000, /* no automatic checkpoints: tests make their own */
	    .checkpoint_seconds = 3600,
	    .verify_threads = 2,
	};
	struct jg_chain chain;
	struct jg_chain_fault fault;
	char url[256], err[512] = "";
	uint64_t size;

	pgdb_url(url, sizeof(url), "jitgate", f->db);
	if (jg_store_open(url, &w->store, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", url, err);
	if (jg_audit_open(w->store, f->keys, &cfg, &w->audit, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	if (jg_audit_verify_store_chain(w->store, &f->vs, 2, &size, &chain, &fault) != 0)
		fail_msg("verify: %s", fault.why);
	jg_audit_set_verified(w->audit, &chain);
	assert_int_equal(jg_audit_start(w->audit), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char url[256], err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-auditpg-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	if (jg_keys_generate(f->keys, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	if (jg_audit_verifiers_load(f->keys, ORIGIN, &f->vs, err, sizeof(err)) != 0)
		fail_msg("verifiers: %s", err);
	if (pgdb_create_migrated(f->db, sizeof(f->db), &f->owner, url, sizeof(url), err,
				 sizeof(err)) != 0)
		fail_msg("owner store: %s", err);
	writer_start(f, &f->w[0]);
	writer_start(f, &f->w[1]);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_clock_set_source(NULL);
	for (int i = 0; i < 2; i++) {
		jg_audit_free(f->w[i].audit);
		jg_store_close(f->w[i].store);
	}
	jg_store_close(f->owner);
	pgdb_drop(f->db);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static int
append(struct writer *w, int i)
{
	json_t *data = json_pack("{s:i}", "i", i);
	int rc = jg_audit_append(w->audit, "test.entry", "tester", data, NULL);
	json_decref(data);
	return rc;
}

static void
expect_verified(struct fixture *f, uint64_t want)
{
	struct jg_chain_fault fault;
	uint64_t size = UINT64_MAX;
	if (jg_audit_verify_store(f->owner, &f->vs, 2, &size, &fault) != 0)
		fail_msg("verify_store: seq %llu: %s", (unsigned long long)fault.seq, fault.why);
	assert_int_equal(size, want);
}

/* The ts of entry seq, read back from its bytes. */
static int64_t
entry_ts(struct fixture *f, uint64_t seq)
{
	static const char sql[] = "SELECT entry FROM audit_log WHERE seq = ?";
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t ts = -1;
	assert_int_equal(jg_store_acquire(f->owner, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	jg_stmt_bind_int64(st, 1, (int64_t)seq);
	if (jg_stmt_step(st) == JG_STMT_ROW) {
		size_t len;
		const void *b = jg_stmt_column_blob(st, 0, &len);
		json_t *e = json_loadb(b, len, 0, NULL);
		ts = json_integer_value(json_object_get(e, "ts"));
		json_decref(e);
	}
	jg_stmt_finish(st);
	jg_store_release(f->owner, c);
	return ts;
}

static int64_t
head_ts(struct fixture *f)
{
	static const char sql[] = "SELECT ts FROM audit_head WHERE id = 1";
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t ts = -1;
	assert_int_equal(jg_store_acquire(f->owner, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		ts = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->owner, c);
	return ts;
}

/* Rewrites entry seq past privileges and triggers, as a superuser could. */
static void
tamper(struct fixture *f, uint64_t seq)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "BEGIN; ALTER TABLE audit_log DISABLE TRIGGER USER;"
		 "UPDATE audit_log SET entry = convert_to(replace(convert_from(entry, 'UTF8'), "
		 "'\"tester\"', '\"tester2\"'), 'UTF8') WHERE seq = %llu;"
		 "ALTER TABLE audit_log ENABLE TRIGGER USER; COMMIT;",
		 (unsigned long long)seq);
	pgdb_must_in(f->db, sql);
}

/* ---- tests ------------------------------------------------------------------ */

/* Two writers take turns and at once: one chain, numbered without gaps, that verifies. */
struct burst {
	struct writer *w;
	int n, first, failed;
};

static void *
burst_main(void *arg)
{
	struct burst *b = arg;
	for (int k = 0; k < b->n; k++)
		b->failed += append(b->w, b->first + k) != 0;
	return NULL;
}

static void
test_audit_pg_two_writers_one_chain(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;

	for (int i = 0; i < 6; i++)
		assert_int_equal(append(&f->w[i % 2], i), 0);
	/* concurrently: three threads on each writer */
	struct burst b[6];
	pthread_t t[6];
	for (int i = 0; i < 6; i++) {
		b[i] = (struct burst){.w = &f->w[i % 2], .n = 20, .first = 100 * (i + 1)};
		assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(b[i].failed, 0);
	}
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 6 + 120);
	expect_verified(f, 126);
	/* each writer's verified chain reaches the head, past the other's entries */
	for (int i = 0; i < 2; i++) {
		struct jg_chain snap;
		assert_int_equal(jg_audit_check(f->w[i].audit, &snap), 0);
		assert_int_equal(snap.next_seq, 126);
		assert_int_equal(jg_audit_healthy(f->w[i].audit, NULL, 0), 0);
	}
	/* a checkpoint by either covers everything */
	uint64_t cp = 0;
	assert_int_equal(jg_audit_checkpoint(f->w[1].audit, NULL, &cp), 0);
	assert_int_equal(cp, 126);
	expect_verified(f, 126);
}

/* A clock (fake) for the ts test: what CLOCK_REALTIME and CLOCK_MONOTONIC read. */
static int64_t fake_wall_ms;
static int64_t
fake_clock(clockid_t id)
{
	return id == CLOCK_REALTIME ? fake_wall_ms : 1000;
}

/* A writer whose clock is behind the head's ts stamps its entries with the head's ts. */
static void
test_audit_pg_ts_never_behind_the_head(void **state)
{
	struct fixture *f = *state;

	jg_clock_set_source(fake_clock);
	fake_wall_ms = 1800000000000; /* writer 0 appends "later" */
	assert_int_equal(append(&f->w[0], 0), 0);
	assert_int_equal(entry_ts(f, 0), 1800000000000);
	assert_int_equal(head_ts(f), 1800000000000);
	fake_wall_ms = 1799999990000;	 /* ten seconds earlier for the next writer */
	jg_clock_set_source(fake_clock); /* afresh: the process's floor forgets writer 0 */
	assert_int_equal(append(&f->w[1], 1), 0);
	assert_int_equal(entry_ts(f, 1), 1800000000000); /* not 1799999990000 */
	fake_wall_ms = 1800000005000;
	jg_clock_set_source(fake_clock);
	assert_int_equal(append(&f->w[1], 2), 0);
	assert_int_equal(entry_ts(f, 2), 1800000005000); /* its own clock once it is ahead */
	assert_int_equal(head_ts(f), 1800000005000);
	jg_clock_set_source(NULL);
	expect_verified(f, 3);
}

/* A batch waits for the head row: whoever holds it (another replica's batch) goes first. */
struct one {
	struct writer *w;
	int rc, done;
};

static void *
one_main(void *arg)
{
	struct one *o = arg;
	o->rc = append(o->w, 7);
	__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
test_audit_pg_batches_wait_for_the_head_lock(void **state)
{
	struct fixture *f = *state;
	static const char lock[] = "SELECT size FROM audit_head WHERE id = 1 FOR UPDATE";
	struct jg_store_conn *holder;
	struct jg_stmt *st;
	uint64_t size = 0;

	assert_int_equal(append(&f->w[0], 1), 0);
	assert_int_equal(jg_store_acquire(f->owner, &holder), 0);
	assert_int_equal(jg_store_begin(holder), 0);
	assert_int_equal(jg_stmt_prepare(holder, lock, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	jg_stmt_finish(st);

	struct one o = {.w = &f->w[1]};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, one_main, &o), 0);
	usleep(400 * 1000);
	assert_int_equal(__atomic_load_n(&o.done, __ATOMIC_ACQUIRE), 0); /* waiting */
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 1);
	assert_int_equal(jg_store_commit(holder), 0);
	jg_store_release(f->owner, holder);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(o.rc, 0);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 2);
	expect_verified(f, 2);
}

/* An entry the other writer appended, edited before this one saw it: the append is refused. */
static void
test_audit_pg_edited_entry_of_another_writer_refuses_the_append(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;

	assert_int_equal(append(&f->w[0], 0), 0);
	assert_int_equal(append(&f->w[1], 1), 0);
	assert_int_equal(append(&f->w[1], 2), 0); /* writer 0 has not read 1 and 2 yet */
	tamper(f, 1);
	assert_int_equal(append(&f->w[0], 3), JG_EUNAVAIL);
	char why[400] = "";
	assert_int_equal(jg_audit_healthy(f->w[0].audit, why, sizeof(why)), JG_EVERIFY);
	assert_non_null(strstr(why, "entry 1: stored tree node does not match the entries"));
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 3); /* nothing appended on top */
}

/* The newest entry, edited after every writer verified it: the next append is refused. */
static void
test_audit_pg_edited_newest_entry_refuses_the_append(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;

	assert_int_equal(append(&f->w[0], 0), 0);
	assert_int_equal(append(&f->w[0], 1), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(jg_audit_check(f->w[i].audit, NULL), 0); /* both verified it */
	tamper(f, 1);
	assert_int_equal(append(&f->w[1], 2), JG_EUNAVAIL);
	char why[400] = "";
	assert_int_equal(jg_audit_healthy(f->w[1].audit, why, sizeof(why)), JG_EVERIFY);
	assert_non_null(strstr(why, "the last entry was altered"));
	assert_int_equal(append(&f->w[0], 3), JG_EUNAVAIL);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 2);
}

/* The server ends the writer's session between batches: the next batch has a new one. */
static void
test_audit_pg_writer_survives_a_lost_connection(void **state)
{
	struct fixture *f = *state;
	char sql[256];

	assert_int_equal(append(&f->w[0], 0), 0);
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND "
		 "usename = 'jitgate'",
		 f->db);
	pgdb_must(sql);
	usleep(100 * 1000);
	assert_int_equal(append(&f->w[0], 1), 0);
	assert_int_equal(append(&f->w[1], 2), 0);
	assert_int_equal(jg_audit_writable(f->w[0].audit), 0);
	expect_verified(f, 3);
}

/* ---- the fast path (one round trip per batch of plain appends) ---------------- */

static struct jg_audit_stats
stats_of(struct writer *w)
{
	struct jg_audit_stats st;
	jg_audit_stats(w->audit, &st);
	return st;
}

/* How many rows table holds (read by the owner). */
static int64_t
count_rows(struct fixture *f, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t n = -1;
	assert_int_equal(jg_store_acquire(f->owner, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->owner, c);
	return n;
}

/*
 * `jitgate audit check -c FILE` on the fixture's database, as an operator
 * runs it (the serving role, the keys of key_dir): 0 when it prints
 * "VALID: <want> entries".
 */
/* The jitgate binary of this test's build: BUILD/jitgate for BUILD/tests/test_audit_pg (main). */
static char jitgate_bin[512];

static void
expect_cli_check(struct fixture *f, uint64_t want)
{
	char path[256], out[512] = "", expect[64], cwd[512];
	FILE *fp;

	assert_non_null(getcwd(cwd, sizeof(cwd))); /* the repository root: make unit runs here */

	snprintf(path, sizeof(path), "%s/jitgate.yaml", f->root);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp,
		"public_url: \"https://127.0.0.1:1\"\nlog_level: warn\n"
		"tls: {cert_file: cert.pem, key_file: key.pem}\n"
		"database: {url: \"postgres://jitgate@127.0.0.1:%s/%s\"}\n"
		"telemetry: {database: \"%s/telemetry.db\"}\n"
		"migrations_dir: \"%s/migrations\"\nkey_dir: %s\n"
		/* the writers' origin: without it the command verifies under public_url's */
		"audit: {origin: \"" ORIGIN "\"}\n"
		"oidc: {issuer: \"http://127.0.0.1:9\", client_id: jitgate, "
		"allowed_clients: [jitgate]}\n",
		pgdb_port, f->db, f->root, cwd, f->keys);
	assert_int_equal(fclose(fp), 0);
	/* the command's output (stdout and stderr) through a pipe; no shell */
	int fds[2], status = -1;
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execl(jitgate_bin, "jitgate", "audit", "check", "-c", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t got;
	while (n < sizeof(out) - 1 && (got = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)got;
	out[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("jitgate audit check exited %d: %s", status, out);
	snprintf(expect, sizeof(expect), "VALID: %llu entries", (unsigned long long)want);
	if (strstr(out, expect) == NULL)
		fail_msg("jitgate audit check: %s (expected %s)", out, expect);
}

/* Every entry's ts is at least its predecessor's. */
static void
expect_ts_never_back(struct fixture *f, uint64_t size)
{
	int64_t prev = 0;
	for (uint64_t seq = 0; seq < size; seq++) {
		int64_t ts = entry_ts(f, seq);
		if (ts < prev)
			fail_msg("entry %llu: ts %lld is before its predecessor's %lld",
				 (unsigned long long)seq, (long long)ts, (long long)prev);
		prev = ts;
	}
}

/*
 * A writer appending alone commits each batch in one pipeline; when the
 * other replica appended in between, the pipeline is refused by the server
 * (the seq is taken) and the batch runs the careful way, reading and
 * verifying the other's entries first.  Interleaved and concurrent appends
 * of both give one chain that `jitgate audit check` accepts, times never
 * going back.
 */
static void
test_audit_pg_interleaved_writers_fast_and_careful(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;

	for (int i = 0; i < 10; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	struct jg_audit_stats s0 = stats_of(&f->w[0]);
	assert_int_equal(s0.batches, 10);
	assert_int_equal(s0.fast_batches,
			 9); /* the first batch reads the head: nothing known yet */
	assert_int_equal(s0.fast_declined, 0);

	assert_int_equal(append(&f->w[1], 10), 0); /* the other replica appends seq 10 */
	assert_int_equal(append(&f->w[0], 11), 0); /* its pipeline's seq 10 is taken */
	s0 = stats_of(&f->w[0]);
	assert_int_equal(s0.fast_declined, 1);
	assert_int_equal(s0.fast_batches, 9);
	assert_int_equal(s0.batches, 11);
	struct jg_chain snap;
	assert_int_equal(jg_audit_check(f->w[0].audit, &snap), 0);
	assert_int_equal(snap.next_seq, 12); /* it verified the other's entry 10 */
	assert_int_equal(jg_audit_healthy(f->w[0].audit, NULL, 0), 0);

	/* strictly alternating, then both at once (three threads each) */
	for (int i = 0; i < 20; i++)
		assert_int_equal(append(&f->w[i % 2], 100 + i), 0);
	struct burst b[6];
	pthread_t t[6];
	for (int i = 0; i < 6; i++) {
		b[i] = (struct burst){.w = &f->w[i % 2], .n = 30, .first = 1000 * (i + 1)};
		assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(b[i].failed, 0);
	}
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 12 + 20 + 180);
	expect_verified(f, size);
	expect_ts_never_back(f, size);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jg_audit_check(f->w[i].audit, &snap), 0);
		assert_int_equal(snap.next_seq, size);
		assert_int_equal(jg_audit_healthy(f->w[i].audit, NULL, 0), 0);
	}
	/* and after that, alone again: the fast path resumes (after its pause) */
	s0 = stats_of(&f->w[0]);
	for (int i = 0; i < 12; i++)
		assert_int_equal(append(&f->w[0], 5000 + i), 0);
	struct jg_audit_stats s1 = stats_of(&f->w[0]);
	assert_true(s1.fast_batches > s0.fast_batches);
	expect_verified(f, size + 12);
	/* a checkpoint always, so the command's check of stored checkpoints runs every time */
	assert_int_equal(jg_audit_checkpoint(f->w[0].audit, NULL, NULL), 0);
	expect_cli_check(f, size + 12);
}

/*
 * A statement that fails inside the pipeline - here the last node insert,
 * after the entry and another node were sent - rolls back the whole batch:
 * no entry, no node, the head unmoved.  The planted node stands for any
 * server-side refusal mid-batch.
 */
static void
test_audit_pg_failing_statement_rolls_back_the_whole_pipeline(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;

	for (int i = 0; i < 3; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	assert_int_equal(stats_of(&f->w[0]).fast_batches, 2);
	/* entry 3 completes the nodes (level 1, idx 1) and (level 2, idx 0): the latter is taken */
	pgdb_must_in(f->db, "INSERT INTO audit_nodes (level, idx, hash) VALUES "
			    "(2, 0, decode(repeat('ab', 32), 'hex'))");
	assert_int_equal(append(&f->w[0], 3), JG_EUNAVAIL); /* the careful retry fails alike */
	struct jg_audit_stats s = stats_of(&f->w[0]);
	assert_int_equal(s.fast_declined, 1);
	assert_int_equal(s.fast_batches, 2);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 3);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM audit_log"), 3);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM audit_log WHERE seq = 3"), 0);
	assert_int_equal(
	    count_rows(f, "SELECT count(*) FROM audit_nodes WHERE level = 1 AND idx = 1"), 0);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM audit_nodes"),
			 2); /* (1,0) + planted */
	/* the planted row removed (past the triggers): the writer carries on, the chain verifies */
	pgdb_must_in(f->db, "BEGIN; ALTER TABLE audit_nodes DISABLE TRIGGER USER;"
			    "DELETE FROM audit_nodes WHERE level = 2;"
			    "ALTER TABLE audit_nodes ENABLE TRIGGER USER; COMMIT;");
	assert_int_equal(append(&f->w[0], 3), 0);
	assert_int_equal(append(&f->w[0], 4), 0);
	assert_int_equal(jg_audit_writable(f->w[0].audit), 0);
	expect_verified(f, 5);
}

/*
 * The fast path trusts its own previous batch without re-reading it only
 * because the server checks, under the head's lock, that those rows are
 * still the ones that batch inserted: an edit of one (past privileges and
 * triggers) makes the server refuse the pipeline, and the careful batch
 * then finds the edit.
 */
static void
test_audit_pg_fast_path_catches_an_edit_of_its_previous_batch(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;

	for (int i = 0; i < 3; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	assert_int_equal(stats_of(&f->w[0]).fast_batches, 2);
	tamper(f, 2); /* the newest entry, written by the previous (fast) batch */
	assert_int_equal(append(&f->w[0], 3), JG_EUNAVAIL);
	assert_int_equal(stats_of(&f->w[0]).fast_declined, 1);
	char why[400] = "";
	assert_int_equal(jg_audit_healthy(f->w[0].audit, why, sizeof(why)), JG_EVERIFY);
	assert_non_null(strstr(why, "the last entry was altered"));
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 3);
}

/* ---- a failover that lost unconfirmed entries --------------------------------- */

/* The chain head as it is now, as SQL that sets it back (run by drop_to). */
static void
head_save(struct fixture *f, char *set, size_t len)
{
	static const char sql[] =
	    "SELECT size, encode(last_hash, 'hex'), encode(frontier, 'hex'), ts "
	    "FROM audit_head WHERE id = 1";
	struct jg_store_conn *c;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(f->owner, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	snprintf(set, len,
		 "UPDATE audit_head SET size = %lld, last_hash = decode('%s', 'hex'), "
		 "frontier = decode('%s', 'hex'), ts = %lld WHERE id = 1;",
		 (long long)jg_stmt_column_int64(st, 0), jg_stmt_column_text(st, 1),
		 jg_stmt_column_text(st, 2), (long long)jg_stmt_column_int64(st, 3));
	jg_stmt_finish(st);
	jg_store_release(f->owner, c);
}

/*
 * The promoted standby never received the entries from keep on: they and
 * the tree nodes over them are removed and the head set back (head_set, from
 * head_save at keep entries), past the append-only triggers as replication
 * applies changes (session_replication_role = replica).
 */
static void
drop_to(struct fixture *f, uint64_t keep, const char *head_set)
{
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "BEGIN; SET LOCAL session_replication_role = replica;"
		 "DELETE FROM audit_log WHERE seq >= %llu;"
		 "DELETE FROM audit_nodes WHERE (idx + 1) * (1::bigint << level::int) > %llu;"
		 "%s COMMIT;",
		 (unsigned long long)keep, (unsigned long long)keep, head_set);
	pgdb_must_in(f->db, sql);
}

/* Entry seq as stored, parsed (the caller decrefs). */
static json_t *
entry_get(struct fixture *f, uint64_t seq)
{
	static const char sql[] = "SELECT entry FROM audit_log WHERE seq = ?";
	struct jg_store_conn *c;
	struct jg_stmt *st;
	json_t *e = NULL;
	assert_int_equal(jg_store_acquire(f->owner, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	jg_stmt_bind_int64(st, 1, (int64_t)seq);
	if (jg_stmt_step(st) == JG_STMT_ROW) {
		size_t len;
		const void *b = jg_stmt_column_blob(st, 0, &len);
		e = json_loadb(b, len, 0, NULL);
	}
	jg_stmt_finish(st);
	jg_store_release(f->owner, c);
	assert_non_null(e);
	return e;
}

static void
append_receipt(struct writer *w, int i, uint8_t hash[32])
{
	struct jg_audit_receipt r;
	json_t *data = json_pack("{s:i}", "i", i);
	assert_int_equal(jg_audit_append(w->audit, "test.entry", "tester", data, &r), 0);
	json_decref(data);
	memcpy(hash, r.hash, 32);
}

/*
 * A writer appended entries 3 and 4 (two batches) on the old primary; the
 * promoted standby holds entries 0-2.  Its next append succeeds: the loss
 * is recorded as entry 3, audit.unconfirmed_dropped by system with the
 * range and the lost entries' leaf hashes, the new entry follows, and the
 * log verifies (the library and `jitgate audit check`).
 */
static void
test_audit_pg_failover_lost_unconfirmed_entries_are_recorded(void **state)
{
	struct fixture *f = *state;
	char head3[1024];
	uint8_t lost[2][32];
	uint64_t size = 0;

	for (int i = 0; i < 3; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	head_save(f, head3, sizeof(head3));
	append_receipt(&f->w[0], 3, lost[0]);
	append_receipt(&f->w[0], 4, lost[1]);
	drop_to(f, 3, head3);

	assert_int_equal(append(&f->w[0], 5), 0);
	assert_int_equal(jg_audit_healthy(f->w[0].audit, NULL, 0), 0);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 5);
	json_t *e = entry_get(f, 3);
	assert_string_equal(json_string_value(json_object_get(e, "type")),
			    "audit.unconfirmed_dropped");
	assert_string_equal(json_string_value(json_object_get(e, "actor")), "system");
	json_t *d = json_object_get(e, "data");
	assert_int_equal(json_object_size(d), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "from")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "to")), 4);
	json_t *hashes = json_object_get(d, "hashes");
	assert_int_equal(json_array_size(hashes), 2);
	for (size_t i = 0; i < 2; i++) {
		char hex[65];
		jg_hex32(lost[i], hex);
		assert_string_equal(json_string_value(json_array_get(hashes, i)), hex);
	}
	json_decref(e);
	e = entry_get(f, 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "data"), "i")), 5);
	json_decref(e);
	expect_verified(f, 5);
	/* it carries on (the fast path again) and so does the other replica */
	assert_int_equal(append(&f->w[0], 6), 0);
	assert_int_equal(append(&f->w[1], 7), 0);
	assert_int_equal(append(&f->w[0], 8), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(jg_audit_healthy(f->w[i].audit, NULL, 0), 0);
	expect_verified(f, 8);
	expect_cli_check(f, 8);
}

/*
 * Only the writer's newest batch is lost (the usual case: one commit in
 * flight when the primary died): its verified chain had not re-read it, but
 * the writer saw it committed, so the loss is recorded all the same.
 */
static void
test_audit_pg_failover_lost_newest_batch_is_recorded(void **state)
{
	struct fixture *f = *state;
	char head2[1024], hex[65];
	uint8_t lost[32];

	for (int i = 0; i < 2; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	head_save(f, head2, sizeof(head2));
	append_receipt(&f->w[0], 2, lost);
	drop_to(f, 2, head2);
	assert_int_equal(append(&f->w[0], 3), 0);
	json_t *e = entry_get(f, 2);
	json_t *d = json_object_get(e, "data");
	assert_string_equal(json_string_value(json_object_get(e, "type")),
			    "audit.unconfirmed_dropped");
	assert_int_equal(json_integer_value(json_object_get(d, "from")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "to")), 2);
	jg_hex32(lost, hex);
	assert_int_equal(json_array_size(json_object_get(d, "hashes")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "hashes"), 0)),
			    hex);
	json_decref(e);
	assert_int_equal(jg_audit_healthy(f->w[0].audit, NULL, 0), 0);
	expect_verified(f, 4);
	expect_cli_check(f, 4);
}

/* After the loss, the writer's verified chain is (still) ahead: the append is refused. */
static void
expect_fork(struct fixture *f, uint64_t size_after, const char *why_part)
{
	uint64_t size = 0;
	char why[400] = "";
	assert_int_equal(append(&f->w[0], 99), JG_EUNAVAIL);
	assert_int_equal(jg_audit_healthy(f->w[0].audit, why, sizeof(why)), JG_EVERIFY);
	if (strstr(why, why_part) == NULL)
		fail_msg("broken because \"%s\", expected \"%s\"", why, why_part);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, size_after); /* nothing appended */
}

/*
 * Writer 0 appends 5 entries, the head at 3 saved in head3: what a failover
 * that loses entries 3 and 4 (drop_to(f, 3, head3)) starts from.
 */
static void
five_entries_head3_saved(struct fixture *f, char *head3, size_t len)
{
	for (int i = 0; i < 3; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	head_save(f, head3, len);
	for (int i = 3; i < 5; i++)
		assert_int_equal(append(&f->w[0], i), 0);
}

/* The same, then writer `by` makes a checkpoint of all 5: a loss under a checkpoint. */
static void
five_entries_checkpointed_by(struct fixture *f, int by, char *head3, size_t len)
{
	uint64_t cp = 0;

	five_entries_head3_saved(f, head3, len);
	assert_int_equal(jg_audit_checkpoint(f->w[by].audit, NULL, &cp), 0);
	assert_int_equal(cp, 5);
}

/* A checkpoint in the database covers a lost entry (made by the other replica): a fork. */
static void
test_audit_pg_failover_loss_under_a_stored_checkpoint_fails_closed(void **state)
{
	struct fixture *f = *state;
	char head3[1024];

	five_entries_checkpointed_by(f, 1, head3, sizeof(head3));
	drop_to(f, 3, head3);
	expect_fork(f, 3, "a checkpoint covers 5 entries but the log holds 3");
}

/* A checkpoint this replica made covers a lost entry, though the database lost it too. */
static void
test_audit_pg_failover_loss_under_its_own_checkpoint_fails_closed(void **state)
{
	struct fixture *f = *state;
	char head3[1024];

	five_entries_checkpointed_by(f, 0, head3, sizeof(head3));
	pgdb_must_in(f->db, "BEGIN; SET LOCAL session_replication_role = replica;"
			    "DELETE FROM audit_checkpoints; COMMIT;");
	drop_to(f, 3, head3);
	expect_fork(f, 3, "a checkpoint covers 5 entries but the log holds 3");
}

/*
 * The database's chain is shorter but not a prefix: its entry 2 is another
 * one (appended by another replica, started after the loss, before this
 * one came back).  A fork.
 */
static void
test_audit_pg_failover_other_entry_at_the_prefix_fails_closed(void **state)
{
	struct fixture *f = *state;
	char head2[1024];

	for (int i = 0; i < 2; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	head_save(f, head2, sizeof(head2));
	for (int i = 2; i < 5; i++)
		assert_int_equal(append(&f->w[0], i), 0);
	drop_to(f, 2, head2);
	/* a replica started after the loss (one that had read entries 2-4 fails closed itself) */
	jg_audit_free(f->w[1].audit);
	jg_store_close(f->w[1].store);
	writer_start(f, &f->w[1]);
	assert_int_equal(append(&f->w[1], 20), 0); /* entry 2, not the one writer 0 saw */
	expect_verified(f, 3);
	expect_fork(f, 3, "the database's entry 2 is not the one this replica saw committed");
}

/*
 * Two replicas: the second read and verified entries 3 and 4 (its
 * background check), the failover lost them, and the first replica
 * recorded the loss and appended after it.  The second's verified chain is
 * no longer the log's, and it cannot tell that from a rewrite: its next
 * append fails closed (nothing written) while the log verifies and the
 * first replica carries on.  A restart - which verifies the database's log
 * afresh - brings it back (docs/operations.md, "Failover").
 */
static void
test_audit_pg_failover_second_replica_that_read_the_loss_fails_closed(void **state)
{
	struct fixture *f = *state;
	char head3[1024], why[400] = "";
	uint64_t size = 0;

	five_entries_head3_saved(f, head3, sizeof(head3));
	assert_int_equal(jg_audit_check(f->w[1].audit, NULL), 0); /* it has seen 0-4 */
	drop_to(f, 3, head3);
	assert_int_equal(append(&f->w[0], 5), 0); /* the loss recorded as entry 3, then 4 */
	json_t *e = entry_get(f, 3);
	assert_string_equal(json_string_value(json_object_get(e, "type")),
			    "audit.unconfirmed_dropped");
	json_decref(e);

	assert_int_equal(append(&f->w[1], 6), JG_EUNAVAIL);
	assert_int_equal(jg_audit_healthy(f->w[1].audit, why, sizeof(why)), JG_EVERIFY);
	if (strstr(why, "entry 4") == NULL)
		fail_msg("broken because \"%s\", expected it to name entry 4", why);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(jg_audit_healthy(f->w[0].audit, NULL, 0), 0);
	assert_int_equal(append(&f->w[0], 7), 0);
	expect_verified(f, 6);

	/* restarted, it verifies the database's log and appends again */
	jg_audit_free(f->w[1].audit);
	jg_store_close(f->w[1].store);
	writer_start(f, &f->w[1]);
	assert_int_equal(append(&f->w[1], 8), 0);
	assert_int_equal(jg_audit_healthy(f->w[1].audit, NULL, 0), 0);
	expect_verified(f, 7);
	expect_cli_check(f, 7);
}

/* A job whose connection the server ends mid-batch: the batch fails, nothing of it stays. */
static int
end_own_backend_fn(struct jg_audit_tx *tx, void *ctx)
{
	(void)ctx;
	(void)jg_store_exec(jg_audit_tx_conn(tx), "SELECT pg_terminate_backend(pg_backend_pid())");
	return 0;
}

/*
 * The batch that was to record the loss fails (its connection ended), and
 * before this replica tries again another replica - started after the loss,
 * so it never saw the lost entries - appends at the lost position.  The
 * loss can no longer be recorded where it happened: the next append fails
 * closed, naming that entry, and writes nothing (a record further on would
 * not be at its `from`, docs/audit-format.md).
 */
static void
test_audit_pg_failover_loss_record_overtaken_fails_closed(void **state)
{
	struct fixture *f = *state;
	char head3[1024], why[400] = "";
	uint64_t size = 0;

	five_entries_head3_saved(f, head3, sizeof(head3));
	drop_to(f, 3, head3);
	assert_int_equal(jg_audit_run(f->w[0].audit, end_own_backend_fn, NULL), JG_EUNAVAIL);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 3); /* the record went with the batch */

	jg_audit_free(f->w[1].audit);
	jg_store_close(f->w[1].store);
	writer_start(f, &f->w[1]);
	assert_int_equal(append(&f->w[1], 20), 0); /* entry 3 */

	assert_int_equal(append(&f->w[0], 21), JG_EUNAVAIL);
	assert_int_equal(jg_audit_healthy(f->w[0].audit, why, sizeof(why)), JG_EVERIFY);
	if (strstr(why, "another entry took their position first") == NULL)
		fail_msg("broken because \"%s\"", why);
	assert_int_equal(jg_audit_size(f->owner, &size), 0);
	assert_int_equal(size, 4);
	expect_verified(f, 4);
}

int
main(int argc, char **argv)
{
	(void)argc;
	pgdb_init("test_audit_pg", argv);
	const char *slash = strrchr(argv[0], '/');
	if (slash != NULL)
		snprintf(jitgate_bin, sizeof(jitgate_bin), "%.*s/../jitgate",
			 (int)(slash - argv[0]), argv[0]);
	else
		snprintf(jitgate_bin, sizeof(jitgate_bin), "../jitgate");
#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
	const struct CMUnitTest tests[] = {
	    TEST(test_audit_pg_two_writers_one_chain),
	    TEST(test_audit_pg_ts_never_behind_the_head),
	    TEST(test_audit_pg_batches_wait_for_the_head_lock),
	    TEST(test_audit_pg_edited_entry_of_another_writer_refuses_the_append),
	    TEST(test_audit_pg_edited_newest_entry_refuses_the_append),
	    TEST(test_audit_pg_writer_survives_a_lost_connection),
	    TEST(test_audit_pg_interleaved_writers_fast_and_careful),
	    TEST(test_audit_pg_failing_statement_rolls_back_the_whole_pipeline),
	    TEST(test_audit_pg_fast_path_catches_an_edit_of_its_previous_batch),
	    TEST(test_audit_pg_failover_lost_unconfirmed_entries_are_recorded),
	    TEST(test_audit_pg_failover_lost_newest_batch_is_recorded),
	    TEST(test_audit_pg_failover_loss_under_a_stored_checkpoint_fails_closed),
	    TEST(test_audit_pg_failover_loss_under_its_own_checkpoint_fails_closed),
	    TEST(test_audit_pg_failover_other_entry_at_the_prefix_fails_closed),
	    TEST(test_audit_pg_failover_second_replica_that_read_the_loss_fails_closed),
	    TEST(test_audit_pg_failover_loss_record_overtaken_fails_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
