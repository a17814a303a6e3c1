/*
 * serve.c - `jitgate serve`: start-up checks, the server, shutdown.
 *
 * Order matters and each step fails closed: configuration (exit 3), store
 * and schema (exit 4), signing keys (exit 3), the audit log verified
 * against its signed checkpoints (exit 5, naming the first bad entry) - all
 * before the port opens.  The log is verified from its stored verified
 * state when there is one (audit_state.h: only the entries after it, so
 * start does not grow with history), otherwise entirely.  Then the audit writer starts, the server
 * listens, and the main thread waits for signals.  On SIGTERM the server stops taking connections
 * and drains, then the audit writer drains.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jitgate/access.h"
#include "jitgate/app.h"
#include "jitgate/web.h"
#include "jitgate/cli.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/audit_state.h"
#include "jitgate/audit_stream.h"
#include "jitgate/notify.h"
#include "jitgate/fileio.h"
#include "jitgate/log.h"
#include "jitgate/pii.h"
#include "jitgate/session_grant.h"
#include "jitgate/probe_status.h"
#include "jitgate/probes.h"
#include "jitgate/session.h"
#include "jitgate/telemetry.h"
#include "jitgate/thread.h"
#include "jitgate/token_cache.h"
#include "version.h"

static int
verify_audit_log(struct jg_app *app, struct jg_chain *chain)
{
	struct jg_audit_verifiers vs;
	struct jg_chain_fault fault;
	char err[512];
	int rc;

	if (jg_audit_verifiers_load(app->cfg->key_dir, app->cfg->audit_origin, &vs, err,
				    sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "checkpoint keys: %s", err);
		return JG_EXIT_CONFIG;
	}
	struct jg_audit_start_report rep;
	err[0] = '\0';
	rc = jg_audit_state_verify_start(app->store, &vs, app->cfg->key_dir, app->cfg->audit_origin,
					 (int)app->cfg->audit_verify_threads, chain, &rep, &fault,
					 err, sizeof(err));
	if (rc != 0 && rc != JG_EVERIFY && err[0] != '\0') {
		jg_logf(JG_LOG_ERROR, "audit-state key: %s", err);
		return JG_EXIT_CONFIG;
	}
	if (rc != 0) {
		json_t *f =
		    json_pack("{s:s}", "why", rc == JG_EVERIFY ? fault.why : jg_strerror(rc));
		if (rc == JG_EVERIFY && fault.seq != UINT64_MAX)
			json_object_set_new(f, "first_bad_seq",
					    json_integer((json_int_t)fault.seq));
		jg_log(JG_LOG_ERROR,
		       "the audit log does not verify: refusing to start; investigate, restore "
		       "from backup or compare with the off-host checkpoints",
		       f);
		json_decref(f);
		return JG_EXIT_AUDIT;
	}
	if (rep.how == JG_AUDIT_START_FULL_NO_KEY)
		jg_log(JG_LOG_WARN,
		       "no audit-state key in key_dir: the whole audit log is verified at every "
		       "start and a fault found while running is not kept across a restart; add "
		       "one with 'jitgate keys generate --kind audit-state'",
		       NULL);
	json_t *f = json_pack("{s:I,s:s}", "entries", (json_int_t)rep.size, "from",
			      rep.how == JG_AUDIT_START_TAIL ? "verified state" : "whole log");
	if (rep.how == JG_AUDIT_START_TAIL) {
		json_object_set_new(f, "state_size", json_integer((json_int_t)rep.from));
		json_object_set_new(f, "tail_verified", json_integer((json_int_t)rep.tail));
	} else if (rep.how == JG_AUDIT_START_FULL) {
		json_object_set_new(f, "state_written", json_boolean(rep.state_kept));
	}
	jg_log(JG_LOG_INFO, "audit log verified", f);
	json_decref(f);
	return 0;
}

/*
 * jitgate's time never goes back past the newest audit entry (clock.h), so
 * a restart while the wall clock is behind does not give grants their time
 * again.  The log was verified just before, so its bytes are trusted.
 */
static void
seed_clock(struct jg_app *app)
{
	int64_t ts;

	if (jg_audit_last_ts_ms(app->store, &ts) != 0)
		return; /* an empty log (or none readable): nothing to continue from */
	int64_t behind = ts - jg_clock_now_ms();
	if (behind > 0) {
		json_t *f = json_pack("{s:I}", "behind_ms", (json_int_t)behind);
		jg_log(JG_LOG_WARN,
		       "the wall clock is behind the newest audit entry: jitgate's time continues "
		       "from "
		       "that entry until the wall clock catches up",
		       f);
		json_decref(f);
		jg_clock_floor_ms(ts);
	}
}

/* Appends one entry on its own; failures are logged (the caller decides if they matter). */
static int
audit_event(struct jg_app *app, const char *type, json_t *data)
{
	int rc = jg_audit_append(app->audit, type, "system", data, NULL);
	json_decref(data);
	if (rc != 0)
		jg_logf(JG_LOG_ERROR, "audit: cannot record %s", type);
	return rc;
}

/*
 * Adds every route, the API's tables then the pages' (api_routes.c,
 * web_routes.c), to router.  A refused route (a duplicate, a malformed
 * pattern) is a programming error: it is logged and start-up stops.
 */
static int
add_table(struct jg_router *router, const struct jg_route_table *t)
{
	for (size_t j = 0; j < t->n; j++) {
		const struct jg_route *route = &t->routes[j];
		int rc = jg_router_add(router, route);
		if (rc != 0) {
			jg_logf(JG_LOG_ERROR, "route %s %s: %s", route->method, route->pattern,
				jg_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/*
 * The tiles' routes (api_tiles.c) sit under the path of audit.origin, so
 * they are known only now.  A path no URL can name, or one another route
 * already answers (an origin "host/v1/audit" would shadow GET
 * /v1/audit/checkpoint), leaves the tiles off with a warning: the rest of
 * jitgate does not depend on them.
 */
static int
add_tile_routes(struct jg_router *router, const char *origin)
{
	struct jg_route_table tiles;
	struct jg_route_match m;
	char why[512];

	if (jg_api_tiles_routes(origin, &tiles, why, sizeof(why)) != 0) {
		jg_logf(JG_LOG_WARN, "audit tiles not served: %s", why);
		return 0;
	}
	for (size_t j = 0; j < tiles.n; j++) {
		char path[320];
		snprintf(path, sizeof(path), "%s", tiles.routes[j].pattern);
		char *rest = strstr(path, "{tile...}");
		if (rest != NULL)
			memcpy(rest, "0/000", 6);
		if (jg_router_match(router, "GET", path, &m) == JG_ROUTE_FOUND) {
			jg_logf(JG_LOG_WARN,
				"audit tiles not served: GET %s is already a route of jitgate; "
				"choose another path in audit.origin",
				path);
			return 0;
		}
	}
	return add_table(router, &tiles);
}

static int
add_routes(struct jg_router *router, const char *origin)
{
	static const struct jg_route_table *const *const lists[] = {jg_api_route_tables,
								    jg_web_route_tables};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		for (const struct jg_route_table *const *t = lists[i]; *t != NULL; t++) {
			int rc = add_table(router, *t);
			if (rc != 0)
				return rc;
		}
	return add_tile_routes(router, origin);
}

static int
load_policies(struct jg_app *app, struct jg_policy_set **out)
{
	char err[4096];
	int rc = jg_policy_set_load(app->cfg->policy_dir, app->cfg->requests_incident_pattern, out,
				    err, sizeof(err));
	if (rc != 0) {
		json_t *f =
		    json_pack("{s:s,s:s}", "policy_dir", app->cfg->policy_dir, "errors", err);
		jg_log(JG_LOG_ERROR, "policies refused", f);
		json_decref(f);
	}
	return rc;
}

/* SIGHUP: a broken set is refused and the one in force stays (logged, audited). */
static void
reload_policies(struct jg_app *app)
{
	struct jg_policy_set *fresh = NULL, *old;
	if (load_policies(app, &fresh) != 0) {
		pthread_rwlock_rdlock(&app->policy_lock);
		json_t *d =
		    json_pack("{s:s,s:s}", "kept_sha256", jg_policy_set_sha256(app->policies),
			      "reason", "the policy files do not load; see the server log");
		pthread_rwlock_unlock(&app->policy_lock);
		(void)audit_event(app, "policy.reload_refused", d);
		return;
	}
	pthread_rwlock_wrlock(&app->policy_lock);
	old = app->policies;
	app->policies = fresh;
	pthread_rwlock_unlock(&app->policy_lock);
	json_t *d = json_pack("{s:s,s:s,s:I}", "previous_sha256", jg_policy_set_sha256(old),
			      "sha256", jg_policy_set_sha256(fresh), "policies",
			      (json_int_t)jg_policy_set_size(fresh));
	(void)audit_event(app, "policy.reloaded", d);
	jg_log(JG_LOG_INFO, "policies reloaded", NULL);
	jg_policy_set_free(old);
}

/*
 * Ends grants and pending requests on time, without anyone calling anything,
 * and queues the notifications that time alone makes due (access_due.c).
 * It also hands freed heap back to the system every TRIM_SECONDS: every
 * connection thread allocates in one of glibc's per-thread arenas, which keep
 * what is freed, so after bursts (a full re-verification, an export, many
 * connections) the RSS would stay at its high-water mark (docs/reliability.md).
 *
 * Several replicas: ending what is due runs on every one of them - it is an
 * audited batch under the chain head's lock that reads the due rows after
 * taking it, so the first replica ends a grant and the others find nothing
 * left (one grant.expired per grant), and grants end on time even while the
 * lead changes hands.  The rest runs on the replica that leads "sweeper"
 * (jg_store_leader): the due notifications (each is marked once in
 * notify_marks, so two replicas that both believe they lead for a moment
 * still queue it once), and the deletion of ended sessions and old probe
 * events (idempotent, but pointless three times over).
 */
#define TRIM_SECONDS 10
struct sweeper {
	struct jg_app *app;
	struct jg_thread *thread; /* NULL when not running */
	struct jg_store_leader *leader;
	unsigned rounds;
	int64_t last_events_sweep; /* Unix seconds */
	int64_t last_status_sweep; /* Unix seconds */
};

/*
 * Rows past their time: captured probe events past their retention, ended
 * sessions and stale login flows.  At most every minute (sooner for a short
 * event retention).
 */
static void
sweep_probe_events(struct sweeper *sw, int64_t now)
{
	int64_t keep = sw->app->cfg->probes_event_retention, every = keep / 2, deleted;

	if (every > 60)
		every = 60;
	if (now - sw->last_events_sweep < every)
		return;
	sw->last_events_sweep = now;
	if (jg_session_sweep(sw->app->store, now, sw->app->cfg->auth_session_idle, &deleted) != 0)
		jg_log(JG_LOG_WARN, "sweeper: cannot delete ended sessions now; will retry", NULL);
	if (jg_probe_events_sweep(sw->app->store, now - keep, &deleted) != 0) {
		jg_log(JG_LOG_WARN, "sweeper: cannot delete expired probe events now; will retry",
		       NULL);
	} else if (deleted > 0) {
		json_t *f = json_pack("{s:I}", "deleted", (json_int_t)deleted);
		jg_log(JG_LOG_INFO, "sweeper: deleted probe events past their retention", f);
		json_decref(f);
	}
}

/*
 * The status rows of agent instances that missed three polls: they no
 * longer count (probe_status.h).  As often as an instance's report goes
 * stale (3 x probes.agent_poll_seconds), at most every minute.
 */
static void
sweep_probe_status(struct sweeper *sw, int64_t now)
{
	int64_t stale = 3 * sw->app->cfg->probes_agent_poll, deleted;

	if (now - sw->last_status_sweep < (stale < 60 ? stale : 60))
		return;
	sw->last_status_sweep = now;
	if (jg_probe_status_sweep(sw->app->store, now - stale, &deleted) != 0)
		jg_log(JG_LOG_WARN, "sweeper: cannot delete stale probe status now; will retry",
		       NULL);
}

/* One round, every second (thread.h: a step of the wall clock never stalls it). */
static int64_t
sweeper_tick(void *arg)
{
	struct sweeper *sw = arg;
	struct jg_access_ctx ctx = {.store = sw->app->store,
				    .audit = sw->app->audit,
				    .pii = sw->app->pii_keys,
				    .notify = sw->app->notify,
				    .policies = jg_app_policies_acquire(sw->app),
				    .pending_ttl = sw->app->cfg->requests_pending_expiry,
				    .refusals_recorded = sw->app->cfg->requests_refusals_recorded,
				    .refusals_window = sw->app->cfg->requests_refusals_window,
				    .now = jg_clock_now()};
	int ended = 0;
	bool lead = false;
	if (jg_access_sweep(&ctx, &ended) != 0)
		jg_log(JG_LOG_WARN, "sweeper: cannot end or start due grants now; will retry",
		       NULL);
	(void)jg_store_leader_poll(sw->leader, &lead);
	/* reminders, escalations, expiry warnings, overdue reviews (a no-op without sinks) */
	if (lead && jg_access_notify_due(&ctx, sw->app->cfg->notify_expiry_warning,
					 sw->app->cfg->notify_review_overdue) != 0)
		jg_log(JG_LOG_WARN, "notify: reminders could not be queued now; will retry", NULL);
	/* access reviews due, once per service and reports.review_period */
	if (lead && jg_access_notify_reviews_due(&ctx, sw->app->cfg->reports_review_period) != 0)
		jg_log(JG_LOG_WARN, "notify: review notices could not be queued now; will retry",
		       NULL);
	jg_app_policies_release(sw->app);
	if (lead) {
		sweep_probe_events(sw, ctx.now);
		sweep_probe_status(sw, ctx.now);
	}
	if (++sw->rounds % TRIM_SECONDS == 0)
		(void)malloc_trim(0);
	return 1000;
}

int
jg_cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml";
	int check_only = 0, ch, rc;
	struct jg_app app = {0};
	struct sweeper sw = {0};
	struct jg_telemetry_sweeper *tsw = NULL;
	char err[1024];
	sigset_t sigs;

	/*
	 * A few malloc arenas, not glibc's 8 per CPU: with 32 workers, an event
	 * loop and the background threads, each arena kept what its bursts had
	 * freed and the soak's RSS grew past its limit (docs/reliability.md).
	 */
	(void)mallopt(M_ARENA_MAX, 4);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'k': check_only = 1; break;
		case 'h': return jg_cli_usage(stdout, JG_EXIT_OK);
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "jitgate: unexpected argument '%s'\n", argv[optind]);
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	}
	if ((rc = jg_cli_load_config(config, &app.cfg)) != 0)
		return rc;
	if (check_only) {
		printf("%s: configuration is valid\n", config);
		jg_config_free(app.cfg);
		return JG_EXIT_OK;
	}

	/* Signals are taken by sigwait() below, never by a handler thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* a file-size limit fails the write (503), not the process; so does a closed peer */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
		jg_logf(JG_LOG_ERROR, "start-up: cannot ignore SIGPIPE and SIGXFSZ: %s",
			strerror(errno));
		jg_config_free(app.cfg);
		return JG_EXIT_RUNTIME;
	}
	/* before the first goto out: the teardown there destroys it */
	pthread_rwlock_init(&app.policy_lock, NULL);

	if ((rc = jg_cli_open_store(app.cfg, &app.store)) != 0)
		goto out;
	/* a database that cannot be written at all is a setup error: say so now, not with 503s */
	if (jg_store_writable(app.store, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "database: %s", err);
		rc = JG_EXIT_STORE;
		goto out;
	}
	if (jg_telemetry_open(app.cfg, &app.telemetry, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: telemetry database: %s: run 'jitgate migrate -c %s'\n",
			err, app.cfg->file);
		rc = JG_EXIT_STORE;
		goto out;
	}
	if (load_policies(&app, &app.policies) != 0) {
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	if (jg_token_keys_load(app.cfg->key_dir, &app.token_keys, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "token keys: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	/* like the signing keys: no key, no start (docs/operations.md, "Keys") */
	if (jg_pii_keys_load(app.cfg->key_dir, &app.pii_keys, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "pii keys: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	/* the same for the key that seals paging cursors: one key for every replica */
	if (jg_cursor_keys_load(app.cfg->key_dir, &app.cursor_keys, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "cursor keys: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	/*
	 * The key of the tokens the debugging pages keep per session: without one
	 * jitgate serves everything else and those pages answer 503 saying how to
	 * add it (a deployment from before them); a key that is there but cannot be
	 * used stops the start, as for the other keys.
	 */
	int sgk =
	    jg_session_grant_keys_load(app.cfg->key_dir, &app.session_grant_keys, err, sizeof(err));
	if (sgk == JG_ENOTFOUND) {
		jg_logf(JG_LOG_WARN,
			"no session-token key in key_dir: the debugging pages are unavailable "
			"until one is added with 'jitgate keys generate --kind session-token' "
			"(%s)",
			err);
	} else if (sgk != 0) {
		jg_logf(JG_LOG_ERROR, "session-token keys: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	if ((app.token_cache = jg_token_cache_new()) == NULL) {
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	app.token_lifetime = app.cfg->tokens_lifetime;
	if ((app.throttle = jg_throttle_new(&app.cfg->limits)) == NULL) {
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	if (jg_oidc_new(app.cfg, &app.oidc, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "oidc: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	/* Not fatal: with the provider down, jitgate starts and keeps retrying. */
	(void)jg_oidc_refresh(app.oidc);
	struct jg_chain verified;
	if ((rc = verify_audit_log(&app, &verified)) != 0)
		goto out;
	seed_clock(&app);
	struct jg_audit_config acfg = jg_cli_audit_config(app.cfg);
	if (jg_audit_open(app.store, app.cfg->key_dir, &acfg, &app.audit, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "audit log: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	jg_audit_set_verified(app.audit, &verified);
	jg_app_wire(&app);
	if (jg_notify_new(app.store, app.audit, app.cfg, &app.notify, err, sizeof(err)) != 0 ||
	    jg_audit_stream_new(app.store, app.cfg, &app.stream, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "%s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	rc = JG_EXIT_RUNTIME;
	if (jg_audit_start(app.audit) != 0) {
		jg_log(JG_LOG_ERROR, "cannot start the audit writer", NULL);
		goto out;
	}
	if (jg_notify_start(app.notify) != 0 || jg_audit_stream_start(app.stream) != 0) {
		jg_log(JG_LOG_ERROR, "cannot start the notification and audit stream threads",
		       NULL);
		goto out;
	}
	app.router = jg_router_new();
	if (app.router == NULL || add_routes(app.router, app.cfg->audit_origin) != 0)
		goto out;
	if (jg_telemetry_sweeper_start(app.telemetry, app.cfg, &tsw) != 0)
		goto out;
	sw.app = &app;
	if (jg_store_leader_new(app.store, "sweeper", &sw.leader) != 0 ||
	    jg_thread_start(&sw.thread, "jg-sweeper", 1000, sweeper_tick, &sw) != 0)
		goto out;
	if (jg_server_new(app.cfg, app.router, &app, &app.server, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "cannot set up TLS: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	/* a guarded read waits a round trip on PostgreSQL: there, never on an event loop */
	jg_server_set_store_in_process(app.server, jg_store_engine(app.store) == JG_STORE_SQLITE);
	if (jg_server_start(app.server, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "%s", err);
		goto out;
	}
	json_t *f = json_pack("{s:s,s:s,s:s}", "listen_url", app.cfg->public_url, "version",
			      JG_VERSION, "database", app.cfg->database_store);
	jg_log(JG_LOG_INFO, "jitgate serving", f);
	json_decref(f);

	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			jg_log(JG_LOG_INFO, "SIGHUP received: reloading policies", NULL);
			reload_policies(&app);
			continue;
		}
		jg_logf(JG_LOG_INFO, "%s received: finishing in-flight requests (up to %llds)",
			sig == SIGTERM ? "SIGTERM" : "SIGINT",
			(long long)app.cfg->limits.shutdown_grace);
		break;
	}
	int left = jg_server_stop(app.server, (int)app.cfg->limits.shutdown_grace);
	jg_thread_stop(sw.thread);
	sw.thread = NULL;
	jg_notify_stop(app.notify);
	jg_audit_stream_stop(app.stream);
	jg_telemetry_sweeper_stop(tsw);
	tsw = NULL;
	if (left > 0)
		jg_logf(JG_LOG_WARN, "%d request(s) still running at the end of the grace period",
			left);
	jg_audit_stop(app.audit);
	jg_log(JG_LOG_INFO, "jitgate stopped", NULL);
	rc = left > 0 ? JG_EXIT_RUNTIME : JG_EXIT_OK;
out:
	jg_thread_stop(sw.thread);
	jg_store_leader_free(sw.leader);
	jg_notify_free(app.notify);
	jg_audit_stream_free(app.stream);
	jg_telemetry_sweeper_stop(tsw);
	jg_server_free(app.server);
	jg_audit_free(app.audit);
	jg_oidc_free(app.oidc);
	jg_policy_set_free(app.policies);
	jg_token_keys_free(app.token_keys);
	jg_pii_keys_free(app.pii_keys);
	jg_token_cache_free(app.token_cache);
	jg_throttle_free(app.throttle);
	jg_cursor_keys_free(app.cursor_keys);
	jg_session_grant_keys_free(app.session_grant_keys);
	pthread_rwlock_destroy(&app.policy_lock);
	jg_router_free(app.router);
	jg_store_close(app.store);
	jg_store_close(app.telemetry);
	jg_config_free(app.cfg);
	return rc;
}
