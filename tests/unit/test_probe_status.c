/*
 * test_probe_status.c - where probes are installed (probe_status.h), as
 * agent instances report it, against a real SQLite store with the
 * repository's migrations; grants through access.c, probes through
 * probes.c.  Time is passed in: nothing sleeps.
 *
 * What a user relies on: the engineer's probe list counts the instances
 * that installed each probe and lists those that failed with their code
 * and message; a report replaces what its instance said before; an
 * instance that stopped reporting stops counting (and is swept); a report
 * naming another service's probe, or no probe, changes nothing and is not
 * an error; malformed reports are refused whole.  Built as
 * test_probe_status_pg (JG_TEST_PG), the same cases run on PostgreSQL
 * (tests/unit/pgdb.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/error.h"
#include "jitgate/policy.h"
#include "jitgate/probe_status.h"
#include "jitgate/probes.h"
#include "jitgate/store.h"
#ifdef JG_TEST_PG
#include "pgdb.h"
#endif
#include "probe_fixture.h"

#define T0 1764000000

static const char policy_yaml[] = "policy: test-probes\n"
				  "description: the policy of test_probes.c\n"
				  "services: [\"svc-*\"]\n"
				  "rules:\n"
				  "  - capabilities: [deploy-probe]\n"
				  "    requesters: {groups: [eng]}\n"
				  "    max_duration: 4h\n"
				  "    approval: none\n";

static const char *const eng[] = {"eng"};
static const struct jg_access_caller alice = {
    .actor = "user:alice", .sub = "alice", .groups = eng, .ngroups = 1};

static int
setup(void **state)
{
	return probe_fixture_setup(state, "jg-pstatus", policy_yaml, T0);
}

static int
teardown(void **state)
{
	return probe_fixture_teardown(state);
}

/* An active deploy-probe grant of alice on svc for duration seconds from now. */
static void
grant(struct fixture *f, const char *svc, int64_t now, int duration, char id[64])
{
	probe_fixture_grant(f, &alice, svc, now, duration, id);
}

/* A probe of grant on svc for duration seconds at now; its end into *until. */
static void
probe(struct fixture *f, const char *svc, const char *grant_id, int64_t grant_expires, int64_t now,
      int duration, char id[JG_PROBE_ID_MAX], int64_t *until)
{
	json_t *spec =
	    json_pack("{s:s,s:i,s:[{s:s,s:s,s:s}]}", "function", "Pay.charge", "duration", duration,
		      "conditions", "field", "email", "op", "eq", "value", "ann@example.com");
	struct jg_probe_new p = {.service = svc,
				 .grant = grant_id,
				 .actor = "user:alice",
				 .spec = spec,
				 .grant_expires = grant_expires};
	json_t *usage = NULL;
	assert_int_equal(jg_probe_create(f->audit, &p, now, id, until, &usage), 0);
	assert_true(jg_probe_id_valid(id));
	json_decref(usage);
	json_decref(spec);
}

/*
 * The engineer's list of svc at now, instances counted since `since`, as
 * the API's handler makes it: the live probes, then their status (redact:
 * the failure messages redacted with fields).
 */
static json_t *
list_with_status(struct fixture *f, const char *svc, int64_t now, int64_t since, bool redact,
		 char *const *fields)
{
	json_t *list = NULL;
	assert_int_equal(jg_probe_list_live(f->store, svc, now, redact, fields, &list), 0);
	assert_int_equal(jg_probe_status_attach(f->store, svc, since, redact, fields, list), 0);
	return list;
}

static json_t *
list_of(struct fixture *f, const char *svc, int64_t now, int64_t since)
{
	return list_with_status(f, svc, now, since, false, NULL);
}

/* The status of probe id in list (borrowed); fails the test when it is not listed. */
static json_t *
status_of(json_t *list, const char *id)
{
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "id")), id) == 0) {
			json_t *s = json_object_get(p, "status");
			assert_non_null(s);
			return s;
		}
	}
	fail_msg("probe %s not listed", id);
	return NULL;
}

static json_int_t
installed(json_t *status)
{
	json_t *n = json_object_get(status, "installed");
	assert_true(json_is_integer(n));
	return json_integer_value(n);
}

static void
report(struct fixture *f, const char *svc, const char *instance, const char *const *ids, size_t n,
       const struct jg_probe_failure *failed, size_t nfailed, int64_t now)
{
	struct jg_probe_report r = {.service = svc,
				    .instance = instance,
				    .installed = ids,
				    .ninstalled = n,
				    .failed = failed,
				    .nfailed = nfailed};
	assert_int_equal(jg_probe_status_report(f->store, &r, now), 0);
}

/* Two probes of svc-a (p1, p2), deployed at T0 for an hour. */
static void
two_probes(struct fixture *f, char p1[JG_PROBE_ID_MAX], char p2[JG_PROBE_ID_MAX])
{
	char g[64];
	int64_t until;
	grant(f, "svc-a", T0, 3600, g);
	probe(f, "svc-a", g, T0 + 3600, T0, 3600, p1, &until);
	probe(f, "svc-a", g, T0 + 3600, T0, 3600, p2, &until);
}

static void
test_probe_status_counts_instances_and_lists_failures(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX];
	two_probes(f, p1, p2);

	/* before any report: every probe has a status, installed nowhere */
	json_t *list = list_of(f, "svc-a", T0 + 1, T0 - 30);
	assert_int_equal(installed(status_of(list, p1)), 0);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 0);
	json_decref(list);

	const char *both[] = {p1, p2}, *one[] = {p1};
	struct jg_probe_failure why = {p2, "bad_limits", "max_depth 9: <b>not</b> supported"};
	report(f, "svc-a", "host-a:101", both, 2, NULL, 0, T0 + 5);
	report(f, "svc-a", "host-b:202", one, 1, &why, 1, T0 + 6);

	list = list_of(f, "svc-a", T0 + 7, T0 + 7 - 30);
	assert_int_equal(installed(status_of(list, p1)), 2);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 0);
	assert_int_equal(installed(status_of(list, p2)), 1);
	json_t *failed = json_object_get(status_of(list, p2), "failed");
	assert_int_equal(json_array_size(failed), 1);
	json_t *f0 = json_array_get(failed, 0);
	assert_string_equal(json_string_value(json_object_get(f0, "instance")), "host-b:202");
	assert_string_equal(json_string_value(json_object_get(f0, "code")), "bad_limits");
	/* stored as sent: escaping is the page's job */
	assert_string_equal(json_string_value(json_object_get(f0, "message")),
			    "max_depth 9: <b>not</b> supported");
	json_decref(list);
}

/*
 * A failure message is the service's free text: a reader without read-pii
 * gets it through the redaction scanners, one with read-pii as sent.
 */
static void
test_probe_status_failure_redacted_without_read_pii(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX];
	char *const fields[] = {"email", NULL};
	json_t *list = NULL;
	two_probes(f, p1, p2);

	struct jg_probe_failure why = {p1, "bad_conditions",
				       "cannot compare customer == ann@example.com"};
	report(f, "svc-a", "host-a:101", NULL, 0, &why, 1, T0 + 5);
	list = list_with_status(f, "svc-a", T0 + 6, T0 - 24, true, fields);
	json_t *f0 = json_array_get(json_object_get(status_of(list, p1), "failed"), 0);
	assert_string_equal(json_string_value(json_object_get(f0, "message")),
			    "cannot compare customer == [REDACTED:email]");
	assert_string_equal(json_string_value(json_object_get(f0, "instance")), "host-a:101");
	json_decref(list);
	list = list_with_status(f, "svc-a", T0 + 6, T0 - 24, false, fields);
	f0 = json_array_get(json_object_get(status_of(list, p1), "failed"), 0);
	assert_string_equal(json_string_value(json_object_get(f0, "message")),
			    "cannot compare customer == ann@example.com");
	json_decref(list);
}

/*
 * Made-up instance names cannot grow the table without bound: a new
 * instance beyond JG_PROBE_STATUS_INSTANCES_MAX of the service is refused
 * (nothing stored), the ones already reporting go on.
 */
static void
test_probe_status_instances_bounded(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], name[32];
	two_probes(f, p1, p2);
	const char *one[] = {p1};

	for (int i = 0; i < JG_PROBE_STATUS_INSTANCES_MAX; i++) {
		snprintf(name, sizeof(name), "pod-%d", i);
		report(f, "svc-a", name, one, 1, NULL, 0, T0 + 5);
	}
	struct jg_probe_report r = {
	    .service = "svc-a", .instance = "pod-new", .installed = one, .ninstalled = 1};
	assert_int_equal(jg_probe_status_report(f->store, &r, T0 + 6), JG_ECONFLICT);
	report(f, "svc-a", "pod-0", one, 1, NULL, 0, T0 + 6);
	json_t *list = list_of(f, "svc-a", T0 + 7, T0 - 23);
	assert_int_equal(installed(status_of(list, p1)), JG_PROBE_STATUS_INSTANCES_MAX);
	json_decref(list);
}

static void
test_probe_status_report_replaces_the_instances_state(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX];
	two_probes(f, p1, p2);
	const char *both[] = {p1, p2}, *one[] = {p1};
	struct jg_probe_failure why = {p1, "too_many_probes", "500 installed"};

	report(f, "svc-a", "i-1", both, 2, NULL, 0, T0 + 1);
	/* the next report no longer lists p2 and says p1 failed */
	report(f, "svc-a", "i-1", NULL, 0, &why, 1, T0 + 2);
	json_t *list = list_of(f, "svc-a", T0 + 3, T0 - 27);
	assert_int_equal(installed(status_of(list, p1)), 0);
	assert_int_equal(installed(status_of(list, p2)), 0);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 1);
	json_decref(list);
	/* and then installed it after all */
	report(f, "svc-a", "i-1", one, 1, NULL, 0, T0 + 4);
	list = list_of(f, "svc-a", T0 + 5, T0 - 25);
	assert_int_equal(installed(status_of(list, p1)), 1);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 0);
	json_decref(list);
	/* an id listed both ways counts as failed */
	report(f, "svc-a", "i-1", one, 1, &why, 1, T0 + 6);
	list = list_of(f, "svc-a", T0 + 7, T0 - 23);
	assert_int_equal(installed(status_of(list, p1)), 0);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 1);
	json_decref(list);
}

static void
test_probe_status_silent_instance_stops_counting_and_is_swept(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX];
	two_probes(f, p1, p2);
	const char *one[] = {p1};
	struct jg_probe_failure why = {p1, "bad_conditions", "op 'regex'"};
	int64_t deleted = -1;

	report(f, "svc-a", "early", one, 1, NULL, 0, T0 + 10);
	report(f, "svc-a", "early-failed", NULL, 0, &why, 1, T0 + 10);
	report(f, "svc-a", "late", one, 1, NULL, 0, T0 + 20);
	/* counted since T0 + 10: all; since T0 + 11: only the late one */
	json_t *list = list_of(f, "svc-a", T0 + 40, T0 + 10);
	assert_int_equal(installed(status_of(list, p1)), 2);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 1);
	json_decref(list);
	list = list_of(f, "svc-a", T0 + 41, T0 + 11);
	assert_int_equal(installed(status_of(list, p1)), 1);
	assert_int_equal(json_array_size(json_object_get(status_of(list, p1), "failed")), 0);
	json_decref(list);
	assert_int_equal(jg_probe_status_sweep(f->store, T0 + 11, &deleted), 0);
	assert_int_equal(deleted, 2);
	/* the late one is still there to count for anyone looking further back */
	list = list_of(f, "svc-a", T0 + 41, 0);
	assert_int_equal(installed(status_of(list, p1)), 1);
	json_decref(list);
}

static void
test_probe_status_ignores_other_services_probes(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], gb[64], q[JG_PROBE_ID_MAX];
	int64_t until;
	two_probes(f, p1, p2);
	grant(f, "svc-b", T0, 3600, gb);
	probe(f, "svc-b", gb, T0 + 3600, T0, 3600, q, &until);

	/* an agent of svc-a names svc-b's probe and a probe that does not exist */
	const char *ids[] = {q, "prb_nosuchprobe", p1};
	struct jg_probe_failure why = {q, "bad_limits", "made up"};
	report(f, "svc-a", "i-1", ids, 3, &why, 1, T0 + 1);
	json_t *list = list_of(f, "svc-b", T0 + 2, T0 - 28);
	assert_int_equal(installed(status_of(list, q)), 0);
	assert_int_equal(json_array_size(json_object_get(status_of(list, q), "failed")), 0);
	json_decref(list);
	list = list_of(f, "svc-a", T0 + 2, T0 - 28);
	assert_int_equal(installed(status_of(list, p1)), 1);
	json_decref(list);
	/* and one of svc-b with the same instance name counts on its own probe only */
	const char *own[] = {q};
	report(f, "svc-b", "i-1", own, 1, NULL, 0, T0 + 3);
	list = list_of(f, "svc-a", T0 + 4, T0 - 26);
	assert_int_equal(installed(status_of(list, p1)), 1);
	json_decref(list);
	list = list_of(f, "svc-b", T0 + 4, T0 - 26);
	assert_int_equal(installed(status_of(list, q)), 1);
	json_decref(list);
}

static void
test_probe_status_malformed_reports_change_nothing(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], msg[JG_PROBE_STATUS_MESSAGE_MAX + 2],
	    inst[JG_PROBE_STATUS_INSTANCE_MAX + 2];
	two_probes(f, p1, p2);
	const char *one[] = {p1};
	static const char *many[JG_PROBE_STATUS_IDS_MAX + 1];
	for (size_t i = 0; i <= JG_PROBE_STATUS_IDS_MAX; i++)
		many[i] = p1;
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0'; /* 257 bytes */
	memset(inst, 'i', sizeof(inst) - 1);
	inst[sizeof(inst) - 1] = '\0'; /* 129 bytes */

	struct {
		const char *instance;
		const char *const *ids;
		size_t n;
		struct jg_probe_failure fail;
		size_t nfailed;
	} bad[] = {
	    {"", one, 1, {0}, 0},
	    {"line\nbreak", one, 1, {0}, 0},
	    {inst, one, 1, {0}, 0},
	    {"i-1", many, JG_PROBE_STATUS_IDS_MAX + 1, {0}, 0},
	    {"i-1", one, 1, {p2, "Bad", "upper case"}, 1},
	    {"i-1", one, 1, {p2, "", "empty"}, 1},
	    {"i-1", one, 1, {p2, "too_long", msg}, 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jg_probe_report r = {.service = "svc-a",
					    .instance = bad[i].instance,
					    .installed = bad[i].ids,
					    .ninstalled = bad[i].n,
					    .failed = &bad[i].fail,
					    .nfailed = bad[i].nfailed};
		assert_int_equal(jg_probe_status_report(f->store, &r, T0 + 1), JG_EINVAL);
	}
	/* the longest of each is fine */
	msg[JG_PROBE_STATUS_MESSAGE_MAX] = '\0';
	inst[JG_PROBE_STATUS_INSTANCE_MAX] = '\0';
	struct jg_probe_failure longest = {p2, "abcdefghijklmnopqrstuvwxyz_0123456789", msg};
	report(f, "svc-a", inst, one, 1, &longest, 1, T0 + 1);
	json_t *list = list_of(f, "svc-a", T0 + 2, T0 - 28);
	assert_int_equal(installed(status_of(list, p1)), 1);
	json_t *f0 = json_array_get(json_object_get(status_of(list, p2), "failed"), 0);
	assert_string_equal(json_string_value(json_object_get(f0, "message")), msg);
	assert_string_equal(json_string_value(json_object_get(f0, "instance")), inst);
	json_decref(list);
}

static void
test_probe_status_failed_list_is_bounded(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], name[32];
	two_probes(f, p1, p2);
	struct jg_probe_failure why = {p1, "bad_limits", "no"};
	for (int i = 0; i < JG_PROBE_STATUS_FAILED_SHOWN + 5; i++) {
		snprintf(name, sizeof(name), "i-%02d", i);
		report(f, "svc-a", name, NULL, 0, &why, 1, T0 + 1);
	}
	json_t *list = list_of(f, "svc-a", T0 + 2, T0 - 28);
	json_t *failed = json_object_get(status_of(list, p1), "failed");
	assert_int_equal(json_array_size(failed), JG_PROBE_STATUS_FAILED_SHOWN);
	/* by instance name */
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(failed, 0), "instance")), "i-00");
	json_decref(list);
}

/*
 * What the instances that installed a probe lost of its events adds up in
 * its status; a failed instance and one that stopped reporting add nothing,
 * and a new report replaces the instance's count.
 */
static void
test_probe_status_adds_up_dropped_events(void **state)
{
	struct fixture *f = *state;
	char p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX];
	two_probes(f, p1, p2);

	const char *ids[] = {p1, p2};
	const int64_t lost_a[] = {7, 0}, lost_b[] = {5, 0};
	struct jg_probe_report a = {.service = "svc-a",
				    .instance = "host-a:1",
				    .installed = ids,
				    .dropped = lost_a,
				    .ninstalled = 2};
	struct jg_probe_report b = a;
	b.instance = "host-b:2";
	b.dropped = lost_b;
	b.ninstalled = 1;
	assert_int_equal(jg_probe_status_report(f->store, &a, T0 + 1), 0);
	assert_int_equal(jg_probe_status_report(f->store, &b, T0 + 10), 0);
	/* an instance that reports no counts (NULL) lost none */
	report(f, "svc-a", "host-c:3", ids, 2, NULL, 0, T0 + 10);

	json_t *list = list_of(f, "svc-a", T0 + 11, T0);
	assert_int_equal(json_integer_value(json_object_get(status_of(list, p1), "dropped")), 12);
	assert_int_equal(json_integer_value(json_object_get(status_of(list, p2), "dropped")), 0);
	json_decref(list);
	/* host-a silent since T0 + 1: only host-b's count is counted */
	list = list_of(f, "svc-a", T0 + 11, T0 + 5);
	assert_int_equal(json_integer_value(json_object_get(status_of(list, p1), "dropped")), 5);
	json_decref(list);
	/* host-b's next report replaces its count (the agent's total since it installed) */
	const int64_t more[] = {9};
	b.dropped = more;
	assert_int_equal(jg_probe_status_report(f->store, &b, T0 + 12), 0);
	list = list_of(f, "svc-a", T0 + 13, T0 + 5);
	assert_int_equal(json_integer_value(json_object_get(status_of(list, p1), "dropped")), 9);
	json_decref(list);
}

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef JG_TEST_PG
	pgdb_init("test_probe_status_pg", argv);
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_probe_status_instances_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_failure_redacted_without_read_pii,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_counts_instances_and_lists_failures,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_adds_up_dropped_events, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_report_replaces_the_instances_state,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_probe_status_silent_instance_stops_counting_and_is_swept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_ignores_other_services_probes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_malformed_reports_change_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_status_failed_list_is_bounded, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
