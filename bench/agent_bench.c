/*
 * agent_bench.c - what the reference agent costs the service that links it
 * (bench/agent.sh): jga_hit() and jga_enabled() per call, next to a bare
 * call of a function that does nothing, all measured in one process on one
 * thread, in the same rounds.
 *
 *   agent_bench SECONDS ROUNDS
 *
 * No jitgate is needed: probes are installed through the agent's test hook
 * (agent/src/internal.h, jga_test_install), exactly as a poll reply would
 * install them; the agents point at https://127.0.0.1:1, so their pollers
 * fail, back off and leave what is installed (the deadlines are 10 minutes
 * out).  The cases:
 *   bare                  a noinline function with jga_hit's signature that returns at once
 *   enabled_none          jga_enabled() with no probe installed (one atomic load)
 *   hit_none              jga_hit() with no probe installed
 *   enabled_installed     jga_enabled() with a probe on the function (the lock and a scan)
 *   hit_nomatch           jga_hit() with a probe whose condition (amount gt 1000) is false.
 *                         The CPU guard charges every call on a probe, matching or
 *                         not: at tens of millions of calls a second a non-matching
 *                         probe costs far more than max_cpu_ms_per_second and is
 *                         stopped (as it would be in a service).  So that the figure
 *                         is the cost of a probe that still works, these two cases
 *                         install a fresh probe before every chunk (not timed)
 *   hit_capture           jga_hit() with a probe that captures the call (conditions [],
 *                         sampling 1): every hit copies the arguments, cut to the
 *                         limits, and queues an event.  A probe captures at most
 *                         max_events_per_second (100 at most) before its bucket is
 *                         empty, so each timed batch is 100 hits on a probe installed
 *                         just before it (the install is not timed)
 *   hit_metric            jga_hit() with a metric probe, a histogram of amount
 *                         (conditions [], sampling 1): every hit finds the value and
 *                         counts it in the open point, no event is built.  Installed
 *                         fresh before every chunk, as hit_nomatch, for the CPU guard
 *   build_args            json_pack() of the three arguments and json_decref(): what a
 *                         service pays per call without jga_enabled() in front of it
 * The arguments are {amount, currency, customer_email}, built once (but
 * for build_args).  Each round gives every case SECONDS / ROUNDS /
 * cases of time, the cases in turn, so drift of the machine reaches every
 * case alike.  A case is timed in chunks (1,000 calls; a capture batch of
 * 100) and a round's figure is the median chunk's time per call, so a chunk
 * the thread was preempted in (a shared host) does not count; each case's
 * figure is its median over the rounds.  Prints "NAME ns_per_call
 * fastest_ns_per_call" per case (the fastest chunk of all rounds), then the share of the run's wall
 * time the thread was on a CPU
 * ("cpu_share", from CLOCK_THREAD_CPUTIME_ID: how busy the host was).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bench_args.h"
#include "internal.h"
#include "jitgate-agent.h"

#define FN	    "PaymentProcessor.selectProvider"
#define MAX_ROUNDS  101
#define CHUNK	    1000 /* calls between two clock reads */
#define BATCH	    100	 /* captures of one freshly installed probe (its full bucket) */
#define NOWHERE	    "https://127.0.0.1:1"
#define NOMATCH	    "[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000}]"
#define HISTOGRAM   "{\"type\":\"histogram\",\"field\":\"amount\"}"
#define MAX_SAMPLES (1 << 18) /* chunks timed per case and round (more are run, not kept) */

enum {
	BARE,
	ENABLED_NONE,
	HIT_NONE,
	ENABLED_INSTALLED,
	HIT_NOMATCH,
	HIT_CAPTURE,
	HIT_METRIC,
	BUILD_ARGS,
	NCASES
};
static const char *const names[NCASES] = {
    "bare",	   "enabled_none", "hit_none",	 "enabled_installed",
    "hit_nomatch", "hit_capture",  "hit_metric", "build_args"};

static volatile long sink;
static double samples[MAX_SAMPLES];

/*
 * The reference: a direct call of a function that does nothing, with
 * jga_hit()'s signature, never inlined (the agent's functions are direct
 * calls into another object file too); the empty asm keeps the call.
 */
__attribute__((noinline)) static int
bare(struct jga_agent *a, const char *function, json_t *args, json_t *ret)
{
	__asm__ volatile("" : : "r"(a), "r"(function), "r"(args), "r"(ret) : "memory");
	return 0;
}

static int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A poll reply listing one probe on FN with conditions (JSON text); with
 * metric (JSON text, or NULL) a metric probe of that spec.
 */
static json_t *
reply_with(const char *id, const char *conditions, const char *metric)
{
	char buf[640];
	long long t = (long long)time(NULL);
	snprintf(buf, sizeof buf,
		 "{\"now\":%lld,\"probes\":[{\"id\":\"%s\",\"function\":\"" FN "\","
		 "\"capture_args\":%s,\"capture_return\":false,\"sampling_rate\":1,"
		 "\"conditions\":%s,\"expires_at\":%lld,%s%s%s"
		 "\"limits\":{\"max_hits\":10000,\"max_events_per_second\":100}}]}",
		 t, id, metric ? "false" : "true", conditions, t + 600,
		 metric ? "\"kind\":\"metric\",\"metric\":" : "", metric ? metric : "",
		 metric ? "," : "");
	json_t *r = json_loads(buf, 0, NULL);
	if (r == NULL) {
		fprintf(stderr, "agent_bench: bad reply\n");
		exit(1);
	}
	return r;
}

static void
install(struct jga_agent *a, const char *id, const char *conditions, const char *metric)
{
	json_t *r = reply_with(id, conditions, metric);
	if (jga_test_install(a, r) != 0) {
		fprintf(stderr, "agent_bench: install failed\n");
		exit(1);
	}
	json_decref(r);
}

struct ctx {
	struct jga_agent *none, *nomatch, *capture, *metric;
	json_t *args;
	unsigned long probes; /* capture probes installed so far */
};

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * Runs case c for about slice_ns; returns the median chunk's ns per call,
 * the fastest chunk's in *fastest.
 */
static double
run(struct ctx *x, int c, int64_t slice_ns, double *fastest)
{
	int64_t spent = 0, t0, d;
	size_t n = 0;
	long s = 0;
	char id[32];

	while (spent < slice_ns) {
		if (c == ENABLED_INSTALLED || c == HIT_NOMATCH) {
			/* a fresh probe: its CPU guard's window starts again */
			snprintf(id, sizeof id, "prb_nomatch%lu", x->probes++);
			install(x->nomatch, id, NOMATCH, NULL);
		}
		if (c == HIT_METRIC) {
			snprintf(id, sizeof id, "prb_metric%lu", x->probes++);
			install(x->metric, id, "[]", HISTOGRAM);
		}
		if (c == HIT_CAPTURE) {
			snprintf(id, sizeof id, "prb_bench%lu", x->probes++);
			install(x->capture, id, "[]",
				NULL); /* not timed; the previous one is uninstalled */
			t0 = now_ns();
			for (int i = 0; i < BATCH; i++)
				s += jga_hit(x->capture, FN, x->args, NULL);
			d = now_ns() - t0;
			spent += d;
			if (n < MAX_SAMPLES)
				samples[n++] = (double)d / BATCH;
			continue;
		}
		t0 = now_ns();
		switch (c) {
		case BARE:
			for (int i = 0; i < CHUNK; i++)
				s += bare(x->none, FN, x->args, NULL);
			break;
		case ENABLED_NONE:
			for (int i = 0; i < CHUNK; i++)
				s += jga_enabled(x->none, FN);
			break;
		case HIT_NONE:
			for (int i = 0; i < CHUNK; i++)
				s += jga_hit(x->none, FN, x->args, NULL);
			break;
		case ENABLED_INSTALLED:
			for (int i = 0; i < CHUNK; i++)
				s += jga_enabled(x->nomatch, FN);
			break;
		case HIT_NOMATCH:
			for (int i = 0; i < CHUNK; i++)
				s += jga_hit(x->nomatch, FN, x->args, NULL);
			break;
		case HIT_METRIC:
			for (int i = 0; i < CHUNK; i++)
				s += jga_hit(x->metric, FN, x->args, NULL);
			break;
		default: /* BUILD_ARGS */
			for (int i = 0; i < CHUNK; i++) {
				json_t *a = json_pack("{s:I,s:s,s:s}", "amount", (json_int_t)1 + i,
						      "currency", "EUR", "customer_email",
						      "customer4711@example.com");
				s += a != NULL;
				json_decref(a);
			}
			break;
		}
		d = now_ns() - t0;
		spent += d;
		if (n < MAX_SAMPLES)
			samples[n++] = (double)d / CHUNK;
	}
	sink += s;
	qsort(samples, n, sizeof(double), cmp);
	*fastest = samples[0];
	return samples[n / 2];
}

static int64_t
cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	static double ns[NCASES][MAX_ROUNDS], fast[NCASES][MAX_ROUNDS];
	struct ctx x = {0};

	if (argc != 3) {
		fprintf(stderr, "usage: agent_bench SECONDS ROUNDS\n");
		return 2;
	}
	double seconds = bench_seconds(argv[1], 3600);
	unsigned long rounds = bench_count(argv[2], 1, MAX_ROUNDS);
	x.none = jga_new(NOWHERE, "svc", "jgk_bench", NULL);
	x.nomatch = jga_new(NOWHERE, "svc", "jgk_bench", NULL);
	x.capture = jga_new(NOWHERE, "svc", "jgk_bench", NULL);
	x.metric = jga_new(NOWHERE, "svc", "jgk_bench", NULL);
	x.args = json_pack("{s:I,s:s,s:s}", "amount", (json_int_t)5, "currency", "EUR",
			   "customer_email", "customer4711@example.com");
	if (x.none == NULL || x.nomatch == NULL || x.capture == NULL || x.metric == NULL ||
	    x.args == NULL) {
		fprintf(stderr, "agent_bench: cannot start the agents\n");
		return 1;
	}
	install(x.nomatch, "prb_nomatch", NOMATCH, NULL);
	install(x.metric, "prb_metric", "[]", HISTOGRAM);
	if (jga_enabled(x.none, FN) != 0 || jga_enabled(x.nomatch, FN) != 1 ||
	    jga_hit(x.nomatch, FN, x.args, NULL) != 0 || jga_hit(x.metric, FN, x.args, NULL) != 1) {
		fprintf(stderr, "agent_bench: the probes are not as the cases need\n");
		return 1;
	}

	int64_t slice = (int64_t)(seconds * 1e9 / (double)rounds / NCASES);
	for (int c = 0; c < NCASES; c++) /* warm-up: caches, the allocator, the branch predictor */
		(void)run(&x, c, slice / 10 + 1, &fast[c][0]);
	int64_t wall0 = now_ns(), cpu0 = cpu_ns();
	for (unsigned long r = 0; r < rounds; r++)
		for (int c = 0; c < NCASES; c++)
			ns[c][r] = run(&x, c, slice, &fast[c][r]);
	double share = (double)(cpu_ns() - cpu0) / (double)(now_ns() - wall0);

	struct jga_stats st;
	jga_stats(x.capture, &st);
	for (int c = 0; c < NCASES; c++) {
		qsort(ns[c], rounds, sizeof(double), cmp);
		qsort(fast[c], rounds, sizeof(double), cmp);
		printf("%s %.2f %.2f\n", names[c], ns[c][rounds / 2], fast[c][0]);
	}
	/* every timed capture was one: nothing was skipped by the rate or max_hits */
	printf("captured %llu skipped %llu cpu_disabled %llu\n", (unsigned long long)st.captured,
	       (unsigned long long)(st.skipped_rate + st.skipped_max_hits),
	       (unsigned long long)st.cpu_disabled);
	printf("cpu_share %.2f\n", share);
	jga_free(x.none);
	jga_free(x.nomatch);
	jga_free(x.capture);
	jga_free(x.metric);
	json_decref(x.args);
	return 0;
}
