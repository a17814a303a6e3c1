/*
 * test_telemetry.c - the telemetry database (telemetry.h) on a real SQLite
 * file: migrations, batches stored whole, the two search indexes, retention
 * per kind, redaction that leaves times alone, query times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/config.h"
#include "jitgate/cursor.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"
#include "unit_fs.h"

struct fixture {
	char dir[64];
	struct jg_config cfg;
	struct jg_store *db;
};

static char *fields[] = {"password", "customer_ref", NULL};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/jg-telemetry-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->cfg.migrations_dir = strdup("migrations");
	assert_true(asprintf(&f->cfg.telemetry_path, "%s/telemetry.db", f->dir) >= 0);
	/* what jg_config_parse() derives for a SQLite file: the file, for serving and migrate */
	f->cfg.telemetry_store = f->cfg.telemetry_path;
	f->cfg.telemetry_owner_store = f->cfg.telemetry_path;
	f->cfg.telemetry_logs_retention = 100;
	f->cfg.telemetry_traces_retention = 200;
	f->cfg.telemetry_metrics_retention = 300;
	/* not migrated yet: refused */
	assert_int_equal(jg_telemetry_open(&f->cfg, &f->db, err, sizeof(err)), JG_ECONFLICT);
	assert_non_null(strstr(err, "pending"));
	int applied = 0;
	assert_int_equal(jg_telemetry_migrate(&f->cfg, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(jg_telemetry_migrate(&f->cfg, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(jg_telemetry_open(&f->cfg, &f->db, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];
	jg_store_close(f->db);
	for (const char *const *sfx = (const char *const[]){"", "-wal", "-shm", NULL}; *sfx;
	     sfx++) {
		snprintf(path, sizeof(path), "%s%s", f->cfg.telemetry_path, *sfx);
		unlink(path);
	}
	rmdir(f->dir);
	free(f->cfg.migrations_dir);
	free(f->cfg.telemetry_path);
	free(f);
	return 0;
}

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

static const char sql_count_logs[] = "SELECT count(*) FROM logs";
static const char sql_count_spans[] = "SELECT count(*) FROM spans";
static const char sql_count_points[] = "SELECT count(*) FROM metric_points";
static const char sql_fts_raw[] = "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?";
static const char sql_fts_red[] =
    "SELECT count(*) FROM logs_fts_redacted WHERE logs_fts_redacted MATCH ?";

static json_t *
log_record(const char *body, json_t *attrs)
{
	return json_pack("{s:I,s:I,s:i,s:s,s:s,s:s,s:o,s:{s:s},s:{},s:n,s:n}", "time_ns",
			 (json_int_t)1795600800000000000LL, "observed_ns",
			 (json_int_t)1795600800000000000LL, "severity_number", 17, "severity_text",
			 "ERROR", "level", "error", "body", body, "attributes",
			 attrs ? attrs : json_object(), "resource", "service.name", "pay", "scope",
			 "trace_id", "span_id");
}

static void
test_telemetry_logs_indexed_twice(void **state)
{
	struct fixture *f = *state;
	json_t *batch = json_pack(
	    "[o,o]", log_record("card 4111 1111 1111 1111 declined for alice@example.com", NULL),
	    log_record("login ok", json_pack("{s:s,s:s,s:i}", "customer_ref", "CR-77", "password",
					     "hunter2", "n", 4)));
	assert_int_equal(jg_telemetry_store_logs(f->db, "pay", batch, fields, 1000), 0);
	json_decref(batch);
	assert_int_equal(scalar(f->db, sql_count_logs, NULL), 2);
	/* as sent: everything is searchable */
	assert_int_equal(scalar(f->db, sql_fts_raw, "\"alice@example.com\""), 1);
	assert_int_equal(scalar(f->db, sql_fts_raw, "\"4111\""), 1);
	assert_int_equal(scalar(f->db, sql_fts_raw, "\"hunter2\""), 1);
	assert_int_equal(scalar(f->db, sql_fts_raw, "\"CR-77\""), 1);
	/* redacted: the personal data and the sensitive fields' values are not */
	assert_int_equal(scalar(f->db, sql_fts_red, "\"alice@example.com\""), 0);
	assert_int_equal(scalar(f->db, sql_fts_red, "\"alice\""), 0);
	assert_int_equal(scalar(f->db, sql_fts_red, "\"4111\""), 0);
	assert_int_equal(scalar(f->db, sql_fts_red, "\"hunter2\""), 0);
	assert_int_equal(scalar(f->db, sql_fts_red, "\"CR-77\""), 0);
	assert_int_equal(scalar(f->db, sql_fts_red, "\"declined\""), 1);
	assert_int_equal(scalar(f->db, sql_fts_red, "\"customer_ref\""), 1); /* keys stay */
	assert_int_equal(scalar(f->db, sql_fts_red, "\"REDACTED email\""), 1);
}

static void
test_telemetry_log_text(void **state)
{
	(void)state;
	json_t *r = log_record("hi bob@example.com",
			       json_pack("{s:s,s:i,s:b}", "password", "x1", "count", 3, "ok", 1));
	char *raw = jg_telemetry_log_text(r, NULL), *red = jg_telemetry_log_text(r, fields);
	assert_non_null(raw);
	assert_non_null(red);
	assert_non_null(strstr(raw, "bob@example.com"));
	assert_non_null(strstr(raw, "password x1"));
	assert_null(strstr(red, "bob@example.com"));
	assert_null(strstr(red, "x1"));
	assert_non_null(strstr(red, "hi [REDACTED:email]"));
	assert_non_null(strstr(red, "count 3"));
	free(raw);
	free(red);
	/* the record itself is not changed by building its redacted text */
	assert_string_equal(json_string_value(json_object_get(r, "body")), "hi bob@example.com");
	json_decref(r);
}

static void
test_telemetry_redact_keeps_times(void **state)
{
	(void)state;
	/* 1795600800000000006 passes Luhn: a timestamp must still not become a card */
	json_t *span = json_pack(
	    "{s:s,s:s,s:I,s:I,s:s,s:s,s:{s:s,s:I,s:s},s:[{s:s,s:I,s:{s:s}}]}", "name",
	    "GET /users/bob@example.com", "span_id", "4111111111111111", "start_ns",
	    (json_int_t)1795600800000000006LL, "end_ns", (json_int_t)1795600800000000006LL, "error",
	    "timeout for 10.0.0.7", "status", "error", "attributes", "password", "pw", "card",
	    (json_int_t)4111111111111111LL, "note", "fine", "events", "name", "call +14155550132",
	    "time_ns", (json_int_t)1795600800000000006LL, "attributes", "who", "carol@example.org");
	assert_int_equal(jg_telemetry_redact_span(span, fields), 0);
	char *text = json_dumps(span, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    text, "{\"attributes\":{\"card\":\"[REDACTED:card]\",\"note\":\"fine\",\"password\":"
		  "\"[REDACTED:field]\"},\"end_ns\":1795600800000000006,\"error\":\"timeout for "
		  "[REDACTED:ip]\",\"events\":[{\"attributes\":{\"who\":\"[REDACTED:email]\"},"
		  "\"name\":\"call [REDACTED:phone]\",\"time_ns\":1795600800000000006}],\"name\":"
		  "\"GET /users/[REDACTED:email]\",\"span_id\":\"4111111111111111\",\"start_ns\":"
		  "1795600800000000006,\"status\":\"error\"}");
	free(text);
	json_decref(span);

	json_t *rec = log_record("x", json_pack("{s:s}", "customer_ref", "A"));
	json_object_set_new(rec, "body", json_integer(4111111111111111LL));
	json_object_set_new(json_object_get(rec, "resource"), "host.ip", json_string("10.1.1.1"));
	assert_int_equal(jg_telemetry_redact_log(rec, fields), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "body")), "[REDACTED:card]");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(rec, "attributes"), "customer_ref")),
	    "[REDACTED:field]");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(rec, "resource"), "host.ip")),
	    "[REDACTED:ip]");
	assert_int_equal(json_integer_value(json_object_get(rec, "time_ns")),
			 1795600800000000000LL);
	json_decref(rec);
}

static void
test_telemetry_spans_idempotent_and_sweep(void **state)
{
	struct fixture *f = *state;
	json_t *span =
	    json_pack("{s:s,s:s,s:n,s:I,s:I,s:s}", "trace_id", "0af7651916cd43dd8448eb211c80319c",
		      "span_id", "b7ad6b7169203331", "parent_span_id", "start_ns", (json_int_t)1,
		      "end_ns", (json_int_t)2, "status", "ok");
	json_t *batch = json_pack("[O]", span);
	assert_int_equal(jg_telemetry_store_spans(f->db, "pay", batch, 1000), 0);
	assert_int_equal(jg_telemetry_store_spans(f->db, "pay", batch, 1001), 0); /* a retry */
	assert_int_equal(scalar(f->db, sql_count_spans, NULL), 1);
	/* the same ids from another service are that service's span */
	assert_int_equal(jg_telemetry_store_spans(f->db, "ledger", batch, 1100), 0);
	assert_int_equal(scalar(f->db, sql_count_spans, NULL), 2);
	json_decref(batch);
	json_decref(span);
	json_t *points =
	    json_pack("[{s:s,s:s,s:s,s:s,s:s,s:b,s:{},s:I,s:I,s:f}]", "name", "g", "kind", "gauge",
		      "unit", "", "description", "", "temporality", "unspecified", "monotonic", 0,
		      "series", "start_ns", (json_int_t)0, "time_ns", (json_int_t)5, "value", 1.5);
	assert_int_equal(jg_telemetry_store_metrics(f->db, "pay", points, 1000), 0);
	json_decref(points);
	json_t *logs = json_pack("[o]", log_record("old", NULL));
	assert_int_equal(jg_telemetry_store_logs(f->db, "pay", logs, fields, 1000), 0);
	json_decref(logs);

	/* retention is measured from receipt: logs 100 s, traces 200 s, metrics 300 s */
	int64_t n = -1;
	assert_int_equal(jg_telemetry_sweep(f->db, &f->cfg, 1100, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(jg_telemetry_sweep(f->db, &f->cfg, 1101, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(scalar(f->db, sql_count_logs, NULL), 0);
	assert_int_equal(scalar(f->db, "SELECT count(*) FROM logs_fts", NULL), 0);
	assert_int_equal(scalar(f->db, "SELECT count(*) FROM logs_fts_redacted", NULL), 0);
	assert_int_equal(jg_telemetry_sweep(f->db, &f->cfg, 1201, &n), 0);
	assert_int_equal(n, 1); /* pay's span; ledger's arrived later */
	assert_int_equal(scalar(f->db, sql_count_spans, NULL), 1);
	assert_int_equal(jg_telemetry_sweep(f->db, &f->cfg, 1300, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(jg_telemetry_sweep(f->db, &f->cfg, 1301, &n), 0);
	assert_int_equal(n, 2); /* the metric point, and ledger's span (received at 1100) */
	assert_int_equal(scalar(f->db, sql_count_points, NULL), 0);
	assert_int_equal(scalar(f->db, sql_count_spans, NULL), 0);
}

static void
test_telemetry_sweeps_in_chunks(void **state)
{
	struct fixture *f = *state;
	json_t *batch = json_array();
	for (int i = 0; i < 12001; i++)
		json_array_append_new(batch, log_record("bulk", NULL));
	assert_int_equal(jg_telemetry_store_logs(f->db, "pay", batch, fields, 50), 0);
	json_decref(batch);
	int64_t n = 0;
	assert_int_equal(jg_telemetry_sweep(f->db, &f->cfg, 1000, &n), 0);
	assert_int_equal(n, 12001);
	assert_int_equal(scalar(f->db, sql_count_logs, NULL), 0);
}

static void
test_telemetry_parse_time(void **state)
{
	int64_t ns;
	const int64_t now = 1795600800;
	(void)state;
	assert_int_equal(jg_telemetry_parse_time("1795600800", now, &ns), 0);
	assert_int_equal(ns, 1795600800000000000LL);
	assert_int_equal(jg_telemetry_parse_time("2026-11-25T10:00:00.5Z", now, &ns), 0);
	assert_int_equal(ns, 1795600800500000000LL);
	assert_int_equal(jg_telemetry_parse_time("15m", now, &ns), 0);
	assert_int_equal(ns, (now - 900) * 1000000000LL);
	assert_int_equal(jg_telemetry_parse_time("2h", now, &ns), 0);
	assert_int_equal(ns, (now - 7200) * 1000000000LL);
	assert_int_equal(jg_telemetry_parse_time("7d", now, &ns), 0);
	assert_int_equal(ns, (now - 7 * 86400) * 1000000000LL);
	static const char *const bad[] = {
	    "", "yesterday", "-5", "15x", "1.5h", "99999999999999999999", "2026-11-25", "h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (jg_telemetry_parse_time(bad[i], now, &ns) != JG_EINVAL)
			fail_msg("accepted '%s'", bad[i]);

	assert_int_equal(jg_telemetry_parse_duration("250ms", &ns), 0);
	assert_int_equal(ns, 250000000LL);
	assert_int_equal(jg_telemetry_parse_duration("2s", &ns), 0);
	assert_int_equal(ns, 2000000000LL);
	assert_int_equal(jg_telemetry_parse_duration("1500", &ns), 0); /* milliseconds */
	assert_int_equal(ns, 1500000000LL);
	assert_int_equal(jg_telemetry_parse_duration("1d", &ns), 0);
	assert_int_equal(ns, 86400000000000LL);
	assert_int_equal(jg_telemetry_parse_duration("fast", &ns), JG_EINVAL);
	assert_int_equal(jg_telemetry_parse_duration("-1s", &ns), JG_EINVAL);
	assert_int_equal(jg_telemetry_parse_duration("1w", &ns), JG_EINVAL);
	assert_int_equal(jg_telemetry_parse_duration("9999999999999999d", &ns), JG_EINVAL);
}

/* A log record of the fill below: body, time (ns), level and attributes. */
static json_t *
log_at(const char *body, int64_t t, int sev, const char *level, json_t *attrs)
{
	json_t *r = log_record(body, attrs);
	json_object_set_new(r, "time_ns", json_integer((json_int_t)t));
	json_object_set_new(r, "severity_number", json_integer(sev));
	json_object_set_new(r, "level", json_string(level));
	return r;
}

static const int64_t T0 = 1795600800000000000LL;

static void
store_five_logs(struct fixture *f)
{
	json_t *batch =
	    json_pack("[o,o,o,o,o]", log_at("boot ok", T0, 9, "info", NULL),
		      log_at("card declined for alice@example.com", T0 + 1, 17, "error", NULL),
		      log_at("retry scheduled", T0 + 2, 13, "warn", NULL),
		      log_at("login", T0 + 3, 9, "info", json_pack("{s:s}", "password", "hunter2")),
		      log_at("declined again", T0 + 4, 17, "error", NULL));
	assert_int_equal(jg_telemetry_store_logs(f->db, "pay", batch, fields, 1000), 0);
	json_decref(batch);
	batch = json_pack("[o]", log_at("not pay's", T0 + 5, 17, "error", NULL));
	assert_int_equal(jg_telemetry_store_logs(f->db, "ledger", batch, fields, 1000), 0);
	json_decref(batch);
}

/* The logs reader: newest first, pages that continue by cursor, search, levels, redaction. */
static void
test_telemetry_logs_query(void **state)
{
	struct fixture *f = *state;
	struct jg_cursor_keys *keys = NULL;
	char next[JG_TELEMETRY_CURSOR_MAX], kdir[128], err[512] = "";
	json_t *logs = NULL;

	snprintf(kdir, sizeof(kdir), "%s/keys", f->dir);
	assert_int_equal(jg_keys_generate_kind(kdir, JG_KEY_CURSOR, err, sizeof(err)), 0);
	assert_int_equal(jg_cursor_keys_load(kdir, &keys, err, sizeof(err)), 0);
	struct jg_telemetry_logs_query q = {.service = "pay",
					    .since = 0,
					    .until = INT64_MAX,
					    .after = {INT64_MAX, INT64_MAX},
					    .limit = 2,
					    .fields = fields,
					    .cursor_keys = keys};

	store_five_logs(f);
	/* three pages of 2, 2 and 1, newest first; the last has no cursor */
	const char *want[] = {"declined again", "login", "retry scheduled",
			      "card declined for alice@example.com", "boot ok"};
	size_t seen = 0;
	for (int page = 0; page < 3; page++) {
		assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
		for (size_t i = 0; i < json_array_size(logs); i++, seen++)
			assert_string_equal(
			    json_string_value(json_object_get(json_array_get(logs, i), "body")),
			    want[seen]);
		json_decref(logs);
		if (page < 2) {
			assert_true(next[0] != '\0');
			assert_int_equal(jg_telemetry_logs_cursor_parse(keys, next, &q.after), 0);
		} else {
			assert_string_equal(next, "");
		}
	}
	assert_int_equal(seen, 5);

	/* a level floor and a search, as sent */
	q.after = (struct jg_telemetry_logs_pos){INT64_MAX, INT64_MAX};
	q.limit = 10;
	q.floor_severity = 17;
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
	assert_int_equal(json_array_size(logs), 2);
	json_decref(logs);
	q.floor_severity = 0;
	q.q = "alice@example.com";
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
	assert_int_equal(json_array_size(logs), 1);
	json_t *rec = json_array_get(logs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "service")), "pay");
	assert_string_equal(json_string_value(json_object_get(rec, "level")), "error");
	assert_string_equal(json_string_value(json_object_get(rec, "time")),
			    "2026-11-25T10:00:00.000000001Z");
	assert_string_equal(json_string_value(json_object_get(rec, "time_unix_nano")),
			    "1795600800000000001");
	json_decref(logs);

	/* redacted: the personal data is not found, and what is found is shown redacted */
	q.redact = true;
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
	assert_int_equal(json_array_size(logs), 0);
	json_decref(logs);
	q.q = "declined";
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
	assert_int_equal(json_array_size(logs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(logs, 1), "body")),
			    "card declined for [REDACTED:email]");
	json_decref(logs);
	q.q = NULL;
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
	json_t *attrs = json_object_get(json_array_get(logs, 1), "attributes");
	assert_string_equal(json_string_value(json_object_get(attrs, "password")),
			    "[REDACTED:field]");
	json_decref(logs);

	/* what the reader refuses */
	assert_false(jg_telemetry_search_valid(""));
	assert_false(jg_telemetry_search_valid("!!! ..."));
	assert_false(jg_telemetry_search_valid("a b c d e f g h i j k l m n o p q"));
	assert_false(jg_telemetry_search_valid("caf\xe9"));
	assert_true(jg_telemetry_search_valid("NEAR(a b) \"x\" *"));
	/* the old, unsealed form (hex of "time:id"), garbage, and a requests cursor are refused */
	struct jg_telemetry_logs_pos pos;
	assert_int_equal(jg_telemetry_logs_cursor_parse(keys, "3130303a37", &pos), JG_EINVAL);
	assert_int_equal(jg_telemetry_logs_cursor_parse(keys, "zz", &pos), JG_EINVAL);
	assert_int_equal(jg_telemetry_logs_cursor_parse(keys, "a=", &pos), JG_EINVAL);
	char other[JG_CURSOR_MAX_LEN];
	assert_int_equal(jg_cursor_seal(keys, "requests", "100:7", other, sizeof(other)), 0);
	assert_int_equal(jg_telemetry_logs_cursor_parse(keys, other, &pos), JG_EINVAL);
	assert_int_equal(jg_cursor_seal(keys, "logs", "100:7", other, sizeof(other)), 0);
	assert_int_equal(jg_telemetry_logs_cursor_parse(keys, other, &pos), 0);
	assert_true(pos.time_ns == 100 && pos.id == 7);
	assert_int_equal(jg_cursor_seal(keys, "logs", "-1:7", other, sizeof(other)), 0);
	assert_int_equal(jg_telemetry_logs_cursor_parse(keys, other, &pos), JG_EINVAL);
	/* without keys a full page ends the list: no cursor is made */
	q.cursor_keys = NULL;
	q.after = (struct jg_telemetry_logs_pos){INT64_MAX, INT64_MAX};
	q.limit = 1;
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), 0);
	assert_int_equal(json_array_size(logs), 1);
	assert_string_equal(next, "");
	json_decref(logs);
	jg_cursor_keys_free(keys);
	unit_rm_tree(kdir);
	q.limit = 0;
	assert_int_equal(jg_telemetry_logs_query(f->db, &q, &logs, next), JG_EINVAL);
	q.limit = 1;
	assert_int_equal(jg_telemetry_logs_query(NULL, &q, &logs, next), JG_EUNAVAIL);
	assert_null(logs);
}

static json_t *
span_of(const char *tid, const char *sid, const char *parent, int64_t start, const char *status,
	const char *name, const char *instance)
{
	return json_pack("{s:s,s:s,s:s?,s:I,s:I,s:s,s:s,s:s,s:s,s:{}}", "trace_id", tid, "span_id",
			 sid, "parent_span_id", parent, "start_ns", (json_int_t)start, "end_ns",
			 (json_int_t)start + 5000000, "status", status, "name", name, "instance",
			 instance, "kind", "server", "attributes");
}

#define TRACE_A "0af7651916cd43dd8448eb211c80319c"
#define TRACE_B "1af7651916cd43dd8448eb211c80319c"
#define TRACE_C "2af7651916cd43dd8448eb211c80319c"

/* The trace readers: visible only through a service with a span in it, redacted on request. */
static void
test_telemetry_trace_and_search(void **state)
{
	struct fixture *f = *state;
	json_t *spans = NULL;

	json_t *pay = json_pack("[o]", span_of(TRACE_A, "b7ad6b7169203331", NULL, T0, "ok",
					       "GET /users/bob@example.com", "10.0.0.7"));
	json_t *ledger = json_pack(
	    "[o,o]",
	    span_of(TRACE_A, "c7ad6b7169203331", "b7ad6b7169203331", T0 + 1000, "error",
		    "post entry", "ledger-1"),
	    span_of(TRACE_B, "d7ad6b7169203331", NULL, T0 + 2000, "ok", "alone", "ledger-1"));
	assert_int_equal(jg_telemetry_store_spans(f->db, "pay", pay, 1000), 0);
	assert_int_equal(jg_telemetry_store_spans(f->db, "ledger", ledger, 1000), 0);
	json_decref(pay);
	json_decref(ledger);

	assert_int_equal(jg_telemetry_trace(f->db, "pay", TRACE_A, 0, false, fields, &spans), 0);
	assert_int_equal(json_array_size(spans), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(spans, 0), "name")),
			    "GET /users/bob@example.com");
	json_decref(spans);
	assert_int_equal(jg_telemetry_trace(f->db, "pay", TRACE_A, 0, true, fields, &spans), 0);
	json_t *root = json_array_get(spans, 0);
	assert_string_equal(json_string_value(json_object_get(root, "name")),
			    "GET /users/[REDACTED:email]");
	assert_string_equal(json_string_value(json_object_get(root, "instance")),
			    "[REDACTED:ip]#1");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(spans, 1), "instance")), "ledger-1");
	json_decref(spans);
	/* B has no span of pay: not visible through pay */
	assert_int_equal(jg_telemetry_trace(f->db, "pay", TRACE_B, 0, false, fields, &spans),
			 JG_ENOTFOUND);
	assert_null(spans);
	assert_int_equal(jg_telemetry_trace(NULL, "pay", TRACE_A, 0, false, fields, &spans),
			 JG_EUNAVAIL);

	struct jg_telemetry_traces_query q = {
	    .service = "ledger", .since = 0, .until = INT64_MAX, .limit = 10, .redact = true};
	json_t *list = NULL;
	assert_int_equal(jg_telemetry_traces_search(f->db, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 2);
	json_t *b = json_array_get(list, 0), *a = json_array_get(list, 1); /* newest first */
	assert_string_equal(json_string_value(json_object_get(b, "trace_id")), TRACE_B);
	assert_string_equal(json_string_value(json_object_get(a, "root_name")),
			    "GET /users/[REDACTED:email]");
	assert_string_equal(json_string_value(json_object_get(a, "root_service")), "pay");
	assert_int_equal(json_integer_value(json_object_get(a, "spans")), 2);
	assert_int_equal(json_integer_value(json_object_get(a, "errors")), 1);
	assert_int_equal(json_array_size(json_object_get(a, "services")), 2);
	json_decref(list);
	q.errors_only = true;
	assert_int_equal(jg_telemetry_traces_search(f->db, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* durations: A lasts 5.001 ms (first start to last end), B 5 ms */
	q.errors_only = false;
	q.max_duration_ns = 5000000;
	assert_int_equal(jg_telemetry_traces_search(f->db, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "trace_id")),
			    TRACE_B);
	json_decref(list);
	q.max_duration_ns = 5001000;
	q.min_duration_ns = 5000001;
	assert_int_equal(jg_telemetry_traces_search(f->db, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "trace_id")),
			    TRACE_A);
	json_decref(list);
	q.max_duration_ns = 4999999;
	q.min_duration_ns = 0;
	assert_int_equal(jg_telemetry_traces_search(f->db, &q, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/* One span of svc with the given attributes (the JSON of span_of, attributes filled). */
static json_t *
attr_span(const char *tid, const char *sid, int64_t start, json_t *attrs)
{
	json_t *sp = span_of(tid, sid, NULL, start, "ok", "op", "host-1");
	json_object_set_new(sp, "attributes", attrs);
	return sp;
}

/* Trace ids found by a filtered search, comma-separated, into out. */
static int
attr_ids(struct jg_store *db, struct jg_telemetry_traces_query *q, char *out, size_t len,
	 int64_t *narrowed)
{
	json_t *list = NULL, *t;
	size_t i, used = 0;
	int rc = jg_telemetry_traces_search(db, q, &list, narrowed);
	out[0] = '\0';
	json_array_foreach(list, i, t)
	{
		used += (size_t)snprintf(out + used, len - used, "%s%.4s", i ? "," : "",
					 json_string_value(json_object_get(t, "trace_id")));
	}
	json_decref(list);
	return rc;
}

/*
 * Attribute filters (the same cases against PostgreSQL, answer for answer,
 * are test_telemetry_pg's): an exact string on a span of the service in the
 * window, every filter on some span, bounded scans.
 */
static void
test_telemetry_traces_attr_filter(void **state)
{
	struct fixture *f = *state;
	char got[256];
	int64_t narrowed = 0;

	json_t *pay =
	    json_pack("[o,o,o]",
		      attr_span(TRACE_A, "a000000000000001", T0,
				json_pack("{s:s,s:i}", "http.route", "/checkout", "retries", 3)),
		      attr_span(TRACE_A, "a000000000000002", T0 + 1000,
				json_pack("{s:s}", "db.system", "postgres")),
		      attr_span(TRACE_B, "b000000000000001", T0 + 2000,
				json_pack("{s:s,s:s}", "http.route", "/checkout", "retries", "3")));
	json_t *ledger = json_pack("[o]", attr_span(TRACE_C, "c000000000000001", T0 + 3000,
						    json_pack("{s:s}", "http.route", "/checkout")));
	assert_int_equal(jg_telemetry_store_spans(f->db, "pay", pay, 1000), 0);
	assert_int_equal(jg_telemetry_store_spans(f->db, "ledger", ledger, 1000), 0);
	json_decref(pay);
	json_decref(ledger);

	struct jg_telemetry_attr attrs[JG_TELEMETRY_ATTR_MAX + 1] = {{"http.route", "/checkout"},
								     {"db.system", "postgres"}};
	struct jg_telemetry_traces_query q = {
	    .service = "pay", .since = 0, .until = INT64_MAX, .limit = 10, .attrs = attrs};
	q.nattrs = 1;
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "1af7,0af7");
	assert_int_equal(narrowed, -1);
	q.nattrs = 2; /* both, on different spans of one trace */
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "0af7");
	attrs[1] = (struct jg_telemetry_attr){"retries", "3"}; /* a string, not the integer 3 */
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "1af7");
	attrs[1] = (struct jg_telemetry_attr){"http.route", "/check%"}; /* no LIKE */
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "");
	/* the ledger span's route is not pay's, and pay's are not ledger's */
	q.nattrs = 1;
	q.service = "ledger";
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "2af7");
	/* bounded: the newest 2 spans of pay (B's and A's second) are examined, A's root is not */
	q.service = "pay";
	q.scan_max = 2;
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "1af7");
	assert_int_equal(narrowed, T0 + 1000);
	q.until = narrowed; /* and on from there */
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), 0);
	assert_string_equal(got, "0af7");
	assert_int_equal(narrowed, -1);
	/* more filters than allowed, or a missing value: refused before reading */
	q.nattrs = JG_TELEMETRY_ATTR_MAX + 1;
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), JG_EINVAL);
	q.nattrs = 1;
	attrs[0].value = NULL;
	assert_int_equal(attr_ids(f->db, &q, got, sizeof(got), &narrowed), JG_EINVAL);
}

static json_t *
point_of(const char *name, const char *kind, const char *unit, const char *temporality, int64_t t,
	 double v, const char *who)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s},s:I,s:I,s:f}", "name", name, "kind",
			 kind, "unit", unit, "description", unit, "temporality", temporality,
			 "monotonic", 0, "series", "user", who, "start_ns", (json_int_t)0,
			 "time_ns", (json_int_t)t, "value", v);
}

/* The metric readers: the list (unit of the newest point), series, step windows, redaction. */
static void
test_telemetry_metrics(void **state)
{
	struct fixture *f = *state;
	const int64_t s = 1000000000LL;
	json_t *list = NULL;

	json_t *points = json_pack(
	    "[o,o,o,o,o]", point_of("latency", "gauge", "ms", "unspecified", T0 + 2 * s, 5, "a"),
	    point_of("latency", "gauge", "s", "unspecified", T0 + 3 * s, 0.007, "a"),
	    point_of("latency", "gauge", "ms", "unspecified", T0 + 1 * s, 4, "bob@example.com"),
	    point_of("errors", "sum", "1", "delta", T0 + 1 * s, 2, "a"),
	    point_of("errors", "sum", "1", "delta", T0 + 1 * s + s / 2, 3, "a"));
	assert_int_equal(jg_telemetry_store_metrics(f->db, "pay", points, 1000), 0);
	json_decref(points);

	assert_int_equal(jg_telemetry_metric_names(f->db, "pay", 0, INT64_MAX, 0, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	json_t *errors = json_array_get(list, 0), *latency = json_array_get(list, 1);
	assert_string_equal(json_string_value(json_object_get(errors, "name")), "errors");
	assert_int_equal(json_integer_value(json_object_get(errors, "points")), 2);
	assert_string_equal(json_string_value(json_object_get(latency, "unit")), "s");
	assert_string_equal(json_string_value(json_object_get(latency, "description")), "s");
	assert_int_equal(json_integer_value(json_object_get(latency, "points")), 3);
	assert_string_equal(json_string_value(json_object_get(latency, "last")),
			    "2026-11-25T10:00:03.000000000Z");
	json_decref(list);

	/* a delta sum in 1 s windows: the total per window */
	struct jg_telemetry_metrics_query q = {.service = "pay",
					       .name = "errors",
					       .since = 0,
					       .until = INT64_MAX,
					       .step_ns = s,
					       .fields = fields};
	assert_int_equal(jg_telemetry_metric_series(f->db, &q, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_t *series = json_object_get(json_array_get(list, 0), "series");
	json_t *pts = json_object_get(json_array_get(series, 0), "points");
	assert_int_equal(json_array_size(pts), 1);
	assert_true(json_real_value(json_object_get(json_array_get(pts, 0), "value")) == 5.0);
	json_decref(list);

	/* a gauge: one series per attribute set, redacted on request */
	q.name = "latency";
	q.step_ns = 0;
	q.redact = true;
	assert_int_equal(jg_telemetry_metric_series(f->db, &q, &list), 0);
	series = json_object_get(json_array_get(list, 0), "series");
	assert_int_equal(json_array_size(series), 2);
	char *text = json_dumps(series, JSON_COMPACT | JSON_SORT_KEYS);
	assert_null(strstr(text, "bob@example.com"));
	assert_non_null(strstr(text, "[REDACTED:email]"));
	free(text);
	json_decref(list);
	assert_int_equal(jg_telemetry_metric_names(NULL, "pay", 0, INT64_MAX, 0, &list),
			 JG_EUNAVAIL);
}

/*
 * Every reader hides what was received before received_since (past its
 * retention, whether or not a sweep removed it yet): logs, one trace, the
 * trace search, the metric list and series.  fixture retention: logs 100 s,
 * traces 200 s, metrics 300 s.
 */
static void
test_telemetry_readers_hide_past_retention(void **state)
{
	struct fixture *f = *state;
	char next[JG_TELEMETRY_CURSOR_MAX];
	json_t *out = NULL;
	const int64_t now = 10000;

	/* one of each received long ago (at 1000), one of each just now */
	json_t *b = json_pack("[o]", log_at("old news", T0, 9, "info", NULL));
	assert_int_equal(jg_telemetry_store_logs(f->db, "pay", b, fields, 1000), 0);
	json_decref(b);
	b = json_pack("[o]", log_at("fresh news", T0 + 1, 9, "info", NULL));
	assert_int_equal(jg_telemetry_store_logs(f->db, "pay", b, fields, now), 0);
	json_decref(b);
	b = json_pack("[o]", span_of(TRACE_A, "b7ad6b7169203331", NULL, T0, "ok", "old", "i-1"));
	assert_int_equal(jg_telemetry_store_spans(f->db, "pay", b, 1000), 0);
	json_decref(b);
	b = json_pack("[o]", span_of(TRACE_B, "d7ad6b7169203331", NULL, T0, "ok", "new", "i-1"));
	assert_int_equal(jg_telemetry_store_spans(f->db, "pay", b, now), 0);
	json_decref(b);
	b = json_pack("[o]", point_of("old_metric", "gauge", "ms", "unspecified", T0, 1, "a"));
	assert_int_equal(jg_telemetry_store_metrics(f->db, "pay", b, 1000), 0);
	json_decref(b);
	b = json_pack("[o]", point_of("new_metric", "gauge", "ms", "unspecified", T0, 2, "a"));
	assert_int_equal(jg_telemetry_store_metrics(f->db, "pay", b, now), 0);
	json_decref(b);

	int64_t logs_since = jg_telemetry_received_since(&f->cfg, JG_TELEMETRY_LOGS, now);
	int64_t traces_since = jg_telemetry_received_since(&f->cfg, JG_TELEMETRY_TRACES, now);
	int64_t metrics_since = jg_telemetry_received_since(&f->cfg, JG_TELEMETRY_METRICS, now);
	assert_int_equal(logs_since, now - 100);
	assert_int_equal(traces_since, now - 200);
	assert_int_equal(metrics_since, now - 300);

	struct jg_telemetry_logs_query lq = {.service = "pay",
					     .since = 0,
					     .until = INT64_MAX,
					     .q = "news",
					     .after = {INT64_MAX, INT64_MAX},
					     .limit = 10,
					     .fields = fields};
	assert_int_equal(jg_telemetry_logs_query(f->db, &lq, &out, next), 0);
	assert_int_equal(json_array_size(out), 2); /* received_since 0: everything stored */
	json_decref(out);
	lq.received_since = logs_since;
	assert_int_equal(jg_telemetry_logs_query(f->db, &lq, &out, next), 0);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "body")),
			    "fresh news");
	json_decref(out);

	assert_int_equal(
	    jg_telemetry_trace(f->db, "pay", TRACE_A, traces_since, false, fields, &out),
	    JG_ENOTFOUND);
	assert_int_equal(
	    jg_telemetry_trace(f->db, "pay", TRACE_B, traces_since, false, fields, &out), 0);
	json_decref(out);
	struct jg_telemetry_traces_query tq = {.service = "pay",
					       .since = 0,
					       .until = INT64_MAX,
					       .received_since = traces_since,
					       .limit = 10};
	assert_int_equal(jg_telemetry_traces_search(f->db, &tq, &out, NULL), 0);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "trace_id")),
			    TRACE_B);
	json_decref(out);

	assert_int_equal(jg_telemetry_metric_names(f->db, "pay", 0, INT64_MAX, metrics_since, &out),
			 0);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "name")),
			    "new_metric");
	json_decref(out);
	struct jg_telemetry_metrics_query mq = {.service = "pay",
						.name = "old_metric",
						.since = 0,
						.until = INT64_MAX,
						.received_since = metrics_since,
						.fields = fields};
	assert_int_equal(jg_telemetry_metric_series(f->db, &mq, &out), 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_telemetry_logs_indexed_twice, setup, teardown),
	    cmocka_unit_test(test_telemetry_log_text),
	    cmocka_unit_test(test_telemetry_redact_keeps_times),
	    cmocka_unit_test_setup_teardown(test_telemetry_spans_idempotent_and_sweep, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_telemetry_sweeps_in_chunks, setup, teardown),
	    cmocka_unit_test(test_telemetry_parse_time),
	    cmocka_unit_test_setup_teardown(test_telemetry_logs_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_telemetry_trace_and_search, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_telemetry_traces_attr_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_telemetry_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_telemetry_readers_hide_past_retention, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
