/*
 * telemetry_bench.c - measurements for bench/telemetry.sh (`make bench`).
 *
 *   telemetry_bench body logs|spans SERVICE N FILE
 *       writes an OTLP/HTTP JSON batch of N records for POST /v1/ingest/...;
 *       every trace id starts with the 16 characters PLACEHOLDER, which
 *       bench/wrk-ingest.lua replaces per request (spans are unique per
 *       trace and span id, so a resent batch would store nothing)
 *   telemetry_bench raw logs|spans CONFIG DB BATCH SECONDS
 *       the raw limit: the rows jitgate stores for the same batch (converted,
 *       encoded and redacted once, outside the timing, with CONFIG's
 *       sensitive fields), inserted into a fresh SQLite file DB with the
 *       telemetry schema (every *.sql of CONFIG's migrations/sqlite/telemetry, FTS5
 *       tables included) through prepared statements, BATCH rows per
 *       durable transaction (WAL, synchronous=FULL), one writer
 *   telemetry_bench fill CONFIG SERVICE N
 *       loads N log records into CONFIG's telemetry database through
 *       jitgate's own conversion and storage (jg_otlp_logs,
 *       jg_telemetry_store_logs), spread over the last 24 hours; one record
 *       in FILL_COMMON holds the word "timeout", one in FILL_RARE "deadlock"
 *   telemetry_bench search CONFIG SERVICE WORD SECONDS
 *       the search of GET /v1/services/{svc}/logs?q=WORD&limit=50 for a
 *       reader without read-pii on CONFIG's telemetry database, in-process:
 *       first jitgate's own reader (jg_telemetry_logs_query, what the handler
 *       calls: plan choice, rows, redaction) for SECONDS / 2; then, as raw-SQL
 *       baselines written here (not jitgate's code), SECONDS / 6 each of the
 *       same rows with the records driving the join, with the FTS5 index
 *       driving it, and FTS5 alone on the same index; p50 and p99 in ms
 *
 * Every figure is printed as one line "name value unit" for the script.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "jitgate/config.h"
#include "jitgate/fileio.h"
#include "jitgate/otlp.h"
#include "jitgate/telemetry.h"
#include "bench_args.h"

#define PLACEHOLDER	"@@@@@@@@@@@@@@@@"
#define SPANS_PER_TRACE 10
#define FILL_BATCH	5000
#define FILL_COMMON	10    /* one record in 10 says "timeout" */
#define FILL_RARE	10000 /* one in 10,000 says "deadlock" */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- realistic batches -------------------------------------------------------- */

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static const char *const routes[] = {"/v1/payments", "/v1/payments/{id}/capture", "/v1/refunds",
				     "/v1/orders/{id}", "/v1/customers/{id}/cards"};
static const char *const upstreams[] = {"payment-ledger", "payment-accounts", "fraud-check",
					"currency-rates"};
static const char *const regions[] = {"eu-west-1", "eu-central-1", "us-east-1"};
#define PICK(a, r) (a)[(r) % (sizeof(a) / sizeof((a)[0]))]

static json_t *
str_attr(const char *k, const char *v)
{
	return json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v);
}

static json_t *
int_attr(const char *k, long long v)
{
	char s[32];
	snprintf(s, sizeof(s), "%lld", v);
	return json_pack("{s:s,s:{s:s}}", "key", k, "value", "intValue", s);
}

static json_t *
resource(const char *service)
{
	return json_pack("{s:[o,o,o]}", "attributes", str_attr("service.name", service),
			 str_attr("service.version", "2.4.0"),
			 str_attr("service.instance.id", "payment-7c9f"));
}

static void
ns_text(int64_t ns, char out[24])
{
	snprintf(out, 24, "%lld", (long long)ns);
}

/*
 * One log record like a payment service's: a message of about 80 bytes,
 * six attributes (one of them an e-mail address, so the redacted index
 * differs from the raw one), trace and span ids.  With search_words, record
 * i says "timeout" when i % FILL_COMMON == 3 and "deadlock" when
 * i % FILL_RARE == 77; otherwise neither word occurs.
 */
static json_t *
log_record(uint64_t i, const char *tid_prefix, int64_t t, int search_words)
{
	uint64_t r = mix(i);
	char msg[256], tid[40], sid[20], ts[24], email[64], order[24];
	int sev = 9;
	const char *sevtext = "INFO", *up = PICK(upstreams, r >> 8);

	snprintf(order, sizeof(order), "ord_%06llu", (unsigned long long)(r % 1000000));
	snprintf(email, sizeof(email), "customer%llu@example.com",
		 (unsigned long long)(r >> 20) % 50000);
	if (search_words && i % FILL_RARE == 77) {
		sev = 17, sevtext = "ERROR";
		snprintf(msg, sizeof(msg),
			 "deadlock detected on accounts row for %s; transaction "
			 "rolled back",
			 order);
	} else if (search_words && i % FILL_COMMON == 3) {
		sev = 17, sevtext = "ERROR";
		snprintf(msg, sizeof(msg),
			 "payment for %s failed: %s statement timeout after 5000 ms", order, up);
	} else if (r % 7 == 0) {
		sev = 13, sevtext = "WARN";
		snprintf(msg, sizeof(msg),
			 "retrying hold at %s for %s after %llu ms (attempt %llu)", up, order,
			 (unsigned long long)(r >> 12) % 900 + 100,
			 (unsigned long long)(r >> 24) % 3 + 2);
	} else {
		snprintf(msg, sizeof(msg),
			 "payment authorized for %s amount %llu.%02llu EUR via %s in %llu ms",
			 order, (unsigned long long)(r >> 16) % 900 + 5,
			 (unsigned long long)(r >> 28) % 100, up,
			 (unsigned long long)(r >> 36) % 400 + 12);
	}
	snprintf(tid, sizeof(tid), "%s%016llx", tid_prefix,
		 (unsigned long long)(i / SPANS_PER_TRACE));
	snprintf(sid, sizeof(sid), "%016llx", (unsigned long long)i + 1);
	ns_text(t, ts);
	return json_pack(
	    "{s:s,s:s,s:i,s:s,s:{s:s},s:[o,o,o,o,o,o],s:s,s:s}", "timeUnixNano", ts,
	    "observedTimeUnixNano", ts, "severityNumber", sev, "severityText", sevtext, "body",
	    "stringValue", msg, "attributes", str_attr("http.route", PICK(routes, r >> 4)),
	    str_attr("http.request.method", "POST"),
	    int_attr("http.response.status_code", sev >= 17 ? 502 : 200),
	    str_attr("customer.email", email), str_attr("cloud.region", PICK(regions, r >> 40)),
	    str_attr("order.id", order), "traceId", tid, "spanId", sid);
}

static json_t *
logs_doc(const char *service, uint64_t first, size_t n, const char *tid_prefix, int64_t t0,
	 int64_t step, int search_words)
{
	json_t *recs = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(
		    recs, log_record(first + k, tid_prefix, t0 + (int64_t)k * step, search_words));
	return json_pack("{s:[{s:o,s:[{s:{s:s,s:s},s:o}]}]}", "resourceLogs", "resource",
			 resource(service), "scopeLogs", "scope", "name", "payments", "version",
			 "2.4.0", "logRecords", recs);
}

/* One span: SPANS_PER_TRACE per trace, the first the root, the others its children. */
static json_t *
span(uint64_t i, const char *tid_prefix, int64_t t0)
{
	uint64_t r = mix(i), root = i - i % SPANS_PER_TRACE;
	char tid[40], sid[20], parent[20] = "", start[24], end[24], name[96];
	int failed = r % 20 == 0, child = i != root;
	const char *up = PICK(upstreams, r >> 8), *route = PICK(routes, r >> 4);
	int64_t s = t0 + (int64_t)(i % SPANS_PER_TRACE) * 1000000,
		d = (int64_t)((r >> 12) % 200 + 1) * 100000;

	snprintf(tid, sizeof(tid), "%s%016llx", tid_prefix, (unsigned long long)(root + 1));
	snprintf(sid, sizeof(sid), "%016llx", (unsigned long long)i + 1);
	if (child)
		snprintf(parent, sizeof(parent), "%016llx", (unsigned long long)root + 1);
	snprintf(name, sizeof(name), child ? "POST %s/v1/holds" : "POST %s", child ? up : route);
	ns_text(s, start);
	ns_text(s + d, end);
	json_t *sp =
	    json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:[o,o,o,o,o],s:{s:i,s:s}}", "traceId", tid,
		      "spanId", sid, "parentSpanId", parent, "name", name, "kind", child ? 3 : 2,
		      "startTimeUnixNano", start, "endTimeUnixNano", end, "attributes",
		      str_attr("http.request.method", "POST"), str_attr("http.route", route),
		      int_attr("http.response.status_code", failed ? 504 : 200),
		      str_attr("server.address", child ? up : "payment-service"),
		      str_attr("cloud.region", PICK(regions, r >> 40)), "status", "code",
		      failed ? 2 : 1, "message", failed ? "upstream request timed out" : "");
	if (failed)
		json_object_set_new(
		    sp, "events",
		    json_pack("[{s:s,s:s,s:[o,o]}]", "name", "exception", "timeUnixNano", end,
			      "attributes", str_attr("exception.type", "UpstreamTimeout"),
			      str_attr("exception.message", "hold did not answer within 5 s")));
	return sp;
}

static json_t *
spans_doc(const char *service, size_t n, const char *tid_prefix, int64_t t0)
{
	json_t *spans = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(spans, span(k, tid_prefix, t0));
	return json_pack("{s:[{s:o,s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource",
			 resource(service), "scopeSpans", "scope", "name", "payments", "version",
			 "2.4.0", "spans", spans);
}

static int
body(const char *kind, const char *service, size_t n, const char *file)
{
	int64_t t0 = now_ns() - 60 * 1000000000LL;
	json_t *doc = strcmp(kind, "logs") == 0
			  ? logs_doc(service, 0, n, PLACEHOLDER, t0, 1000000, 0)
			  : spans_doc(service, n, PLACEHOLDER, t0);
	if (doc == NULL || json_dump_file(doc, file, JSON_COMPACT) != 0) {
		fprintf(stderr, "cannot write %s\n", file);
		return 1;
	}
	json_decref(doc);
	return 0;
}

/* ---- the raw limit ---------------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every *.sql of dir, in name order, on db. */
static int
apply_schema(sqlite3 *db, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[64], path[4096], err[256], *sql, *msg = NULL;
	size_t n = 0, len;
	int rc = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL && n < 64) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".sql") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (rc == 0 &&
		    jg_file_read(path, 1 << 20, false, &sql, &len, err, sizeof(err)) == 0) {
			if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
				fprintf(stderr, "%s: %s\n", path, msg);
				rc = 1;
			}
			sqlite3_free(msg);
			free(sql);
		} else if (rc == 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
		}
		free(names[i]);
	}
	return rc;
}

/* A row as jitgate binds it: the text columns and the integers of one record. */
struct row {
	char *record, *raw, *red; /* logs: record JSON, search texts; spans: span JSON in record */
	char *trace_id;
	const char *level, *span_id, *parent, *status;
	int64_t t, t2, sev;
};

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int
raw(const char *kind, const char *config, const char *path, size_t batch, double seconds)
{
	int logs = strcmp(kind, "logs") == 0;
	const char *service = "bench-raw";
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL, *fts = NULL, *fts_red = NULL;
	struct jg_otlp_error oe;
	json_t *items = NULL, *it;
	unsigned long n = 0, txs = 0;
	struct jg_config *cfg = NULL;
	char err[1024], *migrations = NULL;
	struct row *rows = NULL;
	size_t i;
	int rc = 1;

	if (batch == 0 || jg_config_load(config, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", batch == 0 ? "BATCH must be positive" : err);
		return 1;
	}
	migrations = jg_telemetry_migrations_dir(cfg);
	if (remove(path) != 0 && errno != ENOENT) {
		perror(path);
		goto out;
	}
	if (migrations == NULL || sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    apply_schema(db, migrations) != 0)
		goto out;
	/* the same batch jitgate is sent, converted as ingest converts it (outside the timing) */
	int64_t t0 = now_ns() - 60 * 1000000000LL;
	json_t *doc = logs ? logs_doc(service, 0, batch, "0123456789abcdef", t0, 1000000, 0)
			   : spans_doc(service, batch, "0123456789abcdef", t0);
	int conv = logs ? jg_otlp_logs(doc, service, now_ns(), &items, &oe)
			: jg_otlp_spans(doc, service, &items, &oe);
	json_decref(doc);
	if (conv != 0) {
		fprintf(stderr, "conversion failed: %s\n", oe.why);
		goto out;
	}
	if ((rows = calloc(batch, sizeof(*rows))) == NULL)
		goto out;
	char *const *fields = cfg->redaction_sensitive_fields;
	json_array_foreach(items, i, it)
	{
		struct row *w = &rows[i];
		if (logs) {
			json_t *rec = json_pack(
			    "{s:O,s:O,s:O,s:O,s:O,s:O}", "body", json_object_get(it, "body"),
			    "attributes", json_object_get(it, "attributes"), "resource",
			    json_object_get(it, "resource"), "scope", json_object_get(it, "scope"),
			    "severity_text", json_object_get(it, "severity_text"), "observed_ns",
			    json_object_get(it, "observed_ns"));
			w->record = json_dumps(rec, JSON_COMPACT);
			json_decref(rec);
			w->raw = jg_telemetry_log_text(it, NULL);
			w->red = jg_telemetry_log_text(it, fields);
			w->t = json_integer_value(json_object_get(it, "time_ns"));
			w->sev = json_integer_value(json_object_get(it, "severity_number"));
			w->level = json_string_value(json_object_get(it, "level"));
			w->span_id = json_string_value(json_object_get(it, "span_id"));
		} else {
			w->record = json_dumps(it, JSON_COMPACT);
			w->t = json_integer_value(json_object_get(it, "start_ns"));
			w->t2 = json_integer_value(json_object_get(it, "end_ns"));
			w->span_id = json_string_value(json_object_get(it, "span_id"));
			w->parent = json_string_value(json_object_get(it, "parent_span_id"));
			w->status = json_string_value(json_object_get(it, "status"));
		}
		w->trace_id = dup_or_empty(json_string_value(json_object_get(it, "trace_id")));
	}
	if (logs) {
		sqlite3_prepare_v2(db,
				   "INSERT INTO logs (service, time_ns, severity_number, level, "
				   "trace_id, span_id, record, received_at) VALUES (?, ?, ?, ?, ?, "
				   "?, ?, ?)",
				   -1, &ins, NULL);
		sqlite3_prepare_v2(db, "INSERT INTO logs_fts (rowid, text) VALUES (?, ?)", -1, &fts,
				   NULL);
		sqlite3_prepare_v2(db, "INSERT INTO logs_fts_redacted (rowid, text) VALUES (?, ?)",
				   -1, &fts_red, NULL);
	} else {
		sqlite3_prepare_v2(
		    db,
		    "INSERT INTO spans (service, trace_id, span_id, parent_span_id, "
		    "start_ns, end_ns, status, span, received_at) VALUES (?, ?, ?, ?, "
		    "?, ?, ?, ?, ?)",
		    -1, &ins, NULL);
	}
	double start = now();
	while (now() - start < seconds) {
		/* fresh trace ids per batch, in the row and in its JSON, as wrk-ingest.lua sends */
		char prefix[17];
		snprintf(prefix, sizeof(prefix), "%016lx", txs + 1);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			goto out;
		for (i = 0; i < batch; i++) {
			struct row *w = &rows[i];
			int64_t recv = (int64_t)time(NULL);
			memcpy(w->trace_id, prefix, 16);
			if (!logs) {
				char *p = strstr(w->record, "\"trace_id\":\"");
				if (p)
					memcpy(p + 12, prefix, 16);
			}
			sqlite3_bind_text(ins, 1, service, -1, SQLITE_STATIC);
			if (logs) {
				sqlite3_bind_int64(ins, 2, w->t);
				sqlite3_bind_int64(ins, 3, w->sev);
				sqlite3_bind_text(ins, 4, w->level, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 5, w->trace_id, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 6, w->span_id, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 7, w->record, -1, SQLITE_STATIC);
				sqlite3_bind_int64(ins, 8, recv);
			} else {
				sqlite3_bind_text(ins, 2, w->trace_id, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 3, w->span_id, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 4, w->parent, -1, SQLITE_STATIC);
				sqlite3_bind_int64(ins, 5, w->t);
				sqlite3_bind_int64(ins, 6, w->t2);
				sqlite3_bind_text(ins, 7, w->status, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 8, w->record, -1, SQLITE_STATIC);
				sqlite3_bind_int64(ins, 9, recv);
			}
			if (sqlite3_step(ins) != SQLITE_DONE)
				goto out;
			sqlite3_reset(ins);
			if (logs) {
				sqlite3_int64 id = sqlite3_last_insert_rowid(db);
				sqlite3_bind_int64(fts, 1, id);
				sqlite3_bind_text(fts, 2, w->raw, -1, SQLITE_STATIC);
				sqlite3_bind_int64(fts_red, 1, id);
				sqlite3_bind_text(fts_red, 2, w->red, -1, SQLITE_STATIC);
				if (sqlite3_step(fts) != SQLITE_DONE ||
				    sqlite3_step(fts_red) != SQLITE_DONE)
					goto out;
				sqlite3_reset(fts);
				sqlite3_reset(fts_red);
			}
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			goto out;
		n += batch;
		txs++;
	}
	double took = now() - start;
	printf("raw_%s_per_s %.0f records/s\n", kind, (double)n / took);
	printf("raw_%s_tx_per_s %.1f transactions/s\n", kind, (double)txs / took);
	rc = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(fts);
	sqlite3_finalize(fts_red);
	sqlite3_close(db);
	for (i = 0; rows != NULL && i < batch; i++) {
		free(rows[i].record);
		free(rows[i].raw);
		free(rows[i].red);
		free(rows[i].trace_id);
	}
	free(rows);
	free(migrations);
	json_decref(items);
	jg_config_free(cfg);
	return rc;
}

/* ---- the million records ------------------------------------------------------------ */

/* One batch of the fill, built and converted on a second thread while the previous one is stored.
 */
struct fill_job {
	const char *service;
	unsigned long first, count;
	size_t n;
	int64_t end, step;
	json_t *items, *old; /* old: the batch stored meanwhile, freed by the next conversion */
	int rc;
};

static void *
fill_convert(void *arg)
{
	struct fill_job *j = arg;
	struct jg_otlp_error oe;
	char prefix[17];

	json_decref(j->old);
	j->old = NULL;
	j->items = NULL;
	snprintf(prefix, sizeof(prefix), "%016lx", j->first / FILL_BATCH + 1);
	json_t *doc = logs_doc(j->service, j->first, j->n, prefix,
			       j->end - (int64_t)(j->count - j->first) * j->step, j->step, 1);
	j->rc = doc ? jg_otlp_logs(doc, j->service, now_ns(), &j->items, &oe) : 1;
	json_decref(doc);
	return NULL;
}

static int
fill(const char *config, const char *service, unsigned long count)
{
	struct jg_config *cfg = NULL;
	struct jg_store *tdb = NULL;
	char err[1024];

	if (jg_config_load(config, &cfg, err, sizeof(err)) != 0 ||
	    jg_telemetry_open(cfg, &tdb, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* oldest first, one every 24 h / count, ending a minute ago */
	struct fill_job j = {.service = service,
			     .count = count,
			     .end = now_ns() - 60 * 1000000000LL,
			     .step = 86400000000000LL / (int64_t)count};
	double start = now();
	j.n = count < FILL_BATCH ? count : FILL_BATCH;
	fill_convert(&j);
	for (unsigned long done = 0; done < count;) {
		json_t *items = j.items;
		pthread_t tid;
		int rc = j.rc, next = rc == 0 && done + j.n < count;
		done += j.n;
		if (next) {
			j.first = done;
			j.n = count - done < FILL_BATCH ? count - done : FILL_BATCH;
			if (pthread_create(&tid, NULL, fill_convert, &j) != 0)
				return 1;
		}
		if (rc == 0)
			rc = jg_telemetry_store_logs(tdb, service, items,
						     cfg->redaction_sensitive_fields,
						     (int64_t)time(NULL));
		if (next) {
			pthread_join(tid, NULL);
			j.old = items; /* freed by the next conversion */
		} else {
			json_decref(items);
		}
		if (rc != 0) {
			fprintf(stderr, "fill: a batch before record %lu failed (%d)\n", done, rc);
			return 1;
		}
	}
	json_decref(j.old);
	printf("fill_records_per_s %.0f records/s\n", (double)count / (now() - start));
	jg_store_close(tdb);
	jg_config_free(cfg);
	return 0;
}

/* ---- the search --------------------------------------------------------------------- */

/*
 * Raw-SQL baselines, written for the benchmark (jitgate's reader is timed
 * through jg_telemetry_logs_query): the rows of a search for a reader
 * without read-pii with the records driving the join (the plan jitgate
 * takes for a common word) ...
 */
static const char sql_records_first[] =
    "SELECT l.id, l.time_ns, l.severity_number, l.level, l.trace_id, l.span_id, l.record "
    "FROM logs l WHERE l.service = ?1 AND l.time_ns >= ?2 AND l.time_ns < ?3 AND "
    "l.severity_number >= ?4 AND (?5 IS NULL OR l.trace_id = ?5) AND (l.time_ns < ?6 OR "
    "(l.time_ns = ?6 AND l.id < ?7)) AND l.id IN (SELECT rowid FROM logs_fts_redacted WHERE "
    "logs_fts_redacted MATCH ?9) ORDER BY l.time_ns DESC, l.id DESC LIMIT ?8";
/*
 * ... the same rows with the join order forced the other way (CROSS JOIN):
 * every match is looked up and the newest 50 kept (the plan for a rare word) ...
 */
static const char sql_fts_first[] =
    "SELECT l.id, l.time_ns, l.severity_number, l.level, l.trace_id, l.span_id, l.record "
    "FROM logs_fts_redacted f CROSS JOIN logs l ON l.id = f.rowid WHERE "
    "logs_fts_redacted MATCH ?9 AND l.service = ?1 AND l.time_ns >= ?2 AND l.time_ns < ?3 AND "
    "l.severity_number >= ?4 AND (?5 IS NULL OR l.trace_id = ?5) AND (l.time_ns < ?6 OR "
    "(l.time_ns = ?6 AND l.id < ?7)) ORDER BY l.time_ns DESC, l.id DESC LIMIT ?8";
/* ... and FTS5 alone: the newest 50 matching rowids (ids grow with time in the fill). */
static const char sql_fts[] = "SELECT rowid FROM logs_fts_redacted WHERE logs_fts_redacted "
			      "MATCH ?9 ORDER BY rowid DESC LIMIT ?8";
static const char sql_matches[] =
    "SELECT count(*) FROM logs_fts_redacted WHERE logs_fts_redacted MATCH ?";

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void
report(const char *name, double *lat, size_t n, size_t rows)
{
	qsort(lat, n, sizeof(double), cmp_double);
	printf("%s_p50_ms %.3f ms\n", name, lat[n / 2]);
	printf("%s_p99_ms %.3f ms\n", name, lat[n * 99 / 100]);
	printf("%s_runs %zu runs\n", name, n);
	printf("%s_rows %zu rows\n", name, rows);
}

/* A raw-SQL baseline, run for seconds. */
static int
time_query(sqlite3 *db, const char *sql, const char *name, const char *service, const char *word,
	   double seconds)
{
	sqlite3_stmt *st;
	char match[128];
	size_t cap = 1 << 16, n = 0, rows = 0;
	double *lat = malloc(cap * sizeof(double));

	snprintf(match, sizeof(match), "\"%s\"", word);
	if (lat == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s\n", sqlite3_errmsg(db));
		free(lat);
		return 1;
	}
	double start = now();
	while (n < cap && (n < 5 || now() - start < seconds)) {
		double t = now();
		if (sqlite3_bind_parameter_index(st, "?1") > 0) {
			sqlite3_bind_text(st, 1, service, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, 0);
			sqlite3_bind_int64(st, 3, INT64_MAX);
			sqlite3_bind_int64(st, 4, 0);
			sqlite3_bind_null(st, 5);
			sqlite3_bind_int64(st, 6, INT64_MAX);
			sqlite3_bind_int64(st, 7, INT64_MAX);
		}
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, "?8"), 50);
		sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, "?9"), match, -1,
				  SQLITE_STATIC);
		rows = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++)
				(void)sqlite3_column_text(st, c);
			rows++;
		}
		sqlite3_reset(st);
		lat[n++] = (now() - t) * 1000;
	}
	report(name, lat, n, rows);
	sqlite3_finalize(st);
	free(lat);
	return 0;
}

/* jitgate's reader, in-process, run for seconds. */
static int
time_reader(struct jg_store *tdb, const struct jg_config *cfg, const char *service,
	    const char *word, double seconds)
{
	struct jg_telemetry_logs_query q = {.service = service,
					    .since = 0,
					    .until = INT64_MAX,
					    .q = word,
					    .after = {INT64_MAX, INT64_MAX},
					    .limit = 50,
					    .redact = true,
					    .fields = cfg->redaction_sensitive_fields};
	char next[JG_TELEMETRY_CURSOR_MAX];
	size_t cap = 1 << 16, n = 0, rows = 0;
	double *lat = malloc(cap * sizeof(double));

	if (lat == NULL)
		return 1;
	double start = now();
	while (n < cap && (n < 5 || now() - start < seconds)) {
		json_t *logs = NULL;
		double t = now();
		int rc = jg_telemetry_logs_query(tdb, &q, &logs, next);
		lat[n++] = (now() - t) * 1000;
		rows = json_array_size(logs);
		json_decref(logs);
		if (rc != 0) {
			fprintf(stderr, "jg_telemetry_logs_query: %d\n", rc);
			free(lat);
			return 1;
		}
	}
	report("reader", lat, n, rows);
	free(lat);
	return 0;
}

static int
search(const char *config, const char *service, const char *word, double seconds)
{
	struct jg_config *cfg = NULL;
	struct jg_store *tdb = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	char err[1024], match[128];
	int rc = 1;

	if (jg_config_load(config, &cfg, err, sizeof(err)) != 0 ||
	    jg_telemetry_open(cfg, &tdb, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (sqlite3_open_v2(cfg->telemetry_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	snprintf(match, sizeof(match), "\"%s\"", word);
	if (sqlite3_prepare_v2(db, sql_matches, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			printf("matches %lld records\n", (long long)sqlite3_column_int64(st, 0));
	}
	sqlite3_finalize(st);
	rc = time_reader(tdb, cfg, service, word, seconds / 2) ||
	     time_query(db, sql_records_first, "sql", service, word, seconds / 6) ||
	     time_query(db, sql_fts_first, "fts_first", service, word, seconds / 6) ||
	     time_query(db, sql_fts, "fts", service, word, seconds / 6);
out:
	sqlite3_close(db);
	jg_store_close(tdb);
	jg_config_free(cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "body") == 0)
		return body(argv[2], argv[3], bench_count(argv[4], 1, 1000000), argv[5]);
	if (argc == 7 && strcmp(argv[1], "raw") == 0)
		return raw(argv[2], argv[3], argv[4], bench_count(argv[5], 1, 1000000),
			   bench_seconds(argv[6], 3600));
	if (argc == 5 && strcmp(argv[1], "fill") == 0)
		return fill(argv[2], argv[3], bench_count(argv[4], 1, 100000000));
	if (argc == 6 && strcmp(argv[1], "search") == 0)
		return search(argv[2], argv[3], argv[4], bench_seconds(argv[5], 3600));
	fprintf(stderr, "usage: see the comment at the top of bench/telemetry_bench.c\n");
	return 2;
}
