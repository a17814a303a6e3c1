/*
 * access_refusal.c - refused actions as evidence, within a budget (see
 * access.h, "The transitions").
 *
 * A transition refused to a signed-in caller for lack of rights changes
 * nothing and records a request.action_refused entry instead, at most
 * ctx->refusals_recorded per identity per window; the rest are counted in
 * the action_refusals table (migrations/<engine>/0014_action_refusals.sql, owned
 * here) and summed up in one request.action_refusals_suppressed entry once
 * the window is over.
 *
 * The summary also names what the suppressed refusals were aimed at, so
 * that a budget spent first on harmless refusals (one's own request) cannot
 * hide an attempt on someone else's: the distinct targets (other people's
 * requests, off-boarded users), at most JG_ACCESS_REFUSAL_TARGETS in the
 * order first suppressed, and how many suppressed refusals were aimed at
 * targets left out.  They are kept in the row's `actions` column beside
 * the counts, under the keys "targets" and "targets_left_out" (no action
 * is named so): {"approve": 3, "targets": ["req_..."], "targets_left_out": 0}.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "access_int.h"

/* ---- refused actions ------------------------------------------------------------------ */

static const char sql_refusals_get[] =
    "SELECT window_start, recorded, suppressed, actions FROM action_refusals WHERE actor = ?";
static const char sql_refusals_put[] =
    "INSERT INTO action_refusals (actor, window_start, recorded, suppressed, actions) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (actor) DO UPDATE SET "
    "window_start = excluded.window_start, recorded = excluded.recorded, "
    "suppressed = excluded.suppressed, actions = excluded.actions";
static const char sql_refusals_due[] =
    "SELECT actor, window_start, recorded, suppressed, actions FROM action_refusals "
    "WHERE window_start <= ? AND suppressed > 0 LIMIT 32";
static const char sql_refusals_del[] = "DELETE FROM action_refusals WHERE actor = ?";
static const char sql_refusals_quiet[] =
    "DELETE FROM action_refusals WHERE window_start <= ? AND suppressed = 0";

#define JG_ACCESS_REFUSAL_TARGETS 32

/* One identity's budget: the window it is in and what it counted. */
struct budget {
	char actor[300];
	int64_t start, recorded, suppressed;
	json_t *actions;	  /* the suppressed ones by action */
	json_t *targets;	  /* what they were aimed at (distinct, bounded) */
	int64_t targets_left_out; /* suppressed refusals aimed at targets not listed */
};

static void
budget_clear(struct budget *b)
{
	json_decref(b->actions);
	json_decref(b->targets);
	b->actions = b->targets = NULL;
	b->targets_left_out = 0;
}

static int64_t
refusal_window(const struct jg_access_ctx *ctx)
{
	return ctx->refusals_window > 0 ? ctx->refusals_window : JG_ACCESS_REFUSALS_WINDOW;
}

static int
budget_row(struct jg_stmt *st, int col, struct budget *b)
{
	b->targets = NULL;
	b->targets_left_out = 0;
	b->start = jg_stmt_column_int64(st, col);
	b->recorded = jg_stmt_column_int64(st, col + 1);
	b->suppressed = jg_stmt_column_int64(st, col + 2);
	const char *text = jg_stmt_column_text(st, col + 3);
	b->actions = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_object(b->actions))
		return JG_ESTORE;
	/* the targets beside the counts (a row written before them has none) */
	json_t *t = json_object_get(b->actions, "targets");
	b->targets = json_is_array(t) ? json_incref(t) : json_array();
	b->targets_left_out = json_integer_value(json_object_get(b->actions, "targets_left_out"));
	json_object_del(b->actions, "targets");
	json_object_del(b->actions, "targets_left_out");
	return b->targets ? 0 : JG_ENOMEM;
}

/* Remembers that a suppressed refusal was aimed at target (NULL: nothing to name). */
static int
budget_target(struct budget *b, const char *target)
{
	size_t i;
	json_t *t;

	if (target == NULL)
		return 0;
	json_array_foreach(b->targets, i, t)
	{
		if (strcmp(json_string_value(t), target) == 0)
			return 0;
	}
	if (json_array_size(b->targets) >= JG_ACCESS_REFUSAL_TARGETS) {
		b->targets_left_out++;
		return 0;
	}
	return json_array_append_new(b->targets, json_string(target)) == 0 ? 0 : JG_ENOMEM;
}

/* The summary of a window that is over and left refusals out of the log. */
static int
budget_summary(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const struct budget *b)
{
	json_t *data = json_pack(
	    "{s:I,s:I,s:O,s:O,s:I,s:I,s:I}", "suppressed", (json_int_t)b->suppressed, "recorded",
	    (json_int_t)b->recorded, "actions", b->actions, "targets", b->targets,
	    "targets_left_out", (json_int_t)b->targets_left_out, "window_start",
	    (json_int_t)b->start, "window_end", (json_int_t)b->start + refusal_window(ctx));
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
int
jg_access_refusal_record(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx,
			 const struct jg_access_caller *caller, const char *action, json_t *data,
			 const char *reason, const char *target)
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
		budget_clear(&b);
		b.start = ctx->now;
		b.recorded = b.suppressed = 0;
	}
	if (rc == 0 && b.actions == NULL &&
	    ((b.actions = json_object()) == NULL || (b.targets = json_array()) == NULL))
		rc = JG_ENOMEM;
	if (rc != 0)
		goto out;
	if (b.recorded < allowed) {
		b.recorded++;
		json_object_set_new(data, "action", json_string(action));
		/* jitgate's own words, but they may quote what the caller sent */
		rc = jg_access_entry_text(ctx, data, "reason", reason);
		if (rc == 0)
			rc = jg_audit_tx_append(tx, "request.action_refused", b.actor, data, NULL);
	} else {
		b.suppressed++;
		json_t *n = json_object_get(b.actions, action);
		rc = json_object_set_new(b.actions, action,
					 json_integer(json_integer_value(n) + 1)) == 0
			 ? budget_target(&b, target)
			 : JG_ENOMEM;
	}
	/* the row's column holds the counts and, beside them, the targets */
	json_t *row = rc == 0 ? json_deep_copy(b.actions) : NULL;
	if (rc == 0 &&
	    (row == NULL || json_object_set(row, "targets", b.targets) != 0 ||
	     json_object_set_new(row, "targets_left_out", json_integer(b.targets_left_out)) != 0 ||
	     (actions = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS)) == NULL))
		rc = JG_ENOMEM;
	json_decref(row);
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
	budget_clear(&b);
	return rc;
}

/* Summaries of the windows that are over and suppressed refusals; quiet ones are dropped. */
int
jg_access_refusals_sweep(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx)
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
		jg_access_text_col(st, 0, due[n].actor, sizeof(due[n].actor));
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
		budget_clear(&due[i]);
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_refusals_quiet, &st)) == 0) {
		jg_stmt_bind_int64(st, 1, ended);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	return rc;
}
