/*
 * redact.h - PII redaction for what a token without `read-pii` is shown.
 *
 * Every probe event, log record and span attribute returned to a token that
 * lacks `read-pii` goes through here.  jg_redact_text() rewrites free text:
 * one left-to-right pass, hand-written scanners (no regex, no backtracking),
 * linear in the input, one output buffer grown by doubling and no other
 * allocation.  jg_redact_json() applies it to every string of a jansson
 * document in place, blanks the values of sensitive keys and turns integers
 * that are card numbers into strings.
 *
 * Matching.  At each byte the scanners are tried in this order: bearer,
 * JWT, email, IPv6, IPv4, card, phone.  The first that matches *starting at
 * that byte* wins, its marker replaces the matched bytes and the scan goes
 * on after them, so matches never overlap and the leftmost one wins (a phone
 * number inside an email address is part of the email).  Everything not
 * matched is copied byte for byte.  Every pattern except the email local
 * part (below) is ASCII at both ends, so a match never begins or ends
 * inside a UTF-8 sequence of valid input, and bytes >= 0x80 count as "not
 * a letter or digit" at every boundary below.  A "word byte" below is
 * [A-Za-z0-9_]; the end of the previous match counts as a boundary, like
 * the start of the text ("+14155550132+14155550132" is two phones).  No
 * marker matches anything, so redacting twice changes nothing, except where
 * items are glued together with no separator: in "2001:db8::1bob@x.com"
 * the email claims "1bob@x.com" and "2001:db8::" is left (and redacted by a
 * second pass).
 *
 * What each pattern matches, and what it deliberately does not:
 *
 * email -> [REDACTED:email]  (JG_REDACT_EMAIL)
 *   local@domain.  The local part is a run of [A-Za-z0-9._%+-] and bytes
 *   >= 0x80 (so "josé.smith@x.org" and "用户@x.org" are redacted whole),
 *   starting at its first non-dot byte.  "@" may also be written "%40" (an
 *   address in a query string).  The domain is two or more dot-separated
 *   labels of [A-Za-z0-9-] whose last label is >= 2 ASCII letters or an
 *   "xn--" punycode label; the longest such prefix is taken, so in
 *   "a@b.com.123" only "a@b.com" is redacted and a trailing full stop stays.
 *   Not matched: domains without a dot ("root@localhost"), IP-literal
 *   domains ("bob@10.0.0.1" leaves "bob@" and redacts the IP), non-ASCII
 *   (non-punycode) domains, quoted local parts, obfuscations ("bob at x dot
 *   com", "&#64;").  Over-redaction: non-ASCII text glued to the local
 *   part goes with it ("→bob@x.com" loses the arrow, CJK text written
 *   without spaces loses the words before the address); ASCII punctuation
 *   outside the set (":", "=", "<", quotes) stops it ("mailto:" stays).
 *
 * card -> [REDACTED:card]  (JG_REDACT_CARD)
 *   13-19 digits that pass the Luhn check, written either as one unbroken
 *   run of exactly 13-19 digits, or as two or more groups of 3-6 digits
 *   separated by one space or one dash (the same separator throughout):
 *   "4111 1111 1111 1111", "3782-822463-10005".  With groups, the longest
 *   Luhn-valid prefix of whole groups is taken.  It must not be preceded by
 *   a word byte or by "<digit>." / "<digit>-", nor followed by a word byte
 *   or ".<digit>".  Not matched: Luhn-invalid numbers (a 16-digit order id
 *   that fails Luhn is left alone), runs of more than 19 digits (nothing is
 *   cut out of a longer number), digits inside identifiers ("id_4111...",
 *   hex), the fraction of a decimal ("0.4111111111111111"), other
 *   groupings ("41 11 11 ..."), numbers spelled with dots or slashes.
 *   False positives: about one in ten 13-19 digit numbers passes Luhn by
 *   chance, so such ids or nanosecond timestamps standing alone are
 *   redacted too; no issuer (IIN) check is made.
 *
 * phone -> [REDACTED:phone]  (JG_REDACT_PHONE)
 *   (a) '+' then 8-15 digits in groups separated by single spaces, dashes
 *       or dots, with optional parenthesised groups of 1-5 digits:
 *       "+14155550132", "+44 20 7946 0958", "+1 (415) 555-0132",
 *       "+44 (0)20 7946 0958".  The longest prefix of whole groups with
 *       8-15 digits is taken (a digit group written right after the number
 *       may be absorbed).  The '+' must not follow a word byte, '+', '/'
 *       or '.' (base64 text).
 *   (b) "(" 2-5 digits ")" then one or two groups of 3-8 digits, 9-12
 *       digits in all: "(415) 555-0132", "(020) 7946 0958".
 *   (c) North American: [1<sep>]ddd<sep>ddd<sep>dddd with one separator
 *       (space, dash or dot) used throughout: "415-555-0132",
 *       "415.555.0132", "1 415 555 0132".  With a dash or dot it must not
 *       continue with the same separator and a digit.
 *   (d) National with trunk prefix: starts with 0, two or more groups of
 *       2-8 digits separated by the same single space or dash, 9-12 digits
 *       in all: "020 7946 0958", "0412 345 678", "01 23 45 67 89".
 *   (b) must not follow a word byte, (c) and (d) not a word byte,
 *   "<digit>.", "<digit>-" or "<digit> " (the tail of a longer spaced digit
 *   run, such as a Luhn-invalid card number "4100 0000 0000 0002"); none
 *   may be followed by a word byte or ".<digit>".
 *   Not matched, on purpose: bare digit runs without '+' ("4155550132",
 *   order ids, timestamps), dates ("2024-01-15", "01-15-2024"), times,
 *   version strings, "555-0132" (7 digits).  Also not matched: national
 *   numbers of other shapes ("089/123456", "07700900123" unspaced),
 *   URL-encoded '+' ("%2B1415..."), extensions ("x123" stays).
 *   False positives: any 3-3-4 dashed number ("123-456-7890" as an order
 *   id), dashed or spaced numbers of 9-12 digits starting with 0 (an SSN
 *   "078-05-1120"), and signed integers of 8-15 digits written with '+'.
 *
 * ip -> [REDACTED:ip]  (JG_REDACT_IP)
 *   IPv4: four dot-separated decimal octets of 1-3 digits, each <= 255
 *   (leading zeros allowed), not preceded by a word byte or '.', not
 *   followed by a word byte or ".<digit>".  So "1.2.3.4" IS redacted (a
 *   four-part version string with parts <= 255 cannot be told from an
 *   address) but "1.2.3.4.5", "10.0.19045.1", "1.2.3.256" and "v1.2.3.4"
 *   are not.  CIDR suffixes and ports stay ("[REDACTED:ip]/24").
 *   IPv6: a run of [0-9A-Fa-f:.] of at most 45 bytes with at least two ':'
 *   and one hex digit, not preceded by a word byte or '.' (':' is fine:
 *   "addr:2001:db8::1"), that inet_pton(AF_INET6) accepts (trailing ':'
 *   and '.' are dropped if the whole run is not accepted; nothing is cut
 *   out of a longer run, so "1:2:3:4:5:6:7:8:9a" stays whole), plus a
 *   "%zone" suffix of [A-Za-z0-9_.-]
 *   ("fe80::1%eth0", "fe80::1%25eth0").  Full, compressed ("::1") and
 *   IPv4-mapped ("::ffff:192.0.2.1") forms; brackets stay
 *   ("[[REDACTED:ip]]:443").  Not matched: "::" alone, MAC addresses and
 *   times (inet_pton refuses them), addresses glued to a following word
 *   byte.  False positives: hex words joined by "::" ("a::b", "cafe::").
 *   An unbracketed "addr:port" is read as one address (both go).
 *
 * token -> Bearer [REDACTED:token] / [REDACTED:jwt]  (JG_REDACT_TOKEN)
 *   Bearer: the word "bearer" in any case, not preceded by a word byte,
 *   then one or more spaces or tabs, then a token of [A-Za-z0-9-._~+/]
 *   and trailing '='.  Only the token is replaced; the word and the blanks
 *   are kept as written ("bearer x" -> "bearer [REDACTED:token]").  Prose
 *   such as "Bearer tokens" loses the next word.  Not matched: other
 *   schemes (Basic, Digest, cookies, API keys in query strings).
 *   JWT: base64url segments ([A-Za-z0-9_-]) joined by '.', the first
 *   starting "eyJ" with at least 4 bytes, the second non-empty, at least 3
 *   and at most 5 segments (JWS and JWE compact forms; the last may be
 *   empty, as in an unsigned JWT), not preceded by [A-Za-z0-9_.-]: so a JWT
 *   in a URL ("?id_token=eyJ...&x=1", ".../cb#eyJ...") is found.  Not
 *   matched: header.payload without a third segment (no trailing '.'),
 *   JWTs in JSON serialisation, base64 (not base64url) tokens, opaque
 *   tokens without "Bearer" before them.
 *
 * Not covered at all: names, postal addresses, national ids (SSNs) and
 * dates of birth in free text (list their JSON keys in sensitive_fields),
 * secrets in other formats (passwords in URLs, private keys), and anything
 * split across two strings or two calls.
 */
#ifndef JITGATE_REDACT_H
#define JITGATE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Bits of *found: which kinds were redacted. */
#define JG_REDACT_EMAIL (1u << 0)
#define JG_REDACT_CARD	(1u << 1)
#define JG_REDACT_PHONE (1u << 2)
#define JG_REDACT_IP	(1u << 3)
#define JG_REDACT_TOKEN (1u << 4) /* bearer tokens and JWTs */
#define JG_REDACT_FIELD (1u << 5) /* jg_redact_json only: a sensitive key's value */

/* The markers written in place of what was matched. */
#define JG_REDACT_MARK_EMAIL "[REDACTED:email]"
#define JG_REDACT_MARK_CARD  "[REDACTED:card]"
#define JG_REDACT_MARK_PHONE "[REDACTED:phone]"
#define JG_REDACT_MARK_IP    "[REDACTED:ip]"
#define JG_REDACT_MARK_TOKEN "[REDACTED:token]"
#define JG_REDACT_MARK_JWT   "[REDACTED:jwt]"
#define JG_REDACT_MARK_FIELD "[REDACTED:field]"

#define JG_REDACT_MAX_TEXT  (1024 * 1024) /* bytes of input to jg_redact_text */
#define JG_REDACT_MAX_DEPTH 64		  /* nested arrays/objects in jg_redact_json */

/*
 * Redacts in[0..len) (any bytes, NULs included; in may be NULL when len is
 * 0) into *out, a new NUL-terminated buffer the caller frees, of *out_len
 * bytes (the NUL not counted), always allocated on success even when
 * nothing was found.  *found, unless found is NULL, gets the JG_REDACT_*
 * bits of what was replaced.  Returns 0; JG_ETOOBIG when len exceeds
 * JG_REDACT_MAX_TEXT; JG_EINVAL for in == NULL with len > 0; JG_ENOMEM.
 * On failure *out is NULL, *out_len and *found are 0.  The output is at
 * most about 5 times the input ("::1" becomes "[REDACTED:ip]").
 * Thread-safe: no state outside the call.
 */
int jg_redact_text(const char *in, size_t len, char **out, size_t *out_len, unsigned *found)
    __attribute__((warn_unused_result));

/*
 * What replaces one match in jg_redact_text_cb: kind is the marker's name
 * ("email", "card", "phone", "ip", "token" for a bearer token, "jwt"),
 * match[0..len) the matched bytes (for a bearer token the token alone: the
 * word "Bearer" and the blanks before it are kept).  Writes the
 * replacement, NUL-terminated, into out (outsz bytes) and returns 0, or a
 * JG_E* code that ends the call with that code.
 */
#define JG_REDACT_REPL_MAX 128
typedef int (*jg_redact_mark_fn)(void *ctx, const char *kind, const char *match, size_t len,
				 char *out, size_t outsz);

/*
 * jg_redact_text with each match replaced by what mark writes instead of
 * the fixed marker (pii.c writes keyed markers for the audit log).  The
 * same matches, the same bounds and failures, plus mark's own codes; mark
 * NULL is jg_redact_text.  Each match grows the output by at most
 * JG_REDACT_REPL_MAX - 1 bytes.
 */
int jg_redact_text_cb(const char *in, size_t len, jg_redact_mark_fn mark, void *ctx, char **out,
		      size_t *out_len, unsigned *found) __attribute__((warn_unused_result));

/*
 * Redacts value in place:
 *   - the value of every object key that equals one of
 *     sensitive_fields[0..nfields) ignoring ASCII case (the whole key:
 *     "Password" matches "password", "user_password" does not, and
 *     "card-number" does not match "card_number") becomes the string
 *     "[REDACTED:field]", whatever its type, and is not walked further;
 *   - every other string is rewritten by jg_redact_text;
 *   - every number that is a card number (jg_redact_number_is_card(),
 *     as_double false: an integer or a real whose absolute value is
 *     integral with 13-19 digits passing Luhn, or a real beyond 2^53 that
 *     stands for such an integer) becomes the string "[REDACTED:card]".
 * Object keys themselves are not redacted (renaming could collide).
 * sensitive_fields may be NULL when nfields is 0; NULL entries are skipped.
 * *found, unless found is NULL, gets the JG_REDACT_* bits of what was
 * replaced.  Returns 0; JG_ETOOBIG when arrays/objects nest deeper than
 * JG_REDACT_MAX_DEPTH or a string exceeds JG_REDACT_MAX_TEXT; JG_EINVAL
 * when value is NULL or is itself a card number (it cannot be
 * turned into a string in place); JG_ENOMEM.  On failure value may be
 * partly redacted and must not be shown (fail closed); *found is 0.
 * value is borrowed; nothing is handed to the caller.
 */
int jg_redact_json(json_t *value, const char *const *sensitive_fields, size_t nfields,
		   unsigned *found) __attribute__((warn_unused_result));

#define JG_REDACT_DIGITS_SIZE 24 /* the digits of a number below 2^64, and a NUL */

/*
 * Whether the JSON number v is a card number as redaction sees numbers:
 * its absolute value is integral and its decimal digits, 13 to 19 of them,
 * pass Luhn (4111111111111111, -4111111111111111, 4111111111111111.0,
 * 4.111111111111111e15 alike; 4111111111111111.5 is none).  A double beyond
 * 2^53 cannot tell neighbouring integers apart, so a real there - or, with
 * as_double, an integer that will be compared as a double, as a probe's
 * agent compares condition values - stands for every integer with the
 * same nearest double, and counts when any of them is a card (above about
 * 5.8e17, always).  digits (may be NULL) gets the decimal digits of the
 * absolute value (for a real, of its exact value), "" when v is no number.
 */
bool jg_redact_number_is_card(const json_t *v, bool as_double, char digits[JG_REDACT_DIGITS_SIZE]);

/*
 * True when digits[0..n) is one or more ASCII digits passing the Luhn
 * check (sum of the digits, every second one from the right doubled with 9
 * subtracted above 9, is a multiple of 10).  False for n == 0 or any other
 * byte, separators included: strip them first.
 */
bool jg_redact_luhn(const char *digits, size_t n);

#endif
