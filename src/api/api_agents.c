/*
 * api_agents.c - the agent protocol (docs/agents.md) and the engineer's view
 * of what agents captured.
 *
 *   GET  /v1/agents/probes?service=NAME        ingest key of NAME: its live probes
 *   POST /v1/agents/probes/{id}/events         ingest key of the probe's service:
 *                                              {"events":[{...}, ...]} (1 to 100)
 *   GET  /v1/services/{svc}/probes/{id}/events?limit=&after=
 *                                              guarded (deploy-probe,
 *                                              probe.events.read): the events,
 *                                              redacted unless read-pii
 *
 * A probe is live while it is not deleted, not past its expires_at (which
 * never passes its grant's end), and its grant is active and not past its
 * end - the same rule as api_probes.c.  expires_at never changes, so an
 * expired probe is never served again.  A batch of events is checked whole
 * before anything is stored, then stored in one transaction through the
 * audit writer together with one probe.events.ingested entry (count and
 * SHA-256 of what was stored); the probe's liveness is re-read inside that
 * transaction, so a revocation that commits first wins and the batch is
 * refused (409), never half-stored.  Events read by a token without
 * read-pii are redacted (redact.h); one that cannot be is withheld.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "api_ingest_int.h"
#include "jitgate/app.h"
#include "jitgate/catalog.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/redact.h"

#define MAX_BATCH_EVENTS     JG_AGENTS_MAX_BATCH
#define MAX_EVENT_BYTES	     16384 /* one event, as compact JSON */
#define MAX_EVENT_DEPTH	     32	   /* nested objects/arrays, within what redact.h can walk */
#define MAX_EVENTS_PER_PROBE 10000 /* stored per probe; then 409 */
#define MAX_READ_LIMIT	     1000
#define DEFAULT_READ_LIMIT   100
#define POLL_SECONDS	     10 /* advised to agents */

static const char sql_live[] =
    "SELECT p.id, p.function, p.capture_args, p.capture_return, p.sampling_rate, p.conditions, "
    "p.expires_at FROM probes p JOIN access_requests g ON g.id = p.grant_id WHERE p.service = ? "
    "AND p.deleted_at IS NULL AND p.expires_at > ? AND g.state = 'active' AND g.expires_at > ? "
    "ORDER BY p.created_at LIMIT 500";
static const char sql_probe_state[] =
    "SELECT p.service, p.deleted_at IS NULL AND p.expires_at > ? AND g.state = 'active' AND "
    "g.expires_at > ? FROM probes p JOIN access_requests g ON g.id = p.grant_id WHERE p.id = ?";
static const char sql_event_count[] = "SELECT count(*) FROM probe_events WHERE probe_id = ?";
static const char sql_event_insert[] =
    "INSERT INTO probe_events (probe_id, service, received_at, event) VALUES (?, ?, ?, ?) "
    "RETURNING id";
static const char sql_probe_of_grant[] =
    "SELECT 1 FROM probes WHERE id = ? AND service = ? AND grant_id = ?";
static const char sql_events[] = "SELECT id, received_at, event FROM probe_events "
				 "WHERE probe_id = ? AND id > ? ORDER BY id LIMIT ?";

/* Probe ids are "prb_" and base64url; anything else names no probe. */
static int
valid_probe_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= 64 &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void
no_store(struct jg_http_reply *reply)
{
	jg_http_reply_header(reply, "Cache-Control", "no-store");
}

/* ---- GET /v1/agents/probes ------------------------------------------------ */

static void
handle_poll(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_ingest_caller who;
	struct jg_store_conn *conn;
	struct jg_stmt *st = NULL;

	if (jg_api_require_ingest(req, reply, &who) != 0)
		return;
	const char *svc = jg_http_query(req, "service");
	if (svc == NULL || *svc == '\0') {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'service' is required: GET /v1/agents/probes?service=NAME");
		return;
	}
	if (strcmp(svc, who.service) != 0) {
		jg_http_reply_error(reply, 403, "forbidden",
				    "this ingest key belongs to another service");
		return;
	}
	int64_t now = jg_clock_now();
	json_t *list = json_array();
	int rc = list ? jg_store_acquire(app->store, &conn) : JG_ENOMEM;
	if (rc != 0) {
		json_decref(list);
		jg_http_reply_error(reply, 503, "unavailable", "the store is unavailable");
		return;
	}
	rc = jg_stmt_prepare(conn, sql_live, &st);
	if (rc == 0) {
		jg_stmt_bind_text(st, 1, who.service);
		jg_stmt_bind_int64(st, 2, now);
		jg_stmt_bind_int64(st, 3, now);
		while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *conds = json_loads(jg_stmt_column_text(st, 5), 0, NULL);
			json_array_append_new(
			    list, json_pack("{s:s,s:s,s:b,s:b,s:f,s:o,s:I}", "id",
					    jg_stmt_column_text(st, 0), "function",
					    jg_stmt_column_text(st, 1), "capture_args",
					    (int)jg_stmt_column_int64(st, 2), "capture_return",
					    (int)jg_stmt_column_int64(st, 3), "sampling_rate",
					    jg_stmt_column_double(st, 4), "conditions",
					    conds ? conds : json_array(), "expires_at",
					    (json_int_t)jg_stmt_column_int64(st, 6)));
		}
		jg_stmt_finish(st);
	}
	jg_store_release(app->store, conn);
	if (rc != JG_STMT_DONE) {
		json_decref(list);
		jg_http_reply_error(reply, 503, "unavailable", "the store is unavailable");
		return;
	}
	no_store(reply);
	jg_http_reply_json(reply, 200,
			   json_pack("{s:s,s:I,s:i,s:o}", "service", who.service, "now",
				     (json_int_t)now, "poll_seconds", POLL_SECONDS, "probes",
				     list));
}

/* ---- POST /v1/agents/probes/{id}/events ----------------------------------- */

/* The nesting depth of v (a flat object is 1), counted no further than limit + 1. */
static size_t
depth(json_t *v, size_t limit)
{
	size_t most = 0, i;
	const char *k;
	json_t *c;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (limit == 0)
		return 1;
	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
		{
			size_t d = depth(c, limit - 1);
			most = d > most ? d : most;
		}
	} else {
		json_array_foreach(v, i, c)
		{
			size_t d = depth(c, limit - 1);
			most = d > most ? d : most;
		}
	}
	return most + 1;
}

static void
bad_event(struct jg_http_reply *reply, size_t index, const char *why)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "events[%zu]: %s", index, why);
	jg_http_reply_json(reply, 400,
			   json_pack("{s:{s:s,s:s,s:I}}", "error", "code", "bad_request", "message",
				     msg, "index", (json_int_t)index));
}

/* Checks the whole body; on success texts[i] is events[i] as compact JSON (caller frees). */
int
jg_api_agents_validate_batch(json_t *body, struct jg_http_reply *reply, char **texts, size_t *n)
{
	const char *key;
	json_t *v, *events = json_object_get(body, "events");

	*n = 0;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "events") != 0) {
			jg_http_reply_error(reply, 400, "bad_request",
					    "unknown field '%.64s': the body is {\"events\":[...]}",
					    key);
			return JG_EINVAL;
		}
	}
	if (!json_is_array(events) || json_array_size(events) == 0 ||
	    json_array_size(events) > MAX_BATCH_EVENTS) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'events' is required: a list of 1 to %d event objects",
				    MAX_BATCH_EVENTS);
		return JG_EINVAL;
	}
	size_t i;
	json_array_foreach(events, i, v)
	{
		if (!json_is_object(v)) {
			bad_event(reply, i, "an event must be a JSON object");
			goto fail;
		}
		if (depth(v, MAX_EVENT_DEPTH) > MAX_EVENT_DEPTH) {
			bad_event(reply, i, "an event may nest objects and arrays 32 levels deep");
			goto fail;
		}
		texts[i] = json_dumps(v, JSON_COMPACT);
		if (texts[i] == NULL) {
			bad_event(reply, i, "the event cannot be encoded");
			goto fail;
		}
		*n = i + 1;
		if (strlen(texts[i]) > MAX_EVENT_BYTES) {
			bad_event(reply, i, "an event may be at most 16384 bytes as compact JSON");
			goto fail;
		}
	}
	return 0;
fail:
	for (size_t k = 0; k < *n; k++)
		free(texts[k]);
	*n = 0;
	return JG_EINVAL;
}

struct ingest_job {
	const struct jg_ingest_caller *who;
	const char *probe;
	char **texts;
	size_t n;
	int64_t now;
	int64_t first_id, last_id;
};

static int
ingest_fn(struct jg_audit_tx *tx, void *arg)
{
	struct ingest_job *j = arg;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_stmt *st;
	uint8_t md[32];
	char hex[65];
	int rc, live = 0;

	/* the probe as it is now, inside the transaction that stores the batch */
	if (jg_stmt_prepare(conn, sql_probe_state, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, j->now);
	jg_stmt_bind_int64(st, 2, j->now);
	jg_stmt_bind_text(st, 3, j->probe);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		/* another service's probe is as unknown as a missing one */
		if (strcmp(jg_stmt_column_text(st, 0), j->who->service) != 0)
			rc = JG_ENOTFOUND;
		else
			live = jg_stmt_column_int64(st, 1) != 0;
	} else {
		rc = rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
	}
	jg_stmt_finish(st);
	if (rc < 0)
		return rc;
	if (!live)
		return JG_ECONFLICT;

	if (jg_stmt_prepare(conn, sql_event_count, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->probe);
	rc = jg_stmt_step(st);
	int64_t stored = rc == JG_STMT_ROW ? jg_stmt_column_int64(st, 0) : -1;
	jg_stmt_finish(st);
	if (stored < 0)
		return JG_ESTORE;
	if (stored + (int64_t)j->n > MAX_EVENTS_PER_PROBE)
		return JG_ETOOBIG;

	EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
	if (md_ctx == NULL || EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md_ctx);
		return JG_ECRYPTO;
	}
	rc = 0;
	for (size_t i = 0; i < j->n && rc == 0; i++) {
		if (jg_stmt_prepare(conn, sql_event_insert, &st) != 0) {
			rc = JG_ESTORE;
			break;
		}
		jg_stmt_bind_text(st, 1, j->probe);
		jg_stmt_bind_text(st, 2, j->who->service);
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
		    EVP_DigestUpdate(md_ctx, j->texts[i], strlen(j->texts[i])) != 1 ||
		    EVP_DigestUpdate(md_ctx, "\n", 1) != 1)
			rc = JG_ESTORE;
	}
	unsigned int mdlen = 0;
	if (rc == 0 && (EVP_DigestFinal_ex(md_ctx, md, &mdlen) != 1 || mdlen != 32))
		rc = JG_ECRYPTO;
	EVP_MD_CTX_free(md_ctx);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);

	char actor[JG_SERVICE_NAME_MAX + 16];
	snprintf(actor, sizeof(actor), "agent:%s", j->who->service);
	json_t *data = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "probe", j->probe, "service",
				 j->who->service, "ingest_key", j->who->key_id, "count",
				 (json_int_t)j->n, "first_id", (json_int_t)j->first_id, "last_id",
				 (json_int_t)j->last_id, "sha256", hex);
	rc = data ? jg_audit_tx_append(tx, "probe.events.ingested", actor, data, NULL) : JG_ENOMEM;
	json_decref(data);
	return rc;
}

static void
handle_events_post(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_ingest_caller who;
	const char *id = jg_http_param(req, "id");
	char *texts[MAX_BATCH_EVENTS];
	size_t n = 0;
	json_t *body = NULL;

	if (jg_api_require_ingest(req, reply, &who) != 0)
		return;
	if (!valid_probe_id(id)) {
		jg_http_reply_error(reply, 404, "not_found", "no such probe of this service");
		return;
	}
	if (jg_http_body_json(req, reply, &body) != 0)
		return;
	if (jg_api_agents_validate_batch(body, reply, texts, &n) != 0) {
		json_decref(body);
		return;
	}
	json_decref(body);
	struct ingest_job j = {
	    .who = &who, .probe = id, .texts = texts, .n = n, .now = jg_clock_now()};
	int rc = jg_audit_run(app->audit, ingest_fn, &j);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	switch (rc) {
	case 0:
		jg_http_reply_json(reply, 201,
				   json_pack("{s:s,s:I,s:I,s:I}", "probe", id, "stored",
					     (json_int_t)n, "first_id", (json_int_t)j.first_id,
					     "last_id", (json_int_t)j.last_id));
		break;
	case JG_ENOTFOUND:
		jg_http_reply_error(reply, 404, "not_found", "no such probe of this service");
		break;
	case JG_ECONFLICT:
		jg_http_reply_error(reply, 409, "probe_not_live",
				    "the probe is no longer live (expired, removed, or its grant "
				    "ended): stop it; nothing was stored");
		break;
	case JG_ETOOBIG:
		jg_http_reply_error(reply, 409, "probe_event_limit",
				    "the probe has reached its limit of %d stored events: stop it; "
				    "nothing was stored",
				    MAX_EVENTS_PER_PROBE);
		break;
	default:
		jg_http_reply_error(reply, 503, "unavailable",
				    "the events could not be stored; nothing was stored");
		break;
	}
}

/* ---- GET /v1/services/{svc}/probes/{id}/events ---------------------------- */

/*
 * Redacts one event in place for a reader without read-pii: the values of
 * the configured sensitive keys (redaction.sensitive_fields) withheld whole,
 * every other string through the scanners (redact.h).  On failure the event
 * may be half redacted and must not be shown: the caller withholds it.
 */
static int
agents_redact_event(json_t *event, char *const *fields, unsigned *found)
{
	size_t n = 0;
	while (fields && fields[n])
		n++;
	return jg_redact_json(event, (const char *const *)fields, n, found);
}

static void
handle_events_get(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc"), *id = jg_http_param(req, "id");
	struct jg_guarded g;
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	uint64_t limit, after;

	if (!valid_probe_id(id)) {
		jg_http_reply_error(reply, 404, "not_found",
				    "no such probe of this grant on this service");
		return;
	}
	if (jg_http_query_u64(req, reply, "limit", DEFAULT_READ_LIMIT, MAX_READ_LIMIT, &limit) !=
		0 ||
	    jg_http_query_u64(req, reply, "after", 0, INT64_MAX, &after) != 0)
		return;
	if (limit == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'limit' must be 1 to %d",
				    MAX_READ_LIMIT);
		return;
	}
	json_t *params = json_pack("{s:s,s:I,s:I}", "probe", id, "limit", (json_int_t)limit,
				   "after", (json_int_t)after);
	if (jg_guard_params(req, reply, svc, "deploy-probe", "probe.events.read", params, &g) != 0)
		return;

	json_t *events = json_array();
	bool redact = !g.has_pii, found = false;
	int64_t last = -1;
	if (events == NULL || jg_store_acquire(app->store, &conn) != 0) {
		json_decref(events);
		jg_http_reply_error(reply, 503, "unavailable", "the store is unavailable");
		return;
	}
	int rc = jg_store_begin_read(conn);
	/* only the probes of the token's own grant, as for DELETE */
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_probe_of_grant, &st)) == 0) {
		jg_stmt_bind_text(st, 1, id);
		jg_stmt_bind_text(st, 2, svc);
		jg_stmt_bind_text(st, 3, g.claims.grant);
		int s = jg_stmt_step(st);
		found = s == JG_STMT_ROW;
		rc = s == JG_STMT_ROW || s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (rc == 0 && found && (rc = jg_stmt_prepare(conn, sql_events, &st)) == 0) {
		jg_stmt_bind_text(st, 1, id);
		jg_stmt_bind_int64(st, 2, (int64_t)after);
		jg_stmt_bind_int64(st, 3, (int64_t)limit);
		int s = JG_ESTORE;
		while (rc == 0 && (s = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *ev = json_loads(jg_stmt_column_text(st, 2), 0, NULL);
			unsigned hits = 0;
			if (ev == NULL) {
				rc = JG_ESTORE;
				break;
			}
			last = jg_stmt_column_int64(st, 0);
			json_t *item = json_pack("{s:I,s:I}", "id", (json_int_t)last, "received_at",
						 (json_int_t)jg_stmt_column_int64(st, 1));
			if (redact && agents_redact_event(ev, app->cfg->redaction_sensitive_fields,
							  &hits) != 0) {
				/* fail closed: a half-redacted event is never shown */
				json_decref(ev);
				ev = json_null();
				json_object_set_new(item, "withheld",
						    json_string("the event could not be redacted"));
			}
			json_object_set_new(item, "event", ev);
			json_array_append_new(events, item);
		}
		if (rc == 0 && s != JG_STMT_DONE)
			rc = JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_rollback(conn);
	jg_store_release(app->store, conn);
	if (rc != 0) {
		json_decref(events);
		jg_http_reply_error(reply, 503, "unavailable", "the events cannot be read now");
		return;
	}
	if (!found) {
		json_decref(events);
		jg_http_reply_error(reply, 404, "not_found",
				    "no such probe of this grant on this service");
		return;
	}
	no_store(reply);
	json_t *out =
	    json_pack("{s:s,s:s,s:b,s:o,s:o}", "service", svc, "probe", id, "redacted", redact,
		      "events", events, "next_after",
		      json_array_size(events) == limit ? json_integer(last) : json_null());
	jg_http_reply_json(reply, 200, out);
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

int
jg_api_agents_register(struct jg_router *router)
{
	int rc = 0;
	rc |= jg_router_add(router, "GET", "/v1/agents/probes", (void *)handle_poll, 0);
	rc |= jg_router_add(router, "POST", "/v1/agents/probes/{id}/events",
			    (void *)handle_events_post, JG_ROUTE_JSON_BODY);
	rc |= jg_router_add(router, "GET", "/v1/services/{svc}/probes/{id}/events",
			    (void *)handle_events_get, JG_ROUTE_INLINE);
	return rc ? JG_EINVAL : 0;
}
