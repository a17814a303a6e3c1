/*
 * test_notify.c - the pure parts of notifications and the audit stream:
 * the webhook and Slack bodies, and the RFC 5424 frame of an audit entry.
 * (The delivery signature is tested by test_webhook.c, the retry delay by
 * test_backoff.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/audit_stream.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"

static json_t *
sample_event(const char *justification)
{
	return json_pack("{s:s,s:s,s:I,s:[s],s:{s:s,s:s,s:s,s:[s,s],s:s,s:s},s:{s:[s],s:[]},"
			 "s:{s:s,s:s}}",
			 "id", "ntf_abc", "type", "request.pending", "created_at",
			 (json_int_t)1700000000, "audiences", "approvers", "request", "id", "req_1",
			 "requester", "alice", "service", "payment-api", "capabilities",
			 "deploy-probe", "read-logs", "justification", justification, "policy",
			 "payments-debug", "approvers", "groups", "payments-leads", "users",
			 "links", "approvals", "https://jg.example.com/approvals", "request",
			 "https://jg.example.com/v1/requests/req_1");
}

static void
test_notify_body_webhook_is_the_event(void **state)
{
	(void)state;
	json_t *ev = sample_event("INC-1 checkout down");
	char *body = jg_notify_body("webhook", ev);
	assert_non_null(body);
	json_t *back = json_loads(body, 0, NULL);
	assert_true(json_equal(back, ev));
	assert_null(strchr(body, '\n')); /* compact: what is signed is what is sent */
	assert_true(strncmp(body, "{\"approvers\":", 13) == 0); /* sorted keys */
	json_decref(back);
	free(body);
	assert_null(jg_notify_body("carrier-pigeon", ev));
	json_decref(ev);
}

static void
test_notify_body_slack_blocks(void **state)
{
	(void)state;
	json_t *ev = sample_event("INC-1 <https://evil.example|click> & <!channel>");
	char *body = jg_notify_body("slack", ev);
	assert_non_null(body);
	json_t *m = json_loads(body, 0, NULL);
	assert_non_null(m);
	const char *text = json_string_value(json_object_get(m, "text"));
	assert_string_equal(text, "Access request waiting for approval: alice on payment-api "
				  "(deploy-probe, read-logs) https://jg.example.com/approvals");
	json_t *blocks = json_object_get(m, "blocks");
	assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "type")),
			    "header");
	char *dump = json_dumps(blocks, 0);
	assert_non_null(strstr(dump, "*Requester*\\nalice"));
	assert_non_null(strstr(dump, "*Service*\\npayment-api"));
	assert_non_null(strstr(dump, "*Capabilities*\\ndeploy-probe, read-logs"));
	/* the justification cannot forge a link or a mention */
	assert_non_null(strstr(dump, "&lt;https://evil.example|click&gt; &amp; &lt;!channel&gt;"));
	assert_null(strstr(dump, "<https://evil"));
	free(dump);
	json_t *actions = json_array_get(blocks, json_array_size(blocks) - 1);
	assert_string_equal(json_string_value(json_object_get(actions, "type")), "actions");
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(actions, "elements"), 0), "url")),
			    "https://jg.example.com/approvals");
	json_decref(m);
	free(body);

	/* a requester's message links to their own access, not the approval page */
	json_object_del(json_object_get(ev, "links"), "approvals");
	json_object_set_new(json_object_get(ev, "links"), "my_access",
			    json_string("https://jg.example.com/"));
	json_object_set_new(ev, "type", json_string("request.approved"));
	body = jg_notify_body("slack", ev);
	assert_non_null(body);
	assert_non_null(strstr(body, "\"url\":\"https://jg.example.com/\""));
	assert_null(strstr(body, "/approvals"));
	assert_non_null(strstr(body, "\"text\":\"Access request approved: alice on payment-api"));
	free(body);
	json_decref(ev);
}

/* A grant.receipt says in one line what the grant was used for, and flags one never used. */
static void
test_notify_body_slack_receipt(void **state)
{
	(void)state;
	json_t *ev = sample_event("INC-1 checkout");
	json_object_set_new(ev, "type", json_string("grant.receipt"));
	json_object_set_new(json_object_get(ev, "request"), "receipt",
			    json_pack("{s:i,s:i,s:i,s:b}", "log_queries", 2, "probe_events", 3,
				      "tokens_issued", 1, "unused", 0));
	char *body = jg_notify_body("slack", ev);
	assert_non_null(body);
	assert_non_null(strstr(body, "Access receipt: what a grant was used for: alice"));
	assert_non_null(strstr(body, "*Receipt*\\n2 log queries, 0 trace reads"));
	assert_non_null(strstr(body, "3 probe events stored"));
	assert_null(strstr(body, "never used"));
	free(body);
	json_object_set_new(json_object_get(json_object_get(ev, "request"), "receipt"), "unused",
			    json_true());
	body = jg_notify_body("slack", ev);
	assert_non_null(body);
	assert_non_null(strstr(body, "*Receipt*: *granted but never used*"));
	free(body);
	json_decref(ev);
}

static void
test_notify_body_slack_long_justification_cut(void **state)
{
	(void)state;
	char *big = malloc(10001);
	memset(big, 'x', 10000);
	big[10000] = '\0';
	big[1999] = (char)0xC3; /* a two-byte character across the cut */
	big[2000] = (char)0xA9;
	json_t *ev = sample_event(big);
	char *body = jg_notify_body("slack", ev);
	assert_non_null(body);
	json_t *m = json_loads(body, 0, NULL); /* still valid UTF-8 JSON */
	assert_non_null(m);
	assert_true(strlen(body) < 6000);
	json_decref(m);
	free(body);
	free(big);
	json_decref(ev);
}

static void
test_notify_body_slack_alert(void **state)
{
	(void)state;
	json_t *ev =
	    json_pack("{s:s,s:s,s:{s:s}}", "id", "ntf_x", "type", "audit.verification_failed",
		      "alert", "message", "entry 7: bad <link>");
	char *body = jg_notify_body("slack", ev);
	assert_non_null(body);
	assert_non_null(
	    strstr(body, "\"text\":\"The audit log does not verify: entry 7: bad &lt;link&gt;\""));
	free(body);
	json_decref(ev);
	/* an unknown event type has no message */
	ev = json_pack("{s:s}", "type", "request.teleported");
	assert_null(jg_notify_body("slack", ev));
	json_decref(ev);
}

static void
test_audit_stream_syslog_frame(void **state)
{
	(void)state;
	const char entry[] = "{\"actor\":\"user:alice\",\"data\":{},\"prev\":\"00\",\"seq\":42,"
			     "\"ts\":1700000000123,\"type\":\"request.created\",\"v\":1}";
	char *out;
	size_t len;
	assert_int_equal(
	    jg_audit_stream_syslog_frame(entry, strlen(entry), "jg.example.com", &out, &len), 0);
	const char *msg = strchr(out, ' ') + 1;
	char want[512];
	snprintf(want, sizeof(want),
		 "<110>1 2023-11-14T22:13:20.123Z jg.example.com jitgate - audit "
		 "[jitgate@32473 seq=\"42\" type=\"request.created\"] %s",
		 entry);
	assert_string_equal(msg, want);
	char *end = NULL; /* RFC 5425: the octet count, a space, the message */
	assert_int_equal(strtoul(out, &end, 10), strlen(want));
	assert_ptr_equal(end, msg - 1);
	assert_int_equal(len, strlen(out));
	free(out);

	const char *bad[] = {"{}", "not json", "{\"seq\":\"1\",\"ts\":1,\"type\":\"a\"}",
			     "{\"seq\":1,\"ts\":1,\"type\":\"a]\"}"};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
		    jg_audit_stream_syslog_frame(bad[i], strlen(bad[i]), "h", &out, &len),
		    JG_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notify_body_webhook_is_the_event),
	    cmocka_unit_test(test_notify_body_slack_blocks),
	    cmocka_unit_test(test_notify_body_slack_receipt),
	    cmocka_unit_test(test_notify_body_slack_long_justification_cut),
	    cmocka_unit_test(test_notify_body_slack_alert),
	    cmocka_unit_test(test_audit_stream_syslog_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
