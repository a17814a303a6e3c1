/*
 * cli_witness.c - `jitgate witness keygen|serve` (docs/witness.md).
 *
 * `keygen --name NAME -o FILE` makes a cosigner key: the signer key string
 * (type 0x04) goes to FILE, created 0600 and never over an existing file,
 * and the verifier key that logs and auditors configure is printed.  `serve
 * -c FILE` runs the witness until SIGTERM or SIGINT.  A witness is meant to
 * run on another host, by another team or an auditor, with the same binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jitgate/cli.h"
#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/http.h"
#include "jitgate/log.h"
#include "jitgate/router.h"
#include "jitgate/witness.h"
#include "jitgate/witness_config.h"

#define SIGNER_KEY_MAX 1024

static int
write_new_secret(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	return close(fd);
}

static int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"out", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *out = NULL;
	struct jg_note_verifier v;
	char *skey = NULL, *vkey = NULL;
	EVP_PKEY *key = NULL;
	int opt, rc = JG_EXIT_RUNTIME;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:o:", longopts, NULL)) != -1) {
		if (opt == 'n')
			name = optarg;
		else if (opt == 'o')
			out = optarg;
		else
			return jg_cli_usage(stderr, JG_EXIT_USAGE);
	}
	if (name == NULL || out == NULL || optind != argc) {
		fprintf(stderr, "jitgate witness keygen: --name NAME and -o FILE are required\n");
		return JG_EXIT_USAGE;
	}
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		fprintf(stderr, "jitgate witness keygen: cannot generate an Ed25519 key\n");
		goto out;
	}
	if (jg_signed_note_cosigner_init(&v, name, key) != 0) {
		fprintf(stderr, "jitgate witness keygen: '%s' is not a valid key name\n", name);
		rc = JG_EXIT_USAGE;
		goto out;
	}
	if (jg_signed_note_signer_format(name, JG_NOTE_ALG_COSIGNATURE_V1, key, &skey) != 0 ||
	    jg_signed_note_verifier_format(&v, &vkey) != 0) {
		fprintf(stderr, "jitgate witness keygen: cannot encode the key\n");
		goto out;
	}
	if (write_new_secret(out, skey) != 0) {
		fprintf(stderr, "jitgate witness keygen: cannot create %s: %s\n", out,
			errno == EEXIST ? "it exists (a key is never overwritten)"
					: strerror(errno));
		goto out;
	}
	rc = jg_cli_puts(stdout, vkey, JG_EXIT_OK);
	if (rc == JG_EXIT_OK)
		rc = jg_cli_puts(stdout, "\n", JG_EXIT_OK);
out:
	if (skey != NULL)
		jg_file_free_secret(skey, strlen(skey));
	free(vkey);
	EVP_PKEY_free(key);
	return rc;
}

static int
load_signer(const struct jg_witness_config *cfg, EVP_PKEY **key)
{
	char err[512], name[JG_NOTE_MAX_NAME + 1];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (jg_file_read(cfg->key_file, SIGNER_KEY_MAX, true, &buf, &len, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "witness key: %s", err);
		return JG_EXIT_CONFIG;
	}
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	rc = jg_signed_note_cosigner_signer_parse(buf, name, key);
	jg_file_free_secret(buf, len);
	if (rc != 0) {
		jg_logf(JG_LOG_ERROR,
			"witness key %s: not a cosigner signer key (jitgate witness keygen)",
			cfg->key_file);
		return JG_EXIT_CONFIG;
	}
	if (strcmp(name, cfg->name) != 0) {
		jg_logf(JG_LOG_ERROR, "witness key %s is named '%s', the configuration says '%s'",
			cfg->key_file, name, cfg->name);
		EVP_PKEY_free(*key);
		*key = NULL;
		return JG_EXIT_CONFIG;
	}
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct jg_witness_config *cfg = NULL;
	struct jg_config *server_cfg = NULL;
	struct jg_witness *w = NULL;
	struct jg_router *router = NULL;
	struct jg_server *server = NULL;
	const char *file = "witness.yaml";
	EVP_PKEY *key = NULL;
	char err[512];
	sigset_t sigs;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (opt != 'c')
			return jg_cli_usage(stderr, JG_EXIT_USAGE);
		file = optarg;
	}
	if (optind != argc)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if (jg_witness_config_load(file, &cfg, err, sizeof(err)) != 0 ||
	    jg_config_for_server(cfg->listen, cfg->tls_cert_file, cfg->tls_key_file, &server_cfg,
				 err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "%s", err);
		jg_witness_config_free(cfg);
		return JG_EXIT_CONFIG;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	if ((rc = load_signer(cfg, &key)) != 0)
		goto out;
	if (jg_witness_open(cfg->name, key, cfg->state, cfg->logs, cfg->n_logs, &w, err,
			    sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "witness: %s", err);
		EVP_PKEY_free(key);
		rc = JG_EXIT_STORE;
		goto out;
	}
	rc = JG_EXIT_RUNTIME;
	if ((router = jg_router_new()) == NULL)
		goto out;
	for (size_t i = 0; i < jg_witness_routes.n; i++)
		if (jg_router_add(router, &jg_witness_routes.routes[i]) != 0)
			goto out;
	if (jg_server_new(server_cfg, router, w, &server, err, sizeof(err)) != 0 ||
	    jg_server_start(server, err, sizeof(err)) != 0) {
		jg_logf(JG_LOG_ERROR, "witness: %s", err);
		goto out;
	}
	json_t *f = json_pack("{s:s,s:s,s:i}", "vkey", jg_witness_vkey(w), "state", cfg->state,
			      "logs", (int)cfg->n_logs);
	jg_log(JG_LOG_INFO, "witness serving", f);
	json_decref(f);
	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) == 0)
			break;
	}
	rc = jg_server_stop(server, (int)server_cfg->limits.shutdown_grace) > 0 ? JG_EXIT_RUNTIME
										: JG_EXIT_OK;
	jg_log(JG_LOG_INFO, "witness stopped", NULL);
out:
	jg_server_free(server);
	jg_router_free(router);
	jg_witness_free(w);
	jg_config_free(server_cfg);
	jg_witness_config_free(cfg);
	return rc;
}

int
jg_cmd_witness(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	return jg_cli_usage(stderr, JG_EXIT_USAGE);
}
