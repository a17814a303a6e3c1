/*
 * telemetry_store.c - storing converted records (otlp.h): logs with their
 * two search index entries, spans, metric points.  Rows are written through
 * prepared statements only, one transaction per batch: all of it or nothing.
 *
 * The engines differ in three places.  The search index: on SQLite a log's
 * two texts go into the FTS5 tables under the row's id; on PostgreSQL into
 * the row itself as two tsvectors of the shared tokenizer's tokens
 * (telemetry_search.c), one tokenizer per batch.  A resent span: SQLite's
 * primary key ignores it (ON CONFLICT DO NOTHING); PostgreSQL's tables are
 * partitioned by receipt day and a unique key cannot span partitions, so
 * each span is inserted only if (service, trace_id, span_id) is not there
 * yet, under a transaction advisory lock on (service, trace_id) that a
 * concurrent batch with the same trace waits for; a batch takes its locks
 * in ascending key order, so two batches never wait for each other in a
 * cycle.  And a missing partition: a PostgreSQL row whose day has no
 * partition yet (the retention job makes them days ahead) fails the batch,
 * which makes the day's partitions (jitgate_telemetry_partitions) and runs
 * once more, so no batch is refused for want of one.
 */
#include <stdlib.h>
#include <string.h>

#include "jitgate/sha256.h"
#include "telemetry_int.h"

const char *const jg_telemetry_tables[] = {"logs",  "logs_fts",	     "logs_fts_redacted",
					   "spans", "metric_points", "telemetry_schema_migrations",
					   NULL};

static const char sql_log_insert[] =
    "INSERT INTO logs (service, time_ns, severity_number, level, trace_id, span_id, record, "
    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"; /* no RETURNING: see store.h */
static const char sql_fts_insert[] = "INSERT INTO logs_fts (rowid, text) VALUES (?, ?)";
static const char sql_fts_red_insert[] =
    "INSERT INTO logs_fts_redacted (rowid, text) VALUES (?, ?)";
static const char sql_span_insert[] =
    "INSERT INTO spans (service, trace_id, span_id, parent_span_id, start_ns, end_ns, status, "
    "span, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (service, trace_id, span_id) DO NOTHING";
static const char sql_log_insert_pg[] =
    "INSERT INTO logs (service, time_ns, severity_number, level, trace_id, span_id, record, "
    "received_at, search, search_redacted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS tsvector), "
    "CAST(? AS tsvector))";
/* the two-key form of advisory locks: a space of its own, apart from every bigint key */
static const char sql_span_lock_pg[] =
    "SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))";
static const char sql_span_insert_pg[] =
    "INSERT INTO spans (service, trace_id, span_id, parent_span_id, start_ns, end_ns, status, "
    "span, received_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE NOT EXISTS "
    "(SELECT 1 FROM spans WHERE service = ?1 AND trace_id = ?2 AND span_id = ?3)";
static const char sql_partitions_pg[] = "SELECT jitgate_telemetry_partitions(?, 1)";
#define SPAN_LOCK_CLASS 0x6a677370 /* "jgsp": the first key of a span lock */

static const char sql_point_insert[] =
    "INSERT INTO metric_points (service, name, kind, unit, description, temporality, monotonic, "
    "series, start_ns, time_ns, value, histogram, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static int64_t
int_member(json_t *o, const char *k)
{
	return (int64_t)json_integer_value(json_object_get(o, k));
}

static void
bind_log(struct jg_stmt *st, const char *service, json_t *r, const char *text, int64_t now)
{
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_int64(st, 2, int_member(r, "time_ns"));
	jg_stmt_bind_int64(st, 3, int_member(r, "severity_number"));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(r, "level")));
	jg_stmt_bind_text(st, 5, json_string_value(json_object_get(r, "trace_id")));
	jg_stmt_bind_text(st, 6, json_string_value(json_object_get(r, "span_id")));
	jg_stmt_bind_text(st, 7, text);
	jg_stmt_bind_int64(st, 8, now);
}

/* SQLite: the row, then its two FTS5 rows under its id. */
static int
insert_log_sqlite(struct jg_store_conn *conn, const char *service, json_t *r, const char *text,
		  const char *raw, const char *red, int64_t now)
{
	struct jg_stmt *st;
	int rc;

	if ((rc = jg_stmt_prepare(conn, sql_log_insert, &st)) != 0)
		return rc;
	bind_log(st, service, r, text, now);
	if ((rc = jg_stmt_run(st)) != 0)
		return rc;
	int64_t id = jg_store_last_insert_rowid(conn);
	if ((rc = jg_stmt_prepare(conn, sql_fts_insert, &st)) != 0)
		return rc;
	jg_stmt_bind_int64(st, 1, id);
	jg_stmt_bind_text(st, 2, raw);
	if ((rc = jg_stmt_run(st)) != 0)
		return rc;
	if ((rc = jg_stmt_prepare(conn, sql_fts_red_insert, &st)) != 0)
		return rc;
	jg_stmt_bind_int64(st, 1, id);
	jg_stmt_bind_text(st, 2, red);
	return jg_stmt_run(st);
}

/* PostgreSQL: one row holding both texts' tokens. */
static int
insert_log_pg(struct jg_store_conn *conn, struct jg_tokenizer *tk, const char *service, json_t *r,
	      const char *text, const char *raw, const char *red, int64_t now)
{
	struct jg_stmt *st;
	char *raw_tsv = NULL, *red_tsv = NULL;
	int rc;

	if ((rc = jg_telemetry_tsvector(tk, raw, &raw_tsv)) != 0 ||
	    (rc = jg_telemetry_tsvector(tk, red, &red_tsv)) != 0)
		goto out;
	if ((rc = jg_stmt_prepare(conn, sql_log_insert_pg, &st)) != 0)
		goto out;
	bind_log(st, service, r, text, now);
	jg_stmt_bind_text(st, 9, raw_tsv);
	jg_stmt_bind_text(st, 10, red_tsv);
	rc = jg_stmt_run(st);
out:
	free(raw_tsv);
	free(red_tsv);
	return rc;
}

static int
store_log(struct jg_store_conn *conn, struct jg_tokenizer *tk, const char *service, json_t *r,
	  char *const *fields, int64_t now)
{
	int rc;

	json_t *rec = json_pack(
	    "{s:O,s:O,s:O,s:O,s:O,s:O}", "body", json_object_get(r, "body"), "attributes",
	    json_object_get(r, "attributes"), "resource", json_object_get(r, "resource"), "scope",
	    json_object_get(r, "scope"), "severity_text", json_object_get(r, "severity_text"),
	    "observed_ns", json_object_get(r, "observed_ns"));
	char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	char *raw = jg_telemetry_log_text(r, NULL);
	char *red = jg_telemetry_log_text(r, fields);
	json_decref(rec);
	if (text == NULL || raw == NULL || red == NULL)
		rc = JG_ENOMEM;
	else if (tk != NULL)
		rc = insert_log_pg(conn, tk, service, r, text, raw, red, now);
	else
		rc = insert_log_sqlite(conn, service, r, text, raw, red, now);
	free(text);
	free(raw);
	free(red);
	return rc;
}

static void
bind_span(struct jg_stmt *st, const char *service, json_t *s, const char *text, int64_t now)
{
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_text(st, 2, json_string_value(json_object_get(s, "trace_id")));
	jg_stmt_bind_text(st, 3, json_string_value(json_object_get(s, "span_id")));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(s, "parent_span_id")));
	jg_stmt_bind_int64(st, 5, int_member(s, "start_ns"));
	jg_stmt_bind_int64(st, 6, int_member(s, "end_ns"));
	jg_stmt_bind_text(st, 7, json_string_value(json_object_get(s, "status")));
	jg_stmt_bind_text(st, 8, text);
	jg_stmt_bind_int64(st, 9, now);
}

/* The second key of a span's lock: 32 bits of SHA-256 over "service\0trace_id". */
static int
span_lock_key(const char *service, json_t *s, int32_t *key)
{
	const char *tid = json_string_value(json_object_get(s, "trace_id"));
	uint8_t d[JG_SHA256_LEN];
	if (tid == NULL || jg_sha256_2(service, strlen(service) + 1, tid, strlen(tid), d) != 0)
		return JG_ESTORE;
	*key = (int32_t)(((uint32_t)d[0] << 24) | ((uint32_t)d[1] << 16) | ((uint32_t)d[2] << 8) |
			 (uint32_t)d[3]);
	return 0;
}

/* key: the span's lock key (PostgreSQL; taken before the look and the insert), or NULL (SQLite). */
static int
store_span(struct jg_store_conn *conn, const char *service, json_t *s, const int32_t *key,
	   int64_t now)
{
	struct jg_stmt *st;
	char *text = json_dumps(s, JSON_COMPACT);
	int rc = text ? 0 : JG_ENOMEM;

	if (rc == 0 && key != NULL && (rc = jg_stmt_prepare(conn, sql_span_lock_pg, &st)) == 0) {
		jg_stmt_bind_int64(st, 1, SPAN_LOCK_CLASS);
		jg_stmt_bind_int64(st, 2, *key);
		rc = jg_stmt_step(st) == JG_STMT_ROW ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (rc == 0 &&
	    (rc = jg_stmt_prepare(conn, key ? sql_span_insert_pg : sql_span_insert, &st)) == 0) {
		bind_span(st, service, s, text, now);
		rc = jg_stmt_run(st);
	}
	free(text);
	return rc;
}

static int
store_point(struct jg_store_conn *conn, const char *service, json_t *p, int64_t now)
{
	struct jg_stmt *st;
	char *series = json_dumps(json_object_get(p, "series"), JSON_COMPACT | JSON_SORT_KEYS);
	json_t *h = json_object_get(p, "histogram");
	char *hist = h ? json_dumps(h, JSON_COMPACT) : NULL;
	int rc;

	if (series == NULL || (h != NULL && hist == NULL)) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_point_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_text(st, 2, json_string_value(json_object_get(p, "name")));
	jg_stmt_bind_text(st, 3, json_string_value(json_object_get(p, "kind")));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(p, "unit")));
	jg_stmt_bind_text(st, 5, json_string_value(json_object_get(p, "description")));
	jg_stmt_bind_text(st, 6, json_string_value(json_object_get(p, "temporality")));
	jg_stmt_bind_int64(st, 7, json_is_true(json_object_get(p, "monotonic")));
	jg_stmt_bind_text(st, 8, series);
	jg_stmt_bind_int64(st, 9, int_member(p, "start_ns"));
	jg_stmt_bind_int64(st, 10, int_member(p, "time_ns"));
	json_t *v = json_object_get(p, "value");
	if (json_is_number(v))
		jg_stmt_bind_double(st, 11, json_number_value(v));
	else
		jg_stmt_bind_null(st, 11);
	jg_stmt_bind_text(st, 12, hist);
	jg_stmt_bind_int64(st, 13, now);
	rc = jg_stmt_run(st);
out:
	free(series);
	free(hist);
	return rc;
}

enum kind { LOGS, SPANS, POINTS };

struct keyed {
	int32_t key;
	size_t at; /* index in the batch */
};

static int
keyed_cmp(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->at > b->at) - (a->at < b->at);
}

/* PostgreSQL: the spans' lock keys, sorted (ascending keys: no lock cycle). */
static int
span_order(const char *service, json_t *items, struct keyed **out)
{
	size_t n = json_array_size(items);
	struct keyed *k = calloc(n ? n : 1, sizeof(*k));
	int rc = k ? 0 : JG_ENOMEM;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		k[i].at = i;
		rc = span_lock_key(service, json_array_get(items, i), &k[i].key);
	}
	if (rc != 0) {
		free(k);
		return rc;
	}
	qsort(k, n, sizeof(*k), keyed_cmp);
	*out = k;
	return 0;
}

/* The whole batch in one transaction on conn; 0 or the first error (rolled back). */
static int
store_once(struct jg_store_conn *conn, struct jg_tokenizer *tk, const struct keyed *order,
	   enum kind kind, const char *service, json_t *items, char *const *fields, int64_t now)
{
	size_t n = json_array_size(items);
	int rc = jg_store_begin(conn);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *it = json_array_get(items, order ? order[i].at : i);
		switch (kind) {
		case LOGS: rc = store_log(conn, tk, service, it, fields, now); break;
		case SPANS:
			rc = store_span(conn, service, it, order ? &order[i].key : NULL, now);
			break;
		case POINTS: rc = store_point(conn, service, it, now); break;
		}
	}
	if (rc == 0)
		rc = jg_store_commit(conn);
	if (rc != 0)
		jg_store_rollback(conn);
	return rc;
}

/* PostgreSQL: the partitions of the day of now (a batch found none). */
static int
make_partitions(struct jg_store_conn *conn, int64_t now)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql_partitions_pg, &st);
	if (rc != 0)
		return rc;
	jg_stmt_bind_int64(st, 1, now);
	rc = jg_stmt_step(st) == JG_STMT_ROW ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

static int
store_batch(struct jg_store *db, enum kind kind, const char *service, json_t *items,
	    char *const *fields, int64_t now)
{
	struct jg_store_conn *conn;
	struct jg_tokenizer *tk = NULL;
	struct keyed *order = NULL;
	int rc = 0;

	if (jg_store_acquire(db, &conn) != 0)
		return JG_ESTORE;
	bool pg = jg_store_conn_engine(conn) == JG_STORE_POSTGRES;
	if (pg && kind == LOGS)
		rc = jg_tokenizer_new(&tk);
	else if (pg && kind == SPANS)
		rc = span_order(service, items, &order);
	if (rc == 0)
		rc = store_once(conn, tk, order, kind, service, items, fields, now);
	/* PostgreSQL: no partition for the row's day (SQLSTATE 23514) - make them, run again */
	if (pg && rc == JG_ECONFLICT && make_partitions(conn, now) == 0)
		rc = store_once(conn, tk, order, kind, service, items, fields, now);
	jg_store_release(db, conn);
	jg_tokenizer_free(tk);
	free(order);
	return rc == JG_ENOMEM ? rc : (rc != 0 ? JG_ESTORE : 0);
}

int
jg_telemetry_store_logs(struct jg_store *db, const char *service, json_t *records,
			char *const *fields, int64_t now)
{
	return store_batch(db, LOGS, service, records, fields, now);
}

int
jg_telemetry_store_spans(struct jg_store *db, const char *service, json_t *spans, int64_t now)
{
	return store_batch(db, SPANS, service, spans, NULL, now);
}

int
jg_telemetry_store_metrics(struct jg_store *db, const char *service, json_t *points, int64_t now)
{
	return store_batch(db, POINTS, service, points, NULL, now);
}
