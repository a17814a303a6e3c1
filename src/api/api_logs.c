/*
 * api_logs.c - GET /v1/services/{svc}/logs behind the guard (read-logs).
 *
 *   ?since=&until=   a window (Unix seconds, RFC 3339, or "15m" ago)
 *   ?level=          the lowest level shown: trace|debug|info|warn|error|fatal
 *   ?trace_id=       32 hex digits
 *   ?q=              full text: every word must occur; no query syntax is exposed
 *   ?limit=&cursor=  pages of 1-1000, newest first; next_cursor continues
 *
 * The arguments are checked here, the guard records the read (with the
 * query's keyed marker, pii.h, never the query itself: an unkeyed hash of a
 * few words is reversed by hashing a dictionary) before anything is read,
 * and jg_telemetry_logs_query() reads the page (search, paging, the cursor
 * and redaction for a reader without read-pii are the telemetry module's).
 * All of it is jg_api_logs_read() (api_read.h), which the logs page of the
 * browser (web_logs.c) calls too with the token kept for its session: the
 * handler only renders its result or its error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/api_read.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/parse.h"
#include "jitgate/pii.h"
#include "jitgate/telemetry.h"

#define DEFAULT_LIMIT 100

/* The lowest severity number of a level name; -1 for an unknown name. */
static int
level_floor(const char *level)
{
	static const char *const names[] = {"trace", "debug", "info", "warn", "error", "fatal"};
	for (int i = 0; i < 6; i++)
		if (strcmp(level, names[i]) == 0)
			return 1 + 4 * i;
	return -1;
}

/* ?limit=: 1..JG_TELEMETRY_LOGS_MAX, DEFAULT_LIMIT when absent (one spelling per value). */
static int
limit_arg(const struct jg_http_request *req, struct jg_api_error *e, uint64_t *limit)
{
	const char *v = jg_http_query(req, "limit");

	*limit = DEFAULT_LIMIT;
	if (v != NULL && (jg_parse_u64(v, 0, JG_TELEMETRY_LOGS_MAX, limit) != 0 ||
			  (v[0] == '0' && v[1] != '\0'))) {
		jg_api_error_set(e, 400, "bad_request",
				 "query argument 'limit' must be a decimal integer from 0 to %llu",
				 (unsigned long long)JG_TELEMETRY_LOGS_MAX);
		return JG_EINVAL;
	}
	if (*limit == 0) {
		jg_api_error_set(e, 400, "bad_request", "'limit' must be 1 to %d",
				 JG_TELEMETRY_LOGS_MAX);
		return JG_EINVAL;
	}
	return 0;
}

int
jg_api_logs_read(struct jg_http_request *req, const char *service, const char *authorization,
		 json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	const char *level = jg_http_query(req, "level"), *tid_arg = jg_http_query(req, "trace_id");
	const char *cursor = jg_http_query(req, "cursor");
	struct jg_telemetry_logs_query q = {.service = service,
					    .q = jg_http_query(req, "q"),
					    .after = {INT64_MAX, INT64_MAX},
					    .fields = app->cfg->redaction_sensitive_fields,
					    .cursor_keys = app->cursor_keys};
	uint64_t limit;
	char tid[33], qmark[JG_PII_MARK_SIZE], next[JG_TELEMETRY_CURSOR_MAX];
	struct jg_guarded g;
	struct jg_guard_refusal no;
	int rc;

	*result = NULL;
	memset(e, 0, sizeof(*e));
	if ((rc = jg_tq_window_e(req, e, &q.since, &q.until)) != 0 ||
	    (rc = limit_arg(req, e, &limit)) != 0)
		return rc;
	q.limit = (size_t)limit;
	if (level != NULL && (q.floor_severity = level_floor(level)) < 0) {
		jg_api_error_set(e, 400, "bad_request",
				 "'level' must be trace, debug, info, warn, error or fatal");
		return JG_EINVAL;
	}
	if (tid_arg != NULL && !jg_tq_trace_id(tid_arg, tid)) {
		jg_api_error_set(e, 400, "bad_request", "'trace_id' must be 32 hex digits");
		return JG_EINVAL;
	}
	q.trace_id = tid_arg ? tid : NULL;
	if (q.q != NULL && !jg_telemetry_search_valid(q.q)) {
		jg_api_error_set(e, 400, "bad_request",
				 "'q' must be 1 to %d words of UTF-8 (at most %d bytes) with "
				 "letters or digits",
				 JG_TELEMETRY_Q_MAX_TERMS, JG_TELEMETRY_Q_MAX_BYTES);
		return JG_EINVAL;
	}
	if (cursor != NULL &&
	    jg_telemetry_logs_cursor_parse(app->cursor_keys, cursor, &q.after) != 0) {
		jg_api_error_set(e, 400, "bad_request",
				 "'cursor' is not a cursor this endpoint returned");
		return JG_EINVAL;
	}
	json_t *params = json_pack("{s:I,s:I,s:I}", "since", (json_int_t)q.since, "until",
				   (json_int_t)q.until, "limit", (json_int_t)limit);
	if (params == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	if (level)
		json_object_set_new(params, "level", json_string(level));
	if (tid_arg)
		json_object_set_new(params, "trace_id", json_string(tid));
	if (q.q) {
		/* the words searched for may be personal data: the entry keeps their marker */
		if (jg_pii_mark(app->pii_keys, 0, "query", q.q, strlen(q.q), qmark) != 0) {
			json_decref(params);
			jg_api_error_set(e, 503, "unavailable",
					 "the read cannot be recorded; nothing was read");
			return JG_EUNAVAIL;
		}
		json_object_set_new(params, "q", json_string(qmark));
	}
	if (cursor)
		json_object_set_new(params, "cursor", json_string(cursor));
	rc = jg_guard_authorized(&app->guard, req, authorization, service, "read-logs", "logs.read",
				 params, &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}

	json_t *logs = NULL;
	q.redact = !g.has_pii;
	q.received_since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_LOGS, (int64_t)time(NULL));
	rc = jg_telemetry_logs_query(app->telemetry, &q, &logs, next);
	if (rc == JG_EUNAVAIL) {
		jg_api_error_set(e, 503, "unavailable", "the telemetry store is unavailable");
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "the logs cannot be read now");
		return JG_EUNAVAIL;
	}
	*result = json_pack("{s:s,s:b,s:o,s:s?}", "service", service, "redacted", q.redact, "logs",
			    logs, "next_cursor", next[0] ? next : NULL);
	if (*result == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	return 0;
}

static void
handle_logs(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *result = NULL;
	int rc = jg_api_logs_read(req, jg_http_param(req, "svc"),
				  jg_http_header(req, "Authorization"), &result, &e);

	if (rc == JG_EDEFERRED)
		return;
	if (rc != 0) {
		jg_api_error_reply(reply, &e);
		return;
	}
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200, result);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/logs", handle_logs, NULL, 0},
};
const struct jg_route_table jg_api_logs_routes = {routes, sizeof(routes) / sizeof(routes[0])};
