/*
 * audit_verified.c - the verified chain of an open log: what has been
 * verified (size, last hash, frontier), extending it by new entries,
 * anchors proven into it, and the sticky "broken" state once anything does
 * not verify - which is also stored in the verified state (audit_state.h)
 * by the background thread, so that a restart does not clear it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit_int.h"
#include "jitgate/audit_state.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/log.h"

void
jg_audit_mark_broken(struct jg_audit *a, const struct jg_chain_fault *fault, int rc)
{
	pthread_mutex_lock(&a->verify_lock);
	if (!a->broken) {
		__atomic_store_n(&a->broken, 1, __ATOMIC_RELEASE);
		if (fault && fault->seq != UINT64_MAX)
			snprintf(a->broken_why, sizeof(a->broken_why), "entry %llu: %s",
				 (unsigned long long)fault->seq, fault->why);
		else
			snprintf(a->broken_why, sizeof(a->broken_why), "%s",
				 fault && rc == JG_EVERIFY ? fault->why : jg_strerror(rc));
		/* mark_broken runs on many threads, some holding a connection: the
		 * background thread stores it on one of its own (jg_audit_fault_flush) */
		a->fault_pending = 1;
		a->fault_seq = fault ? fault->seq : UINT64_MAX;
		json_t *f = json_pack("{s:s}", "why", a->broken_why);
		jg_log(JG_LOG_ERROR,
		       "the audit log no longer verifies: guarded endpoints answer 503 and /readyz "
		       "fails until an operator intervenes",
		       f);
		json_decref(f);
	}
	pthread_mutex_unlock(&a->verify_lock);
}

void
jg_audit_fault_flush(struct jg_audit *a)
{
	char why[sizeof(a->broken_why)];
	uint64_t seq;

	pthread_mutex_lock(&a->verify_lock);
	int pending = a->fault_pending && a->state_keys != NULL;
	seq = a->fault_seq;
	memcpy(why, a->broken_why, sizeof(why));
	pthread_mutex_unlock(&a->verify_lock);
	if (!pending)
		return;
	int rc = jg_audit_state_store(a->store, a->state_keys, a->origin, NULL, seq, why);
	json_t *f = json_pack("{s:s}", "why", why);
	if (seq != UINT64_MAX)
		json_object_set_new(f, "first_bad_seq", json_integer((json_int_t)seq));
	if (rc == 0) {
		pthread_mutex_lock(&a->verify_lock);
		a->fault_pending = 0;
		pthread_mutex_unlock(&a->verify_lock);
		jg_log(JG_LOG_ERROR,
		       "audit: the fault is stored in the verified state: jitgate refuses to start "
		       "(exit 5) until an operator has investigated (docs/operations.md)",
		       f);
	} else {
		jg_log(JG_LOG_WARN, "audit: the fault could not be stored yet; will retry", f);
	}
	json_decref(f);
}

void
jg_audit_set_verified(struct jg_audit *a, const struct jg_chain *chain)
{
	pthread_mutex_lock(&a->verify_lock);
	a->verified = *chain;
	a->have_verified = 1;
	pthread_mutex_unlock(&a->verify_lock);
}

void
jg_audit_remember_leaf(void *ctx, uint64_t seq, const uint8_t leaf[32])
{
	jg_audit_recent_put(ctx, seq, leaf);
}

/*
 * jg_audit_check on a connection the caller holds.  Lock order: a store
 * connection first, then verify_lock (the writer and the guard hold a
 * connection when they get here; the other way round, a thread holding
 * verify_lock would wait for a connection that a guard holds while it waits
 * for verify_lock).
 */
static int
check_on(struct jg_audit *a, struct jg_store_conn *conn, struct jg_chain *snapshot)
{
	struct jg_chain_fault fault;
	uint64_t added;
	int rc;

	pthread_mutex_lock(&a->verify_lock);
	if (a->broken || !a->have_verified) {
		pthread_mutex_unlock(&a->verify_lock);
		return JG_EVERIFY;
	}
	/* one extender at a time, holding the lock: O(entries appended since), leaves remembered */
	rc = jg_audit_chain_extend_leaves(conn, &a->verified, &added, &fault,
					  jg_audit_remember_leaf, a);
	if (rc == 0 && snapshot)
		*snapshot = a->verified;
	pthread_mutex_unlock(&a->verify_lock);
	if (rc == JG_EVERIFY)
		jg_audit_mark_broken(a, &fault, rc);
	return rc;
}

int
jg_audit_check(struct jg_audit *a, struct jg_chain *snapshot)
{
	struct jg_store_conn *conn;
	int rc;

	if (jg_audit_healthy(a, NULL, 0) != 0)
		return JG_EVERIFY;
	if ((rc = jg_store_acquire(a->store, &conn)) != 0)
		return rc;
	rc = check_on(a, conn, snapshot);
	jg_store_release(a->store, conn);
	return rc;
}

int
jg_audit_healthy(struct jg_audit *a, char *why, size_t whylen)
{
	/* every audited action asks: no lock while the log is sound (set once, never cleared) */
	if (!__atomic_load_n(&a->broken, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&a->verify_lock);
	int broken = a->broken;
	if (broken && why)
		snprintf(why, whylen, "%s", a->broken_why);
	pthread_mutex_unlock(&a->verify_lock);
	return broken ? JG_EVERIFY : 0;
}

/* jg_audit_anchor, with the entry's bytes as already read (read; NULL: read them here). */
static int
anchor(struct jg_audit *a, struct jg_store_conn *conn, uint64_t seq, const uint8_t hash[32],
       const struct jg_audit_anchor_claim *claim, const struct jg_audit_bytes *read)
{
	struct jg_chain snapshot;
	int rc = 0;

	/*
	 * The log before the guard's own intent entry is verified by the batch
	 * that writes it (verify_since); here the verified log need only reach
	 * the anchor, which it usually does already.
	 */
	pthread_mutex_lock(&a->verify_lock);
	if (a->broken || !a->have_verified)
		rc = JG_EVERIFY;
	else
		snapshot = a->verified;
	pthread_mutex_unlock(&a->verify_lock);
	/* on conn: holding one, never wait for a second (without one, borrow one) */
	if (rc == 0 && seq >= snapshot.next_seq)
		rc = conn ? check_on(a, conn, &snapshot) : jg_audit_check(a, &snapshot);
	if (rc != 0)
		return rc;
	uint8_t proven[32];
	size_t slot = seq % ANCHOR_CACHE;
	pthread_mutex_lock(&a->anchor_lock);
	int cached = a->anchors[slot].used && a->anchors[slot].seq == seq;
	/* the same claim passed for this entry: only the leaf is re-checked, nothing parsed */
	int claimed = cached && CRYPTO_memcmp(a->anchors[slot].key, claim->key, 32) == 0;
	if (cached)
		memcpy(proven, a->anchors[slot].leaf, 32);
	pthread_mutex_unlock(&a->anchor_lock);

	json_t *entry = NULL;
	rc = jg_audit_anchor_check_read(a->store, conn, &snapshot, seq, hash,
					cached ? proven : NULL, read, claimed ? NULL : &entry);
	if (rc == 0 && !claimed) {
		/* hash is the leaf just proven (or re-checked); entry, its bytes */
		rc = claim->check(claim->ctx, entry) == 0 ? 0 : JG_EDENIED;
		if (rc == 0) {
			pthread_mutex_lock(&a->anchor_lock);
			a->anchors[slot].used = 1;
			a->anchors[slot].seq = seq;
			memcpy(a->anchors[slot].leaf, hash, 32);
			memcpy(a->anchors[slot].key, claim->key, 32);
			pthread_mutex_unlock(&a->anchor_lock);
		}
	}
	json_decref(entry);
	if (rc == JG_EVERIFY) { /* the log, not the token: fail closed for everyone */
		struct jg_chain_fault fault = {.seq = seq};
		snprintf(fault.why, sizeof(fault.why),
			 "the entry a token is anchored to does not match the verified log");
		jg_audit_mark_broken(a, &fault, rc);
	}
	return rc;
}

int
jg_audit_anchor(struct jg_audit *a, struct jg_store_conn *conn, uint64_t seq,
		const uint8_t hash[32], const struct jg_audit_anchor_claim *claim)
{
	return anchor(a, conn, seq, hash, claim, NULL);
}

/* The anchor's read in a batch: jg_audit_read_leaf's query, under a literal of its own. */
static const char sql_anchor_entry[] = "SELECT entry FROM audit_log WHERE seq = ?";

int
jg_audit_anchor_queue(struct jg_store_batch *b, uint64_t seq, size_t *slot)
{
	struct jg_stmt *st;
	int rc = seq > INT64_MAX ? (b->rc = JG_EINVAL)
				 : jg_store_batch_prepare(b, sql_anchor_entry, &st, slot);

	if (rc == 0 && (rc = jg_stmt_bind_int64(st, 1, (int64_t)seq)) != 0)
		b->rc = rc; /* the batch fails whole: nothing half-bound is sent */
	return rc;
}

int
jg_audit_anchor_take(struct jg_audit *a, struct jg_store_batch *b, size_t slot, uint64_t seq,
		     const uint8_t hash[32], const struct jg_audit_anchor_claim *claim)
{
	struct jg_stmt *st;
	int rc = jg_store_batch_take(b, slot, &st);

	if (rc != 0)
		return rc == JG_EUNAVAIL ? JG_EUNAVAIL : JG_ESTORE; /* never a verdict */
	int step = jg_stmt_step(st);
	if (step == JG_STMT_ROW) {
		struct jg_audit_bytes read = {.p = jg_stmt_column_blob(st, 0, &read.len)};
		if (read.p == NULL)
			read.p = ""; /* a NULL entry: hashed as no bytes, and fails as such */
		return anchor(a, b->conn, seq, hash, claim, &read);
	}
	/*
	 * No entry seq when the batch read: it may have been appended since (the
	 * verified log is extended first if it does not reach seq), so the entry is
	 * read again now, as jg_audit_anchor reads it - its absence then is judged
	 * there, never from this earlier look.
	 */
	if (step == JG_STMT_DONE)
		return anchor(a, b->conn, seq, hash, claim, NULL);
	return JG_ESTORE;
}

/* ---- entries lost in a failover ----------------------------------------------- */

void
jg_audit_recent_put(struct jg_audit *a, uint64_t seq, const uint8_t leaf[32])
{
	uint8_t *slot = a->recent[seq % RECENT_LEAVES];

	if (a->recent_hi == a->recent_lo || seq > a->recent_hi) {
		a->recent_lo = a->recent_hi = seq; /* a gap: what was before is not this chain's */
	} else if (seq < a->recent_lo) {
		return; /* older than what is kept */
	} else if (seq < a->recent_hi) {
		if (CRYPTO_memcmp(slot, leaf, 32) == 0)
			return;
		a->recent_hi = seq; /* another entry at seq: what followed the old one is gone */
	}
	memcpy(slot, leaf, 32);
	a->recent_hi = seq + 1;
	if (a->recent_hi - a->recent_lo > RECENT_LEAVES)
		a->recent_lo = a->recent_hi - RECENT_LEAVES;
}

int
jg_audit_rewind_unconfirmed(struct jg_audit *a, uint64_t head_size, const uint8_t head_last[32],
			    struct jg_chain_fault *fault)
{
	uint64_t seen = a->verified.next_seq > a->recent_hi ? a->verified.next_seq : a->recent_hi;
	uint64_t cp_size = 0, mine, added;
	struct jg_chain chain;
	char *note = NULL, hex[65];
	int rc;

	/* every lost entry and the head's own must be among the leaves kept */
	if (a->dropped != NULL || head_size == 0 || head_size - 1 < a->recent_lo ||
	    seen != a->recent_hi)
		return jg_chain_fault_set(fault, head_size,
					  "the log holds %llu entries but its head says %llu",
					  (unsigned long long)seen, (unsigned long long)head_size);
	if (CRYPTO_memcmp(a->recent[(head_size - 1) % RECENT_LEAVES], head_last, 32) != 0)
		return jg_chain_fault_set(
		    fault, head_size - 1,
		    "the database's entry %llu is not the one this replica saw "
		    "committed (its chain holds %llu entries): a fork",
		    (unsigned long long)(head_size - 1), (unsigned long long)seen);
	/*
	 * A confirmed checkpoint - the new primary's, or one of this replica's
	 * whose COMMIT returned - covers confirmed entries only, which the new
	 * primary has: one covering a lost entry is a fork.
	 */
	rc = jg_audit_latest_checkpoint_on(a->conn, &note, &cp_size, NULL);
	free(note);
	if (rc == JG_ENOTFOUND)
		cp_size = 0;
	else if (rc != 0)
		return JG_EUNAVAIL;
	/* this replica's own, confirmed (checkpointed_size also follows unconfirmed rows it saw) */
	pthread_mutex_lock(&a->lock);
	mine = a->cp_confirmed;
	pthread_mutex_unlock(&a->lock);
	if (cp_size > head_size || mine > head_size)
		return jg_chain_fault_set(
		    fault, head_size,
		    "a checkpoint covers %llu entries but the log holds %llu: "
		    "entries a checkpoint covers were lost",
		    (unsigned long long)(cp_size > mine ? cp_size : mine),
		    (unsigned long long)head_size);
	/* the database's chain, verified afresh: it must end at the leaf this replica saw there */
	jg_chain_init(&chain, a->verified.threads);
	if ((rc = jg_audit_chain_extend_conn(a->conn, &chain, &added, fault)) != 0)
		return rc == JG_EVERIFY ? rc : JG_EUNAVAIL;
	if (chain.next_seq != head_size || CRYPTO_memcmp(chain.prev, head_last, 32) != 0)
		return jg_chain_fault_set(
		    fault, head_size, "the log holds %llu entries but its head says %llu",
		    (unsigned long long)chain.next_seq, (unsigned long long)head_size);

	json_t *hashes = json_array(), *data = NULL;
	for (uint64_t seq = head_size; hashes != NULL && seq < seen; seq++) {
		jg_hex32(a->recent[seq % RECENT_LEAVES], hex);
		if (json_array_append_new(hashes, json_string(hex)) != 0) {
			json_decref(hashes);
			hashes = NULL;
		}
	}
	if (hashes != NULL)
		data = json_pack("{s:I,s:I,s:o}", "from", (json_int_t)head_size, "to",
				 (json_int_t)(seen - 1), "hashes", hashes);
	if (data == NULL)
		return JG_ENOMEM;
	a->verified = chain;
	a->recent_hi = head_size;
	a->dropped = data;
	a->rewinds++;
	json_t *f =
	    json_pack("{s:I,s:I}", "from", (json_int_t)head_size, "to", (json_int_t)(seen - 1));
	jg_log(JG_LOG_WARN,
	       "audit: the database lost entries it never confirmed (a failover); the verified "
	       "chain is rewound to its head and the loss recorded as audit.unconfirmed_dropped",
	       f);
	json_decref(f);
	return 0;
}

int
jg_audit_dropped_pending(struct jg_audit *a, uint64_t head_size, int *write,
			 struct jg_chain_fault *fault)
{
	uint64_t from = (uint64_t)json_integer_value(json_object_get(a->dropped, "from"));
	json_t *e = NULL;
	uint8_t leaf[32];
	int rc;

	*write = head_size == from;
	if (*write)
		return 0;
	rc = head_size < from ? JG_ENOTFOUND : jg_audit_read_leaf(a->conn, from, leaf, &e);
	if (rc != 0 && rc != JG_ENOTFOUND)
		return JG_EUNAVAIL;
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *actor = json_string_value(json_object_get(e, "actor"));
	int same = rc == 0 && type != NULL && strcmp(type, "audit.unconfirmed_dropped") == 0 &&
		   actor != NULL && strcmp(actor, "system") == 0 &&
		   json_equal(json_object_get(e, "data"), a->dropped);
	json_decref(e);
	if (!same)
		return jg_chain_fault_set(
		    fault, from,
		    "entry %llu is not the record of the entries lost in the failover that this "
		    "replica found: another entry took their position first",
		    (unsigned long long)from);
	json_decref(a->dropped); /* the batch that failed had written it after all */
	a->dropped = NULL;
	return 0;
}
