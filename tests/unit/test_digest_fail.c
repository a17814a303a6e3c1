/*
 * test_digest_fail.c - a SHA-256 that fails is an error, never a hash.
 *
 * Sessions and login flows are stored under the SHA-256 of their cookie
 * value, and each applied migration is recorded with the SHA-256 of its
 * file.  If the digest fails, the buffer it should have filled holds
 * whatever was on the stack: a session stored under that key, or a
 * migration recorded with that checksum, is a wrong row that stays.  This
 * binary is linked with --wrap=EVP_Digest and --wrap=EVP_DigestFinal_ex
 * (Makefile), so a test can make every SHA-256 computed by jitgate's code
 * fail and check that the operation fails and stores nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "jitgate/session.h"
#include "jitgate/sha256.h"
#include "jitgate/store.h"
#include "unit_fs.h"

#define T0 1764000000

static bool digests_fail;
static int digest_calls;

int __real_EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
		      const EVP_MD *type, ENGINE *impl);
int __wrap_EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
		      const EVP_MD *type, ENGINE *impl);
int __real_EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size);
int __wrap_EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size);

int
__wrap_EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
		  const EVP_MD *type, ENGINE *impl)
{
	if (digests_fail) {
		digest_calls++;
		return 0;
	}
	return __real_EVP_Digest(data, count, md, size, type, impl);
}

int
__wrap_EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size)
{
	if (digests_fail) {
		digest_calls++;
		return 0;
	}
	return __real_EVP_DigestFinal_ex(ctx, md, size);
}

struct fixture {
	char root[64];
	struct jg_store *store;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "", db[128];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-digest-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(db, sizeof(db), "%s/test.db", f->root);
	if (jg_store_open(db, &f->store, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	digests_fail = false;
	digest_calls = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	digests_fail = false;
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static void
migrate(struct fixture *f)
{
	char err[512] = "";
	if (jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("migrate: %s", err);
}

static int64_t
count(struct fixture *f, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t n = -1;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	if (jg_stmt_prepare(c, sql, &st) == 0) {
		if (jg_stmt_step(st) == JG_STMT_ROW)
			n = jg_stmt_column_int64(st, 0);
		jg_stmt_finish(st);
	}
	jg_store_release(f->store, c);
	return n;
}

/* The wrappers really make the digest fail: the helpers report it. */
static void
test_digest_fail_is_reported(void **state)
{
	uint8_t md[32];
	char hex[65];
	(void)state;

	digests_fail = true;
	assert_int_equal(jg_sha256("abc", 3, md), JG_ECRYPTO);
	assert_int_equal(jg_sha256_hex("abc", 3, hex), JG_ECRYPTO);
	assert_int_equal(jg_sha256_2("a", 1, "bc", 2, md), JG_ECRYPTO);
	assert_true(digest_calls >= 3);
	digests_fail = false;
	assert_int_equal(jg_sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* A session is never stored under a key that is not the hash of its cookie. */
static void
test_digest_fail_session_put(void **state)
{
	struct fixture *f = *state;
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	char token[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1];

	migrate(f);
	snprintf(id.sub, sizeof(id.sub), "alice");
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	digests_fail = true;
	assert_int_equal(jg_session_put(c, &id, T0, 3600, token, csrf), JG_ECRYPTO);
	digests_fail = false;
	jg_store_release(f->store, c);
	assert_true(digest_calls > 0);
	assert_int_equal(count(f, "SELECT count(*) FROM sessions"), 0);
}

/* Looking up, ending and the login flow: the same failure, nothing read or written. */
static void
test_digest_fail_session_get_and_flows(void **state)
{
	struct fixture *f = *state;
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	struct jg_login_flow flow = {.nonce = "n", .code_verifier = "v", .return_to = "/"};
	char token[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1];

	migrate(f);
	snprintf(id.sub, sizeof(id.sub), "alice");
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_put(c, &id, T0, 3600, token, csrf), 0);
	assert_int_equal(jg_flow_put(c, "state-1", &flow, T0), 0);

	digests_fail = true;
	assert_int_equal(jg_flow_put(c, "state-2", &flow, T0), JG_ECRYPTO);
	assert_int_equal(jg_flow_take(c, "state-1", T0, &flow), JG_ECRYPTO);
	assert_int_equal(jg_session_delete(c, token), JG_ECRYPTO);
	jg_store_release(f->store, c);
	assert_int_equal(jg_session_get(f->store, token, T0 + 1, 600, &id, csrf), JG_ECRYPTO);
	digests_fail = false;

	/* nothing changed: the flow is still there once, the session still opens */
	assert_int_equal(count(f, "SELECT count(*) FROM auth_flows"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM sessions"), 1);
	jg_identity_clear(&id);
	assert_int_equal(jg_session_get(f->store, token, T0 + 1, 600, &id, csrf), 0);
	assert_string_equal(id.sub, "alice");
	jg_identity_clear(&id);
}

/* A migration is never applied or recorded with a checksum that is not its file's. */
static void
test_digest_fail_migrate(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	int applied = -1, pending = -1;

	digests_fail = true;
	assert_int_equal(jg_migrate_apply(f->store, "migrations", &applied, err, sizeof(err)),
			 JG_ECRYPTO);
	assert_non_null(strstr(err, "SHA-256"));
	assert_int_equal(applied, 0);
	assert_int_equal(jg_migrate_status(f->store, "migrations", &pending, err, sizeof(err)),
			 JG_ECRYPTO);
	digests_fail = false;
	/* no schema_migrations row (the table itself is not created either) */
	assert_int_equal(count(f, "SELECT count(*) FROM schema_migrations"), -1);
	assert_int_equal(jg_migrate_apply(f->store, "migrations", &applied, err, sizeof(err)), 0);
	assert_true(applied > 0);
	assert_int_equal(jg_migrate_status(f->store, "migrations", &pending, err, sizeof(err)), 0);
	assert_int_equal(pending, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_digest_fail_is_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_digest_fail_session_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_digest_fail_session_get_and_flows, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_digest_fail_migrate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
