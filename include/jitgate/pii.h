/*
 * pii.h - personal data and the audit log: keyed markers, and which probe
 * conditions touch personal data.
 *
 * The audit log is immutable, so personal data written into it could never
 * be erased.  Free text that goes into an entry (reasons, review notes,
 * incident ids, guarded calls' parameters, condition values, log queries)
 * passes through jg_pii_text() or jg_pii_json() first: every match that
 * redaction (redact.h) would replace becomes a keyed marker
 *
 *   [REDACTED:<kind>:<kid>:<mac>]
 *
 *   kind  what was matched: email, card, phone, ip, token (a bearer token),
 *         jwt; field (the whole value of a condition on a sensitive field,
 *         or of raw input recorded whole, jg_pii_mark_whole()); query (a
 *         logs.read search)
 *   kid   the key's id: base64url (RFC 4648 section 5, no padding) of the
 *         first 6 bytes of HMAC-SHA-256(K, "jitgate pii key id"), 8
 *         characters
 *   mac   base64url, no padding, of the first 16 bytes of
 *         HMAC-SHA-256(K, match), 22 characters; match is the matched bytes
 *         exactly as written (no case folding, separators kept)
 *
 * K is the deployment's pii key (keys.h, kind pii: <key_dir>/pii-NNNN.pem);
 * the highest number marks, older keys stay so that an auditor can still
 * find markers they made.  Equal values give equal markers, so an auditor
 * who knows a value can find it (POST /v1/audit/hash computes the marker
 * for them), while the log alone, without K, does not reveal it: unlike a
 * plain hash, a marker cannot be reversed by hashing a dictionary.
 * Identities (actor, requester, approver) are not marked.
 *
 * With keys NULL the same functions write the plain markers of redact.h
 * ("[REDACTED:email]", "[REDACTED:field]"): what a reader without read-pii
 * is shown.
 *
 * Conditions.  A probe condition is an oracle: a probe on
 * customer.email eq "x" fires exactly when x is the address.  A condition
 * is sensitive when a segment of its dotted field is in
 * redaction.sensitive_fields (the whole segment, ignoring ASCII case) or
 * one of the segment's words is a personal data name below, or when its
 * value is something redaction would replace (a string holding an email,
 * card, phone, IP, bearer token or JWT; a number that is a card number,
 * written as an integer or a real, or - since the agent compares numbers
 * as doubles - that shares its double with one: redact.h,
 * jg_redact_number_is_card() with as_double).  Words:
 * a segment split at every byte that is not an ASCII letter or digit and
 * where a lower-case letter or digit is followed by an upper-case one or
 * an upper-case run by a capitalised word ("customerEmail", "IPAddress",
 * "billing_address"; an upper-case run keeps a plural "s" that is not
 * followed by a lower-case letter: "IPs", "DOBs", "SSNsList").  A word
 * matches a name when it is the name, or its plural: the name followed by
 * "s" ("emails", "dobs"), or by "es" when the name ends in s, x, z, ch or
 * sh ("addresses", "faxes"); and so with its trailing digits removed
 * ("address2", "addresses2").  No other stems: "status" is no plural, and
 * "customeremail" is one word and matches nothing: list such names in
 * redaction.sensitive_fields.  The names (ASCII case ignored):
 *
 *   contact    email mail phone mobile telephone tel msisdn fax
 *   payment    card pan cc cvv cvc iban
 *   identity   name firstname lastname surname fullname forename username
 *              nickname ssn nino passport license licence birth birthday
 *              birthdate dob gender
 *   location   address addr street postcode postal zip zipcode location
 *              latitude longitude lat lng lon geo
 *   network    ip ipv4 ipv6 mac imei
 *   secrets    password passwd pwd secret token cookie authorization
 *              apikey credential credentials otp pin
 *
 * Thread-safe: a loaded key ring is read-only.
 */
#ifndef JITGATE_PII_H
#define JITGATE_PII_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define JG_PII_KID_LEN	 8  /* base64url of 6 bytes */
#define JG_PII_MAC_LEN	 22 /* base64url of 16 bytes, no padding */
#define JG_PII_KIND_MAX	 15 /* bytes of a kind name: [a-z]{1,15} */
#define JG_PII_MARK_SIZE 64 /* room for a marker and its NUL */

struct jg_pii_keys;

/*
 * Loads every pii key of key_dir (keys.h).  *out is the caller's, freed
 * with jg_pii_keys_free().  Returns 0 or the codes of jg_keys_load() (no
 * key: JG_ENOTFOUND, with "run 'jitgate keys generate --kind pii'" in err).
 */
int jg_pii_keys_load(const char *key_dir, struct jg_pii_keys **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A ring of one key of 32 bytes (tests, tools).  Returns 0, JG_EINVAL or JG_ENOMEM. */
int jg_pii_keys_from_raw(const unsigned char *key, size_t len, struct jg_pii_keys **out)
    __attribute__((warn_unused_result));

/* Wipes and frees; NULL is a no-op. */
void jg_pii_keys_free(struct jg_pii_keys *keys);

/* Keys in the ring; index 0 is the active (newest) one. */
size_t jg_pii_keys_count(const struct jg_pii_keys *keys);
/* The kid of key i (8 characters), or NULL past the end. */
const char *jg_pii_kid(const struct jg_pii_keys *keys, size_t i);
/* The key file's number of key i (pii-NNNN.pem; 0 for a ring from raw bytes), or -1. */
int jg_pii_key_number(const struct jg_pii_keys *keys, size_t i);

/*
 * Writes the marker of match[0..len) under key i and kind into out
 * (JG_PII_MARK_SIZE bytes).  Returns 0; JG_EINVAL for a bad kind, an
 * index past the end or keys NULL; JG_ECRYPTO.
 */
int jg_pii_mark(const struct jg_pii_keys *keys, size_t i, const char *kind, const void *match,
		size_t len, char out[JG_PII_MARK_SIZE]) __attribute__((warn_unused_result));

/*
 * in[0..len) with every redaction match replaced by its marker under the
 * active key (plain markers when keys is NULL): *out is a new
 * NUL-terminated string of *out_len bytes, the caller frees.  *found (may
 * be NULL) gets the JG_REDACT_* bits.  Returns 0 or the codes of
 * jg_redact_text() (JG_ETOOBIG, JG_ENOMEM) and JG_ECRYPTO; *out is NULL
 * on failure.
 */
int jg_pii_text(const struct jg_pii_keys *keys, const char *in, size_t len, char **out,
		size_t *out_len, unsigned *found) __attribute__((warn_unused_result));

/*
 * jg_pii_text() applied to every string of value in place (object keys
 * are left as they are; markers already there hold nothing to match and
 * come out unchanged).  Returns 0, JG_ETOOBIG (nested deeper than
 * JG_REDACT_MAX_DEPTH), JG_ENOMEM or JG_ECRYPTO; on failure value may be
 * partly rewritten and must not be written anywhere.
 */
int jg_pii_json(const struct jg_pii_keys *keys, json_t *value) __attribute__((warn_unused_result));

/*
 * A new JSON string holding text through jg_pii_text(), or NULL when that
 * fails or text is NULL (the caller decides: never the text in clear).
 */
json_t *jg_pii_string(const struct jg_pii_keys *keys, const char *text);

/*
 * The kind value[0..len) is marked under when it is one whole redaction
 * match ("email", "card", ...), else "field".  For POST /v1/audit/hash.
 */
const char *jg_pii_kind_of(const char *value, size_t len);

/*
 * A new JSON string holding one marker of the whole of text[0..len), of
 * kind jg_pii_kind_of() ("email" for an address alone, else "field"):
 * for raw input that is not known to be harmless, such as a URL segment
 * that names no service.  Keyed under the active key, plain with keys
 * NULL; the same marker POST /v1/audit/hash gives for that value.  NULL on
 * failure (the caller must then write nothing).
 */
json_t *jg_pii_mark_whole(const struct jg_pii_keys *keys, const char *text, size_t len);

/*
 * Whether the dotted path names personal data: a segment equal (ignoring
 * ASCII case) to one of configured (NULL-terminated, may be NULL) or with
 * a word in the built-in list above.
 */
bool jg_pii_field_sensitive(const char *path, char *const *configured);

/*
 * Whether redaction would replace value, as a condition compares it: a
 * string with a match, or a number that is, or shares its double with, a
 * card number (integer or real alike).
 */
bool jg_pii_value_sensitive(const json_t *value);

/*
 * The first sensitive condition of conds (a validated list of {field, op,
 * value}), or NULL when none is.
 */
const json_t *jg_pii_conditions_sensitive(const json_t *conds, char *const *configured);

/*
 * Rewrites the values of the sensitive conditions of conds in place: on a
 * sensitive field the whole value becomes one marker of kind field (over
 * the string's bytes, or the compact JSON text of a number or boolean);
 * otherwise a string goes through jg_pii_text() and a number that
 * jg_pii_value_sensitive() takes for a card number (an integer or a real)
 * becomes a card marker over its decimal digits.  Keyed markers with keys,
 * plain ones with keys NULL.  Returns 0, JG_ENOMEM or JG_ECRYPTO (then
 * conds must not be shown).
 */
int jg_pii_conditions(const struct jg_pii_keys *keys, json_t *conds, char *const *configured)
    __attribute__((warn_unused_result));

#endif
