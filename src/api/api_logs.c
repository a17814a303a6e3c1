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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
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

static void
handle_logs(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc");
	const char *level = jg_http_query(req, "level"), *tid_arg = jg_http_query(req, "trace_id");
	const char *cursor = jg_http_query(req, "cursor");
	struct jg_telemetry_logs_query q = {.service = svc,
					    .q = jg_http_query(req, "q"),
					    .after = {INT64_MAX, INT64_MAX},
					    .fields = app->cfg->redaction_sensitive_fields,
					    .cursor_keys = app->cursor_keys};
	uint64_t limit;
	char tid[33], qmark[JG_PII_MARK_SIZE], next[JG_TELEMETRY_CURSOR_MAX];
	struct jg_guarded g;

	if (jg_tq_window(req, reply, &q.since, &q.until) != 0 ||
	    jg_http_query_u64(req, reply, "limit", DEFAULT_LIMIT, JG_TELEMETRY_LOGS_MAX, &limit) !=
		0)
		return;
	if (limit == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'limit' must be 1 to %d",
				    JG_TELEMETRY_LOGS_MAX);
		return;
	}
	q.limit = (size_t)limit;
	if (level != NULL && (q.floor_severity = level_floor(level)) < 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'level' must be trace, debug, info, warn, error or fatal");
		return;
	}
	if (tid_arg != NULL && !jg_tq_trace_id(tid_arg, tid)) {
		jg_http_reply_error(reply, 400, "bad_request", "'trace_id' must be 32 hex digits");
		return;
	}
	q.trace_id = tid_arg ? tid : NULL;
	if (q.q != NULL && !jg_telemetry_search_valid(q.q)) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'q' must be 1 to %d words of UTF-8 (at most %d bytes) with "
				    "letters or digits",
				    JG_TELEMETRY_Q_MAX_TERMS, JG_TELEMETRY_Q_MAX_BYTES);
		return;
	}
	if (cursor != NULL &&
	    jg_telemetry_logs_cursor_parse(app->cursor_keys, cursor, &q.after) != 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'cursor' is not a cursor this endpoint returned");
		return;
	}
	json_t *params = json_pack("{s:I,s:I,s:I}", "since", (json_int_t)q.since, "until",
				   (json_int_t)q.until, "limit", (json_int_t)limit);
	if (level)
		json_object_set_new(params, "level", json_string(level));
	if (tid_arg)
		json_object_set_new(params, "trace_id", json_string(tid));
	if (q.q) {
		/* the words searched for may be personal data: the entry keeps their marker */
		if (jg_pii_mark(app->pii_keys, 0, "query", q.q, strlen(q.q), qmark) != 0) {
			json_decref(params);
			jg_http_reply_error(reply, 503, "unavailable",
					    "the read cannot be recorded; nothing was read");
			return;
		}
		json_object_set_new(params, "q", json_string(qmark));
	}
	if (cursor)
		json_object_set_new(params, "cursor", json_string(cursor));
	if (jg_guard_params(&app->guard, req, reply, svc, "read-logs", "logs.read", params, &g) !=
	    0)
		return;

	json_t *logs = NULL;
	q.redact = !g.has_pii;
	q.received_since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_LOGS, (int64_t)time(NULL));
	int rc = jg_telemetry_logs_query(app->telemetry, &q, &logs, next);
	if (rc == JG_EUNAVAIL) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the logs cannot be read now");
		return;
	}
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200,
			   json_pack("{s:s,s:b,s:o,s:s?}", "service", svc, "redacted", q.redact,
				     "logs", logs, "next_cursor", next[0] ? next : NULL));
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/logs", handle_logs, NULL, 0},
};
const struct jg_route_table jg_api_logs_routes = {routes, sizeof(routes) / sizeof(routes[0])};
