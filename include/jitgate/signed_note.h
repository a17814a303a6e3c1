/*
 * signed_note.h - C2SP signed notes (c2sp.org/signed-note) carrying tlog
 * checkpoints (c2sp.org/tlog-checkpoint), signed with Ed25519.
 *
 * A checkpoint body is three lines: origin, tree size in decimal, base64 of
 * the root hash.  A note is that text, a blank line, and one or more
 * signature lines "— <key name> base64(key ID || signature)", where the key
 * ID is the first four bytes (big-endian) of
 * SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key) and the
 * signature is over the text, final newline included.
 *
 * A verifier key is written "<name>+<8 hex key ID>+<base64(0x01 || public
 * key)>", a signer key "PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 ||
 * seed)>", both as golang.org/x/mod/sumdb/note writes them.
 *
 * Parsing is strict: notes over JG_NOTE_MAX_BYTES, invalid UTF-8, control
 * characters other than newline, a missing final newline or signature
 * block, malformed or non-canonical base64, bad key names and more than
 * JG_NOTE_MAX_SIGS signature lines are refused; so are checkpoint bodies
 * with an empty origin or one holding spaces or '+', a size that is not
 * canonical decimal (no sign, no leading zero) within 64 bits, a root that
 * is not 32 bytes, and extension lines (jitgate never writes them).
 *
 * Cosignatures (c2sp.org/tlog-cosignature v1.0.1) are signature lines of a
 * second key type, 0x04: the key ID hashes 0x04 instead of 0x01, and the
 * signature is 72 bytes, a big-endian 64-bit POSIX time (at most 2^63 - 1)
 * and an Ed25519 signature over "cosignature/v1\ntime <t>\n" followed by
 * the note text.  A verifier key remembers its type (alg), so a log key
 * never accepts a cosignature nor a witness key a log signature.
 *
 * Verification follows the spec: signatures from other keys (name or key ID
 * differ) are ignored; a signature that claims the verifier's name and key
 * ID but does not verify rejects the whole note; at least one must verify.
 *
 * Thread-safe; no global state.  Key loading (PEM) lives elsewhere.
 */
#ifndef JITGATE_SIGNED_NOTE_H
#define JITGATE_SIGNED_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define JG_NOTE_MAX_BYTES 65536 /* a whole note */
#define JG_NOTE_MAX_SIGS  100	/* signature lines in a note */
#define JG_NOTE_MAX_NAME  255	/* bytes in a key name or checkpoint origin we keep */
#define JG_NOTE_HASH_LEN  32	/* checkpoint root hash */

/* One signature line of a parsed note; pointers into the note's storage. */
struct jg_note_sig {
	const char *name; /* key name, NUL-terminated */
	uint32_t key_id;
	const uint8_t *sig; /* the signature after the key ID */
	size_t sig_len;
};

/* A parsed note (see jg_signed_note_parse).  Nothing in it is verified. */
struct jg_signed_note {
	const char *text; /* the signed text, ends with '\n', NUL-terminated */
	size_t text_len;  /* bytes, final newline included */
	size_t n_sigs;
	struct jg_note_sig sigs[JG_NOTE_MAX_SIGS];
	char storage[]; /* private: the bytes the pointers above point into */
};

/* The content of a checkpoint body. */
struct jg_checkpoint {
	char origin[JG_NOTE_MAX_NAME + 1];
	uint64_t size;
	uint8_t root[JG_NOTE_HASH_LEN];
};

#define JG_NOTE_ALG_ED25519	   0x01 /* a log's note signature */
#define JG_NOTE_ALG_COSIGNATURE_V1 0x04 /* a witness's timestamped cosignature */

/* A trusted Ed25519 verifier key of one type. */
struct jg_note_verifier {
	char name[JG_NOTE_MAX_NAME + 1];
	uint32_t key_id;
	uint8_t pub[32];
	uint8_t alg; /* JG_NOTE_ALG_ED25519 or JG_NOTE_ALG_COSIGNATURE_V1 */
};

/*
 * *id = the Ed25519 key ID of (name, pub) as above.
 * Returns 0, JG_EINVAL (name is not a valid key name) or JG_ECRYPTO.
 */
int jg_signed_note_key_id(const char *name, const uint8_t pub[32], uint32_t *id);

/*
 * Builds the checkpoint body "origin\nsize\nbase64(root)\n" in a new
 * NUL-terminated string *body (freed by the caller with free()), its length
 * in *body_len.  Returns 0, JG_EINVAL (origin empty, longer than
 * JG_NOTE_MAX_NAME, or holding spaces, '+' or control characters) or
 * JG_ENOMEM.
 */
int jg_signed_note_checkpoint_body(const char *origin, uint64_t size,
				   const uint8_t root[JG_NOTE_HASH_LEN], char **body,
				   size_t *body_len);

/*
 * Parses a checkpoint body (len bytes of text, as in jg_signed_note.text)
 * into *cp.  Returns 0, JG_ETOOBIG or JG_EPARSE (and *cp is unchanged).
 * It checks the format only: that the note was signed is for
 * jg_signed_note_verify, that the tree matches is for the caller.
 */
int jg_signed_note_checkpoint_parse(const char *text, size_t len, struct jg_checkpoint *cp);

/*
 * Decodes len bytes at s, the canonical padded standard base64 of a 32-byte
 * hash (a checkpoint root, a proof line), into out.  Returns 0 or JG_EPARSE.
 */
int jg_signed_note_hash_decode(const char *s, size_t len, uint8_t out[JG_NOTE_HASH_LEN]);

/*
 * Signs text (text_len bytes: valid UTF-8, no control characters but
 * newline, ending with a newline) with the Ed25519 key (which must hold the
 * private half) under key_name, and returns the whole note
 * "text\n— key_name base64(id || sig)\n" in a new NUL-terminated string
 * *note (freed by the caller with free()), its length in *note_len.
 * Returns 0, JG_EINVAL (bad text, name or key type), JG_ETOOBIG (the note
 * would exceed JG_NOTE_MAX_BYTES), JG_ECRYPTO or JG_ENOMEM.
 */
int jg_signed_note_sign(const char *text, size_t text_len, const char *key_name, EVP_PKEY *key,
			char **note, size_t *note_len);

/*
 * Parses len bytes of buf as a signed note, strictly (see above), without
 * verifying anything.  On success *out is the caller's, freed with
 * jg_signed_note_free().  Returns 0, JG_ETOOBIG (len > JG_NOTE_MAX_BYTES),
 * JG_EPARSE or JG_ENOMEM.
 */
int jg_signed_note_parse(const char *buf, size_t len, struct jg_signed_note **out);

void jg_signed_note_free(struct jg_signed_note *note);

/*
 * Checks note against the trusted key v: returns 0 when a signature line
 * with v's name and key ID verifies and none with them fails, JG_EVERIFY
 * otherwise (also when no line names v), JG_ECRYPTO or JG_EINVAL.
 */
int jg_signed_note_verify(const struct jg_signed_note *note, const struct jg_note_verifier *v)
    __attribute__((warn_unused_result));

/*
 * jg_signed_note_verify, also giving the time of a verified cosignature
 * (*timestamp; 0 for a log signature, which has none).
 */
int jg_signed_note_verify_time(const struct jg_signed_note *note, const struct jg_note_verifier *v,
			       uint64_t *timestamp) __attribute__((warn_unused_result));

/*
 * Cosigns text (a whole note text, as for jg_signed_note_sign) at timestamp
 * (POSIX seconds, at most 2^63 - 1) with the Ed25519 key under name: *line
 * is the one signature line "— name base64(key ID || time || sig)\n" (key
 * type 0x04), NUL-terminated, freed by the caller; *line_len its bytes.
 * Returns 0, JG_EINVAL, JG_ECRYPTO or JG_ENOMEM.
 */
int jg_signed_note_cosign(const char *text, size_t text_len, const char *name, EVP_PKEY *key,
			  uint64_t timestamp, char **line, size_t *line_len);

/*
 * Parse, verify against v, and parse the checkpoint body, in one call:
 * *cp is filled only when everything passes.  Returns 0 or the first error
 * of the three functions above.
 */
int jg_signed_note_open_checkpoint(const char *buf, size_t len, const struct jg_note_verifier *v,
				   struct jg_checkpoint *cp) __attribute__((warn_unused_result));

/*
 * Fills *v from a key name and an Ed25519 key (public, or a private key whose
 * public half is used).  Returns 0, JG_EINVAL (bad name, name longer than
 * JG_NOTE_MAX_NAME, not an Ed25519 key) or JG_ECRYPTO.
 */
int jg_signed_note_verifier_init(struct jg_note_verifier *v, const char *name, const EVP_PKEY *key);

/* The same for a cosigner (witness) key: type 0x04. */
int jg_signed_note_cosigner_init(struct jg_note_verifier *v, const char *name, const EVP_PKEY *key);

/*
 * Writes the verifier key string of v to a new NUL-terminated string *out,
 * freed by the caller with free().  Returns 0, JG_EINVAL or JG_ENOMEM.
 */
int jg_signed_note_verifier_format(const struct jg_note_verifier *v, char **out);

/*
 * Parses a verifier key string (NUL-terminated) into *v, checking the
 * algorithm byte (0x01, Ed25519), the key length and that the key ID is the
 * one the name and key give.  Returns 0 or JG_EPARSE (*v unchanged).
 */
int jg_signed_note_verifier_parse(const char *s, struct jg_note_verifier *v);

/* The same for a cosigner (witness) verifier key: type 0x04 only. */
int jg_signed_note_cosigner_parse(const char *s, struct jg_note_verifier *v);

/*
 * Parses a signer key string (a secret: the caller wipes it) into a new
 * Ed25519 private key *key (freed with EVP_PKEY_free()) and its name into
 * name, checking the key ID against the derived public key.  Returns 0,
 * JG_EPARSE or JG_ECRYPTO.
 */
int jg_signed_note_signer_parse(const char *s, char name[JG_NOTE_MAX_NAME + 1], EVP_PKEY **key);

/* The same for a cosigner's signer key "PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>". */
int jg_signed_note_cosigner_signer_parse(const char *s, char name[JG_NOTE_MAX_NAME + 1],
					 EVP_PKEY **key);

/*
 * Writes the signer key string of the Ed25519 private key under name for
 * key type alg to a new string *out (a secret: the caller wipes and frees
 * it).  Returns 0, JG_EINVAL, JG_ECRYPTO or JG_ENOMEM.
 */
int jg_signed_note_signer_format(const char *name, uint8_t alg, EVP_PKEY *key, char **out);

#endif
