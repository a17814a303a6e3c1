/*
 * test_router.c - method + path pattern matching, 404 versus 405.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/router.h"

static int h_list, h_show, h_approve, h_create, h_health, h_deep;

static int
setup(void **state)
{
	struct jg_router *r = jg_router_new();
	assert_non_null(r);
	assert_int_equal(jg_router_add(r, "GET", "/v1/requests", &h_list, 0), 0);
	assert_int_equal(jg_router_add(r, "POST", "/v1/requests", &h_create, 1), 0);
	assert_int_equal(jg_router_add(r, "GET", "/v1/requests/{id}", &h_show, 0), 0);
	assert_int_equal(jg_router_add(r, "POST", "/v1/requests/{id}/approve", &h_approve, 0), 0);
	assert_int_equal(jg_router_add(r, "GET", "/healthz", &h_health, 0), 0);
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
	assert_ptr_equal(m.handler, &h_health);
	assert_string_equal(m.pattern, "/healthz");
	assert_int_equal(m.nparams, 0);
}

static void
test_router_match_method_selects_handler(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "POST", "/v1/requests", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.handler, &h_create);
	assert_int_equal(m.flags, 1);
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests", &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.handler, &h_list);
}

static void
test_router_match_params(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "POST", "/v1/requests/req_42/approve", &m),
			 JG_ROUTE_FOUND);
	assert_ptr_equal(m.handler, &h_approve);
	assert_string_equal(jg_route_param(&m, "id"), "req_42");
	assert_null(jg_route_param(&m, "other"));
	assert_string_equal(m.pattern, "/v1/requests/{id}/approve");
}

static void
test_router_match_unknown_path_is_404(void **state)
{
	struct jg_route_match m;
	assert_int_equal(jg_router_match(*state, "GET", "/v1/nope", &m), JG_ROUTE_NO_PATH);
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
	assert_null(m.handler);
	assert_int_equal(jg_router_match(*state, "GET", "/v1/requests/x/approve", &m),
			 JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "POST");
}

static void
test_router_match_hostile_paths(void **state)
{
	struct jg_route_match m;
	char deep[4096] = "";
	for (int i = 0; i < 100; i++)
		strcat(deep, "/a");
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
	struct jg_route_match m;
	char p16[256], p17[256];
	path_of(p16, sizeof(p16), JG_ROUTE_MAX_SEGMENTS);
	path_of(p17, sizeof(p17), JG_ROUTE_MAX_SEGMENTS + 1);

	/* a pattern of exactly the cap is a route; one more segment is refused */
	assert_int_equal(jg_router_add(*state, "GET", p16, &h_deep, 0), 0);
	assert_int_equal(jg_router_add(*state, "GET", p17, &h_deep, 0), JG_EINVAL);
	assert_int_equal(jg_router_match(*state, "GET", p16, &m), JG_ROUTE_FOUND);
	assert_ptr_equal(m.handler, &h_deep);
	/* a longer path is no match, not a match on its first 16 segments */
	assert_int_equal(jg_router_match(*state, "GET", p17, &m), JG_ROUTE_NO_PATH);
	assert_null(m.handler);
}

static void
test_router_allow_lists_each_method_once(void **state)
{
	struct jg_route_match m;
	/* two GET routes match /v1/requests/latest: GET is named once */
	assert_int_equal(jg_router_add(*state, "GET", "/v1/requests/latest", &h_show, 0), 0);
	assert_int_equal(jg_router_match(*state, "DELETE", "/v1/requests/latest", &m),
			 JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "GET");
	/* a method whose name is part of another's is still its own method */
	assert_int_equal(jg_router_add(*state, "PURGE", "/cache", &h_deep, 0), 0);
	assert_int_equal(jg_router_add(*state, "PURG", "/cache", &h_deep, 0), 0);
	assert_int_equal(jg_router_add(*state, "URGE", "/cache", &h_deep, 0), 0);
	assert_int_equal(jg_router_match(*state, "GET", "/cache", &m), JG_ROUTE_NO_METHOD);
	assert_string_equal(m.allow, "PURGE, PURG, URGE");
}

static void
test_router_add_refuses_bad_patterns(void **state)
{
	assert_int_equal(jg_router_add(*state, "GET", "/healthz", &h_health, 0), JG_EINVAL);
	assert_int_equal(jg_router_add(*state, "GET", "no-slash", &h_health, 0), JG_EINVAL);
	assert_int_equal(jg_router_add(*state, "GET", "/a//b", &h_health, 0), JG_EINVAL);
	assert_int_equal(jg_router_add(*state, "GET", "/a/{x", &h_health, 0), JG_EINVAL);
	assert_int_equal(jg_router_add(*state, "GET", "/{a}/{b}/{c}/{d}/{e}", &h_health, 0),
			 JG_EINVAL);
	assert_int_equal(jg_router_add(*state, "VERYLONGMETHOD", "/x", &h_health, 0), JG_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_router_match_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_method_selects_handler, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_params, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_unknown_path_is_404, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_wrong_method_is_405_with_allow, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_match_hostile_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_segment_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_allow_lists_each_method_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_router_add_refuses_bad_patterns, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
