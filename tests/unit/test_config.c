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
			    "  client_id: jitgate\n";

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
		fail_msg("expected refusal containing \"%s\", got rc=%d err=\"%s\"", needle, rc, err);
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
	assert_string_equal(cfg->tls_key_file, "/etc/jitgate/key.pem");  /* absolute kept */
	assert_string_equal(cfg->database_path, "/srv/jg/data/jitgate.db");
	assert_string_equal(cfg->migrations_dir, "/srv/jg/migrations"); /* default */
	assert_int_equal(cfg->limits.max_body_bytes, 2048);
	assert_int_equal(cfg->limits.max_header_bytes, 16384); /* default */
	assert_int_equal(cfg->limits.max_connections, 256);
	assert_int_equal(cfg->log_level, JG_LOG_INFO);
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
	expect_refused(variant("tls:\n  cert_file: tls/cert.pem\n  key_file: /etc/jitgate/key.pem\n",
			       "tls: yes-please\n"),
		       "test.yaml:3: 'tls' must be a mapping");
	expect_refused(variant("\"https://jitgate.example.com\"", "42"),
		       "test.yaml:2: 'public_url' must be a non-empty string");
}

static void
test_config_parse_out_of_range(void **state)
{
	(void)state;
	expect_refused(variant("2048", "10"), "'limits.max_body_bytes' must be an integer between 1024");
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

static void
test_config_parse_postgres_refused(void **state)
{
	(void)state;
	expect_refused(variant("sqlite://data/jitgate.db", "postgres://db/jitgate"),
		       "test.yaml:7: 'database.url': the PostgreSQL backend is not available");
	expect_refused(variant("sqlite://data/jitgate.db", "mysql://db"),
		       "'database.url' must be sqlite:///absolute/path.db");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_parse_valid),
	    cmocka_unit_test(test_config_parse_absolute_sqlite_url),
	    cmocka_unit_test(test_config_parse_unknown_key_names_line),
	    cmocka_unit_test(test_config_parse_wrong_type),
	    cmocka_unit_test(test_config_parse_out_of_range),
	    cmocka_unit_test(test_config_parse_missing_required),
	    cmocka_unit_test(test_config_parse_postgres_refused),
	    cmocka_unit_test(test_config_parse_bad_values),
	    cmocka_unit_test(test_config_parse_yaml_errors),
	    cmocka_unit_test(test_config_parse_too_large),
	    cmocka_unit_test(test_config_parse_rate_limits),
	    cmocka_unit_test(test_yamldoc_parse_scalar_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
