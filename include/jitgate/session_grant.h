/*
 * session_grant.h - the capability tokens jitgate keeps for a browser
 * session, one per (session, grant): table session_grant_tokens.
 *
 * The debugging pages (docs/web.md) act through the guard exactly as the
 * API does, with a capability token; the browser never holds it.  jitgate
 * mints one for a (session, grant) on first use (token_issue.h, audited
 * token.issued), keeps it here, and reuses it while it has more than
 * JG_SESSION_GRANT_RENEW_BEFORE seconds left (or cannot get longer: it
 * already ends with its grant).  A row is a child of its session (ON DELETE
 * CASCADE: sign-out, expiry, off-boarding and the sweeper take its tokens
 * with it) and is deleted at its grant's end (access_end.c, in the end's
 * transaction).
 *
 * The token is stored encrypted with AES-256-GCM under the newest
 * session-token key of key_dir (keys.h, kind session-token: every replica
 * shares key_dir), so a copy of the database gives no usable token:
 *
 *   sealed = nonce[12] || ciphertext || tag[16]
 *   AAD    = "jitgate session-grant token v1" || 0x00 || session_sha256[32]
 *            || grant || 0x00 || key number (2 bytes, big endian)
 *            || expires_at (8 bytes, big endian)
 *
 * The AAD binds a ciphertext to its session, grant and expiry: a row
 * copied under another session or grant (or with its expiry changed) does
 * not decrypt, and is treated as absent.  The session is named by the SHA-256
 * of its cookie value, as in table sessions (session.h).  Nothing here
 * logs a token.  Thread-safe: the keys are read only after loading.
 */
#ifndef JITGATE_SESSION_GRANT_H
#define JITGATE_SESSION_GRANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jitgate/store.h"

#define JG_SESSION_GRANT_RENEW_BEFORE 60   /* seconds: a token with less left is renewed */
#define JG_SESSION_GRANT_TOKEN_MAX    4096 /* bytes of a token kept (a JWT is far shorter) */

struct jg_session_grant_keys;

/*
 * Loads every session-token key of key_dir (keys.h: 0600 files, no
 * symlinks).  JG_ENOTFOUND (with "run 'jitgate keys generate --kind
 * session-token'" in err) when there is none.  *out is the caller's, freed
 * with jg_session_grant_keys_free(), which wipes the keys.
 */
int jg_session_grant_keys_load(const char *key_dir, struct jg_session_grant_keys **out, char *err,
			       size_t errlen) __attribute__((warn_unused_result));
void jg_session_grant_keys_free(struct jg_session_grant_keys *keys);

/*
 * Whether a kept token that expires at `expires` is still to be used at
 * now for a grant ending at grant_end: more than
 * JG_SESSION_GRANT_RENEW_BEFORE seconds left, or it already ends with the
 * grant (a renewal could not make it last longer) and has not expired.
 */
bool jg_session_grant_token_fresh(int64_t expires, int64_t grant_end, int64_t now);

/*
 * The token kept for (session_cookie's session, grant): *token (a secret:
 * the caller wipes and frees it) and *expires (its exp).  JG_ENOTFOUND
 * when there is none, or when the row does not decrypt under keys with its
 * own session and grant (moved, edited, or sealed by a key no longer
 * loaded); JG_ESTORE; JG_ENOMEM.
 */
int jg_session_grant_token_get(struct jg_store_conn *conn, const struct jg_session_grant_keys *keys,
			       const char *session_cookie, const char *grant, char **token,
			       int64_t *expires) __attribute__((warn_unused_result));

/*
 * Keeps token (1..JG_SESSION_GRANT_TOKEN_MAX bytes) with its exp expires
 * for (session_cookie's session, grant), replacing any kept before, sealed
 * under the newest key, only while grant is active at now (checked in the
 * insert itself; on PostgreSQL the grant's row is locked FOR SHARE, so an
 * end running at the same time either finds the row or is seen: a row for
 * an ended grant is never left).  0, JG_ECONFLICT (the grant is not active:
 * nothing kept), JG_EINVAL (no keys, bad arguments), JG_ECRYPTO, JG_ESTORE
 * (also when the session no longer exists: the foreign key).
 */
int jg_session_grant_token_put(struct jg_store_conn *conn, const struct jg_session_grant_keys *keys,
			       const char *session_cookie, const char *grant, const char *token,
			       int64_t expires, int64_t now) __attribute__((warn_unused_result));

/*
 * Deletes every token kept for grant (its end: conn inside the end's
 * transaction).  *deleted (may be NULL) counts them.  0 or JG_ESTORE.
 */
int jg_session_grant_tokens_end(struct jg_store_conn *conn, const char *grant, int64_t *deleted);

/*
 * Deletes the token kept for (session_cookie's session, grant): one the
 * guard refused, or whose holder no longer qualifies.  0 (also when there
 * was none), JG_EINVAL or JG_ESTORE.
 */
int jg_session_grant_token_forget(struct jg_store_conn *conn, const char *session_cookie,
				  const char *grant) __attribute__((warn_unused_result));

/*
 * Deletes every kept token expired at now (run by the session sweeper,
 * session.h: an expired token is of no use, and its grant's end may never
 * come while the session lives).  *deleted (may be NULL) counts them.  0
 * or JG_ESTORE.
 */
int jg_session_grant_tokens_sweep(struct jg_store_conn *conn, int64_t now, int64_t *deleted);

/*
 * Table session_grant_tokens, declared for `jitgate store copy` (store.h,
 * struct jg_store_table): copied after sessions and access_requests, which
 * its rows refer to.  *n receives how many; the array is static.
 */
const struct jg_store_table *jg_session_grant_tables(size_t *n);

#endif
