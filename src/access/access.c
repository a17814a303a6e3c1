/*
 * access.c - the request lifecycle (see access.h): create, dry run, the
 * transitions (approve, deny, cancel, revoke, review, extend), off-boarding
 * and the sweep of what is due.  Every end of a request or a grant goes
 * through access_end.c; an extension's rows are access_extend.c's, and the
 * start of a scheduled grant access_schedule.c's.
 *
 * Every operation that changes something is a work function run by the
 * audit writer: it reads the request inside the transaction, checks the
 * transition is allowed for this caller, writes the new state and appends
 * exactly one audit entry.  Free text a person wrote enters an entry only
 * through jg_access_entry_text() (access_request.c).  Identities (actor,
 * requester, approvers) are written as they are.
 *
 * A transition refused to a signed-in caller for lack of rights changes
 * nothing and records a request.action_refused entry instead, within a
 * per-identity budget (access_refusal.c).  Reads are in access_read.c, the
 * time-based notifications in access_due.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/canon.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/notify.h"
#include "jitgate/parse.h"
#include "jitgate/pii.h"
#include "jitgate/random.h"
#include "jitgate/session.h"
#include "access_int.h"

/* ---- input --------------------------------------------------------------------- */

struct new_req {
	const char *service, *justification;
	const char *caps[JG_POLICY_MAX_REQUEST_CAPS];
	size_t ncaps;
	int64_t duration;
	int break_glass;
	int64_t starts_at; /* the asked-for start, Unix seconds; 0: on approval */
	/* a refusal that quotes the body: what it quoted, and the words around it */
	const char *quoted, *quote_pre, *quote_post;
};

#define SHOWN_MAX	 64 /* bytes of a quoted string in a message */
#define SHOWN_MARKERS	 4  /* markers kept whole in an entry's quote */
#define ENTRY_QUOTE_SIZE (SHOWN_MAX + SHOWN_MARKERS * JG_PII_MARK_SIZE + 4)

/* Copies s[0..n) into dst[*j..) as printable ASCII (other bytes become '?'). */
static void
printable(char *dst, size_t *j, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dst[*j] = '?';
		if (s[i] >= 0x20 && s[i] < 0x7f)
			dst[*j] = s[i];
		(*j)++;
	}
}

/*
 * A string of the body made safe for a message: printable ASCII (other bytes
 * become '?'), at most 64 bytes.  A plain "%.64s" could cut a UTF-8 sequence,
 * and an invalid string makes the reply and the audit entry unencodable.
 */
static const char *
shown(char *dst, size_t len, const char *s)
{
	size_t j = 0, n = s ? strlen(s) : 0, take = n < SHOWN_MAX ? n : SHOWN_MAX;

	if (take + 4 > len)
		take = len > 4 ? len - 4 : 0;
	printable(dst, &j, s, take);
	if (take < n && j + 4 <= len) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
	return dst;
}

/* The length of the marker at m (pii.h), or 0 when none begins there. */
static size_t
marker_at(const char *m, size_t left)
{
	static const char head[] = "[REDACTED:";
	if (left < sizeof(head) - 1 || memcmp(m, head, sizeof(head) - 1) != 0)
		return 0;
	const char *end = memchr(m, ']', left < JG_PII_MARK_SIZE ? left : JG_PII_MARK_SIZE);
	return end ? (size_t)(end - m) + 1 : 0;
}

/*
 * s quoted for an audit entry: its personal data marked first, over the
 * whole string (a match cut in two is no match, and its fragment would stay
 * in clear), then shown as the reply shows it - printable ASCII - and cut
 * after 64 bytes of the rest, keeping up to 4 markers whole.  dst holds
 * ENTRY_QUOTE_SIZE bytes.  Returns 0, or the codes of jg_pii_text() (then
 * nothing may be quoted).
 */
static int
entry_quote(const struct jg_access_ctx *ctx, const char *s, char dst[ENTRY_QUOTE_SIZE])
{
	char *o = NULL;
	size_t olen, j = 0, clear = 0, markers = 0, i = 0;
	int rc = jg_pii_text(ctx->pii, s, strlen(s), &o, &olen, NULL);

	if (rc != 0)
		return rc;
	while (i < olen && clear < SHOWN_MAX) {
		size_t m = marker_at(o + i, olen - i);
		if (m > 0 && markers == SHOWN_MARKERS)
			break;
		if (m > 0)
			markers++;
		else
			clear++;
		printable(dst, &j, o + i, m > 0 ? m : 1);
		i += m > 0 ? m : 1;
	}
	if (i < olen) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
	free(o);
	return 0;
}

/* Refuses the create with a message quoting s (see parse_new): the reply shows it cut. */
static int
refuse_quoting(struct new_req *n, char *why, size_t whylen, const char *pre, const char *s,
	       const char *post)
{
	char safe[SHOWN_MAX + 8];

	n->quoted = s;
	n->quote_pre = pre;
	n->quote_post = post;
	return jg_errf(why, whylen, JG_EINVAL, "%s%s%s", pre, shown(safe, sizeof(safe), s), post);
}

/*
 * starts_at (v; NULL: absent) into n->starts_at: Unix seconds, or RFC 3339
 * text as the telemetry queries take it.  A start up to START_PAST_SLACK
 * seconds ago is taken (a client's clock a little behind, a form filled
 * in slowly): the grant then starts on approval, as without one.  How far
 * ahead is the policy's to say (max_schedule_ahead); never more than the
 * 30 days a rule may allow.
 */
#define START_PAST_SLACK 300

static int
parse_starts_at(const struct jg_access_ctx *ctx, json_t *v, struct new_req *n, char *why,
		size_t whylen)
{
	int64_t at, ns;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		at = json_integer_value(v);
	else if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
		 json_string_length(v) <= 64 && jg_parse_rfc3339(json_string_value(v), &ns) == 0)
		at = ns / 1000000000;
	else
		return jg_errf(why, whylen, JG_EINVAL,
			       "'starts_at' must be Unix seconds or RFC 3339 text such as "
			       "\"2026-12-07T22:00:00Z\"");
	if (n->break_glass)
		return jg_errf(why, whylen, JG_EINVAL,
			       "break-glass access starts at once: 'starts_at' cannot be given");
	if (at < ctx->now - START_PAST_SLACK)
		return jg_errf(why, whylen, JG_EINVAL, "'starts_at' is in the past");
	if (at > ctx->now + JG_POLICY_MAX_DURATION)
		return jg_errf(why, whylen, JG_EINVAL,
			       "'starts_at' is more than 30 days ahead (no rule allows that)");
	n->starts_at = at;
	return 0;
}

/*
 * The request asked for in body, into n.  A refusal fills why (the reply);
 * one that quotes the body also says what in n->quoted, so that the entry
 * can quote it marked (entry_quote).
 */
static int
parse_new(const struct jg_access_ctx *ctx, json_t *body, struct new_req *n, char *why,
	  size_t whylen)
{
	static const char *const allowed[] = {"service",       "capabilities", "duration",
					      "justification", "break_glass",  "starts_at"};
	const char *key;
	json_t *v;
	int rc;

	memset(n, 0, sizeof(*n));
	json_object_foreach(body, key, v)
	{
		int ok = 0;
		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= strcmp(key, allowed[i]) == 0;
		if (!ok)
			return refuse_quoting(n, why, whylen, "unknown field '", key, "'");
	}
	v = json_object_get(body, "service");
	if (!json_is_string(v))
		return jg_errf(why, whylen, JG_EINVAL, "'service' is required (a service name)");
	n->service = json_string_value(v);
	if (!jg_catalog_service_name_valid(n->service))
		return jg_errf(
		    why, whylen, JG_EINVAL,
		    "'service' must be lower-case letters, digits, '-' or '.', at most 63");
	v = json_object_get(body, "capabilities");
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > JG_POLICY_MAX_REQUEST_CAPS)
		return jg_errf(why, whylen, JG_EINVAL,
			       "'capabilities' must be a non-empty list of capability names");
	size_t i;
	json_t *c;
	json_array_foreach(v, i, c)
	{
		if (!json_is_string(c) || !jg_policy_capability_known(json_string_value(c)))
			return refuse_quoting(n, why, whylen, "unknown capability '",
					      json_is_string(c) ? json_string_value(c) : "?",
					      "' (read-logs, read-traces, read-metrics, "
					      "deploy-probe, read-pii)");
		int dup = 0; /* ["read-logs","read-logs"] is one capability */
		for (size_t k = 0; k < n->ncaps; k++)
			dup |= strcmp(n->caps[k], json_string_value(c)) == 0;
		if (!dup)
			n->caps[n->ncaps++] = json_string_value(c);
	}
	rc = jg_access_body_duration(body, "whole seconds", &n->duration, why, whylen);
	if (rc == 0)
		rc = jg_access_body_justification(body, &n->justification, why, whylen);
	if (rc != 0)
		return rc;
	v = json_object_get(body, "break_glass");
	if (v != NULL && !json_is_boolean(v))
		return jg_errf(why, whylen, JG_EINVAL, "'break_glass' must be true or false");
	n->break_glass = json_is_true(v);
	if ((rc = parse_starts_at(ctx, json_object_get(body, "starts_at"), n, why, whylen)) != 0)
		return rc;
	if (!jg_policy_service_known(ctx->policies, n->service))
		return jg_errf(why, whylen, JG_EINVAL, "unknown service '%s': no policy covers it",
			       n->service);
	return 0;
}

static int
evaluate(const struct jg_access_ctx *ctx, const struct jg_access_caller *c, const struct new_req *n,
	 struct jg_policy_decision *d)
{
	struct jg_policy_request pr = {.user = c->sub,
				       .groups = c->groups,
				       .ngroups = c->ngroups,
				       .service = n->service,
				       .capabilities = n->caps,
				       .ncaps = n->ncaps,
				       .duration_seconds = n->duration,
				       .justification = n->justification,
				       .break_glass = n->break_glass,
				       .starts_in =
					   n->starts_at > ctx->now ? n->starts_at - ctx->now : 0};
	return jg_policy_evaluate(ctx->policies, &pr, d);
}

int
jg_access_dry_run(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		  json_t *body, json_t **out, char *why, size_t whylen)
{
	struct new_req n;
	struct jg_policy_decision d;
	int rc;

	*out = NULL;
	if ((rc = parse_new(ctx, body, &n, why, whylen)) != 0)
		return rc;
	if (evaluate(ctx, caller, &n, &d) != 0 || jg_policy_decision_to_json(&d, out) != 0)
		rc = jg_errf(why, whylen, JG_EUNAVAIL, "the policy could not be evaluated");
	jg_policy_decision_clear(&d);
	return rc;
}

/* ---- create ---------------------------------------------------------------------- */

struct create_job {
	const struct jg_access_ctx *ctx;
	const struct jg_access_caller *caller;
	json_t *body;
	json_t *out;
	char *why;
	size_t whylen;
	int outcome; /* 0 created, JG_EINVAL refused, JG_EDENIED denied */
};

static const char sql_req_insert[] =
    "INSERT INTO access_requests (id, requester, requester_groups, service, capabilities, "
    "duration, justification, incident, break_glass, state, decision, policy_sha256, created_at, "
    "pending_until, approved_at, activated_at, expires_at, starts_at, probe_max_probes, "
    "probe_max_hits, probe_max_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

static int
create_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct create_job *j = vctx;
	const struct jg_access_ctx *ctx = j->ctx;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct new_req n;
	struct jg_policy_decision d;
	json_t *decision = NULL, *data = NULL;
	char id[64], *caps = NULL, *dec = NULL, *groups = NULL;
	int rc;

	rc = parse_new(ctx, j->body, &n, j->why, j->whylen);
	if (rc != 0) {
		/* refused: nothing stored but the refusal itself */
		j->outcome = JG_EINVAL;
		data = json_object();
		/* the message may quote the body (an unknown field's name): marked, then cut */
		char q[ENTRY_QUOTE_SIZE], quoting[ENTRY_QUOTE_SIZE + 128];
		const char *reason = j->why;
		rc = 0;
		if (n.quoted != NULL && (rc = entry_quote(ctx, n.quoted, q)) == 0) {
			snprintf(quoting, sizeof(quoting), "%s%s%s", n.quote_pre, q, n.quote_post);
			reason = quoting;
		}
		if (rc == 0)
			rc = jg_access_entry_text(ctx, data, "reason", reason);
		if (rc == 0)
			rc =
			    jg_audit_tx_append(tx, "request.refused", j->caller->actor, data, NULL);
		json_decref(data);
		return rc;
	}
	if (evaluate(ctx, j->caller, &n, &d) != 0 ||
	    jg_policy_decision_to_json(&d, &decision) != 0) {
		jg_policy_decision_clear(&d);
		return jg_errf(j->why, j->whylen, JG_EUNAVAIL, "the policy could not be evaluated");
	}
	json_t *capsj = json_array();
	for (size_t i = 0; i < n.ncaps; i++)
		json_array_append_new(capsj, json_string(n.caps[i]));
	if (d.outcome == JG_POLICY_DENY) {
		j->outcome = JG_EDENIED;
		snprintf(j->why, j->whylen, "%s", d.reason ? d.reason : "denied by policy");
		data =
		    json_pack("{s:s,s:O,s:I,s:b,s:o*}", "service", n.service, "capabilities", capsj,
			      "duration", (json_int_t)n.duration, "break_glass", n.break_glass,
			      "decision", jg_access_entry_decision(ctx, decision));
		rc = data && json_object_get(data, "decision")
			 ? jg_audit_tx_append(tx, "request.denied", j->caller->actor, data, NULL)
			 : JG_ENOMEM;
		json_decref(data);
		j->out = json_pack("{s:O}", "decision", decision);
		goto out;
	}
	/* a grant that needs no approval but starts later waits for the sweeper */
	int later = n.starts_at > ctx->now;
	const char *state = d.outcome == JG_POLICY_PENDING ? "pending"
			    : later			   ? "scheduled"
							   : "active";
	char rnd[32];
	if ((rc = jg_random_token(16, rnd, sizeof(rnd))) != 0)
		goto out;
	snprintf(id, sizeof(id), "req_%s", rnd);
	caps = json_dumps(capsj, JSON_COMPACT);
	dec = json_dumps(decision, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *gj = jg_access_groups_json(j->caller);
	groups = json_dumps(gj, JSON_COMPACT);
	json_decref(gj);
	struct jg_stmt *st;
	if (!caps || !dec || !groups || jg_stmt_prepare(conn, sql_req_insert, &st) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	jg_stmt_bind_text(st, 1, id);
	jg_stmt_bind_text(st, 2, j->caller->sub);
	jg_stmt_bind_text(st, 3, groups);
	jg_stmt_bind_text(st, 4, n.service);
	jg_stmt_bind_text(st, 5, caps);
	jg_stmt_bind_int64(st, 6, n.duration);
	jg_stmt_bind_text(st, 7, n.justification);
	jg_stmt_bind_text(st, 8, d.incident);
	jg_stmt_bind_int64(st, 9, d.break_glass);
	jg_stmt_bind_text(st, 10, state);
	jg_stmt_bind_text(st, 11, dec);
	jg_stmt_bind_text(st, 12, d.policy_sha256);
	jg_stmt_bind_int64(st, 13, ctx->now);
	if (d.outcome == JG_POLICY_PENDING) {
		/* one that starts later waits for approval at least until its start */
		int64_t until = ctx->now + ctx->pending_ttl;
		jg_stmt_bind_int64(st, 14, n.starts_at > until ? n.starts_at : until);
		jg_stmt_bind_null(st, 15);
		jg_stmt_bind_null(st, 16);
		jg_stmt_bind_null(st, 17);
	} else if (later) {
		jg_stmt_bind_null(st, 14);
		jg_stmt_bind_int64(st, 15, ctx->now);
		jg_stmt_bind_null(st, 16);
		jg_stmt_bind_int64(st, 17, n.starts_at + n.duration); /* as planned */
	} else {
		jg_stmt_bind_null(st, 14);
		jg_stmt_bind_int64(st, 15, ctx->now);
		jg_stmt_bind_int64(st, 16, ctx->now);
		jg_stmt_bind_int64(st, 17, ctx->now + n.duration);
	}
	if (n.starts_at > 0)
		jg_stmt_bind_int64(st, 18, n.starts_at);
	else
		jg_stmt_bind_null(st, 18);
	/* the probe budget the grant carries (NULL: that member bounds nothing) */
	const int64_t budget[] = {d.probe_budget.max_probes, d.probe_budget.max_hits,
				  d.probe_budget.max_bytes};
	for (int b = 0; b < 3; b++)
		if (budget[b] > 0)
			jg_stmt_bind_int64(st, 19 + b, budget[b]);
		else
			jg_stmt_bind_null(st, 19 + b);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		goto out;
	data = json_pack("{s:s,s:s,s:O,s:I,s:s,s:b,s:o*}", "request", id, "service", n.service,
			 "capabilities", capsj, "duration", (json_int_t)n.duration, "state", state,
			 "break_glass", d.break_glass, "decision",
			 jg_access_entry_decision(ctx, decision));
	rc = data && json_object_get(data, "decision") ? 0 : JG_ENOMEM;
	/* a grant from the start says when it ends, as request.approved does (receipts) */
	if (rc == 0 && strcmp(state, "active") == 0)
		rc = json_object_set_new(data, "expires_at", json_integer(ctx->now + n.duration)) ==
			     0
			 ? 0
			 : JG_ENOMEM;
	if (rc == 0 && n.starts_at > 0)
		rc = json_object_set_new(data, "starts_at", json_integer(n.starts_at)) == 0
			 ? 0
			 : JG_ENOMEM;
	if (rc == 0 && d.incident[0])
		rc = jg_access_entry_text(ctx, data, "incident", d.incident);
	if (rc == 0)
		rc = jg_audit_tx_append(tx, "request.created", j->caller->actor, data, NULL);
	json_decref(data);
	if (rc != 0)
		goto out;
	struct req r;
	if ((rc = jg_access_req_load(conn, id, &r)) == 0) {
		j->out = jg_access_req_json(conn, &r);
		if (strcmp(r.state, "pending") == 0)
			rc = jg_access_notice(ctx, conn, "request.pending", &r, JG_NOTIFY_APPROVERS,
					      NULL);
		else if (r.break_glass)
			rc = jg_access_notice_break_glass(ctx, conn, "break_glass.used", &r);
		jg_access_req_clear(&r);
	}
	j->outcome = 0;
out:
	json_decref(capsj);
	json_decref(decision);
	free(caps);
	free(dec);
	free(groups);
	jg_policy_decision_clear(&d);
	return rc;
}

static int
run(const struct jg_access_ctx *ctx, jg_audit_work_fn fn, void *job, char *why, size_t whylen)
{
	int rc = jg_audit_run(ctx->audit, fn, job);
	if (rc == JG_EUNAVAIL)
		snprintf(why, whylen, "the audit log cannot be written; nothing was done");
	return rc;
}

int
jg_access_create(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		 json_t *body, json_t **out, char *why, size_t whylen)
{
	struct create_job j = {
	    .ctx = ctx, .caller = caller, .body = body, .why = why, .whylen = whylen};
	int rc = run(ctx, create_fn, &j, why, whylen);
	*out = j.out;
	if (rc != 0) {
		json_decref(j.out);
		*out = NULL;
		return rc;
	}
	return j.outcome;
}

/* ---- transitions on one request ---------------------------------------------------- */

enum op { OP_APPROVE, OP_DENY, OP_CANCEL, OP_REVOKE, OP_REVIEW, OP_EXTEND };

static const char *const op_names[] = {"approve", "deny", "cancel", "revoke", "review", "extend"};

struct op_job {
	const struct jg_access_ctx *ctx;
	const struct jg_access_caller *caller;
	enum op op;
	const char *id, *text;
	json_t *body; /* OP_EXTEND: {duration, justification} */
	json_t *out;
	int refused; /* the refusal answered (JG_EDENIED, JG_ENOTFOUND) after recording it */
	int denied;  /* OP_EXTEND: denied by policy (audited; the decision in out) */
	/* OP_APPROVE of an extension's last approval: the grant it moved, written after */
	int extended;
	int64_t previous_expires_at, new_expires_at;
	/* OP_APPROVE past a scheduled start, the requester no longer qualifying: why not */
	char not_activated[600];
	char *why;
	size_t whylen;
};

static const char sql_activate[] =
    "UPDATE access_requests SET state = 'active', approved_at = ?1, activated_at = ?1, "
    "expires_at = ?2 WHERE id = ?3";
/* approved before its start: the grant waits for the sweeper (expires_at: as planned) */
static const char sql_schedule[] =
    "UPDATE access_requests SET state = 'scheduled', approved_at = ?1, expires_at = ?2 "
    "WHERE id = ?3";
static const char sql_approval_insert[] =
    "INSERT INTO approvals (request_id, approver, requirement, created_at) VALUES (?, ?, ?, ?)";
static const char sql_review[] =
    "UPDATE access_requests SET reviewed_by = ?, reviewed_at = ?, review_note = ? WHERE id = ?";

/* {approver: [requirements]} for the audit entry: who counts toward what after this approval. */
static json_t *
assignment_json(const struct tally *t)
{
	json_t *a = json_array();
	for (size_t p = 0; a != NULL && p < t->n; p++)
		json_array_append_new(a, json_pack("{s:s,s:o*}", "approver", t->who[p],
						   "requirements", jg_access_bits(t->counted[p])));
	return a;
}

/*
 * The approve transition.  The caller's approval is kept when it makes the
 * requests's approvals meet more than before (jg_policy_match_run over
 * every approval, the caller's last), possibly by moving an earlier
 * approval to another requirement.  One that adds nothing is refused: the
 * requirements it could count toward are met by others and no one can
 * move, and without shared requirements that stays so whoever approves
 * next (policy_match.c), so keeping it would only pretend it helped.
 */
static int
approve(struct op_job *j, struct jg_store_conn *conn, struct req *r, json_t *data)
{
	uint32_t mine = jg_access_eligibility(r, j->caller);
	struct tally t;
	int rc, before;

	if (mine == 0)
		return jg_errf(j->why, j->whylen, JG_EDENIED,
			       "you are not an eligible approver of this request");
	if (r->extends[0]) {
		/* an extension is approved only while its grant runs */
		struct req g;
		json_object_set_new(data, "grant", json_string(r->extends));
		if ((rc = jg_access_extended_grant(conn, r, j->ctx->now, &g, j->why, j->whylen)) !=
		    0)
			return rc;
		jg_access_req_clear(&g);
	}
	if ((rc = jg_access_tally_load(conn, r, 1, &t)) != 0)
		return rc;
	for (size_t p = 0; p < t.n; p++)
		if (strcmp(t.who[p], j->caller->sub) == 0) {
			jg_access_tally_free(&t);
			return jg_errf(j->why, j->whylen, JG_ECONFLICT,
				       "you have already approved this request; one person counts "
				       "once");
		}
	if ((rc = jg_access_tally_run(&t)) != 0)
		goto out;
	before = t.m.total;
	if ((rc = jg_access_tally_add(&t, j->caller->sub, j->ctx->now, mine)) != 0 ||
	    (rc = jg_access_tally_run(&t)) != 0)
		goto out;
	if (t.m.total <= before) {
		rc = jg_errf(
		    j->why, j->whylen, JG_ECONFLICT,
		    "your approval is not needed: the requirements you could approve are "
		    "already met by other approvers, and none of them can count toward "
		    "another requirement instead (one person counts toward one requirement)");
		goto out;
	}
	for (int k = 0; k < (int)t.nreq; k++) {
		if (!(mine & (1u << k)))
			continue;
		struct jg_stmt *st;
		if (jg_stmt_prepare(conn, sql_approval_insert, &st) != 0) {
			rc = JG_ESTORE;
			goto out;
		}
		jg_stmt_bind_text(st, 1, r->id);
		jg_stmt_bind_text(st, 2, j->caller->sub);
		jg_stmt_bind_int64(st, 3, k);
		jg_stmt_bind_int64(st, 4, j->ctx->now);
		int step = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (step != JG_STMT_DONE) {
			rc = JG_ESTORE;
			goto out;
		}
	}
	json_object_set_new(data, "requirements_counted", jg_access_bits(t.counted[t.n - 1]));
	json_object_set_new(data, "eligible_for", jg_access_bits(mine));
	json_object_set_new(data, "assignment", assignment_json(&t));
	/* a request approved before its start: scheduled; at or after it: active at once */
	int later = !r->extends[0] && r->starts_at > j->ctx->now;
	int64_t from = later ? r->starts_at : j->ctx->now;
	if (t.m.met && !r->extends[0] && !later && r->starts_at > 0) {
		/*
		 * Past its start, the approval starts it as the sweeper would
		 * have: only while the requester qualifies with the newest groups
		 * seen.  Otherwise it is approved as scheduled, and op_fn ends it
		 * right after the approval's entry (jg_access_not_activated).
		 */
		rc = jg_access_requalify(j->ctx, conn, r, j->not_activated,
					 sizeof(j->not_activated));
		if (rc == JG_EDENIED) {
			later = 1; /* from stays now: the window it would have had */
			rc = 0;
		} else {
			if (rc != 0)
				snprintf(j->why, j->whylen, "%s", j->not_activated);
			j->not_activated[0] = '\0';
			if (rc != 0)
				goto out;
		}
	}
	json_object_set_new(data, "activated", json_boolean(t.m.met && !r->extends[0] && !later));
	if (t.m.met && r->extends[0]) {
		/* an extension's last approval moves its grant's end (grant.extended, op_fn) */
		struct req g;
		if ((rc = jg_access_extended_grant(conn, r, j->ctx->now, &g, j->why, j->whylen)) !=
		    0)
			goto out;
		rc = jg_access_extension_apply(conn, r, &g, j->ctx->now, &j->previous_expires_at,
					       &j->new_expires_at);
		jg_access_req_clear(&g);
		if (rc != 0)
			goto out;
		j->extended = 1;
		json_object_set_new(data, "granted", json_true());
		json_object_set_new(data, "expires_at", json_integer(j->new_expires_at));
	} else if (t.m.met) {
		struct jg_stmt *st;
		if (jg_stmt_prepare(conn, later ? sql_schedule : sql_activate, &st) != 0) {
			rc = JG_ESTORE;
			goto out;
		}
		jg_stmt_bind_int64(st, 1, j->ctx->now);
		jg_stmt_bind_int64(st, 2, from + r->duration);
		jg_stmt_bind_text(st, 3, r->id);
		int step = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (step != JG_STMT_DONE) {
			rc = JG_ESTORE;
			goto out;
		}
		if (later) {
			/* jg_access_not_activated: scheduled as far as this entry goes; ended right
			 * after */
			json_object_set_new(data, "scheduled", json_true());
			json_object_set_new(data, "starts_at", json_integer(r->starts_at));
		}
		json_object_set_new(data, "expires_at", json_integer(from + r->duration));
	}
out:
	jg_access_tally_free(&t);
	return rc;
}

/*
 * The caller was refused the operation on r for lack of rights (code, with
 * j->why): recorded (record_refusal).  Nothing was changed before a refusal,
 * so the job commits the record and returns 0 with j->refused; a refusal
 * that cannot be recorded stays a refusal (code: the job is rolled back).
 */
static int
op_refused(struct jg_audit_tx *tx, struct op_job *j, const struct req *r, int code)
{
	json_t *data = json_pack("{s:s,s:s}", "request", r->id, "service", r->service);
	/* someone else's request is worth naming when the refusal is only counted */
	const char *target = strcmp(r->requester, j->caller->sub) != 0 ? r->id : NULL;
	int rc = data ? jg_access_refusal_record(tx, j->ctx, j->caller, op_names[j->op], data,
						 j->why, target)
		      : JG_ENOMEM;
	json_decref(data);
	if (rc != 0) {
		jg_log(JG_LOG_WARN, "access: cannot record a refused action in the audit log",
		       NULL);
		return code;
	}
	j->refused = code;
	return 0;
}

static int
op_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct op_job *j = vctx;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	const struct jg_access_caller *c = j->caller;
	const char *type = NULL;
	struct req r;
	int rc, own;

	if ((rc = jg_access_req_load(conn, j->id, &r)) != 0)
		return rc == JG_ENOTFOUND ? jg_errf(j->why, j->whylen, rc, "no such request") : rc;
	if (!jg_access_may_see(j->ctx, &r, c)) {
		/* it exists: an attempt on it is recorded, and answered as if it did not */
		snprintf(j->why, j->whylen, "the request is not visible to this caller");
		rc = op_refused(tx, j, &r, JG_ENOTFOUND);
		jg_access_req_clear(&r);
		snprintf(j->why, j->whylen, "no such request");
		return rc;
	}
	own = strcmp(r.requester, c->sub) == 0;
	json_t *data = json_pack("{s:s,s:s}", "request", r.id, "service", r.service);
	switch (j->op) {
	case OP_APPROVE:
	case OP_DENY:
		if (own) {
			rc = jg_errf(j->why, j->whylen, JG_EDENIED,
				     "you cannot approve or deny your own request");
			break;
		}
		if (strcmp(r.state, "pending") != 0) {
			rc = jg_errf(j->why, j->whylen, JG_ECONFLICT,
				     "the request is %s, not pending", r.state);
			break;
		}
		if (j->op == OP_APPROVE) {
			rc = approve(j, conn, &r, data);
			type = "request.approved";
		} else if (!jg_access_is_approver(&r, c)) {
			rc = jg_errf(j->why, j->whylen, JG_EDENIED,
				     "you are not an eligible approver of this request");
		} else {
			rc = jg_access_end_request(conn, r.id, "denied", j->ctx->now, j->text,
						   c->actor);
			if (rc == 0)
				rc = jg_access_entry_text(j->ctx, data, "reason", j->text);
			type = "request.denied";
		}
		break;
	case OP_CANCEL:
		if (!own) {
			rc =
			    jg_errf(j->why, j->whylen, JG_EDENIED, "only the requester can cancel");
			break;
		}
		/* a scheduled grant has not started: its requester may still call it off */
		if (strcmp(r.state, "pending") != 0 && strcmp(r.state, "scheduled") != 0) {
			rc = jg_errf(j->why, j->whylen, JG_ECONFLICT,
				     "the request is %s, not pending or scheduled", r.state);
			break;
		}
		type = "request.cancelled";
		if (strcmp(r.state, "scheduled") == 0) {
			/* an approved grant that ends: through jg_access_end_grant like every
			 * grant's end */
			json_object_set_new(data, "was", json_string(r.state));
			rc = jg_access_end_grant(tx, j->ctx, r.id, "cancelled",
						 "cancelled by the requester", c->actor, type, data,
						 1);
			type = NULL; /* written by jg_access_end_grant */
			break;
		}
		rc = jg_access_end_request(conn, r.id, "cancelled", j->ctx->now,
					   "cancelled by the requester", c->actor);
		break;
	case OP_REVOKE:
		if (!own && !c->is_admin && !jg_access_is_approver(&r, c) &&
		    !jg_access_can_review(j->ctx, &r, c)) {
			rc = jg_errf(j->why, j->whylen, JG_EDENIED,
				     "only the requester, an approver or an admin can revoke");
			break;
		}
		if (strcmp(r.state, "active") != 0 && strcmp(r.state, "scheduled") != 0) {
			rc = jg_errf(j->why, j->whylen, JG_ECONFLICT,
				     "the grant is %s, not active or scheduled", r.state);
			break;
		}
		if (strcmp(r.state, "scheduled") == 0)
			json_object_set_new(data, "was", json_string(r.state));
		if ((rc = jg_access_entry_text(j->ctx, data, "reason", j->text)) != 0)
			break;
		rc = jg_access_end_grant(tx, j->ctx, r.id, "revoked",
					 j->text && *j->text ? j->text : "revoked", c->actor,
					 "grant.revoked", data, 1);
		type = NULL; /* written by jg_access_end_grant */
		break;
	case OP_EXTEND:
		if (!own) {
			rc = jg_errf(j->why, j->whylen, JG_EDENIED,
				     "only the grant's requester can extend it");
			break;
		}
		rc = jg_access_extension_ask(tx, j->ctx, c, &r, j->body, &j->denied, &j->out,
					     j->why, j->whylen);
		type = NULL; /* its entries are the extension's (access_extend.c) */
		break;
	case OP_REVIEW:
		if (!r.break_glass) {
			rc = jg_errf(j->why, j->whylen, JG_ECONFLICT,
				     "only break-glass grants are reviewed");
			break;
		}
		if (own || !jg_access_can_review(j->ctx, &r, c)) {
			rc = jg_errf(j->why, j->whylen, JG_EDENIED,
				     own ? "you cannot review your own break-glass access"
					 : "you are not a reviewer for this service");
			break;
		}
		if (r.reviewed_at) {
			rc = jg_errf(j->why, j->whylen, JG_ECONFLICT, "already reviewed by %s",
				     r.reviewed_by);
			break;
		}
		struct jg_stmt *st;
		if ((rc = jg_stmt_prepare(conn, sql_review, &st)) != 0)
			break;
		jg_stmt_bind_text(st, 1, c->actor);
		jg_stmt_bind_int64(st, 2, j->ctx->now);
		jg_stmt_bind_text(st, 3, j->text ? j->text : "");
		jg_stmt_bind_text(st, 4, r.id);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
		if (rc == 0)
			rc = jg_access_entry_text(j->ctx, data, "note", j->text);
		type = "grant.reviewed";
		break;
	}
	if (rc == JG_EDENIED) {
		/* every JG_EDENIED above comes before any change (approve() too) */
		json_decref(data);
		rc = op_refused(tx, j, &r, rc);
		jg_access_req_clear(&r);
		return rc;
	}
	if (rc == 0 && type != NULL)
		rc = jg_audit_tx_append(tx, type, c->actor, data, NULL);
	if (rc == 0 && j->extended)
		rc = jg_access_extension_append(tx, c->actor, r.extends, r.id,
						j->previous_expires_at, j->new_expires_at);
	if (rc == 0 && j->not_activated[0] != '\0') {
		/* as the sweeper finds it: approved, scheduled */
		jg_access_req_clear(&r);
		char reason[700];
		snprintf(reason, sizeof(reason), "the requester no longer qualifies: %s",
			 j->not_activated);
		if ((rc = jg_access_req_load(conn, j->id, &r)) == 0)
			rc = jg_access_not_activated(tx, j->ctx, &r, reason);
	}
	json_decref(data);
	jg_access_req_clear(&r);
	if (j->op == OP_EXTEND)
		return rc; /* the extension answered and told whom it had to */
	if (rc == 0 && (rc = jg_access_req_load(conn, j->id, &r)) == 0) {
		j->out = jg_access_req_json(conn, &r);
		/* the requester hears of every decision about their request */
		const char *told =
		    j->op == OP_APPROVE &&
			    (strcmp(r.state, "active") == 0 || strcmp(r.state, "scheduled") == 0)
			? "request.approved"
		    : j->op == OP_APPROVE && strcmp(r.state, "granted") == 0 ? "grant.extended"
		    : j->op == OP_DENY					     ? "request.denied"
		    : j->op == OP_CANCEL				     ? "request.cancelled"
		    : j->op == OP_REVOKE				     ? "grant.revoked"
									     : NULL;
		if (told)
			rc = jg_access_notice(j->ctx, conn, told, &r, JG_NOTIFY_REQUESTER, NULL);
		jg_access_req_clear(&r);
	}
	return rc;
}

static int
do_op_body(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller, enum op op,
	   const char *id, const char *text, json_t *body, json_t **out, char *why, size_t whylen)
{
	struct op_job j = {.ctx = ctx,
			   .caller = caller,
			   .op = op,
			   .id = id,
			   .text = text,
			   .body = body,
			   .why = why,
			   .whylen = whylen};
	int rc = run(ctx, op_fn, &j, why, whylen);
	if (rc == 0 && j.refused)
		rc = j.refused; /* recorded as refused; j.out is NULL */
	if (rc == 0 && j.denied) {
		*out = j.out; /* denied by policy: the decision says why */
		return JG_EDENIED;
	}
	*out = rc == 0 ? j.out : NULL;
	if (rc != 0)
		json_decref(j.out);
	return rc;
}

static int
do_op(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller, enum op op,
      const char *id, const char *text, json_t **out, char *why, size_t whylen)
{
	return do_op_body(ctx, caller, op, id, text, NULL, out, why, whylen);
}

int
jg_access_extend(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		 const char *id, json_t *body, json_t **out, char *why, size_t whylen)
{
	return do_op_body(ctx, caller, OP_EXTEND, id, NULL, body, out, why, whylen);
}

int
jg_access_approve(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		  const char *id, json_t **out, char *why, size_t whylen)
{
	return do_op(ctx, caller, OP_APPROVE, id, NULL, out, why, whylen);
}

int
jg_access_deny(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
	       const char *id, const char *reason, json_t **out, char *why, size_t whylen)
{
	if (reason == NULL || *reason == '\0' || strlen(reason) > ACCESS_MAX_REASON)
		return jg_errf(why, whylen, JG_EINVAL, "'reason' is required (at most %d bytes)",
			       ACCESS_MAX_REASON);
	if (!jg_utf8_valid(reason, strlen(reason)))
		return jg_errf(why, whylen, JG_EINVAL, "'reason' must be UTF-8 text");
	return do_op(ctx, caller, OP_DENY, id, reason, out, why, whylen);
}

int
jg_access_cancel(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		 const char *id, json_t **out, char *why, size_t whylen)
{
	return do_op(ctx, caller, OP_CANCEL, id, NULL, out, why, whylen);
}

int
jg_access_revoke(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		 const char *id, const char *reason, json_t **out, char *why, size_t whylen)
{
	if (reason && strlen(reason) > ACCESS_MAX_REASON)
		return jg_errf(why, whylen, JG_EINVAL, "'reason' is longer than %d bytes",
			       ACCESS_MAX_REASON);
	if (reason && !jg_utf8_valid(reason, strlen(reason)))
		return jg_errf(why, whylen, JG_EINVAL, "'reason' must be UTF-8 text");
	return do_op(ctx, caller, OP_REVOKE, id, reason, out, why, whylen);
}

int
jg_access_review(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		 const char *id, const char *note, json_t **out, char *why, size_t whylen)
{
	if (note && strlen(note) > ACCESS_MAX_REASON)
		return jg_errf(why, whylen, JG_EINVAL, "'note' is longer than %d bytes",
			       ACCESS_MAX_REASON);
	if (note && !jg_utf8_valid(note, strlen(note)))
		return jg_errf(why, whylen, JG_EINVAL, "'note' must be UTF-8 text");
	return do_op(ctx, caller, OP_REVIEW, id, note, out, why, whylen);
}

/* ---- many requests at once ------------------------------------------------------------ */

static const char sql_of_user[] =
    "SELECT id, state FROM access_requests WHERE requester = ? AND state IN ('active', "
    "'scheduled', 'pending')";

struct user_job {
	const struct jg_access_ctx *ctx;
	const struct jg_access_caller *caller;
	const char *sub;
	int revoked, cancelled;
};

static int
user_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct user_job *j = vctx;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	char ids[256][64], states[256][16];
	int n, rc = 0;
	struct jg_stmt *st;

	/* in batches of 256 until none is left: off-boarding must not stop half-way */
	j->revoked = j->cancelled = 0;
next_batch:
	n = 0;
	if (jg_stmt_prepare(conn, sql_of_user, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->sub);
	while (n < 256 && (rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		jg_access_text_col(st, 0, ids[n], sizeof(ids[n]));
		jg_access_text_col(st, 1, states[n], sizeof(states[n]));
		n++;
	}
	jg_stmt_finish(st);
	if (n < 256 && rc != JG_STMT_DONE)
		return JG_ESTORE;
	rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		/* an approved grant is revoked whether it has started or not */
		int active = strcmp(states[i], "pending") != 0;
		json_t *data = json_pack("{s:s,s:s,s:s}", "request", ids[i], "user", j->sub,
					 "reason", "user off-boarded");
		/* never an entry without its data: an entry that cannot be built rolls back */
		if (data == NULL) {
			rc = JG_ENOMEM;
			break;
		}
		if (active) {
			rc = jg_access_end_grant(tx, j->ctx, ids[i], "revoked", "user off-boarded",
						 j->caller->actor, "grant.revoked", data, 0);
		} else {
			rc = jg_access_end_request(conn, ids[i], "cancelled", j->ctx->now,
						   "user off-boarded", j->caller->actor);
			if (rc == 0)
				rc = jg_audit_tx_append(tx, "request.cancelled", j->caller->actor,
							data, NULL);
		}
		json_decref(data);
		if (rc == JG_ECONFLICT) {
			rc = 0; /* an extension that expired with its grant just above */
			continue;
		}
		if (active)
			j->revoked++;
		else
			j->cancelled++;
	}
	if (rc == 0 && n == 256)
		goto next_batch; /* each one ended is no longer active or pending */
	if (rc == 0) {
		/* signed-in browser sessions end with the access (session.c owns them) */
		rc = jg_session_delete_user(conn, j->sub);
	}
	if (rc == 0) {
		/* the off-boarding itself, even when nothing was open */
		json_t *data = json_pack("{s:s,s:i,s:i}", "user", j->sub, "revoked", j->revoked,
					 "cancelled", j->cancelled);
		rc = data ? jg_audit_tx_append(tx, "user.offboarded", j->caller->actor, data, NULL)
			  : JG_ENOMEM;
		json_decref(data);
	}
	return rc;
}

static const char sql_is_requester[] = "SELECT 1 FROM access_requests WHERE requester = ? LIMIT 1";

/*
 * The user a refused off-boarding named, as its entry holds it.  The sub
 * comes from the URL, typed by someone without the right to off-board: it
 * is an identity (kept in clear, like every actor) only when someone by that
 * name has asked for access; anything else may be anyone's personal data,
 * and is one keyed marker of the whole text (pii.h), taken over it escaped
 * where it is not UTF-8 (canon.h).  NULL on failure.
 */
static json_t *
refused_user(struct jg_store_conn *conn, const struct jg_access_ctx *ctx, const char *sub)
{
	struct jg_stmt *st;

	if (jg_stmt_prepare(conn, sql_is_requester, &st) != 0)
		return NULL;
	jg_stmt_bind_text(st, 1, sub);
	int step = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (step == JG_STMT_ROW)
		return json_string(sub);
	if (step != JG_STMT_DONE)
		return NULL;
	json_t *escaped = jg_canon_string_escaped(sub, 256);
	json_t *m = escaped ? jg_pii_mark_whole(ctx->pii, json_string_value(escaped),
						json_string_length(escaped))
			    : NULL;
	json_decref(escaped);
	return m;
}

/* A refused off-boarding, recorded as request.action_refused (the user: refused_user()). */
static int
offboard_refused_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct user_job *j = vctx;
	json_t *user = refused_user(jg_audit_tx_conn(tx), j->ctx, j->sub ? j->sub : "");
	json_t *data = user ? json_pack("{s:o}", "user", user) : NULL;
	char target[JG_PII_MARK_SIZE + 300];
	if (data != NULL)
		snprintf(target, sizeof(target), "user:%s",
			 json_string_value(json_object_get(data, "user")));
	int rc = data ? jg_access_refusal_record(tx, j->ctx, j->caller, "offboard", data,
						 "off-boarding needs admin rights", target)
		      : JG_ENOMEM;
	json_decref(data);
	return rc;
}

int
jg_access_revoke_user(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		      const char *sub, json_t **out, char *why, size_t whylen)
{
	struct user_job j = {.ctx = ctx, .caller = caller, .sub = sub};
	*out = NULL;
	if (!caller->is_admin) {
		if (jg_audit_run(ctx->audit, offboard_refused_fn, &j) != 0)
			jg_log(JG_LOG_WARN,
			       "access: cannot record a refused action in the audit log", NULL);
		return jg_errf(why, whylen, JG_EDENIED, "off-boarding needs admin rights");
	}
	if (sub == NULL || *sub == '\0' || strlen(sub) > 255)
		return jg_errf(why, whylen, JG_EINVAL, "a user (sub) is required");
	/* a sub that is no UTF-8 text names no one (and no entry could say whom) */
	if (!jg_utf8_valid(sub, strlen(sub)))
		return jg_errf(why, whylen, JG_EINVAL, "a user (sub) must be UTF-8 text");
	int rc = run(ctx, user_fn, &j, why, whylen);
	if (rc == 0)
		*out = json_pack("{s:s,s:i,s:i}", "user", sub, "revoked", j.revoked, "cancelled",
				 j.cancelled);
	return rc;
}

/* ---- the sweep ----------------------------------------------------------------------- */

static const char sql_due[] =
    "SELECT id, state FROM access_requests WHERE (state = 'active' AND expires_at <= ?) OR "
    "(state = 'pending' AND pending_until <= ?) LIMIT 256";

struct sweep_job {
	const struct jg_access_ctx *ctx;
	int ended;
};

static int
sweep_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct sweep_job *j = vctx;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	char ids[256][64], states[256][16];
	int n = 0, rc = 0;
	struct jg_stmt *st;

	if (jg_stmt_prepare(conn, sql_due, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, j->ctx->now);
	jg_stmt_bind_int64(st, 2, j->ctx->now);
	while (n < 256 && jg_stmt_step(st) == JG_STMT_ROW) {
		jg_access_text_col(st, 0, ids[n], sizeof(ids[n]));
		jg_access_text_col(st, 1, states[n], sizeof(states[n]));
		n++;
	}
	jg_stmt_finish(st);
	for (int i = 0; i < n && rc == 0; i++) {
		int active = strcmp(states[i], "active") == 0;
		json_t *data = json_pack("{s:s,s:s}", "request", ids[i], "was", states[i]);
		if (data == NULL) {
			rc = JG_ENOMEM;
			break;
		}
		if (active) {
			rc = jg_access_end_grant(tx, j->ctx, ids[i], "expired",
						 "the grant's time ran out", "system",
						 "grant.expired", data, 1);
		} else {
			rc = jg_access_end_request(conn, ids[i], "expired", j->ctx->now,
						   "no decision in time", "system");
			if (rc == 0)
				rc =
				    jg_audit_tx_append(tx, "request.expired", "system", data, NULL);
		}
		json_decref(data);
		if (rc == JG_ECONFLICT) {
			rc = 0; /* an extension its grant's end took earlier in this pass */
			continue;
		}
		struct req r;
		if (rc == 0 && jg_notify_active(j->ctx->notify) &&
		    (rc = jg_access_req_load(conn, ids[i], &r)) == 0) {
			rc = jg_access_notice(j->ctx, conn,
					      active ? "grant.expired" : "request.expired", &r,
					      JG_NOTIFY_REQUESTER, NULL);
			jg_access_req_clear(&r);
		}
		j->ended++;
	}
	if (rc == 0)
		rc = jg_access_refusals_sweep(tx, j->ctx);
	return rc;
}

int
jg_access_sweep(const struct jg_access_ctx *ctx, int *ended)
{
	struct sweep_job j = {.ctx = ctx};
	/*
	 * Ends first, in a job apart from the starts: a start that cannot be
	 * decided (the groups seen unreadable, the policy not evaluable) must
	 * never hold back the end of a grant.  A window that passed while no
	 * sweeper ran is started now and ended by the next round.  Each start is
	 * a job of its own (access_schedule.c).
	 */
	int rc = jg_audit_run(ctx->audit, sweep_fn, &j), started;
	*ended = rc == 0 ? j.ended : 0;
	int rc2 = jg_access_start_due(ctx, &started);
	return rc != 0 ? rc : rc2;
}

/*
 * The lifecycle's tables as `jitgate store copy` moves them (store.h);
 * requests before the approvals that refer to them, and in the order they
 * were made, so a grant comes before the extensions that refer to it (also
 * one made in the same second: requests before extensions, then by id).
 */
#define REQUEST_COLUMNS                                                                            \
	"id, requester, requester_groups, service, capabilities, duration, justification, "        \
	"incident, break_glass, state, decision, policy_sha256, created_at, pending_until, "       \
	"approved_at, expires_at, ended_at, end_reason, ended_by, reviewed_by, reviewed_at, "      \
	"review_note, starts_at, activated_at, extends, probe_max_probes, probe_max_hits, "        \
	"probe_max_bytes"
static const struct jg_store_table access_tables[] = {
    JG_STORE_TABLE(
	"access_requests", REQUEST_COLUMNS, "tttttittitttiiiiitttitiitiii",
	"created_at, extends IS NOT NULL, id",
	"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
    JG_STORE_TABLE("approvals", "request_id, approver, requirement, created_at", "ttii",
		   "request_id, approver, requirement", "?, ?, ?, ?"),
    JG_STORE_TABLE("action_refusals", "actor, window_start, recorded, suppressed, actions", "tiiit",
		   "actor", "?, ?, ?, ?, ?"),
    JG_STORE_TABLE("notify_marks", "request_id, kind, at", "tti", "request_id, kind", "?, ?, ?"),
};

const struct jg_store_table *
jg_access_tables(size_t *n)
{
	*n = sizeof(access_tables) / sizeof(access_tables[0]);
	return access_tables;
}
