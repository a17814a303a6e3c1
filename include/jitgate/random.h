/*
 * random.h - random bytes, tokens and ids from OpenSSL's generator.
 *
 * Everything here draws from RAND_bytes (the public generator: ids, nonces,
 * cookie values, key ids; key material itself comes from RAND_priv_bytes
 * in keys.c) and reports a generator failure as JG_ECRYPTO rather than
 * handing out a predictable value.
 */
#ifndef JITGATE_RANDOM_H
#define JITGATE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#define JG_RANDOM_MAX_BYTES 64 /* the most a token or hex id is made of */

/* Fills buf[0..n) with random bytes.  0 or JG_ECRYPTO (buf is then zeroed). */
int jg_random_bytes(void *buf, size_t n) __attribute__((warn_unused_result));

/*
 * Unpadded base64url of nbytes (1..JG_RANDOM_MAX_BYTES) random bytes and a
 * NUL into out: JG_B64URL_LEN(nbytes) characters (43 for 32 bytes).  0,
 * JG_EINVAL (nbytes out of range), JG_ETOOBIG (out too small) or JG_ECRYPTO.
 */
int jg_random_token(size_t nbytes, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Lower-case hex of nbytes (1..JG_RANDOM_MAX_BYTES) random bytes and a NUL
 * into out (2 * nbytes + 1).  0, JG_EINVAL, JG_ETOOBIG or JG_ECRYPTO.
 */
int jg_random_hex(size_t nbytes, char *out, size_t outlen) __attribute__((warn_unused_result));

#endif
