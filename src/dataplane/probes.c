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
 * A batch of events is stored by one audit work function: the probe's
 * liveness re-read, the per-probe cap, the rows, and one
 * probe.events.ingested entry holding the SHA-256 of what was stored.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/pii.h"
#include "jitgate/probes.h"
#include "jitgate/random.h"
#include "jitgate/redact.h"
#include "jitgate/sha256.h"
#include "jitgate/store.h"

bool
jg_probe_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= JG_PROBE_ID_MAX &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---- deploy ------------------------------------------------------------------ */

static const char sql_insert[] =
    "INSERT INTO probes (id, grant_id, service, function, capture_args, capture_return, "
    "sampling_rate, conditions, created_by, created_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

int
jg_probe_create(struct jg_store *s, const struct jg_probe_new *p, int64_t now,
		char id[JG_PROBE_ID_MAX], int64_t *expires_at)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *conds = json_object_get(p->spec, "conditions"), *none = json_array();
	json_t *rate = json_object_get(p->spec, "sampling_rate");
	char rnd[32], *conds_text = json_dumps(conds ? conds : none, JSON_COMPACT);
	int rc = JG_ESTORE;

	json_decref(none); /* json_dumps borrows: the empty list was leaked on every probe */
	id[0] = '\0';
	*expires_at = now + json_integer_value(json_object_get(p->spec, "duration"));
	if (*expires_at > p->grant_expires)
		*expires_at = p->grant_expires; /* never outlives its grant */
	if (conds_text == NULL) {
		rc = JG_ENOMEM;
	} else if (p->id != NULL && !jg_probe_id_valid(p->id)) {
		rc = JG_EINVAL;
	} else if (p->id == NULL && jg_random_token(12, rnd, sizeof(rnd)) != 0) {
		rc = JG_ECRYPTO;
	} else if (jg_store_acquire(s, &conn) == 0) {
		/* the id the deploy's entry recorded, made before the guard (guard.h) */
		if (p->id != NULL)
			snprintf(id, JG_PROBE_ID_MAX, "%s", p->id);
		else
			snprintf(id, JG_PROBE_ID_MAX, JG_PROBE_ID_PREFIX "%s", rnd);
		if (jg_stmt_prepare(conn, sql_insert, &st) == 0) {
			jg_stmt_bind_text(st, 1, id);
			jg_stmt_bind_text(st, 2, p->grant);
			jg_stmt_bind_text(st, 3, p->service);
			jg_stmt_bind_text(st, 4,
					  json_string_value(json_object_get(p->spec, "function")));
			jg_stmt_bind_int64(st, 5,
					   json_is_true(json_object_get(p->spec, "capture_args")));
			jg_stmt_bind_int64(
			    st, 6, json_is_true(json_object_get(p->spec, "capture_return")));
			jg_stmt_bind_double(st, 7, rate ? json_number_value(rate) : 1.0);
			jg_stmt_bind_text(st, 8, conds_text);
			jg_stmt_bind_text(st, 9, p->actor);
			jg_stmt_bind_int64(st, 10, now);
			jg_stmt_bind_int64(st, 11, *expires_at);
			rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
			jg_stmt_finish(st);
		}
		jg_store_release(s, conn);
	}
	free(conds_text);
	return rc;
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
	"created_by, created_at, expires_at" extra " FROM probes WHERE service = ? AND "           \
	"deleted_at IS NULL AND expires_at > ? "
#define CANDIDATE_FIRST "ORDER BY created_at, id LIMIT ?"
#define CANDIDATE_AFTER                                                                            \
	"AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?"
/*
 * The engineer's list also counts each probe's stored events, in the same
 * statement: a count over the index probe_events (probe_id, id) per row
 * (covering on SQLite, an index-only scan on PostgreSQL), at most
 * JG_PROBE_MAX_EVENTS entries each.  The agent's poll, which runs often
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

/* One candidate row as the engineer's list shows it (for_agent: as the agent's). */
static json_t *
probe_row(struct jg_stmt *st, bool for_agent)
{
	json_t *conds = json_loads(jg_stmt_column_text(st, 6), 0, NULL);
	if (conds == NULL)
		conds = json_array();
	if (for_agent)
		return json_pack("{s:s,s:s,s:b,s:b,s:f,s:o,s:I}", "id", jg_stmt_column_text(st, 0),
				 "function", jg_stmt_column_text(st, 2), "capture_args",
				 (int)jg_stmt_column_int64(st, 3), "capture_return",
				 (int)jg_stmt_column_int64(st, 4), "sampling_rate",
				 jg_stmt_column_double(st, 5), "conditions", conds, "expires_at",
				 (json_int_t)jg_stmt_column_int64(st, 9));
	return json_pack(
	    "{s:s,s:s,s:s,s:b,s:b,s:f,s:o,s:s,s:I,s:I,s:I}", "id", jg_stmt_column_text(st, 0),
	    "grant", jg_stmt_column_text(st, 1), "function", jg_stmt_column_text(st, 2),
	    "capture_args", (int)jg_stmt_column_int64(st, 3), "capture_return",
	    (int)jg_stmt_column_int64(st, 4), "sampling_rate", jg_stmt_column_double(st, 5),
	    "conditions", conds, "created_by", jg_stmt_column_text(st, 7), "created_at",
	    (json_int_t)jg_stmt_column_int64(st, 8), "expires_at",
	    (json_int_t)jg_stmt_column_int64(st, 9), "events",
	    (json_int_t)jg_stmt_column_int64(st, 10));
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

static const char sql_probe_state[] =
    "SELECT service, grant_id, CASE WHEN deleted_at IS NULL AND expires_at > ? THEN 1 ELSE 0 "
    "END FROM probes WHERE id = ?";
static const char sql_event_count[] = "SELECT count(*) FROM probe_events WHERE probe_id = ?";
static const char sql_event_insert[] =
    "INSERT INTO probe_events (probe_id, service, received_at, event) VALUES (?, ?, ?, ?) "
    "RETURNING id";

struct ingest_job {
	const char *service, *key_id, *probe;
	char grant[64]; /* the probe's grant, as read in the transaction */
	char *const *texts;
	size_t n;
	int64_t now;
	int64_t first_id, last_id;
};

/* Whether probe of j's service is live now (inside the transaction): 0, JG_ENOTFOUND, JG_ECONFLICT.
 */
static int
probe_live(struct jg_store_conn *conn, struct ingest_job *j)
{
	struct jg_stmt *st;
	char *grant = j->grant;
	bool live = false;
	int rc;

	if (jg_stmt_prepare(conn, sql_probe_state, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, j->now);
	jg_stmt_bind_text(st, 2, j->probe);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		const char *svc = jg_stmt_column_text(st, 0), *g = jg_stmt_column_text(st, 1);
		/* another service's probe is as unknown as a missing one */
		if (svc == NULL || strcmp(svc, j->service) != 0) {
			rc = JG_ENOTFOUND;
		} else {
			live = jg_stmt_column_int64(st, 2) != 0;
			snprintf(grant, sizeof(j->grant), "%s", g ? g : "");
			rc = 0;
		}
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	if (rc == 0 && live && (rc = jg_access_grant_live(conn, grant, j->now, &live)) != 0)
		return rc;
	return rc != 0 ? rc : live ? 0 : JG_ECONFLICT;
}

static int
ingest_fn(struct jg_audit_tx *tx, void *arg)
{
	struct ingest_job *j = arg;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	uint8_t md[32];
	char hex[65];
	int rc;

	/* the probe as it is now, inside the transaction that stores the batch */
	if ((rc = probe_live(conn, j)) != 0)
		return rc;

	if (jg_stmt_prepare(conn, sql_event_count, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->probe);
	rc = jg_stmt_step(st);
	int64_t stored = rc == JG_STMT_ROW ? jg_stmt_column_int64(st, 0) : -1;
	jg_stmt_finish(st);
	if (stored < 0)
		return JG_ESTORE;
	if (stored + (int64_t)j->n > JG_PROBE_MAX_EVENTS)
		return JG_ETOOBIG;

	struct jg_sha256_ctx md_ctx;
	if (jg_sha256_init(&md_ctx) != 0)
		return JG_ECRYPTO;
	rc = 0;
	for (size_t i = 0; i < j->n && rc == 0; i++) {
		if (jg_stmt_prepare(conn, sql_event_insert, &st) != 0) {
			rc = JG_ESTORE;
			break;
		}
		jg_stmt_bind_text(st, 1, j->probe);
		jg_stmt_bind_text(st, 2, j->service);
		jg_stmt_bind_int64(st, 3, j->now);
		jg_stmt_bind_text(st, 4, j->texts[i]);
		int s = jg_stmt_step(st);
		if (s == JG_STMT_ROW) {
			j->last_id = jg_stmt_column_int64(st, 0);
			if (i == 0)
				j->first_id = j->last_id;
			s = jg_stmt_step(st);
		}
		jg_stmt_finish(st);
		if (s != JG_STMT_DONE ||
		    jg_sha256_update(&md_ctx, j->texts[i], strlen(j->texts[i])) != 0 ||
		    jg_sha256_update(&md_ctx, "\n", 1) != 0)
			rc = JG_ESTORE;
	}
	if (rc == 0 && jg_sha256_final(&md_ctx, md) != 0)
		rc = JG_ECRYPTO;
	jg_sha256_abort(&md_ctx);
	if (rc != 0)
		return rc;
	jg_hex32(md, hex);

	char actor[128];
	snprintf(actor, sizeof(actor), "agent:%s", j->service);
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "probe", j->probe, "grant",
				 j->grant, "service", j->service, "ingest_key", j->key_id, "count",
				 (json_int_t)j->n, "first_id", (json_int_t)j->first_id, "last_id",
				 (json_int_t)j->last_id, "sha256", hex);
	rc = data ? jg_audit_tx_append(tx, "probe.events.ingested", actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
	return rc;
}

int
jg_probe_events_ingest(struct jg_audit *a, const char *service, const char *key_id,
		       const char *probe, char *const *texts, size_t n, int64_t now,
		       int64_t *first_id, int64_t *last_id)
{
	struct ingest_job j = {.service = service,
			       .key_id = key_id,
			       .probe = probe,
			       .texts = texts,
			       .n = n,
			       .now = now};
	int rc = jg_audit_run(a, ingest_fn, &j);
	*first_id = j.first_id;
	*last_id = j.last_id;
	return rc;
}

static const char sql_probe_of_grant[] =
    "SELECT 1 FROM probes WHERE id = ? AND service = ? AND grant_id = ?";
static const char sql_events[] = "SELECT id, received_at, event FROM probe_events "
				 "WHERE probe_id = ? AND id > ? ORDER BY id LIMIT ?";

/*
 * Redacts one event in place for a reader without read-pii: the values of
 * the configured sensitive keys withheld whole, every other string through
 * the scanners (redact.h).  On failure the event may be half redacted and
 * must not be shown: the caller withholds it.
 */
static int
redact_event(json_t *event, char *const *fields, unsigned *found)
{
	size_t n = 0;
	while (fields && fields[n])
		n++;
	return jg_redact_json(event, (const char *const *)fields, n, found);
}

int
jg_probe_events_read(struct jg_store *s, const struct jg_probe_events_query *q, json_t **events,
		     int64_t *last)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *list = json_array();
	bool found = false;

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
		rc = step == JG_STMT_ROW || step == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
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
			if (q->redact && redact_event(ev, q->sensitive_fields, &hits) != 0) {
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
		return rc != 0 ? JG_ESTORE : JG_ENOTFOUND;
	}
	*events = list;
	return 0;
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
    JG_STORE_TABLE("probes",
		   "id, grant_id, service, function, capture_args, capture_return, "
		   "sampling_rate, conditions, created_by, created_at, expires_at, deleted_at",
		   "ttttiirttiii", "id", "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
    JG_STORE_TABLE("probe_events", "id, probe_id, service, received_at, event", "ittit", "id",
		   "?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_probe_tables(size_t *n)
{
	*n = sizeof(probe_tables) / sizeof(probe_tables[0]);
	return probe_tables;
}
