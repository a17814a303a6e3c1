/*
 * notify_payload.c - the pure parts of notifications (see notify.h): which
 * events exist, the delivery signature, the retry delay, and the bodies a
 * generic webhook and a Slack-compatible incoming webhook receive.
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

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"

/* Every event type, with the headline a person reads first. */
static const struct {
	const char *type, *title;
} events[] = {
    {"request.pending", "Access request waiting for approval"},
    {"request.reminder", "Reminder: access request still waiting for approval"},
    {"request.escalated", "Escalated: access request still waiting for approval"},
    {"request.approved", "Access request approved"},
    {"request.denied", "Access request denied"},
    {"request.cancelled", "Access request cancelled"},
    {"request.expired", "Access request expired without a decision"},
    {"grant.expiring", "Grant ends soon"},
    {"grant.expired", "Grant expired"},
    {"grant.revoked", "Grant revoked"},
    {"break_glass.used", "Break-glass access used"},
    {"grant.review_overdue", "Break-glass grant not reviewed in time"},
    {"audit.verification_failed", "The audit log does not verify"},
    {"audit.checkpoint_sink_failed", "Audit checkpoints are not reaching their off-host sink"},
};

#define NEVENTS (sizeof(events) / sizeof(events[0]))

bool
jg_notify_event_known(const char *type)
{
	for (size_t i = 0; i < NEVENTS; i++)
		if (strcmp(events[i].type, type) == 0)
			return true;
	return false;
}

static const char *
title_of(const char *type)
{
	for (size_t i = 0; type && i < NEVENTS; i++)
		if (strcmp(events[i].type, type) == 0)
			return events[i].title;
	return NULL;
}

bool
jg_notify_audience_known(const char *name)
{
	return strcmp(name, "approvers") == 0 || strcmp(name, "requester") == 0 ||
	       strcmp(name, "security") == 0 || strcmp(name, "operators") == 0;
}

int
jg_notify_sign(const void *key, size_t keylen, int64_t ts, const char *body, size_t len,
	       char out[JG_NOTIFY_SIG_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			       OSSL_PARAM_construct_end()};
	unsigned char md[32];
	char prefix[32];
	size_t mdlen = 0;
	int rc = JG_ECRYPTO;

	int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)ts);
	if (ctx == NULL || !EVP_MAC_init(ctx, key, keylen, params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)n) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)body, len) ||
	    !EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) || mdlen != sizeof(md))
		goto out;
	memcpy(out, "sha256=", 7);
	jg_hex32(md, out + 7);
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int64_t
jg_notify_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint32_t rnd)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int i = 1; i < attempt && d < max_ms; i++)
		d *= 2; /* stops once past the cap, so it cannot overflow */
	if (d > max_ms)
		d = max_ms;
	int64_t jitter = (int64_t)(((uint64_t)(d / 4) * rnd) / UINT32_MAX);
	d -= jitter;
	return d < 1 ? 1 : d;
}

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
	const char *type = str(ev, "type"), *title = title_of(type);
	json_t *req = json_object_get(ev, "request"), *alert = json_object_get(ev, "alert");
	json_t *links = json_object_get(ev, "links");
	/* approvers go to the approval page, requesters to their own access */
	const char *link =
	    str(links, json_object_get(links, "approvals") ? "approvals" : "my_access");
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
