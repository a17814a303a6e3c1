/*
 * metrics.h - request counters and latency histograms per route and status.
 *
 * Labels are the route pattern (never the raw path, so an attacker cannot
 * grow the series) and the status code.  Rendered in the Prometheus text
 * format.  Thread-safe.
 */
#ifndef JITGATE_METRICS_H
#define JITGATE_METRICS_H

struct jg_metrics;

struct jg_metrics *jg_metrics_new(void);
void jg_metrics_free(struct jg_metrics *m);

/* Records one finished request.  route must be a long-lived string. */
void jg_metrics_observe(struct jg_metrics *m, const char *method, const char *route, int status,
			double seconds);

/* The Prometheus text exposition; the caller frees it.  NULL when out of memory. */
char *jg_metrics_render(struct jg_metrics *m);

#endif
