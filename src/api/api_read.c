/*
 * api_read.c - the errors of the shared guarded reads (api_read.h): one
 * struct a page can render as HTML and the API as the JSON it has always
 * answered, so a read written once serves both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jitgate/api_read.h"

void
jg_api_error_set(struct jg_api_error *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	memset(e, 0, sizeof(*e));
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void
jg_api_error_guard(struct jg_api_error *e, const struct jg_guard_refusal *no)
{
	memset(e, 0, sizeof(*e));
	e->status = no->status;
	e->code = no->code ? no->code : "too_many_requests";
	if (no->status == 429)
		snprintf(e->message, sizeof(e->message), "%s; retry in %d seconds", no->limit.what,
			 no->limit.retry_after);
	else
		snprintf(e->message, sizeof(e->message), "%s", no->message);
	e->from_guard = 1;
	e->guard = *no;
}

void
jg_api_error_reply(struct jg_http_reply *reply, const struct jg_api_error *e)
{
	if (e->from_guard) {
		jg_guard_reply(reply, &e->guard);
		return;
	}
	if (e->field != NULL) {
		json_t *err = json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
					e->code ? e->code : "bad_request", "message", e->message,
					"field", e->field);
		jg_http_reply_json(reply, e->status ? e->status : 400, err);
		return;
	}
	jg_http_reply_error(reply, e->status ? e->status : 500,
			    e->code ? e->code : "internal_error", "%s", e->message);
}
