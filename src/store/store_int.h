/*
 * store_int.h - what store.c needs from each storage engine (private to the
 * store: store.c, store_sqlite.c, store_pg.c).
 *
 * Each engine defines its own struct jg_store, jg_store_conn and jg_stmt
 * (store_sqlite.c completes the public tags, store_pg.c uses tags of its
 * own), and every one of them begins with a pointer to the engine's
 * operations table: store.c reads that first member and makes one indirect
 * call, so the public functions of store.h cost SQLite one call more than
 * before and nothing else.  The operations mean what store.h says of the
 * public function of the same name.
 */
#ifndef JITGATE_STORE_INT_H
#define JITGATE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jitgate/store.h"

struct jg_store_ops {
	enum jg_store_engine engine;
	void (*close)(struct jg_store *store);
	int (*backup)(struct jg_store *store, const char *dest, char *err, size_t errlen);
	int (*acquire)(struct jg_store *store, struct jg_store_conn **out);
	void (*release)(struct jg_store *store, struct jg_store_conn *conn);
	int (*ping)(struct jg_store *store);
	int (*writable)(struct jg_store *store, char *err, size_t errlen);
	int (*begin)(struct jg_store_conn *conn);
	int (*begin_serializable)(struct jg_store_conn *conn);
	int (*begin_read)(struct jg_store_conn *conn);
	int (*commit)(struct jg_store_conn *conn);
	int (*rollback)(struct jg_store_conn *conn);
	int (*in_transaction)(struct jg_store_conn *conn);
	int (*exec_script)(struct jg_store_conn *conn, const char *sql, char *err, size_t errlen);
	int (*prepare)(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out);
	int (*prepare_scan)(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out);
	int (*bind_text)(struct jg_stmt *st, int idx, const char *value);
	int (*bind_blob)(struct jg_stmt *st, int idx, const void *value, size_t len);
	int (*bind_int64)(struct jg_stmt *st, int idx, int64_t value);
	int (*bind_null)(struct jg_stmt *st, int idx);
	int (*bind_double)(struct jg_stmt *st, int idx, double value);
	int (*step)(struct jg_stmt *st);
	const char *(*column_text)(struct jg_stmt *st, int col);
	const void *(*column_blob)(struct jg_stmt *st, int col, size_t *len);
	int64_t (*column_int64)(struct jg_stmt *st, int col);
	int (*column_is_null)(struct jg_stmt *st, int col);
	double (*column_double)(struct jg_stmt *st, int col);
	int (*changes)(struct jg_store_conn *conn);
	int (*data_version)(struct jg_store_conn *conn, int64_t *out);
	int64_t (*last_insert_rowid)(struct jg_store_conn *conn);
	void (*finish)(struct jg_stmt *st);
	const char *(*errmsg)(struct jg_store_conn *conn);
	int (*pipeline_begin)(struct jg_store_conn *conn, bool in_tx);
	int (*queue)(struct jg_stmt *st);
	int (*pipeline_end)(struct jg_store_conn *conn, bool commit);
	/* sts[0..n): prepared and bound on conn, distinct, 1 <= n <= JG_STORE_BATCH_MAX */
	int (*batch_run)(struct jg_store_conn *conn, struct jg_stmt *const *sts, size_t n);
};

/* The operations table of whatever p points to: every engine object begins with it. */
#define JG_STORE_OPS(p) (*(const struct jg_store_ops *const *)(const void *)(p))

/* SQLite (store_sqlite.c): path is a file name, never a URL. */
extern const struct jg_store_ops jg_store_sqlite_ops;
int jg_store_sqlite_open(const char *path, struct jg_store **out, char *err, size_t errlen);
int jg_store_sqlite_backup_file(const char *src, const char *dest, char *err, size_t errlen);
int jg_store_sqlite_self_contained(const char *path, char *err, size_t errlen);
int jg_store_sqlite_lock_exclusive(const char *path, int *fd, char *err, size_t errlen);
int64_t jg_store_sqlite_memory_used(void);

/* PostgreSQL (store_pg.c). */
int jg_store_pg_open(const char *url, const struct jg_store_options *opts, struct jg_store **out,
		     char *err, size_t errlen);
/* The URL rules of store.h checked without connecting: 0 or JG_EINVAL. */
int jg_store_pg_check_url(const char *url, char *err, size_t errlen);
/* True when s parses as a libpq key=value connection string. */
int jg_store_pg_is_conninfo(const char *s);
/* Bytes of results held by PostgreSQL statements now. */
int64_t jg_store_pg_memory_used(void);
/* store.h's leadership on PostgreSQL; store.c derives the key from the name. */
struct jg_store_pg_leader;
int jg_store_pg_leader_new(struct jg_store *store, int64_t key, struct jg_store_pg_leader **out);
void jg_store_pg_leader_poll(struct jg_store_pg_leader *l, bool *held);
void jg_store_pg_leader_free(struct jg_store_pg_leader *l);

#endif
