/*
 * web_routes.c (web) - the pages' route tables, in the order they are added.
 *
 *   GET  /                                   web_page.c (sign-in, or my access)
 *   GET  /request, POST /request             web_request.c
 *   POST /requests/{id}/cancel               web_access.c
 *   POST /grants/{id}/revoke|token           web_access.c
 *   GET  /approvals                          web_approvals.c
 *   POST /requests/{id}/approve|deny|review  web_approvals.c
 *   GET  /audit, /audit/proof                web_audit.c
 *   POST /audit/export|checkpoint            web_audit.c
 *   GET  /static/jitgate.css|js              web_assets.c
 *   GET  /debug/{svc}/logs                   web_logs.c (web_debug.c: what the debugging
 *                                            pages share)
 *   GET  /debug/{svc}/metrics                web_metrics.c
 *
 * Each web_*.c declares its routes beside its handlers (a static const
 * struct jg_route table, router.h); this list is what `jitgate serve` adds
 * to the router after the API's (api_routes.c).  No pattern of one table
 * could match a path that a pattern of another table matches, nor an API
 * pattern (test_router.c checks every pair), so the order of the tables
 * changes nothing.
 */
#include <stddef.h>

#include "jitgate/web.h"
#include "web_int.h"

const struct jg_route_table *const jg_web_route_tables[] = {
    &jg_web_page_routes,   &jg_web_request_routes, &jg_web_access_routes, &jg_web_approvals_routes,
    &jg_web_audit_routes,  &jg_web_reports_routes, &jg_web_assets_routes, &jg_web_logs_routes,
    &jg_web_traces_routes, &jg_web_metrics_routes, &jg_web_probes_routes, NULL,
};
