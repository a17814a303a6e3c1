/*
 * fuzz_http_request.c - the body of POST /v1/requests (and ?dry_run=true):
 * jg_http_body_json, then the request check and policy evaluation of
 * access.c (jg_access_dry_run: parse_new, jg_policy_evaluate, the decision
 * as JSON) against the example policies in policies/.  Creating for real
 * runs the same parse_new before it touches the store.  The bodies of
 * deny/review/revoke are one optional string each ("reason", "note"),
 * read with json_string_value and length-checked in access.c: the JSON
 * parse here is theirs too.
 *
 * The caller is picked from the input length among the example users, so
 * grants, pending decisions and denials are all reached.
 *
 * Beyond memory safety: a refusal has a reason that makes a valid JSON
 * error reply; an evaluation gives a decision whose JSON names it ("decision"),
 * and a decision that is not a denial never allows more than its maximum.
 */
#include "fuzz_common.h"
#include "jitgate/access.h"
#include "jitgate/error.h"

static struct jg_policy_set *policies;

static const char *const g_eng[] = {"payments-eng"};
static const char *const g_dave[] = {"contractors", "payments-eng"};
static const char *const g_frank[] = {"sre-oncall"};
static const struct jg_access_caller callers[] = {
    {.actor = "user:alice", .sub = "alice", .groups = g_eng, .ngroups = 1},
    {.actor = "user:dave", .sub = "dave", .groups = g_dave, .ngroups = 2},
    {.actor = "user:frank", .sub = "frank", .groups = g_frank, .ngroups = 1},
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[2048];
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (jg_policy_set_load("policies", NULL, &policies, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_http_request: policies/: %s (run from the repository root)\n",
			err);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_http_reply reply = {0};
	json_t *body = NULL, *out = NULL;
	char why[512] = "";

	if (fuzz_body_json(data, size, &reply, &body) == 0) {
		struct jg_access_ctx ctx = {
		    .policies = policies, .pending_ttl = 86400, .now = 1700000000};
		const struct jg_access_caller *caller = &callers[size % 3];
		int rc = jg_access_dry_run(&ctx, caller, body, &out, why, sizeof(why));
		if (rc != 0) {
			FUZZ_CHECK(rc == JG_EINVAL && out == NULL && why[0] != '\0');
			/* the reply api_requests.c sends */
			jg_http_reply_error(&reply, 400, "bad_request", "%s", why);
			fuzz_check_error_reply(&reply);
		} else {
			const char *outcome = json_string_value(json_object_get(out, "decision"));
			FUZZ_CHECK(outcome != NULL);
			char *text = json_dumps(out, JSON_COMPACT);
			FUZZ_CHECK(text != NULL);
			free(text);
			if (strcmp(outcome, "deny") != 0) {
				json_t *max = json_object_get(out, "max_duration");
				json_t *d = json_object_get(body, "duration");
				int64_t asked = 0;
				if (json_is_integer(d))
					asked = json_integer_value(d);
				else
					FUZZ_CHECK(jg_policy_duration_parse(json_string_value(d),
									    &asked) == 0);
				FUZZ_CHECK(!json_is_integer(max) ||
					   asked <= json_integer_value(max));
			}
		}
	}
	json_decref(out);
	json_decref(body);
	fuzz_reply_clear(&reply);
	return 0;
}
