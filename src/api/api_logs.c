/*
 * api_logs.c - GET /v1/services/{svc}/logs behind the guard (read-logs).
 *
 *   ?since=&until=   a window (Unix seconds, RFC 3339, or "15m" ago)
 *   ?level=          the lowest level shown: trace|debug|info|warn|error|fatal
 *   ?trace_id=       32 hex digits
 *   ?q=              full text (SQLite FTS5): every word must occur, in order
 *                    within each quoted phrase; no query syntax is exposed
 *   ?limit=&cursor=  pages of 1-1000, newest first; next_cursor continues
 *
 * Newest first means (time, id) descending; the cursor is that position
 * (opaque to clients), so a page never repeats or skips a record because
 * newer ones arrived meanwhile.  A reader without read-pii gets every
 * record redacted (telemetry.h) and searches the redacted index: a query
 * for a value that was redacted finds nothing, so it does not reveal that a
 * record holding it exists.  The guard records the read (with the query's
 * keyed marker, pii.h, never the query itself: an unkeyed hash of a few
 * words is reversed by hashing a dictionary) before anything is read.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/pii.h"
#include "jitgate/telemetry.h"

#define MAX_LIMIT     1000
#define DEFAULT_LIMIT 100
#define MAX_Q_BYTES   256
#define MAX_Q_TERMS   16

#define LOG_COLUMNS "l.id, l.time_ns, l.severity_number, l.level, l.trace_id, l.span_id, l.record "
#define LOG_FILTER                                                                                 \
	"l.service = ?1 AND l.time_ns >= ?2 AND l.time_ns < ?3 AND l.severity_number >= ?4 AND "   \
	"(?5 IS NULL OR l.trace_id = ?5) AND (l.time_ns < ?6 OR (l.time_ns = ?6 AND l.id < ?7)) "
#define LOG_ORDER "ORDER BY l.time_ns DESC, l.id DESC LIMIT ?8"

static const char sql_plain[] = "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER LOG_ORDER;
static const char sql_raw[] =
    "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER
    "AND l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?9) " LOG_ORDER;
static const char sql_redacted[] =
    "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER
    "AND l.id IN (SELECT rowid FROM logs_fts_redacted WHERE logs_fts_redacted MATCH ?9) " LOG_ORDER;

/*
 * A rare word is found fastest with the index driving the join (every match
 * then filtered and sorted: ~0.2 ms for 100 matches in a million records);
 * a common one by walking the records newest first and probing the index
 * (the FTS-driven shape would sort 100,000 matches: ~270 ms).  A capped
 * count of the matches picks the shape (docs/performance.md#telemetry).
 */
#define RARE_MATCHES 2000
static const char sql_count_raw[] =
    "SELECT count(*) FROM (SELECT 1 FROM logs_fts WHERE logs_fts MATCH ?1 LIMIT 2000)";
static const char sql_count_redacted[] = "SELECT count(*) FROM (SELECT 1 FROM logs_fts_redacted "
					 "WHERE logs_fts_redacted MATCH ?1 LIMIT 2000)";
static const char sql_rare_raw[] =
    "SELECT " LOG_COLUMNS "FROM logs_fts f CROSS JOIN logs l ON l.id = f.rowid WHERE "
    "f.logs_fts MATCH ?9 AND " LOG_FILTER LOG_ORDER;
static const char sql_rare_redacted[] =
    "SELECT " LOG_COLUMNS "FROM logs_fts_redacted f CROSS JOIN logs l ON l.id = f.rowid WHERE "
    "f.logs_fts_redacted MATCH ?9 AND " LOG_FILTER LOG_ORDER;

/* Whether match finds fewer than RARE_MATCHES records (then the index should drive). */
static bool
rare_word(struct jg_store_conn *conn, bool redact, const char *match)
{
	struct jg_stmt *st;
	int64_t n = RARE_MATCHES;

	if (jg_stmt_prepare(conn, redact ? sql_count_redacted : sql_count_raw, &st) != 0)
		return false;
	jg_stmt_bind_text(st, 1, match);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		n = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return n < RARE_MATCHES;
}

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

/*
 * q -> an FTS5 query of quoted phrases, one per whitespace-separated word
 * (quotes doubled), so no FTS5 syntax (NEAR, column filters, '*') reaches
 * SQLite.  Words without a letter or digit are dropped.  0 or JG_EINVAL.
 */
static int
fts_query(const char *q, char *out, size_t outlen)
{
	size_t o = 0, terms = 0;
	const char *p = q;

	while (*p) {
		while (*p && isspace((unsigned char)*p))
			p++;
		const char *w = p;
		int useful = 0;
		while (*p && !isspace((unsigned char)*p)) {
			useful |= isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80;
			p++;
		}
		if (p == w || !useful)
			continue;
		if (++terms > MAX_Q_TERMS)
			return JG_EINVAL;
		if (o + 4 + 2 * (size_t)(p - w) >= outlen)
			return JG_EINVAL;
		if (o > 0)
			out[o++] = ' ';
		out[o++] = '"';
		for (const char *c = w; c < p; c++) {
			if (*c == '"')
				out[o++] = '"';
			out[o++] = *c;
		}
		out[o++] = '"';
	}
	out[o] = '\0';
	return terms > 0 ? 0 : JG_EINVAL;
}

/* The cursor: hex of "<time_ns>:<id>", opaque to clients. */
static void
cursor_make(int64_t t, int64_t id, char out[80])
{
	char plain[48];
	int n = snprintf(plain, sizeof(plain), "%lld:%lld", (long long)t, (long long)id);
	for (int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)plain[i]);
}

static int
cursor_parse(const char *c, int64_t *t, int64_t *id)
{
	char plain[48], *end;
	size_t n = strlen(c);
	if (n == 0 || n % 2 != 0 || n / 2 >= sizeof(plain))
		return JG_EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)c[2 * i]) || !isxdigit((unsigned char)c[2 * i + 1]) ||
		    sscanf(c + 2 * i, "%2x", &v) != 1)
			return JG_EINVAL;
		plain[i] = (char)v;
	}
	plain[n / 2] = '\0';
	char *colon = strchr(plain, ':');
	if (colon == NULL || colon == plain || !isdigit((unsigned char)colon[1]) ||
	    !isdigit((unsigned char)plain[0]))
		return JG_EINVAL;
	*colon = '\0';
	errno = 0;
	long long a = strtoll(plain, &end, 10);
	if (errno != 0 || *end != '\0')
		return JG_EINVAL;
	long long b = strtoll(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return JG_EINVAL;
	*t = a;
	*id = b;
	return 0;
}

/* One row -> the record shown; redacted (or withheld) for a reader without read-pii. */
static json_t *
log_row(struct jg_stmt *st, const char *svc, bool redact, char *const *fields)
{
	char when[JG_TIME_TEXT];
	int64_t t = jg_stmt_column_int64(st, 1);
	json_t *rec = json_loads(jg_stmt_column_text(st, 6), 0, NULL);
	if (rec == NULL)
		return NULL;
	if (redact && jg_telemetry_redact_log(rec, fields) != 0) {
		/* fail closed: a half-redacted record is never shown */
		json_decref(rec);
		rec = json_pack("{s:n,s:{},s:{},s:{},s:n,s:s}", "body", "attributes", "resource",
				"scope", "severity_text", "withheld",
				"the record could not be redacted");
		if (rec == NULL)
			return NULL;
	}
	jg_tq_time_text(t, when);
	json_t *out = json_pack(
	    "{s:I,s:s,s:s,s:o,s:s,s:I,s:O,s:O,s:O,s:O,s:O,s:s?,s:s?}", "id",
	    (json_int_t)jg_stmt_column_int64(st, 0), "service", svc, "time", when, "time_unix_nano",
	    jg_tq_ns_string(t), "level", jg_stmt_column_text(st, 3), "severity_number",
	    (json_int_t)jg_stmt_column_int64(st, 2), "severity_text",
	    json_object_get(rec, "severity_text"), "body", json_object_get(rec, "body"),
	    "attributes", json_object_get(rec, "attributes"), "resource",
	    json_object_get(rec, "resource"), "scope", json_object_get(rec, "scope"), "trace_id",
	    jg_stmt_column_text(st, 4), "span_id", jg_stmt_column_text(st, 5));
	if (out != NULL && json_object_get(rec, "observed_ns") != NULL)
		json_object_set_new(
		    out, "observed_time_unix_nano",
		    jg_tq_ns_string(json_integer_value(json_object_get(rec, "observed_ns"))));
	if (out != NULL && json_object_get(rec, "withheld") != NULL)
		json_object_set(out, "withheld", json_object_get(rec, "withheld"));
	json_decref(rec);
	return out;
}

static void
handle_logs(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc");
	const char *level = jg_http_query(req, "level"), *tid_arg = jg_http_query(req, "trace_id");
	const char *q = jg_http_query(req, "q"), *cursor = jg_http_query(req, "cursor");
	int64_t since, until, after_t = INT64_MAX, after_id = INT64_MAX;
	uint64_t limit;
	char tid[33], match[2 * MAX_Q_BYTES + 4 * MAX_Q_TERMS + 8], qmark[JG_PII_MARK_SIZE];
	int floor_sev = 0;
	struct jg_guarded g;

	if (jg_tq_window(req, reply, &since, &until) != 0 ||
	    jg_http_query_u64(req, reply, "limit", DEFAULT_LIMIT, MAX_LIMIT, &limit) != 0)
		return;
	if (limit == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'limit' must be 1 to %d",
				    MAX_LIMIT);
		return;
	}
	if (level != NULL && (floor_sev = level_floor(level)) < 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'level' must be trace, debug, info, warn, error or fatal");
		return;
	}
	if (tid_arg != NULL && !jg_tq_trace_id(tid_arg, tid)) {
		jg_http_reply_error(reply, 400, "bad_request", "'trace_id' must be 32 hex digits");
		return;
	}
	/* stored text is UTF-8: other bytes can match nothing, and are the caller's error */
	if (q != NULL && (strlen(q) > MAX_Q_BYTES || !jg_tq_utf8(q) ||
			  fts_query(q, match, sizeof(match)) != 0)) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'q' must be 1 to %d words of UTF-8 (at most %d bytes) with "
				    "letters or digits",
				    MAX_Q_TERMS, MAX_Q_BYTES);
		return;
	}
	if (cursor != NULL && cursor_parse(cursor, &after_t, &after_id) != 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'cursor' is not a cursor this endpoint returned");
		return;
	}
	json_t *params = json_pack("{s:I,s:I,s:I}", "since", (json_int_t)since, "until",
				   (json_int_t)until, "limit", (json_int_t)limit);
	if (level)
		json_object_set_new(params, "level", json_string(level));
	if (tid_arg)
		json_object_set_new(params, "trace_id", json_string(tid));
	if (q) {
		/* the words searched for may be personal data: the entry keeps their marker */
		if (jg_pii_mark(app->pii_keys, 0, "query", q, strlen(q), qmark) != 0) {
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

	bool redact = !g.has_pii;
	char *const *fields = app->cfg->redaction_sensitive_fields;
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *logs = json_array();
	int64_t last_t = 0, last_id = 0;
	if (logs == NULL || app->telemetry == NULL ||
	    jg_store_acquire(app->telemetry, &conn) != 0) {
		json_decref(logs);
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	const char *sql = q == NULL ? sql_plain
			  : rare_word(conn, redact, match)
			      ? (redact ? sql_rare_redacted : sql_rare_raw)
			      : (redact ? sql_redacted : sql_raw);
	int rc = jg_stmt_prepare(conn, sql, &st);
	if (rc == 0) {
		jg_stmt_bind_text(st, 1, svc);
		jg_stmt_bind_int64(st, 2, since);
		jg_stmt_bind_int64(st, 3, until);
		jg_stmt_bind_int64(st, 4, floor_sev);
		if (tid_arg)
			jg_stmt_bind_text(st, 5, tid);
		else
			jg_stmt_bind_null(st, 5);
		jg_stmt_bind_int64(st, 6, after_t);
		jg_stmt_bind_int64(st, 7, after_id);
		jg_stmt_bind_int64(st, 8, (int64_t)limit);
		if (q)
			jg_stmt_bind_text(st, 9, match);
		int s;
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *row = log_row(st, svc, redact, fields);
			if (row == NULL) {
				s = JG_ENOMEM;
				break;
			}
			last_t = jg_stmt_column_int64(st, 1);
			last_id = jg_stmt_column_int64(st, 0);
			json_array_append_new(logs, row);
		}
		rc = s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(app->telemetry, conn);
	if (rc != 0) {
		json_decref(logs);
		jg_http_reply_error(reply, 503, "unavailable", "the logs cannot be read now");
		return;
	}
	char next[80] = "";
	if (json_array_size(logs) == limit)
		cursor_make(last_t, last_id, next);
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200,
			   json_pack("{s:s,s:b,s:o,s:s?}", "service", svc, "redacted", redact,
				     "logs", logs, "next_cursor", next[0] ? next : NULL));
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/logs", handle_logs, NULL, 0},
};
const struct jg_route_table jg_api_logs_routes = {routes, sizeof(routes) / sizeof(routes[0])};
