/*
 * log.h - the one structured logger: JSON lines on stderr.
 *
 * Each line is a JSON object {"time","level","msg", ...fields} encoded by
 * jansson, so a value can never break the line.  Callers pass fields as a
 * jansson object (borrowed).  Never log a secret, token, cookie or code:
 * this module cannot tell, the caller must not pass them.
 *
 * Thread-safe: one write(2) per line.
 */
#ifndef JITGATE_LOG_H
#define JITGATE_LOG_H

#include <jansson.h>

enum jg_log_level { JG_LOG_DEBUG = 0, JG_LOG_INFO, JG_LOG_WARN, JG_LOG_ERROR };

/* Sets the minimum level written.  Default JG_LOG_INFO. */
void jg_log_set_level(enum jg_log_level level);

/* Parses "debug", "info", "warn", "error".  Returns 0 or JG_EINVAL. */
int jg_log_level_parse(const char *name, enum jg_log_level *out);

/* True when a line of this level would be written (skip building fields otherwise). */
int jg_log_enabled(enum jg_log_level level);

/* Writes one line.  fields may be NULL; it is borrowed, not freed. */
void jg_log(enum jg_log_level level, const char *msg, json_t *fields);

/* printf-style message without fields (for start-up and tools). */
void jg_logf(enum jg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
