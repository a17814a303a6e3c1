/*
 * probes.c (web) - the probes page (deploy-probe; docs/web.md, "Probes"):
 *
 *   GET  /debug/{svc}/probes               the live probes of the service, each
 *                                          with its events link and a Remove
 *                                          button, and the deploy form
 *   POST /debug/{svc}/probes               deploy (the form), then its events
 *   GET  /debug/{svc}/probes/{id}          the events a probe captured
 *   POST /debug/{svc}/probes/{id}/remove   remove one
 *
 * Each action is the API's own call (api_probes.h) with the token kept for
 * the session (web_debug.c): the same checks, the same audit entries
 * (probe.list, probe.deploy, probe.delete, probe.events.read), the same
 * redaction.  The GET pages act on GET, so they need Sec-Fetch-Site
 * same-origin or none; the POSTs need the session's CSRF token besides
 * (jg_web_begin), and a form of jitgate's own page is same-origin.  The
 * grant travels in the query (?grant=) of every link and form action.  The
 * deploy form's fields become the API's body: the function, up to
 * MAX_FORM_CONDITIONS conditions, the sampling rate, the capture options
 * or a log message template (which makes a log probe, capturing nothing
 * else) and the duration, which jitgate clips to the grant's end (the form
 * says when that is).  A log probe's events show their message.  The
 * events page is refreshed by jitgate.js at most every 5 s where
 * JavaScript is on (each refresh one more audited read, the page fetched
 * same-origin); a Refresh link does it by hand.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/api_probes.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/probe_template.h"
#include "jitgate/web.h"
#include "web_int.h"

#define MAX_FORM_CONDITIONS 3
#define FORM_FIELD_MAX	    256

static const char *const ops[] = {"eq", "gt", "lt", "contains"};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* The durations offered, in seconds (the API's "duration"; clipped to the grant's end). */
static const struct {
	int secs;
	const char *label;
} durations[] = {
    {300, "5 minutes"}, {900, "15 minutes"}, {1800, "30 minutes"},
    {3600, "1 hour"},	{14400, "4 hours"},  {86400, "24 hours"},
};
#define NDURATIONS (sizeof(durations) / sizeof(durations[0]))

/* A JSON value as text: a string as it is, anything else as compact JSON. */
static void
value_text(struct jg_html *h, json_t *v)
{
	if (json_is_string(v)) {
		jg_html_text(h, json_string_value(v));
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	jg_html_text(h, s ? s : "");
	free(s);
}

/* "/debug/{svc}/probes/{id}?grant=G", escaped for an attribute. */
static void
probe_href(struct jg_html *h, const struct jg_web_debug *d, const char *id, const char *tail)
{
	JG_HTML(h, "/debug/");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "/probes/");
	jg_html_url_part(h, id);
	if (tail != NULL)
		jg_html_text(h, tail);
	JG_HTML(h, "?grant=");
	jg_html_url_part(h, d->grant);
}

static void
conditions_text(struct jg_html *h, json_t *conds)
{
	size_t i;
	json_t *c;

	if (json_array_size(conds) == 0) {
		JG_HTML(h, "<span class=\"hint\">every call</span>");
		return;
	}
	JG_HTML(h, "<ul class=\"probe-conds\">");
	json_array_foreach(conds, i, c)
	{
		JG_HTML(h, "<li><code>");
		jg_html_text(h, json_string_value(json_object_get(c, "field")));
		JG_HTML(h, " ");
		jg_html_text(h, json_string_value(json_object_get(c, "op")));
		JG_HTML(h, " ");
		value_text(h, json_object_get(c, "value"));
		JG_HTML(h, "</code></li>");
	}
	JG_HTML(h, "</ul>");
}

/*
 * Where a probe is installed (the list's "status"): how many agent
 * instances, then, for this grant's own probes, each instance that could
 * not install it with its code and message.  The messages are written by
 * the agents (free text, at most 256 bytes): escaped like everything else.
 */
static void
install_status(struct jg_html *h, json_t *status)
{
	json_t *failed = json_object_get(status, "failed"), *f;
	json_int_t n = json_integer_value(json_object_get(status, "installed"));
	size_t i;

	JG_HTML(h, "<span data-installed-count=\"");
	jg_html_textf(h, "%" JSON_INTEGER_FORMAT, n);
	JG_HTML(h, "\">");
	jg_html_textf(h, "%" JSON_INTEGER_FORMAT " %s", n, n == 1 ? "instance" : "instances");
	JG_HTML(h, "</span>");
	/* events the agents lost before posting them (a full buffer; the kernel's ring buffer) */
	json_int_t lost = json_integer_value(json_object_get(status, "dropped"));
	if (lost > 0) {
		JG_HTML(h, " <span class=\"hint\" data-dropped=\"");
		jg_html_textf(h, "%" JSON_INTEGER_FORMAT, lost);
		JG_HTML(h, "\">");
		jg_html_textf(h, "%" JSON_INTEGER_FORMAT " %s lost by the agents", lost,
			      lost == 1 ? "event" : "events");
		JG_HTML(h, "</span>");
	}
	if (json_array_size(failed) == 0)
		return;
	JG_HTML(h, "<ul class=\"install-failed\">");
	json_array_foreach(failed, i, f)
	{
		JG_HTML(h, "<li data-failed-instance=\"");
		jg_html_text(h, json_string_value(json_object_get(f, "instance")));
		JG_HTML(h, "\">failed on <code>");
		jg_html_text(h, json_string_value(json_object_get(f, "instance")));
		JG_HTML(h, "</code>: <code>");
		jg_html_text(h, json_string_value(json_object_get(f, "code")));
		JG_HTML(h, "</code> ");
		jg_html_text(h, json_string_value(json_object_get(f, "message")));
		JG_HTML(h, "</li>");
	}
	JG_HTML(h, "</ul>");
}

static void
probes_table(struct jg_web_debug *d, json_t *probes)
{
	struct jg_html *h = &d->w.h;
	char when[40], left[32];
	size_t i;
	json_t *p;

	JG_HTML(h, "<section class=\"card\" aria-labelledby=\"live-h\"><h2 id=\"live-h\">Live "
		   "probes</h2>");
	if (json_array_size(probes) == 0) {
		JG_HTML(h, "<p class=\"empty\" id=\"no-probes\">No probe is live on this service."
			   "</p></section>");
		return;
	}
	JG_HTML(h, "<div class=\"table-wrap\"><table id=\"probes\"><thead><tr><th>Function</th>"
		   "<th>Conditions</th><th>Sampling</th><th>Captures</th><th>Until</th>"
		   "<th class=\"num\">Events</th><th>Installed</th><th>Actions</th></tr></thead>"
		   "<tbody>");
	json_array_foreach(probes, i, p)
	{
		const char *id = json_string_value(json_object_get(p, "id")),
			   *grant = json_string_value(json_object_get(p, "grant"));
		int64_t until = json_integer_value(json_object_get(p, "expires_at"));
		int own = id != NULL && grant != NULL && strcmp(grant, d->grant) == 0;
		int args = json_is_true(json_object_get(p, "capture_args")),
		    ret = json_is_true(json_object_get(p, "capture_return"));

		JG_HTML(h, "<tr data-probe=\"");
		jg_html_text(h, id);
		JG_HTML(h, "\"><td><code>");
		jg_html_text(h, json_string_value(json_object_get(p, "function")));
		JG_HTML(h, "</code></td><td>");
		conditions_text(h, json_object_get(p, "conditions"));
		JG_HTML(h, "</td><td>");
		jg_html_textf(h, "%g", json_number_value(json_object_get(p, "sampling_rate")));
		JG_HTML(h, "</td><td>");
		const char *tmpl = json_string_value(json_object_get(p, "template"));
		json_t *metric = json_object_get(p, "metric");
		if (tmpl != NULL) { /* a log probe: its message only */
			JG_HTML(h, "message <code class=\"probe-template\">");
			jg_html_text(h, tmpl);
			JG_HTML(h, "</code>");
		} else if (metric != NULL) { /* a metric probe: its points only */
			const char *field = json_string_value(json_object_get(metric, "field"));
			if (field != NULL) {
				JG_HTML(h, "histogram of <code>");
				jg_html_text(h, field);
				JG_HTML(h, "</code>");
			} else {
				JG_HTML(h, "count of calls");
			}
			JG_HTML(h, ", metric <a class=\"probe-metric\" href=\"");
			jg_web_debug_href(h, d->service, "metrics", d->grant);
			JG_HTML(h, "&amp;name=probe.");
			jg_html_url_part(h, id);
			JG_HTML(h, "\"><code>probe.");
			jg_html_text(h, id);
			JG_HTML(h, "</code></a> <span class=\"hint\">(read-metrics)</span>");
		} else {
			jg_html_text(h, args && ret ? "arguments, return value"
					: args	    ? "arguments"
					: ret	    ? "return value"
						    : "the call only");
		}
		JG_HTML(h, "</td><td>");
		jg_web_time(until, when, sizeof(when));
		jg_web_left(until - d->w.call.ctx.now, left, sizeof(left));
		jg_html_text(h, when);
		JG_HTML(h, " <span class=\"hint\">(");
		jg_html_text(h, left);
		/* the events stored for it now (the list gives the count of this
		 * grant's probes only) */
		JG_HTML(h, " left)</span></td><td class=\"num\" data-events>");
		if (json_is_integer(json_object_get(p, "events")))
			jg_html_textf(h, "%" JSON_INTEGER_FORMAT,
				      json_integer_value(json_object_get(p, "events")));
		else
			JG_HTML(h, "<span class=\"hint\">not yours</span>");
		JG_HTML(h, "</td><td data-installed>");
		install_status(h, json_object_get(p, "status"));
		JG_HTML(h, "</td><td class=\"actions\">");
		if (own) {
			/* a metric probe's points are read on the metrics page (linked above) */
			if (metric == NULL) {
				JG_HTML(h, "<a class=\"button secondary\" href=\"");
				probe_href(h, d, id, NULL);
				JG_HTML(h, "\">Events</a>");
			}
			JG_HTML(h, "<form method=\"post\" class=\"inline\" action=\"");
			probe_href(h, d, id, "/remove");
			JG_HTML(h, "\">");
			jg_web_csrf_field(&d->w);
			JG_HTML(h,
				"<button type=\"submit\" class=\"danger\" aria-label=\"Remove the "
				"probe on ");
			jg_html_text(h, json_string_value(json_object_get(p, "function")));
			JG_HTML(h, "\">Remove</button></form>");
		} else {
			JG_HTML(h, "<span class=\"hint\">deployed under grant <code>");
			jg_html_text(h, grant);
			JG_HTML(h, "</code></span>");
		}
		JG_HTML(h, "</td></tr>");
	}
	JG_HTML(h, "</tbody></table></div></section>");
}

static void
deploy_form(struct jg_web_debug *d)
{
	struct jg_html *h = &d->w.h;
	char when[40];

	jg_web_time(d->grant_end, when, sizeof(when));
	JG_HTML(h, "<section class=\"card\" aria-labelledby=\"deploy-h\"><h2 id=\"deploy-h\">"
		   "Deploy a probe</h2><form method=\"post\" id=\"deploy-form\" "
		   "class=\"probe-deploy\" action=\"");
	jg_web_debug_href(h, d->service, "probes", d->grant);
	JG_HTML(h, "\">");
	jg_web_csrf_field(&d->w);
	JG_HTML(h, "<label for=\"function\">Function<input type=\"text\" id=\"function\" "
		   "name=\"function\" required maxlength=\"200\" "
		   "placeholder=\"PaymentProcessor.selectProvider\" autocomplete=\"off\"></label>"
		   "<fieldset class=\"probe-conditions\"><legend>Conditions <span class=\"hint\">"
		   "(all must hold; leave a field empty for none; a value is a number, true, "
		   "false, or text - quote text that looks like a number: \"42\")</span></legend>");
	for (int i = 1; i <= MAX_FORM_CONDITIONS; i++) {
		JG_HTML(h, "<div class=\"probe-cond\" role=\"group\" aria-label=\"condition ");
		jg_html_textf(h, "%d", i);
		JG_HTML(h, "\"><label>Field<input type=\"text\" "
			   "maxlength=\"100\" autocomplete=\"off\" name=\"cond_field_");
		jg_html_textf(h, "%d", i);
		JG_HTML(h, "\" id=\"cond_field_");
		jg_html_textf(h, "%d", i);
		JG_HTML(h,
			"\" placeholder=\"amount\"></label><label>Operator<select name=\"cond_op_");
		jg_html_textf(h, "%d", i);
		JG_HTML(h, "\" id=\"cond_op_");
		jg_html_textf(h, "%d", i);
		JG_HTML(h, "\">");
		for (size_t k = 0; k < NOPS; k++) {
			JG_HTML(h, "<option>");
			jg_html_text(h, ops[k]);
			JG_HTML(h, "</option>");
		}
		JG_HTML(h, "</select></label><label>Value<input type=\"text\" maxlength=\"200\" "
			   "autocomplete=\"off\" name=\"cond_value_");
		jg_html_textf(h, "%d", i);
		JG_HTML(h, "\" id=\"cond_value_");
		jg_html_textf(h, "%d", i);
		JG_HTML(h, "\" placeholder=\"1000\"></label></div>");
	}
	JG_HTML(h,
		"</fieldset><label for=\"sampling_rate\">Sampling rate <span class=\"hint\">"
		"(0.01 to 1: the share of matching calls captured)</span><input type=\"number\" "
		"id=\"sampling_rate\" name=\"sampling_rate\" min=\"0.01\" max=\"1\" "
		"step=\"0.01\" value=\"1\" required></label>"
		"<fieldset class=\"probe-capture\"><legend>Capture</legend>"
		"<label class=\"check\"><input type=\"checkbox\" name=\"capture_args\" "
		"id=\"capture_args\" value=\"1\" checked> arguments</label>"
		"<label class=\"check\"><input type=\"checkbox\" name=\"capture_return\" "
		"id=\"capture_return\" value=\"1\"> return value</label></fieldset>"
		"<label for=\"template\">Log message <span class=\"hint\">(optional: a log "
		"probe sends only this message, its {placeholders} filled from the call, e.g. "
		"<code>charge {amount} for {customer.id}</code>, and captures nothing else; "
		"leave it empty to capture)</span><input type=\"text\" id=\"template\" "
		"name=\"template\" maxlength=\"512\" autocomplete=\"off\"></label>"
		"<fieldset class=\"probe-metric\"><legend>Metric <span class=\"hint\">(optional: "
		"a metric probe sends only a count of the matching calls, or a histogram of one "
		"numeric argument, every 10 s; read it on the metrics page with read-metrics)"
		"</span></legend><label for=\"metric\">Metric<select id=\"metric\" "
		"name=\"metric\"><option value=\"\" selected>none</option><option "
		"value=\"count\">count of calls</option><option value=\"histogram\">histogram"
		"</option></select></label><label for=\"metric_field\">Histogram of <span "
		"class=\"hint\">(a numeric argument, e.g. <code>amount</code>)</span><input "
		"type=\"text\" id=\"metric_field\" name=\"metric_field\" maxlength=\"100\" "
		"autocomplete=\"off\"></label></fieldset>"
		"<label for=\"duration\">Duration<select id=\"duration\" name=\"duration\">");
	for (size_t i = 0; i < NDURATIONS; i++) {
		JG_HTML(h, "<option value=\"");
		jg_html_textf(h, "%d", durations[i].secs);
		JG_HTML(h, "\"");
		if (durations[i].secs == 900)
			JG_HTML(h, " selected");
		JG_HTML(h, ">");
		jg_html_text(h, durations[i].label);
		JG_HTML(h, "</option>");
	}
	JG_HTML(h, "</select></label><p class=\"hint\" id=\"duration-clip\">The probe ends with "
		   "this grant at the latest, at ");
	jg_html_text(h, when);
	JG_HTML(h, ": a longer duration is clipped to it.</p><button type=\"submit\" "
		   "class=\"primary\">Deploy</button></form></section>");
}

/* One showing of the probes page: a refused deployment's message (or NULL) and the status. */
struct probes_show {
	const char *error;
	int status;
};

static int
probes_read(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e)
{
	(void)arg;
	return jg_api_probes_list(d->w.req, d->service, d->authorization, result, e);
}

/* What the grant may spend on probes and what it spent (the list's "budget"). */
static void
budget_card(struct jg_web_debug *d, json_t *b)
{
	struct jg_html *h = &d->w.h;
	struct jg_policy_probe_budget max;
	json_t *used = json_object_get(b, "used");
	char words[96];

	if (b == NULL || jg_policy_probe_budget_parse(json_object_get(b, "budget"), &max) != 0)
		return;
	if (max.max_probes == 0 && max.max_hits == 0 && max.max_bytes == 0)
		snprintf(words, sizeof(words), "none: each probe's own limits only");
	else
		jg_policy_probe_budget_text(&max, words, sizeof(words));
	JG_HTML(h, "<section class=\"card\" id=\"probe-budget\" aria-labelledby=\"budget-h\">"
		   "<h2 id=\"budget-h\">Probe budget of this grant</h2><dl><dt>Budget</dt>"
		   "<dd data-budget>");
	jg_html_text(h, words);
	JG_HTML(h, "</dd><dt>Used</dt><dd data-used>");
	jg_html_textf(h, "%lld probes deployed, %lld hits, %lld bytes",
		      (long long)json_integer_value(json_object_get(used, "probes")),
		      (long long)json_integer_value(json_object_get(used, "hits")),
		      (long long)json_integer_value(json_object_get(used, "bytes")));
	JG_HTML(h, "</dd>");
	if (json_is_true(json_object_get(b, "events_exhausted")) ||
	    json_is_true(json_object_get(b, "probes_exhausted")))
		JG_HTML(h, "<dt>State</dt><dd data-exhausted>spent: the server refuses what "
			   "goes beyond it</dd>");
	JG_HTML(h, "</dl></section>");
}

/* The probes page (list and form), with a refused deployment's message above it. */
static int
probes_render(struct jg_web_debug *d, void *arg, json_t *result)
{
	const struct probes_show *show = arg;
	struct jg_html *h = &d->w.h;

	if (show->error != NULL) {
		JG_HTML(h, "<p class=\"notice error\" role=\"alert\" id=\"deploy-error\">"
			   "Not deployed: ");
		jg_html_text(h, show->error);
		JG_HTML(h, "</p>");
	}
	budget_card(d, json_object_get(result, "budget"));
	probes_table(d, json_object_get(result, "probes"));
	deploy_form(d);
	return show->status;
}

static const struct jg_web_debug_page probes_page = {
    .page = "probes",
    .capability = "deploy-probe",
    .title = "Probes of",
    .read = probes_read,
    .render = probes_render,
};

static void
handle_probes_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct probes_show show = {NULL, 200};
	jg_web_debug_run(req, reply, &probes_page, &show);
}

/* A form field: 0 with out set ("" when absent), or JG_EINVAL/JG_ETOOBIG. */
static int
field(struct jg_http_request *req, const char *name, char *out, size_t len)
{
	int rc = jg_http_form_field(req, name, out, len);
	return rc == JG_ENOTFOUND ? 0 : rc;
}

/* A condition's value as the form gives it: a number, true, false, "quoted text" or text. */
static json_t *
condition_value(const char *v)
{
	size_t n = strlen(v);
	char *end;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
		return json_stringn(v + 1, n - 2);
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		return json_boolean(v[0] == 't');
	errno = 0;
	double d = strtod(v, &end);
	if (n > 0 && *end == '\0' && errno == 0 && isfinite(d) && strspn(v, "0123456789.-+eE") == n)
		return strchr(v, '.') || strchr(v, 'e') || strchr(v, 'E')
			   ? json_real(d)
			   : json_integer((json_int_t)strtoll(v, NULL, 10));
	return json_string(v);
}

/*
 * The deploy form as the API's body into *spec; 0, or JG_EINVAL with why
 * (a field the form cannot express; the API checks everything else).
 */
static int
form_spec(struct jg_http_request *req, json_t **spec, const char **why)
{
	char fn[FORM_FIELD_MAX], rate[32], dur[16], a[8], r[8], tmpl[JG_PROBE_TEMPLATE_MAX + 1];
	char metric[16], metric_field[FORM_FIELD_MAX];
	char *end;
	json_t *s = json_object(), *conds = json_array();

	*spec = NULL;
	*why = "a field is not UTF-8 text or is too long";
	if (s == NULL || conds == NULL)
		goto bad;
	if (field(req, "function", fn, sizeof(fn)) != 0 ||
	    field(req, "sampling_rate", rate, sizeof(rate)) != 0 ||
	    field(req, "duration", dur, sizeof(dur)) != 0 ||
	    field(req, "capture_args", a, sizeof(a)) != 0 ||
	    field(req, "capture_return", r, sizeof(r)) != 0 ||
	    field(req, "template", tmpl, sizeof(tmpl)) != 0 ||
	    field(req, "metric", metric, sizeof(metric)) != 0 ||
	    field(req, "metric_field", metric_field, sizeof(metric_field)) != 0)
		goto bad;
	if (tmpl[0] != '\0' && metric[0] != '\0') {
		*why = "a probe logs a message or sends a metric, not both: clear one";
		goto bad;
	}
	for (int i = 1; i <= MAX_FORM_CONDITIONS; i++) {
		char nf[32], no[32], nv[32], f[FORM_FIELD_MAX], o[16], v[FORM_FIELD_MAX];
		snprintf(nf, sizeof(nf), "cond_field_%d", i);
		snprintf(no, sizeof(no), "cond_op_%d", i);
		snprintf(nv, sizeof(nv), "cond_value_%d", i);
		if (field(req, nf, f, sizeof(f)) != 0 || field(req, no, o, sizeof(o)) != 0 ||
		    field(req, nv, v, sizeof(v)) != 0)
			goto bad;
		if (f[0] == '\0')
			continue;
		json_t *c =
		    json_pack("{s:s,s:s,s:o}", "field", f, "op", o, "value", condition_value(v));
		if (c == NULL || json_array_append_new(conds, c) != 0)
			goto bad;
	}
	errno = 0;
	double sr = strtod(rate, &end);
	if (rate[0] == '\0' || *end != '\0' || errno != 0) {
		*why = "the sampling rate must be a number in (0, 1]";
		goto bad;
	}
	long secs = strtol(dur, &end, 10);
	if (dur[0] == '\0' || *end != '\0') {
		*why = "choose a duration";
		goto bad;
	}
	if (json_object_set_new(s, "function", json_string(fn)) != 0 ||
	    json_object_set_new(s, "capture_args", json_boolean(a[0] != '\0')) != 0 ||
	    json_object_set_new(s, "capture_return", json_boolean(r[0] != '\0')) != 0 ||
	    json_object_set_new(s, "sampling_rate", json_real(sr)) != 0 ||
	    json_object_set_new(s, "duration", json_integer(secs)) != 0 ||
	    json_object_set_new(s, "conditions", conds) != 0) {
		conds = NULL;
		goto bad;
	}
	/* a message template makes a log probe, which captures nothing else */
	if (tmpl[0] != '\0' && (json_object_set_new(s, "kind", json_string("log")) != 0 ||
				json_object_set_new(s, "template", json_string(tmpl)) != 0 ||
				json_object_set_new(s, "capture_args", json_false()) != 0 ||
				json_object_set_new(s, "capture_return", json_false()) != 0))
		goto bad;
	/* a metric makes a metric probe, which captures nothing either (the API checks the rest) */
	if (metric[0] != '\0') {
		json_t *m = json_pack("{s:s,s:s*}", "type", metric, "field",
				      metric_field[0] != '\0' ? metric_field : NULL);
		if (m == NULL || json_object_set_new(s, "metric", m) != 0 ||
		    json_object_set_new(s, "kind", json_string("metric")) != 0 ||
		    json_object_set_new(s, "capture_args", json_false()) != 0 ||
		    json_object_set_new(s, "capture_return", json_false()) != 0)
			goto bad;
	}
	*spec = s;
	return 0;
bad:
	json_decref(conds);
	json_decref(s);
	return JG_EINVAL;
}

static void
handle_deploy(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web_debug d;
	struct jg_api_error e;
	json_t *spec = NULL, *out = NULL;
	const char *why = NULL;
	char msg[640];

	if (jg_web_debug_begin(&d, req, reply, "deploy-probe") != 0)
		goto out;
	if (form_spec(req, &spec, &why) != 0) {
		/* nothing recorded: the form again, and why */
		jg_web_debug_show(&d, &probes_page, &(struct probes_show){why, 400});
		goto out;
	}
	int rc = jg_api_probe_deploy(req, d.service, d.authorization, spec, &out, &e);
	/* a refused token deployed nothing (the guard refuses before it records or creates) */
	if (rc != 0 && jg_web_debug_retry(&d, &e))
		rc = jg_api_probe_deploy(req, d.service, d.authorization, spec, &out, &e);
	if (rc != 0 && e.status == 400) {
		snprintf(msg, sizeof(msg), "%s%s%s", e.message, e.field ? " - field " : "",
			 e.field ? e.field : "");
		jg_web_debug_show(&d, &probes_page, &(struct probes_show){msg, 400});
		goto out;
	}
	if (rc != 0) {
		jg_web_debug_error(&d, "Not deployed", &e);
		goto out;
	}
	/*
	 * The new probe's events, or for a metric probe its metric on the
	 * metrics page (303: a reload does not deploy again).
	 */
	struct jg_html loc = {0};
	const char *id = json_string_value(json_object_get(out, "id"));
	if (json_object_get(out, "metric") != NULL) {
		jg_web_debug_href(&loc, d.service, "metrics", d.grant);
		JG_HTML(&loc, "&name=probe.");
		jg_html_url_part(&loc, id);
	} else {
		probe_href(&loc, &d, id, NULL);
	}
	if (loc.failed || loc.buf == NULL)
		jg_web_error_page(&d.w, 500, "Deployed", "Out of memory.", "/");
	else
		jg_web_redirect(reply, loc.buf);
	jg_html_free(&loc);
out:
	json_decref(out);
	json_decref(spec);
	jg_web_debug_end(&d);
}

static void
handle_remove(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web_debug d;
	struct jg_api_error e;
	json_t *out = NULL;

	if (jg_web_debug_begin(&d, req, reply, "deploy-probe") != 0)
		goto out;
	int rc = jg_api_probe_delete(req, d.service, jg_http_param(req, "id"), d.authorization,
				     &out, &e);
	if (rc != 0 && jg_web_debug_retry(&d, &e))
		rc = jg_api_probe_delete(req, d.service, jg_http_param(req, "id"), d.authorization,
					 &out, &e);
	if (rc != 0) {
		jg_web_debug_error(&d, "Not removed", &e);
		goto out;
	}
	struct jg_html loc = {0};
	jg_web_debug_href(&loc, d.service, "probes", d.grant);
	if (loc.failed || loc.buf == NULL)
		jg_web_error_page(&d.w, 500, "Removed", "Out of memory.", "/");
	else
		jg_web_redirect(reply, loc.buf);
	jg_html_free(&loc);
out:
	json_decref(out);
	jg_web_debug_end(&d);
}

static void
event_row(struct jg_html *h, json_t *ev)
{
	json_t *e = json_object_get(ev, "event");
	const char *withheld = json_string_value(json_object_get(ev, "withheld"));
	char when[40];

	JG_HTML(h, "<tr class=\"probe-event\"><td>");
	jg_html_textf(h, "%lld", (long long)json_integer_value(json_object_get(ev, "id")));
	JG_HTML(h, "</td><td>");
	if (json_is_string(json_object_get(e, "ts"))) {
		JG_HTML(h, "<time>");
		jg_html_text(h, json_string_value(json_object_get(e, "ts")));
		JG_HTML(h, "</time>");
	} else {
		jg_web_time(json_integer_value(json_object_get(ev, "received_at")), when,
			    sizeof(when));
		jg_html_text(h, when);
	}
	JG_HTML(h, "</td>");
	if (withheld != NULL || !json_is_object(e)) {
		JG_HTML(h, "<td colspan=\"2\"><em>withheld: ");
		jg_html_text(h, withheld ? withheld : "not an object");
		JG_HTML(h, "</em></td></tr>");
		return;
	}
	const char *message = json_string_value(json_object_get(e, "message"));
	if (message != NULL) { /* a log probe's event: its message is all it holds */
		JG_HTML(h, "<td colspan=\"2\" class=\"event-message\">");
		jg_html_text(h, message);
		JG_HTML(h, "</td></tr>");
		return;
	}
	JG_HTML(h, "<td class=\"event-args\">");
	json_t *args = json_object_get(e, "args");
	if (json_is_object(args)) {
		const char *k;
		json_t *v;
		JG_HTML(h, "<dl class=\"log-attrs\">");
		json_object_foreach(args, k, v)
		{
			JG_HTML(h, "<dt>");
			jg_html_text(h, k);
			JG_HTML(h, "</dt><dd>");
			value_text(h, v);
			JG_HTML(h, "</dd>");
		}
		JG_HTML(h, "</dl>");
	} else if (args != NULL) {
		value_text(h, args);
	}
	JG_HTML(h, "</td><td class=\"event-return\">");
	if (json_object_get(e, "return") != NULL)
		value_text(h, json_object_get(e, "return"));
	JG_HTML(h, "</td></tr>");
}

/* arg: the {id} of the route (a const char **) */
static void
events_title(const struct jg_web_debug *d, void *arg, char *buf, size_t len)
{
	const char *id = *(const char *const *)arg;
	(void)d;
	snprintf(buf, len, "Events of probe %.64s", id ? id : "");
}

static int
events_read(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e)
{
	const char *id = *(const char *const *)arg;
	return jg_api_probe_events_read(d->w.req, d->service, id, d->authorization, result, e);
}

static int
events_render(struct jg_web_debug *d, void *arg, json_t *result)
{
	struct jg_http_request *req = d->w.req;
	const char *id = *(const char *const *)arg;

	struct jg_html *h = &d->w.h;
	json_t *events = json_object_get(result, "events");
	json_t *next = json_object_get(result, "next_after");
	JG_HTML(h, "<nav class=\"actions probe-nav\"><a class=\"button secondary\" href=\"");
	jg_web_debug_href(h, d->service, "probes", d->grant);
	JG_HTML(h, "\">All probes</a> <a class=\"button\" id=\"refresh\" href=\"");
	probe_href(h, d, id, NULL);
	if (jg_http_query(req, "after") != NULL) {
		JG_HTML(h, "&amp;after=");
		jg_html_url_part(h, jg_http_query(req, "after"));
	}
	JG_HTML(h, "\">Refresh</a></nav><section class=\"card\" id=\"probe-events\" "
		   "data-refresh=\"5\" aria-live=\"polite\" aria-labelledby=\"events-h\">"
		   "<h2 id=\"events-h\">Captured events</h2>");
	if (json_array_size(events) == 0) {
		JG_HTML(h, "<p class=\"empty\" id=\"no-events\">No event captured yet.</p>");
	} else {
		JG_HTML(h, "<p class=\"hint\" id=\"events-count\">");
		jg_html_textf(h, "%zu", json_array_size(events));
		JG_HTML(h, " events, oldest first.</p><div class=\"table-wrap\"><table "
			   "id=\"events\"><thead><tr><th>#</th><th>Captured</th><th>Arguments</th>"
			   "<th>Return</th></tr></thead><tbody>");
		size_t i;
		json_t *ev;
		json_array_foreach(events, i, ev)
		{
			event_row(h, ev);
		}
		JG_HTML(h, "</tbody></table></div>");
	}
	if (json_is_integer(next)) {
		JG_HTML(h, "<p><a class=\"button\" rel=\"next\" id=\"later\" href=\"");
		probe_href(h, d, id, NULL);
		JG_HTML(h, "&amp;after=");
		jg_html_textf(h, "%lld", (long long)json_integer_value(next));
		JG_HTML(h, "\">Later events</a></p>");
	}
	JG_HTML(h, "</section>");
	return 200;
}

static const struct jg_web_debug_page events_page = {
    .page = "probes",
    .capability = "deploy-probe",
    .title_of = events_title,
    .read = events_read,
    .render = events_render,
};

static void
handle_events_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const char *id = jg_http_param(req, "id");
	jg_web_debug_run(req, reply, &events_page, &id);
}

static const struct jg_route routes[] = {
    {"GET", "/debug/{svc}/probes", handle_probes_page, NULL, 0},
    {"POST", "/debug/{svc}/probes", handle_deploy, NULL, JG_ROUTE_FORM_BODY},
    {"GET", "/debug/{svc}/probes/{id}", handle_events_page, NULL, 0},
    {"POST", "/debug/{svc}/probes/{id}/remove", handle_remove, NULL, JG_ROUTE_FORM_BODY},
};
const struct jg_route_table jg_web_probes_routes = {routes, sizeof(routes) / sizeof(routes[0])};
