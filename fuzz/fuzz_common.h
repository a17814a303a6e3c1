/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in fuzz/ (one
 * translation unit each, so everything here is static inline).
 *
 * Targets run from the repository root (fuzz/run.sh), so relative paths
 * such as policies/ resolve.  Scratch files go to one temporary directory
 * per process, removed at exit.  What a target checks beyond "no crash,
 * no sanitizer report, no leak" is written next to its check.
 */
#ifndef JITGATE_FUZZ_COMMON_H
#define JITGATE_FUZZ_COMMON_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "jitgate/http.h"
#include "jitgate/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property of the code under test does not hold: report and crash (libFuzzer saves the input). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: property failed at %s:%d: %s\n", __FILE__,          \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static char fuzz_tmp[256];

static inline int
fuzz_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
fuzz_tmp_cleanup(void)
{
	if (fuzz_tmp[0] != '\0')
		nftw(fuzz_tmp, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private scratch directory for this process (created once, removed at exit). */
static inline const char *
fuzz_tmpdir(void)
{
	if (fuzz_tmp[0] == '\0') {
		snprintf(fuzz_tmp, sizeof(fuzz_tmp), "%s/jitgate-fuzz-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(fuzz_tmp) == NULL) {
			perror("fuzz: mkdtemp");
			abort();
		}
		if (atexit(fuzz_tmp_cleanup) != 0) {
			perror("fuzz: atexit");
			abort();
		}
	}
	return fuzz_tmp;
}

/* Only errors from the code under test reach stderr: libFuzzer's own output stays readable. */
static inline void
fuzz_quiet(void)
{
	jg_log_set_level(JG_LOG_ERROR);
}

/* data as a NUL-terminated string (caller frees); embedded NULs stay. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static inline void
fuzz_reply_clear(struct jg_http_reply *r)
{
	free(r->body);
	json_decref(r->headers);
	memset(r, 0, sizeof(*r));
}

/*
 * The contract of every refusal: a 4xx whose body is a JSON object
 * {"error":{"code":string,"message":string,...}}.
 */
static inline void
fuzz_check_error_reply(const struct jg_http_reply *r)
{
	FUZZ_CHECK(r->status >= 400 && r->status < 500);
	FUZZ_CHECK(r->body != NULL);
	json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
	FUZZ_CHECK(doc != NULL);
	json_t *err = json_object_get(doc, "error");
	FUZZ_CHECK(json_is_string(json_object_get(err, "code")));
	FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
	json_decref(doc);
}

/* Parses the input as a request body the way every JSON handler does. */
static inline int
fuzz_body_json(const uint8_t *data, size_t size, struct jg_http_reply *reply, json_t **out)
{
	char *copy = fuzz_cstr(data, size);
	struct jg_http_request req = {
	    .method = "POST", .path = "/fuzz", .body = size ? copy : NULL, .body_len = size};
	int rc = jg_http_body_json(&req, reply, out);
	free(copy);
	if (rc != 0) {
		FUZZ_CHECK(*out == NULL);
		fuzz_check_error_reply(reply);
	}
	return rc;
}

/* base64url without padding of in[0..n) (caller frees). */
static inline char *
fuzz_b64url(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out == NULL)
		abort();
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

/*
 * A compact JWS of header and payload (raw bytes, base64url-encoded here)
 * signed ES256 with key: what an honest signer would produce for them.
 * Caller frees.
 */
static inline char *
fuzz_jws_es256(EVP_PKEY *key, const unsigned char *header, size_t hlen,
	       const unsigned char *payload, size_t plen)
{
	char *h = fuzz_b64url(header, hlen), *p = fuzz_b64url(payload, plen);
	size_t ilen = strlen(h) + 1 + strlen(p);
	char *input = malloc(ilen + 1 + 90);
	unsigned char der[128], raw[64];
	size_t dlen = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (input == NULL || md == NULL)
		abort();
	snprintf(input, ilen + 1, "%s.%s", h, p);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dlen, (const unsigned char *)input, ilen) != 1)
		abort();
	const unsigned char *q = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)dlen);
	if (sig == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
		abort();
	char *s = fuzz_b64url(raw, 64);
	snprintf(input + ilen, 90, ".%s", s);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	free(h);
	free(p);
	free(s);
	return input;
}

#endif
