/*
 * api_routes.c - the JSON API's route tables, in the order they are added.
 *
 * Each api_*.c declares its own routes beside its handlers (a static const
 * struct jg_route table, router.h); this list is what `jitgate serve` adds
 * to the router, before the pages' list (web_routes.c).  No pattern of one
 * table could match a path that a pattern of another table matches
 * (test_router.c checks every pair), so the order of the tables changes
 * nothing: not which route answers, nor the methods a 405 names.
 */
#include <stddef.h>

#include "jitgate/app.h"
#include "api_routes_int.h"

const struct jg_route_table *const jg_api_route_tables[] = {
    &jg_api_system_routes,
    &jg_api_auth_routes,
    &jg_api_audit_routes,
    &jg_api_requests_routes,
    &jg_api_tokens_routes,
    &jg_api_probes_routes,
    &jg_api_agents_routes,
    &jg_api_ingest_routes,
    &jg_api_logs_routes,
    &jg_api_traces_routes,
    &jg_api_metrics_routes,
    &jg_api_reports_routes,
    NULL,
};
