/*
 * error.c - text for jitgate's error codes, and the reason of a failure
 * (see include/jitgate/error.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "jitgate/error.h"

const char *
jg_strerror(int code)
{
	switch (code) {
	case JG_OK: return "success";
	case JG_EINVAL: return "invalid argument";
	case JG_ENOMEM: return "out of memory";
	case JG_EIO: return "input/output error";
	case JG_ECONFIG: return "invalid configuration";
	case JG_ESTORE: return "store error";
	case JG_ENOTFOUND: return "not found";
	case JG_ECONFLICT: return "conflict";
	case JG_ETOOBIG: return "input too large";
	case JG_ECRYPTO: return "cryptographic failure";
	case JG_EVERIFY: return "verification failed";
	case JG_EPARSE: return "parse error";
	case JG_EDENIED: return "denied";
	case JG_EUNAVAIL: return "unavailable";
	case JG_EDEFERRED: return "deferred";
	case JG_ELIMITED: return "rate limited";
	case JG_ERETRY: return "transient conflict; try again";
	default: return "unknown error";
	}
}

void
jg_errf_msg(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	/* a reason cut short is still a reason: vsnprintf NUL-terminates it */
	(void)vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}
