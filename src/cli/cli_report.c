/*
 * cli_report.c - `jitgate report access`: the access review of a period,
 * from the server or from an export file.
 *
 *   report access --url https://JITGATE [--token-file F] [--ca-file F] ...
 *       asks GET /v1/reports/access with the caller's access token (the
 *       server reads its log verified and decides who may see what);
 *   report access --file EXPORT --key KEY [--key KEY] ...
 *       verifies the export as `audit verify` does (only the keys given are
 *       trusted), then feeds its entries to the same scanner (report.h), so
 *       both print the same report for the entries they hold.
 *
 * Both take --from and --to (Unix seconds; default the last 90 days),
 * --service and --format text|json|csv.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jitgate/catalog.h"
#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"
#include "jitgate/parse.h"
#include "jitgate/report.h"

#define MAX_KEYS       16
#define MAX_REPORT     (64u << 20) /* a report over HTTPS */
#define DEFAULT_PERIOD (90 * 86400)

static int
usage(void)
{
	fprintf(
	    stderr,
	    "usage: jitgate report access (--url https://JITGATE [--token-file F] [--ca-file F] "
	    "| --file EXPORT --key KEY [--key KEY])\n"
	    "       [--from UNIX_SECONDS] [--to UNIX_SECONDS] [--service NAME] "
	    "[--format text|json|csv]\n");
	return JG_EXIT_USAGE;
}

/* Prints report (borrowed) in format; returns the exit status. */
static int
print(const json_t *report, const char *format)
{
	char *text = NULL;
	size_t len = 0;
	int rc;
	if (strcmp(format, "json") == 0) {
		text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS);
		rc = text ? 0 : JG_ENOMEM;
		if (text)
			len = strlen(text);
	} else if (strcmp(format, "csv") == 0) {
		rc = jg_report_csv(report, &text, &len);
	} else {
		rc = jg_report_text(report, &text);
		if (text)
			len = strlen(text);
	}
	if (rc != 0) {
		fprintf(stderr, "jitgate report access: %s\n", jg_strerror(rc));
		return JG_EXIT_RUNTIME;
	}
	int out = fwrite(text, 1, len, stdout) == len &&
			  (strcmp(format, "json") != 0 || fputc('\n', stdout) != EOF)
		      ? JG_EXIT_OK
		      : JG_EXIT_RUNTIME;
	free(text);
	return out;
}

static int
from_file(const char *path, const char *const *keys, int nkeys, const struct jg_report_query *q,
	  const char *format)
{
	struct jg_report_scan *scan = NULL;
	json_t *report = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc = jg_cli_export_verified(path, keys, nkeys, &buf, &len);
	if (rc != 0)
		return rc;
	if ((rc = jg_report_scan_new(q, &scan)) != 0) {
		jg_cli_export_unmap(buf, len);
		return usage();
	}
	/* the entries are the lines between the header and the checkpoint (docs/audit-format.md) */
	const char *p = memchr(buf, '\n', len), *end = buf + len;
	bool done = false;
	uint64_t scanned = 0;
	while (rc == 0 && !done && p != NULL && ++p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 10 && memcmp(p, "{\"actor\":", 9) == 0) {
			json_t *e = json_loadb(p, n, 0, NULL);
			rc = e == NULL			      ? JG_EPARSE
			     : ++scanned > JG_REPORT_MAX_SCAN ? JG_ETOOBIG
							      : jg_report_scan_feed(scan, e, &done);
			json_decref(e);
		}
		p = nl;
	}
	if (rc == 0)
		rc = jg_report_scan_finish(scan, &report);
	jg_report_scan_free(scan);
	jg_cli_export_unmap(buf, len);
	if (rc != 0) {
		fprintf(stderr, "jitgate report access: %s\n",
			rc == JG_ETOOBIG
			    ? "the period holds too much; ask for a shorter one or one "
			      "service"
			    : jg_strerror(rc));
		return JG_EXIT_RUNTIME;
	}
	rc = print(report, format);
	json_decref(report);
	return rc;
}

static int
from_server(const char *url, const char *token_file, const char *ca_file,
	    const struct jg_report_query *q, const char *format)
{
	char path[4096], endpoint[2048], *token = NULL, *auth = NULL;
	size_t tlen = 0;
	struct jg_httpc_reply reply = {0};
	json_t *doc = NULL;
	int rc = JG_EXIT_RUNTIME;

	if (token_file == NULL) {
		const char *home = getenv("HOME");
		if (home == NULL || *home == '\0') {
			fprintf(stderr,
				"jitgate report access: HOME is not set; use --token-file\n");
			return JG_EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "%s/.config/jitgate/token", home);
		token_file = path;
	}
	if (jg_cli_read_token(token_file, &token, &tlen) != 0)
		return JG_EXIT_RUNTIME;
	if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
		auth = NULL;
		goto out;
	}
	/* the service name is checked (letters, digits, '-', '.'): nothing to escape */
	snprintf(endpoint, sizeof(endpoint), "%s/v1/reports/access?from=%lld&to=%lld%s%s&format=%s",
		 url, (long long)q->from, (long long)q->to, q->service ? "&service=" : "",
		 q->service ? q->service : "", strcmp(format, "csv") == 0 ? "csv" : "json");
	const char *headers[] = {auth, NULL};
	struct jg_httpc_opts opts = {.ca_file = ca_file,
				     .timeout_ms = 120000,
				     .max_bytes = MAX_REPORT,
				     .flags = JG_HTTPC_HTTPS_ONLY,
				     .headers = headers};
	if (jg_httpc_request(endpoint, NULL, &opts, &reply) != 0) {
		fprintf(stderr, "jitgate report access: no answer from %s\n", url);
		goto out;
	}
	if (reply.status != 200) {
		doc = json_loadb(reply.body ? reply.body : "", reply.len, 0, NULL);
		const char *msg =
		    json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
		fprintf(stderr, "jitgate report access: %ld %s\n", reply.status,
			msg ? msg : "(no message)");
		goto out;
	}
	if (strcmp(format, "csv") == 0) {
		rc = fwrite(reply.body, 1, reply.len, stdout) == reply.len ? JG_EXIT_OK
									   : JG_EXIT_RUNTIME;
		goto out;
	}
	if ((doc = json_loadb(reply.body ? reply.body : "", reply.len, 0, NULL)) == NULL) {
		fprintf(stderr, "jitgate report access: the server's answer is not JSON\n");
		goto out;
	}
	rc = print(doc, format);
out:
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	jg_file_free_secret(token, tlen);
	json_decref(doc);
	jg_httpc_reply_free(&reply);
	return rc;
}

int
jg_cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},     {"token-file", required_argument, NULL, 't'},
	    {"ca-file", required_argument, NULL, 'a'}, {"file", required_argument, NULL, 'f'},
	    {"key", required_argument, NULL, 'k'},     {"from", required_argument, NULL, 'F'},
	    {"to", required_argument, NULL, 'T'},      {"service", required_argument, NULL, 's'},
	    {"format", required_argument, NULL, 'o'},  {NULL, 0, NULL, 0},
	};
	const char *url = NULL, *token_file = NULL, *ca_file = NULL, *file = NULL, *format = "text",
		   *keys[MAX_KEYS];
	struct jg_report_query q = {0};
	int64_t from = -1, to = -1;
	int nkeys = 0, ch;

	if (argc < 2 || strcmp(argv[1], "access") != 0)
		return usage();
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 't': token_file = optarg; break;
		case 'a': ca_file = optarg; break;
		case 'f': file = optarg; break;
		case 'k':
			if (nkeys == MAX_KEYS)
				return usage();
			keys[nkeys++] = optarg;
			break;
		case 'F':
			if (jg_parse_i64(optarg, 0, INT64_MAX / 1000 - 1, &from) != 0)
				return usage();
			break;
		case 'T':
			if (jg_parse_i64(optarg, 1, INT64_MAX / 1000 - 1, &to) != 0)
				return usage();
			break;
		case 's': q.service = optarg; break;
		case 'o': format = optarg; break;
		default: return usage();
		}
	}
	if (optind != argc || (url == NULL) == (file == NULL) || (file && nkeys == 0) ||
	    (url && (strncmp(url, "https://", 8) != 0 || strlen(url) > 1024)) ||
	    (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
	     strcmp(format, "csv") != 0))
		return usage();
	q.to = to >= 0 ? to : (int64_t)time(NULL);
	q.from = from >= 0 ? from : (q.to > DEFAULT_PERIOD ? q.to - DEFAULT_PERIOD : 0);
	if (q.from >= q.to || (q.service && !jg_catalog_service_name_valid(q.service))) {
		fprintf(stderr,
			"jitgate report access: --from must be before --to, and --service a "
			"service name\n");
		return JG_EXIT_USAGE;
	}
	return file ? from_file(file, keys, nkeys, &q, format)
		    : from_server(url, token_file, ca_file, &q, format);
}
