/*
 * api_telemetry_common.c - helpers of the guarded telemetry and probe
 * readers (api_telemetry_int.h): each argument parsed once, the _e form
 * filling a jg_api_error (api_read.h) for the reads the pages share, the
 * other writing the same 400 as a reply.
 */
#include <string.h>

#include "api_telemetry_int.h"
#include "jitgate/clock.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/telemetry.h"

static int
time_arg(const struct jg_http_request *req, struct jg_api_error *e, const char *name, int64_t def,
	 int64_t *out)
{
	const char *v = jg_http_query(req, name);
	*out = def;
	if (v == NULL)
		return 0;
	if (jg_telemetry_parse_time(v, req->received_at ? req->received_at : jg_clock_now(), out) !=
	    0) {
		jg_api_error_set(e, 400, "bad_request",
				 "'%s' must be Unix seconds, RFC 3339 (2026-11-25T10:00:00Z) or "
				 "a duration ago (15m, 2h, 7d)",
				 name);
		return JG_EINVAL;
	}
	return 0;
}

int
jg_tq_window_e(const struct jg_http_request *req, struct jg_api_error *e, int64_t *since,
	       int64_t *until)
{
	if (time_arg(req, e, "since", 0, since) != 0 ||
	    time_arg(req, e, "until", INT64_MAX, until) != 0)
		return JG_EINVAL;
	if (*since >= *until) {
		jg_api_error_set(e, 400, "bad_request", "'since' must be before 'until'");
		return JG_EINVAL;
	}
	return 0;
}

int
jg_tq_window(const struct jg_http_request *req, struct jg_http_reply *reply, int64_t *since,
	     int64_t *until)
{
	struct jg_api_error e;
	int rc = jg_tq_window_e(req, &e, since, until);
	if (rc != 0)
		jg_api_error_reply(reply, &e);
	return rc;
}

int
jg_tq_duration_e(const struct jg_http_request *req, struct jg_api_error *e, const char *name,
		 int64_t def, int64_t *out)
{
	const char *v = jg_http_query(req, name);
	*out = def;
	if (v == NULL)
		return 0;
	if (jg_telemetry_parse_duration(v, out) != 0) {
		jg_api_error_set(e, 400, "bad_request",
				 "'%s' must be a duration such as 250ms, 2s, 5m, 1h (a bare "
				 "number is milliseconds)",
				 name);
		return JG_EINVAL;
	}
	return 0;
}

int
jg_tq_duration(const struct jg_http_request *req, struct jg_http_reply *reply, const char *name,
	       int64_t def, int64_t *out)
{
	struct jg_api_error e;
	int rc = jg_tq_duration_e(req, &e, name, def, out);
	if (rc != 0)
		jg_api_error_reply(reply, &e);
	return rc;
}

int
jg_tq_bool_e(const struct jg_http_request *req, struct jg_api_error *e, const char *name, bool *out)
{
	const char *v = jg_http_query(req, name);
	*out = false;
	if (v == NULL || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
		return 0;
	}
	jg_api_error_set(e, 400, "bad_request", "'%s' must be true or false", name);
	return JG_EINVAL;
}

int
jg_tq_bool(const struct jg_http_request *req, struct jg_http_reply *reply, const char *name,
	   bool *out)
{
	struct jg_api_error e;
	int rc = jg_tq_bool_e(req, &e, name, out);
	if (rc != 0)
		jg_api_error_reply(reply, &e);
	return rc;
}

int
jg_tq_u64_e(const struct jg_http_request *req, struct jg_api_error *e, const char *name,
	    uint64_t def, uint64_t max, uint64_t *out)
{
	int rc = jg_http_query_u64_value(req, name, def, max, out);

	if (rc != 0)
		jg_api_error_set(e, 400, "bad_request",
				 "query argument '%s' must be a decimal integer from 0 to %llu",
				 name, (unsigned long long)max);
	return rc;
}

bool
jg_tq_trace_id(const char *s, char out[33])
{
	return s != NULL && strlen(s) == 32 && jg_hex_lower(s, 32, out);
}
