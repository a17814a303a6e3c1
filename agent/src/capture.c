/*
 * capture.c - what the agent may take from a call, and how often
 * (docs/agents.md, "Limits").  jga_capture() copies a value member by
 * member within a probe's limits, cutting each string, array, object or
 * too-deep container on its own and naming it in the event's "truncated"
 * list, so an engineer sees what was cut and everything that fitted.  The
 * token bucket bounds the capture rate; the CPU window sums the time one
 * probe costs inside jga_hit() over a second.  All of it is pure: times
 * are given, so the unit tests drive each rule with exact numbers.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MAX_PATH_BYTES 512

void
jga_limits_default(struct jga_limits *out)
{
	*out = (struct jga_limits){.max_hits = 100,
				   .max_events_per_second = 10,
				   .max_depth = 3,
				   .max_string_bytes = 255,
				   .max_collection_items = 100,
				   .max_fields = 20,
				   .max_cpu_ms_per_second = 5};
}

static int
member(const json_t *limits, const char *name, long lo, long hi, long *out)
{
	const json_t *v = json_object_get(limits, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = (long)json_integer_value(v);
	return 0;
}

int
jga_limits_parse(const json_t *limits, struct jga_limits *out)
{
	struct jga_limits l;

	jga_limits_default(&l);
	if (limits != NULL && !json_is_null(limits)) {
		if (!json_is_object(limits) || member(limits, "max_hits", 1, 10000, &l.max_hits) ||
		    member(limits, "max_events_per_second", 1, 100, &l.max_events_per_second) ||
		    member(limits, "max_depth", 1, 8, &l.max_depth) ||
		    member(limits, "max_string_bytes", 16, 4096, &l.max_string_bytes) ||
		    member(limits, "max_collection_items", 1, 1000, &l.max_collection_items) ||
		    member(limits, "max_fields", 1, 100, &l.max_fields) ||
		    member(limits, "max_cpu_ms_per_second", 1, 100, &l.max_cpu_ms_per_second))
			return -1;
	}
	*out = l;
	return 0;
}

struct walk {
	const struct jga_limits *l;
	json_t *truncated;
	char path[MAX_PATH_BYTES];
	size_t len;
};

/* Names the current path as cut; false when out of memory. */
static bool
mark(struct walk *w)
{
	return json_array_append_new(w->truncated, json_stringn(w->path, w->len)) == 0;
}

/* Appends ".seg" when it fits (else the path stays the parent's); returns the old length. */
static size_t
push(struct walk *w, const char *seg, size_t n)
{
	size_t old = w->len;

	if (w->len + 1 + n < sizeof w->path) {
		w->path[w->len++] = '.';
		memcpy(w->path + w->len, seg, n);
		w->len += n;
	}
	return old;
}

static json_t *
walk(struct walk *w, const json_t *v, long depth)
{
	json_t *out = NULL;

	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v), max = (size_t)w->l->max_string_bytes;
		if (n <= max)
			return json_stringn(s, n);
		/* back to the first byte of the character that would be split */
		while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
			max--;
		if (!mark(w))
			return NULL;
		return json_stringn(s, max);
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v), keep = (size_t)w->l->max_collection_items;
		if ((out = json_array()) == NULL)
			return NULL;
		if (n > 0 && depth >= w->l->max_depth) {
			if (!mark(w))
				goto fail;
			return out;
		}
		for (size_t i = 0; i < n && i < keep; i++) {
			char seg[24];
			int sn = snprintf(seg, sizeof seg, "%zu", i);
			size_t old = push(w, seg, (size_t)sn);
			json_t *c = walk(w, json_array_get(v, i), depth + 1);
			w->len = old;
			if (c == NULL || json_array_append_new(out, c) != 0)
				goto fail;
		}
		if (n > keep && !mark(w))
			goto fail;
		return out;
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), keep = (size_t)w->l->max_fields, i = 0;
		const char *key;
		const json_t *m;
		if ((out = json_object()) == NULL)
			return NULL;
		if (n > 0 && depth >= w->l->max_depth) {
			if (!mark(w))
				goto fail;
			return out;
		}
		/* jansson keeps members in insertion order: "the first ones" */
		json_object_foreach((json_t *)v, key, m)
		{
			if (i++ == keep)
				break;
			size_t old = push(w, key, strlen(key));
			json_t *c = walk(w, m, depth + 1);
			w->len = old;
			if (c == NULL || json_object_set_new(out, key, c) != 0)
				goto fail;
		}
		if (n > keep && !mark(w))
			goto fail;
		return out;
	}
	default: return json_copy((json_t *)v); /* numbers, true, false, null */
	}
fail:
	json_decref(out);
	return NULL;
}

json_t *
jga_capture(const json_t *v, const char *root, long depth, const struct jga_limits *l,
	    json_t *truncated)
{
	struct walk w = {.l = l, .truncated = truncated};
	size_t n = strlen(root);

	if (v == NULL || n >= sizeof w.path)
		return NULL;
	memcpy(w.path, root, n);
	w.len = n;
	return walk(&w, v, depth);
}

static int64_t
ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

bool
jga_bucket_take(struct jga_bucket *b, const struct timespec *now, long rate)
{
	if (!b->primed) {
		b->tokens = (double)rate;
		b->last = *now;
		b->primed = true;
	}
	int64_t el = ns_between(&b->last, now);
	if (el > 0) {
		b->tokens += (double)el * (double)rate / 1e9;
		if (b->tokens > (double)rate)
			b->tokens = (double)rate;
		b->last = *now;
	}
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

bool
jga_cpu_charge(struct jga_cpu *c, const struct timespec *now, int64_t spent_ns, long max_ms,
	       double *ms)
{
	int64_t max_ns = (int64_t)max_ms * 1000000LL;

	if (!c->primed || ns_between(&c->start, now) >= 1000000000LL) {
		/* a precise window within the limit: the excess was the scheduler's */
		if (c->primed && c->precise && c->spent_ns <= max_ns)
			c->precise = false;
		c->start = *now;
		c->spent_ns = 0;
		c->primed = true;
	}
	if (spent_ns > 0)
		c->spent_ns += spent_ns;
	*ms = (double)c->spent_ns / 1e6;
	if (c->spent_ns <= max_ns)
		return false;
	if (c->precise)
		return true;
	/* over on the monotonic clock: measure again on the thread's CPU clock */
	c->precise = true;
	c->start = *now;
	c->spent_ns = 0;
	return false;
}
