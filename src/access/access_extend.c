/*
 * access_extend.c - extending a grant (jg_access_extend in access.h).
 *
 * An extension is a request of its own: a row of access_requests whose
 * extends names the grant, with the grant's service and capabilities, the
 * seconds to add as its duration, its own policy decision and its own
 * approvals (the same separation of duties as any request).  It is never a
 * grant: granted, it moves its grant's expires_at (grant.extended) and
 * becomes 'granted'.  A pending one expires with its grant (access_end.c).
 * The transition itself (who may ask, on what) is access.c's op_fn; this
 * file holds what an extension does to the rows and the log.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/notify.h"
#include "jitgate/random.h"
#include "access_int.h"

static const char sql_extend_grant[] =
    "UPDATE access_requests SET expires_at = ? WHERE id = ? AND state = 'active'";
static const char sql_extension_granted[] =
    "UPDATE access_requests SET state = 'granted', approved_at = ?, expires_at = ? "
    "WHERE id = ? AND state = 'pending'";
static const char sql_pending_extension[] =
    "SELECT id FROM access_requests WHERE extends = ? AND state = 'pending' LIMIT 1";
static const char sql_ext_insert[] =
    "INSERT INTO access_requests (id, requester, requester_groups, service, capabilities, "
    "duration, justification, incident, break_glass, state, decision, policy_sha256, created_at, "
    "pending_until, extends) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending', ?, ?, ?, ?, ?)";

/* The body of an extension, {duration, justification}, into *dur and *just (borrowed). */
static int
parse_extension(json_t *body, int64_t *dur, const char **just, char *why, size_t whylen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(body))
		return jg_errf(why, whylen, JG_EINVAL,
			       "the body must be {\"duration\", \"justification\"}");
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "duration") != 0 && strcmp(key, "justification") != 0)
			return jg_errf(why, whylen, JG_EINVAL,
				       "unknown field: an extension has only 'duration' and "
				       "'justification'");
	}
	int rc = jg_access_body_duration(body, "the seconds to add", dur, why, whylen);
	return rc != 0 ? rc : jg_access_body_justification(body, just, why, whylen);
}

/*
 * Applies extension e (its last approval, or none needed) to grant g: the
 * grant's expires_at moves by e's duration and e becomes granted.  The
 * grant must still be active (checked by the caller in this transaction).
 * *prev and *next: the grant's end before and after.
 */
int
jg_access_extension_apply(struct jg_store_conn *conn, const struct req *e, const struct req *g,
			  int64_t now, int64_t *prev, int64_t *next)
{
	struct jg_stmt *st;
	int rc;

	*prev = g->expires_at;
	*next = g->expires_at + e->duration;
	if (jg_stmt_prepare(conn, sql_extend_grant, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, *next);
	jg_stmt_bind_text(st, 2, g->id);
	rc = jg_stmt_step(st) == JG_STMT_DONE && jg_store_changes(conn) == 1 ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;
	if (jg_stmt_prepare(conn, sql_extension_granted, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_int64(st, 2, *next);
	jg_stmt_bind_text(st, 3, e->id);
	rc = jg_stmt_step(st) == JG_STMT_DONE && jg_store_changes(conn) == 1 ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

/* The grant.extended entry of jg_access_extension_apply's move. */
int
jg_access_extension_append(struct jg_audit_tx *tx, const char *actor, const char *grant,
			   const char *ext, int64_t prev, int64_t next)
{
	json_t *d =
	    json_pack("{s:s,s:s,s:I,s:I}", "grant", grant, "extension", ext, "previous_expires_at",
		      (json_int_t)prev, "expires_at", (json_int_t)next);
	int rc = d ? jg_audit_tx_append(tx, "grant.extended", actor, d, NULL) : JG_ENOMEM;
	json_decref(d);
	return rc;
}

/*
 * The grant extension e extends, into *g: 0 when it is still active at
 * now, JG_ECONFLICT (why filled) when it has ended, JG_ESTORE.
 */
int
jg_access_extended_grant(struct jg_store_conn *conn, const struct req *e, int64_t now,
			 struct req *g, char *why, size_t whylen)
{
	int rc = jg_access_req_load(conn, e->extends, g);
	if (rc == JG_ENOTFOUND)
		return JG_ESTORE; /* a foreign key: it cannot be missing */
	if (rc != 0)
		return rc;
	if (strcmp(g->state, "active") != 0 || g->expires_at <= now) {
		jg_access_req_clear(g);
		return jg_errf(why, whylen, JG_ECONFLICT,
			       "the grant this extension is for has ended");
	}
	return 0;
}

/* Whether grant id has a pending extension (its id into ext): 1, 0 or JG_ESTORE. */
static int
pending_extension(struct jg_store_conn *conn, const char *id, char ext[64])
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_pending_extension, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, id);
	int rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW)
		jg_access_text_col(st, 0, ext, 64);
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW ? 1 : rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

/*
 * The extension of grant g asked by its requester (body: {duration,
 * justification}).  The grant must be active, not break-glass, and without
 * a pending extension; the policy is evaluated as for a request for the
 * same service and capabilities, its duration limit being the rules'
 * max_total_duration against the grant's total with the extension (new
 * end - activation).  Denied by policy: request.denied (with the grant),
 * *denied and the decision in *out.  Otherwise the extension is a new
 * request (extends = g) with its own decision and approvals:
 * grant.extension_requested, and when the policy needs no approval it is
 * granted at once (grant.extended).  It waits for approval at most until
 * the grant's end (pending_until), when it expires with the grant; *out is
 * the extension as the API shows it.
 */
int
jg_access_extension_ask(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
			const struct jg_access_caller *c, const struct req *g, json_t *body,
			int *denied, json_t **out, char *why, size_t whylen)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	const char *caps[JG_POLICY_MAX_REQUEST_CAPS], *just = NULL;
	struct jg_policy_decision d = {0};
	json_t *decision = NULL, *data = NULL;
	char ext[64], id[64], rnd[32], *capstext = NULL, *dec = NULL, *groups = NULL;
	size_t ncaps = 0, i;
	int64_t dur = 0;
	json_t *v;
	int rc;

	if (g->extends[0])
		return jg_errf(why, whylen, JG_ECONFLICT,
			       "this is an extension request; extend the grant %s itself",
			       g->extends);
	if (strcmp(g->state, "active") != 0 || g->expires_at <= ctx->now)
		return jg_errf(why, whylen, JG_ECONFLICT, "the grant is %s, not active",
			       strcmp(g->state, "active") == 0 ? "over" : g->state);
	if (g->break_glass)
		return jg_errf(why, whylen, JG_ECONFLICT,
			       "break-glass grants cannot be extended: ask for a new request");
	if ((rc = pending_extension(conn, g->id, ext)) < 0)
		return rc;
	if (rc == 1)
		return jg_errf(why, whylen, JG_ECONFLICT,
			       "the grant has a pending extension (%s): wait for its decision or "
			       "cancel it first",
			       ext);
	if ((rc = parse_extension(body, &dur, &just, why, whylen)) != 0)
		return rc;
	json_array_foreach(g->capabilities, i, v)
	{
		if (ncaps < JG_POLICY_MAX_REQUEST_CAPS && json_is_string(v))
			caps[ncaps++] = json_string_value(v);
	}
	struct jg_policy_request pr = {.user = c->sub,
				       .groups = c->groups,
				       .ngroups = c->ngroups,
				       .service = g->service,
				       .capabilities = caps,
				       .ncaps = ncaps,
				       .duration_seconds = dur,
				       .justification = just,
				       .total_seconds = g->expires_at + dur - g->activated_at};
	if (jg_policy_evaluate(ctx->policies, &pr, &d) != 0 ||
	    jg_policy_decision_to_json(&d, &decision) != 0) {
		jg_policy_decision_clear(&d);
		return jg_errf(why, whylen, JG_EUNAVAIL, "the policy could not be evaluated");
	}
	if (d.outcome == JG_POLICY_DENY) {
		*denied = 1;
		snprintf(why, whylen, "%s", d.reason ? d.reason : "denied by policy");
		data =
		    json_pack("{s:s,s:s,s:O,s:I,s:I,s:b,s:o*}", "grant", g->id, "service",
			      g->service, "capabilities", g->capabilities, "duration",
			      (json_int_t)dur, "total", (json_int_t)pr.total_seconds, "break_glass",
			      0, "decision", jg_access_entry_decision(ctx, decision));
		rc = data && json_object_get(data, "decision")
			 ? jg_audit_tx_append(tx, "request.denied", c->actor, data, NULL)
			 : JG_ENOMEM;
		*out = json_pack("{s:O}", "decision", decision);
		goto out;
	}
	if ((rc = jg_random_token(16, rnd, sizeof(rnd))) != 0)
		goto out;
	snprintf(id, sizeof(id), "req_%s", rnd);
	capstext = json_dumps(g->capabilities, JSON_COMPACT);
	dec = json_dumps(decision, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *gj = jg_access_groups_json(c);
	groups = json_dumps(gj, JSON_COMPACT);
	json_decref(gj);
	struct jg_stmt *st;
	if (!capstext || !dec || !groups || jg_stmt_prepare(conn, sql_ext_insert, &st) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	int64_t until = ctx->now + ctx->pending_ttl;
	jg_stmt_bind_text(st, 1, id);
	jg_stmt_bind_text(st, 2, c->sub);
	jg_stmt_bind_text(st, 3, groups);
	jg_stmt_bind_text(st, 4, g->service);
	jg_stmt_bind_text(st, 5, capstext);
	jg_stmt_bind_int64(st, 6, dur);
	jg_stmt_bind_text(st, 7, just);
	jg_stmt_bind_text(st, 8, d.incident);
	jg_stmt_bind_text(st, 9, dec);
	jg_stmt_bind_text(st, 10, d.policy_sha256);
	jg_stmt_bind_int64(st, 11, ctx->now);
	jg_stmt_bind_int64(st, 12, until < g->expires_at ? until : g->expires_at);
	jg_stmt_bind_text(st, 13, g->id);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		goto out;
	data = json_pack("{s:s,s:s,s:s,s:O,s:I,s:I,s:I,s:s,s:o*}", "request", id, "grant", g->id,
			 "service", g->service, "capabilities", g->capabilities, "duration",
			 (json_int_t)dur, "total", (json_int_t)pr.total_seconds, "expires_at",
			 (json_int_t)g->expires_at, "state",
			 d.outcome == JG_POLICY_GRANT ? "granted" : "pending", "decision",
			 jg_access_entry_decision(ctx, decision));
	rc = data && json_object_get(data, "decision") ? 0 : JG_ENOMEM;
	if (rc == 0 && d.incident[0])
		rc = jg_access_entry_text(ctx, data, "incident", d.incident);
	if (rc == 0)
		rc = jg_audit_tx_append(tx, "grant.extension_requested", c->actor, data, NULL);
	struct req e;
	if (rc != 0 || (rc = jg_access_req_load(conn, id, &e)) != 0)
		goto out;
	if (d.outcome == JG_POLICY_GRANT) {
		/* no approval needed: the grant moves at once */
		int64_t prev, next;
		rc = jg_access_extension_apply(conn, &e, g, ctx->now, &prev, &next);
		if (rc == 0)
			rc = jg_access_extension_append(tx, c->actor, g->id, id, prev, next);
		jg_access_req_clear(&e);
		if (rc == 0)
			rc = jg_access_req_load(conn, id, &e);
		if (rc != 0)
			goto out;
	} else {
		rc = jg_access_notice(ctx, conn, "request.pending", &e, JG_NOTIFY_APPROVERS, NULL);
	}
	*out = jg_access_req_json(conn, &e);
	jg_access_req_clear(&e);
out:
	json_decref(data);
	json_decref(decision);
	free(capstext);
	free(dec);
	free(groups);
	jg_policy_decision_clear(&d);
	return rc;
}
