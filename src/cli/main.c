/*
 * main.c - the jitgate command: dispatch to a subcommand (see cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "jitgate/cli.h"
#include "version.h"

int
main(int argc, char **argv)
{
	if (argc < 2)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return jg_cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "migrate") == 0)
		return jg_cmd_migrate(argc - 1, argv + 1);
	if (strcmp(cmd, "keys") == 0)
		return jg_cmd_keys(argc - 1, argv + 1);
	if (strcmp(cmd, "audit") == 0)
		return jg_cmd_audit(argc - 1, argv + 1);
	if (strcmp(cmd, "policy") == 0)
		return jg_cmd_policy(argc - 1, argv + 1);
	if (strcmp(cmd, "login") == 0)
		return jg_cmd_login(argc - 1, argv + 1);
	if (strcmp(cmd, "token") == 0)
		return jg_cmd_token(argc - 1, argv + 1);
	if (strcmp(cmd, "service") == 0)
		return jg_cmd_service(argc - 1, argv + 1);
	if (strcmp(cmd, "ingest-key") == 0)
		return jg_cmd_ingest_key(argc - 1, argv + 1);
	if (strcmp(cmd, "backup") == 0)
		return jg_cmd_backup(argc - 1, argv + 1);
	if (strcmp(cmd, "restore") == 0)
		return jg_cmd_restore(argc - 1, argv + 1);
	if (strcmp(cmd, "store") == 0)
		return jg_cmd_store(argc - 1, argv + 1);
	if (strcmp(cmd, "demo") == 0)
		return jg_cmd_demo(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("jitgate %s\n", JG_VERSION);
		return JG_EXIT_OK;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return jg_cli_usage(stdout, JG_EXIT_OK);
	fprintf(stderr, "jitgate: unknown command '%s'\n", cmd);
	return jg_cli_usage(stderr, JG_EXIT_USAGE);
}
