/*
 * jitgate-agent.h - the reference agent library (libjitgate-agent), the C
 * side of docs/agents.md.
 *
 * A service links it, makes one agent with jga_new() and calls jga_hit() on
 * entry to every function it is willing to have probed.  A poller thread
 * asks jitgate which probes are live (GET /v1/agents/probes) and makes the
 * installed set equal to the reply; a flusher thread posts captured events
 * in batches of at most 100 every second.  A probe is uninstalled, and its
 * buffered events dropped, at its local deadline, when a poll stops listing
 * it, when a post is answered 404/409, or (all probes) on 401/403.
 *
 * Each probe comes with limits (docs/agents.md, "Limits"; the protocol's
 * defaults when jitgate sends none): its events are cut field by field to
 * max_depth, max_string_bytes, max_collection_items and max_fields, the
 * paths cut listed in the event's "truncated"; at most
 * max_events_per_second are queued (a token bucket with that burst) and
 * max_hits in all, then the probe stops capturing; a probe whose work in
 * jga_hit() costs more than max_cpu_ms_per_second in a second (measured
 * with CLOCK_MONOTONIC, then confirmed for a second on the thread's CPU
 * clock) is stopped and reported to jitgate by the agent's own thread.
 *
 * Thread safety: jga_hit() and jga_stats() may be called from any number
 * of threads at once; jga_free() must not race with them.
 */
#ifndef JITGATE_AGENT_H
#define JITGATE_AGENT_H

#include <stdint.h>

#include <jansson.h>

struct jga_agent;

struct jga_stats {
	uint64_t polls_ok, polls_failed;
	uint64_t matched;	   /* calls on an installed probe whose conditions held */
	uint64_t captured;	   /* of those, sampled and queued */
	uint64_t posted;	   /* events jitgate answered 201 for */
	uint64_t dropped;	   /* dropped (409/404, buffer full, expiry, one named by a 400) */
	uint64_t installed;	   /* probes installed now (and capturing) */
	uint64_t skipped_rate;	   /* matched and sampled, but over max_events_per_second */
	uint64_t skipped_max_hits; /* calls on a probe that reached max_hits */
	uint64_t truncated;	   /* queued events with something cut ("truncated") */
	uint64_t oversize;	   /* not queued: over 16,384 bytes even at the tightest cut */
	uint64_t cpu_disabled;	   /* probes the CPU guard stopped */
	uint64_t cpu_reported;	   /* of those, reports jitgate answered 200 or 409 */
	uint64_t reports_failed;   /* reports answered otherwise (e.g. 404): logged, nothing more */
	uint64_t status_sent;	   /* probe status reports answered 200 (one after each poll) */
	uint64_t status_failed; /* status reports not answered 200 (the next poll sends another) */
};

/*
 * Starts an agent for service: base_url is jitgate's public_url (https://
 * only), ingest_key the service's "jgk_..." key (copied; the copy is wiped
 * by jga_free), ca_file a PEM bundle to verify jitgate with, or NULL for
 * the system store.  Starts the poller and flusher threads; the first poll
 * happens at once.  Returns NULL on bad arguments or no memory; the caller
 * frees with jga_free().
 */
struct jga_agent *jga_new(const char *base_url, const char *service, const char *ingest_key,
			  const char *ca_file);

/*
 * jga_new() for an agent that names itself instance in its probe status
 * reports (docs/agents.md, "Probe status"): 1 to 128 printable ASCII
 * characters, unique among the service's running instances (a pod or
 * host name plus something per process); NULL: "<host name>:<pid>", which
 * jga_new() uses.  After every successful poll the agent reports which
 * probes it installed and which it could not install, and why.  Returns
 * NULL on bad arguments (an instance name included) or no memory.
 */
struct jga_agent *jga_new_instance(const char *base_url, const char *service,
				   const char *ingest_key, const char *ca_file,
				   const char *instance);

/*
 * Stops both threads, posts what is still queued for live probes (one last
 * flush) and uninstalls every probe, so later jga_hit() calls record
 * nothing; the counters stay readable.  Calling it again does nothing.
 */
void jga_stop(struct jga_agent *agent);

/* jga_stop(), then frees everything.  jga_free(NULL) does nothing. */
void jga_free(struct jga_agent *agent);

/*
 * A call of function with args (a JSON object: parameter name -> value;
 * borrowed, never changed) and ret (the return value or NULL; borrowed).
 * For every installed probe on function before its deadline: conditions,
 * then sampling, then the rate bucket and max_hits, then an event is
 * queued (copies of args/ret as the probe asks, cut to its limits, the
 * cuts listed in "truncated"); a metric probe instead counts the call in
 * its point (docs/agents.md, "Metric probes"), which the flusher posts once
 * per interval.  The time each probe costs here feeds its CPU guard.
 * Returns how many events were queued or points counted in (0 or more), or
 * -1 when something failed (counted; the call itself is never affected).
 */
int jga_hit(struct jga_agent *agent, const char *function, json_t *args, json_t *ret);

/*
 * 1 when a probe that still captures is installed on function now, else 0:
 * call it before building the arguments for jga_hit(), so a service pays
 * for its argument JSON only while someone probes it.  Cheap: no
 * allocation; one atomic load when no probe is installed, else the
 * agent's lock for a scan of the installed probes.  The answer may change
 * right after it is given; jga_hit() decides again.
 */
int jga_enabled(struct jga_agent *agent, const char *function);

/* Copies the counters into *out. */
void jga_stats(struct jga_agent *agent, struct jga_stats *out);

/*
 * Whether every condition of conditions (an array of {field, op, value};
 * NULL or [] match every call) holds for args, as docs/agents.md section 2
 * defines: field is a dotted path (names, or 0-based indices into arrays);
 * eq/gt/lt/contains.  Returns 1 (match) or 0.  Malformed conditions never
 * match.
 */
int jg_probe_match(const json_t *conditions, const json_t *args);

#endif
