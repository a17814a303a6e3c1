/*
 * test_migrate.c - migrations apply once, in order, atomically, and refuse
 * a schema that does not match the files (changed, missing, misnamed).
 *
 * Each test gets a fresh temporary directory with a migrations root it
 * writes itself (ROOT/sqlite/ or ROOT/postgres/: the store's engine picks
 * the folder) and a fresh database: a real SQLite file here, a new database
 * on a real PostgreSQL server when built as test_migrate_pg (which defines
 * JG_TEST_PG and includes this file, and adds the PostgreSQL-only cases).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "jitgate/store.h"
#include "unit_fs.h"

#ifdef JG_TEST_PG
#include "pgdb.h"
#define ENGINE "postgres"
#else
#define ENGINE "sqlite"
#endif

struct fixture {
	char root[64];
	char mroot[96]; /* the migrations root given to jg_migrate_* */
	char dir[128];	/* mroot/<engine>: where the files go */
	char db[128];	/* SQLite: the file; PostgreSQL: the database's name */
	struct jg_store *store;
};

static void
write_file(struct fixture *f, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->root, sizeof(f->root), "/tmp/jg-migrate-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->mroot, sizeof(f->mroot), "%s/migrations", f->root);
	snprintf(f->dir, sizeof(f->dir), "%s/" ENGINE, f->mroot);
	assert_int_equal(mkdir(f->mroot, 0700), 0);
	assert_int_equal(mkdir(f->dir, 0700), 0);
#ifdef JG_TEST_PG
	char url[256];
	pgdb_create(f->db, sizeof(f->db), "jitgate");
	pgdb_url(url, sizeof(url), "jitgate", f->db);
	if (jg_store_open(url, &f->store, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", url, err);
#else
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	assert_int_equal(jg_store_open(f->db, &f->store, err, sizeof(err)), 0);
#endif
	/* 0002 uses the table 0001 creates: applying out of order would fail. */
	write_file(f, "0001_people.sql",
		   "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);");
	write_file(f, "0002_seed.sql",
		   "INSERT INTO people (id, name) VALUES (1, 'ada');\n"
		   "-- a comment at the end\n");
	write_file(f, "README.txt", "not a migration");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_store_close(f->store);
#ifdef JG_TEST_PG
	pgdb_drop(f->db);
#endif
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static int64_t
query_int(struct jg_store *store, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t v = -1; /* also when the query fails (a table that does not exist) */
	assert_int_equal(jg_store_acquire(store, &c), 0);
	if (jg_stmt_prepare(c, sql, &st) == 0) {
		if (jg_stmt_step(st) == JG_STMT_ROW)
			v = jg_stmt_column_int64(st, 0);
		jg_stmt_finish(st);
	}
	jg_store_release(store, c);
	return v;
}

static void
test_migrate_apply_in_order_once(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int applied = -1, pending = -1;

	assert_int_equal(jg_migrate_status(f->store, f->mroot, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 2);
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), 1);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM schema_migrations"), 2);
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM schema_migrations WHERE version IN (1, 2)"),
	    2);
	/* Again: nothing to do, nothing duplicated. */
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), 1);
	assert_int_equal(jg_migrate_status(f->store, f->mroot, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 0);
	/* A new file applies alone. */
	write_file(f, "0003_more.sql", "INSERT INTO people (id, name) VALUES (2, 'grace');");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), 2);
}

static void
test_migrate_apply_failed_migration_leaves_no_trace(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int applied = -1;

	write_file(f, "0003_broken.sql",
		   "INSERT INTO people (id, name) VALUES (3, 'x');\n"
		   "INSERT INTO nowhere VALUES (1);");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)),
			 JG_ESTORE);
	assert_non_null(strstr(err, "0003_broken.sql"));
#ifdef JG_TEST_PG
	assert_non_null(strstr(err, "relation \"nowhere\" does not exist"));
#else
	assert_non_null(strstr(err, "no such table: nowhere"));
#endif
	/* 0001 and 0002 stay applied; 0003's first insert was rolled back. */
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM schema_migrations"), 2);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), 1);
}

static void
test_migrate_refuses_changed_file(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int applied;

	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	write_file(f, "0001_people.sql", "CREATE TABLE people (id INTEGER PRIMARY KEY);");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)),
			 JG_ECONFLICT);
	assert_non_null(strstr(err, "0001_people.sql changed after it was applied"));
}

static void
test_migrate_refuses_unknown_applied_version(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	int applied, pending;

	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/0002_seed.sql", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(jg_migrate_status(f->store, f->mroot, &pending, err, sizeof(err)),
			 JG_ECONFLICT);
	assert_non_null(
	    strstr(err, "migration 0002 (0002_seed.sql) that this jitgate does not have"));
}

static void
test_migrate_refuses_bad_names_and_duplicates(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	int applied;

	write_file(f, "3_oops.sql", "SELECT 1;");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)),
			 JG_EINVAL);
	assert_non_null(strstr(err, "3_oops.sql: migration files must be named NNNN_name.sql"));
	snprintf(path, sizeof(path), "%s/3_oops.sql", f->dir);
	unlink(path);
	write_file(f, "0002_again.sql", "SELECT 1;");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)),
			 JG_EINVAL);
	assert_non_null(strstr(err, "share version 0002"));
	/* Nothing was applied while the directory was invalid. */
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), -1);
}

static void
test_migrate_status_writes_nothing(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int pending = -1;

	/* a database never migrated: everything pending, and no table made to say so */
	assert_int_equal(jg_migrate_status(f->store, f->mroot, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 2);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM schema_migrations"), -1);
}

static void
test_migrate_reads_only_its_engines_folder(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	int applied = -1;

	/* the other engine's files, however broken, are not this store's */
	snprintf(path, sizeof(path), "%s/%s", f->mroot, ENGINE[0] == 's' ? "postgres" : "sqlite");
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/0001_other.sql");
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs("THIS IS NOT SQL;", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 2);
	/* and a root without this engine's folder says where it looked */
	snprintf(path, sizeof(path), "%s/nothing", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(jg_migrate_apply(f->store, path, &applied, err, sizeof(err)), JG_EIO);
	assert_non_null(strstr(err, "/nothing/" ENGINE ": cannot read migrations directory"));
}

/*
 * A set of migrations keeps its own books: on PostgreSQL the telemetry set
 * and the state migrations share a database (both number from 0001; the
 * set's files are recorded in telemetry_schema_migrations), on SQLite a
 * database holds one set, in schema_migrations.  A set jitgate does not
 * have is refused.
 */
static void
test_migrate_sets_keep_their_own_books(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	int applied = -1, pending = -1;

	snprintf(path, sizeof(path), "%s/telemetry", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file(f, "telemetry/0001_events.sql", "CREATE TABLE events (id INTEGER PRIMARY KEY);");
	assert_int_equal(
	    jg_migrate_apply_set(f->store, f->mroot, "other", &applied, err, sizeof(err)),
	    JG_EINVAL);
	assert_non_null(strstr(err, "no migration set 'other'"));
#ifdef JG_TEST_PG
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 2);
	if (jg_migrate_apply_set(f->store, f->mroot, "telemetry", &applied, err, sizeof(err)) != 0)
		fail_msg("telemetry set: %s", err);
	assert_int_equal(applied, 1);
	assert_int_equal(jg_migrate_status(f->store, f->mroot, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM schema_migrations"), 2);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM telemetry_schema_migrations "
					     "WHERE version = 1 AND name = '0001_events.sql'"),
			 1);
#else
	if (jg_migrate_apply_set(f->store, f->mroot, "telemetry", &applied, err, sizeof(err)) != 0)
		fail_msg("telemetry set: %s", err);
	assert_int_equal(applied, 1);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM schema_migrations "
					     "WHERE version = 1 AND name = '0001_events.sql'"),
			 1);
#endif
	assert_int_equal(
	    jg_migrate_status_set(f->store, f->mroot, "telemetry", &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM events"), 0);
}

#ifdef JG_TEST_PG
/* ---- PostgreSQL only -------------------------------------------------------- */

struct bg_apply {
	struct jg_store *store;
	const char *root;
	int rc, applied;
	char err[512];
};

static void *
bg_apply_main(void *arg)
{
	struct bg_apply *b = arg;
	b->rc = jg_migrate_apply(b->store, b->root, &b->applied, b->err, sizeof(b->err));
	return NULL;
}

static void
lock_sql(struct jg_store_conn *c, const char *fn)
{
	char sql[128], err[256];
	snprintf(sql, sizeof(sql), "SELECT %s(%lld)", fn, (long long)JG_MIGRATE_LOCK_KEY);
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
}

/* A run waits for the advisory lock another run holds, then applies what is left. */
static void
test_migrate_pg_runs_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct jg_store *other;
	struct jg_store_conn *holder;
	char url[256], err[512] = "";
	int pending = -1;

	pgdb_url(url, sizeof(url), "jitgate", f->db);
	assert_int_equal(jg_store_open(url, &other, err, sizeof(err)), 0);
	assert_int_equal(jg_store_acquire(other, &holder), 0);
	lock_sql(holder, "pg_advisory_lock");

	struct bg_apply b = {.store = f->store, .root = f->mroot, .rc = -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bg_apply_main, &b), 0);
	usleep(400 * 1000);
	assert_int_equal(jg_migrate_status(f->store, f->mroot, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 2); /* still waiting for the lock */
	lock_sql(holder, "pg_advisory_unlock");
	assert_int_equal(pthread_join(t, NULL), 0);
	if (b.rc != 0)
		fail_msg("apply: %s", b.err);
	assert_int_equal(b.applied, 2);
	/* and it let go of the lock: another session takes it at once (the key, spelled out) */
	_Static_assert(JG_MIGRATE_LOCK_KEY == INT64_C(7667132544913470049), "the lock key");
	assert_int_equal(query_int(other,
				   "SELECT CASE WHEN pg_try_advisory_lock(7667132544913470049) "
				   "THEN 1 ELSE 0 END"),
			 1);
	jg_store_release(other, holder);
	jg_store_close(other);
}

/* Runs sql (a literal) through a prepared statement; the step's result. */
static int
step_sql(struct jg_store *store, const char *sql, char *msg, size_t msglen)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(store, &c), 0);
	int rc = jg_stmt_prepare(c, sql, &st);
	if (rc == 0) {
		rc = jg_stmt_step(st);
		jg_stmt_finish(st);
	}
	snprintf(msg, msglen, "%s", jg_store_errmsg(c));
	jg_store_release(store, c);
	return rc;
}

static void
expect_step(struct jg_store *store, const char *sql, int want, const char *text)
{
	char msg[256] = "";
	int rc = step_sql(store, sql, msg, sizeof(msg));
	if (rc != want || (text != NULL && strstr(msg, text) == NULL))
		fail_msg("%s: got %d (%s), wanted %d (%s)", sql, rc, msg, want, text ? text : "");
}

static void
expect_script(struct jg_store *store, const char *sql, int want, const char *text)
{
	struct jg_store_conn *c;
	char err[256] = "";
	assert_int_equal(jg_store_acquire(store, &c), 0);
	int rc = jg_store_exec_script(c, sql, err, sizeof(err));
	jg_store_release(store, c);
	if (rc != want || (text != NULL && strstr(err, text) == NULL))
		fail_msg("%s: got %d (%s), wanted %d (%s)", sql, rc, err, want, text ? text : "");
}

/*
 * The repository's migrations need the group role jitgate_serving: made by
 * the first migration when the owner may create roles, else the DBA makes
 * it first - and a migration that can do neither fails whole, saying so.
 * First in the file: the cluster is fresh, the role does not exist yet.
 */
static void
test_migrate_pg_serving_role_made_or_pre_created(void **state)
{
	struct fixture *f = *state;
	struct jg_store *owner;
	char name[64], url[256], err[512] = "";
	int applied = -1, pending = -1;
	(void)f;

	pgdb_must("DROP ROLE IF EXISTS jitgate_serving");
	pgdb_must("DROP ROLE IF EXISTS jg_unit_plain");
	pgdb_must("CREATE ROLE jg_unit_plain LOGIN NOCREATEROLE");
	pgdb_create(name, sizeof(name), "jg_unit_plain");
	pgdb_url(url, sizeof(url), "jg_unit_plain", name);
	assert_int_equal(jg_store_open(url, &owner, err, sizeof(err)), 0);
	assert_int_equal(jg_migrate_apply(owner, "migrations", &applied, err, sizeof(err)),
			 JG_ESTORE);
	assert_non_null(strstr(err, "0001_init.sql"));
	assert_non_null(
	    strstr(err, "jitgate_serving does not exist and this role may not create it"));
	assert_int_equal(jg_migrate_status(owner, "migrations", &pending, err, sizeof(err)), 0);
	assert_true(pending >= 11); /* nothing applied */

	/* the DBA's way: the role made beforehand */
	pgdb_must("CREATE ROLE jitgate_serving NOLOGIN");
	if (jg_migrate_apply(owner, "migrations", &applied, err, sizeof(err)) != 0)
		fail_msg("apply: %s", err);
	assert_int_equal(applied, pending);
	jg_store_close(owner);
	pgdb_drop(name);
	pgdb_must("DROP ROLE jitgate_serving");

	/* the owner's way: with CREATEROLE the first migration makes it */
	pgdb_must("ALTER ROLE jg_unit_plain CREATEROLE");
	pgdb_create(name, sizeof(name), "jg_unit_plain");
	pgdb_url(url, sizeof(url), "jg_unit_plain", name);
	assert_int_equal(jg_store_open(url, &owner, err, sizeof(err)), 0);
	if (jg_migrate_apply(owner, "migrations", &applied, err, sizeof(err)) != 0)
		fail_msg("apply: %s", err);
	assert_int_equal(applied, pending);
	assert_int_equal(query_int(owner, "SELECT count(*) FROM pg_roles WHERE rolname = "
					  "'jitgate_serving' AND NOT rolcanlogin"),
			 1);
	jg_store_close(owner);
	pgdb_drop(name);
}

/*
 * Append-only by privilege: through the serving role's connection (a member
 * of jitgate_serving), PostgreSQL itself refuses to change or remove an
 * audit entry, node or checkpoint, to shrink the chain head or to touch its
 * fixed column, and to create tables; ordinary tables are read and written.
 * The owner is stopped by the triggers.
 */
static void
test_migrate_pg_serving_role_privileges(void **state)
{
	struct fixture *f = *state;
	struct jg_store *owner, *serving;
	char name[64], url[256], err[512] = "";
	int pending = -1;
	(void)f;

	if (pgdb_create_migrated(name, sizeof(name), &owner, url, sizeof(url), err, sizeof(err)) !=
	    0)
		fail_msg("owner store: %s", err);
	assert_int_equal(jg_store_open(url, &serving, err, sizeof(err)), 0);

	/* serve's start-up check works as the serving role */
	assert_int_equal(jg_migrate_status(serving, "migrations", &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 0);
	/* and so does `jitgate migrate` with nothing pending (a pod's start command): it
	 * creates nothing it does not need */
	int applied = -1;
	if (jg_migrate_apply(serving, "migrations", &applied, err, sizeof(err)) != 0)
		fail_msg("migrate as the serving role, nothing pending: %s", err);
	assert_int_equal(applied, 0);

	/* entries, nodes, checkpoints: INSERT and SELECT, nothing else */
	expect_step(serving, "INSERT INTO audit_log (seq, entry) VALUES (0, '\\x7b7d')",
		    JG_STMT_DONE, NULL);
	expect_step(serving,
		    "INSERT INTO audit_nodes (level, idx, hash) VALUES "
		    "(1, 0, decode(repeat('ab', 32), 'hex'))",
		    JG_STMT_DONE, NULL);
	expect_step(serving,
		    "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (1, 'n', 1)",
		    JG_STMT_DONE, NULL);
	assert_int_equal(query_int(serving, "SELECT count(*) FROM audit_log"), 1);
	expect_step(serving, "UPDATE audit_log SET entry = '\\x5b5d' WHERE seq = 0", JG_EDENIED,
		    "permission denied for table audit_log");
	expect_step(serving, "DELETE FROM audit_log WHERE seq = 0", JG_EDENIED,
		    "permission denied for table audit_log");
	expect_script(serving, "TRUNCATE audit_log", JG_EDENIED,
		      "permission denied for table audit_log");
	expect_step(serving, "UPDATE audit_nodes SET hash = hash", JG_EDENIED,
		    "permission denied for table audit_nodes");
	expect_step(serving, "DELETE FROM audit_nodes", JG_EDENIED,
		    "permission denied for table audit_nodes");
	expect_step(serving, "UPDATE audit_checkpoints SET note = 'x'", JG_EDENIED,
		    "permission denied for table audit_checkpoints");
	expect_step(serving, "DELETE FROM audit_checkpoints", JG_EDENIED,
		    "permission denied for table audit_checkpoints");
	expect_script(serving, "TRUNCATE audit_checkpoints CASCADE", JG_EDENIED,
		      "permission denied for table audit_checkpoints");

	/* the head: its moving columns, forward only */
	expect_step(serving, "UPDATE audit_head SET size = 1, ts = 5 WHERE id = 1", JG_STMT_DONE,
		    NULL);
	expect_step(serving, "UPDATE audit_head SET size = 0 WHERE id = 1", JG_EDENIED,
		    "audit_head only moves forward");
	expect_step(serving, "UPDATE audit_head SET ts = 4 WHERE id = 1", JG_EDENIED,
		    "audit_head only moves forward");
	expect_step(
	    serving,
	    "UPDATE audit_head SET last_hash = decode(repeat('cd', 32), 'hex') WHERE id = 1",
	    JG_EDENIED, "audit_head only moves forward");
	expect_step(serving, "UPDATE audit_head SET id = 2", JG_EDENIED,
		    "permission denied for table audit_head");
	expect_step(serving, "DELETE FROM audit_head", JG_EDENIED,
		    "permission denied for table audit_head");
	assert_int_equal(query_int(serving, "SELECT size FROM audit_head"), 1);

	/* the schema is the owner's */
	expect_script(serving, "CREATE TABLE mine (x int)", JG_EDENIED,
		      "permission denied for schema public");
	expect_step(serving,
		    "INSERT INTO schema_migrations (version, name, sha256, applied_at) "
		    "VALUES (9999, 'x', 'x', 0)",
		    JG_EDENIED, "permission denied for table schema_migrations");

	/* ordinary tables: read and written */
	expect_step(serving, "INSERT INTO notify_marks (request_id, kind, at) VALUES ('r', 'k', 1)",
		    JG_STMT_DONE, NULL);
	expect_step(serving, "UPDATE notify_marks SET at = 2", JG_STMT_DONE, NULL);
	expect_step(serving, "DELETE FROM notify_marks", JG_STMT_DONE, NULL);
	expect_step(serving, "UPDATE store_probe SET n = n + 1 WHERE id = 1", JG_STMT_DONE, NULL);

	/* the owner holds every privilege; the triggers stop it (defence in depth) */
	expect_step(owner, "UPDATE audit_log SET entry = '\\x5b5d' WHERE seq = 0", JG_EDENIED,
		    "audit_log is append-only");
	expect_step(owner, "DELETE FROM audit_nodes", JG_EDENIED, "audit_nodes is append-only");
	expect_script(owner, "TRUNCATE audit_log", JG_EDENIED, "audit_log is append-only");
	expect_step(owner, "DELETE FROM audit_head", JG_EDENIED, "audit_head is append-only");
	assert_int_equal(query_int(owner, "SELECT count(*) FROM audit_log"), 1);

	jg_store_close(serving);
	jg_store_close(owner);
	pgdb_drop(name);
}
#endif

#ifndef JG_TEST_PG
/*
 * SQLite cannot alter a constraint: a migration rebuilds the table, which
 * others reference by name.  The runner turns foreign keys off for that and
 * checks them before each commit: the rebuild keeps the references, a
 * migration that leaves one dangling fails whole, and every pooled
 * connection has its foreign keys back on afterwards.
 */
static void
test_migrate_sqlite_rebuilds_a_referenced_table(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int applied = -1;

	write_file(f, "0003_pets.sql",
		   "CREATE TABLE pets (owner INTEGER NOT NULL REFERENCES people (id));\n"
		   "INSERT INTO pets (owner) VALUES (1);");
	write_file(
	    f, "0004_rebuild.sql",
	    "CREATE TABLE people_new (id INTEGER PRIMARY KEY, name TEXT CHECK (name <> ''));\n"
	    "INSERT INTO people_new SELECT id, name FROM people;\n"
	    "DROP TABLE people;\n"
	    "ALTER TABLE people_new RENAME TO people;");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 4);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM pets JOIN people ON "
					     "people.id = pets.owner"),
			 1);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people WHERE name = 'ada'"), 1);

	write_file(f, "0005_dangling.sql",
		   "INSERT INTO people (id, name) VALUES (7, 'kept?');\n"
		   "INSERT INTO pets (owner) VALUES (42);");
	assert_int_equal(jg_migrate_apply(f->store, f->mroot, &applied, err, sizeof(err)),
			 JG_EINVAL);
	assert_non_null(strstr(err, "0005_dangling.sql"));
	assert_non_null(strstr(err, "a row of pets refers to a missing row of people"));
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM schema_migrations"), 4);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people WHERE id = 7"), 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM pets"), 1);

	/* every connection of the pool enforces foreign keys again */
	struct jg_store_conn *c[JG_STORE_POOL_SIZE];
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
		struct jg_stmt *st;
		assert_int_equal(jg_store_acquire(f->store, &c[i]), 0);
		assert_int_equal(jg_stmt_prepare(c[i], "PRAGMA foreign_keys", &st), 0);
		assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st, 0), 1);
		jg_stmt_finish(st);
	}
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++)
		jg_store_release(f->store, c[i]);
}
#endif

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef JG_TEST_PG
	pgdb_init("test_migrate_pg", argv);
#endif
	const struct CMUnitTest tests[] = {
#ifdef JG_TEST_PG
	    cmocka_unit_test_setup_teardown(test_migrate_pg_serving_role_made_or_pre_created, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_pg_serving_role_privileges, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_pg_runs_one_at_a_time, setup, teardown),
#endif
	    cmocka_unit_test_setup_teardown(test_migrate_apply_in_order_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_apply_failed_migration_leaves_no_trace,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_changed_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_unknown_applied_version, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_bad_names_and_duplicates, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_status_writes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_reads_only_its_engines_folder, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_sets_keep_their_own_books, setup,
					    teardown),
#ifndef JG_TEST_PG
	    cmocka_unit_test_setup_teardown(test_migrate_sqlite_rebuilds_a_referenced_table, setup,
					    teardown),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
