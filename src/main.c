/*
 * main.c - the jitgate command: parse the command line and dispatch.
 *
 * Exit codes (docs/operations.md):
 *   0  success
 *   1  runtime failure (could not listen, store failed while running, ...)
 *   2  usage error (unknown command or option)
 *   3  invalid configuration
 *   4  store or migration problem at start (cannot open, schema not current)
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/migrate.h"
#include "jitgate/version.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3
#define EXIT_STORE 4

static const char usage_text[] =
    "usage: jitgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve   [-c FILE] [--check-config]   run the HTTPS broker\n"
    "  migrate [-c FILE]                    apply pending database migrations\n"
    "  version                              print the version\n"
    "  help                                 show this text\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file (default: jitgate.yaml)\n"
    "  --check-config      validate the configuration and exit\n"
    "  -h, --help          show this text\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 invalid configuration,\n"
    "            4 store or migration problem\n";

static int
usage(FILE *to, int code)
{
	fputs(usage_text, to);
	return code;
}

struct opts {
	const char *config;
	int check_config;
};

/* Parses the options after the command.  Returns 0, or an exit code. */
static int
parse_opts(int argc, char **argv, struct opts *o, int allow_check)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	o->config = "jitgate.yaml";
	o->check_config = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'k':
			if (!allow_check)
				return usage(stderr, EXIT_USAGE);
			o->check_config = 1;
			break;
		case 'h': usage(stdout, 0); exit(0);
		default: return usage(stderr, EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "jitgate: unexpected argument '%s'\n", argv[optind]);
		return usage(stderr, EXIT_USAGE);
	}
	return 0;
}

static int
load_config(const char *path, struct jg_config **cfg)
{
	char err[1024];
	if (jg_config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: configuration refused: %s\n", err);
		return EXIT_CONFIG;
	}
	jg_log_set_level((*cfg)->log_level);
	return 0;
}

static int
cmd_migrate(int argc, char **argv)
{
	struct opts o;
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	char err[1024];
	int applied = 0, rc;

	if ((rc = parse_opts(argc, argv, &o, 0)) != 0)
		return rc;
	if ((rc = load_config(o.config, &cfg)) != 0)
		return rc;
	rc = EXIT_STORE;
	if (jg_store_open(cfg->database_path, &store, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: cannot open the store: %s\n", err);
		goto out;
	}
	if (jg_migrate_apply(store, cfg->migrations_dir, &applied, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: migration failed: %s\n", err);
		goto out;
	}
	printf("applied %d migration(s); schema is current\n", applied);
	rc = 0;
out:
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

static int
cmd_serve(int argc, char **argv)
{
	struct opts o;
	struct jg_app app = {0};
	char err[1024];
	sigset_t sigs;
	int pending = 0, rc;

	if ((rc = parse_opts(argc, argv, &o, 1)) != 0)
		return rc;
	if ((rc = load_config(o.config, &app.cfg)) != 0)
		return rc;
	if (o.check_config) {
		printf("%s: configuration is valid\n", o.config);
		jg_config_free(app.cfg);
		return 0;
	}

	/* Signals are taken by sigwait() below, never by a handler thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = EXIT_STORE;
	if (jg_store_open(app.cfg->database_path, &app.store, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "cannot open the store: %s", err);
		goto out;
	}
	if (jg_migrate_status(app.store, app.cfg->migrations_dir, &pending, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "schema check failed: %s", err);
		goto out;
	}
	if (pending > 0) {
		jg_logf(JG_LOG_ERROR,
			"%d migration(s) pending: run 'jitgate migrate -c %s' first", pending,
			o.config);
		goto out;
	}
	rc = EXIT_RUNTIME;
	app.router = jg_router_new();
	if (app.router == NULL || jg_api_system_register(app.router) != 0)
		goto out;
	if (jg_server_new(app.cfg, app.router, &app, &app.server, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "cannot set up TLS: %s", err);
		rc = EXIT_CONFIG;
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
	jg_log(JG_LOG_INFO, "jitgate stopped", NULL);
	rc = left > 0 ? EXIT_RUNTIME : 0;
out:
	jg_server_free(app.server);
	jg_router_free(app.router);
	jg_store_close(app.store);
	jg_config_free(app.cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("jitgate %s\n", JG_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return usage(stdout, 0);
	fprintf(stderr, "jitgate: unknown command '%s'\n", cmd);
	return usage(stderr, EXIT_USAGE);
}
