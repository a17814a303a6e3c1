/*
 * catalog.c - services and their owners (catalog.h); their agents' ingest
 * keys are in catalog_keys.c.
 *
 * Each change is a work function run by the audit writer: it changes the
 * rows through the batch connection and appends its audit entry there, so
 * the change and the entry commit together (or, when the entry cannot be
 * written, neither happens and the caller gets JG_EUNAVAIL).  Refusals
 * (exists, not found) roll the savepoint back and write nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "jitgate/error.h"

static const char sql_service_add[] =
    "INSERT INTO services (name, owners, created_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET owners = excluded.owners, created_at = excluded.created_at, "
    "removed_at = NULL WHERE services.removed_at IS NOT NULL";
static const char sql_service_remove[] =
    "UPDATE services SET removed_at = ? WHERE name = ? AND removed_at IS NULL";
static const char sql_service_live[] =
    "SELECT 1 FROM services WHERE name = ? AND removed_at IS NULL";
static const char sql_service_owners[] =
    "SELECT owners FROM services WHERE name = ? AND removed_at IS NULL";
static const char sql_service_list[] =
    "SELECT s.name, s.owners, s.created_at, k.id, k.created_at FROM services s "
    "LEFT JOIN ingest_keys k ON k.service = s.name AND k.revoked_at IS NULL "
    "WHERE s.removed_at IS NULL ORDER BY s.name";

bool
jg_catalog_service_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > JG_SERVICE_NAME_MAX ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

bool
jg_catalog_group_valid(const char *g)
{
	size_t n = g ? strlen(g) : 0;
	return n > 0 && n <= JG_GROUP_NAME_MAX &&
	       strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/-") ==
		   n;
}

/* ---- services ------------------------------------------------------------- */

struct service_job {
	const struct jg_catalog_ctx *ctx;
	const char *name;
	json_t *owners; /* add */
};

int
jg_catalog_service_live(struct jg_store_conn *conn, const char *name)
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_service_live, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, name);
	int rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW ? 0 : rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
}

int
jg_catalog_service_exists(struct jg_store *store, const char *name)
{
	struct jg_store_conn *conn;

	if (!jg_catalog_service_name_valid(name))
		return JG_ENOTFOUND;
	if (jg_store_acquire(store, &conn) != 0)
		return JG_ESTORE;
	int rc = jg_catalog_service_live(conn, name);
	jg_store_release(store, conn);
	return rc;
}

static int
service_add_fn(struct jg_audit_tx *tx, void *arg)
{
	struct service_job *j = arg;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	char *owners = json_dumps(j->owners, JSON_COMPACT);
	int rc = JG_ENOMEM;

	if (owners == NULL)
		return JG_ENOMEM;
	if (jg_stmt_prepare(conn, sql_service_add, &st) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	jg_stmt_bind_text(st, 1, j->name);
	jg_stmt_bind_text(st, 2, owners);
	jg_stmt_bind_int64(st, 3, j->ctx->now);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		rc = JG_ESTORE;
		goto out;
	}
	if (jg_store_changes(conn) == 0) {
		rc = JG_ECONFLICT;
		goto out;
	}
	json_t *data = json_pack("{s:s,s:O}", "service", j->name, "owners", j->owners);
	rc = data ? jg_audit_tx_append(tx, "service.added", j->ctx->actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
out:
	free(owners);
	return rc;
}

int
jg_catalog_service_add(const struct jg_catalog_ctx *ctx, const char *name,
		       const char *const *owners, size_t nowners)
{
	if (!jg_catalog_service_name_valid(name) || nowners == 0 || nowners > JG_SERVICE_OWNERS_MAX)
		return JG_EINVAL;
	json_t *list = json_array();
	if (list == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < nowners; i++) {
		if (!jg_catalog_group_valid(owners[i])) {
			json_decref(list);
			return JG_EINVAL;
		}
		int dup = 0;
		for (size_t k = 0; k < i; k++)
			dup |= strcmp(owners[k], owners[i]) == 0;
		if (!dup)
			json_array_append_new(list, json_string(owners[i]));
	}
	struct service_job j = {.ctx = ctx, .name = name, .owners = list};
	int rc = jg_audit_run(ctx->audit, service_add_fn, &j);
	json_decref(list);
	return rc;
}

static int
service_remove_fn(struct jg_audit_tx *tx, void *arg)
{
	struct service_job *j = arg;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	char key_id[JG_INGEST_KEY_ID_MAX + 1];
	int rc;

	if (jg_stmt_prepare(conn, sql_service_remove, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, j->ctx->now);
	jg_stmt_bind_text(st, 2, j->name);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	if (jg_store_changes(conn) == 0)
		return JG_ENOTFOUND;
	rc = jg_catalog_key_active(conn, j->name, key_id);
	if (rc != 0 && rc != JG_ENOTFOUND)
		return rc;
	int had_key = rc == 0;
	if (had_key && (rc = jg_catalog_key_revoke_active(conn, j->name, j->ctx->now)) != 0)
		return rc;
	json_t *data =
	    json_pack("{s:s,s:s?}", "service", j->name, "revoked_key", had_key ? key_id : NULL);
	rc =
	    data ? jg_audit_tx_append(tx, "service.removed", j->ctx->actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
	return rc;
}

int
jg_catalog_service_remove(const struct jg_catalog_ctx *ctx, const char *name)
{
	if (!jg_catalog_service_name_valid(name))
		return JG_ENOTFOUND;
	struct service_job j = {.ctx = ctx, .name = name};
	return jg_audit_run(ctx->audit, service_remove_fn, &j);
}

int
jg_catalog_service_list(struct jg_store *store, json_t **out)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st = NULL;
	int rc;

	*out = NULL;
	json_t *list = json_array();
	if (list == NULL)
		return JG_ENOMEM;
	if (jg_store_acquire(store, &conn) != 0) {
		json_decref(list);
		return JG_ESTORE;
	}
	rc = jg_stmt_prepare(conn, sql_service_list, &st);
	while (rc == 0 && (rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		json_t *owners = json_loads(jg_stmt_column_text(st, 1), 0, NULL);
		json_t *key =
		    jg_stmt_column_is_null(st, 3)
			? json_null()
			: json_pack("{s:s,s:I}", "id", jg_stmt_column_text(st, 3), "created_at",
				    (json_int_t)jg_stmt_column_int64(st, 4));
		json_array_append_new(
		    list, json_pack("{s:s,s:o,s:I,s:o}", "name", jg_stmt_column_text(st, 0),
				    "owners", owners ? owners : json_array(), "created_at",
				    (json_int_t)jg_stmt_column_int64(st, 2), "ingest_key", key));
		rc = 0;
	}
	if (rc == JG_STMT_DONE || rc == JG_STMT_ROW)
		rc = 0;
	else
		rc = JG_ESTORE;
	if (st != NULL)
		jg_stmt_finish(st);
	jg_store_release(store, conn);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	*out = list;
	return 0;
}

/* services before the ingest keys that refer to them, as `jitgate store copy` moves them. */
static const struct jg_store_table catalog_tables[] = {
    JG_STORE_TABLE("services", "name, owners, created_at, removed_at", "ttii", "name",
		   "?, ?, ?, ?"),
    JG_STORE_TABLE("ingest_keys", "id, service, sha256, created_at, revoked_at", "ttbii", "id",
		   "?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_catalog_tables(size_t *n)
{
	*n = sizeof(catalog_tables) / sizeof(catalog_tables[0]);
	return catalog_tables;
}

int
jg_catalog_service_owners(struct jg_store *store, const char *name, json_t **owners)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	*owners = NULL;
	if (!jg_catalog_service_name_valid(name))
		return JG_ENOTFOUND;
	if (jg_store_acquire(store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_service_owners, &st) != 0) {
		jg_store_release(store, conn);
		return JG_ESTORE;
	}
	jg_stmt_bind_text(st, 1, name);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		*owners = json_loads(jg_stmt_column_text(st, 0), 0, NULL);
		rc = json_is_array(*owners) ? 0 : JG_ESTORE;
		if (rc != 0) {
			json_decref(*owners);
			*owners = NULL;
		}
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	jg_store_release(store, conn);
	return rc;
}
