/*
 * guard_setup.c - a grant and a capability token for bench/guard.sh.
 *
 *   guard_setup CONFIG SERVICE [CAPABILITY]
 *
 * Writes an active one-day grant of CAPABILITY (default deploy-probe) for
 * SERVICE (requester "bench", id req_bench_SERVICE) and its token.issued
 * entry through the audit writer, exactly as POST /v1/grants/{id}/token
 * would after an approval, then prints the signed token.  The benchmark
 * thus needs no identity provider.  One grant per service and run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/audit.h"
#include "jitgate/cli.h"
#include "jitgate/token.h"

struct setup {
	const char *service, *capability;
	char grant[48];
	int64_t now;
	struct jg_token_claims claims; /* the token's, but its anchor */
	struct jg_audit_receipt receipt;
};

static const char sql_grant[] =
    "INSERT INTO access_requests (id, requester, requester_groups, service, capabilities, "
    "duration, justification, incident, break_glass, state, decision, policy_sha256, created_at, "
    "approved_at, expires_at) VALUES (?, 'bench', '[]', ?, json_array(?), 86400, "
    "'benchmark', '', 0, 'active', '{}', '', ?, ?, ?)";

static int
setup_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct setup *s = ctx;
	struct jg_stmt *st;
	if (jg_stmt_prepare(jg_audit_tx_conn(tx), sql_grant, &st) != 0)
		return -1;
	jg_stmt_bind_text(st, 1, s->grant);
	jg_stmt_bind_text(st, 2, s->service);
	jg_stmt_bind_text(st, 3, s->capability);
	jg_stmt_bind_int64(st, 4, s->now);
	jg_stmt_bind_int64(st, 5, s->now);
	jg_stmt_bind_int64(st, 6, s->now + 86400);
	int rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : -1;
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;
	/* the entry the guard requires of the token (api_tokens.c writes the same) */
	json_t *data = jg_token_issued_data(&s->claims);
	if (data == NULL)
		return -1;
	rc = jg_audit_tx_append(tx, "token.issued", "user:bench", data, &s->receipt);
	json_decref(data);
	return rc;
}

int
main(int argc, char **argv)
{
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	struct jg_token_keys *keys = NULL;
	char err[512], *token = NULL;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: guard_setup CONFIG SERVICE [CAPABILITY]\n");
		return 2;
	}
	struct setup s = {.service = argv[2],
			  .capability = argc == 4 ? argv[3] : "deploy-probe",
			  .now = (int64_t)time(NULL)};
	snprintf(s.grant, sizeof(s.grant), "req_bench_%s", s.service);
	struct jg_token_claims *c = &s.claims;
	c->iat = c->nbf = s.now;
	c->exp = s.now + 3600;
	c->ncaps = 1;
	snprintf(c->sub, sizeof(c->sub), "bench");
	snprintf(c->aud, sizeof(c->aud), "%s", s.service);
	snprintf(c->jti, sizeof(c->jti), "tok_bench_%s", s.service);
	snprintf(c->grant, sizeof(c->grant), "%s", s.grant);
	snprintf(c->caps[0], sizeof(c->caps[0]), "%s", s.capability);
	if (jg_cli_open_audit(argv[1], "guard_setup", &cfg, &store, &audit) != 0 ||
	    jg_audit_run(audit, setup_fn, &s) != 0 ||
	    jg_token_keys_load(cfg->key_dir, &keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "guard_setup: cannot prepare the grant\n");
		return 1;
	}
	c->audit_seq = s.receipt.seq;
	memcpy(c->audit_hash, s.receipt.hash, 32);
	snprintf(c->iss, sizeof(c->iss), "%s", cfg->public_url);
	if (jg_token_issue(keys, c, &token) != 0)
		return 1;
	printf("%s\n", token);
	free(token);
	jg_token_keys_free(keys);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return 0;
}
