/*
 * app.c - shared state of the running broker: the policy set in force, and
 * the contexts handed to the modules (jg_app_wire).
 *
 * Handlers read the set under a read lock for the length of one request;
 * a SIGHUP reload swaps it under the write lock, so a request never sees a
 * set being freed and a reload never waits long.
 */
#include "jitgate/app.h"

void
jg_app_wire(struct jg_app *app)
{
	app->token_issuer = (struct jg_token_issuer){.audit = app->audit,
						     .keys = app->token_keys,
						     .issuer = app->cfg->public_url,
						     .lifetime = app->token_lifetime};
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
