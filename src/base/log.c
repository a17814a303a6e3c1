/*
 * log.c - JSON-lines logger on stderr.
 *
 * A line is built as a jansson object and dumped compactly, then written
 * with a single writev(2) so concurrent threads never interleave partial
 * lines.  The time is RFC 3339 UTC with milliseconds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "jitgate/error.h"
#include "jitgate/log.h"

static volatile int min_level = JG_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void
jg_log_set_level(enum jg_log_level level)
{
	min_level = level;
}

int
jg_log_level_parse(const char *name, enum jg_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum jg_log_level)i;
			return 0;
		}
	}
	return JG_EINVAL;
}

static void
format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

int
jg_log_enabled(enum jg_log_level level)
{
	return (int)level >= min_level;
}

void
jg_log(enum jg_log_level level, const char *msg, json_t *fields)
{
	char when[96];
	json_t *line;
	char *text;

	if ((int)level < min_level)
		return;
	format_time(when, sizeof(when));
	line = json_object();
	if (line == NULL)
		return;
	json_object_set_new(line, "time", json_string(when));
	json_object_set_new(line, "level", json_string(level_names[level]));
	json_object_set_new(line, "msg", json_string(msg ? msg : ""));
	if (fields != NULL)
		json_object_update_missing(line, fields);
	text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
	json_decref(line);
	if (text == NULL)
		return;
	/* the line and its newline in one system call, so lines of threads do not interleave */
	struct iovec iov[2] = {{.iov_base = text, .iov_len = strlen(text)},
			       {.iov_base = "\n", .iov_len = 1}};
	ssize_t w = writev(STDERR_FILENO, iov, 2);
	(void)w; /* nowhere to report a failed log write */
	free(text);
}

void
jg_logf(enum jg_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if ((int)level < min_level)
		return;
	va_start(ap, fmt);
	/* a message cut short at 1023 bytes is still logged: vsnprintf NUL-terminates it */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jg_log(level, msg, NULL);
}
