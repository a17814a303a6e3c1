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
#include "jitgate/error.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
