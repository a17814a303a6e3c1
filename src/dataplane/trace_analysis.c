/*
 * trace_analysis.c - a trace's spans as a tree, with root causes, version
 * skew, clock skew, fragments and affected services (see trace_analysis.h
 * and docs/traces.md for the rules).
 *
 * Everything is index arithmetic over one array of struct span built while
 * validating: spans sorted by id (duplicates, parent look-up by binary
 * search), one walk up the parent links with a colour per span to find and
 * cut cycles, one sort that puts the roots first and each span's children
 * next to each other, one pre-order walk with an explicit stack.  Every
 * later pass is a loop over that pre-order (or its reverse, which visits
 * children before parents), so the whole is O(n log n) in time, O(n) in
 * memory, and nothing recurses.  JSON is built only at the end, from
 * copies of the input's values: the input is never modified or shared.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/trace_analysis.h"

#define MAX_NS	   ((int64_t)1 << 62) /* timestamps are below this... */
#define MAX_OFFSET ((int64_t)1 << 60) /* ...and offsets within +-this, so sums never overflow */
#define NONE	   SIZE_MAX

enum link {
	LINK_ROOT,    /* parent_span_id is null */
	LINK_CHILD,   /* the parent is in the trace */
	LINK_MISSING, /* fragment: the parent is not in the trace */
	LINK_CYCLE,   /* fragment: the parent link closed a cycle and was cut here */
};

struct span {
	json_t *obj; /* the input object, borrowed */
	const char *id, *parent_id, *service, *version, *instance;
	int64_t start, end;
	bool failed;
	enum link link;
	size_t parent;	    /* index, for LINK_CHILD */
	size_t svc, inst;   /* service and instance numbers */
	size_t kids, nkids; /* children: t->table[kids .. kids + nkids) */
};

struct inst {
	size_t ord;	     /* position in tree order */
	size_t first, count; /* its spans: t->inst_spans[first .. first + count) */
	bool root;	     /* has a span without parent: never shifted */
	bool conflict;	     /* the constraints on its offset had no common solution */
	int64_t off;	     /* ns to add to its timestamps */
};

struct trace {
	struct span *sp;
	size_t n;
	size_t *table;	      /* roots (true, then fragments), then every span's children */
	size_t nroots, ntrue; /* roots in table[0..nroots), of which table[0..ntrue) true roots */
	size_t *pre;	      /* span indices in tree order */
	size_t *svc_rep;      /* a span of each service */
	bool *svc_covered, *svc_failed;
	size_t nsvc;
	struct inst *in;
	size_t ninst;
	size_t *inst_spans; /* span indices grouped by instance */
	size_t *inst_by_ord;
};

/* Zeroed memory for n items, never NULL for n == 0 (an empty trace is fine). */
static void *
alloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* ---- validation ---- */

#define F_NULL 1u /* null allowed */
#define F_KEY  2u /* used as a key: non-empty, no NUL byte */

static int
get_str(json_t *o, size_t i, const char *key, unsigned flags, const char **out, char *why,
	size_t whylen)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: missing", i, key);
	if (json_is_null(v) && (flags & F_NULL))
		return 0;
	if (!json_is_string(v))
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: must be a string%s", i, key,
			       (flags & F_NULL) ? " or null" : "");
	if ((flags & F_KEY) &&
	    (json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)))
		return jg_errf(why, whylen, JG_EINVAL,
			       "spans[%zu].%s: must be non-empty, without NUL bytes", i, key);
	*out = json_string_value(v);
	return 0;
}

static int
get_ns(json_t *o, size_t i, const char *key, int64_t *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);
	json_int_t x;

	if (v == NULL)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: missing", i, key);
	if (!json_is_integer(v))
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: must be an integer", i, key);
	x = json_integer_value(v);
	if (x < 0 || x >= MAX_NS)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: out of range [0, 2^62)", i,
			       key);
	*out = (int64_t)x;
	return 0;
}

static int
check_type(json_t *o, size_t i, const char *key, json_type type, const char *what, char *why,
	   size_t whylen)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: missing", i, key);
	if (json_typeof(v) != type)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].%s: must be %s", i, key, what);
	return 0;
}

static int
read_span(json_t *o, size_t i, struct span *s, const char *trace_id, char *why, size_t whylen)
{
	const char *tid, *name, *kind, *status, *err, *code;
	int rc;

	if (!json_is_object(o))
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu]: must be an object", i);
	s->obj = o;
	if ((rc = get_str(o, i, "trace_id", F_KEY, &tid, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "span_id", F_KEY, &s->id, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "parent_span_id", F_KEY | F_NULL, &s->parent_id, why, whylen)) !=
		0 ||
	    (rc = get_str(o, i, "service", F_KEY, &s->service, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "service_version", F_KEY | F_NULL, &s->version, why, whylen)) !=
		0 ||
	    (rc = get_str(o, i, "instance", F_KEY, &s->instance, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "name", 0, &name, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "kind", 0, &kind, why, whylen)) != 0 ||
	    (rc = get_ns(o, i, "start_ns", &s->start, why, whylen)) != 0 ||
	    (rc = get_ns(o, i, "end_ns", &s->end, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "status", 0, &status, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "error", F_NULL, &err, why, whylen)) != 0 ||
	    (rc = get_str(o, i, "error_code", F_NULL, &code, why, whylen)) != 0 ||
	    (rc = check_type(o, i, "attributes", JSON_OBJECT, "an object", why, whylen)) != 0 ||
	    (rc = check_type(o, i, "events", JSON_ARRAY, "an array", why, whylen)) != 0)
		return rc;
	if (trace_id != NULL && strcmp(tid, trace_id) != 0)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu].trace_id: differs from spans[0]",
			       i);
	if (s->end < s->start)
		return jg_errf(why, whylen, JG_EINVAL, "spans[%zu]: end_ns is before start_ns", i);
	if (strcmp(status, "error") != 0 && strcmp(status, "ok") != 0 &&
	    strcmp(status, "unset") != 0)
		return jg_errf(why, whylen, JG_EINVAL,
			       "spans[%zu].status: must be \"ok\", \"error\" or \"unset\"", i);
	s->failed = strcmp(status, "error") == 0;
	s->parent = NONE;
	return 0;
}

/* ---- linking: duplicates, parents, cycles ---- */

static int
cmp_span_id(const void *a, const void *b)
{
	const struct span *x = *(const struct span *const *)a, *y = *(const struct span *const *)b;

	return strcmp(x->id, y->id);
}

static int
find_id(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct span *const *)elem)->id);
}

static int
link_parents(struct trace *t, char *why, size_t whylen)
{
	struct span **byid = alloc(t->n, sizeof(*byid));
	size_t i;

	if (byid == NULL)
		return JG_ENOMEM;
	for (i = 0; i < t->n; i++)
		byid[i] = &t->sp[i];
	qsort(byid, t->n, sizeof(*byid), cmp_span_id);
	for (i = 1; i < t->n; i++) {
		if (strcmp(byid[i - 1]->id, byid[i]->id) == 0) {
			size_t a = (size_t)(byid[i - 1] - t->sp), b = (size_t)(byid[i] - t->sp);

			free(byid);
			return jg_errf(why, whylen, JG_EINVAL,
				       "spans[%zu] and spans[%zu]: same span_id", a < b ? a : b,
				       a < b ? b : a);
		}
	}
	for (i = 0; i < t->n; i++) {
		struct span *s = &t->sp[i];
		struct span **p;

		if (s->parent_id == NULL) {
			s->link = LINK_ROOT;
			continue;
		}
		p = bsearch(s->parent_id, byid, t->n, sizeof(*byid), find_id);
		s->link = p != NULL ? LINK_CHILD : LINK_MISSING;
		s->parent = p != NULL ? (size_t)(*p - t->sp) : NONE;
	}
	free(byid);
	return 0;
}

/*
 * Every span has at most one parent, so following parent links from any
 * span either ends (a root, a missing parent) or runs into a cycle.  One
 * walk per unvisited span, colouring spans on the current path; meeting a
 * span of the current path closes a cycle, which is cut at its span with
 * the smallest id.  Each span is walked once: O(n).
 */
static int
cut_cycles(struct trace *t)
{
	unsigned char *state = alloc(t->n, 1); /* 0 new, 1 on the path, 2 done */
	size_t *path = alloc(t->n, sizeof(*path));
	size_t *pos = alloc(t->n, sizeof(*pos));
	size_t i, k, len, v;

	if (state == NULL || path == NULL || pos == NULL) {
		free(state);
		free(path);
		free(pos);
		return JG_ENOMEM;
	}
	for (i = 0; i < t->n; i++) {
		for (len = 0, v = i; state[v] != 2;) {
			if (state[v] == 1) {
				size_t cut = v;

				for (k = pos[v]; k < len; k++)
					if (strcmp(t->sp[path[k]].id, t->sp[cut].id) < 0)
						cut = path[k];
				t->sp[cut].link = LINK_CYCLE;
				t->sp[cut].parent = NONE;
				break;
			}
			state[v] = 1;
			pos[v] = len;
			path[len++] = v;
			if (t->sp[v].link != LINK_CHILD)
				break;
			v = t->sp[v].parent;
		}
		for (k = 0; k < len; k++)
			state[path[k]] = 2;
	}
	free(state);
	free(path);
	free(pos);
	return 0;
}

/* ---- the tree: roots and children sorted, tree order ---- */

struct key {
	size_t grp; /* 0 true root, 1 fragment root, 2 + parent index */
	int64_t start;
	const char *id;
	size_t idx;
};

static int
cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->grp != y->grp)
		return x->grp < y->grp ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Fills t->table and every span's kids/nkids, by start_ns (+ its offset when shifted). */
static int
sort_children(struct trace *t, bool shifted)
{
	struct key *keys = alloc(t->n, sizeof(*keys));
	size_t i;

	if (keys == NULL)
		return JG_ENOMEM;
	for (i = 0; i < t->n; i++) {
		const struct span *s = &t->sp[i];

		keys[i].grp = s->link == LINK_CHILD ? 2 + s->parent : s->link == LINK_ROOT ? 0 : 1;
		keys[i].start = s->start + (shifted ? t->in[s->inst].off : 0);
		keys[i].id = s->id;
		keys[i].idx = i;
		t->sp[i].nkids = 0;
	}
	qsort(keys, t->n, sizeof(*keys), cmp_key);
	t->nroots = t->ntrue = 0;
	for (i = 0; i < t->n; i++) {
		t->table[i] = keys[i].idx;
		if (keys[i].grp >= 2) {
			struct span *p = &t->sp[keys[i].grp - 2];

			if (p->nkids++ == 0)
				p->kids = i;
		} else {
			t->nroots++;
			t->ntrue += keys[i].grp == 0;
		}
	}
	free(keys);
	return 0;
}

/* Pre-order over roots then children, with an explicit stack; every span is reached. */
static int
walk_tree(struct trace *t)
{
	size_t *stack = alloc(t->n, sizeof(*stack));
	size_t top = 0, k = 0, i;

	if (stack == NULL)
		return JG_ENOMEM;
	for (i = t->nroots; i-- > 0;)
		stack[top++] = t->table[i];
	while (top > 0) {
		const struct span *s = &t->sp[stack[--top]];

		t->pre[k++] = (size_t)(s - t->sp);
		for (i = s->nkids; i-- > 0;)
			stack[top++] = t->table[s->kids + i];
	}
	free(stack);
	return k == t->n ? 0 : JG_EINVAL; /* cannot happen once cycles are cut */
}

/* ---- services and instances ---- */

static int
cmp_service(const void *a, const void *b)
{
	const struct span *x = *(const struct span *const *)a, *y = *(const struct span *const *)b;

	return strcmp(x->service, y->service);
}

static int
cmp_instance(const void *a, const void *b)
{
	const struct span *x = *(const struct span *const *)a, *y = *(const struct span *const *)b;

	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	return strcmp(x->instance, y->instance);
}

static int
number_services(struct trace *t, bool (*covered)(const char *, void *), void *ctx)
{
	struct span **v = alloc(t->n, sizeof(*v));
	size_t i, k;

	t->svc_rep = alloc(t->n, sizeof(*t->svc_rep));
	t->svc_covered = alloc(t->n, sizeof(bool));
	t->svc_failed = alloc(t->n, sizeof(bool));
	t->in = alloc(t->n, sizeof(*t->in));
	t->inst_spans = alloc(t->n, sizeof(size_t));
	t->inst_by_ord = alloc(t->n, sizeof(size_t));
	if (v == NULL || t->svc_rep == NULL || t->svc_covered == NULL || t->svc_failed == NULL ||
	    t->in == NULL || t->inst_spans == NULL || t->inst_by_ord == NULL) {
		free(v);
		return JG_ENOMEM;
	}
	for (i = 0; i < t->n; i++)
		v[i] = &t->sp[i];
	qsort(v, t->n, sizeof(*v), cmp_service);
	for (i = 0; i < t->n; i++) {
		if (i == 0 || strcmp(v[i - 1]->service, v[i]->service) != 0) {
			t->svc_rep[t->nsvc] = (size_t)(v[i] - t->sp);
			t->svc_covered[t->nsvc] = covered(v[i]->service, ctx);
			t->nsvc++;
		}
		v[i]->svc = t->nsvc - 1;
		t->svc_failed[v[i]->svc] |= v[i]->failed;
	}
	qsort(v, t->n, sizeof(*v), cmp_instance);
	for (i = 0; i < t->n; i++) {
		if (i == 0 || cmp_instance(&v[i - 1], &v[i]) != 0)
			t->ninst++;
		v[i]->inst = t->ninst - 1;
		t->in[v[i]->inst].root |= v[i]->link == LINK_ROOT;
	}
	free(v);
	/* group span indices by instance (counting sort) */
	for (i = 0; i < t->n; i++)
		t->in[t->sp[i].inst].count++;
	for (i = 0, k = 0; i < t->ninst; i++) {
		t->in[i].first = k;
		k += t->in[i].count;
		t->in[i].count = 0;
	}
	for (i = 0; i < t->n; i++) {
		struct inst *in = &t->in[t->sp[i].inst];

		t->inst_spans[in->first + in->count++] = i;
	}
	return 0;
}

/* ---- clock skew ---- */

static int64_t
clamp_off(int64_t x)
{
	return x < -MAX_OFFSET ? -MAX_OFFSET : x > MAX_OFFSET ? MAX_OFFSET : x;
}

/* floor((a + b) / 2) for |a|, |b| <= MAX_OFFSET */
static int64_t
midpoint(int64_t a, int64_t b)
{
	int64_t s = a + b;

	return s / 2 - (s < 0 && s % 2 != 0);
}

/*
 * Instances in tree order (the order in which the pre-order walk first
 * meets one of their spans).  For instance I, every span s of I whose
 * parent p belongs to an instance J met earlier gives, with J's offset
 * oJ already fixed, the interval of offsets that put s inside p:
 *   [p.start + oJ - s.start, p.end + oJ - s.end]
 * unless s lasts longer than p (no shift fits it: not evidence of skew,
 * e.g. an asynchronous child).  The offset is the value of the
 * intersection [L, H] closest to 0; when L > H the midpoint, which
 * minimises the largest violation, and I is marked conflicting.  An
 * instance with a root span, or without any interval, is not shifted.
 */
static void
compute_offsets(struct trace *t)
{
	size_t k, j;

	for (k = 0; k < t->ninst; k++)
		t->in[k].ord = NONE;
	for (k = 0, j = 0; k < t->n; k++) {
		struct inst *in = &t->in[t->sp[t->pre[k]].inst];

		if (in->ord == NONE) {
			in->ord = j;
			t->inst_by_ord[j++] = (size_t)(in - t->in);
		}
	}
	for (k = 0; k < t->ninst; k++) {
		struct inst *in = &t->in[t->inst_by_ord[k]];
		int64_t lo = INT64_MIN, hi = INT64_MAX;
		bool any = false;

		in->off = 0;
		if (in->root)
			continue;
		for (j = 0; j < in->count; j++) {
			const struct span *s = &t->sp[t->inst_spans[in->first + j]], *p;
			const struct inst *pin;

			if (s->link != LINK_CHILD)
				continue;
			p = &t->sp[s->parent];
			pin = &t->in[p->inst];
			if (pin->ord >= in->ord || s->end - s->start > p->end - p->start)
				continue;
			any = true;
			if (p->start + pin->off - s->start > lo)
				lo = p->start + pin->off - s->start;
			if (p->end + pin->off - s->end < hi)
				hi = p->end + pin->off - s->end;
		}
		if (!any)
			continue;
		if (lo <= hi) {
			in->off = clamp_off(lo > 0 ? lo : hi < 0 ? hi : 0);
		} else {
			in->conflict = true;
			in->off = midpoint(clamp_off(lo), clamp_off(hi));
		}
	}
}

/* ---- output: every value is a copy, so *out shares nothing with the input ---- */

/* o[key] = v, stolen; false when v is NULL or o cannot take it. */
static bool
put(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0;
}

static bool
push(json_t *a, json_t *v)
{
	return json_array_append_new(a, v) == 0;
}

/* A copy of span s's input value for key. */
static json_t *
copy_of(const struct span *s, const char *key)
{
	return json_deep_copy(json_object_get(s->obj, key));
}

/* o[key] = a copy of span s's input value src. */
static bool
copy(json_t *o, const char *key, const struct span *s, const char *src)
{
	return put(o, key, copy_of(s, src));
}

static json_t *
ms(int64_t ns)
{
	return json_real((double)ns / 1e6);
}

static int64_t
pos(int64_t x)
{
	return x > 0 ? x : 0;
}

static bool
covered_span(const struct trace *t, const struct span *s)
{
	return t->svc_covered[s->svc];
}

/* One span of the tree, with an empty "children" array (*kids, borrowed). */
static json_t *
span_node(const struct trace *t, const struct span *s, bool shifted, json_t **kids)
{
	int64_t off = shifted ? t->in[s->inst].off : 0;
	bool cov = covered_span(t, s);
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && copy(o, "span_id", s, "span_id") &&
	     copy(o, "parent_span_id", s, "parent_span_id");
	ok = ok && copy(o, "service", s, "service") &&
	     copy(o, "service_version", s, "service_version");
	ok = ok && copy(o, "instance", s, "instance") && copy(o, "name", s, "name");
	ok = ok && copy(o, "kind", s, "kind");
	ok = ok && put(o, "start_ns", json_integer(s->start + off));
	ok = ok && put(o, "end_ns", json_integer(s->end + off));
	ok = ok && put(o, "duration_ms", ms(s->end - s->start));
	if (shifted)
		ok = ok && put(o, "clock_offset_ns", json_integer(off));
	ok = ok && copy(o, "status", s, "status") && copy(o, "error_code", s, "error_code");
	if (cov) {
		ok = ok && copy(o, "error", s, "error") && copy(o, "attributes", s, "attributes");
		ok = ok && copy(o, "events", s, "events");
	}
	ok = ok && put(o, "withheld", json_boolean(!cov));
	ok = ok && put(o, "children", json_array());
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	*kids = json_object_get(o, "children");
	return o;
}

/*
 * Links the span objects through their children arrays.  A span
 * JG_TRACE_MAX_DEPTH levels below its root is detached: it goes to the
 * top-level list (after the roots, in tree order) with "detached": true,
 * and its subtree counts depth from it again.  Each node is held by our
 * array and by its parent, so releasing our references in tree order frees
 * at most one level at a time, however deep the tree.
 */
static int
build_tree(const struct trace *t, bool shifted, json_t *roots)
{
	json_t **node = alloc(t->n, sizeof(*node));
	json_t **kids = alloc(t->n, sizeof(*kids));
	size_t *depth = alloc(t->n, sizeof(*depth));
	size_t i, k;
	int rc = JG_ENOMEM;

	if (node == NULL || kids == NULL || depth == NULL)
		goto out;
	for (i = 0; i < t->n; i++)
		if ((node[i] = span_node(t, &t->sp[i], shifted, &kids[i])) == NULL)
			goto out;
	for (i = 0; i < t->nroots; i++)
		if (json_array_append(roots, node[t->table[i]]) != 0)
			goto out;
	for (k = 0; k < t->n; k++) {
		const struct span *s = &t->sp[t->pre[k]];
		size_t d = s->link == LINK_CHILD ? depth[s->parent] + 1 : 0;

		if (d == JG_TRACE_MAX_DEPTH) {
			d = 0;
			if (!put(node[t->pre[k]], "detached", json_true()) ||
			    json_array_append(roots, node[t->pre[k]]) != 0)
				goto out;
		} else if (s->link == LINK_CHILD &&
			   json_array_append(kids[s->parent], node[t->pre[k]]) != 0) {
			goto out;
		}
		depth[t->pre[k]] = d;
	}
	rc = 0;
out:
	if (node != NULL) {
		for (k = 0; k < t->n; k++)
			json_decref(node[t->pre[k]]);
	}
	free(node);
	free(kids);
	free(depth);
	return rc;
}

static int
cmp_start(const void *a, const void *b)
{
	const struct span *x = *(const struct span *const *)a, *y = *(const struct span *const *)b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return strcmp(x->id, y->id);
}

static bool
add_cause(const struct trace *t, json_t *list, const struct span *r, json_t *explains,
	  const struct span *top)
{
	json_t *o = json_object(), *sf = json_object();
	bool cov = covered_span(t, r), ok = o != NULL;

	ok = ok && copy(o, "span_id", r, "span_id") && copy(o, "service", r, "service");
	ok = ok && copy(o, "instance", r, "instance");
	ok = ok && copy(o, "service_version", r, "service_version");
	ok = ok && copy(o, "operation", r, "name") && copy(o, "error_code", r, "error_code");
	if (cov)
		ok = ok && copy(o, "error", r, "error");
	ok = ok && put(o, "withheld", json_boolean(!cov));
	ok = ok && put(o, "start_ns", json_integer(r->start));
	ok = ok && put(o, "end_ns", json_integer(r->end));
	ok = ok && put(o, "explains", json_incref(explains));
	ok = ok && copy(sf, "span_id", top, "span_id") && copy(sf, "service", top, "service");
	ok = ok && copy(sf, "operation", top, "name");
	ok = ok && put(o, "surfaced", json_incref(sf));
	json_decref(sf);
	if (!ok) {
		json_decref(o);
		return false;
	}
	return push(list, o);
}

/*
 * Children before parents (reverse tree order): a failed span without a
 * failed child is a cause; any other failed span takes the cause of its
 * failed child that ended first (ties: smallest span_id).  The spans with
 * one cause form a path up from it, listed bottom-up in that order.
 */
static int
build_root_causes(const struct trace *t, json_t *list)
{
	size_t *origin = alloc(t->n, sizeof(*origin));
	size_t *top = alloc(t->n, sizeof(*top));
	json_t **explains = alloc(t->n, sizeof(*explains));
	const struct span **causes = alloc(t->n, sizeof(*causes));
	size_t k, i, nc = 0;
	int rc = JG_ENOMEM;

	if (origin == NULL || top == NULL || explains == NULL || causes == NULL)
		goto out;
	for (k = t->n; k-- > 0;) {
		size_t f = t->pre[k], best = NONE;
		const struct span *s = &t->sp[f];

		if (!s->failed)
			continue;
		for (i = 0; i < s->nkids; i++) {
			const struct span *c = &t->sp[t->table[s->kids + i]];

			if (c->failed &&
			    (best == NONE || c->end < t->sp[best].end ||
			     (c->end == t->sp[best].end && strcmp(c->id, t->sp[best].id) < 0)))
				best = (size_t)(c - t->sp);
		}
		if (best == NONE) {
			origin[f] = f;
			causes[nc++] = s;
			if ((explains[f] = json_array()) == NULL)
				goto out;
		} else {
			origin[f] = origin[best];
		}
		if (!push(explains[origin[f]], copy_of(s, "span_id")))
			goto out;
		top[origin[f]] = f;
	}
	qsort(causes, nc, sizeof(*causes), cmp_start);
	for (i = 0; i < nc; i++) {
		size_t r = (size_t)(causes[i] - t->sp);

		if (!add_cause(t, list, causes[i], explains[r], &t->sp[top[r]]))
			goto out;
	}
	rc = 0;
out:
	if (explains != NULL)
		for (k = 0; k < t->n; k++)
			json_decref(explains[k]);
	free(origin);
	free(top);
	free(explains);
	free(causes);
	return rc;
}

static int
cmp_version(const struct span *x, const struct span *y)
{
	if (x->version == NULL || y->version == NULL)
		return (x->version == NULL) - (y->version == NULL); /* null last */
	return strcmp(x->version, y->version);
}

static int
cmp_svc_version_inst(const void *a, const void *b)
{
	const struct span *x = *(const struct span *const *)a, *y = *(const struct span *const *)b;
	int c;

	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	if ((c = cmp_version(x, y)) != 0)
		return c;
	if (x->inst != y->inst)
		return x->inst < y->inst ? -1 : 1;
	return 0;
}

static json_t *
instance_count(const struct span *s, size_t count)
{
	json_t *o = json_object();

	if (!copy(o, "instance", s, "instance") ||
	    !put(o, "spans", json_integer((json_int_t)count))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* {"version", "spans", "instances"} from v[c..d), spans of one version sorted by instance. */
static json_t *
version_group(const struct span *const *v, size_t c, size_t d)
{
	json_t *o = json_object(), *insts = json_array();
	bool ok = copy(o, "version", v[c], "service_version") &&
		  put(o, "spans", json_integer((json_int_t)(d - c))) &&
		  put(o, "instances", json_incref(insts));
	size_t e, f;

	for (e = c; ok && e < d; e = f) {
		for (f = e; f < d && v[f]->inst == v[e]->inst; f++)
			;
		ok = push(insts, instance_count(v[e], f - e));
	}
	json_decref(insts);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One version_skew entry from v[a..b), the spans of one service sorted by version, instance. */
static json_t *
skewed_service(const struct span *const *v, size_t a, size_t b)
{
	json_t *o = json_object(), *versions = json_array();
	bool ok = copy(o, "service", v[a], "service") && put(o, "versions", json_incref(versions));
	size_t c, d;

	for (c = a; ok && c < b; c = d) {
		for (d = c; d < b && cmp_version(v[c], v[d]) == 0; d++)
			;
		ok = push(versions, version_group(v, c, d));
	}
	json_decref(versions);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
build_version_skew(const struct trace *t, json_t *list)
{
	const struct span **v = alloc(t->n, sizeof(*v));
	size_t a, b, k, nver;
	int rc = JG_ENOMEM;

	if (v == NULL)
		return JG_ENOMEM;
	for (k = 0; k < t->n; k++)
		v[k] = &t->sp[k];
	qsort(v, t->n, sizeof(*v), cmp_svc_version_inst);
	for (a = 0; a < t->n; a = b) {
		for (b = a, nver = 0; b < t->n && v[b]->svc == v[a]->svc; b++)
			if (v[b]->version != NULL && (b == a || cmp_version(v[b - 1], v[b]) != 0))
				nver++;
		if (nver >= 2 && !push(list, skewed_service(v, a, b)))
			goto out;
	}
	rc = 0;
out:
	free(v);
	return rc;
}

/* How far a child sticks out of its parent, as recorded and after shifting (ns, >= 0). */
struct gap {
	int64_t before, after, adj_before, adj_after;
};

static bool
outside(const struct trace *t, const struct span *s, struct gap *g)
{
	const struct span *p = &t->sp[s->parent];
	int64_t so = t->in[s->inst].off, po = t->in[p->inst].off;

	g->before = pos(p->start - s->start);
	g->after = pos(s->end - p->end);
	g->adj_before = pos((p->start + po) - (s->start + so));
	g->adj_after = pos((s->end + so) - (p->end + po));
	return g->before > 0 || g->after > 0 || g->adj_before > 0 || g->adj_after > 0;
}

static json_t *
artefact(const struct trace *t, const struct span *s, const struct gap *g)
{
	const struct span *p = &t->sp[s->parent];
	json_t *o = json_object();

	if (!copy(o, "span_id", s, "span_id") || !copy(o, "parent_span_id", s, "parent_span_id") ||
	    !copy(o, "parent_service", p, "service") ||
	    !copy(o, "parent_instance", p, "instance") ||
	    !put(o, "before_ns", json_integer(g->before)) ||
	    !put(o, "after_ns", json_integer(g->after)) ||
	    !put(o, "adjusted_before_ns", json_integer(g->adj_before)) ||
	    !put(o, "adjusted_after_ns", json_integer(g->adj_after))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
skew_entry(const struct trace *t, const struct inst *in, json_t *arts)
{
	const struct span *rep = &t->sp[t->inst_spans[in->first]];
	json_t *o = json_object();

	if (!copy(o, "service", rep, "service") || !copy(o, "instance", rep, "instance") ||
	    !put(o, "offset_ns", json_integer(in->off)) || !put(o, "offset_ms", ms(in->off)) ||
	    !put(o, "conflict", json_boolean(in->conflict)) ||
	    !put(o, "artefacts", arts != NULL ? json_incref(arts) : json_array())) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Instances in tree order that were shifted, conflicting, or have a child outside its parent. */
static int
build_clock_skew(const struct trace *t, json_t *list)
{
	json_t **arts = alloc(t->ninst, sizeof(*arts));
	struct gap g;
	size_t k;
	bool ok = arts != NULL;

	for (k = 0; ok && k < t->n; k++) {
		const struct span *s = &t->sp[t->pre[k]];

		if (s->link != LINK_CHILD || !outside(t, s, &g))
			continue;
		if (arts[s->inst] == NULL)
			arts[s->inst] = json_array();
		ok = push(arts[s->inst], artefact(t, s, &g));
	}
	for (k = 0; ok && k < t->ninst; k++) {
		size_t i = t->inst_by_ord[k];

		if (t->in[i].off != 0 || t->in[i].conflict || arts[i] != NULL)
			ok = push(list, skew_entry(t, &t->in[i], arts[i]));
	}
	if (arts != NULL)
		for (k = 0; k < t->ninst; k++)
			json_decref(arts[k]);
	free(arts);
	return ok ? 0 : JG_ENOMEM;
}

static json_t *
fragment(const struct span *s, size_t size)
{
	json_t *o = json_object();

	if (!copy(o, "span_id", s, "span_id") || !copy(o, "service", s, "service") ||
	    !copy(o, "instance", s, "instance") || !copy(o, "operation", s, "name") ||
	    !copy(o, "parent_span_id", s, "parent_span_id") ||
	    !put(o, "reason", json_string(s->link == LINK_CYCLE ? "cycle" : "missing_parent")) ||
	    !put(o, "spans", json_integer((json_int_t)size))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Fragment roots in tree order, each with the size of its subtree. */
static int
build_fragments(const struct trace *t, json_t *list)
{
	size_t *size = alloc(t->n, sizeof(*size));
	size_t k;
	bool ok = size != NULL;

	/* children come after their parent in tree order: add them up backwards */
	for (k = t->n; ok && k-- > 0;) {
		const struct span *s = &t->sp[t->pre[k]];

		size[t->pre[k]]++;
		if (s->link == LINK_CHILD)
			size[s->parent] += size[t->pre[k]];
	}
	for (k = t->ntrue; ok && k < t->nroots; k++)
		ok = push(list, fragment(&t->sp[t->table[k]], size[t->table[k]]));
	free(size);
	return ok ? 0 : JG_ENOMEM;
}

static int
build_affected(const struct trace *t, json_t *list)
{
	size_t k;

	for (k = 0; k < t->nsvc; k++)
		if (t->svc_failed[k] && !push(list, copy_of(&t->sp[t->svc_rep[k]], "service")))
			return JG_ENOMEM;
	return 0;
}

static void
free_trace(struct trace *t)
{
	free(t->sp);
	free(t->table);
	free(t->pre);
	free(t->svc_rep);
	free(t->svc_covered);
	free(t->svc_failed);
	free(t->in);
	free(t->inst_spans);
	free(t->inst_by_ord);
}

/* The analysis object, from the tree in its unshifted order. */
static int
build_analysis(const struct trace *t, json_t *a)
{
	json_t *causes = json_array(), *vskew = json_array(), *cskew = json_array();
	json_t *frags = json_array(), *affected = json_array();
	int rc = JG_ENOMEM;

	if (!put(a, "root_causes", json_incref(causes)) ||
	    !put(a, "version_skew", json_incref(vskew)) ||
	    !put(a, "clock_skew", json_incref(cskew)) || !put(a, "fragments", json_incref(frags)) ||
	    !put(a, "affected_services", json_incref(affected)))
		goto out;
	if ((rc = build_root_causes(t, causes)) == 0 && (rc = build_version_skew(t, vskew)) == 0 &&
	    (rc = build_clock_skew(t, cskew)) == 0 && (rc = build_fragments(t, frags)) == 0)
		rc = build_affected(t, affected);
out:
	json_decref(causes);
	json_decref(vskew);
	json_decref(cskew);
	json_decref(frags);
	json_decref(affected);
	return rc;
}

int
jg_trace_analyze(json_t *spans, bool (*covered)(const char *service, void *ctx), void *ctx,
		 bool adjust_skew, json_t **out, char *why, size_t whylen)
{
	struct trace t = {0};
	json_t *res = NULL, *roots = NULL, *analysis = NULL;
	const char *trace_id = NULL;
	size_t i;
	int rc;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (out == NULL || covered == NULL)
		return jg_errf(why, whylen, JG_EINVAL, "no output or no coverage callback");
	if (!json_is_array(spans))
		return jg_errf(why, whylen, JG_EINVAL, "spans: must be an array");
	t.n = json_array_size(spans);
	if (t.n > JG_TRACE_MAX_SPANS)
		return jg_errf(why, whylen, JG_ETOOBIG, "spans: %zu spans, more than %d", t.n,
			       JG_TRACE_MAX_SPANS);
	if ((t.sp = alloc(t.n, sizeof(*t.sp))) == NULL)
		return JG_ENOMEM;
	for (i = 0; i < t.n; i++) {
		if ((rc = read_span(json_array_get(spans, i), i, &t.sp[i], trace_id, why,
				    whylen)) != 0)
			goto out;
		if (i == 0)
			trace_id = json_string_value(json_object_get(t.sp[0].obj, "trace_id"));
	}
	rc = JG_ENOMEM;
	if ((t.table = alloc(t.n, sizeof(*t.table))) == NULL ||
	    (t.pre = alloc(t.n, sizeof(*t.pre))) == NULL)
		goto out;
	if ((rc = link_parents(&t, why, whylen)) != 0 || (rc = cut_cycles(&t)) != 0 ||
	    (rc = sort_children(&t, false)) != 0 || (rc = walk_tree(&t)) != 0 ||
	    (rc = number_services(&t, covered, ctx)) != 0)
		goto out;
	compute_offsets(&t);

	rc = JG_ENOMEM;
	res = json_object();
	roots = json_array();
	analysis = json_object();
	if (!put(res, "trace_id", t.n > 0 ? copy_of(&t.sp[0], "trace_id") : json_null()) ||
	    !put(res, "spans", json_incref(roots)) || !put(res, "analysis", json_incref(analysis)))
		goto out;
	if ((rc = build_analysis(&t, analysis)) != 0)
		goto out;
	if (adjust_skew && ((rc = sort_children(&t, true)) != 0 || (rc = walk_tree(&t)) != 0))
		goto out;
	if ((rc = build_tree(&t, adjust_skew, roots)) != 0)
		goto out;
	*out = res;
	res = NULL;
out:
	json_decref(roots);
	json_decref(analysis);
	json_decref(res);
	free_trace(&t);
	return rc;
}
