/*
 * store.c - store.h's functions, dispatched to the engine behind each store.
 *
 * jg_store_open() chooses the engine from the URL: postgres:// and
 * postgresql:// go to store_pg.c; sqlite://PATH and a plain path go to
 * store_sqlite.c; libpq key=value strings and other schemes are refused, so
 * a mistyped connection string never becomes a new SQLite file.  After
 * that, each call reads the operations table at the start of the object it
 * is given (store_int.h) and calls through it: one load and one indirect
 * call on the statement path.  The path-based functions (backup of a file,
 * the file lock, self-contained) exist for SQLite only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "jitgate/error.h"
#include "jitgate/sha256.h"
#include "jitgate/store.h"
#include "store_int.h"

static bool
is_pg_url(const char *url)
{
	return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

/*
 * The SQLite file a URL names, or NULL (with the reason in err) for what is
 * neither a path nor a sqlite:// URL.
 */
static const char *
sqlite_path(const char *url, char *err, size_t errlen)
{
	const char *colon = strstr(url, "://");

	if (strncmp(url, "sqlite://", 9) == 0) {
		if (url[9] == '\0') {
			snprintf(err, errlen, "sqlite:// needs a path: sqlite:///abs/path.db");
			return NULL;
		}
		return url + 9;
	}
	if (colon != NULL && strcspn(url, "/") > (size_t)(colon - url)) {
		snprintf(err, errlen,
			 "unknown database URL scheme '%.*s': use sqlite://PATH or postgres://",
			 (int)(colon - url), url);
		return NULL;
	}
	if (*url == '\0') {
		snprintf(err, errlen, "empty database path");
		return NULL;
	}
	if (jg_store_pg_is_conninfo(url)) {
		snprintf(err, errlen,
			 "libpq key=value connection strings are not accepted: write a "
			 "postgres:// URI");
		return NULL;
	}
	return url;
}

int
jg_store_check_url(const char *url, char *err, size_t errlen)
{
	if (url == NULL) {
		snprintf(err, errlen, "no database URL");
		return JG_EINVAL;
	}
	if (is_pg_url(url))
		return jg_store_pg_check_url(url, err, errlen);
	return sqlite_path(url, err, errlen) ? 0 : JG_EINVAL;
}

int
jg_store_open_opts(const char *url, const struct jg_store_options *opts, struct jg_store **out,
		   char *err, size_t errlen)
{
	*out = NULL;
	if (url == NULL) {
		snprintf(err, errlen, "no database URL");
		return JG_EINVAL;
	}
	if (is_pg_url(url))
		return jg_store_pg_open(url, opts, out, err, errlen);
	const char *path = sqlite_path(url, err, errlen);
	if (path == NULL)
		return JG_EINVAL;
	if (opts != NULL && opts->password_file != NULL) {
		snprintf(err, errlen, "a password file applies to PostgreSQL only");
		return JG_EINVAL;
	}
	struct stat st;
	if (opts != NULL && opts->must_exist && stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return JG_ENOTFOUND;
	}
	return jg_store_sqlite_open(path, out, err, errlen);
}

int
jg_store_open(const char *url, struct jg_store **out, char *err, size_t errlen)
{
	return jg_store_open_opts(url, NULL, out, err, errlen);
}

void
jg_store_close(struct jg_store *store)
{
	if (store != NULL)
		JG_STORE_OPS(store)->close(store);
}

enum jg_store_engine
jg_store_engine(const struct jg_store *store)
{
	return JG_STORE_OPS(store)->engine;
}

enum jg_store_engine
jg_store_conn_engine(const struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->engine;
}

int
jg_store_backup(struct jg_store *store, const char *dest, char *err, size_t errlen)
{
	return JG_STORE_OPS(store)->backup(store, dest, err, errlen);
}

/* The path-based functions: a file name or sqlite:// URL, never PostgreSQL. */
static const char *
file_only(const char *what, const char *url, char *err, size_t errlen)
{
	if (is_pg_url(url)) {
		snprintf(err, errlen, "%s: SQLite only; a PostgreSQL database is not a file", what);
		return NULL;
	}
	return sqlite_path(url, err, errlen);
}

int
jg_store_backup_file(const char *src, const char *dest, char *err, size_t errlen)
{
	const char *path = file_only("backup", src, err, errlen);
	return path ? jg_store_sqlite_backup_file(path, dest, err, errlen) : JG_EINVAL;
}

int
jg_store_self_contained(const char *path, char *err, size_t errlen)
{
	const char *file = file_only("self-contained copy", path, err, errlen);
	return file ? jg_store_sqlite_self_contained(file, err, errlen) : JG_EINVAL;
}

int
jg_store_lock_exclusive(const char *path, int *fd, char *err, size_t errlen)
{
	const char *file = file_only("file lock", path, err, errlen);
	*fd = -1;
	return file ? jg_store_sqlite_lock_exclusive(file, fd, err, errlen) : JG_EINVAL;
}

int64_t
jg_store_memory_used(void)
{
	return jg_store_sqlite_memory_used() + jg_store_pg_memory_used();
}

int
jg_store_acquire(struct jg_store *store, struct jg_store_conn **out)
{
	return JG_STORE_OPS(store)->acquire(store, out);
}

void
jg_store_release(struct jg_store *store, struct jg_store_conn *conn)
{
	if (conn != NULL)
		JG_STORE_OPS(store)->release(store, conn);
}

int
jg_store_ping(struct jg_store *store)
{
	return JG_STORE_OPS(store)->ping(store);
}

int
jg_store_writable(struct jg_store *store, char *err, size_t errlen)
{
	return JG_STORE_OPS(store)->writable(store, err, errlen);
}

int
jg_store_begin(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->begin(conn);
}

int
jg_store_begin_serializable(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->begin_serializable(conn);
}

int
jg_store_begin_read(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->begin_read(conn);
}

int
jg_store_commit(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->commit(conn);
}

int
jg_store_rollback(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->rollback(conn);
}

int
jg_store_in_transaction(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->in_transaction(conn);
}

int
jg_store_exec_script(struct jg_store_conn *conn, const char *sql, char *err, size_t errlen)
{
	return JG_STORE_OPS(conn)->exec_script(conn, sql, err, errlen);
}

int
jg_stmt_prepare(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out)
{
	return JG_STORE_OPS(conn)->prepare(conn, sql, out);
}

int
jg_stmt_prepare_scan(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out)
{
	return JG_STORE_OPS(conn)->prepare_scan(conn, sql, out);
}

int
jg_stmt_bind_text(struct jg_stmt *st, int idx, const char *value)
{
	return JG_STORE_OPS(st)->bind_text(st, idx, value);
}

int
jg_stmt_bind_blob(struct jg_stmt *st, int idx, const void *value, size_t len)
{
	return JG_STORE_OPS(st)->bind_blob(st, idx, value, len);
}

int
jg_stmt_bind_int64(struct jg_stmt *st, int idx, int64_t value)
{
	return JG_STORE_OPS(st)->bind_int64(st, idx, value);
}

int
jg_stmt_bind_null(struct jg_stmt *st, int idx)
{
	return JG_STORE_OPS(st)->bind_null(st, idx);
}

int
jg_stmt_bind_double(struct jg_stmt *st, int idx, double value)
{
	return JG_STORE_OPS(st)->bind_double(st, idx, value);
}

int
jg_stmt_step(struct jg_stmt *st)
{
	return JG_STORE_OPS(st)->step(st);
}

const char *
jg_stmt_column_text(struct jg_stmt *st, int col)
{
	return JG_STORE_OPS(st)->column_text(st, col);
}

const void *
jg_stmt_column_blob(struct jg_stmt *st, int col, size_t *len)
{
	return JG_STORE_OPS(st)->column_blob(st, col, len);
}

int64_t
jg_stmt_column_int64(struct jg_stmt *st, int col)
{
	return JG_STORE_OPS(st)->column_int64(st, col);
}

int
jg_stmt_column_is_null(struct jg_stmt *st, int col)
{
	return JG_STORE_OPS(st)->column_is_null(st, col);
}

double
jg_stmt_column_double(struct jg_stmt *st, int col)
{
	return JG_STORE_OPS(st)->column_double(st, col);
}

int
jg_store_changes(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->changes(conn);
}

int
jg_store_data_version(struct jg_store_conn *conn, int64_t *out)
{
	return JG_STORE_OPS(conn)->data_version(conn, out);
}

int64_t
jg_store_last_insert_rowid(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->last_insert_rowid(conn);
}

void
jg_stmt_finish(struct jg_stmt *st)
{
	if (st != NULL)
		JG_STORE_OPS(st)->finish(st);
}

int
jg_store_pipeline_begin(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->pipeline_begin(conn, false);
}

int
jg_store_pipeline_continue(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->pipeline_begin(conn, true);
}

int
jg_stmt_queue(struct jg_stmt *st)
{
	return JG_STORE_OPS(st)->queue(st);
}

int
jg_store_pipeline_commit(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->pipeline_end(conn, true);
}

void
jg_store_pipeline_abort(struct jg_store_conn *conn)
{
	(void)JG_STORE_OPS(conn)->pipeline_end(conn, false);
}

/* ---- read batches (store.h) ---------------------------------------------- */

/* SQL that begins with the keyword SELECT (after white space): a query, by its text. */
static bool
is_query(const char *sql)
{
	sql += strspn(sql, " \t\r\n");
	return strncasecmp(sql, "SELECT", 6) == 0 &&
	       (sql[6] == ' ' || sql[6] == '\t' || sql[6] == '\r' || sql[6] == '\n' ||
		sql[6] == '(' || sql[6] == '*');
}

void
jg_store_batch_init(struct jg_store_batch *b, struct jg_store_conn *conn)
{
	memset(b, 0, sizeof(*b));
	b->conn = conn;
	if (conn == NULL)
		b->rc = JG_EINVAL;
}

int
jg_store_batch_prepare(struct jg_store_batch *b, const char *sql, struct jg_stmt **st, size_t *slot)
{
	struct jg_stmt *s = NULL;

	*st = NULL;
	*slot = 0;
	if (b->rc != 0)
		return b->rc;
	if (b->ran || b->n == JG_STORE_BATCH_MAX || sql == NULL || !is_query(sql))
		return b->rc = JG_EINVAL;
	int rc = jg_stmt_prepare(b->conn, sql, &s);
	if (rc != 0)
		return b->rc = rc;
	for (size_t i = 0; i < b->n; i++) {
		if (b->st[i] == s) { /* the same SQL twice: one statement for two reads */
			jg_stmt_finish(s);
			for (size_t j = 0; j < b->n; j++)
				if (b->st[j] == s)
					b->st[j] = NULL;
			return b->rc = JG_EINVAL;
		}
	}
	b->st[b->n] = s;
	*slot = b->n++;
	*st = s;
	return 0;
}

int
jg_store_batch_run(struct jg_store_batch *b)
{
	if (b->rc != 0)
		return b->rc;
	if (b->ran)
		return JG_EINVAL; /* once: what it read stays takeable */
	if (b->n == 0)
		return b->rc = JG_EINVAL;
	int rc = JG_STORE_OPS(b->conn)->batch_run(b->conn, b->st, b->n);
	if (rc != 0)
		return b->rc = rc;
	b->ran = true;
	return 0;
}

int
jg_store_batch_take(struct jg_store_batch *b, size_t slot, struct jg_stmt **st)
{
	*st = NULL;
	if (b->rc != 0)
		return b->rc;
	if (!b->ran || slot >= b->n || b->st[slot] == NULL)
		return JG_EINVAL;
	*st = b->st[slot];
	return 0;
}

void
jg_store_batch_finish(struct jg_store_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		jg_stmt_finish(b->st[i]);
		b->st[i] = NULL;
	}
	b->n = 0;
	b->ran = false;
	if (b->rc == 0)
		b->rc = JG_EINVAL; /* finished: nothing more to take */
}

int
jg_store_exec(struct jg_store_conn *conn, const char *sql)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql, &st);
	if (rc != 0)
		return rc;
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE || rc == JG_STMT_ROW ? 0 : rc;
}

int
jg_stmt_run(struct jg_stmt *st)
{
	int rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : rc == JG_STMT_ROW ? JG_ESTORE : rc;
}

const char *
jg_store_errmsg(struct jg_store_conn *conn)
{
	return JG_STORE_OPS(conn)->errmsg(conn);
}

/*
 * Leadership (store.h).  The advisory lock's key is the first 8 bytes of
 * SHA-256("jitgate leader " || name): every replica derives the same key,
 * and jitgate's names do not meet another application's small integers.
 * Every leader of the process is also on a list (under leaders_lock) with
 * its name and the answer of its last poll, for jg_store_leaders() - what
 * /metrics shows - which reads it from another thread than the poller's.
 */
struct jg_store_leader {
	bool always; /* SQLite: one serving process per file */
	struct jg_store_pg_leader *pg;
	char name[JG_STORE_LEADER_NAME_MAX + 1];
	bool held; /* the last poll's answer; under leaders_lock */
	struct jg_store_leader *next;
};

static pthread_mutex_t leaders_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jg_store_leader *leaders;

static void
leader_list_add(struct jg_store_leader *l)
{
	pthread_mutex_lock(&leaders_lock);
	l->next = leaders;
	leaders = l;
	pthread_mutex_unlock(&leaders_lock);
}

static void
leader_list_remove(const struct jg_store_leader *l)
{
	pthread_mutex_lock(&leaders_lock);
	for (struct jg_store_leader **p = &leaders; *p != NULL; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&leaders_lock);
}

size_t
jg_store_leaders(struct jg_store_leader_state *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&leaders_lock);
	for (const struct jg_store_leader *l = leaders; l != NULL; l = l->next, n++)
		if (n < max) {
			memcpy(out[n].name, l->name, sizeof(out[n].name));
			out[n].held = l->held;
		}
	pthread_mutex_unlock(&leaders_lock);
	return n;
}

int
jg_store_leader_new(struct jg_store *store, const char *name, struct jg_store_leader **out)
{
	struct jg_store_leader *l;
	char text[128];
	uint8_t md[32];
	uint64_t key = 0;

	*out = NULL;
	if (store == NULL || name == NULL || *name == '\0' ||
	    strlen(name) > JG_STORE_LEADER_NAME_MAX)
		return JG_EINVAL;
	int n = snprintf(text, sizeof(text), "jitgate leader %s", name);
	if (n < 0 || (size_t)n >= sizeof(text))
		return JG_EINVAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return JG_ENOMEM;
	memcpy(l->name, name, strlen(name) + 1);
	if (jg_store_engine(store) == JG_STORE_SQLITE) {
		l->always = true;
	} else {
		if (jg_sha256(text, (size_t)n, md) != 0) {
			free(l);
			return JG_ECRYPTO;
		}
		for (int i = 0; i < 8; i++)
			key = (key << 8) | md[i];
		if (jg_store_pg_leader_new(store, (int64_t)key, &l->pg) != 0) {
			free(l);
			return JG_ENOMEM;
		}
	}
	leader_list_add(l);
	*out = l;
	return 0;
}

int
jg_store_leader_poll(struct jg_store_leader *leader, bool *held)
{
	*held = false;
	if (leader == NULL)
		return JG_EINVAL;
	if (leader->always)
		*held = true;
	else
		jg_store_pg_leader_poll(leader->pg, held);
	pthread_mutex_lock(&leaders_lock);
	leader->held = *held;
	pthread_mutex_unlock(&leaders_lock);
	return 0;
}

void
jg_store_leader_free(struct jg_store_leader *leader)
{
	if (leader == NULL)
		return;
	leader_list_remove(leader);
	jg_store_pg_leader_free(leader->pg);
	free(leader);
}
