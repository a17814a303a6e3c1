/*
 * config.c - load and validate jitgate.yaml.
 *
 * The table `keys` is the whole configuration reference: each entry has the
 * dotted path, the JSON type, whether it is required, a range for integers,
 * a default, and where the value goes in struct jg_config.  Validation walks
 * the document once to refuse unknown keys (naming their line), then reads
 * each known key from the table.  Cross-field checks (URL schemes, the
 * database engine) follow.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/notify_events.h"
#include "jitgate/parse.h"
#include "jitgate/store.h"
#include "jitgate/yamldoc.h"

enum key_type { K_OBJECT, K_STRING, K_PATH, K_INT, K_STRLIST, K_SINKS, K_WITNESSES };

struct key {
	const char *path;
	enum key_type type;
	bool required;
	int64_t min, max;
	const char *def_str;
	int64_t def_int;
	size_t offset; /* into struct jg_config; unused for K_OBJECT */
};

#define OFF(f) offsetof(struct jg_config, f)
#define LIM(f) (offsetof(struct jg_config, limits) + offsetof(struct jg_limits, f))

static const struct key keys[] = {
    {"listen", K_STRING, false, 0, 0, "127.0.0.1:8443", 0, 0},
    {"public_url", K_STRING, true, 0, 0, NULL, 0, OFF(public_url)},
    {"log_level", K_STRING, false, 0, 0, "info", 0, 0},
    {"tls", K_OBJECT, true, 0, 0, NULL, 0, 0},
    {"tls.cert_file", K_PATH, true, 0, 0, NULL, 0, OFF(tls_cert_file)},
    {"tls.key_file", K_PATH, true, 0, 0, NULL, 0, OFF(tls_key_file)},
    {"database", K_OBJECT, true, 0, 0, NULL, 0, 0},
    {"database.url", K_STRING, true, 0, 0, NULL, 0, OFF(database_url)},
    {"database.password_file", K_PATH, false, 0, 0, NULL, 0, OFF(database_password_file)},
    {"database.owner_url", K_STRING, false, 0, 0, NULL, 0, OFF(database_owner_url)},
    {"database.owner_password_file", K_PATH, false, 0, 0, NULL, 0,
     OFF(database_owner_password_file)},
    {"migrations_dir", K_PATH, false, 0, 0, "migrations", 0, OFF(migrations_dir)},
    {"policy_dir", K_PATH, false, 0, 0, "policies", 0, OFF(policy_dir)},
    {"key_dir", K_PATH, false, 0, 0, "keys", 0, OFF(key_dir)},
    {"limits", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"limits.max_body_bytes", K_INT, false, 1024, 64 << 20, NULL, 1 << 20, LIM(max_body_bytes)},
    {"limits.max_header_bytes", K_INT, false, 1024, 256 << 10, NULL, 16 << 10,
     LIM(max_header_bytes)},
    {"limits.max_url_bytes", K_INT, false, 256, 64 << 10, NULL, 8 << 10, LIM(max_url_bytes)},
    {"limits.max_connections", K_INT, false, 1, 10000, NULL, 256, LIM(max_connections)},
    {"limits.connection_timeout", K_INT, false, 1, 3600, NULL, 30, LIM(connection_timeout)},
    {"limits.event_threads", K_INT, false, 0, 64, NULL, 0, LIM(event_threads)},
    {"limits.worker_threads", K_INT, false, 1, 1024, NULL, 32, LIM(worker_threads)},
    {"limits.shutdown_grace", K_INT, false, 0, 600, NULL, 20, LIM(shutdown_grace)},
    {"limits.request_timeout", K_INT, false, 1, 3600, NULL, 30, LIM(request_timeout)},
    {"limits.max_connections_per_address", K_INT, false, 1, 10000, NULL, 32,
     LIM(max_connections_per_address)},
    {"limits.auth_failures_per_minute", K_INT, false, 1, 100000, NULL, 10,
     LIM(auth_failures_per_minute)},
    {"limits.auth_failures_burst", K_INT, false, 1, 100000, NULL, 20, LIM(auth_failures_burst)},
    {"limits.requests_per_minute", K_INT, false, 1, 100000, NULL, 10, LIM(requests_per_minute)},
    {"limits.requests_burst", K_INT, false, 1, 100000, NULL, 20, LIM(requests_burst)},
    {"limits.requests_per_address_per_minute", K_INT, false, 1, 100000, NULL, 60,
     LIM(requests_per_address_per_minute)},
    {"limits.requests_address_burst", K_INT, false, 1, 100000, NULL, 60,
     LIM(requests_address_burst)},
    {"limits.rate_table_entries", K_INT, false, 64, 1 << 20, NULL, 16384, LIM(rate_table_entries)},
    {"audit", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"audit.origin", K_STRING, false, 0, 0, NULL, 0, OFF(audit_origin)},
    {"audit.checkpoint_every_entries", K_INT, false, 1, 1000000000, NULL, 1000,
     OFF(audit_checkpoint_entries)},
    {"audit.checkpoint_every_seconds", K_INT, false, 1, 86400, NULL, 60,
     OFF(audit_checkpoint_seconds)},
    {"audit.sink_dir", K_PATH, false, 0, 0, NULL, 0, OFF(audit_sink_dir)},
    {"audit.archive_dir", K_PATH, false, 0, 0, NULL, 0, OFF(audit_archive_dir)},
    {"audit.sink_url", K_STRING, false, 0, 0, NULL, 0, OFF(audit_sink_url)},
    {"audit.sink_ca_file", K_PATH, false, 0, 0, NULL, 0, OFF(audit_sink_ca_file)},
    {"audit.verify_threads", K_INT, false, 1, 16, NULL, 2, OFF(audit_verify_threads)},
    {"audit.verify_budget", K_INT, false, 1, 100, NULL, 10, OFF(audit_verify_budget)},
    /* deprecated (parse_audit warns): accepted so existing files load; drives nothing */
    {"audit.reverify_seconds", K_INT, false, 1, 86400, NULL, 0, OFF(audit_reverify_seconds)},
    {"audit.witnesses", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"audit.witnesses.min", K_INT, false, 0, JG_AUDIT_MAX_WITNESSES, NULL, 0,
     OFF(audit_witnesses_min)},
    {"audit.witnesses.servers", K_WITNESSES, false, 0, 0, NULL, 0, 0},
    {"oidc", K_OBJECT, true, 0, 0, NULL, 0, 0},
    {"oidc.issuer", K_STRING, true, 0, 0, NULL, 0, OFF(oidc_issuer)},
    {"oidc.client_id", K_STRING, true, 0, 0, NULL, 0, OFF(oidc_client_id)},
    {"oidc.client_secret_file", K_PATH, false, 0, 0, NULL, 0, OFF(oidc_client_secret_file)},
    {"oidc.allowed_clients", K_STRLIST, true, 0, 0, NULL, 0, OFF(oidc_allowed_clients)},
    {"oidc.audience", K_STRING, false, 0, 0, NULL, 0, OFF(oidc_audience)},
    {"oidc.groups_claim", K_STRING, false, 0, 0, "groups", 0, OFF(oidc_groups_claim)},
    {"oidc.scopes", K_STRING, false, 0, 0, "openid profile email", 0, OFF(oidc_scopes)},
    {"oidc.ca_file", K_PATH, false, 0, 0, NULL, 0, OFF(oidc_ca_file)},
    {"oidc.jwks_min_refresh_seconds", K_INT, false, 1, 3600, NULL, 30, OFF(oidc_jwks_min_refresh)},
    {"oidc.leeway_seconds", K_INT, false, 0, 300, NULL, 30, OFF(oidc_leeway)},
    {"tokens", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"tokens.lifetime_seconds", K_INT, false, 10, 86400, NULL, 300, OFF(tokens_lifetime)},
    {"requests", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"requests.pending_expiry_seconds", K_INT, false, 60, 30 * 86400, NULL, 86400,
     OFF(requests_pending_expiry)},
    {"requests.refused_actions_recorded", K_INT, false, 1, 10000, NULL, 10,
     OFF(requests_refusals_recorded)},
    {"requests.refused_actions_window_seconds", K_INT, false, 1, 7 * 86400, NULL, 600,
     OFF(requests_refusals_window)},
    {"probes", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"probes.event_retention_seconds", K_INT, false, 1, 366 * 86400, NULL, 7 * 86400,
     OFF(probes_event_retention)},
    {"probes.agent_poll_seconds", K_INT, false, 1, 3600, NULL, 10, OFF(probes_agent_poll)},
    {"requests.incident_pattern", K_STRING, false, 0, 0, NULL, 0, OFF(requests_incident_pattern)},
    {"auth", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"auth.session_lifetime_seconds", K_INT, false, 60, 7 * 86400, NULL, 8 * 3600,
     OFF(auth_session_lifetime)},
    {"auth.session_idle_seconds", K_INT, false, 60, 86400, NULL, 3600, OFF(auth_session_idle)},
    {"auth.auditor_groups", K_STRLIST, false, 0, 0, "auditors", 0, OFF(auth_auditor_groups)},
    {"auth.admin_groups", K_STRLIST, false, 0, 0, "jitgate-admins", 0, OFF(auth_admin_groups)},
    {"notifications", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"notifications.sinks", K_SINKS, false, 0, 0, NULL, 0, 0},
    {"notifications.retry_base_ms", K_INT, false, 10, 3600000, NULL, 10000,
     OFF(notify_retry_base_ms)},
    {"notifications.retry_max_ms", K_INT, false, 10, 86400000, NULL, 900000,
     OFF(notify_retry_max_ms)},
    {"notifications.max_attempts", K_INT, false, 1, 1000, NULL, 12, OFF(notify_max_attempts)},
    {"notifications.expiry_warning_seconds", K_INT, false, 0, 86400, NULL, 600,
     OFF(notify_expiry_warning)},
    {"notifications.review_overdue_seconds", K_INT, false, 1, 30 * 86400, NULL, 86400,
     OFF(notify_review_overdue)},
    {"reports", K_OBJECT, false, 0, 0, NULL, 0, 0},
    /* seconds between two access reviews of a service (docs/operations.md) */
    {"reports.review_period", K_INT, false, 3600, 366 * 86400, NULL, 90 * 86400,
     OFF(reports_review_period)},
    {"notifications.alert_after_seconds", K_INT, false, 1, 86400, NULL, 300,
     OFF(notify_alert_after)},
    {"notifications.keep_delivered_days", K_INT, false, 1, 3650, NULL, 7,
     OFF(notify_keep_delivered_days)},
    {"audit_stream", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"audit_stream.type", K_STRING, false, 0, 0, NULL, 0, OFF(stream_type)},
    {"audit_stream.url", K_STRING, false, 0, 0, NULL, 0, OFF(stream_url)},
    {"audit_stream.address", K_STRING, false, 0, 0, NULL, 0, OFF(stream_address)},
    {"audit_stream.ca_file", K_PATH, false, 0, 0, NULL, 0, OFF(stream_ca_file)},
    {"audit_stream.secret_file", K_PATH, false, 0, 0, NULL, 0, OFF(stream_secret_file)},
    {"audit_stream.hostname", K_STRING, false, 0, 0, NULL, 0, OFF(stream_hostname)},
    {"audit_stream.batch_size", K_INT, false, 1, 10000, NULL, 500, OFF(stream_batch_size)},
    {"audit_stream.timeout_ms", K_INT, false, 100, 120000, NULL, 10000, OFF(stream_timeout_ms)},
    {"audit_stream.retry_base_ms", K_INT, false, 10, 3600000, NULL, 1000,
     OFF(stream_retry_base_ms)},
    {"audit_stream.retry_max_ms", K_INT, false, 10, 86400000, NULL, 60000,
     OFF(stream_retry_max_ms)},
    /* the debug data plane (docs/dataplane.md) */
    {"telemetry", K_OBJECT, false, 0, 0, NULL, 0, 0},
    {"telemetry.database", K_STRING, false, 0, 0, NULL, 0, OFF(telemetry_url)},
    {"telemetry.password_file", K_PATH, false, 0, 0, NULL, 0, OFF(telemetry_password_file)},
    {"telemetry.owner_url", K_STRING, false, 0, 0, NULL, 0, OFF(telemetry_owner_url)},
    {"telemetry.owner_password_file", K_PATH, false, 0, 0, NULL, 0,
     OFF(telemetry_owner_password_file)},
    {"telemetry.logs_retention_seconds", K_INT, false, 1, 366 * 86400, NULL, 7 * 86400,
     OFF(telemetry_logs_retention)},
    {"telemetry.traces_retention_seconds", K_INT, false, 1, 366 * 86400, NULL, 7 * 86400,
     OFF(telemetry_traces_retention)},
    {"telemetry.metrics_retention_seconds", K_INT, false, 1, 366 * 86400, NULL, 7 * 86400,
     OFF(telemetry_metrics_retention)},
    {"redaction", K_OBJECT, false, 0, 0, NULL, 0, 0},
    /* no default name: absent means the built-in list below */
    {"redaction.sensitive_fields", K_STRLIST, false, 0, 0, NULL, 0,
     OFF(redaction_sensitive_fields)},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key *
find_key(const char *path)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].path, path) == 0)
			return &keys[i];
	return NULL;
}

struct ctx {
	struct jg_yamldoc *doc;
	const char *name;
	const char *base_dir;
	char *err;
	size_t errlen;
};

static void refuse_why(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * `return refuse(c, path, fmt, ...);` says why the file is refused (with the
 * line of path when known) and returns JG_ECONFIG.  A macro, so that the
 * result is a constant at every call: the static analyser does not follow
 * the return value of a variadic function, and took "refused" for "read".
 */
#define refuse(c, path, ...) (refuse_why((c), (path), __VA_ARGS__), JG_ECONFIG)

static void
refuse_why(struct ctx *c, const char *path, const char *fmt, ...)
{
	char reason[512];
	int line = path && c->doc ? jg_yamldoc_line(c->doc, path) : 0;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap); /* a longer reason is cut */
	va_end(ap);
	if (line > 0)
		snprintf(c->err, c->errlen, "%s:%d: %s", c->name, line, reason);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->name, reason);
}

/* Refuses any key not in the table, depth first so the first one is named. */
static int
check_unknown(struct ctx *c, json_t *obj, const char *prefix)
{
	const char *k;
	json_t *v;
	char path[512];

	json_object_foreach(obj, k, v)
	{
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
		const struct key *def = find_key(path);
		if (def == NULL)
			return refuse(c, path, "unknown key '%s'", path);
		if (def->type == K_OBJECT && json_is_object(v)) {
			int rc = check_unknown(c, v, path);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static json_t *
lookup(json_t *root, const char *path)
{
	char buf[512], *save = NULL;
	json_t *cur = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
	return cur;
}

static char *
resolve(const char *base_dir, const char *p)
{
	char *out = NULL;

	if (p[0] == '/' || base_dir == NULL)
		return strdup(p);
	if (asprintf(&out, "%s/%s", base_dir, p) < 0)
		return NULL;
	return out;
}

static void
free_list(char **list)
{
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

/* A list of group names; absent means the one default name. */
/*
 * Keys whose values are withheld whole from a reader without read-pii when
 * redaction.sensitive_fields is not set (compared ignoring ASCII case).
 */
static const char *const default_sensitive_fields[] = {
    "password",	    "passwd",	     "secret",	 "client_secret", "token",
    "access_token", "refresh_token", "id_token", "authorization", "cookie",
    "set-cookie",   "api_key",	     "apikey",	 "private_key",	  "ssn",
    "card_number",  "cvv",	     "cvc",	 "iban",	  "date_of_birth",
    NULL,
};

static int
copy_defaults(const char *const *names, char ***out)
{
	size_t n = 0;
	while (names[n])
		n++;
	char **list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((list[i] = strdup(names[i])) == NULL) {
			free_list(list);
			return JG_ENOMEM;
		}
	}
	*out = list;
	return 0;
}

/* What a required list is for, said with its refusal. */
static const char *
required_hint(const struct key *def)
{
	if (strcmp(def->path, "oidc.allowed_clients") == 0)
		return ": the client ids (azp or client_id) whose access tokens jitgate accepts, "
		       "e.g. [jitgate, jitgate-cli]";
	return "";
}

static int
read_list(struct ctx *c, const struct key *def, json_t *v, char ***out)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 1; /* json_is_array(NULL) is false */
	char **list;

	if (def->required && (v == NULL || json_is_null(v)))
		return refuse(c, NULL, "missing required key '%s'%s", def->path,
			      required_hint(def));
	if (def->required && json_is_array(v) && n == 0)
		return refuse(c, def->path, "'%s' must name at least one entry%s", def->path,
			      required_hint(def));
	if (v == NULL && def->def_str == NULL)
		return copy_defaults(default_sensitive_fields, out);
	if (v != NULL && !json_is_array(v))
		return refuse(c, def->path, "'%s' must be a list of %s", def->path,
			      def->def_str ? "group names" : "strings");
	if (n > 64)
		return refuse(c, def->path, "'%s' lists more than 64 entries", def->path);
	list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *g = v ? json_array_get(v, i) : NULL;
		const char *name = g ? json_string_value(g) : def->def_str;
		if (name == NULL || *name == '\0') {
			free_list(list);
			return refuse(c, def->path, "'%s' entries must be non-empty strings",
				      def->path);
		}
		if ((list[i] = strdup(name)) == NULL) {
			free_list(list);
			return JG_ENOMEM;
		}
	}
	*out = list;
	return 0;
}

int
jg_config_groups_match(char *const *list, const char *const *groups, size_t n)
{
	for (size_t i = 0; list && list[i]; i++)
		for (size_t j = 0; j < n; j++)
			if (strcmp(list[i], groups[j]) == 0)
				return 1;
	return 0;
}

/* ---- notification sinks: a list of mappings, each checked against its own table ---- */

static const char *const sink_fields[] = {"name",    "type",	   "url",	  "secret_file",
					  "ca_file", "timeout_ms", "audiences",	  "policies",
					  "groups",  "events",	   "max_attempts"};

/* A list of names at path (absent: *out stays NULL); each must pass ok() when given. */
static int
sink_names(struct ctx *c, json_t *item, const char *key, const char *path, bool (*ok)(const char *),
	   char ***out)
{
	json_t *v = json_object_get(item, key), *e;
	size_t i;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
		return refuse(c, path, "'%s' must be a list of 1 to 64 names", path);
	if ((*out = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
		return JG_ENOMEM;
	json_array_foreach(v, i, e)
	{
		const char *name = json_string_value(e);
		if (name == NULL || *name == '\0' || strlen(name) > 255 || (ok && !ok(name)))
			return refuse(c, path, "'%s' holds an invalid entry '%s'", path,
				      name ? name : "?");
		if (((*out)[i] = strdup(name)) == NULL)
			return JG_ENOMEM;
	}
	return 0;
}

static bool
valid_sink_name(const char *n)
{
	size_t len = strlen(n);
	return len > 0 && len <= 64 && strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

/* http:// only on loopback, as for the provider (a receiver in the same host or pod). */
static int loopback_http(const char *url);

static int
read_sink(struct ctx *c, json_t *item, const char *path, struct jg_notify_sink_cfg *s)
{
	char sub[600];
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(item))
		return refuse(c, path, "'%s' must be a mapping", path);
	json_object_foreach(item, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(sink_fields) / sizeof(sink_fields[0]); i++)
			known |= strcmp(sink_fields[i], k) == 0;
		snprintf(sub, sizeof(sub), "%s.%s", path, k);
		if (!known)
			return refuse(c, sub, "unknown key '%s'", sub);
		if (strcmp(k, "timeout_ms") != 0 && strcmp(k, "max_attempts") != 0 &&
		    strcmp(k, "audiences") != 0 && strcmp(k, "policies") != 0 &&
		    strcmp(k, "groups") != 0 && strcmp(k, "events") != 0 &&
		    (!json_is_string(v) || json_string_length(v) == 0 ||
		     strlen(json_string_value(v)) != json_string_length(v)))
			return refuse(c, sub, "'%s' must be a non-empty string", sub);
	}
	static const char *const required[] = {"name", "type", "url"};
	for (size_t i = 0; i < 3; i++)
		if (json_object_get(item, required[i]) == NULL) {
			snprintf(sub, sizeof(sub), "%s.%s", path, required[i]);
			return refuse(c, path, "missing required key '%s'", sub);
		}
	snprintf(sub, sizeof(sub), "%s.name", path);
	if (!valid_sink_name(json_string_value(json_object_get(item, "name"))))
		return refuse(c, sub, "'%s' must be 1-64 of a-z, 0-9, '-', '_'", sub);
	s->name = strdup(json_string_value(json_object_get(item, "name")));
	s->type = strdup(json_string_value(json_object_get(item, "type")));
	s->url = strdup(json_string_value(json_object_get(item, "url")));
	if (!s->name || !s->type || !s->url)
		return JG_ENOMEM;
	snprintf(sub, sizeof(sub), "%s.type", path);
	if (strcmp(s->type, "webhook") != 0 && strcmp(s->type, "slack") != 0)
		return refuse(c, sub, "'%s' must be webhook or slack", sub);
	snprintf(sub, sizeof(sub), "%s.url", path);
	if (strncmp(s->url, "https://", 8) != 0 && !loopback_http(s->url))
		return refuse(c, sub, "'%s' must be an https:// URL (http:// only on loopback)",
			      sub);
	if ((v = json_object_get(item, "secret_file")) != NULL &&
	    (s->secret_file = resolve(c->base_dir, json_string_value(v))) == NULL)
		return JG_ENOMEM;
	if (s->secret_file == NULL && strcmp(s->type, "webhook") == 0) {
		snprintf(sub, sizeof(sub), "%s.secret_file", path);
		return refuse(c, path, "'%s' is required for a webhook (the signing secret)", sub);
	}
	if ((v = json_object_get(item, "ca_file")) != NULL &&
	    (s->ca_file = resolve(c->base_dir, json_string_value(v))) == NULL)
		return JG_ENOMEM;
	s->timeout_ms = 5000;
	if ((v = json_object_get(item, "timeout_ms")) != NULL) {
		snprintf(sub, sizeof(sub), "%s.timeout_ms", path);
		if (!json_is_integer(v) || json_integer_value(v) < 100 ||
		    json_integer_value(v) > 60000)
			return refuse(c, sub, "'%s' must be an integer between 100 and 60000", sub);
		s->timeout_ms = json_integer_value(v);
	}
	if ((v = json_object_get(item, "max_attempts")) != NULL) {
		snprintf(sub, sizeof(sub), "%s.max_attempts", path);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000)
			return refuse(c, sub, "'%s' must be an integer between 1 and 1000", sub);
		s->max_attempts = json_integer_value(v);
	}
	snprintf(sub, sizeof(sub), "%s.audiences", path);
	if ((rc = sink_names(c, item, "audiences", sub, jg_notify_audience_known, &s->audiences)) !=
	    0)
		return rc;
	snprintf(sub, sizeof(sub), "%s.policies", path);
	if ((rc = sink_names(c, item, "policies", sub, NULL, &s->policies)) != 0)
		return rc;
	snprintf(sub, sizeof(sub), "%s.groups", path);
	if ((rc = sink_names(c, item, "groups", sub, NULL, &s->groups)) != 0)
		return rc;
	snprintf(sub, sizeof(sub), "%s.events", path);
	return sink_names(c, item, "events", sub, jg_notify_event_known, &s->events);
}

static int
read_sinks(struct ctx *c, json_t *v, struct jg_config *cfg)
{
	json_t *item;
	size_t i;
	char path[64];
	int rc;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > JG_NOTIFY_MAX_SINKS)
		return refuse(c, "notifications.sinks",
			      "'notifications.sinks' must be a list of at most %d sinks",
			      JG_NOTIFY_MAX_SINKS);
	cfg->notify_sinks = calloc(json_array_size(v) + 1, sizeof(*cfg->notify_sinks));
	if (cfg->notify_sinks == NULL)
		return JG_ENOMEM;
	json_array_foreach(v, i, item)
	{
		snprintf(path, sizeof(path), "notifications.sinks[%zu]", i);
		cfg->notify_nsinks = i + 1;
		if ((rc = read_sink(c, item, path, &cfg->notify_sinks[i])) != 0)
			return rc;
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->notify_sinks[k].name, cfg->notify_sinks[i].name) == 0)
				return refuse(c, path, "two sinks are named '%s'",
					      cfg->notify_sinks[i].name);
	}
	return 0;
}

/* audit.witnesses.servers: [{url, key, ca_file}], at most JG_AUDIT_MAX_WITNESSES. */
static int
read_witnesses(struct ctx *c, json_t *v, struct jg_config *cfg)
{
	static const char *const fields[] = {"url", "key", "ca_file"};
	char path[64], sub[96];
	json_t *item, *f;
	const char *k;
	size_t i;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > JG_AUDIT_MAX_WITNESSES)
		return refuse(c, "audit.witnesses.servers",
			      "'audit.witnesses.servers' must be a list of at most %d witnesses",
			      JG_AUDIT_MAX_WITNESSES);
	json_array_foreach(v, i, item)
	{
		struct jg_witness_cfg *w = &cfg->audit_witnesses[i];
		snprintf(path, sizeof(path), "audit.witnesses.servers[%zu]", i);
		if (!json_is_object(item))
			return refuse(c, path, "'%s' must be a mapping {url, key, ca_file}", path);
		json_object_foreach(item, k, f)
		{
			bool known = false;
			for (size_t n = 0; n < 3; n++)
				known |= strcmp(fields[n], k) == 0;
			snprintf(sub, sizeof(sub), "%s.%.16s", path, k);
			if (!known)
				return refuse(c, sub, "unknown key '%s'", sub);
			if (!json_is_string(f) || json_string_length(f) == 0 ||
			    strlen(json_string_value(f)) != json_string_length(f))
				return refuse(c, sub, "'%s' must be a non-empty string", sub);
		}
		cfg->audit_nwitnesses = i + 1;
		const char *url = json_string_value(json_object_get(item, "url"));
		const char *key = json_string_value(json_object_get(item, "key"));
		if (url == NULL || key == NULL)
			return refuse(c, path,
				      "'%s' needs 'url' and 'key' (the witness's verifier key)",
				      path);
		snprintf(sub, sizeof(sub), "%s.url", path);
		if (strncmp(url, "https://", 8) != 0 || url[8] == '\0' ||
		    url[strlen(url) - 1] == '/')
			return refuse(c, sub,
				      "'%s' must be https://host[:port][/prefix], no trailing '/'",
				      sub);
		/* credentials in a URL end up in logs; a witness needs none (tlog-witness) */
		const char *host_end = url + 8 + strcspn(url + 8, "/?#");
		if (memchr(url + 8, '@', (size_t)(host_end - url - 8)) != NULL)
			return refuse(c, sub, "'%s' must not hold credentials (user@)", sub);
		if ((w->url = strdup(url)) == NULL || (w->key = strdup(key)) == NULL)
			return JG_ENOMEM;
		if ((f = json_object_get(item, "ca_file")) != NULL &&
		    (w->ca_file = resolve(c->base_dir, json_string_value(f))) == NULL)
			return JG_ENOMEM;
	}
	return 0;
}

static int
read_key(struct ctx *c, const struct key *def, struct jg_config *cfg, char **str_out)
{
	json_t *v = lookup(c->doc->root, def->path);
	char range[96];

	*str_out = NULL;
	if (def->type == K_STRLIST)
		return read_list(c, def, v, (char ***)((char *)cfg + def->offset));
	if (def->type == K_SINKS)
		return read_sinks(c, v, cfg);
	if (def->type == K_WITNESSES)
		return read_witnesses(c, v, cfg);
	if (v == NULL || json_is_null(v)) {
		if (def->required)
			return refuse(c, NULL, "missing required key '%s'", def->path);
		if (def->type == K_INT) {
			*(int64_t *)((char *)cfg + def->offset) = def->def_int;
			return 0;
		}
		if (def->def_str == NULL || (def->type != K_STRING && def->type != K_PATH))
			return 0; /* a default text is only for a string key */
		*str_out =
		    def->type == K_PATH ? resolve(c->base_dir, def->def_str) : strdup(def->def_str);
		return *str_out ? 0 : JG_ENOMEM;
	}
	switch (def->type) {
	case K_OBJECT:
		if (!json_is_object(v))
			return refuse(c, def->path, "'%s' must be a mapping", def->path);
		return 0;
	case K_STRING:
	case K_PATH:
		if (!json_is_string(v) || json_string_length(v) == 0)
			return refuse(c, def->path, "'%s' must be a non-empty string", def->path);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return refuse(c, def->path, "'%s' contains a NUL byte", def->path);
		*str_out = def->type == K_PATH ? resolve(c->base_dir, json_string_value(v))
					       : strdup(json_string_value(v));
		return *str_out ? 0 : JG_ENOMEM;
	case K_INT:
		if (!json_is_integer(v) || json_integer_value(v) < def->min ||
		    json_integer_value(v) > def->max) {
			char msg[160];
			snprintf(range, sizeof(range), "%lld and %lld", (long long)def->min,
				 (long long)def->max);
			snprintf(msg, sizeof(msg), "'%s' must be an integer between %s", def->path,
				 range);
			return refuse(c, def->path, "%s", msg);
		}
		*(int64_t *)((char *)cfg + def->offset) = json_integer_value(v);
		return 0;
	case K_STRLIST:		 /* read_list() above */
	case K_SINKS:		 /* read_sinks() above */
	case K_WITNESSES: break; /* read_witnesses() above */
	}
	return JG_EINVAL;
}

static int
parse_listen(struct ctx *c, const char *listen, struct jg_config *cfg)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(listen, ':');
	unsigned char addr[16];

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
		return refuse(c, "listen", "'listen' must be ADDRESS:PORT, e.g. 127.0.0.1:8443");
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	/* [::1]:8443 */
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	if (inet_pton(AF_INET, h, addr) != 1 && inet_pton(AF_INET6, h, addr) != 1)
		return refuse(c, "listen", "'listen' needs a numeric IP address, not '%s'", h);
	uint64_t port;
	if (jg_parse_u64(colon + 1, 1, 65535, &port) != 0)
		return refuse(c, "listen", "'listen' port must be 1-65535");
	cfg->listen_host = strdup(h);
	cfg->listen_port = (uint16_t)port;
	return cfg->listen_host ? 0 : JG_ENOMEM;
}

static bool
is_postgres(const char *url)
{
	return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

/*
 * database.url: sqlite://PATH (relative to the configuration file) or a
 * postgres:// URI (store.h's rules: no password in it, TLS verified off
 * loopback).  database.owner_url: the schema owner's connection for `jitgate
 * migrate` (PostgreSQL only; default database.url).  database_store and
 * database_owner_store are what jg_store_open() takes.
 */
static int
parse_database(struct ctx *c, struct jg_config *cfg)
{
	const char *url = cfg->database_url;
	char why[384];

	if (is_postgres(url)) {
		/* the URL rules of the store (no password, TLS verified off loopback) first */
		if (jg_store_check_url(url, why, sizeof(why)) != 0)
			return refuse(c, "database.url", "'database.url': %s", why);
		const char *owner = cfg->database_owner_url ? cfg->database_owner_url : url;
		if (!is_postgres(owner))
			return refuse(c, "database.owner_url",
				      "'database.owner_url' must be a postgres:// URL like "
				      "'database.url'");
		if (jg_store_check_url(owner, why, sizeof(why)) != 0)
			return refuse(c, "database.owner_url", "'database.owner_url': %s", why);
		if (cfg->database_owner_password_file != NULL && cfg->database_owner_url == NULL)
			return refuse(c, "database.owner_password_file",
				      "'database.owner_password_file' needs 'database.owner_url'");
		cfg->database_store = strdup(url);
		cfg->database_owner_store = strdup(owner);
		if (cfg->database_owner_url == NULL && cfg->database_password_file != NULL &&
		    (cfg->database_owner_password_file = strdup(cfg->database_password_file)) ==
			NULL)
			return JG_ENOMEM;
		return cfg->database_store && cfg->database_owner_store ? 0 : JG_ENOMEM;
	}
	if (cfg->database_password_file != NULL)
		return refuse(
		    c, "database.password_file",
		    "'database.password_file' applies to a postgres:// database.url only");
	if (cfg->database_owner_url != NULL || cfg->database_owner_password_file != NULL)
		return refuse(c,
			      cfg->database_owner_url ? "database.owner_url"
						      : "database.owner_password_file",
			      "'database.owner_url' and 'database.owner_password_file' apply to a "
			      "postgres:// database.url only (a SQLite file has no roles)");
	if (strncmp(url, "sqlite://", 9) != 0 || url[9] == '\0')
		return refuse(c, "database.url",
			      "'database.url' must be sqlite:///absolute/path.db, "
			      "sqlite://relative/path.db or a postgres:// URL, not '%s'",
			      url);
	cfg->database_path = resolve(c->base_dir, url + 9);
	if (cfg->database_path == NULL)
		return JG_ENOMEM;
	cfg->database_store = strdup(cfg->database_path);
	cfg->database_owner_store = strdup(cfg->database_path);
	return cfg->database_store && cfg->database_owner_store ? 0 : JG_ENOMEM;
}

/* A checkpoint origin: printable ASCII, no spaces or '+' (C2SP key names). */
static bool
valid_origin(const char *o)
{
	if (*o == '\0' || strlen(o) > 255)
		return false;
	for (; *o; o++)
		if (*o <= ' ' || *o >= 0x7f || *o == '+')
			return false;
	return true;
}

static int
parse_audit(struct ctx *c, struct jg_config *cfg)
{
	if (cfg->audit_origin == NULL) {
		const char *host = cfg->public_url + 8;
		if (asprintf(&cfg->audit_origin, "%s/audit", host) < 0) {
			cfg->audit_origin = NULL;
			return JG_ENOMEM;
		}
	}
	if (!valid_origin(cfg->audit_origin))
		return refuse(c, "audit.origin",
			      "'audit.origin' must be printable ASCII without spaces or '+', e.g. "
			      "jitgate.example.com/audit");
	if (cfg->audit_sink_url != NULL && strncmp(cfg->audit_sink_url, "https://", 8) != 0)
		return refuse(c, "audit.sink_url", "'audit.sink_url' must be an https:// URL");
	if (cfg->audit_reverify_seconds != 0)
		cfg->warning = "'audit.reverify_seconds' is deprecated and ignored: the rolling "
			       "verifier re-verifies the whole log within 'audit.verify_budget' "
			       "(docs/operations.md); remove the key";
	if ((size_t)cfg->audit_witnesses_min > cfg->audit_nwitnesses)
		return refuse(c, "audit.witnesses.min",
			      "'audit.witnesses.min' (%lld) is more than the %zu witnesses listed",
			      (long long)cfg->audit_witnesses_min, cfg->audit_nwitnesses);
	return 0;
}

/* audit_stream: type decides which of url / address is needed. */
static int
parse_stream(struct ctx *c, struct jg_config *cfg)
{
	if (cfg->stream_type == NULL) {
		if (cfg->stream_url || cfg->stream_address)
			return refuse(c, "audit_stream",
				      "'audit_stream.type' is required (webhook or syslog)");
		return 0;
	}
	if (strcmp(cfg->stream_type, "webhook") == 0) {
		if (cfg->stream_url == NULL || strncmp(cfg->stream_url, "https://", 8) != 0)
			return refuse(
			    c, "audit_stream.url",
			    "'audit_stream.url' must be an https:// URL for a webhook stream");
		return 0;
	}
	if (strcmp(cfg->stream_type, "syslog") != 0)
		return refuse(c, "audit_stream.type",
			      "'audit_stream.type' must be webhook or syslog");
	const char *a = cfg->stream_address, *colon = a ? strrchr(a, ':') : NULL;
	uint64_t port;
	if (a == NULL || colon == NULL || colon == a || colon - a > 253 ||
	    jg_parse_u64(colon + 1, 1, 65535, &port) != 0)
		return refuse(
		    c, "audit_stream.address",
		    "'audit_stream.address' must be HOST:PORT of a syslog-over-TLS receiver, "
		    "e.g. siem.example.com:6514");
	return 0;
}

/* http:// is allowed only on loopback (the development provider). */
static int
loopback_http(const char *url)
{
	return strncmp(url, "http://127.0.0.1:", 17) == 0 ||
	       strncmp(url, "http://localhost:", 17) == 0 || strncmp(url, "http://[::1]:", 13) == 0;
}

/* *dst = a copy of src when *dst is NULL and src is not (a default); 0 or JG_ENOMEM. */
static int
default_to(char **dst, const char *src)
{
	if (*dst != NULL || src == NULL)
		return 0;
	return (*dst = strdup(src)) != NULL ? 0 : JG_ENOMEM;
}

/*
 * telemetry.database on PostgreSQL: the URL rules of database.url, an
 * owner for `jitgate migrate` (telemetry.owner_url, default the URL
 * itself), password files.  When it names the state database itself (the
 * same URL as database.url), the role settings default to database.*.
 */
static int
parse_telemetry_pg(struct ctx *c, struct jg_config *cfg)
{
	const char *url = cfg->telemetry_url;
	char why[384];
	int rc;

	if (jg_store_check_url(url, why, sizeof(why)) != 0)
		return refuse(c, "telemetry.database", "'telemetry.database': %s", why);
	if (strcmp(url, cfg->database_url) == 0 &&
	    ((rc = default_to(&cfg->telemetry_password_file, cfg->database_password_file)) != 0 ||
	     (rc = default_to(&cfg->telemetry_owner_url, cfg->database_owner_url)) != 0 ||
	     (rc = default_to(&cfg->telemetry_owner_password_file,
			      cfg->database_owner_password_file)) != 0))
		return rc;
	const char *owner = cfg->telemetry_owner_url ? cfg->telemetry_owner_url : url;
	if (!is_postgres(owner))
		return refuse(c, "telemetry.owner_url",
			      "'telemetry.owner_url' must be a postgres:// URL like "
			      "'telemetry.database'");
	if (jg_store_check_url(owner, why, sizeof(why)) != 0)
		return refuse(c, "telemetry.owner_url", "'telemetry.owner_url': %s", why);
	if (cfg->telemetry_owner_password_file != NULL && cfg->telemetry_owner_url == NULL)
		return refuse(c, "telemetry.owner_password_file",
			      "'telemetry.owner_password_file' needs 'telemetry.owner_url'");
	if (cfg->telemetry_owner_url == NULL &&
	    (rc = default_to(&cfg->telemetry_owner_password_file, cfg->telemetry_password_file)) !=
		0)
		return rc;
	cfg->telemetry_store = strdup(url);
	cfg->telemetry_owner_store = strdup(owner);
	return cfg->telemetry_store && cfg->telemetry_owner_store ? 0 : JG_ENOMEM;
}

/*
 * telemetry.database: a SQLite file (a path relative to the configuration
 * file, or sqlite://PATH) or a postgres:// URL (parse_telemetry_pg: a
 * database of its own or the state database itself).  By default
 * telemetry.db beside a SQLite state database; with a PostgreSQL state
 * database it must be named.
 */
static int
parse_telemetry(struct ctx *c, struct jg_config *cfg)
{
	const char *given = cfg->telemetry_url;

	if (given != NULL && is_postgres(given))
		return parse_telemetry_pg(c, cfg);
	if (cfg->telemetry_password_file != NULL)
		return refuse(c, "telemetry.password_file",
			      "'telemetry.password_file' applies to a postgres:// "
			      "telemetry.database only");
	if (cfg->telemetry_owner_url != NULL || cfg->telemetry_owner_password_file != NULL)
		return refuse(c,
			      cfg->telemetry_owner_url ? "telemetry.owner_url"
						       : "telemetry.owner_password_file",
			      "'telemetry.owner_url' and 'telemetry.owner_password_file' apply to "
			      "a postgres:// telemetry.database only (a SQLite file has no roles)");
	if (given != NULL) {
		if (strncmp(given, "sqlite://", 9) == 0 && given[9] == '\0')
			return refuse(c, "telemetry.database",
				      "'telemetry.database' names no file");
		if (strstr(given, "://") != NULL && strncmp(given, "sqlite://", 9) != 0)
			return refuse(c, "telemetry.database",
				      "'telemetry.database' must be a file, sqlite://PATH or a "
				      "postgres:// URL");
		cfg->telemetry_path =
		    resolve(c->base_dir, strncmp(given, "sqlite://", 9) == 0 ? given + 9 : given);
	} else {
		if (cfg->database_path == NULL)
			return refuse(c, "telemetry.database",
				      "'telemetry.database' is required with a postgres:// "
				      "database.url: a postgres:// URL (database.url itself, or "
				      "another database) or a SQLite file every replica can reach");
		char *copy = strdup(cfg->database_path);
		if (copy == NULL)
			return JG_ENOMEM;
		if (asprintf(&cfg->telemetry_path, "%s/telemetry.db", dirname(copy)) < 0)
			cfg->telemetry_path = NULL;
		free(copy);
	}
	if (cfg->telemetry_path == NULL)
		return JG_ENOMEM;
	cfg->telemetry_store = strdup(cfg->telemetry_path);
	cfg->telemetry_owner_store = strdup(cfg->telemetry_path);
	return cfg->telemetry_store && cfg->telemetry_owner_store ? 0 : JG_ENOMEM;
}

static int
parse_oidc(struct ctx *c, struct jg_config *cfg)
{
	const char *iss = cfg->oidc_issuer;

	if (strncmp(iss, "https://", 8) != 0 && !loopback_http(iss))
		return refuse(c, "oidc.issuer",
			      "'oidc.issuer' must be an https:// URL (http:// only on loopback)");
	if (iss[strlen(iss) - 1] == '/')
		return refuse(c, "oidc.issuer", "'oidc.issuer' must not end with '/'");
	if (cfg->oidc_audience == NULL && (cfg->oidc_audience = strdup(cfg->public_url)) == NULL)
		return JG_ENOMEM;
	return 0;
}

int
jg_config_parse(const char *buf, size_t len, const char *name, const char *base_dir,
		struct jg_config **out, char *err, size_t errlen)
{
	struct ctx c = {.name = name, .base_dir = base_dir, .err = err, .errlen = errlen};
	struct jg_config *cfg = NULL;
	char *listen = NULL, *level = NULL;
	int rc;

	*out = NULL;
	if (len > JG_CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes", name, JG_CONFIG_MAX_BYTES);
		return JG_ETOOBIG;
	}
	rc = jg_yamldoc_parse(buf, len, name, &c.doc, err, errlen);
	if (rc != 0)
		return rc == JG_EPARSE ? JG_ECONFIG : rc;
	if (!json_is_object(c.doc->root)) {
		rc = refuse(&c, NULL, "the top level must be a mapping");
		goto out;
	}
	if ((rc = check_unknown(&c, c.doc->root, "")) != 0)
		goto out;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->file = strdup(name)) == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		char *s = NULL;
		if ((rc = read_key(&c, &keys[i], cfg, &s)) != 0)
			goto out;
		if (strcmp(keys[i].path, "listen") == 0)
			listen = s;
		else if (strcmp(keys[i].path, "log_level") == 0)
			level = s;
		else if (keys[i].type == K_STRING || keys[i].type == K_PATH)
			*(char **)((char *)cfg + keys[i].offset) = s;
	}
	if ((rc = parse_listen(&c, listen, cfg)) != 0)
		goto out;
	if (jg_log_level_parse(level, &cfg->log_level) != 0) {
		rc = refuse(&c, "log_level", "'log_level' must be debug, info, warn or error");
		goto out;
	}
	if (strncmp(cfg->public_url, "https://", 8) != 0 || cfg->public_url[8] == '\0' ||
	    cfg->public_url[strlen(cfg->public_url) - 1] == '/') {
		rc = refuse(&c, "public_url",
			    "'public_url' must be https://host[:port] without a trailing slash");
		goto out;
	}
	if ((rc = parse_database(&c, cfg)) != 0)
		goto out;
	if ((rc = parse_audit(&c, cfg)) != 0)
		goto out;
	if ((rc = parse_telemetry(&c, cfg)) != 0)
		goto out;
	if ((rc = parse_oidc(&c, cfg)) != 0)
		goto out;
	if ((rc = parse_stream(&c, cfg)) != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	free(listen);
	free(level);
	jg_config_free(cfg);
	jg_yamldoc_free(c.doc);
	return rc;
}

int
jg_config_for_server(const char *listen, const char *cert_file, const char *key_file,
		     struct jg_config **out, char *err, size_t errlen)
{
	struct ctx c = {.name = "listen", .err = err, .errlen = errlen};
	struct jg_config *cfg;
	int rc = JG_ENOMEM;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return JG_ENOMEM;
	/* the limits' defaults, as a jitgate.yaml without a limits section gets them */
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == K_INT && strncmp(keys[i].path, "limits.", 7) == 0)
			*(int64_t *)((char *)cfg + keys[i].offset) = keys[i].def_int;
	if ((cfg->tls_cert_file = strdup(cert_file)) == NULL ||
	    (cfg->tls_key_file = strdup(key_file)) == NULL)
		goto out;
	if ((rc = parse_listen(&c, listen, cfg)) != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	jg_config_free(cfg);
	return rc;
}

int
jg_config_load(const char *path, struct jg_config **out, char *err, size_t errlen)
{
	char *buf = NULL, *copy = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = jg_file_read(path, JG_CONFIG_MAX_BYTES, false, &buf, &len, err, errlen);
	if (rc != 0)
		return rc;
	copy = strdup(path);
	if (copy == NULL) {
		free(buf);
		return JG_ENOMEM;
	}
	rc = jg_config_parse(buf, len, path, dirname(copy), out, err, errlen);
	free(buf);
	free(copy);
	return rc;
}

void
jg_config_free(struct jg_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->file);
	free(cfg->listen_host);
	free(cfg->public_url);
	free(cfg->tls_cert_file);
	free(cfg->tls_key_file);
	free(cfg->database_url);
	free(cfg->database_path);
	free(cfg->database_password_file);
	free(cfg->database_owner_url);
	free(cfg->database_owner_password_file);
	free(cfg->database_store);
	free(cfg->database_owner_store);
	free(cfg->migrations_dir);
	free(cfg->policy_dir);
	free(cfg->key_dir);
	free(cfg->audit_origin);
	free(cfg->audit_sink_dir);
	free(cfg->audit_archive_dir);
	free(cfg->audit_sink_url);
	free(cfg->audit_sink_ca_file);
	free(cfg->requests_incident_pattern);
	free(cfg->oidc_issuer);
	free(cfg->oidc_client_id);
	free(cfg->oidc_client_secret_file);
	free_list(cfg->oidc_allowed_clients);
	free(cfg->oidc_audience);
	free(cfg->oidc_groups_claim);
	free(cfg->oidc_scopes);
	free(cfg->oidc_ca_file);
	free_list(cfg->auth_auditor_groups);
	free_list(cfg->auth_admin_groups);
	for (size_t i = 0; i < cfg->audit_nwitnesses; i++) {
		free(cfg->audit_witnesses[i].url);
		free(cfg->audit_witnesses[i].key);
		free(cfg->audit_witnesses[i].ca_file);
	}
	for (size_t i = 0; cfg->notify_sinks && i < cfg->notify_nsinks; i++) {
		struct jg_notify_sink_cfg *k = &cfg->notify_sinks[i];
		free(k->name);
		free(k->type);
		free(k->url);
		free(k->secret_file);
		free(k->ca_file);
		free_list(k->audiences);
		free_list(k->policies);
		free_list(k->groups);
		free_list(k->events);
	}
	free(cfg->notify_sinks);
	free(cfg->stream_type);
	free(cfg->stream_url);
	free(cfg->stream_address);
	free(cfg->stream_ca_file);
	free(cfg->stream_secret_file);
	free(cfg->stream_hostname);
	free(cfg->telemetry_url);
	free(cfg->telemetry_path);
	free(cfg->telemetry_password_file);
	free(cfg->telemetry_owner_url);
	free(cfg->telemetry_owner_password_file);
	free(cfg->telemetry_store);
	free(cfg->telemetry_owner_store);
	free_list(cfg->redaction_sensitive_fields);
	free(cfg);
}
