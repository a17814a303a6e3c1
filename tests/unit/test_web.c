/*
 * test_web.c - the pieces of the web pages that decide what a browser gets:
 * the escaping HTML buffer (markup only from literals, every value as text),
 * URL parts, and the words for decisions, states and time left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/web/web_int.h"

static void
test_html_text_escapes_everything_that_is_not_a_literal(void **state)
{
	struct jg_html h = {0};
	(void)state;
	JG_HTML(&h, "<p class=\"just\">");
	jg_html_text(&h, "<script>alert('x')</script> & \"quoted\"");
	jg_html_textf(&h, " %s=%d", "<b>", 7);
	jg_html_text(&h, NULL);
	JG_HTML(&h, "</p>");
	assert_false(h.failed);
	assert_string_equal(h.buf,
			    "<p class=\"just\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
			    "&amp; &quot;quoted&quot; &lt;b&gt;=7</p>");
	jg_html_free(&h);
	assert_null(h.buf);
}

static void
test_html_url_part_encodes_reserved_bytes(void **state)
{
	struct jg_html h = {0};
	(void)state;
	jg_html_url_part(&h, "req_Ab-9.~ x\"<>&/?#%\xc3\xa9");
	assert_string_equal(h.buf, "req_Ab-9.~%20x%22%3C%3E%26%2F%3F%23%25%C3%A9");
	jg_html_free(&h);
}

static void
test_html_grows_for_large_pages(void **state)
{
	struct jg_html h = {0};
	(void)state;
	for (int i = 0; i < 10000; i++)
		jg_html_text(&h, "0123456789<");
	assert_false(h.failed);
	assert_int_equal(h.len, 10000 * 14);
	jg_html_free(&h);
}

static void
decision(const char *json, const char *want)
{
	struct jg_html h = {0};
	json_t *d = json_loads(json, 0, NULL);
	assert_non_null(d);
	jg_web_decision_text(&h, d);
	assert_string_equal(h.buf, want);
	json_decref(d);
	jg_html_free(&h);
}

static void
test_decision_text(void **state)
{
	(void)state;
	decision("{\"decision\":\"grant\",\"max_duration\":14400,\"break_glass\":false}",
		 "<strong class=\"grant\">granted at once</strong> (at most 4h)");
	decision("{\"decision\":\"grant\",\"max_duration\":3600,\"break_glass\":true}",
		 "<strong class=\"grant\">granted at once</strong> through break-glass (flagged; "
		 "approvers review it afterwards) (at most 1h)");
	decision(
	    "{\"decision\":\"pending\",\"max_duration\":1800,\"requirements\":["
	    "{\"approvers\":{\"groups\":[\"payments-leads\",\"sre-leads\"],\"users\":[]},"
	    "\"count\":1},{\"approvers\":{\"groups\":[\"privacy\"],\"users\":[\"<eve>\"]},"
	    "\"count\":2}]}",
	    "<strong class=\"pending\">needs approval</strong>: 1 approval from payments-leads "
	    "or sre-leads, and 2 approvals from privacy or user &lt;eve&gt; (at most 30m)");
	decision("{\"decision\":\"deny\",\"reason\":\"denied by x#deny[0]: <capability>\","
		 "\"max_duration\":null}",
		 "<strong class=\"deny\">denied</strong>: denied by x#deny[0]: &lt;capability&gt;");
	decision("{}", "unknown");
}

static void
test_words(void **state)
{
	char buf[32];
	(void)state;
	assert_string_equal(jg_web_state_text("pending"), "needs approval");
	assert_string_equal(jg_web_state_text("revoked"), "revoked");
	jg_web_left(0, buf, sizeof(buf));
	assert_string_equal(buf, "ended");
	jg_web_left(59, buf, sizeof(buf));
	assert_string_equal(buf, "0m 59s");
	jg_web_left(3600 + 125, buf, sizeof(buf));
	assert_string_equal(buf, "1h 2m");
	jg_web_left(2 * 86400 + 7200, buf, sizeof(buf));
	assert_string_equal(buf, "2d 2h");
	jg_web_time(1795631769, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-25 18:36 UTC");
	jg_web_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_html_text_escapes_everything_that_is_not_a_literal),
	    cmocka_unit_test(test_html_url_part_encodes_reserved_bytes),
	    cmocka_unit_test(test_html_grows_for_large_pages),
	    cmocka_unit_test(test_decision_text),
	    cmocka_unit_test(test_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
