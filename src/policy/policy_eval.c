/*
 * policy_eval.c - one request against a loaded policy set: one decision.
 *
 * The order is fixed (docs/policies.md, "Evaluation"): the request itself
 * is checked (known capabilities, positive duration, bounded
 * justification); the applicable policies are those with a service glob
 * matching the service, taken in policy-name order; any deny rule whose
 * requesters match and whose capabilities meet the request's denies it;
 * then either break-glass (every applicable break_glass section admitting
 * the requester is used) or, for each requested capability in the fixed
 * order read-logs, read-traces, read-metrics, deploy-probe, read-pii, the
 * first rule in file order of *every* applicable policy that allows it to
 * this requester.  Every rule used then binds: the smallest max_duration,
 * every justification constraint, every approval requirement (those with
 * the same approvers merged, the larger count kept).  So a policy added
 * for one service can make access stricter but never looser, whatever its
 * name.  A decision copies what it needs, so it stays valid after the set
 * is freed.
 *
 * jg_policy_explain() runs the very same code with a trace: each step
 * writes what it looked at and why it went on or stopped, so an operator
 * sees which rules decided without a second implementation that could
 * drift from this one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fnmatch.h>

#include "jitgate/error.h"
#include "jitgate/policy.h"
#include "policy_int.h"

#define SHOWN 72 /* bytes of a request's string quoted in a reason */

bool
jg_policy_who_matches(const struct who *w, const char *user, const char *const *groups,
		      size_t ngroups)
{
	if (user != NULL && *user != '\0')
		for (size_t i = 0; i < w->users.n; i++)
			if (strcmp(w->users.v[i], user) == 0)
				return true;
	if (groups == NULL)
		return false;
	for (size_t g = 0; g < ngroups; g++) {
		if (groups[g] == NULL)
			continue;
		for (size_t i = 0; i < w->groups.n; i++)
			if (strcmp(w->groups.v[i], groups[g]) == 0)
				return true;
	}
	return false;
}

/* A request's string made safe for a reason: printable ASCII, bounded. */
static const char *
shown(char *dst, size_t len, const char *s)
{
	size_t i = 0, j = 0;

	if (s == NULL)
		s = "";
	for (; s[i] != '\0' && j + 4 < len && i < SHOWN; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			dst[j++] = s[i];
		else
			dst[j++] = '?';
	}
	if (s[i] != '\0' && j + 4 <= len) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
	return dst;
}

/* ---- the trace of jg_policy_explain (NULL: evaluation only) ---- */

struct trace {
	FILE *fp;
};

static void note(struct trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line of the explanation; nothing when not explaining. */
static void
note(struct trace *t, const char *fmt, ...)
{
	va_list ap;

	if (t == NULL)
		return;
	/* a failed write sets the stream's error flag, which jg_policy_explain() checks */
	va_start(ap, fmt);
	(void)vfprintf(t->fp, fmt, ap);
	va_end(ap);
	(void)fputc('\n', t->fp);
}

/* "[a, b]" of a policy's list (policy strings hold no control characters). */
static void
list_text(char *dst, size_t len, const struct strlist *l)
{
	size_t used = 0;
	int w;

	if (len == 0)
		return;
	dst[0] = '\0';
	w = snprintf(dst, len, "[");
	for (size_t i = 0; w >= 0 && (size_t)w < len - used && i < l->n; i++) {
		used += (size_t)w;
		w = snprintf(dst + used, len - used, "%s%s", i ? ", " : "", l->v[i]);
	}
	if (w >= 0 && (size_t)w < len - used) {
		used += (size_t)w;
		snprintf(dst + used, len - used, "]");
	}
}

/* "groups [a], users [b]" of a who, for the trace. */
static const char *
who_text(char *dst, size_t len, const struct who *w)
{
	char g[256], u[256]; /* a long list is cut; dst (600 bytes at every caller) holds both */

	list_text(g, sizeof(g), &w->groups);
	list_text(u, sizeof(u), &w->users);
	snprintf(dst, len, "groups %s, users %s", g, u);
	return dst;
}

/* Which entry of w admits the requester, for the trace ("user 'x'", "group 'y'"). */
static const char *
why_match(char *dst, size_t len, const struct who *w, const struct jg_policy_request *req)
{
	for (size_t i = 0; req->user != NULL && i < w->users.n; i++)
		if (strcmp(w->users.v[i], req->user) == 0) {
			snprintf(dst, len, "user '%s'", w->users.v[i]);
			return dst;
		}
	for (size_t g = 0; req->groups != NULL && g < req->ngroups; g++)
		for (size_t i = 0; req->groups[g] != NULL && i < w->groups.n; i++)
			if (strcmp(w->groups.v[i], req->groups[g]) == 0) {
				snprintf(dst, len, "group '%s'", w->groups.v[i]);
				return dst;
			}
	snprintf(dst, len, "nobody");
	return dst;
}

static const char *
caps_text(char *dst, size_t len, unsigned caps)
{
	size_t used = 0;

	dst[0] = '\0';
	for (unsigned c = 0; c < NCAPS; c++) {
		if (!(caps & (1u << c)))
			continue;
		int w = snprintf(dst + used, len - used, "%s%s", used ? ", " : "",
				 jg_policy_cap_names[c]);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return dst;
}

/* ---- building the decision ---- */

static int deny(struct jg_policy_decision *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
deny(struct jg_policy_decision *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	out->outcome = JG_POLICY_DENY;
	free(out->reason);
	va_start(ap, fmt);
	n = vasprintf(&out->reason, fmt, ap);
	va_end(ap);
	if (n < 0) {
		out->reason = NULL;
		return JG_ENOMEM;
	}
	return 0;
}

static int
add_matched(struct jg_policy_decision *out, const char *id)
{
	char **nv = realloc(out->matched_rules, (out->nmatched + 1) * sizeof(char *));

	if (nv == NULL)
		return JG_ENOMEM;
	out->matched_rules = nv;
	if ((nv[out->nmatched] = strdup(id)) == NULL)
		return JG_ENOMEM;
	out->nmatched++;
	return 0;
}

static int
dup_list(const struct strlist *l, char ***out, size_t *n)
{
	*out = calloc(l->n + 1, sizeof(char *));
	if (*out == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		if (((*out)[i] = strdup(l->v[i])) == NULL)
			return JG_ENOMEM;
		*n = i + 1;
	}
	return 0;
}

/* The requirement of rule r (its approvers) with count and shared as merged. */
static int
add_requirement(struct jg_policy_decision *out, const struct rule *r, int count, bool shared)
{
	struct jg_policy_requirement *nv, *q;

	nv = realloc(out->requirements, (out->nrequirements + 1) * sizeof(*nv));
	if (nv == NULL)
		return JG_ENOMEM;
	out->requirements = nv;
	q = &nv[out->nrequirements++];
	memset(q, 0, sizeof(*q));
	q->count = count;
	q->shared = shared;
	if ((q->rule = strdup(r->id)) == NULL)
		return JG_ENOMEM;
	if (dup_list(&r->approvers.groups, &q->groups, &q->ngroups) != 0 ||
	    dup_list(&r->approvers.users, &q->users, &q->nusers) != 0)
		return JG_ENOMEM;
	return 0;
}

/* Both lists hold the same names (each list is free of repeats: the loader refuses them). */
static bool
same_names(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		size_t j = 0;
		while (j < b->n && strcmp(a->v[i], b->v[j]) != 0)
			j++;
		if (j == b->n)
			return false;
	}
	return true;
}

static bool
same_approvers(const struct rule *a, const struct rule *b)
{
	return same_names(&a->approvers.groups, &b->approvers.groups) &&
	       same_names(&a->approvers.users, &b->approvers.users);
}

/* Characters (UTF-8 code points) of s: bytes that are not continuation bytes. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Checks the justification against j; on failure writes why to out's reason. */
static int
check_justification(struct jg_policy_decision *out, struct trace *t, const struct justification *j,
		    const char *id, const char *text, bool *ok)
{
	*ok = true;
	if (!j->present) {
		note(t, "  %s: no justification constraint", id);
		return 0;
	}
	size_t have = utf8_chars(text);
	if ((int64_t)have < j->min_length) {
		*ok = false;
		note(t, "  %s: at least %lld characters: it has %zu: DENY", id,
		     (long long)j->min_length, have);
		return deny(out,
			    "justification does not satisfy %s: it must be at least %lld "
			    "characters long (it has %zu)",
			    id, (long long)j->min_length, have);
	}
	if (j->min_length > 0)
		note(t, "  %s: at least %lld characters: it has %zu: ok", id,
		     (long long)j->min_length, have);
	if (j->has_pattern && regexec(&j->re, text, 0, NULL, 0) != 0) {
		*ok = false;
		note(t, "  %s: pattern %s: no match: DENY", id, j->pattern);
		return deny(out, "justification does not satisfy %s: it must match the pattern %s",
			    id, j->pattern);
	}
	if (j->has_pattern)
		note(t, "  %s: pattern %s: matches", id, j->pattern);
	return 0;
}

static void
extract_incident(const struct jg_policy_set *set, const char *text, char *dst)
{
	regmatch_t m[1];

	dst[0] = '\0';
	if (!set->has_incident || regexec(&set->incident, text, 1, m, 0) != 0 || m[0].rm_so < 0)
		return;
	size_t len = (size_t)(m[0].rm_eo - m[0].rm_so);
	if (len == 0 || len > JG_POLICY_INCIDENT_MAX)
		return;
	for (size_t i = 0; i < len; i++) {
		char ch = text[m[0].rm_so + (regoff_t)i];
		if (ch < 0x20 || ch >= 0x7f)
			return; /* an id is printable ASCII */
	}
	memcpy(dst, text + m[0].rm_so, len);
	dst[len] = '\0';
}

struct limits {
	int64_t max;
	const char *limiting; /* the id of the rule that sets max */
};

static void
limit_by(struct limits *l, int64_t max, const char *id)
{
	if (l->limiting == NULL || max < l->max) {
		l->max = max;
		l->limiting = id;
	}
}

/* The duration against the effective maximum; writes the deny when above. */
static int
check_duration(struct jg_policy_decision *out, struct trace *t, const struct jg_policy_request *req,
	       const struct limits *l, bool *ok)
{
	char asked[32], max[32];

	out->max_duration = l->max;
	*ok = req->duration_seconds <= l->max;
	jg_policy_duration_format(req->duration_seconds, asked, sizeof(asked));
	jg_policy_duration_format(l->max, max, sizeof(max));
	note(t, "  asked %s; the maximum is %s (%s): %s", asked, max, l->limiting,
	     *ok ? "ok" : "DENY");
	if (*ok)
		return 0;
	return deny(out, "duration %s exceeds the maximum %s of %s", asked, max, l->limiting);
}

/*
 * An extension's total (the grant's length with it) against the effective
 * max_total_duration; writes the deny when above.
 */
static int
check_total(struct jg_policy_decision *out, struct trace *t, const struct jg_policy_request *req,
	    const struct limits *l, bool *ok)
{
	char total[32], max[32];

	out->max_total_duration = l->max;
	*ok = req->total_seconds <= l->max;
	jg_policy_duration_format(req->total_seconds, total, sizeof(total));
	jg_policy_duration_format(l->max, max, sizeof(max));
	note(t, "  the grant would last %s in all; the maximum is %s (%s): %s", total, max,
	     l->limiting, *ok ? "ok" : "DENY");
	if (*ok)
		return 0;
	return deny(out,
		    "the grant would last %s in all with this extension, more than the "
		    "max_total_duration %s of %s",
		    total, max, l->limiting);
}

/*
 * A later start (req->starts_in > 0) against the smallest max_schedule_ahead
 * of the rules used; writes the deny when too far ahead.  Nothing to check
 * for a request that starts on approval.
 */
static int
check_schedule(struct jg_policy_decision *out, struct trace *t, const struct jg_policy_request *req,
	       const struct rule *const *used, size_t nused, bool *ok)
{
	struct limits l = {0};
	char asked[32], max[32];

	*ok = true;
	if (req->starts_in <= 0)
		return 0;
	for (size_t i = 0; i < nused; i++)
		limit_by(&l, used[i]->max_schedule_ahead, used[i]->id);
	out->max_schedule_ahead = l.max;
	*ok = req->starts_in <= l.max;
	jg_policy_duration_format(req->starts_in, asked, sizeof(asked));
	jg_policy_duration_format(l.max, max, sizeof(max));
	note(t,
	     "  the start asked for is %s ahead; the most is %s (max_schedule_ahead of "
	     "%s): %s",
	     asked, max, l.limiting, *ok ? "ok" : "DENY");
	if (*ok)
		return 0;
	return deny(out, "a start %s ahead exceeds the max_schedule_ahead %s of %s", asked, max,
		    l.limiting);
}

static int
evaluate_break_glass(const struct jg_policy_set *set, const size_t *app, size_t napp,
		     const struct jg_policy_request *req, unsigned want, const char *text,
		     struct jg_policy_decision *out, struct trace *t)
{
	const struct break_glass **used = NULL;
	struct limits l = {0};
	unsigned covered = 0;
	size_t nused = 0;
	char s1[SHOWN + 8], s2[SHOWN + 8], why[600], caps[128], max[32];
	bool ok;
	int rc = 0;

	note(t, "step 5 (break-glass): the break_glass sections of the applicable policies");
	if ((used = calloc(napp + 1, sizeof(*used))) == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < napp; i++) {
		const struct policy *p = &set->policies[app[i]];
		const struct break_glass *bg = &p->bg;
		if (!bg->present) {
			note(t, "  %s: no break_glass section", p->name);
			continue;
		}
		if (!jg_policy_who_matches(&bg->requesters, req->user, req->groups, req->ngroups)) {
			note(t, "  %s: requesters (%s) do not include the requester", bg->id,
			     who_text(why, sizeof(why), &bg->requesters));
			continue;
		}
		jg_policy_duration_format(bg->max_duration, max, sizeof(max));
		note(t, "  %s: used (%s); covers %s; max_duration %s", bg->id,
		     why_match(why, sizeof(why), &bg->requesters, req),
		     caps_text(caps, sizeof(caps), bg->caps), max);
		used[nused++] = bg;
		covered |= bg->caps;
	}
	if (nused == 0) {
		rc = deny(out, "break-glass not allowed for user '%s' on service '%s'",
			  shown(s1, sizeof(s1), req->user), shown(s2, sizeof(s2), req->service));
		goto out;
	}
	for (size_t i = 0; i < nused; i++) {
		if ((rc = add_matched(out, used[i]->id)) != 0)
			goto out;
		limit_by(&l, used[i]->max_duration, used[i]->id);
	}
	for (unsigned c = 0; c < NCAPS; c++)
		if ((want & (1u << c)) && !(covered & (1u << c))) {
			note(t, "  no section used covers %s: DENY", jg_policy_cap_names[c]);
			rc = deny(out, "break-glass not allowed for capability %s on service '%s'",
				  jg_policy_cap_names[c], shown(s2, sizeof(s2), req->service));
			goto out;
		}
	if (req->starts_in > 0) {
		note(t,
		     "  a start %lld seconds ahead was asked for: break-glass is at once: "
		     "DENY",
		     (long long)req->starts_in);
		rc = deny(out, "break-glass access starts at once: it cannot be scheduled");
		goto out;
	}
	note(t, "step 6 (duration): the smallest max_duration of the sections used");
	if ((rc = check_duration(out, t, req, &l, &ok)) != 0 || !ok)
		goto out;
	note(t, "steps 7-8 (justification): every constraint of the sections used");
	for (size_t i = 0; i < nused; i++)
		if ((rc = check_justification(out, t, &used[i]->just, used[i]->id, text, &ok)) !=
			0 ||
		    !ok)
			goto out;
	out->outcome = JG_POLICY_GRANT;
	out->break_glass = true;
out:
	free(used);
	return rc;
}

/*
 * The first rule of p, in file order, that lists capability bit and admits
 * the requester; NULL when none does (the policy then contributes nothing).
 */
static const struct rule *
first_rule(const struct policy *p, const struct jg_policy_request *req, unsigned bit,
	   struct trace *t)
{
	char why[600];

	for (size_t r = 0; r < p->nrules; r++) {
		const struct rule *ru = &p->rules[r];
		if (!(ru->caps & bit))
			continue;
		if (jg_policy_who_matches(&ru->requesters, req->user, req->groups, req->ngroups)) {
			note(t,
			     "    %s: the first rule of %s for it that admits the "
			     "requester (%s)",
			     ru->id, p->name, why_match(why, sizeof(why), &ru->requesters, req));
			return ru;
		}
		note(t, "    %s lists it, but its requesters (%s) do not include the requester",
		     ru->id, who_text(why, sizeof(why), &ru->requesters));
	}
	note(t, "    %s: no rule for it admits the requester: contributes nothing", p->name);
	return NULL;
}

/* The approval step: one requirement per approver set, the larger count kept. */
static int
add_requirements(struct jg_policy_decision *out, struct trace *t, const struct rule *const *used,
		 size_t nused)
{
	const struct rule *by[JG_POLICY_MAX_REQUIREMENTS]; /* the rule whose count binds */
	int count[JG_POLICY_MAX_REQUIREMENTS];
	bool shared[JG_POLICY_MAX_REQUIREMENTS];
	size_t n = 0;
	char why[600];
	int rc;

	for (size_t i = 0; i < nused; i++) {
		const struct rule *r = used[i];
		if (r->approval_none) {
			note(t, "  %s: approval none", r->id);
			continue;
		}
		size_t k = 0;
		while (k < n && !same_approvers(by[k], r))
			k++;
		if (k < n) {
			note(t,
			     "  %s: %d from %s%s: the same approvers as requirement %zu: "
			     "merged "
			     "(count %d, the larger)",
			     r->id, r->count, who_text(why, sizeof(why), &r->approvers),
			     r->shared ? ", shared" : "", k + 1,
			     r->count > count[k] ? r->count : count[k]);
			if (r->count > count[k]) {
				count[k] = r->count;
				by[k] = r;
			}
			shared[k] = shared[k] && r->shared;
			continue;
		}
		if (n == JG_POLICY_MAX_REQUIREMENTS) {
			note(t, "  more than %d requirements: DENY", JG_POLICY_MAX_REQUIREMENTS);
			return deny(out,
				    "the request would need more than %d approval requirements; "
				    "ask for fewer capabilities at once",
				    JG_POLICY_MAX_REQUIREMENTS);
		}
		note(t, "  %s: %d from %s%s: requirement %zu", r->id, r->count,
		     who_text(why, sizeof(why), &r->approvers),
		     r->shared ? " (shared_approvers)" : "", n + 1);
		by[n] = r;
		count[n] = r->count;
		shared[n] = r->shared;
		n++;
	}
	for (size_t k = 0; k < n; k++)
		if ((rc = add_requirement(out, by[k], count[k], shared[k])) != 0)
			return rc;
	return 0;
}

/* Each member of *b lowered to r's where r sets a smaller one (0: not set). */
static void
budget_by(struct jg_policy_probe_budget *b, const struct jg_policy_probe_budget *r, struct trace *t,
	  const char *id)
{
	if (r->max_probes == 0 && r->max_hits == 0 && r->max_bytes == 0)
		return;
	note(t,
	     "    %s sets a probe_budget: max_probes %lld, max_hits %lld, max_bytes %lld (0: none)",
	     id, (long long)r->max_probes, (long long)r->max_hits, (long long)r->max_bytes);
	if (r->max_probes > 0 && (b->max_probes == 0 || r->max_probes < b->max_probes))
		b->max_probes = r->max_probes;
	if (r->max_hits > 0 && (b->max_hits == 0 || r->max_hits < b->max_hits))
		b->max_hits = r->max_hits;
	if (r->max_bytes > 0 && (b->max_bytes == 0 || r->max_bytes < b->max_bytes))
		b->max_bytes = r->max_bytes;
}

static int
evaluate_rules(const struct jg_policy_set *set, const size_t *app, size_t napp,
	       const struct jg_policy_request *req, unsigned want, const char *text,
	       struct jg_policy_decision *out, struct trace *t)
{
	const struct rule **used = NULL;
	struct limits l = {0};
	size_t nused = 0;
	char s1[SHOWN + 8], s2[SHOWN + 8], max[32];
	bool ok;
	int rc = 0;

	note(t, "step 5 (rules): for each capability, the first rule of every applicable "
		"policy "
		"that lists it and admits the requester");
	if ((used = calloc(napp * NCAPS + 1, sizeof(*used))) == NULL)
		return JG_ENOMEM;
	for (unsigned c = 0; c < NCAPS; c++) {
		if (!(want & (1u << c)))
			continue;
		note(t, "  %s:", jg_policy_cap_names[c]);
		size_t contributed = 0;
		for (size_t i = 0; i < napp; i++) {
			const struct rule *r = first_rule(&set->policies[app[i]], req, 1u << c, t);
			if (r == NULL)
				continue;
			contributed++;
			if ((1u << c) == jg_policy_cap_bit("deploy-probe"))
				budget_by(&out->probe_budget, &r->budget, t, r->id);
			size_t k = 0;
			while (k < nused && used[k] != r)
				k++;
			if (k == nused)
				used[nused++] = r;
		}
		if (contributed == 0) {
			note(t, "    no applicable policy allows it: DENY");
			rc = deny(out, "no rule allows capability %s to user '%s' on service '%s'",
				  jg_policy_cap_names[c], shown(s1, sizeof(s1), req->user),
				  shown(s2, sizeof(s2), req->service));
			goto out;
		}
	}
	note(t, "step 6 (duration): the smallest max_duration of the rules used");
	for (size_t i = 0; i < nused; i++) {
		if ((rc = add_matched(out, used[i]->id)) != 0)
			goto out;
		jg_policy_duration_format(used[i]->max_duration, max, sizeof(max));
		note(t, "  %s: max_duration %s", used[i]->id, max);
		limit_by(&l, used[i]->max_duration, used[i]->id);
	}
	if (req->total_seconds > 0) {
		/* an extension: the grant's new total against the smallest
		 * max_total_duration */
		struct limits lt = {0};
		note(t, "step 6 (extension): the smallest max_total_duration of the rules "
			"used");
		for (size_t i = 0; i < nused; i++) {
			jg_policy_duration_format(used[i]->max_total_duration, max, sizeof(max));
			note(t, "  %s: max_total_duration %s", used[i]->id, max);
			limit_by(&lt, used[i]->max_total_duration, used[i]->id);
		}
		out->max_duration = l.max;
		rc = check_total(out, t, req, &lt, &ok);
	} else {
		rc = check_duration(out, t, req, &l, &ok);
	}
	if (rc != 0 || !ok)
		goto out;
	if ((rc = check_schedule(out, t, req, used, nused, &ok)) != 0 || !ok)
		goto out;
	note(t, "steps 7-8 (justification): every constraint of the rules used");
	for (size_t i = 0; i < nused; i++)
		if ((rc = check_justification(out, t, &used[i]->just, used[i]->id, text, &ok)) !=
			0 ||
		    !ok)
			goto out;
	note(t, "step 9 (approval): every requirement of the rules used");
	/* a decision denied here has its reason; until then it has none */
	if ((rc = add_requirements(out, t, used, nused)) != 0 || out->reason != NULL)
		goto out;
	out->outcome = out->nrequirements > 0 ? JG_POLICY_PENDING : JG_POLICY_GRANT;
out:
	free(used);
	return rc;
}

static int
evaluate(const struct jg_policy_set *set, const struct jg_policy_request *req,
	 struct jg_policy_decision *out, struct trace *t)
{
	const char *text = req->justification ? req->justification : "";
	char s1[SHOWN + 8], s2[SHOWN + 8], why[600];
	unsigned want = 0;
	size_t *app = NULL, napp = 0;
	int rc;

	note(t, "step 1 (the request): user '%s', service '%s', break_glass %s",
	     shown(s1, sizeof(s1), req->user), shown(s2, sizeof(s2), req->service),
	     req->break_glass ? "true" : "false");
	for (size_t g = 0; t != NULL && req->groups != NULL && g < req->ngroups; g++)
		note(t, "  group '%s'", shown(s1, sizeof(s1), req->groups[g]));
	if (strlen(text) > JG_POLICY_MAX_JUSTIFICATION)
		return deny(out, "the justification is longer than %d bytes",
			    JG_POLICY_MAX_JUSTIFICATION);
	extract_incident(set, text, out->incident);
	if (req->user == NULL || *req->user == '\0')
		return deny(out, "the request names no user");
	if (req->service == NULL || *req->service == '\0')
		return deny(out, "the request names no service");
	if (req->ngroups > 0 && req->groups == NULL)
		return JG_EINVAL;
	if (req->ncaps == 0 || req->capabilities == NULL)
		return deny(out, "the request asks for no capability");
	if (req->ncaps > JG_POLICY_MAX_REQUEST_CAPS)
		return deny(out, "the request lists more than %d capabilities",
			    JG_POLICY_MAX_REQUEST_CAPS);
	for (size_t i = 0; i < req->ncaps; i++) {
		unsigned bit = req->capabilities[i] ? jg_policy_cap_bit(req->capabilities[i]) : 0;
		if (bit == 0)
			return deny(out, "unknown capability '%s'",
				    shown(s1, sizeof(s1), req->capabilities[i]));
		want |= bit;
	}
	if (req->duration_seconds <= 0)
		return deny(out, "the duration must be positive");
	if (req->total_seconds < 0 || (req->total_seconds > 0 && req->break_glass))
		return deny(out, "break-glass access cannot be extended: ask for it anew");
	char asked[32];
	jg_policy_duration_format(req->duration_seconds, asked, sizeof(asked));
	note(t, "  capabilities %s; duration %s; justification of %zu characters: well-formed",
	     caps_text(why, sizeof(why), want), asked, utf8_chars(text));
	note(t, "step 2 (incident id): %s", out->incident[0] ? out->incident : "none found");

	app = calloc(set->n + 1, sizeof(*app));
	if (app == NULL)
		return JG_ENOMEM;
	note(t, "step 3 (applicable policies): those with a service glob matching '%s'",
	     shown(s2, sizeof(s2), req->service));
	for (size_t i = 0; i < set->n; i++) {
		bool yes = jg_policy_applies(&set->policies[i], req->service);
		list_text(why, sizeof(why), &set->policies[i].services);
		note(t, "  %s (services %s): %s", set->policies[i].name, why,
		     yes ? "applies" : "does not apply");
		if (yes)
			app[napp++] = i;
	}
	if (napp == 0) {
		rc = deny(out, "no policy applies to service '%s'",
			  shown(s1, sizeof(s1), req->service));
		goto out;
	}
	note(t, "step 4 (deny rules): any deny rule of an applicable policy that admits the "
		"requester and names a requested capability denies");
	for (size_t i = 0; i < napp; i++) {
		const struct policy *p = &set->policies[app[i]];
		for (size_t d = 0; d < p->ndenies; d++) {
			const struct deny_rule *dr = &p->denies[d];
			unsigned hit = dr->caps & want;
			if (!jg_policy_who_matches(&dr->requesters, req->user, req->groups,
						   req->ngroups)) {
				note(t,
				     "  %s: its requesters (%s) do not include the "
				     "requester",
				     dr->id, who_text(why, sizeof(why), &dr->requesters));
				continue;
			}
			if (hit == 0) {
				note(t,
				     "  %s: admits the requester but names no requested "
				     "capability",
				     dr->id);
				continue;
			}
			unsigned c = 0;
			while (!(hit & (1u << c)))
				c++;
			note(t, "  %s: admits the requester (%s) and names %s: DENY", dr->id,
			     why_match(why, sizeof(why), &dr->requesters, req),
			     jg_policy_cap_names[c]);
			if ((rc = add_matched(out, dr->id)) == 0)
				rc = deny(out, "denied by %s: capability %s", dr->id,
					  jg_policy_cap_names[c]);
			goto out;
		}
	}
	if (req->break_glass)
		rc = evaluate_break_glass(set, app, napp, req, want, text, out, t);
	else
		rc = evaluate_rules(set, app, napp, req, want, text, out, t);
out:
	free(app);
	return rc;
}

static int
run(const struct jg_policy_set *set, const struct jg_policy_request *req,
    struct jg_policy_decision *out, struct trace *t)
{
	int rc;

	if (out == NULL)
		return JG_EINVAL;
	memset(out, 0, sizeof(*out));
	out->outcome = JG_POLICY_DENY;
	if (set == NULL || req == NULL)
		return JG_EINVAL;
	memcpy(out->policy_sha256, set->sha256, sizeof(out->policy_sha256));
	rc = evaluate(set, req, out, t);
	if (rc != 0) {
		/* Fail closed: whatever was built is dropped. */
		jg_policy_decision_clear(out);
		memcpy(out->policy_sha256, set->sha256, sizeof(out->policy_sha256));
	}
	return rc;
}

int
jg_policy_evaluate(const struct jg_policy_set *set, const struct jg_policy_request *req,
		   struct jg_policy_decision *out)
{
	return run(set, req, out, NULL);
}

/* The closing line of an explanation: the decision in one sentence. */
static void
conclude(struct trace *t, const struct jg_policy_decision *d)
{
	char max[32] = "none";

	if (d->max_duration > 0)
		jg_policy_duration_format(d->max_duration, max, sizeof(max));
	if (d->outcome == JG_POLICY_DENY) {
		note(t, "decision: deny: %s", d->reason ? d->reason : "");
		return;
	}
	if (d->outcome == JG_POLICY_GRANT) {
		note(t, "decision: grant%s, at most %s",
		     d->break_glass ? " through break-glass (to be reviewed)" : "", max);
		return;
	}
	note(t, "decision: pending, at most %s, until every requirement is met:", max);
	for (size_t i = 0; i < d->nrequirements; i++) {
		const struct jg_policy_requirement *q = &d->requirements[i];
		struct strlist g = {q->groups, q->ngroups}, u = {q->users, q->nusers};
		char gs[256], us[256];
		list_text(gs, sizeof(gs), &g);
		list_text(us, sizeof(us), &u);
		note(t, "  %zu. %d approval(s) from groups %s, users %s (%s)%s", i + 1, q->count,
		     gs, us, q->rule,
		     q->shared ? "; shared_approvers" : "; each approver counts toward one");
	}
}

int
jg_policy_explain(const struct jg_policy_set *set, const struct jg_policy_request *req,
		  struct jg_policy_decision *out, char **text)
{
	struct trace t = {0};
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (text == NULL)
		return JG_EINVAL;
	*text = NULL;
	if ((t.fp = open_memstream(&buf, &len)) == NULL) {
		if (out != NULL)
			jg_policy_decision_clear(out);
		return JG_ENOMEM;
	}
	rc = run(set, req, out, &t);
	if (rc == 0)
		conclude(&t, out);
	if (ferror(t.fp) && rc == 0)
		rc = JG_ENOMEM;
	if (fclose(t.fp) != 0 && rc == 0)
		rc = JG_ENOMEM;
	if (rc != 0) {
		free(buf);
		if (out != NULL) {
			jg_policy_decision_clear(out);
			if (set != NULL)
				memcpy(out->policy_sha256, set->sha256, sizeof(out->policy_sha256));
		}
		return rc;
	}
	*text = buf;
	return 0;
}

static void
free_list(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
jg_policy_decision_clear(struct jg_policy_decision *d)
{
	if (d == NULL)
		return;
	free(d->reason);
	for (size_t i = 0; i < d->nrequirements; i++) {
		free_list(d->requirements[i].groups, d->requirements[i].ngroups);
		free_list(d->requirements[i].users, d->requirements[i].nusers);
		free(d->requirements[i].rule);
	}
	free(d->requirements);
	free_list(d->matched_rules, d->nmatched);
	memset(d, 0, sizeof(*d));
	d->outcome = JG_POLICY_DENY;
}

bool
jg_policy_can_approve(const struct jg_policy_requirement *req, const char *user,
		      const char *const *groups, size_t ngroups)
{
	if (req == NULL)
		return false;
	if (user != NULL && *user != '\0')
		for (size_t i = 0; i < req->nusers; i++)
			if (strcmp(req->users[i], user) == 0)
				return true;
	if (groups == NULL)
		return false;
	for (size_t g = 0; g < ngroups; g++) {
		if (groups[g] == NULL)
			continue;
		for (size_t i = 0; i < req->ngroups; i++)
			if (strcmp(req->groups[i], groups[g]) == 0)
				return true;
	}
	return false;
}

const char *
jg_policy_outcome_name(enum jg_policy_outcome outcome)
{
	switch (outcome) {
	case JG_POLICY_GRANT: return "grant";
	case JG_POLICY_PENDING: return "pending";
	case JG_POLICY_DENY: return "deny";
	}
	return "deny";
}

/* Sets key to val (stolen); remembers any failure in *ok. */
static void
put(json_t *obj, const char *key, json_t *val, bool *ok)
{
	if (val == NULL || json_object_set_new(obj, key, val) != 0)
		*ok = false;
}

static json_t *
string_array(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		json_t *s = json_string(v[i]);
		if (s == NULL || json_array_append_new(a, s) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int
jg_policy_decision_to_json(const struct jg_policy_decision *d, json_t **out)
{
	json_t *obj, *reqs;
	bool ok = true;

	if (d == NULL || out == NULL)
		return JG_EINVAL;
	*out = NULL;
	if ((obj = json_object()) == NULL)
		return JG_ENOMEM;
	put(obj, "decision", json_string(jg_policy_outcome_name(d->outcome)), &ok);
	put(obj, "reason", d->reason ? json_string(d->reason) : json_null(), &ok);
	reqs = json_array();
	for (size_t i = 0; reqs != NULL && i < d->nrequirements; i++) {
		const struct jg_policy_requirement *q = &d->requirements[i];
		json_t *r = json_object(), *who = json_object();
		bool rok = r != NULL && who != NULL;
		if (who != NULL) {
			put(who, "groups", string_array(q->groups, q->ngroups), &rok);
			put(who, "users", string_array(q->users, q->nusers), &rok);
		}
		if (r != NULL) {
			put(r, "approvers", who, &rok);
			who = NULL;
			put(r, "count", json_integer(q->count), &rok);
			put(r, "rule", json_string(q->rule), &rok);
			put(r, "shared_approvers", json_boolean(q->shared), &rok);
		}
		json_decref(who);
		if (!rok || json_array_append_new(reqs, r) != 0) {
			if (rok)
				r = NULL; /* append_new took it */
			json_decref(r);
			ok = false;
			break;
		}
	}
	put(obj, "requirements", reqs, &ok);
	put(obj, "max_duration", d->max_duration > 0 ? json_integer(d->max_duration) : json_null(),
	    &ok);
	if (d->max_total_duration > 0) /* an extension's (docs/policies.md, "Extensions") */
		put(obj, "max_total_duration", json_integer(d->max_total_duration), &ok);
	if (d->max_schedule_ahead > 0)
		put(obj, "max_schedule_ahead", json_integer(d->max_schedule_ahead), &ok);
	put(obj, "matched_rules", string_array(d->matched_rules, d->nmatched), &ok);
	if (d->outcome != JG_POLICY_DENY &&
	    (d->probe_budget.max_probes > 0 || d->probe_budget.max_hits > 0 ||
	     d->probe_budget.max_bytes > 0))
		put(obj, "probe_budget", jg_policy_probe_budget_json(&d->probe_budget), &ok);
	put(obj, "break_glass", json_boolean(d->break_glass), &ok);
	put(obj, "incident", d->incident[0] ? json_string(d->incident) : json_null(), &ok);
	put(obj, "policy_sha256", json_string(d->policy_sha256), &ok);
	if (!ok) {
		json_decref(obj);
		return JG_ENOMEM;
	}
	*out = obj;
	return 0;
}

json_t *
jg_policy_probe_budget_json(const struct jg_policy_probe_budget *b)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	/* a member nothing bounds is null: unlimited by the grant (a probe's own limits still
	   hold) */
	if (ok) {
		put(o, "max_probes", b->max_probes > 0 ? json_integer(b->max_probes) : json_null(),
		    &ok);
		put(o, "max_hits", b->max_hits > 0 ? json_integer(b->max_hits) : json_null(), &ok);
		put(o, "max_bytes", b->max_bytes > 0 ? json_integer(b->max_bytes) : json_null(),
		    &ok);
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* n bytes as a reader counts them: whole MiB or KiB when they are, else bytes. */
static void
bytes_text(char *out, size_t len, int64_t n)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(out, len, "%lld MiB", (long long)(n / (1024 * 1024)));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, len, "%lld KiB", (long long)(n / 1024));
	else
		snprintf(out, len, "%lld bytes", (long long)n);
}

void
jg_policy_probe_budget_text(const struct jg_policy_probe_budget *b, char *out, size_t len)
{
	char parts[3][48];
	size_t n = 0;

	if (b->max_probes > 0)
		snprintf(parts[n++], sizeof(parts[0]), "%lld probe%s", (long long)b->max_probes,
			 b->max_probes == 1 ? "" : "s");
	if (b->max_hits > 0)
		snprintf(parts[n++], sizeof(parts[0]), "%lld hit%s", (long long)b->max_hits,
			 b->max_hits == 1 ? "" : "s");
	if (b->max_bytes > 0)
		bytes_text(parts[n++], sizeof(parts[0]), b->max_bytes);
	if (n == 0)
		snprintf(out, len, "none");
	else if (n == 1)
		snprintf(out, len, "at most %s", parts[0]);
	else if (n == 2)
		snprintf(out, len, "at most %s, %s", parts[0], parts[1]);
	else
		snprintf(out, len, "at most %s, %s, %s", parts[0], parts[1], parts[2]);
}

int
jg_policy_probe_budget_parse(const json_t *v, struct jg_policy_probe_budget *b)
{
	static const char *const keys[] = {"max_probes", "max_hits", "max_bytes"};
	static const int64_t max[] = {JG_POLICY_MAX_BUDGET_PROBES, JG_POLICY_MAX_BUDGET_HITS,
				      JG_POLICY_MAX_BUDGET_BYTES};
	int64_t *out[] = {&b->max_probes, &b->max_hits, &b->max_bytes};

	memset(b, 0, sizeof(*b));
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return JG_EINVAL;
	for (size_t i = 0; i < 3; i++) {
		json_t *m = json_object_get(v, keys[i]);
		if (m == NULL || json_is_null(m))
			continue;
		if (!json_is_integer(m) || json_integer_value(m) < 1 ||
		    json_integer_value(m) > max[i]) {
			memset(b, 0, sizeof(*b));
			return JG_EINVAL;
		}
		*out[i] = json_integer_value(m);
	}
	return 0;
}

bool
jg_policy_applies(const struct policy *p, const char *service)
{
	for (size_t i = 0; i < p->services.n; i++)
		if (fnmatch(p->services.v[i], service, 0) == 0)
			return true;
	return false;
}

bool
jg_policy_service_known(const struct jg_policy_set *set, const char *service)
{
	for (size_t i = 0; i < set->n; i++)
		if (jg_policy_applies(&set->policies[i], service))
			return true;
	return false;
}

void
jg_policy_escalation(const struct jg_policy_set *set, const char *policy, int64_t *remind_after,
		     int64_t *escalate_after, const char **escalate_to)
{
	*remind_after = *escalate_after = 0;
	*escalate_to = NULL;
	for (size_t i = 0; set && policy && i < set->n; i++) {
		const struct policy *p = &set->policies[i];
		if (strcmp(p->name, policy) != 0)
			continue;
		*remind_after = p->remind_after;
		*escalate_after = p->escalate_after;
		*escalate_to = p->escalate_to;
		return;
	}
}

static void
add_unique(json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (strcmp(json_string_value(json_array_get(arr, i)), s) == 0)
			return;
	json_array_append_new(arr, json_string(s));
}

json_t *
jg_policy_reviewers(const struct jg_policy_set *set, const char *service)
{
	json_t *groups = json_array(), *users = json_array();
	for (size_t i = 0; groups && users && i < set->n; i++) {
		const struct policy *p = &set->policies[i];
		if (!jg_policy_applies(p, service))
			continue;
		for (size_t r = 0; r < p->nrules; r++) {
			const struct rule *ru = &p->rules[r];
			if (ru->approval_none)
				continue;
			for (size_t k = 0; k < ru->approvers.groups.n; k++)
				add_unique(groups, ru->approvers.groups.v[k]);
			for (size_t k = 0; k < ru->approvers.users.n; k++)
				add_unique(users, ru->approvers.users.v[k]);
		}
	}
	return json_pack("{s:o*,s:o*}", "groups", groups, "users", users);
}

bool
jg_policy_can_review(const struct jg_policy_set *set, const char *service, const char *user,
		     const char *const *groups, size_t ngroups)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct policy *p = &set->policies[i];
		if (!jg_policy_applies(p, service))
			continue;
		for (size_t r = 0; r < p->nrules; r++)
			if (!p->rules[r].approval_none &&
			    jg_policy_who_matches(&p->rules[r].approvers, user, groups, ngroups))
				return true;
	}
	return false;
}

bool
jg_policy_can_break_glass(const struct jg_policy_set *set, const char *user,
			  const char *const *groups, size_t ngroups)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct break_glass *bg = &set->policies[i].bg;
		if (bg->present && jg_policy_who_matches(&bg->requesters, user, groups, ngroups))
			return true;
	}
	return false;
}
