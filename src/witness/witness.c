/*
 * witness.c - the add-checkpoint decision of a tlog witness (witness.h):
 * parse the request, check the log's signature, compare with what the
 * witness holds, check the consistency proof, cosign, store, in that order.
 *
 * Everything that needs no state is checked before the write transaction
 * opens (format, origin, signature, old size <= size, an empty proof from
 * size 0), so a flood of bad requests never takes the write lock.  Inside
 * the transaction the witness reads what it holds, checks the old size and
 * the proof against it, signs the cosignature, stores the checkpoint with
 * it, and commits: only a committed checkpoint is ever answered with a
 * cosignature, and a failed commit answers nothing but an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jitgate/error.h"
#include "jitgate/merkle.h"
#include "jitgate/store.h"
#include "jitgate/witness.h"
#include "witness_int.h"

struct jg_witness {
	char name[JG_NOTE_MAX_NAME + 1];
	EVP_PKEY *key;
	char *vkey;
	struct jg_store *state;
	struct jg_witness_log logs[JG_WITNESS_MAX_LOGS];
	size_t n_logs;
};

int
jg_witness_open(const char *name, EVP_PKEY *key, const char *state_path,
		const struct jg_witness_log *logs, size_t n, struct jg_witness **out, char *err,
		size_t errlen)
{
	struct jg_note_verifier self;
	struct jg_witness *w;
	int rc;

	*out = NULL;
	if (n == 0 || n > JG_WITNESS_MAX_LOGS) {
		snprintf(err, errlen, "logs: between 1 and %d logs", JG_WITNESS_MAX_LOGS);
		return JG_EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (logs[i].n_keys == 0 || logs[i].n_keys > JG_WITNESS_MAX_LOG_KEYS) {
			snprintf(err, errlen, "logs[%zu]: between 1 and %d keys", i,
				 JG_WITNESS_MAX_LOG_KEYS);
			return JG_EINVAL;
		}
	if (jg_signed_note_cosigner_init(&self, name, key) != 0) {
		snprintf(err, errlen, "name or key: not a valid key name and Ed25519 key");
		return JG_EINVAL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return JG_ENOMEM;
	if ((rc = jg_signed_note_verifier_format(&self, &w->vkey)) != 0 ||
	    (rc = jg_witness_state_open(state_path, &w->state, err, errlen)) != 0) {
		free(w->vkey);
		free(w);
		return rc;
	}
	snprintf(w->name, sizeof(w->name), "%s", name);
	memcpy(w->logs, logs, n * sizeof(*logs));
	w->n_logs = n;
	w->key = key;
	*out = w;
	return 0;
}

void
jg_witness_free(struct jg_witness *w)
{
	if (w == NULL)
		return;
	jg_store_close(w->state);
	EVP_PKEY_free(w->key);
	free(w->vkey);
	free(w);
}

const char *
jg_witness_vkey(const struct jg_witness *w)
{
	return w->vkey;
}

static const struct jg_witness_log *
find_log(const struct jg_witness *w, const char *origin)
{
	for (size_t i = 0; i < w->n_logs; i++)
		if (strcmp(w->logs[i].origin, origin) == 0)
			return &w->logs[i];
	return NULL;
}

static int
refuse(struct jg_witness_answer *ans, int status, const char *why)
{
	ans->status = status;
	snprintf(ans->why, sizeof(ans->why), "%s", why);
	return 0;
}

/* "old N": N canonical decimal (no sign, no leading zero but for "0"). */
static bool
parse_old_line(const char *line, size_t len, uint64_t *old)
{
	uint64_t v = 0;

	if (len < 5 || len > 4 + 20 || memcmp(line, "old ", 4) != 0)
		return false;
	line += 4;
	len -= 4;
	if (len > 1 && line[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (line[i] < '0' || line[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	*old = v;
	return true;
}

/* The request split: old size, proof hashes, and where the note starts. */
struct request {
	uint64_t old;
	uint8_t proof[JG_WITNESS_MAX_PROOF * 32];
	size_t n_proof;
	const char *note;
	size_t note_len;
};

static bool
split_request(const char *body, size_t len, struct request *r)
{
	const char *p = body, *end = body + len, *nl;

	if ((nl = memchr(p, '\n', len)) == NULL || !parse_old_line(p, (size_t)(nl - p), &r->old))
		return false;
	p = nl + 1;
	r->n_proof = 0;
	for (;;) {
		if (p >= end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return false;
		if (nl == p)
			break; /* the empty line: the checkpoint follows */
		if (r->n_proof == JG_WITNESS_MAX_PROOF ||
		    jg_signed_note_hash_decode(p, (size_t)(nl - p), r->proof + 32 * r->n_proof) !=
			0)
			return false;
		r->n_proof++;
		p = nl + 1;
	}
	r->note = nl + 1;
	r->note_len = (size_t)(end - r->note);
	return r->note_len > 0;
}

/*
 * What the witness keeps of a submitted note: its text and the signature
 * lines of the log's keys that verified - never the other lines, which
 * anyone could add (a line claiming the witness's own key that does not
 * verify would make every note the witness serves fail for monitors).
 * *kept is NULL when no key of log verifies.
 */
static int
kept_note(const struct jg_witness_log *log, const struct jg_signed_note *note, char **kept)
{
	bool verified[JG_WITNESS_MAX_LOG_KEYS] = {false}, any = false;
	size_t need = note->text_len + 1 + 1, at;

	*kept = NULL;
	for (size_t i = 0; i < log->n_keys; i++) {
		int rc = jg_signed_note_verify(note, &log->keys[i]);
		if (rc != 0 && rc != JG_EVERIFY)
			return rc;
		verified[i] = rc == 0;
		any = any || verified[i];
	}
	if (!any)
		return 0;
	for (size_t k = 0; k < note->n_sigs; k++)
		need += 4 + strlen(note->sigs[k].name) + 1 +
			4 * ((4 + note->sigs[k].sig_len + 2) / 3) + 1;
	if ((*kept = malloc(need)) == NULL)
		return JG_ENOMEM;
	memcpy(*kept, note->text, note->text_len);
	at = note->text_len;
	(*kept)[at++] = '\n';
	for (size_t k = 0; k < note->n_sigs; k++) {
		const struct jg_note_sig *sig = &note->sigs[k];
		bool ours = false;
		uint8_t blob[4 + 128];
		for (size_t i = 0; i < log->n_keys; i++)
			ours |= verified[i] && sig->key_id == log->keys[i].key_id &&
				strcmp(sig->name, log->keys[i].name) == 0;
		if (!ours || sig->sig_len > sizeof(blob) - 4)
			continue;
		blob[0] = (uint8_t)(sig->key_id >> 24);
		blob[1] = (uint8_t)(sig->key_id >> 16);
		blob[2] = (uint8_t)(sig->key_id >> 8);
		blob[3] = (uint8_t)sig->key_id;
		memcpy(blob + 4, sig->sig, sig->sig_len);
		at += (size_t)snprintf(*kept + at, need - at, "\xe2\x80\x94 %s ", sig->name);
		at += (size_t)EVP_EncodeBlock((unsigned char *)*kept + at, blob,
					      (int)(4 + sig->sig_len));
		(*kept)[at++] = '\n';
	}
	(*kept)[at] = '\0';
	return 0;
}

/*
 * Inside the write transaction: compare with what is held, check the proof,
 * cosign and store.  Returns 0 with *ans decided (and *committed set when the
 * caller must commit), or a witness failure.
 */
static int
decide_and_store(struct jg_witness *w, struct jg_store_conn *conn, const struct request *r,
		 const struct jg_checkpoint *cp, const struct jg_signed_note *note,
		 const char *kept, uint64_t now, struct jg_witness_answer *ans, bool *store)
{
	uint8_t held_root[32];
	uint64_t held = 0;
	bool found;
	char *line = NULL;
	size_t line_len;
	int rc;

	*store = false;
	if ((rc = jg_witness_state_get(conn, cp->origin, &held, held_root, &found)) != 0)
		return rc;
	if (!found && (rc = jg_merkle_empty_root(held_root)) != 0)
		return rc;
	if (r->old != held) {
		char size[24];
		int n = snprintf(size, sizeof(size), "%llu\n", (unsigned long long)held);
		if ((ans->body = strdup(size)) == NULL)
			return JG_ENOMEM;
		ans->body_len = (size_t)n;
		return refuse(ans, 409, "the old size is not the size of the checkpoint held");
	}
	if (r->old == cp->size && CRYPTO_memcmp(held_root, cp->root, 32) != 0) {
		char size[24];
		int n = snprintf(size, sizeof(size), "%llu\n", (unsigned long long)held);
		if ((ans->body = strdup(size)) == NULL)
			return JG_ENOMEM;
		ans->body_len = (size_t)n;
		return refuse(ans, 409, "same size as the checkpoint held, different root: a fork");
	}
	rc = jg_merkle_consistency_verify(r->old, cp->size, held_root, cp->root, r->proof,
					  32 * r->n_proof);
	if (rc == JG_EVERIFY)
		return refuse(ans, 422, "the consistency proof does not verify");
	if (rc != 0)
		return rc;
	if ((rc = jg_signed_note_cosign(note->text, note->text_len, w->name, w->key, now, &line,
					&line_len)) != 0)
		return rc;
	rc = jg_witness_state_put(conn, cp->origin, cp->size, cp->root, kept, line, (int64_t)now);
	if (rc != 0) {
		free(line);
		return rc;
	}
	ans->status = 200;
	ans->body = line;
	ans->body_len = line_len;
	*store = true;
	return 0;
}

int
jg_witness_add_checkpoint(struct jg_witness *w, const char *body, size_t len, uint64_t now,
			  struct jg_witness_answer *ans)
{
	struct jg_signed_note *note = NULL;
	struct jg_store_conn *conn = NULL;
	struct jg_checkpoint cp;
	struct request *r = NULL;
	char *kept = NULL;
	bool store = false;
	int rc;

	memset(ans, 0, sizeof(*ans));
	if (body == NULL || len == 0 || len > JG_WITNESS_MAX_BODY_BYTES)
		return refuse(ans, 400, "the body is empty or too large");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return JG_ENOMEM;
	if (!split_request(body, len, r)) {
		rc = refuse(ans, 400,
			    "expected an \"old N\" line, at most 63 base64 proof hashes, an empty "
			    "line and a checkpoint note");
		goto out;
	}
	rc = jg_signed_note_parse(r->note, r->note_len, &note);
	if (rc == JG_ENOMEM)
		goto out;
	if (rc != 0 || jg_signed_note_checkpoint_parse(note->text, note->text_len, &cp) != 0) {
		rc = refuse(ans, 400, "the checkpoint is not a well-formed signed note");
		goto out;
	}
	snprintf(ans->origin, sizeof(ans->origin), "%s", cp.origin);
	ans->old_size = r->old;
	ans->size = cp.size;
	const struct jg_witness_log *log = find_log(w, cp.origin);
	if (log == NULL) {
		rc = refuse(ans, 404, "this witness does not follow that origin");
		goto out;
	}
	if ((rc = kept_note(log, note, &kept)) != 0)
		goto out;
	if (kept == NULL) {
		rc = refuse(ans, 403, "no signature of the log's keys verifies");
		goto out;
	}
	if (r->old > cp.size || cp.size > INT64_MAX) {
		rc = refuse(ans, 400, "the old size is larger than the checkpoint's size");
		goto out;
	}
	if (r->old == 0 && r->n_proof != 0) {
		rc = refuse(ans, 400, "a proof from size 0 must be empty");
		goto out;
	}
	if (jg_store_acquire(w->state, &conn) != 0 || jg_store_begin(conn) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	rc = decide_and_store(w, conn, r, &cp, note, kept, now, ans, &store);
	if (rc == 0 && store && (rc = jg_store_commit(conn)) != 0) {
		free(ans->body); /* never answer a cosignature that is not stored */
		ans->body = NULL;
		ans->status = 0;
	}
	if (rc != 0 || !store)
		jg_store_rollback(conn);
out:
	if (conn != NULL)
		jg_store_release(w->state, conn);
	jg_signed_note_free(note);
	free(kept);
	free(r);
	return rc;
}

int
jg_witness_latest(struct jg_witness *w, const char *origin, char **note, size_t *len)
{
	struct jg_store_conn *conn = NULL;
	int rc;

	*note = NULL;
	if (origin == NULL || find_log(w, origin) == NULL)
		return JG_ENOTFOUND;
	if (jg_store_acquire(w->state, &conn) != 0)
		return JG_ESTORE;
	rc = jg_witness_state_latest(conn, origin, note, len);
	jg_store_release(w->state, conn);
	return rc;
}
