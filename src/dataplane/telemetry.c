/*
 * telemetry.c - the telemetry database: open, migrate, store, sweep, redact
 * (telemetry.h).
 *
 * Rows are written through prepared statements only, one transaction per
 * batch.  The sweeper deletes at most CHUNK rows of a kind per transaction
 * and loops until nothing is due, so a large backlog never holds the write
 * lock for long.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/migrate.h"
#include "jitgate/otlp.h"
#include "jitgate/redact.h"
#include "jitgate/telemetry.h"

#define CHUNK		5000
#define MAX_SEARCH_TEXT (256 * 1024) /* bytes of one record's search text */

char *
jg_telemetry_migrations_dir(const struct jg_config *cfg)
{
	char *dir = NULL;
	if (asprintf(&dir, "%s/telemetry", cfg->migrations_dir) < 0)
		return NULL;
	return dir;
}

int
jg_telemetry_open(const struct jg_config *cfg, struct jg_store **out, char *err, size_t errlen)
{
	char *dir = jg_telemetry_migrations_dir(cfg);
	int pending = 0, rc;

	*out = NULL;
	if (dir == NULL)
		return JG_ENOMEM;
	rc = jg_store_open(cfg->telemetry_path, out, err, errlen);
	if (rc == 0)
		rc = jg_migrate_status(*out, dir, &pending, err, errlen);
	if (rc == 0 && pending > 0) {
		snprintf(err, errlen, "%s: %d telemetry migration(s) pending", cfg->telemetry_path,
			 pending);
		rc = JG_ECONFLICT;
	}
	free(dir);
	if (rc != 0) {
		jg_store_close(*out);
		*out = NULL;
	}
	return rc;
}

int
jg_telemetry_migrate(const struct jg_config *cfg, int *applied, char *err, size_t errlen)
{
	char *dir = jg_telemetry_migrations_dir(cfg);
	struct jg_store *db = NULL;
	int rc;

	if (dir == NULL)
		return JG_ENOMEM;
	rc = jg_store_open(cfg->telemetry_path, &db, err, errlen);
	if (rc == 0)
		rc = jg_migrate_apply(db, dir, applied, err, errlen);
	jg_store_close(db);
	free(dir);
	return rc;
}

/* ---- search text and redaction -------------------------------------------- */

static size_t
nfields(char *const *fields)
{
	size_t n = 0;
	while (fields && fields[n])
		n++;
	return n;
}

static int
redact_value(json_t *holder, char *const *fields, unsigned *found)
{
	return jg_redact_json(holder, (const char *const *)fields, nfields(fields), found);
}

/* Redacts the string member key of obj as free text (not as a value of a sensitive key). */
static int
redact_member_text(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *out;
	size_t outlen;
	if (!json_is_string(v))
		return 0;
	int rc = jg_redact_text(json_string_value(v), json_string_length(v), &out, &outlen, NULL);
	if (rc != 0)
		return rc;
	rc = json_object_set_new(obj, key, json_stringn(out, outlen)) == 0 ? 0 : JG_ENOMEM;
	free(out);
	return rc;
}

/* Redacts obj[key] (any JSON) through a holder object, so strings and scalars work too. */
static int
redact_member(json_t *obj, const char *key, char *const *fields)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return redact_member_text(obj, key);
	json_t *holder = json_array();
	if (holder == NULL || json_array_append(holder, v) != 0) {
		json_decref(holder);
		return JG_ENOMEM;
	}
	int rc = redact_value(holder, fields, NULL);
	if (rc == 0)
		rc = json_object_set(obj, key, json_array_get(holder, 0)) == 0 ? 0 : JG_ENOMEM;
	json_decref(holder);
	return rc;
}

int
jg_telemetry_redact_log(json_t *record, char *const *fields)
{
	int rc = redact_member(record, "body", fields);
	if (rc == 0)
		rc = redact_member(record, "attributes", fields);
	if (rc == 0)
		rc = redact_member(record, "resource", fields);
	if (rc == 0)
		rc = redact_member_text(record, "severity_text");
	return rc;
}

int
jg_telemetry_redact_span(json_t *span, char *const *fields)
{
	int rc = redact_member_text(span, "name");
	if (rc == 0)
		rc = redact_member_text(span, "error");
	if (rc == 0)
		rc = redact_member(span, "attributes", fields);
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(span, "events"), i, e)
	{
		if (rc == 0)
			rc = redact_member_text(e, "name");
		if (rc == 0)
			rc = redact_member(e, "attributes", fields);
	}
	return rc;
}

/* Appends text to a growing buffer, bounded by MAX_SEARCH_TEXT (the rest is not indexed). */
struct text {
	char *buf;
	size_t len, cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
	if (t->buf == NULL || t->len + n + 2 > MAX_SEARCH_TEXT)
		return;
	if (t->len + n + 2 > t->cap) {
		size_t cap = t->cap;
		while (cap < t->len + n + 2)
			cap *= 2;
		char *grown = realloc(t->buf, cap);
		if (grown == NULL)
			return;
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len++] = ' ';
	t->buf[t->len] = '\0';
}

static void
text_value(struct text *t, json_t *v)
{
	if (json_is_string(v)) {
		text_add(t, json_string_value(v), json_string_length(v));
	} else if (v != NULL && !json_is_null(v)) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s != NULL)
			text_add(t, s, strlen(s));
		free(s);
	}
}

char *
jg_telemetry_log_text(json_t *record, char *const *fields)
{
	struct text t = {.buf = malloc(1024), .cap = 1024};
	json_t *copy = NULL, *rec = record, *v;
	const char *k;

	if (t.buf == NULL)
		return NULL;
	t.buf[0] = '\0';
	if (fields != NULL) {
		copy = json_pack("{s:O*,s:O*}", "body", json_object_get(record, "body"),
				 "attributes", json_object_get(record, "attributes"));
		if (copy == NULL || redact_member(copy, "body", fields) != 0 ||
		    redact_member(copy, "attributes", fields) != 0) {
			json_decref(copy);
			free(t.buf);
			return NULL; /* fail closed: no redacted text, no index row */
		}
		rec = copy;
	}
	text_value(&t, json_object_get(rec, "body"));
	json_object_foreach(json_object_get(rec, "attributes"), k, v)
	{
		text_add(&t, k, strlen(k));
		text_value(&t, v);
	}
	json_decref(copy);
	return t.buf;
}

/* ---- storing --------------------------------------------------------------- */

static const char sql_log_insert[] =
    "INSERT INTO logs (service, time_ns, severity_number, level, trace_id, span_id, record, "
    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"; /* no RETURNING: see store.h */
static const char sql_fts_insert[] = "INSERT INTO logs_fts (rowid, text) VALUES (?, ?)";
static const char sql_fts_red_insert[] =
    "INSERT INTO logs_fts_redacted (rowid, text) VALUES (?, ?)";
static const char sql_span_insert[] =
    "INSERT INTO spans (service, trace_id, span_id, parent_span_id, start_ns, end_ns, status, "
    "span, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (service, trace_id, span_id) DO NOTHING";
static const char sql_point_insert[] =
    "INSERT INTO metric_points (service, name, kind, unit, description, temporality, monotonic, "
    "series, start_ns, time_ns, value, histogram, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static int64_t
int_member(json_t *o, const char *k)
{
	return (int64_t)json_integer_value(json_object_get(o, k));
}

static int
step_done(struct jg_stmt *st)
{
	int rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

static int
store_log(struct jg_store_conn *conn, const char *service, json_t *r, char *const *fields,
	  int64_t now)
{
	struct jg_stmt *st;
	int64_t id = 0;
	int rc;

	json_t *rec = json_pack(
	    "{s:O,s:O,s:O,s:O,s:O,s:O}", "body", json_object_get(r, "body"), "attributes",
	    json_object_get(r, "attributes"), "resource", json_object_get(r, "resource"), "scope",
	    json_object_get(r, "scope"), "severity_text", json_object_get(r, "severity_text"),
	    "observed_ns", json_object_get(r, "observed_ns"));
	char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	char *raw = jg_telemetry_log_text(r, NULL);
	char *red = jg_telemetry_log_text(r, fields);
	json_decref(rec);
	if (text == NULL || raw == NULL || red == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_log_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_int64(st, 2, int_member(r, "time_ns"));
	jg_stmt_bind_int64(st, 3, int_member(r, "severity_number"));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(r, "level")));
	jg_stmt_bind_text(st, 5, json_string_value(json_object_get(r, "trace_id")));
	jg_stmt_bind_text(st, 6, json_string_value(json_object_get(r, "span_id")));
	jg_stmt_bind_text(st, 7, text);
	jg_stmt_bind_int64(st, 8, now);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		rc = JG_ESTORE;
		goto out;
	}
	id = jg_store_last_insert_rowid(conn);
	if ((rc = jg_stmt_prepare(conn, sql_fts_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, id);
	jg_stmt_bind_text(st, 2, raw);
	if ((rc = step_done(st)) != 0)
		goto out;
	if ((rc = jg_stmt_prepare(conn, sql_fts_red_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, id);
	jg_stmt_bind_text(st, 2, red);
	rc = step_done(st);
out:
	free(text);
	free(raw);
	free(red);
	return rc;
}

static int
store_span(struct jg_store_conn *conn, const char *service, json_t *s, int64_t now)
{
	struct jg_stmt *st;
	char *text = json_dumps(s, JSON_COMPACT);
	int rc;

	if (text == NULL)
		return JG_ENOMEM;
	if ((rc = jg_stmt_prepare(conn, sql_span_insert, &st)) == 0) {
		jg_stmt_bind_text(st, 1, service);
		jg_stmt_bind_text(st, 2, json_string_value(json_object_get(s, "trace_id")));
		jg_stmt_bind_text(st, 3, json_string_value(json_object_get(s, "span_id")));
		jg_stmt_bind_text(st, 4, json_string_value(json_object_get(s, "parent_span_id")));
		jg_stmt_bind_int64(st, 5, int_member(s, "start_ns"));
		jg_stmt_bind_int64(st, 6, int_member(s, "end_ns"));
		jg_stmt_bind_text(st, 7, json_string_value(json_object_get(s, "status")));
		jg_stmt_bind_text(st, 8, text);
		jg_stmt_bind_int64(st, 9, now);
		rc = step_done(st);
	}
	free(text);
	return rc;
}

static int
store_point(struct jg_store_conn *conn, const char *service, json_t *p, int64_t now)
{
	struct jg_stmt *st;
	char *series = json_dumps(json_object_get(p, "series"), JSON_COMPACT | JSON_SORT_KEYS);
	json_t *h = json_object_get(p, "histogram");
	char *hist = h ? json_dumps(h, JSON_COMPACT) : NULL;
	int rc;

	if (series == NULL || (h != NULL && hist == NULL)) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_point_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_text(st, 2, json_string_value(json_object_get(p, "name")));
	jg_stmt_bind_text(st, 3, json_string_value(json_object_get(p, "kind")));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(p, "unit")));
	jg_stmt_bind_text(st, 5, json_string_value(json_object_get(p, "description")));
	jg_stmt_bind_text(st, 6, json_string_value(json_object_get(p, "temporality")));
	jg_stmt_bind_int64(st, 7, json_is_true(json_object_get(p, "monotonic")));
	jg_stmt_bind_text(st, 8, series);
	jg_stmt_bind_int64(st, 9, int_member(p, "start_ns"));
	jg_stmt_bind_int64(st, 10, int_member(p, "time_ns"));
	json_t *v = json_object_get(p, "value");
	if (json_is_number(v))
		jg_stmt_bind_double(st, 11, json_number_value(v));
	else
		jg_stmt_bind_null(st, 11);
	jg_stmt_bind_text(st, 12, hist);
	jg_stmt_bind_int64(st, 13, now);
	rc = step_done(st);
out:
	free(series);
	free(hist);
	return rc;
}

enum kind { LOGS, SPANS, POINTS };

static int
store_batch(struct jg_store *db, enum kind kind, const char *service, json_t *items,
	    char *const *fields, int64_t now)
{
	struct jg_store_conn *conn;
	size_t i;
	json_t *it;
	int rc;

	if (jg_store_acquire(db, &conn) != 0)
		return JG_ESTORE;
	rc = jg_store_begin(conn);
	json_array_foreach(items, i, it)
	{
		if (rc != 0)
			break;
		switch (kind) {
		case LOGS: rc = store_log(conn, service, it, fields, now); break;
		case SPANS: rc = store_span(conn, service, it, now); break;
		case POINTS: rc = store_point(conn, service, it, now); break;
		}
	}
	if (rc == 0)
		rc = jg_store_commit(conn);
	if (rc != 0)
		jg_store_rollback(conn);
	jg_store_release(db, conn);
	return rc == JG_ENOMEM ? rc : (rc != 0 ? JG_ESTORE : 0);
}

int
jg_telemetry_store_logs(struct jg_store *db, const char *service, json_t *records,
			char *const *fields, int64_t now)
{
	return store_batch(db, LOGS, service, records, fields, now);
}

int
jg_telemetry_store_spans(struct jg_store *db, const char *service, json_t *spans, int64_t now)
{
	return store_batch(db, SPANS, service, spans, NULL, now);
}

int
jg_telemetry_store_metrics(struct jg_store *db, const char *service, json_t *points, int64_t now)
{
	return store_batch(db, POINTS, service, points, NULL, now);
}

/* ---- retention -------------------------------------------------------------- */

#define DUE_LOGS "(SELECT id FROM logs WHERE received_at < ? ORDER BY received_at, id LIMIT 5000)"
static const char sql_del_fts[] = "DELETE FROM logs_fts WHERE rowid IN " DUE_LOGS;
static const char sql_del_fts_red[] = "DELETE FROM logs_fts_redacted WHERE rowid IN " DUE_LOGS;
static const char sql_del_logs[] = "DELETE FROM logs WHERE id IN " DUE_LOGS;
static const char sql_del_spans[] =
    "DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans WHERE received_at < ? "
    "LIMIT 5000)";
static const char sql_del_points[] =
    "DELETE FROM metric_points WHERE id IN (SELECT id FROM metric_points WHERE received_at < ? "
    "LIMIT 5000)";

/* Runs the statements (each bound to cutoff) in one transaction; *n = rows of the last. */
static int
delete_chunk(struct jg_store_conn *conn, const char *const *sqls, size_t nsql, int64_t cutoff,
	     int *n)
{
	struct jg_stmt *st;
	int rc = jg_store_begin(conn);

	for (size_t i = 0; i < nsql && rc == 0; i++) {
		if ((rc = jg_stmt_prepare(conn, sqls[i], &st)) != 0)
			break;
		jg_stmt_bind_int64(st, 1, cutoff);
		rc = step_done(st);
		*n = jg_store_changes(conn);
	}
	if (rc == 0)
		rc = jg_store_commit(conn);
	if (rc != 0)
		jg_store_rollback(conn);
	return rc;
}

int
jg_telemetry_sweep(struct jg_store *db, const struct jg_config *cfg, int64_t now, int64_t *deleted)
{
	static const char *const logs[] = {sql_del_fts, sql_del_fts_red, sql_del_logs};
	static const char *const spans[] = {sql_del_spans};
	static const char *const points[] = {sql_del_points};
	const struct {
		const char *const *sqls;
		size_t n;
		int64_t retention;
	} kinds[] = {{logs, 3, cfg->telemetry_logs_retention},
		     {spans, 1, cfg->telemetry_traces_retention},
		     {points, 1, cfg->telemetry_metrics_retention}};
	struct jg_store_conn *conn;
	int64_t total = 0;
	int rc = 0;

	if (jg_store_acquire(db, &conn) != 0)
		return JG_ESTORE;
	for (size_t k = 0; k < 3 && rc == 0; k++) {
		int n;
		do {
			n = 0;
			rc = delete_chunk(conn, kinds[k].sqls, kinds[k].n, now - kinds[k].retention,
					  &n);
			total += n;
		} while (rc == 0 && n == CHUNK);
	}
	jg_store_release(db, conn);
	if (deleted)
		*deleted = total;
	return rc;
}

struct jg_telemetry_sweeper {
	struct jg_store *db;
	const struct jg_config *cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
};

/* Deletions are logged at most once a minute (their sum), so steady traffic does not flood the log.
 */
#define SWEEP_LOG_SECONDS 60

static void *
sweeper_main(void *arg)
{
	struct jg_telemetry_sweeper *sw = arg;
	int64_t pending = 0, last_log = 0;
	pthread_mutex_lock(&sw->lock);
	while (!sw->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&sw->cond, &sw->lock, &until);
		if (sw->stop)
			break;
		pthread_mutex_unlock(&sw->lock);
		int64_t n = 0, now = (int64_t)time(NULL);
		if (jg_telemetry_sweep(sw->db, sw->cfg, now, &n) != 0)
			jg_log(JG_LOG_WARN,
			       "telemetry sweeper: cannot delete expired data now; "
			       "will retry",
			       NULL);
		pending += n;
		if (pending > 0 && now - last_log >= SWEEP_LOG_SECONDS) {
			jg_logf(JG_LOG_INFO, "telemetry sweeper: deleted %lld expired rows",
				(long long)pending);
			pending = 0;
			last_log = now;
		}
		pthread_mutex_lock(&sw->lock);
	}
	pthread_mutex_unlock(&sw->lock);
	return NULL;
}

int
jg_telemetry_sweeper_start(struct jg_store *db, const struct jg_config *cfg,
			   struct jg_telemetry_sweeper **out)
{
	struct jg_telemetry_sweeper *sw = calloc(1, sizeof(*sw));
	*out = NULL;
	if (sw == NULL)
		return JG_ENOMEM;
	sw->db = db;
	sw->cfg = cfg;
	pthread_mutex_init(&sw->lock, NULL);
	pthread_cond_init(&sw->cond, NULL);
	if (pthread_create(&sw->thread, NULL, sweeper_main, sw) != 0) {
		pthread_mutex_destroy(&sw->lock);
		pthread_cond_destroy(&sw->cond);
		free(sw);
		return JG_EIO;
	}
	*out = sw;
	return 0;
}

void
jg_telemetry_sweeper_stop(struct jg_telemetry_sweeper *sw)
{
	if (sw == NULL)
		return;
	pthread_mutex_lock(&sw->lock);
	sw->stop = 1;
	pthread_cond_signal(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
	pthread_join(sw->thread, NULL);
	pthread_mutex_destroy(&sw->lock);
	pthread_cond_destroy(&sw->cond);
	free(sw);
}

/* ---- query times ------------------------------------------------------------ */

int
jg_telemetry_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *suffix;
		int64_t ns;
	} units[] = {{"ms", 1000000LL},	     {"s", 1000000000LL},     {"m", 60000000000LL},
		     {"h", 3600000000000LL}, {"d", 86400000000000LL}, {"", 1000000LL}};
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]) || strlen(s) > 20)
		return JG_EINVAL;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno != 0)
		return JG_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > INT64_MAX / units[i].ns)
				return JG_EINVAL;
			*ns = n * units[i].ns;
			return 0;
		}
	}
	return JG_EINVAL;
}

int
jg_telemetry_parse_time(const char *s, int64_t now, int64_t *ns)
{
	int64_t d;
	char *end;

	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return JG_EINVAL;
	/* a bare number: Unix seconds */
	if (strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		long long secs = strtoll(s, &end, 10);
		if (errno != 0 || secs > INT64_MAX / 1000000000LL)
			return JG_EINVAL;
		*ns = secs * 1000000000LL;
		return 0;
	}
	/* a duration before now ("ms" alone would be ambiguous with minutes: allowed) */
	if (isdigit((unsigned char)s[0]) && strchr(s, '-') == NULL && strchr(s, ':') == NULL) {
		if (jg_telemetry_parse_duration(s, &d) != 0 || strspn(s, "0123456789") == strlen(s))
			return JG_EINVAL;
		*ns = now * 1000000000LL - d;
		return *ns >= 0 ? 0 : JG_EINVAL;
	}
	return jg_otlp_parse_rfc3339(s, ns);
}
