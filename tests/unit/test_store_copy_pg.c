/*
 * test_store_copy_pg.c - copying tables between a SQLite file and a
 * PostgreSQL database (store.h, "Copying a database table by table"), and
 * the owners' declarations of their tables against both engines' catalogs.
 *
 * Both engines take part in every test, so it is a *_pg test: `make unit`
 * runs it under tests/lib/pg-cluster.sh run (tests/unit/pgdb.h).  What it
 * holds the code to:
 * - every table `jitgate store copy` copies (jg_cli_store_tables: each
 *   owner's declaration) matches the schema the repository's migrations make
 *   on both engines, and no table of either schema lacks a declaration - so
 *   a migration that adds a table or a column without its owner declaring it
 *   fails here, not in an operator's move;
 * - a column or table nobody declared, another type, or a malformed
 *   declaration is refused, naming it;
 * - values cross both ways exactly: 64-bit extremes, reals, UTF-8 text,
 *   blobs with zero bytes, an empty blob (not NULL), NULLs;
 * - a PostgreSQL target's identity column continues after the highest id
 *   copied; a seeded table's rows are replaced by the source's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"
#include "pgdb.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	char sqlite_path[128];
	char pg_db[64];
	struct jg_store *sq, *pg;
	struct jg_store_conn *sqc, *pgc;
};

static void
open_both(struct fixture *f)
{
	char url[256], err[512] = "";

	snprintf(f->root, sizeof(f->root), "/tmp/jg-copy-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->sqlite_path, sizeof(f->sqlite_path), "%s/state.db", f->root);
	if (jg_store_open(f->sqlite_path, &f->sq, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", f->sqlite_path, err);
	pgdb_create_owned(f->pg_db, sizeof(f->pg_db));
	pgdb_url(url, sizeof(url), PGDB_OWNER, f->pg_db);
	if (jg_store_open(url, &f->pg, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", url, err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	open_both(f);
	assert_int_equal(jg_store_acquire(f->sq, &f->sqc), 0);
	assert_int_equal(jg_store_acquire(f->pg, &f->pgc), 0);
	*state = f;
	return 0;
}

/* The same with the repository's migrations applied to both databases. */
static int
setup_migrated(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";
	assert_non_null(f);
	open_both(f);
	if (jg_migrate_apply(f->sq, "migrations", NULL, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->pg, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("migrate: %s", err);
	assert_int_equal(jg_store_acquire(f->sq, &f->sqc), 0);
	assert_int_equal(jg_store_acquire(f->pg, &f->pgc), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_store_release(f->sq, f->sqc);
	jg_store_release(f->pg, f->pgc);
	jg_store_close(f->sq);
	jg_store_close(f->pg);
	pgdb_drop(f->pg_db);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static void
script(struct jg_store_conn *c, const char *sql)
{
	char err[512] = "";
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
}

/* ---- the declarations against the real schema --------------------------------- */

static void
test_declarations_match_both_schemas(void **state)
{
	struct fixture *f = *state;
	const struct jg_store_table *tables[64];
	struct jg_store_conn *conns[] = {f->sqc, f->pgc};
	char err[512] = "";
	size_t n = 0;

	assert_int_equal(jg_cli_store_tables(tables, 64, &n), 0);
	assert_true(n >= 19);
	for (size_t c = 0; c < 2; c++) {
		if (jg_store_tables_cover(conns[c], tables, n, NULL, err, sizeof(err)) != 0)
			fail_msg("%s: %s", c ? "postgres" : "sqlite", err);
		for (size_t i = 0; i < n; i++)
			if (jg_store_table_check(conns[c], tables[i], err, sizeof(err)) != 0)
				fail_msg("%s: %s", c ? "postgres" : "sqlite", err);
	}
	/* each table once: two owners declaring one table would copy it twice */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(tables[i]->name, tables[j]->name);
	assert_int_equal(jg_cli_store_tables(tables, 3, &n), JG_ETOOBIG);
}

static void
test_undeclared_column_or_table_refused(void **state)
{
	struct fixture *f = *state;
	const struct jg_store_table *tables[64], *services = NULL;
	struct jg_store_conn *conns[] = {f->sqc, f->pgc};
	char err[512] = "";
	size_t n = 0;

	assert_int_equal(jg_cli_store_tables(tables, 64, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(tables[i]->name, "services") == 0)
			services = tables[i];
	assert_non_null(services);
	for (size_t c = 0; c < 2; c++) {
		script(conns[c], "ALTER TABLE services ADD COLUMN region TEXT");
		assert_int_equal(jg_store_table_check(conns[c], services, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "services has a column region"));
		script(conns[c], "CREATE TABLE stray (id INTEGER PRIMARY KEY)");
		assert_int_equal(jg_store_tables_cover(conns[c], tables, n, NULL, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "a table stray that no module declares"));
		script(conns[c], "DROP TABLE stray");
		/* telemetry sharing the state database is left behind, named by its owner */
		script(conns[c], "CREATE TABLE logs (id INTEGER PRIMARY KEY)");
		assert_int_equal(jg_store_tables_cover(conns[c], tables, n, NULL, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "a table logs that no module declares"));
		assert_int_equal(jg_store_tables_cover(conns[c], tables, n, jg_telemetry_tables,
						       err, sizeof(err)),
				 0);
	}
}

static void
test_declaration_type_or_shape_refused(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *conns[] = {f->sqc, f->pgc};
	/* created_at declared text, but it is an integer */
	static const struct jg_store_table wrong_type = JG_STORE_TABLE(
	    "services", "name, owners, created_at, removed_at", "ttti", "name", "?, ?, ?, ?");
	/* a column the table does not have */
	static const struct jg_store_table missing =
	    JG_STORE_TABLE("services", "name, owners, created_at, removed_at, region", "ttiit",
			   "name", "?, ?, ?, ?, ?");
	/* three letters for four columns; a '?' short */
	static const struct jg_store_table short_types = JG_STORE_TABLE(
	    "services", "name, owners, created_at, removed_at", "tti", "name", "?, ?, ?, ?");
	static const struct jg_store_table short_binds = JG_STORE_TABLE(
	    "services", "name, owners, created_at, removed_at", "ttii", "name", "?, ?, ?");
	static const struct jg_store_table no_table =
	    JG_STORE_TABLE("nothing_here", "a", "i", "a", "?");
	char err[512] = "";

	for (size_t c = 0; c < 2; c++) {
		assert_int_equal(jg_store_table_check(conns[c], &wrong_type, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "services.created_at is"));
		assert_int_equal(jg_store_table_check(conns[c], &missing, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "services has no column region"));
		assert_int_equal(jg_store_table_check(conns[c], &short_types, err, sizeof(err)),
				 JG_EINVAL);
		assert_int_equal(jg_store_table_check(conns[c], &short_binds, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "does not bind every column"));
		assert_int_equal(jg_store_table_check(conns[c], &no_table, err, sizeof(err)),
				 JG_EINVAL);
		assert_non_null(strstr(err, "no table nothing_here"));
	}
}

/* ---- values, sequences, seeded rows ---------------------------------------------- */

static const struct jg_store_table copy_t =
    JG_STORE_TABLE("copy_t", "id, n, r, s, b", "iirtb", "id", "?, ?, ?, ?, ?");
static const struct jg_store_table seed_t =
    JG_STORE_TABLE_SEEDED("seed_t", "k, v", "tt", "k", "?, ?", "v = excluded.v");

static const char sqlite_copy_t[] =
    "CREATE TABLE copy_t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, b BLOB) STRICT;";
static const char pg_copy_t[] =
    "CREATE TABLE copy_t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, "
    "r DOUBLE PRECISION, s TEXT, b BYTEA);";

static const uint8_t some_bytes[] = {0x00, 0x01, 0x00, 0xff, 0x7f};

/* The rows every copy must carry exactly (ids 1, 5, 7). */
static void
insert_rows(struct jg_store_conn *c)
{
	struct jg_stmt *st;
	static const char sql[] = "INSERT INTO copy_t (id, n, r, s, b) VALUES (?, ?, ?, ?, ?)";

	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	jg_stmt_bind_int64(st, 1, 1);
	jg_stmt_bind_int64(st, 2, INT64_MAX);
	jg_stmt_bind_double(st, 3, 0.1);
	jg_stmt_bind_text(st, 4, "h\xc3\xa9llo \xe2\x9c\x93 'quoted' \\ $1 ?");
	jg_stmt_bind_blob(st, 5, some_bytes, sizeof(some_bytes));
	assert_int_equal(jg_stmt_run(st), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	jg_stmt_bind_int64(st, 1, 5);
	jg_stmt_bind_int64(st, 2, INT64_MIN);
	jg_stmt_bind_double(st, 3, -1.2345678901234567e-300);
	jg_stmt_bind_text(st, 4, "");
	jg_stmt_bind_blob(st, 5, "", 0);
	assert_int_equal(jg_stmt_run(st), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	jg_stmt_bind_int64(st, 1, 7);
	assert_int_equal(jg_stmt_run(st), 0); /* the rest NULL */
}

/* c holds exactly the rows of insert_rows(), and nothing else below id 8. */
static void
check_rows(struct jg_store_conn *c)
{
	struct jg_stmt *st;
	const void *b;
	size_t len;

	assert_int_equal(
	    jg_stmt_prepare(c, "SELECT id, n, r, s, b FROM copy_t WHERE id < 8 ORDER BY id", &st),
	    0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	assert_true(jg_stmt_column_int64(st, 1) == INT64_MAX);
	assert_true(jg_stmt_column_double(st, 2) == 0.1);
	assert_string_equal(jg_stmt_column_text(st, 3),
			    "h\xc3\xa9llo \xe2\x9c\x93 'quoted' \\ $1 ?");
	b = jg_stmt_column_blob(st, 4, &len);
	assert_int_equal(len, sizeof(some_bytes));
	assert_memory_equal(b, some_bytes, sizeof(some_bytes));
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 5);
	assert_true(jg_stmt_column_int64(st, 1) == INT64_MIN);
	assert_true(jg_stmt_column_double(st, 2) == -1.2345678901234567e-300);
	assert_false(jg_stmt_column_is_null(st, 3));
	assert_string_equal(jg_stmt_column_text(st, 3), "");
	assert_false(jg_stmt_column_is_null(st, 4)); /* an empty blob is not NULL */
	jg_stmt_column_blob(st, 4, &len);
	assert_int_equal(len, 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 7);
	for (int k = 1; k < 5; k++)
		assert_true(jg_stmt_column_is_null(st, k));
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
}

/* Copies t from one connection to the other in a read and a write transaction. */
static int64_t
copy(struct jg_store_conn *from, struct jg_store_conn *to, const struct jg_store_table *t)
{
	char err[512] = "";
	int64_t rows = -1;

	assert_int_equal(jg_store_begin_read(from), 0);
	assert_int_equal(jg_store_begin(to), 0);
	if (jg_store_table_copy(from, to, t, &rows, err, sizeof(err)) != 0)
		fail_msg("copy %s: %s", t->name, err);
	assert_int_equal(jg_store_commit(to), 0);
	assert_int_equal(jg_store_rollback(from), 0);
	return rows;
}

static void
test_copy_values_exact_both_ways(void **state)
{
	struct fixture *f = *state;
	struct jg_store *back;
	struct jg_store_conn *bc;
	struct jg_stmt *st;
	char path[160], err[512] = "";
	int64_t rows = 0;

	script(f->sqc, sqlite_copy_t);
	script(f->pgc, pg_copy_t);
	insert_rows(f->sqc);
	assert_int_equal(jg_store_table_check(f->sqc, &copy_t, err, sizeof(err)), 0);
	assert_int_equal(jg_store_table_check(f->pgc, &copy_t, err, sizeof(err)), 0);

	assert_int_equal(copy(f->sqc, f->pgc, &copy_t), 3);
	check_rows(f->pgc);
	assert_int_equal(jg_store_table_count(f->pgc, &copy_t, &rows), 0);
	assert_int_equal(rows, 3);
	/* the identity continues after the highest id copied, not from 1 (a duplicate key) */
	assert_int_equal(
	    jg_stmt_prepare(f->pgc, "INSERT INTO copy_t (n) VALUES (42) RETURNING id", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 8);
	jg_stmt_finish(st);

	/* and back into a new SQLite file: the same values, and its rowid continues too */
	snprintf(path, sizeof(path), "%s/back.db", f->root);
	assert_int_equal(jg_store_open(path, &back, err, sizeof(err)), 0);
	assert_int_equal(jg_store_acquire(back, &bc), 0);
	script(bc, sqlite_copy_t);
	assert_int_equal(copy(f->pgc, bc, &copy_t), 4);
	check_rows(bc);
	assert_int_equal(jg_stmt_prepare(bc, "INSERT INTO copy_t (n) VALUES (43)", &st), 0);
	assert_int_equal(jg_stmt_run(st), 0);
	assert_int_equal(jg_store_last_insert_rowid(bc), 9);
	jg_store_release(back, bc);
	jg_store_close(back);
}

static void
test_copy_identity_of_an_empty_table_starts_at_one(void **state)
{
	struct fixture *f = *state;
	struct jg_stmt *st;

	script(f->sqc, sqlite_copy_t);
	script(f->pgc, pg_copy_t);
	/* numbers handed out on the target before the copy do not matter */
	script(f->pgc, "INSERT INTO copy_t (n) VALUES (1), (2), (3); DELETE FROM copy_t;");
	assert_int_equal(copy(f->sqc, f->pgc, &copy_t), 0);
	assert_int_equal(
	    jg_stmt_prepare(f->pgc, "INSERT INTO copy_t (n) VALUES (1) RETURNING id", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	jg_stmt_finish(st);
}

static void
test_copy_replaces_seeded_rows(void **state)
{
	struct fixture *f = *state;
	struct jg_stmt *st;

	script(f->sqc, "CREATE TABLE seed_t (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT;"
		       "INSERT INTO seed_t VALUES ('created_at', 'source'), ('extra', 'x');");
	script(f->pgc, "CREATE TABLE seed_t (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
		       "INSERT INTO seed_t VALUES ('created_at', 'target');");
	assert_int_equal(copy(f->sqc, f->pgc, &seed_t), 2);
	assert_int_equal(jg_stmt_prepare(f->pgc, "SELECT k, v FROM seed_t ORDER BY k", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_string_equal(jg_stmt_column_text(st, 0), "created_at");
	assert_string_equal(jg_stmt_column_text(st, 1), "source");
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_string_equal(jg_stmt_column_text(st, 0), "extra");
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
}

static void
test_copy_failure_names_the_row_not_the_value(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int64_t rows = 0;

	script(f->sqc, sqlite_copy_t);
	/* the target refuses a long text: the error names table and row, never the value */
	script(f->pgc, "CREATE TABLE copy_t (id BIGINT PRIMARY KEY, n BIGINT, r DOUBLE PRECISION, "
		       "s TEXT CHECK (length(s) < 5), b BYTEA);");
	insert_rows(f->sqc);
	assert_int_equal(jg_store_begin_read(f->sqc), 0);
	assert_int_equal(jg_store_begin(f->pgc), 0);
	assert_int_equal(jg_store_table_copy(f->sqc, f->pgc, &copy_t, &rows, err, sizeof(err)),
			 JG_ECONFLICT);
	assert_int_equal(rows, 0);
	assert_non_null(strstr(err, "copy_t: row 0:"));
	assert_null(strstr(err, "quoted"));
	jg_store_rollback(f->pgc);
	jg_store_rollback(f->sqc);
}

static void
test_open_must_exist(void **state)
{
	struct fixture *f = *state;
	struct jg_store_options opts = {.must_exist = true};
	struct jg_store *s = NULL;
	char path[160], err[512] = "";

	snprintf(path, sizeof(path), "%s/typo.db", f->root);
	assert_int_equal(jg_store_open_opts(path, &opts, &s, err, sizeof(err)), JG_ENOTFOUND);
	assert_null(s);
	FILE *probe = fopen(path, "r");
	assert_null(probe); /* nothing was created */
	assert_int_equal(jg_store_open_opts(f->sqlite_path, &opts, &s, err, sizeof(err)), 0);
	jg_store_close(s);
}

int
main(int argc, char **argv)
{
	(void)argc;
	pgdb_init("test_store_copy_pg", argv);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_declarations_match_both_schemas, setup_migrated,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_undeclared_column_or_table_refused, setup_migrated,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_declaration_type_or_shape_refused, setup_migrated,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_copy_values_exact_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_identity_of_an_empty_table_starts_at_one,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_replaces_seeded_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_failure_names_the_row_not_the_value, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_open_must_exist, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
