/*
 * audit_tiles.c - the audit log as C2SP tlog-tiles resources: the checkpoint
 * a tile reader starts from, and any tile of hashes or entry bundle it
 * covers (docs/audit-format.md, "The log as tiles").
 *
 * Nothing new is stored: tile (L, N) hash i is the stored perfect subtree of
 * level 8L and index N * 256 + i (audit_nodes), and level 0 - the leaf
 * hashes - is recomputed from the entries, as proofs do.  A tile is served
 * only when the checkpoint the tiles start from covers it, so a reader is
 * never handed a hash no signed tree commits to, and the bytes of a tile
 * never change once served (the tree only grows).  Each read runs in one
 * read transaction: the checkpoint and the rows describe one tree.
 */
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "jitgate/error.h"
#include "jitgate/merkle.h"

static const char sql_cp_note[] = "SELECT note FROM audit_checkpoints WHERE size = ?";
static const char sql_entries[] =
    "SELECT seq, entry FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY seq";
static const char sql_nodes[] =
    "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx";

int
jg_audit_checkpoint_note_on(struct jg_store_conn *conn, uint64_t size, char **note)
{
	struct jg_stmt *st;
	int rc;

	*note = NULL;
	if (jg_stmt_prepare(conn, sql_cp_note, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)size);
	int step = jg_stmt_step(st);
	if (step == JG_STMT_ROW)
		rc = (*note = strdup(jg_stmt_column_text(st, 0))) != NULL ? 0 : JG_ENOMEM;
	else
		rc = step == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

int
jg_audit_tiles_checkpoint(struct jg_audit *a, char **note, uint64_t *size)
{
	struct jg_store_conn *conn;
	int lines, rc;

	*note = NULL;
	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_store_begin_read(conn)) == 0)
		rc = jg_audit_published_size_on(a, conn, size);
	if (rc == 0)
		rc = jg_audit_checkpoint_note_on(conn, *size, note);
	if (rc == 0)
		rc = jg_audit_note_with_cosignatures_on(conn, *size, note, &lines);
	jg_store_rollback(conn);
	jg_store_release(a->store, conn);
	if (rc != 0) {
		free(*note);
		*note = NULL;
	}
	return rc;
}

/*
 * t's bytes from the rows of one range query (audit_int.h): width rows with
 * the keys first..first+width-1 in order, each a 32-byte hash (level >= 1),
 * or an entry hashed to its leaf (level 0) or put with its uint16 length
 * (bundle).  A missing row or a row out of place is a fault of the store.
 */
/* Room for more bytes at the end of *buf (*cap of them, *len used); 0 or JG_ENOMEM. */
static int
reserve(uint8_t **buf, size_t *cap, size_t len, size_t more)
{
	if (len + more <= *cap)
		return 0;
	size_t grown = *cap ? *cap : 4096;
	while (grown < len + more)
		grown *= 2;
	uint8_t *p = realloc(*buf, grown);
	if (p == NULL)
		return JG_ENOMEM;
	*buf = p;
	*cap = grown;
	return 0;
}

int
jg_audit_tile_read_on(struct jg_store_conn *conn, const struct jg_tile *t, uint8_t **out,
		      size_t *len)
{
	size_t cap = 0;
	int64_t first = (int64_t)(t->index * JG_TILE_WIDTH);
	struct jg_stmt *st;
	unsigned n = 0;
	int rc = 0, step;

	*out = NULL;
	*len = 0;
	if (t->level >= 1) {
		if (jg_stmt_prepare(conn, sql_nodes, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_int64(st, 1, 8 * t->level);
		jg_stmt_bind_int64(st, 2, first);
		jg_stmt_bind_int64(st, 3, first + t->width);
	} else {
		if (jg_stmt_prepare(conn, sql_entries, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_int64(st, 1, first);
		jg_stmt_bind_int64(st, 2, first + t->width);
	}
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		size_t blen;
		const uint8_t *blob = jg_stmt_column_blob(st, 1, &blen);
		if (n == t->width || jg_stmt_column_int64(st, 0) != first + n || blob == NULL) {
			rc = JG_EVERIFY;
			break;
		}
		if ((rc = reserve(out, &cap, *len, 2 + (blen > 32 ? blen : 32))) != 0)
			break;
		if (t->level >= 1) {
			if (blen != JG_MERKLE_HASH_LEN) {
				rc = JG_EVERIFY;
				break;
			}
			memcpy(*out + *len, blob, blen);
			*len += blen;
		} else if (t->level == 0) {
			if ((rc = jg_merkle_leaf_hash(blob, blen, *out + *len)) != 0)
				break;
			*len += JG_MERKLE_HASH_LEN;
		} else {
			/* a bundle: 16-bit lengths, so entries are at most 65,535 bytes
			 * (audit_chain.h) */
			if (blen > JG_AUDIT_MAX_ENTRY || blen > UINT16_MAX) {
				rc = JG_EVERIFY;
				break;
			}
			(*out)[*len] = (uint8_t)(blen >> 8);
			(*out)[*len + 1] = (uint8_t)blen;
			memcpy(*out + *len + 2, blob, blen);
			*len += 2 + blen;
		}
		n++;
	}
	if (rc == 0 && step != JG_STMT_DONE)
		rc = JG_ESTORE;
	if (rc == 0 && n != t->width)
		rc = JG_EVERIFY;
	jg_stmt_finish(st);
	if (rc != 0) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return rc;
}

int
jg_audit_tile_read(struct jg_audit *a, const struct jg_tile *t, uint8_t **out, size_t *len)
{
	struct jg_store_conn *conn;
	uint64_t need, size = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if (t->level < JG_TILE_ENTRIES || t->level > JG_TILE_MAX_LEVEL || t->width == 0 ||
	    t->width > JG_TILE_WIDTH)
		return JG_EINVAL;
	/* a tile beyond 2^64 entries, or of a level no 63-bit sequence reaches, exists in no log */
	if (!jg_tile_needs(t, &need) || need > INT64_MAX)
		return JG_ENOTFOUND;
	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_store_begin_read(conn)) == 0)
		rc = jg_audit_published_size_on(a, conn, &size);
	if (rc == 0 && need > size)
		rc = JG_ENOTFOUND; /* not (yet) covered by the checkpoint the tiles start from */
	if (rc == 0)
		rc = jg_audit_tile_read_on(conn, t, out, len);
	jg_store_rollback(conn);
	jg_store_release(a->store, conn);
	if (rc != 0) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return rc;
}
