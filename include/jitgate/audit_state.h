/*
 * audit_state.h - the audit log's verified state: one row (audit_state)
 * saying how far the log has been verified, so that `jitgate serve` verifies
 * only the entries after it at start, and remembering a fault the running
 * server found, so that a restart never clears an alarm.
 *
 * The row holds the chain at a verified size (origin, size, root, leaf hash
 * of the last entry, Merkle frontier) and a fault (or none), authenticated
 * by an HMAC-SHA-256 under the active audit-state key of key_dir (keys.h);
 * a row verifies under any audit-state key there, so rotation keeps old rows
 * readable.  The exact encoding the MAC covers is in docs/audit-format.md,
 * "The verified state".  The database cannot forge the MAC; it can remove
 * the row (the next start then verifies everything: slower, never weaker) or
 * put back an older valid row (docs/threat-model.md says what that can do).
 *
 * Writers (audit_checkpoint.c at every checkpoint of a log that was
 * verified and handed over - serve's, not the command line's - in the
 * checkpoint's own transaction; audit_verified.c when a fault is found;
 * serve after a full verification; audit_sweep.c, the rolling verifier's
 * cursor) never move the size backward, never drop a stored fault and keep
 * the cursor: each write compares the MAC it read (compare-and-set), so two
 * replicas writing at once cannot lose a fault.  A row with a cursor is
 * MAC'd under another domain (v2) than one without (v1, every row written
 * before migration 0018), so older rows keep verifying.
 */
#ifndef JITGATE_AUDIT_STATE_H
#define JITGATE_AUDIT_STATE_H

#include <stdint.h>

#include "jitgate/audit.h"
#include "jitgate/audit_chain.h"
#include "jitgate/keys.h"
#include "jitgate/store.h"

#define JG_AUDIT_STATE_ORIGIN_MAX 255
#define JG_AUDIT_STATE_WHY_MAX	  400

struct jg_audit_state {
	char origin[JG_AUDIT_STATE_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[JG_MERKLE_HASH_LEN];
	uint8_t last[JG_MERKLE_HASH_LEN]; /* leaf hash of entry size - 1 (zeros when size is 0) */
	struct jg_merkle_frontier tree;	  /* of entries [0, size) */
	int faulted;			  /* a fault was found and stored */
	uint64_t fault_seq;		  /* the entry at fault, UINT64_MAX when none is named */
	char fault_why[JG_AUDIT_STATE_WHY_MAX];
	/*
	 * The rolling verifier's cursor (audit_sweep.c): the chain of entries
	 * [0, sweep.next_seq) it has re-verified in the sweep under way, so a
	 * restart or another replica resumes there.  swept 0: none (a row
	 * written before migration 0018, or no sweep yet).
	 */
	int swept;
	struct jg_chain sweep; /* next_seq, prev, tree; threads unused */
};

/*
 * Reads and authenticates the row on conn (in the caller's transaction, if
 * any).  0; JG_ENOTFOUND when there is no row; JG_EVERIFY when the row is
 * malformed or its MAC verifies under none of keys; JG_ESTORE.
 */
int jg_audit_state_read(struct jg_store_conn *conn, const struct jg_keyring *keys,
			struct jg_audit_state *out) __attribute__((warn_unused_result));

/*
 * Inside the caller's write transaction on conn: makes the row describe
 * chain (may be NULL: keep the verified part as it is, size 0 when there is
 * none) and, when fault_why is not NULL, the fault (fault_seq: the entry,
 * UINT64_MAX for none).  A stored size larger than chain's is kept, and so
 * is a stored fault (the first one found stays).  Without a fault to
 * record, a row whose MAC does not verify is left alone and JG_EVERIFY
 * returned (the caller fails closed); with one, the row is replaced, so the
 * fault is what the next start sees.  0, JG_EVERIFY, JG_ESTORE, JG_ECRYPTO,
 * JG_ERETRY when other writers kept changing the row.
 */
int jg_audit_state_put(struct jg_store_conn *conn, const struct jg_keyring *keys,
		       const char *origin, const struct jg_chain *chain, uint64_t fault_seq,
		       const char *fault_why) __attribute__((warn_unused_result));

/* jg_audit_state_put in a transaction of its own on a connection of store. */
int jg_audit_state_store(struct jg_store *store, const struct jg_keyring *keys, const char *origin,
			 const struct jg_chain *chain, uint64_t fault_seq, const char *fault_why)
    __attribute__((warn_unused_result));

/*
 * The start-up check from the stored state: the row must verify, name
 * origin, carry no fault and not be ahead of the log; the stored tree must
 * give its frontier and last leaf; the entries after it are verified as the
 * full verification would (links, form, leaf hashes, stored nodes, the
 * chain head); every checkpoint above the state's size and the newest one
 * must be validly signed and their roots given by the stored tree
 * (O(log n) node reads each).  On 0, *chain is the log's whole verified
 * chain (as jg_audit_verify_store_chain would give) and *tail (may be NULL)
 * the number of entries read.  JG_ENOTFOUND when there is no row (verify
 * everything instead); JG_EVERIFY with *fault (seq UINT64_MAX when no entry
 * is to blame); a store's error.
 */
int jg_audit_state_start(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
			 const struct jg_keyring *keys, const char *origin, int threads,
			 struct jg_chain *chain, uint64_t *tail, struct jg_chain_fault *fault)
    __attribute__((warn_unused_result));

enum jg_audit_start_how {
	JG_AUDIT_START_TAIL,	   /* from the stored state: only the entries after it */
	JG_AUDIT_START_FULL,	   /* no state yet: everything, then the state written */
	JG_AUDIT_START_FULL_NO_KEY /* no audit-state key: everything, no state kept */
};

struct jg_audit_start_report {
	enum jg_audit_start_how how;
	uint64_t size;	/* entries in the log */
	uint64_t tail;	/* entries read and verified from the state (TAIL) */
	uint64_t from;	/* the state's size (TAIL) */
	int state_kept; /* FULL: the state was written after the verification */
};

/*
 * What `jitgate serve` runs before it opens its port: with an audit-state
 * key in key_dir and a state row, jg_audit_state_start; with a key and no
 * row, the full verification (jg_audit_verify_store_chain), after which the
 * state is written; without a key, the full verification alone.  On 0,
 * *chain is the verified chain to hand to jg_audit_set_verified.
 * JG_EVERIFY with *fault, or another error (err says which for a key).
 */
int jg_audit_state_verify_start(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
				const char *key_dir, const char *origin, int threads,
				struct jg_chain *chain, struct jg_audit_start_report *rep,
				struct jg_chain_fault *fault, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Inside the caller's write transaction on conn: stores the rolling
 * verifier's cursor sweep in the row, every other column as it is
 * (compare-and-set on the MAC read, as jg_audit_state_put).  0;
 * JG_ENOTFOUND when there is no row (nothing is written: the state is
 * written at the next checkpoint, the cursor after it); JG_EVERIFY when the
 * row does not verify (left alone: the caller fails closed); JG_ESTORE,
 * JG_ECRYPTO, JG_ERETRY.
 */
int jg_audit_state_put_sweep(struct jg_store_conn *conn, const struct jg_keyring *keys,
			     const struct jg_chain *sweep) __attribute__((warn_unused_result));

/* jg_audit_state_put_sweep in a transaction of its own on a connection of store. */
int jg_audit_state_store_sweep(struct jg_store *store, const struct jg_keyring *keys,
			       const struct jg_chain *sweep) __attribute__((warn_unused_result));

/*
 * One slice of the rolling verifier's sweep (audit_sweep.c), on conn in a
 * read transaction of its own: re-verifies up to max_entries entries from
 * cursor->next_seq on, exactly as the full verification does - form, seq,
 * prev links, leaf hashes, every stored tree node the entries complete, and
 * every stored checkpoint whose size they reach (signed by a key of vs, its
 * size its row's, its root the re-computed tree's).  The sweep ends at
 * verified (the chain the running server verified, a snapshot): when the
 * cursor reaches its size the two chains must be equal, and the cursor
 * starts over from 0 (*wrapped 1).  A cursor beyond verified (a failover
 * rewound the verified chain) also starts over.  On 0 *cursor has moved
 * on; JG_EVERIFY with *fault naming the entry (UINT64_MAX: none), the
 * cursor left before it; JG_ESTORE, JG_ENOMEM, JG_ECRYPTO.
 */
int jg_audit_sweep_step(struct jg_store_conn *conn, const struct jg_audit_verifiers *vs,
			struct jg_chain *cursor, const struct jg_chain *verified,
			size_t max_entries, int *wrapped, struct jg_chain_fault *fault)
    __attribute__((warn_unused_result));

/* The table as `jitgate store copy` moves it (store.h). */
const struct jg_store_table *jg_audit_state_tables(size_t *n);

#endif
