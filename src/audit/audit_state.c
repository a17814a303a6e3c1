/*
 * audit_state.c - the audit log's verified state (audit_state.h): the one
 * row of audit_state, its MAC, the writes that keep it (never backward,
 * never dropping a fault, keeping the rolling verifier's cursor) and the
 * start-up check that verifies only what was appended after it.
 *
 * The MAC is HMAC-SHA-256 (OpenSSL's EVP_MAC) over a fixed, length-prefixed
 * encoding of every other column (docs/audit-format.md, "The verified
 * state"); it is compared with CRYPTO_memcmp.  Writes are compare-and-set on
 * the MAC that was read: on PostgreSQL (READ COMMITTED) an UPDATE whose row
 * another replica changed meanwhile matches nothing, and the write reads the
 * row again and merges, so a fault stored by one replica is never
 * overwritten by another's checkpoint.  This file is the only one that
 * prepares SQL on audit_state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit_int.h"
#include "jitgate/audit_state.h"
#include "jitgate/error.h"
#include "jitgate/signed_note.h"

#define STATE_DOMAIN	"jitgate audit-state v1\n"
#define STATE_DOMAIN_V2 "jitgate audit-state v2\n" /* a row with the rolling verifier's cursor */
#define PUT_TRIES	4

static const char sql_read[] =
    "SELECT origin, size, root, last_hash, frontier, fault_seq, fault_why, mac, sweep_seq, "
    "sweep_last, sweep_frontier FROM audit_state WHERE id = 1";
static const char sql_insert[] =
    "INSERT INTO audit_state (id, origin, size, root, last_hash, frontier, fault_seq, "
    "fault_why, mac, sweep_seq, sweep_last, sweep_frontier) "
    "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";
static const char sql_update_cas[] =
    "UPDATE audit_state SET origin = ?, size = ?, root = ?, last_hash = ?, frontier = ?, "
    "fault_seq = ?, fault_why = ?, mac = ?, sweep_seq = ?, sweep_last = ?, "
    "sweep_frontier = ? WHERE id = 1 AND mac = ?";
static const char sql_update_any[] =
    "UPDATE audit_state SET origin = ?, size = ?, root = ?, last_hash = ?, frontier = ?, "
    "fault_seq = ?, fault_why = ?, mac = ?, sweep_seq = ?, sweep_last = ?, "
    "sweep_frontier = ? WHERE id = 1";
static const char sql_head[] = "SELECT size, last_hash, frontier FROM audit_head WHERE id = 1";
static const char sql_cps_above[] =
    "SELECT size, note FROM audit_checkpoints WHERE size > ? ORDER BY size";
static const char sql_cp_newest[] =
    "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1";

static const struct jg_store_table state_tables[] = {
    JG_STORE_TABLE("audit_state",
		   "id, origin, size, root, last_hash, frontier, fault_seq, fault_why, mac, "
		   "sweep_seq, sweep_last, sweep_frontier",
		   "itibbbitbibb", "id", "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_audit_state_tables(size_t *n)
{
	*n = sizeof(state_tables) / sizeof(state_tables[0]);
	return state_tables;
}

/* ---- the MAC ------------------------------------------------------------------ */

static void
put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * The bytes the MAC covers (docs/audit-format.md §6.4); *len of them in buf.
 * A row without a sweep cursor is encoded exactly as before migration 0018
 * (domain v1), so the rows written then still verify; one with a cursor
 * under domain v2, the cursor appended: nulling the cursor's columns turns
 * a v2 row into a v1 encoding its MAC was not made over.
 */
static int
encode(const struct jg_audit_state *s, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t fr[JG_MERKLE_FRONTIER_MAX_BYTES], sfr[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t fr_len, sfr_len = 0, olen = strlen(s->origin),
		       wlen = s->faulted ? strlen(s->fault_why) : 0;
	size_t n = 0;

	if (jg_merkle_frontier_encode(&s->tree, fr, sizeof(fr), &fr_len) != 0 ||
	    (s->swept &&
	     jg_merkle_frontier_encode(&s->sweep.tree, sfr, sizeof(sfr), &sfr_len) != 0))
		return JG_ETOOBIG;
	if (sizeof(STATE_DOMAIN) - 1 + 2 + olen + 8 + 64 + 2 + fr_len + 1 + 8 + 2 + wlen +
		(s->swept ? 8 + 32 + 2 + sfr_len : 0) >
	    cap)
		return JG_ETOOBIG;
	memcpy(buf, s->swept ? STATE_DOMAIN_V2 : STATE_DOMAIN, sizeof(STATE_DOMAIN) - 1);
	n += sizeof(STATE_DOMAIN) - 1;
	put_be(buf + n, olen, 2);
	memcpy(buf + n + 2, s->origin, olen);
	n += 2 + olen;
	put_be(buf + n, s->size, 8);
	memcpy(buf + n + 8, s->root, 32);
	memcpy(buf + n + 40, s->last, 32);
	n += 72;
	put_be(buf + n, fr_len, 2);
	memcpy(buf + n + 2, fr, fr_len);
	n += 2 + fr_len;
	buf[n++] = !s->faulted ? 0 : s->fault_seq == UINT64_MAX ? 2 : 1;
	if (s->faulted) {
		put_be(buf + n, s->fault_seq == UINT64_MAX ? 0 : s->fault_seq, 8);
		put_be(buf + n + 8, wlen, 2);
		memcpy(buf + n + 10, s->fault_why, wlen);
		n += 10 + wlen;
	}
	if (s->swept) {
		put_be(buf + n, s->sweep.next_seq, 8);
		memcpy(buf + n + 8, s->sweep.prev, 32);
		put_be(buf + n + 40, sfr_len, 2);
		memcpy(buf + n + 42, sfr, sfr_len);
		n += 42 + sfr_len;
	}
	*len = n;
	return 0;
}

static int
mac_with(const struct jg_key *key, const uint8_t *msg, size_t len, uint8_t out[32])
{
	uint8_t raw[JG_KEY_AUDIT_STATE_BYTES];
	size_t raw_len = sizeof(raw), md_len = 0;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			       OSSL_PARAM_construct_end()};
	int rc = JG_ECRYPTO;

	if (ctx != NULL && EVP_PKEY_get_raw_private_key(key->pkey, raw, &raw_len) == 1 &&
	    raw_len == sizeof(raw) && EVP_MAC_init(ctx, raw, raw_len, params) &&
	    EVP_MAC_update(ctx, msg, len) && EVP_MAC_final(ctx, out, &md_len, 32) && md_len == 32)
		rc = 0;
	OPENSSL_cleanse(raw, sizeof(raw));
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

#define ENCODED_MAX                                                                                \
	(sizeof(STATE_DOMAIN) + 2 + JG_AUDIT_STATE_ORIGIN_MAX + 72 + 2 +                           \
	 JG_MERKLE_FRONTIER_MAX_BYTES + 11 + JG_AUDIT_STATE_WHY_MAX + 42 +                         \
	 JG_MERKLE_FRONTIER_MAX_BYTES)

/* The MAC under the active key. */
static int
state_mac(const struct jg_keyring *keys, const struct jg_audit_state *s, uint8_t out[32])
{
	uint8_t buf[ENCODED_MAX];
	size_t len;
	int rc = encode(s, buf, sizeof(buf), &len);

	return rc != 0 ? rc : mac_with(jg_keyring_active(keys), buf, len, out);
}

/* 0 when mac is s's under any of keys (newest first), JG_EVERIFY otherwise. */
static int
state_mac_check(const struct jg_keyring *keys, const struct jg_audit_state *s, const uint8_t *mac,
		size_t mac_len)
{
	uint8_t buf[ENCODED_MAX], want[32];
	size_t len;

	if (mac_len != 32 || encode(s, buf, sizeof(buf), &len) != 0)
		return JG_EVERIFY;
	for (int i = keys->n - 1; i >= 0; i--)
		if (mac_with(&keys->keys[i], buf, len, want) == 0 &&
		    CRYPTO_memcmp(want, mac, 32) == 0)
			return 0;
	return JG_EVERIFY;
}

/* ---- reading and writing the row ----------------------------------------------- */

/*
 * The row as stored; mac_out its MAC's first 32 bytes, *mac_len its length.
 * JG_EVERIFY when a column does not fit the layout (the MAC is not looked
 * at here).
 */
static int
read_row(struct jg_store_conn *conn, struct jg_audit_state *s, uint8_t mac_out[32], size_t *mac_len)
{
	struct jg_stmt *st;
	const void *root, *last, *fr, *mac, *slast, *sfr;
	size_t root_len, last_len, fr_len, m_len, slast_len = 0, sfr_len = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	if (jg_stmt_prepare(conn, sql_read, &st) != 0)
		return JG_ESTORE;
	rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW) {
		jg_stmt_finish(st);
		return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	const char *origin = jg_stmt_column_text(st, 0);
	int64_t size = jg_stmt_column_int64(st, 1);
	root = jg_stmt_column_blob(st, 2, &root_len);
	last = jg_stmt_column_blob(st, 3, &last_len);
	fr = jg_stmt_column_blob(st, 4, &fr_len);
	int has_seq = !jg_stmt_column_is_null(st, 5);
	int64_t seq = jg_stmt_column_int64(st, 5);
	const char *why = jg_stmt_column_is_null(st, 6) ? NULL : jg_stmt_column_text(st, 6);
	mac = jg_stmt_column_blob(st, 7, &m_len);
	/* the cursor: all three columns or none (a row of before migration 0018 has none) */
	int nulls = jg_stmt_column_is_null(st, 8) + jg_stmt_column_is_null(st, 9) +
		    jg_stmt_column_is_null(st, 10);
	int64_t sseq = jg_stmt_column_int64(st, 8);
	slast = jg_stmt_column_blob(st, 9, &slast_len);
	sfr = jg_stmt_column_blob(st, 10, &sfr_len);
	rc = JG_EVERIFY;
	s->swept = nulls == 0;
	if ((nulls != 0 && nulls != 3) ||
	    (s->swept && (sseq < 0 || slast_len != 32 ||
			  jg_merkle_frontier_decode(sfr, sfr_len, &s->sweep.tree) != 0 ||
			  s->sweep.tree.size != (uint64_t)sseq)))
		goto out;
	if (s->swept) {
		s->sweep.next_seq = (uint64_t)sseq;
		memcpy(s->sweep.prev, slast, 32);
		s->sweep.threads = 1;
	}
	if (origin == NULL || strlen(origin) > JG_AUDIT_STATE_ORIGIN_MAX || size < 0 ||
	    root_len != 32 || last_len != 32 ||
	    jg_merkle_frontier_decode(fr, fr_len, &s->tree) != 0 ||
	    s->tree.size != (uint64_t)size || (has_seq && (seq < 0 || why == NULL)) ||
	    (why != NULL && strlen(why) >= JG_AUDIT_STATE_WHY_MAX))
		goto out;
	snprintf(s->origin, sizeof(s->origin), "%s", origin);
	s->size = (uint64_t)size;
	memcpy(s->root, root, 32);
	memcpy(s->last, last, 32);
	s->faulted = why != NULL;
	s->fault_seq = has_seq ? (uint64_t)seq : UINT64_MAX;
	if (why != NULL)
		snprintf(s->fault_why, sizeof(s->fault_why), "%s", why);
	/* a MAC of another length is wrong: its length is kept so the check refuses it */
	*mac_len = m_len;
	memcpy(mac_out, mac, m_len < 32 ? m_len : 32);
	rc = 0;
out:
	jg_stmt_finish(st);
	return rc;
}

int
jg_audit_state_read(struct jg_store_conn *conn, const struct jg_keyring *keys,
		    struct jg_audit_state *out)
{
	uint8_t mac[32];
	size_t mac_len = 0;
	int rc = read_row(conn, out, mac, &mac_len);

	return rc != 0 ? rc : state_mac_check(keys, out, mac, mac_len);
}

/* Binds s and its mac as parameters 1-11 of an insert or update. */
static int
bind_state(struct jg_stmt *st, const struct jg_audit_state *s, const uint8_t mac[32],
	   uint8_t fr[JG_MERKLE_FRONTIER_MAX_BYTES], size_t fr_len)
{
	uint8_t sfr[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t sfr_len = 0;

	if (s->swept && jg_merkle_frontier_encode(&s->sweep.tree, sfr, sizeof(sfr), &sfr_len) != 0)
		return JG_ETOOBIG;
	jg_stmt_bind_text(st, 1, s->origin);
	jg_stmt_bind_int64(st, 2, (int64_t)s->size);
	jg_stmt_bind_blob(st, 3, s->root, 32);
	jg_stmt_bind_blob(st, 4, s->last, 32);
	jg_stmt_bind_blob(st, 5, fr, fr_len);
	if (s->faulted && s->fault_seq != UINT64_MAX)
		jg_stmt_bind_int64(st, 6, (int64_t)s->fault_seq);
	else
		jg_stmt_bind_null(st, 6);
	if (s->faulted)
		jg_stmt_bind_text(st, 7, s->fault_why);
	else
		jg_stmt_bind_null(st, 7);
	jg_stmt_bind_blob(st, 8, mac, 32);
	if (s->swept) {
		jg_stmt_bind_int64(st, 9, (int64_t)s->sweep.next_seq);
		jg_stmt_bind_blob(st, 10, s->sweep.prev, 32);
		jg_stmt_bind_blob(st, 11, sfr, sfr_len); /* bound as a copy (store.h) */
	} else {
		jg_stmt_bind_null(st, 9);
		jg_stmt_bind_null(st, 10);
		jg_stmt_bind_null(st, 11);
	}
	return 0;
}

/* Writes s: insert (have 0), compare-and-set on old_mac (have 1), or replace (have 2). */
static int
write_row(struct jg_store_conn *conn, const struct jg_keyring *keys, const struct jg_audit_state *s,
	  int have, const uint8_t *old_mac, size_t old_len, int *written)
{
	uint8_t mac[32], fr[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t fr_len;
	struct jg_stmt *st;
	int rc;

	if ((rc = state_mac(keys, s, mac)) != 0)
		return rc;
	if (jg_merkle_frontier_encode(&s->tree, fr, sizeof(fr), &fr_len) != 0)
		return JG_ETOOBIG;
	if (jg_stmt_prepare(conn,
			    have == 0	? sql_insert
			    : have == 1 ? sql_update_cas
					: sql_update_any,
			    &st) != 0)
		return JG_ESTORE;
	if ((rc = bind_state(st, s, mac, fr, fr_len)) != 0) {
		jg_stmt_finish(st);
		return rc;
	}
	if (have == 1)
		jg_stmt_bind_blob(st, 12, old_mac, old_len);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	*written = jg_store_changes(conn) == 1;
	return 0;
}

/* The verified part of s from chain. */
static int
from_chain(struct jg_audit_state *s, const struct jg_chain *chain)
{
	s->size = chain->next_seq;
	memcpy(s->last, chain->prev, 32);
	s->tree = chain->tree;
	return jg_merkle_frontier_root(&s->tree, s->root) == 0 ? 0 : JG_ECRYPTO;
}

int
jg_audit_state_put(struct jg_store_conn *conn, const struct jg_keyring *keys, const char *origin,
		   const struct jg_chain *chain, uint64_t fault_seq, const char *fault_why)
{
	struct jg_audit_state cur, next;
	uint8_t old_mac[32];
	size_t old_len = 0;
	int rc;

	if (keys == NULL || keys->n == 0 || strlen(origin) > JG_AUDIT_STATE_ORIGIN_MAX)
		return JG_EINVAL;
	for (int attempt = 0; attempt < PUT_TRIES; attempt++) {
		int have, written = 0;
		rc = read_row(conn, &cur, old_mac, &old_len);
		if (rc == 0)
			rc = state_mac_check(keys, &cur, old_mac, old_len);
		if (rc == JG_ENOTFOUND)
			have = 0;
		else if (rc == JG_EVERIFY && fault_why != NULL)
			have = 2; /* the fault matters more than a row nobody can trust */
		else if (rc != 0)
			return rc;
		else
			have = 1;

		memset(&next, 0, sizeof(next));
		snprintf(next.origin, sizeof(next.origin), "%s", origin);
		jg_merkle_frontier_init(&next.tree);
		if (jg_merkle_frontier_root(&next.tree, next.root) != 0)
			return JG_ECRYPTO;
		if (have == 1 && strcmp(cur.origin, origin) == 0 &&
		    (chain == NULL || cur.size >= chain->next_seq)) {
			/* the stored state is as far or further: the size never moves back */
			next.size = cur.size;
			memcpy(next.root, cur.root, 32);
			memcpy(next.last, cur.last, 32);
			next.tree = cur.tree;
		} else if (chain != NULL && (rc = from_chain(&next, chain)) != 0) {
			return rc;
		}
		if (have == 1 && strcmp(cur.origin, origin) == 0) { /* the sweep's cursor stays */
			next.swept = cur.swept;
			next.sweep = cur.sweep;
		}
		if (have == 1 && cur.faulted) { /* the first fault found stays */
			next.faulted = 1;
			next.fault_seq = cur.fault_seq;
			memcpy(next.fault_why, cur.fault_why, sizeof(next.fault_why));
		} else if (fault_why != NULL) {
			next.faulted = 1;
			next.fault_seq = fault_seq;
			snprintf(next.fault_why, sizeof(next.fault_why), "%s", fault_why);
		}
		if (have == 1 && next.size == cur.size && next.faulted == cur.faulted &&
		    strcmp(next.origin, cur.origin) == 0)
			return 0; /* nothing to change */
		if ((rc = write_row(conn, keys, &next, have, old_mac, old_len, &written)) != 0)
			return rc;
		if (written)
			return 0;
		/* another writer changed or created the row since it was read: merge again */
	}
	return JG_ERETRY;
}

int
jg_audit_state_store(struct jg_store *store, const struct jg_keyring *keys, const char *origin,
		     const struct jg_chain *chain, uint64_t fault_seq, const char *fault_why)
{
	struct jg_store_conn *conn;
	int rc;

	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_store_begin(conn)) == 0) {
		rc = jg_audit_state_put(conn, keys, origin, chain, fault_seq, fault_why);
		if (rc == 0)
			rc = jg_store_commit(conn) == 0 ? 0 : JG_ESTORE;
		if (rc != 0)
			jg_store_rollback(conn);
	}
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_state_put_sweep(struct jg_store_conn *conn, const struct jg_keyring *keys,
			 const struct jg_chain *sweep)
{
	struct jg_audit_state cur;
	uint8_t old_mac[32];
	size_t old_len = 0;
	int rc;

	if (keys == NULL || keys->n == 0)
		return JG_EINVAL;
	for (int attempt = 0; attempt < PUT_TRIES; attempt++) {
		int written = 0;
		rc = read_row(conn, &cur, old_mac, &old_len);
		if (rc == 0)
			rc = state_mac_check(keys, &cur, old_mac, old_len);
		if (rc != 0)
			return rc;
		/* everything else as read: a fault, the verified size, the origin stay */
		cur.swept = 1;
		cur.sweep = *sweep;
		cur.sweep.threads = 1;
		if ((rc = write_row(conn, keys, &cur, 1, old_mac, old_len, &written)) != 0)
			return rc;
		if (written)
			return 0;
		/* a checkpoint or a fault was written meanwhile: read it and keep it */
	}
	return JG_ERETRY;
}

int
jg_audit_state_store_sweep(struct jg_store *store, const struct jg_keyring *keys,
			   const struct jg_chain *sweep)
{
	struct jg_store_conn *conn;
	int rc;

	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	if ((rc = jg_store_begin(conn)) == 0) {
		rc = jg_audit_state_put_sweep(conn, keys, sweep);
		if (rc == 0)
			rc = jg_store_commit(conn) == 0 ? 0 : JG_ESTORE;
		if (rc != 0)
			jg_store_rollback(conn);
	}
	jg_store_release(store, conn);
	return rc;
}

/* ---- the start-up check ------------------------------------------------------------ */

/* Opens a checkpoint note with whichever trusted key signed it. */
static int
open_note(const char *note, const struct jg_audit_verifiers *vs, struct jg_checkpoint *cp)
{
	for (int i = 0; i < vs->n; i++)
		if (jg_signed_note_open_checkpoint(note, strlen(note), &vs->v[i], cp) == 0)
			return 0;
	return JG_EVERIFY;
}

/*
 * One stored checkpoint: validly signed, its size its row's and within the
 * log, its root what the stored tree gives at that size.
 */
static int
check_cp(struct jg_store_conn *conn, const struct jg_audit_verifiers *vs, uint64_t row_size,
	 const char *note, uint64_t log_size, struct jg_chain_fault *fault)
{
	struct jg_checkpoint cp;
	uint8_t root[32];
	int rc;

	if (note == NULL || open_note(note, vs, &cp) != 0 || cp.size != row_size)
		return jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "the stored checkpoint of size %llu is not validly signed by a checkpoint "
		    "key of this deployment (or its size was edited)",
		    (unsigned long long)row_size);
	if (cp.size > log_size)
		return jg_chain_fault_set(fault, log_size,
					  "truncated: a signed checkpoint covers %llu entries but "
					  "the log holds only %llu",
					  (unsigned long long)cp.size,
					  (unsigned long long)log_size);
	rc = jg_merkle_root_from_nodes(cp.size, jg_audit_get_node, conn, root);
	if (rc == JG_ENOTFOUND || rc == JG_EVERIFY || (rc == 0 && CRYPTO_memcmp(root, cp.root, 32)))
		return jg_chain_fault_set(fault, UINT64_MAX,
					  "the signed checkpoint of size %llu does not match the "
					  "stored tree (root differs): an entry or tree node below "
					  "%llu was altered",
					  (unsigned long long)cp.size, (unsigned long long)cp.size);
	return rc;
}

/* The checkpoints above size, and the newest one, each checked (check_cp). */
static int
check_cps(struct jg_store_conn *conn, const struct jg_audit_verifiers *vs, uint64_t size,
	  uint64_t log_size, struct jg_chain_fault *fault)
{
	struct jg_stmt *st;
	int rc, step;

	for (int pass = 0; pass < 2; pass++) {
		if (jg_stmt_prepare(conn, pass == 0 ? sql_cps_above : sql_cp_newest, &st) != 0)
			return JG_ESTORE;
		if (pass == 0)
			jg_stmt_bind_int64(st, 1, (int64_t)size);
		rc = 0;
		while (rc == 0 && (step = jg_stmt_step(st)) == JG_STMT_ROW)
			rc = check_cp(conn, vs, (uint64_t)jg_stmt_column_int64(st, 0),
				      jg_stmt_column_text(st, 1), log_size, fault);
		if (rc == 0 && step != JG_STMT_DONE)
			rc = JG_ESTORE;
		jg_stmt_finish(st);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The stored tree at s->size gives the state's frontier, root and last leaf. */
static int
check_state_tree(struct jg_store_conn *conn, const struct jg_audit_state *s,
		 struct jg_chain_fault *fault)
{
	struct jg_merkle_frontier f;
	uint8_t root[32], leaf[32];
	int rc;

	if (jg_merkle_frontier_root(&s->tree, root) != 0)
		return JG_ECRYPTO;
	if (CRYPTO_memcmp(root, s->root, 32) != 0)
		return jg_chain_fault_set(fault, UINT64_MAX,
					  "the verified state's root is not its frontier's");
	jg_merkle_frontier_init(&f);
	rc = jg_merkle_frontier_from_nodes(s->size, jg_audit_get_node, conn, &f);
	if (rc == 0 && s->size > 0)
		rc = jg_audit_get_node(conn, 0, s->size - 1, leaf);
	if (rc != 0 && rc != JG_ENOTFOUND && rc != JG_EVERIFY)
		return rc;
	if (rc != 0 || f.size != s->tree.size ||
	    CRYPTO_memcmp(f.hash, s->tree.hash, sizeof(f.hash)) != 0 ||
	    (s->size > 0 && CRYPTO_memcmp(leaf, s->last, 32) != 0))
		return jg_chain_fault_set(fault, s->size > 0 ? s->size - 1 : UINT64_MAX,
					  "the stored tree of the first %llu entries is not the "
					  "verified state's: an entry or tree node below %llu was "
					  "altered",
					  (unsigned long long)s->size, (unsigned long long)s->size);
	return 0;
}

/* The chain head must describe exactly the verified chain (as the full verification checks). */
static int
check_head(struct jg_store_conn *conn, const struct jg_chain *chain, uint64_t head_size,
	   struct jg_chain_fault *fault)
{
	uint8_t enc[JG_MERKLE_FRONTIER_MAX_BYTES];
	size_t enc_len, last_len, fr_len;
	struct jg_stmt *st;

	if (jg_stmt_prepare(conn, sql_head, &st) != 0)
		return JG_ESTORE;
	if (jg_stmt_step(st) != JG_STMT_ROW) {
		jg_stmt_finish(st);
		return JG_ESTORE;
	}
	const void *last = jg_stmt_column_blob(st, 1, &last_len);
	const void *fr = jg_stmt_column_blob(st, 2, &fr_len);
	int ok = (uint64_t)jg_stmt_column_int64(st, 0) == head_size &&
		 head_size == chain->next_seq && last_len == 32 &&
		 CRYPTO_memcmp(last, chain->prev, 32) == 0 &&
		 jg_merkle_frontier_encode(&chain->tree, enc, sizeof(enc), &enc_len) == 0 &&
		 enc_len == fr_len && memcmp(enc, fr, fr_len) == 0;
	jg_stmt_finish(st);
	if (!ok)
		return jg_chain_fault_set(
		    fault, chain->next_seq ? chain->next_seq - 1 : 0,
		    "the chain head (size %llu) does not match the %llu entries in the log: "
		    "entries were removed, added or the last one altered",
		    (unsigned long long)head_size, (unsigned long long)chain->next_seq);
	return 0;
}

int
jg_audit_state_start(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
		     const struct jg_keyring *keys, const char *origin, int threads,
		     struct jg_chain *chain, uint64_t *tail, struct jg_chain_fault *fault)
{
	struct jg_store_conn *conn;
	struct jg_audit_state s;
	struct jg_chain c;
	uint64_t head_size = 0, added = 0;
	int rc;

	memset(fault, 0, sizeof(*fault));
	fault->seq = UINT64_MAX;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	/* one snapshot: the state, the head, the entries and checkpoints agree */
	if ((rc = jg_store_begin_read(conn)) != 0)
		goto out;
	rc = jg_audit_state_read(conn, keys, &s);
	if (rc == JG_EVERIFY) {
		rc = jg_chain_fault_set(fault, UINT64_MAX,
					"the verified state (audit_state) does not verify under "
					"any audit-state key: it was edited, or written under a "
					"key this host lacks");
		goto out;
	}
	if (rc != 0)
		goto out;
	if (s.faulted) {
		rc = jg_chain_fault_set(fault, s.fault_seq,
					"a fault found while jitgate was running is stored: %s",
					s.fault_why);
		goto out;
	}
	if (strcmp(s.origin, origin) != 0) {
		rc = jg_chain_fault_set(fault, UINT64_MAX,
					"the verified state is of the log '%s', not '%s'", s.origin,
					origin);
		goto out;
	}
	if ((rc = jg_audit_read_size(conn, &head_size)) != 0)
		goto out;
	if (s.size > head_size) {
		rc = jg_chain_fault_set(fault, head_size,
					"the verified state covers %llu entries but the log holds "
					"only %llu: entries were removed",
					(unsigned long long)s.size, (unsigned long long)head_size);
		goto out;
	}
	if ((rc = check_state_tree(conn, &s, fault)) != 0)
		goto out;
	/* the entries after the state, exactly as the guard's and writer's extension checks them */
	c.next_seq = s.size;
	memcpy(c.prev, s.last, 32);
	c.tree = s.tree;
	c.threads = threads > 0 ? threads : 1;
	if ((rc = jg_audit_chain_extend_conn(conn, &c, &added, fault)) != 0)
		goto out;
	if ((rc = check_head(conn, &c, head_size, fault)) != 0 ||
	    (rc = check_cps(conn, verifiers, s.size, head_size, fault)) != 0)
		goto out;
	*chain = c;
	if (tail)
		*tail = added;
out:
	jg_store_rollback(conn);
	jg_store_release(store, conn);
	return rc;
}

int
jg_audit_state_verify_start(struct jg_store *store, const struct jg_audit_verifiers *verifiers,
			    const char *key_dir, const char *origin, int threads,
			    struct jg_chain *chain, struct jg_audit_start_report *rep,
			    struct jg_chain_fault *fault, char *err, size_t errlen)
{
	struct jg_keyring *keys = NULL;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = jg_keys_load(key_dir, JG_KEY_AUDIT_STATE, &keys, err, errlen);
	if (rc != 0 && rc != JG_ENOTFOUND)
		return rc;
	if (errlen > 0)
		err[0] = '\0'; /* no key is not an error: the whole log is verified instead */
	if (keys != NULL) {
		rep->how = JG_AUDIT_START_TAIL;
		rc = jg_audit_state_start(store, verifiers, keys, origin, threads, chain,
					  &rep->tail, fault);
		if (rc == 0) {
			rep->size = chain->next_seq;
			rep->from = chain->next_seq - rep->tail;
		}
		if (rc != JG_ENOTFOUND)
			goto out;
	}
	rep->how = keys != NULL ? JG_AUDIT_START_FULL : JG_AUDIT_START_FULL_NO_KEY;
	rc = jg_audit_verify_store_chain(store, verifiers, threads, &rep->size, chain, fault);
	/* a state written now saves the next start the same work (a failure only costs time) */
	if (rc == 0 && keys != NULL)
		rep->state_kept =
		    jg_audit_state_store(store, keys, origin, chain, UINT64_MAX, NULL) == 0;
out:
	jg_keyring_free(keys);
	return rc;
}
