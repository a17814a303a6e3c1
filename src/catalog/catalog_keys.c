/*
 * catalog_keys.c - the ingest keys of the catalog's services (catalog.h).
 *
 * Keys are made from 32 bytes of RAND_bytes, shown once, and stored as
 * SHA-256 of the whole key string.  Authentication hashes the presented
 * key and compares it in constant time with every active key: the query
 * does not select by the hash, so nothing about the stored hashes shows in
 * the timing beyond how many keys there are.  Each change runs through the
 * audit writer with its entry, as the services' do (catalog.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "catalog_int.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/random.h"
#include "jitgate/sha256.h"

#define MAX_ACTIVE_KEYS 100000 /* a bound on the scan; far above one key per service */

static const char sql_key_active[] =
    "SELECT id FROM ingest_keys WHERE service = ? AND revoked_at IS NULL";
static const char sql_key_insert[] =
    "INSERT INTO ingest_keys (id, service, sha256, created_at) VALUES (?, ?, ?, ?)";
static const char sql_key_revoke[] =
    "UPDATE ingest_keys SET revoked_at = ? WHERE service = ? AND revoked_at IS NULL";
static const char sql_key_all_active[] =
    "SELECT k.id, k.service, k.sha256 FROM ingest_keys k JOIN services s ON s.name = k.service "
    "WHERE k.revoked_at IS NULL AND s.removed_at IS NULL LIMIT 100000";

int
jg_catalog_key_active(struct jg_store_conn *conn, const char *service,
		      char id[JG_INGEST_KEY_ID_MAX + 1])
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_key_active, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, service);
	int rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW)
		snprintf(id, JG_INGEST_KEY_ID_MAX + 1, "%s", jg_stmt_column_text(st, 0));
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW ? 0 : rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
}

int
jg_catalog_key_revoke_active(struct jg_store_conn *conn, const char *service, int64_t now)
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_key_revoke, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_text(st, 2, service);
	int rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

/* ---- ingest keys ---------------------------------------------------------- */

enum key_op { KEY_CREATE, KEY_ROTATE, KEY_REVOKE };

struct key_job {
	const struct jg_catalog_ctx *ctx;
	const char *service;
	enum key_op op;
	uint8_t hash[32];		       /* of the new key */
	char id[JG_INGEST_KEY_ID_MAX + 1];     /* the new key's (revoke: the revoked one's) */
	char old_id[JG_INGEST_KEY_ID_MAX + 1]; /* rotate: the replaced key */
};

static int
key_fn(struct jg_audit_tx *tx, void *arg)
{
	struct key_job *j = arg;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	json_t *data = NULL;
	const char *type;
	int rc;

	if ((rc = jg_catalog_service_live(conn, j->service)) != 0)
		return rc;
	rc = jg_catalog_key_active(conn, j->service, j->old_id);
	if (rc != 0 && rc != JG_ENOTFOUND)
		return rc;
	if (j->op == KEY_CREATE && rc == 0)
		return JG_ECONFLICT;
	if (j->op != KEY_CREATE && rc == JG_ENOTFOUND)
		return JG_ENOTFOUND;
	if (j->op != KEY_CREATE &&
	    (rc = jg_catalog_key_revoke_active(conn, j->service, j->ctx->now)) != 0)
		return rc;
	if (j->op != KEY_REVOKE) {
		if (jg_stmt_prepare(conn, sql_key_insert, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_text(st, 1, j->id);
		jg_stmt_bind_text(st, 2, j->service);
		jg_stmt_bind_blob(st, 3, j->hash, sizeof(j->hash));
		jg_stmt_bind_int64(st, 4, j->ctx->now);
		rc = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (rc != JG_STMT_DONE)
			return JG_ESTORE;
	}
	switch (j->op) {
	case KEY_CREATE:
		type = "ingest_key.created";
		data = json_pack("{s:s,s:s}", "service", j->service, "key_id", j->id);
		break;
	case KEY_ROTATE:
		type = "ingest_key.rotated";
		data = json_pack("{s:s,s:s,s:s}", "service", j->service, "key_id", j->id,
				 "revoked_key", j->old_id);
		break;
	default:
		type = "ingest_key.revoked";
		memcpy(j->id, j->old_id, sizeof(j->id));
		data = json_pack("{s:s,s:s}", "service", j->service, "key_id", j->id);
		break;
	}
	rc = data ? jg_audit_tx_append(tx, type, j->ctx->actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
	return rc;
}

static int
key_change(const struct jg_catalog_ctx *ctx, const char *service, enum key_op op,
	   char key[JG_INGEST_KEY_LEN + 1], char id[JG_INGEST_KEY_ID_MAX + 1])
{
	struct key_job j = {.ctx = ctx, .service = service, .op = op};
	char rnd[48];
	int rc;

	if (key != NULL)
		key[0] = '\0';
	id[0] = '\0';
	if (key == NULL && op != KEY_REVOKE)
		return JG_EINVAL; /* a new key needs somewhere to go */
	if (!jg_catalog_service_name_valid(service))
		return JG_ENOTFOUND;
	if (op != KEY_REVOKE) {
		char idrnd[24];
		if ((rc = jg_random_token(32, rnd, sizeof(rnd))) != 0 ||
		    (rc = jg_random_token(12, idrnd, sizeof(idrnd))) != 0)
			goto out;
		size_t p = sizeof(JG_INGEST_KEY_PREFIX) - 1;
		if (strlen(rnd) != JG_INGEST_KEY_LEN - p) {
			rc = JG_ECRYPTO;
			goto out;
		}
		memcpy(key, JG_INGEST_KEY_PREFIX, p);
		memcpy(key + p, rnd, JG_INGEST_KEY_LEN - p + 1);
		snprintf(j.id, sizeof(j.id), "igk_%s", idrnd);
		if ((rc = jg_sha256(key, strlen(key), j.hash)) != 0)
			goto out;
	}
	rc = jg_audit_run(ctx->audit, key_fn, &j);
	if (rc == 0)
		memcpy(id, j.id, sizeof(j.id));
out:
	if (rc != 0 && key != NULL)
		OPENSSL_cleanse(key, JG_INGEST_KEY_LEN + 1);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	OPENSSL_cleanse(&j, sizeof(j));
	return rc;
}

int
jg_catalog_key_create(const struct jg_catalog_ctx *ctx, const char *service,
		      char key[JG_INGEST_KEY_LEN + 1], char id[JG_INGEST_KEY_ID_MAX + 1])
{
	return key_change(ctx, service, KEY_CREATE, key, id);
}

int
jg_catalog_key_rotate(const struct jg_catalog_ctx *ctx, const char *service,
		      char key[JG_INGEST_KEY_LEN + 1], char id[JG_INGEST_KEY_ID_MAX + 1])
{
	return key_change(ctx, service, KEY_ROTATE, key, id);
}

int
jg_catalog_key_revoke(const struct jg_catalog_ctx *ctx, const char *service,
		      char id[JG_INGEST_KEY_ID_MAX + 1])
{
	return key_change(ctx, service, KEY_REVOKE, NULL, id);
}

/* ---- authentication ------------------------------------------------------- */

static bool
key_well_formed(const char *key)
{
	size_t n = strnlen(key, JG_INGEST_KEY_LEN + 1);
	size_t p = sizeof(JG_INGEST_KEY_PREFIX) - 1;
	return n == JG_INGEST_KEY_LEN && strncmp(key, JG_INGEST_KEY_PREFIX, p) == 0 &&
	       jg_b64url_valid(key + p, n - p);
}

int
jg_catalog_ingest_auth(struct jg_store *store, const char *key, struct jg_ingest_caller *caller)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st = NULL;
	uint8_t given[32];
	int found = 0, rc;

	memset(caller, 0, sizeof(*caller));
	if (key == NULL || !key_well_formed(key) || jg_sha256(key, strlen(key), given) != 0)
		return JG_EDENIED;
	if (jg_store_acquire(store, &conn) != 0)
		return JG_ESTORE;
	rc = jg_stmt_prepare(conn, sql_key_all_active, &st);
	/* every row is compared: no early exit on a match */
	while (rc == 0 && (rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		size_t len = 0;
		const void *stored = jg_stmt_column_blob(st, 2, &len);
		int match = stored != NULL && len == sizeof(given) &&
			    CRYPTO_memcmp(stored, given, sizeof(given)) == 0;
		if (match && !found) {
			snprintf(caller->key_id, sizeof(caller->key_id), "%s",
				 jg_stmt_column_text(st, 0));
			snprintf(caller->service, sizeof(caller->service), "%s",
				 jg_stmt_column_text(st, 1));
			found = 1;
		}
		rc = 0;
	}
	rc = rc == JG_STMT_DONE || rc == 0 ? 0 : JG_ESTORE;
	if (st != NULL)
		jg_stmt_finish(st);
	jg_store_release(store, conn);
	OPENSSL_cleanse(given, sizeof(given));
	if (rc != 0) {
		memset(caller, 0, sizeof(*caller));
		return rc;
	}
	return found ? 0 : JG_EDENIED;
}
