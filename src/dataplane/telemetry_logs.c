/*
 * telemetry_logs.c - the logs reader behind GET /v1/services/{svc}/logs
 * (telemetry.h): a window, a lowest level, a trace, full-text search, and
 * pages newest first with a cursor.
 *
 * Newest first means (time, id) descending; the cursor is that position
 * ("<time_ns>:<id>", sealed as a "logs" cursor: cursor.h), so a page never
 * repeats or skips a record because newer ones arrived meanwhile.  Records
 * received before the query's received_since are past their retention and
 * never shown, whether or not the retention job has removed them yet.
 *
 * Search, one meaning on both engines: every word is a phrase of the
 * tokens of SQLite FTS5's unicode61 tokenizer, and a record matches when
 * its search text holds every phrase.  On SQLite the words become an FTS5
 * query of quoted phrases, so no FTS5 syntax reaches SQLite; on PostgreSQL
 * a tsquery of the same tokens against the row's pre-tokenized tsvector
 * (telemetry_search.c), bound as a value and cast by the server.  A reader
 * without read-pii searches the redacted index and gets every record
 * redacted (telemetry_text.c): a query for a value that was redacted finds
 * nothing, so it does not reveal that a record holding it exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/parse.h"
#include "telemetry_int.h"

#define MATCH_MAX (2 * JG_TELEMETRY_Q_MAX_BYTES + 4 * JG_TELEMETRY_Q_MAX_TERMS + 8)

#define LOG_COLUMNS "l.id, l.time_ns, l.severity_number, l.level, l.trace_id, l.span_id, l.record "
#define LOG_FILTER                                                                                 \
	"l.service = ?1 AND l.time_ns >= ?2 AND l.time_ns < ?3 AND l.severity_number >= ?4 AND "   \
	"(CAST(?5 AS TEXT) IS NULL OR l.trace_id = ?5) AND (l.time_ns < ?6 OR (l.time_ns = ?6 "    \
	"AND l.id < ?7)) "                                                                         \
	"AND l.received_at >= ?10 "
#define LOG_ORDER "ORDER BY l.time_ns DESC, l.id DESC LIMIT ?8"

/* Every statement is bound ?1..?10; ?9 is the search (NULL without one). */
static const char sql_plain[] = "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER LOG_ORDER;
static const char sql_raw[] =
    "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER
    "AND l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?9) " LOG_ORDER;
static const char sql_redacted[] =
    "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER
    "AND l.id IN (SELECT rowid FROM logs_fts_redacted WHERE logs_fts_redacted MATCH ?9) " LOG_ORDER;

/*
 * PostgreSQL: the tsquery against the row's own tsvector; the planner picks
 * between the GIN index and the time index by its statistics.  Without a
 * search ?9 is still named (the server must know every parameter's type).
 */
static const char sql_plain_pg[] =
    "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER "AND CAST(?9 AS TEXT) IS NULL " LOG_ORDER;
static const char sql_raw_pg[] = "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER
				 "AND l.search @@ CAST(?9 AS tsquery) " LOG_ORDER;
static const char sql_redacted_pg[] = "SELECT " LOG_COLUMNS "FROM logs l WHERE " LOG_FILTER
				      "AND l.search_redacted @@ CAST(?9 AS tsquery) " LOG_ORDER;

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

/*
 * q -> an FTS5 query of quoted phrases, one per word (jg_telemetry_next_word;
 * quotes doubled), so no FTS5 syntax (NEAR, column filters, '*') reaches
 * SQLite.  0 or JG_EINVAL.
 */
static int
fts_query(const char *q, char *out, size_t outlen)
{
	size_t o = 0, terms = 0, n;
	const char *p = q, *w;

	while (jg_telemetry_next_word(&p, &w, &n)) {
		if (++terms > JG_TELEMETRY_Q_MAX_TERMS)
			return JG_EINVAL;
		if (o + 4 + 2 * n >= outlen)
			return JG_EINVAL;
		if (o > 0)
			out[o++] = ' ';
		out[o++] = '"';
		for (const char *c = w; c < w + n; c++) {
			if (*c == '"')
				out[o++] = '"';
			out[o++] = *c;
		}
		out[o++] = '"';
	}
	out[o] = '\0';
	return terms > 0 ? 0 : JG_EINVAL;
}

bool
jg_telemetry_search_valid(const char *q)
{
	char match[MATCH_MAX];
	/* stored text is UTF-8: other bytes can match nothing, and are the caller's error */
	if (q == NULL || strlen(q) > JG_TELEMETRY_Q_MAX_BYTES)
		return false;
	json_t *utf8 = json_string(q); /* NULL for bytes that are not UTF-8 (or no memory) */
	bool ok = utf8 != NULL && fts_query(q, match, sizeof(match)) == 0;
	json_decref(utf8);
	return ok;
}

/* The cursor: "<time_ns>:<id>" of the page's last record, sealed as kind "logs" (cursor.h). */
#define CURSOR_KIND "logs"

static int
cursor_make(const struct jg_cursor_keys *keys, const struct jg_telemetry_logs_pos *pos,
	    char out[JG_TELEMETRY_CURSOR_MAX])
{
	char plain[48];
	snprintf(plain, sizeof(plain), "%lld:%lld", (long long)pos->time_ns, (long long)pos->id);
	return jg_cursor_seal(keys, CURSOR_KIND, plain, out, JG_TELEMETRY_CURSOR_MAX);
}

int
jg_telemetry_logs_cursor_parse(const struct jg_cursor_keys *keys, const char *c,
			       struct jg_telemetry_logs_pos *pos)
{
	char plain[JG_CURSOR_MAX_PLAIN + 1];
	int64_t t, id;

	if (jg_cursor_open(keys, CURSOR_KIND, c, plain, sizeof(plain)) != 0)
		return JG_EINVAL;
	const char *colon = strchr(plain, ':');
	if (colon == NULL || jg_parse_i64n(plain, (size_t)(colon - plain), 0, INT64_MAX, &t) != 0 ||
	    jg_parse_i64(colon + 1, 0, INT64_MAX, &id) != 0)
		return JG_EINVAL;
	pos->time_ns = t;
	pos->id = id;
	return 0;
}

/* One row -> the record shown; redacted (or withheld) for a reader without read-pii. */
static json_t *
log_row(struct jg_stmt *st, const char *svc, bool redact, char *const *fields)
{
	char when[JG_TELEMETRY_TIME_TEXT];
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
	jg_telemetry_time_text(t, when);
	json_t *out = json_pack(
	    "{s:I,s:s,s:s,s:o,s:s,s:I,s:O,s:O,s:O,s:O,s:O,s:s?,s:s?}", "id",
	    (json_int_t)jg_stmt_column_int64(st, 0), "service", svc, "time", when, "time_unix_nano",
	    jg_telemetry_ns_string(t), "level", jg_stmt_column_text(st, 3), "severity_number",
	    (json_int_t)jg_stmt_column_int64(st, 2), "severity_text",
	    json_object_get(rec, "severity_text"), "body", json_object_get(rec, "body"),
	    "attributes", json_object_get(rec, "attributes"), "resource",
	    json_object_get(rec, "resource"), "scope", json_object_get(rec, "scope"), "trace_id",
	    jg_stmt_column_text(st, 4), "span_id", jg_stmt_column_text(st, 5));
	if (out != NULL && json_object_get(rec, "observed_ns") != NULL)
		json_object_set_new(out, "observed_time_unix_nano",
				    jg_telemetry_ns_string(
					json_integer_value(json_object_get(rec, "observed_ns"))));
	if (out != NULL && json_object_get(rec, "withheld") != NULL)
		json_object_set(out, "withheld", json_object_get(rec, "withheld"));
	json_decref(rec);
	return out;
}

/*
 * The statement for q on conn's engine, with what ?9 binds in *search (a new
 * string; NULL binds NULL).  *nothing: a search that can match nothing
 * (PostgreSQL: no word has a token; FTS5 finds nothing for it either).
 */
static int
pick_query(struct jg_store_conn *conn, const struct jg_telemetry_logs_query *q, const char **sql,
	   char **search, bool *nothing)
{
	char match[MATCH_MAX];
	struct jg_tokenizer *t = NULL;
	int rc;

	*search = NULL;
	*nothing = false;
	if (jg_store_conn_engine(conn) == JG_STORE_POSTGRES) {
		*sql = q->q == NULL ? sql_plain_pg : q->redact ? sql_redacted_pg : sql_raw_pg;
		if (q->q == NULL)
			return 0;
		if ((rc = jg_tokenizer_new(&t)) == 0)
			rc = jg_telemetry_tsquery(t, q->q, search);
		jg_tokenizer_free(t);
		*nothing = rc == 0 && *search == NULL;
		return rc;
	}
	if (q->q == NULL) {
		*sql = sql_plain;
		return 0;
	}
	if (fts_query(q->q, match, sizeof(match)) != 0)
		return JG_EINVAL;
	*sql = rare_word(conn, q->redact, match) ? (q->redact ? sql_rare_redacted : sql_rare_raw)
						 : (q->redact ? sql_redacted : sql_raw);
	return (*search = strdup(match)) != NULL ? 0 : JG_ENOMEM;
}

int
jg_telemetry_logs_query(struct jg_store *db, const struct jg_telemetry_logs_query *q, json_t **logs,
			char next_cursor[JG_TELEMETRY_CURSOR_MAX])
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	struct jg_telemetry_logs_pos last = {0, 0};
	const char *sql = NULL;
	char *search = NULL;
	bool nothing = false;
	int rc;

	*logs = NULL;
	next_cursor[0] = '\0';
	if (q->limit < 1 || q->limit > JG_TELEMETRY_LOGS_MAX ||
	    (q->q != NULL && !jg_telemetry_search_valid(q->q)))
		return JG_EINVAL;
	if (db == NULL || jg_store_acquire(db, &conn) != 0)
		return JG_EUNAVAIL;
	json_t *rows = json_array();
	rc = rows == NULL ? JG_ENOMEM : pick_query(conn, q, &sql, &search, &nothing);
	if (rc == 0 && !nothing)
		rc = jg_stmt_prepare(conn, sql, &st) == 0 ? 0 : JG_ESTORE;
	if (rc == 0 && !nothing) {
		jg_stmt_bind_text(st, 1, q->service);
		jg_stmt_bind_int64(st, 2, q->since);
		jg_stmt_bind_int64(st, 3, q->until);
		jg_stmt_bind_int64(st, 4, q->floor_severity);
		if (q->trace_id)
			jg_stmt_bind_text(st, 5, q->trace_id);
		else
			jg_stmt_bind_null(st, 5);
		jg_stmt_bind_int64(st, 6, q->after.time_ns);
		jg_stmt_bind_int64(st, 7, q->after.id);
		jg_stmt_bind_int64(st, 8, (int64_t)q->limit);
		jg_stmt_bind_text(st, 9, search);
		jg_stmt_bind_int64(st, 10, q->received_since);
		int s;
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *row = log_row(st, q->service, q->redact, q->fields);
			if (row == NULL) {
				s = JG_ENOMEM;
				break;
			}
			last.time_ns = jg_stmt_column_int64(st, 1);
			last.id = jg_stmt_column_int64(st, 0);
			json_array_append_new(rows, row);
		}
		rc = s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(db, conn);
	free(search);
	if (rc != 0) {
		json_decref(rows);
		return rc == JG_EINVAL || rc == JG_ENOMEM ? rc : JG_ESTORE;
	}
	/* a full page may have more behind it; no keys, no cursor (a caller reading one page) */
	if (json_array_size(rows) == q->limit && q->cursor_keys != NULL &&
	    (rc = cursor_make(q->cursor_keys, &last, next_cursor)) != 0) {
		json_decref(rows);
		next_cursor[0] = '\0';
		return rc;
	}
	*logs = rows;
	return 0;
}
