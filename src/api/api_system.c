/*
 * api_system.c - liveness, readiness and metrics endpoints.
 *
 * /healthz answers as long as the process serves requests; /readyz also
 * proves the store answers and takes writes, so a load balancer stops
 * sending traffic to an instance whose database is gone, full or read-only; /metrics is the
 * Prometheus exposition.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/audit_stream.h"
#include "jitgate/error.h"
#include "jitgate/notify.h"
#include "api_routes_int.h"

static void
handle_healthz(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	jg_http_reply_json(reply, 200, json_pack("{s:s}", "status", "ok"));
}

static void
handle_readyz(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;

	if (jg_store_ping(app->store) != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the store does not answer");
		return;
	}
	if (app->audit && jg_audit_healthy(app->audit, NULL, 0) != 0) {
		/* details go to the operator's log, not to anonymous callers */
		jg_http_reply_error(reply, 503, "unavailable", "the audit log does not verify");
		return;
	}
	if (app->audit && jg_audit_writable(app->audit) != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the store cannot be written");
		return;
	}
	jg_http_reply_json(reply, 200, json_pack("{s:s,s:s}", "status", "ready", "store", "ok"));
}

static void
handle_metrics(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	char *http = jg_server_metrics_text(req->server);
	char *limits = jg_throttle_metrics_text(app->throttle);
	char *notify = jg_notify_metrics(app->notify),
	     *stream = jg_audit_stream_metrics(app->stream);
	char *text = NULL;
	/* memory the process uses, apart: heap in use (all malloc arenas) and the database's share
	 */
	struct mallinfo2 mi = mallinfo2();

	/* rate limits, notifications and the audit stream follow the HTTP series */
	if (http && limits && notify && stream &&
	    asprintf(
		&text,
		"%s%s%s%s# HELP jitgate_heap_inuse_bytes Heap bytes allocated and not freed (all "
		"arenas).\n# TYPE jitgate_heap_inuse_bytes gauge\njitgate_heap_inuse_bytes %zu\n"
		"# HELP jitgate_sqlite_memory_bytes Bytes SQLite holds (page caches, "
		"statements).\n# TYPE jitgate_sqlite_memory_bytes gauge\n"
		"jitgate_sqlite_memory_bytes %lld\n",
		http, limits, notify, stream, mi.uordblks + mi.hblkhd,
		(long long)jg_store_memory_used()) < 0)
		text = NULL;
	free(http);
	free(limits);
	free(notify);
	free(stream);
	if (text == NULL) {
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return;
	}
	jg_http_reply_text(reply, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

static const struct jg_route routes[] = {
    {"GET", "/healthz", handle_healthz, NULL, JG_ROUTE_INLINE},
    {"GET", "/readyz", handle_readyz, NULL, 0},
    {"GET", "/metrics", handle_metrics, NULL, 0},
};
const struct jg_route_table jg_api_system_routes = {routes, sizeof(routes) / sizeof(routes[0])};
