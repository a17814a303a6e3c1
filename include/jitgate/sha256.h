/*
 * sha256.h - SHA-256, the one way jitgate hashes.
 *
 * OpenSSL 3 looks the algorithm up on every one-shot call (SHA256(),
 * EVP_Digest with EVP_sha256()); here it is fetched once for the process
 * and each thread keeps one digest context, so a hash costs only hashing.
 * Every function reports a failed digest (JG_ECRYPTO): the output buffer
 * is then not a hash and must not be used.
 */
#ifndef JITGATE_SHA256_H
#define JITGATE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define JG_SHA256_LEN 32

/* out = SHA-256(in[0..n)).  Returns 0 or JG_ECRYPTO. */
int jg_sha256(const void *in, size_t n, uint8_t out[JG_SHA256_LEN])
    __attribute__((warn_unused_result));

/* out = lower-case hex of SHA-256(in[0..n)), NUL-terminated.  0 or JG_ECRYPTO. */
int jg_sha256_hex(const void *in, size_t n, char out[2 * JG_SHA256_LEN + 1])
    __attribute__((warn_unused_result));

/* out = SHA-256(a || b); either part may be empty.  Returns 0 or JG_ECRYPTO. */
int jg_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[JG_SHA256_LEN])
    __attribute__((warn_unused_result));

/*
 * A hash over parts that arrive one by one (files, events).  It has its own
 * digest context, so one-shot hashes may run while it is open.  init, then
 * update any number of times, then final (which frees it, also on failure)
 * or, to give up, jg_sha256_abort().  After a failed update the context
 * remembers the failure and final reports it.
 */
struct jg_sha256_ctx {
	void *md; /* EVP_MD_CTX *, NULL when closed */
	int failed;
};

int jg_sha256_init(struct jg_sha256_ctx *c) __attribute__((warn_unused_result));
/* Adds in[0..n); 0 or JG_ECRYPTO (also remembered for final). */
int jg_sha256_update(struct jg_sha256_ctx *c, const void *in, size_t n);
/* The digest of everything added; closes c.  0 or JG_ECRYPTO. */
int jg_sha256_final(struct jg_sha256_ctx *c, uint8_t out[JG_SHA256_LEN])
    __attribute__((warn_unused_result));
/* Closes c without a digest; a closed or zeroed c is a no-op. */
void jg_sha256_abort(struct jg_sha256_ctx *c);

#endif
