/*
 * test_notify_events.c - the vocabulary of notifications (notify_events.h):
 * event types and their headlines, audience names and their bits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jitgate/notify_events.h"

static void
test_notify_event_and_audience_names(void **state)
{
	(void)state;
	assert_true(jg_notify_event_known("request.pending"));
	assert_true(jg_notify_event_known("audit.checkpoint_sink_failed"));
	assert_false(jg_notify_event_known("request.pendin"));
	assert_false(jg_notify_event_known(""));
	assert_string_equal(jg_notify_event_title("grant.expiring"), "Grant ends soon");
	assert_null(jg_notify_event_title(NULL));
	assert_true(jg_notify_audience_known("security"));
	assert_false(jg_notify_audience_known("everyone"));
}

static void
test_notify_audience_bits(void **state)
{
	(void)state;
	static const char *const names[] = {"approvers", "requester", "security", "operators"};
	for (unsigned b = 0; b < 4; b++) {
		assert_int_equal(jg_notify_audience_bit(names[b]), 1u << b);
		assert_string_equal(jg_notify_audience_name(1u << b), names[b]);
	}
	assert_int_equal(jg_notify_audience_bit("everyone"), 0);
	assert_null(jg_notify_audience_name(JG_NOTIFY_APPROVERS | JG_NOTIFY_SECURITY));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notify_event_and_audience_names),
	    cmocka_unit_test(test_notify_audience_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
