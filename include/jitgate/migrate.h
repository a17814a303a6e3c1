/*
 * migrate.h - forward-only schema migrations.
 *
 * Each engine has its own files under one root (the configuration's
 * migrations_dir): ROOT/sqlite/ and ROOT/postgres/ for the state database,
 * ROOT/<engine>/telemetry/ for the telemetry database (a "set").  The
 * store's engine picks the folder.  A migration of one version exists for
 * both engines under the same name.
 *
 * Files named NNNN_name.sql in that folder are applied in version order,
 * each once, each in its own transaction, and recorded in
 * schema_migrations with their SHA-256.  A recorded migration whose file has
 * changed, a version recorded in the database but missing from the
 * directory (a downgrade), a duplicate version or a misnamed .sql file is
 * refused: the schema must be exactly what the files say.
 */
#ifndef JITGATE_MIGRATE_H
#define JITGATE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "jitgate/store.h"

/* The key of the PostgreSQL advisory lock a migration run holds (docs/operations.md). */
#define JG_MIGRATE_LOCK_KEY INT64_C(0x6a67206d69677261) /* "jg migra" */

/*
 * Applies pending migrations of the state database from root/<engine>/.
 * *applied (may be NULL) receives how many were applied now.  On failure
 * writes the file and reason to err.  PostgreSQL: the whole run holds a
 * session advisory lock (JG_MIGRATE_LOCK_KEY), so concurrent runs (several
 * replicas starting at once) apply each file once, one after the other.
 * The store's role must own the schema (database.owner_url).
 */
int jg_migrate_apply(struct jg_store *store, const char *root, int *applied, char *err,
		     size_t errlen);

/*
 * Checks without changing anything (no table is created): *pending
 * receives the number of migrations not yet applied.  Fails like
 * jg_migrate_apply() on a changed, missing or misnamed migration.
 */
int jg_migrate_status(struct jg_store *store, const char *root, int *pending, char *err,
		      size_t errlen);

/*
 * The same for another set of migrations: root/<engine>/<set>/ ("telemetry",
 * the only one; JG_EINVAL for another name).  On PostgreSQL the set records
 * its files in a table of its own (telemetry_schema_migrations), so it may
 * share a database with the state migrations, which number from 0001 too.
 */
int jg_migrate_apply_set(struct jg_store *store, const char *root, const char *set, int *applied,
			 char *err, size_t errlen);
int jg_migrate_status_set(struct jg_store *store, const char *root, const char *set, int *pending,
			  char *err, size_t errlen);

/*
 * The tables the migrations themselves own besides schema_migrations (which
 * is never copied): deployment, the facts of the deployment, declared for `jitgate store copy`
 * (store.h, struct jg_store_table): *n receives how many; the array is static.
 */
const struct jg_store_table *jg_migrate_tables(size_t *n);

#endif
