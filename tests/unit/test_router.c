/*
 * test_router.c - method + path pattern matching, 404 versus 405, and the
 * route tables jitgate serves.
 *
 * Routes come from a static table of real handler functions, as in the
 * modules; a match must hand back the table entry itself (its handler, arg
 * and flags), never a copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/router.h"
#include "jitgate/web.h"

/* Appends s to the string in buf (cap bytes); fails the test if it does not fit. */
static void
append(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf), k = strlen(s);
	assert_true(n + k < cap);
	memcpy(buf + n, s, k + 1);
}

static void
h_list(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	(void)reply;
}

static void
h_create(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	(void)reply;
}

static void
h_show(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	(void)reply;
}

static void
h_act(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	(void)reply;
}

static void
h_health(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	(void)reply;
}

enum action { APPROVE, DENY };

enum { LIST, CREATE, SHOW, APPROVE_ROUTE, DENY_ROUTE, HEALTH };
static const struct jg_route table[] = {
    [LIST] = {"GET", "/v1/requests", h_list, NULL, 0},
    [CREATE] = {"POST", "/v1/requests", h_create, NULL, JG_ROUTE_JSON_BODY},
    [SHOW] = {"GET", "/v1/requests/{id}", h_show, NULL, 0},
    [APPROVE_ROUTE] = {"POST", "/v1/requests/{id}/approve", h_act, &(const enum action){APPROVE},
		       0},
    [DENY_ROUTE] = {"POST", "/v1/requests/{id}/deny", h_act, &(const enum action){DENY}, 0},
    [HEALTH] = {"GET", "/healthz", h_health, NULL, JG_ROUTE_INLINE},
};

static int
setup(void **state)
{
	struct jg_router *r = jg_router_new();
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_int_equal(jg_router_add(r, &table[i]), 0);
	*state = r;
	return 0;
}

static int
teardown(void **state)
{
	jg_router_free(*state);
	return 0;
}

static void
test_router_match_literal(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "GET", "/healthz", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &table[HEALTH]);
	assert_true(m.route->handler == h_health);
	assert_string_equal(m.route->pattern, "/healthz");
	assert_int_equal(m.flags, JG_ROUTE_INLINE);
	assert_int_equal(m.nparams, 0);
}

static void
test_router_match_method_selects_handler(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "POST", "/v1/requests", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &table[CREATE]);
	assert_true(m.route->handler == h_create);
	assert_int_equal(m.flags, JG_ROUTE_JSON_BODY);
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &table[LIST]);
	assert_true(m.route->handler == h_list);
	assert_int_equal(m.flags, 0);
}

static void
test_router_match_params(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "POST", "/v1/requests/req_42/approve", &m),
			 JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &table[APPROVE_ROUTE]);
	assert_string_equal(jg_route_param(&m, "id"), "req_42");
	assert_null(jg_route_param(&m, "other"));
	assert_string_equal(m.route->pattern, "/v1/requests/{id}/approve");
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests/req_7", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &table[SHOW]);
	assert_string_equal(jg_route_param(&m, "id"), "req_7");
}

/* One handler behind two routes tells them apart by the route's arg. */
static void
test_router_match_carries_the_routes_arg(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "POST", "/v1/requests/r/approve", &m),
			 JG_ROUTE_FOUND);
	assert_true(m.route->handler == h_act);
	assert_int_equal(*(const enum action *)m.route->arg, APPROVE);
	assert_int_equal(jg_router_match(*state, "POST", "/v1/requests/r/deny", &m),
			 JG_ROUTE_FOUND);
	assert_true(m.route->handler == h_act);
	assert_int_equal(*(const enum action *)m.route->arg, DENY);
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests", &m), JG_ROUTE_FOUND);
	assert_null(m.route->arg);
}

static void
test_router_match_unknown_path_is_404(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "GET", "/v1/nope", &m), JG_ROUTE_NO_PATH);
	assert_null(m.route);
	assert_int_equal(jg_router_match(*state, "GET", "/", &m), JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "GET", "/healthz/", &m), JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "GET", "//healthz", &m), JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests//approve", &m),
			 JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "GET", "healthz", &m), JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "GET", "", &m), JG_ROUTE_NO_PATH);
}

static void
test_router_match_wrong_method_is_405_with_allow(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "DELETE", "/v1/requests", &m), JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "GET, POST");
	assert_null(m.route);
	assert_int_equal(m.flags, 0);
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests/x/approve", &m),
			 JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "POST");
	assert_null(m.route);
}

static void
test_router_match_hostile_paths(void **state)
{
	struct jg_route_match m;
	char deep[4096] = "";
	for (int i = 0; i < 100; i++)
		append(deep, sizeof(deep), "/a");
	assert_int_equal(jg_router_match(*state, "GET", deep, &m), JG_ROUTE_NO_PATH);
	char longseg[600] = "/v1/requests/";
	memset(longseg + strlen(longseg), 'x', 400);
	assert_int_equal(jg_router_match(*state, "GET", longseg, &m), JG_ROUTE_NO_PATH);
}

/* "/s0/s1/.../s{n-1}" */
static void
path_of(char *out, size_t len, int n)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, len - used, "/s%d", i);
}

static void
test_router_segment_cap(void **state)
{
	static char p16[256], p17[256];
	static struct jg_route deep[2] = {{"GET", p16, h_show, NULL, 0},
					  {"GET", p17, h_show, NULL, 0}};
	struct jg_route_match m;
	path_of(p16, sizeof(p16), JG_ROUTE_MAX_SEGMENTS);
	path_of(p17, sizeof(p17), JG_ROUTE_MAX_SEGMENTS + 1);

	/* a pattern of exactly the cap is a route; one more segment is refused */
	assert_int_equal(jg_router_add(*state, &deep[0]), 0);
	assert_int_equal(jg_router_add(*state, &deep[1]), JG_EINVAL);
	assert_int_equal(jg_router_match(*state, "GET", p16, &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &deep[0]);
	/* a longer path is no match, not a match on its first 16 segments */
	assert_int_equal(jg_router_match(*state, "GET", p17, &m), JG_ROUTE_NO_PATH);
	assert_null(m.route);
}

static void
test_router_allow_lists_each_method_once(void **state)
{
	static const struct jg_route more[] = {
	    {"GET", "/v1/requests/latest", h_list, NULL, 0},
	    {"PURGE", "/cache", h_act, NULL, 0},
	    {"PURG", "/cache", h_act, NULL, 0},
	    {"URGE", "/cache", h_act, NULL, 0},
	};
	struct jg_route_match m;
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		assert_int_equal(jg_router_add(*state, &more[i]), 0);
	/* two GET routes match /v1/requests/latest: GET is named once */
	assert_int_equal(jg_router_match(*state, "DELETE", "/v1/requests/latest", &m),
			 JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "GET");
	/* a method whose name is part of another's is still its own method */
	assert_int_equal(jg_router_match(*state, "GET", "/cache", &m), JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "PURGE, PURG, URGE");
}

static void
test_router_add_refuses_bad_routes(void **state)
{
	static const struct jg_route bad[] = {
	    {"GET", "/healthz", h_health, NULL, 0}, /* a duplicate of table[HEALTH] */
	    {"GET", "no-slash", h_health, NULL, 0},
	    {"GET", "/a//b", h_health, NULL, 0},
	    {"GET", "/a/{x", h_health, NULL, 0},
	    {"GET", "/{a}/{b}/{c}/{d}/{e}", h_health, NULL, 0},
	    {"VERYLONGMETHOD", "/x", h_health, NULL, 0},
	    {"", "/x", h_health, NULL, 0},
	    {"GET", "/x", NULL, NULL, 0},
	    {"GET", "/t/{rest...}/x", h_health, NULL, 0}, /* a rest placeholder must end it */
	    {"GET", "/t/{a}b}", h_health, NULL, 0},
	};
	struct jg_route_match m;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(jg_router_add(*state, &bad[i]), JG_EINVAL);
	/* nothing of them was added: the first /healthz still answers */
	assert_int_equal(jg_router_match(*state, "GET", "/healthz", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &table[HEALTH]);
	assert_int_equal(jg_router_match(*state, "GET", "/x", &m), JG_ROUTE_NO_PATH);
}

/*
 * A rest placeholder ({name...}) matches the rest of the path, one segment or
 * more; the route answers with the segments joined and the other routes of
 * the same prefix keep theirs.
 */
static void
test_router_rest_placeholder_takes_the_rest_of_the_path(void **state)
{
	static const struct jg_route more[] = {
	    {"GET", "/audit/tile/{tile...}", h_show, NULL, 0},
	    {"GET", "/audit/checkpoint", h_list, NULL, 0},
	};
	struct jg_route_match m;
	char longest[400] = "/audit/tile";

	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		assert_int_equal(jg_router_add(*state, &more[i]), 0);
	assert_int_equal(jg_router_match(*state, "GET", "/audit/tile/0/x001/x234/067.p/12", &m),
			 JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &more[0]);
	assert_string_equal(jg_route_param(&m, "tile"), "0/x001/x234/067.p/12");
	assert_int_equal(jg_router_match(*state, "GET", "/audit/tile/entries/000", &m),
			 JG_ROUTE_FOUND);
	assert_string_equal(jg_route_param(&m, "tile"), "entries/000");
	/* at least one segment; other prefixes and methods are not the rest route's */
	assert_int_equal(jg_router_match(*state, "GET", "/audit/tile", &m), JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "GET", "/audit/tiles/0/000", &m),
			 JG_ROUTE_NO_PATH);
	assert_int_equal(jg_router_match(*state, "POST", "/audit/tile/0/000", &m),
			 JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "GET");
	assert_int_equal(jg_router_match(*state, "GET", "/audit/checkpoint", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &more[1]);
	/* a rest longer than a value holds matches nothing (never a truncated value) */
	while (strlen(longest) < 300)
		append(longest, sizeof(longest), "/x001");
	assert_int_equal(jg_router_match(*state, "GET", longest, &m), JG_ROUTE_NO_PATH);
}

/*
 * Whether some path could match both patterns: no two literals differ, and
 * the same length - or, past a rest placeholder, any longer length.
 */
static bool
may_overlap(const char *a, const char *b)
{
	while (*a == '/' && *b == '/') {
		size_t la = strcspn(a + 1, "/"), lb = strcspn(b + 1, "/");
		bool pa = a[1] == '{', pb = b[1] == '{';
		bool ra = pa && la > 5 && memcmp(a + 1 + la - 4, "...}", 4) == 0;
		bool rb = pb && lb > 5 && memcmp(b + 1 + lb - 4, "...}", 4) == 0;
		if (!pa && !pb && (la != lb || memcmp(a + 1, b + 1, la) != 0))
			return false;
		if (ra || rb)
			return true;
		a += 1 + la;
		b += 1 + lb;
	}
	return *a == '\0' && *b == '\0';
}

/* pattern with each {placeholder} replaced by "p" */
static void
instantiate(const char *pattern, char *out, size_t len)
{
	size_t used = 0;
	for (const char *p = pattern; *p != '\0' && used + 2 < len;) {
		if (*p == '{') {
			out[used++] = 'p';
			p = strchr(p, '}') + 1;
		} else {
			out[used++] = *p++;
		}
	}
	out[used] = '\0';
}

/*
 * The tables `jitgate serve` adds (api_routes.c, web_routes.c): each is
 * accepted, each route answers for itself, and no two tables hold patterns
 * that could match one path - so the order of the tables changes nothing.
 */
static void
test_router_served_tables_load_and_do_not_overlap(void **state)
{
	const struct jg_route_table *const *lists[] = {jg_api_route_tables, jg_web_route_tables};
	const struct jg_route_table *all[64];
	size_t nall = 0, nroutes = 0;
	struct jg_router *r = jg_router_new();
	(void)state;

	assert_non_null(r);
	for (size_t l = 0; l < 2; l++)
		for (const struct jg_route_table *const *t = lists[l]; *t != NULL; t++) {
			assert_true(nall < sizeof(all) / sizeof(all[0]));
			all[nall++] = *t;
			assert_true((*t)->n > 0);
			for (size_t j = 0; j < (*t)->n; j++) {
				assert_non_null((*t)->routes[j].handler);
				assert_int_equal(jg_router_add(r, &(*t)->routes[j]), 0);
				nroutes++;
			}
		}
	assert_true(nroutes > 40);
	for (size_t i = 0; i < nall; i++)
		for (size_t j = 0; j < all[i]->n; j++) {
			const struct jg_route *rt = &all[i]->routes[j];
			struct jg_route_match m;
			char path[256];
			instantiate(rt->pattern, path, sizeof(path));
			assert_int_equal(jg_router_match(r, rt->method, path, &m), JG_ROUTE_FOUND);
			assert_ptr_equal(m.route, rt);
			for (size_t k = i + 1; k < nall; k++)
				for (size_t q = 0; q < all[k]->n; q++)
					if (may_overlap(rt->pattern, all[k]->routes[q].pattern))
						fail_msg(
						    "%s (table %zu) and %s (table %zu) overlap",
						    rt->pattern, i, all[k]->routes[q].pattern, k);
		}
	jg_router_free(r);
}

/*
 * The tiles' routes sit under the path of audit.origin (api_tiles.c): with
 * the default origin they answer GET /audit/checkpoint and /audit/tile/...
 * beside the served tables, whose only route on those paths is the audit
 * page's POST /audit/checkpoint (a form), which keeps answering POST.
 */
static void
test_router_tile_routes_follow_the_origin(void **state)
{
	const struct jg_route_table *const *lists[] = {jg_api_route_tables, jg_web_route_tables};
	struct jg_route_table tiles;
	struct jg_route_match m;
	struct jg_router *r = jg_router_new();
	char why[256];
	(void)state;

	assert_int_equal(jg_api_tiles_routes("jitgate.example/audit", &tiles, why, sizeof(why)), 0);
	assert_int_equal(tiles.n, 2);
	assert_string_equal(tiles.routes[0].pattern, "/audit/checkpoint");
	assert_string_equal(tiles.routes[1].pattern, "/audit/tile/{tile...}");
	for (size_t l = 0; l < 2; l++)
		for (const struct jg_route_table *const *t = lists[l]; *t != NULL; t++)
			for (size_t j = 0; j < (*t)->n; j++) {
				const struct jg_route *rt = &(*t)->routes[j];
				assert_int_equal(jg_router_add(r, rt), 0);
				for (size_t k = 0; k < tiles.n; k++)
					if (strcmp(rt->method, "GET") == 0 &&
					    may_overlap(rt->pattern, tiles.routes[k].pattern))
						fail_msg("%s overlaps %s", rt->pattern,
							 tiles.routes[k].pattern);
			}
	for (size_t k = 0; k < tiles.n; k++)
		assert_int_equal(jg_router_add(r, &tiles.routes[k]), 0);
	assert_int_equal(jg_router_match(r, "GET", "/audit/checkpoint", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &tiles.routes[0]);
	assert_int_equal(jg_router_match(r, "POST", "/audit/checkpoint", &m), JG_ROUTE_FOUND);
	assert_true(m.route != &tiles.routes[0]);
	assert_int_equal(jg_router_match(r, "GET", "/audit/tile/entries/x001/002.p/3", &m),
			 JG_ROUTE_FOUND);
	assert_ptr_equal(m.route, &tiles.routes[1]);
	assert_string_equal(jg_route_param(&m, "tile"), "entries/x001/002.p/3");
	/* the audit page and the JSON API are where they were */
	assert_int_equal(jg_router_match(r, "GET", "/audit", &m), JG_ROUTE_FOUND);
	assert_int_equal(jg_router_match(r, "GET", "/v1/audit/checkpoint", &m), JG_ROUTE_FOUND);
	assert_true(m.route != &tiles.routes[0]);
	jg_router_free(r);

	/* an origin without a path serves at the root; one no URL path can spell, nowhere */
	assert_int_equal(jg_api_tiles_routes("log.example", &tiles, why, sizeof(why)), 0);
	assert_string_equal(tiles.routes[0].pattern, "/checkpoint");
	assert_string_equal(tiles.routes[1].pattern, "/tile/{tile...}");
	static const char *const unservable[] = {
	    "log.example/a{b}",	      "log.example/a?b",     "log.example/a//b",
	    "log.example/a/",	      "log.example/a%2fb",   "log.example/a#b",
	    "log.example/a/../audit", "log.example/./audit", "log.example/a/b/c/d/e/f"};
	for (size_t i = 0; i < sizeof(unservable) / sizeof(unservable[0]); i++) {
		if (jg_api_tiles_routes(unservable[i], &tiles, why, sizeof(why)) != JG_ECONFIG)
			fail_msg("%s accepted", unservable[i]);
		assert_non_null(strstr(why, "audit.origin"));
	}
	/* five segments is the most: the deepest tile name still fits the router's 16 */
	assert_int_equal(jg_api_tiles_routes("log.example/a/b/c/d/e", &tiles, why, sizeof(why)), 0);
	r = jg_router_new();
	assert_int_equal(jg_router_add(r, &tiles.routes[1]), 0);
	assert_int_equal(
	    jg_router_match(r, "GET",
			    "/a/b/c/d/e/tile/entries/x018/x446/x744/x073/x709/x551/615.p/1", &m),
	    JG_ROUTE_FOUND);
	jg_router_free(r);
	/* the routes of the default origin again, for the other tests' sake */
	assert_int_equal(jg_api_tiles_routes("jitgate.example/audit", &tiles, why, sizeof(why)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_router_match_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_method_selects_handler, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_params, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_carries_the_routes_arg, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_unknown_path_is_404, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_wrong_method_is_405_with_allow, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_hostile_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_segment_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_allow_lists_each_method_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_add_refuses_bad_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_rest_placeholder_takes_the_rest_of_the_path,
					    setup, teardown),
	    cmocka_unit_test(test_router_served_tables_load_and_do_not_overlap),
	    cmocka_unit_test(test_router_tile_routes_follow_the_origin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
