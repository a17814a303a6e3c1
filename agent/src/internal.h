/*
 * internal.h - the reference agent's private interfaces: the per-probe
 * limits of docs/agents.md ("Limits"), field-by-field capture within them,
 * the rate token bucket and the CPU guard's accounting.  Not installed and
 * not part of jitgate-agent.h: the agent's own files and its unit tests
 * (tests/unit/test_agent_capture.c) use it, so each rule is tested with
 * given inputs and given times instead of a clock.
 */
#ifndef JITGATE_AGENT_INTERNAL_H
#define JITGATE_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct jga_agent;

/* A probe's limits, as the poll gives them (docs/agents.md, "Limits"). */
struct jga_limits {
	long max_hits;		    /* 1..10000, default 100 */
	long max_events_per_second; /* 1..100, default 10; also the burst */
	long max_depth;		    /* 1..8, default 3 */
	long max_string_bytes;	    /* 16..4096, default 255 */
	long max_collection_items;  /* 1..1000, default 100 */
	long max_fields;	    /* 1..100, default 20 */
	long max_cpu_ms_per_second; /* 1..100, default 5 */
};

/* Fills *out with the protocol's defaults. */
void jga_limits_default(struct jga_limits *out);

/*
 * Reads a poll's "limits" object (NULL or absent: every default; a member
 * left out: its default) into *out.  Returns 0, or -1 when limits is not an
 * object or a member is not an integer within its bounds (the probe is then
 * not installed: the agent cannot honour what it does not understand).
 */
int jga_limits_parse(const json_t *limits, struct jga_limits *out);

/*
 * Whether the agent can evaluate every condition of conditions (NULL: none):
 * a list of objects, each with a field path of 1 to 256 bytes, an op it
 * knows (eq, gt, lt, contains) and a value.  0; or -1 with why (a sentence
 * naming the condition's index and op, never its value) written into why.
 * A probe that fails is not installed and is reported failed
 * ("bad_conditions").
 */
int jga_conditions_check(const json_t *conditions, char *why, size_t len);

/*
 * A copy of v (borrowed, never changed) cut to l, for a value whose own
 * depth is depth (0 for the args object itself, 1 for an argument, return
 * or error).  The path of every value cut is appended to truncated (an
 * array) as a string rooted at root ("args", "return", "error"): a string
 * cut to max_string_bytes at a UTF-8 character boundary; an array kept to
 * its first max_collection_items elements; an object kept to its first
 * max_fields members; a non-empty object or array at depth max_depth sent
 * empty.  A path longer than 512 bytes is reported as its longest
 * ancestor that fits.  Returns a new reference, or NULL when out of memory.
 */
json_t *jga_capture(const json_t *v, const char *root, long depth, const struct jga_limits *l,
		    json_t *truncated);

/*
 * The rate token bucket: rate tokens a second, at most rate held (the
 * burst), full at the first take.  Takes a token at now (CLOCK_MONOTONIC)
 * and returns true, or returns false when none is left.
 */
struct jga_bucket {
	double tokens;
	struct timespec last;
	bool primed;
};
bool jga_bucket_take(struct jga_bucket *b, const struct timespec *now, long rate);

/*
 * The CPU guard's accounting: spent_ns of time in jga_hit() for one probe,
 * summed over a one-second window that starts at the first charge after
 * the previous window ended.  A window on the monotonic clock that goes
 * above max_ms milliseconds starts a precise window at once (the caller
 * then charges thread CPU time); returns true when a precise window's sum
 * is above max_ms, with the sum in *ms (milliseconds) for the report.  A
 * probe really that dear is thus stopped within two windows, and a
 * preempted thread stops nothing.
 */
struct jga_cpu {
	struct timespec start;
	int64_t spent_ns;
	bool primed;
	/*
	 * The window is timed on the thread's CPU clock: the monotonic one went
	 * over, and it also counts the thread being preempted.  A window that
	 * stays within the limit on the CPU clock goes back to the monotonic one.
	 */
	bool precise;
};
bool jga_cpu_charge(struct jga_cpu *c, const struct timespec *now, int64_t spent_ns, long max_ms,
		    double *ms);

/*
 * The value a condition's field (or a template's placeholder) names in
 * args: a dotted path, its first segment a parameter (or a 0-based
 * position when args is an array), each further one an object member or
 * an array index.  NULL when it does not resolve (match.c).
 */
const json_t *jga_resolve(const json_t *args, const char *field);

/*
 * A log probe's template (template.c; the grammar of docs/agents.md,
 * "Probe kinds"): jga_template_valid says whether t is one the agent can
 * render (a probe with another is not installed); jga_template_render
 * returns its message for a call (args, ret: NULL when absent) as a new
 * JSON string, each value cut to l and its path appended to cut when cut,
 * a path that does not resolve written "<missing>".  NULL: out of memory.
 */
bool jga_template_valid(const char *t);
/* Whether the n bytes at p are a placeholder's path (a metric's field follows the same rule). */
bool jga_path_valid(const char *p, size_t n);
json_t *jga_template_render(const char *t, const json_t *args, const json_t *ret,
			    const struct jga_limits *l, json_t *cut);

/*
 * A metric probe's aggregate (metric.c; docs/agents.md, "Probe kinds"):
 * jga_metric_parse reads the probe's "metric" spec (-1: one the agent
 * cannot honour); jga_metric_record adds a matching call (false, and
 * counted in skipped, when a histogram's field is not a finite number);
 * jga_metric_due says whether the point has been open for its interval;
 * jga_metric_take returns the point ({start, count, and for a histogram
 * sum, min, max, counts}) and starts the next one from nothing (NULL: out
 * of memory, nothing reset).
 */
#define JGA_METRIC_BUCKETS 16
struct jga_metric {
	bool histogram;
	char field[101];
	long interval_ms;
	struct timespec opened; /* CLOCK_MONOTONIC, at the point's first call */
	int64_t start_ns;	/* CLOCK_REALTIME, the same */
	long long count, skipped;
	double sum, min, max;
	long long counts[JGA_METRIC_BUCKETS];
};
int jga_metric_parse(const json_t *spec, struct jga_metric *m);
bool jga_metric_record(struct jga_metric *m, const json_t *args, const json_t *ret,
		       const struct timespec *now);
bool jga_metric_due(const struct jga_metric *m, const struct timespec *now);
json_t *jga_metric_take(struct jga_metric *m);

/*
 * Test hooks (tests/unit/test_agent_capture.c).  jga_test_install applies
 * a poll reply ({"now", "probes"}) as if the poller had received it;
 * jga_test_cpu_charge charges spent_ns to probe id through the same path
 * jga_hit() uses, so the guard's effect (uninstall, pending report) is
 * tested without a slow function.  jga_test_report_pending says whether a
 * CPU report for id still waits for the agent's thread.  Each returns 0/1,
 * or -1 when id is not installed.
 */
int jga_test_install(struct jga_agent *agent, const json_t *reply);
/*
 * jga_test_status applies a poll reply as jga_test_install does and returns
 * the status report the poller would send after it ({service, instance,
 * installed, failed}; caller decrefs), or NULL when the reply is not one.
 */
json_t *jga_test_status(struct jga_agent *agent, const json_t *reply);
int jga_test_cpu_charge(struct jga_agent *agent, const char *id, int64_t spent_ns);
int jga_test_report_pending(struct jga_agent *agent, const char *id);
/* The point metric probe id holds now, taken as the flusher takes it (NULL: none). */
json_t *jga_test_metric_point(struct jga_agent *agent, const char *id);
/*
 * The event jga_hit() would queue for a probe described as in a poll
 * (probe), args and ret, or NULL with *oversize set when even the
 * tightest cut is over 16,384 bytes.  The caller frees the event.
 */
json_t *jga_test_make_event(const json_t *probe, json_t *args, json_t *ret, bool *oversize);

#endif
