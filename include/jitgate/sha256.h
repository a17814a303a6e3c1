/*
 * sha256.h - SHA-256 on hot paths.
 *
 * OpenSSL 3 looks the algorithm up on every one-shot call (SHA256(),
 * EVP_Digest with EVP_sha256()); here it is fetched once for the process
 * and each thread keeps one digest context, so a hash costs only hashing.
 */
#ifndef JITGATE_SHA256_H
#define JITGATE_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* out = SHA-256(a || b); either part may be empty.  Returns 0 or JG_ECRYPTO. */
int jg_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
    __attribute__((warn_unused_result));

#endif
