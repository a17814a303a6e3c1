/*
 * throttle.c - rate limits on failed authentications and new requests (see throttle.h).
 *
 * Five bucket tables of fixed size: auth failures by address and by
 * identity, new requests by identity and by address, sign-ins by address.  Keys are prefixed
 * ("ip:", "user:") only for readability of the tests; the tables are apart.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "jitgate/error.h"
#include "jitgate/ratelimit.h"
#include "jitgate/throttle.h"

struct jg_throttle {
	struct jg_ratelimit *fail_addr, *fail_id, *req_id, *req_addr, *login_addr;
	atomic_ullong failures;	       /* failed authentications recorded */
	atomic_ullong limited_login;   /* 429s for sign-ins */
	atomic_ullong limited_auth;    /* 429s for failed authentications */
	atomic_ullong limited_request; /* 429s for new requests */
};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct jg_throttle *
jg_throttle_new(const struct jg_limits *lim)
{
	struct jg_throttle *t = calloc(1, sizeof(*t));
	size_t n = (size_t)lim->rate_table_entries;

	if (t == NULL)
		return NULL;
	t->fail_addr = jg_ratelimit_new(n, (uint32_t)lim->auth_failures_per_minute,
					(uint32_t)lim->auth_failures_burst);
	t->fail_id = jg_ratelimit_new(n, (uint32_t)lim->auth_failures_per_minute,
				      (uint32_t)lim->auth_failures_burst);
	t->req_id =
	    jg_ratelimit_new(n, (uint32_t)lim->requests_per_minute, (uint32_t)lim->requests_burst);
	t->req_addr = jg_ratelimit_new(n, (uint32_t)lim->requests_per_address_per_minute,
				       (uint32_t)lim->requests_address_burst);
	/* a sign-in costs an outbound call to the provider: as many as new requests per address */
	t->login_addr = jg_ratelimit_new(n, (uint32_t)lim->requests_per_address_per_minute,
					 (uint32_t)lim->requests_address_burst);
	if (!t->fail_addr || !t->fail_id || !t->req_id || !t->req_addr || !t->login_addr) {
		jg_throttle_free(t);
		return NULL;
	}
	return t;
}

void
jg_throttle_free(struct jg_throttle *t)
{
	if (t == NULL)
		return;
	jg_ratelimit_free(t->fail_addr);
	jg_ratelimit_free(t->fail_id);
	jg_ratelimit_free(t->req_id);
	jg_ratelimit_free(t->req_addr);
	jg_ratelimit_free(t->login_addr);
	free(t);
}

static int
too_many(struct jg_http_reply *reply, int retry_after, const char *what)
{
	char secs[16];
	snprintf(secs, sizeof(secs), "%d", retry_after);
	jg_http_reply_error(reply, 429, "too_many_requests", "%s; retry in %d seconds", what,
			    retry_after);
	jg_http_reply_header(reply, "Retry-After", secs);
	return JG_EDENIED;
}

int
jg_throttle_auth_check(struct jg_throttle *t, const struct jg_http_request *req,
		       struct jg_http_reply *reply)
{
	char key[80];
	int retry;

	if (t == NULL)
		return 0;
	jg_http_client_key(req, key, sizeof(key));
	if (jg_ratelimit_check(t->fail_addr, key, now_ms(), &retry))
		return 0;
	atomic_fetch_add(&t->limited_auth, 1);
	return too_many(reply, retry, "too many failed authentications from this address");
}

int
jg_throttle_identity_check(struct jg_throttle *t, const char *identity, struct jg_http_reply *reply)
{
	int retry;

	if (t == NULL || identity == NULL)
		return 0;
	if (jg_ratelimit_check(t->fail_id, identity, now_ms(), &retry))
		return 0;
	atomic_fetch_add(&t->limited_auth, 1);
	return too_many(reply, retry, "too many failed authentications for this identity");
}

void
jg_throttle_auth_failed(struct jg_throttle *t, const struct jg_http_request *req,
			const char *identity)
{
	char key[80];
	int64_t now = now_ms();

	if (t == NULL)
		return;
	atomic_fetch_add(&t->failures, 1);
	jg_http_client_key(req, key, sizeof(key));
	(void)jg_ratelimit_take(t->fail_addr, key, now, NULL);
	if (identity != NULL)
		(void)jg_ratelimit_take(t->fail_id, identity, now, NULL);
}

int
jg_throttle_request(struct jg_throttle *t, const struct jg_http_request *req, const char *identity,
		    struct jg_http_reply *reply)
{
	char key[80];
	int retry = 0, retry_addr = 0;
	int64_t now = now_ms();

	if (t == NULL)
		return 0;
	jg_http_client_key(req, key, sizeof(key));
	/* both are charged: a refusal by one still counts against the other */
	bool id_ok = jg_ratelimit_take(t->req_id, identity, now, &retry);
	bool addr_ok = jg_ratelimit_take(t->req_addr, key, now, &retry_addr);
	if (id_ok && addr_ok)
		return 0;
	atomic_fetch_add(&t->limited_request, 1);
	if (!id_ok)
		return too_many(reply, retry > retry_addr ? retry : retry_addr,
				"too many new access requests for this identity");
	return too_many(reply, retry_addr, "too many new access requests from this address");
}

int
jg_throttle_login(struct jg_throttle *t, const struct jg_http_request *req, int *retry_after)
{
	char key[80];

	*retry_after = 0;
	if (t == NULL)
		return 0;
	jg_http_client_key(req, key, sizeof(key));
	if (jg_ratelimit_take(t->login_addr, key, now_ms(), retry_after))
		return 0;
	atomic_fetch_add(&t->limited_login, 1);
	return JG_EDENIED;
}

char *
jg_throttle_metrics_text(struct jg_throttle *t)
{
	char *text = NULL;
	if (t == NULL)
		return calloc(1, 1);
	if (asprintf(&text,
		     "# HELP jitgate_auth_failures_total Failed authentications (bad tokens, "
		     "sessions, ingest keys, sign-ins).\n"
		     "# TYPE jitgate_auth_failures_total counter\n"
		     "jitgate_auth_failures_total %llu\n"
		     "# HELP jitgate_rate_limited_total Requests refused with 429, by limit.\n"
		     "# TYPE jitgate_rate_limited_total counter\n"
		     "jitgate_rate_limited_total{limit=\"auth_failures\"} %llu\n"
		     "jitgate_rate_limited_total{limit=\"requests\"} %llu\n"
		     "jitgate_rate_limited_total{limit=\"sign_ins\"} %llu\n"
		     "# HELP jitgate_rate_limit_entries Clients tracked per bucket table (fixed "
		     "capacity).\n"
		     "# TYPE jitgate_rate_limit_entries gauge\n"
		     "jitgate_rate_limit_entries{table=\"auth_failures_address\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"auth_failures_identity\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"requests_identity\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"requests_address\"} %zu\n"
		     "jitgate_rate_limit_entries{table=\"sign_ins_address\"} %zu\n",
		     (unsigned long long)atomic_load(&t->failures),
		     (unsigned long long)atomic_load(&t->limited_auth),
		     (unsigned long long)atomic_load(&t->limited_request),
		     (unsigned long long)atomic_load(&t->limited_login),
		     jg_ratelimit_entries(t->fail_addr), jg_ratelimit_entries(t->fail_id),
		     jg_ratelimit_entries(t->req_id), jg_ratelimit_entries(t->req_addr),
		     jg_ratelimit_entries(t->login_addr)) < 0)
		return NULL;
	return text;
}
