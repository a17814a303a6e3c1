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
 * first rule in file order of the first policy that allows it to this
 * requester.  Every rule used then binds: the smallest max_duration, every
 * justification constraint, every approval requirement.  A decision copies
 * what it needs, so it stays valid after the set is freed.
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
	for (; s[i] != '\0' && j + 4 < len && i < SHOWN; i++)
		dst[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0' && j + 4 <= len) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
	return dst;
}

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

static int
add_requirement(struct jg_policy_decision *out, const struct rule *r)
{
	struct jg_policy_requirement *nv, *q;

	nv = realloc(out->requirements, (out->nrequirements + 1) * sizeof(*nv));
	if (nv == NULL)
		return JG_ENOMEM;
	out->requirements = nv;
	q = &nv[out->nrequirements++];
	memset(q, 0, sizeof(*q));
	q->count = r->count;
	if ((q->rule = strdup(r->id)) == NULL)
		return JG_ENOMEM;
	if (dup_list(&r->approvers.groups, &q->groups, &q->ngroups) != 0 ||
	    dup_list(&r->approvers.users, &q->users, &q->nusers) != 0)
		return JG_ENOMEM;
	return 0;
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
check_justification(struct jg_policy_decision *out, const struct justification *j, const char *id,
		    const char *text, bool *ok)
{
	*ok = true;
	if (!j->present)
		return 0;
	size_t have = utf8_chars(text);
	if ((int64_t)have < j->min_length) {
		*ok = false;
		return deny(out,
			    "justification does not satisfy %s: it must be at least %lld "
			    "characters long (it has %zu)",
			    id, (long long)j->min_length, have);
	}
	if (j->has_pattern && regexec(&j->re, text, 0, NULL, 0) != 0) {
		*ok = false;
		return deny(out, "justification does not satisfy %s: it must match the pattern %s",
			    id, j->pattern);
	}
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
check_duration(struct jg_policy_decision *out, const struct jg_policy_request *req,
	       const struct limits *l, bool *ok)
{
	char asked[32], max[32];

	out->max_duration = l->max;
	*ok = req->duration_seconds <= l->max;
	if (*ok)
		return 0;
	jg_policy_duration_format(req->duration_seconds, asked, sizeof(asked));
	jg_policy_duration_format(l->max, max, sizeof(max));
	return deny(out, "duration %s exceeds the maximum %s of %s", asked, max, l->limiting);
}

static int
evaluate_break_glass(const struct jg_policy_set *set, const size_t *app, size_t napp,
		     const struct jg_policy_request *req, unsigned want, const char *text,
		     struct jg_policy_decision *out)
{
	const struct break_glass *used[JG_POLICY_MAX_FILES];
	struct limits l = {0};
	unsigned covered = 0;
	size_t nused = 0;
	char s1[SHOWN + 8], s2[SHOWN + 8];
	bool ok;
	int rc;

	for (size_t i = 0; i < napp; i++) {
		const struct break_glass *bg = &set->policies[app[i]].bg;
		if (bg->present &&
		    jg_policy_who_matches(&bg->requesters, req->user, req->groups, req->ngroups)) {
			used[nused++] = bg;
			covered |= bg->caps;
		}
	}
	if (nused == 0)
		return deny(out, "break-glass not allowed for user '%s' on service '%s'",
			    shown(s1, sizeof(s1), req->user), shown(s2, sizeof(s2), req->service));
	for (size_t i = 0; i < nused; i++) {
		if ((rc = add_matched(out, used[i]->id)) != 0)
			return rc;
		limit_by(&l, used[i]->max_duration, used[i]->id);
	}
	for (unsigned c = 0; c < NCAPS; c++)
		if ((want & (1u << c)) && !(covered & (1u << c)))
			return deny(out,
				    "break-glass not allowed for capability %s on service '%s'",
				    jg_policy_cap_names[c], shown(s2, sizeof(s2), req->service));
	if ((rc = check_duration(out, req, &l, &ok)) != 0 || !ok)
		return rc;
	for (size_t i = 0; i < nused; i++)
		if ((rc = check_justification(out, &used[i]->just, used[i]->id, text, &ok)) != 0 ||
		    !ok)
			return rc;
	out->outcome = JG_POLICY_GRANT;
	out->break_glass = true;
	return 0;
}

static const struct rule *
first_rule(const struct jg_policy_set *set, const size_t *app, size_t napp,
	   const struct jg_policy_request *req, unsigned bit)
{
	for (size_t i = 0; i < napp; i++) {
		const struct policy *p = &set->policies[app[i]];
		for (size_t r = 0; r < p->nrules; r++)
			if ((p->rules[r].caps & bit) &&
			    jg_policy_who_matches(&p->rules[r].requesters, req->user, req->groups,
						  req->ngroups))
				return &p->rules[r];
	}
	return NULL;
}

static int
evaluate_rules(const struct jg_policy_set *set, const size_t *app, size_t napp,
	       const struct jg_policy_request *req, unsigned want, const char *text,
	       struct jg_policy_decision *out)
{
	const struct rule *used[NCAPS];
	struct limits l = {0};
	size_t nused = 0;
	char s1[SHOWN + 8], s2[SHOWN + 8];
	bool ok;
	int rc;

	for (unsigned c = 0; c < NCAPS; c++) {
		if (!(want & (1u << c)))
			continue;
		const struct rule *r = first_rule(set, app, napp, req, 1u << c);
		if (r == NULL)
			return deny(out,
				    "no rule allows capability %s to user '%s' on service '%s'",
				    jg_policy_cap_names[c], shown(s1, sizeof(s1), req->user),
				    shown(s2, sizeof(s2), req->service));
		size_t k = 0;
		while (k < nused && used[k] != r)
			k++;
		if (k == nused)
			used[nused++] = r;
	}
	for (size_t i = 0; i < nused; i++) {
		if ((rc = add_matched(out, used[i]->id)) != 0)
			return rc;
		limit_by(&l, used[i]->max_duration, used[i]->id);
	}
	if ((rc = check_duration(out, req, &l, &ok)) != 0 || !ok)
		return rc;
	for (size_t i = 0; i < nused; i++)
		if ((rc = check_justification(out, &used[i]->just, used[i]->id, text, &ok)) != 0 ||
		    !ok)
			return rc;
	for (size_t i = 0; i < nused; i++)
		if (!used[i]->approval_none && (rc = add_requirement(out, used[i])) != 0)
			return rc;
	out->outcome = out->nrequirements > 0 ? JG_POLICY_PENDING : JG_POLICY_GRANT;
	return 0;
}

static int
evaluate(const struct jg_policy_set *set, const struct jg_policy_request *req,
	 struct jg_policy_decision *out)
{
	const char *text = req->justification ? req->justification : "";
	char s1[SHOWN + 8];
	unsigned want = 0;
	size_t *app = NULL, napp = 0;
	int rc;

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

	app = calloc(set->n + 1, sizeof(*app));
	if (app == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < set->n; i++) {
		const struct strlist *g = &set->policies[i].services;
		for (size_t k = 0; k < g->n; k++) {
			if (fnmatch(g->v[k], req->service, 0) == 0) {
				app[napp++] = i;
				break;
			}
		}
	}
	if (napp == 0) {
		rc = deny(out, "no policy applies to service '%s'",
			  shown(s1, sizeof(s1), req->service));
		goto out;
	}
	for (size_t i = 0; i < napp; i++) {
		const struct policy *p = &set->policies[app[i]];
		for (size_t d = 0; d < p->ndenies; d++) {
			const struct deny_rule *dr = &p->denies[d];
			unsigned hit = dr->caps & want;
			if (hit == 0 || !jg_policy_who_matches(&dr->requesters, req->user,
							       req->groups, req->ngroups))
				continue;
			unsigned c = 0;
			while (!(hit & (1u << c)))
				c++;
			if ((rc = add_matched(out, dr->id)) == 0)
				rc = deny(out, "denied by %s: capability %s", dr->id,
					  jg_policy_cap_names[c]);
			goto out;
		}
	}
	if (req->break_glass)
		rc = evaluate_break_glass(set, app, napp, req, want, text, out);
	else
		rc = evaluate_rules(set, app, napp, req, want, text, out);
out:
	free(app);
	return rc;
}

int
jg_policy_evaluate(const struct jg_policy_set *set, const struct jg_policy_request *req,
		   struct jg_policy_decision *out)
{
	int rc;

	if (out == NULL)
		return JG_EINVAL;
	memset(out, 0, sizeof(*out));
	out->outcome = JG_POLICY_DENY;
	if (set == NULL || req == NULL)
		return JG_EINVAL;
	memcpy(out->policy_sha256, set->sha256, sizeof(out->policy_sha256));
	rc = evaluate(set, req, out);
	if (rc != 0) {
		/* Fail closed: whatever was built is dropped. */
		jg_policy_decision_clear(out);
		memcpy(out->policy_sha256, set->sha256, sizeof(out->policy_sha256));
	}
	return rc;
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
	put(obj, "matched_rules", string_array(d->matched_rules, d->nmatched), &ok);
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

static bool
applies(const struct policy *p, const char *service)
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
		if (applies(&set->policies[i], service))
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
		if (!applies(p, service))
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
		if (!applies(p, service))
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
