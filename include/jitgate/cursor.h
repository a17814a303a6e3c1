/*
 * cursor.h - opaque paging cursors.
 *
 * A list that pages hands out its position as a cursor the client passes
 * back.  The position may be a row the caller is not allowed to see (a
 * page stops after scanning a fixed number of rows), so it is sealed with
 * AES-256-GCM under a key the server makes at start: a client can neither
 * read nor forge one.  Cursors end with the process (a restart makes them
 * invalid: the client starts the list again).
 *
 *   cursor = base64url(nonce[12] || ciphertext || tag[16])
 */
#ifndef JITGATE_CURSOR_H
#define JITGATE_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define JG_CURSOR_KEY_BYTES 32
#define JG_CURSOR_MAX_PLAIN 128 /* bytes of position text */
#define JG_CURSOR_MAX_LEN   256 /* characters of a cursor, NUL included */

/* Fills key with fresh random bytes.  0 or JG_ECRYPTO. */
int jg_cursor_key_new(uint8_t key[JG_CURSOR_KEY_BYTES]);

/* Seals plain (at most JG_CURSOR_MAX_PLAIN bytes) into out (JG_CURSOR_MAX_LEN).  0 or JG_E*. */
int jg_cursor_seal(const uint8_t key[JG_CURSOR_KEY_BYTES], const char *plain, char *out,
		   size_t outlen);

/*
 * Opens a cursor sealed with key into plain (NUL-terminated).  JG_EINVAL
 * when it is malformed, too long, or was not sealed with this key.
 */
int jg_cursor_open(const uint8_t key[JG_CURSOR_KEY_BYTES], const char *cursor, char *plain,
		   size_t plainlen) __attribute__((warn_unused_result));

#endif
