/*
 * cli_policy.c - `jitgate policy check|test|explain`.
 *
 * check loads the policy set exactly as `serve` does and prints either
 * "ok: N policies, sha256 HEX" or every refused file with its line; a set
 * that loads is then linted (jg_policy_set_lint): rules that can never be
 * used or approved are warnings on standard error, "file:line: warning:
 * ...", and every pair of policies that apply to a common service is named
 * on standard output with one such service, because for those services a
 * rule of each binds.  test loads the set, then runs each case of every
 * *.test.yaml file of DIR (sorted by name): a case is {name, input,
 * expect}; the input becomes a request, the decision is compared with what
 * expect states (only the keys given are compared), and each mismatch is
 * printed with the file and line of the expectation.  explain reads one
 * input (the mapping a case's `input` holds, or a whole case) and prints
 * jg_policy_explain()'s account of the evaluation, step by step.  Exit 0
 * when everything passes (check: also with warnings), 1 when a policy is
 * refused, a test or input file is malformed or a case fails, 2 for usage
 * errors.  The formats are in docs/policies.md.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/policy.h"
#include "jitgate/yamldoc.h"

#define MAX_TEST_FILE_BYTES (1024 * 1024)
#define MAX_TEST_FILES	    1000
#define MAX_CASES	    10000
#define MAX_INPUT_LIST	    256

static const char policy_usage[] =
    "usage: jitgate policy check   [--incident-pattern RE] DIR\n"
    "       jitgate policy test    [--incident-pattern RE] DIR\n"
    "       jitgate policy explain [--incident-pattern RE] --input FILE DIR\n";

struct run {
	const char *file;
	struct jg_yamldoc *doc;
	const char *name; /* the case's name */
	size_t index;	  /* of the case; SIZE_MAX: an explain input, not a case */
	int problems;	  /* of the current case */
};

/* Builds a YAML path; paths here are short, a cut one only names a coarser line. */
static void path_fmt(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
path_fmt(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		out[0] = '\0';
}

static void report(struct run *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints "file:line: case 'name': message" for path (line of the case when unknown). */
static void
report(struct run *r, const char *path, const char *fmt, ...)
{
	char msg[1024], casepath[64];
	int line = jg_yamldoc_line(r->doc, path);
	va_list ap;

	if (line == 0 && r->index != SIZE_MAX) {
		path_fmt(casepath, sizeof(casepath), "[%zu]", r->index);
		line = jg_yamldoc_line(r->doc, casepath);
	}
	va_start(ap, fmt);
	/* a message cut at 1023 bytes still names the file, line and case */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->index == SIZE_MAX)
		fprintf(stderr, "%s:%d: %s\n", r->file, line, msg);
	else if (r->name != NULL)
		fprintf(stderr, "%s:%d: case '%s': %s\n", r->file, line, r->name, msg);
	else
		fprintf(stderr, "%s:%d: case #%zu: %s\n", r->file, line, r->index + 1, msg);
	r->problems++;
}

/* Refuses keys of obj not in allowed (NULL-terminated); true when all are known. */
static bool
known_keys(struct run *r, json_t *obj, const char *prefix, const char *const *allowed)
{
	const char *k;
	json_t *v;
	char path[256];

	json_object_foreach(obj, k, v)
	{
		size_t i = 0;
		while (allowed[i] != NULL && strcmp(allowed[i], k) != 0)
			i++;
		if (allowed[i] == NULL) {
			path_fmt(path, sizeof(path), "%s.%s", prefix, k);
			report(r, path, "unknown key '%s'", strchr(path, '.') + 1);
			return false;
		}
	}
	return true;
}

/* A list of strings as a borrowed array (the caller frees the array only). */
static bool
string_list(struct run *r, json_t *v, const char *path, const char ***out, size_t *n)
{
	size_t i;
	json_t *item;

	*out = NULL;
	*n = 0;
	if (v == NULL)
		return true;
	if (!json_is_array(v) || json_array_size(v) > MAX_INPUT_LIST) {
		report(r, path, "must be a list of at most %d strings", MAX_INPUT_LIST);
		return false;
	}
	*out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (*out == NULL) {
		report(r, path, "out of memory");
		return false;
	}
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item)) {
			report(r, path, "must be a list of strings");
			return false;
		}
		(*out)[i] = json_string_value(item);
		*n = i + 1;
	}
	return true;
}

static bool
same_set(const char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && strcmp(a[i], b[j]) != 0)
			j++;
		if (j == nb)
			return false;
	}
	return true;
}

static bool
duration_value(json_t *v, int64_t *secs)
{
	if (json_is_integer(v)) {
		*secs = json_integer_value(v);
		return true;
	}
	return json_is_string(v) && jg_policy_duration_parse(json_string_value(v), secs) == 0;
}

static void
check_requirements(struct run *r, json_t *want, const char *path,
		   const struct jg_policy_decision *d)
{
	static const char *const req_keys[] = {"groups",	   "users", "count", "rule",
					       "shared_approvers", NULL};
	char sub[256];
	size_t i;
	json_t *w;

	if (!json_is_array(want)) {
		report(r, path, "expect.requirements must be a list");
		return;
	}
	if (json_array_size(want) != d->nrequirements) {
		report(r, path, "expected %zu requirement(s), got %zu", json_array_size(want),
		       d->nrequirements);
		return;
	}
	json_array_foreach(want, i, w)
	{
		const struct jg_policy_requirement *q = &d->requirements[i];
		const char **groups = NULL, **users = NULL;
		size_t ng = 0, nu = 0;

		path_fmt(sub, sizeof(sub), "%s[%zu]", path, i);
		if (!json_is_object(w)) {
			report(r, sub, "a requirement must be a mapping");
			continue;
		}
		if (!known_keys(r, w, sub, req_keys))
			continue;
		if (string_list(r, json_object_get(w, "groups"), sub, &groups, &ng) &&
		    string_list(r, json_object_get(w, "users"), sub, &users, &nu)) {
			if (!same_set(groups, ng, q->groups, q->ngroups) ||
			    !same_set(users, nu, q->users, q->nusers))
				report(r, sub,
				       "requirement %zu: approvers differ (got those of %s)", i + 1,
				       q->rule);
		}
		free(groups);
		free(users);
		json_t *count = json_object_get(w, "count");
		if (count != NULL && !json_is_integer(count))
			report(r, sub, "requirement %zu: count must be an integer", i + 1);
		else if (count != NULL && json_integer_value(count) != q->count)
			report(r, sub, "requirement %zu: expected count %lld, got %d", i + 1,
			       (long long)json_integer_value(count), q->count);
		json_t *shared = json_object_get(w, "shared_approvers");
		if (shared != NULL && !json_is_boolean(shared))
			report(r, sub, "requirement %zu: shared_approvers must be true or false",
			       i + 1);
		else if (shared != NULL && json_is_true(shared) != q->shared)
			report(r, sub, "requirement %zu: expected shared_approvers %s, got %s",
			       i + 1, json_is_true(shared) ? "true" : "false",
			       q->shared ? "true" : "false");
		json_t *rule = json_object_get(w, "rule");
		if (rule != NULL &&
		    (!json_is_string(rule) || strcmp(json_string_value(rule), q->rule) != 0))
			report(r, sub, "requirement %zu: expected rule %s, got %s", i + 1,
			       json_is_string(rule) ? json_string_value(rule) : "(not a string)",
			       q->rule);
	}
}

static void
check_expect(struct run *r, json_t *expect, const char *base, const struct jg_policy_decision *d)
{
	char path[256];
	json_t *v;

	path_fmt(path, sizeof(path), "%s.decision", base);
	v = json_object_get(expect, "decision");
	const char *got = jg_policy_outcome_name(d->outcome);
	if (!json_is_string(v))
		report(r, path, "expect.decision must be deny, grant or pending");
	else if (strcmp(json_string_value(v), got) != 0)
		report(r, path, "expected decision %s, got %s%s%s%s", json_string_value(v), got,
		       d->reason ? " (" : "", d->reason ? d->reason : "", d->reason ? ")" : "");

	path_fmt(path, sizeof(path), "%s.reason_contains", base);
	if ((v = json_object_get(expect, "reason_contains")) != NULL) {
		if (!json_is_string(v))
			report(r, path, "expect.reason_contains must be a string");
		else if (d->reason == NULL || strstr(d->reason, json_string_value(v)) == NULL)
			report(r, path, "expected the reason to contain \"%s\", got \"%s\"",
			       json_string_value(v), d->reason ? d->reason : "");
	}

	path_fmt(path, sizeof(path), "%s.max_duration", base);
	if ((v = json_object_get(expect, "max_duration")) != NULL) {
		int64_t want;
		char a[32], b[32];
		if (!duration_value(v, &want)) {
			report(r, path, "expect.max_duration must be a duration such as 1h");
		} else if (want != d->max_duration) {
			jg_policy_duration_format(want, a, sizeof(a));
			jg_policy_duration_format(d->max_duration, b, sizeof(b));
			report(r, path, "expected max_duration %s, got %s", a,
			       d->max_duration > 0 ? b : "none");
		}
	}

	path_fmt(path, sizeof(path), "%s.max_total_duration", base);
	if ((v = json_object_get(expect, "max_total_duration")) != NULL) {
		int64_t want;
		char a[32], b[32];
		if (!duration_value(v, &want)) {
			report(r, path, "expect.max_total_duration must be a duration such as 8h");
		} else if (want != d->max_total_duration) {
			jg_policy_duration_format(want, a, sizeof(a));
			jg_policy_duration_format(d->max_total_duration, b, sizeof(b));
			report(r, path, "expected max_total_duration %s, got %s", a,
			       d->max_total_duration > 0 ? b : "none");
		}
	}

	path_fmt(path, sizeof(path), "%s.break_glass", base);
	if ((v = json_object_get(expect, "break_glass")) != NULL) {
		if (!json_is_boolean(v))
			report(r, path, "expect.break_glass must be true or false");
		else if (json_is_true(v) != d->break_glass)
			report(r, path, "expected break_glass %s, got %s",
			       json_is_true(v) ? "true" : "false",
			       d->break_glass ? "true" : "false");
	}

	path_fmt(path, sizeof(path), "%s.incident", base);
	if ((v = json_object_get(expect, "incident")) != NULL) {
		const char *want = json_is_null(v) ? "" : json_string_value(v);
		if (want == NULL)
			report(r, path, "expect.incident must be a string or null");
		else if (strcmp(want, d->incident) != 0)
			report(r, path, "expected incident \"%s\", got \"%s\"", want, d->incident);
	}

	path_fmt(path, sizeof(path), "%s.matched_rules", base);
	if ((v = json_object_get(expect, "matched_rules")) != NULL) {
		const char **want = NULL;
		size_t n = 0;
		if (string_list(r, v, path, &want, &n)) {
			bool same = n == d->nmatched;
			for (size_t i = 0; same && i < n; i++)
				same = strcmp(want[i], d->matched_rules[i]) == 0;
			if (!same) {
				char got_list[512] = "";
				size_t used = 0;
				for (size_t i = 0; i < d->nmatched && used < sizeof(got_list);
				     i++) {
					int w =
					    snprintf(got_list + used, sizeof(got_list) - used,
						     "%s%s", i ? ", " : "", d->matched_rules[i]);
					if (w < 0)
						break;
					used += (size_t)w;
				}
				report(r, path, "matched_rules differ: got [%s]", got_list);
			}
		}
		free(want);
	}

	path_fmt(path, sizeof(path), "%s.requirements", base);
	if ((v = json_object_get(expect, "requirements")) != NULL)
		check_requirements(r, v, path, d);
}

/* The request of an input mapping at path base; groups and caps are the caller's to free. */
static void
read_input(struct run *r, json_t *input, const char *base, struct jg_policy_request *req,
	   const char ***groups, const char ***caps)
{
	static const char *const input_keys[] = {"user",	 "groups",	    "service",
						 "capabilities", "duration",	    "justification",
						 "break_glass",	 "extension_total", NULL};
	char path[128];
	json_t *v;

	memset(req, 0, sizeof(*req));
	*groups = *caps = NULL;
	if (!known_keys(r, input, base, input_keys))
		return;
	if (!json_is_string(json_object_get(input, "user")) ||
	    !json_is_string(json_object_get(input, "service")) ||
	    !json_is_array(json_object_get(input, "capabilities")))
		report(r, base, "input needs user, service (strings) and capabilities (a list)");

	req->user = json_string_value(json_object_get(input, "user"));
	req->service = json_string_value(json_object_get(input, "service"));
	req->justification = json_string_value(json_object_get(input, "justification"));
	v = json_object_get(input, "break_glass");
	if (v != NULL && !json_is_boolean(v))
		report(r, base, "input.break_glass must be true or false");
	req->break_glass = json_is_true(v);
	path_fmt(path, sizeof(path), "%s.duration", base);
	v = json_object_get(input, "duration");
	if (v == NULL || !duration_value(v, &req->duration_seconds))
		report(r, path,
		       "input.duration must be a duration such as 1h (or integer seconds)");
	/* an extension: the total the grant would last with it (docs/policies.md, "Extensions") */
	path_fmt(path, sizeof(path), "%s.extension_total", base);
	v = json_object_get(input, "extension_total");
	if (v != NULL && !duration_value(v, &req->total_seconds))
		report(r, path, "input.extension_total must be a duration such as 2h");
	path_fmt(path, sizeof(path), "%s.groups", base);
	string_list(r, json_object_get(input, "groups"), path, groups, &req->ngroups);
	path_fmt(path, sizeof(path), "%s.capabilities", base);
	string_list(r, json_object_get(input, "capabilities"), path, caps, &req->ncaps);
	req->groups = *groups;
	req->capabilities = *caps;
}

/* Runs case i of the file; returns true when it passed. */
static bool
run_case(struct run *r, const struct jg_policy_set *set, json_t *c)
{
	static const char *const case_keys[] = {"name", "input", "expect", NULL};
	static const char *const expect_keys[] = {
	    "decision",	     "reason_contains",	   "requirements",
	    "max_duration",  "break_glass",	   "incident",
	    "matched_rules", "max_total_duration", NULL};
	struct jg_policy_request req = {0};
	struct jg_policy_decision d = {0};
	const char **groups = NULL, **caps = NULL;
	char base[64], path[128], expect_path[128];
	json_t *input, *expect, *v;

	r->problems = 0;
	r->name = NULL;
	path_fmt(base, sizeof(base), "[%zu]", r->index);
	if (!json_is_object(c)) {
		report(r, base, "a case must be a mapping {name, input, expect}");
		return false;
	}
	v = json_object_get(c, "name");
	if (json_is_string(v))
		r->name = json_string_value(v);
	else
		report(r, base, "missing the case's name");
	if (!known_keys(r, c, base, case_keys))
		return false;
	input = json_object_get(c, "input");
	expect = json_object_get(c, "expect");
	if (!json_is_object(input) || !json_is_object(expect)) {
		report(r, base, "a case needs the mappings input and expect");
		return false;
	}
	path_fmt(expect_path, sizeof(expect_path), "%s.expect", base);
	if (!known_keys(r, expect, expect_path, expect_keys))
		return false;
	if (json_object_get(expect, "decision") == NULL)
		report(r, expect_path, "missing expect.decision");
	path_fmt(path, sizeof(path), "%s.input", base);
	read_input(r, input, path, &req, &groups, &caps);

	if (r->problems == 0) {
		int rc = jg_policy_evaluate(set, &req, &d);
		if (rc != 0)
			report(r, base, "evaluation failed: %s", jg_strerror(rc));
		else
			check_expect(r, expect, expect_path, &d);
	}
	jg_policy_decision_clear(&d);
	free(groups);
	free(caps);
	return r->problems == 0;
}

static int
run_file(const char *file, const struct jg_policy_set *set, int *passed, int *failed)
{
	struct run r = {.file = file};
	char err[1024];
	size_t i;
	json_t *c;

	if (jg_yamldoc_load(file, MAX_TEST_FILE_BYTES, &r.doc, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		(*failed)++;
		return -1;
	}
	if (!json_is_array(r.doc->root) || json_array_size(r.doc->root) > MAX_CASES) {
		fprintf(stderr, "%s:1: a test file is a list of at most %d cases\n", file,
			MAX_CASES);
		(*failed)++;
		jg_yamldoc_free(r.doc);
		return -1;
	}
	json_array_foreach(r.doc->root, i, c)
	{
		r.index = i;
		if (run_case(&r, set, c))
			(*passed)++;
		else
			(*failed)++;
	}
	jg_yamldoc_free(r.doc);
	return 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted *.test.yaml names of dir (not starting with '.'); *n of them. */
static char **
test_files(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;

	*n = 0;
	if (d == NULL)
		return NULL;
	v = calloc(MAX_TEST_FILES + 1, sizeof(char *));
	while (v != NULL && (de = readdir(d)) != NULL && *n < MAX_TEST_FILES) {
		if (de->d_name[0] == '.' || !ends_with(de->d_name, ".test.yaml"))
			continue;
		if (asprintf(&v[*n], "%s/%s", dir, de->d_name) < 0) {
			v[*n] = NULL;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (v != NULL)
		qsort(v, *n, sizeof(char *), cmp_str);
	return v;
}

static int
load(const char *dir, const char *incident, struct jg_policy_set **set)
{
	size_t errlen = 16384;
	char *err = malloc(errlen);
	int rc;

	if (err == NULL)
		return JG_EXIT_RUNTIME;
	rc = jg_policy_set_load(dir, incident, set, err, errlen);
	if (rc != 0)
		fprintf(stderr, "%s\n", err[0] ? err : jg_strerror(rc));
	free(err);
	return rc == 0 ? 0 : JG_EXIT_RUNTIME;
}

static int
cmd_test(const char *dir, const struct jg_policy_set *set)
{
	size_t n = 0;
	char **files = test_files(dir, &n);
	int passed = 0, failed = 0;

	if (files == NULL) {
		fprintf(stderr, "jitgate policy test: cannot read %s: %s\n", dir, strerror(errno));
		return JG_EXIT_RUNTIME;
	}
	if (n == 0)
		fprintf(stderr, "jitgate policy test: no *.test.yaml files in %s\n", dir);
	for (size_t i = 0; i < n; i++) {
		run_file(files[i], set, &passed, &failed);
		free(files[i]);
	}
	free(files);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? JG_EXIT_OK : JG_EXIT_RUNTIME;
}

/* check: the set loaded; its warnings on stderr, its overlaps on stdout. */
static int
cmd_check(const struct jg_policy_set *set)
{
	json_t *findings = NULL, *f;
	size_t n = jg_policy_set_size(set), i, warnings = 0;
	int rc;

	printf("ok: %zu polic%s, sha256 %s\n", n, n == 1 ? "y" : "ies", jg_policy_set_sha256(set));
	if ((rc = jg_policy_set_lint(set, &findings)) != 0) {
		fprintf(stderr, "jitgate policy check: %s\n", jg_strerror(rc));
		return JG_EXIT_RUNTIME;
	}
	json_array_foreach(findings, i, f)
	{
		const char *kind = json_string_value(json_object_get(f, "kind")),
			   *msg = json_string_value(json_object_get(f, "message")),
			   *file = json_string_value(json_object_get(f, "file"));
		json_int_t line = json_integer_value(json_object_get(f, "line"));
		if (strcmp(kind, "overlap") == 0) {
			printf("overlap: %s\n", msg);
			continue;
		}
		warnings++;
		if (line > 0)
			fprintf(stderr, "%s:%lld: warning: %s\n", file, (long long)line, msg);
		else
			fprintf(stderr, "%s: warning: %s\n", file, msg);
	}
	if (warnings > 0)
		fprintf(stderr, "%zu warning%s\n", warnings, warnings == 1 ? "" : "s");
	json_decref(findings);
	return JG_EXIT_OK;
}

/* explain: one input (a case's input mapping, or a whole case) through jg_policy_explain. */
static int
cmd_explain(const char *file, const struct jg_policy_set *set)
{
	static const char *const case_keys[] = {"name", "input", "expect", NULL};
	struct run r = {.file = file, .index = SIZE_MAX};
	struct jg_policy_request req;
	struct jg_policy_decision d = {0};
	const char **groups = NULL, **caps = NULL;
	char err[1024], *text = NULL;
	const char *base = "";
	json_t *input;
	int rc = JG_EXIT_RUNTIME;

	if (jg_yamldoc_load(file, MAX_TEST_FILE_BYTES, &r.doc, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return JG_EXIT_RUNTIME;
	}
	input = r.doc->root;
	if (json_is_object(input) && json_object_get(input, "input") != NULL) {
		if (!known_keys(&r, input, "", case_keys))
			goto out;
		input = json_object_get(input, "input");
		base = "input";
	}
	if (!json_is_object(input)) {
		report(&r, base,
		       "the input must be a mapping {user, groups, service, capabilities, "
		       "duration, justification, break_glass} (or a test case holding one)");
		goto out;
	}
	read_input(&r, input, base, &req, &groups, &caps);
	if (r.problems > 0)
		goto out;
	int erc = jg_policy_explain(set, &req, &d, &text);
	if (erc != 0) {
		fprintf(stderr, "jitgate policy explain: %s\n", jg_strerror(erc));
		goto out;
	}
	rc = jg_cli_puts(stdout, text, JG_EXIT_OK);
out:
	free(text);
	jg_policy_decision_clear(&d);
	free(groups);
	free(caps);
	jg_yamldoc_free(r.doc);
	return rc;
}

int
jg_cmd_policy(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"incident-pattern", required_argument, NULL, 'i'},
	    {"input", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *incident = NULL, *input = NULL, *sub, *dir;
	struct jg_policy_set *set = NULL;
	int ch, rc;

	if (argc < 2)
		return jg_cli_puts(stderr, policy_usage, JG_EXIT_USAGE);
	sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
		return jg_cli_puts(stdout, policy_usage, JG_EXIT_OK);
	if (strcmp(sub, "check") != 0 && strcmp(sub, "test") != 0 && strcmp(sub, "explain") != 0) {
		fprintf(stderr, "jitgate policy: unknown subcommand '%s'\n", sub);
		return jg_cli_puts(stderr, policy_usage, JG_EXIT_USAGE);
	}
	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "i:f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i': incident = optarg; break;
		case 'f': input = optarg; break;
		case 'h': return jg_cli_puts(stdout, policy_usage, JG_EXIT_OK);
		default: return jg_cli_puts(stderr, policy_usage, JG_EXIT_USAGE);
		}
	}
	if (optind + 1 != argc - 1 || (input != NULL) != (strcmp(sub, "explain") == 0))
		return jg_cli_puts(stderr, policy_usage, JG_EXIT_USAGE);
	dir = argv[1 + optind];
	if ((rc = load(dir, incident, &set)) != 0)
		return rc;
	if (strcmp(sub, "check") == 0)
		rc = cmd_check(set);
	else if (strcmp(sub, "explain") == 0)
		rc = cmd_explain(input, set);
	else
		rc = cmd_test(dir, set);
	jg_policy_set_free(set);
	return rc;
}
