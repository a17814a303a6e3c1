/*
 * api_routes_int.h - each API file's route table, for api_routes.c.
 *
 * Every api_*.c that serves endpoints keeps its routes in a static const
 * table of struct jg_route beside its handlers (router.h) and exports it
 * here under one name; api_routes.c lists them for `jitgate serve`.
 * Internal to src/api/.
 */
#ifndef JITGATE_API_ROUTES_INT_H
#define JITGATE_API_ROUTES_INT_H

#include "jitgate/router.h"

extern const struct jg_route_table jg_api_system_routes;   /* /healthz, /readyz, /metrics */
extern const struct jg_route_table jg_api_auth_routes;	   /* /auth/..., /v1/me */
extern const struct jg_route_table jg_api_audit_routes;	   /* /v1/audit/... (auditors) */
extern const struct jg_route_table jg_api_reports_routes;  /* /v1/reports/access */
extern const struct jg_route_table jg_api_requests_routes; /* /v1/requests..., revocations */
extern const struct jg_route_table jg_api_tokens_routes;   /* token issue, JWKS */
extern const struct jg_route_table jg_api_probes_routes;   /* /v1/services/{svc}/probes... */
extern const struct jg_route_table jg_api_agents_routes;   /* /v1/agents/..., probe events */
extern const struct jg_route_table jg_api_ingest_routes;   /* /v1/ingest/logs|traces|metrics */
extern const struct jg_route_table jg_api_logs_routes;	   /* the guarded readers: */
extern const struct jg_route_table jg_api_traces_routes;   /*   /v1/services/{svc}/logs, */
extern const struct jg_route_table jg_api_metrics_routes;  /*   .../traces[/{id}], .../metrics */

#endif
