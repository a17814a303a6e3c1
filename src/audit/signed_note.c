/*
 * signed_note.c - C2SP signed notes and tlog checkpoints with Ed25519 (see
 * include/jitgate/signed_note.h).
 *
 * Parsing copies the note once into storage after the struct and carves it
 * in place: the blank line's newline becomes the text's NUL, the space after
 * each key name becomes the name's NUL, and the decoded signatures go into
 * a second area of the same allocation, so one free() releases everything.
 * Before any carving, the whole note is checked to be UTF-8 without control
 * characters other than newline, as the spec requires.
 *
 * Base64 is OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.  EVP_DecodeBlock is
 * lenient (it trims whitespace, ignores padding and the unused low bits of
 * the last character), so decode() first checks the alphabet and padding
 * itself, subtracts the padding from the length EVP returns, and re-encodes
 * the last group to refuse non-canonical input: one note, one spelling.
 *
 * Ed25519 signs and verifies through the one-shot EVP_DigestSign and
 * EVP_DigestVerify (OpenSSL has no streaming form for it).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "jitgate/canon.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/sha256.h"
#include "jitgate/signed_note.h"

#define ED25519_KEY_LEN	     32
#define ED25519_SIG_LEN	     64
#define EM_DASH_SP	     "\xe2\x80\x94 " /* U+2014 then a space: starts a signature line */
#define EM_DASH_SP_LEN	     4
#define COSIGNATURE_HEADER   "cosignature/v1\n"	   /* the signed message's first line */
#define COSIGNATURE_MAX_TIME ((uint64_t)INT64_MAX) /* 2^63 - 1: the spec's bound */
#define B64_LEN(n)	     (4 * (((n) + 2) / 3)) /* padded base64 length of n bytes */

/* ---- text rules ------------------------------------------------------- */

/* Unicode White_Space, as Go's unicode.IsSpace (which key names exclude). */
static bool
is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* Valid UTF-8 with no control character below U+0020 except (if allowed) newline. */
static bool
valid_text(const char *s, size_t len, bool newlines)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		if ((n = jg_utf8_next(p + i, len - i, &c)) == 0)
			return false;
		if (c < 0x20 && !(newlines && c == '\n'))
			return false;
	}
	return true;
}

/* A key name (or origin): non-empty text without Unicode spaces or '+'. */
static bool
valid_name(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	size_t n;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i += n) {
		if ((n = jg_utf8_next(p + i, len - i, &c)) == 0 || c < 0x20 || is_space(c) ||
		    c == '+')
			return false;
	}
	return true;
}

/* valid_name on a C string of at most JG_NOTE_MAX_NAME bytes. */
static bool
valid_short_name(const char *s)
{
	size_t len;

	if (s == NULL)
		return false;
	len = strnlen(s, JG_NOTE_MAX_NAME + 1);
	return len <= JG_NOTE_MAX_NAME && valid_name(s, len);
}

/* ---- base64 and hex --------------------------------------------------- */

/* Writes B64_LEN(n) characters and a NUL to out. */
static void
encode(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static bool
b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * Strict standard base64 (RFC 4648 section 4, padded, canonical) of len
 * characters at in, into out, which must hold len / 4 * 3 bytes (the
 * decoded length before padding is taken off).  *outlen gets the real
 * length.  Returns 0 or JG_EPARSE.
 */
static int
decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t pad, n, last;
	char check[5];

	if (len == 0 || len % 4 != 0 || len > JG_NOTE_MAX_BYTES || len / 4 * 3 > cap)
		return JG_EPARSE;
	pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	for (size_t i = 0; i < len - pad; i++)
		if (!b64_char(in[i]))
			return JG_EPARSE;
	n = len / 4 * 3;
	if (EVP_DecodeBlock(out, (const unsigned char *)in, (int)len) != (int)n)
		return JG_EPARSE;
	n -= pad;
	/* Canonical: the last group re-encodes to the same four characters. */
	last = 3 - pad;
	encode(out + n - last, last, check);
	if (memcmp(check, in + len - 4, 4) != 0)
		return JG_EPARSE;
	*outlen = n;
	return 0;
}

int
jg_signed_note_hash_decode(const char *s, size_t len, uint8_t out[JG_NOTE_HASH_LEN])
{
	uint8_t raw[B64_LEN(JG_NOTE_HASH_LEN) / 4 * 3];
	size_t n;

	if (s == NULL || len != B64_LEN(JG_NOTE_HASH_LEN) ||
	    decode(s, len, raw, sizeof(raw), &n) != 0 || n != JG_NOTE_HASH_LEN)
		return JG_EPARSE;
	memcpy(out, raw, JG_NOTE_HASH_LEN);
	return 0;
}

/* Exactly 8 hex digits (either case) into *v. */
static bool
parse_hex32(const char *s, size_t len, uint32_t *v)
{
	char lower[9];
	uint8_t b[4];

	if (len != 8 || !jg_hex_lower(s, len, lower) || jg_hex_decode(lower, 8, b, 4) != 0)
		return false;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return true;
}

/* ---- keys ------------------------------------------------------------- */

/* The key ID of (name, alg, pub): SHA-256(name || 0x0A || alg || pub)[:4]. */
static int
key_id_alg(const char *name, uint8_t alg, const uint8_t pub[ED25519_KEY_LEN], uint32_t *id)
{
	const uint8_t sep[2] = {'\n', alg};
	uint8_t md[JG_SHA256_LEN];
	struct jg_sha256_ctx ctx;

	if (name == NULL || !valid_name(name, strlen(name)))
		return JG_EINVAL;
	if (jg_sha256_init(&ctx) != 0)
		return JG_ECRYPTO;
	(void)jg_sha256_update(&ctx, name, strlen(name));
	(void)jg_sha256_update(&ctx, sep, sizeof(sep));
	(void)jg_sha256_update(&ctx, pub, ED25519_KEY_LEN);
	if (jg_sha256_final(&ctx, md) != 0) /* reports a failed update too */
		return JG_ECRYPTO;
	*id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	return 0;
}

int
jg_signed_note_key_id(const char *name, const uint8_t pub[ED25519_KEY_LEN], uint32_t *id)
{
	return key_id_alg(name, JG_NOTE_ALG_ED25519, pub, id);
}

static int
verifier_init_alg(struct jg_note_verifier *v, const char *name, uint8_t alg, const EVP_PKEY *key)
{
	struct jg_note_verifier tmp;
	size_t len = sizeof(tmp.pub);
	int rc;

	if (!valid_short_name(name) || key == NULL || !EVP_PKEY_is_a(key, "ED25519"))
		return JG_EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	if (!EVP_PKEY_get_raw_public_key(key, tmp.pub, &len) || len != sizeof(tmp.pub))
		return JG_ECRYPTO;
	if ((rc = key_id_alg(name, alg, tmp.pub, &tmp.key_id)) != 0)
		return rc;
	memcpy(tmp.name, name, strlen(name) + 1);
	tmp.alg = alg;
	*v = tmp;
	return 0;
}

int
jg_signed_note_verifier_init(struct jg_note_verifier *v, const char *name, const EVP_PKEY *key)
{
	return verifier_init_alg(v, name, JG_NOTE_ALG_ED25519, key);
}

int
jg_signed_note_cosigner_init(struct jg_note_verifier *v, const char *name, const EVP_PKEY *key)
{
	return verifier_init_alg(v, name, JG_NOTE_ALG_COSIGNATURE_V1, key);
}

int
jg_signed_note_verifier_format(const struct jg_note_verifier *v, char **out)
{
	uint8_t raw[1 + ED25519_KEY_LEN];
	char b64[B64_LEN(sizeof(raw)) + 1];
	size_t need;

	*out = NULL;
	if (!valid_short_name(v->name) ||
	    (v->alg != JG_NOTE_ALG_ED25519 && v->alg != JG_NOTE_ALG_COSIGNATURE_V1))
		return JG_EINVAL;
	raw[0] = v->alg;
	memcpy(raw + 1, v->pub, ED25519_KEY_LEN);
	encode(raw, sizeof(raw), b64);
	need = strlen(v->name) + 1 + 8 + 1 + strlen(b64) + 1;
	if ((*out = malloc(need)) == NULL)
		return JG_ENOMEM;
	snprintf(*out, need, "%s+%08" PRIx32 "+%s", v->name, v->key_id, b64);
	return 0;
}

/*
 * Splits "<name>+<8 hex>+<base64 of alg || 32 bytes>" (s is NUL-terminated)
 * into name, key ID and the 32 key bytes, checking that the algorithm byte
 * is alg and the length.  Base64 may itself hold '+', so only the first two
 * are separators.
 */
static int
split_key(const char *s, uint8_t alg, char name[JG_NOTE_MAX_NAME + 1], uint32_t *id,
	  uint8_t key[32])
{
	const char *plus1, *plus2;
	uint8_t raw[B64_LEN(1 + 32) / 4 * 3];
	size_t rawlen, b64len;
	int rc = JG_EPARSE;

	if ((plus1 = strchr(s, '+')) == NULL || (plus2 = strchr(plus1 + 1, '+')) == NULL)
		return JG_EPARSE;
	b64len = strlen(plus2 + 1);
	if ((size_t)(plus1 - s) > JG_NOTE_MAX_NAME || !valid_name(s, (size_t)(plus1 - s)) ||
	    !parse_hex32(plus1 + 1, (size_t)(plus2 - plus1 - 1), id) ||
	    decode(plus2 + 1, b64len, raw, sizeof(raw), &rawlen) != 0 || rawlen != 1 + 32 ||
	    raw[0] != alg)
		goto out;
	memcpy(name, s, (size_t)(plus1 - s));
	name[plus1 - s] = '\0';
	memcpy(key, raw + 1, 32);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw)); /* may be a private seed */
	return rc;
}

static int
verifier_parse_alg(const char *s, uint8_t alg, struct jg_note_verifier *v)
{
	struct jg_note_verifier tmp;
	uint32_t want;

	if (s == NULL || strnlen(s, 1024) >= 1024)
		return JG_EPARSE;
	memset(&tmp, 0, sizeof(tmp));
	if (split_key(s, alg, tmp.name, &tmp.key_id, tmp.pub) != 0 ||
	    key_id_alg(tmp.name, alg, tmp.pub, &want) != 0 || want != tmp.key_id)
		return JG_EPARSE;
	tmp.alg = alg;
	*v = tmp;
	return 0;
}

int
jg_signed_note_verifier_parse(const char *s, struct jg_note_verifier *v)
{
	return verifier_parse_alg(s, JG_NOTE_ALG_ED25519, v);
}

int
jg_signed_note_cosigner_parse(const char *s, struct jg_note_verifier *v)
{
	return verifier_parse_alg(s, JG_NOTE_ALG_COSIGNATURE_V1, v);
}

static int
signer_parse_alg(const char *s, uint8_t alg, char name[JG_NOTE_MAX_NAME + 1], EVP_PKEY **key)
{
	static const char prefix[] = "PRIVATE+KEY+";
	char kname[JG_NOTE_MAX_NAME + 1];
	uint8_t seed[32], pub[32];
	size_t publen = sizeof(pub);
	uint32_t id, want;
	EVP_PKEY *pk = NULL;
	int rc = JG_EPARSE;

	*key = NULL;
	if (s == NULL || strnlen(s, 1024) >= 1024 || strncmp(s, prefix, sizeof(prefix) - 1) != 0 ||
	    split_key(s + sizeof(prefix) - 1, alg, kname, &id, seed) != 0)
		goto out;
	rc = JG_ECRYPTO;
	if ((pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, sizeof(seed))) ==
		NULL ||
	    !EVP_PKEY_get_raw_public_key(pk, pub, &publen) || publen != sizeof(pub))
		goto out;
	rc = JG_EPARSE;
	if (key_id_alg(kname, alg, pub, &want) != 0 || want != id)
		goto out;
	memcpy(name, kname, strlen(kname) + 1);
	*key = pk;
	pk = NULL; /* transferred */
	rc = 0;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	EVP_PKEY_free(pk);
	return rc;
}

int
jg_signed_note_signer_parse(const char *s, char name[JG_NOTE_MAX_NAME + 1], EVP_PKEY **key)
{
	return signer_parse_alg(s, JG_NOTE_ALG_ED25519, name, key);
}

int
jg_signed_note_cosigner_signer_parse(const char *s, char name[JG_NOTE_MAX_NAME + 1], EVP_PKEY **key)
{
	return signer_parse_alg(s, JG_NOTE_ALG_COSIGNATURE_V1, name, key);
}

int
jg_signed_note_signer_format(const char *name, uint8_t alg, EVP_PKEY *key, char **out)
{
	uint8_t raw[1 + ED25519_KEY_LEN], pub[ED25519_KEY_LEN];
	char b64[B64_LEN(sizeof(raw)) + 1];
	size_t seedlen = ED25519_KEY_LEN, publen = sizeof(pub), need;
	uint32_t id;
	int rc;

	*out = NULL;
	if (!valid_short_name(name) || key == NULL || !EVP_PKEY_is_a(key, "ED25519") ||
	    (alg != JG_NOTE_ALG_ED25519 && alg != JG_NOTE_ALG_COSIGNATURE_V1))
		return JG_EINVAL;
	raw[0] = alg;
	rc = JG_ECRYPTO;
	if (!EVP_PKEY_get_raw_private_key(key, raw + 1, &seedlen) || seedlen != ED25519_KEY_LEN ||
	    !EVP_PKEY_get_raw_public_key(key, pub, &publen) || publen != sizeof(pub))
		goto out;
	if ((rc = key_id_alg(name, alg, pub, &id)) != 0)
		goto out;
	encode(raw, sizeof(raw), b64);
	need = sizeof("PRIVATE+KEY+") - 1 + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
	rc = JG_ENOMEM;
	if ((*out = malloc(need)) == NULL)
		goto out;
	snprintf(*out, need, "PRIVATE+KEY+%s+%08" PRIx32 "+%s", name, id, b64);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	ERR_clear_error();
	return rc;
}

/* ---- checkpoints ------------------------------------------------------ */

int
jg_signed_note_checkpoint_body(const char *origin, uint64_t size,
			       const uint8_t root[JG_NOTE_HASH_LEN], char **body, size_t *body_len)
{
	char b64[B64_LEN(JG_NOTE_HASH_LEN) + 1];
	size_t need;
	int n;

	*body = NULL;
	if (!valid_short_name(origin) || root == NULL)
		return JG_EINVAL;
	encode(root, JG_NOTE_HASH_LEN, b64);
	need = strlen(origin) + 1 + 20 + 1 + strlen(b64) + 1 + 1;
	if ((*body = malloc(need)) == NULL)
		return JG_ENOMEM;
	n = snprintf(*body, need, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	*body_len = (size_t)n;
	return 0;
}

/* The next line of [*p, end) without its newline; false if there is no newline. */
static bool
next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return false;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return true;
}

/* Canonical decimal: digits only, no leading zero unless "0", fits 64 bits. */
static bool
parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int
jg_signed_note_checkpoint_parse(const char *text, size_t len, struct jg_checkpoint *cp)
{
	const char *p = text, *end, *line;
	struct jg_checkpoint tmp;
	uint8_t root[B64_LEN(JG_NOTE_HASH_LEN) / 4 * 3];
	size_t llen, rlen;

	if (text == NULL)
		return JG_EPARSE;
	if (len > JG_NOTE_MAX_BYTES)
		return JG_ETOOBIG;
	if (!valid_text(text, len, true))
		return JG_EPARSE;
	end = text + len;
	memset(&tmp, 0, sizeof(tmp));
	/* Origin. */
	if (!next_line(&p, end, &line, &llen) || llen > JG_NOTE_MAX_NAME || !valid_name(line, llen))
		return JG_EPARSE;
	memcpy(tmp.origin, line, llen);
	/* Size. */
	if (!next_line(&p, end, &line, &llen) || !parse_size(line, llen, &tmp.size))
		return JG_EPARSE;
	/* Root hash. */
	if (!next_line(&p, end, &line, &llen) ||
	    decode(line, llen, root, sizeof(root), &rlen) != 0 || rlen != JG_NOTE_HASH_LEN)
		return JG_EPARSE;
	memcpy(tmp.root, root, JG_NOTE_HASH_LEN);
	/* No extension lines. */
	if (p != end)
		return JG_EPARSE;
	*cp = tmp;
	return 0;
}

/* ---- notes ------------------------------------------------------------ */

/* Copies n bytes to w and returns the end. */
static char *
put(char *w, const void *src, size_t n)
{
	memcpy(w, src, n);
	return w + n;
}

/* Writes the low `bytes` bytes of v to out, big-endian. */
static void
put_be(uint8_t *out, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		out[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* The key ID of key's public half under name for key type alg.  0, JG_ECRYPTO or JG_EINVAL. */
static int
signer_key_id(EVP_PKEY *key, const char *name, uint8_t alg, uint32_t *id)
{
	uint8_t pub[ED25519_KEY_LEN];
	size_t publen = sizeof(pub);

	if (!EVP_PKEY_get_raw_public_key(key, pub, &publen) || publen != sizeof(pub))
		return JG_ECRYPTO;
	return key_id_alg(name, alg, pub, id);
}

/* sig = the Ed25519 signature by key of msg (one-shot: OpenSSL streams no Ed25519).  0 or
 * JG_ECRYPTO. */
static int
ed25519_sign(EVP_PKEY *key, const void *msg, size_t len, uint8_t sig[ED25519_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = ED25519_SIG_LEN;
	int ok = ctx != NULL &&
		 EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) == 1 &&
		 EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == ED25519_SIG_LEN;

	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : JG_ECRYPTO;
}

/* Writes "— name b64\n" at w (no NUL) and returns the end. */
static char *
put_sig_line(char *w, const char *name, size_t namelen, const char *b64, size_t b64len)
{
	w = put(w, EM_DASH_SP, EM_DASH_SP_LEN);
	w = put(w, name, namelen);
	w = put(w, " ", 1);
	w = put(w, b64, b64len);
	return put(w, "\n", 1);
}

int
jg_signed_note_sign(const char *text, size_t text_len, const char *key_name, EVP_PKEY *key,
		    char **note, size_t *note_len)
{
	uint8_t blob[4 + ED25519_SIG_LEN];
	char b64[B64_LEN(sizeof(blob)) + 1];
	size_t namelen, total;
	uint32_t id;
	char *w;
	int rc;

	*note = NULL;
	if (text == NULL || text_len == 0 || text[text_len - 1] != '\n' ||
	    !valid_text(text, text_len, true) || !valid_short_name(key_name) || key == NULL ||
	    !EVP_PKEY_is_a(key, "ED25519"))
		return JG_EINVAL;
	namelen = strlen(key_name);
	total = text_len + 1 + EM_DASH_SP_LEN + namelen + 1 + (sizeof(b64) - 1) + 1;
	if (total > JG_NOTE_MAX_BYTES)
		return JG_ETOOBIG;
	if ((rc = signer_key_id(key, key_name, JG_NOTE_ALG_ED25519, &id)) != 0)
		return rc;
	put_be(blob, id, 4);
	if ((rc = ed25519_sign(key, text, text_len, blob + 4)) != 0)
		return rc;
	encode(blob, sizeof(blob), b64);
	if ((*note = malloc(total + 1)) == NULL)
		return JG_ENOMEM;
	/* text, blank line, "— name base64\n", NUL */
	w = put(*note, text, text_len);
	w = put(w, "\n", 1);
	*put_sig_line(w, key_name, namelen, b64, sizeof(b64) - 1) = '\0';
	*note_len = total;
	return 0;
}

void
jg_signed_note_free(struct jg_signed_note *note)
{
	free(note);
}

/*
 * Carves one signature line, [line, line + len) inside the note's copy:
 * em dash, space, key name, space, base64(key ID || signature).  The
 * decoded bytes go to *area (advanced past them).
 */
static int
parse_sig_line(char *line, size_t len, uint8_t **area, size_t *area_left, struct jg_note_sig *sig)
{
	char *name, *sp;
	size_t namelen, n;

	if (len < EM_DASH_SP_LEN || memcmp(line, EM_DASH_SP, EM_DASH_SP_LEN) != 0)
		return JG_EPARSE;
	name = line + EM_DASH_SP_LEN;
	if ((sp = memchr(name, ' ', len - EM_DASH_SP_LEN)) == NULL)
		return JG_EPARSE;
	namelen = (size_t)(sp - name);
	if (!valid_name(name, namelen) ||
	    decode(sp + 1, (size_t)(line + len - sp - 1), *area, *area_left, &n) != 0 || n < 5)
		return JG_EPARSE;
	*sp = '\0';
	sig->name = name;
	sig->key_id = (uint32_t)(*area)[0] << 24 | (uint32_t)(*area)[1] << 16 |
		      (uint32_t)(*area)[2] << 8 | (*area)[3];
	sig->sig = *area + 4;
	sig->sig_len = n - 4;
	*area += n;
	*area_left -= n;
	return 0;
}

int
jg_signed_note_parse(const char *buf, size_t len, struct jg_signed_note **out)
{
	struct jg_signed_note *note = NULL;
	char *copy, *p, *end;
	uint8_t *area;
	size_t blank, area_left;
	int rc = JG_EPARSE;

	*out = NULL;
	if (buf == NULL)
		return JG_EPARSE;
	if (len > JG_NOTE_MAX_BYTES)
		return JG_ETOOBIG;
	if (len == 0 || buf[len - 1] != '\n' || !valid_text(buf, len, true))
		return JG_EPARSE;
	/*
	 * The blank line is the last "\n\n": blank indexes its newline, the
	 * text is buf[0, blank) (final newline included), the signature lines
	 * follow and must not be empty.
	 */
	for (blank = len - 1; blank > 0; blank--)
		if (buf[blank] == '\n' && buf[blank - 1] == '\n')
			break;
	if (blank == 0 || blank == len - 1)
		return JG_EPARSE;
	/* One allocation: the struct, a copy of the note, room for the decoded signatures. */
	if ((note = calloc(1, sizeof(*note) + 2 * len + 1)) == NULL)
		return JG_ENOMEM;
	copy = note->storage;
	memcpy(copy, buf, len);
	copy[blank] = '\0';
	note->text = copy;
	note->text_len = blank;
	area = (uint8_t *)copy + len + 1;
	area_left = len;
	for (p = copy + blank + 1, end = copy + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (note->n_sigs == JG_NOTE_MAX_SIGS) {
			rc = JG_EPARSE;
			goto out;
		}
		if ((rc = parse_sig_line(p, (size_t)(nl - p), &area, &area_left,
					 &note->sigs[note->n_sigs])) != 0)
			goto out;
		note->n_sigs++;
		p = nl + 1;
	}
	*out = note;
	note = NULL; /* transferred */
	rc = 0;
out:
	jg_signed_note_free(note);
	return rc;
}

/* 1 if sig is a valid Ed25519 signature by pkey over msg, 0 if not, < 0 on failure. */
static int
ed25519_verify(EVP_PKEY *pkey, const uint8_t *sig, size_t siglen, const char *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (ctx == NULL)
		return -1;
	if (EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pkey, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error(); /* a bad signature is an answer, not an error to keep */
	return ok;
}

/*
 * The message a cosignature/v1 signs: "cosignature/v1\ntime <t>\n" and the
 * note text, in a new buffer (*msg, *len) the caller frees.
 */
static int
cosignature_message(uint64_t timestamp, const char *text, size_t text_len, char **msg, size_t *len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), COSIGNATURE_HEADER "time %" PRIu64 "\n", timestamp);

	if (n < 0 || (size_t)n >= sizeof(head))
		return JG_EINVAL;
	if ((*msg = malloc((size_t)n + text_len)) == NULL)
		return JG_ENOMEM;
	memcpy(*msg, head, (size_t)n);
	memcpy(*msg + n, text, text_len);
	*len = (size_t)n + text_len;
	return 0;
}

int
jg_signed_note_cosign(const char *text, size_t text_len, const char *name, EVP_PKEY *key,
		      uint64_t timestamp, char **line, size_t *line_len)
{
	uint8_t blob[4 + 8 + ED25519_SIG_LEN];
	char b64[B64_LEN(sizeof(blob)) + 1];
	size_t msglen = 0, namelen;
	char *msg = NULL;
	uint32_t id;
	int rc;

	*line = NULL;
	if (text == NULL || text_len == 0 || text[text_len - 1] != '\n' ||
	    !valid_text(text, text_len, true) || !valid_short_name(name) || key == NULL ||
	    !EVP_PKEY_is_a(key, "ED25519") || timestamp > COSIGNATURE_MAX_TIME)
		return JG_EINVAL;
	if ((rc = signer_key_id(key, name, JG_NOTE_ALG_COSIGNATURE_V1, &id)) != 0 ||
	    (rc = cosignature_message(timestamp, text, text_len, &msg, &msglen)) != 0)
		return rc;
	put_be(blob, id, 4);
	put_be(blob + 4, timestamp, 8);
	rc = ed25519_sign(key, msg, msglen, blob + 12);
	free(msg);
	if (rc != 0)
		return rc;
	encode(blob, sizeof(blob), b64);
	namelen = strlen(name);
	*line_len = EM_DASH_SP_LEN + namelen + 1 + (sizeof(b64) - 1) + 1;
	if ((*line = malloc(*line_len + 1)) == NULL)
		return JG_ENOMEM;
	/* "— name base64\n", NUL */
	*put_sig_line(*line, name, namelen, b64, sizeof(b64) - 1) = '\0';
	return 0;
}

/*
 * 1 if s, a signature line naming a cosigner key, is a valid cosignature/v1
 * by pkey of text (its time in *timestamp), 0 if not, < 0 on failure.
 */
static int
cosignature_verify(EVP_PKEY *pkey, const struct jg_note_sig *s, const char *text, size_t text_len,
		   uint64_t *timestamp)
{
	uint64_t t = 0;
	size_t msglen;
	char *msg;
	int ok;

	if (s->sig_len != 8 + ED25519_SIG_LEN)
		return 0;
	for (int i = 0; i < 8; i++)
		t = t << 8 | s->sig[i];
	if (t > COSIGNATURE_MAX_TIME)
		return 0;
	if (cosignature_message(t, text, text_len, &msg, &msglen) != 0)
		return -1;
	ok = ed25519_verify(pkey, s->sig + 8, ED25519_SIG_LEN, msg, msglen);
	free(msg);
	if (ok == 1)
		*timestamp = t;
	return ok;
}

int
jg_signed_note_verify(const struct jg_signed_note *note, const struct jg_note_verifier *v)
{
	uint64_t timestamp;

	return jg_signed_note_verify_time(note, v, &timestamp);
}

int
jg_signed_note_verify_time(const struct jg_signed_note *note, const struct jg_note_verifier *v,
			   uint64_t *timestamp)
{
	EVP_PKEY *pkey = NULL;
	bool verified = false;
	int rc = JG_EVERIFY;

	if (note == NULL || v == NULL || timestamp == NULL)
		return JG_EINVAL;
	if (v->alg != JG_NOTE_ALG_ED25519 && v->alg != JG_NOTE_ALG_COSIGNATURE_V1)
		return JG_EINVAL;
	*timestamp = 0;
	for (size_t i = 0; i < note->n_sigs; i++) {
		const struct jg_note_sig *s = &note->sigs[i];
		int ok;

		/* Another key (name or ID differ): not ours to judge. */
		if (s->key_id != v->key_id || strcmp(s->name, v->name) != 0)
			continue;
		if (pkey == NULL && (pkey = EVP_PKEY_new_raw_public_key_ex(
					 NULL, "ED25519", NULL, v->pub, sizeof(v->pub))) == NULL) {
			rc = JG_ECRYPTO;
			goto out;
		}
		/* Our key: it must verify, or the whole note is refused. */
		if (v->alg == JG_NOTE_ALG_COSIGNATURE_V1)
			ok = cosignature_verify(pkey, s, note->text, note->text_len, timestamp);
		else if (s->sig_len != ED25519_SIG_LEN)
			goto out;
		else
			ok = ed25519_verify(pkey, s->sig, s->sig_len, note->text, note->text_len);
		if (ok < 0) {
			rc = JG_ECRYPTO;
			goto out;
		}
		if (!ok)
			goto out;
		verified = true;
	}
	rc = verified ? 0 : JG_EVERIFY;
out:
	EVP_PKEY_free(pkey);
	return rc;
}

int
jg_signed_note_open_checkpoint(const char *buf, size_t len, const struct jg_note_verifier *v,
			       struct jg_checkpoint *cp)
{
	struct jg_signed_note *note = NULL;
	int rc;

	if ((rc = jg_signed_note_parse(buf, len, &note)) == 0 &&
	    (rc = jg_signed_note_verify(note, v)) == 0)
		rc = jg_signed_note_checkpoint_parse(note->text, note->text_len, cp);
	jg_signed_note_free(note);
	return rc;
}
