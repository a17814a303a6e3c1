/*
 * cli_keys.c - `jitgate keys generate|rotate|list|public`.
 *
 * Key files live in the configured key_dir (keys.h).  `generate` creates
 * the first key of every kind, or with --kind of that one kind (how a
 * deployment older than pii or cursor keys adds one).  `list` shows each
 * checkpoint key as the C2SP verifier key string an auditor passes to
 * `jitgate audit verify --key`, each pii key with the kid its markers
 * carry, and each cursor key by its number; `public` prints the active
 * public key PEM (pii, cursor, audit-state and session-token keys are secret and have none).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/pii.h"
#include "jitgate/signed_note.h"

static void
list_pii(const struct jg_config *cfg)
{
	struct jg_pii_keys *keys = NULL;
	char err[512];

	if (jg_pii_keys_load(cfg->key_dir, &keys, err, sizeof(err)) != 0) {
		printf("pii keys: none (%s)\n", err);
		return;
	}
	/* newest first in the ring; listed oldest first like the others */
	for (size_t i = jg_pii_keys_count(keys); i-- > 0;)
		printf("pii %04d%s kid %s\n", jg_pii_key_number(keys, i), i == 0 ? " (active)" : "",
		       jg_pii_kid(keys, i));
	jg_pii_keys_free(keys);
}

static void
list_kind(const struct jg_config *cfg, enum jg_key_kind kind)
{
	struct jg_keyring *ring = NULL;
	char err[512];

	if (kind == JG_KEY_PII) {
		list_pii(cfg);
		return;
	}
	if (jg_keys_load(cfg->key_dir, kind, &ring, err, sizeof(err)) != 0) {
		printf("%s keys: none (%s)\n", jg_key_kind_name(kind), err);
		return;
	}
	for (int i = 0; i < ring->n; i++) {
		const char *active = i == ring->n - 1 ? " (active)" : "";
		if (kind == JG_KEY_CURSOR) {
			printf("cursor %04d%s AES-256-GCM\n", ring->keys[i].number, active);
		} else if (kind == JG_KEY_AUDIT_STATE) {
			printf("audit-state %04d%s HMAC-SHA-256\n", ring->keys[i].number, active);
		} else if (kind == JG_KEY_SESSION_TOKEN) {
			printf("session-token %04d%s AES-256-GCM\n", ring->keys[i].number, active);
		} else if (kind == JG_KEY_CHECKPOINT) {
			struct jg_note_verifier v;
			char *vkey = NULL;
			if (jg_signed_note_verifier_init(&v, cfg->audit_origin,
							 ring->keys[i].pkey) == 0 &&
			    jg_signed_note_verifier_format(&v, &vkey) == 0)
				printf("checkpoint %04d%s %s\n", ring->keys[i].number, active,
				       vkey);
			free(vkey);
		} else {
			printf("token %04d%s ES256\n", ring->keys[i].number, active);
		}
	}
	jg_keyring_free(ring);
}

int
jg_cmd_keys(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"kind", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml", *kind_name = NULL;
	struct jg_config *cfg = NULL;
	enum jg_key_kind kind = JG_KEY_CHECKPOINT;
	char err[1024];
	int ch, rc;

	if (argc < 2)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	const char *verb = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:k:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'k': kind_name = optarg; break;
		case 'h': return jg_cli_usage(stdout, JG_EXIT_OK);
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc || (kind_name && jg_key_kind_parse(kind_name, &kind) != 0)) {
		fprintf(
		    stderr,
		    "jitgate keys: --kind must be token, checkpoint, pii, cursor, audit-state or "
		    "session-token\n");
		return JG_EXIT_USAGE;
	}
	if ((rc = jg_cli_load_config(config, &cfg)) != 0)
		return rc;
	rc = JG_EXIT_OK;
	if (strcmp(verb, "generate") == 0) {
		if ((kind_name ? jg_keys_generate_kind(cfg->key_dir, kind, err, sizeof(err))
			       : jg_keys_generate(cfg->key_dir, err, sizeof(err))) != 0) {
			fprintf(stderr, "jitgate keys generate: %s\n", err);
			rc = JG_EXIT_RUNTIME;
		} else if (kind_name) {
			printf("created the first %s key in %s\n", jg_key_kind_name(kind),
			       cfg->key_dir);
			list_kind(cfg, kind);
		} else {
			printf("created the first token, checkpoint, pii, cursor, audit-state and "
			       "session-token keys in %s\n",
			       cfg->key_dir);
			list_kind(cfg, JG_KEY_CHECKPOINT);
			list_kind(cfg, JG_KEY_PII);
			list_kind(cfg, JG_KEY_CURSOR);
			list_kind(cfg, JG_KEY_AUDIT_STATE);
			list_kind(cfg, JG_KEY_SESSION_TOKEN);
		}
	} else if (strcmp(verb, "rotate") == 0) {
		int number = 0;
		if (kind_name == NULL) {
			fprintf(stderr, "jitgate keys rotate: --kind "
					"token|checkpoint|pii|cursor|audit-state|session-token is "
					"required\n");
			rc = JG_EXIT_USAGE;
		} else if (jg_keys_rotate(cfg->key_dir, kind, &number, err, sizeof(err)) != 0) {
			fprintf(stderr, "jitgate keys rotate: %s\n", err);
			rc = JG_EXIT_RUNTIME;
		} else {
			printf("added %s key %04d; it %s from the next start (older keys stay for "
			       "verification)\n",
			       jg_key_kind_name(kind), number,
			       kind == JG_KEY_PII      ? "marks personal data in audit entries"
			       : kind == JG_KEY_CURSOR ? "seals paging cursors"
			       : kind == JG_KEY_SESSION_TOKEN
				   ? "encrypts the capability tokens kept for the debugging pages"
			       : kind == JG_KEY_AUDIT_STATE
				   ? "authenticates the audit log's verified state"
				   : "signs");
		}
	} else if (strcmp(verb, "list") == 0) {
		list_kind(cfg, JG_KEY_TOKEN);
		list_kind(cfg, JG_KEY_CHECKPOINT);
		list_kind(cfg, JG_KEY_PII);
		list_kind(cfg, JG_KEY_CURSOR);
		list_kind(cfg, JG_KEY_AUDIT_STATE);
		list_kind(cfg, JG_KEY_SESSION_TOKEN);
	} else if (strcmp(verb, "public") == 0 &&
		   (kind == JG_KEY_PII || kind == JG_KEY_CURSOR || kind == JG_KEY_AUDIT_STATE ||
		    kind == JG_KEY_SESSION_TOKEN)) {
		fprintf(stderr, "jitgate keys public: a %s key is secret and has no public half\n",
			jg_key_kind_name(kind));
		rc = JG_EXIT_USAGE;
	} else if (strcmp(verb, "public") == 0) {
		struct jg_keyring *ring = NULL;
		if (jg_keys_load(cfg->key_dir, kind, &ring, err, sizeof(err)) != 0) {
			fprintf(stderr, "jitgate keys public: %s\n", err);
			rc = JG_EXIT_RUNTIME;
		} else {
			char *pem = jg_key_public_pem(jg_keyring_active(ring)->pkey);
			if (pem == NULL) {
				fprintf(
				    stderr,
				    "jitgate keys public: the public key could not be encoded\n");
				rc = JG_EXIT_RUNTIME;
			} else {
				rc = jg_cli_puts(stdout, pem, JG_EXIT_OK);
			}
			free(pem);
			jg_keyring_free(ring);
		}
	} else {
		fprintf(stderr, "jitgate keys: unknown action '%s'\n", verb);
		rc = JG_EXIT_USAGE;
	}
	jg_config_free(cfg);
	return rc;
}
