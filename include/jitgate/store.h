/*
 * store.h - the storage interface: connections, transactions, statements.
 *
 * Everything jitgate keeps goes through this header.  Two engines implement
 * it, chosen by the URL given to jg_store_open(): SQLite (store_sqlite.c),
 * the embedded default, for a plain path or a sqlite:// URL; PostgreSQL
 * (store_pg.c, on libpq) for a postgres:// or postgresql:// URI.  store.c
 * dispatches each call to the engine of its store, connection or statement
 * (one indirect call).  SQL uses '?' placeholders and statements are always
 * prepared: there is no way to run SQL built from input.
 *
 * Threads: a struct jg_store is shared; each thread borrows a connection
 * with jg_store_acquire() and gives it back with jg_store_release().  A
 * connection and its statements belong to one thread at a time.
 *
 * What differs on PostgreSQL, in short (each function says more):
 * - SQL: callers write '?' (or SQLite's '?NNN'); the backend rewrites them
 *   to $1..$n once per cached statement, skipping string literals
 *   (standard, E'' and dollar-quoted), quoted identifiers and comments.  So
 *   the PostgreSQL operators spelled with '?' (jsonb ?, ?|, ?&) cannot be
 *   written: use their function forms.  SQL that is not portable (FTS5,
 *   INSERT OR IGNORE, PRAGMA) stays in per-backend statements of its owner.
 * - Statements are sent at their first step, not at prepare, because the
 *   parameter types come from the binds: int64 -> int8, double -> float8,
 *   blob -> bytea, text and NULL -> left to the server to infer from the
 *   SQL (text where it cannot: `? IS NULL` alone).  A statement whose bind
 *   types change to ones it was not prepared with is prepared again.
 *   Values travel as text, blobs as binary; results come back as text and
 *   the getters convert (bytea is decoded, booleans read as 1/0).
 * - Results: a statement's whole result is fetched at its first step, so
 *   the connection is free while the caller iterates and may run other
 *   statements on it (as the SQLite code does).  For results that may be
 *   large, jg_stmt_prepare_scan() fetches in batches through a cursor.
 * - Errors: a failed statement inside a transaction aborts it (every later
 *   statement fails until ROLLBACK or ROLLBACK TO SAVEPOINT), unlike SQLite
 *   where only that statement fails: put statements that may fail on
 *   purpose (a unique key) in a savepoint.  Codes: a constraint violation ->
 *   JG_ECONFLICT; serialization failure or deadlock -> JG_ERETRY (run the
 *   whole transaction again); lost connection or a read-only server ->
 *   JG_EUNAVAIL (the connection is replaced at a later acquire);
 *   insufficient privilege -> JG_EDENIED; anything else -> JG_ESTORE.
 * - Isolation: jg_store_begin() is READ COMMITTED: it takes no lock, so a
 *   read-modify-write needs SELECT ... FOR UPDATE or
 *   jg_store_begin_serializable() with a retry on JG_ERETRY.  On SQLite
 *   both take the database's write lock at once (BEGIN IMMEDIATE).
 */
#ifndef JITGATE_STORE_H
#define JITGATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jg_store;
struct jg_store_conn;
struct jg_stmt;

#define JG_STORE_POOL_SIZE 8
/* Statements cached per connection: at most this many held at once (jg_stmt_prepare). */
#define JG_STORE_STMT_CACHE 64
/* Rows a scan statement (jg_stmt_prepare_scan) holds at a time on PostgreSQL. */
#define JG_STORE_SCAN_BATCH 256

/* jg_stmt_step() results besides errors. */
#define JG_STMT_DONE 0
#define JG_STMT_ROW  1

enum jg_store_engine { JG_STORE_SQLITE, JG_STORE_POSTGRES };

struct jg_store_options {
	/*
	 * PostgreSQL: a file (mode 0600, no symlink, at most 1 KiB) whose first
	 * line is the role's password, read once at open and kept in memory for
	 * reconnections; NULL to let libpq find one (its passfile, ~/.pgpass).
	 * Refused for SQLite.
	 */
	const char *password_file;
	/*
	 * SQLite: refuse (JG_ENOTFOUND) a file that does not exist instead of
	 * creating it, for commands that name an existing database (`jitgate
	 * store copy`): a mistyped path must not become a new empty file.
	 */
	bool must_exist;
};

/*
 * Opens the store that url names:
 * - a plain path or sqlite://PATH (sqlite:///abs/path.db): the SQLite file
 *   (created when missing, mode 0600), in WAL mode with synchronous=FULL,
 *   foreign keys on and a busy timeout.  While open, the store holds a
 *   shared flock(2) on the database file, so that `jitgate restore` (which
 *   needs it exclusively) cannot replace the file under a running process;
 *   an open while a restore holds it fails.
 * - postgres://... or postgresql://... (a libpq URI; several hosts as
 *   postgres://h1:5432,h2:5432/db?target_session_attrs=read-write): a pool
 *   of JG_STORE_POOL_SIZE libpq connections, the first made now (so a wrong
 *   address, role or password fails here), the others at first use.
 *   Refused without connecting (JG_EINVAL): a password in the URL (user:pw@
 *   or ?password=), a service= key, and any host that is not loopback
 *   (127.0.0.0/8, ::1, localhost, a unix socket directory) unless the URL
 *   says sslmode=verify-full.  The rule is checked on the options libpq
 *   would use, environment (PGHOST, PGSSLMODE, ...) included.
 * - a libpq key=value string ("host=db dbname=x") or another scheme://:
 *   refused with JG_EINVAL, nothing created.
 * opts may be NULL.  On failure writes a reason to err (never a password)
 * and returns JG_EINVAL (the URL or options), JG_EIO / JG_EDENIED (the
 * password file) or JG_ESTORE.  Close with jg_store_close().
 */
int jg_store_open(const char *url, struct jg_store **out, char *err, size_t errlen);
int jg_store_open_opts(const char *url, const struct jg_store_options *opts, struct jg_store **out,
		       char *err, size_t errlen);
void jg_store_close(struct jg_store *store);

/*
 * Checks url as jg_store_open() would, without opening anything (for the
 * configuration).  Returns 0 or JG_EINVAL with the reason in err.
 */
int jg_store_check_url(const char *url, char *err, size_t errlen);

/* Which engine store, or conn's store, runs on (for an owner's per-engine SQL). */
enum jg_store_engine jg_store_engine(const struct jg_store *store);
enum jg_store_engine jg_store_conn_engine(const struct jg_store_conn *conn);

/*
 * Copies the whole database into a new file dest (refused when dest exists;
 * created mode 0600) with SQLite's online backup, in one read transaction:
 * a consistent snapshot while other connections keep writing.  On failure
 * dest is removed.  Returns 0, JG_ECONFLICT (dest exists) or JG_ESTORE.
 * PostgreSQL: JG_EINVAL (back up with the server's tools: pg_basebackup or
 * pg_dump; docs/operations.md).
 */
int jg_store_backup(struct jg_store *store, const char *dest, char *err, size_t errlen);

/*
 * The same from the database file src, opened read-only (for a restore).
 * SQLite only: a postgres:// src is refused with JG_EINVAL.
 */
int jg_store_backup_file(const char *src, const char *dest, char *err, size_t errlen);

/*
 * Switches the database file at path (no store open on it) to a rollback
 * journal: one self-contained file, readable without -wal and -shm beside
 * it.  Returns 0 or JG_ESTORE.  SQLite only (JG_EINVAL for a URL).
 */
int jg_store_self_contained(const char *path, char *err, size_t errlen);

/*
 * Takes the exclusive flock(2) on the database file at path (created when
 * missing) without waiting: *fd holds it until closed.  Returns 0, JG_EUNAVAIL
 * when a process has the store open, or JG_EIO.  SQLite only: PostgreSQL has
 * no file to lock (JG_EINVAL for a URL; the port uses an advisory lock).
 */
int jg_store_lock_exclusive(const char *path, int *fd, char *err, size_t errlen);

/*
 * Leadership: at most one process among those sharing the database holds a
 * name at a time, for the jobs that must run once however many replicas
 * serve (checkpoints and their pushes, the audit stream, retention).
 * - PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a
 *   64-bit key derived from the name, held on a connection of its own (never
 *   one of the pool's, so no job's transaction can release it).  Each poll
 *   proves that connection alive; when it is lost - the process died, the
 *   network broke, the primary failed over - the server releases the lock
 *   and another process takes it at its next poll.  A process that lost its
 *   connection reconnects with backoff and competes again.  Two processes
 *   believe they lead only between the loss of a connection and their next
 *   poll: jobs that run under a leader must stay correct if that happens
 *   (every write they make is checked or idempotent).
 * - SQLite: one serving process per file; the name is always held.
 * jg_store_leader_new() connects nothing; poll does.  name: 1 to
 * JG_STORE_LEADER_NAME_MAX bytes.  Returns 0, JG_EINVAL or JG_ENOMEM.
 */
struct jg_store_leader;
#define JG_STORE_LEADER_NAME_MAX 63 /* bytes of a leader's name */
int jg_store_leader_new(struct jg_store *store, const char *name, struct jg_store_leader **out)
    __attribute__((warn_unused_result));
/*
 * Tries to become, or stay, the leader: *held says whether this process
 * holds the name now.  At most one round trip (or one connection attempt,
 * bounded by connect_timeout) per call; a failure only means "not held".
 * Returns 0, or JG_EINVAL for a NULL leader.
 */
int jg_store_leader_poll(struct jg_store_leader *leader, bool *held);
/* Gives the name up (the lock's connection is closed) and frees; NULL is a no-op. */
void jg_store_leader_free(struct jg_store_leader *leader);

/*
 * Who leads what in this process (for /metrics): the leaders made by
 * jg_store_leader_new() and not freed yet, newest first, each with its
 * name and the answer of its last poll (false before the first).  Fills
 * out[0..min(n, max)) and returns n, the number there are.  Thread-safe:
 * any thread may ask while the pollers poll.
 */
struct jg_store_leader_state {
	char name[JG_STORE_LEADER_NAME_MAX + 1];
	bool held;
};
size_t jg_store_leaders(struct jg_store_leader_state *out, size_t max);

/*
 * Copying a database table by table (`jitgate store copy`: SQLite to
 * PostgreSQL, back, or between two databases of one engine).
 *
 * The rows of a table are read and written by its owner's SQL, not by SQL
 * built here: each module that owns tables declares them (a `*_tables()`
 * function beside its other statements) as string literals made by the
 * macros below, so the rule of this header holds - SQL is never built from
 * names at run time, and the statement cache is keyed by literal addresses.
 * The store checks every declaration against the schema's own catalog before
 * anything is copied (jg_store_table_check: the table exists with exactly the
 * declared columns and types; jg_store_tables_cover: no table of the schema
 * lacks a declaration), so a migration that adds a table or a column without
 * its owner declaring it makes a copy refuse instead of silently dropping
 * data.
 *
 * types holds one letter per column: 'i' integer (int64), 'r' real (double),
 * 't' text, 'b' blob (bytea); NULL travels as NULL whatever the letter.
 */
struct jg_store_table {
	const char *name;    /* the table */
	const char *columns; /* every column, ", "-separated, in select/insert order */
	const char *types;   /* one letter per column (above) */
	const char *select;  /* SELECT columns FROM name ORDER BY its key */
	const char *insert;  /* INSERT INTO name (columns) VALUES (?, ...); an upsert if seeded */
	const char *count;   /* SELECT count(*) FROM name */
	bool seeded;	     /* the migrations insert rows into it (a chain head, a marker row) */
};

/* A table whose rows all come from use: an empty target has none. */
#define JG_STORE_TABLE(tname, cols, types_, order, qs)                                             \
	{                                                                                          \
		.name = (tname), .columns = (cols), .types = (types_),                             \
		.select = "SELECT " cols " FROM " tname " ORDER BY " order,                        \
		.insert = "INSERT INTO " tname " (" cols ") VALUES (" qs ")",                      \
		.count = "SELECT count(*) FROM " tname, .seeded = false                            \
	}
/*
 * A table the migrations seed (rows keyed by key): the copy replaces the
 * seeded rows with the source's (set: "c = excluded.c, ..." for every
 * column but the key), which every trigger on it must allow.
 */
#define JG_STORE_TABLE_SEEDED(tname, cols, types_, key, qs, set)                                   \
	{                                                                                          \
		.name = (tname), .columns = (cols), .types = (types_),                             \
		.select = "SELECT " cols " FROM " tname " ORDER BY " key,                          \
		.insert = "INSERT INTO " tname " (" cols ") VALUES (" qs ") ON CONFLICT (" key     \
			  ") DO UPDATE SET " set,                                                  \
		.count = "SELECT count(*) FROM " tname, .seeded = true                             \
	}

/* The migrations' own bookkeeping table: never copied (each database records its own runs). */
#define JG_STORE_MIGRATIONS_TABLE "schema_migrations"

/*
 * Checks t against conn's schema (its catalog: sqlite_schema and
 * pragma_table_info; pg_catalog in the current schema): the table exists
 * and its columns are exactly t->columns (in any order), each of the type
 * its letter says (INTEGER/bigint, REAL/double precision, TEXT/text,
 * BLOB/bytea); t itself is well formed (as many letters and '?' as
 * columns).  Returns 0, or JG_EINVAL with what differs in err.
 */
int jg_store_table_check(struct jg_store_conn *conn, const struct jg_store_table *t, char *err,
			 size_t errlen) __attribute__((warn_unused_result));

/*
 * Checks that every table of conn's schema is one of tables[0..n),
 * JG_STORE_MIGRATIONS_TABLE or a name of left_behind (NULL-terminated; may be
 * NULL: tables known to be there on purpose and not copied, such as
 * telemetry sharing the state database), SQLite's own sqlite_* tables aside.
 * Returns 0, or JG_EINVAL naming the first undeclared table in err.
 */
int jg_store_tables_cover(struct jg_store_conn *conn, const struct jg_store_table *const *tables,
			  size_t n, const char *const *left_behind, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* *rows = the number of rows of t on conn (t->count).  0 or the store's error. */
int jg_store_table_count(struct jg_store_conn *conn, const struct jg_store_table *t, int64_t *rows);

/*
 * Copies every row of t from src to dst, value by value with the types t
 * declares (blobs byte for byte), in t->select's order; *rows counts them.
 * src must be inside a read transaction (jg_store_begin_read: the copy is
 * one snapshot; a PostgreSQL source is read through a cursor, so a table
 * of any size is never held whole) and dst inside a write transaction.
 * PostgreSQL dst: every column of t that owns a sequence (an identity or
 * serial column) has the sequence set past the highest value copied, so
 * the next row the server numbers follows the copied ones.  Returns 0, or
 * the store's error with the table and the reason in err (never a value).
 */
int jg_store_table_copy(struct jg_store_conn *src, struct jg_store_conn *dst,
			const struct jg_store_table *t, int64_t *rows, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Borrows a connection (waits while all are in use).  Returns 0 or
 * JG_ESTORE.  PostgreSQL: a connection found closed (the server ended it,
 * a failover) or broken by an earlier error is reconnected here, through
 * the URL's host list (so target_session_attrs=read-write finds the new
 * primary); while reconnecting fails, further attempts wait 0.1 s doubling
 * up to 5 s and acquire returns JG_EUNAVAIL at once meanwhile.  A statement
 * never reconnects by itself: a transaction is never split across two
 * server sessions.
 */
int jg_store_acquire(struct jg_store *store, struct jg_store_conn **out);
/* Returns a connection; rolls back any transaction left open (conn NULL: no-op). */
void jg_store_release(struct jg_store *store, struct jg_store_conn *conn);

/*
 * Proves the store answers: the database file is still the one opened (not
 * removed or replaced underneath) and a query over the schema succeeds.
 * Returns 0 or JG_ESTORE.  PostgreSQL: a borrowed connection answers a
 * query (JG_EUNAVAIL when no connection can be made).
 */
int jg_store_ping(struct jg_store *store);

/*
 * 0 when the database can take a write transaction; JG_EDENIED when SQLite
 * had to open it read-only (the file is not writable by this user) or cannot
 * start one (a -wal or -shm it cannot write), with the reason in err.
 * Writes nothing.  (A directory where no -wal can be created already fails
 * jg_store_open, with the same hint.)
 * PostgreSQL: JG_EDENIED when the server is a standby (in recovery) or its
 * transactions are read-only by default; JG_EUNAVAIL when it cannot be
 * reached.  Privileges on tables are not checked here.
 */
int jg_store_writable(struct jg_store *store, char *err, size_t errlen);
/*
 * Bytes the database engines hold in memory now, all stores: SQLite's page
 * caches and statements, plus the PostgreSQL results held by statements.
 */
int64_t jg_store_memory_used(void);

/*
 * A write transaction.  SQLite: BEGIN IMMEDIATE (takes the write lock now:
 * writers are serial).  PostgreSQL: BEGIN ISOLATION LEVEL READ COMMITTED -
 * no lock is taken and each statement sees what was committed before it
 * started, so a read-modify-write must lock what it read (SELECT ... FOR
 * UPDATE) or use jg_store_begin_serializable().
 */
int jg_store_begin(struct jg_store_conn *conn);
/*
 * A write transaction that behaves as if it ran alone.  SQLite: BEGIN
 * IMMEDIATE, as above.  PostgreSQL: BEGIN ISOLATION LEVEL SERIALIZABLE: a
 * statement or the commit may fail with JG_ERETRY when a concurrent
 * transaction conflicts; roll back and run the whole transaction again (a
 * few times, then give up with JG_EUNAVAIL).
 */
int jg_store_begin_serializable(struct jg_store_conn *conn);
/*
 * A read transaction: a consistent snapshot for several queries.  End with
 * rollback.  SQLite: BEGIN (deferred).  PostgreSQL: BEGIN ISOLATION LEVEL
 * REPEATABLE READ READ ONLY - a write inside it fails with JG_EINVAL - sent
 * with the transaction's first statement, in its round trip (the snapshot
 * is that statement's either way); one that runs nothing costs nothing.
 */
int jg_store_begin_read(struct jg_store_conn *conn);
/* COMMIT: PostgreSQL may answer JG_ERETRY (serializable conflict) or JG_ECONFLICT
 * (a deferred constraint); the transaction is over either way. */
int jg_store_commit(struct jg_store_conn *conn);
/* ROLLBACK when a transaction is open; 0 when none is (or the connection is lost). */
int jg_store_rollback(struct jg_store_conn *conn);

/*
 * True while conn is inside a transaction.  SQLite may end one on I/O
 * errors.  PostgreSQL: also true for a transaction an error aborted (until
 * ROLLBACK or ROLLBACK TO SAVEPOINT); false once the connection is lost.
 */
int jg_store_in_transaction(struct jg_store_conn *conn);

/*
 * Runs a script of trusted SQL (a migration file): SQLite statement by
 * statement; PostgreSQL as one simple-protocol query (so a script without
 * BEGIN/COMMIT runs as one implicit transaction).  No placeholders.
 */
int jg_store_exec_script(struct jg_store_conn *conn, const char *sql, char *err, size_t errlen);

/*
 * Prepares sql.  Statements are cached per connection by the address of
 * sql, so pass string literals.  Finish with jg_stmt_finish() (which resets,
 * it does not free, a cached statement).  PostgreSQL: the SQL reaches the
 * server at the first step, so a syntax error shows there.
 *
 * The rule of the cache: *out is valid from here until jg_stmt_finish() on
 * it or the release of conn (which finishes every statement left open).
 * Meanwhile the statement is held: preparing other statements on conn never
 * moves, evicts or resets it, whatever their number.  A full cache evicts
 * the least recently prepared statement that is not held; when all
 * JG_STORE_STMT_CACHE are held, prepare fails with JG_ESTORE (errmsg says
 * so) and changes nothing.  Preparing the same sql again while it is held
 * returns the same statement (PostgreSQL resets it first; SQLite leaves it
 * as it is): finish a statement before preparing its text again.
 */
int jg_stmt_prepare(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out);
/*
 * Prepares a query whose result may be too large to hold: PostgreSQL runs
 * it through a cursor (DECLARE ... NO SCROLL CURSOR) and holds at most
 * JG_STORE_SCAN_BATCH rows at a time, fetching the next batch as steps need
 * it; the cursor lives in the caller's transaction, which must be open
 * (jg_store_begin_read(); else the first step returns JG_EINVAL).  Other
 * statements may run on conn between steps.  A scan must not span a
 * ROLLBACK TO SAVEPOINT (PostgreSQL then keeps or drops its cursor by rules
 * the store does not track): finish it before, or start it after.  SQLite steps lazily anyway:
 * the same as jg_stmt_prepare().  Cached separately from jg_stmt_prepare()
 * of the same sql.
 */
int jg_stmt_prepare_scan(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out);
/* Binds copy the value; idx from 1; text NULL binds NULL.  Unbound parameters are NULL. */
int jg_stmt_bind_text(struct jg_stmt *st, int idx, const char *value);
int jg_stmt_bind_blob(struct jg_stmt *st, int idx, const void *value, size_t len);
int jg_stmt_bind_int64(struct jg_stmt *st, int idx, int64_t value);
int jg_stmt_bind_null(struct jg_stmt *st, int idx);
int jg_stmt_bind_double(struct jg_stmt *st, int idx, double value);
/*
 * Returns JG_STMT_ROW, JG_STMT_DONE or an error: JG_ESTORE, JG_ECONFLICT
 * (constraint); on PostgreSQL also JG_ERETRY, JG_EUNAVAIL, JG_EDENIED,
 * JG_EINVAL (see the top of this file).  A step after JG_STMT_DONE runs
 * the statement again with the same binds.
 */
int jg_stmt_step(struct jg_stmt *st);
/*
 * Column values of the current row; pointers live until the next step.  A
 * NULL reads as NULL text, a NULL blob of length 0, 0 and 0.0.  PostgreSQL:
 * text of a bytea column is its bytes (NUL-terminated, like SQLite's).
 */
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
 *
 * PostgreSQL: a counter of conn that moves when the server's snapshot
 * (pg_current_snapshot(): the newest finished transaction id and those still
 * running) differs from the one conn saw at its previous call.  Unchanged
 * therefore means that no transaction that wrote finished anywhere on the
 * server in between - so nothing can have changed.  Unlike SQLite it also
 * moves for conn's own commits, for aborts, and for writes to other
 * databases of the same server: a writer that commits between its looks
 * always sees a change and re-reads (safe; the PostgreSQL audit writer does
 * not use it: it re-reads what lies past its verified chain under the head
 * row's lock).  It moves after a reconnection too.
 */
int jg_store_data_version(struct jg_store_conn *conn, int64_t *out)
    __attribute__((warn_unused_result));
/*
 * The rowid of the last successful INSERT on conn.  Prefer it to RETURNING
 * in a transaction that also writes FTS5 tables: a RETURNING statement opens
 * a statement savepoint, and FTS5 flushes its pending index data to a new
 * segment at every savepoint (one per row instead of one per transaction).
 * PostgreSQL has no rowid: returns JG_EINVAL; use INSERT ... RETURNING id.
 */
int64_t jg_store_last_insert_rowid(struct jg_store_conn *conn);
/* Resets st for reuse: clears the binds and the result (a scan's cursor is closed). NULL: no-op. */
void jg_stmt_finish(struct jg_stmt *st);

/*
 * A pipelined write transaction: statements sent together and their results
 * read together, at the commit.  On PostgreSQL (libpq pipeline mode) the
 * BEGIN, every queued statement and the COMMIT travel in one round trip
 * instead of one each - what a batch of small statements costs otherwise
 * (the audit writer's plain appends: one insert per entry and per node).
 *
 *   jg_store_pipeline_begin(conn);          BEGIN (READ COMMITTED)
 *   jg_stmt_prepare(...); bind; jg_stmt_queue(st); jg_stmt_finish(st);  (as often as needed)
 *   rc = jg_store_pipeline_commit(conn);    COMMIT, then every result
 *
 * Nothing queued can depend on what an earlier queued statement returned:
 * rows a queued statement returns are discarded, and a statement runs when
 * the pipeline reaches the server, not at jg_stmt_queue().  A condition the
 * transaction depends on must therefore be checked by the server, as an
 * error: the first statement that fails aborts the rest, the COMMIT too,
 * and the whole transaction is rolled back.  A statement may be queued again
 * with other values (not other parameter types) once it is queued: the
 * values are copied at jg_stmt_queue().  Each ? of a queued statement must
 * be in a position whose type the server can infer (or bound as int64,
 * double or blob).  Between begin and commit (or abort) no other call may
 * use conn, jg_stmt_step included.
 *
 * SQLite runs each statement at jg_stmt_queue() (inside BEGIN IMMEDIATE) and
 * keeps its first error for the commit: the same outcome.
 *
 * begin: 0, JG_EINVAL (a transaction is open), JG_EUNAVAIL (the connection
 * is found lost: nothing was sent), JG_ESTORE.
 * queue: 0 once queued (PostgreSQL) or run (SQLite); after a failure the
 * first error again and nothing more is queued.  JG_EINVAL for a scan or
 * outside a pipeline.
 * commit: 0 when every statement and the COMMIT succeeded; otherwise the
 * first statement's error as jg_stmt_step() would give it (JG_ECONFLICT,
 * JG_EUNAVAIL, JG_EDENIED, ...) and nothing of the transaction stays (for
 * JG_EUNAVAIL: unless the connection was lost after the COMMIT was sent,
 * the usual doubt of a lost acknowledgement).  conn is out of the
 * transaction either way.
 * abort: sends nothing more; rolls back; always leaves the pipeline.
 *
 * jg_store_pipeline_continue: a pipeline in the write transaction already
 * open on conn (its earlier statements ran the usual way, their results
 * read): no BEGIN is sent; the commit commits the whole transaction, and a
 * failure or an abort rolls all of it back.  JG_EINVAL when no usable
 * transaction is open.  For a transaction that must read before it writes
 * (the audit writer's head lock and the entries past its verified chain)
 * and then writes many small rows in one round trip.
 */
int jg_store_pipeline_begin(struct jg_store_conn *conn) __attribute__((warn_unused_result));
int jg_store_pipeline_continue(struct jg_store_conn *conn) __attribute__((warn_unused_result));
int jg_stmt_queue(struct jg_stmt *st) __attribute__((warn_unused_result));
int jg_store_pipeline_commit(struct jg_store_conn *conn) __attribute__((warn_unused_result));
void jg_store_pipeline_abort(struct jg_store_conn *conn);

/*
 * A read batch: a few prepared reads of a few rows each, sent together and
 * answered together.  On PostgreSQL they travel in one pipeline (one Sync):
 * one round trip for all of them instead of one each - what a guarded
 * call's two reads cost otherwise (the grant, read by access; the token's
 * audit anchor, read by audit).  Each module prepares and binds its own
 * SQL in the batch and takes its own result; none sees the other's SQL.
 *
 *   struct jg_store_batch b;
 *   jg_store_batch_init(&b, conn);
 *   jg_store_batch_prepare(&b, sql, &st, &slot); bind st;   (each reader, at most
 * JG_STORE_BATCH_MAX) rc = jg_store_batch_run(&b);                            every read, one round
 * trip jg_store_batch_take(&b, slot, &st); jg_stmt_step(st)...  its rows, no round trip
 *   jg_store_batch_finish(&b);                              always: finishes every statement
 *
 * Only queries: SQL that begins with SELECT (and, on SQLite, that the
 * engine itself calls read-only); no scans.  No read can depend on what
 * another returns.  Each result is held whole, as a step holds it: read by
 * key.  PostgreSQL: the reads run in the caller's transaction when one is
 * open (a read transaction's BEGIN goes along), else in one implicit
 * transaction of the pipeline, each read with its own snapshot at READ
 * COMMITTED (as separate statements would be).  SQLite runs them in order
 * at jg_store_batch_run(), each stepped to its first row.
 *
 * Errors fail the whole batch, and are sticky: the first error of
 * prepare (the SQL is not a query, the same SQL twice, more than
 * JG_STORE_BATCH_MAX, the store's own error) is returned again by run and
 * take, and nothing is sent.  run returns 0 when every read succeeded; when
 * any failed, its error as jg_stmt_step() would give it, and no read of the
 * batch yields a row - those that succeeded are dropped too.  conn stays
 * usable (PostgreSQL: the implicit transaction is over; a caller's
 * transaction is aborted, as a failed step would abort it).
 *
 * take: 0 with *st once run succeeded; its next jg_stmt_step() returns the
 * first row (or JG_STMT_DONE) without a round trip, later steps the rest.
 * JG_EINVAL before run or for a slot out of range; the batch's error after
 * a failure.  The statements belong to the batch: never finish them
 * yourself; jg_store_batch_finish() does (on any batch, run or not, failed
 * or not; twice is harmless).  Between init and finish conn may run other
 * statements (not the batch's SQL) and the batch's statements stay valid.
 */
#define JG_STORE_BATCH_MAX 8
struct jg_store_batch {
	struct jg_store_conn *conn;
	struct jg_stmt *st[JG_STORE_BATCH_MAX];
	size_t n;
	int rc;	  /* the first error; sticky */
	bool ran; /* run succeeded */
};
void jg_store_batch_init(struct jg_store_batch *b, struct jg_store_conn *conn);
int jg_store_batch_prepare(struct jg_store_batch *b, const char *sql, struct jg_stmt **st,
			   size_t *slot) __attribute__((warn_unused_result));
int jg_store_batch_run(struct jg_store_batch *b) __attribute__((warn_unused_result));
int jg_store_batch_take(struct jg_store_batch *b, size_t slot, struct jg_stmt **st)
    __attribute__((warn_unused_result));
void jg_store_batch_finish(struct jg_store_batch *b);

/*
 * The two shapes every module wrote for itself, on top of the calls above
 * (engine-neutral).  jg_store_exec runs sql - no parameters: SAVEPOINT,
 * RELEASE, a fixed UPDATE - once: prepare, one step, finish; 0 when it ran
 * (a row it returns is ignored), else the prepare's or step's error.
 * jg_stmt_run steps st (prepared and bound by the caller) once, expecting
 * no row, and finishes it, whatever happens: 0 for JG_STMT_DONE, the
 * step's error (JG_ESTORE, JG_ECONFLICT, ...) as it is, JG_ESTORE for a row.
 */
int jg_store_exec(struct jg_store_conn *conn, const char *sql);
int jg_stmt_run(struct jg_stmt *st);

/*
 * The last error text of conn (for logs; contains no bound values).
 * PostgreSQL: SQLSTATE and the server's primary message, without its
 * DETAIL (which may quote values); for data exceptions (class 22, which
 * quote the value) the SQLSTATE only.
 */
const char *jg_store_errmsg(struct jg_store_conn *conn);

#endif
