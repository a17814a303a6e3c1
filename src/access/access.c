/*
 * access.c - the request lifecycle (see access.h).
 *
 * Every operation that changes something is a work function run by the
 * audit writer: it reads the request inside the transaction, checks the
 * transition is allowed for this caller, writes the new state and appends
 * exactly one audit entry.  Reads (get, list) use a pool connection.
 * Free text a person wrote (reasons, review notes, the incident id taken
 * from a justification, a refusal's message that quotes the body) enters
 * an entry only through entry_text(): personal data in it becomes keyed
 * markers (pii.h), since the log can never be edited.  Identities (actor,
 * requester, approvers) are written as they are.
 *
 * A transition refused to a signed-in caller for lack of rights changes
 * nothing and records a request.action_refused entry instead, within a
 * per-identity budget kept in the action_refusals table (see "refused
 * actions" below and migrations/0014_action_refusals.sql).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/canon.h"
#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/notify.h"
#include "jitgate/pii.h"
#include "jitgate/session.h"

#define MAX_LIST   200
#define MAX_REASON 1000

static int fail(char *why, size_t whylen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Sets data[key] to text with its personal data marked (pii.h).  Returns 0
 * or JG_ENOMEM: then the entry must not be written (never the text in clear).
 */
static int
entry_text(const struct jg_access_ctx *ctx, json_t *data, const char *key, const char *text)
{
	json_t *s = jg_pii_string(ctx->pii, text ? text : "");

	/* json_object_set_new releases s also when it fails, and fails for NULL */
	return data != NULL && json_object_set_new(data, key, s) == 0 ? 0 : JG_ENOMEM;
}

/*
 * A policy decision as an entry holds it: a copy whose incident (taken from
 * the justification) and reason are marked.  NULL when it cannot be built.
 */
static json_t *
entry_decision(const struct jg_access_ctx *ctx, const json_t *decision)
{
	json_t *d = json_deep_copy(decision);
	const char *keys[] = {"incident", "reason"};

	for (size_t i = 0; d != NULL && i < 2; i++) {
		const char *t = json_string_value(json_object_get(d, keys[i]));
		if (t != NULL && entry_text(ctx, d, keys[i], t) != 0) {
			json_decref(d);
			d = NULL;
		}
	}
	return d;
}

/* ---- a request row ---------------------------------------------------------- */

struct req {
	char id[64];
	char requester[256];
	char service[64];
	char state[16];
	json_t *capabilities, *decision, *groups;
	int64_t duration, created_at, pending_until, approved_at, expires_at, ended_at, reviewed_at;
	int break_glass;
	char justification[JG_POLICY_MAX_JUSTIFICATION + 1];
	char incident[JG_POLICY_INCIDENT_MAX + 1];
	char end_reason[MAX_REASON + 1], ended_by[300], reviewed_by[300],
	    review_note[MAX_REASON + 1];
};

static void
req_clear(struct req *r)
{
	json_decref(r->capabilities);
	json_decref(r->decision);
	json_decref(r->groups);
	memset(r, 0, sizeof(*r));
}

static const char sql_req_get[] =
    "SELECT id, requester, service, state, capabilities, decision, requester_groups, duration, "
    "created_at, pending_until, approved_at, expires_at, ended_at, break_glass, justification, "
    "incident, end_reason, ended_by, reviewed_by, reviewed_at, review_note "
    "FROM access_requests WHERE id = ?";

static void
text_col(struct jg_stmt *st, int col, char *out, size_t len)
{
	const char *v = jg_stmt_column_text(st, col);
	snprintf(out, len, "%s", v ? v : "");
}

static void
row_to_req(struct jg_stmt *st, struct req *r)
{
	text_col(st, 0, r->id, sizeof(r->id));
	text_col(st, 1, r->requester, sizeof(r->requester));
	text_col(st, 2, r->service, sizeof(r->service));
	text_col(st, 3, r->state, sizeof(r->state));
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
	text_col(st, 14, r->justification, sizeof(r->justification));
	text_col(st, 15, r->incident, sizeof(r->incident));
	text_col(st, 16, r->end_reason, sizeof(r->end_reason));
	text_col(st, 17, r->ended_by, sizeof(r->ended_by));
	text_col(st, 18, r->reviewed_by, sizeof(r->reviewed_by));
	r->reviewed_at = jg_stmt_column_int64(st, 19);
	text_col(st, 20, r->review_note, sizeof(r->review_note));
}

static int
load(struct jg_store_conn *conn, const char *id, struct req *r)
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

struct tally {
	size_t nreq;
	int count[JG_POLICY_MAX_REQUIREMENTS];
	bool shared[JG_POLICY_MAX_REQUIREMENTS];
	size_t n, room; /* approvers, in approval order; allocated for room */
	size_t cap;	/* at most this many */
	char **who;	/* owned */
	int64_t *at;	/* when each approved */
	uint32_t *elig; /* what each was eligible for */
	uint32_t *counted;
	struct jg_policy_match m; /* after tally_run */
};

static void
tally_free(struct tally *t)
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
static int
tally_add(struct tally *t, const char *who, int64_t at, uint32_t elig)
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
static int
tally_load(struct jg_store_conn *conn, const struct req *r, size_t extra, struct tally *t)
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
		tally_free(t);
		return JG_ESTORE;
	}
	jg_stmt_bind_text(st, 1, r->id);
	while (rc == 0 && (rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		int64_t k = jg_stmt_column_int64(st, 1);
		const char *who = jg_stmt_column_text(st, 0);
		rc = 0;
		if (who != NULL && k >= 0 && (size_t)k < t->nreq)
			rc = tally_add(t, who, jg_stmt_column_int64(st, 2), 1u << k);
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE && rc != 0) {
		tally_free(t);
		return rc == JG_ENOMEM ? JG_ENOMEM : JG_ESTORE;
	}
	t->cap += extra; /* and room beyond it for the approvals being weighed */
	return 0;
}

/* Which approvals count toward which requirements (into t->m and t->counted). */
static int
tally_run(struct tally *t)
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

static json_t *
bits(uint32_t v)
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

static json_t *
to_json(struct jg_store_conn *conn, const struct req *r)
{
	json_t *approvals = NULL, *progress = NULL;
	struct tally t;

	/* a request whose approvals cannot be read shows none rather than guesses */
	if (tally_load(conn, r, 0, &t) == 0) {
		if (tally_run(&t) == 0)
			tally_json(&t, requirements_of(r), &approvals, &progress);
		tally_free(&t);
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
static uint32_t
eligibility(const struct req *r, const struct jg_access_caller *c)
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
static int
is_approver(const struct req *r, const struct jg_access_caller *c)
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

static int
can_review(const struct jg_access_ctx *ctx, const struct req *r, const struct jg_access_caller *c)
{
	return c->is_admin ||
	       jg_policy_can_review(ctx->policies, r->service, c->sub, c->groups, c->ngroups);
}

static int
may_see(const struct jg_access_ctx *ctx, const struct req *r, const struct jg_access_caller *c)
{
	return c->is_admin || c->is_auditor || strcmp(r->requester, c->sub) == 0 ||
	       is_approver(r, c) || (r->break_glass && can_review(ctx, r, c));
}

/* ---- notifications (in the transaction of the change; notify.h) -------------------- */

/* Queues event `type` about r; approvers NULL: those of its requirements. */
static int
notice(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, const char *type,
       const struct req *r, unsigned audiences, json_t *approvers)
{
	if (!jg_notify_active(ctx->notify))
		return 0;
	json_t *o = to_json(conn, r);
	if (o == NULL)
		return JG_ENOMEM;
	json_object_set(o, "requester_groups", r->groups);
	int rc = jg_notify_request(ctx->notify, conn, type, o, audiences, approvers);
	json_decref(o);
	return rc;
}

/* Break-glass is told to those who review it (the service's approvers) and to security. */
static int
notice_break_glass(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, const char *type,
		   const struct req *r)
{
	if (!jg_notify_active(ctx->notify))
		return 0;
	json_t *reviewers = jg_policy_reviewers(ctx->policies, r->service);
	if (reviewers == NULL)
		return JG_ENOMEM;
	int rc = notice(ctx, conn, type, r, JG_NOTIFY_APPROVERS | JG_NOTIFY_SECURITY, reviewers);
	json_decref(reviewers);
	return rc;
}

/* ---- input --------------------------------------------------------------------- */

struct new_req {
	const char *service, *justification;
	const char *caps[JG_POLICY_MAX_REQUEST_CAPS];
	size_t ncaps;
	int64_t duration;
	int break_glass;
};

static int
valid_service(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

/*
 * A string of the body made safe for a message: printable ASCII (other bytes
 * become '?'), at most 64 bytes.  A plain "%.64s" could cut a UTF-8 sequence,
 * and an invalid string makes the reply and the audit entry unencodable.
 */
static const char *
shown(char *dst, size_t len, const char *s)
{
	size_t j = 0;
	for (; s != NULL && *s != '\0' && j < 64 && j + 4 < len; s++)
		dst[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (s != NULL && *s != '\0' && j + 4 <= len) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
	return dst;
}

static int
parse_new(const struct jg_access_ctx *ctx, json_t *body, struct new_req *n, char *why,
	  size_t whylen)
{
	char safe[72];
	static const char *const allowed[] = {"service", "capabilities", "duration",
					      "justification", "break_glass"};
	const char *key;
	json_t *v;

	memset(n, 0, sizeof(*n));
	json_object_foreach(body, key, v)
	{
		int ok = 0;
		for (size_t i = 0; i < 5; i++)
			ok |= strcmp(key, allowed[i]) == 0;
		if (!ok)
			return fail(why, whylen, JG_EINVAL, "unknown field '%s'",
				    shown(safe, sizeof(safe), key));
	}
	v = json_object_get(body, "service");
	if (!json_is_string(v))
		return fail(why, whylen, JG_EINVAL, "'service' is required (a service name)");
	n->service = json_string_value(v);
	if (!valid_service(n->service))
		return fail(why, whylen, JG_EINVAL,
			    "'service' must be lower-case letters, digits, '-' or '.', at most 63");
	v = json_object_get(body, "capabilities");
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > JG_POLICY_MAX_REQUEST_CAPS)
		return fail(why, whylen, JG_EINVAL,
			    "'capabilities' must be a non-empty list of capability names");
	size_t i;
	json_t *c;
	json_array_foreach(v, i, c)
	{
		if (!json_is_string(c) || !jg_policy_capability_known(json_string_value(c)))
			return fail(
			    why, whylen, JG_EINVAL,
			    "unknown capability '%s' (read-logs, read-traces, read-metrics, "
			    "deploy-probe, read-pii)",
			    json_is_string(c) ? shown(safe, sizeof(safe), json_string_value(c))
					      : "?");
		int dup = 0; /* ["read-logs","read-logs"] is one capability */
		for (size_t k = 0; k < n->ncaps; k++)
			dup |= strcmp(n->caps[k], json_string_value(c)) == 0;
		if (!dup)
			n->caps[n->ncaps++] = json_string_value(c);
	}
	v = json_object_get(body, "duration");
	if (json_is_integer(v))
		n->duration = json_integer_value(v);
	else if (!json_is_string(v) ||
		 jg_policy_duration_parse(json_string_value(v), &n->duration) != 0)
		return fail(
		    why, whylen, JG_EINVAL,
		    "'duration' is required: whole seconds, or a duration such as \"30m\" or "
		    "\"1h\"");
	if (n->duration <= 0 || n->duration > JG_POLICY_MAX_DURATION)
		return fail(why, whylen, JG_EINVAL,
			    "'duration' must be between 1 second and 30 days");
	v = json_object_get(body, "justification");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(why, whylen, JG_EINVAL, "'justification' is required");
	if (json_string_length(v) > JG_POLICY_MAX_JUSTIFICATION ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return fail(why, whylen, JG_EINVAL, "'justification' is too long or holds NUL");
	n->justification = json_string_value(v);
	v = json_object_get(body, "break_glass");
	if (v != NULL && !json_is_boolean(v))
		return fail(why, whylen, JG_EINVAL, "'break_glass' must be true or false");
	n->break_glass = json_is_true(v);
	if (!jg_policy_service_known(ctx->policies, n->service))
		return fail(why, whylen, JG_EINVAL, "unknown service '%s': no policy covers it",
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
				       .break_glass = n->break_glass};
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
		rc = fail(why, whylen, JG_EUNAVAIL, "the policy could not be evaluated");
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

static json_t *
groups_json(const struct jg_access_caller *c)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->ngroups; i++)
		json_array_append_new(a, json_string(c->groups[i]));
	return a;
}

static const char sql_req_insert[] =
    "INSERT INTO access_requests (id, requester, requester_groups, service, capabilities, "
    "duration, justification, incident, break_glass, state, decision, policy_sha256, created_at, "
    "pending_until, approved_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?)";

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
		/* the message may quote the body (an unknown field's name) */
		rc = entry_text(ctx, data, "reason", j->why);
		if (rc == 0)
			rc =
			    jg_audit_tx_append(tx, "request.refused", j->caller->actor, data, NULL);
		json_decref(data);
		return rc;
	}
	if (evaluate(ctx, j->caller, &n, &d) != 0 ||
	    jg_policy_decision_to_json(&d, &decision) != 0) {
		jg_policy_decision_clear(&d);
		return fail(j->why, j->whylen, JG_EUNAVAIL, "the policy could not be evaluated");
	}
	json_t *capsj = json_array();
	for (size_t i = 0; i < n.ncaps; i++)
		json_array_append_new(capsj, json_string(n.caps[i]));
	if (d.outcome == JG_POLICY_DENY) {
		j->outcome = JG_EDENIED;
		snprintf(j->why, j->whylen, "%s", d.reason ? d.reason : "denied by policy");
		data = json_pack("{s:s,s:O,s:I,s:b,s:o*}", "service", n.service, "capabilities",
				 capsj, "duration", (json_int_t)n.duration, "break_glass",
				 n.break_glass, "decision", entry_decision(ctx, decision));
		rc = data && json_object_get(data, "decision")
			 ? jg_audit_tx_append(tx, "request.denied", j->caller->actor, data, NULL)
			 : JG_ENOMEM;
		json_decref(data);
		j->out = json_pack("{s:O}", "decision", decision);
		goto out;
	}
	const char *state = d.outcome == JG_POLICY_GRANT ? "active" : "pending";
	char rnd[32];
	if ((rc = jg_random_token(16, rnd, sizeof(rnd))) != 0)
		goto out;
	snprintf(id, sizeof(id), "req_%s", rnd);
	caps = json_dumps(capsj, JSON_COMPACT);
	dec = json_dumps(decision, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *gj = groups_json(j->caller);
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
		jg_stmt_bind_int64(st, 14, ctx->now + ctx->pending_ttl);
		jg_stmt_bind_null(st, 15);
		jg_stmt_bind_null(st, 16);
	} else {
		jg_stmt_bind_null(st, 14);
		jg_stmt_bind_int64(st, 15, ctx->now);
		jg_stmt_bind_int64(st, 16, ctx->now + n.duration);
	}
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		goto out;
	data = json_pack("{s:s,s:s,s:O,s:I,s:s,s:b,s:o*}", "request", id, "service", n.service,
			 "capabilities", capsj, "duration", (json_int_t)n.duration, "state", state,
			 "break_glass", d.break_glass, "decision", entry_decision(ctx, decision));
	rc = data && json_object_get(data, "decision") ? 0 : JG_ENOMEM;
	if (rc == 0 && d.incident[0])
		rc = entry_text(ctx, data, "incident", d.incident);
	if (rc == 0)
		rc = jg_audit_tx_append(tx, "request.created", j->caller->actor, data, NULL);
	json_decref(data);
	if (rc != 0)
		goto out;
	struct req r;
	if ((rc = load(conn, id, &r)) == 0) {
		j->out = to_json(conn, &r);
		if (strcmp(r.state, "pending") == 0)
			rc = notice(ctx, conn, "request.pending", &r, JG_NOTIFY_APPROVERS, NULL);
		else if (r.break_glass)
			rc = notice_break_glass(ctx, conn, "break_glass.used", &r);
		req_clear(&r);
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

/* ---- refused actions ------------------------------------------------------------------ */

static const char sql_refusals_get[] =
    "SELECT window_start, recorded, suppressed, actions FROM action_refusals WHERE actor = ?";
static const char sql_refusals_put[] =
    "INSERT OR REPLACE INTO action_refusals (actor, window_start, recorded, suppressed, actions) "
    "VALUES (?, ?, ?, ?, ?)";
static const char sql_refusals_due[] =
    "SELECT actor, window_start, recorded, suppressed, actions FROM action_refusals "
    "WHERE window_start <= ? AND suppressed > 0 LIMIT 32";
static const char sql_refusals_del[] = "DELETE FROM action_refusals WHERE actor = ?";
static const char sql_refusals_quiet[] =
    "DELETE FROM action_refusals WHERE window_start <= ? AND suppressed = 0";

/* One identity's budget: the window it is in and what it counted. */
struct budget {
	char actor[300];
	int64_t start, recorded, suppressed;
	json_t *actions; /* the suppressed ones by action */
};

static int64_t
refusal_window(const struct jg_access_ctx *ctx)
{
	return ctx->refusals_window > 0 ? ctx->refusals_window : JG_ACCESS_REFUSALS_WINDOW;
}

static int
budget_row(struct jg_stmt *st, int col, struct budget *b)
{
	b->start = jg_stmt_column_int64(st, col);
	b->recorded = jg_stmt_column_int64(st, col + 1);
	b->suppressed = jg_stmt_column_int64(st, col + 2);
	const char *text = jg_stmt_column_text(st, col + 3);
	b->actions = text ? json_loads(text, 0, NULL) : NULL;
	return json_is_object(b->actions) ? 0 : JG_ESTORE;
}

/* The summary of a window that is over and left refusals out of the log. */
static int
budget_summary(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const struct budget *b)
{
	json_t *data = json_pack("{s:I,s:I,s:O,s:I,s:I}", "suppressed", (json_int_t)b->suppressed,
				 "recorded", (json_int_t)b->recorded, "actions", b->actions,
				 "window_start", (json_int_t)b->start, "window_end",
				 (json_int_t)(b->start + refusal_window(ctx)));
	int rc = data ? jg_audit_tx_append(tx, "request.action_refusals_suppressed", b->actor, data,
					   NULL)
		      : JG_ENOMEM;
	json_decref(data);
	return rc;
}

/*
 * Records that caller was refused action (data, borrowed: what it was
 * attempted on; gets "action" and "reason"), within the caller's budget:
 * the first refusals_recorded of a window are request.action_refused
 * entries, the rest only counted.  A window that is over is summed up
 * first (when it suppressed any) and a new one begins.
 */
static int
record_refusal(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
	       const struct jg_access_caller *caller, const char *action, json_t *data,
	       const char *reason)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	int64_t allowed =
	    ctx->refusals_recorded > 0 ? ctx->refusals_recorded : JG_ACCESS_REFUSALS_RECORDED;
	struct budget b = {.start = ctx->now};
	struct jg_stmt *st;
	char *actions = NULL;
	int rc;

	snprintf(b.actor, sizeof(b.actor), "%s", caller->actor);
	if (jg_stmt_prepare(conn, sql_refusals_get, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, b.actor);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW)
		rc = budget_row(st, 0, &b);
	else
		rc = rc == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc == 0 && b.actions != NULL && ctx->now >= b.start + refusal_window(ctx)) {
		/* the window is over: its summary, then a new window from this refusal */
		if (b.suppressed > 0)
			rc = budget_summary(tx, ctx, &b);
		json_decref(b.actions);
		b.actions = NULL;
		b.start = ctx->now;
		b.recorded = b.suppressed = 0;
	}
	if (rc == 0 && b.actions == NULL && (b.actions = json_object()) == NULL)
		rc = JG_ENOMEM;
	if (rc != 0)
		goto out;
	if (b.recorded < allowed) {
		b.recorded++;
		json_object_set_new(data, "action", json_string(action));
		/* jitgate's own words, but they may quote what the caller sent */
		rc = entry_text(ctx, data, "reason", reason);
		if (rc == 0)
			rc = jg_audit_tx_append(tx, "request.action_refused", b.actor, data, NULL);
	} else {
		b.suppressed++;
		json_t *n = json_object_get(b.actions, action);
		rc = json_object_set_new(b.actions, action,
					 json_integer(json_integer_value(n) + 1)) == 0
			 ? 0
			 : JG_ENOMEM;
	}
	if (rc == 0 && (actions = json_dumps(b.actions, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		rc = JG_ENOMEM;
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_refusals_put, &st)) == 0) {
		jg_stmt_bind_text(st, 1, b.actor);
		jg_stmt_bind_int64(st, 2, b.start);
		jg_stmt_bind_int64(st, 3, b.recorded);
		jg_stmt_bind_int64(st, 4, b.suppressed);
		jg_stmt_bind_text(st, 5, actions);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
out:
	free(actions);
	json_decref(b.actions);
	return rc;
}

/* Summaries of the windows that are over and suppressed refusals; quiet ones are dropped. */
static int
sweep_refusals(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	int64_t ended = ctx->now - refusal_window(ctx);
	struct budget due[32];
	size_t n = 0;
	struct jg_stmt *st;
	int rc = 0;

	if (jg_stmt_prepare(conn, sql_refusals_due, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, ended);
	while (rc == 0 && n < 32 && jg_stmt_step(st) == JG_STMT_ROW) {
		text_col(st, 0, due[n].actor, sizeof(due[n].actor));
		rc = budget_row(st, 1, &due[n]);
		n++;
	}
	jg_stmt_finish(st);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = budget_summary(tx, ctx, &due[i])) != 0 ||
		    (rc = jg_stmt_prepare(conn, sql_refusals_del, &st)) != 0)
			break;
		jg_stmt_bind_text(st, 1, due[i].actor);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	for (size_t i = 0; i < n; i++)
		json_decref(due[i].actions);
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_refusals_quiet, &st)) == 0) {
		jg_stmt_bind_int64(st, 1, ended);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	return rc;
}

/* ---- transitions on one request ---------------------------------------------------- */

enum op { OP_APPROVE, OP_DENY, OP_CANCEL, OP_REVOKE, OP_REVIEW };

static const char *const op_names[] = {"approve", "deny", "cancel", "revoke", "review"};

struct op_job {
	const struct jg_access_ctx *ctx;
	const struct jg_access_caller *caller;
	enum op op;
	const char *id, *text;
	json_t *out;
	int refused; /* the refusal answered (JG_EDENIED, JG_ENOTFOUND) after recording it */
	char *why;
	size_t whylen;
};

static const char sql_set_state[] =
    "UPDATE access_requests SET state = ?, ended_at = ?, end_reason = ?, ended_by = ? WHERE id = ?";
static const char sql_activate[] =
    "UPDATE access_requests SET state = 'active', approved_at = ?, expires_at = ? WHERE id = ?";
static const char sql_approval_insert[] =
    "INSERT INTO approvals (request_id, approver, requirement, created_at) VALUES (?, ?, ?, ?)";
static const char sql_review[] =
    "UPDATE access_requests SET reviewed_by = ?, reviewed_at = ?, review_note = ? WHERE id = ?";

static int
end_request(struct jg_store_conn *conn, const char *id, const char *state, int64_t now,
	    const char *reason, const char *by)
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_set_state, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, state);
	jg_stmt_bind_int64(st, 2, now);
	jg_stmt_bind_text(st, 3, reason ? reason : "");
	jg_stmt_bind_text(st, 4, by);
	jg_stmt_bind_text(st, 5, id);
	int rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

/* {approver: [requirements]} for the audit entry: who counts toward what after this approval. */
static json_t *
assignment_json(const struct tally *t)
{
	json_t *a = json_array();
	for (size_t p = 0; a != NULL && p < t->n; p++)
		json_array_append_new(a, json_pack("{s:s,s:o*}", "approver", t->who[p],
						   "requirements", bits(t->counted[p])));
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
	uint32_t mine = eligibility(r, j->caller);
	struct tally t;
	int rc, before;

	if (mine == 0)
		return fail(j->why, j->whylen, JG_EDENIED,
			    "you are not an eligible approver of this request");
	if ((rc = tally_load(conn, r, 1, &t)) != 0)
		return rc;
	for (size_t p = 0; p < t.n; p++)
		if (strcmp(t.who[p], j->caller->sub) == 0) {
			tally_free(&t);
			return fail(j->why, j->whylen, JG_ECONFLICT,
				    "you have already approved this request; one person counts "
				    "once");
		}
	if ((rc = tally_run(&t)) != 0)
		goto out;
	before = t.m.total;
	if ((rc = tally_add(&t, j->caller->sub, j->ctx->now, mine)) != 0 ||
	    (rc = tally_run(&t)) != 0)
		goto out;
	if (t.m.total <= before) {
		rc = fail(j->why, j->whylen, JG_ECONFLICT,
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
	json_object_set_new(data, "requirements_counted", bits(t.counted[t.n - 1]));
	json_object_set_new(data, "eligible_for", bits(mine));
	json_object_set_new(data, "assignment", assignment_json(&t));
	json_object_set_new(data, "activated", json_boolean(t.m.met));
	if (t.m.met) {
		struct jg_stmt *st;
		if (jg_stmt_prepare(conn, sql_activate, &st) != 0) {
			rc = JG_ESTORE;
			goto out;
		}
		jg_stmt_bind_int64(st, 1, j->ctx->now);
		jg_stmt_bind_int64(st, 2, j->ctx->now + r->duration);
		jg_stmt_bind_text(st, 3, r->id);
		int step = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (step != JG_STMT_DONE) {
			rc = JG_ESTORE;
			goto out;
		}
		json_object_set_new(data, "expires_at", json_integer(j->ctx->now + r->duration));
	}
out:
	tally_free(&t);
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
	int rc =
	    data ? record_refusal(tx, j->ctx, j->caller, op_names[j->op], data, j->why) : JG_ENOMEM;
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

	if ((rc = load(conn, j->id, &r)) != 0)
		return rc == JG_ENOTFOUND ? fail(j->why, j->whylen, rc, "no such request") : rc;
	if (!may_see(j->ctx, &r, c)) {
		/* it exists: an attempt on it is recorded, and answered as if it did not */
		snprintf(j->why, j->whylen, "the request is not visible to this caller");
		rc = op_refused(tx, j, &r, JG_ENOTFOUND);
		req_clear(&r);
		snprintf(j->why, j->whylen, "no such request");
		return rc;
	}
	own = strcmp(r.requester, c->sub) == 0;
	json_t *data = json_pack("{s:s,s:s}", "request", r.id, "service", r.service);
	switch (j->op) {
	case OP_APPROVE:
	case OP_DENY:
		if (own) {
			rc = fail(j->why, j->whylen, JG_EDENIED,
				  "you cannot approve or deny your own request");
			break;
		}
		if (strcmp(r.state, "pending") != 0) {
			rc = fail(j->why, j->whylen, JG_ECONFLICT, "the request is %s, not pending",
				  r.state);
			break;
		}
		if (j->op == OP_APPROVE) {
			rc = approve(j, conn, &r, data);
			type = "request.approved";
		} else if (!is_approver(&r, c)) {
			rc = fail(j->why, j->whylen, JG_EDENIED,
				  "you are not an eligible approver of this request");
		} else {
			rc = end_request(conn, r.id, "denied", j->ctx->now, j->text, c->actor);
			if (rc == 0)
				rc = entry_text(j->ctx, data, "reason", j->text);
			type = "request.denied";
		}
		break;
	case OP_CANCEL:
		if (!own) {
			rc = fail(j->why, j->whylen, JG_EDENIED, "only the requester can cancel");
			break;
		}
		if (strcmp(r.state, "pending") != 0) {
			rc = fail(j->why, j->whylen, JG_ECONFLICT, "the request is %s, not pending",
				  r.state);
			break;
		}
		rc = end_request(conn, r.id, "cancelled", j->ctx->now, "cancelled by the requester",
				 c->actor);
		type = "request.cancelled";
		break;
	case OP_REVOKE:
		if (!own && !c->is_admin && !is_approver(&r, c) && !can_review(j->ctx, &r, c)) {
			rc = fail(j->why, j->whylen, JG_EDENIED,
				  "only the requester, an approver or an admin can revoke");
			break;
		}
		if (strcmp(r.state, "active") != 0) {
			rc = fail(j->why, j->whylen, JG_ECONFLICT, "the grant is %s, not active",
				  r.state);
			break;
		}
		rc = end_request(conn, r.id, "revoked", j->ctx->now,
				 j->text && *j->text ? j->text : "revoked", c->actor);
		if (rc == 0)
			rc = entry_text(j->ctx, data, "reason", j->text);
		type = "grant.revoked";
		break;
	case OP_REVIEW:
		if (!r.break_glass) {
			rc = fail(j->why, j->whylen, JG_ECONFLICT,
				  "only break-glass grants are reviewed");
			break;
		}
		if (own || !can_review(j->ctx, &r, c)) {
			rc = fail(j->why, j->whylen, JG_EDENIED,
				  own ? "you cannot review your own break-glass access"
				      : "you are not a reviewer for this service");
			break;
		}
		if (r.reviewed_at) {
			rc = fail(j->why, j->whylen, JG_ECONFLICT, "already reviewed by %s",
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
			rc = entry_text(j->ctx, data, "note", j->text);
		type = "grant.reviewed";
		break;
	}
	if (rc == JG_EDENIED) {
		/* every JG_EDENIED above comes before any change (approve() too) */
		json_decref(data);
		rc = op_refused(tx, j, &r, rc);
		req_clear(&r);
		return rc;
	}
	if (rc == 0)
		rc = jg_audit_tx_append(tx, type, c->actor, data, NULL);
	json_decref(data);
	req_clear(&r);
	if (rc == 0 && (rc = load(conn, j->id, &r)) == 0) {
		j->out = to_json(conn, &r);
		/* the requester hears of every decision about their request */
		const char *told = j->op == OP_APPROVE && strcmp(r.state, "active") == 0
				       ? "request.approved"
				   : j->op == OP_DENY	? "request.denied"
				   : j->op == OP_CANCEL ? "request.cancelled"
				   : j->op == OP_REVOKE ? "grant.revoked"
							: NULL;
		if (told)
			rc = notice(j->ctx, conn, told, &r, JG_NOTIFY_REQUESTER, NULL);
		req_clear(&r);
	}
	return rc;
}

static int
do_op(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller, enum op op,
      const char *id, const char *text, json_t **out, char *why, size_t whylen)
{
	struct op_job j = {.ctx = ctx,
			   .caller = caller,
			   .op = op,
			   .id = id,
			   .text = text,
			   .why = why,
			   .whylen = whylen};
	int rc = run(ctx, op_fn, &j, why, whylen);
	if (rc == 0 && j.refused)
		rc = j.refused; /* recorded as refused; j.out is NULL */
	*out = rc == 0 ? j.out : NULL;
	if (rc != 0)
		json_decref(j.out);
	return rc;
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
	if (reason == NULL || *reason == '\0' || strlen(reason) > MAX_REASON)
		return fail(why, whylen, JG_EINVAL, "'reason' is required (at most %d bytes)",
			    MAX_REASON);
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
	if (reason && strlen(reason) > MAX_REASON)
		return fail(why, whylen, JG_EINVAL, "'reason' is longer than %d bytes", MAX_REASON);
	return do_op(ctx, caller, OP_REVOKE, id, reason, out, why, whylen);
}

int
jg_access_review(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		 const char *id, const char *note, json_t **out, char *why, size_t whylen)
{
	if (note && strlen(note) > MAX_REASON)
		return fail(why, whylen, JG_EINVAL, "'note' is longer than %d bytes", MAX_REASON);
	return do_op(ctx, caller, OP_REVIEW, id, note, out, why, whylen);
}

/* ---- many requests at once ------------------------------------------------------------ */

static const char sql_of_user[] =
    "SELECT id, state FROM access_requests WHERE requester = ? AND state IN ('active', 'pending')";

static const char sql_user_sessions_del[] = "DELETE FROM sessions WHERE sub = ?";

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
		text_col(st, 0, ids[n], sizeof(ids[n]));
		text_col(st, 1, states[n], sizeof(states[n]));
		n++;
	}
	jg_stmt_finish(st);
	if (n < 256 && rc != JG_STMT_DONE)
		return JG_ESTORE;
	rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		int active = strcmp(states[i], "active") == 0;
		rc = end_request(conn, ids[i], active ? "revoked" : "cancelled", j->ctx->now,
				 "user off-boarded", j->caller->actor);
		if (rc != 0)
			break;
		json_t *data = json_pack("{s:s,s:s,s:s}", "request", ids[i], "user", j->sub,
					 "reason", "user off-boarded");
		rc = jg_audit_tx_append(tx, active ? "grant.revoked" : "request.cancelled",
					j->caller->actor, data, NULL);
		json_decref(data);
		if (active)
			j->revoked++;
		else
			j->cancelled++;
	}
	if (rc == 0 && n == 256)
		goto next_batch; /* each one ended is no longer active or pending */
	if (rc == 0) {
		/* signed-in browser sessions end with the access */
		if (jg_stmt_prepare(conn, sql_user_sessions_del, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_text(st, 1, j->sub);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (rc == 0) {
		/* the off-boarding itself, even when nothing was open */
		json_t *data = json_pack("{s:s,s:i,s:i}", "user", j->sub, "revoked", j->revoked,
					 "cancelled", j->cancelled);
		rc = jg_audit_tx_append(tx, "user.offboarded", j->caller->actor, data, NULL);
		json_decref(data);
	}
	return rc;
}

/* A refused off-boarding, recorded as request.action_refused (the user as given, escaped). */
static int
offboard_refused_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct user_job *j = vctx;
	json_t *data =
	    json_pack("{s:o}", "user", jg_canon_string_escaped(j->sub ? j->sub : "", 256));
	int rc = data ? record_refusal(tx, j->ctx, j->caller, "offboard", data,
				       "off-boarding needs admin rights")
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
		return fail(why, whylen, JG_EDENIED, "off-boarding needs admin rights");
	}
	if (sub == NULL || *sub == '\0' || strlen(sub) > 255)
		return fail(why, whylen, JG_EINVAL, "a user (sub) is required");
	int rc = run(ctx, user_fn, &j, why, whylen);
	if (rc == 0)
		*out = json_pack("{s:s,s:i,s:i}", "user", sub, "revoked", j.revoked, "cancelled",
				 j.cancelled);
	return rc;
}

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
		text_col(st, 0, ids[n], sizeof(ids[n]));
		text_col(st, 1, states[n], sizeof(states[n]));
		n++;
	}
	jg_stmt_finish(st);
	for (int i = 0; i < n && rc == 0; i++) {
		int active = strcmp(states[i], "active") == 0;
		rc = end_request(conn, ids[i], "expired", j->ctx->now,
				 active ? "the grant's time ran out" : "no decision in time",
				 "system");
		if (rc != 0)
			break;
		json_t *data = json_pack("{s:s,s:s}", "request", ids[i], "was", states[i]);
		rc = jg_audit_tx_append(tx, active ? "grant.expired" : "request.expired", "system",
					data, NULL);
		json_decref(data);
		struct req r;
		if (rc == 0 && jg_notify_active(j->ctx->notify) &&
		    (rc = load(conn, ids[i], &r)) == 0) {
			rc = notice(j->ctx, conn, active ? "grant.expired" : "request.expired", &r,
				    JG_NOTIFY_REQUESTER, NULL);
			req_clear(&r);
		}
		j->ended++;
	}
	if (rc == 0)
		rc = sweep_refusals(tx, j->ctx);
	return rc;
}

int
jg_access_sweep(const struct jg_access_ctx *ctx, int *ended)
{
	struct sweep_job j = {.ctx = ctx};
	int rc = jg_audit_run(ctx->audit, sweep_fn, &j);
	*ended = rc == 0 ? j.ended : 0;
	return rc;
}

/* ---- time-based notifications ----------------------------------------------------------- */

static const char sql_mark[] =
    "INSERT OR IGNORE INTO notify_marks (request_id, kind, at) VALUES (?, ?, ?)";
static const char sql_pending_all[] =
    "SELECT id FROM access_requests WHERE state = 'pending' ORDER BY created_at LIMIT 1000";
static const char sql_expiring[] =
    "SELECT id FROM access_requests WHERE state = 'active' AND expires_at > ? AND expires_at <= ? "
    "AND duration > ? AND NOT EXISTS (SELECT 1 FROM notify_marks m WHERE m.request_id = "
    "access_requests.id AND m.kind = 'expiring') LIMIT 256";
static const char sql_unreviewed[] =
    "SELECT id FROM access_requests WHERE break_glass = 1 AND reviewed_at IS NULL AND "
    "created_at <= ? AND NOT EXISTS (SELECT 1 FROM notify_marks m WHERE m.request_id = "
    "access_requests.id AND m.kind = 'review_overdue') LIMIT 256";

static const char sql_marked[] = "SELECT 1 FROM notify_marks WHERE request_id = ? AND kind = ?";

/*
 * A pass looks first (dry: read only, counting what is due) and writes only
 * when something is due, so an idle deployment does not take the write lock
 * every second.
 */
struct due_pass {
	int dry;
	int due;
};

/* Records that r had notification `kind`: 1 the first time, 0 when it had it, <0 on failure. */
static int
mark_once(struct jg_store_conn *conn, struct due_pass *p, const char *id, const char *kind,
	  int64_t now)
{
	struct jg_stmt *st;
	if (p->dry) {
		if (jg_stmt_prepare(conn, sql_marked, &st) != 0)
			return JG_ESTORE;
		jg_stmt_bind_text(st, 1, id);
		jg_stmt_bind_text(st, 2, kind);
		int rc = jg_stmt_step(st);
		jg_stmt_finish(st);
		if (rc == JG_STMT_DONE)
			p->due++;
		return rc == JG_STMT_ROW || rc == JG_STMT_DONE ? 0 : JG_ESTORE; /* never notify */
	}
	if (jg_stmt_prepare(conn, sql_mark, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, id);
	jg_stmt_bind_text(st, 2, kind);
	jg_stmt_bind_int64(st, 3, now);
	int rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE)
		return JG_ESTORE;
	return jg_store_changes(conn) == 1;
}

/* The ids a query returns (at most max); *n counts them. */
static int
ids_of(struct jg_store_conn *conn, const char *sql, int64_t a, int64_t b, int64_t c,
       char (*ids)[64], int max, int *n)
{
	struct jg_stmt *st;
	int nbind = sql == sql_expiring ? 3 : sql == sql_unreviewed ? 1 : 0;
	*n = 0;
	if (jg_stmt_prepare(conn, sql, &st) != 0)
		return JG_ESTORE;
	int64_t args[3] = {a, b, c};
	for (int i = 0; i < nbind; i++)
		jg_stmt_bind_int64(st, i + 1, args[i]);
	int rc;
	while (*n < max && (rc = jg_stmt_step(st)) == JG_STMT_ROW)
		text_col(st, 0, ids[(*n)++], 64);
	jg_stmt_finish(st);
	return 0;
}

static int
pending_due(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, struct due_pass *p,
	    const char *id)
{
	char policy[300];
	const char *to;
	int64_t remind, escalate;
	struct req r;
	int rc;

	if ((rc = load(conn, id, &r)) != 0)
		return rc;
	const char *rule =
	    json_string_value(json_array_get(json_object_get(r.decision, "matched_rules"), 0));
	size_t plen = rule ? strcspn(rule, "#") : 0;
	snprintf(policy, sizeof(policy), "%.*s", (int)(plen < sizeof(policy) ? plen : 0),
		 rule ? rule : "");
	jg_policy_escalation(ctx->policies, policy, &remind, &escalate, &to);
	if (remind && ctx->now >= r.created_at + remind &&
	    (rc = mark_once(conn, p, id, "remind", ctx->now)) == 1)
		rc = notice(ctx, conn, "request.reminder", &r, JG_NOTIFY_APPROVERS, NULL);
	if (rc >= 0 && escalate && to && ctx->now >= r.created_at + escalate &&
	    (rc = mark_once(conn, p, id, "escalate", ctx->now)) == 1) {
		json_t *fallback = json_pack("{s:[s],s:[]}", "groups", to, "users");
		rc = fallback
			 ? notice(ctx, conn, "request.escalated", &r, JG_NOTIFY_APPROVERS, fallback)
			 : JG_ENOMEM;
		json_decref(fallback);
	}
	req_clear(&r);
	return rc < 0 ? rc : 0;
}

static int
notify_due(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, struct due_pass *p,
	   int64_t expiry_warning, int64_t review_overdue)
{
	char(*ids)[64] = calloc(1000, sizeof(*ids));
	int n = 0, rc = 0;
	struct req r;

	if (ids == NULL)
		return JG_ENOMEM;
	if ((rc = ids_of(conn, sql_pending_all, 0, 0, 0, ids, 1000, &n)) != 0)
		goto out;
	for (int i = 0; i < n && rc == 0; i++)
		rc = pending_due(ctx, conn, p, ids[i]);
	if (rc == 0 && expiry_warning > 0 &&
	    (rc = ids_of(conn, sql_expiring, ctx->now, ctx->now + expiry_warning, expiry_warning,
			 ids, 256, &n)) == 0)
		for (int i = 0; i < n && rc == 0; i++) {
			if ((rc = mark_once(conn, p, ids[i], "expiring", ctx->now)) != 1 ||
			    (rc = load(conn, ids[i], &r)) != 0)
				continue;
			rc = notice(ctx, conn, "grant.expiring", &r, JG_NOTIFY_REQUESTER, NULL);
			req_clear(&r);
		}
	if (rc == 0 &&
	    (rc = ids_of(conn, sql_unreviewed, ctx->now - review_overdue, 0, 0, ids, 256, &n)) == 0)
		for (int i = 0; i < n && rc == 0; i++) {
			if ((rc = mark_once(conn, p, ids[i], "review_overdue", ctx->now)) != 1 ||
			    (rc = load(conn, ids[i], &r)) != 0)
				continue;
			rc = notice_break_glass(ctx, conn, "grant.review_overdue", &r);
			req_clear(&r);
		}
out:
	free(ids);
	return rc < 0 ? rc : 0;
}

int
jg_access_notify_due(const struct jg_access_ctx *ctx, int64_t expiry_warning,
		     int64_t review_overdue)
{
	struct jg_store_conn *conn;
	int rc;

	if (!jg_notify_active(ctx->notify))
		return 0;
	if (jg_store_acquire(ctx->store, &conn) != 0)
		return JG_EUNAVAIL;
	struct due_pass look = {.dry = 1}, act = {0};
	rc = notify_due(ctx, conn, &look, expiry_warning, review_overdue);
	if (rc == 0 && look.due > 0 && (rc = jg_store_begin(conn)) == 0) {
		/* checked again under the write lock: a request may have moved meanwhile */
		rc = notify_due(ctx, conn, &act, expiry_warning, review_overdue);
		rc = rc == 0 ? jg_store_commit(conn) : rc;
		if (rc != 0)
			jg_store_rollback(conn);
	}
	jg_store_release(ctx->store, conn);
	return rc;
}

/* ---- reads -------------------------------------------------------------------------- */

int
jg_access_get(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
	      const char *id, json_t **out, char *why, size_t whylen)
{
	struct jg_store_conn *conn;
	struct req r;
	int rc;

	*out = NULL;
	if (jg_store_acquire(ctx->store, &conn) != 0)
		return fail(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	rc = load(conn, id, &r);
	if (rc == 0 && may_see(ctx, &r, caller))
		*out = to_json(conn, &r);
	else if (rc == 0 || rc == JG_ENOTFOUND)
		rc = fail(why, whylen, JG_ENOTFOUND, "no such request");
	else
		rc = fail(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	req_clear(&r);
	jg_store_release(ctx->store, conn);
	return rc;
}

static const char sql_list[] =
    "SELECT id, requester, service, state, capabilities, decision, requester_groups, duration, "
    "created_at, pending_until, approved_at, expires_at, ended_at, break_glass, justification, "
    "incident, end_reason, ended_by, reviewed_by, reviewed_at, review_note "
    "FROM access_requests WHERE (? IS NULL OR state = ?) AND (? IS NULL OR requester = ?) "
    "AND (? = 0 OR (break_glass = 1 AND reviewed_at IS NULL)) "
    "AND (? = '' OR created_at < ? OR (created_at = ? AND id > ?)) "
    "ORDER BY created_at DESC, id LIMIT ?";

/* Whether the caller's approval is still wanted by r: it would count for more (see approve). */
static int
awaits(struct jg_store_conn *conn, const struct req *r, const struct jg_access_caller *c)
{
	uint32_t mine;
	struct tally t;
	int wanted = 0, before;

	if (strcmp(r->state, "pending") != 0 || strcmp(r->requester, c->sub) == 0 ||
	    (mine = eligibility(r, c)) == 0)
		return 0;
	if (tally_load(conn, r, 1, &t) != 0)
		return 0;
	for (size_t p = 0; p < t.n; p++)
		if (strcmp(t.who[p], c->sub) == 0)
			goto out; /* approved already */
	if (tally_run(&t) != 0)
		goto out;
	before = t.m.total;
	if (tally_add(&t, c->sub, 0, mine) == 0 && tally_run(&t) == 0)
		wanted = t.m.total > before;
out:
	tally_free(&t);
	return wanted;
}

int
jg_access_list(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
	       const struct jg_access_filter *f, json_t **out, char *why, size_t whylen)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *list = json_array();
	int rc;

	*out = NULL;
	if (f->state && strcmp(f->state, "pending") != 0 && strcmp(f->state, "active") != 0 &&
	    strcmp(f->state, "denied") != 0 && strcmp(f->state, "cancelled") != 0 &&
	    strcmp(f->state, "expired") != 0 && strcmp(f->state, "revoked") != 0) {
		json_decref(list);
		return fail(
		    why, whylen, JG_EINVAL,
		    "'state' must be pending, active, denied, cancelled, expired or revoked");
	}
	if (jg_store_acquire(ctx->store, &conn) != 0) {
		json_decref(list);
		return fail(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	}
	/* ids first, then each rendered: rendering reads approvals on the same connection */
	struct jg_access_page *pg = f->page;
	size_t limit = pg && pg->limit > 0 && pg->limit < MAX_LIST ? pg->limit : MAX_LIST;
	const char *after = pg ? pg->after_id : "";
	char(*ids)[64] = calloc(JG_ACCESS_PAGE_SCAN, sizeof(*ids));
	int64_t *ats = calloc(JG_ACCESS_PAGE_SCAN, sizeof(*ats));
	size_t nids = 0, used = 0;
	if (pg)
		pg->more = 0;
	if (ids == NULL || ats == NULL) {
		free(ids);
		free(ats);
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_list, &st)) != 0) {
		free(ids);
		free(ats);
		goto out;
	}
	jg_stmt_bind_text(st, 1, f->state);
	jg_stmt_bind_text(st, 2, f->state);
	jg_stmt_bind_text(st, 3, f->mine ? caller->sub : NULL);
	jg_stmt_bind_text(st, 4, f->mine ? caller->sub : NULL);
	jg_stmt_bind_int64(st, 5, f->review);
	jg_stmt_bind_text(st, 6, after);
	jg_stmt_bind_int64(st, 7, pg ? pg->after_at : 0);
	jg_stmt_bind_int64(st, 8, pg ? pg->after_at : 0);
	jg_stmt_bind_text(st, 9, after);
	jg_stmt_bind_int64(st, 10, JG_ACCESS_PAGE_SCAN);
	while (nids < JG_ACCESS_PAGE_SCAN && jg_stmt_step(st) == JG_STMT_ROW) {
		text_col(st, 0, ids[nids], 64);
		ats[nids++] = jg_stmt_column_int64(st, 8);
	}
	jg_stmt_finish(st);
	for (; used < nids && json_array_size(list) < limit; used++) {
		struct req r;
		size_t i = used;
		if (load(conn, ids[i], &r) != 0)
			continue;
		int show = may_see(ctx, &r, caller);
		if (show && f->awaiting)
			show = awaits(conn, &r, caller);
		if (show && f->review)
			show =
			    caller->is_admin || caller->is_auditor || can_review(ctx, &r, caller);
		if (show)
			json_array_append_new(list, to_json(conn, &r));
		req_clear(&r);
	}
	/* more follow when rows were left unexamined, or the scan stopped at its budget */
	if (pg && used > 0 && (used < nids || nids == JG_ACCESS_PAGE_SCAN)) {
		pg->more = 1;
		pg->next_at = ats[used - 1];
		snprintf(pg->next_id, sizeof(pg->next_id), "%s", ids[used - 1]);
	}
	free(ids);
	free(ats);
	rc = 0;
out:
	jg_store_release(ctx->store, conn);
	if (rc != 0) {
		json_decref(list);
		return fail(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	}
	*out = json_pack("{s:o}", "requests", list);
	return 0;
}
