/*
 * access.h - the access-request lifecycle: request, approve, deny, cancel,
 * expire, revoke, review.
 *
 *   pending -> active -> expired | revoked
 *   pending -> scheduled -> active | cancelled | revoked
 *   pending -> denied | cancelled | expired
 *
 * An extension of an active grant is a request of its own (extends = the
 * grant) with its own decision and approvals; on its last approval the
 * grant's expires_at moves and it becomes granted; it expires when its
 * grant ends first:
 *
 *   pending -> granted | denied | cancelled | expired
 *
 * A request becomes active on its last required approval, or at once when
 * the policy needs none (or through break-glass).  One that asked for a
 * later start (starts_at) and is approved before it is scheduled instead:
 * the sweep starts it at starts_at (grant.activated) after re-evaluating
 * the policy with the newest groups seen for its requester, or ends it as
 * revoked (grant.not_activated) when they no longer qualify.  Each transition runs
 * through the audit writer: the state change and its one audit entry
 * commit together or not at all, and concurrent approvals of one request
 * are serialised there, so two approvers racing produce one transition.
 * Approvals are judged against the requirements stored with the request
 * (the decision in force when it was made).  The grant's clock starts at
 * activation - its approval, or its starts_at when that is later: it ends
 * at activated_at + duration.
 *
 * Functions return 0; JG_EINVAL (bad input, 400), JG_ENOTFOUND (404: also
 * when the caller may not see it), JG_EDENIED (403), JG_ECONFLICT (409) or
 * JG_EUNAVAIL (503) with a reason in why; results as JSON in *out.
 */
#ifndef JITGATE_ACCESS_H
#define JITGATE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/cursor.h"
#include "jitgate/policy.h"
#include "jitgate/store.h"

struct jg_notify;
struct jg_pii_keys;

struct jg_access_ctx {
	struct jg_store *store;
	struct jg_audit *audit;
	/* marks personal data in entries' free text (pii.h); NULL: plain markers */
	const struct jg_pii_keys *pii;
	const struct jg_notify *notify;	      /* NULL: no notifications */
	const struct jg_policy_set *policies; /* held (read-locked) by the caller */
	int64_t pending_ttl;		      /* seconds a request may wait for approval */
	int64_t now;			      /* Unix seconds of this operation */
	/* refused actions recorded per identity per window (0: the defaults below) */
	int64_t refusals_recorded, refusals_window;
};

/* requests.refused_actions_recorded / _window_seconds when the context leaves them 0 */
#define JG_ACCESS_REFUSALS_RECORDED 10
#define JG_ACCESS_REFUSALS_WINDOW   600

struct jg_access_caller {
	const char *actor; /* "user:<sub>" */
	const char *sub;
	const char *const *groups;
	size_t ngroups;
	int is_admin;
	int is_auditor;
};

/* Evaluates body ({service, capabilities, duration, justification, break_glass}) without storing.
 */
int jg_access_dry_run(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		      json_t *body, json_t **out, char *why, size_t whylen);

/*
 * Creates a request.  A malformed body or unknown service/capability is
 * refused (JG_EINVAL) and only the refusal is audited; a policy denial is
 * JG_EDENIED with the decision in *out (audited, nothing stored).
 */
int jg_access_create(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		     json_t *body, json_t **out, char *why, size_t whylen);

int jg_access_get(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		  const char *id, json_t **out, char *why, size_t whylen);

/*
 * The grant extension id extends, as jg_access_get shows it (with its
 * approvals and extensions), to a caller who may see the extension (its
 * approvers judge it with the grant's history).  JG_ENOTFOUND when id is no
 * extension the caller may see.
 */
int jg_access_get_extended(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
			   const char *id, json_t **out, char *why, size_t whylen);

/*
 * A page of a list, newest first.  A page examines at most
 * JG_ACCESS_PAGE_SCAN rows, so it may hold fewer than limit requests (even
 * none) while more follow: `more` says so, and next_* is where the next
 * page starts - possibly a row the caller may not see, so callers hand it
 * out only sealed (cursor.h).
 */
#define JG_ACCESS_PAGE_MAX  200
#define JG_ACCESS_PAGE_SCAN 2000
struct jg_access_page {
	size_t limit;	  /* 1..JG_ACCESS_PAGE_MAX */
	int64_t after_at; /* resume after (after_at, after_id); after_id "" = from the start */
	char after_id[64];
	int more;	 /* out */
	int64_t next_at; /* out, when more */
	char next_id[64];
};

/*
 * The page of a list asked for with limit (1..JG_ACCESS_PAGE_MAX) and
 * cursor (the next_cursor of an earlier page, or NULL: the first page),
 * cursors being sealed under keys as kind "requests" (cursor.h).  0 with
 * *page set, or JG_EINVAL (not a requests cursor sealed by one of keys).
 */
int jg_access_page_open(const struct jg_cursor_keys *keys, size_t limit, const char *cursor,
			struct jg_access_page *page) __attribute__((warn_unused_result));
/* The cursor of the page after page (when page->more), sealed into out.  0 or JG_E*. */
int jg_access_page_next(const struct jg_cursor_keys *keys, const struct jg_access_page *page,
			char out[JG_CURSOR_MAX_LEN]) __attribute__((warn_unused_result));

/*
 * filters: state (or NULL), mine, awaiting (my approval), review (unreviewed
 * break-glass); page NULL: the first JG_ACCESS_PAGE_MAX requests.
 */
struct jg_access_filter {
	const char *state;
	int mine, awaiting, review;
	struct jg_access_page *page;
};
int jg_access_list(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		   const struct jg_access_filter *f, json_t **out, char *why, size_t whylen);

/*
 * The transitions.  An action refused to the caller for lack of rights - a
 * 403 (own request, not an eligible approver or reviewer, not the requester,
 * not an admin) or the 404 of a request that exists but that the caller may
 * not see - is evidence: it is recorded as request.action_refused (the
 * caller as actor; request, service, action, reason), at most
 * ctx->refusals_recorded per identity in a window of ctx->refusals_window
 * seconds, the others counted and summed up in one
 * request.action_refusals_suppressed entry once the window is over (by the
 * identity's next refusal or jg_access_sweep()).  Conflicts (409), bad input
 * (400) and ids of no request are not recorded.
 */
int jg_access_approve(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		      const char *id, json_t **out, char *why, size_t whylen);
/*
 * Asks to extend grant id by its requester: body {duration, justification}
 * (docs/api.md, "Extending a grant").  0 with the new extension request in
 * *out (pending, or granted when the policy needs no approval); JG_EDENIED
 * with *out NULL for a caller who is not the requester (recorded as
 * refused), or with {decision} in *out when the policy denies it (audited
 * request.denied); JG_ECONFLICT when the grant is not active, is
 * break-glass, is an extension, or has a pending extension; JG_EINVAL.
 */
int jg_access_extend(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		     const char *id, json_t *body, json_t **out, char *why, size_t whylen);
int jg_access_deny(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		   const char *id, const char *reason, json_t **out, char *why, size_t whylen);
int jg_access_cancel(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		     const char *id, json_t **out, char *why, size_t whylen);
int jg_access_revoke(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		     const char *id, const char *reason, json_t **out, char *why, size_t whylen);
/* Off-boarding (admins): every active grant revoked, every pending request cancelled. */
int jg_access_revoke_user(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
			  const char *sub, json_t **out, char *why, size_t whylen);
int jg_access_review(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		     const char *id, const char *note, json_t **out, char *why, size_t whylen);

/*
 * Ends what is due at ctx->now (grants past their end, pending past their
 * wait; *ended counts them) and writes the summary of every refusal window
 * that is over and suppressed refusals; then, in a transaction of its own
 * (a start that fails never holds back an end), starts the scheduled grants
 * whose start has come, or ends those whose requester no longer qualifies.
 */
int jg_access_sweep(const struct jg_access_ctx *ctx, int *ended);

/*
 * Queues the time-based notifications due at ctx->now, each once per
 * request (docs/notifications.md): a reminder after the policy's
 * remind_after, an escalation to its escalate_to group after
 * escalate_after, a warning expiry_warning seconds before a grant ends (0:
 * none), and a break-glass grant unreviewed review_overdue seconds after it
 * began.  One store transaction; a no-op without notification sinks.
 */
int jg_access_notify_due(const struct jg_access_ctx *ctx, int64_t expiry_warning,
			 int64_t review_overdue);

/*
 * Tells the owners of each service of the catalog that its access review is
 * due (report.review_due, notify.h) once per `period` seconds since the
 * service was added: the first one period after it was added, each for the
 * period just ended, each queued once across restarts and replicas
 * (notify_marks).  A no-op without notification sinks.  0 or a JG_E* code.
 */
int jg_access_notify_reviews_due(const struct jg_access_ctx *ctx, int64_t period);

/*
 * Grants, as the token issuer, the guard and the probes read them
 * (access_grant.c): a grant is a request in state active, usable until its
 * expires_at.  Each call reads on conn, in the caller's transaction when
 * one is open (token issuance re-checks the grant in the transaction of its
 * token.issued entry); the guard reads the grant in a read batch with the
 * token's audit anchor (jg_access_grant_check_queue/_take).
 */
#define JG_ACCESS_GRANT_CAPS 32 /* JG_POLICY_MAX_REQUEST_CAPS */
struct jg_access_grant {
	char requester[256];
	char service[64];
	int64_t expires_at; /* Unix seconds; 0 for a request never approved */
	/* the capabilities granted; none when they cannot be read (every check then fails) */
	size_t ncaps;
	char caps[JG_ACCESS_GRANT_CAPS][32];
	/* the probe budget it carries (policy.h; docs/policies.md, "Probe budgets"): 0 = none */
	struct jg_policy_probe_budget probe_budget;
};

/*
 * Whether grant is active at now for subject sub on service: 0 with *out
 * filled; JG_EDENIED when it is not (no such grant, not active, past its
 * end, someone else's or another service's); JG_ESTORE.
 */
int jg_access_grant_check(struct jg_store_conn *conn, const char *grant, const char *sub,
			  const char *service, int64_t now, struct jg_access_grant *out)
    __attribute__((warn_unused_result));

/*
 * jg_access_grant_check in two halves, for a read batch (store.h): _queue
 * adds the grant's read to b; after jg_store_batch_run(), _take gives the
 * verdict jg_access_grant_check would give (0 with *out filled, JG_EDENIED),
 * or - when the batch failed or the slot is not this read's - JG_EUNAVAIL
 * (the connection was lost) or JG_ESTORE, never a verdict.  A failure to
 * queue fails the whole batch.
 */
int jg_access_grant_check_queue(struct jg_store_batch *b, const char *grant, size_t *slot)
    __attribute__((warn_unused_result));
int jg_access_grant_check_take(struct jg_store_batch *b, size_t slot, const char *sub,
			       const char *service, int64_t now, struct jg_access_grant *out)
    __attribute__((warn_unused_result));

/*
 * The grant sub asks a token for: 0 with *out filled when it is sub's and
 * active at now; JG_ENOTFOUND when there is none or it is someone else's
 * (indistinguishable to the caller); JG_ECONFLICT when it is sub's but not
 * active (pending, ended, past its end); JG_ESTORE.
 */
int jg_access_grant_for_token(struct jg_store_conn *conn, const char *grant, const char *sub,
			      int64_t now, struct jg_access_grant *out)
    __attribute__((warn_unused_result));

/*
 * Whether the holder of grant, authenticated now with groups, still
 * qualifies for it: the policy set in force, evaluated for the grant's
 * service, capabilities, duration and justification, does not deny it (the
 * approvals it asks for were given), neither with these groups nor with
 * the newest groups seen for the holder (session.h, when any were
 * recorded): a login older than one that lost a group gets nothing.  0;
 * JG_EDENIED with the policy's reason in why; JG_ENOMEM, JG_ESTORE or
 * JG_EUNAVAIL.
 */
int jg_access_grant_qualifies(struct jg_store_conn *conn, const struct jg_policy_set *set,
			      const char *grant, const char *const *groups, size_t ngroups,
			      char *why, size_t whylen) __attribute__((warn_unused_result));

/*
 * The probe budget grant carries (whatever its state), into *out: 0,
 * JG_ENOTFOUND (no such request; *out all 0) or JG_ESTORE.
 */
int jg_access_grant_probe_budget(struct jg_store_conn *conn, const char *grant,
				 struct jg_policy_probe_budget *out);

/* Whether grant is active at now (*live), whoever holds it.  0 or JG_ESTORE. */
int jg_access_grant_live(struct jg_store_conn *conn, const char *grant, int64_t now, bool *live)
    __attribute__((warn_unused_result));

/*
 * The request lifecycle's tables (requests, approvals, refusal budgets,
 * notification marks), declared for `jitgate store copy` (store.h, struct jg_store_table):
 * *n receives how many; the array is static.
 */
const struct jg_store_table *jg_access_tables(size_t *n);

#endif
