/*
 * web_session.c - a signed-in browser session for bench/web_logs.sh.
 *
 *   web_session CONFIG USER GROUP
 *
 * Opens a session for USER (subject USER, one group GROUP) as a completed
 * browser sign-in does once the identity provider's ID token has verified
 * (login.c, jg_login_finish): the session row (jg_session_put, which also
 * records the groups seen) and its auth.login audit entry in one audit
 * transaction, with the session lifetime of CONFIG.  It prints the
 * session cookie's value.  The benchmark thus needs no identity provider,
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
#include "jitgate/session.h"

struct signin {
	const struct jg_identity *id;
	int64_t now, lifetime;
	char token[JG_SESSION_TOKEN_LEN + 1];
	char csrf[JG_SESSION_TOKEN_LEN + 1];
};

static int
signin_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct signin *s = vctx;
	char actor[300];
	int rc =
	    jg_session_put(jg_audit_tx_conn(tx), s->id, s->now, s->lifetime, s->token, s->csrf);
	if (rc != 0)
		return rc;
	snprintf(actor, sizeof(actor), "user:%s", s->id->sub);
	json_t *data = json_pack("{s:s}", "via", "bench");
	rc = jg_audit_tx_append(tx, "auth.login", actor, data, NULL);
	json_decref(data);
	return rc;
}

int
main(int argc, char **argv)
{
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	struct jg_identity id = {0};
	struct signin s = {0};
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
	s.id = &id;
	s.now = jg_clock_now();
	s.lifetime = cfg->auth_session_lifetime;
	if (jg_audit_run(audit, signin_fn, &s) != 0) {
		fprintf(stderr,
			"web_session: the session and its auth.login entry were not written\n");
		goto out;
	}
	printf("%s\n", s.token);
	rc = 0;
out:
	OPENSSL_cleanse(&s, sizeof(s));
	jg_identity_clear(&id);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}
