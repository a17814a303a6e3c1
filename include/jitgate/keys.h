/*
 * keys.h - jitgate's keys on disk.
 *
 * Six kinds, kept apart so that one key's compromise does not forge the
 * others' output: token keys (ECDSA P-256, for capability tokens),
 * checkpoint keys (Ed25519, for the audit log's signed checkpoints), pii
 * keys (32 random bytes, the HMAC-SHA-256 key that turns personal data in
 * audit entries into markers, pii.h), cursor keys (32 random bytes, the
 * AES-256-GCM key that seals paging cursors, cursor.h) and audit-state keys
 * (32 random bytes, the HMAC-SHA-256 key of the audit log's verified state,
 * audit_state.h) and session-token keys (32 random bytes, the AES-256-GCM
 * key that encrypts the capability tokens jitgate keeps for the debugging
 * pages, per session and grant, session_grant.h).  Each key is a PEM file
 * in the key directory named <kind>-<NNNN>.pem (mode 0600, the directory
 * 0700): a PKCS#8 private key, or for a secret kind a "JITGATE PII KEY",
 * "JITGATE CURSOR KEY", "JITGATE AUDIT STATE KEY" or "JITGATE SESSION
 * TOKEN KEY" PEM block of exactly 32 bytes.
 * The highest number is the active key, and older keys stay so that what
 * they signed (or marked, or sealed) still verifies.  Rotation adds a key;
 * nothing here deletes one.
 */
#ifndef JITGATE_KEYS_H
#define JITGATE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum jg_key_kind {
	JG_KEY_TOKEN,
	JG_KEY_CHECKPOINT,
	JG_KEY_PII,
	JG_KEY_CURSOR,
	JG_KEY_AUDIT_STATE,
	JG_KEY_SESSION_TOKEN
};

#define JG_KEY_KINDS		       6
#define JG_KEY_PII_BYTES	       32
#define JG_KEY_PII_PEM_LABEL	       "JITGATE PII KEY"
#define JG_KEY_CURSOR_BYTES	       32
#define JG_KEY_CURSOR_PEM_LABEL	       "JITGATE CURSOR KEY"
#define JG_KEY_AUDIT_STATE_BYTES       32
#define JG_KEY_AUDIT_STATE_PEM_LABEL   "JITGATE AUDIT STATE KEY"
#define JG_KEY_SESSION_TOKEN_BYTES     32
#define JG_KEY_SESSION_TOKEN_PEM_LABEL "JITGATE SESSION TOKEN KEY"

#define JG_KEYS_MAX 64

struct jg_key {
	int number;
	EVP_PKEY *pkey; /* owned by the keyring; a pii or cursor key is held as a raw HMAC key */
};

struct jg_keyring {
	enum jg_key_kind kind;
	int n; /* keys, oldest first; keys[n-1] is active */
	struct jg_key keys[JG_KEYS_MAX];
};

/* "token", "checkpoint", "pii", "cursor", "audit-state" or "session-token". */
const char *jg_key_kind_name(enum jg_key_kind kind);

/* Parses a kind name; returns 0, or JG_EINVAL for any other text. */
int jg_key_kind_parse(const char *name, enum jg_key_kind *kind);

/*
 * Creates the first key of each kind in dir (created 0700 when missing).
 * Refuses with JG_ECONFLICT when keys of a kind already exist, so a
 * deployment's keys are never replaced by accident.
 */
int jg_keys_generate(const char *dir, char *err, size_t errlen);

/*
 * Creates the first key of one kind (a deployment made before that kind
 * existed - pii, cursor, audit-state, session-token - adds it this way).  JG_ECONFLICT when keys of
 * it already exist.
 */
int jg_keys_generate_kind(const char *dir, enum jg_key_kind kind, char *err, size_t errlen);

/* Adds the next key of kind; *number (may be NULL) receives its number. */
int jg_keys_rotate(const char *dir, enum jg_key_kind kind, int *number, char *err, size_t errlen);

/*
 * Loads every key of kind from dir.  Each file must be a secret file (0600,
 * no symlink) holding a key of the right type.  JG_ENOTFOUND when there is
 * none.  *out is the caller's, freed with jg_keyring_free().
 */
int jg_keys_load(const char *dir, enum jg_key_kind kind, struct jg_keyring **out, char *err,
		 size_t errlen);

/*
 * The raw bytes of a secret kind's keys, for a cipher that takes them as
 * bytes (aead.h): each key's 32 bytes copied out of its EVP_PKEY once, with
 * its number, oldest first (keys[n - 1] is the newest).  Every number fits
 * two bytes (keys.c numbers them 1..9999; a format may carry it so).
 */
#define JG_KEY_RAW_BYTES 32

struct jg_raw_key {
	int number;
	uint8_t k[JG_KEY_RAW_BYTES];
};

struct jg_raw_keys {
	int n;
	struct jg_raw_key keys[JG_KEYS_MAX];
};

/*
 * Loads every key of the secret kind from dir into *out (the caller's
 * memory; the caller wipes it with OPENSSL_cleanse when done).  The errors
 * of jg_keys_load(), or JG_ECRYPTO ("<dir>: <kind> key NNNN cannot be
 * used" in err) for a key that is not 32 raw bytes or whose number does
 * not fit two bytes; *out is then wiped and empty.
 */
int jg_keys_load_raw(const char *dir, enum jg_key_kind kind, struct jg_raw_keys *out, char *err,
		     size_t errlen) __attribute__((warn_unused_result));

/* The key of that number in keys, or NULL. */
const struct jg_raw_key *jg_raw_keys_find(const struct jg_raw_keys *keys, int number);

/* The active (newest) key, or NULL for an empty ring. */
const struct jg_key *jg_keyring_active(const struct jg_keyring *ring);

void jg_keyring_free(struct jg_keyring *ring);

/* The public key as PEM (SubjectPublicKeyInfo); the caller frees. */
char *jg_key_public_pem(EVP_PKEY *pkey);

/*
 * Reads a public key (SubjectPublicKeyInfo PEM) from a file.  Auditors
 * never need a private key.  Returns 0, JG_EIO or JG_EPARSE.
 */
int jg_key_read_public_pem(const char *path, EVP_PKEY **out, char *err, size_t errlen);

#endif
