/* include/jitgate/trace_analysis.h */
#ifndef JITGATE_TRACE_ANALYSIS_H
#define JITGATE_TRACE_ANALYSIS_H
#include <jansson.h>
#include <stdbool.h>
/* spans: JSON array of span objects, each {"trace_id","span_id","parent_span_id" (string or null),
 *   "service","service_version" (string or null),"instance" (service.instance.id, else host.name, else service),
 *   "name","kind" (string),"start_ns","end_ns" (integers, Unix ns),"status" ("ok"|"error"|"unset"),
 *   "error" (status message or null),"error_code" (string or null),"attributes" (object),"events" (array)}.
 * covered(service, ctx) says whether the grant covers a service: spans of other services keep service, name,
 *   kind, status, timing, error_code and ids but their attributes, events and error message are withheld
 *   ("withheld": true).  adjust_skew applies the per-instance clock offsets to the returned tree.
 * *out (new reference): {"trace_id", "spans": [root span objects each with "children": [...]], "analysis": {
 *   "root_causes": [...], "version_skew": [...], "clock_skew": [...], "fragments": [...], "affected_services": [...]}}.
 * Returns 0, JG_EINVAL (malformed spans, *why set), JG_ETOOBIG (more than JG_TRACE_MAX_SPANS spans) or JG_ENOMEM. */
#define JG_TRACE_MAX_SPANS 10000
int jg_trace_analyze(json_t *spans, bool (*covered)(const char *service, void *ctx), void *ctx,
                     bool adjust_skew, json_t **out, char *why, size_t whylen);
#endif
