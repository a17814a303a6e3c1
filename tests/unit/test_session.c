/*
 * test_session.c - pending logins and sessions (session.h) in a real SQLite
 * store with the repository's migrations.  Time is the `now` the tests
 * pass: nothing sleeps.
 *
 * What a user relies on: the cookie value opens exactly its session and
 * nothing is stored from which it could be rebuilt; a session ends at its
 * lifetime and after its idle time (use keeps it alive), and an ended one
 * stays ended; sign-out and off-boarding end sessions; a login flow is
 * single use and short-lived; the sweeper removes only rows that could
 * only be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/migrate.h"
#include "jitgate/session.h"
#include "jitgate/store.h"
#include "unit_fs.h"

#define T0	 1764000000
#define LIFETIME 3600
#define IDLE	 600

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
	snprintf(f->root, sizeof(f->root), "/tmp/jg-session-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(db, sizeof(db), "%s/test.db", f->root);
	if (jg_store_open(db, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* A session of sub (groups g1, g2) opened at now: its cookie value and CSRF token. */
static void
open_session(struct fixture *f, const char *sub, int64_t now, char token[JG_SESSION_TOKEN_LEN + 1],
	     char csrf[JG_SESSION_TOKEN_LEN + 1])
{
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	snprintf(id.sub, sizeof(id.sub), "%s", sub);
	snprintf(id.email, sizeof(id.email), "%s@example.com", sub);
	id.groups[0] = strdup("g1");
	id.groups[1] = strdup("g2");
	id.ngroups = 2;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_put(c, &id, now, LIFETIME, token, csrf), 0);
	jg_store_release(f->store, c);
	jg_identity_clear(&id);
	assert_int_equal(strlen(token), JG_SESSION_TOKEN_LEN);
	assert_int_equal(strlen(csrf), JG_SESSION_TOKEN_LEN);
	assert_string_not_equal(token, csrf);
}

static int
get(struct fixture *f, const char *token, int64_t now, struct jg_identity *id,
    char csrf[JG_SESSION_TOKEN_LEN + 1])
{
	jg_identity_clear(id);
	return jg_session_get(f->store, token, now, IDLE, id, csrf);
}

static int64_t
rows(struct fixture *f, const char *sql)
{
	struct jg_store_conn *c;
	struct jg_stmt *st;
	int64_t n = -1;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	return n;
}

static void
test_session_put_get(void **state)
{
	struct fixture *f = *state;
	char token[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1],
	    got[JG_SESSION_TOKEN_LEN + 1];
	struct jg_identity id = {0};

	open_session(f, "alice", T0, token, csrf);
	assert_int_equal(get(f, token, T0 + 1, &id, got), 0);
	assert_string_equal(id.sub, "alice");
	assert_string_equal(id.email, "alice@example.com");
	assert_string_equal(id.via, "session");
	assert_int_equal(id.ngroups, 2);
	assert_string_equal(id.groups[1], "g2");
	assert_int_equal(id.expires, T0 + LIFETIME);
	assert_int_equal(id.issued_at, T0); /* its sign-in, not this use */
	assert_string_equal(got, csrf);
	/* another value of the same length opens nothing, nor does a cut one */
	char other[JG_SESSION_TOKEN_LEN + 1];
	memcpy(other, token, sizeof(other));
	other[0] = other[0] == 'A' ? 'B' : 'A';
	assert_int_equal(get(f, other, T0 + 1, &id, got), JG_ENOTFOUND);
	other[10] = '\0';
	assert_int_equal(get(f, other, T0 + 1, &id, got), JG_ENOTFOUND);
	/* the cookie value is not what is stored */
	struct jg_store_conn *c;
	struct jg_stmt *st;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_stmt_prepare(c, "SELECT id_sha256 FROM sessions", &st), 0);
	assert_int_equal(jg_stmt_step(st), JG_STMT_ROW);
	size_t len = 0;
	const void *stored = jg_stmt_column_blob(st, 0, &len);
	assert_int_equal(len, 32);
	assert_true(memcmp(stored, token, 32) != 0);
	jg_stmt_finish(st);
	jg_store_release(f->store, c);
	jg_identity_clear(&id);
}

static void
test_session_ends_at_its_lifetime(void **state)
{
	struct fixture *f = *state;
	char token[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1];
	struct jg_identity id = {0};

	open_session(f, "alice", T0, token, csrf);
	/* used every few minutes: never idle, still over at its lifetime */
	for (int64_t t = T0 + 300; t < T0 + LIFETIME; t += 300)
		assert_int_equal(get(f, token, t, &id, csrf), 0);
	assert_int_equal(get(f, token, T0 + LIFETIME, &id, csrf), JG_ENOTFOUND);
	assert_string_equal(id.sub, "");
	/* ended is ended: an earlier clock does not bring it back */
	assert_int_equal(get(f, token, T0 + 10, &id, csrf), JG_ENOTFOUND);
	assert_int_equal(rows(f, "SELECT count(*) FROM sessions"), 0);
}

static void
test_session_ends_when_idle(void **state)
{
	struct fixture *f = *state;
	char token[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1];
	struct jg_identity id = {0};

	open_session(f, "alice", T0, token, csrf);
	/* use moves the idle window: T0 + 500, then 590 later (1090) is within it */
	assert_int_equal(get(f, token, T0 + 500, &id, csrf), 0);
	assert_int_equal(get(f, token, T0 + 1090, &id, csrf), 0);
	/* IDLE seconds without use: over */
	assert_int_equal(get(f, token, T0 + 1090 + IDLE, &id, csrf), JG_ENOTFOUND);
	assert_int_equal(get(f, token, T0 + 1091, &id, csrf), JG_ENOTFOUND);
	jg_identity_clear(&id);
}

static void
test_session_delete_and_delete_user(void **state)
{
	struct fixture *f = *state;
	char a1[JG_SESSION_TOKEN_LEN + 1], a2[JG_SESSION_TOKEN_LEN + 1],
	    b[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1];
	struct jg_identity id = {0};
	struct jg_store_conn *c;

	open_session(f, "alice", T0, a1, csrf);
	open_session(f, "alice", T0, a2, csrf);
	open_session(f, "bob", T0, b, csrf);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_delete(c, a1), 0); /* sign-out: that browser only */
	jg_store_release(f->store, c);
	assert_int_equal(get(f, a1, T0 + 1, &id, csrf), JG_ENOTFOUND);
	assert_int_equal(get(f, a2, T0 + 1, &id, csrf), 0);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_session_delete_user(c, "alice"), 0); /* off-boarding: every one */
	assert_int_equal(jg_session_delete_user(c, "nobody"), 0);
	jg_store_release(f->store, c);
	assert_int_equal(get(f, a2, T0 + 2, &id, csrf), JG_ENOTFOUND);
	assert_int_equal(get(f, b, T0 + 2, &id, csrf), 0);
	assert_string_equal(id.sub, "bob");
	jg_identity_clear(&id);
	/* the groups seen of the off-boarded are gone too; others' stay */
	assert_int_equal(rows(f, "SELECT count(*) FROM identity_groups WHERE subject = 'alice'"),
			 0);
	assert_int_equal(rows(f, "SELECT count(*) FROM identity_groups WHERE subject = 'bob'"), 1);
}

static void
test_flow_is_single_use_and_short_lived(void **state)
{
	struct fixture *f = *state;
	struct jg_login_flow in = {.nonce = "n-1", .code_verifier = "v-1", .return_to = "/x"}, out;
	struct jg_store_conn *c;

	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_flow_put(c, "state-a", &in, T0), 0);
	assert_int_equal(jg_flow_put(c, "state-b", &in, T0), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(jg_flow_take(c, "state-a", T0 + 10, &out), 0);
	assert_string_equal(out.nonce, "n-1");
	assert_string_equal(out.code_verifier, "v-1");
	assert_string_equal(out.return_to, "/x");
	assert_int_equal(jg_flow_take(c, "state-a", T0 + 11, &out), JG_ENOTFOUND);
	/* one too old is refused, and gone */
	assert_int_equal(jg_flow_take(c, "state-b", T0 + JG_FLOW_MAX_AGE + 1, &out), JG_ENOTFOUND);
	assert_int_equal(jg_flow_take(c, "state-b", T0 + 1, &out), JG_ENOTFOUND);
	jg_store_release(f->store, c);
}

static void
test_session_sweep_removes_only_what_is_over(void **state)
{
	struct fixture *f = *state;
	char old[JG_SESSION_TOKEN_LEN + 1], idle[JG_SESSION_TOKEN_LEN + 1],
	    live[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1];
	struct jg_login_flow flow = {.nonce = "n", .code_verifier = "v", .return_to = "/"};
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	int64_t deleted = -1, now = T0 + LIFETIME;

	open_session(f, "old", T0, old, csrf);		       /* past its lifetime at now */
	open_session(f, "idle", now - IDLE - 5, idle, csrf);   /* idle at now */
	open_session(f, "live", now - IDLE + 100, live, csrf); /* neither */
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_flow_put(c, "stale", &flow, now - JG_FLOW_MAX_AGE - 1), 0);
	assert_int_equal(jg_flow_put(c, "fresh", &flow, now - 10), 0);
	jg_store_release(f->store, c);
	assert_int_equal(jg_session_sweep(f->store, now, IDLE, &deleted), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(rows(f, "SELECT count(*) FROM sessions"), 1);
	assert_int_equal(get(f, live, now, &id, csrf), 0);
	assert_string_equal(id.sub, "live");
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_flow_take(c, "fresh", now, &flow), 0);
	jg_store_release(f->store, c);
	jg_identity_clear(&id);
}

/* The groups seen (session.h): JSON text of the newest row of sub, and when. */
static void
groups_of(struct fixture *f, const char *sub, char *text, size_t len, int64_t *seen_at)
{
	struct jg_store_conn *c;
	json_t *g = NULL;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_identity_groups_latest(c, sub, &g, seen_at), 0);
	jg_store_release(f->store, c);
	char *t = json_dumps(g, JSON_COMPACT);
	snprintf(text, len, "%s", t);
	free(t);
	json_decref(g);
}

/* Records the groups of an authentication of sub carrying group g, issued at issued. */
static void
seen(struct fixture *f, const char *sub, const char *g, int64_t issued)
{
	struct jg_identity id = {0};
	struct jg_store_conn *c;
	snprintf(id.sub, sizeof(id.sub), "%s", sub);
	id.groups[0] = strdup(g);
	id.ngroups = 1;
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_identity_groups_record(c, &id, issued), 0);
	jg_store_release(f->store, c);
	jg_identity_clear(&id);
}

/*
 * A sign-in records its groups; an authentication issued later replaces
 * them, one issued earlier never does, however late it is used (an old
 * token after a newer sign-in, another replica's record); one of unknown
 * age (no iat) records nothing.
 */
static void
test_session_groups_seen_keep_the_newest(void **state)
{
	struct fixture *f = *state;
	char token[JG_SESSION_TOKEN_LEN + 1], csrf[JG_SESSION_TOKEN_LEN + 1], text[128];
	int64_t at;
	json_t *none = NULL;
	struct jg_store_conn *c;

	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_identity_groups_latest(c, "alice", &none, &at), JG_ENOTFOUND);
	jg_store_release(f->store, c);
	open_session(f, "alice", T0, token, csrf);
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_string_equal(text, "[\"g1\",\"g2\"]");
	assert_int_equal(at, T0);
	seen(f, "alice", "sales", T0 + 10); /* changed: at once */
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_string_equal(text, "[\"sales\"]");
	assert_int_equal(at, T0 + 10);
	seen(f, "alice", "g1", T0 + 5); /* issued earlier: ignored */
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_string_equal(text, "[\"sales\"]");
	assert_int_equal(at, T0 + 10);
	seen(f, "alice", "g1", 0); /* of unknown age: ignored */
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_string_equal(text, "[\"sales\"]");
	seen(f, "alice", "sales", T0 + 10); /* the same token again: nothing to write */
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_int_equal(at, T0 + 10);
	seen(f, "alice", "sales", T0 + 70); /* a newer token, same groups: seen again */
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_int_equal(at, T0 + 70);
	/* an old session used now is as old as its sign-in: it changes nothing */
	struct jg_identity id = {0};
	assert_int_equal(jg_session_get(f->store, token, T0 + 100, IDLE, &id, csrf), 0);
	assert_int_equal(id.issued_at, T0);
	assert_int_equal(jg_store_acquire(f->store, &c), 0);
	assert_int_equal(jg_identity_groups_record(c, &id, id.issued_at), 0);
	jg_store_release(f->store, c);
	jg_identity_clear(&id);
	groups_of(f, "alice", text, sizeof(text), &at);
	assert_string_equal(text, "[\"sales\"]");
	assert_int_equal(at, T0 + 70);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_session_put_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_groups_seen_keep_the_newest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_session_ends_at_its_lifetime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_ends_when_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_delete_and_delete_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flow_is_single_use_and_short_lived, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_session_sweep_removes_only_what_is_over, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
