/*
 * api_reports.c - access reviews over HTTPS.
 *
 *   GET /v1/reports/access?from=&to=&service=&format=json|csv
 *
 * from and to are Unix seconds (the period [from, to); to defaults to now,
 * from to one reports.review_period before to).  The report is computed
 * from the audit log, read verified (report.h); the tables are not read
 * for it.  Who may ask: auditors (auth.auditor_groups), for one service or
 * all; and the owners of a service (a caller in one of its owner groups of
 * the catalog), for that service.  Anyone else gets 403 whether or not the
 * service exists.  The web page (web_reports.c) takes the same path:
 * jg_api_report_query() then jg_report_access().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/api_call.h"
#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/catalog.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/report.h"
#include "api_routes_int.h"

/* A caller in one of the service's owner groups. */
static bool
owns(struct jg_app *app, const struct jg_caller *caller, const char *service)
{
	json_t *owners = NULL, *g;
	size_t i;
	bool yes = false;
	if (service == NULL || jg_catalog_service_owners(app->store, service, &owners) != 0)
		return false;
	json_array_foreach(owners, i, g)
	{
		for (size_t k = 0; k < caller->id.ngroups; k++)
			yes |= strcmp(caller->id.groups[k], json_string_value(g)) == 0;
	}
	json_decref(owners);
	return yes;
}

int
jg_api_report_query(struct jg_http_request *req, struct jg_http_reply *reply,
		    struct jg_report_query *q, struct jg_caller *caller)
{
	struct jg_app *app = req->app;
	uint64_t from, to;
	int64_t now = req->received_at ? req->received_at : jg_clock_now();
	const char *service = jg_http_query(req, "service");
	int rc;

	memset(q, 0, sizeof(*q));
	if ((rc = jg_auth_require(req, reply, caller)) != 0)
		return rc;
	if (service && *service == '\0')
		service = NULL;
	if (!jg_identity_in_groups(&caller->id, app->cfg->auth_auditor_groups) &&
	    !owns(app, caller, service)) {
		jg_caller_clear(caller);
		jg_http_reply_error(reply, 403, "forbidden",
				    service
					? "this needs auditor rights or ownership of the service"
					: "this needs auditor rights; a service's owners name "
					  "their service with 'service'");
		return JG_EDENIED;
	}
	if (jg_http_query_u64(req, reply, "to", (uint64_t)now, INT64_MAX / 1000 - 1, &to) != 0 ||
	    jg_http_query_u64(req, reply, "from",
			      to > (uint64_t)app->cfg->reports_review_period
				  ? to - (uint64_t)app->cfg->reports_review_period
				  : 0,
			      INT64_MAX / 1000 - 1, &from) != 0) {
		jg_caller_clear(caller);
		return JG_EINVAL;
	}
	if (from >= to || (service && !jg_catalog_service_name_valid(service))) {
		jg_caller_clear(caller);
		jg_http_reply_error(reply, 400, "bad_request",
				    from >= to ? "'from' must be before 'to'" : "bad 'service'");
		return JG_EINVAL;
	}
	q->from = (int64_t)from;
	q->to = (int64_t)to;
	q->service = service;
	return 0;
}

void
jg_api_report_error(struct jg_http_reply *reply, int rc)
{
	if (rc == JG_ETOOBIG)
		jg_http_reply_error(reply, 400, "report_too_large",
				    "the period holds more than %d requests or needs more than %d "
				    "entries read; ask for a shorter period or one service",
				    JG_REPORT_MAX_GRANTS, JG_REPORT_MAX_SCAN);
	else if (rc == JG_EINVAL)
		jg_http_reply_error(reply, 400, "bad_request", "bad period or service");
	else if (rc == JG_EVERIFY)
		jg_http_reply_error(reply, 503, "unavailable",
				    "the audit log does not verify: no report can be made from it");
	else
		jg_http_reply_error(reply, 503, "unavailable",
				    "the audit log cannot be read right now");
}

static void
handle_access(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_report_query q;
	struct jg_caller caller;
	const char *format = jg_http_query(req, "format"), *accept = jg_http_header(req, "Accept");
	json_t *report = NULL;
	int rc;

	if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'format' must be json or csv");
		return;
	}
	if (jg_api_report_query(req, reply, &q, &caller) != 0)
		return;
	jg_caller_clear(&caller);
	if ((rc = jg_report_access(app->audit, app->store, &q, &report)) != 0) {
		jg_api_report_error(reply, rc);
		return;
	}
	int csv = format ? strcmp(format, "csv") == 0
			 : accept != NULL && strstr(accept, "text/csv") != NULL &&
			       strstr(accept, "application/json") == NULL;
	if (!csv) {
		jg_http_reply_json(reply, 200, report);
		return;
	}
	char *text = NULL, disposition[160];
	size_t len = 0;
	rc = jg_report_csv(report, &text, &len);
	json_decref(report);
	if (rc != 0) {
		jg_api_report_error(reply, rc);
		return;
	}
	reply->status = 200;
	reply->content_type = "text/csv; charset=utf-8";
	reply->body = text;
	reply->body_len = len;
	snprintf(disposition, sizeof(disposition),
		 "attachment; filename=\"access-%s-%lld-%lld.csv\"", q.service ? q.service : "all",
		 (long long)q.from, (long long)q.to);
	jg_http_reply_header(reply, "Content-Disposition", disposition);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/reports/access", handle_access, NULL, 0},
};
const struct jg_route_table jg_api_reports_routes = {routes, sizeof(routes) / sizeof(routes[0])};
