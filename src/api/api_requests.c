/*
 * api_requests.c - the access-request API (docs/api.md).
 *
 *   POST /v1/requests[?dry_run=true]       create (or only evaluate)
 *   GET  /v1/requests?state=&mine=true&awaiting=me&review=pending&limit=&cursor=
 *   GET  /v1/requests/{id}
 *   POST /v1/requests/{id}/approve | deny {reason} | cancel | review {note}
 *   POST /v1/requests/{id}/extend {duration, justification}   (the grant's requester)
 *   POST /v1/grants/{id}/revoke {reason?}
 *   POST /v1/users/{sub}/revoke            (admins: off-boarding)
 *
 * Thin: authenticate, parse, call access.c, map its result to a status.
 * The web pages (src/web/) call the same functions through api_call.h.
 */
#include <stdio.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/api_call.h"
#include "jitgate/error.h"
#include "api_routes_int.h"

#define DEFAULT_PAGE 100

static void
answer(struct jg_http_reply *reply, int rc, int ok_status, json_t *out, const char *why)
{
	const char *code;
	int status = jg_http_status_of(rc, &code);

	if (rc == 0)
		jg_http_reply_json(reply, ok_status, out);
	else if (status == 500)
		jg_http_reply_error(reply, 500, code, "%s", jg_strerror(rc));
	else
		jg_http_reply_error(reply, status, code, "%s", why);
	if (rc != 0)
		json_decref(out);
}

/* The JSON body when there is one; {} when empty.  NULL with reply filled when malformed. */
static json_t *
optional_body(struct jg_http_request *req, struct jg_http_reply *reply)
{
	json_t *body = NULL;
	if (req->body == NULL || req->body_len == 0)
		return json_object();
	if (jg_http_body_json(req, reply, &body) != 0)
		return NULL;
	return body;
}

static const char *
string_field(json_t *body, const char *name)
{
	return json_string_value(json_object_get(body, name));
}

/* A create or an extension denied by policy: 403 with the decision that says why (out, taken). */
static void
reply_denied(struct jg_http_reply *reply, const char *why, json_t *out)
{
	json_t *err = json_pack("{s:{s:s,s:s},s:O}", "error", "code", "denied", "message", why,
				"decision", json_object_get(out, "decision"));
	json_decref(out);
	jg_http_reply_json(reply, 403, err);
}

static void
handle_create(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_call c;
	json_t *body = NULL, *out = NULL;
	char why[512] = "";
	const char *dry = jg_http_query(req, "dry_run");
	int rc;

	if (dry && strcmp(dry, "true") != 0 && strcmp(dry, "false") != 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'dry_run' must be true or false");
		return;
	}
	if (jg_api_call_begin(req, reply, &c) != 0) {
		jg_api_call_end(&c);
		return;
	}
	if (jg_http_body_json(req, reply, &body) != 0)
		goto out;
	if (dry && strcmp(dry, "true") == 0) {
		rc = jg_access_dry_run(&c.ctx, &c.caller, body, &out, why, sizeof(why));
		answer(reply, rc, 200, rc == 0 ? json_pack("{s:o}", "decision", out) : NULL, why);
		goto out;
	}
	/* a dry run is free; a new request first passes the limits the web form shares */
	struct jg_throttle_refusal limit = {0};
	rc = jg_api_request_create(&c, req, body, &out, &limit, why, sizeof(why));
	if (rc == JG_ELIMITED) {
		jg_throttle_reply(reply, &limit);
		goto out;
	}
	if (rc == JG_EDENIED) {
		reply_denied(reply, why, out);
		goto out;
	}
	answer(reply, rc, 201, out, why);
out:
	json_decref(body);
	jg_api_call_end(&c);
}

static void
handle_extend(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_call c;
	json_t *body = NULL, *out = NULL;
	char why[512] = "";

	if (jg_api_call_begin(req, reply, &c) != 0) {
		jg_api_call_end(&c);
		return;
	}
	if (jg_http_body_json(req, reply, &body) != 0)
		goto out;
	struct jg_throttle_refusal limit = {0};
	int rc = jg_api_request_extend(&c, req, jg_http_param(req, "id"), body, &out, &limit, why,
				       sizeof(why));
	if (rc == JG_ELIMITED) {
		jg_throttle_reply(reply, &limit);
		goto out;
	}
	if (rc == JG_EDENIED && out != NULL) {
		reply_denied(reply, why, out);
		goto out;
	}
	answer(reply, rc, 201, out, why);
out:
	json_decref(body);
	jg_api_call_end(&c);
}

static int
flag(struct jg_http_request *req, struct jg_http_reply *reply, const char *name, const char *yes,
     int *out)
{
	const char *v = jg_http_query(req, name);
	*out = 0;
	if (v == NULL)
		return 0;
	if (strcmp(v, yes) == 0) {
		*out = 1;
		return 0;
	}
	jg_http_reply_error(reply, 400, "bad_request", "'%s' can only be '%s'", name, yes);
	return -1;
}

/* limit (1..JG_ACCESS_PAGE_MAX) and cursor into page; 400 when bad. */
static int
page_args(struct jg_http_request *req, struct jg_http_reply *reply, struct jg_app *app,
	  struct jg_access_page *page)
{
	uint64_t limit;

	if (jg_http_query_u64(req, reply, "limit", DEFAULT_PAGE, JG_ACCESS_PAGE_MAX, &limit) != 0)
		return -1;
	if (limit == 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "query argument 'limit' must be from 1 to %d",
				    JG_ACCESS_PAGE_MAX);
		return -1;
	}
	if (jg_access_page_open(app->cursor_keys, (size_t)limit, jg_http_query(req, "cursor"),
				page) != 0) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'cursor' is not valid: pass next_cursor of the previous page "
				    "of this list as it was given");
		return -1;
	}
	return 0;
}

static void
handle_list(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_call c;
	struct jg_access_page page = {0};
	struct jg_access_filter f = {.state = jg_http_query(req, "state"), .page = &page};
	json_t *out = NULL;
	char why[256] = "";

	if (flag(req, reply, "mine", "true", &f.mine) != 0 ||
	    flag(req, reply, "awaiting", "me", &f.awaiting) != 0 ||
	    flag(req, reply, "review", "pending", &f.review) != 0 ||
	    page_args(req, reply, req->app, &page) != 0)
		return;
	if (jg_api_call_begin(req, reply, &c) != 0) {
		jg_api_call_end(&c);
		return;
	}
	int rc = jg_access_list(&c.ctx, &c.caller, &f, &out, why, sizeof(why));
	if (rc == 0 && page.more) {
		char cursor[JG_CURSOR_MAX_LEN];
		if (jg_access_page_next(c.app->cursor_keys, &page, cursor) != 0) {
			json_decref(out);
			out = NULL;
			rc = JG_ENOMEM;
		} else {
			json_object_set_new(out, "next_cursor", json_string(cursor));
		}
	}
	answer(reply, rc, 200, out, why);
	jg_api_call_end(&c);
}

static void
handle_get(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_call c;
	json_t *out = NULL;
	char why[256] = "";

	if (jg_api_call_begin(req, reply, &c) != 0) {
		jg_api_call_end(&c);
		return;
	}
	int rc = jg_access_get(&c.ctx, &c.caller, jg_http_param(req, "id"), &out, why, sizeof(why));
	answer(reply, rc, 200, out, why);
	jg_api_call_end(&c);
}

enum action { APPROVE, DENY, CANCEL, REVIEW, REVOKE, REVOKE_USER };

/* The state changes: the route's arg is the action (routes[] below). */
static void
act(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const enum action a = *(const enum action *)req->route.route->arg;
	struct jg_api_call c;
	json_t *body, *out = NULL;
	char why[512] = "";
	int rc = JG_EINVAL;

	if (jg_api_call_begin(req, reply, &c) != 0) {
		jg_api_call_end(&c);
		return;
	}
	if ((body = optional_body(req, reply)) == NULL) {
		jg_api_call_end(&c);
		return;
	}
	const char *id = jg_http_param(req, a == REVOKE_USER ? "sub" : "id");
	switch (a) {
	case APPROVE: rc = jg_access_approve(&c.ctx, &c.caller, id, &out, why, sizeof(why)); break;
	case DENY:
		rc = jg_access_deny(&c.ctx, &c.caller, id, string_field(body, "reason"), &out, why,
				    sizeof(why));
		break;
	case CANCEL: rc = jg_access_cancel(&c.ctx, &c.caller, id, &out, why, sizeof(why)); break;
	case REVIEW:
		rc = jg_access_review(&c.ctx, &c.caller, id, string_field(body, "note"), &out, why,
				      sizeof(why));
		break;
	case REVOKE:
		rc = jg_access_revoke(&c.ctx, &c.caller, id, string_field(body, "reason"), &out,
				      why, sizeof(why));
		break;
	case REVOKE_USER:
		rc = jg_access_revoke_user(&c.ctx, &c.caller, id, &out, why, sizeof(why));
		break;
	}
	answer(reply, rc, 200, out, why);
	json_decref(body);
	jg_api_call_end(&c);
}

static const struct jg_route routes[] = {
    {"POST", "/v1/requests", handle_create, NULL, JG_ROUTE_JSON_BODY},
    {"GET", "/v1/requests", handle_list, NULL, 0},
    {"GET", "/v1/requests/{id}", handle_get, NULL, 0},
    {"POST", "/v1/requests/{id}/approve", act, &(const enum action){APPROVE}, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/requests/{id}/deny", act, &(const enum action){DENY}, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/requests/{id}/cancel", act, &(const enum action){CANCEL}, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/requests/{id}/review", act, &(const enum action){REVIEW}, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/requests/{id}/extend", handle_extend, NULL, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/grants/{id}/revoke", act, &(const enum action){REVOKE}, JG_ROUTE_JSON_BODY},
    {"POST", "/v1/users/{sub}/revoke", act, &(const enum action){REVOKE_USER}, JG_ROUTE_JSON_BODY},
};
const struct jg_route_table jg_api_requests_routes = {routes, sizeof(routes) / sizeof(routes[0])};
