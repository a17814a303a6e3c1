/*
 * fuzz_policy_yaml.c - a policy file from a buffer (jg_policy_set_parse in
 * policy_load.c: yamldoc, the field tables, the typed readers, the regular
 * expressions), then evaluation of a few requests against what loaded
 * (policy_eval.c) and the decisions as JSON; the same requests explained
 * (jg_policy_explain) and the set linted (policy_lint.c: globs cut into
 * tokens and intersected).
 *
 * Beyond memory safety: a refusal says why; a set that loads evaluates
 * every request to a decision that encodes, a pending decision lists
 * requirements of at least one approval each, and no decision other than a
 * denial allows less than was asked (durations are never cut); an
 * explanation ends with the very decision evaluation gives; every overlap
 * the lint names is a service both policies' globs match (one policy
 * here, so none).
 */
#include "fuzz_common.h"
#include "jitgate/policy.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static const char *const g_eng[] = {"payments-eng", "sre-oncall"};
static const char *const caps_logs[] = {"read-logs"};
static const char *const caps_all[] = {"read-logs", "read-traces", "read-metrics", "deploy-probe",
				       "read-pii"};

static void
evaluate(const struct jg_policy_set *set, const struct jg_policy_request *req)
{
	struct jg_policy_decision d;
	json_t *out = NULL;

	FUZZ_CHECK(jg_policy_evaluate(set, req, &d) == 0);
	if (d.outcome == JG_POLICY_PENDING) {
		FUZZ_CHECK(d.nrequirements > 0);
		for (size_t i = 0; i < d.nrequirements; i++)
			FUZZ_CHECK(d.requirements[i].count >= 1);
	}
	if (d.outcome != JG_POLICY_DENY)
		FUZZ_CHECK(d.max_duration >= req->duration_seconds);
	FUZZ_CHECK(jg_policy_decision_to_json(&d, &out) == 0);
	char *text = json_dumps(out, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	free(text);
	json_decref(out);
	for (size_t i = 0; i < d.nrequirements; i++)
		(void)jg_policy_can_approve(&d.requirements[i], "bob", g_eng, 2);

	struct jg_policy_decision e;
	json_t *again = NULL;
	char *why = NULL;
	FUZZ_CHECK(jg_policy_explain(set, req, &e, &why) == 0 && why != NULL);
	FUZZ_CHECK(strstr(why, "decision: ") != NULL);
	FUZZ_CHECK(jg_policy_decision_to_json(&d, &out) == 0);
	FUZZ_CHECK(jg_policy_decision_to_json(&e, &again) == 0);
	FUZZ_CHECK(json_equal(out, again));
	json_decref(out);
	json_decref(again);
	free(why);
	jg_policy_decision_clear(&e);
	jg_policy_decision_clear(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_policy_set *set = NULL;
	char err[4096] = "";

	int rc = jg_policy_set_parse("fuzz.yaml", (const char *)data, size, NULL, &set, err,
				     sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(set == NULL && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(jg_policy_set_size(set) == 1 && strlen(jg_policy_set_sha256(set)) == 64);
	static const char *const services[] = {"payment-api", "checkout-web", "x"};
	for (size_t s = 0; s < 3; s++) {
		struct jg_policy_request a = {.user = "alice",
					      .groups = g_eng,
					      .ngroups = 2,
					      .service = services[s],
					      .capabilities = caps_logs,
					      .ncaps = 1,
					      .duration_seconds = 3600,
					      .justification = "INC-1234 checkout latency spike"};
		evaluate(set, &a);
		struct jg_policy_request b = a;
		b.capabilities = caps_all;
		b.ncaps = 5;
		b.duration_seconds = 600;
		b.break_glass = true;
		evaluate(set, &b);
		(void)jg_policy_service_known(set, services[s]);
		(void)jg_policy_can_review(set, services[s], "bob", g_eng, 2);
	}
	json_t *findings = NULL;
	FUZZ_CHECK(jg_policy_set_lint(set, &findings) == 0 && json_is_array(findings));
	size_t i;
	json_t *f;
	json_array_foreach(findings, i, f)
	{
		FUZZ_CHECK(json_is_string(json_object_get(f, "message")));
		FUZZ_CHECK(strcmp(json_string_value(json_object_get(f, "kind")), "overlap") != 0);
	}
	json_decref(findings);
	jg_policy_set_free(set);
	return 0;
}
