/*
 * policy_lint.c - what `jitgate policy check` says about a set that loads:
 * rules that can never be used, rules that can never be approved, policies
 * that apply to no service, and which policies apply to a common service
 * (jg_policy_set_lint, policy.h; docs/policies.md, "Checking policies").
 *
 * Requesters are exact names, and anyone may hold any name, so whether a
 * rule can be used for a capability is decidable entry by entry: it cannot
 * when each of its requester entries (a group, or a user) is also an entry
 * of the same kind in an earlier rule of its policy listing the capability
 * (that rule is the one used within the policy) or in a deny rule naming
 * the capability that applies wherever the rule does (one of its own
 * policy's, or one of a policy with a glob that matches every name).  When
 * one entry is left, the person holding only that entry uses the rule.
 * Deny rules of policies whose globs merely overlap are not counted, so
 * every warning is true but not every unusable rule is found.
 *
 * Whether two policies apply to a common service is whether their globs
 * have a common word over the service-name alphabet (lower-case letters,
 * digits, '-' and '.', starting with a letter or digit: the names requests
 * may use).  Each glob is cut into tokens - '*', or one character position
 * with the set of alphabet characters it admits, asked of fnmatch(3)
 * itself, so bracket expressions mean what the evaluator's fnmatch makes
 * of them - and a breadth-first search over pairs of token positions
 * finds the shortest common name, which is then checked with fnmatch
 * against both globs before it is printed.
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/policy.h"
#include "policy_int.h"

#define NAME_MAX_LEN 63 /* a service name's length */

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789-.";
#define NALPHA	 38
#define FIRST_OK ((1ull << 36) - 1) /* a name starts with a letter or digit */
#define ALL	 ((1ull << NALPHA) - 1)

/* ---- findings ---- */

static int add(json_t *out, const struct policy *p, int line, const char *kind, json_t *extra,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Appends {kind, file, line, policy, message} plus extra's keys (stolen). */
static int
add(json_t *out, const struct policy *p, int line, const char *kind, json_t *extra, const char *fmt,
    ...)
{
	char msg[2048];
	va_list ap;
	json_t *f;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a longer message is cut */
	va_end(ap);
	f = json_pack("{s:s,s:s,s:i,s:s,s:s}", "kind", kind, "file", p->file ? p->file : "", "line",
		      line, "policy", p->name, "message", msg);
	if (f == NULL || (extra != NULL && json_object_update(f, extra) != 0) ||
	    json_array_append_new(out, f) != 0) {
		json_decref(extra);
		return JG_ENOMEM;
	}
	json_decref(extra);
	return 0;
}

static bool
listed(const struct strlist *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

/* ---- globs over the service-name alphabet ---- */

struct glob {
	const char *text; /* the glob itself (borrowed) */
	size_t n;
	bool *star;    /* per token */
	uint64_t *set; /* per token that is not '*': the characters it admits */
};

static void
glob_free(struct glob *g)
{
	free(g->star);
	free(g->set);
	memset(g, 0, sizeof(*g));
}

/* The characters of the alphabet that the one-character pattern pat admits. */
static uint64_t
admitted(const char *pat)
{
	uint64_t set = 0;
	char one[2] = {0, 0};

	for (int i = 0; i < NALPHA; i++) {
		one[0] = alphabet[i];
		if (fnmatch(pat, one, 0) == 0)
			set |= 1ull << i;
	}
	return set;
}

/* Where the bracket expression opening at s[0] ends (its ']'), or 0 when it does not. */
static size_t
bracket_end(const char *s)
{
	size_t i = 1;

	if (s[i] == '!' || s[i] == '^')
		i++;
	if (s[i] == ']')
		i++;
	while (s[i] != '\0' && s[i] != ']') {
		if (s[i] == '[' && (s[i + 1] == ':' || s[i + 1] == '.' || s[i + 1] == '=')) {
			char kind = s[i + 1];
			size_t j = i + 2;
			while (s[j] != '\0' && !(s[j] == kind && s[j + 1] == ']'))
				j++;
			if (s[j] == '\0')
				return 0;
			i = j + 2;
		} else if (s[i] == '\\' && s[i + 1] != '\0') {
			i += 2;
		} else {
			i++;
		}
	}
	return s[i] == ']' ? i : 0;
}

static int
glob_parse(const char *pat, struct glob *g)
{
	size_t len = strlen(pat);
	char tok[JG_POLICY_MAX_NAME + 1];

	memset(g, 0, sizeof(*g));
	g->text = pat;
	g->star = calloc(len + 1, sizeof(*g->star));
	g->set = calloc(len + 1, sizeof(*g->set));
	if (g->star == NULL || g->set == NULL) {
		glob_free(g);
		return JG_ENOMEM;
	}
	for (size_t i = 0; i < len;) {
		size_t k = g->n++, end;
		if (pat[i] == '*') {
			g->star[k] = true;
			i++;
			continue;
		}
		if (pat[i] == '[' && (end = bracket_end(pat + i)) > 0) {
			memcpy(tok, pat + i, end + 1);
			tok[end + 1] = '\0';
			g->set[k] = admitted(tok);
			i += end + 1;
			continue;
		}
		if (pat[i] == '\\' && pat[i + 1] != '\0') {
			tok[0] = '\\';
			tok[1] = pat[i + 1];
			tok[2] = '\0';
			g->set[k] = admitted(tok);
			i += 2;
			continue;
		}
		if (pat[i] == '?') {
			g->set[k] = ALL;
		} else {
			const char *at = strchr(alphabet, pat[i]);
			g->set[k] = at != NULL && pat[i] != '\0' ? 1ull << (at - alphabet) : 0;
		}
		i++;
	}
	return 0;
}

/* A move of the search: to token positions (i, j), taking ch (cost 1) or nothing. */
struct step {
	size_t i, j;
	int cost;
	char ch;
};

/*
 * The shortest valid service name both globs match, into name (at least
 * NAME_MAX_LEN + 1 bytes); "" when there is none.  A 0-1 breadth-first
 * search over (position in a, position in b, a character taken yet):
 * skipping a '*' costs nothing, taking a character costs one.
 */
static int
common_name(const struct glob *ga, const struct glob *gb, char *name)
{
	const struct glob a = *ga, b = *gb;
	size_t na, nb, nstates;
	int *dist = NULL, *prev = NULL, *queue = NULL;
	char *via = NULL;
	int rc;

	name[0] = '\0';
	/* tokens of a name pattern (glob_parse): few, so the state count cannot overflow */
	if (a.n > JG_POLICY_MAX_NAME || b.n > JG_POLICY_MAX_NAME)
		return JG_EINVAL;
	na = a.n + 1;
	nb = b.n + 1;
	nstates = na * nb * 2;
	size_t qcap = 3 * nstates + 3;
	dist = malloc(nstates * sizeof(*dist));
	prev = malloc(nstates * sizeof(*prev));
	via = malloc(nstates);
	queue = malloc(qcap * sizeof(*queue));
	if (dist == NULL || prev == NULL || via == NULL || queue == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	memset(dist, 0xff, nstates * sizeof(*dist)); /* every int -1: not reached yet */
#define ID(i, j, st) ((int)((((i)*nb) + (j)) * 2 + (st)))
	size_t head = qcap / 2, tail = qcap / 2; /* the deque: [head, tail) in a ring */
	dist[ID(0, 0, 0)] = 0;
	prev[ID(0, 0, 0)] = -1;
	queue[tail] = ID(0, 0, 0);
	tail = (tail + 1) % qcap;
	int goal = ID(a.n, b.n, 1);
	while (head != tail) {
		int s = queue[head];
		head = (head + 1) % qcap;
		if (s == goal)
			break;
		size_t st = (size_t)s % 2, j = ((size_t)s / 2) % nb, i = (size_t)s / 2 / nb;
		struct step next[3];
		int nnext = 0;
		if (i < a.n && a.star[i])
			next[nnext++] = (struct step){i + 1, j, 0, 0};
		if (j < b.n && b.star[j])
			next[nnext++] = (struct step){i, j + 1, 0, 0};
		if (i < a.n && j < b.n) {
			uint64_t set = (a.star[i] ? ALL : a.set[i]) & (b.star[j] ? ALL : b.set[j]) &
				       (st ? ALL : FIRST_OK);
			if (set != 0)
				next[nnext++] =
				    (struct step){a.star[i] ? i : i + 1, b.star[j] ? j : j + 1, 1,
						  alphabet[__builtin_ctzll(set)]};
		}
		for (int k = 0; k < nnext; k++) {
			int t = ID(next[k].i, next[k].j, next[k].cost ? 1 : st);
			int d = dist[s] + next[k].cost;
			if (d > NAME_MAX_LEN || (dist[t] >= 0 && dist[t] <= d))
				continue;
			dist[t] = d;
			prev[t] = s;
			via[t] = next[k].ch;
			if (next[k].cost == 0) {
				head = (head + qcap - 1) % qcap;
				queue[head] = t;
			} else {
				queue[tail] = t;
				tail = (tail + 1) % qcap;
			}
		}
	}
#undef ID
	if (dist[goal] > 0) {
		int len = dist[goal];
		name[len] = '\0';
		for (int s = goal; prev[s] >= 0; s = prev[s])
			if (via[s] != 0)
				name[--len] = via[s];
		/* the evaluator's own matcher has the last word */
		if (fnmatch(a.text, name, 0) != 0 || fnmatch(b.text, name, 0) != 0)
			name[0] = '\0';
	}
	rc = 0;
out:
	free(dist);
	free(prev);
	free(via);
	free(queue);
	return rc;
}

/* The globs of every policy of a set, parsed once: globs[i][g] is policy i's glob g. */
struct globs {
	struct glob **v;
	size_t n;
};

static void
globs_free(struct globs *gs, const struct jg_policy_set *set)
{
	for (size_t i = 0; gs->v != NULL && i < gs->n; i++) {
		for (size_t g = 0; gs->v[i] != NULL && g < set->policies[i].services.n; g++)
			glob_free(&gs->v[i][g]);
		free(gs->v[i]);
	}
	free(gs->v);
}

static int
globs_parse(const struct jg_policy_set *set, struct globs *gs)
{
	gs->n = 0;
	if ((gs->v = calloc(set->n + 1, sizeof(*gs->v))) == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < set->n; i++) {
		const struct strlist *l = &set->policies[i].services;
		gs->n = i + 1;
		if ((gs->v[i] = calloc(l->n + 1, sizeof(**gs->v))) == NULL)
			return JG_ENOMEM;
		for (size_t g = 0; g < l->n; g++)
			if (glob_parse(l->v[g], &gs->v[i][g]) != 0)
				return JG_ENOMEM;
	}
	return 0;
}

/* A valid service name both policies (their parsed globs a, b) apply to, into name; "" when none.
 */
static int
common_service(const struct policy *p, const struct glob *a, const struct policy *q,
	       const struct glob *b, char *name)
{
	int rc;

	name[0] = '\0';
	for (size_t i = 0; i < p->services.n; i++)
		for (size_t j = 0; j < q->services.n; j++)
			if ((rc = common_name(&a[i], &b[j], name)) != 0 || name[0] != '\0')
				return rc;
	return 0;
}

/* True when one of p's globs is only '*'s: it applies to every name. */
static bool
everywhere(const struct policy *p)
{
	for (size_t i = 0; i < p->services.n; i++)
		if (strspn(p->services.v[i], "*") == strlen(p->services.v[i]))
			return true;
	return false;
}

/* ---- rules that can never be used ---- */

struct reasons {
	char text[1024];
};

static void
reason_add(struct reasons *r, const char *id)
{
	if (strstr(r->text, id) != NULL)
		return;
	size_t used = strlen(r->text);
	snprintf(r->text + used, sizeof(r->text) - used, "%s%s", used ? ", " : "", id);
}

/* The deny rules that apply wherever p does: p's own, and those of everywhere-policies. */
static bool
entry_denied(const struct jg_policy_set *set, const struct policy *p, bool group, const char *entry,
	     unsigned bit, struct reasons *why)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct policy *q = &set->policies[i];
		if (q != p && !everywhere(q))
			continue;
		for (size_t d = 0; d < q->ndenies; d++) {
			const struct deny_rule *dr = &q->denies[d];
			if ((dr->caps & bit) &&
			    listed(group ? &dr->requesters.groups : &dr->requesters.users, entry)) {
				reason_add(why, dr->id);
				return true;
			}
		}
	}
	return false;
}

/* Whether every entry of who is taken for capability bit (earlier rules of p, or denied). */
static bool
all_taken(const struct jg_policy_set *set, const struct policy *p, size_t before,
	  const struct who *who, unsigned bit, struct reasons *why)
{
	for (int group = 1; group >= 0; group--) { /* groups first: the usual case reads first */
		const struct strlist *l = group ? &who->groups : &who->users;
		for (size_t e = 0; e < l->n; e++) {
			bool taken = false;
			for (size_t r = 0; r < before && !taken; r++) {
				const struct rule *ru = &p->rules[r];
				if ((ru->caps & bit) &&
				    listed(group ? &ru->requesters.groups : &ru->requesters.users,
					   l->v[e])) {
					reason_add(why, ru->id);
					taken = true;
				}
			}
			if (!taken && !entry_denied(set, p, group, l->v[e], bit, why))
				return false;
		}
	}
	return true;
}

static json_t *
caps_array(unsigned caps)
{
	json_t *a = json_array();
	for (unsigned c = 0; a != NULL && c < NCAPS; c++)
		if ((caps & (1u << c)) &&
		    json_array_append_new(a, json_string(jg_policy_cap_names[c])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static void
caps_join(char *dst, size_t len, unsigned caps)
{
	size_t used = 0;
	dst[0] = '\0';
	for (unsigned c = 0; c < NCAPS; c++)
		if (caps & (1u << c)) {
			int w = snprintf(dst + used, len - used, "%s%s", used ? ", " : "",
					 jg_policy_cap_names[c]);
			if (w < 0 || (size_t)w >= len - used)
				return;
			used += (size_t)w;
		}
}

/* One finding for a rule (or break_glass) with the capabilities it never decides. */
static int
unused(json_t *out, const struct policy *p, const char *id, int line, unsigned caps, unsigned never,
       const struct reasons *why)
{
	char list[128];
	json_t *extra;

	if (never == 0)
		return 0;
	caps_join(list, sizeof(list), never);
	extra = json_pack("{s:s,s:o*}", "rule", id, "capabilities", caps_array(never));
	if (never == caps)
		return add(out, p, line, "unused", extra,
			   "%s is never used: every requester it admits is taken by %s", id,
			   why->text);
	return add(out, p, line, "unused", extra,
		   "%s is never used for %s: every requester it admits is taken for it by %s", id,
		   list, why->text);
}

/* The capabilities of caps that who can never have decided by this rule; why names the takers. */
static unsigned
never_decides(const struct jg_policy_set *set, const struct policy *p, size_t before,
	      const struct who *who, unsigned caps, struct reasons *why)
{
	unsigned never = 0;

	for (unsigned c = 0; c < NCAPS; c++) {
		struct reasons one = {{0}};
		if (!(caps & (1u << c)) || !all_taken(set, p, before, who, 1u << c, &one))
			continue;
		never |= 1u << c;
		for (char *save = NULL, *id = strtok_r(one.text, ", ", &save); id != NULL;
		     id = strtok_r(NULL, ", ", &save))
			reason_add(why, id);
	}
	return never;
}

static int
lint_policy(const struct jg_policy_set *set, const struct policy *p, json_t *out)
{
	int rc;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		struct reasons why = {{0}};
		unsigned never = never_decides(set, p, i, &r->requesters, r->caps, &why);
		if ((rc = unused(out, p, r->id, r->line, r->caps, never, &why)) != 0)
			return rc;
		if (never == r->caps || r->approval_none || r->approvers.groups.n > 0)
			continue;
		/* approvers by user only: a requester among them does not approve their own */
		for (size_t u = 0; u < r->requesters.users.n; u++) {
			const char *who = r->requesters.users.v[u];
			if (!listed(&r->approvers.users, who) ||
			    (int)r->approvers.users.n - 1 >= r->count)
				continue;
			rc = add(out, p, r->line, "unapprovable",
				 json_pack("{s:s,s:s}", "rule", r->id, "requester", who),
				 "%s can never be approved when %s asks: it needs %d approval(s) "
				 "and only %zu approver(s) other than %s are listed",
				 r->id, who, r->count, r->approvers.users.n - 1, who);
			if (rc != 0)
				return rc;
		}
	}
	if (p->bg.present) {
		struct reasons why = {{0}};
		unsigned never = never_decides(set, p, 0, &p->bg.requesters, p->bg.caps, &why);
		if ((rc = unused(out, p, p->bg.id, p->bg.line, p->bg.caps, never, &why)) != 0)
			return rc;
	}
	return 0;
}

int
jg_policy_set_lint(const struct jg_policy_set *set, json_t **out)
{
	char name[NAME_MAX_LEN + 1];
	struct globs gs = {0};
	struct glob any = {0};
	json_t *list;
	int rc;

	if (set == NULL || out == NULL)
		return JG_EINVAL;
	*out = NULL;
	if ((list = json_array()) == NULL)
		return JG_ENOMEM;
	if ((rc = globs_parse(set, &gs)) != 0 || (rc = glob_parse("*", &any)) != 0)
		goto out;
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		const struct policy *p = &set->policies[i];
		bool somewhere = false;
		for (size_t g = 0; g < p->services.n && rc == 0 && !somewhere; g++) {
			rc = common_name(&gs.v[i][g], &any, name);
			somewhere = name[0] != '\0';
		}
		if (rc == 0 && !somewhere)
			rc = add(list, p, 0, "never_applies", NULL,
				 "%s applies to no service: no valid service name (lower-case "
				 "letters, digits, '-' and '.') matches its globs",
				 p->name);
		if (rc == 0)
			rc = lint_policy(set, p, list);
	}
	for (size_t i = 0; i < set->n && rc == 0; i++)
		for (size_t j = i + 1; j < set->n && rc == 0; j++) {
			const struct policy *p = &set->policies[i], *q = &set->policies[j];
			if ((rc = common_service(p, gs.v[i], q, gs.v[j], name)) != 0 ||
			    name[0] == '\0')
				continue;
			rc = add(list, p, 0, "overlap",
				 json_pack("{s:s,s:s}", "other", q->name, "service", name),
				 "%s and %s both apply to '%s' (and maybe others): for each "
				 "capability, a rule of each binds",
				 p->name, q->name, name);
		}
out:
	glob_free(&any);
	globs_free(&gs, set);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	*out = list;
	return 0;
}
