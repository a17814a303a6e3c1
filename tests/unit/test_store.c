/*
 * test_store.c - the store's file-level guarantees: a new database file is
 * private (0600); a backup is a consistent copy in a new file that never
 * overwrites one; a restore's exclusive lock and an open store exclude each
 * other; a database that cannot be written is reported as such (checked as
 * an unprivileged user: root ignores file modes); and
 * jg_store_data_version() moves on a connection exactly when another
 * connection commits; jg_store_exec and jg_stmt_run report what happened;
 * a pipeline commits all of its statements or none, as on PostgreSQL; a
 * read batch means what it means there (store_batch.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "store_batch.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	char db[128];
	char copy[128];
	struct jg_store *store;
};

static void
exec_sql(struct jg_store *store, const char *sql)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, sql, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(store, conn);
}

static int64_t
count_rows(struct jg_store *store)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, "SELECT count(*) FROM t", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	int64_t n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(store, conn);
	return n;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->root, sizeof(f->root), "/tmp/jg-store-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	snprintf(f->copy, sizeof(f->copy), "%s/copy.db", f->root);
	assert_int_equal(jg_store_open(f->db, &f->store, err, sizeof(err)), 0);
	exec_sql(f->store, "CREATE TABLE t (x INTEGER)");
	exec_sql(f->store, "INSERT INTO t VALUES (1), (2), (3)");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static void
new_database_is_private(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void
backup_copies_and_never_overwrites(void **state)
{
	struct fixture *f = *state;
	struct jg_store *copy = NULL;
	struct stat st;
	char err[256];

	assert_int_equal(jg_store_backup(f->store, f->copy, err, sizeof(err)), 0);
	assert_int_equal(stat(f->copy, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	exec_sql(f->store, "INSERT INTO t VALUES (4)"); /* after the copy: not in it */
	assert_int_equal(jg_store_backup(f->store, f->copy, err, sizeof(err)), JG_ECONFLICT);
	assert_non_null(strstr(err, "refusing to overwrite"));
	assert_int_equal(jg_store_open(f->copy, &copy, err, sizeof(err)), 0);
	assert_int_equal(count_rows(copy), 3);
	jg_store_close(copy);
	assert_int_equal(jg_store_self_contained(f->copy, err, sizeof(err)), 0);
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", f->copy);
	assert_int_not_equal(access(wal, F_OK), 0);
}

static void
backup_file_reads_a_closed_copy(void **state)
{
	struct fixture *f = *state;
	char again[160], err[256];
	struct jg_store *s = NULL;

	assert_int_equal(jg_store_backup(f->store, f->copy, err, sizeof(err)), 0);
	snprintf(again, sizeof(again), "%s/again.db", f->root);
	assert_int_equal(jg_store_backup_file(f->copy, again, err, sizeof(err)), 0);
	assert_int_equal(jg_store_open(again, &s, err, sizeof(err)), 0);
	assert_int_equal(count_rows(s), 3);
	jg_store_close(s);
	snprintf(again, sizeof(again), "%s/missing.db", f->root);
	assert_int_equal(jg_store_backup_file(again, f->copy, err, sizeof(err)), JG_ESTORE);
}

static void
exclusive_lock_and_open_store_exclude_each_other(void **state)
{
	struct fixture *f = *state;
	struct jg_store *other = NULL;
	char err[256];
	int fd = -1;

	/* the store of this fixture is open: a restore must not get the file */
	assert_int_equal(jg_store_lock_exclusive(f->db, &fd, err, sizeof(err)), JG_EUNAVAIL);
	assert_non_null(strstr(err, "in use by a jitgate process"));
	jg_store_close(f->store);
	f->store = NULL;
	assert_int_equal(jg_store_lock_exclusive(f->db, &fd, err, sizeof(err)), 0);
	/* and while a restore holds it, nothing opens the store */
	assert_int_equal(jg_store_open(f->db, &other, err, sizeof(err)), JG_ESTORE);
	assert_non_null(strstr(err, "locked by a restore in progress"));
	close(fd);
	assert_int_equal(jg_store_open(f->db, &f->store, err, sizeof(err)), 0);
}

static void
writable_store_is_reported_writable(void **state)
{
	struct fixture *f = *state;
	char err[256];
	assert_int_equal(jg_store_writable(f->store, err, sizeof(err)), 0);
	assert_int_equal(count_rows(f->store), 3); /* the check wrote nothing */
}

/* What an open and jg_store_writable() said, from a child process. */
struct verdict {
	int open_rc, writable_rc;
	char err[512];
};

/*
 * Opens the fixture's database in a child process as an unprivileged user
 * (uid and gid 65534 when the test runs as root, which file modes do not
 * stop; as itself otherwise) and asks whether it can be written.
 */
static struct verdict
writable_as_nobody(const struct fixture *f)
{
	struct verdict v = {.open_rc = 1, .writable_rc = 1};
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct jg_store *s = NULL;
		close(fds[0]);
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
				       setuid(65534) != 0 || geteuid() != 65534))
			_exit(2);
		v.open_rc = jg_store_open(f->db, &s, v.err, sizeof(v.err));
		if (v.open_rc == 0)
			v.writable_rc = jg_store_writable(s, v.err, sizeof(v.err));
		jg_store_close(s);
		_exit(write(fds[1], &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 3);
	}
	close(fds[1]);
	ssize_t got = read(fds[0], &v, sizeof(v));
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof(v))
		fail_msg("the unprivileged child failed (status %d)", status);
	v.err[sizeof(v.err) - 1] = '\0';
	return v;
}

static int
exists(const char *db, const char *suffix)
{
	char path[160];
	snprintf(path, sizeof(path), "%s%s", db, suffix);
	return access(path, F_OK) == 0;
}

/*
 * Back to the start of a case: the directory and the database writable, and
 * no -wal or -shm (an open and a clean close by root checkpoints and removes
 * them); then everything is given to uid 65534 with the file mode asked.
 */
static void
settle(const struct fixture *f, mode_t file_mode)
{
	struct jg_store *s = NULL;
	char err[256];
	assert_int_equal(chmod(f->root, 0700), 0);
	assert_int_equal(chmod(f->db, 0600), 0);
	assert_int_equal(jg_store_open(f->db, &s, err, sizeof(err)), 0);
	jg_store_close(s);
	assert_false(exists(f->db, "-wal"));
	assert_false(exists(f->db, "-shm"));
	if (geteuid() == 0) {
		assert_int_equal(chown(f->root, 65534, 65534), 0);
		assert_int_equal(chown(f->db, 65534, 65534), 0);
	}
	assert_int_equal(chmod(f->db, file_mode), 0);
}

/*
 * A database that cannot be written is reported as such (JG_EDENIED, with
 * the file named and what to check), not found out later as 503s:
 * - the file read-only: SQLite opens it read-only without a word;
 * - a -wal left read-only (written by another user): the open works, only a
 *   write transaction fails;
 * - and a directory where no -wal can be created fails the open itself.
 * Writable again, it is writable.
 */
static void
unwritable_store_is_denied(void **state)
{
	struct fixture *f = *state;
	struct verdict v;
	char wal[160];

	jg_store_close(f->store);
	f->store = NULL;
	snprintf(wal, sizeof(wal), "%s-wal", f->db);

	settle(f, 0444);
	v = writable_as_nobody(f);
	if (v.open_rc != 0)
		fail_msg("open: %d %s", v.open_rc, v.err);
	assert_int_equal(v.writable_rc, JG_EDENIED);
	assert_non_null(strstr(v.err, f->db));
	assert_non_null(strstr(v.err, "opened read-only"));

	settle(f, 0600);
	FILE *w = fopen(wal, "w");
	assert_non_null(w);
	assert_int_equal(fclose(w), 0);
	assert_int_equal(chmod(wal, 0444), 0);
	if (geteuid() == 0)
		assert_int_equal(chown(wal, 65534, 65534), 0);
	v = writable_as_nobody(f);
	if (v.open_rc != 0)
		fail_msg("open: %d %s", v.open_rc, v.err);
	assert_int_equal(v.writable_rc, JG_EDENIED);
	assert_non_null(strstr(v.err, f->db));
	assert_non_null(strstr(v.err, "cannot start a write transaction"));

	settle(f, 0600);
	assert_int_equal(chmod(f->root, 0500), 0);
	v = writable_as_nobody(f);
	assert_int_equal(v.open_rc, JG_ESTORE);
	assert_non_null(strstr(v.err, "writable by this user"));

	settle(f, 0600);
	v = writable_as_nobody(f);
	if (v.open_rc != 0 || v.writable_rc != 0)
		fail_msg("writable again, but: %d %d %s", v.open_rc, v.writable_rc, v.err);
	assert_int_equal(chmod(f->root, 0700), 0);
}

static int64_t
data_version(struct jg_store_conn *conn)
{
	int64_t v = -1;
	assert_int_equal(jg_store_data_version(conn, &v), 0);
	return v;
}

/* As the audit writer reads it: inside a write transaction, then commit. */
static int64_t
data_version_in_tx(struct jg_store_conn *conn)
{
	assert_int_equal(jg_store_begin(conn), 0);
	int64_t v = data_version(conn);
	assert_int_equal(jg_store_commit(conn), 0);
	return v;
}

static void
insert_on(struct jg_store_conn *conn, int64_t x)
{
	struct jg_stmt *st;
	assert_int_equal(jg_store_begin(conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, "INSERT INTO t VALUES (?)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, x), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_store_commit(conn), 0);
}

/*
 * The audit writer's verify-then-append fast path (src/audit.c verify_since)
 * trusts the entries of its own previous batch without re-reading them while
 * data_version on its connection is unchanged.  That is sound only if its own
 * commits leave the value alone and every commit by another connection moves
 * it: otherwise an edit made through another connection would go unchecked.
 */
static void
data_version_moves_only_for_other_connections(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *a, *b;

	assert_int_equal(jg_store_acquire(f->store, &a), 0);
	assert_int_equal(jg_store_acquire(f->store, &b), 0);
	assert_ptr_not_equal(a, b);

	int64_t v0 = data_version_in_tx(a);
	assert_int_equal(data_version(a), v0);
	/* A's own committed writes: unchanged, read plainly or in a transaction. */
	insert_on(a, 10);
	assert_int_equal(data_version(a), v0);
	assert_int_equal(data_version_in_tx(a), v0);
	insert_on(a, 11);
	assert_int_equal(data_version_in_tx(a), v0);
	assert_int_equal(data_version(a), v0);

	/* B's commit: A sees a new value, in a transaction ... */
	insert_on(b, 20);
	int64_t v1 = data_version_in_tx(a);
	assert_int_not_equal(v1, v0);
	assert_int_equal(data_version(a), v1); /* ... and it stays there until the next one */

	/* ... and read plainly. */
	insert_on(b, 21);
	int64_t v2 = data_version(a);
	assert_int_not_equal(v2, v1);
	assert_int_equal(data_version_in_tx(a), v2);

	/* B's value is its own business: A's commits move it, B's do not. */
	int64_t bv = data_version(b);
	insert_on(b, 22);
	assert_int_equal(data_version(b), bv);
	insert_on(a, 12);
	assert_int_not_equal(data_version_in_tx(b), bv);

	jg_store_release(f->store, a);
	jg_store_release(f->store, b);
	assert_int_equal(count_rows(f->store), 3 + 6);
}

/*
 * A statement stays what it is until jg_stmt_finish(), however many other
 * statements are prepared meanwhile: the per-connection cache evicts only
 * statements nobody holds (store.h).  Here one is half-way through its rows
 * while more distinct statements than the cache holds come and go.
 */
static void
held_statement_survives_cache_eviction(void **state)
{
	struct fixture *f = *state;
	static char texts[100][48];
	struct jg_store_conn *conn;
	struct jg_stmt *held, *st;

	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, "SELECT x FROM t ORDER BY x", &held), 0);
	assert_int_equal(jg_stmt_step(held), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(held, 0), 1);
	for (int i = 0; i < 100; i++) {
		snprintf(texts[i], sizeof(texts[i]), "SELECT %d AS evict_me", i);
		assert_int_equal(jg_stmt_prepare(conn, texts[i], &st), 0);
		assert_ptr_not_equal(st, held);
		assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st, 0), i);
		jg_stmt_finish(st);
	}
	assert_int_equal(jg_stmt_step(held), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(held, 0), 2);
	assert_int_equal(jg_stmt_step(held), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(held, 0), 3);
	assert_int_equal(jg_stmt_step(held), JG_STMT_DONE);
	jg_stmt_finish(held);
	jg_store_release(f->store, conn);
}

/*
 * When every cached statement is held, preparing another fails (JG_ESTORE,
 * with a reason) instead of evicting one in use; finishing one makes room,
 * and release finishes whatever the caller left held.
 */
static void
cache_full_of_held_statements_refuses(void **state)
{
	struct fixture *f = *state;
	static char texts[JG_STORE_STMT_CACHE + 1][48];
	struct jg_stmt *st[JG_STORE_STMT_CACHE + 1];
	struct jg_store_conn *conn;

	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	for (int i = 0; i <= JG_STORE_STMT_CACHE; i++)
		snprintf(texts[i], sizeof(texts[i]), "SELECT %d AS held", i);
	for (int i = 0; i < JG_STORE_STMT_CACHE; i++) {
		assert_int_equal(jg_stmt_prepare(conn, texts[i], &st[i]), 0);
		assert_int_equal(jg_stmt_step(st[i]), JG_STMT_ROW);
	}
	assert_int_equal(jg_stmt_prepare(conn, texts[JG_STORE_STMT_CACHE], &st[0]), JG_ESTORE);
	assert_non_null(strstr(jg_store_errmsg(conn), "statements in use at once"));
	for (int i = 0; i < JG_STORE_STMT_CACHE; i++) /* untouched: still on their row */
		assert_int_equal(jg_stmt_column_int64(st[i], 0), i);
	jg_stmt_finish(st[7]);
	assert_int_equal(jg_stmt_prepare(conn, texts[JG_STORE_STMT_CACHE], &st[7]), 0);
	assert_int_equal(jg_stmt_step(st[7]), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st[7], 0), JG_STORE_STMT_CACHE);
	jg_store_release(f->store, conn); /* nothing finished: release does it */

	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	for (int i = 0; i < JG_STORE_STMT_CACHE; i++) {
		assert_int_equal(jg_stmt_prepare(conn, texts[i + 1], &st[0]), 0);
		assert_int_equal(jg_stmt_step(st[0]), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st[0], 0), i + 1);
	}
	jg_store_release(f->store, conn);
}

/* jg_store_exec and jg_stmt_run: the results each caller used to work out for itself. */
static void
exec_and_run_report_what_happened(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *conn;
	struct jg_stmt *st;

	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_store_exec(conn, "CREATE TABLE u (k INTEGER PRIMARY KEY)"), 0);
	/* a row returned is ignored by exec: a SAVEPOINT and a SELECT are alike to it */
	assert_int_equal(jg_store_exec(conn, "SELECT count(*) FROM t"), 0);
	assert_int_equal(jg_store_exec(conn, "SELECT nothing FROM nowhere"), JG_ESTORE);

	assert_int_equal(jg_stmt_prepare(conn, "INSERT INTO u (k) VALUES (?)", &st), 0);
	jg_stmt_bind_int64(st, 1, 7);
	assert_int_equal(jg_stmt_run(st), 0);
	/* finished: the same text prepares again, and a duplicate key is a conflict */
	assert_int_equal(jg_stmt_prepare(conn, "INSERT INTO u (k) VALUES (?)", &st), 0);
	jg_stmt_bind_int64(st, 1, 7);
	assert_int_equal(jg_stmt_run(st), JG_ECONFLICT);
	/* run expects no row: a query is a caller's mistake, reported as a store error */
	assert_int_equal(jg_stmt_prepare(conn, "SELECT k FROM u", &st), 0);
	assert_int_equal(jg_stmt_run(st), JG_ESTORE);
	assert_int_equal(jg_stmt_prepare(conn, "SELECT count(*) FROM u", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	jg_stmt_finish(st);
	jg_store_release(f->store, conn);
}

/* A pipeline on SQLite means what it means on PostgreSQL: all of it, or none of it. */
static void
pipeline_commits_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	static const char ins[] = "INSERT INTO t (x) VALUES (?)";
	static const char guard[] = "UPDATE p SET v = CASE WHEN v = ? THEN v END";
	struct jg_store_conn *conn;
	struct jg_stmt *st;

	exec_sql(f->store, "CREATE TABLE p (v INTEGER NOT NULL)");
	exec_sql(f->store, "INSERT INTO p VALUES (1)");
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, ins, &st), 0);
	assert_int_equal(jg_stmt_queue(st), JG_EINVAL); /* outside a pipeline */
	jg_stmt_finish(st);
	for (int want = 1; want <= 2; want++) {
		assert_int_equal(jg_store_pipeline_begin(conn), 0);
		assert_int_equal(jg_store_pipeline_begin(conn), JG_EINVAL); /* one at a time */
		for (int i = 0; i < 2; i++) {
			assert_int_equal(jg_stmt_prepare(conn, ins, &st), 0);
			jg_stmt_bind_int64(st, 1, 10 * want + i);
			assert_int_equal(jg_stmt_queue(st), 0);
			jg_stmt_finish(st);
		}
		assert_int_equal(jg_stmt_prepare(conn, guard, &st), 0);
		jg_stmt_bind_int64(st, 1, want);
		/* SQLite runs it at once: the failure shows here already, and again at the commit
		 */
		assert_int_equal(jg_stmt_queue(st), want == 1 ? 0 : JG_ECONFLICT);
		jg_stmt_finish(st);
		assert_int_equal(jg_store_pipeline_commit(conn), want == 1 ? 0 : JG_ECONFLICT);
		assert_int_equal(jg_store_in_transaction(conn), 0);
	}
	jg_store_release(f->store, conn);
	assert_int_equal(count_rows(f->store), 3 + 2); /* 10 and 11, not 20 and 21 */
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_store_pipeline_begin(conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, ins, &st), 0);
	jg_stmt_bind_int64(st, 1, 99);
	assert_int_equal(jg_stmt_queue(st), 0);
	jg_stmt_finish(st);
	jg_store_pipeline_abort(conn);
	assert_int_equal(jg_store_in_transaction(conn), 0);
	/* continued: in an open write transaction, whose earlier writes share its fate */
	assert_int_equal(jg_store_pipeline_continue(conn), JG_EINVAL); /* none open */
	for (int want = 1; want <= 2; want++) {
		assert_int_equal(jg_store_begin(conn), 0);
		assert_int_equal(jg_stmt_prepare(conn, ins, &st), 0);
		jg_stmt_bind_int64(st, 1, 30 + want);
		assert_int_equal(jg_stmt_run(st), 0); /* before the pipeline */
		assert_int_equal(jg_store_pipeline_continue(conn), 0);
		assert_int_equal(jg_store_pipeline_continue(conn), JG_EINVAL); /* one at a time */
		assert_int_equal(jg_stmt_prepare(conn, guard, &st), 0);
		jg_stmt_bind_int64(st, 1, want);
		assert_int_equal(jg_stmt_queue(st), want == 1 ? 0 : JG_ECONFLICT);
		jg_stmt_finish(st);
		assert_int_equal(jg_store_pipeline_commit(conn), want == 1 ? 0 : JG_ECONFLICT);
		assert_int_equal(jg_store_in_transaction(conn), 0);
	}
	jg_store_release(f->store, conn);
	assert_int_equal(count_rows(f->store), 6); /* 31 stays, 32 went with the failed pipeline */
}

/* A read batch on SQLite: the cases of store_batch.h, as on PostgreSQL. */
static void
read_batch_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	store_batch_cases(f->store);
}

/* SQLite: one serving process per file, so every name is held, and stays held. */
static void
leader_on_sqlite_is_always_held(void **state)
{
	struct fixture *f = *state;
	struct jg_store_leader *a, *b;
	bool held = false;

	assert_int_equal(jg_store_leader_new(f->store, "checkpoints", &a), 0);
	assert_int_equal(jg_store_leader_new(f->store, "checkpoints", &b), 0);
	assert_int_equal(jg_store_leader_poll(a, &held), 0);
	assert_true(held);
	held = false;
	assert_int_equal(jg_store_leader_poll(b, &held), 0);
	assert_true(held);
	assert_int_equal(jg_store_leader_poll(NULL, &held), JG_EINVAL);
	assert_false(held);
	jg_store_leader_free(a);
	jg_store_leader_free(b);
	jg_store_leader_free(NULL);
}

/* What jg_store_leaders() finds by name: a leader's state after each poll. */
static int
leader_state(const char *name, bool *held)
{
	struct jg_store_leader_state all[8];
	size_t n = jg_store_leaders(all, 8);
	int found = 0;

	for (size_t i = 0; i < n && i < 8; i++)
		if (strcmp(all[i].name, name) == 0) {
			*held = all[i].held;
			found++;
		}
	return found;
}

/*
 * /metrics' view of who leads: each leader by name, not held before its first
 * poll, held after it; gone once freed.  Names are bounded.
 */
static void
leaders_lists_each_with_its_last_poll(void **state)
{
	struct fixture *f = *state;
	struct jg_store_leader *a, *b, *bad = NULL;
	char longname[JG_STORE_LEADER_NAME_MAX + 2];
	bool held = true;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(jg_store_leader_new(f->store, longname, &bad), JG_EINVAL);
	assert_null(bad);
	assert_int_equal(jg_store_leader_new(f->store, "", &bad), JG_EINVAL);
	assert_int_equal(jg_store_leader_new(f->store, "sweeper", &a), 0);
	assert_int_equal(jg_store_leader_new(f->store, "audit-stream", &b), 0);
	assert_int_equal(leader_state("sweeper", &held), 1);
	assert_false(held);
	assert_int_equal(jg_store_leader_poll(a, &held), 0);
	held = false;
	assert_int_equal(leader_state("sweeper", &held), 1);
	assert_true(held);
	assert_int_equal(leader_state("audit-stream", &held), 1);
	assert_false(held);
	/* a caller's array smaller than the list: counted, not overrun */
	struct jg_store_leader_state one[1];
	assert_true(jg_store_leaders(one, 1) >= 2);
	assert_true(jg_store_leaders(NULL, 0) >= 2);
	jg_store_leader_free(a);
	assert_int_equal(leader_state("sweeper", &held), 0);
	assert_int_equal(leader_state("audit-stream", &held), 1);
	jg_store_leader_free(b);
	assert_int_equal(leader_state("audit-stream", &held), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(new_database_is_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(backup_copies_and_never_overwrites, setup, teardown),
	    cmocka_unit_test_setup_teardown(backup_file_reads_a_closed_copy, setup, teardown),
	    cmocka_unit_test_setup_teardown(exclusive_lock_and_open_store_exclude_each_other, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(writable_store_is_reported_writable, setup, teardown),
	    cmocka_unit_test_setup_teardown(unwritable_store_is_denied, setup, teardown),
	    cmocka_unit_test_setup_teardown(data_version_moves_only_for_other_connections, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(held_statement_survives_cache_eviction, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(cache_full_of_held_statements_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(exec_and_run_report_what_happened, setup, teardown),
	    cmocka_unit_test_setup_teardown(leader_on_sqlite_is_always_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(pipeline_commits_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(read_batch_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(leaders_lists_each_with_its_last_poll, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
