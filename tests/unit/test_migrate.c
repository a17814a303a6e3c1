/*
 * test_migrate.c - migrations apply once, in order, atomically, and refuse
 * a schema that does not match the files (changed, missing, misnamed).
 *
 * Each test gets a fresh temporary directory holding a real SQLite file and
 * a migrations folder it writes itself.
 */
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

struct fixture {
	char root[64];
	char dir[128];
	char db[128];
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
	snprintf(f->dir, sizeof(f->dir), "%s/migrations", f->root);
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(jg_store_open(f->db, &f->store, err, sizeof(err)), 0);
	/* 0002 uses the table 0001 creates: applying out of order would fail. */
	write_file(f, "0001_people.sql",
		   "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);");
	write_file(f, "0002_seed.sql",
		   "INSERT INTO people (name) VALUES ('ada');\n"
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
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static int64_t
query_int(struct jg_store *store, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t v = -1;
	assert_int_equal(jg_store_acquire(store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(store, c);
	return v;
}

static void
test_migrate_apply_in_order_once(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int applied = -1, pending = -1;

	assert_int_equal(jg_migrate_status(f->store, f->dir, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 2);
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), 1);
	assert_int_equal(query_int(f->store,
				   "SELECT group_concat(version) = '1,2' FROM "
				   "(SELECT version FROM schema_migrations ORDER BY version)"),
			 1);
	/* Again: nothing to do, nothing duplicated. */
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM people"), 1);
	assert_int_equal(jg_migrate_status(f->store, f->dir, &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 0);
	/* A new file applies alone. */
	write_file(f, "0003_more.sql", "INSERT INTO people (name) VALUES ('grace');");
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), 0);
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
		   "INSERT INTO people (name) VALUES ('x');\n"
		   "INSERT INTO nowhere VALUES (1);");
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), JG_ESTORE);
	assert_non_null(strstr(err, "0003_broken.sql"));
	assert_non_null(strstr(err, "no such table: nowhere"));
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

	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), 0);
	write_file(f, "0001_people.sql", "CREATE TABLE people (id INTEGER PRIMARY KEY);");
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)),
			 JG_ECONFLICT);
	assert_non_null(strstr(err, "0001_people.sql changed after it was applied"));
}

static void
test_migrate_refuses_unknown_applied_version(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	int applied, pending;

	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/0002_seed.sql", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(jg_migrate_status(f->store, f->dir, &pending, err, sizeof(err)),
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
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), JG_EINVAL);
	assert_non_null(strstr(err, "3_oops.sql: migration files must be named NNNN_name.sql"));
	snprintf(path, sizeof(path), "%s/3_oops.sql", f->dir);
	unlink(path);
	write_file(f, "0002_again.sql", "SELECT 1;");
	assert_int_equal(jg_migrate_apply(f->store, f->dir, &applied, err, sizeof(err)), JG_EINVAL);
	assert_non_null(strstr(err, "share version 0002"));
	/* Nothing was applied while the directory was invalid. */
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM sqlite_schema WHERE name='people'"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrate_apply_in_order_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_apply_failed_migration_leaves_no_trace,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_changed_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_unknown_applied_version, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_bad_names_and_duplicates, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
