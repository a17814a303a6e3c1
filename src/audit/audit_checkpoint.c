/*
 * audit_checkpoint.c - checkpoints, their cadence and the off-host sinks.
 *
 * Checkpoints are made by the writer (so they see a consistent head): every
 * cfg.checkpoint_entries entries, within cfg.checkpoint_seconds of the first
 * entry not yet covered, and on demand.  The background thread here makes
 * them when due, tries the store again while writes fail, extends and
 * re-verifies the verified chain, and pushes each stored checkpoint to the
 * off-host sinks until each has it.
 *
 * Several replicas on one database: only the one that leads
 * "audit-checkpoints" (store.h's leader; on SQLite always this process)
 * makes the due checkpoints and pushes, so a sink gets each checkpoint from
 * one replica - twice only when a leader dies between a push and its record,
 * or for the moment two processes both believe they lead (the next one
 * pushes what is not recorded).  Every replica still probes the store and
 * verifies the chain.  A checkpoint asked for on another replica
 * (jg_audit_checkpoint) is pushed by the leader at its next round.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "jitgate/audit_state.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"
#include "jitgate/log.h"

/* ---- statements ---------------------------------------------------------- */

static const char sql_cp_insert[] =
    "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?, ?, ?)";
static const char sql_cp_unpushed[] =
    "SELECT c.size, c.note FROM audit_checkpoints c WHERE NOT EXISTS "
    "(SELECT 1 FROM audit_checkpoint_pushes p WHERE p.size = c.size AND p.sink = ?) "
    "ORDER BY c.size LIMIT 64"; /* PUSH_BATCH */
static const char sql_oldest_unpushed[] =
    "SELECT min(c.created_at) FROM audit_checkpoints c WHERE NOT EXISTS "
    "(SELECT 1 FROM audit_checkpoint_pushes p WHERE p.size = c.size AND p.sink = ?)";
static const char sql_head_and_cp[] =
    "SELECT h.size, (SELECT max(c.size) FROM audit_checkpoints c) FROM audit_head h "
    "WHERE h.id = 1";
static const char sql_push_insert[] =
    "INSERT INTO audit_checkpoint_pushes (size, sink, pushed_at) VALUES (?, ?, ?) "
    "ON CONFLICT (size, sink) DO NOTHING";

/* ---- checkpoints ------------------------------------------------------------ */

struct cp_job {
	char *note;
	uint64_t size;
};

/*
 * The verified state follows each checkpoint, in its transaction: it
 * describes the checkpointed size (tx: the chain the writer verified and
 * extended).  Only a log that was verified and handed over (serve, or
 * anyone calling jg_audit_set_verified) vouches for it: the command line's
 * checkpoints and exports do not verify the log first, so they leave the
 * state alone.  A state row that does not verify is a store edited under a
 * running jitgate: the log is marked broken and the checkpoint refused.
 */
static int
state_follow(struct jg_audit_tx *tx)
{
	struct jg_audit *a = tx->a;
	struct jg_chain chain = {.next_seq = tx->size, .tree = tx->tree, .threads = 1};

	/* the writer's batch verified everything up to its head (verify_since) when this is set */
	pthread_mutex_lock(&a->verify_lock);
	int verified = a->have_verified && !a->broken;
	pthread_mutex_unlock(&a->verify_lock);
	if (a->state_keys == NULL || !verified)
		return 0;
	memcpy(chain.prev, tx->last, 32);
	int rc = jg_audit_state_put(tx->conn, a->state_keys, a->origin, &chain, UINT64_MAX, NULL);
	if (rc == JG_EVERIFY) {
		struct jg_chain_fault fault;
		jg_chain_fault_set(&fault, UINT64_MAX,
				   "the verified state (audit_state) no longer verifies under "
				   "the audit-state key: it was edited in the store");
		jg_audit_mark_broken(a, &fault, rc);
	}
	return rc;
}

static int
checkpoint_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct cp_job *j = ctx;
	struct jg_audit *a = tx->a;
	const struct jg_key *key = jg_keyring_active(a->keys);
	uint8_t root[32];
	char *body = NULL;
	size_t body_len, note_len;
	struct jg_stmt *st;
	int rc;

	/* Nothing new since the newest checkpoint: hand that one back. */
	uint64_t latest = 0;
	rc = jg_audit_latest_checkpoint_on(tx->conn, &j->note, &latest, NULL);
	if (rc == 0 && latest == tx->size) {
		j->size = tx->size;
		return state_follow(tx);
	}
	free(j->note);
	j->note = NULL;
	if (rc != 0 && rc != JG_ENOTFOUND)
		return rc;

	if ((rc = jg_merkle_frontier_root(&tx->tree, root)) != 0 ||
	    (rc = jg_signed_note_checkpoint_body(a->origin, tx->size, root, &body, &body_len)) != 0)
		return rc;
	rc = jg_signed_note_sign(body, body_len, a->origin, key->pkey, &j->note, &note_len);
	free(body);
	if (rc != 0)
		return rc;
	if (jg_stmt_prepare(tx->conn, sql_cp_insert, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)tx->size);
	jg_stmt_bind_text(st, 2, j->note);
	jg_stmt_bind_int64(st, 3, tx->ts);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	j->size = tx->size;
	return state_follow(tx);
}

int
jg_audit_checkpoint(struct jg_audit *a, char **note, uint64_t *size)
{
	struct cp_job j = {0};
	int rc = jg_audit_run(a, checkpoint_fn, &j);

	if (rc != 0) {
		free(j.note);
		return rc;
	}
	pthread_mutex_lock(&a->lock);
	if (j.size > a->checkpointed_size)
		a->checkpointed_size = j.size;
	if (j.size > a->cp_confirmed)
		a->cp_confirmed = j.size;
	jg_thread_wake(a->pusher); /* push it off-host now */
	pthread_mutex_unlock(&a->lock);
	if (size)
		*size = j.size;
	if (note)
		*note = j.note;
	else
		free(j.note);
	return 0;
}

/* ---- off-host sinks -------------------------------------------------------- */

/* Writes checkpoint-<size>.note; an existing different file is a fork: refuse loudly. */
static int
push_dir(struct jg_audit *a, uint64_t size, const char *note)
{
	char path[4096], *old = NULL, err[256];
	size_t old_len;

	snprintf(path, sizeof(path), "%s/checkpoint-%020llu.note", a->sink_dir,
		 (unsigned long long)size);
	if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &old, &old_len, err, sizeof(err)) == 0) {
		int same = old_len == strlen(note) && memcmp(old, note, old_len) == 0;
		free(old);
		if (!same) {
			json_t *f = json_pack("{s:s,s:I}", "sink", path, "size", (json_int_t)size);
			jg_log(JG_LOG_ERROR,
			       "audit: the off-host copy of this checkpoint differs from ours: "
			       "the log may have been rewritten",
			       f);
			json_decref(f);
			return JG_EVERIFY;
		}
		return 0;
	}
	return jg_file_write_atomic(path, note, strlen(note), 0644);
}

static int
push_url(struct jg_audit *a, const char *note)
{
	struct jg_httpc_opts opts = {.ca_file = a->sink_ca_file,
				     .timeout_ms = 10000,
				     .max_bytes = 65536,
				     .flags = JG_HTTPC_HTTPS_ONLY,
				     .content_type = "text/plain; charset=utf-8"};
	struct jg_httpc_reply reply;
	int rc = jg_httpc_request(a->sink_url, note, &opts, &reply);
	if (rc == 0 && (reply.status < 200 || reply.status >= 300))
		rc = JG_EIO;
	jg_httpc_reply_free(&reply);
	return rc;
}

#define PUSH_BATCH 64

struct pending {
	uint64_t size;
	char *note;
};

/*
 * The checkpoints sink does not have yet, oldest first (at most PUSH_BATCH):
 * *n of them, each note the caller's to free.  A read that fails yields none
 * (JG_ESTORE); a note that cannot be copied ends the list there, so what is
 * pushed is still a prefix in order and the rest waits for the next round.
 */
static int
unpushed(struct jg_audit *a, const char *sink, struct pending *p, int *n)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc = JG_STMT_DONE;

	*n = 0;
	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_cp_unpushed, &st) != 0) {
		jg_store_release(a->store, conn);
		return JG_ESTORE;
	}
	jg_stmt_bind_text(st, 1, sink);
	while (*n < PUSH_BATCH && (rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		p[*n].size = (uint64_t)jg_stmt_column_int64(st, 0);
		if ((p[*n].note = strdup(jg_stmt_column_text(st, 1))) == NULL)
			break;
		(*n)++;
	}
	jg_stmt_finish(st);
	jg_store_release(a->store, conn);
	if (rc != JG_STMT_ROW && rc != JG_STMT_DONE) {
		while (*n > 0)
			free(p[--*n].note);
		return JG_ESTORE;
	}
	return 0;
}

/* Records that sink has the checkpoint of size (it is pushed again if this fails). */
static void
record_push(struct jg_audit *a, const char *sink, uint64_t size)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;

	if (jg_store_acquire(a->store, &conn) != 0)
		return;
	if (jg_stmt_prepare(conn, sql_push_insert, &st) == 0) {
		jg_stmt_bind_int64(st, 1, (int64_t)size);
		jg_stmt_bind_text(st, 2, sink);
		jg_stmt_bind_int64(st, 3, jg_audit_now_ms());
		(void)jg_stmt_step(st);
		jg_stmt_finish(st);
	}
	jg_store_release(a->store, conn);
}

/*
 * Pushes what sink lacks, oldest first, stopping at the first failure.  No
 * store connection is held while a push runs: an HTTPS push may wait up to
 * its timeout, and a pool connection held meanwhile would be one fewer for
 * requests (the checkpoints are read first, each push recorded after).
 */
static void
push_pending(struct jg_audit *a, const char *sink)
{
	struct pending pending[PUSH_BATCH];
	int n = 0;

	if (unpushed(a, sink, pending, &n) != 0)
		return;
	/*
	 * PostgreSQL: a checkpoint row can be visible without the synchronous
	 * standby having it (a commit whose wait for the standby was cut short:
	 * docs/operations.md, "Failover"), and one published off-host that the
	 * promoted standby lacks would make the log a fork of it.  A commit of
	 * this process's own that returns, made after the rows were read, is
	 * confirmed and so is everything before it in the WAL: only then are
	 * they pushed.
	 */
	if (n > 0 && a->pg && jg_audit_run(a, jg_audit_probe_fn, NULL) != 0) {
		while (n > 0)
			free(pending[--n].note);
		return;
	}
	for (int i = 0; i < n; i++) {
		int rc = strcmp(sink, JG_AUDIT_SINK_DIR) == 0
			     ? push_dir(a, pending[i].size, pending[i].note)
			 : strcmp(sink, JG_AUDIT_SINK_ARCHIVE) == 0
			     ? jg_audit_archive_push(a, pending[i].size, pending[i].note)
			     : push_url(a, pending[i].note);
		if (rc == 0) {
			record_push(a, sink, pending[i].size);
		} else {
			json_t *f = json_pack("{s:s,s:I}", "sink", sink, "size",
					      (json_int_t)pending[i].size);
			jg_log(JG_LOG_WARN,
			       "audit: could not push a checkpoint off-host; will retry", f);
			json_decref(f);
		}
		free(pending[i].note);
		if (rc != 0) {
			for (int k = i + 1; k < n; k++)
				free(pending[k].note);
			break;
		}
	}
}

int
jg_audit_oldest_unpushed(struct jg_store *store, const char *sink, int64_t *created_at)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	if (jg_store_acquire(store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_oldest_unpushed, &st) != 0) {
		jg_store_release(store, conn);
		return JG_ESTORE;
	}
	jg_stmt_bind_text(st, 1, sink);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW && !jg_stmt_column_is_null(st, 0)) {
		*created_at = jg_stmt_column_int64(st, 0);
		rc = 0;
	} else {
		/* min() of no rows is one NULL row: every checkpoint reached the sink */
		rc = rc == JG_STMT_ROW ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	jg_store_release(store, conn);
	return rc;
}

/*
 * PostgreSQL: the cadence's cache (a->size, a->checkpointed_size) is kept by
 * this process's writer and checkpoints, but other replicas append and
 * checkpoint too - the leader must see their entries to cover them, and a
 * follower must not take checkpoints it never made for missing ones.  So
 * each round it follows the store: entries new since the last round are
 * uncovered since about now.  took_over: this replica has just become the
 * leader; what no checkpoint covers may have waited through the old
 * leader's death, so it is due at once.
 */
static void
follow_store(struct jg_audit *a, bool took_over)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	uint64_t head = 0, cp = 0;
	int ok = 0;

	if (jg_store_acquire(a->store, &conn) == 0) {
		if (jg_stmt_prepare(conn, sql_head_and_cp, &st) == 0) {
			if (jg_stmt_step(st) == JG_STMT_ROW) {
				head = (uint64_t)jg_stmt_column_int64(st, 0);
				if (!jg_stmt_column_is_null(st, 1))
					cp = (uint64_t)jg_stmt_column_int64(st, 1);
				ok = 1;
			}
			jg_stmt_finish(st);
		}
		jg_store_release(a->store, conn);
	}
	pthread_mutex_lock(&a->lock);
	if (ok && cp > a->checkpointed_size)
		a->checkpointed_size = cp;
	if (ok && head > a->size) {
		if (a->size <= a->checkpointed_size)
			a->first_uncovered_ms = jg_audit_now_ms();
		a->size = head;
	}
	if (took_over)
		a->first_uncovered_ms = 0;
	pthread_mutex_unlock(&a->lock);
}

int64_t
jg_audit_pusher_tick(void *arg)
{
	struct jg_audit *a = arg;
	bool lead = false;

	pthread_mutex_lock(&a->lock);
	int stopping = a->stopping;
	pthread_mutex_unlock(&a->lock);
	if (stopping) /* jg_audit_stop is stopping this thread: the writer takes no job */
		return JG_THREAD_UNTIL_WOKEN;
	(void)jg_store_leader_poll(a->cp_leader, &lead);
	if (a->pg)
		follow_store(a, lead && !a->cp_leading);
	__atomic_store_n(&a->cp_leading, lead, __ATOMIC_RELEASE); /* the witness thread reads it */

	pthread_mutex_lock(&a->lock);
	int due =
	    lead && a->size > a->checkpointed_size &&
	    (a->size - a->checkpointed_size >= a->checkpoint_entries ||
	     jg_audit_now_ms() - a->first_uncovered_ms >= (int64_t)a->checkpoint_seconds * 1000);
	pthread_mutex_unlock(&a->lock);

	if (jg_audit_writable(a) != 0 && jg_audit_run(a, jg_audit_probe_fn, NULL) == 0)
		jg_log(JG_LOG_INFO, "audit: the store can be written again", NULL);
	if (due && jg_audit_checkpoint(a, NULL, NULL) != 0)
		jg_log(JG_LOG_ERROR, "audit: could not make a checkpoint; will retry", NULL);
	/* new entries (a fault marks the log broken there); older ones are the rolling verifier's
	 */
	if (jg_audit_check(a, NULL) != 0 && jg_audit_healthy(a, NULL, 0) == 0)
		jg_log(JG_LOG_DEBUG, "audit: the verified chain could not be extended now", NULL);
	jg_audit_fault_flush(a); /* a fault found by anyone: stored for the next start */
	if (lead && a->sink_dir)
		push_pending(a, JG_AUDIT_SINK_DIR);
	if (lead && a->sink_url)
		push_pending(a, JG_AUDIT_SINK_URL);
	if (lead && a->archive_dir)
		push_pending(a, JG_AUDIT_SINK_ARCHIVE);
	return 1000;
}
