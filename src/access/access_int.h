/*
 * access_int.h - what the files of src/access/ share (private).
 *
 * One request is read into a struct req (jg_access_req_load) and shown as
 * JSON (jg_access_req_json); who may see or act on it is decided here
 * (jg_access_may_see and the rest), and a request's approvals are weighed
 * as a struct tally (jg_policy_match_run over every approval).  Free text a
 * person wrote enters an audit entry only through jg_access_entry_text().
 *
 *   access_request.c  the row, the approvals, the permission rules, notices,
 *                     what a request's and an extension's input share
 *   access.c          the lifecycle: create, transitions, off-boarding, sweep
 *   access_end.c      every end of a request and of a grant
 *   access_extend.c   what an extension does to the rows and the log
 *   access_schedule.c scheduled grants start (or do not)
 *   access_refusal.c  refused actions recorded within a budget (action_refusals)
 *   access_read.c     get and list
 *   access_due.c      the time-based notifications (notify_marks)
 *   access_receipt.c  the grant.receipt when a grant ends, a grant's use as shown
 */
#ifndef JITGATE_ACCESS_INT_H
#define JITGATE_ACCESS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/policy.h"
#include "jitgate/store.h"

#define ACCESS_MAX_REASON 1000 /* bytes of a reason or review note */

/*
 * activated_at as a query reads it: a row without a starts_at that predates
 * the column (a grant an older release activated during a rolling upgrade)
 * became active at its approval; a scheduled one only when the sweeper
 * activated it (NULL until then).
 */
#define JG_ACCESS_ACTIVATED_AT                                                                     \
	"CASE WHEN starts_at IS NULL THEN COALESCE(activated_at, approved_at) "                    \
	"ELSE activated_at END"

struct req {
	char id[64];
	char requester[256];
	char service[64];
	char state[16];
	json_t *capabilities, *decision, *groups;
	int64_t duration, created_at, pending_until, approved_at, expires_at, ended_at, reviewed_at;
	int64_t activated_at; /* JG_ACCESS_ACTIVATED_AT: when the grant began (0: not yet) */
	char extends[64];     /* of an extension: the grant it extends; "" otherwise */
	int64_t starts_at;    /* the asked-for start (0: on approval) */
	int break_glass;
	char justification[JG_POLICY_MAX_JUSTIFICATION + 1];
	char incident[JG_POLICY_INCIDENT_MAX + 1];
	char end_reason[ACCESS_MAX_REASON + 1], ended_by[300], reviewed_by[300],
	    review_note[ACCESS_MAX_REASON + 1];
};

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

/*
 * Sets data[key] to text with its personal data marked (pii.h).  Returns 0,
 * JG_EINVAL (text is not UTF-8) or JG_ENOMEM: then the entry must not be
 * written (never the text in clear).
 */
int jg_access_entry_text(const struct jg_access_ctx *ctx, json_t *data, const char *key,
			 const char *text);

/* Releases what r holds and zeroes it. */
void jg_access_req_clear(struct req *r);
/* Copies text column col into out (len bytes; NULL reads as ""). */
void jg_access_text_col(struct jg_stmt *st, int col, char *out, size_t len);
/* Reads request id into *r (clear it with jg_access_req_clear): 0, JG_ENOTFOUND, JG_ESTORE. */
int jg_access_req_load(struct jg_store_conn *conn, const char *id, struct req *r);
/*
 * r as the API shows it, with its approvals and requirements (and, of a
 * grant, its extensions); NULL when out of memory.
 */
json_t *jg_access_req_json(struct jg_store_conn *conn, const struct req *r);

/* The approvals of r so far, with room for `extra` more approvers (see access_request.c). */
int jg_access_tally_load(struct jg_store_conn *conn, const struct req *r, size_t extra,
			 struct tally *t);
/* Adds approver who (a copy) eligible for elig, or ORs elig into an earlier row of theirs. */
int jg_access_tally_add(struct tally *t, const char *who, int64_t at, uint32_t elig);
/* Which approvals count toward which requirements (into t->m and t->counted). */
int jg_access_tally_run(struct tally *t);
void jg_access_tally_free(struct tally *t);
/* The bits of v as a JSON array of their indexes; NULL when out of memory. */
json_t *jg_access_bits(uint32_t v);

/* The requirements of r that c may approve, as bits (requirement k: bit k). */
uint32_t jg_access_eligibility(const struct req *r, const struct jg_access_caller *c);
/* An approver of any of the request's requirements (whether met or not). */
int jg_access_is_approver(const struct req *r, const struct jg_access_caller *c);
int jg_access_can_review(const struct jg_access_ctx *ctx, const struct req *r,
			 const struct jg_access_caller *c);
int jg_access_may_see(const struct jg_access_ctx *ctx, const struct req *r,
		      const struct jg_access_caller *c);

/*
 * Whether r's requester still qualifies for it: the policy in force
 * (ctx->policies), evaluated for r's service, capabilities, duration and
 * justification with groups (a JSON array of strings) instead of those r
 * was made with, does not deny it.  A change of approvals a policy asks
 * for does not count: r's approvals were given.  0 (qualifies),
 * JG_EDENIED (the policy's reason in why), JG_ENOMEM or JG_EUNAVAIL.
 */
int jg_access_requalify_with(const struct jg_policy_set *set, const struct req *r, json_t *groups,
			     char *why, size_t whylen);
/* jg_access_requalify_with the newest groups seen for r's requester (session.h); r's own if none.
 */
int jg_access_requalify(const struct jg_access_ctx *ctx, struct jg_store_conn *conn,
			const struct req *r, char *why, size_t whylen);

/* Queues event `type` about r (in the transaction of the change); approvers NULL: r's. */
int jg_access_notice(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, const char *type,
		     const struct req *r, unsigned audiences, json_t *approvers);
/* Break-glass is told to those who review it (the service's approvers) and to security. */
int jg_access_notice_break_glass(const struct jg_access_ctx *ctx, struct jg_store_conn *conn,
				 const char *type, const struct req *r);

/*
 * The grant.receipt of r (audit_receipt.c) appended in tx right after r's
 * end entry (end_type: grant.expired, grant.revoked, request.cancelled,
 * grant.not_activated), and the notice grant.receipt to the requester and
 * the approvers: every path that ends a grant calls this, in its job, just
 * after appending the end entry.  Returns 0 or an error the job must return.
 */
int jg_access_receipt(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const struct req *r,
		      const char *end_type);
/* Sets o's "usage", "unused" and, once written, "receipt" for a request that became a grant. */
void jg_access_usage_json(struct jg_store_conn *conn, const struct req *r, json_t *o);

/*
 * Records that caller was refused action (data, borrowed: what it was
 * attempted on; gets "action" and "reason") within the caller's budget
 * (access_refusal.c).  target (may be NULL: nothing worth naming, such as
 * the caller's own request) is what a suppressed refusal is remembered by:
 * a request id, or "user:" and the off-boarding's user as recorded.
 */
int jg_access_refusal_record(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
			     const struct jg_access_caller *caller, const char *action,
			     json_t *data, const char *reason, const char *target);
/* Summaries of the refusal windows that are over and suppressed refusals. */
int jg_access_refusals_sweep(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx);

/* ---- shared by a request and an extension (access_request.c) ------------------------ */

/*
 * A policy decision as an entry holds it: a copy whose incident (taken from
 * the justification) and reason are marked.  NULL when it cannot be built.
 */
json_t *jg_access_entry_decision(const struct jg_access_ctx *ctx, const json_t *decision);
/* c's groups as a JSON array of strings; NULL when out of memory. */
json_t *jg_access_groups_json(const struct jg_access_caller *c);
/* body's "duration" (whole seconds, or "30m", "1h", ...) into *dur: 0 or JG_EINVAL. */
int jg_access_body_duration(json_t *body, const char *seconds_mean, int64_t *dur, char *why,
			    size_t whylen);
/* body's "justification" (borrowed): 0 or JG_EINVAL. */
int jg_access_body_justification(json_t *body, const char **just, char *why, size_t whylen);

/* ---- ends (access_end.c) ------------------------------------------------------------ */

/*
 * Request id, still pending, scheduled or active, moves to state (ended_at
 * now, reason, by).  0, JG_ECONFLICT (it had ended already: nothing to
 * write about it) or JG_ESTORE.
 */
int jg_access_end_request(struct jg_store_conn *conn, const char *id, const char *state,
			  int64_t now, const char *reason, const char *by);
/*
 * The end of grant id, whatever ends it: its row moves to state (reason,
 * by), its entry `type` (data, borrowed) is appended by actor `by`, then
 * its grant.receipt, and each pending extension of the grant expires with
 * it (request.expired {request, was, grant}, actor system; tell: its
 * requester hears of it).  JG_ECONFLICT when the grant had already ended.
 */
int jg_access_end_grant(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const char *id,
			const char *state, const char *reason, const char *by, const char *type,
			json_t *data, int tell);
/* Scheduled grant r does not start (reason): grant.not_activated through jg_access_end_grant. */
int jg_access_not_activated(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
			    const struct req *r, const char *reason);

/* ---- extensions (access_extend.c) ---------------------------------------------------- */

/*
 * Caller c, grant g's requester, asks to extend it (body: {duration,
 * justification}): refused (JG_EINVAL, JG_ECONFLICT, why filled), denied by
 * policy (audited request.denied, *denied, the decision in *out), or a new
 * extension (grant.extension_requested; granted at once when no approval
 * is needed), shown in *out.
 */
int jg_access_extension_ask(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
			    const struct jg_access_caller *c, const struct req *g, json_t *body,
			    int *denied, json_t **out, char *why, size_t whylen);
/*
 * The grant extension e extends, into *g: 0 while it is active at now,
 * JG_ECONFLICT (why filled) when it has ended, JG_ESTORE.
 */
int jg_access_extended_grant(struct jg_store_conn *conn, const struct req *e, int64_t now,
			     struct req *g, char *why, size_t whylen);
/*
 * Extension e granted (its last approval, or none needed): grant g's
 * expires_at moves by e's duration, e becomes granted.  *prev, *next: the
 * grant's end before and after.
 */
int jg_access_extension_apply(struct jg_store_conn *conn, const struct req *e, const struct req *g,
			      int64_t now, int64_t *prev, int64_t *next);
/* The grant.extended entry of jg_access_extension_apply's move. */
int jg_access_extension_append(struct jg_audit_tx *tx, const char *actor, const char *grant,
			       const char *ext, int64_t prev, int64_t next);

/* ---- scheduled starts (access_schedule.c) ------------------------------------------- */

/*
 * Starts (or ends, not activated) each scheduled grant whose start has
 * come, each in a job of its own; *changed: how many.  A start that could
 * not be decided is logged and retried next round; the first such error is
 * returned after every other grant's start was tried.
 */
int jg_access_start_due(const struct jg_access_ctx *ctx, int *changed);

#endif
