/*
 * router.c - a linear routing table.
 *
 * jitgate has a few dozen routes, so a linear scan over pre-split segments
 * is as fast as a trie and easier to read.  A path is split once per match;
 * empty segments (//) never match, and a path longer than any route cannot
 * match, so hostile paths cost at most one pass.  The router points into
 * the modules' static route tables (router.h) and owns only the split
 * pattern segments.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/router.h"

struct route {
	const struct jg_route *def; /* borrowed: a static table entry */
	char *segs[JG_ROUTE_MAX_SEGMENTS];
	int nsegs;
	bool rest; /* the last segment is a {name...} placeholder */
};

struct jg_router {
	struct route *routes;
	int n, cap;
};

struct jg_router *
jg_router_new(void)
{
	return calloc(1, sizeof(struct jg_router));
}

void
jg_router_free(struct jg_router *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < r->n; i++) {
		for (int j = 0; j < r->routes[i].nsegs; j++)
			free(r->routes[i].segs[j]);
	}
	free(r->routes);
	free(r);
}

/* Splits "/a/b" into segments; "/" has none.  Returns -1 on an empty segment or overflow. */
static int
split(const char *path, char segs[][256], int max)
{
	int n = 0;
	const char *p = path;

	if (*p != '/')
		return -1;
	if (p[1] == '\0')
		return 0;
	while (*p == '/') {
		const char *start = p + 1;
		const char *end = strchr(start, '/');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		if (len == 0 || len >= 256 || n == max)
			return -1;
		memcpy(segs[n], start, len);
		segs[n][len] = '\0';
		n++;
		if (end == NULL)
			break;
		p = end;
	}
	return n;
}

static bool
is_param(const char *seg)
{
	size_t len = strlen(seg);
	return len > 2 && seg[0] == '{' && seg[len - 1] == '}';
}

/* "{name...}": a placeholder for the rest of the path (router.h). */
static bool
is_rest(const char *seg)
{
	size_t len = strlen(seg);
	return is_param(seg) && len > 5 && memcmp(seg + len - 4, "...}", 4) == 0;
}

/* The placeholder's name: between the braces, without a rest's dots. */
static size_t
param_name_len(const char *seg)
{
	return strlen(seg) - 2 - (is_rest(seg) ? 3 : 0);
}

int
jg_router_add(struct jg_router *r, const struct jg_route *route)
{
	char segs[JG_ROUTE_MAX_SEGMENTS][256];
	int n, nparams = 0;

	if (route->handler == NULL || route->method == NULL || route->pattern == NULL ||
	    route->method[0] == '\0' || strlen(route->method) >= JG_ROUTE_METHOD_MAX)
		return JG_EINVAL;
	n = split(route->pattern, segs, JG_ROUTE_MAX_SEGMENTS);
	if (n < 0)
		return JG_EINVAL;
	for (int i = 0; i < n; i++) {
		if (is_param(segs[i])) {
			if (param_name_len(segs[i]) >= 32 || ++nparams > JG_ROUTE_MAX_PARAMS ||
			    (is_rest(segs[i]) && i != n - 1))
				return JG_EINVAL;
			if (strchr(segs[i] + 1, '{') ||
			    strchr(segs[i], '}') != segs[i] + strlen(segs[i]) - 1)
				return JG_EINVAL;
		} else if (strchr(segs[i], '{') || strchr(segs[i], '}')) {
			return JG_EINVAL;
		}
	}
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->routes[i].def->method, route->method) == 0 &&
		    strcmp(r->routes[i].def->pattern, route->pattern) == 0)
			return JG_EINVAL;
	if (r->n == r->cap) {
		int cap = r->cap ? r->cap * 2 : 32;
		struct route *grown = realloc(r->routes, (size_t)cap * sizeof(*grown));
		if (grown == NULL)
			return JG_ENOMEM;
		r->routes = grown;
		r->cap = cap;
	}
	struct route *rt = &r->routes[r->n];
	memset(rt, 0, sizeof(*rt));
	for (int i = 0; i < n; i++) {
		rt->segs[i] = strdup(segs[i]);
		if (rt->segs[i] == NULL) {
			for (int j = 0; j < i; j++)
				free(rt->segs[j]);
			return JG_ENOMEM;
		}
	}
	rt->nsegs = n;
	rt->rest = n > 0 && is_rest(segs[n - 1]);
	rt->def = route;
	r->n++;
	return 0;
}

/* segs[from..n) joined by '/' into out (256 bytes); false when they do not fit. */
static bool
join_rest(char segs[][256], int from, int n, char *out)
{
	size_t used = 0;

	for (int i = from; i < n; i++) {
		size_t len = strlen(segs[i]);
		if (used + (i > from) + len >= 256)
			return false;
		if (i > from)
			out[used++] = '/';
		memcpy(out + used, segs[i], len);
		used += len;
	}
	out[used] = '\0';
	return true;
}

static bool
match_route(const struct route *rt, char segs[][256], int n, struct jg_route_match *m)
{
	if (rt->rest ? n < rt->nsegs : rt->nsegs != n)
		return false;
	m->nparams = 0;
	for (int i = 0; i < rt->nsegs; i++) {
		if (is_param(rt->segs[i])) {
			size_t len = param_name_len(rt->segs[i]);
			char *value = m->params[m->nparams].value;
			memcpy(m->params[m->nparams].name, rt->segs[i] + 1, len);
			m->params[m->nparams].name[len] = '\0';
			if (rt->rest && i == rt->nsegs - 1) {
				if (!join_rest(segs, i, n, value))
					return false;
			} else {
				/* split() bounds every segment to < 256 bytes */
				memcpy(value, segs[i], strlen(segs[i]) + 1);
			}
			m->nparams++;
		} else if (strcmp(rt->segs[i], segs[i]) != 0) {
			return false;
		}
	}
	return true;
}

/*
 * Whether method is one of the names in allow ("GET, POST"), compared whole:
 * a method whose name is part of another's (a substring) is a different one.
 */
static bool
allow_has(const char *allow, const char *method)
{
	size_t len = strlen(method);

	while (*allow != '\0') {
		size_t n = strcspn(allow, ",");
		if (n == len && memcmp(allow, method, len) == 0)
			return true;
		allow += n;
		allow += strspn(allow, ", ");
	}
	return false;
}

enum jg_route_result
jg_router_match(const struct jg_router *r, const char *method, const char *path,
		struct jg_route_match *m)
{
	char segs[JG_ROUTE_MAX_SEGMENTS][256];
	int n = split(path, segs, JG_ROUTE_MAX_SEGMENTS);
	bool path_known = false;

	memset(m, 0, sizeof(*m));
	if (n < 0)
		return JG_ROUTE_NO_PATH;
	for (int i = 0; i < r->n; i++) {
		const struct route *rt = &r->routes[i];
		if (!match_route(rt, segs, n, m))
			continue;
		if (strcmp(rt->def->method, method) == 0) {
			m->route = rt->def;
			m->flags = rt->def->flags;
			return JG_ROUTE_FOUND;
		}
		/* Same path, other method: remember it for the Allow header, once. */
		if (!allow_has(m->allow, rt->def->method)) {
			size_t used = strlen(m->allow);
			snprintf(m->allow + used, sizeof(m->allow) - used, "%s%s", used ? ", " : "",
				 rt->def->method);
		}
		path_known = true;
	}
	m->nparams = 0;
	return path_known ? JG_ROUTE_NO_METHOD : JG_ROUTE_NO_PATH;
}

const char *
jg_route_param(const struct jg_route_match *m, const char *name)
{
	for (int i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].name, name) == 0)
			return m->params[i].value;
	return NULL;
}
