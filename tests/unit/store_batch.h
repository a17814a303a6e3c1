/*
 * store_batch.h - the read batch of store.h, the same cases on both engines.
 *
 * Included by test_store.c (SQLite) and test_store_pg.c (PostgreSQL), each
 * calling store_batch_cases() with a store of its engine: a batch's reads
 * come back as separate steps would give them (a row, several, none); a
 * batch refuses what is not a plain query, the same SQL twice, more than
 * JG_STORE_BATCH_MAX reads, a take before the run, and every such refusal
 * is sticky, with nothing sent; one read failing on the server fails them
 * all (no read yields a row) and leaves the connection usable; a batch runs
 * inside a read transaction too.  What only PostgreSQL can show (one round
 * trip, a lost connection) is in test_store_pg.c.
 */
#ifndef JG_TEST_STORE_BATCH_H
#define JG_TEST_STORE_BATCH_H

#include <stdint.h>

#include "jitgate/error.h"
#include "jitgate/store.h"

static const char sql_bt_by_key[] = "SELECT x FROM bt WHERE x = ?";
static const char sql_bt_by_key2[] = "SELECT x FROM bt WHERE x = ?"; /* another statement */
static const char sql_bt_count[] = "  select count(*) FROM bt";
static const char sql_bt_all[] = "SELECT x FROM bt ORDER BY x";
static const char sql_bt_overflow[] = "SELECT abs(?)"; /* INT64_MIN: an error on both engines */

/* A statement prepared into b for sql, bound to x when x >= 0. */
static struct jg_stmt *
bt_read(struct jg_store_batch *b, const char *sql, int64_t x, size_t *slot)
{
	struct jg_stmt *st = NULL;
	assert_int_equal(jg_store_batch_prepare(b, sql, &st, slot), 0);
	assert_non_null(st);
	if (x >= 0 || x == INT64_MIN)
		assert_int_equal(jg_stmt_bind_int64(st, 1, x), 0);
	return st;
}

static int64_t
bt_count(struct jg_store_conn *c)
{
	struct jg_stmt *st;
	assert_int_equal(jg_stmt_prepare(c, "SELECT count(*) FROM bt", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	int64_t n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return n;
}

static void
store_batch_cases(struct jg_store *store)
{
	struct jg_store_conn *c;
	struct jg_store_batch b;
	struct jg_stmt *st;
	size_t s1, s2, s3, s4;

	char err[256];
	assert_int_equal(jg_store_acquire(store, &c), 0);
	if (jg_store_exec_script(c,
				 "DROP TABLE IF EXISTS bt; CREATE TABLE bt (x BIGINT NOT NULL); "
				 "INSERT INTO bt (x) VALUES (1), (2), (3);",
				 err, sizeof(err)) != 0)
		fail_msg("bt: %s", err);

	/* four reads: one row, a count, none, several; each taken as its own steps */
	jg_store_batch_init(&b, c);
	bt_read(&b, sql_bt_by_key, 2, &s1);
	bt_read(&b, sql_bt_count, -1, &s2);
	bt_read(&b, sql_bt_by_key2, 99, &s3);
	bt_read(&b, sql_bt_all, -1, &s4);
	assert_int_equal(s1, 0);
	assert_int_equal(s4, 3);
	assert_int_equal(jg_store_batch_take(&b, s1, &st), JG_EINVAL); /* not run yet */
	assert_null(st);
	assert_int_equal(jg_store_batch_run(&b), 0);
	assert_int_equal(jg_store_batch_run(&b), JG_EINVAL); /* once */
	assert_int_equal(jg_store_batch_take(&b, s3, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	assert_int_equal(bt_count(c), 3); /* the connection runs other statements meanwhile */
	assert_int_equal(jg_store_batch_take(&b, s1, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 2);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	assert_int_equal(jg_store_batch_take(&b, s2, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 3);
	assert_int_equal(jg_store_batch_take(&b, s4, &st), 0);
	for (int64_t want = 1; want <= 3; want++) {
		assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st, 0), want);
	}
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	assert_int_equal(jg_store_batch_take(&b, 4, &st), JG_EINVAL); /* no such slot */
	jg_store_batch_finish(&b);
	jg_store_batch_finish(&b); /* harmless */
	assert_int_equal(jg_store_batch_take(&b, s1, &st), JG_EINVAL);

	/* not a query: refused before anything is sent, and the refusal sticks */
	static const char *const not_queries[] = {
	    "INSERT INTO bt (x) SELECT 7", "WITH d AS (DELETE FROM bt RETURNING x) SELECT x FROM d",
	    "SELECTx FROM bt", "UPDATE bt SET x = 8"};
	for (size_t i = 0; i < sizeof(not_queries) / sizeof(not_queries[0]); i++) {
		jg_store_batch_init(&b, c);
		bt_read(&b, sql_bt_count, -1, &s1);
		assert_int_equal(jg_store_batch_prepare(&b, not_queries[i], &st, &s2), JG_EINVAL);
		assert_null(st);
		assert_int_equal(jg_store_batch_prepare(&b, sql_bt_by_key, &st, &s2), JG_EINVAL);
		assert_int_equal(jg_store_batch_run(&b), JG_EINVAL);
		assert_int_equal(jg_store_batch_take(&b, s1, &st), JG_EINVAL);
		jg_store_batch_finish(&b);
	}
	assert_int_equal(bt_count(c), 3);

	/* the same SQL twice would be one statement for two reads: refused */
	jg_store_batch_init(&b, c);
	bt_read(&b, sql_bt_by_key, 1, &s1);
	assert_int_equal(jg_store_batch_prepare(&b, sql_bt_by_key, &st, &s2), JG_EINVAL);
	assert_int_equal(jg_store_batch_run(&b), JG_EINVAL);
	jg_store_batch_finish(&b);

	/* bounded: JG_STORE_BATCH_MAX reads, not one more; an empty batch does not run */
	static const char sqls[JG_STORE_BATCH_MAX + 1][24] = {
	    "SELECT 0", "SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4",
	    "SELECT 5", "SELECT 6", "SELECT 7", "SELECT 8"};
	jg_store_batch_init(&b, c);
	assert_int_equal(jg_store_batch_run(&b), JG_EINVAL);
	jg_store_batch_finish(&b);
	jg_store_batch_init(&b, c);
	for (size_t i = 0; i < JG_STORE_BATCH_MAX; i++)
		bt_read(&b, sqls[i], -1, &s1);
	assert_int_equal(jg_store_batch_prepare(&b, sqls[JG_STORE_BATCH_MAX], &st, &s2),
			 JG_EINVAL);
	assert_int_equal(jg_store_batch_run(&b), JG_EINVAL);
	jg_store_batch_finish(&b);
	jg_store_batch_init(&b, c);
	for (size_t i = 0; i < JG_STORE_BATCH_MAX; i++)
		bt_read(&b, sqls[i], -1, &s1);
	assert_int_equal(jg_store_batch_run(&b), 0);
	for (size_t i = 0; i < JG_STORE_BATCH_MAX; i++) {
		assert_int_equal(jg_store_batch_take(&b, i, &st), 0);
		assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st, 0), (int64_t)i);
	}
	jg_store_batch_finish(&b);

	/* the server fails the middle read: every read fails, those before it too */
	jg_store_batch_init(&b, c);
	bt_read(&b, sql_bt_by_key, 1, &s1);
	bt_read(&b, sql_bt_overflow, INT64_MIN, &s2);
	bt_read(&b, sql_bt_count, -1, &s3);
	assert_int_equal(jg_store_batch_run(&b), JG_ESTORE);
	assert_int_equal(jg_store_batch_take(&b, s1, &st), JG_ESTORE);
	assert_null(st);
	assert_int_equal(jg_store_batch_take(&b, s2, &st), JG_ESTORE);
	assert_int_equal(jg_store_batch_take(&b, s3, &st), JG_ESTORE);
	jg_store_batch_finish(&b);
	/* the connection works on, outside any transaction, and the same reads run again */
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(bt_count(c), 3);
	jg_store_batch_init(&b, c);
	bt_read(&b, sql_bt_by_key, 1, &s1);
	bt_read(&b, sql_bt_count, -1, &s3);
	assert_int_equal(jg_store_batch_run(&b), 0);
	assert_int_equal(jg_store_batch_take(&b, s1, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	jg_store_batch_finish(&b);

	/* inside a read transaction: the batch is part of it */
	assert_int_equal(jg_store_begin_read(c), 0);
	jg_store_batch_init(&b, c);
	bt_read(&b, sql_bt_count, -1, &s1);
	assert_int_equal(jg_store_batch_run(&b), 0);
	assert_int_equal(jg_store_batch_take(&b, s1, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 3);
	assert_int_equal(jg_store_in_transaction(c), 1);
	jg_store_batch_finish(&b);
	assert_int_equal(jg_store_rollback(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 0);

	/* a batch on no connection, and one left unfinished at release */
	jg_store_batch_init(&b, NULL);
	assert_int_equal(jg_store_batch_prepare(&b, sql_bt_count, &st, &s1), JG_EINVAL);
	assert_int_equal(jg_store_batch_run(&b), JG_EINVAL);
	jg_store_batch_finish(&b);
	jg_store_batch_init(&b, c);
	bt_read(&b, sql_bt_count, -1, &s1);
	assert_int_equal(jg_store_batch_run(&b), 0);
	jg_store_release(store, c); /* finishes the batch's statement */
	assert_int_equal(jg_store_acquire(store, &c), 0);
	assert_int_equal(bt_count(c), 3);
	jg_store_release(store, c);
}

#endif
