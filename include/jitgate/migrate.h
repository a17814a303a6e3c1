/*
 * migrate.h - forward-only schema migrations.
 *
 * Files named NNNN_name.sql in a directory are applied in version order,
 * each once, each in its own transaction, and recorded in
 * schema_migrations with their SHA-256.  A recorded migration whose file has
 * changed, a version recorded in the database but missing from the
 * directory (a downgrade), a duplicate version or a misnamed .sql file is
 * refused: the schema must be exactly what the files say.
 */
#ifndef JITGATE_MIGRATE_H
#define JITGATE_MIGRATE_H

#include <stddef.h>

#include "jitgate/store.h"

/*
 * Applies pending migrations from dir.  *applied (may be NULL) receives how
 * many were applied now.  On failure writes the file and reason to err.
 */
int jg_migrate_apply(struct jg_store *store, const char *dir, int *applied, char *err,
		     size_t errlen);

/*
 * Checks without changing anything: *pending receives the number of
 * migrations not yet applied.  Fails like jg_migrate_apply() on a changed,
 * missing or misnamed migration.
 */
int jg_migrate_status(struct jg_store *store, const char *dir, int *pending, char *err,
		      size_t errlen);

#endif
