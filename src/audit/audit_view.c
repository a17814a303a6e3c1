/*
 * audit_view.c - what auditors are shown: the newest checkpoint with its
 * signature checked, one entry's inclusion proof checked against that
 * checkpoint, and the export that records itself in the log.
 *
 * The web page and the JSON API only render these.  Signatures are checked
 * with the checkpoint keys the log loaded when it was opened (the same ones
 * the background re-verification trusts), never re-read per view.  A view is
 * read inside one read transaction, so its numbers describe one tree.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "audit_int.h"
#include "jitgate/error.h"
#include "jitgate/merkle.h"

#define EXPORT_FIRST_BYTES 65536
#define EXPORT_WITNESS_WAIT_MS                                                                     \
	10000 /* how long an export waits for its checkpoint's cosignatures */

/* Whether one of the log's checkpoint keys signed note. */
static bool
signed_by_us(const struct jg_audit *a, const struct jg_signed_note *note)
{
	for (int i = 0; i < a->verifiers.n; i++)
		if (jg_signed_note_verify(note, &a->verifiers.v[i]) == 0)
			return true;
	return false;
}

/* The stored note parsed as a checkpoint (nothing verified yet): 0 or JG_EVERIFY. */
static int
parse_checkpoint(const char *text, struct jg_signed_note **note, struct jg_checkpoint *cp)
{
	*note = NULL;
	if (jg_signed_note_parse(text, strlen(text), note) != 0 ||
	    jg_signed_note_checkpoint_parse((*note)->text, (*note)->text_len, cp) != 0) {
		jg_signed_note_free(*note);
		*note = NULL;
		return JG_EVERIFY;
	}
	return 0;
}

int
jg_audit_checkpoint_view(struct jg_audit *a, struct jg_audit_checkpoint_view *out)
{
	struct jg_store_conn *conn;
	struct jg_signed_note *note = NULL;
	uint64_t size = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_store_begin_read(conn)) == 0)
		rc = jg_audit_latest_checkpoint_on(conn, &out->note, &size, &out->created_at);
	if (rc == 0 && jg_audit_read_size(conn, &out->log_size) == 0)
		out->have_log_size = true;
	int lines = 0; /* every stored line rides in the note; only configured witnesses count */
	if (rc == 0)
		rc = jg_audit_note_with_cosignatures_on(conn, size, &out->note, &lines);
	if (rc == 0)
		rc = jg_audit_cosigned_count_on(a, conn, size, &out->cosignatures);
	if (rc == 0) {
		int prc = jg_audit_published_size_on(a, conn, &out->published_size);
		out->have_published = prc == 0;
		if (prc != 0 && prc != JG_ENOTFOUND)
			rc = prc;
	}
	out->witnesses_min = a->witnesses_min;
	out->published = out->cosignatures >= a->witnesses_min;
	jg_store_rollback(conn);
	jg_store_release(a->store, conn);
	if (rc == 0)
		rc = parse_checkpoint(out->note, &note, &out->cp);
	if (rc == 0)
		out->signature_valid = signed_by_us(a, note);
	jg_signed_note_free(note);
	if (rc != 0)
		jg_audit_checkpoint_view_clear(out);
	return rc;
}

void
jg_audit_checkpoint_view_clear(struct jg_audit_checkpoint_view *v)
{
	if (v == NULL)
		return;
	free(v->note);
	memset(v, 0, sizeof(*v));
}

/*
 * With witnesses required (audit.witnesses.min), an export should end with
 * a published checkpoint: the witness thread is woken at once (on the
 * leader; another replica's leader pushes within its next second) and the export waits
 * up to EXPORT_WITNESS_WAIT_MS for enough cosignatures of the checkpoint
 * just made.  Witnesses that do not answer in time do not stop the export:
 * it ends with that checkpoint and the cosignatures it has, which `jitgate
 * audit verify --min-witnesses` then refuses (docs/witness.md).
 */
static void
wait_published(struct jg_audit *a, uint64_t size)
{
	const struct timespec tick = {0, 100 * 1000 * 1000};
	int64_t deadline = jg_audit_now_ms() + EXPORT_WITNESS_WAIT_MS;
	struct jg_store_conn *conn;
	uint64_t published;

	if (a->witnesses_min == 0)
		return;
	while (jg_audit_now_ms() < deadline) {
		pthread_mutex_lock(&a->lock);
		jg_thread_wake(a->witness_thread); /* pushes at once if this replica leads */
		pthread_mutex_unlock(&a->lock);
		nanosleep(&tick, NULL);
		if (jg_store_acquire(a->store, &conn) != 0)
			continue;
		int rc = jg_audit_published_size_on(a, conn, &published);
		jg_store_release(a->store, conn);
		if (rc == 0 && published >= size)
			return;
	}
}

int
jg_audit_proof_view(struct jg_audit *a, uint64_t seq, struct jg_audit_proof_view *out)
{
	struct jg_store_conn *conn;
	struct jg_signed_note *note = NULL;
	struct jg_checkpoint cp;
	char *text = NULL;
	uint64_t have = 0, cp_size = 0;
	bool cp_signed = false;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&cp, 0, sizeof(cp));
	out->seq = seq;
	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_store_begin_read(conn)) != 0 || (rc = jg_audit_read_size(conn, &have)) != 0)
		goto out;
	if (seq >= have) {
		rc = JG_ENOTFOUND;
		goto out;
	}
	/* against the newest checkpoint when it covers the entry, else the current tree */
	rc = jg_audit_latest_checkpoint_on(conn, &text, &cp_size, NULL);
	if (rc != 0 && rc != JG_ENOTFOUND)
		goto out;
	if (rc == 0 && parse_checkpoint(text, &note, &cp) == 0 && seq < cp.size &&
	    cp.size <= have) {
		out->checkpointed = true;
		out->tree_size = cp.size;
		cp_signed = signed_by_us(a, note);
	} else {
		out->tree_size = have;
	}
	if ((rc = jg_audit_read_leaf(conn, seq, out->leaf, &out->entry)) != 0 ||
	    (rc = jg_merkle_inclusion_proof(seq, out->tree_size, jg_audit_get_node, conn, out->path,
					    sizeof(out->path), &out->path_len)) != 0 ||
	    (rc = jg_merkle_root_from_nodes(out->tree_size, jg_audit_get_node, conn, out->root)) !=
		0)
		goto out;
	/* the stored nodes agree with each other, and with what the checkpoint signed */
	out->verifies = jg_merkle_inclusion_verify(seq, out->tree_size, out->leaf, out->path,
						   out->path_len, out->root) == 0;
	out->signed_root =
	    out->checkpointed && cp_signed && CRYPTO_memcmp(cp.root, out->root, 32) == 0;
out:
	jg_store_rollback(conn);
	jg_store_release(a->store, conn);
	free(text);
	jg_signed_note_free(note);
	if (rc != 0)
		jg_audit_proof_view_clear(out);
	return rc;
}

void
jg_audit_proof_view_clear(struct jg_audit_proof_view *v)
{
	if (v == NULL)
		return;
	json_decref(v->entry);
	v->entry = NULL;
}

/* ---- the export that records itself ------------------------------------------------ */

struct buffer {
	char *data;
	size_t len, cap, max;
};

static int
buffer_write(void *ctx, const void *buf, size_t len)
{
	struct buffer *b = ctx;
	if (b->len + len > b->max)
		return JG_ETOOBIG;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : EXPORT_FIRST_BYTES;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (grown == NULL)
			return JG_ENOMEM;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
jg_audit_export_audited(struct jg_audit *a, const char *actor, uint64_t from, uint64_t to,
			size_t max_bytes, char **out, size_t *len)
{
	struct buffer b = {.max = max_bytes};
	uint64_t cp_size;
	int rc;

	*out = NULL;
	*len = 0;
	if (to != UINT64_MAX && from > to)
		return JG_EINVAL;
	json_t *data = json_pack("{s:I}", "from", (json_int_t)from);
	if (data == NULL)
		return JG_ENOMEM;
	if (to != UINT64_MAX)
		json_object_set_new(data, "to", json_integer((json_int_t)to));
	/* recorded first, and covered by the checkpoint the export ends with */
	rc = jg_audit_append(a, "audit.exported", actor, data, NULL);
	json_decref(data);
	if (rc != 0 || jg_audit_checkpoint(a, NULL, &cp_size) != 0)
		return JG_EUNAVAIL;
	wait_published(a, cp_size);
	if (to == UINT64_MAX)
		to = cp_size - 1;
	rc = jg_audit_export(a->store, from, to, buffer_write, &b);
	if (rc == 0 && b.data == NULL && (b.data = strdup("")) == NULL)
		rc = JG_ENOMEM;
	if (rc != 0) {
		free(b.data);
		return rc;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}
