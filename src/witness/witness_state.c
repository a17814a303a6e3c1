/*
 * witness_state.c - the witness's one table, `witness_checkpoints`: per log
 * origin, the newest checkpoint cosigned (size, root, the note as the log
 * sent it, the cosignature line, when).  This module is its only reader and
 * writer.
 *
 * The table lives in the witness's own SQLite file (store.h opens it in WAL
 * mode with synchronous=FULL, so a commit is on disk when it returns).  The
 * caller wraps a get and a put in one jg_store_begin() transaction, which on
 * SQLite is BEGIN IMMEDIATE: it holds the write lock from the read on, so
 * the compare and the store of add-checkpoint are atomic.
 */
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "witness_int.h"

static const char schema[] = "CREATE TABLE IF NOT EXISTS witness_checkpoints (\n"
			     "  origin      TEXT PRIMARY KEY,\n"
			     "  size        INTEGER NOT NULL CHECK (size >= 0),\n"
			     "  root        BLOB NOT NULL CHECK (length(root) = 32),\n"
			     "  note        TEXT NOT NULL,\n"
			     "  cosignature TEXT NOT NULL,\n"
			     "  cosigned_at INTEGER NOT NULL\n"
			     ");\n";

int
jg_witness_state_open(const char *path, struct jg_store **out, char *err, size_t errlen)
{
	struct jg_store_conn *conn = NULL;
	struct jg_store *store = NULL;
	int rc;

	*out = NULL;
	if (strstr(path, "://") != NULL && strncmp(path, "sqlite://", 9) != 0) {
		snprintf(err, errlen,
			 "state: a witness keeps its state in a SQLite file of its own");
		return JG_EINVAL;
	}
	if ((rc = jg_store_open(path, &store, err, errlen)) != 0)
		return rc;
	if ((rc = jg_store_acquire(store, &conn)) == 0) {
		rc = jg_store_exec_script(conn, schema, err, errlen);
		jg_store_release(store, conn);
	} else {
		snprintf(err, errlen, "state: no connection to %s", path);
	}
	if (rc != 0) {
		jg_store_close(store);
		return JG_ESTORE;
	}
	*out = store;
	return 0;
}

int
jg_witness_state_get(struct jg_store_conn *conn, const char *origin, uint64_t *size,
		     uint8_t root[32], bool *found)
{
	struct jg_stmt *st = NULL;
	size_t len = 0;
	int rc;

	*found = false;
	if ((rc = jg_stmt_prepare(
		 conn, "SELECT size, root FROM witness_checkpoints WHERE origin = ?", &st)) != 0 ||
	    (rc = jg_stmt_bind_text(st, 1, origin)) != 0)
		goto out;
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_DONE)
		goto out; /* never cosigned: size 0 */
	if (rc != JG_STMT_ROW)
		goto out;
	const void *r = jg_stmt_column_blob(st, 1, &len);
	int64_t s = jg_stmt_column_int64(st, 0);
	if (r == NULL || len != 32 || s < 0) {
		rc = JG_ESTORE; /* the CHECKs make this impossible unless the file was edited */
		goto out;
	}
	memcpy(root, r, 32);
	*size = (uint64_t)s;
	*found = true;
	rc = 0;
out:
	jg_stmt_finish(st);
	return rc < 0 ? rc : 0;
}

int
jg_witness_state_put(struct jg_store_conn *conn, const char *origin, uint64_t size,
		     const uint8_t root[32], const char *note, const char *cosignature,
		     int64_t cosigned_at)
{
	struct jg_stmt *st = NULL;
	int rc;

	if (size > INT64_MAX)
		return JG_EINVAL;
	if ((rc = jg_stmt_prepare(
		 conn,
		 "INSERT INTO witness_checkpoints (origin, size, root, note, cosignature, "
		 "cosigned_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
		 "size = excluded.size, root = excluded.root, note = excluded.note, "
		 "cosignature = excluded.cosignature, cosigned_at = excluded.cosigned_at",
		 &st)) != 0)
		return rc;
	if ((rc = jg_stmt_bind_text(st, 1, origin)) == 0 &&
	    (rc = jg_stmt_bind_int64(st, 2, (int64_t)size)) == 0 &&
	    (rc = jg_stmt_bind_blob(st, 3, root, 32)) == 0 &&
	    (rc = jg_stmt_bind_text(st, 4, note)) == 0 &&
	    (rc = jg_stmt_bind_text(st, 5, cosignature)) == 0 &&
	    (rc = jg_stmt_bind_int64(st, 6, cosigned_at)) == 0)
		rc = jg_stmt_run(st);
	jg_stmt_finish(st);
	return rc;
}

int
jg_witness_state_latest(struct jg_store_conn *conn, const char *origin, char **note, size_t *len)
{
	struct jg_stmt *st = NULL;
	int rc;

	*note = NULL;
	if ((rc = jg_stmt_prepare(
		 conn, "SELECT note, cosignature FROM witness_checkpoints WHERE origin = ?",
		 &st)) != 0 ||
	    (rc = jg_stmt_bind_text(st, 1, origin)) != 0)
		goto out;
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_DONE) {
		rc = JG_ENOTFOUND;
		goto out;
	}
	if (rc != JG_STMT_ROW)
		goto out;
	const char *n = jg_stmt_column_text(st, 0), *c = jg_stmt_column_text(st, 1);
	if (n == NULL || c == NULL) {
		rc = JG_ESTORE;
		goto out;
	}
	size_t nl = strlen(n), cl = strlen(c);
	rc = JG_ENOMEM;
	if ((*note = malloc(nl + cl + 1)) == NULL)
		goto out;
	memcpy(*note, n, nl);
	memcpy(*note + nl, c, cl + 1);
	*len = nl + cl;
	rc = 0;
out:
	jg_stmt_finish(st);
	return rc;
}
