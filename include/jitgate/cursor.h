/*
 * cursor.h - opaque paging cursors, one format for every list that pages.
 *
 * A list that pages hands out its position as a cursor the client passes
 * back.  The position may be a row the caller is not allowed to see (a
 * page of requests stops after scanning a fixed number of rows), so it is
 * sealed with AES-256-GCM under the deployment's cursor key (keys.h, kind
 * cursor: <key_dir>/cursor-NNNN.pem): a client can neither read nor forge
 * one.  The key lives in the key directory, not in the process, so a
 * cursor survives a restart and is good on every replica that shares the
 * key directory.  Each cursor names its kind ("requests", "logs") inside
 * the sealed payload, and opening checks it: one endpoint's cursor is
 * refused by another, even where the positions look alike.
 *
 *   cursor  = base64url(header || nonce[12] || ciphertext || tag[16])
 *             (unpadded, strict: codec.h)
 *   header  = version (1 byte, 1) || key number (2 bytes, big endian)
 *   plain   = kind || 0x00 || position
 *   AAD     = header
 *
 * The nonce is random for each cursor (at most 2^32 cursors per key keep
 * the chance of a repeated nonce below 2^-32; rotate the key long before:
 * `jitgate keys rotate --kind cursor`).  The newest key seals; a cursor
 * names the key that sealed it, so one made before a rotation still opens
 * while that key is kept.  Nothing here expires a cursor: it is a position,
 * and every page is read with the caller's own rights.
 */
#ifndef JITGATE_CURSOR_H
#define JITGATE_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define JG_CURSOR_KIND_MAX  16	/* characters of a kind: [a-z]{1,16} */
#define JG_CURSOR_MAX_PLAIN 128 /* bytes of position text */
#define JG_CURSOR_MAX_LEN   256 /* characters of a cursor, NUL included */

struct jg_cursor_keys;

/*
 * Loads every cursor key of key_dir (keys.h: 0600 files, no symlinks).
 * JG_ENOTFOUND (with "run 'jitgate keys generate --kind cursor'" in err)
 * when there is none.  *out is the caller's, freed with
 * jg_cursor_keys_free(), which wipes the keys.
 */
int jg_cursor_keys_load(const char *key_dir, struct jg_cursor_keys **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void jg_cursor_keys_free(struct jg_cursor_keys *keys);

/*
 * Seals position (1..JG_CURSOR_MAX_PLAIN bytes of text, no NUL) as a cursor
 * of kind under the newest key, into out (JG_CURSOR_MAX_LEN is enough).
 * 0, JG_EINVAL (no keys, bad kind or position) or JG_ECRYPTO.
 */
int jg_cursor_seal(const struct jg_cursor_keys *keys, const char *kind, const char *position,
		   char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Opens a cursor of kind into position (NUL-terminated; poslen bytes).
 * JG_EINVAL for anything that is not a cursor of this kind sealed by one of
 * keys: malformed, too long, tampered with, another kind, a key not
 * loaded; position is then "".
 */
int jg_cursor_open(const struct jg_cursor_keys *keys, const char *kind, const char *cursor,
		   char *position, size_t poslen) __attribute__((warn_unused_result));

#endif
