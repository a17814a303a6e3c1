/*
 * cli.h - the subcommands of the jitgate binary and what they share.
 *
 * Each subcommand takes (argc, argv) with argv[0] its own name and returns
 * the process exit code (below; documented in docs/operations.md).
 */
#ifndef JITGATE_CLI_H
#define JITGATE_CLI_H

#include <stdio.h>

#include "jitgate/audit.h"
#include "jitgate/config.h"
#include "jitgate/store.h"

#define JG_EXIT_OK	0
#define JG_EXIT_RUNTIME 1 /* also: `audit verify` found the log invalid */
#define JG_EXIT_USAGE	2
#define JG_EXIT_CONFIG	3
#define JG_EXIT_STORE	4
#define JG_EXIT_AUDIT	5 /* the audit log in the store does not verify */

int jg_cmd_serve(int argc, char **argv);
int jg_cmd_migrate(int argc, char **argv);
int jg_cmd_keys(int argc, char **argv);
int jg_cmd_audit(int argc, char **argv);
int jg_cmd_policy(int argc, char **argv);
int jg_cmd_login(int argc, char **argv);
int jg_cmd_token(int argc, char **argv);
int jg_cmd_report(int argc, char **argv);
int jg_cmd_service(int argc, char **argv);
int jg_cmd_ingest_key(int argc, char **argv);
int jg_cmd_backup(int argc, char **argv);
int jg_cmd_restore(int argc, char **argv);
int jg_cmd_demo(int argc, char **argv);
int jg_cmd_store(int argc, char **argv);
int jg_cmd_witness(int argc, char **argv);

/*
 * Writes text to `to` and returns code, or JG_EXIT_RUNTIME instead of
 * JG_EXIT_OK when the text could not be written: a command whose output did
 * not arrive has failed.  (A message on stderr that fails has nowhere to be
 * reported; its code stands.)  Output is buffered, so main() also checks
 * stdout once more when the command returns.
 */
int jg_cli_puts(FILE *to, const char *text, int code);

/* Prints the usage text to `to` and returns code (as jg_cli_puts). */
int jg_cli_usage(FILE *to, int code);

/* Loads the configuration or prints why not; returns 0 or JG_EXIT_CONFIG. */
int jg_cli_load_config(const char *path, struct jg_config **cfg);

/*
 * 0 when the state database is a SQLite file; otherwise prints that command
 * (backup, restore) copies SQLite files only and where the docs say how to
 * back up PostgreSQL, and returns JG_EXIT_USAGE.
 */
int jg_cli_sqlite_only(const struct jg_config *cfg, const char *command);

/*
 * Opens the store (database.url, with database.password_file) with a
 * current schema or prints why not; 0 or JG_EXIT_STORE.
 */
int jg_cli_open_store(const struct jg_config *cfg, struct jg_store **store);

/* The audit log's settings from the configuration. */
struct jg_audit_config jg_cli_audit_config(const struct jg_config *cfg);

/*
 * Loads the configuration, opens the store and (when audit is not NULL)
 * starts the audit writer, as `serve` does without listening.  who names
 * the subcommand in messages.  Returns 0 or an exit code.
 */
int jg_cli_open_audit(const char *config, const char *who, struct jg_config **cfg,
		      struct jg_store **store, struct jg_audit **audit);

/*
 * Every table `jitgate store copy` copies, as each owner declares it
 * (store.h), in an order where a table comes after those its rows refer
 * to: pointers into out (at most max), *n of them.  0 or JG_ETOOBIG.
 */
int jg_cli_store_tables(const struct jg_store_table **out, size_t max, size_t *n);

/*
 * The access token in path (a secret file: 0600, no symlink; one line):
 * *token (jg_file_free_secret) of *len bytes.  0, or -1 after saying why.
 */
int jg_cli_read_token(const char *path, char **token, size_t *len);

/*
 * Maps the export file at path (read-only, at most 8 GiB) and verifies it
 * as `jitgate audit verify` does with the keys given (never a key found in
 * the export): 0 with *buf and *len (jg_cli_export_unmap), or an exit
 * status after saying why on stderr (the file is then unmapped).
 */
int jg_cli_export_verified(const char *path, const char *const *keys, int nkeys, char **buf,
			   size_t *len);
void jg_cli_export_unmap(char *buf, size_t len);

/* "operator:<unix user>": the audit actor of a command run on the host. */
void jg_cli_operator_actor(char *out, size_t len);

#endif
