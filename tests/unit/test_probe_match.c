/*
 * test_probe_match.c - the reference agent's condition matcher
 * (jg_probe_match, docs/agents.md section 2).
 *
 * One table of (conditions, args, expected) covers every op on every JSON
 * kind (eq across numbers of both kinds, strings byte for byte, booleans,
 * never string vs number, never null or objects; gt/lt on numbers only;
 * contains on strings and arrays), missing and unresolvable fields, dotted
 * paths into objects and arrays, positional arguments, and AND over several
 * conditions.  Then the edge cases: no conditions, malformed conditions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate-agent.h"

static const char ARGS[] =
    "{\"amount\":1500,\"fee\":2.5,\"currency\":\"EUR\",\"customer_email\":\"jane@example.com\","
    "\"vip\":true,\"note\":null,\"tags\":[\"eu\",\"card\",3],\"empty\":\"\","
    "\"request\":{\"customer\":{\"country\":\"NL\"},\"items\":[{\"sku\":\"A-1\"},{\"sku\":\"B-2\"}]"
    "}}";

struct row {
	const char *conditions;
	int want;
};

static const struct row rows[] = {
    /* eq */
    {"[{\"field\":\"amount\",\"op\":\"eq\",\"value\":1500}]", 1},
    {"[{\"field\":\"amount\",\"op\":\"eq\",\"value\":1500.0}]", 1},
    {"[{\"field\":\"amount\",\"op\":\"eq\",\"value\":1501}]", 0},
    {"[{\"field\":\"amount\",\"op\":\"eq\",\"value\":\"1500\"}]", 0},
    {"[{\"field\":\"fee\",\"op\":\"eq\",\"value\":2.5}]", 1},
    {"[{\"field\":\"currency\",\"op\":\"eq\",\"value\":\"EUR\"}]", 1},
    {"[{\"field\":\"currency\",\"op\":\"eq\",\"value\":\"eur\"}]", 0},
    {"[{\"field\":\"currency\",\"op\":\"eq\",\"value\":\"EU\"}]", 0},
    {"[{\"field\":\"vip\",\"op\":\"eq\",\"value\":true}]", 1},
    {"[{\"field\":\"vip\",\"op\":\"eq\",\"value\":false}]", 0},
    {"[{\"field\":\"vip\",\"op\":\"eq\",\"value\":1}]", 0},
    {"[{\"field\":\"note\",\"op\":\"eq\",\"value\":null}]", 0},
    {"[{\"field\":\"request\",\"op\":\"eq\",\"value\":{}}]", 0},
    /* gt / lt */
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000}]", 1},
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1500}]", 0},
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1499.5}]", 1},
    {"[{\"field\":\"amount\",\"op\":\"lt\",\"value\":1500}]", 0},
    {"[{\"field\":\"amount\",\"op\":\"lt\",\"value\":1500.01}]", 1},
    {"[{\"field\":\"fee\",\"op\":\"lt\",\"value\":3}]", 1},
    {"[{\"field\":\"currency\",\"op\":\"gt\",\"value\":1}]", 0},
    {"[{\"field\":\"vip\",\"op\":\"gt\",\"value\":0}]", 0},
    {"[{\"field\":\"note\",\"op\":\"lt\",\"value\":1}]", 0},
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":\"1000\"}]", 0},
    /* contains */
    {"[{\"field\":\"customer_email\",\"op\":\"contains\",\"value\":\"@example.com\"}]", 1},
    {"[{\"field\":\"customer_email\",\"op\":\"contains\",\"value\":\"@EXAMPLE.com\"}]", 0},
    {"[{\"field\":\"customer_email\",\"op\":\"contains\",\"value\":\"jane@example.com.x\"}]", 0},
    {"[{\"field\":\"empty\",\"op\":\"contains\",\"value\":\"\"}]", 1},
    {"[{\"field\":\"empty\",\"op\":\"contains\",\"value\":\"a\"}]", 0},
    {"[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"card\"}]", 1},
    {"[{\"field\":\"tags\",\"op\":\"contains\",\"value\":3.0}]", 1},
    {"[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"3\"}]", 0},
    {"[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"ca\"}]", 0},
    {"[{\"field\":\"amount\",\"op\":\"contains\",\"value\":15}]", 0},
    {"[{\"field\":\"currency\",\"op\":\"contains\",\"value\":1}]", 0},
    /* missing fields and paths */
    {"[{\"field\":\"nope\",\"op\":\"eq\",\"value\":1}]", 0},
    {"[{\"field\":\"nope\",\"op\":\"contains\",\"value\":\"\"}]", 0},
    {"[{\"field\":\"request.customer.country\",\"op\":\"eq\",\"value\":\"NL\"}]", 1},
    {"[{\"field\":\"request.customer.city\",\"op\":\"eq\",\"value\":\"NL\"}]", 0},
    {"[{\"field\":\"request.items.1.sku\",\"op\":\"eq\",\"value\":\"B-2\"}]", 1},
    {"[{\"field\":\"request.items.2.sku\",\"op\":\"eq\",\"value\":\"B-2\"}]", 0},
    {"[{\"field\":\"request.items.x.sku\",\"op\":\"eq\",\"value\":\"B-2\"}]", 0},
    {"[{\"field\":\"amount.value\",\"op\":\"eq\",\"value\":1500}]", 0},
    {"[{\"field\":\"request..customer\",\"op\":\"eq\",\"value\":1}]", 0},
    {"[{\"field\":\"\",\"op\":\"eq\",\"value\":1}]", 0},
    {"[{\"field\":\"tags.0\",\"op\":\"eq\",\"value\":\"eu\"}]", 1},
    /* AND */
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000},"
     "{\"field\":\"currency\",\"op\":\"eq\",\"value\":\"EUR\"}]",
     1},
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000},"
     "{\"field\":\"currency\",\"op\":\"eq\",\"value\":\"USD\"}]",
     0},
    {"[{\"field\":\"amount\",\"op\":\"lt\",\"value\":1000},"
     "{\"field\":\"currency\",\"op\":\"eq\",\"value\":\"EUR\"}]",
     0},
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000},{\"field\":\"amount\",\"op\":\"lt\","
     "\"value\":2000},{\"field\":\"customer_email\",\"op\":\"contains\",\"value\":\"jane\"}]",
     1},
    {"[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1000},{\"field\":\"missing\",\"op\":\"eq\","
     "\"value\":1}]",
     0},
    /* no conditions, malformed ones */
    {"[]", 1},
    {"[{\"field\":\"amount\",\"op\":\"ge\",\"value\":1}]", 0},
    {"[{\"field\":\"amount\",\"op\":\"gt\"}]", 0},
    {"[{\"op\":\"gt\",\"value\":1}]", 0},
    {"[{\"field\":1,\"op\":\"gt\",\"value\":1}]", 0},
    {"[\"amount > 1\"]", 0},
    {"{\"field\":\"amount\",\"op\":\"gt\",\"value\":1}", 0},
};

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
	if (j == NULL)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return j;
}

static void
test_jg_probe_match_table(void **state)
{
	(void)state;
	json_t *args = load(ARGS);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		json_t *c = load(rows[i].conditions);
		int got = jg_probe_match(c, args);
		if (got != rows[i].want)
			fail_msg("row %zu %s: got %d, want %d", i, rows[i].conditions, got,
				 rows[i].want);
		json_decref(c);
	}
	json_decref(args);
}

static void
test_jg_probe_match_null_conditions(void **state)
{
	(void)state;
	json_t *args = load(ARGS);
	assert_int_equal(jg_probe_match(NULL, args), 1);
	assert_int_equal(jg_probe_match(NULL, NULL), 1);
	json_decref(args);
}

static void
test_jg_probe_match_positional(void **state)
{
	(void)state;
	json_t *args = load("[1500, \"EUR\", {\"country\":\"NL\"}]");
	json_t *c = load("[{\"field\":\"0\",\"op\":\"gt\",\"value\":1000},"
			 "{\"field\":\"2.country\",\"op\":\"eq\",\"value\":\"NL\"}]");
	assert_int_equal(jg_probe_match(c, args), 1);
	json_decref(c);
	c = load("[{\"field\":\"3\",\"op\":\"eq\",\"value\":1}]");
	assert_int_equal(jg_probe_match(c, args), 0);
	json_decref(c);
	json_decref(args);
}

static void
test_jg_probe_match_no_args(void **state)
{
	(void)state;
	json_t *c = load("[{\"field\":\"amount\",\"op\":\"gt\",\"value\":1}]");
	assert_int_equal(jg_probe_match(c, NULL), 0);
	json_t *scalar = json_integer(5);
	assert_int_equal(jg_probe_match(c, scalar), 0);
	json_decref(scalar);
	json_decref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jg_probe_match_table),
	    cmocka_unit_test(test_jg_probe_match_null_conditions),
	    cmocka_unit_test(test_jg_probe_match_positional),
	    cmocka_unit_test(test_jg_probe_match_no_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
