/*
 * error.h - jitgate's error codes.
 *
 * Every fallible function returns int: 0 on success, a negative JG_E* code
 * on failure, with results in out-parameters.  jg_strerror() turns a code
 * into a fixed, human-readable string (never NULL, never freed).
 */
#ifndef JITGATE_ERROR_H
#define JITGATE_ERROR_H

#include <stddef.h>

#define JG_OK	     0
#define JG_EINVAL    (-1)  /* invalid argument or input */
#define JG_ENOMEM    (-2)  /* allocation failed */
#define JG_EIO	     (-3)  /* file or network I/O failed */
#define JG_ECONFIG   (-4)  /* configuration invalid */
#define JG_ESTORE    (-5)  /* the store failed (busy, full, read-only, corrupt) */
#define JG_ENOTFOUND (-6)  /* the thing asked for does not exist */
#define JG_ECONFLICT (-7)  /* state does not allow the operation */
#define JG_ETOOBIG   (-8)  /* input exceeds a hard cap */
#define JG_ECRYPTO   (-9)  /* a cryptographic operation failed */
#define JG_EVERIFY   (-10) /* a signature, hash or proof did not verify */
#define JG_EPARSE    (-11) /* input could not be parsed */
#define JG_EDENIED   (-12) /* not allowed */
#define JG_EUNAVAIL  (-13) /* a dependency is unavailable: fail closed */
#define JG_EDEFERRED (-14) /* not done yet: the request was deferred (http.h) */
#define JG_ELIMITED  (-15) /* a rate limit (throttle.h): nothing was done; try again later */
#define JG_ERETRY    (-16) /* transient conflict (serialization, deadlock): retry it */

/* Returns a static string describing code; never NULL. */
const char *jg_strerror(int code);

/*
 * Writes the reason for a failure (printf-style) into why and yields rc, so
 * a refusal is one statement: `return jg_errf(why, whylen, JG_EDENIED,
 * "...", ...);`.  why may be NULL or whylen 0 (the reason is then dropped);
 * a reason too long for why is cut short, still NUL-terminated.
 *
 * jg_errf is a macro, not a function, so that a reader and the static
 * analyser both see the value of the expression: rc, after the message.  A
 * variadic function's result is opaque to the analyser, which then explores
 * "returned 0" after every refusal and reports the unset out-parameters of
 * that impossible path.  rc is evaluated once, after the message is written.
 */
#define jg_errf(why, whylen, rc, ...) (jg_errf_msg((why), (whylen), __VA_ARGS__), (rc))

/* Writes the reason of jg_errf: the message alone, into why (see above). */
void jg_errf_msg(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
