/*
 * access_schedule.c - scheduled grants start (the sweeper's part of
 * jg_access_sweep that is not an end).
 *
 * A request with a starts_at that is approved before it waits in state
 * 'scheduled'.  Once starts_at has come, the policy is evaluated again with
 * the newest groups seen for the requester (jg_access_requalify): the grant
 * starts (grant.activated, its window max(starts_at, approval) .. +
 * duration), or it ends before it began (grant.not_activated) when they no
 * longer qualify.
 *
 * Each grant's start is a job of its own in the audit writer, so a start
 * that cannot be decided (the groups seen unreadable, the policy not
 * evaluable) is rolled back alone and never holds back another grant's.  It
 * is tried again each round; once its whole window has passed undecided it
 * ends as not activated, saying why: a grant whose requester nobody could
 * check never starts, not even late.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/notify.h"
#include "access_int.h"

#define STARTS_PER_ROUND 256

/* Read outside the writer: most rounds have none, and need not queue behind the chain head. */
static const char sql_starting[] =
    "SELECT id FROM access_requests WHERE state = 'scheduled' AND starts_at <= ? "
    "ORDER BY starts_at, id LIMIT 256";
/* only from scheduled: a grant revoked, cancelled or started meanwhile stays so */
static const char sql_start[] = "UPDATE access_requests SET state = 'active', activated_at = ?1, "
				"expires_at = ?2 WHERE id = ?3 AND state = 'scheduled'";

struct start_job {
	const struct jg_access_ctx *ctx;
	const char *id;
	int started;   /* 1 started, 0 ended (not activated), -1 nothing done */
	char why[600]; /* a start that could not be decided: why */
};

/*
 * Starts scheduled grant j->id, or ends it when its requester no longer
 * qualifies or its window passed before its start could be decided.  The
 * window is activated_at = max(starts_at, approval) .. activated_at +
 * duration, whenever the sweeper gets to it; a grant whose window passed
 * while no sweeper ran is started, and ended by the next round.  Nothing
 * done (j->started -1) when it is no longer scheduled: another replica's
 * sweeper, or its requester, came first.
 */
static int
start_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct start_job *j = vctx;
	const struct jg_access_ctx *ctx = j->ctx;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct req r;
	char reason[700];
	json_t *data = NULL;
	struct jg_stmt *st;
	int rc;

	j->started = -1;
	if ((rc = jg_access_req_load(conn, j->id, &r)) != 0)
		return rc;
	if (strcmp(r.state, "scheduled") != 0)
		goto out;
	int64_t from = r.starts_at > r.approved_at ? r.starts_at : r.approved_at;
	int64_t until = from + r.duration;
	rc = jg_access_requalify(ctx, conn, &r, j->why, sizeof(j->why));
	if (rc == JG_EDENIED) {
		snprintf(reason, sizeof(reason), "the requester no longer qualifies: %s", j->why);
		j->why[0] = '\0';
		j->started = 0;
		rc = jg_access_not_activated(tx, ctx, &r, reason);
		goto out;
	}
	if (rc != 0 && until <= ctx->now) {
		snprintf(reason, sizeof(reason),
			 "its start could not be decided before its window ended: %s", j->why);
		j->started = 0;
		rc = jg_access_not_activated(tx, ctx, &r, reason);
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((rc = jg_stmt_prepare(conn, sql_start, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, from);
	jg_stmt_bind_int64(st, 2, until);
	jg_stmt_bind_text(st, 3, r.id);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		goto out;
	j->started = 1;
	data = json_pack("{s:s,s:s,s:I,s:I}", "grant", r.id, "service", r.service, "activated_at",
			 (json_int_t)from, "expires_at", (json_int_t)until);
	rc = data ? jg_audit_tx_append(tx, "grant.activated", "system", data, NULL) : JG_ENOMEM;
	if (rc == 0 && jg_notify_active(ctx->notify)) {
		jg_access_req_clear(&r);
		if ((rc = jg_access_req_load(conn, j->id, &r)) == 0)
			rc = jg_access_notice(ctx, conn, "grant.activated", &r, JG_NOTIFY_REQUESTER,
					      NULL);
	}
out:
	json_decref(data);
	jg_access_req_clear(&r);
	return rc;
}

/* The scheduled grants whose start has come, at most n of them, into ids: their number, or < 0. */
static int
starting(const struct jg_access_ctx *ctx, char (*ids)[64], int n)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int got = 0, step = JG_STMT_DONE;

	if (jg_store_acquire(ctx->store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_starting, &st) == 0) {
		jg_stmt_bind_int64(st, 1, ctx->now);
		while (got < n && (step = jg_stmt_step(st)) == JG_STMT_ROW)
			jg_access_text_col(st, 0, ids[got++], sizeof(ids[0]));
		jg_stmt_finish(st);
	} else {
		step = JG_ESTORE;
	}
	jg_store_release(ctx->store, conn);
	return step == JG_STMT_ROW || step == JG_STMT_DONE ? got : JG_ESTORE;
}

int
jg_access_start_due(const struct jg_access_ctx *ctx, int *changed)
{
	char ids[STARTS_PER_ROUND][64];
	int n = starting(ctx, ids, STARTS_PER_ROUND), first = 0;

	*changed = 0;
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct start_job j = {.ctx = ctx, .id = ids[i]};
		int rc = jg_audit_run(ctx->audit, start_fn, &j);
		if (rc == 0) {
			*changed += j.started >= 0;
			continue;
		}
		/* rolled back alone; the next grant's start goes on */
		json_t *f = json_pack("{s:s,s:s}", "grant", ids[i], "why",
				      j.why[0] ? j.why : jg_strerror(rc));
		jg_log(JG_LOG_WARN,
		       "access: a scheduled grant's start cannot be decided now; "
		       "will retry",
		       f);
		json_decref(f);
		if (first == 0)
			first = rc;
	}
	return first;
}
