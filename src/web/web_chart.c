/*
 * web_chart.c - metric series as line charts with a table of their points
 * (web_svg.h), from the JSON of GET /v1/services/{svc}/metrics?name=...
 *
 * How it works: one chart per metric entry.  A first pass over its series
 * finds the time range and the value range of the points that can be drawn
 * (a number, a time); the axes are chosen from those: times on round UTC
 * steps (1 ms to 30 days) so that at most about six labels fit, values on
 * round steps of 1, 2 or 5 times a power of ten with the range widened to
 * whole steps.  A second pass draws each series: a polyline through its
 * points in time order, broken where a point has no value, and a circle per
 * point whose <title> says time, series and value (a browser shows it on
 * hover without any script).  The table beneath lists the same points.
 *
 * Edge cases, each decided here: one point, or points all at one time, sit
 * in the middle of the x axis; constant values get a range around them (no
 * division by zero); values past +-1e300 are drawn at +-1e300 so the range
 * stays finite (the table shows them as they are); a value that is not a
 * number (null, or a histogram without a sum) is a gap.  JSON cannot carry
 * NaN or infinities, and whatever is not finite is treated as no value.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/error.h"
#include "web_svg.h"

/* The chart's geometry in SVG user units; the plot area is [CH_X0, CH_X1] x [CH_Y0, CH_Y1]. */
#define CH_W  800
#define CH_H  320
#define CH_X0 76.0
#define CH_X1 (CH_W - 20.0)
#define CH_Y0 28.0
#define CH_Y1 (CH_H - 48.0)

#define VALUE_CLAMP 1e300
#define LABEL_MAX   200 /* code points of a series label */

/*
 * floor(log10(a)) for a finite a > 0, by steps of ten (at most about 630 of
 * them): the rest of jitgate needs no libm, and this is not worth linking it.
 */
static int
exponent10(double a, double *power)
{
	double p = 1;
	int e = 0;
	while (p * 10 <= a && e < 400) {
		p *= 10;
		e++;
	}
	while (p > a && e > -400) {
		p /= 10;
		e--;
	}
	if (power != NULL)
		*power = p;
	return e;
}

double
jg_web_nice_step(double range, int target)
{
	if (!(range > 0) || !isfinite(range) || target < 1)
		return 1;
	double raw = range / target, p;
	exponent10(raw, &p);
	double f = raw / p;
	double m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
	return m * p;
}

struct point {
	int64_t t;
	double v;
	bool has_t, has_v;
};

/* The point p of a metric of kind histogram or not. */
static struct point
point_of(json_t *p, bool histogram)
{
	struct point pt = {0};
	const char *ns = json_string_value(json_object_get(p, "time_unix_nano"));
	char *end = NULL;
	if (ns != NULL) {
		long long t = strtoll(ns, &end, 10);
		pt.has_t = end != ns && *end == '\0' && t >= 0;
		pt.t = pt.has_t ? (int64_t)t : 0;
	}
	if (histogram) {
		json_t *sum = json_object_get(p, "sum"), *count = json_object_get(p, "count");
		if (json_is_number(sum) && json_is_integer(count) &&
		    json_integer_value(count) > 0) {
			pt.v = json_number_value(sum) / (double)json_integer_value(count);
			pt.has_v = true;
		}
	} else if (json_is_number(json_object_get(p, "value"))) {
		pt.v = json_number_value(json_object_get(p, "value"));
		pt.has_v = true;
	}
	pt.has_v = pt.has_v && isfinite(pt.v);
	return pt;
}

static double
clamp_value(double v)
{
	return v > VALUE_CLAMP ? VALUE_CLAMP : v < -VALUE_CLAMP ? -VALUE_CLAMP : v;
}

/* What the chart spans, over its drawn series. */
struct range {
	int64_t t0, t1;
	double v0, v1;	      /* the value axis, widened to whole steps */
	double vstep;	      /* its tick step */
	int64_t tstep;	      /* the time axis's tick step, ns */
	size_t points, drawn; /* points in the drawn series, points with a time and a value */
};

static bool
is_histogram(json_t *metric)
{
	const char *k = json_string_value(json_object_get(metric, "kind"));
	return k != NULL && strcmp(k, "histogram") == 0;
}

static size_t
drawn_series(json_t *metric)
{
	size_t n = json_array_size(json_object_get(metric, "series"));
	return n < JG_WEB_CHART_MAX_SERIES ? n : JG_WEB_CHART_MAX_SERIES;
}

static void
time_step(struct range *r)
{
	static const int64_t steps[] = {
	    1000000LL,	       2000000LL,	   5000000LL,	      10000000LL,
	    20000000LL,	       50000000LL,	   100000000LL,	      200000000LL,
	    500000000LL,       1000000000LL,	   2000000000LL,      5000000000LL,
	    10000000000LL,     15000000000LL,	   30000000000LL,     60000000000LL,
	    120000000000LL,    300000000000LL,	   600000000000LL,    900000000000LL,
	    1800000000000LL,   3600000000000LL,	   7200000000000LL,   10800000000000LL,
	    21600000000000LL,  43200000000000LL,   86400000000000LL,  172800000000000LL,
	    604800000000000LL, 1209600000000000LL, 2592000000000000LL};
	int64_t range = r->t1 - r->t0;
	size_t i = 0;
	while (i + 1 < sizeof(steps) / sizeof(steps[0]) && range / steps[i] > 6)
		i++;
	r->tstep = steps[i];
}

static void
measure(json_t *metric, struct range *r)
{
	bool histogram = is_histogram(metric);
	double lo = 0, hi = 0;
	size_t i, j;
	json_t *s, *p;

	memset(r, 0, sizeof(*r));
	json_array_foreach(json_object_get(metric, "series"), i, s)
	{
		if (i == JG_WEB_CHART_MAX_SERIES)
			break;
		json_array_foreach(json_object_get(s, "points"), j, p)
		{
			struct point pt = point_of(p, histogram);
			r->points++;
			if (!pt.has_t || !pt.has_v)
				continue;
			double v = clamp_value(pt.v);
			if (r->drawn++ == 0) {
				r->t0 = r->t1 = pt.t;
				lo = hi = v;
			}
			r->t0 = pt.t < r->t0 ? pt.t : r->t0;
			r->t1 = pt.t > r->t1 ? pt.t : r->t1;
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	}
	if (hi == lo) { /* constant values (or one point): a range around them */
		double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
		lo -= pad;
		hi += pad;
	}
	r->vstep = jg_web_nice_step(hi - lo, 5);
	r->v0 = floor(lo / r->vstep) * r->vstep;
	r->v1 = ceil(hi / r->vstep) * r->vstep;
	if (!(r->v1 > r->v0) || !isfinite(r->v1 - r->v0)) { /* steps too fine for doubles */
		r->v0 = lo;
		r->v1 = hi;
		r->vstep = (hi - lo) / 4;
	}
	time_step(r);
}

static double
x_of(const struct range *r, int64_t t)
{
	if (r->t1 == r->t0)
		return (CH_X0 + CH_X1) / 2;
	double x = CH_X0 + (double)(t - r->t0) / (double)(r->t1 - r->t0) * (CH_X1 - CH_X0);
	return x < CH_X0 ? CH_X0 : x > CH_X1 ? CH_X1 : x;
}

static double
y_of(const struct range *r, double v)
{
	double y = CH_Y1 - (clamp_value(v) - r->v0) / (r->v1 - r->v0) * (CH_Y1 - CH_Y0);
	return y < CH_Y0 ? CH_Y0 : y > CH_Y1 ? CH_Y1 : y;
}

/* A tick value on an axis of steps step: "0.25", "1500", "2e+12". */
static void
tick_value(double v, double step, char *buf, size_t len)
{
	if (fabs(v) < step * 1e-6)
		v = 0; /* no "-0" or "1e-17" at the origin */
	double a = fabs(v) > step ? fabs(v) : step;
	if (a >= 1e9 || step < 1e-4) {
		int sig = exponent10(a / step, NULL) + 3;
		snprintf(buf, len, "%.*g", sig < 1 ? 1 : sig > 15 ? 15 : sig, v);
		return;
	}
	/* a step of 0.2 needs one decimal, 0.05 two (steps are 1, 2 or 5 times a power of ten) */
	int decimals = step >= 1 ? 0 : -exponent10(step * (1 + 1e-9), NULL);
	snprintf(buf, len, "%.*f", decimals > 6 ? 6 : decimals, v);
}

/* A point's value as it is: up to 15 significant digits. */
static void
value_text(double v, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g", v);
}

/* How much of a UTC time is written. */
enum when { W_FULL, W_DATE, W_SECONDS, W_MINUTES, W_DAY };

/* A time in UTC: "2026-11-25 20:25:00", with ".250" when ms and it has milliseconds. */
static void
time_text(int64_t ns, enum when what, bool ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ns / 1000000000LL);
	size_t n = 0;
	if (gmtime_r(&t, &tm) != NULL) {
		/* each format a literal, as -Wformat-nonliteral wants */
		switch (what) {
		case W_FULL: n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm); break;
		case W_DATE: n = strftime(buf, len, "%Y-%m-%d", &tm); break;
		case W_SECONDS: n = strftime(buf, len, "%H:%M:%S", &tm); break;
		case W_MINUTES: n = strftime(buf, len, "%H:%M", &tm); break;
		case W_DAY: n = strftime(buf, len, "%m-%d", &tm); break;
		}
	}
	if (n == 0) {
		snprintf(buf, len, "-");
		return;
	}
	int millis = (int)(ns % 1000000000LL / 1000000);
	if (ms && millis != 0 && n + 5 < len)
		snprintf(buf + n, len - n, ".%03d", millis);
}

/* "{payment}" is "payment", "1" is no unit. */
static void
unit_text(const char *unit, char *buf, size_t len)
{
	size_t n = unit ? strlen(unit) : 0;
	if (n == 0 || strcmp(unit, "1") == 0)
		snprintf(buf, len, "%s", "");
	else if (n > 2 && unit[0] == '{' && unit[n - 1] == '}')
		snprintf(buf, len, "%.*s", (int)(n - 2), unit + 1);
	else
		snprintf(buf, len, "%s", unit);
}

/* ---- series labels ---------------------------------------------------------- */

/*
 * The label of series i: its attributes that differ among the drawn series
 * ("outcome=failed"), all of them when none differ, "all points" without
 * attributes.  Cut to LABEL_MAX code points.  Returns a string to free, or NULL.
 */
static char *
series_label(json_t *metric, size_t i)
{
	json_t *series = json_object_get(metric, "series");
	json_t *attrs = json_object_get(json_array_get(series, i), "attributes");
	size_t n = drawn_series(metric), len = 0, cp = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);
	const char *k;
	json_t *v;
	int pass, written = 0;

	if (f == NULL)
		return NULL;
	for (pass = 0; pass < 2 && written == 0; pass++) {
		json_object_foreach(attrs, k, v)
		{
			bool differs = false;
			for (size_t j = 0; j < n && !differs; j++) {
				json_t *other = json_object_get(
				    json_object_get(json_array_get(series, j), "attributes"), k);
				differs = other == NULL || !json_equal(other, v);
			}
			if (pass == 0 && !differs)
				continue;
			char *d = json_is_string(v) ? NULL
						    : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			fprintf(f, "%s%s=%s", written++ ? ", " : "", k,
				d		       ? d
				: json_string_value(v) ? json_string_value(v)
						       : "?");
			free(d);
		}
	}
	if (written == 0)
		(void)fputs("all points", f); /* a failed write shows in fclose() */
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	/* cut to LABEL_MAX code points, on a code point boundary, with an ellipsis */
	for (len = 0; buf[len] != '\0'; len++) {
		if ((buf[len] & 0xC0) == 0x80 || ++cp <= LABEL_MAX)
			continue;
		char *cut = realloc(buf, len + 4);
		if (cut == NULL) {
			free(buf);
			return NULL;
		}
		memcpy(cut + len, "\xe2\x80\xa6", 4);
		return cut;
	}
	return buf;
}

/* ---- drawing ---------------------------------------------------------------- */

/* An attribute with a number: before is a literal such as " x=\"" (JG_HTML checks it). */
#define NUM_ATTR(h, before, v)                                                                     \
	do {                                                                                       \
		JG_HTML(h, before);                                                                \
		jg_html_textf(h, "%.2f", (double)(v));                                             \
		JG_HTML(h, "\"");                                                                  \
	} while (0)

static void
axes(struct jg_html *h, const struct range *r, const char *unit)
{
	char label[64];

	/* values: horizontal grid lines with their labels left of the plot */
	JG_HTML(h, "<g class=\"axis y\">");
	for (int k = 0; k <= 12; k++) {
		double v = r->v0 + k * r->vstep;
		if (v > r->v1 + r->vstep * 1e-9)
			break;
		double y = y_of(r, v);
		tick_value(v, r->vstep, label, sizeof(label));
		JG_HTML(h, "<line class=\"grid\"");
		NUM_ATTR(h, " x1=\"", CH_X0);
		NUM_ATTR(h, " x2=\"", CH_X1);
		NUM_ATTR(h, " y1=\"", y);
		NUM_ATTR(h, " y2=\"", y);
		JG_HTML(h, "/><text class=\"tick end\"");
		NUM_ATTR(h, " x=\"", CH_X0 - 6);
		NUM_ATTR(h, " y=\"", y + 4);
		JG_HTML(h, ">");
		jg_html_text(h, label);
		JG_HTML(h, "</text>");
	}
	if (unit[0] != '\0') {
		JG_HTML(h, "<text class=\"unit\"");
		NUM_ATTR(h, " x=\"", 4);
		NUM_ATTR(h, " y=\"", 16);
		JG_HTML(h, ">");
		jg_html_text(h, unit);
		JG_HTML(h, "</text>");
	}
	JG_HTML(h, "</g>");

	/* times: vertical grid lines on round UTC times, labels below the plot */
	enum when fmt = r->tstep < 60000000000LL      ? W_SECONDS
			: r->tstep < 86400000000000LL ? W_MINUTES
						      : W_DAY;
	int64_t first = r->t0 % r->tstep == 0 ? r->t0 : (r->t0 / r->tstep + 1) * r->tstep;
	JG_HTML(h, "<g class=\"axis x\">");
	for (int k = 0; k <= 12; k++) {
		int64_t t = first + k * r->tstep;
		if (t > r->t1)
			break;
		double x = x_of(r, t);
		time_text(t, fmt, r->tstep < 1000000000LL, label, sizeof(label));
		JG_HTML(h, "<line class=\"grid\"");
		NUM_ATTR(h, " x1=\"", x);
		NUM_ATTR(h, " x2=\"", x);
		NUM_ATTR(h, " y1=\"", CH_Y0);
		NUM_ATTR(h, " y2=\"", CH_Y1);
		JG_HTML(h, "/><text class=\"tick mid\"");
		NUM_ATTR(h, " x=\"", x);
		NUM_ATTR(h, " y=\"", CH_Y1 + 18);
		JG_HTML(h, ">");
		jg_html_text(h, label);
		JG_HTML(h, "</text>");
	}
	if (r->t0 == r->t1 && first != r->t0) { /* one time: label it */
		time_text(r->t0, W_SECONDS, true, label, sizeof(label));
		JG_HTML(h, "<text class=\"tick mid\"");
		NUM_ATTR(h, " x=\"", x_of(r, r->t0));
		NUM_ATTR(h, " y=\"", CH_Y1 + 18);
		JG_HTML(h, ">");
		jg_html_text(h, label);
		JG_HTML(h, "</text>");
	}
	char from[32], to[32];
	time_text(r->t0, W_DATE, false, from, sizeof(from));
	time_text(r->t1, W_DATE, false, to, sizeof(to));
	JG_HTML(h, "<text class=\"axis-title mid\"");
	NUM_ATTR(h, " x=\"", (CH_X0 + CH_X1) / 2);
	NUM_ATTR(h, " y=\"", CH_H - 8);
	JG_HTML(h, ">");
	if (strcmp(from, to) == 0)
		jg_html_textf(h, "time (UTC), %s", from);
	else
		jg_html_textf(h, "time (UTC), %s to %s", from, to);
	JG_HTML(h, "</text></g>");
}

/* One series: its polylines (a gap where a point has no value), then its circles. */
static void
draw_series(struct jg_html *h, const struct range *r, json_t *series, bool histogram,
	    const char *label, const char *unit, size_t k)
{
	json_t *points = json_object_get(series, "points"), *p;
	size_t j, run = 0;
	char when[48], val[64];

	JG_HTML(h, "<g class=\"series ");
	if (k < JG_WEB_PALETTE)
		jg_html_textf(h, "pal-%zu", k);
	else
		JG_HTML(h, "pal-other");
	JG_HTML(h, "\">");
	json_array_foreach(points, j, p)
	{
		struct point pt = point_of(p, histogram);
		if (!pt.has_t || !pt.has_v) {
			if (run > 0)
				JG_HTML(h, "\"/>");
			run = 0;
			continue;
		}
		/* a run opens its polyline at its first point; a run of one is just a circle */
		struct point next = j + 1 < json_array_size(points)
					? point_of(json_array_get(points, j + 1), histogram)
					: (struct point){0};
		if (run == 0 && !(next.has_t && next.has_v))
			continue;
		if (run++ == 0)
			JG_HTML(h, "<polyline class=\"line\" points=\"");
		else
			JG_HTML(h, " ");
		jg_html_textf(h, "%.2f,%.2f", x_of(r, pt.t), y_of(r, pt.v));
	}
	if (run > 0)
		JG_HTML(h, "\"/>");
	if (json_array_size(points) <= JG_WEB_CHART_MAX_DOTS) {
		json_array_foreach(points, j, p)
		{
			struct point pt = point_of(p, histogram);
			if (!pt.has_t || !pt.has_v)
				continue;
			time_text(pt.t, W_FULL, true, when, sizeof(when));
			value_text(pt.v, val, sizeof(val));
			JG_HTML(h, "<circle class=\"pt\" r=\"3\"");
			NUM_ATTR(h, " cx=\"", x_of(r, pt.t));
			NUM_ATTR(h, " cy=\"", y_of(r, pt.v));
			JG_HTML(h, "><title>");
			jg_html_textf(h, "%s UTC, %s: %s%s%s", when, label, val, unit[0] ? " " : "",
				      unit);
			JG_HTML(h, "</title></circle>");
		}
	}
	JG_HTML(h, "</g>");
}

static void
points_table(struct jg_html *h, json_t *metric, char **labels, const char *unit,
	     const struct range *r)
{
	bool histogram = is_histogram(metric);
	size_t i, j, rows = 0;
	json_t *s, *p;
	char when[48], val[64];

	JG_HTML(h, "<details class=\"points\"><summary>");
	jg_html_textf(h, "Table of the %zu point%s", r->points, r->points == 1 ? "" : "s");
	JG_HTML(h, "</summary><div class=\"table-wrap\"><table><caption>");
	jg_html_textf(h, "Points of %s", json_string_value(json_object_get(metric, "name")));
	if (unit[0])
		jg_html_textf(h, " (%s)", unit);
	if (histogram)
		JG_HTML(h, ", each the mean of its histogram (sum / count)");
	JG_HTML(h, ", by series and time (UTC)");
	if (r->points > JG_WEB_CHART_MAX_ROWS)
		jg_html_textf(h, "; the first %d of %zu", JG_WEB_CHART_MAX_ROWS, r->points);
	JG_HTML(h, "</caption><thead><tr><th scope=\"col\">Time (UTC)</th>"
		   "<th scope=\"col\">Series</th><th scope=\"col\">");
	if (unit[0])
		jg_html_textf(h, "Value (%s)", unit);
	else
		JG_HTML(h, "Value");
	JG_HTML(h, "</th></tr></thead><tbody>");
	json_array_foreach(json_object_get(metric, "series"), i, s)
	{
		if (i == JG_WEB_CHART_MAX_SERIES)
			break;
		json_array_foreach(json_object_get(s, "points"), j, p)
		{
			if (rows++ == JG_WEB_CHART_MAX_ROWS)
				goto out;
			struct point pt = point_of(p, histogram);
			if (pt.has_t)
				time_text(pt.t, W_FULL, true, when, sizeof(when));
			else
				snprintf(when, sizeof(when), "-");
			if (pt.has_v)
				value_text(pt.v, val, sizeof(val));
			else
				snprintf(val, sizeof(val), "no value");
			JG_HTML(h, "<tr><td>");
			jg_html_text(h, when);
			JG_HTML(h, "</td><td>");
			jg_html_text(h, labels[i]);
			JG_HTML(h, "</td><td class=\"num\">");
			jg_html_text(h, val);
			JG_HTML(h, "</td></tr>");
		}
	}
out:
	JG_HTML(h, "</tbody></table></div></details>");
}

static int
chart(struct jg_html *h, json_t *metric)
{
	const char *name = json_string_value(json_object_get(metric, "name"));
	const char *desc = json_string_value(json_object_get(metric, "description"));
	size_t nseries = json_array_size(json_object_get(metric, "series"));
	size_t n = drawn_series(metric);
	char *labels[JG_WEB_CHART_MAX_SERIES] = {0}, unit[128], from[48], to[48];
	struct range r;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if ((labels[i] = series_label(metric, i)) == NULL) {
			rc = JG_ENOMEM;
			goto out;
		}
	unit_text(json_string_value(json_object_get(metric, "unit")), unit, sizeof(unit));
	measure(metric, &r);

	JG_HTML(h, "<figure class=\"chart\"><figcaption><strong>");
	jg_html_text(h, name);
	JG_HTML(h, "</strong>");
	if (unit[0])
		jg_html_textf(h, " (%s)", unit);
	jg_html_textf(h, ", %s", json_string_value(json_object_get(metric, "kind")));
	if (desc && desc[0]) {
		JG_HTML(h, ": ");
		jg_html_text(h, desc);
	}
	if (is_histogram(metric))
		JG_HTML(h, "; each point is the mean of its histogram (sum / count)");
	if (nseries > n)
		jg_html_textf(h, "; the first %zu of %zu series are drawn", n, nseries);
	for (size_t i = 0; i < n; i++)
		if (json_array_size(json_object_get(
			json_array_get(json_object_get(metric, "series"), i), "points")) >
		    JG_WEB_CHART_MAX_DOTS) {
			jg_html_textf(h,
				      "; a series of more than %d points is drawn without "
				      "markers (the table has the values)",
				      JG_WEB_CHART_MAX_DOTS);
			break;
		}
	JG_HTML(h, "</figcaption>");
	if (n == 0) {
		JG_HTML(h, "<p class=\"empty\">No series in this range.</p></figure>");
		goto out;
	}
	JG_HTML(h, "<ul class=\"legend\">");
	for (size_t i = 0; i < n; i++) {
		JG_HTML(h, "<li class=\"");
		if (i < JG_WEB_PALETTE)
			jg_html_textf(h, "pal-%zu", i);
		else
			JG_HTML(h, "pal-other");
		JG_HTML(h, "\"><span class=\"swatch\"></span>");
		jg_html_text(h, labels[i]);
		JG_HTML(h, "</li>");
	}
	JG_HTML(h, "</ul>");
	if (r.drawn == 0) {
		JG_HTML(h, "<p class=\"empty\">No point with a value in this range.</p>");
	} else {
		time_text(r.t0, W_FULL, false, from, sizeof(from));
		time_text(r.t1, W_FULL, false, to, sizeof(to));
		JG_HTML(h, "<div class=\"svg-wrap\"><svg class=\"chart\" role=\"img\" "
			   "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
		jg_html_textf(h, "%d %d", CH_W, CH_H);
		JG_HTML(h, "\" width=\"");
		jg_html_textf(h, "%d", CH_W);
		JG_HTML(h, "\" height=\"");
		jg_html_textf(h, "%d", CH_H);
		JG_HTML(h, "\" aria-label=\"");
		jg_html_textf(h, "Line chart of %s%s%s%s, %zu series, %s to %s UTC", name,
			      unit[0] ? " (" : "", unit, unit[0] ? ")" : "", n, from, to);
		JG_HTML(h, "\"><title>");
		jg_html_textf(h, "Line chart of %s%s%s%s, %zu series, %s to %s UTC", name,
			      unit[0] ? " (" : "", unit, unit[0] ? ")" : "", n, from, to);
		JG_HTML(h, "</title>");
		axes(h, &r, unit);
		for (size_t i = 0; i < n; i++)
			draw_series(h, &r, json_array_get(json_object_get(metric, "series"), i),
				    is_histogram(metric), labels[i], unit, i);
		JG_HTML(h, "</svg></div>");
	}
	points_table(h, metric, labels, unit, &r);
	JG_HTML(h, "</figure>");
out:
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	return rc;
}

int
jg_web_metric_charts(struct jg_html *h, json_t *reply)
{
	json_t *metrics = json_object_get(reply, "metrics"), *m;
	size_t i;
	int rc = 0;

	if (!json_is_array(metrics))
		return JG_EINVAL;
	json_array_foreach(metrics, i, m)
	{
		if (!json_is_array(json_object_get(m, "series")))
			continue; /* the list of names: no points to draw */
		if ((rc = chart(h, m)) != 0)
			break;
	}
	return rc != 0 ? rc : h->failed ? JG_ENOMEM : 0;
}
