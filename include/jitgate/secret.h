/*
 * secret.h - comparing a secret a client presents with the one expected.
 *
 * CSRF tokens, login state, nonces: text a client sends back that must be
 * exactly what jitgate handed out.  The comparison takes the same time
 * whatever the first differing byte (CRYPTO_memcmp), so timing reveals no
 * prefix; only the length, which is public (every such token has a fixed
 * length), is compared first.
 */
#ifndef JITGATE_SECRET_H
#define JITGATE_SECRET_H

#include <stdbool.h>

/*
 * Whether given equals expected.  False when either is NULL, and when
 * expected is empty (an empty secret never matches: fail closed).
 */
bool jg_secret_equal(const char *given, const char *expected) __attribute__((warn_unused_result));

#endif
