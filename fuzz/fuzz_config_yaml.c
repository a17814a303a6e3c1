/*
 * fuzz_config_yaml.c - jitgate.yaml from a buffer (jg_config_parse in
 * config.c, on top of yamldoc.c and libyaml).
 *
 * Beyond memory safety: a refusal comes with a message; an accepted
 * configuration has every value the rest of jitgate reads without checking
 * again (public_url https:// without a trailing slash, a listen port, the
 * oidc strings, each limit within its range).
 */
#include "fuzz_common.h"
#include "jitgate/config.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_config *cfg = NULL;
	char err[1024] = "";

	int rc = jg_config_parse((const char *)data, size, "fuzz.yaml", "/etc/jitgate", &cfg, err,
				 sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(cfg == NULL && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(cfg != NULL);
	FUZZ_CHECK(strncmp(cfg->public_url, "https://", 8) == 0 && strlen(cfg->public_url) > 8 &&
		   cfg->public_url[strlen(cfg->public_url) - 1] != '/');
	FUZZ_CHECK(cfg->listen_host != NULL && cfg->listen_port > 0);
	FUZZ_CHECK(cfg->tls_cert_file != NULL && cfg->tls_key_file != NULL);
	FUZZ_CHECK(cfg->database_path != NULL && cfg->key_dir != NULL && cfg->policy_dir != NULL);
	FUZZ_CHECK(cfg->oidc_issuer != NULL && cfg->oidc_client_id != NULL &&
		   cfg->oidc_audience != NULL && cfg->oidc_groups_claim != NULL);
	FUZZ_CHECK(cfg->audit_origin != NULL);
	FUZZ_CHECK(cfg->limits.max_body_bytes >= 1024 && cfg->limits.max_body_bytes <= (64 << 20));
	FUZZ_CHECK(cfg->limits.max_connections >= 1 && cfg->limits.max_connections <= 10000);
	FUZZ_CHECK(cfg->tokens_lifetime >= 10 && cfg->tokens_lifetime <= 86400);
	FUZZ_CHECK(cfg->auth_admin_groups != NULL && cfg->auth_auditor_groups != NULL);
	jg_config_free(cfg);
	return 0;
}
