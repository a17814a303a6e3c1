/*
 * witness_config.c - a witness's configuration file (witness_config.h):
 * YAML read by yamldoc, every key checked, relative paths resolved against
 * the file's directory, log keys parsed as note verifier keys (type 0x01).
 */
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/witness_config.h"
#include "jitgate/yamldoc.h"

#define MAX_CONFIG_BYTES (64 * 1024)

static const char *const top_keys[] = {"name", "key_file", "state", "listen", "tls", "logs"};

static int
fail(char *err, size_t errlen, const struct jg_yamldoc *doc, const char *file, const char *path,
     const char *why)
{
	int line = path ? jg_yamldoc_line(doc, path) : 0;

	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", file, line, why);
	else
		snprintf(err, errlen, "%s: %s", file, why);
	return JG_ECONFIG;
}

static bool
known(const char *key, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(key, list[i]) == 0)
			return true;
	return false;
}

/* A required non-empty string at obj.key, copied (a path: resolved against dir). */
static int
take_string(json_t *obj, const char *key, const char *dir, bool is_path, char **out)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s == NULL || s[0] == '\0')
		return JG_ECONFIG;
	if (is_path && s[0] != '/') {
		if (asprintf(out, "%s/%s", dir, s) < 0)
			return JG_ENOMEM;
		return 0;
	}
	return (*out = strdup(s)) ? 0 : JG_ENOMEM;
}

static int
parse_logs(json_t *logs, const struct jg_yamldoc *doc, const char *file,
	   struct jg_witness_config *cfg, char *err, size_t errlen)
{
	static const char *const log_keys[] = {"origin", "keys"};
	char path[64], why[160];
	size_t i, j;
	json_t *item, *key;

	if (!json_is_array(logs) || json_array_size(logs) == 0 ||
	    json_array_size(logs) > JG_WITNESS_MAX_LOGS)
		return fail(err, errlen, doc, file, "logs",
			    "'logs' must list between 1 and 64 logs, each {origin, keys}");
	json_array_foreach(logs, i, item)
	{
		struct jg_witness_log *log = &cfg->logs[i];
		const char *k, *origin;
		json_t *v, *keys;

		snprintf(path, sizeof(path), "logs[%zu]", i);
		if (!json_is_object(item))
			return fail(err, errlen, doc, file, path, "a log must be {origin, keys}");
		json_object_foreach(item, k, v)
		{
			if (!known(k, log_keys, 2)) {
				snprintf(why, sizeof(why), "unknown key '%s.%.32s'", path, k);
				return fail(err, errlen, doc, file, path, why);
			}
		}
		origin = json_string_value(json_object_get(item, "origin"));
		if (origin == NULL || strlen(origin) > JG_NOTE_MAX_NAME || origin[0] == '\0')
			return fail(err, errlen, doc, file, path,
				    "'origin' is required: the log's origin line");
		for (size_t o = 0; o < i; o++)
			if (strcmp(cfg->logs[o].origin, origin) == 0)
				return fail(err, errlen, doc, file, path,
					    "this origin is listed twice");
		snprintf(log->origin, sizeof(log->origin), "%s", origin);
		keys = json_object_get(item, "keys");
		if (!json_is_array(keys) || json_array_size(keys) == 0 ||
		    json_array_size(keys) > JG_WITNESS_MAX_LOG_KEYS)
			return fail(err, errlen, doc, file, path,
				    "'keys' must list between 1 and 8 verifier keys of the log");
		json_array_foreach(keys, j, key)
		{
			const char *s = json_string_value(key);
			struct jg_note_verifier *kv = &log->keys[j];
			if (s == NULL || jg_signed_note_verifier_parse(s, kv) != 0 ||
			    strcmp(kv->name, log->origin) != 0)
				return fail(
				    err, errlen, doc, file, path,
				    "each key must be a verifier key \"<origin>+<id>+<base64>\" "
				    "of type Ed25519 named after the origin (jitgate keys list)");
		}
		log->n_keys = json_array_size(keys);
	}
	cfg->n_logs = json_array_size(logs);
	return 0;
}

int
jg_witness_config_load(const char *file, struct jg_witness_config **out, char *err, size_t errlen)
{
	struct jg_witness_config *cfg = NULL;
	struct jg_yamldoc *doc = NULL;
	char *copy = NULL, why[160];
	const char *k, *dir;
	json_t *v, *tls;
	int rc;

	*out = NULL;
	if ((rc = jg_yamldoc_load(file, MAX_CONFIG_BYTES, &doc, err, errlen)) != 0)
		return rc == JG_EPARSE ? JG_ECONFIG : rc;
	rc = JG_ENOMEM;
	if ((copy = strdup(file)) == NULL || (cfg = calloc(1, sizeof(*cfg))) == NULL)
		goto out;
	dir = dirname(copy);
	if (!json_is_object(doc->root)) {
		rc = fail(err, errlen, doc, file, NULL, "the top level must be a mapping");
		goto out;
	}
	json_object_foreach(doc->root, k, v)
	{
		if (!known(k, top_keys, sizeof(top_keys) / sizeof(top_keys[0]))) {
			snprintf(why, sizeof(why), "unknown key '%.64s'", k);
			rc = fail(err, errlen, doc, file, k, why);
			goto out;
		}
	}
	tls = json_object_get(doc->root, "tls");
	if ((rc = take_string(doc->root, "name", dir, false, &cfg->name)) != 0 ||
	    (rc = take_string(doc->root, "key_file", dir, true, &cfg->key_file)) != 0 ||
	    (rc = take_string(doc->root, "state", dir, true, &cfg->state)) != 0 ||
	    (rc = take_string(doc->root, "listen", dir, false, &cfg->listen)) != 0 ||
	    !json_is_object(tls) || json_object_size(tls) != 2 ||
	    (rc = take_string(tls, "cert_file", dir, true, &cfg->tls_cert_file)) != 0 ||
	    (rc = take_string(tls, "key_file", dir, true, &cfg->tls_key_file)) != 0) {
		if (rc != JG_ENOMEM)
			rc = fail(err, errlen, doc, file, NULL,
				  "'name', 'key_file', 'state', 'listen' and 'tls' {cert_file, "
				  "key_file} are required, as non-empty strings");
		goto out;
	}
	if ((rc = parse_logs(json_object_get(doc->root, "logs"), doc, file, cfg, err, errlen)) != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	jg_witness_config_free(cfg);
	jg_yamldoc_free(doc);
	free(copy);
	return rc;
}

void
jg_witness_config_free(struct jg_witness_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->name);
	free(cfg->key_file);
	free(cfg->state);
	free(cfg->listen);
	free(cfg->tls_cert_file);
	free(cfg->tls_key_file);
	free(cfg);
}
