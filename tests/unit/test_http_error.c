/*
 * test_http_error.c - the JSON error body every refusal carries.
 *
 * Clients parse {"error":{"code","message"}}; a message that contains
 * quotes, control characters or non-ASCII must still yield valid JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void
test_http_status_code_names(void **state)
{
	(void)state;
	static const struct {
		int status;
		const char *code;
	} table[] = {
	    {400, "bad_request"},
	    {401, "unauthorized"},
	    {403, "forbidden"},
	    {404, "not_found"},
	    {405, "method_not_allowed"},
	    {409, "conflict"},
	    {413, "payload_too_large"},
	    {414, "uri_too_long"},
	    {415, "unsupported_media_type"},
	    {429, "too_many_requests"},
	    {431, "request_header_fields_too_large"},
	    {500, "internal_error"},
	    {503, "unavailable"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_string_equal(jg_http_status_code(table[i].status), table[i].code);
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
	    cmocka_unit_test(test_http_status_code_names),
	    cmocka_unit_test(test_http_reply_error_formats_and_replaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
