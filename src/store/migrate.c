/*
 * migrate.c - apply ROOT/<engine>/[SET/]NNNN_name.sql in order, each once.
 *
 * Each engine has its own folder of migrations under the configured root
 * (migrations/sqlite/, migrations/postgres/; the telemetry database's in a
 * "telemetry" set below it): the store says which engine it runs on, and
 * only that engine's files are read.  The directory is read and validated
 * first (names, duplicates, sizes), then compared with schema_migrations,
 * which records each applied file's SHA-256.  Each pending file runs in one
 * transaction together with its schema_migrations row, so a failed
 * migration leaves no trace.  Two processes migrating at once serialise:
 * on SQLite on the write lock of each migration's transaction (BEGIN
 * IMMEDIATE; the second sees the row and skips), on PostgreSQL on a
 * session advisory lock (pg_advisory_lock(JG_MIGRATE_LOCK_KEY)) held for
 * the whole run, so one run sees the schema another left.
 *
 * On SQLite the run turns foreign keys off (PRAGMA foreign_keys, which
 * cannot change inside a transaction) and checks them with PRAGMA
 * foreign_key_check before each migration commits: a migration may then
 * rebuild a table that others reference (SQLite cannot alter a constraint;
 * https://sqlite.org/lang_altertable.html#otheralter), and one that leaves a
 * dangling reference still fails whole.
 *
 * A status check (jg_migrate_status, what serve and the commands run at
 * start-up with the serving role) writes nothing: on PostgreSQL the serving
 * role may create no table, so a missing schema_migrations means that every
 * migration is pending.
 *
 * On PostgreSQL each set keeps its own bookkeeping table (the telemetry set:
 * telemetry_schema_migrations), so the telemetry tables may live in the
 * state database itself: both sets number their files from 0001.  A SQLite
 * database holds one set, in schema_migrations, as it always did.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/migrate.h"
#include "jitgate/sha256.h"

#define MAX_MIGRATIONS	    1000
#define MAX_MIGRATION_BYTES (1 << 20)

struct migration {
	int version;
	char name[128];
	char *sql;
	char sha256[65];
};

/*
 * The bookkeeping table of a set in each engine's words (PostgreSQL: a
 * 64-bit applied_at), and the statements on it: literals, as the statement
 * cache wants.
 */
struct book {
	const char *set;   /* NULL: the state database's migrations */
	const char *table; /* for messages */
	const char *create, *exists, *select_applied, *insert_applied, *select_one;
};

/* SQLite: one set per database, in schema_migrations, whichever set it is. */
#define SQLITE_BOOK(set)                                                                           \
	{                                                                                          \
		(set), "schema_migrations",                                                        \
		    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "  \
		    "name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL)",      \
		    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = "          \
		    "'schema_migrations'",                                                         \
		    "SELECT version, name, sha256 FROM schema_migrations ORDER BY version",        \
		    "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES "    \
		    "(?, ?, ?, ?)",                                                                \
		    "SELECT sha256 FROM schema_migrations WHERE version = ?"                       \
	}

/* PostgreSQL: a table per set; "exists" looks without creating (a status check writes nothing). */
#define PG_BOOK(set, table)                                                                        \
	{                                                                                          \
		(set), table,                                                                      \
		    "CREATE TABLE IF NOT EXISTS " table " (version INTEGER PRIMARY KEY, "          \
		    "name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at BIGINT NOT NULL)",       \
		    "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = "                \
		    "current_schema() "                                                            \
		    "AND tablename = '" table "'",                                                 \
		    "SELECT version, name, sha256 FROM " table " ORDER BY version",                \
		    "INSERT INTO " table                                                           \
		    " (version, name, sha256, applied_at) VALUES (?, ?, ?, ?)",                    \
		    "SELECT sha256 FROM " table " WHERE version = ?"                               \
	}

/* clang-format off */
static const struct book books_sqlite[] = {SQLITE_BOOK(NULL), SQLITE_BOOK("telemetry")};
static const struct book books_pg[] = {PG_BOOK(NULL, "schema_migrations"),
				       PG_BOOK("telemetry", "telemetry_schema_migrations")};
/* clang-format on */

/* The bookkeeping of set on the engine, or NULL for a set jitgate does not have. */
static const struct book *
book_of(bool pg, const char *set)
{
	const struct book *b = pg ? books_pg : books_sqlite;
	for (size_t i = 0; i < 2; i++)
		if ((set == NULL && b[i].set == NULL) ||
		    (set != NULL && b[i].set != NULL && strcmp(set, b[i].set) == 0))
			return &b[i];
	return NULL;
}

static const char advisory_lock_sql[] = "SELECT pg_advisory_lock(?)";
static const char advisory_unlock_sql[] = "SELECT pg_advisory_unlock(?)";

/* NNNN_lowercase_name.sql */
static bool
valid_name(const char *n, int *version)
{
	size_t len = strlen(n);
	if (len < 10 || len >= 128 || strcmp(n + len - 4, ".sql") != 0)
		return false;
	for (int i = 0; i < 4; i++)
		if (n[i] < '0' || n[i] > '9')
			return false;
	if (n[4] != '_')
		return false;
	for (size_t i = 5; i < len - 4; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
			return false;
	*version = (n[0] - '0') * 1000 + (n[1] - '0') * 100 + (n[2] - '0') * 10 + (n[3] - '0');
	return *version > 0;
}

static int
by_version(const void *a, const void *b)
{
	return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static void
free_list(struct migration *list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i].sql);
	free(list);
}

static int
read_dir(const char *dir, struct migration **out, int *count, char *err, size_t errlen)
{
	struct migration *list = calloc(MAX_MIGRATIONS, sizeof(*list));
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0, rc = 0;

	*out = NULL;
	*count = 0;
	if (list == NULL || d == NULL) {
		snprintf(err, errlen, "%s: cannot read migrations directory", dir);
		free(list);
		if (d)
			closedir(d);
		return JG_EIO;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		int version;
		if (!valid_name(e->d_name, &version)) {
			snprintf(err, errlen, "%s/%s: migration files must be named NNNN_name.sql",
				 dir, e->d_name);
			rc = JG_EINVAL;
			goto out;
		}
		if (n == MAX_MIGRATIONS) {
			snprintf(err, errlen, "%s: too many migrations", dir);
			rc = JG_ETOOBIG;
			goto out;
		}
		char path[4096];
		size_t sqllen;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = jg_file_read(path, MAX_MIGRATION_BYTES, false, &list[n].sql, &sqllen, err,
				  errlen);
		if (rc != 0)
			goto out;
		list[n].version = version;
		memcpy(list[n].name, e->d_name, len + 1); /* valid_name() bounds len < 128 */
		n++;
		/* the checksum recorded and compared: never a buffer the digest did not fill */
		if ((rc = jg_sha256_hex(list[n - 1].sql, sqllen, list[n - 1].sha256)) != 0) {
			snprintf(err, errlen, "%s: cannot compute its SHA-256", path);
			goto out;
		}
	}
	qsort(list, (size_t)n, sizeof(*list), by_version);
	for (int i = 1; i < n; i++) {
		if (list[i].version == list[i - 1].version) {
			snprintf(err, errlen, "%s: %s and %s share version %04d", dir,
				 list[i - 1].name, list[i].name, list[i].version);
			rc = JG_EINVAL;
			goto out;
		}
	}
out:
	closedir(d);
	if (rc != 0) {
		free_list(list, n);
		return rc;
	}
	*out = list;
	*count = n;
	return 0;
}

/*
 * Compares the files with what the database records; counts pending ones
 * and marks them in pending_mask (indexes into list).
 */
static int
compare(struct jg_store_conn *conn, const struct book *book, struct migration *list, int n,
	bool *is_pending, int *pending, char *err, size_t errlen)
{
	struct jg_stmt *st;
	int rc;

	for (int i = 0; i < n; i++)
		is_pending[i] = true;
	if ((rc = jg_stmt_prepare(conn, book->select_applied, &st)) != 0) {
		snprintf(err, errlen, "%s: %s", book->table, jg_store_errmsg(conn));
		return rc;
	}
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		int version = (int)jg_stmt_column_int64(st, 0);
		const char *sha = jg_stmt_column_text(st, 2);
		int found = -1;
		for (int i = 0; i < n; i++)
			if (list[i].version == version)
				found = i;
		if (found < 0) {
			snprintf(err, errlen,
				 "the database has migration %04d (%s) that this jitgate does not "
				 "have: refusing to run an older binary against a newer schema",
				 version, jg_stmt_column_text(st, 1));
			jg_stmt_finish(st);
			return JG_ECONFLICT;
		}
		if (sha == NULL || strcmp(sha, list[found].sha256) != 0) {
			snprintf(err, errlen,
				 "migration %s changed after it was applied (sha256 differs): "
				 "migrations are forward-only, add a new file instead",
				 list[found].name);
			jg_stmt_finish(st);
			return JG_ECONFLICT;
		}
		is_pending[found] = false;
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		snprintf(err, errlen, "%s: %s", book->table, jg_store_errmsg(conn));
		return JG_ESTORE;
	}
	*pending = 0;
	for (int i = 0; i < n; i++)
		*pending += is_pending[i];
	return 0;
}

/* Runs a one-row statement with an optional int64 parameter; 0 or its error. */
static int
exec_one(struct jg_store_conn *conn, const char *sql, int64_t value, int64_t *out)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql, &st);
	if (rc != 0)
		return rc;
	if (strchr(sql, '?') != NULL)
		jg_stmt_bind_int64(st, 1, value);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW && out != NULL)
		*out = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW || rc == JG_STMT_DONE ? 0 : rc;
}

/*
 * SQLite: whether the open transaction leaves a reference dangling (the
 * check the rebuilt tables' foreign keys would have made): 0 when none,
 * JG_EINVAL naming the first, or the store's error.
 */
static int
foreign_keys_hold(struct jg_store_conn *conn, char *err, size_t errlen)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, "PRAGMA foreign_key_check", &st);
	if (rc != 0)
		return rc;
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		const char *table = jg_stmt_column_text(st, 0);
		const char *parent = jg_stmt_column_text(st, 2);
		snprintf(err, errlen, "a row of %s refers to a missing row of %s",
			 table ? table : "?", parent ? parent : "?");
		rc = JG_EINVAL;
	} else if (rc == JG_STMT_DONE) {
		rc = 0;
	}
	jg_stmt_finish(st);
	return rc;
}

/* Whether the bookkeeping table exists: 1, 0 or an error. */
static int
have_table(struct jg_store_conn *conn, const struct book *book)
{
	int64_t n = 0;
	int rc = exec_one(conn, book->exists, 0, &n);
	return rc != 0 ? rc : n > 0;
}

/* dir = root/<engine>[/set]; err says why not. */
static int
set_dir(const struct jg_store *store, const char *root, const char *set, char *dir, size_t len,
	char *err, size_t errlen)
{
	const char *engine = jg_store_engine(store) == JG_STORE_POSTGRES ? "postgres" : "sqlite";
	int n = set ? snprintf(dir, len, "%s/%s/%s", root, engine, set)
		    : snprintf(dir, len, "%s/%s", root, engine);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "%s: migrations directory name too long", root);
		return JG_EINVAL;
	}
	return 0;
}

/* A migration refused for want of privilege: which role migrates. */
static void
deny_hint(char *err, size_t errlen)
{
	size_t len = strlen(err);
	snprintf(err + len, errlen - len,
		 " (run `jitgate migrate` as the owner role: docs/operations.md, "
		 "\"PostgreSQL roles\")");
}

static int
run(struct jg_store *store, const char *root, const char *set, bool apply, int *count, char *err,
    size_t errlen)
{
	struct migration *list = NULL;
	struct jg_store_conn *conn = NULL;
	bool *is_pending = NULL, locked = false, keys_off = false;
	bool pg = jg_store_engine(store) == JG_STORE_POSTGRES;
	char dir[3072]; /* + '/' + a name of < 128 fits read_dir's paths */
	int n = 0, pending = 0, done = 0, rc;
	const struct book *book = book_of(pg, set);

	if (book == NULL) {
		snprintf(err, errlen, "no migration set '%s'", set);
		return JG_EINVAL;
	}
	if ((rc = set_dir(store, root, set, dir, sizeof(dir), err, errlen)) != 0)
		return rc;
	if ((rc = read_dir(dir, &list, &n, err, errlen)) != 0)
		return rc;
	is_pending = calloc((size_t)n + 1, sizeof(bool));
	if (is_pending == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_store_acquire(store, &conn)) != 0) {
		snprintf(err, errlen, "the database cannot be reached");
		goto out;
	}
	if (apply && pg) {
		/* one run at a time, whole: held until the unlock below or the session's end */
		if ((rc = exec_one(conn, advisory_lock_sql, JG_MIGRATE_LOCK_KEY, NULL)) != 0) {
			snprintf(err, errlen, "taking the migration lock: %s",
				 jg_store_errmsg(conn));
			goto out;
		}
		locked = true;
	}
	if ((rc = have_table(conn, book)) < 0) {
		snprintf(err, errlen, "%s: %s", book->table, jg_store_errmsg(conn));
		goto out;
	}
	if (rc == 0 && !apply) {
		*count = n; /* a database never migrated: everything is pending */
		rc = 0;
		goto out;
	}
	/*
	 * Created only when missing: even CREATE TABLE IF NOT EXISTS needs the
	 * schema's CREATE privilege, which the serving role lacks, and a run
	 * with nothing pending must work as that role too.
	 */
	if (rc == 0 && (rc = jg_store_exec_script(conn, book->create, err, errlen)) != 0) {
		if (rc == JG_EDENIED)
			deny_hint(err, errlen);
		goto out;
	}
	if ((rc = compare(conn, book, list, n, is_pending, &pending, err, errlen)) != 0)
		goto out;
	if (!apply) {
		*count = pending;
		goto out;
	}
	if (!pg && pending > 0) {
		if ((rc = exec_one(conn, "PRAGMA foreign_keys = OFF", 0, NULL)) != 0) {
			snprintf(err, errlen, "turning foreign keys off: %s",
				 jg_store_errmsg(conn));
			goto out;
		}
		keys_off = true;
	}
	for (int i = 0; i < n; i++) {
		struct jg_stmt *st;
		if (!is_pending[i])
			continue;
		if ((rc = jg_store_begin(conn)) != 0) {
			snprintf(err, errlen, "%s: %s", list[i].name, jg_store_errmsg(conn));
			goto out;
		}
		/* Another process may have applied it while we waited for the lock. */
		if (jg_stmt_prepare(conn, book->select_one, &st) != 0)
			goto fail; /* fail: says JG_ESTORE, whatever went wrong */
		jg_stmt_bind_int64(st, 1, list[i].version);
		rc = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (rc == JG_STMT_ROW) {
			jg_store_rollback(conn);
			continue;
		}
		char why[512];
		if ((rc = jg_store_exec_script(conn, list[i].sql, why, sizeof(why))) != 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, list[i].name, why);
			if (rc == JG_EDENIED)
				deny_hint(err, errlen);
			jg_store_rollback(conn);
			goto out;
		}
		if (keys_off && (rc = foreign_keys_hold(conn, why, sizeof(why))) != 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, list[i].name,
				 rc == JG_EINVAL ? why : jg_store_errmsg(conn));
			jg_store_rollback(conn);
			goto out;
		}
		if (jg_stmt_prepare(conn, book->insert_applied, &st) != 0)
			goto fail;
		jg_stmt_bind_int64(st, 1, list[i].version);
		jg_stmt_bind_text(st, 2, list[i].name);
		jg_stmt_bind_text(st, 3, list[i].sha256);
		jg_stmt_bind_int64(st, 4, (int64_t)time(NULL));
		rc = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (rc != JG_STMT_DONE || jg_store_commit(conn) != 0)
			goto fail;
		done++;
	}
	*count = done;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "recording migration: %s", jg_store_errmsg(conn));
	jg_store_rollback(conn);
	rc = JG_ESTORE;
out:
	if (locked)
		(void)exec_one(conn, advisory_unlock_sql, JG_MIGRATE_LOCK_KEY, NULL);
	/* the pooled connection goes back as it was opened: foreign keys on */
	if (keys_off && exec_one(conn, "PRAGMA foreign_keys = ON", 0, NULL) != 0 && rc == 0) {
		snprintf(err, errlen, "turning foreign keys back on: %s", jg_store_errmsg(conn));
		rc = JG_ESTORE;
	}
	jg_store_release(store, conn);
	free(is_pending);
	free_list(list, n);
	return rc;
}

int
jg_migrate_apply_set(struct jg_store *store, const char *root, const char *set, int *applied,
		     char *err, size_t errlen)
{
	int n = 0;
	int rc = run(store, root, set, true, &n, err, errlen);
	if (applied)
		*applied = n;
	return rc;
}

int
jg_migrate_status_set(struct jg_store *store, const char *root, const char *set, int *pending,
		      char *err, size_t errlen)
{
	int n = 0;
	int rc = run(store, root, set, false, &n, err, errlen);
	*pending = n;
	return rc;
}

int
jg_migrate_apply(struct jg_store *store, const char *root, int *applied, char *err, size_t errlen)
{
	return jg_migrate_apply_set(store, root, NULL, applied, err, errlen);
}

int
jg_migrate_status(struct jg_store *store, const char *root, int *pending, char *err, size_t errlen)
{
	return jg_migrate_status_set(store, root, NULL, pending, err, errlen);
}

/*
 * deployment is created and seeded by the first migration (created_at):
 * the copy carries the source's facts over the target's.
 */
static const struct jg_store_table migrate_tables[] = {
    JG_STORE_TABLE_SEEDED("deployment", "key, value", "tt", "key", "?, ?",
			  "value = excluded.value"),
};

const struct jg_store_table *
jg_migrate_tables(size_t *n)
{
	*n = sizeof(migrate_tables) / sizeof(migrate_tables[0]);
	return migrate_tables;
}
