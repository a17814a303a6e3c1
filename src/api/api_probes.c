/*
 * api_probes.c - dynamic probes behind the guard (capability deploy-probe).
 *
 *   POST   /v1/services/{svc}/probes        deploy {function, capture_args, capture_return,
 *                                            sampling_rate, duration, conditions, limits,
 *                                            args}
 *   GET    /v1/services/{svc}/probes        the live probes of the service
 *   DELETE /v1/services/{svc}/probes/{id}   remove one
 *
 * Every call passes the guard first, which records it in the audit log
 * before anything happens; each is a function of api_probes.h that the
 * probes page of the browser (web_probes.c) calls too, with the token kept
 * for its session, the handlers here only rendering its result or error
 * (the events read of api_agents.c as well); the probes themselves are probes.c's (a probe's
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
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/api_probes.h"
#include "jitgate/app.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/pii.h"
#include "jitgate/probe_metric.h"
#include "jitgate/probe_status.h"
#include "jitgate/probe_template.h"
#include "jitgate/probes.h"
#include "api_routes_int.h"
#include "api_telemetry_int.h"

#define MAX_CONDITIONS	   16
#define MAX_ARGS	   6 /* the SysV integer argument registers */
#define MAX_ARG_NAME	   64
#define MAX_PROBE_SECONDS  86400
#define MAX_READ_LIMIT	   1000
#define DEFAULT_READ_LIMIT 100

static int
bad(struct jg_api_error *e, const char *field, const char *msg)
{
	jg_api_error_set(e, 400, "bad_request", "%s", msg);
	e->field = field;
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

/*
 * A probe's kind (docs/agents.md, "Probe kinds"): a snapshot (the default)
 * captures args and return value; a log probe sends one message rendered
 * from its template and nothing else; a metric probe sends points of a
 * count or histogram the agent aggregates, no value of a call.  Neither of
 * the last two captures.
 */
static int
check_kind(json_t *b, struct jg_api_error *e)
{
	json_t *v = json_object_get(b, "kind");
	const char *kind = v ? json_string_value(v) : "snapshot";
	json_t *tmpl = json_object_get(b, "template");
	json_t *metric = json_object_get(b, "metric");
	struct jg_probe_template t;
	struct jg_probe_metric m;
	char why[300];

	if (kind == NULL || (strcmp(kind, "snapshot") != 0 && strcmp(kind, "log") != 0 &&
			     strcmp(kind, "metric") != 0))
		return bad(e, "kind", "'kind' must be snapshot, log or metric");
	/* jitgate-probe sends what its declared registers hold; it renders and aggregates nothing
	 */
	if (strcmp(kind, "snapshot") != 0 && json_object_get(b, "args") != NULL)
		return bad(e, "args",
			   "a native probe (with 'args') is a snapshot: log and metric probes are "
			   "for the reference agent only");
	if (strcmp(kind, "log") != 0 && tmpl != NULL)
		return bad(e, "template", "'template' is for a probe of kind log");
	if (strcmp(kind, "metric") != 0 && metric != NULL)
		return bad(e, "metric", "'metric' is for a probe of kind metric");
	if (strcmp(kind, "snapshot") == 0)
		return 0;
	if (strcmp(kind, "log") == 0) {
		if (!json_is_string(tmpl))
			return bad(e, "template",
				   "a log probe needs a 'template' such as 'charge {amount} for "
				   "{customer.id}'");
		if (jg_probe_template_parse(json_string_value(tmpl), &t, why, sizeof(why)) != 0) {
			jg_api_error_set(e, 400, "bad_request", "%s", why);
			e->field = "template";
			return JG_EINVAL;
		}
	} else if (jg_probe_metric_parse(metric, &m, why, sizeof(why)) != 0) {
		jg_api_error_set(e, 400, "bad_request", "%s", why);
		e->field = "metric";
		return JG_EINVAL;
	}
	if (json_is_true(json_object_get(b, "capture_args")) ||
	    json_is_true(json_object_get(b, "capture_return"))) {
		snprintf(why, sizeof(why),
			 "a %s probe sends %s only: capture_args and capture_return are for "
			 "snapshot probes",
			 kind, strcmp(kind, "log") == 0 ? "its rendered message" : "its points");
		jg_api_error_set(e, 400, "bad_request", "%s", why);
		e->field = json_is_true(json_object_get(b, "capture_args")) ? "capture_args"
									    : "capture_return";
		return JG_EINVAL;
	}
	return 0;
}

/*
 * What a log or metric probe (checked) sends about personal data (pii.h):
 * the first placeholder of its template on a sensitive field, or the field
 * its histogram measures when that is one; NULL when neither.
 */
static const char *
output_sensitive(json_t *b, char *const *fields, struct jg_probe_template *t,
		 struct jg_probe_metric *m)
{
	const char *tmpl = json_string_value(json_object_get(b, "template"));
	char why[300];

	if (tmpl != NULL && jg_probe_template_parse(tmpl, t, why, sizeof(why)) == 0) {
		for (size_t i = 0; i < t->nfields; i++)
			if (jg_pii_field_sensitive(t->fields[i], fields))
				return t->fields[i];
	}
	json_t *metric = json_object_get(b, "metric");
	if (metric != NULL && jg_probe_metric_parse(metric, m, why, sizeof(why)) == 0 &&
	    m->histogram && jg_pii_field_sensitive(m->field, fields))
		return m->field;
	return NULL;
}

/* An argument's name: a letter or '_', then letters, digits or '_', at most 64 bytes. */
static bool
valid_arg_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > MAX_ARG_NAME || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '_')
			return false;
	return true;
}

/*
 * args (a native probe's declared arguments, docs/agents.md "jitgate-probe"):
 * 1-6 objects {index 0-5, name, type i64|u64|ptr|str}, indexes and names
 * unique.
 */
static int
check_args(const json_t *args, struct jg_api_error *e)
{
	static const char msg[] =
	    "'args' must be a list of 1 to 6 {index: 0-5, name: a field name, type: "
	    "i64|u64|ptr|str}, each index and name once";
	bool seen[MAX_ARGS] = {false};
	size_t i;
	json_t *a;

	if (!json_is_array(args) || json_array_size(args) < 1 || json_array_size(args) > MAX_ARGS)
		return bad(e, "args", msg);
	json_array_foreach(args, i, a)
	{
		json_t *ix = json_object_get(a, "index");
		const char *name = json_string_value(json_object_get(a, "name"));
		const char *type = json_string_value(json_object_get(a, "type"));
		if (!json_is_object(a) || json_object_size(a) != 3 || !json_is_integer(ix) ||
		    json_integer_value(ix) < 0 || json_integer_value(ix) >= MAX_ARGS ||
		    seen[json_integer_value(ix)] || name == NULL || !valid_arg_name(name) ||
		    type == NULL ||
		    (strcmp(type, "i64") != 0 && strcmp(type, "u64") != 0 &&
		     strcmp(type, "ptr") != 0 && strcmp(type, "str") != 0))
			return bad(e, "args", msg);
		seen[json_integer_value(ix)] = true;
		for (size_t j = 0; j < i; j++)
			if (strcmp(
				json_string_value(json_object_get(json_array_get(args, j), "name")),
				name) == 0)
				return bad(e, "args", msg);
	}
	return 0;
}

/* Whether args (checked) declares an argument named name. */
static bool
declared(const json_t *args, const char *name)
{
	size_t i;
	json_t *a;

	json_array_foreach(args, i, a) if (strcmp(json_string_value(json_object_get(a, "name")),
						  name) == 0) return true;
	return false;
}

/* Checks a probe body; the first bad field is a 400 naming it (e->field borrowed from b). */
static int
check_spec(json_t *b, struct jg_api_error *e)
{
	static const char *const fields[] = {
	    "function", "capture_args", "capture_return", "sampling_rate", "duration", "conditions",
	    "limits",	"kind",		"template",	  "args",	   "metric"};
	const char *key;
	json_t *v;

	if (!json_is_object(b))
		return bad(e, "function",
			   "'function' is required: a name such as "
			   "PaymentProcessor.selectProvider");
	json_object_foreach(b, key, v)
	{
		int known = 0;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			known |= strcmp(key, fields[i]) == 0;
		if (!known)
			return bad(e, key, "unknown field");
	}
	v = json_object_get(b, "function");
	if (!json_is_string(v) || !valid_function(json_string_value(v)))
		return bad(
		    e, "function",
		    "'function' is required: a name such as PaymentProcessor.selectProvider");
	v = json_object_get(b, "capture_args");
	if (v && !json_is_boolean(v))
		return bad(e, "capture_args", "'capture_args' must be true or false");
	v = json_object_get(b, "capture_return");
	if (v && !json_is_boolean(v))
		return bad(e, "capture_return", "'capture_return' must be true or false");
	v = json_object_get(b, "sampling_rate");
	double rate = v ? json_number_value(v) : 1.0;
	if ((v && !json_is_number(v)) || !(rate > 0.0 && rate <= 1.0) || isnan(rate))
		return bad(e, "sampling_rate", "'sampling_rate' must be a number in (0, 1]");
	v = json_object_get(b, "duration");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > MAX_PROBE_SECONDS)
		return bad(e, "duration", "'duration' is required: seconds, 1 to 86400");
	json_t *args = json_object_get(b, "args");
	if (args != NULL && check_args(args, e) != 0)
		return JG_EINVAL;
	v = json_object_get(b, "conditions");
	if (v && (!json_is_array(v) || json_array_size(v) > MAX_CONDITIONS))
		return bad(e, "conditions", "'conditions' must be a list of at most 16 conditions");
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
			    e, "conditions",
			    "each condition is {field, op: eq|gt|lt|contains, value} (gt/lt need "
			    "a number)");
		/* a native probe reads only what it declared: a condition names one of those */
		if (args != NULL && !declared(args, field)) {
			jg_api_error_set(
			    e, 400, "bad_request",
			    "condition %zu: '%.100s' is not one of the probe's declared "
			    "'args' (a probe with args can only test those)",
			    i, field);
			e->field = "conditions";
			return JG_EINVAL;
		}
	}
	struct jg_probe_limits lim;
	const char *member;
	char why[200];
	if (jg_probe_limits_parse(json_object_get(b, "limits"), &lim, &member, why, sizeof(why)) !=
	    0) {
		jg_api_error_set(e, 400, "bad_request", "%s", why);
		e->field = member;
		return JG_EINVAL;
	}
	return check_kind(b, e);
}

/* Validates a probe body; each bad field gets a 400 naming it (app.h). */
int
jg_api_probes_validate(json_t *b, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	int rc = check_spec(b, &e);
	if (rc != 0)
		jg_api_error_reply(reply, &e);
	return rc;
}

/* The reply's message for a deploy refused for the budget (usage: the grant's, borrowed). */
static void
budget_refusal(struct jg_api_error *e, const json_t *usage)
{
	bool events = json_is_true(json_object_get(usage, "events_exhausted"));
	jg_api_error_set(e, 409, "budget_exhausted", "%s",
			 events ? "the grant's probe budget is spent: its events budget "
				  "(max_hits or max_bytes) is used up"
				: "the grant's probe budget is spent: it has deployed "
				  "max_probes probes (deleted ones count)");
}

/* A deploy or its preview (deploy_or_preview). */
static int deploy_or_preview(struct jg_http_request *req, const char *svc,
			     const char *authorization, json_t *body, bool preview, json_t **result,
			     struct jg_api_error *e);

int
jg_api_probe_deploy(struct jg_http_request *req, const char *svc, const char *authorization,
		    json_t *body, json_t **result, struct jg_api_error *e)
{
	return deploy_or_preview(req, svc, authorization, body, false, result, e);
}

int
jg_api_probe_preview(struct jg_http_request *req, const char *svc, const char *authorization,
		     json_t *body, json_t **result, struct jg_api_error *e)
{
	return deploy_or_preview(req, svc, authorization, body, true, result, e);
}

/*
 * Checks body, passes the guard (recording probe.deploy with the probe's
 * id, or probe.deploy_preview), then stores the probe or, for a preview,
 * only says what would be stored.
 */
static int
deploy_or_preview(struct jg_http_request *req, const char *svc, const char *authorization,
		  json_t *body, bool preview, json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	int rc;

	*result = NULL;
	if ((rc = check_spec(body, e)) != 0)
		return rc;
	char *const *fields = app->cfg->redaction_sensitive_fields;
	json_t *conds_in = json_object_get(body, "conditions");
	const json_t *touchy = jg_pii_conditions_sensitive(conds_in, fields);
	struct jg_probe_template t;
	struct jg_probe_metric m;
	const char *logged = output_sensitive(body, fields, &t, &m);
	char why[400];
	if (touchy != NULL)
		snprintf(
		    why, sizeof(why),
		    "the condition on '%.100s' compares personal data (a sensitive field, or a "
		    "value redaction would hide): deploying it needs the read-pii capability",
		    json_string_value(json_object_get(touchy, "field")));
	else if (logged != NULL)
		snprintf(why, sizeof(why),
			 json_object_get(body, "metric") != NULL
			     ? "the histogram of '%.100s' measures personal data (a sensitive "
			       "field): deploying it needs the read-pii capability"
			     : "the template's placeholder {%.100s} logs personal data (a "
			       "sensitive field): deploying it needs the read-pii capability",
			 logged);
	/* the entry's copy: condition values on personal data as keyed markers */
	json_t *params = json_deep_copy(body);
	if (params == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	if (json_object_get(params, "conditions") != NULL &&
	    jg_pii_conditions(app->pii_keys, json_object_get(params, "conditions"), fields) != 0) {
		json_decref(params);
		jg_api_error_set(e, 503, "unavailable",
				 "the deployment cannot be recorded; nothing was done");
		return JG_EUNAVAIL;
	}
	/* the probe's id is made by the guard and recorded in probe.deploy (receipts); a
	   preview makes none */
	if (preview)
		rc = jg_guard_authorized_pii(&app->guard, req, authorization, svc, "deploy-probe",
					     "probe.deploy_preview", params,
					     touchy || logged ? why : NULL, &g, &no);
	else
		rc = jg_guard_authorized_creating(
		    &app->guard, req, authorization, svc, "deploy-probe", "probe.deploy", params,
		    touchy || logged ? why : NULL, "probe", JG_PROBE_ID_PREFIX, &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}
	int64_t now = jg_clock_now(), until;
	char id[JG_PROBE_ID_MAX];
	struct jg_probe_new p = {.service = svc,
				 .grant = g.claims.grant,
				 .actor = g.actor,
				 .spec = body,
				 .grant_expires = g.grant_expires,
				 .id = g.created};
	json_t *usage = NULL;
	id[0] = '\0';
	if (preview)
		rc = jg_probe_preview(app->store, &p, now, &until, &usage);
	else
		rc = jg_probe_create(app->audit, &p, now, id, &until, &usage);
	if (rc == JG_EDENIED) {
		budget_refusal(e, usage);
		json_decref(usage);
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "%s",
				 preview ? "the grant's budget cannot be read now"
					 : "the probe could not be stored");
		return JG_EUNAVAIL;
	}
	json_t *out = json_deep_copy(body);
	struct jg_probe_limits lim;
	const char *member;
	char lim_why[200];
	/* checked above: the full limits the probe was stored with, defaults included */
	(void)jg_probe_limits_parse(json_object_get(body, "limits"), &lim, &member, lim_why,
				    sizeof(lim_why));
	const char *kind = json_string_value(json_object_get(body, "kind"));
	/* checked above too: a metric probe's spec with its defaults, as stored */
	json_t *metric = json_object_get(body, "metric") != NULL &&
				 jg_probe_metric_parse(json_object_get(body, "metric"), &m, lim_why,
						       sizeof(lim_why)) == 0
			     ? jg_probe_metric_json(&m)
			     : NULL;
	if (out == NULL || json_object_set_new(out, "limits", jg_probe_limits_json(&lim)) != 0 ||
	    (metric != NULL && json_object_set(out, "metric", metric) != 0) ||
	    json_object_set_new(out, "kind", json_string(kind ? kind : "snapshot")) != 0 ||
	    (!preview && json_object_set_new(out, "id", json_string(id)) != 0) ||
	    json_object_set_new(out, "grant", json_string(g.claims.grant)) != 0 ||
	    json_object_set_new(out, "expires_at", json_integer(until)) != 0 ||
	    json_object_set_new(out, "duration", json_integer(until - now)) != 0 ||
	    (!preview && json_object_set_new(out, "budget", json_incref(usage)) != 0)) {
		json_decref(out);
		json_decref(usage);
		json_decref(metric);
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	json_decref(metric);
	*result =
	    preview ? json_pack("{s:b,s:o,s:o}", "dry_run", 1, "probe", out, "budget", usage) : out;
	if (!preview)
		json_decref(usage);
	if (*result == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	return 0;
}

int
jg_api_probes_list(struct jg_http_request *req, const char *svc, const char *authorization,
		   json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	json_t *list = NULL;

	*result = NULL;
	int rc = jg_guard_authorized(&app->guard, req, authorization, svc, "deploy-probe",
				     "probe.list", NULL, &g, &no);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}
	bool redact = !g.has_pii;
	int64_t now = jg_clock_now();
	rc = jg_probe_list_live(app->store, svc, now, redact, app->cfg->redaction_sensitive_fields,
				&list);
	/* where each is installed: an instance that missed three polls no longer counts
	   (docs/agents.md, "Probe status") */
	if (rc == 0 && (rc = jg_probe_status_attach(
			    app->store, svc, now - 3 * app->cfg->probes_agent_poll, redact,
			    app->cfg->redaction_sensitive_fields, list)) != 0) {
		json_decref(list);
		list = NULL;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "%s",
				 rc == JG_EUNAVAIL ? "the store is unavailable"
						   : "the probes cannot be listed now");
		return JG_EUNAVAIL;
	}
	/*
	 * A probe's event count is what its events say in one number, and a
	 * condition makes it an oracle (how often did this customer pay?): only
	 * the grant that deployed a probe, the one that may read its events,
	 * sees it.  The same holds for why agents failed to install it: their
	 * messages are free text written in the service's process and may
	 * quote what the probe asks for.  How many instances installed a probe
	 * says only how many run the service, which every holder of
	 * deploy-probe learns from its own probes: everyone sees it.  How many
	 * events the agents lost is a count of events, the grant's alone.
	 */
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
	{
		const char *grant = json_string_value(json_object_get(p, "grant"));
		if (grant == NULL || strcmp(grant, g.claims.grant) != 0) {
			json_object_del(p, "events");
			json_object_del(json_object_get(p, "status"), "failed");
			/* events lost are events too: how often it matched */
			json_object_del(json_object_get(p, "status"), "dropped");
		}
	}
	/* the caller's grant: its probe budget and what it spent (deleted probes count) */
	json_t *budget = NULL;
	rc = jg_probe_budget_read(app->store, g.claims.grant, &budget);
	if (rc != 0) {
		json_decref(list);
		jg_api_error_set(e, 503, "unavailable", "the store is unavailable");
		return JG_EUNAVAIL;
	}
	*result = json_pack("{s:s,s:b,s:o,s:o}", "service", svc, "redacted", redact, "probes", list,
			    "budget", budget);
	if (*result == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	return 0;
}

int
jg_api_probe_delete(struct jg_http_request *req, const char *svc, const char *id,
		    const char *authorization, json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	struct jg_guarded g;
	struct jg_guard_refusal no;

	*result = NULL;
	/*
	 * Anything but a probe id names no probe; and an id that is not UTF-8
	 * cannot go into the audit entry, which would then record a deletion
	 * without saying of what.
	 */
	if (id == NULL || !jg_probe_id_valid(id)) {
		jg_api_error_set(e, 404, "not_found",
				 "no such live probe of this grant on this service");
		return JG_ENOTFOUND;
	}
	json_t *params = json_pack("{s:s}", "probe", id);
	if (params == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	int rc = jg_guard_authorized(&app->guard, req, authorization, svc, "deploy-probe",
				     "probe.delete", params, &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}
	rc = jg_probe_delete(app->store, svc, g.claims.grant, id, jg_clock_now());
	if (rc == JG_ENOTFOUND) {
		jg_api_error_set(e, 404, "not_found",
				 "no such live probe of this grant on this service");
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "the store is unavailable");
		return JG_EUNAVAIL;
	}
	*result = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
	if (*result == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	return 0;
}

int
jg_api_probe_events_read(struct jg_http_request *req, const char *svc, const char *id,
			 const char *authorization, json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	uint64_t limit, after;
	json_t *events = NULL;
	int64_t last = -1;
	int rc;

	*result = NULL;
	if (id == NULL || !jg_probe_id_valid(id)) {
		jg_api_error_set(e, 404, "not_found",
				 "no such probe of this grant on this service");
		return JG_ENOTFOUND;
	}
	if ((rc = jg_tq_u64_e(req, e, "limit", DEFAULT_READ_LIMIT, MAX_READ_LIMIT, &limit)) != 0 ||
	    (rc = jg_tq_u64_e(req, e, "after", 0, INT64_MAX, &after)) != 0)
		return rc;
	if (limit == 0) {
		jg_api_error_set(e, 400, "bad_request", "'limit' must be 1 to %d", MAX_READ_LIMIT);
		return JG_EINVAL;
	}
	json_t *params = json_pack("{s:s,s:I,s:I}", "probe", id, "limit", (json_int_t)limit,
				   "after", (json_int_t)after);
	if (params == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	rc = jg_guard_authorized(&app->guard, req, authorization, svc, "deploy-probe",
				 "probe.events.read", params, &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}
	struct jg_probe_events_query q = {.service = svc,
					  .grant = g.claims.grant,
					  .probe = id,
					  .after = (int64_t)after,
					  .limit = (size_t)limit,
					  .redact = !g.has_pii,
					  .sensitive_fields = app->cfg->redaction_sensitive_fields};
	rc = jg_probe_events_read(app->store, &q, &events, &last);
	if (rc == JG_ECONFLICT) {
		jg_api_error_set(e, 409, "metric_probe",
				 "a metric probe's points are a metric: read them as probe.%s "
				 "(GET /v1/services/%s/metrics?name=probe.%s, read-metrics)",
				 id, svc, id);
		return rc;
	}
	if (rc == JG_ENOTFOUND) {
		jg_api_error_set(e, 404, "not_found",
				 "no such probe of this grant on this service");
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "%s",
				 rc == JG_EUNAVAIL ? "the store is unavailable"
						   : "the events cannot be read now");
		return JG_EUNAVAIL;
	}
	*result = json_pack("{s:s,s:s,s:b,s:o,s:o}", "service", svc, "probe", id, "redacted",
			    q.redact, "events", events, "next_after",
			    json_array_size(events) == limit ? json_integer(last) : json_null());
	if (*result == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	return 0;
}

static void
handle_create(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *body = NULL, *out = NULL;

	/* the convention of POST /v1/requests?dry_run=true, checked before anything else */
	const char *dry = jg_http_query(req, "dry_run");
	if (dry && strcmp(dry, "true") != 0 && strcmp(dry, "false") != 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'dry_run' must be true or false");
		return;
	}
	bool preview = dry != NULL && strcmp(dry, "true") == 0;
	if (jg_http_body_json(req, reply, &body) != 0)
		return;
	int rc = (preview ? jg_api_probe_preview : jg_api_probe_deploy)(
	    req, jg_http_param(req, "svc"), jg_http_header(req, "Authorization"), body, &out, &e);
	if (rc == 0)
		jg_http_reply_json(reply, preview ? 200 : 201, out);
	else if (rc != JG_EDEFERRED)
		jg_api_error_reply(reply, &e); /* before the body goes: e.field may be its key */
	json_decref(body);
}

static void
handle_list(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *out = NULL;
	int rc = jg_api_probes_list(req, jg_http_param(req, "svc"),
				    jg_http_header(req, "Authorization"), &out, &e);

	if (rc == 0)
		jg_http_reply_json(reply, 200, out);
	else if (rc != JG_EDEFERRED)
		jg_api_error_reply(reply, &e);
}

static void
handle_delete(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *out = NULL;
	int rc = jg_api_probe_delete(req, jg_http_param(req, "svc"), jg_http_param(req, "id"),
				     jg_http_header(req, "Authorization"), &out, &e);

	if (rc == 0)
		jg_http_reply_json(reply, 200, out);
	else if (rc != JG_EDEFERRED)
		jg_api_error_reply(reply, &e);
}

static const struct jg_route routes[] = {
    {"POST", "/v1/services/{svc}/probes", handle_create, NULL,
     JG_ROUTE_JSON_BODY | JG_ROUTE_INLINE | JG_ROUTE_STORE},
    {"GET", "/v1/services/{svc}/probes", handle_list, NULL, JG_ROUTE_INLINE | JG_ROUTE_STORE},
    {"DELETE", "/v1/services/{svc}/probes/{id}", handle_delete, NULL,
     JG_ROUTE_INLINE | JG_ROUTE_STORE},
};
const struct jg_route_table jg_api_probes_routes = {routes, sizeof(routes) / sizeof(routes[0])};
