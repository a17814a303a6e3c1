/*
 * cli_service.c - `jitgate service add|list|remove` and
 * `jitgate ingest-key create|rotate|revoke` (catalog.h).
 *
 * Run by an operator on the broker's host, against the same store as
 * `serve` (which may be running: the audit log takes appends from several
 * processes).  Each change is audited with the actor "operator:<unix
 * user>".  `create` and `rotate` print the new key once, alone on stdout,
 * so it can be piped into a secret store; nothing else prints it and the
 * store keeps only its hash.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "jitgate/audit.h"
#include "jitgate/catalog.h"
#include "jitgate/cli.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"

/* Parses -c/--config and the positional arguments after argv[1] (the verb). */
static int
parse_args(int argc, char **argv, const char **config, const char **owners, const char **pos,
	   int npos)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"owners", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': *config = optarg; break;
		case 'o':
			if (owners == NULL)
				return jg_cli_usage(stderr, JG_EXIT_USAGE);
			*owners = optarg;
			break;
		case 'h': jg_cli_usage(stdout, JG_EXIT_OK); return -1; /* help: exit 0 */
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (argc - optind != npos) {
		fprintf(stderr, "jitgate %s %s: expected %d argument(s)\n", argv[0], argv[1], npos);
		return JG_EXIT_USAGE;
	}
	for (int i = 0; i < npos; i++)
		pos[i] = argv[optind + i];
	return 0;
}

/* Splits "a,b,c" into at most JG_SERVICE_OWNERS_MAX groups (s is modified). */
static int
split_owners(char *s, const char *groups[JG_SERVICE_OWNERS_MAX], size_t *n)
{
	*n = 0;
	for (char *save = NULL, *g = strtok_r(s, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
		if (*n == JG_SERVICE_OWNERS_MAX || !jg_catalog_group_valid(g))
			return -1;
		groups[(*n)++] = g;
	}
	return *n > 0 ? 0 : -1;
}

static int
report(const char *what, int rc)
{
	switch (rc) {
	case 0: return JG_EXIT_OK;
	case JG_EINVAL: fprintf(stderr, "jitgate %s: invalid input\n", what); return JG_EXIT_USAGE;
	case JG_EUNAVAIL:
		fprintf(stderr, "jitgate %s: the audit log cannot be written; nothing was done\n",
			what);
		return JG_EXIT_RUNTIME;
	default: fprintf(stderr, "jitgate %s: %s\n", what, jg_strerror(rc)); return JG_EXIT_RUNTIME;
	}
}

static void
print_list(json_t *list)
{
	size_t i;
	json_t *s;

	printf("%-32s %-10s %-22s %s\n", "SERVICE", "ADDED", "INGEST KEY", "OWNERS");
	json_array_foreach(list, i, s)
	{
		char added[32];
		time_t t = (time_t)json_integer_value(json_object_get(s, "created_at"));
		struct tm tm;
		/* strftime returns 0 when the day does not fit, leaving added undefined */
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(added, sizeof(added), "%Y-%m-%d", &tm) == 0) {
			added[0] = '-';
			added[1] = '\0';
		}
		json_t *key = json_object_get(s, "ingest_key");
		const char *key_id =
		    json_is_object(key) ? json_string_value(json_object_get(key, "id")) : "none";
		printf("%-32s %-10s %-22s ", json_string_value(json_object_get(s, "name")), added,
		       key_id);
		size_t k;
		json_t *g;
		json_array_foreach(json_object_get(s, "owners"), k, g)
		{
			printf("%s%s", k ? "," : "", json_string_value(g));
		}
		putchar('\n');
	}
}

int
jg_cmd_service(int argc, char **argv)
{
	const char *config = "jitgate.yaml", *owners = NULL, *pos[1] = {NULL};
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	char actor[128], *owners_copy = NULL;
	int rc;

	if (argc < 2)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	const char *verb = argv[1];
	int add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0,
	    rm = strcmp(verb, "remove") == 0;
	if (!add && !list && !rm) {
		fprintf(stderr, "jitgate service: unknown action '%s'\n", verb);
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	}
	rc = parse_args(argc, argv, &config, add ? &owners : NULL, pos, list ? 0 : 1);
	if (rc != 0)
		return rc < 0 ? JG_EXIT_OK : rc;
	if (!list && !jg_catalog_service_name_valid(pos[0])) {
		fprintf(stderr,
			"jitgate service %s: '%s' is not a service name (lower-case letters, "
			"digits, '-' or '.', at most 63)\n",
			verb, pos[0]);
		return JG_EXIT_USAGE;
	}
	const char *groups[JG_SERVICE_OWNERS_MAX];
	size_t ngroups = 0;
	if (add) {
		if (owners == NULL || (owners_copy = strdup(owners)) == NULL ||
		    split_owners(owners_copy, groups, &ngroups) != 0) {
			fprintf(stderr,
				"jitgate service add: --owners GROUP[,GROUP] is required: 1 to "
				"16 group names of [A-Za-z0-9._:@/-]\n");
			free(owners_copy);
			return JG_EXIT_USAGE;
		}
	}
	if ((rc = jg_cli_open_audit(config, "service", &cfg, &store, list ? NULL : &audit)) != 0)
		goto out;
	jg_cli_operator_actor(actor, sizeof(actor));
	struct jg_catalog_ctx ctx = {
	    .store = store, .audit = audit, .actor = actor, .now = jg_clock_now()};
	if (list) {
		json_t *services = NULL;
		if ((rc = jg_catalog_service_list(store, &services)) != 0) {
			rc = report("service list", rc);
			goto out;
		}
		print_list(services);
		json_decref(services);
	} else if (add) {
		rc = jg_catalog_service_add(&ctx, pos[0], groups, ngroups);
		if (rc == JG_ECONFLICT) {
			fprintf(stderr, "jitgate service add: '%s' already exists\n", pos[0]);
			rc = JG_EXIT_RUNTIME;
		} else if ((rc = report("service add", rc)) == 0) {
			printf("added service %s (owners: %s)\n", pos[0], owners);
		}
	} else {
		rc = jg_catalog_service_remove(&ctx, pos[0]);
		if (rc == JG_ENOTFOUND) {
			fprintf(stderr, "jitgate service remove: no such service '%s'\n", pos[0]);
			rc = JG_EXIT_RUNTIME;
		} else if ((rc = report("service remove", rc)) == 0) {
			printf("removed service %s; its ingest key, if any, is revoked\n", pos[0]);
		}
	}
out:
	free(owners_copy);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}

int
jg_cmd_ingest_key(int argc, char **argv)
{
	const char *config = "jitgate.yaml", *pos[1] = {NULL};
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	char actor[128], key[JG_INGEST_KEY_LEN + 1], id[JG_INGEST_KEY_ID_MAX + 1];
	int rc;

	if (argc < 2)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	const char *verb = argv[1];
	int create = strcmp(verb, "create") == 0, rotate = strcmp(verb, "rotate") == 0,
	    revoke = strcmp(verb, "revoke") == 0;
	if (!create && !rotate && !revoke) {
		fprintf(stderr, "jitgate ingest-key: unknown action '%s'\n", verb);
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	}
	if ((rc = parse_args(argc, argv, &config, NULL, pos, 1)) != 0)
		return rc < 0 ? JG_EXIT_OK : rc;
	if ((rc = jg_cli_open_audit(config, "ingest-key", &cfg, &store, &audit)) != 0)
		goto out;
	jg_cli_operator_actor(actor, sizeof(actor));
	struct jg_catalog_ctx ctx = {
	    .store = store, .audit = audit, .actor = actor, .now = jg_clock_now()};
	if (revoke)
		rc = jg_catalog_key_revoke(&ctx, pos[0], id);
	else if (create)
		rc = jg_catalog_key_create(&ctx, pos[0], key, id);
	else
		rc = jg_catalog_key_rotate(&ctx, pos[0], key, id);
	if (rc == JG_ENOTFOUND) {
		fprintf(stderr, "jitgate ingest-key %s: %s\n", verb,
			create ? "no such service (add it with `jitgate service add`)"
			       : "no such service, or it has no active ingest key");
		rc = JG_EXIT_RUNTIME;
	} else if (rc == JG_ECONFLICT) {
		fprintf(stderr,
			"jitgate ingest-key create: '%s' already has an active key; use "
			"`jitgate ingest-key rotate`\n",
			pos[0]);
		rc = JG_EXIT_RUNTIME;
	} else if ((rc = report("ingest-key", rc)) == 0) {
		if (revoke) {
			printf("revoked ingest key %s of %s\n", id, pos[0]);
		} else {
			/* the key alone on stdout, the rest on stderr */
			if (printf("%s\n", key) < 0 || fflush(stdout) != 0) {
				fprintf(stderr,
					"jitgate ingest-key %s: the new key %s for %s could not be "
					"written to stdout and is lost: rotate it again%s\n",
					verb, id, pos[0],
					rotate ? " (the previous key no longer works)" : "");
				rc = JG_EXIT_RUNTIME;
			} else {
				fprintf(
				    stderr,
				    "%s ingest key %s for %s; it is shown only this once: store "
				    "it in the agents' secret store now%s\n",
				    create ? "created" : "rotated to", id, pos[0],
				    rotate ? " (the previous key no longer works)" : "");
			}
		}
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}
