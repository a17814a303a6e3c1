/*
 * policy.h - capability policies: loading, validation and evaluation.
 *
 * A policy set is every *.yaml file of one directory (format and
 * evaluation rules: docs/policies.md).  Loading validates everything and
 * refuses the whole set on the first problem of each file, naming file and
 * line, so a set that loads is one whose every rule can match.  A loaded
 * set is immutable: any number of threads may evaluate against it at once;
 * a reload builds a new set.
 *
 * Evaluation turns a request {user, groups, service, capabilities,
 * duration, justification, break_glass} into one decision: deny with a
 * reason, grant, or pending with the approval requirements that must all
 * be met.  Every applicable policy with a rule for a requested capability
 * contributes to it (docs/policies.md, "Evaluation"), so a policy added for
 * one service can only make access to it stricter.  It is pure: no clock,
 * no I/O.  Who may approve is listed in the requirements; the access
 * lifecycle records approvals and asks jg_policy_match() which
 * requirements they meet (one person toward one requirement, unless both
 * share approvers); the requester never approves their own request.
 */
#ifndef JITGATE_POLICY_H
#define JITGATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define JG_POLICY_MAX_FILE_BYTES	 (256 * 1024) /* one policy file */
#define JG_POLICY_MAX_FILES		 1000	      /* policy files in a directory */
#define JG_POLICY_MAX_RULES		 256	      /* rules, and deny rules, per policy */
#define JG_POLICY_MAX_LIST		 256 /* entries of any list (services, groups...) */
#define JG_POLICY_MAX_NAME		 256 /* bytes of a group, user or service glob */
#define JG_POLICY_MAX_PATTERN		 256 /* bytes of a regular expression */
#define JG_POLICY_MAX_COUNT		 100 /* approvals one requirement may ask for */
#define JG_POLICY_MAX_DURATION		 (30 * 86400) /* seconds; the longest max_duration */
#define JG_POLICY_DEFAULT_SCHEDULE_AHEAD (7 * 86400)  /* a rule's max_schedule_ahead if unset */
#define JG_POLICY_MAX_JUSTIFICATION	 4096	      /* bytes of a request's justification */
#define JG_POLICY_MAX_REQUEST_CAPS	 32	      /* entries of a request's capability list */
#define JG_POLICY_MAX_REQUIREMENTS	 32	      /* approval requirements of one decision */
#define JG_POLICY_INCIDENT_MAX		 64	      /* bytes of an extracted incident id */
#define JG_POLICY_DEFAULT_INCIDENT	 "[A-Z][A-Z0-9]+-[0-9]+"
/* the bounds of a rule's probe_budget (docs/policies.md, "Probe budgets") */
#define JG_POLICY_MAX_BUDGET_PROBES 1000
#define JG_POLICY_MAX_BUDGET_HITS   1000000
#define JG_POLICY_MAX_BUDGET_BYTES  (1024LL * 1024 * 1024)

/*
 * What a grant of deploy-probe may spend on probes (docs/policies.md,
 * "Probe budgets"): each member 0 when nothing bounds it.  max_probes
 * counts every probe deployed on the grant (deleted ones included),
 * max_hits the events stored over all its probes, max_bytes the bytes of
 * those events' texts.
 */
struct jg_policy_probe_budget {
	int64_t max_probes, max_hits, max_bytes;
};

struct jg_policy_set;

struct jg_policy_request {
	const char *user;	   /* the requester's identity, compared exactly */
	const char *const *groups; /* the requester's groups */
	size_t ngroups;
	const char *service;		 /* the service access is asked for */
	const char *const *capabilities; /* names, e.g. "read-logs"; duplicates are merged */
	size_t ncaps;
	int64_t duration_seconds;  /* asked-for duration; never shortened */
	const char *justification; /* may be NULL (as "") */
	bool break_glass;
	/*
	 * > 0: the request is an extension of a grant (docs/policies.md,
	 * "Extensions"), and this is the grant's total length if it were
	 * granted (new end - activation): it is checked against the rules'
	 * max_total_duration instead of duration_seconds against max_duration.
	 * Break-glass is never extended (break_glass must be false).
	 */
	int64_t total_seconds;
	/* seconds from now to the asked-for start (starts_at); 0: at once (on approval) */
	int64_t starts_in;
};

enum jg_policy_outcome { JG_POLICY_DENY, JG_POLICY_GRANT, JG_POLICY_PENDING };

/* One approval requirement: count distinct approvers, each in a group or listed. */
struct jg_policy_requirement {
	char **groups; /* approver groups */
	size_t ngroups;
	char **users; /* approver users */
	size_t nusers;
	int count;   /* approvals needed, >= 1 */
	char *rule;  /* the rule it comes from, e.g. "payments-debug#rules[1]" (of merged
			rules, the one whose count binds) */
	bool shared; /* approval.shared_approvers of every rule merged into it */
};

/*
 * A decision owns all its strings (it outlives a policy reload); release
 * them with jg_policy_decision_clear().
 */
struct jg_policy_decision {
	enum jg_policy_outcome outcome;
	char *reason;				    /* why, when denied; NULL otherwise */
	struct jg_policy_requirement *requirements; /* all must be met (pending) */
	size_t nrequirements;
	int64_t max_duration; /* effective maximum in seconds; 0 when not determined */
	/* of an extension (total_seconds > 0): the effective max_total_duration; else 0 */
	int64_t max_total_duration;
	/* the smallest max_schedule_ahead of the rules used, when the request asked for a
	   later start (starts_in > 0); 0 otherwise */
	int64_t max_schedule_ahead;
	char **matched_rules; /* the rules that decided, e.g. "payments-debug#rules[0]" */
	size_t nmatched;
	/* the smallest of each member of the probe_budget of the rules used for deploy-probe;
	   all 0 when none sets one (or deploy-probe is not asked for) */
	struct jg_policy_probe_budget probe_budget;
	bool break_glass;			   /* granted through break_glass */
	char incident[JG_POLICY_INCIDENT_MAX + 1]; /* from the justification; "" when none */
	char policy_sha256[65];			   /* the set's hash (hex) */
};

/*
 * Loads and validates every policy file of dir (see docs/policies.md for
 * which files).  incident_pattern is the POSIX ERE that finds an incident
 * or ticket id in a justification; NULL means JG_POLICY_DEFAULT_INCIDENT.
 * On failure returns JG_ECONFIG (or JG_EIO, JG_ETOOBIG, JG_ENOMEM) and
 * writes to err one line "file:line: reason" per refused file (at most 20,
 * newline-separated, no final newline).  On success *out is the caller's,
 * freed with jg_policy_set_free().
 */
int jg_policy_set_load(const char *dir, const char *incident_pattern, struct jg_policy_set **out,
		       char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * The same for the bytes of one policy file (buf, len; at most
 * JG_POLICY_MAX_FILE_BYTES), named name in messages and the set hash: a
 * set of that one policy.  For tests and fuzzing; serve reads directories.
 */
int jg_policy_set_parse(const char *name, const char *buf, size_t len, const char *incident_pattern,
			struct jg_policy_set **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void jg_policy_set_free(struct jg_policy_set *set);

/* The set's SHA-256 as 64 lowercase hex digits; owned by set. */
const char *jg_policy_set_sha256(const struct jg_policy_set *set);

/* The number of policies in the set. */
size_t jg_policy_set_size(const struct jg_policy_set *set);

/*
 * Evaluates req against set and fills *out (which the caller clears with
 * jg_policy_decision_clear(), also after a failure).  A request that is
 * malformed (unknown capability, duration <= 0, ...) gets a deny decision
 * and 0.  Returns JG_EINVAL when an argument is NULL, JG_ENOMEM; on any
 * failure *out is a deny without requirements, so a caller that ignores
 * the code still fails closed.
 */
int jg_policy_evaluate(const struct jg_policy_set *set, const struct jg_policy_request *req,
		       struct jg_policy_decision *out) __attribute__((warn_unused_result));

/*
 * jg_policy_evaluate() that also tells why: *text (the caller's, free())
 * is the evaluation step by step (docs/policies.md, "Explaining a
 * decision"), one line per fact, ending with the decision.  *out is the
 * very decision jg_policy_evaluate() gives.  Returns as it does; *text is
 * NULL on failure.
 */
int jg_policy_explain(const struct jg_policy_set *set, const struct jg_policy_request *req,
		      struct jg_policy_decision *out, char **text)
    __attribute__((warn_unused_result));

/*
 * What `jitgate policy check` reports beyond validity (docs/policies.md,
 * "Checking policies"): a new JSON array (the caller's, json_decref) of
 * findings, each {"kind", "file", "line", "policy", "message"} plus
 *   "unused":    a rule or break_glass (with "rule" and "capabilities") that
 *                can never decide those capabilities, for any requester;
 *   "unapprovable": a rule (with "rule", "requester") that can never be
 *                approved when that requester asks;
 *   "never_applies": a policy whose service globs match no valid service name;
 *   "overlap":   two policies (with "other" and "service", a name both apply to).
 * Every finding is true; the check does not find every unusable rule (the
 * document says which it looks for).  Returns 0 or JG_ENOMEM.
 */
int jg_policy_set_lint(const struct jg_policy_set *set, json_t **out)
    __attribute__((warn_unused_result));

/*
 * Separation of duties: which approvals count toward which requirements.
 *
 * The approvers of one request, in the order they approved, each with the
 * requirements they were eligible for (bit k: requirement k).  A person
 * counts toward at most one requirement, or toward several when every one
 * of them is shared (approval.shared_approvers).  jg_policy_match() finds
 * an assignment that meets as much as possible - the sum over requirements
 * of min(count, approvals counted) - by maximum bipartite matching,
 * computed afresh from the whole list, so an earlier approval may move to
 * another requirement to make room (docs/policies.md, "Separation of
 * duties").  It is pure and deterministic: the same list gives the same
 * assignment.
 */
#define JG_POLICY_MAX_APPROVERS (JG_POLICY_MAX_REQUIREMENTS * JG_POLICY_MAX_COUNT)

struct jg_policy_match {
	/* in */
	size_t nreq;		  /* <= JG_POLICY_MAX_REQUIREMENTS */
	const int *count;	  /* per requirement, 1..JG_POLICY_MAX_COUNT */
	const bool *shared;	  /* per requirement */
	size_t napprovers;	  /* <= JG_POLICY_MAX_APPROVERS */
	const uint32_t *eligible; /* per approver */
	/* out */
	uint32_t *counted; /* the caller's array of napprovers: what each one counts toward */
	int approved[JG_POLICY_MAX_REQUIREMENTS]; /* per requirement, at most its count */
	int total;				  /* the sum of approved[] */
	int needed;				  /* the sum of count[] */
	bool met;				  /* total == needed */
	bool exact; /* false: too many approvers to choose between shared and single use
		       exactly; the assignment is valid but may meet less than possible */
};

/* Fills the out fields of *m.  JG_EINVAL for a count out of range or too many entries. */
int jg_policy_match_run(struct jg_policy_match *m) __attribute__((warn_unused_result));

/* Frees what *d owns and zeroes it (outcome DENY).  NULL is a no-op. */
void jg_policy_decision_clear(struct jg_policy_decision *d);

/*
 * True when user, or one of groups, is an eligible approver for req.  Does
 * not know who requested: the caller refuses the requester itself.
 */
bool jg_policy_can_approve(const struct jg_policy_requirement *req, const char *user,
			   const char *const *groups, size_t ngroups)
    __attribute__((warn_unused_result));

/*
 * The decision as a JSON object (docs/policies.md, "Decisions"); *out is
 * the caller's (json_decref).  Returns 0, JG_ENOMEM or JG_EINVAL.
 */
int jg_policy_decision_to_json(const struct jg_policy_decision *d, json_t **out);

/*
 * A probe budget as JSON, {max_probes, max_hits, max_bytes} with null for a
 * member that is 0 (caller decrefs; NULL when out of memory); and back:
 * jg_policy_probe_budget_parse reads such an object (NULL or null: no
 * budget, all 0) into *b, 0 or JG_EINVAL (a member not an integer within
 * its bound; *b all 0).
 */
json_t *jg_policy_probe_budget_json(const struct jg_policy_probe_budget *b);
int jg_policy_probe_budget_parse(const json_t *v, struct jg_policy_probe_budget *b);
/*
 * The budget in words into out (len bytes, 80 suffice): "at most 3 probes,
 * 500 hits, 1 MiB" (members that are 0 left out; bytes as whole MiB or KiB
 * when they are); "none" when every member is 0.
 */
void jg_policy_probe_budget_text(const struct jg_policy_probe_budget *b, char *out, size_t len);

/* "deny", "grant" or "pending". */
const char *jg_policy_outcome_name(enum jg_policy_outcome outcome);

/* True when name is one of the capabilities (read-logs, read-traces, ...). */
bool jg_policy_capability_known(const char *name);

/* True when some policy of the set applies to service (its globs match). */
bool jg_policy_service_known(const struct jg_policy_set *set, const char *service);

/*
 * The reminder and escalation settings of the policy named `policy`
 * (docs/notifications.md); 0 and NULL when it sets none or is not in set.
 * *escalate_to is owned by set.
 */
void jg_policy_escalation(const struct jg_policy_set *set, const char *policy,
			  int64_t *remind_after, int64_t *escalate_after, const char **escalate_to);

/*
 * Who reviews break-glass grants on service (jg_policy_can_review): the
 * approvers of every rule of the policies that apply, as
 * {"groups":[...],"users":[...]}.  The caller decrefs; NULL when out of memory.
 */
json_t *jg_policy_reviewers(const struct jg_policy_set *set, const char *service);

/*
 * True when (user, groups) may review a break-glass grant on service: an
 * approver of any rule of a policy that applies to the service (who could
 * have approved such access the normal way).  The requester is excluded by
 * the caller.
 */
bool jg_policy_can_review(const struct jg_policy_set *set, const char *service, const char *user,
			  const char *const *groups, size_t ngroups);

/*
 * True when (user, groups) is a break-glass requester of some policy (the web
 * form offers break-glass only then; the evaluation still decides per service).
 */
bool jg_policy_can_break_glass(const struct jg_policy_set *set, const char *user,
			       const char *const *groups, size_t ngroups);

/*
 * Parses a duration: one or more <digits><unit> with units d, h, m, s in
 * that order, each at most once ("30s", "15m", "1h30m", "2d").  The total
 * must be between 1 second and JG_POLICY_MAX_DURATION.  Returns 0 and
 * *secs, or JG_EINVAL (*secs untouched).
 */
int jg_policy_duration_parse(const char *s, int64_t *secs);

/* Formats secs (> 0) the way jg_policy_duration_parse reads it: "1h30m". */
void jg_policy_duration_format(int64_t secs, char *buf, size_t len);

#endif
