/*
 * app.c - shared state of the running broker: the policy set in force, and
 * the contexts handed to the modules (jg_app_wire).
 *
 * Handlers read the set under a read lock for the length of one request;
 * a SIGHUP reload swaps it under the write lock, so a request never sees a
 * set being freed and a reload never waits long.
 */
#include "jitgate/app.h"
#include "jitgate/clock.h"

/* jitgate's clock (clock.h) as the guard reads it. */
static int64_t
app_now(void *arg)
{
	(void)arg;
	return jg_clock_now();
}

void
jg_app_wire(struct jg_app *app)
{
	app->token_issuer = (struct jg_token_issuer){.audit = app->audit,
						     .keys = app->token_keys,
						     .issuer = app->cfg->public_url,
						     .lifetime = app->token_lifetime};
	app->guard = (struct jg_guard_ctx){.store = app->store,
					   .audit = app->audit,
					   .keys = app->token_keys,
					   .cache = app->token_cache,
					   .throttle = app->throttle,
					   .pii = app->pii_keys,
					   .public_url = app->cfg->public_url,
					   .now = app_now};
}

const struct jg_policy_set *
jg_app_policies_acquire(struct jg_app *app)
{
	pthread_rwlock_rdlock(&app->policy_lock);
	return app->policies;
}

void
jg_app_policies_release(struct jg_app *app)
{
	pthread_rwlock_unlock(&app->policy_lock);
}
