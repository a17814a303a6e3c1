/*
 * cli_audit.c - `jitgate audit export|verify|checkpoint|check|hash|receipt`.
 *
 * verify is the auditor's tool: it reads only the export file and the keys
 * given with --key (a PEM public key file, or a C2SP verifier key string or
 * file holding one).  A key inside an export is never trusted.  Exit 0 when
 * valid, 1 when not (printing the first bad seq and why), 2 for usage.
 *
 * hash is the auditor's other tool: the markers an export holds in place
 * of personal data (pii.h) for a value the auditor already knows.  The key
 * stays on the server, so it asks POST /v1/audit/hash with the auditor's
 * access token (from `jitgate login`), which records the question.  The
 * value is read from stdin by default: an argument is visible to every
 * local user (ps, /proc) and stays in shell history.
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

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jitgate/audit.h"
#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"
#include "jitgate/keys.h"
#include "jitgate/log.h"
#include "jitgate/parse.h"

#define MAX_EXPORT_FILE (8ULL << 30)
#define MAX_KEYS_GIVEN	16
#define MAX_HASH_VALUE	4096  /* the server's cap on a value to hash */
#define MAX_TOKEN_FILE	16384 /* an access token */

static int
file_write(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, ctx) == len ? 0 : JG_EIO;
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
			if (jg_parse_u64(optarg, 0, UINT64_MAX, &from) != 0)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			break;
		case 't':
			if (jg_parse_u64(optarg, 0, UINT64_MAX, &to) != 0)
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

/* The --key arguments as verifiers named origin (for PEM keys); -1 after saying which is bad. */
static int
load_verifiers(const char *const *keys, int nkeys, const char *origin,
	       struct jg_audit_verifiers *vs)
{
	for (int i = 0; i < nkeys; i++) {
		if (load_verifier(keys[i], origin, &vs->v[vs->n]) != 0) {
			fprintf(stderr,
				"jitgate audit verify: --key %s: not a PEM Ed25519 public key "
				"nor a verifier key\n",
				keys[i]);
			return -1;
		}
		vs->n++;
	}
	return 0;
}

/* Prints the verdict the way both verifications do; returns the exit status. */
static int
print_verdict(int rc, const char *summary, const struct jg_chain_fault *fault)
{
	if (rc == 0) {
		printf("VALID: %s\n", summary);
		return JG_EXIT_OK;
	}
	if (rc == JG_EVERIFY && fault->seq != UINT64_MAX)
		printf("INVALID: first bad seq %llu: %s\n", (unsigned long long)fault->seq,
		       fault->why);
	else if (rc == JG_EVERIFY)
		printf("INVALID: %s\n", fault->why);
	else
		printf("INVALID: %s\n", jg_strerror(rc));
	return JG_EXIT_RUNTIME;
}

/*
 * `audit verify DIR`: an archive directory (audit.archive_dir).  The keys'
 * name (for PEM keys) is the origin its checkpoint claims: only a signature
 * by a key given makes it evidence.
 */
static int
verify_archive(const char *dir, const char *const *keys, int nkeys, int threads)
{
	char path[4096], err[256], origin[256], summary[512], *text = NULL;
	struct jg_audit_verifiers vs = {0};
	struct jg_chain_fault fault;
	size_t len;

	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &text, &len, err, sizeof(err)) != 0) {
		printf("INVALID: the archive has no checkpoint: %s\n", err);
		return JG_EXIT_RUNTIME;
	}
	size_t olen = strcspn(text, "\n");
	snprintf(origin, sizeof(origin), "%.*s", (int)(olen < sizeof(origin) ? olen : 0), text);
	free(text);
	if (load_verifiers(keys, nkeys, origin, &vs) != 0)
		return JG_EXIT_USAGE;
	int rc = jg_audit_verify_archive(dir, &vs, threads, summary, sizeof(summary), &fault);
	return print_verdict(rc, summary, &fault);
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
	    {"witness", required_argument, NULL, 'w'},
	    {"min-witnesses", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	const char *keys[MAX_KEYS_GIVEN], *old_path = NULL;
	struct jg_note_verifier witnesses[MAX_KEYS_GIVEN];
	size_t nwitnesses = 0, cosigned = 0;
	int64_t min_witnesses = -1;
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
		case 'w':
			if (nwitnesses == MAX_KEYS_GIVEN)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			if (jg_signed_note_cosigner_parse(optarg, &witnesses[nwitnesses]) != 0) {
				fprintf(
				    stderr,
				    "jitgate audit verify: --witness %s: not a witness's verifier "
				    "key \"<name>+<id>+<base64(0x04 || key)>\"\n",
				    optarg);
				return JG_EXIT_USAGE;
			}
			nwitnesses++;
			break;
		case 'm':
			if (jg_parse_u64(optarg, 1, MAX_KEYS_GIVEN, &t) != 0)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			min_witnesses = (int64_t)t;
			break;
		case 't':
			if (jg_parse_u64(optarg, 1, 16, &t) != 0)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			threads = (int)t;
			break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (min_witnesses < 0)
		min_witnesses = (int64_t)nwitnesses; /* every witness given, by default */
	if ((size_t)min_witnesses > nwitnesses) {
		fprintf(stderr,
			"jitgate audit verify: --min-witnesses %lld needs as many --witness "
			"keys\n",
			(long long)min_witnesses);
		return JG_EXIT_USAGE;
	}
	if (optind != argc - 1 || nkeys == 0) {
		fprintf(stderr,
			"jitgate audit verify: usage: audit verify FILE|ARCHIVE_DIR --key KEY "
			"[--key KEY] [--checkpoint OLD]\n(--key is required: a key found inside "
			"an export is never trusted)\n");
		return JG_EXIT_USAGE;
	}
	struct stat dst;
	if (stat(argv[optind], &dst) == 0 && S_ISDIR(dst.st_mode)) {
		if (old_path != NULL || nwitnesses > 0) {
			fprintf(stderr, "jitgate audit verify: --checkpoint and --witness apply to "
					"exports, not to an archive directory\n");
			return JG_EXIT_USAGE;
		}
		return verify_archive(argv[optind], keys, nkeys, threads);
	}
	if (map_file(argv[optind], &buf, &len) != 0)
		return JG_EXIT_RUNTIME;
	if (export_origin(buf, len, origin, sizeof(origin)) != 0) {
		printf("INVALID: malformed export: the first line is not an export header\n");
		munmap(buf, len ? len : 1);
		return JG_EXIT_RUNTIME;
	}
	if (load_verifiers(keys, nkeys, origin, &vs) != 0) {
		munmap(buf, len ? len : 1);
		return JG_EXIT_USAGE;
	}
	if (old_path && jg_file_read(old_path, JG_NOTE_MAX_BYTES, false, &old, &old_len, err,
				     sizeof(err)) != 0) {
		fprintf(stderr, "jitgate audit verify: %s\n", err);
		munmap(buf, len ? len : 1);
		return JG_EXIT_RUNTIME;
	}
	int rc = jg_audit_verify_export(buf, len, &vs, old, old_len, threads, summary,
					sizeof(summary), &fault);
	if (rc == 0 && nwitnesses > 0 &&
	    jg_audit_export_cosigned(buf, len, witnesses, nwitnesses, &cosigned) != 0)
		cosigned = 0;
	munmap(buf, len ? len : 1);
	free(old);
	if (rc == 0 && cosigned < (size_t)min_witnesses) {
		printf(
		    "INVALID: the checkpoint is cosigned by %zu of the %zu witnesses given, fewer "
		    "than --min-witnesses %lld\n",
		    cosigned, nwitnesses, (long long)min_witnesses);
		return JG_EXIT_RUNTIME;
	}
	if (rc == 0 && nwitnesses > 0) {
		printf("VALID: %s; cosigned by %zu of the %zu witnesses given\n", summary, cosigned,
		       nwitnesses);
		return JG_EXIT_OK;
	}
	return print_verdict(rc, summary, &fault);
}

/*
 * `audit receipt FILE|ARCHIVE_DIR GRANT_ID --key KEY`: the grant's receipt
 * recomputed from the verified entries and compared with the one recorded
 * (audit_receipt.c).  Exit 0 when they match, 1 when they differ, 2 for
 * usage, 5 when the file does not verify, 6 when it holds no receipt of
 * the grant or does not reach back to the grant's first entry.
 */
#define EXIT_RECEIPT_MISMATCH JG_EXIT_RUNTIME
#define EXIT_RECEIPT_INVALID  JG_EXIT_AUDIT
#define EXIT_RECEIPT_NONE     6

static int
cmd_receipt(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"threads", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	const char *keys[MAX_KEYS_GIVEN];
	int nkeys = 0, ch, threads = 2, rc;
	char origin[256], *buf = NULL, *text = NULL, path[4096], err[256];
	size_t len = 0;
	struct jg_audit_verifiers vs = {0};
	struct jg_chain_fault fault;
	json_t *out = NULL;
	uint64_t t;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (nkeys == MAX_KEYS_GIVEN)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			keys[nkeys++] = optarg;
			break;
		case 't':
			if (jg_parse_u64(optarg, 1, 16, &t) != 0)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			threads = (int)t;
			break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc - 2 || nkeys == 0 || strlen(argv[optind + 1]) == 0 ||
	    strlen(argv[optind + 1]) >= JG_AUDIT_GRANT_ID_MAX) {
		fprintf(stderr, "jitgate audit receipt: usage: audit receipt FILE|ARCHIVE_DIR "
				"GRANT_ID --key KEY [--key KEY]\n(--key is required: a key found "
				"inside an export is never trusted)\n");
		return JG_EXIT_USAGE;
	}
	const char *file = argv[optind], *grant = argv[optind + 1];
	struct stat dst;
	bool dir = stat(file, &dst) == 0 && S_ISDIR(dst.st_mode);
	if (dir) {
		snprintf(path, sizeof(path), "%s/checkpoint", file);
		if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &text, &len, err, sizeof(err)) !=
		    0) {
			printf("INVALID: the archive has no checkpoint: %s\n", err);
			return EXIT_RECEIPT_INVALID;
		}
		size_t olen = strcspn(text, "\n");
		snprintf(origin, sizeof(origin), "%.*s", (int)(olen < sizeof(origin) ? olen : 0),
			 text);
		free(text);
	} else {
		if (map_file(file, &buf, &len) != 0)
			return JG_EXIT_RUNTIME;
		if (export_origin(buf, len, origin, sizeof(origin)) != 0) {
			printf("INVALID: malformed export: the first line is not an export "
			       "header\n");
			munmap(buf, len ? len : 1);
			return EXIT_RECEIPT_INVALID;
		}
	}
	if (load_verifiers(keys, nkeys, origin, &vs) != 0) {
		if (buf != NULL)
			munmap(buf, len ? len : 1);
		return JG_EXIT_USAGE;
	}
	rc = dir ? jg_audit_receipt_archive(file, grant, &vs, threads, &out, &fault)
		 : jg_audit_receipt_export(buf, len, grant, &vs, threads, &out, &fault);
	if (buf != NULL)
		munmap(buf, len ? len : 1);
	if (rc == JG_EVERIFY || (rc != 0 && out == NULL)) {
		(void)print_verdict(rc, "", &fault);
		json_decref(out);
		return rc == JG_EVERIFY ? EXIT_RECEIPT_INVALID : JG_EXIT_RUNTIME;
	}
	char *shown = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
	int exit_code;
	if (rc == 0) {
		printf("MATCH: the receipt of %s is what its entries say\n", grant);
		exit_code = JG_EXIT_OK;
	} else if (rc == JG_ECONFLICT) {
		printf("MISMATCH: the receipt of %s differs from its entries in:", grant);
		size_t i;
		json_t *k;
		json_array_foreach(json_object_get(out, "differences"), i, k)
		    printf(" %s", json_string_value(k));
		printf("\n");
		exit_code = EXIT_RECEIPT_MISMATCH;
	} else if (rc == JG_EINVAL) {
		printf("INCOMPLETE: the entries start at %lld, after the grant's first entry %lld: "
		       "export from there\n",
		       (long long)json_integer_value(json_object_get(out, "from")),
		       (long long)json_integer_value(
			   json_object_get(json_object_get(out, "recorded"), "first_seq")));
		exit_code = EXIT_RECEIPT_NONE;
	} else {
		printf("NOT FOUND: no grant.receipt of %s in these entries\n", grant);
		exit_code = EXIT_RECEIPT_NONE;
	}
	if (shown != NULL)
		printf("%s\n", shown);
	free(shown);
	json_decref(out);
	return exit_code;
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
			rc = jg_cli_puts(stdout, note, JG_EXIT_OK);
		}
	}
	free(note);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

/*
 * The verified log of store against the newest off-host checkpoint: the
 * note given (--checkpoint) or the newest in the sink directory
 * (--against-sink).  Prints what it found; 0 or JG_EXIT_AUDIT.
 */
static int
check_offhost(struct jg_store *store, const struct jg_config *cfg,
	      const struct jg_audit_verifiers *vs, const struct jg_chain *chain, const char *sink,
	      const char *note)
{
	char path[4096], err[1024];
	struct jg_checkpoint cp;

	if (note == NULL) {
		int rc = jg_audit_offhost_newest(sink, path, sizeof(path));
		if (rc != 0) {
			printf("INVALID: %s: %s: nothing to check the log against\n", sink,
			       rc == JG_ENOTFOUND ? "no checkpoint-<size>.note in it"
						  : "cannot be read");
			return JG_EXIT_AUDIT;
		}
		note = path;
	}
	if (jg_audit_offhost_read(note, vs, cfg->audit_origin, &cp, err, sizeof(err)) != 0) {
		printf("INVALID: %s\n", err);
		return JG_EXIT_AUDIT;
	}
	int rc = jg_audit_contains_checkpoint(store, chain, &cp);
	if (rc == JG_ECONFLICT) {
		printf("INVALID: the log holds %llu entries but the off-host checkpoint %s covers "
		       "%llu: %llu entries already published are missing (a restore older than "
		       "what was published, or a copy that lost its tail)\n",
		       (unsigned long long)chain->next_seq, note, (unsigned long long)cp.size,
		       (unsigned long long)(cp.size - chain->next_seq));
		return JG_EXIT_AUDIT;
	}
	if (rc != 0) {
		printf("INVALID: the log is not consistent with the off-host checkpoint %s (size "
		       "%llu): its history differs from what was published (a fork or a "
		       "rewrite)\n",
		       note, (unsigned long long)cp.size);
		return JG_EXIT_AUDIT;
	}
	printf("VALID: %llu entries, every checkpoint and tree node verified; they contain the "
	       "off-host checkpoint %s (size %llu)\n",
	       (unsigned long long)chain->next_seq, note, (unsigned long long)cp.size);
	return JG_EXIT_OK;
}

static int
cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"against-sink", required_argument, NULL, 's'},
	    {"checkpoint", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml", *sink = NULL, *note = NULL;
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit_verifiers vs;
	struct jg_chain_fault fault;
	struct jg_chain chain;
	char err[512];
	uint64_t size = 0;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 's': sink = optarg; break;
		case 'p': note = optarg; break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc || (sink != NULL && note != NULL)) {
		fprintf(stderr, "usage: jitgate audit check [-c FILE] [--against-sink DIR | "
				"--checkpoint NOTE]\n");
		return JG_EXIT_USAGE;
	}
	if ((rc = jg_cli_open_audit(config, "audit", &cfg, &store, NULL)) != 0)
		goto out;
	if (jg_audit_verifiers_load(cfg->key_dir, cfg->audit_origin, &vs, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate audit check: %s\n", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	rc = jg_audit_verify_store_chain(store, &vs, (int)cfg->audit_verify_threads, &size, &chain,
					 &fault);
	if (rc != 0) {
		if (fault.seq != UINT64_MAX)
			printf("INVALID: first bad seq %llu: %s\n", (unsigned long long)fault.seq,
			       fault.why);
		else
			printf("INVALID: %s\n", rc == JG_EVERIFY ? fault.why : jg_strerror(rc));
		rc = JG_EXIT_AUDIT;
	} else if (sink != NULL || note != NULL) {
		rc = check_offhost(store, cfg, &vs, &chain, sink, note);
	} else {
		printf("VALID: %llu entries, every checkpoint and tree node verified\n",
		       (unsigned long long)size);
	}
out:
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

/* The value to hash from stdin: at most MAX_HASH_VALUE bytes, one trailing newline dropped. */
static int
read_value(char *buf, size_t cap, size_t *len)
{
	size_t n = fread(buf, 1, cap, stdin);

	if (ferror(stdin) || n == cap)
		return -1;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	*len = n;
	return n > 0 && n <= MAX_HASH_VALUE ? 0 : -1;
}

/* The access token of path (a secret file: 0600, no symlink), trailing blanks dropped. */
static int
read_token(const char *path, char **token, size_t *len)
{
	char err[512];

	if (jg_file_read(path, MAX_TOKEN_FILE, true, token, len, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate audit hash: %s\n", err);
		return -1;
	}
	while (*len > 0 && ((*token)[*len - 1] == '\n' || (*token)[*len - 1] == '\r' ||
			    (*token)[*len - 1] == ' '))
		(*token)[--(*len)] = '\0';
	if (*len == 0 || strcspn(*token, "\r\n") != *len) {
		fprintf(stderr, "jitgate audit hash: %s does not hold one access token\n", path);
		jg_file_free_secret(*token, *len);
		*token = NULL;
		return -1;
	}
	return 0;
}

int
jg_cli_read_token(const char *path, char **token, size_t *len)
{
	return read_token(path, token, len);
}

int
jg_cli_export_verified(const char *path, const char *const *keys, int nkeys, char **buf,
		       size_t *len)
{
	char origin[256], summary[512];
	struct jg_audit_verifiers vs = {0};
	struct jg_chain_fault fault;

	if (map_file(path, buf, len) != 0)
		return JG_EXIT_RUNTIME;
	int rc = export_origin(*buf, *len, origin, sizeof(origin)) != 0 ? JG_EXIT_RUNTIME
		 : load_verifiers(keys, nkeys, origin, &vs) != 0	? JG_EXIT_USAGE
									: 0;
	if (rc == 0 && jg_audit_verify_export(*buf, *len, &vs, NULL, 0, 2, summary, sizeof(summary),
					      &fault) != 0) {
		fprintf(stderr, "%s does not verify: %s\n", path,
			fault.why[0] ? fault.why : "malformed export");
		rc = JG_EXIT_RUNTIME;
	} else if (rc == JG_EXIT_RUNTIME) {
		fprintf(stderr, "%s does not verify: the first line is not an export header\n",
			path);
	}
	if (rc != 0) {
		munmap(*buf, *len ? *len : 1);
		*buf = NULL;
	}
	return rc;
}

void
jg_cli_export_unmap(char *buf, size_t len)
{
	if (buf != NULL)
		munmap(buf, len ? len : 1);
}

static int
cmd_hash(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},     {"token-file", required_argument, NULL, 't'},
	    {"ca-file", required_argument, NULL, 'f'}, {"kind", required_argument, NULL, 'k'},
	    {"stdin", no_argument, NULL, 's'},	       {NULL, 0, NULL, 0},
	};
	const char *url = NULL, *token_file = NULL, *ca_file = NULL, *kind = NULL;
	char path[4096], endpoint[2048], value[MAX_HASH_VALUE + 2], *token = NULL, *auth = NULL,
								    *body = NULL;
	size_t vlen = 0, tlen = 0;
	int ch, from_stdin = 0, rc = JG_EXIT_RUNTIME;
	struct jg_httpc_reply reply = {0};
	json_t *req = NULL, *doc = NULL;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 't': token_file = optarg; break;
		case 'f': ca_file = optarg; break;
		case 'k': kind = optarg; break;
		case 's': from_stdin = 1; break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (url == NULL || strncmp(url, "https://", 8) != 0 || strlen(url) > 1024 ||
	    argc - optind > 1 || (from_stdin && argc - optind == 1)) {
		fprintf(stderr,
			"usage: jitgate audit hash --url https://JITGATE [--token-file FILE] "
			"[--ca-file FILE] [--kind KIND] [--stdin | VALUE]\n");
		return JG_EXIT_USAGE;
	}
	if (argc - optind == 1) {
		/* allowed, as the issue's `audit hash VALUE`, but said once */
		fprintf(stderr, "jitgate audit hash: note: a value given as an argument is visible "
				"to other local users and may stay in your shell history; prefer "
				"--stdin\n");
		vlen = strlen(argv[optind]);
		if (vlen == 0 || vlen > MAX_HASH_VALUE) {
			fprintf(stderr, "jitgate audit hash: the value must be 1 to %d bytes\n",
				MAX_HASH_VALUE);
			return JG_EXIT_USAGE;
		}
		memcpy(value, argv[optind], vlen);
	} else if (read_value(value, sizeof(value), &vlen) != 0) {
		fprintf(stderr, "jitgate audit hash: stdin must hold the value, 1 to %d bytes\n",
			MAX_HASH_VALUE);
		return JG_EXIT_USAGE;
	}
	if (token_file == NULL) {
		const char *home = getenv("HOME");
		if (home == NULL || *home == '\0') {
			fprintf(stderr, "jitgate audit hash: HOME is not set; use --token-file\n");
			rc = JG_EXIT_USAGE;
			goto out;
		}
		snprintf(path, sizeof(path), "%s/.config/jitgate/token", home);
		token_file = path;
	}
	if (read_token(token_file, &token, &tlen) != 0)
		goto out;
	req = json_object();
	if (req == NULL || json_object_set_new(req, "value", json_stringn(value, vlen)) != 0 ||
	    (kind && json_object_set_new(req, "kind", json_string(kind)) != 0) ||
	    (body = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "jitgate audit hash: the value is not UTF-8 text\n");
		rc = JG_EXIT_USAGE;
		goto out;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
		auth = NULL;
		goto out;
	}
	const char *headers[] = {auth, NULL};
	struct jg_httpc_opts opts = {.ca_file = ca_file,
				     .timeout_ms = 10000,
				     .max_bytes = 65536,
				     .flags = JG_HTTPC_HTTPS_ONLY,
				     .content_type = "application/json",
				     .accept = "application/json",
				     .headers = headers};
	snprintf(endpoint, sizeof(endpoint), "%s/v1/audit/hash", url);
	if (jg_httpc_request(endpoint, body, &opts, &reply) != 0) {
		fprintf(stderr, "jitgate audit hash: no answer from %s\n", endpoint);
		goto out;
	}
	doc = json_loadb(reply.body ? reply.body : "", reply.len, 0, NULL);
	if (reply.status != 200) {
		const char *msg =
		    json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
		fprintf(stderr, "jitgate audit hash: %ld %s\n", reply.status,
			msg ? msg : "(no message)");
		goto out;
	}
	/* one marker per line, the active key's first: grep an export for any of them */
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(doc, "markers"), i, m)
	{
		const char *text = json_string_value(json_object_get(m, "marker"));
		if (text != NULL)
			printf("%s\n", text);
	}
	rc = JG_EXIT_OK;
out:
	OPENSSL_cleanse(value, sizeof(value));
	if (body != NULL) {
		OPENSSL_cleanse(body, strlen(body));
		free(body);
	}
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	jg_file_free_secret(token, tlen);
	json_decref(req);
	json_decref(doc);
	jg_httpc_reply_free(&reply);
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
	if (strcmp(argv[1], "hash") == 0)
		return cmd_hash(argc - 1, argv + 1);
	if (strcmp(argv[1], "receipt") == 0)
		return cmd_receipt(argc - 1, argv + 1);
	fprintf(stderr, "jitgate audit: unknown action '%s'\n", argv[1]);
	return jg_cli_usage(stderr, JG_EXIT_USAGE);
}
