/*
 * audit.h - the tamper-evident audit log: append, checkpoints, proofs,
 * export and verification against the store.  Format: docs/audit-format.md.
 *
 * Every write that must be audited goes through one writer thread, which
 * runs the caller's state change and its audit entries in the same
 * transaction.  Waiting callers are served in batches: one BEGIN, each
 * caller in its own SAVEPOINT (a refused caller is rolled back alone), one
 * COMMIT - one fsync for the whole batch (group commit).  The chain head
 * (size, last hash, Merkle frontier) is read from the database inside that
 * transaction and written back before COMMIT, so the database, not this
 * process, is the authority; several processes can append to one log.
 *
 * If the batch cannot be made durable, every caller in it gets JG_EUNAVAIL
 * and none of their changes happened: the HTTP layer answers 503.
 */
#ifndef JITGATE_AUDIT_H
#define JITGATE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "jitgate/audit_chain.h"
#include "jitgate/keys.h"
#include "jitgate/merkle.h"
#include "jitgate/signed_note.h"
#include "jitgate/store.h"
#include "jitgate/tile_path.h"

struct jg_audit;
struct jg_audit_tx;

struct jg_witness_cfg; /* config.h */

struct jg_audit_config {
	const char *origin;	     /* checkpoint origin and signing key name */
	uint64_t checkpoint_entries; /* a checkpoint at least every this many entries */
	int checkpoint_seconds;	     /* ... and within this many seconds of a new entry */
	const char *sink_dir;	     /* off-host copy: a directory (NULL: none) */
	const char *sink_url;	     /* off-host copy: HTTPS POST (NULL: none) */
	const char *sink_ca_file;    /* CA bundle for sink_url (NULL: system default) */
	const char *archive_dir;     /* full tiles, bundles and checkpoints (NULL: none) */
	int verify_threads;	     /* threads for full verification */
	int verify_budget;	     /* the rolling verifier's share of one core, percent (0: 10) */
	/* witnesses the checkpoint leader pushes to (docs/witness.md); keys parsed at open */
	const struct jg_witness_cfg *witnesses;
	size_t n_witnesses;
	int witnesses_min; /* cosignatures that make a checkpoint published */
};

struct jg_audit_receipt {
	uint64_t seq;
	uint8_t hash[32]; /* the entry's leaf hash */
};

/* The verifier keys for every checkpoint key in key_dir (public halves). */
struct jg_audit_verifiers {
	int n;
	struct jg_note_verifier v[JG_KEYS_MAX];
};

/*
 * Opens the log on store with the checkpoint keys of key_dir (required:
 * every checkpoint is signed).  Does not start threads.
 */
int jg_audit_open(struct jg_store *store, const char *key_dir, const struct jg_audit_config *cfg,
		  struct jg_audit **out, char *err, size_t errlen);

/*
 * The verified chain.  serve verifies the log at start (the whole log, or
 * the entries after the stored verified state: audit_state.h) and hands the
 * chain over with jg_audit_set_verified(); from then on jg_audit_check()
 * extends it by the entries appended since (O(new entries)), a background
 * thread does so every second, and the rolling verifier (audit_sweep.c)
 * re-verifies everything older, slice by slice, within verify_budget of
 * one core.  The first failure is sticky: the log is "broken", and
 * the fault is stored in the verified state, so every later start refuses
 * naming the entry until an operator removes it.
 */
void jg_audit_set_verified(struct jg_audit *a, const struct jg_chain *chain);
/* Extends the verified chain; *snapshot (may be NULL) is a copy of it.  0 or JG_EVERIFY. */
int jg_audit_check(struct jg_audit *a, struct jg_chain *snapshot)
    __attribute__((warn_unused_result));
/* 0 while the log verifies; JG_EVERIFY (with why) once it has not. */
int jg_audit_healthy(struct jg_audit *a, char *why, size_t whylen);
/*
 * 0 while the store takes writes; JG_EUNAVAIL since a batch could not be made
 * durable (disk full, read-only), until one is (the background thread tries
 * a small write every second meanwhile).
 */
int jg_audit_writable(struct jg_audit *a);

/*
 * What the entry an anchor points at must say, beyond its leaf hash:
 * check(ctx, entry) judges the parsed entry and returns 0 or JG_EDENIED
 * (nothing else).  key names what is claimed (for a capability token, a
 * digest of its claims): once a claim has passed for an anchor, a later
 * call with the same seq and key re-checks only the leaf hash.
 */
struct jg_audit_anchor_claim {
	uint8_t key[32];
	int (*check)(void *ctx, const json_t *entry);
	void *ctx;
};

/*
 * An anchor (entry seq with leaf hash `hash`) checked against the verified
 * log, and its entry against claim: 0; JG_EDENIED when the anchor does not
 * match a sound log or claim->check refuses its entry; JG_EVERIFY when the
 * log itself no longer verifies (then marked broken).  The entry is re-read
 * on conn when given (the caller's connection), else on one of the pool's.
 * The verified log is extended first only if it does not reach seq yet: the
 * entries before the caller's next append are verified by the batch that
 * appends it.  What passed is remembered per anchor (seq, leaf, claim key;
 * a fixed table), so the next call with the same claim costs one re-read
 * and re-hash of the entry, and no parsing.
 */
int jg_audit_anchor(struct jg_audit *a, struct jg_store_conn *conn, uint64_t seq,
		    const uint8_t hash[32], const struct jg_audit_anchor_claim *claim)
    __attribute__((warn_unused_result));

/*
 * jg_audit_anchor in two halves, for a read batch (store.h): _queue adds the
 * read of entry seq to b; after jg_store_batch_run(), _take judges the
 * anchor as jg_audit_anchor does on b's connection, with the same results,
 * hashing the entry as the batch read it (what else it needs - extending the
 * verified log to seq, an inclusion proof, or the entry again when the batch
 * found none - it reads on that connection).  When the batch failed or the
 * slot is not this read's: JG_EUNAVAIL or JG_ESTORE, never a verdict.  A
 * failure to queue fails the whole batch.
 */
int jg_audit_anchor_queue(struct jg_store_batch *b, uint64_t seq, size_t *slot)
    __attribute__((warn_unused_result));
int jg_audit_anchor_take(struct jg_audit *a, struct jg_store_batch *b, size_t slot, uint64_t seq,
			 const uint8_t hash[32], const struct jg_audit_anchor_claim *claim)
    __attribute__((warn_unused_result));

/*
 * What the writer has done since the log was opened: batches committed, and
 * of those the ones PostgreSQL's fast path committed in one round trip
 * (audit_writer.c, fast_batch); fast_declined counts the fast attempts the
 * server refused because the head or the previous batch's entries were not
 * as this writer left them (then the batch ran the careful way).
 */
/*
 * The rolling verifier as this replica last measured it (audit_sweep.c).
 * rate: entries re-verified per second while sweeping at the budget (the
 * last whole sweep's, or the one under way until one has ended; 0 before
 * any slice); window_seconds: how long a whole sweep of the log's size
 * takes at that rate - the detection window for an edit of an old entry
 * (0 while unknown); cpu_share: the sweeping thread's CPU time over the
 * wall time of the last sweep (0-1).
 */
struct jg_audit_sweep_stats {
	int leading;	   /* this replica sweeps (always on SQLite) */
	uint64_t position; /* the cursor: entries [0, position) re-verified in this sweep */
	uint64_t size;	   /* the verified log's size at the last slice */
	uint64_t sweeps;   /* whole sweeps ended since start */
	double rate;
	double window_seconds;
	double cpu_share;
};

struct jg_audit_stats {
	uint64_t batches;
	uint64_t fast_batches;
	uint64_t fast_declined;
	struct jg_audit_sweep_stats sweep;
};
void jg_audit_stats(struct jg_audit *a, struct jg_audit_stats *out);

/* Starts the writer and the checkpoint thread. */
int jg_audit_start(struct jg_audit *a);

/* Finishes queued work, stops the threads.  Safe to call twice. */
void jg_audit_stop(struct jg_audit *a);

void jg_audit_free(struct jg_audit *a);

/*
 * A unit of work run by the writer inside the batch transaction, in its own
 * savepoint: change state through jg_audit_tx_conn() and record it with
 * jg_audit_tx_append().  Return 0 to keep the changes, a JG_E* code to roll
 * them back (that code is what jg_audit_run() returns).
 */
typedef int (*jg_audit_work_fn)(struct jg_audit_tx *tx, void *ctx);

/*
 * Runs fn on the writer and waits until its batch is durable.  Returns fn's
 * result, or JG_EUNAVAIL when the batch could not be committed (nothing of
 * fn's happened).
 */
int jg_audit_run(struct jg_audit *a, jg_audit_work_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* The connection of the batch transaction (for the caller's state changes). */
struct jg_store_conn *jg_audit_tx_conn(struct jg_audit_tx *tx);

/*
 * Appends an entry {v, seq, ts, type, actor, data, prev}.  data (borrowed;
 * NULL means {}) must hold integers, not reals.  Returns 0, JG_EINVAL (bad
 * type, actor or data), JG_ETOOBIG, or JG_ESTORE.  A work function must
 * return this error when it is not 0 (the batch then drops its changes).
 */
int jg_audit_tx_append(struct jg_audit_tx *tx, const char *type, const char *actor, json_t *data,
		       struct jg_audit_receipt *out);

/* Appends one entry on its own (a jg_audit_run() of one append). */
int jg_audit_append(struct jg_audit *a, const char *type, const char *actor, json_t *data,
		    struct jg_audit_receipt *out) __attribute__((warn_unused_result));

/* Told once, on the thread that committed its batch, how an asynchronous append ended; must not
 * block. */
typedef void (*jg_audit_done_fn)(void *ctx, int rc);

/*
 * Queues the same append without waiting for it: done_fn(done_ctx, rc) is
 * called exactly once when its batch is durable (rc 0) or failed
 * (JG_EUNAVAIL, nothing of it written).  Returns 0 when queued, or an error
 * (then done_fn is never called).  Lets an event-loop thread record an
 * action and serve other connections while the group commit runs.
 */
int jg_audit_append_async(struct jg_audit *a, const char *type, const char *actor, json_t *data,
			  jg_audit_done_fn done_fn, void *done_ctx)
    __attribute__((warn_unused_result));

/*
 * Makes a checkpoint of the current tree now (or returns the existing one
 * when nothing was appended since).  *note (may be NULL) receives the
 * signed note, the caller frees it; *size its tree size.
 */
int jg_audit_checkpoint(struct jg_audit *a, char **note, uint64_t *size)
    __attribute__((warn_unused_result));

/*
 * The newest checkpoint in the store: *note (the signed note; the caller
 * frees it), *size, and *created_at (when it was made, Unix milliseconds;
 * may be NULL).  JG_ENOTFOUND when there is none.
 */
int jg_audit_latest_checkpoint(struct jg_store *store, char **note, uint64_t *size,
			       int64_t *created_at);

/* The off-host sinks a checkpoint is pushed to (audit_checkpoint_pushes.sink). */
#define JG_AUDIT_SINK_DIR     "dir"
#define JG_AUDIT_SINK_URL     "url"
#define JG_AUDIT_SINK_ARCHIVE "archive"

/*
 * When the oldest checkpoint not yet pushed to sink was made (Unix
 * milliseconds).  JG_ENOTFOUND when sink has every checkpoint; JG_ESTORE.
 */
int jg_audit_oldest_unpushed(struct jg_store *store, const char *sink, int64_t *created_at);

/* The number of entries (the head's size). */
int jg_audit_size(struct jg_store *store, uint64_t *size);
/* The same on a connection the caller holds (inside its transaction, if any).  0 or JG_ESTORE. */
int jg_audit_read_size(struct jg_store_conn *conn, uint64_t *size);

/*
 * Called by jg_audit_read_from() for each entry, in order: its seq and its
 * exact stored bytes (borrowed for the call).  0 goes on; anything else
 * stops the read, and jg_audit_read_from() returns it.
 */
typedef int (*jg_audit_entry_fn)(void *ctx, uint64_t seq, const void *entry, size_t len);

/*
 * Hands fn the entries from seq `from` on, at most max of them, in order
 * and without gaps: a missing or renumbered row ends the run early (the
 * reader gets what precedes it).  Nothing is verified here.  Returns 0,
 * fn's code, JG_EINVAL or JG_ESTORE.
 */
int jg_audit_read_from(struct jg_store *store, uint64_t from, size_t max, jg_audit_entry_fn fn,
		       void *ctx);

/*
 * The ts of the newest entry (Unix milliseconds).  JG_ENOTFOUND for an
 * empty log, JG_EVERIFY when that entry has no integer ts, JG_ESTORE.
 */
int jg_audit_last_ts_ms(struct jg_store *store, int64_t *ts_ms);

/*
 * Inclusion proof of entry seq in the tree of size entries:
 * {"seq","tree_size","leaf_hash","root","proof":[hex...]}.
 */
int jg_audit_inclusion(struct jg_store *store, uint64_t seq, uint64_t size, json_t **out);

/* Consistency proof {"from","to","root_from","root_to","proof":[hex...]}. */
int jg_audit_consistency(struct jg_store *store, uint64_t m, uint64_t n, json_t **out);

/*
 * Writes an export of entries [from, to] (inclusive) ending with the
 * newest stored checkpoint (which covers `to`): a header line, the
 * exact stored entries one per line, a checkpoint line (docs/audit-format.md).
 * JG_ENOTFOUND when no checkpoint covers `to`; JG_EINVAL for a bad range.
 */
typedef int (*jg_audit_write_fn)(void *ctx, const void *buf, size_t len);
int jg_audit_export(struct jg_store *store, uint64_t from, uint64_t to, jg_audit_write_fn write,
		    void *ctx);

/*
 * An export for an auditor that records itself (audit_view.c): first the
 * entry audit.exported {from, to} by actor, then a checkpoint covering it,
 * then jg_audit_export() of entries [from, to] into a new buffer *out of
 * *len bytes (NUL-terminated; the caller frees).  to = UINT64_MAX exports up
 * to the checkpoint just made, the export's own entry included.  Returns 0,
 * JG_EINVAL (from > to, or past the log), JG_ETOOBIG (over max_bytes),
 * JG_EUNAVAIL (the entry or checkpoint cannot be written: nothing
 * exported), JG_ESTORE or JG_ENOMEM.
 */
int jg_audit_export_audited(struct jg_audit *a, const char *actor, uint64_t from, uint64_t to,
			    size_t max_bytes, char **out, size_t *len)
    __attribute__((warn_unused_result));

/* What an auditor is shown of the newest checkpoint (jg_audit_checkpoint_view()). */
struct jg_audit_checkpoint_view {
	char *note;		 /* the signed note as stored */
	struct jg_checkpoint cp; /* its origin, size and root (from the note) */
	int64_t created_at;	 /* when it was made, Unix milliseconds */
	bool signature_valid;	 /* signed by one of the log's checkpoint keys */
	bool have_log_size;	 /* log_size could be read */
	uint64_t log_size;	 /* the log's size now */
	int cosignatures;	 /* witnesses' cosignatures stored for it (appended to note) */
	int witnesses_min;	 /* audit.witnesses.min */
	bool published;		 /* cosignatures >= witnesses_min */
	bool have_published;	 /* some checkpoint is published: published_size */
	uint64_t published_size; /* the newest published checkpoint's size */
};

/*
 * The newest checkpoint, its signature checked against the checkpoint keys
 * loaded by jg_audit_open(), with the witnesses' cosignatures stored for it
 * appended to its note, and the newest published one's size.  Returns 0 (then the caller calls
 * jg_audit_checkpoint_view_clear()), JG_ENOTFOUND (none made yet),
 * JG_EVERIFY (the stored note is not a checkpoint), JG_ESTORE or JG_ENOMEM.
 */
int jg_audit_checkpoint_view(struct jg_audit *a, struct jg_audit_checkpoint_view *out);
/* Frees what a view holds (NULL or a cleared view: no-op). */
void jg_audit_checkpoint_view_clear(struct jg_audit_checkpoint_view *v);

/* One entry's inclusion proof as an auditor is shown it (jg_audit_proof_view()). */
struct jg_audit_proof_view {
	uint64_t seq;
	uint64_t tree_size; /* the newest checkpoint's size when it covers seq, else the log's */
	bool checkpointed;  /* tree_size is that checkpoint's */
	uint8_t leaf[32];   /* the entry's leaf hash, from its stored bytes */
	uint8_t root[32];   /* the root of tree_size entries, from the stored nodes */
	uint8_t path[JG_MERKLE_MAX_PROOF_BYTES];
	size_t path_len;  /* bytes of path, 32 per hash, leaf side first */
	bool verifies;	  /* the path leads from leaf to root */
	bool signed_root; /* checkpointed, its signature is the log's, and it signed root */
	json_t *entry;	  /* the entry as stored, parsed (NULL if it does not parse) */
};

/*
 * Entry seq's inclusion proof, read in one transaction and checked here:
 * against the newest checkpoint when it covers seq, else against the
 * current tree.  Returns 0 (then the caller calls
 * jg_audit_proof_view_clear()), JG_ENOTFOUND (no entry seq), JG_ESTORE or
 * another code when the proof cannot be made.
 */
int jg_audit_proof_view(struct jg_audit *a, uint64_t seq, struct jg_audit_proof_view *out);
/* Frees what a view holds (NULL or a cleared view: no-op). */
void jg_audit_proof_view_clear(struct jg_audit_proof_view *v);

/*
 * The log as C2SP tlog-tiles resources (audit_tiles.c; docs/audit-format.md,
 * "The log as tiles").  Tiles start from one checkpoint: the newest
 * published one (audit.witnesses.min; without witnesses, the newest).
 *
 * jg_audit_tiles_checkpoint: that checkpoint's note with its stored
 * cosignature lines (*note, the caller frees) and its size.  0, JG_ENOTFOUND
 * (none yet), JG_ESTORE or JG_ENOMEM.
 */
int jg_audit_tiles_checkpoint(struct jg_audit *a, char **note, uint64_t *size);
/*
 * The bytes of tile t (*out, *len; the caller frees): 32-byte hashes, or an
 * entry bundle (each entry after its big-endian 16-bit length).  0,
 * JG_ENOTFOUND when that checkpoint does not cover t (not yet, or never),
 * JG_EVERIFY when the store lacks a row the tree needs, JG_ESTORE, JG_ENOMEM.
 */
int jg_audit_tile_read(struct jg_audit *a, const struct jg_tile *t, uint8_t **out, size_t *len);

/*
 * The check against the world's copy (audit_offhost.c): a log restored from
 * a backup, or moved, must contain the newest checkpoint an off-host sink
 * holds - else it silently drops entries the world has seen, and its next
 * checkpoints fork from the published ones.
 *
 * jg_audit_offhost_newest: the path of the newest checkpoint-<20 digits>.note
 * in dir (the names sort by size), written into path.  Returns 0,
 * JG_ENOTFOUND (none there) or JG_EIO (dir unreadable, or path too short).
 */
int jg_audit_offhost_newest(const char *dir, char *path, size_t pathlen);
/*
 * Reads the note at path (at most JG_NOTE_MAX_BYTES) and opens it with one of
 * verifiers: *cp is a checkpoint of origin signed by one of those keys.
 * Returns 0, JG_EIO (unreadable) or JG_EVERIFY (not such a checkpoint), with
 * the reason in err.
 */
int jg_audit_offhost_read(const char *path, const struct jg_audit_verifiers *verifiers,
			  const char *origin, struct jg_checkpoint *cp, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/*
 * Whether the log of store, whose whole chain was verified (chain, from
 * jg_audit_verify_store_chain), contains cp: its first cp->size entries have
 * cp's root, shown by an RFC 9162 consistency proof from the stored tree to
 * the chain's full size.  Returns 0; JG_ECONFLICT when the log holds fewer
 * entries than cp covers (older than what was published); JG_EVERIFY when
 * its history differs (a fork or a rewrite, even one that verifies on its
 * own); or the store's error.
 */
int jg_audit_contains_checkpoint(struct jg_store *store, const struct jg_chain *chain,
				 const struct jg_checkpoint *cp)
    __attribute__((warn_unused_result));

/* Loads the public checkpoint keys of key_dir as note verifiers named origin. */
int jg_audit_verifiers_load(const char *key_dir, const char *origin, struct jg_audit_verifiers *out,
			    char *err, size_t errlen);

/*
 * Verifies everything the store holds: every entry (form, order, links),
 * every stored tree node, every stored checkpoint (signature by one of
 * verifiers, root and size), and the chain head.  On failure returns
 * JG_EVERIFY with *fault naming the first bad entry (or the checkpoint).
 * *size (may be NULL) receives the number of verified entries.
 */
int jg_audit_verify_store(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
			  int threads, uint64_t *size, struct jg_chain_fault *fault)
    __attribute__((warn_unused_result));

/* As jg_audit_verify_store(); on success *chain_out (may be NULL) is the verified chain. */
int jg_audit_verify_store_chain(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
				int threads, uint64_t *size, struct jg_chain *chain_out,
				struct jg_chain_fault *fault) __attribute__((warn_unused_result));

/*
 * Extends a verified chain by the entries appended since (form, order,
 * links, stored nodes): O(new entries), on a connection the caller holds
 * (inside its transaction, if any).  *added counts them.  JG_EVERIFY with
 * *fault when one does not verify (the chain stays at the last good one).
 */
int jg_audit_chain_extend_conn(struct jg_store_conn *conn, struct jg_chain *chain, uint64_t *added,
			       struct jg_chain_fault *fault) __attribute__((warn_unused_result));

/*
 * Checks an anchor: entry seq is re-read and re-hashed, its inclusion proof
 * from stored nodes must lead to the root of the verified chain (else
 * JG_EVERIFY: the stored log was altered), and its leaf hash must be `hash`
 * (else JG_EDENIED: the anchor is wrong, the log is fine).  With proven
 * (the leaf hash of seq proven into an earlier verified root; NULL for none)
 * the proof is skipped: a verified tree only grows, so the re-hashed entry
 * must still equal proven (else JG_EVERIFY).  With entry (may be NULL), on
 * success *entry is the parsed entry whose bytes were hashed (the caller
 * decrefs).  held is a connection the caller holds, or NULL: one is then
 * acquired from store and released.
 */
int jg_audit_anchor_check(struct jg_store *store, struct jg_store_conn *held,
			  const struct jg_chain *verified, uint64_t seq, const uint8_t hash[32],
			  const uint8_t *proven, json_t **entry)
    __attribute__((warn_unused_result));

/*
 * Verifies an export (buf, len) offline against trusted verifier keys, and
 * optionally its consistency with an older checkpoint note (old, old_len;
 * NULL to skip).  *summary receives e.g. the range and tree size checked.
 * Returns 0, or JG_EVERIFY with *fault (seq = the first bad entry, or
 * UINT64_MAX for a fault not tied to an entry).
 */
int jg_audit_verify_export(const char *buf, size_t len, const struct jg_audit_verifiers *verifiers,
			   const char *old, size_t old_len, int threads, char *summary,
			   size_t summary_len, struct jg_chain_fault *fault)
    __attribute__((warn_unused_result));

/*
 * Verifies an archive directory (audit.archive_dir) offline with trusted
 * keys only (audit_archive_verify.c; docs/audit-format.md, "The archive"):
 * its newest checkpoint signed by one of verifiers, every entry it covers
 * (read from the bundles) as an export's are, every tile hash against the
 * entries, every archived checkpoint's root.  Returns 0 with summary, or
 * JG_EVERIFY with *fault (seq UINT64_MAX when no entry is to blame).
 */
int jg_audit_verify_archive(const char *dir, const struct jg_audit_verifiers *verifiers,
			    int threads, char *summary, size_t summary_len,
			    struct jg_chain_fault *fault) __attribute__((warn_unused_result));

/*
 * How many of the n witness keys (cosigner keys, type 0x04; a key given
 * twice, or one public key under two names, counts once) validly cosigned the checkpoint an export
 * ends with (docs/witness.md): *count.  Run after jg_audit_verify_export() accepted the export.
 * Returns 0, JG_EVERIFY (no checkpoint line to read) or JG_EINVAL (a key that is not a cosigner
 * key).
 */
int jg_audit_export_cosigned(const char *buf, size_t len, const struct jg_note_verifier *witnesses,
			     size_t n, size_t *count) __attribute__((warn_unused_result));

/*
 * Access receipts (audit_receipt.c; docs/audit-format.md, "Access receipts").
 * The writer keeps per-grant counters (table audit_grant_usage) in the
 * transaction of every entry that names a grant - data.grant, else
 * data.request - so that the grant.receipt written when a grant ends reads
 * one row, never the log.  The same classification recomputes a receipt
 * from an export or an archive (jitgate audit receipt).
 */
#define JG_AUDIT_GRANT_ID_MAX 64 /* bytes of a counted grant id, its NUL included */

/* What the log says a grant was used for (counts of entries naming it). */
struct jg_audit_usage {
	int64_t first_seq, last_seq; /* the first and newest entry naming the grant */
	int64_t entries;	     /* entries naming it (grant.receipt not counted) */
	int64_t tokens_issued;	     /* token.issued */
	int64_t actions;	     /* guarded actions recorded (every type below but refusals) */
	int64_t log_queries;	     /* logs.read */
	int64_t trace_reads;	     /* traces.read, traces.search */
	int64_t metric_reads;	     /* metrics.read */
	int64_t probes_deployed;     /* probe.deploy */
	int64_t probe_calls;	     /* probe.list, probe.delete, probe.events.read */
	int64_t probe_events;	     /* the sum of probe.events.ingested's count */
	int64_t probe_bytes;	     /* the sum of probe.events.ingested's bytes */
	int64_t probe_budget_exhausted; /* probe.budget_exhausted */
	int64_t pii_reads;		/* guarded actions recorded with "pii": true */
	int64_t refusals;		/* guard.refused */
};

/*
 * Whether an entry (type, data) names a grant: 1 with grant (its id) and
 * *d the entry's increments (entries 1, the counter of its type), 0 when it
 * names none (or is a grant.receipt, a request.action_refused or a
 * request.action_refusals_suppressed: a refusal names the request another
 * caller aimed at, not a use of it).  Pure; shared by the writer and the
 * recomputation so that both count alike.
 */
int jg_audit_usage_classify(const char *type, const json_t *data, char grant[JG_AUDIT_GRANT_ID_MAX],
			    struct jg_audit_usage *d);

/* What the request lifecycle knows of a grant that has just ended (all borrowed). */
struct jg_audit_grant_end {
	const char *grant, *service, *requester;
	const char *end;      /* the end entry's type (grant.expired, ...) */
	json_t *capabilities; /* as requested */
	json_t *approvers;    /* the approvers' subs, any order (NULL: none) */
	int break_glass;
	int64_t started_at, expires_at; /* Unix seconds */
};

/*
 * Appends the grant.receipt of g inside the transaction whose last append
 * was g's end entry (grant.expired, grant.revoked, request.cancelled,
 * grant.not_activated), from the grant's counters and that entry.  With
 * receipt (may be NULL), *receipt is the receipt's data (caller decrefs).
 * Returns 0, JG_ENOTFOUND (the last entry does not name g->grant),
 * JG_ESTORE, JG_ENOMEM or the append's errors.
 */
int jg_audit_tx_grant_receipt(struct jg_audit_tx *tx, const struct jg_audit_grant_end *g,
			      json_t **receipt) __attribute__((warn_unused_result));

/*
 * A grant's usage so far and its receipt: *usage (when the log names it;
 * else JG_ENOTFOUND) and *receipt the grant.receipt's data once written
 * (NULL before; caller decrefs).  Returns 0, JG_ENOTFOUND or JG_ESTORE.
 */
int jg_audit_grant_usage(struct jg_store_conn *conn, const char *grant,
			 struct jg_audit_usage *usage, json_t **receipt);

/*
 * Recomputes grant's receipt from the entries of an export (buf, len) or
 * of an archive directory (dir), verified first against verifiers exactly
 * as jg_audit_verify_export() / jg_audit_verify_archive() do, and compares
 * it with the grant.receipt those entries hold.  *out = {"grant",
 * "recorded": data or null, "recomputed": data or null, "differences":
 * [field names, sorted]} (caller decrefs; set whenever the file verified).
 * Returns 0 (they match), JG_ECONFLICT (they differ), JG_ENOTFOUND (no
 * grant.receipt of grant in it), JG_EINVAL (the entries start after the
 * grant's first entry: *out says which), JG_EVERIFY (the file does not
 * verify: *fault says why), JG_ENOMEM.
 */
int jg_audit_receipt_export(const char *buf, size_t len, const char *grant,
			    const struct jg_audit_verifiers *verifiers, int threads, json_t **out,
			    struct jg_chain_fault *fault) __attribute__((warn_unused_result));
int jg_audit_receipt_archive(const char *dir, const char *grant,
			     const struct jg_audit_verifiers *verifiers, int threads, json_t **out,
			     struct jg_chain_fault *fault) __attribute__((warn_unused_result));

/*
 * jg_audit_verify_export() and jg_audit_verify_archive() that also show
 * each entry to each(ctx, ...) once it is part of the verified chain (its
 * form, seq and link checked; the checkpoint's root is checked after the
 * last, so a caller trusts what it saw only when the call returns 0).
 */
int jg_audit_verify_export_each(const char *buf, size_t len,
				const struct jg_audit_verifiers *verifiers, const char *old,
				size_t old_len, int threads, char *summary, size_t summary_len,
				struct jg_chain_fault *fault, jg_audit_entry_fn each, void *ctx)
    __attribute__((warn_unused_result));
int jg_audit_verify_archive_each(const char *dir, const struct jg_audit_verifiers *verifiers,
				 int threads, char *summary, size_t summary_len,
				 struct jg_chain_fault *fault, jg_audit_entry_fn each, void *ctx)
    __attribute__((warn_unused_result));

/* Which entries jg_audit_list() returns (audit_list.c). */
struct jg_audit_filter {
	const char *type;    /* exact entry type; NULL: any */
	const char *actor;   /* exact actor ("user:alice"); NULL: any */
	const char *service; /* data.service; NULL: any */
	int64_t since_ms;    /* ts >= since_ms; 0: no bound */
	int64_t until_ms;    /* ts <= until_ms; 0: no bound */
	uint64_t before;     /* seq < before (paging, newest first); UINT64_MAX: from the newest */
	int limit;	     /* 1..JG_AUDIT_LIST_MAX */
};
#define JG_AUDIT_LIST_MAX 200

/*
 * The entries matching f, newest first: *out = {"entries":[{"seq", "entry":
 * the parsed entry}], "next_before": the seq to pass as `before` for the next
 * page, or null}.  The caller decrefs.  Returns 0, JG_EINVAL or JG_ESTORE.
 */
int jg_audit_list(struct jg_store *store, const struct jg_audit_filter *f, json_t **out);

/*
 * The audit log's tables (entries, nodes, the chain head, checkpoints and
 * their pushes, the stream's positions, the writer's probe row), declared for `jitgate store copy`
 * (store.h, struct jg_store_table): *n receives how many; the array is static.
 */
const struct jg_store_table *jg_audit_tables(size_t *n);

#endif
