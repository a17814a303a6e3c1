/*
 * test_catalog.c - the service catalog and ingest keys against a real store.
 *
 * Each test gets a fresh database migrated by the repository's migrations/
 * (tests run from the repository root), fresh keys and a started audit
 * writer.  The tests prove that keys have the documented form and only
 * their SHA-256 is stored; that authentication accepts exactly the active
 * key of a live service (not a revoked, rotated, altered or malformed one,
 * nor one of a removed service); that refusals change nothing and write no
 * audit entry; and that every change writes exactly one entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "jitgate/audit.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/store.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	char db[128];
	char keys[128];
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_catalog_ctx ctx;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct jg_audit_config cfg = {.origin = "jitgate.test/catalog",
				      .checkpoint_entries = 1000000,
				      .checkpoint_seconds = 3600,
				      .verify_threads = 1};
	char err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-catalog-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	if (jg_store_open(f->db, &f->store, err, sizeof(err)) != 0)
		fail_msg("jg_store_open: %s", err);
	if (jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("jg_migrate_apply: %s", err);
	if (jg_keys_generate(f->keys, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	if (jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	f->ctx = (struct jg_catalog_ctx){
	    .store = f->store, .audit = f->audit, .actor = "operator:test", .now = 1764000000};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static int64_t
query_int(struct jg_store *store, const char *sql, const char *arg)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t v = -1;

	assert_int_equal(jg_store_acquire(store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (arg)
		jg_stmt_bind_text(st, 1, arg);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(store, c);
	return v;
}

static uint64_t
audit_size(struct fixture *f)
{
	uint64_t n = 0;
	assert_int_equal(jg_audit_size(f->store, &n), 0);
	return n;
}

static const char *const owners[] = {"payments-eng", "payments-leads"};

static void
add_pg(struct fixture *f)
{
	assert_int_equal(jg_catalog_service_add(&f->ctx, "payment-gateway", owners, 2), 0);
}

static void
test_service_add_validates_and_refuses_duplicates(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_group[] = {"ok", "not ok"};

	add_pg(f);
	uint64_t size = audit_size(f);
	assert_int_equal(jg_catalog_service_add(&f->ctx, "payment-gateway", owners, 1),
			 JG_ECONFLICT);
	assert_int_equal(jg_catalog_service_add(&f->ctx, "Payment", owners, 1), JG_EINVAL);
	assert_int_equal(jg_catalog_service_add(&f->ctx, "-lead", owners, 1), JG_EINVAL);
	assert_int_equal(jg_catalog_service_add(&f->ctx, "svc", owners, 0), JG_EINVAL);
	assert_int_equal(jg_catalog_service_add(&f->ctx, "svc", bad_group, 2), JG_EINVAL);
	assert_int_equal(audit_size(f), size); /* refusals leave no entry */

	json_t *list = NULL;
	assert_int_equal(jg_catalog_service_list(f->store, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_t *s = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(s, "name")), "payment-gateway");
	assert_int_equal(json_array_size(json_object_get(s, "owners")), 2);
	assert_true(json_is_null(json_object_get(s, "ingest_key")));
	json_decref(list);
}

static void
test_key_create_stores_only_the_hash(void **state)
{
	struct fixture *f = *state;
	char key[JG_INGEST_KEY_LEN + 1], id[JG_INGEST_KEY_ID_MAX + 1];
	uint8_t md[32];
	unsigned int mdlen;

	add_pg(f);
	assert_int_equal(jg_catalog_key_create(&f->ctx, "payment-gateway", key, id), 0);
	assert_int_equal(strlen(key), JG_INGEST_KEY_LEN);
	assert_memory_equal(key, "jgk_", 4);
	assert_memory_equal(id, "igk_", 4);
	assert_int_equal(EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL), 1);

	struct jg_store_conn *c;
	struct jg_stmt *st;
	size_t len = 0;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, "SELECT sha256 FROM ingest_keys", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	const void *stored = jg_stmt_column_blob(st, 0, &len);
	assert_int_equal(len, 32);
	assert_memory_equal(stored, md, 32);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);

	/* one active key per service; no key for an unknown service */
	char key2[JG_INGEST_KEY_LEN + 1], id2[JG_INGEST_KEY_ID_MAX + 1];
	assert_int_equal(jg_catalog_key_create(&f->ctx, "payment-gateway", key2, id2),
			 JG_ECONFLICT);
	assert_string_equal(key2, "");
	assert_int_equal(jg_catalog_key_create(&f->ctx, "nope", key2, id2), JG_ENOTFOUND);
	/* a new key needs a buffer to go to: refused, nothing changes */
	assert_int_equal(jg_catalog_key_create(&f->ctx, "payment-gateway", NULL, id2), JG_EINVAL);
	assert_int_equal(jg_catalog_key_rotate(&f->ctx, "payment-gateway", NULL, id2), JG_EINVAL);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM ingest_keys", NULL), 1);
}

static void
test_ingest_auth_accepts_only_the_active_key(void **state)
{
	struct fixture *f = *state;
	char key[JG_INGEST_KEY_LEN + 1], id[JG_INGEST_KEY_ID_MAX + 1];
	char key2[JG_INGEST_KEY_LEN + 1], id2[JG_INGEST_KEY_ID_MAX + 1];
	struct jg_ingest_caller who;

	add_pg(f);
	assert_int_equal(jg_catalog_key_create(&f->ctx, "payment-gateway", key, id), 0);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key, &who), 0);
	assert_string_equal(who.service, "payment-gateway");
	assert_string_equal(who.key_id, id);

	/* altered, truncated, extended, unprefixed, empty */
	char bad[JG_INGEST_KEY_LEN + 2];
	memcpy(bad, key, sizeof(key));
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	assert_int_equal(jg_catalog_ingest_auth(f->store, bad, &who), JG_EDENIED);
	assert_string_equal(who.service, "");
	memcpy(bad, key, sizeof(key));
	bad[JG_INGEST_KEY_LEN - 1] = '\0';
	assert_int_equal(jg_catalog_ingest_auth(f->store, bad, &who), JG_EDENIED);
	memcpy(bad, key, sizeof(key));
	bad[JG_INGEST_KEY_LEN] = 'x';
	bad[JG_INGEST_KEY_LEN + 1] = '\0';
	assert_int_equal(jg_catalog_ingest_auth(f->store, bad, &who), JG_EDENIED);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key + 4, &who), JG_EDENIED);
	assert_int_equal(jg_catalog_ingest_auth(f->store, "", &who), JG_EDENIED);
	assert_int_equal(jg_catalog_ingest_auth(f->store, NULL, &who), JG_EDENIED);

	/* rotation: the new key works, the old one does not */
	assert_int_equal(jg_catalog_key_rotate(&f->ctx, "payment-gateway", key2, id2), 0);
	assert_string_not_equal(key, key2);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key, &who), JG_EDENIED);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key2, &who), 0);
	assert_string_equal(who.key_id, id2);

	/* revocation, then removal of the service with a fresh key */
	char revoked[JG_INGEST_KEY_ID_MAX + 1];
	assert_int_equal(jg_catalog_key_revoke(&f->ctx, "payment-gateway", revoked), 0);
	assert_string_equal(revoked, id2);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key2, &who), JG_EDENIED);
	assert_int_equal(jg_catalog_key_revoke(&f->ctx, "payment-gateway", revoked), JG_ENOTFOUND);
	assert_int_equal(jg_catalog_key_rotate(&f->ctx, "payment-gateway", key2, id2),
			 JG_ENOTFOUND);
	assert_int_equal(jg_catalog_key_create(&f->ctx, "payment-gateway", key, id), 0);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key, &who), 0);
	assert_int_equal(jg_catalog_service_remove(&f->ctx, "payment-gateway"), 0);
	assert_int_equal(jg_catalog_ingest_auth(f->store, key, &who), JG_EDENIED);
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM ingest_keys WHERE revoked_at IS NULL", NULL),
	    0);
	assert_int_equal(jg_catalog_service_remove(&f->ctx, "payment-gateway"), JG_ENOTFOUND);
}

/* The entries the audit log hands out (jg_audit_read_from), as text. */
struct entries {
	char *text[16];
	size_t n;
};

static int
collect_entry(void *ctx, uint64_t seq, const void *entry, size_t len)
{
	struct entries *e = ctx;
	(void)seq;
	if (e->n == 16 || (e->text[e->n] = strndup(entry, len)) == NULL)
		return JG_ENOMEM;
	e->n++;
	return 0;
}

static void
test_every_change_is_one_audit_entry(void **state)
{
	struct fixture *f = *state;
	char key[JG_INGEST_KEY_LEN + 1], id[JG_INGEST_KEY_ID_MAX + 1];
	static const char *const types[] = {"service.added",	  "ingest_key.created",
					    "ingest_key.rotated", "ingest_key.revoked",
					    "service.removed",	  "service.added"};

	uint64_t start = audit_size(f);
	add_pg(f);
	assert_int_equal(jg_catalog_key_create(&f->ctx, "payment-gateway", key, id), 0);
	assert_int_equal(jg_catalog_key_rotate(&f->ctx, "payment-gateway", key, id), 0);
	assert_int_equal(jg_catalog_key_revoke(&f->ctx, "payment-gateway", id), 0);
	assert_int_equal(jg_catalog_service_remove(&f->ctx, "payment-gateway"), 0);
	add_pg(f); /* a removed service can come back */
	assert_int_equal(audit_size(f), start + 6);

	struct entries got = {.n = 0};
	assert_int_equal(jg_audit_read_from(f->store, start, 10, collect_entry, &got), 0);
	assert_int_equal(got.n, 6);
	for (size_t i = 0; i < 6; i++) {
		const char *text = got.text[i];
		json_t *e = json_loads(text, 0, NULL);
		assert_non_null(e);
		assert_string_equal(json_string_value(json_object_get(e, "type")), types[i]);
		assert_string_equal(json_string_value(json_object_get(e, "actor")),
				    "operator:test");
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(e, "data"), "service")),
		    "payment-gateway");
		assert_null(strstr(text, key + 4)); /* no key in the log */
		json_decref(e);
		free(got.text[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_service_add_validates_and_refuses_duplicates,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_create_stores_only_the_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_auth_accepts_only_the_active_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_every_change_is_one_audit_entry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
