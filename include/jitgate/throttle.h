/*
 * throttle.h - jitgate's rate limits on failed authentications and on new
 * access requests (docs/operations.md#limits), over ratelimit.h.
 *
 * Two kinds of bucket, each kept per client address and per identity:
 *
 *   auth failures   every 401 of a bearer token, session, capability token,
 *                   ingest key or sign-in callback (and a 403 for a missing
 *                   CSRF token) takes a token.  Once the address (or the
 *                   identity) has none left, its requests are answered 429
 *                   before any credential is looked at, until the bucket
 *                   refills.  An identity is charged only when it is proven
 *                   (a valid session without its CSRF token, a verified
 *                   capability token whose grant has ended): charging a
 *                   name merely claimed in a bad token would let anyone
 *                   lock a victim out.
 *   requests        every POST /v1/requests that is not a dry run takes a
 *                   token from the caller's identity and from its address.
 *
 * An IPv6 client is keyed by its /64 (one host usually holds a whole /64).
 * Refusals are counted for /metrics.  Thread-safe.
 */
#ifndef JITGATE_THROTTLE_H
#define JITGATE_THROTTLE_H

#include "jitgate/config.h"
#include "jitgate/http.h"

struct jg_throttle;

/* Tables sized and refilled from lim (borrowed during the call).  NULL when out of memory. */
struct jg_throttle *jg_throttle_new(const struct jg_limits *lim);
void jg_throttle_free(struct jg_throttle *t);

/*
 * Before any credential is checked: when the client's address has no
 * failures left, fills reply with 429 (Retry-After) and returns
 * JG_EDENIED; otherwise 0.  A NULL throttle (tools, tests) never limits.
 */
int jg_throttle_auth_check(struct jg_throttle *t, const struct jg_http_request *req,
			   struct jg_http_reply *reply) __attribute__((warn_unused_result));

/*
 * The same for a proven identity ("user:<sub>"), after it is known and
 * before it may act.
 */
int jg_throttle_identity_check(struct jg_throttle *t, const char *identity,
			       struct jg_http_reply *reply) __attribute__((warn_unused_result));

/* Records one failed authentication of the client's address and, if not NULL, of identity. */
void jg_throttle_auth_failed(struct jg_throttle *t, const struct jg_http_request *req,
			     const char *identity);

/*
 * One new access request by identity from the client's address: 0, or
 * 429 in reply and JG_EDENIED when either bucket is empty.
 */
int jg_throttle_request(struct jg_throttle *t, const struct jg_http_request *req,
			const char *identity, struct jg_http_reply *reply)
    __attribute__((warn_unused_result));

/*
 * One sign-in started from the client's address (each costs an outbound
 * call to the identity provider and holds a worker while it runs): 0, or
 * JG_EDENIED with *retry_after seconds when the address's bucket
 * (limits.requests_per_address_per_minute, burst requests_address_burst) is empty.
 */
int jg_throttle_login(struct jg_throttle *t, const struct jg_http_request *req, int *retry_after)
    __attribute__((warn_unused_result));

/* Prometheus text for /metrics (caller frees); NULL when out of memory. */
char *jg_throttle_metrics_text(struct jg_throttle *t);

#endif
