/*
 * audit_writer.c - the audit writer (group commit) and appends.
 *
 * Callers enqueue a job; one of them at a time is the writer (see
 * jg_audit_run) - a waiting caller, or the writer thread for jobs nobody
 * waits on (jg_audit_append_async) - which takes every job waiting (up to
 * MAX_BATCH), opens one
 * transaction, reads the chain head from the database, runs each job inside
 * its own SAVEPOINT - a job that fails is rolled back alone and the head
 * restored to before it - writes the new head and commits once.  With
 * synchronous=FULL that single COMMIT is the batch's fsync; jobs queued
 * meanwhile form the next batch.
 * If SQLite ends the transaction on an I/O error (disk full, read-only
 * file), the whole batch fails with JG_EUNAVAIL and nothing of it stays.
 *
 * The two engines differ in how a batch gets the chain to itself.  SQLite:
 * BEGIN IMMEDIATE takes the database's write lock, so one writer of any
 * process appends at a time.  PostgreSQL: BEGIN (READ COMMITTED), then the
 * head row is locked (SELECT ... FOR UPDATE) before anything else is read,
 * so batches of every replica (and the command line) are serialised on that
 * row, and each statement after the lock sees every batch committed before
 * it.  Either way an entry's ts is max(this process's clock, the head's
 * ts): times never go backward whoever appended last.  When the head is
 * ahead of the chain this process verified (another process or replica
 * appended), those entries are read and verified before anything is added
 * (verify_since).  A connection lost between batches is replaced before
 * the next one begins.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit_int.h"
#include "jitgate/canon.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/log.h"

/* ---- statements ---------------------------------------------------------- */

/* PostgreSQL: the batch's first statement takes the head row's lock (see the top). */
static const char sql_head_select[] =
    "SELECT size, last_hash, frontier, ts FROM audit_head WHERE id = 1";
static const char sql_head_lock_pg[] =
    "SELECT size, last_hash, frontier, ts FROM audit_head WHERE id = 1 FOR UPDATE";
static const char sql_head_update[] =
    "UPDATE audit_head SET size = ?, last_hash = ?, frontier = ?, ts = ? WHERE id = 1";
static const char sql_entry_insert[] = "INSERT INTO audit_log (seq, entry) VALUES (?, ?)";
static const char sql_node_insert[] = "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)";
static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_release[] = "RELEASE job";
static const char sql_rollback_to[] = "ROLLBACK TO job";

static int
head_load(struct jg_audit_tx *tx)
{
	struct jg_stmt *st;
	const void *blob;
	size_t len;
	int rc;

	if (jg_stmt_prepare(tx->conn, tx->a->pg ? sql_head_lock_pg : sql_head_select, &st) != 0)
		return JG_ESTORE;
	rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW) {
		jg_stmt_finish(st);
		return rc == JG_EUNAVAIL ? JG_EUNAVAIL : JG_ESTORE;
	}
	tx->size = (uint64_t)jg_stmt_column_int64(st, 0);
	tx->last_ts = jg_stmt_column_int64(st, 3);
	blob = jg_stmt_column_blob(st, 1, &len);
	if (len != 32) {
		jg_stmt_finish(st);
		return JG_EVERIFY;
	}
	memcpy(tx->last, blob, 32);
	blob = jg_stmt_column_blob(st, 2, &len);
	rc = jg_merkle_frontier_decode(blob, len, &tx->tree);
	jg_stmt_finish(st);
	if (rc != 0 || tx->tree.size != tx->size)
		return JG_EVERIFY;
	return 0;
}

static int run_or_queue(struct jg_audit_tx *tx, struct jg_stmt *st);

static int
head_store(struct jg_audit_tx *tx)
{
	uint8_t buf[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t len;
	struct jg_stmt *st;
	int rc;

	if (jg_merkle_frontier_encode(&tx->tree, buf, sizeof(buf), &len) != 0)
		return JG_EINVAL;
	if (jg_stmt_prepare(tx->conn, sql_head_update, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)tx->size);
	jg_stmt_bind_blob(st, 2, tx->last, 32);
	jg_stmt_bind_blob(st, 3, buf, len);
	jg_stmt_bind_int64(st, 4, tx->last_ts);
	rc = run_or_queue(tx, st);
	return rc == 0 ? 0 : JG_ESTORE;
}

/* ---- appends -------------------------------------------------------------- */

struct jg_store_conn *
jg_audit_tx_conn(struct jg_audit_tx *tx)
{
	return tx->conn;
}

/*
 * An entry's canonical encoding is its fields in sorted key order:
 *   {"actor":A,"data":D,"prev":"P","seq":N,"ts":T,"type":Y,"v":1}
 * where A, D and Y are the canonical encodings of the values.  Those three
 * can be made before the writer is involved (they do not depend on the
 * chain); the writer splices in prev, seq and ts.
 */
struct parts {
	char *actor, *data, *type;
	/* the grant the entry names, and what it adds to its counters (audit_receipt.c) */
	char grant[JG_AUDIT_GRANT_ID_MAX];
	struct jg_audit_usage usage;
};

static void
parts_free(struct parts *p)
{
	free(p->actor);
	free(p->data);
	free(p->type);
}

static int
valid_type(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 64 || t[0] < 'a' || t[0] > 'z')
		return 0;
	return strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int
parts_make(const char *type, const char *actor, json_t *data, struct parts *p)
{
	json_t *empty = NULL, *wrap = NULL, *s;
	char *enc = NULL;
	size_t len;
	int rc = JG_EINVAL;

	memset(p, 0, sizeof(*p));
	if (type == NULL || actor == NULL || *actor == '\0' || !valid_type(type))
		return JG_EINVAL;
	if (data == NULL)
		data = empty = json_object();
	/*
	 * Encoded one level down, as the entry holds it, so that canon's depth
	 * limit counts as it will when the entry is verified: {"data":D}.
	 */
	if (!json_is_object(data) || (wrap = json_pack("{s:O}", "data", data)) == NULL ||
	    jg_canon_encode(wrap, &enc, &len) != 0)
		goto out;
	if ((p->data = strndup(enc + 8, len - 9)) == NULL)
		goto out;
	if ((s = json_string(actor)) == NULL)
		goto out;
	p->actor = json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(s);
	if ((s = json_string(type)) == NULL)
		goto out;
	p->type = json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(s);
	if (p->actor != NULL && p->type != NULL)
		rc = 0;
	if (!jg_audit_usage_classify(type, data, p->grant, &p->usage))
		p->grant[0] = '\0';
out:
	json_decref(empty);
	json_decref(wrap);
	free(enc);
	if (rc != 0)
		parts_free(p);
	return rc;
}

/*
 * Whether the entry could exceed JG_AUDIT_MAX_ENTRY once the writer splices
 * in prev (64 characters), seq and ts (at most 20 each) and v.  Such an
 * append keeps its savepoint, so that refusing it (JG_ETOOBIG) spares the
 * rest of its batch.
 */
static int
parts_near_cap(const struct parts *p)
{
	static const char frame[] =
	    "{\"actor\":,\"data\":,\"prev\":\"\",\"seq\":,\"ts\":,\"type\":,\"v\":}";
	size_t most = sizeof(frame) - 1 + strlen(p->actor) + strlen(p->data) + strlen(p->type) +
		      64 + 20 + 20 + 11;
	return most > JG_AUDIT_MAX_ENTRY;
}

/* Runs st (no row expected), or queues it in the fast path's pipeline; finishes it. */
static int
run_or_queue(struct jg_audit_tx *tx, struct jg_stmt *st)
{
	int rc = tx->pipelined ? jg_stmt_queue(st) : jg_stmt_run(st);
	if (tx->pipelined)
		jg_stmt_finish(st);
	return rc;
}

static int
append_parts(struct jg_audit_tx *tx, const struct parts *p, struct jg_audit_receipt *out)
{
	char prev[65], *bytes;
	int len;
	uint8_t leaf[32];
	struct jg_merkle_node done[JG_MERKLE_MAX_LEVELS];
	size_t ndone = 0;
	struct jg_merkle_frontier tree = tx->tree;
	struct jg_stmt *st;
	int rc;

	jg_hex32(tx->last, prev);
	len = asprintf(&bytes,
		       "{\"actor\":%s,\"data\":%s,\"prev\":\"%s\",\"seq\":%llu,\"ts\":%lld,"
		       "\"type\":%s,\"v\":%d}",
		       p->actor, p->data, prev, (unsigned long long)tx->size, (long long)tx->ts,
		       p->type, JG_AUDIT_VERSION);
	if (len < 0)
		return JG_ENOMEM;
	if (len > JG_AUDIT_MAX_ENTRY) {
		free(bytes);
		return JG_ETOOBIG;
	}
	if ((rc = jg_merkle_leaf_hash(bytes, (size_t)len, leaf)) != 0 ||
	    (rc = jg_merkle_frontier_append(&tree, leaf, done, &ndone)) != 0) {
		free(bytes);
		return rc;
	}
	if (jg_stmt_prepare(tx->conn, sql_entry_insert, &st) != 0) {
		free(bytes);
		return JG_ESTORE;
	}
	jg_stmt_bind_int64(st, 1, (int64_t)tx->size);
	jg_stmt_bind_blob(st, 2, bytes, (size_t)len);
	rc = run_or_queue(tx, st);
	free(bytes);
	if (rc != 0)
		return JG_ESTORE;
	/* the grant's counters, in the entry's transaction (audit_receipt.c) */
	if (p->grant[0] != '\0' && jg_audit_usage_count(tx, p->grant, &p->usage, tx->size) != 0)
		return JG_ESTORE;
	for (size_t i = 0; i < ndone; i++) {
		if (done[i].level == 0)
			continue;
		if (jg_stmt_prepare(tx->conn, sql_node_insert, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_int64(st, 1, done[i].level);
		jg_stmt_bind_int64(st, 2, (int64_t)done[i].index);
		jg_stmt_bind_blob(st, 3, done[i].hash, 32);
		if (run_or_queue(tx, st) != 0)
			return JG_ESTORE;
	}
	if (out) {
		out->seq = tx->size;
		memcpy(out->hash, leaf, 32);
	}
	memcpy(tx->a->batch_leaves[tx->size % RECENT_LEAVES], leaf, 32);
	tx->tree = tree;
	tx->size++;
	tx->last_ts = tx->ts;
	memcpy(tx->last, leaf, 32);
	return 0;
}

int
jg_audit_tx_append(struct jg_audit_tx *tx, const char *type, const char *actor, json_t *data,
		   struct jg_audit_receipt *out)
{
	struct parts p;
	int rc = parts_make(type, actor, data, &p);
	if (rc != 0)
		return rc;
	rc = append_parts(tx, &p, out);
	parts_free(&p);
	return rc;
}

/* ---- the writer ------------------------------------------------------------ */

/*
 * Verify-then-append: before a batch adds anything, the entries appended
 * since the last verification are re-read inside the batch's transaction
 * and verified (form, links, stored nodes), so an entry becomes durable only
 * on a log that verified up to it - what the guard needs before it acts,
 * at one pass per entry on the writer's connection.  A log not verified at
 * start (the CLI's writers) skips this; a broken log fails the batch.
 *
 * On SQLite the entries of this writer's own previous batch are taken as
 * written without re-reading them when the store's data_version shows that
 * no other connection (no other process, no other thread's connection)
 * committed since that batch: nothing else can have changed them.
 * PostgreSQL has no such counter for one table (its data_version moves for
 * any transaction on the server), so there every batch re-reads and
 * verifies everything past the verified chain - its own previous batch and
 * whatever other replicas appended on top, up to the locked head - at one
 * range read per batch.  An edit of the newest entries made past the
 * serving role's privileges (by the owner or a superuser) is thus caught
 * by the next append, as on SQLite.
 */
static int
verify_since(struct jg_audit *a, uint64_t head_size, const uint8_t head_last[32],
	     int64_t data_version)
{
	struct jg_chain_fault fault;
	uint64_t added = 0;
	int rc = 0, found = 0;
	/* SQLite: whether another connection committed since this writer's previous batch */
	int others = a->pg || !a->seen_valid || a->seen_data_version != data_version;

	a->seen_valid = !a->pg;
	a->seen_data_version = data_version;
	pthread_mutex_lock(&a->verify_lock);
	if (a->broken)
		rc = JG_EVERIFY;
	else if (a->have_verified && a->verified.next_seq < head_size) {
		if (!a->pg && a->own_valid && a->own_data_version == data_version &&
		    a->own.next_seq == head_size && a->verified.next_seq == a->own_start) {
			int threads = a->verified.threads;
			a->verified = a->own;
			a->verified.threads = threads;
		}
		if (a->verified.next_seq < head_size)
			found = (rc = jg_audit_chain_extend_leaves(a->conn, &a->verified, &added,
								   &fault, jg_audit_remember_leaf,
								   a)) == JG_EVERIFY;
	}
	/*
	 * PostgreSQL after a failover: the promoted standby may lack entries
	 * this replica saw committed on the old primary that the standby never
	 * confirmed (never acknowledged: acknowledgements wait for the
	 * synchronous commit).  Rewound and recorded when the database's chain
	 * is a prefix of what was seen and no checkpoint covers a lost entry;
	 * anything else is a fork and fails closed below or here.
	 */
	if (rc == 0 && a->pg && a->have_verified && !a->broken &&
	    (a->verified.next_seq > head_size || a->recent_hi > head_size)) {
		rc = jg_audit_rewind_unconfirmed(a, head_size, head_last, &fault);
		found = rc == JG_EVERIFY;
	}
	if (rc == 0 && a->have_verified && a->verified.next_seq != head_size) {
		rc = jg_chain_fault_set(
		    &fault, head_size, "the log holds %llu entries but its head says %llu",
		    (unsigned long long)a->verified.next_seq, (unsigned long long)head_size);
		found = 1;
	}
	/*
	 * No later entry links to the newest one: only the head's last hash
	 * vouches for it.  Its bytes were just hashed when the extension read
	 * them; otherwise (verified earlier, by the background check or the
	 * guard) they are hashed again here, whenever anything else may have
	 * written since - one read by key - so an edit of the newest entry is
	 * caught by the next append, not only by the next full re-verification.
	 */
	uint8_t newest[32];
	if (rc == 0 && a->have_verified && head_size > 0 && added == 0 && others) {
		rc = jg_audit_read_leaf(a->conn, head_size - 1, newest, NULL);
		if (rc == JG_EVERIFY || rc == JG_ENOTFOUND) {
			rc = jg_chain_fault_set(&fault, head_size - 1,
						"entry %llu, the newest, is %s",
						(unsigned long long)(head_size - 1),
						rc == JG_ENOTFOUND ? "missing" : "unreadable");
			found = 1;
		} else if (rc != 0) {
			rc = JG_EUNAVAIL; /* the store, not the log: the batch fails */
		}
	} else {
		memcpy(newest, a->verified.prev, sizeof(newest));
	}
	if (rc == 0 && a->have_verified && head_size > 0 &&
	    (CRYPTO_memcmp(a->verified.prev, head_last, 32) != 0 ||
	     CRYPTO_memcmp(newest, head_last, 32) != 0)) {
		rc = jg_chain_fault_set(&fault, head_size - 1,
					"the chain head's last hash does not match entry %llu: "
					"the last entry was altered",
					(unsigned long long)(head_size - 1));
		found = 1;
	}
	pthread_mutex_unlock(&a->verify_lock);
	if (found)
		jg_audit_mark_broken(a, &fault, rc);
	return rc;
}

/*
 * BEGIN on the writer's connection.  A PostgreSQL connection lost since the
 * last batch (a restart, a failover) fails here before anything was done:
 * it is given back and another one acquired (the pool reconnects), once.
 */
static int
writer_begin(struct jg_audit *a)
{
	int rc = a->conn != NULL ? jg_store_begin(a->conn) : JG_EUNAVAIL;
	if (rc == JG_EUNAVAIL) {
		jg_store_release(a->store, a->conn);
		a->conn = NULL;
		if ((rc = jg_store_acquire(a->store, &a->conn)) != 0) {
			a->conn = NULL;
			return rc;
		}
		rc = jg_store_begin(a->conn);
	}
	return rc;
}

/*
 * What a committed batch leaves behind: the chain as this writer left it
 * (own: the fast path and SQLite's shortcut start from it), readiness, and
 * the cached size the checkpoint cadence reads.  start_size is the head
 * before the batch, keep_own whether the state of the batch before is still
 * exactly the head (nothing appended since by anyone).
 */
static void
batch_done(struct jg_audit *a, struct job *batch, const struct jg_audit_tx *tx, uint64_t start_size,
	   int64_t data_version, int keep_own, int top_level)
{
	if (tx->size != start_size) {
		a->own_valid = 1;
		a->own_start = start_size;
		a->own_data_version = data_version;
		a->own.next_seq = tx->size;
		memcpy(a->own.prev, tx->last, sizeof(a->own.prev));
		a->own.tree = tx->tree;
		a->own_ts = tx->last_ts;
		a->own_fast = top_level;
	} else {
		a->own_valid = keep_own;
	}
	/* the batch's entries were committed: remembered, at most the newest RECENT_LEAVES */
	pthread_mutex_lock(&a->verify_lock);
	uint64_t first =
	    tx->size - start_size > RECENT_LEAVES ? tx->size - RECENT_LEAVES : start_size;
	for (uint64_t seq = first; seq < tx->size; seq++)
		jg_audit_recent_put(a, seq, a->batch_leaves[seq % RECENT_LEAVES]);
	pthread_mutex_unlock(&a->verify_lock);
	__atomic_add_fetch(&a->stats.batches, 1, __ATOMIC_RELAXED);
	/* only a commit that wrote proves the store takes writes (an empty one touches no file) */
	int wrote = tx->size != start_size;
	for (struct job *j = batch; j && !wrote; j = j->next)
		wrote = j->fn == jg_audit_probe_fn;
	if (wrote)
		__atomic_store_n(&a->write_failing, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&a->lock);
	if (tx->size > a->size && a->size == a->checkpointed_size)
		a->first_uncovered_ms = jg_audit_now_ms();
	a->size = tx->size;
	if (a->size - a->checkpointed_size >= a->checkpoint_entries)
		jg_thread_wake(a->pusher);
	pthread_mutex_unlock(&a->lock);
}

/* The jobs of a plain append (jg_audit_append, jg_audit_append_async). */
struct append_job {
	struct parts parts;
	struct jg_audit_receipt *out;
};

static int append_fn(struct jg_audit_tx *tx, void *ctx);

/*
 * PostgreSQL's fast path: a batch of plain appends in one round trip.
 *
 * The careful batch (run_batch) takes a round trip per step - BEGIN, the
 * head's lock and row, the re-read of what lies past the verified chain -
 * and then, for plain appends, one pipeline with the inserts, the head and
 * COMMIT (jg_store_pipeline_continue).  When this
 * writer committed the previous batch and nobody can have written since,
 * the head is known without reading it - it is what that batch left (own)
 * - and so is every entry of the next batch.  The whole batch is then one
 * pipeline (store.h): BEGIN; lock the head row; the inserts; the head's
 * update; COMMIT.  Nothing is known to the server but what it checks
 * itself, in the head's update, with the row locked: that the head is
 * still exactly own (size, last hash, ts) and that every entry of own's
 * batch is still the row that batch inserted - its xmin is the id of the
 * transaction that last moved the head, which was that batch's, since
 * their rows and the head's were written by its top-level transaction
 * (own_fast).  An UPDATE of an entry, or a delete and re-insert, gives the
 * row another xmin: the edit of the newest entry underneath a running
 * server, which the careful batch catches by re-hashing it, is caught
 * here by the server.  When the check fails the update sets the head's
 * size to NULL, the NOT NULL column refuses it, the pipeline's COMMIT is
 * never run and nothing of the batch stays; the batch is then run the
 * careful way, which sees what happened (another writer's entries, an
 * edit, a failover) and acts on it.  Entries before own's batch were
 * verified when they were read (the verified chain must reach own's
 * start): as on SQLite's shortcut, older rows are the periodic
 * re-verification's and the anchors' to check.
 *
 * Returns 0 (committed: every job done), FAST_DECLINED (not applicable, or
 * the server refused: nothing of it happened, run it the careful way) or
 * JG_EUNAVAIL (the connection was lost after the pipeline was sent: the
 * outcome is unknown, so the batch fails rather than be written twice).
 */
#define FAST_DECLINED 1

static const char sql_head_lock_only_pg[] = "SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE";
static const char sql_head_update_if_pg[] =
    "UPDATE audit_head SET size = CASE WHEN size = ?5 AND last_hash = ?6 AND ts = ?7 AND "
    "(SELECT count(*) FROM audit_log l WHERE l.seq >= ?8 AND l.seq < ?5 "
    "AND l.xmin = audit_head.xmin) = ?5 - ?8 THEN ?1 END, "
    "last_hash = ?2, frontier = ?3, ts = ?4 WHERE id = 1";

/* Whether every job of batch is a plain append (no savepoint, nothing read). */
static bool
plain_appends(const struct job *batch)
{
	for (const struct job *j = batch; j; j = j->next)
		if (j->fn != append_fn || !j->no_savepoint)
			return false;
	return true;
}

static int
fast_batch(struct jg_audit *a, struct job *batch)
{
	struct jg_audit_tx tx = {.a = a, .conn = a->conn, .pipelined = 1};
	uint8_t buf[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t len;
	struct jg_stmt *st;
	int rc, ok;

	if (!a->pg || a->conn == NULL || !a->own_valid || !a->own_fast || a->fast_skip > 0) {
		if (a->fast_skip > 0)
			a->fast_skip--;
		return FAST_DECLINED;
	}
	if (!plain_appends(batch))
		return FAST_DECLINED;
	pthread_mutex_lock(&a->verify_lock);
	ok = !a->broken && a->have_verified && a->verified.next_seq >= a->own_start &&
	     a->verified.next_seq <= a->own.next_seq;
	pthread_mutex_unlock(&a->verify_lock);
	if (!ok)
		return FAST_DECLINED;
	tx.size = a->own.next_seq;
	tx.tree = a->own.tree;
	tx.last_ts = a->own_ts;
	memcpy(tx.last, a->own.prev, sizeof(tx.last));
	/* nothing is sent when this fails (a connection found closed: the careful batch reconnects)
	 */
	if (jg_store_pipeline_begin(a->conn) != 0)
		return FAST_DECLINED;
	rc = jg_stmt_prepare(a->conn, sql_head_lock_only_pg, &st);
	if (rc == 0) {
		rc = jg_stmt_queue(st);
		jg_stmt_finish(st);
	}
	for (struct job *j = batch; j && rc == 0; j = j->next) {
		struct append_job *aj = j->ctx;
		int64_t now = jg_audit_now_ms();
		tx.ts = now > tx.last_ts ? now : tx.last_ts; /* never before the newest entry */
		rc = append_parts(&tx, &aj->parts, aj->out);
	}
	if (rc == 0 && (rc = jg_merkle_frontier_encode(&tx.tree, buf, sizeof(buf), &len)) == 0 &&
	    (rc = jg_stmt_prepare(a->conn, sql_head_update_if_pg, &st)) == 0) {
		jg_stmt_bind_int64(st, 1, (int64_t)tx.size);
		jg_stmt_bind_blob(st, 2, tx.last, 32);
		jg_stmt_bind_blob(st, 3, buf, len);
		jg_stmt_bind_int64(st, 4, tx.last_ts);
		jg_stmt_bind_int64(st, 5, (int64_t)a->own.next_seq);
		jg_stmt_bind_blob(st, 6, a->own.prev, 32);
		jg_stmt_bind_int64(st, 7, a->own_ts);
		jg_stmt_bind_int64(st, 8, (int64_t)a->own_start);
		rc = jg_stmt_queue(st);
		jg_stmt_finish(st);
	}
	if (rc != 0) {
		jg_store_pipeline_abort(a->conn);
		return FAST_DECLINED;
	}
	rc = jg_store_pipeline_commit(a->conn);
	if (rc == JG_EUNAVAIL)
		return JG_EUNAVAIL;
	if (rc != 0) {
		a->fast_skip = 8; /* most likely another writer: careful batches for a while */
		__atomic_add_fetch(&a->stats.fast_declined, 1, __ATOMIC_RELAXED);
		return FAST_DECLINED;
	}
	__atomic_add_fetch(&a->stats.fast_batches, 1, __ATOMIC_RELAXED);
	/*
	 * The server found own's entries untouched and the head still there: the
	 * verified chain may take them, as the careful batch would have after
	 * re-reading them (it may have reached further meanwhile only along the
	 * same chain: own's end is the head it checked).
	 */
	pthread_mutex_lock(&a->verify_lock);
	if (!a->broken && a->verified.next_seq >= a->own_start &&
	    a->verified.next_seq <= a->own.next_seq) {
		int threads = a->verified.threads;
		a->verified = a->own;
		a->verified.threads = threads;
	}
	pthread_mutex_unlock(&a->verify_lock);
	for (struct job *j = batch; j; j = j->next)
		j->rc = 0;
	batch_done(a, batch, &tx, a->own.next_seq, 0, 0, 1);
	return 0;
}

/*
 * One batch: BEGIN, the head, verify-then-append, each job in its savepoint,
 * the new head, COMMIT.  Every failure takes the one path at `fail`: the
 * transaction is rolled back, every job not refused on its own gets
 * JG_EUNAVAIL (a refused one keeps its refusal: nothing of it stays either
 * way), and the store is marked failing until a batch that writes commits,
 * so /readyz tells the truth while no write can succeed.  On PostgreSQL a
 * batch of plain appends tries the fast path first (fast_batch).
 */
static void
run_batch(struct jg_audit *a, struct job *batch)
{
	struct jg_audit_tx tx = {.a = a};
	uint64_t start_size = 0;
	int64_t data_version = 0;
	int rc, keep_own, top_level = 1;

	if ((rc = fast_batch(a, batch)) == 0)
		return;
	if (rc == JG_EUNAVAIL) {
		a->own_valid = 0;
		goto fail;
	}
	if (writer_begin(a) != 0)
		goto fail;
	tx.conn = a->conn;
	if ((rc = head_load(&tx)) != 0) {
		if (rc == JG_EVERIFY)
			jg_log(JG_LOG_ERROR, "audit: the chain head in the store is corrupt", NULL);
		goto fail;
	}
	start_size = tx.size;
	/* the batch before is still the head: nobody appended since (own may stay valid) */
	keep_own = a->own_valid && start_size == a->own.next_seq && tx.last_ts == a->own_ts &&
		   CRYPTO_memcmp(tx.last, a->own.prev, 32) == 0;
	rc = a->pg ? 0 : jg_store_data_version(a->conn, &data_version);
	if (rc == 0)
		rc = verify_since(a, start_size, tx.last, data_version);
	a->own_valid = 0; /* until this batch commits */
	if (rc != 0)
		goto fail;
	/* entries lost in a failover (verify_since): recorded first, by this batch's commit */
	int record = 0;
	if (a->dropped != NULL) {
		struct jg_chain_fault fault;
		if ((rc = jg_audit_dropped_pending(a, start_size, &record, &fault)) != 0) {
			if (rc == JG_EVERIFY)
				jg_audit_mark_broken(a, &fault, rc);
			goto fail;
		}
	}
	if (record) {
		int64_t now = jg_audit_now_ms();
		tx.ts = now > tx.last_ts ? now : tx.last_ts;
		if (jg_audit_tx_append(&tx, "audit.unconfirmed_dropped", "system", a->dropped,
				       NULL) != 0)
			goto fail;
	}
	/*
	 * PostgreSQL, plain appends the fast path declined (most often: another
	 * replica moved the head): the head is locked and everything up to it
	 * verified; the inserts, the head and the COMMIT now go in one pipeline,
	 * so the lock every replica's batches wait for is held for one more
	 * round trip, not for one per row.
	 */
	if (a->pg && !record && plain_appends(batch)) {
		if (jg_store_pipeline_continue(a->conn) != 0)
			goto fail;
		tx.pipelined = 1;
	}
	for (struct job *j = batch; j; j = j->next) {
		struct jg_audit_tx saved = tx;
		int64_t now = jg_audit_now_ms();
		tx.ts = now > tx.last_ts ? now : tx.last_ts; /* never before the newest entry */
		if (!j->no_savepoint && jg_store_exec(a->conn, sql_savepoint) != 0)
			goto fail;
		j->rc = j->fn(&tx, j->ctx);
		if (j->rc == JG_ESTORE)
			j->rc = JG_EUNAVAIL;
		if (tx.pipelined && j->rc != 0) {
			j->rc = 0; /* not a refusal of its own: the batch failed */
			goto fail;
		}
		if (tx.pipelined)
			continue; /* queued: the outcome is the commit's */
		/* The transaction is gone (I/O error) or cannot be trusted: none of it stays. */
		if (!jg_store_in_transaction(a->conn) || (j->no_savepoint && j->rc != 0)) {
			j->rc = 0; /* not a refusal of its own: the batch failed */
			goto fail;
		}
		if (j->no_savepoint)
			continue;
		if (j->rc != 0) {
			tx = saved;
			j->refused = 1;
			if (jg_store_exec(a->conn, sql_rollback_to) != 0)
				goto fail;
		}
		if (jg_store_exec(a->conn, sql_release) != 0)
			goto fail;
		if (tx.size != saved.size)
			top_level = 0; /* rows of a savepoint carry its own transaction id */
	}
	if (tx.size != start_size && head_store(&tx) != 0)
		goto fail;
	if (tx.pipelined) {
		tx.pipelined = 0; /* ended by its commit, whatever the outcome */
		if (jg_store_pipeline_commit(a->conn) != 0)
			goto fail;
	} else if (jg_store_commit(a->conn) != 0) {
		goto fail;
	}
	json_decref(a->dropped);
	a->dropped = NULL;
	batch_done(a, batch, &tx, start_size, data_version, keep_own, top_level);
	return;
fail:
	if (a->conn != NULL && tx.pipelined)
		jg_store_pipeline_abort(a->conn); /* leaves the pipeline, rolls back */
	if (a->conn != NULL)
		jg_store_rollback(a->conn);
	for (struct job *j = batch; j; j = j->next)
		if (!j->refused)
			j->rc = JG_EUNAVAIL;
	__atomic_store_n(&a->write_failing, 1, __ATOMIC_RELEASE);
}

/*
 * Group commit without a hand-off: the first caller that finds no batch in
 * progress becomes the writer (the leader), takes every job queued so far
 * - its own included - and commits them as one batch; the others sleep
 * until their job is done or the writer's seat is free again, then one of
 * them leads the next batch.  One batch at a time, on one connection, so
 * appends are serialised exactly as with a dedicated thread, but a lone
 * caller pays no thread switch (RocksDB's write groups work the same way).
 * Jobs nobody waits on (asynchronous) are led by the writer thread instead.
 */

/* An asynchronous append: the job first, so the writer frees it from its job pointer. */
struct async_append {
	struct job job;
	struct append_job append;
};

static void
async_free(struct async_append *aa)
{
	parts_free(&aa->append.parts);
	free(aa);
}

/* Wakes whoever leads next: the first queued caller, or the writer thread. */
static void
wake_next_leader(struct jg_audit *a)
{
	if (a->queue == NULL)
		return;
	if (a->queue->done_fn == NULL)
		pthread_cond_signal(&a->queue->wake);
	else
		jg_thread_wake(a->writer);
}

/* Takes the writer's seat, commits one batch, wakes its jobs.  Called and returns with a->lock. */
static void
lead_batch(struct jg_audit *a)
{
	struct job *batch = a->queue, *last = a->queue;

	a->writing = 1;
	for (int n = 1; n < MAX_BATCH && last->next; n++)
		last = last->next;
	a->queue = last->next;
	if (a->queue == NULL)
		a->queue_tail = NULL;
	last->next = NULL;
	pthread_mutex_unlock(&a->lock);

	run_batch(a, batch);

	/*
	 * Jobs nobody waits on are told first, outside the lock (a callback
	 * hands the result to another thread and returns), and freed: once the
	 * writer's seat is free, jg_audit_stop may return.
	 */
	struct job *waiting = NULL, **waiting_tail = &waiting;
	for (struct job *j = batch, *next; j; j = next) {
		next = j->next;
		if (j->done_fn != NULL) {
			j->done_fn(j->done_ctx, j->rc);
			async_free((struct async_append *)j);
			continue;
		}
		j->next = NULL;
		*waiting_tail = j;
		waiting_tail = &j->next;
	}
	pthread_mutex_lock(&a->lock);
	for (struct job *j = waiting, *next; j; j = next) {
		next = j->next; /* a waiting caller's job vanishes as soon as it is done */
		j->done = 1;
		pthread_cond_signal(&j->wake);
	}
	a->writing = 0;
	wake_next_leader(a);
	pthread_cond_broadcast(&a->done);
}

static int
run_job(struct jg_audit *a, struct job *job)
{
	if (pthread_cond_init(&job->wake, NULL) != 0)
		return JG_ENOMEM;
	/* a log known not to verify takes nothing more: every audited action waits for an operator
	 */
	if (jg_audit_healthy(a, NULL, 0) != 0) {
		pthread_cond_destroy(&job->wake);
		return JG_EUNAVAIL;
	}
	pthread_mutex_lock(&a->lock);
	if (!a->started || a->stopping) {
		pthread_mutex_unlock(&a->lock);
		pthread_cond_destroy(&job->wake);
		return JG_EUNAVAIL;
	}
	if (a->queue_tail)
		a->queue_tail->next = job;
	else
		a->queue = job;
	a->queue_tail = job;
	while (!job->done) {
		if (a->writing) {
			pthread_cond_wait(&job->wake, &a->lock);
			continue;
		}
		lead_batch(a);
	}
	pthread_mutex_unlock(&a->lock);
	pthread_cond_destroy(&job->wake);
	return job->rc;
}

int
jg_audit_run(struct jg_audit *a, jg_audit_work_fn fn, void *ctx)
{
	struct job job = {.fn = fn, .ctx = ctx};
	return run_job(a, &job);
}

static int
append_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct append_job *j = ctx;
	return append_parts(tx, &j->parts, j->out);
}

int
jg_audit_append(struct jg_audit *a, const char *type, const char *actor, json_t *data,
		struct jg_audit_receipt *out)
{
	struct append_job j = {.out = out};
	/* encoded here, on the caller's thread, so the writer only splices */
	int rc = parts_make(type, actor, data, &j.parts);
	if (rc != 0)
		return rc;
	struct job job = {.fn = append_fn, .ctx = &j, .no_savepoint = !parts_near_cap(&j.parts)};
	rc = run_job(a, &job);
	parts_free(&j.parts);
	return rc;
}

int
jg_audit_append_async(struct jg_audit *a, const char *type, const char *actor, json_t *data,
		      jg_audit_done_fn done_fn, void *done_ctx)
{
	struct async_append *aa = calloc(1, sizeof(*aa));
	int rc;

	if (aa == NULL)
		return JG_ENOMEM;
	if ((rc = parts_make(type, actor, data, &aa->append.parts)) != 0) {
		free(aa);
		return rc;
	}
	aa->job.fn = append_fn;
	aa->job.ctx = &aa->append;
	aa->job.no_savepoint = !parts_near_cap(&aa->append.parts);
	aa->job.done_fn = done_fn;
	aa->job.done_ctx = done_ctx;
	if (jg_audit_healthy(a, NULL, 0) != 0) {
		async_free(aa);
		return JG_EUNAVAIL;
	}
	pthread_mutex_lock(&a->lock);
	if (!a->started || a->stopping || a->writer == NULL) {
		pthread_mutex_unlock(&a->lock);
		async_free(aa);
		return JG_EUNAVAIL;
	}
	if (a->queue_tail)
		a->queue_tail->next = &aa->job;
	else
		a->queue = &aa->job;
	a->queue_tail = &aa->job;
	if (!a->writing && a->queue == &aa->job)
		jg_thread_wake(a->writer);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/*
 * The writer thread's round: leads every batch that starts with a job
 * nobody waits on, then sleeps until the next such job is queued (a wake
 * that comes meanwhile is kept by thread.h, so none is lost).
 */
int64_t
jg_audit_writer_tick(void *arg)
{
	struct jg_audit *a = arg;

	pthread_mutex_lock(&a->lock);
	while (a->queue != NULL && !a->writing && a->queue->done_fn != NULL)
		lead_batch(a);
	pthread_mutex_unlock(&a->lock);
	return JG_THREAD_UNTIL_WOKEN;
}

/*
 * While writes fail, the background thread tries one tiny durable write a
 * second (migrations/<engine>/0010_store_probe.sql), so readiness comes back as soon as
 * the store can be written again, even with no caller writing.
 */
int
jg_audit_probe_fn(struct jg_audit_tx *tx, void *ctx)
{
	/* a changed value: SQLite does not write a row updated to what it was */
	static const char sql_touch[] = "UPDATE store_probe SET n = n + 1 WHERE id = 1";
	(void)ctx;
	return jg_store_exec(tx->conn, sql_touch) == 0 ? 0 : JG_ESTORE;
}

void
jg_audit_stats(struct jg_audit *a, struct jg_audit_stats *out)
{
	out->batches = __atomic_load_n(&a->stats.batches, __ATOMIC_RELAXED);
	out->fast_batches = __atomic_load_n(&a->stats.fast_batches, __ATOMIC_RELAXED);
	out->fast_declined = __atomic_load_n(&a->stats.fast_declined, __ATOMIC_RELAXED);
	pthread_mutex_lock(&a->lock);
	out->sweep = a->sweep_stats;
	pthread_mutex_unlock(&a->lock);
}

int
jg_audit_writable(struct jg_audit *a)
{
	return __atomic_load_n(&a->write_failing, __ATOMIC_ACQUIRE) ? JG_EUNAVAIL : 0;
}
