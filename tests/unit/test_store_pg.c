/*
 * test_store_pg.c - the PostgreSQL engine of store.h against real servers.
 *
 * The servers are throwaway clusters of tests/lib/pg-cluster.sh: `make unit`
 * runs this binary under `pg-cluster.sh run`, which exports JG_PG_URL (role
 * jitgate, database jitgate), JG_PG_ADMIN_URL (the superuser) and JG_PG_BASE
 * (for adding, killing and promoting a standby).  Without them the test
 * fails under make and, run by hand from the repository root, starts its
 * own cluster by running itself under the script.
 *
 * It covers what the callers rely on: '?' placeholders (not inside
 * literals, identifiers or comments), every bind and column type with
 * NULL, blobs with NUL bytes, the statement cache, transactions and the
 * rollback at release, read transactions whose BEGIN goes with their first
 * statement and scans whose cursors close lazily, the error codes (constraint, serialization
 * failure, deadlock, privilege, lost connection) and error texts without values, the URL rules (no
 * password, no key=value, TLS verification off loopback), password files, recovery from a lost
 * connection at the next acquire, a scan that never holds the whole result, data_version, pipelined
 * transactions (one transaction, the first error aborting the rest), read batches (store_batch.h,
 * as on SQLite; here also: one pipeline, and a lost connection), and a multi-host URL that
 * follows the primary through a failover (last: it ends the primary).
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "store_batch.h"
#include "unit_fs.h"

static const char *url, *admin_url, *base, *port;
static struct jg_store *store; /* on JG_PG_URL, for most tests */

static struct jg_store *
open_url(const char *u)
{
	struct jg_store *s = NULL;
	char err[512];
	int rc = jg_store_open(u, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("open %s: %d %s", u, rc, err);
	return s;
}

static struct jg_store_conn *
conn_of(struct jg_store *s)
{
	struct jg_store_conn *c = NULL;
	assert_int_equal(jg_store_acquire(s, &c), 0);
	return c;
}

static void
script(struct jg_store_conn *c, const char *sql)
{
	char err[512];
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
}

/* The first column of the one row sql returns (sql a literal: cached by address). */
static int64_t
one_int(struct jg_store_conn *c, const char *sql)
{
	struct jg_stmt *st;
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	int rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW)
		fail_msg("%s: %d %s", sql, rc, jg_store_errmsg(c));
	int64_t v = jg_stmt_column_int64(st, 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	return v;
}

/*
 * Runs tests/lib/pg-cluster.sh with the arguments up to (const char *)NULL
 * (a bare NULL may be an int in a variadic call), no shell in between; its
 * standard output into out (may be NULL).  Fails the test unless the script
 * exits 0.
 */
static void
cluster(char *out, size_t outlen, ...)
{
	const char *argv[8] = {"tests/lib/pg-cluster.sh"};
	size_t k = 1, n = 0;
	ssize_t got;
	char buf[512];
	int fd[2], status;
	va_list ap;

	va_start(ap, outlen);
	while (k < 7 && (argv[k] = va_arg(ap, const char *)) != NULL)
		k++;
	va_end(ap);
	assert_null(argv[k]); /* at most six arguments */
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(fd[1], STDOUT_FILENO) >= 0) {
			close(fd[0]);
			close(fd[1]);
			execv(argv[0], (char *const *)argv);
		}
		_exit(127);
	}
	close(fd[1]);
	while ((got = read(fd[0], buf, sizeof(buf))) > 0) {
		if (out != NULL && n + (size_t)got < outlen) {
			memcpy(out + n, buf, (size_t)got);
			n += (size_t)got;
		}
	}
	close(fd[0]);
	if (out != NULL)
		out[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("pg-cluster.sh %s failed", argv[1]);
}

/* ---- placeholders -------------------------------------------------------- */

static void
test_placeholders_skip_literals_identifiers_and_comments(void **state)
{
	(void)state;
	static const char sql[] =
	    "SELECT '?''?', E'\\'?', ?, $$?$$, $t$?$t$ /* ? /* ? */ ? */, \"q?\".x, ?3, ?, ?2 "
	    "-- ? here\n FROM (SELECT 7 AS x) AS \"q?\"";
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;

	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	assert_int_equal(jg_stmt_bind_text(st, 1, "one"), 0);
	assert_int_equal(jg_stmt_bind_text(st, 2, "two"), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 3, 3), 0);
	assert_int_equal(jg_stmt_bind_text(st, 4, "four"), 0);
	assert_int_equal(jg_stmt_bind_text(st, 5, "five"), JG_ESTORE); /* there are four */
	int rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW)
		fail_msg("%d %s", rc, jg_store_errmsg(c));
	assert_string_equal(jg_stmt_column_text(st, 0), "?'?");
	assert_string_equal(jg_stmt_column_text(st, 1), "'?");
	assert_string_equal(jg_stmt_column_text(st, 2), "one");
	assert_string_equal(jg_stmt_column_text(st, 3), "?");
	assert_string_equal(jg_stmt_column_text(st, 4), "?");
	assert_int_equal(jg_stmt_column_int64(st, 5), 7);
	assert_int_equal(jg_stmt_column_int64(st, 6), 3);
	assert_string_equal(jg_stmt_column_text(st, 7), "four");
	assert_string_equal(jg_stmt_column_text(st, 8), "two");
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	jg_store_release(store, c);
}

/* The server cannot infer `? IS NULL` alone, or `SELECT ?`: the backend types them text. */
static void
test_parameter_types_the_server_cannot_infer(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;

	assert_int_equal(jg_store_begin(c), 0); /* the fallback must not abort a transaction */
	assert_int_equal(jg_stmt_prepare(c, "SELECT 1 WHERE ? IS NULL", &st), 0);
	assert_int_equal(jg_stmt_bind_null(st, 1), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, "SELECT 1 WHERE ? IS NULL", &st), 0);
	assert_int_equal(jg_stmt_bind_text(st, 1, "x"), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, "SELECT ?, COALESCE(?, 'dflt')", &st), 0);
	assert_int_equal(jg_stmt_bind_text(st, 1, "plain"), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_string_equal(jg_stmt_column_text(st, 0), "plain");
	assert_string_equal(jg_stmt_column_text(st, 1), "dflt");
	jg_stmt_finish(st);
	assert_int_equal(jg_store_in_transaction(c), 1);
	assert_int_equal(jg_store_commit(c), 0);

	/* one statement bound NULL, then int64, then double: prepared again as the types change */
	static const char sum[] = "SELECT COALESCE(?, 0) + 1";
	assert_int_equal(jg_stmt_prepare(c, sum, &st), 0);
	assert_int_equal(jg_stmt_bind_null(st, 1), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, sum, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, INT64_C(5000000000)), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), INT64_C(5000000001));
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, sum, &st), 0);
	assert_int_equal(jg_stmt_bind_double(st, 1, 2.5), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_true(jg_stmt_column_double(st, 0) == 3.5);
	jg_stmt_finish(st);
	jg_store_release(store, c);
}

/* ---- types --------------------------------------------------------------- */

static void
test_every_bind_and_column_type_with_null(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;
	size_t len;

	script(c, "DROP TABLE IF EXISTS types; CREATE TABLE types (k int PRIMARY KEY, t text, "
		  "i bigint, d double precision, b bytea, flag boolean, n numeric)");
	static const char ins[] = "INSERT INTO types VALUES (?, ?, ?, ?, ?, ?, ?)";
	assert_int_equal(jg_stmt_prepare(c, ins, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 1), 0);
	assert_int_equal(jg_stmt_bind_text(st, 2, "grüße, 'quoted' \"and\" ?"), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 3, INT64_MIN), 0);
	assert_int_equal(jg_stmt_bind_double(st, 4, 0.1), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 5, "\x01\x02", 2), 0);
	assert_int_equal(jg_stmt_bind_text(st, 6, "true"), 0);
	assert_int_equal(jg_stmt_bind_text(st, 7, "2.75"), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	assert_int_equal(jg_store_changes(c), 1);
	jg_stmt_finish(st);
	/* every column NULL but the key: NULL text, and unbound parameters are NULL too */
	assert_int_equal(jg_stmt_prepare(c, ins, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 2), 0);
	assert_int_equal(jg_stmt_bind_text(st, 2, NULL), 0);
	assert_int_equal(jg_stmt_bind_null(st, 3), 0);
	assert_int_equal(jg_stmt_bind_null(st, 4), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 5, NULL, 0), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, ins, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 3), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 3, INT64_MAX), 0);
	assert_int_equal(jg_stmt_bind_double(st, 4, -INFINITY), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);

	assert_int_equal(
	    jg_stmt_prepare(c, "SELECT t, i, d, b, flag, n FROM types ORDER BY k", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_string_equal(jg_stmt_column_text(st, 0), "grüße, 'quoted' \"and\" ?");
	assert_int_equal(jg_stmt_column_int64(st, 1), INT64_MIN);
	assert_true(jg_stmt_column_double(st, 2) == 0.1); /* exact: 17 digits each way */
	const unsigned char *b = jg_stmt_column_blob(st, 3, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(b, "\x01\x02", 2);
	assert_int_equal(jg_stmt_column_int64(st, 4), 1); /* a boolean reads 1/0 */
	assert_true(jg_stmt_column_double(st, 4) == 1.0);
	assert_int_equal(jg_stmt_column_int64(st, 5), 2); /* a numeric truncates, as SQLite */
	assert_true(jg_stmt_column_double(st, 5) == 2.75);
	for (int col = 0; col < 6; col++)
		assert_int_equal(jg_stmt_column_is_null(st, col), 0);

	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	for (int col = 0; col < 6; col++)
		assert_int_equal(jg_stmt_column_is_null(st, col), 1);
	assert_null(jg_stmt_column_text(st, 0));
	assert_int_equal(jg_stmt_column_int64(st, 1), 0);
	assert_true(jg_stmt_column_double(st, 2) == 0.0);
	len = 99;
	assert_null(jg_stmt_column_blob(st, 3, &len));
	assert_int_equal(len, 0);
	assert_null(jg_stmt_column_text(st, 3));

	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 1), INT64_MAX);
	assert_true(isinf(jg_stmt_column_double(st, 2)) && jg_stmt_column_double(st, 2) < 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	/* a column past the end reads as NULL, not a crash */
	assert_int_equal(jg_stmt_column_is_null(st, 42), 1);
	jg_stmt_finish(st);
	jg_store_release(store, c);
}

static void
test_blobs_keep_nul_bytes(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;
	unsigned char all[256];
	size_t len;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	script(c, "DROP TABLE IF EXISTS blobs; CREATE TABLE blobs (k int, b bytea)");
	assert_int_equal(jg_stmt_prepare(c, "INSERT INTO blobs VALUES (?, ?)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 1), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 2, all, sizeof(all)), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, "INSERT INTO blobs VALUES (?, ?)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 2), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 2, "", 0), 0); /* empty, not NULL */
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);

	assert_int_equal(one_int(c, "SELECT length(b) FROM blobs WHERE k = 1"), 256);
	assert_int_equal(one_int(c, "SELECT get_byte(b, 0) + get_byte(b, 255) FROM blobs WHERE "
				    "k = 1"),
			 255);
	assert_int_equal(jg_stmt_prepare(c, "SELECT b, b FROM blobs ORDER BY k", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	const void *got = jg_stmt_column_blob(st, 0, &len);
	assert_int_equal(len, 256);
	assert_memory_equal(got, all, 256);
	/* the same bytes as text (SQLite gives a blob's bytes too), terminated */
	const char *text = jg_stmt_column_text(st, 1);
	assert_memory_equal(text, all, 256);
	assert_int_equal(text[256], '\0');
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	jg_stmt_column_blob(st, 0, &len); /* an empty blob: only its length matters */
	assert_int_equal(len, 0);
	assert_int_equal(jg_stmt_column_is_null(st, 0), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	/* a blob compares as bytes on the server too */
	assert_int_equal(jg_stmt_prepare(c, "SELECT count(*) FROM blobs WHERE b = ?", &st), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 1, all, sizeof(all)), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	jg_stmt_finish(st);
	jg_store_release(store, c);
}

/* ---- the statement cache ------------------------------------------------- */

static void
test_statements_are_prepared_once_per_connection(void **state)
{
	(void)state;
	static const char sql[] = "SELECT ? + 1";
	static const char same_text[] = "SELECT ? + 1"; /* another address: another entry */
	static const char count[] =
	    "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1 + 1'";
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *a, *b;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(jg_stmt_prepare(c, sql, &a), 0);
		assert_int_equal(jg_stmt_bind_int64(a, 1, i), 0);
		assert_int_equal(jg_stmt_step(a), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(a, 0), i + 1);
		jg_stmt_finish(a);
	}
	assert_int_equal(jg_stmt_prepare(c, sql, &b), 0);
	assert_ptr_equal(a, b);
	jg_stmt_finish(b);
	assert_int_equal(one_int(c, count), 1);
	assert_int_equal(jg_stmt_prepare(c, same_text, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(jg_stmt_step(b), JG_STMT_ROW);
	jg_stmt_finish(b);
	assert_int_equal(one_int(c, count), 2);

	/*
	 * More distinct statements than the cache holds: the oldest are evicted
	 * (and deallocated on the server), but never one that is held.
	 */
	static char texts[80][48];
	struct jg_stmt *held;
	assert_int_equal(jg_stmt_prepare(c, sql, &held), 0);
	assert_int_equal(jg_stmt_bind_int64(held, 1, 41), 0);
	for (int i = 0; i < 80; i++) {
		struct jg_stmt *st;
		snprintf(texts[i], sizeof(texts[i]), "SELECT %d AS evict_me", i);
		assert_int_equal(jg_stmt_prepare(c, texts[i], &st), 0);
		assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st, 0), i);
		jg_stmt_finish(st);
	}
	assert_int_equal(jg_stmt_step(held), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(held, 0), 42);
	jg_stmt_finish(held);
	int64_t on_server = one_int(c, "SELECT count(*) FROM pg_prepared_statements");
	assert_true(on_server <= 64);
	jg_store_release(store, c);
}

/*
 * The cache's rule (store.h): a statement is held from prepare to finish, and
 * preparing any number of others meanwhile never evicts, moves or resets it:
 * a plain statement and a scan half-way through their rows go on where they
 * were.  With every slot held, prepare refuses instead of evicting one.
 */
static void
test_held_statements_survive_eviction(void **state)
{
	(void)state;
	static char texts[100][48];
	static char full[JG_STORE_STMT_CACHE + 1][48];
	struct jg_stmt *plain, *scan, *st, *many[JG_STORE_STMT_CACHE + 1];
	struct jg_store_conn *c = conn_of(store);

	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(
	    jg_stmt_prepare(c, "SELECT g FROM generate_series(1, 3) g ORDER BY g", &plain), 0);
	assert_int_equal(jg_stmt_step(plain), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(plain, 0), 1);
	assert_int_equal(
	    jg_stmt_prepare_scan(c, "SELECT g FROM generate_series(1, 1000) g ORDER BY g", &scan),
	    0);
	assert_int_equal(jg_stmt_step(scan), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(scan, 0), 1);
	for (int i = 0; i < 100; i++) {
		snprintf(texts[i], sizeof(texts[i]), "SELECT %d AS evict_me", i);
		assert_int_equal(jg_stmt_prepare(c, texts[i], &st), 0);
		assert_ptr_not_equal(st, plain);
		assert_ptr_not_equal(st, scan);
		assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(st, 0), i);
		jg_stmt_finish(st);
	}
	assert_int_equal(jg_stmt_step(plain), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(plain, 0), 2);
	assert_int_equal(jg_stmt_step(plain), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(plain, 0), 3);
	assert_int_equal(jg_stmt_step(plain), JG_STMT_DONE);
	jg_stmt_finish(plain);
	for (int64_t want = 2; want <= 1000; want++) { /* across batches: its cursor is intact */
		assert_int_equal(jg_stmt_step(scan), JG_STMT_ROW);
		assert_int_equal(jg_stmt_column_int64(scan, 0), want);
	}
	assert_int_equal(jg_stmt_step(scan), JG_STMT_DONE);
	jg_stmt_finish(scan);
	assert_int_equal(jg_store_rollback(c), 0);

	for (int i = 0; i <= JG_STORE_STMT_CACHE; i++)
		snprintf(full[i], sizeof(full[i]), "SELECT %d AS held", i);
	for (int i = 0; i < JG_STORE_STMT_CACHE; i++) {
		assert_int_equal(jg_stmt_prepare(c, full[i], &many[i]), 0);
		assert_int_equal(jg_stmt_step(many[i]), JG_STMT_ROW);
	}
	assert_int_equal(jg_stmt_prepare(c, full[JG_STORE_STMT_CACHE], &st), JG_ESTORE);
	assert_non_null(strstr(jg_store_errmsg(c), "statements in use at once"));
	for (int i = 0; i < JG_STORE_STMT_CACHE; i++)
		assert_int_equal(jg_stmt_column_int64(many[i], 0), i);
	jg_stmt_finish(many[7]);
	assert_int_equal(jg_stmt_prepare(c, full[JG_STORE_STMT_CACHE], &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), JG_STORE_STMT_CACHE);
	jg_store_release(store, c); /* the rest left held: release finishes them */
	c = conn_of(store);
	assert_int_equal(jg_stmt_prepare(c, texts[0], &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	jg_stmt_finish(st);
	jg_store_release(store, c);
}

/* ---- transactions -------------------------------------------------------- */

static int64_t
count_tx(struct jg_store_conn *c)
{
	return one_int(c, "SELECT count(*) FROM tx");
}

static void
insert_tx(struct jg_store_conn *c, int64_t v, int expect)
{
	struct jg_stmt *st;
	assert_int_equal(jg_stmt_prepare(c, "INSERT INTO tx VALUES (?)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, v), 0);
	assert_int_equal(jg_stmt_step(st), expect);
	jg_stmt_finish(st);
}

static void
test_transactions_commit_roll_back_and_end_at_release(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store), *other = conn_of(store);

	script(c, "DROP TABLE IF EXISTS tx; CREATE TABLE tx (v bigint UNIQUE)");
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 1);
	insert_tx(c, 1, JG_STMT_DONE);
	assert_int_equal(count_tx(other), 0); /* not visible before commit */
	assert_int_equal(jg_store_rollback(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(count_tx(c), 0);

	assert_int_equal(jg_store_begin(c), 0);
	insert_tx(c, 2, JG_STMT_DONE);
	assert_int_equal(jg_store_commit(c), 0);
	assert_int_equal(count_tx(other), 1);

	/* left open at release: rolled back */
	assert_int_equal(jg_store_begin(c), 0);
	insert_tx(c, 3, JG_STMT_DONE);
	jg_store_release(store, c);
	assert_int_equal(count_tx(other), 1);

	/* a failed statement aborts the transaction: commit reports it, nothing stays */
	c = conn_of(store);
	assert_int_equal(jg_store_begin(c), 0);
	insert_tx(c, 4, JG_STMT_DONE);
	insert_tx(c, 2, JG_ECONFLICT);
	assert_int_equal(jg_store_in_transaction(c), 1);
	insert_tx(c, 5, JG_ESTORE); /* "current transaction is aborted" */
	assert_int_equal(jg_store_commit(c), JG_ESTORE);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(count_tx(other), 1);

	/* a read transaction refuses writes */
	assert_int_equal(jg_store_begin_read(c), 0);
	insert_tx(c, 6, JG_EINVAL);
	assert_int_equal(jg_store_rollback(c), 0);
	jg_store_release(store, c);
	jg_store_release(store, other);
}

/* The rows of a scan of tx's values > after, in one read of the whole scan or of `first` rows. */
static int
scan_tx(struct jg_store_conn *c, int64_t after, int first)
{
	struct jg_stmt *st;
	int n = 0, rc = JG_STMT_ROW;
	assert_int_equal(jg_stmt_prepare_scan(c, "SELECT v FROM tx WHERE v > ? ORDER BY v", &st),
			 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, after), 0);
	while ((first == 0 || n < first) && (rc = jg_stmt_step(st)) == JG_STMT_ROW)
		n++;
	if (first == 0)
		assert_int_equal(rc, JG_STMT_DONE);
	jg_stmt_finish(st);
	return n;
}

/*
 * A read transaction's BEGIN travels with its first statement, and a scan's
 * cursor is closed by the next message sent (or by the transaction's end):
 * round trips saved, meaning kept.  The snapshot is the first statement's,
 * a failure of that statement aborts the transaction as before, and a scan
 * runs again and again in one transaction, across savepoints too.
 */
static void
test_read_transactions_send_their_begin_with_the_first_statement(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store), *other = conn_of(store);

	script(c, "DROP TABLE IF EXISTS tx; CREATE TABLE tx (v bigint UNIQUE)");
	insert_tx(other, 1, JG_STMT_DONE);
	/* begun, nothing run: a transaction for the caller, none on the server, ends for free */
	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 1);
	assert_int_equal(jg_store_rollback(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(jg_store_commit(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 0);

	/* one snapshot from the first statement on: a commit in between is not seen */
	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(count_tx(c), 1);
	insert_tx(other, 2, JG_STMT_DONE);
	assert_int_equal(count_tx(c), 1);
	assert_int_equal(scan_tx(c, 0, 0), 1);
	assert_int_equal(jg_store_rollback(c), 0);
	assert_int_equal(count_tx(c), 2);

	/* a scan first: BEGIN, DECLARE and FETCH together; the same scan again and again */
	assert_int_equal(jg_store_begin_read(c), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(scan_tx(c, 0, 0), 2);
		assert_int_equal(scan_tx(c, 0, 1), 1); /* left before its end */
	}
	assert_int_equal(one_int(c, "SELECT count(*) FROM pg_cursors WHERE name <> ''"), 0);
	/* a write in a read transaction that began lazily: still refused */
	insert_tx(c, 9, JG_EINVAL);
	assert_int_equal(jg_store_rollback(c), 0);

	/* the first statement fails: the transaction is aborted as it would be otherwise */
	assert_int_equal(jg_store_begin_read(c), 0);
	struct jg_stmt *st;
	assert_int_equal(jg_stmt_prepare(c, "SELECT 1 / (count(*) - count(*)) FROM tx", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_ESTORE); /* division by zero */
	jg_stmt_finish(st);
	assert_int_equal(jg_store_in_transaction(c), 1);
	assert_int_equal(jg_stmt_prepare(c, "SELECT count(*) FROM tx", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_ESTORE); /* "current transaction is aborted" */
	jg_stmt_finish(st);
	assert_int_equal(jg_store_rollback(c), 0);
	assert_int_equal(count_tx(c), 2);

	/* cursors closed lazily and savepoints: each CLOSE still comes before what follows */
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(scan_tx(c, 0, 1), 1);
	assert_int_equal(jg_store_exec(c, "SAVEPOINT sp"), 0);
	assert_int_equal(scan_tx(c, 0, 1), 1);
	assert_int_equal(jg_store_exec(c, "ROLLBACK TO SAVEPOINT sp"), 0);
	assert_int_equal(scan_tx(c, 1, 0), 1);
	insert_tx(c, 3, JG_STMT_DONE);
	assert_int_equal(scan_tx(c, 0, 0), 3);
	assert_int_equal(jg_store_commit(c), 0);
	assert_int_equal(count_tx(other), 3);
	/* a scan left open at release goes with the rollback; the connection is clean after */
	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(scan_tx(c, 0, 1), 1);
	jg_store_release(store, c);
	c = conn_of(store);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(count_tx(c), 3);
	jg_store_release(store, c);
	jg_store_release(store, other);
}

/*
 * A scan finished after an error inside a savepoint: ROLLBACK TO SAVEPOINT
 * must still recover the transaction (its CLOSE cannot go in front of it:
 * in an aborted transaction every command but a rollback fails).
 */
static void
test_scan_finished_in_an_aborted_savepoint_still_rolls_back_to_it(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store), *other = conn_of(store);
	struct jg_stmt *st;

	script(c, "DROP TABLE IF EXISTS tx; CREATE TABLE tx (v bigint UNIQUE)");
	insert_tx(c, 1, JG_STMT_DONE);
	insert_tx(c, 2, JG_STMT_DONE);
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(jg_stmt_prepare_scan(c, "SELECT v FROM tx WHERE v > ? ORDER BY v", &st),
			 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 0), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_store_exec(c, "SAVEPOINT sp"), 0);
	insert_tx(c, 1, JG_ECONFLICT); /* the transaction is aborted now */
	jg_stmt_finish(st);	       /* the scan is left after the error */
	assert_int_equal(jg_store_exec(c, "ROLLBACK TO SAVEPOINT sp"), 0);
	insert_tx(c, 3, JG_STMT_DONE);
	assert_int_equal(jg_store_commit(c), 0);
	assert_int_equal(count_tx(other), 3);
	jg_store_release(store, c);
	jg_store_release(store, other);
}

static void
test_constraint_is_conflict_and_errors_carry_no_values(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;

	script(c, "DROP TABLE IF EXISTS people; CREATE TABLE people (email text UNIQUE NOT NULL)");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jg_stmt_prepare(c, "INSERT INTO people VALUES (?)", &st), 0);
		assert_int_equal(jg_stmt_bind_text(st, 1, "alice@example.com"), 0);
		assert_int_equal(jg_stmt_step(st), i == 0 ? JG_STMT_DONE : JG_ECONFLICT);
		jg_stmt_finish(st);
	}
	assert_non_null(strstr(jg_store_errmsg(c), "23505"));
	assert_null(strstr(jg_store_errmsg(c), "alice"));
	/* NOT NULL is a constraint too */
	assert_int_equal(jg_stmt_prepare(c, "INSERT INTO people VALUES (?)", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_ECONFLICT);
	jg_stmt_finish(st);
	/* a data exception quotes the value in its message: withheld */
	assert_int_equal(jg_stmt_prepare(c, "SELECT CAST(? AS integer)", &st), 0);
	assert_int_equal(jg_stmt_bind_text(st, 1, "secret-value"), 0);
	assert_int_equal(jg_stmt_step(st), JG_ESTORE);
	jg_stmt_finish(st);
	assert_non_null(strstr(jg_store_errmsg(c), "22P02"));
	assert_null(strstr(jg_store_errmsg(c), "secret-value"));
	/* a syntax error shows at the first step */
	assert_int_equal(jg_stmt_prepare(c, "SELEC 1", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_ESTORE);
	jg_stmt_finish(st);
	assert_non_null(strstr(jg_store_errmsg(c), "42601"));
	jg_store_release(store, c);
}

static void
test_insufficient_privilege_is_denied(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;
	assert_int_equal(jg_stmt_prepare(c, "SELECT rolpassword FROM pg_authid", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_EDENIED);
	jg_stmt_finish(st);
	jg_store_release(store, c);
}

/* Write skew under SERIALIZABLE: both read the sum, both insert; the second to commit must retry.
 */
static void
test_serialization_failure_is_retry(void **state)
{
	(void)state;
	struct jg_store_conn *a = conn_of(store), *b = conn_of(store);
	static const char sum[] = "SELECT COALESCE(sum(v), 0) FROM skew";
	static const char add[] = "INSERT INTO skew VALUES (?)";
	struct jg_stmt *st;

	script(a, "DROP TABLE IF EXISTS skew; CREATE TABLE skew (v int)");
	assert_int_equal(jg_store_begin_serializable(a), 0);
	assert_int_equal(jg_store_begin_serializable(b), 0);
	int64_t sa = one_int(a, sum), sb = one_int(b, sum);
	assert_int_equal(sa, 0);
	assert_int_equal(sb, 0);
	assert_int_equal(jg_stmt_prepare(a, add, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 1), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(b, add, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 2), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_store_commit(a), 0);
	assert_int_equal(jg_store_commit(b), JG_ERETRY);
	assert_non_null(strstr(jg_store_errmsg(b), "40001"));
	/* run again: it sees a's row now */
	assert_int_equal(jg_store_begin_serializable(b), 0);
	assert_int_equal(one_int(b, sum), 1);
	assert_int_equal(jg_store_commit(b), 0);
	jg_store_release(store, a);
	jg_store_release(store, b);
}

/* One side of a deadlock: lock one row, wait for the other side, then want its row. */
struct side {
	const char *first, *second;
	pthread_barrier_t *both_locked;
	int rc;
};

static void *
deadlock_side(void *arg)
{
	struct side *d = arg;
	struct jg_store_conn *c;
	struct jg_stmt *st;

	d->rc = JG_ESTORE;
	if (jg_store_acquire(store, &c) != 0)
		return NULL;
	if (jg_store_begin(c) == 0 && jg_stmt_prepare(c, d->first, &st) == 0) {
		int locked = jg_stmt_step(st) == JG_STMT_DONE;
		jg_stmt_finish(st);
		pthread_barrier_wait(d->both_locked);
		if (locked && jg_stmt_prepare(c, d->second, &st) == 0) {
			d->rc = jg_stmt_step(st);
			jg_stmt_finish(st);
		}
	}
	jg_store_release(store, c); /* rolls back: the other side goes on */
	return NULL;
}

static void
test_deadlock_is_retry(void **state)
{
	(void)state;
	static const char one[] = "UPDATE dl SET v = v + 1 WHERE k = 1";
	static const char two[] = "UPDATE dl SET v = v + 1 WHERE k = 2";
	pthread_barrier_t b;
	pthread_t ta, tb;
	struct side a = {one, two, &b, 0}, z = {two, one, &b, 0};
	struct jg_store_conn *c = conn_of(store);

	script(c, "DROP TABLE IF EXISTS dl; CREATE TABLE dl (k int PRIMARY KEY, v int); "
		  "INSERT INTO dl VALUES (1, 0), (2, 0)");
	jg_store_release(store, c);
	pthread_barrier_init(&b, NULL, 2);
	assert_int_equal(pthread_create(&ta, NULL, deadlock_side, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, deadlock_side, &z), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&b);
	/* the server's deadlock detector ends one (after deadlock_timeout, 1 s); the other goes on
	 */
	assert_true((a.rc == JG_ERETRY && z.rc == JG_STMT_DONE) ||
		    (a.rc == JG_STMT_DONE && z.rc == JG_ERETRY));
}

static void
test_exec_script_and_changes(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;
	char err[256];

	script(c, "DROP TABLE IF EXISTS s1; CREATE TABLE s1 (v int);\n"
		  "-- a comment; with a semicolon\n"
		  "INSERT INTO s1 VALUES (1), (2), (3);");
	assert_int_equal(jg_stmt_prepare(c, "UPDATE s1 SET v = v + ? WHERE v >= 2", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 10), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_store_changes(c), 2);
	assert_int_equal(one_int(c, "SELECT sum(v) FROM s1"), 1 + 12 + 13);
	assert_int_equal(jg_store_changes(c), 2); /* a SELECT leaves it */
	/* a failing script: the error, and none of it applied (one implicit transaction) */
	assert_int_equal(
	    jg_store_exec_script(c, "INSERT INTO s1 VALUES (9); SELEC", err, sizeof(err)),
	    JG_ESTORE);
	assert_non_null(strstr(err, "42601"));
	assert_int_equal(one_int(c, "SELECT count(*) FROM s1 WHERE v = 9"), 0);
	jg_store_release(store, c);
}

/* ---- what is SQLite-only or means something else here -------------------- */

static void
test_sqlite_only_functions_refuse(void **state)
{
	(void)state;
	struct jg_store_conn *c = conn_of(store);
	char err[256];
	int fd = 7;

	assert_int_equal(jg_store_engine(store), JG_STORE_POSTGRES);
	assert_int_equal(jg_store_conn_engine(c), JG_STORE_POSTGRES);
	assert_int_equal(jg_store_last_insert_rowid(c), JG_EINVAL);
	assert_int_equal(jg_store_backup(store, "/tmp/never", err, sizeof(err)), JG_EINVAL);
	assert_int_equal(access("/tmp/never", F_OK), -1);
	assert_int_equal(jg_store_backup_file(url, "/tmp/never", err, sizeof(err)), JG_EINVAL);
	assert_int_equal(jg_store_self_contained(url, err, sizeof(err)), JG_EINVAL);
	assert_int_equal(jg_store_lock_exclusive(url, &fd, err, sizeof(err)), JG_EINVAL);
	assert_int_equal(fd, -1);
	assert_int_equal(jg_store_ping(store), 0);
	assert_int_equal(jg_store_writable(store, err, sizeof(err)), 0);
	jg_store_release(store, c);
}

static int64_t
version(struct jg_store_conn *c)
{
	int64_t v = -1;
	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(jg_store_data_version(c, &v), 0);
	assert_int_equal(jg_store_rollback(c), 0);
	return v;
}

static void
test_data_version_moves_when_a_writer_commits(void **state)
{
	(void)state;
	struct jg_store_conn *a = conn_of(store), *b = conn_of(store);

	script(b, "DROP TABLE IF EXISTS dv; CREATE TABLE dv (v int)");
	int64_t v1 = version(a);
	assert_int_equal(version(a), v1); /* nothing committed in between */
	script(b, "INSERT INTO dv VALUES (1)");
	int64_t v2 = version(a);
	assert_int_not_equal(v2, v1);
	assert_int_equal(version(a), v2);
	/* reads elsewhere do not move it */
	assert_int_equal(one_int(b, "SELECT count(*) FROM dv"), 1);
	assert_int_equal(version(a), v2);
	/* unlike SQLite, conn's own commits move it too (documented in store.h) */
	script(a, "INSERT INTO dv VALUES (2)");
	assert_int_not_equal(version(a), v2);
	jg_store_release(store, a);
	jg_store_release(store, b);
}

/* ---- a scan holds one batch, not the result ------------------------------ */

static void
test_scan_holds_a_batch_not_the_result(void **state)
{
	(void)state;
	static const char q[] = "SELECT id, pad FROM big WHERE id > ? ORDER BY id";
	struct jg_store_conn *c = conn_of(store);
	struct jg_stmt *st;
	const int rows = 100000;

	script(c, "DROP TABLE IF EXISTS big; CREATE TABLE big AS SELECT g AS id, repeat('x', 200) "
		  "AS pad FROM generate_series(1, 100000) g");
	int64_t before = jg_store_memory_used(), most = before;

	/* a scan needs the transaction its cursor lives in */
	assert_int_equal(jg_stmt_prepare_scan(c, q, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 0), 0);
	assert_int_equal(jg_stmt_step(st), JG_EINVAL);
	jg_stmt_finish(st);

	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(jg_stmt_prepare_scan(c, q, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 0), 0);
	int n = 0, rc;
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		n++;
		assert_int_equal(jg_stmt_column_int64(st, 0), n);
		if (jg_store_memory_used() > most)
			most = jg_store_memory_used();
		if (n % 25000 == 0) /* other statements run on the connection meanwhile */
			assert_int_equal(one_int(c, "SELECT count(*) FROM big WHERE id <= 10"), 10);
	}
	assert_int_equal(rc, JG_STMT_DONE);
	assert_int_equal(n, rows);
	jg_stmt_finish(st);
	/* 256 rows of ~200 bytes at a time, against ~25 MB for the whole result */
	assert_true(most - before < 512 * 1024);
	assert_int_equal(jg_store_memory_used(), before);
	/* the cursor is closed: the transaction goes on, and a new scan can start */
	assert_int_equal(one_int(c, "SELECT count(*) FROM pg_cursors WHERE name <> ''"), 0);
	assert_int_equal(jg_stmt_prepare_scan(c, q, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, rows - 1), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), rows);
	jg_stmt_finish(st); /* before its end: closed too */
	assert_int_equal(one_int(c, "SELECT count(*) FROM pg_cursors WHERE name <> ''"), 0);
	assert_int_equal(jg_store_rollback(c), 0);

	/* the same query without a scan holds everything: what the scan avoids */
	assert_int_equal(jg_stmt_prepare(c, q, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 0), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_true(jg_store_memory_used() - before > 10 * 1024 * 1024);
	/* left unfinished at release: the result goes with it */
	jg_store_release(store, c);
	assert_int_equal(jg_store_memory_used(), before);
	c = conn_of(store);
	script(c, "DROP TABLE big");
	jg_store_release(store, c);
}

/* ---- URLs and passwords -------------------------------------------------- */

static void
expect_refused(const char *u, const char *why)
{
	struct jg_store *s = NULL;
	char err[512] = "";
	assert_int_equal(jg_store_check_url(u, err, sizeof(err)), JG_EINVAL);
	assert_int_equal(jg_store_open(u, &s, err, sizeof(err)), JG_EINVAL);
	assert_null(s);
	if (strstr(err, why) == NULL)
		fail_msg("%s: '%s' does not say '%s'", u, err, why);
	assert_null(strstr(err, "s3cret"));
}

static void
test_urls_without_password_and_verified_tls_off_loopback(void **state)
{
	(void)state;
	char u[256], err[512];

	snprintf(u, sizeof(u), "postgres://jitgate:s3cret@127.0.0.1:%s/jitgate", port);
	expect_refused(u, "password");
	snprintf(u, sizeof(u), "postgres://jitgate@127.0.0.1:%s/jitgate?password=s3cret", port);
	expect_refused(u, "password");
	expect_refused("postgresql://db.example.com/jitgate", "sslmode=verify-full");
	expect_refused("postgres://db.example.com/jitgate?sslmode=require", "verify-full");
	expect_refused("postgres://127.0.0.1:1,db.example.com:2/jitgate?target_session_attrs=read-"
		       "write",
		       "verify-full");
	expect_refused("postgres://localhost/jitgate?hostaddr=10.0.0.1", "verify-full");
	expect_refused("postgres://[2001:db8::1]/jitgate", "verify-full");
	expect_refused("postgres://127.0.0.1/jitgate?service=prod", "service");
	/* key=value strings and other schemes are refused, and no file is made of them */
	expect_refused("host=127.0.0.1 dbname=jitgate", "key=value");
	assert_int_equal(access("host=127.0.0.1 dbname=jitgate", F_OK), -1);
	expect_refused("mysql://127.0.0.1/jitgate", "scheme");

	/* accepted (not connected): loopback in every form, or full verification */
	assert_int_equal(
	    jg_store_check_url("postgres://127.0.0.1,[::1],localhost/x", err, sizeof(err)), 0);
	assert_int_equal(jg_store_check_url("postgres://%2Ftmp%2Fsock/x", err, sizeof(err)), 0);
	assert_int_equal(jg_store_check_url("postgres://db1.example.com,db2.example.com/x?"
					    "sslmode=verify-full&target_session_attrs=read-write",
					    err, sizeof(err)),
			 0);
	/* the environment cannot send a loopback URL elsewhere */
	setenv("PGHOST", "db.example.com", 1);
	assert_int_equal(jg_store_check_url("postgres:///jitgate", err, sizeof(err)), JG_EINVAL);
	unsetenv("PGHOST");
	setenv("PGHOSTADDR", "10.1.2.3", 1);
	assert_int_equal(jg_store_check_url("postgres://localhost/jitgate", err, sizeof(err)),
			 JG_EINVAL);
	unsetenv("PGHOSTADDR");
}

static void
test_password_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/jg-pgpw-XXXXXX", file[128], u[256], err[512];
	struct jg_store *s = NULL;
	struct jg_store_options opts = {.password_file = file};

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/password", dir);
	cluster(NULL, 0, "role", base, "jg_pw", file, (const char *)NULL);
	snprintf(u, sizeof(u), "postgres://jg_pw@127.0.0.1:%s/jitgate", port);
	setenv("PGPASSFILE", "/nonexistent/pgpass", 1); /* no other source of a password */

	assert_int_equal(jg_store_open(u, &s, err, sizeof(err)), JG_ESTORE);
	assert_non_null(strstr(err, "password"));
	assert_int_equal(jg_store_open_opts(u, &opts, &s, err, sizeof(err)), 0);
	struct jg_store_conn *c = conn_of(s);
	assert_int_equal(one_int(c, "SELECT current_user = 'jg_pw'"), 1);
	jg_store_release(s, c);
	jg_store_close(s);

	/* a password file others can read is refused, as every secret file */
	assert_int_equal(chmod(file, 0644), 0);
	assert_int_equal(jg_store_open_opts(u, &opts, &s, err, sizeof(err)), JG_EDENIED);
	/* a wrong password fails at open without printing it */
	assert_int_equal(chmod(file, 0600), 0);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	assert_true(fputs("s3cret-but-wrong\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(jg_store_open_opts(u, &opts, &s, err, sizeof(err)), JG_ESTORE);
	assert_null(strstr(err, "s3cret"));
	/* and SQLite has no use for one */
	assert_int_equal(
	    jg_store_open_opts("sqlite:///tmp/jg-never.db", &opts, &s, err, sizeof(err)),
	    JG_EINVAL);
	assert_int_equal(access("/tmp/jg-never.db", F_OK), -1);
	unsetenv("PGPASSFILE");
	unit_rm_tree(dir);
}

/* The URL dispatch also reaches SQLite: sqlite://PATH and a plain path. */
static void
test_sqlite_urls_open_sqlite(void **state)
{
	(void)state;
	char dir[] = "/tmp/jg-pgsq-XXXXXX", u[128], err[256];
	struct jg_store *s = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(u, sizeof(u), "sqlite://%s/a.db", dir);
	assert_int_equal(jg_store_open(u, &s, err, sizeof(err)), 0);
	assert_int_equal(jg_store_engine(s), JG_STORE_SQLITE);
	struct jg_store_conn *c = conn_of(s);
	assert_int_equal(jg_store_conn_engine(c), JG_STORE_SQLITE);
	assert_int_equal(one_int(c, "SELECT 40 + 2"), 42);
	jg_store_release(s, c);
	jg_store_close(s);
	snprintf(u, sizeof(u), "%s/a.db", dir); /* the same file by its path */
	assert_int_equal(jg_store_open(u, &s, err, sizeof(err)), 0);
	jg_store_close(s);
	unit_rm_tree(dir);
}

/* ---- lost connections ---------------------------------------------------- */

static void
test_lost_connection_fails_then_recovers_at_acquire(void **state)
{
	(void)state;
	struct jg_store *admin = open_url(admin_url);
	struct jg_store_conn *c = conn_of(store), *k = conn_of(admin);
	struct jg_store_conn *all[JG_STORE_POOL_SIZE];
	struct jg_stmt *st;

	/* killed while borrowed: the statement fails, nothing reconnects behind it */
	int64_t pid = one_int(c, "SELECT pg_backend_pid()");
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(jg_stmt_prepare(k, "SELECT pg_terminate_backend(?::int, 5000)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, pid), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_int_equal(jg_stmt_column_int64(st, 0), 1);
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, "SELECT 1", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_EUNAVAIL);
	jg_stmt_finish(st);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(jg_store_commit(c), JG_EUNAVAIL);
	jg_store_release(store, c);
	/* every connection of the pool works again at its next acquire */
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
		all[i] = conn_of(store);
		assert_int_equal(one_int(all[i], "SELECT 1"), 1);
	}
	/* killed while idle in the pool: noticed at acquire, the first statement works */
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++)
		jg_store_release(store, all[i]);
	script(k, "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
		  "WHERE usename = 'jitgate' AND backend_type = 'client backend'");
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
		all[i] = conn_of(store);
		assert_int_equal(one_int(all[i], "SELECT 2"), 2);
	}
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++)
		jg_store_release(store, all[i]);
	jg_store_release(admin, k);
	jg_store_close(admin);
}

/* ---- read batches ---------------------------------------------------------- */

static const char sql_ts_a[] = "SELECT transaction_timestamp()::text";
static const char sql_ts_b[] = "SELECT transaction_timestamp()::text";

/* The text of the one row st gives (copied into out). */
static void
step_text(struct jg_stmt *st, char *out, size_t outlen)
{
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	assert_non_null(jg_stmt_column_text(st, 0));
	snprintf(out, outlen, "%s", jg_stmt_column_text(st, 0));
}

/*
 * The cases both engines share, then what PostgreSQL adds: the reads of a
 * batch travel in one pipeline - one implicit transaction, so the same
 * transaction_timestamp(), where two plain steps are two transactions - and
 * a connection lost under a batch fails it as unavailable and is replaced
 * at the next acquire.
 */
static void
test_read_batch_one_round_trip_all_or_nothing(void **state)
{
	(void)state;
	struct jg_store *admin = open_url(admin_url);
	struct jg_store_conn *c, *k;
	struct jg_store_batch b;
	struct jg_stmt *st;
	char ta[64], tb[64];
	size_t sa, sb;

	store_batch_cases(store);

	c = conn_of(store);
	/* the teeth: two plain steps are two transactions, each its own timestamp */
	assert_int_equal(jg_stmt_prepare(c, sql_ts_a, &st), 0);
	step_text(st, ta, sizeof(ta));
	jg_stmt_finish(st);
	assert_int_equal(jg_stmt_prepare(c, sql_ts_b, &st), 0);
	step_text(st, tb, sizeof(tb));
	jg_stmt_finish(st);
	assert_string_not_equal(ta, tb);
	/* a batch: both in one pipeline, one implicit transaction */
	for (int round = 0; round < 2; round++) { /* parsed the first time, prepared after */
		jg_store_batch_init(&b, c);
		assert_int_equal(jg_store_batch_prepare(&b, sql_ts_a, &st, &sa), 0);
		assert_int_equal(jg_store_batch_prepare(&b, sql_ts_b, &st, &sb), 0);
		assert_int_equal(jg_store_batch_run(&b), 0);
		assert_int_equal(jg_store_batch_take(&b, sa, &st), 0);
		step_text(st, ta, sizeof(ta));
		assert_int_equal(jg_store_batch_take(&b, sb, &st), 0);
		step_text(st, tb, sizeof(tb));
		assert_string_equal(ta, tb);
		jg_store_batch_finish(&b);
		assert_int_equal(jg_store_in_transaction(c), 0);
	}

	/* the connection ends under a batch: unavailable, nothing taken, replaced later */
	int64_t pid = one_int(c, "SELECT pg_backend_pid()");
	k = conn_of(admin);
	assert_int_equal(jg_stmt_prepare(k, "SELECT pg_terminate_backend(?::int, 5000)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, pid), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	jg_stmt_finish(st);
	jg_store_release(admin, k);
	jg_store_batch_init(&b, c);
	assert_int_equal(jg_store_batch_prepare(&b, sql_ts_a, &st, &sa), 0);
	assert_int_equal(jg_store_batch_run(&b), JG_EUNAVAIL);
	assert_int_equal(jg_store_batch_take(&b, sa, &st), JG_EUNAVAIL);
	jg_store_batch_finish(&b);
	jg_store_release(store, c);
	c = conn_of(store);
	jg_store_batch_init(&b, c);
	assert_int_equal(jg_store_batch_prepare(&b, sql_ts_a, &st, &sa), 0);
	assert_int_equal(jg_store_batch_run(&b), 0);
	assert_int_equal(jg_store_batch_take(&b, sa, &st), 0);
	step_text(st, ta, sizeof(ta));
	jg_store_batch_finish(&b);
	jg_store_release(store, c);
	jg_store_close(admin);
}

/* ---- pipelines ----------------------------------------------------------- */

static const char sql_pl_insert[] = "INSERT INTO pl (k, v) VALUES (?, ?)";

static int
queue_pl(struct jg_store_conn *c, int64_t k, const void *v, size_t len)
{
	struct jg_stmt *st;
	assert_int_equal(jg_stmt_prepare(c, sql_pl_insert, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, k), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 2, v, len), 0);
	int rc = jg_stmt_queue(st);
	jg_stmt_finish(st);
	return rc;
}

/*
 * A pipeline is one transaction sent at once: statements parsed inside it
 * on first use, run in order, committed together (one transaction id for
 * every row); the first failure aborts the rest and nothing stays; an
 * abort keeps nothing; a step inside is refused; a connection lost before
 * the commit is JG_EUNAVAIL and replaced at the next acquire; thousands of
 * statements do not deadlock on full socket buffers.
 */
static void
test_pipeline_is_one_transaction(void **state)
{
	(void)state;
	struct jg_store *admin = open_url(admin_url);
	struct jg_store_conn *c = conn_of(store), *k = conn_of(admin), *other = conn_of(store);
	static const char nul[] = {'a', 0, 'b'};
	struct jg_stmt *st;

	script(c,
	       "DROP TABLE IF EXISTS pl; CREATE TABLE pl (k bigint PRIMARY KEY, v bytea NOT NULL)");
	assert_int_equal(jg_stmt_prepare(c, sql_pl_insert, &st), 0);
	assert_int_equal(jg_stmt_queue(st), JG_EINVAL); /* outside a pipeline */
	jg_stmt_finish(st);
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	assert_int_equal(queue_pl(c, 1, "one", 3), 0);
	assert_int_equal(queue_pl(c, 2, nul, sizeof(nul)), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl"), 0);
	assert_int_equal(jg_stmt_prepare(c, "SELECT 1", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_EINVAL); /* not inside a pipeline */
	jg_stmt_finish(st);
	assert_int_equal(jg_store_pipeline_commit(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl"), 2);
	assert_int_equal(one_int(other, "SELECT count(DISTINCT xmin::text) FROM pl"), 1);
	assert_int_equal(one_int(other, "SELECT length(v) FROM pl WHERE k = 2"), 3);

	/* the second statement fails: the third never runs, the first is rolled back */
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	assert_int_equal(queue_pl(c, 3, "x", 1), 0);
	assert_int_equal(queue_pl(c, 1, "dup", 3), 0); /* the server decides, later */
	assert_int_equal(queue_pl(c, 4, "y", 1), 0);
	assert_int_equal(jg_store_pipeline_commit(c), JG_ECONFLICT);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl"), 2);
	assert_int_equal(one_int(c, "SELECT count(*) FROM pl"), 2); /* the connection works on */

	/* a condition checked by the server: a NOT NULL column set to NULL when it does not hold */
	static const char sql_guard[] =
	    "UPDATE pl SET v = CASE WHEN length(v) = ? THEN v END WHERE k = 1";
	for (int want = 3; want <= 4; want++) {
		assert_int_equal(jg_store_pipeline_begin(c), 0);
		assert_int_equal(queue_pl(c, 10 + want, "g", 1), 0);
		assert_int_equal(jg_stmt_prepare(c, sql_guard, &st), 0);
		assert_int_equal(jg_stmt_bind_int64(st, 1, want), 0);
		assert_int_equal(jg_stmt_queue(st), 0);
		jg_stmt_finish(st);
		assert_int_equal(jg_store_pipeline_commit(c), want == 3 ? 0 : JG_ECONFLICT);
	}
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl"), 3); /* 13, not 14 */

	/* continued: a write transaction that read first (a row lock held), then one pipeline
	 * for its writes and the COMMIT; a failure there takes the earlier writes with it */
	assert_int_equal(jg_store_pipeline_continue(c), JG_EINVAL); /* no transaction open */
	assert_int_equal(jg_store_begin_read(c), 0);
	assert_int_equal(jg_store_pipeline_continue(c), JG_EINVAL); /* a read transaction */
	assert_int_equal(jg_store_rollback(c), 0);
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(
	    one_int(c, "SELECT count(*) FROM (SELECT k FROM pl WHERE k = 1 FOR UPDATE) l"), 1);
	assert_int_equal(jg_stmt_prepare(c, sql_pl_insert, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 20), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 2, "r", 1), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE); /* before the pipeline, the usual way */
	jg_stmt_finish(st);
	assert_int_equal(jg_store_pipeline_continue(c), 0);
	assert_int_equal(queue_pl(c, 21, "p", 1), 0);
	assert_int_equal(jg_store_pipeline_continue(c), JG_EINVAL); /* one at a time */
	assert_int_equal(jg_store_pipeline_commit(c), 0);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k IN (20, 21)"), 2);
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql_pl_insert, &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, 22), 0);
	assert_int_equal(jg_stmt_bind_blob(st, 2, "r", 1), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_DONE);
	jg_stmt_finish(st);
	assert_int_equal(jg_store_pipeline_continue(c), 0);
	assert_int_equal(queue_pl(c, 1, "dup", 3), 0);
	assert_int_equal(jg_store_pipeline_commit(c), JG_ECONFLICT);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k = 22"), 0);
	assert_int_equal(jg_store_begin(c), 0);
	assert_int_equal(jg_store_pipeline_continue(c), 0);
	assert_int_equal(queue_pl(c, 23, "a", 1), 0);
	jg_store_pipeline_abort(c); /* rolls the whole transaction back */
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k = 23"), 0);

	/* an abort sends no COMMIT */
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	assert_int_equal(queue_pl(c, 5, "z", 1), 0);
	jg_store_pipeline_abort(c);
	assert_int_equal(jg_store_in_transaction(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k = 5"), 0);

	/* a pipeline left open at release keeps nothing either */
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	assert_int_equal(queue_pl(c, 6, "w", 1), 0);
	jg_store_release(store, c);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k = 6"), 0);

	/* 3000 statements of 1 KiB: no deadlock while the results pile up */
	static char kib[1024];
	memset(kib, 'k', sizeof(kib));
	c = conn_of(store);
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(queue_pl(c, 1000 + i, kib, sizeof(kib)), 0);
	assert_int_equal(jg_store_pipeline_commit(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k >= 1000"), 3000);

	/* the connection ends before the commit: unavailable, nothing stays, replaced later */
	int64_t pid = one_int(c, "SELECT pg_backend_pid()");
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	assert_int_equal(queue_pl(c, 7, "v", 1), 0);
	assert_int_equal(jg_stmt_prepare(k, "SELECT pg_terminate_backend(?::int, 5000)", &st), 0);
	assert_int_equal(jg_stmt_bind_int64(st, 1, pid), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	jg_stmt_finish(st);
	assert_int_equal(jg_store_pipeline_commit(c), JG_EUNAVAIL);
	jg_store_release(store, c);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k = 7"), 0);
	c = conn_of(store);
	assert_int_equal(jg_store_pipeline_begin(c), 0);
	assert_int_equal(queue_pl(c, 8, "u", 1), 0); /* parsed again on the new session */
	assert_int_equal(jg_store_pipeline_commit(c), 0);
	assert_int_equal(one_int(other, "SELECT count(*) FROM pl WHERE k = 8"), 1);
	jg_store_release(store, c);
	jg_store_release(store, other);
	jg_store_release(admin, k);
	jg_store_close(admin);
}

/* ---- leadership ---------------------------------------------------------- */

static bool
polled(struct jg_store_leader *l)
{
	bool held = true;
	assert_int_equal(jg_store_leader_poll(l, &held), 0);
	return held;
}

/*
 * One holder per name among stores (as among replicas); given up when freed;
 * lost with its connection (a dead replica, a failover), and then taken by
 * another at its next poll; the process that lost it does not lead again while
 * the other holds it.
 */
static void
test_leader_one_holder_per_name_handed_over(void **state)
{
	(void)state;
	struct jg_store *other = open_url(url), *third = open_url(url);
	struct jg_store *admin = open_url(admin_url);
	struct jg_store_leader *a, *b, *c, *b_y;
	struct jg_store_conn *k;

	assert_int_equal(jg_store_leader_new(store, "checkpoints", &a), 0);
	assert_int_equal(jg_store_leader_new(other, "checkpoints", &b), 0);
	assert_int_equal(jg_store_leader_new(other, "stream", &b_y), 0);
	assert_true(polled(a));
	assert_false(polled(b));
	assert_true(polled(a));	  /* held across polls */
	assert_true(polled(b_y)); /* another name is another lock */
	/* given up: the other takes it at its next poll */
	jg_store_leader_free(a);
	assert_true(polled(b));
	/* its connection lost: the server frees the lock; a third process takes it */
	assert_int_equal(jg_store_leader_new(third, "checkpoints", &c), 0);
	assert_false(polled(c));
	k = conn_of(admin);
	script(k, "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
		  "WHERE usename = 'jitgate' AND backend_type = 'client backend' "
		  "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')");
	jg_store_release(admin, k);
	assert_true(polled(c));
	assert_false(polled(b)); /* it notices the loss: no second leader */
	assert_false(polled(b));
	assert_true(polled(c));
	jg_store_leader_free(b);
	jg_store_leader_free(b_y);
	jg_store_leader_free(c);
	jg_store_close(admin);
	jg_store_close(third);
	jg_store_close(other);
}

/* ---- failover (last: it ends the primary) -------------------------------- */

static int64_t
server_port(struct jg_store_conn *c)
{
	return one_int(c, "SELECT inet_server_port()");
}

static void
test_multi_host_url_follows_the_primary_through_failover(void **state)
{
	(void)state;
	char out[256], u[256], err[512];
	struct jg_store_conn *c;
	struct jg_stmt *st;

	cluster(out, sizeof(out), "standby", base, (const char *)NULL);
	const char *sp = strstr(out, "JG_PG_STANDBY_PORT=");
	assert_non_null(sp);
	long standby = strtol(sp + 19, NULL, 10);
	assert_true(standby > 0);

	/* the standby alone takes no writes */
	snprintf(u, sizeof(u), "postgres://jitgate@127.0.0.1:%ld/jitgate", standby);
	struct jg_store *ro = open_url(u);
	assert_int_equal(jg_store_writable(ro, err, sizeof(err)), JG_EDENIED);
	assert_non_null(strstr(err, "standby"));
	c = conn_of(ro);
	assert_int_equal(jg_stmt_prepare(c, "CREATE TABLE nope (v int)", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_EUNAVAIL); /* read-only: look for the primary */
	jg_stmt_finish(st);
	jg_store_release(ro, c);
	jg_store_close(ro);

	/* both listed, standby first: read-write finds the primary */
	snprintf(u, sizeof(u),
		 "postgres://jitgate@127.0.0.1:%ld,127.0.0.1:%s/jitgate?target_session_attrs=read-"
		 "write",
		 standby, port);
	struct jg_store *ha = open_url(u);
	c = conn_of(ha);
	assert_int_equal(server_port(c), strtol(port, NULL, 10));
	script(c, "DROP TABLE IF EXISTS fo; CREATE TABLE fo (v int)");
	script(c, "INSERT INTO fo VALUES (1)"); /* acknowledged by the synchronous standby */
	assert_int_equal(jg_store_writable(ha, err, sizeof(err)), 0);

	/* the standby configured as a copy of the primary's would be: waiting for a standby */
	cluster(NULL, 0, "sql", base, "standby", "ALTER SYSTEM SET synchronous_standby_names = '*'",
		(const char *)NULL);
	cluster(NULL, 0, "sql", base, "standby", "SELECT pg_reload_conf()", (const char *)NULL);

	/* the primary dies: the borrowed connection fails, the pool has nowhere to go */
	cluster(NULL, 0, "kill", base, "primary", (const char *)NULL);
	assert_int_equal(jg_stmt_prepare(c, "SELECT 1", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_EUNAVAIL);
	jg_stmt_finish(st);
	jg_store_release(ha, c);
	assert_int_equal(jg_store_acquire(ha, &c), JG_EUNAVAIL);
	assert_int_equal(jg_store_acquire(ha, &c), JG_EUNAVAIL); /* backing off: at once */

	/* the standby is promoted (and stops waiting for a standby of its own) */
	cluster(NULL, 0, "promote", base, (const char *)NULL);
	cluster(out, sizeof(out), "sql", base, "standby", "SHOW synchronous_standby_names",
		(const char *)NULL);
	assert_string_equal(out, "\n");
	int rc = JG_EUNAVAIL;
	for (int i = 0; i < 100 && rc != 0; i++) { /* the backoff is at most 5 s */
		usleep(100 * 1000);
		rc = jg_store_acquire(ha, &c);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(server_port(c), standby);
	assert_int_equal(one_int(c, "SELECT count(*) FROM fo"), 1); /* nothing acknowledged lost */
	assert_int_equal(jg_store_begin(c), 0);
	script(c, "INSERT INTO fo VALUES (2)");
	assert_int_equal(jg_store_commit(c), 0);
	assert_int_equal(one_int(c, "SELECT count(*) FROM fo"), 2);
	jg_store_release(ha, c);
	assert_int_equal(jg_store_writable(ha, err, sizeof(err)), 0);
	jg_store_close(ha);
}

static int
setup(void **state)
{
	(void)state;
	store = open_url(url);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	jg_store_close(store);
	return 0;
}

int
main(int argc, char **argv)
{
	(void)argc;
	url = getenv("JG_PG_URL");
	admin_url = getenv("JG_PG_ADMIN_URL");
	base = getenv("JG_PG_BASE");
	port = getenv("JG_PG_PORT");
	if (url == NULL || admin_url == NULL || base == NULL || port == NULL) {
		if (getenv("MAKELEVEL") != NULL) {
			fprintf(stderr, "test_store_pg: JG_PG_URL, JG_PG_ADMIN_URL, JG_PG_BASE and "
					"JG_PG_PORT are not set: make unit runs this test under "
					"tests/lib/pg-cluster.sh run\n");
			return 1;
		}
		/* run by hand: under a cluster of its own (from the repository root) */
		execl("tests/lib/pg-cluster.sh", "pg-cluster.sh", "run", "--", argv[0],
		      (char *)NULL);
		perror("test_store_pg: tests/lib/pg-cluster.sh (run from the repository root)");
		return 1;
	}
	/* a store per test: a test that fails half-way leaves no connection borrowed */
#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
	const struct CMUnitTest tests[] = {
	    TEST(test_placeholders_skip_literals_identifiers_and_comments),
	    TEST(test_parameter_types_the_server_cannot_infer),
	    TEST(test_every_bind_and_column_type_with_null),
	    TEST(test_blobs_keep_nul_bytes),
	    TEST(test_statements_are_prepared_once_per_connection),
	    TEST(test_held_statements_survive_eviction),
	    TEST(test_transactions_commit_roll_back_and_end_at_release),
	    TEST(test_read_transactions_send_their_begin_with_the_first_statement),
	    TEST(test_scan_finished_in_an_aborted_savepoint_still_rolls_back_to_it),
	    TEST(test_constraint_is_conflict_and_errors_carry_no_values),
	    TEST(test_insufficient_privilege_is_denied),
	    TEST(test_serialization_failure_is_retry),
	    TEST(test_deadlock_is_retry),
	    TEST(test_exec_script_and_changes),
	    TEST(test_sqlite_only_functions_refuse),
	    TEST(test_data_version_moves_when_a_writer_commits),
	    TEST(test_scan_holds_a_batch_not_the_result),
	    TEST(test_urls_without_password_and_verified_tls_off_loopback),
	    TEST(test_password_file),
	    TEST(test_sqlite_urls_open_sqlite),
	    TEST(test_lost_connection_fails_then_recovers_at_acquire),
	    TEST(test_pipeline_is_one_transaction),
	    TEST(test_read_batch_one_round_trip_all_or_nothing),
	    TEST(test_leader_one_holder_per_name_handed_over),
	    TEST(test_multi_host_url_follows_the_primary_through_failover),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
