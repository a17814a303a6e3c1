/*
 * trace_analysis.c - PLACEHOLDER for the trace analysis module.
 *
 * The real jg_trace_analyze() (root causes, version skew, clock skew,
 * fragments, affected services) is written on the trace-analysis branch and
 * replaces this file when merged.  This stand-in only builds the tree
 * (children under their parents; spans whose parent is missing become
 * roots), withholds what the grant does not cover, and returns empty
 * analysis arrays, so the data plane can be built and tested against the
 * interface in trace_analysis.h.  Quadratic on purpose: it is not the
 * module that ships.
 */
#include <stdio.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/trace_analysis.h"

static json_t *
node_of(json_t *span, bool (*covered)(const char *, void *), void *ctx)
{
	json_t *n = json_deep_copy(span);
	if (n == NULL)
		return NULL;
	if (!covered(json_string_value(json_object_get(span, "service")), ctx)) {
		json_object_del(n, "attributes");
		json_object_del(n, "events");
		json_object_set_new(n, "error", json_null());
		json_object_set_new(n, "withheld", json_true());
	}
	json_object_set_new(n, "children", json_array());
	return n;
}

int
jg_trace_analyze(json_t *spans, bool (*covered)(const char *service, void *ctx), void *ctx,
		 bool adjust_skew, json_t **out, char *why, size_t whylen)
{
	size_t n = json_array_size(spans), i, j;
	(void)adjust_skew;

	*out = NULL;
	if (!json_is_array(spans) || n == 0) {
		snprintf(why, whylen, "no spans");
		return JG_EINVAL;
	}
	if (n > JG_TRACE_MAX_SPANS) {
		snprintf(why, whylen, "more than %d spans", JG_TRACE_MAX_SPANS);
		return JG_ETOOBIG;
	}
	json_t *nodes = json_array(), *roots = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(nodes, node_of(json_array_get(spans, i), covered, ctx));
	for (i = 0; i < n; i++) {
		json_t *node = json_array_get(nodes, i);
		const char *parent = json_string_value(json_object_get(node, "parent_span_id"));
		json_t *home = roots;
		for (j = 0; parent && j < n; j++) {
			const char *id =
			    json_string_value(json_object_get(json_array_get(nodes, j), "span_id"));
			if (j != i && id && strcmp(id, parent) == 0) {
				home = json_object_get(json_array_get(nodes, j), "children");
				break;
			}
		}
		json_array_append(home, node);
	}
	*out = json_pack("{s:O,s:o,s:{s:[],s:[],s:[],s:[],s:[]}}", "trace_id",
			 json_object_get(json_array_get(spans, 0), "trace_id"), "spans", roots,
			 "analysis", "root_causes", "version_skew", "clock_skew", "fragments",
			 "affected_services");
	json_decref(nodes);
	return *out ? 0 : JG_ENOMEM;
}
