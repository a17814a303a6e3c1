/*
 * telemetry_int.h - what the files of the telemetry module share (not a
 * public interface: other modules use include/jitgate/telemetry.h):
 *
 *   telemetry.c            open and migrate the telemetry database
 *   telemetry_text.c       redaction of records and spans, the search text
 *   telemetry_store.c      storing a converted batch in one transaction
 *   telemetry_retention.c  retention sweeps and the sweeper thread
 *   telemetry_time.c       query times and durations; times as shown
 *   telemetry_logs.c       the logs reader (search, paging, its cursor)
 *   telemetry_traces.c     one trace, and the trace search
 *   telemetry_metrics.c    the metric list and one metric's series
 */
#ifndef JITGATE_TELEMETRY_INT_H
#define JITGATE_TELEMETRY_INT_H

#include <stdint.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"

#define JG_TELEMETRY_TIME_TEXT 40

/* telemetry_time.c: Unix ns as RFC 3339 UTC with nanoseconds ("2026-11-25T10:00:00.123456789Z"). */
void jg_telemetry_time_text(int64_t ns, char out[JG_TELEMETRY_TIME_TEXT]);

/* telemetry_time.c: Unix ns as a decimal string (OTLP JSON style: exact in every JSON reader). */
json_t *jg_telemetry_ns_string(int64_t ns);

/*
 * telemetry_text.c: redacts holder (any JSON) for a reader without read-pii:
 * sensitive keys of fields, personal data in strings; *found (may be NULL)
 * counts what was redacted.  0 or a JG_E* code (then holder may be half
 * redacted and must not be shown).
 */
int jg_telemetry_redact_json(json_t *holder, char *const *fields, unsigned *found);

#endif
