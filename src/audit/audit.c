/*
 * audit.c - the audit log's life cycle: open, start, stop, free.
 *
 * The log's work is spread over src/audit/ (audit_int.h lists the files):
 * the writer (group commit), the checkpointer with its background thread,
 * the verified chain, and the readers.  This file opens a log on a store
 * with its checkpoint keys and starts and stops its two threads (thread.h):
 * the writer, which sleeps until a job nobody waits on is queued, and the
 * background thread, every second on CLOCK_MONOTONIC.  Its checkpoints and
 * pushes run on one replica at a time: the holder of the leader
 * "audit-checkpoints" (store.h), made here at start and given up at stop.
 * The rolling verifier (audit_sweep.c) has a thread of its own and its own
 * leader, "audit-verifier".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit_int.h"
#include "jitgate/error.h"

/* ---- life cycle -------------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The mutexes and the condition; on failure none is left initialised.  0 or JG_ENOMEM. */
static int
sync_init(struct jg_audit *a)
{
	pthread_mutex_t *m[] = {&a->lock, &a->verify_lock, &a->anchor_lock};
	size_t n = 0;

	while (n < 3 && pthread_mutex_init(m[n], NULL) == 0)
		n++;
	if (n == 3 && pthread_cond_init(&a->done, NULL) == 0)
		return 0;
	while (n > 0)
		pthread_mutex_destroy(m[--n]);
	return JG_ENOMEM;
}

int
jg_audit_open(struct jg_store *store, const char *key_dir, const struct jg_audit_config *cfg,
	      struct jg_audit **out, char *err, size_t errlen)
{
	struct jg_audit *a = calloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (a == NULL)
		return JG_ENOMEM;
	if (sync_init(a) != 0) { /* before anything jg_audit_free undoes: it destroys them */
		free(a);
		return JG_ENOMEM;
	}
	a->store = store;
	a->pg = jg_store_engine(store) == JG_STORE_POSTGRES;
	a->origin = strdup(cfg->origin);
	a->sink_dir = dup_or_null(cfg->sink_dir);
	a->sink_url = dup_or_null(cfg->sink_url);
	a->sink_ca_file = dup_or_null(cfg->sink_ca_file);
	a->archive_dir = dup_or_null(cfg->archive_dir);
	a->checkpoint_entries = cfg->checkpoint_entries ? cfg->checkpoint_entries : 1000;
	a->checkpoint_seconds = cfg->checkpoint_seconds > 0 ? cfg->checkpoint_seconds : 60;
	a->verify_threads = cfg->verify_threads > 0 ? cfg->verify_threads : 2;
	a->verify_budget =
	    cfg->verify_budget >= 1 && cfg->verify_budget <= 100 ? cfg->verify_budget : 10;
	/* a sink that could not be copied would be skipped silently: no log without its sinks */
	if (a->origin == NULL || (cfg->sink_dir && a->sink_dir == NULL) ||
	    (cfg->sink_url && a->sink_url == NULL) ||
	    (cfg->sink_ca_file && a->sink_ca_file == NULL) ||
	    (cfg->archive_dir && a->archive_dir == NULL)) {
		jg_audit_free(a);
		return JG_ENOMEM;
	}
	/* an archive directory that is not there would only show as failed pushes: say so now */
	struct stat st;
	if (a->archive_dir && (stat(a->archive_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "audit.archive_dir %s is not a directory", a->archive_dir);
		jg_audit_free(a);
		return JG_ECONFIG;
	}
	/* witnesses after the checkpoint keys: a witness key may not pose as one */
	if ((rc = jg_keys_load(key_dir, JG_KEY_CHECKPOINT, &a->keys, err, errlen)) != 0 ||
	    (rc = jg_audit_verifiers_load(key_dir, a->origin, &a->verifiers, err, errlen)) != 0 ||
	    (rc = jg_audit_witnesses_init(a, cfg, err, errlen)) != 0) {
		jg_audit_free(a);
		return rc;
	}
	/* optional: without an audit-state key no state is kept (every start verifies everything)
	 */
	rc = jg_keys_load(key_dir, JG_KEY_AUDIT_STATE, &a->state_keys, err, errlen);
	if (rc != 0 && rc != JG_ENOTFOUND) {
		jg_audit_free(a);
		return rc;
	}
	uint64_t size = 0, cp = 0;
	char *note = NULL;
	if ((rc = jg_audit_size(store, &size)) != 0) {
		snprintf(err, errlen, "cannot read the audit chain head");
		jg_audit_free(a);
		return rc;
	}
	if (jg_audit_latest_checkpoint(store, &note, &cp, NULL) == 0)
		free(note);
	a->size = size;
	a->checkpointed_size = cp;
	a->first_uncovered_ms = jg_audit_now_ms();
	*out = a;
	return 0;
}

int
jg_audit_start(struct jg_audit *a)
{
	struct jg_thread *t = NULL;

	if (jg_store_acquire(a->store, &a->conn) != 0)
		return JG_ESTORE;
	a->started = 1;
	/* before the background thread, whose rounds poll it */
	if (a->cp_leader == NULL &&
	    jg_store_leader_new(a->store, "audit-checkpoints", &a->cp_leader) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	if (a->sweep_leader == NULL &&
	    jg_store_leader_new(a->store, "audit-verifier", &a->sweep_leader) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	/* each published under the lock: the writer and the callers wake them there */
	if (jg_thread_start(&t, "jg-audit-writer", JG_THREAD_UNTIL_WOKEN, jg_audit_writer_tick,
			    a) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	pthread_mutex_lock(&a->lock);
	a->writer = t;
	pthread_mutex_unlock(&a->lock);
	if (jg_thread_start(&t, "jg-audit-bg", 1000, jg_audit_pusher_tick, a) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	pthread_mutex_lock(&a->lock);
	a->pusher = t;
	pthread_mutex_unlock(&a->lock);
	/* the rolling verifier on a thread of its own: its slices must not delay checkpoints */
	if (jg_thread_start(&t, "jg-audit-verify", 1000, jg_audit_sweep_tick, a) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	pthread_mutex_lock(&a->lock);
	a->sweeper = t;
	pthread_mutex_unlock(&a->lock);
	/* witnesses on a thread of their own: a slow one must not hold up checkpoints and sinks */
	if (a->n_witnesses > 0 &&
	    jg_thread_start(&t, "jg-audit-witness", 1000, jg_audit_witness_tick, a) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	pthread_mutex_lock(&a->lock);
	if (a->n_witnesses > 0)
		a->witness_thread = t;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

void
jg_audit_stop(struct jg_audit *a)
{
	struct jg_thread *t;

	if (a == NULL || !a->started)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = 1; /* no new jobs; queued ones still get written */
	t = a->pusher;
	a->pusher = NULL;
	pthread_mutex_unlock(&a->lock);
	jg_thread_stop(t); /* without the lock: its round takes it */
	pthread_mutex_lock(&a->lock);
	t = a->sweeper;
	a->sweeper = NULL;
	pthread_mutex_unlock(&a->lock);
	jg_thread_stop(t);
	jg_audit_sweep_stopped(a); /* its cursor stored: the next start resumes the sweep */
	pthread_mutex_lock(&a->lock);
	t = a->witness_thread;
	a->witness_thread = NULL;
	pthread_mutex_unlock(&a->lock);
	jg_thread_stop(t);
	pthread_mutex_lock(&a->lock);
	while (a->writing || a->queue != NULL)
		pthread_cond_wait(&a->done, &a->lock);
	t = a->writer;
	a->writer = NULL;
	pthread_mutex_unlock(&a->lock);
	jg_thread_stop(t);
	jg_audit_fault_flush(a); /* a fault found since its last round: stored before closing */
	/* the background thread has stopped: the name goes to another replica */
	jg_store_leader_free(a->cp_leader);
	a->cp_leader = NULL;
	a->cp_leading = 0;
	jg_store_leader_free(a->sweep_leader);
	a->sweep_leader = NULL;
	jg_store_release(a->store, a->conn);
	a->conn = NULL;
	a->started = 0;
}

void
jg_audit_free(struct jg_audit *a)
{
	if (a == NULL)
		return;
	jg_audit_stop(a);
	jg_keyring_free(a->keys);
	jg_keyring_free(a->state_keys);
	free(a->origin);
	free(a->sink_dir);
	free(a->archive_dir);
	free(a->sink_url);
	free(a->sink_ca_file);
	jg_audit_witnesses_free(a);
	json_decref(a->dropped); /* a loss not yet recorded (the log is closing) */
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->verify_lock);
	pthread_mutex_destroy(&a->anchor_lock);
	pthread_cond_destroy(&a->done);
	free(a);
}

/*
 * The audit log's tables as `jitgate store copy` moves them (store.h).
 * audit_head and store_probe are seeded by their migrations: the copy
 * replaces the seeded row, which the head's trigger allows because it only
 * grows (an empty log's head has size 0).  Entries are blobs: copied byte
 * for byte, and verified after the copy.
 */
static const struct jg_store_table audit_tables[] = {
    JG_STORE_TABLE("audit_log", "seq, entry", "ib", "seq", "?, ?"),
    JG_STORE_TABLE("audit_nodes", "level, idx, hash", "iib", "level, idx", "?, ?, ?"),
    JG_STORE_TABLE_SEEDED("audit_head", "id, size, last_hash, frontier, ts", "iibbi", "id",
			  "?, ?, ?, ?, ?",
			  "size = excluded.size, last_hash = excluded.last_hash, "
			  "frontier = excluded.frontier, ts = excluded.ts"),
    JG_STORE_TABLE("audit_checkpoints", "size, note, created_at", "iti", "size", "?, ?, ?"),
    JG_STORE_TABLE("audit_checkpoint_pushes", "size, sink, pushed_at", "iti", "size, sink",
		   "?, ?, ?"),
    JG_STORE_TABLE("audit_cosignatures", "size, witness, key_id, line, cosigned_at, stored_at",
		   "ititii", "size, witness, key_id", "?, ?, ?, ?, ?, ?"),
    JG_STORE_TABLE("audit_stream", "destination, next_seq, updated_at", "tii", "destination",
		   "?, ?, ?"),
    JG_STORE_TABLE_SEEDED("store_probe", "id, n", "ii", "id", "?, ?", "n = excluded.n"),
    JG_STORE_TABLE(
	"audit_grant_usage",
	"grant_id, first_seq, last_seq, entries, tokens_issued, actions, log_queries, "
	"trace_reads, metric_reads, probes_deployed, probe_calls, probe_events, pii_reads, "
	"refusals, receipt_seq, probe_bytes, probe_budget_exhausted",
	"tiiiiiiiiiiiiiiii", "grant_id", "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_audit_tables(size_t *n)
{
	*n = sizeof(audit_tables) / sizeof(audit_tables[0]);
	return audit_tables;
}
