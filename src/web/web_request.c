/*
 * request.c (web) - the request form.
 *
 *   GET  /request     the form: service (from the catalogue), capabilities,
 *                     duration, justification, incident id, break-glass
 *   POST /request     action=preview: what the policy would decide
 *                     (jg_access_dry_run(), as POST /v1/requests?dry_run=true);
 *                     action=submit: the request (jg_api_request_create(),
 *                     as POST /v1/requests: the same limits, 429 past
 *                     them), then to My access
 *
 * The form's fields become the same JSON body the API takes, so the checks,
 * the messages and the audit entries are the API's.  An incident id typed
 * in its own field is put in front of the justification (the policy finds
 * incident ids there) unless the justification already holds it.  With
 * JavaScript, /static/jitgate.js asks the JSON dry run as the form changes.
 *
 * The form opens prefilled from its URL: ?service=, ?capabilities= (comma
 * separated, or repeated) and ?duration= - the link a debugging page gives
 * to someone without the capability it needs (docs/web.md).  A value it
 * does not know (a capability not offered, an over-long text) is left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/web.h"
#include "web_int.h"

static const char *const caps[] = {"read-logs", "read-traces", "read-metrics", "deploy-probe",
				   "read-pii"};
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

struct form {
	char service[JG_SERVICE_NAME_MAX + 2];
	int cap[NCAPS];
	char duration[32];
	char justification[JG_POLICY_MAX_JUSTIFICATION + 2];
	char incident[JG_POLICY_INCIDENT_MAX + 2];
	char starts_at[40]; /* as the browser's datetime-local gives it (UTC), or RFC 3339 */
	int break_glass;
	/* a message next to one field, or above the form */
	const char *err_field;
	char err[600];
};

/* A field of the form into out; one that is too long or not UTF-8 is said next to field shown. */
static int
field(struct jg_http_request *req, const char *name, const char *shown, char *out, size_t len,
      struct form *f)
{
	int rc = jg_http_form_field(req, name, out, len);
	if ((rc == JG_ETOOBIG || rc == JG_EINVAL) && f->err_field == NULL) {
		f->err_field = shown;
		snprintf(f->err, sizeof(f->err), "%s",
			 rc == JG_ETOOBIG ? "this is too long" : "this must be UTF-8 text");
	}
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

static void
read_form(struct jg_http_request *req, struct form *f)
{
	char v[8], name[32];
	memset(f, 0, sizeof(*f));
	field(req, "service", "service", f->service, sizeof(f->service), f);
	for (size_t i = 0; i < NCAPS; i++) {
		snprintf(name, sizeof(name), "cap.%s", caps[i]);
		f->cap[i] = field(req, name, "capabilities", v, sizeof(v), f) == 0;
	}
	field(req, "duration", "duration", f->duration, sizeof(f->duration), f);
	field(req, "justification", "justification", f->justification, sizeof(f->justification), f);
	field(req, "incident", "incident", f->incident, sizeof(f->incident), f);
	field(req, "starts_at", "starts_at", f->starts_at, sizeof(f->starts_at), f);
	f->break_glass = field(req, "break_glass", "break_glass", v, sizeof(v), f) == 0;
}

/* The API's JSON body for the form. */
static json_t *
body_of(const struct form *f)
{
	json_t *b = json_object(), *c = json_array();
	char *just = NULL;
	for (size_t i = 0; i < NCAPS; i++)
		if (f->cap[i])
			json_array_append_new(c, json_string(caps[i]));
	if (f->incident[0] && strstr(f->justification, f->incident) == NULL) {
		if (asprintf(&just, "%s: %s", f->incident, f->justification) < 0)
			just = NULL;
	}
	json_object_set_new(b, "service", json_string(f->service));
	json_object_set_new(b, "capabilities", c);
	json_object_set_new(b, "duration", json_string(f->duration));
	/* a string that is not UTF-8 is refused by jansson: the API would say 'justification' */
	json_t *j = json_string(just ? just : f->justification);
	if (j)
		json_object_set_new(b, "justification", j);
	if (f->break_glass)
		json_object_set_new(b, "break_glass", json_true());
	if (f->starts_at[0]) {
		/* a datetime-local value (2026-12-07T22:00) has no zone: the form says UTC */
		char at[48];
		size_t n = strlen(f->starts_at);
		snprintf(at, sizeof(at), "%s%s", f->starts_at,
			 n == 16   ? ":00Z"
			 : n == 19 ? "Z"
				   : "");
		json_t *sj = json_string(at);
		if (sj)
			json_object_set_new(b, "starts_at", sj);
	}
	free(just);
	return b;
}

/* Which field a message of the API (or the policy) is about. */
static const char *
field_of(const char *why)
{
	static const struct {
		const char *needle, *field;
	} map[] = {
	    /* first: break-glass reasons also name the service */
	    {"break-glass", "break_glass"}, {"'service'", "service"},
	    {"unknown service", "service"}, {"on service", "service"},
	    {"capabilit", "capabilities"},  {"'duration'", "duration"},
	    {"duration ", "duration"},	    {"justification", "justification"},
	    {"starts_at", "starts_at"},	    {"schedule", "starts_at"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(why, map[i].needle) != NULL)
			return map[i].field;
	return NULL;
}

static void
error_for(struct jg_html *h, const struct form *f, const char *name)
{
	if (f->err_field == NULL || strcmp(f->err_field, name) != 0)
		return;
	JG_HTML(h, "<p class=\"field-error\" role=\"alert\" id=\"err-");
	jg_html_text(h, name);
	JG_HTML(h, "\">");
	jg_html_text(h, f->err);
	JG_HTML(h, "</p>");
}

static void
service_field(struct jg_web *w, const struct form *f)
{
	struct jg_html *h = &w->h;
	json_t *services = NULL;
	size_t i;
	json_t *s;

	JG_HTML(h, "<label for=\"service\">Service</label>");
	if (jg_catalog_service_list(w->call.ctx.store, &services) == 0 &&
	    json_array_size(services) > 0) {
		JG_HTML(h, "<select id=\"service\" name=\"service\" required>"
			   "<option value=\"\">choose a service</option>");
		json_array_foreach(services, i, s)
		{
			const char *name = json_string_value(json_object_get(s, "name"));
			JG_HTML(h, "<option value=\"");
			jg_html_text(h, name);
			JG_HTML(h, "\"");
			if (strcmp(name, f->service) == 0)
				JG_HTML(h, " selected");
			JG_HTML(h, ">");
			jg_html_text(h, name);
			JG_HTML(h, " (owners: ");
			jg_web_join(h, json_object_get(s, "owners"));
			JG_HTML(h, ")</option>");
		}
		JG_HTML(h, "</select>");
	} else {
		/* an empty catalogue: the policies still know their services */
		JG_HTML(h, "<input id=\"service\" name=\"service\" required maxlength=\"63\" "
			   "pattern=\"[a-z0-9][a-z0-9.\\-]*\" value=\"");
		jg_html_text(h, f->service);
		JG_HTML(h, "\">");
	}
	json_decref(services);
	error_for(h, f, "service");
}

static void
render(struct jg_web *w, const struct form *f, json_t *decision, int status)
{
	struct jg_html *h = &w->h;
	int bg = jg_policy_can_break_glass(w->call.ctx.policies, w->call.caller.sub,
					   w->call.caller.groups, w->call.caller.ngroups);

	jg_web_page_start(w, "Request access", "request");
	if (f->err_field == NULL && f->err[0]) {
		JG_HTML(h, "<p class=\"notice error\" role=\"alert\">");
		jg_html_text(h, f->err);
		JG_HTML(h, "</p>");
	}
	JG_HTML(h,
		"<form method=\"post\" action=\"/request\" id=\"request-form\" class=\"stack\">");
	jg_web_csrf_field(w);
	service_field(w, f);
	JG_HTML(h, "<fieldset id=\"capabilities\"><legend>Capabilities</legend>");
	for (size_t i = 0; i < NCAPS; i++) {
		JG_HTML(h, "<label class=\"check\"><input type=\"checkbox\" name=\"cap.");
		jg_html_text(h, caps[i]);
		JG_HTML(h, "\" value=\"1\"");
		if (f->cap[i])
			JG_HTML(h, " checked");
		JG_HTML(h, "> ");
		jg_html_text(h, caps[i]);
		JG_HTML(h, "</label>");
	}
	error_for(h, f, "capabilities");
	JG_HTML(h, "</fieldset><label for=\"duration\">Duration</label>"
		   "<input id=\"duration\" name=\"duration\" required maxlength=\"30\" "
		   "placeholder=\"30m\" value=\"");
	jg_html_text(h, f->duration[0] ? f->duration : "30m");
	JG_HTML(h, "\"><p class=\"hint\">For example 15m, 1h, 1h30m.</p>");
	error_for(h, f, "duration");
	JG_HTML(h, "<label for=\"starts_at\">Start <span class=\"hint\">(optional, UTC)</span>"
		   "</label><input id=\"starts_at\" name=\"starts_at\" type=\"datetime-local\" "
		   "maxlength=\"35\" value=\"");
	jg_html_text(h, f->starts_at);
	JG_HTML(h, "\"><p class=\"hint\">Empty: as soon as it is approved. A later start (a "
		   "maintenance window) can be approved ahead; the duration counts from the "
		   "start.</p>");
	error_for(h, f, "starts_at");
	JG_HTML(
	    h, "<label for=\"incident\">Incident id <span class=\"hint\">(optional)</span></label>"
	       "<input id=\"incident\" name=\"incident\" maxlength=\"64\" placeholder=\"INC-4711\" "
	       "value=\"");
	jg_html_text(h, f->incident);
	JG_HTML(h, "\">");
	error_for(h, f, "incident");
	JG_HTML(h, "<label for=\"justification\">Justification</label>"
		   "<textarea id=\"justification\" name=\"justification\" rows=\"3\" required "
		   "maxlength=\"4096\">");
	jg_html_text(h, f->justification);
	JG_HTML(h, "</textarea>");
	error_for(h, f, "justification");
	if (bg) {
		JG_HTML(h, "<label class=\"check\"><input type=\"checkbox\" name=\"break_glass\" "
			   "value=\"1\"");
		if (f->break_glass)
			JG_HTML(h, " checked");
		JG_HTML(
		    h, "> Break the glass: granted at once, flagged, and reviewed by the approvers "
		       "afterwards</label>");
		error_for(h, f, "break_glass");
	}
	JG_HTML(h, "<section id=\"preview\" class=\"preview\" aria-live=\"polite\">"
		   "<h2>What the policy will decide</h2><p id=\"decision\">");
	if (decision)
		jg_web_decision_text(h, decision);
	else
		JG_HTML(h, "Fill in the form and press Preview.");
	JG_HTML(h, "</p></section><div class=\"actions\">"
		   "<button type=\"submit\" name=\"action\" value=\"preview\" class=\"secondary\">"
		   "Preview</button>"
		   "<button type=\"submit\" name=\"action\" value=\"submit\" class=\"primary\">"
		   "Request access</button></div></form>");
	jg_web_page_finish(w, status);
}

/* One ?capabilities= value: each comma-separated name the form offers is ticked. */
static void
prefill_caps(struct form *f, const char *value)
{
	const char *p = value;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		for (size_t i = 0; i < NCAPS; i++)
			if (strlen(caps[i]) == n && strncmp(caps[i], p, n) == 0)
				f->cap[i] = 1;
		p = comma ? comma + 1 : NULL;
	}
}

/* The form as its URL asks it prefilled (service, capabilities, duration). */
static void
prefill(struct jg_http_request *req, struct form *f)
{
	const char *service = jg_http_query(req, "service"),
		   *duration = jg_http_query(req, "duration");

	/* only what a service name and a duration are made of: nothing else is echoed */
	if (service != NULL && strlen(service) < sizeof(f->service) &&
	    strspn(service, "abcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(service))
		snprintf(f->service, sizeof(f->service), "%s", service);
	if (duration != NULL && strlen(duration) < sizeof(f->duration) &&
	    strspn(duration, "0123456789dhms") == strlen(duration))
		snprintf(f->duration, sizeof(f->duration), "%s", duration);
	/* ?capabilities=a,b or repeated; more than a few is no form anyone linked to */
	const char *vals[8];
	size_t lens[8], n = 0;
	if (jg_http_query_all(req, "capabilities", vals, lens, 8, &n) == 0)
		for (size_t i = 0; i < n; i++)
			prefill_caps(f, vals[i]);
}

static void
handle_form(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct form f;

	memset(&f, 0, sizeof(f));
	if (jg_web_begin(&w, req, reply) == 0) {
		prefill(req, &f);
		render(&w, &f, NULL, 200);
	}
	jg_web_end(&w);
}

static void
handle_post(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct form f;
	json_t *body = NULL, *out = NULL;
	char why[512] = "", action[16] = "";
	const char *code;
	int rc;

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	read_form(req, &f);
	if (jg_http_form_field(req, "action", action, sizeof(action)) != 0 ||
	    (strcmp(action, "preview") != 0 && strcmp(action, "submit") != 0)) {
		snprintf(f.err, sizeof(f.err), "press Preview or Request access");
		render(&w, &f, NULL, 400);
		goto out;
	}
	if (f.err_field != NULL) {
		render(&w, &f, NULL, 400);
		goto out;
	}
	body = body_of(&f);
	if (strcmp(action, "preview") == 0) {
		rc = jg_access_dry_run(&w.call.ctx, &w.call.caller, body, &out, why, sizeof(why));
		if (rc == 0) {
			/* a denial is also said next to the field it is about */
			const char *reason = json_string_value(json_object_get(out, "reason"));
			if (reason && (f.err_field = field_of(reason)) != NULL)
				snprintf(f.err, sizeof(f.err), "%s", reason);
			render(&w, &f, out, 200);
			goto out;
		}
	} else {
		/* the API's path, limits included: POST /v1/requests and this form share buckets */
		struct jg_throttle_refusal limit = {0};
		rc = jg_api_request_create(&w.call, req, body, &out, &limit, why, sizeof(why));
		if (rc == 0) {
			jg_web_redirect(reply, "/?ok=created");
			goto out;
		}
		if (rc == JG_ELIMITED) { /* the form as it was, the limit above it */
			char secs[16];
			snprintf(f.err, sizeof(f.err), "%s", why);
			render(&w, &f, NULL, 429);
			snprintf(secs, sizeof(secs), "%d", limit.retry_after);
			jg_http_reply_header(reply, "Retry-After", secs);
			goto out;
		}
		if (rc == JG_EDENIED) { /* denied by policy: the decision says why */
			f.err_field = field_of(why);
			snprintf(f.err, sizeof(f.err), "%s", why);
			render(&w, &f, json_object_get(out, "decision"), 403);
			goto out;
		}
	}
	f.err_field = rc == JG_EINVAL ? field_of(why) : NULL;
	snprintf(f.err, sizeof(f.err), "%s", why);
	render(&w, &f, NULL, jg_http_status_of(rc, &code));
out:
	json_decref(body);
	json_decref(out);
	jg_web_end(&w);
}

static const struct jg_route routes[] = {
    {"GET", "/request", handle_form, NULL, 0},
    {"POST", "/request", handle_post, NULL, JG_ROUTE_FORM_BODY},
};
const struct jg_route_table jg_web_request_routes = {routes, sizeof(routes) / sizeof(routes[0])};
