/*
 * api_ingest_auth.c - the ingest-key check of the handlers agents and
 * telemetry senders call (api_ingest_int.h): the HTTP side of
 * jg_catalog_ingest_auth(), with the failure throttle.
 */
#include <string.h>
#include <strings.h>

#include "api_ingest_int.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/throttle.h"

int
jg_api_require_ingest(struct jg_http_request *req, struct jg_http_reply *reply,
		      struct jg_ingest_caller *caller)
{
	struct jg_app *app = req->app;
	const char *auth = jg_http_header(req, "Authorization");

	memset(caller, 0, sizeof(*caller));
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		jg_http_reply_error(reply, 401, "unauthorized",
				    "an ingest key is required: Authorization: Bearer jgk_...");
		jg_http_reply_header(reply, "WWW-Authenticate", "Bearer realm=\"jitgate-ingest\"");
		return JG_EDENIED;
	}
	/* the key is judged first: a good key is never refused for what its address did */
	int rc = jg_catalog_ingest_auth(app->store, auth + 7, caller);
	if (rc == JG_EDENIED) {
		struct jg_throttle_refusal why = {0};
		char addr[JG_THROTTLE_ADDR_MAX];
		jg_http_client_key(req, addr, sizeof(addr));
		if (jg_throttle_failed_address(app->throttle, addr, &why) != 0) {
			jg_throttle_reply(reply, &why);
			return JG_EDENIED;
		}
		jg_http_reply_error(reply, 401, "unauthorized",
				    "the ingest key is not valid (unknown, revoked, or its service "
				    "was removed)");
		jg_http_reply_header(reply, "WWW-Authenticate",
				     "Bearer realm=\"jitgate-ingest\", error=\"invalid_token\"");
		return JG_EDENIED;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the store is unavailable");
		return JG_EUNAVAIL;
	}
	return 0;
}
