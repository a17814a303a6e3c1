/*
 * make_audit_seeds.c - writes the seeds of fuzz/corpus/audit_export/: real
 * exports of a small real log (a throwaway key; fuzz_audit_export.c signs
 * the checkpoints again with its own key, so no key is kept).  Run once by
 * hand from the repository root:
 *     make fuzz-build && build/fuzz/fuzzers/make_audit_seeds fuzz/corpus/audit_export
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "jitgate/audit.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/store.h"

struct buf {
	char *p;
	size_t len;
};

static int
put(void *ctx, const void *data, size_t len)
{
	struct buf *b = ctx;
	char *p = realloc(b->p, b->len + len + 1);
	if (p == NULL)
		return JG_ENOMEM;
	memcpy(p + b->len, data, len);
	b->p = p;
	b->len += len;
	p[b->len] = '\0';
	return 0;
}

/* nftw(3) callback removing the throwaway log's files, then its directories. */
static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
write_seed(const char *dir, const char *name, const char *a, size_t alen, const char *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite("R", 1, 1, f) != 1 || fwrite(a, 1, alen, f) != alen ||
	    (b && fprintf(f, "--old--\n%s", b) < 0) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	char root[] = "/tmp/jg-seeds-XXXXXX", db[256], keys[256], err[512] = "", *old = NULL;
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_audit_config cfg = {.origin = "jitgate.fuzz/audit",
				      .checkpoint_entries = 1000000,
				      .checkpoint_seconds = 3600,
				      .verify_threads = 1};

	if (argc != 2 || mkdtemp(root) == NULL)
		return 2;
	snprintf(db, sizeof(db), "%s/a.db", root);
	snprintf(keys, sizeof(keys), "%s/keys", root);
	if (jg_store_open(db, &store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(store, "migrations", NULL, err, sizeof(err)) != 0 ||
	    jg_keys_generate(keys, err, sizeof(err)) != 0 ||
	    jg_audit_open(store, keys, &cfg, &audit, err, sizeof(err)) != 0 ||
	    jg_audit_start(audit) != 0) {
		fprintf(stderr, "make_audit_seeds: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 13; i++) {
		json_t *data = json_pack("{s:s,s:i,s:[s,s]}", "grant", "req_x", "n", i, "caps",
					 "read-logs", "déploy—probe");
		if (jg_audit_append(audit, i % 2 ? "request.created" : "token.issued", "user:alice",
				    data, NULL) != 0)
			return 1;
		json_decref(data);
		if (i == 4 && jg_audit_checkpoint(audit, &old, NULL) != 0) /* size 5 */
			return 1;
	}
	if (jg_audit_checkpoint(audit, NULL, NULL) != 0)
		return 1;
	static const struct {
		const char *name;
		uint64_t from, to;
		int with_old;
	} seeds[] = {
	    {"all", 0, 12, 0}, {"middle", 5, 6, 1}, {"one", 12, 12, 0}, {"prefix", 0, 4, 1}};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct buf b = {NULL, 0};
		if (jg_audit_export(store, seeds[i].from, seeds[i].to, put, &b) != 0)
			return 1;
		write_seed(argv[1], seeds[i].name, b.p, b.len, seeds[i].with_old ? old : NULL);
		free(b.p);
	}
	free(old);
	jg_audit_free(audit);
	jg_store_close(store);
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : 1;
}
