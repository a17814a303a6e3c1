/*
 * telemetry_retention.c - removing telemetry past its kind's retention, and
 * the sweeper thread (thread.h) that does it every second.
 *
 * SQLite: the sweeper deletes at most CHUNK rows of a kind per transaction
 * and loops until nothing is due, so a large backlog never holds the write
 * lock for long.  PostgreSQL: the tables are partitioned by receipt day
 * (migrations/postgres/telemetry/0001_telemetry.sql); the sweeper makes the
 * partitions of today and the next two days where missing, then drops each
 * partition whose whole day is past the kind's retention.  Rows of a day
 * only partly past it stay until the day's partition goes; readers never
 * show them meanwhile (jg_telemetry_received_since).  On PostgreSQL the
 * sweep runs on one replica at a time (a leader, store.h); what it does is
 * idempotent, so two replicas sweeping at once for a moment do no harm.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "jitgate/log.h"
#include "jitgate/thread.h"
#include "telemetry_int.h"

#define CHUNK 5000

#define DUE_LOGS "(SELECT id FROM logs WHERE received_at < ? ORDER BY received_at, id LIMIT 5000)"
static const char sql_del_fts[] = "DELETE FROM logs_fts WHERE rowid IN " DUE_LOGS;
static const char sql_del_fts_red[] = "DELETE FROM logs_fts_redacted WHERE rowid IN " DUE_LOGS;
static const char sql_del_logs[] = "DELETE FROM logs WHERE id IN " DUE_LOGS;
static const char sql_del_spans[] =
    "DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans WHERE received_at < ? "
    "LIMIT 5000)";
static const char sql_del_points[] =
    "DELETE FROM metric_points WHERE id IN (SELECT id FROM metric_points WHERE received_at < ? "
    "LIMIT 5000)";

/* Runs the statements (each bound to cutoff) in one transaction; *n = rows of the last. */
static int
delete_chunk(struct jg_store_conn *conn, const char *const *sqls, size_t nsql, int64_t cutoff,
	     int *n)
{
	struct jg_stmt *st;
	int rc = jg_store_begin(conn);

	for (size_t i = 0; i < nsql && rc == 0; i++) {
		if ((rc = jg_stmt_prepare(conn, sqls[i], &st)) != 0)
			break;
		jg_stmt_bind_int64(st, 1, cutoff);
		rc = jg_stmt_run(st);
		*n = jg_store_changes(conn);
	}
	if (rc == 0)
		rc = jg_store_commit(conn);
	if (rc != 0)
		jg_store_rollback(conn);
	return rc;
}

static int64_t
retention_of(const struct jg_config *cfg, enum jg_telemetry_kind kind)
{
	switch (kind) {
	case JG_TELEMETRY_LOGS: return cfg->telemetry_logs_retention;
	case JG_TELEMETRY_TRACES: return cfg->telemetry_traces_retention;
	default: return cfg->telemetry_metrics_retention;
	}
}

int64_t
jg_telemetry_received_since(const struct jg_config *cfg, enum jg_telemetry_kind kind, int64_t now)
{
	/* the sweep removes received_at < now - retention: readers show the rest */
	return now - retention_of(cfg, kind);
}

#define AHEAD_DAYS 3 /* partitions made: today's and the next two days' */

static const char sql_partitions_pg[] =
    "SELECT jitgate_telemetry_partitions(?, CAST(? AS INTEGER))";
static const char sql_drop_pg[] =
    "SELECT partition_name, approx_rows FROM jitgate_telemetry_drop(?, ?)";

/* PostgreSQL: partitions made ahead, then the expired days' dropped, kind by kind. */
static int
sweep_pg(struct jg_store_conn *conn, const struct jg_config *cfg, int64_t now, int64_t *total)
{
	static const char *const parents[] = {"logs", "spans", "metric_points"};
	static const enum jg_telemetry_kind kinds[] = {JG_TELEMETRY_LOGS, JG_TELEMETRY_TRACES,
						       JG_TELEMETRY_METRICS};
	struct jg_stmt *st;
	int rc, s;

	if ((rc = jg_stmt_prepare(conn, sql_partitions_pg, &st)) != 0)
		return rc;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_int64(st, 2, AHEAD_DAYS);
	s = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (s != JG_STMT_ROW)
		return s < 0 ? s : JG_ESTORE;
	for (size_t k = 0; k < 3; k++) {
		if ((rc = jg_stmt_prepare(conn, sql_drop_pg, &st)) != 0)
			return rc;
		jg_stmt_bind_text(st, 1, parents[k]);
		jg_stmt_bind_int64(st, 2, jg_telemetry_received_since(cfg, kinds[k], now));
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW)
			*total += jg_stmt_column_int64(st, 1);
		jg_stmt_finish(st);
		if (s != JG_STMT_DONE)
			return s < 0 ? s : JG_ESTORE;
	}
	return 0;
}

int
jg_telemetry_sweep(struct jg_store *db, const struct jg_config *cfg, int64_t now, int64_t *deleted)
{
	static const char *const logs[] = {sql_del_fts, sql_del_fts_red, sql_del_logs};
	static const char *const spans[] = {sql_del_spans};
	static const char *const points[] = {sql_del_points};
	const struct {
		const char *const *sqls;
		size_t n;
		int64_t retention;
	} kinds[] = {{logs, 3, cfg->telemetry_logs_retention},
		     {spans, 1, cfg->telemetry_traces_retention},
		     {points, 1, cfg->telemetry_metrics_retention}};
	struct jg_store_conn *conn;
	int64_t total = 0;
	int rc = 0;

	if (jg_store_acquire(db, &conn) != 0)
		return JG_ESTORE;
	if (jg_store_conn_engine(conn) == JG_STORE_POSTGRES) {
		rc = sweep_pg(conn, cfg, now, &total);
		jg_store_release(db, conn);
		if (deleted)
			*deleted = total;
		return rc;
	}
	for (size_t k = 0; k < 3 && rc == 0; k++) {
		int n;
		do {
			n = 0;
			rc = delete_chunk(conn, kinds[k].sqls, kinds[k].n, now - kinds[k].retention,
					  &n);
			total += n;
		} while (rc == 0 && n == CHUNK);
	}
	jg_store_release(db, conn);
	if (deleted)
		*deleted = total;
	return rc;
}

struct jg_telemetry_sweeper {
	struct jg_store *db;
	const struct jg_config *cfg;
	struct jg_thread *thread;
	struct jg_store_leader *leader; /* "telemetry-retention": one replica sweeps at a time */
	int64_t pending;		/* rows deleted since the last log line */
	bool logged;			/* a line was written, at last_log_ms (CLOCK_MONOTONIC) */
	int64_t last_log_ms;
};

#define SWEEP_MS 1000
/* Deletions are logged at most once a minute (their sum), so steady traffic does not flood the log.
 */
#define SWEEP_LOG_MS 60000

static int64_t
monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One sweep.  The cutoff is read from the wall clock on purpose: a row's
 * received_at is the wall-clock second ingest stamped on it (api_ingest.c),
 * and retention counts from there, so both sides of the comparison come
 * from one clock.  A step back of the wall clock keeps rows that much
 * longer (never deletes early); a step forward deletes that much sooner.
 */
static int64_t
sweep_tick(void *arg)
{
	struct jg_telemetry_sweeper *sw = arg;
	int64_t n = 0, now = (int64_t)time(NULL);
	bool held = false;

	/* another replica sweeps (PostgreSQL); SQLite always holds it */
	if (jg_store_leader_poll(sw->leader, &held) != 0 || !held)
		return SWEEP_MS;
	if (jg_telemetry_sweep(sw->db, sw->cfg, now, &n) != 0)
		jg_log(JG_LOG_WARN, "telemetry sweeper: cannot delete expired data now; will retry",
		       NULL);
	sw->pending += n;
	int64_t mono = monotonic_ms();
	if (sw->pending > 0 && (!sw->logged || mono - sw->last_log_ms >= SWEEP_LOG_MS)) {
		jg_logf(JG_LOG_INFO, "telemetry sweeper: deleted %lld expired rows",
			(long long)sw->pending);
		sw->pending = 0;
		sw->logged = true;
		sw->last_log_ms = mono;
	}
	return SWEEP_MS;
}

int
jg_telemetry_sweeper_start(struct jg_store *db, const struct jg_config *cfg,
			   struct jg_telemetry_sweeper **out)
{
	struct jg_telemetry_sweeper *sw = calloc(1, sizeof(*sw));
	*out = NULL;
	if (sw == NULL)
		return JG_ENOMEM;
	sw->db = db;
	sw->cfg = cfg;
	int rc = jg_store_leader_new(db, "telemetry-retention", &sw->leader);
	if (rc == 0)
		rc = jg_thread_start(&sw->thread, "jg-retention", SWEEP_MS, sweep_tick, sw);
	if (rc != 0) {
		jg_store_leader_free(sw->leader);
		free(sw);
		return rc;
	}
	*out = sw;
	return 0;
}

void
jg_telemetry_sweeper_stop(struct jg_telemetry_sweeper *sw)
{
	if (sw == NULL)
		return;
	jg_thread_stop(sw->thread);
	jg_store_leader_free(sw->leader); /* after the thread: it polls the leader */
	free(sw);
}
