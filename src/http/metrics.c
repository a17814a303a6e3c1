/*
 * metrics.c - Prometheus counters and histograms for HTTP requests.
 *
 * A series is (method, route pattern, status).  Routes are bounded by the
 * routing table (plus "unmatched"), methods by the router and statuses by
 * what jitgate sends, so a fixed-size table suffices; a series beyond it is
 * folded into a single overflow series rather than dropped.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAX_SERIES 512
#define NBUCKETS   12

static const double bounds[NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

struct series {
	char method[8];
	const char *route;
	int status;
	unsigned long long count;
	double sum;
	unsigned long long buckets[NBUCKETS]; /* non-cumulative; summed on render */
};

struct jg_metrics {
	pthread_mutex_t lock;
	int n;
	struct series s[MAX_SERIES];
};

struct jg_metrics *
jg_metrics_new(void)
{
	struct jg_metrics *m = calloc(1, sizeof(*m));
	if (m != NULL)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
jg_metrics_free(struct jg_metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void
jg_metrics_observe(struct jg_metrics *m, const char *method, const char *route, int status,
		   double seconds)
{
	struct series *s = NULL;

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < m->n; i++) {
		if (m->s[i].status == status && m->s[i].route == route &&
		    strcmp(m->s[i].method, method) == 0) {
			s = &m->s[i];
			break;
		}
	}
	if (s == NULL) {
		s = &m->s[m->n < MAX_SERIES ? m->n++ : MAX_SERIES - 1];
		if (s->count == 0) {
			snprintf(s->method, sizeof(s->method), "%s", method);
			s->route = route;
			s->status = status;
		}
	}
	s->count++;
	s->sum += seconds;
	for (int b = 0; b < NBUCKETS; b++) {
		if (seconds <= bounds[b]) {
			s->buckets[b]++;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* Appends to a growing buffer; returns -1 when out of memory. */
static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = *cap * 2 + (size_t)n;
		char *grown = realloc(*buf, ncap);
		if (grown == NULL)
			return -1;
		*buf = grown;
		*cap = ncap;
	}
}

char *
jg_metrics_render(struct jg_metrics *m)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int bad = 0;

	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	pthread_mutex_lock(&m->lock);
	bad |= appendf(&buf, &len, &cap,
		       "# HELP jitgate_http_requests_total HTTP requests by route and status.\n"
		       "# TYPE jitgate_http_requests_total counter\n");
	for (int i = 0; i < m->n && !bad; i++)
		bad |=
		    appendf(&buf, &len, &cap,
			    "jitgate_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} "
			    "%llu\n",
			    m->s[i].method, m->s[i].route, m->s[i].status, m->s[i].count);
	bad |= appendf(&buf, &len, &cap,
		       "# HELP jitgate_http_request_duration_seconds Time to answer a request.\n"
		       "# TYPE jitgate_http_request_duration_seconds histogram\n");
	for (int i = 0; i < m->n && !bad; i++) {
		const struct series *s = &m->s[i];
		unsigned long long cum = 0;
		char labels[256];
		snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%d\"",
			 s->method, s->route, s->status);
		for (int b = 0; b < NBUCKETS && !bad; b++) {
			cum += s->buckets[b];
			bad |= appendf(&buf, &len, &cap,
				       "jitgate_http_request_duration_seconds_bucket{%s,le=\"%g\"} "
				       "%llu\n",
				       labels, bounds[b], cum);
		}
		bad |= appendf(&buf, &len, &cap,
			       "jitgate_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
			       "jitgate_http_request_duration_seconds_sum{%s} %.6f\n"
			       "jitgate_http_request_duration_seconds_count{%s} %llu\n",
			       labels, s->count, labels, s->sum, labels, s->count);
	}
	pthread_mutex_unlock(&m->lock);
	if (bad) {
		free(buf);
		return NULL;
	}
	return buf;
}
