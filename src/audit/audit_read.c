/*
 * audit_read.c - reading the audit log back: head, checkpoints, entries in
 * order, proofs, exports, and the full verification of everything the store
 * holds.
 *
 * Proofs and exports are built from stored perfect subtrees (audit_nodes)
 * and, for level 0, from re-hashing the entries themselves, inside one read
 * transaction so they describe one consistent tree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit_int.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"

#define VERIFY_CHUNK 8192

static const char sql_size[] = "SELECT size FROM audit_head WHERE id = 1";
static const char sql_head[] = "SELECT size, last_hash, frontier FROM audit_head WHERE id = 1";
static const char sql_latest_cp[] =
    "SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1";
static const char sql_cp_covering[] =
    "SELECT size, note FROM audit_checkpoints WHERE size > ? ORDER BY size DESC LIMIT 1";
static const char sql_all_cps[] = "SELECT size, note FROM audit_checkpoints ORDER BY size";
static const char sql_entry[] = "SELECT entry FROM audit_log WHERE seq = ?";
static const char sql_node[] = "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?";
static const char sql_range[] =
    "SELECT entry FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq";
static const char sql_all_entries[] = "SELECT seq, entry FROM audit_log ORDER BY seq";
static const char sql_node_count[] = "SELECT count(*) FROM audit_nodes";
static const char sql_from[] =
    "SELECT seq, entry FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?";
static const char sql_last_entry[] = "SELECT entry FROM audit_log ORDER BY seq DESC LIMIT 1";

int
jg_audit_size(struct jg_store *store, uint64_t *size)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	rc = jg_stmt_prepare(conn, sql_size, &st);
	if (rc == 0) {
		rc = jg_stmt_step(st) == JG_STMT_ROW ? 0 : JG_ESTORE;
		if (rc == 0)
			*size = (uint64_t)jg_stmt_column_int64(st, 0);
		jg_stmt_finish(st);
	}
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_latest_checkpoint_on(struct jg_store_conn *conn, char **note, uint64_t *size,
			      int64_t *created_at)
{
	struct jg_stmt *st;
	int rc;

	*note = NULL;
	if (jg_stmt_prepare(conn, sql_latest_cp, &st) != 0)
		return JG_ESTORE;
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		*size = (uint64_t)jg_stmt_column_int64(st, 0);
		*note = strdup(jg_stmt_column_text(st, 1));
		if (created_at)
			*created_at = jg_stmt_column_int64(st, 2);
		rc = *note ? 0 : JG_ENOMEM;
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	return rc;
}

int
jg_audit_latest_checkpoint(struct jg_store *store, char **note, uint64_t *size, int64_t *created_at)
{
	struct jg_store_conn *conn;
	int rc;

	*note = NULL;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	rc = jg_audit_latest_checkpoint_on(conn, note, size, created_at);
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_read_from(struct jg_store *store, uint64_t from, size_t max, jg_audit_entry_fn fn,
		   void *ctx)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	size_t n = 0;
	int rc, step;

	if (max == 0 || max > INT64_MAX || from > INT64_MAX)
		return JG_EINVAL;
	if (jg_store_acquire(store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_from, &st) != 0) {
		jg_store_release(store, conn);
		return JG_ESTORE;
	}
	jg_stmt_bind_int64(st, 1, (int64_t)from);
	jg_stmt_bind_int64(st, 2, (int64_t)max);
	rc = 0;
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		size_t len;
		const void *entry = jg_stmt_column_blob(st, 1, &len);
		/* a gap (a row missing or renumbered) ends the run: nothing after it is handed out
		 */
		if ((uint64_t)jg_stmt_column_int64(st, 0) != from + n)
			break;
		if ((rc = fn(ctx, from + n, entry, len)) != 0)
			break;
		n++;
	}
	if (rc == 0 && step != JG_STMT_ROW && step != JG_STMT_DONE)
		rc = JG_ESTORE;
	jg_stmt_finish(st);
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_last_ts_ms(struct jg_store *store, int64_t *ts_ms)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	if (jg_store_acquire(store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_last_entry, &st) != 0) {
		jg_store_release(store, conn);
		return JG_ESTORE;
	}
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		size_t len;
		const void *blob = jg_stmt_column_blob(st, 0, &len);
		json_t *e = blob ? json_loadb(blob, len, 0, NULL) : NULL;
		json_t *ts = json_object_get(e, "ts");
		rc = json_is_integer(ts) ? 0 : JG_EVERIFY;
		if (rc == 0)
			*ts_ms = (int64_t)json_integer_value(ts);
		json_decref(e);
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	jg_store_release(store, conn);
	return rc;
}

/* jg_audit_get_node for merkle.h: level 0 re-hashes the entry, higher levels are stored. */
int
jg_audit_get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
	struct jg_store_conn *conn = ctx;
	struct jg_stmt *st;
	const void *blob;
	size_t len;
	int rc;

	if (level == 0) {
		if (jg_stmt_prepare(conn, sql_entry, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_int64(st, 1, (int64_t)index);
	} else {
		if (jg_stmt_prepare(conn, sql_node, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_int64(st, 1, level);
		jg_stmt_bind_int64(st, 2, (int64_t)index);
	}
	rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW) {
		jg_stmt_finish(st);
		return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	blob = jg_stmt_column_blob(st, 0, &len);
	if (level == 0)
		rc = jg_merkle_leaf_hash(blob, len, out);
	else if (len == 32)
		memcpy(out, blob, 32), rc = 0;
	else
		rc = JG_EVERIFY;
	jg_stmt_finish(st);
	return rc;
}

static json_t *
hex_array(const uint8_t *hashes, size_t n)
{
	json_t *arr = json_array();
	char hex[65];
	for (size_t i = 0; arr && i < n; i++) {
		jg_hex32(hashes + 32 * i, hex);
		json_array_append_new(arr, json_string(hex));
	}
	return arr;
}

static json_t *
hex_string(const uint8_t h[32])
{
	char hex[65];
	jg_hex32(h, hex);
	return json_string(hex);
}

int
jg_audit_read_size(struct jg_store_conn *conn, uint64_t *size)
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_size, &st) != 0)
		return JG_ESTORE;
	int rc = jg_stmt_step(st) == JG_STMT_ROW ? 0 : JG_ESTORE;
	if (rc == 0)
		*size = (uint64_t)jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return rc;
}

int
jg_audit_inclusion(struct jg_store *store, uint64_t seq, uint64_t size, json_t **out)
{
	struct jg_store_conn *conn;
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES], leaf[32], root[32];
	size_t plen;
	uint64_t have;
	int rc;

	*out = NULL;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_store_begin_read(conn)) != 0 || (rc = jg_audit_read_size(conn, &have)) != 0)
		goto out;
	if (size > have || seq >= size) {
		rc = JG_EINVAL;
		goto out;
	}
	if ((rc = jg_audit_get_node(conn, 0, seq, leaf)) != 0 ||
	    (rc = jg_merkle_inclusion_proof(seq, size, jg_audit_get_node, conn, proof,
					    sizeof(proof), &plen)) != 0 ||
	    (rc = jg_merkle_root_from_nodes(size, jg_audit_get_node, conn, root)) != 0)
		goto out;
	*out = json_pack("{s:I,s:I,s:o,s:o,s:o}", "seq", (json_int_t)seq, "tree_size",
			 (json_int_t)size, "leaf_hash", hex_string(leaf), "root", hex_string(root),
			 "proof", hex_array(proof, plen / 32));
	rc = *out ? 0 : JG_ENOMEM;
out:
	jg_store_rollback(conn);
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_consistency(struct jg_store *store, uint64_t m, uint64_t n, json_t **out)
{
	struct jg_store_conn *conn;
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES], root_m[32], root_n[32];
	size_t plen;
	uint64_t have;
	int rc;

	*out = NULL;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_store_begin_read(conn)) != 0 || (rc = jg_audit_read_size(conn, &have)) != 0)
		goto out;
	if (n > have || m > n) {
		rc = JG_EINVAL;
		goto out;
	}
	if ((rc = jg_merkle_consistency_proof(m, n, jg_audit_get_node, conn, proof, sizeof(proof),
					      &plen)) != 0 ||
	    (rc = jg_merkle_root_from_nodes(m, jg_audit_get_node, conn, root_m)) != 0 ||
	    (rc = jg_merkle_root_from_nodes(n, jg_audit_get_node, conn, root_n)) != 0)
		goto out;
	*out = json_pack("{s:I,s:I,s:o,s:o,s:o}", "from", (json_int_t)m, "to", (json_int_t)n,
			 "root_from", hex_string(root_m), "root_to", hex_string(root_n), "proof",
			 hex_array(proof, plen / 32));
	rc = *out ? 0 : JG_ENOMEM;
out:
	jg_store_rollback(conn);
	jg_store_release(store, conn);
	return rc;
}

/*
 * The perfect subtrees that tile [start, end), left to right, each the
 * largest aligned one that fits (docs/audit-format.md, "right").
 */
static size_t
tile(uint64_t start, uint64_t end, unsigned *levels, uint64_t *indexes, size_t cap)
{
	size_t n = 0;
	while (start < end && n < cap) {
		unsigned level = 0;
		while (level < 63 && (start & ((2ULL << level) - 1)) == 0 &&
		       start + (2ULL << level) <= end)
			level++;
		levels[n] = level;
		indexes[n] = start >> level;
		n++;
		start += 1ULL << level;
	}
	return n;
}

static int
write_line(jg_audit_write_fn write, void *ctx, const void *buf, size_t len)
{
	int rc = write(ctx, buf, len);
	return rc != 0 ? rc : write(ctx, "\n", 1);
}

int
jg_audit_export(struct jg_store *store, uint64_t from, uint64_t to, jg_audit_write_fn write,
		void *ctx)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	struct jg_merkle_frontier left;
	struct jg_signed_note *note = NULL;
	struct jg_checkpoint cp;
	uint64_t have, tree_size = 0;
	char *note_text = NULL, *header = NULL, *cpline = NULL;
	json_t *doc = NULL;
	int rc;

	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_store_begin_read(conn)) != 0 || (rc = jg_audit_read_size(conn, &have)) != 0)
		goto out;
	if (from > to || to >= have) {
		rc = JG_EINVAL;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_cp_covering, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, (int64_t)to);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		tree_size = (uint64_t)jg_stmt_column_int64(st, 0);
		note_text = strdup(jg_stmt_column_text(st, 1));
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_ROW) {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
		goto out;
	}
	if (note_text == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	int cosigned = 0; /* the witnesses' cosignatures travel in the note (docs/witness.md) */
	if ((rc = jg_audit_note_with_cosignatures_on(conn, tree_size, &note_text, &cosigned)) != 0)
		goto out;
	if ((rc = jg_signed_note_parse(note_text, strlen(note_text), &note)) != 0 ||
	    (rc = jg_signed_note_checkpoint_parse(note->text, note->text_len, &cp)) != 0)
		goto out;

	/* left: the frontier of [0, from); right: the tiles of [to + 1, tree_size). */
	if ((rc = jg_merkle_frontier_from_nodes(from, jg_audit_get_node, conn, &left)) != 0)
		goto out;
	json_t *lefts = json_array(), *rights = json_array();
	for (int k = 63; k >= 0; k--)
		if ((from >> k) & 1)
			json_array_append_new(lefts, hex_string(left.hash[k]));
	unsigned levels[128];
	uint64_t idx[128];
	size_t nright = tile(to + 1, tree_size, levels, idx, 128);
	for (size_t i = 0; i < nright; i++) {
		uint8_t h[32];
		if ((rc = jg_audit_get_node(conn, levels[i], idx[i], h)) != 0) {
			json_decref(lefts);
			json_decref(rights);
			goto out;
		}
		json_array_append_new(rights, hex_string(h));
	}
	doc = json_pack("{s:s,s:i,s:s,s:I,s:I,s:I,s:o,s:o}", "format", "jitgate-audit-export", "v",
			1, "origin", cp.origin, "from", (json_int_t)from, "to", (json_int_t)to,
			"tree_size", (json_int_t)tree_size, "left", lefts, "right", rights);
	header = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	doc = json_pack("{s:s}", "checkpoint", note_text);
	cpline = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (header == NULL || cpline == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = write_line(write, ctx, header, strlen(header))) != 0)
		goto out;
	if ((rc = jg_stmt_prepare(conn, sql_range, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, (int64_t)from);
	jg_stmt_bind_int64(st, 2, (int64_t)to);
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		size_t len;
		const void *entry = jg_stmt_column_blob(st, 0, &len);
		if ((rc = write_line(write, ctx, entry, len)) != 0)
			break;
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		rc = rc == 0 ? JG_ESTORE : rc;
		goto out;
	}
	rc = write_line(write, ctx, cpline, strlen(cpline));
out:
	json_decref(doc);
	free(header);
	free(cpline);
	free(note_text);
	jg_signed_note_free(note);
	jg_store_rollback(conn);
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_verifiers_load(const char *key_dir, const char *origin, struct jg_audit_verifiers *out,
			char *err, size_t errlen)
{
	struct jg_keyring *ring = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = jg_keys_load(key_dir, JG_KEY_CHECKPOINT, &ring, err, errlen)) != 0)
		return rc;
	for (int i = 0; i < ring->n; i++) {
		if ((rc = jg_signed_note_verifier_init(&out->v[i], origin, ring->keys[i].pkey)) !=
		    0) {
			snprintf(err, errlen, "checkpoint key %d: cannot make a verifier for '%s'",
				 ring->keys[i].number, origin);
			break;
		}
		out->n++;
	}
	jg_keyring_free(ring);
	return rc;
}

int
jg_audit_open_checkpoint(const char *note, size_t len, const struct jg_audit_verifiers *vs,
			 struct jg_checkpoint *cp)
{
	for (int i = 0; i < vs->n; i++)
		if (jg_signed_note_open_checkpoint(note, len, &vs->v[i], cp) == 0)
			return 0;
	return JG_EVERIFY;
}

/*
 * Whether note is a checkpoint of another origin than the verifiers' (their
 * key name is the configured audit.origin), its origin then in origin.
 * Nothing here is verified: it only chooses the words of a refusal, so that
 * a command run with another configuration's origin says so instead of
 * "not validly signed".
 */
static bool
other_origin(const char *note, const struct jg_audit_verifiers *vs,
	     char origin[JG_NOTE_MAX_NAME + 1])
{
	struct jg_signed_note *parsed = NULL;
	struct jg_checkpoint cp;
	bool other = false;

	if (vs->n > 0 && jg_signed_note_parse(note, strlen(note), &parsed) == 0 &&
	    jg_signed_note_checkpoint_parse(parsed->text, parsed->text_len, &cp) == 0 &&
	    strcmp(cp.origin, vs->v[0].name) != 0) {
		memcpy(origin, cp.origin, sizeof(cp.origin));
		other = true;
	}
	jg_signed_note_free(parsed);
	return other;
}

struct cp_item {
	uint64_t size;
	uint8_t root[32];
};

int
jg_audit_compare_node(void *ctx, const struct jg_merkle_node *node)
{
	uint8_t stored[32];
	int rc = jg_audit_get_node(ctx, node->level, node->index, stored);
	if (rc == JG_ENOTFOUND)
		return JG_EVERIFY;
	if (rc != 0)
		return rc;
	return CRYPTO_memcmp(stored, node->hash, 32) == 0 ? 0 : JG_EVERIFY;
}

static uint64_t
expected_nodes(uint64_t n)
{
	uint64_t total = 0;
	for (int level = 1; level < 64 && (n >> level) > 0; level++)
		total += n >> level;
	return total;
}

/* Checks each stored checkpoint the chain reaches, in order. */
static int
check_checkpoints(const struct jg_chain *chain, const struct cp_item *cps, size_t ncp, size_t *next,
		  struct jg_chain_fault *fault)
{
	while (*next < ncp && cps[*next].size == chain->next_seq) {
		uint8_t root[32];
		if (jg_merkle_frontier_root(&chain->tree, root) != 0)
			return JG_ECRYPTO;
		if (CRYPTO_memcmp(root, cps[*next].root, 32) != 0)
			return jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "the signed checkpoint of size %llu does not match the "
			    "entries before it (root differs): an entry below %llu was "
			    "altered",
			    (unsigned long long)cps[*next].size,
			    (unsigned long long)cps[*next].size);
		(*next)++;
	}
	return 0;
}

int
jg_audit_verify_store(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
		      int threads, uint64_t *size, struct jg_chain_fault *fault)
{
	return jg_audit_verify_store_chain(store, verifiers, threads, size, NULL, fault);
}

int
jg_audit_verify_store_chain(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
			    int threads, uint64_t *size, struct jg_chain *chain_out,
			    struct jg_chain_fault *fault)
{
	struct jg_store_conn *conn, *nodes_conn = NULL;
	struct jg_stmt *st;
	struct cp_item *cps = NULL;
	size_t ncp = 0, cap = 0, next_cp = 0;
	struct jg_chain chain;
	char **bufs = NULL;
	size_t *lens = NULL, n = 0;
	int rc;

	memset(fault, 0, sizeof(*fault));
	fault->seq = UINT64_MAX;
	jg_chain_init(&chain, threads);
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_store_acquire(store, &nodes_conn)) != 0)
		goto out;
	if ((rc = jg_store_begin_read(conn)) != 0 || (rc = jg_store_begin_read(nodes_conn)) != 0)
		goto out;

	/* Every stored checkpoint must carry a valid signature by a trusted key. */
	if ((rc = jg_stmt_prepare(conn, sql_all_cps, &st)) != 0)
		goto out;
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		struct jg_checkpoint cp;
		const char *note = jg_stmt_column_text(st, 1);
		uint64_t row_size = (uint64_t)jg_stmt_column_int64(st, 0);
		if (jg_audit_open_checkpoint(note, strlen(note), verifiers, &cp) != 0 ||
		    cp.size != row_size) {
			char origin[JG_NOTE_MAX_NAME + 1];
			bool other = other_origin(note, verifiers, origin); /* note is the row's */
			jg_stmt_finish(st);
			if (other)
				rc = jg_chain_fault_set(fault, UINT64_MAX,
							"the stored checkpoint of size %llu is of "
							"the log origin '%s', not "
							"of this configuration's audit.origin "
							"'%s': check the configuration",
							(unsigned long long)row_size, origin,
							verifiers->v[0].name);
			else
				rc = jg_chain_fault_set(
				    fault, UINT64_MAX,
				    "the stored checkpoint of size %llu is not validly signed by "
				    "a checkpoint key of this deployment (or its size was edited)",
				    (unsigned long long)row_size);
			goto out;
		}
		if (ncp == cap) {
			cap = cap ? cap * 2 : 64;
			struct cp_item *grown = realloc(cps, cap * sizeof(*cps));
			if (grown == NULL) {
				jg_stmt_finish(st);
				rc = JG_ENOMEM;
				goto out;
			}
			cps = grown;
		}
		cps[ncp].size = cp.size;
		memcpy(cps[ncp].root, cp.root, 32);
		ncp++;
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		rc = JG_ESTORE;
		goto out;
	}
	if ((rc = check_checkpoints(&chain, cps, ncp, &next_cp, fault)) != 0)
		goto out;

	/* Entries, in chunks that end at checkpoint sizes. */
	bufs = calloc(VERIFY_CHUNK, sizeof(*bufs));
	lens = calloc(VERIFY_CHUNK, sizeof(*lens));
	if (bufs == NULL || lens == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_all_entries, &st)) != 0)
		goto out;
	for (;;) {
		int step = jg_stmt_step(st);
		if (step == JG_STMT_ROW) {
			size_t len;
			/* the row's key is what proofs and exports look up: it must be the position
			 */
			int64_t row_seq = jg_stmt_column_int64(st, 0);
			if (row_seq < 0 || (uint64_t)row_seq != chain.next_seq + n) {
				rc = jg_chain_fault_set(
				    fault, chain.next_seq + n,
				    "the log's row %lld sits where entry %llu belongs (rows "
				    "renumbered, removed or inserted)",
				    (long long)row_seq, (unsigned long long)chain.next_seq + n);
				break;
			}
			const void *blob = jg_stmt_column_blob(st, 1, &len);
			bufs[n] = malloc(len + 1);
			if (bufs[n] == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			memcpy(bufs[n], blob, len);
			bufs[n][len] = '\0';
			lens[n++] = len;
		} else if (step != JG_STMT_DONE) {
			rc = JG_ESTORE;
			break;
		}
		uint64_t boundary = next_cp < ncp ? cps[next_cp].size : UINT64_MAX;
		if (n > 0 &&
		    (n == VERIFY_CHUNK || step == JG_STMT_DONE || chain.next_seq + n == boundary)) {
			rc = jg_chain_feed(&chain, (const char *const *)bufs, lens, n,
					   jg_audit_compare_node, nodes_conn, NULL, fault);
			for (size_t i = 0; i < n; i++)
				free(bufs[i]);
			n = 0;
			if (rc != 0)
				break;
			if ((rc = check_checkpoints(&chain, cps, ncp, &next_cp, fault)) != 0)
				break;
		}
		if (step == JG_STMT_DONE)
			break;
	}
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	jg_stmt_finish(st);
	if (rc != 0)
		goto out;
	if (next_cp < ncp) {
		rc = jg_chain_fault_set(
		    fault, chain.next_seq,
		    "truncated: a signed checkpoint covers %llu entries but the log holds "
		    "only %llu",
		    (unsigned long long)cps[ncp - 1].size, (unsigned long long)chain.next_seq);
		goto out;
	}

	/* The chain head must describe exactly these entries. */
	if ((rc = jg_stmt_prepare(conn, sql_head, &st)) != 0)
		goto out;
	if (jg_stmt_step(st) != JG_STMT_ROW) {
		jg_stmt_finish(st);
		rc = JG_ESTORE;
		goto out;
	}
	uint8_t enc[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t enc_len, last_len, fr_len;
	uint64_t head_size = (uint64_t)jg_stmt_column_int64(st, 0);
	const void *last = jg_stmt_column_blob(st, 1, &last_len);
	const void *fr = jg_stmt_column_blob(st, 2, &fr_len);
	int head_ok = head_size == chain.next_seq && last_len == 32 &&
		      CRYPTO_memcmp(last, chain.prev, 32) == 0 &&
		      jg_merkle_frontier_encode(&chain.tree, enc, sizeof(enc), &enc_len) == 0 &&
		      enc_len == fr_len && memcmp(enc, fr, fr_len) == 0;
	jg_stmt_finish(st);
	if (!head_ok) {
		rc = jg_chain_fault_set(
		    fault, chain.next_seq ? chain.next_seq - 1 : 0,
		    "the chain head (size %llu) does not match the %llu entries in the "
		    "log: entries were removed, added or the last one altered",
		    (unsigned long long)head_size, (unsigned long long)chain.next_seq);
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_node_count, &st)) != 0)
		goto out;
	rc = jg_stmt_step(st) == JG_STMT_ROW ? 0 : JG_ESTORE;
	uint64_t stored_nodes = rc == 0 ? (uint64_t)jg_stmt_column_int64(st, 0) : 0;
	jg_stmt_finish(st);
	if (rc == 0 && stored_nodes != expected_nodes(chain.next_seq))
		rc = jg_chain_fault_set(fault, UINT64_MAX,
					"the tree holds %llu stored nodes, %llu expected",
					(unsigned long long)stored_nodes,
					(unsigned long long)expected_nodes(chain.next_seq));
	if (rc == 0 && size)
		*size = chain.next_seq;
	if (rc == 0 && chain_out)
		*chain_out = chain;
out:
	free(bufs);
	free(lens);
	free(cps);
	jg_store_rollback(conn);
	jg_store_release(store, conn);
	if (nodes_conn) {
		jg_store_rollback(nodes_conn);
		jg_store_release(store, nodes_conn);
	}
	return rc;
}

/* ---- incremental verification ------------------------------------------------ */

static const char sql_entries_from[] =
    "SELECT seq, entry FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT 4096";

int
jg_audit_chain_extend_conn(struct jg_store_conn *conn, struct jg_chain *chain, uint64_t *added,
			   struct jg_chain_fault *fault)
{
	return jg_audit_chain_extend_leaves(conn, chain, added, fault, NULL, NULL);
}

int
jg_audit_chain_extend_leaves(struct jg_store_conn *conn, struct jg_chain *chain, uint64_t *added,
			     struct jg_chain_fault *fault,
			     void (*leaf_fn)(void *ctx, uint64_t seq, const uint8_t leaf[32]),
			     void *ctx)
{
	char *bufs[4096];
	size_t lens[4096], n;
	uint8_t *leaves = NULL;
	int rc = 0;

	if (leaf_fn != NULL && (leaves = malloc(4096 * 32)) == NULL)
		return JG_ENOMEM;

	*added = 0;
	memset(fault, 0, sizeof(*fault));
	fault->seq = UINT64_MAX;
	for (;;) {
		struct jg_stmt *st;
		n = 0;
		if ((rc = jg_stmt_prepare(conn, sql_entries_from, &st)) != 0)
			break;
		jg_stmt_bind_int64(st, 1, (int64_t)chain->next_seq);
		int step;
		while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
			size_t len;
			int64_t row_seq = jg_stmt_column_int64(st, 0);
			if (row_seq < 0 || (uint64_t)row_seq != chain->next_seq + n) {
				rc = jg_chain_fault_set(
				    fault, chain->next_seq + n,
				    "the log's row %lld sits where entry %llu belongs",
				    (long long)row_seq, (unsigned long long)chain->next_seq + n);
				break;
			}
			const void *blob = jg_stmt_column_blob(st, 1, &len);
			if ((bufs[n] = malloc(len + 1)) == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			memcpy(bufs[n], blob, len);
			bufs[n][len] = '\0';
			lens[n++] = len;
		}
		jg_stmt_finish(st);
		if (rc == 0 && step != JG_STMT_DONE && step != JG_STMT_ROW)
			rc = JG_ESTORE;
		if (rc == 0 && n > 0) {
			uint64_t first = chain->next_seq;
			rc = jg_chain_feed(chain, (const char *const *)bufs, lens, n,
					   jg_audit_compare_node, conn, leaves, fault);
			if (rc == 0)
				*added += n;
			for (size_t i = 0; rc == 0 && leaf_fn != NULL && i < n; i++)
				leaf_fn(ctx, first + i, leaves + 32 * i);
		}
		for (size_t i = 0; i < n; i++)
			free(bufs[i]);
		if (rc != 0 || n < 4096)
			break;
	}
	free(leaves);
	return rc;
}

/* Leaf hash of an entry's bytes; with entry (may be NULL), the same bytes parsed. */
static int
leaf_of(const void *blob, size_t len, uint8_t leaf[32], json_t **entry)
{
	int rc = jg_merkle_leaf_hash(blob, len, leaf);
	/* NULL when not an object: the caller judges that once the bytes are proven */
	if (rc == 0 && entry)
		*entry = json_loadb(blob, len, JSON_REJECT_DUPLICATES, NULL);
	return rc;
}

/* Leaf hash of entry seq as stored; with entry (may be NULL), the same bytes parsed. */
int
jg_audit_read_leaf(struct jg_store_conn *conn, uint64_t seq, uint8_t leaf[32], json_t **entry)
{
	struct jg_stmt *st;
	const void *blob;
	size_t len;
	int rc;

	if (entry == NULL)
		return jg_audit_get_node(conn, 0, seq, leaf);
	*entry = NULL;
	if (jg_stmt_prepare(conn, sql_entry, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)seq);
	rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW) {
		jg_stmt_finish(st);
		return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	blob = jg_stmt_column_blob(st, 0, &len);
	rc = leaf_of(blob, len, leaf, entry);
	jg_stmt_finish(st);
	return rc;
}

int
jg_audit_anchor_check(struct jg_store *store, struct jg_store_conn *held,
		      const struct jg_chain *verified, uint64_t seq, const uint8_t hash[32],
		      const uint8_t *proven, json_t **entry)
{
	return jg_audit_anchor_check_read(store, held, verified, seq, hash, proven, NULL, entry);
}

int
jg_audit_anchor_check_read(struct jg_store *store, struct jg_store_conn *held,
			   const struct jg_chain *verified, uint64_t seq, const uint8_t hash[32],
			   const uint8_t *proven, const struct jg_audit_bytes *read, json_t **entry)
{
	struct jg_store_conn *conn = held;
	uint8_t leaf[32], root[32], proof[JG_MERKLE_MAX_PROOF_BYTES];
	size_t plen;
	int rc;

	if (entry)
		*entry = NULL;
	if (seq >= verified->next_seq)
		return JG_EDENIED; /* not in the verified log (yet): not a valid anchor */
	/* the root is needed only to prove an anchor not proven before */
	if (proven == NULL && (rc = jg_merkle_frontier_root(&verified->tree, root)) != 0)
		return rc;
	if (held == NULL && (rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	/* the entry re-read (or as the caller read it) and re-hashed, then proven against the
	 * verified root */
	rc = read != NULL ? leaf_of(read->p, read->len, leaf, entry)
			  : jg_audit_read_leaf(conn, seq, leaf, entry);
	if (rc == 0 && proven) {
		/* proven before into a verified root, which only ever grows: the row must not move
		 */
		if (CRYPTO_memcmp(leaf, proven, 32) != 0)
			rc = JG_EVERIFY;
	} else if (rc == 0)
		rc = jg_merkle_inclusion_proof(seq, verified->next_seq, jg_audit_get_node, conn,
					       proof, sizeof(proof), &plen);
	if (rc == 0 && !proven &&
	    jg_merkle_inclusion_verify(seq, verified->next_seq, leaf, proof, plen, root) != 0)
		rc = JG_EVERIFY; /* the stored log differs from the verified one */
	/* the log is sound: then a different hash is the token's fault */
	if (rc == 0 && CRYPTO_memcmp(leaf, hash, 32) != 0)
		rc = JG_EDENIED;
	/* entries of a verified log are canonical JSON objects: only memory can fail here */
	if (rc == 0 && entry && !json_is_object(*entry))
		rc = JG_ENOMEM;
	if (held == NULL)
		jg_store_release(store, conn);
	if (rc != 0 && entry) {
		json_decref(*entry);
		*entry = NULL;
	}
	return rc == JG_ENOTFOUND ? JG_EVERIFY : rc;
}
