/*
 * access_request.c - one request as access.c sees it (see access_int.h).
 *
 * The row and its JSON, the approvals and how they count (a tally matched
 * by jg_policy_match_run), the rules of who may see, approve, review or
 * revoke it, and the notices queued about it in the transaction of a
 * change.  Free text a person wrote (reasons, review notes, the incident id
 * taken from a justification, a refusal's message that quotes the body)
 * enters an entry only through jg_access_entry_text(): personal data in it
 * becomes keyed markers (pii.h), since the log can never be edited.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/canon.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"
#include "jitgate/pii.h"
#include "jitgate/session.h"
#include "access_int.h"

/*
 * Sets data[key] to text with its personal data marked (pii.h).  Returns 0,
 * JG_EINVAL (text is not UTF-8: no JSON string holds it) or JG_ENOMEM: then
 * the entry must not be written (never the text in clear).
 */
int
jg_access_entry_text(const struct jg_access_ctx *ctx, json_t *data, const char *key,
		     const char *text)
{
	if (text != NULL && !jg_utf8_valid(text, strlen(text)))
		return JG_EINVAL;
	json_t *s = jg_pii_string(ctx->pii, text ? text : "");

	/* json_object_set_new releases s also when it fails, and fails for NULL */
	return data != NULL && json_object_set_new(data, key, s) == 0 ? 0 : JG_ENOMEM;
}

/* ---- a request row ---------------------------------------------------------- */

void
jg_access_req_clear(struct req *r)
{
	json_decref(r->capabilities);
	json_decref(r->decision);
	json_decref(r->groups);
	memset(r, 0, sizeof(*r));
}

static const char sql_req_get[] =
    "SELECT id, requester, service, state, capabilities, decision, requester_groups, duration, "
    "created_at, pending_until, approved_at, expires_at, ended_at, break_glass, justification, "
    "incident, end_reason, ended_by, reviewed_by, reviewed_at, review_note, " JG_ACCESS_ACTIVATED_AT
    ", extends, starts_at FROM access_requests WHERE id = ?";

void
jg_access_text_col(struct jg_stmt *st, int col, char *out, size_t len)
{
	const char *v = jg_stmt_column_text(st, col);
	snprintf(out, len, "%s", v ? v : "");
}

static void
row_to_req(struct jg_stmt *st, struct req *r)
{
	jg_access_text_col(st, 0, r->id, sizeof(r->id));
	jg_access_text_col(st, 1, r->requester, sizeof(r->requester));
	jg_access_text_col(st, 2, r->service, sizeof(r->service));
	jg_access_text_col(st, 3, r->state, sizeof(r->state));
	r->capabilities = json_loads(jg_stmt_column_text(st, 4), 0, NULL);
	r->decision = json_loads(jg_stmt_column_text(st, 5), 0, NULL);
	r->groups = json_loads(jg_stmt_column_text(st, 6), 0, NULL);
	r->duration = jg_stmt_column_int64(st, 7);
	r->created_at = jg_stmt_column_int64(st, 8);
	r->pending_until = jg_stmt_column_int64(st, 9);
	r->approved_at = jg_stmt_column_int64(st, 10);
	r->expires_at = jg_stmt_column_int64(st, 11);
	r->ended_at = jg_stmt_column_int64(st, 12);
	r->break_glass = (int)jg_stmt_column_int64(st, 13);
	jg_access_text_col(st, 14, r->justification, sizeof(r->justification));
	jg_access_text_col(st, 15, r->incident, sizeof(r->incident));
	jg_access_text_col(st, 16, r->end_reason, sizeof(r->end_reason));
	jg_access_text_col(st, 17, r->ended_by, sizeof(r->ended_by));
	jg_access_text_col(st, 18, r->reviewed_by, sizeof(r->reviewed_by));
	r->reviewed_at = jg_stmt_column_int64(st, 19);
	jg_access_text_col(st, 20, r->review_note, sizeof(r->review_note));
	r->activated_at = jg_stmt_column_int64(st, 21);
	jg_access_text_col(st, 22, r->extends, sizeof(r->extends));
	r->starts_at = jg_stmt_column_int64(st, 23);
}

int
jg_access_req_load(struct jg_store_conn *conn, const char *id, struct req *r)
{
	struct jg_stmt *st;
	int rc;

	memset(r, 0, sizeof(*r));
	if (strlen(id) >= sizeof(r->id))
		return JG_ENOTFOUND;
	if (jg_stmt_prepare(conn, sql_req_get, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, id);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW)
		row_to_req(st, r);
	jg_stmt_finish(st);
	if (rc == JG_STMT_ROW)
		return r->decision && r->capabilities && r->groups ? 0 : JG_ESTORE;
	return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
}

/*
 * Approvals and separation of duties.  One row per (approver, requirement)
 * the approver was eligible for when they approved; which requirements an
 * approval counts toward is not stored but computed from all the rows by
 * jg_policy_match_run() each time it is needed (policy.h), so an earlier
 * approval can move to make room for a later one.  Rows written before
 * this rule held the requirements an approval was counted toward: read as
 * eligibility they can only count for less, never for more.
 */
static const char sql_approvals[] =
    "SELECT approver, requirement, created_at FROM approvals WHERE request_id = ? "
    "ORDER BY created_at, approver, requirement";

void
jg_access_tally_free(struct tally *t)
{
	for (size_t i = 0; t->who != NULL && i < t->n; i++)
		free(t->who[i]);
	free(t->who);
	free(t->at);
	free(t->elig);
	free(t->counted);
	memset(t, 0, sizeof(*t));
}

static json_t *
requirements_of(const struct req *r)
{
	return json_object_get(r->decision, "requirements");
}

/* Room for one more approver (the arrays grow by doubling, up to cap). */
static int
tally_grow(struct tally *t)
{
	size_t room = t->room ? 2 * t->room : 8;
	char **who;
	int64_t *at;
	uint32_t *elig, *counted;

	if (room > t->cap)
		room = t->cap;
	/* each array is stored as soon as it moved, so tally_free never sees a stale one */
	if ((who = realloc(t->who, room * sizeof(*who))) == NULL)
		return JG_ENOMEM;
	t->who = who;
	if ((at = realloc(t->at, room * sizeof(*at))) == NULL)
		return JG_ENOMEM;
	t->at = at;
	if ((elig = realloc(t->elig, room * sizeof(*elig))) == NULL)
		return JG_ENOMEM;
	t->elig = elig;
	if ((counted = realloc(t->counted, room * sizeof(*counted))) == NULL)
		return JG_ENOMEM;
	t->counted = counted;
	t->room = room;
	return 0;
}

/* Adds approver who (a copy) eligible for elig, or ORs elig into an earlier row of theirs. */
int
jg_access_tally_add(struct tally *t, const char *who, int64_t at, uint32_t elig)
{
	int rc;

	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->who[i], who) == 0) {
			t->elig[i] |= elig;
			return 0;
		}
	if (t->n == t->cap)
		return 0; /* beyond the bound approvals count for nothing: fail closed */
	if (t->n == t->room && (rc = tally_grow(t)) != 0)
		return rc;
	if ((t->who[t->n] = strdup(who)) == NULL)
		return JG_ENOMEM;
	t->at[t->n] = at;
	t->elig[t->n] = elig;
	t->n++;
	return 0;
}

/*
 * The requirements of r and its approvals so far, with room for `extra`
 * more approvers.  A stored requirement that is not what evaluation writes
 * (count 1..100, at most 32 of them) is JG_ESTORE: nothing is approved
 * against a decision that cannot be read.
 */
int
jg_access_tally_load(struct jg_store_conn *conn, const struct req *r, size_t extra, struct tally *t)
{
	json_t *reqs = requirements_of(r), *jr;
	struct jg_stmt *st;
	size_t i;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (json_array_size(reqs) > JG_POLICY_MAX_REQUIREMENTS)
		return JG_ESTORE;
	json_array_foreach(reqs, i, jr)
	{
		json_t *c = json_object_get(jr, "count");
		if (!json_is_integer(c) || json_integer_value(c) < 1 ||
		    json_integer_value(c) > JG_POLICY_MAX_COUNT)
			return JG_ESTORE;
		t->count[i] = (int)json_integer_value(c);
		t->shared[i] = json_is_true(json_object_get(jr, "shared_approvers"));
	}
	t->nreq = json_array_size(reqs);
	t->cap = JG_POLICY_MAX_APPROVERS; /* stored approvals fill at most the bound */
	if (jg_stmt_prepare(conn, sql_approvals, &st) != 0) {
		jg_access_tally_free(t);
		return JG_ESTORE;
	}
	jg_stmt_bind_text(st, 1, r->id);
	while (rc == 0 && (rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		int64_t k = jg_stmt_column_int64(st, 1);
		const char *who = jg_stmt_column_text(st, 0);
		rc = 0;
		if (who != NULL && k >= 0 && (size_t)k < t->nreq)
			rc = jg_access_tally_add(t, who, jg_stmt_column_int64(st, 2), 1u << k);
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE && rc != 0) {
		jg_access_tally_free(t);
		return rc == JG_ENOMEM ? JG_ENOMEM : JG_ESTORE;
	}
	t->cap += extra; /* and room beyond it for the approvals being weighed */
	return 0;
}

/* Which approvals count toward which requirements (into t->m and t->counted). */
int
jg_access_tally_run(struct tally *t)
{
	memset(&t->m, 0, sizeof(t->m));
	t->m.nreq = t->nreq;
	t->m.count = t->count;
	t->m.shared = t->shared;
	t->m.napprovers = t->n;
	t->m.eligible = t->elig;
	t->m.counted = t->counted;
	return jg_policy_match_run(&t->m);
}

json_t *
jg_access_bits(uint32_t v)
{
	json_t *a = json_array();
	for (int k = 0; a != NULL && k < 32; k++)
		if (v & (1u << k))
			json_array_append_new(a, json_integer(k));
	return a;
}

/*
 * approvals as [{approver, requirement, at}], one per requirement each
 * approval counts toward (requirement null when it counts toward none), and
 * the requirements with how many approvals they have (approved).
 */
static void
tally_json(const struct tally *t, json_t *reqs, json_t **approvals, json_t **progress)
{
	*approvals = json_array();
	*progress = json_array();
	for (size_t p = 0; *approvals != NULL && p < t->n; p++) {
		if (t->counted[p] == 0)
			json_array_append_new(*approvals,
					      json_pack("{s:s,s:n,s:I}", "approver", t->who[p],
							"requirement", "at", (json_int_t)t->at[p]));
		for (size_t k = 0; k < t->nreq; k++)
			if (t->counted[p] & (1u << k))
				json_array_append_new(
				    *approvals,
				    json_pack("{s:s,s:I,s:I}", "approver", t->who[p], "requirement",
					      (json_int_t)k, "at", (json_int_t)t->at[p]));
	}
	for (size_t k = 0; *progress != NULL && k < json_array_size(reqs); k++) {
		json_t *jr = json_array_get(reqs, k);
		json_array_append_new(
		    *progress,
		    json_pack("{s:O,s:I,s:i,s:b}", "approvers", json_object_get(jr, "approvers"),
			      "count", json_integer_value(json_object_get(jr, "count")), "approved",
			      k < t->nreq ? t->m.approved[k] : 0, "shared_approvers",
			      json_is_true(json_object_get(jr, "shared_approvers"))));
	}
}

static const char sql_extensions[] =
    "SELECT id, state, duration, created_at FROM access_requests WHERE extends = ? "
    "ORDER BY created_at, id LIMIT 1000";

/* The extensions of grant id, oldest first: [{id, state, duration, created_at}]; NULL on failure.
 */
static json_t *
extensions_json(struct jg_store_conn *conn, const char *id)
{
	json_t *a = json_array();
	struct jg_stmt *st;
	int rc;

	if (a == NULL || jg_stmt_prepare(conn, sql_extensions, &st) != 0) {
		json_decref(a);
		return NULL;
	}
	jg_stmt_bind_text(st, 1, id);
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *eid = jg_stmt_column_text(st, 0), *state = jg_stmt_column_text(st, 1);
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:I}", "id", eid ? eid : "",
						   "state", state ? state : "", "duration",
						   (json_int_t)jg_stmt_column_int64(st, 2),
						   "created_at",
						   (json_int_t)jg_stmt_column_int64(st, 3)));
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		json_decref(a);
		return NULL;
	}
	return a;
}

json_t *
jg_access_req_json(struct jg_store_conn *conn, const struct req *r)
{
	json_t *approvals = NULL, *progress = NULL;
	struct tally t;

	/* a request whose approvals cannot be read shows none rather than guesses */
	if (jg_access_tally_load(conn, r, 0, &t) == 0) {
		if (jg_access_tally_run(&t) == 0)
			tally_json(&t, requirements_of(r), &approvals, &progress);
		jg_access_tally_free(&t);
	}
	json_t *o = json_pack(
	    "{s:s,s:s,s:s,s:s,s:O,s:I,s:s,s:s?,s:b,s:O,s:o,s:o,s:I}", "id", r->id, "state",
	    r->state, "requester", r->requester, "service", r->service, "capabilities",
	    r->capabilities, "duration", (json_int_t)r->duration, "justification", r->justification,
	    "incident", r->incident[0] ? r->incident : NULL, "break_glass", r->break_glass,
	    "decision", r->decision, "approvals", approvals ? approvals : json_array(),
	    "requirements", progress ? progress : json_array(), "created_at",
	    (json_int_t)r->created_at);
	if (o == NULL)
		return NULL;
	if (r->pending_until && strcmp(r->state, "pending") == 0)
		json_object_set_new(o, "pending_until", json_integer(r->pending_until));
	if (r->approved_at)
		json_object_set_new(o, "approved_at", json_integer(r->approved_at));
	if (r->starts_at)
		json_object_set_new(o, "starts_at", json_integer(r->starts_at));
	if (r->extends[0]) {
		json_object_set_new(o, "extends", json_string(r->extends));
	} else {
		if (r->activated_at)
			json_object_set_new(o, "activated_at", json_integer(r->activated_at));
		/* a grant whose extensions cannot be read shows none rather than guesses */
		json_t *ext = extensions_json(conn, r->id);
		json_object_set_new(o, "extends", json_null());
		json_object_set_new(o, "extensions", ext ? ext : json_array());
	}
	if (r->expires_at)
		json_object_set_new(o, "expires_at", json_integer(r->expires_at));
	if (r->ended_at) {
		json_object_set_new(o, "ended_at", json_integer(r->ended_at));
		json_object_set_new(o, "end_reason", json_string(r->end_reason));
		json_object_set_new(o, "ended_by", json_string(r->ended_by));
	}
	if (r->break_glass)
		json_object_set_new(
		    o, "review",
		    r->reviewed_at ? json_pack("{s:s,s:I,s:s}", "by", r->reviewed_by, "at",
					       (json_int_t)r->reviewed_at, "note", r->review_note)
				   : json_null());
	jg_access_usage_json(conn, r, o);
	return o;
}

/* ---- who may do what ------------------------------------------------------------ */

/* Makes a jg_policy_requirement view of a stored requirement (strings borrowed). */
static int
requirement_view(json_t *jr, struct jg_policy_requirement *out, char **gbuf, char **ubuf,
		 size_t cap)
{
	json_t *appr = json_object_get(jr, "approvers");
	json_t *g = json_object_get(appr, "groups"), *u = json_object_get(appr, "users");
	size_t i;
	json_t *v;

	memset(out, 0, sizeof(*out));
	json_array_foreach(g, i, v)
	{
		if (out->ngroups < cap && json_is_string(v))
			gbuf[out->ngroups++] = (char *)json_string_value(v);
	}
	json_array_foreach(u, i, v)
	{
		if (out->nusers < cap && json_is_string(v))
			ubuf[out->nusers++] = (char *)json_string_value(v);
	}
	out->groups = gbuf;
	out->users = ubuf;
	out->count = (int)json_integer_value(json_object_get(jr, "count"));
	return 0;
}

static int
eligible_for(json_t *jr, const struct jg_access_caller *c)
{
	char *gbuf[JG_POLICY_MAX_LIST], *ubuf[JG_POLICY_MAX_LIST];
	struct jg_policy_requirement view;
	requirement_view(jr, &view, gbuf, ubuf, JG_POLICY_MAX_LIST);
	return jg_policy_can_approve(&view, c->sub, c->groups, c->ngroups);
}

/* The requirements of r that c may approve, as bits (requirement k: bit k). */
uint32_t
jg_access_eligibility(const struct req *r, const struct jg_access_caller *c)
{
	uint32_t e = 0;
	size_t i;
	json_t *jr;
	json_array_foreach(requirements_of(r), i, jr)
	{
		if (i < JG_POLICY_MAX_REQUIREMENTS && eligible_for(jr, c))
			e |= 1u << i;
	}
	return e;
}

/* An approver of any of the request's requirements (whether met or not). */
int
jg_access_is_approver(const struct req *r, const struct jg_access_caller *c)
{
	size_t i;
	json_t *jr;
	json_array_foreach(requirements_of(r), i, jr)
	{
		if (eligible_for(jr, c))
			return 1;
	}
	return 0;
}

int
jg_access_can_review(const struct jg_access_ctx *ctx, const struct req *r,
		     const struct jg_access_caller *c)
{
	return c->is_admin ||
	       jg_policy_can_review(ctx->policies, r->service, c->sub, c->groups, c->ngroups);
}

int
jg_access_may_see(const struct jg_access_ctx *ctx, const struct req *r,
		  const struct jg_access_caller *c)
{
	return c->is_admin || c->is_auditor || strcmp(r->requester, c->sub) == 0 ||
	       jg_access_is_approver(r, c) || (r->break_glass && jg_access_can_review(ctx, r, c));
}

/* ---- still qualified? (scheduled starts, token issuance) ---------------------------- */

int
jg_access_requalify_with(const struct jg_policy_set *set, const struct req *r, json_t *groups,
			 char *why, size_t whylen)
{
	const char *caps[JG_POLICY_MAX_REQUEST_CAPS], *g[JG_IDENTITY_MAX_GROUPS];
	size_t ncaps = 0, ng = 0, i;
	json_t *v;
	struct jg_policy_decision d;
	int rc;

	if (set == NULL)
		return jg_errf(why, whylen, JG_EUNAVAIL, "no policies are loaded");
	json_array_foreach(r->capabilities, i, v)
	{
		if (ncaps == JG_POLICY_MAX_REQUEST_CAPS || !json_is_string(v))
			return jg_errf(why, whylen, JG_EDENIED, "the grant cannot be read");
		caps[ncaps++] = json_string_value(v);
	}
	json_array_foreach(groups, i, v)
	{
		/* groups beyond what an identity holds are not seen by the evaluation either */
		if (ng < JG_IDENTITY_MAX_GROUPS && json_is_string(v))
			g[ng++] = json_string_value(v);
	}
	struct jg_policy_request pr = {.user = r->requester,
				       .groups = g,
				       .ngroups = ng,
				       .service = r->service,
				       .capabilities = caps,
				       .ncaps = ncaps,
				       .duration_seconds = r->duration,
				       .justification = r->justification,
				       .break_glass = r->break_glass != 0};
	if (jg_policy_evaluate(set, &pr, &d) != 0)
		rc = jg_errf(why, whylen, JG_EUNAVAIL, "the policy could not be evaluated");
	else if (d.outcome == JG_POLICY_DENY)
		rc = jg_errf(why, whylen, JG_EDENIED, "%s",
			     d.reason ? d.reason : "denied by policy");
	else
		rc = 0;
	jg_policy_decision_clear(&d);
	return rc;
}

int
jg_access_requalify(const struct jg_access_ctx *ctx, struct jg_store_conn *conn,
		    const struct req *r, char *why, size_t whylen)
{
	json_t *groups = NULL;
	int64_t seen_at;
	int rc = jg_identity_groups_latest(conn, r->requester, &groups, &seen_at);

	if (rc == JG_ENOTFOUND)
		groups = json_incref(r->groups); /* never seen since: as when it was asked */
	else if (rc != 0)
		return jg_errf(why, whylen, JG_EUNAVAIL, "the groups seen cannot be read");
	rc = jg_access_requalify_with(ctx->policies, r, groups, why, whylen);
	json_decref(groups);
	return rc;
}

/* ---- notifications (in the transaction of the change; notify.h) -------------------- */

/* Queues event `type` about r; approvers NULL: those of its requirements. */
int
jg_access_notice(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, const char *type,
		 const struct req *r, unsigned audiences, json_t *approvers)
{
	if (!jg_notify_active(ctx->notify))
		return 0;
	json_t *o = jg_access_req_json(conn, r);
	if (o == NULL)
		return JG_ENOMEM;
	json_object_set(o, "requester_groups", r->groups);
	int rc = jg_notify_request(ctx->notify, conn, type, o, audiences, approvers);
	json_decref(o);
	return rc;
}

/* Break-glass is told to those who review it (the service's approvers) and to security. */
int
jg_access_notice_break_glass(const struct jg_access_ctx *ctx, struct jg_store_conn *conn,
			     const char *type, const struct req *r)
{
	if (!jg_notify_active(ctx->notify))
		return 0;
	json_t *reviewers = jg_policy_reviewers(ctx->policies, r->service);
	if (reviewers == NULL)
		return JG_ENOMEM;
	int rc = jg_access_notice(ctx, conn, type, r, JG_NOTIFY_APPROVERS | JG_NOTIFY_SECURITY,
				  reviewers);
	json_decref(reviewers);
	return rc;
}

/* ---- what a request and an extension share (access.c, access_extend.c) -------------- */

/*
 * A policy decision as an entry holds it: a copy whose incident (taken from
 * the justification) and reason are marked.  NULL when it cannot be built.
 */
json_t *
jg_access_entry_decision(const struct jg_access_ctx *ctx, const json_t *decision)
{
	json_t *d = json_deep_copy(decision);
	const char *keys[] = {"incident", "reason"};

	for (size_t i = 0; d != NULL && i < 2; i++) {
		const char *t = json_string_value(json_object_get(d, keys[i]));
		if (t != NULL && jg_access_entry_text(ctx, d, keys[i], t) != 0) {
			json_decref(d);
			d = NULL;
		}
	}
	return d;
}

json_t *
jg_access_groups_json(const struct jg_access_caller *c)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->ngroups; i++)
		json_array_append_new(a, json_string(c->groups[i]));
	return a;
}

/* body's "duration" (whole seconds, or "30m", "1h", ...) into *dur: 0 or JG_EINVAL. */
int
jg_access_body_duration(json_t *body, const char *seconds_mean, int64_t *dur, char *why,
			size_t whylen)
{
	json_t *v = json_object_get(body, "duration");
	if (json_is_integer(v))
		*dur = json_integer_value(v);
	else if (!json_is_string(v) || jg_policy_duration_parse(json_string_value(v), dur) != 0)
		return jg_errf(why, whylen, JG_EINVAL,
			       "'duration' is required: %s, or a duration such as \"30m\" or "
			       "\"1h\"",
			       seconds_mean);
	if (*dur <= 0 || *dur > JG_POLICY_MAX_DURATION)
		return jg_errf(why, whylen, JG_EINVAL,
			       "'duration' must be between 1 second and 30 days");
	return 0;
}

/* body's "justification" (borrowed): 0 or JG_EINVAL. */
int
jg_access_body_justification(json_t *body, const char **just, char *why, size_t whylen)
{
	json_t *v = json_object_get(body, "justification");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return jg_errf(why, whylen, JG_EINVAL, "'justification' is required");
	if (json_string_length(v) > JG_POLICY_MAX_JUSTIFICATION ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    !jg_utf8_valid(json_string_value(v), json_string_length(v)))
		return jg_errf(why, whylen, JG_EINVAL,
			       "'justification' is too long, holds NUL or is not UTF-8");
	*just = json_string_value(v);
	return 0;
}
