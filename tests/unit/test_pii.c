/*
 * test_pii.c - keyed markers for the audit log and sensitive conditions.
 *
 * Golden vectors: the key is the 32 bytes 00 01 .. 1f; every expected kid
 * and mac was computed outside jitgate with
 *   printf %s VALUE | openssl dgst -sha256 -mac HMAC \
 *     -macopt hexkey:000102...1f -binary | head -c 16 | base64 | tr '+/' '-_' | tr -d =
 * (head -c 6 and the input "jitgate pii key id" for the kid).  Then: the
 * text pass keeps what redaction keeps and marks what it replaces (the
 * bearer word stays, the token alone is hashed), NULL keys give the plain
 * markers, the JSON walk leaves keyed markers as they are but scans
 * look-alikes, a key loaded from a
 * key directory marks like the same bytes given raw, the rotated ring
 * marks with the newest key, and the condition rules of pii.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/pii.h"
#include "jitgate/redact.h"
#include "unit_fs.h"

#define KID "W6phxtSz"

static const unsigned char key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
				      11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
				      22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static struct jg_pii_keys *
ring(void)
{
	struct jg_pii_keys *k = NULL;
	assert_int_equal(jg_pii_keys_from_raw(key, sizeof(key), &k), 0);
	assert_non_null(k);
	return k;
}

static void
test_pii_mark_golden(void **state)
{
	(void)state;
	struct jg_pii_keys *k = ring();
	char m[JG_PII_MARK_SIZE];
	static const struct {
		const char *kind, *value, *want;
	} cases[] = {
	    {"email", "alice@example.com", "[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]"},
	    {"card", "4111 1111 1111 1111", "[REDACTED:card:" KID ":jrMNkIXGrig-48XipOe_9w]"},
	    {"card", "4111111111111111", "[REDACTED:card:" KID ":BiIkEgE4KkWRL7IoKLP32w]"},
	    {"phone", "+44 20 7946 0958", "[REDACTED:phone:" KID ":1v39tJgJYzjCRgblj8cV1w]"},
	    {"field", "Alice Jones", "[REDACTED:field:" KID ":LtZXeivMLiISjLVmrmPkDg]"},
	    {"query", "", "[REDACTED:query:" KID ":04tCCW2A9F-Ca0Sp1WB95w]"},
	};

	assert_int_equal(jg_pii_keys_count(k), 1);
	assert_string_equal(jg_pii_kid(k, 0), KID);
	assert_null(jg_pii_kid(k, 1));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    jg_pii_mark(k, 0, cases[i].kind, cases[i].value, strlen(cases[i].value), m), 0);
		assert_string_equal(m, cases[i].want);
	}
	/* bad kinds and indexes are refused, nothing written */
	assert_int_equal(jg_pii_mark(k, 0, "Email", "x", 1, m), JG_EINVAL);
	assert_string_equal(m, "");
	assert_int_equal(jg_pii_mark(k, 0, "", "x", 1, m), JG_EINVAL);
	assert_int_equal(jg_pii_mark(k, 0, "a:b", "x", 1, m), JG_EINVAL);
	assert_int_equal(jg_pii_mark(k, 0, "abcdefghijklmnop", "x", 1, m), JG_EINVAL);
	assert_int_equal(jg_pii_mark(k, 1, "email", "x", 1, m), JG_EINVAL);
	assert_int_equal(jg_pii_mark(NULL, 0, "email", "x", 1, m), JG_EINVAL);
	assert_int_equal(jg_pii_keys_from_raw(key, 31, &(struct jg_pii_keys *){NULL}), JG_EINVAL);
	jg_pii_keys_free(k);
	jg_pii_keys_free(NULL);
}

static void
text(const struct jg_pii_keys *k, const char *in, const char *want, unsigned want_found)
{
	char *out = NULL;
	size_t len = 0;
	unsigned found = 0;

	assert_int_equal(jg_pii_text(k, in, strlen(in), &out, &len, &found), 0);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	assert_int_equal(found, want_found);
	free(out);
}

static void
test_pii_text(void **state)
{
	(void)state;
	struct jg_pii_keys *k = ring();

	text(k, "mail alice@example.com about 4111 1111 1111 1111 or +44 20 7946 0958.",
	     "mail [REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw] about [REDACTED:card:" KID
	     ":jrMNkIXGrig-48XipOe_9w] or [REDACTED:phone:" KID ":1v39tJgJYzjCRgblj8cV1w].",
	     JG_REDACT_EMAIL | JG_REDACT_CARD | JG_REDACT_PHONE);
	/* the bearer word stays; the token alone is the match */
	text(k, "sent Bearer abc.def today",
	     "sent Bearer [REDACTED:token:" KID ":7bTnQTYLwLOOeIOYyRAnQg] today", JG_REDACT_TOKEN);
	text(k, "nothing personal here", "nothing personal here", 0);
	text(k, "", "", 0);
	/* no keys: the plain markers a reader without read-pii sees */
	text(NULL, "mail alice@example.com", "mail [REDACTED:email]", JG_REDACT_EMAIL);
	text(NULL, "Bearer abc.def", "Bearer [REDACTED:token]", JG_REDACT_TOKEN);

	json_t *s = jg_pii_string(k, "call +44 20 7946 0958");
	assert_string_equal(json_string_value(s),
			    "call [REDACTED:phone:" KID ":1v39tJgJYzjCRgblj8cV1w]");
	json_decref(s);
	assert_null(jg_pii_string(k, NULL));
	jg_pii_keys_free(k);
}

static void
test_pii_json(void **state)
{
	(void)state;
	struct jg_pii_keys *k = ring();
	json_t *v = json_pack("{s:s,s:[s,I,{s:s}],s:s,s:i}", "reason", "for alice@example.com",
			      "list", "4111111111111111", (json_int_t)4111111111111111LL, "deep",
			      "alice@example.com", "kept",
			      "[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]", "n", 5);
	assert_int_equal(jg_pii_json(k, v), 0);
	char *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    dump, "{\"kept\":\"[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]\",\"list\":["
		  "\"[REDACTED:card:" KID ":BiIkEgE4KkWRL7IoKLP32w]\",4111111111111111,{\"deep\":"
		  "\"[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]\"}],\"n\":5,\"reason\":"
		  "\"for [REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]\"}");
	free(dump);
	json_decref(v);

	/* a look-alike marker is scanned like any text: its "mac" cannot hide a card number */
	json_t *fake = json_string("[REDACTED:card:AAAAAAAA:AAAAA-4111111111111111]");
	assert_int_equal(jg_pii_json(k, fake), 0);
	assert_string_equal(json_string_value(fake),
			    "[REDACTED:card:AAAAAAAA:AAAAA-[REDACTED:card:" KID
			    ":BiIkEgE4KkWRL7IoKLP32w]]");
	json_decref(fake);

	/* the depth cap */
	json_t *deep = json_string("alice@example.com");
	for (int i = 0; i < JG_REDACT_MAX_DEPTH + 1; i++)
		deep = json_pack("[o]", deep);
	assert_int_equal(jg_pii_json(k, deep), JG_ETOOBIG);
	json_decref(deep);
	assert_int_equal(jg_pii_json(k, NULL), JG_EINVAL);
	jg_pii_keys_free(k);
}

static void
test_pii_kind_of(void **state)
{
	(void)state;
	assert_string_equal(jg_pii_kind_of("alice@example.com", 17), "email");
	assert_string_equal(jg_pii_kind_of("4111 1111 1111 1111", 19), "card");
	assert_string_equal(jg_pii_kind_of("+44 20 7946 0958", 16), "phone");
	assert_string_equal(jg_pii_kind_of("10.1.2.3", 8), "ip");
	/* not one whole match */
	assert_string_equal(jg_pii_kind_of("Alice Jones", 11), "field");
	assert_string_equal(jg_pii_kind_of("to alice@example.com", 20), "field");
	assert_string_equal(jg_pii_kind_of("Bearer abc.def", 14), "field");
	assert_string_equal(jg_pii_kind_of("", 0), "field");
}

/* Raw input recorded whole: one marker of its kind, the one /v1/audit/hash gives for it. */
static void
test_pii_mark_whole(void **state)
{
	(void)state;
	struct jg_pii_keys *k = ring();
	json_t *m = jg_pii_mark_whole(k, "alice@example.com", 17);
	assert_string_equal(json_string_value(m),
			    "[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]");
	json_decref(m);
	m = jg_pii_mark_whole(k, "Alice Jones", 11);
	assert_string_equal(json_string_value(m),
			    "[REDACTED:field:" KID ":LtZXeivMLiISjLVmrmPkDg]");
	json_decref(m);
	m = jg_pii_mark_whole(NULL, "Alice Jones", 11);
	assert_string_equal(json_string_value(m), "[REDACTED:field]");
	json_decref(m);
	assert_null(jg_pii_mark_whole(k, NULL, 0));
	jg_pii_keys_free(k);
}

/* A key written by keys.c and loaded back marks like the same bytes given raw. */
static void
test_pii_keys_load_and_rotate(void **state)
{
	(void)state;
	char root[] = "/tmp/jg-pii-XXXXXX", dir[64], path[96], err[512] = "";
	struct jg_pii_keys *k = NULL;
	char m1[JG_PII_MARK_SIZE], m2[JG_PII_MARK_SIZE];

	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/keys", root);
	assert_int_equal(jg_pii_keys_load(dir, &k, err, sizeof(err)), JG_ENOTFOUND);
	assert_int_equal(jg_keys_generate_kind(dir, JG_KEY_PII, err, sizeof(err)), 0);
	/* the file is the PEM block of the 32 bytes: write our golden key over it */
	snprintf(path, sizeof(path), "%s/pii-0001.pem", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(
	    fputs("-----BEGIN JITGATE PII KEY-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
		  "-----END JITGATE PII KEY-----\n",
		  fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(jg_pii_keys_load(dir, &k, err, sizeof(err)), 0);
	assert_int_equal(jg_pii_keys_count(k), 1);
	assert_string_equal(jg_pii_kid(k, 0), KID);
	assert_int_equal(jg_pii_key_number(k, 0), 1);
	assert_int_equal(jg_pii_mark(k, 0, "email", "alice@example.com", 17, m1), 0);
	assert_string_equal(m1, "[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]");
	jg_pii_keys_free(k);

	/* rotation: the newest key marks, the old one stays at index 1 */
	assert_int_equal(jg_keys_rotate(dir, JG_KEY_PII, NULL, err, sizeof(err)), 0);
	assert_int_equal(jg_pii_keys_load(dir, &k, err, sizeof(err)), 0);
	assert_int_equal(jg_pii_keys_count(k), 2);
	assert_int_equal(jg_pii_key_number(k, 0), 2);
	assert_string_equal(jg_pii_kid(k, 1), KID);
	assert_string_not_equal(jg_pii_kid(k, 0), KID);
	assert_int_equal(jg_pii_mark(k, 1, "email", "alice@example.com", 17, m1), 0);
	assert_string_equal(m1, "[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]");
	assert_int_equal(jg_pii_mark(k, 0, "email", "alice@example.com", 17, m2), 0);
	assert_string_not_equal(m1, m2);
	char *out = NULL;
	size_t len;
	assert_int_equal(jg_pii_text(k, "alice@example.com", 17, &out, &len, NULL), 0);
	assert_string_equal(out, m2);
	free(out);
	jg_pii_keys_free(k);

	/* a block of the wrong size, or under another label, is no pii key */
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(
	    fputs("-----BEGIN JITGATE PII KEY-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n"
		  "-----END JITGATE PII KEY-----\n",
		  fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(jg_pii_keys_load(dir, &k, err, sizeof(err)), JG_EPARSE);
	assert_non_null(strstr(err, "not a 32-byte pii key"));
	unit_rm_tree(root);
}

static void
test_pii_field_sensitive(void **state)
{
	(void)state;
	char *configured[] = {"loyalty_no", "Secret-Thing", NULL};
	static const char *const yes[] = {
	    "customer.email", "email", "customerEmail", "CustomerEmail", "billing_address",
	    "IPAddress", "client_ip", "user.first_name", "card", "cardNumber", "items.0.pan",
	    "e-mail", "address2", "customer.Name", "ssn", "auth.token", "loyalty_no",
	    "a.LOYALTY_NO.b", "secret-thing", "dob", "remote_addr", "ipv6",
	    /* plurals: a trailing "s", or "es" after s, x, z, ch or sh */
	    "customer.emails", "customer.phones", "customer.addresses", "user.names", "order.cards",
	    "billing.Addresses", "cust.ssns", "user.passwords", "customer.surnames",
	    "customer.DOBs", "customerIPs", "SSNsList", "fax.faxes", "home_addresses2", "cookies",
	    "tokens_used2x"};
	static const char *const no[] = {
	    "amount", "currency", "items.0.sku", "customeremail", "cardinality", "span_id",
	    "shipping", "loyalty_number", "company", "description", "request.country", "f0",
	    "items_used2x",
	    /* an "s" that is no plural of a name, and "es" after other letters */
	    "class", "status", "bus", "process", "success", "IPsec", "pines", "panes", "lates"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!jg_pii_field_sensitive(yes[i], configured))
			fail_msg("%s should be sensitive", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (jg_pii_field_sensitive(no[i], configured))
			fail_msg("%s should not be sensitive", no[i]);
	assert_false(jg_pii_field_sensitive("loyalty_no", NULL));
	assert_false(jg_pii_field_sensitive(NULL, configured));
}

/*
 * Numbers as a probe's agent compares them: as doubles.  A number is a
 * card when some integer of its double is one - whether written as an
 * integer, a real or with an exponent.
 */
static void
test_pii_numbers_that_could_be_cards(void **state)
{
	(void)state;
	struct {
		json_t *v;
		bool card;
	} cases[] = {
	    {json_real(4111111111111111.0), true}, /* a card written as a real */
	    {json_real(4.111111111111111e15), true},
	    {json_real(-4111111111111111.0), true},
	    {json_real(4111111111111111.5), false}, /* no integer has this double */
	    {json_real(1700000000123.0), false},
	    {json_real(3.14), false},
	    {json_real(1e19), false}, /* 20 digits */
	    /* not Luhn, but the same double as the card 4532015112830366120 */
	    {json_integer(4532015112830365953LL), true},
	    /* the same double as 9007199254741055, a card; 9007199254740994's has none */
	    {json_integer(9007199254741056LL), true},
	    {json_real(9007199254741056.0), true},
	    {json_integer(9007199254740994LL), false},
	    {json_integer(1234567812345678LL), false},
	    {json_integer(4111111111111111LL), true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(cases[i].v);
		if (jg_pii_value_sensitive(cases[i].v) != cases[i].card)
			fail_msg("case %zu (%.17g): want %s", i, json_number_value(cases[i].v),
				 cases[i].card ? "a card" : "no card");
		json_decref(cases[i].v);
	}

	/* marked over the digits redaction would match: the integer's marker */
	struct jg_pii_keys *k = ring();
	json_t *conds =
	    json_pack("[{s:s,s:s,s:f},{s:s,s:s,s:f}]", "field", "ref", "op", "eq", "value",
		      4111111111111111.0, "field", "amount", "op", "gt", "value", 12.5);
	assert_ptr_equal(jg_pii_conditions_sensitive(conds, NULL), json_array_get(conds, 0));
	assert_int_equal(jg_pii_conditions(k, conds, NULL), 0);
	char *keyed = json_dumps(conds, JSON_COMPACT);
	assert_string_equal(keyed,
			    "[{\"field\":\"ref\",\"op\":\"eq\",\"value\":\"[REDACTED:card:" KID
			    ":BiIkEgE4KkWRL7IoKLP32w]\"},{\"field\":\"amount\",\"op\":\"gt\","
			    "\"value\":12.5}]");
	free(keyed);
	json_decref(conds);
	jg_pii_keys_free(k);
}

static void
test_pii_conditions(void **state)
{
	(void)state;
	struct jg_pii_keys *k = ring();
	char *configured[] = {"loyalty_no", NULL};
	json_t *conds = json_pack(
	    "[{s:s,s:s,s:i},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:I},{s:s,s:s,s:i}]",
	    "field", "amount", "op", "gt", "value", 1000, "field", "currency", "op", "eq", "value",
	    "EUR", "field", "customer.name", "op", "eq", "value", "Alice Jones", "field", "note",
	    "op", "contains", "value", "alice@example.com", "field", "ref", "op", "eq", "value",
	    (json_int_t)4111111111111111LL, "field", "loyalty_no", "op", "eq", "value", 77);

	/* what a token without read-pii may deploy: the first two only */
	json_t *two = json_pack("[O,O]", json_array_get(conds, 0), json_array_get(conds, 1));
	assert_null(jg_pii_conditions_sensitive(two, configured));
	json_decref(two);
	for (size_t i = 2; i < 6; i++) {
		json_t *one = json_pack("[O]", json_array_get(conds, i));
		assert_ptr_equal(jg_pii_conditions_sensitive(one, configured),
				 json_array_get(one, 0));
		json_decref(one);
	}
	assert_true(jg_pii_value_sensitive(json_object_get(json_array_get(conds, 4), "value")));
	assert_false(jg_pii_value_sensitive(json_object_get(json_array_get(conds, 0), "value")));

	json_t *plain = json_deep_copy(conds);
	assert_int_equal(jg_pii_conditions(k, conds, configured), 0);
	assert_int_equal(jg_pii_conditions(NULL, plain, configured), 0);
	char *keyed = json_dumps(conds, JSON_COMPACT), *shown = json_dumps(plain, JSON_COMPACT);
	assert_string_equal(
	    keyed,
	    "[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000},{\"field\":\"currency\",\"op\":"
	    "\"eq\",\"value\":\"EUR\"},{\"field\":\"customer.name\",\"op\":\"eq\",\"value\":"
	    "\"[REDACTED:field:" KID ":LtZXeivMLiISjLVmrmPkDg]\"},{\"field\":\"note\",\"op\":"
	    "\"contains\",\"value\":\"[REDACTED:email:" KID ":pZ_FeNTLRvqrHW6zSOfHSw]\"},{"
	    "\"field\":\"ref\",\"op\":\"eq\",\"value\":\"[REDACTED:card:" KID
	    ":BiIkEgE4KkWRL7IoKLP32w]\"},{\"field\":\"loyalty_no\",\"op\":\"eq\",\"value\":"
	    "\"[REDACTED:field:" KID ":tfYBnamGxWuFzByWniYSsA]\"}]");
	assert_string_equal(
	    shown,
	    "[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000},{\"field\":\"currency\",\"op\":"
	    "\"eq\",\"value\":\"EUR\"},{\"field\":\"customer.name\",\"op\":\"eq\",\"value\":"
	    "\"[REDACTED:field]\"},{\"field\":\"note\",\"op\":\"contains\",\"value\":"
	    "\"[REDACTED:email]\"},{\"field\":\"ref\",\"op\":\"eq\",\"value\":\"[REDACTED:card]"
	    "\"},{\"field\":\"loyalty_no\",\"op\":\"eq\",\"value\":\"[REDACTED:field]\"}]");
	free(keyed);
	free(shown);
	json_decref(conds);
	json_decref(plain);
	jg_pii_keys_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pii_mark_golden),
	    cmocka_unit_test(test_pii_text),
	    cmocka_unit_test(test_pii_json),
	    cmocka_unit_test(test_pii_kind_of),
	    cmocka_unit_test(test_pii_mark_whole),
	    cmocka_unit_test(test_pii_keys_load_and_rotate),
	    cmocka_unit_test(test_pii_field_sensitive),
	    cmocka_unit_test(test_pii_conditions),
	    cmocka_unit_test(test_pii_numbers_that_could_be_cards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
