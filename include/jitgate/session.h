/*
 * session.h - browser login state: pending logins and signed-in sessions.
 *
 * Both live in the store, keyed by the SHA-256 of a random 256-bit value
 * that only the browser holds (a cookie), so reading the database gives no
 * usable session.  Values are compared in constant time.  A failed
 * SHA-256 fails the call (JG_ECRYPTO): nothing is read or written under a
 * key that is not the value's hash.
 */
#ifndef JITGATE_SESSION_H
#define JITGATE_SESSION_H

#include <stdint.h>

#include <jansson.h>

#include "jitgate/oidc.h"
#include "jitgate/store.h"

#define JG_SESSION_TOKEN_LEN 43	 /* base64url of 32 random bytes */
#define JG_FLOW_MAX_AGE	     600 /* seconds a login may take */

/* out = base64url(SHA-256(in)) without padding (the PKCE S256 challenge). */
int jg_s256_challenge(const char *in, char *out, size_t outlen);

struct jg_login_flow {
	char nonce[64];
	char code_verifier[64];
	char return_to[512];
};

/* Records a login in progress under state (conn: inside the caller's transaction or not). */
int jg_flow_put(struct jg_store_conn *conn, const char *state, const struct jg_login_flow *flow,
		int64_t now);
/* Takes (reads and deletes) the flow for state; JG_ENOTFOUND when absent or too old. */
int jg_flow_take(struct jg_store_conn *conn, const char *state, int64_t now,
		 struct jg_login_flow *flow);

/* Creates a session for id: *token is the cookie value, *csrf its CSRF token. */
int jg_session_put(struct jg_store_conn *conn, const struct jg_identity *id, int64_t now,
		   int64_t lifetime, char token[JG_SESSION_TOKEN_LEN + 1],
		   char csrf[JG_SESSION_TOKEN_LEN + 1]);
/*
 * Looks a session up by its cookie value: *id (via "session", expires =
 * the session's end, issued_at = its sign-in) and its csrf.  Ends it (JG_ENOTFOUND) when past its
 * lifetime or idle for longer than idle seconds; refreshes last_seen.
 */
int jg_session_get(struct jg_store *store, const char *token, int64_t now, int64_t idle,
		   struct jg_identity *id, char csrf[JG_SESSION_TOKEN_LEN + 1]);
/* Ends the session with this cookie value (no error when there is none). */
int jg_session_delete(struct jg_store_conn *conn, const char *token);
/*
 * Ends every session of user sub and deletes the groups seen of them
 * (off-boarding; conn: inside the caller's transaction).  Returns 0 (also
 * when there was none) or JG_ESTORE.
 */
int jg_session_delete_user(struct jg_store_conn *conn, const char *sub);
/*
 * Deletes sessions past their lifetime or idle for idle seconds, and login
 * flows older than JG_FLOW_MAX_AGE: rows that could only be refused, but
 * hold names and email addresses; and the debugging pages' kept tokens that
 * expired (session_grant.h).  *deleted counts them all.
 */
int jg_session_sweep(struct jg_store *store, int64_t now, int64_t idle, int64_t *deleted);

/*
 * The groups seen: each authentication (a sign-in, a verified bearer token)
 * records the groups it carried, as of issued_at (Unix seconds: when the
 * authentication was issued, the token's iat or the sign-in's time, never
 * when it is used), in table identity_groups.  The row is replaced only by
 * an authentication issued later (or as late, with other groups): an old
 * token used after a newer sign-in changes nothing.  issued_at <= 0 (age
 * unknown) records nothing.  _record writes on conn (in the caller's
 * transaction when one is open), _record_now on a connection of its own.
 * 0, JG_ENOMEM or JG_ESTORE.
 */
int jg_identity_groups_record(struct jg_store_conn *conn, const struct jg_identity *id,
			      int64_t issued_at);
int jg_identity_groups_record_now(struct jg_store *store, const struct jg_identity *id,
				  int64_t issued_at);
/*
 * The newest groups seen for sub: *groups a new JSON array of strings (the
 * caller's), *seen_at when.  JG_ENOTFOUND when none was ever recorded,
 * JG_ESTORE (also for a row that is not an array of strings).
 */
int jg_identity_groups_latest(struct jg_store_conn *conn, const char *sub, json_t **groups,
			      int64_t *seen_at);

/*
 * Sessions and sign-ins in progress, declared for `jitgate store copy` (store.h, struct
 * jg_store_table): *n receives how many; the array is static.
 */
const struct jg_store_table *jg_session_tables(size_t *n);

#endif
