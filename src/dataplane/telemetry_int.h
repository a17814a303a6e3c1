/*
 * telemetry_int.h - what the files of the telemetry module share (not a
 * public interface: other modules use include/jitgate/telemetry.h):
 *
 *   telemetry.c            open and migrate the telemetry database
 *   telemetry_text.c       redaction of records and spans, the search text
 *   telemetry_search.c     the words of a search; PostgreSQL's tsvector and tsquery
 *   telemetry_store.c      storing a converted batch in one transaction
 *   telemetry_retention.c  retention sweeps and the sweeper thread
 *   telemetry_time.c       query times and durations; times as shown
 *   telemetry_logs.c       the logs reader (search, paging, its cursor)
 *   telemetry_traces.c     one trace, and the trace search
 *   telemetry_metrics.c    the metric list and one metric's series
 */
#ifndef JITGATE_TELEMETRY_INT_H
#define JITGATE_TELEMETRY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"
#include "jitgate/tokenize.h"

/*
 * telemetry_text.c: redacts holder (any JSON) for a reader without read-pii:
 * sensitive keys of fields, personal data in strings; *found (may be NULL)
 * counts what was redacted.  0 or a JG_E* code (then holder may be half
 * redacted and must not be shown).
 */
int jg_telemetry_redact_json(json_t *holder, char *const *fields, unsigned *found);

/*
 * telemetry_search.c: the next word of a search from *p (advanced past it):
 * a run of non-blank bytes with a letter, a digit or a byte >= 0x80 in it
 * (other runs are skipped).  false at the end.
 */
bool jg_telemetry_next_word(const char **p, const char **word, size_t *len);

/*
 * telemetry_search.c: text (NUL-terminated, as SQLite binds it) as a
 * tsvector literal of the shared tokenizer's tokens and their positions
 * ("" for no token).  *out is the caller's.  0, JG_ENOMEM or JG_ESTORE.
 */
int jg_telemetry_tsvector(struct jg_tokenizer *t, const char *text, char **out);

/*
 * telemetry_search.c: a valid search (jg_telemetry_search_valid) as a
 * tsquery literal: each word the phrase of its tokens, the words ANDed.
 * *out is the caller's; NULL when no word has a token (the search matches
 * nothing, as in FTS5).  0, JG_ENOMEM, JG_EINVAL or JG_ESTORE.
 */
int jg_telemetry_tsquery(struct jg_tokenizer *t, const char *q, char **out);

#endif
