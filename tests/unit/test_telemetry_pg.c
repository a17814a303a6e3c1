/*
 * test_telemetry_pg.c - the telemetry readers whose SQL is meant for both
 * engines, run against a real PostgreSQL server (a throwaway cluster of
 * tests/lib/pg-cluster.sh: `make unit` runs this binary under
 * `pg-cluster.sh run`, which exports JG_PG_URL; run by hand from the
 * repository root, it starts a cluster of its own).
 *
 * The telemetry migrations are SQLite's (FTS5), so the test makes the one
 * table it needs, metric_points, in PostgreSQL's words, stores points
 * through jg_telemetry_store_metrics and reads them back.  The metric list
 * once selected unit and description beside GROUP BY name, kind, which
 * PostgreSQL refuses: the list must come back, with the newest point's unit.
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

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"

static const char *url;
static struct jg_store *db;

static const char schema[] =
    "DROP TABLE IF EXISTS metric_points;"
    "CREATE TABLE metric_points ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " service TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL,"
    " description TEXT NOT NULL, temporality TEXT NOT NULL, monotonic BIGINT NOT NULL,"
    " series TEXT NOT NULL, start_ns BIGINT NOT NULL, time_ns BIGINT NOT NULL,"
    " value DOUBLE PRECISION, histogram TEXT, received_at BIGINT NOT NULL);"
    "CREATE INDEX metric_points_lookup ON metric_points (service, name, time_ns);";

static int
setup(void **state)
{
	struct jg_store_conn *c;
	char err[512] = "";
	(void)state;
	if (jg_store_open(url, &db, err, sizeof(err)) != 0)
		fail_msg("open %s: %s", url, err);
	assert_int_equal(jg_store_acquire(db, &c), 0);
	if (jg_store_exec_script(c, schema, err, sizeof(err)) != 0)
		fail_msg("schema: %s", err);
	jg_store_release(db, c);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	jg_store_close(db);
	db = NULL;
	return 0;
}

static json_t *
point_of(const char *name, const char *unit, int64_t t, double v)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s},s:I,s:I,s:f}", "name", name, "kind",
			 "gauge", "unit", unit, "description", "latency of a call", "temporality",
			 "unspecified", "monotonic", 0, "series", "route", "/pay", "start_ns",
			 (json_int_t)0, "time_ns", (json_int_t)t, "value", v);
}

static void
test_metric_names_and_series_on_postgres(void **state)
{
	const int64_t t0 = 1795600800000000000LL;
	json_t *list = NULL;
	(void)state;

	json_t *points = json_pack("[o,o,o]", point_of("latency", "ms", t0 + 1, 4),
				   point_of("latency", "s", t0 + 3, 0.005),
				   point_of("latency", "ms", t0 + 2, 6));
	assert_int_equal(jg_telemetry_store_metrics(db, "pay", points, 1000), 0);
	json_decref(points);

	assert_int_equal(jg_telemetry_metric_names(db, "pay", 0, INT64_MAX, &list), 0);
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
	assert_int_equal(jg_telemetry_metric_series(db, &q, &list), 0);
	json_t *series = json_object_get(json_array_get(list, 0), "series");
	assert_int_equal(json_array_size(series), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(series, 0), "points")), 3);
	json_decref(list);
}

int
main(int argc, char **argv)
{
	(void)argc;
	url = getenv("JG_PG_URL");
	if (url == NULL) {
		if (getenv("MAKELEVEL") != NULL) {
			fprintf(stderr, "test_telemetry_pg: JG_PG_URL is not set: make unit runs "
					"this test under tests/lib/pg-cluster.sh run\n");
			return 1;
		}
		/* run by hand: under a cluster of its own (from the repository root) */
		execl("tests/lib/pg-cluster.sh", "pg-cluster.sh", "run", "--", argv[0],
		      (char *)NULL);
		perror("test_telemetry_pg: tests/lib/pg-cluster.sh (run from the repository root)");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_metric_names_and_series_on_postgres, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
