/*
 * codec.h - hex and base64url, written once.
 *
 * Hex is lower case on output.  jg_hex_decode() reads exactly the lower
 * case form it writes (a hash in the audit log has one spelling); input
 * that may come in either case (trace ids, key ids) goes through
 * jg_hex_lower() first.
 *
 * base64url is RFC 4648 section 5 without padding, as JWS, PKCE and
 * jitgate's cursors use it.  The decoder is strict: only the 64 characters
 * of the alphabet, no '=', no length that no encoding has (len % 4 == 1),
 * and a canonical last group (its unused low bits zero), so each byte
 * string has exactly one accepted spelling.  Everything is checked before
 * any decoding: liboauth2's and cjose's decoders assert() and abort the
 * process on a misplaced '=' ("a="), so unvalidated text must never reach
 * them; jitgate decodes with OpenSSL's EVP_DecodeBlock after the checks.
 *
 * Nothing here allocates except jg_b64url_decode() (one temporary buffer).
 */
#ifndef JITGATE_CODEC_H
#define JITGATE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters of the unpadded base64url of n bytes (without the NUL). */
#define JG_B64URL_LEN(n) ((n) / 3 * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))
/* Bytes that len characters of base64url decode to (len % 4 != 1). */
#define JG_B64URL_DECODED_LEN(len) ((len) / 4 * 3 + ((len) % 4 == 0 ? 0 : (len) % 4 - 1))
/* The largest input either coder takes (EVP_EncodeBlock counts in int). */
#define JG_CODEC_MAX (1u << 28)

/*
 * Lower-case hex of in[0..n) and a NUL into out.  0, or JG_ETOOBIG when
 * outlen < 2 * n + 1 (out is then "" when outlen > 0).
 */
int jg_hex_encode(const void *in, size_t n, char *out, size_t outlen);

/*
 * Exactly 2 * n lower-case hex digits at s (len characters) into out[0..n).
 * 0 or JG_EPARSE (wrong length, or any other character); out is then
 * unspecified.
 */
int jg_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
    __attribute__((warn_unused_result));

/*
 * Whether s[0..len) is 1 or more hex digits of either case; if so writes
 * them lower-cased, with a NUL, to out (len + 1 bytes).
 */
bool jg_hex_lower(const char *s, size_t len, char *out) __attribute__((warn_unused_result));

/* Lower-case hex of 32 bytes into out (65 bytes). */
void jg_hex32(const uint8_t in[32], char out[65]);
/* Parses exactly 64 lower-case hex digits (NUL-terminated).  0 or JG_EPARSE. */
int jg_unhex32(const char *in, uint8_t out[32]) __attribute__((warn_unused_result));

/*
 * Unpadded base64url of in[0..n) and a NUL into out.  0, or JG_ETOOBIG when
 * outlen < JG_B64URL_LEN(n) + 1 or n > JG_CODEC_MAX.
 */
int jg_b64url_encode(const void *in, size_t n, char *out, size_t outlen);

/* Whether s[0..len) is strict base64url as described above (len 0 is valid: no bytes). */
bool jg_b64url_valid(const char *s, size_t len) __attribute__((warn_unused_result));

/*
 * Decodes strict base64url s[0..len) into out (cap bytes); *outlen gets
 * the length.  0, JG_EPARSE (not strict base64url), JG_ETOOBIG (cap <
 * JG_B64URL_DECODED_LEN(len), or len > JG_CODEC_MAX) or JG_ENOMEM.
 */
int jg_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen)
    __attribute__((warn_unused_result));

#endif
