/*
 * access_receipt.c - the grant.receipt of a grant that ends, and what the
 * API shows of a grant's use (docs/audit-format.md, "Access receipts").
 *
 * Every path that ends a grant (the sweep's grant.expired, grant.revoked by
 * a person or by off-boarding, and the cancel or non-activation of a grant)
 * appends its end entry and then calls jg_access_receipt() in the same job:
 * the receipt is appended right after the end entry, in the same
 * transaction, from the counters the audit writer keeps (audit_receipt.c
 * owns them; this file only hands over what the lifecycle knows: who
 * asked, who approved, the window), and the requester and the approvers
 * are told, with the receipt, in that transaction too.
 */
#include <string.h>

#include "access_int.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"

int
jg_access_receipt(struct jg_audit_tx *tx, const struct jg_access_ctx *ctx, const struct req *r,
		  const char *end_type)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	json_t *approvers = json_array(), *receipt = NULL;
	struct tally t;
	int rc;

	if (approvers == NULL)
		return JG_ENOMEM;
	if ((rc = jg_access_tally_load(conn, r, 0, &t)) != 0) {
		json_decref(approvers);
		return rc;
	}
	for (size_t p = 0; p < t.n; p++)
		json_array_append_new(approvers, json_string(t.who[p]));
	jg_access_tally_free(&t);
	/* the window: from activation (at approval, or a scheduled start) to the end */
	struct jg_audit_grant_end g = {.grant = r->id,
				       .service = r->service,
				       .requester = r->requester,
				       .end = end_type,
				       .capabilities = r->capabilities,
				       .approvers = approvers,
				       .break_glass = r->break_glass,
				       .started_at = r->activated_at,
				       .expires_at = r->expires_at};
	rc = jg_audit_tx_grant_receipt(tx, &g, &receipt);
	if (rc == 0 && jg_notify_active(ctx->notify)) {
		/* the requester and everyone who approved hear what the grant was used for */
		json_t *to = json_pack("{s:[],s:O}", "groups", "users",
				       json_object_get(receipt, "approvers"));
		struct req now;
		rc = to ? jg_access_req_load(conn, r->id, &now) : JG_ENOMEM;
		if (rc == 0) {
			rc = jg_access_notice(ctx, conn, "grant.receipt", &now,
					      JG_NOTIFY_REQUESTER | JG_NOTIFY_APPROVERS, to);
			jg_access_req_clear(&now);
		}
		json_decref(to);
	}
	json_decref(receipt);
	json_decref(approvers);
	return rc;
}

void
jg_access_usage_json(struct jg_store_conn *conn, const struct req *r, json_t *o)
{
	struct jg_audit_usage u;
	json_t *receipt = NULL;

	/* only a request that became a grant has a use to show (an extension never is one) */
	if (r->activated_at == 0 || r->extends[0] != '\0' ||
	    jg_audit_grant_usage(conn, r->id, &u, &receipt) != 0)
		return;
	json_object_set_new(
	    o, "usage",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "tokens_issued",
		      (json_int_t)u.tokens_issued, "actions", (json_int_t)u.actions, "log_queries",
		      (json_int_t)u.log_queries, "trace_reads", (json_int_t)u.trace_reads,
		      "metric_reads", (json_int_t)u.metric_reads, "probes_deployed",
		      (json_int_t)u.probes_deployed, "probe_calls", (json_int_t)u.probe_calls,
		      "probe_events", (json_int_t)u.probe_events, "pii_reads",
		      (json_int_t)u.pii_reads, "refusals", (json_int_t)u.refusals, "probe_bytes",
		      (json_int_t)u.probe_bytes, "probe_budget_exhausted",
		      (json_int_t)u.probe_budget_exhausted));
	json_object_set_new(o, "unused", json_boolean(u.actions == 0));
	if (receipt != NULL)
		json_object_set_new(o, "receipt", receipt);
}
