/*
 * src/web/web_svg.h - server-rendered pictures of telemetry for the debug
 * pages (private to src/web/): a trace as a waterfall, its spans as
 * <details> rows and its analysis in words (web_waterfall.c), and metric
 * series as line charts with a table of their points (web_chart.c).
 *
 * The renderers are pure: JSON in (the documents the guarded API returns,
 * unchanged), markup appended to a struct jg_html out; no I/O, no request.
 * They keep the rule of web_int.h: markup only from string literals, every
 * number and every piece of text through jg_html_text()/jg_html_textf(), so
 * a span name or a series attribute is always text.  The pages' CSP forbids
 * style attributes: position and size are SVG geometry attributes, colour
 * and emphasis are classes of the stylesheet (jitgate.css, "debug pages:
 * waterfall and charts").
 *
 * Every function returns 0, JG_EINVAL when the document is not of the
 * documented shape (nothing useful was appended), or JG_ENOMEM when the page
 * buffer failed (h->failed).  The JSON is borrowed and not modified.
 */
#ifndef JITGATE_WEB_SVG_H
#define JITGATE_WEB_SVG_H

#include <stddef.h>

#include <jansson.h>

#include "web_int.h"

/* Spans drawn (and listed as rows) at most; the rest is counted and said. */
#define JG_WEB_WATERFALL_MAX_SPANS 2000
/* Bytes of <details> rows at most: past them the rest of the spans is counted, not listed. */
#define JG_WEB_SPAN_ROWS_BUDGET (4u << 20)
/* Colour classes pal-0 .. pal-(N-1); a service or series past them is pal-other. */
#define JG_WEB_PALETTE 8
/* Per chart: series drawn, points drawn as hoverable circles per series, table rows. */
#define JG_WEB_CHART_MAX_SERIES 16
#define JG_WEB_CHART_MAX_DOTS	300
#define JG_WEB_CHART_MAX_ROWS	2000

/*
 * The waterfall of trace, the JSON of GET /v1/services/{svc}/traces/{id}
 * (docs/traces.md): a <figure> with a caption, a legend (service colours,
 * the error and root-cause marks) and an <svg role="img">: a time axis from
 * the first start to the last end (ticks in ms or s), one row per span in
 * the tree order of "spans" (a span, then its children in start order),
 * the label indented by depth, the bar from start to end, error spans and
 * the root-cause spans (analysis.root_causes) marked.  At most max_spans
 * rows (0: JG_WEB_WATERFALL_MAX_SPANS); the caption says how many were left
 * out.  Row i is the span of jg_web_trace_spans()'s <details id="span-i">.
 */
int jg_web_waterfall(struct jg_html *h, json_t *trace, size_t max_spans);

/*
 * One <details id="span-i"> row per span of trace, in the waterfall's order
 * and with its cap: name, service, version, instance, start offset,
 * duration, status, error code, the error message, attributes and events
 * (a <dl>) - or, for a span with "withheld": true, a sentence saying the
 * grant does not cover its service, whatever else the span carries.
 * Rows stop once they took JG_WEB_SPAN_ROWS_BUDGET bytes (a page stays
 * within its cap); a notice says how many spans are not listed.
 */
int jg_web_trace_spans(struct jg_html *h, json_t *trace, size_t max_spans);

/*
 * trace's analysis in words: each root cause (operation, service, version,
 * instance, error code, the message or "withheld", where it surfaced, a
 * link to its row), version skew, clock skew, broken context (fragments)
 * and the affected services.
 */
int jg_web_trace_analysis(struct jg_html *h, json_t *trace);

/*
 * One chart per entry of reply.metrics that has "series" (the JSON of
 * GET /v1/services/{svc}/metrics?name=...): a <figure> with the name, unit
 * and description, a legend of the series (labelled by the attributes in
 * which they differ), an <svg role="img"> with a UTC time axis, a y axis
 * with round ticks and the unit, one polyline per series (broken where a
 * point has no value) and a circle per point with its value as a <title>;
 * then a <table> of the points (time, series, value).  Histogram points are
 * drawn as their mean (sum / count).  Entries without series (the list of
 * metric names) are skipped.
 */
int jg_web_metric_charts(struct jg_html *h, json_t *reply);

/* Shared by the two files: a round step (1, 2 or 5 times a power of ten) near range/target. */
double jg_web_nice_step(double range, int target);

#endif
