/*
 * web_session.c - a signed-in browser session for bench/web_logs.sh.
 *
 *   web_session CONFIG USER GROUP
 *
 * Opens a session for USER (subject USER, one group GROUP) with the
 * function a completed browser sign-in ends with (jg_login_open_session):
 * the session row (which also records the groups seen) and its auth.login
 * audit entry in one audit transaction, with the session lifetime of
 * CONFIG.  It prints the session cookie's value.  The benchmark thus needs no identity provider,
 * and the server reads the session exactly as it reads a browser's: the
 * debugging pages see a signed-in person, mint and keep their token as
 * for anyone.  The entry says "via": "bench" (not "browser"): the log of a
 * benchmark run tells the truth about how the session came to be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/audit.h"
#include "jitgate/cli.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/login.h"

int
main(int argc, char **argv)
{
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	struct jg_identity id = {0};
	char token[JG_SESSION_TOKEN_LEN + 1] = {0};
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: web_session CONFIG USER GROUP\n");
		return 2;
	}
	if (strlen(argv[2]) >= sizeof(id.sub) || strlen(argv[3]) > 256) {
		fprintf(stderr, "web_session: USER or GROUP is too long\n");
		return 2;
	}
	if (jg_cli_open_audit(argv[1], "web_session", &cfg, &store, &audit) != 0)
		goto out;
	snprintf(id.sub, sizeof(id.sub), "%s", argv[2]);
	snprintf(id.name, sizeof(id.name), "%s (benchmark)", argv[2]);
	snprintf(id.via, sizeof(id.via), "session");
	if ((id.groups[0] = strdup(argv[3])) == NULL)
		goto out;
	id.ngroups = 1;
	if (jg_login_open_session(audit, &id, jg_clock_now(), cfg->auth_session_lifetime, "bench",
				  token) != 0) {
		fprintf(stderr,
			"web_session: the session and its auth.login entry were not written\n");
		goto out;
	}
	printf("%s\n", token);
	rc = 0;
out:
	OPENSSL_cleanse(token, sizeof(token));
	jg_identity_clear(&id);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}
