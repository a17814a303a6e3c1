/*
 * policy_load.c - read a directory of policy files, validate them, hash them.
 *
 * The policy files of a directory are its *.yaml entries, except *.test.yaml
 * (test cases) and names starting with '.' (Kubernetes' ..data machinery);
 * a *.yml file is refused rather than silently ignored.  Symlinks are
 * followed (ConfigMaps are symlinks) but the target must be a regular file.
 * Each file is parsed with yamldoc and checked against the tables below,
 * which list the keys each section may hold and which are required; the
 * typed readers then refuse anything that would make a rule unable to
 * match or approve, naming the file and the line of the offending value.
 * Every file is checked even after one fails, so `jitgate policy check`
 * shows every refused file at once.  The set's SHA-256 is computed over the
 * exact bytes read (docs/policies.md, "The policy set hash").
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/policy.h"
#include "jitgate/sha256.h"
#include "jitgate/yamldoc.h"
#include "policy_int.h"

#define MAX_ERRORS	20
#define MAX_POLICY_NAME 64
#define MAX_TEXT	4096
#define PATHLEN		512

const char *const jg_policy_cap_names[NCAPS] = {
    "read-logs", "read-traces", "read-metrics", "deploy-probe", "read-pii",
};

unsigned
jg_policy_cap_bit(const char *name)
{
	for (unsigned i = 0; i < NCAPS; i++)
		if (strcmp(name, jg_policy_cap_names[i]) == 0)
			return 1u << i;
	return 0;
}

bool
jg_policy_capability_known(const char *name)
{
	return name != NULL && jg_policy_cap_bit(name) != 0;
}

/* ---- durations ---- */

int
jg_policy_duration_parse(const char *s, int64_t *secs)
{
	static const struct {
		char unit;
		int64_t mult;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	int64_t total = 0;
	size_t next = 0; /* the first unit still allowed */

	if (s == NULL || *s == '\0')
		return JG_EINVAL;
	while (*s != '\0') {
		int64_t n = 0;
		size_t digits = 0;
		while (*s >= '0' && *s <= '9') {
			if (++digits > 10)
				return JG_EINVAL;
			n = n * 10 + (*s - '0');
			s++;
		}
		if (digits == 0)
			return JG_EINVAL;
		size_t u = next;
		while (u < 4 && units[u].unit != *s)
			u++;
		if (u == 4)
			return JG_EINVAL;   /* no unit, an unknown one, or one out of order */
		total += n * units[u].mult; /* n < 10^10, so no overflow */
		if (total > JG_POLICY_MAX_DURATION)
			return JG_EINVAL;
		next = u + 1;
		s++;
	}
	if (total < 1)
		return JG_EINVAL;
	*secs = total;
	return 0;
}

void
jg_policy_duration_format(int64_t secs, char *buf, size_t len)
{
	static const struct {
		char unit;
		int64_t mult;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, len, "%llds", (long long)secs);
		return;
	}
	for (size_t i = 0; i < 4 && secs > 0; i++) {
		int64_t n = secs / units[i].mult;
		if (n == 0)
			continue;
		secs -= n * units[i].mult;
		int w = snprintf(buf + used, len - used, "%lld%c", (long long)n, units[i].unit);
		if (w < 0 || (size_t)w >= len - used)
			return;
		used += (size_t)w;
	}
}

/* ---- error reporting ---- */

struct errs {
	char *buf;
	size_t len, used;
	int count;
	int first_rc;
};

static void
errs_add(struct errs *e, int rc, const char *line)
{
	if (e->first_rc == 0)
		e->first_rc = rc;
	e->count++;
	if (e->len == 0)
		return;
	if (e->count > MAX_ERRORS) {
		if (e->count == MAX_ERRORS + 1 && e->used + 40 < e->len)
			e->used += (size_t)snprintf(e->buf + e->used, e->len - e->used,
						    "\n(further errors not shown)");
		return;
	}
	int w = snprintf(e->buf + e->used, e->len - e->used, "%s%s", e->used ? "\n" : "", line);
	if (w > 0)
		e->used += (size_t)w < e->len - e->used ? (size_t)w : e->len - e->used - 1;
}

struct ctx {
	struct jg_yamldoc *doc;
	const char *file;
	char msg[1024]; /* the file's error, "file:line: reason" */
};

/* The line of path, or of its nearest ancestor that has one. */
static int
line_of(const struct jg_yamldoc *doc, const char *path)
{
	char p[PATHLEN];

	snprintf(p, sizeof(p), "%s", path ? path : "");
	for (;;) {
		int line = jg_yamldoc_line(doc, p);
		if (line > 0 || p[0] == '\0')
			return line;
		char *dot = strrchr(p, '.'), *br = strrchr(p, '[');
		char *cut = dot > br ? dot : br;
		if (cut == NULL)
			p[0] = '\0';
		else
			*cut = '\0';
	}
}

static void refuse_why(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * `return refuse(c, path, fmt, ...);` says why the policy is refused (with
 * the line of path when known) and returns JG_ECONFIG.  A macro, so that the
 * result is a constant at every call: the static analyser does not follow
 * the return value of a variadic function.
 */
#define refuse(c, path, ...) (refuse_why((c), (path), __VA_ARGS__), JG_ECONFIG)

static void
refuse_why(struct ctx *c, const char *path, const char *fmt, ...)
{
	char reason[768];
	int line = c->doc ? line_of(c->doc, path) : 0;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap); /* a longer reason is cut */
	va_end(ap);
	if (line > 0)
		snprintf(c->msg, sizeof(c->msg), "%s:%d: %s", c->file, line, reason);
	else
		snprintf(c->msg, sizeof(c->msg), "%s: %s", c->file, reason);
}

/* Paths are short (yamldoc refuses longer ones); a cut one only shows less. */
static void
join(char *out, const char *base, const char *key)
{
	if (snprintf(out, PATHLEN, "%s%s%s", base, *base ? "." : "", key) >= PATHLEN)
		out[PATHLEN - 1] = '\0';
}

static void
join_index(char *out, const char *base, size_t i)
{
	if (snprintf(out, PATHLEN, "%s[%zu]", base, i) >= PATHLEN)
		out[PATHLEN - 1] = '\0';
}

/* ---- the tables: which keys each section may hold ---- */

struct field {
	const char *key;
	bool required;
};

static const struct field top_fields[] = {
    {"policy", true},	     {"description", false},	{"services", true},
    {"rules", false},	     {"deny", false},		{"break_glass", false},
    {"remind_after", false}, {"escalate_after", false}, {"escalate_to", false},
};
static const struct field rule_fields[] = {
    {"capabilities", true},  {"requesters", true},
    {"max_duration", true},  {"max_total_duration", false},
    {"approval", true},	     {"justification", false},
    {"description", false},  {"max_schedule_ahead", false},
    {"probe_budget", false},
};
static const struct field budget_fields[] = {
    {"max_probes", false}, {"max_hits", false}, {"max_bytes", false}};
static const struct field deny_fields[] = {
    {"capabilities", true},
    {"requesters", true},
    {"description", false},
};
static const struct field bg_fields[] = {
    {"requesters", true},     {"max_duration", true}, {"capabilities", false},
    {"justification", false}, {"description", false},
};
static const struct field who_fields[] = {{"groups", false}, {"users", false}};
static const struct field approval_fields[] = {
    {"approvers", true}, {"count", true}, {"shared_approvers", false}};
static const struct field just_fields[] = {{"pattern", false}, {"min_length", false}};

#define NF(t) (sizeof(t) / sizeof((t)[0]))

/* obj must be a mapping holding only keys of fields, and all required ones. */
static int
check_fields(struct ctx *c, json_t *obj, const char *path, const struct field *fields, size_t n)
{
	const char *k;
	json_t *v;
	char sub[PATHLEN];

	if (!json_is_object(obj) && *path == '\0')
		return refuse(c, path, "the top level must be a mapping");
	if (!json_is_object(obj))
		return refuse(c, path, "'%s' must be a mapping", path);
	json_object_foreach(obj, k, v)
	{
		size_t i = 0;
		while (i < n && strcmp(fields[i].key, k) != 0)
			i++;
		join(sub, path, k);
		if (i == n)
			return refuse(c, sub, "unknown key '%s'", sub);
	}
	for (size_t i = 0; i < n; i++) {
		if (!fields[i].required || json_object_get(obj, fields[i].key) != NULL)
			continue;
		join(sub, path, fields[i].key);
		return refuse(c, path, "missing required key '%s'", sub);
	}
	return 0;
}

/* ---- typed readers ---- */

static bool
clean_name(const char *s, size_t len)
{
	if (len == 0 || len > JG_POLICY_MAX_NAME || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int
read_text(struct ctx *c, json_t *v, const char *path)
{
	if (v != NULL && (!json_is_string(v) || json_string_length(v) > MAX_TEXT ||
			  strlen(json_string_value(v)) != json_string_length(v)))
		return refuse(c, path, "'%s' must be a string of at most %d bytes", path, MAX_TEXT);
	return 0;
}

static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* A list of names: strings of 1..JG_POLICY_MAX_NAME bytes, no control characters, unique. */
static int
read_names(struct ctx *c, json_t *v, const char *path, struct strlist *out)
{
	char sub[PATHLEN];
	size_t i;
	json_t *item;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return refuse(c, path, "'%s' must be a list of strings", path);
	if (json_array_size(v) > JG_POLICY_MAX_LIST)
		return refuse(c, path, "'%s' has %zu entries; at most %d are allowed", path,
			      json_array_size(v), JG_POLICY_MAX_LIST);
	out->v = calloc(json_array_size(v) + 1, sizeof(char *));
	if (out->v == NULL)
		return JG_ENOMEM;
	out->n = 0; /* none of the fresh array is used yet */
	json_array_foreach(v, i, item)
	{
		join_index(sub, path, i);
		if (!json_is_string(item) ||
		    !clean_name(json_string_value(item), json_string_length(item)))
			return refuse(c, sub,
				      "'%s' must be a non-empty string of at most %d bytes without "
				      "control characters",
				      sub, JG_POLICY_MAX_NAME);
		for (size_t j = 0; j < out->n; j++)
			if (strcmp(out->v[j], json_string_value(item)) == 0)
				return refuse(c, sub, "'%s': '%s' is listed twice", path,
					      out->v[j]);
		if ((out->v[out->n] = strdup(json_string_value(item))) == NULL)
			return JG_ENOMEM;
		out->n++;
	}
	return 0;
}

static int
read_caps(struct ctx *c, json_t *v, const char *path, unsigned *mask)
{
	char sub[PATHLEN];
	size_t i;
	json_t *item;

	*mask = 0;
	if (!json_is_array(v))
		return refuse(c, path, "'%s' must be a list of capabilities", path);
	if (json_array_size(v) == 0)
		return refuse(c, path, "'%s' is empty: the rule can never match", path);
	json_array_foreach(v, i, item)
	{
		join_index(sub, path, i);
		unsigned bit =
		    json_is_string(item) ? jg_policy_cap_bit(json_string_value(item)) : 0;
		if (bit == 0) {
			char shown[80];
			if (json_is_string(item))
				snprintf(shown, sizeof(shown), "'%.64s'", json_string_value(item));
			else
				snprintf(shown, sizeof(shown), "a non-string value");
			return refuse(c, sub,
				      "unknown capability %s in '%s' (known: read-logs, "
				      "read-traces, read-metrics, deploy-probe, read-pii)",
				      shown, path);
		}
		if (*mask & bit)
			return refuse(c, sub, "'%s': '%s' is listed twice", path,
				      json_string_value(item));
		*mask |= bit;
	}
	return 0;
}

static int
read_duration(struct ctx *c, json_t *v, const char *path, int64_t *out)
{
	char shown[80];

	if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
	    jg_policy_duration_parse(json_string_value(v), out) == 0)
		return 0;
	if (json_is_string(v))
		snprintf(shown, sizeof(shown), "'%.64s'", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(shown, sizeof(shown), "%lld", (long long)json_integer_value(v));
	else
		snprintf(shown, sizeof(shown), "a %s",
			 json_is_array(v)    ? "list"
			 : json_is_object(v) ? "mapping"
					     : "non-string value");
	return refuse(c, path,
		      "'%s' must be a duration from 1s to 30d with units such as 30s, 15m, 4h, "
		      "1h30m or 2d, not %s",
		      path, shown);
}

static int
read_who(struct ctx *c, json_t *v, const char *path, struct who *out, const char *never)
{
	char sub[PATHLEN];
	int rc;

	if ((rc = check_fields(c, v, path, who_fields, NF(who_fields))) != 0)
		return rc;
	join(sub, path, "groups");
	if ((rc = read_names(c, json_object_get(v, "groups"), sub, &out->groups)) != 0)
		return rc;
	join(sub, path, "users");
	if ((rc = read_names(c, json_object_get(v, "users"), sub, &out->users)) != 0)
		return rc;
	if (out->groups.n == 0 && out->users.n == 0)
		return refuse(c, path, "'%s' lists no groups and no users: %s", path, never);
	return 0;
}

static int
read_justification(struct ctx *c, json_t *v, const char *path, struct justification *out)
{
	char sub[PATHLEN];
	json_t *pat, *len;
	int rc;

	if (v == NULL)
		return 0;
	if ((rc = check_fields(c, v, path, just_fields, NF(just_fields))) != 0)
		return rc;
	pat = json_object_get(v, "pattern");
	len = json_object_get(v, "min_length");
	if (pat == NULL && len == NULL)
		return refuse(c, path, "'%s' needs a pattern, a min_length or both", path);
	out->present = true;
	if (len != NULL) {
		join(sub, path, "min_length");
		if (!json_is_integer(len) || json_integer_value(len) < 0 ||
		    json_integer_value(len) > JG_POLICY_MAX_JUSTIFICATION)
			return refuse(c, sub, "'%s' must be an integer from 0 to %d", sub,
				      JG_POLICY_MAX_JUSTIFICATION);
		out->min_length = json_integer_value(len);
	}
	if (pat != NULL) {
		join(sub, path, "pattern");
		if (!json_is_string(pat) || json_string_length(pat) == 0 ||
		    strlen(json_string_value(pat)) != json_string_length(pat))
			return refuse(c, sub, "'%s' must be a non-empty string", sub);
		if (json_string_length(pat) > JG_POLICY_MAX_PATTERN)
			return refuse(c, sub, "'%s' is longer than %d bytes", sub,
				      JG_POLICY_MAX_PATTERN);
		if ((out->pattern = strdup(json_string_value(pat))) == NULL)
			return JG_ENOMEM;
		int re = regcomp(&out->re, out->pattern, REG_EXTENDED | REG_NOSUB);
		if (re != 0) {
			char why[128];
			regerror(re, &out->re, why, sizeof(why));
			return refuse(c, sub,
				      "'%s' is not a valid POSIX extended regular "
				      "expression: %s",
				      sub, why);
		}
		out->has_pattern = true;
	}
	return 0;
}

static int
read_approval(struct ctx *c, json_t *v, const char *path, struct rule *r)
{
	char sub[PATHLEN];
	json_t *count;
	int rc;

	if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0) {
		r->approval_none = true;
		return 0;
	}
	if (!json_is_object(v))
		return refuse(c, path,
			      "'%s' must be none or a mapping {approvers: {groups, users}, count}",
			      path);
	if ((rc = check_fields(c, v, path, approval_fields, NF(approval_fields))) != 0)
		return rc;
	join(sub, path, "approvers");
	if ((rc = read_who(c, json_object_get(v, "approvers"), sub, &r->approvers,
			   "the rule could never be approved")) != 0)
		return rc;
	join(sub, path, "count");
	count = json_object_get(v, "count");
	if (!json_is_integer(count) || json_integer_value(count) < 1 ||
	    json_integer_value(count) > JG_POLICY_MAX_COUNT)
		return refuse(c, sub, "'%s' must be an integer from 1 to %d", sub,
			      JG_POLICY_MAX_COUNT);
	r->count = (int)json_integer_value(count);
	if (r->approvers.groups.n == 0 && (size_t)r->count > r->approvers.users.n)
		return refuse(c, sub,
			      "'%s' is %d but only %zu approver(s) are listed, by user: the rule "
			      "could never be approved",
			      sub, r->count, r->approvers.users.n);
	/* Separation of duties is the default; sharing is asked for, with a boolean. */
	json_t *shared = json_object_get(v, "shared_approvers");
	join(sub, path, "shared_approvers");
	if (shared != NULL && !json_is_boolean(shared))
		return refuse(c, sub, "'%s' must be true or false", sub);
	r->shared = json_is_true(shared);
	return 0;
}

/*
 * A rule's probe_budget: a mapping of at least one of max_probes, max_hits
 * and max_bytes, each a positive integer within its bound; only on a rule
 * that can grant deploy-probe.
 */
static int
read_budget(struct ctx *c, json_t *v, const char *path, struct rule *r)
{
	static const struct {
		const char *key;
		size_t off;
		int64_t max;
	} members[] = {
	    {"max_probes", offsetof(struct jg_policy_probe_budget, max_probes),
	     JG_POLICY_MAX_BUDGET_PROBES},
	    {"max_hits", offsetof(struct jg_policy_probe_budget, max_hits),
	     JG_POLICY_MAX_BUDGET_HITS},
	    {"max_bytes", offsetof(struct jg_policy_probe_budget, max_bytes),
	     JG_POLICY_MAX_BUDGET_BYTES},
	};
	char sub[PATHLEN];
	int rc;

	if (v == NULL)
		return 0;
	if (!(r->caps & jg_policy_cap_bit("deploy-probe")))
		return refuse(c, path,
			      "'%s' is allowed only on a rule that lists deploy-probe: it bounds "
			      "what a grant spends on probes",
			      path);
	if (!json_is_object(v) || json_object_size(v) == 0)
		return refuse(c, path,
			      "'%s' must be a mapping of at least one of max_probes, max_hits and "
			      "max_bytes",
			      path);
	if ((rc = check_fields(c, v, path, budget_fields, NF(budget_fields))) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		json_t *m = json_object_get(v, members[i].key);
		if (m == NULL)
			continue;
		join(sub, path, members[i].key);
		if (!json_is_integer(m) || json_integer_value(m) < 1 ||
		    json_integer_value(m) > members[i].max)
			return refuse(c, sub, "'%s' must be an integer from 1 to %lld", sub,
				      (long long)members[i].max);
		*(int64_t *)((char *)&r->budget + members[i].off) = json_integer_value(m);
	}
	return 0;
}

static int
make_id(char **out, const char *policy, const char *what, size_t i, bool indexed)
{
	int n = indexed ? asprintf(out, "%s#%s[%zu]", policy, what, i)
			: asprintf(out, "%s#%s", policy, what);
	if (n < 0) {
		*out = NULL;
		return JG_ENOMEM;
	}
	return 0;
}

static int
read_rule(struct ctx *c, json_t *v, const char *path, const char *policy, size_t i, struct rule *r)
{
	char sub[PATHLEN];
	int rc;

	if ((rc = check_fields(c, v, path, rule_fields, NF(rule_fields))) != 0)
		return rc;
	if ((rc = make_id(&r->id, policy, "rules", i, true)) != 0)
		return rc;
	r->line = line_of(c->doc, path);
	join(sub, path, "description");
	if ((rc = read_text(c, json_object_get(v, "description"), sub)) != 0)
		return rc;
	join(sub, path, "capabilities");
	if ((rc = read_caps(c, json_object_get(v, "capabilities"), sub, &r->caps)) != 0)
		return rc;
	join(sub, path, "requesters");
	if ((rc = read_who(c, json_object_get(v, "requesters"), sub, &r->requesters,
			   "the rule can never match")) != 0)
		return rc;
	join(sub, path, "max_duration");
	if ((rc = read_duration(c, json_object_get(v, "max_duration"), sub, &r->max_duration)) != 0)
		return rc;
	/* how long a grant may last with its extensions: at least max_duration, by default it */
	join(sub, path, "max_total_duration");
	r->max_total_duration = r->max_duration;
	json_t *total = json_object_get(v, "max_total_duration");
	if (total != NULL && (rc = read_duration(c, total, sub, &r->max_total_duration)) != 0)
		return rc;
	if (r->max_total_duration < r->max_duration)
		return refuse(c, sub, "'%s' must not be shorter than max_duration", sub);
	join(sub, path, "max_schedule_ahead");
	r->max_schedule_ahead = JG_POLICY_DEFAULT_SCHEDULE_AHEAD;
	if (json_object_get(v, "max_schedule_ahead") != NULL &&
	    (rc = read_duration(c, json_object_get(v, "max_schedule_ahead"), sub,
				&r->max_schedule_ahead)) != 0)
		return rc;
	join(sub, path, "justification");
	if ((rc = read_justification(c, json_object_get(v, "justification"), sub, &r->just)) != 0)
		return rc;
	join(sub, path, "probe_budget");
	if ((rc = read_budget(c, json_object_get(v, "probe_budget"), sub, r)) != 0)
		return rc;
	join(sub, path, "approval");
	return read_approval(c, json_object_get(v, "approval"), sub, r);
}

static int
read_deny(struct ctx *c, json_t *v, const char *path, const char *policy, size_t i,
	  struct deny_rule *d)
{
	char sub[PATHLEN];
	int rc;

	if ((rc = check_fields(c, v, path, deny_fields, NF(deny_fields))) != 0)
		return rc;
	if ((rc = make_id(&d->id, policy, "deny", i, true)) != 0)
		return rc;
	d->line = line_of(c->doc, path);
	join(sub, path, "description");
	if ((rc = read_text(c, json_object_get(v, "description"), sub)) != 0)
		return rc;
	join(sub, path, "capabilities");
	if ((rc = read_caps(c, json_object_get(v, "capabilities"), sub, &d->caps)) != 0)
		return rc;
	join(sub, path, "requesters");
	return read_who(c, json_object_get(v, "requesters"), sub, &d->requesters,
			"the deny rule can never match");
}

static int
read_break_glass(struct ctx *c, json_t *v, const char *policy, struct break_glass *bg)
{
	json_t *caps;
	int rc;

	if (v == NULL)
		return 0;
	if ((rc = check_fields(c, v, "break_glass", bg_fields, NF(bg_fields))) != 0)
		return rc;
	bg->present = true;
	if ((rc = make_id(&bg->id, policy, "break_glass", 0, false)) != 0)
		return rc;
	bg->line = line_of(c->doc, "break_glass");
	if ((rc = read_text(c, json_object_get(v, "description"), "break_glass.description")) != 0)
		return rc;
	if ((rc = read_who(c, json_object_get(v, "requesters"), "break_glass.requesters",
			   &bg->requesters, "break-glass could never be used")) != 0)
		return rc;
	if ((rc = read_duration(c, json_object_get(v, "max_duration"), "break_glass.max_duration",
				&bg->max_duration)) != 0)
		return rc;
	caps = json_object_get(v, "capabilities");
	bg->caps = (1u << NCAPS) - 1;
	if (caps != NULL && (rc = read_caps(c, caps, "break_glass.capabilities", &bg->caps)) != 0)
		return rc;
	return read_justification(c, json_object_get(v, "justification"),
				  "break_glass.justification", &bg->just);
}

static bool
valid_policy_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > MAX_POLICY_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
			return false;
	}
	return true;
}

static void
who_free(struct who *w)
{
	strlist_free(&w->groups);
	strlist_free(&w->users);
}

static void
just_free(struct justification *j)
{
	if (j->has_pattern)
		regfree(&j->re);
	free(j->pattern);
}

static void
policy_clear(struct policy *p)
{
	free(p->name);
	free(p->escalate_to);
	free(p->file);
	strlist_free(&p->services);
	for (size_t i = 0; i < p->nrules; i++) {
		free(p->rules[i].id);
		who_free(&p->rules[i].requesters);
		who_free(&p->rules[i].approvers);
		just_free(&p->rules[i].just);
	}
	free(p->rules);
	for (size_t i = 0; i < p->ndenies; i++) {
		free(p->denies[i].id);
		who_free(&p->denies[i].requesters);
	}
	free(p->denies);
	free(p->bg.id);
	who_free(&p->bg.requesters);
	just_free(&p->bg.just);
	memset(p, 0, sizeof(*p));
}

/* A list section (rules, deny) as an array of at most JG_POLICY_MAX_RULES entries. */
static int
check_section(struct ctx *c, json_t *v, const char *key)
{
	if (!json_is_array(v))
		return refuse(c, key, "'%s' must be a list", key);
	if (json_array_size(v) > JG_POLICY_MAX_RULES)
		return refuse(c, key, "'%s' has %zu entries; at most %d are allowed", key,
			      json_array_size(v), JG_POLICY_MAX_RULES);
	return 0;
}

/*
 * remind_after, escalate_after and escalate_to (docs/notifications.md): a
 * reminder to the approvers of a request still pending after remind_after,
 * and one to the fallback group escalate_to after escalate_after.  The two
 * escalation keys come together, and an escalation after the reminder.
 */
static int
read_escalation(struct ctx *c, json_t *root, struct policy *p)
{
	json_t *ra = json_object_get(root, "remind_after"),
	       *ea = json_object_get(root, "escalate_after");
	json_t *to = json_object_get(root, "escalate_to");
	int rc;

	if (ra && (rc = read_duration(c, ra, "remind_after", &p->remind_after)) != 0)
		return rc;
	if (ea && (rc = read_duration(c, ea, "escalate_after", &p->escalate_after)) != 0)
		return rc;
	if ((ea == NULL) != (to == NULL))
		return refuse(c, ea ? "escalate_after" : "escalate_to",
			      "'escalate_after' and 'escalate_to' go together: when, and to which "
			      "group");
	if (to != NULL) {
		if (!json_is_string(to) ||
		    !clean_name(json_string_value(to), json_string_length(to)))
			return refuse(
			    c, "escalate_to",
			    "'escalate_to' must be one group name (a non-empty string of at "
			    "most %d bytes without control characters)",
			    JG_POLICY_MAX_NAME);
		if ((p->escalate_to = strdup(json_string_value(to))) == NULL)
			return JG_ENOMEM;
	}
	if (p->remind_after && p->escalate_after && p->escalate_after <= p->remind_after)
		return refuse(
		    c, "escalate_after",
		    "'escalate_after' must be later than 'remind_after' (escalation follows "
		    "the reminder)");
	if ((ra || ea) && p->nrules == 0)
		return refuse(c, ra ? "remind_after" : "escalate_after",
			      "reminders and escalation need rules with approvals to apply to");
	return 0;
}

/* Validates the document of one file into *p (cleared by the caller on failure). */
static int
read_policy(struct ctx *c, struct policy *p)
{
	json_t *root = c->doc->root, *v, *rules, *denies;
	char sub[PATHLEN];
	size_t i;
	int rc;

	if ((rc = check_fields(c, root, "", top_fields, NF(top_fields))) != 0)
		return rc;
	v = json_object_get(root, "policy");
	if (!json_is_string(v) || !valid_policy_name(json_string_value(v)) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return refuse(
		    c, "policy",
		    "'policy' must be a name of 1 to %d letters, digits, '-', '_' or '.', "
		    "starting with a letter or digit",
		    MAX_POLICY_NAME);
	if ((p->name = strdup(json_string_value(v))) == NULL)
		return JG_ENOMEM;
	if ((rc = read_text(c, json_object_get(root, "description"), "description")) != 0)
		return rc;
	if ((rc = read_names(c, json_object_get(root, "services"), "services", &p->services)) != 0)
		return rc;
	if (p->services.n == 0)
		return refuse(c, "services", "'services' is empty: the policy can never apply");

	rules = json_object_get(root, "rules");
	if (rules != NULL) {
		if ((rc = check_section(c, rules, "rules")) != 0)
			return rc;
		p->rules = calloc(json_array_size(rules) + 1, sizeof(*p->rules));
		if (p->rules == NULL)
			return JG_ENOMEM;
		json_array_foreach(rules, i, v)
		{
			join_index(sub, "rules", i);
			p->nrules = i + 1;
			if ((rc = read_rule(c, v, sub, p->name, i, &p->rules[i])) != 0)
				return rc;
		}
	}
	denies = json_object_get(root, "deny");
	if (denies != NULL) {
		if ((rc = check_section(c, denies, "deny")) != 0)
			return rc;
		p->denies = calloc(json_array_size(denies) + 1, sizeof(*p->denies));
		if (p->denies == NULL)
			return JG_ENOMEM;
		json_array_foreach(denies, i, v)
		{
			join_index(sub, "deny", i);
			p->ndenies = i + 1;
			if ((rc = read_deny(c, v, sub, p->name, i, &p->denies[i])) != 0)
				return rc;
		}
	}
	if ((rc = read_break_glass(c, json_object_get(root, "break_glass"), p->name, &p->bg)) != 0)
		return rc;
	if (p->nrules == 0 && p->ndenies == 0 && !p->bg.present)
		return refuse(c, "", "the policy has no rules, no deny rules and no break_glass");
	return read_escalation(c, root, p);
}

/* ---- the directory ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_policy(const void *a, const void *b)
{
	return strcmp(((const struct policy *)a)->name, ((const struct policy *)b)->name);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The sorted names of the policy files in dir.  Problems with single
 * entries (a *.yml file, a name with control characters) go to e.
 */
static int
list_files(const char *dir, struct strlist *out, struct errs *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char line[1024];
	size_t cap = 0;
	int rc = 0;

	if (d == NULL) {
		snprintf(line, sizeof(line), "%s: cannot open the policy directory: %s", dir,
			 strerror(errno));
		errs_add(e, JG_EIO, line);
		return JG_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (name[0] == '.' || ends_with(name, ".test.yaml"))
			continue;
		if (ends_with(name, ".yml")) {
			snprintf(line, sizeof(line),
				 "%s/%s: policy files must be named *.yaml; this one would be "
				 "ignored",
				 dir, name);
			errs_add(e, JG_ECONFIG, line);
			continue;
		}
		if (!ends_with(name, ".yaml"))
			continue;
		bool bad = false;
		for (const char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
				bad = true;
		if (bad) {
			snprintf(line, sizeof(line),
				 "%s/<name with control characters or '\\'>: refused file name",
				 dir);
			errs_add(e, JG_ECONFIG, line);
			continue;
		}
		if (out->n == JG_POLICY_MAX_FILES) {
			snprintf(line, sizeof(line), "%s: more than %d policy files", dir,
				 JG_POLICY_MAX_FILES);
			errs_add(e, JG_ETOOBIG, line);
			rc = JG_ETOOBIG;
			break;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nv = realloc(out->v, ncap * sizeof(char *));
			if (nv == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			out->v = nv;
			cap = ncap;
		}
		if ((out->v[out->n] = strdup(name)) == NULL) {
			rc = JG_ENOMEM;
			break;
		}
		out->n++;
	}
	closedir(d);
	if (rc == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof(char *), cmp_str);
	return rc;
}

/* Adds "hex(SHA-256(content))  name\n" to the set hash. */
static int
hash_file(struct jg_sha256_ctx *md, const char *name, const char *buf, size_t len)
{
	char hex[2 * JG_SHA256_LEN + 1];

	if (jg_sha256_hex(buf, len, hex) != 0 || jg_sha256_update(md, hex, 64) != 0 ||
	    jg_sha256_update(md, "  ", 2) != 0 || jg_sha256_update(md, name, strlen(name)) != 0 ||
	    jg_sha256_update(md, "\n", 1) != 0)
		return JG_ECRYPTO;
	return 0;
}

/*
 * The policy names read so far and their files, including those of files
 * refused for another reason, so that a duplicate is reported even then.
 */
struct seen {
	struct strlist names, files; /* parallel; room for every file */
};

/* Parses and validates the bytes of one file (path, named name in dir) into *p; problems go to e.
 */
static int
load_buffer(const char *path, const char *name, const char *buf, size_t len, struct policy *p,
	    struct seen *seen, struct jg_sha256_ctx *md, struct errs *e)
{
	struct ctx c = {0};
	int rc;

	c.file = path;
	if ((rc = hash_file(md, name, buf, len)) != 0)
		goto out;
	rc = jg_yamldoc_parse(buf, len, path, &c.doc, c.msg, sizeof(c.msg));
	if (rc != 0) {
		rc = rc == JG_EPARSE ? JG_ECONFIG : rc;
		goto out;
	}
	rc = read_policy(&c, p);
	if (p->name != NULL && rc != JG_ENOMEM) {
		for (size_t i = 0; rc == 0 && i < seen->names.n; i++)
			if (strcmp(seen->names.v[i], p->name) == 0)
				rc = refuse(&c, "policy", "duplicate policy name '%s' (also in %s)",
					    p->name, seen->files.v[i]);
		size_t k = seen->names.n;
		if ((seen->names.v[k] = strdup(p->name)) == NULL ||
		    (seen->files.v[k] = strdup(path)) == NULL) {
			free(seen->names.v[k]);
			seen->names.v[k] = NULL;
			rc = JG_ENOMEM;
			goto out;
		}
		seen->names.n = seen->files.n = k + 1;
	}
	if (rc != 0)
		goto out;
	if ((p->file = strdup(path)) == NULL)
		rc = JG_ENOMEM;
out:
	if (rc != 0 && rc != JG_ENOMEM) {
		if (c.msg[0] == '\0')
			snprintf(c.msg, sizeof(c.msg), "%s: %s", path, jg_strerror(rc));
		errs_add(e, rc, c.msg);
	}
	jg_yamldoc_free(c.doc);
	return rc;
}

/* Reads, parses and validates one file into *p; problems go to e. */
static int
load_file(const char *dir, const char *name, struct policy *p, struct seen *seen,
	  struct jg_sha256_ctx *md, struct errs *e)
{
	struct stat st;
	char *path = NULL, *buf = NULL, msg[1024] = "";
	size_t len = 0;
	int rc;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return JG_ENOMEM;
	/* stat() follows symlinks; refusing non-regular files before open() avoids FIFOs. */
	if (stat(path, &st) != 0) {
		rc = JG_EIO;
		snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = JG_ECONFIG;
		snprintf(msg, sizeof(msg), "%s: not a regular file", path);
	} else {
		rc = jg_file_read(path, JG_POLICY_MAX_FILE_BYTES, false, &buf, &len, msg,
				  sizeof(msg));
	}
	if (rc != 0 && rc != JG_ENOMEM) {
		if (msg[0] == '\0')
			snprintf(msg, sizeof(msg), "%s: %s", path, jg_strerror(rc));
		errs_add(e, rc, msg);
	}
	if (rc == 0)
		rc = load_buffer(path, name, buf, len, p, seen, md, e);
	free(buf);
	free(path);
	return rc;
}

static int
compile_incident(const char *pattern, struct jg_policy_set *set, struct errs *e)
{
	char line[512];

	if (pattern == NULL)
		pattern = JG_POLICY_DEFAULT_INCIDENT;
	if (*pattern == '\0' || strlen(pattern) > JG_POLICY_MAX_PATTERN) {
		snprintf(line, sizeof(line), "incident pattern: must be 1 to %d bytes",
			 JG_POLICY_MAX_PATTERN);
		errs_add(e, JG_ECONFIG, line);
		return JG_ECONFIG;
	}
	int re = regcomp(&set->incident, pattern, REG_EXTENDED);
	if (re != 0) {
		char why[128];
		regerror(re, &set->incident, why, sizeof(why));
		snprintf(line, sizeof(line),
			 "incident pattern: not a valid POSIX extended regular expression: %s",
			 why);
		errs_add(e, JG_ECONFIG, line);
		return JG_ECONFIG;
	}
	set->has_incident = true;
	return 0;
}

/* The policy files of dir, or (dir NULL) the one file name with its bytes buf. */
static int
set_load(const char *dir, const char *name, const char *buf, size_t len,
	 const char *incident_pattern, struct jg_policy_set **out, char *err, size_t errlen)
{
	struct errs e = {.buf = err, .len = errlen};
	struct strlist files = {0};
	struct seen seen = {{0}, {0}};
	struct jg_policy_set *set = NULL;
	struct jg_sha256_ctx md = {0};
	uint8_t dig[JG_SHA256_LEN];
	int rc;

	if (out == NULL || (dir == NULL && (name == NULL || buf == NULL)))
		return JG_EINVAL;
	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	if (jg_sha256_init(&md) != 0) {
		rc = JG_ECRYPTO;
		goto out;
	}
	if ((rc = compile_incident(incident_pattern, set, &e)) != 0)
		goto out;
	if (dir == NULL) {
		if ((files.v = calloc(1, sizeof(char *))) == NULL ||
		    (files.v[0] = strdup(name)) == NULL) {
			rc = JG_ENOMEM;
			goto out;
		}
		files.n = 1;
	} else if ((rc = list_files(dir, &files, &e)) != 0) {
		goto out;
	}
	set->policies = calloc(files.n + 1, sizeof(*set->policies));
	seen.names.v = calloc(files.n + 1, sizeof(char *));
	seen.files.v = calloc(files.n + 1, sizeof(char *));
	if (set->policies == NULL || seen.names.v == NULL || seen.files.v == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < files.n; i++) {
		struct policy *p = &set->policies[set->n];
		rc = dir ? load_file(dir, files.v[i], p, &seen, &md, &e)
			 : load_buffer(name, name, buf, len, p, &seen, &md, &e);
		if (rc == JG_ENOMEM)
			goto out;
		if (rc != 0)
			policy_clear(p);
		else
			set->n++;
	}
	if (e.count > 0) {
		rc = e.first_rc;
		goto out;
	}
	if (jg_sha256_final(&md, dig) != 0) {
		rc = JG_ECRYPTO;
		goto out;
	}
	(void)jg_hex_encode(dig, sizeof(dig), set->sha256, sizeof(set->sha256));
	if (set->n > 1)
		qsort(set->policies, set->n, sizeof(*set->policies), cmp_policy);
	*out = set;
	set = NULL; /* transferred */
	rc = 0;
out:
	if (rc == JG_ENOMEM && errlen > 0)
		snprintf(err, errlen, "%s: out of memory loading policies", dir ? dir : name);
	else if (rc == JG_ECRYPTO && errlen > 0)
		snprintf(err, errlen, "%s: SHA-256 failed", dir ? dir : name);
	strlist_free(&files);
	strlist_free(&seen.names);
	strlist_free(&seen.files);
	jg_sha256_abort(&md);
	jg_policy_set_free(set);
	return rc;
}

int
jg_policy_set_load(const char *dir, const char *incident_pattern, struct jg_policy_set **out,
		   char *err, size_t errlen)
{
	if (dir == NULL)
		return JG_EINVAL;
	return set_load(dir, NULL, NULL, 0, incident_pattern, out, err, errlen);
}

int
jg_policy_set_parse(const char *name, const char *buf, size_t len, const char *incident_pattern,
		    struct jg_policy_set **out, char *err, size_t errlen)
{
	if (len > JG_POLICY_MAX_FILE_BYTES) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: larger than %d bytes", name ? name : "policy",
				 JG_POLICY_MAX_FILE_BYTES);
		return JG_ETOOBIG;
	}
	return set_load(NULL, name, buf, len, incident_pattern, out, err, errlen);
}

void
jg_policy_set_free(struct jg_policy_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		policy_clear(&set->policies[i]);
	free(set->policies);
	if (set->has_incident)
		regfree(&set->incident);
	free(set);
}

const char *
jg_policy_set_sha256(const struct jg_policy_set *set)
{
	return set->sha256;
}

size_t
jg_policy_set_size(const struct jg_policy_set *set)
{
	return set->n;
}
