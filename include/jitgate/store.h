/*
 * store.h - the storage interface: connections, transactions, statements.
 *
 * Everything jitgate keeps goes through this header.  SQLite (store_sqlite.c)
 * is the embedded engine; a PostgreSQL backend implements the same functions
 * later, selected by the database URL.  SQL uses '?' placeholders and
 * statements are always prepared: there is no way to run SQL built from
 * input.
 *
 * Threads: a struct jg_store is shared; each thread borrows a connection
 * with jg_store_acquire() and gives it back with jg_store_release().  A
 * connection and its statements belong to one thread at a time.
 */
#ifndef JITGATE_STORE_H
#define JITGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct jg_store;
struct jg_store_conn;
struct jg_stmt;

#define JG_STORE_POOL_SIZE 8

/* jg_stmt_step() results besides errors. */
#define JG_STMT_DONE 0
#define JG_STMT_ROW  1

/*
 * Opens the database at path (created when missing, mode 0600), in WAL mode
 * with synchronous=FULL, foreign keys on and a busy timeout.  While open,
 * the store holds a shared flock(2) on the database file, so that `jitgate
 * restore` (which needs it exclusively) cannot replace the file under a
 * running process; an open while a restore holds it fails.  On failure
 * writes a reason to err and returns JG_ESTORE.  Close with jg_store_close().
 */
int jg_store_open(const char *path, struct jg_store **out, char *err, size_t errlen);
void jg_store_close(struct jg_store *store);

/*
 * Copies the whole database into a new file dest (refused when dest exists;
 * created mode 0600) with SQLite's online backup, in one read transaction:
 * a consistent snapshot while other connections keep writing.  On failure
 * dest is removed.  Returns 0, JG_ECONFLICT (dest exists) or JG_ESTORE.
 */
int jg_store_backup(struct jg_store *store, const char *dest, char *err, size_t errlen);

/* The same from the database file src, opened read-only (for a restore). */
int jg_store_backup_file(const char *src, const char *dest, char *err, size_t errlen);

/*
 * Switches the database file at path (no store open on it) to a rollback
 * journal: one self-contained file, readable without -wal and -shm beside
 * it.  Returns 0 or JG_ESTORE.
 */
int jg_store_self_contained(const char *path, char *err, size_t errlen);

/*
 * Takes the exclusive flock(2) on the database file at path (created when
 * missing) without waiting: *fd holds it until closed.  Returns 0, JG_EUNAVAIL
 * when a process has the store open, or JG_EIO.
 */
int jg_store_lock_exclusive(const char *path, int *fd, char *err, size_t errlen);

/* Borrows a connection (waits while all are in use).  Returns 0 or JG_ESTORE. */
int jg_store_acquire(struct jg_store *store, struct jg_store_conn **out);
/* Returns a connection; rolls back any transaction left open. */
void jg_store_release(struct jg_store *store, struct jg_store_conn *conn);

/*
 * Proves the store answers: the database file is still the one opened (not
 * removed or replaced underneath) and a query over the schema succeeds.
 * Returns 0 or JG_ESTORE.
 */
int jg_store_ping(struct jg_store *store);

/*
 * 0 when the database can take a write transaction; JG_EDENIED when SQLite
 * had to open it read-only or cannot start one (the file or its directory is
 * not writable by this user), with the reason in err.  Writes nothing.
 */
int jg_store_writable(struct jg_store *store, char *err, size_t errlen);
/* Bytes the database engine holds in memory now (page caches, statements), all connections. */
int64_t jg_store_memory_used(void);

/* BEGIN IMMEDIATE (takes the write lock now) / COMMIT / ROLLBACK. */
int jg_store_begin(struct jg_store_conn *conn);
/* A read transaction: a consistent snapshot for several queries.  End with rollback. */
int jg_store_begin_read(struct jg_store_conn *conn);
int jg_store_commit(struct jg_store_conn *conn);
int jg_store_rollback(struct jg_store_conn *conn);

/* True while conn is inside a transaction (SQLite may end one on I/O errors). */
int jg_store_in_transaction(struct jg_store_conn *conn);

/* Runs a script of trusted SQL (a migration file), statement by statement. */
int jg_store_exec_script(struct jg_store_conn *conn, const char *sql, char *err, size_t errlen);

/*
 * Prepares sql.  Statements are cached per connection by the address of
 * sql, so pass string literals.  Finish with jg_stmt_finish() (which resets,
 * it does not free, a cached statement).
 */
int jg_stmt_prepare(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out);
int jg_stmt_bind_text(struct jg_stmt *st, int idx, const char *value);
int jg_stmt_bind_blob(struct jg_stmt *st, int idx, const void *value, size_t len);
int jg_stmt_bind_int64(struct jg_stmt *st, int idx, int64_t value);
int jg_stmt_bind_null(struct jg_stmt *st, int idx);
int jg_stmt_bind_double(struct jg_stmt *st, int idx, double value);
/* Returns JG_STMT_ROW, JG_STMT_DONE or JG_ESTORE / JG_ECONFLICT (constraint). */
int jg_stmt_step(struct jg_stmt *st);
/* Column values of the current row; pointers live until the next step. */
const char *jg_stmt_column_text(struct jg_stmt *st, int col);
const void *jg_stmt_column_blob(struct jg_stmt *st, int col, size_t *len);
int64_t jg_stmt_column_int64(struct jg_stmt *st, int col);
int jg_stmt_column_is_null(struct jg_stmt *st, int col);
double jg_stmt_column_double(struct jg_stmt *st, int col);
/* Rows changed by the last INSERT, UPDATE or DELETE on conn. */
int jg_store_changes(struct jg_store_conn *conn);

/*
 * SQLite's PRAGMA data_version: unchanged between two calls on conn (each
 * inside a transaction) exactly when no other connection - of this process
 * or another - committed to the database in between.  conn's own commits do
 * not change it.  Returns 0 or JG_ESTORE.
 */
int jg_store_data_version(struct jg_store_conn *conn, int64_t *out)
    __attribute__((warn_unused_result));
/*
 * The rowid of the last successful INSERT on conn.  Prefer it to RETURNING
 * in a transaction that also writes FTS5 tables: a RETURNING statement opens
 * a statement savepoint, and FTS5 flushes its pending index data to a new
 * segment at every savepoint (one per row instead of one per transaction).
 */
int64_t jg_store_last_insert_rowid(struct jg_store_conn *conn);
void jg_stmt_finish(struct jg_stmt *st);

/* The last error text of conn (for logs; contains no bound values). */
const char *jg_store_errmsg(struct jg_store_conn *conn);

#endif
