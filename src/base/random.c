/*
 * random.c - random bytes, tokens and ids (see random.h).
 *
 * The raw bytes behind a token are wiped once encoded: the token may be a
 * cookie value or a key, and the stack keeps what it is not told to forget.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/random.h"

int
jg_random_bytes(void *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (n > (size_t)INT32_MAX || RAND_bytes(buf, (int)n) != 1) {
		OPENSSL_cleanse(buf, n);
		return JG_ECRYPTO;
	}
	return 0;
}

/* nbytes random bytes, encoded by one of the codec's encoders. */
static int
random_text(size_t nbytes, char *out, size_t outlen,
	    int (*encode)(const void *, size_t, char *, size_t))
{
	uint8_t raw[JG_RANDOM_MAX_BYTES];
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	if (nbytes == 0 || nbytes > sizeof(raw))
		return JG_EINVAL;
	if ((rc = jg_random_bytes(raw, nbytes)) == 0)
		rc = encode(raw, nbytes, out, outlen);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int
jg_random_token(size_t nbytes, char *out, size_t outlen)
{
	return random_text(nbytes, out, outlen, jg_b64url_encode);
}

int
jg_random_hex(size_t nbytes, char *out, size_t outlen)
{
	return random_text(nbytes, out, outlen, jg_hex_encode);
}
