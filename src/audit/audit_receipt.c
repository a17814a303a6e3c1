/*
 * audit_receipt.c - access receipts: per-grant counters kept by the writer,
 * the grant.receipt entry written when a grant ends, and its recomputation
 * from an export or an archive (docs/audit-format.md, "Access receipts").
 *
 * Every entry whose data names a grant (data.grant, else data.request) is
 * classified by jg_audit_usage_classify() when the writer appends it, and
 * the grant's row of audit_grant_usage (this file owns the table) is
 * brought up to date by one UPSERT in the entry's own transaction - queued
 * with the entry on PostgreSQL's pipelined batches - so the counters always
 * say exactly what the committed log says, and a receipt reads one row,
 * never the log.  The request lifecycle (access) calls
 * jg_audit_tx_grant_receipt() right after a grant's end entry, in the same
 * job, with what it knows of the grant (who asked, the window); the
 * receipt adds the counters and the end entry's seq and time.
 *
 * `jitgate audit receipt` recomputes the same data from the entries of a
 * verified export or archive with the same classification and the same
 * builder (receipt_build), taking who asked, who approved and the window
 * from the lifecycle's entries, and compares the two field by field.
 */
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "jitgate/error.h"

#define RECEIPT_MAX_APPROVERS 64 /* bytes stay far below an entry's cap */

/* ---- classification --------------------------------------------------------- */

/* The guarded actions (guard.c records them before they happen). */
static const struct {
	const char *type;
	size_t counter; /* offsetof the counter in struct jg_audit_usage */
} guarded[] = {
    {"logs.read", offsetof(struct jg_audit_usage, log_queries)},
    {"traces.read", offsetof(struct jg_audit_usage, trace_reads)},
    {"traces.search", offsetof(struct jg_audit_usage, trace_reads)},
    {"metrics.read", offsetof(struct jg_audit_usage, metric_reads)},
    {"probe.deploy", offsetof(struct jg_audit_usage, probes_deployed)},
    {"probe.list", offsetof(struct jg_audit_usage, probe_calls)},
    {"probe.delete", offsetof(struct jg_audit_usage, probe_calls)},
    {"probe.events.read", offsetof(struct jg_audit_usage, probe_calls)},
};

static void
bump(struct jg_audit_usage *u, size_t counter, int64_t by)
{
	int64_t *c = (int64_t *)(void *)((char *)u + counter);
	*c += by;
}

int
jg_audit_usage_classify(const char *type, const json_t *data, char grant[JG_AUDIT_GRANT_ID_MAX],
			struct jg_audit_usage *d)
{
	const char *g = json_string_value(json_object_get(data, "grant"));

	memset(d, 0, sizeof(*d));
	grant[0] = '\0';
	if (g == NULL)
		g = json_string_value(json_object_get(data, "request"));
	/*
	 * the receipt names its grant but is not part of what it counts; a
	 * refusal to a signed-in caller (and its suppressed summary) names the
	 * request someone else aimed at: anyone who knows a grant's id could
	 * otherwise raise its receipt's entries and last_seq
	 */
	if (g == NULL || *g == '\0' || strlen(g) >= JG_AUDIT_GRANT_ID_MAX ||
	    strcmp(type, "grant.receipt") == 0 || strcmp(type, "request.action_refused") == 0 ||
	    strcmp(type, "request.action_refusals_suppressed") == 0)
		return 0;
	memcpy(grant, g, strlen(g) + 1);
	d->entries = 1;
	if (strcmp(type, "token.issued") == 0) {
		d->tokens_issued = 1;
	} else if (strcmp(type, "guard.refused") == 0) {
		d->refusals = 1;
	} else if (strcmp(type, "probe.events.ingested") == 0) {
		json_int_t n = json_integer_value(json_object_get(data, "count"));
		d->probe_events = n > 0 ? (int64_t)n : 0;
		/* entries from before bytes were recorded have none: they add 0 */
		n = json_integer_value(json_object_get(data, "bytes"));
		d->probe_bytes = n > 0 ? (int64_t)n : 0;
	} else if (strcmp(type, "probe.budget_exhausted") == 0) {
		d->probe_budget_exhausted = 1;
	} else {
		for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
			if (strcmp(type, guarded[i].type) == 0) {
				bump(d, guarded[i].counter, 1);
				d->actions = 1;
				d->pii_reads = json_is_true(json_object_get(data, "pii"));
				break;
			}
	}
	return 1;
}

static void
usage_add(struct jg_audit_usage *u, const struct jg_audit_usage *d, int64_t seq)
{
	if (u->entries == 0)
		u->first_seq = seq;
	u->last_seq = seq;
	u->entries += d->entries;
	u->tokens_issued += d->tokens_issued;
	u->actions += d->actions;
	u->log_queries += d->log_queries;
	u->trace_reads += d->trace_reads;
	u->metric_reads += d->metric_reads;
	u->probes_deployed += d->probes_deployed;
	u->probe_calls += d->probe_calls;
	u->probe_events += d->probe_events;
	u->probe_bytes += d->probe_bytes;
	u->probe_budget_exhausted += d->probe_budget_exhausted;
	u->pii_reads += d->pii_reads;
	u->refusals += d->refusals;
}

/* ---- the counters (the writer's side) ------------------------------------------ */

static const char sql_usage_upsert[] =
    "INSERT INTO audit_grant_usage (grant_id, first_seq, last_seq, entries, tokens_issued, "
    "actions, log_queries, trace_reads, metric_reads, probes_deployed, probe_calls, probe_events, "
    "pii_reads, refusals, probe_bytes, probe_budget_exhausted) "
    "VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (grant_id) DO UPDATE SET last_seq = excluded.last_seq, "
    "entries = audit_grant_usage.entries + 1, "
    "tokens_issued = audit_grant_usage.tokens_issued + excluded.tokens_issued, "
    "actions = audit_grant_usage.actions + excluded.actions, "
    "log_queries = audit_grant_usage.log_queries + excluded.log_queries, "
    "trace_reads = audit_grant_usage.trace_reads + excluded.trace_reads, "
    "metric_reads = audit_grant_usage.metric_reads + excluded.metric_reads, "
    "probes_deployed = audit_grant_usage.probes_deployed + excluded.probes_deployed, "
    "probe_calls = audit_grant_usage.probe_calls + excluded.probe_calls, "
    "probe_events = audit_grant_usage.probe_events + excluded.probe_events, "
    "pii_reads = audit_grant_usage.pii_reads + excluded.pii_reads, "
    "refusals = audit_grant_usage.refusals + excluded.refusals, "
    "probe_bytes = audit_grant_usage.probe_bytes + excluded.probe_bytes, "
    "probe_budget_exhausted = audit_grant_usage.probe_budget_exhausted + "
    "excluded.probe_budget_exhausted";

int
jg_audit_usage_count(struct jg_audit_tx *tx, const char *grant, const struct jg_audit_usage *d,
		     uint64_t seq)
{
	struct jg_stmt *st;
	int rc;

	if (jg_stmt_prepare(tx->conn, sql_usage_upsert, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, grant);
	jg_stmt_bind_int64(st, 2, (int64_t)seq);
	jg_stmt_bind_int64(st, 3, (int64_t)seq);
	jg_stmt_bind_int64(st, 4, d->tokens_issued);
	jg_stmt_bind_int64(st, 5, d->actions);
	jg_stmt_bind_int64(st, 6, d->log_queries);
	jg_stmt_bind_int64(st, 7, d->trace_reads);
	jg_stmt_bind_int64(st, 8, d->metric_reads);
	jg_stmt_bind_int64(st, 9, d->probes_deployed);
	jg_stmt_bind_int64(st, 10, d->probe_calls);
	jg_stmt_bind_int64(st, 11, d->probe_events);
	jg_stmt_bind_int64(st, 12, d->pii_reads);
	jg_stmt_bind_int64(st, 13, d->refusals);
	jg_stmt_bind_int64(st, 14, d->probe_bytes);
	jg_stmt_bind_int64(st, 15, d->probe_budget_exhausted);
	if (tx->pipelined) {
		rc = jg_stmt_queue(st);
		jg_stmt_finish(st);
	} else {
		rc = jg_stmt_run(st);
	}
	return rc == 0 ? 0 : JG_ESTORE;
}

static const char sql_usage_select[] =
    "SELECT first_seq, last_seq, entries, tokens_issued, actions, log_queries, trace_reads, "
    "metric_reads, probes_deployed, probe_calls, probe_events, pii_reads, refusals, probe_bytes, "
    "probe_budget_exhausted, receipt_seq FROM audit_grant_usage WHERE grant_id = ?";
static const char sql_usage_receipt[] =
    "UPDATE audit_grant_usage SET receipt_seq = ? WHERE grant_id = ?";

/* The row of grant: 0, JG_ENOTFOUND or JG_ESTORE; *receipt_seq -1 when none. */
static int
usage_load(struct jg_store_conn *conn, const char *grant, struct jg_audit_usage *u,
	   int64_t *receipt_seq)
{
	struct jg_stmt *st;
	int64_t *cols[] = {&u->first_seq,     &u->last_seq,	&u->entries,
			   &u->tokens_issued, &u->actions,	&u->log_queries,
			   &u->trace_reads,   &u->metric_reads, &u->probes_deployed,
			   &u->probe_calls,   &u->probe_events, &u->pii_reads,
			   &u->refusals,      &u->probe_bytes,	&u->probe_budget_exhausted};

	memset(u, 0, sizeof(*u));
	if (jg_stmt_prepare(conn, sql_usage_select, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, grant);
	int step = jg_stmt_step(st);
	if (step == JG_STMT_ROW) {
		for (int i = 0; i < 15; i++)
			*cols[i] = jg_stmt_column_int64(st, i);
		*receipt_seq = jg_stmt_column_is_null(st, 15) ? -1 : jg_stmt_column_int64(st, 15);
	}
	jg_stmt_finish(st);
	return step == JG_STMT_ROW ? 0 : step == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
}

/* ---- the receipt ------------------------------------------------------------------ */

/* What a receipt says besides the counters. */
struct facts {
	const char *grant, *service, *requester, *end;
	const json_t *capabilities, *approvers;
	int break_glass;
	int64_t started_at, expires_at, ended_at;
};

static int
by_bytes(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* approvers (array of strings, may be NULL) sorted by their bytes, without repeats. */
static json_t *
sorted_unique(const json_t *approvers)
{
	const char *v[RECEIPT_MAX_APPROVERS] = {NULL};
	size_t n = 0, i;
	json_t *s, *out = json_array();

	json_array_foreach(approvers, i, s)
	{
		if (json_is_string(s) && n < RECEIPT_MAX_APPROVERS)
			v[n++] = json_string_value(s);
	}
	qsort(v, n, sizeof(v[0]), by_bytes);
	for (i = 0; out != NULL && i < n; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			json_array_append_new(out, json_string(v[i]));
	return out;
}

/* The receipt's data (docs/audit-format.md, "Access receipts"); NULL when out of memory. */
static json_t *
receipt_build(const struct facts *f, const struct jg_audit_usage *u)
{
	json_t *caps = f->capabilities ? json_deep_copy(f->capabilities) : json_array();
	return json_pack(
	    "{s:s,s:s,s:s,s:o*,s:o*,s:b,s:I,s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
	    "s:I,s:I,s:I,s:b,s:I,s:I}",
	    "grant", f->grant, "service", f->service ? f->service : "", "requester",
	    f->requester ? f->requester : "", "capabilities", caps, "approvers",
	    sorted_unique(f->approvers), "break_glass", f->break_glass, "started_at",
	    (json_int_t)f->started_at, "expires_at", (json_int_t)f->expires_at, "ended_at",
	    (json_int_t)f->ended_at, "end", f->end ? f->end : "", "first_seq",
	    (json_int_t)u->first_seq, "last_seq", (json_int_t)u->last_seq, "entries",
	    (json_int_t)u->entries, "tokens_issued", (json_int_t)u->tokens_issued, "actions",
	    (json_int_t)u->actions, "log_queries", (json_int_t)u->log_queries, "trace_reads",
	    (json_int_t)u->trace_reads, "metric_reads", (json_int_t)u->metric_reads,
	    "probes_deployed", (json_int_t)u->probes_deployed, "probe_calls",
	    (json_int_t)u->probe_calls, "probe_events", (json_int_t)u->probe_events, "pii_reads",
	    (json_int_t)u->pii_reads, "refusals", (json_int_t)u->refusals, "unused",
	    u->actions == 0, "probe_bytes", (json_int_t)u->probe_bytes, "probe_budget_exhausted",
	    (json_int_t)u->probe_budget_exhausted);
}

int
jg_audit_tx_grant_receipt(struct jg_audit_tx *tx, const struct jg_audit_grant_end *g,
			  json_t **receipt)
{
	struct jg_audit_usage u;
	struct jg_audit_receipt rec;
	int64_t receipt_seq;
	struct jg_stmt *st;
	int rc;

	if (receipt != NULL)
		*receipt = NULL;
	if (tx->size == 0)
		return JG_ENOTFOUND;
	if ((rc = usage_load(tx->conn, g->grant, &u, &receipt_seq)) != 0)
		return rc;
	/* the end entry was this transaction's last append, and it names the grant */
	if ((uint64_t)u.last_seq != tx->size - 1)
		return JG_ENOTFOUND;
	struct facts f = {.grant = g->grant,
			  .service = g->service,
			  .requester = g->requester,
			  .end = g->end,
			  .capabilities = g->capabilities,
			  .approvers = g->approvers,
			  .break_glass = g->break_glass,
			  .started_at = g->started_at,
			  .expires_at = g->expires_at,
			  .ended_at = tx->last_ts / 1000};
	json_t *data = receipt_build(&f, &u);
	if (data == NULL)
		return JG_ENOMEM;
	if ((rc = jg_audit_tx_append(tx, "grant.receipt", "system", data, &rec)) != 0)
		goto out;
	if (jg_stmt_prepare(tx->conn, sql_usage_receipt, &st) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	jg_stmt_bind_int64(st, 1, (int64_t)rec.seq);
	jg_stmt_bind_text(st, 2, g->grant);
	rc = jg_stmt_run(st) == 0 ? 0 : JG_ESTORE;
out:
	if (rc == 0 && receipt != NULL) {
		*receipt = data;
		data = NULL;
	}
	json_decref(data);
	return rc;
}

int
jg_audit_grant_usage(struct jg_store_conn *conn, const char *grant, struct jg_audit_usage *usage,
		     json_t **receipt)
{
	int64_t receipt_seq;
	json_t *entry = NULL;
	uint8_t leaf[32];

	*receipt = NULL;
	int rc = usage_load(conn, grant, usage, &receipt_seq);
	if (rc != 0 || receipt_seq < 0)
		return rc;
	rc = jg_audit_read_leaf(conn, (uint64_t)receipt_seq, leaf, &entry);
	if (rc != 0)
		return rc == JG_ENOTFOUND ? JG_ESTORE : rc;
	json_t *data = json_object_get(entry, "data");
	if (strcmp(json_string_value(json_object_get(entry, "type")) ?: "", "grant.receipt") == 0 &&
	    strcmp(json_string_value(json_object_get(data, "grant")) ?: "", grant) == 0)
		*receipt = json_incref(data);
	json_decref(entry);
	return *receipt != NULL ? 0 : JG_ESTORE;
}

/* ---- recomputation ---------------------------------------------------------------- */

struct scan {
	const char *grant;
	uint64_t first_seen; /* the first entry of the file */
	bool any;
	struct jg_audit_usage u;
	json_t *created;     /* request.created's data (a reference) */
	char requester[300]; /* its actor, "user:" taken off */
	json_t *approvers;   /* actors of request.approved, "user:" taken off */
	int64_t duration, started_at, expires_at, ended_at;
	char end[40];
	json_t *recorded, *recomputed; /* once the grant.receipt is found */
};

/* An actor as the lifecycle's rows name people: "user:<sub>" is <sub>. */
static const char *
person(const char *actor)
{
	return strncmp(actor, "user:", 5) == 0 ? actor + 5 : actor;
}

static bool
is_end(const char *type)
{
	return strcmp(type, "grant.expired") == 0 || strcmp(type, "grant.revoked") == 0 ||
	       strcmp(type, "request.cancelled") == 0 || strcmp(type, "grant.not_activated") == 0;
}

/* What one lifecycle entry of the grant says of who and when. */
static void
scan_lifecycle(struct scan *s, const char *type, const char *actor, json_t *data, int64_t ts,
	       int64_t seq)
{
	json_int_t exp = json_integer_value(json_object_get(data, "expires_at"));
	bool has_exp = json_is_integer(json_object_get(data, "expires_at"));

	(void)seq;
	/*
	 * request.* entries speak of the grant's own request only when they name
	 * it as "request": an extension's (request = the extension, grant = this
	 * grant) is counted, but neither asks nor approves this grant.
	 */
	if (strncmp(type, "request.", 8) == 0 &&
	    strcmp(json_string_value(json_object_get(data, "request")) ?: "", s->grant) != 0)
		return;
	if (strcmp(type, "request.created") == 0) {
		json_decref(s->created);
		s->created = json_incref(data);
		snprintf(s->requester, sizeof(s->requester), "%s", person(actor));
		s->duration = json_integer_value(json_object_get(data, "duration"));
		if (has_exp) {
			s->expires_at = exp;
			s->started_at = exp - s->duration;
		}
	} else if (strcmp(type, "request.approved") == 0) {
		json_array_append_new(s->approvers, json_string(person(actor)));
		if (json_is_true(json_object_get(data, "activated")) && has_exp) {
			s->expires_at = exp;
			s->started_at = exp - s->duration;
		}
	} else if (strcmp(type, "grant.activated") == 0) {
		s->started_at = json_integer_value(json_object_get(data, "activated_at"));
		if (has_exp)
			s->expires_at = exp;
	} else if (strcmp(type, "grant.extended") == 0) {
		if (has_exp)
			s->expires_at = exp;
	} else if (is_end(type)) {
		snprintf(s->end, sizeof(s->end), "%s", type);
		s->ended_at = ts / 1000;
	}
}

static int
scan_entry(void *ctx, uint64_t seq, const void *bytes, size_t len)
{
	struct scan *s = ctx;
	char grant[JG_AUDIT_GRANT_ID_MAX];
	struct jg_audit_usage d;

	if (!s->any) {
		s->any = true;
		s->first_seen = seq;
	}
	if (s->recorded != NULL)
		return 0; /* the receipt covers what came before it */
	json_t *e = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, NULL);
	if (e == NULL)
		return JG_ENOMEM; /* a verified entry is JSON */
	const char *type = json_string_value(json_object_get(e, "type")) ?: "";
	const char *actor = json_string_value(json_object_get(e, "actor")) ?: "";
	json_t *data = json_object_get(e, "data");
	int64_t ts = json_integer_value(json_object_get(e, "ts"));
	if (strcmp(type, "grant.receipt") == 0 &&
	    strcmp(json_string_value(json_object_get(data, "grant")) ?: "", s->grant) == 0) {
		const json_t *c = s->created;
		struct facts f = {
		    .grant = s->grant,
		    .service = json_string_value(json_object_get(c, "service")),
		    .requester = s->requester,
		    .end = s->end,
		    .capabilities = json_object_get(c, "capabilities"),
		    .approvers = s->approvers,
		    .break_glass = json_is_true(json_object_get(c, "break_glass")),
		    .started_at = s->started_at,
		    .expires_at = s->expires_at,
		    .ended_at = s->ended_at,
		};
		s->recorded = json_incref(data);
		s->recomputed = receipt_build(&f, &s->u);
		json_decref(e);
		return s->recomputed != NULL ? 0 : JG_ENOMEM;
	}
	if (jg_audit_usage_classify(type, data, grant, &d) && strcmp(grant, s->grant) == 0) {
		usage_add(&s->u, &d, (int64_t)seq);
		scan_lifecycle(s, type, actor, data, ts, (int64_t)seq);
	}
	json_decref(e);
	return 0;
}

/*
 * The fields receipts gained after the first ones (docs/audit-format.md,
 * "Access receipts"): a receipt written before has none of them, and is
 * compared on the fields it has.
 */
static bool
field_added_later(const char *k)
{
	return strcmp(k, "probe_bytes") == 0 || strcmp(k, "probe_budget_exhausted") == 0;
}

/* The verdict once the file verified: *out and 0, JG_ECONFLICT, JG_ENOTFOUND or JG_EINVAL. */
static int
verdict(struct scan *s, json_t **out)
{
	json_t *diff = json_array();
	const char *k;
	json_t *v;
	int rc;

	if (diff == NULL)
		return JG_ENOMEM;
	if (s->recorded == NULL) {
		rc = JG_ENOTFOUND;
	} else {
		json_object_foreach(s->recorded, k, v)
		{
			if (!json_equal(v, json_object_get(s->recomputed, k)))
				json_array_append_new(diff, json_string(k));
		}
		json_object_foreach(s->recomputed, k, v)
		{
			/* a receipt written before a field was added lacks it: not a difference */
			if (json_object_get(s->recorded, k) == NULL && !field_added_later(k))
				json_array_append_new(diff, json_string(k));
		}
		json_int_t first = json_integer_value(json_object_get(s->recorded, "first_seq"));
		rc = json_array_size(diff) == 0			 ? 0
		     : s->any && (uint64_t)first < s->first_seen ? JG_EINVAL
								 : JG_ECONFLICT;
	}
	*out = json_pack("{s:s,s:O?,s:O?,s:o,s:I}", "grant", s->grant, "recorded", s->recorded,
			 "recomputed", s->recomputed, "differences", diff, "from",
			 (json_int_t)(s->any ? s->first_seen : 0));
	return *out != NULL ? rc : JG_ENOMEM;
}

static void
scan_clear(struct scan *s)
{
	json_decref(s->created);
	json_decref(s->approvers);
	json_decref(s->recorded);
	json_decref(s->recomputed);
}

int
jg_audit_receipt_export(const char *buf, size_t len, const char *grant,
			const struct jg_audit_verifiers *verifiers, int threads, json_t **out,
			struct jg_chain_fault *fault)
{
	struct scan s = {.grant = grant, .approvers = json_array()};
	char summary[512];
	int rc;

	*out = NULL;
	if (s.approvers == NULL)
		return JG_ENOMEM;
	rc = jg_audit_verify_export_each(buf, len, verifiers, NULL, 0, threads, summary,
					 sizeof(summary), fault, scan_entry, &s);
	if (rc == 0)
		rc = verdict(&s, out);
	scan_clear(&s);
	return rc;
}

int
jg_audit_receipt_archive(const char *dir, const char *grant,
			 const struct jg_audit_verifiers *verifiers, int threads, json_t **out,
			 struct jg_chain_fault *fault)
{
	struct scan s = {.grant = grant, .approvers = json_array()};
	char summary[512];
	int rc;

	*out = NULL;
	if (s.approvers == NULL)
		return JG_ENOMEM;
	rc = jg_audit_verify_archive_each(dir, verifiers, threads, summary, sizeof(summary), fault,
					  scan_entry, &s);
	if (rc == 0)
		rc = verdict(&s, out);
	scan_clear(&s);
	return rc;
}
