/*
 * telemetry.c - the telemetry database: where it lives, opening it with a
 * current schema, and applying its migrations (telemetry.h).  The rest of
 * the module is described in telemetry_int.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "telemetry_int.h"

/* The telemetry database's migrations: migrations_dir/<engine>/telemetry/ (migrate.h). */
#define TELEMETRY_SET "telemetry"

char *
jg_telemetry_migrations_dir(const struct jg_config *cfg)
{
	char *dir = NULL;
	if (asprintf(&dir, "%s/sqlite/" TELEMETRY_SET, cfg->migrations_dir) < 0)
		return NULL;
	return dir;
}

/* The serving connection, or the schema owner's (migrate), with its password file. */
static int
open_store(const struct jg_config *cfg, bool owner, struct jg_store **out, char *err, size_t errlen)
{
	struct jg_store_options opts = {
	    .password_file =
		owner ? cfg->telemetry_owner_password_file : cfg->telemetry_password_file,
	};
	return jg_store_open_opts(owner ? cfg->telemetry_owner_store : cfg->telemetry_store, &opts,
				  out, err, errlen);
}

int
jg_telemetry_open(const struct jg_config *cfg, struct jg_store **out, char *err, size_t errlen)
{
	int pending = 0, rc;

	*out = NULL;
	rc = open_store(cfg, false, out, err, errlen);
	if (rc == 0)
		rc = jg_migrate_status_set(*out, cfg->migrations_dir, TELEMETRY_SET, &pending, err,
					   errlen);
	if (rc == 0 && pending > 0) {
		snprintf(err, errlen, "%s: %d telemetry migration(s) pending", cfg->telemetry_store,
			 pending);
		rc = JG_ECONFLICT;
	}
	if (rc != 0) {
		jg_store_close(*out);
		*out = NULL;
	}
	return rc;
}

int
jg_telemetry_migrate(const struct jg_config *cfg, int *applied, char *err, size_t errlen)
{
	struct jg_store *db = NULL;
	/* as the schema's owner (telemetry.owner_url): the serving role may create nothing */
	int rc = open_store(cfg, true, &db, err, errlen);
	if (rc == 0)
		rc = jg_migrate_apply_set(db, cfg->migrations_dir, TELEMETRY_SET, applied, err,
					  errlen);
	jg_store_close(db);
	return rc;
}
