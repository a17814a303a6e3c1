/*
 * pii.c - keyed markers for the audit log, and sensitive probe conditions
 * (see pii.h).
 *
 * The keys come from keys.c (kind pii) as raw HMAC EVP_PKEYs; the ring here
 * holds their 32 bytes, newest first, each with its kid computed once.  A
 * marker is one HMAC() over the matched bytes: jg_pii_text() hands
 * redact.c a callback (jg_redact_text_cb), so what counts as personal data
 * is decided in one place, and only the replacement differs between the
 * log (keyed markers) and a reader without read-pii (plain markers).
 * base64url comes from codec.h, which does not allocate: nor does the
 * marker path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/pii.h"
#include "jitgate/redact.h"

#define KID_INPUT "jitgate pii key id"
#define MAC_BYTES 16
#define KID_BYTES 6
#define MAX_WORD  64 /* a longer word is no name in the list */

struct pii_key {
	unsigned char k[JG_KEY_PII_BYTES];
	char kid[JG_PII_KID_LEN + 1];
	int number;
};

struct jg_pii_keys {
	size_t n;
	struct pii_key keys[JG_KEYS_MAX]; /* newest first */
};

/* The personal data names of pii.h, lower case; a segment's words are compared with them. */
static const char *const builtin_names[] = {
    /* contact */
    "email", "mail", "phone", "mobile", "telephone", "tel", "msisdn", "fax",
    /* payment */
    "card", "pan", "cc", "cvv", "cvc", "iban",
    /* identity */
    "name", "firstname", "lastname", "surname", "fullname", "forename", "username", "nickname",
    "ssn", "nino", "passport", "license", "licence", "birth", "birthday", "birthdate", "dob",
    "gender",
    /* location */
    "address", "addr", "street", "postcode", "postal", "zip", "zipcode", "location", "latitude",
    "longitude", "lat", "lng", "lon", "geo",
    /* network */
    "ip", "ipv4", "ipv6", "mac", "imei",
    /* secrets: a condition on them is an oracle too */
    "password", "passwd", "pwd", "secret", "token", "cookie", "authorization", "apikey",
    "credential", "credentials", "otp", "pin"};

static int
key_init(struct pii_key *key, const unsigned char *raw, int number)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(key->k, raw, JG_KEY_PII_BYTES);
	key->number = number;
	if (HMAC(EVP_sha256(), key->k, JG_KEY_PII_BYTES, (const unsigned char *)KID_INPUT,
		 strlen(KID_INPUT), md, &mdlen) == NULL)
		return JG_ECRYPTO;
	return jg_b64url_encode(md, KID_BYTES, key->kid, sizeof(key->kid)) == 0 ? 0 : JG_ECRYPTO;
}

void
jg_pii_keys_free(struct jg_pii_keys *keys)
{
	if (keys == NULL)
		return;
	OPENSSL_cleanse(keys, sizeof(*keys));
	free(keys);
}

int
jg_pii_keys_load(const char *key_dir, struct jg_pii_keys **out, char *err, size_t errlen)
{
	struct jg_keyring *ring = NULL;
	struct jg_pii_keys *keys = NULL;
	unsigned char raw[JG_KEY_PII_BYTES];
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = jg_keys_load(key_dir, JG_KEY_PII, &ring, err, errlen)) != 0)
		return rc;
	if ((keys = calloc(1, sizeof(*keys))) == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	/* the ring is oldest first; markers are made with the newest */
	for (int i = ring->n - 1; i >= 0; i--) {
		len = sizeof(raw);
		if (EVP_PKEY_get_raw_private_key(ring->keys[i].pkey, raw, &len) != 1 ||
		    len != sizeof(raw) ||
		    (rc = key_init(&keys->keys[keys->n], raw, ring->keys[i].number)) != 0) {
			snprintf(err, errlen, "%s: pii key %04d cannot be used", key_dir,
				 ring->keys[i].number);
			rc = JG_ECRYPTO;
			goto out;
		}
		keys->n++;
	}
	*out = keys;
	keys = NULL; /* transferred */
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	jg_pii_keys_free(keys);
	jg_keyring_free(ring);
	return rc;
}

int
jg_pii_keys_from_raw(const unsigned char *key, size_t len, struct jg_pii_keys **out)
{
	struct jg_pii_keys *keys;
	int rc;

	*out = NULL;
	if (key == NULL || len != JG_KEY_PII_BYTES)
		return JG_EINVAL;
	if ((keys = calloc(1, sizeof(*keys))) == NULL)
		return JG_ENOMEM;
	if ((rc = key_init(&keys->keys[0], key, 0)) != 0) {
		jg_pii_keys_free(keys);
		return rc;
	}
	keys->n = 1;
	*out = keys;
	return 0;
}

size_t
jg_pii_keys_count(const struct jg_pii_keys *keys)
{
	return keys ? keys->n : 0;
}

const char *
jg_pii_kid(const struct jg_pii_keys *keys, size_t i)
{
	return keys && i < keys->n ? keys->keys[i].kid : NULL;
}

int
jg_pii_key_number(const struct jg_pii_keys *keys, size_t i)
{
	return keys && i < keys->n ? keys->keys[i].number : -1;
}

static bool
valid_kind(const char *kind)
{
	size_t n = kind ? strlen(kind) : 0;

	return n > 0 && n <= JG_PII_KIND_MAX && strspn(kind, "abcdefghijklmnopqrstuvwxyz") == n;
}

int
jg_pii_mark(const struct jg_pii_keys *keys, size_t i, const char *kind, const void *match,
	    size_t len, char out[JG_PII_MARK_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char mac[JG_PII_MAC_LEN + 3];
	int rc = JG_ECRYPTO;

	out[0] = '\0';
	if (keys == NULL || i >= keys->n || !valid_kind(kind) || (match == NULL && len > 0))
		return JG_EINVAL;
	/* HMAC() reads nothing for an empty message, but wants a pointer */
	if (HMAC(EVP_sha256(), keys->keys[i].k, JG_KEY_PII_BYTES,
		 len > 0 ? match : (const void *)"", len, md, &mdlen) == NULL ||
	    mdlen < MAC_BYTES || jg_b64url_encode(md, MAC_BYTES, mac, sizeof(mac)) != 0)
		goto out;
	snprintf(out, JG_PII_MARK_SIZE, "[REDACTED:%s:%s:%s]", kind, keys->keys[i].kid, mac);
	rc = 0;
out:
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

/* jg_redact_mark_fn: the keyed marker under the active key. */
static int
mark_keyed(void *ctx, const char *kind, const char *match, size_t len, char *out, size_t outsz)
{
	if (outsz < JG_PII_MARK_SIZE)
		return JG_EINVAL;
	return jg_pii_mark(ctx, 0, kind, match, len, out);
}

int
jg_pii_text(const struct jg_pii_keys *keys, const char *in, size_t len, char **out, size_t *out_len,
	    unsigned *found)
{
	/* the callback's context is not const in redact.h; mark_keyed only reads it */
	return jg_redact_text_cb(in, len, keys ? mark_keyed : NULL, (void *)(uintptr_t)keys, out,
				 out_len, found);
}

json_t *
jg_pii_string(const struct jg_pii_keys *keys, const char *text)
{
	char *o = NULL;
	size_t olen;
	json_t *s;

	if (text == NULL || jg_pii_text(keys, text, strlen(text), &o, &olen, NULL) != 0)
		return NULL;
	s = json_stringn(o, olen);
	free(o);
	return s;
}

static int
walk(const struct jg_pii_keys *keys, json_t *v, int depth)
{
	const char *key;
	json_t *child;
	size_t i, olen;
	unsigned found;
	char *o;
	int rc;

	switch (json_typeof(v)) {
	case JSON_STRING:
		/*
		 * Markers already in v are scanned again, not skipped: a look-alike could
		 * hide a card number in its "mac", and a real one holds nothing to match.
		 */
		rc = jg_pii_text(keys, json_string_value(v), json_string_length(v), &o, &olen,
				 &found);
		if (rc != 0)
			return rc;
		if (found != 0 && json_string_setn(v, o, olen) != 0)
			rc = JG_ENOMEM;
		free(o);
		return rc;
	case JSON_OBJECT:
		if (depth >= JG_REDACT_MAX_DEPTH)
			return JG_ETOOBIG;
		json_object_foreach(v, key, child)
		{
			if ((rc = walk(keys, child, depth + 1)) != 0)
				return rc;
		}
		return 0;
	case JSON_ARRAY:
		if (depth >= JG_REDACT_MAX_DEPTH)
			return JG_ETOOBIG;
		json_array_foreach(v, i, child)
		{
			if ((rc = walk(keys, child, depth + 1)) != 0)
				return rc;
		}
		return 0;
	default: return 0;
	}
}

int
jg_pii_json(const struct jg_pii_keys *keys, json_t *value)
{
	return value == NULL ? JG_EINVAL : walk(keys, value, 0);
}

/* jg_redact_mark_fn for jg_pii_kind_of: the first match's kind and span. */
struct first_match {
	char kind[JG_PII_KIND_MAX + 1];
	const char *at;
	size_t len;
	int n;
};

static int
note_match(void *ctx, const char *kind, const char *match, size_t len, char *out, size_t outsz)
{
	struct first_match *f = ctx;

	if (f->n++ == 0) {
		snprintf(f->kind, sizeof(f->kind), "%s", kind);
		f->at = match;
		f->len = len;
	}
	snprintf(out, outsz, "x");
	return 0;
}

const char *
jg_pii_kind_of(const char *value, size_t len)
{
	static const char *const kinds[] = {"email", "card", "phone", "ip", "token", "jwt"};
	struct first_match f = {.n = 0};
	char *o = NULL;
	size_t olen;

	if (value == NULL || jg_redact_text_cb(value, len, note_match, &f, &o, &olen, NULL) != 0) {
		free(o);
		return "field";
	}
	free(o);
	if (f.n != 1 || f.at != value || f.len != len)
		return "field";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(f.kind, kinds[i]) == 0)
			return kinds[i];
	return "field";
}

/* The marker of kind over text[0..len): keyed under the active key, or plain. */
static json_t *
marker(const struct jg_pii_keys *keys, const char *kind, const char *text, size_t len)
{
	char m[JG_PII_MARK_SIZE];

	if (keys == NULL) {
		snprintf(m, sizeof(m), "[REDACTED:%s]", kind);
		return json_string(m);
	}
	return jg_pii_mark(keys, 0, kind, text, len, m) == 0 ? json_string(m) : NULL;
}

json_t *
jg_pii_mark_whole(const struct jg_pii_keys *keys, const char *text, size_t len)
{
	if (text == NULL)
		return NULL;
	return marker(keys, jg_pii_kind_of(text, len), text, len);
}

/* ---- sensitive fields and values ---- */

static bool
is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool
is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_lower(c) || is_upper(c) || is_digit(c);
}

/* Whether lw[0..n) (lower case) is a built-in name. */
static bool
builtin_exact(const char *lw, size_t n)
{
	for (size_t i = 0; i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++)
		if (strlen(builtin_names[i]) == n && memcmp(lw, builtin_names[i], n) == 0)
			return true;
	return false;
}

/*
 * Whether lw[0..n) is a built-in name or its plural: the name with "s"
 * ("emails", "dobs") or, after s, x, z, ch or sh, with "es" ("addresses",
 * "faxes").  Only the names' plurals: "status" is no "statu".
 */
static bool
builtin_or_plural(const char *lw, size_t n)
{
	if (builtin_exact(lw, n))
		return true;
	if (n < 2 || lw[n - 1] != 's')
		return false;
	if (builtin_exact(lw, n - 1))
		return true;
	if (n < 4 || lw[n - 2] != 'e')
		return false;
	char c = lw[n - 3];
	bool sibilant = c == 's' || c == 'x' || c == 'z' ||
			(c == 'h' && (lw[n - 4] == 'c' || lw[n - 4] == 's'));
	return sibilant && builtin_exact(lw, n - 2);
}

static bool
builtin_word(const char *w, size_t n)
{
	char lw[MAX_WORD + 1];

	if (n == 0 || n > MAX_WORD)
		return false;
	for (size_t i = 0; i < n; i++) {
		lw[i] = w[i];
		if (is_upper(w[i]))
			lw[i] = (char)(w[i] | 0x20);
	}
	if (builtin_or_plural(lw, n))
		return true;
	/* "address2", "addresses2": the word without its trailing digits */
	size_t m = n;
	while (m > 0 && is_digit(lw[m - 1]))
		m--;
	return m > 0 && m < n && builtin_or_plural(lw, m);
}

/* Whether a word of seg[0..n) is a built-in name (pii.h: where words split). */
static bool
segment_has_name(const char *seg, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		bool cut = i == n || !is_alnum(seg[i]);
		/*
		 * A new word begins at i: "customerEmail", "IPAddress" - but an
		 * upper-case run's plural "s" stays with it: "IPs", "DOBs", "SSNsList".
		 */
		bool plural_s =
		    i + 1 < n && seg[i + 1] == 's' && (i + 2 == n || !is_lower(seg[i + 2]));
		bool begins =
		    i < n && i > start && is_upper(seg[i]) &&
		    (is_lower(seg[i - 1]) || is_digit(seg[i - 1]) ||
		     (i + 1 < n && is_lower(seg[i + 1]) && is_upper(seg[i - 1]) && !plural_s));
		if (cut || begins) {
			if (i > start && builtin_word(seg + start, i - start))
				return true;
			start = cut ? i + 1 : i;
		}
	}
	return false;
}

static bool
segment_configured(const char *seg, size_t n, char *const *configured)
{
	for (size_t i = 0; configured != NULL && configured[i] != NULL; i++)
		if (strlen(configured[i]) == n && strncasecmp(seg, configured[i], n) == 0)
			return true;
	return false;
}

bool
jg_pii_field_sensitive(const char *path, char *const *configured)
{
	const char *p = path, *dot;
	size_t n;

	if (path == NULL)
		return false;
	for (;;) {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (segment_configured(p, n, configured) || segment_has_name(p, n))
			return true;
		if (dot == NULL)
			return false;
		p = dot + 1;
	}
}

bool
jg_pii_value_sensitive(const json_t *value)
{
	char *o = NULL;
	size_t olen;
	unsigned found = 0;

	/* the agent compares numbers as doubles: whatever integer shares one counts */
	if (json_is_number(value))
		return jg_redact_number_is_card(value, true, NULL);
	if (!json_is_string(value))
		return false;
	/* fail closed: a value redaction cannot scan counts as sensitive */
	if (jg_redact_text(json_string_value(value), json_string_length(value), &o, &olen,
			   &found) != 0)
		return true;
	free(o);
	return found != 0;
}

const json_t *
jg_pii_conditions_sensitive(const json_t *conds, char *const *configured)
{
	size_t i;
	const json_t *c;

	json_array_foreach(conds, i, c)
	{
		if (jg_pii_field_sensitive(json_string_value(json_object_get(c, "field")),
					   configured) ||
		    jg_pii_value_sensitive(json_object_get(c, "value")))
			return c;
	}
	return NULL;
}

int
jg_pii_conditions(const struct jg_pii_keys *keys, json_t *conds, char *const *configured)
{
	size_t i;
	json_t *c, *v, *repl = NULL;
	char *text, digits[JG_REDACT_DIGITS_SIZE];

	json_array_foreach(conds, i, c)
	{
		v = json_object_get(c, "value");
		repl = NULL;
		if (jg_pii_field_sensitive(json_string_value(json_object_get(c, "field")),
					   configured)) {
			if (json_is_string(v)) {
				repl = marker(keys, "field", json_string_value(v),
					      json_string_length(v));
			} else if ((text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL) {
				repl = marker(keys, "field", text, strlen(text));
				free(text);
			}
		} else if (json_is_string(v)) {
			if (walk(keys, v, 0) != 0)
				return JG_ENOMEM;
			continue;
		} else if (json_is_number(v) && jg_redact_number_is_card(v, true, digits)) {
			/* the digits, as the scanner would match them in text ("-" stays out) */
			repl = marker(keys, "card", digits, strlen(digits));
		} else {
			continue;
		}
		/* json_object_set_new steals repl, NULL included (then it fails) */
		if (json_object_set_new(c, "value", repl) != 0)
			return keys ? JG_ECRYPTO : JG_ENOMEM;
	}
	return 0;
}
