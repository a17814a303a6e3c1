/*
 * audit_int.h - the state of an open audit log, shared by the files of
 * src/audit/ that make it up (not a public interface: other modules use
 * include/jitgate/audit.h):
 *
 *   audit.c             life cycle: open, start, stop, free (the two
 *                       threads are thread.h's)
 *   audit_writer.c      the writer: group commit, appends, the store probe
 *   audit_checkpoint.c  checkpoints, their cadence and the off-host sinks
 *                       (the background thread)
 *   audit_verified.c    the verified chain: extend, check, anchors, broken
 *   audit_state.c       the verified state row (audit_state.h): its MAC,
 *                       writes, and the start-up check from it
 *   audit_read.c        reading the tables back (head, checkpoints, proofs,
 *                       exports, verification)
 */
#ifndef JITGATE_AUDIT_INT_H
#define JITGATE_AUDIT_INT_H

#include <pthread.h>
#include <stdint.h>

#include "jitgate/audit.h"
#include "jitgate/clock.h"
#include "jitgate/config.h"
#include "jitgate/thread.h"

#define MAX_BATCH 512

struct job {
	jg_audit_work_fn fn;
	void *ctx;
	int rc;
	int done;
	int no_savepoint;    /* a plain append: it cannot be refused once queued */
	int refused;	     /* refused in its own savepoint: rc stands even if the batch fails */
	pthread_cond_t wake; /* done, or it is this job's turn to lead */
	/* an asynchronous job (heap): told through done_fn after its batch, then freed */
	jg_audit_done_fn done_fn;
	void *done_ctx;
	struct job *next;
};

struct jg_audit_tx {
	struct jg_audit *a;
	struct jg_store_conn *conn;
	int pipelined;	 /* statements are queued in a pipeline (the PostgreSQL fast path) */
	int64_t ts;	 /* of the entries the running job appends: max(clock, last_ts) */
	int64_t last_ts; /* of the newest entry (the head's ts) */
	uint64_t size;
	uint8_t last[32];
	struct jg_merkle_frontier tree;
};

#define ANCHOR_CACHE 256

/*
 * Leaf hashes of the newest entries this replica saw committed (its own
 * batches' and those it read and verified): what a failover that lost
 * unconfirmed entries is checked against (audit_verified.c,
 * jg_audit_rewind_unconfirmed).  Bounded: 512 hashes fit one entry.
 */
#define RECENT_LEAVES 512

/* A witness the checkpoint leader pushes to (audit_witness.c); its fields are the pusher's. */
struct audit_witness {
	char *url; /* <prefix>/add-checkpoint */
	char *ca_file;
	struct jg_note_verifier key; /* the cosigner key (type 0x04) */
	int64_t held;		     /* the size it is believed to hold; -1: not known yet */
	int64_t cosigned;	     /* the newest size it cosigned here; -1: none yet */
	int64_t retry_at_ms;	     /* after a failure: not before then */
	int64_t backoff_ms;
	int last_outcome; /* what was last logged (a status, or -1 no answer): logs on change */
};

struct jg_audit {
	struct jg_store *store;
	int pg; /* the store is PostgreSQL: the writer locks the head row (audit_writer.c) */
	char *origin, *sink_dir, *sink_url, *sink_ca_file;
	char *archive_dir; /* audit.archive_dir (audit_archive.c) */
	uint64_t checkpoint_entries;
	int checkpoint_seconds;
	int verify_threads;
	struct jg_keyring *keys; /* checkpoint keys; the active one signs */
	/* audit-state keys (audit_state.h); NULL when key_dir has none: no state is written */
	struct jg_keyring *state_keys;

	pthread_mutex_t lock;
	pthread_cond_t done; /* callers: a batch finished, the writer's seat is free */
	struct job *queue, *queue_tail;
	int stopping, started;
	int writing;	   /* a caller is committing a batch (it holds conn) */
	int write_failing; /* the last batch could not be made durable (disk full, read-only) */
	/* the two threads (thread.h), under lock; NULL when not running */
	struct jg_thread *writer; /* leads batches of asynchronous jobs; woken when one waits */
	struct jg_thread *pusher; /* the background thread: cadence, probe, verification, sinks */
	struct jg_thread
	    *witness_thread;	    /* pushes to witnesses while cp_leading (audit_witness.c) */
	struct jg_store_conn *conn; /* the writing connection, used by one batch at a time */

	/* what has been verified: a chain (size, last hash, frontier) and whether it broke */
	pthread_mutex_t verify_lock;
	struct jg_chain verified;
	int have_verified;
	int broken;
	char broken_why[400];
	/* the fault that broke the log, until the background thread stored it (audit_state.c) */
	int fault_pending;
	uint64_t fault_seq; /* UINT64_MAX: no entry named */
	/*
	 * The chain as this writer left it after its last batch, and the
	 * store's data_version then: while no other connection has committed,
	 * those entries are exactly what was written and need no re-reading.
	 */
	int own_valid;
	uint64_t own_start; /* the head before that batch (verified through it) */
	int64_t own_data_version;
	struct jg_chain own;
	int64_t own_ts; /* the head's ts after that batch */
	/*
	 * PostgreSQL's fast path (audit_writer.c, fast_batch): own_fast says
	 * that every entry of that batch was inserted by its top-level
	 * transaction (none inside a savepoint), so their rows' xmin is the
	 * head row's; fast_skip counts batches left before the fast path is
	 * tried again after one found the head moved by another writer.
	 */
	int own_fast;
	int fast_skip;
	/*
	 * Under verify_lock: recent[seq % RECENT_LEAVES] is the leaf of entry
	 * seq for seq in [recent_lo, recent_hi), which ends where this replica
	 * last saw the chain committed (it may be ahead of verified: its own
	 * newest batch).  batch_leaves: the leaves of the running batch (the
	 * writer's only), by seq % RECENT_LEAVES.  dropped: the data of an
	 * audit.unconfirmed_dropped entry that the next batch writes first
	 * (the writer's only).
	 */
	uint8_t recent[RECENT_LEAVES][32];
	uint64_t recent_lo, recent_hi;
	/*
	 * Under verify_lock: how many times a failover rewound the verified
	 * chain (jg_audit_rewind_unconfirmed).  The rolling verifier's cursor
	 * was built over the entries it read before: when this moves, the
	 * cursor (and a fault judged against the chain before the rewind) is
	 * dropped and the sweep starts over (sweep_rewinds: the count its
	 * cursor was built under).
	 */
	uint64_t rewinds;
	uint8_t batch_leaves[RECENT_LEAVES][32];
	json_t *dropped;
	struct jg_audit_stats stats; /* atomics: read by jg_audit_stats() from any thread */
	/* SQLite: data_version at the writer's previous batch (whatever it wrote) */
	int seen_valid;
	int64_t seen_data_version;
	struct jg_audit_verifiers verifiers;

	/*
	 * The rolling verifier (audit_sweep.c): its thread, its leader
	 * ("audit-verifier") and its cursor are the thread's own; sweep_stats
	 * is under lock (jg_audit_stats reads it).
	 */
	struct jg_thread *sweeper;
	struct jg_store_leader *sweep_leader;
	int verify_budget;	/* percent of one core, 1-100 */
	int sweep_loaded;	/* the cursor was read from the state since this replica leads */
	uint64_t sweep_rewinds; /* rewinds when the cursor was built (above) */
	struct jg_chain sweep;
	size_t sweep_chunk;	 /* entries per slice, adapted to a slice of about 50 ms */
	int64_t sweep_saved_ms;	 /* when the cursor was last stored (monotonic) */
	int64_t sweep_begun_ns;	 /* when the sweep under way began (monotonic) */
	int64_t sweep_active_ns; /* its slices and their budget sleeps */
	int64_t sweep_cpu_ns;	 /* this thread's CPU time in its slices */
	uint64_t sweep_entries;	 /* entries it re-verified */
	struct jg_audit_sweep_stats sweep_stats;

	/* anchors already proven into a verified root: seq -> leaf (guard.c's hot path) */
	pthread_mutex_t anchor_lock;
	struct {
		int used;
		uint64_t seq;
		uint8_t leaf[32];
		uint8_t key[32]; /* the claim about the entry that passed (jg_audit_anchor_claim) */
	} anchors[ANCHOR_CACHE];

	/* cache of the head after the last commit; the database stays the authority */
	uint64_t size;
	uint64_t checkpointed_size;
	/*
	 * The newest checkpoint this process made whose COMMIT returned: on
	 * PostgreSQL confirmed by the synchronous standby.  checkpointed_size
	 * follows the database (follow_store), where a checkpoint whose wait for
	 * the standby was cut short is visible too.
	 */
	uint64_t cp_confirmed;
	int64_t first_uncovered_ms; /* when the oldest entry not in a checkpoint was made */

	/* "audit-checkpoints" (store.h), made by start and freed by stop: only its holder
	 * makes due checkpoints and pushes them; cp_leading is the background thread's last poll */
	struct jg_store_leader *cp_leader;
	int cp_leading;

	struct audit_witness witnesses[JG_AUDIT_MAX_WITNESSES];
	size_t n_witnesses;
	int witnesses_min;
};

/* jitgate's time (clock.h): entries' ts never go backward, whatever the wall clock does. */
static inline int64_t
jg_audit_now_ms(void)
{
	return jg_clock_now_ms();
}

/*
 * audit_witness.c: pushes the newest (confirmed) checkpoint to each witness
 * that has not cosigned it, storing what they answer; the checkpoint
 * leader's background thread calls it every round.
 */
void jg_audit_push_witnesses(struct jg_audit *a);
/* audit_witness.c: the witness thread's round: jg_audit_push_witnesses() while this replica leads.
 */
int64_t jg_audit_witness_tick(void *arg);
/* audit_witness.c: parses cfg's witnesses into a (at open); 0 or JG_ECONFIG with err. */
int jg_audit_witnesses_init(struct jg_audit *a, const struct jg_audit_config *cfg, char *err,
			    size_t errlen);
void jg_audit_witnesses_free(struct jg_audit *a);
/*
 * audit_witness.c: the stored cosignature lines of the checkpoint of size,
 * concatenated in *lines (NUL-terminated, *len bytes, the caller frees;
 * NULL when none) and how many in *count.  0, JG_ESTORE or JG_ENOMEM.
 */
int jg_audit_cosignature_lines_on(struct jg_store_conn *conn, uint64_t size, char **lines,
				  size_t *len, int *count);
/*
 * audit_witness.c: *note (a stored checkpoint note of size, malloc'd) with
 * its stored cosignature lines appended (a witness's line is a signature
 * line of another key: verifiers that do not know it ignore it); *count of
 * them.  0, JG_ESTORE or JG_ENOMEM (*note unchanged).
 */
int jg_audit_note_with_cosignatures_on(struct jg_store_conn *conn, uint64_t size, char **note,
				       int *count);
/*
 * audit_witness.c: the newest checkpoint cosigned by at least
 * audit.witnesses.min of the configured witnesses (published; with min 0
 * the newest checkpoint); JG_ENOTFOUND when none is.
 */
int jg_audit_published_size_on(const struct jg_audit *a, struct jg_store_conn *conn,
			       uint64_t *size);
/* audit_witness.c: how many configured witnesses' cosignatures of size are stored. */
int jg_audit_cosigned_count_on(const struct jg_audit *a, struct jg_store_conn *conn, uint64_t size,
			       int *count);

/*
 * audit_tiles.c: the bytes of tile t read on conn (the caller's read
 * transaction), whatever checkpoint covers it: the caller checks that the
 * tree holds it.  0, JG_EVERIFY (a row the tree needs is missing or
 * malformed), JG_ESTORE or JG_ENOMEM; *out is the caller's to free.
 */
int jg_audit_tile_read_on(struct jg_store_conn *conn, const struct jg_tile *t, uint8_t **out,
			  size_t *len);
/* audit_tiles.c: the stored note of the checkpoint of size (*note malloc'd); JG_ENOTFOUND: none. */
int jg_audit_checkpoint_note_on(struct jg_store_conn *conn, uint64_t size, char **note);
/*
 * audit_archive.c: writes what the checkpoint of size (note) adds to
 * audit.archive_dir: the tiles and bundles that filled since the archive's
 * newest checkpoint, the partial ones of size, the note.  0, JG_EVERIFY
 * (the archive holds something else than this log: logged, nothing
 * overwritten), JG_EIO or the store's error (retried at the next round).
 */
int jg_audit_archive_push(struct jg_audit *a, uint64_t size, const char *note);

/* audit_read.c: jg_audit_latest_checkpoint() on a connection the caller holds (its transaction). */
int jg_audit_latest_checkpoint_on(struct jg_store_conn *conn, char **note, uint64_t *size,
				  int64_t *created_at);

/*
 * audit_read.c: a node of the tree for merkle.h (ctx: a struct
 * jg_store_conn): level 0 re-hashes entry index, higher levels are read from
 * audit_nodes.  0, JG_ENOTFOUND, JG_EVERIFY or JG_ESTORE.
 */
int jg_audit_get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32]);
/*
 * audit_read.c: the leaf hash of entry seq as stored; with entry (may be
 * NULL), the same bytes parsed (NULL when they are not JSON).  JG_ENOTFOUND
 * when there is no such entry.
 */
int jg_audit_read_leaf(struct jg_store_conn *conn, uint64_t seq, uint8_t leaf[32], json_t **entry);

/*
 * audit_receipt.c: adds the increments d of an entry (seq) that names grant
 * to its row of audit_grant_usage, in tx (queued when tx is pipelined).
 * 0 or JG_ESTORE.
 */
int jg_audit_usage_count(struct jg_audit_tx *tx, const char *grant, const struct jg_audit_usage *d,
			 uint64_t seq);

/* An entry's bytes as a caller read them (borrowed). */
struct jg_audit_bytes {
	const void *p;
	size_t len;
};
/*
 * audit_read.c: jg_audit_anchor_check with the anchor entry's bytes as the
 * caller read them (read; NULL: re-read here).  The same judgement: the
 * bytes are hashed and checked exactly as a re-read entry would be.
 */
int jg_audit_anchor_check_read(struct jg_store *store, struct jg_store_conn *held,
			       const struct jg_chain *verified, uint64_t seq,
			       const uint8_t hash[32], const uint8_t *proven,
			       const struct jg_audit_bytes *read, json_t **entry)
    __attribute__((warn_unused_result));

/* audit_writer.c: the writer thread's round (leads batches of asynchronous jobs). */
int64_t jg_audit_writer_tick(void *arg);
/* audit_writer.c: a tiny durable write, to learn that the store takes writes again. */
int jg_audit_probe_fn(struct jg_audit_tx *tx, void *ctx);

/*
 * audit_checkpoint.c: the background thread's round, every second (cadence,
 * store probe, re-verification, sinks).
 */
int64_t jg_audit_pusher_tick(void *arg);

/* audit_verified.c: marks the log broken (sticky) and says why, once. */
void jg_audit_mark_broken(struct jg_audit *a, const struct jg_chain_fault *fault, int rc);
/*
 * audit_verified.c: remembers entry seq's leaf as committed (verify_lock
 * held); a leaf that differs from the one remembered for seq forgets
 * everything after it.
 */
void jg_audit_recent_put(struct jg_audit *a, uint64_t seq, const uint8_t leaf[32]);
/* audit_verified.c: jg_audit_recent_put as an extension's leaf callback (ctx: the log). */
void jg_audit_remember_leaf(void *ctx, uint64_t seq, const uint8_t leaf[32]);
/*
 * audit_verified.c: after a failover, the verified chain (or this replica's
 * own newest batch) is ahead of the database's head (head_size, head_last).
 * With verify_lock held, on the writer's connection inside its batch:
 * rewinds the verified chain to the head and leaves a->dropped for the
 * batch to record, when the database's chain is a prefix of what this
 * replica saw and no checkpoint covers a lost entry; JG_EVERIFY with *fault
 * otherwise (a fork), or the store's error.
 */
int jg_audit_rewind_unconfirmed(struct jg_audit *a, uint64_t head_size, const uint8_t head_last[32],
				struct jg_chain_fault *fault);
/*
 * audit_verified.c: a loss found by an earlier batch (a->dropped) whose
 * record is not known to be written - that batch failed, perhaps after its
 * COMMIT reached the server.  On the writer's connection inside its batch,
 * after verify_since: *write = 1 when the head is still where the loss
 * begins (this batch records it); when entry `from` is that very record it
 * was written and is forgotten; anything else took the lost position
 * first, and the loss can no longer be recorded where it happened:
 * JG_EVERIFY with *fault (fail closed, as a fork).  JG_EUNAVAIL when the
 * store cannot be read.
 */
int jg_audit_dropped_pending(struct jg_audit *a, uint64_t head_size, int *write,
			     struct jg_chain_fault *fault);
/*
 * audit_read.c: jg_audit_chain_extend_conn(), telling leaf_fn (may be NULL)
 * each added entry's seq and leaf hash.
 */
int jg_audit_chain_extend_leaves(struct jg_store_conn *conn, struct jg_chain *chain,
				 uint64_t *added, struct jg_chain_fault *fault,
				 void (*leaf_fn)(void *ctx, uint64_t seq, const uint8_t leaf[32]),
				 void *ctx);

/*
 * audit_verified.c: stores the fault that broke the log in the verified
 * state (audit_state.c), on a connection of its own, so the next start
 * refuses; retried at every call until it is stored.  Called by the
 * background thread, and by jg_audit_stop after it.
 */
void jg_audit_fault_flush(struct jg_audit *a);

/* audit_read.c: opens a checkpoint note with whichever of vs's keys signed it; 0 or JG_EVERIFY. */
int jg_audit_open_checkpoint(const char *note, size_t len, const struct jg_audit_verifiers *vs,
			     struct jg_checkpoint *cp);
/* audit_read.c: a jg_chain_node_fn comparing a completed node with the stored one (ctx: conn). */
int jg_audit_compare_node(void *ctx, const struct jg_merkle_node *node);

/* audit_sweep.c: the rolling verifier's thread round (jg_thread tick): one slice, then the
 * sleep that keeps it within audit.verify_budget. */
int64_t jg_audit_sweep_tick(void *arg);
/* audit_sweep.c: after its thread stopped, stores the cursor of a sweep under way. */
void jg_audit_sweep_stopped(struct jg_audit *a);

#endif
