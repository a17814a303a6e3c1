/*
 * notify_payload.c - the pure parts of notifications (see notify.h): the
 * bodies a generic webhook and a Slack-compatible incoming webhook receive.
 * (The events and their headlines are notify_events.h's, the delivery
 * signature webhook.h's, the retry delay backoff.h's.)
 *
 * The Slack message carries only what an approver needs to decide whether
 * to open jitgate (requester, service, capabilities, justification) and a
 * link to the approval page; it has no buttons that act, because a chat
 * identity is never trusted to approve.  Text from requesters is escaped
 * for Slack's mrkdwn (&, <, >) so a justification cannot forge a link or a
 * mention.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/notify.h"

/* ---- Slack ------------------------------------------------------------------ */

/* s escaped for mrkdwn and cut at max bytes (on a UTF-8 boundary); the caller frees. */
static char *
mrkdwn(const char *s, size_t max)
{
	size_t n = 0;
	char *out = malloc(max * 5 + 8), *p = out;

	if (out == NULL)
		return NULL;
	for (; s && *s && n < max; s++, n++) {
		const char *rep = *s == '&'   ? "&amp;"
				  : *s == '<' ? "&lt;"
				  : *s == '>' ? "&gt;"
					      : NULL;
		if (rep != NULL) {
			memcpy(p, rep, strlen(rep));
			p += strlen(rep);
		} else {
			*p++ = *s;
		}
	}
	if (s && *s) {
		while (p > out && ((unsigned char)p[-1] & 0xC0) == 0x80)
			p--; /* continuation bytes of a cut character */
		if (p > out && ((unsigned char)p[-1] & 0x80))
			p--; /* its lead byte */
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = '\0';
	return out;
}

static json_t *
field(const char *label, const char *value)
{
	char *v = mrkdwn(value, 500), *t = NULL;
	json_t *o = NULL;
	if (v && asprintf(&t, "*%s*\n%s", label, v) >= 0)
		o = json_pack("{s:s,s:s}", "type", "mrkdwn", "text", t);
	free(v);
	free(t);
	return o;
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static char *
slack_body(json_t *ev)
{
	const char *type = str(ev, "type"), *title = jg_notify_event_title(type);
	json_t *req = json_object_get(ev, "request"), *alert = json_object_get(ev, "alert");
	json_t *links = json_object_get(ev, "links");
	/* approvers go to the approval page, requesters to their own access */
	const char *link = str(links, json_object_get(links, "approvals")     ? "approvals"
				      : json_object_get(links, "report_page") ? "report_page"
									      : "my_access");
	/* a review due reads like an alert: its message, and the report's page */
	if (alert == NULL)
		alert = json_object_get(ev, "review");
	json_t *blocks = json_array(), *fields = json_array();
	char *text = NULL, *caps = NULL, *out = NULL;

	if (title == NULL || blocks == NULL || fields == NULL)
		goto done;
	json_array_append_new(blocks, json_pack("{s:s,s:{s:s,s:s}}", "type", "header", "text",
						"type", "plain_text", "text", title));
	if (req != NULL) {
		/* capabilities as one comma-separated line */
		size_t i, len = 1;
		json_t *c;
		json_array_foreach(json_object_get(req, "capabilities"), i, c) len +=
		    strlen(json_string_value(c) ? json_string_value(c) : "") + 2;
		if ((caps = calloc(1, len)) == NULL)
			goto done;
		size_t at = 0;
		json_array_foreach(json_object_get(req, "capabilities"), i, c)
		{
			int w = snprintf(caps + at, len - at, "%s%s", i > 0 ? ", " : "",
					 json_string_value(c) ? json_string_value(c) : "");
			if (w > 0 && (size_t)w < len - at)
				at += (size_t)w;
		}
		json_array_append_new(fields, field("Requester", str(req, "requester")));
		json_array_append_new(fields, field("Service", str(req, "service")));
		json_array_append_new(fields, field("Capabilities", caps));
		json_array_append_new(fields, field("Request", str(req, "id")));
		json_array_append_new(blocks,
				      json_pack("{s:s,s:O}", "type", "section", "fields", fields));
		char *j = mrkdwn(str(req, "justification"), 2000), *jt = NULL;
		if (j && asprintf(&jt, "*Justification*\n%s", j) >= 0)
			json_array_append_new(blocks,
					      json_pack("{s:s,s:{s:s,s:s}}", "type", "section",
							"text", "type", "mrkdwn", "text", jt));
		free(j);
		free(jt);
		/* a grant.receipt: what the grant was used for, in one line */
		json_t *receipt = json_object_get(req, "receipt");
		char *use = NULL;
		if (receipt != NULL &&
		    asprintf(
			&use,
			"*Receipt*%s\n%lld log queries, %lld trace reads, %lld metric reads, "
			"%lld probes deployed, %lld probe events stored, %lld reads with "
			"read-pii, %lld tokens issued, %lld refused calls",
			json_is_true(json_object_get(receipt, "unused"))
			    ? ": *granted but never used*"
			    : "",
			(long long)json_integer_value(json_object_get(receipt, "log_queries")),
			(long long)json_integer_value(json_object_get(receipt, "trace_reads")),
			(long long)json_integer_value(json_object_get(receipt, "metric_reads")),
			(long long)json_integer_value(json_object_get(receipt, "probes_deployed")),
			(long long)json_integer_value(json_object_get(receipt, "probe_events")),
			(long long)json_integer_value(json_object_get(receipt, "pii_reads")),
			(long long)json_integer_value(json_object_get(receipt, "tokens_issued")),
			(long long)json_integer_value(json_object_get(receipt, "refusals"))) >= 0)
			json_array_append_new(blocks,
					      json_pack("{s:s,s:{s:s,s:s}}", "type", "section",
							"text", "type", "mrkdwn", "text", use));
		free(use);
		char *who = mrkdwn(str(req, "requester"), 200),
		     *svc = mrkdwn(str(req, "service"), 100);
		char *capsm = mrkdwn(caps, 300);
		if (who && svc && capsm &&
		    asprintf(&text, "%s: %s on %s (%s) %s", title, who, svc, capsm, link) < 0)
			text = NULL;
		free(who);
		free(svc);
		free(capsm);
	} else {
		char *msg = mrkdwn(str(alert, "message"), 2000), *mt = NULL;
		if (msg && asprintf(&mt, "%s", msg) >= 0)
			json_array_append_new(blocks,
					      json_pack("{s:s,s:{s:s,s:s}}", "type", "section",
							"text", "type", "mrkdwn", "text", mt));
		if (msg && asprintf(&text, "%s: %s", title, msg) < 0)
			text = NULL;
		free(msg);
		free(mt);
	}
	if (*link)
		json_array_append_new(blocks, json_pack("{s:s,s:[{s:s,s:{s:s,s:s},s:s}]}", "type",
							"actions", "elements", "type", "button",
							"text", "type", "plain_text", "text",
							"Open in jitgate", "url", link));
	if (text != NULL) {
		json_t *msg = json_pack("{s:s,s:O}", "text", text, "blocks", blocks);
		out = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
		json_decref(msg);
	}
done:
	json_decref(blocks);
	json_decref(fields);
	free(text);
	free(caps);
	return out;
}

char *
jg_notify_body(const char *sink_type, json_t *event)
{
	if (strcmp(sink_type, "webhook") == 0)
		return json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS);
	if (strcmp(sink_type, "slack") == 0)
		return slack_body(event);
	return NULL;
}
