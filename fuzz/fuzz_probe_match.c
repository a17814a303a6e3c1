/*
 * fuzz_probe_match.c - probe conditions in the agent (jg_probe_match in
 * agent/src/match.c), which runs inside the service being debugged.  The
 * input is a JSON array [conditions, args]: conditions as jitgate serves
 * them, args as a probed function's arguments.  Conditions are tried both
 * as given (the agent must survive anything the wire brings) and, when they
 * pass jitgate's own check, as a stored probe would carry them.
 *
 * Beyond memory safety: the answer is 0 or 1, no conditions match every
 * call, and matching changes neither document.
 */
#include "fuzz_common.h"
#include "jitgate-agent.h"
#include "jitgate/app.h"

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
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (doc == NULL)
		return 0;
	json_t *conds = json_is_array(doc) ? json_array_get(doc, 0) : doc;
	json_t *args = json_is_array(doc) ? json_array_get(doc, 1) : NULL;
	json_t *before = json_deep_copy(doc);

	int m = jg_probe_match(conds, args);
	FUZZ_CHECK(m == 0 || m == 1);
	if (conds == NULL || (json_is_array(conds) && json_array_size(conds) == 0))
		FUZZ_CHECK(m == 1);
	FUZZ_CHECK(jg_probe_match(NULL, args) == 1);

	/* as jitgate would accept and store them */
	struct jg_http_reply reply = {0};
	json_t *spec =
	    json_pack("{s:s,s:i,s:O?}", "function", "f", "duration", 60, "conditions", conds);
	if (spec != NULL && jg_api_probes_validate(spec, &reply) == 0) {
		char *text = json_dumps(json_object_get(spec, "conditions"), JSON_COMPACT);
		json_t *stored = text ? json_loads(text, 0, NULL) : NULL;
		int s = jg_probe_match(stored, args);
		FUZZ_CHECK(s == m);
		json_decref(stored);
		free(text);
	}
	fuzz_reply_clear(&reply);
	json_decref(spec);
	FUZZ_CHECK(json_equal(doc, before));
	json_decref(before);
	json_decref(doc);
	return 0;
}
