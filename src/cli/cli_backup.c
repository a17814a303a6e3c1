/*
 * cli_backup.c - `jitgate backup FILE` and `jitgate restore FILE`.
 *
 * backup copies the live database with SQLite's online backup (one read
 * transaction: a consistent snapshot while serve keeps writing) into a new
 * file of mode 0600, then verifies the copy's audit log.
 *
 * restore accepts a backup only when (1) its whole audit log verifies with
 * the checkpoint keys of key_dir, and (2) it agrees with the newest off-host
 * checkpoint (audit.sink_dir, or --checkpoint NOTE): it holds at least that
 * many entries and the first N of them have that checkpoint's root (a
 * consistency proof from the backup's own tree).  A backup older than the
 * off-host checkpoint is refused: it would silently drop entries the world
 * has already seen and fork the log.  Then, holding the database file's
 * exclusive flock (refused while any jitgate process has the store open),
 * the old database is kept beside it and the verified copy renamed into
 * place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jitgate/audit.h"
#include "jitgate/cli.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/merkle.h"
#include "jitgate/migrate.h"

/* Parses -c FILE and exactly one FILE operand. */
static int
parse_args(int argc, char **argv, const char **config, const char **file, const char **note)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"checkpoint", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': *config = optarg; break;
		case 'p':
			if (note == NULL)
				return -1;
			*note = optarg;
			break;
		default: return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	*file = argv[optind];
	return 0;
}

/* The whole audit log of store verified; prints why not.  0 or JG_EXIT_AUDIT / _CONFIG. */
static int
verify_log(struct jg_store *store, const struct jg_config *cfg, const char *what,
	   struct jg_audit_verifiers *vs, struct jg_chain *chain, uint64_t *size)
{
	struct jg_chain_fault fault;
	char err[512];

	if (jg_audit_verifiers_load(cfg->key_dir, cfg->audit_origin, vs, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate: checkpoint keys: %s\n", err);
		return JG_EXIT_CONFIG;
	}
	int rc = jg_audit_verify_store_chain(store, vs, (int)cfg->audit_verify_threads, size, chain,
					     &fault);
	if (rc == 0)
		return 0;
	if (rc == JG_EVERIFY && fault.seq != UINT64_MAX)
		fprintf(stderr,
			"jitgate: %s: the audit log does not verify: first bad seq %llu: %s\n",
			what, (unsigned long long)fault.seq, fault.why);
	else
		fprintf(stderr, "jitgate: %s: the audit log does not verify: %s\n", what,
			rc == JG_EVERIFY ? fault.why : jg_strerror(rc));
	return JG_EXIT_AUDIT;
}

int
jg_cmd_backup(int argc, char **argv)
{
	const char *config = "jitgate.yaml", *file = NULL;
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL, *copy = NULL;
	struct jg_audit_verifiers vs;
	struct jg_chain chain;
	char err[1024];
	uint64_t size = 0;
	int rc;

	if (parse_args(argc, argv, &config, &file, NULL) != 0)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if ((rc = jg_cli_open_audit(config, "backup", &cfg, &store, NULL)) != 0 ||
	    (rc = jg_cli_sqlite_only(cfg, "backup")) != 0)
		goto out;
	if (jg_store_backup(store, file, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate backup: %s\n", err);
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	/* A backup is only worth keeping if its log verifies: check the copy, not the source. */
	if (jg_store_open(file, &copy, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate backup: %s\n", err);
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	if ((rc = verify_log(copy, cfg, file, &vs, &chain, &size)) != 0)
		goto out;
	jg_store_close(copy);
	copy = NULL;
	if (jg_store_self_contained(file, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate backup: %s\n", err);
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	printf("backup %s: %llu audit entries, verified\n", file, (unsigned long long)size);
	rc = JG_EXIT_OK;
out:
	jg_store_close(copy);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

/* The newest checkpoint-<20 digits>.note of dir (names sort by size), or none. */
static int
newest_note(const char *dir, char *path, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[64] = "";

	if (d == NULL)
		return JG_EIO;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strlen(n) == 36 && strncmp(n, "checkpoint-", 11) == 0 &&
		    strspn(n + 11, "0123456789") == 20 && strcmp(n + 31, ".note") == 0 &&
		    strcmp(n, best) > 0)
			memcpy(best, n, 37); /* 36 characters and the NUL, checked above */
	}
	closedir(d);
	if (best[0] == '\0')
		return JG_ENOTFOUND;
	snprintf(path, len, "%s/%s", dir, best);
	return 0;
}

/* Reads and opens the off-host checkpoint note with one of the trusted keys. */
static int
read_offhost(const char *path, const struct jg_audit_verifiers *vs, const char *origin,
	     struct jg_checkpoint *cp)
{
	char *buf = NULL, err[512];
	size_t len;
	int rc = JG_EVERIFY;

	if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &buf, &len, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate restore: %s\n", err);
		return JG_EIO;
	}
	for (int i = 0; i < vs->n && rc != 0; i++)
		rc = jg_signed_note_open_checkpoint(buf, len, &vs->v[i], cp);
	free(buf);
	if (rc == 0 && strcmp(cp->origin, origin) != 0)
		rc = JG_EVERIFY;
	if (rc != 0)
		fprintf(
		    stderr,
		    "jitgate restore: %s: not a checkpoint of this log signed by a checkpoint key "
		    "of key_dir\n",
		    path);
	return rc;
}

/*
 * The backup (verified chain of size n) against the off-host checkpoint cp:
 * 0 when the first cp->size entries of the backup have cp's root.
 */
static int
consistent(struct jg_store *store, const struct jg_chain *chain, const struct jg_checkpoint *cp)
{
	uint8_t root_n[32], root_m[32], proof[JG_MERKLE_MAX_PROOF_BYTES];
	json_t *c = NULL;
	size_t plen = 0;
	int rc;

	if ((rc = jg_merkle_frontier_root(&chain->tree, root_n)) != 0 ||
	    (rc = jg_audit_consistency(store, cp->size, chain->next_seq, &c)) != 0)
		return rc;
	json_t *p = json_object_get(c, "proof"), *h;
	size_t i;
	rc = jg_unhex32(json_string_value(json_object_get(c, "root_from")), root_m) != 0 ||
		     json_array_size(p) > sizeof(proof) / 32
		 ? JG_EVERIFY
		 : 0;
	json_array_foreach(p, i, h)
	{
		if (rc == 0 && jg_unhex32(json_string_value(h), proof + 32 * i) != 0)
			rc = JG_EVERIFY;
		plen += 32;
	}
	json_decref(c);
	if (rc != 0)
		return rc;
	/* root_m from the backup's verified nodes must be the off-host root, and provably a prefix
	 */
	if (memcmp(root_m, cp->root, 32) != 0 ||
	    jg_merkle_consistency_verify(cp->size, chain->next_seq, cp->root, root_n, proof,
					 plen) != 0)
		return JG_EVERIFY;
	return 0;
}

/* Moves the old database (and its WAL) aside, then renames the staged copy into place. */
static int
swap_in(const char *db, const char *staged, char *aside, size_t aside_len)
{
	char wal[PATH_MAX], shm[PATH_MAX], aside_wal[PATH_MAX];
	struct stat st;

	aside[0] = '\0';
	if (strlen(db) + 64 > sizeof(wal)) {
		errno = ENAMETOOLONG;
		return JG_EIO;
	}
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(shm, sizeof(shm), "%s-shm", db);
	if (stat(db, &st) == 0 && st.st_size > 0) {
		int n =
		    snprintf(aside, aside_len, "%s.pre-restore-%lld", db, (long long)time(NULL));
		if (n < 0 || (size_t)n >= aside_len ||
		    snprintf(aside_wal, sizeof(aside_wal), "%s-wal", aside) >=
			(int)sizeof(aside_wal)) {
			errno = ENAMETOOLONG;
			return JG_EIO;
		}
		if (link(db, aside) != 0)
			return JG_EIO;
		/* the old WAL must never meet the new file: SQLite would replay it into it */
		if (rename(wal, aside_wal) != 0 && errno != ENOENT)
			return JG_EIO;
	} else if (unlink(wal) != 0 && errno != ENOENT) {
		return JG_EIO;
	}
	if ((unlink(shm) != 0 && errno != ENOENT) || rename(staged, db) != 0)
		return JG_EIO;
	char *copy = strdup(db);
	int dfd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	free(copy);
	if (dfd < 0 || fsync(dfd) != 0) {
		if (dfd >= 0)
			close(dfd);
		return JG_EIO;
	}
	close(dfd);
	return 0;
}

int
jg_cmd_restore(int argc, char **argv)
{
	const char *config = "jitgate.yaml", *file = NULL, *note = NULL;
	struct jg_config *cfg = NULL;
	struct jg_store *staged = NULL;
	struct jg_audit_verifiers vs;
	struct jg_checkpoint cp;
	struct jg_chain chain;
	char err[1024], stage[PATH_MAX] = "", note_path[PATH_MAX], aside[PATH_MAX];
	uint64_t size = 0;
	int lock_fd = -1, pending = 0, rc;

	if (parse_args(argc, argv, &config, &file, &note) != 0)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if ((rc = jg_cli_load_config(config, &cfg)) != 0)
		return rc;
	if ((rc = jg_cli_sqlite_only(cfg, "restore")) != 0)
		goto out;
	/* First the lock: nothing is checked twice, and no jitgate starts on the old file
	 * meanwhile. */
	if (jg_store_lock_exclusive(cfg->database_path, &lock_fd, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate restore: %s\n", err);
		rc = JG_EXIT_STORE;
		goto out;
	}
	/* Staged next to the database (same file system: the rename is atomic); what is checked is
	 * what is installed. */
	if (strlen(cfg->database_path) + 64 > sizeof(stage)) {
		fprintf(stderr, "jitgate restore: %s: path too long\n", cfg->database_path);
		rc = JG_EXIT_STORE;
		goto out;
	}
	snprintf(stage, sizeof(stage), "%s.restore-%ld", cfg->database_path, (long)getpid());
	if (jg_store_backup_file(file, stage, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate restore: cannot read the backup: %s\n", err);
		stage[0] = '\0';
		rc = JG_EXIT_STORE;
		goto out;
	}
	if (jg_store_open(stage, &staged, err, sizeof(err)) != 0 ||
	    jg_migrate_status(staged, cfg->migrations_dir, &pending, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate restore: %s: %s\n", file, err);
		rc = JG_EXIT_STORE;
		goto out;
	}
	if ((rc = verify_log(staged, cfg, file, &vs, &chain, &size)) != 0) {
		fprintf(stderr,
			"jitgate restore: refused: the backup's audit log does not verify\n");
		goto out;
	}
	rc = JG_EXIT_AUDIT;
	if (note == NULL) {
		if (cfg->audit_sink_dir == NULL ||
		    newest_note(cfg->audit_sink_dir, note_path, sizeof(note_path)) != 0) {
			fprintf(stderr,
				"jitgate restore: refused: no off-host checkpoint to check the "
				"backup against (audit.sink_dir has none); give one with "
				"--checkpoint NOTE\n");
			goto out;
		}
		note = note_path;
	}
	if (read_offhost(note, &vs, cfg->audit_origin, &cp) != 0)
		goto out;
	if (size < cp.size) {
		fprintf(stderr,
			"jitgate restore: refused: the backup holds %llu audit entries but the "
			"off-host "
			"checkpoint %s covers %llu: restoring it would drop %llu entries already "
			"published and fork the log; use a newer backup\n",
			(unsigned long long)size, note, (unsigned long long)cp.size,
			(unsigned long long)(cp.size - size));
		goto out;
	}
	if (consistent(staged, &chain, &cp) != 0) {
		fprintf(
		    stderr,
		    "jitgate restore: refused: the backup's audit log is not consistent with the "
		    "off-host checkpoint %s (size %llu): its history differs from what was "
		    "published\n",
		    note, (unsigned long long)cp.size);
		goto out;
	}
	jg_store_close(staged); /* a clean close folds its WAL back into the file */
	staged = NULL;
	if (swap_in(cfg->database_path, stage, aside, sizeof(aside)) != 0) {
		fprintf(stderr, "jitgate restore: cannot replace %s: %s\n", cfg->database_path,
			strerror(errno));
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	stage[0] = '\0';
	printf("restored %s into %s: %llu audit entries, verified, consistent with the off-host "
	       "checkpoint of size %llu\n",
	       file, cfg->database_path, (unsigned long long)size, (unsigned long long)cp.size);
	if (aside[0] != '\0')
		printf("the database it replaced is kept as %s\n", aside);
	if (pending > 0)
		printf("%d migration(s) pending: run 'jitgate migrate -c %s' before starting\n",
		       pending, cfg->file);
	rc = JG_EXIT_OK;
out:
	jg_store_close(staged);
	if (stage[0] != '\0') {
		char extra[PATH_MAX + 8];
		unlink(stage);
		snprintf(extra, sizeof(extra), "%s-wal", stage);
		unlink(extra);
		snprintf(extra, sizeof(extra), "%s-shm", stage);
		unlink(extra);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	jg_config_free(cfg);
	return rc;
}
