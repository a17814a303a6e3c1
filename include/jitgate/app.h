/*
 * app.h - the running broker: what every handler can reach.
 *
 * One struct jg_app lives for the whole `jitgate serve`; handlers get it as
 * req->app.  Modules add their state here as they land.
 */
#ifndef JITGATE_APP_H
#define JITGATE_APP_H

#include <pthread.h>

#include "jitgate/audit.h"
#include "jitgate/policy.h"
#include "jitgate/token.h"
#include "jitgate/token_issue.h"
#include "jitgate/config.h"
#include "jitgate/cursor.h"
#include "jitgate/guard.h"
#include "jitgate/oidc.h"
#include "jitgate/http.h"
#include "jitgate/router.h"
#include "jitgate/store.h"
#include "jitgate/throttle.h"

struct jg_notify;
struct jg_audit_stream;
struct jg_pii_keys;
struct jg_session_grant_keys;

struct jg_app {
	struct jg_config *cfg;
	struct jg_store *store;
	struct jg_router *router;
	struct jg_server *server;
	struct jg_audit *audit;
	struct jg_oidc *oidc;
	/* the policy set in force; replaced on SIGHUP under the write lock */
	pthread_rwlock_t policy_lock;
	struct jg_policy_set *policies;
	struct jg_token_keys *token_keys;
	struct jg_pii_keys *pii_keys;	     /* marks personal data in audit entries (pii.h) */
	struct jg_token_cache *token_cache;  /* verified tokens by hash (token_cache.h) */
	int64_t token_lifetime;		     /* seconds */
	struct jg_token_issuer token_issuer; /* tokens for grants (jg_app_wire) */
	struct jg_guard_ctx guard;	     /* the guarded endpoints' check (jg_app_wire) */
	struct jg_notify *notify;	    /* notifications (notify.h); never NULL while serving */
	struct jg_audit_stream *stream;	    /* the audit stream to a SIEM, or NULL */
	struct jg_store *telemetry;	    /* the data plane's own database (telemetry.h) */
	struct jg_throttle *throttle;	    /* rate limits (throttle.h); NULL: none */
	struct jg_cursor_keys *cursor_keys; /* seal paging cursors (cursor.h, key_dir) */
	/* encrypt the tokens kept for the debugging pages (session_grant.h); NULL: pages 503 */
	struct jg_session_grant_keys *session_grant_keys;
};

/*
 * Fills the contexts the modules are handed (token_issuer, guard) from the fields
 * above; called once they are all open, before the server starts.
 */
void jg_app_wire(struct jg_app *app);

/* Borrows the policy set in force (read lock); give it back with the release. */
const struct jg_policy_set *jg_app_policies_acquire(struct jg_app *app);
void jg_app_policies_release(struct jg_app *app);

/*
 * Every route of the JSON API: the tables of the api_*.c files (router.h),
 * NULL-terminated, in the order they are added (api_routes.c).
 */
extern const struct jg_route_table *const jg_api_route_tables[];

/*
 * The routes that serve the audit log as tiles (api_tiles.c) under the path
 * of origin (audit.origin): built into static storage, so call it once,
 * before the router is used.  0, or JG_ECONFIG with why when that path
 * cannot be a URL path (tiles are then not served).
 */
int jg_api_tiles_routes(const char *origin, struct jg_route_table *out, char *why, size_t whylen);

/*
 * Checks a probe spec, the body of POST /v1/services/{svc}/probes.  Returns
 * 0, or JG_EINVAL with reply filled (400 naming the first bad field).
 */
int jg_api_probes_validate(json_t *body, struct jg_http_reply *reply);

#define JG_AGENTS_MAX_BATCH 100 /* events in one POST .../events */
/*
 * Checks an event batch, the body of POST /v1/agents/probes/{id}/events.
 * Returns 0 with texts[0..*n) the events as compact JSON (texts has room
 * for JG_AGENTS_MAX_BATCH; the caller frees each), or JG_EINVAL with reply
 * filled (400) and nothing to free.
 */
int jg_api_agents_validate_batch(json_t *body, struct jg_http_reply *reply, char **texts,
				 size_t *n);

#endif
