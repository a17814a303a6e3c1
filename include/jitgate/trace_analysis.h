/*
 * trace_analysis.h - one trace's spans as a tree, with an analysis.
 *
 * Pure: no I/O, no clock, no state outside the call (thread-safe).  The
 * caller (the traces endpoint) loads a trace's spans, calls
 * jg_trace_analyze() and sends *out.  The algorithm and the output format,
 * field by field with an example, are in docs/traces.md; in short:
 *
 *   tree       children sorted by start_ns, ties by span_id; roots are the
 *              spans without a parent (by start_ns, span_id), then the
 *              fragment roots (likewise), then detached spans (Depth,
 *              below).  Every span gets duration_ms.
 *   root_causes  where failures started: a failed span none of whose
 *              children failed is its own cause; any other failed span is
 *              explained by the cause of its earliest-ending failed child.
 *              One entry per cause with the failed spans it explains, from
 *              the cause up to where the failure surfaced.
 *   version_skew services seen at two or more service_version values.
 *   clock_skew per service instance, the smallest shift that puts its
 *              spans inside their parents (instances in tree order, a
 *              parent's instance corrected first; an instance with a span
 *              without a parent is never shifted; conflicting constraints
 *              -> the shift that minimises the largest violation), and
 *              every child outside its parent, before and after shifting.
 *   fragments  spans whose parent is missing, and the span at which a
 *              cycle of parent links is cut (the one with the smallest
 *              span_id); each is the root of its own subtree.
 *   affected_services  services with a failed span, sorted.
 *
 * The analysis always uses the timestamps as given; adjust_skew changes
 * only the tree (start_ns/end_ns shifted, clock_offset_ns added, children
 * re-sorted by the shifted start).  Input limits: ids, service, instance
 * and service_version are non-empty strings without NUL bytes; all spans
 * share one trace_id; 0 <= start_ns <= end_ns < 2^62; every key listed
 * below is required (null where allowed); other keys are ignored and not
 * copied.  *out shares nothing with spans, so the caller may redact its
 * attributes in place (span by span: the tree is deeper than
 * JG_REDACT_MAX_DEPTH allows for a whole document).
 *
 * Depth.  jansson dumps and frees recursively, two JSON levels per span
 * level, so the returned tree never nests more than JG_TRACE_MAX_DEPTH
 * spans: a span that deep below its root is moved to the top-level "spans"
 * list (after the roots) with "detached": true and its parent_span_id
 * intact, and its own subtree counts from there.  Spans are never dropped.
 */
#ifndef JITGATE_TRACE_ANALYSIS_H
#define JITGATE_TRACE_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * spans: JSON array of span objects, each {"trace_id", "span_id",
 *   "parent_span_id" (string or null), "service", "service_version" (string
 *   or null), "instance" (service.instance.id, else host.name, else
 *   service), "name", "kind" (string), "start_ns", "end_ns" (integers, Unix
 *   ns), "status" ("ok"|"error"|"unset"), "error" (status message or null),
 *   "error_code" (string or null), "attributes" (object), "events" (array)}.
 * covered(service, ctx) says whether the grant covers a service: spans of
 *   other services keep service, name, kind, status, timing, error_code and
 *   ids but their attributes, events and error message are withheld
 *   ("withheld": true).  adjust_skew applies the per-instance clock offsets
 *   to the returned tree.
 * *out (new reference): {"trace_id", "spans": [root span objects each with
 *   "children": [...]], "analysis": {"root_causes": [...], "version_skew":
 *   [...], "clock_skew": [...], "fragments": [...], "affected_services":
 *   [...]}}.
 * Returns 0, JG_EINVAL (malformed spans, *why set), JG_ETOOBIG (more than
 * JG_TRACE_MAX_SPANS spans) or JG_ENOMEM.
 */
#define JG_TRACE_MAX_SPANS 10000
#define JG_TRACE_MAX_DEPTH 256 /* span levels nested in *out; deeper spans are detached */

/*
 * Also: covered must not be NULL (JG_EINVAL); it is called once per
 * distinct service, in byte order of the names.  Withheld keys ("error",
 * "attributes", "events") are left out of the span and root cause objects,
 * which carry "withheld": true instead.  An empty array gives trace_id
 * null and empty lists.  why (may be NULL) gets a NUL-terminated reason
 * naming the span by index, never by content, on JG_EINVAL and
 * JG_ETOOBIG.  On failure *out is NULL.  spans is borrowed and not
 * modified; the caller frees *out with json_decref().
 */
int jg_trace_analyze(json_t *spans, bool (*covered)(const char *service, void *ctx), void *ctx,
		     bool adjust_skew, json_t **out, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
