/*
 * web_waterfall.c - a trace drawn as a waterfall, its spans as <details>
 * rows, and its analysis in words (web_svg.h), from the JSON that
 * GET /v1/services/{svc}/traces/{id} returns (docs/traces.md).
 *
 * How it works: one pre-order walk of "spans" (an explicit stack, no
 * recursion) lists the rows - a span, then its children in the order the
 * analysis sorted them (by start) - with each row's depth and parent row,
 * and finds the first start and the last end of the whole trace: the time
 * axis.  A bar's x is its start's offset from the first start and its width
 * its duration, both scaled by the same factor (a span too short to see is
 * drawn 1 unit wide).  Services get colour classes pal-0.. in order of
 * first appearance.  A failed span has the class "error" and a triangle
 * after its bar; a root cause (analysis.root_causes) has "root-cause", a
 * band across its row and the words "root cause": neither is told by colour
 * alone.  Only the first max_spans rows are drawn and listed; the rest are
 * counted and the caption says so.
 *
 * What a span of a service the grant does not cover hides ("withheld":
 * true) is never shown, even if such a span carried it: the message, the
 * attributes and the events.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "web_svg.h"

/* The waterfall's geometry, in SVG user units (the stylesheet scales it to the page). */
#define WF_W	   1100
#define WF_X0	   330 /* bars start here; the label column is to the left */
#define WF_X1	   940 /* the last end; the marks and the duration go to the right */
#define WF_AXIS_H  32
#define WF_ROW_H   20
#define WF_BAR_H   12
#define WF_INDENT  12 /* per level of depth, up to WF_MAX_INDENT levels */
#define WF_MAX_IND 16
#define WF_LABEL   46 /* characters of "service name" in the label column, at depth 0 */

#define NO_ROW	      SIZE_MAX
#define SHOWN_CAUSES  50   /* root causes named in words */
#define SHOWN_ATTRS   100  /* attributes per span */
#define SHOWN_EVENTS  50   /* events per span */
#define SHOWN_VALUE   2000 /* bytes of one attribute value */
#define DETAILS_DEPTH 8	   /* indentation classes depth-0 .. depth-8 of the rows */

struct row {
	json_t *span;
	size_t parent; /* row index, or NO_ROW */
	int depth;
};

struct frame {
	json_t *spans;
	size_t i, parent;
	int depth;
};

struct walk {
	struct row *rows;
	size_t nrows, total; /* rows listed (at most the cap), spans in the trace */
	int64_t t0, t1;	     /* first start, last end (ns); t0 > t1: no timed span */
	const char *services[JG_WEB_PALETTE];
	size_t nservices;
	bool other_services; /* a service past the palette */
};

static void
walk_free(struct walk *w)
{
	free(w->rows);
	w->rows = NULL;
}

static bool
span_times(json_t *span, int64_t *start, int64_t *end)
{
	json_t *s = json_object_get(span, "start_ns"), *e = json_object_get(span, "end_ns");
	if (!json_is_integer(s) || !json_is_integer(e))
		return false;
	*start = (int64_t)json_integer_value(s);
	*end = (int64_t)json_integer_value(e);
	if (*end < *start)
		*end = *start;
	return true;
}

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The rows of trace in tree order, the first max of them kept; 0, JG_EINVAL or JG_ENOMEM. */
static int
walk_trace(json_t *trace, size_t max, struct walk *w)
{
	json_t *spans = json_object_get(trace, "spans");
	struct frame *stack = NULL;
	size_t depth = 0, cap = 0;
	int rc = 0;

	memset(w, 0, sizeof(*w));
	w->t0 = INT64_MAX;
	w->t1 = INT64_MIN;
	if (!json_is_array(spans))
		return JG_EINVAL;
	if (max == 0)
		max = JG_WEB_WATERFALL_MAX_SPANS;
	size_t rows_cap = max < 64 ? max : 64; /* grown by doubling up to max */
	w->rows = calloc(rows_cap, sizeof(*w->rows));
	if (w->rows == NULL)
		return JG_ENOMEM;

	cap = 16;
	stack = calloc(cap, sizeof(*stack));
	if (stack == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	stack[depth++] = (struct frame){spans, 0, NO_ROW, 0};
	while (depth > 0) {
		struct frame *f = &stack[depth - 1];
		if (f->i >= json_array_size(f->spans)) {
			depth--;
			continue;
		}
		json_t *span = json_array_get(f->spans, f->i++);
		if (!json_is_object(span))
			continue;
		size_t r = w->total++;
		int64_t s, e;
		if (span_times(span, &s, &e)) {
			w->t0 = s < w->t0 ? s : w->t0;
			w->t1 = e > w->t1 ? e : w->t1;
		}
		if (r < max) {
			if (r == rows_cap) {
				size_t grown_cap = rows_cap * 2 < max ? rows_cap * 2 : max;
				struct row *grown = realloc(w->rows, grown_cap * sizeof(*grown));
				if (grown == NULL) {
					rc = JG_ENOMEM;
					goto out;
				}
				w->rows = grown;
				rows_cap = grown_cap;
			}
			w->rows[r] = (struct row){span, f->parent, f->depth};
			w->nrows = r + 1;
			const char *svc = str(span, "service");
			size_t k = 0;
			while (svc && k < w->nservices && strcmp(w->services[k], svc) != 0)
				k++;
			if (svc && k == w->nservices) {
				if (k < JG_WEB_PALETTE)
					w->services[w->nservices++] = svc;
				else
					w->other_services = true;
			}
		}
		json_t *children = json_object_get(span, "children");
		if (json_array_size(children) == 0)
			continue;
		if (depth == cap) {
			struct frame *grown = realloc(stack, cap * 2 * sizeof(*grown));
			if (grown == NULL) {
				rc = JG_ENOMEM;
				goto out;
			}
			stack = grown;
			cap *= 2;
		}
		int d = stack[depth - 1].depth + 1;
		stack[depth++] = (struct frame){children, 0, r < max ? r : NO_ROW, d};
	}
out:
	free(stack);
	if (rc != 0)
		walk_free(w);
	return rc;
}

/* The palette class of a service: "pal-3", or "pal-other" past the palette. */
static void
palette_class(const struct walk *w, const char *svc, char *buf, size_t len)
{
	for (size_t k = 0; svc && k < w->nservices; k++)
		if (strcmp(w->services[k], svc) == 0) {
			snprintf(buf, len, "pal-%zu", k);
			return;
		}
	snprintf(buf, len, "pal-other");
}

static bool
is_root_cause(json_t *trace, json_t *span)
{
	const char *id = str(span, "span_id");
	size_t i;
	json_t *c;
	if (id == NULL)
		return false;
	json_array_foreach(json_object_get(json_object_get(trace, "analysis"), "root_causes"), i, c)
	{
		const char *cid = str(c, "span_id");
		if (cid && strcmp(cid, id) == 0)
			return true;
	}
	return false;
}

static bool
is_error(json_t *span)
{
	const char *st = str(span, "status");
	return st && strcmp(st, "error") == 0;
}

/* The first max_cp code points of s (UTF-8), with "…" when cut. */
static void
prefix_utf8(const char *s, size_t max_cp, char *out, size_t len)
{
	size_t n = 0, cp = 0;
	if (s == NULL)
		s = "";
	while (s[n] != '\0' && cp < max_cp) {
		n++;
		while ((s[n] & 0xC0) == 0x80)
			n++;
		cp++;
	}
	if (n + 4 > len) /* keep to the buffer, on a code point boundary */
		for (n = len > 4 ? len - 4 : 0; n > 0 && (s[n] & 0xC0) == 0x80; n--)
			;
	snprintf(out, len, "%.*s%s", (int)n, s, s[n] != '\0' ? "\xe2\x80\xa6" : "");
}

/* A duration in ms as words: "0.25 ms", "15 ms", "1.3 s". */
static void
ms_text(double ms, char *buf, size_t len)
{
	double a = fabs(ms);
	if (a >= 1000)
		snprintf(buf, len, "%.3f", ms / 1000);
	else if (a >= 100)
		snprintf(buf, len, "%.1f", ms);
	else
		snprintf(buf, len, "%.3f", ms);
	/* no trailing zeros: "15.000" is "15" */
	char *dot = strchr(buf, '.');
	if (dot != NULL) {
		char *end = buf + strlen(buf);
		while (end > dot + 1 && end[-1] == '0')
			*--end = '\0';
		if (end == dot + 1)
			*dot = '\0';
	}
	size_t n = strlen(buf);
	snprintf(buf + n, len - n, a >= 1000 ? " s" : " ms");
}

static double
span_ms(json_t *span)
{
	int64_t s, e;
	if (!span_times(span, &s, &e))
		return 0;
	return (double)(e - s) / 1e6;
}

/* The row's words: "name (service): 12 ms, error 500". */
static void
row_summary(struct jg_html *h, json_t *span, bool cause)
{
	char dur[48];
	ms_text(span_ms(span), dur, sizeof(dur));
	jg_html_textf(h, "%s (%s): %s", str(span, "name") ? str(span, "name") : "",
		      str(span, "service") ? str(span, "service") : "?", dur);
	if (is_error(span)) {
		const char *code = str(span, "error_code");
		jg_html_textf(h, ", error%s%s", code ? " " : "", code ? code : "");
	}
	if (cause)
		JG_HTML(h, ", root cause");
}

/* ---- the waterfall ---------------------------------------------------------- */

/* "0 ms", "250 ms", "0.05 ms", "2 s": offset ns on an axis whose ticks are step ns apart. */
static void
tick_text(double ns, double step, char *buf, size_t len)
{
	if (step >= 1e9) {
		snprintf(buf, len, "%.0f s", ns / 1e9);
		return;
	}
	int decimals = 0; /* a step of 0.2 ms needs one, 0.05 ms two */
	double u = 1e6;
	while (step < u && decimals < 6) {
		u /= 10;
		decimals++;
	}
	snprintf(buf, len, "%.*f ms", decimals, ns / 1e6);
}

static void
waterfall_axis(struct jg_html *h, double range, double height)
{
	double step = jg_web_nice_step(range, 6), scale = (WF_X1 - WF_X0) / range;
	char label[48];

	if (step < 1)
		step = 1;
	JG_HTML(h, "<g class=\"axis\">");
	for (int k = 0; k <= 20 && k * step <= range * (1 + 1e-9); k++) {
		double x = WF_X0 + k * step * scale;
		tick_text(k * step, step, label, sizeof(label));
		JG_HTML(h, "<line class=\"grid\" x1=\"");
		jg_html_textf(h, "%.2f", x);
		JG_HTML(h, "\" x2=\"");
		jg_html_textf(h, "%.2f", x);
		JG_HTML(h, "\" y1=\"");
		jg_html_textf(h, "%d", WF_AXIS_H - 6);
		JG_HTML(h, "\" y2=\"");
		jg_html_textf(h, "%.0f", height);
		JG_HTML(h, "\"/><text class=\"tick\" x=\"");
		jg_html_textf(h, "%.2f", x);
		JG_HTML(h, "\" y=\"18\">");
		jg_html_text(h, label);
		JG_HTML(h, "</text>");
	}
	JG_HTML(h, "</g>");
}

static void
waterfall_row(struct jg_html *h, const struct walk *w, json_t *trace, size_t r, double scale)
{
	json_t *span = w->rows[r].span;
	bool err = is_error(span), cause = is_root_cause(trace, span);
	double y = WF_AXIS_H + (double)r * WF_ROW_H;
	int depth = w->rows[r].depth < WF_MAX_IND ? w->rows[r].depth : WF_MAX_IND;
	char cls[32], svc[WF_LABEL * 4 + 8], name[WF_LABEL * 4 + 8], dur[48];
	int64_t s, e;

	palette_class(w, str(span, "service"), cls, sizeof(cls));
	JG_HTML(h, "<g class=\"span ");
	jg_html_text(h, cls);
	if (err)
		JG_HTML(h, " error");
	if (cause)
		JG_HTML(h, " root-cause");
	if (json_is_true(json_object_get(span, "detached")))
		JG_HTML(h, " detached");
	JG_HTML(h, "\" data-row=\"");
	jg_html_textf(h, "%zu", r);
	JG_HTML(h, "\"><title>");
	row_summary(h, span, cause);
	JG_HTML(h, "</title>");
	if (cause) {
		JG_HTML(h, "<rect class=\"band\" x=\"0\" y=\"");
		jg_html_textf(h, "%.0f", y);
		JG_HTML(h, "\" width=\"");
		jg_html_textf(h, "%d", WF_W);
		JG_HTML(h, "\" height=\"");
		jg_html_textf(h, "%d", WF_ROW_H);
		JG_HTML(h, "\"/>");
	}

	/* the label: "service name", indented by depth, cut to the column */
	size_t budget = WF_LABEL - (size_t)depth * 2;
	const char *svcname = str(span, "service") ? str(span, "service") : "?";
	prefix_utf8(svcname, budget / 2, svc, sizeof(svc));
	size_t used = strlen(svcname) < budget / 2 ? strlen(svcname) : budget / 2;
	prefix_utf8(str(span, "name"), budget - used, name, sizeof(name));
	JG_HTML(h, "<text class=\"label\" x=\"");
	jg_html_textf(h, "%d", 4 + depth * WF_INDENT);
	JG_HTML(h, "\" y=\"");
	jg_html_textf(h, "%.0f", y + 14);
	JG_HTML(h, "\"><tspan class=\"svc\">");
	jg_html_text(h, svc);
	JG_HTML(h, "</tspan> ");
	jg_html_text(h, name);
	JG_HTML(h, "</text>");

	if (!span_times(span, &s, &e))
		goto out; /* no times: no bar */
	double x = WF_X0 + (double)(s - w->t0) * scale, width = (double)(e - s) * scale;
	if (width < 1)
		width = 1; /* a span too short to see is still drawn */
	JG_HTML(h, "<rect class=\"bar\" x=\"");
	jg_html_textf(h, "%.2f", x);
	JG_HTML(h, "\" y=\"");
	jg_html_textf(h, "%.0f", y + (WF_ROW_H - WF_BAR_H) / 2.0);
	JG_HTML(h, "\" width=\"");
	jg_html_textf(h, "%.2f", width);
	JG_HTML(h, "\" height=\"");
	jg_html_textf(h, "%d", WF_BAR_H);
	JG_HTML(h, "\"/>");
	double after = x + width + 4;
	if (err) {
		/* a triangle after the bar: an error is marked by a shape, not only a colour */
		JG_HTML(h, "<path class=\"mark-error\" d=\"M");
		jg_html_textf(h, "%.2f %.0f l5 -10 l5 10 z", after, y + 15);
		JG_HTML(h, "\"/>");
		after += 13;
	}
	ms_text((double)(e - s) / 1e6, dur, sizeof(dur));
	JG_HTML(h, "<text class=\"dur\" x=\"");
	jg_html_textf(h, "%.2f", after);
	JG_HTML(h, "\" y=\"");
	jg_html_textf(h, "%.0f", y + 14);
	JG_HTML(h, "\">");
	jg_html_text(h, dur);
	if (cause)
		JG_HTML(h, "<tspan class=\"tag\"> root cause</tspan>");
	JG_HTML(h, "</text>");
out:
	JG_HTML(h, "</g>");
}

static void
legend(struct jg_html *h, const struct walk *w, bool errors, bool causes)
{
	JG_HTML(h, "<ul class=\"legend\">");
	for (size_t k = 0; k < w->nservices; k++) {
		JG_HTML(h, "<li class=\"pal-");
		jg_html_textf(h, "%zu", k);
		JG_HTML(h, "\"><span class=\"swatch\"></span>");
		jg_html_text(h, w->services[k]);
		JG_HTML(h, "</li>");
	}
	if (w->other_services)
		JG_HTML(h, "<li class=\"pal-other\"><span class=\"swatch\"></span>other "
			   "services</li>");
	if (errors)
		JG_HTML(h,
			"<li class=\"error\"><span class=\"mark\">&#9650;</span>failed span</li>");
	if (causes)
		JG_HTML(h, "<li class=\"root-cause\"><span class=\"swatch band\"></span>root cause "
			   "(where a failure started)</li>");
	JG_HTML(h, "</ul>");
}

static int
done(struct jg_html *h, int rc)
{
	return rc != 0 ? rc : h->failed ? JG_ENOMEM : 0;
}

int
jg_web_waterfall(struct jg_html *h, json_t *trace, size_t max_spans)
{
	struct walk w;
	int rc = walk_trace(trace, max_spans, &w);
	bool errors = false, causes = false;
	char total[48];

	if (rc != 0)
		return done(h, rc);
	for (size_t r = 0; r < w.nrows; r++) {
		errors = errors || is_error(w.rows[r].span);
		causes = causes || is_root_cause(trace, w.rows[r].span);
	}
	double range = w.t1 > w.t0 ? (double)(w.t1 - w.t0) : 1;
	ms_text(w.t1 > w.t0 ? range / 1e6 : 0, total, sizeof(total));
	double height = WF_AXIS_H + (double)w.nrows * WF_ROW_H + 8;

	JG_HTML(h, "<figure class=\"waterfall\"><figcaption>");
	jg_html_textf(h, "%zu span%s over %s", w.total, w.total == 1 ? "" : "s", total);
	if (w.nrows < w.total)
		jg_html_textf(h, "; the first %zu are drawn, %zu more are left out", w.nrows,
			      w.total - w.nrows);
	JG_HTML(h, ".</figcaption>");
	legend(h, &w, errors, causes);
	JG_HTML(h, "<div class=\"svg-wrap\"><svg class=\"waterfall\" role=\"img\" "
		   "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
	jg_html_textf(h, "%d %.0f", WF_W, height);
	JG_HTML(h, "\" width=\"");
	jg_html_textf(h, "%d", WF_W);
	JG_HTML(h, "\" height=\"");
	jg_html_textf(h, "%.0f", height);
	JG_HTML(h, "\" aria-label=\"");
	jg_html_textf(h, "Waterfall of trace %s: %zu spans over %s",
		      str(trace, "trace_id") ? str(trace, "trace_id") : "", w.total, total);
	JG_HTML(h, "\"><title>");
	jg_html_textf(h, "Waterfall of trace %s: %zu spans over %s",
		      str(trace, "trace_id") ? str(trace, "trace_id") : "", w.total, total);
	JG_HTML(h, "</title>");
	waterfall_axis(h, range, height);
	for (size_t r = 0; r < w.nrows; r++)
		waterfall_row(h, &w, trace, r, (WF_X1 - WF_X0) / range);
	JG_HTML(h, "</svg></div></figure>");
	walk_free(&w);
	return done(h, 0);
}

/* ---- the rows beneath --------------------------------------------------------- */

/* A JSON value as text: a string as it is, anything else as compact JSON; cut to SHOWN_VALUE. */
static void
value_text(struct jg_html *h, json_t *v)
{
	char *dumped = NULL, cut[SHOWN_VALUE + 8];
	const char *s = json_string_value(v);
	if (s == NULL)
		s = dumped =
		    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	if (s == NULL) {
		h->failed = 1;
		return;
	}
	prefix_utf8(s, SHOWN_VALUE, cut, sizeof(cut));
	jg_html_text(h, cut);
	free(dumped);
}

static void
dt(struct jg_html *h, const char *term)
{
	JG_HTML(h, "<dt>");
	jg_html_text(h, term);
	JG_HTML(h, "</dt><dd>");
}

static void
withheld_dd(struct jg_html *h, json_t *span)
{
	JG_HTML(h, "<span class=\"withheld\">withheld: your grant does not cover ");
	jg_html_text(h, str(span, "service"));
	JG_HTML(h, "</span>");
}

static void
attributes_dl(struct jg_html *h, json_t *attrs)
{
	const char *k;
	json_t *v;
	size_t n = 0;
	if (json_object_size(attrs) == 0) {
		JG_HTML(h, "none");
		return;
	}
	JG_HTML(h, "<dl class=\"attrs\">");
	json_object_foreach(attrs, k, v)
	{
		if (n++ == SHOWN_ATTRS)
			break;
		JG_HTML(h, "<dt>");
		jg_html_text(h, k);
		JG_HTML(h, "</dt><dd>");
		value_text(h, v);
		JG_HTML(h, "</dd>");
	}
	JG_HTML(h, "</dl>");
	if (json_object_size(attrs) > SHOWN_ATTRS)
		jg_html_textf(h, "%zu more not shown", json_object_size(attrs) - SHOWN_ATTRS);
}

static void
events_list(struct jg_html *h, json_t *events, int64_t t0)
{
	size_t i;
	json_t *ev;
	char at[48];
	if (json_array_size(events) == 0) {
		JG_HTML(h, "none");
		return;
	}
	JG_HTML(h, "<ol class=\"events\">");
	json_array_foreach(events, i, ev)
	{
		if (i == SHOWN_EVENTS)
			break;
		JG_HTML(h, "<li>");
		value_text(h, json_object_get(ev, "name") ? json_object_get(ev, "name") : ev);
		json_t *t = json_object_get(ev, "time_ns");
		if (json_is_integer(t) && t0 != INT64_MAX) {
			int64_t ns = (int64_t)json_integer_value(t);
			ms_text((double)(ns - t0) / 1e6, at, sizeof(at));
			jg_html_textf(h, " at %s%s", ns >= t0 ? "+" : "", at);
		}
		if (json_object_size(json_object_get(ev, "attributes")) > 0)
			attributes_dl(h, json_object_get(ev, "attributes"));
		JG_HTML(h, "</li>");
	}
	JG_HTML(h, "</ol>");
	if (json_array_size(events) > SHOWN_EVENTS)
		jg_html_textf(h, "%zu more not shown", json_array_size(events) - SHOWN_EVENTS);
}

static void
span_row(struct jg_html *h, const struct walk *w, json_t *trace, size_t r)
{
	json_t *span = w->rows[r].span;
	bool err = is_error(span), cause = is_root_cause(trace, span),
	     withheld = json_is_true(json_object_get(span, "withheld"));
	char cls[32], buf[64];
	int64_t s, e;

	palette_class(w, str(span, "service"), cls, sizeof(cls));
	JG_HTML(h, "<details class=\"span-row ");
	jg_html_text(h, cls);
	jg_html_textf(h, " depth-%d",
		      w->rows[r].depth < DETAILS_DEPTH ? w->rows[r].depth : DETAILS_DEPTH);
	if (err)
		JG_HTML(h, " error");
	if (cause)
		JG_HTML(h, " root-cause");
	JG_HTML(h, "\" id=\"span-");
	jg_html_textf(h, "%zu", r);
	JG_HTML(h, "\"><summary><span class=\"swatch\"></span>");
	if (err)
		JG_HTML(h, "<span class=\"mark\" aria-hidden=\"true\">&#9650;</span>");
	row_summary(h, span, cause);
	JG_HTML(h, "</summary><dl>");

	dt(h, "Service");
	jg_html_text(h, str(span, "service"));
	if (str(span, "service_version")) {
		JG_HTML(h, " ");
		jg_html_text(h, str(span, "service_version"));
	}
	if (str(span, "instance")) {
		JG_HTML(h, " on ");
		jg_html_text(h, str(span, "instance"));
	}
	JG_HTML(h, "</dd>");
	dt(h, "Operation");
	jg_html_text(h, str(span, "name"));
	if (str(span, "kind")) {
		JG_HTML(h, " (");
		jg_html_text(h, str(span, "kind"));
		JG_HTML(h, ")");
	}
	JG_HTML(h, "</dd>");
	dt(h, "Span");
	jg_html_text(h, str(span, "span_id"));
	JG_HTML(h, "</dd>");
	dt(h, "Parent");
	if (w->rows[r].parent != NO_ROW) {
		JG_HTML(h, "<a href=\"#span-");
		jg_html_textf(h, "%zu", w->rows[r].parent);
		JG_HTML(h, "\">");
		jg_html_text(h, str(w->rows[w->rows[r].parent].span, "name"));
		JG_HTML(h, "</a>");
	} else if (str(span, "parent_span_id") == NULL) {
		JG_HTML(h, "none: the trace's root");
	} else if (json_is_true(json_object_get(span, "detached"))) {
		jg_html_text(h, str(span, "parent_span_id"));
		JG_HTML(h, " (nested too deep to draw beneath it)");
	} else {
		jg_html_text(h, str(span, "parent_span_id"));
		JG_HTML(h, " (not in the trace)");
	}
	JG_HTML(h, "</dd>");
	if (span_times(span, &s, &e)) {
		dt(h, "Start");
		ms_text((double)(s - w->t0) / 1e6, buf, sizeof(buf));
		jg_html_textf(h, "+%s", buf);
		json_int_t off = json_integer_value(json_object_get(span, "clock_offset_ns"));
		if (off != 0) {
			ms_text((double)off / 1e6, buf, sizeof(buf));
			jg_html_textf(h, " (shifted by %s%s for clock skew)", off > 0 ? "+" : "",
				      buf);
		}
		JG_HTML(h, "</dd>");
		dt(h, "Duration");
		ms_text((double)(e - s) / 1e6, buf, sizeof(buf));
		jg_html_text(h, buf);
		JG_HTML(h, "</dd>");
	}
	dt(h, "Status");
	jg_html_text(h, str(span, "status"));
	if (cause)
		JG_HTML(h, " <strong class=\"deny\">(root cause)</strong>");
	JG_HTML(h, "</dd>");
	if (str(span, "error_code")) {
		dt(h, "Error code");
		jg_html_text(h, str(span, "error_code"));
		JG_HTML(h, "</dd>");
	}
	if (withheld) {
		dt(h, "Message, attributes, events");
		withheld_dd(h, span);
		JG_HTML(h, "</dd>");
	} else {
		if (str(span, "error")) {
			dt(h, "Message");
			jg_html_text(h, str(span, "error"));
			JG_HTML(h, "</dd>");
		}
		dt(h, "Attributes");
		attributes_dl(h, json_object_get(span, "attributes"));
		JG_HTML(h, "</dd>");
		dt(h, "Events");
		events_list(h, json_object_get(span, "events"), w->t0);
		JG_HTML(h, "</dd>");
	}
	JG_HTML(h, "</dl></details>");
}

int
jg_web_trace_spans(struct jg_html *h, json_t *trace, size_t max_spans)
{
	struct walk w;
	int rc = walk_trace(trace, max_spans, &w);
	if (rc != 0)
		return done(h, rc);
	size_t start = h->len, listed = 0;
	JG_HTML(h, "<div class=\"span-rows\">");
	/* attributes can be large: the rows stop at a budget, so the page stays within its cap */
	while (listed < w.nrows && h->len - start < JG_WEB_SPAN_ROWS_BUDGET)
		span_row(h, &w, trace, listed++);
	if (listed < w.total) {
		JG_HTML(h, "<p class=\"notice warn\">");
		jg_html_textf(h, "%zu more spans are not listed (the first %zu are).",
			      w.total - listed, listed);
		JG_HTML(h, "</p>");
	}
	JG_HTML(h, "</div>");
	walk_free(&w);
	return done(h, 0);
}

/* ---- the analysis in words ------------------------------------------------------ */

/* The row of the span with id (tree order, as in the waterfall), or NO_ROW past the cap. */
static size_t
row_of(const struct walk *w, const char *id)
{
	for (size_t r = 0; id && r < w->nrows; r++) {
		const char *sid = str(w->rows[r].span, "span_id");
		if (sid && strcmp(sid, id) == 0)
			return r;
	}
	return NO_ROW;
}

static void
root_cause_text(struct jg_html *h, const struct walk *w, json_t *c)
{
	size_t r = row_of(w, str(c, "span_id"));
	size_t explains = json_array_size(json_object_get(c, "explains"));
	json_t *surfaced = json_object_get(c, "surfaced");

	if (r != NO_ROW) {
		JG_HTML(h, "<a href=\"#span-");
		jg_html_textf(h, "%zu", r);
		JG_HTML(h, "\">");
	}
	jg_html_text(h, str(c, "operation"));
	if (r != NO_ROW)
		JG_HTML(h, "</a>");
	JG_HTML(h, " on <strong>");
	jg_html_text(h, str(c, "service"));
	if (str(c, "service_version")) {
		JG_HTML(h, " ");
		jg_html_text(h, str(c, "service_version"));
	}
	JG_HTML(h, "</strong>");
	if (str(c, "instance")) {
		JG_HTML(h, " (");
		jg_html_text(h, str(c, "instance"));
		JG_HTML(h, ")");
	}
	if (str(c, "error_code")) {
		JG_HTML(h, " failed with error code <code>");
		jg_html_text(h, str(c, "error_code"));
		JG_HTML(h, "</code>");
	} else {
		JG_HTML(h, " failed without an error code");
	}
	if (json_is_true(json_object_get(c, "withheld"))) {
		JG_HTML(h, "; its message is <span class=\"withheld\">withheld</span>: your grant "
			   "does not cover ");
		jg_html_text(h, str(c, "service"));
	} else if (str(c, "error")) {
		JG_HTML(h, ": &ldquo;");
		jg_html_text(h, str(c, "error"));
		JG_HTML(h, "&rdquo;");
	}
	JG_HTML(h, ".");
	if (explains > 1 && str(surfaced, "operation")) {
		jg_html_textf(h, " It explains %zu failed spans and surfaced at ", explains);
		jg_html_textf(h, "%s (%s).", str(surfaced, "operation"),
			      str(surfaced, "service") ? str(surfaced, "service") : "?");
	}
}

static void
version_skew_text(struct jg_html *h, json_t *skew)
{
	size_t i, j;
	json_t *v, *in;
	jg_html_text(h, str(skew, "service"));
	JG_HTML(h, " runs ");
	jg_html_textf(
	    h, "%zu versions in this trace: ", json_array_size(json_object_get(skew, "versions")));
	json_array_foreach(json_object_get(skew, "versions"), i, v)
	{
		if (i)
			JG_HTML(h, "; ");
		JG_HTML(h, "<strong>");
		jg_html_text(h, str(v, "version") ? str(v, "version") : "no version");
		JG_HTML(h, "</strong>");
		json_int_t n = json_integer_value(json_object_get(v, "spans"));
		jg_html_textf(h, " (%lld span%s on ", (long long)n, n == 1 ? "" : "s");
		json_array_foreach(json_object_get(v, "instances"), j, in)
		{
			if (j)
				JG_HTML(h, ", ");
			jg_html_text(h, str(in, "instance"));
		}
		JG_HTML(h, ")");
	}
	JG_HTML(h, ".");
}

static void
clock_skew_text(struct jg_html *h, json_t *c, bool adjusted)
{
	json_int_t off = json_integer_value(json_object_get(c, "offset_ns"));
	size_t artefacts = json_array_size(json_object_get(c, "artefacts"));
	char ms[48];

	ms_text(fabs((double)off) / 1e6, ms, sizeof(ms));
	JG_HTML(h, "The clock of ");
	jg_html_textf(h, "%s (%s)", str(c, "service") ? str(c, "service") : "?",
		      str(c, "instance") ? str(c, "instance") : "?");
	if (off > 0)
		jg_html_textf(h, " appears about %s behind: its spans start before their parents",
			      ms);
	else if (off < 0)
		jg_html_textf(h, " appears about %s ahead: its spans end after their parents", ms);
	else
		jg_html_textf(h,
			      " needs no shift, but %zu of its spans start before or end after "
			      "their parent (asynchronous work, not a clock)",
			      artefacts);
	if (json_is_true(json_object_get(c, "conflict")))
		JG_HTML(h, "; no single shift fits all its spans (the clock drifts, or some calls "
			   "are asynchronous), so the shift is a compromise");
	if (off != 0)
		jg_html_textf(h, "%s %s%s.",
			      adjusted ? "; the times shown are shifted by"
				       : "; adjusting for skew shifts them by",
			      off > 0 ? "+" : "-", ms);
	else
		JG_HTML(h, ".");
}

static void
fragment_text(struct jg_html *h, json_t *f)
{
	jg_html_textf(h, "%s (%s)", str(f, "operation") ? str(f, "operation") : "?",
		      str(f, "service") ? str(f, "service") : "?");
	const char *reason = str(f, "reason");
	if (reason && strcmp(reason, "cycle") == 0)
		jg_html_textf(h, ": its parent links form a cycle, cut at %s.",
			      str(f, "parent_span_id") ? str(f, "parent_span_id") : "?");
	else
		jg_html_textf(h,
			      " names a parent span %s that is not in the trace: the trace context "
			      "was lost on the way.",
			      str(f, "parent_span_id") ? str(f, "parent_span_id") : "?");
}

int
jg_web_trace_analysis(struct jg_html *h, json_t *trace)
{
	json_t *a = json_object_get(trace, "analysis"), *v, *list;
	struct walk w;
	size_t i;
	int rc;

	if (!json_is_object(a))
		return JG_EINVAL;
	if ((rc = walk_trace(trace, 0, &w)) != 0)
		return done(h, rc);
	bool adjusted = w.nrows > 0 && json_object_get(w.rows[0].span, "clock_offset_ns") != NULL;

	JG_HTML(h, "<section class=\"analysis\"><h2>Analysis</h2>");
	list = json_object_get(a, "root_causes");
	if (json_array_size(list) == 0) {
		JG_HTML(h, "<p>No span failed.</p>");
	} else {
		JG_HTML(h, "<h3>");
		jg_html_textf(h, "Root cause%s", json_array_size(list) == 1 ? "" : "s");
		JG_HTML(h, "</h3><ul class=\"root-causes\">");
		json_array_foreach(list, i, v)
		{
			if (i == SHOWN_CAUSES)
				break;
			JG_HTML(h, "<li class=\"root-cause\">");
			root_cause_text(h, &w, v);
			JG_HTML(h, "</li>");
		}
		if (json_array_size(list) > SHOWN_CAUSES) {
			JG_HTML(h, "<li>");
			jg_html_textf(h, "and %zu more", json_array_size(list) - SHOWN_CAUSES);
			JG_HTML(h, "</li>");
		}
		JG_HTML(h, "</ul>");
	}

	JG_HTML(h, "<h3>Version skew</h3>");
	list = json_object_get(a, "version_skew");
	if (json_array_size(list) == 0)
		JG_HTML(h, "<p>Every service runs one version in this trace.</p>");
	else {
		JG_HTML(h, "<ul class=\"version-skew\">");
		json_array_foreach(list, i, v)
		{
			JG_HTML(h, "<li>");
			version_skew_text(h, v);
			JG_HTML(h, "</li>");
		}
		JG_HTML(h, "</ul>");
	}

	JG_HTML(h, "<h3>Clock skew</h3>");
	list = json_object_get(a, "clock_skew");
	if (json_array_size(list) == 0)
		JG_HTML(h, "<p>Every span fits inside its parent: no clock appears off.</p>");
	else {
		JG_HTML(h, "<ul class=\"clock-skew\">");
		json_array_foreach(list, i, v)
		{
			JG_HTML(h, "<li>");
			clock_skew_text(h, v, adjusted);
			JG_HTML(h, "</li>");
		}
		JG_HTML(h, "</ul>");
	}

	list = json_object_get(a, "fragments");
	if (json_array_size(list) > 0) {
		JG_HTML(h, "<h3>Broken context</h3><ul class=\"fragments\">");
		json_array_foreach(list, i, v)
		{
			JG_HTML(h, "<li>");
			fragment_text(h, v);
			JG_HTML(h, "</li>");
		}
		JG_HTML(h, "</ul>");
	}

	list = json_object_get(a, "affected_services");
	if (json_array_size(list) > 0) {
		JG_HTML(h, "<p>Services with failed spans: ");
		jg_web_join(h, list);
		JG_HTML(h, ".</p>");
	}
	JG_HTML(h, "</section>");
	walk_free(&w);
	return done(h, 0);
}
