/*
 * throttle.c - rate limits on failed authentications, new requests and sign-ins (see throttle.h).
 *
 * Six bucket tables of fixed size: failed authentications by address and
 * by authentic credential (a capability token's jti, a session), new
 * requests by identity and by address, sign-ins by address, and the count
 * of guard.refused entries written per capability token (a table that
 * never refills: a cap, not a rate).  Keys are prefixed ("jti:",
 * "session:") only for readability; the tables are apart.
 *
 * No table is consulted before a credential is judged: a failure bucket is
 * charged only once a request has failed, and only decides whether that
 * failure is answered 401 (or 403) or 429.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "jitgate/error.h"
#include "jitgate/ratelimit.h"
#include "jitgate/throttle.h"

struct jg_throttle {
	struct jg_ratelimit *fail_addr, *fail_cred, *req_id, *req_addr, *login_addr, *refusals;
	int64_t (*now_ms)(void *);
	void *now_arg;
	atomic_ullong failures;		/* failed authentications charged */
	atomic_ullong limited_login;	/* 429s for sign-ins */
	atomic_ullong limited_auth;	/* 429s for failed authentications */
	atomic_ullong limited_request;	/* 429s for new requests */
	atomic_ullong refusals_dropped; /* guard.refused entries not written (the cap) */
};

static int64_t
monotonic_ms(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_ms(const struct jg_throttle *t)
{
	return t->now_ms(t->now_arg);
}

struct jg_throttle *
jg_throttle_new_clock(const struct jg_limits *lim, int64_t (*clock_ms)(void *), void *arg)
{
	struct jg_throttle *t = calloc(1, sizeof(*t));
	size_t n = (size_t)lim->rate_table_entries;

	if (t == NULL)
		return NULL;
	t->now_ms = clock_ms;
	t->now_arg = arg;
	t->fail_addr = jg_ratelimit_new(n, (uint32_t)lim->auth_failures_per_minute,
					(uint32_t)lim->auth_failures_burst);
	t->fail_cred = jg_ratelimit_new(n, (uint32_t)lim->auth_failures_per_minute,
					(uint32_t)lim->auth_failures_burst);
	t->req_id =
	    jg_ratelimit_new(n, (uint32_t)lim->requests_per_minute, (uint32_t)lim->requests_burst);
	t->req_addr = jg_ratelimit_new(n, (uint32_t)lim->requests_per_address_per_minute,
				       (uint32_t)lim->requests_address_burst);
	/* a sign-in costs an outbound call to the provider: as many as new requests per address */
	t->login_addr = jg_ratelimit_new(n, (uint32_t)lim->requests_per_address_per_minute,
					 (uint32_t)lim->requests_address_burst);
	/* per_minute 0: never refills */
	t->refusals = jg_ratelimit_new(n, 0, JG_THROTTLE_REFUSALS_PER_TOKEN);
	if (!t->fail_addr || !t->fail_cred || !t->req_id || !t->req_addr || !t->login_addr ||
	    !t->refusals) {
		jg_throttle_free(t);
		return NULL;
	}
	return t;
}

struct jg_throttle *
jg_throttle_new(const struct jg_limits *lim)
{
	return jg_throttle_new_clock(lim, monotonic_ms, NULL);
}

void
jg_throttle_free(struct jg_throttle *t)
{
	if (t == NULL)
		return;
	jg_ratelimit_free(t->fail_addr);
	jg_ratelimit_free(t->fail_cred);
	jg_ratelimit_free(t->req_id);
	jg_ratelimit_free(t->req_addr);
	jg_ratelimit_free(t->login_addr);
	jg_ratelimit_free(t->refusals);
	free(t);
}

static int
refuse(struct jg_throttle_refusal *why, int retry_after, const char *what)
{
	why->retry_after = retry_after < 1 ? 1 : retry_after;
	why->what = what;
	return JG_EDENIED;
}

void
jg_throttle_reply(struct jg_http_reply *reply, const struct jg_throttle_refusal *why)
{
	char secs[16];
	snprintf(secs, sizeof(secs), "%d", why->retry_after);
	jg_http_reply_error(reply, 429, "too_many_requests", "%s; retry in %d seconds", why->what,
			    why->retry_after);
	jg_http_reply_header(reply, "Retry-After", secs);
}

/* One failure charged to key in table: 0, or JG_EDENIED with why (what) when none was left. */
static int
charge(struct jg_throttle *t, struct jg_ratelimit *table, const char *key,
       struct jg_throttle_refusal *why, const char *what)
{
	int retry;

	if (t == NULL)
		return 0;
	atomic_fetch_add(&t->failures, 1);
	if (jg_ratelimit_take(table, key, now_ms(t), &retry))
		return 0;
	atomic_fetch_add(&t->limited_auth, 1);
	return refuse(why, retry, what);
}

int
jg_throttle_failed_address(struct jg_throttle *t, const char *addr, struct jg_throttle_refusal *why)
{
	return charge(t, t ? t->fail_addr : NULL, addr, why,
		      "too many failed authentications from this address");
}

int
jg_throttle_failed_credential(struct jg_throttle *t, const char *credential,
			      struct jg_throttle_refusal *why)
{
	return charge(t, t ? t->fail_cred : NULL, credential, why,
		      "too many failed uses of this credential");
}

bool
jg_throttle_refusal_recordable(struct jg_throttle *t, const char *jti)
{
	if (t == NULL)
		return true;
	if (jg_ratelimit_take(t->refusals, jti, now_ms(t), NULL))
		return true;
	atomic_fetch_add(&t->refusals_dropped, 1);
	return false;
}

int
jg_throttle_request(struct jg_throttle *t, const char *addr, const char *identity,
		    struct jg_throttle_refusal *why)
{
	int retry = 0, retry_addr = 0;

	if (t == NULL)
		return 0;
	int64_t now = now_ms(t);
	/* both are charged: a refusal by one still counts against the other */
	bool id_ok = jg_ratelimit_take(t->req_id, identity, now, &retry);
	bool addr_ok = jg_ratelimit_take(t->req_addr, addr, now, &retry_addr);
	if (id_ok && addr_ok)
		return 0;
	atomic_fetch_add(&t->limited_request, 1);
	if (!id_ok)
		return refuse(why, retry > retry_addr ? retry : retry_addr,
			      "too many new access requests for this identity");
	return refuse(why, retry_addr, "too many new access requests from this address");
}

int
jg_throttle_login(struct jg_throttle *t, const char *addr, struct jg_throttle_refusal *why)
{
	int retry;

	if (t == NULL)
		return 0;
	if (jg_ratelimit_take(t->login_addr, addr, now_ms(t), &retry))
		return 0;
	atomic_fetch_add(&t->limited_login, 1);
	return refuse(why, retry, "too many sign-ins from this address");
}

char *
jg_throttle_metrics_text(struct jg_throttle *t)
{
	char *text = NULL;
	if (t == NULL)
		return calloc(1, 1);
	if (asprintf(&text,
		     "# HELP jitgate_auth_failures_total Failed authentications (bad tokens, "
		     "sessions, CSRF tokens, ingest keys, sign-ins, tokens of ended grants).\n"
		     "# TYPE jitgate_auth_failures_total counter\n"
		     "jitgate_auth_failures_total %llu\n"
		     "# HELP jitgate_rate_limited_total Requests refused with 429, by limit.\n"
		     "# TYPE jitgate_rate_limited_total counter\n"
		     "jitgate_rate_limited_total{limit=\"auth_failures\"} %llu\n"
		     "jitgate_rate_limited_total{limit=\"requests\"} %llu\n"
		     "jitgate_rate_limited_total{limit=\"sign_ins\"} %llu\n"
		     "# HELP jitgate_guard_refusals_unrecorded_total Refusals of capability tokens "
		     "past the guard.refused entries kept per token.\n"
		     "# TYPE jitgate_guard_refusals_unrecorded_total counter\n"
		     "jitgate_guard_refusals_unrecorded_total %llu\n"
		     "# HELP jitgate_rate_limit_entries Clients tracked per bucket table (fixed "
		     "capacity).\n"
		     "# TYPE jitgate_rate_limit_entries gauge\n"
		     "jitgate_rate_limit_entries{table=\"auth_failures_address\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"auth_failures_credential\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"requests_identity\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"requests_address\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"sign_ins_address\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"guard_refusals_token\"} %zu\n",
		     (unsigned long long)atomic_load(&t->failures),
		     (unsigned long long)atomic_load(&t->limited_auth),
		     (unsigned long long)atomic_load(&t->limited_request),
		     (unsigned long long)atomic_load(&t->limited_login),
		     (unsigned long long)atomic_load(&t->refusals_dropped),
		     jg_ratelimit_entries(t->fail_addr), jg_ratelimit_entries(t->fail_cred),
		     jg_ratelimit_entries(t->req_id), jg_ratelimit_entries(t->req_addr),
		     jg_ratelimit_entries(t->login_addr), jg_ratelimit_entries(t->refusals)) < 0)
		return NULL;
	return text;
}
