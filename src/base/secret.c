/*
 * secret.c - constant-time comparison of secrets (see secret.h).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/secret.h"

bool
jg_secret_equal(const char *given, const char *expected)
{
	size_t n;

	if (given == NULL || expected == NULL || (n = strlen(expected)) == 0 || strlen(given) != n)
		return false;
	return CRYPTO_memcmp(given, expected, n) == 0;
}
