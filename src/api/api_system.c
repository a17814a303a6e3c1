/*
 * api_system.c - liveness, readiness and metrics endpoints.
 *
 * /healthz answers as long as the process serves requests; /readyz also
 * proves the store answers and takes writes, so a load balancer stops
 * sending traffic to an instance whose database is gone, full or read-only; /metrics is the
 * Prometheus exposition.  Both name the policy set the replica enforces, so an operator can
 * see that every replica runs the same one after a rollout or a SIGHUP; /metrics also says
 * which of the jobs that run once across replicas this one leads (docs/operations.md).
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/audit_stream.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"
#include "api_routes_int.h"

static void
handle_healthz(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	jg_http_reply_json(reply, 200, json_pack("{s:s}", "status", "ok"));
}

static void
handle_readyz(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;

	if (jg_store_ping(app->store) != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the store does not answer");
		return;
	}
	if (app->audit && jg_audit_healthy(app->audit, NULL, 0) != 0) {
		/* details go to the operator's log, not to anonymous callers */
		jg_http_reply_error(reply, 503, "unavailable", "the audit log does not verify");
		return;
	}
	if (app->audit && jg_audit_writable(app->audit) != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the store cannot be written");
		return;
	}
	/* which policies this replica enforces: after a rollout or a SIGHUP, all must agree */
	const struct jg_policy_set *set = jg_app_policies_acquire(app);
	json_t *body = json_pack("{s:s,s:s,s:s}", "status", "ready", "store", "ok",
				 "policies_sha256", jg_policy_set_sha256(set));
	jg_app_policies_release(app);
	jg_http_reply_json(reply, 200, body);
}

/*
 * The series of this replica alone: the policy set it enforces, and which
 * of the jobs that run once across replicas it leads now (store.h,
 * jg_store_leaders).  NULL when out of memory.
 */
static char *
replica_metrics(struct jg_app *app)
{
	struct jg_store_leader_state leaders[16];
	size_t n = jg_store_leaders(leaders, 16);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	const struct jg_policy_set *set = jg_app_policies_acquire(app);
	fprintf(f,
		"# HELP jitgate_policy_set_info The policy set this replica enforces (its "
		"sha256).\n# TYPE jitgate_policy_set_info gauge\n"
		"jitgate_policy_set_info{sha256=\"%s\"} 1\n",
		jg_policy_set_sha256(set));
	jg_app_policies_release(app);
	(void)fputs("# HELP jitgate_leader 1 while this replica runs the job that runs once across "
		    "replicas, else 0.\n# TYPE jitgate_leader gauge\n",
		    f);
	for (size_t i = 0; i < n && i < 16; i++)
		fprintf(f, "jitgate_leader{job=\"%s\"} %d\n", leaders[i].name,
			leaders[i].held ? 1 : 0);
	if (app->audit != NULL) {
		/* how this replica's audit batches went: the fast path declined means another
		 * writer moved the head in between (several replicas, or the command line) */
		struct jg_audit_stats st;
		jg_audit_stats(app->audit, &st);
		fprintf(
		    f,
		    "# HELP jitgate_audit_batches_total Audit batches this replica committed.\n"
		    "# TYPE jitgate_audit_batches_total counter\n"
		    "jitgate_audit_batches_total %" PRIu64 "\n"
		    "# HELP jitgate_audit_fast_batches_total Of those, batches committed in one "
		    "round trip (PostgreSQL).\n# TYPE jitgate_audit_fast_batches_total counter\n"
		    "jitgate_audit_fast_batches_total %" PRIu64 "\n"
		    "# HELP jitgate_audit_fast_declined_total One-round-trip attempts that did not "
		    "commit (mostly: another writer had moved the chain head).\n"
		    "# TYPE jitgate_audit_fast_declined_total counter\n"
		    "jitgate_audit_fast_declined_total %" PRIu64 "\n",
		    st.batches, st.fast_batches, st.fast_declined);
		/* the rolling verifier: only the replica that sweeps has a rate and a window */
		fprintf(f,
			"# HELP jitgate_audit_verifier_sweeping 1 while this replica runs the "
			"rolling verifier, else 0.\n# TYPE jitgate_audit_verifier_sweeping gauge\n"
			"jitgate_audit_verifier_sweeping %d\n",
			st.sweep.leading ? 1 : 0);
		if (st.sweep.leading)
			fprintf(
			    f,
			    "# HELP jitgate_audit_verifier_position Entries re-verified in the "
			    "sweep under way.\n# TYPE jitgate_audit_verifier_position gauge\n"
			    "jitgate_audit_verifier_position %" PRIu64 "\n"
			    "# HELP jitgate_audit_verifier_sweeps_total Whole sweeps of the log "
			    "ended since start.\n"
			    "# TYPE jitgate_audit_verifier_sweeps_total counter\n"
			    "jitgate_audit_verifier_sweeps_total %" PRIu64 "\n",
			    st.sweep.position, st.sweep.sweeps);
		if (st.sweep.leading && st.sweep.window_seconds > 0)
			fprintf(
			    f,
			    "# HELP jitgate_audit_verifier_entries_per_second Entries the "
			    "rolling verifier re-verifies per second at audit.verify_budget.\n"
			    "# TYPE jitgate_audit_verifier_entries_per_second gauge\n"
			    "jitgate_audit_verifier_entries_per_second %.1f\n"
			    "# HELP jitgate_audit_verifier_cpu_share The sweeping thread's CPU "
			    "time over its sweep's wall time (0-1).\n"
			    "# TYPE jitgate_audit_verifier_cpu_share gauge\n"
			    "jitgate_audit_verifier_cpu_share %.4f\n"
			    "# HELP jitgate_audit_detection_window_seconds A whole sweep of the "
			    "log at that rate: an edit of an old entry is found within it.\n"
			    "# TYPE jitgate_audit_detection_window_seconds gauge\n"
			    "jitgate_audit_detection_window_seconds %.3f\n",
			    st.sweep.rate, st.sweep.cpu_share, st.sweep.window_seconds);
	}
	int failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(out);
		return NULL;
	}
	return out;
}

static void
handle_metrics(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	char *http = jg_server_metrics_text(req->server);
	char *limits = jg_throttle_metrics_text(app->throttle);
	char *notify = jg_notify_metrics(app->notify),
	     *stream = jg_audit_stream_metrics(app->stream);
	char *replica = replica_metrics(app);
	char *text = NULL;
	/* memory the process uses, apart: heap in use (all malloc arenas) and the database's share
	 */
	struct mallinfo2 mi = mallinfo2();

	/* rate limits, notifications, the audit stream and this replica follow the HTTP series */
	if (http && limits && notify && stream && replica &&
	    asprintf(
		&text,
		"%s%s%s%s%s# HELP jitgate_heap_inuse_bytes Heap bytes allocated and not freed (all "
		"arenas).\n# TYPE jitgate_heap_inuse_bytes gauge\njitgate_heap_inuse_bytes %zu\n"
		"# HELP jitgate_sqlite_memory_bytes Bytes SQLite holds (page caches, "
		"statements).\n# TYPE jitgate_sqlite_memory_bytes gauge\n"
		"jitgate_sqlite_memory_bytes %lld\n",
		http, limits, notify, stream, replica, mi.uordblks + mi.hblkhd,
		(long long)jg_store_memory_used()) < 0)
		text = NULL;
	free(http);
	free(limits);
	free(notify);
	free(stream);
	free(replica);
	if (text == NULL) {
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return;
	}
	jg_http_reply_text(reply, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

static const struct jg_route routes[] = {
    {"GET", "/healthz", handle_healthz, NULL, JG_ROUTE_INLINE},
    {"GET", "/readyz", handle_readyz, NULL, 0},
    {"GET", "/metrics", handle_metrics, NULL, 0},
};
const struct jg_route_table jg_api_system_routes = {routes, sizeof(routes) / sizeof(routes[0])};
