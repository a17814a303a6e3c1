/*
 * api_ingest_int.h - the ingest-key check of the handlers that agents and
 * telemetry senders call (api_ingest.c, api_agents.c).  Internal to
 * src/api/; the keys themselves are the catalog's (catalog.h).
 */
#ifndef JITGATE_API_INGEST_INT_H
#define JITGATE_API_INGEST_INT_H

#include "jitgate/catalog.h"
#include "jitgate/http.h"

/*
 * Reads "Authorization: Bearer jgk_..." of req (whose req->app is a struct
 * jg_app) and authenticates it with jg_catalog_ingest_auth().  Returns 0
 * with *caller filled, or fills reply (401 with WWW-Authenticate, 429 for
 * an address over its failure budget, or 503) and returns JG_EDENIED /
 * JG_EUNAVAIL.  A failed key counts against the address (throttle.h).
 */
int jg_api_require_ingest(struct jg_http_request *req, struct jg_http_reply *reply,
			  struct jg_ingest_caller *caller) __attribute__((warn_unused_result));

#endif
