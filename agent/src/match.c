/*
 * match.c - probe conditions against a call's arguments (docs/agents.md,
 * "Matching conditions and sampling").  A condition's field is a dotted
 * path: the first segment names a parameter (or its 0-based position when
 * args is an array), each further one an object member or an array index.
 * A path that does not resolve, or a value of the wrong kind, makes its
 * condition false; all conditions must hold.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "jitgate-agent.h"

#define MAX_PATH 256 /* a field longer than this never resolves */

/* Index segment: 1 to 9 decimal digits, nothing else. */
static bool
parse_index(const char *s, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

const json_t *
jga_resolve(const json_t *args, const char *field)
{
	char seg[MAX_PATH + 1];
	const json_t *cur = args;
	size_t len = strlen(field);

	if (len == 0 || len > MAX_PATH)
		return NULL;
	const char *p = field;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		size_t idx;

		if (n == 0 || cur == NULL)
			return NULL;
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (json_is_object(cur))
			cur = json_object_get(cur, seg);
		else if (json_is_array(cur) && parse_index(seg, n, &idx))
			cur = json_array_get(cur, idx);
		else
			return NULL;
		if (dot == NULL)
			return cur;
		p = dot + 1;
	}
}

static bool
value_eq(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_string(a) && json_is_string(b))
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) ==
			   0;
	if (json_is_boolean(a) && json_is_boolean(b))
		return json_is_true(a) == json_is_true(b);
	return false;
}

static bool
contains(const json_t *field, const json_t *value)
{
	if (json_is_string(field)) {
		if (!json_is_string(value))
			return false;
		size_t hn = json_string_length(field), nn = json_string_length(value);
		if (nn == 0)
			return true;
		return nn <= hn &&
		       memmem(json_string_value(field), hn, json_string_value(value), nn) != NULL;
	}
	if (json_is_array(field)) {
		for (size_t i = 0; i < json_array_size(field); i++)
			if (value_eq(json_array_get(field, i), value))
				return true;
	}
	return false;
}

static bool
one(const json_t *cond, const json_t *args)
{
	const char *field = json_string_value(json_object_get(cond, "field"));
	const char *op = json_string_value(json_object_get(cond, "op"));
	const json_t *value = json_object_get(cond, "value");

	if (field == NULL || op == NULL || value == NULL)
		return false;
	const json_t *v = jga_resolve(args, field);
	if (v == NULL)
		return false;
	if (strcmp(op, "eq") == 0)
		return value_eq(v, value);
	if (strcmp(op, "gt") == 0)
		return json_is_number(v) && json_is_number(value) &&
		       json_number_value(v) > json_number_value(value);
	if (strcmp(op, "lt") == 0)
		return json_is_number(v) && json_is_number(value) &&
		       json_number_value(v) < json_number_value(value);
	if (strcmp(op, "contains") == 0)
		return contains(v, value);
	return false;
}

int
jg_probe_match(const json_t *conditions, const json_t *args)
{
	if (conditions == NULL)
		return 1;
	if (!json_is_array(conditions))
		return 0;
	for (size_t i = 0; i < json_array_size(conditions); i++)
		if (!one(json_array_get(conditions, i), args))
			return 0;
	return 1;
}

int
jga_conditions_check(const json_t *conditions, char *why, size_t len)
{
	static const char *const ops[] = {"eq", "gt", "lt", "contains"};

	if (conditions == NULL)
		return 0;
	if (!json_is_array(conditions)) {
		snprintf(why, len, "conditions is not a list");
		return -1;
	}
	for (size_t i = 0; i < json_array_size(conditions); i++) {
		const json_t *c = json_array_get(conditions, i);
		const char *field = json_string_value(json_object_get(c, "field"));
		const char *op = json_string_value(json_object_get(c, "op"));
		size_t k = 0;

		if (field == NULL || *field == '\0' || strlen(field) > MAX_PATH) {
			snprintf(why, len,
				 "conditions[%zu]: the field is not a path of 1 to %d bytes", i,
				 MAX_PATH);
			return -1;
		}
		while (op != NULL && k < sizeof(ops) / sizeof(ops[0]) && strcmp(op, ops[k]) != 0)
			k++;
		if (op == NULL || k == sizeof(ops) / sizeof(ops[0])) {
			/* the op only, never the value: it may be personal data */
			snprintf(why, len,
				 "conditions[%zu]: op '%.32s' is not one this agent evaluates", i,
				 op ? op : "");
			return -1;
		}
		if (json_object_get(c, "value") == NULL) {
			snprintf(why, len, "conditions[%zu]: no value", i);
			return -1;
		}
	}
	return 0;
}
