/*
 * test_telemetry_pg.c - the telemetry database on a real PostgreSQL server,
 * as a deployment runs it: the tables of migrations/postgres/telemetry/
 * made by an owner role through jg_telemetry_migrate(), ingest, readers and
 * retention through a role that only holds jitgate_serving (tests/unit/
 * pgdb.h: a throwaway cluster of tests/lib/pg-cluster.sh; `make unit` runs
 * this under `pg-cluster.sh run`).
 *
 * The golden corpus: one batch of log records (addresses, host names, paths,
 * diacritics, mixed case, punctuation, quotes) stored on both engines, then
 * the same searches, as sent and redacted, paged three records at a time:
 * every page must hold the same record ids in the same order on SQLite and on
 * PostgreSQL.  That the corpus tells tokenizers apart is checked too: the
 * same single-word searches answered by PostgreSQL's own text search
 * (to_tsvector/phraseto_tsquery 'simple') differ from SQLite's answers for
 * most of them, as issue 17 measured - so a PostgreSQL search built on the
 * server's parser instead of the shared tokenizer would fail this test.
 *
 * Retention: partitions by receipt day, made ahead by the sweep and dropped
 * whole once their day is past the kind's retention; rows of a day only
 * partly past it stay, hidden from readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/config.h"
#include "jitgate/cursor.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"
#include "pgdb.h"
#include "unit_fs.h"

struct fixture {
	char root[64], db[64], owner_url[256], url[256], sqlite_path[128];
	struct jg_config pg, lite;	/* telemetry on PostgreSQL; on SQLite (the golden twin) */
	struct jg_store *pgdb, *litedb; /* serving connections */
	struct jg_cursor_keys *keys;
};

static char *fields[] = {"password", "customer_ref", NULL};

static void
migrate_and_open(struct jg_config *cfg, struct jg_store **out)
{
	char err[512] = "";
	int applied = -1;
	if (jg_telemetry_migrate(cfg, &applied, err, sizeof(err)) != 0)
		fail_msg("migrate %s: %s", cfg->telemetry_owner_store, err);
	assert_int_equal(applied, 1);
	if (jg_telemetry_open(cfg, out, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", cfg->telemetry_store, err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char kdir[128], err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-telpg-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(kdir, sizeof(kdir), "%s/keys", f->root);
	assert_int_equal(jg_keys_generate_kind(kdir, JG_KEY_CURSOR, err, sizeof(err)), 0);
	assert_int_equal(jg_cursor_keys_load(kdir, &f->keys, err, sizeof(err)), 0);

	/* an owner role migrates; jitgate serves holding only jitgate_serving */
	pgdb_create_owned(f->db, sizeof(f->db));
	pgdb_url(f->owner_url, sizeof(f->owner_url), PGDB_OWNER, f->db);
	pgdb_url(f->url, sizeof(f->url), "jitgate", f->db);
	f->pg.migrations_dir = "migrations";
	f->pg.telemetry_store = f->url;
	f->pg.telemetry_owner_store = f->owner_url;
	f->pg.telemetry_logs_retention = 2 * 86400;
	f->pg.telemetry_traces_retention = 3 * 86400;
	f->pg.telemetry_metrics_retention = 4 * 86400;
	char err2[512] = "";
	int applied = -1;
	if (jg_telemetry_migrate(&f->pg, &applied, err2, sizeof(err2)) != 0)
		fail_msg("migrate %s: %s", f->owner_url, err2);
	assert_int_equal(applied, 1);
	pgdb_must("GRANT jitgate_serving TO jitgate");
	if (jg_telemetry_open(&f->pg, &f->pgdb, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", f->url, err);

	snprintf(f->sqlite_path, sizeof(f->sqlite_path), "%s/telemetry.db", f->root);
	f->lite = f->pg;
	f->lite.telemetry_store = f->sqlite_path;
	f->lite.telemetry_owner_store = f->sqlite_path;
	migrate_and_open(&f->lite, &f->litedb);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_store_close(f->pgdb);
	jg_store_close(f->litedb);
	jg_cursor_keys_free(f->keys);
	pgdb_drop(f->db);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* One value of sql (bound to arg when not NULL) on db; -1 without a row. */
static int64_t
scalar(struct jg_store *db, const char *sql, const char *arg)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int64_t v = -1;
	assert_int_equal(jg_store_acquire(db, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, sql, &st), 0);
	if (arg)
		jg_stmt_bind_text(st, 1, arg);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(db, conn);
	return v;
}

static const int64_t T0 = 1795600800000000000LL;

static json_t *
log_at(const char *body, int64_t t, json_t *attrs)
{
	return json_pack("{s:I,s:I,s:i,s:s,s:s,s:s,s:o,s:{s:s},s:{},s:n,s:n}", "time_ns",
			 (json_int_t)t, "observed_ns", (json_int_t)t, "severity_number", 9,
			 "severity_text", "INFO", "level", "info", "body", body, "attributes",
			 attrs ? attrs : json_object(), "resource", "service.name", "pay", "scope",
			 "trace_id", "span_id");
}

/* ---- the golden corpus -------------------------------------------------------------- */

static const char *const corpus[] = {
    "card declined for alice@example.com",
    "connect to db.internal:5432 refused",
    "rotated /var/log/x.log at 03:00",
    "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 ordered by Zo\xc3\xab",
    "CREME fraiche out of stock",
    "user ALICE signed in from example.org",
    "com.example alice reversed",
    "x.log rotated; var log cleaned",
    "payment failed: timeout (DB.Internal)",
    "na\xc3\xafve caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9",
    "error: disk full on /var/log",
    "Stra\xc3\x9f\x65 und STRASSE",
    "Patrick O'Brien called about C:\\temp\\x.log",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\xad\xe3\x82\xb0 alice",
    "alice alice alice example example com",
    "refund for bob@example.com on db.internal",
};
#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

static const char *const searches[] = {
    "alice@example.com",
    "example",
    "example.com",
    "alice",
    "ALICE",
    "Alice@Example.COM",
    "db.internal",
    "internal",
    "DB",
    "/var/log/x.log",
    "x.log",
    "log",
    "var log",
    "creme",
    "Cr\xc3\xa8me",
    "brulee",
    "zoe",
    "cafe resume",
    "naive",
    "stra\xc3\x9f\x65",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\xad\xe3\x82\xb0",
    "declined alice",
    "5432",
    "timeout db",
    "hunter2",
    "CR-77",
    "cr 77",
    "o'brien",
    "C:\\temp",
    "com example",
    "03:00",
    "!!! alice",
    "nothing-here",
    "example.com alice bob",
};
#define NSEARCHES (sizeof(searches) / sizeof(searches[0]))

/* The corpus in one batch, received at now: ids 1..NCORPUS; times with ties. */
static void
store_corpus(struct jg_store *db, int64_t now)
{
	json_t *batch = json_array();
	for (size_t i = 0; i < NCORPUS; i++) {
		json_t *attrs =
		    i == 4 ? json_pack("{s:s,s:s}", "password", "hunter2", "customer_ref", "CR-77")
			   : NULL;
		/* every third record shares its time with the one before: ties order by id */
		int64_t t = T0 + (int64_t)(i - (i % 3 == 2 ? 1 : 0));
		json_array_append_new(batch, log_at(corpus[i], t, attrs));
	}
	assert_int_equal(jg_telemetry_store_logs(db, "pay", batch, fields, now), 0);
	json_decref(batch);
}

/*
 * Every record search q finds, paged 3 at a time by cursor: their ids in
 * order into ids (-1 ends a page), the count returned.
 */
static size_t
search_all(struct fixture *f, struct jg_store *db, const char *q, bool redact, int64_t *ids,
	   size_t max)
{
	char next[JG_TELEMETRY_CURSOR_MAX];
	struct jg_telemetry_logs_query lq = {.service = "pay",
					     .since = 0,
					     .until = INT64_MAX,
					     .q = q,
					     .after = {INT64_MAX, INT64_MAX},
					     .limit = 3,
					     .redact = redact,
					     .fields = fields,
					     .cursor_keys = f->keys};
	size_t n = 0;
	for (;;) {
		json_t *logs = NULL;
		int rc = jg_telemetry_logs_query(db, &lq, &logs, next);
		if (rc != 0)
			fail_msg("search '%s' (redact %d): %d", q, redact, rc);
		for (size_t i = 0; i < json_array_size(logs); i++) {
			assert_true(n < max);
			ids[n++] =
			    json_integer_value(json_object_get(json_array_get(logs, i), "id"));
		}
		json_decref(logs);
		assert_true(n < max);
		ids[n++] = -1; /* the end of a page */
		if (next[0] == '\0')
			return n;
		assert_int_equal(jg_telemetry_logs_cursor_parse(f->keys, next, &lq.after), 0);
	}
}

static void
print_ids(const char *engine, const int64_t *ids, size_t n)
{
	fprintf(stderr, "  %s:", engine);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, ids[i] < 0 ? " |" : " %lld", (long long)ids[i]);
	fprintf(stderr, "\n");
}

static bool
contains(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * PostgreSQL's own answer to a one-word search: its default parser over
 * the stored record, the word a phrase of the server's own tokens.
 */
static const char sql_native[] =
    "SELECT id FROM logs WHERE service = 'pay' AND "
    "to_tsvector('simple', record) @@ phraseto_tsquery('simple', ?) ORDER BY time_ns DESC, id DESC";

static size_t
native_search(struct jg_store *db, const char *word, int64_t *ids, size_t max)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	size_t n = 0;
	assert_int_equal(jg_store_acquire(db, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, sql_native, &st), 0);
	jg_stmt_bind_text(st, 1, word);
	while (jg_stmt_step(st) == JG_STMT_ROW && n < max)
		ids[n++] = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(db, conn);
	return n;
}

static void
test_golden_corpus_same_on_both_engines(void **state)
{
	struct fixture *f = *state;
	int64_t lite[64], pg[64];
	size_t differ = 0;

	store_corpus(f->litedb, 1000);
	store_corpus(f->pgdb, (int64_t)time(NULL));

	for (size_t s = 0; s < NSEARCHES; s++) {
		for (int redact = 0; redact < 2; redact++) {
			size_t nl = search_all(f, f->litedb, searches[s], redact, lite, 64);
			size_t np = search_all(f, f->pgdb, searches[s], redact, pg, 64);
			if (nl != np || memcmp(lite, pg, nl * sizeof(*lite)) != 0) {
				fprintf(stderr, "search '%s' (redact %d) differs:\n", searches[s],
					redact);
				print_ids("sqlite", lite, nl);
				print_ids("postgres", pg, np);
				differ++;
			}
		}
	}
	assert_int_equal(differ, 0);

	/* what the searches are for: the corpus makes them find something, and the right thing */
	size_t n = search_all(f, f->pgdb, "example", false, pg, 64);
	assert_true(contains(pg, n, 1) && contains(pg, n, 6) && contains(pg, n, 16));
	n = search_all(f, f->pgdb, "internal", false, pg, 64);
	assert_true(contains(pg, n, 2) && contains(pg, n, 9) && contains(pg, n, 16));
	n = search_all(f, f->pgdb, "creme", false, pg, 64);
	assert_true(contains(pg, n, 4) && contains(pg, n, 5));
	n = search_all(f, f->pgdb, "/var/log/x.log", false, pg, 64);
	assert_true(contains(pg, n, 3) && !contains(pg, n, 8) && !contains(pg, n, 11));
	n = search_all(f, f->pgdb, "example.com", false, pg, 64);
	assert_true(contains(pg, n, 1) && contains(pg, n, 15) && !contains(pg, n, 7));
	/* 16 records, 3 a page, newest first: the whole list is 6 pages */
	n = search_all(f, f->pgdb, NULL, false, pg, 64);
	assert_int_equal(n, 16 + 6);
	assert_true(pg[0] == 16 && pg[1] == 15 && pg[2] == 14 && pg[n - 2] == 1);
	/* redacted: a value that was redacted is not found; as sent it is */
	assert_int_equal(search_all(f, f->pgdb, "hunter2", true, pg, 64), 1);
	assert_int_equal(search_all(f, f->pgdb, "hunter2", false, pg, 64), 2);

	/*
	 * The corpus tells tokenizers apart: PostgreSQL's own parser keeps
	 * alice@example.com, db.internal and /var/log/x.log whole and keeps
	 * diacritics, so its answers to most one-word searches differ.
	 */
	size_t native_differ = 0;
	for (size_t s = 0; s < NSEARCHES; s++) {
		if (strchr(searches[s], ' ') != NULL)
			continue;
		size_t nl = search_all(f, f->litedb, searches[s], false, lite, 64), k = 0;
		int64_t want[64] = {0};
		for (size_t i = 0; i < nl; i++)
			if (lite[i] >= 0)
				want[k++] = lite[i];
		size_t nn = native_search(f->pgdb, searches[s], pg, 64);
		native_differ += nn != k || memcmp(want, pg, k * sizeof(*want)) != 0;
	}
	fprintf(stderr, "PostgreSQL's own text search differs in %zu one-word searches\n",
		native_differ);
	assert_true(native_differ >= 12);
}

/* ---- spans and metric points --------------------------------------------------------- */

static json_t *
span_of(const char *tid, const char *sid, const char *parent, int64_t start, const char *status)
{
	return json_pack("{s:s,s:s,s:s?,s:s,s:I,s:I,s:s,s:{},s:[]}", "trace_id", tid, "span_id",
			 sid, "parent_span_id", parent, "name", "POST /pay", "start_ns",
			 (json_int_t)start, "end_ns", (json_int_t)start + 5000000, "status", status,
			 "attributes", "events");
}

#define TRACE_A "0af7651916cd43dd8448eb211c80319c"

static void
test_spans_on_postgres(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL);
	json_t *spans = NULL, *list = NULL;

	json_t *batch =
	    json_pack("[o,o]", span_of(TRACE_A, "b7ad6b7169203331", NULL, T0, "ok"),
		      span_of(TRACE_A, "00f067aa0ba902b7", "b7ad6b7169203331", T0 + 1000, "error"));
	assert_int_equal(jg_telemetry_store_spans(f->pgdb, "pay", batch, now), 0);
	/* a resent batch changes nothing: one span per (service, trace, span) */
	assert_int_equal(jg_telemetry_store_spans(f->pgdb, "pay", batch, now), 0);
	json_decref(batch);
	assert_int_equal(scalar(f->pgdb, "SELECT count(*) FROM spans", NULL), 2);

	assert_int_equal(jg_telemetry_trace(f->pgdb, "pay", TRACE_A, 0, false, fields, &spans), 0);
	assert_int_equal(json_array_size(spans), 2);
	json_decref(spans);
	assert_int_equal(jg_telemetry_trace(f->pgdb, "ledger", TRACE_A, 0, false, fields, &spans),
			 JG_ENOTFOUND);
	struct jg_telemetry_traces_query q = {
	    .service = "pay", .since = 0, .until = INT64_MAX, .errors_only = true, .limit = 10};
	assert_int_equal(jg_telemetry_traces_search(f->pgdb, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 1);
	json_t *t = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(t, "errors")), 1);
	assert_string_equal(json_string_value(json_object_get(t, "root_name")), "POST /pay");
	json_decref(list);
	/* a longest duration: bound as a parameter of its own, 0 meaning none */
	q.max_duration_ns = 1;
	assert_int_equal(jg_telemetry_traces_search(f->pgdb, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	q.max_duration_ns = INT64_MAX;
	assert_int_equal(jg_telemetry_traces_search(f->pgdb, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
}

/* ---- attribute filters: the same traces, in the same order, on both engines ------------ */

#define TA1 "a1000000000000000000000000000001"
#define TA2 "a2000000000000000000000000000002"
#define TA3 "a3000000000000000000000000000003"
#define TA4 "a4000000000000000000000000000004"

static json_t *
attr_span(const char *tid, const char *sid, const char *parent, int64_t start, json_t *attrs,
	  json_t *events)
{
	return json_pack("{s:s,s:s,s:s?,s:s,s:I,s:I,s:s,s:o,s:o}", "trace_id", tid, "span_id", sid,
			 "parent_span_id", parent, "name", "op", "start_ns", (json_int_t)start,
			 "end_ns", (json_int_t)start + 5000000, "status", "ok", "attributes", attrs,
			 "events", events ? events : json_array());
}

/* Stores the corpus: pay's spans start at T0, +1000, ... +4000; ledger's span of TA3 after. */
static void
attr_corpus(struct jg_store *db)
{
	int64_t now = (int64_t)time(NULL);
	json_t *pay = json_pack(
	    "[o,o,o,o,o]",
	    attr_span(TA1, "1000000000000001", NULL, T0,
		      json_pack("{s:s,s:s}", "http.route", "/checkout", "tier", "gold"), NULL),
	    attr_span(TA1, "1000000000000002", "1000000000000001", T0 + 1000,
		      json_pack("{s:s}", "db.system", "postgres"),
		      json_pack("[{s:s,s:I,s:{s:s}}]", "name", "exception", "time_ns",
				(json_int_t)T0 + 1500, "attributes", "http.route", "/event-only")),
	    attr_span(TA2, "2000000000000001", NULL, T0 + 2000,
		      json_pack("{s:s,s:i,s:s,s:[s]}", "http.route", "/checkout", "retries", 3,
				"note", "a\"b \xc3\xa9\\", "list", "/checkout"),
		      NULL),
	    attr_span(TA3, "3000000000000001", NULL, T0 + 3000,
		      json_pack("{s:s}", "http.route", "/refund"), NULL),
	    attr_span(TA4, "4000000000000001", NULL, T0 + 4000, json_pack("{s:s}", "retries", "3"),
		      NULL));
	json_t *ledger =
	    json_pack("[o]", attr_span(TA3, "3000000000000002", "3000000000000001", T0 + 5000,
				       json_pack("{s:s}", "http.route", "/checkout"), NULL));
	assert_int_equal(jg_telemetry_store_spans(db, "pay", pay, now), 0);
	assert_int_equal(jg_telemetry_store_spans(db, "ledger", ledger, now), 0);
	json_decref(pay);
	json_decref(ledger);
}

/* The trace ids a filtered search finds, comma-separated, and where it was narrowed to. */
static void
attr_search(struct jg_store *db, const char *svc, const char *const *kv, size_t n, size_t scan_max,
	    int64_t until, char *out, size_t len, int64_t *narrowed)
{
	struct jg_telemetry_attr attrs[JG_TELEMETRY_ATTR_MAX];
	struct jg_telemetry_traces_query q = {.service = svc,
					      .since = 0,
					      .until = until,
					      .limit = 10,
					      .attrs = attrs,
					      .nattrs = n,
					      .scan_max = scan_max};
	json_t *list = NULL, *t;
	size_t i, used = 0;

	for (i = 0; i < n; i++)
		attrs[i] = (struct jg_telemetry_attr){kv[2 * i], kv[2 * i + 1]};
	assert_int_equal(jg_telemetry_traces_search(db, &q, &list, narrowed), 0);
	out[0] = '\0';
	json_array_foreach(list, i, t)
	{
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "",
					 json_string_value(json_object_get(t, "trace_id")));
	}
	json_decref(list);
}

static void
attr_expect(struct fixture *f, const char *svc, const char *const *kv, size_t n, size_t scan_max,
	    int64_t until, const char *want, int64_t want_narrowed)
{
	struct jg_store *dbs[2] = {f->litedb, f->pgdb};
	for (int e = 0; e < 2; e++) {
		char got[256];
		int64_t narrowed = 0;
		attr_search(dbs[e], svc, kv, n, scan_max, until, got, sizeof(got), &narrowed);
		if (strcmp(got, want) != 0 || narrowed != want_narrowed)
			fail_msg("%s, %s=%s...: got [%s] narrowed %lld, want [%s] %lld",
				 e ? "PostgreSQL" : "SQLite", svc, kv[0], got, (long long)narrowed,
				 want, (long long)want_narrowed);
	}
}

static void
test_attr_filter_same_on_both_engines(void **state)
{
	struct fixture *f = *state;
	attr_corpus(f->litedb);
	attr_corpus(f->pgdb);

	static const char *const route[] = {"http.route", "/checkout"};
	attr_expect(f, "pay", route, 1, 0, INT64_MAX, TA2 "," TA1, -1);
	/* all filters must match, each on any span of the service in the trace */
	static const char *const two[] = {"http.route", "/checkout", "db.system", "postgres"};
	attr_expect(f, "pay", two, 2, 0, INT64_MAX, TA1, -1);
	static const char *const same_span[] = {"tier", "gold", "http.route", "/checkout"};
	attr_expect(f, "pay", same_span, 2, 0, INT64_MAX, TA1, -1);
	static const char *const none[] = {"http.route", "/nothing"};
	attr_expect(f, "pay", none, 1, 0, INT64_MAX, "", -1);
	/* exact: no case folding, no wildcard, no prefix */
	static const char *const upper[] = {"http.route", "/CHECKOUT"};
	attr_expect(f, "pay", upper, 1, 0, INT64_MAX, "", -1);
	static const char *const like[] = {"http.route", "/check%"};
	attr_expect(f, "pay", like, 1, 0, INT64_MAX, "", -1);
	static const char *const glob[] = {"http.route", "*"};
	attr_expect(f, "pay", glob, 1, 0, INT64_MAX, "", -1);
	static const char *const keylike[] = {"http.%", "/checkout"};
	attr_expect(f, "pay", keylike, 1, 0, INT64_MAX, "", -1);
	/* an event's attributes are not the span's */
	static const char *const event[] = {"http.route", "/event-only"};
	attr_expect(f, "pay", event, 1, 0, INT64_MAX, "", -1);
	/* strings only: the integer 3 and the array ["/checkout"] never match */
	static const char *const retries[] = {"retries", "3"};
	attr_expect(f, "pay", retries, 1, 0, INT64_MAX, TA4, -1);
	static const char *const list[] = {"list", "/checkout"};
	attr_expect(f, "pay", list, 1, 0, INT64_MAX, "", -1);
	/* JSON escapes and UTF-8 compare as the text they stand for */
	static const char *const note[] = {"note", "a\"b \xc3\xa9\\"};
	attr_expect(f, "pay", note, 1, 0, INT64_MAX, TA2, -1);
	/* only the service's own spans are searched: ledger's /checkout is not pay's */
	attr_expect(f, "ledger", route, 1, 0, INT64_MAX, TA3, -1);
	static const char *const refund_checkout[] = {"http.route", "/refund", "http.route",
						      "/checkout"};
	attr_expect(f, "pay", refund_checkout, 2, 0, INT64_MAX, "", -1);
	/*
	 * The bound: at most scan_max spans of pay, the newest; the window then
	 * starts at the scan_max-th newest span's start, and until= that start
	 * goes on where the search stopped.
	 */
	attr_expect(f, "pay", route, 1, 2, INT64_MAX, "", T0 + 3000);
	attr_expect(f, "pay", route, 1, 3, INT64_MAX, TA2, T0 + 2000);
	attr_expect(f, "pay", route, 1, 3, T0 + 2000, TA1, -1);
	attr_expect(f, "pay", route, 1, 5, INT64_MAX, TA2 "," TA1, -1);
	/* TA1's span at T0 + 1000 is examined, its root at T0 (the one with the route) is not */
	attr_expect(f, "pay", route, 1, 4, INT64_MAX, TA2, T0 + 1000);
	static const char *const db[] = {"db.system", "postgres"};
	attr_expect(f, "pay", db, 1, 4, INT64_MAX, TA1, T0 + 1000);
}

static json_t *
point_of(const char *name, const char *unit, int64_t t, double v)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s},s:I,s:I,s:f}", "name", name, "kind",
			 "gauge", "unit", unit, "description", "latency of a call", "temporality",
			 "unspecified", "monotonic", 0, "series", "route", "/pay", "start_ns",
			 (json_int_t)0, "time_ns", (json_int_t)t, "value", v);
}

/* The metric list once selected unit beside GROUP BY name, kind, which PostgreSQL refuses. */
static void
test_metric_names_and_series_on_postgres(void **state)
{
	struct fixture *f = *state;
	json_t *list = NULL;

	json_t *points = json_pack("[o,o,o]", point_of("latency", "ms", T0 + 1, 4),
				   point_of("latency", "s", T0 + 3, 0.005),
				   point_of("latency", "ms", T0 + 2, 6));
	assert_int_equal(jg_telemetry_store_metrics(f->pgdb, "pay", points, (int64_t)time(NULL)),
			 0);
	json_decref(points);

	assert_int_equal(jg_telemetry_metric_names(f->pgdb, "pay", 0, INT64_MAX, 0, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_t *m = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(m, "name")), "latency");
	assert_string_equal(json_string_value(json_object_get(m, "unit")), "s"); /* the newest */
	assert_int_equal(json_integer_value(json_object_get(m, "points")), 3);
	assert_string_equal(json_string_value(json_object_get(m, "last")),
			    "2026-11-25T10:00:00.000000003Z");
	json_decref(list);

	struct jg_telemetry_metrics_query q = {
	    .service = "pay", .name = "latency", .since = 0, .until = INT64_MAX};
	assert_int_equal(jg_telemetry_metric_series(f->pgdb, &q, &list), 0);
	json_t *series = json_object_get(json_array_get(list, 0), "series");
	assert_int_equal(json_array_size(series), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(series, 0), "points")), 3);
	json_decref(list);
}

/* ---- retention ------------------------------------------------------------------------ */

static bool
partition_exists(struct fixture *f, const char *parent, int64_t at)
{
	char name[64];
	time_t t = (time_t)at;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(name, sizeof(name), "%s_%04d%02d%02d", parent, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
	return scalar(f->pgdb, "SELECT count(*) FROM pg_class WHERE relname = ?", name) == 1;
}

static void
store_log_received(struct fixture *f, const char *body, int64_t received)
{
	json_t *batch = json_pack("[o]", log_at(body, T0, NULL));
	assert_int_equal(jg_telemetry_store_logs(f->pgdb, "pay", batch, fields, received), 0);
	json_decref(batch);
}

static size_t
visible(struct fixture *f, int64_t received_since)
{
	char next[JG_TELEMETRY_CURSOR_MAX];
	json_t *logs = NULL;
	struct jg_telemetry_logs_query q = {.service = "pay",
					    .since = 0,
					    .until = INT64_MAX,
					    .after = {INT64_MAX, INT64_MAX},
					    .received_since = received_since,
					    .limit = 100,
					    .fields = fields};
	assert_int_equal(jg_telemetry_logs_query(f->pgdb, &q, &logs, next), 0);
	size_t n = json_array_size(logs);
	json_decref(logs);
	return n;
}

static void
test_retention_drops_day_partitions(void **state)
{
	struct fixture *f = *state;
	const int64_t day = 86400;
	int64_t now = (int64_t)time(NULL), dropped = -1;

	if (now % day < 2) { /* "just past" below must not end its day at the cutoff itself */
		sleep(2);
		now = (int64_t)time(NULL);
	}
	int64_t cutoff = now - 2 * day; /* logs are kept 2 days */

	/* ingest makes the partition of a day that has none (the migration made today's on) */
	assert_false(partition_exists(f, "logs", now - 4 * day));
	store_log_received(f, "four days ago", now - 4 * day);
	store_log_received(f, "three days ago", now - 3 * day);
	store_log_received(f, "just past retention", cutoff - 1);
	store_log_received(f, "just within retention", cutoff + 1);
	store_log_received(f, "now", now);
	assert_true(partition_exists(f, "logs", now - 4 * day));
	json_t *pts = json_pack("[o]", point_of("latency", "ms", T0, 1));
	assert_int_equal(jg_telemetry_store_metrics(f->pgdb, "pay", pts, now - 4 * day), 0);
	json_decref(pts);

	/* the partitions of 4 and 3 days ago end before the cutoff: dropped whole */
	assert_int_equal(jg_telemetry_sweep(f->pgdb, &f->pg, now, &dropped), 0);
	assert_false(partition_exists(f, "logs", now - 4 * day));
	assert_false(partition_exists(f, "logs", now - 3 * day));
	/* the cutoff's own day is not over at the cutoff: its partition stays, rows and all */
	assert_true(partition_exists(f, "logs", cutoff - 1));
	assert_int_equal(scalar(f->pgdb, "SELECT count(*) FROM logs", NULL), 3);
	/* metric points are kept 4 days: the partition of 4 days ago ends after now - 4d */
	assert_true(partition_exists(f, "metric_points", now - 4 * day));
	assert_int_equal(scalar(f->pgdb, "SELECT count(*) FROM metric_points", NULL), 1);
	/* made ahead: the next two days' partitions of every table, not more */
	assert_true(partition_exists(f, "logs", now + day));
	assert_true(partition_exists(f, "spans", now + 2 * day));
	assert_true(partition_exists(f, "metric_points", now + 2 * day));
	assert_false(partition_exists(f, "logs", now + 3 * day));

	/* the row past retention in a day not yet dropped stays, but no reader sees it */
	int64_t since = jg_telemetry_received_since(&f->pg, JG_TELEMETRY_LOGS, now);
	assert_int_equal(since, cutoff);
	assert_int_equal(visible(f, 0), 3);
	assert_int_equal(visible(f, since), 2);

	/* a second sweep finds nothing more to drop */
	assert_int_equal(jg_telemetry_sweep(f->pgdb, &f->pg, now, &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(scalar(f->pgdb, "SELECT count(*) FROM logs", NULL), 3);

	/* the serving role drops only through the function: a DROP of its own is refused */
	struct jg_store_conn *c;
	char err[256] = "", sql[96];
	time_t t = (time_t)(cutoff - 1);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(sql, sizeof(sql), "DROP TABLE logs_%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
	assert_int_equal(jg_store_acquire(f->pgdb, &c), 0);
	assert_int_not_equal(jg_store_exec_script(c, sql, err, sizeof(err)), 0);
	jg_store_release(f->pgdb, c);
	assert_true(partition_exists(f, "logs", cutoff - 1));
}

int
main(int argc, char **argv)
{
	(void)argc;
	pgdb_init("test_telemetry_pg", argv);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_golden_corpus_same_on_both_engines, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spans_on_postgres, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attr_filter_same_on_both_engines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metric_names_and_series_on_postgres, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_retention_drops_day_partitions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
