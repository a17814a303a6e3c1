/*
 * access_end.c - how a request and a grant end.
 *
 * A request ends once (jg_access_end_request): a second end finds it ended
 * and writes nothing.  Every end of a grant - expiry, revocation,
 * off-boarding, the cancel of a scheduled grant, a scheduled grant that does
 * not start - goes through jg_access_end_grant, so that what a grant's end
 * must bring happens in one place and in the transaction of its end entry:
 * the grant's grant.receipt right after that entry (access_receipt.c), the
 * expiry of its pending extension, and the deletion of the capability
 * tokens kept for it by browser sessions (session_grant.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/notify.h"
#include "jitgate/session_grant.h"
#include "access_int.h"

/* Only what is still open ends: a request ended once (its grant's end took it) stays so. */
static const char sql_set_state[] =
    "UPDATE access_requests SET state = ?, ended_at = ?, end_reason = ?, ended_by = ? "
    "WHERE id = ? AND state IN ('pending', 'scheduled', 'active')";
static const char sql_pending_extensions[] =
    "SELECT id FROM access_requests WHERE extends = ? AND state = 'pending' LIMIT 16";

int
jg_access_end_request(struct jg_store_conn *conn, const char *id, const char *state, int64_t now,
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
	if (rc == 0 && jg_store_changes(conn) != 1)
		rc = JG_ECONFLICT; /* it had ended already: nothing to write about it */
	return rc;
}

/* jg_access_receipt() for the grant id, read as it is now (ended). */
static int
end_receipt(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const char *id,
	    const char *end_type)
{
	struct req r;
	int rc = jg_access_req_load(jg_audit_tx_conn(tx), id, &r);
	if (rc == 0)
		rc = jg_access_receipt(tx, ctx, &r, end_type);
	jg_access_req_clear(&r);
	return rc;
}

/*
 * The end of a grant, whatever ends it (expiry, revocation, off-boarding):
 * the grant's row moves to state (reason, by), its entry `type` (data,
 * borrowed, written as it is) is appended by actor, and each pending
 * extension of the grant expires with it (request.expired, actor system,
 * {request, was, grant}): an extension cannot outlive what it extends.
 * Every path that ends a grant goes through here, so what must happen at a
 * grant's end happens once, in the transaction of its end entry: right
 * after that entry, the grant's grant.receipt (jg_access_receipt), then the
 * tokens kept for it by browser sessions deleted (session_grant.h).  tell:
 * the requester hears of an extension that expired so (request.expired;
 * not when off-boarded).  JG_ECONFLICT when the grant had already ended
 * (nothing written).
 */
int
jg_access_end_grant(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const char *id,
		    const char *state, const char *reason, const char *by, const char *type,
		    json_t *data, int tell)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	char ext[16][64];
	int n = 0, rc;
	struct jg_stmt *st;

	if ((rc = jg_access_end_request(conn, id, state, ctx->now, reason, by)) != 0)
		return rc;
	if ((rc = jg_audit_tx_append(tx, type, by, data, NULL)) != 0)
		return rc;
	/* its access receipt, the very next entry (access_receipt.c) */
	if ((rc = end_receipt(tx, ctx, id, type)) != 0)
		return rc;
	/* the tokens the debugging pages kept for it go with it, in this transaction */
	if ((rc = jg_session_grant_tokens_end(conn, id, NULL)) != 0)
		return rc;
	if (jg_stmt_prepare(conn, sql_pending_extensions, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, id);
	while (n < 16 && (rc = jg_stmt_step(st)) == JG_STMT_ROW)
		jg_access_text_col(st, 0, ext[n++], sizeof(ext[0]));
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE && rc != JG_STMT_ROW)
		return JG_ESTORE;
	rc = 0;
	/* at most one is pending (jg_access_extend); the bound only keeps this loop finite */
	for (int i = 0; i < n && rc == 0; i++) {
		if ((rc = jg_access_end_request(conn, ext[i], "expired", ctx->now,
						"its grant ended", "system")) != 0)
			break;
		json_t *d =
		    json_pack("{s:s,s:s,s:s}", "request", ext[i], "was", "pending", "grant", id);
		rc = d ? jg_audit_tx_append(tx, "request.expired", "system", d, NULL) : JG_ENOMEM;
		json_decref(d);
		struct req r;
		if (rc == 0 && tell && jg_notify_active(ctx->notify) &&
		    (rc = jg_access_req_load(conn, ext[i], &r)) == 0) {
			rc = jg_access_notice(ctx, conn, "request.expired", &r, JG_NOTIFY_REQUESTER,
					      NULL);
			jg_access_req_clear(&r);
		}
	}
	return rc;
}

/*
 * Scheduled grant r (approved, state 'scheduled') does not start, for
 * reason (text for the entry, marked as free text is): its requester no
 * longer qualifies, or its start could not be decided before its window
 * ended (access_schedule.c).  The grant ends before it began, revoked by
 * system, through jg_access_end_grant with entry grant.not_activated
 * {grant, service, reason}, and the requester and its approvers hear of it.
 */
int
jg_access_not_activated(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
			const struct req *r, const char *reason)
{
	json_t *data = json_pack("{s:s,s:s}", "grant", r->id, "service", r->service);
	int rc;

	if (data == NULL)
		return JG_ENOMEM;
	rc = jg_access_entry_text(ctx, data, "reason", reason);
	if (rc == 0)
		rc = jg_access_end_grant(tx, ctx, r->id, "revoked", reason, "system",
					 "grant.not_activated", data, 1);
	if (rc == 0)
		rc = jg_access_notice(ctx, jg_audit_tx_conn(tx), "grant.not_activated", r,
				      JG_NOTIFY_REQUESTER | JG_NOTIFY_APPROVERS, NULL);
	json_decref(data);
	return rc;
}
