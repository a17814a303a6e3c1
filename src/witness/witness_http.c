/*
 * witness_http.c - the witness's HTTP interface (witness.h): the spec's
 * add-checkpoint, and a monitoring read of the newest cosigned checkpoint
 * per log.  Thin: the decisions are witness.c's.
 *
 *   POST /add-checkpoint            c2sp.org/tlog-witness v1.0.0
 *   GET  /checkpoint?origin=ORIGIN  the checkpoint with the log's verified
 *                                   signature lines and the witness's
 *                                   cosignature line
 *
 * Every refused submission is logged with its origin, sizes and reason: a
 * 409 or 422 from a log whose signature verified may be evidence of a fork,
 * which the spec asks witnesses to keep.
 */
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/http.h"
#include "jitgate/log.h"
#include "jitgate/witness.h"

static const char *
status_code(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 409: return "conflict";
	default: return "unprocessable";
	}
}

static void
log_answer(const struct jg_http_request *req, const struct jg_witness_answer *ans)
{
	json_t *f = json_pack("{s:s,s:i,s:s,s:I,s:I}", "request_id", req->request_id, "status",
			      ans->status, "origin", ans->origin, "old_size",
			      (json_int_t)ans->old_size, "size", (json_int_t)ans->size);
	if (ans->status == 200) {
		jg_log(JG_LOG_INFO, "witness: checkpoint cosigned", f);
	} else {
		json_object_set_new(f, "why", json_string(ans->why));
		jg_log(ans->status == 409 || ans->status == 422 ? JG_LOG_WARN : JG_LOG_INFO,
		       "witness: checkpoint refused", f);
	}
	json_decref(f);
}

static void
handle_add_checkpoint(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_witness *w = req->app;
	struct jg_witness_answer ans;
	const char *code;
	time_t now = time(NULL);

	int rc = jg_witness_add_checkpoint(w, req->body, req->body_len, now < 0 ? 0 : (uint64_t)now,
					   &ans);
	if (rc != 0) {
		int status = jg_http_status_of(rc, &code);
		jg_logf(JG_LOG_ERROR, "witness: add-checkpoint failed: %s", jg_strerror(rc));
		jg_http_reply_error(
		    reply, status, code,
		    "the witness could not store the checkpoint; nothing was cosigned");
		return;
	}
	log_answer(req, &ans);
	if (ans.status == 200)
		jg_http_reply_text(reply, 200, "text/plain; charset=utf-8", ans.body, ans.body_len);
	else if (ans.status == 409)
		jg_http_reply_text(reply, 409, JG_WITNESS_SIZE_TYPE, ans.body, ans.body_len);
	else
		jg_http_reply_error(reply, ans.status, status_code(ans.status), "%s", ans.why);
	free(ans.body);
}

static void
handle_checkpoint(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_witness *w = req->app;
	const char *origin = jg_http_query(req, "origin");
	const char *code;
	char *note = NULL;
	size_t len = 0;

	if (origin == NULL) {
		jg_http_reply_error(reply, 400, "bad_request", "the origin argument is required");
		return;
	}
	int rc = jg_witness_latest(w, origin, &note, &len);
	if (rc == JG_ENOTFOUND) {
		jg_http_reply_error(reply, 404, "not_found",
				    "no checkpoint of that origin has been cosigned here");
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, jg_http_status_of(rc, &code), code,
				    "the witness could not read its state");
		return;
	}
	jg_http_reply_text(reply, 200, "text/plain; charset=utf-8", note, len);
	free(note);
}

static const struct jg_route routes[] = {
    {"POST", "/add-checkpoint", handle_add_checkpoint, NULL, 0},
    {"GET", "/checkpoint", handle_checkpoint, NULL, 0},
};

const struct jg_route_table jg_witness_routes = {routes, sizeof(routes) / sizeof(routes[0])};
