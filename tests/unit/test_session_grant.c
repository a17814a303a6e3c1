/*
 * test_session_grant.c - the capability tokens kept per (session, grant)
 * (session_grant.h) in a real SQLite store with the repository's
 * migrations; built as test_session_grant_pg (JG_TEST_PG), the same cases
 * run on a fresh PostgreSQL database migrated by an owner role and served
 * as a role holding only jitgate_serving (pgdb.h), so the serving role's
 * grants and the engine's cascade are exercised too.  Keys are real
 * session-token keys made in a temporary key_dir; time is the `now` the
 * tests pass.
 *
 * What a user relies on: a kept token comes back only for its own session
 * and grant, and the database holds no usable token (the stored bytes are
 * not the token; a row moved to another session or grant, or with its expiry
 * changed, does not decrypt); a token is renewed when 60 s or less remain
 * (unless it already ends with its grant); rotation keeps older rows
 * readable and seals new ones under the new key; a grant's end deletes its
 * tokens and no other; sign-out (the session's row deleted) takes its
 * tokens with it.
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

#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/session.h"
#include "jitgate/session_grant.h"
#include "jitgate/store.h"
#include "unit_fs.h"
#ifdef JG_TEST_PG
#include "pgdb.h"
#endif

#define T0    1764000000
#define TOKEN "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"

struct fixture {
	char root[64];
	char keydir[128];
	char db[128];
	struct jg_store *store;
	struct jg_store *admin; /* who may edit rows freely (PostgreSQL: the owner) */
	struct jg_session_grant_keys *keys;
	char alice[JG_SESSION_TOKEN_LEN + 1], bob[JG_SESSION_TOKEN_LEN + 1];
};

static void
exec_sql(struct jg_store *s, const char *sql)
{
	struct jg_store_conn *c;
	char err[512] = "";
	assert_int_equal(jg_store_acquire(s, &c), 0);
	if (jg_store_exec_script(c, sql, err, sizeof(err)) != 0)
		fail_msg("%s: %s", sql, err);
	jg_store_release(s, c);
}

static int64_t
count(struct fixture *f, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t n;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	return n;
}

static void
open_session(struct fixture *f, const char *sub, char token[JG_SESSION_TOKEN_LEN + 1])
{
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	char csrf[JG_SESSION_TOKEN_LEN + 1];
	snprintf(id.sub, sizeof(id.sub), "%s", sub);
	snprintf(id.email, sizeof(id.email), "%s@example.com", sub);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_put(c, &id, T0, 3600, token, csrf), 0);
	jg_store_release(f->store, c);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "", url[256];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-sgt-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->keydir, sizeof(f->keydir), "%s/keys", f->root);
	if (jg_keys_generate_kind(f->keydir, JG_KEY_SESSION_TOKEN, err, sizeof(err)) != 0 ||
	    jg_session_grant_keys_load(f->keydir, &f->keys, err, sizeof(err)) != 0)
		fail_msg("keys: %s", err);
#ifdef JG_TEST_PG
	if (pgdb_create_migrated(f->db, sizeof(f->db), &f->admin, url, sizeof(url), err,
				 sizeof(err)) != 0)
		fail_msg("owner store: %s", err);
	if (jg_store_open(url, &f->store, err, sizeof(err)) != 0)
		fail_msg("jg_store_open: %s", err);
#else
	snprintf(url, sizeof(url), "%s/test.db", f->root);
	if (jg_store_open(url, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	f->admin = f->store;
#endif
	/* two grants of alice's (the rows refer to them) */
	exec_sql(f->store,
		 "INSERT INTO access_requests (id, requester, requester_groups, service, "
		 "capabilities, duration, justification, incident, break_glass, state, decision, "
		 "policy_sha256, created_at, expires_at) VALUES "
		 "('req_one', 'alice', '[]', 'payments', '[\"read-logs\"]', 3600, 'j', '', 0, "
		 "'active', '{}', '', 1764000000, 1764003600), "
		 "('req_two', 'alice', '[]', 'payments', '[\"read-logs\"]', 3600, 'j', '', 0, "
		 "'active', '{}', '', 1764000000, 1764003600)");
	open_session(f, "alice", f->alice);
	open_session(f, "bob", f->bob);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_session_grant_keys_free(f->keys);
#ifdef JG_TEST_PG
	jg_store_close(f->admin);
#endif
	jg_store_close(f->store);
#ifdef JG_TEST_PG
	pgdb_drop(f->db);
#endif
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static int
put(struct fixture *f, const struct jg_session_grant_keys *keys, const char *session,
    const char *grant, const char *token, int64_t expires)
{
	struct jg_store_conn *c;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	int rc = jg_session_grant_token_put(c, keys, session, grant, token, expires, T0);
	jg_store_release(f->store, c);
	return rc;
}

/* The token kept for (session, grant) under keys: its rc, and the token compared with want. */
static int
get(struct fixture *f, const struct jg_session_grant_keys *keys, const char *session,
    const char *grant, const char *want, int64_t *expires)
{
	struct jg_store_conn *c;
	char *token = NULL;
	int64_t exp = 0;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	int rc = jg_session_grant_token_get(c, keys, session, grant, &token, &exp);
	jg_store_release(f->store, c);
	if (rc == 0) {
		assert_non_null(token);
		if (want != NULL)
			assert_string_equal(token, want);
		free(token);
	} else {
		assert_null(token);
	}
	if (expires)
		*expires = exp;
	return rc;
}

/* ---- the cases --------------------------------------------------------------- */

static void
test_token_round_trip_and_not_stored_in_clear(void **state)
{
	struct fixture *f = *state;
	int64_t exp = 0;

	assert_int_equal(get(f, f->keys, f->alice, "req_one", NULL, NULL), JG_ENOTFOUND);
	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(get(f, f->keys, f->alice, "req_one", TOKEN, &exp), 0);
	assert_int_equal(exp, T0 + 900);
	/* only this session's and this grant's */
	assert_int_equal(get(f, f->keys, f->bob, "req_one", NULL, NULL), JG_ENOTFOUND);
	assert_int_equal(get(f, f->keys, f->alice, "req_two", NULL, NULL), JG_ENOTFOUND);
	/* the stored bytes are not the token, nor hold any part of it */
	struct jg_store_conn *c;
	struct jg_stmt *st;
	size_t len = 0;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, "SELECT sealed FROM session_grant_tokens", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	const unsigned char *sealed = jg_stmt_column_blob(st, 0, &len);
	assert_int_equal(len, 12 + strlen(TOKEN) + 16);
	assert_null(memmem(sealed, len, "eyJ", 3));
	assert_null(memmem(sealed, len, "c2lnbmF0dXJl", 12));
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	/* a second put replaces: one row per (session, grant) */
	assert_int_equal(put(f, f->keys, f->alice, "req_one", "other.token.value", T0 + 1800), 0);
	assert_int_equal(get(f, f->keys, f->alice, "req_one", "other.token.value", &exp), 0);
	assert_int_equal(exp, T0 + 1800);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 1);
	/* a session that does not exist cannot hold one (the foreign key) */
	assert_int_equal(put(f, f->keys, "no-such-session-cookie-value-0000000000000", "req_one",
			     TOKEN, T0 + 900),
			 JG_ESTORE);
	/* nor without keys, nor an empty token */
	assert_int_equal(put(f, NULL, f->alice, "req_one", TOKEN, T0 + 900), JG_EINVAL);
	assert_int_equal(put(f, f->keys, f->alice, "req_one", "", T0 + 900), JG_EINVAL);
}

static void
test_row_moved_or_edited_does_not_decrypt(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	/* moved to bob's session: the AAD names alice's */
	exec_sql(f->admin, "UPDATE session_grant_tokens SET session_sha256 = "
			   "(SELECT id_sha256 FROM sessions WHERE sub = 'bob')");
	assert_int_equal(get(f, f->keys, f->bob, "req_one", NULL, NULL), JG_ENOTFOUND);
	exec_sql(f->admin, "UPDATE session_grant_tokens SET session_sha256 = "
			   "(SELECT id_sha256 FROM sessions WHERE sub = 'alice')");
	assert_int_equal(get(f, f->keys, f->alice, "req_one", TOKEN, NULL), 0);
	/* moved to another grant */
	exec_sql(f->admin, "UPDATE session_grant_tokens SET grant_id = 'req_two'");
	assert_int_equal(get(f, f->keys, f->alice, "req_two", NULL, NULL), JG_ENOTFOUND);
	exec_sql(f->admin, "UPDATE session_grant_tokens SET grant_id = 'req_one'");
	assert_int_equal(get(f, f->keys, f->alice, "req_one", TOKEN, NULL), 0);
	/* its expiry pushed later: bound too */
	exec_sql(f->admin, "UPDATE session_grant_tokens SET expires_at = expires_at + 3600");
	assert_int_equal(get(f, f->keys, f->alice, "req_one", NULL, NULL), JG_ENOTFOUND);
	/* a row that does not open is replaced by the next put */
	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(get(f, f->keys, f->alice, "req_one", TOKEN, NULL), 0);
}

static void
test_rotation_keeps_old_rows_and_seals_with_the_new_key(void **state)
{
	struct fixture *f = *state;
	struct jg_session_grant_keys *rotated = NULL, *other = NULL;
	char err[512] = "", dir2[160];
	int number = 0;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(jg_keys_rotate(f->keydir, JG_KEY_SESSION_TOKEN, &number, err, sizeof(err)),
			 0);
	assert_int_equal(number, 2);
	assert_int_equal(jg_session_grant_keys_load(f->keydir, &rotated, err, sizeof(err)), 0);
	/* the old row still opens; a new one is sealed under key 2 */
	assert_int_equal(get(f, rotated, f->alice, "req_one", TOKEN, NULL), 0);
	assert_int_equal(put(f, rotated, f->alice, "req_two", TOKEN, T0 + 900), 0);
	assert_int_equal(count(f, "SELECT key_number FROM session_grant_tokens "
				  "WHERE grant_id = 'req_two'"),
			 2);
	/* the old ring does not know key 2: the row reads as absent, never as garbage */
	assert_int_equal(get(f, f->keys, f->alice, "req_two", NULL, NULL), JG_ENOTFOUND);
	/* a key_dir of another deployment opens nothing */
	snprintf(dir2, sizeof(dir2), "%s/keys2", f->root);
	assert_int_equal(jg_keys_generate_kind(dir2, JG_KEY_SESSION_TOKEN, err, sizeof(err)), 0);
	assert_int_equal(jg_session_grant_keys_load(dir2, &other, err, sizeof(err)), 0);
	assert_int_equal(get(f, other, f->alice, "req_one", NULL, NULL), JG_ENOTFOUND);
	jg_session_grant_keys_free(rotated);
	jg_session_grant_keys_free(other);
	/* no key at all: the load says how to make one */
	snprintf(dir2, sizeof(dir2), "%s/empty", f->root);
	assert_int_equal(mkdir(dir2, 0700), 0);
	assert_int_equal(jg_session_grant_keys_load(dir2, &other, err, sizeof(err)), JG_ENOTFOUND);
	assert_null(other);
	assert_non_null(strstr(err, "jitgate keys generate --kind session-token"));
}

static void
test_renewal_when_60_seconds_or_less_remain(void **state)
{
	(void)state;
	const int64_t end = T0 + 3600; /* the grant's end */
	/* a token of 15 minutes: used until 60 s before its end, then renewed */
	assert_true(jg_session_grant_token_fresh(T0 + 900, end, T0));
	assert_true(jg_session_grant_token_fresh(T0 + 900, end, T0 + 839));
	assert_false(jg_session_grant_token_fresh(T0 + 900, end, T0 + 840));
	assert_false(jg_session_grant_token_fresh(T0 + 900, end, T0 + 899));
	assert_false(jg_session_grant_token_fresh(T0 + 900, end, T0 + 900));
	assert_false(jg_session_grant_token_fresh(T0 + 900, end, T0 + 1000));
	/* one that ends with its grant cannot get longer: used until it expires */
	assert_true(jg_session_grant_token_fresh(end, end, end - 30));
	assert_false(jg_session_grant_token_fresh(end, end, end));
	/* an extended grant: the old token ends before it, so it is renewed */
	assert_false(jg_session_grant_token_fresh(end, end + 1800, end - 30));
}

static void
test_grant_end_deletes_its_tokens_only(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *c;
	int64_t deleted = -1;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(put(f, f->keys, f->bob, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(put(f, f->keys, f->alice, "req_two", TOKEN, T0 + 900), 0);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_grant_tokens_end(c, "req_one", &deleted), 0);
	jg_store_release(f->store, c);
	assert_int_equal(deleted, 2);
	assert_int_equal(get(f, f->keys, f->alice, "req_one", NULL, NULL), JG_ENOTFOUND);
	assert_int_equal(get(f, f->keys, f->bob, "req_one", NULL, NULL), JG_ENOTFOUND);
	assert_int_equal(get(f, f->keys, f->alice, "req_two", TOKEN, NULL), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 1);
}

static void
test_sign_out_and_off_boarding_take_the_sessions_tokens(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *c;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(put(f, f->keys, f->alice, "req_two", TOKEN, T0 + 900), 0);
	assert_int_equal(put(f, f->keys, f->bob, "req_one", TOKEN, T0 + 900), 0);
	/* sign-out: the session's row deleted (login.c's logout) */
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_delete(c, f->alice), 0);
	jg_store_release(f->store, c);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 1);
	assert_int_equal(get(f, f->keys, f->bob, "req_one", TOKEN, NULL), 0);
	/* off-boarding: every session of the user */
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_delete_user(c, "bob"), 0);
	jg_store_release(f->store, c);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 0);
}

static void
test_expired_session_swept_takes_its_tokens(void **state)
{
	struct fixture *f = *state;
	int64_t deleted = 0;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(jg_session_sweep(f->store, T0 + 7200, 600, &deleted), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 0);
}

static void
test_no_row_for_a_grant_no_longer_active(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *c;
	int64_t deleted = -1;

	/* a page issued a token; the grant then ended (its rows deleted) before the put */
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_grant_tokens_end(c, "req_one", &deleted), 0);
	jg_store_release(f->store, c);
	exec_sql(f->admin, "UPDATE access_requests SET state = 'revoked' WHERE id = 'req_one'");
	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), JG_ECONFLICT);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 0);
	/* past its end while still marked active (the sweeper not yet run): none either */
	exec_sql(f->admin,
		 "UPDATE access_requests SET expires_at = 1764000000 WHERE id = 'req_two'");
	assert_int_equal(put(f, f->keys, f->alice, "req_two", TOKEN, T0 + 900), JG_ECONFLICT);
	/* no such grant */
	assert_int_equal(put(f, f->keys, f->alice, "req_none", TOKEN, T0 + 900), JG_ECONFLICT);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 0);
}

static void
test_expired_tokens_swept_from_living_sessions(void **state)
{
	struct fixture *f = *state;
	int64_t deleted = 0;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 300), 0);
	assert_int_equal(put(f, f->keys, f->alice, "req_two", TOKEN, T0 + 900), 0);
	/* the sessions live on (an hour, not idle past 3000 s); req_one's token expired */
	assert_int_equal(jg_session_sweep(f->store, T0 + 600, 3000, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(count(f, "SELECT count(*) FROM sessions"), 2);
	assert_int_equal(get(f, f->keys, f->alice, "req_one", NULL, NULL), JG_ENOTFOUND);
	assert_int_equal(get(f, f->keys, f->alice, "req_two", TOKEN, NULL), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM session_grant_tokens"), 1);
}

static void
test_forget_drops_one_sessions_token_only(void **state)
{
	struct fixture *f = *state;
	struct jg_store_conn *c;

	assert_int_equal(put(f, f->keys, f->alice, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(put(f, f->keys, f->bob, "req_one", TOKEN, T0 + 900), 0);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_grant_token_forget(c, f->alice, "req_one"), 0);
	assert_int_equal(jg_session_grant_token_forget(c, f->alice, "req_one"), 0);
	jg_store_release(f->store, c);
	assert_int_equal(get(f, f->keys, f->alice, "req_one", NULL, NULL), JG_ENOTFOUND);
	assert_int_equal(get(f, f->keys, f->bob, "req_one", TOKEN, NULL), 0);
}

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef JG_TEST_PG
	pgdb_init("test_session_grant_pg", argv);
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_token_round_trip_and_not_stored_in_clear, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_row_moved_or_edited_does_not_decrypt, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_keeps_old_rows_and_seals_with_the_new_key,
					    setup, teardown),
	    cmocka_unit_test(test_renewal_when_60_seconds_or_less_remain),
	    cmocka_unit_test_setup_teardown(test_grant_end_deletes_its_tokens_only, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sign_out_and_off_boarding_take_the_sessions_tokens,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_session_swept_takes_its_tokens, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_no_row_for_a_grant_no_longer_active, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_expired_tokens_swept_from_living_sessions, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_forget_drops_one_sessions_token_only, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
