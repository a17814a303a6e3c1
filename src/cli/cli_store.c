/*
 * cli_store.c - `jitgate store copy --from URL --to URL`: every table of a
 * state database copied into another, of either engine (SQLite to
 * PostgreSQL is the move this exists for; PostgreSQL to SQLite and between
 * two databases of one engine work the same way).
 *
 * What is copied is what the modules declare (store.h, struct
 * jg_store_table): each owner lists its tables with their columns and
 * types, and this file only puts the lists in an order that keeps foreign
 * keys satisfied (a row's parent is copied before it).  Before a row moves:
 * - both databases are at the schema this binary knows (no pending or
 *   unknown migration: the target is migrated first, with `jitgate
 *   migrate` as its owner);
 * - every declaration matches both catalogs, and no table of either lacks
 *   one (a table nobody declared would silently stay behind);
 * - the source's whole audit log verifies with the checkpoint keys of
 *   key_dir, as `jitgate audit check` does (a broken log is not moved);
 * - the target is empty: no row in any table but the rows its migrations
 *   seeded (the chain head, the deployment's facts), which the copy
 *   replaces.
 * The copy reads one snapshot of the source (a read transaction) and writes
 * the target in one transaction, so a failure leaves the target as empty as
 * it was.  Before that transaction commits, the copied log is verified
 * inside it (form, links, stored nodes) and must end exactly where the
 * verified source ends - the entries are blobs copied byte for byte, and
 * the hash chain makes equal last hashes mean equal logs - and the
 * source's head is read again outside the snapshot: if it moved, a process
 * is still writing to the source and the copy would miss what it wrote,
 * so nothing is committed.  After the commit the target's whole log is
 * verified again with the checkpoint keys (signatures, every checkpoint,
 * the head), and the row count of every table is compared with the
 * source's snapshot.
 *
 * The telemetry database is not copied (docs/operations.md, "Moving from
 * SQLite to PostgreSQL"): it holds debug data kept for days, and its search
 * index is built by the telemetry module for its engine, not copied row by
 * row.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/audit_state.h"
#include "jitgate/catalog.h"
#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "jitgate/notify.h"
#include "jitgate/probe_status.h"
#include "jitgate/probes.h"
#include "jitgate/session.h"
#include "jitgate/session_grant.h"
#include "jitgate/telemetry.h"

#define MAX_TABLES 64

/* A module's declaration of the tables it owns (JG_STORE_TABLE, store.h). */
typedef const struct jg_store_table *(*table_owner_fn)(size_t *n);

/* In the order rows can be inserted: a table after those its rows refer to. */
static const table_owner_fn owners[] = {
    jg_migrate_tables, /* deployment */
    jg_audit_tables,   /* audit_checkpoints before audit_checkpoint_pushes */
    jg_audit_state_tables,   jg_session_tables, jg_catalog_tables, /* services before ingest_keys */
    jg_access_tables,	     /* access_requests before approvals */
    jg_session_grant_tables, /* after sessions and access_requests */
    jg_probe_tables,	     /* after access_requests (grant_id); probes before events */
    jg_probe_status_tables,  /* after probes (probe_id) */
    jg_notify_tables,
};

int
jg_cli_store_tables(const struct jg_store_table **out, size_t max, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		size_t k = 0;
		table_owner_fn owner = owners[i];
		const struct jg_store_table *t = owner(&k);
		for (size_t j = 0; j < k; j++) {
			if (*n == max)
				return JG_ETOOBIG;
			out[(*n)++] = &t[j];
		}
	}
	return 0;
}

static const char *
engine_name(struct jg_store *s)
{
	return jg_store_engine(s) == JG_STORE_POSTGRES ? "PostgreSQL" : "SQLite";
}

/* Opens one side: an existing database at the schema this binary knows. */
static int
open_side(const struct jg_config *cfg, const char *what, const char *url, const char *password_file,
	  struct jg_store **out)
{
	struct jg_store_options opts = {.password_file = password_file, .must_exist = true};
	char err[1024];
	int pending = 0;

	if (jg_store_open_opts(url, &opts, out, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate store copy: %s: %s\n", what, err);
		return JG_EXIT_STORE;
	}
	if (jg_migrate_status(*out, cfg->migrations_dir, &pending, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate store copy: %s: schema: %s\n", what, err);
		return JG_EXIT_STORE;
	}
	if (pending > 0) {
		fprintf(stderr,
			"jitgate store copy: %s: %d migration(s) pending: migrate it first "
			"('jitgate migrate' with a configuration whose database.owner_url names "
			"it; the source with the binary it last ran)\n",
			what, pending);
		return JG_EXIT_STORE;
	}
	return 0;
}

/* Every declaration against the catalog of one side, and no table of it left out. */
static int
check_schema(struct jg_store *s, const char *what, const struct jg_store_table *const *tables,
	     size_t n)
{
	struct jg_store_conn *conn;
	char err[1024];
	int rc;

	if (jg_store_acquire(s, &conn) != 0) {
		fprintf(stderr, "jitgate store copy: %s: no connection\n", what);
		return JG_EXIT_STORE;
	}
	rc = jg_store_tables_cover(conn, tables, n, jg_telemetry_tables, err, sizeof(err));
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = jg_store_table_check(conn, tables[i], err, sizeof(err));
	jg_store_release(s, conn);
	if (rc != 0) {
		fprintf(stderr, "jitgate store copy: %s: %s\n", what, err);
		return JG_EXIT_STORE;
	}
	return 0;
}

/* The whole log of s verified with the checkpoint keys; prints why not.  0 or JG_EXIT_AUDIT. */
static int
verify_side(struct jg_store *s, const char *what, const struct jg_config *cfg,
	    const struct jg_audit_verifiers *vs, struct jg_chain *chain)
{
	struct jg_chain_fault fault;
	uint64_t size = 0;
	int rc = jg_audit_verify_store_chain(s, vs, (int)cfg->audit_verify_threads, &size, chain,
					     &fault);
	if (rc == 0)
		return 0;
	if (rc == JG_EVERIFY && fault.seq != UINT64_MAX)
		fprintf(stderr,
			"jitgate store copy: %s: the audit log does not verify: first bad seq "
			"%llu: %s\n",
			what, (unsigned long long)fault.seq, fault.why);
	else
		fprintf(stderr, "jitgate store copy: %s: the audit log does not verify: %s\n", what,
			rc == JG_EVERIFY ? fault.why : jg_strerror(rc));
	return JG_EXIT_AUDIT;
}

/* The same verified chain: as many entries, the same last leaf hash and tree root. */
static bool
same_chain(const struct jg_chain *a, const struct jg_chain *b)
{
	uint8_t ra[32], rb[32];
	return a->next_seq == b->next_seq && CRYPTO_memcmp(a->prev, b->prev, 32) == 0 &&
	       jg_merkle_frontier_root(&a->tree, ra) == 0 &&
	       jg_merkle_frontier_root(&b->tree, rb) == 0 && CRYPTO_memcmp(ra, rb, 32) == 0;
}

/* The target holds nothing but what its migrations seeded. */
static int
check_empty(struct jg_store *dst, const struct jg_store_table *const *tables, size_t n)
{
	struct jg_store_conn *conn;
	int rc = 0;

	if (jg_store_acquire(dst, &conn) != 0)
		return JG_EXIT_STORE;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t rows = 0;
		if (tables[i]->seeded)
			continue;
		if (jg_store_table_count(conn, tables[i], &rows) != 0) {
			fprintf(stderr, "jitgate store copy: target: %s cannot be counted: %s\n",
				tables[i]->name, jg_store_errmsg(conn));
			rc = JG_EXIT_STORE;
		} else if (rows != 0) {
			fprintf(stderr,
				"jitgate store copy: refused: the target is not empty (%s holds "
				"%lld row(s)); copy into a database that was just made and "
				"migrated ('jitgate migrate') and has never served\n",
				tables[i]->name, (long long)rows);
			rc = JG_EXIT_STORE;
		}
	}
	jg_store_release(dst, conn);
	return rc;
}

struct copy_state {
	const struct jg_store_table *const *tables;
	size_t n;
	int64_t rows[MAX_TABLES]; /* the source's snapshot count of each table */
	const struct jg_chain *source;
};

/*
 * Every table in one snapshot of src and one transaction of dst, checked
 * before the commit (see the top of this file).
 */
static int
copy_all(struct jg_store *src, struct jg_store *dst, struct copy_state *cs)
{
	struct jg_store_conn *from = NULL, *to = NULL;
	struct jg_chain_fault fault;
	struct jg_chain copied;
	char err[1024];
	uint64_t size = 0, added = 0;
	int rc = JG_EXIT_STORE, step;

	if (jg_store_acquire(src, &from) != 0 || jg_store_acquire(dst, &to) != 0) {
		fprintf(stderr, "jitgate store copy: no connection\n");
		goto out;
	}
	if (jg_store_begin_read(from) != 0 || jg_store_begin(to) != 0) {
		fprintf(stderr, "jitgate store copy: cannot begin: %s\n", jg_store_errmsg(to));
		goto out;
	}
	/* the snapshot must be the log that was verified */
	if (jg_audit_read_size(from, &size) != 0 || size != cs->source->next_seq) {
		fprintf(stderr,
			"jitgate store copy: refused: the source's audit log changed since it was "
			"verified (%llu entries, now %llu): stop every jitgate using it first\n",
			(unsigned long long)cs->source->next_seq, (unsigned long long)size);
		goto out;
	}
	for (size_t i = 0; i < cs->n; i++) {
		const struct jg_store_table *t = cs->tables[i];
		int64_t copied_rows = 0, after = 0;
		if (jg_store_table_count(from, t, &cs->rows[i]) != 0) {
			fprintf(stderr, "jitgate store copy: source: %s cannot be counted: %s\n",
				t->name, jg_store_errmsg(from));
			goto out;
		}
		if ((step = jg_store_table_copy(from, to, t, &copied_rows, err, sizeof(err))) !=
		    0) {
			fprintf(stderr, "jitgate store copy: %s%s\n", err,
				step == JG_EDENIED ? " (copy as the target's owner: "
						     "database.owner_url)"
						   : "");
			goto out;
		}
		if (jg_store_table_count(to, t, &after) != 0 || copied_rows != cs->rows[i] ||
		    after != cs->rows[i]) {
			fprintf(stderr,
				"jitgate store copy: %s: %lld row(s) in the source, %lld copied, "
				"%lld in the target: nothing committed\n",
				t->name, (long long)cs->rows[i], (long long)copied_rows,
				(long long)after);
			goto out;
		}
		printf("  %-26s %10lld row(s)\n", t->name, (long long)cs->rows[i]);
	}
	/* the copied log, inside the target's transaction, ends where the verified source ends */
	jg_chain_init(&copied, 1);
	step = jg_audit_chain_extend_conn(to, &copied, &added, &fault);
	if (step != 0 || !same_chain(&copied, cs->source)) {
		fprintf(stderr,
			"jitgate store copy: the copied audit log is not the source's (%s): "
			"nothing committed\n",
			step != 0 ? fault.why : "another chain");
		goto out;
	}
	/* a process still writing to the source would lose what it writes after the snapshot */
	if (jg_audit_size(src, &size) != 0 || size != cs->source->next_seq) {
		fprintf(stderr,
			"jitgate store copy: refused: the source's audit log grew during the copy "
			"(%llu entries, now %llu): stop every jitgate using it and copy again; "
			"nothing committed\n",
			(unsigned long long)cs->source->next_seq, (unsigned long long)size);
		goto out;
	}
	if (jg_store_commit(to) != 0) {
		fprintf(stderr, "jitgate store copy: commit: %s\n", jg_store_errmsg(to));
		goto out;
	}
	rc = 0;
out:
	if (from) {
		jg_store_rollback(from);
		jg_store_release(src, from);
	}
	if (to) {
		jg_store_rollback(to);
		jg_store_release(dst, to);
	}
	return rc;
}

/* After the commit: every table of the target holds what the source's snapshot held. */
static int
recount(struct jg_store *dst, const struct copy_state *cs)
{
	struct jg_store_conn *conn;
	int rc = 0;

	if (jg_store_acquire(dst, &conn) != 0)
		return JG_EXIT_STORE;
	for (size_t i = 0; i < cs->n && rc == 0; i++) {
		int64_t rows = -1;
		if (jg_store_table_count(conn, cs->tables[i], &rows) != 0 || rows != cs->rows[i]) {
			fprintf(
			    stderr,
			    "jitgate store copy: target: %s holds %lld row(s) after the commit, "
			    "the source %lld\n",
			    cs->tables[i]->name, (long long)rows, (long long)cs->rows[i]);
			rc = JG_EXIT_STORE;
		}
	}
	jg_store_release(dst, conn);
	return rc;
}

static int
cmd_copy(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"from-password-file", required_argument, NULL, 'F'},
	    {"to-password-file", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml", *from = NULL, *to = NULL, *from_pw = NULL,
		   *to_pw = NULL;
	const struct jg_store_table *tables[MAX_TABLES];
	struct jg_config *cfg = NULL;
	struct jg_store *src = NULL, *dst = NULL;
	struct jg_audit_verifiers vs;
	struct jg_chain source, target;
	struct copy_state cs = {.tables = tables, .source = &source};
	char err[1024];
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'F': from_pw = optarg; break;
		case 'T': to_pw = optarg; break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc || from == NULL || to == NULL) {
		fprintf(stderr, "usage: jitgate store copy [-c FILE] --from URL --to URL "
				"[--from-password-file F] [--to-password-file F]\n");
		return JG_EXIT_USAGE;
	}
	if (strcmp(from, to) == 0) {
		fprintf(stderr, "jitgate store copy: --from and --to name the same database\n");
		return JG_EXIT_USAGE;
	}
	if ((rc = jg_cli_load_config(config, &cfg)) != 0)
		return rc;
	if (jg_cli_store_tables(tables, MAX_TABLES, &cs.n) != 0) {
		rc = JG_EXIT_RUNTIME;
		goto out;
	}
	if (jg_audit_verifiers_load(cfg->key_dir, cfg->audit_origin, &vs, err, sizeof(err)) != 0) {
		fprintf(stderr, "jitgate store copy: checkpoint keys: %s\n", err);
		rc = JG_EXIT_CONFIG;
		goto out;
	}
	if ((rc = open_side(cfg, "source", from, from_pw, &src)) != 0 ||
	    (rc = open_side(cfg, "target", to, to_pw, &dst)) != 0 ||
	    (rc = check_schema(src, "source", tables, cs.n)) != 0 ||
	    (rc = check_schema(dst, "target", tables, cs.n)) != 0)
		goto out;
	if ((rc = verify_side(src, "source", cfg, &vs, &source)) != 0)
		goto out;
	if ((rc = check_empty(dst, tables, cs.n)) != 0)
		goto out;
	printf("copying %s (audit log: %llu entries, verified) into %s:\n", engine_name(src),
	       (unsigned long long)source.next_seq, engine_name(dst));
	if ((rc = copy_all(src, dst, &cs)) != 0 || (rc = recount(dst, &cs)) != 0)
		goto out;
	if ((rc = verify_side(dst, "target", cfg, &vs, &target)) != 0)
		goto out;
	if (!same_chain(&source, &target)) {
		fprintf(stderr,
			"jitgate store copy: target: its verified log is not the source's\n");
		rc = JG_EXIT_AUDIT;
		goto out;
	}
	printf("copied %zu tables, each with the source's row count; the copy's audit log: %llu "
	       "entries, every checkpoint and tree node verified, the same chain as the "
	       "source's\n",
	       cs.n, (unsigned long long)target.next_seq);
	printf("not copied: the telemetry database (docs/operations.md, Moving from SQLite to "
	       "PostgreSQL)\n");
	rc = JG_EXIT_OK;
out:
	jg_store_close(src);
	jg_store_close(dst);
	jg_config_free(cfg);
	return rc;
}

int
jg_cmd_store(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "copy") == 0)
		return cmd_copy(argc - 1, argv + 1);
	fprintf(stderr, "jitgate store: unknown action '%s'\n", argc >= 2 ? argv[1] : "");
	return jg_cli_usage(stderr, JG_EXIT_USAGE);
}
