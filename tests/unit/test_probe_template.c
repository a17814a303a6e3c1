/*
 * test_probe_template.c - jitgate's check of a log probe's message template
 * (probe_template.h, docs/agents.md "Probe kinds"): what deploy accepts,
 * the placeholders it lists (the read-pii rule reads them) and the bound
 * on a rendered message that ingest enforces.  The agent renders with the
 * same grammar (test_agent_capture.c, test_log_message): a template either
 * side refuses, the other refuses too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/probe_template.h"

static void
test_template_accepted(void **state)
{
	(void)state;
	struct jg_probe_template t;
	char why[300];

	assert_int_equal(
	    jg_probe_template_parse("charge {amount} for {customer.id}", &t, why, sizeof(why)), 0);
	assert_int_equal(t.nfields, 2);
	assert_string_equal(t.fields[0], "amount");
	assert_string_equal(t.fields[1], "customer.id");
	assert_int_equal(t.text_bytes, strlen("charge  for "));
	assert_int_equal(jg_probe_template_message_max(&t, 255), strlen("charge  for ") + 2 * 255);
	/* a number or "<missing>" may take 32 bytes where strings are cut shorter */
	assert_int_equal(jg_probe_template_message_max(&t, 16), strlen("charge  for ") + 2 * 32);

	/* doubled braces are one literal byte each; indexes and "return" are paths */
	assert_int_equal(
	    jg_probe_template_parse("{{x}} {items.0} -> {return}}}", &t, why, sizeof(why)), 0);
	assert_int_equal(t.nfields, 2);
	assert_string_equal(t.fields[0], "items.0");
	assert_string_equal(t.fields[1], "return");
	assert_int_equal(t.text_bytes, strlen("{x}  -> }"));

	/* at the limits: 16 placeholders, 512 bytes, a 100-byte path */
	char buf[600] = "";
	for (int i = 0; i < 16; i++)
		memcpy(buf + 3 * i, "{a}", 4);
	assert_int_equal(jg_probe_template_parse(buf, &t, why, sizeof(why)), 0);
	memset(buf, 'x', 511);
	buf[0] = '{';
	buf[2] = '}';
	buf[511] = '\0';
	assert_int_equal(jg_probe_template_parse(buf, &t, why, sizeof(why)), 0);
	buf[0] = '{';
	memset(buf + 1, 'p', 100);
	memcpy(buf + 101, "}", 2);
	assert_int_equal(jg_probe_template_parse(buf, &t, why, sizeof(why)), 0);
	assert_int_equal(strlen(t.fields[0]), 100);
}

static void
test_template_refused(void **state)
{
	(void)state;
	struct jg_probe_template t;
	char why[300], buf[600] = "";
	const char *bad[] = {
	    "",		      /* empty */
	    "no placeholder", /* nothing to log */
	    "{{escaped}}",    /* still none */
	    "a } b {x}",      /* a stray closing brace */
	    "{x",	      /* unclosed */
	    "{}",	      /* empty path */
	    "{a b}",	      /* not a path */
	    "{a.}",	      /* empty segment */
	    "{.a}",	      /* empty segment */
	    "{a..b}",	      /* empty segment */
	    "{a-b}",	      /* not a path character */
	    "{customer[0]}",  /* indexes are segments */
	    "{\xc3\xa9}",     /* letters are ASCII */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(jg_probe_template_parse(bad[i], &t, why, sizeof(why)), JG_EINVAL);
		assert_true(strncmp(why, "'template'", 10) == 0);
	}
	/* past the limits: 17 placeholders, 513 bytes, a 101-byte path */
	for (int i = 0; i < 17; i++)
		memcpy(buf + 3 * i, "{a}", 4);
	assert_int_equal(jg_probe_template_parse(buf, &t, why, sizeof(why)), JG_EINVAL);
	memset(buf, 'x', 513);
	buf[0] = '{';
	buf[2] = '}';
	buf[513] = '\0';
	assert_int_equal(jg_probe_template_parse(buf, &t, why, sizeof(why)), JG_EINVAL);
	buf[0] = '{';
	memset(buf + 1, 'p', 101);
	memcpy(buf + 102, "}", 2);
	assert_int_equal(jg_probe_template_parse(buf, &t, why, sizeof(why)), JG_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template_accepted),
	    cmocka_unit_test(test_template_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
