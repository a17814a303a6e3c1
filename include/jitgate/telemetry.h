/*
 * telemetry.h - the debug data plane's database: logs, spans, metric points.
 *
 * A SQLite file of its own (telemetry.database, default telemetry.db beside
 * the state database) opened with the store layer (store.h), with its own
 * forward-only migrations in <migrations_dir>/telemetry/.  Ingest stores a
 * converted batch (otlp.h) in one transaction: all of it or nothing.  A
 * sweeper thread deletes what is older than each kind's retention, measured
 * from when jitgate received it, in bounded chunks so ingest never waits
 * long for the write lock.
 *
 * Redaction for readers without read-pii also lives here, so logs and spans
 * are redacted by the same rules (redact.h plus the configured sensitive
 * field names): the full-text index of logs is kept twice, as sent and as
 * redacted, and a reader without read-pii searches only the redacted one.
 *
 * Thread-safe: state lives in the database; the sweeper is one thread.
 */
#ifndef JITGATE_TELEMETRY_H
#define JITGATE_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/config.h"
#include "jitgate/store.h"

struct jg_telemetry_sweeper;

/* The telemetry migrations directory for cfg (caller frees), or NULL. */
char *jg_telemetry_migrations_dir(const struct jg_config *cfg);

/*
 * Opens the telemetry database of cfg and checks its schema is current.
 * Returns 0, or JG_ESTORE / JG_ECONFLICT with err filled (pending or
 * changed migrations: run `jitgate migrate`).
 */
int jg_telemetry_open(const struct jg_config *cfg, struct jg_store **out, char *err, size_t errlen);

/* Applies the telemetry migrations (creating the file); *applied may be NULL. */
int jg_telemetry_migrate(const struct jg_config *cfg, int *applied, char *err, size_t errlen);

/*
 * Stores converted records (otlp.h) of service in one transaction.  fields
 * is the NULL-terminated list of sensitive keys used to build the redacted
 * search index of logs.  Returns 0, JG_ESTORE (nothing stored) or
 * JG_ENOMEM.
 */
int jg_telemetry_store_logs(struct jg_store *db, const char *service, json_t *records,
			    char *const *fields, int64_t now);
int jg_telemetry_store_spans(struct jg_store *db, const char *service, json_t *spans, int64_t now);
int jg_telemetry_store_metrics(struct jg_store *db, const char *service, json_t *points,
			       int64_t now);

/*
 * Deletes logs, spans and metric points received before now minus their
 * kind's retention.  *deleted (may be NULL) gets the number of rows.
 */
int jg_telemetry_sweep(struct jg_store *db, const struct jg_config *cfg, int64_t now,
		       int64_t *deleted);

/* Starts a thread running jg_telemetry_sweep every second.  Stop (and free) with _stop. */
int jg_telemetry_sweeper_start(struct jg_store *db, const struct jg_config *cfg,
			       struct jg_telemetry_sweeper **out);
void jg_telemetry_sweeper_stop(struct jg_telemetry_sweeper *sw);

/*
 * The full-text search text of a log record: its body and its attributes
 * ("key value ...").  With fields != NULL, of the record as redacted for a
 * reader without read-pii.  A new string (caller frees), or NULL.
 */
char *jg_telemetry_log_text(json_t *record, char *const *fields);

/*
 * Redacts, in place, what a reader without read-pii must not see of a log
 * record (body, attributes, resource attributes) or a span (name, error,
 * attributes, events' names and attributes); ids, times, levels and status
 * are left alone (a 19-digit timestamp is not a card number).  Returns 0 or
 * a JG_E* code, in which case the value may be half redacted and must not
 * be shown.
 */
int jg_telemetry_redact_log(json_t *record, char *const *fields);
int jg_telemetry_redact_span(json_t *span, char *const *fields);

/*
 * Parses a query time: Unix seconds ("1764064800"), RFC 3339 text, or a
 * duration before now ("15m", "2h", "7d", "30s").  *ns gets Unix
 * nanoseconds.  Returns 0 or JG_EINVAL.
 */
int jg_telemetry_parse_time(const char *text, int64_t now, int64_t *ns);

/* Parses a duration "250ms", "2s", "5m", "1h", "1d" or plain milliseconds into nanoseconds. */
int jg_telemetry_parse_duration(const char *text, int64_t *ns);

#endif
