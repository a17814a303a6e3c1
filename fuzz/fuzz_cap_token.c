/*
 * fuzz_cap_token.c - capability tokens as the guard receives them
 * (jg_token_verify in token.c) and as `jitgate token inspect` decodes them
 * (jg_token_decode_unverified), with real keys generated once at start-up.
 *
 * The first input byte picks what the rest is:
 *   'T' the whole token text;
 *   'P' the claims (raw payload bytes), signed here with jitgate's key
 *       under the header jitgate writes - so the claim checks are reached;
 *   'H' the header bytes, signed here over fixed valid claims - so the
 *       header checks are reached with a valid signature; "$KID" in them
 *       becomes the kid of the key made at start-up (seeds cannot know it).
 * Anything else is treated as 'T' (with the byte kept).
 *
 * Beyond memory safety: a token that verifies was signed here ('P' or 'H',
 * never 'T': no forgery), has the header jitgate writes, and its claims
 * name the expected issuer and service and are live at the given time.
 */
#include "fuzz_common.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/token.h"

#define ISS "https://jitgate.example.com"
#define SVC "payment-api"
#define NOW 1700000000

static struct jg_token_keys *keys;
static EVP_PKEY *signer; /* the active token key, private */
static char header[256]; /* the header jitgate writes, with our kid */
static char kid[128];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct jg_keyring *ring = NULL;
	struct jg_token_claims c = {.iat = NOW, .nbf = NOW, .exp = NOW + 300, .ncaps = 1};
	char err[512], *tok = NULL;
	json_t *h = NULL, *p = NULL;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/keys", fuzz_tmpdir());
	if (jg_keys_generate(dir, err, sizeof(err)) != 0 ||
	    jg_token_keys_load(dir, &keys, err, sizeof(err)) != 0 ||
	    jg_keys_load(dir, JG_KEY_TOKEN, &ring, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_cap_token: keys: %s\n", err);
		abort();
	}
	signer = jg_keyring_active(ring)->pkey;
	EVP_PKEY_up_ref(signer);
	jg_keyring_free(ring);
	snprintf(c.iss, sizeof(c.iss), ISS);
	snprintf(c.sub, sizeof(c.sub), "alice");
	snprintf(c.aud, sizeof(c.aud), SVC);
	snprintf(c.jti, sizeof(c.jti), "tok_x");
	snprintf(c.grant, sizeof(c.grant), "req_x");
	snprintf(c.caps[0], sizeof(c.caps[0]), "deploy-probe");
	if (jg_token_issue(keys, &c, &tok) != 0 || jg_token_decode_unverified(tok, &h, &p) != 0) {
		fprintf(stderr, "fuzz_cap_token: cannot issue a token\n");
		abort();
	}
	snprintf(kid, sizeof(kid), "%s", json_string_value(json_object_get(h, "kid")));
	char *ht = json_dumps(h, JSON_COMPACT);
	snprintf(header, sizeof(header), "%s", ht);
	free(ht);
	free(tok);
	json_decref(h);
	json_decref(p);
	return 0;
}

static const char valid_claims[] =
    "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" SVC "\",\"iat\":1700000000,"
    "\"nbf\":1700000000,\"exp\":1700000300,\"jti\":\"tok_x\",\"grant\":\"req_x\","
    "\"caps\":[\"deploy-probe\"],\"token_use\":\"jitgate-capability\","
    "\"audit\":{\"seq\":41,\"hash\":"
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}";

/* data with every "$KID" replaced by our kid (caller frees). */
static char *
with_kid(const uint8_t *data, size_t n, size_t *out_len)
{
	char *out = malloc(n * (strlen(kid) + 1) + 1), *o = out;
	if (out == NULL)
		abort();
	for (size_t i = 0; i < n;) {
		if (n - i >= 4 && memcmp(data + i, "$KID", 4) == 0) {
			o += sprintf(o, "%s", kid);
			i += 4;
		} else {
			*o++ = (char)data[i++];
		}
	}
	*out_len = (size_t)(o - out);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_token_claims c;
	char why[256];
	char *token;
	const uint8_t mode = size > 0 ? data[0] : 0; /* the first byte picks the shape */

	if (mode == 'P' || mode == 'H') {
		const uint8_t *rest = data + 1;
		size_t n = size - 1;
		if (mode == 'P') {
			token = fuzz_jws_es256(signer, (const unsigned char *)header,
					       strlen(header), rest, n);
		} else {
			size_t hlen;
			char *h = with_kid(rest, n, &hlen);
			token = fuzz_jws_es256(signer, (const unsigned char *)h, hlen,
					       (const unsigned char *)valid_claims,
					       strlen(valid_claims));
			free(h);
		}
	} else {
		size_t skip = mode == 'T' ? 1 : 0;
		token = fuzz_cstr(data + skip, size - skip);
	}

	memset(&c, 0, sizeof(c));
	int rc = jg_token_verify(keys, token, ISS, SVC, NOW, &c, why, sizeof(why));
	if (rc == 0) {
		FUZZ_CHECK(mode == 'P' || mode == 'H');
		FUZZ_CHECK(strcmp(c.iss, ISS) == 0 && strcmp(c.aud, SVC) == 0);
		FUZZ_CHECK(c.exp + JG_TOKEN_LEEWAY > NOW && c.nbf - JG_TOKEN_LEEWAY <= NOW);
		FUZZ_CHECK(c.ncaps <= 8);
	} else {
		FUZZ_CHECK(rc == JG_EDENIED && why[0] != '\0');
	}
	json_t *h = NULL, *p = NULL;
	if (jg_token_decode_unverified(token, &h, &p) == 0)
		FUZZ_CHECK(h != NULL && p != NULL);
	else
		FUZZ_CHECK(rc != 0); /* what verifies can be inspected */
	if (rc == 0) {
		const char *alg = json_string_value(json_object_get(h, "alg"));
		const char *typ = json_string_value(json_object_get(h, "typ"));
		FUZZ_CHECK(json_object_size(h) == 3 && alg && strcmp(alg, "ES256") == 0 && typ &&
			   strcmp(typ, "JWT") == 0);
	}
	json_decref(h);
	json_decref(p);
	free(token);
	return 0;
}
