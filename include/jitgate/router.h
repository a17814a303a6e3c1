/*
 * router.h - method + path pattern -> handler.
 *
 * Patterns are literal segments and {name} placeholders, each placeholder
 * matching exactly one non-empty segment ("/v1/requests/{id}/approve").
 * Matching distinguishes "no such path" (404) from "path exists, method
 * does not" (405, with the methods that would be allowed).  The table is
 * built at start-up and read-only afterwards, so matching needs no lock.
 */
#ifndef JITGATE_ROUTER_H
#define JITGATE_ROUTER_H

#include <stddef.h>

#define JG_ROUTE_MAX_PARAMS   4
#define JG_ROUTE_MAX_SEGMENTS 16

struct jg_router;

enum jg_route_result { JG_ROUTE_FOUND, JG_ROUTE_NO_PATH, JG_ROUTE_NO_METHOD };

struct jg_route_match {
	const char *pattern; /* the route's pattern, a bounded metrics label */
	void *handler;	     /* what jg_router_add() was given */
	unsigned flags;
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
 * Adds a route.  pattern must start with '/'; it is copied.  Returns 0, or
 * JG_EINVAL for a malformed pattern or a duplicate method + pattern.
 */
int jg_router_add(struct jg_router *r, const char *method, const char *pattern, void *handler,
		  unsigned flags);

/* Matches method and path (no query string) and fills *m. */
enum jg_route_result jg_router_match(const struct jg_router *r, const char *method,
				     const char *path, struct jg_route_match *m);

/* The value of placeholder name in m, or NULL. */
const char *jg_route_param(const struct jg_route_match *m, const char *name);

#endif
