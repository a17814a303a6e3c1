/*
 * test_probes.c - probes and their events (probes.h) against a real SQLite
 * store with the repository's migrations and a started audit writer;
 * grants are made and ended through access.c.  Time is passed in: nothing
 * sleeps.
 *
 * What a user relies on: a probe is served (to the engineer's list and to
 * the agent) only while it is not deleted, not past its end and its grant
 * is active - revoking or expiring the grant stops it at once; a probe
 * never outlives its grant; only the grant that deployed a probe removes
 * it or reads its events; an agent cannot store events for a probe that is
 * not live, and only the events that fit the probe's limits (max_hits
 * exactly, the rate's burst exactly, the shape of captured values at each
 * limit and one past it), the probe disabled (audited) at max_hits or by
 * the agent's CPU guard; what it stores is recorded in the audit log; a list finds the live probes
 * past any number of dead ones (read a page at a time) and stops at JG_PROBE_LIST_MAX, oldest
 * first, giving each probe the number of its events stored. Built as test_probes_pg (JG_TEST_PG),
 * the same cases run on a fresh PostgreSQL database per test, migrated by an owner role and served
 * as a role holding only jitgate_serving (tests/unit/pgdb.h).
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
#include "jitgate/probes.h"
#include "jitgate/store.h"
#ifdef JG_TEST_PG
#include "pgdb.h"
#endif
#include "probe_fixture.h"

#define T0	    1764000000
#define ms(seconds) ((int64_t)(seconds)*1000) /* ingest takes milliseconds */

static const char policy_yaml[] = "policy: test-probes\n"
				  "description: the policy of test_probes.c\n"
				  "services: [\"svc-*\"]\n"
				  "rules:\n"
				  "  - capabilities: [deploy-probe]\n"
				  "    requesters: {groups: [eng]}\n"
				  "    max_duration: 4h\n"
				  "    approval: none\n"
				  "  - capabilities: [deploy-probe]\n"
				  "    requesters: {groups: [budgeted]}\n"
				  "    max_duration: 4h\n"
				  "    approval: none\n"
				  "    probe_budget: {max_probes: 2, max_hits: 5}\n"
				  "  - capabilities: [deploy-probe]\n"
				  "    requesters: {groups: [frugal]}\n"
				  "    max_duration: 4h\n"
				  "    approval: none\n"
				  "    probe_budget: {max_bytes: 30}\n";

static const char *const eng[] = {"eng"};
static const struct jg_access_caller alice = {
    .actor = "user:alice", .sub = "alice", .groups = eng, .ngroups = 1};
static const char *const budgeted[] = {"budgeted"}, *const frugal[] = {"frugal"};
static const struct jg_access_caller bob = {
    .actor = "user:bob", .sub = "bob", .groups = budgeted, .ngroups = 1};
static const struct jg_access_caller carol = {
    .actor = "user:carol", .sub = "carol", .groups = frugal, .ngroups = 1};

static int
setup(void **state)
{
	return probe_fixture_setup(state, "jg-probes", policy_yaml, T0);
}

static int
teardown(void **state)
{
	return probe_fixture_teardown(state);
}

/* An active deploy-probe grant of alice on svc-a for duration seconds from now. */
static void
grant(struct fixture *f, int64_t now, int duration, char id[64])
{
	probe_fixture_grant(f, &alice, "svc-a", now, duration, id);
}

/* A probe of grant on svc-a for duration seconds at now; its end into *until. */
static void
probe(struct fixture *f, const char *grant_id, int64_t grant_expires, int64_t now, int duration,
      char id[JG_PROBE_ID_MAX], int64_t *until)
{
	json_t *spec =
	    json_pack("{s:s,s:i,s:[{s:s,s:s,s:s}]}", "function", "Pay.charge", "duration", duration,
		      "conditions", "field", "email", "op", "eq", "value", "ann@example.com");
	struct jg_probe_new p = {.service = "svc-a",
				 .grant = grant_id,
				 .actor = "user:alice",
				 .spec = spec,
				 .grant_expires = grant_expires};
	json_t *usage = NULL;
	assert_int_equal(jg_probe_create(f->audit, &p, now, id, until, &usage), 0);
	assert_non_null(usage);
	assert_true(jg_probe_id_valid(id));
	json_decref(usage);
	json_decref(spec);
}

static size_t
listed(struct fixture *f, int64_t now, json_t **first)
{
	json_t *list = NULL, *agent = NULL;
	char *const fields[] = {"email", NULL};
	assert_int_equal(jg_probe_list_live(f->store, "svc-a", now, true, fields, &list), 0);
	assert_int_equal(jg_probe_live_for_agent(f->store, "svc-a", now, &agent), 0);
	/* the engineer and the agent see the same probes */
	assert_int_equal(json_array_size(list), json_array_size(agent));
	size_t n = json_array_size(list);
	if (first)
		*first = n ? json_incref(json_array_get(list, 0)) : NULL;
	json_decref(list);
	json_decref(agent);
	return n;
}

static void
test_probe_lives_with_its_grant(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX], why[128];
	int64_t until;
	json_t *first = NULL, *out = NULL;

	grant(f, T0, 600, g);
	/* asked for a day: clipped to the grant's end */
	probe(f, g, T0 + 600, T0 + 10, 86400, p, &until);
	assert_int_equal(until, T0 + 600);
	assert_int_equal(listed(f, T0 + 20, &first), 1);
	assert_string_equal(json_string_value(json_object_get(first, "id")), p);
	assert_string_equal(json_string_value(json_object_get(first, "grant")), g);
	/* the value of a condition on personal data is not shown redacted away */
	json_t *cond = json_array_get(json_object_get(first, "conditions"), 0);
	assert_string_not_equal(json_string_value(json_object_get(cond, "value")),
				"ann@example.com");
	json_decref(first);
	assert_int_equal(listed(f, T0 + 600, NULL), 0); /* its end */

	/* a live probe of a revoked grant stops at once */
	char g2[64], p2[JG_PROBE_ID_MAX];
	grant(f, T0 + 1000, 3600, g2);
	probe(f, g2, T0 + 4600, T0 + 1000, 1800, p2, &until);
	assert_int_equal(listed(f, T0 + 1001, NULL), 1);
	f->ctx.now = T0 + 1002;
	assert_int_equal(jg_access_revoke(&f->ctx, &alice, g2, NULL, &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(listed(f, T0 + 1003, NULL), 0);
}

static void
test_probe_belongs_to_the_grant_that_deployed_it(void **state)
{
	struct fixture *f = *state;
	char a[64], b[64], p[JG_PROBE_ID_MAX];
	int64_t until, last;
	json_t *events = NULL;

	grant(f, T0, 600, a);
	grant(f, T0, 600, b);
	probe(f, a, T0 + 600, T0, 300, p, &until);
	struct jg_probe_events_query q = {
	    .service = "svc-a", .grant = b, .probe = p, .limit = 10, .redact = true};
	assert_int_equal(jg_probe_events_read(f->store, &q, &events, &last), JG_ENOTFOUND);
	assert_int_equal(jg_probe_delete(f->store, "svc-a", b, p, T0 + 1), JG_ENOTFOUND);
	assert_int_equal(jg_probe_delete(f->store, "svc-b", a, p, T0 + 1), JG_ENOTFOUND);
	assert_int_equal(listed(f, T0 + 1, NULL), 1);
	assert_int_equal(jg_probe_delete(f->store, "svc-a", a, p, T0 + 1), 0);
	assert_int_equal(listed(f, T0 + 2, NULL), 0);
	assert_int_equal(jg_probe_delete(f->store, "svc-a", a, p, T0 + 2), JG_ENOTFOUND);
}

static void
test_probe_events_only_while_live(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX], why[128];
	int64_t until, last;
	struct jg_probe_ingest_result r;
	char *texts[2] = {"{\"email\":\"ann@example.com\",\"n\":1}", "{\"n\":2}"};
	json_t *events = NULL, *out = NULL;

	grant(f, T0, 600, g);
	probe(f, g, T0 + 600, T0, 300, p, &until);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-b", "key_b", p, texts, 2, ms(T0 + 1), &r),
	    JG_ENOTFOUND); /* another service's agent */
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "key_a", p, texts, 2, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, 2);
	assert_int_equal(r.nrefused, 0);
	assert_int_equal(r.last_id, r.first_id + 1);

	struct jg_probe_events_query q = {
	    .service = "svc-a", .grant = g, .probe = p, .limit = 10, .redact = true};
	char *const fields[] = {"email", NULL};
	q.sensitive_fields = fields;
	assert_int_equal(jg_probe_events_read(f->store, &q, &events, &last), 0);
	assert_int_equal(json_array_size(events), 2);
	json_t *ev = json_object_get(json_array_get(events, 0), "event");
	assert_string_not_equal(json_string_value(json_object_get(ev, "email")), "ann@example.com");
	json_decref(events);
	q.redact = false; /* read-pii: as sent */
	assert_int_equal(jg_probe_events_read(f->store, &q, &events, &last), 0);
	ev = json_object_get(json_array_get(events, 0), "event");
	assert_string_equal(json_string_value(json_object_get(ev, "email")), "ann@example.com");
	json_decref(events);

	/* the grant ends: its probe takes nothing more */
	f->ctx.now = T0 + 2;
	assert_int_equal(jg_access_revoke(&f->ctx, &alice, g, NULL, &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "key_a", p, texts, 1, ms(T0 + 3), &r),
	    JG_ECONFLICT);

	/* what was stored is in the log, once */
	struct jg_audit_filter filter = {
	    .type = "probe.events.ingested", .before = UINT64_MAX, .limit = JG_AUDIT_LIST_MAX};
	assert_int_equal(jg_audit_list(f->store, &filter, &out), 0);
	json_t *list = json_object_get(out, "entries");
	assert_int_equal(json_array_size(list), 1);
	json_t *data = json_object_get(json_object_get(json_array_get(list, 0), "entry"), "data");
	assert_int_equal(json_integer_value(json_object_get(data, "count")), 2);
	assert_string_equal(json_string_value(json_object_get(data, "ingest_key")), "key_a");
	json_decref(out);
}

/* The events field of probe id in the engineer's list at now; -1 when it is not listed. */
static json_int_t
events_listed(struct fixture *f, int64_t now, const char *id)
{
	json_t *list = NULL, *agent = NULL, *row;
	json_int_t n = -1;
	size_t i;
	assert_int_equal(jg_probe_list_live(f->store, "svc-a", now, false, NULL, &list), 0);
	json_array_foreach(list, i, row)
	{
		if (strcmp(json_string_value(json_object_get(row, "id")), id) == 0) {
			assert_true(json_is_integer(json_object_get(row, "events")));
			n = json_integer_value(json_object_get(row, "events"));
		}
	}
	/* the agent's poll carries no count */
	assert_int_equal(jg_probe_live_for_agent(f->store, "svc-a", now, &agent), 0);
	json_array_foreach(agent, i, row) assert_null(json_object_get(row, "events"));
	json_decref(list);
	json_decref(agent);
	return n;
}

/*
 * The engineer's list gives each live probe the number of its events stored
 * now: each probe its own (not its grant's, not the service's), grown by
 * each batch, shrunk by the retention sweep.
 */
static void
test_probe_list_counts_each_probes_events(void **state)
{
	struct fixture *f = *state;
	char g[64], h[64], p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], p3[JG_PROBE_ID_MAX];
	int64_t until, deleted = 0;
	struct jg_probe_ingest_result r;
	char *texts[3] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"};

	grant(f, T0, 3600, g);
	grant(f, T0, 3600, h);
	probe(f, g, T0 + 3600, T0, 1800, p1, &until);
	probe(f, g, T0 + 3600, T0, 1800, p2, &until);
	probe(f, h, T0 + 3600, T0, 1800, p3, &until);
	assert_int_equal(events_listed(f, T0 + 1, p1), 0);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p1, texts, 2, ms(T0 + 1), &r), 0);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p3, texts, 3, ms(T0 + 2), &r), 0);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p1, texts, 1, ms(T0 + 3), &r), 0);
	assert_int_equal(events_listed(f, T0 + 4, p1), 3);
	assert_int_equal(events_listed(f, T0 + 4, p2), 0);
	assert_int_equal(events_listed(f, T0 + 4, p3), 3);
	/* retention removes those received before T0 + 2: p1's first batch */
	assert_int_equal(jg_probe_events_sweep(f->store, T0 + 2, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(events_listed(f, T0 + 5, p1), 1);
	assert_int_equal(events_listed(f, T0 + 5, p3), 3);
}

/*
 * A list reads its candidates a page at a time: live probes behind more dead
 * candidates (a revoked grant's, made the same second, so pages part within
 * one created_at) than a page holds are all found, in (created_at, id)
 * order, and a list stops at JG_PROBE_LIST_MAX.
 */
static void
test_probe_list_pages_past_dead_probes_up_to_its_cap(void **state)
{
	struct fixture *f = *state;
	char dead[64], live[64], p[JG_PROBE_ID_MAX], why[128];
	int64_t until;
	json_t *out = NULL, *list = NULL;

	grant(f, T0, 3600, dead);
	grant(f, T0, 3600, live);
	for (int i = 0; i < 300; i++)
		probe(f, dead, T0 + 3600, T0 + 10, 3600, p, &until);
	for (int i = 0; i < 40; i++)
		probe(f, live, T0 + 3600, T0 + 10 + i % 2, 3600, p, &until);
	f->ctx.now = T0 + 20;
	assert_int_equal(jg_access_revoke(&f->ctx, &alice, dead, NULL, &out, why, sizeof(why)), 0);
	json_decref(out);
	assert_int_equal(listed(f, T0 + 30, NULL), 40);
	for (int i = 0; i < JG_PROBE_LIST_MAX; i++)
		probe(f, live, T0 + 3600, T0 + 12 + i % 3, 3600, p, &until);
	assert_int_equal(listed(f, T0 + 30, NULL), JG_PROBE_LIST_MAX);
	assert_int_equal(jg_probe_list_live(f->store, "svc-a", T0 + 30, false, NULL, &list), 0);
	for (size_t i = 1; i < json_array_size(list); i++) {
		json_t *a = json_array_get(list, i - 1), *b = json_array_get(list, i);
		json_int_t ca = json_integer_value(json_object_get(a, "created_at"));
		json_int_t cb = json_integer_value(json_object_get(b, "created_at"));
		assert_string_equal(json_string_value(json_object_get(b, "grant")), live);
		assert_true(ca < cb ||
			    (ca == cb && strcmp(json_string_value(json_object_get(a, "id")),
						json_string_value(json_object_get(b, "id"))) < 0));
	}
	json_decref(list);
}

/* A probe of grant on svc-a for an hour at now with the limits given as JSON text. */
static void
probe_limited(struct fixture *f, const char *grant_id, int64_t now, const char *limits,
	      char id[JG_PROBE_ID_MAX])
{
	int64_t until;
	json_t *spec = json_pack("{s:s,s:i,s:o}", "function", "Pay.charge", "duration", 3600,
				 "limits", json_loads(limits, 0, NULL));
	struct jg_probe_new p = {.service = "svc-a",
				 .grant = grant_id,
				 .actor = "user:alice",
				 .spec = spec,
				 .grant_expires = now + 3600};
	assert_non_null(json_object_get(spec, "limits"));
	json_t *usage = NULL;
	assert_int_equal(jg_probe_create(f->audit, &p, now, id, &until, &usage), 0);
	json_decref(usage);
	json_decref(spec);
}

/* The entries of type in the log, as jg_audit_list gives them (caller decrefs). */
static json_t *
entries(struct fixture *f, const char *type)
{
	json_t *out = NULL;
	struct jg_audit_filter filter = {
	    .type = type, .before = UINT64_MAX, .limit = JG_AUDIT_LIST_MAX};
	assert_int_equal(jg_audit_list(f->store, &filter, &out), 0);
	json_t *list = json_incref(json_object_get(out, "entries"));
	json_decref(out);
	return list;
}

static json_t *
entry_data(json_t *list, size_t i)
{
	return json_object_get(json_object_get(json_array_get(list, i), "entry"), "data");
}

/* How many events of probe p the holder of grant g reads. */
static size_t
events_stored(struct fixture *f, const char *g, const char *p)
{
	json_t *events = NULL;
	int64_t last;
	struct jg_probe_events_query q = {
	    .service = "svc-a", .grant = g, .probe = p, .limit = 1000, .redact = false};
	assert_int_equal(jg_probe_events_read(f->store, &q, &events, &last), 0);
	size_t n = json_array_size(events);
	json_decref(events);
	return n;
}

/*
 * Limits left out take their defaults; each member is checked against its
 * bounds (the lowest and highest accepted, one past each refused, naming
 * the member); the probe keeps them and both the engineer's list and the
 * agent's poll show all seven.
 */
/* A native probe's args are stored as deployed and listed to both; a probe without has no args. */
static void
test_probe_args_stored_and_listed(void **state)
{
	struct fixture *f = *state;
	char g[64], with[JG_PROBE_ID_MAX], without[JG_PROBE_ID_MAX];
	int64_t until;
	json_t *list = NULL, *agent = NULL;
	char *const fields[] = {NULL};

	grant(f, T0, 3600, g);
	json_t *args = json_loads("[{\"index\":0,\"name\":\"amount\",\"type\":\"i64\"},"
				  "{\"index\":1,\"name\":\"note\",\"type\":\"str\"}]",
				  0, NULL);
	json_t *spec =
	    json_pack("{s:s,s:i,s:O}", "function", "charge", "duration", 600, "args", args);
	struct jg_probe_new p = {.service = "svc-a",
				 .grant = g,
				 .actor = "user:alice",
				 .spec = spec,
				 .grant_expires = T0 + 3600};
	json_t *usage = NULL;
	assert_int_equal(jg_probe_create(f->audit, &p, T0, with, &until, &usage), 0);
	json_decref(usage);
	json_decref(spec);
	spec = json_pack("{s:s,s:i}", "function", "charge", "duration", 600);
	p.spec = spec;
	assert_int_equal(jg_probe_create(f->audit, &p, T0, without, &until, &usage), 0);
	json_decref(usage);
	json_decref(spec);

	assert_int_equal(jg_probe_list_live(f->store, "svc-a", T0 + 1, false, fields, &list), 0);
	assert_int_equal(jg_probe_live_for_agent(f->store, "svc-a", T0 + 1, &agent), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_array_size(agent), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *e = json_array_get(list, i), *a = json_array_get(agent, i);
		bool has = strcmp(json_string_value(json_object_get(e, "id")), with) == 0;
		assert_string_equal(json_string_value(json_object_get(a, "id")),
				    json_string_value(json_object_get(e, "id")));
		if (has) {
			assert_true(json_equal(json_object_get(e, "args"), args));
			assert_true(json_equal(json_object_get(a, "args"), args));
		} else {
			assert_string_equal(json_string_value(json_object_get(e, "id")), without);
			assert_null(json_object_get(e, "args"));
			assert_null(json_object_get(a, "args"));
		}
	}
	json_decref(list);
	json_decref(agent);
	json_decref(args);
}

static void
test_probe_limits_defaults_and_bounds(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		int64_t def, lo, hi;
	} b[] = {{"max_hits", 100, 1, 10000},
		 {"max_events_per_second", 10, 1, 100},
		 {"max_depth", 3, 1, 8},
		 {"max_string_bytes", 255, 16, 4096},
		 {"max_collection_items", 100, 1, 1000},
		 {"max_fields", 20, 1, 100},
		 {"max_cpu_ms_per_second", 5, 1, 100}};
	struct jg_probe_limits l;
	const char *bad;
	char why[200], g[64], p[JG_PROBE_ID_MAX];

	assert_int_equal(jg_probe_limits_parse(NULL, &l, &bad, why, sizeof(why)), 0);
	json_t *def = jg_probe_limits_json(&l);
	assert_int_equal(json_object_size(def), 7);
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(json_integer_value(json_object_get(def, b[i].name)), b[i].def);
		int64_t ok[2] = {b[i].lo, b[i].hi}, no[2] = {b[i].lo - 1, b[i].hi + 1};
		for (int k = 0; k < 2; k++) {
			json_t *o = json_pack("{s:I}", b[i].name, (json_int_t)ok[k]);
			assert_int_equal(jg_probe_limits_parse(o, &l, &bad, why, sizeof(why)), 0);
			json_t *got = jg_probe_limits_json(&l);
			assert_int_equal(json_integer_value(json_object_get(got, b[i].name)),
					 ok[k]);
			json_decref(got);
			json_decref(o);
			o = json_pack("{s:I}", b[i].name, (json_int_t)no[k]);
			assert_int_equal(jg_probe_limits_parse(o, &l, &bad, why, sizeof(why)),
					 JG_EINVAL);
			assert_string_equal(bad, b[i].name);
			assert_non_null(strstr(why, b[i].name));
			json_decref(o);
		}
	}
	json_decref(def);
	json_t *o = json_pack("{s:s}", "max_hits", "5"); /* not an integer */
	assert_int_equal(jg_probe_limits_parse(o, &l, &bad, why, sizeof(why)), JG_EINVAL);
	json_decref(o);
	o = json_pack("{s:f}", "max_hits", 5.0);
	assert_int_equal(jg_probe_limits_parse(o, &l, &bad, why, sizeof(why)), JG_EINVAL);
	json_decref(o);
	o = json_pack("{s:i}", "max_bytes", 5); /* unknown */
	assert_int_equal(jg_probe_limits_parse(o, &l, &bad, why, sizeof(why)), JG_EINVAL);
	assert_string_equal(bad, "limits");
	json_decref(o);
	o = json_pack("[i]", 5);
	assert_int_equal(jg_probe_limits_parse(o, &l, &bad, why, sizeof(why)), JG_EINVAL);
	json_decref(o);

	/* stored and shown: the given member, the defaults for the others */
	grant(f, T0, 3600, g);
	probe_limited(f, g, T0, "{\"max_hits\":7,\"max_depth\":2}", p);
	json_t *list = NULL, *agent = NULL;
	assert_int_equal(jg_probe_list_live(f->store, "svc-a", T0 + 1, false, NULL, &list), 0);
	assert_int_equal(jg_probe_live_for_agent(f->store, "svc-a", T0 + 1, &agent), 0);
	json_t *shown[2] = {json_object_get(json_array_get(list, 0), "limits"),
			    json_object_get(json_array_get(agent, 0), "limits")};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(json_object_size(shown[k]), 7);
		assert_int_equal(json_integer_value(json_object_get(shown[k], "max_hits")), 7);
		assert_int_equal(json_integer_value(json_object_get(shown[k], "max_depth")), 2);
		assert_int_equal(json_integer_value(json_object_get(shown[k], "max_string_bytes")),
				 255);
		assert_int_equal(
		    json_integer_value(json_object_get(shown[k], "max_cpu_ms_per_second")), 5);
	}
	json_decref(list);
	json_decref(agent);
}

/*
 * A hit is a stored event: a batch that crosses max_hits stores exactly up
 * to it, refuses the rest per event ("max_hits"), and disables the probe
 * with one probe.disabled entry in the same transaction; the probe is no
 * longer listed nor polled and takes nothing more.
 */
static void
test_probe_max_hits_stores_exactly_up_to_it(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	char *texts[4] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}"};

	grant(f, T0, 3600, g);
	probe_limited(f, g, T0, "{\"max_hits\":5,\"max_events_per_second\":100}", p);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 3, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, 3);
	assert_false(r.disabled);
	assert_int_equal(listed(f, T0 + 1, NULL), 1);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 4, ms(T0 + 2), &r), 0);
	assert_int_equal(r.stored, 2);
	assert_int_equal(r.last_id, r.first_id + 1);
	assert_int_equal(r.nrefused, 2);
	assert_int_equal(r.refused[0].index, 2);
	assert_string_equal(r.refused[0].code, "max_hits");
	assert_int_equal(r.refused[1].index, 3);
	assert_string_equal(r.refused[1].code, "max_hits");
	assert_true(r.disabled);
	assert_int_equal(events_stored(f, g, p), 5);

	json_t *dis = entries(f, "probe.disabled");
	assert_int_equal(json_array_size(dis), 1);
	json_t *d = entry_data(dis, 0);
	assert_string_equal(json_string_value(json_object_get(d, "probe")), p);
	assert_string_equal(json_string_value(json_object_get(d, "grant")), g);
	assert_string_equal(json_string_value(json_object_get(d, "service")), "svc-a");
	assert_string_equal(json_string_value(json_object_get(d, "reason")), "max_hits");
	json_decref(dis);
	json_t *ing = entries(f, "probe.events.ingested");
	assert_int_equal(json_array_size(ing), 2);
	json_decref(ing);

	/* disabled: not served, nothing more stored, no second entry */
	assert_int_equal(listed(f, T0 + 3, NULL), 0);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 1, ms(T0 + 3), &r),
	    JG_EDENIED);
	assert_int_equal(r.stored, 0);
	assert_int_equal(events_stored(f, g, p), 5);
	dis = entries(f, "probe.disabled");
	assert_int_equal(json_array_size(dis), 1);
	json_decref(dis);

	/* a batch that lands exactly on max_hits disables the probe too */
	probe_limited(f, g, T0, "{\"max_hits\":4,\"max_events_per_second\":100}", p);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 4, ms(T0 + 4), &r), 0);
	assert_int_equal(r.stored, 4);
	assert_int_equal(r.nrefused, 0);
	assert_true(r.disabled);
	assert_int_equal(listed(f, T0 + 4, NULL), 0);
}

/*
 * The rate on arrival: a burst of events at once stores exactly the burst
 * (3 seconds' worth: 12 at 4 a second) and refuses the rest ("rate")
 * without disabling; the same second takes nothing more; the bucket refills
 * at 4 a second (measured in milliseconds), never past the burst.
 */
static void
test_probe_rate_stores_exactly_the_burst(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	char *texts[20];

	for (size_t i = 0; i < 20; i++)
		texts[i] = "{\"n\":1}";
	grant(f, T0, 3600, g);
	probe_limited(f, g, T0, "{\"max_events_per_second\":4}", p);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 20, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, 12);
	assert_int_equal(r.nrefused, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(r.refused[i].index, 12 + i);
		assert_string_equal(r.refused[i].code, "rate");
	}
	assert_false(r.disabled);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 1, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, 0);
	assert_string_equal(r.refused[0].code, "rate");
	/* one second later: 4 more */
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 10, ms(T0 + 2), &r), 0);
	assert_int_equal(r.stored, 4);
	/* measured in milliseconds: a quarter second later, one (4 a second) */
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 10, ms(T0 + 2) + 250, &r), 0);
	assert_int_equal(r.stored, 1);
	assert_int_equal(r.nrefused, 9);
	/* a long pause refills to the burst only */
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 20, ms(T0 + 100), &r), 0);
	assert_int_equal(r.stored, 12);
	assert_int_equal(events_stored(f, g, p), 29);
	assert_int_equal(listed(f, T0 + 100, NULL), 1);
	json_t *dis = entries(f, "probe.disabled");
	assert_int_equal(json_array_size(dis), 0);
	json_decref(dis);
}

/*
 * The shape of captured values (args members, return, error) against the
 * probe's limits, each at its limit (stored) and one past it (refused
 * "over_limits", per event, the others of the batch stored in order).
 */
static void
test_probe_events_over_limits_refused_one_by_one(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	/* even indexes fit, odd ones are one past a limit */
	char *texts[] = {
	    /* depth 2: a value at depth 2 is a scalar or empty */
	    "{\"args\":{\"a\":{\"b\":1,\"c\":{},\"d\":[]}}}",
	    "{\"args\":{\"a\":{\"b\":{\"c\":1}}}}",
	    "{\"return\":[[]]}",
	    "{\"return\":[[1]]}",
	    /* string bytes 16 (UTF-8 bytes: "é" is two) */
	    "{\"args\":{\"s\":\"0123456789abcdef\"}}",
	    "{\"args\":{\"s\":\"0123456789abcdefg\"}}",
	    "{\"error\":{\"m\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}}",
	    "{\"error\":{\"m\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9x\"}}",
	    /* collection items 3 */
	    "{\"args\":{\"l\":[1,2,3]}}",
	    "{\"args\":{\"l\":[1,2,3,4]}}",
	    /* fields 3: args itself, and an object value */
	    "{\"args\":{\"x\":1,\"y\":2,\"z\":3},\"return\":{\"x\":1,\"y\":2,\"z\":3}}",
	    "{\"args\":{\"w\":0,\"x\":1,\"y\":2,\"z\":3}}",
	    "{\"args\":{}}",
	    "{\"return\":{\"w\":0,\"x\":1,\"y\":2,\"z\":3}}",
	    /* args: an object, or null (no arguments captured) */
	    "{\"args\":null,\"return\":null,\"error\":null}",
	    "{\"args\":[1]}",
	};
	size_t n = sizeof(texts) / sizeof(texts[0]);

	grant(f, T0, 3600, g);
	probe_limited(f, g, T0,
		      "{\"max_depth\":2,\"max_string_bytes\":16,\"max_collection_items\":3,"
		      "\"max_fields\":3,\"max_events_per_second\":100}",
		      p);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, n, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, n / 2);
	assert_int_equal(r.nrefused, n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		assert_int_equal(r.refused[i].index, 2 * i + 1);
		assert_string_equal(r.refused[i].code, "over_limits");
	}
	assert_false(r.disabled);
	/* stored in order: the fitting ones */
	json_t *events = NULL;
	int64_t last;
	struct jg_probe_events_query q = {
	    .service = "svc-a", .grant = g, .probe = p, .limit = 100, .redact = false};
	assert_int_equal(jg_probe_events_read(f->store, &q, &events, &last), 0);
	assert_int_equal(json_array_size(events), n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		json_t *want = json_loads(texts[2 * i], 0, NULL);
		assert_true(json_equal(want, json_object_get(json_array_get(events, i), "event")));
		json_decref(want);
	}
	json_decref(events);
	/* an over-limit refusal takes no hit and no token */
	json_t *ing = entries(f, "probe.events.ingested");
	assert_int_equal(json_integer_value(json_object_get(entry_data(ing, 0), "count")), n / 2);
	assert_int_equal(json_integer_value(json_object_get(entry_data(ing, 0), "refused")), n / 2);
	json_decref(ing);
	/* a batch of only refusals stores nothing and writes no ingested entry */
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts + 1, 1, ms(T0 + 2), &r), 0);
	assert_int_equal(r.stored, 0);
	assert_int_equal(r.nrefused, 1);
	ing = entries(f, "probe.events.ingested");
	assert_int_equal(json_array_size(ing), 1);
	json_decref(ing);
}

/* Deploys spec (taken) on svc-a for grant_id at now, the grant ending in an hour; its id into id.
 */
static void
deploy_spec(struct fixture *f, const char *grant_id, int64_t now, json_t *spec,
	    char id[JG_PROBE_ID_MAX])
{
	int64_t until;
	struct jg_probe_new p = {.service = "svc-a",
				 .grant = grant_id,
				 .actor = "user:alice",
				 .spec = spec,
				 .grant_expires = now + 3600};
	json_t *usage = NULL;
	assert_non_null(spec);
	assert_int_equal(jg_probe_create(f->audit, &p, now, id, &until, &usage), 0);
	json_decref(usage);
	json_decref(spec);
}

/* A log probe of grant on svc-a for an hour at now with template and max_string_bytes 16. */
static void
probe_log(struct fixture *f, const char *grant_id, int64_t now, const char *template,
	  char id[JG_PROBE_ID_MAX])
{
	json_t *spec = json_pack("{s:s,s:i,s:s,s:s,s:{s:i,s:i}}", "function", "Pay.charge",
				 "duration", 3600, "kind", "log", "template", template, "limits",
				 "max_string_bytes", 16, "max_events_per_second", 100);
	deploy_spec(f, grant_id, now, spec, id);
}

/* The messages of probe p as its grant g reads them (redact: without read-pii). */
static json_t *
messages(struct fixture *f, const char *g, const char *p, bool redact)
{
	char *const fields[] = {"email", NULL};
	json_t *events = NULL, *out = json_array();
	int64_t last;
	struct jg_probe_events_query q = {.service = "svc-a",
					  .grant = g,
					  .probe = p,
					  .limit = 100,
					  .redact = redact,
					  .sensitive_fields = fields};
	assert_int_equal(jg_probe_events_read(f->store, &q, &events, &last), 0);
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e)
	    json_array_append(out, json_object_get(json_object_get(e, "event"), "message"));
	json_decref(events);
	return out;
}

/*
 * A log probe: listed to the agent and the engineer with its kind and
 * template; stores events that carry its message within the template's
 * bound (its text, and max_string_bytes a placeholder) and nothing
 * captured; refuses the rest per event ("over_limits").  A reader without
 * read-pii sees messages through the scanners, and none at all of a
 * template that names a sensitive field.
 */
static void
test_log_probe_stores_only_its_message(void **state)
{
	struct fixture *f = *state;
	char g[64], plain[JG_PROBE_ID_MAX], touchy[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	json_t *first = NULL, *agent = NULL;

	grant(f, T0, 3600, g);
	/* 16 bytes of text and 2 placeholders of at most 32 (a number may be that long): up to 80
	 */
	probe_log(f, g, T0, "charge {amount} for {customer.id} now", plain);
	assert_int_equal(listed(f, T0 + 1, &first), 1);
	assert_string_equal(json_string_value(json_object_get(first, "kind")), "log");
	assert_string_equal(json_string_value(json_object_get(first, "template")),
			    "charge {amount} for {customer.id} now");
	json_decref(first);
	assert_int_equal(jg_probe_live_for_agent(f->store, "svc-a", T0 + 1, &agent), 0);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(agent, 0), "template")),
	    "charge {amount} for {customer.id} now");
	json_decref(agent);

	char *texts[] = {
	    "{\"message\":\"charge 12 for ann@example.com now\"}",
	    "{\"message\":\"charge 12 for c_1 now\",\"args\":{\"amount\":12}}",
	    "{\"args\":{\"amount\":12}}",
	    "{\"message\":12}",
	    "{\"message\":"
	    "\"12345678901234567890123456789012345678901234567890123456789012345678901234567890\"}",
	    "{\"message\":"
	    "\"123456789012345678901234567890123456789012345678901234567890123456789012345678901\""
	    "}",
	    "{\"message\":\"charge 1 for c_2 now\",\"truncated\":[\"args.amount\"]}",
	};
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", plain, texts, 7, ms(T0 + 2), &r), 0);
	assert_int_equal(r.stored, 3);
	size_t refused[] = {1, 2, 3, 5};
	assert_int_equal(r.nrefused, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(r.refused[i].index, refused[i]);
		assert_string_equal(r.refused[i].code, "over_limits");
	}
	json_t *m = messages(f, g, plain, false);
	assert_int_equal(json_array_size(m), 3);
	assert_string_equal(json_string_value(json_array_get(m, 0)),
			    "charge 12 for ann@example.com now");
	json_decref(m);
	m = messages(f, g, plain, true);
	assert_string_equal(json_string_value(json_array_get(m, 0)),
			    "charge 12 for [REDACTED:email] now");
	assert_string_equal(json_string_value(json_array_get(m, 2)), "charge 1 for c_2 now");
	json_decref(m);

	/* a placeholder on a sensitive field: the message is that value's to withhold */
	probe_log(f, g, T0, "receipt to {customer.email}", touchy);
	char *mail[] = {"{\"message\":\"receipt to ann\"}"};
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", touchy, mail, 1, ms(T0 + 3), &r), 0);
	assert_int_equal(r.stored, 1);
	m = messages(f, g, touchy, true);
	assert_string_equal(json_string_value(json_array_get(m, 0)), "[REDACTED:field]");
	json_decref(m);
	m = messages(f, g, touchy, false);
	assert_string_equal(json_string_value(json_array_get(m, 0)), "receipt to ann");
	json_decref(m);
}

/*
 * The agent's CPU guard disables a probe: recorded once (probe.disabled,
 * reason cpu, the cost), the probe no longer served nor fed; another
 * service's agent cannot disable it.
 */
static void
test_probe_disabled_by_the_agents_cpu_guard(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	char *texts[1] = {"{\"n\":1}"};

	grant(f, T0, 3600, g);
	probe_limited(f, g, T0, "{}", p);
	assert_int_equal(jg_probe_disable_cpu(f->audit, "svc-b", "kb", p, 7.5, T0 + 1),
			 JG_ENOTFOUND);
	assert_int_equal(jg_probe_disable_cpu(f->audit, "svc-a", "ka", "prb_none", 7.5, T0 + 1),
			 JG_ENOTFOUND);
	assert_int_equal(listed(f, T0 + 1, NULL), 1);
	assert_int_equal(jg_probe_disable_cpu(f->audit, "svc-a", "ka", p, 7.5, T0 + 1), 0);
	assert_int_equal(listed(f, T0 + 1, NULL), 0);
	assert_int_equal(jg_probe_disable_cpu(f->audit, "svc-a", "ka", p, 7.5, T0 + 2),
			 JG_ECONFLICT);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 1, ms(T0 + 2), &r),
	    JG_EDENIED);
	json_t *dis = entries(f, "probe.disabled");
	assert_int_equal(json_array_size(dis), 1);
	json_t *d = entry_data(dis, 0);
	assert_string_equal(json_string_value(json_object_get(d, "reason")), "cpu");
	/* whole milliseconds in the log (integers only), rounded up */
	assert_int_equal(json_integer_value(json_object_get(d, "cpu_ms_per_second")), 8);
	assert_string_equal(json_string_value(json_object_get(d, "probe")), p);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(dis, 0), "entry"), "actor")),
			    "agent:svc-a");
	json_decref(dis);
}

/* An active deploy-probe grant of caller c on svc-a for an hour from T0. */
static void
grant_of(struct fixture *f, const struct jg_access_caller *c, char id[64])
{
	probe_fixture_grant(f, c, "svc-a", T0, 3600, id);
}

/* Deploys a probe of grant g (by actor) at T0 with generous limits: jg_probe_create's code. */
static int
deploy(struct fixture *f, const char *g, const char *actor, char id[JG_PROBE_ID_MAX],
       json_t **usage)
{
	int64_t until;
	json_t *spec = json_pack("{s:s,s:i,s:{s:i,s:i}}", "function", "Pay.charge", "duration",
				 3600, "limits", "max_hits", 100, "max_events_per_second", 100);
	struct jg_probe_new p = {.service = "svc-a",
				 .grant = g,
				 .actor = actor,
				 .spec = spec,
				 .grant_expires = T0 + 3600};
	int rc = jg_probe_create(f->audit, &p, T0, id, &until, usage);
	json_decref(spec);
	return rc;
}

static int64_t
used(json_t *usage, const char *member)
{
	return json_integer_value(json_object_get(json_object_get(usage, "used"), member));
}

/*
 * max_probes counts every probe deployed on the grant, a deleted one too:
 * the third deploy is refused (nothing stored) and the first refusal alone
 * writes probe.budget_exhausted; the grant carries the decision's budget.
 */
static void
test_probe_budget_max_probes_counts_deleted_probes(void **state)
{
	struct fixture *f = *state;
	char g[64], p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], p3[JG_PROBE_ID_MAX];
	json_t *usage = NULL;

	grant_of(f, &bob, g);
	struct jg_store_conn *conn;
	struct jg_policy_probe_budget b;
	assert_int_equal(jg_store_acquire(f->store, &conn), 0);
	assert_int_equal(jg_access_grant_probe_budget(conn, g, &b), 0);
	jg_store_release(f->store, conn);
	assert_int_equal(b.max_probes, 2);
	assert_int_equal(b.max_hits, 5);
	assert_int_equal(b.max_bytes, 0);

	/* a preview says what a deploy would get, and counts nothing, however often */
	json_t *spec = json_pack("{s:s,s:i}", "function", "Pay.charge", "duration", 7200);
	struct jg_probe_new pn = {.service = "svc-a",
				  .grant = g,
				  .actor = "user:bob",
				  .spec = spec,
				  .grant_expires = T0 + 3600};
	int64_t until = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(jg_probe_preview(f->store, &pn, T0 + 10, &until, &usage), 0);
		assert_int_equal(until, T0 + 3600); /* clipped to the grant's end */
		assert_int_equal(used(usage, "probes"), 0);
		json_decref(usage);
	}
	assert_int_equal(deploy(f, g, "user:bob", p1, &usage), 0);
	assert_int_equal(used(usage, "probes"), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(usage, "remaining"), "probes")), 1);
	assert_true(json_is_null(json_object_get(json_object_get(usage, "remaining"), "bytes")));
	json_decref(usage);
	assert_int_equal(jg_probe_delete(f->store, "svc-a", g, p1, T0 + 1), 0);
	assert_int_equal(deploy(f, g, "user:bob", p2, &usage), 0);
	assert_int_equal(used(usage, "probes"), 2);
	json_decref(usage);
	assert_int_equal(jg_probe_preview(f->store, &pn, T0 + 10, &until, &usage), JG_EDENIED);
	assert_int_equal(used(usage, "probes"), 2);
	json_decref(usage);
	json_decref(spec);
	assert_int_equal(deploy(f, g, "user:bob", p3, &usage), JG_EDENIED);
	assert_int_equal(used(usage, "probes"), 2);
	assert_true(json_is_true(json_object_get(usage, "probes_exhausted")));
	json_decref(usage);
	assert_int_equal(deploy(f, g, "user:bob", p3, &usage), JG_EDENIED);
	json_decref(usage);
	assert_int_equal(listed(f, T0 + 2, NULL), 1);

	json_t *ex = entries(f, "probe.budget_exhausted");
	assert_int_equal(json_array_size(ex), 1);
	json_t *d = entry_data(ex, 0);
	assert_string_equal(json_string_value(json_object_get(d, "grant")), g);
	assert_string_equal(json_string_value(json_object_get(d, "service")), "svc-a");
	assert_string_equal(json_string_value(json_object_get(d, "reason")), "max_probes");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(d, "budget"), "max_probes")), 2);
	assert_int_equal(used(d, "probes"), 2);
	json_decref(ex);

	/* a grant without a budget: no bound, and the budget read says so */
	char ga[64], pa[JG_PROBE_ID_MAX];
	grant_of(f, &alice, ga);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(deploy(f, ga, "user:alice", pa, &usage), 0);
		json_decref(usage);
	}
	assert_int_equal(jg_probe_budget_read(f->store, ga, &usage), 0);
	assert_int_equal(used(usage, "probes"), 3);
	assert_true(json_is_null(json_object_get(json_object_get(usage, "budget"), "max_probes")));
	json_decref(usage);
}

/*
 * max_hits counts the events stored over all the grant's probes: 3 on one
 * probe, then a batch of 4 on the other stores 2 and refuses 2 ("budget");
 * the budget is then spent: both probes are disabled, one
 * probe.budget_exhausted entry names them, and no probe can be deployed.
 */
static void
test_probe_budget_max_hits_across_probes(void **state)
{
	struct fixture *f = *state;
	char g[64], p1[JG_PROBE_ID_MAX], p2[JG_PROBE_ID_MAX], p3[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	char *texts[4] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}"};
	json_t *usage = NULL;

	grant_of(f, &bob, g);
	assert_int_equal(deploy(f, g, "user:bob", p1, &usage), 0);
	json_decref(usage);
	assert_int_equal(deploy(f, g, "user:bob", p2, &usage), 0);
	json_decref(usage);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p1, texts, 3, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, 3);
	assert_false(r.budget_exhausted);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p2, texts, 4, ms(T0 + 2), &r), 0);
	assert_int_equal(r.stored, 2);
	assert_int_equal(r.nrefused, 2);
	assert_int_equal(r.refused[0].index, 2);
	assert_string_equal(r.refused[0].code, "budget");
	assert_int_equal(r.refused[1].index, 3);
	assert_string_equal(r.refused[1].code, "budget");
	assert_true(r.budget_exhausted);
	assert_true(r.disabled);
	assert_int_equal(listed(f, T0 + 3, NULL), 0);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p1, texts, 1, ms(T0 + 3), &r),
	    JG_EDENIED);

	assert_int_equal(jg_probe_budget_read(f->store, g, &usage), 0);
	assert_int_equal(used(usage, "hits"), 5);
	assert_int_equal(used(usage, "bytes"), 5 * 7);
	assert_true(json_is_true(json_object_get(usage, "events_exhausted")));
	json_decref(usage);

	json_t *ex = entries(f, "probe.budget_exhausted");
	assert_int_equal(json_array_size(ex), 1);
	json_t *d = entry_data(ex, 0);
	assert_string_equal(json_string_value(json_object_get(d, "reason")), "max_hits");
	assert_int_equal(used(d, "hits"), 5);
	json_t *ids = json_object_get(d, "disabled");
	assert_int_equal(json_array_size(ids), 2);
	json_decref(ex);

	/* spent: a new probe would capture nothing, so it is refused */
	assert_int_equal(deploy(f, g, "user:bob", p3, &usage), JG_EDENIED);
	assert_true(json_is_true(json_object_get(usage, "events_exhausted")));
	json_decref(usage);
	ex = entries(f, "probe.budget_exhausted");
	assert_int_equal(json_array_size(ex), 1);
	json_decref(ex);
}

/*
 * max_bytes counts the bytes of the stored event texts: with 30 bytes, four
 * events of 7 bytes store 4 (28); the next does not fit and is refused
 * ("budget"), which spends the budget.
 */
static void
test_probe_budget_max_bytes(void **state)
{
	struct fixture *f = *state;
	char g[64], p[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	char *texts[5] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}", "{\"n\":5}"};
	json_t *usage = NULL;

	grant_of(f, &carol, g);
	assert_int_equal(deploy(f, g, "user:carol", p, &usage), 0);
	json_decref(usage);
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", p, texts, 5, ms(T0 + 1), &r), 0);
	assert_int_equal(r.stored, 4);
	assert_int_equal(r.nrefused, 1);
	assert_int_equal(r.refused[0].index, 4);
	assert_string_equal(r.refused[0].code, "budget");
	assert_true(r.budget_exhausted);
	assert_int_equal(jg_probe_budget_read(f->store, g, &usage), 0);
	assert_int_equal(used(usage, "bytes"), 28);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(usage, "remaining"), "bytes")), 0);
	json_decref(usage);
	json_t *ex = entries(f, "probe.budget_exhausted");
	assert_int_equal(json_array_size(ex), 1);
	assert_string_equal(json_string_value(json_object_get(entry_data(ex, 0), "reason")),
			    "max_bytes");
	json_decref(ex);
}

/* A count probe of grant on svc-a for an hour at now, with conditions (JSON text) and max_hits 2.
 */
static void
probe_count(struct fixture *f, const char *grant_id, int64_t now, const char *conds,
	    char id[JG_PROBE_ID_MAX])
{
	json_t *spec = json_pack("{s:s,s:i,s:s,s:{s:s},s:o,s:{s:i}}", "function", "Pay.charge",
				 "duration", 3600, "kind", "metric", "metric", "type", "count",
				 "conditions", json_loads(conds, 0, NULL), "limits", "max_hits", 2);
	deploy_spec(f, grant_id, now, spec, id);
}

/*
 * A metric probe (probe_metric.h): listed with its spec, its defaults filled
 * in; only well-formed points stored, each a hit; read as the metric
 * probe.<id>, never as events; a probe with a condition on personal data
 * read and listed only with read-pii.
 */
static void
test_metric_probe_stores_points_read_as_a_metric(void **state)
{
	struct fixture *f = *state;
	char g[64], id[JG_PROBE_ID_MAX], touchy[JG_PROBE_ID_MAX];
	struct jg_probe_ingest_result r;
	char *const fields[] = {"email", NULL};
	json_t *first = NULL, *out = NULL;

	grant(f, T0, 3600, g);
	probe_count(f, g, T0, "[]", id);
	assert_int_equal(listed(f, T0 + 1, &first), 1);
	assert_string_equal(json_string_value(json_object_get(first, "kind")), "metric");
	json_t *want = json_pack("{s:s,s:i}", "type", "count", "interval_seconds", 10);
	assert_true(json_equal(json_object_get(first, "metric"), want));
	json_decref(want);
	json_decref(first);

	/* T0 is 2025-11-24T16:00:00Z */
#define POINT_ID "\"event_id\":\"0123456789abcdef0123456789abcdef\",\"function\":\"Pay.charge\","
	char *texts[] = {
	    /* 20 minutes before jitgate's clock: it would spend a hit and show in no window */
	    "{\"ts\":\"2025-11-24T15:40:30Z\"," POINT_ID
	    "\"metric\":{\"start\":\"2025-11-24T15:40:01Z\","
	    "\"count\":2}}",
	    "{\"ts\":\"2025-11-24T16:00:10Z\"," POINT_ID
	    "\"metric\":{\"start\":\"2025-11-24T16:00:01Z\","
	    "\"count\":3}}",
	    "{\"ts\":\"2025-11-24T16:00:10Z\"," POINT_ID
	    "\"args\":{\"amount\":1},\"metric\":{\"start\":"
	    "\"2025-11-24T16:00:01Z\",\"count\":3}}",
	    "{\"ts\":\"2025-11-24T16:00:20Z\"," POINT_ID
	    "\"metric\":{\"start\":\"2025-11-24T16:00:11Z\","
	    "\"count\":5}}",
	    "{\"ts\":\"2025-11-24T16:00:30Z\"," POINT_ID
	    "\"metric\":{\"start\":\"2025-11-24T16:00:21Z\","
	    "\"count\":7}}",
	};
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", id, texts, 5, ms(T0 + 30), &r), 0);
	assert_int_equal(r.stored, 2);
	assert_int_equal(r.nrefused, 3);
	assert_int_equal(r.refused[0].index, 0);
	assert_string_equal(r.refused[0].code, "over_limits");
	assert_int_equal(r.refused[1].index, 2);
	assert_string_equal(r.refused[1].code, "over_limits");
	assert_int_equal(r.refused[2].index, 4);
	assert_string_equal(r.refused[2].code, "max_hits"); /* a point is a hit */
	assert_true(r.disabled);

	/* never as events */
	json_t *events = NULL;
	int64_t last;
	struct jg_probe_events_query eq = {
	    .service = "svc-a", .grant = g, .probe = id, .limit = 10, .sensitive_fields = fields};
	assert_int_equal(jg_probe_events_read(f->store, &eq, &events, &last), JG_ECONFLICT);
	assert_null(events);

	/* as the metric probe.<id>: the points in time order, a step's total */
	struct jg_probe_metric_query q = {.service = "svc-a",
					  .since = (int64_t)T0 * 1000000000LL,
					  .until = (int64_t)(T0 + 3600) * 1000000000LL,
					  .redact = true,
					  .sensitive_fields = fields};
	assert_int_equal(jg_probe_metric_read(f->store, &q, id, &out), 0);
	json_t *pts = json_object_get(
	    json_array_get(json_object_get(json_array_get(out, 0), "series"), 0), "points");
	assert_int_equal(json_array_size(pts), 2);
	assert_true(json_number_value(json_object_get(json_array_get(pts, 1), "value")) == 5);
	json_decref(out);
	q.step_ns = 3600LL * 1000000000LL;
	assert_int_equal(jg_probe_metric_read(f->store, &q, id, &out), 0);
	pts = json_object_get(json_array_get(json_object_get(json_array_get(out, 0), "series"), 0),
			      "points");
	assert_int_equal(json_array_size(pts), 1);
	assert_true(json_number_value(json_object_get(json_array_get(pts, 0), "value")) == 8);
	json_decref(out);
	q.step_ns = 0;
	assert_int_equal(jg_probe_metric_read(f->store, &q, "prb_nosuch", &out), JG_ENOTFOUND);

	/* a condition on personal data: read and listed with read-pii only */
	probe_count(f, g, T0, "[{\"field\":\"email\",\"op\":\"eq\",\"value\":\"ann\"}]", touchy);
	char *one[] = {texts[1]};
	assert_int_equal(
	    jg_probe_events_ingest(f->audit, "svc-a", "k", touchy, one, 1, ms(T0 + 31), &r), 0);
	assert_int_equal(r.stored, 1);
	assert_int_equal(jg_probe_metric_read(f->store, &q, touchy, &out), JG_EDENIED);
	json_t *names = json_array();
	assert_int_equal(jg_probe_metric_names(f->store, &q, names), 0);
	assert_int_equal(json_array_size(names), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(names, 0), "points")),
			 2);
	json_decref(names);
	q.redact = false;
	assert_int_equal(jg_probe_metric_read(f->store, &q, touchy, &out), 0);
	json_decref(out);
	names = json_array();
	assert_int_equal(jg_probe_metric_names(f->store, &q, names), 0);
	assert_int_equal(json_array_size(names), 2);
	json_decref(names);
}

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef JG_TEST_PG
	pgdb_init("test_probes_pg", argv);
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_probe_lives_with_its_grant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_belongs_to_the_grant_that_deployed_it, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_events_only_while_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_list_pages_past_dead_probes_up_to_its_cap,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_limits_defaults_and_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_args_stored_and_listed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_max_hits_stores_exactly_up_to_it, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_rate_stores_exactly_the_burst, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_events_over_limits_refused_one_by_one, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_log_probe_stores_only_its_message, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_disabled_by_the_agents_cpu_guard, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_list_counts_each_probes_events, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_budget_max_probes_counts_deleted_probes,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_budget_max_hits_across_probes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_probe_budget_max_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metric_probe_stores_points_read_as_a_metric, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
