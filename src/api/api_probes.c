/*
 * api_probes.c - dynamic probes behind the guard (capability deploy-probe).
 *
 *   POST   /v1/services/{svc}/probes        deploy {function, capture_args, capture_return,
 *                                            sampling_rate, duration, conditions}
 *   GET    /v1/services/{svc}/probes        the live probes of the service
 *   DELETE /v1/services/{svc}/probes/{id}   remove one
 *
 * Every call passes jg_guard() first, which records it in the audit log
 * before anything happens; the probes themselves are probes.c's (a probe's
 * life is clipped to its grant's end, and it is only live while its grant
 * is active).
 *
 * A condition is an oracle for the value it compares, so a condition on
 * personal data (pii.h: a sensitive field, or a value redaction would
 * replace) needs read-pii in the deploying token as well.  The
 * probe.deploy entry holds such values only as keyed markers, and the list
 * shows them redacted to a token without read-pii: what remains visible is
 * what such a token could have deployed itself.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/app.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/pii.h"
#include "jitgate/probes.h"
#include "api_routes_int.h"

#define MAX_CONDITIONS	  16
#define MAX_PROBE_SECONDS 86400

static int
bad(struct jg_http_reply *reply, const char *field, const char *msg)
{
	json_t *err = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "bad_request", "message", msg,
				"field", field);
	jg_http_reply_json(reply, 400, err);
	return JG_EINVAL;
}

static int
valid_function(const char *f)
{
	size_t n = strlen(f);
	return n > 0 && n <= 200 &&
	       strspn(f, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:$<>-") ==
		   n;
}

/* A condition's operator is one of the four agents evaluate (docs/agents.md). */
static bool
known_op(const char *op)
{
	return strcmp(op, "eq") == 0 || strcmp(op, "gt") == 0 || strcmp(op, "lt") == 0 ||
	       strcmp(op, "contains") == 0;
}

/* Validates a probe body; each bad field gets a 400 naming it (app.h). */
int
jg_api_probes_validate(json_t *b, struct jg_http_reply *reply)
{
	static const char *const fields[] = {"function",      "capture_args", "capture_return",
					     "sampling_rate", "duration",     "conditions"};
	const char *key;
	json_t *v;

	json_object_foreach(b, key, v)
	{
		int known = 0;
		for (size_t i = 0; i < 6; i++)
			known |= strcmp(key, fields[i]) == 0;
		if (!known)
			return bad(reply, key, "unknown field");
	}
	v = json_object_get(b, "function");
	if (!json_is_string(v) || !valid_function(json_string_value(v)))
		return bad(
		    reply, "function",
		    "'function' is required: a name such as PaymentProcessor.selectProvider");
	v = json_object_get(b, "capture_args");
	if (v && !json_is_boolean(v))
		return bad(reply, "capture_args", "'capture_args' must be true or false");
	v = json_object_get(b, "capture_return");
	if (v && !json_is_boolean(v))
		return bad(reply, "capture_return", "'capture_return' must be true or false");
	v = json_object_get(b, "sampling_rate");
	double rate = v ? json_number_value(v) : 1.0;
	if ((v && !json_is_number(v)) || !(rate > 0.0 && rate <= 1.0) || isnan(rate))
		return bad(reply, "sampling_rate", "'sampling_rate' must be a number in (0, 1]");
	v = json_object_get(b, "duration");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > MAX_PROBE_SECONDS)
		return bad(reply, "duration", "'duration' is required: seconds, 1 to 86400");
	v = json_object_get(b, "conditions");
	if (v && (!json_is_array(v) || json_array_size(v) > MAX_CONDITIONS))
		return bad(reply, "conditions",
			   "'conditions' must be a list of at most 16 conditions");
	size_t i;
	json_t *c;
	json_array_foreach(v, i, c)
	{
		const char *field = json_string_value(json_object_get(c, "field"));
		const char *op = json_string_value(json_object_get(c, "op"));
		json_t *val = json_object_get(c, "value");
		if (!json_is_object(c) || json_object_size(c) != 3 || field == NULL ||
		    *field == '\0' || strlen(field) > 100 || op == NULL || !known_op(op) ||
		    val == NULL ||
		    (!json_is_string(val) && !json_is_number(val) && !json_is_boolean(val)) ||
		    ((strcmp(op, "gt") == 0 || strcmp(op, "lt") == 0) && !json_is_number(val)) ||
		    (json_is_string(val) && json_string_length(val) > 200))
			return bad(
			    reply, "conditions",
			    "each condition is {field, op: eq|gt|lt|contains, value} (gt/lt need "
			    "a number)");
	}
	return 0;
}

static void
handle_create(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc");
	struct jg_guarded g;
	json_t *body = NULL;

	if (jg_http_body_json(req, reply, &body) != 0)
		return;
	if (jg_api_probes_validate(body, reply) != 0) {
		json_decref(body);
		return;
	}
	char *const *fields = app->cfg->redaction_sensitive_fields;
	json_t *conds_in = json_object_get(body, "conditions");
	const json_t *touchy = jg_pii_conditions_sensitive(conds_in, fields);
	char why[400];
	if (touchy != NULL)
		snprintf(
		    why, sizeof(why),
		    "the condition on '%.100s' compares personal data (a sensitive field, or a "
		    "value redaction would hide): deploying it needs the read-pii capability",
		    json_string_value(json_object_get(touchy, "field")));
	/* the entry's copy: condition values on personal data as keyed markers */
	json_t *params = json_deep_copy(body);
	if (params != NULL && json_object_get(params, "conditions") != NULL &&
	    jg_pii_conditions(app->pii_keys, json_object_get(params, "conditions"), fields) != 0) {
		json_decref(params);
		json_decref(body);
		jg_http_reply_error(reply, 503, "unavailable",
				    "the deployment cannot be recorded; nothing was done");
		return;
	}
	/* the probe's id is made by the guard and recorded in probe.deploy (receipts) */
	if (jg_guard_creating(&app->guard, req, reply, svc, "deploy-probe", "probe.deploy", params,
			      touchy ? why : NULL, "probe", JG_PROBE_ID_PREFIX, &g) != 0) {
		json_decref(body);
		return;
	}
	int64_t now = jg_clock_now(), until;
	char id[JG_PROBE_ID_MAX];
	struct jg_probe_new p = {.service = svc,
				 .grant = g.claims.grant,
				 .actor = g.actor,
				 .spec = body,
				 .grant_expires = g.grant_expires,
				 .id = g.created};
	if (jg_probe_create(app->store, &p, now, id, &until) != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the probe could not be stored");
	} else {
		json_t *out = json_deep_copy(body);
		json_object_set_new(out, "id", json_string(id));
		json_object_set_new(out, "grant", json_string(g.claims.grant));
		json_object_set_new(out, "expires_at", json_integer(until));
		json_object_set_new(out, "duration", json_integer(until - now));
		jg_http_reply_json(reply, 201, out);
	}
	json_decref(body);
}

static void
handle_list(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc");
	struct jg_guarded g;
	json_t *list = NULL;

	if (jg_guard(&app->guard, req, reply, svc, "deploy-probe", "probe.list", NULL, &g) != 0)
		return;
	bool redact = !g.has_pii;
	int rc = jg_probe_list_live(app->store, svc, jg_clock_now(), redact,
				    app->cfg->redaction_sensitive_fields, &list);
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "%s",
				    rc == JG_EUNAVAIL ? "the store is unavailable"
						      : "the probes cannot be listed now");
		return;
	}
	jg_http_reply_json(
	    reply, 200,
	    json_pack("{s:s,s:b,s:o}", "service", svc, "redacted", redact, "probes", list));
}

static void
handle_delete(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc"), *id = jg_http_param(req, "id");
	struct jg_guarded g;

	/*
	 * Anything but a probe id names no probe; and an id that is not UTF-8
	 * cannot go into the audit entry, which would then record a deletion
	 * without saying of what.
	 */
	if (!jg_probe_id_valid(id)) {
		jg_http_reply_error(reply, 404, "not_found",
				    "no such live probe of this grant on this service");
		return;
	}
	json_t *params = json_pack("{s:s}", "probe", id);
	if (jg_guard_params(&app->guard, req, reply, svc, "deploy-probe", "probe.delete", params,
			    &g) != 0)
		return;
	int rc = jg_probe_delete(app->store, svc, g.claims.grant, id, jg_clock_now());
	if (rc == JG_ENOTFOUND)
		jg_http_reply_error(reply, 404, "not_found",
				    "no such live probe of this grant on this service");
	else if (rc != 0)
		jg_http_reply_error(reply, 503, "unavailable", "the store is unavailable");
	else
		jg_http_reply_json(reply, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
}

static const struct jg_route routes[] = {
    {"POST", "/v1/services/{svc}/probes", handle_create, NULL,
     JG_ROUTE_JSON_BODY | JG_ROUTE_INLINE | JG_ROUTE_STORE},
    {"GET", "/v1/services/{svc}/probes", handle_list, NULL, JG_ROUTE_INLINE | JG_ROUTE_STORE},
    {"DELETE", "/v1/services/{svc}/probes/{id}", handle_delete, NULL,
     JG_ROUTE_INLINE | JG_ROUTE_STORE},
};
const struct jg_route_table jg_api_probes_routes = {routes, sizeof(routes) / sizeof(routes[0])};
