/*
 * guard_setup.c - a grant and a capability token for bench/guard.sh and
 * bench/telemetry.sh.
 *
 *   guard_setup CONFIG SERVICE [CAPABILITY]
 *
 * Asks for a one-day grant of CAPABILITY (default deploy-probe) on SERVICE
 * as the user "bench" (group "bench") through the access lifecycle
 * (jg_access_create, with the policies of CONFIG), then issues its token
 * through the token module (jg_token_issue_for_holder), exactly as
 * POST /v1/requests and POST /v1/grants/{id}/token would, and prints the
 * signed token.  The policy set must grant that at once (approval: none);
 * bench/run.sh writes such a policy for the services bench-*.  The
 * benchmark thus needs no identity provider and no approver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/cli.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/pii.h"
#include "jitgate/policy.h"
#include "jitgate/token.h"
#include "jitgate/token_issue.h"

#define GRANT_SECONDS 86400

int
main(int argc, char **argv)
{
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	struct jg_policy_set *policies = NULL;
	struct jg_token_keys *keys = NULL;
	struct jg_pii_keys *pii = NULL;
	struct jg_token_claims claims;
	json_t *body = NULL, *out = NULL;
	char err[1024] = "", why[512] = "", grant[64], *token = NULL;
	int rc = 1;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: guard_setup CONFIG SERVICE [CAPABILITY]\n");
		return 2;
	}
	const char *service = argv[2], *capability = argc == 4 ? argv[3] : "deploy-probe";
	if (jg_cli_open_audit(argv[1], "guard_setup", &cfg, &store, &audit) != 0)
		goto out;
	if (jg_policy_set_load(cfg->policy_dir, cfg->requests_incident_pattern, &policies, err,
			       sizeof(err)) != 0 ||
	    jg_token_keys_load(cfg->key_dir, &keys, err, sizeof(err)) != 0 ||
	    jg_pii_keys_load(cfg->key_dir, &pii, err, sizeof(err)) != 0) {
		fprintf(stderr, "guard_setup: %s\n", err);
		goto out;
	}
	static const char *const groups[] = {"bench"};
	const struct jg_access_caller bench = {
	    .actor = "user:bench", .sub = "bench", .groups = groups, .ngroups = 1};
	struct jg_access_ctx ctx = {.store = store,
				    .audit = audit,
				    .pii = pii,
				    .policies = policies,
				    .pending_ttl = cfg->requests_pending_expiry,
				    .now = jg_clock_now()};
	body =
	    json_pack("{s:s,s:[s],s:i,s:s}", "service", service, "capabilities", capability,
		      "duration", GRANT_SECONDS, "justification", "benchmark (bench/guard_setup)");
	if (body == NULL || jg_access_create(&ctx, &bench, body, &out, why, sizeof(why)) != 0) {
		fprintf(stderr, "guard_setup: the request was refused: %s\n", why);
		goto out;
	}
	const char *state = json_string_value(json_object_get(out, "state"));
	if (state == NULL || strcmp(state, "active") != 0) {
		fprintf(stderr,
			"guard_setup: the request is %s, not active: the policies of %s must grant "
			"%s on %s to the user bench at once (approval: none; see bench/run.sh)\n",
			state ? state : "?", cfg->policy_dir, capability, service);
		goto out;
	}
	snprintf(grant, sizeof(grant), "%s", json_string_value(json_object_get(out, "id")));
	struct jg_token_issuer issuer = {.audit = audit,
					 .keys = keys,
					 .issuer = cfg->public_url,
					 .lifetime = cfg->tokens_lifetime};
	/* the checked path the server takes: bench's groups must still qualify */
	const struct jg_token_holder holder = {.sub = bench.sub,
					       .actor = bench.actor,
					       .groups = groups,
					       .ngroups = 1,
					       .policies = policies};
	if (jg_token_issue_for_holder(&issuer, &holder, grant, jg_clock_now(), &claims, &token, why,
				      sizeof(why)) != 0) {
		fprintf(stderr, "guard_setup: no token: %s\n", why);
		goto out;
	}
	printf("%s\n", token);
	rc = 0;
out:
	if (token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	json_decref(body);
	json_decref(out);
	jg_token_keys_free(keys);
	jg_pii_keys_free(pii);
	jg_policy_set_free(policies);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}
