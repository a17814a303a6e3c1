/*
 * session.c - pending logins and sessions in the store, and the groups each
 * person last authenticated with (see session.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/random.h"
#include "jitgate/session.h"
#include "jitgate/session_grant.h"
#include "jitgate/sha256.h"

#define LAST_SEEN_GRANULARITY 30 /* seconds: do not write on every request */

int
jg_s256_challenge(const char *in, char *out, size_t outlen)
{
	uint8_t md[JG_SHA256_LEN];
	int rc = jg_sha256(in, strlen(in), md);
	return rc != 0 ? rc : jg_b64url_encode(md, sizeof(md), out, outlen);
}

static const char sql_flow_put[] = "INSERT INTO auth_flows (state_sha256, nonce, code_verifier, "
				   "return_to, created_at) VALUES (?, ?, ?, ?, ?)";
/* Taken in one statement: of two callbacks with one state (two replicas), one gets the row. */
static const char sql_flow_take[] = "DELETE FROM auth_flows WHERE state_sha256 = ? "
				    "RETURNING nonce, code_verifier, return_to, created_at";
static const char sql_flow_stale[] = "DELETE FROM auth_flows WHERE created_at < ?";
static const char sql_sess_put[] =
    "INSERT INTO sessions (id_sha256, sub, email, name, groups, csrf, "
    "created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char sql_sess_get[] =
    "SELECT sub, email, name, groups, csrf, last_seen, expires_at, created_at "
    "FROM sessions WHERE id_sha256 = ?";
static const char sql_sess_touch[] = "UPDATE sessions SET last_seen = ? WHERE id_sha256 = ?";
static const char sql_sess_del[] = "DELETE FROM sessions WHERE id_sha256 = ?";

int
jg_flow_put(struct jg_store_conn *conn, const char *state, const struct jg_login_flow *flow,
	    int64_t now)
{
	struct jg_stmt *st;
	uint8_t h[32];
	int rc;

	if ((rc = jg_sha256(state, strlen(state), h)) != 0 ||
	    (rc = jg_stmt_prepare(conn, sql_flow_put, &st)) != 0)
		return rc;
	jg_stmt_bind_blob(st, 1, h, 32);
	jg_stmt_bind_text(st, 2, flow->nonce);
	jg_stmt_bind_text(st, 3, flow->code_verifier);
	jg_stmt_bind_text(st, 4, flow->return_to);
	jg_stmt_bind_int64(st, 5, now);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

int
jg_flow_take(struct jg_store_conn *conn, const char *state, int64_t now, struct jg_login_flow *flow)
{
	struct jg_stmt *st;
	uint8_t h[32];
	int64_t created = 0;
	int rc, found = 0;

	/* Single use: gone whether it is valid or not. */
	if ((rc = jg_sha256(state, strlen(state), h)) != 0 ||
	    (rc = jg_stmt_prepare(conn, sql_flow_take, &st)) != 0)
		return rc;
	jg_stmt_bind_blob(st, 1, h, 32);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		snprintf(flow->nonce, sizeof(flow->nonce), "%s", jg_stmt_column_text(st, 0));
		snprintf(flow->code_verifier, sizeof(flow->code_verifier), "%s",
			 jg_stmt_column_text(st, 1));
		snprintf(flow->return_to, sizeof(flow->return_to), "%s",
			 jg_stmt_column_text(st, 2));
		created = jg_stmt_column_int64(st, 3);
		found = 1;
		rc = jg_stmt_step(st); /* one row at most: the next step ends it */
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	/* stale flows are swept too */
	if ((rc = jg_stmt_prepare(conn, sql_flow_stale, &st)) != 0)
		return rc;
	jg_stmt_bind_int64(st, 1, now - JG_FLOW_MAX_AGE);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	if (!found || created < now - JG_FLOW_MAX_AGE || created > now + 60)
		return JG_ENOTFOUND;
	return 0;
}

int
jg_session_put(struct jg_store_conn *conn, const struct jg_identity *id, int64_t now,
	       int64_t lifetime, char token[JG_SESSION_TOKEN_LEN + 1],
	       char csrf[JG_SESSION_TOKEN_LEN + 1])
{
	struct jg_stmt *st;
	uint8_t h[32];
	json_t *groups = json_array();
	char *groups_text;
	int rc;

	for (size_t i = 0; groups && i < id->ngroups; i++)
		json_array_append_new(groups, json_string(id->groups[i]));
	groups_text = groups ? json_dumps(groups, JSON_COMPACT) : NULL;
	json_decref(groups);
	if (groups_text == NULL)
		return JG_ENOMEM;
	if ((rc = jg_random_token(32, token, JG_SESSION_TOKEN_LEN + 1)) != 0 ||
	    (rc = jg_random_token(32, csrf, JG_SESSION_TOKEN_LEN + 1)) != 0 ||
	    (rc = jg_sha256(token, strlen(token), h)) != 0 ||
	    (rc = jg_stmt_prepare(conn, sql_sess_put, &st)) != 0) {
		free(groups_text);
		return rc;
	}
	jg_stmt_bind_blob(st, 1, h, 32);
	jg_stmt_bind_text(st, 2, id->sub);
	jg_stmt_bind_text(st, 3, id->email);
	jg_stmt_bind_text(st, 4, id->name);
	jg_stmt_bind_text(st, 5, groups_text);
	jg_stmt_bind_text(st, 6, csrf);
	jg_stmt_bind_int64(st, 7, now);
	jg_stmt_bind_int64(st, 8, now);
	jg_stmt_bind_int64(st, 9, now + lifetime);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	free(groups_text);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	/* a sign-in is an authentication issued now: its groups are the newest seen */
	return jg_identity_groups_record(conn, id, now);
}

int
jg_session_get(struct jg_store *store, const char *token, int64_t now, int64_t idle,
	       struct jg_identity *id, char csrf[JG_SESSION_TOKEN_LEN + 1])
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	uint8_t h[32];
	int64_t last_seen = 0, expires = 0;
	int rc, found = 0;

	if (strlen(token) != JG_SESSION_TOKEN_LEN)
		return JG_ENOTFOUND;
	if ((rc = jg_sha256(token, strlen(token), h)) != 0)
		return rc;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_stmt_prepare(conn, sql_sess_get, &st)) != 0)
		goto out;
	jg_stmt_bind_blob(st, 1, h, 32);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		jg_identity_clear(id);
		snprintf(id->sub, sizeof(id->sub), "%s", jg_stmt_column_text(st, 0));
		snprintf(id->email, sizeof(id->email), "%s", jg_stmt_column_text(st, 1));
		snprintf(id->name, sizeof(id->name), "%s", jg_stmt_column_text(st, 2));
		json_t *groups = json_loads(jg_stmt_column_text(st, 3), 0, NULL);
		size_t i;
		json_t *g;
		json_array_foreach(groups, i, g)
		{
			if (id->ngroups < JG_IDENTITY_MAX_GROUPS && json_is_string(g))
				id->groups[id->ngroups++] = strdup(json_string_value(g));
		}
		json_decref(groups);
		snprintf(csrf, JG_SESSION_TOKEN_LEN + 1, "%s", jg_stmt_column_text(st, 4));
		last_seen = jg_stmt_column_int64(st, 5);
		expires = jg_stmt_column_int64(st, 6);
		snprintf(id->via, sizeof(id->via), "session");
		id->expires = expires;
		/* a session's groups are its sign-in's: as old as that, however late used */
		id->issued_at = jg_stmt_column_int64(st, 7);
		found = 1;
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_ROW && rc != JG_STMT_DONE) {
		rc = JG_ESTORE;
		goto out;
	}
	rc = 0;
	if (!found) {
		rc = JG_ENOTFOUND;
	} else if (now >= expires || now - last_seen >= idle) {
		/* over: delete it, so the cookie is worthless from now on */
		if (jg_stmt_prepare(conn, sql_sess_del, &st) == 0) {
			jg_stmt_bind_blob(st, 1, h, 32);
			(void)jg_stmt_step(st);
			jg_stmt_finish(st);
		}
		jg_identity_clear(id);
		rc = JG_ENOTFOUND;
	} else if (now - last_seen >= LAST_SEEN_GRANULARITY &&
		   jg_stmt_prepare(conn, sql_sess_touch, &st) == 0) {
		jg_stmt_bind_int64(st, 1, now);
		jg_stmt_bind_blob(st, 2, h, 32);
		(void)jg_stmt_step(st); /* a failed touch only shortens the idle window */
		jg_stmt_finish(st);
	}
out:
	jg_store_release(store, conn);
	return rc;
}

int
jg_session_delete(struct jg_store_conn *conn, const char *token)
{
	struct jg_stmt *st;
	uint8_t h[32];
	int rc;

	if ((rc = jg_sha256(token, strlen(token), h)) != 0 ||
	    (rc = jg_stmt_prepare(conn, sql_sess_del, &st)) != 0)
		return rc;
	jg_stmt_bind_blob(st, 1, h, 32);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

static const char sql_sess_del_user[] = "DELETE FROM sessions WHERE sub = ?";
static const char sql_groups_del_user[] = "DELETE FROM identity_groups WHERE subject = ?";

int
jg_session_delete_user(struct jg_store_conn *conn, const char *sub)
{
	/* the person is gone: their sessions, and the groups kept of them (personal data) */
	const char *const sql[] = {sql_sess_del_user, sql_groups_del_user};
	struct jg_stmt *st;

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if (jg_stmt_prepare(conn, sql[i], &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_text(st, 1, sub);
		int rc = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (rc != JG_STMT_DONE)
			return JG_ESTORE;
	}
	return 0;
}

static const char sql_sess_sweep[] = "DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?";
static const char sql_flow_sweep[] = "DELETE FROM auth_flows WHERE created_at < ?";

int
jg_session_sweep(struct jg_store *store, int64_t now, int64_t idle, int64_t *deleted)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	*deleted = 0;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	rc = jg_stmt_prepare(conn, sql_sess_sweep, &st);
	if (rc == 0) {
		jg_stmt_bind_int64(st, 1, now);
		jg_stmt_bind_int64(st, 2, now - idle);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
		if (rc == 0)
			*deleted += jg_store_changes(conn);
	}
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_flow_sweep, &st)) == 0) {
		jg_stmt_bind_int64(st, 1, now - JG_FLOW_MAX_AGE);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
		if (rc == 0)
			*deleted += jg_store_changes(conn);
	}
	/* the debugging pages' kept tokens that expired in a session that lives on */
	int64_t tokens = 0;
	if (rc == 0 && (rc = jg_session_grant_tokens_sweep(conn, now, &tokens)) == 0)
		*deleted += tokens;
	jg_store_release(store, conn);
	return rc;
}

/*
 * The groups seen.  One row per subject, replaced by each newer
 * authentication, newer by when it was *issued* (seen_at: a token's iat, a
 * session's sign-in), never by when it is used: an old token still valid,
 * or an old session, used after a newer sign-in that lost a group, must not
 * bring that group back.  Nor does an older authentication replace a newer
 * row when two replicas record out of order (the upsert's WHERE).  A busy
 * API client writes once per token: a row as new as the token is left.
 */

static const char sql_groups_get[] =
    "SELECT groups, seen_at FROM identity_groups WHERE subject = ?";
static const char sql_groups_put[] =
    "INSERT INTO identity_groups (subject, groups, seen_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (subject) DO UPDATE SET groups = excluded.groups, seen_at = excluded.seen_at "
    "WHERE identity_groups.seen_at <= excluded.seen_at";

/* The groups of id as their stored text (a JSON array); NULL when out of memory. */
static char *
groups_text_of(const struct jg_identity *id)
{
	json_t *a = json_array();
	char *text;

	for (size_t i = 0; a != NULL && i < id->ngroups; i++)
		if (json_array_append_new(a, json_string(id->groups[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

int
jg_identity_groups_record(struct jg_store_conn *conn, const struct jg_identity *id,
			  int64_t issued_at)
{
	struct jg_stmt *st;
	char *text;
	int rc = 0, step, same = 0;

	/* an authentication of unknown age (no iat) cannot claim to be the newest */
	if (issued_at <= 0)
		return 0;
	if ((text = groups_text_of(id)) == NULL)
		return JG_ENOMEM;
	if ((rc = jg_stmt_prepare(conn, sql_groups_get, &st)) != 0) {
		free(text);
		return JG_ESTORE;
	}
	jg_stmt_bind_text(st, 1, id->sub);
	step = jg_stmt_step(st);
	if (step == JG_STMT_ROW) {
		const char *had = jg_stmt_column_text(st, 0);
		int64_t seen = jg_stmt_column_int64(st, 1);
		/* nothing to write: the row is newer, or as new and the same */
		same = seen > issued_at ||
		       (seen == issued_at && had != NULL && strcmp(had, text) == 0);
	}
	jg_stmt_finish(st);
	if (step != JG_STMT_ROW && step != JG_STMT_DONE) {
		free(text);
		return JG_ESTORE;
	}
	if (!same && (rc = jg_stmt_prepare(conn, sql_groups_put, &st)) == 0) {
		jg_stmt_bind_text(st, 1, id->sub);
		jg_stmt_bind_text(st, 2, text);
		jg_stmt_bind_int64(st, 3, issued_at);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	free(text);
	return rc == 0 ? 0 : JG_ESTORE;
}

int
jg_identity_groups_record_now(struct jg_store *store, const struct jg_identity *id,
			      int64_t issued_at)
{
	struct jg_store_conn *conn;
	int rc;

	if (issued_at <= 0)
		return 0; /* as _record: nothing to write, no connection needed */
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	rc = jg_identity_groups_record(conn, id, issued_at);
	jg_store_release(store, conn);
	return rc;
}

int
jg_identity_groups_latest(struct jg_store_conn *conn, const char *sub, json_t **groups,
			  int64_t *seen_at)
{
	struct jg_stmt *st;
	int step;

	*groups = NULL;
	*seen_at = 0;
	if (jg_stmt_prepare(conn, sql_groups_get, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, sub);
	step = jg_stmt_step(st);
	if (step == JG_STMT_ROW) {
		const char *text = jg_stmt_column_text(st, 0);
		*groups = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
		*seen_at = jg_stmt_column_int64(st, 1);
	}
	jg_stmt_finish(st);
	if (step == JG_STMT_DONE)
		return JG_ENOTFOUND;
	if (step != JG_STMT_ROW)
		return JG_ESTORE;
	size_t i;
	json_t *g;
	int ok = json_is_array(*groups);
	json_array_foreach(*groups, i, g) ok &= json_is_string(g);
	if (!ok) {
		/* a row that is not what this file writes is no groups at all: fail closed */
		json_decref(*groups);
		*groups = NULL;
		return JG_ESTORE;
	}
	return 0;
}

/* sessions and auth_flows as `jitgate store copy` moves them (store.h): signed-in users stay so. */
static const struct jg_store_table session_tables[] = {
    JG_STORE_TABLE("auth_flows", "state_sha256, nonce, code_verifier, return_to, created_at",
		   "bttti", "state_sha256", "?, ?, ?, ?, ?"),
    JG_STORE_TABLE("sessions",
		   "id_sha256, sub, email, name, groups, csrf, created_at, last_seen, expires_at",
		   "btttttiii", "id_sha256", "?, ?, ?, ?, ?, ?, ?, ?, ?"),
    JG_STORE_TABLE("identity_groups", "subject, groups, seen_at", "tti", "subject", "?, ?, ?"),
};

const struct jg_store_table *
jg_session_tables(size_t *n)
{
	*n = sizeof(session_tables) / sizeof(session_tables[0]);
	return session_tables;
}
