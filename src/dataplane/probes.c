/*
 * probes.c - dynamic probes and the events agents capture for them (see
 * probes.h).  Owner of the probes and probe_events tables.
 *
 * Whether a probe's grant is still active is access's to say
 * (jg_access_grant_live): the lists walk the service's candidate probes
 * (not deleted, not past their end) oldest first and keep those whose
 * grant is live, asking access once per distinct grant, until
 * JG_PROBE_LIST_MAX are found.  Grants are few per service and each
 * question is one primary-key lookup, so this costs about what the join
 * on access_requests it replaces cost, and keeps that table's SQL in its
 * owner.  A list is read a page of candidates at a time, each page one
 * query without a transaction (live_probes says why that is consistent).
 *
 * A batch of events is stored by one audit work function: the probe's row
 * re-read (liveness, limits, token bucket; locked on PostgreSQL), its
 * events counted, each event stored or refused in order, the bucket
 * written back, one probe.events.ingested entry holding the SHA-256 of
 * what was stored, and when max_hits is reached the probe disabled with a
 * probe.disabled entry - all in that one transaction.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/pii.h"
#include "jitgate/probe_metric.h"
#include "jitgate/probe_template.h"
#include "jitgate/probes.h"
#include "jitgate/random.h"
#include "jitgate/redact.h"
#include "jitgate/sha256.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"

bool
jg_probe_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= JG_PROBE_ID_MAX &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---- limits ------------------------------------------------------------------ */

static const struct {
	const char *name;
	size_t off;
	int64_t def, lo, hi;
} limit_defs[] = {
#define LIM(m, d, l, h)                                                                            \
	{                                                                                          \
#m, offsetof(struct jg_probe_limits, m), d, l, h                                   \
	}
    LIM(max_hits, 100, 1, 10000),
    LIM(max_events_per_second, 10, 1, 100),
    LIM(max_depth, 3, 1, 8),
    LIM(max_string_bytes, 255, 16, 4096),
    LIM(max_collection_items, 100, 1, 1000),
    LIM(max_fields, 20, 1, 100),
    LIM(max_cpu_ms_per_second, 5, 1, 100),
#undef LIM
};
#define NLIMITS (sizeof(limit_defs) / sizeof(limit_defs[0]))

static int64_t *
limit_at(struct jg_probe_limits *l, size_t i)
{
	return (int64_t *)((char *)l + limit_defs[i].off);
}

int
jg_probe_limits_parse(const json_t *limits, struct jg_probe_limits *out, const char **bad,
		      char *why, size_t why_len)
{
	const char *key;
	json_t *v;

	for (size_t i = 0; i < NLIMITS; i++)
		*limit_at(out, i) = limit_defs[i].def;
	*bad = NULL;
	if (limits == NULL)
		return 0;
	if (!json_is_object(limits)) {
		*bad = "limits";
		snprintf(why, why_len,
			 "'limits' must be an object such as {\"max_hits\": 100} (members left out "
			 "take their defaults)");
		return JG_EINVAL;
	}
	json_object_foreach((json_t *)limits, key, v)
	{
		size_t i = 0;
		while (i < NLIMITS && strcmp(key, limit_defs[i].name) != 0)
			i++;
		if (i == NLIMITS) {
			*bad = "limits";
			snprintf(why, why_len, "unknown limit '%.64s'", key);
			return JG_EINVAL;
		}
		if (!json_is_integer(v) || json_integer_value(v) < limit_defs[i].lo ||
		    json_integer_value(v) > limit_defs[i].hi) {
			*bad = limit_defs[i].name;
			snprintf(why, why_len, "'limits.%s' must be an integer from %lld to %lld",
				 limit_defs[i].name, (long long)limit_defs[i].lo,
				 (long long)limit_defs[i].hi);
			return JG_EINVAL;
		}
		*limit_at(out, i) = json_integer_value(v);
	}
	return 0;
}

json_t *
jg_probe_limits_json(const struct jg_probe_limits *l)
{
	json_t *o = json_object();
	for (size_t i = 0; o != NULL && i < NLIMITS; i++)
		if (json_object_set_new(o, limit_defs[i].name,
					json_integer(*limit_at((struct jg_probe_limits *)l, i))) !=
		    0) {
			json_decref(o);
			o = NULL;
		}
	return o;
}

/* Whether value v at depth d (1: an argument, the return or the error) fits l. */
static bool
value_fits(const json_t *v, int64_t d, const struct jg_probe_limits *l)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_string(v))
		return (int64_t)json_string_length(v) <= l->max_string_bytes;
	if (!json_is_object(v) && !json_is_array(v))
		return true;
	/* an object or array at max_depth is sent empty: nothing is deeper */
	if (d >= l->max_depth)
		return json_is_object(v) ? json_object_size(v) == 0 : json_array_size(v) == 0;
	if (json_is_array(v)) {
		if ((int64_t)json_array_size(v) > l->max_collection_items)
			return false;
		json_array_foreach(v, i, c) if (!value_fits(c, d + 1, l)) return false;
		return true;
	}
	if ((int64_t)json_object_size(v) > l->max_fields)
		return false;
	json_object_foreach((json_t *)v, k, c) if (!value_fits(c, d + 1, l)) return false;
	return true;
}

bool
jg_probe_event_fits(const json_t *event, const struct jg_probe_limits *l)
{
	json_t *args = json_object_get(event, "args"), *c;
	const char *k;

	if (args != NULL && !json_is_null(args)) { /* null: no arguments captured */
		/* args is the object of the arguments: counted as an object, its members at depth 1
		 */
		if (!json_is_object(args) || (int64_t)json_object_size(args) > l->max_fields)
			return false;
		json_object_foreach(args, k, c) if (!value_fits(c, 1, l)) return false;
	}
	return value_fits(json_object_get(event, "return"), 1, l) &&
	       value_fits(json_object_get(event, "error"), 1, l);
}

/* ---- the grant's budget ------------------------------------------------------ */

/*
 * What a grant may spend on probes (access: the budget it carries) and what
 * it spent (probe_grant_usage, this file's): read and written only in the
 * transaction of a deploy or a batch, the usage row locked first (FOR
 * UPDATE on PostgreSQL) and before any probe row, so agents and replicas
 * working for probes of one grant take turns on it and never deadlock.
 */
static const char sql_usage_ensure[] =
    "INSERT INTO probe_grant_usage (grant_id) VALUES (?) ON CONFLICT (grant_id) DO NOTHING";
#define USAGE_READ                                                                                 \
	"SELECT probes, hits, bytes, probes_exhausted_at IS NOT NULL, events_exhausted_at IS NOT " \
	"NULL FROM probe_grant_usage WHERE grant_id = ?"
static const char sql_usage_read[] = USAGE_READ;
static const char sql_usage_read_pg[] = USAGE_READ " FOR UPDATE";
static const char sql_usage_write[] =
    "UPDATE probe_grant_usage SET probes = ?, hits = ?, bytes = ? WHERE grant_id = ?";
static const char sql_usage_probes_out[] =
    "UPDATE probe_grant_usage SET probes_exhausted_at = ? WHERE grant_id = ?";
static const char sql_usage_events_out[] =
    "UPDATE probe_grant_usage SET events_exhausted_at = ? WHERE grant_id = ?";
static const char sql_usage_peek[] =
    "SELECT probes, hits, bytes, probes_exhausted_at IS NOT NULL, events_exhausted_at IS NOT "
    "NULL FROM probe_grant_usage WHERE grant_id = ? ";

struct budget {
	struct jg_policy_probe_budget max; /* the grant's (0: that member bounds nothing) */
	int64_t probes, hits, bytes;	   /* spent */
	bool probes_out, events_out;	   /* the probe.budget_exhausted entries written */
};

/* The usage row st steps to into *b (its max untouched); 0, JG_ENOTFOUND or JG_ESTORE. */
static int
usage_row(struct jg_stmt *st, struct budget *b)
{
	int rc = jg_stmt_step(st);

	if (rc != JG_STMT_ROW)
		return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	b->probes = jg_stmt_column_int64(st, 0);
	b->hits = jg_stmt_column_int64(st, 1);
	b->bytes = jg_stmt_column_int64(st, 2);
	b->probes_out = jg_stmt_column_int64(st, 3) != 0;
	b->events_out = jg_stmt_column_int64(st, 4) != 0;
	return 0;
}

/* Grant's budget and usage, its usage row made if need be and locked (in a transaction). */
static int
budget_take(struct jg_store_conn *conn, const char *grant, struct budget *b)
{
	struct jg_stmt *st;
	int rc;

	memset(b, 0, sizeof(*b));
	if ((rc = jg_access_grant_probe_budget(conn, grant, &b->max)) != 0)
		return rc == JG_ENOTFOUND ? JG_ENOTFOUND : JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_usage_ensure, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, grant);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;
	if (jg_stmt_prepare(conn,
			    jg_store_conn_engine(conn) == JG_STORE_POSTGRES ? sql_usage_read_pg
									    : sql_usage_read,
			    &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, grant);
	rc = usage_row(st, b);
	jg_stmt_finish(st);
	return rc == 0 ? 0 : JG_ESTORE; /* made just above: missing is a store failure */
}

static int
budget_put(struct jg_store_conn *conn, const char *grant, const struct budget *b)
{
	struct jg_stmt *st;
	int rc;

	if (jg_stmt_prepare(conn, sql_usage_write, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, b->probes);
	jg_stmt_bind_int64(st, 2, b->hits);
	jg_stmt_bind_int64(st, 3, b->bytes);
	jg_stmt_bind_text(st, 4, grant);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

/* The budget as the API and the audit log show it (caller decrefs; NULL: out of memory). */
static json_t *
budget_json(const char *grant, const struct budget *b)
{
	json_t *max = jg_policy_probe_budget_json(&b->max);
	int64_t left[3] = {b->max.max_probes - b->probes, b->max.max_hits - b->hits,
			   b->max.max_bytes - b->bytes};
	int64_t maxes[3] = {b->max.max_probes, b->max.max_hits, b->max.max_bytes};
	json_t *rem[3];

	for (int i = 0; i < 3; i++) /* null: nothing bounds it */
		rem[i] = maxes[i] > 0
			     ? json_integer(left[i] > 0 && !(i > 0 && b->events_out) ? left[i] : 0)
			     : json_null();
	return json_pack("{s:s,s:o,s:{s:I,s:I,s:I},s:{s:o,s:o,s:o},s:b,s:b}", "grant", grant,
			 "budget", max ? max : json_null(), "used", "probes", (json_int_t)b->probes,
			 "hits", (json_int_t)b->hits, "bytes", (json_int_t)b->bytes, "remaining",
			 "probes", rem[0], "hits", rem[1], "bytes", rem[2], "probes_exhausted",
			 b->probes_out, "events_exhausted", b->events_out);
}

/*
 * The probe.budget_exhausted entry of grant (reason max_probes, max_hits or
 * max_bytes; disabled: the probes it disabled, or NULL), and the mark that
 * it was written, so it is written once per kind (probes, events).
 */
static int
budget_exhausted(struct jg_audit_tx *tx, const char *actor, const char *service, const char *grant,
		 const struct budget *b, const char *reason, json_t *disabled, int64_t now)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	bool events = strcmp(reason, "max_probes") != 0;
	struct jg_stmt *st;
	int rc;

	if (jg_stmt_prepare(conn, events ? sql_usage_events_out : sql_usage_probes_out, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_text(st, 2, grant);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;
	json_t *max = jg_policy_probe_budget_json(&b->max);
	json_t *data = json_pack("{s:s,s:s,s:s,s:o,s:{s:I,s:I,s:I}}", "grant", grant, "service",
				 service, "reason", reason, "budget", max ? max : json_null(),
				 "used", "probes", (json_int_t)b->probes, "hits",
				 (json_int_t)b->hits, "bytes", (json_int_t)b->bytes);
	if (data != NULL && disabled != NULL && json_object_set(data, "disabled", disabled) != 0) {
		json_decref(data);
		data = NULL;
	}
	rc = data ? jg_audit_tx_append(tx, "probe.budget_exhausted", actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
	return rc;
}

int
jg_probe_budget_read(struct jg_store *s, const char *grant, json_t **out)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	struct budget b;
	int rc;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	rc = jg_access_grant_probe_budget(conn, grant, &b.max);
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_usage_peek, &st)) == 0) {
		jg_stmt_bind_text(st, 1, grant);
		rc = usage_row(st, &b);
		jg_stmt_finish(st);
		if (rc == JG_ENOTFOUND)
			rc = 0; /* no probe deployed yet: nothing spent */
	}
	jg_store_release(s, conn);
	if (rc != 0)
		return rc == JG_ENOTFOUND ? JG_ENOTFOUND : JG_EUNAVAIL;
	return (*out = budget_json(grant, &b)) ? 0 : JG_ENOMEM;
}

/* ---- deploy ------------------------------------------------------------------ */

static const char sql_insert[] =
    "INSERT INTO probes (id, grant_id, service, function, capture_args, capture_return, "
    "sampling_rate, conditions, created_by, created_at, expires_at, max_hits, "
    "max_events_per_second, max_depth, max_string_bytes, max_collection_items, max_fields, "
    "max_cpu_ms_per_second, rate_tokens, rate_at, kind, template, args, metric) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

struct create_job {
	const struct jg_probe_new *p;
	int64_t now, expires_at;
	const char *id, *conds_text;
	const char *args_text;	 /* a native probe's declared arguments; NULL when none */
	const char *metric_text; /* a metric probe's spec (probe_metric.h); NULL for others */
	struct jg_probe_limits lim;
	int outcome;   /* 0: stored; JG_EDENIED: beyond the grant's budget */
	json_t *usage; /* the grant's budget and usage after it (budget_json) */
};

/* The probe's row (j->id), in the job's transaction. */
static int
insert_probe(struct jg_store_conn *conn, const struct create_job *j)
{
	const struct jg_probe_new *p = j->p;
	json_t *rate = json_object_get(p->spec, "sampling_rate");
	struct jg_stmt *st;
	int rc;

	if (jg_stmt_prepare(conn, sql_insert, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->id);
	jg_stmt_bind_text(st, 2, p->grant);
	jg_stmt_bind_text(st, 3, p->service);
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(p->spec, "function")));
	jg_stmt_bind_int64(st, 5, json_is_true(json_object_get(p->spec, "capture_args")));
	jg_stmt_bind_int64(st, 6, json_is_true(json_object_get(p->spec, "capture_return")));
	jg_stmt_bind_double(st, 7, rate ? json_number_value(rate) : 1.0);
	jg_stmt_bind_text(st, 8, j->conds_text);
	jg_stmt_bind_text(st, 9, p->actor);
	jg_stmt_bind_int64(st, 10, j->now);
	jg_stmt_bind_int64(st, 11, j->expires_at);
	for (size_t i = 0; i < NLIMITS; i++)
		jg_stmt_bind_int64(st, 12 + (int)i,
				   *limit_at((struct jg_probe_limits *)&j->lim, i));
	/* a full bucket: the burst is available at once */
	jg_stmt_bind_double(st, 19,
			    (double)j->lim.max_events_per_second * JG_PROBE_RATE_BURST_SECONDS);
	jg_stmt_bind_int64(st, 20, j->now * 1000);
	const char *tmpl = json_string_value(json_object_get(p->spec, "template"));
	jg_stmt_bind_text(st, 21, j->metric_text ? "metric" : tmpl ? "log" : "snapshot");
	if (tmpl != NULL)
		jg_stmt_bind_text(st, 22, tmpl);
	else
		jg_stmt_bind_null(st, 22);
	if (j->args_text != NULL)
		jg_stmt_bind_text(st, 23, j->args_text);
	else
		jg_stmt_bind_null(st, 23);
	if (j->metric_text != NULL)
		jg_stmt_bind_text(st, 24, j->metric_text);
	else
		jg_stmt_bind_null(st, 24);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

/*
 * The deploy: the grant's usage row locked, the budget checked (a refusal
 * for max_probes writes probe.budget_exhausted the first time), the count
 * of probes raised and the probe stored, in one transaction.
 */
static int
create_fn(struct jg_audit_tx *tx, void *arg)
{
	struct create_job *j = arg;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct budget b;
	int rc;

	/* a retried transaction starts again from nothing */
	j->outcome = 0;
	json_decref(j->usage);
	j->usage = NULL;
	if ((rc = budget_take(conn, j->p->grant, &b)) != 0)
		return rc;
	if (b.events_out || (b.max.max_probes > 0 && b.probes >= b.max.max_probes)) {
		j->outcome = JG_EDENIED;
		if (!b.events_out && !b.probes_out) {
			rc = budget_exhausted(tx, j->p->actor, j->p->service, j->p->grant, &b,
					      "max_probes", NULL, j->now);
			b.probes_out = rc == 0;
		}
	} else {
		b.probes++;
		if ((rc = budget_put(conn, j->p->grant, &b)) == 0)
			rc = insert_probe(conn, j);
	}
	if (rc == 0 && (j->usage = budget_json(j->p->grant, &b)) == NULL)
		rc = JG_ENOMEM;
	return rc;
}

int
jg_probe_create(struct jg_audit *a, const struct jg_probe_new *p, int64_t now,
		char id[JG_PROBE_ID_MAX], int64_t *expires_at, json_t **usage)
{
	json_t *conds = json_object_get(p->spec, "conditions"), *none = json_array();
	char rnd[32], *conds_text = json_dumps(conds ? conds : none, JSON_COMPACT), why[160];
	/* a native probe's declared arguments (checked by the caller), NULL when none */
	json_t *args = json_object_get(p->spec, "args");
	char *args_text = args ? json_dumps(args, JSON_COMPACT) : NULL;
	/* a metric probe's spec (checked by the caller) with its defaults, NULL for others */
	json_t *metric_spec = json_object_get(p->spec, "metric");
	struct jg_probe_metric m;
	json_t *metric =
	    metric_spec && jg_probe_metric_parse(metric_spec, &m, why, sizeof(why)) == 0
		? jg_probe_metric_json(&m)
		: NULL;
	char *metric_text = metric ? json_dumps(metric, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct create_job j = {
	    .p = p, .now = now, .id = id, .args_text = args_text, .metric_text = metric_text};
	const char *bad;
	int rc;
	/* a metric spec that does not parse is a caller's bug, refused all the same */
	bool bad_metric = metric_spec != NULL && metric == NULL;

	json_decref(metric);

	json_decref(none); /* json_dumps borrows: the empty list was leaked on every probe */
	id[0] = '\0';
	*usage = NULL;
	*expires_at = now + json_integer_value(json_object_get(p->spec, "duration"));
	if (*expires_at > p->grant_expires)
		*expires_at = p->grant_expires; /* never outlives its grant */
	j.expires_at = *expires_at;
	j.conds_text = conds_text;
	if (conds_text == NULL || (args != NULL && args_text == NULL) ||
	    (metric_spec != NULL && metric_text == NULL)) {
		rc = bad_metric ? JG_EINVAL : JG_ENOMEM;
	} else if ((p->id != NULL && !jg_probe_id_valid(p->id)) ||
		   /* the caller checked the spec: bad limits here are a bug, refused all the same
		    */
		   jg_probe_limits_parse(json_object_get(p->spec, "limits"), &j.lim, &bad, why,
					 sizeof(why)) != 0) {
		rc = JG_EINVAL;
	} else if (p->id == NULL && jg_random_token(12, rnd, sizeof(rnd)) != 0) {
		rc = JG_ECRYPTO;
	} else {
		/* the id the deploy's entry recorded, made before the guard (guard.h) */
		if (p->id != NULL)
			snprintf(id, JG_PROBE_ID_MAX, "%s", p->id);
		else
			snprintf(id, JG_PROBE_ID_MAX, JG_PROBE_ID_PREFIX "%s", rnd);
		rc = jg_audit_run(a, create_fn, &j);
		/* a refused privilege (JG_EDENIED on PostgreSQL) is the store's failure, not the
		 * budget's: only j.outcome says the budget refused */
		if (rc == JG_EDENIED)
			rc = JG_ESTORE;
		if (rc == 0)
			rc = j.outcome;
	}
	if (rc == 0 || rc == JG_EDENIED) {
		*usage = j.usage;
		j.usage = NULL;
	} else {
		id[0] = '\0';
	}
	json_decref(j.usage);
	free(conds_text);
	free(args_text);
	free(metric_text);
	return rc;
}

int
jg_probe_preview(struct jg_store *s, const struct jg_probe_new *p, int64_t now, int64_t *expires_at,
		 json_t **usage)
{
	json_t *u = NULL;
	int rc;

	*usage = NULL;
	*expires_at = now + json_integer_value(json_object_get(p->spec, "duration"));
	if (*expires_at > p->grant_expires)
		*expires_at = p->grant_expires; /* as jg_probe_create clips it */
	if ((rc = jg_probe_budget_read(s, p->grant, &u)) != 0)
		return rc;
	/* what jg_probe_create would refuse now; nothing is locked, nothing counted */
	json_t *left = json_object_get(u, "remaining");
	bool spent = json_is_true(json_object_get(u, "events_exhausted")) ||
		     (json_is_integer(json_object_get(left, "probes")) &&
		      json_integer_value(json_object_get(left, "probes")) <= 0);
	*usage = u;
	return spent ? JG_EDENIED : 0;
}

/* ---- live probes ----------------------------------------------------------------- */

/*
 * The candidates a page at a time, each page one plain query (no cursor, no
 * transaction: on PostgreSQL one round trip and one statement snapshot),
 * the next page after the last key of the one before ((created_at, id) is
 * unique and the order is total on both engines).
 */
#define CANDIDATE_PAGE 256 /* rows a page holds at once, as a scan's batch did */
#define CANDIDATE_COLS(extra)                                                                      \
	"SELECT id, grant_id, function, capture_args, capture_return, sampling_rate, conditions, " \
	"created_by, created_at, expires_at, max_hits, max_events_per_second, max_depth, "         \
	"max_string_bytes, max_collection_items, max_fields, max_cpu_ms_per_second, kind, "        \
	"template, args, metric" extra                                                             \
	" FROM probes WHERE service = ? AND deleted_at IS NULL AND disabled_at IS NULL AND "       \
	"expires_at > ? "
#define CANDIDATE_FIRST "ORDER BY created_at, id LIMIT ?"
#define CANDIDATE_AFTER                                                                            \
	"AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?"
/*
 * The engineer's list also counts each probe's stored events, in the same
 * statement: a count over the index probe_events (probe_id, id) per row
 * (covering on SQLite, an index-only scan on PostgreSQL), at most
 * max_hits (at most 10,000) entries each.  The agent's poll, which runs often
 * and needs no count, leaves it out.
 */
#define EVENT_COUNT ", (SELECT count(*) FROM probe_events WHERE probe_events.probe_id = probes.id)"
static const char sql_candidates[] = CANDIDATE_COLS("") CANDIDATE_FIRST;
static const char sql_candidates_after[] = CANDIDATE_COLS("") CANDIDATE_AFTER;
static const char sql_counted[] = CANDIDATE_COLS(EVENT_COUNT) CANDIDATE_FIRST;
static const char sql_counted_after[] = CANDIDATE_COLS(EVENT_COUNT) CANDIDATE_AFTER;

/* The grants already asked about during one list: access is asked once per grant. */
#define SEEN_MAX 64
struct seen {
	size_t n;
	char grant[SEEN_MAX][64];
	bool live[SEEN_MAX];
};

static int
grant_live(struct jg_store_conn *conn, struct seen *seen, const char *grant, int64_t now,
	   bool *live)
{
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->grant[i], grant) == 0) {
			*live = seen->live[i];
			return 0;
		}
	int rc = jg_access_grant_live(conn, grant, now, live);
	if (rc == 0 && seen->n < SEEN_MAX && strlen(grant) < sizeof(seen->grant[0])) {
		snprintf(seen->grant[seen->n], sizeof(seen->grant[0]), "%s", grant);
		seen->live[seen->n++] = *live;
	}
	return rc;
}

/* The limits of a row whose columns first..first+6 are the seven limits in limit_defs' order. */
static json_t *
row_limits(struct jg_stmt *st, int first)
{
	struct jg_probe_limits l;
	for (size_t i = 0; i < NLIMITS; i++)
		*limit_at(&l, i) = jg_stmt_column_int64(st, first + (int)i);
	return jg_probe_limits_json(&l);
}

/*
 * One candidate row as the engineer's list shows it (for_agent: as the
 * agent's): a log probe with its kind and template, a snapshot with its
 * kind only (an agent that knows no kinds captures it as before).
 */
static json_t *
probe_row(struct jg_stmt *st, bool for_agent)
{
	json_t *conds = json_loads(jg_stmt_column_text(st, 6), 0, NULL);
	if (conds == NULL)
		conds = json_array();
	json_t *limits = row_limits(st, 10);
	/* a native probe's declared arguments (column 19), listed only when it has them */
	json_t *args = jg_stmt_column_is_null(st, 19)
			   ? NULL
			   : json_loads(jg_stmt_column_text(st, 19), 0, NULL);
	json_t *row;
	if (for_agent)
		row = json_pack("{s:s,s:s,s:b,s:b,s:f,s:o,s:I,s:o,s:o*}", "id",
				jg_stmt_column_text(st, 0), "function", jg_stmt_column_text(st, 2),
				"capture_args", (int)jg_stmt_column_int64(st, 3), "capture_return",
				(int)jg_stmt_column_int64(st, 4), "sampling_rate",
				jg_stmt_column_double(st, 5), "conditions", conds, "expires_at",
				(json_int_t)jg_stmt_column_int64(st, 9), "limits", limits, "args",
				args);
	else
		row = json_pack("{s:s,s:s,s:s,s:b,s:b,s:f,s:o,s:s,s:I,s:I,s:o,s:I,s:o*}", "id",
				jg_stmt_column_text(st, 0), "grant", jg_stmt_column_text(st, 1),
				"function", jg_stmt_column_text(st, 2), "capture_args",
				(int)jg_stmt_column_int64(st, 3), "capture_return",
				(int)jg_stmt_column_int64(st, 4), "sampling_rate",
				jg_stmt_column_double(st, 5), "conditions", conds, "created_by",
				jg_stmt_column_text(st, 7), "created_at",
				(json_int_t)jg_stmt_column_int64(st, 8), "expires_at",
				(json_int_t)jg_stmt_column_int64(st, 9), "limits", limits, "events",
				(json_int_t)jg_stmt_column_int64(st, 21), "args", args);
	const char *kind = jg_stmt_column_text(st, 17), *tmpl = jg_stmt_column_text(st, 18);
	/* a metric probe's spec (column 20), as stored */
	json_t *metric = jg_stmt_column_is_null(st, 20)
			     ? NULL
			     : json_loads(jg_stmt_column_text(st, 20), 0, NULL);
	if (row != NULL &&
	    (json_object_set_new(row, "kind", json_string(kind ? kind : "snapshot")) != 0 ||
	     (tmpl != NULL && json_object_set_new(row, "template", json_string(tmpl)) != 0) ||
	     (metric != NULL && json_object_set_new(row, "metric", json_incref(metric)) != 0))) {
		json_decref(row);
		row = NULL;
	}
	json_decref(metric);
	return row;
}

/*
 * The live probes of service (see the top of this file) into *out; with
 * redact their conditions on personal data redacted.  0, JG_EUNAVAIL, JG_ENOMEM.
 */
static int
live_probes(struct jg_store *s, const char *service, int64_t now, bool for_agent, bool redact,
	    char *const *fields, json_t **out)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st = NULL;
	struct seen *seen = calloc(1, sizeof(*seen));
	json_t *list = json_array();
	char last_id[JG_PROBE_ID_MAX + 1] = "";
	int64_t last_created = 0;
	int rc = 0;
	bool more = true;

	*out = NULL;
	if (seen == NULL || list == NULL) {
		free(seen);
		json_decref(list);
		return JG_ENOMEM;
	}
	if (jg_store_acquire(s, &conn) != 0) {
		free(seen);
		json_decref(list);
		return JG_EUNAVAIL;
	}
	/*
	 * No read transaction: a probe is listed when it was live at its page's
	 * read and its grant is live when access is asked, just after.  A grant
	 * never becomes active again once it ended, so nothing listed was not live
	 * at its page's read; a revocation between the two reads hides the probe,
	 * as the later state says.
	 */
	for (bool first = true; rc == 0 && more && json_array_size(list) < JG_PROBE_LIST_MAX;
	     first = false) {
		int step = JG_STMT_DONE, rows = 0;
		const char *sql = for_agent ? (first ? sql_candidates : sql_candidates_after)
					    : (first ? sql_counted : sql_counted_after);
		if (jg_stmt_prepare(conn, sql, &st) != 0) {
			rc = JG_EUNAVAIL;
			break;
		}
		jg_stmt_bind_text(st, 1, service);
		jg_stmt_bind_int64(st, 2, now);
		if (first) {
			jg_stmt_bind_int64(st, 3, CANDIDATE_PAGE);
		} else {
			jg_stmt_bind_int64(st, 3, last_created);
			jg_stmt_bind_int64(st, 4, last_created);
			jg_stmt_bind_text(st, 5, last_id);
			jg_stmt_bind_int64(st, 6, CANDIDATE_PAGE);
		}
		while (rc == 0 && json_array_size(list) < JG_PROBE_LIST_MAX &&
		       (step = jg_stmt_step(st)) == JG_STMT_ROW) {
			bool live = false;
			const char *id = jg_stmt_column_text(st, 0);
			const char *grant = jg_stmt_column_text(st, 1);
			rows++;
			if (id == NULL ||
			    strlen(id) > JG_PROBE_ID_MAX) { /* ids are jitgate's own */
				rc = JG_EUNAVAIL;
				break;
			}
			snprintf(last_id, sizeof(last_id), "%s", id);
			last_created = jg_stmt_column_int64(st, 8);
			if (grant == NULL || grant_live(conn, seen, grant, now, &live) != 0) {
				rc = JG_EUNAVAIL;
				break;
			}
			if (!live)
				continue;
			json_t *row = probe_row(st, for_agent);
			/* another grant's values (or this grant's under a read-pii token) */
			if (row == NULL ||
			    (redact && jg_pii_conditions(NULL, json_object_get(row, "conditions"),
							 fields) != 0))
				rc = JG_ENOMEM;
			json_array_append_new(list, row);
		}
		jg_stmt_finish(st);
		if (rc == 0 && step != JG_STMT_ROW && step != JG_STMT_DONE)
			rc = JG_EUNAVAIL;
		more = rows == CANDIDATE_PAGE; /* a short page was the last */
	}
	jg_store_release(s, conn);
	free(seen);
	if (rc != 0) {
		json_decref(list); /* fail closed: a list that could not be redacted is not shown */
		return rc;
	}
	*out = list;
	return 0;
}

int
jg_probe_list_live(struct jg_store *s, const char *service, int64_t now, bool redact,
		   char *const *sensitive_fields, json_t **probes)
{
	return live_probes(s, service, now, false, redact, sensitive_fields, probes);
}

int
jg_probe_live_for_agent(struct jg_store *s, const char *service, int64_t now, json_t **probes)
{
	return live_probes(s, service, now, true, false, NULL, probes);
}

static const char sql_of_service[] = "SELECT 1 FROM probes WHERE id = ? AND service = ?";

int
jg_probe_of_service(struct jg_store_conn *conn, const char *service, const char *id, bool *yes)
{
	struct jg_stmt *st;
	int step;

	*yes = false;
	if (jg_stmt_prepare(conn, sql_of_service, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, id);
	jg_stmt_bind_text(st, 2, service);
	step = jg_stmt_step(st);
	*yes = step == JG_STMT_ROW;
	jg_stmt_finish(st);
	return step == JG_STMT_ROW || step == JG_STMT_DONE ? 0 : JG_ESTORE;
}

/* ---- delete ------------------------------------------------------------------------ */

static const char sql_delete[] = "UPDATE probes SET deleted_at = ? WHERE id = ? AND service = ? "
				 "AND grant_id = ? AND deleted_at IS NULL";

int
jg_probe_delete(struct jg_store *s, const char *service, const char *grant, const char *id,
		int64_t now)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int changed = -1;

	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	if (jg_stmt_prepare(conn, sql_delete, &st) == 0) {
		jg_stmt_bind_int64(st, 1, now);
		jg_stmt_bind_text(st, 2, id);
		jg_stmt_bind_text(st, 3, service);
		jg_stmt_bind_text(st, 4, grant);
		changed = jg_stmt_step(st) == JG_STMT_DONE ? jg_store_changes(conn) : -1;
		jg_stmt_finish(st);
	}
	jg_store_release(s, conn);
	return changed < 0 ? JG_EUNAVAIL : changed == 0 ? JG_ENOTFOUND : 0;
}

/* ---- events -------------------------------------------------------------------------- */

/*
 * The probe's row in the transaction that stores a batch or disables it:
 * on PostgreSQL locked, so replicas storing for one probe take turns on
 * its count and bucket (SQLite's writer is one at a time already).
 */
#define PROBE_STATE                                                                                \
	"SELECT service, grant_id, CASE WHEN deleted_at IS NULL AND expires_at > ? THEN 1 ELSE 0 " \
	"END, disabled_at IS NOT NULL, max_hits, max_events_per_second, max_depth, "               \
	"max_string_bytes, max_collection_items, max_fields, max_cpu_ms_per_second, rate_tokens, " \
	"rate_at, template, metric, function FROM probes WHERE id = ?"
static const char sql_probe_state[] = PROBE_STATE;
static const char sql_probe_state_pg[] = PROBE_STATE " FOR UPDATE";
static const char sql_event_count[] = "SELECT count(*) FROM probe_events WHERE probe_id = ?";
static const char sql_event_insert[] =
    "INSERT INTO probe_events (probe_id, service, received_at, event) VALUES (?, ?, ?, ?) "
    "RETURNING id";
static const char sql_bucket[] = "UPDATE probes SET rate_tokens = ?, rate_at = ? WHERE id = ?";
static const char sql_disable[] = "UPDATE probes SET disabled_at = ?, disabled_reason = ? "
				  "WHERE id = ? AND disabled_at IS NULL";

struct probe_state {
	char grant[64]; /* the probe's grant, as read in the transaction */
	struct jg_probe_limits lim;
	double tokens;
	int64_t rate_at;
	size_t
	    message_max; /* a log probe: the longest message its template renders; 0: a snapshot */
	bool metric;	 /* a metric probe: its events are points of m */
	struct jg_probe_metric m;
	char function[256]; /* the probed function (a point names it) */
};

/*
 * The longest message a log probe's template (NULL: a snapshot, *max 0)
 * renders within max_string_bytes a value.  JG_ESTORE for a stored template
 * that does not parse: a row jitgate did not write.
 */
static int
log_message_max(const char *tmpl, int64_t max_string_bytes, size_t *max)
{
	struct jg_probe_template t;
	char why[160];

	*max = 0;
	if (tmpl == NULL)
		return 0;
	if (jg_probe_template_parse(tmpl, &t, why, sizeof(why)) != 0)
		return JG_ESTORE;
	*max = jg_probe_template_message_max(&t, max_string_bytes);
	return 0;
}

/*
 * Whether event fits a log probe whose messages are at most message_max
 * bytes: a "message" string within it, and no captured values ("args",
 * "return", "error"): a log probe sends its rendered message only.
 */
static bool
log_event_fits(const json_t *event, size_t message_max)
{
	const json_t *m = json_object_get(event, "message");
	return json_is_string(m) && json_string_length(m) <= message_max &&
	       json_object_get(event, "args") == NULL && json_object_get(event, "return") == NULL &&
	       json_object_get(event, "error") == NULL;
}

/*
 * Whether a metric point's time (its ts) is one jitgate stores at now_ms: at
 * most POINT_PAST_S before its clock (an agent posts a point within its
 * interval, at most 300 s, or retries it within its backoff) and at most
 * POINT_AHEAD_S after it (clock skew).  A point outside never shows in a
 * window a reader asks for near its receipt, so it would only spend hits.
 */
#define POINT_PAST_S  600
#define POINT_AHEAD_S 60
static bool
point_timely(int64_t point_ns, int64_t now_ms)
{
	int64_t now_s = now_ms / 1000, t = point_ns / 1000000000LL;
	return t >= now_s - POINT_PAST_S && t <= now_s + POINT_AHEAD_S;
}

/* A stored metric spec into *m: 0, or JG_ESTORE for one jitgate did not write. */
static int
metric_spec(const char *text, struct jg_probe_metric *m)
{
	json_t *spec = json_loads(text, 0, NULL);
	char why[160];
	int rc =
	    spec != NULL && jg_probe_metric_parse(spec, m, why, sizeof(why)) == 0 ? 0 : JG_ESTORE;
	json_decref(spec);
	return rc;
}

/*
 * The probe of service as it is now (inside the transaction): 0 when live
 * and enabled; JG_ENOTFOUND, JG_ECONFLICT (not live), JG_EDENIED (disabled).
 */
static int
probe_state(struct jg_store_conn *conn, const char *service, const char *probe, int64_t now,
	    struct probe_state *ps)
{
	struct jg_stmt *st;
	bool live = false, disabled = false;
	int rc;
	const char *sql =
	    jg_store_conn_engine(conn) == JG_STORE_POSTGRES ? sql_probe_state_pg : sql_probe_state;

	if (jg_stmt_prepare(conn, sql, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_text(st, 2, probe);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		const char *svc = jg_stmt_column_text(st, 0), *g = jg_stmt_column_text(st, 1);
		/* another service's probe is as unknown as a missing one */
		if (svc == NULL || strcmp(svc, service) != 0) {
			rc = JG_ENOTFOUND;
		} else {
			live = jg_stmt_column_int64(st, 2) != 0;
			disabled = jg_stmt_column_int64(st, 3) != 0;
			snprintf(ps->grant, sizeof(ps->grant), "%s", g ? g : "");
			for (size_t i = 0; i < NLIMITS; i++)
				*limit_at(&ps->lim, i) = jg_stmt_column_int64(st, 4 + (int)i);
			ps->tokens = jg_stmt_column_double(st, 11);
			ps->rate_at = jg_stmt_column_int64(st, 12);
			rc = log_message_max(jg_stmt_column_text(st, 13), ps->lim.max_string_bytes,
					     &ps->message_max);
			ps->metric = !jg_stmt_column_is_null(st, 14);
			const char *fn = jg_stmt_column_text(st, 15);
			snprintf(ps->function, sizeof(ps->function), "%s", fn ? fn : "");
			rc = rc == 0 && ps->metric
				 ? metric_spec(jg_stmt_column_text(st, 14), &ps->m)
				 : rc;
		}
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	if (rc == 0 && live && (rc = jg_access_grant_live(conn, ps->grant, now, &live)) != 0)
		return rc;
	return rc != 0 ? rc : disabled ? JG_EDENIED : live ? 0 : JG_ECONFLICT;
}

/* Disables probe for reason with its probe.disabled entry (extra: more members of its data). */
static int
disable(struct jg_audit_tx *tx, const char *service, const char *probe, const char *grant,
	const char *reason, json_t *extra, int64_t now)
{
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	char actor[128];
	int rc;

	if (jg_stmt_prepare(conn, sql_disable, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_text(st, 2, reason);
	jg_stmt_bind_text(st, 3, probe);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;
	snprintf(actor, sizeof(actor), "agent:%s", service);
	json_t *data = json_pack("{s:s,s:s,s:s,s:s}", "probe", probe, "grant", grant, "service",
				 service, "reason", reason);
	if (data != NULL && extra != NULL && json_object_update(data, extra) != 0) {
		json_decref(data);
		data = NULL;
	}
	rc = data ? jg_audit_tx_append(tx, "probe.disabled", actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
	return rc;
}

static const char sql_probe_grant[] = "SELECT service, grant_id FROM probes WHERE id = ?";
static const char sql_budget_disable[] =
    "UPDATE probes SET disabled_at = ?, disabled_reason = 'budget' WHERE grant_id = ? AND "
    "disabled_at IS NULL AND deleted_at IS NULL RETURNING id";

/* The grant of probe of service (it never changes): 0, JG_ENOTFOUND or JG_ESTORE. */
static int
probe_grant(struct jg_store_conn *conn, const char *service, const char *probe, char *grant,
	    size_t len)
{
	struct jg_stmt *st;
	int rc;

	if (jg_stmt_prepare(conn, sql_probe_grant, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, probe);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		const char *svc = jg_stmt_column_text(st, 0), *g = jg_stmt_column_text(st, 1);
		/* another service's probe is as unknown as a missing one */
		rc = svc == NULL || g == NULL || strcmp(svc, service) != 0 ? JG_ENOTFOUND : 0;
		if (rc == 0)
			snprintf(grant, len, "%s", g);
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	return rc;
}

/* Disables every probe of grant not disabled or deleted yet ("budget"); *ids: which. */
static int
budget_disable(struct jg_store_conn *conn, const char *grant, int64_t now, json_t **ids)
{
	struct jg_stmt *st;
	int step;

	if ((*ids = json_array()) == NULL)
		return JG_ENOMEM;
	if (jg_stmt_prepare(conn, sql_budget_disable, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, now);
	jg_stmt_bind_text(st, 2, grant);
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW)
		json_array_append_new(*ids, json_string(jg_stmt_column_text(st, 0)));
	jg_stmt_finish(st);
	return step == JG_STMT_DONE ? 0 : JG_ESTORE;
}

struct ingest_job {
	const char *service, *key_id, *probe;
	char *const *texts;
	size_t n;
	int64_t now,
	    now_ms; /* now: Unix seconds (received_at, liveness); now_ms: the bucket's clock */
	struct jg_probe_ingest_result *r;
	int refusal; /* what the probe's state refused the batch for (probe_state), 0: none */
};

static void
refuse(struct jg_probe_ingest_result *r, size_t index, const char *code)
{
	r->refused[r->nrefused].index = index;
	r->refused[r->nrefused++].code = code;
}

/* Stores event i of j (its id into r); 0 or JG_ESTORE. */
static int
store_event(struct jg_store_conn *conn, struct ingest_job *j, size_t i)
{
	struct jg_stmt *st;
	if (jg_stmt_prepare(conn, sql_event_insert, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->probe);
	jg_stmt_bind_text(st, 2, j->service);
	jg_stmt_bind_int64(st, 3, j->now);
	jg_stmt_bind_text(st, 4, j->texts[i]);
	int s = jg_stmt_step(st);
	if (s == JG_STMT_ROW) {
		j->r->last_id = jg_stmt_column_int64(st, 0);
		if (j->r->stored == 0)
			j->r->first_id = j->r->last_id;
		j->r->stored++;
		s = jg_stmt_step(st);
	}
	jg_stmt_finish(st);
	return s == JG_STMT_DONE ? 0 : JG_ESTORE;
}

static int
ingest_fn(struct jg_audit_tx *tx, void *arg)
{
	struct ingest_job *j = arg;
	struct jg_probe_ingest_result *r = j->r;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	struct probe_state ps;
	uint8_t md[32];
	char hex[65];
	int rc;

	/* a retried transaction starts again from nothing */
	memset(r, 0, sizeof(*r));
	j->refusal = 0;
	/* the grant's usage locked first (its budget), then the probe's row */
	struct budget b;
	char grant[64];
	if ((rc = probe_grant(conn, j->service, j->probe, grant, sizeof(grant))) != 0) {
		j->refusal = rc == JG_ENOTFOUND ? rc : 0;
		return rc;
	}
	if ((rc = budget_take(conn, grant, &b)) != 0)
		return rc;
	int64_t bytes_before = b.bytes;
	/* the probe as it is now, inside the transaction that stores the batch */
	if ((rc = probe_state(conn, j->service, j->probe, j->now, &ps)) != 0) {
		if (rc == JG_ENOTFOUND || rc == JG_ECONFLICT || rc == JG_EDENIED)
			j->refusal = rc;
		return rc;
	}
	const char *exhausted = NULL; /* the member of the budget this batch spent */

	if (jg_stmt_prepare(conn, sql_event_count, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->probe);
	rc = jg_stmt_step(st);
	int64_t stored = rc == JG_STMT_ROW ? jg_stmt_column_int64(st, 0) : -1;
	jg_stmt_finish(st);
	if (stored < 0)
		return JG_ESTORE;

	/* the bucket refilled from its last use to now (milliseconds), never past its burst */
	double rate = (double)ps.lim.max_events_per_second,
	       burst = rate * JG_PROBE_RATE_BURST_SECONDS;
	if (j->now_ms > ps.rate_at)
		ps.tokens += (double)(j->now_ms - ps.rate_at) * rate / 1000.0;
	if (ps.tokens > burst)
		ps.tokens = burst;

	struct jg_sha256_ctx md_ctx;
	if (jg_sha256_init(&md_ctx) != 0)
		return JG_ECRYPTO;
	rc = 0;
	for (size_t i = 0; i < j->n && rc == 0; i++) {
		json_t *ev = json_loads(j->texts[i], 0, NULL);
		int64_t point_ns;
		bool fits =
		    ev != NULL &&
		    (ps.metric ? jg_probe_metric_point_valid(ev, &ps.m, ps.function, &point_ns) &&
				     point_timely(point_ns, j->now_ms)
		     : ps.message_max > 0 ? log_event_fits(ev, ps.message_max)
					  : jg_probe_event_fits(ev, &ps.lim));
		json_decref(ev);
		if (!fits) {
			refuse(r, i, "over_limits");
		} else if (stored >= ps.lim.max_hits) {
			refuse(r, i, "max_hits");
		} else if (b.events_out || exhausted != NULL ||
			   (b.max.max_hits > 0 && b.hits >= b.max.max_hits) ||
			   (b.max.max_bytes > 0 &&
			    b.bytes + (int64_t)strlen(j->texts[i]) > b.max.max_bytes)) {
			/* beyond the grant's budget: spent for good once one event is refused */
			refuse(r, i, "budget");
			if (!b.events_out && exhausted == NULL)
				exhausted = b.max.max_hits > 0 && b.hits >= b.max.max_hits
						? "max_hits"
						: "max_bytes";
		} else if (ps.tokens < 1.0) {
			refuse(r, i, "rate");
		} else {
			ps.tokens -= 1.0;
			stored++;
			b.hits++;
			b.bytes += (int64_t)strlen(j->texts[i]);
			if (store_event(conn, j, i) != 0 ||
			    jg_sha256_update(&md_ctx, j->texts[i], strlen(j->texts[i])) != 0 ||
			    jg_sha256_update(&md_ctx, "\n", 1) != 0)
				rc = JG_ESTORE;
		}
	}
	if (rc == 0 && jg_sha256_final(&md_ctx, md) != 0)
		rc = JG_ECRYPTO;
	jg_sha256_abort(&md_ctx);
	if (rc != 0)
		return rc;
	jg_hex32(md, hex);

	if (jg_stmt_prepare(conn, sql_bucket, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_double(st, 1, ps.tokens);
	jg_stmt_bind_int64(st, 2, j->now_ms > ps.rate_at ? j->now_ms : ps.rate_at);
	jg_stmt_bind_text(st, 3, j->probe);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;

	if (r->stored > 0) {
		char actor[128];
		snprintf(actor, sizeof(actor), "agent:%s", j->service);
		/* bytes: what the stored events weigh, as the grant's max_bytes counts them */
		json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:I}", "probe",
					 j->probe, "grant", ps.grant, "service", j->service,
					 "ingest_key", j->key_id, "count", (json_int_t)r->stored,
					 "bytes", (json_int_t)(b.bytes - bytes_before), "first_id",
					 (json_int_t)r->first_id, "last_id", (json_int_t)r->last_id,
					 "sha256", hex, "refused", (json_int_t)r->nrefused);
		rc = data ? jg_audit_tx_append(tx, "probe.events.ingested", actor, data, NULL)
			  : JG_ENOMEM;
		json_decref(data);
		if (rc != 0)
			return rc;
	}
	if (stored >= ps.lim.max_hits) {
		json_t *extra = json_pack("{s:I}", "max_hits", (json_int_t)ps.lim.max_hits);
		rc = extra ? disable(tx, j->service, j->probe, ps.grant, "max_hits", extra, j->now)
			   : JG_ENOMEM;
		json_decref(extra);
		r->disabled = rc == 0;
	}
	/* the grant's max_hits reached by this batch spends it as a refusal would */
	if (rc == 0 && !b.events_out && exhausted == NULL && b.max.max_hits > 0 &&
	    b.hits >= b.max.max_hits)
		exhausted = "max_hits";
	if (rc == 0)
		rc = budget_put(conn, grant, &b);
	if (rc == 0 && exhausted != NULL) {
		json_t *ids = NULL;
		rc = budget_disable(conn, grant, j->now, &ids);
		if (rc == 0) {
			char actor[128];
			snprintf(actor, sizeof(actor), "agent:%s", j->service);
			rc = budget_exhausted(tx, actor, j->service, grant, &b, exhausted, ids,
					      j->now);
		}
		json_decref(ids);
		if (rc == 0) {
			r->budget_exhausted = true;
			r->disabled = true; /* this probe with every other of its grant */
		}
	}
	return rc;
}

int
jg_probe_events_ingest(struct jg_audit *a, const char *service, const char *key_id,
		       const char *probe, char *const *texts, size_t n, int64_t now_ms,
		       struct jg_probe_ingest_result *r)
{
	struct ingest_job j = {.service = service,
			       .key_id = key_id,
			       .probe = probe,
			       .texts = texts,
			       .n = n,
			       .now = now_ms / 1000,
			       .now_ms = now_ms,
			       .r = r};
	memset(r, 0, sizeof(*r));
	if (n == 0 || n > JG_PROBE_BATCH_MAX)
		return JG_EINVAL;
	int rc = jg_audit_run(a, ingest_fn, &j);
	/*
	 * Only the probe's own state answers "not found", "not live" or
	 * "disabled": the store's codes that look alike (a privilege refused is
	 * JG_EDENIED on PostgreSQL) are its failures, never a probe's state.
	 */
	if (rc == JG_ENOTFOUND || rc == JG_ECONFLICT || rc == JG_EDENIED)
		return rc == j.refusal ? rc : JG_ESTORE;
	return rc;
}

struct disable_job {
	const char *service, *key_id, *probe;
	double cpu_ms;
	int64_t now;
};

static int
disable_fn(struct jg_audit_tx *tx, void *arg)
{
	struct disable_job *j = arg;
	struct probe_state ps;
	int rc = probe_state(jg_audit_tx_conn(tx), j->service, j->probe, j->now, &ps);

	if (rc == JG_EDENIED)
		return JG_ECONFLICT; /* disabled already: not live */
	if (rc != 0)
		return rc;
	/* the audit log holds integers only: whole milliseconds, rounded up (never under) */
	json_int_t ms = (json_int_t)j->cpu_ms;
	if ((double)ms < j->cpu_ms)
		ms++;
	json_t *extra = json_pack("{s:I,s:s}", "cpu_ms_per_second", ms, "ingest_key", j->key_id);
	rc = extra ? disable(tx, j->service, j->probe, ps.grant, "cpu", extra, j->now) : JG_ENOMEM;
	json_decref(extra);
	return rc;
}

int
jg_probe_disable_cpu(struct jg_audit *a, const char *service, const char *key_id, const char *probe,
		     double cpu_ms_per_second, int64_t now)
{
	struct disable_job j = {.service = service,
				.key_id = key_id,
				.probe = probe,
				.cpu_ms = cpu_ms_per_second,
				.now = now};
	return jg_audit_run(a, disable_fn, &j);
}

static const char sql_probe_of_grant[] =
    "SELECT template, kind FROM probes WHERE id = ? AND service = ? AND grant_id = ?";
static const char sql_events[] = "SELECT id, received_at, event FROM probe_events "
				 "WHERE probe_id = ? AND id > ? ORDER BY id LIMIT ?";

/*
 * Whether a log probe's template (NULL: a snapshot) names personal data in
 * a placeholder (pii.h, as a condition's field): its rendered messages hold
 * that value where no key says so, so a reader without read-pii sees none
 * of them.  A template that does not parse counts as such.
 */
static bool
template_sensitive(const char *tmpl, char *const *fields)
{
	struct jg_probe_template t;
	char why[160];

	if (tmpl == NULL)
		return false;
	if (jg_probe_template_parse(tmpl, &t, why, sizeof(why)) != 0)
		return true;
	for (size_t i = 0; i < t.nfields; i++)
		if (jg_pii_field_sensitive(t.fields[i], fields))
			return true;
	return false;
}

/*
 * Redacts one event in place for a reader without read-pii: the values of
 * the configured sensitive keys withheld whole, every other string through
 * the scanners (redact.h); with whole_message (template_sensitive) a log
 * event's message is withheld whole as a sensitive value is.  On failure
 * the event may be half redacted and must not be shown: the caller
 * withholds it.
 */
static int
redact_event(json_t *event, char *const *fields, bool whole_message, unsigned *found)
{
	size_t n = 0;
	while (fields && fields[n])
		n++;
	if (whole_message && json_object_get(event, "message") != NULL &&
	    json_object_set_new(event, "message", json_string(JG_REDACT_MARK_FIELD)) != 0)
		return JG_ENOMEM;
	return jg_redact_json(event, (const char *const *)fields, n, found);
}

int
jg_probe_events_read(struct jg_store *s, const struct jg_probe_events_query *q, json_t **events,
		     int64_t *last)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *list = json_array();
	bool found = false, whole_message = false, metric = false;

	*events = NULL;
	*last = -1;
	if (list == NULL || jg_store_acquire(s, &conn) != 0) {
		json_decref(list);
		return JG_EUNAVAIL;
	}
	int rc = jg_store_begin_read(conn);
	/* only the probes of the reader's own grant, as for delete */
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_probe_of_grant, &st)) == 0) {
		jg_stmt_bind_text(st, 1, q->probe);
		jg_stmt_bind_text(st, 2, q->service);
		jg_stmt_bind_text(st, 3, q->grant);
		int step = jg_stmt_step(st);
		found = step == JG_STMT_ROW;
		if (found)
			whole_message =
			    template_sensitive(jg_stmt_column_text(st, 0), q->sensitive_fields);
		/* a metric probe's points are a metric, read with read-metrics only */
		if (found && strcmp(jg_stmt_column_text(st, 1), "metric") == 0)
			metric = true;
		rc = step == JG_STMT_ROW || step == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (metric)
		found = false;
	if (rc == 0 && found && (rc = jg_stmt_prepare(conn, sql_events, &st)) == 0) {
		jg_stmt_bind_text(st, 1, q->probe);
		jg_stmt_bind_int64(st, 2, q->after);
		jg_stmt_bind_int64(st, 3, (int64_t)q->limit);
		int step = JG_ESTORE;
		while (rc == 0 && (step = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *ev = json_loads(jg_stmt_column_text(st, 2), 0, NULL);
			unsigned hits = 0;
			if (ev == NULL) {
				rc = JG_ESTORE;
				break;
			}
			*last = jg_stmt_column_int64(st, 0);
			json_t *item =
			    json_pack("{s:I,s:I}", "id", (json_int_t)*last, "received_at",
				      (json_int_t)jg_stmt_column_int64(st, 1));
			if (q->redact &&
			    redact_event(ev, q->sensitive_fields, whole_message, &hits) != 0) {
				/* fail closed: a half-redacted event is never shown */
				json_decref(ev);
				ev = json_null();
				json_object_set_new(item, "withheld",
						    json_string("the event could not be redacted"));
			}
			json_object_set_new(item, "event", ev);
			json_array_append_new(list, item);
		}
		if (rc == 0 && step != JG_STMT_DONE)
			rc = JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_rollback(conn);
	jg_store_release(s, conn);
	if (rc != 0 || !found) {
		json_decref(list);
		return rc != 0 ? JG_ESTORE : metric ? JG_ECONFLICT : JG_ENOTFOUND;
	}
	*events = list;
	return 0;
}

/* ---- a metric probe's points ------------------------------------------------------ */

/*
 * The metric probes of a service with points in a window, and one's
 * points.  A point's own time (its "ts", the agent's clock) decides whether
 * it is shown; received_at (seconds) bounds what is read.  Ingest stores a
 * point only when its ts is within [received - POINT_PAST_S, received +
 * POINT_AHEAD_S] (point_timely), so the points of a window [since, until)
 * were received in [since - POINT_AHEAD_S, until + POINT_PAST_S]: both the
 * list and the read reach that far, and the list (which counts by receipt)
 * names every probe with a point in the window, and perhaps one whose
 * points fall just outside it.
 */
static const char sql_metric_names[] =
    "SELECT p.id, p.function, p.metric, p.conditions, count(*), max(e.received_at) "
    "FROM probes p JOIN probe_events e ON e.probe_id = p.id "
    "WHERE p.service = ? AND p.kind = 'metric' AND e.received_at >= ? AND e.received_at < ? "
    "GROUP BY p.id, p.function, p.metric, p.conditions ORDER BY p.id LIMIT 1000";
static const char sql_metric_probe[] = "SELECT function, metric, conditions FROM probes "
				       "WHERE id = ? AND service = ? AND kind = 'metric'";
static const char sql_metric_points[] =
    "SELECT event FROM probe_events WHERE probe_id = ? AND received_at >= ? AND received_at < ? "
    "ORDER BY id LIMIT ?";

/*
 * Whether a metric probe says something about personal data: a condition on
 * it (pii.h: the count is how often that customer paid, the condition-oracle
 * rule) or a histogram of a sensitive field.  A stored spec or conditions
 * that do not parse count as such.
 */
static bool
metric_sensitive(const char *conds_text, const struct jg_probe_metric *m, bool parsed,
		 char *const *fields)
{
	json_t *conds = json_loads(conds_text ? conds_text : "", 0, NULL);
	bool yes = !parsed || conds == NULL || jg_pii_conditions_sensitive(conds, fields) != NULL ||
		   (m->histogram && jg_pii_field_sensitive(m->field, fields));
	json_decref(conds);
	return yes;
}

int
jg_probe_metric_names(struct jg_store *s, const struct jg_probe_metric_query *q, json_t *metrics)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int step = JG_ESTORE;

	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	if (jg_stmt_prepare(conn, sql_metric_names, &st) == 0) {
		jg_stmt_bind_text(st, 1, q->service);
		jg_stmt_bind_int64(st, 2, q->since / 1000000000LL - POINT_AHEAD_S);
		jg_stmt_bind_int64(st, 3, q->until / 1000000000LL + POINT_PAST_S + 1);
		while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
			struct jg_probe_metric m;
			bool parsed = metric_spec(jg_stmt_column_text(st, 2), &m) == 0;
			if (q->redact && metric_sensitive(jg_stmt_column_text(st, 3), &m, parsed,
							  q->sensitive_fields))
				continue; /* only a reader with read-pii learns of it */
			if (!parsed)
				continue;
			char name[JG_PROBE_ID_MAX + 8];
			snprintf(name, sizeof(name), "probe.%s", jg_stmt_column_text(st, 0));
			char last[JG_TELEMETRY_TIME_TEXT];
			jg_telemetry_time_text(jg_stmt_column_int64(st, 5) * 1000000000LL, last);
			json_array_append_new(
			    metrics, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "name", name,
					       "kind", m.histogram ? "histogram" : "sum", "unit",
					       m.histogram ? "" : "{call}", "description",
					       "jitgate metric probe", "points",
					       (json_int_t)jg_stmt_column_int64(st, 4), "last",
					       last, "function", jg_stmt_column_text(st, 1)));
		}
		jg_stmt_finish(st);
	}
	jg_store_release(s, conn);
	return step == JG_STMT_DONE ? 0 : JG_ESTORE;
}

int
jg_probe_metric_sensitive(struct jg_store *s, const char *service, const char *probe,
			  char *const *fields, bool *sensitive)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc = JG_ESTORE;

	*sensitive = false;
	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	if (jg_stmt_prepare(conn, sql_metric_probe, &st) == 0) {
		jg_stmt_bind_text(st, 1, probe);
		jg_stmt_bind_text(st, 2, service);
		int step = jg_stmt_step(st);
		if (step == JG_STMT_ROW) {
			struct jg_probe_metric m;
			bool parsed = metric_spec(jg_stmt_column_text(st, 1), &m) == 0;
			*sensitive =
			    metric_sensitive(jg_stmt_column_text(st, 2), &m, parsed, fields);
		}
		rc = step == JG_STMT_ROW ? 0 : step == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(s, conn);
	return rc;
}

int
jg_probe_metric_read(struct jg_store *s, const struct jg_probe_metric_query *q, const char *probe,
		     json_t **metrics)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	struct jg_probe_metric m;
	char *function = NULL;
	json_t *events = json_array();
	bool found = false, parsed = false, sensitive = false;
	int rc;

	*metrics = NULL;
	if (events == NULL)
		return JG_ENOMEM;
	if (jg_store_acquire(s, &conn) != 0) {
		json_decref(events);
		return JG_EUNAVAIL;
	}
	/* the spec and its points in one snapshot */
	rc = jg_store_begin_read(conn);
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_metric_probe, &st)) == 0) {
		jg_stmt_bind_text(st, 1, probe);
		jg_stmt_bind_text(st, 2, q->service);
		int step = jg_stmt_step(st);
		if (step == JG_STMT_ROW) {
			found = true;
			function = strdup(jg_stmt_column_text(st, 0));
			parsed = metric_spec(jg_stmt_column_text(st, 1), &m) == 0;
			sensitive = metric_sensitive(jg_stmt_column_text(st, 2), &m, parsed,
						     q->sensitive_fields);
		}
		rc = step == JG_STMT_ROW || step == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (rc == 0 && found && !(q->redact && sensitive) &&
	    (rc = jg_stmt_prepare(conn, sql_metric_points, &st)) == 0) {
		jg_stmt_bind_text(st, 1, probe);
		jg_stmt_bind_int64(st, 2, q->since / 1000000000LL - POINT_AHEAD_S);
		jg_stmt_bind_int64(st, 3, q->until / 1000000000LL + POINT_PAST_S + 1);
		jg_stmt_bind_int64(st, 4, JG_PROBE_METRIC_POINTS_MAX + 1);
		int step;
		while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *ev = json_loads(jg_stmt_column_text(st, 0), 0, NULL);
			if (ev == NULL || json_array_append_new(events, ev) != 0) {
				step = JG_ESTORE;
				break;
			}
		}
		rc = step == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_rollback(conn);
	jg_store_release(s, conn);
	if (rc == 0 && found && function == NULL)
		rc = JG_ENOMEM;
	if (rc == 0 && !found)
		rc = JG_ENOTFOUND;
	else if (rc == 0 && !parsed)
		rc = JG_ESTORE; /* a spec jitgate did not write */
	else if (rc == 0 && q->redact && sensitive)
		rc = JG_EDENIED;
	else if (rc == 0 && json_array_size(events) > JG_PROBE_METRIC_POINTS_MAX)
		rc = JG_ETOOBIG;
	if (rc == 0) {
		char name[JG_PROBE_ID_MAX + 8];
		snprintf(name, sizeof(name), "probe.%s", probe);
		rc = jg_probe_metric_series(&m, name, function, events, q->since, q->until,
					    q->step_ns, q->redact, metrics);
	}
	free(function);
	json_decref(events);
	return rc;
}

static const char sql_events_expire[] =
    "DELETE FROM probe_events WHERE id IN "
    "(SELECT id FROM probe_events WHERE received_at < ? ORDER BY received_at LIMIT 1000)";

int
jg_probe_events_sweep(struct jg_store *store, int64_t before, int64_t *deleted)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc, n;

	*deleted = 0;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	do { /* one short transaction per batch: ingest is never blocked for long */
		n = 0;
		if ((rc = jg_stmt_prepare(conn, sql_events_expire, &st)) != 0)
			break;
		jg_stmt_bind_int64(st, 1, before);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
		if (rc == 0) {
			n = jg_store_changes(conn);
			*deleted += n;
		}
	} while (rc == 0 && n == 1000);
	jg_store_release(store, conn);
	return rc;
}

/*
 * probes before their events, as `jitgate store copy` moves them (store.h).
 * probe_events.id is numbered by the database (SQLite's rowid, PostgreSQL's
 * identity column): the copy keeps the ids and the store sets the
 * PostgreSQL sequence past them.
 */
static const struct jg_store_table probe_tables[] = {
    JG_STORE_TABLE(
	"probes",
	"id, grant_id, service, function, capture_args, capture_return, "
	"sampling_rate, conditions, created_by, created_at, expires_at, deleted_at, "
	"max_hits, max_events_per_second, max_depth, max_string_bytes, "
	"max_collection_items, max_fields, max_cpu_ms_per_second, rate_tokens, rate_at, "
	"disabled_at, disabled_reason, kind, template, args, metric",
	"ttttiirttiiiiiiiiiiriittttt", "id",
	"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
    JG_STORE_TABLE("probe_events", "id, probe_id, service, received_at, event", "ittit", "id",
		   "?, ?, ?, ?, ?"),
    JG_STORE_TABLE("probe_grant_usage",
		   "grant_id, probes, hits, bytes, probes_exhausted_at, events_exhausted_at",
		   "tiiiii", "grant_id", "?, ?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_probe_tables(size_t *n)
{
	*n = sizeof(probe_tables) / sizeof(probe_tables[0]);
	return probe_tables;
}
