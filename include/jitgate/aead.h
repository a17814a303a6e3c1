/*
 * aead.h - AES-256-GCM with associated data: the one seal and open every
 * encrypted format of jitgate uses (sealed paging cursors, cursor.h; the
 * capability tokens kept for the debugging pages, session_grant.h).
 *
 * A sealed message is
 *
 *   sealed = nonce[12] || ciphertext || tag[16]
 *
 * with a random 96-bit nonce per seal (keep a key's seals far below 2^32,
 * where a repeated nonce becomes likely: rotate the key) and the full
 * 128-bit tag.  The ciphertext is as long as the plaintext.  The AAD is
 * authenticated, not stored: each format builds its own (a header, a
 * domain, what the message is bound to) and passes the same bytes to open.
 * A format adds around this whatever it needs (cursor.h puts a header in
 * front of it).  The key is the 32 raw bytes of a key of key_dir
 * (keys.h, jg_keys_load_raw).  Thread-safe: each call has its own cipher
 * context.
 */
#ifndef JITGATE_AEAD_H
#define JITGATE_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define JG_AEAD_KEY_BYTES 32
#define JG_AEAD_NONCE	  12
#define JG_AEAD_TAG	  16
#define JG_AEAD_OVERHEAD  (JG_AEAD_NONCE + JG_AEAD_TAG) /* bytes sealed adds to plain */

/*
 * Seals plain (plen bytes, 0 allowed) with aad (alen bytes; NULL when 0)
 * under key into out (outcap >= plen + JG_AEAD_OVERHEAD; *outlen receives
 * that length).  0, JG_EINVAL (a length out of range) or JG_ECRYPTO.
 */
int jg_aead_seal(const uint8_t key[JG_AEAD_KEY_BYTES], const uint8_t *aad, size_t alen,
		 const uint8_t *plain, size_t plen, uint8_t *out, size_t outcap, size_t *outlen)
    __attribute__((warn_unused_result));

/*
 * Opens sealed (slen bytes) with aad under key into plain (plaincap >=
 * slen - JG_AEAD_OVERHEAD; *plen receives that length).  0 only when the
 * tag proves key, aad and sealed unchanged; JG_EINVAL for a message too
 * short or a buffer too small, JG_ECRYPTO when it does not authenticate:
 * plain is then wiped, never a byte of an unauthenticated plaintext left.
 */
int jg_aead_open(const uint8_t key[JG_AEAD_KEY_BYTES], const uint8_t *aad, size_t alen,
		 const uint8_t *sealed, size_t slen, uint8_t *plain, size_t plaincap, size_t *plen)
    __attribute__((warn_unused_result));

#endif
