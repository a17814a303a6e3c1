/*
 * api_tiles.c - the audit log as C2SP tlog-tiles, under the log's origin:
 *
 *   GET <prefix>/checkpoint             the checkpoint tiles start from (a signed note)
 *   GET <prefix>/tile/<L>/<N>[.p/<W>]   a tile of tree hashes
 *   GET <prefix>/tile/entries/<N>[.p/<W>] an entry bundle
 *
 * <prefix> is the path of audit.origin ("host/audit" -> "/audit"), so a
 * reader finds the tiles at https://<origin>/ as the spec asks; the origin
 * itself never changes for this (key ids are derived from it).  The routes
 * therefore depend on the configuration: they are built once at start-up
 * (jg_api_tiles_routes) into this file's static storage, which outlives the
 * router as router.h requires.
 *
 * Readers are whoever may export: a caller in auth.auditor_groups.  Like
 * the other auditor reads (entries, proofs), a fetch is not itself recorded
 * in the log - a monitor tailing the log would otherwise grow it with every
 * poll - while an export, which also makes a checkpoint, is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/audit.h"
#include "jitgate/auth.h"
#include "jitgate/error.h"
#include "jitgate/http.h"
#include "jitgate/tile_path.h"

/* Authenticated, so never in a shared cache; immutable once served (the tree only grows). */
#define TILE_CACHE	 "private, max-age=31536000, immutable"
#define CHECKPOINT_CACHE "private, max-age=5"

static int
require_reader(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_caller caller;
	int rc =
	    jg_auth_require_groups(req, reply, &caller, app->cfg->auth_auditor_groups, "auditor");
	if (rc == 0)
		jg_caller_clear(&caller);
	return rc;
}

static void
handle_checkpoint(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	uint64_t size;
	char *note = NULL;

	if (require_reader(req, reply) != 0)
		return;
	int rc = jg_audit_tiles_checkpoint(app->audit, &note, &size);
	if (rc == JG_ENOTFOUND) {
		jg_http_reply_error(reply, 404, "not_found",
				    app->cfg->audit_witnesses_min > 0
					? "no checkpoint has been cosigned by audit.witnesses.min "
					  "witnesses yet"
					: "no checkpoint has been made yet");
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the checkpoint cannot be read now");
		return;
	}
	reply->status = 200;
	reply->content_type = "text/plain; charset=utf-8";
	reply->body = note;
	reply->body_len = strlen(note);
	jg_http_reply_header(reply, "Cache-Control", CHECKPOINT_CACHE);
}

static void
handle_tile(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *name = jg_route_param(&req->route, "tile");
	struct jg_tile t;
	uint8_t *bytes = NULL;
	size_t len = 0;

	if (require_reader(req, reply) != 0)
		return;
	if (name == NULL || jg_tile_path_parse(name, &t) != 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "not a tile name: <L>/<N>[.p/<W>] or entries/<N>[.p/<W>], "
				    "N in 3-digit groups (x001/x234/067), W from 1 to 255");
		return;
	}
	int rc = jg_audit_tile_read(app->audit, &t, &bytes, &len);
	if (rc == JG_ENOTFOUND) {
		jg_http_reply_error(reply, 404, "not_found",
				    "the checkpoint tiles start from does not cover this tile");
		return;
	}
	if (rc != 0) {
		/* a row the tree needs is missing or malformed: the log itself is at fault */
		jg_http_reply_error(reply, 503, "unavailable",
				    rc == JG_EVERIFY ? "the stored log cannot make this tile"
						     : "the tile cannot be read now");
		return;
	}
	reply->status = 200;
	reply->content_type = "application/octet-stream";
	reply->body = (char *)bytes;
	reply->body_len = len;
	jg_http_reply_header(reply, "Cache-Control", TILE_CACHE);
}

/* The route patterns: <prefix>/checkpoint and <prefix>/tile/{tile...}. */
static char checkpoint_pattern[300];
static char tile_pattern[300];
static struct jg_route tile_routes[2];

#define MAX_PREFIX_SEGMENTS 5 /* the deepest tile name has 10 more; the router splits 16 */

/*
 * Whether prefix ("" or "/a/b") can be served as literal path segments:
 * no empty, "." or ".." segment (clients normalise those away), no braces
 * (placeholders), nothing a URL parser treats as a query, fragment or
 * escape, and few enough segments that the deepest tile name still fits
 * the router's segment limit.
 */
static bool
servable_prefix(const char *prefix)
{
	int segments = 0;

	if (prefix[0] == '\0')
		return true;
	if (strpbrk(prefix, "{}?#%\\") != NULL)
		return false;
	for (const char *p = prefix; *p == '/'; segments++) {
		size_t len = strcspn(p + 1, "/");
		if (len == 0 || (len == 1 && p[1] == '.') ||
		    (len == 2 && p[1] == '.' && p[2] == '.'))
			return false;
		p += 1 + len;
	}
	return segments <= MAX_PREFIX_SEGMENTS;
}

int
jg_api_tiles_routes(const char *origin, struct jg_route_table *out, char *why, size_t whylen)
{
	const char *slash = strchr(origin, '/');
	const char *prefix = slash ? slash : "";

	memset(out, 0, sizeof(*out));
	if (!servable_prefix(prefix) || strlen(prefix) > 200) {
		snprintf(why, whylen,
			 "the path of audit.origin '%s' cannot be served as URL path segments",
			 origin);
		return JG_ECONFIG;
	}
	snprintf(checkpoint_pattern, sizeof(checkpoint_pattern), "%s/checkpoint", prefix);
	snprintf(tile_pattern, sizeof(tile_pattern), "%s/tile/{tile...}", prefix);
	tile_routes[0] = (struct jg_route){"GET", checkpoint_pattern, handle_checkpoint, NULL, 0};
	tile_routes[1] = (struct jg_route){"GET", tile_pattern, handle_tile, NULL, 0};
	out->routes = tile_routes;
	out->n = 2;
	return 0;
}
