/*
 * cli.c - usage text, shared start-up steps, and `jitgate migrate`.
 */
#include <getopt.h>
#include <stdbool.h>
#include <pwd.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/cli.h"
#include "jitgate/log.h"
#include "jitgate/migrate.h"
#include "jitgate/telemetry.h"

static const char usage_text[] =
    "usage: jitgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve   [-c FILE] [--check-config]      run the HTTPS broker\n"
    "  migrate [-c FILE]                       apply pending database migrations\n"
    "  keys generate|rotate|list|public [-c FILE] [--kind KIND]\n"
    "                                          manage signing and secret keys (pii, cursor, ...)\n"
    "  audit export [-c FILE] [--from N] [--to N] [-o FILE]\n"
    "                                          export the audit log (JSON Lines)\n"
    "  audit verify FILE --key KEY [--key KEY] [--checkpoint OLD]\n"
    "               [--witness KEY ...] [--min-witnesses K]\n"
    "                                          verify an export offline\n"
    "  audit verify ARCHIVE_DIR --key KEY [--key KEY]\n"
    "  audit receipt FILE|ARCHIVE_DIR GRANT_ID --key KEY [--key KEY]\n"
    "                                          verify an audit.archive_dir offline\n"
    "  audit checkpoint [-c FILE]              sign a checkpoint now\n"
    "  audit check [-c FILE] [--against-sink DIR | --checkpoint NOTE]\n"
    "                                          verify the log in the store (and that it\n"
    "                                          holds the newest off-host checkpoint)\n"
    "  audit hash --url URL [--token-file F] [--ca-file F] [--kind K] [--stdin | VALUE]\n"
    "                                          an auditor's markers for a known value\n"
    "  report access --url URL [--token-file F] [--ca-file F] | --file EXPORT --key KEY\n"
    "        [--from N] [--to N] [--service S] [--format text|json|csv]\n"
    "                                          the access review of a period (default 90 days)\n"
    "  policy check DIR                        validate the policies of DIR\n"
    "  policy test DIR                         run the *.test.yaml cases beside them\n"
    "  login --issuer URL --client-id ID [--audience URL] [-o FILE]\n"
    "                                          get an access token (device flow)\n"
    "  token inspect TOKEN                     explain a capability token\n"
    "  service add NAME --owners GROUP[,GROUP] [-c FILE]\n"
    "  service list|remove [NAME] [-c FILE]    the service catalog\n"
    "  ingest-key create|rotate|revoke SERVICE [-c FILE]\n"
    "                                          agents' keys (printed once)\n"
    "  backup FILE [-c FILE]                   online copy of the database (new file, 0600)\n"
    "  restore FILE [-c FILE] [--checkpoint NOTE]\n"
    "                                          verify a backup, then replace the stopped database\n"
    "  store copy [-c FILE] --from URL --to URL [--from-password-file F] [--to-password-file F]\n"
    "                                          copy every table into an empty, migrated database\n"
    "  witness keygen --name NAME -o FILE      make a witness's cosigner key\n"
    "  witness serve [-c FILE]                 run a tlog witness (default: witness.yaml)\n"
    "  demo seed [-c FILE]                     store demo telemetry for payment-service\n"
    "  version                                 print the version\n"
    "  help                                    show this text\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file (default: jitgate.yaml)\n"
    "  -h, --help          show this text\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure (audit verify: not valid), 2 usage error,\n"
    "            3 invalid configuration, 4 store or migration problem,\n"
    "            5 the audit log in the store does not verify (audit receipt: the file\n"
    "            does not verify); audit receipt: 1 the receipt differs from its\n"
    "            entries, 6 no receipt of the grant (or the entries start too late)\n";

int
jg_cli_puts(FILE *to, const char *text, int code)
{
	if (fputs(text, to) == EOF && code == JG_EXIT_OK)
		return JG_EXIT_RUNTIME;
	return code;
}

int
jg_cli_usage(FILE *to, int code)
{
	return jg_cli_puts(to, usage_text, code);
}

int
jg_cli_load_config(const char *path, struct jg_config **cfg)
{
	char err[1024];
	if (jg_config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: configuration refused: %s\n", err);
		return JG_EXIT_CONFIG;
	}
	jg_log_set_level((*cfg)->log_level);
	if ((*cfg)->warning != NULL) {
		json_t *f = json_pack("{s:s}", "file", (*cfg)->file);
		jg_log(JG_LOG_WARN, (*cfg)->warning, f);
		json_decref(f);
	}
	return 0;
}

/* The serving store (or the owner's, for migrate), with its password file. */
static int
open_store(const struct jg_config *cfg, bool owner, struct jg_store **store, char *err,
	   size_t errlen)
{
	struct jg_store_options opts = {
	    .password_file =
		owner ? cfg->database_owner_password_file : cfg->database_password_file,
	};
	return jg_store_open_opts(owner ? cfg->database_owner_store : cfg->database_store, &opts,
				  store, err, errlen);
}

int
jg_cli_sqlite_only(const struct jg_config *cfg, const char *command)
{
	if (cfg->database_path != NULL)
		return 0;
	fprintf(stderr,
		"jitgate %s: the database is PostgreSQL: %s copies SQLite files only; back up "
		"PostgreSQL with its own tools (pg_basebackup or pg_dump), then check the "
		"restored copy with 'jitgate audit check' (docs/operations.md, Backup and "
		"restore)\n",
		command, command);
	return JG_EXIT_USAGE;
}

int
jg_cli_open_store(const struct jg_config *cfg, struct jg_store **store)
{
	char err[1024];
	int pending = 0;

	if (open_store(cfg, false, store, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: cannot open the store: %s\n", err);
		return JG_EXIT_STORE;
	}
	if (jg_migrate_status(*store, cfg->migrations_dir, &pending, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: schema check failed: %s\n", err);
		goto fail;
	}
	if (pending > 0) {
		fprintf(stderr,
			"jitgate: %d migration(s) pending: run 'jitgate migrate -c %s' first\n",
			pending, cfg->file);
		goto fail;
	}
	return 0;
fail:
	jg_store_close(*store);
	*store = NULL;
	return JG_EXIT_STORE;
}

struct jg_audit_config
jg_cli_audit_config(const struct jg_config *cfg)
{
	return (struct jg_audit_config){
	    .origin = cfg->audit_origin,
	    .checkpoint_entries = (uint64_t)cfg->audit_checkpoint_entries,
	    .checkpoint_seconds = (int)cfg->audit_checkpoint_seconds,
	    .sink_dir = cfg->audit_sink_dir,
	    .sink_url = cfg->audit_sink_url,
	    .sink_ca_file = cfg->audit_sink_ca_file,
	    .archive_dir = cfg->audit_archive_dir,
	    .verify_threads = (int)cfg->audit_verify_threads,
	    .verify_budget = (int)cfg->audit_verify_budget,
	    .witnesses = cfg->audit_witnesses,
	    .n_witnesses = cfg->audit_nwitnesses,
	    .witnesses_min = (int)cfg->audit_witnesses_min,
	};
}

int
jg_cli_open_audit(const char *config, const char *who, struct jg_config **cfg,
		  struct jg_store **store, struct jg_audit **audit)
{
	char err[1024];
	int rc;

	if ((rc = jg_cli_load_config(config, cfg)) != 0)
		return rc;
	if ((rc = jg_cli_open_store(*cfg, store)) != 0)
		return rc;
	if (audit == NULL)
		return 0;
	struct jg_audit_config acfg = jg_cli_audit_config(*cfg);
	if (jg_audit_open(*store, (*cfg)->key_dir, &acfg, audit, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate %s: %s\n", who, err);
		return JG_EXIT_CONFIG;
	}
	if (jg_audit_start(*audit) != 0) {
		fprintf(stderr, "jitgate %s: cannot start the audit writer\n", who);
		return JG_EXIT_RUNTIME;
	}
	return 0;
}

void
jg_cli_operator_actor(char *out, size_t len)
{
	struct passwd *pw = getpwuid(getuid());
	snprintf(out, len, "operator:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
}

int
jg_cmd_migrate(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml";
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	char err[1024];
	int applied = 0, ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'h': return jg_cli_usage(stdout, JG_EXIT_OK);
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if ((rc = jg_cli_load_config(config, &cfg)) != 0)
		return rc;
	rc = JG_EXIT_STORE;
	/* as the schema's owner (database.owner_url): the serving role may create nothing */
	if (open_store(cfg, true, &store, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: cannot open the store: %s\n", err);
		goto out;
	}
	if (jg_migrate_apply(store, cfg->migrations_dir, &applied, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: migration failed: %s\n", err);
		goto out;
	}
	int tapplied = 0;
	if (jg_telemetry_migrate(cfg, &tapplied, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: telemetry migration failed: %s\n", err);
		goto out;
	}
	printf("applied %d migration(s); schema is current\n", applied);
	printf("telemetry database %s: applied %d migration(s); schema is current\n",
	       cfg->telemetry_store, tapplied);
	rc = JG_EXIT_OK;
out:
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}
