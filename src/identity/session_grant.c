/*
 * session_grant.c - the capability tokens kept per (session, grant), encrypted
 * (see session_grant.h); the owner of table session_grant_tokens.
 *
 * The keys are the raw bytes of the session-token kind (keys.h,
 * jg_keys_load_raw), copied once at load, as cursor.c has them; sealing and
 * opening are aead.h's, with a random 96-bit nonce per row (a row is
 * written once per mint: far fewer than the 2^32 seals a key may make
 * before a nonce could repeat).  A row that does not open - another
 * session's or grant's, edited, or sealed by a key no longer loaded - reads
 * as no row: the caller mints a new token and replaces it.  Nothing here logs a token or holds it
 * longer than a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/aead.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/session_grant.h"
#include "jitgate/sha256.h"

#define DOMAIN	     "jitgate session-grant token v1"
#define GRANT_ID_MAX 64 /* bytes of a grant id (access_requests.id; far shorter) */

_Static_assert(JG_KEY_SESSION_TOKEN_BYTES == JG_AEAD_KEY_BYTES,
	       "a session-token key is an AES-256 key");

struct jg_session_grant_keys {
	struct jg_raw_keys raw; /* oldest first; the newest seals */
};

static const char sql_get[] = "SELECT key_number, sealed, expires_at FROM session_grant_tokens "
			      "WHERE session_sha256 = ? AND grant_id = ?";
/*
 * Only while the grant is active: a row is written after its token's
 * issuance committed, so an end that committed in between (and deleted the
 * rows there were) must not be followed by a row for the ended grant.  On
 * PostgreSQL FOR SHARE locks the grant's row: an end in progress makes this
 * wait and then see the grant ended (nothing written); an end that comes
 * later waits for this insert's commit, and its DELETE then sees the row.
 * SQLite has one writer at a time: the check and the write are one step.
 */
#define SQL_PUT_HEAD                                                                               \
	"INSERT INTO session_grant_tokens (session_sha256, grant_id, key_number, sealed, "         \
	"expires_at, created_at) SELECT ?, ?, ?, ?, ?, ? FROM access_requests WHERE id = ? AND "   \
	"state = 'active' AND expires_at > ?"
#define SQL_PUT_TAIL                                                                               \
	" ON CONFLICT (session_sha256, grant_id) DO UPDATE SET key_number = excluded.key_number, " \
	"sealed = excluded.sealed, expires_at = excluded.expires_at, created_at = "                \
	"excluded.created_at"
static const char sql_put_sqlite[] = SQL_PUT_HEAD SQL_PUT_TAIL;
static const char sql_put_pg[] = SQL_PUT_HEAD " FOR SHARE" SQL_PUT_TAIL;
static const char sql_end[] = "DELETE FROM session_grant_tokens WHERE grant_id = ?";
static const char sql_forget[] =
    "DELETE FROM session_grant_tokens WHERE session_sha256 = ? AND grant_id = ?";
static const char sql_sweep[] = "DELETE FROM session_grant_tokens WHERE expires_at <= ?";

void
jg_session_grant_keys_free(struct jg_session_grant_keys *keys)
{
	if (keys == NULL)
		return;
	OPENSSL_cleanse(keys, sizeof(*keys));
	free(keys);
}

int
jg_session_grant_keys_load(const char *key_dir, struct jg_session_grant_keys **out, char *err,
			   size_t errlen)
{
	struct jg_session_grant_keys *keys = NULL;
	int rc;

	*out = NULL;
	if ((keys = calloc(1, sizeof(*keys))) == NULL)
		return JG_ENOMEM;
	/* the AAD binds the number in two bytes: jg_keys_load_raw refuses any that do not fit */
	if ((rc = jg_keys_load_raw(key_dir, JG_KEY_SESSION_TOKEN, &keys->raw, err, errlen)) != 0) {
		jg_session_grant_keys_free(keys);
		return rc;
	}
	*out = keys;
	return 0;
}

bool
jg_session_grant_token_fresh(int64_t expires, int64_t grant_end, int64_t now)
{
	if (now >= expires)
		return false;
	/* a renewal ends with the grant at the latest: one that already does is as good */
	return expires - now > JG_SESSION_GRANT_RENEW_BEFORE || expires >= grant_end;
}

/* The AAD of a row (see session_grant.h); its length, or 0 for a grant id too long. */
static size_t
aad_of(const uint8_t session[JG_SHA256_LEN], const char *grant, int number, int64_t expires,
       uint8_t *aad, size_t cap)
{
	size_t glen = strlen(grant), n = 0;

	if (glen == 0 || glen > GRANT_ID_MAX ||
	    sizeof(DOMAIN) + JG_SHA256_LEN + glen + 1 + 2 + 8 > cap)
		return 0;
	memcpy(aad, DOMAIN, sizeof(DOMAIN)); /* its NUL included */
	n = sizeof(DOMAIN);
	memcpy(aad + n, session, JG_SHA256_LEN);
	n += JG_SHA256_LEN;
	memcpy(aad + n, grant, glen + 1);
	n += glen + 1;
	aad[n++] = (uint8_t)(number >> 8);
	aad[n++] = (uint8_t)number;
	for (int i = 7; i >= 0; i--)
		aad[n++] = (uint8_t)((uint64_t)expires >> (8 * i));
	return n;
}

#define AAD_MAX (sizeof(DOMAIN) + JG_SHA256_LEN + GRANT_ID_MAX + 1 + 2 + 8)

/* The session's key in the store: SHA-256 of its cookie value, as table sessions has it. */
static int
session_key(const char *cookie, uint8_t h[JG_SHA256_LEN])
{
	if (cookie == NULL || cookie[0] == '\0')
		return JG_EINVAL;
	return jg_sha256(cookie, strlen(cookie), h);
}

int
jg_session_grant_token_put(struct jg_store_conn *conn, const struct jg_session_grant_keys *keys,
			   const char *session_cookie, const char *grant, const char *token,
			   int64_t expires, int64_t now)
{
	uint8_t h[JG_SHA256_LEN], aad[AAD_MAX], *sealed = NULL;
	size_t tlen, alen, slen = 0;
	int rc;
	struct jg_stmt *st;

	if (keys == NULL || keys->raw.n == 0 || grant == NULL || token == NULL ||
	    (tlen = strlen(token)) == 0 || tlen > JG_SESSION_GRANT_TOKEN_MAX)
		return JG_EINVAL;
	if ((rc = session_key(session_cookie, h)) != 0)
		return rc;
	const struct jg_raw_key *key = &keys->raw.keys[keys->raw.n - 1];
	if ((alen = aad_of(h, grant, key->number, expires, aad, sizeof(aad))) == 0)
		return JG_EINVAL;
	if ((sealed = malloc(tlen + JG_AEAD_OVERHEAD)) == NULL)
		return JG_ENOMEM;
	if (jg_aead_seal(key->k, aad, alen, (const uint8_t *)token, tlen, sealed,
			 tlen + JG_AEAD_OVERHEAD, &slen) != 0) {
		rc = JG_ECRYPTO;
		goto out;
	}
	if (jg_stmt_prepare(
		conn, jg_store_conn_engine(conn) == JG_STORE_POSTGRES ? sql_put_pg : sql_put_sqlite,
		&st) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	jg_stmt_bind_blob(st, 1, h, sizeof(h));
	jg_stmt_bind_text(st, 2, grant);
	jg_stmt_bind_int64(st, 3, key->number);
	jg_stmt_bind_blob(st, 4, sealed, slen);
	jg_stmt_bind_int64(st, 5, expires);
	jg_stmt_bind_int64(st, 6, now);
	jg_stmt_bind_text(st, 7, grant);
	jg_stmt_bind_int64(st, 8, now);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc == 0 && jg_store_changes(conn) == 0)
		rc = JG_ECONFLICT; /* the grant is no longer active: nothing kept */
out:
	free(sealed); /* ciphertext only: nothing to wipe */
	return rc;
}

/* Opens a row's sealed bytes into a new NUL-terminated token; NULL when it does not open. */
static char *
open_sealed(const struct jg_raw_key *key, const uint8_t *aad, size_t alen, const uint8_t *sealed,
	    size_t slen)
{
	size_t n, len = 0;
	char *plain;

	if (slen <= JG_AEAD_OVERHEAD || slen - JG_AEAD_OVERHEAD > JG_SESSION_GRANT_TOKEN_MAX)
		return NULL;
	n = slen - JG_AEAD_OVERHEAD;
	if ((plain = calloc(1, n + 1)) == NULL)
		return NULL;
	if (jg_aead_open(key->k, aad, alen, sealed, slen, (uint8_t *)plain, n, &len) != 0 ||
	    memchr(plain, '\0', n) != NULL) {
		OPENSSL_cleanse(plain, n + 1);
		free(plain);
		return NULL;
	}
	return plain;
}

int
jg_session_grant_token_get(struct jg_store_conn *conn, const struct jg_session_grant_keys *keys,
			   const char *session_cookie, const char *grant, char **token,
			   int64_t *expires)
{
	uint8_t h[JG_SHA256_LEN], aad[AAD_MAX];
	struct jg_stmt *st;
	int rc, step;

	*token = NULL;
	*expires = 0;
	if (keys == NULL || grant == NULL)
		return JG_EINVAL;
	if ((rc = session_key(session_cookie, h)) != 0)
		return rc;
	if (jg_stmt_prepare(conn, sql_get, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_blob(st, 1, h, sizeof(h));
	jg_stmt_bind_text(st, 2, grant);
	step = jg_stmt_step(st);
	rc = step == JG_STMT_DONE ? JG_ENOTFOUND : step == JG_STMT_ROW ? 0 : JG_ESTORE;
	if (rc == 0) {
		int64_t number = jg_stmt_column_int64(st, 0), exp = jg_stmt_column_int64(st, 2);
		size_t slen = 0, alen;
		const uint8_t *sealed = jg_stmt_column_blob(st, 1, &slen);
		const struct jg_raw_key *key = number >= 0 && number <= 0xffff
						   ? jg_raw_keys_find(&keys->raw, (int)number)
						   : NULL;
		rc = JG_ENOTFOUND; /* a row that does not open is no token */
		if (key != NULL && sealed != NULL &&
		    (alen = aad_of(h, grant, key->number, exp, aad, sizeof(aad))) != 0 &&
		    (*token = open_sealed(key, aad, alen, sealed, slen)) != NULL) {
			*expires = exp;
			rc = 0;
		}
	}
	jg_stmt_finish(st);
	return rc;
}

int
jg_session_grant_tokens_end(struct jg_store_conn *conn, const char *grant, int64_t *deleted)
{
	struct jg_stmt *st;
	int rc;

	if (deleted)
		*deleted = 0;
	if (jg_stmt_prepare(conn, sql_end, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, grant);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc == 0 && deleted)
		*deleted = jg_store_changes(conn);
	return rc;
}

int
jg_session_grant_token_forget(struct jg_store_conn *conn, const char *session_cookie,
			      const char *grant)
{
	uint8_t h[JG_SHA256_LEN];
	struct jg_stmt *st;
	int rc;

	if (grant == NULL)
		return JG_EINVAL;
	if ((rc = session_key(session_cookie, h)) != 0)
		return rc;
	if (jg_stmt_prepare(conn, sql_forget, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_blob(st, 1, h, sizeof(h));
	jg_stmt_bind_text(st, 2, grant);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

int
jg_session_grant_tokens_sweep(struct jg_store_conn *conn, int64_t now, int64_t *deleted)
{
	struct jg_stmt *st;
	int rc;

	if (deleted)
		*deleted = 0;
	if (jg_stmt_prepare(conn, sql_sweep, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc == 0 && deleted)
		*deleted = jg_store_changes(conn);
	return rc;
}

/* As `jitgate store copy` moves it: the same key_dir opens the rows in the copy. */
static const struct jg_store_table grant_token_tables[] = {
    JG_STORE_TABLE("session_grant_tokens",
		   "session_sha256, grant_id, key_number, sealed, expires_at, created_at", "btibii",
		   "session_sha256, grant_id", "?, ?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_session_grant_tables(size_t *n)
{
	*n = sizeof(grant_token_tables) / sizeof(grant_token_tables[0]);
	return grant_token_tables;
}
