/*
 * audit_verified.c - the verified chain of an open log: what has been
 * verified (size, last hash, frontier), extending it by new entries,
 * anchors proven into it, and the sticky "broken" state once anything does
 * not verify.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit_int.h"
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
		json_t *f = json_pack("{s:s}", "why", a->broken_why);
		jg_log(JG_LOG_ERROR,
		       "the audit log no longer verifies: guarded endpoints answer 503 and /readyz "
		       "fails until an operator intervenes",
		       f);
		json_decref(f);
	}
	pthread_mutex_unlock(&a->verify_lock);
}

/* Every reverify_seconds: the whole log again, so an edit to an old entry is caught. */
void
jg_audit_reverify_due(struct jg_audit *a)
{
	struct jg_chain_fault fault;
	struct jg_chain chain;
	uint64_t size;

	if (jg_audit_now_ms() - a->last_full_verify_ms < (int64_t)a->reverify_seconds * 1000)
		return;
	a->last_full_verify_ms = jg_audit_now_ms();
	int rc = jg_audit_verify_store_chain(a->store, &a->verifiers, a->verify_threads, &size,
					     &chain, &fault);
	if (rc == JG_EVERIFY)
		jg_audit_mark_broken(a, &fault, rc);
	else if (rc != 0)
		jg_log(JG_LOG_WARN, "audit: the periodic re-verification could not run; will retry",
		       NULL);
}

void
jg_audit_set_verified(struct jg_audit *a, const struct jg_chain *chain)
{
	pthread_mutex_lock(&a->verify_lock);
	a->verified = *chain;
	a->have_verified = 1;
	a->last_full_verify_ms = jg_audit_now_ms();
	pthread_mutex_unlock(&a->verify_lock);
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
	/* one extender at a time, holding the lock: O(entries appended since) */
	rc = jg_audit_chain_extend_conn(conn, &a->verified, &added, &fault);
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

int
jg_audit_anchor(struct jg_audit *a, struct jg_store_conn *conn, uint64_t seq,
		const uint8_t hash[32], const struct jg_audit_anchor_claim *claim)
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
	rc = jg_audit_anchor_check(a->store, conn, &snapshot, seq, hash, cached ? proven : NULL,
				   claimed ? NULL : &entry);
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
