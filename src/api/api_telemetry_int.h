/*
 * api_telemetry_int.h - what the guarded telemetry and probe readers share
 * (api_logs.c, api_traces.c, api_metrics.c, api_probes.c): parsing their
 * arguments.
 * Internal to those files; the reading is the telemetry module's.
 */
#ifndef JITGATE_API_TELEMETRY_INT_H
#define JITGATE_API_TELEMETRY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "jitgate/api_read.h"
#include "jitgate/http.h"

/*
 * Reads ?since= and ?until= (telemetry.h: Unix seconds, RFC 3339, or a
 * duration ago) into Unix ns; absent: 0 and INT64_MAX.  A bad value or
 * since >= until fills reply with a 400 and returns non-zero.
 */
int jg_tq_window(const struct jg_http_request *req, struct jg_http_reply *reply, int64_t *since,
		 int64_t *until);
/* jg_tq_window() that fills *e (api_read.h) instead of a reply. */
int jg_tq_window_e(const struct jg_http_request *req, struct jg_api_error *e, int64_t *since,
		   int64_t *until);

/* Reads a duration argument (250ms, 2s, 5m, ...) into ns; absent: def. 400 on error. */
int jg_tq_duration(const struct jg_http_request *req, struct jg_http_reply *reply, const char *name,
		   int64_t def, int64_t *out);
/* jg_tq_duration() that fills *e (api_read.h) instead of a reply. */
int jg_tq_duration_e(const struct jg_http_request *req, struct jg_api_error *e, const char *name,
		     int64_t def, int64_t *out);

/* Reads a boolean argument ("true"/"false"/"1"/"0"); absent: false. 400 on error. */
int jg_tq_bool(const struct jg_http_request *req, struct jg_http_reply *reply, const char *name,
	       bool *out);
/* jg_tq_bool() that fills *e (api_read.h) instead of a reply. */
int jg_tq_bool_e(const struct jg_http_request *req, struct jg_api_error *e, const char *name,
		 bool *out);

/*
 * jg_http_query_u64() that fills *e (api_read.h) instead of a reply: ?name=
 * as a decimal 0..max without leading zeros; absent: def.  The same 400.
 */
int jg_tq_u64_e(const struct jg_http_request *req, struct jg_api_error *e, const char *name,
		uint64_t def, uint64_t max, uint64_t *out);

/* True when s is 32 hex digits; out gets it lower-cased. */
bool jg_tq_trace_id(const char *s, char out[33]);

#endif
