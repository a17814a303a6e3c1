/*
 * telemetry.c - the telemetry database: where it lives, opening it with a
 * current schema, and applying its migrations (telemetry.h).  The rest of
 * the module is described in telemetry_int.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "telemetry_int.h"

char *
jg_telemetry_migrations_dir(const struct jg_config *cfg)
{
	char *dir = NULL;
	if (asprintf(&dir, "%s/telemetry", cfg->migrations_dir) < 0)
		return NULL;
	return dir;
}

int
jg_telemetry_open(const struct jg_config *cfg, struct jg_store **out, char *err, size_t errlen)
{
	char *dir = jg_telemetry_migrations_dir(cfg);
	int pending = 0, rc;

	*out = NULL;
	if (dir == NULL)
		return JG_ENOMEM;
	rc = jg_store_open(cfg->telemetry_path, out, err, errlen);
	if (rc == 0)
		rc = jg_migrate_status(*out, dir, &pending, err, errlen);
	if (rc == 0 && pending > 0) {
		snprintf(err, errlen, "%s: %d telemetry migration(s) pending", cfg->telemetry_path,
			 pending);
		rc = JG_ECONFLICT;
	}
	free(dir);
	if (rc != 0) {
		jg_store_close(*out);
		*out = NULL;
	}
	return rc;
}

int
jg_telemetry_migrate(const struct jg_config *cfg, int *applied, char *err, size_t errlen)
{
	char *dir = jg_telemetry_migrations_dir(cfg);
	struct jg_store *db = NULL;
	int rc;

	if (dir == NULL)
		return JG_ENOMEM;
	rc = jg_store_open(cfg->telemetry_path, &db, err, errlen);
	if (rc == 0)
		rc = jg_migrate_apply(db, dir, applied, err, errlen);
	jg_store_close(db);
	free(dir);
	return rc;
}
