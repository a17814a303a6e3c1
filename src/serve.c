/*
 * serve.c - `jitgate serve`: start-up checks, the server, shutdown.
 *
 * Order matters and each step fails closed: configuration (exit 3), store
 * and schema (exit 4), signing keys (exit 3), the whole audit log verified
 * against its signed checkpoints (exit 5, naming the first bad entry) - all
 * before the port opens.  Then the audit writer starts, the server listens,
 * and the main thread waits for signals.  On SIGTERM the server stops
 * taking connections and drains, then the audit writer drains.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/log.h"
#include "jitgate/version.h"

static int
verify_audit_log(struct jg_app *app)
{
	struct jg_audit_verifiers vs;
	struct jg_chain_fault fault;
	char err[512];
	uint64_t size = 0;
	int rc;

	if (jg_audit_verifiers_load(app->cfg->key_dir, app->cfg->audit_origin, &vs, err,
				    sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "checkpoint keys: %s", err);
		return JG_EXIT_CONFIG;
	}
	rc = jg_audit_verify_store(app->store, &vs, (int)app->cfg->audit_verify_threads, &size,
				   &fault);
	if (rc != 0) {
		json_t *f = json_pack("{s:s}", "why", rc == JG_EVERIFY ? fault.why : jg_strerror(rc));
		if (fault.seq != UINT64_MAX)
			json_object_set_new(f, "first_bad_seq", json_integer((json_int_t)fault.seq));
		jg_log(JG_LOG_ERROR,
		       "the audit log does not verify: refusing to start; investigate, restore "
		       "from backup or compare with the off-host checkpoints",
		       f);
		json_decref(f);
		return JG_EXIT_AUDIT;
	}
	json_t *f = json_pack("{s:I}", "entries", (json_int_t)size);
	jg_log(JG_LOG_INFO, "audit log verified", f);
	json_decref(f);
	return 0;
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
	char err[1024];
	sigset_t sigs;

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
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit fails the write (503), not the process */

	if ((rc = jg_cli_open_store(app.cfg, &app.store)) != 0)
		goto out;
	if (jg_oidc_new(app.cfg, &app.oidc, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "oidc: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	/* Not fatal: with the provider down, jitgate starts and keeps retrying. */
	(void)jg_oidc_refresh(app.oidc);
	if ((rc = verify_audit_log(&app)) != 0)
		goto out;
	struct jg_audit_config acfg = {
	    .origin = app.cfg->audit_origin,
	    .checkpoint_entries = (uint64_t)app.cfg->audit_checkpoint_entries,
	    .checkpoint_seconds = (int)app.cfg->audit_checkpoint_seconds,
	    .sink_dir = app.cfg->audit_sink_dir,
	    .sink_url = app.cfg->audit_sink_url,
	    .sink_ca_file = app.cfg->audit_sink_ca_file,
	    .verify_threads = (int)app.cfg->audit_verify_threads,
	};
	if (jg_audit_open(app.store, app.cfg->key_dir, &acfg, &app.audit, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "audit log: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	rc = JG_EXIT_RUNTIME;
	if (jg_audit_start(app.audit) != 0) {
		jg_log(JG_LOG_ERROR, "cannot start the audit writer", NULL);
		goto out;
	}
	app.router = jg_router_new();
	if (app.router == NULL || jg_api_system_register(app.router) != 0 ||
	    jg_api_auth_register(app.router) != 0 || jg_api_audit_register(app.router) != 0)
		goto out;
	if (jg_server_new(app.cfg, app.router, &app, &app.server, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "cannot set up TLS: %s", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	if (jg_server_start(app.server, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "%s", err);
		goto out;
	}
	json_t *f = json_pack("{s:s,s:s,s:s}", "listen_url", app.cfg->public_url, "version",
			      JG_VERSION, "database", app.cfg->database_path);
	jg_log(JG_LOG_INFO, "jitgate serving", f);
	json_decref(f);

	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			jg_log(JG_LOG_INFO, "SIGHUP received: nothing to reload yet", NULL);
			continue;
		}
		jg_logf(JG_LOG_INFO, "%s received: finishing in-flight requests (up to %llds)",
			sig == SIGTERM ? "SIGTERM" : "SIGINT",
			(long long)app.cfg->limits.shutdown_grace);
		break;
	}
	int left = jg_server_stop(app.server, (int)app.cfg->limits.shutdown_grace);
	if (left > 0)
		jg_logf(JG_LOG_WARN, "%d request(s) still running at the end of the grace period",
			left);
	jg_audit_stop(app.audit);
	jg_log(JG_LOG_INFO, "jitgate stopped", NULL);
	rc = left > 0 ? JG_EXIT_RUNTIME : JG_EXIT_OK;
out:
	jg_server_free(app.server);
	jg_audit_free(app.audit);
	jg_oidc_free(app.oidc);
	jg_router_free(app.router);
	jg_store_close(app.store);
	jg_config_free(app.cfg);
	return rc;
}
