/*
 * main.c - the jitgate command: dispatch to a subcommand (see cli.h).
 *
 * What a command prints on stdout is buffered, so a write that fails (a full
 * disk, a closed pipe) may only show when the buffer is flushed.  main()
 * flushes stdout itself once the command returns and reads its error flag:
 * a command whose output did not arrive exits non-zero and says so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jitgate/cli.h"
#include "version.h"

static int
dispatch(int argc, char **argv)
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
	if (strcmp(cmd, "report") == 0)
		return jg_cmd_report(argc - 1, argv + 1);
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
	if (strcmp(cmd, "witness") == 0)
		return jg_cmd_witness(argc - 1, argv + 1);
	if (strcmp(cmd, "demo") == 0)
		return jg_cmd_demo(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return printf("jitgate %s\n", JG_VERSION) < 0 ? JG_EXIT_RUNTIME : JG_EXIT_OK;
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return jg_cli_usage(stdout, JG_EXIT_OK);
	fprintf(stderr, "jitgate: unknown command '%s'\n", cmd);
	return jg_cli_usage(stderr, JG_EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	int rc = dispatch(argc, argv);

	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "jitgate: the output could not be written%s%s\n", errno ? ": " : "",
			errno ? strerror(errno) : "");
		if (rc == JG_EXIT_OK)
			rc = JG_EXIT_RUNTIME;
	}
	return rc;
}
