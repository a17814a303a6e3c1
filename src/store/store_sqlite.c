/*
 * store_sqlite.c - the SQLite engine behind store.h.
 *
 * One engine of store.h (store.c dispatches to it through the table at the
 * end; store_int.h).  A fixed pool of connections, each opened in WAL mode with
 * synchronous=FULL (a commit is on disk before it returns), foreign keys on
 * and a busy timeout so writers from several threads queue instead of
 * failing.  Each connection caches up to JG_STORE_STMT_CACHE prepared
 * statements by the address of their SQL text (handlers pass literals).  A
 * statement lives in a fixed slot of its connection and is held from
 * jg_stmt_prepare() to jg_stmt_finish() (or the connection's release): a
 * full cache evicts the least recently prepared statement nobody holds, and
 * never moves or finalizes a held one, so a caller's pointer stays valid
 * however many other statements it prepares meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "store_int.h"

#define STMT_CACHE	JG_STORE_STMT_CACHE
#define BUSY_TIMEOUT_MS 5000

struct jg_stmt {
	const struct jg_store_ops *ops; /* first: store.c dispatches on it */
	sqlite3_stmt *stmt;
	const char *sql; /* cache key: the caller's literal (NULL: a free slot) */
	struct jg_store_conn *conn;
	bool held;     /* between prepare and finish: never evicted */
	uint64_t used; /* LRU tick of the last prepare */
	int primed; /* a read batch's first step (JG_STMT_ROW or _DONE), given at the next; 0: none
		     */
};

struct jg_store_conn {
	const struct jg_store_ops *ops; /* first: store.c dispatches on it */
	sqlite3 *db;
	bool in_use;
	struct jg_stmt cache[STMT_CACHE]; /* slots never move: callers hold pointers */
	int ncache;			  /* slots [0, ncache) have been used */
	int nheld;			  /* statements between prepare and finish */
	uint64_t tick;
	const char *why;  /* a reason of the store's own for the last error, or NULL */
	bool in_pipeline; /* between jg_store_pipeline_begin and its end */
	int pipe_rc;	  /* the first error of the pipeline's statements */
};

struct jg_store {
	const struct jg_store_ops *ops; /* first: store.c dispatches on it */
	char *path;
	dev_t dev; /* the file opened, to notice it being removed or replaced */
	ino_t ino;
	int lock_fd; /* holds a shared flock: no restore replaces the file while open */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct jg_store_conn conns[JG_STORE_POOL_SIZE];
};

static int
open_conn(const char *path, struct jg_store_conn *c, char *err, size_t errlen)
{
	static const char *pragmas[] = {
	    "PRAGMA journal_mode=WAL",
	    "PRAGMA synchronous=FULL",
	    "PRAGMA foreign_keys=ON",
	    "PRAGMA trusted_schema=OFF",
	};
	int rc = sqlite3_open_v2(
	    path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "cannot open");
		return JG_ESTORE;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	for (size_t i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
		sqlite3_stmt *st = NULL;
		rc = sqlite3_prepare_v2(c->db, pragmas[i], -1, &st, NULL);
		if (rc == SQLITE_OK) {
			while ((rc = sqlite3_step(st)) == SQLITE_ROW)
				;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			int perm = (rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN;
			snprintf(
			    err, errlen, "%s: %s: %s%s", path, pragmas[i], sqlite3_errmsg(c->db),
			    perm ? ": are the file, its -wal and -shm and its directory writable "
				   "by this user?"
				 : "");
			return JG_ESTORE;
		}
	}
	return 0;
}

static void
close_conn(struct jg_store_conn *c)
{
	for (int i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].stmt);
	memset(c->cache, 0, sizeof(c->cache));
	c->ncache = 0;
	c->nheld = 0;
	sqlite3_close(c->db);
	c->db = NULL;
}

/*
 * The database file opened for its flock(2) only; created 0600 when missing
 * (it holds sessions and the audit log).  flock is independent of SQLite's
 * own fcntl locks, and this descriptor is closed only after every
 * connection (closing a descriptor of the file would drop fcntl locks).
 */
static int
lock_file(const char *path, int op, int *fd, char *err, size_t errlen)
{
	*fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return JG_ESTORE;
	}
	if (flock(*fd, op | LOCK_NB) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK) {
			snprintf(err, errlen, "%s: %s", path,
				 op == LOCK_EX ? "in use by a jitgate process (stop it first)"
					       : "locked by a restore in progress");
			return JG_EUNAVAIL;
		}
		snprintf(err, errlen, "%s: flock: %s", path, strerror(e));
		return JG_ESTORE;
	}
	return 0;
}

int
jg_store_sqlite_lock_exclusive(const char *path, int *fd, char *err, size_t errlen)
{
	int rc = lock_file(path, LOCK_EX, fd, err, errlen);
	return rc == JG_ESTORE ? JG_EIO : rc;
}

int
jg_store_sqlite_open(const char *path, struct jg_store **out, char *err, size_t errlen)
{
	struct jg_store *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return JG_ENOMEM;
	s->ops = &jg_store_sqlite_ops;
	s->lock_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	s->path = strdup(path);
	if (s->path == NULL) {
		jg_store_close(s);
		return JG_ENOMEM;
	}
	if (lock_file(path, LOCK_SH, &s->lock_fd, err, errlen) != 0) {
		jg_store_close(s);
		return JG_ESTORE;
	}
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
		s->conns[i].ops = &jg_store_sqlite_ops;
		if (open_conn(path, &s->conns[i], err, errlen) != 0) {
			jg_store_close(s);
			return JG_ESTORE;
		}
	}
	struct stat st, locked;
	if (stat(path, &st) != 0 || fstat(s->lock_fd, &locked) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		jg_store_close(s);
		return JG_ESTORE;
	}
	/* replaced between the lock and the connections (a restore finished): not ours */
	if (st.st_dev != locked.st_dev || st.st_ino != locked.st_ino) {
		snprintf(err, errlen, "%s: replaced while opening; try again", path);
		jg_store_close(s);
		return JG_ESTORE;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	*out = s;
	return 0;
}

static void
sq_close(struct jg_store *store)
{
	if (store == NULL)
		return;
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++)
		if (store->conns[i].db != NULL)
			close_conn(&store->conns[i]);
	if (store->lock_fd >= 0)
		close(store->lock_fd);
	pthread_mutex_destroy(&store->lock);
	pthread_cond_destroy(&store->freed);
	free(store->path);
	free(store);
}

/*
 * sqlite3_backup_step(-1) copies every page in one read transaction of src:
 * in WAL mode writers go on meanwhile and the copy is the snapshot at its
 * start.  The copy is synced before it is reported done.
 */
static int
backup_from(sqlite3 *src, const char *dest, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int fd, rc = JG_ESTORE;

	fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", dest,
			 errno == EEXIST ? "exists; refusing to overwrite it" : strerror(errno));
		return errno == EEXIST ? JG_ECONFLICT : JG_ESTORE;
	}
	if (sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", dest, dst ? sqlite3_errmsg(dst) : "cannot open");
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		goto out;
	}
	int step = sqlite3_backup_step(b, -1);
	if (sqlite3_backup_finish(b) != SQLITE_OK || step != SQLITE_DONE) {
		snprintf(err, errlen, "backup: %s", sqlite3_errstr(step));
		goto out;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", dest, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (sqlite3_close(dst) != SQLITE_OK && rc == 0) {
		snprintf(err, errlen, "%s: cannot close", dest);
		rc = JG_ESTORE;
	}
	close(fd);
	if (rc != 0)
		unlink(dest);
	return rc;
}

int
jg_store_sqlite_self_contained(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = JG_ESTORE;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ==
		SQLITE_OK &&
	    sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
	else
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
	if (sqlite3_close(db) != SQLITE_OK)
		rc = JG_ESTORE;
	return rc;
}

static int
sq_backup(struct jg_store *store, const char *dest, char *err, size_t errlen)
{
	struct jg_store_conn *conn;
	int rc = jg_store_acquire(store, &conn);
	if (rc != 0)
		return rc;
	rc = backup_from(conn->db, dest, err, errlen);
	jg_store_release(store, conn);
	return rc;
}

int
jg_store_sqlite_backup_file(const char *src, const char *dest, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	struct stat st;
	int rc;

	if (lstat(src, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", src,
			 errno ? strerror(errno) : "not a regular file");
		return JG_ESTORE;
	}
	if (sqlite3_open_v2(src, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", src, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return JG_ESTORE;
	}
	rc = backup_from(db, dest, err, errlen);
	sqlite3_close(db);
	return rc;
}

static int
sq_acquire(struct jg_store *store, struct jg_store_conn **out)
{
	pthread_mutex_lock(&store->lock);
	for (;;) {
		for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
			if (!store->conns[i].in_use) {
				store->conns[i].in_use = true;
				pthread_mutex_unlock(&store->lock);
				*out = &store->conns[i];
				return 0;
			}
		}
		pthread_cond_wait(&store->freed, &store->lock);
	}
}

static void sq_stmt_finish(struct jg_stmt *st);

static void
sq_release(struct jg_store *store, struct jg_store_conn *conn)
{
	if (conn == NULL)
		return;
	/* statements the caller did not finish: reset now, so the next borrower has every slot */
	for (int i = 0; i < conn->ncache && conn->nheld > 0; i++)
		if (conn->cache[i].held)
			sq_stmt_finish(&conn->cache[i]);
	conn->why = NULL;
	conn->in_pipeline = false;
	if (!sqlite3_get_autocommit(conn->db))
		(void)jg_store_rollback(conn);
	pthread_mutex_lock(&store->lock);
	conn->in_use = false;
	pthread_cond_signal(&store->freed);
	pthread_mutex_unlock(&store->lock);
}

static int
simple(struct jg_store_conn *conn, const char *sql)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql, &st);
	if (rc != 0)
		return rc;
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE || rc == JG_STMT_ROW ? 0 : rc;
}

int64_t
jg_store_sqlite_memory_used(void)
{
	return (int64_t)sqlite3_memory_used();
}

static int
sq_ping(struct jg_store *store)
{
	struct jg_store_conn *conn;
	struct stat st;

	/* Open handles keep working on a deleted file: check the path itself. */
	if (stat(store->path, &st) != 0 || st.st_dev != store->dev || st.st_ino != store->ino)
		return JG_ESTORE;
	int rc = jg_store_acquire(store, &conn);
	if (rc != 0)
		return rc;
	/* Reads the schema, so a missing or unreadable file shows. */
	rc = simple(conn, "SELECT count(*) FROM sqlite_schema");
	jg_store_release(store, conn);
	return rc;
}

static int
sq_writable(struct jg_store *store, char *err, size_t errlen)
{
	struct jg_store_conn *conn;
	int rc;

	/* SQLite falls back to read-only without a word when the file is not writable */
	if (sqlite3_db_readonly(store->conns[0].db, "main") == 1) {
		snprintf(err, errlen,
			 "%s: opened read-only: the file, its -wal or -shm or its directory is "
			 "not writable by this user",
			 store->path);
		return JG_EDENIED;
	}
	/* and a directory where no -wal can be created shows only when a transaction starts */
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	rc = jg_store_begin(conn);
	if (rc != 0)
		snprintf(err, errlen,
			 "%s: cannot start a write transaction (%s): are the file, its -wal "
			 "and -shm and its directory writable by this user?",
			 store->path, sqlite3_errmsg(conn->db));
	jg_store_release(store, conn);
	return rc == 0 ? 0 : JG_EDENIED;
}

static int
sq_begin(struct jg_store_conn *conn)
{
	return simple(conn, "BEGIN IMMEDIATE");
}

static int
sq_begin_read(struct jg_store_conn *conn)
{
	return simple(conn, "BEGIN");
}

static int
sq_commit(struct jg_store_conn *conn)
{
	return simple(conn, "COMMIT");
}

static int
sq_rollback(struct jg_store_conn *conn)
{
	if (sqlite3_get_autocommit(conn->db))
		return 0;
	return simple(conn, "ROLLBACK");
}

static int
sq_in_transaction(struct jg_store_conn *conn)
{
	return !sqlite3_get_autocommit(conn->db);
}

static int
sq_exec_script(struct jg_store_conn *conn, const char *sql, char *err, size_t errlen)
{
	const char *tail = sql;

	while (tail != NULL && *tail != '\0') {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(conn->db, tail, -1, &st, &tail);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(conn->db));
			return JG_ESTORE;
		}
		if (st == NULL) /* only whitespace or comments left */
			break;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(conn->db));
			return JG_ESTORE;
		}
	}
	return 0;
}

static int
sq_stmt_prepare(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out)
{
	struct jg_stmt *st = NULL;

	conn->why = NULL;
	for (int i = 0; i < conn->ncache; i++) {
		if (conn->cache[i].sql == sql) {
			st = &conn->cache[i];
			break;
		}
	}
	if (st == NULL) {
		/* a slot never used, else the least recently used one nobody holds */
		if (conn->ncache < STMT_CACHE) {
			st = &conn->cache[conn->ncache++];
		} else {
			for (int i = 0; i < STMT_CACHE; i++)
				if (!conn->cache[i].held &&
				    (st == NULL || conn->cache[i].used < st->used))
					st = &conn->cache[i];
			if (st == NULL) {
				conn->why = "more statements in use at once than a connection "
					    "caches (JG_STORE_STMT_CACHE)";
				return JG_ESTORE;
			}
		}
		sqlite3_finalize(st->stmt); /* NULL for a new or failed slot: a no-op */
		st->stmt = NULL;
		st->sql = NULL;
		if (sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmt,
				       NULL) != SQLITE_OK) {
			sqlite3_finalize(st->stmt);
			st->stmt = NULL;
			return JG_ESTORE;
		}
		st->ops = &jg_store_sqlite_ops;
		st->sql = sql;
		st->conn = conn;
	}
	if (!st->held) {
		st->held = true;
		conn->nheld++;
	}
	st->used = ++conn->tick;
	*out = st;
	return 0;
}

static int
bind_rc(int rc)
{
	return rc == SQLITE_OK ? 0 : (rc == SQLITE_NOMEM ? JG_ENOMEM : JG_ESTORE);
}

static int
sq_stmt_bind_text(struct jg_stmt *st, int idx, const char *value)
{
	if (value == NULL)
		return bind_rc(sqlite3_bind_null(st->stmt, idx));
	return bind_rc(sqlite3_bind_text(st->stmt, idx, value, -1, SQLITE_TRANSIENT));
}

static int
sq_stmt_bind_blob(struct jg_stmt *st, int idx, const void *value, size_t len)
{
	return bind_rc(sqlite3_bind_blob64(st->stmt, idx, value, len, SQLITE_TRANSIENT));
}

static int
sq_stmt_bind_int64(struct jg_stmt *st, int idx, int64_t value)
{
	return bind_rc(sqlite3_bind_int64(st->stmt, idx, value));
}

static int
sq_stmt_bind_null(struct jg_stmt *st, int idx)
{
	return bind_rc(sqlite3_bind_null(st->stmt, idx));
}

static int
sq_stmt_bind_double(struct jg_stmt *st, int idx, double value)
{
	return bind_rc(sqlite3_bind_double(st->stmt, idx, value));
}

static double
sq_stmt_column_double(struct jg_stmt *st, int col)
{
	return sqlite3_column_double(st->stmt, col);
}

static int
sq_changes(struct jg_store_conn *conn)
{
	return sqlite3_changes(conn->db);
}

static int
sq_data_version(struct jg_store_conn *conn, int64_t *out)
{
	static const char sql[] = "PRAGMA data_version";
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql, &st);
	if (rc != 0)
		return JG_ESTORE;
	rc = jg_stmt_step(st);
	*out = rc == JG_STMT_ROW ? jg_stmt_column_int64(st, 0) : 0;
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW ? 0 : JG_ESTORE;
}

static int64_t
sq_last_insert_rowid(struct jg_store_conn *conn)
{
	return (int64_t)sqlite3_last_insert_rowid(conn->db);
}

static int
sq_stmt_step(struct jg_stmt *st)
{
	if (st->primed != 0) { /* stepped by a read batch already: that step's answer */
		int first = st->primed == 1 ? JG_STMT_ROW : JG_STMT_DONE;
		st->primed = 0;
		return first;
	}
	int rc = sqlite3_step(st->stmt);

	switch (rc & 0xff) {
	case SQLITE_ROW: return JG_STMT_ROW;
	case SQLITE_DONE: return JG_STMT_DONE;
	default: break;
	}
	st->conn->why = NULL; /* jg_store_errmsg: SQLite's reason for this failure */
	return (rc & 0xff) == SQLITE_CONSTRAINT ? JG_ECONFLICT : JG_ESTORE;
}

static const char *
sq_stmt_column_text(struct jg_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->stmt, col);
}

static const void *
sq_stmt_column_blob(struct jg_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(st->stmt, col);
	*len = (size_t)sqlite3_column_bytes(st->stmt, col);
	return p;
}

static int64_t
sq_stmt_column_int64(struct jg_stmt *st, int col)
{
	return sqlite3_column_int64(st->stmt, col);
}

static int
sq_stmt_column_is_null(struct jg_stmt *st, int col)
{
	return sqlite3_column_type(st->stmt, col) == SQLITE_NULL;
}

static void
sq_stmt_finish(struct jg_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st->stmt);
	sqlite3_clear_bindings(st->stmt);
	st->primed = 0;
	if (st->held) {
		st->held = false;
		st->conn->nheld--;
	}
}

/*
 * A pipeline on SQLite: nothing to save - every statement is a function
 * call - so each runs at once inside BEGIN IMMEDIATE, and its first error
 * decides the commit, as the server decides a PostgreSQL pipeline's.
 */
static int
sq_pipeline_begin(struct jg_store_conn *conn, bool in_tx)
{
	if (in_tx) { /* continues the open transaction */
		if (conn->in_pipeline || sqlite3_get_autocommit(conn->db)) {
			conn->why = "a pipeline continues an open transaction";
			return JG_EINVAL;
		}
		conn->in_pipeline = true;
		conn->pipe_rc = 0;
		return 0;
	}
	if (conn->in_pipeline || !sqlite3_get_autocommit(conn->db)) {
		conn->why = "a pipeline starts outside a transaction";
		return JG_EINVAL;
	}
	int rc = sq_begin(conn);
	if (rc == 0) {
		conn->in_pipeline = true;
		conn->pipe_rc = 0;
	}
	return rc;
}

static int
sq_queue(struct jg_stmt *st)
{
	struct jg_store_conn *conn = st->conn;
	int rc;

	if (!conn->in_pipeline) {
		conn->why = "jg_stmt_queue outside a pipeline";
		return JG_EINVAL;
	}
	if (conn->pipe_rc != 0)
		return conn->pipe_rc;
	while ((rc = sq_stmt_step(st)) == JG_STMT_ROW)
		; /* a queued statement's rows are discarded */
	sqlite3_reset(st->stmt);
	if (rc != JG_STMT_DONE)
		conn->pipe_rc = rc;
	return conn->pipe_rc;
}

static int
sq_pipeline_end(struct jg_store_conn *conn, bool commit)
{
	int rc;

	if (!conn->in_pipeline) {
		conn->why = "no pipeline to end";
		return JG_EINVAL;
	}
	conn->in_pipeline = false;
	rc = commit ? conn->pipe_rc : JG_ESTORE;
	if (rc == 0 && (rc = sq_commit(conn)) == 0)
		return 0;
	(void)sq_rollback(conn);
	return rc;
}

/*
 * A read batch on SQLite: nothing to save - every statement is a function
 * call - so each is stepped to its first row here, in order, and the caller's
 * next step starts from there.  The first failure resets them all.
 */
static int
sq_batch_run(struct jg_store_conn *conn, struct jg_stmt *const *sts, size_t n)
{
	int rc = 0;
	size_t i;

	if (conn->in_pipeline) {
		conn->why = "a read batch inside a pipeline";
		return JG_EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (sts[i] == NULL || sts[i]->conn != conn || !sts[i]->held ||
		    sts[i]->primed != 0 || sqlite3_stmt_busy(sts[i]->stmt) ||
		    !sqlite3_stmt_readonly(sts[i]->stmt)) {
			conn->why = "a read batch takes read-only statements that are not running";
			return JG_EINVAL;
		}
	}
	for (i = 0; i < n && rc == 0; i++) {
		int step = sq_stmt_step(sts[i]);
		if (step == JG_STMT_ROW || step == JG_STMT_DONE)
			sts[i]->primed = step == JG_STMT_ROW ? 1 : 2;
		else
			rc = step;
	}
	if (rc != 0) { /* all or nothing: no read of a failed batch yields a row */
		for (i = 0; i < n; i++) {
			sqlite3_reset(sts[i]->stmt);
			sts[i]->primed = 0;
		}
	}
	return rc;
}

static const char *
sq_errmsg(struct jg_store_conn *conn)
{
	return conn->why != NULL ? conn->why : sqlite3_errmsg(conn->db);
}

const struct jg_store_ops jg_store_sqlite_ops = {
    .engine = JG_STORE_SQLITE,
    .close = sq_close,
    .backup = sq_backup,
    .acquire = sq_acquire,
    .release = sq_release,
    .ping = sq_ping,
    .writable = sq_writable,
    .begin = sq_begin,
    .begin_serializable = sq_begin, /* IMMEDIATE: writers are serial already */
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_transaction = sq_in_transaction,
    .exec_script = sq_exec_script,
    .prepare = sq_stmt_prepare,
    .prepare_scan = sq_stmt_prepare, /* SQLite steps lazily: nothing is held */
    .bind_text = sq_stmt_bind_text,
    .bind_blob = sq_stmt_bind_blob,
    .bind_int64 = sq_stmt_bind_int64,
    .bind_null = sq_stmt_bind_null,
    .bind_double = sq_stmt_bind_double,
    .step = sq_stmt_step,
    .column_text = sq_stmt_column_text,
    .column_blob = sq_stmt_column_blob,
    .column_int64 = sq_stmt_column_int64,
    .column_is_null = sq_stmt_column_is_null,
    .column_double = sq_stmt_column_double,
    .changes = sq_changes,
    .data_version = sq_data_version,
    .last_insert_rowid = sq_last_insert_rowid,
    .finish = sq_stmt_finish,
    .errmsg = sq_errmsg,
    .pipeline_begin = sq_pipeline_begin,
    .queue = sq_queue,
    .pipeline_end = sq_pipeline_end,
    .batch_run = sq_batch_run,
};
