/*
 * test_redact.c - PII redaction of text and JSON.
 *
 * One table of (input, expected output, expected found bits) drives
 * jg_redact_text: every kind positive and negative, the boundaries
 * redact.h documents (Luhn-invalid cards and order ids left alone, dotted
 * version strings longer than four parts left alone, dates and bare digit
 * runs not taken for phones), overlapping and adjacent items, UTF-8 around
 * matches.  Every expected output is also checked to redact to itself and,
 * when the input is valid UTF-8, to be valid UTF-8.  Then: empty and NUL-
 * bearing input, the 1 MiB cap, adversarial inputs at the cap, Luhn
 * vectors, and the JSON walker (nested values, sensitive keys in any case
 * and of any type, integer card numbers, the depth cap, top-level values).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/redact.h"

#define EMAIL JG_REDACT_EMAIL
#define CARD  JG_REDACT_CARD
#define PHONE JG_REDACT_PHONE
#define IP    JG_REDACT_IP
#define TOKEN JG_REDACT_TOKEN
#define FIELD JG_REDACT_FIELD

#define M_EMAIL JG_REDACT_MARK_EMAIL
#define M_CARD	JG_REDACT_MARK_CARD
#define M_PHONE JG_REDACT_MARK_PHONE
#define M_IP	JG_REDACT_MARK_IP
#define M_TOKEN JG_REDACT_MARK_TOKEN
#define M_JWT	JG_REDACT_MARK_JWT

#define JWT                                                                                        \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."     \
	"SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

struct text_case {
	const char *name;
	const char *in;
	const char *want;
	unsigned found;
};

static const struct text_case text_cases[] = {
    /* email */
    {"email alone", "bob@example.com", M_EMAIL, EMAIL},
    {"email in text", "mail bob@example.com now", "mail " M_EMAIL " now", EMAIL},
    {"email dots plus subdomains, full stop kept", "a.b+tag@mail.example.co.uk.", M_EMAIL ".",
     EMAIL},
    {"email in angle brackets", "From: Bob <bob_smith@example.org>", "From: Bob <" M_EMAIL ">",
     EMAIL},
    {"email leading dots stay", "...bob@x.com", "..." M_EMAIL, EMAIL},
    {"email mailto", "mailto:bob@x.com", "mailto:" M_EMAIL, EMAIL},
    {"email %40 in query", "/u?email=bob%40example.com&x=1", "/u?email=" M_EMAIL "&x=1", EMAIL},
    {"email punycode tld", "bob@example.xn--p1ai", M_EMAIL, EMAIL},
    {"email longest valid domain", "a@b.com.123", M_EMAIL ".123", EMAIL},
    {"email non-ascii local part whole", "jos\xc3\xa9.smith@x.org", M_EMAIL, EMAIL},
    {"email no dot in domain", "root@localhost", "root@localhost", 0},
    {"email one-letter tld", "bob@x.c", "bob@x.c", 0},
    {"email numeric tld", "bob@x.co1", "bob@x.co1", 0},
    {"email no local part", "@example.com", "@example.com", 0},
    {"email ip domain: ip only", "bob@10.0.0.1", "bob@" M_IP, IP},
    {"email adjacent pair", "bob@x.com,alice@y.org", M_EMAIL "," M_EMAIL, EMAIL},

    /* card */
    {"card unbroken", "cc=4111111111111111&", "cc=" M_CARD "&", CARD},
    {"card spaces", "card 4111 1111 1111 1111 ok", "card " M_CARD " ok", CARD},
    {"card dashes", "5500-0000-0000-0004", M_CARD, CARD},
    {"card amex 4-6-5", "3782 822463 10005", M_CARD, CARD},
    {"card 13 digits", "4222222222222", M_CARD, CARD},
    {"card 19 digits", "6304000000000000018", M_CARD, CARD},
    {"card after a small number", "qty 2 4111111111111111", "qty 2 " M_CARD, CARD},
    {"card longest luhn prefix of groups", "4111 1111 1111 1111 9999", M_CARD " 9999", CARD},
    {"card luhn invalid", "4111111111111112", "4111111111111112", 0},
    {"card luhn invalid with spaces", "4111 1111 1111 1112", "4111 1111 1111 1112", 0},
    {"order id failing luhn", "order 1234567812345678 shipped", "order 1234567812345678 shipped",
     0},
    {"card too long run", "4111111111111111111111", "4111111111111111111111", 0},
    {"card too short", "411111111111", "411111111111", 0},
    {"card inside identifier", "id_4111111111111111", "id_4111111111111111", 0},
    {"card glued to letters", "4111111111111111abc", "4111111111111111abc", 0},
    {"card as decimal fraction", "0.4111111111111111", "0.4111111111111111", 0},
    {"card mixed separators", "4111 1111-1111 1111", "4111 1111-1111 1111", 0},

    /* phone */
    {"phone e164", "call +14155550132 now", "call " M_PHONE " now", PHONE},
    {"phone e164 uk spaced", "+44 20 7946 0958", M_PHONE, PHONE},
    {"phone e164 with area parens", "+1 (415) 555-0132", M_PHONE, PHONE},
    {"phone e164 trunk zero", "+44 (0)20 7946 0958", M_PHONE, PHONE},
    {"phone e164 in query", "phone=+14155550132&", "phone=" M_PHONE "&", PHONE},
    {"phone nanp parens", "(415) 555-0132", M_PHONE, PHONE},
    {"phone nanp dashes", "tel 415-555-0132.", "tel " M_PHONE ".", PHONE},
    {"phone nanp dots", "415.555.0132", M_PHONE, PHONE},
    {"phone nanp leading 1", "1-800-555-0199", M_PHONE, PHONE},
    {"phone uk national", "020 7946 0958", M_PHONE, PHONE},
    {"not a phone: the tail of a spaced Luhn-invalid card", "ref 4100 0000 0000 0002",
     "ref 4100 0000 0000 0002", 0},
    {"not a phone: the tail of a spaced account number", "acct 12 020 7946 0958",
     "acct 12 020 7946 0958", 0},
    {"phone au mobile", "0412 345 678", M_PHONE, PHONE},
    {"phone fr national", "01 23 45 67 89", M_PHONE, PHONE},
    {"phone e164 too short", "+12 345", "+12 345", 0},
    {"phone e164 too long", "+1234567890123456", "+1234567890123456", 0},
    {"phone plus in base64", "a/+14155550132", "a/+14155550132", 0},
    {"phone bare digits", "id 4155550132", "id 4155550132", 0},
    {"phone timestamp", "ts=1700000000123", "ts=1700000000123", 0},
    {"phone iso date", "2024-01-15", "2024-01-15", 0},
    {"phone us date", "01-15-2024", "01-15-2024", 0},
    {"phone seven digits", "555-0132", "555-0132", 0},
    {"phone longer dashed number", "415-555-0132-7", "415-555-0132-7", 0},
    {"phone inside dashed number", "99-415-555-0132", "99-415-555-0132", 0},

    /* IPv4 */
    {"ipv4", "from 192.168.1.20 to", "from " M_IP " to", IP},
    {"ipv4 with port", "ip:10.1.2.3:8080", "ip:" M_IP ":8080", IP},
    {"ipv4 cidr", "10.0.0.0/8", M_IP "/8", IP},
    {"ipv4 full stop", "host 1.2.3.4.", "host " M_IP ".", IP},
    {"version 1.2.3.4 is an address", "v 1.2.3.4", "v " M_IP, IP},
    {"ipv4 octet > 255", "10.0.0.256", "10.0.0.256", 0},
    {"dotted 5 parts", "1.2.3.4.5", "1.2.3.4.5", 0},
    {"dotted after a part", "build 10.0.19045.1", "build 10.0.19045.1", 0},
    {"version prefixed", "v1.2.3.4", "v1.2.3.4", 0},
    {"three parts", "1.2.3", "1.2.3", 0},

    /* IPv6 */
    {"ipv6 full", "2001:0db8:0000:0000:0000:ff00:0042:8329", M_IP, IP},
    {"ipv6 compressed", "peer 2001:db8::1 up", "peer " M_IP " up", IP},
    {"ipv6 loopback", "::1", M_IP, IP},
    {"ipv6 zone id", "fe80::1%eth0 link", M_IP " link", IP},
    {"ipv6 url-encoded zone", "fe80::1%25eth0", M_IP, IP},
    {"ipv6 bracketed with port", "[2001:db8::1]:443", "[" M_IP "]:443", IP},
    {"ipv6 ipv4-mapped", "::ffff:192.0.2.1", M_IP, IP},
    {"ipv6 after a colon", "addr:2001:db8::1", "addr:" M_IP, IP},
    {"ipv6 trailing colon", "fe80::1: down", M_IP ": down", IP},
    {"ipv6 time not", "at 12:30:45", "at 12:30:45", 0},
    {"ipv6 mac not", "00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e", 0},
    {"ipv6 c++ scope not", "std::vector", "std::vector", 0},
    {"ipv6 bare double colon not", "a :: b", "a :: b", 0},
    {"ipv6 too many groups", "1:2:3:4:5:6:7:8:9a", "1:2:3:4:5:6:7:8:9a", 0},

    /* bearer and JWT */
    {"bearer header", "Authorization: Bearer abc.def-ghi~", "Authorization: Bearer " M_TOKEN,
     TOKEN},
    {"bearer lower case, blanks kept", "bearer   xyz==;", "bearer   " M_TOKEN ";", TOKEN},
    {"bearer upper case", "BEARER tok", "BEARER " M_TOKEN, TOKEN},
    {"bearer with jwt", "Bearer " JWT, "Bearer " M_TOKEN, TOKEN},
    {"bearer needs a blank", "Bearer:abc", "Bearer:abc", 0},
    {"bearer inside a word", "xbearer abc", "xbearer abc", 0},
    {"jwt alone", JWT, M_JWT, TOKEN},
    {"jwt in url query", "https://x/cb?id_token=" JWT "&state=1",
     "https://x/cb?id_token=" M_JWT "&state=1", TOKEN},
    {"jwt in url fragment", "https://x/cb#" JWT, "https://x/cb#" M_JWT, TOKEN},
    {"jwt unsigned", "t=eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "t=" M_JWT, TOKEN},
    {"jwt two segments not", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0", 0},
    {"jwt not eyJ", "abc.def.ghi", "abc.def.ghi", 0},

    /* mixtures, overlap, adjacency, UTF-8 */
    {"every kind", "bob@x.com 10.0.0.1 +14155550132 4111111111111111 Bearer t",
     M_EMAIL " " M_IP " " M_PHONE " " M_CARD " Bearer " M_TOKEN, EMAIL | IP | PHONE | CARD | TOKEN},
    {"phone inside email is email", "+14155550132@sms.example.com", M_EMAIL, EMAIL},
    {"ip and port adjacent to email", "bob@x.com:10.0.0.1", M_EMAIL ":" M_IP, EMAIL | IP},
    {"card then phone", "4111111111111111/415-555-0132", M_CARD "/" M_PHONE, CARD | PHONE},
    {"glued phones both go", "+14155550132+14155550132", M_PHONE M_PHONE, PHONE},
    {"ipv4, ipv6 and email in a row", "10.0.0.1 2001:db8::1 x@y.io", M_IP " " M_IP " " M_EMAIL,
     IP | EMAIL},
    {"utf8 around ip",
     "IP\xef\xbc\x9a"
     "10.0.0.1\xe3\x80\x82",
     "IP\xef\xbc\x9a" M_IP "\xe3\x80\x82", IP},
    {"utf8 around phone", "\xd0\xbd\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80 +14155550132 \xe2\x9c\x93",
     "\xd0\xbd\xd0\xbe\xd0\xbc\xd0\xb5\xd1\x80 " M_PHONE " \xe2\x9c\x93", PHONE},
    {"utf8 glued to email eaten",
     "\xe2\x86\x92"
     "bob@x.com\xe2\x86\x90",
     M_EMAIL "\xe2\x86\x90", EMAIL},
    {"utf8 only", "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd", "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd",
     0},
    {"markers are left alone", "[REDACTED:email] Bearer [REDACTED:token] [REDACTED:jwt]",
     "[REDACTED:email] Bearer [REDACTED:token] [REDACTED:jwt]", 0},
    {"empty", "", "", 0},
};

static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			need = 1;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			need = 2;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			need = 3;
		else
			return false;
		if (n - i <= need)
			return false;
		for (k = 1; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

/* Redacts in and checks the result and the found bits. */
static void
expect_text(const char *name, const char *in, size_t len, const char *want, unsigned want_found)
{
	char *out = NULL;
	size_t out_len = 0;
	unsigned found = 0xdead;
	int rc = jg_redact_text(in, len, &out, &out_len, &found);

	if (rc != 0)
		fail_msg("%s: rc=%d", name, rc);
	assert_non_null(out);
	if (out_len != strlen(want) || memcmp(out, want, out_len) != 0)
		fail_msg("%s:\n   in: %.*s\n  got: %s\n want: %s", name, (int)len, in, out, want);
	assert_int_equal(out[out_len], '\0');
	if (found != want_found)
		fail_msg("%s: found %#x, want %#x", name, found, want_found);
	if (utf8_valid((const unsigned char *)in, len) &&
	    !utf8_valid((const unsigned char *)out, out_len))
		fail_msg("%s: output is not valid UTF-8", name);
	free(out);
}

static void
test_redact_text_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(text_cases) / sizeof(text_cases[0]); k++) {
		const struct text_case *c = &text_cases[k];
		expect_text(c->name, c->in, strlen(c->in), c->want, c->found);
	}
}

/* Redacted text redacts to itself: markers never match, nor does what they free up. */
static void
test_redact_text_idempotent(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(text_cases) / sizeof(text_cases[0]); k++) {
		const struct text_case *c = &text_cases[k];
		expect_text(c->name, c->want, strlen(c->want), c->want, 0);
	}
}

static void
test_redact_text_empty_and_null(void **state)
{
	char *out = (char *)"sentinel";
	size_t len = 99;
	unsigned found = 99;

	(void)state;
	assert_int_equal(jg_redact_text(NULL, 0, &out, &len, &found), 0);
	assert_non_null(out);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	assert_int_equal(found, 0);
	free(out);

	out = (char *)"sentinel";
	assert_int_equal(jg_redact_text(NULL, 1, &out, &len, &found), JG_EINVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(found, 0);

	/* found may be NULL */
	assert_int_equal(jg_redact_text("bob@x.com", 9, &out, &len, NULL), 0);
	assert_string_equal(out, M_EMAIL);
	free(out);
}

static void
test_redact_text_nul_bytes(void **state)
{
	static const char in[] = "a\0bob@x.com\0"
				 "4111111111111111\0z";
	static const char want[] = "a\0" M_EMAIL "\0" M_CARD "\0z";

	(void)state;
	char *out = NULL;
	size_t len = 0;
	unsigned found = 0;
	assert_int_equal(jg_redact_text(in, sizeof(in) - 1, &out, &len, &found), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(out, want, len);
	assert_int_equal(found, EMAIL | CARD);
	free(out);
}

/* Fills n bytes with copies of unit. */
static char *
repeat(const char *unit, size_t n)
{
	size_t u = strlen(unit);
	char *b = malloc(n + 1);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = unit[i % u];
	b[n] = '\0';
	return b;
}

static size_t
count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *p = hay, *end = hay + len;

	while ((p = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
		n++;
		p += nl;
	}
	return n;
}

static void
test_redact_text_cap(void **state)
{
	/* 100 bytes a line, 10485 lines and 76 bytes of padding: exactly 1 MiB */
	static const char line[] = "user bob@example.com from 10.1.2.3 paid 4111 1111 1111 1111 at "
				   "+14155550132 ok \xc3\xa9\xc3\xa9\xc3\xa9..............\n";
	char *in, *out = NULL;
	size_t len = 0;
	unsigned found = 0;

	(void)state;
	assert_int_equal(strlen(line), 100);
	in = repeat(line, JG_REDACT_MAX_TEXT);
	memset(in + JG_REDACT_MAX_TEXT - 76, 'x', 76);
	assert_int_equal(jg_redact_text(in, JG_REDACT_MAX_TEXT, &out, &len, &found), 0);
	assert_int_equal(found, EMAIL | IP | CARD | PHONE);
	assert_int_equal(count(out, len, M_EMAIL), JG_REDACT_MAX_TEXT / 100);
	assert_int_equal(count(out, len, M_IP), JG_REDACT_MAX_TEXT / 100);
	assert_int_equal(count(out, len, M_CARD), JG_REDACT_MAX_TEXT / 100);
	assert_int_equal(count(out, len, M_PHONE), JG_REDACT_MAX_TEXT / 100);
	assert_int_equal(count(out, len, "@"), 0);
	free(out);

	out = (char *)"sentinel";
	found = 7;
	assert_int_equal(jg_redact_text(in, JG_REDACT_MAX_TEXT + 1, &out, &len, &found),
			 JG_ETOOBIG);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(found, 0);
	free(in);
}

/*
 * Inputs at the cap built to make a backtracking matcher quadratic: long
 * runs every scanner starts on and gives up on late.  They must finish
 * (the suite has no timer; the scan is linear by construction) and give the
 * expected answer.
 */
static void
test_redact_text_adversarial(void **state)
{
	static const struct {
		const char *unit;
		unsigned found;
	} cases[] = {
	    {"a", 0},		{"a.", 0},    {"1", 0},	   {"1.", 0},	{"1-", 0},
	    {"0 ", 0},		{"+1 ", 0},   {"a%40", 0}, {"a@a.", 0}, {"eyJa.", TOKEN},
	    {"Bearer ", TOKEN}, {"::1 ", IP}, {"ab:", 0},  {"(1", 0},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *in = repeat(cases[k].unit, JG_REDACT_MAX_TEXT), *out = NULL;
		size_t len = 0;
		unsigned found = 0;
		assert_int_equal(jg_redact_text(in, JG_REDACT_MAX_TEXT, &out, &len, &found), 0);
		if (found != cases[k].found)
			fail_msg("\"%s\"...: found %#x, want %#x", cases[k].unit, found,
				 cases[k].found);
		if (found == 0)
			assert_memory_equal(out, in, JG_REDACT_MAX_TEXT);
		free(out);
		free(in);
	}
}

static void
test_redact_luhn(void **state)
{
	static const struct {
		const char *digits;
		bool valid;
	} cases[] = {
	    {"4111111111111111", true},	    {"4111111111111112", false}, {"5500000000000004", true},
	    {"378282246310005", true},	    {"6011111111111117", true},	 {"4222222222222", true},
	    {"6304000000000000018", true},  {"79927398713", true},	 {"79927398710", false},
	    {"1234567812345670", true},	    {"1234567812345678", false}, {"0", true},
	    {"4111 1111 1111 1111", false}, {"4111-1111", false},	 {"", false},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		if (jg_redact_luhn(cases[k].digits, strlen(cases[k].digits)) != cases[k].valid)
			fail_msg("luhn(%s) != %d", cases[k].digits, cases[k].valid);
	assert_false(jg_redact_luhn(NULL, 0));
	/* n bounds what is read */
	assert_true(jg_redact_luhn("4111111111111111xyz", 16));
}

/* ---- JSON ---- */

static const char *const fields[] = {"password", "ssn", "card_number", "email"};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Parses in, redacts it, compares its canonical dump with want. */
static void
expect_json(const char *in, const char *want, unsigned want_found)
{
	json_error_t jerr;
	json_t *v = json_loads(in, JSON_DECODE_ANY, &jerr);
	unsigned found = 0xdead;
	char *got;

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", in, jerr.text);
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), 0);
	got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("\n   in: %s\n  got: %s\n want: %s", in, got, want);
	if (found != want_found)
		fail_msg("%s: found %#x, want %#x", in, found, want_found);
	free(got);
	json_decref(v);
}

static void
test_redact_json_strings_and_numbers(void **state)
{
	(void)state;
	expect_json("{\"msg\":\"contact bob@example.com\",\"n\":42}",
		    "{\"msg\":\"contact " M_EMAIL "\",\"n\":42}", EMAIL);
	expect_json(
	    "{\"pan\":4111111111111111,\"neg\":-4111111111111111,\"order\":1234567812345678,"
	    "\"ts\":1700000000123,\"big\":4000000000000000006,\"pi\":3.14}",
	    "{\"big\":\"" M_CARD "\",\"neg\":\"" M_CARD "\",\"order\":1234567812345678,"
	    "\"pan\":\"" M_CARD "\",\"pi\":3.1400000000000001,\"ts\":1700000000123}",
	    CARD);
	/* a card number written as a real is a card number: its integral value's digits */
	expect_json(
	    "{\"r\":4111111111111111.0,\"e\":4.111111111111111e15,\"half\":4111111111111111.5,"
	    "\"t\":1700000000123.0}",
	    "{\"e\":\"" M_CARD "\",\"half\":4111111111111111.5,\"r\":\"" M_CARD
	    "\",\"t\":1700000000123.0}",
	    CARD);
	expect_json("{\"ok\":true,\"none\":null,\"s\":\"nothing here\"}",
		    "{\"none\":null,\"ok\":true,\"s\":\"nothing here\"}", 0);
	expect_json("{}", "{}", 0);
	expect_json("[]", "[]", 0);
}

static void
test_redact_json_nested(void **state)
{
	(void)state;
	expect_json("{\"event\":{\"args\":[\"10.0.0.1\",[\"x\",{\"to\":\"+14155550132\"}],"
		    "4111111111111111],\"hdr\":{\"Authorization\":\"Bearer abc\"}},"
		    "\"spans\":[{\"attrs\":{\"peer\":\"2001:db8::1\",\"url\":\"/cb?t=" JWT "\"}}]}",
		    "{\"event\":{\"args\":[\"" M_IP "\",[\"x\",{\"to\":\"" M_PHONE "\"}],\"" M_CARD
		    "\"],\"hdr\":{\"Authorization\":\"Bearer " M_TOKEN "\"}},"
		    "\"spans\":[{\"attrs\":{\"peer\":\"" M_IP "\",\"url\":\"/cb?t=" M_JWT "\"}}]}",
		    IP | PHONE | CARD | TOKEN);
}

static void
test_redact_json_sensitive_fields(void **state)
{
	(void)state;
	/* any case, any type, not walked further */
	expect_json("{\"PassWord\":\"hunter2\",\"SSN\":78051120,\"Card_Number\":{\"pan\":\"x\"},"
		    "\"email\":[\"a\",\"b\"],\"user\":{\"EMAIL\":null,\"name\":\"Bob\"}}",
		    "{\"Card_Number\":\"[REDACTED:field]\",\"PassWord\":\"[REDACTED:field]\","
		    "\"SSN\":\"[REDACTED:field]\",\"email\":\"[REDACTED:field]\","
		    "\"user\":{\"EMAIL\":\"[REDACTED:field]\",\"name\":\"Bob\"}}",
		    FIELD);
	/* whole-key match only: neighbours are redacted by content alone */
	expect_json("{\"user_password\":\"hunter2\",\"emails\":[\"bob@x.com\"],\"card-number\":"
		    "\"4111 1111 1111 1111\"}",
		    "{\"card-number\":\"" M_CARD "\",\"emails\":[\"" M_EMAIL "\"],"
		    "\"user_password\":\"hunter2\"}",
		    CARD | EMAIL);
	/* inside arrays of objects */
	expect_json("[{\"password\":1},[{\"ssn\":\"078-05-1120\",\"ip\":\"10.0.0.1\"}]]",
		    "[{\"password\":\"[REDACTED:field]\"},[{\"ip\":\"" M_IP "\",\"ssn\":"
		    "\"[REDACTED:field]\"}]]",
		    FIELD | IP);
}

static void
test_redact_json_no_fields(void **state)
{
	json_t *v = json_pack("{s:s,s:s}", "password", "hunter2", "to", "bob@x.com");
	unsigned found = 0;

	(void)state;
	assert_int_equal(jg_redact_json(v, NULL, 0, &found), 0);
	assert_string_equal(json_string_value(json_object_get(v, "password")), "hunter2");
	assert_string_equal(json_string_value(json_object_get(v, "to")), M_EMAIL);
	assert_int_equal(found, EMAIL);
	assert_int_equal(jg_redact_json(v, NULL, 1, &found), JG_EINVAL);
	assert_int_equal(jg_redact_json(NULL, fields, NFIELDS, &found), JG_EINVAL);
	/* NULL entries are skipped; found may be NULL */
	const char *const some[] = {NULL, "PASSWORD"};
	assert_int_equal(jg_redact_json(v, some, 2, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(v, "password")), "[REDACTED:field]");
	json_decref(v);
}

static void
test_redact_json_top_level(void **state)
{
	json_t *v;
	unsigned found = 0;

	(void)state;
	v = json_string("peer 10.0.0.1");
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), 0);
	assert_string_equal(json_string_value(v), "peer " M_IP);
	assert_int_equal(found, IP);
	json_decref(v);

	v = json_integer(42);
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), 0);
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);

	/* a bare card number cannot become a string in place: refused */
	v = json_integer(4111111111111111LL);
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), JG_EINVAL);
	assert_int_equal(found, 0);
	json_decref(v);
}

/* depth arrays, each inside the last, with a string at the bottom. */
static json_t *
nest(int depth)
{
	json_t *v = json_string("bob@x.com");
	for (int k = 0; k < depth; k++) {
		json_t *a = json_array();
		assert_non_null(a);
		assert_int_equal(json_array_append_new(a, v), 0);
		v = a;
	}
	return v;
}

static void
test_redact_json_depth(void **state)
{
	json_t *v, *leaf;
	unsigned found = 0;

	(void)state;
	v = nest(JG_REDACT_MAX_DEPTH);
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), 0);
	assert_int_equal(found, EMAIL);
	leaf = v;
	while (json_is_array(leaf))
		leaf = json_array_get(leaf, 0);
	assert_string_equal(json_string_value(leaf), M_EMAIL);
	json_decref(v);

	v = nest(JG_REDACT_MAX_DEPTH + 1);
	found = 7;
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), JG_ETOOBIG);
	assert_int_equal(found, 0);
	json_decref(v);

	/* objects count too */
	v = json_string("x");
	for (int k = 0; k <= JG_REDACT_MAX_DEPTH; k++) {
		json_t *o = json_object();
		assert_int_equal(json_object_set_new(o, "k", v), 0);
		v = o;
	}
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), JG_ETOOBIG);
	json_decref(v);
}

static void
test_redact_json_string_too_big(void **state)
{
	char *big = repeat("a", JG_REDACT_MAX_TEXT + 1);
	json_t *v = json_pack("{s:s}", "blob", big);
	unsigned found = 0;

	(void)state;
	assert_non_null(v);
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), JG_ETOOBIG);
	json_decref(v);
	free(big);
}

/* A string value with NUL bytes keeps them and its length. */
static void
test_redact_json_string_with_nul(void **state)
{
	static const char s[] = "a\0bob@x.com";
	static const char want[] = "a\0" M_EMAIL;
	json_t *v = json_object();
	unsigned found = 0;

	(void)state;
	assert_int_equal(json_object_set_new(v, "s", json_stringn(s, sizeof(s) - 1)), 0);
	assert_int_equal(jg_redact_json(v, fields, NFIELDS, &found), 0);
	json_t *got = json_object_get(v, "s");
	assert_int_equal(json_string_length(got), sizeof(want) - 1);
	assert_memory_equal(json_string_value(got), want, sizeof(want) - 1);
	assert_int_equal(found, EMAIL);
	json_decref(v);
}

/* jg_redact_text_cb: each match's kind and bytes, the callback's text in its place. */
struct seen {
	char log[512];
	int fail_at; /* the call that fails, 0: none */
	int calls;
};

static int
record_match(void *ctx, const char *kind, const char *match, size_t len, char *out, size_t outsz)
{
	struct seen *s = ctx;
	size_t used = strlen(s->log);

	snprintf(s->log + used, sizeof(s->log) - used, "%s=%.*s;", kind, (int)len, match);
	if (++s->calls == s->fail_at)
		return JG_ECRYPTO;
	snprintf(out, outsz, "<%s>", kind);
	return 0;
}

static void
test_redact_text_cb(void **state)
{
	(void)state;
	const char *in = "to bob@example.com, Bearer abc.def; card 4111 1111 1111 1111; " JWT;
	struct seen s = {.fail_at = 0};
	char *out = NULL;
	size_t len = 0;
	unsigned found = 0;

	assert_int_equal(jg_redact_text_cb(in, strlen(in), record_match, &s, &out, &len, &found),
			 0);
	assert_string_equal(out, "to <email>, Bearer <token>; card <card>; <jwt>");
	assert_int_equal(len, strlen(out));
	assert_int_equal(found, EMAIL | TOKEN | CARD);
	assert_string_equal(s.log, "email=bob@example.com;token=abc.def;card=4111 1111 1111 1111;"
				   "jwt=" JWT ";");
	free(out);

	/* the callback's failure is the call's: nothing is returned */
	s = (struct seen){.fail_at = 2};
	assert_int_equal(jg_redact_text_cb(in, strlen(in), record_match, &s, &out, &len, &found),
			 JG_ECRYPTO);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(found, 0);
	/* no callback: the fixed markers */
	assert_int_equal(jg_redact_text_cb("bob@example.com", 15, NULL, NULL, &out, &len, &found),
			 0);
	assert_string_equal(out, M_EMAIL);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redact_text_table),
	    cmocka_unit_test(test_redact_text_idempotent),
	    cmocka_unit_test(test_redact_text_empty_and_null),
	    cmocka_unit_test(test_redact_text_nul_bytes),
	    cmocka_unit_test(test_redact_text_cap),
	    cmocka_unit_test(test_redact_text_cb),
	    cmocka_unit_test(test_redact_text_adversarial),
	    cmocka_unit_test(test_redact_luhn),
	    cmocka_unit_test(test_redact_json_strings_and_numbers),
	    cmocka_unit_test(test_redact_json_nested),
	    cmocka_unit_test(test_redact_json_sensitive_fields),
	    cmocka_unit_test(test_redact_json_no_fields),
	    cmocka_unit_test(test_redact_json_top_level),
	    cmocka_unit_test(test_redact_json_depth),
	    cmocka_unit_test(test_redact_json_string_too_big),
	    cmocka_unit_test(test_redact_json_string_with_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
