/*
 * audit_sweep.c - the rolling verifier: a background sweep that re-verifies
 * the whole log, a slice at a time, within a share of one core
 * (audit.verify_budget), so that an edit of an old entry - also one made
 * below the verified state while jitgate was stopped, which a start does
 * not read again - is found within one sweep.
 *
 * A slice (jg_audit_sweep_step) re-reads the next entries after the cursor
 * and checks them exactly as the full verification does: form, seq, prev
 * links and leaf hashes (audit_chain.c), every stored tree node the entries
 * complete, and every stored checkpoint they reach (its signature, its size,
 * its root against the re-computed tree).  The cursor is a chain (size,
 * last leaf hash, frontier), so each slice continues from where the last
 * one stopped without re-reading anything; when it reaches the chain the
 * running server verified, the two must be equal, and the sweep starts over
 * from 0.  The cursor is stored in the verified state (audit_state.c, under
 * its MAC) every SWEEP_SAVE_MS and at stop, so a restart - or another
 * replica taking over - resumes instead of starting over.
 *
 * Rate: the slice's wall time w is measured and the thread then sleeps
 * w * (100 - budget) / budget, so slices take at most budget % of the wall
 * time - of one core at most, whatever part of w the database took.  A
 * sweep starts at most once a second (a small log is not re-read in a busy
 * loop).  The rate achieved (entries per second) gives the detection window
 * for an edit of an old entry: size / rate (jg_audit_stats, /metrics).
 *
 * Its own thread (thread.h), not the audit background thread's round: the
 * round makes checkpoints and pushes them every second, which a sweep's
 * slices and sleeps must not delay.  On PostgreSQL one replica sweeps: the
 * leader of "audit-verifier" (store.h); the others only poll.  Only a
 * serving log (one verified and handed over, jg_audit_set_verified) sweeps
 * or asks to lead: a command line's log never does.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "audit_int.h"
#include "jitgate/audit_state.h"
#include "jitgate/error.h"
#include "jitgate/log.h"

#define SWEEP_BYTES_MAX	    (8u << 20) /* entry bytes held by one slice */
#define SWEEP_CHUNK_MIN	    16
#define SWEEP_CHUNK_MAX	    65536
#define SWEEP_SLICE_NS	    50000000LL /* a slice's aim: about 50 ms */
#define SWEEP_SAVE_MS	    10000      /* the cursor is stored this often (and at stop) */
#define SWEEP_MIN_PERIOD_NS 1000000000LL

static const char sql_entries[] =
    "SELECT seq, entry FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY seq";
static const char sql_cps[] =
    "SELECT size, note FROM audit_checkpoints WHERE size > ? AND size <= ? ORDER BY size";

struct sweep_cp {
	uint64_t size;
	char *note;
};

/* The chains are the same: size, last leaf and tree root. */
static int
same_chain(const struct jg_chain *x, const struct jg_chain *y)
{
	uint8_t rx[32], ry[32];

	if (jg_merkle_frontier_root(&x->tree, rx) != 0 ||
	    jg_merkle_frontier_root(&y->tree, ry) != 0)
		return JG_ECRYPTO;
	return x->next_seq == y->next_seq && x->tree.size == y->tree.size &&
		       CRYPTO_memcmp(x->prev, y->prev, 32) == 0 && CRYPTO_memcmp(rx, ry, 32) == 0
		   ? 0
		   : JG_EVERIFY;
}

/* The end of a sweep: the chain re-read must be the one verified; then it starts over. */
static int
sweep_end(struct jg_chain *cur, const struct jg_chain *verified, int *wrapped,
	  struct jg_chain_fault *fault)
{
	int rc = cur->next_seq == verified->next_seq ? same_chain(cur, verified) : 0;

	if (rc == JG_EVERIFY)
		return jg_chain_fault_set(
		    fault, verified->next_seq - 1,
		    "the log's first %llu entries, re-read by the rolling verifier, no longer give "
		    "the chain verified before: an entry below %llu was altered",
		    (unsigned long long)verified->next_seq, (unsigned long long)verified->next_seq);
	if (rc != 0)
		return rc;
	/* the end, or a cursor beyond the verified chain (a failover rewound it): from 0 again */
	jg_chain_init(cur, cur->threads > 0 ? cur->threads : 1);
	*wrapped = 1;
	return 0;
}

/* One stored checkpoint the cursor has just reached: signed, its size its row's, its root ours. */
static int
check_cp(const struct jg_audit_verifiers *vs, const struct jg_chain *cur,
	 const struct sweep_cp *row, struct jg_chain_fault *fault)
{
	struct jg_checkpoint cp;
	uint8_t root[32];

	if (row->note == NULL ||
	    jg_audit_open_checkpoint(row->note, strlen(row->note), vs, &cp) != 0 ||
	    cp.size != row->size)
		return jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "the stored checkpoint of size %llu is not validly signed by a checkpoint "
		    "key of this deployment (or its size was edited)",
		    (unsigned long long)row->size);
	if (jg_merkle_frontier_root(&cur->tree, root) != 0)
		return JG_ECRYPTO;
	if (CRYPTO_memcmp(root, cp.root, 32) != 0)
		return jg_chain_fault_set(fault, UINT64_MAX,
					  "the signed checkpoint of size %llu does not match the "
					  "entries before it (root differs): an entry below %llu "
					  "was altered",
					  (unsigned long long)cp.size, (unsigned long long)cp.size);
	return 0;
}

/* The entries [from, to) into bufs (at most SWEEP_BYTES_MAX of them): *n read. */
static int
read_entries(struct jg_store_conn *conn, uint64_t from, uint64_t to, char **bufs, size_t *lens,
	     size_t *n, struct jg_chain_fault *fault)
{
	struct jg_stmt *st;
	size_t bytes = 0;
	int rc = 0, step;

	*n = 0;
	if (jg_stmt_prepare(conn, sql_entries, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)from);
	jg_stmt_bind_int64(st, 2, (int64_t)to);
	while (bytes < SWEEP_BYTES_MAX && (step = jg_stmt_step(st)) == JG_STMT_ROW) {
		int64_t seq = jg_stmt_column_int64(st, 0);
		uint64_t expect = from + *n;
		size_t len;
		const void *blob = jg_stmt_column_blob(st, 1, &len);
		if (seq < 0 || (uint64_t)seq != expect) {
			rc = jg_chain_fault_set(fault, expect,
						"entry %llu is missing from the log (rows "
						"renumbered or removed)",
						(unsigned long long)expect);
			break;
		}
		if ((bufs[*n] = malloc(len + 1)) == NULL) {
			rc = JG_ENOMEM;
			break;
		}
		if (len > 0)
			memcpy(bufs[*n], blob, len);
		bufs[*n][len] = '\0';
		lens[(*n)++] = len;
		bytes += len;
	}
	if (rc == 0 && bytes < SWEEP_BYTES_MAX && step != JG_STMT_DONE)
		rc = JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

/*
 * The rows ended before the verified chain does, at entry seq.  Entries
 * removed - unless the database's head itself is shorter than the chain
 * verified: a failover lost a tail no standby confirmed, which the writer
 * judges (a loss it records, or a fork) and rewinds the verified chain to;
 * the sweep then starts over (*restart 1) rather than call it a fault.
 */
static int
rows_ended(struct jg_store_conn *conn, uint64_t seq, const struct jg_chain *verified, int *restart,
	   struct jg_chain_fault *fault)
{
	uint64_t head = 0;

	*restart = 0;
	if (jg_audit_read_size(conn, &head) != 0)
		return JG_ESTORE;
	if (head < verified->next_seq) {
		*restart = 1;
		return 0;
	}
	return jg_chain_fault_set(fault, seq,
				  "entry %llu is missing from the log (rows renumbered or removed)",
				  (unsigned long long)seq);
}

/* The stored checkpoints of sizes in (lo, hi] (lo: from, or -1 to take size 0 too). */
static int
read_cps(struct jg_store_conn *conn, int64_t lo, uint64_t hi, struct sweep_cp **out, size_t *n)
{
	struct jg_stmt *st;
	size_t cap = 0;
	int rc = 0, step;

	*out = NULL;
	*n = 0;
	if (jg_stmt_prepare(conn, sql_cps, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, lo);
	jg_stmt_bind_int64(st, 2, (int64_t)hi);
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			struct sweep_cp *grown = realloc(*out, cap * sizeof(**out));
			if (grown == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			*out = grown;
		}
		const char *note = jg_stmt_column_text(st, 1);
		(*out)[*n].size = (uint64_t)jg_stmt_column_int64(st, 0);
		(*out)[*n].note = note ? strdup(note) : NULL;
		if (note != NULL && (*out)[*n].note == NULL) {
			rc = JG_ENOMEM;
			break;
		}
		(*n)++;
	}
	if (rc == 0 && step != JG_STMT_DONE)
		rc = JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

int
jg_audit_sweep_step(struct jg_store_conn *conn, const struct jg_audit_verifiers *vs,
		    struct jg_chain *cur, const struct jg_chain *verified, size_t max_entries,
		    int *wrapped, struct jg_chain_fault *fault)
{
	struct sweep_cp *cps = NULL;
	char **bufs = NULL;
	size_t *lens = NULL, n = 0, ncp = 0, next_cp = 0, fed = 0;
	int rc;

	memset(fault, 0, sizeof(*fault));
	fault->seq = UINT64_MAX;
	*wrapped = 0;
	if (cur->next_seq >= verified->next_seq)
		return sweep_end(cur, verified, wrapped, fault);
	uint64_t from = cur->next_seq, room = verified->next_seq - from;
	size_t want = max_entries < 1 ? 1 : max_entries;
	if (room < want)
		want = (size_t)room; /* at least 1: the cursor is below the verified size */
	bufs = want > 0 ? calloc(want, sizeof(*bufs)) : NULL;
	lens = want > 0 ? calloc(want, sizeof(*lens)) : NULL;
	if (bufs == NULL || lens == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	/* one snapshot: the entries, nodes and checkpoints agree */
	if ((rc = jg_store_begin_read(conn)) != 0)
		goto out;
	if ((rc = read_entries(conn, from, from + want, bufs, lens, &n, fault)) != 0)
		goto rollback;
	if (n == 0) {
		int restart;
		if ((rc = rows_ended(conn, from, verified, &restart, fault)) == 0 && restart) {
			jg_chain_init(cur, cur->threads > 0 ? cur->threads : 1);
			*wrapped = 1;
		}
		goto rollback;
	}
	if ((rc = read_cps(conn, from == 0 ? -1 : (int64_t)from, from + n, &cps, &ncp)) != 0)
		goto rollback;
	/* a checkpoint of size 0 is reached before any entry */
	while (next_cp < ncp && cps[next_cp].size == cur->next_seq)
		if ((rc = check_cp(vs, cur, &cps[next_cp++], fault)) != 0)
			goto rollback;
	while (fed < n) {
		/* in runs that end at checkpoint sizes: each is checked where the tree has its size
		 */
		size_t run = n - fed;
		if (next_cp < ncp && cps[next_cp].size - cur->next_seq < run)
			run = (size_t)(cps[next_cp].size - cur->next_seq);
		rc = jg_chain_feed(cur, (const char *const *)bufs + fed, lens + fed, run,
				   jg_audit_compare_node, conn, NULL, fault);
		if (rc != 0)
			goto rollback;
		fed += run;
		while (next_cp < ncp && cps[next_cp].size == cur->next_seq)
			if ((rc = check_cp(vs, cur, &cps[next_cp++], fault)) != 0)
				goto rollback;
	}
	if (cur->next_seq == verified->next_seq)
		rc = sweep_end(cur, verified, wrapped, fault);
rollback:
	jg_store_rollback(conn);
out:
	for (size_t i = 0; bufs != NULL && i < n; i++)
		free(bufs[i]);
	for (size_t i = 0; i < ncp; i++)
		free(cps[i].note);
	free(cps);
	free(bufs);
	free(lens);
	return rc;
}

/* ---- the thread ------------------------------------------------------------------ */

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The cursor as stored in the verified state (none: from 0), when this replica begins to sweep. */
static void
load_cursor(struct jg_audit *a, const struct jg_chain *verified)
{
	struct jg_store_conn *conn;
	struct jg_audit_state s;

	jg_chain_init(&a->sweep, 1);
	if (a->state_keys != NULL && jg_store_acquire(a->store, &conn) == 0) {
		if (jg_audit_state_read(conn, a->state_keys, &s) == 0 && s.swept &&
		    strcmp(s.origin, a->origin) == 0 && s.sweep.next_seq <= verified->next_seq)
			a->sweep = s.sweep;
		jg_store_release(a->store, conn);
	}
	a->sweep.threads = 1; /* one thread: the share is of one core */
	a->sweep_loaded = 1;
	a->sweep_chunk = 256;
	a->sweep_begun_ns = clock_ns(CLOCK_MONOTONIC);
	a->sweep_active_ns = a->sweep_cpu_ns = 0;
	a->sweep_entries = 0;
	a->sweep_saved_ms = a->sweep_begun_ns / 1000000;
	json_t *f = json_pack("{s:I,s:i}", "from", (json_int_t)a->sweep.next_seq, "budget_percent",
			      a->verify_budget);
	jg_log(JG_LOG_INFO, "audit: the rolling verifier sweeps the log", f);
	json_decref(f);
}

/* Stores the cursor (when there is a state key); a state that no longer verifies breaks the log. */
static void
save_cursor(struct jg_audit *a)
{
	if (a->state_keys == NULL)
		return;
	int rc = jg_audit_state_store_sweep(a->store, a->state_keys, &a->sweep);
	if (rc == JG_EVERIFY) {
		struct jg_chain_fault fault;
		jg_chain_fault_set(&fault, UINT64_MAX,
				   "the verified state (audit_state) no longer verifies under "
				   "the audit-state key: it was edited in the store");
		jg_audit_mark_broken(a, &fault, rc);
	} else if (rc != 0 && rc != JG_ENOTFOUND) {
		jg_log(JG_LOG_WARN,
		       "audit: the rolling verifier's cursor could not be stored; "
		       "will retry",
		       NULL);
	}
}

/* The stats after a slice (under lock): position, rate, window, share. */
static void
publish(struct jg_audit *a, uint64_t size, int ended)
{
	double active = (double)a->sweep_active_ns / 1e9;
	double rate = active > 0 ? (double)a->sweep_entries / active : 0;

	pthread_mutex_lock(&a->lock);
	struct jg_audit_sweep_stats *s = &a->sweep_stats;
	s->leading = 1;
	s->position = a->sweep.next_seq;
	s->size = size;
	/* the last whole sweep's rate once there is one; the running one's until then */
	if (ended || s->sweeps == 0) {
		if (rate > 0)
			s->rate = rate;
		if (active > 0)
			s->cpu_share = (double)a->sweep_cpu_ns / (double)a->sweep_active_ns;
	}
	if (ended)
		s->sweeps++;
	/*
	 * A whole sweep of the log at that rate, and never more often than once
	 * a second (an empty log: a sweep has ended, each one a second apart).
	 */
	s->window_seconds = s->rate > 0 ? (double)size / s->rate : 0;
	if ((s->rate > 0 || s->sweeps > 0) && s->window_seconds < (double)SWEEP_MIN_PERIOD_NS / 1e9)
		s->window_seconds = (double)SWEEP_MIN_PERIOD_NS / 1e9;
	pthread_mutex_unlock(&a->lock);
}

int64_t
jg_audit_sweep_tick(void *arg)
{
	struct jg_audit *a = arg;
	struct jg_chain_fault fault;
	struct jg_store_conn *conn;
	struct jg_chain verified;
	bool lead = false;
	int wrapped = 0, rc;

	pthread_mutex_lock(&a->lock);
	int stopping = a->stopping;
	pthread_mutex_unlock(&a->lock);
	if (stopping)
		return JG_THREAD_UNTIL_WOKEN;
	pthread_mutex_lock(&a->verify_lock);
	int ready = a->have_verified && !a->broken;
	verified = a->verified;
	uint64_t rewinds = a->rewinds;
	pthread_mutex_unlock(&a->verify_lock);
	/* only a serving log asks to lead: a command line's never takes the name */
	if (!ready) /* not serving yet, or broken: the last figures stay shown */
		return 1000;
	(void)jg_store_leader_poll(a->sweep_leader, &lead);
	if (!lead) {
		/* another replica may sweep meanwhile: its cursor, next time */
		a->sweep_loaded = 0;
		pthread_mutex_lock(&a->lock);
		a->sweep_stats.leading = 0;
		pthread_mutex_unlock(&a->lock);
		return 1000;
	}
	if (!a->sweep_loaded) {
		load_cursor(a, &verified);
		a->sweep_rewinds = rewinds;
	}
	if (rewinds != a->sweep_rewinds) {
		/*
		 * A failover rewound the verified chain: the cursor may hold
		 * entries the new primary never had, and comparing it with the
		 * chain now would report them as an edit.  The sweep starts over
		 * (entries a checkpoint covers were never lost: the rewind
		 * checked).
		 */
		jg_chain_init(&a->sweep, 1);
		a->sweep_rewinds = rewinds;
	}

	uint64_t before = a->sweep.next_seq;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	if ((rc = jg_store_acquire(a->store, &conn)) == 0) {
		rc = jg_audit_sweep_step(conn, &a->verifiers, &a->sweep, &verified, a->sweep_chunk,
					 &wrapped, &fault);
		jg_store_release(a->store, conn);
	}
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	int64_t wall = now - t0, cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	/* a rewind during the slice: what it judged was judged against the chain before */
	pthread_mutex_lock(&a->verify_lock);
	int rewound = a->rewinds != rewinds;
	pthread_mutex_unlock(&a->verify_lock);
	if (rewound)
		return 0; /* the next slice starts the sweep over */
	if (rc != 0 && rc != JG_EVERIFY) {
		jg_log(JG_LOG_WARN,
		       "audit: the rolling verifier could not read the log; will retry", NULL);
		return 1000;
	}
	/* the budget: the slice took wall; sleeping wall * (100 - b) / b keeps it to b % */
	int64_t sleep_ns = wall * (100 - a->verify_budget) / a->verify_budget;
	a->sweep_active_ns += wall + sleep_ns;
	a->sweep_cpu_ns += cpu;
	a->sweep_entries += wrapped ? (verified.next_seq > before ? verified.next_seq - before : 0)
				    : a->sweep.next_seq - before;
	if (rc == JG_EVERIFY) {
		publish(a, verified.next_seq, 0); /* the figures the window was judged by */
		jg_audit_mark_broken(a, &fault, rc);
		jg_audit_fault_flush(a); /* stored now: a restart exits 5 naming the entry */
		return 1000;
	}
	/* slices of about SWEEP_SLICE_NS: fewer wake-ups on a large log, short ones on a slow store
	 */
	if (wall < SWEEP_SLICE_NS / 2 && a->sweep_chunk < SWEEP_CHUNK_MAX)
		a->sweep_chunk *= 2;
	else if (wall > SWEEP_SLICE_NS * 2 && a->sweep_chunk > SWEEP_CHUNK_MIN)
		a->sweep_chunk /= 2;
	publish(a, verified.next_seq, wrapped);
	if (wrapped) {
		/* the next sweep begins no sooner than a second after this one did */
		int64_t rest = a->sweep_begun_ns + SWEEP_MIN_PERIOD_NS - now;
		if (rest > sleep_ns)
			sleep_ns = rest;
		a->sweep_begun_ns = now + sleep_ns;
		a->sweep_active_ns = a->sweep_cpu_ns = 0;
		a->sweep_entries = 0;
	}
	if (now / 1000000 - a->sweep_saved_ms >= SWEEP_SAVE_MS) {
		save_cursor(a);
		a->sweep_saved_ms = now / 1000000;
	}
	return (sleep_ns + 999999) / 1000000;
}

/* jg_audit_stop, once the thread has stopped: the cursor stored, so the next start resumes. */
void
jg_audit_sweep_stopped(struct jg_audit *a)
{
	if (a->sweep_loaded)
		save_cursor(a);
	a->sweep_loaded = 0;
}
