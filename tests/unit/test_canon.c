/*
 * test_canon.c - canonical JSON is exactly one byte string per document.
 *
 * jg_canon_encode must write sorted keys, no whitespace and jansson's exact
 * escapes (\b \t \n \f \r, other control characters as upper-case \u00XX,
 * '"' and '\\' escaped; '/', 0x7F and non-ASCII UTF-8 written raw), and
 * refuse what the format forbids (reals, non-ASCII keys, NUL).  Every
 * golden string it writes must pass jg_canon_check, and every other
 * spelling of the same document - another key order, whitespace, another
 * escape, a real or -0, a duplicate key, a non-ASCII key, \u0000 - must be
 * refused with JG_EPARSE and a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/canon.h"
#include "jitgate/error.h"

/* Encodes v (stolen), compares with want and checks that want is canonical. */
static void
expect_encoding(json_t *v, const char *want)
{
	char *out = NULL, why[256] = "";
	size_t len = 0;

	assert_non_null(v);
	assert_int_equal(jg_canon_encode(v, &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	assert_int_equal(out[len], '\0');
	if (jg_canon_check(out, len, NULL, why, sizeof(why)) != 0)
		fail_msg("encoder output %s not canonical: %s", out, why);
	free(out);
	json_decref(v);
}

static void
expect_encode_refused(json_t *v)
{
	char *out = (char *)"sentinel";
	size_t len = 99;

	assert_non_null(v);
	assert_int_equal(jg_canon_encode(v, &out, &len), JG_EINVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	json_decref(v);
}

static void
expect_canonical(const char *text)
{
	char why[256] = "";
	json_t *doc = NULL;
	if (jg_canon_check(text, strlen(text), &doc, why, sizeof(why)) != 0)
		fail_msg("%s refused: %s", text, why);
	assert_non_null(doc);
	json_decref(doc);
}

/* text must be refused, and the reason must contain needle. */
static void
expect_refused(const char *text, size_t len, const char *needle)
{
	char why[256] = "";
	json_t *doc = (json_t *)1;
	int rc = jg_canon_check(text, len, &doc, why, sizeof(why));
	if (rc != JG_EPARSE || strstr(why, needle) == NULL)
		fail_msg("%.*s: expected JG_EPARSE with \"%s\", got rc=%d why=\"%s\"", (int)len,
			 text, needle, rc, why);
	assert_null(doc);
}

#define REFUSED(text, needle) expect_refused(text, sizeof(text) - 1, needle)

#define NOT_CANONICAL "not canonical: key order, whitespace, escapes or number form"

static void
test_canon_encode_sorted_compact(void **state)
{
	(void)state;
	/* Insertion order is not kept: keys are sorted bytewise (upper case first). */
	expect_encoding(json_pack("{s:i,s:i,s:i,s:[i,s,b,n],s:{s:i,s:i}}", "zeta", 1, "Zeta", 2,
				  "alpha", 3, "arr", -4, "x", 1, "obj", "b", 1, "a", 2),
			"{\"Zeta\":2,\"alpha\":3,\"arr\":[-4,\"x\",true,null],\"obj\":{\"a\":2,"
			"\"b\":1},\"zeta\":1}");
	expect_encoding(json_object(), "{}");
	expect_encoding(json_array(), "[]");
	expect_encoding(
	    json_pack("{s:I,s:I}", "max", (json_int_t)INT64_MAX, "min", (json_int_t)INT64_MIN),
	    "{\"max\":9223372036854775807,\"min\":-9223372036854775808}");
}

static void
test_canon_encode_escapes(void **state)
{
	(void)state;
	/* \b \t \n \f \r by name, the rest of 0x00-0x1F as \u00XX upper case. */
	expect_encoding(json_pack("{s:s}", "s", "\x01\b\t\n\x0b\f\r\x1f"),
			"{\"s\":\"\\u0001\\b\\t\\n\\u000B\\f\\r\\u001F\"}");
	/* '"' and '\\' escaped; '/', 0x7F and UTF-8 (2, 3 and 4 bytes) raw. */
	expect_encoding(json_pack("{s:s}", "s", "\"\\/\x7f\xc3\xa9\xe2\x80\xa8\xf0\x9f\x94\x91"),
			"{\"s\":\"\\\"\\\\/\x7f\xc3\xa9\xe2\x80\xa8\xf0\x9f\x94\x91\"}");
	/* Keys are escaped the same way. */
	expect_encoding(json_pack("{s:i}", "a\tb", 1), "{\"a\\tb\":1}");
}

static void
test_canon_encode_refuses_reals(void **state)
{
	(void)state;
	expect_encode_refused(json_pack("{s:f}", "x", 1.0));
	expect_encode_refused(json_pack("{s:[i,f]}", "x", 1, 1e3));
	expect_encode_refused(json_pack("{s:{s:{s:f}}}", "a", "b", "c", -0.0));
}

static void
test_canon_encode_refuses_non_ascii_keys(void **state)
{
	(void)state;
	expect_encode_refused(json_pack("{s:i}", "caf\xc3\xa9", 1));
	expect_encode_refused(json_pack("{s:{s:i}}", "ok", "\xe2\x80\x94", 1));
}

static void
test_canon_encode_refuses_nul(void **state)
{
	json_t *v;
	(void)state;

	/* jansson would write \u0000, which the check refuses: the encoder must refuse too. */
	v = json_object();
	json_object_set_new(v, "s", json_stringn("a\0b", 3));
	expect_encode_refused(v);
	v = json_object();
	json_object_setn_new(v, "a\0b", 3, json_integer(1));
	expect_encode_refused(v);
}

static void
test_canon_encode_refuses_deep_nesting(void **state)
{
	json_t *v = json_array();
	(void)state;

	for (int i = 0; i < 40; i++)
		v = json_pack("[o]", v);
	expect_encode_refused(v);
}

static void
test_canon_check_accepts_canonical(void **state)
{
	char why[64];
	json_t *doc = NULL;
	const char text[] = "{\"a\":[1,-2,0],\"b\":\"\\u001F/\x7f\xc3\xa9\",\"c\":{}}";
	(void)state;

	assert_int_equal(jg_canon_check(text, sizeof(text) - 1, &doc, why, sizeof(why)), 0);
	assert_true(json_is_object(doc));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(doc, "a"), 1)), -2);
	json_decref(doc);
	/* out may be NULL. */
	assert_int_equal(jg_canon_check(text, sizeof(text) - 1, NULL, why, sizeof(why)), 0);
	expect_canonical("[]");
	expect_canonical("{\"s\":\"\\b\\t\\n\\f\\r\\\"\\\\\"}");
	/* Only the first len bytes count. */
	assert_int_equal(jg_canon_check("{}garbage", 2, NULL, why, sizeof(why)), 0);
}

static void
test_canon_check_refuses_whitespace_and_key_order(void **state)
{
	(void)state;
	REFUSED("{\"b\":1,\"a\":2}", NOT_CANONICAL);
	REFUSED("{\"a\":1,\"B\":2}", NOT_CANONICAL); /* bytewise: 'B' < 'a' */
	REFUSED("{\"a\":{\"d\":1,\"c\":2}}", NOT_CANONICAL);
	REFUSED("{\"a\": 1}", NOT_CANONICAL);
	REFUSED("{ \"a\":1}", NOT_CANONICAL);
	REFUSED("{\"a\":1}\n", NOT_CANONICAL);
	REFUSED(" {\"a\":1}", NOT_CANONICAL);
	REFUSED("{\"a\":[1, 2]}", NOT_CANONICAL);
	REFUSED("{\r\n\"a\":1}", NOT_CANONICAL);
}

static void
test_canon_check_refuses_other_escapes(void **state)
{
	(void)state;
	REFUSED("{\"s\":\"\\u001f\"}", NOT_CANONICAL);	      /* lower-case hex */
	REFUSED("{\"s\":\"\\u0008\"}", NOT_CANONICAL);	      /* \b spelled as \u */
	REFUSED("{\"s\":\"\\u000a\"}", NOT_CANONICAL);	      /* \n spelled as \u */
	REFUSED("{\"s\":\"\\/\"}", NOT_CANONICAL);	      /* '/' escaped */
	REFUSED("{\"s\":\"\\u007F\"}", NOT_CANONICAL);	      /* 0x7F escaped */
	REFUSED("{\"s\":\"\\u00e9\"}", NOT_CANONICAL);	      /* non-ASCII escaped */
	REFUSED("{\"s\":\"\\u0041\"}", NOT_CANONICAL);	      /* 'A' escaped */
	REFUSED("{\"s\":\"\\ud83d\\udd11\"}", NOT_CANONICAL); /* surrogate pair */
	REFUSED("{\"\\u0061\":1}", NOT_CANONICAL);	      /* escaped key */
	/* A raw control character is not JSON at all. */
	REFUSED("{\"s\":\"\x01\"}", "not JSON");
}

static void
test_canon_check_refuses_reals_and_number_forms(void **state)
{
	(void)state;
	REFUSED("{\"x\":1.0}", "numbers must be integers");
	REFUSED("{\"x\":1e3}", "numbers must be integers");
	REFUSED("{\"x\":1E3}", "numbers must be integers");
	REFUSED("{\"x\":[0.5]}", "numbers must be integers");
	REFUSED("{\"x\":-0.0}", "numbers must be integers");
	/* -0 parses as the integer 0, which is written "0". */
	REFUSED("{\"x\":-0}", NOT_CANONICAL);
	REFUSED("{\"x\":01}", "not JSON");
	REFUSED("{\"x\":+1}", "not JSON");
	REFUSED("{\"x\":9223372036854775808}", "not JSON");
}

static void
test_canon_check_refuses_duplicate_keys(void **state)
{
	(void)state;
	REFUSED("{\"a\":1,\"a\":1}", "duplicate object key");
	REFUSED("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}", "duplicate object key");
}

static void
test_canon_check_refuses_non_ascii_keys(void **state)
{
	(void)state;
	REFUSED("{\"caf\xc3\xa9\":1}", "object keys must be ASCII");
	REFUSED("{\"a\":{\"\xe2\x80\x94\":1}}", "object keys must be ASCII");
	REFUSED("{\"a\":[{\"\xc3\xa9\":1}]}", "object keys must be ASCII");
}

static void
test_canon_check_refuses_nul(void **state)
{
	(void)state;
	REFUSED("{\"s\":\"\\u0000\"}", "not JSON");
	REFUSED("{\"\\u0000\":1}", "not JSON");
	/* A raw NUL inside the buffer. */
	REFUSED("{\"s\":\"a\0\"}", "not JSON");
}

static void
test_canon_check_refuses_non_json(void **state)
{
	(void)state;
	REFUSED("", "not JSON");
	REFUSED("1", "not JSON");
	REFUSED("\"s\"", "not JSON");
	REFUSED("{\"a\":1", "not JSON");
	REFUSED("{\"s\":\"\xc3\"}", "not JSON"); /* invalid UTF-8 */
	REFUSED("{\"a\":1}{}", "not JSON");
}

/* Raw bytes (a URL path segment) into an entry: valid text as is, the rest escaped, reversibly. */
static void
expect_escaped(const char *in, size_t max, const char *want)
{
	json_t *v = jg_canon_string_escaped(in, max);
	assert_non_null(v);
	assert_string_equal(json_string_value(v), want);
	/* and it is an entry's string: it encodes canonically */
	json_t *doc = json_pack("{s:O}", "s", v);
	char *out = NULL;
	size_t len;
	assert_int_equal(jg_canon_encode(doc, &out, &len), 0);
	free(out);
	json_decref(doc);
	json_decref(v);
}

static void
test_utf8_valid(void **state)
{
	(void)state;
	assert_true(jg_utf8_valid("", 0));
	assert_true(jg_utf8_valid("plain ascii", 11));
	assert_true(jg_utf8_valid("Zo\xc3\xab \xf0\x9f\x98\x80", 9));
	assert_true(jg_utf8_valid("a\0b", 3)); /* NUL is text here; callers cap lengths */
	assert_false(jg_utf8_valid("bad\xff", 4));
	assert_false(jg_utf8_valid("\xc0\x80", 2));	    /* overlong NUL */
	assert_false(jg_utf8_valid("\xed\xa0\x80", 3));	    /* a surrogate */
	assert_false(jg_utf8_valid("caf\xc3", 4));	    /* cut */
	assert_false(jg_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
}

static void
test_canon_string_escaped(void **state)
{
	(void)state;
	expect_escaped("payment-gateway", 256, "payment-gateway");
	expect_escaped("caf\xc3\xa9 \xf0\x9f\x98\x80", 256, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	expect_escaped("\xff", 256, "\\xFF");
	expect_escaped("a\xff"
		       "b\xc3",
		       256, "a\\xFFb\\xC3");
	/* overlong, surrogate, beyond U+10FFFF: each byte escaped */
	expect_escaped("\xc0\xaf", 256, "\\xC0\\xAF");
	expect_escaped("\xed\xa0\x80", 256, "\\xED\\xA0\\x80");
	expect_escaped("\xf4\x90\x80\x80", 256, "\\xF4\\x90\\x80\\x80");
	/* a backslash is doubled: "\\xFF" typed as text is not the byte 0xFF */
	expect_escaped("\\xFF", 256, "\\\\xFF");
	/* cut at max bytes; a character cut there shows as its bytes */
	expect_escaped("abcdef", 3, "abc");
	expect_escaped("ab\xc3\xa9", 3, "ab\\xC3");
	expect_escaped("", 256, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canon_encode_sorted_compact),
	    cmocka_unit_test(test_canon_encode_escapes),
	    cmocka_unit_test(test_canon_encode_refuses_reals),
	    cmocka_unit_test(test_canon_encode_refuses_non_ascii_keys),
	    cmocka_unit_test(test_canon_encode_refuses_nul),
	    cmocka_unit_test(test_canon_encode_refuses_deep_nesting),
	    cmocka_unit_test(test_canon_check_accepts_canonical),
	    cmocka_unit_test(test_canon_check_refuses_whitespace_and_key_order),
	    cmocka_unit_test(test_canon_check_refuses_other_escapes),
	    cmocka_unit_test(test_canon_check_refuses_reals_and_number_forms),
	    cmocka_unit_test(test_canon_check_refuses_duplicate_keys),
	    cmocka_unit_test(test_canon_check_refuses_non_ascii_keys),
	    cmocka_unit_test(test_canon_check_refuses_nul),
	    cmocka_unit_test(test_canon_check_refuses_non_json),
	    cmocka_unit_test(test_canon_string_escaped),
	    cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
