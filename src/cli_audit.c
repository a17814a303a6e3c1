/*
 * cli_audit.c - `jitgate audit export|verify|checkpoint|check`.
 *
 * verify is the auditor's tool: it reads only the export file and the keys
 * given with --key (a PEM public key file, or a C2SP verifier key string or
 * file holding one).  A key inside an export is never trusted.  Exit 0 when
 * valid, 1 when not (printing the first bad seq and why), 2 for usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jitgate/audit.h"
#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/keys.h"
#include "jitgate/log.h"

#define MAX_EXPORT_FILE (8ULL << 30)
#define MAX_KEYS_GIVEN	16

static int
file_write(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, ctx) == len ? 0 : JG_EIO;
}

static int
strict_u64(const char *s, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml", *output = NULL;
	uint64_t from = 0, to = UINT64_MAX, cp_size = 0;
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	char actor[128];
	FILE *out = stdout;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'o': output = optarg; break;
		case 'f':
			if (strict_u64(optarg, &from) != 0)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			break;
		case 't':
			if (strict_u64(optarg, &to) != 0)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if ((rc = jg_cli_open_audit(config, "audit", &cfg, &store, &audit)) != 0)
		goto out;
	uint64_t size = 0;
	if (jg_audit_size(store, &size) != 0 || from > size ||
	    (to != UINT64_MAX && (to > size || from > to))) {
		fprintf(stderr, "jitgate audit export: bad range: need from <= to <= %llu\n",
			(unsigned long long)size);
		rc = JG_EXIT_USAGE;
		goto out;
	}
	/* The export is itself an audited action, then a checkpoint covers it. */
	jg_cli_operator_actor(actor, sizeof(actor));
	json_t *data = json_pack("{s:I}", "from", (json_int_t)from);
	if (to != UINT64_MAX)
		json_object_set_new(data, "to", json_integer((json_int_t)to));
	rc = jg_audit_append(audit, "audit.exported", actor, data, NULL);
	json_decref(data);
	if (rc != 0 || jg_audit_checkpoint(audit, NULL, &cp_size) != 0) {
		fprintf(stderr, "jitgate audit export: the audit log cannot be written: %s\n",
			jg_strerror(rc ? rc : JG_EUNAVAIL));
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	if (to == UINT64_MAX)
		to = cp_size - 1;
	if (output && (out = fopen(output, "we")) == NULL) {
		perror(output);
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	rc = jg_audit_export(store, from, to, file_write, out);
	if (rc != 0) {
		fprintf(stderr, "jitgate audit export: %s\n",
			rc == JG_EINVAL ? "bad range: need from <= to < size" : jg_strerror(rc));
		rc = JG_EXIT_RUNTIME;
	}
	if (out != stdout && fclose(out) != 0)
		rc = JG_EXIT_RUNTIME;
out:
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

/* The origin an export claims (the key name to verify PEM keys under). */
static int
export_origin(const char *buf, size_t len, char *origin, size_t olen)
{
	const char *nl = memchr(buf, '\n', len);
	json_t *h = nl ? json_loadb(buf, (size_t)(nl - buf), 0, NULL) : NULL;
	const char *o = h ? json_string_value(json_object_get(h, "origin")) : NULL;
	int rc = o && strlen(o) < olen ? 0 : -1;
	if (rc == 0)
		memcpy(origin, o, strlen(o) + 1);
	json_decref(h);
	return rc;
}

static int
load_verifier(const char *arg, const char *origin, struct jg_note_verifier *v)
{
	char err[256], *buf = NULL;
	size_t len;

	if (jg_file_read(arg, 65536, false, &buf, &len, err, sizeof(err)) != 0)
		return jg_signed_note_verifier_parse(arg, v); /* not a file: a key string */
	int rc;
	if (strstr(buf, "-----BEGIN PUBLIC KEY-----") != NULL) {
		EVP_PKEY *pkey = NULL;
		rc = jg_key_read_public_pem(arg, &pkey, err, sizeof(err));
		if (rc == 0)
			rc = jg_signed_note_verifier_init(v, origin, pkey);
		EVP_PKEY_free(pkey);
	} else {
		while (len > 0 &&
		       (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			buf[--len] = '\0';
		rc = jg_signed_note_verifier_parse(buf, v);
	}
	free(buf);
	return rc;
}

/* Maps an export read-only: no copy of a file that may be gigabytes. */
static int
map_file(const char *path, char **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > MAX_EXPORT_FILE) {
		fprintf(stderr, "jitgate audit verify: %s: %s\n", path,
			fd < 0 ? strerror(errno) : "not a regular file of at most 8 GiB");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	*buf = mmap(NULL, *len ? *len : 1, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (*buf == MAP_FAILED) {
		fprintf(stderr, "jitgate audit verify: %s: %s\n", path, strerror(errno));
		return -1;
	}
	madvise(*buf, *len, MADV_SEQUENTIAL);
	return 0;
}

static int
cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"checkpoint", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	const char *keys[MAX_KEYS_GIVEN], *old_path = NULL;
	int nkeys = 0, ch, threads = 2;
	char err[512], origin[256], summary[512];
	char *buf = NULL, *old = NULL;
	size_t len, old_len = 0;
	struct jg_audit_verifiers vs = {0};
	struct jg_chain_fault fault;
	uint64_t t;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (nkeys == MAX_KEYS_GIVEN)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			keys[nkeys++] = optarg;
			break;
		case 'p': old_path = optarg; break;
		case 't':
			if (strict_u64(optarg, &t) != 0 || t < 1 || t > 16)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			threads = (int)t;
			break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc - 1 || nkeys == 0) {
		fprintf(stderr,
			"jitgate audit verify: usage: audit verify FILE --key KEY "
			"[--key KEY] [--checkpoint OLD]\n(--key is required: a key found inside "
			"an export is never trusted)\n");
		return JG_EXIT_USAGE;
	}
	if (map_file(argv[optind], &buf, &len) != 0)
		return JG_EXIT_RUNTIME;
	if (export_origin(buf, len, origin, sizeof(origin)) != 0) {
		printf("INVALID: malformed export: the first line is not an export header\n");
		munmap(buf, len ? len : 1);
		return JG_EXIT_RUNTIME;
	}
	for (int i = 0; i < nkeys; i++) {
		if (load_verifier(keys[i], origin, &vs.v[vs.n]) != 0) {
			fprintf(stderr,
				"jitgate audit verify: --key %s: not a PEM Ed25519 public key "
				"nor a verifier key\n",
				keys[i]);
			munmap(buf, len ? len : 1);
			return JG_EXIT_USAGE;
		}
		vs.n++;
	}
	if (old_path && jg_file_read(old_path, JG_NOTE_MAX_BYTES, false, &old, &old_len, err,
				     sizeof(err)) != 0) {
		fprintf(stderr, "jitgate audit verify: %s\n", err);
		munmap(buf, len ? len : 1);
		return JG_EXIT_RUNTIME;
	}
	int rc = jg_audit_verify_export(buf, len, &vs, old, old_len, threads, summary,
					sizeof(summary), &fault);
	munmap(buf, len ? len : 1);
	free(old);
	if (rc == 0) {
		printf("VALID: %s\n", summary);
		return JG_EXIT_OK;
	}
	if (rc == JG_EVERIFY && fault.seq != UINT64_MAX)
		printf("INVALID: first bad seq %llu: %s\n", (unsigned long long)fault.seq,
		       fault.why);
	else if (rc == JG_EVERIFY)
		printf("INVALID: %s\n", fault.why);
	else
		printf("INVALID: %s\n", jg_strerror(rc));
	return JG_EXIT_RUNTIME;
}

static int
cmd_checkpoint(int argc, char **argv)
{
	const char *config = "jitgate.yaml";
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	char *note = NULL;
	uint64_t size;
	int rc;

	if (argc == 3 && (strcmp(argv[1], "-c") == 0 || strcmp(argv[1], "--config") == 0))
		config = argv[2];
	else if (argc != 1)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if ((rc = jg_cli_open_audit(config, "audit", &cfg, &store, &audit)) == 0) {
		if (jg_audit_checkpoint(audit, &note, &size) != 0) {
			fprintf(stderr,
				"jitgate audit checkpoint: the audit log cannot be written\n");
			rc = JG_EXIT_RUNTIME;
		} else {
			fputs(note, stdout);
		}
	}
	free(note);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

static int
cmd_check(int argc, char **argv)
{
	const char *config = "jitgate.yaml";
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit_verifiers vs;
	struct jg_chain_fault fault;
	char err[512];
	uint64_t size = 0;
	int rc;

	if (argc == 3 && (strcmp(argv[1], "-c") == 0 || strcmp(argv[1], "--config") == 0))
		config = argv[2];
	else if (argc != 1)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if ((rc = jg_cli_open_audit(config, "audit", &cfg, &store, NULL)) != 0)
		goto out;
	if (jg_audit_verifiers_load(cfg->key_dir, cfg->audit_origin, &vs, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate audit check: %s\n", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	rc = jg_audit_verify_store(store, &vs, (int)cfg->audit_verify_threads, &size, &fault);
	if (rc == 0) {
		printf("VALID: %llu entries, every checkpoint and tree node verified\n",
		       (unsigned long long)size);
	} else {
		if (fault.seq != UINT64_MAX)
			printf("INVALID: first bad seq %llu: %s\n", (unsigned long long)fault.seq,
			       fault.why);
		else
			printf("INVALID: %s\n", rc == JG_EVERIFY ? fault.why : jg_strerror(rc));
		rc = JG_EXIT_AUDIT;
	}
out:
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

int
jg_cmd_audit(int argc, char **argv)
{
	if (argc < 2)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if (strcmp(argv[1], "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "checkpoint") == 0)
		return cmd_checkpoint(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	fprintf(stderr, "jitgate audit: unknown action '%s'\n", argv[1]);
	return jg_cli_usage(stderr, JG_EXIT_USAGE);
}
