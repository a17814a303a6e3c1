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
#define JG_EINVAL    -1	 /* invalid argument or input */
#define JG_ENOMEM    -2	 /* allocation failed */
#define JG_EIO	     -3	 /* file or network I/O failed */
#define JG_ECONFIG   -4	 /* configuration invalid */
#define JG_ESTORE    -5	 /* the store failed (busy, full, read-only, corrupt) */
#define JG_ENOTFOUND -6	 /* the thing asked for does not exist */
#define JG_ECONFLICT -7	 /* state does not allow the operation */
#define JG_ETOOBIG   -8	 /* input exceeds a hard cap */
#define JG_ECRYPTO   -9	 /* a cryptographic operation failed */
#define JG_EVERIFY   -10 /* a signature, hash or proof did not verify */
#define JG_EPARSE    -11 /* input could not be parsed */
#define JG_EDENIED   -12 /* not allowed */
#define JG_EUNAVAIL  -13 /* a dependency is unavailable: fail closed */
#define JG_EDEFERRED -14 /* not done yet: the request was deferred (http.h) */
#define JG_ELIMITED  -15 /* a rate limit (throttle.h): nothing was done; try again later */
#define JG_ERETRY    -16 /* transient conflict (serialization, deadlock): retry it */

/* Returns a static string describing code; never NULL. */
const char *jg_strerror(int code);

/*
 * Writes the reason for a failure (printf-style) into why and returns rc,
 * so a refusal is one statement: `return jg_errf(why, whylen, JG_EDENIED,
 * "...", ...);`.  why may be NULL or whylen 0 (the reason is then dropped);
 * a reason too long for why is cut short, still NUL-terminated.
 */
int jg_errf(char *why, size_t whylen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
