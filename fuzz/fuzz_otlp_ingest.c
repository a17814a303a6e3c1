/*
 * fuzz_otlp_ingest.c - the bodies of POST /v1/ingest/logs|traces|metrics:
 * the first byte chooses the signal (0 logs, 1 traces, 2 metrics, 3 JSON Lines
 * logs), the rest is the body, read as api_ingest.c reads it (jg_http_body_json
 * for OTLP/HTTP JSON) and converted by otlp.c.
 *
 * Beyond memory safety: a refused batch names a record (an index below the
 * record cap) and a reason, and hands out nothing; an accepted one is an array
 * of at most JG_OTLP_MAX_RECORDS records that encode as JSON.  Accepted spans
 * then go to the trace analysis as the traces endpoint would give them
 * (one trace at a time is what the endpoint passes; a mixed batch must be
 * refused cleanly, never crash), and the analysis encodes.
 */
#include "fuzz_common.h"
#include "jitgate/error.h"
#include "jitgate/otlp.h"
#include "jitgate/trace_analysis.h"

#define NOW_NS ((int64_t)1795600000 * 1000000000)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static bool
covered(const char *service, void *ctx)
{
	(void)ctx;
	return strcmp(service, "payment-service") == 0;
}

static void
check_refusal(int rc, json_t *items, const struct jg_otlp_error *e)
{
	FUZZ_CHECK(items == NULL);
	FUZZ_CHECK(rc == JG_EINVAL || rc == JG_ETOOBIG || rc == JG_ENOMEM);
	if (rc != JG_ENOMEM)
		FUZZ_CHECK(e->why[0] != '\0' && e->index <= JG_OTLP_MAX_RECORDS);
}

static void
check_items(json_t *items)
{
	FUZZ_CHECK(json_is_array(items) && json_array_size(items) <= JG_OTLP_MAX_RECORDS);
	char *text = json_dumps(items, JSON_COMPACT | JSON_ALLOW_NUL);
	FUZZ_CHECK(text != NULL);
	free(text);
}

static void
analyze(json_t *spans)
{
	json_t *out = NULL;
	char why[256] = "";
	int rc = jg_trace_analyze(spans, covered, NULL, true, &out, why, sizeof(why));
	if (rc == 0) {
		char *text = json_dumps(out, JSON_COMPACT | JSON_ALLOW_NUL);
		FUZZ_CHECK(text != NULL);
		free(text);
		json_decref(out);
	} else {
		FUZZ_CHECK(out == NULL && (rc == JG_EINVAL || rc == JG_ETOOBIG || rc == JG_ENOMEM));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_http_reply reply = {0};
	struct jg_otlp_error e;
	json_t *body = NULL, *items = NULL;
	size_t skipped = 0;
	int rc;

	if (size < 1)
		return 0;
	memset(&e, 0, sizeof(e));
	unsigned kind = data[0] % 4;
	if (kind == 3) {
		rc = jg_otlp_logs_ndjson((const char *)data + 1, size - 1, "payment-service",
					 NOW_NS, &items, &e);
		if (rc == 0)
			check_items(items);
		else
			check_refusal(rc, items, &e);
		json_decref(items);
		return 0;
	}
	if (fuzz_body_json(data + 1, size - 1, &reply, &body) == 0) {
		switch (kind) {
		case 0: rc = jg_otlp_logs(body, "payment-service", NOW_NS, &items, &e); break;
		case 1: rc = jg_otlp_spans(body, "payment-service", &items, &e); break;
		default: rc = jg_otlp_metrics(body, "payment-service", &items, &skipped, &e); break;
		}
		if (rc == 0) {
			check_items(items);
			if (kind == 1)
				analyze(items);
		} else {
			check_refusal(rc, items, &e);
		}
	}
	json_decref(items);
	json_decref(body);
	fuzz_reply_clear(&reply);
	return 0;
}
