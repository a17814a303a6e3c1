/*
 * test_agent_capture.c - the reference agent's per-probe limits
 * (docs/agents.md, "Limits"; agent/src/capture.c and agent.c).
 *
 * Each capture limit at its value and one past it: depth, string bytes
 * (with a multi-byte UTF-8 character that would be split), collection
 * items and object fields, with the exact "truncated" paths; an event kept
 * within 16,384 bytes by tighter cuts.  The rate bucket and the CPU
 * guard's window are driven with given times and durations; max_hits, the
 * rate and the CPU guard through a real agent (its jitgate unreachable, so
 * probes are installed with a poll reply handed in), with exact counters;
 * jga_enabled before, during and after a probe; and the guard tripped by
 * the time jga_hit() itself measures for a costly capture.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>

#include <jansson.h>

#include "internal.h"
#include "jitgate-agent.h"

/* ---- capture ------------------------------------------------------------- */

static struct jga_limits
limits(long depth, long str, long items, long fields)
{
	struct jga_limits l;

	jga_limits_default(&l);
	l.max_depth = depth;
	l.max_string_bytes = str;
	l.max_collection_items = items;
	l.max_fields = fields;
	return l;
}

/* Captures text (JSON) under root at depth; checks the copy and the paths cut (JSON array). */
static void
check(const struct jga_limits *l, const char *root, long depth, const char *text, const char *want,
      const char *want_cut)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	json_t *wc = json_loads(want_cut, 0, NULL);
	json_t *cut = json_array();

	assert_non_null(v);
	assert_non_null(w);
	assert_non_null(wc);
	json_t *got = jga_capture(v, root, depth, l, cut);
	assert_non_null(got);
	if (!json_equal(got, w) || !json_equal(cut, wc)) {
		char *g = json_dumps(got, JSON_ENCODE_ANY), *c = json_dumps(cut, 0);
		fail_msg("%s -> %s cut %s, want %s cut %s", text, g, c, want, want_cut);
	}
	json_decref(got);
	json_decref(cut);
	json_decref(v);
	json_decref(w);
	json_decref(wc);
}

static void
test_limits_parse(void **state)
{
	(void)state;
	struct jga_limits l;

	assert_int_equal(jga_limits_parse(NULL, &l), 0);
	assert_int_equal(l.max_hits, 100);
	assert_int_equal(l.max_events_per_second, 10);
	assert_int_equal(l.max_depth, 3);
	assert_int_equal(l.max_string_bytes, 255);
	assert_int_equal(l.max_collection_items, 100);
	assert_int_equal(l.max_fields, 20);
	assert_int_equal(l.max_cpu_ms_per_second, 5);

	json_t *j = json_pack("{s:i,s:i}", "max_hits", 7, "max_depth", 8);
	assert_int_equal(jga_limits_parse(j, &l), 0);
	assert_int_equal(l.max_hits, 7);
	assert_int_equal(l.max_depth, 8);
	assert_int_equal(l.max_fields, 20); /* left out: its default */
	json_decref(j);

	static const char *bad[] = {
	    "{\"max_hits\":0}",
	    "{\"max_hits\":10001}",
	    "{\"max_events_per_second\":101}",
	    "{\"max_depth\":9}",
	    "{\"max_string_bytes\":15}",
	    "{\"max_collection_items\":1001}",
	    "{\"max_fields\":0}",
	    "{\"max_cpu_ms_per_second\":101}",
	    "{\"max_depth\":\"3\"}",
	    "{\"max_depth\":2.5}",
	    "[]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		assert_int_equal(jga_limits_parse(j, &l), -1);
		json_decref(j);
	}
}

static void
test_capture_depth(void **state)
{
	(void)state;
	struct jga_limits l = limits(3, 255, 100, 20);

	/* at the limit: a value at depth 3 is kept */
	check(&l, "args", 0, "{\"a\":{\"b\":{\"c\":1}}}", "{\"a\":{\"b\":{\"c\":1}}}", "[]");
	check(&l, "args", 0, "{\"a\":[[1]]}", "{\"a\":[[1]]}", "[]");
	/* an empty container at depth 3 loses nothing */
	check(&l, "args", 0, "{\"a\":{\"b\":{\"c\":{}}}}", "{\"a\":{\"b\":{\"c\":{}}}}", "[]");
	/* one past: the container at depth 3 is sent empty, its path named */
	check(&l, "args", 0, "{\"a\":{\"b\":{\"c\":{\"d\":1}}}}", "{\"a\":{\"b\":{\"c\":{}}}}",
	      "[\"args.a.b.c\"]");
	check(&l, "args", 0, "{\"a\":[[[1]]],\"z\":2}", "{\"a\":[[[]]],\"z\":2}",
	      "[\"args.a.0.0\"]");
	/* return is at depth 1 */
	check(&l, "return", 1, "{\"rows\":{\"x\":1}}", "{\"rows\":{\"x\":1}}", "[]");
	check(&l, "return", 1, "{\"rows\":{\"x\":[1]}}", "{\"rows\":{\"x\":[]}}",
	      "[\"return.rows.x\"]");
	/* max_depth 1: every argument's container is empty */
	l = limits(1, 255, 100, 20);
	check(&l, "args", 0, "{\"a\":1,\"b\":[1],\"c\":{}}", "{\"a\":1,\"b\":[],\"c\":{}}",
	      "[\"args.b\"]");
}

static void
test_capture_strings(void **state)
{
	(void)state;
	struct jga_limits l = limits(3, 16, 100, 20);

	check(&l, "args", 0, "{\"s\":\"0123456789abcdef\"}", "{\"s\":\"0123456789abcdef\"}", "[]");
	check(&l, "args", 0, "{\"s\":\"0123456789abcdefg\"}", "{\"s\":\"0123456789abcdef\"}",
	      "[\"args.s\"]");
	/* 14 bytes + "é" (2 bytes) = 16: kept */
	check(&l, "args", 0, "{\"s\":\"0123456789abcd\\u00e9\"}",
	      "{\"s\":\"0123456789abcd\\u00e9\"}", "[]");
	/* 15 bytes + "€" (3 bytes) = 18: cutting at 16 would split it; cut before it */
	check(&l, "args", 0, "{\"s\":\"0123456789abcde\\u20ac\"}", "{\"s\":\"0123456789abcde\"}",
	      "[\"args.s\"]");
	/* 14 bytes + "😀" (4 bytes): cut to 14 */
	check(&l, "args", 0, "{\"s\":\"0123456789abcd\\ud83d\\ude00\"}",
	      "{\"s\":\"0123456789abcd\"}", "[\"args.s\"]");
	/* deep inside, and the return value itself */
	check(&l, "args", 0, "{\"o\":{\"xs\":[\"short\",\"0123456789abcdefXYZ\"]}}",
	      "{\"o\":{\"xs\":[\"short\",\"0123456789abcdef\"]}}", "[\"args.o.xs.1\"]");
	check(&l, "return", 1, "\"0123456789abcdefXYZ\"", "\"0123456789abcdef\"", "[\"return\"]");
}

static void
test_capture_items_fields(void **state)
{
	(void)state;
	struct jga_limits l = limits(3, 255, 2, 2);

	check(&l, "args", 0, "{\"xs\":[1,2]}", "{\"xs\":[1,2]}", "[]");
	check(&l, "args", 0, "{\"xs\":[1,2,3]}", "{\"xs\":[1,2]}", "[\"args.xs\"]");
	check(&l, "args", 0, "{\"o\":{\"a\":1,\"b\":2}}", "{\"o\":{\"a\":1,\"b\":2}}", "[]");
	check(&l, "args", 0, "{\"o\":{\"a\":1,\"b\":2,\"c\":3}}", "{\"o\":{\"a\":1,\"b\":2}}",
	      "[\"args.o\"]");
	/* args counts as an object: its first max_fields members */
	check(&l, "args", 0, "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}", "[]");
	check(&l, "args", 0, "{\"a\":1,\"b\":[7,8,9],\"c\":3}", "{\"a\":1,\"b\":[7,8]}",
	      "[\"args.b\",\"args\"]");
	/* positional args (an array) keep their first items */
	check(&l, "args", 0, "[1,2,3]", "[1,2]", "[\"args\"]");
	/* scalars are copied as they are */
	check(&l, "args", 0, "{\"n\":null,\"t\":true}", "{\"n\":null,\"t\":true}", "[]");
}

static const char PROBE[] = "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,"
			    "\"capture_args\":true,\"capture_return\":true,\"conditions\":[],"
			    "\"expires_at\":%lld,\"limits\":%s}";

static json_t *
probe_json(const char *lim, long long expires_at)
{
	char buf[1024];

	snprintf(buf, sizeof buf, PROBE, expires_at, lim);
	json_t *j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	return j;
}

static void
test_event_fits(void **state)
{
	(void)state;
	bool oversize;
	/* 100 fields of 4,096 bytes allowed by the limits: about 400 KiB */
	json_t *p = probe_json("{\"max_string_bytes\":4096,\"max_fields\":100}", 0);
	json_t *args = json_object();
	char big[5000], key[16];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%02d", i);
		json_object_set_new(args, key, json_string(big));
	}
	json_t *ev = jga_test_make_event(p, args, NULL, &oversize);
	assert_non_null(ev);
	assert_false(oversize);
	assert_true(json_dumpb(ev, NULL, 0, JSON_COMPACT) <= 16384);
	/* cut and named, not dropped: the first members are there, strings shortened */
	json_t *cut = json_object_get(ev, "truncated");
	json_t *a = json_object_get(ev, "args");
	assert_true(json_object_size(a) >= 1);
	assert_true(json_string_length(json_object_get(a, "k00")) < 4096);
	assert_string_equal(json_string_value(json_array_get(cut, 0)), "args.k00");
	size_t i;
	json_t *c;
	bool args_named = false;
	json_array_foreach(cut, i, c) args_named |= strcmp(json_string_value(c), "args") == 0;
	assert_true(args_named); /* fewer than the 100 members */
	assert_true(json_is_null(json_object_get(ev, "return")));
	json_decref(ev);

	/* within the limits: nothing cut, no "truncated" */
	json_t *small = json_pack("{s:i}", "n", 1);
	json_t *ret = json_string("ok");
	ev = jga_test_make_event(p, small, ret, &oversize);
	assert_non_null(ev);
	assert_null(json_object_get(ev, "truncated"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "args"), "n")), 1);
	assert_string_equal(json_string_value(json_object_get(ev, "return")), "ok");
	json_decref(ev);

	/* a member name of 17,000 bytes cannot fit however the values are cut */
	char *name = malloc(17001);
	assert_non_null(name);
	memset(name, 'n', 17000);
	name[17000] = '\0';
	json_t *huge = json_pack("{s:i}", name, 1);
	ev = jga_test_make_event(p, huge, NULL, &oversize);
	assert_null(ev);
	assert_true(oversize);
	free(name);
	json_decref(huge);
	json_decref(small);
	json_decref(ret);
	json_decref(args);
	json_decref(p);
}

/* The event of a log probe with template and max_string_bytes 16 for args and ret. */
static json_t *
log_event(const char *template, const char *args, const char *ret)
{
	char buf[1024];
	bool oversize;
	json_t *t = json_string(template);
	char *quoted = json_dumps(t, JSON_ENCODE_ANY);
	snprintf(buf, sizeof buf,
		 "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,\"kind\":\"log\","
		 "\"template\":%s,\"conditions\":[],\"expires_at\":1,"
		 "\"limits\":{\"max_string_bytes\":16,\"max_fields\":2,\"max_depth\":2}}",
		 quoted);
	free(quoted);
	json_decref(t);
	json_t *p = json_loads(buf, 0, NULL);
	json_t *a = args ? json_loads(args, 0, NULL) : NULL;
	json_t *r = ret ? json_loads(ret, JSON_DECODE_ANY, NULL) : NULL;
	json_t *ev = jga_test_make_event(p, a, r, &oversize);
	assert_false(oversize);
	json_decref(p);
	json_decref(a);
	json_decref(r);
	return ev;
}

static void
check_log(const char *template, const char *args, const char *ret, const char *message,
	  const char *truncated)
{
	json_t *ev = log_event(template, args, ret);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "message")), message);
	/* a log probe's event carries its message, never the values themselves */
	assert_null(json_object_get(ev, "args"));
	assert_null(json_object_get(ev, "return"));
	json_t *want = json_loads(truncated, 0, NULL);
	json_t *cut = json_object_get(ev, "truncated");
	if (cut == NULL)
		assert_int_equal(json_array_size(want), 0);
	else
		assert_true(json_equal(cut, want));
	json_decref(want);
	json_decref(ev);
}

/*
 * A log probe's message: each placeholder replaced by its value (strings
 * as they are, anything else as compact JSON), cut to max_string_bytes and
 * named in "truncated" when cut, "<missing>" for a path that does not
 * resolve, braces written doubled; a template the agent cannot render is
 * not installed.
 */
static void
test_log_message(void **state)
{
	(void)state;
	check_log("charge {amount} for {customer.id}",
		  "{\"amount\":1200,\"customer\":{\"id\":\"c_42\",\"email\":\"a@b.c\"}}", NULL,
		  "charge 1200 for c_42", "[]");
	check_log("{{literal}} {ok} and }}", "{\"ok\":true}", NULL, "{literal} true and }", "[]");
	/* containers are only named: their keys would escape redaction by key inside the message */
	check_log("got {return} from {return.code}", NULL, "{\"code\":7}", "got <object> from 7",
		  "[]");
	check_log("{items.1} of {items}", "{\"items\":[\"a\",\"b\"]}", NULL, "b of <array>", "[]");
	check_log("refund {customer}", "{\"customer\":{\"name\":\"Alice Smith\",\"ssn\":\"078\"}}",
		  NULL, "refund <object>", "[]");
	check_log("{n} {r} {f}", "{\"n\":null,\"r\":1.5,\"f\":false}", NULL, "null 1.5 false",
		  "[]");
	check_log("no {such.thing} here", "{\"such\":{}}", NULL, "no <missing> here", "[]");
	/* strings cut at 16 bytes (a UTF-8 boundary) */
	check_log("note {note}", "{\"note\":\"0123456789abcdefXYZ\"}", NULL,
		  "note 0123456789abcdef", "[\"args.note\"]");
	check_log("{e}",
		  "{\"e\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
		  NULL, "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "[\"args.e\"]");

	/* not installed: no template, a stray brace, no placeholder, an unknown kind */
	const char *bad[] = {
	    "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,\"kind\":\"log\","
	    "\"expires_at\":1}",
	    "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,\"kind\":\"log\","
	    "\"template\":\"a } b {x}\",\"expires_at\":1}",
	    "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,\"kind\":\"log\","
	    "\"template\":\"nothing\",\"expires_at\":1}",
	    "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,\"kind\":\"log\","
	    "\"template\":\"{a..b}\",\"expires_at\":1}",
	    "{\"id\":\"prb_1\",\"function\":\"F\",\"sampling_rate\":1,\"kind\":\"histogram\","
	    "\"expires_at\":1}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bool oversize;
		json_t *p = json_loads(bad[i], 0, NULL);
		assert_non_null(p);
		json_t *args = json_object();
		assert_null(jga_test_make_event(p, args, NULL, &oversize));
		json_decref(args);
		json_decref(p);
	}
}

/* ---- rate bucket and CPU window -------------------------------------------- */

static struct timespec
at_ms(long ms)
{
	struct timespec t = {1000 + ms / 1000, (ms % 1000) * 1000000L};
	return t;
}

static void
test_bucket(void **state)
{
	(void)state;
	struct jga_bucket b = {0};
	struct timespec t = at_ms(0);
	int n = 0;

	/* full at first: the burst is the rate */
	while (jga_bucket_take(&b, &t, 10))
		n++;
	assert_int_equal(n, 10);
	/* 100 ms later: one more token */
	t = at_ms(100);
	assert_true(jga_bucket_take(&b, &t, 10));
	assert_false(jga_bucket_take(&b, &t, 10));
	/* 99 ms after that: not yet */
	t = at_ms(199);
	assert_false(jga_bucket_take(&b, &t, 10));
	t = at_ms(200);
	assert_true(jga_bucket_take(&b, &t, 10));
	/* a long pause refills to the burst, never beyond */
	t = at_ms(60000);
	for (n = 0; jga_bucket_take(&b, &t, 10);)
		n++;
	assert_int_equal(n, 10);
	/* rate 1: one a second */
	struct jga_bucket one = {0};
	t = at_ms(0);
	assert_true(jga_bucket_take(&one, &t, 1));
	assert_false(jga_bucket_take(&one, &t, 1));
	t = at_ms(999);
	assert_false(jga_bucket_take(&one, &t, 1));
	t = at_ms(1000);
	assert_true(jga_bucket_take(&one, &t, 1));
}

static void
test_cpu_window(void **state)
{
	(void)state;
	struct jga_cpu c = {0};
	struct timespec t = at_ms(0);
	double ms;

	assert_false(jga_cpu_charge(&c, &t, 4900000, 5, &ms)); /* 4.9 ms */
	t = at_ms(500);
	assert_false(jga_cpu_charge(&c, &t, 100000, 5, &ms)); /* 5.0 ms: at the limit */
	assert_true(ms > 4.999 && ms < 5.001);
	assert_false(c.precise);
	t = at_ms(999);
	/* 5 ms + 1 ns on the monotonic clock: not yet; the next window is precise */
	assert_false(jga_cpu_charge(&c, &t, 1, 5, &ms));
	assert_true(c.precise);
	/* the precise window begins now: 5 ms in it are at the limit, 1 ns more is over */
	t = at_ms(1500);
	assert_false(jga_cpu_charge(&c, &t, 5000000, 5, &ms));
	t = at_ms(1998);
	assert_true(jga_cpu_charge(&c, &t, 1, 5, &ms));
	assert_true(ms > 5.0 && ms < 5.001);

	/* a new window a second after the first began */
	c = (struct jga_cpu){0};
	t = at_ms(0);
	assert_false(jga_cpu_charge(&c, &t, 5000000, 5, &ms));
	t = at_ms(1000);
	assert_false(jga_cpu_charge(&c, &t, 4000000, 5, &ms));
	assert_true(ms > 3.999 && ms < 4.001);
	t = at_ms(1999);
	assert_false(jga_cpu_charge(&c, &t, 1000001, 5, &ms));
	assert_true(c.precise);

	/* a preempted thread: the precise window stays within the limit, the guard goes back */
	t = at_ms(2500);
	assert_false(jga_cpu_charge(&c, &t, 100000, 5, &ms));
	t = at_ms(3000);
	assert_false(jga_cpu_charge(&c, &t, 100000, 5, &ms));
	assert_false(c.precise);
	/* and a precise window's excess ends in a stop, two windows after the first excess */
	t = at_ms(3100);
	assert_false(jga_cpu_charge(&c, &t, 6000000, 5, &ms));
	assert_true(c.precise);
	t = at_ms(3200);
	assert_true(jga_cpu_charge(&c, &t, 6000000, 5, &ms));
}

/* ---- through an agent ---------------------------------------------------- */

/* An agent whose jitgate is unreachable: its polls fail and leave what is installed. */
static struct jga_agent *
agent_with(const char *lim)
{
	struct jga_agent *a = jga_new("https://127.0.0.1:1", "svc", "jgk_test", NULL);
	assert_non_null(a);
	long long now = (long long)time(NULL);
	json_t *reply =
	    json_pack("{s:I,s:[o]}", "now", (json_int_t)now, "probes", probe_json(lim, now + 600));
	assert_non_null(reply);
	assert_int_equal(jga_test_install(a, reply), 0);
	json_decref(reply);
	return a;
}

static void
test_enabled(void **state)
{
	(void)state;
	struct jga_agent *a = jga_new("https://127.0.0.1:1", "svc", "jgk_test", NULL);
	assert_non_null(a);
	assert_int_equal(jga_enabled(a, "F"), 0);
	long long now = (long long)time(NULL);
	json_t *reply =
	    json_pack("{s:I,s:[o]}", "now", (json_int_t)now, "probes", probe_json("{}", now + 600));
	assert_int_equal(jga_test_install(a, reply), 0);
	json_decref(reply);
	assert_int_equal(jga_enabled(a, "F"), 1);
	assert_int_equal(jga_enabled(a, "G"), 0);
	assert_int_equal(jga_enabled(a, NULL), 0);
	assert_int_equal(jga_enabled(NULL, "F"), 0);
	/* a poll that no longer lists it */
	reply = json_pack("{s:I,s:[]}", "now", (json_int_t)now, "probes");
	assert_int_equal(jga_test_install(a, reply), 0);
	json_decref(reply);
	assert_int_equal(jga_enabled(a, "F"), 0);
	/* a probe with limits jitgate's protocol does not allow is not installed */
	reply = json_pack("{s:I,s:[o]}", "now", (json_int_t)now, "probes",
			  probe_json("{\"max_depth\":9}", now + 600));
	assert_int_equal(jga_test_install(a, reply), 0);
	json_decref(reply);
	assert_int_equal(jga_enabled(a, "F"), 0);
	jga_stop(a);
	assert_int_equal(jga_enabled(a, "F"), 0);
	jga_free(a);
}

static void
test_max_hits(void **state)
{
	(void)state;
	struct jga_agent *a = agent_with("{\"max_hits\":3,\"max_events_per_second\":100}");
	struct jga_stats st;
	json_t *args = json_pack("{s:i}", "n", 1);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(jga_enabled(a, "F"), 1);
		assert_int_equal(jga_hit(a, "F", args, NULL), 1);
	}
	assert_int_equal(jga_enabled(a, "F"), 0);
	assert_int_equal(jga_hit(a, "F", args, NULL), 0);
	assert_int_equal(jga_hit(a, "F", args, NULL), 0);
	jga_stats(a, &st);
	assert_int_equal(st.matched, 3);
	assert_int_equal(st.captured, 3);
	assert_int_equal(st.skipped_max_hits, 2);
	assert_int_equal(st.skipped_rate, 0);
	assert_int_equal(st.installed, 0);
	json_decref(args);
	jga_free(a);
}

static void
test_rate(void **state)
{
	(void)state;
	/* one a second, a burst of one: the calls below take far less than a second */
	struct jga_agent *a = agent_with("{\"max_events_per_second\":1}");
	struct jga_stats st;
	json_t *args = json_pack("{s:i}", "n", 1);
	int queued = 0;

	for (int i = 0; i < 5; i++)
		queued += jga_hit(a, "F", args, NULL);
	assert_int_equal(queued, 1);
	jga_stats(a, &st);
	assert_int_equal(st.matched, 5);
	assert_int_equal(st.captured, 1);
	assert_int_equal(st.skipped_rate, 4);
	assert_int_equal(jga_enabled(a, "F"), 1); /* rate skips do not stop the probe */
	json_decref(args);
	jga_free(a);
}

static void
test_truncated_counted(void **state)
{
	(void)state;
	struct jga_agent *a = agent_with("{\"max_string_bytes\":16}");
	struct jga_stats st;
	json_t *args = json_pack("{s:s}", "s", "0123456789abcdefXYZ");
	json_t *ok = json_pack("{s:s}", "s", "short");

	assert_int_equal(jga_hit(a, "F", args, NULL), 1);
	assert_int_equal(jga_hit(a, "F", ok, NULL), 1);
	jga_stats(a, &st);
	assert_int_equal(st.captured, 2);
	assert_int_equal(st.truncated, 1);
	json_decref(args);
	json_decref(ok);
	jga_free(a);
}

static void
test_cpu_guard(void **state)
{
	(void)state;
	struct jga_agent *a = agent_with("{\"max_cpu_ms_per_second\":5}");
	struct jga_stats st;

	assert_int_equal(jga_test_cpu_charge(a, "prb_1", 4000000), 0);
	assert_int_equal(jga_enabled(a, "F"), 1);
	assert_int_equal(jga_test_cpu_charge(a, "prb_1", 1000000), 0); /* 5 ms: at the limit */
	assert_int_equal(jga_test_report_pending(a, "prb_1"), 0);
	/* over on the monotonic clock: confirmed on the CPU clock before it stops */
	assert_int_equal(jga_test_cpu_charge(a, "prb_1", 1), 0);
	assert_int_equal(jga_enabled(a, "F"), 1);
	assert_int_equal(jga_test_cpu_charge(a, "prb_1", 5000000), 0); /* 5 ms: at the limit */
	assert_int_equal(jga_test_cpu_charge(a, "prb_1", 1), 1);
	/* stopped at once; the report waits for the agent's thread (jitgate is unreachable) */
	assert_int_equal(jga_enabled(a, "F"), 0);
	json_t *args = json_pack("{s:i}", "n", 1);
	assert_int_equal(jga_hit(a, "F", args, NULL), 0);
	json_decref(args);
	jga_stats(a, &st);
	assert_int_equal(st.cpu_disabled, 1);
	assert_int_equal(st.captured, 0);
	assert_int_equal(st.installed, 0);
	assert_int_equal(st.reports_failed, 0); /* no answer is not a refusal: retried */
	/* a later poll listing it again does not reinstall it */
	long long now = (long long)time(NULL);
	json_t *reply =
	    json_pack("{s:I,s:[o]}", "now", (json_int_t)now, "probes", probe_json("{}", now + 600));
	assert_int_equal(jga_test_install(a, reply), 0);
	json_decref(reply);
	assert_int_equal(jga_enabled(a, "F"), 0);
	jga_free(a);
}

/* The guard on jga_hit()'s own clock: a probe whose capture is costly stops within the second. */
static void
test_cpu_guard_measured(void **state)
{
	(void)state;
	struct jga_agent *a =
	    agent_with("{\"max_cpu_ms_per_second\":1,\"max_events_per_second\":100,"
		       "\"max_fields\":100,\"max_collection_items\":1000,"
		       "\"max_string_bytes\":4096,\"max_hits\":10000}");
	struct jga_stats st;
	/* 100 members of 1,000 strings each: cut again and again to fit 16,384 bytes */
	json_t *args = json_object();
	char key[16];
	for (int i = 0; i < 100; i++) {
		json_t *xs = json_array();
		for (int k = 0; k < 1000; k++)
			json_array_append_new(xs, json_string("0123456789abcdef0123456789abcdef"));
		snprintf(key, sizeof key, "k%02d", i);
		json_object_set_new(args, key, xs);
	}
	int calls = 0;
	while (calls < 100 && jga_enabled(a, "F")) {
		jga_hit(a, "F", args, NULL);
		calls++;
	}
	jga_stats(a, &st);
	assert_int_equal(st.cpu_disabled, 1);
	assert_int_equal(jga_enabled(a, "F"), 0);
	assert_true(st.captured <= (uint64_t)calls);
	assert_int_equal(jga_hit(a, "F", args, NULL), 0); /* stopped: nothing more */
	jga_stats(a, &st);
	assert_int_equal(st.cpu_disabled, 1);
	json_decref(args);
	jga_free(a);
}

/* A probe of a poll with id, sampling rate, conditions and limits given as JSON text. */
static json_t *
probe_with(const char *id, const char *rate, const char *conds, const char *lim,
	   long long expires_at)
{
	char buf[1024];

	snprintf(buf, sizeof buf,
		 "{\"id\":\"%s\",\"function\":\"F\",\"sampling_rate\":%s,"
		 "\"capture_args\":true,\"capture_return\":false,\"conditions\":%s,"
		 "\"expires_at\":%lld,\"limits\":%s}",
		 id, rate, conds, expires_at, lim);
	json_t *j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	return j;
}

/* The failure of failed (the status report's list) for probe id, or NULL. */
static json_t *
failure_of(json_t *failed, const char *id)
{
	size_t i;
	json_t *f;
	json_array_foreach(failed, i, f)
	{
		if (strcmp(json_string_value(json_object_get(f, "id")), id) == 0)
			return f;
	}
	return NULL;
}

static void
test_status_report(void **state)
{
	(void)state;
	long long now = (long long)time(NULL);
	/* bad instance names are refused: empty, unprintable, over 128 bytes */
	char long_name[130];
	memset(long_name, 'i', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_null(jga_new_instance("https://127.0.0.1:1", "svc", "jgk_test", NULL, ""));
	assert_null(jga_new_instance("https://127.0.0.1:1", "svc", "jgk_test", NULL, "a\nb"));
	assert_null(jga_new_instance("https://127.0.0.1:1", "svc", "jgk_test", NULL, long_name));
	long_name[128] = '\0';
	struct jga_agent *a =
	    jga_new_instance("https://127.0.0.1:1", "svc", "jgk_test", NULL, long_name);
	assert_non_null(a);
	jga_free(a);

	a = jga_new_instance("https://127.0.0.1:1", "svc", "jgk_test", NULL, "pod-7:1");
	assert_non_null(a);
	json_t *reply = json_pack(
	    "{s:I,s:[o,o,o,o,o]}", "now", (json_int_t)now, "probes",
	    probe_with("prb_ok", "1", "[]", "{\"max_hits\":1}", now + 600),
	    probe_with("prb_lim", "1", "[]", "{\"max_depth\":9}", now + 600),
	    probe_with("prb_cond", "1",
		       "[{\"field\":\"email\",\"op\":\"regex\",\"value\":\"ann@example.com\"}]",
		       "{}", now + 600),
	    probe_with("prb_rate", "0", "[]", "{}", now + 600),
	    /* past its end: neither installed nor a failure */
	    probe_with("prb_old", "1", "[]", "{}", now - 5));
	json_t *body = jga_test_status(a, reply);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body, "service")), "svc");
	assert_string_equal(json_string_value(json_object_get(body, "instance")), "pod-7:1");
	json_t *inst = json_object_get(body, "installed"),
	       *failed = json_object_get(body, "failed");
	assert_int_equal(json_array_size(inst), 1);
	assert_string_equal(json_string_value(json_array_get(inst, 0)), "prb_ok");
	assert_int_equal(json_array_size(failed), 3);
	static const struct {
		const char *id, *code;
	} want[] = {
	    {"prb_lim", "bad_limits"}, {"prb_cond", "bad_conditions"}, {"prb_rate", "bad_probe"}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		json_t *f = failure_of(failed, want[i].id);
		assert_non_null(f);
		assert_string_equal(json_string_value(json_object_get(f, "code")), want[i].code);
		const char *m = json_string_value(json_object_get(f, "message"));
		assert_true(m != NULL && *m != '\0' && strlen(m) <= 256);
	}
	/* the message names the condition and its op, never its value */
	const char *m =
	    json_string_value(json_object_get(failure_of(failed, "prb_cond"), "message"));
	assert_non_null(strstr(m, "conditions[0]"));
	assert_non_null(strstr(m, "regex"));
	assert_null(strstr(m, "example.com"));
	json_decref(body);

	/* a probe that stopped capturing (max_hits) is no longer reported installed */
	json_t *args = json_pack("{s:i}", "n", 1);
	assert_int_equal(jga_hit(a, "F", args, NULL), 1);
	json_decref(args);
	body = jga_test_status(a, reply);
	assert_non_null(body);
	assert_int_equal(json_array_size(json_object_get(body, "installed")), 0);
	assert_int_equal(json_array_size(json_object_get(body, "failed")), 3);
	json_decref(body);
	json_decref(reply);
	/* a kind it does not know, a log probe without a template it can render */
	json_t *kinds = json_pack("{s:I,s:[o,o]}", "now", (json_int_t)now, "probes",
				  probe_with("prb_kind", "1", "[]", "{}", now + 600),
				  probe_with("prb_tmpl", "1", "[]", "{}", now + 600));
	json_object_set_new(json_array_get(json_object_get(kinds, "probes"), 0), "kind",
			    json_string("trace"));
	json_object_set_new(json_array_get(json_object_get(kinds, "probes"), 1), "kind",
			    json_string("log"));
	json_object_set_new(json_array_get(json_object_get(kinds, "probes"), 1), "template",
			    json_string("charge {amount"));
	body = jga_test_status(a, kinds);
	assert_non_null(body);
	failed = json_object_get(body, "failed");
	assert_string_equal(
	    json_string_value(json_object_get(failure_of(failed, "prb_kind"), "code")), "bad_kind");
	assert_string_equal(
	    json_string_value(json_object_get(failure_of(failed, "prb_tmpl"), "code")),
	    "bad_template");
	json_decref(body);
	json_decref(kinds);
	jga_free(a);

	/* jga_new names the instance "<host>:<pid>" */
	a = jga_new("https://127.0.0.1:1", "svc", "jgk_test", NULL);
	assert_non_null(a);
	reply = json_pack("{s:I,s:[]}", "now", (json_int_t)now, "probes");
	body = jga_test_status(a, reply);
	char suffix[32];
	snprintf(suffix, sizeof suffix, ":%ld", (long)getpid());
	const char *name = json_string_value(json_object_get(body, "instance"));
	assert_non_null(name);
	assert_true(strlen(name) > strlen(suffix) && strlen(name) <= 128);
	assert_string_equal(name + strlen(name) - strlen(suffix), suffix);
	json_decref(body);
	json_decref(reply);
	jga_free(a);
}

/* ---- metric probes ---------------------------------------------------------- */

static json_t *
spec(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

/*
 * A metric probe's spec, and its aggregate: OpenTelemetry's buckets with
 * upper bounds inclusive, what is not a finite number skipped, one point
 * per interval, the next one from nothing.
 */
static void
test_metric_aggregate(void **state)
{
	(void)state;
	struct jga_metric m;
	const char *bad[] = {"{}",
			     "{\"type\":\"gauge\"}",
			     "{\"type\":\"histogram\"}",
			     "{\"type\":\"histogram\",\"field\":\"a..b\"}",
			     "{\"type\":\"count\",\"field\":\"a\"}",
			     "{\"type\":\"count\",\"interval_seconds\":0}",
			     "{\"type\":\"count\",\"interval_seconds\":301}",
			     "[]"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *s = spec(bad[i]);
		assert_int_equal(jga_metric_parse(s, &m), -1);
		json_decref(s);
	}

	json_t *s = spec("{\"type\":\"histogram\",\"field\":\"req.amount\","
			 "\"interval_seconds\":1}");
	assert_int_equal(jga_metric_parse(s, &m), 0);
	json_decref(s);
	assert_true(m.histogram);
	assert_int_equal(m.interval_ms, 1000);
	struct timespec t0 = at_ms(0), t1 = at_ms(999), t2 = at_ms(1000);
	const char *values[] = {"-3", "0", "1", "5", "5.5", "10000", "10001", "\"7\"", "null"};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "{\"req\":{\"amount\":%s}}", values[i]);
		json_t *args = spec(buf);
		assert_int_equal(jga_metric_record(&m, args, NULL, &t0), i < 7);
		json_decref(args);
	}
	json_t *none = json_object();
	assert_false(jga_metric_record(&m, none, NULL, &t0)); /* missing */
	json_decref(none);
	assert_int_equal(m.skipped, 3);
	assert_false(jga_metric_due(&m, &t1));
	assert_true(jga_metric_due(&m, &t2));
	json_t *pt = jga_metric_take(&m);
	assert_non_null(pt);
	long long want[JGA_METRIC_BUCKETS] = {2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
	json_t *counts = json_object_get(pt, "counts");
	assert_int_equal(json_array_size(counts), JGA_METRIC_BUCKETS);
	for (size_t i = 0; i < JGA_METRIC_BUCKETS; i++)
		assert_int_equal(json_integer_value(json_array_get(counts, i)), want[i]);
	assert_int_equal(json_integer_value(json_object_get(pt, "count")), 7);
	assert_true(json_real_value(json_object_get(pt, "sum")) == 20009.5);
	assert_true(json_real_value(json_object_get(pt, "min")) == -3);
	assert_true(json_real_value(json_object_get(pt, "max")) == 10001);
	assert_non_null(json_string_value(json_object_get(pt, "start")));
	assert_int_equal(json_object_size(pt), 6); /* start, count, sum, min, max, counts */
	json_decref(pt);
	assert_int_equal(m.count, 0);
	assert_false(jga_metric_due(&m, &t2)); /* nothing since: no point */

	/* the return value, and a count */
	s = spec("{\"type\":\"histogram\",\"field\":\"return\"}");
	assert_int_equal(jga_metric_parse(s, &m), 0);
	json_decref(s);
	assert_int_equal(m.interval_ms, 10000);
	json_t *ret = json_real(12.5);
	assert_true(jga_metric_record(&m, NULL, ret, &t0));
	json_decref(ret);
	assert_int_equal(m.counts[3], 1);
	s = spec("{\"type\":\"count\"}");
	assert_int_equal(jga_metric_parse(s, &m), 0);
	json_decref(s);
	assert_true(jga_metric_record(&m, NULL, NULL, &t0));
	assert_true(jga_metric_record(&m, NULL, NULL, &t0));
	pt = jga_metric_take(&m);
	assert_int_equal(json_object_size(pt), 2); /* start and count only */
	assert_int_equal(json_integer_value(json_object_get(pt, "count")), 2);
	json_decref(pt);
}

/*
 * jga_hit() on a metric probe: matching calls aggregated (conditions
 * honoured), no event queued, nothing of the call in the point; a spec the
 * agent cannot aggregate is reported as bad_metric.
 */
static void
test_metric_probe(void **state)
{
	(void)state;
	long long now = (long long)time(NULL);
	struct jga_agent *a = jga_new("https://127.0.0.1:1", "svc", "jgk_test", NULL);
	assert_non_null(a);
	json_t *reply = json_pack("{s:I,s:[o,o]}", "now", (json_int_t)now, "probes",
				  probe_with("prb_m", "1",
					     "[{\"field\":\"amount\",\"op\":\"gt\",\"value\":10}]",
					     "{}", now + 600),
				  probe_with("prb_bad", "1", "[]", "{}", now + 600));
	json_t *probes = json_object_get(reply, "probes");
	json_object_set_new(json_array_get(probes, 0), "capture_args", json_false());
	json_object_set_new(json_array_get(probes, 0), "kind", json_string("metric"));
	json_object_set_new(json_array_get(probes, 0), "metric",
			    spec("{\"type\":\"histogram\",\"field\":\"amount\"}"));
	json_object_set_new(json_array_get(probes, 1), "kind", json_string("metric"));
	json_object_set_new(json_array_get(probes, 1), "metric", spec("{\"type\":\"sum\"}"));
	json_t *body = jga_test_status(a, reply);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(
				failure_of(json_object_get(body, "failed"), "prb_bad"), "code")),
			    "bad_metric");
	json_decref(body);
	json_decref(reply);

	for (int amount = 1; amount <= 40; amount++) {
		json_t *args = json_pack("{s:i,s:s}", "amount", amount, "email", "a@example.com");
		assert_int_equal(jga_hit(a, "F", args, NULL), amount > 10 ? 1 : 0);
		json_decref(args);
	}
	json_t *pt = jga_test_metric_point(a, "prb_m");
	assert_non_null(pt);
	assert_int_equal(json_integer_value(json_object_get(pt, "count")), 30);
	assert_true(json_real_value(json_object_get(pt, "min")) == 11);
	assert_true(json_real_value(json_object_get(pt, "max")) == 40);
	char *text = json_dumps(pt, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, "example.com"));
	free(text);
	json_decref(pt);
	assert_null(jga_test_metric_point(a, "prb_m")); /* taken: the next starts from nothing */
	struct jga_stats st;
	jga_stats(a, &st);
	assert_int_equal(st.captured, 0); /* nothing queued as an event */
	jga_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limits_parse),       cmocka_unit_test(test_capture_depth),
	    cmocka_unit_test(test_capture_strings),    cmocka_unit_test(test_capture_items_fields),
	    cmocka_unit_test(test_event_fits),	       cmocka_unit_test(test_bucket),
	    cmocka_unit_test(test_cpu_window),	       cmocka_unit_test(test_enabled),
	    cmocka_unit_test(test_max_hits),	       cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_truncated_counted),  cmocka_unit_test(test_cpu_guard),
	    cmocka_unit_test(test_cpu_guard_measured), cmocka_unit_test(test_log_message),
	    cmocka_unit_test(test_status_report),      cmocka_unit_test(test_metric_aggregate),
	    cmocka_unit_test(test_metric_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
