/*
 * test_http_error.c - the JSON error body every refusal carries.
 *
 * Clients parse {"error":{"code","message"}}; a message that contains
 * quotes, control characters or non-ASCII must still yield valid JSON.  The
 * statuses and codes are checked against what docs/api.md promises (its
 * tables are read), not against a copy of the code's switch.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/http.h"

static void
test_http_error_body_shape(void **state)
{
	(void)state;
	char *body = jg_http_error_body("not_found", "no such endpoint");
	assert_string_equal(
	    body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such endpoint\"}}");
	free(body);
}

static void
test_http_error_body_escapes_hostile_message(void **state)
{
	(void)state;
	char *body = jg_http_error_body("bad_request", "bad \"x\"\n\x01</script>\xc3\xa9");
	json_error_t jerr;
	json_t *doc = json_loads(body, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(doc);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
	    "bad \"x\"\n\x01</script>\xc3\xa9");
	assert_null(strchr(body, '\n'));
	json_decref(doc);
	free(body);
}

/*
 * Found by fuzz/fuzz_http_request.c: jansson's parse error quotes the raw byte
 * it stopped at, which made the whole 400 unencodable (the client got a 500).
 */
static void
test_http_body_json_malformed_non_utf8_is_400(void **state)
{
	static const char body[] = "{\"\xda\x80iz@w\x1f\xfc\x7f\0\0}";
	struct jg_http_request req = {.body = body, .body_len = sizeof(body) - 1};
	struct jg_http_reply reply = {0};
	json_t *out = NULL;
	(void)state;
	assert_int_equal(jg_http_body_json(&req, &reply, &out), JG_EPARSE);
	assert_null(out);
	assert_int_equal(reply.status, 400);
	assert_non_null(reply.body);
	json_t *doc = json_loads(reply.body, 0, NULL);
	json_t *err = json_object_get(doc, "error");
	assert_string_equal(json_string_value(json_object_get(err, "code")), "malformed_json");
	assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "line 1"));
	json_decref(doc);
	free(reply.body);

	/* a message cut inside a UTF-8 sequence: still an error body, the rest intact */
	char *text = jg_http_error_body("bad_request", "caf\xc3");
	assert_string_equal(text, "{\"error\":{\"code\":\"bad_request\",\"message\":\"caf?\"}}");
	free(text);
}

/* ---- the statuses and codes docs/api.md documents ------------------------ */

struct row {
	int status;
	char code[64];
};

/*
 * The decimal integer at the start of s, after blanks and an opening
 * parenthesis ("  404 |", "  (-3)"): 0 and *out, or -1 when there is none.
 */
static int
int_at(const char *s, int *out)
{
	char *end = NULL;
	s += strspn(s, " \t(");
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || errno != 0 || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * The rows "| 404 | `not_found` | ..." of the first table after the line of
 * docs/api.md that begins with heading.  Returns how many (fails when none).
 */
static size_t
doc_table(const char *heading, struct row *rows, size_t max)
{
	FILE *f = fopen("docs/api.md", "r");
	char line[4096];
	size_t n = 0;
	int in_section = 0, in_table = 0;

	assert_non_null(f); /* unit tests run from the repository root */
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!in_section) {
			in_section = strncmp(line, heading, strlen(heading)) == 0;
			continue;
		}
		if (line[0] != '|') {
			if (in_table)
				break;
			continue;
		}
		in_table = 1;
		struct row r = {0};
		const char *code = strstr(line, "| `");
		if (int_at(line + 1, &r.status) == 0 && code != NULL &&
		    sscanf(code, "| `%63[^`]` |", r.code) == 1 && n < max)
			rows[n++] = r;
	}
	assert_int_equal(fclose(f), 0);
	if (n == 0)
		fail_msg("docs/api.md: no table after \"%s\"", heading);
	return n;
}

static int
documented(const struct row *rows, size_t n, int status, const char *code)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].status == status && strcmp(rows[i].code, code) == 0)
			return 1;
	return 0;
}

/* The refusals the server makes before any handler runs carry the codes docs/api.md names. */
static void
test_http_status_code_as_documented(void **state)
{
	struct row rows[32];
	(void)state;
	size_t n = doc_table("Statuses any endpoint can answer", rows, 32);
	assert_true(n >= 7);
	for (size_t i = 0; i < n; i++)
		if (strcmp(jg_http_status_code(rows[i].status), rows[i].code) != 0)
			fail_msg("%d: docs/api.md says `%s`, the server says `%s`", rows[i].status,
				 rows[i].code, jg_http_status_code(rows[i].status));
}

/*
 * Every result code of error.h has a decided HTTP answer, and it is one of
 * the rows of docs/api.md's "A failure inside jitgate" table; every row is
 * the answer to some code.  A code added to error.h fails this test until it
 * is decided here.
 */
static void
test_http_status_of_every_error_code(void **state)
{
	static const struct {
		const char *name;
		int rc, status;
	} decided[] = {
	    {"JG_EINVAL", JG_EINVAL, 400},
	    {"JG_ENOMEM", JG_ENOMEM, 500},
	    {"JG_EIO", JG_EIO, 500},
	    {"JG_ECONFIG", JG_ECONFIG, 500},
	    {"JG_ESTORE", JG_ESTORE, 500},
	    {"JG_ENOTFOUND", JG_ENOTFOUND, 404},
	    {"JG_ECONFLICT", JG_ECONFLICT, 409},
	    {"JG_ETOOBIG", JG_ETOOBIG, 500},
	    {"JG_ECRYPTO", JG_ECRYPTO, 500},
	    {"JG_EVERIFY", JG_EVERIFY, 500},
	    {"JG_EPARSE", JG_EPARSE, 500},
	    {"JG_EDENIED", JG_EDENIED, 403},
	    {"JG_EUNAVAIL", JG_EUNAVAIL, 503},
	    {"JG_EDEFERRED", JG_EDEFERRED, 500},
	    {"JG_ELIMITED", JG_ELIMITED, 429},
	    {"JG_ERETRY", JG_ERETRY, 503},
	};
	const size_t ndecided = sizeof(decided) / sizeof(decided[0]);
	struct row rows[32];
	int used[32] = {0};
	char line[512], name[64];
	int value;
	size_t in_header = 0;
	(void)state;

	/* every code error.h defines is decided above, with its value */
	FILE *f = fopen("include/jitgate/error.h", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "#define %63s", name) != 1 || strncmp(name, "JG_E", 4) != 0 ||
		    int_at(strstr(line, name) + strlen(name), &value) != 0)
			continue;
		size_t i = 0;
		while (i < ndecided && strcmp(decided[i].name, name) != 0)
			i++;
		if (i == ndecided)
			fail_msg("%s (error.h) has no decided HTTP status in this test", name);
		else
			assert_int_equal(decided[i].rc, value);
		in_header++;
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(in_header, ndecided);

	size_t n = doc_table("| status | `code` | failure |", rows, 32);
	for (size_t i = 0; i < ndecided; i++) {
		const char *code = NULL;
		int status = jg_http_status_of(decided[i].rc, &code);
		if (status != decided[i].status)
			fail_msg("%s: %d, decided %d", decided[i].name, status, decided[i].status);
		if (!documented(rows, n, status, code))
			fail_msg("%s: %d `%s` is not a row of docs/api.md's failure table",
				 decided[i].name, status, code);
		for (size_t j = 0; j < n; j++)
			if (rows[j].status == status && strcmp(rows[j].code, code) == 0)
				used[j] = 1;
	}
	for (size_t j = 0; j < n; j++)
		if (!used[j])
			fail_msg(
			    "docs/api.md documents %d `%s` for a failure, but no code gives it",
			    rows[j].status, rows[j].code);
	const char *code = NULL;
	assert_int_equal(jg_http_status_of(0, &code), 200);
	assert_string_equal(code, "ok");
}

static void
test_http_reply_error_formats_and_replaces(void **state)
{
	struct jg_http_reply reply = {0};
	(void)state;
	jg_http_reply_json(&reply, 200, json_pack("{s:s}", "status", "ok"));
	jg_http_reply_error(&reply, 413, "payload_too_large", "the body is larger than %d bytes",
			    1024);
	assert_int_equal(reply.status, 413);
	assert_string_equal(reply.content_type, "application/json");
	assert_string_equal(reply.body, "{\"error\":{\"code\":\"payload_too_large\",\"message\":"
					"\"the body is larger than 1024 bytes\"}}");
	assert_int_equal(reply.body_len, strlen(reply.body));
	free(reply.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http_error_body_shape),
	    cmocka_unit_test(test_http_error_body_escapes_hostile_message),
	    cmocka_unit_test(test_http_body_json_malformed_non_utf8_is_400),
	    cmocka_unit_test(test_http_status_code_as_documented),
	    cmocka_unit_test(test_http_status_of_every_error_code),
	    cmocka_unit_test(test_http_reply_error_formats_and_replaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
