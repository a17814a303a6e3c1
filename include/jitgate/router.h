/*
 * router.h - method + path pattern -> handler, from typed route tables.
 *
 * Patterns are literal segments and {name} placeholders, each placeholder
 * matching exactly one non-empty segment ("/v1/requests/{id}/approve").  The
 * last segment may instead be a rest placeholder {name...}: it matches one or
 * more segments, and its value is them joined by '/' (at most 255 bytes), for
 * the static layouts whose depth varies (the audit log's tiles,
 * "/audit/tile/{tile...}").
 * Matching distinguishes "no such path" (404) from "path exists, method
 * does not" (405, with the methods that would be allowed).
 *
 * Each module declares its routes as a static const table of struct
 * jg_route beside its handlers and exports it as one struct
 * jg_route_table; `jitgate serve` adds every table at start-up.  A route
 * holds a real function pointer and, for handlers that serve several
 * routes, a pointer to constant data that tells them apart (the handler
 * reads it as req->route.route->arg), so no handler is cast and no
 * one-line wrapper exists only to pass a constant.  The router keeps
 * pointers into the tables (they must outlive it: static storage) and is
 * read-only after start-up, so matching needs no lock.
 */
#ifndef JITGATE_ROUTER_H
#define JITGATE_ROUTER_H

#include <stddef.h>

#define JG_ROUTE_MAX_PARAMS   4
#define JG_ROUTE_MAX_SEGMENTS 16
#define JG_ROUTE_METHOD_MAX   8 /* bytes of a method name, its NUL included */

/* Route flags. */
#define JG_ROUTE_JSON_BODY 0x1 /* the body, if any, must be application/json */
#define JG_ROUTE_FORM_BODY 0x2 /* the body, if any, must be a urlencoded form */
#define JG_ROUTE_INLINE	   0x4 /* runs on the event loop: CPU only, may defer */
/*
 * With JG_ROUTE_INLINE: the handler reads the store, so it runs on the event
 * loop only where the store is in-process (SQLite); where the store is
 * across the network (PostgreSQL) it runs on a worker, since a round trip
 * would stall every connection of its loop (jg_server_set_store_in_process).
 */
#define JG_ROUTE_STORE 0x8

struct jg_router;
struct jg_http_request;
struct jg_http_reply;

/* A handler: reads the request, fills the reply (http.h). */
typedef void (*jg_route_fn)(struct jg_http_request *req, struct jg_http_reply *reply);

struct jg_route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/v1/requests/{id}/approve"; also the route's metrics label */
	jg_route_fn handler;
	const void *arg; /* constant data for the handler, or NULL */
	unsigned flags;	 /* JG_ROUTE_* */
};

/* A module's routes: {routes, sizeof(routes) / sizeof(routes[0])} of a static const array. */
struct jg_route_table {
	const struct jg_route *routes;
	size_t n;
};

enum jg_route_result { JG_ROUTE_FOUND, JG_ROUTE_NO_PATH, JG_ROUTE_NO_METHOD };

struct jg_route_match {
	const struct jg_route *route; /* JG_ROUTE_FOUND: the table entry; otherwise NULL */
	unsigned flags;		      /* route->flags (0 when not found) */
	int nparams;
	struct {
		char name[32];
		char value[256];
	} params[JG_ROUTE_MAX_PARAMS];
	char allow[64]; /* for JG_ROUTE_NO_METHOD: "GET, POST" */
};

/* Returns a new empty router, or NULL when out of memory. */
struct jg_router *jg_router_new(void);
void jg_router_free(struct jg_router *r);

/*
 * Adds one route.  route is borrowed and must outlive the router (a static
 * const table entry); its pattern must start with '/'.  Returns 0, JG_ENOMEM,
 * or JG_EINVAL for a missing handler, an empty or over-long method, a malformed
 * pattern (an empty segment, more than JG_ROUTE_MAX_SEGMENTS segments or
 * JG_ROUTE_MAX_PARAMS placeholders, a stray brace, a rest placeholder that is
 * not the last segment) or a duplicate method + pattern.
 */
int jg_router_add(struct jg_router *r, const struct jg_route *route);

/* Matches method and path (no query string) and fills *m. */
enum jg_route_result jg_router_match(const struct jg_router *r, const char *method,
				     const char *path, struct jg_route_match *m);

/* The value of placeholder name in m, or NULL. */
const char *jg_route_param(const struct jg_route_match *m, const char *name);

#endif
