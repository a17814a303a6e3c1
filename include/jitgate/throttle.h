/*
 * throttle.h - jitgate's rate limits on failed authentications, on new
 * access requests and on sign-ins (docs/operations.md#limits), over
 * ratelimit.h.
 *
 * Failed authentications are charged to the most specific thing that is
 * proven, never to a name a request merely claims:
 *
 *   the client's address   a credential that does not verify: a bad bearer
 *                          token, an unknown session, a capability token
 *                          whose signature or claims fail, an unknown
 *                          ingest key, a refused sign-in answer;
 *   the credential itself  an authentic credential refused for its own
 *                          state: a capability token whose grant has ended
 *                          ("jti:<jti>"), a valid session without its CSRF
 *                          token ("session:<cookie>").
 *
 * A bucket with nothing left turns the refusal of a request that fails
 * anyway into a 429; it never refuses a request whose credential verifies.
 * So failures cannot lock another user out: not those of someone sharing
 * their address, not the replays of their leaked, revoked token, not a
 * forged token bearing their name.  (An address over budget still gets the
 * provider-wide JWKS fetch for a key id not seen yet: a rotated key must
 * reach everyone, auth.c.)  The limits that are per address by design -
 * sign-ins, new requests, connections - are shared by everyone behind one
 * address (docs/operations.md).
 *
 * Further limits: new access requests per identity and per address, and
 * sign-ins per address.  At most JG_THROTTLE_REFUSALS_PER_TOKEN
 * `guard.refused` entries are written per capability token.  An IPv6
 * client is keyed by its /64 (jg_http_client_key()).  Refusals are counted
 * for /metrics.  Thread-safe.
 */
#ifndef JITGATE_THROTTLE_H
#define JITGATE_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "jitgate/config.h"
#include "jitgate/http.h"

/* guard.refused entries written per capability token (jti), ever (in memory). */
#define JG_THROTTLE_REFUSALS_PER_TOKEN 10
/* Room for a client key of jg_http_client_key(). */
#define JG_THROTTLE_ADDR_MAX 80

struct jg_throttle;

/* Why a call is refused with 429: see jg_throttle_reply(). */
struct jg_throttle_refusal {
	int retry_after;  /* whole seconds until the bucket has a token, at least 1 */
	const char *what; /* static text, "too many ... from this address" */
};

/* Tables sized and refilled from lim (borrowed during the call).  NULL when out of memory. */
struct jg_throttle *jg_throttle_new(const struct jg_limits *lim);
/*
 * The same with time read from clock_ms(arg), milliseconds of a clock that
 * does not step back (for tests: no sleeping).
 */
struct jg_throttle *jg_throttle_new_clock(const struct jg_limits *lim, int64_t (*clock_ms)(void *),
					  void *arg);
void jg_throttle_free(struct jg_throttle *t);

/*
 * A presented credential that did not verify, from address addr: charged
 * to the address.  Returns 0 when the address had a failure left (answer
 * the refusal as usual: 401), or JG_EDENIED with *why filled when it had
 * none (answer 429 instead: jg_throttle_reply()).
 */
int jg_throttle_failed_address(struct jg_throttle *t, const char *addr,
			       struct jg_throttle_refusal *why) __attribute__((warn_unused_result));

/*
 * An authentic credential refused for its own state: charged to that
 * credential ("jti:<jti>", "session:<cookie>"; only a keyed digest of it is
 * kept), not to its owner or the address.  Returns as
 * jg_throttle_failed_address().
 */
int jg_throttle_failed_credential(struct jg_throttle *t, const char *credential,
				  struct jg_throttle_refusal *why)
    __attribute__((warn_unused_result));

/*
 * Whether one more `guard.refused` entry may be written for capability
 * token jti: true for its first JG_THROTTLE_REFUSALS_PER_TOKEN refusals,
 * then false (counted in jitgate_guard_refusals_unrecorded_total).
 */
bool jg_throttle_refusal_recordable(struct jg_throttle *t, const char *jti);

/*
 * One new access request by identity ("user:<sub>") from address addr: 0,
 * or JG_EDENIED with *why when either bucket is empty (both are charged).
 */
int jg_throttle_request(struct jg_throttle *t, const char *addr, const char *identity,
			struct jg_throttle_refusal *why) __attribute__((warn_unused_result));

/*
 * One sign-in started from address addr (each costs an outbound call to
 * the identity provider and holds a worker while it runs): 0, or JG_EDENIED
 * with *why when the address's bucket (limits.requests_per_address_per_minute,
 * burst requests_address_burst) is empty.
 */
int jg_throttle_login(struct jg_throttle *t, const char *addr, struct jg_throttle_refusal *why)
    __attribute__((warn_unused_result));

/*
 * Fills reply with the JSON 429 for why: code too_many_requests, message
 * "<what>; retry in N seconds", header Retry-After: N.
 */
void jg_throttle_reply(struct jg_http_reply *reply, const struct jg_throttle_refusal *why);

/* Prometheus text for /metrics (caller frees); NULL when out of memory. */
char *jg_throttle_metrics_text(struct jg_throttle *t);

#endif
