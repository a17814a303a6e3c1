/*
 * fuzz_http_agent_events.c - the body of POST /v1/agents/probes/{id}/events:
 * jg_http_body_json, then the batch check (jg_api_agents_validate_batch in
 * api_agents.c).
 *
 * Beyond memory safety: a refusal is a 400 with a JSON error body; every
 * accepted event is stored as compact JSON that parses back to the same
 * event, and can later be shown redacted (jg_redact_json succeeds on it, as
 * handle_events_get needs, and the result still encodes).
 */
#include "fuzz_common.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/redact.h"

static const char *const sensitive[] = {"password", "token", "authorization", "ssn", "card_number"};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_http_reply reply = {0};
	json_t *body = NULL;
	char *texts[JG_AGENTS_MAX_BATCH];
	size_t n = 0;

	if (fuzz_body_json(data, size, &reply, &body) == 0) {
		int rc = jg_api_agents_validate_batch(body, &reply, texts, &n);
		if (rc != 0) {
			FUZZ_CHECK(rc == JG_EINVAL && n == 0);
			fuzz_check_error_reply(&reply);
		} else {
			json_t *events = json_object_get(body, "events");
			FUZZ_CHECK(n >= 1 && n <= JG_AGENTS_MAX_BATCH &&
				   n == json_array_size(events));
			for (size_t i = 0; i < n; i++) {
				FUZZ_CHECK(strlen(texts[i]) <= 16384);
				json_t *back = json_loads(texts[i], 0, NULL);
				FUZZ_CHECK(back != NULL &&
					   json_equal(back, json_array_get(events, i)));
				unsigned found = 0;
				FUZZ_CHECK(jg_redact_json(back, sensitive, 5, &found) == 0);
				char *shown = json_dumps(back, JSON_COMPACT);
				FUZZ_CHECK(shown != NULL);
				free(shown);
				json_decref(back);
				free(texts[i]);
			}
		}
	}
	json_decref(body);
	fuzz_reply_clear(&reply);
	return 0;
}
