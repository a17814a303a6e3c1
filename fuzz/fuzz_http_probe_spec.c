/*
 * fuzz_http_probe_spec.c - the body of POST /v1/services/{svc}/probes: the
 * JSON parse every handler uses (jg_http_body_json), then the probe spec
 * check (jg_api_probes_validate in api_probes.c).
 *
 * Beyond memory safety: every refusal is a 400 with a JSON error body, and
 * an accepted spec has exactly what handle_create relies on (a function
 * name, a duration in range, conditions that can be stored as JSON).
 */
#include <math.h>

#include "fuzz_common.h"
#include "jitgate/app.h"
#include "jitgate/error.h"

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

	if (fuzz_body_json(data, size, &reply, &body) == 0) {
		int rc = jg_api_probes_validate(body, &reply);
		if (rc != 0) {
			FUZZ_CHECK(rc == JG_EINVAL && reply.status == 400);
			fuzz_check_error_reply(&reply);
		} else {
			json_t *f = json_object_get(body, "function"),
			       *d = json_object_get(body, "duration");
			json_t *rate = json_object_get(body, "sampling_rate");
			json_t *conds = json_object_get(body, "conditions");
			FUZZ_CHECK(reply.body == NULL);
			FUZZ_CHECK(json_is_string(f) && json_string_length(f) > 0);
			FUZZ_CHECK(json_is_integer(d) && json_integer_value(d) >= 1 &&
				   json_integer_value(d) <= 86400);
			FUZZ_CHECK(rate == NULL || (json_number_value(rate) > 0.0 &&
						    json_number_value(rate) <= 1.0));
			json_t *none = json_array();
			char *text = json_dumps(conds ? conds : none, JSON_COMPACT);
			json_decref(none);
			FUZZ_CHECK(text != NULL);
			json_t *back = json_loads(text, 0, NULL); /* what the agents will read */
			FUZZ_CHECK(back != NULL && json_is_array(back));
			json_decref(back);
			free(text);
		}
	}
	json_decref(body);
	fuzz_reply_clear(&reply);
	return 0;
}
