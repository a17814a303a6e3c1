/*
 * access_due.c - the time-based notifications of requests (see
 * jg_access_notify_due in access.h).
 *
 * Reminders, escalations, expiry warnings, extensions still pending near
 * their grant's end and overdue reviews are each sent once per request: the notify_marks table
 * (owned here) remembers which were.  A pass first looks (read only) and writes only when something
 * is due, so an idle deployment takes no write lock.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"
#include "access_int.h"

/* ---- time-based notifications ----------------------------------------------------------- */

static const char sql_mark[] = "INSERT INTO notify_marks (request_id, kind, at) VALUES (?, ?, ?) "
			       "ON CONFLICT (request_id, kind) DO NOTHING";
static const char sql_pending_all[] =
    "SELECT id FROM access_requests WHERE state = 'pending' ORDER BY created_at LIMIT 1000";
static const char sql_expiring[] =
    "SELECT id FROM access_requests WHERE state = 'active' AND expires_at > ? AND expires_at <= ? "
    "AND duration > ? AND NOT EXISTS (SELECT 1 FROM notify_marks m WHERE m.request_id = "
    "access_requests.id AND m.kind = 'expiring') LIMIT 256";
/* Extensions still waiting for approval when their grant is about to end. */
static const char sql_extension_waiting[] =
    "SELECT e.id FROM access_requests e JOIN access_requests g ON g.id = e.extends "
    "WHERE e.state = 'pending' AND g.state = 'active' AND g.expires_at > ? AND g.expires_at <= ? "
    "AND NOT EXISTS (SELECT 1 FROM notify_marks m WHERE m.request_id = e.id AND m.kind = "
    "'extension_pending') LIMIT 256";
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

/* The ids a query returns (at most max); *n counts them.  0 or JG_ESTORE. */
static int
ids_of(struct jg_store_conn *conn, const char *sql, int64_t a, int64_t b, int64_t c,
       char (*ids)[64], int max, int *n)
{
	struct jg_stmt *st;
	int nbind = sql == sql_expiring		   ? 3
		    : sql == sql_extension_waiting ? 2
		    : sql == sql_unreviewed	   ? 1
						   : 0;
	*n = 0;
	if (jg_stmt_prepare(conn, sql, &st) != 0)
		return JG_ESTORE;
	int64_t args[3] = {a, b, c};
	for (int i = 0; i < nbind; i++)
		jg_stmt_bind_int64(st, i + 1, args[i]);
	int rc = JG_STMT_DONE;
	while (*n < max && (rc = jg_stmt_step(st)) == JG_STMT_ROW)
		jg_access_text_col(st, 0, ids[(*n)++], 64);
	jg_stmt_finish(st);
	/* a failed step ends the loop as the last row does: it is a failure, not "none due" */
	return rc == JG_STMT_DONE || rc == JG_STMT_ROW ? 0 : JG_ESTORE;
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

	if ((rc = jg_access_req_load(conn, id, &r)) != 0)
		return rc;
	const char *rule =
	    json_string_value(json_array_get(json_object_get(r.decision, "matched_rules"), 0));
	size_t plen = rule ? strcspn(rule, "#") : 0;
	snprintf(policy, sizeof(policy), "%.*s", (int)(plen < sizeof(policy) ? plen : 0),
		 rule ? rule : "");
	jg_policy_escalation(ctx->policies, policy, &remind, &escalate, &to);
	if (remind && ctx->now >= r.created_at + remind &&
	    (rc = mark_once(conn, p, id, "remind", ctx->now)) == 1)
		rc = jg_access_notice(ctx, conn, "request.reminder", &r, JG_NOTIFY_APPROVERS, NULL);
	if (rc >= 0 && escalate && to && ctx->now >= r.created_at + escalate &&
	    (rc = mark_once(conn, p, id, "escalate", ctx->now)) == 1) {
		json_t *fallback = json_pack("{s:[s],s:[]}", "groups", to, "users");
		rc = fallback ? jg_access_notice(ctx, conn, "request.escalated", &r,
						 JG_NOTIFY_APPROVERS, fallback)
			      : JG_ENOMEM;
		json_decref(fallback);
	}
	jg_access_req_clear(&r);
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
			    (rc = jg_access_req_load(conn, ids[i], &r)) != 0)
				continue;
			rc = jg_access_notice(ctx, conn, "grant.expiring", &r, JG_NOTIFY_REQUESTER,
					      NULL);
			jg_access_req_clear(&r);
		}
	/*
	 * an extension still pending as its grant nears its end: the requester
	 * learns that access may stop at the old end, the approvers that it waits
	 */
	if (rc == 0 && expiry_warning > 0 &&
	    (rc = ids_of(conn, sql_extension_waiting, ctx->now, ctx->now + expiry_warning, 0, ids,
			 256, &n)) == 0)
		for (int i = 0; i < n && rc == 0; i++) {
			if ((rc = mark_once(conn, p, ids[i], "extension_pending", ctx->now)) != 1 ||
			    (rc = jg_access_req_load(conn, ids[i], &r)) != 0)
				continue;
			rc = jg_access_notice(ctx, conn, "grant.extension_pending", &r,
					      JG_NOTIFY_REQUESTER | JG_NOTIFY_APPROVERS, NULL);
			jg_access_req_clear(&r);
		}
	if (rc == 0 &&
	    (rc = ids_of(conn, sql_unreviewed, ctx->now - review_overdue, 0, 0, ids, 256, &n)) == 0)
		for (int i = 0; i < n && rc == 0; i++) {
			if ((rc = mark_once(conn, p, ids[i], "review_overdue", ctx->now)) != 1 ||
			    (rc = jg_access_req_load(conn, ids[i], &r)) != 0)
				continue;
			rc = jg_access_notice_break_glass(ctx, conn, "grant.review_overdue", &r);
			jg_access_req_clear(&r);
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

/* ---- access reviews due ---------------------------------------------------------------- */

/*
 * Which services owe a review now: a service added at c is due for its
 * k-th review at c + k * period (k >= 1), covering [c + (k-1)*period,
 * c + k*period).  The mark is ("service:<name>", "review_due:<k>") in
 * notify_marks: once per service and period, whichever replica or restart
 * gets there first.  Returns the number due (dry) or queued, or <0.
 */
static int
reviews_due(const struct jg_access_ctx *ctx, struct jg_store_conn *conn, struct due_pass *p,
	    json_t *services, int64_t period)
{
	json_t *svc;
	size_t i;
	int rc = 0;
	json_array_foreach(services, i, svc)
	{
		const char *name = json_string_value(json_object_get(svc, "name"));
		int64_t created = json_integer_value(json_object_get(svc, "created_at"));
		char key[80], kind[48];
		if (name == NULL || ctx->now - created < period)
			continue;
		int64_t k = (ctx->now - created) / period;
		snprintf(key, sizeof(key), "service:%s", name);
		snprintf(kind, sizeof(kind), "review_due:%lld", (long long)k);
		if ((rc = mark_once(conn, p, key, kind, ctx->now)) != 1)
			continue;
		rc = jg_notify_review_due(ctx->notify, conn, name, json_object_get(svc, "owners"),
					  created + (k - 1) * period, created + k * period);
		if (rc != 0)
			break;
	}
	return rc < 0 ? rc : 0;
}

int
jg_access_notify_reviews_due(const struct jg_access_ctx *ctx, int64_t period)
{
	struct jg_store_conn *conn;
	json_t *services = NULL;
	int rc;

	if (!jg_notify_active(ctx->notify) || period <= 0)
		return 0;
	if ((rc = jg_catalog_service_list(ctx->store, &services)) != 0)
		return rc;
	if (jg_store_acquire(ctx->store, &conn) != 0) {
		json_decref(services);
		return JG_EUNAVAIL;
	}
	struct due_pass look = {.dry = 1}, act = {0};
	rc = reviews_due(ctx, conn, &look, services, period);
	if (rc == 0 && look.due > 0 && (rc = jg_store_begin(conn)) == 0) {
		/* the mark decides under the write lock: another replica may have queued it */
		rc = reviews_due(ctx, conn, &act, services, period);
		rc = rc == 0 ? jg_store_commit(conn) : rc;
		if (rc != 0)
			jg_store_rollback(conn);
	}
	jg_store_release(ctx->store, conn);
	json_decref(services);
	return rc;
}
