/*
 * audit_bench.c - measurements for bench/audit.sh (`make bench`).
 *
 *   audit_bench raw DIR SECONDS            raw SQLite durable single-row commits/s
 *   audit_bench rawpg URL SECONDS          raw PostgreSQL durable single-row commits/s (libpq:
 *                                          one prepared INSERT per transaction, as pgbench's
 *                                          insert-only script)
 *   audit_bench append DIR THREADS SECONDS jitgate durable appends/s (jg_audit_append; the
 *                                          log verified first and handed to the writer, as serve)
 *   audit_bench fill DIR COUNT             bulk-append COUNT entries, then a checkpoint
 *   audit_bench integrity FILE             hash + tree + signature part of verification
 *   audit_bench start DIR                  serve's start-up check of the log (from the verified
 *                                          state when there is one), and the whole-log check, in s
 *   audit_bench state DIR                  serve's start-up check once, without the whole-log
 *                                          check: whether it started from the verified state and
 *                                          the log's size (bench/guard_history.sh)
 *   audit_bench tiles DIR SECONDS          the newest 1,000 entries served as tiles (bundles,
 *                                          level-0 tiles, the partial tiles above) vs as an export
 *                                          of the same range, reads/s each
 *   audit_bench sweep DIR BUDGET SECONDS   the rolling verifier (its real thread) at BUDGET percent
 *                                          of one core for SECONDS: entries/s, its CPU share as it
 *                                          measures it, and the process's CPU time over the wall
 *                                          time (nothing else runs in the process meanwhile)
 *
 * DIR holds a jitgate.yaml whose store is migrated and whose keys exist
 * (bench/audit.sh prepares it).  Every figure is printed as one line
 * "name value unit" for the script to read.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "jitgate/audit.h"
#include "jitgate/audit_state.h"
#include "jitgate/config.h"
#include "jitgate/fileio.h"
#include "bench_args.h"

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A data object like a request decision's: about 350 bytes of entry. */
static json_t *
sample_data(unsigned long i)
{
	return json_pack("{s:s,s:s,s:[s,s],s:I,s:s,s:s}", "request", "req_01HZX3Q9V7T5K2M8",
			 "service", "payment-gateway", "capabilities", "read-logs", "read-traces",
			 "duration", (json_int_t)(3600 + (i % 7)), "decision", "pending",
			 "policy_sha256",
			 "9f2c4e1a7b3d5f60819a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70");
}

static int
raw(const char *dir, double seconds)
{
	char path[4096];
	sqlite3 *db;
	sqlite3_stmt *st;
	unsigned long n = 0;

	snprintf(path, sizeof(path), "%s/raw.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db,
		     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		     "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)",
		     NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?)", -1, &st, NULL);
	char blob[350];
	memset(blob, 'x', sizeof(blob));
	double start = now();
	while (now() - start < seconds) {
		sqlite3_bind_blob(st, 1, blob, sizeof(blob), SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			return 1;
		sqlite3_reset(st);
		n++;
	}
	printf("raw_commits_per_s %.0f commits/s\n", (double)n / (now() - start));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

/*
 * The same on PostgreSQL: one row of 350 bytes per autocommit transaction,
 * a prepared INSERT, one round trip each - the cost of a durable commit on
 * that server (synchronous_commit as configured, fsync as configured: the
 * script checks both).
 */
static int
rawpg(const char *url, double seconds)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *r;
	unsigned long n = 0;
	char blob[350];
	const char *vals[1] = {blob};
	const int lens[1] = {sizeof(blob)}, fmts[1] = {1};
	int rc = 1;

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "rawpg: %s", PQerrorMessage(pg));
		goto out;
	}
	r = PQexec(pg, "CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, v bytea)");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "rawpg: %s", PQerrorMessage(pg));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	r = PQprepare(pg, "ins", "INSERT INTO bench_raw (v) VALUES ($1)", 1, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "rawpg: %s", PQerrorMessage(pg));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	memset(blob, 'x', sizeof(blob));
	double start = now();
	while (now() - start < seconds) {
		r = PQexecPrepared(pg, "ins", 1, vals, lens, fmts, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "rawpg: %s", PQerrorMessage(pg));
			PQclear(r);
			goto out;
		}
		PQclear(r);
		n++;
	}
	printf("raw_commits_per_s %.0f commits/s\n", (double)n / (now() - start));
	rc = 0;
out:
	PQfinish(pg);
	return rc;
}

struct opened {
	struct jg_config *cfg;
	struct jg_store *store;
	struct jg_audit *audit;
};

static int
open_budget(const char *dir, struct opened *o, int budget)
{
	char path[4096], err[1024];
	snprintf(path, sizeof(path), "%s/jitgate.yaml", dir);
	struct jg_audit_verifiers vs;
	struct jg_chain chain;
	struct jg_chain_fault fault;
	uint64_t size;

	if (jg_config_load(path, &o->cfg, err, sizeof(err)) != 0 ||
	    jg_store_open(o->cfg->database_store, &o->store, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct jg_audit_config acfg = {.origin = o->cfg->audit_origin,
				       .checkpoint_entries = 1000000000,
				       .checkpoint_seconds = 86400,
				       .verify_budget = budget};
	if (jg_audit_verifiers_load(o->cfg->key_dir, o->cfg->audit_origin, &vs, err, sizeof(err)) !=
		0 ||
	    jg_audit_open(o->store, o->cfg->key_dir, &acfg, &o->audit, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* as serve: the log verified, and the writer starts from that chain (its fast paths need
	 * it) */
	if (jg_audit_verify_store_chain(o->store, &vs, 2, &size, &chain, &fault) != 0) {
		fprintf(stderr, "the audit log does not verify: %s\n", fault.why);
		return 1;
	}
	jg_audit_set_verified(o->audit, &chain);
	if (jg_audit_start(o->audit) != 0) {
		fprintf(stderr, "the audit writer did not start\n");
		return 1;
	}
	return 0;
}

/* As serve opens the log (the rolling verifier at its default budget). */
static int
open_all(const char *dir, struct opened *o)
{
	return open_budget(dir, o, 0);
}

static void
close_all(struct opened *o)
{
	jg_audit_free(o->audit);
	jg_store_close(o->store);
	jg_config_free(o->cfg);
}

struct worker {
	struct jg_audit *audit;
	double until;
	unsigned long n;
	int failed;
};

static void *
append_loop(void *arg)
{
	struct worker *w = arg;
	while (now() < w->until) {
		json_t *data = sample_data(w->n);
		if (jg_audit_append(w->audit, "bench.append", "bench", data, NULL) != 0)
			w->failed = 1;
		json_decref(data);
		w->n++;
	}
	return NULL;
}

static int
append(const char *dir, int threads, double seconds)
{
	struct opened o = {0};
	struct worker w[256];
	pthread_t tid[256];
	unsigned long total = 0;
	int failed = 0;

	if (threads < 1 || threads > 256 || open_all(dir, &o) != 0)
		return 1;
	double start = now();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){.audit = o.audit, .until = start + seconds};
		pthread_create(&tid[i], NULL, append_loop, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total += w[i].n;
		failed |= w[i].failed;
	}
	double took = now() - start;
	struct jg_audit_stats st;
	jg_audit_stats(o.audit, &st);
	close_all(&o);
	printf("batches_%d %llu batches\n", threads, (unsigned long long)st.batches);
	printf("fast_batches_%d %llu batches\n", threads, (unsigned long long)st.fast_batches);
	if (failed) {
		fprintf(stderr, "an append failed\n");
		return 1;
	}
	printf("appends_per_s_%d %.0f appends/s\n", threads, (double)total / took);
	return 0;
}

struct fill_job {
	unsigned long count;
};

static int
fill_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct fill_job *j = ctx;
	for (unsigned long i = 0; i < j->count; i++) {
		json_t *data = sample_data(i);
		int rc = jg_audit_tx_append(tx, "bench.fill", "bench", data, NULL);
		json_decref(data);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
fill(const char *dir, unsigned long count)
{
	struct opened o = {0};
	if (open_all(dir, &o) != 0)
		return 1;
	for (unsigned long done = 0; done < count;) {
		struct fill_job j = {count - done < 20000 ? count - done : 20000};
		if (jg_audit_run(o.audit, fill_fn, &j) != 0)
			return 1;
		done += j.count;
	}
	uint64_t size;
	int rc = jg_audit_checkpoint(o.audit, NULL, &size);
	close_all(&o);
	printf("filled %llu entries\n", (unsigned long long)size);
	return rc != 0;
}

/* The integrity part alone: leaf hashes, the tree, the checkpoint signature. */
static int
integrity(const char *file, const char *vkey)
{
	char err[256], *buf;
	size_t len;
	struct jg_note_verifier v;
	struct jg_checkpoint cp;

	if (jg_file_read(file, 8ULL << 30, false, &buf, &len, err, sizeof(err)) != 0 ||
	    jg_signed_note_verifier_parse(vkey, &v) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double start = now();
	struct jg_merkle_frontier f;
	jg_merkle_frontier_init(&f);
	const char *p = strchr(buf, '\n') + 1, *end = buf + len, *last = NULL;
	size_t bytes = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl + 1 >= end) { /* the checkpoint line */
			last = p;
			break;
		}
		uint8_t leaf[32];
		jg_merkle_leaf_hash(p, (size_t)(nl - p), leaf);
		jg_merkle_frontier_append(&f, leaf, NULL, NULL);
		bytes += (size_t)(nl - p);
		p = nl + 1;
	}
	json_t *cpl = json_loadb(last, (size_t)(end - last), 0, NULL);
	const char *note = json_string_value(json_object_get(cpl, "checkpoint"));
	uint8_t root[32];
	jg_merkle_frontier_root(&f, root);
	int ok = note && jg_signed_note_open_checkpoint(note, strlen(note), &v, &cp) == 0 &&
		 memcmp(root, cp.root, 32) == 0;
	double took = now() - start;
	json_decref(cpl);
	free(buf);
	if (!ok) {
		fprintf(stderr, "integrity check failed\n");
		return 1;
	}
	printf("integrity_bytes_per_s %.0f bytes/s\n", (double)bytes / took);
	printf("integrity_entries_per_s %.0f entries/s\n", (double)f.size / took);
	return 0;
}

/*
 * What `jitgate serve` runs before it opens its port (jg_audit_state_verify_start),
 * timed, then (with whole) the whole-log verification it replaces, timed: the first
 * must not grow with the log, the second does.
 */
static int
start_check(const char *dir, bool whole)
{
	char path[4096], err[1024];
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit_verifiers vs;
	struct jg_audit_start_report rep;
	struct jg_chain chain;
	struct jg_chain_fault fault;
	uint64_t size;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/jitgate.yaml", dir);
	if (jg_config_load(path, &cfg, err, sizeof(err)) != 0 ||
	    jg_store_open(cfg->database_store, &store, err, sizeof(err)) != 0 ||
	    jg_audit_verifiers_load(cfg->key_dir, cfg->audit_origin, &vs, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	/* the fastest of five: a start is well under a millisecond, so one run is mostly noise */
	double best = 1e9;
	for (int i = 0; i < (whole ? 5 : 1); i++) {
		double t = now();
		if (jg_audit_state_verify_start(store, &vs, cfg->key_dir, cfg->audit_origin,
						(int)cfg->audit_verify_threads, &chain, &rep,
						&fault, err, sizeof(err)) != 0) {
			fprintf(stderr, "start-up check failed: %s\n", fault.why);
			goto out;
		}
		double took = now() - t;
		best = took < best ? took : best;
	}
	printf("start_from_state %d (1: yes)\n", rep.how == JG_AUDIT_START_TAIL);
	printf("start_entries %llu entries\n", (unsigned long long)rep.size);
	printf("start_seconds %.5f s\n", best);
	if (!whole) {
		rc = 0;
		goto out;
	}
	double t1 = now();
	if (jg_audit_verify_store_chain(store, &vs, (int)cfg->audit_verify_threads, &size, &chain,
					&fault) != 0) {
		fprintf(stderr, "whole-log check failed: %s\n", fault.why);
		goto out;
	}
	double t2 = now();
	printf("whole_log_seconds %.4f s\n", t2 - t1);
	rc = 0;
out:
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

/* Counts the bytes of an export, keeping none. */
static int
count_bytes(void *ctx, const void *buf, size_t len)
{
	(void)buf;
	*(size_t *)ctx += len;
	return 0;
}

/*
 * The newest NEWEST entries of the filled log as a tlog-tiles reader gets
 * them - the bundles and level-0 tiles that cover them and the partial tile
 * of each level above (with which a reader recomputes the signed root) - and
 * as an export of the same range (the entries, the proofs to the
 * checkpoint, the note): each read as the server reads it for an answer,
 * repeated for SECONDS.  The HTTP and TLS costs are the same for both and
 * are left out.
 */
#define NEWEST 1000
static int
tiles(const char *dir, double seconds)
{
	struct opened o = {0};
	uint64_t size;
	char *note = NULL;
	size_t tile_bytes = 0, export_bytes = 0;
	unsigned long reads = 0, exports = 0;

	if (open_all(dir, &o) != 0 || jg_audit_tiles_checkpoint(o.audit, &note, &size) != 0 ||
	    size < NEWEST) {
		fprintf(stderr, "no checkpoint of at least %d entries\n", NEWEST);
		return 1;
	}
	free(note);
	double start = now();
	while (now() - start < seconds) {
		size_t bytes = 0;
		/* level 0: the bundles and hash tiles from entry size - NEWEST on */
		for (uint64_t n = (size - NEWEST) / 256; n * 256 < size; n++) {
			unsigned w = (n + 1) * 256 <= size ? 256 : (unsigned)(size % 256);
			for (int level = JG_TILE_ENTRIES; level <= 0; level++) {
				struct jg_tile t = {level, n, w};
				uint8_t *b;
				size_t len;
				if (jg_audit_tile_read(o.audit, &t, &b, &len) != 0)
					return 1;
				bytes += len;
				free(b);
			}
		}
		/* above: the partial tile of each level (the full ones below it are older) */
		uint64_t span = 256;
		for (int level = 1; span <= size; level++, span *= 256) {
			struct jg_tile t = {level, size / span / 256,
					    (unsigned)(size / span % 256)};
			uint8_t *b;
			size_t len;
			if (t.width == 0)
				continue;
			if (jg_audit_tile_read(o.audit, &t, &b, &len) != 0)
				return 1;
			bytes += len;
			free(b);
		}
		tile_bytes = bytes;
		reads++;
	}
	double t_tiles = now() - start;
	start = now();
	while (now() - start < seconds) {
		size_t bytes = 0;
		if (jg_audit_export(o.store, size - NEWEST, size - 1, count_bytes, &bytes) != 0)
			return 1;
		export_bytes = bytes;
		exports++;
	}
	double t_export = now() - start;
	close_all(&o);
	printf("tiles_reads_per_s %.1f reads/s\n", (double)reads / t_tiles);
	printf("export_reads_per_s %.1f reads/s\n", (double)exports / t_export);
	printf("tiles_bytes %zu bytes\n", tile_bytes);
	printf("export_bytes %zu bytes\n", export_bytes);
	return 0;
}

static double
cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The rolling verifier at budget percent for seconds, on a log filled
 * before: the rate and CPU share it reports (jg_audit_stats: its last whole
 * sweep's, or the one under way), and the process's CPU time over the same
 * wall time, measured apart from it (the writer and the background thread
 * idle meanwhile: nothing is appended).
 */
static int
sweep(const char *dir, int budget, double seconds)
{
	struct opened o = {0};
	struct jg_audit_stats st;

	if (open_budget(dir, &o, budget) != 0)
		return 1;
	double t0 = now(), c0 = cpu_seconds();
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 200000000};
	while (now() - t0 < seconds)
		nanosleep(&pause, NULL);
	double wall = now() - t0, cpu = cpu_seconds() - c0;
	jg_audit_stats(o.audit, &st);
	int healthy = jg_audit_healthy(o.audit, NULL, 0) == 0;
	close_all(&o);
	if (!healthy || st.sweep.rate <= 0) {
		fprintf(stderr, "the rolling verifier did not sweep (healthy %d)\n", healthy);
		return 1;
	}
	printf("sweep_entries_per_s %.0f entries/s\n", st.sweep.rate);
	printf("sweep_cpu_share %.4f (its thread)\n", st.sweep.cpu_share);
	printf("sweep_process_cpu_share %.4f (process CPU / wall)\n", cpu / wall);
	printf("sweep_window_seconds %.1f s\n", st.sweep.window_seconds);
	printf("sweep_sweeps %llu whole sweeps\n", (unsigned long long)st.sweep.sweeps);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "raw") == 0)
		return raw(argv[2], bench_seconds(argv[3], 3600));
	if (argc == 4 && strcmp(argv[1], "rawpg") == 0)
		return rawpg(argv[2], bench_seconds(argv[3], 3600));
	if (argc == 5 && strcmp(argv[1], "append") == 0)
		return append(argv[2], (int)bench_count(argv[3], 1, 1024),
			      bench_seconds(argv[4], 3600));
	if (argc == 4 && strcmp(argv[1], "fill") == 0)
		return fill(argv[2], bench_count(argv[3], 1, 100000000));
	if (argc == 4 && strcmp(argv[1], "integrity") == 0)
		return integrity(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "start") == 0)
		return start_check(argv[2], true);
	if (argc == 3 && strcmp(argv[1], "state") == 0)
		return start_check(argv[2], false);
	if (argc == 4 && strcmp(argv[1], "tiles") == 0)
		return tiles(argv[2], bench_seconds(argv[3], 3600));
	if (argc == 5 && strcmp(argv[1], "sweep") == 0)
		return sweep(argv[2], (int)bench_count(argv[3], 1, 100),
			     bench_seconds(argv[4], 3600));
	fprintf(stderr, "usage: see the comment at the top of bench/audit_bench.c\n");
	return 2;
}
