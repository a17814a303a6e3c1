/*
 * api_agents.c - the agent protocol (docs/agents.md) and the engineer's view
 * of what agents captured.
 *
 *   GET  /v1/agents/probes?service=NAME        ingest key of NAME: its live probes
 *   POST /v1/agents/probes/{id}/events         ingest key of the probe's service:
 *                                              {"events":[{...}, ...]} (1 to 100):
 *                                              those that fit stored, the rest refused
 *                                              per event (max_hits, rate, over_limits)
 *   POST /v1/agents/probes/{id}/disable        ingest key: the agent's CPU guard
 *                                              disabled the probe (audited)
 *   POST /v1/agents/probes/status              ingest key of the body's service:
 *                                              {service, instance, installed:[ids],
 *                                              dropped?:{id:N}, failed:[{id, code,
 *                                              message}]}, after
 *                                              every poll (probe_status.h; not audited)
 *   GET  /v1/services/{svc}/probes/{id}/events?limit=&after=
 *                                              guarded (deploy-probe,
 *                                              probe.events.read): the events,
 *                                              redacted unless read-pii
 *
 * Thin: the ingest key or the guard, the arguments, one call to probes.c
 * (the events read is jg_api_probe_events_read() of api_probes.h, shared
 * with the probes page)
 * (probes.h: which probes are live, the batch stored with its audit entry
 * in one transaction, the events read and redacted), the reply.  A batch
 * is checked whole here for form (a malformed one is a 400 and nothing is
 * stored); probes.c then stores the events that fit the probe's limits and
 * refuses the rest one by one; a revocation that commits first wins and
 * the batch is refused (409) with nothing stored.  Events read by a token without read-pii are
 * redacted; one that cannot be is withheld.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_ingest_int.h"
#include "jitgate/api_probes.h"
#include "jitgate/app.h"
#include "jitgate/catalog.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/probe_status.h"
#include "jitgate/probes.h"
#include "jitgate/redact.h"
#include "api_routes_int.h"

#define MAX_BATCH_EVENTS JG_AGENTS_MAX_BATCH
#define MAX_EVENT_BYTES	 16384 /* one event, as compact JSON */
#define MAX_EVENT_DEPTH	 32    /* nested objects/arrays, within what redact.h can walk */

/* a batch's refusals fit the result probes.c fills */
_Static_assert(MAX_BATCH_EVENTS <= JG_PROBE_BATCH_MAX, "a batch larger than probes.c takes");

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
	json_t *list = NULL;

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
	if (jg_probe_live_for_agent(app->store, who.service, now, &list) != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the store is unavailable");
		return;
	}
	no_store(reply);
	jg_http_reply_json(reply, 200,
			   json_pack("{s:s,s:I,s:i,s:o}", "service", who.service, "now",
				     (json_int_t)now, "poll_seconds",
				     (int)app->cfg->probes_agent_poll, "probes", list));
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

/*
 * The start of an agent's POST about one probe: the ingest key (the caller
 * in *who), a possible probe id, a JSON body (*body, caller decrefs).  0;
 * otherwise the reply is written.
 */
static int
agent_probe_post(struct jg_http_request *req, struct jg_http_reply *reply,
		 struct jg_ingest_caller *who, const char **id, json_t **body)
{
	*id = jg_http_param(req, "id");
	if (jg_api_require_ingest(req, reply, who) != 0)
		return JG_EDENIED;
	if (!jg_probe_id_valid(*id)) {
		jg_http_reply_error(reply, 404, "not_found", "no such probe of this service");
		return JG_ENOTFOUND;
	}
	return jg_http_body_json(req, reply, body);
}

static void
handle_events_post(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_ingest_caller who;
	const char *id;
	char *texts[MAX_BATCH_EVENTS];
	size_t n = 0;
	json_t *body = NULL, *refused = NULL;
	struct jg_probe_ingest_result r;

	if (agent_probe_post(req, reply, &who, &id, &body) != 0)
		return;
	if (jg_api_agents_validate_batch(body, reply, texts, &n) != 0) {
		json_decref(body);
		return;
	}
	json_decref(body);
	int rc = jg_probe_events_ingest(app->audit, who.service, who.key_id, id, texts, n,
					jg_clock_now_ms(), &r);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	switch (rc) {
	case 0:
		refused = json_array();
		for (size_t i = 0; refused != NULL && i < r.nrefused; i++)
			json_array_append_new(refused, json_pack("{s:I,s:s}", "index",
								 (json_int_t)r.refused[i].index,
								 "code", r.refused[i].code));
		jg_http_reply_json(reply, 201,
				   json_pack("{s:s,s:I,s:I,s:I,s:o}", "probe", id, "stored",
					     (json_int_t)r.stored, "first_id",
					     (json_int_t)r.first_id, "last_id",
					     (json_int_t)r.last_id, "refused", refused));
		break;
	case JG_ENOTFOUND:
		jg_http_reply_error(reply, 404, "not_found", "no such probe of this service");
		break;
	case JG_ECONFLICT:
		jg_http_reply_error(reply, 409, "probe_not_live",
				    "the probe is no longer live (expired, removed, or its grant "
				    "ended): stop it; nothing was stored");
		break;
	case JG_EDENIED:
		jg_http_reply_error(reply, 409, "probe_disabled",
				    "the probe is disabled (it reached a limit): stop it; nothing "
				    "was stored");
		break;
	default:
		jg_http_reply_error(reply, 503, "unavailable",
				    "the events could not be stored; nothing was stored");
		break;
	}
}

/* ---- POST /v1/agents/probes/{id}/disable ---------------------------------- */

static void
handle_disable(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_ingest_caller who;
	const char *id, *key;
	json_t *body = NULL, *v;

	if (agent_probe_post(req, reply, &who, &id, &body) != 0)
		return;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "reason") != 0 && strcmp(key, "cpu_ms_per_second") != 0) {
			jg_http_reply_error(reply, 400, "bad_request",
					    "unknown field '%.64s': the body is "
					    "{\"reason\":\"cpu\",\"cpu_ms_per_second\":N}",
					    key);
			json_decref(body);
			return;
		}
	}
	const char *reason = json_string_value(json_object_get(body, "reason"));
	v = json_object_get(body, "cpu_ms_per_second");
	double cpu = json_is_number(v) ? json_number_value(v) : -1.0;
	if (reason == NULL || strcmp(reason, "cpu") != 0 || !json_is_number(v) || !(cpu >= 0.0) ||
	    cpu > 1000.0) {
		json_decref(body);
		jg_http_reply_error(reply, 400, "bad_request",
				    "the body is {\"reason\":\"cpu\",\"cpu_ms_per_second\":N}, N "
				    "a number from 0 to 1000");
		return;
	}
	json_decref(body);
	int rc = jg_probe_disable_cpu(app->audit, who.service, who.key_id, id, cpu, jg_clock_now());
	switch (rc) {
	case 0:
		jg_http_reply_json(reply, 200,
				   json_pack("{s:s,s:s}", "probe", id, "disabled", "cpu"));
		break;
	case JG_ENOTFOUND:
		jg_http_reply_error(reply, 404, "not_found", "no such probe of this service");
		break;
	case JG_ECONFLICT:
		jg_http_reply_error(reply, 409, "probe_not_live",
				    "the probe is no longer live (expired, removed, disabled, or "
				    "its grant ended)");
		break;
	default:
		jg_http_reply_error(reply, 503, "unavailable",
				    "the probe could not be disabled; nothing changed");
		break;
	}
}

/* ---- POST /v1/agents/probes/status ---------------------------------------- */

/* A 400 naming where the report is wrong. */
static int
bad_report(struct jg_http_reply *reply, const char *what)
{
	jg_http_reply_error(reply, 400, "bad_request",
			    "%s: the body is {\"service\":S,\"instance\":I,\"installed\":[ids],"
			    "\"dropped\":{id:N},\"failed\":[{\"id\",\"code\",\"message\"}]}",
			    what);
	return JG_EINVAL;
}

/*
 * Reads a status report's body into *r (borrowing body's strings; ids and
 * failed are the caller's arrays of JG_PROBE_STATUS_IDS_MAX).  0; otherwise
 * a 400 is written.
 */
static int
parse_report(json_t *body, struct jg_http_reply *reply, struct jg_probe_report *r, const char **ids,
	     int64_t *dropped, struct jg_probe_failure *failed)
{
	const char *key;
	json_t *v, *inst = json_object_get(body, "instance");
	json_t *installed = json_object_get(body, "installed"),
	       *fl = json_object_get(body, "failed"), *drops = json_object_get(body, "dropped");
	size_t i;

	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "service") != 0 && strcmp(key, "instance") != 0 &&
		    strcmp(key, "installed") != 0 && strcmp(key, "failed") != 0 &&
		    strcmp(key, "dropped") != 0)
			return bad_report(reply, "unknown field");
	}
	r->service = json_string_value(json_object_get(body, "service"));
	if (r->service == NULL)
		return bad_report(reply, "'service' is required");
	r->instance = json_string_value(inst);
	if (r->instance == NULL || strlen(r->instance) != json_string_length(inst) ||
	    !jg_probe_status_instance_valid(r->instance))
		return bad_report(reply, "'instance' must be 1 to 128 printable ASCII characters");
	if ((installed != NULL && !json_is_array(installed)) ||
	    (fl != NULL && !json_is_array(fl)) ||
	    json_array_size(installed) > JG_PROBE_STATUS_IDS_MAX ||
	    json_array_size(fl) > JG_PROBE_STATUS_IDS_MAX)
		return bad_report(reply, "'installed' and 'failed' are lists of at most 500");
	size_t n = 0;
	json_array_foreach(installed, i, v)
	{
		ids[n] = json_string_value(v);
		if (!jg_probe_id_valid(ids[n++]))
			return bad_report(reply, "'installed' holds probe ids");
	}
	r->installed = ids;
	r->ninstalled = n;
	/* "dropped": {id: events lost}, for installed probes only; the rest lost none */
	if (drops != NULL && (!json_is_object(drops) || json_object_size(drops) > r->ninstalled))
		return bad_report(reply, "'dropped' is {id: count} for installed probes");
	json_object_foreach(drops, key, v)
	{
		bool listed = false;
		for (i = 0; i < n && !listed; i++)
			listed = strcmp(ids[i], key) == 0;
		if (!listed || !json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > JG_PROBE_STATUS_DROPPED_MAX)
			return bad_report(reply, "'dropped' is {id: count} for installed probes, "
						 "each count 0 to 2^53");
	}
	for (i = 0; i < n; i++)
		dropped[i] = json_integer_value(json_object_get(drops, ids[i]));
	r->dropped = dropped;
	json_array_foreach(fl, i, v)
	{
		json_t *msg = json_object_get(v, "message");
		if (!json_is_object(v) || json_object_size(v) != 3)
			return bad_report(reply, "each of 'failed' is {id, code, message}");
		failed[i].id = json_string_value(json_object_get(v, "id"));
		failed[i].code = json_string_value(json_object_get(v, "code"));
		failed[i].message = json_string_value(msg);
		if (!jg_probe_id_valid(failed[i].id))
			return bad_report(reply, "'failed[].id' is a probe id");
		if (!jg_probe_status_code_valid(failed[i].code))
			return bad_report(reply, "'failed[].code' is 1 to 64 of [a-z0-9_]");
		if (failed[i].message == NULL ||
		    json_string_length(msg) > JG_PROBE_STATUS_MESSAGE_MAX ||
		    strlen(failed[i].message) != json_string_length(msg))
			return bad_report(reply, "'failed[].message' is text of at most 256 bytes");
	}
	r->failed = failed;
	r->nfailed = json_array_size(fl);
	return 0;
}

static void
handle_status(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_ingest_caller who;
	struct jg_probe_report r = {0};
	const char *ids[JG_PROBE_STATUS_IDS_MAX];
	int64_t dropped[JG_PROBE_STATUS_IDS_MAX];
	struct jg_probe_failure failed[JG_PROBE_STATUS_IDS_MAX];
	json_t *body = NULL;

	if (jg_api_require_ingest(req, reply, &who) != 0)
		return;
	if (jg_http_body_json(req, reply, &body) != 0)
		return;
	if (parse_report(body, reply, &r, ids, dropped, failed) != 0) {
		json_decref(body);
		return;
	}
	if (strcmp(r.service, who.service) != 0) {
		json_decref(body);
		jg_http_reply_error(reply, 403, "forbidden",
				    "this ingest key belongs to another service");
		return;
	}
	int rc = jg_probe_status_report(app->store, &r, jg_clock_now());
	json_decref(body);
	if (rc == JG_ECONFLICT) {
		jg_http_reply_error(
		    reply, 429, "too_many_instances",
		    "%d other instances of this service report already; an instance "
		    "is forgotten 3 polls after its last report",
		    JG_PROBE_STATUS_INSTANCES_MAX);
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the status could not be stored; send it again after the next "
				    "poll");
		return;
	}
	no_store(reply);
	jg_http_reply_json(reply, 200, json_pack("{s:b}", "ok", 1));
}

/* ---- GET /v1/services/{svc}/probes/{id}/events ---------------------------- */

static void
handle_events_get(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *out = NULL;
	int rc = jg_api_probe_events_read(req, jg_http_param(req, "svc"), jg_http_param(req, "id"),
					  jg_http_header(req, "Authorization"), &out, &e);

	if (rc == JG_EDEFERRED)
		return;
	if (rc != 0) {
		jg_api_error_reply(reply, &e);
		return;
	}
	no_store(reply);
	jg_http_reply_json(reply, 200, out);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/agents/probes", handle_poll, NULL, 0},
    {"POST", "/v1/agents/probes/{id}/events", handle_events_post, NULL, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/agents/probes/{id}/disable", handle_disable, NULL, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/agents/probes/status", handle_status, NULL, JG_ROUTE_JSON_BODY},
    {"GET", "/v1/services/{svc}/probes/{id}/events", handle_events_get, NULL,
     JG_ROUTE_INLINE | JG_ROUTE_STORE},
};
const struct jg_route_table jg_api_agents_routes = {routes, sizeof(routes) / sizeof(routes[0])};
