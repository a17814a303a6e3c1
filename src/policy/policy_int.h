/*
 * policy_int.h - the in-memory form of a loaded policy set, shared by
 * policy_load.c (which builds it) and policy_eval.c (which reads it).
 * Not a public interface: other modules use include/jitgate/policy.h.
 *
 * Everything here is immutable once jg_policy_set_load() returns.
 */
#ifndef JITGATE_POLICY_INT_H
#define JITGATE_POLICY_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jitgate/policy.h"

/* The capabilities, as bits of a mask; the order is the evaluation order. */
#define NCAPS 5
extern const char *const jg_policy_cap_names[NCAPS];

struct strlist {
	char **v;
	size_t n;
};

/* Who a rule is for: anyone in one of groups, or one of users. */
struct who {
	struct strlist groups;
	struct strlist users;
};

struct justification {
	bool present;
	bool has_pattern;
	regex_t re; /* REG_EXTENDED | REG_NOSUB; valid when has_pattern */
	char *pattern;
	int64_t min_length; /* in characters (UTF-8 code points) */
};

struct rule {
	char *id; /* "policy#rules[i]" */
	int line; /* in the policy file */
	unsigned caps;
	struct who requesters;
	int64_t max_duration;
	int64_t max_total_duration; /* with extensions; max_duration when not set */
	int64_t max_schedule_ahead; /* how far ahead its grants may start (default 7 days) */
	bool approval_none;
	struct who approvers; /* when !approval_none */
	int count;
	bool shared; /* approval.shared_approvers */
	struct justification just;
	struct jg_policy_probe_budget budget; /* probe_budget; all 0 when not set */
};

struct deny_rule {
	char *id; /* "policy#deny[i]" */
	int line;
	unsigned caps;
	struct who requesters;
};

struct break_glass {
	bool present;
	char *id; /* "policy#break_glass" */
	int line;
	unsigned caps; /* all capabilities when the key is absent */
	struct who requesters;
	int64_t max_duration;
	struct justification just;
};

struct policy {
	char *name;
	char *file; /* dir/name.yaml */
	struct strlist services;
	struct rule *rules;
	size_t nrules;
	struct deny_rule *denies;
	size_t ndenies;
	struct break_glass bg;
	/* notifications for pending requests (0 / NULL: not set) */
	int64_t remind_after, escalate_after;
	char *escalate_to; /* a group */
};

struct jg_policy_set {
	struct policy *policies; /* sorted by name */
	size_t n;
	char sha256[65];
	regex_t incident; /* REG_EXTENDED */
	bool has_incident;
};

/* The bit of a capability name, or 0 when unknown. */
unsigned jg_policy_cap_bit(const char *name);

/* True when service matches one of p's globs. */
bool jg_policy_applies(const struct policy *p, const char *service);

/* True when the requester (user, groups) is one of w. */
bool jg_policy_who_matches(const struct who *w, const char *user, const char *const *groups,
			   size_t ngroups);

#endif
