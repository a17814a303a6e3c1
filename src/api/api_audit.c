/*
 * api_audit.c - the auditor endpoints under /v1/audit/.
 *
 *   GET  /v1/audit/export?from=&to=     JSON Lines export (itself audited)
 *   GET  /v1/audit/entries?type=&actor=&service=&since=&until=&before=&limit=
 *                                       a filtered page of entries, newest first
 *   GET  /v1/audit/checkpoint           the newest signed checkpoint
 *   POST /v1/audit/checkpoint           make one now
 *   GET  /v1/audit/proof?seq=&size=     inclusion proof
 *   GET  /v1/audit/consistency?from=&to= consistency proof
 *   POST /v1/audit/hash                 the markers of a value {value, kind?}
 *                                       (itself audited, as markers only)
 *
 * Every call needs a caller in one of auth.auditor_groups (auth.h); the
 * export and the hash are recorded in the log with that caller as actor.
 * Auditors hold no pii key (pii.h), so the hash is how they find a value
 * they already know among the log's markers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/api_call.h"
#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/pii.h"
#include "jitgate/secret.h"
#include "api_routes_int.h"

#define EXPORT_MAX_BYTES (64u << 20)
#define HASH_MAX_VALUE	 4096 /* bytes of a value to hash: more than any free text an entry holds */

/*
 * Auditors are the members of auth.auditor_groups, signed in through SSO.
 * actor (300 bytes) receives "user:<sub>" for the audit log; writes says the
 * call changes the log (then a browser session must show its CSRF token).
 */
static int
require_auditor(struct jg_http_request *req, struct jg_http_reply *reply, int writes, char *actor)
{
	struct jg_app *app = req->app;
	struct jg_caller caller;
	int rc =
	    jg_auth_require_groups(req, reply, &caller, app->cfg->auth_auditor_groups, "auditor");
	/*
	 * An export writes to the log (its own entry, a checkpoint) though it is a GET, and
	 * SameSite=Lax sends the session cookie with a link from another site: a browser
	 * session must show its CSRF token for it.
	 */
	if (rc == 0 && writes && strcmp(caller.id.via, "session") == 0) {
		const char *given = jg_http_header(req, "X-CSRF-Token");
		if (!jg_secret_equal(given, caller.csrf)) {
			jg_caller_clear(&caller);
			return jg_auth_refuse_csrf(req, reply,
						   "a call that writes to the audit log from a "
						   "browser session needs the X-CSRF-Token header");
		}
	}
	if (rc == 0) {
		snprintf(actor, sizeof(caller.actor), "%s", caller.actor);
		jg_caller_clear(&caller);
	}
	return rc;
}

static void
reply_unavailable(struct jg_http_reply *reply)
{
	jg_http_reply_error(reply, 503, "unavailable",
			    "the audit log cannot be written right now; nothing was done");
}

void
jg_api_audit_export(struct jg_http_request *req, struct jg_http_reply *reply, const char *actor)
{
	struct jg_app *app = req->app;
	uint64_t size, from, to;
	char *out = NULL;
	size_t len = 0;

	if (jg_audit_size(app->store, &size) != 0) {
		reply_unavailable(reply);
		return;
	}
	/* The export's own audit entry will be entry `size` (or later): it may be asked for. */
	if (jg_http_query_u64(req, reply, "from", 0, size, &from) != 0 ||
	    jg_http_query_u64(req, reply, "to", UINT64_MAX, size, &to) != 0)
		return;
	if (to != UINT64_MAX && from > to) {
		jg_http_reply_error(reply, 400, "bad_request", "'from' must not be after 'to'");
		return;
	}
	int rc = jg_audit_export_audited(app->audit, actor, from, to, EXPORT_MAX_BYTES, &out, &len);
	if (rc == JG_ETOOBIG) {
		jg_http_reply_error(
		    reply, 400, "export_too_large",
		    "the export would exceed %u MiB; ask for a smaller from..to range",
		    EXPORT_MAX_BYTES >> 20);
		return;
	}
	if (rc != 0) {
		reply_unavailable(reply);
		return;
	}
	reply->status = 200;
	reply->content_type = "application/x-ndjson";
	reply->body = out;
	reply->body_len = len;
}

static void
handle_export(struct jg_http_request *req, struct jg_http_reply *reply)
{
	char actor[300];
	if (require_auditor(req, reply, 1, actor) != 0)
		return;
	jg_api_audit_export(req, reply, actor);
}

/* GET /v1/audit/entries?type=&actor=&service=&since=&until=&before=&limit= (times in seconds) */
static void
handle_entries(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_audit_filter f = {.type = jg_http_query(req, "type"),
				    .actor = jg_http_query(req, "actor"),
				    .service = jg_http_query(req, "service")};
	uint64_t since, until, limit;
	json_t *out = NULL;
	char actor[300];

	if (require_auditor(req, reply, 0, actor) != 0)
		return;
	if (jg_http_query_u64(req, reply, "since", 0, INT64_MAX / 1000 - 1, &since) != 0 ||
	    jg_http_query_u64(req, reply, "until", 0, INT64_MAX / 1000 - 1, &until) != 0 ||
	    jg_http_query_u64(req, reply, "before", UINT64_MAX, INT64_MAX, &f.before) != 0 ||
	    jg_http_query_u64(req, reply, "limit", 50, JG_AUDIT_LIST_MAX, &limit) != 0)
		return;
	if (limit == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'limit' must be from 1 to %d",
				    JG_AUDIT_LIST_MAX);
		return;
	}
	if ((f.type && strlen(f.type) > 64) || (f.actor && strlen(f.actor) > 300) ||
	    (f.service && strlen(f.service) > 63)) {
		jg_http_reply_error(reply, 400, "bad_request", "a filter is too long");
		return;
	}
	f.since_ms = (int64_t)since * 1000;
	f.until_ms = until ? (int64_t)until * 1000 + 999 : 0;
	f.limit = (int)limit;
	if (jg_audit_list(app->store, &f, &out) != 0) {
		reply_unavailable(reply);
		return;
	}
	jg_http_reply_json(reply, 200, out);
}

static void
handle_checkpoint_get(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_audit_checkpoint_view v;
	char root[65], actor[300];

	if (require_auditor(req, reply, 0, actor) != 0)
		return;
	int rc = jg_audit_checkpoint_view(app->audit, &v);
	if (rc == JG_ENOTFOUND) {
		jg_http_reply_error(reply, 404, "not_found", "no checkpoint has been made yet");
		return;
	}
	if (rc != 0) {
		reply_unavailable(reply);
		return;
	}
	jg_hex32(v.cp.root, root);
	jg_http_reply_json(
	    reply, 200,
	    json_pack("{s:s,s:I,s:s,s:s,s:i,s:b,s:o}", "origin", v.cp.origin, "size",
		      (json_int_t)v.cp.size, "root", root, "note", v.note, "cosignatures",
		      v.cosignatures, "published", v.published, "published_size",
		      v.have_published ? json_integer((json_int_t)v.published_size) : json_null()));
	jg_audit_checkpoint_view_clear(&v);
}

static void
handle_checkpoint_post(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	char *note = NULL;
	uint64_t size;

	char actor[300];
	if (require_auditor(req, reply, 0, actor) != 0)
		return;
	if (jg_audit_checkpoint(app->audit, &note, &size) != 0) {
		reply_unavailable(reply);
		return;
	}
	jg_http_reply_json(reply, 201,
			   json_pack("{s:I,s:s}", "size", (json_int_t)size, "note", note));
	free(note);
}

static void
handle_proof(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	uint64_t have, seq, size;
	json_t *out = NULL;

	char actor[300];
	if (require_auditor(req, reply, 0, actor) != 0)
		return;
	if (jg_audit_size(app->store, &have) != 0) {
		reply_unavailable(reply);
		return;
	}
	if (jg_http_query(req, "seq") == NULL) {
		jg_http_reply_error(reply, 400, "bad_request", "query argument 'seq' is required");
		return;
	}
	if (jg_http_query_u64(req, reply, "size", have, have, &size) != 0 ||
	    jg_http_query_u64(req, reply, "seq", 0, size ? size - 1 : 0, &seq) != 0)
		return;
	if (seq >= size) {
		jg_http_reply_error(reply, 400, "bad_request", "'seq' must be below 'size'");
		return;
	}
	if (jg_audit_inclusion(app->store, seq, size, &out) != 0) {
		reply_unavailable(reply);
		return;
	}
	jg_http_reply_json(reply, 200, out);
}

static void
handle_consistency(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	uint64_t have, m, n;
	json_t *out = NULL;

	char actor[300];
	if (require_auditor(req, reply, 0, actor) != 0)
		return;
	if (jg_audit_size(app->store, &have) != 0) {
		reply_unavailable(reply);
		return;
	}
	if (jg_http_query(req, "from") == NULL) {
		jg_http_reply_error(reply, 400, "bad_request", "query argument 'from' is required");
		return;
	}
	if (jg_http_query_u64(req, reply, "to", have, have, &n) != 0 ||
	    jg_http_query_u64(req, reply, "from", 0, n, &m) != 0)
		return;
	if (jg_audit_consistency(app->store, m, n, &out) != 0) {
		reply_unavailable(reply);
		return;
	}
	jg_http_reply_json(reply, 200, out);
}

/*
 * POST /v1/audit/hash {"value": "...", "kind": "..."}: the value's marker
 * under every pii key, newest first.  kind only names the marker (the mac
 * does not depend on it); without it, the kind redaction gives the whole
 * value, else "field".  Recorded first (audit.hashed, the markers alone):
 * no marker is handed out that the log does not show was asked for.
 */
static void
handle_hash(struct jg_http_request *req, struct jg_http_reply *reply)
{
	static const char *const kinds[] = {"email", "card", "phone", "ip",
					    "token", "jwt",  "field", "query"};
	struct jg_app *app = req->app;
	json_t *body = NULL, *markers = NULL, *list = NULL, *data = NULL;
	const char *key, *kind = NULL, *value;
	char actor[300], mark[JG_PII_MARK_SIZE];
	size_t len, n = jg_pii_keys_count(app->pii_keys);
	json_t *v;

	if (require_auditor(req, reply, 1, actor) != 0 || jg_http_body_json(req, reply, &body) != 0)
		return;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "value") != 0 && strcmp(key, "kind") != 0) {
			jg_http_reply_error(reply, 400, "bad_request", "unknown field '%.64s'",
					    key);
			goto out;
		}
	}
	v = json_object_get(body, "value");
	value = json_string_value(v);
	len = json_string_length(v);
	if (value == NULL || len == 0 || len > HASH_MAX_VALUE) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'value' is required: the text to hash, 1 to %d bytes",
				    HASH_MAX_VALUE);
		goto out;
	}
	if ((v = json_object_get(body, "kind")) != NULL) {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (json_is_string(v) && strcmp(json_string_value(v), kinds[i]) == 0)
				kind = kinds[i];
		if (kind == NULL) {
			jg_http_reply_error(reply, 400, "bad_request",
					    "'kind' must be email, card, phone, ip, token, jwt, "
					    "field or query");
			goto out;
		}
	} else {
		kind = jg_pii_kind_of(value, len);
	}
	markers = json_array();
	list = json_array();
	for (size_t i = 0; markers != NULL && list != NULL && i < n; i++) {
		if (jg_pii_mark(app->pii_keys, i, kind, value, len, mark) != 0 ||
		    json_array_append_new(markers, json_string(mark)) != 0 ||
		    json_array_append_new(list, json_pack("{s:s,s:b,s:s,s:s}", "kid",
							  jg_pii_kid(app->pii_keys, i), "active",
							  i == 0, "marker", mark, "search",
							  strchr(mark + 10, ':'))) != 0) {
			n = 0; /* fail below */
			break;
		}
	}
	if (n == 0 || markers == NULL || list == NULL) {
		jg_http_reply_error(reply, 503, "unavailable", "no pii key can mark the value");
		goto out;
	}
	/* the entry holds the markers only, never the value */
	data = json_pack("{s:s,s:O}", "kind", kind, "markers", markers);
	if (data == NULL || jg_audit_append(app->audit, "audit.hashed", actor, data, NULL) != 0) {
		reply_unavailable(reply);
		goto out;
	}
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200, json_pack("{s:s,s:O}", "kind", kind, "markers", list));
out:
	OPENSSL_cleanse(mark, sizeof(mark));
	json_decref(data);
	json_decref(markers);
	json_decref(list);
	json_decref(body);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/audit/export", handle_export, NULL, 0},
    {"GET", "/v1/audit/entries", handle_entries, NULL, 0},
    {"GET", "/v1/audit/checkpoint", handle_checkpoint_get, NULL, 0},
    {"POST", "/v1/audit/checkpoint", handle_checkpoint_post, NULL, 0},
    {"GET", "/v1/audit/proof", handle_proof, NULL, 0},
    {"GET", "/v1/audit/consistency", handle_consistency, NULL, 0},
    {"POST", "/v1/audit/hash", handle_hash, NULL, JG_ROUTE_JSON_BODY},
};
const struct jg_route_table jg_api_audit_routes = {routes, sizeof(routes) / sizeof(routes[0])};
