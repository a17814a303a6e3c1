/*
 * test_config.c - jitgate.yaml parsing and validation.
 *
 * Each kind of bad input must be refused with a message that names the key
 * and the line, because that message is all an operator sees at start-up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/config.h"
#include "jitgate/error.h"
#include "jitgate/yamldoc.h"

static const char valid[] = "listen: \"127.0.0.1:9443\"\n"
			    "public_url: \"https://jitgate.example.com\"\n"
			    "tls:\n"
			    "  cert_file: tls/cert.pem\n"
			    "  key_file: /etc/jitgate/key.pem\n"
			    "database:\n"
			    "  url: \"sqlite://data/jitgate.db\"\n"
			    "limits:\n"
			    "  max_body_bytes: 2048\n"
			    "oidc:\n"
			    "  issuer: \"https://sso.example.com\"\n"
			    "  client_id: jitgate\n"
			    "  allowed_clients: [jitgate, jitgate-cli]\n";

static int
parse(const char *text, struct jg_config **cfg, char *err, size_t errlen)
{
	return jg_config_parse(text, strlen(text), "test.yaml", "/srv/jg", cfg, err, errlen);
}

/* Replaces the first occurrence of `from` in valid with `to`. */
static const char *
variant(const char *from, const char *to)
{
	static char buf[2048];
	const char *at = strstr(valid, from);
	assert_non_null(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - valid), valid, to, at + strlen(from));
	return buf;
}

static void
expect_refused(const char *text, const char *needle)
{
	struct jg_config *cfg = NULL;
	char err[1024] = "";
	int rc = parse(text, &cfg, err, sizeof(err));
	if (rc == 0 || strstr(err, needle) == NULL)
		fail_msg("expected refusal containing \"%s\", got rc=%d err=\"%s\"", needle, rc,
			 err);
	assert_null(cfg);
}

static void
test_config_parse_valid(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->listen_host, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 9443);
	assert_string_equal(cfg->public_url, "https://jitgate.example.com");
	assert_string_equal(cfg->tls_cert_file, "/srv/jg/tls/cert.pem"); /* relative to the file */
	assert_string_equal(cfg->tls_key_file, "/etc/jitgate/key.pem");	 /* absolute kept */
	assert_string_equal(cfg->database_path, "/srv/jg/data/jitgate.db");
	assert_string_equal(cfg->database_store, "/srv/jg/data/jitgate.db");
	assert_string_equal(cfg->database_owner_store, "/srv/jg/data/jitgate.db");
	assert_string_equal(cfg->telemetry_path, "/srv/jg/data/telemetry.db"); /* beside it */
	assert_string_equal(cfg->migrations_dir, "/srv/jg/migrations");	       /* default */
	assert_int_equal(cfg->limits.max_body_bytes, 2048);
	assert_int_equal(cfg->limits.max_header_bytes, 16384); /* default */
	assert_int_equal(cfg->limits.max_connections, 256);
	assert_int_equal(cfg->log_level, JG_LOG_INFO);
	assert_int_equal(cfg->probes_event_retention, 7 * 86400); /* default */
	jg_config_free(cfg);
}

/* The abuse limits: production defaults, and each one settable and range-checked. */
static void
test_config_parse_rate_limits(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->limits.max_connections_per_address, 32);
	assert_int_equal(cfg->limits.auth_failures_per_minute, 10);
	assert_int_equal(cfg->limits.auth_failures_burst, 20);
	assert_int_equal(cfg->limits.requests_per_minute, 10);
	assert_int_equal(cfg->limits.requests_burst, 20);
	assert_int_equal(cfg->limits.requests_per_address_per_minute, 60);
	assert_int_equal(cfg->limits.requests_address_burst, 60);
	assert_int_equal(cfg->limits.rate_table_entries, 16384);
	jg_config_free(cfg);
	cfg = NULL;
	assert_int_equal(parse(variant("limits:\n", "limits:\n  auth_failures_burst: 3\n"
						    "  requests_per_minute: 600\n"
						    "  rate_table_entries: 64\n"),
			       &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->limits.auth_failures_burst, 3);
	assert_int_equal(cfg->limits.requests_per_minute, 600);
	assert_int_equal(cfg->limits.rate_table_entries, 64);
	jg_config_free(cfg);
	expect_refused(variant("limits:\n", "limits:\n  auth_failures_per_minute: 0\n"),
		       "'limits.auth_failures_per_minute' must be an integer between 1 and 100000");
	expect_refused(variant("limits:\n", "limits:\n  rate_table_entries: 10\n"),
		       "'limits.rate_table_entries' must be an integer between 64");
	expect_refused(variant("limits:\n", "limits:\n  max_connections_per_address: -1\n"),
		       "'limits.max_connections_per_address' must be an integer between 1");
}

static void
test_config_telemetry_defaults(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	/* beside the state database, 7 days for every kind, the built-in field list */
	assert_string_equal(cfg->telemetry_path, "/srv/jg/data/telemetry.db");
	assert_int_equal(cfg->telemetry_logs_retention, 7 * 86400);
	assert_int_equal(cfg->telemetry_traces_retention, 7 * 86400);
	assert_int_equal(cfg->telemetry_metrics_retention, 7 * 86400);
	assert_non_null(cfg->redaction_sensitive_fields);
	int has_password = 0;
	size_t n = 0;
	for (; cfg->redaction_sensitive_fields[n]; n++)
		has_password |= strcmp(cfg->redaction_sensitive_fields[n], "password") == 0;
	assert_true(has_password);
	assert_true(n >= 10);
	jg_config_free(cfg);
}

static void
test_config_telemetry_set(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;
	const char *text =
	    variant("oidc:\n", "telemetry:\n  database: /var/lib/t.db\n"
			       "  logs_retention_seconds: 3600\n"
			       "  traces_retention_seconds: 60\n"
			       "  metrics_retention_seconds: 1\n"
			       "redaction:\n  sensitive_fields: [customer_ref, Secret]\n"
			       "oidc:\n");
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->telemetry_path, "/var/lib/t.db");
	assert_string_equal(cfg->telemetry_store, "/var/lib/t.db");
	assert_string_equal(cfg->telemetry_owner_store, "/var/lib/t.db");
	assert_int_equal(cfg->telemetry_logs_retention, 3600);
	assert_int_equal(cfg->telemetry_traces_retention, 60);
	assert_int_equal(cfg->telemetry_metrics_retention, 1);
	assert_string_equal(cfg->redaction_sensitive_fields[0], "customer_ref");
	assert_string_equal(cfg->redaction_sensitive_fields[1], "Secret");
	assert_null(cfg->redaction_sensitive_fields[2]); /* replaces the built-in list */
	jg_config_free(cfg);
	/* relative to the configuration file */
	assert_int_equal(parse(variant("oidc:\n", "telemetry:\n  database: t/tel.db\noidc:\n"),
			       &cfg, err, sizeof(err)),
			 0);
	assert_string_equal(cfg->telemetry_path, "/srv/jg/t/tel.db");
	jg_config_free(cfg);
}

static void
test_config_telemetry_refused(void **state)
{
	(void)state;
	expect_refused(variant("oidc:\n", "telemetry:\n  logs_retention_seconds: 0\noidc:\n"),
		       "'telemetry.logs_retention_seconds' must be an integer between 1 and");
	expect_refused(variant("oidc:\n", "telemetry:\n  retention: 5\noidc:\n"),
		       "unknown key 'telemetry.retention'");
	expect_refused(variant("oidc:\n", "redaction:\n  sensitive_fields: password\noidc:\n"),
		       "'redaction.sensitive_fields' must be a list of strings");
	expect_refused(variant("oidc:\n", "redaction:\n  sensitive_fields: [\"\"]\noidc:\n"),
		       "'redaction.sensitive_fields' entries must be non-empty strings");
}

static void
test_config_parse_absolute_sqlite_url(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512];
	(void)state;
	assert_int_equal(parse(variant("sqlite://data/jitgate.db", "sqlite:///var/lib/j.db"), &cfg,
			       err, sizeof(err)),
			 0);
	assert_string_equal(cfg->database_path, "/var/lib/j.db");
	jg_config_free(cfg);
}

static void
test_config_parse_unknown_key_names_line(void **state)
{
	(void)state;
	expect_refused(variant("limits:\n", "limits:\n  max_bdy_bytes: 1\n"),
		       "test.yaml:9: unknown key 'limits.max_bdy_bytes'");
	expect_refused(variant("tls:\n", "tsl: 1\ntls:\n"), "test.yaml:3: unknown key 'tsl'");
}

static void
test_config_parse_wrong_type(void **state)
{
	(void)state;
	expect_refused(variant("2048", "\"big\""),
		       "test.yaml:9: 'limits.max_body_bytes' must be an integer between");
	expect_refused(variant("2048", "[1, 2]"), "'limits.max_body_bytes' must be an integer");
	expect_refused(
	    variant("tls:\n  cert_file: tls/cert.pem\n  key_file: /etc/jitgate/key.pem\n",
		    "tls: yes-please\n"),
	    "test.yaml:3: 'tls' must be a mapping");
	expect_refused(variant("\"https://jitgate.example.com\"", "42"),
		       "test.yaml:2: 'public_url' must be a non-empty string");
}

static void
test_config_parse_out_of_range(void **state)
{
	(void)state;
	expect_refused(variant("2048", "10"),
		       "'limits.max_body_bytes' must be an integer between 1024");
	expect_refused(variant("127.0.0.1:9443", "127.0.0.1:70000"), "test.yaml:1: 'listen' port");
}

static void
test_config_parse_missing_required(void **state)
{
	(void)state;
	expect_refused(variant("public_url: \"https://jitgate.example.com\"\n", ""),
		       "missing required key 'public_url'");
	expect_refused(variant("  key_file: /etc/jitgate/key.pem\n", ""),
		       "missing required key 'tls.key_file'");
}

/* oidc.allowed_clients: required, a non-empty list of non-empty names, kept in order. */
static void
test_config_oidc_allowed_clients(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	assert_non_null(cfg->oidc_allowed_clients);
	assert_string_equal(cfg->oidc_allowed_clients[0], "jitgate");
	assert_string_equal(cfg->oidc_allowed_clients[1], "jitgate-cli");
	assert_null(cfg->oidc_allowed_clients[2]);
	jg_config_free(cfg);

	expect_refused(variant("  allowed_clients: [jitgate, jitgate-cli]\n", ""),
		       "missing required key 'oidc.allowed_clients': the client ids (azp or "
		       "client_id) whose access tokens jitgate accepts");
	expect_refused(variant("[jitgate, jitgate-cli]", "[]"),
		       "test.yaml:13: 'oidc.allowed_clients' must name at least one entry");
	expect_refused(variant("[jitgate, jitgate-cli]", "jitgate"),
		       "'oidc.allowed_clients' must be a list of strings");
	expect_refused(variant("[jitgate, jitgate-cli]", "[jitgate, \"\"]"),
		       "'oidc.allowed_clients' entries must be non-empty strings");
	expect_refused(variant("[jitgate, jitgate-cli]", "~"),
		       "missing required key 'oidc.allowed_clients'");
}

static void
test_config_parse_postgres_refused(void **state)
{
	(void)state;
	/* the store's URL rules are applied to a PostgreSQL URL... */
	expect_refused(variant("sqlite://data/jitgate.db", "postgres://jitgate:pw@db/jitgate"),
		       "test.yaml:7: 'database.url': a password in the database URL is refused");
	expect_refused(variant("sqlite://data/jitgate.db", "postgres://db.example.com/jitgate"),
		       "test.yaml:7: 'database.url': a database host that is not loopback needs "
		       "sslmode=verify-full");
	/* ...and to the owner's */
	expect_refused(
	    variant("sqlite://data/jitgate.db\"\n",
		    "postgres://127.0.0.1/jg\"\n  owner_url: "
		    "\"postgres://owner:pw@127.0.0.1/jg\"\ntelemetry:\n  database: t.db\n"),
	    "'database.owner_url': a password in the database URL is refused");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "postgres://127.0.0.1/jg\"\n  owner_url: \"sqlite://x.db\"\n"
			       "telemetry:\n  database: t.db\n"),
		       "'database.owner_url' must be a postgres:// URL");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "postgres://127.0.0.1/jg\"\n  owner_password_file: /etc/pw\n"
			       "telemetry:\n  database: t.db\n"),
		       "'database.owner_password_file' needs 'database.owner_url'");
	/* SQLite has no roles and no password */
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\n  password_file: /etc/pw\n"),
		       "'database.password_file' applies to a postgres:// database.url only");
	expect_refused(
	    variant("sqlite://data/jitgate.db\"\n",
		    "sqlite://data/jitgate.db\"\n  owner_url: \"postgres://127.0.0.1/x\"\n"),
	    "'database.owner_url' and 'database.owner_password_file' apply to a "
	    "postgres:// database.url only");
	expect_refused(variant("sqlite://data/jitgate.db", "mysql://db"),
		       "'database.url' must be sqlite:///absolute/path.db");
	/* with a PostgreSQL state database the telemetry's place is named */
	expect_refused(variant("sqlite://data/jitgate.db", "postgres://127.0.0.1/jg"),
		       "'telemetry.database' is required with a postgres:// database.url");
	/* a telemetry URL under the same rules as the state database's */
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\ntelemetry:\n  database: "
			       "\"postgres://tel:pw@127.0.0.1/tel\"\n"),
		       "'telemetry.database': a password in the database URL is refused");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\ntelemetry:\n  database: "
			       "\"postgres://db.example.com/tel\"\n"),
		       "'telemetry.database': a database host that is not loopback needs "
		       "sslmode=verify-full");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\ntelemetry:\n  database: "
			       "\"postgres://127.0.0.1/tel\"\n  owner_url: \"sqlite://t.db\"\n"),
		       "'telemetry.owner_url' must be a postgres:// URL");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\ntelemetry:\n  database: "
			       "\"postgres://127.0.0.1/tel\"\n  owner_password_file: /etc/pw\n"),
		       "'telemetry.owner_password_file' needs 'telemetry.owner_url'");
	expect_refused(
	    variant("sqlite://data/jitgate.db\"\n",
		    "sqlite://data/jitgate.db\"\ntelemetry:\n  database: t.db\n"
		    "  password_file: /etc/pw\n"),
	    "'telemetry.password_file' applies to a postgres:// telemetry.database only");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\ntelemetry:\n  owner_url: "
			       "\"postgres://127.0.0.1/tel\"\n"),
		       "apply to a postgres:// telemetry.database only");
	expect_refused(variant("sqlite://data/jitgate.db\"\n",
			       "sqlite://data/jitgate.db\"\ntelemetry:\n  database: "
			       "\"mysql://db/tel\"\n"),
		       "'telemetry.database' must be a file, sqlite://PATH or a postgres:// URL");
}

/*
 * Telemetry on PostgreSQL: another database with roles of its own, or the
 * state database itself, whose role settings it then takes.
 */
static void
test_config_parse_postgres_telemetry(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	const char *text =
	    variant("sqlite://data/jitgate.db\"\n",
		    "postgres://127.0.0.1/jitgate\"\n  password_file: /etc/jg/pw\n"
		    "  owner_url: \"postgres://owner@127.0.0.1/jitgate\"\n"
		    "  owner_password_file: /etc/jg/owner\n"
		    "telemetry:\n  database: \"postgres://tel@127.0.0.1/telemetry\"\n"
		    "  password_file: secrets/tel\n");
	if (parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_null(cfg->telemetry_path);
	assert_string_equal(cfg->telemetry_store, "postgres://tel@127.0.0.1/telemetry");
	assert_string_equal(cfg->telemetry_owner_store, "postgres://tel@127.0.0.1/telemetry");
	assert_string_equal(cfg->telemetry_password_file, "/srv/jg/secrets/tel");
	/* no owner_url: the serving connection migrates, with its password */
	assert_string_equal(cfg->telemetry_owner_password_file, "/srv/jg/secrets/tel");
	jg_config_free(cfg);
	cfg = NULL;

	/* the state database itself: its password files and owner */
	text = variant("sqlite://data/jitgate.db\"\n",
		       "postgres://127.0.0.1/jitgate\"\n  password_file: /etc/jg/pw\n"
		       "  owner_url: \"postgres://owner@127.0.0.1/jitgate\"\n"
		       "  owner_password_file: /etc/jg/owner\n"
		       "telemetry:\n  database: \"postgres://127.0.0.1/jitgate\"\n");
	if (parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg->telemetry_store, "postgres://127.0.0.1/jitgate");
	assert_string_equal(cfg->telemetry_owner_store, "postgres://owner@127.0.0.1/jitgate");
	assert_string_equal(cfg->telemetry_password_file, "/etc/jg/pw");
	assert_string_equal(cfg->telemetry_owner_password_file, "/etc/jg/owner");
	jg_config_free(cfg);
	cfg = NULL;

	/* a SQLite state database with telemetry on PostgreSQL, an owner of its own */
	text = variant("sqlite://data/jitgate.db\"\n",
		       "sqlite://data/jitgate.db\"\ntelemetry:\n  database: "
		       "\"postgres://127.0.0.1/tel\"\n  owner_url: \"postgres://o@127.0.0.1/tel\"\n"
		       "  owner_password_file: /etc/o\n");
	if (parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg->telemetry_owner_store, "postgres://o@127.0.0.1/tel");
	assert_null(cfg->telemetry_password_file);
	assert_string_equal(cfg->telemetry_owner_password_file, "/etc/o");
	jg_config_free(cfg);
}

/* A PostgreSQL deployment: the serving URL, the owner's for migrate, telemetry in a file. */
static void
test_config_parse_postgres(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	const char *text = variant(
	    "sqlite://data/jitgate.db\"\n",
	    "postgres://db1.example.com,db2.example.com/jitgate?sslmode=verify-full&"
	    "target_session_attrs=read-write\"\n"
	    "  password_file: secrets/serving\n"
	    "  owner_url: \"postgres://jitgate_owner@db1.example.com,db2.example.com/jitgate?"
	    "sslmode=verify-full&target_session_attrs=read-write\"\n"
	    "  owner_password_file: /run/secrets/owner\n"
	    "telemetry:\n  database: sqlite://data/telemetry.db\n");
	if (parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_null(cfg->database_path);
	assert_string_equal(cfg->database_store, cfg->database_url);
	assert_non_null(strstr(cfg->database_owner_store, "postgres://jitgate_owner@db1"));
	assert_string_equal(cfg->database_password_file, "/srv/jg/secrets/serving");
	assert_string_equal(cfg->database_owner_password_file, "/run/secrets/owner");
	assert_string_equal(cfg->telemetry_path, "/srv/jg/data/telemetry.db");
	jg_config_free(cfg);
	cfg = NULL;

	/* without owner_url the owner is the serving connection, with its password file */
	text = variant("sqlite://data/jitgate.db\"\n",
		       "postgres://127.0.0.1/jitgate\"\n  password_file: /etc/jg/pw\n"
		       "telemetry:\n  database: /var/lib/jg/telemetry.db\n");
	if (parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg->database_owner_store, "postgres://127.0.0.1/jitgate");
	assert_string_equal(cfg->database_owner_password_file, "/etc/jg/pw");
	assert_string_equal(cfg->telemetry_path, "/var/lib/jg/telemetry.db");
	jg_config_free(cfg);
}

static void
test_config_parse_bad_values(void **state)
{
	(void)state;
	expect_refused(variant("127.0.0.1:9443", "localhost:9443"), "needs a numeric IP address");
	expect_refused(variant("https://jitgate.example.com", "http://jitgate.example.com"),
		       "'public_url' must be https://");
	expect_refused(variant("https://jitgate.example.com", "https://jitgate.example.com/"),
		       "without a trailing slash");
	expect_refused(variant("listen:", "log_level: loud\nlisten:"),
		       "test.yaml:1: 'log_level' must be debug, info, warn or error");
}

static void
test_config_parse_yaml_errors(void **state)
{
	(void)state;
	expect_refused(variant("limits:\n", "limits:\n  max_body_bytes: 4096\n"),
		       "test.yaml:10: duplicate key 'max_body_bytes'");
	expect_refused("a: &x 1\nb: *x\n", "test.yaml:1: anchors and tags are not allowed");
	expect_refused("listen: [unclosed\n", "test.yaml:");
	expect_refused("- 1\n- 2\n", "the top level must be a mapping");
	expect_refused("a: 1\n---\nb: 2\n", "only one YAML document is allowed");
}

static void
test_config_parse_too_large(void **state)
{
	struct jg_config *cfg = NULL;
	char err[256];
	size_t n = JG_CONFIG_MAX_BYTES + 1;
	char *big = malloc(n + 1);
	(void)state;
	memset(big, '#', n);
	big[n] = '\0';
	assert_int_equal(jg_config_parse(big, n, "big.yaml", NULL, &cfg, err, sizeof(err)),
			 JG_ETOOBIG);
	free(big);
}

static void
test_yamldoc_parse_scalar_types(void **state)
{
	struct jg_yamldoc *doc = NULL;
	char err[256];
	const char *text = "n: 12\nneg: -3\ns: \"12\"\nb: true\nz: ~\nlead: 012\nw: hello\n";
	(void)state;
	assert_int_equal(jg_yamldoc_parse(text, strlen(text), "t", &doc, err, sizeof(err)), 0);
	assert_true(json_is_integer(json_object_get(doc->root, "n")));
	assert_int_equal(json_integer_value(json_object_get(doc->root, "neg")), -3);
	assert_true(json_is_string(json_object_get(doc->root, "s")));
	assert_true(json_is_true(json_object_get(doc->root, "b")));
	assert_true(json_is_null(json_object_get(doc->root, "z")));
	assert_true(json_is_string(json_object_get(doc->root, "lead"))); /* not octal */
	assert_int_equal(jg_yamldoc_line(doc, "w"), 7);
	jg_yamldoc_free(doc);
}

static const char sinks[] = "notifications:\n"
			    "  retry_base_ms: 200\n"
			    "  sinks:\n"
			    "    - name: leads\n"
			    "      type: webhook\n"
			    "      url: https://hooks.example.com/jg\n"
			    "      secret_file: secrets/hook.key\n"
			    "      audiences: [approvers, security]\n"
			    "      groups: [payments-leads]\n"
			    "    - name: chat\n"
			    "      type: slack\n"
			    "      url: https://chat.example.com/services/T/B/x\n"
			    "      events: [request.pending]\n"
			    "      max_attempts: 3\n"
			    "audit_stream:\n"
			    "  type: syslog\n"
			    "  address: siem.example.com:6514\n";

static const char *
with(const char *extra)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s%s", valid, extra);
	return buf;
}

static void
test_config_parse_notifications(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->notify_nsinks, 0);
	assert_int_equal(cfg->notify_retry_base_ms, 10000); /* production defaults */
	assert_int_equal(cfg->notify_retry_max_ms, 900000);
	assert_int_equal(cfg->notify_max_attempts, 12);
	assert_int_equal(cfg->notify_keep_delivered_days, 7);
	assert_null(cfg->stream_type);
	jg_config_free(cfg);

	assert_int_equal(parse(with(sinks), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->notify_nsinks, 2);
	assert_int_equal(cfg->notify_retry_base_ms, 200);
	assert_string_equal(cfg->notify_sinks[0].name, "leads");
	assert_string_equal(cfg->notify_sinks[0].secret_file, "/srv/jg/secrets/hook.key");
	assert_string_equal(cfg->notify_sinks[0].audiences[1], "security");
	assert_null(cfg->notify_sinks[0].audiences[2]);
	assert_string_equal(cfg->notify_sinks[0].groups[0], "payments-leads");
	assert_int_equal(cfg->notify_sinks[0].timeout_ms, 5000);
	assert_string_equal(cfg->notify_sinks[1].type, "slack");
	assert_null(cfg->notify_sinks[1].secret_file);
	assert_int_equal(cfg->notify_sinks[1].max_attempts, 3);
	assert_null(cfg->notify_sinks[1].audiences);
	assert_string_equal(cfg->stream_type, "syslog");
	assert_int_equal(cfg->stream_batch_size, 500);
	jg_config_free(cfg);
}

/* Replaces `from` in sinks (then appended to valid). */
static const char *
sink_variant(const char *from, const char *to)
{
	static char buf[2048];
	const char *at = strstr(sinks, from);
	assert_non_null(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - sinks), sinks, to, at + strlen(from));
	return with(buf);
}

static void
test_config_parse_notifications_refused(void **state)
{
	(void)state;
	expect_refused(sink_variant("type: webhook", "type: email"),
		       "test.yaml:18: 'notifications.sinks[0].type' must be webhook or slack");
	expect_refused(sink_variant("https://hooks.example.com/jg", "http://hooks.example.com/jg"),
		       "'notifications.sinks[0].url' must be an https:// URL");
	expect_refused(sink_variant("      secret_file: secrets/hook.key\n", ""),
		       "'notifications.sinks[0].secret_file' is required for a webhook");
	expect_refused(sink_variant("approvers, security", "approvers, everyone"),
		       "'notifications.sinks[0].audiences' holds an invalid entry 'everyone'");
	expect_refused(sink_variant("[request.pending]", "[request.pendng]"),
		       "holds an invalid entry 'request.pendng'");
	expect_refused(sink_variant("name: chat", "name: leads"), "two sinks are named 'leads'");
	expect_refused(sink_variant("name: chat", "name: Chat Room"),
		       "'notifications.sinks[1].name' must be 1-64 of a-z");
	expect_refused(
	    sink_variant("      max_attempts: 3\n", "      max_attempts: 0\n"),
	    "'notifications.sinks[1].max_attempts' must be an integer between 1 and 1000");
	expect_refused(sink_variant("      max_attempts: 3\n", "      colour: red\n"),
		       "unknown key 'notifications.sinks[1].colour'");
	expect_refused(sink_variant("retry_base_ms: 200", "retry_base_ms: 1"),
		       "'notifications.retry_base_ms' must be an integer between 10 and");
	expect_refused(sink_variant("siem.example.com:6514", "siem.example.com"),
		       "'audit_stream.address' must be HOST:PORT");
	expect_refused(sink_variant("type: syslog", "type: kafka"),
		       "'audit_stream.type' must be webhook or syslog");
	expect_refused(sink_variant("type: syslog\n  address: siem.example.com:6514",
				    "type: webhook\n  url: http://siem.example.com/in"),
		       "'audit_stream.url' must be an https:// URL");
	expect_refused(with("notifications:\n  sinks: {a: 1}\n"),
		       "'notifications.sinks' must be a list of at most 16 sinks");
}

/*
 * audit.verify_budget: a percent of one core, 10 by default, 1-100; the
 * deprecated audit.reverify_seconds is still accepted (old files load) with
 * a warning that says it is ignored.
 */
static void
test_config_audit_verify_budget_and_deprecated_reverify(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->audit_verify_budget, 10);
	assert_null(cfg->warning);
	jg_config_free(cfg);
	cfg = NULL;

	assert_int_equal(parse(with("audit:\n  verify_budget: 25\n"), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->audit_verify_budget, 25);
	jg_config_free(cfg);
	cfg = NULL;
	expect_refused(with("audit:\n  verify_budget: 0\n"),
		       "'audit.verify_budget' must be an integer between 1 and 100");
	expect_refused(with("audit:\n  verify_budget: 101\n"),
		       "'audit.verify_budget' must be an integer between 1 and 100");
	expect_refused(with("audit:\n  verify_budget: \"10%\"\n"),
		       "'audit.verify_budget' must be an integer");

	assert_int_equal(parse(with("audit:\n  reverify_seconds: 300\n"), &cfg, err, sizeof(err)),
			 0);
	assert_non_null(cfg->warning);
	assert_non_null(strstr(cfg->warning, "'audit.reverify_seconds' is deprecated"));
	assert_int_equal(cfg->audit_verify_budget, 10); /* it changes nothing else */
	jg_config_free(cfg);
}

/* audit.witnesses: servers read with their paths resolved; bad ones refused naming the key. */
static void
test_config_parse_witnesses(void **state)
{
	struct jg_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	assert_int_equal(parse(valid, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->audit_nwitnesses, 0);
	assert_int_equal(cfg->audit_witnesses_min, 0);
	jg_config_free(cfg);
	cfg = NULL;
	assert_int_equal(
	    parse(variant("oidc:\n",
			  "audit:\n  witnesses:\n    min: 1\n    servers:\n"
			  "      - {url: \"https://w1.example:9443\", key: k1, ca_file: ca.pem}\n"
			  "      - {url: \"https://w2.example/witness\", key: k2}\noidc:\n"),
		  &cfg, err, sizeof(err)),
	    0);
	assert_int_equal(cfg->audit_nwitnesses, 2);
	assert_int_equal(cfg->audit_witnesses_min, 1);
	assert_string_equal(cfg->audit_witnesses[0].url, "https://w1.example:9443");
	assert_string_equal(cfg->audit_witnesses[0].key, "k1");
	assert_string_equal(cfg->audit_witnesses[0].ca_file, "/srv/jg/ca.pem");
	assert_null(cfg->audit_witnesses[1].ca_file);
	jg_config_free(cfg);

	expect_refused(variant("oidc:\n", "audit:\n  witnesses:\n    min: 1\noidc:\n"),
		       "'audit.witnesses.min' (1) is more than the 0 witnesses listed");
	expect_refused(variant("oidc:\n", "audit:\n  witnesses:\n    servers:\n"
					  "      - {url: \"http://w1.example\", key: k1}\noidc:\n"),
		       "'audit.witnesses.servers[0].url' must be https://");
	expect_refused(variant("oidc:\n",
			       "audit:\n  witnesses:\n    servers:\n"
			       "      - {url: \"https://w1.example/\", key: k1}\noidc:\n"),
		       "no trailing '/'");
	expect_refused(variant("oidc:\n", "audit:\n  witnesses:\n    servers:\n"
					  "      - {url: \"https://w1.example\"}\noidc:\n"),
		       "needs 'url' and 'key'");
	expect_refused(variant("oidc:\n", "audit:\n  witnesses:\n    servers:\n"
					  "      - {url: \"https://w\", key: k, kee: x}\noidc:\n"),
		       "unknown key 'audit.witnesses.servers[0].kee'");
	expect_refused(variant("oidc:\n", "audit:\n  witnesses:\n    quorum: 2\noidc:\n"),
		       "unknown key 'audit.witnesses.quorum'");
	expect_refused(variant("oidc:\n", "audit:\n  witnesses:\n    min: 9\noidc:\n"),
		       "'audit.witnesses.min' must be an integer between 0 and 8");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_parse_valid),
	    cmocka_unit_test(test_config_parse_absolute_sqlite_url),
	    cmocka_unit_test(test_config_parse_unknown_key_names_line),
	    cmocka_unit_test(test_config_parse_wrong_type),
	    cmocka_unit_test(test_config_parse_out_of_range),
	    cmocka_unit_test(test_config_oidc_allowed_clients),
	    cmocka_unit_test(test_config_parse_missing_required),
	    cmocka_unit_test(test_config_parse_postgres_refused),
	    cmocka_unit_test(test_config_parse_postgres),
	    cmocka_unit_test(test_config_telemetry_defaults),
	    cmocka_unit_test(test_config_telemetry_set),
	    cmocka_unit_test(test_config_telemetry_refused),
	    cmocka_unit_test(test_config_parse_postgres_telemetry),
	    cmocka_unit_test(test_config_parse_bad_values),
	    cmocka_unit_test(test_config_parse_yaml_errors),
	    cmocka_unit_test(test_config_parse_too_large),
	    cmocka_unit_test(test_config_parse_rate_limits),
	    cmocka_unit_test(test_yamldoc_parse_scalar_types),
	    cmocka_unit_test(test_config_parse_notifications),
	    cmocka_unit_test(test_config_parse_witnesses),
	    cmocka_unit_test(test_config_parse_notifications_refused),
	    cmocka_unit_test(test_config_audit_verify_budget_and_deprecated_reverify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
